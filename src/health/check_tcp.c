/*
 * tcp check: the target is up when a connection to probe:port completes
 * within the timeout. The connection is closed at once; nothing is sent.
 *
 * A probe owns two handles and one connect request; it is freed when all
 * three have called back, whatever order libuv runs them in. Cancelling
 * detaches the target first, so late callbacks report to no one.
 */
#include "config.h"

#include "health/health_internal.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/stats.h"
#include "util/log.h"

typedef struct tcp_probe {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t req;
    health__target_t *target; /* NULL once detached */
    unsigned timeout_ms;
    int pending; /* handles not yet closed + connect request not yet called back */
    bool done;   /* a result was delivered (or the probe was cancelled) */
} tcp_probe_t;

static void probe_release(tcp_probe_t *p)
{
    if (--p->pending == 0)
        free(p);
}

static void probe_closed(uv_handle_t *handle)
{
    probe_release(handle->data);
}

/* Delivers the result once and closes both handles; a connect still in
 * flight then calls back with UV_ECANCELED. */
static void probe_finish(tcp_probe_t *p, bool ok, const char *why)
{
    if (p->done)
        return;
    p->done = true;
    health__target_t *t = p->target;
    p->target = NULL;
    uv_close((uv_handle_t *)&p->tcp, probe_closed);
    uv_close((uv_handle_t *)&p->timer, probe_closed);
    if (t) {
        t->inflight = NULL;
        health__check_result(t, ok, why);
    }
}

static void probe_connected(uv_connect_t *req, int status)
{
    tcp_probe_t *p = req->data;
    probe_finish(p, status == 0, status == 0 ? NULL : uv_strerror(status));
    probe_release(p);
}

static void probe_timed_out(uv_timer_t *timer)
{
    tcp_probe_t *p = timer->data;
    char why[64];
    snprintf(why, sizeof(why), "no connection within %u ms", p->timeout_ms);
    probe_finish(p, false, why);
}

/* Why a probe could not start; out of descriptors is this server's fault,
 * not the backend's, and counted as such. */
static const char *tcp_probe_error(int rc)
{
    if (stats_count_emfile(rc))
        return "no descriptor for the probe (this server is out of descriptors, not the "
               "backend)";
    return uv_strerror(rc);
}

void health__tcp_start(health__target_t *t)
{
    health_t *h = t->h;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (t->probe.family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(t->port);
        memcpy(&sin->sin_addr, t->probe.addr, 4);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(t->port);
        memcpy(&sin6->sin6_addr, t->probe.addr, 16);
    }

    tcp_probe_t *p = calloc(1, sizeof(*p));
    if (!p) {
        health__check_result(t, false, "out of memory");
        return;
    }
    int rc = uv_tcp_init(h->loop, &p->tcp);
    if (rc < 0) {
        free(p);
        health__check_result(t, false, tcp_probe_error(rc));
        return;
    }
    uv_timer_init(h->loop, &p->timer);
    p->tcp.data = p->timer.data = p->req.data = p;
    p->target = t;
    p->timeout_ms = t->check.timeout_ms ? t->check.timeout_ms : 1000;
    p->pending = 2;
    t->inflight = p;
    rc = uv_tcp_connect(&p->req, &p->tcp, (const struct sockaddr *)&ss, probe_connected);
    if (rc < 0) {
        /* Refused before any packet left (no route, bad port): a failure
         * like any other, reported synchronously. */
        probe_finish(p, false, tcp_probe_error(rc));
        return;
    }
    p->pending++;
    uv_timer_start(&p->timer, probe_timed_out, p->timeout_ms, 0);
}

void health__tcp_cancel(void *probe)
{
    tcp_probe_t *p = probe;
    p->target = NULL;
    probe_finish(p, false, NULL);
}
