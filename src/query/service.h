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

#include "conf/conf.h"
#include "dns/name.h"
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
enum { SERVICE_COUNT_FAIL_OPEN = 0, SERVICE_COUNT_FAILOVERS = 1, SERVICE_COUNT_ANSWERS = 2 };

typedef struct service {
    const conf_service_t *conf;
    uint8_t name[DNS_NAME_MAX]; /* wire, as configured */
    uint32_t ttl;
    uint32_t failover_ttl; /* when the answer is not the client's first choice */
    unsigned min_up;
    bool ecs;
    const _Atomic uint8_t *health; /* health_states(), or NULL: everything is up */
    /* Per stats slot: answers given while every data center was down,
     * answers not from the client's first choice, then answers per pool. */
    _Atomic uint64_t *counts;
    size_t counts_stride; /* words per slot, a multiple of a cache line */
    bool was_fail_open;   /* loop thread only: last state logged */
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
    bool fail_open; /* every data center is down: the first one's whole pool */
} service_choice_t;

/* The counters of stats slot slot. */
static inline _Atomic uint64_t *service_slot_counts(const service_t *s, unsigned slot)
{
    return s->counts + (size_t)(slot < STATS_SLOTS ? slot : STATS_SLOTS - 1) * s->counts_stride;
}

/* service_pick() past its first choice: failover and failing open. */
void service_pick_further(service_t *s, const uint8_t *order, unsigned n, unsigned slot,
                          service_choice_t *out);

/* The first data center in order (n data centers, best first) that is
 * up; when none is, the first (fail open). Counts the answer in stats slot
 * slot (see stats.h: each thread its own). Never allocates. Almost always
 * the first choice is up, and with the default min_up its first address
 * says so: that case is inline. */
static inline void service_pick(service_t *s, const uint8_t *order, unsigned n, unsigned slot,
                                service_choice_t *out)
{
    int16_t p = n ? s->pool_of_dc[order[0]] : -1;
    if (p >= 0) {
        const service_pool_t *pool = &s->pools[p];
        if (!pool->need || (pool->need == 1 && health_state_up(s->health, pool->targets[0]))) {
            out->pool = pool;
            out->failover = false;
            out->fail_open = false;
            stats_bump(&service_slot_counts(s, slot)[SERVICE_COUNT_ANSWERS + (size_t)p]);
            return;
        }
    }
    service_pick_further(s, order, n, slot, out);
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
 * or up for this service and the start and end of failing open. */
void service_log_transitions(service_t *s, const conf_t *conf);

/* Writes what the service answers for a client to out, for operators:
 * location, rule, order, answer. family/addr/prefix as for
 * geo_policy_decide(). */
void service_explain(service_t *s, const conf_t *conf, const geo_db_t *db, int family,
                     const uint8_t addr[16], unsigned prefix, FILE *out);

#endif
