/*
 * net internals shared by udp.c (server lifecycle, UDP workers) and tcp.c
 * (the TCP server on the caller's libuv loop).
 *
 * Ownership: net_server_t owns every socket until a libuv handle takes
 * one over. TCP listener handles and connections are separate allocations
 * freed in their close callbacks, so memory libuv still points at never
 * goes away with the server. A connection's close callback does touch the
 * server, which is why net_server_free() refuses to free it (and leaks it)
 * while n_conns > 0.
 */
#ifndef MERIDIAN_NET_NET_INTERNAL_H
#define MERIDIAN_NET_NET_INTERNAL_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "net/net.h"

/* Datagrams moved per recvmmsg()/sendmmsg() call. */
#define NET_UDP_BATCH 32
/* Socket buffers asked for; the kernel may give less. Generous because a
 * burst of queries must not be dropped while a worker finishes a batch. */
#define NET_SOCKBUF_SIZE (4 << 20)
/* A DNS header; shorter TCP messages end the connection. */
#define NET_DNS_HEADER_SIZE 12
/* "[ffff:...:ffff]:65535" plus room. */
#define NET_ADDRSTRLEN (INET6_ADDRSTRLEN + 10)

struct net__udp_worker;
struct net__tcp_conn;
struct net__tcp_listener;
struct net__tcp_sources;

struct net_server {
    uv_loop_t *loop;
    net_handler_fn handler;
    net_prefetch_fn udp_prefetch;
    void *arg;

    size_t n_listeners;
    net_listen_t *listeners; /* copy of the config's */
    uint16_t *ports;         /* the port actually bound, per listener */
    /* Per listener: its address with the bound port, and whether it is a
     * wildcard (then each answer must name the address it leaves from). */
    struct sockaddr_storage *bound;
    bool *wildcard;

    unsigned udp_workers;
    unsigned tcp_idle_timeout_ms;
    unsigned tcp_max_connections;
    unsigned tcp_max_pipeline;
    unsigned tcp_max_per_address;
    unsigned tcp_max_per_ipv6_64;
    size_t tcp_max_queued_bytes;
    size_t tcp_max_queued_total;
    unsigned tcp_write_timeout_ms;
    unsigned fd_reserve;
    unsigned long fd_limit; /* RLIMIT_NOFILE's soft limit at start */

    /* UDP. wake_fd is an eventfd written once by stop and never read, so
     * it stays readable and wakes every worker's epoll. */
    int wake_fd;
    atomic_bool udp_stop;
    struct net__udp_worker *workers;

    /* TCP, all touched only on the loop thread. */
    int *tcp_fds;              /* bound and listening, not yet given to libuv */
    struct net__tcp_listener **tcp_listeners; /* NULL once closed */
    struct net__tcp_conn *conns;
    unsigned n_conns;          /* including those closing */
    bool tcp_stopping;
    bool accept_paused;        /* out of descriptors: listeners not watched */
    uv_timer_t *accept_timer;  /* resumes accepting; freed in its close callback */
    int spare_fd;              /* kept open to close one connection on EMFILE */
    struct net__tcp_sources *sources; /* connections per address and per /64 */
    /* Connections paused because the total budget is spent, oldest first. */
    struct net__tcp_conn *budget_head, *budget_tail;
    size_t queued_bytes;       /* answer bytes in write requests, all connections */
    bool waking;               /* in tcp_budget_wake() */
    uint64_t tcp_accept_logged;  /* uv_now() of the last accept error logged */
    uint64_t tcp_refused_logged; /* and of the last "too many connections" */
    uint64_t tcp_source_logged;  /* of the last per-source refusal */
    uint64_t tcp_reserve_logged; /* of the last refusal to eat into the reserve */
    uint64_t tcp_timeout_logged; /* of the last write timeout */
    /* Answers of the connection being served are gathered here and go out in
     * one write; it is empty between callbacks. */
    uint8_t *stage;
    size_t stage_len;
    unsigned stage_answers;

    bool stopped;
};

/* "192.0.2.1:53" or "[2001:db8::1]:53", for messages. */
void net__addr_format(const struct sockaddr *sa, char *buf, size_t len);
uint16_t net__addr_port(const struct sockaddr *sa);
void net__addr_set_port(struct sockaddr *sa, uint16_t port);

/* tcp.c. net__tcp_bind() makes a listening socket for ss (the real port
 * written back into ss when it asked for 0); 0 or -errno, nothing open on
 * failure. net__tcp_attach() hands the sockets to the loop; on failure the
 * ones already attached are closed (freed when the loop runs). */
int net__tcp_bind(struct sockaddr_storage *ss, socklen_t len, int *fd_out);
int net__tcp_attach(net_server_t *srv);
void net__tcp_stop(net_server_t *srv);
/* Closes what start left open on failure: listeners and raw sockets. */
void net__tcp_abort(net_server_t *srv);
void net__tcp_release(net_server_t *srv);

/* tcp_limits.c. Counts of connections per source address and per IPv6
 * /64 in a table sized at creation for max_conns connections: acquiring
 * and releasing never allocate. A limit of 0 is no limit. */
struct net__tcp_sources *net__tcp_sources_new(unsigned max_conns, unsigned per_address,
                                              unsigned per_64);
void net__tcp_sources_free(struct net__tcp_sources *t);
/* 0, or -EUSERS when the address or (then *prefix_full) its /64 is at its
 * limit; nothing was counted then. Every success is paired with one
 * release of the same address; at most max_conns are held at once. */
int net__tcp_sources_acquire(struct net__tcp_sources *t, const struct sockaddr *sa,
                             bool *prefix_full);
void net__tcp_sources_release(struct net__tcp_sources *t, const struct sockaddr *sa);
/* Descriptors open in this process now (counts /proc/self/fd). */
unsigned net__fds_open(void);
/* Fits srv->tcp_max_connections to the descriptors left once open_now are
 * open and srv->fd_reserve kept: 0, or -EMFILE having logged why when an
 * explicit cap (explicit true) does not fit or nothing is left. */
int net__tcp_fit_connections(net_server_t *srv, bool explicit, unsigned open_now);

#endif
