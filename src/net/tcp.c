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
 * Back-pressure: when tcp_max_pipeline answers wait to be written the
 * connection stops reading (and stops answering what it has buffered)
 * until half of them are out, so a client that does not read cannot make
 * us queue without bound. The idle timer closes connections that neither
 * send a query nor take an answer for tcp_idle_timeout_ms.
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
#include <unistd.h>

#include <urcu.h>

#include "net/net_internal.h"
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

struct net__tcp_conn {
    uv_tcp_t handle;
    uv_timer_t timer;
    net_server_t *srv;
    struct net__tcp_conn *prev, *next;
    net_peer_t peer;
    struct sockaddr_storage addr, local;
    uint64_t last_active;  /* uv_now() of the last query or finished write */
    unsigned queued;       /* answers given to uv_write() and not yet written */
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
    uint8_t data[];
} tcp_write_t;

static void tcp_pump(struct net__tcp_conn *conn);

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
    srv->n_conns--;
    free(conn);
}

/* Closes at once; queued writes are cancelled (their callbacks run first). */
static void tcp_close(struct net__tcp_conn *conn)
{
    if (conn->closing)
        return;
    conn->closing = true;
    conn->reading = false;
    uv_close((uv_handle_t *)&conn->handle, tcp_conn_closed);
    uv_close((uv_handle_t *)&conn->timer, tcp_conn_closed);
}

static void tcp_touch(struct net__tcp_conn *conn) { conn->last_active = uv_now(conn->srv->loop); }

static void tcp_on_timer(uv_timer_t *t)
{
    struct net__tcp_conn *conn = t->data;
    net_server_t *srv = conn->srv;

    /* Activity only records a time; the timer is re-armed here for what is
     * left rather than on every query. At stop the grace period is final. */
    if (!srv->tcp_stopping) {
        uint64_t idle = uv_now(srv->loop) - conn->last_active;
        if (idle < srv->tcp_idle_timeout_ms) {
            uv_timer_start(t, tcp_on_timer, srv->tcp_idle_timeout_ms - idle, 0);
            return;
        }
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

static void tcp_on_write(uv_write_t *req, int status)
{
    tcp_write_t *w = (tcp_write_t *)req;
    struct net__tcp_conn *conn = w->conn;

    conn->queued -= w->answers;
    free(w);
    if (conn->closing)
        return; /* cancelled by tcp_close() */
    if (status < 0) {
        tcp_close(conn);
        return;
    }
    tcp_touch(conn);
    if (conn->finishing) {
        if (conn->queued == 0)
            tcp_close(conn);
        return;
    }
    /* Resume at half the limit, not one below it, so that a client
     * pipelining at full speed does not flip reading on and off (an
     * epoll_ctl each) on every answer. */
    if (!conn->reading && conn->queued <= conn->srv->tcp_max_pipeline / 2)
        tcp_pump(conn);
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
    buf = uv_buf_init((char *)w->data, (unsigned)(len - done));
    if (uv_write(&w->req, (uv_stream_t *)&conn->handle, &buf, 1, tcp_on_write) < 0) {
        free(w);
        goto fail;
    }
    conn->queued += answers;
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
    unsigned max = srv->tcp_max_pipeline;
    size_t off = 0;

    while (!conn->finishing && !conn->closing) {
        if (conn->queued + srv->stage_answers >= max) {
            if (tcp_flush(conn) < 0 || conn->queued >= max)
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

    bool blocked = conn->queued >= max;
    if (conn->eof && !blocked)
        conn->finishing = true; /* any incomplete tail is dropped */
    if (conn->finishing) {
        tcp_read_stop(conn);
        if (conn->queued == 0)
            tcp_close(conn);
        return;
    }
    if (blocked)
        tcp_read_stop(conn);
    else if (!conn->eof)
        tcp_read_start(conn);
}

/* Above the connection cap (or out of memory): accept and close at once,
 * so the client hears about it now. Not accepting would leave it hanging
 * in the backlog, and libuv stops watching a listener whose pending
 * connection is not accepted. */
static void tcp_refuse(net_server_t *srv, uv_stream_t *server)
{
    uv_tcp_t *h = malloc(sizeof(*h));
    if (h == NULL) {
        log_warnx("tcp: out of memory while refusing a connection");
        return;
    }
    uv_tcp_init(srv->loop, h);
    (void)uv_accept(server, (uv_stream_t *)h);
    uv_close((uv_handle_t *)h, tcp_free_handle);
}

static void tcp_on_connection(uv_stream_t *server, int status)
{
    net_server_t *srv = server->data;

    if (status < 0) {
        if (tcp_log_due(srv, &srv->tcp_accept_logged))
            log_warnx("tcp: accept: %s", uv_strerror(status));
        return;
    }
    if (srv->n_conns >= srv->tcp_max_connections) {
        if (tcp_log_due(srv, &srv->tcp_refused_logged))
            log_warnx("tcp: %u connections open, refusing more", srv->n_conns);
        tcp_refuse(srv, server);
        return;
    }
    struct net__tcp_conn *conn = malloc(sizeof(*conn));
    if (conn == NULL) {
        tcp_refuse(srv, server);
        return;
    }
    /* Not calloc: the read buffer need not be zeroed. */
    memset(conn, 0, offsetof(struct net__tcp_conn, rbuf));
    conn->srv = srv;
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

    if (uv_accept(server, (uv_stream_t *)&conn->handle) < 0) {
        tcp_close(conn);
        return;
    }
    int alen = sizeof(conn->addr);
    int llen = sizeof(conn->local);
    if (uv_tcp_getpeername(&conn->handle, (struct sockaddr *)&conn->addr, &alen) < 0 ||
        uv_tcp_getsockname(&conn->handle, (struct sockaddr *)&conn->local, &llen) < 0) {
        tcp_close(conn); /* already reset by the client */
        return;
    }
    /* Each write is a batch of whole answers; Nagle would only hold the
     * next batch back waiting for an ACK. */
    uv_tcp_nodelay(&conn->handle, 1);
    conn->peer = (net_peer_t){
        .addr = (const struct sockaddr *)&conn->addr,
        .addrlen = (socklen_t)alen,
        .local = (const struct sockaddr *)&conn->local,
        .tcp = true,
        .worker = srv->udp_workers,
    };
    tcp_touch(conn);
    uv_timer_start(&conn->timer, tcp_on_timer, srv->tcp_idle_timeout_ms, 0);
    tcp_read_start(conn);
}

/* ------------------------------------------------------------ lifecycle */

int net__tcp_attach(net_server_t *srv)
{
    srv->stage = malloc(TCP_STAGE_SIZE);
    if (srv->stage == NULL)
        return -ENOMEM;
    for (size_t li = 0; li < srv->n_listeners; li++) {
        uv_tcp_t *h = malloc(sizeof(*h));
        if (h == NULL)
            return -ENOMEM;
        int r = uv_tcp_init(srv->loop, h);
        if (r < 0) {
            free(h);
            return r;
        }
        h->data = srv;
        srv->tcp_listeners[li] = h;
        if ((r = uv_tcp_open(h, srv->tcp_fds[li])) < 0)
            return r; /* the socket is still ours: net__tcp_abort() closes it */
        srv->tcp_fds[li] = -1;
        if ((r = uv_listen((uv_stream_t *)h, TCP_BACKLOG, tcp_on_connection)) < 0)
            return r;
    }
    return 0;
}

void net__tcp_abort(net_server_t *srv)
{
    for (size_t li = 0; li < srv->n_listeners; li++) {
        if (srv->tcp_listeners != NULL && srv->tcp_listeners[li] != NULL) {
            uv_close((uv_handle_t *)srv->tcp_listeners[li], tcp_free_handle);
            srv->tcp_listeners[li] = NULL;
        }
        if (srv->tcp_fds != NULL && srv->tcp_fds[li] >= 0) {
            close(srv->tcp_fds[li]);
            srv->tcp_fds[li] = -1;
        }
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
    free(srv->tcp_fds);
    free(srv->tcp_listeners);
}
