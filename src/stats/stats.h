/*
 * stats: counters for operators (meridianctl stats).
 *
 * Every UDP worker and the TCP loop count into their own slot, on its own
 * cache lines, with relaxed atomic loads and stores of their own counters
 * only: no lock, no contended cache line, no locked instruction on the
 * query path. Readers (the control socket, on the loop thread) sum the
 * slots; a sum may be a few queries behind, never torn.
 */
#ifndef MERIDIAN_STATS_STATS_H
#define MERIDIAN_STATS_STATS_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


#define STATS_SLOTS 257 /* up to 256 UDP workers, then TCP */
#define STATS_RCODES 17 /* 0..15 and BADVERS (16) */

/* Query types counted by name; everything else is "other" (0, so that a
 * zero-filled table maps every type not named to it). */
enum stats_qtype {
    STATS_QT_OTHER = 0, STATS_QT_A, STATS_QT_AAAA, STATS_QT_NS, STATS_QT_CNAME, STATS_QT_SOA,
    STATS_QT_PTR, STATS_QT_MX, STATS_QT_TXT, STATS_QT_SRV, STATS_QT_CAA, STATS_QT_HTTPS,
    STATS_QT_ANY, STATS_QT_N
};

/* One worker's counters: each answered query bumps one cell, that of its
 * rcode and type (one increment, not three); the totals per rcode, per
 * type and overall are sums, made by stats_sum(). */
typedef struct stats_slot {
    _Alignas(64) _Atomic uint64_t cell[STATS_RCODES][STATS_QT_N];
    _Atomic uint64_t dropped;   /* not answered (not a query) */
    _Atomic uint64_t truncated; /* answered with TC */
    _Atomic uint64_t ecs;       /* carried an EDNS Client Subnet */
} stats_slot_t;

/* The sums stats_sum() makes, for operators. */
typedef struct stats_totals {
    uint64_t queries, dropped, truncated, ecs;
    uint64_t rcode[STATS_RCODES];
    uint64_t qtype[STATS_QT_N];
} stats_totals_t;

/* What one query was, for counting (filled by query_answer). */
typedef struct stats_query {
    bool answered;
    bool truncated;
    bool ecs;
    uint8_t rcode; /* 0..16 */
    uint16_t qtype;
} stats_query_t;

extern stats_slot_t stats_slots[STATS_SLOTS];
extern _Atomic uint64_t stats_reloads, stats_reload_failures;

/* The TCP server's limits and the descriptor budget. Written on the loop
 * thread only (stats_bump, plain stores for the gauges), read by the
 * control socket on the same thread. */
typedef struct stats_net {
    _Atomic uint64_t tcp_open;            /* gauge: connections open */
    _Atomic uint64_t tcp_queued_bytes;    /* gauge: answer bytes waiting in memory */
    _Atomic uint64_t tcp_refused_full;    /* closed at once: tcp_max_connections */
    _Atomic uint64_t tcp_refused_source;  /* the address or its /64 at its share */
    _Atomic uint64_t tcp_refused_reserve; /* its descriptor lay in the reserve */
    _Atomic uint64_t tcp_write_timeouts;  /* reset: an answer waited too long */
    _Atomic uint64_t emfile;              /* EMFILE or ENFILE, wherever it was met */
} stats_net_t;

extern stats_net_t stats_net;


static inline __attribute__((always_inline)) void stats_bump(_Atomic uint64_t *c)
{
    /* Only the slot's owner writes: a plain read-modify-write is enough. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Counts err (an errno, or its negative as libuv and our own functions
 * return it) when it says descriptors ran out; returns whether it did. */
static inline bool stats_count_emfile(int err)
{
    if (err != EMFILE && err != ENFILE && err != -EMFILE && err != -ENFILE)
        return false;
    stats_bump(&stats_net.emfile);
    return true;
}

/* stats_qtype_of() for types below 256. */
extern const uint8_t stats_qtype_small[256];

static inline enum stats_qtype stats_qtype_of(uint16_t type)
{
    if (type < 256)
        return (enum stats_qtype)stats_qtype_small[type];
    return type == 257 ? STATS_QT_CAA : STATS_QT_OTHER;
}

/* Counts one query in slot (a worker's own; out of range: the last). */
static inline __attribute__((always_inline)) void
stats_count(unsigned slot, const stats_query_t *q)
{
    stats_slot_t *s = &stats_slots[slot < STATS_SLOTS ? slot : STATS_SLOTS - 1];
    if (!q->answered) {
        stats_bump(&s->dropped);
        return;
    }
    stats_bump(&s->cell[q->rcode < STATS_RCODES ? q->rcode : STATS_RCODES - 1]
                       [stats_qtype_of(q->qtype)]);
    if (q->truncated)
        stats_bump(&s->truncated);
    if (q->ecs)
        stats_bump(&s->ecs);
}

/* Names for output. */
const char *stats_qtype_name(enum stats_qtype t);
const char *stats_rcode_name(unsigned rcode);

/* Sums one transport's slots: UDP is slots 0..STATS_SLOTS-2, TCP the last. */
void stats_sum(bool tcp, stats_totals_t *out);

#endif
