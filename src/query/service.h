/*
 * service: a geo service compiled for the query path.
 *
 * Built at load from a conf_service_t: its routing policy (geo_policy_t)
 * and, per data center, the answer records pre-rendered in wire form
 * (owner = a pointer to the query name, the service TTL), so answering is
 * a decision plus a copy. Read-only after service_build().
 */
#ifndef MERIDIAN_QUERY_SERVICE_H
#define MERIDIAN_QUERY_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "conf/conf.h"
#include "dns/name.h"
#include "dns/wire.h"
#include "geo/geo.h"
#include "health/health.h"
#include "stats/stats.h"
#include "util/diag.h"

#define SERVICE_A_RR_LEN 16    /* C0 0C, type, class, TTL, RDLENGTH, 4 bytes */
#define SERVICE_AAAA_RR_LEN 28 /* the same with 16 bytes */

typedef struct service_pool {
    uint8_t dc;            /* index into conf_t.datacenters */
    uint16_t n_a, n_aaaa;
    uint8_t *a_wire;       /* n_a records of SERVICE_A_RR_LEN bytes */
    uint8_t *aaaa_wire;    /* n_aaaa records of SERVICE_AAAA_RR_LEN bytes */
    uint32_t *a_target;    /* health target of each A record */
    uint32_t *aaaa_target; /* and of each AAAA record */
    uint8_t *cname;        /* wire-format target, or NULL */
    /* The pool is up when need of its targets (a_target then aaaa_target:
     * one array) are up: min_up, or 0 (always up) for a CNAME pool and for
     * a service without health. */
    uint32_t *targets;
    unsigned n_targets, need;
    bool was_up;           /* loop thread only: last state logged */
} service_pool_t;

/* Counters of a service, one block of SERVICE_COUNTS_STRIDE words per
 * stats slot (UDP worker or TCP), each on its own cache lines and written
 * only by its owner: no shared line, no locked instruction per answer. */
enum {
    SERVICE_COUNT_FAIL_OPEN = 0,
    SERVICE_COUNT_FAILOVERS = 1, /* from a later data center of the client's order */
    SERVICE_COUNT_FALLBACK = 2,  /* from a data center outside it (fallback: any) */
    SERVICE_COUNT_ANSWERS = 3,
};

/* What the service answers some clients with, as the loop thread last
 * saw it: every client from its own order; some from outside their order
 * because all of theirs is down (fallback); some from a data center that
 * is down (fail open). */
enum service_state { SERVICE_NORMAL = 0, SERVICE_FALLBACK, SERVICE_FAIL_OPEN };

typedef struct service {
    const conf_service_t *conf;
    uint8_t name[DNS_NAME_MAX]; /* wire, as configured */
    uint32_t ttl;
    uint32_t failover_ttl; /* when the answer is not the client's first choice */
    unsigned min_up;
    bool ecs;
    bool fallback_any;     /* conf fallback: any */
    /* Does some pool have A records, AAAA records, a CNAME? Without a CNAME
     * pool, what no pool has is no data for every client alike. */
    bool has_a, has_aaaa, has_cname;
    const _Atomic uint8_t *health; /* health_states(), or NULL: everything is up */
    /* Per stats slot: SERVICE_COUNT_* (fail open, failovers, fallback),
     * then answers per pool. */
    _Atomic uint64_t *counts;
    size_t counts_stride; /* words per slot, a multiple of a cache line */
    enum service_state state; /* loop thread only: last state logged */
    time_t state_since;       /* when it began; 0: before this snapshot */
    geo_policy_t *policy;
    service_pool_t *pools;
    size_t n_pools;
    int16_t pool_of_dc[CONF_MAX_DATACENTERS]; /* -1: no pool there */
} service_t;

/* Compiles conf->services[i], registering every address with health (which
 * may be NULL: then everything counts as up). Reports problems and returns
 * false on error. Caller frees with service_free(). */
bool service_build(const conf_t *conf, size_t i, health_t *health, service_t **out, diag_t *d);
void service_free(service_t *s);

/* Precomputes the service's decisions for db, the snapshot's GeoIP
 * database (see geo_policy_bind()); before the service is published. */
void service_bind_geo(service_t *s, const geo_db_t *db);

/* Is the data center of pool up: at least min_up of its addresses up? A
 * CNAME pool has no addresses to check and is always up. */
bool service_pool_up(const service_t *s, const service_pool_t *pool);

/* What answers a decision. */
typedef struct service_choice {
    const service_pool_t *pool;
    bool failover;  /* not the client's first choice: use failover_ttl */
    bool fallback;  /* from outside the client's order (also failover) */
    bool fail_open; /* every data center is down: the first one's whole pool */
} service_choice_t;

/* The counters of stats slot slot. */
static inline _Atomic uint64_t *service_slot_counts(const service_t *s, unsigned slot)
{
    return s->counts + (size_t)(slot < STATS_SLOTS ? slot : STATS_SLOTS - 1) * s->counts_stride;
}

/* service_pick() past its first choice: failover, fallback, failing open. */
void service_pick_further(service_t *s, const geo_db_t *db, geo_route_t *route, unsigned slot,
                          service_choice_t *out);

/* The first data center of route's order that is up; when none is, with
 * fallback: any, the nearest up data center outside it (see
 * geo_policy_fallback(): route->scope may grow, db is the one route was
 * decided with); else the order's first (fail open). Counts the answer in
 * stats slot slot (see stats.h: each thread its own). Never allocates.
 * Almost always the first choice is up, and with the default min_up its
 * first address says so: that case is inline. */
static inline void service_pick(service_t *s, const geo_db_t *db, geo_route_t *route,
                                unsigned slot, service_choice_t *out)
{
    const uint8_t *order = route->order;
    int16_t p = route->n_order ? s->pool_of_dc[order[0]] : -1;
    if (p >= 0) {
        const service_pool_t *pool = &s->pools[p];
        if (!pool->need || (pool->need == 1 && health_state_up(s->health, pool->targets[0]))) {
            out->pool = pool;
            out->failover = false;
            out->fallback = false;
            out->fail_open = false;
            stats_bump(&service_slot_counts(s, slot)[SERVICE_COUNT_ANSWERS + (size_t)p]);
            return;
        }
    }
    service_pick_further(s, db, route, slot, out);
}

/* Is the answer to qtype at the service no data, whoever asks and
 * whatever is up? Then it needs no routing, and it holds for every client
 * (ECS scope 0). A CNAME pool answers every type. */
static inline bool service_nodata_for_all(const service_t *s, uint16_t qtype)
{
    if (s->has_cname)
        return false;
    switch (qtype) {
    case DNS_TYPE_A:
        return !s->has_a;
    case DNS_TYPE_AAAA:
        return !s->has_aaaa;
    case DNS_TYPE_ANY:
        return !s->has_a && !s->has_aaaa;
    default:
        return true;
    }
}

/* Counter sums over every slot, for operators: which is SERVICE_COUNT_*
 * (SERVICE_COUNT_ANSWERS + p for pool p's answers). */
uint64_t service_count(const service_t *s, size_t which);

/* May this record of the chosen pool be served? Only up addresses, except
 * when failing open. */
static inline bool service_addr_served(const service_t *s, const service_choice_t *c,
                                       uint32_t target)
{
    return c->fail_open || !s->health || health_state_up(s->health, target);
}

/* Loop thread, after health changes: logs each data center that went down
 * or up for this service, and each change of s->state (once: the state is
 * the service's, whatever the queries). Returns whether s->state changed. */
bool service_log_transitions(service_t *s, const conf_t *conf);

/* "normal", "fallback", "fail open". */
const char *service_state_name(enum service_state state);

/* Writes what the service answers for a client to out, for operators:
 * location, rule, order, answer. family/addr/prefix as for
 * geo_policy_decide(). */
void service_explain(service_t *s, const conf_t *conf, const geo_db_t *db, int family,
                     const uint8_t addr[16], unsigned prefix, FILE *out);

#endif
