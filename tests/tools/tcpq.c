/*
 * tcpq: a DNS-over-TCP client for the integration tests (RFC 7766).
 *
 * dig opens one connection per query and waits for each answer, so it
 * cannot show that a server handles pipelining, partial frames, idle
 * timeouts or a connection cap. tcpq can:
 *
 *   default   send every query (times -r) framed in ONE write on one
 *             connection, read as many answers and require them in order,
 *             each with the query's ID and question; one line per answer.
 *   -x        the same, but written one byte at a time (partial frames).
 *   -w SECS   afterwards keep the connection idle and report when the
 *             server closes it; fail if it is still open after SECS.
 *   -C N      open N connections one after another, ask the first query on
 *             each and keep them open; then ask again on every one. Prints
 *             how many were answered in each round (the caller judges).
 *
 * Queries are NAME[/TYPE[/CLASS]], TYPE defaulting to A and CLASS to IN.
 * Exit status: 0 all checks passed, 1 a check failed, 2 usage or I/O setup
 * error. ldns builds and parses the packets: this is test code, speed and
 * allocation do not matter here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tool_addr.h"

#define MAX_MSG 65535

typedef struct query {
    char *text;
    ldns_rdf *name;
    ldns_rr_type type;
    ldns_rr_class class;
    uint16_t id;
    uint8_t *wire; /* with the 2-byte length prefix */
    size_t wire_len;
} query_t;

typedef struct options {
    const char *server;
    uint16_t port;
    int timeout_ms;
    unsigned repeat;
    double idle_wait;
    unsigned conns;
    bool bytewise;
    bool quiet;
} options_t;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tcpq [-s ADDR] -p PORT [-t MS] [-r N] [-x] [-w SECS] [-C N] [-q]\n"
            "            NAME[/TYPE[/CLASS]]...\n");
    exit(2);
}

static bool query_build(query_t *q, const char *text, uint16_t id)
{
    char *copy = strdup(text);
    char *type_s, *class_s;
    ldns_pkt *pkt = NULL;
    uint8_t *body = NULL;
    size_t body_len = 0;

    if (copy == NULL)
        return false;
    q->text = strdup(text);
    type_s = strchr(copy, '/');
    class_s = NULL;
    if (type_s != NULL) {
        *type_s++ = '\0';
        class_s = strchr(type_s, '/');
        if (class_s != NULL)
            *class_s++ = '\0';
    }
    q->type = type_s != NULL ? ldns_get_rr_type_by_name(type_s) : LDNS_RR_TYPE_A;
    q->class = class_s != NULL ? ldns_get_rr_class_by_name(class_s) : LDNS_RR_CLASS_IN;
    q->name = ldns_dname_new_frm_str(copy);
    if (q->name == NULL || q->type == 0 || q->class == 0) {
        fprintf(stderr, "tcpq: bad query '%s'\n", text);
        free(copy);
        return false;
    }
    free(copy);
    pkt = ldns_pkt_query_new(ldns_rdf_clone(q->name), q->type, q->class, 0);
    if (pkt == NULL)
        return false;
    q->id = id;
    ldns_pkt_set_id(pkt, id);
    if (ldns_pkt2wire(&body, pkt, &body_len) != LDNS_STATUS_OK || body_len > MAX_MSG) {
        ldns_pkt_free(pkt);
        return false;
    }
    ldns_pkt_free(pkt);
    q->wire = malloc(body_len + 2);
    if (q->wire == NULL) {
        free(body);
        return false;
    }
    q->wire[0] = (uint8_t)(body_len >> 8);
    q->wire[1] = (uint8_t)body_len;
    memcpy(q->wire + 2, body, body_len);
    q->wire_len = body_len + 2;
    free(body);
    return true;
}

static int tcp_connect(const options_t *o)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;

    if (tool_addr("tcpq", o->server, o->port, &ss, &len) < 0)
        return -1;
    fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("tcpq: socket");
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        fprintf(stderr, "tcpq: connect %s port %u: %s\n", o->server, o->port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static bool write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "tcpq: send: %s\n", strerror(errno));
            return false;
        }
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads exactly len bytes before the deadline. Returns 1 on success, 0 if
 * the peer closed, -1 on timeout, -2 on error. */
static int read_exact(int fd, uint8_t *buf, size_t len, double deadline)
{
    size_t got = 0;

    while (got < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        double left = deadline - now_s();
        ssize_t n;
        int r;

        if (left <= 0)
            return -1;
        r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -2;
        if (r == 0)
            continue;
        n = recv(fd, buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == ECONNRESET ? 0 : -2;
        if (n == 0)
            return 0;
        got += (size_t)n;
    }
    return 1;
}

/* Reads one framed message. Returns what read_exact returns; *out is an
 * ldns packet the caller frees (NULL if the bytes did not parse). */
static int read_answer(int fd, int timeout_ms, ldns_pkt **out, size_t *len_out)
{
    static uint8_t buf[MAX_MSG];
    double deadline = now_s() + timeout_ms / 1000.0;
    uint8_t lenb[2];
    size_t len;
    int r;

    *out = NULL;
    r = read_exact(fd, lenb, 2, deadline);
    if (r != 1)
        return r;
    len = (size_t)lenb[0] << 8 | lenb[1];
    r = read_exact(fd, buf, len, deadline);
    if (r != 1)
        return r;
    *len_out = len;
    if (ldns_wire2pkt(out, buf, len) != LDNS_STATUS_OK)
        *out = NULL;
    return 1;
}

static const char *read_status(int r)
{
    return r == 0 ? "connection closed" : r == -1 ? "timed out" : "read error";
}

static void print_answer(unsigned i, const query_t *q, const ldns_pkt *pkt, size_t len)
{
    ldns_lookup_table *rc = ldns_lookup_by_id(ldns_rcodes, ldns_pkt_get_rcode(pkt));
    char *type = ldns_rr_type2str(q->type);

    printf("%u id=%u %s %s rcode=%s flags=%s%s%s an=%u ns=%u ar=%u size=%zu\n", i,
           ldns_pkt_id(pkt), q->text, type, rc != NULL ? rc->name : "?",
           ldns_pkt_qr(pkt) ? "qr" : "-", ldns_pkt_aa(pkt) ? ",aa" : "",
           ldns_pkt_tc(pkt) ? ",tc" : "", (unsigned)ldns_pkt_ancount(pkt),
           (unsigned)ldns_pkt_nscount(pkt), (unsigned)ldns_pkt_arcount(pkt), len);
    free(type);
}

/* Checks that pkt answers q. Prints why not and returns false otherwise. */
static bool answer_matches(unsigned i, const query_t *q, const ldns_pkt *pkt)
{
    ldns_rr_list *question = ldns_pkt_question(pkt);
    ldns_rr *rr;

    if (ldns_pkt_id(pkt) != q->id) {
        printf("FAIL answer %u: id %u, expected %u (out of order or wrong answer)\n", i,
               ldns_pkt_id(pkt), q->id);
        return false;
    }
    if (!ldns_pkt_qr(pkt)) {
        printf("FAIL answer %u: QR bit not set\n", i);
        return false;
    }
    if (ldns_pkt_qdcount(pkt) != 1 || question == NULL || ldns_rr_list_rr_count(question) != 1) {
        printf("FAIL answer %u: QDCOUNT %u, expected 1\n", i, (unsigned)ldns_pkt_qdcount(pkt));
        return false;
    }
    rr = ldns_rr_list_rr(question, 0);
    if (ldns_dname_compare(ldns_rr_owner(rr), q->name) != 0 || ldns_rr_get_type(rr) != q->type) {
        printf("FAIL answer %u: question does not match query '%s'\n", i, q->text);
        return false;
    }
    return true;
}

static int run_pipeline(const options_t *o, query_t *qs, size_t nq)
{
    size_t total = 0, off = 0, i;
    uint8_t *all;
    unsigned bad = 0;
    int fd = tcp_connect(o);

    if (fd < 0)
        return 2;
    for (i = 0; i < nq; i++)
        total += qs[i].wire_len;
    all = malloc(total);
    if (all == NULL) {
        close(fd);
        return 2;
    }
    for (i = 0; i < nq; i++) {
        memcpy(all + off, qs[i].wire, qs[i].wire_len);
        off += qs[i].wire_len;
    }
    if (o->bytewise) {
        for (i = 0; i < total; i++) {
            struct timespec pause = {0, 200000};

            if (!write_all(fd, all + i, 1))
                break;
            nanosleep(&pause, NULL);
        }
    } else {
        write_all(fd, all, total);
    }
    free(all);
    if (!o->quiet)
        printf("sent %zu queries (%zu bytes) in %s on one connection\n", nq, total,
               o->bytewise ? "single-byte writes" : "one write");

    for (i = 0; i < nq; i++) {
        ldns_pkt *pkt;
        size_t len = 0;
        int r = read_answer(fd, o->timeout_ms, &pkt, &len);

        if (r != 1) {
            printf("FAIL answer %zu of %zu: %s\n", i + 1, nq, read_status(r));
            bad++;
            break;
        }
        if (pkt == NULL) {
            printf("FAIL answer %zu: %zu bytes that do not parse as DNS\n", i + 1, len);
            bad++;
            continue;
        }
        if (!o->quiet)
            print_answer((unsigned)i + 1, &qs[i], pkt, len);
        if (!answer_matches((unsigned)i + 1, &qs[i], pkt))
            bad++;
        ldns_pkt_free(pkt);
    }
    if (bad == 0)
        printf("ok: %zu answers in order with matching ids\n", nq);

    if (o->idle_wait > 0) {
        double start = now_s();
        uint8_t byte;
        int r = read_exact(fd, &byte, 1, start + o->idle_wait);

        if (r == 0 || r == -2) {
            printf("idle: closed by server after %.2f s\n", now_s() - start);
        } else if (r == 1) {
            printf("FAIL idle: unexpected data from server after %.2f s\n", now_s() - start);
            bad++;
        } else {
            printf("FAIL idle: connection still open after %.2f s\n", o->idle_wait);
            bad++;
        }
    }
    close(fd);
    return bad == 0 ? 0 : 1;
}

/* Asks q on fd and waits for its answer. 1 answered, 0 closed, -1 timeout. */
static int ask_one(int fd, const query_t *q, int timeout_ms)
{
    ldns_pkt *pkt;
    size_t len = 0;
    int r;

    if (!write_all(fd, q->wire, q->wire_len))
        return 0;
    r = read_answer(fd, timeout_ms, &pkt, &len);
    if (r != 1)
        return r == -1 ? -1 : 0;
    r = pkt != NULL && ldns_pkt_id(pkt) == q->id ? 1 : 0;
    ldns_pkt_free(pkt);
    return r;
}

static int run_conns(const options_t *o, query_t *q)
{
    int *fds = calloc(o->conns, sizeof(*fds));
    unsigned i, round1 = 0, round2 = 0;
    static const char *what[] = {"timed out", "closed", "answered"};

    if (fds == NULL)
        return 2;
    for (i = 0; i < o->conns; i++) {
        int r;

        fds[i] = tcp_connect(o);
        if (fds[i] < 0) {
            printf("conn %u: connect failed\n", i + 1);
            continue;
        }
        r = ask_one(fds[i], q, o->timeout_ms);
        printf("conn %u round 1: %s\n", i + 1, what[r + 1]);
        if (r == 1) {
            round1++;
        } else if (r == 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    for (i = 0; i < o->conns; i++) {
        int r;

        if (fds[i] < 0)
            continue;
        r = ask_one(fds[i], q, o->timeout_ms);
        printf("conn %u round 2: %s\n", i + 1, what[r + 1]);
        if (r == 1)
            round2++;
    }
    for (i = 0; i < o->conns; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    printf("connections=%u answered_round1=%u answered_round2=%u\n", o->conns, round1, round2);
    return 0;
}

int main(int argc, char **argv)
{
    options_t o = {.server = "127.0.0.1", .timeout_ms = 3000, .repeat = 1};
    query_t *qs;
    size_t nq, i, n_args;
    int c, rc;

    while ((c = getopt(argc, argv, "s:p:t:r:w:C:xqh")) != -1) {
        switch (c) {
        case 's':
            o.server = optarg;
            break;
        case 'p':
            o.port = (uint16_t)strtoul(optarg, NULL, 10);
            break;
        case 't':
            o.timeout_ms = atoi(optarg);
            break;
        case 'r':
            o.repeat = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'w':
            o.idle_wait = strtod(optarg, NULL);
            break;
        case 'C':
            o.conns = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'x':
            o.bytewise = true;
            break;
        case 'q':
            o.quiet = true;
            break;
        default:
            usage();
        }
    }
    n_args = (size_t)(argc - optind);
    if (o.port == 0 || n_args == 0 || o.repeat == 0 || o.timeout_ms <= 0)
        usage();
    nq = n_args * o.repeat;
    qs = calloc(nq, sizeof(*qs));
    if (qs == NULL)
        return 2;
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    for (i = 0; i < nq; i++) {
        /* Distinct IDs so that a reordered or misrouted answer is caught. */
        uint16_t id = (uint16_t)((random() & 0xfc00) | (i & 0x3ff));

        if (i > 0 && id == qs[i - 1].id)
            id ^= 0x8000;
        if (!query_build(&qs[i], argv[optind + (int)(i % n_args)], id))
            return 2;
    }
    rc = o.conns > 0 ? run_conns(&o, &qs[0]) : run_pipeline(&o, qs, nq);
    for (i = 0; i < nq; i++) {
        free(qs[i].text);
        free(qs[i].wire);
        ldns_rdf_deep_free(qs[i].name);
    }
    free(qs);
    return rc;
}
