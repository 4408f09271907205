#include "config.h"

#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

zone_source_t *fixture_source(const char *origin, const char *const *records)
{
    zone_source_t *src = calloc(1, sizeof(*src));
    size_t n = 0;
    if (!src)
        abort();
    while (records[n])
        n++;
    src->records = calloc(n ? n : 1, sizeof(*src->records));
    src->count = n;
    src->files = calloc(1, sizeof(char *));
    src->files[0] = strdup("fixture.zone");
    src->n_files = 1;
    if (!src->records || !src->files || !src->files[0] ||
        ldns_str2rdf_dname(&src->origin, origin) != LDNS_STATUS_OK)
        abort();
    for (size_t i = 0; i < n; i++) {
        ldns_status st = ldns_rr_new_frm_str(&src->records[i].rr, records[i], 3600, NULL, NULL);
        if (st != LDNS_STATUS_OK) {
            fprintf(stderr, "bad fixture record %s: %s\n", records[i],
                    ldns_get_errorstr_by_id(st));
            abort();
        }
        src->records[i].file = src->files[0];
        src->records[i].line = (unsigned)i + 1;
    }
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
