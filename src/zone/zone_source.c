/*
 * zone_source: RFC 1035 master files read into compact wire-form records,
 * then validated.
 *
 * The loader has its own tokenizer instead of ldns_rr_new_frm_fp_l(): it
 * must know where every record starts (for file:line), it must see the
 * directives ldns does not implement ($INCLUDE, $GENERATE), and it must get
 * at quoted strings before ldns refuses those longer than 255 bytes.
 *
 * Each record goes straight into the source's store as owner and RDATA in
 * wire form. Names and addresses, most of any zone, are converted here;
 * other simple fields go through ldns_rdf_new_frm_str() one at a time, and
 * only records of another shape are turned back into one line of
 * presentation text with a dummy owner and numeric type for
 * ldns_rr_new_frm_str(), which knows every type's syntax. No ldns object
 * outlives the record it was made for.
 *
 * Validation sorts one compact key per record (lower-cased owner, type,
 * file order) once, so that duplicates, RRsets, CNAME conflicts and glue
 * lookups are all scans or binary searches: a million-record zone must not
 * cost O(n^2). The sorted order is kept for zone_db_build().
 */
#include "config.h"

#include "zone/zone_source.h"

#include "dns/name.h"
#include "util/file.h"
#include "util/mem.h"
#include "zone/svcb.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ldns/ldns.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_TTL_RFC2181 2147483647u /* RFC 2181 section 8 */
#define TXT_STRING_MAX 255
#define NAME_WIRE_MAX 255
#define RDATA_MAX 65535

/* zone_record_t.flags while loading; cleared before the source is
 * returned. */
enum {
    REC_TTL_PENDING = 1, /* no TTL and no $TTL yet: the SOA minimum decides */
    REC_REMOVED = 2,     /* a duplicate, dropped from the result */
    REC_OUTSIDE = 4,     /* owner not at or below the origin */
    REC_CANON = 8,       /* names in the RDATA have capitals: see loader_t.canon */
};

/* A name in wire form, with its length. */
typedef struct wname {
    uint8_t b[NAME_WIRE_MAX];
    size_t len;
} wname_t;

/* ------------------------------------------------------------ helpers */

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        abort(); /* loaders may abort on OOM (STYLE.md) */
    return p;
}

static char *xstrdup(const char *s)
{
    char *c = strdup(s);
    if (!c)
        abort();
    return c;
}

typedef struct strbuf {
    char *s;
    size_t len;
    size_t cap;
} strbuf_t;

static void sb_reserve(strbuf_t *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    b->s = xrealloc(b->s, cap);
    b->cap = cap;
}

static void sb_put(strbuf_t *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_putc(strbuf_t *b, char c) { sb_put(b, &c, 1); }

static void sb_puts(strbuf_t *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_clear(strbuf_t *b)
{
    b->len = 0;
    sb_reserve(b, 0);
    b->s[0] = '\0';
}

static void sb_free(strbuf_t *b)
{
    free(b->s);
    memset(b, 0, sizeof(*b));
}

/* A wire name for messages, written as ldns writes names; never NULL.
 * Caller frees. */
static char *name_str(const uint8_t *name, size_t len)
{
    ldns_rdf *rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, len, name);
    char *s = rdf ? ldns_rdf2str(rdf) : NULL;
    ldns_rdf_deep_free(rdf);
    return s ? s : xstrdup("?");
}

static void type_str(uint16_t type, char *buf, size_t size)
{
    const ldns_rr_descriptor *desc = ldns_rr_descript(type);
    if (desc && desc->_name && desc->_type == type)
        snprintf(buf, size, "%s", desc->_name);
    else
        snprintf(buf, size, "TYPE%u", (unsigned)type);
}

/* Names compare without case; only ASCII letters fold (RFC 4343). */
static void lower_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = src[i];
        dst[i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
    }
}

/* ------------------------------------------------------------ tokenizer */

typedef struct token {
    const char *s; /* NUL-terminated, escapes left as written, no quotes */
    size_t off;    /* into lexed_t.text while lexing */
    size_t len;
    bool quoted;
    bool glued; /* no blank between it and the token before: alpn="h2,h3" */
} token_t;

/* One logical record: the tokens of one line, or of several joined by
 * parentheses. */
typedef struct lexed {
    strbuf_t text;
    token_t *tok;
    size_t ntok;
    size_t cap;
    unsigned line;    /* where the record starts */
    bool blank_owner; /* the line starts with a blank: previous owner */
    bool bad;         /* a lexical error was reported: skip the record */
} lexed_t;

typedef struct file_ctx {
    const char *name; /* points into zone_source_t.files */
    uint16_t file;    /* its index there */
    wname_t origin;   /* $ORIGIN changes it for this file only */
    wname_t prev_owner; /* len 0 until the first owner */
    const char *p;
    const char *end;
    unsigned line;
    unsigned depth; /* 0 for the zone file, +1 per $INCLUDE */
} file_ctx_t;

/* Where the lower-cased RDATA of a REC_CANON record is. */
typedef struct canon_ref {
    uint32_t idx; /* into src->records; ascending */
    uint32_t off; /* into loader_t.canon */
} canon_ref_t;

typedef struct loader {
    diag_t *d;
    zone_source_t *src;
    unsigned flags;
    bool too_big; /* the store is full: reported once */
    /* RDATA whose names have capitals, lower-cased for validation: rare,
     * so kept apart rather than doubling every record. */
    strbuf_t canon;
    canon_ref_t *canon_refs;
    size_t n_canon, cap_canon;
    uint8_t rdata[RDATA_MAX + 1]; /* the record being built */
    bool have_default_ttl;
    uint32_t default_ttl;
    char *stack[ZONE_SOURCE_MAX_INCLUDE_DEPTH + 1]; /* real paths being read */
    unsigned depth;
    strbuf_t rr_text; /* the presentation line handed to ldns */
} loader_t;

static void lex_begin_token(lexed_t *r, bool quoted, bool glued)
{
    if (r->ntok == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->tok = xrealloc(r->tok, r->cap * sizeof(*r->tok));
    }
    token_t *t = &r->tok[r->ntok++];
    t->s = NULL;
    t->off = r->text.len;
    t->len = 0;
    t->quoted = quoted;
    t->glued = glued;
}

static void lex_end_token(lexed_t *r)
{
    token_t *t = &r->tok[r->ntok - 1];
    t->len = r->text.len - t->off;
    sb_putc(&r->text, '\0'); /* each token is its own C string */
}

static void lex_error(loader_t *ld, file_ctx_t *fc, lexed_t *r, unsigned line, const char *msg)
{
    if (!r->bad)
        diag_error(ld->d, fc->name, line, 0, "%s", msg);
    r->bad = true;
}

/* A backslash escape, kept as written: ldns and the TXT splitter decode it.
 * Returns false (p unchanged) when there is nothing to escape, the end of a
 * line included, CRLF or not. */
static bool lex_escape(file_ctx_t *fc, lexed_t *r)
{
    const char *next = fc->p + 1;
    if (next >= fc->end || *next == '\n' || *next == '\0' ||
        (*next == '\r' && (next + 1 == fc->end || next[1] == '\n')))
        return false;
    sb_put(&r->text, fc->p, 2);
    fc->p += 2;
    return true;
}

/* The bytes that end a run of ordinary characters in lex_plain(). */
static const bool lex_special[256] = {
    ['\0'] = true, [' '] = true, ['\t'] = true, ['\r'] = true, ['\n'] = true, [';'] = true,
    ['('] = true,  [')'] = true, ['"'] = true,  ['\\'] = true,
};

static void lex_plain(loader_t *ld, file_ctx_t *fc, lexed_t *r, bool glued)
{
    lex_begin_token(r, false, glued);
    while (fc->p < fc->end) {
        char c = *fc->p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '(' ||
            c == ')' || c == '"')
            break;
        if (c == '\\') {
            if (!lex_escape(fc, r)) {
                lex_error(ld, fc, r, fc->line, "backslash at the end of a line");
                fc->p++;
                break;
            }
            continue;
        }
        if (c == '\0') {
            lex_error(ld, fc, r, fc->line, "NUL character in the input");
            fc->p++;
            continue;
        }
        /* Copy the run of ordinary characters at once: this is the loop
         * every byte of a big zone goes through. */
        const char *run = fc->p;
        while (fc->p < fc->end && !lex_special[(unsigned char)*fc->p])
            fc->p++;
        sb_put(&r->text, run, (size_t)(fc->p - run));
    }
    lex_end_token(r);
}

static void lex_quoted(loader_t *ld, file_ctx_t *fc, lexed_t *r, bool glued)
{
    unsigned start = fc->line;
    fc->p++; /* the opening quote */
    lex_begin_token(r, true, glued);
    for (;;) {
        if (fc->p >= fc->end || *fc->p == '\n') {
            /* The newline is left for the caller: it may end the record. */
            lex_error(ld, fc, r, start, "unterminated quoted string");
            break;
        }
        char c = *fc->p;
        if (c == '"') {
            fc->p++;
            break;
        }
        if (c == '\\') {
            if (!lex_escape(fc, r)) {
                lex_error(ld, fc, r, fc->line, "backslash at the end of a line");
                fc->p++;
            }
            continue;
        }
        if (c == '\0')
            lex_error(ld, fc, r, fc->line, "NUL character in the input");
        else
            sb_putc(&r->text, c);
        fc->p++;
    }
    lex_end_token(r);
}

/* Reads the next record with at least one token (or a bad one, with its
 * error reported). Returns false at the end of the input. */
static bool lex_record(loader_t *ld, file_ctx_t *fc, lexed_t *r)
{
    for (;;) {
        r->text.len = 0;
        r->ntok = 0;
        r->bad = false;
        r->line = fc->line;
        if (fc->p >= fc->end)
            return false;
        r->blank_owner = (*fc->p == ' ' || *fc->p == '\t');

        unsigned depth = 0, paren_line = 0;
        const char *token_end = NULL; /* where the last token ended */
        while (fc->p < fc->end) {
            char c = *fc->p;
            if (c == '\n') {
                fc->p++;
                fc->line++;
                if (depth == 0)
                    break;
            } else if (c == ' ' || c == '\t' || c == '\r') {
                fc->p++;
            } else if (c == ';') {
                while (fc->p < fc->end && *fc->p != '\n')
                    fc->p++;
            } else if (c == '(') {
                if (depth++ == 0)
                    paren_line = fc->line;
                fc->p++;
            } else if (c == ')') {
                if (depth == 0)
                    lex_error(ld, fc, r, fc->line, "')' without '('");
                else
                    depth--;
                fc->p++;
            } else {
                if (r->ntok == 0)
                    r->line = fc->line;
                bool glued = r->ntok > 0 && token_end == fc->p;
                if (c == '"')
                    lex_quoted(ld, fc, r, glued);
                else
                    lex_plain(ld, fc, r, glued);
                token_end = fc->p;
            }
        }
        if (depth > 0)
            lex_error(ld, fc, r, paren_line, "'(' without ')'");
        if (r->ntok == 0 && !r->bad)
            continue; /* blank or comment-only line */
        for (size_t i = 0; i < r->ntok; i++)
            r->tok[i].s = r->text.s + r->tok[i].off;
        return true;
    }
}

/* ------------------------------------------------------------ fields */

/* BIND's TTL syntax: seconds, or numbers with units (1w2d3h4m5s). */
static bool parse_ttl(const char *s, uint32_t *out)
{
    uint64_t total = 0;
    if (!*s)
        return false;
    while (*s) {
        if (!isdigit((unsigned char)*s))
            return false;
        uint64_t n = 0;
        while (isdigit((unsigned char)*s)) {
            n = n * 10 + (uint64_t)(*s++ - '0');
            if (n > UINT32_MAX)
                return false;
        }
        uint64_t unit = 1;
        if (*s) {
            switch (tolower((unsigned char)*s)) {
            case 's': unit = 1; break;
            case 'm': unit = 60; break;
            case 'h': unit = 3600; break;
            case 'd': unit = 86400; break;
            case 'w': unit = 604800; break;
            default: return false;
            }
            s++;
        }
        total += n * unit;
        if (total > UINT32_MAX)
            return false;
    }
    *out = (uint32_t)total;
    return true;
}

static bool parse_ttl_checked(loader_t *ld, file_ctx_t *fc, unsigned line, const char *s,
                              uint32_t *out)
{
    if (!parse_ttl(s, out)) {
        diag_error(ld->d, fc->name, line, 0, "invalid TTL '%s'", s);
        return false;
    }
    if (*out > MAX_TTL_RFC2181) {
        /* What BIND does: RFC 2181 makes such a TTL mean zero. */
        diag_warn(ld->d, fc->name, line, 0, "TTL %" PRIu32 " is above %u (RFC 2181), using 0",
                  *out, MAX_TTL_RFC2181);
        *out = 0;
    }
    return true;
}

static bool parse_uint(const char *s, size_t len, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > max)
            return false;
    }
    *out = (uint32_t)v;
    return true;
}

/* Returns the class, or 0 when s is not a class name. */
static unsigned parse_class(const char *s)
{
    if (!strchr("ICHNAichna", s[0]) || s[0] == '\0')
        return 0; /* most tokens here are types: no need to try every class */
    static const struct {
        const char *name;
        unsigned value;
    } classes[] = {{"IN", 1}, {"CS", 2}, {"CH", 3}, {"HS", 4}, {"NONE", 254}, {"ANY", 255}};
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
        if (strcasecmp(s, classes[i].name) == 0)
            return classes[i].value;
    uint32_t v;
    if (strncasecmp(s, "CLASS", 5) == 0 && parse_uint(s + 5, strlen(s + 5), 65535, &v))
        return v;
    return 0;
}

/* Returns the type, or 0 when s is no type. */
static uint16_t parse_type(const char *s)
{
    uint32_t v;
    if (strncasecmp(s, "TYPE", 4) == 0 && isdigit((unsigned char)s[4]))
        return parse_uint(s + 4, strlen(s + 4), 65535, &v) ? (uint16_t)v : 0;
    /* ldns tries every type name in turn: the usual ones first. */
    static const struct {
        const char *name;
        uint16_t type;
    } common[] = {{"A", LDNS_RR_TYPE_A},         {"AAAA", LDNS_RR_TYPE_AAAA},
                  {"CNAME", LDNS_RR_TYPE_CNAME}, {"MX", LDNS_RR_TYPE_MX},
                  {"TXT", LDNS_RR_TYPE_TXT},     {"NS", LDNS_RR_TYPE_NS},
                  {"PTR", LDNS_RR_TYPE_PTR},     {"SRV", LDNS_RR_TYPE_SRV}};
    for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
        if (strcasecmp(s, common[i].name) == 0)
            return common[i].type;
    return (uint16_t)ldns_get_rr_type_by_name(s);
}

/* A name without escapes, as ldns_str2rdf_dname() reads one: labels of at
 * most 63 octets, none empty, at most 255 octets in all; "." is the root.
 * Returns false when invalid; *absolute says whether it ends in a dot. */
static bool plain_name(const char *s, wname_t *out, bool *absolute)
{
    if (s[0] == '.' && s[1] == '\0') {
        out->b[0] = 0;
        out->len = 1;
        *absolute = true;
        return true;
    }
    size_t len = 0;
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t label = dot ? (size_t)(dot - p) : strlen(p);
        if (!dot && label == 0 && p != s) {
            *absolute = true;
            break;
        }
        if (label == 0 || label > 63 || len + label + 2 > NAME_WIRE_MAX)
            return false;
        out->b[len] = (uint8_t)label;
        memcpy(out->b + len + 1, p, label);
        len += label + 1;
        if (!dot) {
            *absolute = false;
            break;
        }
        p = dot + 1;
    }
    out->b[len++] = 0;
    out->len = len;
    return true;
}

/* "@" is the origin; a name without a final unescaped dot is relative to
 * it. False when invalid, including longer than 255 octets, which
 * ldns_dname_cat() does not check. Names with escapes are left to ldns. */
static bool resolve_name(const char *s, const wname_t *origin, wname_t *out)
{
    if (strcmp(s, "@") == 0) {
        *out = *origin;
        return true;
    }
    bool absolute;
    if (s[0] && !strchr(s, '\\')) {
        if (!plain_name(s, out, &absolute))
            return false;
    } else {
        ldns_rdf *name = ldns_dname_new_frm_str(s);
        if (!name)
            return false;
        absolute = ldns_dname_str_absolute(s);
        size_t len = ldns_rdf_size(name);
        if (len <= NAME_WIRE_MAX)
            memcpy(out->b, ldns_rdf_data(name), len);
        ldns_rdf_deep_free(name);
        if (len > NAME_WIRE_MAX)
            return false;
        out->len = len;
    }
    if (!absolute) {
        if (out->len - 1 + origin->len > NAME_WIRE_MAX)
            return false;
        memcpy(out->b + out->len - 1, origin->b, origin->len);
        out->len += origin->len - 1;
    }
    return true;
}

/* The part of the record between owner and rdata. */
typedef struct rr_head {
    uint32_t ttl;
    bool has_ttl;
    uint16_t type;
} rr_head_t;

/* Reads [ttl] [class] type, ttl and class in either order, from t[*i]. */
static bool parse_head(loader_t *ld, file_ctx_t *fc, unsigned line, const token_t *t, size_t n,
                       size_t *i, rr_head_t *h)
{
    bool has_class = false;
    h->has_ttl = false;
    h->ttl = 0;
    while (*i < n && !t[*i].quoted) {
        const char *s = t[*i].s;
        if (!h->has_ttl && isdigit((unsigned char)s[0])) {
            if (!parse_ttl_checked(ld, fc, line, s, &h->ttl))
                return false;
            h->has_ttl = true;
        } else if (!has_class && parse_class(s)) {
            if (parse_class(s) != LDNS_RR_CLASS_IN) {
                diag_error(ld->d, fc->name, line, 0, "class %s is not supported, only IN", s);
                return false;
            }
            has_class = true;
        } else {
            break;
        }
        (*i)++;
    }
    if (*i >= n) {
        diag_error(ld->d, fc->name, line, 0, "missing RR type");
        return false;
    }
    h->type = t[*i].quoted ? 0 : parse_type(t[*i].s);
    if (h->type == 0) {
        diag_error(ld->d, fc->name, line, 0, "unknown RR type '%s'", t[*i].s);
        return false;
    }
    /* OPT and the query-only types (RFC 6895: 128-255) have no place in a
     * zone. */
    if (h->type == LDNS_RR_TYPE_OPT || (h->type >= 128 && h->type <= 255)) {
        diag_error(ld->d, fc->name, line, 0, "%s is a meta type, not allowed in a zone",
                   t[*i].s);
        return false;
    }
    (*i)++;
    return true;
}

/* ------------------------------------------------------------ long TXT */

/* The next byte of a presentation string (\X and \DDD decoded), or -1 when
 * the escape is invalid: then the token is left for ldns to judge. */
static int next_byte(const char *s, size_t len, size_t *pos)
{
    unsigned char c = (unsigned char)s[*pos];
    if (c != '\\') {
        (*pos)++;
        return c;
    }
    if (*pos + 1 >= len)
        return -1;
    if (isdigit((unsigned char)s[*pos + 1])) {
        if (*pos + 3 >= len || !isdigit((unsigned char)s[*pos + 2]) ||
            !isdigit((unsigned char)s[*pos + 3]))
            return -1;
        int v = (s[*pos + 1] - '0') * 100 + (s[*pos + 2] - '0') * 10 + (s[*pos + 3] - '0');
        if (v > 255)
            return -1;
        *pos += 4;
        return v;
    }
    *pos += 2;
    return (unsigned char)s[*pos - 1];
}

static void put_byte_quoted(strbuf_t *b, int c)
{
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
        sb_putc(b, (char)c);
    } else {
        char esc[5];
        snprintf(esc, sizeof(esc), "\\%03d", c);
        sb_puts(b, esc);
    }
}

/* Writes a character-string longer than 255 bytes as consecutive strings of
 * at most 255 bytes, as BIND does. Returns false (nothing written) when the
 * token fits or has a bad escape. */
static bool put_split_string(strbuf_t *b, const token_t *t)
{
    size_t pos = 0, bytes = 0;
    while (pos < t->len) {
        if (next_byte(t->s, t->len, &pos) < 0)
            return false;
        bytes++;
    }
    if (bytes <= TXT_STRING_MAX)
        return false;
    pos = 0;
    for (size_t done = 0; done < bytes;) {
        if (done > 0)
            sb_putc(b, ' ');
        sb_putc(b, '"');
        for (size_t n = 0; n < TXT_STRING_MAX && done < bytes; n++, done++)
            put_byte_quoted(b, next_byte(t->s, t->len, &pos));
        sb_putc(b, '"');
    }
    return true;
}

static void put_rdata(strbuf_t *b, uint16_t type, const token_t *t, size_t n)
{
    bool generic = n > 0 && !t[0].quoted && strcmp(t[0].s, "\\#") == 0;
    bool split = (type == LDNS_RR_TYPE_TXT || type == LDNS_RR_TYPE_SPF) && !generic;
    for (size_t i = 0; i < n; i++) {
        sb_putc(b, ' ');
        if (split && put_split_string(b, &t[i]))
            continue;
        if (t[i].quoted)
            sb_putc(b, '"');
        sb_put(b, t[i].s, t[i].len);
        if (t[i].quoted)
            sb_putc(b, '"');
    }
}

/* ------------------------------------------------------------ records */

/* Room for n bytes in the store, none of them across a chunk; NULL when
 * the store is full. */
static uint8_t *store_alloc(zone_source_t *src, size_t n, uint32_t *off)
{
    if (src->n_chunks == 0 || ZONE_SOURCE_CHUNK_SIZE - src->chunk_used < n) {
        if (src->n_chunks == ZONE_SOURCE_MAX_CHUNKS)
            return NULL;
        src->chunks = xrealloc(src->chunks, (src->n_chunks + 1) * sizeof(*src->chunks));
        src->chunks[src->n_chunks++] = xrealloc(NULL, ZONE_SOURCE_CHUNK_SIZE);
        src->chunk_used = 0;
    }
    uint8_t *p = src->chunks[src->n_chunks - 1] + src->chunk_used;
    *off = (uint32_t)((src->n_chunks - 1) << ZONE_SOURCE_CHUNK_BITS | src->chunk_used);
    src->chunk_used += n;
    return p;
}

/* Appends a record; false when the store is full. A record with the owner
 * of the one before it shares its bytes. */
static bool store_record(zone_source_t *src, const uint8_t *owner, size_t owner_len,
                         uint16_t type, uint32_t ttl, const uint8_t *rdata, size_t rdlen,
                         uint16_t file, unsigned line, uint8_t flags)
{
    zone_record_t r = {.ttl = ttl, .line = line, .type = type, .rdlen = (uint16_t)rdlen,
                       .file = file, .owner_len = (uint8_t)owner_len, .flags = flags};
    const zone_record_t *prev = src->count ? &src->records[src->count - 1] : NULL;
    bool same_owner = prev && prev->owner_len == owner_len &&
                      memcmp(zone_record_owner(src, prev), owner, owner_len) == 0;
    uint8_t *p = store_alloc(src, rdlen + (same_owner ? 0 : owner_len), &r.rdata);
    if (!p)
        return false;
    if (same_owner) {
        r.owner = prev->owner;
    } else {
        memcpy(p, owner, owner_len);
        r.owner = r.rdata;
        r.rdata += (uint32_t)owner_len;
        p += owner_len;
    }
    mem_copy(p, rdata, rdlen); /* zone_source_add() may pass NULL, 0 */
    if (src->count == src->cap) {
        src->cap = src->cap ? src->cap * 2 : 64;
        src->records = xrealloc(src->records, src->cap * sizeof(*src->records));
    }
    src->records[src->count++] = r;
    return true;
}

/* Lower-cases the names at [name offsets) of an RDATA into loader_t.canon
 * when any has a capital, and says so in the record's flags. */
static uint8_t canon_rdata(loader_t *ld, const uint8_t *rdata, size_t rdlen,
                           const uint16_t *names, size_t n_names)
{
    bool capital = false;
    for (size_t i = 0; i < n_names && !capital; i++)
        for (size_t k = names[i]; k < rdlen && rdata[k]; k += (size_t)rdata[k] + 1)
            for (size_t c = 1; c <= rdata[k] && k + c < rdlen && !capital; c++)
                capital = rdata[k + c] >= 'A' && rdata[k + c] <= 'Z';
    if (!capital)
        return 0;
    if (ld->n_canon == ld->cap_canon) {
        ld->cap_canon = ld->cap_canon ? ld->cap_canon * 2 : 16;
        ld->canon_refs = xrealloc(ld->canon_refs, ld->cap_canon * sizeof(*ld->canon_refs));
    }
    ld->canon_refs[ld->n_canon++] = (canon_ref_t){.idx = (uint32_t)ld->src->count,
                                                  .off = (uint32_t)ld->canon.len};
    size_t start = ld->canon.len;
    sb_put(&ld->canon, (const char *)rdata, rdlen);
    uint8_t *copy = (uint8_t *)ld->canon.s + start;
    for (size_t i = 0; i < n_names; i++)
        for (size_t k = names[i]; k < rdlen && copy[k]; k += (size_t)copy[k] + 1)
            lower_copy(copy + k + 1, copy + k + 1,
                       k + 1 + copy[k] <= rdlen ? copy[k] : rdlen - k - 1);
    return REC_CANON;
}

/* The SvcParams of an SVCB or HTTPS record: "key", "key=value" or
 * key="value" (the quoted value a token glued to "key="), each read by
 * svcb.c. Returns the RDATA length (priority, target, params) or -1
 * having reported why. */
static long svcb_rdata(loader_t *ld, file_ctx_t *fc, unsigned line, const char *tname,
                       const token_t *rd, size_t nrd, uint16_t *names, size_t *n_names)
{
    char why[192];
    uint32_t prio;
    wname_t target;
    if (nrd < 2 || rd[0].quoted || rd[1].quoted || !parse_uint(rd[0].s, rd[0].len, 65535, &prio) ||
        !resolve_name(rd[1].s, &fc->origin, &target)) {
        diag_error(ld->d, fc->name, line, 0,
                   "invalid %s record: expected priority (0-65535), target name, SvcParams",
                   tname);
        return -1;
    }
    ld->rdata[0] = (uint8_t)(prio >> 8);
    ld->rdata[1] = (uint8_t)prio;
    memcpy(ld->rdata + 2, target.b, target.len);
    names[0] = 2;
    *n_names = 1;
    size_t len = 2 + target.len, n = 0;
    zone_svcb_param_t *params = xrealloc(NULL, (nrd - 2 ? nrd - 2 : 1) * sizeof(*params));
    for (size_t i = 2; i < nrd; i++) {
        const token_t *t = &rd[i];
        /* "alpn=h2", the whole param quoted, is read as NSD reads it */
        const char *eq = memchr(t->s, '=', t->len);
        zone_svcb_param_t *p = &params[n++];
        if (t->glued || (eq && eq == t->s) || (t->quoted && !eq)) {
            snprintf(why, sizeof(why), "SvcParam %s%s%s does not start with a key",
                     t->quoted ? "\"" : "", t->s, t->quoted ? "\"" : "");
            goto fail;
        }
        *p = (zone_svcb_param_t){.key = t->s, .key_len = eq ? (size_t)(eq - t->s) : t->len};
        if (eq) {
            p->value = eq + 1;
            p->value_len = t->len - p->key_len - 1;
        }
        /* key="value": the quoted token right after "key=" is the value */
        if (i + 1 < nrd && rd[i + 1].glued) {
            if (!eq || p->value_len > 0 || t->quoted || !rd[i + 1].quoted ||
                (i + 2 < nrd && rd[i + 2].glued)) {
                snprintf(why, sizeof(why), "SvcParam %.*s: text glued to it (key=value or "
                         "key=\"value\")", (int)p->key_len, p->key);
                goto fail;
            }
            i++;
            p->value = rd[i].s;
            p->value_len = rd[i].len;
        }
    }
    long w = zone_svcb_params(params, n, ld->rdata + len, RDATA_MAX - len, why, sizeof(why));
    if (w < 0)
        goto fail;
    free(params);
    return (long)len + w;
fail:
    diag_error(ld->d, fc->name, line, 0, "invalid %s record: %s", tname, why);
    free(params);
    return -1;
}

/* Most names in RDATA: at most this many per record are tracked for
 * lower-casing (types have at most a few). */
#define RDATA_NAMES_MAX 64

/* Records whose every rdata field is one token of a simple kind (A, AAAA,
 * NS, CNAME, PTR, MX, SRV, SOA, TXT, NAPTR...) are built field by field
 * right into ld->rdata: addresses and names here, numbers and strings by
 * ldns_rdf_new_frm_str(), just as ldns_rr_new_frm_str() does inside, but
 * without it: that one allocates and frees some 200 KB per call, and with a
 * heap that keeps growing under it glibc hands that memory back to the
 * kernel and faults it in again for every record. Returns the RDATA length,
 * or -1 when the record is of another shape or a field does not parse;
 * ldns_rr_new_frm_str() then decides and says why. names gets the offsets
 * of the names in the RDATA. */
static long fast_rdata(loader_t *ld, const rr_head_t *h, const token_t *rd, size_t nrd,
                       const wname_t *origin, uint16_t *names, size_t *n_names)
{
    const ldns_rr_descriptor *desc = ldns_rr_descript(h->type);
    if (!desc || desc->_type != h->type || nrd < desc->_minimum ||
        (nrd > desc->_maximum && desc->_variable == LDNS_RDF_TYPE_NONE))
        return -1;
    for (size_t f = 0; f < nrd; f++) {
        ldns_rdf_type ft = ldns_rr_descriptor_field_type(desc, f);
        switch (ft) {
        case LDNS_RDF_TYPE_A:
        case LDNS_RDF_TYPE_AAAA:
        case LDNS_RDF_TYPE_DNAME:
        case LDNS_RDF_TYPE_INT8:
        case LDNS_RDF_TYPE_INT16:
        case LDNS_RDF_TYPE_INT32:
        case LDNS_RDF_TYPE_PERIOD:
        case LDNS_RDF_TYPE_STR:
            break;
        default:
            return -1;
        }
        if ((rd[f].quoted && ft != LDNS_RDF_TYPE_STR) || (!rd[f].quoted && rd[f].s[0] == '\\'))
            return -1; /* \# (RFC 3597) is ldns's job */
    }
    uint8_t *out = ld->rdata;
    size_t len = 0;
    *n_names = 0;
    for (size_t f = 0; f < nrd; f++) {
        ldns_rdf_type ft = ldns_rr_descriptor_field_type(desc, f);
        if (ft == LDNS_RDF_TYPE_A || ft == LDNS_RDF_TYPE_AAAA) {
            size_t n = ft == LDNS_RDF_TYPE_A ? 4 : 16;
            if (len + n > RDATA_MAX ||
                inet_pton(ft == LDNS_RDF_TYPE_A ? AF_INET : AF_INET6, rd[f].s, out + len) != 1)
                return -1;
            len += n;
        } else if (ft == LDNS_RDF_TYPE_DNAME) {
            wname_t name;
            if (*n_names == RDATA_NAMES_MAX || !resolve_name(rd[f].s, origin, &name) ||
                len + name.len > RDATA_MAX)
                return -1;
            names[(*n_names)++] = (uint16_t)len;
            memcpy(out + len, name.b, name.len);
            len += name.len;
        } else {
            /* A string over 255 bytes fails here and is split on the way to
             * ldns_rr_new_frm_str(). */
            ldns_rdf *rdf = ldns_rdf_new_frm_str(ft, rd[f].s);
            bool fits = rdf && len + ldns_rdf_size(rdf) <= RDATA_MAX;
            if (fits) {
                memcpy(out + len, ldns_rdf_data(rdf), ldns_rdf_size(rdf));
                len += ldns_rdf_size(rdf);
            }
            ldns_rdf_deep_free(rdf);
            if (!fits)
                return -1;
        }
    }
    return (long)len;
}

/* The record's RDATA through ldns_rr_new_frm_str(), checked as the fast
 * path cannot: names, length, SVCB rules. Returns the length or -1 having
 * reported why. */
static long slow_rdata(loader_t *ld, file_ctx_t *fc, unsigned line, const rr_head_t *h,
                       const token_t *rd, size_t nrd, uint16_t *names, size_t *n_names)
{
    char tname[32];
    type_str(h->type, tname, sizeof(tname));
    /* ldns 1.8 leaks the field it parsed when it refuses CERT type 0
     * (reserved, RFC 4398 2.1): refused here, before ldns sees it. */
    if (h->type == LDNS_RR_TYPE_CERT && nrd > 0 && !rd[0].quoted &&
        strspn(rd[0].s, "0") == rd[0].len && rd[0].len > 0) {
        diag_error(ld->d, fc->name, line, 0,
                   "invalid CERT record: certificate type 0 is reserved (RFC 4398)");
        return -1;
    }
    /* The owner is not ours: "." keeps ldns from reading the real one,
     * which may come from the previous record or a $GENERATE. */
    strbuf_t *b = &ld->rr_text;
    sb_clear(b);
    char head[32];
    snprintf(head, sizeof(head), ". 0 IN TYPE%u", (unsigned)h->type);
    sb_puts(b, head);
    put_rdata(b, h->type, rd, nrd);
    ldns_rdf *origin = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, fc->origin.len, fc->origin.b);
    if (!origin)
        abort();
    ldns_rr *rr = NULL;
    ldns_status st = ldns_rr_new_frm_str(&rr, b->s, 0, origin, NULL);
    ldns_rdf_deep_free(origin);
    if (st != LDNS_STATUS_OK || !rr) {
        diag_error(ld->d, fc->name, line, 0, "invalid %s record: %s", tname,
                   ldns_get_errorstr_by_id(st));
        ldns_rr_free(rr);
        return -1;
    }
    size_t len = 0;
    for (size_t f = 0; f < ldns_rr_rd_count(rr); f++) {
        const ldns_rdf *rdf = ldns_rr_rdf(rr, f);
        len += ldns_rdf_size(rdf);
        /* A relative name plus the origin may pass 255 octets unchecked. */
        if (ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_DNAME && ldns_rdf_size(rdf) > NAME_WIRE_MAX) {
            diag_error(ld->d, fc->name, line, 0, "invalid %s record: domain name too long",
                       tname);
            goto fail;
        }
    }
    if (len > RDATA_MAX) {
        diag_error(ld->d, fc->name, line, 0, "invalid %s record: rdata longer than %u octets",
                   tname, RDATA_MAX);
        goto fail;
    }
    len = 0;
    *n_names = 0;
    for (size_t f = 0; f < ldns_rr_rd_count(rr); f++) {
        const ldns_rdf *rdf = ldns_rr_rdf(rr, f);
        if (ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_DNAME && *n_names < RDATA_NAMES_MAX)
            names[(*n_names)++] = (uint16_t)len;
        /* an empty field (CAA 0 issue "") has no data at all */
        mem_copy(ld->rdata + len, ldns_rdf_data(rdf), ldns_rdf_size(rdf));
        len += ldns_rdf_size(rdf);
    }
    ldns_rr_free(rr);
    return (long)len;
fail:
    ldns_rr_free(rr);
    return -1;
}

/* Builds one record from its rdata tokens and adds it. */
static void finish_rr(loader_t *ld, file_ctx_t *fc, unsigned line, const wname_t *owner,
                      const rr_head_t *h, const token_t *rd, size_t nrd)
{
    /* ldns accepts a type it has no syntax for with no rdata at all. */
    const ldns_rr_descriptor *desc = ldns_rr_descript(h->type);
    bool known = desc && desc->_type == h->type;
    if (!known && (nrd == 0 || rd[0].quoted || strcmp(rd[0].s, "\\#") != 0)) {
        char tname[32];
        type_str(h->type, tname, sizeof(tname));
        diag_error(ld->d, fc->name, line, 0,
                   "invalid %s record: an unknown type needs RFC 3597 rdata (\\# length hex)",
                   tname);
        return;
    }

    uint16_t names[RDATA_NAMES_MAX];
    size_t n_names = 0;
    long len;
    bool svcb = h->type == LDNS_RR_TYPE_SVCB || h->type == LDNS_RR_TYPE_HTTPS;
    bool generic = nrd > 0 && !rd[0].quoted && strcmp(rd[0].s, "\\#") == 0;
    char tname[32];
    type_str(h->type, tname, sizeof(tname));
    if (svcb && !generic) {
        len = svcb_rdata(ld, fc, line, tname, rd, nrd, names, &n_names);
    } else {
        len = fast_rdata(ld, h, rd, nrd, &fc->origin, names, &n_names);
        if (len < 0)
            len = slow_rdata(ld, fc, line, h, rd, nrd, names, &n_names);
    }
    if (len < 0)
        return;
    if (svcb && generic) {
        /* RFC 3597 form: the same rules as the presentation form */
        char why[192];
        size_t nlen = len >= 2 ? dns_name_wire_len(ld->rdata + 2, (size_t)len - 2) : 0;
        if (nlen == 0) {
            diag_error(ld->d, fc->name, line, 0, "invalid %s record: no valid target name",
                       tname);
            return;
        }
        if (!zone_svcb_check(ld->rdata + 2 + nlen, (size_t)len - 2 - nlen, why, sizeof(why))) {
            diag_error(ld->d, fc->name, line, 0, "invalid %s record: %s", tname, why);
            return;
        }
    }

    uint8_t fl = canon_rdata(ld, ld->rdata, (size_t)len, names, n_names);
    uint32_t ttl = 0;
    if (h->has_ttl)
        ttl = h->ttl;
    else if (ld->have_default_ttl)
        ttl = ld->default_ttl;
    else
        fl |= REC_TTL_PENDING;
    if (!store_record(ld->src, owner->b, owner->len, h->type, ttl, ld->rdata, (size_t)len,
                      fc->file, line, fl)) {
        if (fl & REC_CANON)
            ld->n_canon--;
        if (!ld->too_big)
            diag_error(ld->d, fc->name, line, 0, "the zone is too large: more than %u MiB of "
                       "names and RDATA", ZONE_SOURCE_MAX_CHUNKS);
        ld->too_big = true;
    }
}

static void do_record(loader_t *ld, file_ctx_t *fc, const lexed_t *r)
{
    const token_t *t = r->tok;
    size_t i = 0;
    if (r->blank_owner) {
        if (!fc->prev_owner.len) {
            diag_error(ld->d, fc->name, r->line, 0, "no previous owner name to repeat");
            return;
        }
    } else {
        wname_t owner;
        if (!resolve_name(t[0].s, &fc->origin, &owner)) {
            diag_error(ld->d, fc->name, r->line, 0, "invalid owner name '%s'", t[0].s);
            return;
        }
        fc->prev_owner = owner;
        i = 1;
    }
    rr_head_t h;
    if (!parse_head(ld, fc, r->line, t, r->ntok, &i, &h))
        return;
    finish_rr(ld, fc, r->line, &fc->prev_owner, &h, t + i, r->ntok - i);
}

/* ------------------------------------------------------------ $GENERATE */

/* BIND's nibble format: hex digits lowest first, one per label; width
 * counts the characters written, dots included, and pads with zeros. */
static void put_nibbles(strbuf_t *b, uint32_t v, unsigned width, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        sb_putc(b, digits[v & 0xf]);
        v >>= 4;
        if (width > 0)
            width--;
        if (width > 0 || v != 0) {
            sb_putc(b, '.');
            if (width > 0)
                width--;
        }
    } while (v != 0 || width > 0);
}

/* Replaces $ by the iterator in one token: ${offset[,width[,base]]}
 * formats it, $$ and \$ are a literal dollar. Escapes are copied as they
 * are for ldns to decode. Returns false on a bad modifier. */
static bool generate_subst(strbuf_t *out, const char *in, size_t len, int64_t iter)
{
    size_t i = 0;
    while (i < len) {
        char c = in[i];
        if (c == '\\' && i + 1 < len) {
            sb_put(out, in + i, 2);
            i += 2;
            continue;
        }
        if (c != '$') {
            sb_putc(out, c);
            i++;
            continue;
        }
        if (i + 1 < len && in[i + 1] == '$') {
            sb_putc(out, '$');
            i += 2;
            continue;
        }
        int64_t offset = 0;
        unsigned width = 0;
        char base = 'd';
        i++;
        if (i < len && in[i] == '{') {
            const char *p = in + i + 1, *end = memchr(p, '}', len - i - 1);
            if (!end)
                return false;
            bool neg = false;
            if (p < end && (*p == '-' || *p == '+'))
                neg = *p++ == '-';
            const char *q = p;
            while (q < end && isdigit((unsigned char)*q))
                q++;
            uint32_t v;
            if (!parse_uint(p, (size_t)(q - p), INT32_MAX, &v))
                return false;
            offset = neg ? -(int64_t)v : (int64_t)v;
            if (q < end && *q == ',') {
                p = ++q;
                while (q < end && isdigit((unsigned char)*q))
                    q++;
                if (!parse_uint(p, (size_t)(q - p), 255, &v))
                    return false;
                width = v;
                if (q < end && *q == ',') {
                    q++;
                    if (q + 1 != end || !strchr("doxXnN", *q) || *q == '\0')
                        return false;
                    base = *q++;
                }
            }
            if (q != end)
                return false;
            i = (size_t)(end - in) + 1;
        }
        int64_t value = iter + offset;
        char num[300];
        switch (base) {
        case 'd': snprintf(num, sizeof(num), "%0*" PRId64, (int)width, value); break;
        case 'o': snprintf(num, sizeof(num), "%0*" PRIo32, (int)width, (uint32_t)value); break;
        case 'x': snprintf(num, sizeof(num), "%0*" PRIx32, (int)width, (uint32_t)value); break;
        case 'X': snprintf(num, sizeof(num), "%0*" PRIX32, (int)width, (uint32_t)value); break;
        default: put_nibbles(out, (uint32_t)value, width, base == 'N'); continue;
        }
        sb_puts(out, num);
    }
    return true;
}

/* start-stop[/step] */
static bool parse_range(const char *s, uint32_t *start, uint32_t *stop, uint32_t *step)
{
    const char *dash = strchr(s, '-');
    if (!dash)
        return false;
    const char *slash = strchr(dash, '/');
    size_t stop_len = slash ? (size_t)(slash - dash - 1) : strlen(dash + 1);
    *step = 1;
    if (!parse_uint(s, (size_t)(dash - s), INT32_MAX, start) ||
        !parse_uint(dash + 1, stop_len, INT32_MAX, stop))
        return false;
    if (slash && (!parse_uint(slash + 1, strlen(slash + 1), INT32_MAX, step) || *step == 0))
        return false;
    return *start <= *stop;
}

/* $GENERATE range lhs [ttl] [class] type rhs... */
static void do_generate(loader_t *ld, file_ctx_t *fc, const lexed_t *r)
{
    const token_t *t = r->tok;
    size_t n = r->ntok;
    unsigned line = r->line;
    uint32_t start, stop, step;
    if (n < 5) {
        diag_error(ld->d, fc->name, line, 0,
                   "$GENERATE needs a range, an owner, a type and rdata");
        return;
    }
    if (!parse_range(t[1].s, &start, &stop, &step)) {
        diag_error(ld->d, fc->name, line, 0, "invalid $GENERATE range '%s'", t[1].s);
        return;
    }
    uint64_t count = (uint64_t)(stop - start) / step + 1;
    if (count > ZONE_SOURCE_MAX_GENERATE) {
        diag_error(ld->d, fc->name, line, 0,
                   "$GENERATE would create %" PRIu64 " records, more than %d", count,
                   ZONE_SOURCE_MAX_GENERATE);
        return;
    }
    size_t i = 3;
    rr_head_t h;
    if (!parse_head(ld, fc, line, t, n, &i, &h))
        return;
    if (i >= n) {
        diag_error(ld->d, fc->name, line, 0, "$GENERATE needs rdata");
        return;
    }
    /* BIND takes the rhs as one token, quoted when it holds blanks; a TXT
     * rhs keeps its quotes since they delimit the string. */
    size_t nrd = n - i;
    bool unquote = nrd == 1 && t[i].quoted && h.type != LDNS_RR_TYPE_TXT &&
                   h.type != LDNS_RR_TYPE_SPF;
    token_t *rd = xrealloc(NULL, nrd * sizeof(*rd));
    strbuf_t buf = {0};

    for (uint64_t v = start; v <= stop; v += step) {
        sb_clear(&buf);
        bool ok = generate_subst(&buf, t[2].s, t[2].len, (int64_t)v);
        for (size_t k = 0; ok && k < nrd; k++) {
            sb_putc(&buf, '\0');
            /* every field set: a token the SVCB reader sees whole (glued) */
            rd[k] = (token_t){.off = buf.len,
                              .quoted = t[i + k].quoted && !unquote,
                              .glued = t[i + k].glued};
            ok = generate_subst(&buf, t[i + k].s, t[i + k].len, (int64_t)v);
            rd[k].len = buf.len - rd[k].off;
        }
        if (!ok) {
            diag_error(ld->d, fc->name, line, 0, "invalid $GENERATE modifier");
            break;
        }
        for (size_t k = 0; k < nrd; k++)
            rd[k].s = buf.s + rd[k].off;
        wname_t owner;
        if (!resolve_name(buf.s, &fc->origin, &owner)) {
            diag_error(ld->d, fc->name, line, 0, "$GENERATE: invalid owner name '%s'", buf.s);
            break;
        }
        unsigned errors = ld->d->errors;
        finish_rr(ld, fc, line, &owner, &h, rd, nrd);
        if (ld->d->errors != errors)
            break; /* one message, not one per iteration */
    }
    sb_free(&buf);
    free(rd);
}

/* ------------------------------------------------------------ files */

/* The new file's index in src->files. */
static uint16_t add_file(zone_source_t *src, const char *name)
{
    src->files = xrealloc(src->files, (src->n_files + 1) * sizeof(*src->files));
    src->files[src->n_files] = xstrdup(name);
    return (uint16_t)src->n_files++;
}

/* Decodes \X and \DDD in a file name token. */
static char *unescape(const token_t *t)
{
    char *out = xrealloc(NULL, t->len + 1);
    size_t pos = 0, n = 0;
    while (pos < t->len) {
        int c = next_byte(t->s, t->len, &pos);
        if (c < 0) {
            c = '\\';
            pos++;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return out;
}

static void load_text(loader_t *ld, uint16_t file, const char *text, size_t len,
                      const wname_t *origin, unsigned depth);

/* $INCLUDE file [origin] */
static void do_include(loader_t *ld, file_ctx_t *fc, const lexed_t *r)
{
    const token_t *t = r->tok;
    unsigned line = r->line;
    if (ld->flags & ZONE_SOURCE_NO_INCLUDE) {
        diag_error(ld->d, fc->name, line, 0, "$INCLUDE is not allowed here");
        return;
    }
    if (r->ntok < 2 || r->ntok > 3) {
        diag_error(ld->d, fc->name, line, 0, "$INCLUDE needs a file name and an optional origin");
        return;
    }
    if (fc->depth + 1 > ZONE_SOURCE_MAX_INCLUDE_DEPTH) {
        diag_error(ld->d, fc->name, line, 0, "$INCLUDE nested more than %d deep",
                   ZONE_SOURCE_MAX_INCLUDE_DEPTH);
        return;
    }
    wname_t origin = fc->origin;
    if (r->ntok == 3 && !resolve_name(t[2].s, &fc->origin, &origin)) {
        diag_error(ld->d, fc->name, line, 0, "invalid $INCLUDE origin '%s'", t[2].s);
        return;
    }
    char *file = unescape(&t[1]);
    char *path;
    const char *slash = strrchr(fc->name, '/');
    if (file[0] == '/' || !slash) {
        path = xstrdup(file);
    } else {
        size_t dirlen = (size_t)(slash - fc->name) + 1;
        path = xrealloc(NULL, dirlen + strlen(file) + 1);
        memcpy(path, fc->name, dirlen);
        strcpy(path + dirlen, file);
    }
    char *real = realpath(path, NULL);
    const char *why = NULL;
    char *text = NULL;
    size_t len = 0;
    for (unsigned k = 0; real && k < ld->depth; k++) {
        if (ld->stack[k] && strcmp(ld->stack[k], real) == 0) {
            diag_error(ld->d, fc->name, line, 0, "$INCLUDE loop: %s is already being read",
                       path);
            goto done;
        }
    }
    if (ld->src->n_files >= ZONE_SOURCE_MAX_FILES) {
        diag_error(ld->d, fc->name, line, 0, "$INCLUDE: more than %d files in one zone",
                   ZONE_SOURCE_MAX_FILES);
        goto done;
    }
    text = file_read_all(path, ZONE_SOURCE_MAX_FILE_SIZE, &len, &why);
    if (!text) {
        diag_error(ld->d, fc->name, line, 0, "cannot open %s: %s", path, why);
        goto done;
    }
    uint16_t index = add_file(ld->src, path);
    ld->stack[ld->depth++] = real;
    real = NULL;
    load_text(ld, index, text, len, &origin, fc->depth + 1);
    free(ld->stack[--ld->depth]);
done:
    free(text);
    free(real);
    free(path);
    free(file);
}

static void do_directive(loader_t *ld, file_ctx_t *fc, const lexed_t *r)
{
    const token_t *t = r->tok;
    const char *dir = t[0].s;
    if (strcasecmp(dir, "$ORIGIN") == 0) {
        if (r->ntok != 2) {
            diag_error(ld->d, fc->name, r->line, 0, "$ORIGIN needs one domain name");
            return;
        }
        wname_t origin;
        if (!resolve_name(t[1].s, &fc->origin, &origin)) {
            diag_error(ld->d, fc->name, r->line, 0, "invalid $ORIGIN '%s'", t[1].s);
            return;
        }
        fc->origin = origin;
    } else if (strcasecmp(dir, "$TTL") == 0) {
        uint32_t ttl;
        if (r->ntok != 2) {
            diag_error(ld->d, fc->name, r->line, 0, "$TTL needs one TTL");
            return;
        }
        if (parse_ttl_checked(ld, fc, r->line, t[1].s, &ttl)) {
            ld->default_ttl = ttl;
            ld->have_default_ttl = true;
        }
    } else if (strcasecmp(dir, "$INCLUDE") == 0) {
        do_include(ld, fc, r);
    } else if (strcasecmp(dir, "$GENERATE") == 0) {
        do_generate(ld, fc, r);
    } else {
        diag_error(ld->d, fc->name, r->line, 0, "unknown directive '%s'", dir);
    }
}

static void load_text(loader_t *ld, uint16_t file, const char *text, size_t len,
                      const wname_t *origin, unsigned depth)
{
    file_ctx_t fc = {
        .name = ld->src->files[file],
        .file = file,
        .origin = *origin,
        .p = text,
        .end = text + len,
        .line = 1,
        .depth = depth,
    };
    lexed_t r = {0};
    while (lex_record(ld, &fc, &r)) {
        if (r.bad)
            continue;
        if (!r.blank_owner && !r.tok[0].quoted && r.tok[0].s[0] == '$')
            do_directive(ld, &fc, &r);
        else
            do_record(ld, &fc, &r);
    }
    sb_free(&r.text);
    free(r.tok);
}

/* ------------------------------------------------------------ validation */

/* What validation sorts, one per in-zone record: the owner lower-cased
 * (in the store when it has no capital), so that equal keys are the same
 * name to DNS. Sorted by owner, type and file order. */
typedef struct rec_key {
    uint64_t prefix; /* the owner's first 8 bytes, big-endian: most compares end here */
    const uint8_t *owner;
    uint32_t idx; /* into src->records */
    uint16_t type;
    uint8_t owner_len;
} rec_key_t;

static int owner_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int key_cmp(const void *pa, const void *pb)
{
    const rec_key_t *a = pa, *b = pb;
    if (a->prefix != b->prefix)
        return a->prefix < b->prefix ? -1 : 1;
    int c = owner_cmp(a->owner, a->owner_len, b->owner, b->owner_len);
    if (c)
        return c;
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static bool has_capital(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] >= 'A' && p[i] <= 'Z')
            return true;
    return false;
}

/* One key per record, in file order. Owners with capitals are lower-cased
 * into *lower (caller frees), once per run of records sharing an owner. */
static rec_key_t *make_keys(const zone_source_t *src, uint8_t **lower)
{
    size_t need = 0;
    for (size_t i = 0; i < src->count; i++) {
        const zone_record_t *r = &src->records[i];
        if ((i == 0 || r->owner != r[-1].owner) &&
            has_capital(zone_record_owner(src, r), r->owner_len))
            need += r->owner_len;
    }
    *lower = xrealloc(NULL, need);
    rec_key_t *keys = xrealloc(NULL, (src->count ? src->count : 1) * sizeof(*keys));
    size_t pos = 0;
    const uint8_t *lc = NULL;
    for (size_t i = 0; i < src->count; i++) {
        const zone_record_t *r = &src->records[i];
        if (i == 0 || r->owner != r[-1].owner) {
            lc = zone_record_owner(src, r);
            if (has_capital(lc, r->owner_len)) {
                lower_copy(*lower + pos, lc, r->owner_len);
                lc = *lower + pos;
                pos += r->owner_len;
            }
        }
        uint64_t prefix = 0;
        for (size_t b = 0; b < 8; b++)
            prefix = prefix << 8 | (b < r->owner_len ? lc[b] : 0);
        keys[i] = (rec_key_t){.prefix = prefix, .owner = lc, .idx = (uint32_t)i,
                              .type = r->type, .owner_len = r->owner_len};
    }
    return keys;
}

void zone_source_sort(zone_source_t *src)
{
    uint8_t *lower;
    rec_key_t *keys = make_keys(src, &lower);
    qsort(keys, src->count, sizeof(*keys), key_cmp);
    free(src->order);
    src->order = xrealloc(NULL, (src->count ? src->count : 1) * sizeof(*src->order));
    for (size_t i = 0; i < src->count; i++)
        src->order[i] = keys[i].idx;
    free(keys);
    free(lower);
}

/* Is the lower-cased wire name n at or below z? */
static bool name_in_zone(const uint8_t *n, size_t nlen, const uint8_t *z, size_t zlen)
{
    size_t pos = 0;
    while (nlen - pos > zlen) {
        if (n[pos] == 0)
            return false;
        pos += (size_t)n[pos] + 1;
    }
    return nlen - pos == zlen && memcmp(n + pos, z, zlen) == 0;
}

typedef struct problem {
    size_t idx; /* record it is about, SIZE_MAX for the zone */
    size_t seq;
    bool error;
    char *msg;
} problem_t;

typedef struct problems {
    problem_t *p;
    size_t n;
    size_t cap;
} problems_t;

static void problem_add(problems_t *ps, size_t idx, bool error, const char *fmt, ...)
    LOG_PRINTF(4, 5);

static void problem_add(problems_t *ps, size_t idx, bool error, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 16;
        ps->p = xrealloc(ps->p, ps->cap * sizeof(*ps->p));
    }
    ps->p[ps->n] = (problem_t){.idx = idx, .seq = ps->n, .error = error, .msg = xstrdup(buf)};
    ps->n++;
}

static int problem_cmp(const void *pa, const void *pb)
{
    const problem_t *a = pa, *b = pb;
    if (a->idx != b->idx)
        return a->idx < b->idx ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

typedef struct validator {
    loader_t *ld;
    zone_source_t *src;
    rec_key_t *keys; /* sorted, in-zone records only */
    size_t nkeys;
    uint8_t origin[NAME_WIRE_MAX]; /* lower case */
    size_t origin_len;
    problems_t probs;
    bool apex_soa;
    bool apex_ns;
} validator_t;

static zone_record_t *rec(const validator_t *v, size_t idx)
{
    return &v->src->records[idx];
}

static bool removed(const validator_t *v, size_t idx)
{
    return v->src->records[idx].flags & REC_REMOVED;
}

/* The record's RDATA with its names lower-cased. */
static const uint8_t *canon_rdata_of(const validator_t *v, uint32_t idx)
{
    const zone_record_t *r = rec(v, idx);
    if (!(r->flags & REC_CANON))
        return zone_record_rdata(v->src, r);
    const loader_t *ld = v->ld;
    size_t lo = 0, hi = ld->n_canon;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ld->canon_refs[mid].idx < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (const uint8_t *)ld->canon.s + ld->canon_refs[lo].off;
}

/* One record of an RRset as duplicates are found: by RDATA, then file
 * order. */
typedef struct rdata_key {
    const uint8_t *rdata;
    uint32_t len;
    uint32_t idx;
} rdata_key_t;

static int rdata_key_cmp(const void *pa, const void *pb)
{
    const rdata_key_t *a = pa, *b = pb;
    int c = owner_cmp(a->rdata, a->len, b->rdata, b->len);
    if (c)
        return c;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Duplicates and TTLs of one RRset: keys [0, n) share owner and type.
 * Returns the record whose owner names the set in messages: the first by
 * RDATA. */
static uint32_t check_rrset(validator_t *v, const rec_key_t *k, size_t n)
{
    if (n == 1)
        return k[0].idx;
    rdata_key_t small[16];
    rdata_key_t *rk = n <= 16 ? small : xrealloc(NULL, n * sizeof(*rk));
    for (size_t e = 0; e < n; e++)
        rk[e] = (rdata_key_t){.rdata = canon_rdata_of(v, k[e].idx),
                              .len = rec(v, k[e].idx)->rdlen, .idx = k[e].idx};
    qsort(rk, n, sizeof(*rk), rdata_key_cmp);
    size_t run = 0;
    for (size_t e = 1; e < n; e++) {
        if (rk[e].len == rk[e - 1].len && memcmp(rk[e].rdata, rk[e - 1].rdata, rk[e].len) == 0) {
            const zone_record_t *first = rec(v, rk[run].idx);
            rec(v, rk[e].idx)->flags |= REC_REMOVED;
            problem_add(&v->probs, rk[e].idx, false,
                        "duplicate record, merged with the one at %s:%u",
                        zone_record_file(v->src, first), first->line);
        } else {
            run = e;
        }
    }
    uint32_t named = rk[0].idx;
    if (rk != small)
        free(rk);
    if (k[0].type == LDNS_RR_TYPE_RRSIG)
        return named; /* RRSIGs covering different types may differ */

    /* k is in file order: k[0] is the earliest. */
    uint32_t lowest = UINT32_MAX, ttl0 = rec(v, k[0].idx)->ttl;
    size_t differs = SIZE_MAX;
    for (size_t e = 0; e < n; e++) {
        uint32_t ttl = rec(v, k[e].idx)->ttl;
        if (ttl < lowest)
            lowest = ttl;
        if (ttl != ttl0 && differs == SIZE_MAX)
            differs = k[e].idx;
    }
    if (differs == SIZE_MAX)
        return named;
    const zone_record_t *nr = rec(v, named);
    char *name = name_str(zone_record_owner(v->src, nr), nr->owner_len);
    char tname[32];
    type_str(k[0].type, tname, sizeof(tname));
    problem_add(&v->probs, differs, false,
                "TTLs differ in the %s %s RRset, all set to the lowest, %" PRIu32
                " (RFC 2181 5.2)",
                name, tname, lowest);
    free(name);
    for (size_t e = 0; e < n; e++)
        rec(v, k[e].idx)->ttl = lowest;
    return named;
}

/* The earliest record still in the zone among keys [0, n), or SIZE_MAX. */
static size_t first_live(const validator_t *v, const rec_key_t *k, size_t n, size_t *live)
{
    size_t first = SIZE_MAX;
    *live = 0;
    for (size_t e = 0; e < n; e++) {
        if (removed(v, k[e].idx))
            continue;
        (*live)++;
        if (k[e].idx < first)
            first = k[e].idx;
    }
    return first;
}

/* The owner as text, made on first use: most names have no problem to
 * report, and a million conversions are not free. */
static const char *owner_text(const validator_t *v, uint32_t idx, char **name)
{
    if (!*name) {
        const zone_record_t *r = rec(v, idx);
        *name = name_str(zone_record_owner(v->src, r), r->owner_len);
    }
    return *name;
}

/* Reports every live record of a set but its earliest one as "more than
 * one". */
static void report_extra(validator_t *v, const rec_key_t *k, size_t n, const char *what,
                         uint32_t named, char **name)
{
    size_t live, first = first_live(v, k, n, &live);
    if (live < 2)
        return;
    const zone_record_t *f = rec(v, first);
    owner_text(v, named, name);
    for (size_t e = 0; e < n; e++) {
        if (k[e].idx == first || removed(v, k[e].idx))
            continue;
        problem_add(&v->probs, k[e].idx, true, "more than one %s at %s (first at %s:%u)", what,
                    *name, zone_record_file(v->src, f), f->line);
    }
}

/* Every check that looks at one owner name: keys [0, n). */
static void check_owner(validator_t *v, const rec_key_t *k, size_t n)
{
    bool apex = k[0].owner_len == v->origin_len &&
                memcmp(k[0].owner, v->origin, v->origin_len) == 0;
    size_t cname = SIZE_MAX, dname = SIZE_MAX, other = SIZE_MAX;
    uint16_t other_type = 0;
    char *name = NULL;
    uint32_t named = 0;

    for (size_t a = 0; a < n;) {
        size_t b = a;
        while (b < n && k[b].type == k[a].type)
            b++;
        uint32_t set_named = check_rrset(v, k + a, b - a);
        if (a == 0)
            named = set_named; /* messages name the owner as that record wrote it */
        size_t live, first = first_live(v, k + a, b - a, &live);
        switch (k[a].type) {
        case LDNS_RR_TYPE_CNAME:
            cname = first;
            report_extra(v, k + a, b - a, "CNAME", named, &name);
            break;
        case LDNS_RR_TYPE_DNAME:
            dname = first;
            report_extra(v, k + a, b - a, "DNAME", named, &name);
            break;
        case LDNS_RR_TYPE_RRSIG:
        case LDNS_RR_TYPE_NSEC:
            break; /* allowed beside a CNAME (RFC 4035 2.5) */
        default:
            if (first < other) {
                other = first;
                other_type = k[a].type;
            }
        }
        if (k[a].type == LDNS_RR_TYPE_SOA) {
            if (apex) {
                v->apex_soa = true;
                report_extra(v, k + a, b - a, "SOA record", named, &name);
            } else {
                for (size_t e = a; e < b; e++)
                    if (!removed(v, k[e].idx))
                        problem_add(&v->probs, k[e].idx, true,
                                    "SOA record at %s, not at the zone apex",
                                    owner_text(v, named, &name));
            }
        }
        if (k[a].type == LDNS_RR_TYPE_NS && apex)
            v->apex_ns = true;
        a = b;
    }
    if (cname != SIZE_MAX && other != SIZE_MAX) {
        char tname[32];
        type_str(other_type, tname, sizeof(tname));
        problem_add(&v->probs, cname, true, "CNAME and other data at %s (%s at %s:%u)",
                    owner_text(v, named, &name), tname,
                    zone_record_file(v->src, rec(v, other)), rec(v, other)->line);
    }
    if (cname != SIZE_MAX && dname != SIZE_MAX)
        problem_add(&v->probs, dname, true, "DNAME and CNAME at %s (CNAME at %s:%u)",
                    owner_text(v, named, &name), zone_record_file(v->src, rec(v, cname)),
                    rec(v, cname)->line);
    free(name);
}

/* Is there a record of this owner and type (the keys are sorted)? */
static bool has_rr(const validator_t *v, const uint8_t *owner, size_t len, uint16_t type)
{
    size_t lo = 0, hi = v->nkeys;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const rec_key_t *k = &v->keys[mid];
        int c = owner_cmp(k->owner, k->owner_len, owner, len);
        if (c == 0)
            c = k->type < type ? -1 : k->type > type;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->nkeys && v->keys[lo].type == type &&
           owner_cmp(v->keys[lo].owner, v->keys[lo].owner_len, owner, len) == 0;
}

static void check_glue(validator_t *v)
{
    uint8_t target[NAME_WIRE_MAX];
    for (size_t i = 0; i < v->src->count; i++) {
        const zone_record_t *r = rec(v, i);
        if (r->type != LDNS_RR_TYPE_NS || (r->flags & (REC_REMOVED | REC_OUTSIDE)))
            continue;
        const uint8_t *t = zone_record_rdata(v->src, r);
        size_t len = dns_name_wire_len(t, r->rdlen);
        if (len == 0)
            continue;
        lower_copy(target, t, len);
        if (!name_in_zone(target, len, v->origin, v->origin_len))
            continue;
        if (has_rr(v, target, len, LDNS_RR_TYPE_A) || has_rr(v, target, len, LDNS_RR_TYPE_AAAA))
            continue;
        char *name = name_str(t, len);
        problem_add(&v->probs, i, false, "no A or AAAA record (glue) for the NS target %s",
                    name);
        free(name);
    }
}

/* Is this record the zone's SOA, with RDATA of the right shape (two names
 * and five 32-bit numbers)? */
static bool is_apex_soa(const validator_t *v, const rec_key_t *k)
{
    const zone_record_t *r = rec(v, k->idx);
    if (r->type != LDNS_RR_TYPE_SOA || k->owner_len != v->origin_len ||
        memcmp(k->owner, v->origin, v->origin_len) != 0)
        return false;
    const uint8_t *rd = zone_record_rdata(v->src, r);
    size_t m = dns_name_wire_len(rd, r->rdlen);
    size_t n = m ? dns_name_wire_len(rd + m, r->rdlen - m) : 0;
    return n && m + n + 20 == r->rdlen;
}

/* Records without a TTL before any $TTL take the SOA minimum, as in BIND.
 * keys: one per record, in file order. */
static void resolve_pending_ttls(validator_t *v, const rec_key_t *keys)
{
    zone_source_t *src = v->src;
    size_t pending = SIZE_MAX;
    for (size_t i = 0; i < src->count && pending == SIZE_MAX; i++)
        if (src->records[i].flags & REC_TTL_PENDING)
            pending = i;
    if (pending == SIZE_MAX)
        return;
    const zone_record_t *soa = NULL;
    for (size_t i = 0; i < src->count && !soa; i++)
        if (is_apex_soa(v, &keys[i]))
            soa = &src->records[i];
    if (!soa)
        return; /* "no SOA record" is reported anyway */
    const uint8_t *rd = zone_record_rdata(src, soa);
    uint32_t minimum = (uint32_t)rd[soa->rdlen - 4] << 24 | (uint32_t)rd[soa->rdlen - 3] << 16 |
                       (uint32_t)rd[soa->rdlen - 2] << 8 | rd[soa->rdlen - 1];
    if (minimum > MAX_TTL_RFC2181)
        minimum = 0;
    problem_add(&v->probs, pending, false,
                "no TTL and no $TTL before this record, using the SOA minimum, %" PRIu32,
                minimum);
    for (size_t i = 0; i < src->count; i++)
        if (src->records[i].flags & REC_TTL_PENDING)
            src->records[i].ttl = minimum;
}

/* Drops the merged duplicates and fills src->order from the sorted keys
 * (which hold every record: a zone with one outside is refused). */
static void compact(validator_t *v)
{
    zone_source_t *src = v->src;
    uint32_t *new_idx = xrealloc(NULL, (src->count ? src->count : 1) * sizeof(*new_idx));
    size_t kept = 0;
    for (size_t i = 0; i < src->count; i++) {
        new_idx[i] = (uint32_t)kept;
        kept += !removed(v, i);
    }
    src->order = xrealloc(NULL, (kept ? kept : 1) * sizeof(*src->order));
    size_t n = 0;
    for (size_t i = 0; i < v->nkeys; i++)
        if (!removed(v, v->keys[i].idx))
            src->order[n++] = new_idx[v->keys[i].idx];
    free(new_idx);
    kept = 0;
    for (size_t i = 0; i < src->count; i++) {
        if (!removed(v, i)) {
            src->records[kept] = src->records[i];
            src->records[kept++].flags = 0;
        }
    }
    src->count = kept;
    src->cap = kept ? kept : 1;
    src->records = xrealloc(src->records, src->cap * sizeof(*src->records));
}

static void validate(loader_t *ld, const char *top_file)
{
    zone_source_t *src = ld->src;
    validator_t v = {.ld = ld, .src = src};
    unsigned errors = ld->d->errors;
    lower_copy(v.origin, src->origin, src->origin_len);
    v.origin_len = src->origin_len;

    uint8_t *lower;
    v.keys = make_keys(src, &lower);
    resolve_pending_ttls(&v, v.keys);

    char *zone = name_str(src->origin, src->origin_len);
    for (size_t i = 0; i < src->count; i++) {
        const rec_key_t *k = &v.keys[i];
        if (!name_in_zone(k->owner, k->owner_len, v.origin, v.origin_len)) {
            char *name = name_str(zone_record_owner(src, rec(&v, i)), k->owner_len);
            problem_add(&v.probs, i, true, "%s is outside the zone %s", name, zone);
            free(name);
            src->records[i].flags |= REC_OUTSIDE;
            continue;
        }
        v.keys[v.nkeys++] = *k;
    }
    qsort(v.keys, v.nkeys, sizeof(*v.keys), key_cmp);

    for (size_t i = 0; i < v.nkeys;) {
        size_t j = i + 1;
        while (j < v.nkeys && owner_cmp(v.keys[i].owner, v.keys[i].owner_len, v.keys[j].owner,
                                        v.keys[j].owner_len) == 0)
            j++;
        check_owner(&v, v.keys + i, j - i);
        i = j;
    }
    if (!v.apex_soa)
        problem_add(&v.probs, SIZE_MAX, true, "no SOA record at the zone apex %s", zone);
    if (!v.apex_ns)
        problem_add(&v.probs, SIZE_MAX, true, "no NS records at the zone apex %s", zone);
    check_glue(&v);
    free(zone);

    /* Report in file order, whatever order the checks found things in. */
    if (v.probs.n)
        qsort(v.probs.p, v.probs.n, sizeof(*v.probs.p), problem_cmp);
    for (size_t i = 0; i < v.probs.n; i++) {
        const problem_t *p = &v.probs.p[i];
        const zone_record_t *r = p->idx == SIZE_MAX ? NULL : rec(&v, p->idx);
        const char *file = r ? zone_record_file(src, r) : top_file;
        unsigned line = r ? r->line : 0;
        if (p->error)
            diag_error(ld->d, file, line, 0, "%s", p->msg);
        else
            diag_warn(ld->d, file, line, 0, "%s", p->msg);
        free(p->msg);
    }
    free(v.probs.p);
    if (ld->d->errors == errors)
        compact(&v);
    free(v.keys);
    free(lower);
}

/* ------------------------------------------------------------ public */

/* zones/example.com.zone -> example.com */
static char *origin_from_name(const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    char *s = xstrdup(base);
    size_t len = strlen(s);
    if (len > 5 && strcmp(s + len - 5, ".zone") == 0)
        s[len - 5] = '\0';
    return s;
}

zone_source_t *zone_source_new(const uint8_t *origin, size_t origin_len, const char *file)
{
    zone_source_t *src = xrealloc(NULL, sizeof(*src));
    memset(src, 0, sizeof(*src));
    memcpy(src->origin, origin, origin_len);
    src->origin_len = (uint8_t)origin_len;
    add_file(src, file);
    return src;
}

void zone_source_add(zone_source_t *src, const uint8_t *owner, size_t owner_len, uint16_t type,
                     uint32_t ttl, const uint8_t *rdata, size_t rdlen, unsigned line)
{
    if (!store_record(src, owner, owner_len, type, ttl, rdata, rdlen, 0, line, 0))
        abort();
}

/* Reads text (and frees it when owned, as soon as it is read: a big zone
 * need not keep its text beside its records) and validates the zone. */
static bool load_top(const char *name, char *text, size_t len, bool owned, const char *origin,
                     unsigned flags, zone_source_t **out, diag_t *d)
{
    unsigned errors = d->errors;
    loader_t ld = {.d = d, .flags = flags};
    zone_source_t *src = zone_source_new((const uint8_t *)"", 1, name);
    ld.src = src;
    const char *file = src->files[0];

    char *oname = origin ? xstrdup(origin) : origin_from_name(name);
    ldns_rdf *apex = oname[0] ? ldns_dname_new_frm_str(oname) : NULL;
    if (!apex || ldns_rdf_size(apex) > NAME_WIRE_MAX) {
        diag_error(d, file, 0, 0, "invalid zone origin '%s'", oname);
        free(oname);
        ldns_rdf_deep_free(apex);
        goto fail;
    }
    free(oname);
    memcpy(src->origin, ldns_rdf_data(apex), ldns_rdf_size(apex));
    src->origin_len = (uint8_t)ldns_rdf_size(apex);
    ldns_rdf_deep_free(apex);

    wname_t top = {.len = src->origin_len};
    memcpy(top.b, src->origin, top.len);
    ld.stack[ld.depth++] = realpath(name, NULL);
    load_text(&ld, 0, text, len, &top, 0);
    free(ld.stack[--ld.depth]);
    sb_free(&ld.rr_text);
    if (owned) {
        free(text);
        owned = false;
    }

    validate(&ld, file);
    if (d->errors != errors)
        goto fail;
    sb_free(&ld.canon);
    free(ld.canon_refs);
    *out = src;
    return true;
fail:
    if (owned)
        free(text);
    sb_free(&ld.rr_text);
    sb_free(&ld.canon);
    free(ld.canon_refs);
    zone_source_free(src);
    return false;
}

bool zone_source_load_buffer(const char *name, const char *text, size_t len, const char *origin,
                             unsigned flags, zone_source_t **out, diag_t *d)
{
    *out = NULL;
    return load_top(name, (char *)text, len, false, origin, flags, out, d);
}

bool zone_source_load(const char *path, const char *origin, zone_source_t **out, diag_t *d)
{
    const char *why = NULL;
    size_t len = 0;
    *out = NULL;
    char *text = file_read_all(path, ZONE_SOURCE_MAX_FILE_SIZE, &len, &why);
    if (!text) {
        diag_error(d, path, 0, 0, "cannot open: %s", why);
        return false;
    }
    return load_top(path, text, len, true, origin, 0, out, d);
}

void zone_source_free(zone_source_t *src)
{
    if (!src)
        return;
    free(src->records);
    free(src->order);
    for (size_t i = 0; i < src->n_chunks; i++)
        free(src->chunks[i]);
    free(src->chunks);
    for (size_t i = 0; i < src->n_files; i++)
        free(src->files[i]);
    free(src->files);
    free(src);
}
