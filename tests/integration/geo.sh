#!/usr/bin/env bash
# geo.sh: geo routing of a running meridiand, asked with dig +subnet (EDNS
# Client Subnet, RFC 7871) and hand-built packets.
#
# Covers, on a database built from data/geo/geo.csv with geoip/csv2mmdb:
# a nearest service (www) and a map service (api) answer clients on three
# continents (and Oceania) from three different data centers; every map
# level (subdivision beats country beats continent beats default); a
# country-only row filled from geoip/countries.csv; IPv6 client subnets;
# the echoed SCOPE PREFIX-LENGTH equal to the deciding database network's
# prefix (IPv4 and IPv6, a /26 inside a /24, a scope longer than the
# source) or override's; narrower when an override sits inside the
# database network; no ECS: the packet source 127.0.0.1, which no network
# holds, gets the default order and no ECS in the reply; inline `networks`
# and `networks_file` overrides win over the database, only for their own
# service; SOURCE 0: the default order, scope 0; `ecs: false`: ECS
# ignored, scope 0; scope 0 for static names and for NODATA of other
# types; AAAA; a pool without IPv6: NODATA; rotation of a two-address pool;
# ECS over TCP; an upper-case query name; NXDOMAIN (also below a service
# name) with scope 0; malformed ECS options -> FORMERR (bad family, prefix
# longer than the address, bits set past the prefix, address too long or
# too short, option shorter than 4 bytes), with a well-formed hand-built
# one as the control. Geo answers are also checked for AA and the TTL.
# Then MaxMind's GeoIP2-City-Test.mmdb (skipped with a message when
# $top_srcdir/../shared/geoip-testdata is absent): London 81.2.69.142 and
# its ::ffff:81.2.69.142 and 6to4 2002:5102:458e::1 forms -> eu-west with
# the scope in the family's bits. Config errors for `meridiand --check`
# (exit 1, file:line): a service outside every zone, on a name with static
# records, naming an unknown data center (pool and map); broken databases
# (invalid node count, broken double, broken pointers) -> exit 1 naming the
# file, no crash.
#
# Data: data/geo/ (meridian.yaml, maxmind.yaml, broken-db.yaml, bad-*.yaml,
# example.com.zone, nets.txt, geo.csv; prepare.sh builds the database).
. "$(dirname "$0")/lib.sh"
# shellcheck source=data/geo/prepare.sh
. "$DATA/geo/prepare.sh"
require_meridiand
require_cmd dig "$PYTHON"
geo_prepare
G=$GEO_DIR

SOA="example.com. 300 IN SOA ns1.example.com. hostmaster.example.com."
SOA="$SOA 2026112801 7200 3600 1209600 300"

# The pools of data/geo/meridian.yaml: POOL[service/dc/type] and TTL[service].
declare -A POOL TTL DC_OF
TTL[www]=300
TTL[api]=60
TTL[noecs]=120
POOL[www/eu-west/A]="192.0.2.10 192.0.2.11"
POOL[www/eu-west/AAAA]="2001:db8::10"
POOL[www/us-east/A]="198.51.100.10"
POOL[www/us-east/AAAA]=""
POOL[www/ap-south/A]="203.0.113.10"
POOL[www/ap-south/AAAA]="2001:db8::30"
for dc in eu-west us-east ap-south; do
    POOL[api/$dc/AAAA]=""
    POOL[noecs/$dc/AAAA]=""
done
POOL[api/eu-west/A]="192.0.2.20"
POOL[api/us-east/A]="198.51.100.20"
POOL[api/ap-south/A]="203.0.113.20"
POOL[noecs/eu-west/A]="192.0.2.40"
POOL[noecs/us-east/A]="198.51.100.40"
POOL[noecs/ap-south/A]="203.0.113.40"
for k in "${!POOL[@]}"; do
    for addr in ${POOL[$k]}; do
        dc=${k#*/}
        DC_OF[$addr]=${dc%/*}
    done
done

# pool_records SERVICE DC TYPE: the records that data center answers.
pool_records() {
    local svc=$1 dc=$2 type=$3 addr
    for addr in ${POOL[$svc/$dc/$type]}; do
        echo "$svc.example.com. ${TTL[$svc]} IN $type $addr"
    done
}

# answer_dcs: the data centers the answer's addresses belong to, "none"
# for an empty answer.
answer_dcs() {
    local dcs
    dcs=$(awk '{ print $5 }' "$Q_DIR/answer" | while read -r a; do
        echo "${DC_OF[$a]:-unknown($a)}"
    done | sort -u | tr '\n' ' ')
    dcs=${dcs% }
    echo "${dcs:-none}"
}

# ecs_echo: the reply's CLIENT-SUBNET "address/source/scope", or "none".
ecs_echo() {
    local e
    e=$(sed -n 's/^; CLIENT-SUBNET: //p' <<<"$Q_OUT")
    echo "${e:-none}"
}

# geo_case DESCRIPTION SERVICE TYPE SUBNET|- WANT-DC WANT-SCOPE|- [DIG-OPTIONS]: asks
# SERVICE.example.com (with +subnet=SUBNET unless "-"); the answer must be
# exactly WANT-DC's pool and the echoed scope WANT-SCOPE ("-": no ECS in
# the reply).
geo_case() {
    local desc=$1 svc=$2 type=$3 subnet=$4 want_dc=$5 want_scope=$6
    shift 6
    local -a opts=() show
    [ "$subnet" = - ] || opts=("+subnet=$subnet")
    opts+=("$@")
    q "$svc.example.com" "$type" "${opts[@]}"
    mapfile -t show < <(q_show)
    local want got got_dc echo want_echo
    want=$(pool_records "$svc" "$want_dc" "$type" | t_norm)
    got=$(t_norm <"$Q_DIR/answer")
    got_dc=$(answer_dcs)
    if [ "$Q_RCODE" = NOERROR ] && t_has_flag aa && [ -n "$want" ] && [ "$want" = "$got" ]; then
        got=$(tr '\n' ';' <<<"$got")
        pass "$desc: $svc $type ${opts[*]:-(no ECS)} -> $want_dc {${got%;}}"
    else
        fail "$desc: $svc $type ${opts[*]:-(no ECS)} -> $want_dc" \
            "expected: NOERROR, AA, data center $want_dc:" $'\t'"${want//$'\n'/$'\n'$'\t'}" \
            "got:      $Q_RCODE, flags [$Q_FLAGS], data center(s) $got_dc:" \
            $'\t'"${got//$'\n'/$'\n'$'\t'}" "${show[@]}"
    fi
    echo=$(ecs_echo)
    if [ "$want_scope" = - ]; then
        want_echo=none
    else
        want_echo="$(echo_addr "$subnet")/$want_scope"
    fi
    if [ "$echo" = "$want_echo" ]; then
        pass "$desc: ECS in the reply: $echo"
    else
        fail "$desc: ECS in the reply (address/source/scope)" "expected: $want_echo" \
            "got:      $echo" "${show[@]}"
    fi
}

# echo_addr SUBNET: the address/source dig sends (and prints in the echo)
# for +subnet=SUBNET. Write SUBNETs with no bits past the prefix and in
# the form inet_ntop prints, so that this needs no arithmetic.
echo_addr() {
    case $1 in
    */*) echo "$1" ;;
    *:*) echo "$1/128" ;;
    *) echo "$1/32" ;;
    esac
}

# nodata_case DESCRIPTION NAME TYPE SUBNET|-: NOERROR, AA, no answer, the
# SOA in authority, ECS echoed with scope 0 (when sent).
nodata_case() {
    local desc=$1 name=$2 type=$3 subnet=$4
    local -a opts=()
    [ "$subnet" = - ] || opts=("+subnet=$subnet")
    q "$name" "$type" "${opts[@]}"
    assert_rcode NOERROR "$desc"
    assert_flag aa "$desc"
    assert_answer
    assert_authority "$SOA"
    if [ "$subnet" != - ]; then
        assert_eq "$(echo_addr "$subnet")/0" "$(ecs_echo)" "$desc: ECS echoed with scope 0"
    fi
}

start_meridiand "$G/meridian.yaml"

echo "## nearest (www): three continents, IPv4"
geo_case "London (EU GB ENG, /24)" www A 81.2.69.0/24 eu-west 24
geo_case "San Francisco (NA US CA, /18)" www A 64.71.0.0/24 us-east 18
geo_case "Singapore (AS SG, /20)" www A 116.12.0.0/24 ap-south 20
geo_case "Berlin (EU DE, /16), source = network" www A 85.10.0.0/16 eu-west 16
geo_case "Melbourne (OC AU, /11): Singapore is nearest" www A 1.128.0.0/24 ap-south 11
geo_case "Tokyo (AS JP, /10)" www A 126.0.0.0/24 ap-south 10
geo_case "FR, country only: coordinates from the country table" www A 77.136.1.0/24 eu-west 16
geo_case "a /32 source inside the /24" www A 81.2.69.77 eu-west 24

echo "## nearest (www): IPv6 client subnets, scope = the CSV network's prefix"
geo_case "2600:1700::/28 (NA US CA)" www A 2600:1700:1::/48 us-east 28
geo_case "2401:7400::/32 (AS SG)" www A 2401:7400:1::/48 ap-south 32
geo_case "2401:7400::/32 asked with a /32 source" www A 2401:7400::/32 ap-south 32
# 2a02:c7f::/32 holds the SG /48 2a02:c7f:100::/48 (and nets.txt's /40
# override 2a02:c7f:200::/40): the GB part around 2a02:c7f:1:: is the
# database network 2a02:c7f::/40
geo_case "2a02:c7f:1:: (EU GB): the /32 split by a nested /48" www A 2a02:c7f:1::/48 eu-west 40
geo_case "2a02:c7f:100::/48 (AS SG) nested in the GB /32" www A 2a02:c7f:100::/56 ap-south 48

echo "## scope: a network deeper than /24"
geo_case "198.18.7.130 in the SG /26" www A 198.18.7.130 ap-south 26
geo_case "198.18.7.10 in the TX /24 outside the /26: network /25" www A 198.18.7.10 us-east 25
geo_case "source /24 over a split /24: scope /25, longer than the source (RFC 7871 7.2.1)" \
    www A 198.18.7.0/24 us-east 25

echo "## map (api): every level"
geo_case "US-CA: subdivision beats country US" api A 64.71.0.0/24 ap-south 18
geo_case "US-CA over IPv6: subdivision" api A 2600:1700::/32 ap-south 28
geo_case "US-TX: no subdivision rule, country US" api A 66.90.0.0/24 us-east 20
geo_case "GB: country" api A 81.2.69.0/24 eu-west 24
geo_case "JP: country beats continent AS" api A 126.0.0.0/24 us-east 10
geo_case "SG: continent AS" api A 116.12.0.0/24 ap-south 20
geo_case "CA (Canada, QC): continent NA, the subdivision key US-CA does not match QC" \
    api A 24.48.0.0/24 us-east 15
geo_case "DE: continent EU beats the default" api A 85.10.0.0/24 eu-west 16
geo_case "FR (country only, continent from the table): continent EU" api A 77.136.0.0/24 eu-west 16
geo_case "AU (OC has no rule): default" api A 1.128.0.0/24 us-east 11

echo "## no ECS: the source 127.0.0.1 is in no network, the default order"
geo_case "www without ECS" www A - us-east -
geo_case "api without ECS" api A - us-east -
q www.example.com A +noedns
assert_no_out 'OPT PSEUDOSECTION' "no OPT without EDNS"

echo "## network overrides win over the database"
geo_case "inline networks 10.99.0.0/16 (in no database network)" www A 10.99.3.0/24 ap-south 16
geo_case "inline networks 77.88.9.0/24 over the database's NL" www A 77.88.9.0/24 us-east 24
geo_case "networks_file 77.88.8.0/24 over the database's NL" www A 77.88.8.0/24 ap-south 24
geo_case "networks_file 77.88.8.0/24, a /32 source inside" www A 77.88.8.200 ap-south 24
geo_case "networks_file 172.20.0.0/16 (in no database network)" www A 172.20.5.0/24 us-east 16
geo_case "networks_file 2a02:c7f:200::/40 over the database's GB" www A 2a02:c7f:2ff::/48 \
    ap-south 40
# 77.88.0.0/16 (NL) holds the overrides 77.88.8.0/24 and 77.88.9.0/24: a
# resolver caching the NL answer for the whole /16 would hand it to them,
# so the scope is the widest block around 77.88.1.0 with no override: /21
geo_case "NL outside the overrides: scope narrowed to /21" www A 77.88.1.0/24 eu-west 21
geo_case "api has no overrides: 77.88.8.0/24 is NL, continent EU" api A 77.88.8.0/24 eu-west 16

echo "## SOURCE PREFIX-LENGTH 0: the default order, scope 0"
geo_case "IPv4 0.0.0.0/0" www A 0.0.0.0/0 us-east 0
geo_case "IPv6 ::/0" www A ::/0 us-east 0
geo_case "map service, 0.0.0.0/0" api A 0.0.0.0/0 us-east 0

echo "## ecs: false ignores the client subnet (scope 0)"
geo_case "noecs, London subnet: the source 127.0.0.1 decides" noecs A 81.2.69.0/24 us-east 0
geo_case "noecs, Singapore subnet" noecs A 116.12.0.0/24 us-east 0
geo_case "noecs without ECS" noecs A - us-east -

echo "## AAAA"
geo_case "London AAAA" www AAAA 81.2.69.0/24 eu-west 24
geo_case "Singapore AAAA over an IPv6 subnet" www AAAA 2401:7400:1::/48 ap-south 32
# us-east has no IPv6 address: nothing to give but NODATA
q www.example.com AAAA +subnet=64.71.0.0/24
assert_rcode NOERROR "us-east has no AAAA"
assert_answer
assert_authority "$SOA"

echo "## other types at a service name: NODATA, scope 0"
nodata_case "www TXT" www.example.com TXT 81.2.69.0/24
nodata_case "www MX" www.example.com MX 116.12.0.0/24
nodata_case "api SOA (not the apex)" api.example.com SOA 81.2.69.0/24
nodata_case "www TXT without ECS" www.example.com TXT -

echo "## TCP, case, NXDOMAIN"
geo_case "Singapore over TCP" www A 116.12.0.0/24 ap-south 20 +tcp
geo_case "no ECS over TCP: 127.0.0.1" www A - us-east - +tcp
q WWW.EXAMPLE.COM A +subnet=116.12.0.0/24
assert_rcode NOERROR "upper-case query name"
assert_answer "WWW.EXAMPLE.COM. 300 IN A 203.0.113.10"
q nothere.example.com A +subnet=81.2.69.0/24
assert_rcode NXDOMAIN
assert_eq "81.2.69.0/24/0" "$(ecs_echo)" "NXDOMAIN: ECS echoed with scope 0"
q foo.www.example.com A +subnet=81.2.69.0/24
assert_rcode NXDOMAIN "below a service name"

echo "## static names: scope 0"
q static.example.com A +subnet=81.2.69.0/24
assert_rcode NOERROR
assert_answer "static.example.com. 3600 IN A 192.0.2.99"
assert_eq "81.2.69.0/24/0" "$(ecs_echo)" "static name: ECS echoed with scope 0"
q example.com SOA +subnet=2401:7400::/32
assert_answer "${SOA/ 300 IN SOA/ 3600 IN SOA}"
assert_eq "2401:7400::/32/0" "$(ecs_echo)" "apex SOA: ECS echoed with scope 0"

echo "## rotation: both eu-west addresses come first"
firsts=""
for _ in $(seq 16); do
    q www.example.com A +subnet=81.2.69.0/24
    first=$(head -n 1 "$Q_DIR/answer" | awk '{ print $5 }')
    firsts+="$first $(grep -c . "$Q_DIR/answer" || true)"$'\n'
done
seen=$(awk '{ print $1 }' <<<"$firsts" | sed '/^$/d' | sort -u | tr '\n' ' ')
if [ "$seen" = "192.0.2.10 192.0.2.11 " ]; then
    pass "16 queries: first records {$seen}"
else
    fail "rotation over 16 queries (random IDs)" "expected both 192.0.2.10 and 192.0.2.11 first" \
        "got first records: $seen"
fi
counts=$(awk '{ print $2 }' <<<"$firsts" | sed '/^$/d' | sort -u | tr '\n' ' ')
assert_eq "2 " "$counts" "every rotated answer has both records"

echo "## malformed ECS: FORMERR"
# ecs_packet OPTION-DATA-HEX: a query for www.example.com A (ID 0x4d52) with
# an OPT holding one EDNS option 8 (ECS) with that data.
ecs_packet() {
    local data=$1 len=$((${#1} / 2))
    printf '4d52000000010000000000010377777707'
    printf '6578616d706c6503636f6d0000010001'
    printf '00002904d000000000%04x0008%04x%s' $((len + 4)) "$len" "$data"
}
ecs_raw() { # DESCRIPTION OPTION-DATA-HEX WANT-PATTERN
    ask_raw --hex "$(ecs_packet "$2")"
    assert_raw "$3" "$1"
}
ecs_raw "control: family 1, /24, 3 bytes 81.2.69: answered from eu-west" 00011800510245 \
    '^reply .* rcode=NOERROR .* an=2 '
ecs_raw "control, IPv6: family 2, /32, 4 bytes 2401:7400" 0002200024017400 \
    '^reply .* rcode=NOERROR .* an=1 '
ecs_raw "family 3 (not IPv4 or IPv6)" 00031800510245 '^reply .* rcode=FORMERR '
ecs_raw "family 0" 00001800510245 '^reply .* rcode=FORMERR '
ecs_raw "IPv4 source /33, longer than the address" 000121005102450000 '^reply .* rcode=FORMERR '
ecs_raw "IPv6 source /129, longer than the address" \
    "00028100$(printf '24017400%.0s' 1 2 3 4)00" '^reply .* rcode=FORMERR '
ecs_raw "IPv4 /20 with bits set past the prefix (81.2.69)" 00011400510245 \
    '^reply .* rcode=FORMERR '
ecs_raw "IPv4 /23 with the last bit of the third byte set" 00011700510245 \
    '^reply .* rcode=FORMERR '
ecs_raw "IPv6 /44 with bits set past the prefix" 00022c002a020c7f0001 '^reply .* rcode=FORMERR '
ecs_raw "IPv4 /24 with 4 address bytes (too long)" 0001180051024500 '^reply .* rcode=FORMERR '
ecs_raw "IPv4 /24 with 2 address bytes (too short)" 000118005102 '^reply .* rcode=FORMERR '
ecs_raw "IPv4 /0 with an address byte" 0001000051 '^reply .* rcode=FORMERR '
ecs_raw "IPv6 /64 with 16 address bytes" "00024000$(printf '24017400%.0s' 1 2 3 4)" \
    '^reply .* rcode=FORMERR '
ecs_raw "option of 2 bytes (shorter than FAMILY + prefixes)" 0001 '^reply .* rcode=FORMERR '
ecs_raw "empty option" "" '^reply .* rcode=FORMERR '
q www.example.com A +subnet=81.2.69.0/24
assert_rcode NOERROR "still answering after the malformed options"

echo "## MaxMind's GeoIP2-City-Test.mmdb"
MM="$top_srcdir/../shared/geoip-testdata"
if [ ! -f "$MM/GeoIP2-City-Test.mmdb" ]; then
    skip_checks 18 "no $MM/GeoIP2-City-Test.mmdb (9 cases, 2 checks each)"
else
    ln -sf "$MM/GeoIP2-City-Test.mmdb" "$G/maxmind.mmdb"
    start_meridiand "$G/maxmind.yaml"
    TTL[www]=300
    POOL[www/eu-west/A]="192.0.2.10"
    POOL[www/eu-west/AAAA]="2001:db8::10"
    geo_case "81.2.69.142 (London, network /31)" www A 81.2.69.142 eu-west 31
    geo_case "81.2.69.142/31 source" www A 81.2.69.142/31 eu-west 31
    geo_case "::ffff:81.2.69.142 (IPv4-mapped, /31 = /127)" www A ::ffff:81.2.69.142 eu-west 127
    geo_case "2002:5102:458e::/48 (6to4, /31 = /47)" www A 2002:5102:458e::/48 eu-west 47
    geo_case "2002:5102:458e::1 asked as a /128" www AAAA 2002:5102:458e::1 eu-west 47
    geo_case "216.160.83.56 (Milton, US WA, /29)" www A 216.160.83.56 us-east 29
    geo_case "175.16.199.0/24 (Changchun, CN)" www A 175.16.199.0/24 ap-south 24
    geo_case "2001:480:10::/48 (San Diego, /48)" www A 2001:480:10::/48 us-east 48
    geo_case "no ECS: 127.0.0.1, not found: default" www A - us-east -
fi

echo "## config errors: meridiand --check"
# run_check CONFIG: R_RC, R_OUT (stdout and stderr), bounded to 10 s.
run_check() { run_meridiand --check -c "$1"; }
# line_of FILE PATTERN: the number of the first line of FILE matching.
line_of() { grep -n -m1 -- "$2" "$1" | cut -d: -f1; }

run_check "$G/meridian.yaml"
expect_rc 0
run_check "$G/bad-outside.yaml"
expect_rc 1
line=$(line_of "$G/bad-outside.yaml" 'www.example.org:')
expect_output "bad-outside\\.yaml:$line:([0-9]+:)? .*www\\.example\\.org" \
    "the service outside every zone is named with file:line"
run_check "$G/bad-static.yaml"
expect_rc 1
line=$(line_of "$G/bad-static.yaml" '^  static.example.com:')
expect_output "bad-static\\.yaml:$line:([0-9]+:)? .*static\\.example\\.com" \
    "the clash with static records is named with file:line"
run_check "$G/bad-dc.yaml"
expect_rc 1
expect_output "bad-dc\\.yaml:$(line_of "$G/bad-dc.yaml" 'mars:'):([0-9]+:)? .*mars" \
    "the unknown data center in a pool is named with file:line"
expect_output "bad-dc\\.yaml:$(line_of "$G/bad-dc.yaml" 'moon'):([0-9]+:)? .*moon" \
    "the unknown data center in a map rule is named with file:line"

for db in GeoIP2-City-Test-Invalid-Node-Count GeoIP2-City-Test-Broken-Double-Format \
    MaxMind-DB-test-broken-pointers-24; do
    if [ ! -f "$MM/$db.mmdb" ]; then
        skip_checks 3 "no $MM/$db.mmdb"
        continue
    fi
    ln -sf "$MM/$db.mmdb" "$G/broken.mmdb"
    run_check "$G/broken-db.yaml"
    R_CMD="$R_CMD ($db)"
    expect_rc 1
    expect_output 'broken\.mmdb.*: .*[a-z]' "the database is named with what is wrong"
    # and starting the daemon with it fails the same way
    R_RC=0
    R_OUT=$(timeout 10 "$MERIDIAND" -c "$G/broken-db.yaml" \
        --listen "127.0.0.1:$(free_port)" 2>&1) || R_RC=$?
    R_CMD="meridiand -c broken-db.yaml ($db)"
    expect_rc 1
done

finish
