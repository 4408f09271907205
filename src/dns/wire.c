#include "config.h"

#include "dns/wire.h"

#include <string.h>

/* Reads the OPT record's RDATA (its options), one after the other. */
static __attribute__((noinline)) enum dns_parse_status parse_opt_list(const uint8_t *p,
                                                                      size_t rdlen,
                                                                      dns_query_t *q)
{
    const uint8_t *end = p + rdlen;
    while (p < end) {
        if (end - p < 4)
            return DNS_PARSE_FORMERR;
        unsigned code = dns_get16(p), olen = dns_get16(p + 2);
        p += 4;
        if (olen > (size_t)(end - p))
            return DNS_PARSE_FORMERR;
        if (code == DNS_EDNS_CLIENT_SUBNET) {
            if (q->ecs || dns_client_subnet_parse(p, olen, &q->client_subnet) < 0)
                return DNS_PARSE_FORMERR;
            q->ecs = true;
        } else if (code == DNS_EDNS_NSID) {
            q->nsid = true; /* a query's NSID option should be empty; ignore any payload */
        } else if (code == DNS_EDNS_COOKIE) {
            /* RFC 7873: a client cookie is 8 bytes, a server cookie 8..32 more. */
            if (olen != 8 && (olen < 16 || olen > 40))
                return DNS_PARSE_FORMERR;
            q->cookie = true;
            q->cookie_len = (uint8_t)olen;
            memcpy(q->cookie_data, p, olen);
        }
        /* unknown options are ignored (RFC 6891 6.1.2) */
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
    const uint8_t *name = pkt + *pos;
    size_t avail = len - *pos;
    unsigned labels;
    int o = dns_name_scan(name, avail < DNS_NAME_MAX ? avail : DNS_NAME_MAX, q->qname_offs,
                          &labels);
    if (o < 0)
        return -1;
    if (o == 0)
        goto general; /* a pointer, or a label type dns_name_unpack refuses */
    *pos += (size_t)o;
    q->qname_labels = (uint8_t)labels;
    q->qname_hash = dns_name_take(q->qname, q->qname_lc, name, (size_t)o, avail);
    return o;
general:;
    size_t at = *pos; /* its address escapes: not that of the caller's */
    int nlen = dns_name_unpack(pkt, len, &at, q->qname);
    if (nlen < 0)
        return -1;
    *pos = at;
    q->qname_labels = (uint8_t)(dns_name_label_offsets(q->qname, q->qname_offs) - 1);
    dns_name_lower(q->qname_lc, q->qname, (size_t)nlen);
    q->qname_hash = dns_name_hash(q->qname_lc, (size_t)nlen);
    return nlen;
}

/* Reads the OPT record whose fixed part (after the owner) is at rr, its
 * RDATA rdlen bytes after that (RFC 6891 6.1.2). Malformed options leave
 * q->edns false: no OPT is echoed for a record we could not read. */
static inline __attribute__((always_inline)) enum dns_parse_status
parse_edns(const uint8_t *rr, uint16_t rdlen, dns_query_t *q)
{
    dns_edns_read(rr, q);
    if (rdlen == 0)
        return DNS_PARSE_OK;
    /* A resolver's one option, a client subnet, without the loop. */
    const uint8_t *p = rr + 10;
    enum dns_parse_status st = DNS_PARSE_FORMERR;
    if (!dns_opt_lone_subnet(p, rdlen))
        st = parse_opt_list(p, rdlen, q);
    else if (dns_client_subnet_parse(p + 4, rdlen - 4u, &q->client_subnet) == 0)
        st = DNS_PARSE_OK, q->ecs = true;
    if (st != DNS_PARSE_OK)
        q->edns = false;
    return st;
}

int dns_tsig_parse(const uint8_t *pkt, size_t len, size_t at, dns_tsig_t *t)
{
    size_t pos = at;
    int n = dns_name_unpack(pkt, len, &pos, t->key_name);
    if (n < 0 || len - pos < 10)
        return -1;
    const uint8_t *rr = pkt + pos;
    size_t rdlen = dns_get16(rr + 8);
    /* RFC 8945 4.2: CLASS ANY, TTL 0. */
    if (dns_get16(rr + 2) != DNS_CLASS_ANY || dns_get32(rr + 4) != 0 || rdlen > len - pos - 10)
        return -1;
    size_t end = pos + 10 + rdlen;
    pos += 10;
    /* The algorithm name ends inside the RDATA: the packet is cut there. */
    int alen = dns_name_unpack(pkt, end, &pos, t->algorithm);
    if (alen < 0 || end - pos < 10)
        return -1;
    const uint8_t *p = pkt + pos;
    t->time_signed = (uint64_t)dns_get16(p) << 32 | dns_get32(p + 2);
    t->fudge = dns_get16(p + 6);
    t->mac_size = dns_get16(p + 8);
    pos += 10;
    if (end - pos < (size_t)t->mac_size + 6u)
        return -1;
    t->mac = pkt + pos;
    p = t->mac + t->mac_size;
    t->original_id = dns_get16(p);
    t->error = dns_get16(p + 2);
    t->other_len = dns_get16(p + 4);
    pos += t->mac_size + 6u;
    if (end - pos != t->other_len)
        return -1;
    t->other = pkt + pos;
    t->offset = at;
    t->key_name_len = (uint8_t)n;
    t->algorithm_len = (uint8_t)alen;
    return 0;
}

/* Skips the count names with 4 bytes each (questions) at *pos. Returns 0,
 * or -1 when they do not fit the packet. */
static int skip_questions(const uint8_t *pkt, size_t len, size_t *pos, unsigned count)
{
    uint8_t scratch[DNS_NAME_MAX];
    for (unsigned i = 0; i < count; i++) {
        size_t at = *pos;
        if (dns_name_unpack(pkt, len, &at, scratch) < 0 || len - at < 4)
            return -1;
        *pos = at + 4;
    }
    return 0;
}

/* Reads the records after the questions, from pos: the OPT and the TSIG
 * record are kept in q, the others only stepped over. Counts that claim
 * more records than the packet holds are a format error; so is a record
 * in the wrong place, after which the walk goes on (the OPT may be
 * further on, and a sound one is echoed). */
static enum dns_parse_status parse_records(const uint8_t *pkt, size_t len, size_t pos,
                                           dns_query_t *q)
{
    uint16_t ancount = dns_get16(pkt + 6), nscount = dns_get16(pkt + 8),
             arcount = dns_get16(pkt + 10);
    uint32_t additional = (uint32_t)ancount + nscount;
    uint32_t records = additional + arcount;
    enum dns_parse_status st = DNS_PARSE_OK;
    uint8_t scratch[DNS_NAME_MAX];
    for (uint32_t i = 0; i < records; i++) {
        size_t start = pos;
        int n;
        if (pos < len && pkt[pos] == 0) { /* the root, as every OPT is owned */
            n = 1;
            pos++;
        } else {
            size_t at = pos;
            n = dns_name_unpack(pkt, len, &at, scratch);
            pos = at;
        }
        if (n < 0 || len - pos < 10)
            return DNS_PARSE_FORMERR;
        uint16_t type = dns_get16(pkt + pos);
        uint16_t rdlen = dns_get16(pkt + pos + 8);
        if (rdlen > len - pos - 10)
            return DNS_PARSE_FORMERR;
        if (type == DNS_TYPE_OPT) {
            /* RFC 6891 6.1.1: one OPT, in the additional section, owned by
             * the root. With two, neither is echoed. */
            if (q->edns || i < additional || n != 1) {
                q->edns = false;
                return DNS_PARSE_FORMERR;
            }
            if (parse_edns(pkt + pos, rdlen, q) != DNS_PARSE_OK)
                return DNS_PARSE_FORMERR;
        } else if (type == DNS_TYPE_TSIG) {
            /* RFC 8945 5.1: the last record of the additional section. */
            if (i != records - 1 || i < additional ||
                dns_tsig_parse(pkt, len, start, &q->tsig_rr) < 0)
                st = DNS_PARSE_FORMERR;
            else
                q->tsig = true;
        }
        pos += 10u + rdlen;
    }
    return st;
}

enum dns_parse_status dns_query_parse(const uint8_t *pkt, size_t len, dns_query_t *q)
{
    return dns_query_parse_to(pkt, len, q, q->qname_buf);
}

enum dns_parse_status dns_query_parse_to(const uint8_t *pkt, size_t len, dns_query_t *q,
                                         uint8_t *name)
{
    q->qname = name;
    if (len < DNS_HEADER_SIZE)
        return DNS_PARSE_DROP;
    uint16_t flags = dns_get16(pkt + 2);
    q->id = dns_get16(pkt);
    q->flags = flags;
    if (flags & DNS_FLAG_QR)
        return DNS_PARSE_DROP;
    unsigned opcode = (flags >> 11) & 0xF;
    q->opcode = (uint8_t)opcode;
    q->has_question = q->edns = q->nsid = q->ecs = q->cookie = q->tsig = false;

    /* The counts are read where they are needed: fewer values live across
     * the name's loops. */
    size_t pos = DNS_HEADER_SIZE;
    bool question = false;
    if (dns_get16(pkt + 4) >= 1) {
        int n = parse_qname(pkt, len, &pos, q);
        if (n > 0 && len - pos >= 4) {
            q->qname_len = (uint8_t)n;
            q->qtype = dns_get16(pkt + pos);
            q->qclass = dns_get16(pkt + pos + 2);
            pos += 4;
            q->has_question = question = true;
        }
    }
    enum dns_parse_status st = DNS_PARSE_OK;
    unsigned qdcount = dns_get16(pkt + 4);
    if (opcode != DNS_OPCODE_QUERY) {
        st = DNS_PARSE_NOTIMP;
    } else if (qdcount != 1 || !question) {
        q->has_question = question && qdcount == 1;
        st = DNS_PARSE_FORMERR;
    } else {
        /* Most queries end with one OPT record and nothing else: no answer
         * or authority records (four zero bytes), one additional. */
        uint32_t an_ns;
        memcpy(&an_ns, pkt + 6, 4);
        if (an_ns == 0 && dns_get16(pkt + 10) == 1 && len - pos >= 11 && pkt[pos] == 0 &&
            dns_get16(pkt + pos + 1) == DNS_TYPE_OPT) {
            uint16_t rdlen = dns_get16(pkt + pos + 9);
            if (rdlen > len - pos - 11)
                return DNS_PARSE_FORMERR;
            st = parse_edns(pkt + pos + 1, rdlen, q);
            if (st != DNS_PARSE_OK)
                return st;
            return q->edns_version > 0 ? DNS_PARSE_BADVERS : DNS_PARSE_OK;
        }
    }

    /* The records, for the OPT the answer must echo and the TSIG record,
     * also of an error answer: past every question (a question that could
     * not be read leaves them out of reach). */
    if ((qdcount && !question) || (qdcount > 1 && skip_questions(pkt, len, &pos, qdcount - 1) < 0))
        return st;
    enum dns_parse_status rst = parse_records(pkt, len, pos, q);
    if (st != DNS_PARSE_OK)
        return st;
    if (rst != DNS_PARSE_OK)
        return rst;
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


int dns_writer_tsig_unsigned(dns_writer_t *w, const dns_tsig_t *t, uint16_t id, uint16_t error)
{
    size_t n = dns_tsig_unsigned_size(t);
    if (w->len + n > w->cap)
        return -1;
    /* Neither name is compressed: the MAC (when the later keys sign) is
     * computed over them as they stand. */
    uint8_t *p = w->buf + w->len;
    memcpy(p, t->key_name, t->key_name_len);
    p += t->key_name_len;
    dns_put16(p, DNS_TYPE_TSIG);
    dns_put16(p + 2, DNS_CLASS_ANY);
    dns_put32(p + 4, 0);
    dns_put16(p + 8, (uint16_t)(t->algorithm_len + 16u));
    p += 10;
    memcpy(p, t->algorithm, t->algorithm_len);
    p += t->algorithm_len;
    /* RFC 8945 5.3.2: an unsigned error answer; Time Signed is the
     * request's, as Knot and NSD send it (no clock read per query). */
    dns_put16(p, (uint16_t)(t->time_signed >> 32));
    dns_put32(p + 2, (uint32_t)t->time_signed);
    dns_put16(p + 6, DNS_TSIG_FUDGE);
    dns_put16(p + 8, 0); /* MAC size */
    dns_put16(p + 10, id);
    dns_put16(p + 12, error);
    dns_put16(p + 14, 0); /* other len */
    w->len += n;
    dns_writer_add_count(w, 2, 1);
    return 0;
}
