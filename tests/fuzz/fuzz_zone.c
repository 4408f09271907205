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

#include "dns/name.h"
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

/* Is name (len bytes) at or below the origin, ignoring case? */
static bool in_zone(const uint8_t *name, size_t len, const zone_source_t *z)
{
    size_t pos = 0;
    while (len - pos > z->origin_len && name[pos] != 0)
        pos += (size_t)name[pos] + 1;
    if (len - pos != z->origin_len)
        return false;
    for (size_t i = 0; i < z->origin_len; i++) {
        uint8_t a = name[pos + i], b = z->origin[i];
        if ((a >= 'A' && a <= 'Z' ? a + 32 : a) != (b >= 'A' && b <= 'Z' ? b + 32 : b))
            return false;
    }
    return true;
}

/* What zone_source_load promises about a zone it accepted: every record's
 * owner a valid name in the zone, its bytes inside the store, one SOA at
 * the apex, and `order` a permutation of the records. */
static void check_zone(const zone_source_t *z)
{
    size_t soa = 0;
    if (dns_name_wire_len(z->origin, z->origin_len) != z->origin_len || z->count == 0 ||
        !z->records || !z->order || z->n_files != 1)
        abort();
    uint8_t *seen = calloc(z->count, 1);
    if (!seen)
        abort();
    for (size_t i = 0; i < z->count; i++) {
        const zone_record_t *r = &z->records[i];
        if (r->file != 0 || r->line == 0 || r->flags != 0 || z->order[i] >= z->count ||
            seen[z->order[i]]++)
            abort();
        if ((r->owner >> ZONE_SOURCE_CHUNK_BITS) >= z->n_chunks ||
            (r->rdata >> ZONE_SOURCE_CHUNK_BITS) >= z->n_chunks)
            abort();
        const uint8_t *owner = zone_record_owner(z, r);
        if (dns_name_wire_len(owner, r->owner_len) != r->owner_len ||
            !in_zone(owner, r->owner_len, z))
            abort();
        if ((r->rdata & (ZONE_SOURCE_CHUNK_SIZE - 1)) + r->rdlen > ZONE_SOURCE_CHUNK_SIZE)
            abort();
        if (r->type == 6 && r->owner_len == z->origin_len && in_zone(owner, r->owner_len, z))
            soa++;
    }
    free(seen);
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
