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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_simple),     cmocka_unit_test(test_parse_header_rules),
        cmocka_unit_test(test_parse_edns),       cmocka_unit_test(test_parse_options),
        cmocka_unit_test(test_client_subnet),    cmocka_unit_test(test_writer_compression),
        cmocka_unit_test(test_writer_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
