/*
 * loadgen: a batched DNS load generator for the speed benchmark.
 *
 * One dnsperf thread tops out near 100k queries/s on loopback here, below
 * what the server answers, so the benchmark drives the server with this.
 * Every query is built once at start; the run then costs per query its
 * share of one sendmmsg and one recvmmsg batch plus a few table updates:
 * no allocation and no syscall of its own.
 *
 *   loadgen -s ADDR:PORT -f FILE [-d SECS | -n COUNT] [-q N | -r RATE]
 *           [-b BATCH] [-S SOCKETS] [-T [-c CONNS] [-p PERCONN]] [-t MS]
 *           [-w SECS] [-g] [-v] [-o FILE]
 *
 * -s ADDR:PORT  the server: "127.0.0.1:53" or "[::1]:53".
 * -f FILE       queries, one per line: "NAME TYPE [SUBNET/PREFIX]"; '#' lines
 *               and blank lines are skipped. Each is built with RD=0 and an
 *               EDNS OPT (UDP size 1232), plus an ECS option (RFC 7871) when a
 *               subnet is given. TYPE: A AAAA NS SOA MX TXT CNAME SRV PTR CAA
 *               ANY or TYPEnnn. Queries are sent in file order, cycling.
 * -d SECS       length of the measured window (default 5, fractional ok).
 * -n COUNT      instead: send exactly COUNT queries (no warm-up), wait for
 *               their answers or timeouts, stop.
 * -q N          closed loop: N queries in flight at all times (default 256).
 * -r RATE       open loop: send RATE queries/s in small evenly paced batches,
 *               whatever comes back. It never bursts to catch up more than
 *               10 ms of schedule: what it could not send shows as lower qps.
 * -b BATCH      sendmmsg/recvmmsg batch (default 32, at most 1024).
 * -S N          UDP sockets, i.e. source ports, to spread over (default 4).
 * -T            TCP (RFC 7766): -c CONNS connections (default 8) share the
 *               in-flight queries, pipelined; a connection the server closes
 *               is reopened (its queries in flight are lost). -p PERCONN
 *               closes and reopens a connection after PERCONN queries.
 * -t MS         a query unanswered after MS ms is lost (default 1000).
 * -w SECS       warm-up before the window, not counted (default 0.5).
 * -g            report max_gap_ms: the longest time in the window during
 *               which queries were outstanding and no answer arrived.
 * -v            check each answer: QR set, one question equal to the query's
 *               (name case-insensitively, type, class); else it is wrong.
 * -o FILE       for each distinct query line, write its first answer:
 *               "LINE<TAB>RCODE<TAB>ANCOUNT<TAB>RDATA", RDATA being the first
 *               answer record's data for A, AAAA and CNAME, else "-"; a line
 *               never answered gets "NONE - -".
 *
 * Output, one line on stdout:
 *   mode=udp|tcp sent= answered= lost= wrong= seconds= qps= p50_us= p99_us=
 *   [max_gap_ms=] noerror= nxdomain= servfail= refused= formerr=
 *   other_rcode= tc= empty_noerror= [connects= connect_errors=]
 * Counted are the queries sent in the window (sent = answered + wrong +
 * lost); their answers count even when they arrive just after it, and
 * answers to warm-up queries do not, so the two edges cancel out. qps is
 * answered / seconds; seconds is the window, or with -n the time from the
 * first query to the last answer. empty_noerror is NOERROR with ANCOUNT 0;
 * tc counts answers with TC set (their rcode is counted too); connects
 * and connect_errors (TCP) count connection attempts in the window. Latencies
 * come from a fixed log-linear histogram (1/64 precision).
 * SIGINT or SIGTERM ends the window early (a second one ends the wait for
 * answers) and the line is still printed. Exit status: 0 when the run
 * completed, whatever the loss; 1 on a socket or setup error; 2 on a usage
 * error or a bad query file line.
 *
 * IDs: each socket (or connection) has a table of slots, one per query it
 * may have in flight; a query's ID is its slot index, with the slot's
 * reuse count in the bits left over, so a late answer to a lost query is
 * not taken for the answer to the query that reused its slot.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../tools/tool_addr.h"

#define MAX_QUERY 320   /* header, 255-byte name, question, OPT with ECS */
#define RECV_SIZE 4096  /* one UDP answer; we advertise 1232 */
#define MAX_BATCH 1024  /* UIO_MAXIOV */
#define MAX_SLOTS 65536 /* per socket or connection: the ID space */
#define MAX_SOCKETS 256
#define TCP_RBUF (2 * 65538) /* at least one whole message of any length */
#define EDNS_UDP_SIZE 1232
#define TYPE_A 1
#define TYPE_CNAME 5
#define TYPE_AAAA 28
#define TYPE_OPT 41
#define OPT_ECS 8
#define NS_PER_SEC 1000000000ull
#define NS_PER_MS 1000000ull

/* Latency histogram, in microseconds: exact below 128, then 64 buckets per
 * power of two. */
#define HIST_LINEAR 128
#define HIST_SUB 64
#define HIST_BUCKETS (HIST_LINEAR + 57 * HIST_SUB)

typedef struct options {
    struct sockaddr_storage server;
    socklen_t server_len;
    const char *file;
    double duration;
    double warmup;
    uint64_t count; /* -n, or 0 for a timed run */
    unsigned inflight;
    double rate; /* -r, or 0 for the closed loop */
    unsigned batch;
    unsigned sockets;
    unsigned conns;
    uint64_t per_conn;
    unsigned timeout_ms;
    bool tcp;
    bool gaps;
    bool verify;
    const char *out;
} options_t;

/* One query, built at start. */
typedef struct query {
    uint32_t off; /* in run_t.wire: the 2-byte TCP length, then the message */
    uint16_t len; /* the message, without the TCP length */
    uint16_t qname_len;
    uint32_t distinct; /* its line's index in run_t.records (-o) */
} query_t;

/* -o: the first answer to one distinct query line. */
typedef struct record {
    char *line;
    bool answered;
    uint8_t rcode;
    uint16_t ancount;
    char rdata[1024];
} record_t;

typedef struct slot {
    uint64_t sent_ns;
    uint32_t query;
    uint16_t id;
    uint16_t reuse;
    uint8_t id_wire[2]; /* the ID in network order: a UDP query's first iovec */
    bool busy;
    bool counted; /* sent in the measured window */
} slot_t;

typedef enum { CONN_IDLE, CONN_CONNECTING, CONN_OPEN } conn_state_t;

/* A UDP socket or a TCP connection, with the queries it has in flight. */
typedef struct endpoint {
    int fd;
    unsigned nslots;
    unsigned slot_bits;
    unsigned busy;
    unsigned n_free;
    slot_t *slots;
    uint16_t *free_ids; /* a stack of free slot indexes */
    /* TCP only */
    conn_state_t state;
    uint64_t retry_ns; /* CONN_IDLE: connect again at */
    uint64_t on_conn;  /* queries sent on this connection (-p) */
    uint8_t *rbuf;
    size_t rlen;
    uint8_t *wbuf; /* queries not yet written */
    size_t woff, wlen;
} endpoint_t;

typedef struct counts {
    uint64_t sent, answered, lost, wrong;
    uint64_t noerror, nxdomain, servfail, refused, formerr, other_rcode, tc, empty_noerror;
    uint64_t connects, connect_errors;
    uint64_t hist[HIST_BUCKETS];
} counts_t;

typedef enum { PHASE_WARMUP, PHASE_WINDOW, PHASE_DRAIN, PHASE_DONE } phase_t;

typedef struct run {
    options_t o;
    uint8_t *wire;
    query_t *queries;
    size_t n_queries;
    size_t next_query;
    record_t *records;
    size_t n_records;
    endpoint_t *eps;
    unsigned n_eps;
    unsigned next_ep; /* open loop: the endpoint for the next batch */
    struct pollfd *pfds;
    struct mmsghdr *rmsgs;
    struct iovec *riov;
    uint8_t *rbufs;
    struct mmsghdr *smsgs;
    struct iovec *siov; /* two per message: the ID, then the rest */
    phase_t phase;
    uint64_t phase_end; /* WARMUP, WINDOW (timed) and DRAIN end at */
    uint64_t window_start, window_end, last_answer;
    uint64_t busy; /* queries in flight, all endpoints */
    uint64_t pace_start, paced;
    unsigned pace_batch;
    uint64_t scan_every, next_scan;
    uint64_t gap_from, max_gap;
    bool send_short; /* a send fell short: try again soon */
    counts_t c;
} run_t;

static volatile sig_atomic_t stop_signal;

/* The first signal ends the window, a second one the wait for answers. */
static void on_signal(int sig)
{
    (void)sig;
    stop_signal = stop_signal + 1;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size);

    if (p == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    return p;
}

static void usage(int status)
{
    fprintf(status == 0 ? stdout : stderr,
            "usage: loadgen -s ADDR:PORT -f FILE [-d SECS | -n COUNT] [-q N | -r RATE]\n"
            "               [-b BATCH] [-S SOCKETS] [-T [-c CONNS] [-p PERCONN]] [-t MS]\n"
            "               [-w SECS] [-g] [-v] [-o FILE]\n");
    exit(status);
}

static void usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "loadgen: bad %s '%s'\n", what, arg);
    usage(2);
}

/* ------------------------------------------------------------ building */

/* Returns the type's number, or -1. */
static long type_parse(const char *text)
{
    static const struct {
        const char *name;
        uint16_t value;
    } types[] = {{"A", 1},    {"NS", 2},    {"CNAME", 5}, {"SOA", 6},   {"PTR", 12}, {"MX", 15},
                 {"TXT", 16}, {"AAAA", 28}, {"SRV", 33},  {"ANY", 255}, {"CAA", 257}};

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(text, types[i].name) == 0)
            return types[i].value;
    if (strncasecmp(text, "TYPE", 4) == 0 && text[4] >= '0' && text[4] <= '9') {
        char *end;
        unsigned long v = strtoul(text + 4, &end, 10);

        if (*end == '\0' && v <= 65535)
            return (long)v;
    }
    return -1;
}

/* Builds one query from its line's fields into out (after 2 bytes for the
 * TCP length). Returns the message length, or 0 with *why set. */
static size_t query_build(char *name, char *type, char *subnet, uint8_t *out, size_t *qname_len,
                          const char **why)
{
    uint8_t *msg = out + 2;
    size_t len = 12, name_len, ecs_len = 0;
    uint8_t ecs[32];
    long qtype = type_parse(type);

    if (qtype < 0) {
        *why = "unknown type";
        return 0;
    }
    if (subnet != NULL && (ecs_len = tool_ecs_option(subnet, ecs)) == 0) {
        *why = "bad client subnet";
        return 0;
    }
    memset(msg, 0, 12); /* ID 0 for now, RD=0 */
    msg[5] = 1;         /* QDCOUNT */
    msg[11] = 1;        /* ARCOUNT: the OPT */
    name_len = tool_name_encode(name, msg + len, 255);
    if (name_len == 0) {
        *why = "bad name";
        return 0;
    }
    len += name_len;
    msg[len++] = (uint8_t)(qtype >> 8);
    msg[len++] = (uint8_t)qtype;
    msg[len++] = 0;
    msg[len++] = 1; /* class IN */
    msg[len++] = 0; /* OPT: root owner */
    msg[len++] = 0;
    msg[len++] = TYPE_OPT;
    msg[len++] = EDNS_UDP_SIZE >> 8;
    msg[len++] = EDNS_UDP_SIZE & 0xff;
    memset(msg + len, 0, 4); /* extended rcode, version, flags */
    len += 4;
    msg[len++] = (uint8_t)(ecs_len >> 8);
    msg[len++] = (uint8_t)ecs_len;
    memcpy(msg + len, ecs, ecs_len);
    len += ecs_len;
    out[0] = (uint8_t)(len >> 8);
    out[1] = (uint8_t)len;
    *qname_len = name_len;
    return len;
}

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* -o: gives each query the index of its line among the distinct lines. */
static void records_build(run_t *r, char **lines)
{
    size_t cap = 16;
    uint32_t *table;

    while (cap < r->n_queries * 2)
        cap *= 2;
    table = xcalloc(cap, sizeof(*table)); /* record index + 1, or 0 */
    r->records = xcalloc(r->n_queries, sizeof(*r->records));
    for (size_t i = 0; i < r->n_queries; i++) {
        size_t h = (size_t)hash_text(lines[i]) & (cap - 1);

        while (table[h] != 0 && strcmp(r->records[table[h] - 1].line, lines[i]) != 0)
            h = (h + 1) & (cap - 1);
        if (table[h] == 0) {
            r->records[r->n_records].line = lines[i];
            lines[i] = NULL;
            table[h] = (uint32_t)++r->n_records;
        }
        r->queries[i].distinct = table[h] - 1;
    }
    free(table);
}

/* Reads and builds every query. Exits 2 on a bad line, naming it. */
static void queries_load(run_t *r)
{
    FILE *f = fopen(r->o.file, "r");
    size_t cap = 0, wire_cap = 0, wire_len = 0, line_cap = 0;
    char **lines = NULL;
    char *line = NULL;
    unsigned long line_no = 0;

    if (f == NULL) {
        fprintf(stderr, "loadgen: %s: %s\n", r->o.file, strerror(errno));
        exit(2);
    }
    while (getline(&line, &line_cap, f) != -1) {
        char *fields[4], *save = NULL, *tok;
        const char *why = NULL;
        size_t n = 0, len, qname_len;
        char text[600];

        line_no++;
        for (tok = strtok_r(line, " \t\r\n", &save); tok != NULL && n < 4;
             tok = strtok_r(NULL, " \t\r\n", &save))
            fields[n++] = tok;
        if (n == 0 || fields[0][0] == '#')
            continue;
        if (n < 2 || n > 3) {
            fprintf(stderr, "loadgen: %s:%lu: expected NAME TYPE [SUBNET/PREFIX]\n", r->o.file,
                    line_no);
            exit(2);
        }
        if (r->n_queries == cap) {
            cap = cap == 0 ? 64 : cap * 2;
            r->queries = realloc(r->queries, cap * sizeof(*r->queries));
            lines = realloc(lines, cap * sizeof(*lines));
            if (r->queries == NULL || lines == NULL) {
                fprintf(stderr, "loadgen: out of memory\n");
                exit(1);
            }
        }
        if (wire_cap - wire_len < MAX_QUERY) {
            wire_cap = wire_cap == 0 ? 64 * MAX_QUERY : wire_cap * 2;
            r->wire = realloc(r->wire, wire_cap);
            if (r->wire == NULL) {
                fprintf(stderr, "loadgen: out of memory\n");
                exit(1);
            }
        }
        len = query_build(fields[0], fields[1], n == 3 ? fields[2] : NULL, r->wire + wire_len,
                          &qname_len, &why);
        if (len == 0) {
            fprintf(stderr, "loadgen: %s:%lu: %s\n", r->o.file, line_no, why);
            exit(2);
        }
        r->queries[r->n_queries] = (query_t){
            .off = (uint32_t)wire_len, .len = (uint16_t)len, .qname_len = (uint16_t)qname_len};
        wire_len += 2 + len;
        snprintf(text, sizeof(text), "%s %s%s%s", fields[0], fields[1], n == 3 ? " " : "",
                 n == 3 ? fields[2] : "");
        lines[r->n_queries] = strdup(text);
        if (lines[r->n_queries] == NULL) {
            fprintf(stderr, "loadgen: out of memory\n");
            exit(1);
        }
        r->n_queries++;
    }
    free(line);
    fclose(f);
    if (r->n_queries == 0) {
        fprintf(stderr, "loadgen: %s: no queries\n", r->o.file);
        exit(2);
    }
    if (r->o.out != NULL)
        records_build(r, lines);
    for (size_t i = 0; i < r->n_queries; i++)
        free(lines[i]);
    free(lines);
}

/* ------------------------------------------------------------ slots */

static unsigned bits_for(unsigned n)
{
    unsigned bits = 0;

    while ((1u << bits) < n)
        bits++;
    return bits;
}

static void endpoint_init(endpoint_t *ep, unsigned nslots, bool tcp)
{
    ep->fd = -1;
    ep->nslots = nslots;
    ep->slot_bits = bits_for(nslots);
    ep->slots = xcalloc(nslots, sizeof(*ep->slots));
    ep->free_ids = xcalloc(nslots, sizeof(*ep->free_ids));
    for (unsigned i = 0; i < nslots; i++) /* the stack hands out slot 0 first */
        ep->free_ids[i] = (uint16_t)(nslots - 1 - i);
    ep->n_free = nslots;
    if (tcp) {
        ep->rbuf = xcalloc(TCP_RBUF, 1);
        ep->wbuf = xcalloc(nslots, MAX_QUERY);
    }
}

/* Takes a free slot of ep for the next query in file order. The caller
 * has checked that one is free; slot_commit or slot_unclaim follow. */
static slot_t *slot_claim(run_t *r, endpoint_t *ep, uint64_t now)
{
    uint16_t idx = ep->free_ids[--ep->n_free];
    slot_t *s = &ep->slots[idx];

    s->reuse++;
    s->id = (uint16_t)((((unsigned)s->reuse << ep->slot_bits) | idx) & 0xffff);
    s->id_wire[0] = (uint8_t)(s->id >> 8);
    s->id_wire[1] = (uint8_t)s->id;
    s->query = (uint32_t)r->next_query;
    s->sent_ns = now;
    if (++r->next_query == r->n_queries)
        r->next_query = 0;
    return s;
}

/* The claimed query went out. */
static void slot_commit(run_t *r, endpoint_t *ep, slot_t *s, uint64_t now)
{
    s->busy = true;
    s->counted = r->phase == PHASE_WINDOW;
    if (s->counted)
        r->c.sent++;
    if (r->busy++ == 0)
        r->gap_from = now;
    ep->busy++;
}

/* The claimed query did not go out: it goes first next time. */
static void slot_unclaim(run_t *r, endpoint_t *ep, slot_t *s)
{
    ep->free_ids[ep->n_free++] = (uint16_t)(s - ep->slots);
    r->next_query = r->next_query == 0 ? r->n_queries - 1 : r->next_query - 1;
}

static void slot_release(run_t *r, endpoint_t *ep, slot_t *s)
{
    s->busy = false;
    ep->free_ids[ep->n_free++] = (uint16_t)(s - ep->slots);
    ep->busy--;
    r->busy--;
}

/* A query in flight will never be answered (timeout, connection gone). */
static void slot_lose(run_t *r, endpoint_t *ep, slot_t *s, uint64_t now)
{
    if (s->counted)
        r->c.lost++;
    slot_release(r, ep, s);
    if (r->busy == 0 && r->phase == PHASE_WINDOW && now - r->gap_from > r->max_gap)
        r->max_gap = now - r->gap_from;
}

/* ------------------------------------------------------------ answers */

static unsigned hist_index(uint64_t us)
{
    unsigned shift;

    if (us < HIST_LINEAR)
        return (unsigned)us;
    shift = 63u - (unsigned)__builtin_clzll(us) - 6u; /* us >> shift is 64..127 */
    return HIST_LINEAR + (shift - 1) * HIST_SUB + (unsigned)((us >> shift) - HIST_SUB);
}

/* The middle of a bucket, in microseconds. */
static uint64_t hist_value(unsigned idx)
{
    unsigned shift;

    if (idx < HIST_LINEAR)
        return idx;
    shift = (idx - HIST_LINEAR) / HIST_SUB + 1;
    return ((uint64_t)(HIST_SUB + (idx - HIST_LINEAR) % HIST_SUB) << shift) + (1ull << (shift - 1));
}

static uint64_t percentile(const counts_t *c, double p)
{
    uint64_t total = 0, seen = 0, want;

    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        total += c->hist[i];
    if (total == 0)
        return 0;
    want = (uint64_t)(p * (double)total + 0.999999);
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += c->hist[i];
        if (seen >= want)
            return hist_value(i);
    }
    return 0;
}

static uint8_t ascii_lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* -v: QR set and the query's question, name case-insensitively. */
static bool answer_matches(const run_t *r, const query_t *q, const uint8_t *pkt, size_t len)
{
    const uint8_t *sent = r->wire + q->off + 2;

    if (len < 12u + q->qname_len + 4u || (pkt[2] & 0x80) == 0 || pkt[4] != 0 || pkt[5] != 1)
        return false;
    for (size_t i = 12; i < 12u + q->qname_len; i++) /* label lengths are < 'A' */
        if (ascii_lower(pkt[i]) != ascii_lower(sent[i]))
            return false;
    return memcmp(pkt + 12 + q->qname_len, sent + 12 + q->qname_len, 4) == 0;
}

/* Skips a possibly compressed name. Returns false if it is malformed. */
static bool name_skip(const uint8_t *pkt, size_t len, size_t *off)
{
    size_t o = *off;

    while (o < len) {
        if ((pkt[o] & 0xc0) == 0xc0) {
            *off = o + 2;
            return o + 2 <= len;
        }
        if ((pkt[o] & 0xc0) != 0)
            return false;
        if (pkt[o] == 0) {
            *off = o + 1;
            return true;
        }
        o += 1u + pkt[o];
    }
    return false;
}

/* Writes the name at off as text. Returns false if it is malformed. */
static bool name_text(const uint8_t *pkt, size_t len, size_t off, char *out, size_t cap)
{
    size_t used = 0;
    unsigned jumps = 0;

    while (off < len) {
        uint8_t label = pkt[off];

        if ((label & 0xc0) == 0xc0) {
            if (off + 2 > len || ++jumps > 64)
                return false;
            off = (size_t)(label & 0x3f) << 8 | pkt[off + 1];
            continue;
        }
        if ((label & 0xc0) != 0 || off + 1 + label > len)
            return false;
        if (label == 0) {
            if (used == 0)
                out[used++] = '.';
            out[used] = '\0';
            return true;
        }
        for (size_t i = 0; i < label; i++) {
            uint8_t c = pkt[off + 1 + i];

            if (used + 6 >= cap)
                return false;
            if (c > ' ' && c < 127 && c != '.' && c != '\\')
                out[used++] = (char)c;
            else
                used += (size_t)snprintf(out + used, cap - used, "\\%03u", c);
        }
        if (used + 2 >= cap)
            return false;
        out[used++] = '.';
        off += 1u + label;
    }
    return false;
}

/* -o: keeps the first answer to a query line. */
static void record_answer(record_t *rec, const query_t *q, const uint8_t *pkt, size_t len)
{
    size_t off = 12u + q->qname_len + 4u;
    unsigned type, rdlen;

    rec->answered = true;
    rec->rcode = pkt[3] & 0x0f;
    rec->ancount = (uint16_t)(pkt[6] << 8 | pkt[7]);
    strcpy(rec->rdata, "-");
    if (rec->ancount == 0 || off > len || !name_skip(pkt, len, &off) || off + 10 > len)
        return;
    type = (unsigned)pkt[off] << 8 | pkt[off + 1];
    rdlen = (unsigned)pkt[off + 8] << 8 | pkt[off + 9];
    off += 10;
    if (off + rdlen > len)
        return;
    if (type == TYPE_A && rdlen == 4)
        inet_ntop(AF_INET, pkt + off, rec->rdata, sizeof(rec->rdata));
    else if (type == TYPE_AAAA && rdlen == 16)
        inet_ntop(AF_INET6, pkt + off, rec->rdata, sizeof(rec->rdata));
    else if (type == TYPE_CNAME && !name_text(pkt, len, off, rec->rdata, sizeof(rec->rdata)))
        strcpy(rec->rdata, "-");
}

/* One answer that came in on ep at now. */
static void on_answer(run_t *r, endpoint_t *ep, const uint8_t *pkt, size_t len, uint64_t now)
{
    unsigned id, idx, rcode;
    const query_t *q;
    slot_t *s;

    if (len < 12)
        return;
    id = (unsigned)pkt[0] << 8 | pkt[1];
    idx = id & ((1u << ep->slot_bits) - 1);
    if (idx >= ep->nslots)
        return;
    s = &ep->slots[idx];
    if (!s->busy || s->id != id)
        return; /* late: its query was already lost */
    slot_release(r, ep, s);
    if (r->phase == PHASE_WINDOW) {
        if (now - r->gap_from > r->max_gap)
            r->max_gap = now - r->gap_from;
        r->gap_from = now;
    }
    q = &r->queries[s->query];
    if (r->o.verify && !answer_matches(r, q, pkt, len)) {
        if (s->counted)
            r->c.wrong++;
        return;
    }
    if (r->records != NULL && !r->records[q->distinct].answered)
        record_answer(&r->records[q->distinct], q, pkt, len);
    if (!s->counted)
        return;
    r->c.answered++;
    r->c.hist[hist_index((now - s->sent_ns) / 1000)]++;
    r->last_answer = now;
    rcode = pkt[3] & 0x0f;
    if (pkt[2] & 0x02)
        r->c.tc++;
    switch (rcode) {
    case 0:
        r->c.noerror++;
        if (pkt[6] == 0 && pkt[7] == 0)
            r->c.empty_noerror++;
        break;
    case 1:
        r->c.formerr++;
        break;
    case 2:
        r->c.servfail++;
        break;
    case 3:
        r->c.nxdomain++;
        break;
    case 5:
        r->c.refused++;
        break;
    default:
        r->c.other_rcode++;
    }
}

/* ------------------------------------------------------------ UDP */

static void udp_open(run_t *r, endpoint_t *ep)
{
    int size = 4 << 20;

    ep->fd = socket(r->o.server.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (ep->fd < 0) {
        fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
        exit(1);
    }
    /* Best effort: capped by net.core.[rw]mem_max. */
    setsockopt(ep->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    setsockopt(ep->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    /* Connected: replies from elsewhere are dropped by the kernel, and an
     * ICMP error comes back as ECONNREFUSED. */
    if (connect(ep->fd, (struct sockaddr *)&r->o.server, r->o.server_len) != 0) {
        fprintf(stderr, "loadgen: connect: %s\n", strerror(errno));
        exit(1);
    }
}

/* Sends n queries on ep in batches. Returns how many went out; the rest
 * (socket buffer full, an error) stay unsent. */
static unsigned udp_send(run_t *r, endpoint_t *ep, unsigned n, uint64_t now)
{
    unsigned done = 0;

    while (done < n) {
        unsigned k = n - done < r->o.batch ? n - done : r->o.batch, sent = 0, retries = 0;
        slot_t *claimed[MAX_BATCH];

        for (unsigned i = 0; i < k; i++) {
            slot_t *s = slot_claim(r, ep, now);
            const query_t *q = &r->queries[s->query];
            struct iovec *iov = &r->siov[2 * i];

            claimed[i] = s;
            iov[0].iov_base = s->id_wire;
            iov[0].iov_len = 2;
            iov[1].iov_base = r->wire + q->off + 4; /* past the TCP length and the ID */
            iov[1].iov_len = q->len - 2u;
        }
        while (sent < k) {
            int rc = sendmmsg(ep->fd, r->smsgs + sent, k - sent, 0);

            if (rc > 0)
                sent += (unsigned)rc;
            else if (rc < 0 && errno == EINTR)
                continue;
            else if (rc < 0 && errno == ECONNREFUSED && retries++ < 4)
                continue; /* an earlier query's ICMP error, now cleared */
            else
                break;
        }
        for (unsigned i = 0; i < sent; i++)
            slot_commit(r, ep, claimed[i], now);
        for (unsigned i = k; i-- > sent;)
            slot_unclaim(r, ep, claimed[i]);
        done += sent;
        if (sent < k) {
            r->send_short = true;
            break;
        }
    }
    return done;
}

/* Reads one batch of answers from ep. Returns how many came. */
static unsigned udp_receive(run_t *r, endpoint_t *ep)
{
    int n = recvmmsg(ep->fd, r->rmsgs, r->o.batch, MSG_DONTWAIT, NULL);
    uint64_t now;

    if (n <= 0)
        return 0; /* EAGAIN; ECONNREFUSED: that query times out */
    now = mono_ns();
    for (int i = 0; i < n; i++)
        on_answer(r, ep, r->rbufs + (size_t)i * RECV_SIZE, r->rmsgs[i].msg_len, now);
    return (unsigned)n;
}

/* ------------------------------------------------------------ TCP */

static void tcp_close(run_t *r, endpoint_t *ep, uint64_t now, uint64_t retry_in)
{
    close(ep->fd);
    ep->fd = -1;
    for (unsigned i = 0; i < ep->nslots && ep->busy > 0; i++)
        if (ep->slots[i].busy)
            slot_lose(r, ep, &ep->slots[i], now);
    ep->state = CONN_IDLE;
    ep->retry_ns = now + retry_in;
    ep->rlen = ep->woff = ep->wlen = 0;
    ep->on_conn = 0;
}

static void tcp_connect(run_t *r, endpoint_t *ep, uint64_t now)
{
    int one = 1;

    ep->fd = socket(r->o.server.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (ep->fd < 0) {
        fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
        exit(1);
    }
    /* We write whole batches ourselves: Nagle would only hold them back. */
    setsockopt(ep->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (r->phase == PHASE_WINDOW)
        r->c.connects++;
    if (connect(ep->fd, (struct sockaddr *)&r->o.server, r->o.server_len) == 0) {
        ep->state = CONN_OPEN;
    } else if (errno == EINPROGRESS) {
        ep->state = CONN_CONNECTING;
    } else {
        if (r->phase == PHASE_WINDOW)
            r->c.connect_errors++;
        tcp_close(r, ep, now, 50 * NS_PER_MS);
    }
}

/* Writes what is pending. Returns false if the connection broke. */
static bool tcp_flush(endpoint_t *ep)
{
    while (ep->woff < ep->wlen) {
        ssize_t n = send(ep->fd, ep->wbuf + ep->woff, ep->wlen - ep->woff, MSG_NOSIGNAL);

        if (n > 0)
            ep->woff += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        else
            return false;
    }
    ep->woff = ep->wlen = 0;
    return true;
}

/* Queues n queries on ep's connection, framed, and writes them. */
static unsigned tcp_send(run_t *r, endpoint_t *ep, unsigned n, uint64_t now)
{
    if (ep->woff > 0) {
        memmove(ep->wbuf, ep->wbuf + ep->woff, ep->wlen - ep->woff);
        ep->wlen -= ep->woff;
        ep->woff = 0;
    }
    for (unsigned i = 0; i < n; i++) {
        slot_t *s = slot_claim(r, ep, now);
        const query_t *q = &r->queries[s->query];
        uint8_t *out = ep->wbuf + ep->wlen;

        /* wbuf holds at most one query per busy slot: it has room */
        memcpy(out, r->wire + q->off, 2u + q->len);
        out[2] = s->id_wire[0];
        out[3] = s->id_wire[1];
        ep->wlen += 2u + q->len;
        slot_commit(r, ep, s, now);
    }
    ep->on_conn += n;
    if (!tcp_flush(ep))
        tcp_close(r, ep, now, 0);
    return n;
}

/* Reads what the connection has and handles each whole answer. */
static void tcp_receive(run_t *r, endpoint_t *ep, uint64_t now)
{
    for (;;) {
        ssize_t n = recv(ep->fd, ep->rbuf + ep->rlen, TCP_RBUF - ep->rlen, 0);
        size_t pos = 0;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) { /* closed by the server, or reset */
            tcp_close(r, ep, now, 0);
            return;
        }
        ep->rlen += (size_t)n;
        while (ep->rlen - pos >= 2) {
            size_t len = (size_t)ep->rbuf[pos] << 8 | ep->rbuf[pos + 1];

            if (ep->rlen - pos < 2 + len)
                break;
            on_answer(r, ep, ep->rbuf + pos + 2, len, now);
            pos += 2 + len;
        }
        memmove(ep->rbuf, ep->rbuf + pos, ep->rlen - pos);
        ep->rlen -= pos;
    }
}

/* Handles what poll said about one connection, and its timers. */
static void tcp_service(run_t *r, endpoint_t *ep, short revents, uint64_t now)
{
    if (ep->state == CONN_IDLE) {
        if (now >= ep->retry_ns && (r->phase == PHASE_WARMUP || r->phase == PHASE_WINDOW))
            tcp_connect(r, ep, now);
        return;
    }
    if (ep->state == CONN_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);

        if (revents == 0)
            return;
        getsockopt(ep->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            if (r->phase == PHASE_WINDOW)
                r->c.connect_errors++;
            tcp_close(r, ep, now, 50 * NS_PER_MS);
            return;
        }
        ep->state = CONN_OPEN;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR))
        tcp_receive(r, ep, now);
    if (ep->state == CONN_OPEN && (revents & POLLOUT) && !tcp_flush(ep))
        tcp_close(r, ep, now, 0);
    /* -p: this connection has asked its share and has its answers */
    if (ep->state == CONN_OPEN && r->o.per_conn > 0 && ep->on_conn >= r->o.per_conn &&
        ep->busy == 0) {
        tcp_close(r, ep, now, 0);
        if (r->phase == PHASE_WARMUP || r->phase == PHASE_WINDOW)
            tcp_connect(r, ep, now);
    }
}

/* ------------------------------------------------------------ the loop */

/* How many more queries ep may take now. */
static unsigned endpoint_room(const run_t *r, const endpoint_t *ep)
{
    unsigned room = ep->n_free;

    if (r->o.tcp) {
        if (ep->state != CONN_OPEN)
            return 0;
        if (r->o.per_conn > 0 && r->o.per_conn - ep->on_conn < room)
            room = (unsigned)(r->o.per_conn - ep->on_conn);
    }
    if (r->o.count > 0 && r->o.count - r->c.sent < room)
        room = (unsigned)(r->o.count - r->c.sent);
    return room;
}

static unsigned endpoint_send(run_t *r, endpoint_t *ep, unsigned n, uint64_t now)
{
    return r->o.tcp ? tcp_send(r, ep, n, now) : udp_send(r, ep, n, now);
}

static bool sending(const run_t *r)
{
    return r->phase == PHASE_WARMUP || r->phase == PHASE_WINDOW;
}

/* Closed loop: fills ep's free slots. */
static void fill(run_t *r, endpoint_t *ep, uint64_t now)
{
    unsigned room;

    if (r->o.rate > 0 || !sending(r))
        return;
    room = endpoint_room(r, ep);
    if (room > 0)
        endpoint_send(r, ep, room, now);
}

/* Open loop: sends what the schedule owes, a batch per endpoint in turn. */
static void pace(run_t *r, uint64_t now)
{
    uint64_t due, owed, cap;

    if (r->o.rate <= 0 || !sending(r))
        return;
    due = (uint64_t)((double)(now - r->pace_start) * r->o.rate / 1e9);
    if (due <= r->paced)
        return;
    owed = due - r->paced;
    if (owed < r->pace_batch && (r->o.count == 0 || r->o.count - r->c.sent >= r->pace_batch))
        return; /* not a whole batch yet */
    /* Never more than 10 ms behind: catching up would be a burst, not the
     * offered rate. What is skipped shows as a lower qps. */
    cap = (uint64_t)(r->o.rate / 100) + 4u * r->pace_batch;
    if (owed > cap) {
        r->paced += owed - cap;
        owed = cap;
    }
    for (unsigned tries = 0; owed > 0 && tries < r->n_eps; tries++) {
        endpoint_t *ep = &r->eps[r->next_ep];
        unsigned n = endpoint_room(r, ep), sent;

        if (++r->next_ep == r->n_eps)
            r->next_ep = 0;
        if (n > r->o.batch)
            n = r->o.batch;
        if (n > owed)
            n = (unsigned)owed;
        if (n == 0)
            continue;
        sent = endpoint_send(r, ep, n, now);
        r->paced += sent;
        owed -= sent;
    }
}

/* Gives up on queries older than the timeout. */
static void scan_timeouts(run_t *r, uint64_t now)
{
    uint64_t limit = (uint64_t)r->o.timeout_ms * NS_PER_MS;

    if (now < r->next_scan)
        return;
    r->next_scan = now + r->scan_every;
    for (unsigned e = 0; e < r->n_eps; e++) {
        endpoint_t *ep = &r->eps[e];

        for (unsigned i = 0; i < ep->nslots && ep->busy > 0; i++) {
            slot_t *s = &ep->slots[i];

            if (s->busy && now - s->sent_ns >= limit)
                slot_lose(r, ep, s, now);
        }
    }
}

static void phase_step(run_t *r, uint64_t now)
{
    switch (r->phase) {
    case PHASE_WARMUP:
        if (now >= r->phase_end || stop_signal) {
            r->phase = PHASE_WINDOW;
            r->window_start = r->gap_from = now;
            r->phase_end = now + (uint64_t)(r->o.duration * 1e9);
        }
        break;
    case PHASE_WINDOW:
        if (stop_signal || (r->o.count > 0 ? r->c.sent >= r->o.count : now >= r->phase_end)) {
            if (r->busy > 0 && now - r->gap_from > r->max_gap)
                r->max_gap = now - r->gap_from;
            r->phase = PHASE_DRAIN;
            r->window_end = now;
            r->phase_end = now + (uint64_t)r->o.timeout_ms * NS_PER_MS + 2 * r->scan_every;
        }
        break;
    case PHASE_DRAIN:
        if (r->busy == 0 || now >= r->phase_end || stop_signal > 1)
            r->phase = PHASE_DONE;
        break;
    case PHASE_DONE:
        break;
    }
}

/* Waits for answers until the next thing to do. */
static void wait_events(run_t *r, uint64_t now)
{
    uint64_t until = r->next_scan;
    struct timespec ts;

    if ((r->phase != PHASE_WINDOW || r->o.count == 0) && r->phase_end < until)
        until = r->phase_end;
    if (r->o.rate > 0 && sending(r)) {
        uint64_t next =
            r->pace_start + (uint64_t)((double)(r->paced + r->pace_batch) * 1e9 / r->o.rate);

        if (next < until)
            until = next;
    }
    if (r->send_short && now + NS_PER_MS < until)
        until = now + NS_PER_MS;
    r->send_short = false;
    for (unsigned e = 0; e < r->n_eps; e++) {
        endpoint_t *ep = &r->eps[e];

        r->pfds[e].fd = ep->fd;
        r->pfds[e].events = POLLIN;
        r->pfds[e].revents = 0;
        if (r->o.tcp && ep->state == CONN_IDLE && sending(r) && ep->retry_ns < until)
            until = ep->retry_ns > now ? ep->retry_ns : now;
        if (r->o.tcp && (ep->state == CONN_CONNECTING || ep->woff < ep->wlen))
            r->pfds[e].events |= POLLOUT;
    }
    until = until > now ? until - now : 0;
    ts.tv_sec = (time_t)(until / NS_PER_SEC);
    ts.tv_nsec = (long)(until % NS_PER_SEC);
    if (ppoll(r->pfds, r->n_eps, &ts, NULL) < 0 && errno != EINTR) {
        fprintf(stderr, "loadgen: poll: %s\n", strerror(errno));
        exit(1);
    }
}

/* Each round reads what came, tops up and sends what the schedule owes.
 * The closed loop polls only after a round that got nothing: under load
 * the next round finds answers waiting, and going round without a poll
 * keeps the batches, ours and the server's, full. The open loop polls
 * every round, and after a poll reads only the sockets it named, so it
 * sleeps between its ticks instead of spinning on empty sockets. */
static void run_udp(run_t *r)
{
    uint64_t now = mono_ns();
    bool polled = false;

    while (r->phase != PHASE_DONE) {
        unsigned got = 0;

        scan_timeouts(r, now);
        for (unsigned e = 0; e < r->n_eps; e++) {
            endpoint_t *ep = &r->eps[e];
            unsigned n = 0;

            if (!polled || r->pfds[e].revents != 0)
                n = udp_receive(r, ep);
            if (n > 0)
                now = mono_ns();
            got += n;
            fill(r, ep, now);
        }
        pace(r, now);
        phase_step(r, now);
        polled = r->phase != PHASE_DONE && (got == 0 || r->o.rate > 0);
        if (polled) {
            wait_events(r, now);
            now = mono_ns();
        }
    }
}

static void run_tcp(run_t *r)
{
    uint64_t now = mono_ns();

    for (unsigned e = 0; e < r->n_eps; e++)
        tcp_connect(r, &r->eps[e], now);
    while (r->phase != PHASE_DONE) {
        scan_timeouts(r, now);
        for (unsigned e = 0; e < r->n_eps; e++) {
            endpoint_t *ep = &r->eps[e];

            tcp_service(r, ep, ep->fd >= 0 ? r->pfds[e].revents : 0, now);
            fill(r, ep, now);
        }
        pace(r, now);
        phase_step(r, now);
        if (r->phase != PHASE_DONE) {
            wait_events(r, now);
            now = mono_ns();
        }
    }
}

/* ------------------------------------------------------------ set-up */

static double parse_double(const char *arg, const char *what, double min)
{
    char *end;
    double v = strtod(arg, &end);

    if (*arg == '\0' || *end != '\0' || !(v >= min) || v > 1e9)
        usage_error(what, arg);
    return v;
}

static uint64_t parse_count(const char *arg, const char *what, uint64_t min, uint64_t max)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(arg, &end, 10);
    if (*arg < '0' || *arg > '9' || *end != '\0' || errno != 0 || v < min || v > max)
        usage_error(what, arg);
    return v;
}

static void parse_options(int argc, char **argv, options_t *o)
{
    const char *server = NULL;
    bool conns_set = false, per_conn_set = false;
    int c;

    *o = (options_t){.duration = 5,
                     .warmup = 0.5,
                     .inflight = 256,
                     .batch = 32,
                     .sockets = 4,
                     .conns = 8,
                     .timeout_ms = 1000};
    while ((c = getopt(argc, argv, "s:f:d:n:q:r:b:S:Tc:p:t:w:gvo:h")) != -1) {
        switch (c) {
        case 's':
            server = optarg;
            break;
        case 'f':
            o->file = optarg;
            break;
        case 'd':
            o->duration = parse_double(optarg, "duration", 0.001);
            break;
        case 'n':
            o->count = parse_count(optarg, "count", 1, UINT64_MAX / 2);
            break;
        case 'q':
            o->inflight =
                (unsigned)parse_count(optarg, "in-flight count", 1, MAX_SOCKETS * MAX_SLOTS);
            break;
        case 'r':
            o->rate = parse_double(optarg, "rate", 1);
            break;
        case 'b':
            o->batch = (unsigned)parse_count(optarg, "batch", 1, MAX_BATCH);
            break;
        case 'S':
            o->sockets = (unsigned)parse_count(optarg, "socket count", 1, MAX_SOCKETS);
            break;
        case 'T':
            o->tcp = true;
            break;
        case 'c':
            o->conns = (unsigned)parse_count(optarg, "connection count", 1, MAX_SOCKETS);
            conns_set = true;
            break;
        case 'p':
            o->per_conn = parse_count(optarg, "queries per connection", 0, UINT64_MAX / 2);
            per_conn_set = true;
            break;
        case 't':
            o->timeout_ms = (unsigned)parse_count(optarg, "timeout", 1, 3600000);
            break;
        case 'w':
            o->warmup = parse_double(optarg, "warm-up", 0);
            break;
        case 'g':
            o->gaps = true;
            break;
        case 'v':
            o->verify = true;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'h':
            usage(0);
            break;
        default:
            usage(2);
        }
    }
    if (optind != argc || server == NULL || o->file == NULL)
        usage(2);
    if (!tool_hostport(server, &o->server, &o->server_len))
        usage_error("server address (ADDR:PORT or [ADDR6]:PORT)", server);
    if (!o->tcp && (conns_set || per_conn_set)) {
        fprintf(stderr, "loadgen: -c and -p need -T\n");
        usage(2);
    }
    unsigned n_eps = o->tcp ? o->conns : o->sockets;
    if (o->rate == 0 && o->inflight > n_eps * MAX_SLOTS) {
        fprintf(stderr, "loadgen: -q %u: at most %u in flight per %s\n", o->inflight, MAX_SLOTS,
                o->tcp ? "connection" : "socket");
        exit(2);
    }
    if (o->count > 0)
        o->warmup = 0;
}

static void run_setup(run_t *r)
{
    const options_t *o = &r->o;
    unsigned n_eps = o->tcp ? o->conns : o->sockets;
    unsigned per_ep[MAX_SOCKETS];

    if (o->rate > 0) {
        /* Room for twice what the rate puts in flight over one timeout. */
        double want = o->rate * o->timeout_ms / 1000.0 * 2 / n_eps;
        unsigned n = 64;

        while (n < MAX_SLOTS && n < want)
            n *= 2;
        for (unsigned e = 0; e < n_eps; e++)
            per_ep[e] = n;
        r->pace_batch = (unsigned)(o->rate / 10000); /* one batch per 100 us at most */
        if (r->pace_batch < 1)
            r->pace_batch = 1;
        if (r->pace_batch > o->batch)
            r->pace_batch = o->batch;
    } else {
        if (o->inflight < n_eps)
            n_eps = o->inflight;
        for (unsigned e = 0; e < n_eps; e++)
            per_ep[e] = o->inflight / n_eps + (e < o->inflight % n_eps ? 1 : 0);
    }
    r->n_eps = n_eps;
    r->eps = xcalloc(n_eps, sizeof(*r->eps));
    r->pfds = xcalloc(n_eps, sizeof(*r->pfds));
    for (unsigned e = 0; e < n_eps; e++) {
        endpoint_init(&r->eps[e], per_ep[e], o->tcp);
        if (!o->tcp)
            udp_open(r, &r->eps[e]);
    }
    r->rmsgs = xcalloc(o->batch, sizeof(*r->rmsgs));
    r->riov = xcalloc(o->batch, sizeof(*r->riov));
    r->rbufs = xcalloc(o->batch, RECV_SIZE);
    r->smsgs = xcalloc(o->batch, sizeof(*r->smsgs));
    r->siov = xcalloc(2 * (size_t)o->batch, sizeof(*r->siov));
    for (unsigned i = 0; i < o->batch; i++) {
        r->riov[i].iov_base = r->rbufs + (size_t)i * RECV_SIZE;
        r->riov[i].iov_len = RECV_SIZE;
        r->rmsgs[i].msg_hdr.msg_iov = &r->riov[i];
        r->rmsgs[i].msg_hdr.msg_iovlen = 1;
        r->smsgs[i].msg_hdr.msg_iov = &r->siov[2 * i];
        r->smsgs[i].msg_hdr.msg_iovlen = 2;
    }
    /* Lost queries are found within a sixteenth of the timeout. */
    r->scan_every = (uint64_t)o->timeout_ms * NS_PER_MS / 16;
    if (r->scan_every < NS_PER_MS)
        r->scan_every = NS_PER_MS;
    if (r->scan_every > 50 * NS_PER_MS)
        r->scan_every = 50 * NS_PER_MS;
}

static void run_free(run_t *r)
{
    for (unsigned e = 0; e < r->n_eps; e++) {
        endpoint_t *ep = &r->eps[e];

        if (ep->fd >= 0)
            close(ep->fd);
        free(ep->slots);
        free(ep->free_ids);
        free(ep->rbuf);
        free(ep->wbuf);
    }
    for (size_t i = 0; i < r->n_records; i++)
        free(r->records[i].line);
    free(r->records);
    free(r->eps);
    free(r->pfds);
    free(r->rmsgs);
    free(r->riov);
    free(r->rbufs);
    free(r->smsgs);
    free(r->siov);
    free(r->queries);
    free(r->wire);
}

/* -o: writes the answers kept, and closes f. */
static bool records_write(const run_t *r, FILE *f)
{
    static const char *rcodes[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                   "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                   "NXRRSET", "NOTAUTH", "NOTZONE"};

    for (size_t i = 0; i < r->n_records; i++) {
        const record_t *rec = &r->records[i];

        if (!rec->answered)
            fprintf(f, "%s\tNONE\t-\t-\n", rec->line);
        else if (rec->rcode < sizeof(rcodes) / sizeof(rcodes[0]))
            fprintf(f, "%s\t%s\t%u\t%s\n", rec->line, rcodes[rec->rcode], rec->ancount, rec->rdata);
        else
            fprintf(f, "%s\tRCODE%u\t%u\t%s\n", rec->line, rec->rcode, rec->ancount, rec->rdata);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "loadgen: %s: %s\n", r->o.out, strerror(errno));
        return false;
    }
    return true;
}

static void report(const run_t *r)
{
    const counts_t *c = &r->c;
    uint64_t end = r->window_end;
    double seconds;

    if (r->o.count > 0 && r->last_answer > end)
        end = r->last_answer;
    seconds = (double)(end - r->window_start) / 1e9;
    printf("mode=%s sent=%llu answered=%llu lost=%llu wrong=%llu seconds=%.3f qps=%.0f "
           "p50_us=%llu p99_us=%llu",
           r->o.tcp ? "tcp" : "udp", (unsigned long long)c->sent, (unsigned long long)c->answered,
           (unsigned long long)c->lost, (unsigned long long)c->wrong, seconds,
           seconds > 0 ? (double)c->answered / seconds : 0.0,
           (unsigned long long)percentile(c, 0.50), (unsigned long long)percentile(c, 0.99));
    if (r->o.gaps)
        printf(" max_gap_ms=%.1f", (double)r->max_gap / 1e6);
    printf(" noerror=%llu nxdomain=%llu servfail=%llu refused=%llu formerr=%llu "
           "other_rcode=%llu tc=%llu empty_noerror=%llu",
           (unsigned long long)c->noerror, (unsigned long long)c->nxdomain,
           (unsigned long long)c->servfail, (unsigned long long)c->refused,
           (unsigned long long)c->formerr, (unsigned long long)c->other_rcode,
           (unsigned long long)c->tc, (unsigned long long)c->empty_noerror);
    if (r->o.tcp)
        printf(" connects=%llu connect_errors=%llu", (unsigned long long)c->connects,
               (unsigned long long)c->connect_errors);
    printf("\n");
}

int main(int argc, char **argv)
{
    static run_t run; /* large (the histogram): not on the stack */
    run_t *r = &run;
    struct sigaction sa;
    FILE *out = NULL;
    uint64_t now;
    bool ok = true;

    parse_options(argc, argv, &r->o);
    queries_load(r);
    /* Opened now: a typo in its path should not cost a whole run. */
    if (r->o.out != NULL && (out = fopen(r->o.out, "w")) == NULL) {
        fprintf(stderr, "loadgen: %s: %s\n", r->o.out, strerror(errno));
        return 1;
    }
    run_setup(r);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    now = mono_ns();
    r->phase = PHASE_WARMUP;
    r->phase_end = now + (uint64_t)(r->o.warmup * 1e9);
    r->pace_start = now;
    r->next_scan = now + r->scan_every;
    phase_step(r, now); /* no warm-up: straight into the window */
    if (r->o.tcp)
        run_tcp(r);
    else
        run_udp(r);
    /* Whatever is still out after the drain is lost. */
    now = mono_ns();
    for (unsigned e = 0; e < r->n_eps; e++)
        for (unsigned i = 0; i < r->eps[e].nslots; i++)
            if (r->eps[e].slots[i].busy)
                slot_lose(r, &r->eps[e], &r->eps[e].slots[i], now);
    report(r);
    if (out != NULL)
        ok = records_write(r, out);
    run_free(r);
    return ok ? 0 : 1;
}
