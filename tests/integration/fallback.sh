#!/usr/bin/env bash
# fallback.sh: a service whose client's whole order is drained answers
# from the nearest healthy data center outside it (`fallback: any`, the
# default), or fails open within it (`fallback: listed`).
#
# Covers, with dig +subnet from EU, US and AP test networks of
# data/geo/geo.csv: EU clients (continent EU: [eu-west, us-east]) with
# both drained get ap-south, with failover_ttl, while `listed` gives them
# drained eu-west with the service TTL (fail open); NA clients likewise;
# AP clients keep their own first choice; IPv6 subnets; the ECS scope of
# a fallback answer for a client an override routed is the database
# network that chose it (London's /24 inside the override's /16), not the
# override's; distance decides (a Singapore override to eu-west falls
# back to ap-south, although us-east comes first in config order); a
# client without coordinates takes the default order. The log says
# "fallback" once per service and transition however many queries come,
# and "fallback is over" once after undrain; meridianctl status shows each
# service's state, stats counts fallback answers, explain shows the
# fallback.
#
# Data: data/fallback/meridian.yaml beside data/geo's database and zone.
. "$(dirname "$0")/lib.sh"
# shellcheck source=data/geo/prepare.sh
. "$DATA/geo/prepare.sh"
: "${MERIDIANCTL:=$top_builddir/meridianctl}"
[ -x "$MERIDIANCTL" ] || hard_error "no meridianctl at $MERIDIANCTL (build it first)"
require_meridiand
require_cmd dig "$PYTHON"
geo_prepare
cp "$DATA/fallback/meridian.yaml" "$GEO_DIR/fallback.yaml"
SOCK="$GEO_DIR/fallback.sock"
start_meridiand "$GEO_DIR/fallback.yaml"

ctl() {
    R_CMD="meridianctl $*"
    R_RC=0
    R_OUT=$(timeout 10 "$MERIDIANCTL" -s "$SOCK" "$@" 2>&1) || R_RC=$?
}

# ecs_scope: the scope of the reply's CLIENT-SUBNET option, or "none".
ecs_scope() {
    local e
    e=$(sed -n 's/^; CLIENT-SUBNET: //p' <<<"$Q_OUT")
    if [ -z "$e" ]; then echo none; else echo "${e##*/}"; fi
}

# expect NAME SUBNET "ADDR TTL" SCOPE DESCRIPTION: one A record and the scope.
expect() {
    local name=$1 subnet=$2 want=$3 scope=$4 desc=$5 got
    q "$name" A +subnet="$subnet"
    got=$(awk '$4 == "A" {print $5, $2}' "$Q_DIR/answer" | tr '\n' ' ' | sed 's/ $//')
    got="$got scope $(ecs_scope)"
    if [ "$Q_RCODE" = NOERROR ] && [ "$got" = "$want scope $scope" ]; then
        pass "$desc: $name from $subnet -> $got"
    else
        local -a show
        mapfile -t show < <(q_show)
        fail "$desc: $name from $subnet" "expected: $want scope $scope" \
            "got:      $got (rcode $Q_RCODE)" "${show[@]}"
    fi
}

# expect_log REGEX COUNT DESCRIPTION
expect_log() {
    local got
    got=$(grep -cE -- "$1" "$MERIDIAND_LOG" || true)
    if [ "$got" = "$2" ]; then
        pass "log: $3"
    else
        local -a lines
        mapfile -t lines < <(grep -E 'service|health' "$MERIDIAND_LOG" | tail -n 20)
        fail "log: $3" "expected $2 line(s) matching: $1" "got:      $got" "${lines[@]}"
    fi
}

# expect_status DESCRIPTION REGEX...: meridianctl status has a line matching each.
expect_status() {
    local desc=$1 re
    shift
    ctl status
    for re in "$@"; do
        if ! grep -qE -- "$re" <<<"$R_OUT"; then
            local -a show
            mapfile -t show <<<"$R_OUT"
            fail "status: $desc" "expected a line matching: $re" "got:" "${show[@]}"
            return
        fi
    done
    pass "status: $desc"
}

FALLBACK_RE='web\.example\.com\.: every data center of some clients. order is down: .*\(fallback\)'
LISTED_RE='listed\.example\.com\.: every data center of some clients. order is down: .*fail open'
OVER_RE='web\.example\.com\.: .*fallback is over'

# ---- everything up: each client's own first choice
expect web.example.com 85.10.0.0/24 "192.0.2.50 300" 16 "all up, Berlin"
expect web.example.com 64.71.0.0/24 "198.51.100.50 300" 18 "all up, San Francisco"
expect web.example.com 81.2.69.0/24 "192.0.2.50 300" 16 "all up, London (override /16)"
expect listed.example.com 85.10.0.0/24 "192.0.2.60 300" 16 "all up, Berlin"
expect_status "both services normal" '^  web\.example\.com\. +normal +any ' \
    '^  listed\.example\.com\. +normal +listed '

# ---- eu-west and us-east drained: EU and NA clients have nothing left
ctl drain eu-west
ctl drain us-east
[ "$R_RC" = 0 ] || fail "meridianctl drain us-east" "exit $R_RC: $R_OUT"
for _ in 1 2 3 4 5; do
    expect web.example.com 85.10.0.0/24 "203.0.113.50 30" 16 "EU drained, Berlin, fallback"
done
# (the database's /32 is split by a /48 inside it: the network is a /40)
expect web.example.com 2a02:c7f::/48 "203.0.113.50 30" 40 "EU drained, London IPv6, fallback"
expect web.example.com 64.71.0.0/24 "203.0.113.50 30" 18 "NA drained, San Francisco, fallback"
expect web.example.com 126.0.0.0/24 "203.0.113.50 300" 10 "Tokyo: its own first choice"
expect listed.example.com 85.10.0.0/24 "192.0.2.60 300" 16 "listed: Berlin fails open to eu-west"
expect listed.example.com 64.71.0.0/24 "198.51.100.60 300" 18 \
    "listed: San Francisco fails open to us-east"
expect listed.example.com 116.12.0.0/24 "203.0.113.60 300" 20 "listed: Singapore unaffected"
expect_log "$FALLBACK_RE" 1 "web.example.com falls back, said once"
expect_log "$LISTED_RE" 1 "listed.example.com fails open, said once"
expect_status "web in fallback, listed failing open, with the time it began" \
    '^  web\.example\.com\. +fallback +any +[0-9]{4}-' \
    '^  listed\.example\.com\. +fail open +listed +[0-9]{4}-'
ctl stats --json
if "$PYTHON" -c '
import json, sys
s = {x["name"]: x for x in json.load(sys.stdin)["services"]}
assert s["web.example.com."]["fallback"] >= 7, s
assert s["listed.example.com."]["fallback"] == 0, s
assert s["listed.example.com."]["fail_open"] >= 2, s' <<<"$R_OUT"; then
    pass "stats: fallback answers counted for web, none for listed"
else
    fail "stats --json counts fallback answers" "$R_OUT"
fi
ctl explain web.example.com 85.10.0.0/24
if grep -q '^fallback: .*ap-south' <<<"$R_OUT" &&
    grep -qE '^answer: +ap-south: 203\.0\.113\.50 \(TTL 30, fallback outside the order\)' \
        <<<"$R_OUT"; then
    pass "explain shows the fallback to ap-south"
else
    fail "explain shows the fallback" "$R_OUT"
fi

# ---- eu-west alone drained: distance decides among the rest
ctl undrain us-east
# London: the override 81.2.0.0/16 lists eu-west; Ashburn is nearer than
# Singapore, and the database's /24 chose it
expect web.example.com 81.2.69.0/24 "198.51.100.50 30" 24 "London override, nearest: us-east"
# Singapore: the override 116.12.0.0/20 lists eu-west; ap-south is nearest
# although us-east comes first in config order
expect web.example.com 116.12.0.0/24 "203.0.113.50 30" 20 "Singapore override, nearest: ap-south"
# not in the database: no coordinates, so the default order's us-east
expect web.example.com 10.1.2.0/24 "198.51.100.50 30" 16 "no coordinates: the default order"
expect web.example.com 85.10.0.0/24 "198.51.100.50 30" 16 "Berlin: us-east, in its order"

ctl undrain eu-west
expect web.example.com 85.10.0.0/24 "192.0.2.50 300" 16 "undrained, Berlin"
expect web.example.com 81.2.69.0/24 "192.0.2.50 300" 16 "undrained, London (override /16)"
expect_log "$OVER_RE" 1 "web.example.com: fallback is over, said once"
expect_log "$FALLBACK_RE" 1 "still one fallback line for web.example.com"
expect_status "web normal again" '^  web\.example\.com\. +normal +any '
finish
