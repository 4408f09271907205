/*
 * ctl: the control socket server (protocol in ctl.h): its clients, their
 * bounds and framing. The requests and commands are in commands.c.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/ctl_internal.h"
#include "stats/stats.h"
#include "util/log.h"

/* One reply line being written; freed by its callback. */
typedef struct ctl_write {
    uv_write_t req;
    char text[]; /* the JSON and its newline */
} ctl_write_t;

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

/* ------------------------------------------------------------ framing */

static void ctl_on_client_closed(uv_handle_t *h)
{
    ctl_client_t *cl = h->data;
    if (--cl->open_handles > 0)
        return;
    bool trim = cl->cut_off;
    free(cl->buf);
    free(cl);
#ifdef __GLIBC__
    /* The replies it left unread were many small blocks: give the pages
     * back now rather than when the heap's top happens to be free. */
    if (trim)
        malloc_trim(0);
#else
    (void)trim;
#endif
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
    if (cl->refused)
        c->n_refused--;
    else if (cl->served)
        c->n_clients--;
    if (cl->pending)
        cl->pending->client = NULL;
    uv_read_stop((uv_stream_t *)&cl->pipe);
    uv_timer_stop(&cl->idle);
    /* replies still queued are cancelled: their callbacks free them */
    uv_close((uv_handle_t *)&cl->pipe, ctl_on_client_closed);
    uv_close((uv_handle_t *)&cl->idle, ctl_on_client_closed);
}

static void ctl_on_idle(uv_timer_t *t)
{
    ctl_client_close(t->data);
}

/* The idle deadline starts again: only when a whole request line came
 * in, so a client trickling bytes cannot hold its slot. */
static void ctl_client_touch(ctl_client_t *cl)
{
    uv_timer_start(&cl->idle, ctl_on_idle, cl->ctl->idle_ms, 0);
}

static void ctl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    /* what a client sends after its last reply is read and dropped */
    static char dropped[4096];
    ctl_client_t *cl = h->data;
    (void)suggested;
    if (cl->draining || !cl->buf)
        *buf = uv_buf_init(dropped, sizeof(dropped));
    else
        *buf = uv_buf_init(cl->buf + cl->len, (unsigned)(CTL_MAX_LINE + 1 - cl->len));
}

static void ctl_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void ctl_on_shutdown(uv_shutdown_t *req, int status)
{
    if (status < 0)
        ctl_client_close(req->handle->data);
}

/* After cl's last reply: its write side is shut down once the reply is
 * out, so the client reads the reply and then the end; what it still
 * sends is read and dropped (closing with its request unread would make
 * its send fail before it could read why). The connection closes at the
 * client's end or after CTL_LINGER_MS. */
static void ctl_client_finish(ctl_client_t *cl)
{
    cl->draining = true;
    uv_timer_start(&cl->idle, ctl_on_idle, CTL_LINGER_MS, 0);
    if (uv_shutdown(&cl->shutdown, (uv_stream_t *)&cl->pipe, ctl_on_shutdown) < 0) {
        ctl_client_close(cl);
        return;
    }
    uv_read_start((uv_stream_t *)&cl->pipe, ctl_alloc, ctl_on_read);
}

static void ctl_on_written(uv_write_t *req, int status)
{
    (void)status; /* a failed write ends in a failed read, which closes */
    free(req);    /* the ctl_write_t it starts */
}

static const char ctl_no_memory_reply[] =
    "{\"version\":1,\"ok\":false,\"error\":\"out of memory: meridiand could not build the "
    "reply, try again\"}\n";

/* The reply when a reply could not be built: static, written with the
 * client's own request, then the connection closes. */
static void ctl_send_no_memory(ctl_client_t *cl)
{
    if (cl->closing || cl->draining)
        return;
    log_warnx("control socket: out of memory answering a client");
    uv_buf_t buf = uv_buf_init((char *)ctl_no_memory_reply, sizeof(ctl_no_memory_reply) - 1);
    if (uv_write(&cl->no_memory, (uv_stream_t *)&cl->pipe, &buf, 1, NULL) < 0) {
        ctl_client_close(cl);
        return;
    }
    ctl_client_finish(cl);
}

/* Queues reply for cl (see ctl_internal.h). A client that leaves
 * more than CTL_MAX_OUTPUT bytes of replies unread is cut off; a single
 * reply, however long, is always queued when nothing else waits. */
void ctl__send(ctl_client_t *cl, json_t *reply, bool close_after)
{
    if (cl->closing || cl->draining)
        return;
    size_t len = reply ? json_dumpb(reply, NULL, 0, JSON_COMPACT) : 0;
    ctl_write_t *w = len ? malloc(sizeof(*w) + len + 1) : NULL;
    if (!w || json_dumpb(reply, w->text, len, JSON_COMPACT) != len) {
        free(w);
        ctl_send_no_memory(cl);
        return;
    }
    w->text[len] = '\n';
    size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&cl->pipe);
    if (queued > 0 && queued + len + 1 > CTL_MAX_OUTPUT) {
        free(w);
        log_warnx("control socket: a client left %zu bytes of replies unread: disconnected",
                  queued);
        cl->cut_off = true;
        ctl_client_close(cl);
        return;
    }
    uv_buf_t buf = uv_buf_init(w->text, (unsigned)(len + 1));
    if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &buf, 1, ctl_on_written) < 0) {
        free(w);
        ctl_client_close(cl);
        return;
    }
    if (close_after)
        ctl_client_finish(cl);
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
    json_t *reply = json_pack("{s:i, s:b, s:s}", "version", CTL_PROTOCOL_VERSION, "ok", 0,
                              "error", msg);
    ctl__send(cl, reply, true);
    json_decref(reply);
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
        ctl_client_touch(cl);
        bool close_after = false, deferred = false;
        json_t *reply = ctl__handle_line(cl->ctl, cl, cl->buf + start, i - start, &close_after,
                                        &deferred);
        start = i + 1;
        if (deferred) {
            memmove(cl->buf, cl->buf + start, cl->len - start);
            cl->len -= start;
            uv_read_stop((uv_stream_t *)&cl->pipe);
            uv_timer_stop(&cl->idle);
            return;
        }
        ctl__send(cl, reply, close_after);
        json_decref(reply);
        /* a command may have stopped the server, or the line ended us */
        if (cl->closing || cl->draining)
            return;
    }
    memmove(cl->buf, cl->buf + start, cl->len - start);
    cl->len -= start;
    if (cl->len == CTL_MAX_LINE + 1)
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
    if (nread == 0 || cl->closing || cl->draining)
        return;
    size_t scanned = cl->len;
    cl->len += (size_t)nread;
    ctl_process(cl, scanned);
}

/* After a reload's reply: the requests that came behind it, then reading
 * again. */
void ctl__client_resume(ctl_client_t *cl)
{
    if (cl->closing || cl->draining)
        return;
    ctl_client_touch(cl);
    ctl_process(cl, 0);
    if (!cl->pending && !cl->closing && !cl->draining)
        uv_read_start((uv_stream_t *)&cl->pipe, ctl_alloc, ctl_on_read);
}

static void ctl_accept_spare(ctl_t *c);

static void ctl_on_spare_closed(uv_handle_t *h)
{
    ctl_t *c = h->data;
    c->spare_busy = false;
    if (c->accept_owed && !c->stopped)
        ctl_accept_spare(c);
}

/* No memory for a client: libuv holds the connection it accepted until
 * uv_accept() takes it, and stops listening meanwhile. Take it into a
 * handle kept for this and close it, so the next client is served. */
static void ctl_accept_spare(ctl_t *c)
{
    c->accept_owed = c->spare_busy;
    if (c->spare_busy)
        return; /* on_spare_closed comes back for it */
    c->spare_busy = true;
    uv_pipe_init(c->loop, &c->spare, 0);
    c->spare.data = c;
    uv_accept((uv_stream_t *)&c->listener, (uv_stream_t *)&c->spare);
    uv_close((uv_handle_t *)&c->spare, ctl_on_spare_closed);
}

static void ctl_on_connection(uv_stream_t *server, int status)
{
    ctl_t *c = server->data;
    if (status < 0) {
        stats_count_emfile(status);
        log_warnx("control socket: %s", uv_strerror(status));
        return;
    }
    ctl_client_t *cl = calloc(1, sizeof(*cl));
    if (!cl) {
        log_warnx("control socket: out of memory for a client");
        ctl_accept_spare(c);
        return;
    }
    cl->ctl = c;
    uv_pipe_init(c->loop, &cl->pipe, 0);
    uv_timer_init(c->loop, &cl->idle);
    cl->pipe.data = cl->idle.data = cl;
    cl->open_handles = 2;
    cl->next = c->clients;
    if (c->clients)
        c->clients->prev = cl;
    c->clients = cl;
    if (uv_accept(server, (uv_stream_t *)&cl->pipe) < 0) {
        ctl_client_close(cl);
        return;
    }
    if (c->n_clients >= CTL_MAX_CLIENTS) {
        /* told why, and its request drained, for CTL_LINGER_MS at most;
         * past as many again being told, closed without a word */
        cl->refused = true;
        if (++c->n_refused > CTL_MAX_CLIENTS)
            ctl_client_close(cl);
        else
            ctl_send_error(cl, "too many clients: at most %d at once", CTL_MAX_CLIENTS);
        return;
    }
    cl->buf = malloc(CTL_MAX_LINE + 1);
    if (!cl->buf) {
        ctl_send_no_memory(cl);
        return;
    }
    cl->served = true;
    c->n_clients++;
    ctl_client_touch(cl);
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
    c->idle_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : CTL_IDLE_TIMEOUT_MS;

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
