#!/usr/bin/env bash
# random_packets.sh: 100,000 random and mutated packets against a running
# meridiand (tests/tools/pktfuzz): every 1,000 packets a real query must
# still get the same correct answer, and the daemon must be alive at the
# end, still answering over UDP and TCP.
#
# PKTFUZZ_COUNT and PKTFUZZ_SEED override the packet count and the seed (a
# failure prints the seed; the last batch is kept in the log dir with
# KEEP_WORKDIR=1).
# Data: data/basic/meridian.yaml.
. "$(dirname "$0")/lib.sh"
require_cmd dig
require_tool pktfuzz

if [ "${IT_TARGET:-meridiand}" = nsd ]; then
    start_nsd "$DATA/basic/example.com.zone" "$DATA/basic/example.net.zone"
    PORT=$NSD_PORT
    DAEMON_PID=$NSD_PID
else
    start_meridiand "$DATA/basic/meridian.yaml"
    DAEMON_PID=$MERIDIAND_PID
fi

args=(-p "$PORT" -n "${PKTFUZZ_COUNT:-100000}" -c 1000 -q www.example.com
    -d "$WORKDIR/last-batch.hex")
[ -n "${PKTFUZZ_SEED:-}" ] && args+=(-S "$PKTFUZZ_SEED")
rc=0
out=$("$TOOLS/pktfuzz" "${args[@]}" 2>&1) || rc=$?
printf '%s\n' "$out"
if [ "$rc" -eq 0 ]; then
    pass "pktfuzz: the server answered every check"
else
    mapfile -t lines <<<"$out"
    fail "pktfuzz exited $rc" "${lines[@]}"
fi

if kill -0 "$DAEMON_PID" 2>/dev/null; then
    pass "the daemon (pid $DAEMON_PID) is still running"
else
    fail "the daemon (pid $DAEMON_PID) is gone"
fi
q www.example.com A
assert_rcode NOERROR
assert_flag aa
assert_answer "www.example.com. 3600 IN A 192.0.2.10" "www.example.com. 3600 IN A 192.0.2.11"
q nothere.example.com A +tcp
assert_rcode NXDOMAIN "over TCP"
q big.example.com TXT +tcp
assert_count answer 40

finish
