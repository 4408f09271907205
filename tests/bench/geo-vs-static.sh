#!/usr/bin/env bash
# geo-vs-static.sh: queries per second for static and geo answers, measured
# with dnsperf against one meridiand (one UDP worker pinned to CPU 0,
# dnsperf on CPU 1), median of RUNS runs of SECONDS seconds each. Prints a
# table. Not part of `make check`: run it by hand after scripts/setup.sh,
#   tests/bench/geo-vs-static.sh [BUILD_DIR]
# It installs dnsperf from Debian when missing.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
MERIDIAND=$build/meridiand
[ -x "$MERIDIAND" ] || { echo "no $MERIDIAND: run scripts/setup.sh first" >&2; exit 2; }
if ! command -v dnsperf >/dev/null; then
    apt-get install -y -q dnsperf >/dev/null
fi

work=$(mktemp -d /tmp/meridian-bench.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# A database of 10,000 /24 networks spread over three continents, so a
# lookup walks a realistically deep tree.
python3 - "$work/geo.csv" <<'PY'
import random, sys
random.seed(7)
places = [("EU", "GB", "ENG", 51.5, -0.12), ("NA", "US", "CA", 37.4, -122.1),
          ("AS", "SG", "", 1.35, 103.8)]
seen = set()
with open(sys.argv[1], "w") as f:
    f.write("network,continent,country,subdivision,latitude,longitude\n")
    while len(seen) < 10000:
        a, b, c = random.randrange(1, 224), random.randrange(256), random.randrange(256)
        if a in (10, 127) or (a, b, c) in seen:
            continue
        seen.add((a, b, c))
        p = places[len(seen) % 3]
        f.write(f"{a}.{b}.{c}.0/24,{p[0]},{p[1]},{p[2]},{p[3]},{p[4]}\n")
    f.write("81.2.69.0/24,EU,GB,ENG,51.5,-0.12\n")
PY
"$top/geoip/csv2mmdb" "$work/geo.csv" "$work/geo.mmdb" >/dev/null

cat > "$work/example.com.zone" <<'ZONE'
$ORIGIN example.com.
$TTL 300
@    SOA ns1 h 1 7200 3600 1209600 300
     NS  ns1
ns1  A   192.0.2.53
www  A   192.0.2.10
ZONE
port=$((20000 + RANDOM % 10000))
cat > "$work/meridian.yaml" <<YAML
server:
  listen: ["127.0.0.1:$port"]
  control: ""
  allow_root: true
  workers: 1
zones: [example.com.zone]
geoip: {database: geo.mmdb, countries: $top/geoip/countries.csv}
datacenters:
  eu-west: {location: [53.35, -6.26]}
  us-east: {location: [38.95, -77.45]}
  ap-south: {location: [1.29, 103.85]}
services:
  geo.example.com:
    policy: nearest
    pools: {eu-west: [192.0.2.10], us-east: [198.51.100.10], ap-south: [203.0.113.10]}
YAML
taskset -c 0 "$MERIDIAND" -c "$work/meridian.yaml" >"$work/meridiand.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
    dig @127.0.0.1 -p "$port" +time=1 +tries=1 www.example.com >/dev/null 2>&1 && break
    sleep 0.1
done

echo "www.example.com A" > "$work/static.txt"
echo "geo.example.com A" > "$work/geo.txt"
echo "nothere.example.com A" > "$work/nx.txt"
# ECS 81.2.69.0/24: family 1, source 24, scope 0, three address bytes
ecs="8:00011800510245"

# Prints the median queries/s of RUNS dnsperf runs (and the runs on stderr).
median_qps() { # queryfile [extra dnsperf args...]
    local file=$1
    shift
    local results=()
    for _ in $(seq "$RUNS"); do
        local qps
        qps=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l "$SECONDS_PER_RUN" \
            -c 4 -q 500 "$@" 2>/dev/null | awk '/Queries per second/ {printf "%.0f", $4}')
        results+=("${qps:-0}")
    done
    printf '%s\n' "${results[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
    echo "${results[*]}" >&2
}

echo "meridiand $("$MERIDIAND" --version | awk '{print $2}'), 1 UDP worker on CPU 0;" \
    "dnsperf on CPU 1, 4 clients, 500 in flight; median of $RUNS x ${SECONDS_PER_RUN}s"
static=$(median_qps "$work/static.txt" -e 2>"$work/runs")
nx=$(median_qps "$work/nx.txt" -e 2>>"$work/runs")
geo_ecs=$(median_qps "$work/geo.txt" -E "$ecs" 2>>"$work/runs")
geo_src=$(median_qps "$work/geo.txt" -e 2>>"$work/runs")
mapfile -t runs <"$work/runs"
printf '%-34s %10s %8s   %s\n' "mix" "queries/s" "/static" "runs"
row() { printf '%-34s %10s %8s   %s\n' "$1" "$2" "$(awk -v a="$2" -v b="$static" \
    'BEGIN {printf "%.2f", b ? a / b : 0}')" "$3"; }
row "static A" "$static" "${runs[0]}"
row "NXDOMAIN" "$nx" "${runs[1]}"
row "geo A, ECS /24, 10,000 networks" "$geo_ecs" "${runs[2]}"
row "geo A, source 127.0.0.1 (no ECS)" "$geo_src" "${runs[3]}"
