#!/usr/bin/env bash
# mtu.sh: IPv4 answers and the link's MTU, across a real link.
#
# meridiand sends IPv4 answers with DF set, sized by the interface's MTU and
# never by a path MTU from ICMP (IP_PMTUDISC_PROBE). An answer longer than
# the interface's MTU, which only a max_udp_size above it allows, must
# still arrive: it is sent again fragmented at the local MTU.
#
# Covers, from a client in its own network namespace behind a veth pair
# whose MTU is 1280: a small answer arrives with DF set (seen on the wire
# by a packet socket); a 2,800-byte answer (max_udp_size 4096, EDNS 4096)
# arrives whole over UDP, not truncated and not lost.
#
# Data: data/edns/max4096.yaml (basic zones; big.example.com TXT).
# Needs root (ip netns, veth).
. "$(dirname "$0")/lib.sh"
require_cmd dig ip "$PYTHON"
[ "$(id -u)" = 0 ] || skip "needs root for a network namespace"

# A per-run name and /30, so that runs side by side do not meet.
NS=mrd-mtu-$$
LINK=mrdm$(($$ % 100000))
NET=198.18.$(($$ % 200 + 20))
SERVER=$NET.1
CLIENT=$NET.2
# Deleting the namespace deletes the veth pair with it; either may be gone
# already, and under set -e a failure here would skip t_cleanup.
mtu_cleanup() {
    local rc=$?
    ip netns del "$NS" 2>/dev/null || true
    ip link del "${LINK}a" 2>/dev/null || true
    (exit "$rc")
    t_cleanup
}
trap mtu_cleanup EXIT

ip netns add "$NS" || hard_error "cannot create network namespace $NS"
ip link add "${LINK}a" type veth peer name "${LINK}b" || hard_error "cannot create a veth pair"
ip link set "${LINK}b" netns "$NS"
ip addr add "$SERVER/30" dev "${LINK}a"
ip link set "${LINK}a" mtu 1280 up
ip netns exec "$NS" ip addr add "$CLIENT/30" dev "${LINK}b"
ip netns exec "$NS" ip link set "${LINK}b" mtu 1280 up
ip netns exec "$NS" ip link set lo up

start_meridiand "$DATA/edns/max4096.yaml" --listen "$SERVER:%PORT%"

# nsq ARGS...: dig from the client's namespace to the server.
nsq() {
    ip netns exec "$NS" dig @"$SERVER" -p "$PORT" +time=2 +tries=1 +norec "$@" 2>&1 || true
}

echo "## a small answer leaves with DF set"
# One answer from the server's port, read off the client's end of the link:
# prints the IPv4 flags and the UDP length.
ip netns exec "$NS" "$PYTHON" - "$PORT" >"$WORKDIR/sniff.out" 2>&1 <<'PY' &
import socket, struct, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
s.settimeout(8)
print("listening", flush=True)
while True:
    pkt = s.recv(65535)
    ihl = (pkt[0] & 15) * 4
    if pkt[9] != 17 or struct.unpack("!H", pkt[ihl:ihl + 2])[0] != port:
        continue
    flags = struct.unpack("!H", pkt[6:8])[0]
    print("df=%d mf=%d udp_len=%d" % (flags >> 14 & 1, flags >> 13 & 1,
                                      struct.unpack("!H", pkt[ihl + 4:ihl + 6])[0]))
    break
PY
SNIFF=$!
# The query goes once the sniffer's socket exists (bounded: 5 s).
for _ in $(seq 100); do
    grep -q '^listening' "$WORKDIR/sniff.out" && break
    sleep 0.05
done
out=$(nsq www.example.com A)
wait "$SNIFF" || true
if grep -q 'status: NOERROR' <<<"$out"; then
    pass "www.example.com A answered across the link"
else
    fail "www.example.com A across the link: $out"
fi
if grep -q '^df=1 mf=0' "$WORKDIR/sniff.out"; then
    pass "the answer carries DF ($(cat "$WORKDIR/sniff.out"))"
else
    fail "expected an answer with DF set, saw: $(cat "$WORKDIR/sniff.out")"
fi

echo "## an answer longer than the link's MTU still arrives"
out=$(nsq big.example.com TXT +bufsize=4096 +ignore)
if grep -q 'status: NOERROR' <<<"$out" && ! grep -qE 'flags:[a-z ]* tc' <<<"$out" &&
    grep -q 'big-40 a' <<<"$out" && grep -qE 'MSG SIZE +rcvd: (2[0-9]{3}|[3-9][0-9]{3})' <<<"$out"; then
    pass "big.example.com TXT ($(grep -oE 'MSG SIZE +rcvd: [0-9]+' <<<"$out")) arrived whole over UDP"
else
    fail "big.example.com TXT over a 1280-byte link: $out"
fi

echo "## and the server goes on answering small ones"
out=$(nsq www.example.com A)
if grep -q 'status: NOERROR' <<<"$out"; then
    pass "www.example.com A after the large answer"
else
    fail "www.example.com A after the large answer: $out"
fi

finish
