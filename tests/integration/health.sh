#!/usr/bin/env bash
# health.sh: failover of a running meridiand driven by health checks and
# operator overrides, timed with a steady query loop (tests/tools/qloop).
#
# Part 1 (data/health/failover.yaml): a nearest service over three data
# centers whose addresses are loopback HTTP backends (data/health/
# backend.py on 127.0.0.11/12/13), checked every second (down_after 2,
# up_after 2, ttl 60, failover_ttl 5). qloop asks as a London client (ECS
# 81.2.69.0/24: eu-west, us-east, ap-south) 100 times a second throughout
# and logs every change of the answer:
#   - all up: eu-west's 127.0.0.11 with the service TTL; a New York client
#     gets us-east;
#   - eu-west's backend stopped: us-east with failover_ttl within interval
#     x down_after + 1 s, and the log line "health: 127.0.0.11 (eu-west,
#     check web): up -> down (...)"; New York unaffected;
#   - restarted: back to eu-west with the service TTL within interval x
#     up_after + 1 s of it listening, and a "down -> up" line;
#   - drain (state file "datacenter eu-west down", written atomically, and
#     SIGHUP): us-east with failover_ttl; the line removed and SIGHUP: back;
#   - every backend stopped: every address goes down; fail open: eu-west's
#     pool (the London client's first choice, so the service TTL) and one
#     log line saying so;
#   - qloop saw no timeout, no SERVFAIL, no other rcode.
# The measured times are printed as "# failover: X.XX s", "# recovery:
# Y.YY s" (and "# drain:", "# undrain:").
#
# Part 2 (data/health/checks.yaml, one more daemon): check types and
# thresholds, each on its own service, asked as the London client:
# https with verify_tls true against a self-signed certificate (made here
# with openssl) goes down (then fail open); with verify_tls false stays up;
# tcp to a closed port goes down (TTL then defaults to the check interval);
# a backend that accepts and never answers (--hang) goes down on a 900 ms
# timeout while qloop on that service sees every query answered; HTTP 503
# goes down; a data center with one of two addresses down answers with the
# up one only (min_up 1) or is down (min_up 2); an address override in the
# state file applies from the start.
#
# The backends need 127.0.0.11-13 and 127.0.0.31-37 (Linux routes all of
# 127/8 to lo) and one TCP port free on all of them (8080 when it is): if
# they cannot be bound the test is skipped.
#
# Data: data/health/ (failover.yaml, checks.yaml, checks.state,
# example.com.zone, geo.csv, backend.py).
. "$(dirname "$0")/lib.sh"
require_meridiand
require_tool qloop
require_cmd dig perl openssl "$PYTHON"

BACKEND="$DATA/health/backend.py"
H="$WORKDIR/health"
LONDON=81.2.69.0/24
NEWYORK=24.48.0.0/24

# ---------------------------------------------------------------- setup

# pick_port [--prefer PORT]: sets HTTP_PORT, the backends' port: free on
# every address we use right now. Skips if they cannot be bound at all.
ALL_ADDRS=(127.0.0.11 127.0.0.12 127.0.0.13 127.0.0.31 127.0.0.32 127.0.0.33 127.0.0.34
    127.0.0.35 127.0.0.36 127.0.0.37)
pick_port() {
    local rc=0
    HTTP_PORT=$("$PYTHON" "$BACKEND" pick-port "$@" "${ALL_ADDRS[@]}" 2>&1) || rc=$?
    case $rc in
    0) ;;
    3) skip "cannot listen on the loopback addresses the backends need: $HTTP_PORT" ;;
    *) hard_error "backend.py pick-port failed (exit $rc): $HTTP_PORT" ;;
    esac
}
pick_port --prefer 8080
[ "$HTTP_PORT" = 8080 ] || echo "# port 8080 is taken: the backends use $HTTP_PORT"

# config NAME: writes $H/NAME.yaml for the current HTTP_PORT.
config() {
    sed -e "s/@HTTP_PORT@/$HTTP_PORT/g" "$DATA/health/$1.yaml" >"$H/$1.yaml"
}

mkdir -p "$H"
cp "$DATA/health/example.com.zone" "$DATA/health/geo.csv" "$DATA/health/checks.state" "$H/"
ln -sf "$top_srcdir/geoip/countries.csv" "$H/countries.csv"
[ -x "$top_srcdir/geoip/csv2mmdb" ] || hard_error "no $top_srcdir/geoip/csv2mmdb"
rc=0
out=$(CSV2MMDB_QUIET=1 perl "$top_srcdir/geoip/csv2mmdb" "$H/geo.csv" "$H/geo.mmdb" 2>&1) || rc=$?
case $rc in
0) ;;
3) skip "csv2mmdb cannot run: $out" ;;
*) hard_error "csv2mmdb $H/geo.csv failed (exit $rc): $out" ;;
esac

# ---------------------------------------------------------------- helpers

# now_ms: wall-clock milliseconds (qloop's header gives its start in the
# same clock).
now_ms() {
    local t=${EPOCHREALTIME/,/.}
    echo $((${t%.*} * 1000 + 10#${t#*.} / 1000))
}

# secs MS: "1.23" for 1234.
secs() {
    awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'
}

# stop PID: SIGTERM, wait (lib.sh's stop_pid, not in $(): wait needs this
# shell), forget the PID; sets STOP_RC to the exit status or "timeout".
stop() {
    stop_pid "$1" >"$WORKDIR/stop.rc"
    STOP_RC=$(cat "$WORKDIR/stop.rc")
    untrack "$1"
}

# untrack PID: forgets a process we have stopped ourselves, so that the
# cleanup never signals a recycled PID.
untrack() {
    local -a keep=()
    local p
    for p in "${T_PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    T_PIDS=("${keep[@]}")
}

declare -A BPID
BACKENDS=()
B_N=0
# start_backend NAME [backend.py OPTIONS] -- ADDR...: starts backend.py
# listening on ADDR:$HTTP_PORT for each ADDR and waits for its "ready"
# line. Sets BPID[NAME] and B_READY_MS (when it was seen).
start_backend() {
    local name=$1 a
    shift
    local -a opts=() listen=()
    while [ "$1" != -- ]; do
        opts+=("$1")
        shift
    done
    shift
    for a in "$@"; do
        listen+=("$a:$HTTP_PORT")
    done
    B_N=$((B_N + 1))
    local log="$WORKDIR/backend.$name.$B_N.log" outf="$WORKDIR/backend.$name.$B_N.out"
    "$PYTHON" "$BACKEND" "${opts[@]}" "${listen[@]}" >"$outf" 2>"$log" &
    BPID[$name]=$!
    BACKENDS+=("$name")
    T_PIDS+=("${BPID[$name]}")
    T_LOGS+=("$log")
    for _ in $(seq 250); do
        if grep -q '^ready' "$outf"; then
            B_READY_MS=$(now_ms)
            return 0
        fi
        if ! kill -0 "${BPID[$name]}" 2>/dev/null; then
            rc=0
            wait "${BPID[$name]}" || rc=$?
            untrack "${BPID[$name]}"
            [ "$rc" = 3 ] && skip "backend $name cannot listen: $(cat "$log")"
            # taken since pick_port (a test running in parallel): retry
            if [ "${B_RETRY:-0}" = 1 ] && grep -q 'in use' "$log"; then
                return 1
            fi
            hard_error "backend $name exited ($rc) while starting: $(cat "$log")"
        fi
        sleep 0.02
    done
    hard_error "backend $name did not start within 5 s: $(cat "$log")"
}

# with_free_port FUNCTION: runs FUNCTION, which starts backends (and
# returns 1 if start_backend did); when the port was taken meanwhile,
# stops the ones it started and tries again on another port. Afterwards
# BACKENDS lists the names it started.
with_free_port() {
    local name
    for _ in 1 2 3; do
        BACKENDS=()
        B_RETRY=1
        if "$1"; then
            B_RETRY=0
            return 0
        fi
        for name in "${BACKENDS[@]}"; do
            stop "${BPID[$name]}"
        done
        echo "# port $HTTP_PORT was taken meanwhile, trying another"
        pick_port
    done
    hard_error "no port stayed free for the backends"
}

# stop_backend NAME: SIGTERM and wait; sets B_STOP_MS to when it was sent.
stop_backend() {
    B_STOP_MS=$(now_ms)
    stop "${BPID[$1]}"
    [ "$STOP_RC" = 0 ] || fail "backend $1 stops on SIGTERM" "expected: exit 0" "got:      $STOP_RC"
}

# start_qloop NAME SUBNET: qloop on $PORT, 100 queries/s, into $QL_OUT;
# waits for its first answer. Sets QL_PID, QL_OUT, QL_SUM, QL_START.
QL_N=0
start_qloop() {
    QL_N=$((QL_N + 1))
    QL_OUT="$WORKDIR/qloop.$QL_N.out"
    QL_SUM="$WORKDIR/qloop.$QL_N.summary"
    local err="$WORKDIR/qloop.$QL_N.log"
    "$TOOLS/qloop" -p "$PORT" -r 100 -w 1000 -e "$2" -o "$QL_OUT" "$1" >"$QL_SUM" 2>"$err" &
    QL_PID=$!
    T_PIDS+=("$QL_PID")
    T_LOGS+=("$err" "$QL_OUT")
    for _ in $(seq 100); do
        if grep -qv '^#' "$QL_OUT" 2>/dev/null; then
            QL_START=$(sed -n 's/.* start_epoch_ms \([0-9]*\)$/\1/p' "$QL_OUT")
            echo "# qloop $1 ecs $2 (pid $QL_PID)"
            return 0
        fi
        sleep 0.02
    done
    cat "$err"
    hard_error "qloop got no answer within 2 s"
}

# stop_qloop DESCRIPTION: stops qloop and checks that every query was
# answered with NOERROR.
stop_qloop() {
    local rc sum
    stop "$QL_PID"
    rc=$STOP_RC
    sum=$(cat "$QL_SUM")
    echo "# qloop: $sum"
    local -a answers
    mapfile -t answers < <(grep -v '^#' "$QL_OUT")
    if [ "$rc" = 0 ] &&
        [[ "$sum" =~ ^sent\ ([0-9]+)\ answered\ ([0-9]+)\ timeouts\ 0\ servfail\ 0\ other\ 0\ late\ 0\ bad\ 0$ ]] &&
        [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] && [ "${BASH_REMATCH[1]}" -gt 0 ]; then
        pass "$1: every query answered in time with NOERROR (${BASH_REMATCH[1]} queries)"
    else
        fail "$1: every query answered in time with NOERROR" \
            "expected: sent N answered N timeouts 0 servfail 0 other 0 late 0 bad 0 (exit 0)" \
            "got:      $sum (exit $rc)" "qloop's timeouts:" \
            "$(head -n 20 "$WORKDIR/qloop.$QL_N.log")" "answers (ms since start, addresses, TTL):" \
            "${answers[@]}"
    fi
}

# ql_rel MS: wall-clock MS as milliseconds since qloop's start.
ql_rel() {
    echo $(($1 - QL_START))
}

# ql_wait ANSWER TTL SINCE TIMEOUT_S: waits until qloop logs the answer
# ANSWER with TTL ("*": any) at or after SINCE (ms since qloop's start).
# Prints the time of that line, or nothing on timeout.
ql_wait() {
    local want=$1 ttl=$2 since=$3 t
    local end=$(($(now_ms) + $4 * 1000))
    while :; do
        t=$(awk -v a="$want" -v ttl="$ttl" -v s="$since" \
            '!/^#/ && $1 >= s && $2 == a && (ttl == "*" || $3 == ttl) { print $1; exit }' "$QL_OUT")
        if [ -n "$t" ] || [ "$(now_ms)" -gt "$end" ]; then
            echo "$t"
            return 0
        fi
        sleep 0.02
    done
}

# ql_between FROM TO: qloop's answer lines with FROM <= time <= TO.
ql_between() {
    awk -v f="$1" -v t="$2" '!/^#/ && $1 >= f && $1 <= t' "$QL_OUT"
}

# ql_now: the current answer, "ADDRESSES TTL".
ql_now() {
    grep -v '^#' "$QL_OUT" | tail -n 1 | cut -d' ' -f2-
}

# timed_switch WHAT ANSWER TTL SINCE_WALL_MS NOMINAL_MS: waits for qloop to
# see ANSWER since SINCE; prints "# WHAT: X.XX s (nominal N s)" and checks
# it came with TTL, with nothing else between. NOMINAL is what the checks'
# timing gives (interval x up_after or down_after, plus a timeout); the
# health loop shares two cores with the rest of the suite, so the bound
# asserted is three times it: it catches checks that do not run or states
# that do not move, not a scheduler's delay.
timed_switch() {
    local what=$1 want=$2 ttl=$3 since limit=$(($5 * 3)) t any
    since=$(ql_rel "$4")
    t=$(ql_wait "$want" '*' "$since" $((limit / 1000 + 3)))
    local -a between
    if [ -z "$t" ]; then
        mapfile -t between < <(ql_between "$since" 999999999)
        fail "$what: the London client's answer becomes $want" \
            "expected within $(secs "$limit") s: $want (TTL $ttl)" \
            "got after $(secs $((limit + 3000))) s: $(ql_now)" \
            "answers since (ms since qloop start $since):" "${between[@]}"
        return 0
    fi
    echo "# $what: $(secs $((t - since))) s (nominal $(secs "$5") s)"
    mapfile -t between < <(ql_between "$since" "$t")
    any=$(awk -v a="$want" -v t="$t" '$1 == t && $2 == a { print $3 }' "$QL_OUT")
    if [ $((t - since)) -le "$limit" ]; then
        pass "$what: answer $want after $(secs $((t - since))) s (bound $(secs "$limit") s)"
    else
        fail "$what: answer $want within $(secs "$limit") s" "got after: $(secs $((t - since))) s"
    fi
    assert_eq "$ttl" "$any" "$what: TTL of the new answer"
    nothing_between "$what" "${between[@]}"
}

# nothing_between WHAT LINE...: qloop's lines from the change's cause to
# the new answer hold that answer alone (at most one line).
nothing_between() {
    local what=$1 lines
    shift
    lines=$(printf '%s\n' "$@" | grep -c .) || true
    if [ "$lines" -le 1 ]; then
        pass "$what: no other answer in between"
    else
        fail "$what: no other answer in between" "got (ms since qloop start, answer, TTL):" "$@"
    fi
}

# reload_switch WHAT WANT TTL SINCE-MS RELOADS-BEFORE: a switch that a
# reload (SIGHUP) makes. The reload runs at idle priority, so on a loaded
# machine it takes what the machine leaves it: no deadline, but the order
# of events. Its "reload: N zones" line must come (within 30 s, a bound for
# a wedged daemon only), the London client's answer must be WANT from then
# on, and qloop must have seen the switch after SINCE with no other answer
# in between.
RELOAD_RE='reload: [0-9]+ zones'
reload_switch() {
    local what=$1 want=$2 ttl=$3 since=$4 before=$5 t
    local -a between
    if ! wait_log "$RELOAD_RE" $((before + 1)) 30; then
        fail "$what: the reload is logged" "expected line $((before + 1)) matching /$RELOAD_RE/" \
            "log:" "$(tail -n 10 "$MERIDIAND_LOG")"
        return 0
    fi
    answer_is "$what: right after the reload" www.example.com "$LONDON" "$ttl" "$want"
    since=$(ql_rel "$since")
    t=$(ql_wait "$want" "$ttl" "$since" 5)
    if [ -z "$t" ]; then
        mapfile -t between < <(ql_between "$since" 999999999)
        fail "$what: qloop sees $want (TTL $ttl) after the reload" \
            "answers since (ms since qloop start $since):" "${between[@]}"
        return 0
    fi
    echo "# $what: $(secs $((t - since))) s from SIGHUP"
    mapfile -t between < <(ql_between "$since" "$t")
    nothing_between "$what" "${between[@]}"
}

# geo_q NAME SUBNET: asks NAME A as a client in SUBNET.
geo_q() {
    q "$1" A "+subnet=$2"
}

# answer_is DESCRIPTION NAME SUBNET TTL ADDRESS...: the answer is exactly
# these A records, with AA.
answer_is() {
    local desc=$1 name=$2 subnet=$3 ttl=$4 a
    shift 4
    local -a want=()
    for a in "$@"; do
        want+=("$name. $ttl IN A $a")
    done
    geo_q "$name" "$subnet"
    if [ "$Q_RCODE" = NOERROR ] && t_has_flag aa; then
        pass "$desc: $name ($subnet) NOERROR, AA"
    else
        local -a show
        mapfile -t show < <(q_show)
        fail "$desc: $name ($subnet) NOERROR, AA" "got: $Q_RCODE [$Q_FLAGS]" "${show[@]}"
    fi
    assert_answer "${want[@]}"
}

# answer_of NAME SUBNET: "ADDR,ADDR TTL" of the current answer (sorted).
answer_of() {
    geo_q "$1" "$2"
    local addrs ttl
    addrs=$(awk '$4 == "A" { print $5 }' "$Q_DIR/answer" | LC_ALL=C sort | paste -sd, -)
    ttl=$(awk '$4 == "A" { print $2 }' "$Q_DIR/answer" | sort -n | head -n 1)
    echo "${addrs:-$Q_RCODE} ${ttl:--}"
}

# log_count REGEX: lines of the current daemon's log that match.
log_count() {
    grep -cE -- "$1" "$MERIDIAND_LOG" || true
}

# wait_log REGEX N TIMEOUT_S: waits until N lines match; returns 1 if not.
wait_log() {
    local end=$(($(now_ms) + $3 * 1000))
    while [ "$(log_count "$1")" -lt "$2" ]; do
        [ "$(now_ms)" -le "$end" ] || return 1
        sleep 0.05
    done
}

# expect_log REGEX N DESCRIPTION: exactly N lines match.
expect_log() {
    local got
    got=$(log_count "$1")
    if [ "$got" = "$2" ]; then
        pass "log: $3"
    else
        local -a lines
        mapfile -t lines < <(grep -E 'health|fail|open|drain|reload|state' "$MERIDIAND_LOG" | tail -n 30)
        fail "log: $3" "expected $2 line(s) matching: $1" "got:      $got" "the log's health lines:" \
            "${lines[@]}"
    fi
}

# state_write LINE...: replaces the state file atomically (temp + rename).
state_write() {
    local f=$1
    shift
    { echo "# meridian state (tests/integration/health.sh)"; printf '%s\n' "$@"; } >"$f.tmp"
    mv -f "$f.tmp" "$f"
}

# health_re ADDR DC CHECK FROM TO: the regex of a transition line.
health_re() {
    local a=${1//./\\.}
    echo "health: $a \($2, check $3\): $4 -> $5( |\(|$)"
}

# fail_open_re SERVICE: the regex of the line that says SERVICE fails open
# ("service S: every data center is down: ... (fail open)"; some latitude
# in the wording, but not the "fail open is over" line).
fail_open_re() {
    echo "${1//./\\.}\\.?: .*(every|all) data centers? (is |are )?down.*fail(ing|s)?[ -]open"
}
FAIL_OPEN_RE=$(fail_open_re www.example.com)

# Fail open answers with the client's first choice, so by the rule "the
# service TTL unless the chosen data center is not the client's first
# choice" with the service TTL (60 here), not failover_ttl.
FAIL_OPEN_TTL=60

# ---------------------------------------------------------------- part 1

# shellcheck disable=SC2317 # called through with_free_port
part1_backends() {
    start_backend eu -- 127.0.0.11 && start_backend us -- 127.0.0.12 &&
        start_backend ap -- 127.0.0.13
}
with_free_port part1_backends
echo "# part 1: failover of www.example.com (backends on port $HTTP_PORT)"
config failover
start_meridiand "$H/failover.yaml"
start_qloop www.example.com "$LONDON"

# All up. The first results arrive within a second (first check at
# once); wait for them so that what follows is a change, not the start.
UP_RE="health: 127\.0\.0\.1[123] \([a-z-]+, check web\): .*-> up"
wait_log "$UP_RE" 3 3 || echo "# (no '-> up' lines for the first results; going on)"
answer_is "all up" www.example.com "$LONDON" 60 127.0.0.11
answer_is "all up, New York client" www.example.com "$NEWYORK" 60 127.0.0.12
assert_eq "127.0.0.11 60" "$(ql_now)" "all up: qloop's London answer (address TTL)"
n=$(grep -vc '^#' "$QL_OUT") || true
assert_eq 1 "$n" "all up: answers qloop saw so far"
expect_log "$(health_re 127.0.0.1[123] '[a-z-]+' web '[a-z]+' down)" 0 "no address went down"

# eu-west's backend stops: us-east, failover_ttl, within 1 s x 2 + 1 s.
stop_backend eu
timed_switch failover 127.0.0.12 5 "$B_STOP_MS" 3000
expect_log "$(health_re 127.0.0.11 eu-west web up down)" 1 "127.0.0.11 up -> down"
answer_is "eu-west down" www.example.com "$LONDON" 5 127.0.0.12
answer_is "eu-west down, New York client (first choice us-east)" www.example.com "$NEWYORK" \
    60 127.0.0.12

# It comes back: eu-west, the service TTL, within 1 s x 2 + 1 s of
# listening again.
start_backend eu -- 127.0.0.11
timed_switch recovery 127.0.0.11 60 "$B_READY_MS" 3000
expect_log "$(health_re 127.0.0.11 eu-west web down up)" 1 "127.0.0.11 down -> up"
answer_is "eu-west back" www.example.com "$LONDON" 60 127.0.0.11

# Drain by hand: the state file and SIGHUP.
STATE="$H/failover.state"
state_write "$STATE" "datacenter eu-west down"
t=$(now_ms)
n=$(log_count "$RELOAD_RE")
kill -HUP "$MERIDIAND_PID"
reload_switch drain 127.0.0.12 5 "$t" "$n"
state_write "$STATE"
t=$(now_ms)
n=$(log_count "$RELOAD_RE")
kill -HUP "$MERIDIAND_PID"
reload_switch undrain 127.0.0.11 60 "$t" "$n"
expect_log 'reload failed|state file is unreadable' 0 "both reloads succeeded"

# Every backend stops: all down, fail open to the London client's first
# choice (eu-west), logged once.
DOWN_ALL="health: 127\.0\.0\.1[123] \([a-z-]+, check web\): up -> down"
before=$(log_count "$DOWN_ALL")
stop_backend eu
t_all=$B_STOP_MS
stop_backend us
stop_backend ap
if wait_log "$DOWN_ALL" $((before + 3)) 5; then
    pass "all stopped: every address went down ($((before + 3)) up -> down lines)"
else
    expect_log "$DOWN_ALL" $((before + 3)) "all stopped: every address goes down"
fi
wait_log "$FAIL_OPEN_RE" 1 2 || true
# Twenty more queries of our own (beside qloop's): still logged once.
for _ in $(seq 20); do geo_q www.example.com "$LONDON"; done
assert_rcode NOERROR "all down: the last of twenty more queries is answered"
expect_log "$FAIL_OPEN_RE" 1 "fail open logged once (/$FAIL_OPEN_RE/)"
grep -iE -- "$FAIL_OPEN_RE" "$MERIDIAND_LOG" | sed 's/^/# log: /' || true
answer_is "all down: fail open" www.example.com "$LONDON" "$FAIL_OPEN_TTL" 127.0.0.11
assert_eq "127.0.0.11 $FAIL_OPEN_TTL" "$(ql_now)" "all down: qloop's London answer (fail open)"
echo "# qloop's London answers since the backends stopped (ms since start, addresses, TTL):"
ql_between "$(ql_rel "$t_all")" 999999999 | sed 's/^/#   /'

stop_qloop "www.example.com, London, throughout part 1"
stop "$MERIDIAND_PID"
assert_eq 0 "$STOP_RC" "part 1: meridiand exits on SIGTERM with status"

# ---------------------------------------------------------------- part 2

echo "# part 2: check types"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
    -keyout "$H/key.pem" -out "$H/cert.pem" >"$H/openssl.log" 2>&1 ||
    hard_error "openssl req failed: $(cat "$H/openssl.log")"
# shellcheck disable=SC2317 # called through with_free_port
part2_backends() {
    start_backend good -- 127.0.0.32 127.0.0.37 && start_backend hang --hang -- 127.0.0.33 &&
        start_backend tls --tls "$H/cert.pem" "$H/key.pem" -- 127.0.0.34 &&
        start_backend s503 --status 503 -- 127.0.0.36
}
with_free_port part2_backends
config checks
start_meridiand "$H/checks.yaml"
start_qloop hang.example.com "$LONDON"

# Read at start: 127.0.0.37 is forced down.
answer_is "address forced down by the state file" forced.example.com "$LONDON" 5 127.0.0.32

# Wait until every expected transition has shown in the answers (or 6 s).
declare -A WANT=(
    [tcp.example.com]="127.0.0.32 1"
    [hang.example.com]="127.0.0.32 5"
    [status.example.com]="127.0.0.32 5"
    [multi.example.com]="192.0.2.61 60"
    [minup.example.com]="198.51.100.71,198.51.100.72 5"
)
t0=$(now_ms)
while :; do
    pending=0
    for name in "${!WANT[@]}"; do
        [ "$(answer_of "$name" "$LONDON")" = "${WANT[$name]}" ] || pending=1
    done
    [ "$(log_count "$(health_re 127.0.0.34 eu-west tls_verify '[a-z]+' down)")" -ge 1 ] || pending=1
    [ "$pending" = 0 ] && break
    [ $(($(now_ms) - t0)) -lt 20000 ] || break # bounds a wedged daemon only
    sleep 0.1
done
echo "# part 2: transitions done after $(secs $(($(now_ms) - t0))) s"

answer_is "tcp check, closed port: down; TTL the check interval" tcp.example.com "$LONDON" 1 \
    127.0.0.32
expect_log "$(health_re 127.0.0.31 eu-west tcp '[a-z]+' down)" 1 "tcp: 127.0.0.31 goes down"
answer_is "http check, backend never answers (900 ms timeout): down" hang.example.com \
    "$LONDON" 5 127.0.0.32
expect_log "$(health_re 127.0.0.33 eu-west slow '[a-z]+' down)" 1 "hang: 127.0.0.33 goes down"
answer_is "http check, status 503: down" status.example.com "$LONDON" 5 127.0.0.32
expect_log "$(health_re 127.0.0.36 eu-west web '[a-z]+' down)" 1 "503: 127.0.0.36 goes down"
answer_is "one of two addresses down, min_up 1: only the up one" multi.example.com "$LONDON" 60 \
    192.0.2.61
answer_is "one of two addresses down, min_up 2: the data center is down" minup.example.com \
    "$LONDON" 5 198.51.100.71 198.51.100.72

# https, verify_tls true, self-signed: down; the other data center too,
# so fail open to eu-west.
expect_log "$(health_re 127.0.0.34 eu-west tls_verify '[a-z]+' down)" 1 \
    "https verify_tls true, self-signed certificate: 127.0.0.34 goes down"
grep -E "$(health_re 127.0.0.34 eu-west tls_verify '[a-z]+' down)" "$MERIDIAND_LOG" |
    sed 's/^/# log: /' || true
answer_is "https verify_tls true: every data center down, fail open" tls-verify.example.com \
    "$LONDON" "$FAIL_OPEN_TTL" 127.0.0.34
expect_log "$(fail_open_re tls-verify.example.com)" 1 "tls-verify.example.com fails open"
# verify_tls false: the same backend stays up (its us-east, where nothing
# listens, shows the check has been running).
expect_log "$(health_re 127.0.0.35 us-east tls_noverify '[a-z]+' down)" 1 \
    "https verify_tls false: 127.0.0.35 (nothing listens) goes down"
expect_log "$(health_re 127.0.0.34 eu-west tls_noverify '[a-z]+' down)" 0 \
    "https verify_tls false: 127.0.0.34 never goes down"
answer_is "https verify_tls false: self-signed certificate accepted" tls-noverify.example.com \
    "$LONDON" 60 127.0.0.34
n=$(grep -c '"GET /healthz' "$WORKDIR"/backend.tls.*.log) || true
if [ "$n" -ge 2 ]; then
    pass "https verify_tls false: the TLS backend served $n GET /healthz"
else
    fail "https verify_tls false: the TLS backend served GET /healthz" "expected: >= 2" "got: $n"
fi

stop_qloop "hang.example.com, London, while its check hangs"
stop "$MERIDIAND_PID"
assert_eq 0 "$STOP_RC" "part 2: meridiand exits on SIGTERM with status"

finish
