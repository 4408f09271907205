/* Unit tests for src/dns/wire.c: query parsing and the response writer. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dns/wire.h"

/* Builds a query for name/type with optional raw additional-section bytes. */
static size_t build(uint8_t *buf, uint16_t flags, uint16_t qd, uint16_t ar, const char *name,
                    size_t name_len, uint16_t type, const uint8_t *extra, size_t extra_len)
{
    dns_put16(buf, 0x1234);
    dns_put16(buf + 2, flags);
    dns_put16(buf + 4, qd);
    dns_put16(buf + 6, 0);
    dns_put16(buf + 8, 0);
    dns_put16(buf + 10, ar);
    size_t p = 12;
    memcpy(buf + p, name, name_len);
    p += name_len;
    dns_put16(buf + p, type);
    dns_put16(buf + p + 2, DNS_CLASS_IN);
    p += 4;
    if (extra_len)
        memcpy(buf + p, extra, extra_len);
    return p + extra_len;
}

#define NAME "\3www\7Example\3com"
#define NAME_LEN 17

static void test_parse_simple(void **state)
{
    (void)state;
    uint8_t pkt[512];
    dns_query_t q;
    size_t len = build(pkt, DNS_FLAG_RD, 1, 0, NAME, NAME_LEN, DNS_TYPE_A, NULL, 0);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_OK);
    assert_int_equal(q.id, 0x1234);
    assert_int_equal(q.qtype, DNS_TYPE_A);
    assert_int_equal(q.qclass, DNS_CLASS_IN);
    assert_int_equal(q.qname_len, NAME_LEN);
    assert_memory_equal(q.qname, NAME, NAME_LEN);
    assert_memory_equal(q.qname_lc, "\3www\7example\3com", NAME_LEN);
    assert_false(q.edns);
}

static void test_parse_header_rules(void **state)
{
    (void)state;
    uint8_t pkt[512];
    dns_query_t q;
    size_t len = build(pkt, 0, 1, 0, NAME, NAME_LEN, DNS_TYPE_A, NULL, 0);
    assert_int_equal(dns_query_parse(pkt, 11, &q), DNS_PARSE_DROP);
    assert_int_equal(dns_query_parse(pkt, 0, &q), DNS_PARSE_DROP);
    dns_put16(pkt + 2, DNS_FLAG_QR);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_DROP);
    dns_put16(pkt + 2, 2u << 11); /* opcode STATUS */
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_NOTIMP);
    assert_true(q.has_question);
    dns_put16(pkt + 2, 0);
    dns_put16(pkt + 4, 0);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
    dns_put16(pkt + 4, 2);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
    assert_false(q.has_question);
    /* truncated question */
    dns_put16(pkt + 4, 1);
    assert_int_equal(dns_query_parse(pkt, len - 1, &q), DNS_PARSE_FORMERR);
    /* counts that lie */
    dns_put16(pkt + 6, 1);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
    dns_put16(pkt + 6, 0);
    dns_put16(pkt + 10, 0xFFFF);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
}

static const uint8_t opt_plain[] = {0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 0};

static void test_parse_edns(void **state)
{
    (void)state;
    uint8_t pkt[512];
    dns_query_t q;
    size_t len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, opt_plain, sizeof(opt_plain));
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_OK);
    assert_true(q.edns);
    assert_int_equal(q.edns_udp_size, 4096);
    assert_int_equal(q.edns_version, 0);
    assert_true(q.edns_flags & DNS_EDNS_DO);

    /* a tiny UDP size counts as 512 */
    uint8_t small[sizeof(opt_plain)];
    memcpy(small, opt_plain, sizeof(small));
    small[3] = 0;
    small[4] = 100;
    len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, small, sizeof(small));
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_OK);
    assert_int_equal(q.edns_udp_size, 512);

    /* version 1 */
    uint8_t v1[sizeof(opt_plain)];
    memcpy(v1, opt_plain, sizeof(v1));
    v1[6] = 1;
    len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, v1, sizeof(v1));
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_BADVERS);

    /* two OPTs */
    uint8_t two[2 * sizeof(opt_plain)];
    memcpy(two, opt_plain, sizeof(opt_plain));
    memcpy(two + sizeof(opt_plain), opt_plain, sizeof(opt_plain));
    len = build(pkt, 0, 1, 2, NAME, NAME_LEN, DNS_TYPE_A, two, sizeof(two));
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);

    /* OPT not owned by the root */
    const uint8_t named[] = {1, 'a', 0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0};
    len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, named, sizeof(named));
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);

    /* RDLENGTH past the end */
    uint8_t longrd[sizeof(opt_plain)];
    memcpy(longrd, opt_plain, sizeof(longrd));
    longrd[10] = 4;
    len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, longrd, sizeof(longrd));
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
}

/* The OPT is read, for the error answer to echo, also where the query is
 * an error: another opcode, no question, two questions. Two OPTs or a
 * malformed one are not echoed. */
static void test_parse_edns_of_errors(void **state)
{
    (void)state;
    uint8_t pkt[512];
    dns_query_t q;
    size_t len = build(pkt, 4u << 11, 1, 1, NAME, NAME_LEN, DNS_TYPE_SOA, opt_plain,
                       sizeof(opt_plain)); /* NOTIFY */
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_NOTIMP);
    assert_true(q.edns);
    assert_true(q.edns_flags & DNS_EDNS_DO);
    /* QDCOUNT 0: the OPT right after the header */
    len = build(pkt, 0, 0, 1, "", 0, 0, NULL, 0) - 4;
    memcpy(pkt + len, opt_plain, sizeof(opt_plain));
    len += sizeof(opt_plain);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
    assert_true(q.edns);
    assert_false(q.has_question);
    /* QDCOUNT 2: past both questions */
    uint8_t two_q[NAME_LEN + 4 + sizeof(opt_plain)];
    memcpy(two_q, NAME, NAME_LEN);
    memcpy(two_q + NAME_LEN, "\0\1\0\1", 4);
    memcpy(two_q + NAME_LEN + 4, opt_plain, sizeof(opt_plain));
    len = build(pkt, 0, 2, 1, NAME, NAME_LEN, DNS_TYPE_A, two_q, sizeof(two_q));
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
    assert_true(q.edns);
    /* a second question cut short: no OPT to be found */
    assert_int_equal(dns_query_parse(pkt, len - sizeof(opt_plain) - 2, &q), DNS_PARSE_FORMERR);
    assert_false(q.edns);
    /* two OPTs: neither is echoed */
    uint8_t two[2 * sizeof(opt_plain)];
    memcpy(two, opt_plain, sizeof(opt_plain));
    memcpy(two + sizeof(opt_plain), opt_plain, sizeof(opt_plain));
    len = build(pkt, 0, 1, 2, NAME, NAME_LEN, DNS_TYPE_A, two, sizeof(two));
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
    assert_false(q.edns);
    /* a malformed client subnet, alone (the common shape) and with NSID */
    const uint8_t bad_ecs[] = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 11,
                               0, 8, 0, 7, 0, 1, 23, 0, 192, 0, 3};
    len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, bad_ecs, sizeof(bad_ecs));
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
    assert_false(q.edns);
    const uint8_t bad_ecs_nsid[] = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 15, 0, 3, 0, 0,
                                    0, 8, 0, 7, 0, 1, 23, 0, 192, 0, 3};
    len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, bad_ecs_nsid, sizeof(bad_ecs_nsid));
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
    assert_false(q.edns);
}

/* A TSIG record as dig -y sends it: key "somekey.", hmac-sha256, a 32-byte
 * MAC. */
#define TSIG_KEY "\7somekey"
#define TSIG_ALG "\13hmac-sha256"
enum { TSIG_LEN = 9 + 10 + 13 + 10 + 32 + 8 };
static size_t put_tsig(uint8_t *p, uint16_t rclass, uint32_t ttl)
{
    size_t n = 0;
    memcpy(p, TSIG_KEY, sizeof(TSIG_KEY));
    n += sizeof(TSIG_KEY);
    dns_put16(p + n, DNS_TYPE_TSIG);
    dns_put16(p + n + 2, rclass);
    dns_put32(p + n + 4, ttl);
    size_t rdlen_at = n + 8;
    n += 10;
    size_t rd = n;
    memcpy(p + n, TSIG_ALG, sizeof(TSIG_ALG));
    n += sizeof(TSIG_ALG);
    const uint8_t fixed[] = {0, 0, 0x6a, 0x1b, 0x2c, 0x3d, 0x01, 0x2c, 0, 32};
    memcpy(p + n, fixed, sizeof(fixed));
    n += sizeof(fixed);
    memset(p + n, 0xAB, 32);
    n += 32;
    const uint8_t tail[] = {0x12, 0x34, 0, 0, 0, 2, 0xEE, 0xFF};
    memcpy(p + n, tail, sizeof(tail));
    n += sizeof(tail);
    dns_put16(p + rdlen_at, (uint16_t)(n - rd));
    assert_int_equal(n, TSIG_LEN);
    return TSIG_LEN;
}

static void test_parse_tsig(void **state)
{
    (void)state;
    uint8_t pkt[512], extra[256];
    dns_query_t q;
    put_tsig(extra, DNS_CLASS_ANY, 0);
    const size_t n = TSIG_LEN;
    size_t len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, extra, n);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_OK);
    assert_true(q.tsig);
    assert_false(q.edns);
    const dns_tsig_t *t = &q.tsig_rr;
    assert_int_equal(t->offset, 12 + NAME_LEN + 4);
    assert_int_equal(t->key_name_len, sizeof(TSIG_KEY));
    assert_memory_equal(t->key_name, TSIG_KEY, sizeof(TSIG_KEY));
    assert_int_equal(t->algorithm_len, sizeof(TSIG_ALG));
    assert_memory_equal(t->algorithm, TSIG_ALG, sizeof(TSIG_ALG));
    assert_int_equal(t->time_signed, 0x6a1b2c3d);
    assert_int_equal(t->fudge, 300);
    assert_int_equal(t->mac_size, 32);
    assert_ptr_equal(t->mac, pkt + t->offset + sizeof(TSIG_KEY) + 10 + sizeof(TSIG_ALG) + 10);
    assert_int_equal(t->mac[31], 0xAB);
    assert_int_equal(t->original_id, 0x1234);
    assert_int_equal(t->error, 0);
    assert_int_equal(t->other_len, 2);
    assert_memory_equal(t->other, "\xEE\xFF", 2);

    /* after an OPT: both read */
    uint8_t both[sizeof(opt_plain) + 256];
    memcpy(both, opt_plain, sizeof(opt_plain));
    memcpy(both + sizeof(opt_plain), extra, n);
    len = build(pkt, 0, 1, 2, NAME, NAME_LEN, DNS_TYPE_A, both, sizeof(opt_plain) + n);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_OK);
    assert_true(q.tsig);
    assert_true(q.edns);
    assert_int_equal(q.tsig_rr.offset, 12 + NAME_LEN + 4 + sizeof(opt_plain));

    /* before the OPT: not last, FORMERR (RFC 8945 5.1), the OPT still read */
    memcpy(both, extra, n);
    memcpy(both + n, opt_plain, sizeof(opt_plain));
    len = build(pkt, 0, 1, 2, NAME, NAME_LEN, DNS_TYPE_A, both, sizeof(opt_plain) + n);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
    assert_true(q.edns);

    /* two TSIG records */
    uint8_t two[512];
    memcpy(two, extra, n);
    memcpy(two + n, extra, n);
    len = build(pkt, 0, 1, 2, NAME, NAME_LEN, DNS_TYPE_A, two, 2 * n);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);

    /* in the answer section (ANCOUNT 1, ARCOUNT 0) */
    len = build(pkt, 0, 1, 0, NAME, NAME_LEN, DNS_TYPE_A, extra, n);
    dns_put16(pkt + 6, 1);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);

    /* class IN, TTL 1 */
    uint8_t bad[256];
    size_t bn = put_tsig(bad, DNS_CLASS_IN, 0);
    len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, bad, bn);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
    bn = put_tsig(bad, DNS_CLASS_ANY, 1);
    len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, bad, bn);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);

    /* RDATA that ends inside the fields, or goes on past them */
    size_t rdlen_at = sizeof(TSIG_KEY) + 8;
    for (int delta = -30; delta <= 2; delta++) {
        if (delta == 0)
            continue;
        bn = put_tsig(bad, DNS_CLASS_ANY, 0);
        dns_put16(bad + rdlen_at, (uint16_t)(dns_get16(bad + rdlen_at) + delta));
        if (delta > 0)
            memset(bad + bn, 0, (size_t)delta), bn += (size_t)delta;
        len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, bad, bn);
        if (dns_query_parse(pkt, len, &q) != DNS_PARSE_FORMERR)
            fail_msg("TSIG RDLENGTH off by %d: expected FORMERR", delta);
    }
    /* a MAC size past the RDATA, and an algorithm name cut by it */
    bn = put_tsig(bad, DNS_CLASS_ANY, 0);
    dns_put16(bad + rdlen_at + 2 + sizeof(TSIG_ALG) + 8, 200);
    len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, bad, bn);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
    bn = put_tsig(bad, DNS_CLASS_ANY, 0);
    dns_put16(bad + rdlen_at, 5);
    len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, bad, rdlen_at + 2 + 5);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
    /* the packet cut anywhere inside the record */
    len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, extra, n);
    for (size_t cut = len - n; cut < len; cut++)
        if (dns_query_parse(pkt, cut, &q) != DNS_PARSE_FORMERR)
            fail_msg("TSIG cut to %zu of %zu bytes: expected FORMERR", cut, len);

    /* a key name compressed against the question */
    uint8_t ptr[256];
    memcpy(ptr, "\xC0\x0C", 2);
    memcpy(ptr + 2, extra + sizeof(TSIG_KEY), n - sizeof(TSIG_KEY));
    len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, ptr, 2 + n - sizeof(TSIG_KEY));
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_OK);
    assert_true(q.tsig);
    assert_memory_equal(q.tsig_rr.key_name, NAME, NAME_LEN);
}

static void test_writer_tsig(void **state)
{
    (void)state;
    uint8_t pkt[512], extra[256], resp[512];
    dns_query_t q;
    size_t n = put_tsig(extra, DNS_CLASS_ANY, 0);
    size_t len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, extra, n);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_OK);
    dns_writer_t w;
    dns_writer_start(&w, resp, sizeof(resp), &q);
    size_t at = w.len;
    assert_int_equal(dns_writer_tsig_unsigned(&w, &q.tsig_rr, 0x4321, DNS_TSIG_BADKEY), 0);
    /* (the literal's own NUL is the last byte of OTHER LEN) */
    static const uint8_t want[] = TSIG_KEY "\0\0\xFA\0\xFF\0\0\0\0\0\x1D" TSIG_ALG
                                  "\0\0\0\x6a\x1b\x2c\x3d\x01\x2c\0\0\x43\x21\0\x11\0";
    assert_int_equal(w.len - at, sizeof(want));
    assert_int_equal(dns_tsig_unsigned_size(&q.tsig_rr), sizeof(want));
    assert_memory_equal(resp + at, want, sizeof(want));
    assert_int_equal(dns_get16(resp + 10), 1);
    /* one byte short: nothing written */
    dns_writer_start(&w, resp, at + sizeof(want) - 1, &q);
    assert_int_equal(dns_writer_tsig_unsigned(&w, &q.tsig_rr, 1, DNS_TSIG_BADKEY), -1);
    assert_int_equal(w.len, at);
    assert_int_equal(dns_get16(resp + 10), 0);
}

static void test_parse_options(void **state)
{
    (void)state;
    uint8_t pkt[512];
    dns_query_t q;
    /* NSID + ECS 192.0.2.0/24 + unknown option */
    const uint8_t opt[] = {0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 19,
                           0, 3, 0, 0,                          /* NSID */
                           0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2,  /* ECS */
                           0xFF, 0xEE, 0, 0};                   /* unknown */
    size_t len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, opt, sizeof(opt));
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_OK);
    assert_true(q.nsid);
    assert_true(q.ecs);
    assert_int_equal(q.client_subnet.family, 1);
    assert_int_equal(q.client_subnet.source_prefix, 24);
    assert_memory_equal(q.client_subnet.addr, "\xC0\x00\x02\x00", 4);

    /* option length past the OPT RDATA */
    uint8_t bad[sizeof(opt)];
    memcpy(bad, opt, sizeof(bad));
    bad[14] = 50;
    len = build(pkt, 0, 1, 1, NAME, NAME_LEN, DNS_TYPE_A, bad, sizeof(bad));
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_FORMERR);
}

static void test_client_subnet(void **state)
{
    (void)state;
    dns_client_subnet_t cs;
    const uint8_t v4_24[] = {0, 1, 24, 0, 10, 1, 2};
    assert_int_equal(dns_client_subnet_parse(v4_24, sizeof(v4_24), &cs), 0);
    const uint8_t v4_0[] = {0, 1, 0, 0};
    assert_int_equal(dns_client_subnet_parse(v4_0, sizeof(v4_0), &cs), 0);
    assert_int_equal(cs.source_prefix, 0);
    const uint8_t v6_56[] = {0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0};
    assert_int_equal(dns_client_subnet_parse(v6_56, sizeof(v6_56), &cs), 0);
    const uint8_t bad_family[] = {0, 3, 24, 0, 10, 1, 2};
    assert_int_equal(dns_client_subnet_parse(bad_family, sizeof(bad_family), &cs), -1);
    const uint8_t too_long_prefix[] = {0, 1, 33, 0, 10, 1, 2, 3, 4};
    assert_int_equal(dns_client_subnet_parse(too_long_prefix, sizeof(too_long_prefix), &cs), -1);
    const uint8_t extra_byte[] = {0, 1, 24, 0, 10, 1, 2, 3};
    assert_int_equal(dns_client_subnet_parse(extra_byte, sizeof(extra_byte), &cs), -1);
    const uint8_t short_addr[] = {0, 1, 24, 0, 10, 1};
    assert_int_equal(dns_client_subnet_parse(short_addr, sizeof(short_addr), &cs), -1);
    const uint8_t stray_bits[] = {0, 1, 23, 0, 10, 1, 3};
    assert_int_equal(dns_client_subnet_parse(stray_bits, sizeof(stray_bits), &cs), -1);
    assert_int_equal(dns_client_subnet_parse(v4_24, 3, &cs), -1);
}

static void test_writer_compression(void **state)
{
    (void)state;
    uint8_t pkt[512], resp[512];
    dns_query_t q;
    size_t len = build(pkt, DNS_FLAG_RD, 1, 0, NAME, NAME_LEN, DNS_TYPE_A, NULL, 0);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_OK);
    dns_writer_t w;
    dns_writer_start(&w, resp, sizeof(resp), &q);
    assert_int_equal(w.len, 12 + NAME_LEN + 4);
    assert_int_equal(resp[2], 0x81); /* QR + RD */
    /* the query name again: a single pointer to offset 12 */
    size_t at = w.len;
    assert_int_equal(dns_writer_name(&w, (const uint8_t *)"\3WWW\7example\3com"), 0);
    assert_int_equal(w.len - at, 2);
    assert_memory_equal(resp + at, "\xC0\x0C", 2);
    /* a sibling: one label then a pointer to "example.com" (offset 16) */
    at = w.len;
    assert_int_equal(dns_writer_name(&w, (const uint8_t *)"\4mail\7example\3com"), 0);
    assert_int_equal(w.len - at, 7);
    assert_memory_equal(resp + at, "\4mail\xC0\x10", 7);
    /* below the sibling: points into it */
    size_t mail = at;
    at = w.len;
    assert_int_equal(dns_writer_name(&w, (const uint8_t *)"\1x\4mail\7example\3com"), 0);
    assert_int_equal(resp[at + 2], 0xC0);
    assert_int_equal(resp[at + 3], mail);
    /* unrelated name: written in full */
    at = w.len;
    assert_int_equal(dns_writer_name(&w, (const uint8_t *)"\3foo\3net"), 0);
    assert_int_equal(w.len - at, 9);
    /* no compression asked: written in full but remembered */
    at = w.len;
    assert_int_equal(dns_writer_name_nocompress(&w, (const uint8_t *)"\3foo\3net"), 0);
    assert_int_equal(w.len - at, 9);
    /* the root */
    at = w.len;
    assert_int_equal(dns_writer_name(&w, (const uint8_t *)""), 0);
    assert_int_equal(w.len - at, 1);
}

static void test_writer_full(void **state)
{
    (void)state;
    uint8_t pkt[512], resp[64];
    dns_query_t q;
    size_t len = build(pkt, 0, 1, 0, NAME, NAME_LEN, DNS_TYPE_A, NULL, 0);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_OK);
    dns_writer_t w;
    dns_writer_start(&w, resp, 48, &q);
    size_t before = w.len;
    assert_int_equal(dns_writer_name(&w, (const uint8_t *)"\3foo\3net"), 0);
    assert_int_equal(dns_writer_name(&w, (const uint8_t *)"\3bar\3org"), -1);
    assert_int_equal(w.len, before + 9);
    uint8_t big[128] = {0}; /* room for any copy GCC imagines: only 20 bytes are asked */
    assert_int_equal(dns_writer_bytes(&w, big, 20), -1);
    assert_int_equal(dns_writer_bytes(&w, big, 48 - w.len), 0);
    assert_int_equal(w.len, 48);
}

/* The fixed part of an OPT record after its owner: TYPE, CLASS (the UDP
 * size), TTL (extended rcode, version, flags), RDLENGTH. */
static void test_edns_read(void **state)
{
    (void)state;
    static const struct {
        uint8_t rr[10];
        uint16_t size;
        uint8_t version;
        uint16_t flags;
    } cases[] = {
        {{0, 41, 0x04, 0xD0, 0, 0, 0x80, 0x00, 0, 0}, 1232, 0, 0x8000},
        {{0, 41, 0x01, 0xFF, 0, 0, 0x00, 0x00, 0, 0}, 511, 0, 0}, /* raised to 512 */
        {{0, 41, 0x00, 0x00, 0, 0, 0x00, 0x00, 0, 0}, 512, 0, 0},
        {{0, 41, 0x02, 0x00, 0, 0, 0x00, 0x00, 0, 0}, 512, 0, 0},
        {{0, 41, 0x02, 0x01, 0, 0, 0x00, 0x00, 0, 0}, 513, 0, 0},
        {{0, 41, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0, 0}, 65535, 255, 0xFFFF},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dns_query_t q;
        memset(&q, 0, sizeof(q));
        dns_edns_read(cases[i].rr, &q);
        assert_true(q.edns);
        uint16_t want = cases[i].size < 512 ? 512 : cases[i].size;
        if (q.edns_udp_size != want || q.edns_version != cases[i].version ||
            q.edns_flags != cases[i].flags)
            fail_msg("case %zu: expected size %u version %u flags %04x, got %u %u %04x", i,
                     want, cases[i].version, cases[i].flags, q.edns_udp_size, q.edns_version,
                     q.edns_flags);
    }
}

static void test_opt_lone_subnet(void **state)
{
    (void)state;
    static const uint8_t ecs[] = {0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2};
    assert_true(dns_opt_lone_subnet(ecs, sizeof(ecs)));
    assert_false(dns_opt_lone_subnet(ecs, sizeof(ecs) - 1)); /* option longer than RDATA */
    assert_false(dns_opt_lone_subnet(ecs, sizeof(ecs) + 1)); /* something after it */
    assert_false(dns_opt_lone_subnet(ecs, 3));               /* not even a header */
    static const uint8_t empty_ecs[] = {0, 8, 0, 0};
    assert_true(dns_opt_lone_subnet(empty_ecs, 4));
    static const uint8_t nsid[] = {0, 3, 0, 0};
    assert_false(dns_opt_lone_subnet(nsid, 4));
    assert_int_equal(dns_get32((const uint8_t *)"\x01\x02\x03\x04"), 0x01020304u);
    assert_int_equal(dns_get32((const uint8_t *)"\xFF\x00\x00\x80"), 0xFF000080u);
}

/* dns_query_parse_to() writes the name where it is told: into a response
 * buffer, where dns_writer_start() then uses it in place. */
static void test_parse_to(void **state)
{
    (void)state;
    uint8_t pkt[512], resp[512];
    dns_query_t q;
    size_t len = build(pkt, DNS_FLAG_RD | DNS_FLAG_CD, 1, 0, NAME, NAME_LEN, DNS_TYPE_MX, NULL,
                       0);
    memset(resp, 0xEE, sizeof(resp));
    memset(q.qname_buf, 0xEE, sizeof(q.qname_buf));
    assert_int_equal(dns_query_parse_to(pkt, len, &q, resp + DNS_HEADER_SIZE), DNS_PARSE_OK);
    assert_ptr_equal(q.qname, resp + DNS_HEADER_SIZE);
    assert_memory_equal(resp + DNS_HEADER_SIZE, NAME, NAME_LEN);
    assert_int_equal(q.qname_buf[0], 0xEE); /* its own buffer untouched */
    assert_memory_equal(q.qname_lc, "\3www\7example\3com", NAME_LEN);
    assert_int_equal(q.qname_labels, 3);
    assert_int_equal(q.qname_offs[0], 0);
    assert_int_equal(q.qname_offs[1], 4);
    assert_int_equal(q.qname_offs[2], 12);
    assert_int_equal(q.qname_offs[3], 16);
    dns_writer_t w;
    dns_writer_start(&w, resp, sizeof(resp), &q);
    assert_int_equal(w.len, len); /* the question is the query's, byte for byte */
    assert_memory_equal(resp + DNS_HEADER_SIZE, pkt + DNS_HEADER_SIZE, len - DNS_HEADER_SIZE);
    assert_int_equal(dns_get16(resp + 2), DNS_FLAG_QR | DNS_FLAG_RD | DNS_FLAG_CD);
    /* a short packet still says where the name would go */
    q.qname = NULL;
    assert_int_equal(dns_query_parse_to(pkt, 5, &q, resp + DNS_HEADER_SIZE), DNS_PARSE_DROP);
    assert_ptr_equal(q.qname, resp + DNS_HEADER_SIZE);
}

/* Answer flags copy opcode, RD and CD, and nothing else of the query's. */
static void test_answer_flags(void **state)
{
    (void)state;
    dns_query_t q;
    memset(&q, 0, sizeof(q));
    q.flags = 0;
    assert_int_equal(dns_answer_flags(&q), DNS_FLAG_QR);
    q.flags = 0xFFFF;
    assert_int_equal(dns_answer_flags(&q), DNS_FLAG_QR | 0x7800u | DNS_FLAG_RD | DNS_FLAG_CD);
    q.flags = DNS_FLAG_AA | DNS_FLAG_TC | DNS_FLAG_RA | 0x0040u | 0x0020u | 0x000Fu;
    assert_int_equal(dns_answer_flags(&q), DNS_FLAG_QR);
    q.flags = 2u << 11 | DNS_FLAG_RD;
    assert_int_equal(dns_answer_flags(&q), DNS_FLAG_QR | 2u << 11 | DNS_FLAG_RD);
}

/* Flags, rcode and counts are set in the header the writer started;
 * rewinding forgets names written after the point saved. */
static void test_writer_header_and_rewind(void **state)
{
    (void)state;
    uint8_t pkt[512], resp[512];
    dns_query_t q;
    size_t len = build(pkt, DNS_FLAG_RD, 1, 0, NAME, NAME_LEN, DNS_TYPE_A, NULL, 0);
    assert_int_equal(dns_query_parse(pkt, len, &q), DNS_PARSE_OK);
    dns_writer_t w;
    dns_writer_start(&w, resp, sizeof(resp), &q);
    dns_writer_set_flag(&w, DNS_FLAG_AA);
    dns_writer_set_flag(&w, DNS_FLAG_TC);
    dns_writer_set_flag(&w, DNS_FLAG_AA); /* twice: still set once */
    assert_int_equal(dns_get16(resp + 2), DNS_FLAG_QR | DNS_FLAG_AA | DNS_FLAG_TC | DNS_FLAG_RD);
    dns_writer_set_rcode(&w, DNS_RCODE_NXDOMAIN);
    assert_int_equal(dns_get16(resp + 2) & 0xF, DNS_RCODE_NXDOMAIN);
    dns_writer_set_rcode(&w, DNS_RCODE_REFUSED); /* replaces, never ORs */
    assert_int_equal(dns_get16(resp + 2) & 0xF, DNS_RCODE_REFUSED);
    dns_writer_set_rcode(&w, DNS_RCODE_BADVERS); /* only the low 4 bits live here */
    assert_int_equal(dns_get16(resp + 2) & 0xF, 0);
    assert_int_equal(dns_get16(resp + 2) & 0xFFF0, DNS_FLAG_QR | DNS_FLAG_AA | DNS_FLAG_TC |
                                                       DNS_FLAG_RD);
    dns_writer_set_rcode(&w, DNS_RCODE_NOERROR);
    assert_int_equal(dns_get16(resp + 2), DNS_FLAG_QR | DNS_FLAG_AA | DNS_FLAG_TC | DNS_FLAG_RD);

    dns_writer_add_count(&w, 0, 2);
    dns_writer_add_count(&w, 0, 1);
    dns_writer_add_count(&w, 1, 1);
    dns_writer_add_count(&w, 2, 0xFF);
    dns_writer_add_count(&w, 2, 0x01); /* carries into the high byte */
    assert_int_equal(dns_get16(resp + 4), 1); /* QDCOUNT untouched */
    assert_int_equal(dns_get16(resp + 6), 3);
    assert_int_equal(dns_get16(resp + 8), 1);
    assert_int_equal(dns_get16(resp + 10), 0x100);

    /* a name compresses against the question... */
    size_t at = w.len;
    unsigned ncomp = w.ncomp;
    assert_int_equal(ncomp, 0); /* the question is offered only with the first name */
    assert_int_equal(dns_writer_name(&w, (const uint8_t *)"\4mail\7example\3com"), 0);
    assert_int_equal(w.len, at + 7); /* "\4mail" + pointer to example.com */
    assert_int_equal(dns_get16(resp + at + 5), 0xC000u | (DNS_HEADER_SIZE + 4));
    /* ...and after a rewind to before it, the question is offered again and
     * mail.example.com is forgotten */
    dns_writer_rewind(&w, at, ncomp);
    assert_int_equal(w.len, at);
    assert_int_equal(w.ncomp, 0);
    assert_int_equal(dns_writer_name(&w, (const uint8_t *)"\3www\7example\3com"), 0);
    assert_int_equal(w.len, at + 2);
    assert_int_equal(dns_get16(resp + at), 0xC000u | DNS_HEADER_SIZE);
    size_t at2 = w.len;
    unsigned ncomp2 = w.ncomp;
    assert_int_equal(dns_writer_name(&w, (const uint8_t *)"\3new\3org"), 0);
    assert_int_equal(dns_writer_name(&w, (const uint8_t *)"\3new\3org"), 0);
    assert_int_equal(w.len, at2 + 9 + 2); /* the second points at the first */
    dns_writer_rewind(&w, at2, ncomp2);
    assert_int_equal(dns_writer_name(&w, (const uint8_t *)"\3new\3org"), 0);
    assert_int_equal(w.len, at2 + 9); /* written whole: the first one is forgotten */
}

/* ------------------------------------------------ the fused fast path */

/* A packet from pieces: header fields, the question, then extra bytes. */
static size_t packet(uint8_t *buf, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ar,
                     const char *name, size_t name_len, uint16_t type, const uint8_t *extra,
                     size_t extra_len)
{
    size_t len = build(buf, flags, qd, ar, name, name_len, type, extra, extra_len);
    dns_put16(buf + 6, an);
    return len;
}

/* dns_query_parse_common() either declines (false) or fills q exactly as
 * dns_query_parse_to() does for the same packet (qname_lc aside: it leaves
 * that unset), and dns_query_parse_to() then says OK. */
static void expect_common(const char *what, const uint8_t *pkt, size_t len, bool want)
{
    dns_query_t a, b;
    uint8_t na[DNS_NAME_MAX + 8], nb[DNS_NAME_MAX + 8];
    memset(&a, 0x55, sizeof(a));
    memset(&b, 0x55, sizeof(b));
    enum dns_parse_status st = dns_query_parse_to(pkt, len, &a, na);
    bool got = dns_query_parse_common(pkt, len, &b, nb);
    if (got != want)
        fail_msg("%s: dns_query_parse_common expected %s, got %s (dns_query_parse_to: %d)", what,
                 want ? "true" : "false", got ? "true" : "false", st);
    if (!got)
        return;
    if (st != DNS_PARSE_OK)
        fail_msg("%s: the fast path took a packet dns_query_parse_to says %d to", what, st);
    print_message("  %s\n", what);
    assert_ptr_equal(b.qname, nb);
    assert_int_equal(b.id, a.id);
    assert_int_equal(b.flags, a.flags);
    assert_int_equal(b.opcode, a.opcode);
    assert_int_equal(b.has_question, a.has_question);
    assert_int_equal(b.edns, a.edns);
    assert_int_equal(b.nsid, a.nsid);
    assert_int_equal(b.ecs, a.ecs);
    assert_int_equal(b.cookie, a.cookie);
    assert_int_equal(b.qname_len, a.qname_len);
    assert_int_equal(b.qname_labels, a.qname_labels);
    assert_memory_equal(nb, na, a.qname_len);
    assert_memory_equal(b.qname_offs, a.qname_offs, a.qname_labels + 1u);
    assert_int_equal(b.qname_hash, a.qname_hash);
    assert_int_equal(b.qtype, a.qtype);
    assert_int_equal(b.qclass, a.qclass);
    if (a.edns) {
        assert_int_equal(b.edns_version, a.edns_version);
        assert_int_equal(b.edns_udp_size, a.edns_udp_size);
        assert_int_equal(b.edns_flags, a.edns_flags);
    }
    if (a.ecs) {
        assert_int_equal(b.client_subnet.family, a.client_subnet.family);
        assert_int_equal(b.client_subnet.source_prefix, a.client_subnet.source_prefix);
        assert_int_equal(b.client_subnet.scope_prefix, a.client_subnet.scope_prefix);
        assert_memory_equal(b.client_subnet.addr, a.client_subnet.addr, 16);
    }
}

static void test_parse_common(void **state)
{
    (void)state;
    uint8_t pkt[600];
    size_t n;
    /* OPT records after the question: owner, TYPE, CLASS, TTL, RDLENGTH */
    static const uint8_t opt[] = {0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0};
    static const uint8_t opt_ecs[] = {0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 11,
                                      0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100};
    static const uint8_t opt_ecs0[] = {0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 8,
                                       0, 8, 0, 4, 0, 2, 0, 0};
    static const uint8_t opt_v1[] = {0, 0, 41, 0x04, 0xD0, 0, 1, 0, 0, 0, 0};
    static const uint8_t opt_owned[] = {1, 'x', 0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0};
    static const uint8_t opt_nsid[] = {0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0};
    static const uint8_t opt_badecs[] = {0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 11,
                                         0, 8, 0, 7, 0, 1, 23, 0, 198, 51, 101};
    static const uint8_t opt_long[] = {0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 12, 0, 8};
    static const uint8_t opt_two[] = {0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 15,
                                      0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100, 0, 3, 0, 0};
    static const uint8_t not_opt[] = {0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};

    n = packet(pkt, 0, 1, 0, 0, NAME, NAME_LEN, DNS_TYPE_A, NULL, 0);
    expect_common("plain, no EDNS", pkt, n, true);
    n = packet(pkt, DNS_FLAG_RD | DNS_FLAG_CD, 1, 0, 1, NAME, NAME_LEN, DNS_TYPE_AAAA, opt,
               sizeof(opt));
    expect_common("EDNS, DO, RD and CD", pkt, n, true);
    n = packet(pkt, 0, 1, 0, 1, NAME, NAME_LEN, DNS_TYPE_A, opt_ecs, sizeof(opt_ecs));
    expect_common("EDNS with a client subnet", pkt, n, true);
    n = packet(pkt, 0, 1, 0, 1, NAME, NAME_LEN, DNS_TYPE_A, opt_ecs0, sizeof(opt_ecs0));
    expect_common("a client subnet of /0", pkt, n, true);
    n = packet(pkt, 0, 1, 0, 0, "\3WWW\7EXAMPLE\3COM", NAME_LEN, DNS_TYPE_A, NULL, 0);
    expect_common("upper case", pkt, n, true);
    n = packet(pkt, 0, 1, 0, 0, "", 1, DNS_TYPE_NS, NULL, 0);
    expect_common("the root, the shortest query", pkt, n, true);
    expect_common("one byte short of that", pkt, n - 1, false);
    n = packet(pkt, 0, 1, 0, 0, NAME, NAME_LEN, DNS_TYPE_A, (const uint8_t *)"junk", 4);
    expect_common("bytes after the last record", pkt, n, true);
    /* a 255-byte name: three labels of 63, one of 61 and the root */
    char longname[DNS_NAME_MAX];
    size_t o = 0;
    for (int l = 0; l < 4; l++) {
        unsigned ll = l < 3 ? 63 : 61;
        longname[o++] = (char)ll;
        memset(longname + o, 'a' + l, ll);
        o += ll;
    }
    longname[o++] = 0;
    assert_int_equal(o, DNS_NAME_MAX);
    n = packet(pkt, 0, 1, 0, 1, longname, o, DNS_TYPE_TXT, opt, sizeof(opt));
    expect_common("a name of 255 bytes, the longest", pkt, n, true);

    /* every other shape is declined, for dns_query_parse_to(): header
     * flags, QD/AN/AR counts, question name, the records after it, and
     * how many bytes are cut off the end */
    static const struct {
        const char *what;
        uint16_t flags;
        uint16_t qd, an, ar;
        const char *name;
        size_t name_len;
        const uint8_t *records;
        size_t records_len;
        size_t cut;
    } declined[] = {
        {"a response", DNS_FLAG_QR, 1, 0, 0, NAME, NAME_LEN, NULL, 0, 0},
        {"opcode IQUERY", 1u << 11, 1, 0, 0, NAME, NAME_LEN, NULL, 0, 0},
        {"TC set", DNS_FLAG_TC, 1, 0, 0, NAME, NAME_LEN, NULL, 0, 0},
        {"AA set", DNS_FLAG_AA, 1, 0, 0, NAME, NAME_LEN, NULL, 0, 0},
        {"two questions", 0, 2, 0, 0, NAME, NAME_LEN, NULL, 0, 0},
        {"no question", 0, 0, 0, 0, NAME, NAME_LEN, NULL, 0, 0},
        {"an answer record", 0, 1, 1, 0, NAME, NAME_LEN, not_opt, sizeof(not_opt), 0},
        {"two additional records", 0, 1, 0, 2, NAME, NAME_LEN, opt, sizeof(opt), 0},
        {"an additional record that is not OPT",
         0, 1, 0, 1, NAME, NAME_LEN, not_opt, sizeof(not_opt), 0},
        {"OPT not owned by the root", 0, 1, 0, 1, NAME, NAME_LEN, opt_owned, sizeof(opt_owned), 0},
        {"EDNS version 1", 0, 1, 0, 1, NAME, NAME_LEN, opt_v1, sizeof(opt_v1), 0},
        {"an NSID option", 0, 1, 0, 1, NAME, NAME_LEN, opt_nsid, sizeof(opt_nsid), 0},
        {"a client subnet with bits past its prefix",
         0, 1, 0, 1, NAME, NAME_LEN, opt_badecs, sizeof(opt_badecs), 0},
        {"RDLENGTH past the packet", 0, 1, 0, 1, NAME, NAME_LEN, opt_long, sizeof(opt_long), 0},
        {"a client subnet and another option",
         0, 1, 0, 1, NAME, NAME_LEN, opt_two, sizeof(opt_two), 0},
        {"the OPT record cut short", 0, 1, 0, 1, NAME, NAME_LEN, opt, sizeof(opt), 1},
        {"the question cut short", 0, 1, 0, 0, NAME, NAME_LEN, NULL, 0, 1},
        {"a compressed name", 0, 1, 0, 0, "\3www\xC0\x0C", 6, NULL, 0, 0},
        {"a label type that is not a plain label", 0, 1, 0, 0, "\x40", 1, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++) {
        n = packet(pkt, declined[i].flags, declined[i].qd, declined[i].an, declined[i].ar,
                   declined[i].name, declined[i].name_len, DNS_TYPE_A, declined[i].records,
                   declined[i].records_len);
        expect_common(declined[i].what, pkt, n - declined[i].cut, false);
    }
}

/* dns_copy: every length up to past its memcpy threshold copies exactly n
 * bytes, touching none before or after either range. */
static void test_copy(void **state)
{
    (void)state;
    uint8_t src[160], dst[160];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 13 + 5);
    for (size_t n = 0; n <= 130; n++) {
        memset(dst, 0xEE, sizeof(dst));
        dns_copy(dst + 8, src + 3, n);
        for (size_t i = 0; i < 8; i++)
            assert_int_equal(dst[i], 0xEE);
        if (n && memcmp(dst + 8, src + 3, n) != 0)
            fail_msg("dns_copy of %zu bytes: wrong bytes", n);
        for (size_t i = 8 + n; i < sizeof(dst); i++)
            if (dst[i] != 0xEE)
                fail_msg("dns_copy of %zu bytes wrote byte %zu past the end", n, i - 8 - n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_simple),     cmocka_unit_test(test_parse_header_rules),
        cmocka_unit_test(test_parse_edns),       cmocka_unit_test(test_parse_options),
        cmocka_unit_test(test_client_subnet),    cmocka_unit_test(test_writer_compression),
        cmocka_unit_test(test_writer_full),      cmocka_unit_test(test_parse_edns_of_errors),
        cmocka_unit_test(test_parse_tsig),       cmocka_unit_test(test_writer_tsig),
        cmocka_unit_test(test_edns_read),
        cmocka_unit_test(test_opt_lone_subnet),  cmocka_unit_test(test_parse_to),
        cmocka_unit_test(test_answer_flags),     cmocka_unit_test(test_writer_header_and_rewind),
        cmocka_unit_test(test_parse_common),     cmocka_unit_test(test_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
