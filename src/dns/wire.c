#include "config.h"

#include "dns/wire.h"

#include <string.h>

int dns_client_subnet_parse(const uint8_t *data, size_t len, dns_client_subnet_t *out)
{
    if (len < 4)
        return -1;
    uint16_t family = dns_get16(data);
    uint8_t source = data[2], scope = data[3];
    unsigned maxbits;
    if (family == 1)
        maxbits = 32;
    else if (family == 2)
        maxbits = 128;
    else
        return -1;
    if (source > maxbits || scope > maxbits)
        return -1;
    size_t addrlen = (source + 7u) / 8u;
    /* RFC 7871 6: ADDRESS is exactly as long as SOURCE PREFIX-LENGTH needs. */
    if (len - 4 != addrlen)
        return -1;
    memset(out, 0, sizeof(*out));
    out->family = family;
    out->source_prefix = source;
    out->scope_prefix = scope;
    for (size_t i = 0; i < addrlen; i++) /* a few bytes: cheaper than a memcpy call */
        out->addr[i] = data[4 + i];
    /* Bits past the prefix must be zero. */
    if (source % 8) {
        uint8_t mask = (uint8_t)(0xFFu >> (source % 8));
        if (out->addr[addrlen - 1] & mask)
            return -1;
    }
    return 0;
}

/* Reads the OPT record's RDATA (its options). */
static enum dns_parse_status parse_opt(const uint8_t *rdata, size_t rdlen, dns_query_t *q)
{
    size_t p = 0;
    while (p < rdlen) {
        if (rdlen - p < 4)
            return DNS_PARSE_FORMERR;
        uint16_t code = dns_get16(rdata + p), olen = dns_get16(rdata + p + 2);
        p += 4;
        if (olen > rdlen - p)
            return DNS_PARSE_FORMERR;
        const uint8_t *data = rdata + p;
        switch (code) {
        case DNS_EDNS_NSID:
            q->nsid = true; /* a query's NSID option should be empty; ignore any payload */
            break;
        case DNS_EDNS_CLIENT_SUBNET:
            if (q->ecs || dns_client_subnet_parse(data, olen, &q->client_subnet) < 0)
                return DNS_PARSE_FORMERR;
            q->ecs = true;
            break;
        case DNS_EDNS_COOKIE:
            /* RFC 7873: a client cookie is 8 bytes, a server cookie 8..32 more. */
            if (olen != 8 && (olen < 16 || olen > 40))
                return DNS_PARSE_FORMERR;
            q->cookie = true;
            q->cookie_len = (uint8_t)olen;
            memcpy(q->cookie_data, data, olen);
            break;
        default:
            break; /* unknown options are ignored (RFC 6891 6.1.2) */
        }
        p += olen;
    }
    return DNS_PARSE_OK;
}

/* Reads the question name at *pos: copies it as sent and lower-cased, and
 * notes where each label starts. A name without compression pointers (any
 * sane query) is read in one pass over its labels; one with pointers goes
 * through dns_name_unpack(). Returns the name's length, or -1. */
static int parse_qname(const uint8_t *pkt, size_t len, size_t *pos, dns_query_t *q)
{
    size_t start = *pos, p = start;
    unsigned n = 0;
    int nlen;
    for (;;) {
        if (p >= len)
            return -1;
        uint8_t l = pkt[p];
        if (l > DNS_LABEL_MAX)
            goto general; /* a pointer, or a label type dns_name_unpack refuses */
        if (p - start + 1u + l > DNS_NAME_MAX)
            return -1;
        q->qname_offs[n++] = (uint8_t)(p - start);
        p += 1u + l;
        if (l == 0)
            break;
    }
    nlen = (int)(p - start);
    /* Copied and lower-cased a word at a time where the packet has a whole
     * word (the name's type and class follow it); the arrays have room for
     * the bytes a last word writes past the name. */
    size_t i = 0;
    for (; i < (size_t)nlen && start + i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, pkt + start + i, 8);
        memcpy(q->qname + i, &x, 8);
        x = dns_lower8(x);
        memcpy(q->qname_lc + i, &x, 8);
    }
    for (; i < (size_t)nlen; i++) {
        q->qname[i] = pkt[start + i];
        q->qname_lc[i] = dns_lower(pkt[start + i]);
    }
    *pos = p;
    q->qname_labels = (uint8_t)(n - 1);
    return nlen;
general:
    nlen = dns_name_unpack(pkt, len, pos, q->qname);
    if (nlen < 0)
        return -1;
    n = dns_name_label_offsets(q->qname, q->qname_offs);
    q->qname_labels = (uint8_t)(n - 1);
    dns_name_lower(q->qname_lc, q->qname, (size_t)nlen);
    return nlen;
}

enum dns_parse_status dns_query_parse(const uint8_t *pkt, size_t len, dns_query_t *q)
{
    if (len < DNS_HEADER_SIZE)
        return DNS_PARSE_DROP;
    q->id = dns_get16(pkt);
    q->flags = dns_get16(pkt + 2);
    if (q->flags & DNS_FLAG_QR)
        return DNS_PARSE_DROP;
    q->opcode = (uint8_t)((q->flags >> 11) & 0xF);
    q->has_question = false;
    q->edns = false;
    q->nsid = false;
    q->ecs = false;
    q->cookie = false;

    uint16_t qdcount = dns_get16(pkt + 4), ancount = dns_get16(pkt + 6),
             nscount = dns_get16(pkt + 8), arcount = dns_get16(pkt + 10);
    size_t pos = DNS_HEADER_SIZE;

    if (qdcount >= 1) {
        int n = parse_qname(pkt, len, &pos, q);
        if (n > 0 && len - pos >= 4) {
            q->qname_len = (uint8_t)n;
            q->qtype = dns_get16(pkt + pos);
            q->qclass = dns_get16(pkt + pos + 2);
            pos += 4;
            q->has_question = true;
        }
    }
    if (q->opcode != DNS_OPCODE_QUERY)
        return DNS_PARSE_NOTIMP;
    if (qdcount != 1 || !q->has_question) {
        q->has_question = q->has_question && qdcount == 1;
        return DNS_PARSE_FORMERR;
    }

    /* Walk every record after the question; only OPT matters, but counts
     * that claim more records than the packet holds are a format error. */
    uint32_t records = (uint32_t)ancount + nscount + arcount;
    uint8_t scratch[DNS_NAME_MAX];
    for (uint32_t i = 0; i < records; i++) {
        int n;
        if (pos < len && pkt[pos] == 0) { /* the root, as every OPT is owned */
            n = 1;
            pos++;
        } else {
            n = dns_name_unpack(pkt, len, &pos, scratch);
        }
        if (n < 0 || len - pos < 10)
            return DNS_PARSE_FORMERR;
        uint16_t type = dns_get16(pkt + pos);
        uint16_t rclass = dns_get16(pkt + pos + 2);
        uint32_t ttl = dns_get32(pkt + pos + 4);
        uint16_t rdlen = dns_get16(pkt + pos + 8);
        pos += 10;
        if (rdlen > len - pos)
            return DNS_PARSE_FORMERR;
        if (type == DNS_TYPE_OPT) {
            /* RFC 6891 6.1.1: one OPT, in the additional section, owned by root. */
            if (q->edns || i < (uint32_t)ancount + nscount || n != 1)
                return DNS_PARSE_FORMERR;
            q->edns = true;
            q->edns_udp_size = rclass < 512 ? 512 : rclass;
            q->edns_version = (uint8_t)(ttl >> 16);
            q->edns_flags = (uint16_t)ttl;
            enum dns_parse_status st = parse_opt(pkt + pos, rdlen, q);
            if (st != DNS_PARSE_OK)
                return st;
        }
        pos += rdlen;
    }
    if (q->edns && q->edns_version > 0)
        return DNS_PARSE_BADVERS;
    return DNS_PARSE_OK;
}

/* ------------------------------------------------------------------ writer */

/* Does the (possibly compressed) name at packet offset off equal the
 * uncompressed name suffix? Both are valid: the packet part was written by
 * us. */
static bool writer_match(const uint8_t *buf, size_t off, const uint8_t *name)
{
    for (;;) {
        uint8_t l = buf[off];
        while ((l & 0xC0) == 0xC0) {
            off = (size_t)(l & 0x3F) << 8 | buf[off + 1];
            l = buf[off];
        }
        if (l != *name)
            return false;
        if (l == 0)
            return true;
        if (!dns_bytes_equal(buf + off + 1, name + 1, l)) {
            for (unsigned i = 1; i <= l; i++)
                if (dns_lower(buf[off + i]) != dns_lower(name[i]))
                    return false;
        }
        off += l + 1u;
        name += l + 1u;
    }
}

/* Lets later names point into the question (written by dns_writer_start). */
static void writer_offer_question(dns_writer_t *w)
{
    const dns_query_t *q = w->question;
    w->question = NULL;
    for (unsigned i = 0; i < q->qname_labels && w->ncomp < DNS_COMP_MAX; i++) {
        w->comp_labels[w->ncomp] = (uint8_t)(q->qname_labels - i);
        w->comp[w->ncomp++] = (uint16_t)(DNS_HEADER_SIZE + q->qname_offs[i]);
    }
}

static int writer_name(dns_writer_t *w, const uint8_t *name, bool compress)
{
    if (w->question)
        writer_offer_question(w);
    uint8_t offs[DNS_LABELS_MAX];
    unsigned n = dns_name_label_offsets(name, offs); /* includes the root */
    unsigned labels = n - 1;
    unsigned match_label = labels; /* first label covered by a pointer; labels = none */
    uint16_t match_off = 0;

    if (compress) {
        for (unsigned i = 0; i < labels && match_label == labels; i++) {
            for (unsigned c = 0; c < w->ncomp; c++) {
                if (w->comp_labels[c] == labels - i &&
                    writer_match(w->buf, w->comp[c], name + offs[i])) {
                    match_label = i;
                    match_off = w->comp[c];
                    break;
                }
            }
        }
    }
    size_t literal = offs[match_label];
    size_t need = literal + (match_label < labels ? 2 : 1);
    if (w->len + need > w->cap)
        return -1;
    size_t start = w->len;
    memcpy(w->buf + start, name, literal);
    if (match_label < labels)
        dns_put16(w->buf + start + literal, (uint16_t)(0xC000u | match_off));
    else
        w->buf[start + literal] = 0;
    /* Remember the new labels as places later names may point to. */
    for (unsigned i = 0; i < match_label && w->ncomp < DNS_COMP_MAX; i++) {
        size_t at = start + offs[i];
        if (at >= 0x4000)
            break;
        w->comp_labels[w->ncomp] = (uint8_t)(labels - i);
        w->comp[w->ncomp++] = (uint16_t)at;
    }
    w->len += need;
    return 0;
}

int dns_writer_name(dns_writer_t *w, const uint8_t *name) { return writer_name(w, name, true); }

int dns_writer_name_nocompress(dns_writer_t *w, const uint8_t *name)
{
    return writer_name(w, name, false);
}

int dns_writer_bytes(dns_writer_t *w, const void *data, size_t n)
{
    if (w->len + n > w->cap)
        return -1;
    memcpy(w->buf + w->len, data, n);
    w->len += n;
    return 0;
}

void dns_writer_start(dns_writer_t *w, uint8_t *buf, size_t cap, const dns_query_t *q)
{
    w->buf = buf;
    w->cap = cap;
    w->ncomp = 0;
    dns_put16(buf, q->id);
    uint16_t flags = (uint16_t)(DNS_FLAG_QR | (q->flags & (0x7800u | DNS_FLAG_RD | DNS_FLAG_CD)));
    dns_put16(buf + 2, flags);
    memset(buf + 4, 0, 8);
    w->len = DNS_HEADER_SIZE;
    w->question = w->query = NULL;
    if (q->has_question) {
        dns_put16(buf + 4, 1);
        memcpy(buf + DNS_HEADER_SIZE, q->qname, q->qname_len);
        w->len += q->qname_len;
        dns_put16(buf + w->len, q->qtype);
        dns_put16(buf + w->len + 2, q->qclass);
        w->len += 4;
        w->question = w->query = q;
    }
}
