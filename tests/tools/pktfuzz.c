/*
 * pktfuzz: throws random and mutated DNS packets at a server over UDP and
 * makes sure it keeps answering a real query correctly.
 *
 * Packets are sent as fast as the socket takes them; replies are drained
 * without waiting for them (a server may legitimately stay silent). Every
 * -c packets a separate socket asks the check query (-q NAME, type A) and
 * requires an answer identical to the one the server gave before fuzzing
 * began (same bytes after the ID), with QR set, NOERROR and at least one
 * answer record. If the server stops answering, the packets of the last
 * batch are written as hex lines to the -d file so the crash can be
 * replayed, and pktfuzz exits 1.
 *
 * Packet kinds: fully random bytes (mostly short), a random header in front
 * of a valid question, valid queries from a seed list (EDNS options, CHAOS,
 * odd types, several OPTs, TSIG, ...) with 1-8 mutations each, and hand-made
 * hostile shapes (compression loops, overlong labels and names, counts
 * that lie, OPT lengths that overrun). The seed (-S) makes a run
 * repeatable; it is printed at start.
 *
 * Exit status: 0 the server answered every check, 1 it did not, 2 usage or
 * setup error.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
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

#define MAX_PKT 4096
#define MAX_SEEDS 64
#define MAX_BATCH 100000

typedef struct packet {
    uint8_t data[MAX_PKT];
    size_t len;
} packet_t;

typedef struct options {
    const char *server;
    uint16_t port;
    unsigned long count;
    unsigned check_every;
    unsigned long seed;
    const char *check_name;
    const char *dump_file;
    int check_timeout_ms;
} options_t;

/* xorshift64*: fast, and identical on every platform for a given seed. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static unsigned rnd(unsigned n)
{
    return n == 0 ? 0 : (unsigned)(rng_next() % n);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- building */

static void put8(packet_t *p, unsigned v)
{
    if (p->len < MAX_PKT)
        p->data[p->len++] = (uint8_t)v;
}

static void put16(packet_t *p, unsigned v)
{
    put8(p, v >> 8);
    put8(p, v);
}

static void put_bytes(packet_t *p, const void *b, size_t n)
{
    const uint8_t *s = b;

    while (n-- > 0)
        put8(p, *s++);
}

/* Appends a presentation name ("www.example.com", "." for the root) as
 * uncompressed wire labels. Test input only: no escapes. */
static void put_name(packet_t *p, const char *name)
{
    while (*name != '\0' && strcmp(name, ".") != 0) {
        const char *dot = strchr(name, '.');
        size_t n = dot != NULL ? (size_t)(dot - name) : strlen(name);

        put8(p, (unsigned)n);
        put_bytes(p, name, n);
        name += n;
        if (*name == '.')
            name++;
    }
    put8(p, 0);
}

static void put_header(packet_t *p, unsigned id, unsigned flags, unsigned qd, unsigned an,
                       unsigned ns, unsigned ar)
{
    put16(p, id);
    put16(p, flags);
    put16(p, qd);
    put16(p, an);
    put16(p, ns);
    put16(p, ar);
}

/* An OPT RR with no options yet; returns the offset of its RDLENGTH. */
static size_t put_opt(packet_t *p, unsigned udp_size, unsigned version, unsigned do_bit)
{
    size_t rdlen_at;

    put8(p, 0);
    put16(p, 41);
    put16(p, udp_size);
    put8(p, 0);
    put8(p, version);
    put16(p, do_bit ? 0x8000 : 0);
    rdlen_at = p->len;
    put16(p, 0);
    return rdlen_at;
}

static void opt_add(packet_t *p, size_t rdlen_at, unsigned code, const void *data, size_t n)
{
    unsigned rdlen = (unsigned)(p->data[rdlen_at] << 8 | p->data[rdlen_at + 1]);

    put16(p, code);
    put16(p, (unsigned)n);
    put_bytes(p, data, n);
    rdlen += 4 + (unsigned)n;
    p->data[rdlen_at] = (uint8_t)(rdlen >> 8);
    p->data[rdlen_at + 1] = (uint8_t)rdlen;
}

static void make_query(packet_t *p, unsigned id, const char *name, unsigned type,
                       unsigned class)
{
    p->len = 0;
    put_header(p, id, 0, 1, 0, 0, 0);
    put_name(p, name);
    put16(p, type);
    put16(p, class);
}

static void set_arcount(packet_t *p, unsigned n)
{
    p->data[10] = (uint8_t)(n >> 8);
    p->data[11] = (uint8_t)n;
}

/* The seed corpus: valid (or nearly valid) queries that reach the
 * interesting parts of a parser once mutated. */
static size_t make_seeds(packet_t *seeds, const char *name)
{
    static const unsigned types[] = {1, 28, 2, 6, 15, 16, 5, 33, 39, 255, 252, 251, 0, 65535};
    static const uint8_t ecs4[] = {0, 1, 24, 0, 192, 0, 2};
    static const uint8_t ecs6[] = {0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0};
    static const uint8_t cookie[] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t padding[32] = {0};
    size_t n = 0, i, at;
    char upper[256];

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        make_query(&seeds[n++], 0x1000 + (unsigned)i, name, types[i], 1);

    make_query(&seeds[n], 0x2000, name, 1, 1);
    at = put_opt(&seeds[n], 1232, 0, 1);
    set_arcount(&seeds[n++], 1);

    make_query(&seeds[n], 0x2001, name, 1, 1);
    at = put_opt(&seeds[n], 4096, 0, 0);
    opt_add(&seeds[n], at, 3, NULL, 0); /* NSID */
    opt_add(&seeds[n], at, 8, ecs4, sizeof(ecs4));
    opt_add(&seeds[n], at, 10, cookie, sizeof(cookie));
    set_arcount(&seeds[n++], 1);

    make_query(&seeds[n], 0x2002, name, 28, 1);
    at = put_opt(&seeds[n], 512, 0, 0);
    opt_add(&seeds[n], at, 8, ecs6, sizeof(ecs6));
    opt_add(&seeds[n], at, 12, padding, sizeof(padding));
    set_arcount(&seeds[n++], 1);

    make_query(&seeds[n], 0x2003, name, 1, 1); /* two OPTs */
    put_opt(&seeds[n], 1232, 0, 0);
    put_opt(&seeds[n], 1232, 0, 0);
    set_arcount(&seeds[n++], 2);

    make_query(&seeds[n], 0x2004, name, 1, 1); /* EDNS version 1 */
    put_opt(&seeds[n], 1232, 1, 0);
    set_arcount(&seeds[n++], 1);

    make_query(&seeds[n], 0x2005, name, 1, 1); /* tiny UDP size */
    put_opt(&seeds[n], 0, 0, 0);
    set_arcount(&seeds[n++], 1);

    make_query(&seeds[n++], 0x3000, "version.bind", 16, 3);
    make_query(&seeds[n++], 0x3001, "id.server", 16, 3);
    make_query(&seeds[n++], 0x3002, "hostname.bind", 16, 3);
    make_query(&seeds[n++], 0x3003, name, 1, 255);
    make_query(&seeds[n++], 0x3004, ".", 2, 1);
    make_query(&seeds[n++], 0x3005, "nonexistent-name.invalid", 1, 1);

    for (i = 0; name[i] != '\0' && i < sizeof(upper) - 1; i++)
        upper[i] = (char)((i & 1) ? toupper((unsigned char)name[i]) : name[i]);
    upper[i] = '\0';
    make_query(&seeds[n++], 0x3006, upper, 1, 1);

    /* a compressed name in the question (pointer to the header's end) */
    make_query(&seeds[n], 0x3007, name, 1, 1);
    put16(&seeds[n], 0xc00c);
    put16(&seeds[n], 1);
    put16(&seeds[n], 1);
    seeds[n].data[5] = 2;
    n++;

    /* NOTIFY, UPDATE, IQUERY, STATUS opcodes */
    for (i = 0; i < 4; i++) {
        static const unsigned opcodes[] = {1, 2, 4, 5};

        make_query(&seeds[n], 0x4000 + (unsigned)i, name, 6, 1);
        seeds[n].data[2] = (uint8_t)(opcodes[i] << 3);
        n++;
    }

    /* signed with TSIG (an unknown key): after an OPT, and alone */
    for (i = 0; i < 2; i++) {
        static const uint8_t tsig_rdata[] = "\13hmac-sha256\0\0\0\x6a\x1b\x2c\x3d\x01\x2c\0\0"
                                            "\x60\x00\0\0\0"; /* no MAC, other len 0 */

        make_query(&seeds[n], 0x6000 + (unsigned)i, name, 1, 1);
        if (i == 0)
            put_opt(&seeds[n], 1232, 0, 1);
        put_name(&seeds[n], "key.example");
        put16(&seeds[n], 250); /* TSIG */
        put16(&seeds[n], 255); /* ANY */
        put16(&seeds[n], 0);
        put16(&seeds[n], 0);
        put16(&seeds[n], sizeof(tsig_rdata));
        put_bytes(&seeds[n], tsig_rdata, sizeof(tsig_rdata));
        set_arcount(&seeds[n++], i == 0 ? 2 : 1);
    }

    /* an answer-shaped packet (QR=1) with records */
    make_query(&seeds[n], 0x5000, name, 1, 1);
    seeds[n].data[2] |= 0x84;
    seeds[n].data[7] = 1;
    put16(&seeds[n], 0xc00c);
    put16(&seeds[n], 1);
    put16(&seeds[n], 1);
    put16(&seeds[n], 0);
    put16(&seeds[n], 60);
    put16(&seeds[n], 4);
    put_bytes(&seeds[n], "\xc0\x00\x02\x01", 4);
    n++;
    return n;
}

/* ---------------------------------------------------------------- mutation */

static const uint16_t interesting16[] = {0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x7fff,
                                         0x8000, 0xc000, 0xc00c, 0xfffe, 0xffff, 41, 512};
static const uint8_t interesting8[] = {0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xc1, 0xff, 63, 64};

/* Inserts 1-8 random bytes at a random place. */
static void mutate_insert(packet_t *p)
{
    size_t pos, n;

    if (p->len == 0 || p->len + 8 >= MAX_PKT)
        return;
    pos = rnd((unsigned)p->len);
    n = 1 + rnd(8);
    memmove(p->data + pos + n, p->data + pos, p->len - pos);
    for (size_t i = 0; i < n; i++)
        p->data[pos + i] = (uint8_t)rnd(256);
    p->len += n;
}

static void mutate(packet_t *p)
{
    unsigned rounds = 1 + rnd(8), r;

    for (r = 0; r < rounds; r++) {
        unsigned op = rnd(10);
        size_t pos = p->len > 0 ? rnd((unsigned)p->len) : 0;

        switch (op) {
        case 0: /* flip a bit */
            if (p->len > 0)
                p->data[pos] ^= (uint8_t)(1u << rnd(8));
            break;
        case 1: /* random byte */
            if (p->len > 0)
                p->data[pos] = (uint8_t)rnd(256);
            break;
        case 2: /* interesting byte */
            if (p->len > 0)
                p->data[pos] = interesting8[rnd(sizeof(interesting8))];
            break;
        case 3: /* interesting 16-bit field, often a header count */
            if (rnd(2) == 0 && p->len >= 12)
                pos = 4 + 2 * rnd(4);
            if (pos + 1 < p->len) {
                uint16_t v = interesting16[rnd(sizeof(interesting16) / 2)];

                p->data[pos] = (uint8_t)(v >> 8);
                p->data[pos + 1] = (uint8_t)v;
            }
            break;
        case 4: /* truncate */
            p->len = pos;
            break;
        case 5: /* append junk */
        {
            unsigned n = 1 + rnd(64);

            while (n-- > 0)
                put8(p, rnd(256));
            break;
        }
        case 6: /* insert bytes */
            mutate_insert(p);
            break;
        case 7: /* delete bytes */
            if (p->len > 0) {
                size_t n = 1 + rnd(4);

                if (pos + n > p->len)
                    n = p->len - pos;
                memmove(p->data + pos, p->data + pos + n, p->len - pos - n);
                p->len -= n;
            }
            break;
        case 8: /* compression pointer somewhere, to anywhere (loops too) */
            if (pos + 1 < p->len) {
                unsigned target = rnd((unsigned)p->len + 16);

                p->data[pos] = (uint8_t)(0xc0 | ((target >> 8) & 0x3f));
                p->data[pos + 1] = (uint8_t)target;
            }
            break;
        default: /* flags byte: opcode, QR, rcode, Z */
            if (p->len >= 4)
                p->data[2 + rnd(2)] = (uint8_t)rnd(256);
            break;
        }
    }
}

static void make_random(packet_t *p)
{
    unsigned kind = rnd(10);
    size_t n, i;

    if (kind < 4)
        n = rnd(13); /* shorter than (or exactly) a header */
    else if (kind < 9)
        n = 12 + rnd(500);
    else
        n = rnd(MAX_PKT);
    for (i = 0; i < n; i++)
        p->data[i] = (uint8_t)rnd(256);
    p->len = n;
    /* Most random packets would be dropped for QR=1; clear it half the time
     * so the parser behind the header check gets its share. */
    if (n > 2 && rnd(2) == 0)
        p->data[2] &= 0x7f;
}

/* Hostile shapes that pure mutation reaches only rarely. */
static void make_hostile(packet_t *p, const char *name)
{
    unsigned kind = rnd(7), i;

    make_query(p, rnd(65536), name, 1, 1);
    p->len = 12;
    switch (kind) {
    case 0: /* pointer to itself */
        put16(p, 0xc00c);
        break;
    case 1: /* two pointers to each other */
        put16(p, 0xc00e);
        put16(p, 0xc00c);
        break;
    case 2: /* label longer than 63 */
        put8(p, 64 + rnd(192));
        for (i = 0; i < 70; i++)
            put8(p, 'a');
        put8(p, 0);
        break;
    case 3: /* name longer than 255 octets */
        for (i = 0; i < 5 + rnd(60); i++) {
            put8(p, 63);
            for (unsigned j = 0; j < 63; j++)
                put8(p, 'a' + rnd(26));
        }
        put8(p, 0);
        break;
    case 4: /* 127 one-byte labels and more */
        for (i = 0; i < 120 + rnd(30); i++) {
            put8(p, 1);
            put8(p, 'x');
        }
        put8(p, 0);
        break;
    case 5: /* pointer forward, past the end */
        put16(p, 0xc000 | (unsigned)(14 + rnd(2000)));
        break;
    default: /* OPT whose lengths overrun */
        put_name(p, name);
        put16(p, 1);
        put16(p, 1);
        put8(p, 0);
        put16(p, 41);
        put16(p, 4096);
        put16(p, 0);
        put16(p, 0);
        put16(p, 4 + rnd(200));
        put16(p, rnd(16));
        put16(p, rnd(65536));
        set_arcount(p, 1);
        break;
    }
    put16(p, 1);
    put16(p, 1);
}

/* ---------------------------------------------------------------- network */

static int udp_socket(const options_t *o)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, size = 1 << 20;

    if (tool_addr("pktfuzz", o->server, o->port, &ss, &len) < 0)
        return -1;
    fd = socket(ss.ss_family, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("pktfuzz: socket");
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        perror("pktfuzz: connect");
        close(fd);
        return -1;
    }
    return fd;
}

static unsigned long drain(int fd)
{
    static uint8_t buf[65536];
    unsigned long n = 0;

    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
        n++;
    return n;
}

/* Asks the check query; returns the reply length (0 if none) in buf. */
static size_t ask(int fd, const char *name, int timeout_ms, uint8_t *buf, size_t cap,
                  uint16_t *id_out)
{
    packet_t q;
    uint16_t id = (uint16_t)rnd(65536);
    double deadline;

    make_query(&q, id, name, 1, 1);
    *id_out = id;
    drain(fd);
    if (send(fd, q.data, q.len, 0) < 0)
        return 0;
    deadline = now_s() + timeout_ms / 1000.0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        double left = deadline - now_s();
        ssize_t n;

        if (left <= 0)
            return 0;
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        n = recv(fd, buf, cap, MSG_DONTWAIT);
        if (n >= 12 && (buf[0] << 8 | buf[1]) == id)
            return (size_t)n;
    }
}

static void hexdump_line(FILE *f, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", b[i]);
    fputc('\n', f);
}

/* Returns true if the server gave the baseline answer (tries 3 times: a
 * flooded socket may drop a datagram or two). */
static bool check_server(int fd, const options_t *o, const uint8_t *base, size_t base_len,
                         unsigned long sent)
{
    uint8_t buf[65536];
    int attempt;

    for (attempt = 0; attempt < 3; attempt++) {
        uint16_t id;
        size_t n = ask(fd, o->check_name, o->check_timeout_ms, buf, sizeof(buf), &id);

        if (n == 0)
            continue;
        if (n == base_len && memcmp(buf + 2, base + 2, n - 2) == 0)
            return true;
        printf("FAIL after %lu packets: the check query's answer changed\n", sent);
        printf("  expected: ");
        hexdump_line(stdout, base + 2, base_len - 2);
        printf("  got:      ");
        hexdump_line(stdout, buf + 2, n - 2);
        return false;
    }
    printf("FAIL after %lu packets: no answer to the check query (%s A) in %d tries\n", sent,
           o->check_name, attempt);
    return false;
}

static void dump_batch(const options_t *o, const packet_t *batch, size_t n)
{
    FILE *f;

    if (o->dump_file == NULL)
        return;
    f = fopen(o->dump_file, "w");
    if (f == NULL) {
        perror(o->dump_file);
        return;
    }
    for (size_t i = 0; i < n; i++)
        hexdump_line(f, batch[i].data, batch[i].len);
    fclose(f);
    printf("the last %zu packets are in %s (hex, one per line)\n", n, o->dump_file);
}

static void usage(void)
{
    fprintf(stderr, "usage: pktfuzz [-s ADDR] -p PORT [-n COUNT] [-c EVERY] [-S SEED]\n"
                    "               [-q CHECKNAME] [-t CHECK_TIMEOUT_MS] [-d DUMPFILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    options_t o = {.server = "127.0.0.1",
                   .count = 100000,
                   .check_every = 1000,
                   .check_name = "www.example.com",
                   .check_timeout_ms = 1000};
    static packet_t seeds[MAX_SEEDS];
    static uint8_t base[65536];
    packet_t *batch;
    size_t n_seeds, base_len = 0, in_batch = 0;
    unsigned long sent = 0, replies = 0, send_errors = 0, checks = 0;
    uint16_t id;
    double start;
    int c, fuzz_fd, check_fd;
    bool seeded = false;

    while ((c = getopt(argc, argv, "s:p:n:c:S:q:t:d:h")) != -1) {
        switch (c) {
        case 's':
            o.server = optarg;
            break;
        case 'p':
            o.port = (uint16_t)strtoul(optarg, NULL, 10);
            break;
        case 'n':
            o.count = strtoul(optarg, NULL, 10);
            break;
        case 'c':
            o.check_every = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'S':
            o.seed = strtoul(optarg, NULL, 0);
            seeded = true;
            break;
        case 'q':
            o.check_name = optarg;
            break;
        case 't':
            o.check_timeout_ms = atoi(optarg);
            break;
        case 'd':
            o.dump_file = optarg;
            break;
        default:
            usage();
        }
    }
    if (o.port == 0 || o.check_every == 0 || o.check_every > MAX_BATCH || optind != argc)
        usage();
    if (!seeded)
        o.seed = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16);
    rng_state = (uint64_t)o.seed * 0x9e3779b97f4a7c15ULL + 1;
    printf("pktfuzz: %lu packets to %s port %u, check every %u, seed %lu\n", o.count, o.server,
           o.port, o.check_every, o.seed);

    fuzz_fd = udp_socket(&o);
    check_fd = udp_socket(&o);
    batch = calloc(o.check_every, sizeof(*batch));
    if (fuzz_fd < 0 || check_fd < 0 || batch == NULL)
        return 2;
    n_seeds = make_seeds(seeds, o.check_name);

    base_len = ask(check_fd, o.check_name, 2000, base, sizeof(base), &id);
    if (base_len < 12 || !(base[2] & 0x80) || (base[3] & 0x0f) != 0 ||
        (base[6] << 8 | base[7]) == 0) {
        printf("FAIL before fuzzing: %s A got no NOERROR answer with records\n", o.check_name);
        return 1;
    }
    printf("baseline answer: %zu bytes\n", base_len);

    start = now_s();
    while (sent < o.count) {
        packet_t *p = &batch[in_batch];
        unsigned kind = rnd(100);

        if (kind < 25) {
            make_random(p);
        } else if (kind < 35) {
            make_hostile(p, o.check_name);
        } else if (kind < 45) {
            /* random header, valid question */
            *p = seeds[rnd((unsigned)n_seeds)];
            for (size_t i = 0; i < 12 && i < p->len; i++)
                p->data[i] = (uint8_t)rnd(256);
        } else {
            *p = seeds[rnd((unsigned)n_seeds)];
            p->data[0] = (uint8_t)rnd(256);
            if (rnd(4) == 0)
                mutate_insert(p);
            mutate(p);
        }
        for (;;) {
            if (send(fuzz_fd, p->data, p->len, 0) >= 0)
                break;
            if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
                replies += drain(fuzz_fd);
                continue;
            }
            /* ECONNREFUSED: an ICMP error from an earlier datagram; the
             * check below decides whether the server is really gone. */
            send_errors++;
            break;
        }
        sent++;
        in_batch++;
        if ((sent & 63) == 0)
            replies += drain(fuzz_fd);
        if (in_batch == o.check_every || sent == o.count) {
            replies += drain(fuzz_fd);
            checks++;
            if (!check_server(check_fd, &o, base, base_len, sent)) {
                dump_batch(&o, batch, in_batch);
                printf("seed %lu\n", o.seed);
                return 1;
            }
            in_batch = 0;
        }
    }
    replies += drain(fuzz_fd);
    printf("ok: %lu packets sent in %.2f s, %lu replies drained, %lu send errors, "
           "%lu checks answered correctly\n",
           sent, now_s() - start, replies, send_errors, checks);
    free(batch);
    close(fuzz_fd);
    close(check_fd);
    return 0;
}
