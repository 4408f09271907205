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
stop_pid "$MERIDIAND_PID" >"$WORKDIR/stop.rc" # bounded: 5 s, then KILL
rc=$(cat "$WORKDIR/stop.rc")
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e - s}')
if [ "$rc" = 0 ]; then pass "SIGTERM: exit 0"; else fail "SIGTERM: exit status" "got: $rc"; fi
if awk -v t="$elapsed" 'BEGIN {exit !(t < 4)}'; then
    pass "stopped in ${elapsed}s with three TCP connections open"
else
    fail "stopped within 4 s" "took ${elapsed}s"
fi
wait_client() { # PID: the client has its own socket timeouts; bound it anyway
    for _ in $(seq 150); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
wait_client "$client"
for name in busy idle half; do
    if grep -q "^eof $name$" "$WORKDIR/client.out"; then
        pass "the $name connection was closed cleanly"
    else
        fail "the $name connection was closed" "client said: $(cat "$WORKDIR/client.out")"
    fi
done

echo "## answers in flight when SIGTERM arrives"
# A zone with one ~60 KiB TXT RRset. A client pipelines 200 queries for it
# and reads nothing until the server has been told to stop, so at SIGTERM
# answers wait both in the kernel's socket buffers and in the server's own
# queue. After SIGTERM every answer the server had taken on must arrive
# whole and in order, the stream must end at a message boundary, and more
# must arrive than the kernel held at SIGTERM (so the server's queue was
# written out, not dropped).
Z="$WORKDIR/inflight"
mkdir -p "$Z"
{
    printf '$ORIGIN example.com.\n$TTL 3600\n'
    printf '@ SOA ns1 host 1 3600 900 604800 300\n@ NS ns1\nns1 A 192.0.2.1\n'
    for i in $(seq 240); do
        printf 'huge TXT "%03d %s"\n' "$i" "$(printf 'x%.0s' $(seq 240))"
    done
} >"$Z/example.com.zone"
sed -e "s|^  - example.com.zone|  - $Z/example.com.zone|" -e '/example.net.zone/d' \
    -e '/child.example.com/d' -e '/^  - file:/d' -e 's/tcp_idle_timeout: .*/tcp_idle_timeout: 30s/' \
    "$DATA/basic/meridian.yaml" >"$Z/meridian.yaml"
start_meridiand "$Z/meridian.yaml"
q huge.example.com TXT +tcp
assert_count answer 240
size=$(dig @127.0.0.1 -p "$PORT" +tcp +time=2 +tries=1 huge.example.com TXT |
    awk '/MSG SIZE/ { print $NF }')
"$PYTHON" - "$PORT" "$Z/go" >"$Z/client.out" 2>&1 <<'PY' &
import os, socket, struct, sys, time
port, go = int(sys.argv[1]), sys.argv[2]
name = b"".join(bytes([len(p)]) + p for p in [b"huge", b"example", b"com"]) + b"\0"
def query(qid):
    msg = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + name + struct.pack(">HH", 16, 1)
    return struct.pack(">H", len(msg)) + msg
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.connect(("127.0.0.1", port))
s.sendall(b"".join(query(i) for i in range(200)))
print("sent", flush=True)
deadline = time.time() + 10
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.05)
s.settimeout(8)
buf, answers, ids = b"", 0, []
try:
    while True:
        data = s.recv(1 << 20)
        if not data:
            break
        buf += data
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
            n = struct.unpack(">H", buf[:2])[0]
            msg = buf[2:2 + n]
            ids.append(struct.unpack(">H", msg[:2])[0])
            an = struct.unpack(">H", msg[6:8])[0]
            answers += an == 240
            buf = buf[2 + n:]
    print("eof", flush=True)
except OSError as e:
    print("error", e, flush=True)
print("answers", len(ids), "whole", answers, "inorder", ids == list(range(len(ids))),
      "tail", len(buf), flush=True)
PY
client=$!
for _ in $(seq 100); do
    grep -q '^sent' "$Z/client.out" && break
    sleep 0.1
done
# Wait until the server's queue stops moving (its socket buffer is full).
held=0
for _ in $(seq 20); do
    sleep 0.2
    now=$(ss -Htn state established "( sport = :$PORT or dport = :$PORT )" |
        awk '{ q += $1 + $2 } END { print q + 0 }')
    [ "$now" = "$held" ] && [ "$now" -gt 0 ] && break
    held=$now
done
start=$(date +%s.%N)
kill -TERM "$MERIDIAND_PID"
touch "$Z/go"
for _ in $(seq 60); do
    kill -0 "$MERIDIAND_PID" 2>/dev/null || break
    sleep 0.1
done
rc=timeout
if ! kill -0 "$MERIDIAND_PID" 2>/dev/null; then
    rc=0
    wait "$MERIDIAND_PID" || rc=$?
fi
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e - s}')
wait_client "$client"
assert_eq 0 "$rc" "SIGTERM with answers queued: exit status (after ${elapsed}s)"
read -r _ got _ whole _ inorder _ tail < <(grep '^answers' "$Z/client.out") || true
if grep -q '^eof' "$Z/client.out" && [ "${inorder:-}" = True ] && [ "${tail:-1}" = 0 ] &&
    [ "${got:-0}" -gt 0 ] && [ "$got" = "$whole" ]; then
    pass "after SIGTERM: $got whole answers in order, the stream ended at a message boundary"
else
    fail "answers in flight at SIGTERM arrive whole" "client said: $(cat "$Z/client.out")"
fi
# Each answer is 240 records of ~250 bytes: more than the kernel held means
# the server's own queue was written after SIGTERM.
if [ "$((${got:-0} * size))" -gt "$held" ]; then
    pass "more arrived ($got answers of ~$size bytes) than the kernel held at SIGTERM ($held bytes)"
else
    fail "the server's queued answers were written after SIGTERM" \
        "got $got answers of ~$size bytes; the kernel held $held bytes at SIGTERM"
fi
finish
