#!/usr/bin/env bash
# notify.sh: sd_notify (meridiand(8): "under systemd (Type=notify) the
# server reports READY, RELOADING and STOPPING") and reload coalescing ("a
# reload asked for while one runs is done once that one ends; several such
# requests make one reload").
#
# A datagram socket this script binds at a temp path stands in for
# systemd: meridiand gets it as NOTIFY_SOCKET and every message it sends is
# recorded, in order. Checked:
#   - READY=1 once the server answers;
#   - a good SIGHUP reload: RELOADING=1 then READY=1; a failed one (a
#     broken zone) the same (the old data is still served: ready again);
#   - SIGHUPs sent while a reload runs (a 240,000-record zone makes it
#     last): one more reload, not one each: the log says "one is running;
#     another will follow it" once, `meridianctl stats` counts exactly the
#     reloads expected, and the messages are exactly
#     READY RELOADING READY RELOADING READY ...;
#   - SIGTERM: STOPPING=1 last, and exit 0.
# Skipped (77) when meridiand was built without libsystemd.
. "$(dirname "$0")/lib.sh"
: "${MERIDIANCTL:=$top_builddir/meridianctl}"
[ -x "$MERIDIANCTL" ] || hard_error "no meridianctl at $MERIDIANCTL (build it first)"
require_meridiand
require_cmd dig
grep -q '^#define HAVE_SYSTEMD 1' "$top_builddir/config.h" ||
    skip "meridiand was built without libsystemd: it sends no notifications"

NSOCK="$WORKDIR/notify.sock"
NLOG="$WORKDIR/notify.txt"
t_dgram_listen "$NSOCK" "$NLOG"

# The zone: small, or big enough (240,003 records) that a reload lasts.
zone() { # small|big
    {
        printf '$ORIGIN example.com.\n$TTL 60\n@ SOA ns1 hm 1 7200 3600 1209600 300\n'
        printf '  NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.10\n'
        if [ "$1" = big ]; then
            for i in 0 1 2 3; do echo "\$GENERATE 1-60000 h$i-\$ A 10.0.0.1"; done
        fi
    } >"$WORKDIR/example.com.zone.tmp"
    mv "$WORKDIR/example.com.zone.tmp" "$WORKDIR/example.com.zone"
}
zone small
cat >"$WORKDIR/meridian.yaml" <<EOF
server:
  allow_root: true
  control: ctl.sock
zones:
  - example.com.zone
EOF

# seq_is WANT DESCRIPTION: the messages so far are WANT (space separated),
# waiting up to 15 s for them to arrive.
messages() { tr '\n' ' ' <"$NLOG" | sed 's/ $//'; }
seq_is() {
    local want=$1 got
    for _ in $(seq 150); do
        got=$(messages)
        [ "$got" = "$want" ] && break
        # more than expected already: no use waiting
        [ "${#got}" -gt "${#want}" ] && break
        sleep 0.1
    done
    assert_eq "$want" "$got" "$2: notifications"
}

export NOTIFY_SOCKET="$NSOCK"
start_meridiand "$WORKDIR/meridian.yaml"
unset NOTIFY_SOCKET
seq_is "READY=1" "started"

echo "## SIGHUP: RELOADING=1, then READY=1"
kill -HUP "$MERIDIAND_PID"
seq_is "READY=1 RELOADING=1 READY=1" "a good reload"
printf 'www A 300.1.1.1\n' >>"$WORKDIR/example.com.zone"
kill -HUP "$MERIDIAND_PID"
seq_is "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1" "a failed reload"
if grep -q 'reload failed: still serving the previous configuration' "$MERIDIAND_LOG"; then
    pass "the second reload failed, as meant"
else
    fail "the broken zone's reload failed" "log: $(cat "$MERIDIAND_LOG")"
fi
q www.example.com A
assert_answer "www.example.com. 60 IN A 192.0.2.10"

echo "## SIGHUPs while a reload runs make one more reload"
zone big
kill -HUP "$MERIDIAND_PID"
# Once the slow reload has begun, ask three more times.
for _ in $(seq 100); do
    [ "$(grep -c '^RELOADING=1$' "$NLOG")" = 3 ] && break
    sleep 0.05
done
for _ in 1 2 3; do
    kill -HUP "$MERIDIAND_PID"
    sleep 0.05
done
# Then ask through the control socket: it waits for its own reload, which
# comes after whatever is queued (at most the one coalesced reload).
ctl_out=$(timeout 60 "$MERIDIANCTL" -s "$WORKDIR/ctl.sock" -t 50 reload 2>&1) && rc=0 || rc=$?
assert_eq 0 "$rc" "meridianctl reload after the coalesced ones: exit"
stats=$(timeout 10 "$MERIDIANCTL" -s "$WORKDIR/ctl.sock" --json stats 2>&1) || true
got=$("$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d["reloads"], d["reload_failures"])' \
    <<<"$stats" 2>&1) || true
# 1 good + 1 failed before; then the slow one and one for the three
# SIGHUPs; meridianctl's joins that one when it comes while the slow one
# runs (nearly always), or is one more when it comes while the coalesced
# one runs, which then logs "one is running" once more. One reload per
# SIGHUP would make at least 5.
case "$got" in
"3 1") busy=1 ;;
"4 1") busy=2 ;;
*) busy=none ;;
esac
if [ "$busy" = none ]; then
    fail "stats after coalescing" "expected: reloads 3 (or 4), failures 1" "got: $got" "$stats"
else
    pass "stats: reloads and failures counted: $got"
fi
n_busy=$(grep -c 'reload: one is running; another will follow it' "$MERIDIAND_LOG" || true)
assert_eq "$busy" "$n_busy" "'one is running; another will follow it' logged"
reloads=${got%% *}
want="READY=1"
for _ in $(seq $((reloads + 1))); do want="$want RELOADING=1 READY=1"; done
seq_is "$want" "one RELOADING/READY pair per reload done"
q h3-60000.example.com A
assert_answer "h3-60000.example.com. 60 IN A 10.0.0.1"

echo "## SIGTERM: STOPPING=1"
stop_pid "$MERIDIAND_PID" >"$WORKDIR/stop.rc"
assert_eq 0 "$(cat "$WORKDIR/stop.rc")" "meridiand stops with exit"
seq_is "$want STOPPING=1" "stopped"
finish
