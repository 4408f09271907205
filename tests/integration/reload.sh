#!/usr/bin/env bash
# reload.sh: no query is lost, wrong or SERVFAIL while meridiand reloads.
#
# One meridiand (data/reload/meridian.yaml: a zone, a nearest service over
# a GeoIP database, a control socket). Two qloops ask fixed.example.com A
# throughout, one over UDP and one pipelined over a single TCP connection,
# RATE queries/s each, and check every reply against 192.0.2.80. Meanwhile
# 50 `meridianctl reload`s: every 5th with a broken example.com.zone
# (alternately a syntax error and a CNAME beside other data, on line 10),
# the others alternating between two good versions whose only difference
# is version.example.com TXT ("v1"/"v2"); every file is swapped in
# atomically (write a temp file, mv). Checked:
#   - a broken reload exits non-zero, names example.com.zone:10, and
#     changes nothing (dig still sees the previous good TXT);
#   - a good reload exits 0 and takes effect (dig sees the new TXT);
#   - the loops saw no timeout, no wrong answer, no SERVFAIL, no other
#     rcode, no unmatched reply.
# The counts are printed as "# loss test: udp sent N answered N lost N
# wrong N; tcp sent N answered N lost N wrong N; reloads 50 (K broken)".
#
# Then the GeoIP database is replaced on disk (atomic mv), with no reload
# asked for: meridiand watches its directory and reloads by itself, so a
# London client's answer moves from eu-west to us-east once the reload is
# logged (the reload runs at idle priority: no deadline, the order); a
# database of garbage swapped in after it is refused (logged) and the
# previous one keeps answering. The query loops run through this too.
#
# Data: data/reload/ (meridian.yaml, zone-v1.zone, zone-v2.zone,
# broken-syntax.zone, broken-cname.zone, geo-a.csv, geo-b.csv).
. "$(dirname "$0")/lib.sh"
: "${MERIDIANCTL:=$top_builddir/meridianctl}"
[ -x "$MERIDIANCTL" ] || hard_error "no meridianctl at $MERIDIANCTL (build it first)"
require_meridiand
require_tool qloop
require_cmd dig perl

RATE=1200       # per loop: UDP + TCP together 2,400 queries/s
RELOADS=50
FIXED=fixed.example.com
FIXED_ADDR=192.0.2.80
LONDON=81.2.69.0/24

SRC="$DATA/reload"
DIR="$WORKDIR/reload"
mkdir -p "$DIR"
cp "$SRC/meridian.yaml" "$DIR/"
ln -sf "$top_srcdir/geoip/countries.csv" "$DIR/countries.csv"
SOCK="$DIR/ctl.sock"

build_mmdb "$SRC/geo-a.csv" "$DIR/geo.mmdb"
build_mmdb "$SRC/geo-b.csv" "$DIR/geo-b.mmdb"

# swap_in SOURCE TARGET: replaces TARGET atomically with a copy of SOURCE.
swap_in() {
    cp "$1" "$2.tmp"
    mv -f "$2.tmp" "$2"
}
swap_in "$SRC/zone-v1.zone" "$DIR/example.com.zone"

# now_ms: wall-clock milliseconds.
now_ms() {
    local t=${EPOCHREALTIME/,/.}
    echo $((${t%.*} * 1000 + 10#${t#*.} / 1000))
}

# ctl ARGS...: meridianctl -s $SOCK (bounded to 10 s); R_RC, R_OUT.
ctl() {
    R_RC=0
    R_OUT=$(timeout 10 "$MERIDIANCTL" -s "$SOCK" "$@" 2>&1) || R_RC=$?
}

# txt_now: version.example.com's TXT as served ("v1" with the quotes), or
# the rcode when there is none.
txt_now() {
    local t
    q version.example.com TXT
    t=$(awk '$4 == "TXT" { print $5 }' "$Q_DIR/answer")
    echo "${t:-$Q_RCODE}"
}

# london_now: the London client's www.example.com A addresses, or the rcode.
london_now() {
    local a
    q www.example.com A "+subnet=$LONDON"
    a=$(awk '$4 == "A" { print $5 }' "$Q_DIR/answer" | LC_ALL=C sort | paste -sd, -)
    echo "${a:-$Q_RCODE}"
}

start_meridiand "$DIR/meridian.yaml"
assert_eq '"v1"' "$(txt_now)" "start: version.example.com TXT"
assert_eq 192.0.2.10 "$(london_now)" "start: the London client's www.example.com (eu-west)"

# ---------------------------------------------------------------- loops

# start_loop NAME [qloop OPTIONS]: a qloop on fixed.example.com checking
# every answer; waits for its first reply. Sets LOOP_PID[NAME].
declare -A LOOP_PID
start_loop() {
    local name=$1
    shift
    "$TOOLS/qloop" -p "$PORT" -r "$RATE" -w 1000 -a "$FIXED_ADDR" "$@" \
        -o "$WORKDIR/$name.out" "$FIXED" >"$WORKDIR/$name.sum" 2>"$WORKDIR/$name.log" &
    LOOP_PID[$name]=$!
    T_PIDS+=("${LOOP_PID[$name]}")
    T_LOGS+=("$WORKDIR/$name.log")
    for _ in $(seq 100); do
        grep -qv '^#' "$WORKDIR/$name.out" 2>/dev/null && return 0
        sleep 0.02
    done
    cat "$WORKDIR/$name.log"
    hard_error "qloop ($name) got no answer within 2 s"
}
start_loop udp
start_loop tcp -x
echo "# query loops: udp (pid ${LOOP_PID[udp]}) and tcp (pid ${LOOP_PID[tcp]}), $RATE/s each"

# ---------------------------------------------------------------- reloads

good=v1     # the version being served
n_broken=0
n_good=0
bad_broken=0
bad_good=0
broken_files=(broken-syntax broken-cname)
t_reloads=$(now_ms)
for i in $(seq "$RELOADS"); do
    if [ $((i % 5)) = 0 ]; then
        file=${broken_files[$((n_broken % 2))]}
        n_broken=$((n_broken + 1))
        swap_in "$SRC/$file.zone" "$DIR/example.com.zone"
        ctl reload
        txt=$(txt_now)
        if [ "$R_RC" = 1 ] && grep -qE 'example\.com\.zone:10: ' <<<"$R_OUT" &&
            [ "$txt" = "\"$good\"" ]; then
            :
        else
            bad_broken=$((bad_broken + 1))
            fail "reload $i ($file.zone): refused, file:line shown, nothing changed" \
                "expected: exit 1 (meridianctl(8): a reload that did not load)," \
                "          'example.com.zone:10: ...', TXT \"$good\"" \
                "got:      exit $R_RC, TXT $txt" "output: $R_OUT"
        fi
    else
        [ "$good" = v1 ] && good=v2 || good=v1
        n_good=$((n_good + 1))
        swap_in "$SRC/zone-$good.zone" "$DIR/example.com.zone"
        ctl reload
        txt=$(txt_now)
        if [ "$R_RC" = 0 ] && [ "$txt" = "\"$good\"" ]; then
            :
        else
            bad_good=$((bad_good + 1))
            fail "reload $i (zone-$good.zone): exit 0 and the new TXT served" \
                "expected: exit 0, TXT \"$good\"" "got:      exit $R_RC, TXT $txt" \
                "output: $R_OUT"
        fi
    fi
    sleep 0.1
done
echo "# $RELOADS reloads in $(($(now_ms) - t_reloads)) ms"
# the last one was broken: put the good version served back on disk
swap_in "$SRC/zone-$good.zone" "$DIR/example.com.zone"
if [ "$bad_broken" = 0 ]; then
    what="each exited non-zero, named example.com.zone:10, changed nothing"
    pass "$n_broken broken reloads: $what"
fi
if [ "$bad_good" = 0 ]; then
    pass "$n_good good reloads: each exited 0 and its TXT was served right after"
fi
expect_log_line() { # REGEX DESCRIPTION
    if grep -qE -- "$1" "$MERIDIAND_LOG"; then
        pass "log: $2"
    else
        fail "log: $2" "expected a line matching: $1" "log:" "$(tail -n 20 "$MERIDIAND_LOG")"
    fi
}
expect_log_line 'reload: .*example\.com\.zone:10: ' "the broken zone is logged with file:line"

# ---------------------------------------------------------------- stop, count

# stop_loop NAME: stops the qloop and checks its counts; sets SUM[NAME] to
# "sent N answered N lost N wrong N".
declare -A SUM
stop_loop() {
    local name=$1 rc sum lost
    stop_pid "${LOOP_PID[$name]}" >"$WORKDIR/stop.rc"
    rc=$(cat "$WORKDIR/stop.rc")
    sum=$(cat "$WORKDIR/$name.sum")
    local re='^sent ([0-9]+) answered ([0-9]+) timeouts ([0-9]+) servfail ([0-9]+) '
    re+='other ([0-9]+) late ([0-9]+) bad ([0-9]+) wrong ([0-9]+)$'
    if [[ "$sum" =~ $re ]]; then
        lost=$((BASH_REMATCH[1] - BASH_REMATCH[2] + BASH_REMATCH[6]))
        SUM[$name]="sent ${BASH_REMATCH[1]} answered ${BASH_REMATCH[2]} lost $lost"
        SUM[$name]+=" wrong ${BASH_REMATCH[8]}"
    else
        SUM[$name]="($sum)"
    fi
    echo "# qloop $name: $sum (exit $rc)"
    if [ "$rc" = 0 ] && [[ "$sum" =~ $re ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] &&
        [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] && [ "${BASH_REMATCH[3]}" = 0 ] &&
        [ "${BASH_REMATCH[4]}" = 0 ] && [ "${BASH_REMATCH[5]}" = 0 ] &&
        [ "${BASH_REMATCH[6]}" = 0 ] && [ "${BASH_REMATCH[7]}" = 0 ] &&
        [ "${BASH_REMATCH[8]}" = 0 ]; then
        pass "$name loop: ${BASH_REMATCH[1]} queries, each answered in time: NOERROR $FIXED_ADDR"
    else
        fail "$name loop: every query answered in time, NOERROR, $FIXED_ADDR" \
            "expected: sent N answered N timeouts 0 servfail 0 other 0 late 0 bad 0 wrong 0" \
            "got:      $sum (exit $rc)" "qloop's complaints:" \
            "$(head -n 20 "$WORKDIR/$name.log")" "answers (ms since start, answer, TTL):" \
            "$(head -n 20 "$WORKDIR/$name.out")"
    fi
}

# loss_line: the counts, to be quoted.
loss_line() {
    stop_loop udp
    stop_loop tcp
    echo "# loss test: udp ${SUM[udp]}; tcp ${SUM[tcp]}; reloads $RELOADS ($n_broken broken)"
}

if [ "${RELOAD_GEO_WATCH:-yes}" != yes ]; then
    loss_line
    finish
fi

# ---------------------------------------------------------------- GeoIP watch

echo "# GeoIP database replaced on disk, no reload asked for"
reloads_before=$(grep -cE 'reload: [0-9]+ zones' "$MERIDIAND_LOG" || true)
t0=$(now_ms)
swap_in "$DIR/geo-b.mmdb" "$DIR/geo.mmdb"
got=
# The watch debounces, and the reload runs at idle priority: on a loaded
# machine it takes what the machine leaves it, so no deadline but the order
# of events: the reload's line comes (30 s bounds a wedged daemon only), and
# from then on the London client gets the new answer.
while [ $(($(now_ms) - t0)) -lt 30000 ]; do
    [ "$(grep -cE 'reload: [0-9]+ zones' "$MERIDIAND_LOG")" -gt "$reloads_before" ] && break
    sleep 0.05
done
took=$(($(now_ms) - t0))
got=$(london_now)
if [ "$got" = 198.51.100.10 ]; then
    pass "new database: after the reload (${took} ms) the London client gets us-east's 198.51.100.10"
else
    fail "new database: the London client gets us-east's 198.51.100.10 once the reload is logged" \
        "got after $took ms: $got" "log:" "$(tail -n 10 "$MERIDIAND_LOG")"
fi
reloads_after=$(grep -cE 'reload: [0-9]+ zones' "$MERIDIAND_LOG" || true)
assert_eq 1 $((reloads_after - reloads_before)) "new database: reloads logged (debounced)"

failed_before=$(grep -c 'reload failed' "$MERIDIAND_LOG" || true)
head -c 4096 /dev/urandom >"$DIR/garbage.mmdb"
swap_in "$DIR/garbage.mmdb" "$DIR/geo.mmdb"
for _ in $(seq 40); do
    [ "$(grep -c 'reload failed' "$MERIDIAND_LOG" || true)" -gt "$failed_before" ] && break
    sleep 0.05
done
failed_after=$(grep -c 'reload failed' "$MERIDIAND_LOG" || true)
assert_eq 1 $((failed_after - failed_before)) "garbage database: failed reloads logged"
expect_log_line 'reload: .*geo\.mmdb' "garbage database: the log names geo.mmdb"
assert_eq 198.51.100.10 "$(london_now)" "garbage database: the London client still gets us-east"
assert_eq "\"$good\"" "$(txt_now)" "garbage database: the zone is still served"

loss_line
stop_pid "$MERIDIAND_PID" >"$WORKDIR/stop.rc"
assert_eq 0 "$(cat "$WORKDIR/stop.rc")" "meridiand exits on SIGTERM with status"

finish
