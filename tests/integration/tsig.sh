#!/usr/bin/env bash
# tsig.sh: queries signed with TSIG (RFC 8945) while no key is configured.
#
# Covers: a query signed with a key the server does not know gets NOTAUTH
# and an unsigned TSIG record with error BADKEY (RFC 8945 5.2.1, 5.3.2):
# the query's key name and algorithm, its time signed, fudge 300, MAC size
# 0, the query's ID as original ID; over UDP and TCP, with and without
# EDNS, for a name in our zones and one outside them (the key is checked
# before the question is answered). A TSIG record that is not the last
# record, or that cannot be read, is FORMERR (RFC 8945 5.1). The server
# still answers unsigned queries afterwards.
#
# Data: data/basic/meridian.yaml. Raw packets from data/dnswire.py.
. "$(dirname "$0")/lib.sh"
require_cmd dig "$PYTHON"
start_meridiand "$DATA/basic/meridian.yaml"

KEY=(-y hmac-sha256:somekey:c2VjcmV0c2VjcmV0)
# dig prints the reply's TSIG record as: owner ttl class TSIG algorithm
# time-signed fudge mac-size [mac] original-id error other-len
badkey_line() { # ID
    echo "^somekey\. 0 ANY TSIG hmac-sha256\. [0-9]+ 300 0 $1 BADKEY 0 ?$"
}

for transport in +notcp +tcp; do
    for edns in +edns +noedns; do
        echo "## unknown key, $transport $edns"
        q www.example.com A "${KEY[@]}" "$transport" "$edns"
        assert_rcode NOTAUTH
        assert_noflag aa
        assert_count answer 0
        assert_out 'tsig indicates error' "dig reads the TSIG error"
        id=$(sed -n 's/.*->>HEADER<<-.*id: \([0-9]*\).*/\1/p' <<<"$Q_OUT")
        tsig=$(grep -E '[[:space:]]ANY[[:space:]]+TSIG[[:space:]]' <<<"$Q_OUT" | tr -s ' \t' ' ')
        if grep -qE "$(badkey_line "$id")" <<<"$tsig"; then
            pass "TSIG record: BADKEY, fudge 300, MAC size 0, original ID $id"
        else
            fail "TSIG record" "expected: $(badkey_line "$id")" "got:      $tsig"
        fi
        if [ "$edns" = +edns ]; then
            assert_out '^; EDNS: version: 0, flags:; udp: 1232$' "with the OPT before it"
        else
            assert_no_out 'OPT PSEUDOSECTION' "no OPT without one in the query"
        fi
    done
done

echo "## time signed is the query's"
# dig signs with the current time; the answer carries that value back.
now=$(date +%s)
q www.example.com A "${KEY[@]}"
signed=$(grep -E '[[:space:]]ANY[[:space:]]+TSIG[[:space:]]' <<<"$Q_OUT" | awk 'NR == 1 {print $6}')
if [ -n "$signed" ] && [ "$signed" -ge $((now - 5)) ] && [ "$signed" -le $((now + 5)) ]; then
    pass "time signed $signed is the query's (now $now)"
else
    fail "time signed" "expected: within 5 s of $now" "got:      ${signed:-none}"
fi

echo "## unknown key, name outside our zones"
q www.example.org A "${KEY[@]}"
assert_rcode NOTAUTH "the key is checked before the name"
assert_out 'BADKEY' "BADKEY"

echo "## TSIG not last, or malformed: FORMERR"
# www.example.com A with ARCOUNT records after it, in hex for dnswire.py:
# a TSIG record (key k., hmac-sha256, no MAC) and an OPT.
packet() { # ARCOUNT RECORDS...
    local ar=$1
    shift
    printf '4d520000000100000000%04x' "$ar"
    printf '%s' 0377777707657861 6d706c6503636f6d00 00010001 "$@"
}
tsig() { # CLASS TTL: the record
    printf '016b00 00fa %04x %08x 001d' "$1" "$2" | tr -d ' ' # "\1k\0" TSIG, RDLENGTH 29
    # hmac-sha256., time signed, fudge 300, MAC size 0, original ID, error, other len
    printf '0b686d61632d73686132353600 00006a1b2c3d 012c 0000 4d52 0000 0000' | tr -d ' '
}
opt=0000291000000000000000
ask_raw --hex "$(packet 2 "$opt" "$(tsig 255 0)")"
assert_raw '^reply .* rcode=NOTAUTH ' "the OPT then the TSIG record: NOTAUTH (BADKEY)"
ask_raw --hex "$(packet 2 "$(tsig 255 0)" "$opt")"
assert_raw '^reply .* rcode=FORMERR ' "the TSIG record before the OPT: FORMERR"
assert_raw '^opt owner=\. ' "with the query's sound OPT echoed"
ask_raw --hex "$(packet 2 "$(tsig 255 0)" "$(tsig 255 0)")"
assert_raw '^reply .* rcode=FORMERR ' "two TSIG records: FORMERR"
ask_raw --hex "$(packet 1 "$(tsig 1 0)")"
assert_raw '^reply .* rcode=FORMERR ' "a TSIG record of class IN: FORMERR"
ask_raw --hex "$(packet 1 "$(tsig 255 1)")"
assert_raw '^reply .* rcode=FORMERR ' "a TSIG record with TTL 1: FORMERR"
full=$(packet 1 "$(tsig 255 0)")
ask_raw --hex "${full:0:$((${#full} - 8))}"
assert_raw '^reply .* rcode=FORMERR ' "a TSIG record cut short: FORMERR"

echo "## still answering"
q www.example.com A
assert_rcode NOERROR
assert_flag aa
finish
