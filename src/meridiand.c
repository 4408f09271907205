/*
 * meridiand: wires the modules together. Parses the command line, loads the
 * snapshot (config + zones), binds the sockets, runs the UDP workers and the
 * libuv loop (TCP, signals) until SIGTERM or SIGINT.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>
#include <uv.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "conf/conf.h"
#include "ctl/ctl.h"
#include "health/health.h"
#include "net/net.h"
#include "preflight.h"
#include "snapshot.h"
#include "stats/stats.h"
#include "util/diag.h"
#include "util/log.h"

#define DEFAULT_CONFIG SYSCONFDIR "/meridian/meridian.yaml"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: meridiand [-c FILE] [--listen ADDR:PORT]... [--check] [-d]\n"
            "       meridiand [-c FILE] --explain NAME ADDRESS[/PREFIX]\n"
            "       meridiand -h | -V\n"
            "Authoritative geo-DNS server.\n"
            "\n"
            "  -c, --config FILE       config file (default %s)\n"
            "  -l, --listen ADDR:PORT  listen here instead of the config's server.listen;\n"
            "                          repeat for several addresses ([::1]:53 for IPv6)\n"
            "      --check             run the start's checks (config, zones, GeoIP, state\n"
            "                          file, server.user's access), print each problem as\n"
            "                          file:line: message, exit 0 if the start would work\n"
            "      --explain NAME ADDRESS[/PREFIX]\n"
            "                          print how the service NAME answers a client at\n"
            "                          ADDRESS (a client subnet when PREFIX is given):\n"
            "                          location, matching rule, data-center order, answer\n"
            "  -d, --debug             log at debug level\n"
            "  -h, --help              show this help and exit\n"
            "  -V, --version           show the version and exit\n"
            "\n"
            "meridiand runs in the foreground and logs to stderr. SIGTERM or SIGINT stop\n"
            "it; SIGHUP reloads the config and zones (the listeners stay as they are).\n",
            DEFAULT_CONFIG);
}

static void print_problems(const diag_t *d)
{
    for (size_t i = 0; i < d->count; i++)
        fprintf(stderr, "%s\n", d->messages[i]);
}

static size_t handle_query(void *arg, const uint8_t *query, size_t qlen, uint8_t *resp,
                           size_t resp_cap, const net_peer_t *peer)
{
    (void)arg;
    /* The net layer holds the RCU read lock around this call. Each UDP
     * worker counts into its own stats slot; TCP runs on the loop alone. */
    const snapshot_t *s = snapshot_current();
    return query_answer(s->db, &s->query, query, qlen, resp, resp_cap, peer->tcp, peer->addr,
                        peer->tcp ? STATS_SLOTS - 1 : peer->worker);
}

static void prefetch_queries(void *arg, const uint8_t *const *queries, const uint16_t *lens,
                             const struct sockaddr_storage *from, unsigned n)
{
    (void)arg;
    query_prefetch(&snapshot_current()->query, queries, lens, from, n);
}

/* Watches the directory of geoip.database for that file being replaced.
 * Allocated by geoip_watch_arm, freed in its close callback. */
typedef struct geoip_watch {
    uv_fs_event_t handle;
    char *path; /* the database, as the config resolved it */
    char *file; /* its last component, which events are matched on */
} geoip_watch_t;

/* A client of the control socket waiting for a reload's outcome. */
typedef struct reload_waiter {
    ctl_reload_done_fn done;
    void *ctx;
    struct reload_waiter *next;
} reload_waiter_t;

typedef struct daemon_state {
    const char *config_path;
    uv_loop_t *loop;
    /* Reloads, one at a time (see reload_start): */
    bool reloading;            /* one is being built or its old snapshot freed */
    bool reload_again;         /* another was asked for meanwhile: run it next */
    reload_waiter_t *waiting;  /* owed the running reload's outcome */
    reload_waiter_t *queued;   /* owed the next one's */
    diag_t reload_diag;        /* the running reload's problems */
    snapshot_build_t *build;   /* between its stages */
    snapshot_t *built;         /* compiled, not yet published */
    snapshot_t *retired;       /* published over, being freed */
    struct idle_job *job;      /* the stage running on its thread, NULL: none */
    bool build_ok;
    net_server_t *server;
    health_t *health;
    ctl_t *ctl; /* NULL: no control socket */
    uv_signal_t sig_term, sig_int, sig_hup;
    geoip_watch_t *geoip_watch; /* NULL: no database, or not watching yet */
    uv_timer_t geoip_settle;    /* reloads once the database file settles */
    bool watching;              /* the loop is serving: reloads may re-arm the watch */
    bool stopping;
} daemon_state_t;

/* A copy, or replacing a file by rename, shows as several events: wait
 * until there has been none for this long before reloading. */
#define GEOIP_SETTLE_MS 200

/* Tells systemd (Type=notify) where we are; nothing without libsystemd or
 * when not started by systemd. */
static void notify(const char *state)
{
#ifdef HAVE_SYSTEMD
    sd_notify(0, state);
#else
    (void)state;
#endif
}

static void on_geoip_watch_closed(uv_handle_t *h)
{
    geoip_watch_t *w = h->data;
    free(w->path);
    free(w->file);
    free(w);
}

static void geoip_watch_close(daemon_state_t *st)
{
    if (!st->geoip_watch)
        return;
    st->geoip_watch->handle.data = st->geoip_watch;
    uv_close((uv_handle_t *)&st->geoip_watch->handle, on_geoip_watch_closed);
    st->geoip_watch = NULL;
}

static void on_geoip_settled(uv_timer_t *h);

static void on_geoip_change(uv_fs_event_t *h, const char *filename, int events, int status)
{
    (void)events;
    daemon_state_t *st = h->data;
    geoip_watch_t *w = st->geoip_watch;
    if (!w || &w->handle != h || st->stopping)
        return;
    if (status < 0) {
        log_warnx("geoip: watching %s: %s", w->path, uv_strerror(status));
        return;
    }
    /* other files in the directory (zones, temp files) are not ours */
    if (filename && strcmp(filename, w->file) != 0)
        return;
    uv_timer_start(&st->geoip_settle, on_geoip_settled, GEOIP_SETTLE_MS, 0);
}

/* Watches the directory of conf's GeoIP database (none without one); a
 * watch on the same path is kept. Failing to watch is logged, not fatal:
 * SIGHUP still reloads. */
static void geoip_watch_arm(daemon_state_t *st, const conf_t *conf)
{
    const char *path = conf->geoip.database;
    if (!st->watching || st->stopping)
        return;
    if (st->geoip_watch && path && strcmp(st->geoip_watch->path, path) == 0)
        return;
    geoip_watch_close(st);
    if (!path)
        return;
    geoip_watch_t *w = calloc(1, sizeof(*w));
    char *dir = strdup(path);
    if (!w || !dir || !(w->path = strdup(path)))
        fatal("geoip watch");
    char *slash = strrchr(dir, '/');
    if (!slash) {
        w->file = strdup(path);
        strcpy(dir, ".");
    } else {
        w->file = strdup(slash + 1);
        if (slash == dir)
            slash++; /* "/geo.mmdb": the root */
        *slash = '\0';
    }
    if (!w->file)
        fatal("geoip watch");
    uv_fs_event_init(st->geoip_settle.loop, &w->handle);
    w->handle.data = st;
    int rc = uv_fs_event_start(&w->handle, on_geoip_change, dir, 0);
    if (rc < 0) {
        log_warnx("geoip: cannot watch %s for %s: %s: a new database needs a reload", dir,
                  w->file, uv_strerror(rc));
        w->handle.data = w;
        uv_close((uv_handle_t *)&w->handle, on_geoip_watch_closed);
    } else {
        log_debug("geoip: watching %s for %s", dir, w->file);
        st->geoip_watch = w;
    }
    free(dir);
}

/* Shutdown is bounded whatever is stuck: a reload is not waited for (see
 * serve()), and past this anything else the loop still waits for (a
 * health status file read from a hung network file system) is given up. */
#define STOP_BOUND_S 5

static void *stop_watchdog(void *arg)
{
    (void)arg;
    struct timespec t = {.tv_sec = STOP_BOUND_S};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
    log_warnx("shutdown still not finished after %d s: exiting now", STOP_BOUND_S);
    fflush(NULL);
    _exit(1);
    return NULL;
}

static void stop_watchdog_start(void)
{
    pthread_t t;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&t, NULL, stop_watchdog, NULL) == 0)
        pthread_detach(t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    daemon_state_t *st = h->data;
    if (st->stopping)
        return;
    st->stopping = true;
    notify("STOPPING=1");
    log_info("signal %d: shutting down", signum);
    stop_watchdog_start();
    net_server_stop(st->server);
    health_stop(st->health);
    ctl_stop(st->ctl);
    /* A reload stage may take long (a huge zone, a slow disk) and its
     * result would be dropped: the loop does not wait for it (serve()
     * then exits without it). */
    if (st->job)
        uv_unref((uv_handle_t *)st->job);
    geoip_watch_close(st);
    uv_close((uv_handle_t *)&st->geoip_settle, NULL);
    uv_close((uv_handle_t *)&st->sig_term, NULL);
    uv_close((uv_handle_t *)&st->sig_int, NULL);
    uv_close((uv_handle_t *)&st->sig_hup, NULL);
}

/* Reads the state file named by conf into health, at start and on every
 * reload; its problems go to d and to the log. False when it is corrupt. */
static bool load_overrides(health_t *health, const conf_t *conf, diag_t *d)
{
    size_t before = d->count;
    health_set_state_file(health, conf->state_file);
    bool ok = health_load_state(health, d);
    for (size_t i = before; i < d->count; i++)
        log_errx("%s", d->messages[i]);
    return ok;
}

/* ---------------------------------------------------------------- reload
 *
 * SIGHUP, `meridianctl reload` and a replaced GeoIP database all reload
 * here, without pausing answers: the heavy stages run on a thread of their
 * own at the lowest CPU priority (SCHED_IDLE), so that on a busy or
 * single-core machine the UDP workers and this loop (TCP, health checks,
 * the control socket) always go first. The stages:
 *   1. thread: read the config, the zones and the GeoIP files;
 *   2. loop:   build the services (they register with health, which lives
 *              on the loop);
 *   3. thread: compile the zones;
 *   4. loop:   publish, commit health, answer the waiting clients;
 *   5. thread: wait for the readers of the old snapshot (synchronize_rcu)
 *              and free it.
 * One reload runs at a time: those asked for meanwhile become one more,
 * run after it. At shutdown a running stage is let finish (the loop runs
 * until it has) and its result is dropped. */

/* A function run on a thread of its own, then `after` on the loop. */
typedef struct idle_job {
    uv_async_t async; /* first: the close callback frees the job */
    pthread_t thread;
    void (*work)(daemon_state_t *st);
    void (*after)(daemon_state_t *st);
    daemon_state_t *st;
} idle_job_t;

static void *idle_job_main(void *arg)
{
    idle_job_t *j = arg;
    struct sched_param param = {.sched_priority = 0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) != 0)
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    j->work(j->st);
    uv_async_send(&j->async);
    return NULL;
}

static void idle_job_closed(uv_handle_t *h) { free(h->data); }

static void idle_job_done(uv_async_t *a)
{
    idle_job_t *j = a->data;
    pthread_join(j->thread, NULL);
    j->st->job = NULL;
    uv_close((uv_handle_t *)&j->async, idle_job_closed);
    j->after(j->st);
}

static void idle_job_start(daemon_state_t *st, void (*work)(daemon_state_t *),
                           void (*after)(daemon_state_t *))
{
    idle_job_t *j = calloc(1, sizeof(*j));
    if (!j)
        fatal("calloc");
    j->work = work;
    j->after = after;
    j->st = st;
    uv_async_init(st->loop, &j->async, idle_job_done);
    j->async.data = j;
    st->job = j;
    if (st->stopping)
        uv_unref((uv_handle_t *)&j->async);
    /* Signals are the loop's business (uv_signal): none for this thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&j->thread, NULL, idle_job_main, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_warnx("reload: cannot start a thread (%s): working on the loop", strerror(rc));
        j->thread = pthread_self();
        work(st);
        uv_async_send(&j->async);
    }
}

static void reload_start(daemon_state_t *st);

/* Answers every waiter and starts the queued reload, if any. */
static void reload_answer(daemon_state_t *st, reload_waiter_t *w, bool ok, const char *summary)
{
    while (w) {
        reload_waiter_t *next = w->next;
        w->done(w->ctx, ok, &st->reload_diag, summary);
        free(w);
        w = next;
    }
}

static void reload_next(daemon_state_t *st)
{
    st->reloading = false;
    diag_free(&st->reload_diag);
    if (!st->reload_again)
        return;
    st->reload_again = false;
    st->waiting = st->queued;
    st->queued = NULL;
    if (st->stopping) {
        diag_init(&st->reload_diag);
        reload_answer(st, st->waiting, false, "reload not done: the server is shutting down");
        st->waiting = NULL;
        diag_free(&st->reload_diag);
        return;
    }
    reload_start(st);
}

static void reload_retire_work(daemon_state_t *st)
{
    snapshot_retire(st->retired);
    st->retired = NULL;
    /* Each reload builds on a thread of its own, so in a malloc arena of
     * its own: what the old snapshot freed stays with its arena, and the
     * next build takes another. Without this a 1,000,000-record zone's
     * 245 MB grew to 714 MB after three reloads. */
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static void reload_retired(daemon_state_t *st) { reload_next(st); }

/* The end of a reload that failed (or met a shutdown): the old snapshot
 * stays. */
static void reload_failed(daemon_state_t *st)
{
    diag_t *d = &st->reload_diag;
    health_rollback(st->health);
    for (size_t i = 0; i < d->count; i++)
        log_errx("reload: %s", d->messages[i]);
    log_errx("reload failed: still serving the previous configuration");
    atomic_fetch_add_explicit(&stats_reload_failures, 1, memory_order_relaxed);
    if (!st->stopping)
        notify("READY=1");
    reload_answer(st, st->waiting, false,
                  "reload failed: still serving the previous configuration");
    st->waiting = NULL;
    reload_next(st);
}

static void reload_compile_work(daemon_state_t *st)
{
    st->build_ok = snapshot_build_finish(st->build, &st->built, &st->reload_diag);
    st->build = NULL;
}

static void reload_compiled(daemon_state_t *st)
{
    snapshot_t *s = st->built;
    diag_t *d = &st->reload_diag;
    st->built = NULL;
    if (!st->build_ok || st->stopping) {
        if (st->stopping)
            diag_error(d, NULL, 0, 0, "the server is shutting down");
        snapshot_free(s);
        reload_failed(st);
        return;
    }
    for (size_t i = 0; i < d->count; i++)
        log_warnx("reload: %s", d->messages[i]);
    if (!load_overrides(st->health, s->conf, d)) {
        log_errx("reload: the state file is unreadable: keeping the current overrides");
        diag_warn(d, NULL, 0, 0, "the state file is unreadable: keeping the current overrides");
    }
    st->retired = snapshot_swap(s);
    health_commit(st->health, s->conf);
    geoip_watch_arm(st, s->conf);
    char summary[256];
    snprintf(summary, sizeof(summary), "reloaded %s: %zu zones, %zu records, %zu services",
             st->config_path, zone_db_zone_count(s->db), s->n_records, s->conf->n_services);
    log_info("reload: %zu zones, %zu records, %zu services", zone_db_zone_count(s->db),
             s->n_records, s->conf->n_services);
    atomic_fetch_add_explicit(&stats_reloads, 1, memory_order_relaxed);
    notify("READY=1");
    reload_answer(st, st->waiting, true, summary);
    st->waiting = NULL;
    idle_job_start(st, reload_retire_work, reload_retired);
}

static void reload_read_work(daemon_state_t *st)
{
    st->build_ok = snapshot_build_read(st->config_path, &st->build, &st->reload_diag);
}

static void reload_read(daemon_state_t *st)
{
    if (st->build_ok && st->stopping) {
        snapshot_build_free(st->build);
        st->build = NULL;
        st->build_ok = false;
        diag_error(&st->reload_diag, NULL, 0, 0, "the server is shutting down");
    }
    if (!st->build_ok) {
        reload_failed(st);
        return;
    }
    if (!snapshot_build_services(st->build, st->health, &st->reload_diag)) {
        snapshot_build_free(st->build);
        st->build = NULL;
        reload_failed(st);
        return;
    }
    idle_job_start(st, reload_compile_work, reload_compiled);
}

static void reload_start(daemon_state_t *st)
{
    st->reloading = true;
    diag_init(&st->reload_diag);
    st->reload_diag.quiet = true;
    notify("RELOADING=1");
    idle_job_start(st, reload_read_work, reload_read);
}

/* Asks for a reload; done (may be NULL) gets its outcome. Every problem is
 * logged and, for the control socket, kept until done is called. */
static void daemon_reload(void *arg, ctl_reload_done_fn done, void *ctx)
{
    daemon_state_t *st = arg;
    if (st->stopping) {
        if (done) {
            diag_t d;
            diag_init(&d);
            done(ctx, false, &d, "reload not done: the server is shutting down");
            diag_free(&d);
        }
        return;
    }
    reload_waiter_t **list = st->reloading ? &st->queued : &st->waiting;
    if (done) {
        reload_waiter_t *w = calloc(1, sizeof(*w));
        if (!w)
            fatal("calloc");
        *w = (reload_waiter_t){.done = done, .ctx = ctx, .next = *list};
        *list = w;
    }
    if (st->reloading) {
        if (!st->reload_again)
            log_info("reload: one is running; another will follow it");
        st->reload_again = true;
        return;
    }
    reload_start(st);
}

static void on_hup(uv_signal_t *h, int signum)
{
    (void)signum;
    daemon_reload(h->data, NULL, NULL);
}

static void on_geoip_settled(uv_timer_t *h)
{
    daemon_state_t *st = h->data;
    if (st->stopping)
        return;
    log_info("geoip: %s changed on disk: reloading",
             st->geoip_watch ? st->geoip_watch->path : "the database");
    daemon_reload(st, NULL, NULL);
}

/* Health changed: log what it means for each service. The loop thread is
 * the only one that publishes snapshots, so it may read the current one
 * without a read-side section. */
static void on_health_change(void *arg)
{
    (void)arg;
    rcu_read_lock();
    const snapshot_t *s = snapshot_current();
    if (s)
        for (size_t i = 0; i < s->conf->n_services; i++)
            service_log_transitions(s->services[i], s->conf);
    rcu_read_unlock();
}

/* What the command line asked for. */
typedef struct options {
    const char *config_path;
    net_listen_t *listeners; /* --listen, argc entries at most */
    size_t n_listeners;
    bool check;
    bool debug;
    const char *explain_name; /* --explain NAME */
    const char *explain_addr; /* and its ADDRESS[/PREFIX] */
} options_t;

/* Returns -1 to go on, or the exit status. */
static int parse_options(int argc, char **argv, options_t *o)
{
    enum { OPT_CHECK = 256, OPT_EXPLAIN };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"check", no_argument, NULL, OPT_CHECK},
        {"explain", required_argument, NULL, OPT_EXPLAIN},
        {"debug", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:l:dhV", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config_path = optarg;
            break;
        case 'l': {
            net_listen_t *l = &o->listeners[o->n_listeners];
            if (conf_parse_sockaddr(optarg, CONF_DEFAULT_PORT, &l->addr, &l->addrlen) < 0) {
                fprintf(stderr, "meridiand: --listen %s: expected ADDR:PORT or [ADDR]:PORT\n",
                        optarg);
                return 2;
            }
            o->n_listeners++;
            break;
        }
        case OPT_CHECK:
            o->check = true;
            break;
        case OPT_EXPLAIN:
            o->explain_name = optarg;
            break;
        case 'd':
            o->debug = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("meridiand %s\n", VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (o->explain_name && optind < argc)
        o->explain_addr = argv[optind++];
    if (o->explain_name && !o->explain_addr) {
        fprintf(stderr, "meridiand: --explain NAME needs an ADDRESS[/PREFIX] after it\n");
        return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "meridiand: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return -1;
}

/* --explain: how a service answers one client. */
static int explain(const options_t *o, const snapshot_t *snap)
{
    int family;
    uint8_t addr[16];
    unsigned prefix;
    if (ctl_parse_client(o->explain_addr, &family, addr, &prefix) < 0) {
        fprintf(stderr, "meridiand: --explain: '%s' is not an address or address/prefix\n",
                o->explain_addr);
        return 2;
    }
    service_t *svc = snapshot_service(snap, o->explain_name);
    if (!svc) {
        fprintf(stderr, "meridiand: --explain: %s is not a service in %s\n", o->explain_name,
                o->config_path);
        return 1;
    }
    service_explain(svc, snap->conf, snap->geo, family, addr, prefix, stdout);
    return 0;
}

/* Once every socket is bound: become server.user (and server.group), as
 * preflight_run() decided (it refused what cannot be). glibc applies
 * set*id to every thread, the UDP workers included. */
static int drop_privileges(const preflight_t *pf, const conf_t *conf)
{
    if (pf->take_group && setgid(pf->gid) < 0) {
        fprintf(stderr, "meridiand: cannot become group %s: %s\n", conf->group, strerror(errno));
        return -1;
    }
    if (!pf->drop)
        return 0;
    gid_t gid = pf->gid;
    /* The control socket was made by root: hand it to the account the
     * operators share with the daemon (mode 0660). */
    if (conf->control && conf->control[0] && chown(conf->control, pf->uid, gid) < 0)
        log_warn("control socket %s: chown to %s", conf->control, conf->user);
    if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(pf->uid) < 0) {
        fprintf(stderr, "meridiand: cannot become user %s: %s\n", conf->user, strerror(errno));
        return -1;
    }
    if (pf->uid != 0 && setuid(0) == 0) {
        fprintf(stderr, "meridiand: still able to become root after dropping privileges\n");
        return -1;
    }
    log_info("running as user %s (uid %u, gid %u)", conf->user, (unsigned)pf->uid,
             (unsigned)gid);
    return 0;
}

/* Undoes a start that failed before serving: health's pending targets and
 * handles, the loop, the RCU registration. Returns the exit status 1. */
static int abandon_start(uv_loop_t *loop, health_t *health)
{
    health_rollback(health);
    health_stop(health);
    uv_run(loop, UV_RUN_DEFAULT);
    health_free(health);
    uv_loop_close(loop);
    rcu_unregister_thread();
    return 1;
}

/* Loads the snapshot with health checks attached and serves it until a
 * stop signal. */
static int serve(const options_t *o)
{
    uv_loop_t *loop = uv_default_loop();
    daemon_state_t st = {.config_path = o->config_path, .loop = loop};
    /* Before anything opens: every TCP connection holds a descriptor. */
    net_raise_nofile_limit();
    rcu_register_thread(); /* the loop thread answers TCP queries */
    st.health = health_new(loop, NULL, on_health_change, &st);
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    /* What --check runs, the state file's overrides included. */
    preflight_t pf;
    bool loaded = preflight_run(o->config_path, st.health, &pf, &d);
    print_problems(&d);
    diag_free(&d);
    if (!loaded) {
        fprintf(stderr, "meridiand: not starting: fix the problems above\n");
        return abandon_start(loop, st.health);
    }
    snapshot_t *snap = pf.snap;
    if (!o->debug && snap->conf->log_level >= 0)
        log_set_level((enum log_level)snap->conf->log_level);
    if (snap->conf->syslog)
        log_init("meridiand", log_get_level(), true);

    net_listen_t *listeners = o->listeners;
    size_t n_listen = o->n_listeners;
    if (n_listen == 0) {
        /* No --listen: the config's listeners (the buffer has room for one
         * per argument only, so use the snapshot's copy). */
        listeners = calloc(snap->conf->n_listeners ? snap->conf->n_listeners : 1,
                           sizeof(*listeners));
        if (!listeners)
            fatal("calloc");
        n_listen = snap->conf->n_listeners;
        for (size_t i = 0; i < n_listen; i++) {
            listeners[i].addr = snap->conf->listeners[i].addr;
            listeners[i].addrlen = snap->conf->listeners[i].addrlen;
        }
    }
    unsigned workers = snap->conf->workers;
    if (workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n > 0 ? (unsigned)n : 1;
    }
    net_config_t ncfg = {
        .listeners = listeners,
        .n_listeners = n_listen,
        .udp_workers = workers,
        .tcp_idle_timeout_ms = snap->conf->tcp_idle_timeout_ms,
        .tcp_max_connections = snap->conf->tcp_max_connections,
        .tcp_max_pipeline = snap->conf->tcp_max_pipeline,
        .tcp_max_per_address = snap->conf->tcp_max_per_address,
        .tcp_max_per_ipv6_64 = snap->conf->tcp_max_per_ipv6_64,
        .tcp_max_queued_bytes = snap->conf->tcp_max_queued_bytes,
        .tcp_max_queued_total = (size_t)snap->conf->tcp_max_queued_total,
        .tcp_write_timeout_ms = snap->conf->tcp_write_timeout_ms,
        /* Health probes hold a socket each (curl sometimes two), the
         * control socket one per client. */
        .fd_reserve = NET_FD_RESERVE + CTL_MAX_CLIENTS + 2 * health_target_end(st.health),
        .udp_prefetch = prefetch_queries,
    };
    size_t n_zones = zone_db_zone_count(snap->db), n_records = snap->n_records;

    signal(SIGPIPE, SIG_IGN);
    snapshot_publish(snap);
    health_commit(st.health, snap->conf);

    int status = 0;
    /* Before the DNS sockets: a second daemon on the same control socket is
     * a mistake to stop at, not something to serve beside. */
    if (snap->conf->control[0]) {
        ctl_config_t ccfg = {
            .path = snap->conf->control,
            .health = st.health,
            .listeners = listeners,
            .n_listeners = n_listen,
            .reload = daemon_reload,
            .reload_arg = &st,
        };
        int crc = ctl_start(&st.ctl, loop, &ccfg);
        if (crc == -EADDRINUSE) {
            fprintf(stderr, "meridiand: not starting: another meridiand answers on the control "
                            "socket %s\n", snap->conf->control);
            status = 1;
            health_stop(st.health);
            uv_run(loop, UV_RUN_DEFAULT);
            goto out;
        }
        if (crc < 0)
            log_warnx("control socket %s: %s: running without one (meridianctl will not "
                      "reach this server)", snap->conf->control, strerror(-crc));
    }
    int rc = net_server_start(&st.server, &ncfg, loop, handle_query, NULL);
    if (rc < 0 || drop_privileges(&pf, snap->conf) < 0) {
        if (rc < 0)
            fprintf(stderr, "meridiand: cannot listen: %s\n", strerror(-rc));
        else
            net_server_stop(st.server);
        status = 1;
        health_stop(st.health);
        ctl_stop(st.ctl);
        uv_run(loop, UV_RUN_DEFAULT);
        if (rc == 0)
            net_server_free(st.server);
        goto out;
    }
    /* As the user that wrote them: only its own files are taken. */
    health_clean_state_temps(st.health);
    uv_signal_init(loop, &st.sig_term);
    uv_signal_init(loop, &st.sig_int);
    uv_signal_init(loop, &st.sig_hup);
    st.sig_term.data = st.sig_int.data = st.sig_hup.data = &st;
    uv_signal_start(&st.sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&st.sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&st.sig_hup, on_hup, SIGHUP);
    uv_timer_init(loop, &st.geoip_settle);
    st.geoip_settle.data = &st;
    st.watching = true;
    geoip_watch_arm(&st, snap->conf);

    log_info("meridiand %s: %zu zones, %zu records, %u UDP workers, %zu listeners, "
             "%u TCP connections at most", VERSION, n_zones, n_records, workers, n_listen,
             net_server_tcp_max_connections(st.server));
    notify("READY=1");
    uv_run(loop, UV_RUN_DEFAULT);
    if (st.job) {
        /* Still reading or compiling a reload (or freeing the snapshot it
         * replaced): its thread uses st and the health table, so nothing
         * is freed under it; the sockets are closed, the control socket
         * is removed, the state file is written on every change. */
        log_warnx("stopped without waiting for the reload still running");
        fflush(NULL);
        _exit(status);
    }
    net_server_free(st.server);
    log_info("stopped");
out:
    ctl_free(st.ctl);
    snapshot_publish(NULL);
    health_free(st.health);
    uv_loop_close(loop);
    rcu_unregister_thread();
    if (listeners != o->listeners)
        free(listeners);
    return status;
}

int main(int argc, char **argv)
{
    options_t o = {.config_path = DEFAULT_CONFIG};
    o.listeners = calloc((size_t)argc, sizeof(*o.listeners));
    if (!o.listeners)
        return 1;
    int status = parse_options(argc, argv, &o);
    if (status >= 0)
        goto out;
    log_init("meridiand", o.debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, false);

    diag_t d;
    diag_init(&d);
    d.quiet = true;
    snapshot_t *snap;
    if (!o.check && !o.explain_name) {
        status = serve(&o);
        goto out;
    }
    bool loaded;
    if (o.check) {
        preflight_t pf;
        loaded = preflight_run(o.config_path, NULL, &pf, &d);
        snap = pf.snap;
    } else {
        loaded = snapshot_load(o.config_path, NULL, &snap, &d);
    }
    print_problems(&d);
    diag_free(&d);
    if (o.explain_name && loaded) {
        status = explain(&o, snap);
        snapshot_free(snap);
    } else if (o.check || o.explain_name) {
        if (loaded) {
            printf("%s: OK: %zu zones, %zu records, %zu services", o.config_path,
                   zone_db_zone_count(snap->db), snap->n_records, snap->conf->n_services);
            if (snap->geo)
                printf(", GeoIP %s", geo_db_describe(snap->geo));
            printf("\n");
        }
        snapshot_free(snap);
        status = loaded ? 0 : 1;
    }
out:
    free(o.listeners);
    return status;
}
