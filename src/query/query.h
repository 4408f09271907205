/*
 * query: answers one DNS query from the compiled zone database.
 *
 * query_answer() is the hot path: it parses the packet, looks the name up,
 * follows CNAMEs and DNAMEs inside the served zones, and writes the
 * response into the caller's buffer. It reads only what it is given (an
 * immutable database and settings), takes no lock and allocates nothing,
 * so any number of threads may call it at once.
 *
 * Answers follow RFC 1034 4.3.2 with its successors: referrals (AA=0) with
 * glue, wildcards (RFC 4592), DNAME (RFC 6672), NXDOMAIN/NODATA with the
 * SOA (TTL = min(SOA TTL, MINIMUM), RFC 2308), minimal ANY (one RRset, RFC
 * 8482), EDNS (RFC 6891) with NSID (RFC 5001), truncation at RRset
 * boundaries, and CHAOS TXT version.bind/version.server/id.server/
 * hostname.bind when enabled.
 *
 * Names that are geo services (nodes with ZONE_NODE_DYNAMIC, data a
 * service_t) are answered with the pool of the data center their policy
 * picks for the client: the EDNS Client Subnet address when the query has
 * one (RFC 7871; echoed with the SCOPE PREFIX-LENGTH of the network that
 * decided, 0 for every other answer), otherwise the packet's source.
 */
#ifndef MERIDIAN_QUERY_QUERY_H
#define MERIDIAN_QUERY_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "geo/geo.h"
#include "stats/stats.h"
#include "zone/zonedb.h"

/* Longest CNAME/DNAME chain followed inside our zones. */
#define QUERY_MAX_CHAIN 12

typedef struct query_config {
    unsigned max_udp_size; /* cap on the UDP answer size, >= 512 */
    const uint8_t *nsid;   /* NSID payload or NULL */
    size_t nsid_len;
    bool chaos;
    const char *version;  /* version.bind, version.server */
    const char *identity; /* id.server, hostname.bind */
    const geo_db_t *geo;  /* GeoIP database for services, or NULL */
} query_config_t;

/* Answers pkt (len bytes) into resp (cap bytes, at least 512, not
 * overlapping pkt: the question name is parsed straight into it). Returns the
 * response length, or 0 when nothing must be sent (not a query). db may be
 * NULL (no zones: everything is REFUSED). tcp lifts the UDP size limit.
 * client is the packet's source address (geo services locate it when the
 * query carries no client subnet); NULL counts as unknown. The query is
 * counted in stats slot slot (the calling worker's own; see stats.h). */
size_t query_answer(const zone_db_t *db, const query_config_t *cfg, const uint8_t *pkt,
                    size_t len, uint8_t *resp, size_t cap, bool tcp,
                    const struct sockaddr *client, unsigned slot);

/* Starts reading into the cache what answering the n queries pkts[i]
 * (lens[i] bytes; 0 skips one) from from[i] is likely to read from memory
 * other queries have not touched lately: the GeoIP tables, for IPv4
 * clients. Called with a batch before answering it, so that those reads
 * overlap instead of each query waiting for its own. A hint: it changes
 * no answer and may guess wrong. */
void query_prefetch(const query_config_t *cfg, const uint8_t *const *pkts, const uint16_t *lens,
                    const struct sockaddr_storage *from, unsigned n);
/* query_prefetch()'s guess, without parsing pkt (len bytes), at the IPv4
 * address a geo service would locate its sender by: the client subnet
 * when the packet ends with an IPv4 one (a resolver's query usually does:
 * its OPT record last, the subnet its last option), else from when that
 * is IPv4. Sets *addr (host order) and returns true, or returns false. */
bool query_client_v4_guess(const uint8_t *pkt, size_t len, const struct sockaddr_storage *from,
                           uint32_t *addr);

#endif
