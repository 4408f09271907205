#!/usr/bin/env bash
# explain.sh: `meridiand -c FILE --explain NAME ADDRESS[/PREFIX]`, the
# operator's view of one routing decision.
#
# Covers, on data/geo/meridian.yaml with a database built from geo.csv:
# nearest (three continents, IPv6, an IPv4-mapped address, a country-only
# row filled from the country table, a /26 nested in a /24); map at each
# level (subdivision, country, continent, default); inline and file
# network overrides (IPv4 and IPv6); the default order (prefix 0, and an
# address in no database network); the client line shows the address cut
# to its prefix; the name may have a final dot and any case. Each case
# checks the rule:, order:, scope: and answer: lines (and client: and
# location: where they say something the case is about). Errors: a name
# that is no service (unknown, or a static name) -> exit 1 with a message
# naming it; a bad address or prefix -> exit 2 with a message; a config
# that does not load -> exit 1.
#
# Data: data/geo/ (meridian.yaml, bad-dc.yaml, geo.csv; prepare.sh).
. "$(dirname "$0")/lib.sh"
# shellcheck source=data/geo/prepare.sh
. "$DATA/geo/prepare.sh"
require_meridiand
geo_prepare
CONF="$GEO_DIR/meridian.yaml"

WWW_EU="eu-west: 192.0.2.10 192.0.2.11 2001:db8::10 (TTL 300)"
WWW_US="us-east: 198.51.100.10 (TTL 300)"
WWW_AP="ap-south: 203.0.113.10 2001:db8::30 (TTL 300)"
API_EU="eu-west: 192.0.2.20 (TTL 60)"
API_US="us-east: 198.51.100.20 (TTL 60)"
API_AP="ap-south: 203.0.113.20 (TTL 60)"

# explain NAME ADDRESS [CONFIG]: runs --explain (bounded to 10 s); E_RC,
# E_OUT (stdout), E_ERR (stderr), E_CMD.
explain() {
    local conf=${3:-$CONF}
    E_CMD="meridiand -c $(basename "$conf") --explain $1 $2"
    E_RC=0
    E_OUT=$(timeout 10 "$MERIDIAND" -c "$conf" --explain "$1" "$2" 2>"$WORKDIR/explain.err") ||
        E_RC=$?
    E_ERR=$(cat "$WORKDIR/explain.err")
}

e_show() {
    echo "\$ $E_CMD (exit $E_RC)"
    sed 's/^/  /' <<<"$E_OUT"
    [ -z "$E_ERR" ] || sed 's/^/  stderr: /' <<<"$E_ERR"
}

# e_value KEY: the text after "KEY:" on its line, spaces squeezed.
e_value() {
    sed -n "s/^$1:[[:space:]]*//p" <<<"$E_OUT" | tr -s ' ' | sed 's/ $//'
}

# expect_line KEY WANT: the KEY: line says exactly WANT.
expect_line() {
    local got
    got=$(e_value "$1")
    if [ "$got" = "$2" ]; then
        pass "$E_CMD: $1: $got"
    else
        local -a show
        mapfile -t show < <(e_show)
        fail "$E_CMD: $1:" "expected: $2" "got:      $got" "${show[@]}"
    fi
}

# expect_match KEY ERE DESCRIPTION: the KEY: line matches ERE.
expect_match() {
    local got
    got=$(e_value "$1")
    if grep -qE -- "$2" <<<"$got"; then
        pass "$E_CMD: $1: $3"
    else
        local -a show
        mapfile -t show < <(e_show)
        fail "$E_CMD: $1: $3" "expected a match for: $2" "got:      $got" "${show[@]}"
    fi
}

expect_rc() {
    if [ "$E_RC" = "$1" ]; then
        pass "$E_CMD: exit $1"
    else
        local -a show
        mapfile -t show < <(e_show)
        fail "$E_CMD: exit status" "expected: $1" "got:      $E_RC" "${show[@]}"
    fi
}

# expect_err ERE DESCRIPTION: stderr matches.
expect_err() {
    if grep -qE -- "$1" <<<"$E_ERR"; then
        pass "$E_CMD: $2"
    else
        local -a show
        mapfile -t show < <(e_show)
        fail "$E_CMD: $2" "expected stderr to match: $1" "${show[@]}"
    fi
}

# expect_stderr TEXT: stderr is exactly TEXT (one line, nothing else: a
# sanitizer's report or a second message fails it).
expect_stderr() {
    if [ "$E_ERR" = "$1" ]; then
        pass "$E_CMD: stderr is exactly: $1"
    else
        local -a show
        mapfile -t show < <(e_show)
        fail "$E_CMD: stderr" "expected exactly: $1" "${show[@]}"
    fi
}

# decision RULE ORDER SCOPE ANSWER: the four lines of a decision, exit 0.
decision() {
    expect_rc 0
    expect_line rule "$1"
    expect_line order "$2"
    expect_line scope "$3"
    expect_line answer "$4"
}

echo "## nearest (www)"
explain www.example.com 81.2.69.0/24
expect_match service '^www\.example\.com\.? .*nearest' "names the service and its policy"
expect_line client "81.2.69.0/24"
expect_match location \
    'continent EU, country GB, subdivision ENG, 51\.5142 -0\.0931 .*database network /24' \
    "London from the database, network /24"
decision nearest "eu-west us-east ap-south" /24 "$WWW_EU"

explain www.example.com 64.71.0.1
expect_line client "64.71.0.1/32"
expect_match location 'continent NA, country US, subdivision CA, .*database network /18' \
    "San Francisco, network /18"
decision nearest "us-east eu-west ap-south" /18 "$WWW_US"

explain www.example.com 116.12.0.0/24
expect_match location 'continent AS, country SG, .*database network /20' "Singapore, network /20"
decision nearest "ap-south eu-west us-east" /20 "$WWW_AP"

explain www.example.com 2401:7400::1
expect_line client "2401:7400::1/128"
decision nearest "ap-south eu-west us-east" /32 "$WWW_AP"

explain www.example.com 2600:1700::/32
decision nearest "us-east eu-west ap-south" /28 "$WWW_US"

explain www.example.com ::ffff:81.2.69.1
expect_match location 'country GB.*database network /120' \
    "the IPv4 network in IPv6 bits (/24 = /120)"
decision nearest "eu-west us-east ap-south" /120 "$WWW_EU"

explain www.example.com 77.136.1.1
expect_match location 'continent EU, country FR.*country table' \
    "a country-only row: continent and coordinates from the country table"
decision nearest "eu-west us-east ap-south" /16 "$WWW_EU"

explain www.example.com 1.128.0.1
expect_match location 'continent OC, country AU, subdivision VIC' "Melbourne"
decision nearest "ap-south us-east eu-west" /11 "$WWW_AP"

explain www.example.com 198.18.7.130
decision nearest "ap-south eu-west us-east" /26 "$WWW_AP"
explain www.example.com 198.18.7.10
expect_match location 'country US.*database network /25' "the TX /24 split by the /26: /25"
decision nearest "us-east eu-west ap-south" /25 "$WWW_US"

echo "## map (api)"
explain api.example.com 64.71.0.1
expect_match service '^api\.example\.com\.? .*map' "names the service and its policy"
decision "subdivision US-CA" "ap-south us-east" /18 "$API_AP"
explain api.example.com 2600:1700::1
decision "subdivision US-CA" "ap-south us-east" /28 "$API_AP"
explain api.example.com 66.90.0.1
decision "country US" "us-east eu-west" /20 "$API_US"
explain api.example.com 81.2.69.1
decision "country GB" "eu-west us-east" /24 "$API_EU"
explain api.example.com 126.0.0.1
decision "country JP" "us-east ap-south" /10 "$API_US"
explain api.example.com 116.12.0.1
decision "continent AS" "ap-south" /20 "$API_AP"
explain api.example.com 85.10.0.1
decision "continent EU" "eu-west" /16 "$API_EU"
explain api.example.com 24.48.0.1
decision "continent NA" "us-east" /15 "$API_US"
explain api.example.com 77.136.0.1
decision "continent EU" "eu-west" /16 "$API_EU"
explain api.example.com 1.128.0.1
expect_match location 'continent OC' "Oceania, which has no rule"
decision default "us-east eu-west ap-south" /11 "$API_US"

echo "## network overrides (www)"
explain www.example.com 10.99.3.4
decision "network override 10.99.0.0/16" "ap-south" /16 "$WWW_AP"
explain www.example.com 77.88.9.1
decision "network override 77.88.9.0/24" "us-east eu-west" /24 "$WWW_US"
explain www.example.com 77.88.8.0/24
decision "network override 77.88.8.0/24" "ap-south us-east" /24 "$WWW_AP"
explain www.example.com 172.20.1.1
decision "network override 172.20.0.0/16" "us-east" /16 "$WWW_US"
explain www.example.com 2a02:c7f:2ff::1
decision "network override 2a02:c7f:200::/40" "ap-south" /40 "$WWW_AP"
# the NL network 77.88.0.0/16 holds the overrides: outside them the scope
# is the widest block with none (77.88.0.0/21)
explain www.example.com 77.88.1.1
expect_match location 'country NL.*database network /16' "NL from the database"
decision nearest "eu-west us-east ap-south" /21 "$WWW_EU"
explain api.example.com 77.88.8.1
decision "continent EU" "eu-west" /16 "$API_EU"

echo "## default"
explain www.example.com 0.0.0.0/0
expect_line client "0.0.0.0/0"
decision default "us-east eu-west ap-south" /0 "$WWW_US"
explain api.example.com ::/0
decision default "us-east eu-west ap-south" /0 "$API_US"
# 127.0.0.0/8 is an empty branch of the database's tree (126.0.0.0/10 is
# the nearest network)
explain www.example.com 127.0.0.1
expect_match location 'not in the database' "says the address is not in the database"
decision default "us-east eu-west ap-south" /8 "$WWW_US"
explain noecs.example.com 81.2.69.1
decision nearest "eu-west us-east ap-south" /24 "eu-west: 192.0.2.40 (TTL 120)"

echo "## the address is cut to its prefix; names are matched as DNS names"
explain www.example.com 81.2.69.77/24
expect_line client "81.2.69.0/24"
decision nearest "eu-west us-east ap-south" /24 "$WWW_EU"
explain www.example.com 2a02:c7f:100:ff::1/48
expect_line client "2a02:c7f:100::/48"
decision nearest "ap-south eu-west us-east" /48 "$WWW_AP"
explain www.example.com. 116.12.0.1
decision nearest "ap-south eu-west us-east" /20 "$WWW_AP"
explain WWW.Example.COM 116.12.0.1
decision nearest "ap-south eu-west us-east" /20 "$WWW_AP"

echo "## errors"
for name in nosuch.example.com static.example.com example.com; do
    explain "$name" 81.2.69.1
    expect_rc 1
    expect_err "$name" "the message names $name"
    if [ -z "$E_OUT" ]; then
        pass "$E_CMD: nothing on stdout"
    else
        fail "$E_CMD: expected nothing on stdout" "got: $E_OUT"
    fi
done
for addr in 300.1.2.3 81.2.69.0/33 2001:db8::/129 81.2.69.0/ 81.2.69.0/x banana \
    "" 81.2.69.0/-1 1.2.3; do
    explain www.example.com "$addr"
    expect_rc 2
    expect_stderr "meridiand: --explain: '$addr' is not an address or address/prefix"
done
E_CMD="meridiand -c meridian.yaml --explain www.example.com (no address)"
E_RC=0
E_OUT=$(timeout 10 "$MERIDIAND" -c "$CONF" --explain www.example.com 2>"$WORKDIR/explain.err") ||
    E_RC=$?
E_ERR=$(cat "$WORKDIR/explain.err")
expect_rc 2
expect_stderr "meridiand: --explain NAME needs an ADDRESS[/PREFIX] after it"
explain www.example.com 81.2.69.1 "$GEO_DIR/bad-dc.yaml"
expect_rc 1
expect_err 'bad-dc\.yaml:[0-9]+:' "the config's errors are printed as file:line"

finish
