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
 * in file order.
 */
#ifndef MERIDIAN_ZONE_ZONE_SOURCE_H
#define MERIDIAN_ZONE_ZONE_SOURCE_H

#include <ldns/ldns.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/diag.h"

typedef struct zone_record {
    ldns_rr *rr;
    const char *file; /* points into zone_source_t.files */
    unsigned line;
} zone_record_t;

typedef struct zone_source {
    ldns_rdf *origin;       /* the zone's apex name (absolute) */
    zone_record_t *records; /* owned */
    size_t count;
    char **files; /* every file read ($INCLUDEs too), owned */
    size_t n_files;
} zone_source_t;

/* origin may be NULL: then it is the file name without a trailing ".zone"
 * (and without directories), e.g. zones/example.com.zone -> example.com.
 * Returns false (having reported every problem to d) when the zone must be
 * refused; *out is then NULL. Caller frees with zone_source_free(). */
bool zone_source_load(const char *path, const char *origin, zone_source_t **out, diag_t *d);

/* Limits, so that no input can make the loader run away. */
#define ZONE_SOURCE_MAX_INCLUDE_DEPTH 16 /* $INCLUDE nesting */
#define ZONE_SOURCE_MAX_GENERATE 65536   /* records from one $GENERATE */

/* Flags for zone_source_load_buffer(). */
#define ZONE_SOURCE_NO_INCLUDE 0x1u /* $INCLUDE is an error (untrusted input, fuzzing) */

/* The same as zone_source_load() for a zone held in memory (len bytes, need
 * not be NUL-terminated). name is what messages and records call the file;
 * $INCLUDE paths are relative to its directory, and the origin is derived
 * from it when origin is NULL. */
bool zone_source_load_buffer(const char *name, const char *text, size_t len, const char *origin,
                             unsigned flags, zone_source_t **out, diag_t *d);

void zone_source_free(zone_source_t *src);

#endif
