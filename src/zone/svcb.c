/*
 * svcb: SvcParams from presentation to wire form, and their rules
 * (RFC 9460 sections 2.1, 7 and 8 and appendix A; dohpath RFC 9461,
 * ohttp RFC 9540).
 *
 * A value is decoded twice, as appendix A says: first as a <char-string>
 * (RFC 1035 \X and \DDD escapes, quoted or not, with no 255-octet limit),
 * then, for the keys whose value is a list (mandatory, alpn, ipv4hint,
 * ipv6hint), split at the commas that are not escaped, "\," and "\\"
 * standing for a comma and a backslash inside an item. So
 * alpn="f\\\\oo\\,bar,h2" and alpn=f\\\092oo\092,bar,h2 are both the two
 * ids "f\oo,bar" and "h2".
 */
#include "config.h"

#include "zone/svcb.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVCB_KEY_RESERVED 65535u
#define SVCB_VALUE_MAX 65535u

enum {
    KEY_MANDATORY = 0,
    KEY_ALPN = 1,
    KEY_NO_DEFAULT_ALPN = 2,
    KEY_PORT = 3,
    KEY_IPV4HINT = 4,
    KEY_ECH = 5,
    KEY_IPV6HINT = 6,
    KEY_DOHPATH = 7,
    KEY_OHTTP = 8,
};

/* The registered keys' names, by number. */
static const char *const key_names[] = {
    "mandatory", "alpn", "no-default-alpn", "port", "ipv4hint", "ech", "ipv6hint", "dohpath",
    "ohttp",
};
#define N_KEY_NAMES (sizeof(key_names) / sizeof(key_names[0]))

static void say(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
}

/* "alpn", or "key667" for a key without a name. */
static void key_text(unsigned key, char *buf, size_t size)
{
    if (key < N_KEY_NAMES)
        snprintf(buf, size, "%s", key_names[key]);
    else
        snprintf(buf, size, "key%u", key);
}

/* A registered name or keyNNNNN (decimal, at most 65535; leading zeros
 * are read as NSD reads them, though never written). False when it is
 * neither. */
static bool key_parse(const char *s, size_t len, unsigned *key)
{
    for (unsigned k = 0; k < N_KEY_NAMES; k++)
        if (strlen(key_names[k]) == len && memcmp(key_names[k], s, len) == 0) {
            *key = k;
            return true;
        }
    if (len < 4 || len > 8 || memcmp(s, "key", 3) != 0)
        return false;
    unsigned long v = 0;
    for (size_t i = 3; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *key = (unsigned)v;
    return true;
}

/* RFC 1035 <character-string> decoding without the length limit: \DDD is
 * the octet DDD (at most 255), \X is X. False on a bad escape. */
static bool decode_chars(const char *s, size_t len, uint8_t *out, size_t cap, size_t *out_len,
                         char *why, size_t why_size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned c = (unsigned char)s[i];
        if (c == '\\') {
            if (i + 1 >= len) {
                say(why, why_size, "backslash at the end of a value");
                return false;
            }
            c = (unsigned char)s[++i];
            if (c >= '0' && c <= '9') {
                if (i + 2 >= len || s[i + 1] < '0' || s[i + 1] > '9' || s[i + 2] < '0' ||
                    s[i + 2] > '9') {
                    say(why, why_size, "bad \\DDD escape in a value");
                    return false;
                }
                c = (c - '0') * 100 + (unsigned)(s[i + 1] - '0') * 10 + (unsigned)(s[i + 2] - '0');
                if (c > 255) {
                    say(why, why_size, "bad \\DDD escape in a value (above 255)");
                    return false;
                }
                i += 2;
            }
        }
        if (n == cap) {
            say(why, why_size, "value longer than %zu octets", cap);
            return false;
        }
        out[n++] = (uint8_t)c;
    }
    *out_len = n;
    return true;
}

/* The next item of a decoded value list (appendix A.1) into item (at most
 * cap bytes). Returns 1 with an item, 0 at the end, -1 with why. */
static int next_item(const uint8_t *v, size_t len, size_t *pos, uint8_t *item, size_t cap,
                     size_t *item_len, char *why, size_t why_size)
{
    if (*pos > len || len == 0)
        return 0;
    size_t n = 0, i = *pos;
    for (; i < len && v[i] != ','; i++) {
        uint8_t c = v[i];
        if (c == '\\') {
            if (i + 1 >= len || (v[i + 1] != ',' && v[i + 1] != '\\')) {
                say(why, why_size, "in a value list a backslash must come before ',' or '\\'");
                return -1;
            }
            c = v[++i];
        }
        if (n == cap) {
            say(why, why_size, "an item of the value list is longer than %zu octets", cap);
            return -1;
        }
        item[n++] = c;
    }
    if (n == 0) {
        say(why, why_size, "empty item in a value list");
        return -1;
    }
    *pos = i + 1; /* past the comma, or past len at the end */
    *item_len = n;
    return 1;
}

typedef struct param_out {
    unsigned key;
    size_t off, len; /* into the value scratch */
} param_out_t;

static int param_cmp(const void *pa, const void *pb)
{
    const param_out_t *a = pa, *b = pb;
    return (a->key > b->key) - (a->key < b->key);
}

static int u16_cmp(const void *pa, const void *pb)
{
    unsigned a = (unsigned)((const uint8_t *)pa)[0] << 8 | ((const uint8_t *)pa)[1];
    unsigned b = (unsigned)((const uint8_t *)pb)[0] << 8 | ((const uint8_t *)pb)[1];
    return (a > b) - (a < b);
}

/* The wire value of key from its decoded presentation value v (len
 * bytes; has_value false when there was no "="), into out (cap bytes). */
static long value_wire(unsigned key, bool has_value, const uint8_t *v, size_t len, uint8_t *out,
                       size_t cap, char *why, size_t why_size)
{
    char name[16];
    key_text(key, name, sizeof(name));
    size_t n = 0, pos = 0, ilen;
    uint8_t item[256];
    int got;
    switch (key) {
    case KEY_NO_DEFAULT_ALPN:
    case KEY_OHTTP:
        if (len) {
            say(why, why_size, "%s takes no value", name);
            return -1;
        }
        return 0;
    case KEY_MANDATORY:
    case KEY_ALPN:
    case KEY_IPV4HINT:
    case KEY_IPV6HINT:
    case KEY_PORT:
    case KEY_ECH:
    case KEY_DOHPATH:
        if (len == 0) {
            say(why, why_size, "%s needs a value", name);
            return -1;
        }
        break;
    default: /* keyNNNNN: the value as decoded */
        (void)has_value;
        if (len > cap) {
            say(why, why_size, "value of %s longer than %zu octets", name, cap);
            return -1;
        }
        if (len)
            memcpy(out, v, len);
        return (long)len;
    }

    if (key == KEY_PORT || key == KEY_ECH || key == KEY_DOHPATH) {
        if (key == KEY_PORT) {
            unsigned long port = 0;
            for (size_t i = 0; i < len; i++) {
                if (v[i] < '0' || v[i] > '9' || (port = port * 10 + (v[i] - '0')) > 65535 ||
                    i >= 5) {
                    say(why, why_size, "port must be a number from 0 to 65535");
                    return -1;
                }
            }
            if (cap < 2)
                goto too_long;
            out[0] = (uint8_t)(port >> 8);
            out[1] = (uint8_t)port;
            return 2;
        }
        if (key == KEY_DOHPATH) {
            if (len > cap)
                goto too_long;
            memcpy(out, v, len);
            return (long)len;
        }
        /* ech: the ECHConfigList in base64 (RFC 4648, padded) */
        char *text = malloc(len + 1);
        if (!text)
            abort();
        memcpy(text, v, len);
        text[len] = '\0';
        ldns_rdf *rdf = NULL;
        bool ok = !memchr(v, 0, len) && len % 4 == 0 &&
                  ldns_str2rdf_b64(&rdf, text) == LDNS_STATUS_OK && ldns_rdf_size(rdf) > 0;
        free(text);
        size_t b = ok ? ldns_rdf_size(rdf) : 0;
        if (ok && b <= cap)
            memcpy(out, ldns_rdf_data(rdf), b);
        ldns_rdf_deep_free(rdf);
        if (!ok) {
            say(why, why_size, "ech must be base64 (RFC 4648, with padding)");
            return -1;
        }
        if (b > cap)
            goto too_long;
        return (long)b;
    }

    /* the lists */
    while ((got = next_item(v, len, &pos, item, sizeof(item) - 1, &ilen, why, why_size)) > 0) {
        item[ilen] = '\0';
        if (key == KEY_ALPN) {
            if (n + 1 + ilen > cap)
                goto too_long;
            out[n] = (uint8_t)ilen;
            memcpy(out + n + 1, item, ilen);
            n += 1 + ilen;
        } else if (key == KEY_IPV4HINT || key == KEY_IPV6HINT) {
            size_t alen = key == KEY_IPV4HINT ? 4 : 16;
            if (n + alen > cap)
                goto too_long;
            if (memchr(item, 0, ilen) ||
                inet_pton(key == KEY_IPV4HINT ? AF_INET : AF_INET6, (char *)item, out + n) != 1) {
                say(why, why_size, "%s: '%s' is not an IPv%d address", name, (char *)item,
                    key == KEY_IPV4HINT ? 4 : 6);
                return -1;
            }
            n += alen;
        } else { /* mandatory */
            unsigned k;
            if (!key_parse((char *)item, ilen, &k)) {
                say(why, why_size, "mandatory: unknown SvcParamKey '%.*s'", (int)ilen,
                    (char *)item);
                return -1;
            }
            if (n + 2 > cap)
                goto too_long;
            out[n] = (uint8_t)(k >> 8);
            out[n + 1] = (uint8_t)k;
            n += 2;
        }
    }
    if (got < 0) {
        /* why says what, add whose */
        char inner[160];
        snprintf(inner, sizeof(inner), "%s", why);
        say(why, why_size, "%s: %s", name, inner);
        return -1;
    }
    if (key == KEY_MANDATORY) /* sorted in the wire form (RFC 9460 8) */
        qsort(out, n / 2, 2, u16_cmp);
    return (long)n;
too_long:
    say(why, why_size, "value of %s too long", name);
    return -1;
}

long zone_svcb_params(const zone_svcb_param_t *params, size_t n, uint8_t *out, size_t cap,
                      char *why, size_t why_size)
{
    /* Buffers sized by the text, not by the 64 KiB a value may reach: a
     * zone of a million HTTPS records must not cost a million large
     * allocations. Decoding never lengthens a value's text, and its wire
     * form is at most 8 times as long ("::" is 16 octets) plus a port's 2. */
    size_t longest = 0, bound = 0;
    for (size_t i = 0; i < n; i++) {
        if (params[i].value_len > longest)
            longest = params[i].value_len;
        bound += 8 * params[i].value_len + 2;
    }
    if (bound > cap)
        bound = cap;
    param_out_t *po = calloc(n ? n : 1, sizeof(*po));
    uint8_t *scratch = malloc(longest + 1), *values = malloc(bound + 1);
    size_t used = 0, len = 0;
    long rc = -1;
    if (!po || !scratch || !values)
        abort(); /* load time */
    for (size_t i = 0; i < n; i++) {
        const zone_svcb_param_t *p = &params[i];
        unsigned key;
        if (!key_parse(p->key, p->key_len, &key)) {
            say(why, why_size, "unknown SvcParamKey '%.*s'", (int)p->key_len, p->key);
            goto done;
        }
        if (key == SVCB_KEY_RESERVED) {
            say(why, why_size, "SvcParamKey key65535 is reserved");
            goto done;
        }
        size_t vlen = 0;
        if (p->value &&
            !decode_chars(p->value, p->value_len, scratch, longest, &vlen, why, why_size))
            goto done;
        long w = value_wire(key, p->value != NULL, scratch, vlen, values + used, bound - used, why,
                            why_size);
        if (w < 0)
            goto done;
        po[i] = (param_out_t){.key = key, .off = used, .len = (size_t)w};
        used += (size_t)w;
    }
    /* any order in presentation form, ascending in wire form (RFC 9460
     * 2.2); a key twice is an error either way */
    qsort(po, n, sizeof(*po), param_cmp);
    for (size_t i = 0; i < n; i++) {
        char name[16];
        key_text(po[i].key, name, sizeof(name));
        if (i > 0 && po[i].key == po[i - 1].key) {
            say(why, why_size, "SvcParamKey %s appears more than once", name);
            goto done;
        }
        if (len + 4 + po[i].len > cap || po[i].len > SVCB_VALUE_MAX) {
            say(why, why_size, "SvcParams longer than the %zu octets left in the RDATA", cap);
            goto done;
        }
        out[len] = (uint8_t)(po[i].key >> 8);
        out[len + 1] = (uint8_t)po[i].key;
        out[len + 2] = (uint8_t)(po[i].len >> 8);
        out[len + 3] = (uint8_t)po[i].len;
        if (po[i].len)
            memcpy(out + len + 4, values + po[i].off, po[i].len);
        len += 4 + po[i].len;
    }
    rc = zone_svcb_check(out, len, why, why_size) ? (long)len : -1;
done:
    free(po);
    free(scratch);
    free(values);
    return rc;
}

/* Is key among the params (wire form, already walked once)? */
static bool has_key(const uint8_t *p, size_t len, unsigned key)
{
    for (size_t pos = 0; pos + 4 <= len; pos += 4 + (size_t)(p[pos + 2] << 8 | p[pos + 3]))
        if ((unsigned)(p[pos] << 8 | p[pos + 1]) == key)
            return true;
    return false;
}

/* The rules for one value in wire form. */
static bool value_ok(const uint8_t *p, size_t len, const uint8_t *v, size_t vlen, unsigned key,
                     char *why, size_t why_size)
{
    char name[16];
    key_text(key, name, sizeof(name));
    switch (key) {
    case KEY_MANDATORY:
        if (vlen == 0 || vlen % 2) {
            say(why, why_size, "mandatory needs a list of keys");
            return false;
        }
        for (size_t m = 0; m < vlen; m += 2) {
            unsigned want = (unsigned)(v[m] << 8 | v[m + 1]);
            char wname[16];
            key_text(want, wname, sizeof(wname));
            if (want == KEY_MANDATORY) {
                say(why, why_size, "mandatory lists itself");
                return false;
            }
            if (m > 0 && want <= (unsigned)(v[m - 2] << 8 | v[m - 1])) {
                say(why, why_size, want == (unsigned)(v[m - 2] << 8 | v[m - 1])
                                       ? "mandatory lists %s more than once"
                                       : "mandatory keys not in ascending order (at %s)",
                    wname);
                return false;
            }
            if (!has_key(p, len, want)) {
                say(why, why_size, "mandatory SvcParamKey %s is missing", wname);
                return false;
            }
        }
        return true;
    case KEY_ALPN:
        if (vlen == 0) {
            say(why, why_size, "alpn needs a value");
            return false;
        }
        for (size_t a = 0; a < vlen; a += 1 + (size_t)v[a])
            if (v[a] == 0 || a + 1 + v[a] > vlen) {
                say(why, why_size, "alpn: malformed list of protocol ids");
                return false;
            }
        return true;
    case KEY_NO_DEFAULT_ALPN:
    case KEY_OHTTP:
        if (vlen) {
            say(why, why_size, "%s takes no value", name);
            return false;
        }
        if (key == KEY_NO_DEFAULT_ALPN && !has_key(p, len, KEY_ALPN)) {
            /* RFC 9460 7.1.1: not self-consistent without alpn */
            say(why, why_size, "no-default-alpn without alpn");
            return false;
        }
        return true;
    case KEY_PORT:
        if (vlen != 2) {
            say(why, why_size, "port must be 2 octets");
            return false;
        }
        return true;
    case KEY_IPV4HINT:
    case KEY_IPV6HINT: {
        size_t alen = key == KEY_IPV4HINT ? 4 : 16;
        if (vlen == 0 || vlen % alen) {
            say(why, why_size, "%s needs a list of %zu-octet addresses", name, alen);
            return false;
        }
        return true;
    }
    case KEY_ECH:
    case KEY_DOHPATH:
        if (vlen == 0) {
            say(why, why_size, "%s needs a value", name);
            return false;
        }
        return true;
    default:
        return true;
    }
}

bool zone_svcb_check(const uint8_t *p, size_t len, char *why, size_t why_size)
{
    long prev = -1;
    size_t pos = 0;
    while (pos < len) {
        if (len - pos < 4) {
            say(why, why_size, "truncated SvcParam");
            return false;
        }
        unsigned key = (unsigned)(p[pos] << 8 | p[pos + 1]);
        size_t vlen = (size_t)(p[pos + 2] << 8 | p[pos + 3]);
        char name[16];
        key_text(key, name, sizeof(name));
        if (vlen > len - pos - 4) {
            say(why, why_size, "SvcParam %s longer than the RDATA", name);
            return false;
        }
        if ((long)key <= prev) {
            say(why, why_size, (long)key == prev ? "SvcParamKey %s appears more than once"
                                                 : "SvcParamKeys not in ascending order (at %s)",
                name);
            return false;
        }
        if (key == SVCB_KEY_RESERVED) {
            say(why, why_size, "SvcParamKey key65535 is reserved");
            return false;
        }
        prev = key;
        pos += 4 + vlen;
    }
    for (pos = 0; pos < len; pos += 4 + (size_t)(p[pos + 2] << 8 | p[pos + 3]))
        if (!value_ok(p, len, p + pos + 4, (size_t)(p[pos + 2] << 8 | p[pos + 3]),
                      (unsigned)(p[pos] << 8 | p[pos + 1]), why, why_size))
            return false;
    return true;
}
