#!/usr/bin/env bash
# qcost.sh: user-space instructions per query of the answer path, counted
# by callgrind as the difference between 11,000 and 1,000 queries (so
# loading is not counted). Deterministic, unlike timings on a shared box.
#   tests/bench/qcost.sh [BUILD_DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
make -s -C "$build" tests/bench/qcost
command -v valgrind >/dev/null || apt-get install -y -q valgrind >/dev/null
work=$(mktemp -d /tmp/meridian-qcost.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$top/zones/example.com.zone" "$top/zones/example.net.zone" "$work/"
"$top/geoip/csv2mmdb" "$top/geoip/demo.csv" "$work/demo.mmdb" 2>/dev/null
cat > "$work/meridian.yaml" <<YAML
zones: [example.com.zone, example.net.zone]
geoip: {database: demo.mmdb, countries: $top/geoip/countries.csv}
datacenters:
  eu-west: {location: [53.35, -6.26]}
  us-east: {location: [38.95, -77.45]}
  ap-south: {location: [1.29, 103.85]}
services:
  geo.example.com:
    policy: nearest
    pools: {eu-west: [192.0.2.10], us-east: [198.51.100.10], ap-south: [203.0.113.10]}
YAML
count() { # N args... -> instructions
    valgrind --tool=callgrind --callgrind-out-file="$work/cg" "$build/tests/bench/qcost" \
        "$work/meridian.yaml" "$@" 2>&1 | awk '/refs:/ {gsub(",", "", $NF); print $NF}'
}
per_query() {
    local lo hi
    lo=$(count 1000 "$@")
    hi=$(count 11000 "$@")
    echo $(((hi - lo) / 10000))
}
printf '%-40s %s\n' "query" "instructions/query"
printf '%-40s %s\n' "static A (www.example.com), EDNS" "$(per_query www.example.com A)"
printf '%-40s %s\n' "CNAME chain (ftp -> web -> www)" "$(per_query ftp.example.com A)"
printf '%-40s %s\n' "NXDOMAIN" "$(per_query nothere.example.com A)"
printf '%-40s %s\n' "geo A, ECS 81.2.69.0/24 (nearest)" "$(per_query geo.example.com A 81.2.69.0/24)"
printf '%-40s %s\n' "geo A, no ECS (no client address)" "$(per_query geo.example.com A)"
