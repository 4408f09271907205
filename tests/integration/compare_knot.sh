#!/usr/bin/env bash
# compare_knot.sh: meridiand beside Knot DNS on the same zones; every
# difference must be one docs/compat.md lists (its ids are used below).
#
# Zones and queries: those of compare_nsd.sh (data/compare/), asked over
# UDP with EDNS 1232, over UDP without EDNS and over TCP, compared by
# dnscompare.py with DNSCOMPARE_PEER=knot: rcode, AA/TC, answer and
# authority; the differences allowed are A1 (meridiand's additional A/AAAA
# of MX/SRV targets) and K1 (Knot stops a CNAME/DNAME chain at the edge of
# the zone it starts in, meridiand follows it into another zone it serves).
#
# Then the protocol: what both must do alike (DO copied into every OPT,
# EDE 20 for a name in no zone, NOTIMP and FORMERR answered with an OPT,
# BADVERS, the BADKEY answer to a signed query), and each documented
# difference asked of both servers, so that the list in docs/compat.md
# stays true on both sides: KD1 CD copied, KD2 NOTIFY and UPDATE, KD3
# QDCOUNT 2, KD4 TYPE0, KD5 a signed query for a name in no zone, KD6
# AXFR, KD7 NSID by default, KD8 the client subnet echoed, KD9 AA on
# CHAOS answers.
. "$(dirname "$0")/lib.sh"
require_cmd dig knotd "$PYTHON"
. "$DATA/compare/compare.sh"

# start_knot ORIGIN=ZONEFILE...: our own knotd on a free loopback port,
# its state in a temp dir. Sets KNOT_PORT.
start_knot() {
    local dir spec conf
    T_N=$((T_N + 1))
    dir="$WORKDIR/knot.$T_N"
    mkdir -p "$dir/db"
    conf="$dir/knot.conf.in"
    cat >"$conf" <<EOF
server:
    rundir: "$dir"
    listen: 127.0.0.1@%PORT%
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "$dir/db"
template:
  - id: default
    storage: "$dir"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
EOF
    for spec in "$@"; do
        cp "${spec#*=}" "$dir/"
        printf '  - domain: %s\n    file: %s\n' "${spec%%=*}" "$(basename "${spec#*=}")" >>"$conf"
    done
    # knotd takes its port from the config: one config per attempted port
    # shellcheck disable=SC2016 # $1 and $2 are the inner shell's
    t_start_daemon "$dir/knot.log" \
        sh -c 'sed -e "s/[%]PORT[%]/$1/" "$2" >"$2.$1" && exec knotd -c "$2.$1"' sh %PORT% "$conf"
    KNOT_PORT=$T_PORT
    echo "# knotd listening on 127.0.0.1:$KNOT_PORT (pid $T_PID)"
}

start_knot "${ZONES[@]}"
start_meridiand "$C/meridian.yaml"
MER_PORT=$PORT

compare_queries
PASSES=("tcp:queries-tcp.txt:+tcp" "udp-edns1232:queries.txt:+bufsize=1232 +ignore"
    "udp-noedns:queries-512.txt:+noedns +ignore")
REFS=()
for p in "${PASSES[@]}"; do
    IFS=: read -r name file opts <<<"$p"
    # shellcheck disable=SC2086 # opts are separate words
    batch "$KNOT_PORT" "$WORKDIR/$file" "$WORKDIR/knot-$name.out" $opts
    # shellcheck disable=SC2086
    batch "$MER_PORT" "$WORKDIR/$file" "$WORKDIR/meridiand-$name.out" $opts
    REFS+=("$WORKDIR/knot-$name.out")
done
for p in "${PASSES[@]}"; do
    IFS=: read -r name file _ <<<"$p"
    compare_verdict knot "$name" "$WORKDIR/$file" "$WORKDIR/knot-$name.out" \
        "$WORKDIR/meridiand-$name.out" "${REFS[@]}"
done

# ---------------------------------------------------------------- protocol

# both NAME ARGS...: asks both servers with dig; K_OUT and M_OUT.
both() {
    QPORT=$KNOT_PORT q "$@"
    K_OUT=$Q_OUT K_RCODE=$Q_RCODE K_FLAGS=$Q_FLAGS
    QPORT=$MER_PORT q "$@"
    M_OUT=$Q_OUT M_RCODE=$Q_RCODE M_FLAGS=$Q_FLAGS
}
# same WHAT PATTERN: a line matching PATTERN in both replies.
same() {
    local k=no m=no
    grep -qE -- "$2" <<<"$K_OUT" && k=yes
    grep -qE -- "$2" <<<"$M_OUT" && m=yes
    if [ "$k$m" = yesyes ]; then
        pass "both: $1"
    else
        fail "both: $1 (/$2/: knot $k, meridiand $m)" "knot:" "$K_OUT" "meridiand:" "$M_OUT"
    fi
}
# differ ID WHAT KNOT-VALUE MERIDIAN-VALUE GOT-KNOT GOT-MERIDIAN
differ() {
    if [ "$5" = "$3" ] && [ "$6" = "$4" ]; then
        pass "$1 $2: knot $3, meridiand $4 (documented)"
    else
        fail "$1 $2" "expected: knot $3, meridiand $4" "got:      knot $5, meridiand $6"
    fi
}
# flag FLAG FLAGS: set or clear. seen PATTERN TEXT WORD: WORD or none.
flag() { [[ " $2 " == *" $1 "* ]] && echo set || echo clear; }
seen() { grep -qE -- "$1" <<<"$2" && echo "$3" || echo none; }
edns_do='^; EDNS: version: 0, flags: do; udp: 1232$'

echo "## alike"
for args in "host001.compare.example A" "nothere.compare.example A" "www.example.org A" \
    "compare.example SOA +opcode=status" "compare.example SOA +edns=1 +noednsneg"; do
    # shellcheck disable=SC2086 # separate words
    both $args +dnssec
    same "$args: DO copied ($M_RCODE)" "$edns_do"
done
both www.example.org A
same "REFUSED with EDE 20" '^; EDE: 20 \(Not Authoritative\)$'
both compare.example SOA +opcode=status
same "NOTIMP with an OPT" '^; EDNS: version: 0, flags:; udp: 1232$'
for port in "$KNOT_PORT" "$MER_PORT"; do
    QPORT=$port ask_raw --noq --opt udp=1232,do
    assert_raw '^reply .* rcode=FORMERR .* ar=1 ' "QDCOUNT 0: FORMERR with an OPT ($port)"
    assert_raw '^opt owner=\. udp=1232 version=0 do=1 ' "DO copied ($port)"
done
KEY=(-y hmac-sha256:somekey:c2VjcmV0c2VjcmV0)
# the TSIG record as dig prints it, time signed and original ID left out
tsig_line() {
    grep -E '[[:space:]]ANY[[:space:]]+TSIG[[:space:]]' | tr -s ' \t' ' ' |
        awk '{$6 = "TIME"; $9 = "ID"; print}'
}
for t in +notcp +tcp; do
    both compare.example SOA "${KEY[@]}" "$t"
    k=$(tsig_line <<<"$K_OUT")
    m=$(tsig_line <<<"$M_OUT")
    if [ "$K_RCODE/$M_RCODE" = NOTAUTH/NOTAUTH ] && [ -n "$k" ] && [ "$k" = "$m" ]; then
        pass "both: an unknown key $t: NOTAUTH, the same TSIG record ($m)"
    else
        fail "both: an unknown key $t" "knot:      $K_RCODE $k" "meridiand: $M_RCODE $m"
    fi
done

echo "## documented differences"
both host001.compare.example A +cdflag
differ KD1 "CD flag in the answer" clear set "$(flag cd "$K_FLAGS")" "$(flag cd "$M_FLAGS")"
both compare.example SOA +opcode=notify
differ KD2 "NOTIFY" NOTAUTH NOTIMP "$K_RCODE" "$M_RCODE"
both compare.example SOA +opcode=update
differ KD2 "UPDATE" NOTAUTH NOTIMP "$K_RCODE" "$M_RCODE"
rc=()
for port in "$KNOT_PORT" "$MER_PORT"; do
    QPORT=$port ask_raw --timeout 1 --q compare.example/SOA --q compare.example/A
    rc+=("$(sed -n 's/^reply .* rcode=\([A-Z]*\) .*/\1/p; s/^reply none$/none/p' <<<"$W_OUT")")
done
differ KD3 "QDCOUNT 2" none FORMERR "${rc[0]}" "${rc[1]}"
both compare.example TYPE0
differ KD4 "QTYPE 0" NOTIMP NOERROR "$K_RCODE" "$M_RCODE"
both www.example.org A "${KEY[@]}"
differ KD5 "signed query, name in no zone" REFUSED NOTAUTH "$K_RCODE" "$M_RCODE"
rc=()
for port in "$KNOT_PORT" "$MER_PORT"; do
    QPORT=$port ask_raw --tcp --q compare.example/AXFR
    rc+=("$(sed -n 's/^reply .* rcode=\([A-Z]*\) .*/\1/p' <<<"$W_OUT")")
done
differ KD6 "AXFR, no transfer allowed" NOTAUTH REFUSED "${rc[0]}" "${rc[1]}"
both compare.example SOA +nsid
differ KD7 "NSID unless configured" sent none "$(seen '^; NSID:' "$K_OUT" sent)" \
    "$(seen '^; NSID:' "$M_OUT" sent)"
both host001.compare.example A +subnet=192.0.2.0/24
ecs='^; CLIENT-SUBNET: 192\.0\.2\.0/24/0$'
differ KD8 "client subnet of a static answer" none "echoed, scope 0" \
    "$(seen CLIENT-SUBNET "$K_OUT" echoed)" "$(seen "$ecs" "$M_OUT" "echoed, scope 0")"
start_meridiand "$DATA/basic/meridian.yaml" # CHAOS answers on
MER_PORT=$PORT
both version.bind TXT CH
differ KD9 "AA on version.bind" clear set "$(flag aa "$K_FLAGS")" "$(flag aa "$M_FLAGS")"
finish
