/* libFuzzer target: any packet through the whole answer path (query parsing,
 * lookup, CNAME/DNAME chains, response writing), over UDP and TCP sizes,
 * and through query_prefetch()'s guess at the client; and through the geo
 * world's snapshot (fuzz_util.c), where a geo service's answer goes from
 * the client subnet (ECS, or the source address) through the policy
 * (network overrides, the GeoIP database, nearest and map) to the pool's
 * records. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "fixture.h"
#include "fuzz_util.h"
#include "query/query.h"
#include "zone/zonedb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const records[] = {
    "example.com. 300 IN SOA ns1.example.com. h.example.com. 1 2 3 4 60",
    "example.com. 300 IN NS ns1.example.com.",
    "example.com. 300 IN MX 10 mail.example.com.",
    "ns1.example.com. 300 IN A 192.0.2.1",
    "mail.example.com. 300 IN AAAA 2001:db8::1",
    "www.example.com. 300 IN A 192.0.2.2",
    "c.example.com. 300 IN CNAME www.example.com.",
    "l1.example.com. 300 IN CNAME l2.example.com.",
    "l2.example.com. 300 IN CNAME l1.example.com.",
    "*.w.example.com. 300 IN TXT \"wild\"",
    "d.example.com. 300 IN DNAME example.com.",
    "sub.example.com. 300 IN NS ns.sub.example.com.",
    "ns.sub.example.com. 300 IN A 192.0.2.3",
    "s.example.com. 300 IN SRV 0 0 53 ns1.example.com.",
    NULL,
};

static zone_db_t *db;
static snapshot_t *world;
static const query_config_t cfg = {.max_udp_size = 1232,
                                   .nsid = (const uint8_t *)"fuzz",
                                   .nsid_len = 4,
                                   .chaos = true,
                                   .version = "v",
                                   .identity = "id"};

/* The world must answer a geo service from ECS, or the fuzzing of that
 * path would be fuzzing of REFUSED: geo.example.com A with ECS
 * 81.2.69.0/24 (GB) gets one answer and a non-zero scope. */
static void check_world(void)
{
    static const uint8_t q[] = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1,
                                3, 'g', 'e', 'o', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
                                3, 'c', 'o', 'm', 0, 0, 1, 0, 1,
                                0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 11,
                                0, 8, 0, 7, 0, 1, 24, 0, 81, 2, 69};
    uint8_t resp[1232];
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    size_t n = query_answer(world->db, &world->query, q, sizeof(q), resp, sizeof(resp), false,
                            (const struct sockaddr *)&v4, STATS_SLOTS - 1);
    /* ANCOUNT 1, and the ECS option's SCOPE PREFIX-LENGTH (the last
     * address byte's predecessor) above 0 */
    if (n < sizeof(q) || (resp[3] & 0xf) != 0 || resp[6] != 0 || resp[7] != 1 ||
        resp[n - 4] == 0) {
        fprintf(stderr, "fuzz_wire: the geo world does not answer geo.example.com\n");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t resp[65535];
    if (!db)
    {
        zone_source_t *src = fixture_source("example.com.", records);
        db = fixture_db(&src, 1);
        world = fuzz_world(NULL);
        check_world();
    }
    query_answer(db, &cfg, data, size, resp, 512, false, NULL, STATS_SLOTS - 1);
    query_answer(db, &cfg, data, size, resp, sizeof(resp), true, NULL, STATS_SLOTS - 1);
    /* geo answers for a European IPv4 source and an IPv6 one, unless the
     * packet's ECS option says otherwise */
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x510245a0)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6,
                              .sin6_addr.s6_addr = {0x20, 0x01, 0x02, 0x18, [15] = 1}};
    query_answer(world->db, &world->query, data, size, resp, 512, false,
                 (const struct sockaddr *)&v4, STATS_SLOTS - 1);
    query_answer(world->db, &world->query, data, size, resp, sizeof(resp), true,
                 (const struct sockaddr *)&v6, STATS_SLOTS - 1);
    struct sockaddr_storage from = {.ss_family = AF_INET6};
    uint32_t addr;
    query_client_v4_guess(data, size, &from, &addr);
    return 0;
}
