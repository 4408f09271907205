#include "config.h"

#include "zone/zonedb.h"

#include <stdlib.h>
#include <string.h>

#include "dns/name.h"
#include "dns/wire.h"

/* ------------------------------------------------------------------ arena */

/* Everything in a database is allocated from one arena and freed at once:
 * loads are fast, and a reload's old snapshot goes away in a few frees.
 * Structs are aligned to 8 bytes, names and RDATA not at all: with a
 * million names, padding every one to 16 bytes costs tens of megabytes. */
#define ARENA_CHUNK (1u << 20)
#define ARENA_ALIGN 8u

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, size;
    max_align_t data[];
} arena_chunk_t;

typedef struct arena {
    arena_chunk_t *head;
} arena_t;

static void *arena_take(arena_t *a, size_t n, size_t align)
{
    arena_chunk_t *c = a->head;
    size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;
    if (!c || at > c->size || c->size - at < n) {
        size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof(*c) + size);
        if (!c)
            abort(); /* load time: out of memory is fatal */
        c->next = a->head;
        c->used = 0;
        c->size = size;
        a->head = c;
        at = 0;
    }
    c->used = at + n;
    return (char *)c->data + at;
}

static void *arena_alloc(arena_t *a, size_t n) { return arena_take(a, n, ARENA_ALIGN); }

static void *arena_calloc(arena_t *a, size_t n)
{
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

/* Bytes with no alignment: names, RDATA, answer records. */
static void *arena_bytes(arena_t *a, size_t n) { return arena_take(a, n ? n : 1, 1); }

static void *arena_dup(arena_t *a, const void *src, size_t n)
{
    void *p = arena_bytes(a, n);
    memcpy(p, src, n);
    return p;
}

static void arena_free(arena_t *a)
{
    arena_chunk_t *c = a->head;
    while (c) {
        arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ------------------------------------------------------------------ hashing */

/* Every table here is keyed on dns_name_hash() of the lower-cased name. */
static uint32_t hash_name(const uint8_t *key) { return dns_name_hash(key, dns_name_len(key)); }

/* The name index: zone_index_t (zonedb.h), chained through hnext. */
typedef zone_index_t name_table_t;

static void table_init(name_table_t *t, size_t expected)
{
    size_t size = 16;
    while (size < expected * 2)
        size <<= 1;
    t->buckets = calloc(size, sizeof(*t->buckets));
    if (!t->buckets)
        abort();
    t->mask = (uint32_t)(size - 1);
}

/* Insertion links through hnext, so a node can be in one table only. The
 * per-zone build tables use a separate chain (build_next) for that. */

/* ------------------------------------------------------------------ build */

struct zone_db {
    name_table_t table; /* every reachable node of every zone; first, see zonedb.h */
    arena_t arena;
    zone_t **zones;
    size_t n_zones;
};

/* Per-zone state that lives only while building. */
typedef struct zone_build {
    zone_t *zone;
    zone_node_t **nodes; /* every node of the zone, ENTs included */
    size_t n_nodes, cap_nodes;
    /* zone-local index, glue below cuts included: open addressing, at most
     * half full */
    zone_node_t **slots;
    size_t slot_mask;
} zone_build_t;

static zone_node_t *local_find(const zone_build_t *zb, const uint8_t *key, size_t len,
                               uint32_t hash)
{
    for (size_t i = hash & zb->slot_mask;; i = (i + 1) & zb->slot_mask) {
        zone_node_t *n = zb->slots[i];
        if (!n)
            return NULL;
        if (n->hash == hash && n->name_len == len && memcmp(n->key, key, len) == 0)
            return n;
    }
}

static void local_insert(zone_build_t *zb, zone_node_t *n)
{
    size_t i = n->hash & zb->slot_mask;
    while (zb->slots[i])
        i = (i + 1) & zb->slot_mask;
    zb->slots[i] = n;
}

/* Sizes the index for `nodes` nodes, re-inserting those there are. */
static void local_reserve(zone_build_t *zb, size_t nodes)
{
    if (zb->slots && nodes * 2 <= zb->slot_mask + 1)
        return;
    size_t size = 64;
    while (size < nodes * 2)
        size <<= 1;
    free(zb->slots);
    zb->slots = calloc(size, sizeof(*zb->slots));
    if (!zb->slots)
        abort();
    zb->slot_mask = size - 1;
    for (size_t i = 0; i < zb->n_nodes; i++)
        local_insert(zb, zb->nodes[i]);
}

/* A new node; name is as written (NULL: the key, for an empty
 * non-terminal), key lower-cased. */
static zone_node_t *local_add(zone_db_t *db, zone_build_t *zb, const uint8_t *name,
                              const uint8_t *key, size_t len, uint32_t hash)
{
    if (zb->n_nodes == zb->cap_nodes) {
        zb->cap_nodes = zb->cap_nodes ? zb->cap_nodes * 2 : 64;
        zb->nodes = realloc(zb->nodes, zb->cap_nodes * sizeof(*zb->nodes));
        if (!zb->nodes)
            abort();
    }
    local_reserve(zb, zb->n_nodes + 1);
    zone_node_t *n = arena_calloc(&db->arena, sizeof(*n));
    /* Keys are followed by 8 zero bytes, so lookups compare them a whole
     * word at a time (zone_index_find()). */
    uint8_t *k = arena_bytes(&db->arena, len + 8);
    memcpy(k, key, len);
    memset(k + len, 0, 8);
    n->key = k;
    n->name = name && memcmp(name, key, len) != 0 ? arena_dup(&db->arena, name, len) : n->key;
    n->name_len = (uint8_t)len;
    n->labels = (uint8_t)dns_name_labels(key);
    n->hash = hash;
    n->zone = zb->zone;
    local_insert(zb, n);
    zb->nodes[zb->n_nodes++] = n;
    return n;
}

static bool type_has_compressible_names(uint16_t type)
{
    /* RFC 3597 4: only RFC 1035 types may have their RDATA names compressed. */
    switch (type) {
    case DNS_TYPE_NS:
    case DNS_TYPE_CNAME:
    case DNS_TYPE_SOA:
    case DNS_TYPE_PTR:
    case DNS_TYPE_MX:
        return true;
    default:
        return false;
    }
}

/* Fills an RRset from the records idx[0..count) of src. A single record's
 * RDATA is read from its answer record rather than kept twice. */
static void build_rrset(zone_db_t *db, zone_rrset_t *set, const zone_source_t *src,
                        const uint32_t *idx, size_t count)
{
    size_t total = 0;
    uint32_t ttl = UINT32_MAX;
    for (size_t i = 0; i < count; i++) {
        const zone_record_t *r = &src->records[idx[i]];
        total += 2u + r->rdlen;
        if (r->ttl < ttl)
            ttl = r->ttl;
    }
    set->type = src->records[idx[0]].type;
    set->count = (uint16_t)count;
    set->ttl = ttl;
    set->rdata_len = (uint32_t)total;

    if (!type_has_compressible_names(set->type)) {
        size_t wlen = total + count * 10;
        uint8_t *w = arena_bytes(&db->arena, wlen);
        size_t wp = 0;
        for (size_t i = 0; i < count; i++) {
            const zone_record_t *r = &src->records[idx[i]];
            dns_put16(w + wp, 0xC00C);
            dns_put16(w + wp + 2, set->type);
            dns_put16(w + wp + 4, DNS_CLASS_IN);
            dns_put32(w + wp + 6, ttl);
            dns_put16(w + wp + 10, r->rdlen);
            memcpy(w + wp + 12, zone_record_rdata(src, r), r->rdlen);
            wp += 12u + r->rdlen;
        }
        set->wire = w;
        set->wire_len = (uint32_t)wlen;
        if (count == 1) {
            set->rdata = w + 10;
            return;
        }
    }
    uint8_t *rd = arena_bytes(&db->arena, total);
    size_t p = 0;
    for (size_t i = 0; i < count; i++) {
        const zone_record_t *r = &src->records[idx[i]];
        dns_put16(rd + p, r->rdlen);
        memcpy(rd + p + 2, zone_record_rdata(src, r), r->rdlen);
        p += 2u + r->rdlen;
    }
    set->rdata = rd;
}

/* Do the records a and b of src have the same owner, ignoring case? */
static bool same_owner(const zone_source_t *src, const zone_record_t *a, const zone_record_t *b)
{
    if (a->owner == b->owner)
        return true;
    if (a->owner_len != b->owner_len)
        return false;
    const uint8_t *x = zone_record_owner(src, a), *y = zone_record_owner(src, b);
    for (size_t i = 0; i < a->owner_len; i++)
        if (dns_lower(x[i]) != dns_lower(y[i]))
            return false;
    return true;
}

/* Gives each dynamic name in this zone its node. */
static bool zone_add_dynamic(zone_db_t *db, zone_build_t *zb, const zone_dynamic_t *dyn,
                             const uint8_t *key, diag_t *d)
{
    char text[DNS_NAME_MAX * 4];
    size_t len = dns_name_len(key);
    dns_name_to_text(dyn->name, text, sizeof(text));
    if (key[0] == 1 && key[1] == '*') {
        diag_error(d, dyn->conf_file, dyn->conf_line, 0,
                   "service %s: a wildcard cannot be a service", text);
        return false;
    }
    uint32_t h = hash_name(key);
    zone_node_t *node = local_find(zb, key, len, h);
    if (!node)
        node = local_add(db, zb, dyn->name, key, len, h);
    if (node->n_rrsets || (node->flags & ZONE_NODE_DYNAMIC)) {
        diag_error(d, dyn->conf_file, dyn->conf_line, 0,
                   "service %s: the zone (%s) already has %s at this name", text, zb->zone->file,
                   node->n_rrsets ? "records" : "a service");
        return false;
    }
    node->flags |= ZONE_NODE_DYNAMIC;
    node->dynamic = dyn->data;
    return true;
}

static bool zone_build_one(zone_db_t *db, const zone_source_t *src, zone_build_t *zb,
                           const zone_dynamic_t *dyn, size_t n_dyn, diag_t *d)
{
    zone_t *zone = arena_calloc(&db->arena, sizeof(*zone));
    zb->zone = zone;
    zone->file = src->n_files ? arena_dup(&db->arena, src->files[0], strlen(src->files[0]) + 1)
                              : "";

    size_t n = src->count;
    uint8_t apex_key[DNS_NAME_MAX];
    size_t apex_len = src->origin_len;
    dns_name_lower(apex_key, src->origin, apex_len);
    unsigned apex_labels = dns_name_labels(apex_key);

    for (size_t i = 0; i < n; i++) {
        const zone_record_t *r = &src->records[i];
        if ((i == 0 || r->owner != r[-1].owner) &&
            !dns_name_is_subdomain(zone_record_owner(src, r), apex_key)) {
            diag_error(d, zone_record_file(src, r), r->line, 0,
                       "record outside the zone's origin");
            return false;
        }
    }

    /* Owners are at most one per record; empty non-terminals grow it. */
    local_reserve(zb, n + n_dyn + 1);

    /* One node per owner, its RRsets from the groups of src->order (by
     * owner, then type, then file order). */
    for (size_t i = 0; i < n;) {
        const zone_record_t *first = &src->records[src->order[i]];
        size_t j = i + 1, groups = 1;
        while (j < n && same_owner(src, first, &src->records[src->order[j]])) {
            if (src->records[src->order[j]].type != src->records[src->order[j - 1]].type)
                groups++;
            j++;
        }
        uint8_t key[DNS_NAME_MAX];
        const uint8_t *owner = zone_record_owner(src, first);
        dns_name_lower(key, owner, first->owner_len);
        zone_node_t *node = local_add(db, zb, owner, key, first->owner_len, hash_name(key));
        zone_rrset_t *sets = arena_calloc(&db->arena, groups * sizeof(*sets));
        size_t g = 0;
        for (size_t k = i; k < j;) {
            size_t m = k + 1;
            uint16_t type = src->records[src->order[k]].type;
            while (m < j && src->records[src->order[m]].type == type)
                m++;
            build_rrset(db, &sets[g++], src, src->order + k, m - k);
            k = m;
        }
        node->rrsets = sets;
        node->n_rrsets = (uint16_t)groups;
        i = j;
    }

    bool ok = true;
    for (size_t i = 0; i < n_dyn; i++) {
        uint8_t key[DNS_NAME_MAX];
        dns_name_lower(key, dyn[i].name, dns_name_len(dyn[i].name));
        if (dns_name_is_subdomain(key, apex_key))
            ok &= zone_add_dynamic(db, zb, &dyn[i], key, d);
    }
    if (!ok)
        return false;

    /* Empty non-terminals: every ancestor up to the apex becomes a node. */
    size_t real = zb->n_nodes;
    for (size_t i = 0; i < real; i++) {
        zone_node_t *child = zb->nodes[i];
        const uint8_t *key = child->key;
        size_t len = child->name_len;
        while (child->labels > apex_labels && !child->parent) {
            len -= (size_t)key[0] + 1;
            key += key[0] + 1;
            uint32_t h = hash_name(key);
            zone_node_t *p = local_find(zb, key, len, h);
            if (!p)
                p = local_add(db, zb, NULL, key, len, h);
            child->parent = p;
            child = p;
        }
    }

    zone_node_t *apex = local_find(zb, apex_key, apex_len, hash_name(apex_key));
    if (!apex) {
        diag_error(d, zone->file, 0, 0, "zone has no records at its apex");
        return false;
    }
    zone->apex = apex;

    for (size_t i = 0; i < zb->n_nodes; i++) {
        zone_node_t *node = zb->nodes[i];
        for (size_t s = 0; s < node->n_rrsets; s++) {
            switch (node->rrsets[s].type) {
            case DNS_TYPE_NS:
                if (node != apex)
                    node->flags |= ZONE_NODE_DELEG;
                break;
            case DNS_TYPE_DNAME:
                node->flags |= ZONE_NODE_DNAME;
                break;
            case DNS_TYPE_CNAME:
                node->flags |= ZONE_NODE_CNAME;
                break;
            }
        }
        if (node->labels > apex_labels && node->key[0] == 1 && node->key[1] == '*')
            ((zone_node_t *)node->parent)->wild = node;
    }
    apex->flags |= ZONE_NODE_APEX;

    zone->soa = zone_node_rrset(apex, DNS_TYPE_SOA);
    if (!zone->soa || zone->soa->count != 1 || dns_get16(zone->soa->rdata) < 22) {
        diag_error(d, zone->file, 0, 0, "zone has no valid SOA record at its apex");
        return false;
    }
    /* SOA RDATA ends with serial, refresh, retry, expire, minimum. */
    const uint8_t *soa_end = zone->soa->rdata + 2 + dns_get16(zone->soa->rdata);
    zone->serial = dns_get32(soa_end - 20);
    uint32_t minimum = dns_get32(soa_end - 4);
    zone->negative_soa = *zone->soa;
    if (minimum < zone->negative_soa.ttl)
        zone->negative_soa.ttl = minimum;
    /* Where MNAME and RNAME reach the apex, so that a negative answer can
     * point them at the apex inside the question without a search. */
    const uint8_t *name = zone->soa->rdata + 2;
    size_t apex_key_len = dns_name_len(apex->key);
    for (int k = 0; k < 2; k++) {
        size_t len = dns_name_len(name);
        zone->soa_apex_at[k] = dns_name_is_subdomain(name, apex->key)
                                   ? (uint8_t)(len - apex_key_len)
                                   : ZONE_SOA_NO_APEX;
        name += len;
    }
    return true;
}

/* Orders the nodes parents first: by label count, a counting sort. */
static void sort_by_depth(zone_build_t *zb)
{
    size_t start[DNS_LABELS_MAX + 1] = {0};
    for (size_t i = 0; i < zb->n_nodes; i++)
        start[zb->nodes[i]->labels + 1]++;
    for (size_t l = 1; l <= DNS_LABELS_MAX; l++)
        start[l] += start[l - 1];
    zone_node_t **sorted = malloc((zb->n_nodes ? zb->n_nodes : 1) * sizeof(*sorted));
    if (!sorted)
        abort();
    for (size_t i = 0; i < zb->n_nodes; i++)
        sorted[start[zb->nodes[i]->labels]++] = zb->nodes[i];
    free(zb->nodes);
    zb->nodes = sorted;
    zb->cap_nodes = zb->n_nodes;
}

/* The cut above each node, computed parents first. */
static bool zone_compute_cuts(zone_build_t *zb, diag_t *d)
{
    bool ok = true;
    sort_by_depth(zb);
    for (size_t i = 0; i < zb->n_nodes; i++) {
        zone_node_t *node = zb->nodes[i];
        const zone_node_t *p = node->parent;
        if (!p)
            continue; /* the apex */
        if (p->cut)
            node->cut = p->cut;
        else if (p->flags & ZONE_NODE_DNAME)
            node->cut = p;
        else if (node->flags & ZONE_NODE_DELEG)
            node->cut = node;
        if ((node->flags & ZONE_NODE_DYNAMIC) && node->cut) {
            char text[DNS_NAME_MAX * 4], cut[DNS_NAME_MAX * 4];
            dns_name_to_text(node->name, text, sizeof(text));
            dns_name_to_text(node->cut->name, cut, sizeof(cut));
            diag_error(d, zb->zone->file, 0, 0, "service %s lies at or below the %s at %s", text,
                       (node->cut->flags & ZONE_NODE_DELEG) ? "delegation" : "DNAME", cut);
            ok = false;
        }
    }
    return ok;
}

static void table_insert(name_table_t *t, zone_node_t *n)
{
    const zone_node_t **b = &t->buckets[n->hash & t->mask];
    n->hnext = *b;
    *b = n;
}

/* Is the node's name at or below the apex of a more specific served zone?
 * Then that zone answers for it. Returns that zone's apex node. */
static const zone_node_t *node_inside_child_zone(const name_table_t *t, const zone_node_t *node)
{
    const uint8_t *key = node->key;
    size_t len = node->name_len;
    unsigned apex_labels = node->zone->apex->labels;
    for (unsigned labels = node->labels; labels > apex_labels; labels--) {
        /* key is a suffix of a node's key, padded as zone_index_find() needs */
        const zone_node_t *hit = zone_index_find(t, hash_name(key), key, len);
        if (hit && (hit->flags & ZONE_NODE_APEX) && hit->zone != node->zone)
            return hit;
        len -= (size_t)key[0] + 1;
        key += key[0] + 1;
    }
    return NULL;
}

/* The node that holds the addresses of target, for the additional section. */
static const zone_node_t *address_node(const zone_db_t *db, const zone_build_t *zb,
                                       const uint8_t *target, bool glue)
{
    uint8_t key[DNS_NAME_MAX + 8]; /* zone_index_find() reads past the name */
    size_t len = dns_name_len(target);
    dns_name_lower(key, target, len);
    uint32_t h = hash_name(key);
    const zone_node_t *n = NULL;
    if (glue)
        n = local_find(zb, key, len, h);
    if (!n) {
        n = zone_index_find(&db->table, h, key, len);
        if (n && n->cut)
            n = NULL; /* below someone else's cut: not ours to vouch for */
    }
    if (n && (zone_node_rrset(n, DNS_TYPE_A) || zone_node_rrset(n, DNS_TYPE_AAAA)))
        return n;
    return NULL;
}

/* Where the name of a host whose addresses help the reader starts in the
 * RDATA of this type, or -1 for a type that names none. */
static int target_offset(uint16_t type)
{
    switch (type) {
    case DNS_TYPE_NS:
        return 0;
    case DNS_TYPE_MX:
    case DNS_TYPE_SVCB:
    case DNS_TYPE_HTTPS: /* after SvcPriority */
        return 2;
    case DNS_TYPE_SRV:
        return 6;
    default:
        return -1;
    }
}

/* The node with the addresses of the target of one record of set (rd: its
 * RDATA, rdlen bytes) at node, or NULL. */
static const zone_node_t *record_target(const zone_db_t *db, const zone_build_t *zb,
                                        const zone_node_t *node, const zone_rrset_t *set,
                                        const uint8_t *rd, uint16_t rdlen, bool glue)
{
    size_t off = (size_t)target_offset(set->type);
    if (rdlen <= off)
        return NULL;
    bool svcb = set->type == DNS_TYPE_SVCB || set->type == DNS_TYPE_HTTPS;
    if (svcb && rd[off] == 0) {
        /* RFC 9460 2.5.2: "." in ServiceMode is the owner; in AliasMode
         * (priority 0) it says there is no such service. */
        bool addresses = zone_node_rrset(node, DNS_TYPE_A) || zone_node_rrset(node, DNS_TYPE_AAAA);
        return dns_get16(rd) != 0 && addresses ? node : NULL;
    }
    return address_node(db, zb, rd + off, glue);
}

static int compare_pointers(const void *a, const void *b)
{
    const zone_node_t *const *pa = a, *const *pb = b;
    uintptr_t x = (uintptr_t)*pa, y = (uintptr_t)*pb;
    return x < y ? -1 : x > y;
}

/* Fills set->additional: the nodes with the addresses of the targets of
 * the RRset at node, each once, in record order; a delegation's in-domain
 * glue first, so that a referral can tell whether all of it fitted. */
static void resolve_additional(zone_db_t *db, const zone_build_t *zb, const zone_node_t *node,
                               zone_rrset_t *set)
{
    size_t count = set->count;
    bool glue = set->type == DNS_TYPE_NS && (node->flags & ZONE_NODE_DELEG);
    const zone_node_t **found = malloc(2 * count * sizeof(*found));
    bool *taken = calloc(count, sizeof(*taken));
    if (!found || !taken)
        abort(); /* load time */
    const zone_node_t **unique = found + count;
    size_t n_found = 0;
    const uint8_t *p = set->rdata;
    for (size_t r = 0; r < count; r++) {
        uint16_t rdlen = dns_get16(p);
        found[r] = record_target(db, zb, node, set, p + 2, rdlen, glue);
        if (found[r])
            unique[n_found++] = found[r];
        p += 2u + rdlen;
    }
    if (n_found == 0)
        goto done;
    /* A node named twice (MX 10 and MX 20 to one host) is listed once:
     * sorted, the candidates are looked up in O(log n). */
    qsort(unique, n_found, sizeof(*unique), compare_pointers);
    size_t n_unique = 1;
    for (size_t i = 1; i < n_found; i++)
        if (unique[i] != unique[n_unique - 1])
            unique[n_unique++] = unique[i];
    const zone_node_t **list = arena_alloc(&db->arena, n_unique * sizeof(*list));
    size_t n = 0;
    for (int required = 1; required >= 0; required--) {
        for (size_t r = 0; r < count; r++) {
            const zone_node_t *t = found[r];
            if (!t || (glue && dns_name_is_subdomain(t->key, node->key)) != (bool)required)
                continue;
            const zone_node_t **at =
                bsearch(&t, unique, n_unique, sizeof(*unique), compare_pointers);
            if (taken[at - unique])
                continue;
            taken[at - unique] = true;
            list[n++] = t;
        }
        if (required)
            set->n_glue = (uint16_t)n;
    }
    set->additional = list;
    set->n_additional = (uint16_t)n;
done:
    free(found);
    free(taken);
}

static void zone_resolve_targets(zone_db_t *db, zone_build_t *zb)
{
    for (size_t i = 0; i < zb->n_nodes; i++) {
        zone_node_t *node = zb->nodes[i];
        for (size_t s = 0; s < node->n_rrsets; s++) {
            zone_rrset_t *set = (zone_rrset_t *)&node->rrsets[s];
            if (set->type == DNS_TYPE_CNAME) {
                zone_lookup_t *r = arena_calloc(&db->arena, sizeof(*r));
                uint8_t key[DNS_NAME_MAX + 8]; /* zone_lookup() reads past the name */
                size_t len = dns_name_len(set->rdata + 2);
                dns_name_lower(key, set->rdata + 2, len);
                zone_lookup(db, key, len, r);
                set->cname_target = r;
            } else if (target_offset(set->type) >= 0) {
                resolve_additional(db, zb, node, set);
            }
        }
    }
}

/* The most specific source whose origin holds name (lower case), or -1. */
static long source_for(zone_source_t *const *sources, size_t n, const uint8_t *key)
{
    long best = -1;
    unsigned best_labels = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t apex[DNS_NAME_MAX];
        dns_name_lower(apex, sources[i]->origin, sources[i]->origin_len);
        unsigned labels = dns_name_labels(apex);
        if (dns_name_is_subdomain(key, apex) && (best < 0 || labels > best_labels)) {
            best = (long)i;
            best_labels = labels;
        }
    }
    return best;
}

/* consume: free each source once its zone is compiled (all of them,
 * whatever happens), so that a big zone's records and its compiled form
 * are not both held for longer than needed. */
static bool db_build(zone_source_t **sources, size_t n, bool consume, const zone_dynamic_t *dyn,
                     size_t n_dyn, zone_db_t **out, diag_t *d)
{
    zone_db_t *db = calloc(1, sizeof(*db));
    zone_build_t *zbs = calloc(n ? n : 1, sizeof(*zbs));
    if (!db || !zbs)
        abort();
    bool ok = true;
    db->zones = calloc(n ? n : 1, sizeof(*db->zones));
    if (!db->zones)
        abort();

    /* Each dynamic name goes to the most specific zone that holds it. */
    zone_dynamic_t *mine = calloc(n_dyn ? n_dyn : 1, sizeof(*mine));
    long *owner = calloc(n_dyn ? n_dyn : 1, sizeof(*owner));
    if (!mine || !owner)
        abort();
    for (size_t k = 0; k < n_dyn; k++) {
        uint8_t key[DNS_NAME_MAX];
        dns_name_lower(key, dyn[k].name, dns_name_len(dyn[k].name));
        owner[k] = source_for(sources, n, key);
        if (owner[k] < 0) {
            char text[DNS_NAME_MAX * 4];
            dns_name_to_text(dyn[k].name, text, sizeof(text));
            diag_error(d, dyn[k].conf_file, dyn[k].conf_line, 0,
                       "service %s is not inside any served zone", text);
            ok = false;
        }
    }
    size_t total_nodes = 0;
    for (size_t i = 0; ok && i < n; i++) {
        size_t n_mine = 0;
        for (size_t k = 0; k < n_dyn; k++)
            if (owner[k] == (long)i)
                mine[n_mine++] = dyn[k];
        if (!zone_build_one(db, sources[i], &zbs[i], mine, n_mine, d)) {
            ok = false;
            break;
        }
        if (consume) {
            zone_source_free(sources[i]);
            sources[i] = NULL;
        }
        db->zones[i] = zbs[i].zone;
        db->n_zones++;
        ok = zone_compute_cuts(&zbs[i], d);
        total_nodes += zbs[i].n_nodes;
    }
    free(mine);
    free(owner);
    if (!ok)
        goto done;

    table_init(&db->table, total_nodes);
    for (size_t i = 0; i < n; i++) {
        zone_node_t *apex = (zone_node_t *)zbs[i].zone->apex;
        if (zone_index_find(&db->table, apex->hash, apex->key, apex->name_len)) {
            char text[DNS_NAME_MAX * 4];
            dns_name_to_text(apex->name, text, sizeof(text));
            diag_error(d, zbs[i].zone->file, 0, 0, "zone %s is already loaded from another file",
                       text);
            ok = false;
            goto done;
        }
        table_insert(&db->table, apex);
    }
    /* Only a zone with another served below it can lose names to it. */
    bool *nested = calloc(n ? n : 1, sizeof(*nested));
    if (!nested)
        abort();
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < n; k++)
            if (k != i && zbs[k].zone->apex->labels > zbs[i].zone->apex->labels &&
                dns_name_is_subdomain(zbs[k].zone->apex->key, zbs[i].zone->apex->key))
                nested[i] = true;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < zbs[i].n_nodes; k++) {
            zone_node_t *node = zbs[i].nodes[k];
            if (node->flags & ZONE_NODE_APEX)
                continue;
            const zone_node_t *child_apex =
                nested[i] ? node_inside_child_zone(&db->table, node) : NULL;
            if (!child_apex) {
                table_insert(&db->table, node);
            } else if (child_apex->name_len == node->name_len) {
                ((zone_t *)child_apex->zone)->parent_deleg = node;
            }
        }
    }
    free(nested);
    for (size_t i = 0; i < n; i++)
        zone_resolve_targets(db, &zbs[i]);

done:
    for (size_t i = 0; i < n; i++) {
        free(zbs[i].nodes);
        free(zbs[i].slots);
        if (consume) {
            zone_source_free(sources[i]);
            sources[i] = NULL;
        }
    }
    free(zbs);
    if (!ok) {
        zone_db_free(db);
        db = NULL;
    }
    *out = db;
    return ok;
}

bool zone_db_build(zone_source_t *const *sources, size_t n, const zone_dynamic_t *dyn,
                   size_t n_dyn, zone_db_t **out, diag_t *d)
{
    return db_build((zone_source_t **)sources, n, false, dyn, n_dyn, out, d);
}

bool zone_db_build_consume(zone_source_t **sources, size_t n, const zone_dynamic_t *dyn,
                           size_t n_dyn, zone_db_t **out, diag_t *d)
{
    return db_build(sources, n, true, dyn, n_dyn, out, d);
}

void zone_db_free(zone_db_t *db)
{
    if (!db)
        return;
    arena_free(&db->arena);
    free((void *)db->table.buckets);
    free(db->zones);
    free(db);
}

size_t zone_db_zone_count(const zone_db_t *db) { return db->n_zones; }

const zone_t *zone_db_zone(const zone_db_t *db, size_t i) { return db->zones[i]; }


void zone_lookup(const zone_db_t *db, const uint8_t *name_lc, size_t len, zone_lookup_t *r)
{
    uint8_t offs[DNS_LABELS_MAX];
    unsigned n = dns_name_label_offsets(name_lc, offs) - 1; /* labels, root excluded */
    zone_lookup_labels(db, name_lc, len, dns_name_hash(name_lc, len), offs, n, r);
}

void zone_lookup_miss(const zone_db_t *db, const uint8_t *name, size_t len,
                      const uint8_t *offs, unsigned n, zone_lookup_t *r)
{
    memset(r, 0, sizeof(*r));
    if (!db->table.buckets)
        return;
    for (unsigned i = 1; i <= n; i++) {
        const uint8_t *suffix = name + offs[i];
        size_t slen = len - offs[i];
        const zone_node_t *e =
            zone_index_find_any_case(&db->table, dns_name_hash(suffix, slen), suffix, slen);
        if (!e)
            continue;
        r->zone = e->zone;
        r->encloser = e;
        r->cut = e->cut ? e->cut : (e->flags & ZONE_NODE_DNAME) ? e : NULL;
        if (!r->cut)
            r->wild = e->wild;
        return;
    }
}
