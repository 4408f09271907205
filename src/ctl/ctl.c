/*
 * ctl: the control socket server (protocol in ctl.h) and its commands.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "ctl/ctl.h"
#include "snapshot.h"
#include "stats/stats.h"
#include "util/log.h"

typedef struct ctl_client ctl_client_t;
typedef struct ctl_pending ctl_pending_t;

struct ctl {
    uv_pipe_t listener;
    uv_loop_t *loop;
    char *path;
    health_t *health;
    char **listeners; /* "127.0.0.1:53", "[::1]:53" */
    size_t n_listeners;
    ctl_reload_fn reload;
    void *reload_arg;
    uint64_t started_ms; /* uv_now() at start */
    ctl_client_t *clients;
    size_t n_clients;
    bool stopped;
};

struct ctl_client {
    uv_pipe_t pipe;
    uv_timer_t idle;
    ctl_t *ctl;
    ctl_client_t *prev, *next;
    int open_handles; /* freed when both handles are closed */
    bool closing;
    bool draining;          /* closes once its last reply is written */
    ctl_pending_t *pending; /* a reload it waits for: reading stops until it ends */
    size_t len;
    char buf[CTL_MAX_LINE + 1]; /* a line and its newline */
};

typedef struct ctl_write {
    uv_write_t req;
    char *text;
} ctl_write_t;

/* What a command produces: text (output or error) and data. */
typedef struct ctl_reply {
    FILE *out;
    char *text;
    size_t text_len;
    json_t *data;
    bool ok;
    ctl_client_t *client; /* who asked */
    bool deferred;        /* the reply comes later (a reload) */
} ctl_reply_t;

/* A reload asked for by a client, until its done callback. */
struct ctl_pending {
    ctl_client_t *client; /* NULL once the client is gone */
    ctl_reply_t *now;     /* while the reload call runs: where a quick answer goes */
    bool answered;
};

/* ------------------------------------------------------------ helpers */

int ctl_parse_client(const char *text, int *family, uint8_t addr[16], unsigned *prefix)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (!text || strlen(text) >= sizeof(buf))
        return -EINVAL;
    snprintf(buf, sizeof(buf), "%s", text);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash++ = 0;
    memset(addr, 0, 16);
    *family = strchr(buf, ':') ? AF_INET6 : AF_INET;
    unsigned max = *family == AF_INET ? 32 : 128;
    *prefix = max;
    if (inet_pton(*family, buf, addr) != 1)
        return -EINVAL;
    if (slash) {
        char *end = NULL;
        if (*slash < '0' || *slash > '9')
            return -EINVAL;
        unsigned long p = strtoul(slash, &end, 10);
        if (*end || p > max)
            return -EINVAL;
        *prefix = (unsigned)p;
    }
    for (unsigned bit = *prefix; bit < max; bit++)
        addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
    return 0;
}

static const char *ctl_state_name(enum health_state s)
{
    return s == HEALTH_UP ? "up" : s == HEALTH_DOWN ? "down" : "unknown";
}

static const char *ctl_force_name(enum health_force f)
{
    return f == HEALTH_FORCE_UP ? "up" : f == HEALTH_FORCE_DOWN ? "down" : "auto";
}

static char *ctl_listener_text(const net_listen_t *l)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV], *text = NULL;
    if (getnameinfo((const struct sockaddr *)&l->addr, l->addrlen, host, sizeof(host), serv,
                    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(host, sizeof(host), "?"), snprintf(serv, sizeof(serv), "?");
    bool v6 = l->addr.ss_family == AF_INET6;
    if (asprintf(&text, v6 ? "[%s]:%s" : "%s:%s", host, serv) < 0)
        fatal("asprintf");
    return text;
}

/* jansson reports allocation failure as NULL; like the rest of the
 * daemon's control path, running out of memory here is fatal. */
static json_t *ctl_json(json_t *v)
{
    if (!v)
        fatalx("out of memory building a control reply");
    return v;
}

static void ctl_set(json_t *obj, const char *key, json_t *v)
{
    if (json_object_set_new(obj, key, ctl_json(v)) < 0)
        fatalx("out of memory building a control reply");
}

static void ctl_append(json_t *arr, json_t *v)
{
    if (json_array_append_new(arr, ctl_json(v)) < 0)
        fatalx("out of memory building a control reply");
}

/* ------------------------------------------------------------ commands */

static void ctl_cmd_status(ctl_t *c, json_t *args, ctl_reply_t *r)
{
    (void)args;
    FILE *out = r->out;
    uint64_t up = (uv_now(c->loop) - c->started_ms) / 1000;
    json_t *data = r->data;
    ctl_set(data, "version", json_string(VERSION));
    ctl_set(data, "pid", json_integer(getpid()));
    ctl_set(data, "uptime_seconds", json_integer((json_int_t)up));
    fprintf(out, "meridiand %s, pid %ld, up %llud %02lluh%02llum%02llus\n", VERSION,
            (long)getpid(), (unsigned long long)(up / 86400),
            (unsigned long long)(up / 3600 % 24), (unsigned long long)(up / 60 % 60),
            (unsigned long long)(up % 60));

    json_t *listeners = ctl_json(json_array());
    fprintf(out, "listeners:");
    for (size_t i = 0; i < c->n_listeners; i++) {
        fprintf(out, " %s", c->listeners[i]);
        ctl_append(listeners, json_string(c->listeners[i]));
    }
    fprintf(out, "\n");
    ctl_set(data, "listeners", listeners);

    /* The loop thread publishes snapshots, so this one cannot go away
     * under us; the read section is for form (and for the RCU checker). */
    rcu_read_lock();
    const snapshot_t *s = snapshot_current();
    json_t *zones = ctl_json(json_array());
    json_t *dcs = ctl_json(json_array());
    if (s) {
        fprintf(out, "\nzones:\n  %-32s %10s  %s\n", "ZONE", "SERIAL", "FILE");
        for (size_t i = 0; i < zone_db_zone_count(s->db); i++) {
            const zone_t *z = zone_db_zone(s->db, i);
            char name[DNS_NAME_MAX * 4 + 2]; /* every byte may become \\DDD */
            dns_name_to_text(z->apex->name, name, sizeof(name));
            fprintf(out, "  %-32s %10lu  %s\n", name, (unsigned long)z->serial,
                    z->file ? z->file : "-");
            json_t *zone = ctl_json(json_object());
            ctl_set(zone, "name", json_string(name));
            ctl_set(zone, "serial", json_integer(z->serial));
            ctl_set(zone, "file", z->file ? json_string(z->file) : json_null());
            ctl_append(zones, zone);
        }
    }
    ctl_set(data, "zones", zones);

    /* Per data center: how many of its addresses are up, over all services. */
    uint32_t end = health_target_end(c->health);
    if (s) {
        fprintf(out, "\ndata centers:\n  %-20s %7s %4s %5s %-11s %-20s %s\n", "NAME",
                "TARGETS", "UP", "DOWN", "STATE", "SINCE", "WHY");
        for (size_t d = 0; d < s->conf->n_datacenters; d++) {
            const char *dc = s->conf->datacenters[d].name;
            unsigned n = 0, n_up = 0;
            bool forced = false;
            time_t since = 0;
            const char *why = "-";
            for (uint32_t id = 0; id < end; id++) {
                health_info_t info;
                if (!health_target_info(c->health, id, &info) || !info.datacenter ||
                    strcmp(info.datacenter, dc) != 0)
                    continue;
                n++;
                n_up += info.effective != HEALTH_DOWN;
                forced |= info.forced != HEALTH_AUTO;
                /* the data center changed when its latest address did */
                if (info.since >= since) {
                    since = info.since;
                    why = info.why ? info.why : "-";
                }
            }
            const char *state = !n ? "-" : n_up ? (forced ? "up, forced" : "up")
                                                : (forced ? "down, forced" : "down");
            char when[32] = "-";
            if (since)
                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&since));
            fprintf(out, "  %-20s %7u %4u %5u %-11s %-20s %s\n", dc, n, n_up, n - n_up, state,
                    when, why);
            json_t *o = ctl_json(json_object());
            ctl_set(o, "name", json_string(dc));
            ctl_set(o, "targets", json_integer(n));
            ctl_set(o, "up", json_integer(n_up));
            ctl_set(o, "down", json_integer(n - n_up));
            ctl_set(o, "state", json_string(state));
            ctl_set(o, "forced", json_boolean(forced));
            ctl_set(o, "since", json_integer((json_int_t)since));
            ctl_set(o, "why", json_string(why));
            ctl_append(dcs, o);
        }
    }
    /* Per service: whether some clients are answered from outside their
     * order (fallback) or by a data center that is down (fail open). */
    json_t *services = ctl_json(json_array());
    if (s) {
        fprintf(out, "\nservices:\n  %-32s %-9s %-8s %-20s %s\n", "NAME", "STATE", "FALLBACK",
                "SINCE", "FALLBACK ANSWERS");
        for (size_t i = 0; i < s->conf->n_services; i++) {
            const service_t *svc = s->services[i];
            uint64_t fb = service_count(svc, SERVICE_COUNT_FALLBACK);
            char when[32] = "-";
            if (svc->state_since)
                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&svc->state_since));
            fprintf(out, "  %-32s %-9s %-8s %-20s %llu\n", svc->conf->name,
                    service_state_name(svc->state), svc->fallback_any ? "any" : "listed", when,
                    (unsigned long long)fb);
            json_t *o = ctl_json(json_object());
            ctl_set(o, "name", json_string(svc->conf->name));
            ctl_set(o, "state", json_string(service_state_name(svc->state)));
            ctl_set(o, "fallback", json_string(svc->fallback_any ? "any" : "listed"));
            ctl_set(o, "since", json_integer((json_int_t)svc->state_since));
            ctl_set(o, "fallback_answers", json_integer((json_int_t)fb));
            ctl_append(services, o);
        }
    }
    rcu_read_unlock();
    ctl_set(data, "datacenters", dcs);
    ctl_set(data, "services", services);

    json_t *targets = ctl_json(json_array());
    fprintf(out, "\nhealth targets:\n  %-5s %-39s %-16s %-12s %-7s %-6s %s\n", "ID", "ADDRESS",
            "DATACENTER", "CHECK", "STATE", "FORCED", "LAST ERROR");
    for (uint32_t id = 0; id < end; id++) {
        health_info_t info;
        if (!health_target_info(c->health, id, &info))
            continue;
        fprintf(out, "  %-5lu %-39s %-16s %-12s %-7s %-6s %s\n", (unsigned long)id,
                info.address, info.datacenter ? info.datacenter : "-",
                info.check ? info.check : "-", ctl_state_name(info.effective),
                ctl_force_name(info.forced), info.last_error ? info.last_error : "-");
        json_t *t = ctl_json(json_object());
        ctl_set(t, "id", json_integer(id));
        ctl_set(t, "address", json_string(info.address));
        ctl_set(t, "datacenter", info.datacenter ? json_string(info.datacenter) : json_null());
        ctl_set(t, "check", info.check ? json_string(info.check) : json_null());
        ctl_set(t, "state", json_string(ctl_state_name(info.effective)));
        ctl_set(t, "check_state", json_string(ctl_state_name(info.check_state)));
        ctl_set(t, "forced", json_string(ctl_force_name(info.forced)));
        ctl_set(t, "successes", json_integer(info.successes));
        ctl_set(t, "failures", json_integer(info.failures));
        ctl_set(t, "last_error", info.last_error ? json_string(info.last_error) : json_null());
        ctl_set(t, "since", json_integer((json_int_t)info.since));
        ctl_set(t, "why", info.why ? json_string(info.why) : json_null());
        ctl_append(targets, t);
    }
    ctl_set(data, "targets", targets);
    r->ok = true;
}

/* One transport's counters, as text and as a JSON object. */
static json_t *ctl_stats_transport(FILE *out, const char *name, const stats_totals_t *t)
{
    json_t *o = ctl_json(json_object());
    json_t *rcodes = ctl_json(json_object()), *qtypes = ctl_json(json_object());
    uint64_t q = t->queries, dropped = t->dropped;
    fprintf(out, "%s: %llu queries, %llu dropped, %llu truncated, %llu with client subnet\n",
            name, (unsigned long long)q, (unsigned long long)dropped,
            (unsigned long long)t->truncated, (unsigned long long)t->ecs);
    ctl_set(o, "queries", json_integer((json_int_t)q));
    ctl_set(o, "dropped", json_integer((json_int_t)dropped));
    ctl_set(o, "truncated", json_integer((json_int_t)t->truncated));
    ctl_set(o, "ecs", json_integer((json_int_t)t->ecs));
    fprintf(out, "  rcodes:");
    for (unsigned i = 0; i < STATS_RCODES; i++) {
        uint64_t n = t->rcode[i];
        if (!n)
            continue;
        fprintf(out, " %s %llu", stats_rcode_name(i), (unsigned long long)n);
        ctl_set(rcodes, stats_rcode_name(i), json_integer((json_int_t)n));
    }
    fprintf(out, "\n  types: ");
    for (unsigned k = 1; k <= STATS_QT_N; k++) {
        unsigned i = k % STATS_QT_N; /* "other" (0) last */
        uint64_t n = t->qtype[i];
        if (!n)
            continue;
        fprintf(out, " %s %llu", stats_qtype_name(i), (unsigned long long)n);
        ctl_set(qtypes, stats_qtype_name(i), json_integer((json_int_t)n));
    }
    fprintf(out, "\n");
    ctl_set(o, "rcodes", rcodes);
    ctl_set(o, "types", qtypes);
    return o;
}

/* The TCP server's limits and the descriptors: one line, one object. */
static void ctl_stats_net(FILE *out, json_t *data)
{
    static const struct {
        const char *name;
        const _Atomic uint64_t *value;
    } rows[] = {
        {"tcp_open", &stats_net.tcp_open},
        {"tcp_queued_bytes", &stats_net.tcp_queued_bytes},
        {"tcp_refused_full", &stats_net.tcp_refused_full},
        {"tcp_refused_source", &stats_net.tcp_refused_source},
        {"tcp_refused_reserve", &stats_net.tcp_refused_reserve},
        {"tcp_write_timeouts", &stats_net.tcp_write_timeouts},
        {"emfile", &stats_net.emfile},
    };
    json_t *o = ctl_json(json_object());
    fprintf(out, "net:");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t n = atomic_load_explicit(rows[i].value, memory_order_relaxed);
        fprintf(out, " %s %llu", rows[i].name, (unsigned long long)n);
        ctl_set(o, rows[i].name, json_integer((json_int_t)n));
    }
    fprintf(out, "\n");
    ctl_set(data, "net", o);
}

/* Counters: queries by transport, rcode and type; answers per service and
 * data center; failovers; reloads; check results. */
static void ctl_cmd_stats(ctl_t *c, json_t *args, ctl_reply_t *r)
{
    (void)args;
    FILE *out = r->out;
    json_t *data = r->data;
    stats_totals_t udp, tcp;
    stats_sum(false, &udp);
    stats_sum(true, &tcp);
    ctl_set(data, "udp", ctl_stats_transport(out, "udp", &udp));
    ctl_set(data, "tcp", ctl_stats_transport(out, "tcp", &tcp));
    uint64_t reloads = atomic_load(&stats_reloads), failed = atomic_load(&stats_reload_failures);
    fprintf(out, "reloads: %llu, failed: %llu\n", (unsigned long long)reloads,
            (unsigned long long)failed);
    ctl_set(data, "reloads", json_integer((json_int_t)reloads));
    ctl_set(data, "reload_failures", json_integer((json_int_t)failed));
    ctl_stats_net(out, data);

    json_t *services = ctl_json(json_array());
    rcu_read_lock();
    const snapshot_t *s = snapshot_current();
    for (size_t i = 0; s && i < s->conf->n_services; i++) {
        service_t *svc = s->services[i];
        json_t *o = ctl_json(json_object()), *answers = ctl_json(json_object());
        uint64_t fo = service_count(svc, SERVICE_COUNT_FAILOVERS),
                 fb = service_count(svc, SERVICE_COUNT_FALLBACK),
                 fopen = service_count(svc, SERVICE_COUNT_FAIL_OPEN);
        fprintf(out,
                "service %s: %llu failovers, %llu fallback answers, %llu fail-open answers; "
                "answers:",
                svc->conf->name, (unsigned long long)fo, (unsigned long long)fb,
                (unsigned long long)fopen);
        for (size_t p = 0; p < svc->n_pools; p++) {
            const char *dc = s->conf->datacenters[svc->pools[p].dc].name;
            uint64_t n = service_count(svc, SERVICE_COUNT_ANSWERS + p);
            fprintf(out, " %s %llu", dc, (unsigned long long)n);
            ctl_set(answers, dc, json_integer((json_int_t)n));
        }
        fprintf(out, "\n");
        ctl_set(o, "name", json_string(svc->conf->name));
        ctl_set(o, "failovers", json_integer((json_int_t)fo));
        ctl_set(o, "fallback", json_integer((json_int_t)fb));
        ctl_set(o, "fail_open", json_integer((json_int_t)fopen));
        ctl_set(o, "answers", answers);
        ctl_append(services, o);
    }
    rcu_read_unlock();
    ctl_set(data, "services", services);

    json_t *checks = ctl_json(json_array());
    uint32_t end = health_target_end(c->health);
    for (uint32_t id = 0; id < end; id++) {
        health_info_t info;
        if (!health_target_info(c->health, id, &info) || !info.check)
            continue;
        fprintf(out, "check %s %s (%s): %s, %u consecutive successes, %u consecutive failures\n",
                info.check, info.address, info.datacenter ? info.datacenter : "-",
                ctl_state_name(info.check_state), info.successes, info.failures);
        json_t *o = ctl_json(json_object());
        ctl_set(o, "check", json_string(info.check));
        ctl_set(o, "address", json_string(info.address));
        ctl_set(o, "state", json_string(ctl_state_name(info.check_state)));
        ctl_set(o, "successes", json_integer(info.successes));
        ctl_set(o, "failures", json_integer(info.failures));
        ctl_append(checks, o);
    }
    ctl_set(data, "checks", checks);
    r->ok = true;
}

static void ctl_reload_reply(ctl_reply_t *r, bool ok, const diag_t *d, const char *summary)
{
    r->ok = ok;
    json_t *problems = ctl_json(json_array());
    for (size_t i = 0; i < d->count; i++) {
        fprintf(r->out, "%s\n", d->messages[i]);
        ctl_append(problems, json_string(d->messages[i]));
    }
    fprintf(r->out, "%s", summary);
    ctl_set(r->data, "reloaded", json_boolean(ok));
    ctl_set(r->data, "summary", json_string(summary));
    ctl_set(r->data, "problems", problems);
}

static void ctl_reply_open(ctl_reply_t *r);
static json_t *ctl_reply_close(ctl_reply_t *r);
static void ctl_send(ctl_client_t *cl, json_t *reply, bool close_after);
static void ctl_client_resume(ctl_client_t *cl);

static void ctl_reload_done(void *ctx, bool ok, const diag_t *d, const char *summary)
{
    ctl_pending_t *p = ctx;
    if (p->now) {
        ctl_reload_reply(p->now, ok, d, summary);
        p->answered = true;
        return;
    }
    ctl_client_t *cl = p->client;
    free(p);
    if (!cl)
        return; /* it went away meanwhile */
    cl->pending = NULL;
    ctl_reply_t r;
    ctl_reply_open(&r);
    ctl_reload_reply(&r, ok, d, summary);
    json_t *reply = ctl_reply_close(&r);
    ctl_send(cl, reply, false);
    json_decref(reply);
    ctl_client_resume(cl);
}

static void ctl_cmd_reload(ctl_t *c, json_t *args, ctl_reply_t *r)
{
    (void)args;
    if (!c->reload) {
        fprintf(r->out, "reload is not available");
        return;
    }
    ctl_pending_t *p = calloc(1, sizeof(*p));
    if (!p)
        fatal("calloc");
    p->client = r->client;
    p->now = r;
    c->reload(c->reload_arg, ctl_reload_done, p);
    if (p->answered) {
        free(p);
        return;
    }
    p->now = NULL;
    r->client->pending = p;
    r->deferred = true;
}

/* Says what health_force_* returned. what is "data center eu-west" or
 * "address 192.0.2.10". */
static void ctl_force_result(ctl_reply_t *r, int rc, const char *what, const char *state)
{
    switch (rc) {
    case 0:
        fprintf(r->out, "%s: %s", what, state);
        r->ok = true;
        break;
    case -ENOENT:
        fprintf(r->out, "no %s in the current configuration", what);
        break;
    case -EINVAL:
        fprintf(r->out, "%s: not a valid name or address", what);
        break;
    case -EIO:
        fprintf(r->out,
                "%s: %s applies now, but the state file could not be written: it will "
                "not survive a restart",
                what, state);
        break;
    default:
        fprintf(r->out, "%s: %s", what, strerror(rc < 0 ? -rc : rc));
        break;
    }
    ctl_set(r->data, "target", json_string(what));
    ctl_set(r->data, "state", json_string(state));
    ctl_set(r->data, "persisted", json_boolean(rc == 0));
}

static void ctl_cmd_drain(ctl_t *c, json_t *args, ctl_reply_t *r, enum health_force force)
{
    const char *dc = json_string_value(json_array_get(args, 0));
    char what[300];
    snprintf(what, sizeof(what), "data center %s", dc);
    int rc = health_force_dc(c->health, dc, force);
    ctl_force_result(r, rc, what, force == HEALTH_AUTO ? "auto (undrained)" : "down (drained)");
}

static void ctl_cmd_drain_dc(ctl_t *c, json_t *args, ctl_reply_t *r)
{
    ctl_cmd_drain(c, args, r, HEALTH_FORCE_DOWN);
}

static void ctl_cmd_undrain_dc(ctl_t *c, json_t *args, ctl_reply_t *r)
{
    ctl_cmd_drain(c, args, r, HEALTH_AUTO);
}

static void ctl_cmd_force(ctl_t *c, json_t *args, ctl_reply_t *r)
{
    const char *address = json_string_value(json_array_get(args, 0));
    const char *state = json_string_value(json_array_get(args, 1));
    enum health_force force;
    if (strcasecmp(state, "up") == 0) {
        force = HEALTH_FORCE_UP;
    } else if (strcasecmp(state, "down") == 0) {
        force = HEALTH_FORCE_DOWN;
    } else if (strcasecmp(state, "auto") == 0) {
        force = HEALTH_AUTO;
    } else {
        fprintf(r->out, "force: expected up, down or auto, got '%s'", state);
        return;
    }
    char what[300];
    snprintf(what, sizeof(what), "address %s", address);
    int rc = health_force_address(c->health, address, force);
    ctl_force_result(r, rc, what, ctl_force_name(force));
}

static void ctl_cmd_explain(ctl_t *c, json_t *args, ctl_reply_t *r)
{
    (void)c;
    const char *name = json_string_value(json_array_get(args, 0));
    const char *client = json_string_value(json_array_get(args, 1));
    int family;
    uint8_t addr[16];
    unsigned prefix;
    if (ctl_parse_client(client, &family, addr, &prefix) < 0) {
        fprintf(r->out, "explain: '%s' is not an address or address/prefix", client);
        return;
    }
    rcu_read_lock();
    const snapshot_t *s = snapshot_current();
    service_t *svc = s ? snapshot_service(s, name) : NULL;
    if (!svc) {
        fprintf(r->out, "explain: %s is not a service in the current configuration", name);
    } else {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
            fatal("open_memstream");
        service_explain(svc, s->conf, s->geo, family, addr, prefix, f);
        fclose(f);
        fputs(text, r->out);
        ctl_set(r->data, "service", json_string(svc->conf->name));
        ctl_set(r->data, "client", json_string(client));
        ctl_set(r->data, "explain", json_string(text));
        free(text);
        r->ok = true;
    }
    rcu_read_unlock();
}

typedef struct ctl_command {
    const char *name;
    size_t n_args;
    const char *usage;
    void (*run)(ctl_t *c, json_t *args, ctl_reply_t *r);
} ctl_command_t;

static const ctl_command_t ctl_commands[] = {
    {"status", 0, "status", ctl_cmd_status},
    {"stats", 0, "stats", ctl_cmd_stats},
    {"reload", 0, "reload", ctl_cmd_reload},
    {"drain", 1, "drain DATACENTER", ctl_cmd_drain_dc},
    {"undrain", 1, "undrain DATACENTER", ctl_cmd_undrain_dc},
    {"force", 2, "force ADDRESS up|down|auto", ctl_cmd_force},
    {"explain", 2, "explain NAME ADDRESS[/PREFIX]", ctl_cmd_explain},
};

/* ------------------------------------------------------------ framing */

static void ctl_reply_open(ctl_reply_t *r)
{
    *r = (ctl_reply_t){.data = ctl_json(json_object())};
    r->out = open_memstream(&r->text, &r->text_len);
    if (!r->out)
        fatal("open_memstream");
}

/* The reply as sent. Caller frees with json_decref(). */
static json_t *ctl_reply_close(ctl_reply_t *r)
{
    fclose(r->out);
    json_t *reply = ctl_json(json_object());
    ctl_set(reply, "version", json_integer(CTL_PROTOCOL_VERSION));
    ctl_set(reply, "ok", json_boolean(r->ok));
    /* the reply is a line of JSON: a message must be UTF-8 for jansson */
    json_t *text = json_stringn(r->text, r->text_len);
    if (!text)
        text = json_string("(message not valid UTF-8)");
    ctl_set(reply, r->ok ? "output" : "error", text);
    if (r->ok || json_object_size(r->data) > 0)
        ctl_set(reply, "data", r->data);
    else
        json_decref(r->data);
    free(r->text);
    return reply;
}

/* Builds the reply to one request line of cl. Sets *fatal_error when the
 * connection must close after it. Returns NULL when the reply comes later
 * (a reload). Caller frees with json_decref(). */
static json_t *ctl_handle_line(ctl_t *c, ctl_client_t *cl, const char *line, size_t len,
                               bool *fatal_error)
{
    ctl_reply_t r;
    ctl_reply_open(&r);
    r.client = cl;

    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *version = req ? json_object_get(req, "version") : NULL;
    json_t *command = req ? json_object_get(req, "command") : NULL;
    json_t *args = req ? json_object_get(req, "args") : NULL;
    json_t *jflag = req ? json_object_get(req, "json") : NULL;
    const ctl_command_t *cmd = NULL;
    if (!req || !json_is_object(req)) {
        fprintf(r.out, "invalid request: %s", req ? "not a JSON object" : jerr.text);
        *fatal_error = true;
        goto done;
    }
    if (!json_is_integer(version) || json_integer_value(version) != CTL_PROTOCOL_VERSION) {
        fprintf(r.out, "protocol version mismatch: the server speaks version %d, ",
                CTL_PROTOCOL_VERSION);
        if (json_is_integer(version))
            fprintf(r.out, "the request is version %lld",
                    (long long)json_integer_value(version));
        else
            fprintf(r.out, "the request has no version number");
        goto done;
    }
    if (!json_is_string(command)) {
        fprintf(r.out, "invalid request: \"command\" must be a string");
        goto done;
    }
    if (jflag && !json_is_boolean(jflag)) {
        fprintf(r.out, "invalid request: \"json\" must be true or false");
        goto done;
    }
    size_t n_args = 0;
    if (args) {
        if (!json_is_array(args)) {
            fprintf(r.out, "invalid request: \"args\" must be a list of strings");
            goto done;
        }
        n_args = json_array_size(args);
        for (size_t i = 0; i < n_args; i++)
            if (!json_is_string(json_array_get(args, i))) {
                fprintf(r.out, "invalid request: \"args\" must be a list of strings");
                goto done;
            }
    }
    for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
        if (strcmp(ctl_commands[i].name, json_string_value(command)) == 0)
            cmd = &ctl_commands[i];
    if (!cmd) {
        fprintf(r.out, "unknown command '%s' (expected one of:", json_string_value(command));
        for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
            fprintf(r.out, " %s", ctl_commands[i].name);
        fprintf(r.out, ")");
        goto done;
    }
    if (n_args != cmd->n_args) {
        fprintf(r.out, "usage: %s", cmd->usage);
        goto done;
    }
    cmd->run(c, args, &r);

done:
    json_decref(req);
    if (r.deferred) {
        fclose(r.out);
        free(r.text);
        json_decref(r.data);
        return NULL;
    }
    return ctl_reply_close(&r);
}

static void ctl_on_client_closed(uv_handle_t *h)
{
    ctl_client_t *cl = h->data;
    if (--cl->open_handles == 0)
        free(cl);
}

static void ctl_client_close(ctl_client_t *cl)
{
    if (cl->closing)
        return;
    cl->closing = true;
    ctl_t *c = cl->ctl;
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        c->clients = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    c->n_clients--;
    if (cl->pending)
        cl->pending->client = NULL;
    uv_read_stop((uv_stream_t *)&cl->pipe);
    uv_timer_stop(&cl->idle);
    uv_close((uv_handle_t *)&cl->pipe, ctl_on_client_closed);
    uv_close((uv_handle_t *)&cl->idle, ctl_on_client_closed);
}

/* Closing right after the last write: uv_close() cancels writes still
 * queued, so a client closed for an error waits for its reply first. */
typedef struct ctl_write_ctx {
    ctl_write_t w;
    ctl_client_t *close_after;
} ctl_write_ctx_t;

static void ctl_on_written(uv_write_t *req, int status)
{
    ctl_write_ctx_t *wc = (ctl_write_ctx_t *)req;
    (void)status;
    if (wc->close_after)
        ctl_client_close(wc->close_after);
    free(wc->w.text);
    free(wc);
}

static void ctl_send(ctl_client_t *cl, json_t *reply, bool close_after)
{
    char *text = json_dumps(reply, JSON_COMPACT);
    if (!text)
        fatalx("out of memory writing a control reply");
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (!line)
        fatal("realloc");
    line[len] = '\n';
    line[len + 1] = 0;
    ctl_write_ctx_t *wc = calloc(1, sizeof(*wc));
    if (!wc)
        fatal("calloc");
    wc->w.text = line;
    wc->close_after = close_after ? cl : NULL;
    uv_buf_t buf = uv_buf_init(line, (unsigned)(len + 1));
    if (uv_write(&wc->w.req, (uv_stream_t *)&cl->pipe, &buf, 1, ctl_on_written) < 0) {
        free(line);
        free(wc);
        ctl_client_close(cl);
        return;
    }
    if (close_after) {
        cl->draining = true;
        uv_read_stop((uv_stream_t *)&cl->pipe);
    }
}

/* An error reply outside any command (too long, too many clients), then
 * the connection closes. */
static void ctl_send_error(ctl_client_t *cl, const char *fmt, ...) LOG_PRINTF(2, 3);
static void ctl_send_error(ctl_client_t *cl, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *reply = ctl_json(json_object());
    ctl_set(reply, "version", json_integer(CTL_PROTOCOL_VERSION));
    ctl_set(reply, "ok", json_false());
    ctl_set(reply, "error", json_string(msg));
    ctl_send(cl, reply, true);
    json_decref(reply);
}

static void ctl_on_idle(uv_timer_t *t)
{
    ctl_client_close(t->data);
}

static void ctl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    ctl_client_t *cl = h->data;
    (void)suggested;
    *buf = uv_buf_init(cl->buf + cl->len, (unsigned)(sizeof(cl->buf) - cl->len));
}

/* Answers the complete lines in cl's buffer (those before `scanned` have
 * been looked at already), in order, until a reload must be waited for:
 * then reading and the idle timeout stop, and the rest of the buffer waits
 * for ctl_client_resume(). */
static void ctl_process(ctl_client_t *cl, size_t scanned)
{
    size_t start = 0;
    for (size_t i = scanned; i < cl->len; i++) {
        if (cl->buf[i] != '\n')
            continue;
        bool fatal_error = false;
        json_t *reply = ctl_handle_line(cl->ctl, cl, cl->buf + start, i - start, &fatal_error);
        start = i + 1;
        if (!reply) {
            memmove(cl->buf, cl->buf + start, cl->len - start);
            cl->len -= start;
            uv_read_stop((uv_stream_t *)&cl->pipe);
            uv_timer_stop(&cl->idle);
            return;
        }
        ctl_send(cl, reply, fatal_error);
        json_decref(reply);
        /* a command may have stopped the server, or the line closed us */
        if (fatal_error || cl->closing)
            return;
    }
    memmove(cl->buf, cl->buf + start, cl->len - start);
    cl->len -= start;
    if (cl->len == sizeof(cl->buf))
        ctl_send_error(cl, "request too long: a request is one line of at most %d bytes",
                       CTL_MAX_LINE);
}

static void ctl_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    ctl_client_t *cl = stream->data;
    (void)buf;
    if (nread < 0) {
        ctl_client_close(cl);
        return;
    }
    if (nread == 0 || cl->closing)
        return;
    uv_timer_start(&cl->idle, ctl_on_idle, CTL_IDLE_TIMEOUT_MS, 0);
    size_t scanned = cl->len;
    cl->len += (size_t)nread;
    ctl_process(cl, scanned);
}

/* After a reload's reply: the requests that came behind it, then reading
 * again. */
static void ctl_client_resume(ctl_client_t *cl)
{
    if (cl->closing || cl->draining)
        return;
    uv_timer_start(&cl->idle, ctl_on_idle, CTL_IDLE_TIMEOUT_MS, 0);
    ctl_process(cl, 0);
    if (!cl->pending && !cl->closing && !cl->draining)
        uv_read_start((uv_stream_t *)&cl->pipe, ctl_alloc, ctl_on_read);
}

static void ctl_on_connection(uv_stream_t *server, int status)
{
    ctl_t *c = server->data;
    if (status < 0) {
        stats_count_emfile(status);
        log_warnx("control socket: %s", uv_strerror(status));
        return;
    }
    ctl_client_t *cl = malloc(sizeof(*cl));
    if (!cl) {
        log_warnx("control socket: out of memory for a client");
        return;
    }
    memset(cl, 0, offsetof(ctl_client_t, buf));
    cl->ctl = c;
    uv_pipe_init(c->loop, &cl->pipe, 0);
    uv_timer_init(c->loop, &cl->idle);
    cl->pipe.data = cl->idle.data = cl;
    cl->open_handles = 2;
    cl->next = c->clients;
    if (c->clients)
        c->clients->prev = cl;
    c->clients = cl;
    c->n_clients++;
    if (uv_accept(server, (uv_stream_t *)&cl->pipe) < 0) {
        ctl_client_close(cl);
        return;
    }
    if (c->n_clients > CTL_MAX_CLIENTS) {
        ctl_send_error(cl, "too many clients: at most %d at once", CTL_MAX_CLIENTS);
        return;
    }
    uv_timer_start(&cl->idle, ctl_on_idle, CTL_IDLE_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&cl->pipe, ctl_alloc, ctl_on_read);
}

/* ------------------------------------------------------------ start, stop */

/* Is a server answering on path? A socket nobody listens on refuses
 * connections: that is a file left by a daemon that died. */
static bool ctl_someone_answers(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool answers = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    close(fd);
    return answers;
}

static void ctl_on_failed_close(uv_handle_t *h)
{
    ctl_free(h->data);
}

int ctl_start(ctl_t **out, uv_loop_t *loop, const ctl_config_t *cfg)
{
    *out = NULL;
    struct sockaddr_un sun;
    if (!cfg->path || !cfg->path[0] || strlen(cfg->path) >= sizeof(sun.sun_path))
        return -EINVAL;
    struct stat st;
    if (lstat(cfg->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return -EEXIST; /* never remove what is not a socket */
        if (ctl_someone_answers(cfg->path))
            return -EADDRINUSE;
        if (unlink(cfg->path) < 0 && errno != ENOENT)
            return -errno;
    }

    ctl_t *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->loop = loop;
    c->health = cfg->health;
    c->reload = cfg->reload;
    c->reload_arg = cfg->reload_arg;
    c->path = strdup(cfg->path);
    c->listeners = calloc(cfg->n_listeners ? cfg->n_listeners : 1, sizeof(char *));
    if (!c->path || !c->listeners)
        fatal("out of memory");
    c->n_listeners = cfg->n_listeners;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        c->listeners[i] = ctl_listener_text(&cfg->listeners[i]);
    c->started_ms = uv_now(loop);

    /* The socket is made by hand and handed to libuv only once it works,
     * so a failure leaves no handle to close. Created 0660 from the start:
     * no moment when a wide umask lets someone else connect. */
    int rc = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, c->path, strlen(c->path) + 1);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    mode_t old = umask(0117);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
        rc = -errno;
    umask(old);
    if (rc == 0 && (chmod(c->path, 0660) < 0 || listen(fd, CTL_MAX_CLIENTS) < 0))
        rc = -errno;
    if (rc < 0) {
        if (rc != -EADDRINUSE)
            unlink(c->path);
        close(fd);
        goto fail;
    }
    uv_pipe_init(loop, &c->listener, 0);
    c->listener.data = c;
    rc = uv_pipe_open(&c->listener, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&c->listener, CTL_MAX_CLIENTS, ctl_on_connection);
    if (rc < 0) {
        /* the handle lives in c: its close callback frees c */
        c->stopped = true;
        unlink(c->path);
        uv_close((uv_handle_t *)&c->listener, ctl_on_failed_close);
        return rc;
    }
    *out = c;
    return 0;

fail:
    ctl_free(c);
    return rc;
}

void ctl_stop(ctl_t *c)
{
    if (!c || c->stopped)
        return;
    c->stopped = true;
    uv_close((uv_handle_t *)&c->listener, NULL);
    while (c->clients)
        ctl_client_close(c->clients);
    unlink(c->path);
}

void ctl_free(ctl_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_listeners; i++)
        free(c->listeners[i]);
    free(c->listeners);
    free(c->path);
    free(c);
}
