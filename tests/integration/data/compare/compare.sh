# shellcheck shell=bash
# compare.sh: what compare_nsd.sh and compare_knot.sh share (source it
# after lib.sh): the zones, the query lists, asking a list, the verdict.
C="$DATA/compare"
CMP=("$PYTHON" "$C/dnscompare.py")
ZONES=("compare.example=$C/compare.example.zone"
    "compare-other.example=$C/compare-other.example.zone"
    "nested.compare.example=$C/nested.compare.example.zone")

# compare_queries: writes the query lists to $WORKDIR: queries.txt (all),
# and for the TCP and no-EDNS passes the types whose answers can grow
# large, queries-tcp.txt and queries-512.txt.
compare_queries() {
    "${CMP[@]}" queries "${ZONES[@]}" >"$WORKDIR/queries.txt"
    grep -E ' (TXT|ANY)$' "$WORKDIR/queries.txt" | grep -v '^zz-nx' >"$WORKDIR/queries-tcp.txt"
    grep -E ' (TXT|MX|NS|ANY|A)$' "$WORKDIR/queries.txt" >"$WORKDIR/queries-512.txt"
}

# batch PORT QUERYFILE OUTFILE [DIG-OPTIONS...]: one dig asks every query
# of the file. A wedged server would cost 4 s a query: the server must
# answer one query first, and the whole batch is bounded (BATCH_LIMIT s);
# either failure is reported, and the comparison then fails on the output.
BATCH_LIMIT=${BATCH_LIMIT:-240}
batch() {
    local port=$1 queries=$2 out=$3 rc=0
    shift 3
    if [[ "$(dig @127.0.0.1 -p "$port" +norec +time=2 +tries=1 . SOA)" != *'->>HEADER<<-'* ]]; then
        fail "the server on port $port answers before a batch from $(basename "$queries")"
        : >"$out"
        return 0
    fi
    timeout "$BATCH_LIMIT" dig @127.0.0.1 -p "$port" +norec +time=2 +tries=2 +nocookie \
        +noadflag +nottlunits +nomultiline +noall +comments +question +answer +authority \
        +additional "$@" -f "$queries" >"$out" 2>&1 || rc=$?
    if [ "$rc" = 124 ]; then
        fail "the batch from $(basename "$queries") to port $port finished within $BATCH_LIMIT s"
    fi
}

# compare_verdict PEER(nsd|knot) PASS QUERYFILE PEER_OUT MERIDIAND_OUT REF_OUT...:
# one check, passed when dnscompare.py finds only documented differences.
compare_verdict() {
    local peer=$1 name=$2 queries=$3 peer_out=$4 mer_out=$5 rc=0 out
    shift 5
    out=$(DNSCOMPARE_PEER=$peer "${CMP[@]}" compare "$queries" "$peer_out" "$mer_out" "$@") ||
        rc=$?
    if [ "$rc" -eq 0 ]; then
        pass "$name: $(grep '^compared' <<<"$out")"
        grep '^documented' <<<"$out" || true
    else
        local -a lines
        mapfile -t lines <<<"$out"
        fail "$name: $peer and meridiand disagree" "${lines[@]}"
    fi
}
