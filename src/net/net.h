/*
 * net: the sockets. UDP worker threads and the TCP server.
 *
 * UDP: each worker thread owns one SO_REUSEPORT socket per listener and
 * moves packets in batches with recvmmsg()/sendmmsg(); it never touches the
 * libuv loop. TCP (RFC 7766: 2-byte framing, pipelined queries answered in
 * order, idle timeout, a cap on connections) runs on the caller's libuv
 * loop. Both hand every query to the same handler, which must not block and
 * must not allocate. The handler always runs inside an RCU read-side
 * critical section (liburcu): a UDP worker takes it once for a whole batch,
 * TCP around each call, so the handler may read RCU-protected data without
 * locking it itself.
 *
 * Threads: net_server_start(), net_server_stop() and net_server_free() are
 * called on the thread that runs the loop, and every TCP callback runs
 * there too. That thread calls the handler, so registering it with liburcu
 * is the caller's job (rcu_register_thread() before net_server_start()).
 *
 * Limits: a UDP datagram longer than NET_UDP_MAX_QUERY is dropped unread
 * (no legitimate query is that long; TCP takes up to NET_MAX_MESSAGE). A
 * TCP message shorter than a DNS header (12 bytes, zero included) closes
 * the connection once the answers before it are written. Above
 * tcp_max_connections, above a source's share (tcp_max_per_address, and
 * per IPv6 /64 tcp_max_per_ipv6_64) or when the descriptor it got lies in
 * the reserve, a new connection is accepted and closed at once, so the
 * client learns immediately and retries elsewhere instead of waiting in
 * the kernel's accept queue.
 *
 * Descriptors: the TCP server never takes the last fd_reserve descriptors
 * of RLIMIT_NOFILE, which health checks, the control socket and reloads
 * need. At start the connection cap must fit below the reserve: an
 * explicit cap that does not fit fails the start, the default is lowered
 * to fit. When accept() still fails for want of descriptors (EMFILE,
 * ENFILE) the server closes one pending connection with a spare
 * descriptor kept for that, stops accepting for NET_TCP_ACCEPT_PAUSE_MS
 * (never a busy loop on a listener that stays readable), counts it and
 * logs it at most every 10 s.
 *
 * Output is budgeted in bytes: answers the socket does not take wait in
 * memory; past tcp_max_queued_bytes on one connection or
 * tcp_max_queued_total over all of them the connection stops reading and
 * answering until half of its own budget is written and the total is back
 * under its cap. An answer that has waited tcp_write_timeout_ms without
 * being written in full resets the connection.
 */
#ifndef MERIDIAN_NET_NET_H
#define MERIDIAN_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

/* Largest DNS message over TCP; UDP answers are bounded by the handler. */
#define NET_MAX_MESSAGE 65535
/* Largest UDP query read; longer datagrams are dropped. */
#define NET_UDP_MAX_QUERY 4096

/* Used where the matching net_config_t field is 0. */
#define NET_TCP_DEFAULT_IDLE_TIMEOUT_MS 10000
#define NET_TCP_DEFAULT_MAX_CONNECTIONS 1024
#define NET_TCP_DEFAULT_MAX_PIPELINE 100
#define NET_TCP_DEFAULT_MAX_PER_ADDRESS 64
#define NET_TCP_DEFAULT_MAX_PER_IPV6_64 128
#define NET_TCP_DEFAULT_MAX_QUEUED_BYTES (128u << 10)
#define NET_TCP_DEFAULT_MAX_QUEUED_TOTAL (64u << 20)
#define NET_TCP_DEFAULT_WRITE_TIMEOUT_MS 5000
/* Descriptors kept from TCP when fd_reserve is 0: the control socket and
 * its clients, a reload's files, libuv's and curl's own. */
#define NET_FD_RESERVE 64
/* How long accepting stops after accept() ran out of descriptors. */
#define NET_TCP_ACCEPT_PAUSE_MS 100
/* How long net_server_stop() lets TCP answers already queued drain. */
#define NET_TCP_STOP_GRACE_MS 2000

typedef struct net_peer {
    const struct sockaddr *addr; /* the client's address */
    socklen_t addrlen;
    const struct sockaddr *local; /* the address the query arrived on (may be NULL) */
    bool tcp;
    unsigned worker; /* UDP worker index; for TCP the number of workers */
} net_peer_t;

/* Writes the answer to query (qlen bytes) into resp (resp_cap bytes) and
 * returns its length, or 0 to send nothing (drop the query; over TCP the
 * connection is then closed once the answers before it are written).
 * resp_cap is NET_MAX_MESSAGE on both transports: the handler picks the UDP
 * size. resp never overlaps query. Called concurrently from every worker thread and the TCP loop;
 * peer and its addresses are valid only during the call. */
typedef size_t (*net_handler_fn)(void *arg, const uint8_t *query, size_t qlen, uint8_t *resp,
                                 size_t resp_cap, const net_peer_t *peer);

/* Optional: called by a UDP worker with each batch it read, before the
 * handler answers its queries one by one, so that the memory those answers
 * will read can be fetched for all of them at once (see query_prefetch()).
 * queries[i] is lens[i] bytes (0 for a datagram that will not be answered)
 * from from[i]. Same threads and arg as the handler. */
typedef void (*net_prefetch_fn)(void *arg, const uint8_t *const *queries, const uint16_t *lens,
                                const struct sockaddr_storage *from, unsigned n);

typedef struct net_listen {
    struct sockaddr_storage addr;
    socklen_t addrlen;
} net_listen_t;

typedef struct net_config {
    const net_listen_t *listeners;
    size_t n_listeners;
    unsigned udp_workers; /* >= 1 */
    unsigned tcp_idle_timeout_ms;
    unsigned tcp_max_connections; /* 0: the default, lowered to fit the descriptors */
    unsigned tcp_max_pipeline; /* answers waiting to be written before reading stops */
    unsigned tcp_max_per_address;  /* connections from one address */
    unsigned tcp_max_per_ipv6_64;  /* connections from one IPv6 /64 */
    unsigned tcp_max_queued_bytes; /* answer bytes waiting on one connection */
    size_t tcp_max_queued_total;   /* answer bytes waiting on all connections */
    unsigned tcp_write_timeout_ms; /* how long an answer may wait to be written */
    unsigned fd_reserve;           /* descriptors TCP leaves to everything else */
    net_prefetch_fn udp_prefetch; /* NULL: none */
} net_config_t;

typedef struct net_server net_server_t;

/* Binds every UDP and TCP socket (so that a caller may drop privileges
 * afterwards), starts the UDP workers and registers TCP on loop. Returns 0
 * or a negative errno, having logged which address failed; on failure
 * nothing stays open. The handler and arg must outlive the server. */
int net_server_start(net_server_t **out, const net_config_t *cfg, uv_loop_t *loop,
                     net_handler_fn handler, void *arg);

/* Stops accepting, lets in-flight TCP answers be written, joins the UDP
 * workers and closes every socket. The loop must run until it has no more
 * handles for the TCP side to finish; then net_server_free(). Queries read
 * but not yet answered are dropped; answers still unwritten after
 * NET_TCP_STOP_GRACE_MS are dropped with their connection. Idempotent. */
void net_server_stop(net_server_t *srv);
/* Frees the server (NULL is fine). Stops it first if need be; if TCP
 * connections are still open (the loop was not run after stopping) it logs
 * the mistake and leaks the server rather than free memory libuv uses. */
void net_server_free(net_server_t *srv);

/* Raises the soft RLIMIT_NOFILE to the hard limit (the server holds one
 * descriptor per TCP connection) and logs the change or why it failed.
 * Returns the soft limit now in force. Call before anything else opens. */
unsigned long net_raise_nofile_limit(void);

/* For --check: whether an explicit TCP cap fits RLIMIT_NOFILE's hard limit
 * (which the start raises the soft one to) beside the descriptors open now,
 * `sockets` more for the listeners and workers, and `reserve`. 0 when it
 * fits (or the limit is infinite); -EMFILE with *room, the connections that
 * would fit, and *limit set when it does not. */
int net_tcp_cap_fits(unsigned cap, unsigned reserve, unsigned sockets, unsigned long *room,
                     unsigned long *limit);

/* The TCP connection cap in force (after fitting it to the descriptors). */
unsigned net_server_tcp_max_connections(const net_server_t *srv);

/* The real port bound for listener i (useful when the config asked for 0);
 * UDP and TCP share it. 0 when i is out of range. */
uint16_t net_server_port(const net_server_t *srv, size_t i);

#endif
