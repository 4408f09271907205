#include "config.h"

#include "dns/name.h"

#include <stdio.h>
#include <string.h>

int dns_name_unpack(const uint8_t *pkt, size_t pktlen, size_t *pos, uint8_t *out)
{
    size_t p = *pos;
    size_t outlen = 0;
    size_t end = 0; /* where the name ends in the packet; set at the first pointer */
    bool jumped = false;
    size_t limit = p; /* a pointer must go strictly before this */

    for (;;) {
        if (p >= pktlen)
            return -1;
        uint8_t len = pkt[p];
        if ((len & 0xC0) == 0xC0) {
            if (p + 1 >= pktlen)
                return -1;
            size_t target = ((size_t)(len & 0x3F) << 8) | pkt[p + 1];
            /* Only backward pointers: a loop is then impossible. */
            if (target >= limit)
                return -1;
            if (!jumped) {
                end = p + 2;
                jumped = true;
            }
            limit = target;
            p = target;
            continue;
        }
        if (len & 0xC0)
            return -1; /* 0x40 and 0x80 label types are obsolete or unknown */
        if (outlen + 1 + len > DNS_NAME_MAX)
            return -1;
        if (p + 1 + len > pktlen)
            return -1;
        out[outlen] = len;
        memcpy(out + outlen + 1, pkt + p + 1, len);
        outlen += 1 + (size_t)len;
        p += 1 + (size_t)len;
        if (len == 0)
            break;
    }
    *pos = jumped ? end : p;
    return (int)outlen;
}

size_t dns_name_len(const uint8_t *name)
{
    const uint8_t *p = name;
    while (*p)
        p += *p + 1;
    return (size_t)(p - name) + 1;
}

unsigned dns_name_labels(const uint8_t *name)
{
    unsigned n = 0;
    while (*name) {
        name += *name + 1;
        n++;
    }
    return n;
}

void dns_name_lower(uint8_t *dst, const uint8_t *src, size_t len)
{
    /* Length bytes are < 64, so lower-casing them as if letters is harmless. */
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, src + i, 8);
        x = dns_lower8(x);
        memcpy(dst + i, &x, 8);
    }
    for (; i < len; i++)
        dst[i] = dns_lower(src[i]);
}

bool dns_name_equal(const uint8_t *a, const uint8_t *b)
{
    for (;;) {
        if (*a != *b)
            return false;
        uint8_t len = *a;
        if (len == 0)
            return true;
        for (unsigned i = 1; i <= len; i++)
            if (dns_lower(a[i]) != dns_lower(b[i]))
                return false;
        a += len + 1;
        b += len + 1;
    }
}

bool dns_name_is_subdomain(const uint8_t *name, const uint8_t *ancestor)
{
    unsigned nl = dns_name_labels(name), al = dns_name_labels(ancestor);
    if (nl < al)
        return false;
    for (unsigned i = 0; i < nl - al; i++)
        name += *name + 1;
    return dns_name_equal(name, ancestor);
}

unsigned dns_name_label_offsets(const uint8_t *name, uint8_t offsets[DNS_LABELS_MAX])
{
    unsigned n = 0;
    size_t off = 0;
    for (;;) {
        offsets[n++] = (uint8_t)off;
        if (name[off] == 0)
            return n;
        off += name[off] + 1u;
    }
}

void dns_name_to_text(const uint8_t *name, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    if (*name == 0) {
        snprintf(out, outlen, ".");
        return;
    }
    while (*name && o + 1 < outlen) {
        uint8_t len = *name++;
        for (unsigned i = 0; i < len && o + 1 < outlen; i++) {
            uint8_t c = *name++;
            int n;
            if (c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' ||
                c == '@' || c == '$')
                n = snprintf(out + o, outlen - o, "\\%c", c);
            else if (c <= 0x20 || c >= 0x7f)
                n = snprintf(out + o, outlen - o, "\\%03u", c);
            else
                n = snprintf(out + o, outlen - o, "%c", c);
            if (n < 0 || (size_t)n >= outlen - o) {
                out[o] = 0;
                return;
            }
            o += (size_t)n;
        }
        if (o + 1 < outlen)
            out[o++] = '.';
    }
    out[o] = 0;
}

size_t dns_name_wire_len(const uint8_t *p, size_t max)
{
    size_t pos = 0;
    while (pos < max && p[pos] != 0) {
        if (p[pos] > DNS_LABEL_MAX)
            return 0;
        pos += (size_t)p[pos] + 1;
    }
    return pos < max && pos < DNS_NAME_MAX ? pos + 1 : 0;
}
