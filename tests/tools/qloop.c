/*
 * qloop: a steady UDP (or TCP) query loop for the integration tests.
 *
 * A failover test must know when the answer changed and that no query was
 * lost while it did: dig in a shell loop is too slow and too coarse. qloop
 * sends one query every 1000/RATE ms (on a fixed schedule, not one after
 * another: a slow answer does not delay the next query), optionally with
 * an EDNS Client Subnet option, and gives each query TIMEOUT ms to be
 * answered.
 *
 *   qloop -p PORT [-s ADDR] [-r RATE] [-w MS] [-e SUBNET] [-t A|AAAA]
 *         [-o FILE] [-T SECONDS] [-x] [-a ANSWER] NAME
 *
 * -x (--tcp) sends every query over one TCP connection, pipelined (the
 * next query does not wait for the previous reply), as a resolver that
 * keeps its connection open does. If the server closes it, qloop says so
 * on stderr and connects again; the queries that were out time out.
 * -a (--expect) ANSWER checks every reply, not only the changes: a reply
 * whose answer ("ADDR,ADDR" as below, or NODATA, SERVFAIL, ...) is not
 * ANSWER counts as wrong.
 *
 * Output (FILE, default stdout; flushed per line so a test can follow it):
 *   "# qloop NAME TYPE ecs SUBNET|none start_epoch_ms MS"  once, first;
 *   "T_ms ANSWER TTL"  whenever the answer differs from the previous one.
 * T_ms is milliseconds since the start (monotonic clock) at which the
 * first reply with the new answer arrived. ANSWER is the answer's A/AAAA
 * addresses, sorted, comma separated; "NODATA" for NOERROR without any;
 * the rcode name (SERVFAIL, NXDOMAIN, ...) otherwise, or "TC" for a
 * truncated reply. TTL is the smallest TTL of those records ("-" when
 * there are none). Replies are applied in the order their queries were
 * sent: a reply overtaken by a later query's reply changes nothing.
 *
 * Every timeout is reported on stderr as it happens. At exit (SIGTERM,
 * SIGINT or -T SECONDS) qloop stops sending, waits for the queries still
 * out (at most TIMEOUT), and prints on stdout:
 *   "sent N answered N timeouts N servfail N other N late N bad N"
 * other: replies with an rcode other than NOERROR and SERVFAIL; late:
 * replies that came after their query had timed out (counted as timeouts
 * too); bad: replies that did not match a query (ID, question) or did not
 * parse. With -a, " wrong N" follows. Exit status 0, or 2 for usage and
 * socket errors; the caller judges the counts.
 *
 * Packets are built and parsed by hand: no allocation per query.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
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

#include "tool_addr.h"

#define MAX_PKT 4096
#define MAX_ADDRS 64
#define N_IDS 65536
#define TYPE_A 1
#define TYPE_AAAA 28
#define TYPE_OPT 41
#define OPT_ECS 8

typedef struct options {
    const char *server;
    uint16_t port;
    unsigned rate;
    unsigned timeout_ms;
    double seconds;
    const char *ecs; /* text, or NULL */
    uint16_t qtype;
    const char *out;
    const char *name;
    bool tcp;
    const char *expect; /* -a: the one right answer, or NULL */
} options_t;

/* One query on the wire, waiting for its reply. */
typedef struct pending {
    bool out;
    uint64_t seq;
    double sent_ms;
} pending_t;

typedef struct counts {
    unsigned long sent, answered, timeouts, servfail, other, late, bad, wrong;
} counts_t;

static volatile sig_atomic_t stop_signal;

static pending_t pending[N_IDS];
static uint16_t fifo[N_IDS]; /* ids in the order sent, for timeouts */
static size_t fifo_head, fifo_tail;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static double mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void usage(void)
{
    fprintf(stderr, "usage: qloop -p PORT [-s ADDR] [-r RATE] [-w MS] [-e SUBNET] [-t A|AAAA]\n"
                    "             [-o FILE] [-T SECONDS] [-x] [-a ANSWER] NAME\n");
    exit(2);
}

static const char *rcode_name(unsigned rcode)
{
    static const char *names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                  "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                  "NXRRSET", "NOTAUTH", "NOTZONE"};

    return rcode < sizeof(names) / sizeof(names[0]) ? names[rcode] : "RCODE?";
}

/* Appends the OPT record, with an ECS option for SUBNET ("addr/prefix" or
 * a bare address) when subnet is not NULL. Returns the bytes written, or 0
 * for a bad subnet. */
static size_t opt_encode(const char *subnet, uint8_t *out)
{
    size_t len = 0;

    out[len++] = 0; /* root owner */
    out[len++] = 0;
    out[len++] = TYPE_OPT;
    out[len++] = 1232 >> 8; /* UDP payload size */
    out[len++] = 1232 & 0xff;
    memset(out + len, 0, 4); /* extended rcode, version, flags */
    len += 4;
    if (subnet == NULL) {
        out[len++] = 0;
        out[len++] = 0;
        return len;
    }
    size_t n = tool_ecs_option(subnet, out + len + 2);
    if (n == 0)
        return 0;
    out[len++] = 0; /* RDLENGTH */
    out[len++] = (uint8_t)n;
    return len + n;
}

/* Skips a possibly compressed name at *off. Returns false if it runs past
 * the packet or is malformed. */
static bool name_skip(const uint8_t *pkt, size_t len, size_t *off)
{
    size_t o = *off;

    for (;;) {
        if (o >= len)
            return false;
        if ((pkt[o] & 0xc0) == 0xc0) {
            if (o + 2 > len)
                return false;
            *off = o + 2;
            return true;
        }
        if ((pkt[o] & 0xc0) != 0)
            return false;
        if (pkt[o] == 0) {
            *off = o + 1;
            return true;
        }
        o += 1u + pkt[o];
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Parses a reply into key ("ADDR,ADDR TTL", "NODATA -", "SERVFAIL -", ...)
 * and its rcode. qname/qname_len is the question as sent. Returns the
 * reply's id, or -1 if it does not parse or does not answer our question. */
static long reply_parse(const uint8_t *pkt, size_t len, const uint8_t *qname, size_t qname_len,
                        uint16_t qtype, char *key, size_t key_cap, unsigned *rcode)
{
    char addrs[MAX_ADDRS][INET6_ADDRSTRLEN];
    const char *sorted[MAX_ADDRS];
    size_t n_addrs = 0, off = 12, i, used;
    unsigned qd, an, flags;
    uint32_t min_ttl = UINT32_MAX;

    if (len < 12)
        return -1;
    flags = (unsigned)pkt[2] << 8 | pkt[3];
    qd = (unsigned)pkt[4] << 8 | pkt[5];
    an = (unsigned)pkt[6] << 8 | pkt[7];
    if ((flags & 0x8000) == 0 || qd != 1)
        return -1;
    if (off + qname_len + 4 > len)
        return -1;
    for (i = 0; i < qname_len; i++) /* the question is never compressed */
        if (tolower(pkt[off + i]) != tolower(qname[i]))
            return -1;
    off += qname_len;
    if (((unsigned)pkt[off] << 8 | pkt[off + 1]) != qtype)
        return -1;
    off += 4;
    *rcode = flags & 0x0f;
    for (i = 0; i < an; i++) {
        unsigned type, rdlen;
        uint32_t ttl;

        if (!name_skip(pkt, len, &off) || off + 10 > len)
            return -1;
        type = (unsigned)pkt[off] << 8 | pkt[off + 1];
        ttl = (uint32_t)pkt[off + 4] << 24 | (uint32_t)pkt[off + 5] << 16 |
              (uint32_t)pkt[off + 6] << 8 | pkt[off + 7];
        rdlen = (unsigned)pkt[off + 8] << 8 | pkt[off + 9];
        off += 10;
        if (off + rdlen > len)
            return -1;
        if (type == qtype && n_addrs < MAX_ADDRS && rdlen == (type == TYPE_A ? 4u : 16u)) {
            inet_ntop(type == TYPE_A ? AF_INET : AF_INET6, pkt + off, addrs[n_addrs],
                      sizeof(addrs[n_addrs]));
            sorted[n_addrs] = addrs[n_addrs];
            n_addrs++;
            if (ttl < min_ttl)
                min_ttl = ttl;
        }
        off += rdlen;
    }
    if (*rcode != 0) {
        snprintf(key, key_cap, "%s -", rcode_name(*rcode));
    } else if (flags & 0x0200) {
        snprintf(key, key_cap, "TC -");
    } else if (n_addrs == 0) {
        snprintf(key, key_cap, "NODATA -");
    } else {
        qsort(sorted, n_addrs, sizeof(sorted[0]), cmp_str);
        used = 0;
        key[0] = '\0';
        for (i = 0; i < n_addrs && used + 1 < key_cap; i++)
            used +=
                (size_t)snprintf(key + used, key_cap - used, "%s%s", i > 0 ? "," : "", sorted[i]);
        if (used + 1 < key_cap)
            snprintf(key + used, key_cap - used, " %u", (unsigned)min_ttl);
    }
    return (long)((unsigned)pkt[0] << 8 | pkt[1]);
}

static void parse_options(int argc, char **argv, options_t *o)
{
    static const struct option longopts[] = {{"server", required_argument, NULL, 's'},
                                             {"port", required_argument, NULL, 'p'},
                                             {"rate", required_argument, NULL, 'r'},
                                             {"timeout", required_argument, NULL, 'w'},
                                             {"ecs", required_argument, NULL, 'e'},
                                             {"type", required_argument, NULL, 't'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"seconds", required_argument, NULL, 'T'},
                                             {"tcp", no_argument, NULL, 'x'},
                                             {"expect", required_argument, NULL, 'a'},
                                             {NULL, 0, NULL, 0}};
    unsigned long v;
    char *end;
    int c;

    memset(o, 0, sizeof(*o));
    o->server = "127.0.0.1";
    o->rate = 100;
    o->timeout_ms = 1000;
    o->qtype = TYPE_A;
    while ((c = getopt_long(argc, argv, "s:p:r:w:e:t:o:T:xa:", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->server = optarg;
            break;
        case 'p':
            v = strtoul(optarg, &end, 10);
            if (*end != '\0' || v == 0 || v > 65535)
                usage();
            o->port = (uint16_t)v;
            break;
        case 'r':
            v = strtoul(optarg, &end, 10);
            if (*end != '\0' || v == 0 || v > 10000)
                usage();
            o->rate = (unsigned)v;
            break;
        case 'w':
            v = strtoul(optarg, &end, 10);
            if (*end != '\0' || v == 0 || v > 5000)
                usage();
            o->timeout_ms = (unsigned)v;
            break;
        case 'e':
            o->ecs = optarg;
            break;
        case 't':
            if (strcasecmp(optarg, "A") == 0)
                o->qtype = TYPE_A;
            else if (strcasecmp(optarg, "AAAA") == 0)
                o->qtype = TYPE_AAAA;
            else
                usage();
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'T':
            o->seconds = strtod(optarg, &end);
            if (*end != '\0' || o->seconds < 0)
                usage();
            break;
        case 'x':
            o->tcp = true;
            break;
        case 'a':
            o->expect = optarg;
            break;
        default:
            usage();
        }
    }
    if (o->port == 0 || optind + 1 != argc)
        usage();
    /* every query out at once must have its own ID */
    if ((unsigned long)o->rate * o->timeout_ms / 1000 >= N_IDS - 1024) {
        fprintf(stderr, "qloop: rate x timeout too large\n");
        exit(2);
    }
    o->name = argv[optind];
}

/* Times out the queries whose deadline has passed. */
static void expire(const options_t *o, double now, double t0, counts_t *n)
{
    while (fifo_head != fifo_tail) {
        uint16_t id = fifo[fifo_head % N_IDS];
        pending_t *p = &pending[id];

        if (p->out && p->sent_ms + o->timeout_ms > now)
            break;
        if (p->out) {
            p->out = false;
            n->timeouts++;
            fprintf(stderr, "qloop: %.0f ms: query %llu (sent at %.0f ms) timed out\n", now - t0,
                    (unsigned long long)p->seq, p->sent_ms - t0);
        }
        fifo_head++;
    }
}

/* What the reply handler needs of the loop: the question, the counts and
 * the last answer logged. */
typedef struct loop_state {
    const options_t *o;
    const uint8_t *qname;
    size_t qname_len;
    FILE *out;
    double t0;
    counts_t n;
    char last_key[MAX_ADDRS * (INET6_ADDRSTRLEN + 1) + 16];
    uint64_t last_seq;
    bool have_last;
} loop_state_t;

/* Matches one reply to its query, counts it and logs a change of answer. */
static void reply_handle(loop_state_t *ls, const uint8_t *pkt, size_t len)
{
    char key[sizeof(ls->last_key)];
    unsigned rcode = 0;
    double now = mono_ms();
    long id = reply_parse(pkt, len, ls->qname, ls->qname_len, ls->o->qtype, key, sizeof(key),
                          &rcode);
    pending_t *pend;

    if (id < 0) {
        ls->n.bad++;
        return;
    }
    pend = &pending[id];
    if (!pend->out) {
        ls->n.late++;
        return;
    }
    pend->out = false;
    ls->n.answered++;
    if (rcode == 2)
        ls->n.servfail++;
    else if (rcode != 0)
        ls->n.other++;
    if (ls->o->expect != NULL) {
        size_t elen = strlen(ls->o->expect);

        /* the key is "ANSWER TTL": compare what comes before the TTL */
        if (strncmp(key, ls->o->expect, elen) != 0 || key[elen] != ' ') {
            ls->n.wrong++;
            fprintf(stderr, "qloop: %.0f ms: query %llu: wrong answer %s (expected %s)\n",
                    now - ls->t0, (unsigned long long)pend->seq, key, ls->o->expect);
        }
    }
    if (ls->have_last && pend->seq < ls->last_seq)
        return; /* overtaken by a later query's reply */
    ls->last_seq = pend->seq;
    if (!ls->have_last || strcmp(key, ls->last_key) != 0) {
        fprintf(ls->out, "%.0f %s\n", now - ls->t0, key);
        fflush(ls->out);
        strcpy(ls->last_key, key);
        ls->have_last = true;
    }
}

/* Opens the socket to the server: a connected UDP socket, or a TCP
 * connection. Returns the descriptor, or -1 (said on stderr). */
static int server_connect(const options_t *o, const struct sockaddr_storage *ss,
                          socklen_t ss_len)
{
    int fd = socket(ss->ss_family, o->tcp ? SOCK_STREAM : SOCK_DGRAM, 0);

    if (fd < 0 || connect(fd, (const struct sockaddr *)ss, ss_len) < 0) {
        fprintf(stderr, "qloop: %s socket to %s port %u: %s\n", o->tcp ? "TCP" : "UDP",
                o->server, o->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* TCP: reads what has arrived into buf (*used bytes held) and handles
 * every complete message. Returns false when the server closed the
 * connection or it failed. */
static bool tcp_read(int fd, loop_state_t *ls, uint8_t *buf, size_t cap, size_t *used)
{
    for (;;) {
        ssize_t got = recv(fd, buf + *used, cap - *used, MSG_DONTWAIT);
        size_t off = 0;

        if (got == 0)
            return false;
        if (got < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        *used += (size_t)got;
        while (*used - off >= 2) {
            size_t mlen = (size_t)buf[off] << 8 | buf[off + 1];

            if (*used - off < 2 + mlen)
                break;
            reply_handle(ls, buf + off + 2, mlen);
            off += 2 + mlen;
        }
        memmove(buf, buf + off, *used - off);
        *used -= off;
    }
}

int main(int argc, char **argv)
{
    static uint8_t query[MAX_PKT + 2], reply[MAX_PKT], tcp_buf[2 * 65538];
    options_t o;
    struct sockaddr_storage ss;
    socklen_t ss_len;
    struct sigaction sa;
    struct timespec wall;
    loop_state_t ls;
    uint8_t qname[256], *msg = query + 2; /* TCP: after the length */
    size_t qname_len, qlen, optlen, tcp_used = 0;
    uint64_t seq = 0;
    bool stopping = false;
    double t0, next_send, interval, stop_at, drain_until = 0;
    FILE *out = stdout;
    int fd;

    parse_options(argc, argv, &o);
    qname_len = tool_name_encode(o.name, qname, sizeof(qname));
    if (qname_len == 0) {
        fprintf(stderr, "qloop: bad name '%s'\n", o.name);
        return 2;
    }
    /* header: random-ish start id, RD clear, one question, one OPT */
    memset(msg, 0, 12);
    msg[5] = 1;
    msg[11] = 1;
    memcpy(msg + 12, qname, qname_len);
    qlen = 12 + qname_len;
    msg[qlen++] = (uint8_t)(o.qtype >> 8);
    msg[qlen++] = (uint8_t)o.qtype;
    msg[qlen++] = 0;
    msg[qlen++] = 1; /* IN */
    optlen = opt_encode(o.ecs, msg + qlen);
    if (optlen == 0) {
        fprintf(stderr, "qloop: bad subnet '%s'\n", o.ecs);
        return 2;
    }
    qlen += optlen;
    query[0] = (uint8_t)(qlen >> 8);
    query[1] = (uint8_t)qlen;

    if (tool_addr("qloop", o.server, o.port, &ss, &ss_len) < 0)
        return 2;
    fd = server_connect(&o, &ss, ss_len);
    if (fd < 0)
        return 2;
    if (o.out != NULL) {
        out = fopen(o.out, "w");
        if (out == NULL) {
            fprintf(stderr, "qloop: %s: %s\n", o.out, strerror(errno));
            return 2;
        }
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    seq = (uint64_t)getpid() * 7919u % N_IDS; /* ids need not start at 0 */
    clock_gettime(CLOCK_REALTIME, &wall);
    t0 = mono_ms();
    memset(&ls, 0, sizeof(ls));
    ls.o = &o;
    ls.qname = qname;
    ls.qname_len = qname_len;
    ls.out = out;
    ls.t0 = t0;
    ls.last_seq = seq;
    fprintf(out, "# qloop %s %s ecs %s start_epoch_ms %lld\n", o.name,
            o.qtype == TYPE_A ? "A" : "AAAA", o.ecs != NULL ? o.ecs : "none",
            (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000);
    fflush(out);
    interval = 1000.0 / o.rate;
    next_send = t0;
    stop_at = o.seconds > 0 ? t0 + o.seconds * 1000 : 0;

    for (;;) {
        double now = mono_ms(), wake;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int timeout, r;

        if (!stopping && (stop_signal != 0 || (stop_at > 0 && now >= stop_at))) {
            stopping = true;
            drain_until = now + o.timeout_ms;
        }
        expire(&o, now, t0, &ls.n);
        if (stopping && (fifo_head == fifo_tail || now >= drain_until))
            break;
        if (!stopping && now >= next_send) {
            uint16_t id = (uint16_t)(seq & 0xffff);

            msg[0] = (uint8_t)(id >> 8);
            msg[1] = (uint8_t)id;
            if (o.tcp) {
                /* a short or failed write leaves the query to time out */
                if (send(fd, query, qlen + 2, MSG_NOSIGNAL) != (ssize_t)(qlen + 2))
                    fprintf(stderr, "qloop: TCP send: %s\n", strerror(errno));
            } else if (send(fd, msg, qlen, 0) < 0 && errno != ECONNREFUSED) {
                /* an error here (ICMP from an earlier send) leaves the query to time out */
                fprintf(stderr, "qloop: send: %s\n", strerror(errno));
            }
            if (pending[id].out) { /* cannot happen within the rate limit */
                pending[id].out = false;
                ls.n.timeouts++;
            }
            pending[id] = (pending_t){.out = true, .seq = seq, .sent_ms = now};
            fifo[fifo_tail++ % N_IDS] = id;
            seq++;
            ls.n.sent++;
            next_send += interval;
            if (next_send < now - interval) /* stalled: do not burst to catch up */
                next_send = now + interval;
            continue;
        }
        wake = stopping ? drain_until : next_send;
        if (fifo_head != fifo_tail) {
            double deadline = pending[fifo[fifo_head % N_IDS]].sent_ms + o.timeout_ms;

            if (deadline < wake)
                wake = deadline;
        }
        timeout = wake > now ? (int)(wake - now) + 1 : 0;
        r = poll(&p, 1, timeout);
        if (r < 0 && errno != EINTR) {
            perror("qloop: poll");
            return 2;
        }
        if (r <= 0)
            continue;
        if (o.tcp) {
            if (!tcp_read(fd, &ls, tcp_buf, sizeof(tcp_buf), &tcp_used)) {
                fprintf(stderr, "qloop: %.0f ms: the server closed the TCP connection\n",
                        mono_ms() - t0);
                close(fd);
                tcp_used = 0;
                fd = server_connect(&o, &ss, ss_len);
                if (fd < 0)
                    return 2;
            }
            continue;
        }
        for (;;) {
            ssize_t got = recv(fd, reply, sizeof(reply), MSG_DONTWAIT);

            if (got < 0)
                break; /* EAGAIN, or ECONNREFUSED: the query times out */
            reply_handle(&ls, reply, (size_t)got);
        }
    }
    if (out != stdout)
        fclose(out);
    printf("sent %lu answered %lu timeouts %lu servfail %lu other %lu late %lu bad %lu",
           ls.n.sent, ls.n.answered, ls.n.timeouts, ls.n.servfail, ls.n.other, ls.n.late,
           ls.n.bad);
    if (o.expect != NULL)
        printf(" wrong %lu", ls.n.wrong);
    printf("\n");
    fflush(stdout);
    close(fd);
    return 0;
}
