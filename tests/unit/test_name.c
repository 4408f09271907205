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

/* dns_lower, and dns_lower8 against it for every byte in every position
 * and every pair of neighbouring bytes (a borrow between bytes would show). */
static void test_lower(void **state)
{
    (void)state;
    for (unsigned c = 0; c < 256; c++) {
        uint8_t want = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        if (dns_lower((uint8_t)c) != want)
            fail_msg("dns_lower(0x%02x): expected 0x%02x, got 0x%02x", c, want,
                     dns_lower((uint8_t)c));
    }
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b++) {
            uint8_t in[8], want[8], got[8];
            for (unsigned i = 0; i < 8; i++) {
                in[i] = (uint8_t)(i % 2 ? b : a);
                want[i] = dns_lower(in[i]);
            }
            uint64_t x;
            memcpy(&x, in, 8);
            x = dns_lower8(x);
            memcpy(got, &x, 8);
            if (memcmp(got, want, 8) != 0)
                fail_msg("dns_lower8 of 0x%02x 0x%02x ...: wrong", a, b);
        }
    }
}

static void test_wire_len(void **state)
{
    (void)state;
    assert_int_equal(dns_name_wire_len((const uint8_t *)"\3www\7example\3com", 18), 17);
    assert_int_equal(dns_name_wire_len((const uint8_t *)"\3www\7example\3com", 17), 17);
    assert_int_equal(dns_name_wire_len((const uint8_t *)"\3www\7example\3com", 16), 0);
    assert_int_equal(dns_name_wire_len((const uint8_t *)"", 1), 1); /* the root */
    assert_int_equal(dns_name_wire_len((const uint8_t *)"", 0), 0);
    assert_int_equal(dns_name_wire_len((const uint8_t *)"\3www\xC0\x0C", 6), 0); /* pointer */
    assert_int_equal(dns_name_wire_len((const uint8_t *)"\x40" "a", 2), 0);
    /* labels of 63 bytes: allowed; of 64: not */
    uint8_t name[300];
    memset(name, 'a', sizeof(name));
    name[0] = 63;
    name[64] = 0;
    assert_int_equal(dns_name_wire_len(name, sizeof(name)), 65);
    name[0] = 64;
    assert_int_equal(dns_name_wire_len(name, sizeof(name)), 0);
    /* 255 bytes in all: allowed; 256: not */
    size_t o = 0;
    for (int l = 0; l < 3; l++, o += 64)
        name[o] = 63;
    name[o] = 61;
    name[o + 62] = 0;
    assert_int_equal(dns_name_wire_len(name, sizeof(name)), 255);
    name[o] = 62;
    name[o + 62] = 'a';
    name[o + 63] = 0;
    assert_int_equal(dns_name_wire_len(name, sizeof(name)), 0);
}

static void test_scan(void **state)
{
    (void)state;
    uint8_t offs[DNS_LABELS_MAX];
    unsigned labels = 99;
    const uint8_t *n = (const uint8_t *)"\3www\7example\3com";
    assert_int_equal(dns_name_scan(n, 17, offs, &labels), 17);
    assert_int_equal(labels, 3);
    static const uint8_t want[] = {0, 4, 12, 16};
    assert_memory_equal(offs, want, 4);
    assert_int_equal(dns_name_scan(n, 16, offs, &labels), -1); /* the root outside room */
    assert_int_equal(dns_name_scan(n, 0, offs, &labels), -1);
    assert_int_equal(dns_name_scan((const uint8_t *)"", 1, offs, &labels), 1);
    assert_int_equal(labels, 0);
    assert_int_equal(offs[0], 0);
    assert_int_equal(dns_name_scan((const uint8_t *)"\3www\xC0\x0C", 6, offs, &labels), 0);
    assert_int_equal(dns_name_scan((const uint8_t *)"\x40" "a", 2, offs, &labels), 0);
    /* 127 one-byte labels and the root: 255 bytes, 128 offsets */
    uint8_t many[DNS_NAME_MAX];
    for (unsigned i = 0; i < 127; i++) {
        many[2 * i] = 1;
        many[2 * i + 1] = 'x';
    }
    many[254] = 0;
    assert_int_equal(dns_name_scan(many, sizeof(many), offs, &labels), 255);
    assert_int_equal(labels, 127);
    assert_int_equal(offs[127], 254);
}

/* The copies the parser makes of a name as sent: the bytes, the same hash
 * as dns_name_hash() of the lower-cased name (the hash ignores case), and
 * for dns_name_take() the lower-cased copy; with the packet ending right
 * after the name or a word later. */
static void test_copy_hash_take(void **state)
{
    (void)state;
    static const char *const names[] = {"", "\1A", "\3WwW\7ExAmPlE\3CoM", "\7example\3com",
                                        "\x0b" "abcdefghijk\2ZZ"};
    static const size_t lens[] = {1, 3, 17, 13, 16};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        size_t len = lens[k];
        uint8_t src[DNS_NAME_MAX + 16] = {0}, lower[DNS_NAME_MAX + 8] = {0};
        memcpy(src, names[k], len);
        dns_name_lower(lower, src, len);
        uint32_t want = dns_name_hash(lower, len);
        assert_int_equal(dns_name_hash(src, len), want);
        size_t avails[] = {len, len + 8};
        for (size_t a = 0; a < 2; a++) {
            uint8_t out[DNS_NAME_MAX + 8], lc[DNS_NAME_MAX + 8];
            memset(out, 0xEE, sizeof(out));
            assert_int_equal(dns_name_copy_hash(out, src, len, avails[a]), want);
            assert_memory_equal(out, src, len);
            memset(out, 0xEE, sizeof(out));
            memset(lc, 0xEE, sizeof(lc));
            assert_int_equal(dns_name_take(out, lc, src, len, avails[a]), want);
            assert_memory_equal(out, src, len);
            assert_memory_equal(lc, lower, len);
        }
    }
}

static void test_bytes_equal(void **state)
{
    (void)state;
    uint8_t a[40], b[40];
    for (size_t i = 0; i < sizeof(a); i++)
        a[i] = b[i] = (uint8_t)(i * 7 + 1);
    for (size_t n = 0; n <= 20; n++) {
        assert_true(dns_bytes_equal(a, b, n));
        for (size_t at = 0; at < n; at++) {
            b[at] ^= 0x20; /* a case difference is a difference here */
            assert_false(dns_bytes_equal(a, b, n));
            b[at] ^= 0x20;
        }
        b[n] ^= 1; /* past n: not looked at */
        assert_true(dns_bytes_equal(a, b, n));
        b[n] ^= 1;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unpack_plain),   cmocka_unit_test(test_unpack_pointer),
        cmocka_unit_test(test_unpack_loops_and_forward_pointers),
        cmocka_unit_test(test_unpack_malformed), cmocka_unit_test(test_unpack_limits),
        cmocka_unit_test(test_compare),        cmocka_unit_test(test_text),
        cmocka_unit_test(test_words_equal),
        cmocka_unit_test(test_lower),          cmocka_unit_test(test_wire_len),
        cmocka_unit_test(test_scan),           cmocka_unit_test(test_copy_hash_take),
        cmocka_unit_test(test_bytes_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
