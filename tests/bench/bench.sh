#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup, setup_* and cmd_* are called indirectly
# bench.sh: Meridian against gdnsd, NSD and Knot DNS on one machine, every
# server loaded with the same zone and (except NSD, which has no geo) the
# same geo service, on loopback. Not part of `make check`; after
# scripts/setup.sh run, as root,
#     tests/bench/bench.sh [BUILD_DIR]
# and read docs/performance.md for what each number means. It installs the
# peers and tools it needs from Debian, builds tests/bench/loadgen and
# tests/bench/echo, checks every server's answers before timing anything
# (a wrong answer is a failure: exit 1 naming the server and the mix),
# and prints one table. Knobs (environment):
#     RUNS=3              timed runs per server and mix (median reported)
#     SECONDS_PER_RUN=5   length of each timed run and of the fixed-rate run
#     RATE=50000          offered rate (q/s) of the CPU-per-query run
#     CG_QUERIES=20000    queries counted under callgrind
#     TCP_CONNS=8 TCP_PERCONN=1000   the TCP mix: connections, queries each
#     SKIP_CALLGRIND=1    no instructions per query
#     SKIP_ZONELOAD=1     no zone-load or networks_file measurements
#     PEERS="gdnsd nsd knot"   the peers to run (empty: Meridian alone)
#     KEEP=1              keep the whole work directory (default: results only)
#     SERVER_CPU=0 CLIENT_CPU=1   the cores of the pinned runs
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$top/build}" 2>/dev/null && pwd) ||
    { echo "bench: no build directory ${1:-$top/build}: run scripts/setup.sh first" >&2; exit 2; }
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
RATE=${RATE:-50000}
CG_QUERIES=${CG_QUERIES:-20000}
TCP_CONNS=${TCP_CONNS:-8}
TCP_PERCONN=${TCP_PERCONN:-1000}
SKIP_CALLGRIND=${SKIP_CALLGRIND:-0}
SKIP_ZONELOAD=${SKIP_ZONELOAD:-0}
PEERS=${PEERS-gdnsd nsd knot}
MERIDIAND=$build/meridiand
LOADGEN=$build/tests/bench/loadgen
ECHO=$build/tests/bench/echo
# Server on core 0, generator on core 1 (the issue's set-up: two cores).
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }
started=$(date +%s)

for p in $PEERS; do
    case $p in gdnsd | nsd | knot) ;; *) echo "bench: unknown peer '$p' (gdnsd nsd knot)" >&2; exit 2 ;; esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (servers, apt-get, callgrind)" >&2; exit 2; }
[ -x "$MERIDIAND" ] || { echo "bench: no $MERIDIAND: run scripts/setup.sh first" >&2; exit 2; }
if [ "$(nproc)" -lt 2 ]; then
    say "bench: warning: $(nproc) CPU: server and generator will share it"
    CLIENT_CPU=$SERVER_CPU
fi

# ------------------------------------------------------------ dependencies
need=(dnsutils python3 procps util-linux iproute2 time libmaxmind-db-writer-perl)
[ "$SKIP_CALLGRIND" = 1 ] || need+=(valgrind)
for p in $PEERS; do
    case $p in
    gdnsd) need+=(gdnsd) ;;
    nsd) need+=(nsd) ;;
    knot) need+=(knot knot-module-geoip) ;;
    esac
done
missing=()
for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    say "bench: installing ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >/dev/null
fi
for unit in gdnsd nsd knot; do # packages start system copies on port 53
    if pgrep -x "${unit/knot/knotd}" >/dev/null && command -v systemctl >/dev/null &&
        systemctl is-active --quiet "$unit" 2>/dev/null; then
        say "bench: note: the system $unit service is running (it is idle, but shares the CPUs)"
    fi
done
work=$(mktemp -d /tmp/meridian-bench.XXXXXX)
say "bench: work directory $work"
if ! make -s -C "$build" tests/bench/loadgen tests/bench/echo >"$work/make.log" 2>&1; then
    tail -20 "$work/make.log" >&2
    die "could not build tests/bench/loadgen and tests/bench/echo in $build"
fi

# ------------------------------------------------------------ processes
SERVERS=() # every pid started, stopped on exit
tree_pids() { # PID: the pid and all its descendants
    local all=("$1") i=0 c
    while ((i < ${#all[@]})); do
        for c in $(ps -o pid= --ppid "${all[i]}" 2>/dev/null); do all+=("$c"); done
        i=$((i + 1))
    done
    echo "${all[@]}"
}
start_time() { # PID: its start time (field 22 of /proc/PID/stat), or nothing
    local s f
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    read -r -a f <<<"${s##*) }"
    echo "${f[19]}"
}
stop_pid() { # PID: TERM, then KILL what is left of its tree after 10 s
    local pid=$1 i p t tree=()
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    # remember each process with its start time, so that a pid the system
    # has given to someone else since is left alone
    for p in $(tree_pids "$pid"); do tree+=("$p:$(start_time "$p")"); done
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    for t in "${tree[@]}"; do
        p=${t%%:*}
        [ "$(start_time "$p")" != "${t#*:}" ] || kill -KILL "$p" 2>/dev/null || true
    done
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${SERVERS[@]}"; do stop_pid "$pid"; done
    if [ "${KEEP:-0}" != 1 ] && [ -d "$work" ]; then
        # keep the results and the logs, drop the bulk
        find "$work" -type f \( -name '*.mmdb' -o -name 'nets1m.txt' -o -name 'cg.*' \
            -o -name 'q-*.txt' -o -name '*.zone' -o -name 'example.com' \) -delete 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 "$here/mkworld.py" "$top/geoip/countries.csv" "$work"
# The geo mix over only 200 of its (IPv4) networks: what the same queries
# cost when the GeoIP data they touch stays in the caches.
awk '!/:/ && n < 200 {print; n++}' "$work/q-geo.txt" >"$work/q-geo200.txt"
"$top/geoip/csv2mmdb" --database-type GeoIP2-Country "$work/geo.csv" "$work/geo.mmdb" \
    >"$work/csv2mmdb.log" 2>&1 || die "csv2mmdb failed: $(tail -3 "$work/csv2mmdb.log")"

# ------------------------------------------------------------ servers
port_free() { [ -z "$(ss -Hlnut "( sport = :$1 )" 2>/dev/null)" ]; }
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 12000))
        port_free "$p" && { echo "$p"; return; }
    done
}
fill() { # TEMPLATE DIR PORT WORKERS -> stdout
    sed -e "s|%PORT%|$3|g; s|%DIR%|$2|g; s|%WORKERS%|$4|g" \
        -e "s|%COUNTRIES%|$top/geoip/countries.csv|g" "$1"
}
# setup_SERVER DIR PORT WORKERS writes the configuration into DIR;
# cmd_SERVER DIR prints the foreground command.
setup_meridian() {
    cp "$work/example.com.zone" "$work/geo.mmdb" "$1/"
    fill "$here/peers/meridian.yaml.in" "$@" >"$1/meridian.yaml"
}
cmd_meridian() { echo "$MERIDIAND -c $1/meridian.yaml"; }
setup_gdnsd() {
    mkdir -p "$1/zones"
    cp "$work/geo.mmdb" "$1/"
    { cat "$work/example.com.zone"; echo "geo DYNA geoip!geo"; } >"$1/zones/example.com"
    fill "$here/peers/gdnsd.config.in" "$@" >"$1/config"
}
cmd_gdnsd() { echo "gdnsd -c $1 start"; }
setup_nsd() {
    { cat "$work/example.com.zone"; echo "geo A 198.51.100.10"; } >"$1/example.com.zone"
    fill "$here/peers/nsd.conf.in" "$@" >"$1/nsd.conf"
}
cmd_nsd() { echo "nsd -d -c $1/nsd.conf"; }
setup_knot() {
    mkdir -p "$1/db"
    cp "$work/geo.mmdb" "$here/peers/knot-geo.yaml" "$1/"
    # Clients on continents without a geo view get the zone's record.
    { cat "$work/example.com.zone"; echo "geo A 198.51.100.10"; } >"$1/example.com.zone"
    fill "$here/peers/knot.conf.in" "$@" >"$1/knot.conf"
}
cmd_knot() { echo "knotd -c $1/knot.conf"; }

# start_server NAME WORKERS [WRAPPER...]: starts NAME in the foreground
# under WRAPPER (taskset, valgrind), waits until it answers. Sets SRV_PID,
# SRV_PORT, SRV_DIR.
srv_n=0
start_server() {
    local name=$1 workers=$2 i
    shift 2
    srv_n=$((srv_n + 1))
    SRV_DIR=$work/run/$srv_n-$name
    SRV_PORT=$(free_port)
    mkdir -p "$SRV_DIR"
    "setup_$name" "$SRV_DIR" "$SRV_PORT" "$workers"
    # shellcheck disable=SC2046 # the command is a word list
    "$@" $("cmd_$name" "$SRV_DIR") >"$SRV_DIR/log" 2>&1 &
    SRV_PID=$!
    SERVERS+=("$SRV_PID")
    for i in $(seq 600); do
        if ! kill -0 "$SRV_PID" 2>/dev/null; then
            tail -20 "$SRV_DIR/log" >&2
            die "$name did not start (log: $SRV_DIR/log)"
        fi
        if [ "$(dig @127.0.0.1 -p "$SRV_PORT" +time=1 +tries=1 +norec +short \
            www.example.com A 2>/dev/null)" = 192.0.2.80 ]; then
            return 0
        fi
        sleep 0.2
    done
    die "$name is not answering on 127.0.0.1:$SRV_PORT after 2 minutes (log: $SRV_DIR/log)"
}
stop_server() { stop_pid "$SRV_PID"; }

# ------------------------------------------------------------ the mixes
has_geo() { [ "$1" != nsd ]; }
mixes_of() { if has_geo "$1"; then echo static geo nx tcp; else echo static nx tcp; fi; }
mix_args() { # MIX -> loadgen arguments
    case $1 in
    static) echo "-f $work/q-static.txt" ;;
    geo) echo "-f $work/q-geo.txt" ;;
    geo200) echo "-f $work/q-geo200.txt" ;;
    nx) echo "-f $work/q-nx.txt" ;;
    tcp) echo "-f $work/q-static.txt -T -c $TCP_CONNS -p $TCP_PERCONN" ;;
    esac
}

# lg PORT CPU ARGS...: runs the generator (on CPU, or anywhere if CPU is
# "-"), parses its key=value line into LG[...]; LG_LINE keeps the line.
declare -A LG
lg() {
    local port=$1 cpu=$2 kv
    shift 2
    local pin=()
    [ "$cpu" = - ] || pin=(taskset -c "$cpu")
    LG=()
    LG_LINE=$("${pin[@]}" "$LOADGEN" -s "127.0.0.1:$port" -v "$@" 2>"$work/loadgen.err") ||
        die "loadgen failed: $LOADGEN -s 127.0.0.1:$port -v $* ($(tail -1 "$work/loadgen.err"))"
    for kv in $LG_LINE; do LG[${kv%%=*}]=${kv#*=}; done
    [ -n "${LG[answered]:-}" ] || die "loadgen printed no answered= field: $LG_LINE"
}
# check_run SERVER MIX: every answer of the run was right for the mix.
check_run() {
    local server=$1 mix=$2 bad=
    local ans=${LG[answered]} want
    [ "$ans" -gt 0 ] || bad="no answers"
    [ "${LG[wrong]:-0}" -eq 0 ] || bad+=" ${LG[wrong]} answers with a wrong ID or question;"
    case $mix in
    nx) want=${LG[nxdomain]:-0} ;;
    *)
        want=${LG[noerror]:-0}
        [ "${LG[empty_noerror]:-0}" -eq 0 ] || bad+=" ${LG[empty_noerror]} NOERROR answers without records;"
        ;;
    esac
    [ "$want" -eq "$ans" ] || bad+=" only $want of $ans answers had rcode $([ "$mix" = nx ] &&
        echo NXDOMAIN || echo NOERROR);"
    [ "${LG[tc]:-0}" -eq 0 ] || bad+=" ${LG[tc]} truncated;"
    [ -z "$bad" ] || die "FAIL $server $mix:$bad (loadgen: $LG_LINE)"
}

# ------------------------------------------------------------ correctness
# dig_short PORT ARGS...: the answer's records, sorted, space separated.
dig_short() {
    local port=$1
    shift
    dig @127.0.0.1 -p "$port" +norec +nocookie +time=2 +tries=2 +short "$@" 2>&1 | sort | xargs
}
# geo_sample: "subnet continent address" lines, 5 IPv4 networks of each
# continent in the data and 2 IPv6 networks of EU, NA and AS, for dig.
awk -F'\t' '
    $1 !~ /:/ && n4[$2]++ < 5 { print $1, $2, $4 }
    $1 ~ /:/ && ($2 == "EU" || $2 == "NA" || $2 == "AS") && n6[$2]++ < 2 { print $1, $2, $4 }
' "$work/expect.tsv" >"$work/geo-sample.txt"
# answers_match NAME MIX EXPECT KEYFIELD: loadgen -o lines (query, rcode,
# answer count, first address) against EXPECT ("key<TAB>...<TAB>address",
# address last); KEYFIELD is the word of the query line that is the key.
answers_match() {
    local name=$1 mix=$2 expect=$3 field=$4 bad
    bad=$(awk -F'\t' -v f="$field" '
        NR == FNR { want[$1] = $NF; next }
        { split($1, w, " "); k = w[f] }
        !(k in want) || $2 != "NOERROR" || $3 != 1 || $4 != want[k] {
            if (n++ < 3) printf "%s answered %s %s %s, expected %s; ", $1, $2, $3, $4, want[k] }
        END { if (n) printf "(%d wrong of %d)", n, FNR }' "$expect" "$work/answers.txt")
    [ -z "$bad" ] || die "FAIL $name $mix: $bad"
}
# verify_server NAME PORT: before any timing, dig a sample (static names
# over UDP and TCP, NXDOMAIN with the SOA, 33 geo networks on every
# continent), then have loadgen ask every distinct query of the static and
# geo mixes once and compare every answer with what it must be.
verify_server() {
    local name=$1 port=$2 host addr got subnet continent n='' out
    while read -r host addr; do
        got=$(dig_short "$port" "$host" A)
        [ "$got" = "$addr" ] || die "FAIL $name static: $host A answered '$got', expected $addr"
        got=$(dig_short "$port" +tcp "$host" A)
        [ "$got" = "$addr" ] || die "FAIL $name tcp: $host A over TCP answered '$got', expected $addr"
    done < <(awk 'NR == 1 || NR % 97 == 0' "$work/hosts.tsv")
    out=$(dig @127.0.0.1 -p "$port" +norec +nocookie +time=2 +tries=2 nothere.example.com A 2>&1)
    if ! grep -q 'status: NXDOMAIN' <<<"$out" ||
        ! grep -Eq '^example\.com\.[[:space:]].*SOA' <<<"$out"; then
        die "FAIL $name nx: nothere.example.com A is not NXDOMAIN with the SOA:" \
            "$(grep -Eo 'status: [A-Z]+' <<<"$out" || echo 'no answer')," \
            "$(grep -Ec '^example\.com\.[[:space:]].*SOA' <<<"$out") SOA," \
            "answer: $(dig_short "$port" nothere.example.com A)"
    fi
    if has_geo "$name"; then
        while read -r subnet continent addr; do
            got=$(dig_short "$port" geo.example.com A "+subnet=$subnet")
            [ "$got" = "$addr" ] || die "FAIL $name geo: ECS $subnet ($continent) answered '$got'," \
                "expected $addr"
            n=$((n + 1))
        done <"$work/geo-sample.txt"
    fi
    lg "$port" - -n 20000 -q 32 -t 3000 -w 0 -f "$work/q-static.txt" -o "$work/answers.txt"
    answers_match "$name" static "$work/hosts.tsv" 1
    lg "$port" - -n 20000 -q 32 -t 3000 -w 0 -T -f "$work/q-static.txt" -o "$work/answers.txt"
    answers_match "$name" tcp "$work/hosts.tsv" 1
    if has_geo "$name"; then
        lg "$port" - -n "$(grep -c . "$work/q-geo.txt")" -q 32 -t 3000 -w 0 \
            -f "$work/q-geo.txt" -o "$work/answers.txt"
        answers_match "$name" geo "$work/expect.tsv" 3
    fi
    lg "$port" - -n 20000 -q 32 -t 3000 -w 0 -f "$work/q-nx.txt"
    check_run "$name" nx
    say "bench: $name answers correctly: dig sample (static, TCP, NXDOMAIN${n:+, $n geo networks})," \
        "every static name$(has_geo "$name" && echo ", every geo network")"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1}
    END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
cpu_ticks() { # PID: utime + stime of the pid and its descendants, in clock ticks
    local t=0 p s f
    for p in $(tree_pids "$1"); do
        s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        read -r -a f <<<"${s##*) }" # fields from the 3rd (state) on
        t=$((t + f[11] + f[12]))    # utime (14th) and stime (15th)
    done
    echo "$t"
}
HZ=$(getconf CLK_TCK)

# ------------------------------------------------------------ versions
read -r -a servers <<<"meridian $PEERS"
{
    echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
        "kernel $(uname -r), Debian $(cat /etc/debian_version 2>/dev/null || echo '?')"
    echo "meridian: $("$MERIDIAND" --version 2>&1 | head -1 | sed "s/^meridiand //") ($(git -C "$top" describe --always --dirty 2>/dev/null || echo 'no git'))"
    for p in $PEERS; do
        case $p in
        gdnsd) dpkg-query -W -f='gdnsd: ${Version}\n' gdnsd ;;
        nsd) dpkg-query -W -f='nsd: ${Version}\n' nsd ;;
        knot) dpkg-query -W -f='knot: ${Version}, knot-module-geoip ${Version}\n' knot ;;
        esac
    done
    [ "$SKIP_CALLGRIND" = 1 ] || dpkg-query -W -f='valgrind: ${Version}\n' valgrind
    echo "runs: $RUNS x ${SECONDS_PER_RUN}s; server on CPU $SERVER_CPU, loadgen on CPU $CLIENT_CPU;" \
        "CPU cost at $RATE q/s; $(grep -c . "$work/q-geo.txt") geo client networks"
} | tee "$work/versions.txt"

# ------------------------------------------------------------ measurements
declare -A QPS RUNQ LOSS CPU INSTR ECHOQ
# Throughput at saturation (closed loop, generator default in-flight): one
# run, added to the runs of SERVER/MIX[TAG].
declare -A SENT LOST
saturate_once() { # SERVER MIX PORT CPU [TAG]
    local server=$1 mix=$2 port=$3 cpu=$4 key=$1/$2${5:-}
    # shellcheck disable=SC2046,SC2086 # argument lists
    lg "$port" "$cpu" -d "$SECONDS_PER_RUN" ${SAT_EXTRA:-} $(mix_args "$mix")
    [ "$server" = echo ] || check_run "$server" "$mix"
    RUNQ[$key]="${RUNQ[$key]:-} ${LG[qps]%.*}"
    SENT[$key]=$((${SENT[$key]:-0} + LG[sent]))
    LOST[$key]=$((${LOST[$key]:-0} + LG[lost]))
}
# The median and loss of the runs of SERVER/MIX[TAG].
saturate_done() { # SERVER MIX [TAG]
    local key=$1/$2${3:-}
    RUNQ[$key]=${RUNQ[$key]# }
    QPS[$key]=$(echo "${RUNQ[$key]}" | median)
    LOSS[$key]=$(awk -v l="${LOST[$key]}" -v s="${SENT[$key]}" \
        'BEGIN {printf "%.2f", s ? 100 * l / s : 0}')
    say "bench: $1 $2${3:+ (${3#/})}: ${QPS[$key]} q/s (runs ${RUNQ[$key]}; loss ${LOSS[$key]}%)"
}
# CPU seconds per million queries at a fixed offered rate.
cpu_cost() { # SERVER MIX PORT PID
    local server=$1 mix=$2 port=$3 pid=$4 before after
    before=$(cpu_ticks "$pid")
    # shellcheck disable=SC2046
    lg "$port" "$CLIENT_CPU" -r "$RATE" -w 0 -d "$SECONDS_PER_RUN" $(mix_args "$mix")
    after=$(cpu_ticks "$pid")
    check_run "$server" "$mix"
    CPU[$server/$mix]=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="${LG[answered]}" \
        'BEGIN {printf "%.2f", t / hz / n * 1e6}')
    # A server that could not keep up with the offered rate is marked.
    if [ $((LG[answered] * 100)) -lt $((RATE * SECONDS_PER_RUN * 99)) ]; then
        CPU[$server/$mix]+="*"
    fi
    say "bench: $server $mix at $RATE q/s: ${CPU[$server/$mix]} CPU s per 1M queries" \
        "(${LG[answered]} answered, $((after - before)) ticks)"
}

# 0. Every server's answers, checked before anything is timed.
for server in "${servers[@]}"; do
    start_server "$server" 1
    verify_server "$server" "$SRV_PORT"
    stop_server
done

# 1. Saturation throughput of the echo ceiling (the generator and the
#    kernel with a server that does nothing but flip QR) and of every
#    server, all started at once on the server's core and measured in
#    turn, run after run, so that each sees the same moods of a shared
#    machine; then CPU cost at a fixed rate (the rcodes of every run are
#    checked too).
port=$(free_port)
taskset -c "$SERVER_CPU" "$ECHO" -l "127.0.0.1:$port" -w 1 >"$work/echo.log" 2>&1 &
echo_pid=$!
SERVERS+=("$echo_pid")
sleep 0.5
kill -0 "$echo_pid" 2>/dev/null || die "echo did not start: $(cat "$work/echo.log")"
declare -A PORT PID
for server in "${servers[@]}"; do
    start_server "$server" 1 taskset -c "$SERVER_CPU"
    PORT[$server]=$SRV_PORT
    PID[$server]=$SRV_PID
done
for i in $(seq "$RUNS"); do
    for mix in static geo nx tcp; do
        [ "$mix" = tcp ] || saturate_once echo "$mix" "$port" "$CLIENT_CPU"
        for server in "${servers[@]}"; do
            [[ " $(mixes_of "$server") " == *" $mix "* ]] || continue
            saturate_once "$server" "$mix" "${PORT[$server]}" "$CLIENT_CPU"
        done
        if [ "$mix" = geo ]; then
            saturate_once meridian geo200 "${PORT[meridian]}" "$CLIENT_CPU"
        fi
    done
done
saturate_done meridian geo200
# paired with the echo runs of the geo mix, which ran in the same turns
RUNQ[echo/geo200]=${RUNQ[echo/geo]}
for mix in static geo nx; do
    saturate_done echo "$mix"
    ECHOQ[$mix]=${QPS[echo/$mix]}
done
for server in "${servers[@]}"; do
    for mix in $(mixes_of "$server"); do saturate_done "$server" "$mix"; done
done
stop_pid "$echo_pid"
for server in "${servers[@]}"; do
    for mix in $(mixes_of "$server"); do
        cpu_cost "$server" "$mix" "${PORT[$server]}" "${PID[$server]}"
    done
    stop_pid "${PID[$server]}"
done

# 3. User-space instructions per query under callgrind: warm up, zero the
#    counters of every process of the server, send CG_QUERIES queries at a
#    low in-flight count, dump, sum the dumps' totals.
callgrind_cost() { # SERVER
    local server=$1 mix pids p before new total
    start_server "$server" 1 valgrind --tool=callgrind --trace-children=yes \
        --callgrind-out-file="$work/run/cg.$server.%p"
    for mix in $(mixes_of "$server"); do
        # shellcheck disable=SC2046
        lg "$SRV_PORT" - -n 2000 -q 16 -t 5000 -w 0 $(mix_args "$mix")
        pids=$(tree_pids "$SRV_PID")
        for p in $pids; do callgrind_control -z "$p" >/dev/null 2>&1 || true; done
        # shellcheck disable=SC2046
        lg "$SRV_PORT" - -n "$CG_QUERIES" -q 16 -t 5000 -w 0 $(mix_args "$mix")
        check_run "$server" "$mix"
        before=$(find "$work/run" -maxdepth 1 -name "cg.$server.*" | sort)
        for p in $pids; do callgrind_control -d "$p" >/dev/null 2>&1 || true; done
        new=$(comm -13 <(echo "$before") <(find "$work/run" -maxdepth 1 -name "cg.$server.*" | sort))
        [ -n "$new" ] || die "callgrind wrote no dump for $server (pids $pids)"
        # shellcheck disable=SC2086
        total=$(awk '/^summary:/ {s += $2} END {print s + 0}' $new)
        INSTR[$server/$mix]=$((total / LG[answered]))
        say "bench: $server $mix: ${INSTR[$server/$mix]} instructions/query (callgrind)"
    done
    stop_server
}
if [ "$SKIP_CALLGRIND" != 1 ]; then
    for server in "${servers[@]}"; do callgrind_cost "$server"; done
fi

# 4. Two workers, nothing pinned: Meridian and gdnsd configured alike.
two_workers=(meridian)
[[ " $PEERS " == *" gdnsd "* ]] && two_workers+=(gdnsd)
for server in "${two_workers[@]}"; do
    start_server "$server" 2
    PORT[$server]=$SRV_PORT
    PID[$server]=$SRV_PID
done
# 16 source ports, so SO_REUSEPORT's hash spreads them over both workers;
# the servers take turns, run after run
for i in $(seq "$RUNS"); do
    for mix in static geo; do
        for server in "${two_workers[@]}"; do
            SAT_EXTRA="-S 16" saturate_once "$server" "$mix" "${PORT[$server]}" - /2w
        done
    done
done
for server in "${two_workers[@]}"; do
    for mix in static geo; do saturate_done "$server" "$mix" /2w; done
    stop_pid "${PID[$server]}"
done

# ------------------------------------------------------------ the table
ratio() { # A B -> A/B with two decimals, or "-"
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-" }'
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN {
        if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.1f", 100 * a / b; else print "-" }'; }
# paired_pct SERVER MIX: the median, over the turns, of the server's run as
# a share of the echo run of the same turn (they ran seconds apart, so a
# slow minute of the shared machine falls on both).
paired_pct() {
    local -a runs echoes
    read -r -a runs <<<"${RUNQ[$1/$2]:-}"
    read -r -a echoes <<<"${RUNQ[echo/$2]:-}"
    [ "${#runs[@]}" -gt 0 ] && [ "${#runs[@]}" -eq "${#echoes[@]}" ] || { echo -; return; }
    local i r=""
    for i in "${!runs[@]}"; do r+=" $(pct "${runs[$i]}" "${echoes[$i]}")"; done
    echo "$r" | median
}
tsv=$work/results.tsv
printf 'server\tmix\tworkers\tqps_median\tqps_runs\tloss_pct\techo_qps\techo_pct\tcpu_s_per_1M\tinstr_per_query\tmeridian_qps_ratio\tmeridian_cpu_ratio\tmeridian_instr_ratio\n' >"$tsv"
fmt='%-9s %-7s %11s %6s %7s %11s %9s   %6s %6s %6s\n'
{
    echo
    echo "Meridian vs peers: one worker on CPU $SERVER_CPU, loadgen on CPU $CLIENT_CPU," \
        "median of $RUNS x ${SECONDS_PER_RUN}s"
    # shellcheck disable=SC2059 # the format is ours
    printf '%-9s %-7s %11s %6s %7s %11s %9s   %s\n' "" "" "" "" "% of" "CPU s/1M q" "instr/" \
        "Meridian's advantage"
    # shellcheck disable=SC2059
    printf "$fmt" server mix "q/s" "loss%" echo "@${RATE}q/s" query "q/s" CPU instr
    for mix in static geo nx tcp; do
        for server in "${servers[@]}"; do
            key=$server/$mix
            if [ "$mix" = geo ] && ! has_geo "$server"; then
                # shellcheck disable=SC2059
                printf "$fmt" "$server" "$mix" n/a - - - - - - -
                printf '%s\t%s\t1\tn/a\t\t\t\t\t\t\t\t\t\n' "$server" "$mix" >>"$tsv"
                continue
            fi
            q=${QPS[$key]:--} c=${CPU[$key]:--} n=${INSTR[$key]:--} e=${ECHOQ[$mix]:-}
            ep=$(paired_pct "$server" "$mix")
            rq=$(ratio "${QPS[meridian/$mix]:-}" "$q")
            mc=${CPU[meridian/$mix]:-}
            rc=$(ratio "${c%\*}" "${mc%\*}")
            ri=$(ratio "$n" "${INSTR[meridian/$mix]:-}")
            # shellcheck disable=SC2059
            printf "$fmt" "$server" "$mix" "$q" "${LOSS[$key]:--}" "$ep" "$c" "$n" "$rq" "$rc" "$ri"
            printf '%s\t%s\t1\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$mix" "$q" \
                "${RUNQ[$key]:-}" "${LOSS[$key]:-}" "${e:-}" "$ep" "$c" "$n" "$rq" "$rc" "$ri" >>"$tsv"
        done
    done
    echo "echo ceiling (q/s): static ${ECHOQ[static]}, geo ${ECHOQ[geo]}, nx ${ECHOQ[nx]}" \
        "(UDP only: the TCP mix has no echo ceiling)"
    echo "meridian geo over 200 of the networks: ${QPS[meridian/geo200]} q/s" \
        "($(paired_pct meridian geo200)% of echo; the GeoIP data it reads stays in the caches)"
    if [[ "${CPU[*]}" == *"*"* ]]; then
        echo "* the server answered less than 99% of the $RATE q/s offered in the CPU-cost run"
    fi
    echo
    echo "Two workers, server and loadgen unpinned, median of $RUNS x ${SECONDS_PER_RUN}s"
    printf '%-9s %-7s %11s %6s   %s\n' server mix "q/s" "loss%" "Meridian's q/s advantage"
    for mix in static geo; do
        for server in "${two_workers[@]}"; do
            key=$server/$mix/2w
            rq=$(ratio "${QPS[meridian/$mix/2w]:-}" "${QPS[$key]}")
            printf '%-9s %-7s %11s %6s   %s\n' "$server" "$mix" "${QPS[$key]}" "${LOSS[$key]}" "$rq"
            printf '%s\t%s\t2\t%s\t%s\t%s\t\t\t\t\t%s\t\t\n' "$server" "$mix" "${QPS[$key]}" \
                "${RUNQ[$key]}" "${LOSS[$key]}" "$rq" >>"$tsv"
        done
    done
} | tee "$work/table.txt"

# ------------------------------------------------------------ loading
status=0
if [ "$SKIP_ZONELOAD" != 1 ]; then
    echo
    if [ -x "$here/zoneload.sh" ]; then
        echo "Zone load (tests/bench/zoneload.sh):"
        PEERS="$PEERS" "$here/zoneload.sh" "$build" | tee "$work/zoneload.txt" ||
            { say "bench: FAIL tests/bench/zoneload.sh exited $?"; status=1; }
    else
        echo "(no tests/bench/zoneload.sh: zone load not measured)"
    fi
    # A networks_file of 1,000,000 overrides (950,000 IPv4 /24s and 50,000
    # IPv6 /48s): how long `meridiand --check` takes with and without it.
    python3 "$here/mkworld.py" --nets-only --nets1m 1000000 "$top/geoip/countries.csv" "$work"
    nets_conf() { # CONFIG [NETWORKS_FILE]
        fill "$here/peers/meridian.yaml.in" "$work" 53 1 >"$1"
        [ -z "${2:-}" ] || sed -i "s|^    policy: map|    policy: map\n    networks_file: $2|" "$1"
    }
    nets_conf "$work/nets0.yaml"
    nets_conf "$work/nets1m.yaml" "$work/nets1m.txt"
    check_time() { # CONFIG -> CT_S seconds, CT_KB peak RSS
        /usr/bin/time -f '%e %M' -o "$work/time.out" "$MERIDIAND" -c "$1" --check >/dev/null \
            2>"$work/check.err" || die "FAIL meridiand --check $1: $(head -3 "$work/check.err")"
        read -r CT_S CT_KB <"$work/time.out"
    }
    check_time "$work/nets0.yaml"
    t0=$CT_S m0=$CT_KB
    check_time "$work/nets1m.yaml"
    t1=$CT_S m1=$CT_KB
    # and the file is really used: its last network routes as it says
    read -r net dcs < <(tail -1 "$work/nets1m.txt")
    got=$("$MERIDIAND" -c "$work/nets1m.yaml" --explain geo.example.com "$net" 2>&1 |
        awk '/^order:/ {$1 = ""; print substr($0, 2)}')
    [ "$got" = "$dcs" ] || die "FAIL networks_file: $net routes to '$got', the file says '$dcs'"
    echo "networks_file of 1,000,000 CIDRs: meridiand --check ${t1}s, max RSS $((m1 / 1024)) MB" \
        "(without it: ${t0}s, $((m0 / 1024)) MB)" | tee -a "$work/table.txt"
    printf 'what\tseconds\tmax_rss_kb\nmeridiand --check, networks_file of 1000000 CIDRs\t%s\t%s\nmeridiand --check, same config without it\t%s\t%s\n' \
        "$t1" "$m1" "$t0" "$m0" >"$work/networks_file.tsv"
fi

echo
echo "results: $tsv (table: $work/table.txt; versions: $work/versions.txt$([ -f "$work/networks_file.tsv" ] && echo "; networks_file: $work/networks_file.tsv"))"
echo "bench: done in $(($(date +%s) - started))s"
exit "$status"
