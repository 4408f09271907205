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
#include "util/diag.h"

#define SERVICE_A_RR_LEN 16    /* C0 0C, type, class, TTL, RDLENGTH, 4 bytes */
#define SERVICE_AAAA_RR_LEN 28 /* the same with 16 bytes */

typedef struct service_pool {
    uint8_t dc;            /* index into conf_t.datacenters */
    uint16_t n_a, n_aaaa;
    uint8_t *a_wire;       /* n_a records of SERVICE_A_RR_LEN bytes */
    uint8_t *aaaa_wire;    /* n_aaaa records of SERVICE_AAAA_RR_LEN bytes */
    uint8_t *cname;        /* wire-format target, or NULL */
} service_pool_t;

typedef struct service {
    const conf_service_t *conf;
    uint8_t name[DNS_NAME_MAX]; /* wire, as configured */
    uint32_t ttl;
    bool ecs;
    geo_policy_t *policy;
    service_pool_t *pools;
    size_t n_pools;
    int16_t pool_of_dc[CONF_MAX_DATACENTERS]; /* -1: no pool there */
} service_t;

/* Compiles conf->services[i]. Reports problems and returns false on error.
 * Caller frees with service_free(). */
bool service_build(const conf_t *conf, size_t i, service_t **out, diag_t *d);
void service_free(service_t *s);

/* The pool that answers for a decision: the first data center in its
 * order (health checks will make this the first one that is up). */
const service_pool_t *service_pick(const service_t *s, const geo_decision_t *dec);

/* Writes what the service answers for a client to out, for operators:
 * location, rule, order, answer. family/addr/prefix as for
 * geo_policy_decide(). */
void service_explain(const service_t *s, const conf_t *conf, const geo_db_t *db, int family,
                     const uint8_t addr[16], unsigned prefix, FILE *out);

#endif
