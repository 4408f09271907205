/*
 * geo: where a client is, and which data centers should answer it.
 *
 * Three parts, all built at load time and read-only afterwards, so the
 * query path may call geo_db_locate() and geo_policy_decide() from any
 * thread without locks or allocation:
 *   - geo_countries: the country table shipped in geoip/ (ISO 3166 code ->
 *     continent and a representative coordinate), used when a database
 *     gives only a country;
 *   - geo_db: one libmaxminddb database, MaxMind (GeoIP2/GeoLite2 City or
 *     Country) or flat (DB-IP lite, ip-location-db) layout, read through
 *     configurable field paths. Opening it walks the whole search tree once
 *     and decodes every distinct record, so broken data is refused at load
 *     and a lookup never decodes anything;
 *   - geo_nets and geo_policy: a service's routing compiled from the
 *     config: network overrides in a binary trie (longest prefix wins),
 *     then the map rules (subdivision -> country -> continent -> default)
 *     or the nearest data centers by great-circle distance.
 *
 * Addresses are passed as a family (AF_INET, AF_INET6) and 16 bytes
 * (IPv4 in the first 4). Prefix lengths are in the family's bits. An IPv6
 * address that embeds an IPv4 one (::ffff:a.b.c.d, 6to4 2002::/16) is
 * located by its IPv4 address, and the prefix is given back in IPv6 bits.
 */
#ifndef MERIDIAN_GEO_GEO_H
#define MERIDIAN_GEO_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "conf/conf.h"
#include "util/diag.h"

/* ------------------------------------------------------------ countries */

typedef struct geo_country {
    char code[3];      /* "GB" */
    char continent[3]; /* "EU" */
    double lat, lon;   /* representative point */
} geo_country_t;

typedef struct geo_countries geo_countries_t;

/* Loads the CSV country table (see geoip/countries.csv for its format).
 * Caller frees with geo_countries_free(). */
bool geo_countries_load(const char *path, geo_countries_t **out, diag_t *d);
void geo_countries_free(geo_countries_t *t);
/* code: two letters, any case. NULL when unknown. */
const geo_country_t *geo_countries_find(const geo_countries_t *t, const char *code);

/* ------------------------------------------------------------ database */

typedef struct geo_location {
    bool found;           /* the database holds a record for the address */
    char continent[3];    /* "EU"; "" when unknown */
    char country[3];      /* "GB"; "" when unknown */
    char subdivision[4];  /* first subdivision's ISO code: "ENG", "CA"; "" */
    bool has_coords;
    double lat, lon;
    bool from_country;    /* continent/coordinates filled from the country table */
    uint8_t prefix;       /* the database network holding the address, in the
                             family's bits (also when not found) */
} geo_location_t;

typedef struct geo_db geo_db_t;

/* fields NULL means the defaults described in conf.h. countries may be
 * NULL (then nothing is filled in). Returns false, having reported the
 * file and what is wrong, when the file cannot be opened, is not a MaxMind
 * DB, or holds a record that cannot be decoded. Caller frees with
 * geo_db_free(). */
bool geo_db_open(const char *path, const conf_geo_fields_t *fields,
                 const geo_countries_t *countries, geo_db_t **out, diag_t *d);
void geo_db_free(geo_db_t *db);

/* Fills loc for addr. Returns 0 (loc->found says whether there was a
 * record), or -EIO when the database could not be searched (then loc says
 * not found). Never allocates. */
int geo_db_locate(const geo_db_t *db, int family, const uint8_t addr[16], geo_location_t *loc);

/* The query path's form of geo_db_locate(): returns 1 and sets *record (an
 * index below geo_db_record_count()) when the database holds a record for
 * addr, 0 when it holds none, -EIO when it could not be searched. *prefix
 * is set in every case, as loc->prefix would be. Never allocates. */
int geo_db_lookup(const geo_db_t *db, int family, const uint8_t addr[16], uint32_t *record,
                  uint8_t *prefix);
/* The IPv4 tables, the first member of a geo_db_t; public only so that
 * the lookup below can be inline. A lookup is l1[first 16 bits], and when
 * that /16 is split further, a read of its block in l2 by the third byte.
 * An entry is
 *     code << GEO_V4_SHIFT | flags | depth (5 bits)
 * and is either final: the address's network is depth bits long and code
 * is 0 (not in the database), 1 (a record that points nowhere) or 2 + a
 * record index; or GEO_V4_TABLE (l1 only): the /16's block starts at
 * l2 + code * GEO_V4_BLOCK; or GEO_V4_WALK: the lookup goes on down the
 * tree (networks longer than /24).
 * A block is the /16's 256 entries by third byte, or, with GEO_V4_RUNS in
 * the l1 entry, its runs of equal entries: 16 bytes holding the last third
 * byte of each run in order (the last run's is 255, unused ones 255 too),
 * then one entry per run. Most split /16s hold one or two networks, which
 * is at most 16 runs, so their block is one cache line instead of 1 KiB. */
typedef struct geo_v4_index {
    const uint32_t *l1;
    const uint32_t *l2; /* 64-byte aligned */
} geo_v4_index_t;
#define GEO_V4_DEPTH 0x1fu
#define GEO_V4_RUNS 0x01u /* in a GEO_V4_TABLE entry, whose depth bits are free */
#define GEO_V4_TABLE 0x20u
#define GEO_V4_WALK 0x40u
#define GEO_V4_SHIFT 7
#define GEO_V4_BLOCK 16u /* uint32_t: blocks are 64-byte aligned */
#define GEO_V4_RUNS_MAX 16u

/* geo_db_lookup_v4() for entry e when it is not a record or "none". */
int geo_db_lookup_v4_rest(const geo_db_t *db, uint32_t addr, uint32_t e, uint32_t *record,
                          uint8_t *prefix);

/* The run of a runs block holding third byte b: the first whose last byte
 * is b or more. One 16-byte compare where SSE2 is there. */
static inline unsigned geo_v4_run(const uint32_t *block, unsigned b)
{
#if defined(__SSE2__)
    __m128i last = _mm_load_si128((const __m128i *)(const void *)block);
    __m128i ge = _mm_cmpeq_epi8(_mm_max_epu8(last, _mm_set1_epi8((char)b)), last);
    return (unsigned)__builtin_ctz((unsigned)_mm_movemask_epi8(ge));
#else
    const uint8_t *last = (const uint8_t *)block;
    unsigned i = 0;
    while (last[i] < b) /* ends: the last run's is 255 */
        i++;
    return i;
#endif
}

/* The block a GEO_V4_TABLE entry e points to. */
static inline const uint32_t *geo_v4_block_at(const geo_v4_index_t *ix, uint32_t e)
{
    return ix->l2 + (size_t)(e >> GEO_V4_SHIFT) * GEO_V4_BLOCK;
}

/* geo_db_lookup() for an IPv4 address given as a number (host order:
 * 192.0.2.1 is 0xC0000201); *prefix in IPv4 bits. One or two table reads
 * for a network of /24 or shorter, inline. */
static inline int geo_db_lookup_v4(const geo_db_t *db, uint32_t addr, uint32_t *record,
                                   uint8_t *prefix)
{
    const geo_v4_index_t *ix = (const geo_v4_index_t *)db; /* its first member */
    uint32_t e = ix->l1[addr >> 16];
    if (e & GEO_V4_TABLE) {
        const uint32_t *block = geo_v4_block_at(ix, e);
        if (e & GEO_V4_RUNS) /* the entries follow the 16 bytes of ends */
            e = (block + 16 / sizeof(uint32_t))[geo_v4_run(block, addr >> 8 & 0xff)];
        else
            e = block[addr >> 8 & 0xff];
    }
    uint32_t code = e >> GEO_V4_SHIFT;
    if ((e & GEO_V4_WALK) || code == 1)
        return geo_db_lookup_v4_rest(db, addr, e, record, prefix);
    *prefix = (uint8_t)(e & GEO_V4_DEPTH);
    if (code == 0)
        return 0;
    *record = code - 2;
    return 1;
}
/* Starts reading addr's first-level entry (see geo_db_lookup_v4()) into
 * the cache, so that a lookup soon after does not wait for memory. */
static inline void geo_db_prefetch_v4(const geo_db_t *db, uint32_t addr)
{
    const geo_v4_index_t *ix = (const geo_v4_index_t *)db;
    __builtin_prefetch(&ix->l1[addr >> 16]);
}
/* The next step of the same: once that entry is in the cache, starts
 * reading the part of its /16's block the lookup will read. */
static inline void geo_db_prefetch_v4_block(const geo_db_t *db, uint32_t addr)
{
    const geo_v4_index_t *ix = (const geo_v4_index_t *)db;
    uint32_t e = ix->l1[addr >> 16];
    if (!(e & GEO_V4_TABLE))
        return;
    const uint32_t *block = geo_v4_block_at(ix, e);
    __builtin_prefetch(e & GEO_V4_RUNS ? block : block + (addr >> 8 & 0xff));
}
/* Every distinct record of the database was decoded at open; these are
 * their indices' bounds and their contents. */
size_t geo_db_record_count(const geo_db_t *db);
void geo_db_record_location(const geo_db_t *db, uint32_t record, uint8_t prefix,
                            geo_location_t *loc);

/* Records that name a country but have no continent or no coordinates
 * (after the country table, when one was given): without a table, the
 * whole of a country-only database. */
size_t geo_db_country_only_count(const geo_db_t *db);

/* Lookups that failed (-EIO) since open, for logs and metrics. */
uint64_t geo_db_error_count(const geo_db_t *db);

/* One line for logs: "GeoLite2-City, built 2026-11-01, 3412345 networks". */
const char *geo_db_describe(const geo_db_t *db);

/* ------------------------------------------------------------ networks */

typedef struct geo_nets geo_nets_t;

geo_nets_t *geo_nets_new(void);
void geo_nets_free(geo_nets_t *nets);
/* Maps a network to value. Returns 0, or -EEXIST when that exact network
 * is there already (-EINVAL: bad family, prefix too long or bits set past
 * it; -ENOMEM). An IPv6 network inside ::ffff:0:0/96 is the IPv4 network
 * it embeds. */
int geo_nets_add(geo_nets_t *nets, const conf_network_t *net, uint32_t value);
size_t geo_nets_count(const geo_nets_t *nets);
/* Call after the last geo_nets_add(): lays the tries out for fast lookups
 * (about 4x faster for a million networks) and trims memory. Lookups are
 * right without it; a later add undoes it. Returns 0 or -ENOMEM. */
int geo_nets_finish(geo_nets_t *nets);
/* Longest-prefix match. Returns true and sets *value and *prefix when a
 * network holds addr. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is looked
 * up among the IPv4 networks only, with *prefix in IPv6 bits. */
bool geo_nets_lookup(const geo_nets_t *nets, int family, const uint8_t addr[16],
                     uint32_t *value, uint8_t *prefix);
/* The same, and *scope (when not NULL, also set on a miss) is the shortest
 * prefix of addr over which every address gets this same result: the
 * matched prefix, or longer when a more specific network sits inside it;
 * 0 when there are no networks. It is the ECS scope an override decided. */
bool geo_nets_lookup_scope(const geo_nets_t *nets, int family, const uint8_t addr[16],
                           uint32_t *value, uint8_t *prefix, uint8_t *scope);
/* Exact match: true, with *value (when not NULL), when net itself was added. */
bool geo_nets_get(const geo_nets_t *nets, const conf_network_t *net, uint32_t *value);
/* Bytes held, for logs and sizing. */
size_t geo_nets_memory(const geo_nets_t *nets);

/* ------------------------------------------------------------ policy */

enum geo_rule {
    GEO_RULE_NETWORK = 0, /* a networks override */
    GEO_RULE_SUBDIVISION,
    GEO_RULE_COUNTRY,
    GEO_RULE_CONTINENT,
    GEO_RULE_NEAREST,
    GEO_RULE_DEFAULT,
};

typedef struct geo_decision {
    enum geo_rule rule;
    const char *key;      /* the rule's key ("US-CA", "GB", "EU", the CIDR text of an
                             override) or NULL; points into the policy */
    geo_location_t loc;   /* what the database said (not filled for overrides) */
    bool db_error;        /* the lookup failed: the default order was used */
    uint8_t scope;        /* ECS SCOPE PREFIX-LENGTH: the prefix of the network that
                             decided; 0 when the source prefix was 0 */
    uint8_t n_order;
    uint8_t order[CONF_MAX_DATACENTERS]; /* indices into conf_t.datacenters, best
                                            first; only data centers with a pool */
} geo_decision_t;

typedef struct geo_policy geo_policy_t;

/* geo_policy_route()'s answer: a decision without copies. */
typedef struct geo_route {
    const uint8_t *order; /* n_order data centers, best first (in the policy or buf) */
    uint8_t n_order;
    uint8_t scope;        /* as in geo_decision_t */
    enum geo_rule rule;
    const char *key;
    bool db_error;
    bool found;           /* the database holds a record: record, prefix */
    uint32_t record;
    uint8_t prefix;       /* the database network's prefix (also when not found) */
    uint8_t buf[CONF_MAX_DATACENTERS]; /* an order computed for this query */
    /* Set only when an override decided (rule GEO_RULE_NETWORK), which
     * locates nobody: the client for geo_policy_fallback() to locate. */
    int family;
    uint8_t source_prefix;
    uint8_t addr[16];     /* masked to source_prefix */
} geo_route_t;

/* Compiles svc (its rules, inline networks and networks_file) against
 * conf's data centers. Reports every problem (file:line) and returns false
 * on any error. Caller frees with geo_policy_free(). */
bool geo_policy_build(const conf_t *conf, const conf_service_t *svc, geo_policy_t **out,
                      diag_t *d);
void geo_policy_free(geo_policy_t *p);

/* Decides the data-center order for a client: network overrides, then
 * geo_db_locate() and geo_policy_apply(). source_prefix is the ECS SOURCE
 * PREFIX-LENGTH, or the full length for a packet's source address; 0 means
 * "do not locate": the default order with scope 0. db may be NULL (no
 * database configured: overrides, then the default order). A failed lookup
 * gives the default order with db_error set and scope = source_prefix.
 * Bits of addr past source_prefix are ignored. The scope is never so wide
 * that it takes in an override that answers differently: an override's
 * scope is its prefix, or longer when a more specific override sits inside
 * it; otherwise the scope is at least the prefix that keeps clear of every
 * override (so with no database and no overrides it is 0).
 * Never allocates. */
void geo_policy_decide(const geo_policy_t *p, const geo_db_t *db, int family,
                       const uint8_t addr[16], unsigned source_prefix, geo_decision_t *out);

/* geo_policy_decide() for the query path: the same decision, with the
 * order pointing into the policy instead of copied, and no location. It
 * is cheapest after geo_policy_bind(p, db). Never allocates. */
void geo_policy_route(const geo_policy_t *p, const geo_db_t *db, int family,
                      const uint8_t addr[16], unsigned source_prefix, geo_route_t *out);

/* Computes the decision for every record of db once (the database was
 * decoded whole at open), so geo_policy_route() with that db only walks
 * the tree and reads a table. db NULL forgets it. Call before the policy
 * is shared with other threads. */
void geo_policy_bind(geo_policy_t *p, const geo_db_t *db);

/* The rules after the overrides, for a location already found: map
 * (subdivision as "CC-SUB", country, continent, default) or nearest (by
 * distance from loc's coordinates; the default order when it has none;
 * ties keep the pools' order). A map rule's order is exactly its list:
 * data centers it leaves out are not appended.
 * Sets rule, key, n_order, order and scope = loc->prefix; copies loc. */
void geo_policy_apply(const geo_policy_t *p, const geo_location_t *loc, geo_decision_t *out);

/* When every data center of route's order is down (a service's
 * `fallback: any`): the data centers with a pool that the order leaves
 * out, best first, written to dc (CONF_MAX_DATACENTERS bytes); returns how
 * many. Best is nearest to the client's coordinates (the route's database
 * record; for an override, a lookup of its address in db now), with the
 * data centers that have no location after those that do; a client
 * without coordinates gets the default order, then the other data centers
 * in config order. When such a lookup decided, route->scope grows to the
 * database network's prefix (or to the source prefix when the lookup
 * failed), so the ECS scope is never wider than what decided. Never
 * allocates. */
unsigned geo_policy_fallback(const geo_policy_t *p, const geo_db_t *db, geo_route_t *route,
                             uint8_t *dc);

/* Is there an order the policy can give (a rule's, an override's, the
 * default, a nearest one) that lies wholly inside dcs (bit i: data-center
 * index i)? The loop thread asks with the data centers that are down, to
 * know whether some clients fall back or fail open. */
bool geo_policy_order_within(const geo_policy_t *p, uint64_t dcs);

/* Great-circle distance in kilometres (haversine, mean Earth radius). */
double geo_distance_km(double lat1, double lon1, double lat2, double lon2);

#endif
