#!/usr/bin/env bash
# ctl_docs.sh: what meridianctl(8) promises about -t, exit 4, -j before
# the command, and the counters `stats` lists, asserted exactly.
#
# Covers:
#   - -t SECONDS (fractions allowed) against a socket that accepts and
#     never answers: exit 4, "no answer within the timeout", after about
#     that long; the default is 5 s; a -t that is not a positive number is
#     a usage error (exit 2);
#   - -j (and --json) before the command gives the reply's data as JSON, as
#     after it does; a refused command under -j prints the whole reply as
#     JSON on stdout, the error on stderr, exit 1;
#   - stats, every counter the man page lists, from known traffic: UDP and
#     TCP queries, by rcode and by type ("other" for types not named),
#     dropped, truncated, with a client subnet; reloads and failed reloads;
#     per service the answers from each data center, failovers, fallback
#     and fail-open answers; per checked address its state and consecutive
#     successes or failures.
. "$(dirname "$0")/lib.sh"
: "${MERIDIANCTL:=$top_builddir/meridianctl}"
[ -x "$MERIDIANCTL" ] || hard_error "no meridianctl at $MERIDIANCTL (build it first)"
require_meridiand
require_cmd dig

# ctl ARGS...: meridianctl (bounded to 20 s); R_RC, R_STDOUT, R_STDERR,
# R_OUT (both), R_SECS (how long it took).
ctl() {
    R_CMD="meridianctl $*"
    R_RC=0
    local t0 t1
    t0=$(date +%s.%N)
    R_STDOUT=$(timeout 20 "$MERIDIANCTL" "$@" 2>"$WORKDIR/ctl.err") || R_RC=$?
    t1=$(date +%s.%N)
    R_STDERR=$(cat "$WORKDIR/ctl.err")
    R_OUT=$(printf '%s\n%s' "$R_STDOUT" "$R_STDERR")
    R_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

# took MIN MAX DESCRIPTION: R_SECS is within [MIN, MAX].
took() {
    if awk -v s="$R_SECS" -v lo="$1" -v hi="$2" 'BEGIN { exit !(s >= lo && s <= hi) }'; then
        pass "$3: gave up after ${R_SECS}s"
    else
        fail "$3: time" "expected: between $1 and $2 s" "got:      ${R_SECS}s"
    fi
}

echo "## -t and exit 4"
MUTE="$WORKDIR/mute.sock"
"$PYTHON" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(16)
held = []
s.settimeout(60)
while True:
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    held.append(c)  # read nothing, answer nothing
' "$MUTE" &
T_PIDS+=("$!")
for _ in $(seq 50); do
    [ -S "$MUTE" ] && break
    sleep 0.1
done
ctl -s "$MUTE" -t 0.4 status
expect_rc 4
assert_eq "meridianctl: $MUTE: no answer within the timeout" "$R_STDERR" "-t 0.4: the message"
# Upper bounds under the default 5 s: -t took effect; loose, as a loaded
# machine may take seconds to start a process.
took 0.35 4.5 "-t 0.4"
ctl -s "$MUTE" --timeout 1.5 status
expect_rc 4
took 1.45 4.8 "--timeout 1.5"
ctl -s "$MUTE" status
expect_rc 4
took 4.9 10 "the default timeout (5 s)"
for bad in 0 -1 abc 1s ""; do
    ctl -s "$MUTE" -t "$bad" status
    expect_rc 2
    assert_eq "meridianctl: -t $bad: expected seconds, more than 0 and at most 86400" \
        "$(head -n 1 <<<"$R_STDERR")" \
        "-t '$bad': the message"
done

echo "## the daemon, with a checked service"
DIR="$WORKDIR/d"
mkdir -p "$DIR"
# A TCP port that answers (the up check) and one nobody listens on.
"$PYTHON" -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
s.settimeout(60)
while True:
    try:
        c, _ = s.accept()
        c.close()
    except socket.timeout:
        break
' >"$WORKDIR/live.port" &
T_PIDS+=("$!")
for _ in $(seq 50); do
    [ -s "$WORKDIR/live.port" ] && break
    sleep 0.1
done
live=$(cat "$WORKDIR/live.port")
dead=$(free_port)
{
    cat "$DATA/ctl/example.com.zone"
    for i in $(seq 1 40); do echo "big A 10.0.0.$i"; done
} >"$DIR/example.com.zone"
cat >"$DIR/meridian.yaml" <<EOF
server:
  allow_root: true
  control: ctl.sock
  workers: 1
zones:
  - example.com.zone
datacenters:
  eu-west: {}
  us-east: {}
health_checks:
  live: {type: tcp, port: $live, interval: 100ms, timeout: 50ms}
  dead: {type: tcp, port: $dead, interval: 100ms, timeout: 50ms}
services:
  www.example.com:
    ttl: 60
    policy: map
    map: {default: [eu-west, us-east]}
    pools:
      eu-west: [192.0.2.10, "2001:db8::10"]
      us-east: [198.51.100.10]
  up.example.com:
    policy: map
    map: {default: [eu-west]}
    check: live
    pools:
      eu-west: [127.0.0.1]
  down.example.com:
    policy: map
    map: {default: [eu-west]}
    check: dead
    pools:
      eu-west: [127.0.0.2]
EOF
SOCK="$DIR/ctl.sock"
start_meridiand "$DIR/meridian.yaml"

echo "## stats: the counters the man page lists"
# stats_json: the reply's data, for python below
stats_json() {
    ctl -s "$SOCK" -j stats
    [ "$R_RC" = 0 ] || fail "meridianctl stats: exit $R_RC" "$R_OUT"
    printf '%s\n' "$R_STDOUT" >"$WORKDIR/$1.json"
}
# Checks first settle: up after 2 successes (it counts as up until then),
# down after 3 failures.
settled=no
for _ in $(seq 100); do
    stats_json checks
    if "$PYTHON" - "$WORKDIR/checks.json" <<'PY'; then
import json, sys
d = json.load(open(sys.argv[1]))
c = {x["address"]: x for x in d["checks"]}
up, down = c["127.0.0.1"], c["127.0.0.2"]
ok = (up["state"] == "up" and up["successes"] >= 2 and up["failures"] == 0 and
      down["state"] == "down" and down["failures"] >= 3 and down["successes"] == 0)
sys.exit(0 if ok else 1)
PY
        settled=yes
        break
    fi
    sleep 0.1
done
if [ "$settled" = yes ]; then
    pass "checks: 127.0.0.1 up with consecutive successes, 127.0.0.2 down with failures"
else
    fail "checks in stats" "expected live up (successes >= 2, failures 0), dead down" \
        "(failures >= 3, successes 0)" "got: $(cat "$WORKDIR/checks.json")"
fi
# (health is settled: status no longer changes from one call to the next)
echo "## -j before the command"
ctl -j -s "$SOCK" status
expect_rc 0
before=$R_STDOUT
ctl -s "$SOCK" status --json
after=$R_STDOUT
ctl --json -s "$SOCK" status
long=$R_STDOUT
# the uptime and the checks' running counts may tick between the three:
# compare without them
strip() {
    "$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
d.pop("uptime_seconds")
for t in d["targets"]:
    t.pop("successes")
    t.pop("failures")
print(json.dumps(d, sort_keys=True))'
}
j1=$(strip <<<"$before" 2>&1) || true
j2=$(strip <<<"$after" 2>&1) || true
j3=$(strip <<<"$long" 2>&1) || true
if [ -n "$j1" ] && [[ "$j1" == "{"* ]] && [ "$j1" = "$j2" ] && [ "$j1" = "$j3" ]; then
    pass "-j and --json before the command give the JSON that --json after it gives"
else
    fail "-j before the command" "-j first: $before" "--json last: $after"
fi
ctl -j -s "$SOCK" drain no-such-dc
expect_rc 1
if "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"] is False and "no-such-dc" in d["error"]' \
    <<<"$R_STDOUT" 2>/dev/null; then
    pass "-j, refused: the whole reply as JSON on stdout"
else
    fail "-j, refused: stdout" "expected a JSON reply with ok false naming no-such-dc" \
        "got: $R_STDOUT"
fi
if grep -q 'no-such-dc' <<<"$R_STDERR"; then
    pass "-j, refused: the error also on stderr"
else
    fail "-j, refused: stderr" "expected the error naming no-such-dc" "got: $R_STDERR"
fi

q down.example.com A # only to have an answer from a down pool: fail open
assert_answer "down.example.com. 300 IN A 127.0.0.2"

stats_json base
# Known traffic, UDP:
q www.example.com A                       # NOERROR A, service eu-west
assert_rcode NOERROR
q www.example.com AAAA                    # NOERROR AAAA, service eu-west
assert_rcode NOERROR
q www.example.com A +subnet=203.0.113.0/24 # NOERROR A, ECS, eu-west
assert_rcode NOERROR
q static.example.com TXT                  # NODATA: NOERROR TXT
assert_rcode NOERROR
q nope.example.com MX                     # NXDOMAIN MX
assert_rcode NXDOMAIN
q www.example.org A                       # REFUSED A
assert_rcode REFUSED
q example.com NAPTR                       # NOERROR, a type counted as other
assert_rcode NOERROR
q big.example.com A +noedns +ignore       # TC
assert_rcode NOERROR
assert_flag tc
# a response (QR set) and a runt: dropped
"$PYTHON" - "$PORT" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
resp = bytes.fromhex("1234 8000 0001 0000 0000 0000".replace(" ", "")) + b"\x00\x00\x01\x00\x01"
s.sendto(resp, ("127.0.0.1", int(sys.argv[1])))
s.sendto(b"\x12\x34\x00", ("127.0.0.1", int(sys.argv[1])))
PY
# TCP:
q www.example.com A +tcp                  # NOERROR A, eu-west
assert_rcode NOERROR
q nope.example.com SOA +tcp               # NXDOMAIN SOA
assert_rcode NXDOMAIN
# Failover and fail open: eu-west drained, then us-east too.
ctl -s "$SOCK" drain eu-west
expect_rc 0
q www.example.com A                       # us-east: a failover
assert_answer "www.example.com. 60 IN A 198.51.100.10"
ctl -s "$SOCK" drain us-east
expect_rc 0
q www.example.com A                       # every data center down: fail open, eu-west
assert_answer "www.example.com. 60 IN A 192.0.2.10"
ctl -s "$SOCK" undrain eu-west
ctl -s "$SOCK" undrain us-east
stats_json mid
# Reloads (they rebuild the services, whose counters start again): one good, one failed.
ctl -s "$SOCK" reload
expect_rc 0
cp "$DIR/example.com.zone" "$DIR/good.zone"
echo "www A 300.1.1.1" >>"$DIR/example.com.zone"
ctl -s "$SOCK" reload
expect_rc 1
mv "$DIR/good.zone" "$DIR/example.com.zone"

# The dropped packets went out before the failover queries, on the same
# socket served by one worker, in order: they have been counted.
stats_json now
if out=$("$PYTHON" - "$WORKDIR/base.json" "$WORKDIR/mid.json" "$WORKDIR/now.json" <<'PY' 2>&1); then
import json, sys
a, m, b = (json.load(open(p)) for p in sys.argv[1:4])

def delta(t):
    x, y = a[t], b[t]
    out = {k: y[k] - x[k] for k in ("queries", "dropped", "truncated", "ecs")}
    for part in ("rcodes", "types"):
        keys = set(x[part]) | set(y[part])
        out[part] = {k: y[part].get(k, 0) - x[part].get(k, 0) for k in keys}
        out[part] = {k: v for k, v in out[part].items() if v}
    return out

want_udp = {"queries": 12, "dropped": 2, "truncated": 1, "ecs": 1,
            "rcodes": {"NOERROR": 8, "NXDOMAIN": 1, "REFUSED": 1},
            "types": {"A": 6, "AAAA": 1, "TXT": 1, "MX": 1, "other": 1}}  # other: NAPTR
want_tcp = {"queries": 2, "dropped": 0, "truncated": 0, "ecs": 0,
            "rcodes": {"NOERROR": 1, "NXDOMAIN": 1}, "types": {"A": 1, "SOA": 1}}
problems = []
for t, want in (("udp", want_udp), ("tcp", want_tcp)):
    got = delta(t)
    if got != want:
        problems.append("%s: expected %s\n     got      %s" % (t, want, got))
if (b["reloads"] - a["reloads"], b["reload_failures"] - a["reload_failures"]) != (1, 1):
    problems.append("reloads: expected +1 and +1 failed, got +%d and +%d" % (
        b["reloads"] - a["reloads"], b["reload_failures"] - a["reload_failures"]))
sa = {s["name"]: s for s in a["services"]}
sb = {s["name"]: s for s in m["services"]}
w0, w1 = sa["www.example.com."], sb["www.example.com."]
got = {"eu-west": w1["answers"]["eu-west"] - w0["answers"]["eu-west"],
       "us-east": w1["answers"]["us-east"] - w0["answers"]["us-east"],
       "failovers": w1["failovers"] - w0["failovers"],
       "fallback": w1["fallback"] - w0["fallback"],
       "fail_open": w1["fail_open"] - w0["fail_open"]}
# eu-west: A, AAAA, A with ECS, TCP A, the fail-open A; us-east: the
# failover; no fallback (no data center outside the order to fall back to)
want = {"eu-west": 5, "us-east": 1, "failovers": 1, "fallback": 0, "fail_open": 1}
if got != want:
    problems.append("www.example.com.: expected %s\n     got      %s" % (want, got))
d0, d1 = sa["down.example.com."], sb["down.example.com."]
if d0["fail_open"] < 1 or d1["fail_open"] != d0["fail_open"]:
    problems.append("down.example.com.: fail_open before %d, after %d (expected >= 1, same)"
                    % (d0["fail_open"], d1["fail_open"]))
# after the reloads: every service counter starts again from 0
for svc in b["services"]:
    n = svc["failovers"] + svc["fallback"] + svc["fail_open"] + sum(svc["answers"].values())
    if n:
        problems.append("%s after the reload: counters %s, expected 0" % (svc["name"], svc))
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
    pass "stats: every counter moved by exactly the traffic sent"
else
    fail "stats counters" "$out" "before: $(cat "$WORKDIR/base.json")" \
        "after: $(cat "$WORKDIR/now.json")"
fi
ctl -s "$SOCK" stats
expect_output '^udp: [0-9]+ queries, [0-9]+ dropped, [0-9]+ truncated, [0-9]+ with client subnet$' \
    "text: the UDP line"
expect_output '^tcp: [0-9]+ queries, ' "text: the TCP line"
expect_output '^reloads: [0-9]+, failed: [0-9]+$' "text: reloads"
expect_output '^service www\.example\.com\.: [0-9]+ failovers, [0-9]+ fallback answers, [0-9]+ fail-open answers; answers: eu-west [0-9]+ us-east [0-9]+$' \
    "text: a service's answers per data center"
expect_output '^check live 127\.0\.0\.1 \(eu-west\): up, [0-9]+ consecutive successes, 0 consecutive failures$' \
    "text: the up address"
expect_output '^check dead 127\.0\.0\.2 \(eu-west\): down, 0 consecutive successes, [0-9]+ consecutive failures$' \
    "text: the down address"
finish
