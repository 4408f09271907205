/* libFuzzer target: any packet through the whole answer path (query parsing,
 * lookup, CNAME/DNAME chains, response writing), over UDP and TCP sizes. */
#include "config.h"

#include <ldns/ldns.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
static const query_config_t cfg = {.max_udp_size = 1232,
                                   .nsid = (const uint8_t *)"fuzz",
                                   .nsid_len = 4,
                                   .chaos = true,
                                   .version = "v",
                                   .identity = "id"};

static void build_db(void)
{
    zone_source_t *src = calloc(1, sizeof(*src));
    size_t n = 0;
    while (records[n])
        n++;
    src->records = calloc(n, sizeof(*src->records));
    src->count = n;
    ldns_str2rdf_dname(&src->origin, "example.com.");
    for (size_t i = 0; i < n; i++)
        if (ldns_rr_new_frm_str(&src->records[i].rr, records[i], 300, NULL, NULL) !=
            LDNS_STATUS_OK)
            abort();
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    if (!zone_db_build(&src, 1, &db, &d))
        abort();
    diag_free(&d);
    zone_source_free(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t resp[65535];
    if (!db)
        build_db();
    query_answer(db, &cfg, data, size, resp, 512, false);
    query_answer(db, &cfg, data, size, resp, sizeof(resp), true);
    return 0;
}
