/*
 * dns wire: parsing a query and writing a response.
 *
 * dns_query_parse() reads everything the answer needs from a received
 * packet into a dns_query_t on the caller's stack: header, the one question
 * (name kept in the case it was sent, plus a lower-cased copy), and the
 * EDNS OPT record with the options we act on (NSID, client subnet, cookie),
 * and a TSIG record (RFC 8945) as it stands, for the guard that checks it.
 * It never reads past len and allocates nothing. dns_query_parse_common()
 * reads the shape nearly every query has, inline, for the answer path's
 * fused fast path.
 *
 * dns_writer_t builds a response in a caller-provided buffer: names are
 * compressed against every name already written, records that do not fit
 * are refused whole so the caller can set TC at an RRset boundary.
 */
#ifndef MERIDIAN_DNS_WIRE_H
#define MERIDIAN_DNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>

#include "dns/name.h"

#define DNS_HEADER_SIZE 12

enum {
    DNS_TYPE_A = 1, DNS_TYPE_NS = 2, DNS_TYPE_CNAME = 5, DNS_TYPE_SOA = 6, DNS_TYPE_PTR = 12,
    DNS_TYPE_MX = 15, DNS_TYPE_TXT = 16, DNS_TYPE_AAAA = 28, DNS_TYPE_SRV = 33,
    DNS_TYPE_NAPTR = 35, DNS_TYPE_DNAME = 39, DNS_TYPE_OPT = 41, DNS_TYPE_DS = 43,
    DNS_TYPE_RRSIG = 46, DNS_TYPE_NSEC = 47, DNS_TYPE_DNSKEY = 48, DNS_TYPE_SVCB = 64,
    DNS_TYPE_HTTPS = 65, DNS_TYPE_IXFR = 251, DNS_TYPE_AXFR = 252, DNS_TYPE_MAILB = 253,
    DNS_TYPE_TSIG = 250,
    DNS_TYPE_MAILA = 254, DNS_TYPE_ANY = 255,
};
enum { DNS_CLASS_IN = 1, DNS_CLASS_CH = 3, DNS_CLASS_NONE = 254, DNS_CLASS_ANY = 255 };
enum {
    DNS_RCODE_NOERROR = 0, DNS_RCODE_FORMERR = 1, DNS_RCODE_SERVFAIL = 2,
    DNS_RCODE_NXDOMAIN = 3, DNS_RCODE_NOTIMP = 4, DNS_RCODE_REFUSED = 5,
    DNS_RCODE_YXDOMAIN = 6, DNS_RCODE_NOTAUTH = 9, DNS_RCODE_BADVERS = 16,
};
/* TSIG errors (RFC 8945 4.2), in the record's Error field. */
enum { DNS_TSIG_BADSIG = 16, DNS_TSIG_BADKEY = 17, DNS_TSIG_BADTIME = 18 };
enum { DNS_OPCODE_QUERY = 0 };
enum {
    DNS_EDNS_NSID = 3, DNS_EDNS_CLIENT_SUBNET = 8, DNS_EDNS_COOKIE = 10,
    DNS_EDNS_EXTENDED_ERROR = 15,
};
/* Extended DNS Error INFO-CODEs (RFC 8914 4) that we send. */
enum {
    DNS_EDE_PROHIBITED = 18, DNS_EDE_NOT_AUTHORITATIVE = 20, DNS_EDE_NOT_SUPPORTED = 21,
};

/* Header flag bits in the 16-bit flags word. */
#define DNS_FLAG_QR 0x8000u
#define DNS_FLAG_AA 0x0400u
#define DNS_FLAG_TC 0x0200u
#define DNS_FLAG_RD 0x0100u
#define DNS_FLAG_RA 0x0080u
#define DNS_FLAG_CD 0x0010u
#define DNS_EDNS_DO 0x8000u

/* What to do with a packet after parsing it. */
enum dns_parse_status {
    DNS_PARSE_OK = 0,
    DNS_PARSE_DROP,     /* not a query we answer at all (short, QR=1) */
    DNS_PARSE_FORMERR,  /* answer FORMERR */
    DNS_PARSE_NOTIMP,   /* opcode we do not implement */
    DNS_PARSE_BADVERS,  /* EDNS version > 0 */
};

/* A request's TSIG record (RFC 8945 4.2), as sent: what checking it (and
 * signing the answer) needs. The names are uncompressed, in the case sent;
 * mac and other point into the packet, valid as long as it is. */
typedef struct dns_tsig {
    size_t offset;          /* where the record starts: the MAC covers the packet
                               before it (with ARCOUNT one less) */
    uint8_t key_name_len;
    uint8_t algorithm_len;
    uint16_t fudge;         /* seconds either side of time_signed */
    uint16_t mac_size;
    uint16_t original_id;
    uint16_t error;
    uint16_t other_len;
    uint64_t time_signed;   /* 48 bits: seconds since the epoch */
    const uint8_t *mac;
    const uint8_t *other;
    uint8_t key_name[DNS_NAME_MAX];
    uint8_t algorithm[DNS_NAME_MAX];
} dns_tsig_t;

/* The fudge we put in the TSIG records we write: the 300 s RFC 8945 10
 * recommends (Knot and BIND send theirs, not the client's). */
#define DNS_TSIG_FUDGE 300

typedef struct dns_client_subnet {
    uint16_t family;        /* 1 = IPv4, 2 = IPv6 */
    uint8_t source_prefix;
    uint8_t scope_prefix;   /* as sent; must be 0 in queries */
    uint8_t addr[16];       /* zero-filled past the prefix */
} dns_client_subnet_t;

typedef struct dns_query {
    uint16_t id;
    uint16_t flags;   /* as received */
    uint8_t opcode;
    /* Set by every parse, side by side so that clearing them is one store. */
    bool has_question;
    bool edns;
    bool nsid;        /* NSID requested */
    bool ecs;         /* client subnet option present and valid */
    bool cookie;
    bool tsig;        /* a TSIG record, well formed and last: in tsig_rr */
    /* The question name as sent (case kept: in qname_buf, or where
     * dns_query_parse_to() was told) and lower-cased; both have room for
     * 8-byte loads and stores past the name. */
    uint8_t qname_len;
    uint8_t qname_labels;                /* labels, the root excluded */
    uint16_t qtype;
    uint16_t qclass;
    uint8_t *qname;
    uint8_t qname_lc[DNS_NAME_MAX + 8];
    uint8_t qname_offs[DNS_LABELS_MAX];  /* where each label starts; [labels] = the root */
    uint32_t qname_hash;                 /* dns_name_hash() of qname_lc */
    /* EDNS (RFC 6891) */
    uint8_t edns_version;
    uint16_t edns_udp_size;
    uint16_t edns_flags;  /* DO (RFC 3225) and the Z bits, as sent */
    dns_client_subnet_t client_subnet;
    uint8_t cookie_len;
    uint8_t cookie_data[40];
    uint8_t qname_buf[DNS_NAME_MAX + 8];
    dns_tsig_t tsig_rr;
} dns_query_t;

/* Parses a received packet. On any status but DNS_PARSE_DROP, q->id, flags,
 * opcode are set, has_question says whether the question could be read
 * (so it can be echoed in an error response), and edns whether the query
 * had one sound OPT record, read into q (so that the error response
 * carries ours, RFC 6891 7): the records are read for any opcode whose
 * packet reads as RFC 1035 sections, and after any error that leaves the
 * records' framing intact. A TSIG record that is not the last one of the
 * additional section, or cannot be read, is a format error (RFC 8945
 * 5.1). */
enum dns_parse_status dns_query_parse(const uint8_t *pkt, size_t len, dns_query_t *q);

/* The same, with the question name as sent written to name (room for
 * DNS_NAME_MAX + 8 bytes, not inside pkt): a response buffer's offset
 * DNS_HEADER_SIZE, where dns_writer_start() then finds it in place. */
enum dns_parse_status dns_query_parse_to(const uint8_t *pkt, size_t len, dns_query_t *q,
                                         uint8_t *name);

/* Reads the TSIG record that starts (with its owner, the key name) at
 * offset at of pkt (len bytes) into t: CLASS ANY, TTL 0, RDATA exactly as
 * long as its fields (RFC 8945 4.2). Returns 0, or -1 when it is not such
 * a record. */
int dns_tsig_parse(const uint8_t *pkt, size_t len, size_t at, dns_tsig_t *t);

/* (dns_client_subnet_parse() and dns_query_parse_common(), inline, are
 * below the byte helpers they use.) */

/* ------------------------------------------------------------------ writer */

#define DNS_COMP_MAX 64

typedef struct dns_writer {
    uint8_t *buf;
    size_t cap;   /* the answer may not grow past this */
    size_t len;
    /* The question is written at once but offered to compression only when
     * a name is first compressed: most answers never need it. */
    const dns_query_t *question; /* not offered yet, or NULL */
    const dns_query_t *query;    /* the question written, or NULL */
    unsigned ncomp;
    uint16_t comp[DNS_COMP_MAX];       /* offsets of names (and suffixes) written */
    uint8_t comp_labels[DNS_COMP_MAX]; /* labels from there to the root: only a
                                          suffix with as many can match */
} dns_writer_t;

/* Big-endian (network order) fields at any alignment. */
static inline void dns_put16(uint8_t *p, uint16_t v)
{
    v = htons(v);
    memcpy(p, &v, 2);
}
static inline void dns_put32(uint8_t *p, uint32_t v)
{
    v = htonl(v);
    memcpy(p, &v, 4);
}
static inline uint16_t dns_get16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return ntohs(v);
}
static inline uint32_t dns_get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ntohl(v);
}

/* Copies n bytes; a short copy (most records are a few words) inline,
 * touching no byte outside either range. */
static inline __attribute__((always_inline)) void
dns_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
    if (n > 64) {
        memcpy(dst, src, n);
    } else if (n >= 8) {
        uint64_t x;
        for (size_t i = 0; i + 8 <= n; i += 8) {
            memcpy(&x, src + i, 8);
            memcpy(dst + i, &x, 8);
        }
        memcpy(&x, src + n - 8, 8); /* the last word, overlapping */
        memcpy(dst + n - 8, &x, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + n - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + n - 4, &b, 4);
    } else if (n > 0) {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

/* Validates an EDNS client subnet option body (RFC 7871 section 6) into
 * out. Returns 0 or -1 when malformed. Inline: a query's one option. */
static inline __attribute__((always_inline)) int
dns_client_subnet_parse(const uint8_t *data, size_t len, dns_client_subnet_t *out)
{
    if (len < 4)
        return -1;
    unsigned family = dns_get16(data), source = data[2], scope = data[3];
    unsigned maxbits = family == 1 ? 32 : family == 2 ? 128 : 0;
    size_t addrlen = (source + 7u) / 8u;
    /* RFC 7871 6: ADDRESS is exactly as long as SOURCE PREFIX-LENGTH needs. */
    if (source > maxbits || scope > maxbits || len - 4 != addrlen || maxbits == 0)
        return -1;
    uint64_t zero = 0;
    memcpy(out->addr, &zero, 8);
    memcpy(out->addr + 8, &zero, 8);
    if (addrlen)
        dns_copy(out->addr, data + 4, addrlen);
    /* Bits past the prefix must be zero. */
    if (source % 8 && (out->addr[addrlen - 1] & (0xFFu >> (source % 8))))
        return -1;
    out->family = (uint16_t)family;
    out->source_prefix = (uint8_t)source;
    out->scope_prefix = (uint8_t)scope;
    return 0;
}

/* Reads the fixed part of an OPT record (rr: right after its owner) into
 * q: the sender's UDP size (512 at least, RFC 6891 6.2.3), version, flags. */
static inline void dns_edns_read(const uint8_t *rr, dns_query_t *q)
{
    uint16_t size = dns_get16(rr + 2);
    q->edns = true;
    q->edns_udp_size = size < 512 ? 512 : size;
    q->edns_version = rr[5];
    q->edns_flags = dns_get16(rr + 6);
}

/* Is the OPT RDATA at p (rdlen bytes, at least one) a single client subnet
 * option, as resolvers send? */
static inline bool dns_opt_lone_subnet(const uint8_t *p, uint16_t rdlen)
{
    return rdlen >= 4 && dns_get16(p) == DNS_EDNS_CLIENT_SUBNET && dns_get16(p + 2) == rdlen - 4u;
}

/* dns_query_parse_to() for the shape of nearly every query, inline so that
 * the answer path can fuse it with its own work: opcode QUERY with QR, AA
 * and TC clear, one question whose name has no pointer, no answer or
 * authority record, and no additional one but an EDNS version 0 OPT owned
 * by the root with no option or one valid client subnet. It fills q as
 * dns_query_parse_to() would, but for qname_lc, which it leaves unset:
 * lookups and answers can read the name as sent, in any case, from name
 * (zone_index_find_any_case(), dns_words_equal_lower()). It returns true;
 * for any other packet it returns false, having written only to q and
 * name (the caller then calls dns_query_parse_to(), which reads every
 * shape). */
static inline __attribute__((always_inline)) bool
dns_query_parse_common(const uint8_t *pkt, size_t len, dns_query_t *q, uint8_t *name)
{
    if (len < DNS_HEADER_SIZE + 5 || (pkt[2] & 0xFE) != 0) /* QR, opcode, AA, TC */
        return false;
    /* QDCOUNT 1, ANCOUNT and NSCOUNT 0, ARCOUNT 0 or 1, in one word. */
    uint64_t counts;
    memcpy(&counts, pkt + 4, 8);
    counts = be64toh(counts);
    if ((counts | 1) != 0x0001000000000001u)
        return false;
    const uint8_t *qn = pkt + DNS_HEADER_SIZE;
    size_t avail = len - DNS_HEADER_SIZE;
    unsigned labels;
    int o = dns_name_scan(qn, avail < DNS_NAME_MAX ? avail : DNS_NAME_MAX, q->qname_offs,
                          &labels);
    if (o <= 0 || avail - (size_t)o < 4)
        return false;
    size_t pos = DNS_HEADER_SIZE + (size_t)o + 4;
    const uint8_t *rr = pkt + pos + 1;
    q->has_question = true;
    q->edns = q->nsid = q->ecs = q->cookie = q->tsig = false;
    if (counts & 1) {
        if (len - pos < 11 || pkt[pos] != 0 || dns_get16(rr) != DNS_TYPE_OPT)
            return false;
        uint16_t rdlen = dns_get16(rr + 8);
        if (rdlen > len - pos - 11 || rr[5] != 0) /* FORMERR, BADVERS */
            return false;
        if (rdlen) {
            if (!dns_opt_lone_subnet(rr + 10, rdlen) ||
                dns_client_subnet_parse(rr + 14, rdlen - 4u, &q->client_subnet) < 0)
                return false;
            q->ecs = true;
        }
        dns_edns_read(rr, q);
    }
    q->id = dns_get16(pkt);
    q->flags = dns_get16(pkt + 2);
    q->opcode = DNS_OPCODE_QUERY;
    q->qname = name;
    q->qname_len = (uint8_t)o;
    q->qname_labels = (uint8_t)labels;
    q->qtype = dns_get16(qn + o);
    q->qclass = dns_get16(qn + o + 2);
    q->qname_hash = dns_name_copy_hash(name, qn, (size_t)o, avail);
    return true;
}

/* Returns 0 or -1 when n bytes do not fit. */
static inline int dns_writer_bytes(dns_writer_t *w, const void *data, size_t n)
{
    if (w->len + n > w->cap)
        return -1;
    dns_copy(w->buf + w->len, data, n);
    w->len += n;
    return 0;
}

/* (dns_writer_start() is below the byte helpers it uses.) */

/* Writes a name with compression against earlier names. Returns 0 or -1
 * when it does not fit (w->len unchanged). */
int dns_writer_name(dns_writer_t *w, const uint8_t *name);

/* Same, without compressing this name (RDATA of types where RFC 3597 forbids
 * it) but remembering it so later names can point into it. */
int dns_writer_name_nocompress(dns_writer_t *w, const uint8_t *name);

/* The size of the unsigned TSIG record dns_writer_tsig_unsigned() writes
 * for the request's t. */
static inline size_t dns_tsig_unsigned_size(const dns_tsig_t *t)
{
    return t->key_name_len + 10u + t->algorithm_len + 16u;
}

/* Writes the unsigned TSIG record (MAC size 0) of an answer whose request
 * had t and failed its key or MAC check (RFC 8945 5.3.2): the request's key
 * name, algorithm and time signed, our fudge, the answer's id as original
 * id, error, no other data; counted in the additional section, where it
 * must be the last record. Returns 0, or -1 when it does not fit (w->len
 * unchanged). */
int dns_writer_tsig_unsigned(dns_writer_t *w, const dns_tsig_t *t, uint16_t id, uint16_t error);


/* Takes the writer back to an earlier length and number of compression
 * targets (saved from w->len and w->ncomp), forgetting what came after. */
static inline void dns_writer_rewind(dns_writer_t *w, size_t len, unsigned ncomp)
{
    w->len = len;
    w->ncomp = ncomp;
    if (ncomp == 0)
        w->question = w->query; /* offered again with the next name */
}

/* The header flags of an answer to q: QR, and opcode, RD and CD copied. */
static inline uint16_t dns_answer_flags(const dns_query_t *q)
{
    return (uint16_t)(DNS_FLAG_QR | (q->flags & (0x7800u | DNS_FLAG_RD | DNS_FLAG_CD)));
}

/* Starts a response: the header (id, QR, opcode, RD and CD copied from q,
 * all counts 0) and, when q has a question, the question as received.
 * Whatever cap says, buf must have room for DNS_HEADER_SIZE + DNS_NAME_MAX
 * + 8 bytes: the name is copied a word at a time. */
static inline __attribute__((always_inline)) void
dns_writer_start(dns_writer_t *w, uint8_t *buf, size_t cap, const dns_query_t *q)
{
    w->buf = buf;
    w->cap = cap;
    w->ncomp = 0;
    w->question = w->query = NULL;
    dns_put16(buf, q->id);
    dns_put16(buf + 2, dns_answer_flags(q));
    memset(buf + 4, 0, 8);
    w->len = DNS_HEADER_SIZE;
    if (!q->has_question)
        return;
    buf[5] = 1;
    unsigned n = q->qname_len; /* buf may alias q as far as C knows: read once */
    if (q->qname != buf + DNS_HEADER_SIZE) /* else parsed in place */
        for (unsigned i = 0; i < n; i += 8)
            memcpy(buf + DNS_HEADER_SIZE + i, q->qname + i, 8);
    uint8_t *p = buf + DNS_HEADER_SIZE + n;
    dns_put16(p, q->qtype);
    dns_put16(p + 2, q->qclass);
    w->len = DNS_HEADER_SIZE + n + 4u;
    w->question = w->query = q;
}

static inline void dns_writer_set_rcode(dns_writer_t *w, unsigned rcode)
{
    w->buf[3] = (uint8_t)((w->buf[3] & 0xF0) | (rcode & 0x0F));
}
static inline void dns_writer_set_flag(dns_writer_t *w, uint16_t flag)
{
    w->buf[2] |= (uint8_t)(flag >> 8);
    w->buf[3] |= (uint8_t)flag;
}
/* section 0 = answer, 1 = authority, 2 = additional */
static inline void dns_writer_add_count(dns_writer_t *w, int section, uint16_t n)
{
    uint8_t *p = w->buf + 6 + 2 * section;
    dns_put16(p, (uint16_t)(dns_get16(p) + n));
}

#endif
