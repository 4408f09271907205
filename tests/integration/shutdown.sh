#!/usr/bin/env bash
# shutdown.sh: SIGTERM with TCP connections open. Pipelined queries already
# read are answered before the connection closes, idle and half-sent
# connections do not hold the server up, and it exits 0 within a bounded
# time (the TCP grace is 2 s; we allow 4).
. "$(dirname "$0")/lib.sh"
require_meridiand
require_cmd dig "$PYTHON"

start_meridiand "$DATA/basic/meridian.yaml"

# A client that opens three connections: one that pipelines 50 queries and
# reads every answer, one idle, one that sent half a length prefix. It
# prints "answered N" and "eof" per connection once the server closes them.
"$PYTHON" - "$PORT" >"$WORKDIR/client.out" 2>&1 <<'PY' &
import socket, struct, sys, time
port = int(sys.argv[1])
def query(qid):
    name = b"".join(bytes([len(p)]) + p for p in [b"www", b"example", b"com"]) + b"\0"
    msg = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
    return struct.pack(">H", len(msg)) + msg
busy = socket.create_connection(("127.0.0.1", port))
idle = socket.create_connection(("127.0.0.1", port))
half = socket.create_connection(("127.0.0.1", port))
half.sendall(b"\x00")
busy.sendall(b"".join(query(i) for i in range(50)))
got, buf = 0, b""
busy.settimeout(5)
while got < 50:
    data = busy.recv(65536)
    if not data:
        break
    buf += data
    while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
        n = struct.unpack(">H", buf[:2])[0]
        got += 1
        buf = buf[2 + n:]
print("answered", got, flush=True)
print("ready", flush=True)
for name, s in (("busy", busy), ("idle", idle), ("half", half)):
    s.settimeout(6)
    try:
        while s.recv(65536):
            pass
        print("eof", name, flush=True)
    except OSError as e:
        print("error", name, e, flush=True)
PY
client=$!
for _ in $(seq 50); do
    grep -q '^ready' "$WORKDIR/client.out" && break
    sleep 0.1
done
if grep -q '^answered 50$' "$WORKDIR/client.out"; then
    pass "50 pipelined queries answered on an open connection"
else
    fail "50 pipelined queries answered" "got: $(cat "$WORKDIR/client.out")"
fi

start=$(date +%s.%N)
kill -TERM "$MERIDIAND_PID"
rc=0
wait "$MERIDIAND_PID" 2>/dev/null || rc=$?
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e - s}')
if [ "$rc" = 0 ]; then pass "SIGTERM: exit 0"; else fail "SIGTERM: exit status" "got: $rc"; fi
if awk -v t="$elapsed" 'BEGIN {exit !(t < 4)}'; then
    pass "stopped in ${elapsed}s with three TCP connections open"
else
    fail "stopped within 4 s" "took ${elapsed}s"
fi
wait "$client" 2>/dev/null || true
for name in busy idle half; do
    if grep -q "^eof $name$" "$WORKDIR/client.out"; then
        pass "the $name connection was closed cleanly"
    else
        fail "the $name connection was closed" "client said: $(cat "$WORKDIR/client.out")"
    fi
done
# The daemon is gone: keep the harness from killing it again.
T_PIDS=()
finish
