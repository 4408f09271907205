#!/usr/bin/env bash
# zoneload.sh: how fast a 1,000,000-record zone loads, and in how much
# memory, in meridiand, NSD and Knot; and whether answers pause while
# meridiand reloads it. Not part of `make check`: run it by hand after
# scripts/setup.sh,
#   tests/bench/zoneload.sh [BUILD_DIR]
# It installs nsd and knot from Debian when missing (and builds the load
# generator, make tests/bench/loadgen, when the tree has it).
#
# One zone file, generated here, serves all three servers: mostly A and
# AAAA records for distinct names, some CNAME, MX and TXT, and a few
# hundred delegations with glue. For each server, median of RUNS runs:
#   load s   wall time from starting the server until it answers a query
#            for the zone's last name (dig polls every 20 ms);
#   RSS MB   peak resident memory (VmHWM in /proc/PID/status) once it
#            answers. NSD forks: the main process loads the zone and forks
#            the server process, and an xfrd process runs beside them; the
#            children share the zone with the main process copy-on-write,
#            so NSD's figure is the main process's VmHWM plus the private
#            memory (Private_Clean + Private_Dirty, smaps_rollup) of the
#            others, each shared page counted once. NSD runs with no
#            database file (database: "") and zonefiles-write: 0; Knot
#            with no journal (journal-content: none) and zonefile-sync: -1,
#            so that neither writes anything while loading.
# Then meridiand alone, pinned to CPU 0 with one UDP worker, answers a
# steady stream of UDP queries from CPU 1 (RELOAD_QPS per second, below
# what it can answer, so that the reload has idle time to use) in
# GAP_RUNS pairs of GAP_WINDOW-second windows: a quiet one, then one in
# which it is sent SIGHUP (half a second in; the next pair waits for that
# reload to end). A window's "max gap" is the longest time the generator
# waited for any answer while queries were outstanding (loadgen -g); the
# median and the maximum over the reload windows are compared with those
# over the quiet ones. On a shared 2-CPU machine one window in several
# can show a gap from another process alone, which is why one window
# proves little: the report also says how much of CPU 0 other processes used
# meanwhile (each window's gap goes to stderr). Gaps like the quiet ones mean
# the reload costs nothing visible. PORTS=LOW-HIGH: the loopback ports to use.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
RUNS=${RUNS:-3}
RECORDS=${RECORDS:-1000000}
RELOAD_QPS=${RELOAD_QPS:-30000}
GAP_RUNS=${GAP_RUNS:-8}
GAP_WINDOW=${GAP_WINDOW:-3}
PORTS=${PORTS:-20000-31999}
MERIDIAND=$build/meridiand
[ -x "$MERIDIAND" ] || { echo "no $MERIDIAND: run scripts/setup.sh first" >&2; exit 2; }
need=()
command -v nsd >/dev/null || [ -x /usr/sbin/nsd ] || need+=(nsd)
command -v knotd >/dev/null || [ -x /usr/sbin/knotd ] || need+=(knot)
command -v dig >/dev/null || need+=(bind9-dnsutils)
command -v bc >/dev/null || need+=(bc)
if [ ${#need[@]} -gt 0 ]; then
    apt-get install -y -q "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"
LOADGEN=$build/tests/bench/loadgen
if [ ! -x "$LOADGEN" ] && [ -f "$top/tests/bench/loadgen.c" ]; then
    make -C "$build" tests/bench/loadgen >/dev/null 2>&1 || true
fi

work=$(mktemp -d /tmp/meridian-zoneload.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT

# ---------------------------------------------------------------- the zone
python3 - "$work/bench.test.zone" "$RECORDS" <<'PY'
import sys
path, total = sys.argv[1], int(sys.argv[2])
with open(path, "w") as o:
    w = o.write
    w("$ORIGIN bench.test.\n$TTL 3600\n")
    w("@ SOA ns1 hostmaster 2024010101 7200 3600 1209600 300\n")
    w("@ NS ns1\n@ NS ns2\nns1 A 192.0.2.1\nns2 A 192.0.2.2\n")
    w("@ MX 10 mail\nmail A 192.0.2.25\n")
    n, i = 7, 0
    while n < total - 1:
        k, name = i % 100, "h%d" % i
        a = "10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)
        if k < 60:
            w("%s A %s\n" % (name, a)); n += 1
        elif k < 80:
            w("%s AAAA 2001:db8:%x:%x::1\n" % (name, (i >> 16) & 0xffff, i & 0xffff)); n += 1
        elif k < 85:
            w("%s A %s\n%s AAAA 2001:db8::%x\n" % (name, a, name, i & 0xffff)); n += 2
        elif k < 92:
            w("%s CNAME h%d\n" % (name, i - 1 - i % 7)); n += 1
        elif k < 95:
            w("%s MX 10 mail\n%s MX 20 h%d\n" % (name, name, i - 5)); n += 2
        elif k < 99:
            w('%s TXT "v=spf1 ip4:10.%d.%d.0/24 -all"\n' % (name, (i >> 8) & 255, i & 255))
            n += 1
        else:
            w("sub%d NS ns.sub%d\nns.sub%d A 10.200.%d.%d\n" % (i, i, i, (i >> 8) & 255, i & 255))
            n += 2
        i += 1
    w("last A 192.0.2.254\n")
with open(path.replace("bench.test.zone", "queries.txt"), "w") as q:
    for j in range(0, i, 97):
        q.write("h%d.bench.test A\n" % j)
    q.write("last.bench.test A\n")
PY
zone=$work/bench.test.zone

free_port() { # a loopback UDP/TCP port in PORTS nobody uses
    local p low=${PORTS%-*} high=${PORTS#*-}
    while :; do
        p=$((low + RANDOM % (high - low + 1)))
        ss -Hlnu "sport = :$p" 2>/dev/null | grep -q . && continue
        ss -Hlnt "sport = :$p" 2>/dev/null | grep -q . && continue
        echo "$p"
        return
    done
}

now() { date +%s.%N; }

# Waits (at most 120 s) until 127.0.0.1:$1 answers the zone's last name.
wait_answer() {
    local port=$1 pid=$2
    for _ in $(seq 6000); do
        if dig @127.0.0.1 -p "$port" +time=1 +tries=1 +short last.bench.test A 2>/dev/null |
            grep -q 192.0.2.254; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { echo "server $pid died" >&2; return 1; }
        sleep 0.02
    done
    echo "no answer from port $port after 120 s" >&2
    return 1
}

hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
private_kb() {
    awk '/^Private_(Clean|Dirty)/ {s += $2} END {print s + 0}' "/proc/$1/smaps_rollup"
}
descendants() { # every process below $1
    local c
    for c in $(pgrep -P "$1"); do
        echo "$c"
        descendants "$c"
    done
}

stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    pids=()
}

meridian_conf() { # DIR PORT: one UDP worker, no control socket
    mkdir -p "$1"
    cat >"$1/meridian.yaml" <<YAML
server:
  listen: ["127.0.0.1:$2"]
  control: ""
  allow_root: true
  workers: 1
zones: [$zone]
YAML
}

# started PORT LOG CMD...: starts CMD in the background, its output to LOG,
# and waits until it answers on PORT; sets pid and secs (from start to the
# first answer).
started() {
    local port=$1 log=$2 t0
    shift 2
    t0=$(now)
    "$@" >"$log" 2>&1 &
    pid=$!
    pids=("$pid")
    wait_answer "$port" "$pid"
    secs=$(echo "$(now) - $t0" | bc)
}

# Each prints "SECONDS KB" for one run.
run_meridiand() {
    local port dir=$work/meridian
    port=$(free_port)
    meridian_conf "$dir" "$port"
    local pid secs
    started "$port" "$dir/log" "$MERIDIAND" -c "$dir/meridian.yaml"
    echo "$secs $(hwm_kb "$pid")"
    stop "$pid"
}

run_nsd() {
    local port dir=$work/nsd
    port=$(free_port)
    rm -rf "$dir"
    mkdir -p "$dir"
    cat >"$dir/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1
  port: $port
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonefiles-write: 0
  zonelistfile: "$dir/zone.list"
  xfrdfile: "$dir/xfrd.state"
  xfrdir: "$dir"
  pidfile: "$dir/nsd.pid"
  logfile: "$dir/log"
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: bench.test
  zonefile: "$zone"
CONF
    local pid secs
    started "$port" "$dir/stdout" nsd -d -c "$dir/nsd.conf"
    # The zone is loaded by the process that forks the servers: the one
    # with the largest VmHWM. It counts whole, the others by private pages.
    local p max=0 main=0 kb=0
    for p in "$pid" $(descendants "$pid"); do
        [ -r "/proc/$p/status" ] || continue
        local h
        h=$(hwm_kb "$p")
        if [ "$h" -gt "$max" ]; then max=$h; main=$p; fi
    done
    kb=$max
    for p in "$pid" $(descendants "$pid"); do
        [ "$p" = "$main" ] || [ ! -r "/proc/$p/smaps_rollup" ] || kb=$((kb + $(private_kb "$p")))
    done
    echo "$secs $kb"
    stop "$pid"
}

run_knot() {
    local port dir=$work/knot
    port=$(free_port)
    rm -rf "$dir"
    mkdir -p "$dir/db"
    cat >"$dir/knot.conf" <<CONF
server:
    listen: 127.0.0.1@$port
    rundir: "$dir"
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: "$dir/log"
    any: info
database:
    storage: "$dir/db"
template:
  - id: default
    storage: "$work"
    journal-content: none
    zonefile-sync: -1
    zonefile-load: whole
    semantic-checks: off
zone:
  - domain: bench.test
    file: "$zone"
CONF
    local pid secs
    started "$port" "$dir/stdout" knotd -c "$dir/knot.conf"
    echo "$secs $(hwm_kb "$pid")"
    stop "$pid"
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# The servers take turns, run after run, so that a slow minute of a shared
# machine falls on all of them alike.
declare -A secs mb ts ks
for _ in $(seq "$RUNS"); do
    for server in meridiand nsd knot; do
        read -r t k < <("run_$server")
        ts[$server]+=" $t"
        ks[$server]+=" $k"
    done
done
for server in meridiand nsd knot; do
    secs[$server]=$(printf '%s\n' ${ts[$server]} | median)
    mb[$server]=$(printf '%s\n' ${ks[$server]} | median | awk '{printf "%.0f", $1 / 1024}')
    echo "# $server: load s${ts[$server]}; peak RSS kB${ks[$server]}" >&2
done

# ---------------------------------------------------------------- reload gap
# user, nice and system time: interrupts (here mostly the loopback traffic
# itself) are counted apart from processes, and so left out.
cpu_ticks() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4}' /proc/stat; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }     # the process itself
children_ticks() { awk '{print $16 + $17}' "/proc/$1/stat"; } # its waited-for children
reloads_logged() { grep -c 'reload: [0-9]* zones' "$1" || true; }
window() { # PORT: loadgen's max_gap_ms over one window
    taskset -c 1 "$LOADGEN" -s "127.0.0.1:$1" -f "$work/queries.txt" -d "$GAP_WINDOW" \
        -r "$RELOAD_QPS" -g | sed -n 's/.*max_gap_ms=\([0-9.]*\).*/\1/p'
}
gap_stats() { # median and max of the arguments, "-" standing for none
    printf '%s\n' "$@" | grep -v '^-*$' | sort -n |
        awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)], v[NR]; else print "- -"}'
}
# Prints "RELOAD_MEDIAN RELOAD_MAX QUIET_MEDIAN QUIET_MAX RELOADS OTHER0 OTHER1"
# and, on stderr, every window's gap. OTHERn: the % of CPU n that processes
# other than meridiand (CPU 0) or this function's children, loadgen mostly
# (CPU 1), used meanwhile: another session's load, which gaps may come from.
gap() {
    [ -x "$LOADGEN" ] || { echo "- - - - 0 - -"; return; }
    local port dir=$work/gap pid secs
    port=$(free_port)
    meridian_conf "$dir" "$port"
    started "$port" "$dir/log" taskset -c 0 "$MERIDIAND" -c "$dir/meridian.yaml"
    local quiet=() loaded=() n inside=0 t0 c0 c1 p0 k0 me=$BASHPID _
    t0=$(now) c0=$(cpu_ticks 0) c1=$(cpu_ticks 1)
    p0=$(proc_ticks "$pid") k0=$(children_ticks "$me")
    for _ in $(seq "$GAP_RUNS"); do
        quiet+=("$(window "$port")")
        n=$(reloads_logged "$dir/log")
        (sleep 0.5; kill -HUP "$pid") &
        loaded+=("$(window "$port")")
        wait $! 2>/dev/null || true
        [ "$(reloads_logged "$dir/log")" -gt "$n" ] && inside=$((inside + 1))
        # The next quiet window must not catch this reload's end.
        for _ in $(seq 1200); do
            [ "$(reloads_logged "$dir/log")" -gt "$n" ] && break
            grep -q 'reload failed' "$dir/log" && break
            sleep 0.05
        done
    done
    local other
    other=$(awk -v a="$(($(cpu_ticks 0) - c0 - ($(proc_ticks "$pid") - p0)))" \
        -v b="$(($(cpu_ticks 1) - c1 - ($(children_ticks "$me") - k0)))" \
        -v hz="$(getconf CLK_TCK)" -v s="$(echo "$(now) - $t0" | bc)" \
        'BEGIN {a = a / hz / s * 100; b = b / hz / s * 100
                printf "%.0f %.0f", a < 0 ? 0 : a, b < 0 ? 0 : b}')
    stop "$pid"
    echo "# meridiand max gap ms, reload windows:$(printf ' %s' "${loaded[@]}");" \
        "quiet:$(printf ' %s' "${quiet[@]}")" >&2
    echo "$(gap_stats "${loaded[@]}") $(gap_stats "${quiet[@]}") $inside $other"
}
read -r gap_reload gap_reload_max gap_quiet gap_quiet_max reloads_done other0 other1 < <(gap)

echo "zone: $RECORDS records ($(du -m "$zone" | cut -f1) MB); median of $RUNS runs;" \
    "$(nproc) CPUs"
printf '%-10s %8s %12s %10s %10s\n' server "load s" "peak RSS MB" "s / mrdn" "MB / mrdn"
for server in meridiand nsd knot; do
    printf '%-10s %8.2f %12s %10s %10s\n' "$server" "${secs[$server]}" "${mb[$server]}" \
        "$(awk -v a="${secs[$server]}" -v b="${secs[meridiand]}" 'BEGIN {printf "%.2f", a / b}')" \
        "$(awk -v a="${mb[$server]}" -v b="${mb[meridiand]}" 'BEGIN {printf "%.2f", a / b}')"
done
echo "meridiand max gap, ms, $GAP_RUNS windows of $GAP_WINDOW s each: with a reload median" \
    "$gap_reload, max $gap_reload_max;"
echo "  without median $gap_quiet, max $gap_quiet_max ($RELOAD_QPS queries/s, server on CPU 0," \
    "generator on CPU 1;"
echo "  $reloads_done of $GAP_RUNS reloads done inside their window; other processes used" \
    "${other0}% of CPU 0, ${other1}% of CPU 1)"
