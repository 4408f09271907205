#!/usr/bin/env bash
# svcb.sh: SVCB and HTTPS records in every presentation form RFC 9460
# allows (quoted and unquoted values, value-list escapes, every SvcParamKey,
# keys in any order, the appendix D test vectors) load to the wire bytes NSD
# loads from the same zone file.
#
# Data: data/svcb/svcb.example.zone. Each owner's RRset is asked of both
# servers with dig +unknownformat (RDATA as RFC 3597 hex, so the bytes are
# compared, not two printers' opinions); the answers must be identical and
# non-empty. The appendix D vectors are also checked against the RFC's
# bytes in tests/unit/test_zone_source.c.
. "$(dirname "$0")/lib.sh"
require_cmd dig nsd

D="$DATA/svcb"
ZONE="$D/svcb.example.zone"
start_nsd "svcb.example=$ZONE"
start_meridiand "$D/meridian.yaml"

# "owner TYPE" for every SVCB/HTTPS record in the zone file
mapfile -t asks < <(awk '$1 !~ /^;/ && ($2 == "SVCB" || $2 == "HTTPS") { print $1 ".svcb.example. " $2 }' "$ZONE")
[ "${#asks[@]}" -ge 30 ] || hard_error "expected at least 30 SVCB/HTTPS records, found ${#asks[@]}"

rdata() { # PORT NAME TYPE: the RDATA of the answer, hex, one line per record
    dig @127.0.0.1 -p "$1" +norec +time=2 +tries=1 +nocookie +unknownformat +short "$2" "$3" |
        sort
}

for ask in "${asks[@]}"; do
    read -r name type <<<"$ask"
    want=$(rdata "$NSD_PORT" "$name" "$type")
    got=$(rdata "$PORT" "$name" "$type")
    if [ -z "$want" ]; then
        fail "$name $type: NSD gave no answer (the test zone is wrong)"
    elif [ "$want" = "$got" ]; then
        pass "$name $type: $want"
    else
        fail "$name $type: meridiand's RDATA differs from NSD's" "expected: $want" \
            "got:      ${got:-(no answer)}"
    fi
done

finish
