#!/usr/bin/env bash
# unbound.sh: geo routing end to end through a real resolver. Debian's
# Unbound (built with --enable-subnet; installed by scripts/setup.sh) runs
# on a free loopback port with its subnetcache module and a stub zone for
# example.com pointing at meridiand; dig asks Unbound with +subnet=.
#
# Covers: clients on three continents (IPv4 and IPv6 subnets) reach the
# right data center through the resolver for a nearest and a map service;
# Unbound passes meridiand's scope back to the client; a client without ECS
# (the source 127.0.0.1) gets the default order; the subnet cache: clients
# on different continents asked in quick succession each keep their own
# answer, and after meridiand is stopped Unbound still serves each of them
# its own answer from its cache (one cached answer per subnet, not one for
# all); a static name keeps working. Skips (77) when unbound is missing.
#
# Unbound behaviour this test accounts for:
# - it sends ECS only to the upstream addresses in send-client-subnet
#   (127.0.0.1 here) and, with client-subnet-always-forward, also forwards
#   the client's own option there;
# - it cuts an IPv4 source to max-client-subnet-ipv4 (24) and IPv6 to
#   max-client-subnet-ipv6 (56) before asking: the networks used here are
#   /24 or shorter (IPv6 /48 or shorter), so the decision does not change;
# - without ECS from the client it makes one from the source address
#   (127.0.0.0/24), which meridiand holds in no network: the default order;
# - it refuses to query 127.0.0.1 unless do-not-query-localhost: no;
# - example.com is not signed: no validator module, domain-insecure too;
# - with SO_REUSEPORT (Debian's default) it could share a port with another
#   daemon of the same user: so-reuseport: no, so a taken port fails;
# - its subnet cache answers a client from the most specific cached
#   subnet, keyed by the scope meridiand returned.
#
# Data: data/geo/ (meridian.yaml, example.com.zone, geo.csv; prepare.sh).
. "$(dirname "$0")/lib.sh"
# shellcheck source=data/geo/prepare.sh
. "$DATA/geo/prepare.sh"
require_meridiand
require_cmd dig
UNBOUND=$(command -v unbound || true)
[ -n "$UNBOUND" ] || [ ! -x /usr/sbin/unbound ] || UNBOUND=/usr/sbin/unbound
[ -n "$UNBOUND" ] || skip "unbound is not installed (scripts/setup.sh installs it)"
geo_prepare

start_meridiand "$GEO_DIR/meridian.yaml"
AUTH_PORT=$PORT

# ---------------------------------------------------------------- unbound

UB_DIR="$WORKDIR/unbound"
mkdir -p "$UB_DIR"
cat >"$UB_DIR/unbound.conf.in" <<EOF
server:
    interface: 127.0.0.1
    port: %PORT%
    do-ip6: no
    do-tcp: yes
    so-reuseport: no
    num-threads: 1
    username: ""
    chroot: ""
    directory: "$UB_DIR"
    pidfile: "$UB_DIR/unbound.pid"
    do-daemonize: no
    use-syslog: no
    logfile: ""
    verbosity: 1
    use-systemd: no
    access-control: 127.0.0.0/8 allow
    module-config: "subnetcache iterator"
    send-client-subnet: 127.0.0.1
    client-subnet-always-forward: yes
    max-client-subnet-ipv4: 24
    max-client-subnet-ipv6: 56
    do-not-query-localhost: no
    domain-insecure: "example.com."
    qname-minimisation: no
    prefetch: no
    serve-expired: no
    minimal-responses: yes
stub-zone:
    name: "example.com."
    stub-addr: 127.0.0.1@$AUTH_PORT
remote-control:
    control-enable: no
EOF
if command -v unbound-checkconf >/dev/null 2>&1; then
    sed -e 's/%PORT%/5353/' "$UB_DIR/unbound.conf.in" >"$UB_DIR/check.conf"
    unbound-checkconf "$UB_DIR/check.conf" >/dev/null ||
        hard_error "unbound-checkconf rejected $UB_DIR/check.conf:" \
            "$(unbound-checkconf "$UB_DIR/check.conf" 2>&1)"
fi
# Unbound takes its port from the config: write one per attempted port.
# shellcheck disable=SC2016 # $1, $2 and $3 are the inner shell's
t_start_daemon "$UB_DIR/unbound.log" sh -c \
    'sed -e "s/[%]PORT[%]/$1/" "$2" >"$2.$1" && exec "$3" -d -c "$2.$1"' \
    sh %PORT% "$UB_DIR/unbound.conf.in" "$UNBOUND"
UB_PORT=$T_PORT
UB_PID=$T_PID
t_expect_exit0 "$UB_PID" unbound
echo "# unbound listening on 127.0.0.1:$UB_PORT (pid $UB_PID)," \
    "stub example.com -> 127.0.0.1:$AUTH_PORT"

# ---------------------------------------------------------------- queries

# ask NAME TYPE [DIG-OPTIONS...]: asks Unbound, recursion desired.
ask() {
    QPORT=$UB_PORT q "$@" +rec
}

# answers: the addresses of the answer, sorted, space separated.
answers() {
    awk '$4 == "A" || $4 == "AAAA" { print $5 }' "$Q_DIR/answer" | LC_ALL=C sort | tr '\n' ' ' |
        sed 's/ $//'
}

# via_unbound DESCRIPTION NAME SUBNET|- WANT-ADDRESSES [WANT-SCOPE]: asks
# Unbound for NAME A (with +subnet=SUBNET unless "-"); the answer's
# addresses must be WANT-ADDRESSES (sorted, space separated) and, with
# WANT-SCOPE, the reply's ECS scope WANT-SCOPE.
via_unbound() {
    local desc=$1 name=$2 subnet=$3 want=$4 want_scope=${5:-}
    local -a opts=() show
    [ "$subnet" = - ] || opts=("+subnet=$subnet")
    ask "$name" A "${opts[@]}"
    mapfile -t show < <(q_show)
    local got
    got=$(answers)
    if [ "$Q_RCODE" = NOERROR ] && [ "$got" = "$want" ]; then
        pass "$desc: $name ${opts[*]:-(no ECS)} -> $got"
    else
        fail "$desc: $name ${opts[*]:-(no ECS)}" "expected: NOERROR, $want" \
            "got:      $Q_RCODE, ${got:-(no addresses)}" "${show[@]}"
    fi
    if [ -n "$want_scope" ]; then
        local echo
        echo=$(sed -n 's/^; CLIENT-SUBNET: //p' <<<"$Q_OUT")
        if [ "${echo##*/}" = "$want_scope" ] && [ -n "$echo" ]; then
            pass "$desc: Unbound returns scope /$want_scope ($echo)"
        else
            fail "$desc: the scope Unbound returns" "expected: /$want_scope" \
                "got:      ${echo:-no CLIENT-SUBNET option}" "${show[@]}"
        fi
    fi
}

WWW_EU="192.0.2.10 192.0.2.11"
WWW_US="198.51.100.10"
WWW_AP="203.0.113.10"

# Unbound has answered dig's probe (". SOA"); make sure it reaches the stub.
ok=no
for _ in $(seq 50); do
    ask static.example.com A
    if [ "$Q_RCODE" = NOERROR ]; then
        ok=yes
        break
    fi
    sleep 0.1
done
[ "$ok" = yes ] || hard_error "unbound does not resolve static.example.com through the stub: $Q_OUT"

echo "## static data through the resolver"
ask static.example.com A
assert_rcode NOERROR
# The probe above put the record in Unbound's cache: by now its TTL may
# have counted down from the zone's 3600.
answer=$(t_norm <"$Q_DIR/answer")
if [[ $answer =~ ^static\.example\.com\.\ ([0-9]+)\ IN\ A\ 192\.0\.2\.99$ ]] &&
    [ "${BASH_REMATCH[1]}" -le 3600 ] && [ "${BASH_REMATCH[1]}" -ge 3500 ]; then
    pass "static.example.com A via unbound: 192.0.2.99, TTL ${BASH_REMATCH[1]} (3600 counting down)"
else
    fail "static.example.com A via unbound" "expected static.example.com. 3500..3600 IN A 192.0.2.99" \
        "got: $answer"
fi

echo "## three continents (nearest: www)"
via_unbound "London" www.example.com 81.2.69.0/24 "$WWW_EU" 24
via_unbound "San Francisco" www.example.com 64.71.0.0/24 "$WWW_US" 18
via_unbound "Singapore" www.example.com 116.12.0.0/24 "$WWW_AP" 20
via_unbound "London, a /32 source (Unbound sends /24)" www.example.com 81.2.69.42 "$WWW_EU"
via_unbound "IPv6 2a02:c7f:100::/48 (SG in GB)" www.example.com 2a02:c7f:100::/48 "$WWW_AP" 48
via_unbound "IPv6 2600:1700::/32 (US CA)" www.example.com 2600:1700::/32 "$WWW_US" 28

echo "## three continents (map: api)"
via_unbound "US-CA: subdivision" api.example.com 64.71.0.0/24 "203.0.113.20"
via_unbound "DE: continent EU" api.example.com 85.10.0.0/24 "192.0.2.20"
via_unbound "JP: country" api.example.com 126.0.0.0/24 "198.51.100.20"

echo "## no ECS from the client: 127.0.0.1, the default order"
via_unbound "no ECS" www.example.com - "$WWW_US"

echo "## the subnet cache: one answer per subnet"
# quick succession, alternating continents: each must keep its own answer
# (already cached from above, or asked now)
via_unbound "Berlin (new subnet)" www.example.com 85.10.1.0/24 "$WWW_EU"
via_unbound "Tokyo (new subnet), right after" www.example.com 126.0.1.0/24 "$WWW_AP"
via_unbound "Berlin again" www.example.com 85.10.1.0/24 "$WWW_EU"
via_unbound "Singapore again" www.example.com 116.12.0.0/24 "$WWW_AP"
via_unbound "San Francisco again" www.example.com 64.71.0.0/24 "$WWW_US"
via_unbound "London again" www.example.com 81.2.69.0/24 "$WWW_EU"

# with the authoritative gone, only Unbound's cache can answer: each client
# must still get its own continent's answer
stop_pid "$MERIDIAND_PID" >"$WORKDIR/stop.rc" # not in $(): wait needs this shell
assert_eq 0 "$(cat "$WORKDIR/stop.rc")" "meridiand stopped, exit status"
if kill -0 "$MERIDIAND_PID" 2>/dev/null; then
    fail "meridiand is gone" "pid $MERIDIAND_PID still runs"
else
    pass "meridiand (pid $MERIDIAND_PID) is gone"
fi
via_unbound "from the cache, meridiand stopped: London" www.example.com 81.2.69.0/24 "$WWW_EU"
via_unbound "from the cache: Singapore" www.example.com 116.12.0.0/24 "$WWW_AP"
via_unbound "from the cache: San Francisco" www.example.com 64.71.0.0/24 "$WWW_US"
via_unbound "from the cache: another London /24 address" www.example.com 81.2.69.200 "$WWW_EU"
via_unbound "from the cache: IPv6 SG" www.example.com 2a02:c7f:100::/56 "$WWW_AP"

finish
