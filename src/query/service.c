#include "config.h"

#include "query/service.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/wire.h"
#include "stats/stats.h"
#include "util/log.h"

static enum service_state service_state_now(const service_t *s);

static void *service_alloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p)
        abort(); /* load time */
    return p;
}

/* One answer record owned by the query name. */
static void put_addr_rr(uint8_t *p, uint16_t type, uint32_t ttl, const uint8_t *addr,
                        uint16_t len)
{
    dns_put16(p, 0xC00C);
    dns_put16(p + 2, type);
    dns_put16(p + 4, DNS_CLASS_IN);
    dns_put32(p + 6, ttl);
    dns_put16(p + 10, len);
    memcpy(p + 12, addr, len);
}

static bool name_to_wire(const char *text, uint8_t *out, size_t *len)
{
    ldns_rdf *rdf = NULL;
    if (ldns_str2rdf_dname(&rdf, text) != LDNS_STATUS_OK)
        return false;
    *len = ldns_rdf_size(rdf);
    memcpy(out, ldns_rdf_data(rdf), *len);
    ldns_rdf_deep_free(rdf);
    return true;
}

bool service_build(const conf_t *conf, size_t i, health_t *health, service_t **out, diag_t *d)
{
    const conf_service_t *cs = &conf->services[i];
    service_t *s = service_alloc(sizeof(*s));
    size_t len;
    *out = NULL;
    s->conf = cs;
    s->ttl = cs->ttl;
    s->failover_ttl = cs->failover_ttl;
    s->min_up = cs->min_up ? cs->min_up : 1;
    s->ecs = cs->ecs;
    s->fallback_any = cs->fallback == CONF_FALLBACK_ANY;
    s->health = health ? health_states(health) : NULL;
    if (!name_to_wire(cs->name, s->name, &len)) {
        diag_error(d, cs->conf_file, cs->conf_line, 0, "service %s: not a domain name", cs->name);
        goto fail;
    }
    for (size_t k = 0; k < CONF_MAX_DATACENTERS; k++)
        s->pool_of_dc[k] = -1;
    s->pools = service_alloc(cs->n_pools * sizeof(*s->pools));
    s->n_pools = cs->n_pools;
    /* whole cache lines (8 words) per slot */
    s->counts_stride = (SERVICE_COUNT_ANSWERS + cs->n_pools + 7) / 8 * 8;
    s->counts = aligned_alloc(64, STATS_SLOTS * s->counts_stride * sizeof(*s->counts));
    if (!s->counts)
        abort(); /* load time */
    for (size_t k = 0; k < STATS_SLOTS * s->counts_stride; k++)
        atomic_init(&s->counts[k], 0);
    for (size_t p = 0; p < cs->n_pools; p++) {
        const conf_pool_t *cp = &cs->pools[p];
        service_pool_t *sp = &s->pools[p];
        sp->dc = cp->dc;
        s->pool_of_dc[cp->dc] = (int16_t)p;
        for (size_t a = 0; a < cp->n_addrs; a++) {
            if (cp->addrs[a].family == AF_INET)
                sp->n_a++;
            else
                sp->n_aaaa++;
        }
        s->has_a |= sp->n_a != 0;
        s->has_aaaa |= sp->n_aaaa != 0;
        s->has_cname |= cp->cname != NULL;
        sp->a_wire = service_alloc((size_t)sp->n_a * SERVICE_A_RR_LEN);
        sp->aaaa_wire = service_alloc((size_t)sp->n_aaaa * SERVICE_AAAA_RR_LEN);
        sp->n_targets = (unsigned)sp->n_a + sp->n_aaaa;
        sp->need = health && sp->n_targets ? s->min_up : 0;
        sp->targets = service_alloc((size_t)sp->n_targets * sizeof(*sp->targets));
        sp->a_target = sp->targets;
        sp->aaaa_target = sp->targets + sp->n_a;
        size_t na = 0, n6 = 0;
        for (size_t a = 0; a < cp->n_addrs; a++) {
            const conf_network_t *addr = &cp->addrs[a];
            long target = 0;
            if (health && (target = health_target(health, conf, cs, p, a, d)) < 0)
                goto fail;
            if (addr->family == AF_INET) {
                sp->a_target[na] = (uint32_t)target;
                put_addr_rr(sp->a_wire + SERVICE_A_RR_LEN * na++, DNS_TYPE_A, s->ttl, addr->addr,
                            4);
            } else {
                sp->aaaa_target[n6] = (uint32_t)target;
                put_addr_rr(sp->aaaa_wire + SERVICE_AAAA_RR_LEN * n6++, DNS_TYPE_AAAA, s->ttl,
                            addr->addr, 16);
            }
        }
        if (cp->cname) {
            uint8_t target[DNS_NAME_MAX];
            if (!name_to_wire(cp->cname, target, &len)) {
                diag_error(d, cs->conf_file, cp->conf_line, 0, "service %s: bad CNAME target %s",
                           cs->name, cp->cname);
                goto fail;
            }
            sp->cname = service_alloc(len);
            memcpy(sp->cname, target, len);
        }
    }
    if (!geo_policy_build(conf, cs, &s->policy, d))
        goto fail;
    /* What the loop thread last logged starts as the truth now, so a reload
     * does not announce old news. */
    for (size_t p = 0; p < s->n_pools; p++)
        s->pools[p].was_up = service_pool_up(s, &s->pools[p]);
    s->state = service_state_now(s);
    *out = s;
    return true;
fail:
    service_free(s);
    return false;
}

void service_bind_geo(service_t *s, const geo_db_t *db) { geo_policy_bind(s->policy, db); }

void service_free(service_t *s)
{
    if (!s)
        return;
    for (size_t p = 0; p < s->n_pools; p++) {
        free(s->pools[p].a_wire);
        free(s->pools[p].aaaa_wire);
        free(s->pools[p].targets);
        free(s->pools[p].cname);
    }
    free(s->pools);
    free(s->counts);
    geo_policy_free(s->policy);
    free(s);
}

/* How many of the pool's addresses are up (all of them without health). */
static unsigned pool_up_count(const service_t *s, const service_pool_t *pool)
{
    if (!s->health)
        return pool->n_targets;
    unsigned up = 0;
    for (unsigned i = 0; i < pool->n_targets; i++)
        up += health_state_up(s->health, pool->targets[i]);
    return up;
}

/* service_pool_up() for the query path: stops at the need-th address up,
 * so a healthy pool costs one state read with the default min_up. */
static inline bool pool_up(const service_t *s, const service_pool_t *pool)
{
    unsigned need = pool->need;
    if (!need)
        return true;
    const uint32_t *t = pool->targets;
    for (unsigned i = 0, n = pool->n_targets; i < n; i++) {
        need -= health_state_up(s->health, t[i]);
        if (!need)
            return true;
    }
    return false;
}

bool service_pool_up(const service_t *s, const service_pool_t *pool) { return pool_up(s, pool); }

/* The first up data center of dc[0..n), or -1. */
static int first_up(const service_t *s, const uint8_t *dc, unsigned n, unsigned *at)
{
    for (unsigned i = 0; i < n; i++) {
        int16_t p = s->pool_of_dc[dc[i]];
        if (p >= 0 && pool_up(s, &s->pools[p])) {
            *at = i;
            return p;
        }
    }
    return -1;
}

void service_pick_further(service_t *s, const geo_db_t *db, geo_route_t *route, unsigned slot,
                          service_choice_t *out)
{
    _Atomic uint64_t *c = service_slot_counts(s, slot);
    const uint8_t *order = route->order;
    unsigned n = route->n_order, at;
    int p = first_up(s, order, n, &at);
    out->fail_open = false;
    out->fallback = false;
    if (p >= 0) {
        out->pool = &s->pools[p];
        out->failover = at > 0;
        stats_bump(&c[SERVICE_COUNT_ANSWERS + (size_t)p]);
        if (at > 0)
            stats_bump(&c[SERVICE_COUNT_FAILOVERS]);
        return;
    }
    /* All of the client's order is down: a healthy data center elsewhere
     * beats one that is down. */
    if (s->fallback_any) {
        uint8_t rest[CONF_MAX_DATACENTERS];
        p = first_up(s, rest, geo_policy_fallback(s->policy, db, route, rest), &at);
        if (p >= 0) {
            out->pool = &s->pools[p];
            out->failover = true;
            out->fallback = true;
            stats_bump(&c[SERVICE_COUNT_FALLBACK]);
            stats_bump(&c[SERVICE_COUNT_ANSWERS + (size_t)p]);
            return;
        }
    }
    /* Every data center is down: answering as if all were up beats
     * answering nothing (the checks may be what is broken). */
    int16_t first = n ? s->pool_of_dc[order[0]] : 0;
    if (first < 0)
        first = 0;
    out->pool = &s->pools[first];
    out->failover = false;
    out->fail_open = true;
    stats_bump(&c[SERVICE_COUNT_FAIL_OPEN]);
    stats_bump(&c[SERVICE_COUNT_ANSWERS + (size_t)first]);
}

uint64_t service_count(const service_t *s, size_t which)
{
    uint64_t sum = 0;
    for (size_t slot = 0; slot < STATS_SLOTS; slot++)
        sum += atomic_load_explicit(&s->counts[slot * s->counts_stride + which],
                                    memory_order_relaxed);
    return sum;
}

/* The data centers whose pools are down (bit per data-center index), and
 * whether any pool is up. */
static uint64_t dcs_down(const service_t *s, bool *any_up)
{
    uint64_t down = 0;
    *any_up = false;
    for (size_t p = 0; p < s->n_pools; p++) {
        if (service_pool_up(s, &s->pools[p]))
            *any_up = true;
        else
            down |= UINT64_C(1) << s->pools[p].dc;
    }
    return down;
}

/* What the service does now for its worst-off clients: decided from the
 * health states and the orders the policy can give, not from queries,
 * so the loop thread can tell without the workers' help. */
static enum service_state service_state_now(const service_t *s)
{
    bool any_up;
    uint64_t down = dcs_down(s, &any_up);
    if (!down || !geo_policy_order_within(s->policy, down))
        return SERVICE_NORMAL;
    return s->fallback_any && any_up ? SERVICE_FALLBACK : SERVICE_FAIL_OPEN;
}

const char *service_state_name(enum service_state state)
{
    static const char *const names[] = {"normal", "fallback", "fail open"};
    return state <= SERVICE_FAIL_OPEN ? names[state] : "?";
}

bool service_log_transitions(service_t *s, const conf_t *conf)
{
    for (size_t p = 0; p < s->n_pools; p++) {
        service_pool_t *pool = &s->pools[p];
        bool up = service_pool_up(s, pool);
        if (up == pool->was_up)
            continue;
        unsigned total = pool->n_a + pool->n_aaaa, n_up = pool_up_count(s, pool);
        log_info("service %s: datacenter %s: %s -> %s (%u of %u addresses up, min_up %u)",
                 s->conf->name, conf->datacenters[pool->dc].name, pool->was_up ? "up" : "down",
                 up ? "up" : "down", n_up, total, s->min_up);
        pool->was_up = up;
    }
    enum service_state was = s->state, now = service_state_now(s);
    if (now == was)
        return false;
    s->state = now;
    s->state_since = time(NULL);
    bool any_up;
    dcs_down(s, &any_up);
    if (now == SERVICE_FALLBACK)
        log_warnx("service %s: every data center of some clients' order is down: answering "
                  "them from the nearest healthy data center outside it (fallback)",
                  s->conf->name);
    else if (now == SERVICE_FAIL_OPEN && !any_up)
        log_warnx("service %s: every data center is down: answering with the client's first "
                  "choice anyway (fail open)",
                  s->conf->name);
    else if (now == SERVICE_FAIL_OPEN)
        log_warnx("service %s: every data center of some clients' order is down: answering "
                  "with their first choice anyway (fallback: listed, fail open)",
                  s->conf->name);
    else if (was == SERVICE_FALLBACK)
        log_info("service %s: every client's order has a data center up again: fallback is "
                 "over",
                 s->conf->name);
    else
        log_info("service %s: a data center is up again: fail open is over", s->conf->name);
    return true;
}

static const char *rule_name(enum geo_rule rule)
{
    static const char *const names[] = {"network override", "subdivision", "country",
                                        "continent",        "nearest",     "default"};
    return rule <= GEO_RULE_DEFAULT ? names[rule] : "?";
}

void service_explain(service_t *s, const conf_t *conf, const geo_db_t *db, int family,
                     const uint8_t addr[16], unsigned prefix, FILE *out)
{
    char text[INET6_ADDRSTRLEN];
    geo_decision_t dec;
    geo_route_t route;
    inet_ntop(family, addr, text, sizeof(text));
    geo_policy_decide(s->policy, db, family, addr, prefix, &dec);
    /* the query path's own route and pick, so the answer shown is the one served */
    geo_policy_route(s->policy, db, family, addr, prefix, &route);
    service_choice_t choice;
    service_pick(s, db, &route, STATS_SLOTS - 1, &choice);

    fprintf(out, "service:   %s (policy %s, ECS %s, fallback %s)\n", s->conf->name,
            s->conf->policy == CONF_POLICY_MAP ? "map" : "nearest", s->ecs ? "used" : "ignored",
            s->fallback_any ? "any" : "listed");
    fprintf(out, "client:    %s/%u\n", text, prefix);
    if (dec.rule == GEO_RULE_NETWORK) {
        fprintf(out, "location:  not looked up (override %s)\n", dec.key ? dec.key : "?");
    } else if (!db) {
        fprintf(out, "location:  no GeoIP database configured\n");
    } else if (dec.db_error) {
        fprintf(out, "location:  lookup failed (database error)\n");
    } else if (!dec.loc.found) {
        fprintf(out, "location:  not in the database (network /%u)\n", dec.loc.prefix);
    } else {
        fprintf(out, "location:  continent %s, country %s, subdivision %s",
                dec.loc.continent[0] ? dec.loc.continent : "-",
                dec.loc.country[0] ? dec.loc.country : "-",
                dec.loc.subdivision[0] ? dec.loc.subdivision : "-");
        if (dec.loc.has_coords)
            fprintf(out, ", %.4f %.4f%s", dec.loc.lat, dec.loc.lon,
                    dec.loc.from_country ? " (country table)" : "");
        fprintf(out, " (database network /%u)\n", dec.loc.prefix);
    }
    fprintf(out, "rule:      %s%s%s\n", rule_name(dec.rule), dec.key ? " " : "",
            dec.key ? dec.key : "");
    fprintf(out, "order:    ");
    for (unsigned i = 0; i < dec.n_order; i++)
        fprintf(out, " %s", conf->datacenters[dec.order[i]].name);
    fprintf(out, "\n");
    const service_pool_t *pool = choice.pool;
    if (choice.fallback)
        fprintf(out, "fallback:  every data center of the order is down: %s, the first up "
                     "outside it (nearest to the client; without coordinates by the default "
                     "order)\n",
                conf->datacenters[pool->dc].name);
    fprintf(out, "scope:     /%u\n", route.scope);
    fprintf(out, "answer:    %s:", conf->datacenters[pool->dc].name);
    for (unsigned i = 0; i < pool->n_a; i++) {
        if (!service_addr_served(s, &choice, pool->a_target[i]))
            continue;
        inet_ntop(AF_INET, pool->a_wire + SERVICE_A_RR_LEN * i + 12, text, sizeof(text));
        fprintf(out, " %s", text);
    }
    for (unsigned i = 0; i < pool->n_aaaa; i++) {
        if (!service_addr_served(s, &choice, pool->aaaa_target[i]))
            continue;
        inet_ntop(AF_INET6, pool->aaaa_wire + SERVICE_AAAA_RR_LEN * i + 12, text, sizeof(text));
        fprintf(out, " %s", text);
    }
    if (pool->cname) {
        char name[DNS_NAME_MAX * 4];
        dns_name_to_text(pool->cname, name, sizeof(name));
        fprintf(out, " CNAME %s", name);
    }
    fprintf(out, " (TTL %u%s)\n", choice.failover ? s->failover_ttl : s->ttl,
            choice.fail_open  ? ", every data center of the order down: fail open"
            : choice.fallback ? ", fallback outside the order"
            : choice.failover ? ", failover"
                              : "");
}
