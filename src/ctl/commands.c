/*
 * ctl: the requests and the commands of the control socket (protocol in
 * ctl.h); the socket and its clients are in ctl.c.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "ctl/ctl.h"
#include "ctl/ctl_internal.h"
#include "snapshot.h"
#include "stats/stats.h"

/* What a command produces: text (output or error) and data. */
typedef struct ctl_reply {
    FILE *out;
    char *text;
    size_t text_len;
    json_t *data;
    bool ok;
    bool no_memory;       /* something could not be allocated: the reply is an error */
    ctl_client_t *client; /* who asked */
    bool deferred;        /* the reply comes later (a reload) */
} ctl_reply_t;

static const char *ctl_state_name(enum health_state s)
{
    return s == HEALTH_UP ? "up" : s == HEALTH_DOWN ? "down" : "unknown";
}

static const char *ctl_force_name(enum health_force f)
{
    return f == HEALTH_FORCE_UP ? "up" : f == HEALTH_FORCE_DOWN ? "down" : "auto";
}

/* jansson reports allocation failure as NULL, and its setters take NULL
 * for either side (freeing the other), so a command goes on building and
 * the reply, marked no_memory, becomes an error for this client alone. */
static json_t *ctl_json(ctl_reply_t *r, json_t *v)
{
    if (!v)
        r->no_memory = true;
    return v;
}

static void ctl_set(ctl_reply_t *r, json_t *obj, const char *key, json_t *v)
{
    if (json_object_set_new(obj, key, ctl_json(r, v)) < 0)
        r->no_memory = true;
}

static void ctl_append(ctl_reply_t *r, json_t *arr, json_t *v)
{
    if (json_array_append_new(arr, ctl_json(r, v)) < 0)
        r->no_memory = true;
}

/* A JSON string of len bytes of text that may not be UTF-8 (a health
 * check's error, a file name): bytes outside ASCII become '?' when the
 * whole is not valid UTF-8. NULL only when out of memory. */
static json_t *ctl_text(const char *text, size_t len)
{
    json_t *v = json_stringn(text, len);
    if (v)
        return v;
    char *ascii = malloc(len + 1);
    if (!ascii)
        return NULL;
    for (size_t i = 0; i < len; i++)
        ascii[i] = (unsigned char)text[i] < 0x80 && text[i] ? text[i] : '?';
    v = json_stringn(ascii, len);
    free(ascii);
    return v;
}

/* The same for a NUL-terminated string; NULL text becomes JSON null. */
static json_t *ctl_string(const char *text)
{
    return text ? ctl_text(text, strlen(text)) : json_null();
}

/* ------------------------------------------------------------ commands */

/* Prints a table made by the status command, or marks the reply failed. */
static void ctl_table_done(ctl_reply_t *r, ctl_table_t *t)
{
    if (t->failed)
        r->no_memory = true;
    else
        ctl__table_print(t, r->out, "  ");
    ctl__table_free(t);
}

/* The status text is three tables laid out by ctl__table_print() from
 * their content, so a long name or state never breaks a column. Each
 * function below prints one and returns its JSON array. */

static json_t *ctl_status_zones(ctl_reply_t *r, const snapshot_t *s)
{
    json_t *zones = ctl_json(r, json_array());
    ctl_table_t table;
    fprintf(r->out, "\nzones:\n");
    ctl__table_init(&table, "lrl");
    ctl__table_row(&table, (const char *[]){"ZONE", "SERIAL", "FILE"});
    for (size_t i = 0; i < zone_db_zone_count(s->db); i++) {
        const zone_t *z = zone_db_zone(s->db, i);
        char name[DNS_NAME_MAX * 4 + 2]; /* every byte may become \\DDD */
        dns_name_to_text(z->apex->name, name, sizeof(name));
        char serial[16];
        snprintf(serial, sizeof(serial), "%lu", (unsigned long)z->serial);
        ctl__table_row(&table, (const char *[]){name, serial, z->file});
        json_t *zone = ctl_json(r, json_object());
        ctl_set(r, zone, "name", ctl_string(name));
        ctl_set(r, zone, "serial", json_integer(z->serial));
        ctl_set(r, zone, "file", ctl_string(z->file));
        ctl_append(r, zones, zone);
    }
    ctl_table_done(r, &table);
    return zones;
}

/* Per data center: how many of its addresses are up, over all services. */
static json_t *ctl_status_datacenters(ctl_t *c, ctl_reply_t *r, const snapshot_t *s)
{
    json_t *dcs = ctl_json(r, json_array());
    uint32_t end = health_target_end(c->health);
    ctl_table_t table;
    fprintf(r->out, "\ndata centers:\n");
    ctl__table_init(&table, "lrrrlll");
    ctl__table_row(&table,
                  (const char *[]){"NAME", "TARGETS", "UP", "DOWN", "STATE", "SINCE", "WHY"});
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
        char when[32] = "-", counts[3][12];
        if (since)
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&since));
        snprintf(counts[0], sizeof(counts[0]), "%u", n);
        snprintf(counts[1], sizeof(counts[1]), "%u", n_up);
        snprintf(counts[2], sizeof(counts[2]), "%u", n - n_up);
        ctl__table_row(&table,
                      (const char *[]){dc, counts[0], counts[1], counts[2], state, when, why});
        json_t *o = ctl_json(r, json_object());
        ctl_set(r, o, "name", ctl_string(dc));
        ctl_set(r, o, "targets", json_integer(n));
        ctl_set(r, o, "up", json_integer(n_up));
        ctl_set(r, o, "down", json_integer(n - n_up));
        ctl_set(r, o, "state", ctl_string(state));
        ctl_set(r, o, "forced", json_boolean(forced));
        ctl_set(r, o, "since", json_integer((json_int_t)since));
        ctl_set(r, o, "why", ctl_string(why));
        ctl_append(r, dcs, o);
    }
    ctl_table_done(r, &table);
    return dcs;
}

/* Per service: whether some clients are answered from outside their
 * order (fallback) or by a data center that is down (fail open). */
static json_t *ctl_status_services(ctl_reply_t *r, const snapshot_t *s)
{
    json_t *services = ctl_json(r, json_array());
    ctl_table_t table;
    fprintf(r->out, "\nservices:\n");
    ctl__table_init(&table, "lllll");
    ctl__table_row(&table,
                   (const char *[]){"NAME", "STATE", "FALLBACK", "SINCE", "FALLBACK ANSWERS"});
    for (size_t i = 0; i < s->conf->n_services; i++) {
        const service_t *svc = s->services[i];
        uint64_t fb = service_count(svc, SERVICE_COUNT_FALLBACK);
        char when[32] = "-", answers[24];
        if (svc->state_since)
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&svc->state_since));
        snprintf(answers, sizeof(answers), "%llu", (unsigned long long)fb);
        const char *fallback = svc->fallback_any ? "any" : "listed";
        ctl__table_row(&table, (const char *[]){svc->conf->name, service_state_name(svc->state),
                                                fallback, when, answers});
        json_t *o = ctl_json(r, json_object());
        ctl_set(r, o, "name", ctl_string(svc->conf->name));
        ctl_set(r, o, "state", ctl_string(service_state_name(svc->state)));
        ctl_set(r, o, "fallback", ctl_string(fallback));
        ctl_set(r, o, "since", json_integer((json_int_t)svc->state_since));
        ctl_set(r, o, "fallback_answers", json_integer((json_int_t)fb));
        ctl_append(r, services, o);
    }
    ctl_table_done(r, &table);
    return services;
}

static json_t *ctl_status_targets(ctl_t *c, ctl_reply_t *r)
{
    json_t *targets = ctl_json(r, json_array());
    uint32_t end = health_target_end(c->health);
    ctl_table_t table;
    fprintf(r->out, "\nhealth targets:\n");
    ctl__table_init(&table, "rllllll");
    ctl__table_row(&table, (const char *[]){"ID", "ADDRESS", "DATACENTER", "CHECK", "STATE",
                                           "FORCED", "LAST ERROR"});
    for (uint32_t id = 0; id < end; id++) {
        health_info_t info;
        if (!health_target_info(c->health, id, &info))
            continue;
        char id_text[12];
        snprintf(id_text, sizeof(id_text), "%lu", (unsigned long)id);
        ctl__table_row(&table, (const char *[]){id_text, info.address, info.datacenter,
                                               info.check, ctl_state_name(info.effective),
                                               ctl_force_name(info.forced), info.last_error});
        json_t *t = ctl_json(r, json_object());
        ctl_set(r, t, "id", json_integer(id));
        ctl_set(r, t, "address", ctl_string(info.address));
        ctl_set(r, t, "datacenter", ctl_string(info.datacenter));
        ctl_set(r, t, "check", ctl_string(info.check));
        ctl_set(r, t, "state", ctl_string(ctl_state_name(info.effective)));
        ctl_set(r, t, "check_state", ctl_string(ctl_state_name(info.check_state)));
        ctl_set(r, t, "forced", ctl_string(ctl_force_name(info.forced)));
        ctl_set(r, t, "successes", json_integer(info.successes));
        ctl_set(r, t, "failures", json_integer(info.failures));
        ctl_set(r, t, "last_error", ctl_string(info.last_error));
        ctl_set(r, t, "since", json_integer((json_int_t)info.since));
        ctl_set(r, t, "why", ctl_string(info.why));
        ctl_append(r, targets, t);
    }
    ctl_table_done(r, &table);
    return targets;
}

static void ctl_cmd_status(ctl_t *c, json_t *args, ctl_reply_t *r)
{
    (void)args;
    FILE *out = r->out;
    uint64_t up = (uv_now(c->loop) - c->started_ms) / 1000;
    json_t *data = r->data;
    ctl_set(r, data, "version", ctl_string(VERSION));
    ctl_set(r, data, "pid", json_integer(getpid()));
    ctl_set(r, data, "uptime_seconds", json_integer((json_int_t)up));
    fprintf(out, "meridiand %s, pid %ld, up %llud %02lluh%02llum%02llus\n", VERSION,
            (long)getpid(), (unsigned long long)(up / 86400),
            (unsigned long long)(up / 3600 % 24), (unsigned long long)(up / 60 % 60),
            (unsigned long long)(up % 60));

    json_t *listeners = ctl_json(r, json_array());
    fprintf(out, "listeners:");
    for (size_t i = 0; i < c->n_listeners; i++) {
        fprintf(out, " %s", c->listeners[i]);
        ctl_append(r, listeners, ctl_string(c->listeners[i]));
    }
    fprintf(out, "\n");
    ctl_set(r, data, "listeners", listeners);

    /* The loop thread publishes snapshots, so this one cannot go away
     * under us; the read section is for form (and for the RCU checker). */
    rcu_read_lock();
    const snapshot_t *s = snapshot_current();
    ctl_set(r, data, "zones", s ? ctl_status_zones(r, s) : json_array());
    ctl_set(r, data, "datacenters", s ? ctl_status_datacenters(c, r, s) : json_array());
    ctl_set(r, data, "services", s ? ctl_status_services(r, s) : json_array());
    rcu_read_unlock();
    ctl_set(r, data, "targets", ctl_status_targets(c, r));
    r->ok = true;
}

/* One named counter, as " NAME N" and as obj's key NAME. */
static void ctl_stats_count(ctl_reply_t *r, json_t *obj, const char *name, uint64_t n)
{
    fprintf(r->out, " %s %llu", name, (unsigned long long)n);
    ctl_set(r, obj, name, json_integer((json_int_t)n));
}

/* One transport's counters, as text and as a JSON object. */
static json_t *ctl_stats_transport(ctl_reply_t *r, const char *name, const stats_totals_t *t)
{
    FILE *out = r->out;
    json_t *o = ctl_json(r, json_object());
    json_t *rcodes = ctl_json(r, json_object()), *qtypes = ctl_json(r, json_object());
    uint64_t q = t->queries, dropped = t->dropped;
    fprintf(out, "%s: %llu queries, %llu dropped, %llu truncated, %llu with client subnet\n",
            name, (unsigned long long)q, (unsigned long long)dropped,
            (unsigned long long)t->truncated, (unsigned long long)t->ecs);
    ctl_set(r, o, "queries", json_integer((json_int_t)q));
    ctl_set(r, o, "dropped", json_integer((json_int_t)dropped));
    ctl_set(r, o, "truncated", json_integer((json_int_t)t->truncated));
    ctl_set(r, o, "ecs", json_integer((json_int_t)t->ecs));
    fprintf(out, "  rcodes:");
    for (unsigned i = 0; i < STATS_RCODES; i++) {
        if (t->rcode[i])
            ctl_stats_count(r, rcodes, stats_rcode_name(i), t->rcode[i]);
    }
    fprintf(out, "\n  types: ");
    for (unsigned k = 1; k <= STATS_QT_N; k++) {
        unsigned i = k % STATS_QT_N; /* "other" (0) last */
        if (t->qtype[i])
            ctl_stats_count(r, qtypes, stats_qtype_name(i), t->qtype[i]);
    }
    fprintf(out, "\n");
    ctl_set(r, o, "rcodes", rcodes);
    ctl_set(r, o, "types", qtypes);
    return o;
}


/* The TCP server's limits and the descriptors: one line, one object. */
static void ctl_stats_net(ctl_reply_t *r, json_t *data)
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
    json_t *o = ctl_json(r, json_object());
    fprintf(r->out, "net:");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t n = atomic_load_explicit(rows[i].value, memory_order_relaxed);
        fprintf(r->out, " %s %llu", rows[i].name, (unsigned long long)n);
        ctl_set(r, o, rows[i].name, json_integer((json_int_t)n));
    }
    fprintf(r->out, "\n");
    ctl_set(r, data, "net", o);
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
    ctl_set(r, data, "udp", ctl_stats_transport(r, "udp", &udp));
    ctl_set(r, data, "tcp", ctl_stats_transport(r, "tcp", &tcp));
    uint64_t reloads = atomic_load(&stats_reloads), failed = atomic_load(&stats_reload_failures);
    fprintf(out, "reloads: %llu, failed: %llu\n", (unsigned long long)reloads,
            (unsigned long long)failed);
    ctl_set(r, data, "reloads", json_integer((json_int_t)reloads));
    ctl_set(r, data, "reload_failures", json_integer((json_int_t)failed));
    ctl_stats_net(r, data);

    json_t *services = ctl_json(r, json_array());
    rcu_read_lock();
    const snapshot_t *s = snapshot_current();
    for (size_t i = 0; s && i < s->conf->n_services; i++) {
        service_t *svc = s->services[i];
        json_t *o = ctl_json(r, json_object()), *answers = ctl_json(r, json_object());
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
            ctl_stats_count(r, answers, dc, service_count(svc, SERVICE_COUNT_ANSWERS + p));
        }
        fprintf(out, "\n");
        ctl_set(r, o, "name", ctl_string(svc->conf->name));
        ctl_set(r, o, "failovers", json_integer((json_int_t)fo));
        ctl_set(r, o, "fallback", json_integer((json_int_t)fb));
        ctl_set(r, o, "fail_open", json_integer((json_int_t)fopen));
        ctl_set(r, o, "answers", answers);
        ctl_append(r, services, o);
    }
    rcu_read_unlock();
    ctl_set(r, data, "services", services);

    json_t *checks = ctl_json(r, json_array());
    uint32_t end = health_target_end(c->health);
    for (uint32_t id = 0; id < end; id++) {
        health_info_t info;
        if (!health_target_info(c->health, id, &info) || !info.check)
            continue;
        fprintf(out, "check %s %s (%s): %s, %u consecutive successes, %u consecutive failures\n",
                info.check, info.address, info.datacenter ? info.datacenter : "-",
                ctl_state_name(info.check_state), info.successes, info.failures);
        json_t *o = ctl_json(r, json_object());
        ctl_set(r, o, "check", ctl_string(info.check));
        ctl_set(r, o, "address", ctl_string(info.address));
        ctl_set(r, o, "state", ctl_string(ctl_state_name(info.check_state)));
        ctl_set(r, o, "successes", json_integer(info.successes));
        ctl_set(r, o, "failures", json_integer(info.failures));
        ctl_append(r, checks, o);
    }
    ctl_set(r, data, "checks", checks);
    r->ok = true;
}

static void ctl_reload_reply(ctl_reply_t *r, bool ok, const diag_t *d, const char *summary)
{
    r->ok = ok;
    json_t *problems = ctl_json(r, json_array());
    for (size_t i = 0; i < d->count; i++) {
        fprintf(r->out, "%s\n", d->messages[i]);
        ctl_append(r, problems, ctl_string(d->messages[i]));
    }
    fprintf(r->out, "%s", summary);
    ctl_set(r, r->data, "reloaded", json_boolean(ok));
    ctl_set(r, r->data, "summary", ctl_string(summary));
    ctl_set(r, r->data, "problems", problems);
}

static void ctl_reply_open(ctl_reply_t *r);
static json_t *ctl_reply_close(ctl_reply_t *r);

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
    if (!r.no_memory)
        ctl_reload_reply(&r, ok, d, summary);
    json_t *reply = ctl_reply_close(&r);
    ctl__send(cl, reply, false);
    json_decref(reply);
    ctl__client_resume(cl);
}

static void ctl_cmd_reload(ctl_t *c, json_t *args, ctl_reply_t *r)
{
    (void)args;
    if (!c->reload) {
        fprintf(r->out, "reload is not available");
        return;
    }
    ctl_pending_t *p = calloc(1, sizeof(*p));
    if (!p) {
        r->no_memory = true;
        return;
    }
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
    ctl_set(r, r->data, "target", ctl_string(what));
    ctl_set(r, r->data, "state", ctl_string(state));
    ctl_set(r, r->data, "persisted", json_boolean(rc == 0));
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
        if (f)
            service_explain(svc, s->conf, s->geo, family, addr, prefix, f);
        if (!f || fclose(f) != 0) {
            free(text);
            r->no_memory = true;
            rcu_read_unlock();
            return;
        }
        fputs(text, r->out);
        ctl_set(r, r->data, "service", ctl_string(svc->conf->name));
        ctl_set(r, r->data, "client", ctl_string(client));
        ctl_set(r, r->data, "explain", ctl_string(text));
        free(text);
        r->ok = true;
    }
    rcu_read_unlock();
}

/* What runs each command of ctl__command_specs. */
static void (*const ctl_command_run[CTL_CMD_COUNT])(ctl_t *c, json_t *args, ctl_reply_t *r) = {
    [CTL_CMD_STATUS] = ctl_cmd_status,   [CTL_CMD_STATS] = ctl_cmd_stats,
    [CTL_CMD_RELOAD] = ctl_cmd_reload,   [CTL_CMD_DRAIN] = ctl_cmd_drain_dc,
    [CTL_CMD_UNDRAIN] = ctl_cmd_undrain_dc, [CTL_CMD_FORCE] = ctl_cmd_force,
    [CTL_CMD_EXPLAIN] = ctl_cmd_explain,
};

/* ------------------------------------------------------------ requests */

static void ctl_reply_open(ctl_reply_t *r)
{
    *r = (ctl_reply_t){.data = json_object()};
    r->out = open_memstream(&r->text, &r->text_len);
    r->no_memory = !r->data || !r->out;
}

/* The reply as sent, or NULL when part of it could not be allocated.
 * Frees what r holds. Caller frees the reply with json_decref(). */
static json_t *ctl_reply_close(ctl_reply_t *r)
{
    if (r->out && fclose(r->out) != 0)
        r->no_memory = true;
    json_t *reply = NULL;
    if (!r->no_memory) {
        reply = ctl_json(r, json_object());
        ctl_set(r, reply, "version", json_integer(CTL_PROTOCOL_VERSION));
        ctl_set(r, reply, "ok", json_boolean(r->ok));
        /* the reply is a line of JSON: the message must be UTF-8 for it */
        ctl_set(r, reply, r->ok ? "output" : "error", ctl_text(r->text, r->text_len));
        if (r->ok || json_object_size(r->data) > 0) {
            ctl_set(r, reply, "data", r->data); /* taken even when it fails */
            r->data = NULL;
        }
    }
    json_decref(r->data);
    free(r->text);
    if (r->no_memory) {
        json_decref(reply);
        return NULL;
    }
    return reply;
}

json_t *ctl__handle_line(ctl_t *c, ctl_client_t *cl, const char *line, size_t len,
                         bool *close_after, bool *deferred)
{
    ctl_reply_t r;
    ctl_reply_open(&r);
    r.client = cl;
    json_t *req = NULL;
    if (r.no_memory)
        goto done;

    json_error_t jerr;
    req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *version = req ? json_object_get(req, "version") : NULL;
    json_t *command = req ? json_object_get(req, "command") : NULL;
    json_t *args = req ? json_object_get(req, "args") : NULL;
    json_t *jflag = req ? json_object_get(req, "json") : NULL;
    /* jansson leaves the error text empty when its first buffer fails */
    if (!req && (json_error_code(&jerr) == json_error_out_of_memory || !jerr.text[0])) {
        r.no_memory = true;
        goto done;
    }
    if (!req || !json_is_object(req)) {
        fprintf(r.out, "invalid request: %s", req ? "not a JSON object" : jerr.text);
        *close_after = true;
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
    const ctl_command_spec_t *cmd = ctl__command_find(json_string_value(command));
    if (!cmd) {
        fprintf(r.out, "unknown command '%s' (expected one of:", json_string_value(command));
        for (size_t i = 0; i < CTL_CMD_COUNT; i++)
            fprintf(r.out, " %s", ctl__command_specs[i].name);
        fprintf(r.out, ")");
        goto done;
    }
    if (n_args != cmd->n_args) {
        fprintf(r.out, "usage: %s", cmd->usage);
        goto done;
    }
    ctl_command_run[cmd->id](c, args, &r);

done:
    json_decref(req);
    if (r.deferred) {
        *deferred = true;
        fclose(r.out);
        free(r.text);
        json_decref(r.data);
        return NULL;
    }
    return ctl_reply_close(&r);
}
