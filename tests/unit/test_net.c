/*
 * Unit tests for src/net: real sockets on loopback, port 0.
 *
 * The libuv loop is stepped with UV_RUN_NOWAIT on the test's own thread
 * while a blocking-free client waits, so TCP tests are single-threaded and
 * deterministic; UDP is served by the worker threads on their own.
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <urcu.h>

#include "net/net.h"
#include "net/net_internal.h"
#include "stats/stats.h"
#include "util/log.h"

/* Query IDs that make the test handler misbehave on purpose. */
#define ID_DROP 0xdead  /* handler returns 0 */
#define BIG_ID_HIGH 0xb0 /* IDs 0xb0xx get a BIG_ANSWER-byte answer */
#define BIG_ANSWER 60000
#define QUERY_LEN 29

/* ------------------------------------------------------------ fixtures */

typedef struct stats {
    atomic_uint calls;
    atomic_uint tcp_calls;
    atomic_uint workers_seen; /* bit per UDP worker index */
    atomic_bool bad_peer;
    unsigned n_workers;
    pthread_mutex_t lock;
    struct sockaddr_storage last_local; /* of the last UDP query */
    /* prefetch hook, when the test sets one */
    bool prefetch_on;
    uint16_t client_port;      /* where every query comes from */
    atomic_uint prefetched;    /* datagrams offered */
    atomic_uint prefetch_skip; /* offered with length 0 */
    atomic_bool offered[256];  /* by the ID's low byte */
} stats_t;

typedef struct ctx {
    uv_loop_t loop;
    net_server_t *srv;
    stats_t st;
    net_listen_t listeners[2];
    net_config_t cfg;
} ctx_t;

static size_t echo_handler(void *arg, const uint8_t *q, size_t qlen, uint8_t *resp,
                           size_t cap, const net_peer_t *peer)
{
    stats_t *st = arg;

    rcu_read_lock(); /* as the real handler does: the thread must be registered */
    atomic_fetch_add(&st->calls, 1);
    if (peer->addr == NULL || peer->addrlen == 0 || peer->local == NULL ||
        peer->local->sa_family != peer->addr->sa_family || cap != NET_MAX_MESSAGE)
        atomic_store(&st->bad_peer, true);
    if (peer->tcp) {
        atomic_fetch_add(&st->tcp_calls, 1);
        if (peer->worker != st->n_workers)
            atomic_store(&st->bad_peer, true);
    } else {
        if (peer->worker >= st->n_workers)
            atomic_store(&st->bad_peer, true);
        atomic_fetch_or(&st->workers_seen, 1u << (peer->worker % 32));
        if (peer->local != NULL) {
            pthread_mutex_lock(&st->lock);
            memcpy(&st->last_local, peer->local,
                   peer->local->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                     : sizeof(struct sockaddr_in6));
            pthread_mutex_unlock(&st->lock);
        }
    }
    rcu_read_unlock();

    /* Every UDP query must have been offered to the hook first. */
    if (st->prefetch_on && !peer->tcp && (qlen < 2 || !atomic_load(&st->offered[q[1]])))
        atomic_store(&st->bad_peer, true);
    if (qlen < 12 || (q[0] == (ID_DROP >> 8) && q[1] == (ID_DROP & 0xff)))
        return 0;
    size_t len = q[0] == BIG_ID_HIGH ? BIG_ANSWER : qlen;
    memcpy(resp, q, qlen);
    if (len > qlen)
        memset(resp + qlen, 0x5a, len - qlen);
    resp[2] |= 0x80; /* QR */
    return len;
}

static void make_query(uint8_t *buf, uint16_t id)
{
    static const uint8_t rest[] = {
        0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* RD, QDCOUNT 1 */
        7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, /* example.com. */
        0x00, 0x01, 0x00, 0x01,                                   /* A IN */
    };
    buf[0] = (uint8_t)(id >> 8);
    buf[1] = (uint8_t)id;
    memcpy(buf + 2, rest, sizeof(rest));
}

/* A framed query: 2-byte length then the query. */
static size_t make_tcp_query(uint8_t *buf, uint16_t id)
{
    buf[0] = 0;
    buf[1] = QUERY_LEN;
    make_query(buf + 2, id);
    return 2 + QUERY_LEN;
}

static void check_answer(const uint8_t *a, size_t len, uint16_t id)
{
    uint16_t got = (uint16_t)(a[0] << 8 | a[1]);
    if (got != id)
        fail_msg("expected an answer with ID %u, got ID %u", id, got);
    assert_true(len >= 12);
    assert_true(a[2] & 0x80);
}

static void addr_v4(net_listen_t *l, const char *ip, uint16_t port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr;
    memset(l, 0, sizeof(*l));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    l->addrlen = sizeof(*sin);
}

static void addr_v6(net_listen_t *l, const char *ip, uint16_t port)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l->addr;
    memset(l, 0, sizeof(*l));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    l->addrlen = sizeof(*sin6);
}

static bool have_ipv6_loopback(void)
{
    net_listen_t l;
    addr_v6(&l, "::1", 0);
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    if (fd < 0)
        return false;
    bool ok = bind(fd, (struct sockaddr *)&l.addr, l.addrlen) == 0;
    close(fd);
    return ok;
}

static ctx_t *ctx_new(unsigned workers)
{
    ctx_t *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    assert_int_equal(uv_loop_init(&c->loop), 0);
    pthread_mutex_init(&c->st.lock, NULL);
    c->st.n_workers = workers;
    c->cfg.listeners = c->listeners;
    c->cfg.n_listeners = 1;
    c->cfg.udp_workers = workers;
    c->cfg.tcp_idle_timeout_ms = 5000;
    c->cfg.tcp_max_connections = 16;
    c->cfg.tcp_max_pipeline = 8;
    addr_v4(&c->listeners[0], "127.0.0.1", 0);
    return c;
}

static void ctx_start(ctx_t *c)
{
    int r = net_server_start(&c->srv, &c->cfg, &c->loop, echo_handler, &c->st);
    if (r != 0)
        fail_msg("net_server_start: expected 0, got %d (%s)", r, strerror(-r));
    assert_non_null(c->srv);
}

/* Stops the server, runs the loop dry, frees; the loop must then close
 * cleanly, i.e. every handle the server made is gone. */
static void ctx_free(ctx_t *c)
{
    if (c->srv != NULL) {
        net_server_stop(c->srv);
        uv_run(&c->loop, UV_RUN_DEFAULT);
        net_server_free(c->srv);
    }
    assert_int_equal(uv_loop_close(&c->loop), 0);
    assert_false(atomic_load(&c->st.bad_peer));
    pthread_mutex_destroy(&c->st.lock);
    free(c);
}

/* Where a client reaches listener i: its port, and loopback for a
 * wildcard address. */
static struct sockaddr_storage server_addr(ctx_t *c, size_t i, socklen_t *len)
{
    struct sockaddr_storage ss = c->listeners[i].addr;
    uint16_t port = htons(net_server_port(c->srv, i));
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_port = port;
        if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
            sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_port = port;
        if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
            sin6->sin6_addr = in6addr_loopback;
    }
    *len = c->listeners[i].addrlen;
    return ss;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* The prefetch hook of the tests: checks what it is offered and marks
 * each query's ID as offered. */
static void record_prefetch(void *arg, const uint8_t *const *queries, const uint16_t *lens,
                            const struct sockaddr_storage *from, unsigned n)
{
    stats_t *st = arg;
    for (unsigned i = 0; i < n; i++) {
        atomic_fetch_add(&st->prefetched, 1);
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)&from[i];
        if (from[i].ss_family != AF_INET || ntohs(sin->sin_port) != st->client_port)
            atomic_store(&st->bad_peer, true);
        if (lens[i] == 0) {
            atomic_fetch_add(&st->prefetch_skip, 1);
            continue;
        }
        if (lens[i] != QUERY_LEN || queries[i][2] != 0x01)
            atomic_store(&st->bad_peer, true);
        atomic_store(&st->offered[queries[i][1]], true);
    }
}

/* ------------------------------------------------------------ UDP client */

static int udp_client(int family, int timeout_ms)
{
    int fd = socket(family, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    int big = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    return fd;
}

static void udp_send_query(int fd, const struct sockaddr_storage *to, socklen_t len, uint16_t id)
{
    uint8_t q[QUERY_LEN];
    make_query(q, id);
    assert_int_equal(sendto(fd, q, sizeof(q), 0, (const struct sockaddr *)to, len), QUERY_LEN);
}

/* Returns the ID of the next answer, or -1 when none came in time. */
static int udp_recv_answer(int fd, struct sockaddr_storage *from)
{
    uint8_t a[512];
    socklen_t flen = sizeof(*from);
    ssize_t n = recvfrom(fd, a, sizeof(a), 0, (struct sockaddr *)from, &flen);
    if (n < 0)
        return -1;
    assert_int_equal(n, QUERY_LEN);
    assert_true(a[2] & 0x80);
    return a[0] << 8 | a[1];
}

/* ------------------------------------------------------------ TCP client */

/* rcvbuf: 0 for the kernel's default, else a fixed (small) receive
 * buffer, which also turns off the autotuning that could otherwise soak up
 * many megabytes of answers the client does not read. */
static int tcp_client_rcvbuf(ctx_t *c, size_t listener, int rcvbuf)
{
    socklen_t len;
    struct sockaddr_storage ss = server_addr(c, listener, &len);
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    /* The kernel completes the handshake from the backlog; the server
     * accepts when the loop next runs. */
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

static int tcp_client(ctx_t *c, size_t listener) { return tcp_client_rcvbuf(c, listener, 0); }

/* A client whose connection comes from the loopback address source. */
static int tcp_client_from(ctx_t *c, const char *source)
{
    socklen_t len;
    struct sockaddr_storage ss = server_addr(c, 0, &len);
    net_listen_t from;
    addr_v4(&from, source, 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&from.addr, from.addrlen), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

/* The kernel's view of a connection: still established or not (reset or
 * closed by the server), without reading anything. */
static bool tcp_established(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    return ti.tcpi_state == TCP_ESTABLISHED;
}

static uint64_t stat_of(const _Atomic uint64_t *c) { return atomic_load(c); }

/* How many BIG_ANSWER answers are sure to be more than the server's socket
 * send buffer (at most tcp_wmem's maximum) plus a 64 KiB client buffer. */
static int big_answers_to_fill(void)
{
    long lo = 0, def = 0, max = 4 << 20;
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld %ld", &lo, &def, &max) != 3)
            max = 4 << 20;
        fclose(f);
    }
    /* The kernel counts overhead in the buffer: twice covers it. */
    long n = (2 * max + (1 << 20)) / BIG_ANSWER + 20;
    return n < 100 ? 100 : (int)n;
}

static void tcp_send_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            poll(&(struct pollfd){.fd = fd, .events = POLLOUT}, 1, 10);
            continue;
        }
        assert_true(n > 0);
        buf += n;
        len -= (size_t)n;
    }
}

/* Steps the loop for about ms milliseconds. */
static void run_for(ctx_t *c, int ms)
{
    int64_t end = now_ms() + ms;
    do {
        uv_run(&c->loop, UV_RUN_NOWAIT);
        usleep(500);
    } while (now_ms() < end);
}

/* Reads up to n bytes while stepping the loop; stops at EOF (or reset)
 * and at the timeout. Returns the bytes read; *closed tells about EOF. */
static size_t tcp_read(ctx_t *c, int fd, uint8_t *buf, size_t n, int timeout_ms, bool *closed)
{
    size_t got = 0;
    int64_t end = now_ms() + timeout_ms;

    *closed = false;
    while (got < n && now_ms() < end) {
        uv_run(&c->loop, UV_RUN_NOWAIT);
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r > 0) {
            got += (size_t)r;
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            *closed = true;
            break;
        } else {
            poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, 1);
        }
    }
    return got;
}

/* Reads one framed answer into a (cap bytes); returns its length. */
static size_t tcp_read_answer(ctx_t *c, int fd, uint8_t *a, size_t cap)
{
    uint8_t prefix[2];
    bool closed;
    size_t got = tcp_read(c, fd, prefix, 2, 2000, &closed);
    if (got != 2)
        fail_msg("expected a 2-byte length, got %zu bytes (closed: %d)", got, closed);
    size_t len = (size_t)prefix[0] << 8 | prefix[1];
    assert_true(len <= cap);
    got = tcp_read(c, fd, a, len, 2000, &closed);
    if (got != len)
        fail_msg("expected a %zu-byte answer, got %zu bytes (closed: %d)", len, got, closed);
    return len;
}

/* True when the server closes fd within timeout_ms with no more data. */
static bool tcp_closed_by_server(ctx_t *c, int fd, int timeout_ms)
{
    uint8_t b[64];
    bool closed;
    size_t got = tcp_read(c, fd, b, sizeof(b), timeout_ms, &closed);
    if (got != 0)
        fail_msg("expected the connection to close, got %zu bytes", got);
    return closed;
}

/* ------------------------------------------------------------ tests: setup */

static void test_bad_config(void **state)
{
    uv_loop_t loop;
    net_server_t *srv = (net_server_t *)&loop; /* must be reset to NULL */
    net_listen_t l;
    net_config_t cfg = {.listeners = &l, .n_listeners = 1, .udp_workers = 1};

    assert_int_equal(uv_loop_init(&loop), 0);
    addr_v4(&l, "127.0.0.1", 0);
    cfg.udp_workers = 0;
    assert_int_equal(net_server_start(&srv, &cfg, &loop, echo_handler, NULL), -EINVAL);
    assert_null(srv);
    cfg.udp_workers = 1;
    cfg.n_listeners = 0;
    assert_int_equal(net_server_start(&srv, &cfg, &loop, echo_handler, NULL), -EINVAL);
    cfg.n_listeners = 1;
    l.addr.ss_family = AF_UNIX;
    assert_int_equal(net_server_start(&srv, &cfg, &loop, echo_handler, NULL), -EINVAL);
    assert_int_equal(net_server_port(NULL, 0), 0);
    net_server_free(NULL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_port_zero(void **state)
{
    ctx_t *c = ctx_new(2);
    ctx_start(c);
    uint16_t port = net_server_port(c->srv, 0);
    assert_true(port != 0);
    assert_int_equal(net_server_port(c->srv, 1), 0);

    /* UDP and TCP answer on that same port. */
    socklen_t len;
    struct sockaddr_storage to = server_addr(c, 0, &len), from;
    int u = udp_client(AF_INET, 2000);
    udp_send_query(u, &to, len, 7);
    assert_int_equal(udp_recv_answer(u, &from), 7);
    assert_int_equal(ntohs(((struct sockaddr_in *)&from)->sin_port), port);
    close(u);

    int t = tcp_client(c, 0);
    uint8_t q[64], a[512];
    tcp_send_all(t, q, make_tcp_query(q, 8));
    check_answer(a, tcp_read_answer(c, t, a, sizeof(a)), 8);
    close(t);
    ctx_free(c);
}

static void test_bind_failure_closes_everything(void **state)
{
    /* Someone else holds the TCP port (no SO_REUSEADDR: a real conflict). */
    int holder = socket(AF_INET, SOCK_STREAM, 0);
    net_listen_t taken;
    addr_v4(&taken, "127.0.0.1", 0);
    assert_int_equal(bind(holder, (struct sockaddr *)&taken.addr, taken.addrlen), 0);
    assert_int_equal(listen(holder, 1), 0);
    taken.addrlen = sizeof(taken.addr);
    assert_int_equal(getsockname(holder, (struct sockaddr *)&taken.addr, &taken.addrlen), 0);

    ctx_t *c = ctx_new(3);
    c->listeners[0] = taken;
    int fds = count_fds();
    net_server_t *srv = NULL;
    assert_int_equal(net_server_start(&srv, &c->cfg, &c->loop, echo_handler, &c->st),
                     -EADDRINUSE);
    assert_null(srv);
    assert_int_equal(count_fds(), fds);
    close(holder);

    /* Same for UDP: a plain socket on the port, after a good listener so
     * that there is something to undo. */
    holder = socket(AF_INET, SOCK_DGRAM, 0);
    addr_v4(&taken, "127.0.0.1", 0);
    assert_int_equal(bind(holder, (struct sockaddr *)&taken.addr, taken.addrlen), 0);
    taken.addrlen = sizeof(taken.addr);
    assert_int_equal(getsockname(holder, (struct sockaddr *)&taken.addr, &taken.addrlen), 0);
    addr_v4(&c->listeners[0], "127.0.0.1", 0);
    c->listeners[1] = taken;
    c->cfg.n_listeners = 2;
    assert_int_equal(net_server_start(&srv, &c->cfg, &c->loop, echo_handler, &c->st),
                     -EADDRINUSE);
    assert_null(srv);
    assert_int_equal(count_fds(), fds);
    close(holder);

    /* Nothing was left on the loop either. */
    assert_int_equal(uv_run(&c->loop, UV_RUN_NOWAIT), 0);
    ctx_free(c);
}

/* ------------------------------------------------------------ tests: UDP */

static void test_udp_several_workers(void **state)
{
    enum { CLIENTS = 32 };
    ctx_t *c = ctx_new(4);
    ctx_start(c);
    socklen_t len;
    struct sockaddr_storage to = server_addr(c, 0, &len), from;
    int fd[CLIENTS];

    /* Different source ports hash to different SO_REUSEPORT sockets. */
    for (int i = 0; i < CLIENTS; i++) {
        fd[i] = udp_client(AF_INET, 2000);
        udp_send_query(fd[i], &to, len, (uint16_t)(100 + i));
    }
    for (int i = 0; i < CLIENTS; i++) {
        assert_int_equal(udp_recv_answer(fd[i], &from), 100 + i);
        assert_int_equal(memcmp(&((struct sockaddr_in *)&from)->sin_addr,
                                &((struct sockaddr_in *)&to)->sin_addr, 4),
                         0);
        close(fd[i]);
    }
    unsigned seen = atomic_load(&c->st.workers_seen);
    if (__builtin_popcount(seen) < 2)
        fail_msg("expected queries on several workers, got worker mask %#x", seen);
    assert_int_equal(atomic_load(&c->st.calls), CLIENTS);
    ctx_free(c);
}

static void test_udp_burst(void **state)
{
    enum { TOTAL = 1000, WINDOW = 64 };
    ctx_t *c = ctx_new(2);
    ctx_start(c);
    socklen_t len;
    struct sockaddr_storage to = server_addr(c, 0, &len), from;
    int fd = udp_client(AF_INET, 2000);
    static bool answered[TOTAL];
    int sent = 0, received = 0;

    memset(answered, 0, sizeof(answered));
    /* A window keeps the client's own receive buffer from overflowing,
     * which would lose answers the server did send. */
    while (received < TOTAL) {
        while (sent < TOTAL && sent - received < WINDOW)
            udp_send_query(fd, &to, len, (uint16_t)sent++);
        int id = udp_recv_answer(fd, &from);
        if (id < 0)
            fail_msg("expected %d answers, got %d", TOTAL, received);
        assert_true(id < TOTAL);
        assert_false(answered[id]);
        answered[id] = true;
        received++;
    }
    assert_int_equal(atomic_load(&c->st.calls), TOTAL);
    close(fd);
    ctx_free(c);
}

static void test_udp_handler_zero_sends_nothing(void **state)
{
    ctx_t *c = ctx_new(1);
    ctx_start(c);
    socklen_t len;
    struct sockaddr_storage to = server_addr(c, 0, &len), from;
    int fd = udp_client(AF_INET, 300);

    /* In one batch most likely: the dropped one must not shift the rest. */
    udp_send_query(fd, &to, len, 1);
    udp_send_query(fd, &to, len, ID_DROP);
    udp_send_query(fd, &to, len, 2);
    assert_int_equal(udp_recv_answer(fd, &from), 1);
    assert_int_equal(udp_recv_answer(fd, &from), 2);
    assert_int_equal(udp_recv_answer(fd, &from), -1);
    assert_int_equal(atomic_load(&c->st.calls), 3);

    /* Longer than NET_UDP_MAX_QUERY: dropped without calling the handler. */
    static uint8_t huge[NET_UDP_MAX_QUERY + 100];
    make_query(huge, 3);
    assert_int_equal(sendto(fd, huge, sizeof(huge), 0, (struct sockaddr *)&to, len),
                     (ssize_t)sizeof(huge));
    udp_send_query(fd, &to, len, 4);
    assert_int_equal(udp_recv_answer(fd, &from), 4);
    assert_int_equal(atomic_load(&c->st.calls), 4);
    close(fd);
    ctx_free(c);
}

/* The prefetch hook sees every datagram of a batch before the handler
 * answers any of it; one too long to answer is offered with length 0. */
static void test_udp_prefetch(void **state)
{
    enum { QUERIES = 40 };
    ctx_t *c = ctx_new(1);
    c->cfg.udp_prefetch = record_prefetch;
    c->st.prefetch_on = true;
    ctx_start(c);
    socklen_t len;
    struct sockaddr_storage to = server_addr(c, 0, &len), from, me;
    int fd = udp_client(AF_INET, 2000);
    socklen_t mlen = sizeof(me);
    assert_int_equal(bind(fd, (const struct sockaddr *)&(struct sockaddr_in){
                                  .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)},
                          sizeof(struct sockaddr_in)),
                     0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &mlen), 0);
    c->st.client_port = ntohs(((struct sockaddr_in *)&me)->sin_port);

    static uint8_t huge[NET_UDP_MAX_QUERY + 100];
    make_query(huge, 0xff);
    assert_int_equal(sendto(fd, huge, sizeof(huge), 0, (struct sockaddr *)&to, len),
                     (ssize_t)sizeof(huge));
    for (uint16_t id = 1; id <= QUERIES; id++)
        udp_send_query(fd, &to, len, id);
    for (int i = 0; i < QUERIES; i++) {
        int id = udp_recv_answer(fd, &from);
        assert_true(id >= 1 && id <= QUERIES);
    }
    assert_int_equal(atomic_load(&c->st.prefetched), QUERIES + 1);
    assert_int_equal(atomic_load(&c->st.prefetch_skip), 1);
    assert_int_equal(atomic_load(&c->st.calls), QUERIES);
    assert_false(atomic_load(&c->st.offered[0xff]));
    close(fd);
    ctx_free(c); /* fails on a bad_peer mark */
}

/* On a wildcard bind the answer must leave from the address the query was
 * sent to, not from whatever the routing table prefers. */
static void test_udp_answers_from_query_address(void **state)
{
    ctx_t *c = ctx_new(2);
    addr_v4(&c->listeners[0], "0.0.0.0", 0);
    ctx_start(c);
    socklen_t len;
    struct sockaddr_storage to = server_addr(c, 0, &len), from;
    struct sockaddr_in *sin = (struct sockaddr_in *)&to;
    uint16_t port = ntohs(sin->sin_port);

    int fd = udp_client(AF_INET, 2000);
    struct sockaddr_in self = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &self.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&self, sizeof(self)), 0);

    const char *targets[] = {"127.0.0.1", "127.0.0.2"};
    for (int i = 0; i < 2; i++) {
        inet_pton(AF_INET, targets[i], &sin->sin_addr);
        if (sendto(fd, "", 0, 0, (struct sockaddr *)&to, len) < 0 && i > 0) {
            close(fd);
            ctx_free(c);
            skip(); /* 127.0.0.2 not routed to lo here */
        }
        udp_send_query(fd, &to, len, (uint16_t)(50 + i));
        assert_int_equal(udp_recv_answer(fd, &from), 50 + i);
        struct sockaddr_in *f = (struct sockaddr_in *)&from;
        char got[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &f->sin_addr, got, sizeof(got));
        if (strcmp(got, targets[i]) != 0 || ntohs(f->sin_port) != port)
            fail_msg("expected the answer from %s:%u, got it from %s:%u", targets[i], port,
                     got, ntohs(f->sin_port));
        pthread_mutex_lock(&c->st.lock);
        struct sockaddr_in local = *(struct sockaddr_in *)&c->st.last_local;
        pthread_mutex_unlock(&c->st.lock);
        assert_int_equal(local.sin_addr.s_addr, f->sin_addr.s_addr);
        assert_int_equal(ntohs(local.sin_port), port);
    }
    close(fd);
    ctx_free(c);
}

/* IPv4 and IPv6 listeners side by side; "[::]:P" next to "0.0.0.0:P"
 * needs IPV6_V6ONLY. */
static void test_ipv6(void **state)
{
    if (!have_ipv6_loopback())
        skip();
    ctx_t *c = ctx_new(2);
    addr_v4(&c->listeners[0], "0.0.0.0", 0);
    ctx_start(c);
    uint16_t port = net_server_port(c->srv, 0);

    ctx_t *c6 = ctx_new(2);
    addr_v6(&c6->listeners[0], "::", port);
    addr_v6(&c6->listeners[1], "::1", 0);
    c6->cfg.n_listeners = 2;
    ctx_start(c6);
    assert_int_equal(net_server_port(c6->srv, 0), port);
    assert_true(net_server_port(c6->srv, 1) != 0);

    for (size_t i = 0; i < 2; i++) {
        socklen_t len;
        struct sockaddr_storage to = server_addr(c6, i, &len), from;
        int fd = udp_client(AF_INET6, 2000);
        udp_send_query(fd, &to, len, (uint16_t)(60 + i));
        assert_int_equal(udp_recv_answer(fd, &from), 60 + i);
        assert_int_equal(from.ss_family, AF_INET6);
        assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&from)->sin6_addr));
        close(fd);

        int t = tcp_client(c6, i);
        uint8_t q[64], a[512];
        tcp_send_all(t, q, make_tcp_query(q, (uint16_t)(70 + i)));
        check_answer(a, tcp_read_answer(c6, t, a, sizeof(a)), (uint16_t)(70 + i));
        close(t);
    }
    assert_int_equal(atomic_load(&c->st.calls), 0);
    ctx_free(c6);
    ctx_free(c);
}

/* ------------------------------------------------------------ tests: TCP */

static void test_tcp_one_query(void **state)
{
    ctx_t *c = ctx_new(3);
    ctx_start(c);
    int fd = tcp_client(c, 0);
    uint8_t q[64], a[512];

    tcp_send_all(fd, q, make_tcp_query(q, 0x1234));
    size_t n = tcp_read_answer(c, fd, a, sizeof(a));
    assert_int_equal(n, QUERY_LEN);
    check_answer(a, n, 0x1234);
    assert_int_equal(atomic_load(&c->st.tcp_calls), 1);
    close(fd);
    ctx_free(c);
}

static void test_tcp_pipelined_in_order(void **state)
{
    enum { N = 50 };
    ctx_t *c = ctx_new(1);
    c->cfg.tcp_max_pipeline = 4; /* well below N: reading pauses and resumes */
    ctx_start(c);
    int fd = tcp_client(c, 0);
    uint8_t q[N * (2 + QUERY_LEN)], a[512];
    size_t len = 0;

    for (int i = 0; i < N; i++)
        len += make_tcp_query(q + len, (uint16_t)(1000 + i));
    tcp_send_all(fd, q, len);
    for (int i = 0; i < N; i++)
        check_answer(a, tcp_read_answer(c, fd, a, sizeof(a)), (uint16_t)(1000 + i));
    close(fd);
    ctx_free(c);
}

/* Big answers to a client that does not read: the socket fills, answers
 * queue in libuv, the pipeline limit stops reading; then everything is
 * delivered in order once the client reads. */
static void test_tcp_backpressure(void **state)
{
    const int n_queries = big_answers_to_fill();
    ctx_t *c = ctx_new(1);
    c->cfg.tcp_max_pipeline = 4;
    ctx_start(c);
    int fd = tcp_client_rcvbuf(c, 0, 64 << 10);
    uint8_t *q = malloc((size_t)n_queries * (2 + QUERY_LEN));
    static uint8_t a[BIG_ANSWER];
    size_t len = 0;

    assert_non_null(q);
    for (int i = 0; i < n_queries; i++)
        len += make_tcp_query(q + len, (uint16_t)(BIG_ID_HIGH << 8 | (i & 0xff)));
    tcp_send_all(fd, q, len);
    free(q);
    run_for(c, 50);
    unsigned answered = atomic_load(&c->st.calls);
    if (answered >= (unsigned)n_queries)
        fail_msg("expected reading to pause, but all %u queries were answered", answered);
    for (int i = 0; i < n_queries; i++) {
        size_t n = tcp_read_answer(c, fd, a, sizeof(a));
        assert_int_equal(n, BIG_ANSWER);
        check_answer(a, n, (uint16_t)(BIG_ID_HIGH << 8 | (i & 0xff)));
        assert_int_equal(a[n - 1], 0x5a);
    }
    close(fd);
    ctx_free(c);
}

static void test_tcp_split_byte_by_byte(void **state)
{
    ctx_t *c = ctx_new(1);
    ctx_start(c);
    int fd = tcp_client(c, 0);
    uint8_t q[2 * (2 + QUERY_LEN)], a[512];
    size_t len = make_tcp_query(q, 11);
    len += make_tcp_query(q + len, 12);

    for (size_t i = 0; i < len; i++) {
        tcp_send_all(fd, q + i, 1);
        uv_run(&c->loop, UV_RUN_NOWAIT);
        uv_run(&c->loop, UV_RUN_NOWAIT);
    }
    check_answer(a, tcp_read_answer(c, fd, a, sizeof(a)), 11);
    check_answer(a, tcp_read_answer(c, fd, a, sizeof(a)), 12);
    close(fd);
    ctx_free(c);
}

/* The idle timer against the machine: activity 10 times an idle period
 * apart keeps a connection open, and silence closes it, never before a
 * full idle period after the last answer (the order of events), and within
 * a bound that only catches a timer that never fires. */
static void test_tcp_idle_timeout(void **state)
{
    enum { IDLE_MS = 1000 };
    ctx_t *c = ctx_new(1);
    c->cfg.tcp_idle_timeout_ms = IDLE_MS;
    ctx_start(c);
    int fd = tcp_client(c, 0);
    uint8_t q[64], a[512];

    /* Queries every 100 ms keep it open past the timeout... */
    int64_t first = now_ms(), last = first;
    for (int i = 0; last - first < 2 * IDLE_MS; i++) {
        tcp_send_all(fd, q, make_tcp_query(q, (uint16_t)(20 + i)));
        check_answer(a, tcp_read_answer(c, fd, a, sizeof(a)), (uint16_t)(20 + i));
        last = now_ms();
        run_for(c, 100);
    }
    /* ...silence closes it. */
    assert_true(tcp_closed_by_server(c, fd, 20 * IDLE_MS));
    int64_t after_last = now_ms() - last;
    if (after_last < IDLE_MS - 50)
        fail_msg("closed %lld ms after the last answer, before the %d ms idle timeout",
                 (long long)after_last, IDLE_MS);
    close(fd);
    ctx_free(c);
}

static void test_tcp_max_connections(void **state)
{
    ctx_t *c = ctx_new(1);
    c->cfg.tcp_max_connections = 2;
    ctx_start(c);
    uint8_t q[64], a[512];
    int fd[2];

    for (int i = 0; i < 2; i++) {
        fd[i] = tcp_client(c, 0);
        tcp_send_all(fd[i], q, make_tcp_query(q, (uint16_t)(30 + i)));
        check_answer(a, tcp_read_answer(c, fd[i], a, sizeof(a)), (uint16_t)(30 + i));
    }
    int extra = tcp_client(c, 0);
    assert_true(tcp_closed_by_server(c, extra, 1000));
    close(extra);

    /* The two still work; closing one makes room for a new one. */
    tcp_send_all(fd[1], q, make_tcp_query(q, 32));
    check_answer(a, tcp_read_answer(c, fd[1], a, sizeof(a)), 32);
    close(fd[0]);
    run_for(c, 50);
    extra = tcp_client(c, 0);
    tcp_send_all(extra, q, make_tcp_query(q, 33));
    check_answer(a, tcp_read_answer(c, extra, a, sizeof(a)), 33);
    close(extra);
    close(fd[1]);
    ctx_free(c);
}

static void test_tcp_bad_length_closes(void **state)
{
    ctx_t *c = ctx_new(1);
    ctx_start(c);
    uint8_t q[128], a[512];

    /* Zero-length message. */
    int fd = tcp_client(c, 0);
    tcp_send_all(fd, (const uint8_t *)"\0\0", 2);
    assert_true(tcp_closed_by_server(c, fd, 1000));
    close(fd);

    /* Shorter than a DNS header. */
    fd = tcp_client(c, 0);
    tcp_send_all(fd, (const uint8_t *)"\0\5abcde", 7);
    assert_true(tcp_closed_by_server(c, fd, 1000));
    close(fd);

    /* After a good query in the same write: its answer still comes. */
    fd = tcp_client(c, 0);
    size_t len = make_tcp_query(q, 40);
    q[len++] = 0;
    q[len++] = 0;
    tcp_send_all(fd, q, len);
    check_answer(a, tcp_read_answer(c, fd, a, sizeof(a)), 40);
    assert_true(tcp_closed_by_server(c, fd, 1000));
    close(fd);
    assert_int_equal(atomic_load(&c->st.calls), 1);
    ctx_free(c);
}

static void test_tcp_handler_zero_closes(void **state)
{
    ctx_t *c = ctx_new(1);
    ctx_start(c);
    uint8_t q[3 * (2 + QUERY_LEN)], a[512];
    size_t len = make_tcp_query(q, 41);
    len += make_tcp_query(q + len, ID_DROP);
    len += make_tcp_query(q + len, 42);

    int fd = tcp_client(c, 0);
    tcp_send_all(fd, q, len);
    check_answer(a, tcp_read_answer(c, fd, a, sizeof(a)), 41);
    assert_true(tcp_closed_by_server(c, fd, 1000));
    assert_int_equal(atomic_load(&c->st.calls), 2); /* 42 was never read */
    close(fd);
    ctx_free(c);
}

static void test_tcp_eof_after_queries(void **state)
{
    ctx_t *c = ctx_new(1);
    ctx_start(c);
    uint8_t q[5 * (2 + QUERY_LEN) + 3], a[512];
    size_t len = 0;

    for (int i = 0; i < 5; i++)
        len += make_tcp_query(q + len, (uint16_t)(80 + i));
    /* An incomplete message before EOF is dropped. */
    q[len++] = 0;
    q[len++] = 40;
    q[len++] = 0;
    int fd = tcp_client(c, 0);
    tcp_send_all(fd, q, len);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    for (int i = 0; i < 5; i++)
        check_answer(a, tcp_read_answer(c, fd, a, sizeof(a)), (uint16_t)(80 + i));
    assert_true(tcp_closed_by_server(c, fd, 1000));
    close(fd);
    ctx_free(c);
}

/* Stop with connections in every state: idle, half a message, answers
 * not yet taken by the client. Stop waits for the queued answers only. */
static void test_stop_with_open_connections(void **state)
{
    const int n_queries = big_answers_to_fill();
    ctx_t *c = ctx_new(2);
    c->cfg.tcp_max_pipeline = 4;
    ctx_start(c);
    uint8_t *q = malloc((size_t)n_queries * (2 + QUERY_LEN));
    static uint8_t a[BIG_ANSWER];
    uint8_t small[64];

    assert_non_null(q);
    int idle = tcp_client(c, 0);
    int partial = tcp_client(c, 0);
    tcp_send_all(partial, small, make_tcp_query(small, 1) - 5);
    int busy = tcp_client_rcvbuf(c, 0, 64 << 10);
    size_t len = 0;
    for (int i = 0; i < n_queries; i++)
        len += make_tcp_query(q + len, (uint16_t)(BIG_ID_HIGH << 8 | (i & 0xff)));
    tcp_send_all(busy, q, len);
    free(q);
    run_for(c, 30);
    unsigned answered = atomic_load(&c->st.calls);
    if (answered == 0 || answered >= (unsigned)n_queries)
        fail_msg("expected some of the %d queries answered before stop, got %u", n_queries,
                 answered);

    net_server_stop(c->srv);
    net_server_stop(c->srv); /* idempotent */
    assert_true(tcp_closed_by_server(c, idle, 1000));
    assert_true(tcp_closed_by_server(c, partial, 1000));
    /* The answers already made are delivered, in order, then EOF. */
    int got = 0;
    for (;;) {
        uint8_t prefix[2];
        bool closed;
        if (tcp_read(c, busy, prefix, 2, 2000, &closed) != 2)
            break;
        size_t n = (size_t)prefix[0] << 8 | prefix[1];
        assert_int_equal(n, BIG_ANSWER);
        assert_int_equal(tcp_read(c, busy, a, n, 2000, &closed), n);
        check_answer(a, n, (uint16_t)(BIG_ID_HIGH << 8 | (got & 0xff)));
        got++;
    }
    assert_true(got >= 1 && (unsigned)got <= answered);
    close(idle);
    close(partial);
    close(busy);
    ctx_free(c);
}

/* ------------------------------------------------------------ tests: limits */

/* One served query on a new connection from source; false if the server
 * closed it instead. */
static bool tcp_served_from(ctx_t *c, int fd, uint16_t id)
{
    uint8_t q[64], a[512], prefix[2];
    bool closed;
    tcp_send_all(fd, q, make_tcp_query(q, id));
    if (tcp_read(c, fd, prefix, 2, 1000, &closed) != 2)
        return false;
    size_t len = (size_t)prefix[0] << 8 | prefix[1];
    assert_int_equal(tcp_read(c, fd, a, len, 1000, &closed), len);
    check_answer(a, len, id);
    return true;
}

static void test_tcp_per_address(void **state)
{
    ctx_t *c = ctx_new(1);
    c->cfg.tcp_max_per_address = 2;
    ctx_start(c);
    uint64_t refused = stat_of(&stats_net.tcp_refused_source);
    int fd[3];

    for (int i = 0; i < 2; i++) {
        fd[i] = tcp_client_from(c, "127.0.0.1");
        assert_true(tcp_served_from(c, fd[i], (uint16_t)(200 + i)));
    }
    /* The third from the same address is closed at once... */
    fd[2] = tcp_client_from(c, "127.0.0.1");
    assert_true(tcp_closed_by_server(c, fd[2], 1000));
    close(fd[2]);
    assert_int_equal(stat_of(&stats_net.tcp_refused_source) - refused, 1);
    /* ...while another address still connects. */
    int other = tcp_client_from(c, "127.0.0.2");
    assert_true(tcp_served_from(c, other, 210));
    /* A slot given back can be taken again. */
    close(fd[0]);
    run_for(c, 50);
    fd[0] = tcp_client_from(c, "127.0.0.1");
    assert_true(tcp_served_from(c, fd[0], 211));
    for (int i = 0; i < 2; i++)
        close(fd[i]);
    close(other);
    ctx_free(c);
}

static struct sockaddr_storage v6(const char *ip)
{
    net_listen_t l;
    addr_v6(&l, ip, 53);
    return l.addr;
}

/* The per-source table itself, for IPv6 and its /64s (loopback has only
 * ::1 to connect from). */
static void test_tcp_sources_ipv6_64(void **state)
{
    struct net__tcp_sources *t = net__tcp_sources_new(16, 2, 3);
    struct sockaddr_storage a1 = v6("2001:db8::1"), a2 = v6("2001:db8::2"),
                            a3 = v6("2001:db8::3"), b1 = v6("2001:db8:0:1::1"),
                            m = v6("::ffff:192.0.2.1");
    const struct sockaddr *sa1 = (struct sockaddr *)&a1, *sa2 = (struct sockaddr *)&a2,
                          *sa3 = (struct sockaddr *)&a3, *sb1 = (struct sockaddr *)&b1,
                          *sm = (struct sockaddr *)&m;
    bool prefix;

    assert_non_null(t);
    assert_int_equal(net__tcp_sources_acquire(t, sa1, &prefix), 0);
    assert_int_equal(net__tcp_sources_acquire(t, sa1, &prefix), 0);
    assert_int_equal(net__tcp_sources_acquire(t, sa1, &prefix), -EUSERS);
    assert_false(prefix); /* the address is full */
    assert_int_equal(net__tcp_sources_acquire(t, sa2, &prefix), 0);
    assert_int_equal(net__tcp_sources_acquire(t, sa3, &prefix), -EUSERS);
    assert_true(prefix); /* its /64 is full: 3 */
    assert_int_equal(net__tcp_sources_acquire(t, sb1, &prefix), 0); /* another /64 */
    net__tcp_sources_release(t, sa1);
    assert_int_equal(net__tcp_sources_acquire(t, sa3, &prefix), 0);
    /* A mapped IPv4 address counts as IPv4: no /64 */
    for (int i = 0; i < 2; i++)
        assert_int_equal(net__tcp_sources_acquire(t, sm, &prefix), 0);
    assert_int_equal(net__tcp_sources_acquire(t, sm, &prefix), -EUSERS);
    assert_false(prefix);
    net__tcp_sources_free(t);
}

/* Many addresses in and out in a scrambled order: every count stays
 * right through the deletions that move entries back. */
static void test_tcp_sources_churn(void **state)
{
    enum { N = 500 };
    struct net__tcp_sources *t = net__tcp_sources_new(N, 1, 1);
    static struct sockaddr_storage addr[N];
    bool held[N] = {false}, prefix;

    assert_non_null(t);
    for (int i = 0; i < N; i++) {
        char text[64];
        snprintf(text, sizeof(text), "2001:db8:%x:%x::1", i % 7, i);
        addr[i] = v6(text);
    }
    unsigned x = 12345;
    for (int round = 0; round < 20000; round++) {
        x = x * 1103515245u + 12345u;
        int i = (int)((x >> 8) % N);
        const struct sockaddr *sa = (struct sockaddr *)&addr[i];
        if (held[i]) {
            /* at its limit of 1: a second is refused, then released */
            assert_int_equal(net__tcp_sources_acquire(t, sa, &prefix), -EUSERS);
            net__tcp_sources_release(t, sa);
            held[i] = false;
        } else {
            if (net__tcp_sources_acquire(t, sa, &prefix) != 0)
                fail_msg("round %d: %d refused though not held", round, i);
            held[i] = true;
        }
    }
    net__tcp_sources_free(t);
}

/* BIG_ANSWER queries a client sends and never reads the answers of. */
static int tcp_flood(ctx_t *c, int rcvbuf, int n, uint16_t id0)
{
    int fd = tcp_client_rcvbuf(c, 0, rcvbuf);
    uint8_t *q = malloc((size_t)n * (2 + QUERY_LEN));
    size_t len = 0;
    assert_non_null(q);
    for (int i = 0; i < n; i++)
        len += make_tcp_query(q + len, (uint16_t)(BIG_ID_HIGH << 8 | ((id0 + i) & 0xff)));
    tcp_send_all(fd, q, len);
    free(q);
    return fd;
}

static void tcp_read_big_answers(ctx_t *c, int fd, int n, uint16_t id0)
{
    static uint8_t a[BIG_ANSWER];
    for (int i = 0; i < n; i++) {
        size_t len = tcp_read_answer(c, fd, a, sizeof(a));
        assert_int_equal(len, BIG_ANSWER);
        check_answer(a, len, (uint16_t)(BIG_ID_HIGH << 8 | ((id0 + i) & 0xff)));
    }
}

/* The answer count would allow every answer (pipeline 1000): the bytes
 * stop the reading. */
static void test_tcp_queued_bytes(void **state)
{
    const int n = big_answers_to_fill();
    ctx_t *c = ctx_new(1);
    c->cfg.tcp_max_pipeline = 1000;
    c->cfg.tcp_max_queued_bytes = 128 << 10;
    ctx_start(c);
    int fd = tcp_flood(c, 64 << 10, n, 0);
    uint64_t peak = 0;
    for (int i = 0; i < 100; i++) {
        run_for(c, 2);
        uint64_t q = stat_of(&stats_net.tcp_queued_bytes);
        peak = q > peak ? q : peak;
    }
    unsigned answered = atomic_load(&c->st.calls);
    if (answered >= (unsigned)n)
        fail_msg("expected reading to pause at 128 KiB waiting, but all %u queries were "
                 "answered", answered);
    /* The budget, plus what one stage of answers may add past it. */
    uint64_t bound = (128 << 10) + 2 * (2 + BIG_ANSWER);
    if (peak == 0 || peak > bound)
        fail_msg("expected 1 to %llu bytes waiting, peak %llu", (unsigned long long)bound,
                 (unsigned long long)peak);
    tcp_read_big_answers(c, fd, n, 0);
    assert_int_equal(stat_of(&stats_net.tcp_queued_bytes), 0);
    close(fd);
    ctx_free(c);
}

/* Four clients that do not read share a total budget smaller than their
 * own: the total holds, and once they read every answer arrives. */
static void test_tcp_queued_total(void **state)
{
    const int n = big_answers_to_fill();
    ctx_t *c = ctx_new(1);
    c->cfg.tcp_max_pipeline = 1000;
    c->cfg.tcp_max_queued_bytes = 1 << 20;
    c->cfg.tcp_max_queued_total = 256 << 10;
    ctx_start(c);
    int fd[4];
    for (int i = 0; i < 4; i++)
        fd[i] = tcp_flood(c, 64 << 10, n, (uint16_t)(i * 50));
    uint64_t peak = 0;
    for (int i = 0; i < 100; i++) {
        run_for(c, 2);
        uint64_t q = stat_of(&stats_net.tcp_queued_bytes);
        peak = q > peak ? q : peak;
    }
    uint64_t bound = (256 << 10) + 2 * (2 + BIG_ANSWER);
    if (peak == 0 || peak > bound)
        fail_msg("expected 1 to %llu bytes waiting in all, peak %llu",
                 (unsigned long long)bound, (unsigned long long)peak);
    /* Read them one after another: the waiting ones are woken in turn. */
    for (int i = 0; i < 4; i++)
        tcp_read_big_answers(c, fd[i], n, (uint16_t)(i * 50));
    for (int i = 0; i < 4; i++)
        close(fd[i]);
    ctx_free(c);
}

static void test_tcp_write_timeout(void **state)
{
    const int n = big_answers_to_fill();
    ctx_t *c = ctx_new(1);
    c->cfg.tcp_idle_timeout_ms = 10000;
    c->cfg.tcp_write_timeout_ms = 300;
    ctx_start(c);
    uint64_t timeouts = stat_of(&stats_net.tcp_write_timeouts);
    int fd = tcp_flood(c, 64 << 10, n, 0);
    int64_t start = now_ms();
    run_for(c, 150);
    assert_true(tcp_established(fd)); /* not before the deadline */
    while (tcp_established(fd) && now_ms() - start < 3000)
        run_for(c, 10);
    int64_t took = now_ms() - start;
    if (tcp_established(fd) || took < 300)
        fail_msg("expected a reset 300 ms after the answers stopped moving, got %s after "
                 "%lld ms", tcp_established(fd) ? "none" : "one", (long long)took);
    assert_int_equal(stat_of(&stats_net.tcp_write_timeouts) - timeouts, 1);
    /* The server is fine: a new client is served. */
    int other = tcp_client(c, 0);
    assert_true(tcp_served_from(c, other, 300));
    close(other);
    close(fd);
    ctx_free(c);
}

/* Lowers the soft descriptor limit to what is open plus extra; returns
 * the old limits for restore_nofile(). */
static struct rlimit lower_nofile(int extra)
{
    struct rlimit old, rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl = old;
    rl.rlim_cur = (rlim_t)(count_fds() + extra);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    return old;
}

/* Takes every descriptor below the limit (or, with upto, those below it);
 * returns how many, their numbers in fds. */
static int take_fds(int *fds, int max, int upto)
{
    int n = 0;
    while (n < max) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        if (upto >= 0 && fd >= upto) {
            close(fd);
            break;
        }
        fds[n++] = fd;
    }
    return n;
}

/* A connection whose descriptor would fall in the reserve is closed at
 * once; with the reserve free again connections are served. */
static void test_tcp_fd_reserve(void **state)
{
    struct rlimit old = lower_nofile(80);
    ctx_t *c = ctx_new(1);
    c->cfg.tcp_max_connections = 10;
    c->cfg.fd_reserve = 30;
    ctx_start(c);
    uint64_t refused = stat_of(&stats_net.tcp_refused_reserve);
    struct rlimit now;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &now), 0);
    int client = socket(AF_INET, SOCK_STREAM, 0); /* made before the squeeze */
    static int fds[200];
    /* Leave free only descriptors inside the reserve. */
    int n = take_fds(fds, 200, (int)now.rlim_cur - 30 + 1);
    socklen_t len;
    struct sockaddr_storage ss = server_addr(c, 0, &len);
    assert_int_equal(connect(client, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(fcntl(client, F_SETFL, O_NONBLOCK), 0);
    assert_true(tcp_closed_by_server(c, client, 1000));
    assert_int_equal(stat_of(&stats_net.tcp_refused_reserve) - refused, 1);
    close(client);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    int ok = tcp_client(c, 0);
    assert_true(tcp_served_from(c, ok, 400));
    close(ok);
    ctx_free(c);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

/* Out of descriptors altogether: accept fails with EMFILE. The waiting
 * client is closed (the spare descriptor), accepting pauses rather than
 * spin on a listener that stays readable, and resumes once there is room. */
static void test_tcp_emfile_pauses(void **state)
{
    struct rlimit old = lower_nofile(60);
    ctx_t *c = ctx_new(1);
    c->cfg.tcp_max_connections = 10;
    c->cfg.fd_reserve = 4;
    ctx_start(c);
    uint64_t emfile = stat_of(&stats_net.emfile);
    int client[3];
    for (int i = 0; i < 3; i++)
        client[i] = socket(AF_INET, SOCK_STREAM, 0);
    static int fds[200];
    int n = take_fds(fds, 200, -1);
    socklen_t len;
    struct sockaddr_storage ss = server_addr(c, 0, &len);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(connect(client[i], (struct sockaddr *)&ss, len), 0);
        assert_int_equal(fcntl(client[i], F_SETFL, O_NONBLOCK), 0);
    }
    /* Both are closed by the spare's accept-and-close. */
    for (int i = 0; i < 2; i++)
        assert_true(tcp_closed_by_server(c, client[i], 1000));
    /* A new one arrives while accepting is paused and still no descriptor
     * is free: over 500 ms a busy loop would meet EMFILE thousands of
     * times, the pause about once per NET_TCP_ACCEPT_PAUSE_MS. */
    assert_int_equal(connect(client[2], (struct sockaddr *)&ss, len), 0);
    assert_int_equal(fcntl(client[2], F_SETFL, O_NONBLOCK), 0);
    run_for(c, 500);
    uint64_t seen = stat_of(&stats_net.emfile) - emfile;
    if (seen < 1 || seen > 500 / NET_TCP_ACCEPT_PAUSE_MS + 2)
        fail_msg("expected 1 to %d EMFILE in 500 ms, got %llu",
                 500 / NET_TCP_ACCEPT_PAUSE_MS + 2, (unsigned long long)seen);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    /* With room again, the next connection is served. */
    int ok = tcp_client(c, 0);
    int64_t start = now_ms();
    assert_true(tcp_served_from(c, ok, 401));
    assert_true(now_ms() - start < 1000);
    for (int i = 0; i < 3; i++)
        close(client[i]);
    close(ok);
    ctx_free(c);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

/* An explicit cap that does not fit the descriptors fails the start; the
 * default is lowered to fit. */
static void test_tcp_cap_fits_descriptors(void **state)
{
    struct rlimit old = lower_nofile(100);
    ctx_t *c = ctx_new(1);
    c->cfg.tcp_max_connections = 1000;
    c->cfg.fd_reserve = 20;
    assert_int_equal(net_server_start(&c->srv, &c->cfg, &c->loop, echo_handler, &c->st),
                     -EMFILE);
    assert_null(c->srv);
    c->cfg.tcp_max_connections = 0;
    ctx_start(c);
    unsigned cap = net_server_tcp_max_connections(c->srv);
    /* 100 above what was open, less the server's own sockets, the reserve
     * and 2 more (the spare, one being refused) */
    if (cap < 50 || cap > 100 - 20 - 2)
        fail_msg("expected a cap from 50 to 78, got %u", cap);
    ctx_free(c);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

int main(void)
{
    const char *verbose = getenv("NET_TEST_VERBOSE");
    log_init("test_net", verbose != NULL ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERR, false);
    /* This thread runs the loop, and the loop calls the handler. */
    rcu_register_thread();

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_port_zero),
        cmocka_unit_test(test_bind_failure_closes_everything),
        cmocka_unit_test(test_udp_several_workers),
        cmocka_unit_test(test_udp_burst),
        cmocka_unit_test(test_udp_handler_zero_sends_nothing),
        cmocka_unit_test(test_udp_prefetch),
        cmocka_unit_test(test_udp_answers_from_query_address),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_tcp_one_query),
        cmocka_unit_test(test_tcp_pipelined_in_order),
        cmocka_unit_test(test_tcp_backpressure),
        cmocka_unit_test(test_tcp_split_byte_by_byte),
        cmocka_unit_test(test_tcp_idle_timeout),
        cmocka_unit_test(test_tcp_max_connections),
        cmocka_unit_test(test_tcp_bad_length_closes),
        cmocka_unit_test(test_tcp_handler_zero_closes),
        cmocka_unit_test(test_tcp_eof_after_queries),
        cmocka_unit_test(test_stop_with_open_connections),
        cmocka_unit_test(test_tcp_per_address),
        cmocka_unit_test(test_tcp_sources_ipv6_64),
        cmocka_unit_test(test_tcp_sources_churn),
        cmocka_unit_test(test_tcp_queued_bytes),
        cmocka_unit_test(test_tcp_queued_total),
        cmocka_unit_test(test_tcp_write_timeout),
        cmocka_unit_test(test_tcp_fd_reserve),
        cmocka_unit_test(test_tcp_emfile_pauses),
        cmocka_unit_test(test_tcp_cap_fits_descriptors),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    rcu_unregister_thread();
    return failed;
}
