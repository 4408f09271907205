#!/usr/bin/env bash
# check.sh: `meridiand --check` exits 1 whenever the start would fail or
# routing would silently degrade, with the message the start prints, and 0
# for a good config (docs/operations.md: "exit status 0 means the server
# would start").
#
# Covers, each with --check and a start, the exact message and exit 1:
# root without server.user or allow_root; an unknown user; a state file
# whose directory is missing or is a file; a missing control socket
# directory, and a non-socket at the socket's path; a corrupt state file;
# a database that gives only countries with no country table to be found
# (meridiand run from outside its build tree). Then that the build tree's
# meridiand finds geoip/countries.csv by itself (the continent is filled
# in), and that a good config exits 0.
. "$(dirname "$0")/lib.sh"
require_meridiand
require_cmd perl
ME=$(id -un)
C="$WORKDIR"
cp "$DATA/basic/example.com.zone" "$C/example.com.zone"

# conf NAME SERVER-LINES...: $C/NAME.yaml with those server lines, the
# zone and, when GEOIP is set, that database (no country table) and a
# service.
conf() {
    local name=$1
    shift
    ZONE=example.com.zone server_conf "$C/$name.yaml" "$@"
    [ -n "${GEOIP:-}" ] || return 0
    cat >>"$C/$name.yaml" <<EOF
geoip:
  database: $GEOIP
datacenters:
  eu-west: {location: [53.35, -6.26]}
  us-east: {location: [38.95, -77.45]}
services:
  geo.example.com:
    policy: nearest
    pools: {eu-west: [192.0.2.10], us-east: [198.51.100.10]}
EOF
}

echo "## a good config"
conf good "allow_root: true" 'control: ""' "state_file: state"
run_meridiand --check -c "$C/good.yaml"
expect_rc 0
expect_output "^$C/good.yaml: OK: 1 zones, 109 records, 0 services$" "says OK"

echo "## who the server would run as"
if [ "$(id -u)" = 0 ]; then
    conf root 'control: ""'
    expect_refused "$C/root.yaml" "$C/root.yaml: refusing to run as root: set server.user to an \
unprivileged account (or server.allow_root: true)"
else
    echo "# not root: the refusal to run as root is not tested"
fi
conf nouser "user: no-such-user-here" 'control: ""'
expect_refused "$C/nouser.yaml" "$C/nouser.yaml: server.user: no user named no-such-user-here"

echo "## the state file and the control socket"
conf nostatedir "allow_root: true" 'control: ""' "state_file: missing/state"
expect_refused "$C/nostatedir.yaml" "$C/nostatedir.yaml: server.state_file: cannot write in \
$C/missing as user $ME: No such file or directory"
: >"$C/afile"
conf filestatedir "allow_root: true" 'control: ""' "state_file: afile/state"
expect_refused "$C/filestatedir.yaml" "$C/filestatedir.yaml: server.state_file: cannot write in \
$C/afile as user $ME: Not a directory"
conf noctldir "allow_root: true" "control: nowhere/ctl.sock"
expect_refused "$C/noctldir.yaml" "$C/noctldir.yaml: server.control: cannot write in \
$C/nowhere as user $ME: No such file or directory"
conf notsock "allow_root: true" "control: afile"
expect_refused "$C/notsock.yaml" "$C/notsock.yaml: server.control: $C/afile exists and is not a \
socket"

printf 'datacenter eu-west down\nbogus eu-west up\n' >"$C/corrupt.state"
conf corrupt "allow_root: true" 'control: ""' "state_file: corrupt.state"
expect_refused "$C/corrupt.yaml" "$C/corrupt.state:2: unknown keyword \"bogus\" (expected \
datacenter or address)"
expect_refused "$C/corrupt.yaml" "$C/corrupt.state: the state file is unreadable or corrupt: \
the operator's overrides in it would be lost (fix or remove it)"

echo "## an explicit TCP cap must fit the descriptor limit"
# ulimit_run LIMIT ARGS...: meridiand with RLIMIT_NOFILE (soft and hard) at LIMIT.
ulimit_run() {
    local limit=$1
    shift
    R_CMD="(ulimit -n $limit) meridiand $*"
    R_RC=0
    R_OUT=$( (ulimit -n "$limit" && exec timeout 10 "$MERIDIAND" "$@") 2>&1) || R_RC=$?
}
conf bigcap "allow_root: true" 'control: ""' "tcp_max_connections: 2000"
for args in "--check -c $C/bigcap.yaml" "-c $C/bigcap.yaml --listen 127.0.0.1:$(free_port)"; do
    # shellcheck disable=SC2086 # the words of args
    ulimit_run 512 $args
    expect_rc 1
    expect_output "^$C/bigcap\.yaml: server\.tcp_max_connections: 2000 does not fit the \
descriptor limit 512 \(RLIMIT_NOFILE, hard\): .* at most [0-9]+ connections fit; raise the limit" \
        "the cap does not fit the descriptors: said by --check as by the start"
done
conf smallcap "allow_root: true" 'control: ""' "tcp_max_connections: 100"
ulimit_run 512 --check -c "$C/smallcap.yaml"
expect_rc 0

echo "## a database that gives only countries needs the country table"
cat >"$C/countries-only.csv" <<'EOF'
network,continent,country,subdivision,latitude,longitude
81.2.69.0/24,,GB,,,
175.16.199.0/24,,CN,,,
216.160.83.0/24,NA,US,,47.6,-122.3
EOF
build_mmdb "$C/countries-only.csv" "$C/countries-only.mmdb"
GEOIP=countries-only.mmdb conf geo "allow_root: true" 'control: ""'
line=$(grep -n '^  database:' "$C/geo.yaml" | cut -d: -f1)
# explain_continent BINARY: the continent --explain gives a GB client.
explain_continent() {
    "$1" -c "$C/geo.yaml" --explain geo.example.com 81.2.69.1 2>/dev/null |
        sed -n 's/^location: *continent \([^,]*\),.*/\1/p'
}
# A meridiand outside any source tree finds only an installed table.
mkdir -p "$C/bin"
cp "$MERIDIAND" "$C/bin/meridiand"
if [ "$(explain_continent "$C/bin/meridiand")" = EU ]; then
    echo "# a country table is installed: the missing-table case is not tested"
else
    BUILT=$MERIDIAND
    MERIDIAND="$C/bin/meridiand"
    # where make install puts it (configure's default datadir)
    table="$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")/share/meridian/countries.csv"
    expect_refused "$C/geo.yaml" "$C/geo.yaml:$line: geoip: no country table at $table: 2 of \
the 3 records of $C/countries-only.mmdb give only a country, so their clients would have no \
continent or coordinates (set geoip.countries)"
    MERIDIAND=$BUILT
fi
# The build tree's meridiand finds geoip/countries.csv without being told.
run_meridiand --check -c "$C/geo.yaml"
expect_rc 0
assert_eq EU "$(explain_continent "$MERIDIAND")" \
    "--explain a GB client, no geoip.countries: the source tree's table gives the continent"
finish
