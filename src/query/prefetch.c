#include "config.h"

#include "query/query.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "dns/wire.h"

/* A batch is prefetched in parts of this many queries. */
#define PREFETCH_MAX 64

/* Whether an IPv4 client subnet option with n address bytes ends at end:
 * its code and length (one word), its family, and a source prefix that
 * needs n bytes. */
static inline bool subnet_v4_ends(const uint8_t *end, unsigned n)
{
    const uint8_t *o = end - 8 - n;
    return dns_get32(o) == ((uint32_t)DNS_EDNS_CLIENT_SUBNET << 16 | (4 + n)) &&
           dns_get16(o + 4) == 1 && (o[6] + 7u) / 8u == n;
}

/* The IPv4 address of the client subnet option that ends pkt, if one
 * does. A few compares, as this runs for every query: the packet is not
 * parsed, so a wrong guess costs a useless memory read, never a wrong
 * answer. */
static bool subnet_v4_at_end(const uint8_t *pkt, size_t len, uint32_t *addr)
{
    if (len < DNS_HEADER_SIZE + 12)
        return false;
    const uint8_t *end = pkt + len;
    unsigned n;
    if (subnet_v4_ends(end, 3)) /* the 24 bits RFC 7871 11.1 has resolvers send */
        n = 3;
    else if (subnet_v4_ends(end, 4))
        n = 4;
    else if (subnet_v4_ends(end, 2))
        n = 2;
    else if (subnet_v4_ends(end, 1))
        n = 1;
    else
        return false;
    *addr = dns_get32(end - 4) << (32 - 8 * n); /* the scope byte, if read, falls off */
    return true;
}

static inline bool client_v4_guess(const uint8_t *pkt, size_t len,
                                   const struct sockaddr_storage *from, uint32_t *addr)
{
    if (subnet_v4_at_end(pkt, len, addr))
        return true;
    if (from->ss_family != AF_INET)
        return false;
    *addr = ntohl(((const struct sockaddr_in *)(const void *)from)->sin_addr.s_addr);
    return true;
}

bool query_client_v4_guess(const uint8_t *pkt, size_t len, const struct sockaddr_storage *from,
                           uint32_t *addr)
{
    return client_v4_guess(pkt, len, from, addr);
}

void query_prefetch(const query_config_t *cfg, const uint8_t *const *pkts, const uint16_t *lens,
                    const struct sockaddr_storage *from, unsigned n)
{
    const geo_db_t *geo = cfg->geo;
    uint32_t addr[PREFETCH_MAX];

    if (geo == NULL)
        return;
    for (unsigned first = 0; first < n; first += PREFETCH_MAX) {
        unsigned end = n - first < PREFETCH_MAX ? n : first + PREFETCH_MAX, k = 0;
        /* Two passes, so that each read has the other queries' time to
         * arrive: the first-level entries, then the blocks they point to. */
        for (unsigned i = first; i < end; i++) {
            if (lens[i] != 0 && client_v4_guess(pkts[i], lens[i], &from[i], &addr[k])) {
                geo_db_prefetch_v4(geo, addr[k]);
                k++;
            }
        }
        for (unsigned i = 0; i < k; i++)
            geo_db_prefetch_v4_block(geo, addr[i]);
    }
}
