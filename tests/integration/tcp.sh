#!/usr/bin/env bash
# tcp.sh: DNS over TCP (RFC 7766) against a running meridiand.
#
# Covers: dig +tcp; several queries pipelined in one write on one
# connection, answered in order with matching IDs (tests/tools/tcpq),
# including more queries than tcp_max_pipeline and a stream written one
# byte at a time (frames split anywhere); the idle timeout closing a
# connection after its last answer and one that never sent anything; the
# cap on concurrent connections (4 in maxconn.yaml: at most 4 connections
# are served at once, the first 4 are, and the server serves new ones once
# they close); junk on a TCP connection does not hurt the server.
#
# Data: data/tcp/idle.yaml (idle 1 s, pipeline 4), data/tcp/maxconn.yaml
# (4 connections), zones from data/basic/.
# IT_TARGET=nsd runs the same checks against NSD (tcp-timeout 1,
# tcp-count 4) to validate the test.
. "$(dirname "$0")/lib.sh"
require_cmd dig "$PYTHON"
require_tool tcpq
TCPQ="$TOOLS/tcpq"

if [ "${IT_TARGET:-meridiand}" = nsd ]; then
    NSD_EXTRA='tcp-timeout: 1' start_nsd "$DATA/basic/example.com.zone" \
        "$DATA/basic/example.net.zone"
    PORT=$NSD_PORT
else
    start_meridiand "$DATA/tcp/idle.yaml"
fi

# run_tool DESCRIPTION CMD...: runs a tool, keeps its output in T_OUT and
# passes if it exits 0.
run_tool() {
    local desc=$1 rc=0
    shift
    T_OUT=$("$@" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
        pass "$desc"
    else
        local -a show
        mapfile -t show <<<"$T_OUT"
        fail "$desc (exit $rc)" "\$ $*" "${show[@]}"
    fi
}

# expect_line PATTERN DESCRIPTION: T_OUT has a line matching PATTERN.
expect_line() {
    if grep -qE -- "$1" <<<"$T_OUT"; then
        pass "$2"
    else
        local -a show
        mapfile -t show <<<"$T_OUT"
        fail "$2" "expected a line matching: $1" "${show[@]}"
    fi
}

echo "## dig +tcp"
q www.example.com A +tcp
assert_rcode NOERROR
assert_flag aa
assert_answer "www.example.com. 3600 IN A 192.0.2.10" "www.example.com. 3600 IN A 192.0.2.11"
q nothere.example.com A +tcp
assert_rcode NXDOMAIN
q www.example.org A +tcp
assert_rcode REFUSED

echo "## pipelining: queries in one write, answers in order"
QUERIES=(www.example.com/A example.com/SOA nothere.example.com/A www.deleg.example.com/A
    big.example.com/TXT www.example.net/A www.example.org/A web.example.com/AAAA)
run_tool "8 pipelined queries answered in order with matching ids" \
    "$TCPQ" -p "$PORT" "${QUERIES[@]}"
expect_line '^1 .* www\.example\.com/A A rcode=NOERROR flags=qr,aa an=2 ' "answer 1: www A"
expect_line '^3 .* rcode=NXDOMAIN flags=qr,aa an=0 ns=1 ' "answer 3: NXDOMAIN with the SOA"
expect_line '^4 .* rcode=NOERROR flags=qr an=0 ns=2 ar=2 ' "answer 4: a referral with glue"
expect_line '^5 .* big\.example\.com/TXT TXT rcode=NOERROR flags=qr,aa an=40 ' \
    "answer 5: all 40 TXT records over TCP"
expect_line '^7 .* rcode=REFUSED ' "answer 7: REFUSED"
expect_line '^8 .* rcode=NOERROR flags=qr,aa an=2 ' "answer 8: CNAME and AAAA"

run_tool "400 pipelined queries (more than tcp_max_pipeline) all answered in order" \
    "$TCPQ" -q -r 50 -p "$PORT" "${QUERIES[@]}"
expect_line '^ok: 400 answers in order' "400 answers"

run_tool "8 queries written one byte at a time" "$TCPQ" -q -x -p "$PORT" "${QUERIES[@]}"

echo "## idle timeout (1 s)"
run_tool "connection closed by the server after its answer" \
    "$TCPQ" -q -w 6 -p "$PORT" www.example.com/A
if [[ "$T_OUT" =~ closed\ by\ server\ after\ ([0-9.]+)\ s ]] &&
    "$PYTHON" -c "import sys; sys.exit(not 0.5 <= float('${BASH_REMATCH[1]}') <= 3.5)"; then
    pass "idle close after ${BASH_REMATCH[1]} s (timeout 1 s)"
else
    fail "idle close should come 0.5..3.5 s after the answer" "$T_OUT"
fi

# a connection that never sends a byte
T_OUT=$("$PYTHON" - "$PORT" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(6)
t = time.monotonic()
try:
    data = s.recv(1)
    print("closed" if data == b"" else "data", "%.2f" % (time.monotonic() - t))
except ConnectionResetError:
    print("closed %.2f" % (time.monotonic() - t))
except socket.timeout:
    print("open 6")
EOF
)
if [[ "$T_OUT" =~ ^closed\ ([0-9.]+)$ ]] &&
    "$PYTHON" -c "import sys; sys.exit(not 0.5 <= float('${BASH_REMATCH[1]}') <= 3.5)"; then
    pass "a silent connection is closed after ${BASH_REMATCH[1]} s"
else
    fail "a silent connection should be closed 0.5..3.5 s after it opened" "got: $T_OUT"
fi

echo "## junk over TCP"
"$PYTHON" - "$PORT" <<'EOF' || true
import socket, sys
port = int(sys.argv[1])
junk = [b"\x00", b"\x00\x00", b"\x00\x05hello", b"\xff\xff" + b"x" * 100,
        b"\x00\x0c" + b"\x00" * 12, b"\x00\x02\x12\x34", b"GET / HTTP/1.0\r\n\r\n"]
for j in junk:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(j)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(2)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
    except OSError:
        pass
EOF
q www.example.com A +tcp
assert_rcode NOERROR "TCP still answers after junk connections"
q www.example.com A
assert_rcode NOERROR "UDP still answers after junk connections"

echo "## connection cap (4)"
if [ "${IT_TARGET:-meridiand}" = nsd ]; then
    NSD_EXTRA='tcp-count: 4' start_nsd "$DATA/basic/example.com.zone"
    PORT=$NSD_PORT
else
    start_meridiand "$DATA/tcp/maxconn.yaml"
fi
run_tool "tcpq holds 6 connections" "$TCPQ" -t 1000 -C 6 -p "$PORT" www.example.com/A
if [[ "$T_OUT" =~ answered_round1=([0-9]+)\ answered_round2=([0-9]+) ]]; then
    r1=${BASH_REMATCH[1]}
    r2=${BASH_REMATCH[2]}
    if [ "$r1" -ge 4 ]; then
        pass "the first 4 connections were served ($r1 answered in round 1)"
    else
        fail "expected at least 4 connections served in round 1" "$T_OUT"
    fi
    if [ "$r2" -le 4 ] && [ "$r2" -ge 1 ]; then
        pass "at most 4 connections served at once ($r2 answered in round 2)"
    else
        fail "expected 1..4 connections still served in round 2" "$T_OUT"
    fi
else
    fail "tcpq -C printed no summary" "$T_OUT"
fi
# once those are closed, new connections are served again
ok=no
for _ in $(seq 20); do
    q www.example.com A +tcp
    if [ "$Q_RCODE" = NOERROR ]; then
        ok=yes
        break
    fi
    sleep 0.2
done
if [ "$ok" = yes ]; then
    pass "a new TCP connection is served after the others closed"
else
    fail "no TCP answer after the held connections closed" "$Q_OUT"
fi
run_tool "4 simultaneous connections below the cap are fine" "$TCPQ" -t 2000 -C 4 -p "$PORT" \
    www.example.com/A
expect_line 'answered_round1=4 answered_round2=4' "all 4 served twice"

finish
