/*
 * http and https checks through libcurl's multi interface on the libuv
 * loop: curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION, one
 * uv_poll per socket) and when to call it back (CURLMOPT_TIMERFUNCTION,
 * one uv_timer); we hand events back with curl_multi_socket_action.
 *
 * Which name is used where. The URL names the check's host (or, without
 * one, the served address), and CURLOPT_CONNECT_TO sends the connection to
 * the probe address instead. So the Host header, the TLS server name (SNI)
 * and the certificate check all use that name, exactly as a browser asking
 * for it would, while no DNS lookup ever happens (the connect-to address
 * is an IP literal). With verify_tls and a host, the certificate must be
 * valid for the host; with verify_tls and no host, it must carry the
 * served address as an IP subject alternative name (no SNI is sent for an
 * IP). CONNECT_TO is per transfer, unlike CURLOPT_RESOLVE, whose entries
 * land in the multi handle's shared DNS cache where two targets with one
 * host but different probe addresses would overwrite each other.
 *
 * Every check opens a fresh connection and closes it (a pooled connection
 * would hide a dead listener), follows no redirect, uses no proxy, and
 * keeps at most HEALTH__HTTP_BODY_MAX bytes of the body: once that much
 * has arrived the transfer is cut short and judged on what it has.
 */
#include "config.h"

#include "health/health_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stats/stats.h"
#include "util/log.h"

typedef struct http_probe http_probe_t;
typedef struct http_sock http_sock_t;

struct health__http {
    health_t *h;
    CURLM *multi;
    uv_timer_t *timer;    /* own allocation: freed by its close callback */
    http_probe_t *probes; /* in flight */
    http_sock_t *socks;   /* being polled */
    bool global;          /* holds a curl_global_init reference */
};

struct http_probe {
    health__target_t *target;
    CURL *easy;
    struct curl_slist *connect_to;
    http_probe_t *prev, *next;
    size_t len;
    bool capped; /* the body filled the buffer: the write error is ours */
    int socket_errno; /* why curl could not have a socket, or 0 */
    char err[CURL_ERROR_SIZE];
    char body[HEALTH__HTTP_BODY_MAX];
};

struct http_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    health__http_t *http; /* NULL once closing */
    http_sock_t *prev, *next;
};

static unsigned curl_users; /* curl_global_init/cleanup pairs (loop thread) */

/* ------------------------------------------------------------ sockets and timer */

static void sock_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void sock_close(http_sock_t *s)
{
    health__http_t *http = s->http;
    if (!http)
        return;
    s->http = NULL;
    if (s->prev)
        s->prev->next = s->next;
    else
        http->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static void check_done(health__http_t *http);

static void sock_ready(uv_poll_t *poll, int status, int events)
{
    http_sock_t *s = poll->data;
    health__http_t *http = s->http;
    if (!http)
        return;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(http->multi, s->fd, flags, &running);
    check_done(http);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    health__http_t *http = userp;
    http_sock_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(http->multi, fd, NULL);
            sock_close(s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        if (uv_poll_init_socket(http->h->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        s->fd = fd;
        s->http = http;
        s->next = http->socks;
        if (s->next)
            s->next->prev = s;
        http->socks = s;
        curl_multi_assign(http->multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, sock_ready);
    return 0;
}

static void timer_fired(uv_timer_t *timer)
{
    health__http_t *http = timer->data;
    int running;
    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(http);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    health__http_t *http = userp;
    if (!http->timer)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(http->timer);
    else /* 0 too: curl may not be re-entered from this callback */
        uv_timer_start(http->timer, timer_fired, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ------------------------------------------------------------ probes */

static size_t body_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    http_probe_t *p = userp;
    size_t n = size * nmemb, room = sizeof(p->body) - p->len;
    if (n > room) {
        memcpy(p->body + p->len, data, room);
        p->len += room;
        p->capped = true;
        return 0; /* enough: curl stops with CURLE_WRITE_ERROR */
    }
    memcpy(p->body + p->len, data, n);
    p->len += n;
    return n;
}

static void probe_unlink(health__http_t *http, http_probe_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        http->probes = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void probe_free(health__http_t *http, http_probe_t *p)
{
    probe_unlink(http, p);
    /* Removing the handle may call socket_cb (REMOVE) right here. */
    curl_multi_remove_handle(http->multi, p->easy);
    curl_easy_cleanup(p->easy);
    curl_slist_free_all(p->connect_to);
    free(p);
}

/* curl's socket, made here only to learn why it could not be: curl keeps
 * no errno of its own for a failed socket(). */
static curl_socket_t open_socket_cb(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *addr)
{
    http_probe_t *p = clientp;
    (void)purpose;
    int fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd < 0) {
        p->socket_errno = errno;
        return CURL_SOCKET_BAD;
    }
    return fd;
}

static void probe_judge(http_probe_t *p, CURLcode result, bool *ok, char *why, size_t size)
{
    const conf_health_check_t *c = &p->target->check;
    *ok = false;
    if (result != CURLE_OK && !(result == CURLE_WRITE_ERROR && p->capped)) {
        /* curl calls it "Couldn't connect": say whose fault it is. */
        snprintf(why, size, "%s%s", p->err[0] ? p->err : curl_easy_strerror(result),
                 stats_count_emfile(p->socket_errno)
                     ? " (this server is out of descriptors, not the backend)" : "");
        return;
    }
    long status = 0;
    curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
    unsigned expect = c->expect_status ? c->expect_status : 200;
    if (status != (long)expect) {
        snprintf(why, size, "HTTP status %ld, expected %u", status, expect);
        return;
    }
    if (c->expect_body && *c->expect_body &&
        !memmem(p->body, p->len, c->expect_body, strlen(c->expect_body))) {
        snprintf(why, size, "body lacks \"%.60s\"%s", c->expect_body,
                 p->capped ? " in its first 4 KB" : "");
        return;
    }
    *ok = true;
}

static void check_done(health__http_t *http)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(http->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        http_probe_t *p = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&p);
        if (!p)
            continue;
        bool ok = false;
        char why[CURL_ERROR_SIZE + 64] = "";
        health__target_t *t = p->target;
        if (t)
            probe_judge(p, result, &ok, why, sizeof(why));
        probe_free(http, p);
        if (t) {
            t->inflight = NULL;
            health__check_result(t, ok, ok ? NULL : why);
        }
        if (!http->multi)
            return; /* a result's on_change stopped everything */
    }
}

static bool probe_setup(http_probe_t *p, const health__target_t *t)
{
    const conf_health_check_t *c = &t->check;
    bool https = c->type == CONF_CHECK_HTTPS;
    char served[INET6_ADDRSTRLEN], probe[INET6_ADDRSTRLEN];
    health__address_text(&t->addr, served, sizeof(served));
    health__address_text(&t->probe, probe, sizeof(probe));

    char host[300];
    if (c->host && *c->host)
        snprintf(host, sizeof(host), "%s", c->host);
    else if (t->addr.family == AF_INET6)
        snprintf(host, sizeof(host), "[%s]", served);
    else
        snprintf(host, sizeof(host), "%s", served);
    const char *path = c->path && *c->path ? c->path : "/";
    size_t url_len = strlen(host) + strlen(path) + 32;
    char *url = malloc(url_len);
    if (!url)
        return false;
    snprintf(url, url_len, "%s://%s:%u%s%s", https ? "https" : "http", host, t->port,
             path[0] == '/' ? "" : "/", path);

    /* Empty host and port match whatever the URL says. */
    char connect_to[INET6_ADDRSTRLEN + 16];
    if (t->probe.family == AF_INET6)
        snprintf(connect_to, sizeof(connect_to), "::[%s]:%u", probe, t->port);
    else
        snprintf(connect_to, sizeof(connect_to), "::%s:%u", probe, t->port);
    p->connect_to = curl_slist_append(NULL, connect_to);

    CURL *e = p->easy;
    long timeout = c->timeout_ms ? (long)c->timeout_ms : 1000;
    bool set = p->connect_to && curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK;
    free(url);
    set = set && curl_easy_setopt(e, CURLOPT_CONNECT_TO, p->connect_to) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_PRIVATE, p) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, p) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->err) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_WRITEDATA, p) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_NOPROXY, "*") == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_USERAGENT, "meridian-health/" PACKAGE_VERSION) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
    set = set && curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#endif
    if (https) {
        long verify = c->verify_tls ? 1L : 0L;
        set = set && curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L) == CURLE_OK;
    }
    return set;
}

void health__http_start(health__target_t *t)
{
    health__http_t *http = t->h->http;
    if (!http || !http->multi) {
        health__check_result(t, false, "libcurl is not available");
        return;
    }
    http_probe_t *p = calloc(1, sizeof(*p));
    if (!p) {
        health__check_result(t, false, "out of memory");
        return;
    }
    p->easy = curl_easy_init();
    if (!p->easy || !probe_setup(p, t) ||
        curl_multi_add_handle(http->multi, p->easy) != CURLM_OK) {
        if (p->easy)
            curl_easy_cleanup(p->easy);
        curl_slist_free_all(p->connect_to);
        free(p);
        health__check_result(t, false, "cannot set up the HTTP request");
        return;
    }
    p->target = t;
    p->next = http->probes;
    if (p->next)
        p->next->prev = p;
    http->probes = p;
    t->inflight = p;
}

void health__http_cancel(health_t *h, void *probe)
{
    http_probe_t *p = probe;
    p->target = NULL;
    if (h->http && h->http->multi)
        probe_free(h->http, p);
}

/* ------------------------------------------------------------ life cycle */

static void curl_timer_closed(uv_handle_t *handle)
{
    free(handle);
}

int health__http_init(health_t *h)
{
    health__http_t *http = calloc(1, sizeof(*http));
    if (!http)
        return -1;
    http->h = h;
    h->http = http;
    if (curl_users == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    curl_users++;
    http->global = true;
    http->multi = curl_multi_init();
    http->timer = calloc(1, sizeof(*http->timer));
    if (!http->multi || !http->timer) {
        if (http->multi)
            curl_multi_cleanup(http->multi);
        http->multi = NULL;
        free(http->timer);
        http->timer = NULL;
        return -1;
    }
    uv_timer_init(h->loop, http->timer);
    http->timer->data = http;
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    return 0;
}

void health__http_stop(health_t *h)
{
    health__http_t *http = h->http;
    if (!http || !http->multi)
        return;
    while (http->probes) {
        health__target_t *t = http->probes->target;
        if (t)
            t->inflight = NULL;
        probe_free(http, http->probes);
    }
    /* No transfer is left, so curl has no more reason to call us; stop
     * polling (while the descriptors are still open) before it closes
     * whatever it still holds. */
    while (http->socks)
        sock_close(http->socks);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, NULL);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, NULL);
    curl_multi_cleanup(http->multi);
    http->multi = NULL;
    uv_close((uv_handle_t *)http->timer, curl_timer_closed);
    http->timer = NULL;
}

void health__http_free(health_t *h)
{
    health__http_t *http = h->http;
    if (!http)
        return;
    h->http = NULL;
    if (http->global && --curl_users == 0)
        curl_global_cleanup();
    free(http);
}
