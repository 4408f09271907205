/*
 * The TCP server (RFC 7766) on the caller's libuv loop.
 *
 * A connection reads into one buffer big enough for the largest message
 * with its prefix, answers every complete message in it, in order, and
 * keeps the incomplete tail for the next read. The answers of one read are
 * gathered in the server's stage buffer and go out in one write: usually
 * uv_try_write() takes them at once and nothing is allocated; whatever the
 * socket does not take is copied into a write request of its own.
 *
 * Back-pressure: when tcp_max_pipeline answers or tcp_max_queued_bytes
 * bytes wait to be written the connection stops reading (and stops
 * answering what it has buffered) until half of them are out, so a client
 * that does not read cannot make us queue without bound; when the bytes
 * waiting on all connections reach tcp_max_queued_total, every connection
 * that would add to them waits in a queue of its own until the total falls
 * back under the cap. An answer may overshoot a budget once: the check is
 * made before answering. The timer closes connections that neither send a
 * query nor take an answer for tcp_idle_timeout_ms and resets those whose
 * waiting answers have not been written for tcp_write_timeout_ms.
 *
 * Accepting: the listening sockets are watched with uv_poll and accepted
 * here rather than by uv_listen(), so that running out of descriptors can
 * pause accepting (a listener with a pending connection stays readable:
 * retrying at once would spin) and so that a connection is judged
 * (cap, source, descriptor reserve) before any handle exists for it.
 *
 * A connection ends gracefully ("finishing": no more queries, close once
 * the queued answers are written) on EOF, on a malformed length, on a query
 * the handler refuses, and at server stop; abruptly on read or write errors
 * and on the idle timeout.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <urcu.h>

#include "net/net_internal.h"
#include "stats/stats.h"
#include "util/log.h"

/* One whole message with its prefix: once the complete messages at its
 * start are answered, the tail left is always shorter, so a read always
 * has room. */
#define TCP_READ_BUF (2 + NET_MAX_MESSAGE)
/* Answers gathered for one write; room for a full answer after another. */
#define TCP_STAGE_SIZE (2 * (2 + NET_MAX_MESSAGE))
#define TCP_BACKLOG 1024
/* Accept trouble (EMFILE, the connection cap) comes in floods: say it at
 * most this often. */
#define TCP_LOG_INTERVAL_MS 10000
/* Connections accepted per readiness callback, so that a flood of them
 * does not hold the loop away from the connections already open. */
#define TCP_ACCEPT_BATCH 64

struct net__tcp_listener {
    uv_poll_t poll;
    net_server_t *srv;
    int fd;
};

struct net__tcp_conn {
    uv_tcp_t handle;
    uv_timer_t timer;
    net_server_t *srv;
    struct net__tcp_conn *prev, *next;
    net_peer_t peer;
    struct sockaddr_storage addr, local;
    uint64_t last_active;  /* uv_now() of the last query or finished write */
    unsigned queued;       /* answers given to uv_write() and not yet written */
    size_t queued_bytes;   /* and their bytes */
    uint64_t write_since;  /* uv_now() since when the oldest of them waits */
    /* In srv's queue of connections waiting for the total budget. */
    struct net__tcp_conn *budget_prev, *budget_next;
    bool budget_wait;
    bool counted; /* holds a count in srv->sources */
    unsigned handles_open; /* handle and timer, until their close callbacks */
    bool reading;
    bool eof;       /* the client half-closed: answer what is buffered, then end */
    bool finishing; /* no more queries: close once the queued answers are out */
    bool closing;
    size_t rlen;
    uint8_t rbuf[TCP_READ_BUF];
};

typedef struct tcp_write {
    uv_write_t req; /* first, so the request is the allocation */
    struct net__tcp_conn *conn;
    unsigned answers;
    size_t bytes;
    uint8_t data[];
} tcp_write_t;

static void tcp_pump(struct net__tcp_conn *conn);
static void tcp_budget_wake(net_server_t *srv);

static bool tcp_log_due(net_server_t *srv, uint64_t *last)
{
    uint64_t now = uv_now(srv->loop);
    if (*last != 0 && now - *last < TCP_LOG_INTERVAL_MS)
        return false;
    *last = now != 0 ? now : 1;
    return true;
}

/* ------------------------------------------------------------ sockets */

int net__tcp_bind(struct sockaddr_storage *ss, socklen_t len, int *fd_out)
{
    /* The socket is made here rather than by uv_tcp_bind(): libuv reports
     * EADDRINUSE only at uv_listen(), and a failed start must leave no
     * handle behind on the caller's loop. */
    int on = 1;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
        goto fail;
    if (ss->ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)
        goto fail;
    if (bind(fd, (const struct sockaddr *)ss, len) < 0)
        goto fail;
    if (listen(fd, TCP_BACKLOG) < 0)
        goto fail;
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0)
        goto fail;
    net__addr_set_port((struct sockaddr *)ss, net__addr_port((struct sockaddr *)&bound));
    *fd_out = fd;
    return 0;
fail:;
    int err = errno;
    close(fd);
    return -err;
}

static void tcp_free_handle(uv_handle_t *h) { free(h); }

/* ------------------------------------------------------------ connections */

static void tcp_conn_closed(uv_handle_t *h)
{
    struct net__tcp_conn *conn = h->data;
    net_server_t *srv = conn->srv;

    if (--conn->handles_open > 0)
        return;
    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        srv->conns = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    if (conn->counted)
        net__tcp_sources_release(srv->sources, (const struct sockaddr *)&conn->addr);
    srv->n_conns--;
    atomic_store_explicit(&stats_net.tcp_open, srv->n_conns, memory_order_relaxed);
    free(conn);
}

static void tcp_budget_leave(struct net__tcp_conn *conn)
{
    net_server_t *srv = conn->srv;

    if (!conn->budget_wait)
        return;
    conn->budget_wait = false;
    if (conn->budget_prev != NULL)
        conn->budget_prev->budget_next = conn->budget_next;
    else
        srv->budget_head = conn->budget_next;
    if (conn->budget_next != NULL)
        conn->budget_next->budget_prev = conn->budget_prev;
    else
        srv->budget_tail = conn->budget_prev;
    conn->budget_prev = conn->budget_next = NULL;
}

static void tcp_budget_join(struct net__tcp_conn *conn)
{
    net_server_t *srv = conn->srv;

    if (conn->budget_wait)
        return;
    conn->budget_wait = true;
    conn->budget_prev = srv->budget_tail;
    conn->budget_next = NULL;
    if (srv->budget_tail != NULL)
        srv->budget_tail->budget_next = conn;
    else
        srv->budget_head = conn;
    srv->budget_tail = conn;
}

/* Closes at once; queued writes are cancelled (their callbacks run first).
 * With reset, the client gets an RST and the kernel drops what it still
 * holds for it, rather than keep trying to deliver it to a client that
 * does not read. */
static void tcp_close_how(struct net__tcp_conn *conn, bool reset)
{
    if (conn->closing)
        return;
    conn->closing = true;
    conn->reading = false;
    tcp_budget_leave(conn);
    if (!reset || uv_tcp_close_reset(&conn->handle, tcp_conn_closed) < 0)
        uv_close((uv_handle_t *)&conn->handle, tcp_conn_closed);
    uv_close((uv_handle_t *)&conn->timer, tcp_conn_closed);
}

static void tcp_close(struct net__tcp_conn *conn) { tcp_close_how(conn, false); }

static void tcp_queued_add(net_server_t *srv, struct net__tcp_conn *conn, size_t bytes)
{
    conn->queued_bytes += bytes;
    srv->queued_bytes += bytes;
    atomic_store_explicit(&stats_net.tcp_queued_bytes, srv->queued_bytes,
                          memory_order_relaxed);
}

static void tcp_queued_sub(net_server_t *srv, struct net__tcp_conn *conn, size_t bytes)
{
    conn->queued_bytes -= bytes;
    srv->queued_bytes -= bytes;
    atomic_store_explicit(&stats_net.tcp_queued_bytes, srv->queued_bytes,
                          memory_order_relaxed);
}

/* Whether conn may answer more, counting the extra bytes and answers it
 * is about to add. */
static bool tcp_within_budget(const struct net__tcp_conn *conn, size_t extra_bytes,
                              unsigned extra_answers)
{
    const net_server_t *srv = conn->srv;
    return conn->queued + extra_answers < srv->tcp_max_pipeline &&
           conn->queued_bytes + extra_bytes < srv->tcp_max_queued_bytes &&
           srv->queued_bytes + extra_bytes < srv->tcp_max_queued_total;
}

static void tcp_touch(struct net__tcp_conn *conn) { conn->last_active = uv_now(conn->srv->loop); }

static void tcp_on_timer(uv_timer_t *t)
{
    struct net__tcp_conn *conn = t->data;
    net_server_t *srv = conn->srv;

    /* Activity only records a time; the timer is re-armed here for what is
     * left rather than on every query. At stop the grace period is final.
     * While answers wait to be written the write deadline applies, not the
     * idle timeout. */
    if (srv->tcp_stopping) {
        tcp_close(conn);
        return;
    }
    uint64_t now = uv_now(srv->loop);
    if (conn->queued > 0) {
        uint64_t waited = now - conn->write_since;
        if (waited < srv->tcp_write_timeout_ms) {
            uv_timer_start(t, tcp_on_timer, srv->tcp_write_timeout_ms - waited, 0);
            return;
        }
        stats_bump(&stats_net.tcp_write_timeouts);
        if (tcp_log_due(srv, &srv->tcp_timeout_logged)) {
            char addr[NET_ADDRSTRLEN];
            net__addr_format((const struct sockaddr *)&conn->addr, addr, sizeof(addr));
            log_warnx("tcp: %s: answers not taken within %u ms (%zu bytes waiting): "
                      "connection reset", addr, srv->tcp_write_timeout_ms,
                      conn->queued_bytes);
        }
        tcp_close_how(conn, true);
        return;
    }
    uint64_t idle = now - conn->last_active;
    if (idle < srv->tcp_idle_timeout_ms) {
        uv_timer_start(t, tcp_on_timer, srv->tcp_idle_timeout_ms - idle, 0);
        return;
    }
    tcp_close(conn);
}

static void tcp_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct net__tcp_conn *conn = h->data;
    buf->base = (char *)conn->rbuf + conn->rlen;
    buf->len = TCP_READ_BUF - conn->rlen;
}

static void tcp_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct net__tcp_conn *conn = s->data;

    if (nread == 0)
        return; /* EAGAIN */
    if (nread == UV_EOF) {
        /* libuv has stopped reading; what is buffered is still answered. */
        conn->reading = false;
        conn->eof = true;
        tcp_pump(conn);
        return;
    }
    if (nread < 0) {
        tcp_close(conn);
        return;
    }
    conn->rlen += (size_t)nread;
    tcp_pump(conn);
}

static void tcp_read_start(struct net__tcp_conn *conn)
{
    if (conn->reading)
        return;
    if (uv_read_start((uv_stream_t *)&conn->handle, tcp_on_alloc, tcp_on_read) < 0) {
        tcp_close(conn);
        return;
    }
    conn->reading = true;
}

static void tcp_read_stop(struct net__tcp_conn *conn)
{
    if (!conn->reading)
        return;
    uv_read_stop((uv_stream_t *)&conn->handle);
    conn->reading = false;
}

/* After a write of conn's completed (status its result). */
static void tcp_written(struct net__tcp_conn *conn, int status)
{
    net_server_t *srv = conn->srv;

    if (status < 0) {
        tcp_close(conn);
        return;
    }
    tcp_touch(conn);
    conn->write_since = conn->last_active;
    if (conn->finishing) {
        if (conn->queued == 0)
            tcp_close(conn);
        return;
    }
    /* Its client reads: it goes on ahead of the queue for the total
     * budget, or clients that do not read would hold it up until their
     * write timeout. */
    if (conn->budget_wait && srv->queued_bytes < srv->tcp_max_queued_total)
        tcp_budget_leave(conn);
    /* Resume at half the limits, not one below them, so that a client
     * pipelining at full speed does not flip reading on and off (an
     * epoll_ctl each) on every answer. */
    if (!conn->reading && !conn->budget_wait && conn->queued <= srv->tcp_max_pipeline / 2 &&
        conn->queued_bytes <= srv->tcp_max_queued_bytes / 2)
        tcp_pump(conn);
}

static void tcp_on_write(uv_write_t *req, int status)
{
    tcp_write_t *w = (tcp_write_t *)req;
    struct net__tcp_conn *conn = w->conn;
    net_server_t *srv = conn->srv;

    conn->queued -= w->answers;
    tcp_queued_sub(srv, conn, w->bytes);
    free(w);
    if (!conn->closing) /* else cancelled by tcp_close() */
        tcp_written(conn, status);
    /* What is left of the bytes freed goes to the connections waiting. */
    tcp_budget_wake(srv);
}

/* Sends the staged answers; -1 when the connection had to be closed. */
static int tcp_flush(struct net__tcp_conn *conn)
{
    net_server_t *srv = conn->srv;
    size_t len = srv->stage_len;
    unsigned answers = srv->stage_answers;

    if (answers == 0)
        return 0;
    srv->stage_len = 0;
    srv->stage_answers = 0;

    uv_buf_t buf = uv_buf_init((char *)srv->stage, (unsigned)len);
    size_t done = 0;
    int r = uv_try_write((uv_stream_t *)&conn->handle, &buf, 1);
    if (r >= 0)
        done = (size_t)r;
    else if (r != UV_EAGAIN)
        goto fail;
    if (done == len) {
        tcp_touch(conn);
        return 0;
    }

    tcp_write_t *w = malloc(sizeof(*w) + (len - done));
    if (w == NULL)
        goto fail;
    memcpy(w->data, srv->stage + done, len - done);
    w->conn = conn;
    w->answers = answers;
    w->bytes = len - done;
    buf = uv_buf_init((char *)w->data, (unsigned)(len - done));
    if (uv_write(&w->req, (uv_stream_t *)&conn->handle, &buf, 1, tcp_on_write) < 0) {
        free(w);
        goto fail;
    }
    if (conn->queued == 0) {
        /* The write deadline starts now; the timer is brought forward
         * only when it would fire after it. */
        conn->write_since = uv_now(srv->loop);
        uint64_t due = uv_timer_get_due_in(&conn->timer);
        if (due == 0 || due > srv->tcp_write_timeout_ms)
            uv_timer_start(&conn->timer, tcp_on_timer, srv->tcp_write_timeout_ms, 0);
    }
    conn->queued += answers;
    tcp_queued_add(srv, conn, w->bytes);
    return 0;
fail:
    tcp_close(conn);
    return -1;
}

/* Answers one query into the stage. */
static void tcp_answer(struct net__tcp_conn *conn, const uint8_t *query, size_t qlen)
{
    net_server_t *srv = conn->srv;

    /* The handler is always offered a whole NET_MAX_MESSAGE. */
    if (TCP_STAGE_SIZE - srv->stage_len < 2 + NET_MAX_MESSAGE && tcp_flush(conn) < 0)
        return;
    uint8_t *out = srv->stage + srv->stage_len;
    rcu_read_lock();
    size_t n = srv->handler(srv->arg, query, qlen, out + 2, NET_MAX_MESSAGE, &conn->peer);
    rcu_read_unlock();
    tcp_touch(conn);
    if (n == 0 || n > NET_MAX_MESSAGE) {
        conn->finishing = true;
        return;
    }
    out[0] = (uint8_t)(n >> 8);
    out[1] = (uint8_t)n;
    srv->stage_len += 2 + n;
    srv->stage_answers++;
}

/* Answers the complete messages buffered (as far as the pipeline limit
 * lets it), then decides whether to read on, pause or end. */
static void tcp_pump(struct net__tcp_conn *conn)
{
    net_server_t *srv = conn->srv;
    size_t off = 0;

    while (!conn->finishing && !conn->closing) {
        if (!tcp_within_budget(conn, srv->stage_len, srv->stage_answers)) {
            if (tcp_flush(conn) < 0 || !tcp_within_budget(conn, 0, 0))
                break;
        }
        size_t avail = conn->rlen - off;
        if (avail < 2)
            break;
        size_t mlen = ((size_t)conn->rbuf[off] << 8) | conn->rbuf[off + 1];
        if (mlen < NET_DNS_HEADER_SIZE) {
            conn->finishing = true; /* cannot be a DNS message */
            break;
        }
        if (avail - 2 < mlen)
            break;
        tcp_answer(conn, conn->rbuf + off + 2, mlen);
        off += 2 + mlen;
    }
    if (conn->closing)
        return;
    if (off > 0) {
        memmove(conn->rbuf, conn->rbuf + off, conn->rlen - off);
        conn->rlen -= off;
    }
    if (tcp_flush(conn) < 0)
        return;

    bool blocked = !tcp_within_budget(conn, 0, 0);
    if (conn->eof && !blocked)
        conn->finishing = true; /* any incomplete tail is dropped */
    if (conn->finishing) {
        tcp_read_stop(conn);
        if (conn->queued == 0)
            tcp_close(conn);
        return;
    }
    if (blocked) {
        tcp_read_stop(conn);
        /* Its own writes will wake a connection over its own budget; one
         * stopped by the total needs the others' writes to. */
        if (srv->queued_bytes >= srv->tcp_max_queued_total)
            tcp_budget_join(conn);
    } else if (!conn->eof) {
        tcp_read_start(conn);
    }
}

/* Lets the connections waiting for the total budget go on, oldest first,
 * while it lasts; those it runs out on again wait on. */
static void tcp_budget_wake(net_server_t *srv)
{
    if (srv->waking)
        return; /* a pump below wrote, and its callback ran at once */
    srv->waking = true;
    struct net__tcp_conn *last = srv->budget_tail;
    while (srv->budget_head != NULL && srv->queued_bytes < srv->tcp_max_queued_total) {
        struct net__tcp_conn *conn = srv->budget_head;
        tcp_budget_leave(conn);
        tcp_pump(conn); /* may join the queue again, behind last */
        if (conn == last)
            break;
    }
    srv->waking = false;
}

/* Starts serving the accepted socket fd; closes it on failure. */
static void tcp_serve(net_server_t *srv, int fd, const struct sockaddr_storage *from,
                      socklen_t fromlen, bool counted)
{
    struct net__tcp_conn *conn = malloc(sizeof(*conn));
    if (conn == NULL) {
        if (counted)
            net__tcp_sources_release(srv->sources, (const struct sockaddr *)from);
        close(fd);
        return;
    }
    /* Not calloc: the read buffer need not be zeroed. */
    memset(conn, 0, offsetof(struct net__tcp_conn, rbuf));
    conn->srv = srv;
    conn->addr = *from;
    conn->counted = counted;
    uv_tcp_init(srv->loop, &conn->handle);
    uv_timer_init(srv->loop, &conn->timer);
    conn->handle.data = conn;
    conn->timer.data = conn;
    conn->handles_open = 2;
    conn->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = conn;
    srv->conns = conn;
    srv->n_conns++;
    atomic_store_explicit(&stats_net.tcp_open, srv->n_conns, memory_order_relaxed);

    if (uv_tcp_open(&conn->handle, fd) < 0) {
        close(fd); /* not the handle's yet */
        tcp_close(conn);
        return;
    }
    int llen = sizeof(conn->local);
    if (uv_tcp_getsockname(&conn->handle, (struct sockaddr *)&conn->local, &llen) < 0) {
        tcp_close(conn); /* already reset by the client */
        return;
    }
    /* Each write is a batch of whole answers; Nagle would only hold the
     * next batch back waiting for an ACK. */
    uv_tcp_nodelay(&conn->handle, 1);
    /* The kernel's share of the budget: autotuned, a send buffer grows to
     * tcp_wmem's maximum (4 MiB by default) for a client that does not
     * read, memory and copying we would spend on it. The kernel doubles
     * the value for its overhead. */
    int sndbuf = srv->tcp_max_queued_bytes > INT_MAX ? INT_MAX : (int)srv->tcp_max_queued_bytes;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    conn->peer = (net_peer_t){
        .addr = (const struct sockaddr *)&conn->addr,
        .addrlen = fromlen,
        .local = (const struct sockaddr *)&conn->local,
        .tcp = true,
        .worker = srv->udp_workers,
    };
    tcp_touch(conn);
    uv_timer_start(&conn->timer, tcp_on_timer, srv->tcp_idle_timeout_ms, 0);
    tcp_read_start(conn);
}

/* Serves a connection just accepted, or closes it at once when it would
 * pass a limit: the client hears about it now and retries elsewhere. */
static void tcp_admit(net_server_t *srv, int fd, const struct sockaddr_storage *from,
                      socklen_t fromlen)
{
    /* Descriptors are handed out lowest first, so every one below fd is
     * open: a connection whose fd lies in the reserve would leave less
     * than it for everything else. */
    if ((unsigned long)fd + srv->fd_reserve >= srv->fd_limit) {
        stats_bump(&stats_net.tcp_refused_reserve);
        if (tcp_log_due(srv, &srv->tcp_reserve_logged))
            log_warnx("tcp: descriptor %d is among the last %u of the limit %lu, kept for "
                      "health checks, the control socket and reloads: refusing connections",
                      fd, srv->fd_reserve, srv->fd_limit);
        close(fd);
        return;
    }
    if (srv->n_conns >= srv->tcp_max_connections) {
        stats_bump(&stats_net.tcp_refused_full);
        if (tcp_log_due(srv, &srv->tcp_refused_logged))
            log_warnx("tcp: %u connections open, refusing more", srv->n_conns);
        close(fd);
        return;
    }
    bool prefix_full;
    if (net__tcp_sources_acquire(srv->sources, (const struct sockaddr *)from, &prefix_full) <
        0) {
        stats_bump(&stats_net.tcp_refused_source);
        if (tcp_log_due(srv, &srv->tcp_source_logged)) {
            char addr[NET_ADDRSTRLEN];
            net__addr_format((const struct sockaddr *)from, addr, sizeof(addr));
            log_warnx("tcp: %s: its %s holds %u connections (%s): refusing more from it",
                      addr, prefix_full ? "/64" : "address",
                      prefix_full ? srv->tcp_max_per_ipv6_64 : srv->tcp_max_per_address,
                      prefix_full ? "tcp_max_per_ipv6_64" : "tcp_max_per_address");
        }
        close(fd);
        return;
    }
    tcp_serve(srv, fd, from, fromlen, true);
}

static void tcp_accept_poll(net_server_t *srv, bool on);

static void tcp_on_accept_timer(uv_timer_t *t)
{
    net_server_t *srv = t->data;
    /* The spare is given back first: it is what tells the next flood's
     * clients that they were refused. */
    if (srv->spare_fd < 0)
        srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    srv->accept_paused = false;
    if (!srv->tcp_stopping)
        tcp_accept_poll(srv, true);
}

/* accept() found no descriptor. Closing the spare lets one pending
 * connection (and, while the slot lasts, the next ones) be accepted and
 * closed, so its client is not left waiting; then accepting stops for a
 * while, since the listener stays readable and retrying now would spin. */
static void tcp_accept_exhausted(net_server_t *srv, int lfd, int err)
{
    stats_count_emfile(err);
    if (tcp_log_due(srv, &srv->tcp_accept_logged))
        log_warnx("tcp: accept: %s with %u connections open (descriptor limit %lu): refusing "
                  "connections, accepting again in %d ms", strerror(err), srv->n_conns,
                  srv->fd_limit, NET_TCP_ACCEPT_PAUSE_MS);
    if (srv->spare_fd >= 0) {
        close(srv->spare_fd);
        srv->spare_fd = -1;
        for (int i = 0; i < TCP_ACCEPT_BATCH; i++) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0)
                break;
            close(fd);
        }
    }
    tcp_accept_poll(srv, false);
    srv->accept_paused = true;
    uv_timer_start(srv->accept_timer, tcp_on_accept_timer, NET_TCP_ACCEPT_PAUSE_MS, 0);
}

static void tcp_on_listener(uv_poll_t *p, int status, int events)
{
    struct net__tcp_listener *l = p->data;
    net_server_t *srv = l->srv;

    (void)events;
    if (status < 0) {
        if (tcp_log_due(srv, &srv->tcp_accept_logged))
            log_warnx("tcp: listener: %s", uv_strerror(status));
        return;
    }
    for (int i = 0; i < TCP_ACCEPT_BATCH && !srv->accept_paused && !srv->tcp_stopping; i++) {
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof(from);
        int fd = accept4(l->fd, (struct sockaddr *)&from, &fromlen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            tcp_admit(srv, fd, &from, fromlen);
            continue;
        }
        switch (errno) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return;
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
            continue; /* that one connection is gone */
        case EMFILE:
        case ENFILE:
            tcp_accept_exhausted(srv, l->fd, errno);
            return;
        default:
            /* ENOBUFS, ENOMEM and the like: short of kernel memory. The
             * same pause, but nothing to count as descriptors. */
            if (tcp_log_due(srv, &srv->tcp_accept_logged))
                log_warn("tcp: accept");
            tcp_accept_poll(srv, false);
            srv->accept_paused = true;
            uv_timer_start(srv->accept_timer, tcp_on_accept_timer, NET_TCP_ACCEPT_PAUSE_MS, 0);
            return;
        }
    }
}

static void tcp_accept_poll(net_server_t *srv, bool on)
{
    for (size_t li = 0; li < srv->n_listeners; li++) {
        struct net__tcp_listener *l = srv->tcp_listeners[li];
        if (l == NULL)
            continue;
        if (on)
            uv_poll_start(&l->poll, UV_READABLE, tcp_on_listener);
        else
            uv_poll_stop(&l->poll);
    }
}

/* ------------------------------------------------------------ lifecycle */

static void tcp_listener_closed(uv_handle_t *h)
{
    struct net__tcp_listener *l = h->data;
    close(l->fd); /* uv_poll never owns its descriptor */
    free(l);
}

int net__tcp_attach(net_server_t *srv)
{
    srv->stage = malloc(TCP_STAGE_SIZE);
    srv->sources = net__tcp_sources_new(srv->tcp_max_connections, srv->tcp_max_per_address,
                                        srv->tcp_max_per_ipv6_64);
    srv->accept_timer = malloc(sizeof(*srv->accept_timer));
    if (srv->stage == NULL || srv->sources == NULL || srv->accept_timer == NULL) {
        free(srv->accept_timer);
        srv->accept_timer = NULL;
        return -ENOMEM;
    }
    uv_timer_init(srv->loop, srv->accept_timer);
    srv->accept_timer->data = srv;
    srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (size_t li = 0; li < srv->n_listeners; li++) {
        struct net__tcp_listener *l = malloc(sizeof(*l));
        if (l == NULL)
            return -ENOMEM;
        int r = uv_poll_init_socket(srv->loop, &l->poll, srv->tcp_fds[li]);
        if (r < 0) {
            free(l);
            return r; /* the socket is still ours: net__tcp_abort() closes it */
        }
        l->poll.data = l;
        l->srv = srv;
        l->fd = srv->tcp_fds[li];
        srv->tcp_fds[li] = -1;
        srv->tcp_listeners[li] = l;
        if ((r = uv_poll_start(&l->poll, UV_READABLE, tcp_on_listener)) < 0)
            return r;
    }
    return 0;
}

void net__tcp_abort(net_server_t *srv)
{
    for (size_t li = 0; li < srv->n_listeners; li++) {
        if (srv->tcp_listeners != NULL && srv->tcp_listeners[li] != NULL) {
            uv_close((uv_handle_t *)&srv->tcp_listeners[li]->poll, tcp_listener_closed);
            srv->tcp_listeners[li] = NULL;
        }
        if (srv->tcp_fds != NULL && srv->tcp_fds[li] >= 0) {
            close(srv->tcp_fds[li]);
            srv->tcp_fds[li] = -1;
        }
    }
    if (srv->accept_timer != NULL) {
        uv_close((uv_handle_t *)srv->accept_timer, tcp_free_handle);
        srv->accept_timer = NULL;
    }
    if (srv->spare_fd >= 0) {
        close(srv->spare_fd);
        srv->spare_fd = -1;
    }
}

void net__tcp_stop(net_server_t *srv)
{
    srv->tcp_stopping = true;
    net__tcp_abort(srv);
    for (struct net__tcp_conn *conn = srv->conns; conn != NULL; conn = conn->next) {
        if (conn->closing)
            continue;
        conn->finishing = true;
        tcp_read_stop(conn);
        if (conn->queued == 0)
            tcp_close(conn);
        else
            uv_timer_start(&conn->timer, tcp_on_timer, NET_TCP_STOP_GRACE_MS, 0);
    }
}

void net__tcp_release(net_server_t *srv)
{
    free(srv->stage);
    net__tcp_sources_free(srv->sources);
    free(srv->tcp_fds);
    free(srv->tcp_listeners);
}
