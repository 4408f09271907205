#!/usr/bin/env bash
# compare_nsd.sh: meridiand and NSD, loaded with the same zones, must give
# the same answers.
#
# Zones (data/compare/, made by gen_compare_zone.py): compare.example (700+
# records: delegations with and without glue, wildcards including one below
# an empty non-terminal, CNAME chains into other served zones, out of every
# zone, into a delegation and in a loop, DNAMEs, MX/SRV/TXT/CAA/NAPTR/
# SSHFP/TLSA/PTR, ENTs, long TXT, an RRset too big for 1232 bytes),
# compare-other.example (apex wildcard) and nested.compare.example (a child
# served beside its parent).
#
# Queries (data/compare/dnscompare.py queries): every owner name and ENT x
# 16 types (A AAAA NS SOA MX TXT CNAME SRV CAA PTR NAPTR SSHFP TLSA DNAME
# DS ANY), plus a nonexistent child of each, names in other case and names
# outside every zone x 8 types. Asked with dig in batch mode: everything
# over UDP with EDNS 1232 (truncated replies kept as they are: +ignore), A
# TXT MX NS ANY over UDP without EDNS (512 bytes), TXT and ANY of the owner
# names over TCP; then the UDP list again from 4 clients at once (compared
# with NSD's sequential answers: load must not change an answer).
#
# Compared: rcode, the AA and TC flags, answer and authority as sets of
# records (owner names case-insensitive, TTL and RDATA exact); additional
# exactly for referrals. NSD runs with minimal-responses (no NS RRset in
# the authority of positive answers). Documented differences, the only
# ones allowed:
#   A1   additional section of non-referrals: meridiand adds the A/AAAA of
#        in-zone NS, MX and SRV targets, NSD (minimal-responses) only those
#        of NS targets. Required: NSD's additional is a subset of
#        meridiand's, and each extra record is an A/AAAA of a target named
#        in the answer or authority section.
#   ANY1 ANY (RFC 8482): each server answers with one RRset of its choice.
#        Required: same rcode and flags, meridiand's answer is exactly one
#        RRset, equal to NSD's answer for that type at that name.
# COMPARE_SHOW=N prints the first N differences (default 40).
. "$(dirname "$0")/lib.sh"
require_cmd dig nsd "$PYTHON"
. "$DATA/compare/compare.sh"

start_nsd "${ZONES[@]}"
start_meridiand "$C/meridian.yaml"
compare_queries

# ask NAME QUERYFILE [DIG-OPTIONS...]: asks both servers.
PASSES=()
ask_both() {
    local name=$1 queries=$2 start=$SECONDS
    shift 2
    batch "$NSD_PORT" "$queries" "$WORKDIR/nsd-$name.out" "$@"
    batch "$PORT" "$queries" "$WORKDIR/meridiand-$name.out" "$@"
    echo "# $name: $(wc -l <"$queries") queries asked in $((SECONDS - start)) s"
    PASSES+=("$name:$queries")
}

# The types whose answers grow large over TCP, everything over UDP with
# EDNS 1232 (truncated replies kept as they are: +ignore), a few types over
# UDP without EDNS (512 bytes).
ask_both tcp "$WORKDIR/queries-tcp.txt" +tcp
ask_both udp-edns1232 "$WORKDIR/queries.txt" +bufsize=1232 +ignore
ask_both udp-noedns "$WORKDIR/queries-512.txt" +noedns +ignore

# The same UDP questions from 4 clients at once: answers must not change
# under concurrent load (meridiand's workers share nothing per query).
start=$SECONDS
pids=()
for i in 1 2 3 4; do
    batch "$PORT" "$WORKDIR/queries.txt" "$WORKDIR/meridiand-parallel$i.out" +bufsize=1232 +ignore &
    pids+=("$!")
done
for p in "${pids[@]}"; do
    wait "$p" || true
done
for i in 1 2 3 4; do
    cp "$WORKDIR/nsd-udp-edns1232.out" "$WORKDIR/nsd-parallel$i.out"
    PASSES+=("parallel$i:$WORKDIR/queries.txt")
done
echo "# parallel: 4 x $(wc -l <"$WORKDIR/queries.txt") queries asked at once in $((SECONDS - start)) s"

# Every NSD output is a reference for the ANY rule (dig retries a truncated
# ANY over TCP by itself, so ANY answers are never truncated).
REFS=()
for p in "${PASSES[@]}"; do
    REFS+=("$WORKDIR/nsd-${p%%:*}.out")
done
for p in "${PASSES[@]}"; do
    name=${p%%:*}
    compare_verdict nsd "$name" "${p#*:}" "$WORKDIR/nsd-$name.out" \
        "$WORKDIR/meridiand-$name.out" "${REFS[@]}"
done

finish
