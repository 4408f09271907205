/*
 * zonedb: the compiled, read-only database of every served zone.
 *
 * zone_db_build() turns validated zone sources into one structure that the
 * query path reads without locks or allocation:
 *   - every owner name and every empty non-terminal is a node in one hash
 *     table keyed by the lower-cased wire name; a name inside a more
 *     specific served zone belongs to that zone only (the parent's copy,
 *     such as glue below the cut, stays reachable from the parent's
 *     referrals but not from lookups);
 *   - RRsets keep their records' RDATA in wire form, names uncompressed,
 *     and RRsets without compressible names are also pre-rendered as whole
 *     answer records owned by the query name (a pointer to offset 12);
 *   - each node knows the zone cut above it (the highest delegation or
 *     DNAME on its path) and its wildcard child, NS/MX/SRV/SVCB/HTTPS
 *     RRsets know the nodes holding their targets' addresses (glue for
 *     delegations, in-domain glue first), and a CNAME knows the lookup
 *     result of its target.
 * The database and everything it points to is freed at once by
 * zone_db_free(). Nothing in it changes after zone_db_build() returns.
 */
#ifndef MERIDIAN_ZONE_ZONEDB_H
#define MERIDIAN_ZONE_ZONEDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/name.h"
#include "util/diag.h"
#include "zone/zone_source.h"

typedef struct zone_db zone_db_t;
typedef struct zone zone_t;
typedef struct zone_node zone_node_t;
typedef struct zone_rrset zone_rrset_t;

/* What a lookup of one name found. */
typedef struct zone_lookup {
    const zone_t *zone;          /* NULL: the name is in no served zone */
    const zone_node_t *node;     /* the exact node, or NULL */
    const zone_node_t *encloser; /* closest encloser (the node itself when exact) */
    const zone_node_t *cut;      /* the delegation or DNAME that applies, or NULL */
    const zone_node_t *wild;     /* the wildcard that matches when nothing exact does */
} zone_lookup_t;

#define ZONE_SOA_NO_APEX 0xFF

#define ZONE_NODE_APEX 0x01
#define ZONE_NODE_DELEG 0x02 /* NS at a name that is not an apex */
#define ZONE_NODE_DNAME 0x04
#define ZONE_NODE_CNAME 0x08
#define ZONE_NODE_DYNAMIC 0x10 /* answered by code (a geo service), not from RRsets */

/* A name whose answers are computed per query (a geo service). It gets a
 * node like any owner name, with `data` attached, and must not clash with
 * static data, lie outside every zone or below a zone cut. */
typedef struct zone_dynamic {
    const uint8_t *name; /* wire format, any case */
    const void *data;
    const char *conf_file; /* where it was declared, for messages */
    unsigned conf_line;
} zone_dynamic_t;

struct zone_rrset {
    uint16_t type;
    uint16_t count;
    uint32_t ttl;
    const uint8_t *rdata; /* count x (16-bit RDLENGTH, RDATA), names uncompressed */
    uint32_t rdata_len;
    /* count answer records "C0 0C TYPE CLASS TTL RDLENGTH RDATA", or NULL
     * when the type has names to compress */
    const uint8_t *wire;
    uint32_t wire_len;
    /* NS, MX, SRV, SVCB, HTTPS: how many nodes hold the A/AAAA of the
     * records' targets (each node once), and of those the first n_glue
     * are a delegation's in-domain glue, which a referral must carry
     * (RFC 9471); the rest are a courtesy. A SVCB/HTTPS ServiceMode target
     * "." is the owner itself (RFC 9460 2.5.2). */
    uint16_t n_additional, n_glue;
    const zone_node_t *const *additional;
    /* CNAME: where its target leads (resolved at load) */
    const zone_lookup_t *cname_target;
};

struct zone_node {
    const uint8_t *name; /* wire, as first written in the zone file */
    const uint8_t *key;  /* wire, lower-cased */
    uint8_t name_len;
    uint8_t labels;
    uint8_t flags; /* ZONE_NODE_* */
    uint16_t n_rrsets;
    const zone_rrset_t *rrsets; /* sorted by type */
    const zone_t *zone;
    const zone_node_t *parent;
    const zone_node_t *cut;  /* see zone_lookup(); excludes the node's own DNAME */
    const zone_node_t *wild; /* the child "*" node */
    const zone_node_t *hnext;
    uint32_t hash;
    const void *dynamic; /* zone_dynamic_t.data when ZONE_NODE_DYNAMIC */
};

struct zone {
    const zone_node_t *apex;
    const zone_rrset_t *soa;
    zone_rrset_t negative_soa; /* the SOA with TTL = min(SOA TTL, MINIMUM) */
    /* Where the SOA's MNAME and RNAME end in the apex name: the length of
     * what comes before it, or ZONE_SOA_NO_APEX. */
    uint8_t soa_apex_at[2];
    uint32_t serial;
    const char *file;
    /* When the parent zone is served too: its delegation node for our apex
     * (answers DS queries for the apex, RFC 4035 3.1.4.1). */
    const zone_node_t *parent_deleg;
};

/* Builds the database from loaded sources (which it does not keep: they
 * may be freed afterwards; each needs its `order`) and n_dyn dynamic
 * names. Fails, having reported why, when two sources have the same origin
 * or a dynamic name is misplaced. Caller frees with zone_db_free(). */
bool zone_db_build(zone_source_t *const *sources, size_t n, const zone_dynamic_t *dyn,
                   size_t n_dyn, zone_db_t **out, diag_t *d);
/* The same, but it frees every source, each as soon as its zone is
 * compiled, and sets sources[i] to NULL, whether it succeeds or not: a big
 * zone's records and its compiled form are held together only while that
 * zone is compiled. */
bool zone_db_build_consume(zone_source_t **sources, size_t n, const zone_dynamic_t *dyn,
                           size_t n_dyn, zone_db_t **out, diag_t *d);
void zone_db_free(zone_db_t *db);

size_t zone_db_zone_count(const zone_db_t *db);
const zone_t *zone_db_zone(const zone_db_t *db, size_t i);

/* Finds name (lower-cased wire format, len bytes, in a buffer with 8 more
 * readable bytes after it: names are compared a word at a time). Never
 * allocates. */
void zone_lookup(const zone_db_t *db, const uint8_t *name_lc, size_t len, zone_lookup_t *r);
/* The index of every name, chained through zone_node_t.hnext; the first
 * member of a zone_db_t. Public only so that the probe for a whole name,
 * which nearly every query makes, can be inline. */
typedef struct zone_index {
    const zone_node_t **buckets; /* NULL: no zones */
    uint32_t mask;
} zone_index_t;

/* The node keyed (name, len bytes, lower-cased, with 8 more readable bytes
 * after it) with that dns_name_hash(), or NULL. Every key is followed by
 * 8 zero bytes, so names are compared a whole word at a time, the last
 * word masked to the name's bytes. */
static inline const zone_node_t *zone_index_find(const zone_index_t *ix, uint32_t hash,
                                                 const uint8_t *name, size_t len)
{
    for (const zone_node_t *n = ix->buckets[hash & ix->mask]; n; n = n->hnext) {
        if (n->hash == hash && n->name_len == len && dns_words_equal(n->key, name, len))
            return n;
    }
    return NULL;
}

/* zone_index_find() for a name in any case (with 8 more readable bytes
 * after it), as a query sends it: compared with each key (lower case) a
 * word at a time as it is, and lower-cased only where that differs. */
static inline const zone_node_t *zone_index_find_any_case(const zone_index_t *ix, uint32_t hash,
                                                          const uint8_t *name, size_t len)
{
    for (const zone_node_t *n = ix->buckets[hash & ix->mask]; n; n = n->hnext) {
        if (n->hash == hash && n->name_len == len && dns_words_equal_lower(name, n->key, len))
            return n;
    }
    return NULL;
}

/* zone_lookup_labels() when the whole name is not a node: the closest
 * encloser, its zone cut or wildcard. The name may be in any case. */
void zone_lookup_miss(const zone_db_t *db, const uint8_t *name, size_t len,
                      const uint8_t *offs, unsigned n, zone_lookup_t *r);

/* zone_lookup() when the caller knows the name's dns_name_hash() and where
 * its n labels start (offs[0..n], offs[n] being the root's), as a parsed
 * query does. Most queries name a node that exists: one probe, inline. */
static inline void zone_lookup_labels(const zone_db_t *db, const uint8_t *name_lc, size_t len,
                                      uint32_t hash, const uint8_t *offs, unsigned n,
                                      zone_lookup_t *r)
{
    const zone_index_t *ix = (const zone_index_t *)db; /* its first member */
    const zone_node_t *e = ix->buckets ? zone_index_find(ix, hash, name_lc, len) : NULL;
    if (!e) {
        zone_lookup_miss(db, name_lc, len, offs, n, r);
        return;
    }
    r->zone = e->zone;
    r->node = r->encloser = e;
    r->cut = e->cut;
    r->wild = NULL;
}

/* The node's RRset of that type, or NULL. */
static inline const zone_rrset_t *zone_node_rrset(const zone_node_t *node, uint16_t type)
{
    /* By index: an empty non-terminal's rrsets is NULL, and NULL + 0 is
     * undefined. */
    for (unsigned i = 0; i < node->n_rrsets; i++)
        if (node->rrsets[i].type == type)
            return &node->rrsets[i];
    return NULL;
}

#endif
