/*
 * Unit tests for src/health: the hysteresis rule (fed results directly),
 * real tcp/http/https checks against servers on loopback run on the test's
 * own libuv loop (https through `openssl s_server` with a certificate made
 * at test time), status files watched in a temporary directory, overrides,
 * the state file, and targets kept across commits.
 *
 * Checks run every 100 ms with 80 ms timeouts against listeners on
 * loopback that answer at once (a connect there takes microseconds; the
 * timeout is only reached by the "hang" cases, on purpose). The tests
 * assert the states reached and the count of results, never how long a
 * check took; each wait is bounded by WAIT_MS only so that a broken check
 * fails the test instead of hanging it, and that bound is generous for a
 * loaded machine under the sanitizers.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "health/health.h"
#include "health/health_internal.h"
#include "stats/stats.h"
#include "util/log.h"

#define INTERVAL 100
#define TIMEOUT 80
#define WAIT_MS 15000

/* ------------------------------------------------------------ a conf built by hand */

#define MAX_ADDRS 16

typedef struct tconf {
    conf_t c;
    conf_datacenter_t dc[3];
    conf_health_check_t check[8];
    conf_service_t svc[8];
    conf_pool_t pool[16];
    conf_network_t addr[MAX_ADDRS], probe[MAX_ADDRS];
    size_t n_pools, n_addrs;
} tconf_t;

static conf_network_t net(const char *text)
{
    conf_network_t n;
    if (!health__parse_address(text, &n))
        fail_msg("bad test address %s", text);
    return n;
}

static void tc_init(tconf_t *tc)
{
    memset(tc, 0, sizeof(*tc));
    tc->dc[0].name = (char *)"eu-west";
    tc->dc[1].name = (char *)"us-east";
    tc->dc[2].name = (char *)"ap-south";
    tc->c.datacenters = tc->dc;
    tc->c.n_datacenters = 3;
    tc->c.health_checks = tc->check;
    tc->c.services = tc->svc;
}

static conf_health_check_t *tc_check(tconf_t *tc, const char *name, enum conf_check_type type,
                                     uint16_t port)
{
    conf_health_check_t *c = &tc->check[tc->c.n_health_checks++];
    c->name = (char *)name;
    c->type = type;
    c->port = port;
    c->interval_ms = INTERVAL;
    c->timeout_ms = TIMEOUT;
    c->expect_status = 200;
    c->verify_tls = true;
    c->down_after = 1;
    c->up_after = 1;
    return c;
}

/* check: index into tc->check, or -1 for none. */
static conf_service_t *tc_service(tconf_t *tc, const char *name, int check)
{
    conf_service_t *s = &tc->svc[tc->c.n_services++];
    s->name = (char *)name;
    s->conf_file = "t.yaml";
    s->conf_line = 1;
    s->min_up = 1;
    if (check >= 0) {
        s->check = tc->check[check].name;
        s->check_index = (size_t)check;
    }
    s->pools = &tc->pool[tc->n_pools];
    return s;
}

/* Adds a pool to the last service: n addresses, each "ADDR" or
 * "ADDR>PROBE". Pools of one service must be added consecutively. */
static void tc_pool(tconf_t *tc, uint8_t dc, int n, ...)
{
    conf_service_t *s = &tc->svc[tc->c.n_services - 1];
    conf_pool_t *p = &tc->pool[tc->n_pools++];
    p->dc = dc;
    p->addrs = &tc->addr[tc->n_addrs];
    p->probes = &tc->probe[tc->n_addrs];
    p->n_addrs = (size_t)n;
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%s", va_arg(ap, const char *));
        char *gt = strchr(buf, '>');
        if (gt) {
            *gt = '\0';
            tc->probe[tc->n_addrs] = net(gt + 1);
        }
        tc->addr[tc->n_addrs++] = net(buf);
    }
    va_end(ap);
    s->n_pools++;
}

/* Registers every address of every service, in order, into ids[]. */
static size_t register_all(health_t *h, const conf_t *c, long *ids)
{
    size_t n = 0;
    diag_t d;
    diag_init(&d);
    for (size_t s = 0; s < c->n_services; s++)
        for (size_t p = 0; p < c->services[s].n_pools; p++)
            for (size_t a = 0; a < c->services[s].pools[p].n_addrs; a++) {
                long id = health_target(h, c, &c->services[s], p, a, &d);
                assert_true(id >= 0);
                ids[n++] = id;
            }
    assert_int_equal(d.errors, 0);
    diag_free(&d);
    return n;
}

/* ------------------------------------------------------------ the loop */

typedef struct fx {
    uv_loop_t loop;
    uv_timer_t tick; /* keeps UV_RUN_ONCE from sleeping past a deadline */
    char dir[64];
    health_t *h;
    unsigned changes;
} fx_t;

static fx_t *fx; /* the running test's fixture */

static void on_change(void *arg)
{
    ((fx_t *)arg)->changes++;
}

static void tick(uv_timer_t *t)
{
    (void)t;
}

static int setup(void **state)
{
    fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    uv_timer_init(&fx->loop, &fx->tick);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_health.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    *state = fx;
    return 0;
}

static void close_walk(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        fail_msg("handle of type %s left open", uv_handle_type_name(handle->type));
}

static int teardown(void **state)
{
    fx_t *f = *state;
    if (f->h)
        health_stop(f->h);
    uv_close((uv_handle_t *)&f->tick, NULL);
    /* Everything health owns is closing now: the loop must drain. */
    uv_walk(&f->loop, close_walk, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    health_free(f->h);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    fx = NULL;
    return 0;
}

typedef bool (*pred_fn)(void *arg);

static bool run_until(pred_fn pred, void *arg, unsigned ms)
{
    uv_update_time(&fx->loop);
    uint64_t end = uv_now(&fx->loop) + ms;
    uv_timer_start(&fx->tick, tick, 5, 5);
    bool ok;
    while (!(ok = pred(arg)) && uv_now(&fx->loop) < end)
        uv_run(&fx->loop, UV_RUN_ONCE);
    uv_timer_stop(&fx->tick);
    return ok;
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

static void run_for(unsigned ms)
{
    run_until(never, NULL, ms);
}

static health_info_t info(long id)
{
    health_info_t i;
    if (!health_target_info(fx->h, (uint32_t)id, &i))
        fail_msg("target %ld has no info", id);
    return i;
}

typedef struct want {
    long id;
    enum health_state effective;
    unsigned failures, successes; /* when non-zero, wait for these too */
} want_t;

static bool reached(void *arg)
{
    const want_t *w = arg;
    health_info_t i;
    if (!health_target_info(fx->h, (uint32_t)w->id, &i))
        return false;
    return i.effective == w->effective && (!w->failures || i.failures >= w->failures) &&
           (!w->successes || i.successes >= w->successes);
}

static const char *state_text(enum health_state s)
{
    return s == HEALTH_UP ? "up" : s == HEALTH_DOWN ? "down" : "unknown";
}

static void wait_state(long id, enum health_state st)
{
    want_t w = {id, st, 0, 0};
    if (run_until(reached, &w, WAIT_MS))
        return;
    health_info_t i = info(id);
    fail_msg("target %ld: expected %s, got %s (check %s, %u ok, %u failed, last error %s)", id,
             state_text(st), state_text(i.effective), state_text(i.check_state), i.successes,
             i.failures, i.last_error ? i.last_error : "none");
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, hay ? hay : "(null)");
}

/* ------------------------------------------------------------ a tcp listener */

typedef struct listener {
    uv_tcp_t tcp;
    uint16_t port;
    bool open;
    bool v6; /* on ::1 instead of 127.0.0.1 */
} listener_t;

static void conn_closed(uv_handle_t *h)
{
    free(h);
}

static void accept_and_close(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof(*c));
    assert_non_null(c);
    uv_tcp_init(server->loop, c);
    if (uv_accept(server, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, conn_closed);
        return;
    }
    uv_close((uv_handle_t *)c, conn_closed);
}

static void listener_open(listener_t *l, uv_connection_cb cb)
{
    struct sockaddr_storage ss;
    if (l->v6)
        uv_ip6_addr("::1", l->port, (struct sockaddr_in6 *)&ss);
    else
        uv_ip4_addr("127.0.0.1", l->port, (struct sockaddr_in *)&ss);
    assert_int_equal(uv_tcp_init(&fx->loop, &l->tcp), 0);
    assert_int_equal(uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&l->tcp, 64, cb), 0);
    int len = sizeof(ss);
    uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len);
    l->port = l->v6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    l->open = true;
}

static void listener_close(listener_t *l)
{
    if (!l->open)
        return;
    l->open = false;
    uv_close((uv_handle_t *)&l->tcp, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT); /* runs the close before reuse */
}

/* A port nothing listens on (bound and released: racy in theory only). */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    close(fd);
    return ntohs(sin.sin_port);
}

/* ------------------------------------------------------------ a tiny HTTP server */

/* Answers by path: /ok 200 "status: healthy", /fail 500, /sick 200
 * "status: sick", /hang never; /big 200 with 100 KB before the marker.
 * Remembers the Host header of the last request. */
typedef struct http_conn {
    uv_tcp_t tcp;
    uv_write_t wr;
    char req[4096];
    size_t len;
    char *resp;
    bool answered;
} http_conn_t;

static char last_host[256];
static unsigned http_requests;

static void http_closed(uv_handle_t *h)
{
    http_conn_t *c = h->data;
    free(c->resp);
    free(c);
}

static void http_close(http_conn_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, http_closed);
}

static void http_written(uv_write_t *wr, int status)
{
    (void)status;
    http_close(wr->data);
}

static void http_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    http_conn_t *c = h->data;
    buf->base = c->req + c->len;
    buf->len = sizeof(c->req) - c->len - 1;
}

static void http_answer(http_conn_t *c)
{
    char path[64] = "";
    sscanf(c->req, "GET %63s", path);
    const char *host = strstr(c->req, "\r\nHost: ");
    if (host) {
        host += 8;
        size_t n = strcspn(host, "\r\n");
        snprintf(last_host, sizeof(last_host), "%.*s", (int)n, host);
    }
    http_requests++;
    if (strcmp(path, "/hang") == 0)
        return; /* the client gives up first */
    int status = strcmp(path, "/fail") == 0 ? 500 : 200;
    size_t pad = strcmp(path, "/big") == 0 ? 100000 : 0;
    const char *body = strcmp(path, "/sick") == 0 ? "status: sick\n" : "status: healthy\n";
    size_t blen = pad + strlen(body);
    c->resp = malloc(blen + 200);
    assert_non_null(c->resp);
    int n =
        snprintf(c->resp, 200, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                 status, blen);
    memset(c->resp + n, 'x', pad);
    memcpy(c->resp + n + pad, body, strlen(body));
    uv_buf_t buf = uv_buf_init(c->resp, (unsigned)(n + blen));
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &buf, 1, http_written) != 0)
        http_close(c);
}

static void http_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    http_conn_t *c = s->data;
    if (n < 0) {
        http_close(c);
        return;
    }
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    if (!c->answered && strstr(c->req, "\r\n\r\n")) {
        c->answered = true;
        http_answer(c);
    }
}

static void http_accept(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    http_conn_t *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        http_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, http_alloc, http_read);
}

/* Closes whatever connections are still open (a hung one, say). */
static void close_conns(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (handle->type == UV_TCP && handle->data && !uv_is_closing(handle))
        http_close(handle->data);
}

/* ------------------------------------------------------------ hysteresis, fed directly */

/* The exact rule, result by result, with down_after 3 and up_after 2. */
static void test_hysteresis_rule(void **state)
{
    (void)state;
    tconf_t tc;
    tc_init(&tc);
    conf_health_check_t *c = tc_check(&tc, "web", CONF_CHECK_TCP, 80);
    c->down_after = 3;
    c->up_after = 2;
    tc_service(&tc, "www.example.com.", 0);
    tc_pool(&tc, 0, 1, "192.0.2.10");
    fx->h = health_new(NULL, NULL, on_change, fx); /* offline: nothing runs by itself */
    long ids[4];
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    health__target_t *t = fx->h->targets[ids[0]];
    const _Atomic uint8_t *states = health_states(fx->h);

    static const struct {
        bool ok;
        enum health_state expect;
    } steps[] =
        {
            {false, HEALTH_UNKNOWN}, {false, HEALTH_UNKNOWN}, /* fewer than down_after */
            {true, HEALTH_UP},                                /* first success: up at once */
            {false, HEALTH_UP},      {false, HEALTH_UP},      {true, HEALTH_UP}, /* damped */
            {false, HEALTH_UP},      {false, HEALTH_UP},      {false, HEALTH_DOWN},
            {true, HEALTH_DOWN},     {false, HEALTH_DOWN},    {true, HEALTH_DOWN},
            {true, HEALTH_UP}, /* up_after successes in a row */
            {false, HEALTH_UP},
        };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        health__check_result(t, steps[i].ok, steps[i].ok ? NULL : "test failure");
        health_info_t inf = info(ids[0]);
        if (inf.check_state != steps[i].expect || inf.effective != steps[i].expect)
            fail_msg("step %zu: expected %s, got %s", i, state_text(steps[i].expect),
                     state_text(inf.check_state));
        assert_int_equal(atomic_load(&states[ids[0]]), steps[i].expect);
        assert_true(health_state_up(states, (uint32_t)ids[0]) == (steps[i].expect != HEALTH_DOWN));
    }
    health_info_t inf = info(ids[0]);
    assert_int_equal(inf.failures, 1);
    assert_int_equal(inf.successes, 0);
    assert_string_equal(inf.last_error, "test failure");
    /* unknown->up, up->down, down->up */
    assert_int_equal(fx->changes, 3);
}

/* ------------------------------------------------------------ tcp */

static void test_tcp_up_and_probe_address(void **state)
{
    (void)state;
    listener_t l = {.port = 0};
    listener_open(&l, accept_and_close);
    tconf_t tc;
    tc_init(&tc);
    tc_check(&tc, "tcp", CONF_CHECK_TCP, l.port);
    tc_service(&tc, "www.example.com.", 0);
    /* Served 192.0.2.10 (unreachable) but probed on loopback. */
    tc_pool(&tc, 0, 1, "192.0.2.10>127.0.0.1");
    fx->h = health_new(&fx->loop, NULL, on_change, fx);
    long ids[2];
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    wait_state(ids[0], HEALTH_UP);
    health_info_t i = info(ids[0]);
    assert_string_equal(i.address, "192.0.2.10");
    assert_string_equal(i.datacenter, "eu-west");
    assert_string_equal(i.check, "tcp");
    assert_null(i.last_error);
    assert_true(fx->changes >= 1);
    listener_close(&l);
}

static void test_tcp_closed_port(void **state)
{
    (void)state;
    tconf_t tc;
    tc_init(&tc);
    tc_check(&tc, "tcp", CONF_CHECK_TCP, free_port())->down_after = 2;
    tc_service(&tc, "www.example.com.", 0);
    tc_pool(&tc, 0, 1, "127.0.0.1");
    fx->h = health_new(&fx->loop, NULL, on_change, fx);
    long ids[2];
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    want_t one = {ids[0], HEALTH_UNKNOWN, 1, 0};
    assert_true(run_until(reached, &one, WAIT_MS));
    /* One failure of two: still unknown, which counts as up. */
    assert_true(health_state_up(health_states(fx->h), (uint32_t)ids[0]));
    wait_state(ids[0], HEALTH_DOWN);
    health_info_t i = info(ids[0]);
    assert_int_equal(i.failures, 2);
    assert_contains(i.last_error, "refused");
    assert_false(health_state_up(health_states(fx->h), (uint32_t)ids[0]));
}

/* A listener that comes and goes: down after exactly down_after failures,
 * up again after exactly up_after successes. */
static void test_tcp_flapping(void **state)
{
    (void)state;
    listener_t l = {.port = 0};
    listener_open(&l, accept_and_close);
    tconf_t tc;
    tc_init(&tc);
    conf_health_check_t *c = tc_check(&tc, "tcp", CONF_CHECK_TCP, l.port);
    c->down_after = 3;
    c->up_after = 2;
    tc_service(&tc, "www.example.com.", 0);
    tc_pool(&tc, 0, 1, "127.0.0.1");
    fx->h = health_new(&fx->loop, NULL, on_change, fx);
    long ids[2];
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    wait_state(ids[0], HEALTH_UP);

    listener_close(&l);
    want_t two = {ids[0], HEALTH_UP, 2, 0};
    assert_true(run_until(reached, &two, WAIT_MS));
    assert_int_equal(info(ids[0]).effective, HEALTH_UP); /* 2 failures of 3: damped */
    wait_state(ids[0], HEALTH_DOWN);
    assert_int_equal(info(ids[0]).failures, 3);

    listener_open(&l, accept_and_close);
    want_t once = {ids[0], HEALTH_DOWN, 0, 1};
    assert_true(run_until(reached, &once, WAIT_MS));
    assert_int_equal(info(ids[0]).effective, HEALTH_DOWN); /* 1 success of 2 */
    wait_state(ids[0], HEALTH_UP);
    assert_int_equal(info(ids[0]).successes, 2);
    listener_close(&l);
}

/* A probe that finds no descriptor fails, but says that this server is
 * out of them (not the backend) and counts it; with descriptors back the
 * check comes up. For tcp and http alike. */
static void test_out_of_descriptors(void **state)
{
    (void)state;
    listener_t l = {.port = 0}, hl = {.port = 0};
    listener_open(&l, accept_and_close);
    listener_open(&hl, http_accept);
    tconf_t tc;
    tc_init(&tc);
    tc_check(&tc, "tcp", CONF_CHECK_TCP, l.port)->down_after = 5;
    conf_health_check_t *hc = tc_check(&tc, "web", CONF_CHECK_HTTP, hl.port);
    hc->path = (char *)"/ok";
    hc->down_after = 5;
    tc_service(&tc, "tcp", 0);
    tc_pool(&tc, 0, 1, "127.0.0.1");
    tc_service(&tc, "web", 1);
    tc_pool(&tc, 0, 1, "127.0.0.1");
    fx->h = health_new(&fx->loop, NULL, on_change, fx);
    long ids[4];
    register_all(fx->h, &tc.c, ids);

    /* Every descriptor below a lowered limit taken. */
    struct rlimit old, rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl = old;
    rl.rlim_cur = 200;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    static int fds[256];
    int n = 0;
    while (n < 256 && (fds[n] = open("/dev/null", O_RDONLY)) >= 0)
        n++;
    uint64_t emfile = atomic_load(&stats_net.emfile);
    health_commit(fx->h, &tc.c);
    want_t tcp_fail = {ids[0], HEALTH_UNKNOWN, 1, 0};
    want_t http_fail = {ids[1], HEALTH_UNKNOWN, 1, 0};
    bool failed = run_until(reached, &tcp_fail, WAIT_MS) && run_until(reached, &http_fail, WAIT_MS);
    /* Descriptors back before any assertion, so that a failure here does
     * not spill into the next tests. */
    for (int i = 0; i < n; i++)
        close(fds[i]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_true(failed);
    assert_contains(info(ids[0]).last_error, "this server is out of descriptors, not the backend");
    assert_contains(info(ids[1]).last_error, "this server is out of descriptors, not the backend");
    assert_true(atomic_load(&stats_net.emfile) - emfile >= 2);
    wait_state(ids[0], HEALTH_UP);
    wait_state(ids[1], HEALTH_UP);
    listener_close(&l);
    listener_close(&hl);
    uv_walk(&fx->loop, close_conns, NULL);
}

/* ------------------------------------------------------------ http */

static void test_http(void **state)
{
    (void)state;
    listener_t l = {.port = 0};
    listener_open(&l, http_accept);
    tconf_t tc;
    tc_init(&tc);
    static const char *paths[] = {"/ok", "/fail", "/sick", "/hang", "/big", "ok"};
    size_t n = sizeof(paths) / sizeof(paths[0]);
    static const char *names[] = {"ok", "fail", "sick", "hang", "big", "host"};
    for (size_t i = 0; i < n; i++) {
        conf_health_check_t *c = tc_check(&tc, names[i], CONF_CHECK_HTTP, l.port);
        c->path = (char *)paths[i];
        c->expect_body = (char *)"healthy";
        tc_service(&tc, names[i], (int)i);
        tc_pool(&tc, 0, 1, i == 5 ? "192.0.2.10>127.0.0.1" : "127.0.0.1");
    }
    tc.check[5].host = (char *)"www.example.test";
    fx->h = health_new(&fx->loop, NULL, on_change, fx);
    long ids[8];
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);

    wait_state(ids[0], HEALTH_UP);
    wait_state(ids[1], HEALTH_DOWN);
    assert_contains(info(ids[1]).last_error, "HTTP status 500, expected 200");
    wait_state(ids[2], HEALTH_DOWN);
    assert_contains(info(ids[2]).last_error, "body lacks \"healthy\"");
    wait_state(ids[3], HEALTH_DOWN);
    assert_contains(info(ids[3]).last_error, "imed out"); /* curl: "Operation timed out" */
    wait_state(ids[4], HEALTH_DOWN);                      /* the marker is past the 4 KB we keep */
    assert_contains(info(ids[4]).last_error, "first 4 KB");
    wait_state(ids[5], HEALTH_UP);

    listener_close(&l);
    uv_walk(&fx->loop, close_conns, NULL);
}

/* The Host header, checked on its own so the server sees one client. */
static void test_http_host_header(void **state)
{
    (void)state;
    listener_t l = {.port = 0};
    listener_open(&l, http_accept);
    tconf_t tc;
    tc_init(&tc);
    conf_health_check_t *c = tc_check(&tc, "web", CONF_CHECK_HTTP, l.port);
    c->path = (char *)"/ok";
    c->host = (char *)"www.example.test";
    tc_service(&tc, "www.example.com.", 0);
    tc_pool(&tc, 0, 1, "192.0.2.10>127.0.0.1");
    fx->h = health_new(&fx->loop, NULL, on_change, fx);
    long ids[2];
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    wait_state(ids[0], HEALTH_UP);
    char want[128];
    snprintf(want, sizeof(want), "www.example.test:%u", l.port);
    assert_string_equal(last_host, want);

    /* No host: the served address (not the probe's) goes in the header. */
    c->host = NULL;
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    unsigned seen = http_requests;
    while (http_requests < seen + 2)
        run_for(INTERVAL);
    snprintf(want, sizeof(want), "192.0.2.10:%u", l.port);
    assert_string_equal(last_host, want);
    assert_int_equal(info(ids[0]).effective, HEALTH_UP); /* kept across the change */
    listener_close(&l);
}

/* IPv6: the served address in brackets in the Host header, the probe in
 * brackets where curl and libuv need it. */
static void test_ipv6(void **state)
{
    (void)state;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sin6;
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_addr = in6addr_loopback;
    bool have_v6 = fd >= 0 && bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
    if (fd >= 0)
        close(fd);
    if (!have_v6)
        skip();
    listener_t l = {.port = 0, .v6 = true};
    listener_open(&l, http_accept);
    tconf_t tc;
    tc_init(&tc);
    tc_check(&tc, "web", CONF_CHECK_HTTP, l.port)->path = (char *)"/ok";
    tc_check(&tc, "tcp", CONF_CHECK_TCP, l.port);
    tc_service(&tc, "www.example.com.", 0);
    tc_pool(&tc, 0, 1, "2001:db8::10>::1");
    tc_service(&tc, "tcp.example.com.", 1);
    tc_pool(&tc, 0, 1, "2001:db8::10>0:0::1");
    fx->h = health_new(&fx->loop, NULL, on_change, fx);
    long ids[2];
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    wait_state(ids[0], HEALTH_UP);
    wait_state(ids[1], HEALTH_UP);
    char want[128];
    snprintf(want, sizeof(want), "[2001:db8::10]:%u", l.port);
    assert_string_equal(last_host, want);
    assert_string_equal(info(ids[1]).address, "2001:db8::10");
    listener_close(&l);
    uv_walk(&fx->loop, close_conns, NULL);
}

/* ------------------------------------------------------------ https */

static bool port_open(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
    close(fd);
    return ok;
}

static void test_https(void **state)
{
    (void)state;
    char cmd[1024], cert[128], key[128];
    snprintf(cert, sizeof(cert), "%s/cert.pem", fx->dir);
    snprintf(key, sizeof(key), "%s/key.pem", fx->dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout '%s' -out '%s' -days 2 -subj /CN=localhost >/dev/null 2>&1",
             key, cert);
    if (system(cmd) != 0)
        skip(); /* no openssl command: nothing to serve TLS with */
    uint16_t port = free_port();
    char accept[32];
    snprintf(accept, sizeof(accept), "127.0.0.1:%u", port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execlp("openssl", "openssl", "s_server", "-accept", accept, "-cert", cert, "-key", key,
               "-www", "-quiet", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300 && !port_open(port); i++)
        usleep(10000);

    tconf_t tc;
    tc_init(&tc);
    tc_check(&tc, "strict", CONF_CHECK_HTTPS, port)->host = (char *)"localhost";
    conf_health_check_t *lax = tc_check(&tc, "lax", CONF_CHECK_HTTPS, port);
    lax->host = (char *)"localhost";
    lax->verify_tls = false;
    lax->timeout_ms = 1000; /* TLS handshakes under ASan take a while */
    tc.check[0].timeout_ms = 1000;
    tc.check[0].interval_ms = tc.check[1].interval_ms = 2000;
    tc_service(&tc, "strict.example.com.", 0);
    tc_pool(&tc, 0, 1, "127.0.0.1");
    tc_service(&tc, "lax.example.com.", 1);
    tc_pool(&tc, 0, 1, "127.0.0.1");
    fx->h = health_new(&fx->loop, NULL, on_change, fx);
    long ids[2];
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    wait_state(ids[1], HEALTH_UP);
    wait_state(ids[0], HEALTH_DOWN);
    assert_contains(info(ids[0]).last_error, "certificate");
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* ------------------------------------------------------------ status files */

static void write_atomically(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

/* Runs fn with stderr going to a file; returns how often needle was logged. */
static unsigned count_logged(const char *needle, void (*fn)(void *), void *arg)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/stderr", fx->dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    dup2(fd, 2);
    close(fd);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    unsigned n = 0;
    while (fgets(line, sizeof(line), f)) {
        fputs(line, stderr); /* still show it */
        n += strstr(line, needle) != NULL;
    }
    fclose(f);
    return n;
}

typedef struct file_case {
    const char *path;
    const char *text; /* NULL: remove the file */
} file_case_t;

/* Rewrites the file several times (each change is an event and a read). */
static void rewrite_repeatedly(void *arg)
{
    file_case_t *fc = arg;
    for (int i = 0; i < 4; i++) {
        if (fc->text)
            write_atomically(fc->path, fc->text);
        else
            unlink(fc->path);
        run_for(60);
    }
}

static void expect_states(const long *ids, const enum health_state *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        health_info_t inf = info(ids[i]);
        if (inf.effective != want[i])
            fail_msg("target %zu (%s): expected %s, got %s", i, inf.address, state_text(want[i]),
                     state_text(inf.effective));
    }
}

static void test_file_check(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/status", fx->dir);
    tconf_t tc;
    tc_init(&tc);
    conf_health_check_t *c = tc_check(&tc, "fed", CONF_CHECK_FILE, 0);
    c->file = path;
    c->interval_ms = 10000; /* changes must arrive through the directory watch */
    tc_service(&tc, "www.example.com.", 0);
    tc_pool(&tc, 0, 2, "192.0.2.10", "2001:db8::10");
    tc_pool(&tc, 1, 1, "198.51.100.10");
    fx->h = health_new(&fx->loop, NULL, on_change, fx);
    long ids[4];
    register_all(fx->h, &tc.c, ids);
    /* Missing at start: warned, nothing changes. */
    health_commit(fx->h, &tc.c);
    run_for(100);
    enum health_state all_unknown[3] = {HEALTH_UNKNOWN, HEALTH_UNKNOWN, HEALTH_UNKNOWN};
    expect_states(ids, all_unknown, 3);

    /* Addresses compare as addresses; UP/DOWN in any case. */
    write_atomically(path, "# fed by the load balancer\n\n2001:DB8:0::10 down\n"
                           "eu-west Up   # the rest of eu-west\n");
    wait_state(ids[1], HEALTH_DOWN);
    enum health_state s1[3] = {HEALTH_UP, HEALTH_DOWN, HEALTH_UNKNOWN};
    expect_states(ids, s1, 3);
    assert_string_equal(info(ids[1]).check, "fed");

    /* An address line beats its data center's line, whatever the order. */
    write_atomically(path, "192.0.2.10 UP\neu-west DOWN\nus-east down\n");
    wait_state(ids[2], HEALTH_DOWN);
    enum health_state s2[3] = {HEALTH_UP, HEALTH_DOWN, HEALTH_DOWN};
    expect_states(ids, s2, 3);

    /* A malformed line: one warning naming file:line, and no change, however
     * often the file is read. */
    char where[160];
    snprintf(where, sizeof(where), "%s:2:", path);
    file_case_t bad = {path, "192.0.2.10 DOWN\nus-east sideways\n"};
    assert_int_equal(count_logged(where, rewrite_repeatedly, &bad), 1);
    expect_states(ids, s2, 3);
    file_case_t bad2 = {path, "192.0.2.10 DOWN\nus-east up extra\n"};
    assert_int_equal(count_logged("expected \"NAME UP|DOWN\"", rewrite_repeatedly, &bad2), 1);
    expect_states(ids, s2, 3);

    /* Gone: one warning, no change. */
    file_case_t gone = {path, NULL};
    assert_int_equal(count_logged("cannot read", rewrite_repeatedly, &gone), 1);
    expect_states(ids, s2, 3);

    /* Back, without us-east: it is no longer held down. */
    write_atomically(path, "192.0.2.10 down\n");
    wait_state(ids[0], HEALTH_DOWN);
    enum health_state s3[3] = {HEALTH_DOWN, HEALTH_UNKNOWN, HEALTH_UNKNOWN};
    expect_states(ids, s3, 3);
}

/* ------------------------------------------------------------ overrides */

static void overrides_conf(tconf_t *tc)
{
    tc_init(tc);
    tc_check(tc, "web", CONF_CHECK_TCP, 80);
    tc_service(tc, "www.example.com.", 0);
    tc_pool(tc, 0, 2, "192.0.2.10", "2001:db8::10");
    tc_pool(tc, 1, 1, "198.51.100.10");
}

static void test_override_precedence(void **state)
{
    (void)state;
    tconf_t tc;
    overrides_conf(&tc);
    fx->h = health_new(NULL, NULL, on_change, fx);
    long ids[4];
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    health__check_result(fx->h->targets[ids[0]], false, "down by check"); /* down_after 1 */
    health__check_result(fx->h->targets[ids[1]], true, NULL);
    enum health_state s0[3] = {HEALTH_DOWN, HEALTH_UP, HEALTH_UNKNOWN};
    expect_states(ids, s0, 3);

    unsigned before = fx->changes;
    assert_int_equal(health_force_dc(fx->h, "eu-west", HEALTH_FORCE_UP), 0);
    enum health_state s1[3] = {HEALTH_UP, HEALTH_UP, HEALTH_UNKNOWN};
    expect_states(ids, s1, 3);
    assert_int_equal(fx->changes, before + 1);
    assert_int_equal(info(ids[0]).check_state, HEALTH_DOWN);
    assert_int_equal(info(ids[0]).forced, HEALTH_FORCE_UP);

    /* Address beats data center; any spelling of the address. */
    assert_int_equal(health_force_address(fx->h, "2001:DB8:0::10", HEALTH_FORCE_DOWN), 0);
    assert_int_equal(health_force_dc(fx->h, "eu-west", HEALTH_FORCE_UP), 0);
    enum health_state s2[3] = {HEALTH_UP, HEALTH_DOWN, HEALTH_UNKNOWN};
    expect_states(ids, s2, 3);
    assert_int_equal(info(ids[1]).forced, HEALTH_FORCE_DOWN);

    assert_int_equal(health_force_dc(fx->h, "us-east", HEALTH_FORCE_DOWN), 0);
    assert_int_equal(health_force_address(fx->h, "198.51.100.10", HEALTH_FORCE_UP), 0);
    enum health_state s3[3] = {HEALTH_UP, HEALTH_DOWN, HEALTH_UP};
    expect_states(ids, s3, 3);

    /* Back to the checks. */
    assert_int_equal(health_force_address(fx->h, "2001:db8::10", HEALTH_AUTO), 0);
    assert_int_equal(health_force_address(fx->h, "198.51.100.10", HEALTH_AUTO), 0);
    enum health_state s4[3] = {HEALTH_UP, HEALTH_UP, HEALTH_DOWN};
    expect_states(ids, s4, 3);
    assert_int_equal(health_force_dc(fx->h, "eu-west", HEALTH_AUTO), 0);
    assert_int_equal(health_force_dc(fx->h, "us-east", HEALTH_AUTO), 0);
    expect_states(ids, s0, 3);
    assert_int_equal(info(ids[0]).forced, HEALTH_AUTO);

    /* Names no target has, and nonsense. */
    before = fx->changes;
    assert_int_equal(health_force_dc(fx->h, "mars", HEALTH_FORCE_DOWN), -ENOENT);
    assert_int_equal(health_force_dc(fx->h, "mars", HEALTH_AUTO), -ENOENT);
    assert_int_equal(health_force_address(fx->h, "203.0.113.1", HEALTH_FORCE_DOWN), -ENOENT);
    assert_int_equal(health_force_address(fx->h, "not-an-address", HEALTH_FORCE_DOWN), -EINVAL);
    assert_int_equal(health_force_dc(fx->h, "", HEALTH_FORCE_DOWN), -EINVAL);
    assert_int_equal(health_force_dc(fx->h, "eu-west", (enum health_force)7), -EINVAL);
    assert_int_equal(fx->changes, before);
    expect_states(ids, s0, 3);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_state_file_round_trip(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/state", fx->dir);
    tconf_t tc;
    overrides_conf(&tc);
    fx->h = health_new(NULL, path, on_change, fx);
    long ids[8];
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    diag_t d;
    diag_init(&d);
    assert_true(health_load_state(fx->h, &d)); /* missing: no overrides */
    assert_int_equal(d.errors, 0);
    assert_null(slurp(path));

    assert_int_equal(health_force_dc(fx->h, "us-east", HEALTH_FORCE_DOWN), 0);
    assert_int_equal(health_force_address(fx->h, "2001:DB8::0:10", HEALTH_FORCE_UP), 0);
    assert_int_equal(health_force_dc(fx->h, "eu-west", HEALTH_FORCE_DOWN), 0);
    const char *text = slurp(path);
    assert_non_null(text);
    assert_true(text[0] == '#');
    assert_contains(text, "\ndatacenter us-east down\n");
    assert_contains(text, "\ndatacenter eu-west down\n");
    assert_contains(text, "\naddress 2001:db8::10 up\n");
    /* No temporary file left behind. */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", fx->dir);
    assert_int_equal(system(cmd), 0);

    /* A second process reads it back. */
    health_t *h2 = health_new(NULL, path, NULL, NULL);
    long ids2[4];
    register_all(h2, &tc.c, ids2);
    health_commit(h2, &tc.c);
    assert_true(health_load_state(h2, &d));
    enum health_state want[3] = {HEALTH_DOWN, HEALTH_UP, HEALTH_DOWN};
    for (size_t i = 0; i < 3; i++) {
        health_info_t inf;
        assert_true(health_target_info(h2, (uint32_t)ids2[i], &inf));
        assert_int_equal(inf.effective, want[i]);
    }
    health_info_t inf;
    assert_true(health_target_info(h2, (uint32_t)ids2[1], &inf));
    assert_int_equal(inf.forced, HEALTH_FORCE_UP);
    health_stop(h2);
    health_free(h2);

    /* Overrides for what this conf lacks are kept, and apply once it has it. */
    write_atomically(path, "# by hand\ndatacenter ap-south down\naddress 203.0.113.7 UP\n");
    assert_true(health_load_state(fx->h, &d));
    enum health_state none[3] = {HEALTH_UNKNOWN, HEALTH_UNKNOWN, HEALTH_UNKNOWN};
    expect_states(ids, none, 3); /* loading replaced the old overrides */
    tc_pool(&tc, 2, 2, "203.0.113.10", "203.0.113.7");
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    assert_int_equal(info(ids[3]).effective, HEALTH_DOWN);
    assert_int_equal(info(ids[4]).effective, HEALTH_UP);
    /* A stored override whose data center is gone can still be cleared. */
    tc.svc[0].n_pools = 2;
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    assert_int_equal(health_force_dc(fx->h, "ap-south", HEALTH_AUTO), 0);
    assert_int_equal(health_force_dc(fx->h, "ap-south", HEALTH_AUTO), -ENOENT);
    diag_free(&d);

    /* A reload that names another state file: the next write goes there. */
    char other[160];
    snprintf(other, sizeof(other), "%s/other-state", fx->dir);
    health_set_state_file(fx->h, other);
    assert_int_equal(health_force_dc(fx->h, "us-east", HEALTH_FORCE_UP), 0);
    assert_contains(slurp(other), "\ndatacenter us-east up\n");
    /* One that cannot be written: the override holds, the caller hears. */
    health_set_state_file(fx->h, "/nonexistent/dir/state");
    assert_int_equal(health_force_dc(fx->h, "us-east", HEALTH_FORCE_DOWN), -EIO);
    assert_int_equal(info(ids[2]).effective, HEALTH_DOWN);
}

static const char *data_dir(void)
{
    static char dir[PATH_MAX];
    const char *top = getenv("top_srcdir");
    if (top && *top) {
        snprintf(dir, sizeof(dir), "%s/tests/unit/data/health", top);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        int len = slash ? (int)(slash - __FILE__) : 1;
        snprintf(dir, sizeof(dir), "%.*s/data/health", len, slash ? __FILE__ : ".");
    }
    return dir;
}

static void test_state_file_corrupt(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        unsigned line;
        const char *what;
    } cases[] = {
        {"unknown-keyword.state", 3, "unknown keyword \"drain\""},
        {"bad-state.state", 2, "bad state \"sideways\""},
        {"bad-address.state", 4, "bad address \"192.0.2.300\""},
        {"fields.state", 2, "expected \"datacenter NAME up|down\""},
        {"garbage.state", 1, ""},
    };
    char path[128];
    snprintf(path, sizeof(path), "%s/state", fx->dir);
    tconf_t tc;
    overrides_conf(&tc);
    fx->h = health_new(NULL, path, on_change, fx);
    long ids[4];
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    write_atomically(path, "# good\ndatacenter eu-west down\n");
    diag_t d;
    diag_init(&d);
    assert_true(health_load_state(fx->h, &d));
    diag_free(&d);
    enum health_state want[3] = {HEALTH_DOWN, HEALTH_DOWN, HEALTH_UNKNOWN};
    expect_states(ids, want, 3);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char src[PATH_MAX + 64], cmd[2 * PATH_MAX + 64];
        snprintf(src, sizeof(src), "%s/%s", data_dir(), cases[i].file);
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, path);
        assert_int_equal(system(cmd), 0);
        diag_init(&d);
        d.quiet = true;
        unsigned before = fx->changes;
        if (health_load_state(fx->h, &d))
            fail_msg("%s: accepted", cases[i].file);
        assert_true(d.errors >= 1);
        char where[200];
        snprintf(where, sizeof(where), "%s:%u: %s", path, cases[i].line, cases[i].what);
        assert_contains(d.messages[0], where);
        diag_free(&d);
        expect_states(ids, want, 3);
        assert_int_equal(fx->changes, before);
    }
}

/* ------------------------------------------------------------ commits */

/* A kill -9 between writing a temporary state file and renaming it left
 * STATE.XXXXXX behind; the next start removes those, and nothing else. */
static void test_state_temps_cleaned(void **state)
{
    (void)state;
    char path[128], p[192];
    snprintf(path, sizeof(path), "%s/state", fx->dir);
    static const char *const leftover[] = {"state.Ab12Cd", "state.xY34zW", "state.000000"};
    static const char *const kept[] = {"state", "state.backup", "state.bak", "state.Ab12Cd.x",
                                       "other.Ab12Cd", "state.Ab-2Cd", "state.link00",
                                       "state.dir000"};
    const char *ours = "# meridian health overrides, written by meridiand: \"datacenter";
    write_atomically(path, "datacenter eu-west down\n");
    snprintf(p, sizeof(p), "%s/state.Ab12Cd", fx->dir);
    write_atomically(p, ""); /* killed before a byte was written */
    snprintf(p, sizeof(p), "%s/state.xY34zW", fx->dir);
    write_atomically(p, ours); /* killed in the middle */
    snprintf(p, sizeof(p), "%s/state.000000", fx->dir);
    write_atomically(p, "# meridian health overrides, written by meridiand: \"datacenter NAME "
                        "up|down\", \"address ADDR up|down\"\ndatacenter x down\n");
    snprintf(p, sizeof(p), "%s/state.backup", fx->dir); /* six letters, not ours */
    write_atomically(p, "datacenter eu-west down\n");
    snprintf(p, sizeof(p), "%s/state.bak", fx->dir);
    write_atomically(p, "");
    snprintf(p, sizeof(p), "%s/state.Ab12Cd.x", fx->dir);
    write_atomically(p, "");
    snprintf(p, sizeof(p), "%s/other.Ab12Cd", fx->dir);
    write_atomically(p, "");
    snprintf(p, sizeof(p), "%s/state.Ab-2Cd", fx->dir);
    write_atomically(p, "");
    snprintf(p, sizeof(p), "%s/state.link00", fx->dir); /* a link to one of ours */
    assert_int_equal(symlink("state.bak", p), 0);
    snprintf(p, sizeof(p), "%s/state.dir000", fx->dir);
    assert_int_equal(mkdir(p, 0700), 0);

    fx->h = health_new(NULL, path, on_change, fx);
    assert_int_equal(health_clean_state_temps(fx->h), 3);
    struct stat st;
    for (size_t i = 0; i < sizeof(leftover) / sizeof(leftover[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", fx->dir, leftover[i]);
        if (lstat(p, &st) == 0)
            fail_msg("%s was left behind", leftover[i]);
    }
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", fx->dir, kept[i]);
        if (lstat(p, &st) != 0)
            fail_msg("%s was removed", kept[i]);
    }
    assert_int_equal(health_clean_state_temps(fx->h), 0);
    health_set_state_file(fx->h, "/nonexistent/dir/state");
    assert_int_equal(health_clean_state_temps(fx->h), -ENOENT);
}

static void test_commit_keeps_state(void **state)
{
    (void)state;
    listener_t l = {.port = 0};
    listener_open(&l, accept_and_close);
    tconf_t a;
    tc_init(&a);
    tc_check(&a, "tcp", CONF_CHECK_TCP, l.port);
    tc_service(&a, "www.example.com.", 0);
    tc_pool(&a, 0, 1, "192.0.2.10>127.0.0.1");
    tc_pool(&a, 1, 1, "198.51.100.10>127.0.0.1");
    fx->h = health_new(&fx->loop, NULL, on_change, fx);
    long ids[4];
    register_all(fx->h, &a.c, ids);
    health_commit(fx->h, &a.c);
    want_t up = {ids[0], HEALTH_UP, 0, 3};
    assert_true(run_until(reached, &up, WAIT_MS));

    /* A changed conf: another service shares the first address, a new one
     * appears, the second pool is gone, the interval changed. */
    tconf_t b;
    tc_init(&b);
    tc_check(&b, "tcp", CONF_CHECK_TCP, l.port)->interval_ms = 150;
    tc_service(&b, "www.example.com.", 0);
    tc_pool(&b, 0, 1, "192.0.2.10>127.0.0.1");
    tc_service(&b, "api.example.com.", 0);
    tc_pool(&b, 0, 2, "192.0.2.10>127.0.0.1", "192.0.2.11>127.0.0.1");
    long bids[4];
    register_all(fx->h, &b.c, bids);
    assert_int_equal(bids[0], ids[0]);
    assert_int_equal(bids[1], ids[0]);
    assert_true(bids[2] > ids[1]);
    health_info_t pending = info(bids[2]);
    assert_int_equal(pending.effective, HEALTH_UNKNOWN);

    /* A build that fails: its pending targets vanish, its ids come back. */
    health_rollback(fx->h);
    health_info_t gone;
    assert_false(health_target_info(fx->h, (uint32_t)bids[2], &gone));
    register_all(fx->h, &b.c, bids);
    assert_int_equal(bids[2], ids[1] + 1);

    unsigned successes = info(ids[0]).successes;
    health_commit(fx->h, &b.c);
    health_info_t kept = info(ids[0]);
    assert_int_equal(kept.effective, HEALTH_UP);
    assert_true(kept.successes >= successes);
    /* The dropped pool is retired: no info, and its id is never handed out
     * again. */
    assert_false(health_target_info(fx->h, (uint32_t)ids[1], &gone));
    wait_state(bids[2], HEALTH_UP);
    want_t more = {ids[0], HEALTH_UP, 0, successes + 2};
    assert_true(run_until(reached, &more, WAIT_MS));

    /* The dropped address comes back: a new target, with a new id. */
    tc_service(&b, "old.example.com.", 0);
    tc_pool(&b, 1, 1, "198.51.100.10>127.0.0.1");
    long cids[4];
    register_all(fx->h, &b.c, cids);
    assert_true(cids[3] > bids[2]);
    assert_int_equal(health_target_end(fx->h), (uint32_t)cids[3] + 1);
    health_commit(fx->h, &b.c);
    wait_state(cids[3], HEALTH_UP);
    listener_close(&l);
}

/* Stopping with checks in flight: everything closes, nothing leaks. */
static void test_stop_in_flight(void **state)
{
    (void)state;
    listener_t l = {.port = 0};
    listener_open(&l, http_accept);
    tconf_t tc;
    tc_init(&tc);
    tc_check(&tc, "hang", CONF_CHECK_HTTP, l.port)->path = (char *)"/hang";
    tc_check(&tc, "tcp", CONF_CHECK_TCP, l.port);
    tc_check(&tc, "file", CONF_CHECK_FILE, 0)->file = (char *)"/nonexistent/dir/status";
    for (int i = 0; i < 3; i++) {
        tc_service(&tc, tc.check[i].name, i);
        tc_pool(&tc, 0, 1, "127.0.0.1");
    }
    fx->h = health_new(&fx->loop, NULL, on_change, fx);
    long ids[4];
    register_all(fx->h, &tc.c, ids);
    health_commit(fx->h, &tc.c);
    unsigned seen = http_requests;
    while (http_requests == seen)
        run_for(10);
    health_stop(fx->h);
    health_stop(fx->h); /* twice is fine */
    listener_close(&l);
    uv_walk(&fx->loop, close_conns, NULL);
}

int main(void)
{
    log_init("test_health", LOG_LEVEL_INFO, false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hysteresis_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_temps_cleaned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_up_and_probe_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_closed_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_flapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_descriptors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_host_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
        cmocka_unit_test_setup_teardown(test_https, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_override_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_file_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_file_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_keeps_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_in_flight, setup, teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
