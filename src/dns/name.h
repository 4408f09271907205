/*
 * dns name: domain names in uncompressed wire format.
 *
 * A name here is always uncompressed wire format (length-prefixed labels
 * ending in the root label), at most DNS_NAME_MAX bytes and
 * DNS_LABELS_MAX labels. Functions that read from a packet validate
 * everything they touch; the others assume a valid name. Lower-casing is
 * ASCII only, as DNS requires (RFC 4343).
 */
#ifndef MERIDIAN_DNS_NAME_H
#define MERIDIAN_DNS_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <endian.h>

#define DNS_NAME_MAX 255
#define DNS_LABEL_MAX 63
#define DNS_LABELS_MAX 128 /* including the root label */

/* Reads the name at *pos in pkt (following compression pointers, which must
 * point strictly backwards), writes it uncompressed to out (DNS_NAME_MAX
 * bytes) and advances *pos past the name as it stands in the packet.
 * Returns the name's length, or -1 when it is malformed (truncated,
 * bad label type, label > 63, name > 255, pointer loop). */
int dns_name_unpack(const uint8_t *pkt, size_t pktlen, size_t *pos, uint8_t *out);

/* Length in bytes of a valid uncompressed name (including the root). */
size_t dns_name_len(const uint8_t *name);

/* The length of the valid uncompressed name at the start of p[0, max)
 * (labels of at most 63 bytes, no pointer, at most DNS_NAME_MAX bytes in
 * all), or 0 when there is none. */
size_t dns_name_wire_len(const uint8_t *p, size_t max);

/* Number of labels, not counting the root. */
unsigned dns_name_labels(const uint8_t *name);

/* Copies a name of len bytes, lower-casing ASCII letters. */
void dns_name_lower(uint8_t *dst, const uint8_t *src, size_t len);

/* Lower-cases the eight bytes of x at once. With each byte's high bit
 * set first (so no subtraction borrows from the next byte), subtracting
 * 'A' leaves the high bit set where the low seven bits are at least 'A',
 * subtracting 'Z' + 1 where they are above 'Z'; a letter is the first but
 * not the second, in a byte whose own high bit is clear. Its 0x20 bit
 * (clear in an upper-case letter) is then set. */
static inline uint64_t dns_lower8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t xh = x | high;
    uint64_t upper = (xh - 'A' * ones) & ~(xh - ('Z' + 1) * ones) & ~x & high;
    return x | (upper >> 2);
}

/* The hash the zone database keys names on, over the bytes of a name
 * taken as little-endian words (the length is mixed in first, so a name's
 * words cannot collide with a longer name's). Every byte's 0x20 bit is set
 * before it is mixed in, which is all lower-casing changes: a name hashes
 * the same in any case, so a parser hashes it as sent. The steps are
 * separate so that the parser can hash the words it copies:
 *   h = DNS_HASH_SEED ^ len; h = dns_hash_step(h, word) for every word
 *   but the last; dns_hash_final(h, the last 1..8 bytes, zero-padded). */
#define DNS_HASH_SEED 0xCBF29CE484222325u
#define DNS_HASH_MUL 0x9E3779B97F4A7C15u
#define DNS_HASH_CASE 0x2020202020202020u

static inline uint64_t dns_hash_step(uint64_t h, uint64_t word)
{
    h = (h ^ (word | DNS_HASH_CASE)) * DNS_HASH_MUL;
    return h ^ (h >> 32);
}

static inline uint32_t dns_hash_final(uint64_t h, uint64_t last)
{
    h = (h ^ (last | DNS_HASH_CASE)) * DNS_HASH_MUL;
    h ^= h >> 29;
    return (uint32_t)(h >> 32);
}

/* Keeps the first n (1..8) bytes of a little-endian word. */
static inline uint64_t dns_word_mask(unsigned n) { return ~(uint64_t)0 >> (64 - 8 * n); }

/* The 8 bytes at p as a little-endian word. */
static inline uint64_t dns_load_le64(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return le64toh(x);
}

/* The n (1..8) bytes at p as a little-endian word, zero-padded, reading no
 * byte outside them. */
static inline uint64_t dns_load_le_partial(const uint8_t *p, unsigned n)
{
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        return (uint64_t)le32toh(a) | (uint64_t)le32toh(b) << (8 * (n - 4));
    }
    if (n >= 2) {
        uint16_t a, b;
        memcpy(&a, p, 2);
        memcpy(&b, p + n - 2, 2);
        return (uint64_t)le16toh(a) | (uint64_t)le16toh(b) << (8 * (n - 2));
    }
    return p[0];
}

/* Are the n bytes at a and b the same? A word at a time. */
static inline bool dns_bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (; n >= 8; n -= 8, a += 8, b += 8)
        if (dns_load_le64(a) != dns_load_le64(b))
            return false;
    return n == 0 || dns_load_le_partial(a, (unsigned)n) == dns_load_le_partial(b, (unsigned)n);
}

/* Are the n (at least 1) bytes at a and b the same? Both must have 8 more
 * readable bytes after them: the last word is loaded whole and masked. */
static inline bool dns_words_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t i = 0;
    while (n - i > 8 && dns_load_le64(a + i) == dns_load_le64(b + i))
        i += 8;
    return n - i <= 8 &&
           ((dns_load_le64(a + i) ^ dns_load_le64(b + i)) & dns_word_mask((unsigned)(n - i))) == 0;
}

/* Are the n (at least 1) bytes at any, lower-cased, those at lc? Both
 * must have 8 more readable bytes after them, as for dns_words_equal().
 * The bytes are compared as they are first (names are nearly always sent
 * in lower case), and lower-cased only when they differ. */
static inline bool dns_words_equal_lower(const uint8_t *any, const uint8_t *lc, size_t n)
{
    if (dns_words_equal(any, lc, n))
        return true;
    for (size_t i = 0;; i += 8) {
        uint64_t d = dns_load_le64(lc + i) ^ dns_lower8(dns_load_le64(any + i));
        if (n - i <= 8)
            return (d & dns_word_mask((unsigned)(n - i))) == 0;
        if (d)
            return false;
    }
}

static inline uint32_t dns_name_hash(const uint8_t *p, size_t len)
{
    uint64_t h = DNS_HASH_SEED ^ len;
    for (; len > 8; len -= 8, p += 8)
        h = dns_hash_step(h, dns_load_le64(p));
    return dns_hash_final(h, dns_load_le_partial(p, (unsigned)len));
}

/* Reads the uncompressed name at the start of p[0, room), room at most
 * DNS_NAME_MAX, noting in offs where each label starts (the root's last).
 * Returns its length, with *labels set (the root excluded); 0 at a pointer
 * or a label type other than a plain label, which the caller may unpack;
 * -1 when the name does not end inside room. Every label but the root
 * takes two bytes or more, so there are at most DNS_LABELS_MAX offsets. */
static inline __attribute__((always_inline)) int
dns_name_scan(const uint8_t *p, size_t room, uint8_t *offs, unsigned *labels)
{
    size_t o = 0;
    uint8_t *next = offs;
    for (;;) {
        if (o >= room)
            return -1;
        unsigned l = p[o];
        if (l > DNS_LABEL_MAX)
            return 0;
        *next++ = (uint8_t)o;
        o += l + 1;
        if (l == 0)
            break;
    }
    *labels = (unsigned)(next - offs) - 1;
    return (int)o;
}

/* Lower-cases a name of len bytes a word at a time: src and dst have room
 * for the bytes of the last word past the name (what dst gets there is
 * undefined). */
static inline void dns_name_lower_words(uint8_t *dst, const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t x;
        memcpy(&x, src + i, 8);
        x = dns_lower8(x);
        memcpy(dst + i, &x, 8);
    }
}

/* Copies the len-byte name at src, with avail bytes readable from there
 * (at least len), to out (with room for 8 bytes past the name) and returns
 * its dns_name_hash(): one pass a word at a time. */
static inline __attribute__((always_inline)) uint32_t
dns_name_copy_hash(uint8_t *out, const uint8_t *src, size_t len, size_t avail)
{
    if (avail < ((len + 7) & ~(size_t)7)) {
        memcpy(out, src, len); /* the packet ends less than a word after it */
        return dns_name_hash(src, len);
    }
    uint64_t h = DNS_HASH_SEED ^ len, x;
    size_t i = 0;
    for (;; i += 8) {
        memcpy(&x, src + i, 8);
        memcpy(out + i, &x, 8);
        if (len - i <= 8)
            break;
        h = dns_hash_step(h, le64toh(x));
    }
    return dns_hash_final(h, le64toh(x) & dns_word_mask((unsigned)(len - i)));
}

/* dns_name_copy_hash(), and a lower-cased copy to lc (with room for 8
 * bytes past the name): the query parser's work on its name. */
static inline __attribute__((always_inline)) uint32_t
dns_name_take(uint8_t *out, uint8_t *lc, const uint8_t *src, size_t len, size_t avail)
{
    uint32_t hash = dns_name_copy_hash(out, src, len, avail);
    dns_name_lower_words(lc, out, len);
    return hash;
}

static inline uint8_t dns_lower(uint8_t c)
{
    return (uint8_t)((unsigned)(c - 'A') < 26u ? c + 32 : c);
}

/* Case-insensitive equality of two valid names. */
bool dns_name_equal(const uint8_t *a, const uint8_t *b);

/* True when name equals or is below ancestor (case-insensitive). */
bool dns_name_is_subdomain(const uint8_t *name, const uint8_t *ancestor);

/* Offsets of the label starts of a valid name, left to right; the root
 * label's offset is included last. Returns the number of offsets (labels
 * + 1). */
unsigned dns_name_label_offsets(const uint8_t *name, uint8_t offsets[DNS_LABELS_MAX]);

/* Presentation form ("www.example.com.") for logs and tests; out gets at
 * most outlen bytes including the NUL. Non-printable bytes as \DDD. */
void dns_name_to_text(const uint8_t *name, char *out, size_t outlen);

#endif
