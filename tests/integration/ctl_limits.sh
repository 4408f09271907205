#!/usr/bin/env bash
# ctl_limits.sh: one control-socket client never costs the daemon more
# than its bounds, and a client turned away learns why.
#
# Covers: a client that sends `status` (then `explain`) requests as fast
# as it can and never reads is cut off, the daemon's resident memory grows
# by less than 16 MB meanwhile and is back within 1 MB of where it was once
# the client is gone (without the bound it grew by tens of MB and stayed);
# with 16 clients holding every slot, meridianctl says "too many clients"
# (exit 1), not "Broken pipe"; a request longer than the line limit gets
# "request too long" (exit 1) though meridianctl is still sending it; a
# server that answers before it reads the whole request (an older daemon)
# still has its answer shown. Under AddressSanitizer, whose allocator keeps
# freed memory, only the cut-off is checked, not the memory.
#
# Data: data/ctl/ (meridian.yaml, example.com.zone), copied to $WORKDIR.
. "$(dirname "$0")/lib.sh"
: "${MERIDIANCTL:=$top_builddir/meridianctl}"
[ -x "$MERIDIANCTL" ] || hard_error "no meridianctl at $MERIDIANCTL (build it first)"
require_cmd dig "$PYTHON"

DIR="$WORKDIR/ctl"
mkdir -p "$DIR"
cp "$DATA/ctl/meridian.yaml" "$DATA/ctl/example.com.zone" "$DIR/"
SOCK="$DIR/ctl.sock"
start_meridiand "$DIR/meridian.yaml"
asan=false
# not "ldd | grep -q": under pipefail, ldd's SIGPIPE when grep stops early
# would make the answer random
case "$(ldd "$MERIDIAND" 2>/dev/null)" in *libasan*) asan=true ;; esac

ctl() {
    R_CMD="meridianctl $*"
    R_RC=0
    R_OUT=$(timeout 20 "$MERIDIANCTL" "$@" 2>&1) || R_RC=$?
}

# ---- a client that never reads
for kind in status explain; do
    got=$("$PYTHON" - "$SOCK" "$MERIDIAND_PID" "$kind" <<'PY'
import socket, sys, time
path, pid, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def rss():
    with open("/proc/%d/status" % pid) as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
if kind == "status":
    one = b'{"version":1,"command":"status"}\n'
else:
    one = b'{"version":1,"command":"explain","args":["www.example.com","192.0.2.1"]}\n'
base = rss()
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.setblocking(False)
peak, sent, cut = base, 0, "no"
end = time.time() + 3
chunk = b""
# whole requests only: a partial send is finished before the next, or a
# broken line would close the connection for another reason
while time.time() < end:
    if not chunk:
        chunk = one * 100
        sent += 100
    try:
        chunk = chunk[s.send(chunk):]
    except BlockingIOError:
        time.sleep(0.001)
    except (BrokenPipeError, ConnectionResetError):
        cut = "yes"
        break
    peak = max(peak, rss())
s.close()
# the daemon frees the replies it held on its next loop turn
time.sleep(0.5)
after = rss()
for _ in range(20):
    if after <= base + 1024:
        break
    time.sleep(0.1)
    after = rss()
print(cut, base, peak, after, sent)
PY
)
    read -r cut base peak after sent <<<"$got"
    echo "# $kind, never read: RSS $base kB before, $peak kB at most, $after kB after;" \
        "$sent requests sent; cut off: $cut"
    if [ "$cut" = yes ] && grep -q 'replies unread: disconnected' "$MERIDIAND_LOG"; then
        pass "$kind: a client that never reads is cut off (after $sent requests)"
    else
        fail "$kind: a client that never reads is cut off" "expected: cut off within 3 s" \
            "got: still connected after $sent requests"
    fi
    if $asan; then
        skip_checks 2 "$kind: resident memory (AddressSanitizer keeps freed memory)"
        continue
    fi
    if [ $((peak - base)) -lt 16384 ]; then
        pass "$kind: the daemon grew by $(((peak - base) / 1024)) MB at most"
    else
        fail "$kind: the daemon's growth" "expected: under 16 MB" \
            "got: $(((peak - base) / 1024)) MB ($base kB to $peak kB)"
    fi
    if [ $((after - base)) -le 1024 ]; then
        pass "$kind: memory returned once the client is gone ($after kB, was $base kB)"
    else
        fail "$kind: memory returned once the client is gone" "expected: at most $base + 1024 kB" \
            "got: $after kB"
    fi
done
ctl -s "$SOCK" status
expect_rc 0

# ---- every slot taken: the next client is told why
"$PYTHON" - "$SOCK" "$DIR/held" <<'PY' &
import os, socket, sys, time
held = []
for _ in range(16):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    held.append(s)
open(sys.argv[2], "w").close()
time.sleep(30)
PY
holder=$!
for _ in $(seq 100); do [ -e "$DIR/held" ] && break; sleep 0.1; done
sleep 0.3 # the daemon accepts them
for i in 1 2 3; do
    ctl -s "$SOCK" status
    expect_rc 1
    expect_output '^too many clients: at most 16 at once$' "attempt $i: the reason"
done
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
for _ in $(seq 50); do
    ctl -s "$SOCK" status
    [ "$R_RC" = 0 ] && break
    sleep 0.1
done
expect_rc 0

# ---- a request past the line limit, longer than the socket buffer, so
# meridianctl is still sending when the daemon has answered
big=$(head -c 120000 /dev/zero | tr '\0' 1)
ctl -s "$SOCK" explain "$big" "$big"
R_CMD="meridianctl explain (two arguments of 120000 bytes)"
expect_rc 1
expect_output '^request too long: a request is one line of at most 65536 bytes$' \
    "a request too long: the reason"

# ---- a server that answers without reading the request and closes (an
# older daemon refusing a client did this): the answer is still shown
"$PYTHON" - "$DIR/early.sock" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(4)
for _ in range(2):
    c = s.accept()[0]
    c.sendall(b'{"version":1,"ok":false,"error":"too many clients: at most 16 at once"}\n')
    c.close()
PY
early=$!
for _ in $(seq 50); do [ -S "$DIR/early.sock" ] && break; sleep 0.1; done
ctl -s "$DIR/early.sock" explain "$big" "$big"
R_CMD="meridianctl explain (two arguments of 120000 bytes), early answer"
expect_rc 1
expect_output '^too many clients: at most 16 at once$' "an early answer is read, not 'Broken pipe'"
ctl -s "$DIR/early.sock" status
expect_rc 1
expect_output '^too many clients' "an early answer to a short request"
kill "$early" 2>/dev/null || true
wait "$early" 2>/dev/null || true

finish
