#include "config.h"

#include "fixture.h"

#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

zone_source_t *fixture_source(const char *origin, const char *const *records)
{
    ldns_rdf *apex = NULL;
    if (ldns_str2rdf_dname(&apex, origin) != LDNS_STATUS_OK)
        abort();
    zone_source_t *src = zone_source_new(ldns_rdf_data(apex), ldns_rdf_size(apex), "fixture.zone");
    ldns_rdf_deep_free(apex);
    for (size_t i = 0; records[i]; i++) {
        ldns_rr *rr = NULL;
        ldns_status st = ldns_rr_new_frm_str(&rr, records[i], 3600, NULL, NULL);
        if (st != LDNS_STATUS_OK) {
            fprintf(stderr, "bad fixture record %s: %s\n", records[i],
                    ldns_get_errorstr_by_id(st));
            abort();
        }
        uint8_t rdata[65536];
        size_t len = 0;
        for (size_t f = 0; f < ldns_rr_rd_count(rr); f++) {
            const ldns_rdf *rdf = ldns_rr_rdf(rr, f);
            mem_copy(rdata + len, ldns_rdf_data(rdf), ldns_rdf_size(rdf)); /* may be empty */
            len += ldns_rdf_size(rdf);
        }
        const ldns_rdf *owner = ldns_rr_owner(rr);
        zone_source_add(src, ldns_rdf_data(owner), ldns_rdf_size(owner),
                        (uint16_t)ldns_rr_get_type(rr), ldns_rr_ttl(rr), rdata, len,
                        (unsigned)i + 1);
        ldns_rr_free(rr);
    }
    zone_source_sort(src);
    return src;
}

zone_db_t *fixture_db(zone_source_t **sources, size_t n)
{
    zone_db_t *db;
    diag_t d;
    diag_init(&d);
    bool ok = zone_db_build(sources, n, NULL, 0, &db, &d);
    diag_free(&d);
    for (size_t i = 0; i < n; i++)
        zone_source_free(sources[i]);
    if (!ok)
        abort();
    return db;
}
