#!/usr/bin/env bash
# referral.sh: sections an RFC requires to be complete are complete, beside
# NSD on the same zone (data/referral/):
#   - a delegation to 40 in-domain name servers: over TCP every one of its
#     80 glue records, as NSD gives; over UDP, where they do not fit, TC
#     (RFC 9471 3; NSD 4.6 leaves TC clear: docs/compat.md R1);
#   - in-domain glue comes before a sibling's optional glue;
#   - HTTPS answers carry the in-zone addresses of their target, "." being
#     the owner (RFC 9460 4.1; docs/compat.md A1);
#   - a geo service's CNAME pool answers HTTPS, TXT and MX with the CNAME
#     and the target's records (RFC 1034 3.6.2), an address pool NODATA.
. "$(dirname "$0")/lib.sh"
require_cmd dig nsd
D="$DATA/referral"
start_nsd "referral.test=$D/referral.test.zone"
start_meridiand "$D/meridian.yaml"

# glue_count: the A/AAAA records below many.referral.test in the last
# reply's additional section.
glue_count() {
    grep -ciE '^ns[0-9]+\.many\.referral\.test\. [0-9]+ IN (A|AAAA) ' "$Q_DIR/additional" || true
}

# same_as_nsd NAME TYPE [DIG-OPTIONS...]: meridiand's reply has NSD's
# rcode, flags and sections (as sets of records).
same_as_nsd() {
    local sec
    QPORT=$NSD_PORT q "$@"
    local nsd_rcode=$Q_RCODE nsd_flags=$Q_FLAGS
    for sec in answer authority additional; do
        cp "$Q_DIR/$sec" "$WORKDIR/nsd.$sec"
    done
    q "$@"
    assert_rcode "$nsd_rcode"
    assert_eq "$nsd_flags" "$Q_FLAGS" "$(q_desc): flags as NSD's"
    for sec in answer authority additional; do
        mapfile -t want <"$WORKDIR/nsd.$sec"
        assert_section "$sec" "${want[@]}"
    done
}

# 40 name servers over TCP: the whole NS RRset and all 80 glue records.
same_as_nsd www.many.referral.test A +tcp
assert_count authority 40
assert_eq 80 "$(glue_count)" "TCP referral: glue records"
assert_noflag tc
assert_noflag aa
same_as_nsd many.referral.test NS +tcp +noedns
assert_eq 80 "$(glue_count)" "TCP referral without EDNS: glue records"

# Over UDP they do not fit in 1232 bytes: the NS RRset whole, TC set.
q www.many.referral.test A +bufsize=1232 +ignore
assert_rcode NOERROR
assert_count authority 40
assert_flag tc
glue=$(glue_count)
if [ "$glue" -lt 80 ]; then
    pass "UDP 1232 referral: $glue of 80 glue records, TC"
else
    fail "UDP 1232 referral" "expected fewer than 80 glue records with TC" "got: $glue"
fi
q www.many.referral.test A +noedns +ignore
assert_flag tc

# A sibling listed first: its glue is optional, the in-domain one is not.
same_as_nsd www.mixed.referral.test A +bufsize=1232
assert_count additional 23
q www.mixed.referral.test A +bufsize=512 +ignore
assert_noflag tc
assert_has additional "ns.mixed.referral.test. 3600 IN A 198.51.100.2" \
    "ns.mixed.referral.test. 3600 IN AAAA 2001:db8:1::2"

# HTTPS: the target's addresses; "." is the owner.
q www.referral.test HTTPS
assert_answer 'www.referral.test. 3600 IN HTTPS 1 . alpn="h2"'
assert_additional "www.referral.test. 3600 IN A 192.0.2.80" \
    "www.referral.test. 3600 IN AAAA 2001:db8::80"
q alias.referral.test HTTPS
assert_answer "alias.referral.test. 3600 IN HTTPS 0 www.referral.test."
assert_additional "www.referral.test. 3600 IN A 192.0.2.80" \
    "www.referral.test. 3600 IN AAAA 2001:db8::80"

# The geo service: 192.0.2.0/24 is routed to the CNAME pool.
CNAME="geo.referral.test. 60 IN CNAME target.referral.test."
q geo.referral.test HTTPS +subnet=192.0.2.0/24
assert_rcode NOERROR
assert_flag aa
assert_answer "$CNAME" 'target.referral.test. 3600 IN HTTPS 1 . alpn="h2,h3"'
assert_additional "target.referral.test. 3600 IN A 192.0.2.90"
assert_out 'CLIENT-SUBNET: 192\.0\.2\.0/24/24' "ECS scope 24"
q geo.referral.test TXT +subnet=192.0.2.0/24
assert_answer "$CNAME" 'target.referral.test. 3600 IN TXT "target"'
q geo.referral.test MX +subnet=192.0.2.0/24
assert_answer "$CNAME" "target.referral.test. 3600 IN MX 10 mail.referral.test."
assert_additional "mail.referral.test. 3600 IN A 192.0.2.25"
q geo.referral.test AAAA +subnet=192.0.2.0/24
assert_answer "$CNAME"
assert_authority "referral.test. 300 IN SOA ns.referral.test. hostmaster.referral.test. 1 7200 3600 1209600 300"
q geo.referral.test ANY +subnet=192.0.2.0/24
assert_answer "$CNAME"
# Elsewhere the address pool: A, and NODATA with the SOA for the rest.
q geo.referral.test A +subnet=198.51.100.0/24
assert_answer "geo.referral.test. 60 IN A 198.51.100.10"
for type in HTTPS TXT AAAA; do
    q geo.referral.test "$type" +subnet=198.51.100.0/24
    assert_rcode NOERROR
    assert_answer
    assert_authority "referral.test. 300 IN SOA ns.referral.test. hostmaster.referral.test. 1 7200 3600 1209600 300"
done

finish
