/*
 * UDP workers and the server's lifecycle.
 *
 * Every worker owns one SO_REUSEPORT socket per listener, so the kernel
 * spreads queries over the workers and no two threads share a socket or a
 * buffer. A worker sleeps in epoll on its sockets and the server's wake
 * eventfd (with a single listener, in a blocking recvmmsg() on its one
 * socket), then moves packets in batches: recvmmsg() fills up to
 * NET_UDP_BATCH slots, the handler answers each into its own slot and one
 * sendmmsg() sends the batch. Replies leave from the address the query came
 * to (IP_PKTINFO / IPV6_PKTINFO), which a wildcard bind on a host with
 * several addresses needs. Nothing is allocated after start.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "net/net_internal.h"
#include "util/log.h"

/* Batches read from one socket before the worker looks at its other
 * sockets and the stop signal again: a flood on one listener must not
 * starve the others. epoll is level-triggered, so the rest waits there. */
#define UDP_DRAIN_BATCHES 16
/* How long a worker waits for a full send buffer before dropping answers. */
#define UDP_SEND_WAIT_MS 200
/* How often a worker sleeping in recvmmsg() looks at the stop signal. */
#define UDP_STOP_POLL_MS 100
/* epoll tag of the wake eventfd; listeners are tagged with their index. */
#define UDP_WAKE_TAG UINT32_MAX
/* A port-0 listener gets a port from the TCP bind; UDP may find it taken. */
#define BIND_ATTEMPTS 8

typedef union {
    struct cmsghdr align;
    uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
} udp_ctl_t;

/* Where a query arrived, from its packet-info control message. */
typedef struct udp_dst {
    bool known;
    int family;
    struct in_addr v4;  /* IPv4: the address to answer from */
    struct in6_addr v6; /* IPv6: the destination of the query */
    unsigned ifindex;
} udp_dst_t;

struct net__udp_worker {
    net_server_t *srv;
    unsigned index;
    int epoll_fd;
    int *fds; /* one per listener */
    pthread_t thread;
    bool running;
    time_t error_logged; /* last unexpected receive error logged */

    struct mmsghdr rx[NET_UDP_BATCH];
    struct mmsghdr tx[NET_UDP_BATCH];
    struct iovec rx_iov[NET_UDP_BATCH];
    struct iovec tx_iov[NET_UDP_BATCH];
    struct sockaddr_storage from[NET_UDP_BATCH];
    struct sockaddr_storage local[NET_UDP_BATCH];
    udp_ctl_t rx_ctl[NET_UDP_BATCH];
    udp_ctl_t tx_ctl[NET_UDP_BATCH];
    uint8_t *queries; /* NET_UDP_BATCH slots of NET_UDP_MAX_QUERY */
    uint8_t *answers; /* NET_UDP_BATCH slots of NET_MAX_MESSAGE */
    /* tx[i] normally sends answer slot i to from[i] with no control data,
     * so a batch sets only lengths; a batch that skipped a datagram or set
     * a source address leaves tx_moved for the next to undo. */
    bool tx_moved;
    /* rx entries the last recvmmsg() filled, and from which listener: only
     * those can need their lengths reset (see udp_batch()). */
    unsigned rx_used;
    size_t rx_li;
};

void net__addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
    } else {
        snprintf(buf, len, "(address family %d)", sa->sa_family);
    }
}

uint16_t net__addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

void net__addr_set_port(struct sockaddr *sa, uint16_t port)
{
    if (sa->sa_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

/* ------------------------------------------------------------ sockets */

static void udp_setopt_quiet(int fd, int level, int name, int value)
{
    /* Tuning only: the socket works without it. */
    (void)setsockopt(fd, level, name, &value, sizeof(value));
}

/* How IPv4 answers leave. PROBE sets DF and sizes by the interface's MTU,
 * never by a path MTU learnt from ICMP "too big", which an attacker can
 * forge to force fragments open to spoofing: an answer is never fragmented
 * in the network (RFC 9715), and the kernel gives it IP ID 0 where an
 * answer without DF costs a hashed ID from a shared table, about 0.1 us a
 * packet here. An answer longer than the interface's MTU (only when
 * max_udp_size is raised past it) fails with EMSGSIZE, and goes again
 * with UDP_V4_PMTU_LARGE: fragmented here, as before. IPv6 packets carry
 * no ID, so IPv6 keeps OMIT, which fragments at the local MTU. */
#define UDP_V4_PMTU IP_PMTUDISC_PROBE
#define UDP_V4_PMTU_LARGE IP_PMTUDISC_OMIT

/* 0.0.0.0 or ::: the kernel picks the source of an answer unless told. */
static bool udp_is_wildcard(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
    return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/* Only a wildcard socket asks for packet info: on a socket bound to one
 * address every answer leaves from it anyway, and the control messages
 * would cost every query a little in the kernel and here. */
static int udp_socket(const struct sockaddr *sa, socklen_t len, int *fd_out)
{
    bool pktinfo = udp_is_wildcard(sa);
    int on = 1;
    int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0)
        goto fail;
    if (sa->sa_family == AF_INET6) {
        /* So that "[::]:53" and "0.0.0.0:53" can both be bound. */
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)
            goto fail;
        if (pktinfo && setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on)) < 0)
            goto fail;
        /* Fragment at the local MTU instead of trusting ICMP "too big",
         * which an attacker can forge to force fragments open to spoofing. */
        udp_setopt_quiet(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_OMIT);
    } else {
        if (pktinfo && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) < 0)
            goto fail;
        udp_setopt_quiet(fd, IPPROTO_IP, IP_MTU_DISCOVER, UDP_V4_PMTU);
    }
    /* The FORCE variants pass rmem_max/wmem_max when we still run as root;
     * otherwise the kernel caps the plain request. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &(int){NET_SOCKBUF_SIZE}, sizeof(int)) < 0)
        udp_setopt_quiet(fd, SOL_SOCKET, SO_RCVBUF, NET_SOCKBUF_SIZE);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &(int){NET_SOCKBUF_SIZE}, sizeof(int)) < 0)
        udp_setopt_quiet(fd, SOL_SOCKET, SO_SNDBUF, NET_SOCKBUF_SIZE);
    if (bind(fd, sa, len) < 0)
        goto fail;
    *fd_out = fd;
    return 0;
fail:;
    int err = errno;
    close(fd);
    return -err;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void bind_close_listener(net_server_t *srv, size_t li)
{
    close_fd(&srv->tcp_fds[li]);
    for (unsigned w = 0; w < srv->udp_workers; w++)
        close_fd(&srv->workers[w].fds[li]);
}

/* Binds listener li: its TCP socket first, because a TCP bind without
 * SO_REUSEPORT fails when another server (say a second meridiand) already
 * holds the address, where the UDP sockets would silently share the port
 * with it. Then one UDP socket per worker on the same port. */
static int bind_listener(net_server_t *srv, size_t li)
{
    const net_listen_t *l = &srv->listeners[li];
    bool any_port = net__addr_port((const struct sockaddr *)&l->addr) == 0;
    char text[NET_ADDRSTRLEN];

    for (int attempt = 1;; attempt++) {
        struct sockaddr_storage ss = l->addr;
        const struct sockaddr *sa = (const struct sockaddr *)&ss;
        int r = net__tcp_bind(&ss, l->addrlen, &srv->tcp_fds[li]);
        if (r < 0) {
            net__addr_format(sa, text, sizeof(text));
            errno = -r;
            log_warn("tcp: cannot listen on %s", text);
            return r;
        }
        for (unsigned w = 0; w < srv->udp_workers && r == 0; w++)
            r = udp_socket(sa, l->addrlen, &srv->workers[w].fds[li]);
        if (r == 0) {
            srv->ports[li] = net__addr_port(sa);
            srv->bound[li] = ss;
            srv->wildcard[li] = udp_is_wildcard(sa);
            return 0;
        }
        bind_close_listener(srv, li);
        /* The port TCP picked may be taken for UDP: pick another. */
        if (r == -EADDRINUSE && any_port && attempt < BIND_ATTEMPTS)
            continue;
        net__addr_format(sa, text, sizeof(text));
        errno = -r;
        log_warn("udp: cannot bind %s", text);
        return r;
    }
}

/* ------------------------------------------------------------ the worker */

static void udp_parse_dst(struct msghdr *m, int family, udp_dst_t *dst)
{
    dst->known = false;
    if (m->msg_flags & MSG_CTRUNC)
        return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
        if (family == AF_INET && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            /* ipi_spec_dst is the local address to answer from; for a
             * unicast query it is the destination itself. */
            dst->v4 = pi.ipi_spec_dst;
            dst->ifindex = (unsigned)pi.ipi_ifindex;
            dst->family = AF_INET;
            dst->known = true;
            return;
        }
        if (family == AF_INET6 && c->cmsg_level == IPPROTO_IPV6 &&
            c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            dst->v6 = pi.ipi6_addr;
            dst->ifindex = pi.ipi6_ifindex;
            dst->family = AF_INET6;
            dst->known = true;
            return;
        }
    }
}

/* Fills *local (the address the query arrived on) from dst. */
static const struct sockaddr *udp_local_addr(const udp_dst_t *dst, uint16_t port,
                                             struct sockaddr_storage *local)
{
    if (!dst->known)
        return NULL;
    memset(local, 0, sizeof(*local));
    if (dst->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)local;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sin->sin_addr = dst->v4;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)local;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sin6->sin6_addr = dst->v6;
        if (IN6_IS_ADDR_LINKLOCAL(&dst->v6))
            sin6->sin6_scope_id = dst->ifindex;
    }
    return (const struct sockaddr *)local;
}

/* Writes the control message that makes the answer leave from dst. */
static void udp_set_source(struct msghdr *out, udp_ctl_t *ctl, const udp_dst_t *dst)
{
    if (!dst->known) {
        out->msg_control = NULL;
        out->msg_controllen = 0;
        return;
    }
    memset(ctl, 0, sizeof(*ctl));
    out->msg_control = ctl->buf;
    struct cmsghdr *c = (struct cmsghdr *)ctl->buf;
    if (dst->family == AF_INET) {
        /* Interface 0: let routing pick the way out; only the source
         * address is pinned. */
        struct in_pktinfo pi = {.ipi_ifindex = 0, .ipi_spec_dst = dst->v4};
        out->msg_controllen = CMSG_SPACE(sizeof(pi));
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(pi));
        memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    } else {
        /* A link-local address means nothing without its interface. */
        struct in6_pktinfo pi = {
            .ipi6_addr = dst->v6,
            .ipi6_ifindex = IN6_IS_ADDR_LINKLOCAL(&dst->v6) ? dst->ifindex : 0,
        };
        out->msg_controllen = CMSG_SPACE(sizeof(pi));
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(pi));
        memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    }
}

/* Ties every tx entry back to its own slot, with no control data. */
static void udp_tx_tie(struct net__udp_worker *w)
{
    for (unsigned i = 0; i < NET_UDP_BATCH; i++) {
        struct msghdr *out = &w->tx[i].msg_hdr;
        w->tx_iov[i].iov_base = w->answers + (size_t)i * NET_MAX_MESSAGE;
        out->msg_name = &w->from[i];
        out->msg_control = NULL;
        out->msg_controllen = 0;
    }
    w->tx_moved = false;
}

/* Offers the n datagrams received to the prefetch hook. */
static void udp_prefetch(struct net__udp_worker *w, unsigned n)
{
    const uint8_t *queries[NET_UDP_BATCH];
    uint16_t lens[NET_UDP_BATCH];
    for (unsigned i = 0; i < n; i++) {
        queries[i] = w->queries + (size_t)i * NET_UDP_MAX_QUERY;
        lens[i] = w->rx[i].msg_hdr.msg_flags & MSG_TRUNC ? 0 : (uint16_t)w->rx[i].msg_len;
    }
    w->srv->udp_prefetch(w->srv->arg, queries, lens, w->from, n);
}

/* Runs the handler on the n datagrams received; returns how many answers
 * it queued in tx. */
static unsigned udp_answer(struct net__udp_worker *w, size_t li, unsigned n)
{
    net_server_t *srv = w->srv;
    int family = srv->listeners[li].addr.ss_family;
    uint16_t port = srv->ports[li];
    bool wildcard = srv->wildcard[li];
    unsigned k = 0;
    udp_dst_t dst = {.known = false};
    net_peer_t peer = {
        .local = (const struct sockaddr *)&srv->bound[li],
        .tcp = false,
        .worker = w->index,
    };

    if (w->tx_moved)
        udp_tx_tie(w);
    if (srv->udp_prefetch != NULL)
        udp_prefetch(w, n);
    for (unsigned i = 0; i < n; i++) {
        struct msghdr *in = &w->rx[i].msg_hdr;
        if (in->msg_flags & MSG_TRUNC)
            continue; /* longer than any query we take */
        if (wildcard) {
            udp_parse_dst(in, family, &dst);
            peer.local = udp_local_addr(&dst, port, &w->local[i]);
        }
        peer.addr = (const struct sockaddr *)&w->from[i];
        peer.addrlen = in->msg_namelen;
        uint8_t *resp = w->answers + (size_t)i * NET_MAX_MESSAGE;
        size_t len = srv->handler(srv->arg, w->queries + (size_t)i * NET_UDP_MAX_QUERY,
                                  w->rx[i].msg_len, resp, NET_MAX_MESSAGE, &peer);
        if (len == 0 || len > NET_MAX_MESSAGE)
            continue;
        struct msghdr *out = &w->tx[k].msg_hdr;
        if (k != i) { /* an earlier datagram got no answer: close the gap */
            w->tx_iov[k].iov_base = resp;
            out->msg_name = &w->from[i];
            w->tx_moved = true;
        }
        w->tx_iov[k].iov_len = len;
        out->msg_namelen = in->msg_namelen;
        if (wildcard) {
            udp_set_source(out, &w->tx_ctl[k], &dst);
            w->tx_moved = true;
        }
        k++;
    }
    return k;
}

/* Waits until fd can take more, or the server stops, or the wait times
 * out; true when it is worth trying to send again. */
static bool udp_wait_writable(struct net__udp_worker *w, int fd)
{
    struct pollfd p[2] = {
        {.fd = fd, .events = POLLOUT},
        {.fd = w->srv->wake_fd, .events = POLLIN},
    };
    for (;;) {
        int r = poll(p, 2, UDP_SEND_WAIT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        return r > 0 && (p[0].revents & POLLOUT) && !(p[1].revents & POLLIN);
    }
}

/* Sends m, an IPv4 answer longer than the interface's MTU, fragmented
 * (see UDP_V4_PMTU). True when it went. */
static bool udp_send_fragmented(int fd, const struct msghdr *m)
{
    int large = UDP_V4_PMTU_LARGE, usual = UDP_V4_PMTU;
    if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &large, sizeof(large)) < 0)
        return false;
    ssize_t r;
    do
        r = sendmsg(fd, m, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    udp_setopt_quiet(fd, IPPROTO_IP, IP_MTU_DISCOVER, usual);
    return r >= 0;
}

static void udp_send(struct net__udp_worker *w, int fd, int family, unsigned k)
{
    unsigned sent = 0;

    while (sent < k) {
        int r = sendmmsg(fd, w->tx + sent, k - sent, MSG_DONTWAIT);
        if (r > 0) {
            sent += (unsigned)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!udp_wait_writable(w, fd))
                return; /* drop the rest: the client will retry */
            continue;
        }
        if (r < 0 && errno == EMSGSIZE && family == AF_INET &&
            udp_send_fragmented(fd, &w->tx[sent].msg_hdr)) {
            sent++;
            continue;
        }
        /* The first unsent answer was refused (no route, filtered, bad
         * address); one client's trouble must not cost the others theirs. */
        log_debug("udp worker %u: an answer could not be sent (errno %d)", w->index, errno);
        sent++;
    }
}

/* Reads one batch from listener li (flags MSG_DONTWAIT, or MSG_WAITFORONE
 * on a blocking socket), answers it and sends the answers. Returns the
 * datagrams read: 0 when there were none (EAGAIN, EINTR, a receive
 * timeout), -1 after an unexpected error (logged at most once a minute
 * per worker). */
static int udp_batch(struct net__udp_worker *w, size_t li, int flags)
{
    int fd = w->fds[li];
    size_t ctl_len = w->srv->wildcard[li] ? sizeof(w->rx_ctl[0].buf) : 0;

    /* The kernel writes back the lengths it used. A socket's peers all have
     * addresses of one length (an IPv6 socket gives IPv4 peers as mapped
     * addresses), so a name length it left is enough for the next
     * datagram on the same socket; control data (wildcard listeners) needs
     * its full room back every time. */
    unsigned reset = li != w->rx_li ? NET_UDP_BATCH : ctl_len ? w->rx_used : 0;
    for (unsigned i = 0; i < reset; i++) {
        w->rx[i].msg_hdr.msg_namelen = sizeof(w->from[i]);
        w->rx[i].msg_hdr.msg_controllen = ctl_len;
    }
    w->rx_li = li;
    w->rx_used = 0;
    int n = recvmmsg(fd, w->rx, NET_UDP_BATCH, flags, NULL);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        time_t now = time(NULL);
        if (now - w->error_logged >= 60) {
            w->error_logged = now;
            log_warn("udp worker %u: recvmmsg", w->index);
        }
        return -1;
    }
    w->rx_used = (unsigned)n;
    rcu_read_lock();
    unsigned k = udp_answer(w, li, (unsigned)n);
    rcu_read_unlock();
    if (k > 0)
        udp_send(w, fd, w->srv->listeners[li].addr.ss_family, k);
    return n;
}

static void udp_drain(struct net__udp_worker *w, size_t li)
{
    for (unsigned round = 0; round < UDP_DRAIN_BATCHES; round++) {
        /* A short batch means the queue was empty a moment ago: going back
         * to epoll costs the same syscall as reading EAGAIN here. An
         * unexpected error goes back to epoll rather than spinning. */
        if (udp_batch(w, li, MSG_DONTWAIT) < NET_UDP_BATCH ||
            atomic_load_explicit(&w->srv->udp_stop, memory_order_relaxed))
            return;
    }
}

/* With one listener the worker sleeps in recvmmsg() itself: MSG_WAITFORONE
 * waits for the first datagram and takes whatever else is queued, one
 * system call a batch instead of epoll_wait() plus a read that finds the
 * queue empty. A receive timeout lets it see the stop signal. Returns
 * false, having changed nothing, when the socket cannot be set up so. */
static bool udp_worker_blocking(struct net__udp_worker *w)
{
    int fd = w->fds[0];
    struct timeval tv = {.tv_sec = 0, .tv_usec = UDP_STOP_POLL_MS * 1000};
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return false;
    while (!atomic_load_explicit(&w->srv->udp_stop, memory_order_relaxed)) {
        if (udp_batch(w, 0, MSG_WAITFORONE) < 0)
            poll(NULL, 0, UDP_STOP_POLL_MS); /* not a spin on a lasting error */
    }
    return true;
}

static void *udp_worker_main(void *p)
{
    struct net__udp_worker *w = p;
    struct epoll_event ev[8];

    /* Batches are answered inside rcu_read_lock(). */
    rcu_register_thread();
    if (w->srv->n_listeners == 1 && udp_worker_blocking(w)) {
        rcu_unregister_thread();
        return NULL;
    }
    for (;;) {
        int n = epoll_wait(w->epoll_fd, ev, 8, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* Our sockets would keep receiving their share of queries with
             * nobody to answer them: better to stop loudly. */
            fatal("udp worker %u: epoll_wait", w->index);
        }
        bool stop = false;
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u32 == UDP_WAKE_TAG)
                stop = true;
            else
                udp_drain(w, ev[i].data.u32);
        }
        if (stop || atomic_load_explicit(&w->srv->udp_stop, memory_order_relaxed))
            break;
    }
    rcu_unregister_thread();
    return NULL;
}

/* Buffers and epoll set of worker w; its sockets are already bound. */
static int udp_worker_init(net_server_t *srv, struct net__udp_worker *w)
{
    w->queries = malloc((size_t)NET_UDP_BATCH * NET_UDP_MAX_QUERY);
    w->answers = malloc((size_t)NET_UDP_BATCH * NET_MAX_MESSAGE);
    if (w->queries == NULL || w->answers == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < NET_UDP_BATCH; i++) {
        w->rx_iov[i].iov_base = w->queries + (size_t)i * NET_UDP_MAX_QUERY;
        w->rx_iov[i].iov_len = NET_UDP_MAX_QUERY;
        struct msghdr *m = &w->rx[i].msg_hdr;
        m->msg_name = &w->from[i];
        m->msg_iov = &w->rx_iov[i];
        m->msg_iovlen = 1;
        m->msg_control = w->rx_ctl[i].buf;
        struct msghdr *out = &w->tx[i].msg_hdr;
        out->msg_iov = &w->tx_iov[i];
        out->msg_iovlen = 1;
    }
    udp_tx_tie(w);
    w->rx_used = NET_UDP_BATCH;
    w->rx_li = SIZE_MAX;

    w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epoll_fd < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UDP_WAKE_TAG};
    if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, srv->wake_fd, &ev) < 0)
        goto fail;
    for (size_t li = 0; li < srv->n_listeners; li++) {
        ev.data.u32 = (uint32_t)li;
        if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->fds[li], &ev) < 0)
            goto fail;
    }
    return 0;
fail:;
    int err = errno;
    log_warn("udp worker %u: epoll", w->index);
    return -err;
}

static void udp_stop_workers(net_server_t *srv)
{
    uint64_t one = 1;

    atomic_store(&srv->udp_stop, true);
    if (srv->wake_fd >= 0 && write(srv->wake_fd, &one, sizeof(one)) < 0)
        log_warn("udp: cannot wake the workers");
    for (unsigned i = 0; srv->workers != NULL && i < srv->udp_workers; i++) {
        struct net__udp_worker *w = &srv->workers[i];
        if (w->running) {
            pthread_join(w->thread, NULL);
            w->running = false;
        }
    }
}

static int udp_start_workers(net_server_t *srv)
{
    sigset_t all, old;
    int err = 0;

    /* Signals belong to the loop thread; workers inherit this mask. Faults
     * stay deliverable to the thread that causes them. */
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGABRT);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = 0; i < srv->udp_workers; i++) {
        struct net__udp_worker *w = &srv->workers[i];
        err = pthread_create(&w->thread, NULL, udp_worker_main, w);
        if (err != 0) {
            errno = err;
            log_warn("udp: cannot start worker %u", i);
            err = -err;
            break;
        }
        w->running = true;
        char name[16];
        snprintf(name, sizeof(name), "udp-worker-%u", i % 1000);
        pthread_setname_np(w->thread, name);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

static void udp_close_all(net_server_t *srv)
{
    if (srv->workers != NULL) {
        for (unsigned i = 0; i < srv->udp_workers; i++) {
            struct net__udp_worker *w = &srv->workers[i];
            close_fd(&w->epoll_fd);
            for (size_t li = 0; w->fds != NULL && li < srv->n_listeners; li++)
                close_fd(&w->fds[li]);
        }
    }
    close_fd(&srv->wake_fd);
}

/* ------------------------------------------------------------ lifecycle */

static bool listener_valid(const net_listen_t *l)
{
    if (l->addr.ss_family == AF_INET)
        return l->addrlen >= sizeof(struct sockaddr_in) && l->addrlen <= sizeof(l->addr);
    if (l->addr.ss_family == AF_INET6)
        return l->addrlen >= sizeof(struct sockaddr_in6) && l->addrlen <= sizeof(l->addr);
    return false;
}

static void server_release(net_server_t *srv)
{
    if (srv->workers != NULL) {
        for (unsigned i = 0; i < srv->udp_workers; i++) {
            free(srv->workers[i].fds);
            free(srv->workers[i].queries);
            free(srv->workers[i].answers);
        }
    }
    net__tcp_release(srv);
    free(srv->workers);
    free(srv->listeners);
    free(srv->ports);
    free(srv->bound);
    free(srv->wildcard);
    free(srv);
}

static unsigned or_default(unsigned value, unsigned fallback)
{
    return value != 0 ? value : fallback;
}

int net_server_start(net_server_t **out, const net_config_t *cfg, uv_loop_t *loop,
                     net_handler_fn handler, void *arg)
{
    int r;

    *out = NULL;
    if (cfg == NULL || loop == NULL || handler == NULL || cfg->n_listeners == 0 ||
        cfg->listeners == NULL || cfg->udp_workers == 0 || cfg->n_listeners >= UDP_WAKE_TAG)
        return -EINVAL;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        if (!listener_valid(&cfg->listeners[i])) {
            log_warnx("net: listener %zu is not an IPv4 or IPv6 address", i);
            return -EINVAL;
        }
    }

    net_server_t *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return -ENOMEM;
    srv->loop = loop;
    srv->handler = handler;
    srv->udp_prefetch = cfg->udp_prefetch;
    srv->arg = arg;
    srv->n_listeners = cfg->n_listeners;
    srv->udp_workers = cfg->udp_workers;
    srv->tcp_idle_timeout_ms = or_default(cfg->tcp_idle_timeout_ms,
                                          NET_TCP_DEFAULT_IDLE_TIMEOUT_MS);
    srv->tcp_max_connections = or_default(cfg->tcp_max_connections,
                                          NET_TCP_DEFAULT_MAX_CONNECTIONS);
    srv->tcp_max_pipeline = or_default(cfg->tcp_max_pipeline, NET_TCP_DEFAULT_MAX_PIPELINE);
    srv->tcp_max_per_address = or_default(cfg->tcp_max_per_address,
                                          NET_TCP_DEFAULT_MAX_PER_ADDRESS);
    srv->tcp_max_per_ipv6_64 = or_default(cfg->tcp_max_per_ipv6_64,
                                          NET_TCP_DEFAULT_MAX_PER_IPV6_64);
    srv->tcp_max_queued_bytes = or_default(cfg->tcp_max_queued_bytes,
                                           NET_TCP_DEFAULT_MAX_QUEUED_BYTES);
    srv->tcp_max_queued_total = cfg->tcp_max_queued_total != 0
                                    ? cfg->tcp_max_queued_total
                                    : NET_TCP_DEFAULT_MAX_QUEUED_TOTAL;
    srv->tcp_write_timeout_ms = or_default(cfg->tcp_write_timeout_ms,
                                           NET_TCP_DEFAULT_WRITE_TIMEOUT_MS);
    srv->fd_reserve = or_default(cfg->fd_reserve, NET_FD_RESERVE);
    struct rlimit rl;
    srv->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)1 << 30
                        ? (unsigned long)rl.rlim_cur
                        : 1ul << 30;
    srv->spare_fd = -1;
    srv->wake_fd = -1;
    atomic_init(&srv->udp_stop, false);

    size_t n = srv->n_listeners;
    srv->listeners = malloc(n * sizeof(*srv->listeners));
    srv->ports = calloc(n, sizeof(*srv->ports));
    srv->bound = calloc(n, sizeof(*srv->bound));
    srv->wildcard = calloc(n, sizeof(*srv->wildcard));
    srv->tcp_fds = malloc(n * sizeof(*srv->tcp_fds));
    srv->tcp_listeners = calloc(n, sizeof(*srv->tcp_listeners));
    srv->workers = calloc(srv->udp_workers, sizeof(*srv->workers));
    /* Every descriptor slot reads -1 before the first way to fail. */
    for (size_t li = 0; srv->tcp_fds != NULL && li < n; li++)
        srv->tcp_fds[li] = -1;
    for (unsigned i = 0; srv->workers != NULL && i < srv->udp_workers; i++)
        srv->workers[i].epoll_fd = -1;
    if (srv->listeners == NULL || srv->ports == NULL || srv->bound == NULL ||
        srv->wildcard == NULL || srv->tcp_fds == NULL ||
        srv->tcp_listeners == NULL || srv->workers == NULL) {
        r = -ENOMEM;
        goto fail;
    }
    memcpy(srv->listeners, cfg->listeners, n * sizeof(*srv->listeners));
    for (unsigned i = 0; i < srv->udp_workers; i++) {
        struct net__udp_worker *w = &srv->workers[i];
        w->srv = srv;
        w->index = i;
        w->fds = malloc(n * sizeof(*w->fds));
        if (w->fds == NULL) {
            r = -ENOMEM;
            goto fail;
        }
        for (size_t li = 0; li < n; li++)
            w->fds[li] = -1;
    }

    srv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (srv->wake_fd < 0) {
        r = -errno;
        log_warn("udp: eventfd");
        goto fail;
    }
    for (size_t li = 0; li < n; li++) {
        if ((r = bind_listener(srv, li)) < 0)
            goto fail;
    }
    for (unsigned i = 0; i < srv->udp_workers; i++) {
        if ((r = udp_worker_init(srv, &srv->workers[i])) < 0)
            goto fail;
    }
    /* Every socket of the server is open now: what is left is what TCP
     * connections may take. */
    if ((r = net__tcp_fit_connections(srv, cfg->tcp_max_connections != 0, net__fds_open())) < 0)
        goto fail;
    if ((r = net__tcp_attach(srv)) < 0)
        goto fail;
    if ((r = udp_start_workers(srv)) < 0)
        goto fail;
    *out = srv;
    return 0;

fail:
    udp_stop_workers(srv);
    udp_close_all(srv);
    net__tcp_abort(srv);
    server_release(srv);
    return r;
}

void net_server_stop(net_server_t *srv)
{
    if (srv == NULL || srv->stopped)
        return;
    srv->stopped = true;
    net__tcp_stop(srv);
    udp_stop_workers(srv);
    udp_close_all(srv);
}

void net_server_free(net_server_t *srv)
{
    if (srv == NULL)
        return;
    net_server_stop(srv);
    if (srv->n_conns > 0) {
        log_warnx("net: server freed with %u TCP connections still open (run the loop "
                  "after net_server_stop); leaking it",
                  srv->n_conns);
        return;
    }
    server_release(srv);
}

unsigned net_server_tcp_max_connections(const net_server_t *srv)
{
    return srv != NULL ? srv->tcp_max_connections : 0;
}

uint16_t net_server_port(const net_server_t *srv, size_t i)
{
    if (srv == NULL || i >= srv->n_listeners)
        return 0;
    return srv->ports[i];
}
