#!/usr/bin/env bash
# files.sh: every file meridiand reads (the config, a zone, an $INCLUDE,
# the GeoIP database, the country table, a networks file, the health state
# file, a health status file) is opened without waiting and must be a
# regular file; a huge one is refused without being read. Shutdown is
# bounded whatever a reload is doing.
#
# Covers, for each of those paths and each of a FIFO, a directory,
# /dev/zero and a 2 GiB (sparse) file in its place:
#   --check exits 1 at once naming the file and what it is;
#   a running server's reload fails at once (the state file: the reload
#   goes on without it), it keeps answering and SIGTERM stops it in time;
# a status file turned into a FIFO while the server runs does not stall
# the health checks; temporary state files (STATE.XXXXXX) left by a kill -9
# are removed at start, others kept; SIGTERM during a slow reload (two million records)
# exits 0 within 3 s without waiting for it.
. "$(dirname "$0")/lib.sh"
require_meridiand
require_cmd dig perl truncate mkfifo
: "${MERIDIANCTL:=$top_builddir/meridianctl}"
[ -x "$MERIDIANCTL" ] || hard_error "no meridianctl at $MERIDIANCTL (build it first)"

GOOD="$WORKDIR/good"
mkdir -p "$GOOD/state"
cat >"$GOOD/geo.csv" <<'EOF'
network,continent,country,subdivision,latitude,longitude
81.2.69.0/24,,GB,,,
EOF
build_mmdb "$GOOD/geo.csv" "$GOOD/geo.mmdb"
cp "$top_srcdir/geoip/countries.csv" "$GOOD/countries.csv"
cat >"$GOOD/example.com.zone" <<'EOF'
$ORIGIN example.com.
$TTL 3600
@    SOA ns1 hostmaster 1 7200 3600 1209600 300
     NS  ns1
ns1  A   192.0.2.53
$INCLUDE inc.zone
EOF
echo 'inc  A   192.0.2.54' >"$GOOD/inc.zone"
echo '198.51.100.0/24 us-east' >"$GOOD/nets.txt"
echo 'eu-west UP' >"$GOOD/status.txt"
echo 'datacenter us-east up' >"$GOOD/state/meridian.state"
cat >"$GOOD/meridian.yaml" <<'EOF'
server:
  allow_root: true       # the tests run as root (CI)
  control: ctl.sock
  state_file: state/meridian.state
zones:
  - example.com.zone
geoip:
  database: geo.mmdb
  countries: countries.csv
datacenters:
  eu-west: {location: [53.35, -6.26]}
  us-east: {location: [38.95, -77.45]}
health_checks:
  flag: {type: file, file: status.txt}
services:
  www.example.com:
    ttl: 60
    policy: nearest
    check: flag
    networks_file: nets.txt
    pools:
      eu-west: [192.0.2.10]
      us-east: [198.51.100.10]
EOF

# Which file each kind of path is, relative to the config's directory.
declare -A PATH_OF=(
    [config]=meridian.yaml [zone]=example.com.zone [include]=inc.zone [geoip]=geo.mmdb
    [countries]=countries.csv [networks]=nets.txt [state]=state/meridian.state
    [status]=status.txt
)
KINDS="config zone include geoip countries networks state status"
OBJECTS="fifo directory zero huge"

# replace FILE OBJECT: puts OBJECT where FILE was.
replace() {
    rm -rf "$1"
    case $2 in
    fifo) mkfifo "$1" ;;
    directory) mkdir "$1" ;;
    zero) ln -s /dev/zero "$1" ;;
    huge) truncate -s 2G "$1" ;;
    esac
}

# What the message says about OBJECT (ERE); the GeoIP database is not
# read but mapped, so a huge one is refused by libmaxminddb's check.
said() { # KIND OBJECT
    case $2 in
    fifo) echo 'not a regular file \(a FIFO\)' ;;
    directory) echo 'not a regular file \(a directory\)' ;;
    zero) echo 'not a regular file \(a character device\)' ;;
    huge) if [ "$1" = geoip ]; then echo 'metadata'; else
        echo '2147483648 bytes: larger than the limit of [0-9]+'; fi ;;
    esac
}

# elapsed START: seconds since START ($EPOCHREALTIME), two decimals.
elapsed() {
    awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN {printf "%.2f", e - s}'
}

# in_time LIMIT TOOK WHAT: passes when TOOK seconds is under LIMIT.
in_time() {
    if awk -v t="$2" -v l="$1" 'BEGIN {exit !(t < l)}'; then
        pass "$3 in ${2}s"
    else
        fail "$3 within $1 s" "took ${2}s"
    fi
}

# stop_in_time WHAT: SIGTERM to the daemon, which must exit 0 within 3 s.
stop_in_time() {
    local start=$EPOCHREALTIME rc=0
    kill -TERM "$MERIDIAND_PID"
    wait "$MERIDIAND_PID" 2>/dev/null || rc=$?
    assert_eq 0 "$rc" "SIGTERM $1: exit status"
    in_time 3 "$(elapsed "$start")" "SIGTERM $1: stopped"
}

# log_says PATTERN: the daemon's log has a line with PATTERN (waits 4 s).
log_says() {
    for _ in $(seq 40); do
        grep -qF -- "$1" "$MERIDIAND_LOG" && break
        sleep 0.1
    done
    if grep -qF -- "$1" "$MERIDIAND_LOG"; then
        pass "log: $1"
    else
        fail "log: $1" "not in the log; its end:" "$(tail -n 5 "$MERIDIAND_LOG")"
    fi
}

echo "## --check with a FIFO, a directory, /dev/zero or a huge file at each path"
for kind in $KINDS; do
    for obj in $OBJECTS; do
        dir="$WORKDIR/check-$kind-$obj"
        cp -a "$GOOD" "$dir"
        conf="$dir/meridian.yaml"
        target="$dir/${PATH_OF[$kind]}"
        if [ "$kind" = config ]; then
            conf="$dir/config.yaml"
            target=$conf
        fi
        replace "$target" "$obj"
        start=$EPOCHREALTIME
        run_meridiand --check -c "$conf"
        took=$(elapsed "$start")
        R_CMD="meridiand --check ($kind is a $obj)"
        expect_rc 1
        expect_output "$(basename "$target")(:[0-9]+)?[: ].*$(said "$kind" "$obj")" \
            "names the file and what it is"
        in_time 2 "$took" "$R_CMD: done"
    done
done

echo "## reloads with each of them in place"
RUN="$WORKDIR/run"
cp -a "$GOOD" "$RUN"
start_meridiand "$RUN/meridian.yaml"
q www.example.com A
assert_answer "www.example.com. 60 IN A 192.0.2.10"
for kind in config zone include geoip countries networks state; do
    for obj in $OBJECTS; do
        file="$RUN/${PATH_OF[$kind]}"
        cp "$file" "$WORKDIR/saved"
        replace "$file" "$obj"
        start=$EPOCHREALTIME
        R_CMD="meridianctl reload ($kind is a $obj)"
        R_RC=0
        R_OUT=$(timeout 10 "$MERIDIANCTL" -s "$RUN/ctl.sock" reload 2>&1) || R_RC=$?
        took=$(elapsed "$start")
        if [ "$kind" = state ]; then
            expect_rc 0
            expect_output 'state file is unreadable: keeping the current overrides' \
                "the overrides in force are kept"
        else
            expect_rc 1
            expect_output 'still serving the previous configuration' "the old data stays"
        fi
        expect_output "$(said "$kind" "$obj")" "says what is in the way"
        in_time 3 "$took" "$R_CMD: answered"
        rm -rf "$file"
        cp "$WORKDIR/saved" "$file"
    done
done
q www.example.com A
assert_answer "www.example.com. 60 IN A 192.0.2.10"

echo "## a status file that becomes a FIFO"
replace "$RUN/status.txt" fifo
log_says 'status.txt: cannot read: not a regular file (a FIFO)'
R_RC=0
R_OUT=$(timeout 10 "$MERIDIANCTL" -s "$RUN/ctl.sock" status 2>&1) || R_RC=$?
R_CMD="meridianctl status (status file is a FIFO)"
expect_rc 0
q www.example.com A
assert_answer "www.example.com. 60 IN A 192.0.2.10"
stop_in_time "after the failed reloads"
[ -e "$RUN/ctl.sock" ] && fail "the control socket is removed at stop" "still there"
[ -e "$RUN/ctl.sock" ] || pass "the control socket is removed at stop"

echo "## temporary state files left by a kill -9 are removed at start"
SLOW="$WORKDIR/slow"
cp -a "$GOOD" "$SLOW"
: >"$SLOW/state/meridian.state.Ab12Cd"
printf '# meridian health overrides, written' >"$SLOW/state/meridian.state.x0Y9z8"
echo 'datacenter us-east down' >"$SLOW/state/meridian.state.backup"
: >"$SLOW/state/meridian.state.bak"
start_meridiand "$SLOW/meridian.yaml"
for f in meridian.state.Ab12Cd meridian.state.x0Y9z8; do
    [ -e "$SLOW/state/$f" ] && fail "$f is removed at start" "still there"
    [ -e "$SLOW/state/$f" ] || pass "$f is removed at start"
done
for f in meridian.state meridian.state.backup meridian.state.bak; do
    [ -e "$SLOW/state/$f" ] && pass "$f is kept"
    [ -e "$SLOW/state/$f" ] || fail "$f is kept" "it was removed"
done
log_says "health: removed $SLOW/state/meridian.state.Ab12Cd, left by an interrupted write"

echo "## SIGTERM during a slow reload"
for i in $(seq 60); do
    echo "\$GENERATE 1-65535 h\$-$i A 10.0.0.1"
done >>"$SLOW/inc.zone"
kill -HUP "$MERIDIAND_PID"
sleep 0.3
stop_in_time "during a reload of 3.9 million records"
log_says 'stopped without waiting for the reload still running'
T_PIDS=()
finish
