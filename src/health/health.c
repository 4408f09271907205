/*
 * health: the target table, hysteresis, overrides and the state file.
 *
 * Targets live in an array indexed by id plus a hash on their key; ids
 * only grow, except that a rollback hands back the ids of the pending
 * targets it drops (no published snapshot ever held them). A retired
 * target's slot stays NULL for the life of the process.
 */
#include "config.h"

#include "health/health_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/file.h"
#include "util/log.h"

#define HEALTH_BUCKETS 65536 /* power of two */
#define STATE_FILE_MAX (1024 * 1024)

/* ------------------------------------------------------------ helpers */

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p)
        fatalx("health: out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        fatalx("health: out of memory");
    return p;
}

static const char *state_name(enum health_state st)
{
    switch (st) {
    case HEALTH_UP:
        return "up";
    case HEALTH_DOWN:
        return "down";
    default:
        return "unknown";
    }
}

static const char *force_name(enum health_force f)
{
    return f == HEALTH_FORCE_UP ? "up" : f == HEALTH_FORCE_DOWN ? "down" : "auto";
}

/* A full-length network with every byte past the address zero, so that
 * two spellings of one address compare equal with memcmp. */
static void normalize(conf_network_t *n)
{
    conf_network_t out;
    memset(&out, 0, sizeof(out));
    out.family = n->family;
    out.prefix = n->family == AF_INET ? 32 : 128;
    memcpy(out.addr, n->addr, n->family == AF_INET ? 4 : 16);
    *n = out;
}

bool health__parse_address(const char *text, conf_network_t *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, text, out->addr) == 1) {
        out->family = AF_INET;
    } else if (inet_pton(AF_INET6, text, out->addr) == 1) {
        out->family = AF_INET6;
    } else {
        return false;
    }
    normalize(out);
    return true;
}

bool health__same_address(const conf_network_t *a, const conf_network_t *b)
{
    return a->family == b->family && memcmp(a->addr, b->addr, 16) == 0;
}

void health__address_text(const conf_network_t *a, char *buf, size_t size)
{
    if (!inet_ntop(a->family == AF_INET ? AF_INET : AF_INET6, a->addr, buf, (socklen_t)size))
        snprintf(buf, size, "?");
}

/* ------------------------------------------------------------ keys */

typedef struct key {
    const char *check; /* NULL: unchecked */
    const char *datacenter;
    conf_network_t addr, probe;
    uint16_t port;
} target_key_t;

static uint16_t check_port(const conf_health_check_t *c)
{
    if (c->type == CONF_CHECK_FILE)
        return 0;
    if (c->port)
        return c->port;
    if (c->type == CONF_CHECK_HTTPS)
        return 443;
    return c->type == CONF_CHECK_HTTP ? 80 : 0;
}

static uint32_t fnv(uint32_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t key_hash(const target_key_t *k)
{
    uint32_t h = 2166136261u;
    if (k->check)
        h = fnv(h, k->check, strlen(k->check) + 1);
    h = fnv(h, "|", 1);
    h = fnv(h, k->datacenter, strlen(k->datacenter) + 1);
    h = fnv(h, &k->addr.family, 1);
    h = fnv(h, k->addr.addr, 16);
    h = fnv(h, &k->probe.family, 1);
    h = fnv(h, k->probe.addr, 16);
    return fnv(h, &k->port, sizeof(k->port));
}

static bool key_matches(const health__target_t *t, const target_key_t *k)
{
    if (t->has_check != (k->check != NULL))
        return false;
    if (k->check && strcmp(t->check.name, k->check) != 0)
        return false;
    return t->port == k->port && strcmp(t->datacenter, k->datacenter) == 0 &&
           health__same_address(&t->addr, &k->addr) && health__same_address(&t->probe, &k->probe);
}

/* Fills k for address `addr` of pool `pool` of svc; false (with *why) when
 * the indices or the check do not hold together. */
static bool key_from_conf(const conf_t *conf, const conf_service_t *svc, size_t pool, size_t addr,
                          target_key_t *k, const conf_health_check_t **check, const char **why)
{
    memset(k, 0, sizeof(*k));
    *check = NULL;
    if (pool >= svc->n_pools || addr >= svc->pools[pool].n_addrs) {
        *why = "no such pool address";
        return false;
    }
    const conf_pool_t *p = &svc->pools[pool];
    if (p->dc >= conf->n_datacenters) {
        *why = "pool names an unknown data center";
        return false;
    }
    if (svc->check) {
        if (svc->check_index >= conf->n_health_checks) {
            *why = "service names an unknown health check";
            return false;
        }
        *check = &conf->health_checks[svc->check_index];
        k->check = (*check)->name;
        k->port = check_port(*check);
    }
    k->datacenter = conf->datacenters[p->dc].name;
    k->addr = p->addrs[addr];
    normalize(&k->addr);
    if (p->probes && p->probes[addr].family) {
        k->probe = p->probes[addr];
        normalize(&k->probe);
    } else {
        k->probe = k->addr;
    }
    return true;
}

static health__target_t *lookup(const health_t *h, const target_key_t *k, uint32_t hash)
{
    uint32_t next = h->buckets[hash & (HEALTH_BUCKETS - 1)];
    while (next) {
        health__target_t *t = h->targets[next - 1];
        if (t->hash == hash && key_matches(t, k))
            return t;
        next = t->hash_next;
    }
    return NULL;
}

static void unhash(health_t *h, health__target_t *t)
{
    uint32_t *link = &h->buckets[t->hash & (HEALTH_BUCKETS - 1)];
    while (*link) {
        health__target_t *cur = h->targets[*link - 1];
        if (cur == t) {
            *link = t->hash_next;
            return;
        }
        link = &cur->hash_next;
    }
}

static void check_copy(conf_health_check_t *dst, const conf_health_check_t *src)
{
    *dst = *src;
    dst->name = xstrdup(src->name);
    dst->path = xstrdup(src->path);
    dst->host = xstrdup(src->host);
    dst->expect_body = xstrdup(src->expect_body);
    dst->file = xstrdup(src->file);
    dst->conf_file = NULL; /* the conf may be freed before the target */
    dst->conf_line = 0;
    if (dst->down_after == 0)
        dst->down_after = 1;
    if (dst->up_after == 0)
        dst->up_after = 1;
}

static void check_clear(conf_health_check_t *c)
{
    free(c->name);
    free(c->path);
    free(c->host);
    free(c->expect_body);
    free(c->file);
    memset(c, 0, sizeof(*c));
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Whether a running target must restart its probing for the new
 * parameters (the thresholds alone only change future decisions). */
static bool check_differs(const conf_health_check_t *a, const conf_health_check_t *b)
{
    return a->type != b->type || a->interval_ms != b->interval_ms ||
           a->timeout_ms != b->timeout_ms || !str_eq(a->path, b->path) ||
           !str_eq(a->host, b->host) || a->expect_status != b->expect_status ||
           !str_eq(a->expect_body, b->expect_body) || a->verify_tls != b->verify_tls ||
           !str_eq(a->file, b->file);
}

/* ------------------------------------------------------------ effective state */

static enum health_force address_override(const health_t *h, const conf_network_t *addr)
{
    for (size_t i = 0; i < h->n_addr_overrides; i++)
        if (health__same_address(&h->addr_overrides[i].addr, addr))
            return h->addr_overrides[i].force;
    return HEALTH_AUTO;
}

static enum health_force dc_override(const health_t *h, const char *dc)
{
    for (size_t i = 0; i < h->n_dc_overrides; i++)
        if (strcmp(h->dc_overrides[i].name, dc) == 0)
            return h->dc_overrides[i].force;
    return HEALTH_AUTO;
}

/* The override in effect for t, and whether it is the address's. */
static enum health_force target_force(const health_t *h, const health__target_t *t, bool *by_addr)
{
    enum health_force f = address_override(h, &t->addr);
    *by_addr = f != HEALTH_AUTO;
    if (f == HEALTH_AUTO)
        f = dc_override(h, t->datacenter);
    return f;
}

static uint8_t target_effective(const health_t *h, const health__target_t *t)
{
    bool by_addr;
    enum health_force f = target_force(h, t, &by_addr);
    if (f == HEALTH_FORCE_UP)
        return HEALTH_UP;
    if (f == HEALTH_FORCE_DOWN)
        return HEALTH_DOWN;
    return (uint8_t)t->check_state;
}

static void target_label(const health__target_t *t, char *buf, size_t size)
{
    char addr[INET6_ADDRSTRLEN];
    health__address_text(&t->addr, addr, sizeof(addr));
    if (t->has_check)
        snprintf(buf, size, "%s (%s, check %s)", addr, t->datacenter, t->check.name);
    else
        snprintf(buf, size, "%s (%s, unchecked)", addr, t->datacenter);
}

/* Recomputes t's effective state; on a change stores it (relaxed: the
 * byte is all a reader needs) and logs one line. reason NULL: the change
 * came from an override, which then names itself. */
static void update_effective(health_t *h, health__target_t *t, const char *reason)
{
    uint8_t now = target_effective(h, t);
    if (now == t->effective)
        return;
    char label[256], why[256];
    if (!reason) {
        bool by_addr;
        enum health_force f = target_force(h, t, &by_addr);
        if (f == HEALTH_AUTO) {
            snprintf(why, sizeof(why), "override cleared, check says %s",
                     state_name(t->check_state));
        } else if (by_addr) {
            char addr[INET6_ADDRSTRLEN];
            health__address_text(&t->addr, addr, sizeof(addr));
            snprintf(why, sizeof(why), "override: address %s forced %s", addr, force_name(f));
        } else {
            snprintf(why, sizeof(why), "override: datacenter %s forced %s", t->datacenter,
                     force_name(f));
        }
        reason = why;
    }
    target_label(t, label, sizeof(label));
    if (now == HEALTH_DOWN)
        log_warnx("health: %s: %s -> %s (%s)", label, state_name(t->effective), state_name(now),
                  reason);
    else
        log_info("health: %s: %s -> %s (%s)", label, state_name(t->effective), state_name(now),
                 reason);
    t->effective = now;
    t->since = time(NULL);
    snprintf(t->why, sizeof(t->why), "%s", reason);
    atomic_store_explicit(&h->states[t->id], now, memory_order_relaxed);
    h->changed = true;
}

static void update_all(health_t *h)
{
    for (uint32_t id = 0; id < h->n_targets; id++)
        if (h->targets[id])
            update_effective(h, h->targets[id], NULL);
}

void health__notify(health_t *h)
{
    if (!h->changed)
        return;
    h->changed = false;
    if (h->on_change)
        h->on_change(h->arg);
}

static unsigned saturating_inc(unsigned n)
{
    return n == UINT_MAX ? n : n + 1;
}

void health__check_result(health__target_t *t, bool ok, const char *why)
{
    health_t *h = t->h;
    char reason[256] = "";
    enum health_state before = t->check_state;

    if (ok) {
        t->successes = saturating_inc(t->successes);
        t->failures = 0;
        t->has_error = false;
        if (before == HEALTH_UNKNOWN) {
            t->check_state = HEALTH_UP;
            snprintf(reason, sizeof(reason), "first check passed");
        } else if (before == HEALTH_DOWN && t->successes >= t->check.up_after) {
            t->check_state = HEALTH_UP;
            snprintf(reason, sizeof(reason), "recovered: %u consecutive success%s", t->successes,
                     t->successes == 1 ? "" : "es");
        }
    } else {
        t->failures = saturating_inc(t->failures);
        t->successes = 0;
        t->has_error = true;
        snprintf(t->last_error, sizeof(t->last_error), "%s", why ? why : "failed");
        if (before != HEALTH_DOWN && t->failures >= t->check.down_after) {
            t->check_state = HEALTH_DOWN;
            snprintf(reason, sizeof(reason), "%u consecutive failure%s: %s", t->failures,
                     t->failures == 1 ? "" : "s", t->last_error);
        } else {
            log_debug("health: check %s of %s failed (%u of %u): %s", t->check.name, t->datacenter,
                      t->failures, t->check.down_after, t->last_error);
        }
    }
    if (t->check_state != before) {
        if (target_effective(h, t) == t->effective) {
            char label[256];
            target_label(t, label, sizeof(label));
            log_info("health: %s: check says %s (%s), overridden", label,
                     state_name(t->check_state), reason);
        }
        update_effective(h, t, reason);
    }
    health__notify(h);
}

void health__file_state(health__target_t *t, enum health_state st, const char *reason)
{
    /* No hysteresis: whoever writes the file has already decided. */
    if (t->check_state == st)
        return;
    t->check_state = st;
    t->has_error = st == HEALTH_DOWN;
    if (t->has_error)
        snprintf(t->last_error, sizeof(t->last_error), "%s", reason);
    update_effective(t->h, t, reason);
}

/* ------------------------------------------------------------ targets */

static health__target_t *target_new(health_t *h, const target_key_t *k, uint32_t hash,
                                    const conf_health_check_t *check)
{
    health__target_t *t = xcalloc(1, sizeof(*t));
    t->h = h;
    t->id = h->n_targets++;
    t->status = HEALTH__PENDING;
    t->hash = hash;
    t->datacenter = xstrdup(k->datacenter);
    t->addr = k->addr;
    t->probe = k->probe;
    t->port = k->port;
    if (check) {
        t->has_check = true;
        check_copy(&t->check, check);
    }
    t->check_state = HEALTH_UNKNOWN;
    h->targets[t->id] = t;
    uint32_t *bucket = &h->buckets[hash & (HEALTH_BUCKETS - 1)];
    t->hash_next = *bucket;
    *bucket = t->id + 1;
    /* The snapshot holding this id may be published before health_commit
     * runs: an override for the address must already hold by then. The
     * slot may be one a rollback handed back, so always write it. */
    t->effective = target_effective(h, t);
    t->since = time(NULL);
    snprintf(t->why, sizeof(t->why), "configured");
    atomic_store_explicit(&h->states[t->id], t->effective, memory_order_relaxed);
    return t;
}

static void timer_closed(uv_handle_t *handle)
{
    free(handle);
}

/* Stops t's probing: the in-flight probe is detached and cancelled, the
 * interval timer closed (freed by its close callback). */
static void target_halt(health_t *h, health__target_t *t)
{
    if (t->inflight) {
        if (t->check.type == CONF_CHECK_TCP)
            health__tcp_cancel(t->inflight);
        else
            health__http_cancel(h, t->inflight);
        t->inflight = NULL;
    }
    if (t->timer) {
        uv_close((uv_handle_t *)t->timer, timer_closed);
        t->timer = NULL;
    }
}

static void target_free(health__target_t *t)
{
    free(t->datacenter);
    check_clear(&t->check);
    free(t);
}

static void target_retire(health_t *h, health__target_t *t)
{
    target_halt(h, t);
    unhash(h, t);
    h->targets[t->id] = NULL;
    /* Its state byte stays as it was: the old snapshot may still read it
     * until its grace period ends. */
    target_free(t);
}

static void interval_fired(uv_timer_t *timer)
{
    health__target_t *t = timer->data;
    if (t->inflight) {
        /* Only possible when timeout >= interval, which conf rejects; a
         * second probe would just pile up behind the first. */
        return;
    }
    if (t->check.type == CONF_CHECK_TCP)
        health__tcp_start(t);
    else
        health__http_start(t);
}

static void target_start(health_t *h, health__target_t *t)
{
    target_halt(h, t);
    if (!h->loop || h->stopped || !t->has_check || t->check.type == CONF_CHECK_FILE)
        return; /* file checks are driven by their watcher */
    unsigned interval = t->check.interval_ms ? t->check.interval_ms : 1000;
    /* Spread first checks 1 ms apart (wrapping within half an interval, at
     * most a second) so thousands of targets do not fire at once; the
     * first one still starts immediately. */
    unsigned window = interval / 2 < 1000 ? interval / 2 : 1000;
    unsigned delay = window ? h->spread++ % window : 0;
    t->timer = xcalloc(1, sizeof(*t->timer));
    uv_timer_init(h->loop, t->timer);
    t->timer->data = t;
    uv_timer_start(t->timer, interval_fired, delay, interval);
}

long health_target(health_t *h, const conf_t *conf, const conf_service_t *svc, size_t pool,
                   size_t addr, diag_t *d)
{
    target_key_t k;
    const conf_health_check_t *check;
    const char *why = NULL;
    if (!key_from_conf(conf, svc, pool, addr, &k, &check, &why)) {
        diag_error(d, svc->conf_file, svc->conf_line, 0, "service %s: %s", svc->name, why);
        return -1;
    }
    uint32_t hash = key_hash(&k);
    health__target_t *t = lookup(h, &k, hash);
    if (t)
        return t->id;
    if (h->n_targets >= HEALTH_MAX_TARGETS) {
        unsigned line = pool < svc->n_pools ? svc->pools[pool].conf_line : svc->conf_line;
        diag_error(d, svc->conf_file, line, 0,
                   "service %s: more than %u health targets (checked addresses) in this "
                   "process; restart to reclaim the ids of removed ones",
                   svc->name, (unsigned)HEALTH_MAX_TARGETS);
        return -1;
    }
    return target_new(h, &k, hash, check)->id;
}

void health_commit(health_t *h, const conf_t *conf)
{
    for (uint32_t id = 0; id < h->n_targets; id++)
        if (h->targets[id])
            h->targets[id]->referenced = false;

    for (size_t s = 0; conf && s < conf->n_services; s++) {
        const conf_service_t *svc = &conf->services[s];
        for (size_t p = 0; p < svc->n_pools; p++) {
            for (size_t a = 0; a < svc->pools[p].n_addrs; a++) {
                target_key_t k;
                const conf_health_check_t *check;
                const char *why;
                if (!key_from_conf(conf, svc, p, a, &k, &check, &why))
                    continue; /* the build has reported it */
                uint32_t hash = key_hash(&k);
                health__target_t *t = lookup(h, &k, hash);
                if (!t) {
                    /* Not registered by the build (nothing queries it): it
                     * is checked anyway so that status shows it. */
                    if (h->n_targets >= HEALTH_MAX_TARGETS)
                        continue;
                    t = target_new(h, &k, hash, check);
                }
                t->referenced = true;
                if (check && t->status == HEALTH__ACTIVE && check_differs(&t->check, check)) {
                    /* Stop it while t->check still says how it runs. */
                    target_halt(h, t);
                    if (t->check.type != check->type) {
                        /* A different kind of check: its old verdict means
                         * nothing now. */
                        t->check_state = HEALTH_UNKNOWN;
                        t->successes = t->failures = 0;
                        t->has_error = false;
                    }
                    t->restart = true;
                }
                if (check) {
                    check_clear(&t->check);
                    check_copy(&t->check, check);
                }
            }
        }
    }

    h->spread = 0;
    for (uint32_t id = 0; id < h->n_targets; id++) {
        health__target_t *t = h->targets[id];
        if (!t)
            continue;
        if (!t->referenced) {
            target_retire(h, t);
        } else if (t->status == HEALTH__PENDING || t->restart) {
            if (t->status == HEALTH__PENDING && t->effective != HEALTH_UNKNOWN) {
                /* Its byte was set silently when it was registered. */
                char label[256];
                target_label(t, label, sizeof(label));
                log_info("health: %s: starts %s (operator override)", label,
                         state_name(t->effective));
            }
            t->status = HEALTH__ACTIVE;
            t->restart = false;
            target_start(h, t);
        }
    }
    h->first_pending = h->n_targets;
    if (h->loop && !h->stopped)
        health__file_sync(h);
    update_all(h);
    health__notify(h);
}

void health_rollback(health_t *h)
{
    for (uint32_t id = h->first_pending; id < h->n_targets; id++) {
        health__target_t *t = h->targets[id];
        if (!t)
            continue;
        unhash(h, t);
        h->targets[id] = NULL;
        target_free(t);
    }
    h->n_targets = h->first_pending;
}

const _Atomic uint8_t *health_states(const health_t *h)
{
    return h->states;
}

uint32_t health_target_end(const health_t *h)
{
    return h->n_targets;
}

/* ------------------------------------------------------------ life cycle */

health_t *health_new(uv_loop_t *loop, const char *state_file, health_change_fn on_change,
                     void *arg)
{
    health_t *h = xcalloc(1, sizeof(*h));
    h->loop = loop;
    h->state_file = xstrdup(state_file);
    h->on_change = on_change;
    h->arg = arg;
    h->states = xcalloc(HEALTH_MAX_TARGETS, sizeof(*h->states));
    h->targets = xcalloc(HEALTH_MAX_TARGETS, sizeof(*h->targets));
    h->buckets = xcalloc(HEALTH_BUCKETS, sizeof(*h->buckets));
    if (loop && health__http_init(h) != 0) {
        /* Only http(s) checks need curl; they will report failures. */
        log_warnx("health: libcurl could not be initialised; http(s) checks will fail");
    }
    return h;
}

void health_stop(health_t *h)
{
    if (h->stopped)
        return;
    h->stopped = true;
    for (uint32_t id = 0; id < h->n_targets; id++)
        if (h->targets[id])
            target_halt(h, h->targets[id]);
    if (h->loop) {
        health__file_stop(h);
        health__http_stop(h);
    }
}

static void overrides_clear(health__override_dc_t **dcs, size_t *n_dcs,
                            health__override_addr_t **addrs, size_t *n_addrs)
{
    for (size_t i = 0; i < *n_dcs; i++)
        free((*dcs)[i].name);
    free(*dcs);
    free(*addrs);
    *dcs = NULL;
    *addrs = NULL;
    *n_dcs = *n_addrs = 0;
}

void health_free(health_t *h)
{
    if (!h)
        return;
    health_stop(h);
    for (uint32_t id = 0; id < h->n_targets; id++)
        if (h->targets[id])
            target_free(h->targets[id]);
    health__http_free(h);
    overrides_clear(&h->dc_overrides, &h->n_dc_overrides, &h->addr_overrides,
                    &h->n_addr_overrides);
    free(h->targets);
    free(h->buckets);
    free((void *)h->states);
    free(h->state_file);
    free(h);
}

void health_set_state_file(health_t *h, const char *path)
{
    if (str_eq(h->state_file, path))
        return;
    free(h->state_file);
    h->state_file = xstrdup(path);
}

/* ------------------------------------------------------------ overrides */

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* What every state file starts with: also how a temporary one that a
 * crash left behind is told from anyone else's file. */
static const char state_header[] = "# meridian health overrides, written by meridiand: "
                                   "\"datacenter NAME up|down\", \"address ADDR up|down\"\n";

/* Writes the overrides to the state file: a temporary file in the same
 * directory, fsync, rename over the old one, fsync the directory, so a
 * crash leaves either the old file or the new one. A synchronous write on
 * the loop is acceptable here: it happens on an operator command only. */
static int save_state(health_t *h)
{
    if (!h->state_file)
        return 0;
    size_t cap = 256 + h->n_dc_overrides * 300 + h->n_addr_overrides * 80, len = 0;
    char *buf = xcalloc(1, cap);
    len += (size_t)snprintf(buf + len, cap - len, "%s", state_header);
    for (size_t i = 0; i < h->n_dc_overrides; i++)
        len += (size_t)snprintf(buf + len, cap - len, "datacenter %.255s %s\n",
                                h->dc_overrides[i].name, force_name(h->dc_overrides[i].force));
    for (size_t i = 0; i < h->n_addr_overrides; i++) {
        char addr[INET6_ADDRSTRLEN];
        health__address_text(&h->addr_overrides[i].addr, addr, sizeof(addr));
        len += (size_t)snprintf(buf + len, cap - len, "address %s %s\n", addr,
                                force_name(h->addr_overrides[i].force));
    }

    size_t plen = strlen(h->state_file);
    char *tmp = xcalloc(1, plen + 8);
    snprintf(tmp, plen + 8, "%s.XXXXXX", h->state_file);
    char *dir = file_dirname(h->state_file);

    int rc = -EIO, dfd = -1;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        log_warn("health: cannot create %s", tmp);
        goto fail;
    }
    if (fchmod(fd, 0644) != 0 || write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
        log_warn("health: cannot write %s", tmp);
        close(fd);
        unlink(tmp);
        goto fail;
    }
    if (close(fd) != 0 || rename(tmp, h->state_file) != 0) {
        log_warn("health: cannot replace %s", h->state_file);
        unlink(tmp);
        goto fail;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        log_warn("health: cannot sync directory %s", dir);
        goto fail;
    }
    rc = 0;
fail:
    if (dfd >= 0)
        close(dfd);
    free(dir);
    free(tmp);
    free(buf);
    return rc;
}

/* Whether name in the directory dfd is a temporary file save_state()
 * left: STATE.XXXXXX (mkstemp's six letters and digits), a regular file
 * of ours holding nothing or a beginning of what save_state() writes. */
static bool state_temp_left(int dfd, const char *name, const char *base)
{
    size_t blen = strlen(base);
    if (strlen(name) != blen + 7 || strncmp(name, base, blen) != 0 || name[blen] != '.')
        return false;
    for (size_t i = blen + 1; name[i]; i++)
        if (!isalnum((unsigned char)name[i]))
            return false;
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != geteuid())
        return false;
    const char *why;
    int fd = file_openat(dfd, name, O_NOFOLLOW, &why);
    if (fd < 0)
        return false;
    char head[sizeof(state_header)];
    ssize_t n = read(fd, head, sizeof(head) - 1);
    close(fd);
    size_t want = sizeof(state_header) - 1;
    return n >= 0 && memcmp(head, state_header, (size_t)n < want ? (size_t)n : want) == 0;
}

int health_clean_state_temps(health_t *h)
{
    if (!h->state_file)
        return 0;
    char *dir = file_dirname(h->state_file);
    const char *slash = strrchr(h->state_file, '/');
    const char *base = slash ? slash + 1 : h->state_file;
    int removed = 0;
    DIR *dp = opendir(dir);
    if (!dp) {
        free(dir);
        return -errno;
    }
    for (struct dirent *e; (e = readdir(dp));) {
        if (!state_temp_left(dirfd(dp), e->d_name, base))
            continue;
        if (unlinkat(dirfd(dp), e->d_name, 0) == 0) {
            log_info("health: removed %s/%s, left by an interrupted write of the state file",
                     dir, e->d_name);
            removed++;
        } else {
            log_warn("health: cannot remove %s/%s", dir, e->d_name);
        }
    }
    closedir(dp);
    free(dir);
    return removed;
}

static bool valid_name(const char *s)
{
    if (!s || !*s || strlen(s) > 255)
        return false;
    for (; *s; s++)
        if (isspace((unsigned char)*s) || *s == '#' || !isprint((unsigned char)*s))
            return false;
    return true;
}

int health_force_dc(health_t *h, const char *dc, enum health_force force)
{
    if (!valid_name(dc) || (unsigned)force > HEALTH_FORCE_DOWN)
        return -EINVAL;
    bool known = false;
    for (uint32_t id = 0; id < h->n_targets && !known; id++)
        known = h->targets[id] && strcmp(h->targets[id]->datacenter, dc) == 0;
    size_t i = 0;
    while (i < h->n_dc_overrides && strcmp(h->dc_overrides[i].name, dc) != 0)
        i++;
    bool stored = i < h->n_dc_overrides;
    /* Clearing a stored override for a data center that is gone is allowed:
     * it is how an operator cleans a state file up. */
    if (!known && !(force == HEALTH_AUTO && stored))
        return -ENOENT;

    if (force == HEALTH_AUTO) {
        if (stored) {
            free(h->dc_overrides[i].name);
            h->dc_overrides[i] = h->dc_overrides[--h->n_dc_overrides];
        }
    } else if (stored) {
        h->dc_overrides[i].force = force;
    } else {
        health__override_dc_t *n = realloc(h->dc_overrides, (h->n_dc_overrides + 1) * sizeof(*n));
        if (!n)
            return -ENOMEM;
        h->dc_overrides = n;
        n[h->n_dc_overrides].name = xstrdup(dc);
        n[h->n_dc_overrides++].force = force;
    }
    log_info("health: operator override: datacenter %s %s", dc, force_name(force));
    update_all(h);
    health__notify(h);
    return save_state(h);
}

int health_force_address(health_t *h, const char *address, enum health_force force)
{
    conf_network_t addr;
    if (!address || !health__parse_address(address, &addr) || (unsigned)force > HEALTH_FORCE_DOWN)
        return -EINVAL;
    bool known = false;
    for (uint32_t id = 0; id < h->n_targets && !known; id++)
        known = h->targets[id] && health__same_address(&h->targets[id]->addr, &addr);
    size_t i = 0;
    while (i < h->n_addr_overrides && !health__same_address(&h->addr_overrides[i].addr, &addr))
        i++;
    bool stored = i < h->n_addr_overrides;
    if (!known && !(force == HEALTH_AUTO && stored))
        return -ENOENT;

    if (force == HEALTH_AUTO) {
        if (stored)
            h->addr_overrides[i] = h->addr_overrides[--h->n_addr_overrides];
    } else if (stored) {
        h->addr_overrides[i].force = force;
    } else {
        health__override_addr_t *n =
            realloc(h->addr_overrides, (h->n_addr_overrides + 1) * sizeof(*n));
        if (!n)
            return -ENOMEM;
        h->addr_overrides = n;
        n[h->n_addr_overrides].addr = addr;
        n[h->n_addr_overrides++].force = force;
    }
    char text[INET6_ADDRSTRLEN];
    health__address_text(&addr, text, sizeof(text));
    log_info("health: operator override: address %s %s", text, force_name(force));
    update_all(h);
    health__notify(h);
    return save_state(h);
}

/* ------------------------------------------------------------ the state file */

/* Shows a token from a possibly corrupt file without its control bytes. */
static void printable(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; *s && n + 1 < size; s++)
        out[n++] = isprint((unsigned char)*s) ? *s : '?';
    out[n] = '\0';
}

bool health_load_state(health_t *h, diag_t *d)
{
    if (!h->state_file)
        return true;
    size_t len;
    const char *why = NULL;
    errno = 0;
    char *text = file_read_all(h->state_file, STATE_FILE_MAX, &len, &why);
    if (!text) {
        if (errno == ENOENT) {
            /* Never written: no overrides. */
            if (h->n_dc_overrides || h->n_addr_overrides) {
                overrides_clear(&h->dc_overrides, &h->n_dc_overrides, &h->addr_overrides,
                                &h->n_addr_overrides);
                update_all(h);
                health__notify(h);
            }
            return true;
        }
        diag_error(d, h->state_file, 0, 0, "cannot read the health state file: %s", why);
        return false;
    }

    health__override_dc_t *dcs = NULL;
    health__override_addr_t *addrs = NULL;
    size_t n_dcs = 0, n_addrs = 0;
    unsigned errors = 0, line = 0;
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        line++;
        if (memchr(p, '\0', (size_t)(eol - p))) {
            diag_error(d, h->state_file, line, 0, "NUL byte: not a health state file");
            errors++;
            p = eol + 1;
            continue;
        }
        *eol = '\0';
        char *hash = strchr(p, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL, *tok[4] = {NULL, NULL, NULL, NULL};
        int n = 0;
        for (char *w = strtok_r(p, " \t\r\v\f", &save); w && n < 4;
             w = strtok_r(NULL, " \t\r\v\f", &save))
            tok[n++] = w;
        p = eol + 1;
        if (n == 0)
            continue;
        char shown[64];
        if (n != 3) {
            diag_error(d, h->state_file, line, 0,
                       "expected \"datacenter NAME up|down\" or \"address ADDR up|down\"");
            errors++;
            continue;
        }
        enum health_force force;
        if (strcasecmp(tok[2], "up") == 0) {
            force = HEALTH_FORCE_UP;
        } else if (strcasecmp(tok[2], "down") == 0) {
            force = HEALTH_FORCE_DOWN;
        } else {
            printable(tok[2], shown, sizeof(shown));
            diag_error(d, h->state_file, line, 0, "bad state \"%s\" (expected up or down)", shown);
            errors++;
            continue;
        }
        if (strcmp(tok[0], "datacenter") == 0) {
            if (!valid_name(tok[1])) {
                printable(tok[1], shown, sizeof(shown));
                diag_error(d, h->state_file, line, 0, "bad data center name \"%s\"", shown);
                errors++;
                continue;
            }
            size_t i = 0;
            while (i < n_dcs && strcmp(dcs[i].name, tok[1]) != 0)
                i++;
            if (i == n_dcs) {
                dcs = realloc(dcs, (n_dcs + 1) * sizeof(*dcs));
                if (!dcs)
                    fatalx("health: out of memory");
                dcs[n_dcs++].name = xstrdup(tok[1]);
            }
            dcs[i].force = force;
        } else if (strcmp(tok[0], "address") == 0) {
            conf_network_t addr;
            if (!health__parse_address(tok[1], &addr)) {
                printable(tok[1], shown, sizeof(shown));
                diag_error(d, h->state_file, line, 0, "bad address \"%s\"", shown);
                errors++;
                continue;
            }
            size_t i = 0;
            while (i < n_addrs && !health__same_address(&addrs[i].addr, &addr))
                i++;
            if (i == n_addrs) {
                addrs = realloc(addrs, (n_addrs + 1) * sizeof(*addrs));
                if (!addrs)
                    fatalx("health: out of memory");
                addrs[n_addrs++].addr = addr;
            }
            addrs[i].force = force;
        } else {
            printable(tok[0], shown, sizeof(shown));
            diag_error(d, h->state_file, line, 0,
                       "unknown keyword \"%s\" (expected datacenter or address)", shown);
            errors++;
        }
    }
    free(text);
    if (errors) {
        overrides_clear(&dcs, &n_dcs, &addrs, &n_addrs);
        return false;
    }
    overrides_clear(&h->dc_overrides, &h->n_dc_overrides, &h->addr_overrides,
                    &h->n_addr_overrides);
    h->dc_overrides = dcs;
    h->n_dc_overrides = n_dcs;
    h->addr_overrides = addrs;
    h->n_addr_overrides = n_addrs;
    update_all(h);
    health__notify(h);
    return true;
}

/* ------------------------------------------------------------ status */

bool health_target_info(const health_t *h, uint32_t target, health_info_t *out)
{
    memset(out, 0, sizeof(*out));
    if (target >= h->n_targets || !h->targets[target])
        return false;
    const health__target_t *t = h->targets[target];
    bool by_addr;
    out->check_state = t->check_state;
    out->effective = (enum health_state)t->effective;
    out->forced = target_force(h, t, &by_addr);
    out->successes = t->successes;
    out->failures = t->failures;
    out->last_error = t->has_error ? t->last_error : NULL;
    health__address_text(&t->addr, out->address, sizeof(out->address));
    out->datacenter = t->datacenter;
    out->check = t->has_check ? t->check.name : NULL;
    out->since = t->since;
    out->why = t->why;
    return true;
}
