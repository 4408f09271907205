/* Unit tests for src/dns/name.c: wire-format names. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dns/name.h"

static void test_unpack_plain(void **state)
{
    (void)state;
    const uint8_t pkt[] = "\3www\7example\3com";
    uint8_t out[DNS_NAME_MAX];
    size_t pos = 0;
    int n = dns_name_unpack(pkt, sizeof(pkt), &pos, out);
    assert_int_equal(n, 17);
    assert_int_equal(pos, 17);
    assert_memory_equal(out, pkt, 17);
}

static void test_unpack_pointer(void **state)
{
    (void)state;
    /* "example.com" at 0, then "www" + pointer to 0 */
    const uint8_t pkt[] = "\7example\3com\0\3www\xC0\x00";
    uint8_t out[DNS_NAME_MAX];
    size_t pos = 13;
    int n = dns_name_unpack(pkt, sizeof(pkt) - 1, &pos, out);
    assert_int_equal(n, 17);
    assert_int_equal(pos, 19);
    assert_memory_equal(out, "\3www\7example\3com", 17);
}

static void test_unpack_loops_and_forward_pointers(void **state)
{
    (void)state;
    uint8_t out[DNS_NAME_MAX];
    const uint8_t self[] = {0xC0, 0x00};
    size_t pos = 0;
    assert_int_equal(dns_name_unpack(self, sizeof(self), &pos, out), -1);
    const uint8_t fwd[] = {0xC0, 0x02, 0x00};
    pos = 0;
    assert_int_equal(dns_name_unpack(fwd, sizeof(fwd), &pos, out), -1);
    /* two names pointing at each other */
    const uint8_t pair[] = {0x01, 'a', 0xC0, 0x04, 0x01, 'b', 0xC0, 0x00};
    pos = 4;
    assert_int_equal(dns_name_unpack(pair, sizeof(pair), &pos, out), -1);
}

static void test_unpack_malformed(void **state)
{
    (void)state;
    uint8_t out[DNS_NAME_MAX];
    size_t pos = 0;
    const uint8_t truncated[] = {3, 'w', 'w'};
    assert_int_equal(dns_name_unpack(truncated, sizeof(truncated), &pos, out), -1);
    pos = 0;
    const uint8_t noroot[] = {1, 'a'};
    assert_int_equal(dns_name_unpack(noroot, sizeof(noroot), &pos, out), -1);
    pos = 0;
    const uint8_t badtype[] = {0x40, 0};
    assert_int_equal(dns_name_unpack(badtype, sizeof(badtype), &pos, out), -1);
    pos = 0;
    const uint8_t halfptr[] = {0xC0};
    assert_int_equal(dns_name_unpack(halfptr, sizeof(halfptr), &pos, out), -1);
    pos = 0;
    assert_int_equal(dns_name_unpack(truncated, 0, &pos, out), -1);
}

static void test_unpack_limits(void **state)
{
    (void)state;
    uint8_t pkt[600];
    uint8_t out[DNS_NAME_MAX];
    size_t pos;
    /* label of 64 bytes: 0x40 is a label type, rejected */
    memset(pkt, 'a', sizeof(pkt));
    pkt[0] = 64;
    pkt[65] = 0;
    pos = 0;
    assert_int_equal(dns_name_unpack(pkt, 66, &pos, out), -1);
    /* 63-byte label: fine */
    pkt[0] = 63;
    pkt[64] = 0;
    pos = 0;
    assert_int_equal(dns_name_unpack(pkt, 65, &pos, out), 65);
    /* exactly 255 bytes: 3 x 63-byte labels + one 61-byte label + root */
    size_t p = 0;
    for (int i = 0; i < 3; i++) {
        pkt[p] = 63;
        memset(pkt + p + 1, 'x', 63);
        p += 64;
    }
    pkt[p] = 61;
    memset(pkt + p + 1, 'y', 61);
    p += 62;
    pkt[p++] = 0;
    assert_int_equal(p, 255);
    pos = 0;
    assert_int_equal(dns_name_unpack(pkt, p, &pos, out), 255);
    /* 256 bytes: too long */
    pkt[192] = 62;
    memset(pkt + 193, 'y', 62);
    pkt[255] = 0;
    pos = 0;
    assert_int_equal(dns_name_unpack(pkt, 256, &pos, out), -1);
}

static void test_compare(void **state)
{
    (void)state;
    const uint8_t *a = (const uint8_t *)"\3WwW\7Example\3com";
    const uint8_t *b = (const uint8_t *)"\3www\7example\3COM";
    const uint8_t *apex = (const uint8_t *)"\7example\3com";
    const uint8_t *other = (const uint8_t *)"\7example\3net";
    assert_true(dns_name_equal(a, b));
    assert_false(dns_name_equal(a, apex));
    assert_true(dns_name_is_subdomain(a, apex));
    assert_true(dns_name_is_subdomain(apex, apex));
    assert_false(dns_name_is_subdomain(apex, a));
    assert_false(dns_name_is_subdomain(a, other));
    assert_true(dns_name_is_subdomain(a, (const uint8_t *)""));
    assert_int_equal(dns_name_labels(a), 3);
    assert_int_equal(dns_name_len(a), 17);
    uint8_t lc[17];
    dns_name_lower(lc, a, 17);
    assert_memory_equal(lc, b, 10);
}

/* dns_words_equal() and dns_words_equal_lower() for every length up to 40
 * and a difference at every byte, whatever the padding after the bytes. */
static void test_words_equal(void **state)
{
    (void)state;
    uint8_t lc[48], any[48];
    for (size_t n = 1; n <= 40; n++) {
        for (size_t i = 0; i < sizeof(lc); i++) {
            lc[i] = (uint8_t)('a' + i % 26);
            any[i] = (uint8_t)(i < n ? lc[i] : 0xEE); /* padding that differs */
        }
        assert_true(dns_words_equal(any, lc, n));
        assert_true(dns_words_equal_lower(any, lc, n));
        for (size_t d = 0; d < n; d++) {
            any[d] = (uint8_t)(lc[d] - 32); /* upper case: equal once lowered */
            assert_false(dns_words_equal(any, lc, n));
            assert_true(dns_words_equal_lower(any, lc, n));
            any[d] = '0'; /* a different byte */
            assert_false(dns_words_equal(any, lc, n));
            assert_false(dns_words_equal_lower(any, lc, n));
            any[d] = lc[d];
        }
    }
}

static void test_text(void **state)
{
    (void)state;
    char buf[64];
    dns_name_to_text((const uint8_t *)"\3www\7example\3com", buf, sizeof(buf));
    assert_string_equal(buf, "www.example.com.");
    dns_name_to_text((const uint8_t *)"", buf, sizeof(buf));
    assert_string_equal(buf, ".");
    dns_name_to_text((const uint8_t *)"\3a.b\1\x01", buf, sizeof(buf));
    assert_string_equal(buf, "a\\.b.\\001.");
    dns_name_to_text((const uint8_t *)"\7example\3com", buf, 5);
    assert_int_equal(strlen(buf), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unpack_plain),   cmocka_unit_test(test_unpack_pointer),
        cmocka_unit_test(test_unpack_loops_and_forward_pointers),
        cmocka_unit_test(test_unpack_malformed), cmocka_unit_test(test_unpack_limits),
        cmocka_unit_test(test_compare),        cmocka_unit_test(test_text),
        cmocka_unit_test(test_words_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
