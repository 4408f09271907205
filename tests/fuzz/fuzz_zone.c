/*
 * libFuzzer target for the zone master-file loader: any bytes must either
 * load into a zone that keeps the loader's promises or fail with at least
 * one error, without crashing, hanging or leaking. $INCLUDE is refused so
 * that a run never depends on (or reads) the filesystem.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "zone/zone_source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One $GENERATE may make 65536 records, which is slow, not wrong: allow one
 * per input so that the fuzzer spends its time on parsing. */
static bool too_many_generates(const uint8_t *data, size_t size)
{
    static const char word[] = "$GENERATE";
    size_t n = 0;
    for (size_t i = 0; i + sizeof(word) - 1 <= size; i++)
        if (data[i] == '$' && strncasecmp((const char *)data + i, word, sizeof(word) - 1) == 0)
            n++;
    return n > 1;
}

/* What zone_source_load promises about a zone it accepted. */
static void check_zone(const zone_source_t *z)
{
    size_t soa = 0;
    if (!z->origin || z->count == 0 || !z->records || z->n_files != 1)
        abort();
    for (size_t i = 0; i < z->count; i++) {
        const zone_record_t *r = &z->records[i];
        const ldns_rdf *owner = ldns_rr_owner(r->rr);
        if (!r->rr || r->file != z->files[0] || r->line == 0)
            abort();
        if (ldns_rr_get_class(r->rr) != LDNS_RR_CLASS_IN || ldns_rdf_size(owner) > 255)
            abort();
        if (ldns_dname_compare(owner, z->origin) != 0 &&
            !ldns_dname_is_subdomain(owner, z->origin))
            abort();
        if (ldns_rr_get_type(r->rr) == LDNS_RR_TYPE_SOA &&
            ldns_dname_compare(owner, z->origin) == 0)
            soa++;
        uint8_t *wire = NULL;
        size_t len = 0;
        if (ldns_rr2wire(&wire, r->rr, LDNS_SECTION_ANSWER, &len) != LDNS_STATUS_OK ||
            len > 65535 + 10 + 255)
            abort();
        free(wire);
    }
    if (soa != 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    diag_t d;
    zone_source_t *z = (zone_source_t *)1;

    if (too_many_generates(data, size))
        return 0;
    diag_init(&d);
    d.quiet = true;
    bool ok = zone_source_load_buffer("/fuzz/example.com.zone", (const char *)data, size, NULL,
                                      ZONE_SOURCE_NO_INCLUDE, &z, &d);
    if (ok != (z != NULL) || ok != (d.errors == 0))
        abort();
    if (ok)
        check_zone(z);
    zone_source_free(z);
    diag_free(&d);
    return 0;
}
