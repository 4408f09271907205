#!/usr/bin/env bash
# cli_docs.sh: what meridiand(8) and meridian.yaml(5) promise about the
# command line and the start, checked as documented.
#
# Covers: -h and -V (short forms, exit 0, stdout only); usage errors exit 2
# (unknown option, missing argument, stray argument, bad --listen,
# --explain without an address); a socket that cannot be bound exits 1
# (UDP port taken, TCP port taken, an address not on this host) and never
# serves; -d logs at debug level over server.log_level: error; CHAOS
# version.server answers server.version; a corrupt server.state_file stops
# the start (exit 1, the documented message); IPv6 listeners (--listen
# [::1]:PORT and server.listen) answer over UDP and TCP; server.log: syslog
# sends the log to /dev/log (a socket this script listens on, bind-mounted
# over /dev/log in a private mount namespace: needs root and unshare).
. "$(dirname "$0")/lib.sh"
require_meridiand
require_cmd dig

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
[ -n "$version" ] || hard_error "no PACKAGE_VERSION in $top_builddir/config.h"
ZONE="$DATA/basic/example.com.zone"

# conf NAME SERVER-LINES...: a config serving example.com with these lines
# in its server section.
conf() {
    local name=$1
    shift
    {
        echo "server:"
        echo "  allow_root: true"
        echo '  control: ""'
        for line in "$@"; do echo "  $line"; done
        echo "zones:"
        echo "  - $ZONE"
    } >"$WORKDIR/$name.yaml"
}
conf plain

# run_split ARGS...: runs meridiand (bounded) keeping stdout and stderr
# apart, in S_OUT and S_ERR, with the status in R_RC.
run_split() {
    R_CMD="meridiand $*"
    R_RC=0
    timeout 10 "$MERIDIAND" "$@" >"$WORKDIR/out" 2>"$WORKDIR/err" || R_RC=$?
    S_OUT=$(cat "$WORKDIR/out")
    S_ERR=$(cat "$WORKDIR/err")
    R_OUT="$S_OUT$S_ERR"
}

echo "## -h and -V"
run_split -h
expect_rc 0
assert_eq "" "$S_ERR" "-h writes nothing to stderr"
expect_output '^Usage: meridiand .*\[-d\]' "the usage line shows -d, as the man page's synopsis"
expect_output '^  -d, --debug ' "-d is described"
run_split --help
expect_rc 0
help_long=$S_OUT
run_split -h
assert_eq "$help_long" "$S_OUT" "-h prints what --help prints"
run_split -V
expect_rc 0
assert_eq "meridiand $version" "$S_OUT" "-V prints the version"
assert_eq "" "$S_ERR" "-V writes nothing to stderr"

echo "## usage errors exit 2"
usage_error() { # DESCRIPTION STDERR-PATTERN ARGS...
    local desc=$1 pat=$2
    shift 2
    run_split "$@"
    expect_rc 2
    if [ -z "$S_OUT" ] && grep -qE -- "$pat" <<<"$S_ERR"; then
        pass "$desc: says so on stderr only"
    else
        fail "$desc: message" "expected on stderr: $pat (nothing on stdout)" \
            "stdout: $S_OUT" "stderr: $S_ERR"
    fi
}
usage_error "unknown option" "invalid option -- 'x'" -x
usage_error "unknown long option" "unrecognized option '--no-such'" --no-such
usage_error "-c without its file" "option requires an argument -- 'c'" -c
usage_error "a stray argument" "^meridiand: unexpected argument 'extra'$" \
    -c "$WORKDIR/plain.yaml" extra
usage_error "a malformed --listen" \
    "^meridiand: --listen 127\.0\.0\.1:: expected ADDR:PORT or \[ADDR\]:PORT$" --listen 127.0.0.1:
usage_error "--explain without an address" \
    "^meridiand: --explain NAME needs an ADDRESS\[/PREFIX\] after it$" \
    -c "$WORKDIR/plain.yaml" --explain www.example.com
usage_error "--explain with a malformed address" \
    "^meridiand: --explain: '300.1.1.1' is not an address or address/prefix$" \
    -c "$WORKDIR/plain.yaml" --explain www.example.com 300.1.1.1

echo "## a socket that cannot be bound: exit 1"
# hold PROTO: binds a free loopback port (without SO_REUSEPORT) and keeps
# it until its stdin closes; prints the port. Sets HOLD_PID.
hold() {
    local fifo="$WORKDIR/hold.$1"
    rm -f "$fifo"
    mkfifo "$fifo"
    "$PYTHON" -c '
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind)
s.bind(("127.0.0.1", int(sys.argv[2])))
if kind == socket.SOCK_STREAM:
    s.listen(1)
print(s.getsockname()[1], flush=True)
sys.stdin.read()
' "$1" "$(free_port)" <"$fifo" >"$WORKDIR/hold.$1.port" &
    HOLD_PID=$!
    T_PIDS+=("$HOLD_PID")
    exec {HOLD_FD}>"$fifo"
    for _ in $(seq 50); do
        [ -s "$WORKDIR/hold.$1.port" ] && break
        sleep 0.1
    done
    HOLD_PORT=$(cat "$WORKDIR/hold.$1.port")
    [ -n "$HOLD_PORT" ] || hard_error "could not hold a $1 port"
}
for proto in udp tcp; do
    hold "$proto"
    run_meridiand -c "$WORKDIR/plain.yaml" --listen "127.0.0.1:$HOLD_PORT"
    expect_rc 1
    expect_output "^meridiand: cannot listen: Address already in use$" \
        "$proto port $HOLD_PORT taken: says why"
    exec {HOLD_FD}>&-
    wait "$HOLD_PID" 2>/dev/null || true
done
# 192.0.2.1 (TEST-NET-1) is on no interface here.
addrs=$(ip -o addr 2>/dev/null || true) # (no "| grep -q" under pipefail)
if [[ "$addrs" == *' 192.0.2.1/'* ]]; then
    skip_checks 2 "192.0.2.1 is configured on this host"
else
    run_meridiand -c "$WORKDIR/plain.yaml" --listen "192.0.2.1:$(free_port)"
    expect_rc 1
    expect_output "^meridiand: cannot listen: Cannot assign requested address$" \
        "an address not on this host: says why"
fi

echo "## -d logs at debug level whatever server.log_level says"
# A tcp check of a port nobody listens on fails: its debug line shows.
dead=$(free_port)
cat >"$WORKDIR/debug.yaml" <<EOF
server:
  allow_root: true
  control: ""
  log_level: error
zones:
  - $ZONE
datacenters:
  a: {}
health_checks:
  probe: {type: tcp, port: $dead, interval: 100ms, timeout: 50ms}
services:
  geo.example.com:
    policy: map
    map: {default: [a]}
    check: probe
    pools:
      a: [127.0.0.1]
EOF
wait_log() { # LOG PATTERN: up to 5 s
    for _ in $(seq 50); do
        grep -qE -- "$2" "$1" && return 0
        sleep 0.1
    done
    return 1
}
start_meridiand "$WORKDIR/debug.yaml" -d
# Foreground log lines open with their time (ISO 8601, UTC, milliseconds).
STAMP='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
if wait_log "$MERIDIAND_LOG" "^$STAMP meridiand: health: check probe of a failed \(1 of 3\)"; then
    pass "-d: the check's debug line is logged"
else
    fail "-d: debug line" "expected: meridiand: health: check probe of a failed (1 of 3): ..." \
        "log: $(cat "$MERIDIAND_LOG")"
fi
if grep -qE "^$STAMP meridiand: meridiand $version: " "$MERIDIAND_LOG"; then
    pass "-d: the start's info line is logged"
else
    fail "-d: info line" "expected: meridiand: meridiand $version: ..."
fi
debug_log=$MERIDIAND_LOG
start_meridiand "$WORKDIR/debug.yaml"
# This daemon's own checks have had as long as the other's to fail.
sleep 0.5
if grep -qE 'health: check|meridiand: meridiand ' "$MERIDIAND_LOG"; then
    fail "without -d, log_level: error holds" "log: $(cat "$MERIDIAND_LOG")"
else
    pass "without -d, log_level: error logs neither debug nor info lines"
fi
[ -s "$debug_log" ] || fail "the -d daemon's log is not empty"

echo "## CHAOS version.server"
conf chaos "chaos: true" 'version: "v-docs 1.2"'
start_meridiand "$WORKDIR/chaos.yaml"
for name in version.server version.bind; do
    q "$name" TXT CH
    assert_rcode NOERROR
    assert_answer "$name. 0 CH TXT \"v-docs 1.2\""
done

echo "## a corrupt state file stops the start"
printf 'datacenter eu-west down\nthis is not a state line\n' >"$WORKDIR/bad.state"
conf badstate "state_file: $WORKDIR/bad.state"
run_meridiand -c "$WORKDIR/badstate.yaml" --listen "127.0.0.1:$(free_port)"
expect_rc 1
expect_output "^$WORKDIR/bad\.state: the state file is unreadable or corrupt: the operator's \
overrides in it would be lost \(fix or remove it\)$" "names the file"
expect_output '^meridiand: not starting: fix the problems above$' "and does not start"
expect_output "bad\.state:2: " "names the bad line"

echo "## IPv6 listeners"
if ! "$PYTHON" -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' \
    2>/dev/null; then
    skip_checks 8 "no IPv6 loopback here"
else
    v6q() { # PORT [DIG-OPTIONS]: www.example.com A over IPv6
        Q_OUT=$(dig @::1 -p "$1" +norec +time=2 +tries=1 +nocookie "${@:2}" \
            www.example.com A 2>&1) || true
        Q_CMD="dig @::1 -p $1 ${*:2} www.example.com A"
        q_parse
    }
    T_N=$((T_N + 1))
    t_start_daemon "$WORKDIR/v6.log" "$MERIDIAND" -c "$WORKDIR/plain.yaml" \
        --listen "127.0.0.1:%PORT%" --listen "[::1]:%PORT%"
    t_expect_exit0 "$T_PID" "meridiand --listen [::1]"
    v6q "$T_PORT"
    assert_rcode NOERROR
    assert_has answer "www.example.com. 3600 IN A 192.0.2.10"
    v6q "$T_PORT" +tcp
    assert_rcode NOERROR
    assert_has answer "www.example.com. 3600 IN A 192.0.2.10"
    # server.listen with a bracketed address, no --listen
    for _ in 1 2 3; do
        p6=$(free_port)
        conf v6conf "listen: [\"127.0.0.1:$p6\", \"[::1]:$p6\"]"
        "$MERIDIAND" -c "$WORKDIR/v6conf.yaml" >"$WORKDIR/v6conf.log" 2>&1 &
        pid=$!
        T_PIDS+=("$pid")
        if wait_answering "$p6" "$pid" "$WORKDIR/v6conf.log"; then break; fi
    done
    t_expect_exit0 "$pid" "meridiand server.listen [::1]"
    v6q "$p6"
    assert_rcode NOERROR
    assert_has answer "www.example.com. 3600 IN A 192.0.2.10"
    v6q "$p6" +tcp
    assert_rcode NOERROR
    assert_has answer "www.example.com. 3600 IN A 192.0.2.10"
fi

echo "## server.log: syslog"
# /dev/log is replaced, for meridiand only, by a socket we listen on: a
# private mount namespace with a tmpfs /dev holding null, zero, random,
# urandom and log.
syslog_ns() { # CMD...: runs CMD with our socket as /dev/log
    local w=$WORKDIR
    # exec: the background job's pid is meridiand's (unshare and sh exec too)
    # shellcheck disable=SC2016 # expanded by the inner shell
    exec unshare -m sh -c '
        set -e
        w=$1; shift
        mkdir -p "$w/olddev"
        mount --bind /dev "$w/olddev"
        mount -t tmpfs tmpfs /dev
        for n in null zero random urandom log; do touch "/dev/$n"; done
        for n in null zero random urandom; do mount --bind "$w/olddev/$n" "/dev/$n"; done
        mount --bind "$w/log.sock" /dev/log
        exec "$@"' sh "$w" "$@"
}
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null ||
    ! unshare -m true 2>/dev/null; then
    skip_checks 4 "needs root and unshare -m to stand a socket in for /dev/log"
else
    t_dgram_listen "$WORKDIR/log.sock" "$WORKDIR/syslog.txt"
    conf syslog "log: syslog"
    T_N=$((T_N + 1))
    t_start_daemon "$WORKDIR/syslog.stderr" syslog_ns "$MERIDIAND" -c "$WORKDIR/syslog.yaml" \
        --listen "127.0.0.1:%PORT%"
    syslog_pid=$T_PID
    PORT=$T_PORT
    q www.example.com A
    assert_rcode NOERROR
    stop_pid "$syslog_pid" >"$WORKDIR/stop.rc" # not in $(...): wait needs this shell
    assert_eq 0 "$(cat "$WORKDIR/stop.rc")" "meridiand under syslog stops with exit"
    # <30> is facility daemon (3 << 3), priority info (6).
    line=$(grep -a -m1 "meridiand\[$syslog_pid\]: meridiand $version: " "$WORKDIR/syslog.txt" ||
        true)
    if [[ "$line" == "<30>"* ]]; then
        pass "the start line went to /dev/log as daemon.info: $line"
    else
        fail "syslog: the start line" \
            "expected: <30>... meridiand[$syslog_pid]: meridiand $version: ..." \
            "got: $(cat "$WORKDIR/syslog.txt" 2>/dev/null)"
    fi
    if grep -qE "^($STAMP )?meridiand: meridiand $version" "$WORKDIR/syslog.stderr"; then
        fail "syslog: the log does not also go to stderr" "stderr: $(cat "$WORKDIR/syslog.stderr")"
    else
        pass "with log: syslog, the start line is not on stderr"
    fi
fi
finish
