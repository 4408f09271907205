/*
 * zone_source: one zone master file, read and validated.
 *
 * zone_source_load() reads an RFC 1035 master file with ldns and adds what
 * ldns 1.8 lacks, with BIND semantics: $INCLUDE (relative to the including
 * file, optional origin argument), $GENERATE (ranges, steps, ${offset,width,
 * base} modifiers, $$ escapes) and quoted TXT strings longer than 255 bytes
 * (split into several 255-byte strings). Every record keeps the file and line
 * it came from so that validation can say "file:line: message".
 *
 * Validation done here (errors refuse the zone, warnings do not):
 *   - error: no SOA at the apex, or more than one; SOA elsewhere
 *   - error: no NS at the apex
 *   - error: CNAME beside other data, or more than one CNAME at a name
 *   - error: a DNAME with a CNAME at the same name, or more than one DNAME
 *   - error: data outside the origin
 *   - warning: an in-zone NS target (at or below a delegation or at the apex)
 *     with no A/AAAA glue
 *   - warning: duplicate records (merged: only one is kept)
 *   - warning: TTLs differing inside an RRset (all set to the lowest,
 *     RFC 2181 section 5.2)
 * The records returned are those of the zone after merging and TTL fixes,
 * in file order, and `order` lists them grouped by owner name and type.
 *
 * Records are kept compact, since a zone may have millions: each is a
 * fixed 24-byte zone_record_t whose owner and RDATA live in wire form in
 * the source's own chunked store (a run of records with one owner shares
 * its bytes). Nothing of ldns is kept once a record is read.
 */
#ifndef MERIDIAN_ZONE_ZONE_SOURCE_H
#define MERIDIAN_ZONE_ZONE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/diag.h"

/* One record. owner and rdata are offsets into the source's store (read
 * them with zone_record_owner() and zone_record_rdata()); the owner is in
 * wire form as the file wrote it (any case), the RDATA in wire form with
 * names uncompressed and as written. */
typedef struct zone_record {
    uint32_t owner;
    uint32_t rdata;
    uint32_t ttl;
    uint32_t line;
    uint16_t type;
    uint16_t rdlen;
    uint16_t file; /* index into zone_source_t.files */
    uint8_t owner_len;
    uint8_t flags; /* the loader's; 0 in a returned source */
} zone_record_t;

/* The store: 1 MiB chunks, an offset is chunk << 20 | position, and no
 * record's bytes cross a chunk. */
#define ZONE_SOURCE_CHUNK_BITS 20
#define ZONE_SOURCE_CHUNK_SIZE (1u << ZONE_SOURCE_CHUNK_BITS)
#define ZONE_SOURCE_MAX_CHUNKS 4096 /* 4 GiB of owners and RDATA per zone */

typedef struct zone_source {
    uint8_t origin[255]; /* the zone's apex name, wire form */
    uint8_t origin_len;
    zone_record_t *records; /* owned */
    size_t count;
    uint32_t *order; /* owned: indices into records, by owner (lower case), type, file order */
    char **files;    /* every file read ($INCLUDEs too), owned */
    size_t n_files;
    uint8_t **chunks; /* the store, owned */
    size_t n_chunks;
    size_t chunk_used; /* bytes used in the last chunk */
    size_t cap;        /* records allocated */
} zone_source_t;

static inline const uint8_t *zone_source_bytes(const zone_source_t *src, uint32_t off)
{
    return src->chunks[off >> ZONE_SOURCE_CHUNK_BITS] + (off & (ZONE_SOURCE_CHUNK_SIZE - 1));
}

static inline const uint8_t *zone_record_owner(const zone_source_t *src, const zone_record_t *r)
{
    return zone_source_bytes(src, r->owner);
}

static inline const uint8_t *zone_record_rdata(const zone_source_t *src, const zone_record_t *r)
{
    return zone_source_bytes(src, r->rdata);
}

static inline const char *zone_record_file(const zone_source_t *src, const zone_record_t *r)
{
    return src->files[r->file];
}

/* origin may be NULL: then it is the file name without a trailing ".zone"
 * (and without directories), e.g. zones/example.com.zone -> example.com.
 * Returns false (having reported every problem to d) when the zone must be
 * refused; *out is then NULL. Caller frees with zone_source_free(). */
bool zone_source_load(const char *path, const char *origin, zone_source_t **out, diag_t *d);

/* Limits, so that no input can make the loader run away. */
#define ZONE_SOURCE_MAX_INCLUDE_DEPTH 16 /* $INCLUDE nesting */
#define ZONE_SOURCE_MAX_GENERATE 65536   /* records from one $GENERATE */
#define ZONE_SOURCE_MAX_FILES 65535      /* files read for one zone, $INCLUDEs counted */
/* One master file, checked before it is read: a multi-gigabyte file (or a
 * sparse one) is refused at once instead of filling memory. */
#define ZONE_SOURCE_MAX_FILE_SIZE ((size_t)1 << 30)

/* Flags for zone_source_load_buffer(). */
#define ZONE_SOURCE_NO_INCLUDE 0x1u /* $INCLUDE is an error (untrusted input, fuzzing) */

/* The same as zone_source_load() for a zone held in memory (len bytes, need
 * not be NUL-terminated). name is what messages and records call the file;
 * $INCLUDE paths are relative to its directory, and the origin is derived
 * from it when origin is NULL. */
bool zone_source_load_buffer(const char *name, const char *text, size_t len, const char *origin,
                             unsigned flags, zone_source_t **out, diag_t *d);

/* For tests and tools that build a source by hand, with no validation:
 * zone_source_new() (origin in wire form, file the one name records get),
 * zone_source_add() per record, then zone_source_sort() to fill `order`,
 * which zone_db_build() needs. Caller frees with zone_source_free(). */
zone_source_t *zone_source_new(const uint8_t *origin, size_t origin_len, const char *file);
void zone_source_add(zone_source_t *src, const uint8_t *owner, size_t owner_len, uint16_t type,
                     uint32_t ttl, const uint8_t *rdata, size_t rdlen, unsigned line);
void zone_source_sort(zone_source_t *src);

void zone_source_free(zone_source_t *src);

#endif
