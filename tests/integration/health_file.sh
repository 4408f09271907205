#!/usr/bin/env bash
# health_file.sh: `file` health checks end to end (meridian.yaml(5): "a
# file of lines NAME UP|DOWN, where NAME is an address as a service serves
# it, or a data center name ... A change applies at once, without
# thresholds").
#
# One service, eu-west [192.0.2.10, 192.0.2.11] before us-east
# [198.51.100.10], checked by a status file another system writes. Checked,
# each by the answer dig gets (waited for, at most 4 s: less than the 5 s
# re-read interval, so the directory watch is what noticed):
#   - the file at start decides the first answer (an address DOWN);
#   - replaced by rename and written in place, both are followed;
#   - a data center line applies to each of its addresses, an address line
#     beats it, the last line naming a thing wins;
#   - every eu-west address down: us-east answers (with failover_ttl);
#   - a malformed line or a file that disappears changes nothing, and
#     says so in the log once; a good file again is logged as good;
#   - a line removed no longer holds its address down;
#   - names are compared without case (Up, down).
. "$(dirname "$0")/lib.sh"
require_meridiand
require_cmd dig

ST="$WORKDIR/status"
cat >"$WORKDIR/meridian.yaml" <<EOF
server:
  allow_root: true
  control: ""
zones:
  - $DATA/ctl/example.com.zone
datacenters:
  eu-west: {}
  us-east: {}
health_checks:
  feed: {type: file, file: status}
services:
  www.example.com:
    ttl: 60
    failover_ttl: 20
    policy: map
    map: {default: [eu-west, us-east]}
    check: feed
    pools:
      eu-west: [192.0.2.10, 192.0.2.11]
      us-east: [198.51.100.10]
EOF

# put TEXT: replaces the status file atomically; put_in_place TEXT: rewrites
# it where it is.
put() {
    printf '%b' "$1" >"$ST.tmp"
    mv "$ST.tmp" "$ST"
}
put_in_place() { printf '%b' "$1" >"$ST"; }

# answer: "TTL addr addr..." of www.example.com A, addresses sorted.
answer() {
    q www.example.com A
    if [ "$Q_RCODE" != NOERROR ]; then
        echo "$Q_RCODE"
        return
    fi
    local ttl addrs
    ttl=$(awk 'NR == 1 {print $2}' "$Q_DIR/answer")
    addrs=$(awk '{print $5}' "$Q_DIR/answer" | sort | tr '\n' ' ' | sed 's/ $//')
    echo "$ttl $addrs"
}

# becomes WANT DESCRIPTION: waits (4 s at most) for the answer to be WANT.
becomes() {
    local got
    for _ in $(seq 40); do
        got=$(answer)
        [ "$got" = "$1" ] && break
        sleep 0.1
    done
    assert_eq "$1" "$got" "$2: www.example.com A"
}

# stays WANT DESCRIPTION: the answer is WANT now and after the file has had
# time to be read (the debounce, and a later answer that would show it).
stays() {
    local got
    sleep 1
    got=$(answer)
    assert_eq "$1" "$got" "$2: www.example.com A"
}

log_count() { grep -c -- "$1" "$MERIDIAND_LOG" || true; }

BOTH="60 192.0.2.10 192.0.2.11"
put "192.0.2.10 DOWN\n"
start_meridiand "$WORKDIR/meridian.yaml"

echo "## the file at start"
becomes "60 192.0.2.11" "192.0.2.10 DOWN at start"

echo "## replaced by rename, and written in place"
put "192.0.2.10 UP\n"
becomes "$BOTH" "192.0.2.10 UP (rename)"
put_in_place "192.0.2.11 DOWN\n"
becomes "60 192.0.2.10" "192.0.2.11 DOWN (in place)"

echo "## data center lines, address lines, the last line wins"
put "eu-west DOWN\n"
becomes "20 198.51.100.10" "eu-west DOWN: us-east, with failover_ttl"
put "eu-west DOWN\n192.0.2.11 UP\n"
becomes "60 192.0.2.11" "an address line beats its data center's"
put "192.0.2.11 UP\neu-west down\n192.0.2.10 Up\n"
becomes "$BOTH" "address lines in any order and case beat the data center's"
put "192.0.2.10 DOWN\n192.0.2.10 UP\n192.0.2.11 UP\n192.0.2.11 DOWN\n"
becomes "60 192.0.2.10" "the last line naming an address wins"

echo "## a bad file changes nothing"
put "192.0.2.10 DOWN\n"
becomes "60 192.0.2.11" "192.0.2.10 DOWN"
put "192.0.2.10 UP\n192.0.2.11 SIDEWAYS\n"
stays "60 192.0.2.11" "a malformed line: states unchanged"
want="health: status file $ST:2: bad state \"SIDEWAYS\" (expected UP or DOWN) (states unchanged)"
if grep -qxF -- "meridiand: $want" <<<"$(log_text "$MERIDIAND_LOG")"; then
    pass "logged: $want"
else
    fail "the malformed file is logged" "expected: meridiand: $want" \
        "log: $(grep health: "$MERIDIAND_LOG")"
fi
before=$(log_count 'states unchanged')
put_in_place "192.0.2.10 UP\n192.0.2.11 SIDEWAYS\n# again\n"
stays "60 192.0.2.11" "the same problem again: states unchanged"
assert_eq "$before" "$(log_count 'states unchanged')" "the same problem is logged once"
rm -f "$ST"
stays "60 192.0.2.11" "the file removed: states unchanged"
put "192.0.2.10 UP\n"
becomes "$BOTH" "a good file again"
if grep -q "health: status file $ST is good again" "$MERIDIAND_LOG"; then
    pass "logged: status file ... is good again"
else
    fail "a good file again is logged" "log: $(cat "$MERIDIAND_LOG")"
fi

echo "## a line removed no longer holds an address down"
put "192.0.2.11 DOWN\n"
becomes "60 192.0.2.10" "192.0.2.11 DOWN"
put "# nothing here\n"
becomes "$BOTH" "its line removed: up again"
finish
