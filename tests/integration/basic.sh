#!/usr/bin/env bash
# basic.sh: the authoritative answers of a running meridiand, asked with dig.
#
# Covers: AA on authoritative data; NXDOMAIN and NODATA with the SOA in
# authority and TTL = min(SOA TTL, SOA MINIMUM) (both branches of the min);
# empty non-terminals; wildcards (RFC 4592: multi-label match, NODATA at a
# wildcard, the closest-encloser rule, an ENT blocking a wildcard, a
# wildcard CNAME, the literal "*" name); CNAME chains (in zone, into
# another served zone, out of every zone, to NXDOMAIN, loops and a 20-hop
# chain: bounded); DNAME synthesis (TTL of the DNAME); referrals (AA=0, NS
# in authority, glue in additional) for names at and below the cut; nested
# zones (the most specific wins); REFUSED outside every zone; additional
# A/AAAA for NS/MX/SRV targets; ANY answered with one RRset (RFC 8482); the
# case of the question preserved; name compression in every section; CHAOS
# TXT on (with configured strings) and off.
#
# Data: data/basic/ (meridian.yaml, nochaos.yaml and three zones).
# IT_TARGET=nsd runs the server-independent checks against NSD instead (to
# validate the test itself; CHAOS checks are then skipped).
. "$(dirname "$0")/lib.sh"
require_cmd dig "$PYTHON"

D="$DATA/basic"
SOA_COM="example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 2026112701 7200 3600 1209600 300"
SOA_NET="example.net. 60 IN SOA ns1.example.com. hostmaster.example.com. 2026112701 7200 3600 1209600 600"
SOA_CHILD="child.example.com. 120 IN SOA ns1.child.example.com. hostmaster.child.example.com. 1 7200 3600 1209600 120"
WWW_A1="www.example.com. 3600 IN A 192.0.2.10"
WWW_A2="www.example.com. 3600 IN A 192.0.2.11"

if [ "${IT_TARGET:-meridiand}" = nsd ]; then
    start_nsd "$D/example.com.zone" "$D/example.net.zone" "$D/child.example.com.zone"
    PORT=$NSD_PORT
else
    start_meridiand "$D/meridian.yaml"
fi

echo "## positive answers"
q www.example.com A
assert_rcode NOERROR
assert_flag aa
assert_noflag tc
assert_answer "$WWW_A1" "$WWW_A2"

q www.example.com AAAA
assert_rcode NOERROR
assert_flag aa
assert_answer "www.example.com. 3600 IN AAAA 2001:db8::10"

q example.com SOA
assert_flag aa
assert_answer "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2026112701 7200 3600 1209600 300"

echo "## NODATA and NXDOMAIN: SOA in authority, TTL = min(SOA TTL, MINIMUM)"
q www.example.com TXT
assert_rcode NOERROR
assert_flag aa
assert_answer
assert_authority "$SOA_COM"

q nothere.example.com A
assert_rcode NXDOMAIN
assert_flag aa
assert_answer
assert_authority "$SOA_COM"

q deep.below.nothere.example.com AAAA
assert_rcode NXDOMAIN
assert_authority "$SOA_COM"

q nothere.example.net A
assert_rcode NXDOMAIN
assert_flag aa
assert_authority "$SOA_NET"

q www.example.net MX
assert_rcode NOERROR
assert_answer
assert_authority "$SOA_NET"

echo "## empty non-terminals are NODATA"
q ent.example.com A
assert_rcode NOERROR
assert_flag aa
assert_answer
assert_authority "$SOA_COM"

q host.ent.example.com A
assert_answer "host.ent.example.com. 3600 IN A 192.0.2.40"

echo "## wildcards (RFC 4592)"
q foo.apps.example.com A
assert_rcode NOERROR
assert_flag aa
assert_answer "foo.apps.example.com. 3600 IN A 192.0.2.80"

q a.b.c.apps.example.com A
assert_rcode NOERROR
assert_answer "a.b.c.apps.example.com. 3600 IN A 192.0.2.80"

q foo.apps.example.com AAAA
assert_rcode NOERROR
assert_flag aa
assert_answer
assert_authority "$SOA_COM"

q explicit.apps.example.com A
assert_answer "explicit.apps.example.com. 3600 IN A 192.0.2.81"

q explicit.apps.example.com AAAA
assert_rcode NOERROR
assert_answer
assert_authority "$SOA_COM"

# closest encloser is explicit.apps, which has no wildcard child
q x.explicit.apps.example.com A
assert_rcode NXDOMAIN
assert_answer
assert_authority "$SOA_COM"

q '*.apps.example.com' A
assert_answer "*.apps.example.com. 3600 IN A 192.0.2.80"

q other.wild.example.com TXT
assert_rcode NOERROR
assert_answer 'other.wild.example.com. 3600 IN TXT "wildcard"'

# sub-ent.wild exists as an empty non-terminal: the wildcard must not apply
q sub-ent.wild.example.com A
assert_rcode NOERROR
assert_answer
assert_authority "$SOA_COM"

q x.sub-ent.wild.example.com A
assert_rcode NXDOMAIN
assert_answer
assert_authority "$SOA_COM"

q x.cn.example.com A
assert_rcode NOERROR
assert_flag aa
assert_answer "x.cn.example.com. 3600 IN CNAME www.example.com." "$WWW_A1" "$WWW_A2"

echo "## CNAME chains"
q web.example.com A
assert_rcode NOERROR
assert_flag aa
assert_answer "web.example.com. 3600 IN CNAME www.example.com." "$WWW_A1" "$WWW_A2"

q ftp.example.com A
assert_answer "ftp.example.com. 3600 IN CNAME web.example.com." \
    "web.example.com. 3600 IN CNAME www.example.com." "$WWW_A1" "$WWW_A2"

q web.example.com CNAME
assert_answer "web.example.com. 3600 IN CNAME www.example.com."

q web.example.com MX
assert_rcode NOERROR
assert_answer "web.example.com. 3600 IN CNAME www.example.com."
assert_authority "$SOA_COM"

q to-org.example.com A
assert_rcode NOERROR
assert_flag aa
assert_answer "to-org.example.com. 3600 IN CNAME www.example.org."
assert_authority

q to-nx.example.com A
assert_rcode NXDOMAIN
assert_flag aa
assert_answer "to-nx.example.com. 3600 IN CNAME nothere.example.com."
assert_authority "$SOA_COM"

# into another served zone
q to-net.example.com A
assert_rcode NOERROR
assert_flag aa
assert_answer "to-net.example.com. 3600 IN CNAME www.example.net." \
    "www.example.net. 300 IN A 203.0.113.10"

q api.example.net A
assert_answer "api.example.net. 300 IN CNAME www.example.net." \
    "www.example.net. 300 IN A 203.0.113.10"

# loops and long chains (docs/meridiand.8: at most 12 links, loops stop):
# NOERROR, and exactly the chain's records up to the loop or the limit.
check_chain() { # NAME FIRST-CNAME-TARGET RECORDS
    local name=$1 n
    q "$name" A
    assert_rcode NOERROR "$name A (a loop or a long chain)"
    n=$(grep -c . "$Q_DIR/answer" || true)
    if [ "$n" = "$3" ] && head -n1 "$Q_DIR/answer" | grep -q "^$name\. 3600 IN CNAME $2\.$"; then
        pass "$name A: the chain starts with the queried CNAME, $n records"
    else
        fail "$name A: answer should start with $name CNAME $2 and hold $3 records" \
            "got $n records:" "$Q_OUT"
    fi
}
check_chain loop1.example.com loop2.example.com 2 # loop1 -> loop2 -> loop1: stop
check_chain self.example.com self.example.com 1
check_chain c1.example.com c2.example.com 12 # c1 -> ... -> c20: 12 links
# every record of the long chain is the next hop
if awk 'BEGIN { ok = 1 }
        { want = "c" NR ".example.com."
          if ($1 != want) ok = 0
          if ($4 == "CNAME" && $5 != "c" (NR + 1) ".example.com.") ok = 0
          if ($4 == "A" && ($1 != "c20.example.com." || $5 != "192.0.2.120")) ok = 0 }
        END { exit !ok }' "$Q_DIR/answer"; then
    pass "c1.example.com A: the answer is an in-order prefix of c1 -> c20"
else
    fail "c1.example.com A: the answer is not an in-order prefix of c1 -> c20" "$Q_OUT"
fi

echo "## DNAME (RFC 6672)"
q www.old.example.com A
assert_rcode NOERROR
assert_flag aa
assert_answer "old.example.com. 3600 IN DNAME example.net." \
    "www.old.example.com. 3600 IN CNAME www.example.net." \
    "www.example.net. 300 IN A 203.0.113.10"

q a.b.old.example.com TXT
assert_rcode NXDOMAIN
assert_answer "old.example.com. 3600 IN DNAME example.net." \
    "a.b.old.example.com. 3600 IN CNAME a.b.example.net."
assert_authority "$SOA_NET"

q old.example.com DNAME
assert_answer "old.example.com. 3600 IN DNAME example.net."

q old.example.com TXT
assert_answer 'old.example.com. 3600 IN TXT "dname owner"'

q old.example.com A
assert_rcode NOERROR
assert_answer
assert_authority "$SOA_COM"

echo "## referrals"
DELEG_NS=("deleg.example.com. 3600 IN NS ns.deleg.example.com."
    "deleg.example.com. 3600 IN NS ns.example.org.")
DELEG_GLUE=("ns.deleg.example.com. 3600 IN A 192.0.2.99"
    "ns.deleg.example.com. 3600 IN AAAA 2001:db8::99")
for name in www.deleg.example.com deleg.example.com a.b.deleg.example.com ns.deleg.example.com; do
    for type in A NS; do
        q "$name" "$type"
        assert_rcode NOERROR
        assert_noflag aa
        assert_answer
        assert_authority "${DELEG_NS[@]}"
        assert_additional "${DELEG_GLUE[@]}"
    done
done

echo "## nested zones: the most specific zone answers"
q www.child.example.com A
assert_rcode NOERROR
assert_flag aa
assert_answer "www.child.example.com. 600 IN A 192.0.2.78"

q child.example.com SOA
assert_flag aa
assert_answer "child.example.com. 600 IN SOA ns1.child.example.com. hostmaster.child.example.com. 1 7200 3600 1209600 120"

q child.example.com NS
assert_flag aa
assert_answer "child.example.com. 600 IN NS ns1.child.example.com."

q nothere.child.example.com A
assert_rcode NXDOMAIN
assert_flag aa
assert_authority "$SOA_CHILD"

echo "## outside every zone: REFUSED"
for qq in "www.example.org A" ". SOA" "com NS" "example A" "xexample.com A"; do
    # shellcheck disable=SC2086
    q $qq
    assert_rcode REFUSED
    assert_noflag aa
    assert_answer
done

echo "## additional section: A/AAAA of in-zone NS, MX and SRV targets"
q example.com MX
assert_answer "example.com. 3600 IN MX 10 mail.example.com." "example.com. 3600 IN MX 20 mx.example.org."
# (NSD with minimal-responses leaves out MX and SRV targets)
[ "${IT_TARGET:-}" = nsd ] ||
    assert_has additional "mail.example.com. 3600 IN A 192.0.2.25" "mail.example.com. 3600 IN AAAA 2001:db8::25"

q example.com NS
assert_flag aa
assert_answer "example.com. 3600 IN NS ns1.example.com." "example.com. 3600 IN NS ns2.example.com."
assert_additional "ns1.example.com. 3600 IN A 192.0.2.53" "ns1.example.com. 3600 IN AAAA 2001:db8::53" \
    "ns2.example.com. 3600 IN A 198.51.100.53"

q _sip._udp.example.com SRV
assert_answer "_sip._udp.example.com. 3600 IN SRV 10 60 5060 sip.example.com."
[ "${IT_TARGET:-}" = nsd ] || assert_additional "sip.example.com. 3600 IN A 192.0.2.60"

echo "## ANY: one RRset (RFC 8482)"
# one_rrset: every answer record has the same owner and type, which is one
# of the given types
one_rrset() {
    local types=$1 n
    n=$(awk '{ print tolower($1), $3, $4 }' "$Q_DIR/answer" | sort -u | wc -l)
    if [ "$n" -eq 1 ] && grep -qwE "$types" <<<"$(awk '{ print $4 }' "$Q_DIR/answer" | head -n1)"; then
        pass "$(q_desc): exactly one RRset ($(awk '{ print $4 }' "$Q_DIR/answer" | head -n1))"
    else
        fail "$(q_desc): expected exactly one RRset of type $types" "$Q_OUT"
    fi
}
q www.example.com ANY
assert_rcode NOERROR
assert_flag aa
one_rrset "A|AAAA"
q example.com ANY
assert_rcode NOERROR
assert_flag aa
one_rrset "SOA|NS|MX|TXT"
q nothere.example.com ANY
assert_rcode NXDOMAIN
assert_authority "$SOA_COM"

echo "## the case of the query name is preserved"
q WwW.ExAmPlE.cOm A
assert_rcode NOERROR
assert_out '^;WwW\.ExAmPlE\.cOm\.[[:space:]]+IN[[:space:]]+A$' "question keeps the case WwW.ExAmPlE.cOm."
assert_answer "$WWW_A1" "$WWW_A2"
q FOO.Apps.Example.COM A
assert_out '^;FOO\.Apps\.Example\.COM\.[[:space:]]+IN[[:space:]]+A$' "question keeps the case FOO.Apps.Example.COM."
assert_answer "foo.apps.example.com. 3600 IN A 192.0.2.80"
q NoThErE.example.com A
assert_rcode NXDOMAIN
assert_out '^;NoThErE\.example\.com\.' "question keeps the case of an NXDOMAIN name"

echo "## name compression in every section"
ask_raw --q www.deleg.example.com/A
assert_raw '^reply .* an=0 ns=2 ar=2' "a referral with 2 NS and 2 glue"
assert_no_raw '^(authority|additional) .*owner_compressed=no' "every owner name is compressed"
assert_no_raw 'rdata_names_compressed=no' "NS targets are compressed"
ask_raw --q example.com/MX
assert_raw '^answer .* MX 10 mail.example.com. owner_compressed=yes rdata_names_compressed=yes' \
    "MX owner and exchange compressed"
assert_no_raw 'compressed=no' "every name compressed"
ask_raw --q nothere.example.com/A
assert_raw '^authority example.com. 300 IN SOA .* owner_compressed=yes rdata_names_compressed=yes' \
    "SOA owner, MNAME and RNAME compressed"

if [ "${IT_TARGET:-meridiand}" != nsd ]; then
    echo "## CHAOS: configured strings"
    q version.bind TXT CH
    assert_rcode NOERROR
    assert_out '^version\.bind\.[[:space:]]+[0-9]+[[:space:]]+CH[[:space:]]+TXT[[:space:]]+"meridian-test-version"$' \
        "version.bind CH TXT is the configured version"
    q id.server TXT CH
    assert_rcode NOERROR
    assert_out '^id\.server\.[[:space:]]+[0-9]+[[:space:]]+CH[[:space:]]+TXT[[:space:]]+"meridian-test-identity"$' \
        "id.server CH TXT is the configured identity"
    q hostname.bind TXT CH
    assert_rcode NOERROR
    assert_out '^hostname\.bind\.[[:space:]]+[0-9]+[[:space:]]+CH[[:space:]]+TXT[[:space:]]+"meridian-test-identity"$' \
        "hostname.bind CH TXT is the configured identity"
    q other.bind TXT CH
    assert_rcode REFUSED
    q version.bind A CH
    assert_rcode REFUSED
    q www.example.com A HS
    assert_rcode REFUSED
    assert_answer
    q www.example.com A CH
    assert_rcode REFUSED

    echo "## CHAOS off"
    start_meridiand "$D/nochaos.yaml"
    for name in version.bind id.server hostname.bind; do
        q "$name" TXT CH
        assert_rcode REFUSED
        assert_answer
    done
    q www.example.com A
    assert_rcode NOERROR
    assert_answer "$WWW_A1" "$WWW_A2"
fi

finish
