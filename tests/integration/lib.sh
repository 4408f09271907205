# shellcheck shell=bash
# lib.sh: shared helpers for Meridian's integration tests. Source it first:
#
#   . "$(dirname "$0")/lib.sh"
#   start_meridiand "$DATA/basic/meridian.yaml"
#   q www.example.com A
#   assert_rcode NOERROR
#   assert_flag aa
#   assert_answer "www.example.com. 3600 IN A 192.0.2.10"
#   finish
#
# Conventions (automake): exit 0 pass, 1 fail, 77 skip, 99 hard error.
# Every daemon started here is killed, and the temp dir removed, on any
# exit; on failure the daemons' logs are printed. KEEP_WORKDIR=1 keeps the
# temp dir for a post-mortem. VERBOSE=1 prints every dig output.

set -euo pipefail

# ---------------------------------------------------------------- paths

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$LIB_DIR/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${MERIDIAND:=$top_builddir/meridiand}"
DATA="$top_srcdir/tests/integration/data"
TOOLS="$top_builddir/tests/tools"
T_NAME=$(basename "$0" .sh)
# A version manager's python3 shim can cost half a second per start.
if [ -z "${PYTHON:-}" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/meridian-it-$T_NAME.XXXXXX")

T_CHECKS=0
T_FAILS=0
T_SKIPS=0       # checks not run (skip_checks)
T_PIDS=()       # every background process we started
T_LOGS=()       # and its log, printed on failure
T_N=0           # daemons started so far (names their logs and dirs)

# ---------------------------------------------------------------- cleanup

# t_kill PID: stops one process (TERM, then KILL after 3 s) and reaps it.
# Sets T_KILL_STATUS to its exit status: a number, "gone" when this shell
# has already reaped it (a test waited for it itself), or "killed" when it
# needed KILL. Not to be run in $(...): only this shell can wait for it.
t_kill() {
    local pid=$1 rc=0
    T_KILL_STATUS=gone
    if kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            T_KILL_STATUS=killed
            return 0
        fi
    fi
    # Exited (now or before): bash keeps a child's status until it is waited for.
    wait "$pid" 2>/dev/null || rc=$?
    [ "$rc" = 127 ] || T_KILL_STATUS=$rc
}

# t_expect_exit0 PID NAME: at teardown PID (a daemon this script started)
# must still be running and exit 0 on SIGTERM, or already have exited 0. A
# crash, a LeakSanitizer report or a hang at shutdown fails the test. A
# script that stops the daemon itself and checks the status (stop_pid, or
# its own wait) leaves nothing for the teardown to see.
T_CHECKED=()    # "PID NAME" of daemons whose exit status counts
t_expect_exit0() {
    T_CHECKED+=("$1 $2")
}

t_cleanup() {
    local rc=$? pid log st entry name
    set +e
    declare -A t_status=()
    for pid in "${T_PIDS[@]}"; do
        t_kill "$pid"
        t_status[$pid]=$T_KILL_STATUS
    done
    for entry in "${T_CHECKED[@]}"; do
        pid=${entry%% *}
        name=${entry#* }
        st=${t_status[$pid]:-gone}
        case "$st" in
        0 | gone) ;;
        *)
            echo "FAIL - $name (pid $pid) at teardown: exit status $st, expected 0"
            if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then rc=1; fi
            ;;
        esac
    done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        for log in "${T_LOGS[@]}"; do
            [ -s "$log" ] || continue
            echo "---- last lines of $(basename "$log") ----"
            tail -n 40 "$log"
        done
    fi
    if [ "${KEEP_WORKDIR:-0}" = 1 ]; then
        echo "kept $WORKDIR"
    else
        rm -rf "$WORKDIR"
    fi
    exit "$rc"
}
trap t_cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---------------------------------------------------------------- verdicts

skip() {
    if [ "$T_FAILS" -gt 0 ]; then
        # A skip must never hide a failure: automake would record SKIP.
        echo "FAIL - asked to skip ($*) after $T_FAILS failed checks"
        echo "$T_NAME: $((T_CHECKS - T_FAILS))/$T_CHECKS checks passed, $T_SKIPS skipped"
        exit 1
    fi
    echo "SKIP: $*"
    exit 77
}

# skip_checks N REASON: N checks of this script are not run (a tool or a
# data file is missing, or a build mode makes them meaningless). They are
# counted as skipped in the closing line, never dropped silently.
skip_checks() {
    T_SKIPS=$((T_SKIPS + $1))
    echo "SKIP - $1 checks: $2"
}

hard_error() {
    echo "ERROR: $*"
    exit 99
}

require_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"
    done
}

require_meridiand() {
    [ -x "$MERIDIAND" ] || hard_error "no meridiand at $MERIDIAND (build it first)"
}

require_tool() {
    [ -x "$TOOLS/$1" ] || hard_error "no $TOOLS/$1 (make check builds it)"
}

pass() {
    T_CHECKS=$((T_CHECKS + 1))
    echo "ok   - $1"
}

# fail DESCRIPTION [DETAIL...]: records a failure and prints the details.
fail() {
    T_CHECKS=$((T_CHECKS + 1))
    T_FAILS=$((T_FAILS + 1))
    echo "FAIL - $1"
    shift
    local line
    for line in "$@"; do
        printf '       %s\n' "$line"
    done
}

# Ends a test: exit 0 if every check passed, 1 otherwise.
finish() {
    echo "$T_NAME: $((T_CHECKS - T_FAILS))/$T_CHECKS checks passed, $T_SKIPS skipped"
    [ "$T_FAILS" -eq 0 ] || exit 1
    exit 0
}

# ---------------------------------------------------------------- commands

# run_meridiand ARGS...: runs meridiand (bounded to 10 s) and keeps its exit
# status in R_RC and its stdout and stderr together in R_OUT, for expect_rc
# and expect_output.
run_meridiand() {
    R_CMD="meridiand $*"
    R_RC=0
    R_OUT=$(timeout 10 "$MERIDIAND" "$@" 2>&1) || R_RC=$?
}

expect_rc() {
    if [ "$R_RC" = "$1" ]; then
        pass "$R_CMD: exit $1"
    else
        local -a show
        mapfile -t show <<<"$R_OUT"
        fail "$R_CMD: exit status" "expected: $1" "got:      $R_RC" "output:" "${show[@]}"
    fi
}

expect_output() { # PATTERN DESCRIPTION
    if grep -qE -- "$1" <<<"$R_OUT"; then
        pass "$R_CMD: $2"
    else
        local -a show
        mapfile -t show <<<"$R_OUT"
        fail "$R_CMD: $2" "expected a line matching: $1" "output:" "${show[@]}"
    fi
}

# expect_refused CONFIG MESSAGE: `meridiand --check` and a start with
# CONFIG both exit 1 and print MESSAGE as a line of its own (--check runs
# what the start runs).
expect_refused() {
    local mode
    local -a show
    for mode in --check start; do
        if [ "$mode" = --check ]; then
            run_meridiand --check -c "$1"
        else
            run_meridiand -c "$1" --listen "127.0.0.1:$(free_port)"
        fi
        expect_rc 1
        if grep -qxF -- "$2" <<<"$R_OUT"; then
            pass "$R_CMD: says \"$2\""
        else
            mapfile -t show <<<"$R_OUT"
            fail "$R_CMD: the message" "expected the line: $2" "output:" "${show[@]}"
        fi
    done
}

# server_conf FILE [SERVER-LINE...]: writes a config to FILE with these
# lines in its server section and one zone, example.com from $ZONE
# (default: the basic test's); append more sections to FILE after it.
server_conf() {
    local file=$1 line
    shift
    {
        echo "server:"
        for line in "$@"; do echo "  $line"; done
        echo "zones:"
        echo "  - file: ${ZONE:-$DATA/basic/example.com.zone}"
        echo "    origin: example.com"
    } >"$file"
}

# build_mmdb CSV OUT: builds a GeoIP database with geoip/csv2mmdb; skips
# the test (77) where csv2mmdb cannot run.
build_mmdb() {
    local rc=0 out
    out=$(CSV2MMDB_QUIET=1 perl "$top_srcdir/geoip/csv2mmdb" "$1" "$2" 2>&1) || rc=$?
    case $rc in
    0) ;;
    3) skip "csv2mmdb cannot run: $out" ;;
    *) hard_error "csv2mmdb $1 failed (exit $rc): $out" ;;
    esac
}

# log_text LOG: the daemon's log without the time stamp each foreground
# line opens with ("2026-12-08T03:15:26.123Z "), for exact comparisons.
log_text() {
    sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z //' "$1"
}

# ---------------------------------------------------------------- ports

# Prints a TCP+UDP port that is free on 127.0.0.1 right now. It is taken
# below the kernel's ephemeral range: a client socket that sets SO_REUSEPORT
# (dig does) may otherwise be given the server's own port, join its
# SO_REUSEPORT group and receive some of the queries, its own included.
free_port() {
    if command -v "$PYTHON" >/dev/null 2>&1; then
        "$PYTHON" - <<'EOF'
import random
import socket
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
low = max(low, 2048)
for _ in range(500):
    port = random.randrange(1024, low)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t.bind(("127.0.0.1", port))
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close()
        u.close()
        continue
    u.close()
    t.close()
    print(port)
    break
else:
    raise SystemExit("no free port")
EOF
    else
        local port
        while :; do
            port=$((10000 + RANDOM % 20000))
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                echo "$port"
                return
            fi
        done
    fi
}

# ---------------------------------------------------------------- daemons

# wait_answering PORT PID LOG: waits up to 10 s until something answers DNS
# on 127.0.0.1:PORT (any rcode will do). Returns 1 if the process died
# (its log says why), fails hard if it never answers.
wait_answering() {
    local port=$1 pid=$2 log=$3
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        # (not "dig | grep -q": under pipefail grep's early exit can fail it)
        if [[ "$(dig @127.0.0.1 -p "$port" +time=1 +tries=1 +norec . SOA 2>/dev/null)" == \
            *'->>HEADER<<-'* ]]; then
            return 0
        fi
        sleep 0.1
    done
    cat "$log"
    hard_error "daemon on port $port did not answer within 10 s"
}

# t_start_daemon LOG CMD...: starts CMD in the background on a fresh free
# port ($T_PORT, which CMD should mention as "%PORT%") until it answers; a
# port taken between free_port and bind (tests run in parallel) is retried.
# Sets T_PID.
t_start_daemon() {
    local log=$1 arg
    shift
    local -a cmd
    for _ in 1 2 3; do
        T_PORT=$(free_port)
        cmd=()
        for arg in "$@"; do
            cmd+=("${arg//%PORT%/$T_PORT}")
        done
        "${cmd[@]}" >"$log" 2>&1 &
        T_PID=$!
        T_PIDS+=("$T_PID")
        T_LOGS+=("$log")
        if wait_answering "$T_PORT" "$T_PID" "$log"; then
            return 0
        fi
        if ! grep -qiE 'in use|bind' "$log"; then
            break
        fi
        echo "# port $T_PORT was taken, trying another"
    done
    echo "daemon (pid $T_PID) died while starting; its log:"
    cat "$log"
    hard_error "daemon did not start: ${cmd[*]}"
}

# start_meridiand CONFIG [ARGS...]: starts meridiand in the background on a
# free loopback port (the config's listeners are replaced) and waits until
# it answers. Sets PORT (the port queries go to by default), MERIDIAND_PID,
# MERIDIAND_LOG. May be called more than once; the last one wins PORT.
start_meridiand() {
    local conf=$1
    shift
    require_meridiand
    require_cmd dig
    T_N=$((T_N + 1))
    MERIDIAND_LOG="$WORKDIR/meridiand.$T_N.log"
    t_start_daemon "$MERIDIAND_LOG" "$MERIDIAND" -c "$conf" --listen "127.0.0.1:%PORT%" "$@"
    PORT=$T_PORT
    MERIDIAND_PID=$T_PID
    t_expect_exit0 "$MERIDIAND_PID" "meridiand -c $conf"
    echo "# meridiand -c $conf listening on 127.0.0.1:$PORT (pid $MERIDIAND_PID)"
}

# stop_pid PID: SIGTERM, wait up to 5 s; prints the exit status (or
# "timeout" if it did not exit, after which it is killed).
stop_pid() {
    local pid=$1 rc
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rc=0
            wait "$pid" || rc=$?
            echo "$rc"
            return 0
        fi
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo timeout
}

# start_nsd [ORIGIN=]ZONEFILE...: starts our own NSD (never the system one)
# on a free loopback port with its state in a temp dir. A zone's origin
# defaults to its file name minus ".zone". Sets NSD_PORT, NSD_PID, NSD_LOG.
# NSD runs with minimal-responses (no NS RRset in the authority section of
# positive answers, as meridiand does); NSD_MINIMAL=no turns that off.
# NSD_EXTRA holds more lines for the server: clause.
start_nsd() {
    require_cmd nsd nsd-checkconf dig
    local dir arg origin file conf
    T_N=$((T_N + 1))
    dir="$WORKDIR/nsd.$T_N"
    mkdir -p "$dir"
    conf="$dir/nsd.conf.in"
    NSD_LOG="$dir/nsd.log"
    cat >"$conf" <<EOF
server:
    ip-address: 127.0.0.1
    port: %PORT%
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$dir"
    database: ""
    zonelistfile: "$dir/zone.list"
    xfrdfile: "$dir/xfrd.state"
    xfrdir: "$dir"
    pidfile: "$dir/nsd.pid"
    logfile: "$NSD_LOG"
    zonefiles-write: 0
    verbosity: 1
    hide-version: no
    identity: "nsd-test"
    refuse-any: no
    minimal-responses: ${NSD_MINIMAL:-yes}
    round-robin: no
    answer-cookie: no
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    tcp-count: 100
${NSD_EXTRA:+    $NSD_EXTRA}
remote-control:
    control-enable: no
EOF
    for arg in "$@"; do
        if [[ "$arg" == *=* ]]; then
            origin=${arg%%=*}
            file=${arg#*=}
        else
            file=$arg
            origin=$(basename "$file" .zone)
        fi
        printf 'zone:\n    name: "%s"\n    zonefile: "%s"\n' "$origin" "$file" >>"$conf"
    done
    sed -e 's/%PORT%/53/' "$conf" >"$dir/check.conf"
    nsd-checkconf "$dir/check.conf" || hard_error "nsd-checkconf rejected $dir/check.conf"
    # NSD takes its port from the config: write one per attempted port
    # shellcheck disable=SC2016 # $1 and $2 are the inner shell's
    t_start_daemon "$NSD_LOG" sh -c 'sed -e "s/[%]PORT[%]/$1/" "$2" >"$2.$1" && exec nsd -d -c "$2.$1"' \
        sh %PORT% "$conf"
    NSD_PORT=$T_PORT
    NSD_PID=$T_PID
    t_expect_exit0 "$NSD_PID" nsd
    echo "# nsd listening on 127.0.0.1:$NSD_PORT (pid $NSD_PID)"
}

# t_dgram_listen SOCKET OUT: binds a Unix datagram socket at SOCKET (a
# stand-in for systemd's NOTIFY_SOCKET or for /dev/log) and appends every
# line of every datagram it receives to OUT, until 60 s pass without one.
# Returns once the socket is bound.
t_dgram_listen() {
    "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        try:
            msg = s.recv(65536)
        except socket.timeout:
            break
        for line in msg.splitlines():
            out.write(line + b"\n")
' "$1" "$2" &
    T_PIDS+=("$!")
    for _ in $(seq 50); do
        [ -S "$1" ] && break
        sleep 0.1
    done
    [ -S "$1" ] || hard_error "t_dgram_listen: $1 was not bound"
    : >>"$2"
}

# ---------------------------------------------------------------- queries

# q NAME TYPE [CLASS] [DIG-OPTIONS...]: asks 127.0.0.1:$PORT with fixed options and
# parses the reply into Q_RCODE, Q_FLAGS (space separated), Q_EDNS (the
# "; EDNS:" line or empty), and files $Q_DIR/{answer,authority,additional,
# question} with one normalized record per line ("owner ttl class type
# rdata", single spaces). Q_CMD and Q_OUT keep the command and raw output.
# Set QPORT to ask another port. Q_RCODE is "TIMEOUT" if nothing came back.
Q_DIR="$WORKDIR/q"
mkdir -p "$Q_DIR"
q() {
    local name=$1 type=$2
    shift 2
    local port=${QPORT:-${PORT:-}}
    [ -n "$port" ] || hard_error "q: no server port (start a daemon first)"
    Q_CMD="dig @127.0.0.1 -p $port +norec +time=2 +tries=1 +nocookie +noadflag $name $type${*:+ $*}"
    Q_OUT=$(dig @127.0.0.1 -p "$port" +norec +time=2 +tries=1 +nocookie +noadflag \
        +nottlunits +nomultiline +nocmd +nostats "$name" "$type" "$@" 2>&1) || true
    [ "${VERBOSE:-0}" = 1 ] && printf '%s\n%s\n' "\$ $Q_CMD" "$Q_OUT"
    q_parse
}

# q_parse: splits $Q_OUT (one dig reply) into the Q_* variables and files.
q_parse() {
    local meta
    meta=$(awk -v dir="$Q_DIR" '
        BEGIN {
            rcode = "TIMEOUT"; flags = ""; edns = ""; sec = ""
            split("question answer authority additional", all, " ")
            for (i in all) printf "" > (dir "/" all[i])
        }
        /->>HEADER<<-/ {
            rcode = $0; sub(/.*status: /, "", rcode); sub(/,.*/, "", rcode); next
        }
        /^;; flags:/ {
            flags = $0; sub(/^;; flags: */, "", flags); sub(/;.*/, "", flags); next
        }
        /^; EDNS:/ { edns = $0; next }
        /^;; QUESTION SECTION:/ { sec = "question"; next }
        /^;; ANSWER SECTION:/ { sec = "answer"; next }
        /^;; AUTHORITY SECTION:/ { sec = "authority"; next }
        /^;; ADDITIONAL SECTION:/ { sec = "additional"; next }
        /^;; OPT PSEUDOSECTION:/ || /^$/ { sec = ""; next }
        /^;/ {
            if (sec == "question") { line = substr($0, 2); $0 = line; $1 = $1; print > (dir "/question") }
            next
        }
        sec != "" { $1 = $1; print > (dir "/" sec) }
        END { printf "%s\n%s\n%s\n", rcode, flags, edns }
    ' <<<"$Q_OUT")
    # shellcheck disable=SC2034 # Q_EDNS is for the test scripts
    {
        IFS= read -r Q_RCODE
        IFS= read -r Q_FLAGS || true
        IFS= read -r Q_EDNS || true
    } <<<"$meta"
}

# ---------------------------------------------------------------- assertions

# q_show: the command and reply, for failure messages (one arg per line).
q_show() {
    local line
    echo "\$ $Q_CMD"
    while IFS= read -r line; do
        echo "  $line"
    done <<<"$Q_OUT"
}

q_desc() {
    echo "${Q_CMD#dig @127.0.0.1 -p * +norec +time=2 +tries=1 +nocookie +noadflag }"
}

# assert_rcode RCODE [DESCRIPTION]
assert_rcode() {
    local want=$1 desc=${2:-$(q_desc)}
    if [ "$Q_RCODE" = "$want" ]; then
        pass "$desc: rcode $want"
    else
        local -a show
        mapfile -t show < <(q_show)
        fail "$desc: rcode" "expected: $want" "got:      $Q_RCODE" "${show[@]}"
    fi
}

# t_replied DESCRIPTION: true when the last query got a reply. An assertion
# that something is absent (a flag, a record, an option) calls it first, so
# it cannot pass against a port where nothing answers.
t_replied() {
    [ "$Q_RCODE" != TIMEOUT ] && return 0
    local -a show
    mapfile -t show < <(q_show)
    fail "$1: no reply, so nothing can be said to be absent" "${show[@]}"
    return 1
}

t_has_flag() {
    [[ " $Q_FLAGS " == *" $1 "* ]]
}

# assert_flag FLAG / assert_noflag FLAG: aa, tc, qr, rd, ra, ad, cd.
assert_flag() {
    local desc=${2:-$(q_desc)}
    if t_has_flag "$1"; then
        pass "$desc: flag $1 set"
    else
        local -a show
        mapfile -t show < <(q_show)
        fail "$desc: flag $1" "expected: $1 set" "got:      flags [$Q_FLAGS]" "${show[@]}"
    fi
}

assert_noflag() {
    local desc=${2:-$(q_desc)}
    t_replied "$desc: flag $1 clear" || return 0
    if t_has_flag "$1"; then
        local -a show
        mapfile -t show < <(q_show)
        fail "$desc: flag $1" "expected: $1 clear" "got:      flags [$Q_FLAGS]" "${show[@]}"
    else
        pass "$desc: flag $1 clear"
    fi
}

# assert_section SECTION [RECORD...]: the section holds exactly these
# records (any order). Records are "owner ttl class type rdata"; owners are
# compared case-insensitively. No records: the section must be empty.
assert_section() {
    local sec=$1 desc
    shift
    desc="$(q_desc): $sec"
    local want got
    t_replied "$desc" || return 0
    want=$(for r in "$@"; do printf '%s\n' "$r"; done | t_norm)
    got=$(t_norm <"$Q_DIR/$sec")
    if [ "$want" = "$got" ]; then
        pass "$desc = {$(tr '\n' ';' <<<"$want" | sed 's/;$//')}"
    else
        local -a show
        mapfile -t show < <(q_show)
        fail "$desc" "expected:" $'\t'"${want//$'\n'/$'\n'$'\t'}" "got:" \
            $'\t'"${got//$'\n'/$'\n'$'\t'}" "${show[@]}"
    fi
}

assert_answer() { assert_section answer "$@"; }
assert_authority() { assert_section authority "$@"; }
assert_additional() { assert_section additional "$@"; }

# assert_has SECTION RECORD...: each record is in the section (others may
# be there too).
assert_has() {
    local sec=$1 r got
    shift
    got=$(t_norm <"$Q_DIR/$sec")
    for r in "$@"; do
        r=$(printf '%s\n' "$r" | t_norm)
        if grep -qxF -- "$r" <<<"$got"; then
            pass "$(q_desc): $sec has '$r'"
        else
            local -a show
            mapfile -t show < <(q_show)
            fail "$(q_desc): $sec" "expected to contain: $r" "${show[@]}"
        fi
    done
}

# assert_count SECTION N
assert_count() {
    local sec=$1 want=$2 got
    t_replied "$(q_desc): $sec has $want records" || return 0
    got=$(grep -c . "$Q_DIR/$sec" || true)
    if [ "$got" = "$want" ]; then
        pass "$(q_desc): $sec has $want records"
    else
        local -a show
        mapfile -t show < <(q_show)
        fail "$(q_desc): $sec count" "expected: $want" "got:      $got" "${show[@]}"
    fi
}

# assert_out GREP-E-PATTERN [DESCRIPTION]: the raw dig output matches.
assert_out() {
    local pat=$1 desc=${2:-"output matches /$1/"}
    if grep -qE -- "$pat" <<<"$Q_OUT"; then
        pass "$(q_desc): $desc"
    else
        local -a show
        mapfile -t show < <(q_show)
        fail "$(q_desc): $desc" "expected a line matching: $pat" "${show[@]}"
    fi
}

assert_no_out() {
    local pat=$1 desc=${2:-"output does not match /$1/"}
    t_replied "$(q_desc): $desc" || return 0
    if grep -qE -- "$pat" <<<"$Q_OUT"; then
        local -a show
        mapfile -t show < <(q_show)
        fail "$(q_desc): $desc" "expected no line matching: $pat" "${show[@]}"
    else
        pass "$(q_desc): $desc"
    fi
}

# assert_eq WANT GOT DESCRIPTION
assert_eq() {
    if [ "$1" = "$2" ]; then
        pass "$3: $2"
    else
        fail "$3" "expected: $1" "got:      $2"
    fi
}

# t_norm: normalizes records for comparison: single spaces, owner names
# lower-cased, sorted.
t_norm() {
    tr -s ' \t' '  ' | sed -e 's/ $//' -e '/^$/d' |
        awk '{ $1 = tolower($1); print }' | LC_ALL=C sort
}

# ---------------------------------------------------------------- raw packets

# ask_raw [dnswire.py ask OPTIONS...]: sends a hand-built packet to
# 127.0.0.1:$PORT (see data/dnswire.py) and keeps the parsed reply in W_OUT
# ("reply none" when nothing came back).
ask_raw() {
    local port=${QPORT:-$PORT}
    W_CMD="dnswire.py ask $*"
    W_OUT=$("$PYTHON" "$DATA/dnswire.py" ask --port "$port" "$@" 2>&1) || true
    [ "${VERBOSE:-0}" = 1 ] && printf '%s\n%s\n' "\$ $W_CMD" "$W_OUT"
    return 0
}

# assert_raw GREP-E-PATTERN DESCRIPTION: W_OUT has a matching line.
assert_raw() {
    if grep -qE -- "$1" <<<"$W_OUT"; then
        pass "$W_CMD: $2"
    else
        local -a show
        mapfile -t show <<<"$W_OUT"
        fail "$W_CMD: $2" "expected a line matching: $1" "got:" "${show[@]}"
    fi
}

assert_no_raw() {
    if grep -q '^reply none' <<<"$W_OUT" || ! grep -q '^reply ' <<<"$W_OUT"; then
        local -a show
        mapfile -t show <<<"$W_OUT"
        fail "$W_CMD: $2: no reply, so nothing can be said to be absent" "got:" "${show[@]}"
        return 0
    fi
    if grep -qE -- "$1" <<<"$W_OUT"; then
        local -a show
        mapfile -t show <<<"$W_OUT"
        fail "$W_CMD: $2" "expected no line matching: $1" "got:" "${show[@]}"
    else
        pass "$W_CMD: $2"
    fi
}
