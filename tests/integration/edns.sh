#!/usr/bin/env bash
# edns.sh: EDNS0 (RFC 6891), NSID (RFC 5001), truncation and the header
# rules of a running meridiand.
#
# Covers: OPT echoed (and absent without EDNS); the client's UDP size
# honoured and capped by max_udp_size (1232 by default, 4096 and 512 via two
# more configs; sizes under 512 count as 512); TC over UDP dropping whole
# RRsets, then the full answer over TCP (dig's own retry and +tcp); BADVERS
# for EDNS version 1; FORMERR for two OPT records; the DO bit copied into
# the reply's OPT (RFC 3225 3) in every kind of answer, the other EDNS flag
# bits (Z) cleared, and the answer otherwise unchanged; NSID when
# configured and only when asked; Extended DNS Errors (RFC 8914) for
# REFUSED and NOTIMP; opcodes other than QUERY -> NOTIMP, with an OPT when
# the query had one; QDCOUNT 0 or 2 -> FORMERR; QR=1 packets and packets
# shorter than a header get no reply at all, and the server still answers
# afterwards.
#
# Data: data/basic/meridian.yaml (nsid test-ns1), data/edns/max4096.yaml,
# data/edns/max512.yaml. Raw packets are built by data/dnswire.py.
# IT_TARGET=nsd runs the default-config checks against NSD (to validate
# the test; NSD is given the same NSID).
. "$(dirname "$0")/lib.sh"
require_cmd dig "$PYTHON"

ON_NSD=no
if [ "${IT_TARGET:-meridiand}" = nsd ]; then
    ON_NSD=yes
    NSD_EXTRA='nsid: "ascii_test-ns1"' start_nsd "$DATA/basic/example.com.zone" \
        "$DATA/basic/example.net.zone"
    PORT=$NSD_PORT
else
    start_meridiand "$DATA/basic/meridian.yaml"
fi
BASE_PORT=$PORT

echo "## OPT echoed"
q www.example.com A
assert_rcode NOERROR
assert_out '^; EDNS: version: 0, flags:; udp: [0-9]+$' "the reply has an OPT, version 0"
q www.example.com A +noedns
assert_rcode NOERROR
assert_no_out 'OPT PSEUDOSECTION' "no OPT in the reply to a query without one"
ask_raw --q www.example.com/A --opt udp=1232
assert_raw '^opt owner=\. udp=(51[2-9]|5[2-9][0-9]|[6-9][0-9]{2}|1[01][0-9]{2}|12[0-2][0-9]|123[0-2]) version=0 ' \
    "OPT owner is the root and its size is within 512..1232"

echo "## the DO bit is copied, the Z bits are not"
q www.example.com A +dnssec
assert_rcode NOERROR
assert_flag aa
assert_answer "www.example.com. 3600 IN A 192.0.2.10" "www.example.com. 3600 IN A 192.0.2.11"
assert_out '^; EDNS: version: 0, flags: do; udp: 1232$' "DO copied into the OPT"
# every kind of answer: NXDOMAIN, NODATA, referral, CHAOS, REFUSED, TC, TCP
for args in "nothere.example.com A" "www.example.com MX" "www.deleg.example.com A" \
    "version.bind TXT CH" "www.example.org A" "big.example.com TXT +ignore" \
    "www.example.com A +tcp"; do
    # shellcheck disable=SC2086 # the words are separate arguments
    q $args +dnssec
    assert_out '^; EDNS: version: 0, flags: do; udp: 1232$' "DO copied ($Q_RCODE)"
done
q www.example.com A +ednsflags=0x7fff
assert_out '^; EDNS: version: 0, flags:; udp: 1232$' "the Z bits are not copied"
assert_no_out 'MBZ' "dig sees no must-be-zero bit set"
q www.example.com A +dnssec +ednsflags=0x7fff
assert_out '^; EDNS: version: 0, flags: do; udp: 1232$' "DO copied alone"

echo "## NSID (RFC 5001)"
q www.example.com A +nsid
assert_rcode NOERROR
assert_out '^; NSID: 74 65 73 74 2d 6e 73 31 \("test-ns1"\)$' "NSID test-ns1 returned"
q www.example.com A
assert_no_out 'NSID' "no NSID unless asked"

echo "## UDP size: default cap 1232"
# medium.example.com TXT is about 750 bytes, big.example.com TXT about 2800
ask_raw --q medium.example.com/TXT --opt udp=1232
assert_raw '^reply .* tc=0 .* an=10 ' "750-byte answer fits a 1232-byte buffer"
ask_raw --q medium.example.com/TXT --opt udp=4096
assert_raw '^reply .* tc=0 .* an=10 ' "and a 4096-byte buffer"
ask_raw --q medium.example.com/TXT --opt udp=512
assert_raw '^reply .* tc=1 .* an=0 ' "buffer 512: TC, the RRset dropped whole"
assert_raw '^reply .* size=([1-9]?[0-9]|[1-4][0-9]{2}|50[0-9]|51[0-2])$' "and at most 512 bytes"
ask_raw --q medium.example.com/TXT --opt udp=100
assert_raw '^reply .* tc=1 .* an=0 ' "buffer 100 counts as 512: TC"
ask_raw --q www.example.com/A --opt udp=100
assert_raw '^reply .* tc=0 .* an=2 ' "buffer 100 counts as 512: a small answer fits"
ask_raw --q medium.example.com/TXT
assert_raw '^reply .* tc=1 .* an=0 ' "no EDNS: 512 bytes, TC"
ask_raw --q big.example.com/TXT --opt udp=4096
assert_raw '^reply .* tc=1 .* an=0 ' "buffer 4096 capped at 1232: the 2800-byte answer is truncated"
assert_raw '^reply .* size=([0-9]{1,3}|1[01][0-9]{2}|12[0-2][0-9]|123[0-2])$' "and at most 1232 bytes"

echo "## TC then TCP"
q big.example.com TXT +bufsize=1232 +ignore
assert_rcode NOERROR
assert_flag tc
assert_count answer 0
q big.example.com TXT +bufsize=1232
assert_out 'Truncated, retrying in TCP mode' "dig retried over TCP"
assert_noflag tc
assert_count answer 40
assert_has answer 'big.example.com. 3600 IN TXT "big-40 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"'
q big.example.com TXT +tcp
assert_rcode NOERROR
assert_flag aa
assert_noflag tc
assert_count answer 40
ask_raw --tcp --q big.example.com/TXT
assert_raw '^reply .* tc=0 .* an=40 ' "TCP without EDNS: all 40 records"

echo "## BADVERS"
q www.example.com A +edns=1 +noednsnegotiation
assert_rcode BADVERS
assert_count answer 0
assert_out '^; EDNS: version: 0,' "BADVERS answered with an OPT of version 0"

echo "## malformed and unsupported queries"
ask_raw --q www.example.com/A --opt udp=1232 --opt udp=1232
assert_raw '^reply .* rcode=FORMERR ' "two OPT records: FORMERR"
assert_raw '^reply id=19794 qr=1 ' "FORMERR carries the query ID"

q www.example.com SOA +opcode=status
assert_rcode NOTIMP
if [ "$ON_NSD" = no ]; then # NSD answers other opcodes without an OPT
    assert_out '^; EDNS: version: 0, flags:; udp: 1232$' "NOTIMP carries an OPT (RFC 6891 7)"
    assert_no_out 'retry with' "dig does not take NOTIMP for missing EDNS"
    q www.example.com SOA +opcode=status +dnssec
    assert_out '^; EDNS: version: 0, flags: do; udp: 1232$' "DO copied (NOTIMP)"
fi
ask_raw --opcode 4 --q example.com/SOA
assert_raw '^reply .* qr=1 opcode=4 .* rcode=NOTIMP ' "NOTIFY: NOTIMP with the opcode echoed"
ask_raw --opcode 5 --q example.com/SOA
assert_raw '^reply .* qr=1 opcode=5 .* rcode=NOTIMP ' "UPDATE: NOTIMP"
ask_raw --opcode 1 --q example.com/SOA
assert_raw '^reply .* rcode=NOTIMP ' "IQUERY: NOTIMP"
ask_raw --opcode 15 --q example.com/SOA
assert_raw '^reply .* rcode=NOTIMP ' "opcode 15: NOTIMP"

ask_raw --noq
assert_raw '^reply .* rcode=FORMERR ' "QDCOUNT 0: FORMERR"
assert_no_raw '^opt ' "without an OPT in the query, none in the answer"
if [ "$ON_NSD" = no ]; then # NSD answers FORMERR without an OPT
    ask_raw --noq --opt udp=1232,do
    assert_raw '^reply .* rcode=FORMERR ' "QDCOUNT 0 with an OPT: FORMERR"
    assert_raw '^opt owner=\. udp=1232 version=0 do=1 ' "with our OPT, DO copied"
fi
ask_raw --q www.example.com/A --q www.example.net/A
assert_raw '^reply .* rcode=FORMERR ' "QDCOUNT 2: FORMERR"

ask_raw --timeout 0.5 --qr --q www.example.com/A
assert_raw '^reply none$' "QR=1: dropped silently"
for n in 0 1 11; do
    ask_raw --timeout 0.5 --q www.example.com/A --truncate "$n"
    assert_raw '^reply none$' "a $n-byte packet: dropped silently"
done
ask_raw --timeout 0.5 --q www.example.com/A --truncate 12
if grep -qE '^reply none$|rcode=FORMERR' <<<"$W_OUT"; then
    pass "header only, QDCOUNT 1: FORMERR or silence"
else
    fail "header only, QDCOUNT 1: expected FORMERR or silence" "$W_OUT"
fi
ask_raw --timeout 0.5 --q www.example.com/A --truncate 20
if grep -qE '^reply none$|rcode=FORMERR' <<<"$W_OUT"; then
    pass "question cut short: FORMERR or silence"
else
    fail "question cut short: expected FORMERR or silence" "$W_OUT"
fi
q www.example.com A
assert_rcode NOERROR "still answering after the bad packets"

if [ "$ON_NSD" = no ]; then
    echo "## max_udp_size 4096"
    start_meridiand "$DATA/edns/max4096.yaml"
    ask_raw --q big.example.com/TXT --opt udp=4096
    assert_raw '^reply .* tc=0 .* an=40 ' "the 2800-byte answer fits a 4096 cap and buffer"
    ask_raw --q big.example.com/TXT --opt udp=2000
    assert_raw '^reply .* tc=1 .* an=0 ' "but not the client's 2000-byte buffer"
    ask_raw --q big.example.com/TXT --opt udp=65535
    assert_raw '^reply .* tc=0 .* an=40 ' "client 65535, cap 4096: fits"
    q www.example.com A +nsid
    assert_no_out 'NSID' "no nsid configured: none returned"

    echo "## max_udp_size 512"
    start_meridiand "$DATA/edns/max512.yaml"
    ask_raw --q medium.example.com/TXT --opt udp=4096
    assert_raw '^reply .* tc=1 .* an=0 ' "cap 512: the 750-byte answer is truncated"
    assert_raw '^reply .* size=([1-9]?[0-9]|[1-4][0-9]{2}|50[0-9]|51[0-2])$' "and at most 512 bytes"
    ask_raw --q www.example.com/A --opt udp=4096
    assert_raw '^reply .* tc=0 .* an=2 ' "small answers still fit"
fi

PORT=$BASE_PORT
if [ "$ON_NSD" = no ]; then
    echo "## Extended DNS Errors (RFC 8914)"
    q www.example.org A
    assert_rcode REFUSED
    assert_out '^; EDE: 20 \(Not Authoritative\)$' "a name in no zone of ours: EDE 20"
    q www.example.org A +noedns
    assert_rcode REFUSED
    assert_no_out 'EDE|OPT PSEUDOSECTION' "no EDE (no OPT) without EDNS"
    q example.com SOA +opcode=status
    assert_out '^; EDE: 21 \(Not Supported\)$' "an opcode we do not implement: EDE 21"
    q www.example.com A HS
    assert_rcode REFUSED
    assert_out '^; EDE: 21 \(Not Supported\)$' "class HS: EDE 21"
    q www.example.com A
    assert_rcode NOERROR
    assert_no_out 'EDE' "no EDE in an ordinary answer"
    q nothere.example.com A
    assert_rcode NXDOMAIN
    assert_no_out 'EDE' "nor in a name error"
fi

q www.example.com A
assert_rcode NOERROR "the first server still answers"
finish
