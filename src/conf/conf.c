/*
 * conf: the YAML config file.
 *
 * Loading happens in two passes. The first turns libyaml's event stream
 * into a small tree of scalars, lists and mappings that remembers where
 * each node starts; it stops at the first YAML syntax error, since nothing
 * after one can be trusted. The second walks that tree with tables of
 * known keys and fills conf_t, reporting every bad value and carrying on,
 * so an operator sees all mistakes at once.
 *
 * A new top-level section is a conf_parse_fn and a line in conf_sections;
 * a new key in a section is a conf_parse_fn and a line in that section's
 * table. conf_parse_keys() takes care of unknown, duplicate, missing and
 * mistyped keys for all of them.
 */
#include "config.h"

#include "conf/conf.h"

#include "util/file.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "util/log.h"

/* A config file is a few kilobytes; this only stops us from slurping a
 * device or a log file named by mistake. */
#define CONF_MAX_FILE_SIZE (16u << 20)
/* The schema is a few levels deep; the limit keeps the tree's recursive
 * free and walk safe from hostile nesting. */
#define CONF_MAX_DEPTH 32
/* A tree node costs ~20 times the bytes of its text ("[1,1,1..."); this
 * bounds memory while leaving room for thousands of services. */
#define CONF_MAX_NODES 1000000
/* Past this the rest is usually fallout from one mistake (a wrong indent). */
#define CONF_MAX_ERRORS 100
/* version.bind and friends are answered in one TXT character-string. */
#define CONF_MAX_TXT 255
/* Room for a quoted, escaped excerpt of a bad value in a message. */
#define CONF_QUOTE_SIZE 72
/* Room for a key path: "services." and a 254-byte owner name, then the
 * few levels below it ("map.subdivisions.US-CA[63]"). */
#define CONF_WHAT_SIZE 512

enum conf_node_type { CONF_NODE_SCALAR, CONF_NODE_LIST, CONF_NODE_MAP };

typedef struct conf_node {
    enum conf_node_type type;
    unsigned line, col; /* 1-based, where the node starts */
    char *text;         /* scalar: the value, NUL-terminated */
    size_t len;         /* scalar: bytes in text, which may itself hold NULs */
    bool is_null;       /* a plain "", "~" or "null": the key has no value */
    struct conf_node **items; /* list: elements; map: key, value, key, value... */
    size_t n_items;
    size_t cap;
} conf_node_t;

typedef struct conf_ctx {
    const char *file; /* name for messages */
    char *base_dir;   /* relative paths are resolved against this */
    diag_t *d;
    conf_t *conf;
    unsigned errors; /* found by this load, including those not shown */
    /* services: waits until every other section is read, since its pools
     * and rules name data centers that may be declared further down */
    const conf_node_t *services;
} conf_ctx_t;

/* what names the value in messages ("server.workers"); target is the
 * struct being filled (conf_t, conf_zone_t...). */
typedef void (*conf_parse_fn)(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                              void *target);

typedef struct conf_key {
    const char *name;
    conf_parse_fn parse;
    bool required;
} conf_key_t;

/* ------------------------------------------------------------ helpers */

static void *conf_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort(); /* loaders may abort on OOM */
    return p;
}

static void *conf_xrealloc(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        abort();
    p = realloc(p, n && size ? n * size : 1);
    if (!p)
        abort();
    return p;
}

static char *conf_xstrdup(const char *s)
{
    char *copy = strdup(s);
    if (!copy)
        abort();
    return copy;
}

static void conf_error_at(conf_ctx_t *ctx, unsigned line, unsigned col, const char *fmt, ...)
    LOG_PRINTF(4, 5);

static void conf_error_at(conf_ctx_t *ctx, unsigned line, unsigned col, const char *fmt, ...)
{
    char msg[900];
    va_list ap;

    if (++ctx->errors > CONF_MAX_ERRORS)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    diag_error(ctx->d, ctx->file, line, col, "%s", msg);
}

/* Quotes a scalar for a message, escaping what a terminal would mangle and
 * cutting long values short; other nodes are named by their kind. */
static const char *conf_describe(const conf_node_t *node, char *buf, size_t size)
{
    size_t o = 0;

    if (node->type == CONF_NODE_MAP)
        return node->n_items ? "a mapping" : "an empty mapping";
    if (node->type == CONF_NODE_LIST)
        return node->n_items ? "a list" : "an empty list";
    if (node->is_null)
        return "an empty value";
    buf[o++] = '"';
    for (size_t i = 0; i < node->len; i++) {
        unsigned char c = (unsigned char)node->text[i];
        /* worst case: one escape (4), then '..."' (4) and the NUL */
        if (o + 9 > size) {
            /* do not leave half a UTF-8 sequence before the dots */
            while (o > 1 && ((unsigned char)buf[o - 1] & 0x80))
                o--;
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* The one shape of a bad-value message: what, what is allowed, what we got. */
static void conf_expected(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                          const char *expected)
{
    char quoted[CONF_QUOTE_SIZE];
    conf_error_at(ctx, node->line, node->col, "%s: expected %s, got %s", what, expected,
                  conf_describe(node, quoted, sizeof(quoted)));
}

/* The text of a scalar that can be used as a C string, or NULL after
 * reporting why not (a list, a mapping, no value, an embedded NUL). */
static const char *conf_scalar(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                               const char *expected)
{
    if (node->type != CONF_NODE_SCALAR || node->is_null || strlen(node->text) != node->len) {
        conf_expected(ctx, what, node, expected);
        return NULL;
    }
    return node->text;
}

/* Plain decimal only: YAML 1.1 reads "010" as octal and "0x10" as hex,
 * so refusing them keeps a value from meaning something unexpected. */
static bool conf_parse_u64(const char *text, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (text[0] == '0' && text[1] != '\0')
        return false;
    for (i = 0; text[i] >= '0' && text[i] <= '9'; i++) {
        if (i >= 12) /* far beyond any range we accept; avoids overflow */
            return false;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    if (i == 0 || text[i] != '\0')
        return false;
    *out = v;
    return true;
}

/* expected says what is allowed, for bounds that need explaining. */
static void conf_get_uint_expected(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                   unsigned min, unsigned max, const char *expected,
                                   unsigned *out)
{
    const char *text;
    uint64_t v;

    text = conf_scalar(ctx, what, node, expected);
    if (!text)
        return;
    if (!conf_parse_u64(text, &v) || v < min || v > max) {
        conf_expected(ctx, what, node, expected);
        return;
    }
    *out = (unsigned)v;
}

static void conf_get_uint(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                          unsigned min, unsigned max, unsigned *out)
{
    char expected[64];

    snprintf(expected, sizeof(expected), "an integer from %u to %u", min, max);
    conf_get_uint_expected(ctx, what, node, min, max, expected, out);
}

static void conf_format_ms(char *buf, size_t size, unsigned ms)
{
    if (ms % 3600000 == 0)
        snprintf(buf, size, "%uh", ms / 3600000);
    else if (ms % 60000 == 0)
        snprintf(buf, size, "%um", ms / 60000);
    else if (ms % 1000 == 0)
        snprintf(buf, size, "%us", ms / 1000);
    else
        snprintf(buf, size, "%ums", ms);
}

typedef struct conf_unit {
    const char *suffix;
    uint64_t scale;
} conf_unit_t;

/* Digits followed by one of the units' suffixes, scaled, from min to max. */
static bool conf_parse_scaled(const char *text, const conf_unit_t *units, size_t n_units,
                              uint64_t min, uint64_t max, uint64_t *out)
{
    char digits[16];
    uint64_t v;
    size_t n = strspn(text, "0123456789");

    if (n == 0 || n >= sizeof(digits))
        return false;
    memcpy(digits, text, n);
    digits[n] = '\0';
    if (!conf_parse_u64(digits, &v))
        return false;
    for (size_t i = 0; i < n_units; i++) {
        if (strcmp(text + n, units[i].suffix) != 0)
            continue;
        if (v > max / units[i].scale)
            return false;
        v *= units[i].scale;
        if (v < min)
            return false;
        *out = v;
        return true;
    }
    return false;
}

/* "500ms", "10s", "2m", "1h", or a bare number of seconds. */
static void conf_get_duration_ms(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                 unsigned min_ms, unsigned max_ms, unsigned *out)
{
    static const conf_unit_t units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"", 1000}};
    char expected[128], lo[16], hi[16];
    const char *text;
    uint64_t v;

    conf_format_ms(lo, sizeof(lo), min_ms);
    conf_format_ms(hi, sizeof(hi), max_ms);
    snprintf(expected, sizeof(expected),
             "a duration from %s to %s such as \"500ms\", \"10s\" or \"2m\"", lo, hi);
    text = conf_scalar(ctx, what, node, expected);
    if (!text)
        return;
    if (!conf_parse_scaled(text, units, sizeof(units) / sizeof(units[0]), min_ms, max_ms, &v)) {
        conf_expected(ctx, what, node, expected);
        return;
    }
    *out = (unsigned)v;
}

/* A size in bytes: a bare number, or with a binary suffix "k", "m" or "g"
 * ("128k" is 131072). */
static void conf_get_bytes(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                           uint64_t min, uint64_t max, uint64_t *out)
{
    static const conf_unit_t units[] = {{"", 1}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}};
    char expected[128];
    const char *text;

    snprintf(expected, sizeof(expected),
             "a size from %llu to %llu bytes, such as \"65536\", \"128k\" or \"64m\"",
             (unsigned long long)min, (unsigned long long)max);
    text = conf_scalar(ctx, what, node, expected);
    if (text && !conf_parse_scaled(text, units, sizeof(units) / sizeof(units[0]), min, max, out))
        conf_expected(ctx, what, node, expected);
}

/* A TTL in seconds, bare or as a duration in whole seconds ("30s", "5m",
 * "1h"); RFC 2181 section 8 caps it at 2^31 - 1. */
static void conf_get_ttl(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                         uint32_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t seconds;
    } units[] = {{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}};
    static const char *expected =
        "a number of seconds from 0 to 2147483647 or a duration such as \"30s\" or \"5m\"";
    const char *text = conf_scalar(ctx, what, node, expected);
    char digits[16];
    size_t n;
    uint64_t v;

    if (!text)
        return;
    n = strspn(text, "0123456789");
    if (n == 0 || n >= sizeof(digits))
        goto bad;
    memcpy(digits, text, n);
    digits[n] = '\0';
    if (!conf_parse_u64(digits, &v))
        goto bad;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(text + n, units[i].suffix) != 0)
            continue;
        v *= units[i].seconds; /* v < 10^12, so no overflow */
        if (v > 2147483647u)
            goto bad;
        *out = (uint32_t)v;
        return;
    }
bad:
    conf_expected(ctx, what, node, expected);
}

static void conf_get_bool(conf_ctx_t *ctx, const char *what, const conf_node_t *node, bool *out)
{
    /* YAML 1.1 spellings too, which operators coming from Ansible use */
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    const char *expected = "true or false";
    const char *text = conf_scalar(ctx, what, node, expected);

    if (!text)
        return;
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return;
        }
    }
    conf_expected(ctx, what, node, expected);
}

/* Replaces *out with a copy of a text of at most max_len bytes. */
static void conf_get_text(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                          size_t max_len, char **out)
{
    char expected[64];
    const char *text;

    snprintf(expected, sizeof(expected), "a text of at most %zu bytes", max_len);
    text = conf_scalar(ctx, what, node, expected);
    if (!text)
        return;
    if (node->len > max_len) {
        conf_expected(ctx, what, node, expected);
        return;
    }
    free(*out);
    *out = conf_xstrdup(text);
}

/* A path relative to the config file's directory, so the file works the
 * same whatever the daemon's working directory is. */
static char *conf_resolve_path(const conf_ctx_t *ctx, const char *path)
{
    size_t dir_len, len;
    char *full;

    if (path[0] == '/')
        return conf_xstrdup(path);
    dir_len = strlen(ctx->base_dir);
    len = dir_len + 1 + strlen(path) + 1;
    full = conf_xcalloc(len, 1);
    if (dir_len && ctx->base_dir[dir_len - 1] == '/')
        snprintf(full, len, "%s%s", ctx->base_dir, path);
    else
        snprintf(full, len, "%s/%s", ctx->base_dir, path);
    return full;
}

/* The directory holding the config file, absolute when it exists. */
static char *conf_base_dir(const char *name)
{
    const char *slash = strrchr(name, '/');
    char *dir, *abs;

    if (!slash)
        dir = conf_xstrdup(".");
    else if (slash == name)
        dir = conf_xstrdup("/");
    else
        dir = strndup(name, (size_t)(slash - name));
    if (!dir)
        abort();
    abs = realpath(dir, NULL);
    if (!abs)
        return dir;
    free(dir);
    return abs;
}

/* Formats a key path for messages into a CONF_WHAT_SIZE buffer; a path
 * too long for it is cut short, which only shortens a message. */
static void conf_path(char *buf, const char *fmt, ...) LOG_PRINTF(2, 3);

static void conf_path(char *buf, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, CONF_WHAT_SIZE, fmt, ap);
    va_end(ap);
}

/* Replaces *out with the resolved path in a non-empty text. */
static void conf_get_path(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                          const char *expected, char **out)
{
    const char *text = conf_scalar(ctx, what, node, expected);

    if (!text)
        return;
    if (text[0] == '\0') {
        conf_expected(ctx, what, node, expected);
        return;
    }
    free(*out);
    *out = conf_resolve_path(ctx, text);
}

/* Plain ASCII: <ctype.h> would follow the locale. */
static bool conf_is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool conf_is_alnum(char c)
{
    return conf_is_alpha(c) || (c >= '0' && c <= '9');
}

static void conf_upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

static void conf_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* A light check of a domain name that catches typos early; the zone
 * loader has the final word. Escapes would need a real name parser and
 * config names never need them. A name in the config is never relative
 * to a zone, so "www.example.com" and "www.example.com." are the same
 * name. host limits labels to letters, digits, '-' and '_' (service
 * owners, CNAME targets); otherwise any printable byte but a backslash
 * goes, as classless reverse zones ("0/25.2.0.192.in-addr.arpa") need.
 * Returns a copy with the final dot added, or NULL when text is not such
 * a name. */
static char *conf_domain_name(const char *text, bool host, bool allow_root)
{
    size_t len = strlen(text), label = 0;
    char *name;

    if (strcmp(text, ".") == 0)
        return allow_root ? conf_xstrdup(".") : NULL;
    /* on the wire each label has a length byte and the root one more, so
     * a name takes one byte more than its text with the final dot */
    if (len == 0 || text[0] == '.' || len + (text[len - 1] != '.') + 1 > 255)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '.') {
            if (label == 0)
                return NULL;
            label = 0;
            continue;
        }
        if (host ? !(conf_is_alnum((char)c) || c == '-' || c == '_')
                 : (c <= ' ' || c >= 0x7f || c == '\\'))
            return NULL;
        if (++label > 63)
            return NULL;
    }
    name = conf_xcalloc(len + 2, 1);
    memcpy(name, text, len);
    if (text[len - 1] != '.')
        name[len] = '.';
    return name;
}

/* ------------------------------------------------------------ the tree */

static void conf_node_free(conf_node_t *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->n_items; i++)
        conf_node_free(node->items[i]);
    free(node->items);
    free(node->text);
    free(node);
}

static conf_node_t *conf_node_new(enum conf_node_type type, const yaml_mark_t *mark)
{
    conf_node_t *node = conf_xcalloc(1, sizeof(*node));
    node->type = type;
    node->line = (unsigned)mark->line + 1;
    node->col = (unsigned)mark->column + 1;
    return node;
}

static void conf_node_append(conf_node_t *parent, conf_node_t *child)
{
    if (parent->n_items == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 4;
        parent->items = conf_xrealloc(parent->items, parent->cap, sizeof(*parent->items));
    }
    parent->items[parent->n_items++] = child;
}

static conf_node_t *conf_node_scalar(const yaml_event_t *event)
{
    conf_node_t *node = conf_node_new(CONF_NODE_SCALAR, &event->start_mark);
    size_t len = event->data.scalar.length;
    const char *value = (const char *)event->data.scalar.value;

    node->text = conf_xcalloc(len + 1, 1);
    memcpy(node->text, value, len);
    node->len = len;
    if (event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !event->data.scalar.tag)
        node->is_null = len == 0 || strcmp(node->text, "~") == 0 ||
                        strcmp(node->text, "null") == 0 || strcmp(node->text, "Null") == 0 ||
                        strcmp(node->text, "NULL") == 0;
    return node;
}

/* Line and column of a byte offset, for reader errors (bad UTF-8), which
 * libyaml reports by offset only. */
static void conf_offset_position(const char *text, size_t len, size_t offset, unsigned *line,
                                 unsigned *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            ++*line;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            ++*col; /* columns count characters, as libyaml's marks do */
        }
    }
}

static void conf_yaml_error(conf_ctx_t *ctx, const yaml_parser_t *parser, const char *text,
                            size_t len)
{
    const char *problem = parser->problem ? parser->problem : "unknown error";
    unsigned line, col;

    switch (parser->error) {
    case YAML_MEMORY_ERROR:
        abort();
    case YAML_READER_ERROR:
        conf_offset_position(text, len, parser->problem_offset, &line, &col);
        if (parser->problem_value != -1)
            conf_error_at(ctx, line, col, "YAML error: %s (byte 0x%02x)", problem,
                          (unsigned)parser->problem_value & 0xff);
        else
            conf_error_at(ctx, line, col, "YAML error: %s", problem);
        return;
    default:
        line = (unsigned)parser->problem_mark.line + 1;
        col = (unsigned)parser->problem_mark.column + 1;
        if (parser->context)
            conf_error_at(ctx, line, col, "YAML syntax error: %s (%s at line %u, column %u)",
                          problem, parser->context, (unsigned)parser->context_mark.line + 1,
                          (unsigned)parser->context_mark.column + 1);
        else
            conf_error_at(ctx, line, col, "YAML syntax error: %s", problem);
        return;
    }
}

/* Builds the tree of the one document in text. *root stays NULL for an
 * empty stream. Returns false after reporting a syntax error. */
static bool conf_tree_build(conf_ctx_t *ctx, const char *text, size_t len, conf_node_t **root)
{
    yaml_parser_t parser;
    yaml_event_t event;
    conf_node_t *stack[CONF_MAX_DEPTH];
    size_t depth = 0, nodes = 0;
    unsigned documents = 0;
    bool done = false, failed = false;

    *root = NULL;
    if (!yaml_parser_initialize(&parser))
        abort();
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done && !failed) {
        conf_node_t *node = NULL;

        if (!yaml_parser_parse(&parser, &event)) {
            conf_yaml_error(ctx, &parser, text, len);
            failed = true;
            break;
        }
        switch (event.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) {
                conf_error_at(ctx, (unsigned)event.start_mark.line + 1,
                              (unsigned)event.start_mark.column + 1,
                              "only one YAML document is allowed in a config file");
                failed = true;
            }
            break;
        case YAML_ALIAS_EVENT:
            /* Shared nodes would make the walk exponential ("billion laughs")
             * and every error ambiguous about where it is. */
            conf_error_at(ctx, (unsigned)event.start_mark.line + 1,
                          (unsigned)event.start_mark.column + 1,
                          "YAML aliases (*%s) are not supported", event.data.alias.anchor);
            failed = true;
            break;
        case YAML_SCALAR_EVENT:
            node = conf_node_scalar(&event);
            break;
        case YAML_SEQUENCE_START_EVENT:
            node = conf_node_new(CONF_NODE_LIST, &event.start_mark);
            break;
        case YAML_MAPPING_START_EVENT:
            node = conf_node_new(CONF_NODE_MAP, &event.start_mark);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        if (node && ++nodes > CONF_MAX_NODES) {
            conf_error_at(ctx, node->line, node->col, "more than %d YAML nodes",
                          CONF_MAX_NODES);
            conf_node_free(node);
            node = NULL;
            failed = true;
        }
        if (node) {
            if (depth == 0)
                *root = node;
            else
                conf_node_append(stack[depth - 1], node);
            if (node->type != CONF_NODE_SCALAR) {
                if (depth == CONF_MAX_DEPTH) {
                    conf_error_at(ctx, node->line, node->col,
                                  "YAML nesting is deeper than %d levels", CONF_MAX_DEPTH);
                    failed = true;
                } else {
                    stack[depth++] = node;
                }
            }
        }
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    if (failed) {
        conf_node_free(*root);
        *root = NULL;
    }
    return !failed;
}

/* ------------------------------------------------------------ mappings */

static bool conf_key_is(const conf_node_t *key, const char *name)
{
    return key->len == strlen(name) && memcmp(key->text, name, key->len) == 0;
}

/* Walks a mapping whose keys are fixed by a table: every known key goes to
 * its parse function; unknown, duplicate, missing required and non-scalar
 * keys are reported. prefix NULL means the top level. A missing value
 * (null) is an empty mapping, so "server:" alone means all defaults. */
static void conf_parse_keys(conf_ctx_t *ctx, const char *prefix, const conf_node_t *map,
                            const conf_key_t *keys, size_t n_keys, void *target)
{
    const char *kind = prefix ? "key" : "section";
    const conf_node_t **seen;
    char names[512] = "";
    char quoted[CONF_QUOTE_SIZE];

    if (map->type == CONF_NODE_SCALAR && map->is_null)
        goto required;
    if (map->type != CONF_NODE_MAP) {
        char what[96];
        snprintf(what, sizeof(what), "%s", prefix ? prefix : "the config file");
        conf_expected(ctx, what, map, "a mapping");
        return;
    }
    for (size_t k = 0; k < n_keys; k++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof(names) - used, "%s%s", k ? ", " : "", keys[k].name);
    }
    seen = conf_xcalloc(n_keys, sizeof(*seen));
    for (size_t i = 0; i + 1 < map->n_items; i += 2) {
        const conf_node_t *key = map->items[i], *value = map->items[i + 1];
        char what[CONF_WHAT_SIZE];
        size_t k;

        if (key->type != CONF_NODE_SCALAR) {
            conf_error_at(ctx, key->line, key->col, "%s%sexpected a %s name, got %s",
                          prefix ? prefix : "", prefix ? ": " : "", kind,
                          conf_describe(key, quoted, sizeof(quoted)));
            continue;
        }
        for (k = 0; k < n_keys && !conf_key_is(key, keys[k].name); k++)
            ;
        if (k == n_keys) {
            conf_error_at(ctx, key->line, key->col, "%s%sunknown %s %s (expected one of: %s)",
                          prefix ? prefix : "", prefix ? ": " : "", kind,
                          conf_describe(key, quoted, sizeof(quoted)), names);
            continue;
        }
        if (seen[k]) {
            conf_error_at(ctx, key->line, key->col,
                          "%s%sduplicate %s \"%s\" (first given at line %u)",
                          prefix ? prefix : "", prefix ? ": " : "", kind, keys[k].name,
                          seen[k]->line);
            continue;
        }
        seen[k] = key;
        snprintf(what, sizeof(what), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                 keys[k].name);
        keys[k].parse(ctx, what, value, target);
    }
    free(seen);
required:
    for (size_t k = 0; k < n_keys; k++) {
        bool found = false;
        if (!keys[k].required)
            continue;
        for (size_t i = 0; map->type == CONF_NODE_MAP && i + 1 < map->n_items; i += 2)
            found = found || (map->items[i]->type == CONF_NODE_SCALAR &&
                              conf_key_is(map->items[i], keys[k].name));
        if (!found)
            conf_error_at(ctx, map->line, map->col, "%s%smissing required key \"%s\"",
                          prefix ? prefix : "", prefix ? ": " : "", keys[k].name);
    }
}

/* ------------------------------------------------------------ server: */

static void conf_add_listener(conf_ctx_t *ctx, const char *what, const conf_node_t *node)
{
    static const char *expected =
        "an address such as \"192.0.2.1:53\", \"[2001:db8::1]:53\" or \"::\"";
    conf_t *conf = ctx->conf;
    conf_listener_t listener = {0};
    const char *text = conf_scalar(ctx, what, node, expected);

    if (!text)
        return;
    if (conf_parse_sockaddr(text, CONF_DEFAULT_PORT, &listener.addr, &listener.addrlen) != 0) {
        conf_expected(ctx, what, node, expected);
        return;
    }
    for (size_t i = 0; i < conf->n_listeners; i++) {
        if (conf->listeners[i].addrlen == listener.addrlen &&
            memcmp(&conf->listeners[i].addr, &listener.addr, listener.addrlen) == 0) {
            char quoted[CONF_QUOTE_SIZE];
            conf_error_at(ctx, node->line, node->col,
                          "%s: %s is the same address as \"%s\" listed before", what,
                          conf_describe(node, quoted, sizeof(quoted)), conf->listeners[i].text);
            return;
        }
    }
    listener.text = conf_xstrdup(text);
    conf->listeners =
        conf_xrealloc(conf->listeners, conf->n_listeners + 1, sizeof(*conf->listeners));
    conf->listeners[conf->n_listeners++] = listener;
}

static void conf_server_listen(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                               void *target)
{
    (void)target;
    if (node->type == CONF_NODE_LIST) {
        if (node->n_items == 0) {
            conf_expected(ctx, what, node, "at least one address");
            return;
        }
        for (size_t i = 0; i < node->n_items; i++)
            conf_add_listener(ctx, what, node->items[i]);
        return;
    }
    if (node->type != CONF_NODE_SCALAR || node->is_null) {
        conf_expected(ctx, what, node, "an address or a list of addresses");
        return;
    }
    conf_add_listener(ctx, what, node);
}

static void conf_server_workers(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                void *target)
{
    static const char *expected = "\"auto\" or an integer from 1 to 256";
    conf_t *conf = target;
    const char *text = conf_scalar(ctx, what, node, expected);
    uint64_t v;

    if (!text)
        return;
    if (strcmp(text, "auto") == 0) {
        conf->workers = 0;
        return;
    }
    if (!conf_parse_u64(text, &v) || v < 1 || v > 256) {
        conf_expected(ctx, what, node, expected);
        return;
    }
    conf->workers = (unsigned)v;
}

static void conf_server_max_udp_size(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                     void *target)
{
    conf_t *conf = target;
    conf_get_uint(ctx, what, node, 512, 65535, &conf->max_udp_size);
}

static void conf_server_tcp_idle_timeout(conf_ctx_t *ctx, const char *what,
                                         const conf_node_t *node, void *target)
{
    conf_t *conf = target;
    conf_get_duration_ms(ctx, what, node, 1, 3600000, &conf->tcp_idle_timeout_ms);
}

static void conf_server_tcp_max_connections(conf_ctx_t *ctx, const char *what,
                                            const conf_node_t *node, void *target)
{
    conf_t *conf = target;
    conf_get_uint(ctx, what, node, 1, 1000000, &conf->tcp_max_connections);
}

static void conf_server_tcp_max_pipeline(conf_ctx_t *ctx, const char *what,
                                         const conf_node_t *node, void *target)
{
    conf_t *conf = target;
    conf_get_uint(ctx, what, node, 1, 65535, &conf->tcp_max_pipeline);
}

static void conf_server_tcp_max_per_address(conf_ctx_t *ctx, const char *what,
                                            const conf_node_t *node, void *target)
{
    conf_t *conf = target;
    conf_get_uint(ctx, what, node, 1, 1000000, &conf->tcp_max_per_address);
}

static void conf_server_tcp_max_per_ipv6_64(conf_ctx_t *ctx, const char *what,
                                            const conf_node_t *node, void *target)
{
    conf_t *conf = target;
    conf_get_uint(ctx, what, node, 1, 1000000, &conf->tcp_max_per_ipv6_64);
}

static void conf_server_tcp_max_queued_bytes(conf_ctx_t *ctx, const char *what,
                                             const conf_node_t *node, void *target)
{
    conf_t *conf = target;
    uint64_t v = conf->tcp_max_queued_bytes;
    conf_get_bytes(ctx, what, node, 1024, (uint64_t)1 << 30, &v);
    conf->tcp_max_queued_bytes = (unsigned)v;
}

static void conf_server_tcp_max_queued_total(conf_ctx_t *ctx, const char *what,
                                             const conf_node_t *node, void *target)
{
    conf_t *conf = target;
    conf_get_bytes(ctx, what, node, 65536, (uint64_t)1 << 40, &conf->tcp_max_queued_total);
}

static void conf_server_tcp_write_timeout(conf_ctx_t *ctx, const char *what,
                                          const conf_node_t *node, void *target)
{
    conf_t *conf = target;
    conf_get_duration_ms(ctx, what, node, 1, 3600000, &conf->tcp_write_timeout_ms);
}

static int conf_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* NSID as text, or "hex:..." for bytes that are not text. */
static void conf_server_nsid(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                             void *target)
{
    conf_t *conf = target;
    char expected[96];
    const char *text;
    char *bytes;
    size_t len;

    snprintf(expected, sizeof(expected),
             "a text of 1 to %d bytes or \"hex:\" and 1 to %d bytes in hex", CONF_MAX_NSID,
             CONF_MAX_NSID);
    text = conf_scalar(ctx, what, node, expected);
    if (!text)
        return;
    if (strncmp(text, "hex:", 4) == 0) {
        const char *hex = text + 4;
        size_t hex_len = node->len - 4;

        if (hex_len == 0 || hex_len % 2 != 0 || hex_len / 2 > CONF_MAX_NSID)
            goto bad;
        len = hex_len / 2;
        bytes = conf_xcalloc(len, 1);
        for (size_t i = 0; i < len; i++) {
            int hi = conf_hex_digit(hex[2 * i]), lo = conf_hex_digit(hex[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                free(bytes);
                goto bad;
            }
            bytes[i] = (char)(hi << 4 | lo);
        }
    } else {
        len = node->len;
        if (len == 0 || len > CONF_MAX_NSID)
            goto bad;
        bytes = conf_xcalloc(len, 1);
        memcpy(bytes, text, len);
    }
    free(conf->nsid);
    conf->nsid = bytes;
    conf->nsid_len = len;
    return;
bad:
    conf_expected(ctx, what, node, expected);
}

static void conf_server_chaos(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                              void *target)
{
    conf_t *conf = target;
    conf_get_bool(ctx, what, node, &conf->chaos);
}

/* The account to run as once the sockets are bound; looked up when the
 * server starts (the config may be checked on another machine). */
static void conf_server_user(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                             void *target)
{
    conf_t *conf = target;
    conf_get_text(ctx, what, node, 32, &conf->user);
}

static void conf_server_group(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                              void *target)
{
    conf_t *conf = target;
    conf_get_text(ctx, what, node, 32, &conf->group);
}

static void conf_server_allow_root(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                   void *target)
{
    conf_t *conf = target;
    conf_get_bool(ctx, what, node, &conf->allow_root);
}

static void conf_server_version(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                void *target)
{
    conf_t *conf = target;
    conf_get_text(ctx, what, node, CONF_MAX_TXT, &conf->chaos_version);
}

static void conf_server_identity(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                 void *target)
{
    conf_t *conf = target;
    conf_get_text(ctx, what, node, CONF_MAX_TXT, &conf->chaos_identity);
}

static void conf_server_log_level(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                  void *target)
{
    static const char *expected = "one of error, warning, info, debug";
    conf_t *conf = target;
    const char *text = conf_scalar(ctx, what, node, expected);
    int level;

    if (!text)
        return;
    level = log_level_parse(text);
    if (level < 0) {
        conf_expected(ctx, what, node, expected);
        return;
    }
    conf->log_level = level;
}

/* Where log lines go: standard error (foreground, under systemd) or syslog. */
static void conf_server_log(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                            void *target)
{
    static const char *expected = "stderr or syslog";
    conf_t *conf = target;
    const char *text = conf_scalar(ctx, what, node, expected);

    if (!text)
        return;
    if (strcmp(text, "stderr") == 0)
        conf->syslog = false;
    else if (strcmp(text, "syslog") == 0)
        conf->syslog = true;
    else
        conf_expected(ctx, what, node, expected);
}

static void conf_server_state_file(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                   void *target)
{
    conf_t *conf = target;
    conf_get_path(ctx, what, node, "a file name", &conf->state_file);
}

/* "" is allowed here, unlike other paths: it is how an operator turns the
 * control socket off. */
static void conf_server_control(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                void *target)
{
    conf_t *conf = target;
    static const char *expected = "a socket path (at most 107 bytes once resolved) or \"\"";
    const char *text = conf_scalar(ctx, what, node, expected);
    char *path;

    if (!text)
        return;
    path = text[0] ? conf_resolve_path(ctx, text) : conf_xstrdup("");
    /* sun_path holds 108 bytes with the NUL: a longer path cannot be bound */
    if (strlen(path) > 107) {
        free(path);
        conf_expected(ctx, what, node, expected);
        return;
    }
    free(conf->control);
    conf->control = path;
}

static const conf_key_t conf_server_keys[] = {
    {"listen", conf_server_listen, false},
    {"workers", conf_server_workers, false},
    {"max_udp_size", conf_server_max_udp_size, false},
    {"tcp_idle_timeout", conf_server_tcp_idle_timeout, false},
    {"tcp_max_connections", conf_server_tcp_max_connections, false},
    {"tcp_max_pipeline", conf_server_tcp_max_pipeline, false},
    {"tcp_max_per_address", conf_server_tcp_max_per_address, false},
    {"tcp_max_per_ipv6_64", conf_server_tcp_max_per_ipv6_64, false},
    {"tcp_max_queued_bytes", conf_server_tcp_max_queued_bytes, false},
    {"tcp_max_queued_total", conf_server_tcp_max_queued_total, false},
    {"tcp_write_timeout", conf_server_tcp_write_timeout, false},
    {"nsid", conf_server_nsid, false},
    {"chaos", conf_server_chaos, false},
    {"version", conf_server_version, false},
    {"identity", conf_server_identity, false},
    {"log_level", conf_server_log_level, false},
    {"log", conf_server_log, false},
    {"state_file", conf_server_state_file, false},
    {"control", conf_server_control, false},
    {"user", conf_server_user, false},
    {"group", conf_server_group, false},
    {"allow_root", conf_server_allow_root, false},
};

static void conf_section_server(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                void *target)
{
    conf_parse_keys(ctx, what, node, conf_server_keys,
                    sizeof(conf_server_keys) / sizeof(conf_server_keys[0]), target);
    /* The group is the one the daemon takes when it becomes user: alone it
     * would be silently ignored. */
    const conf_t *conf = target;
    bool alone = conf->group && !conf->user && node->type == CONF_NODE_MAP;
    for (size_t i = 0; alone && i + 1 < node->n_items; i += 2) {
        const conf_node_t *key = node->items[i];
        if (key->type == CONF_NODE_SCALAR && strcmp(key->text, "group") == 0)
            conf_error_at(ctx, key->line, key->col,
                          "server.group: needs server.user (the group is taken with it)");
    }
}

/* ------------------------------------------------------------ zones: */

static void conf_zone_set_file(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                               conf_zone_t *zone)
{
    conf_get_path(ctx, what, node, "a zone file name", &zone->file);
}

static void conf_zone_file(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                           void *target)
{
    conf_zone_set_file(ctx, what, node, target);
}

/* The origin is made absolute: in a config file every zone name is, with
 * or without its final dot. */
static void conf_zone_origin(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                             void *target)
{
    static const char *expected = "a domain name such as \"example.com.\"";
    conf_zone_t *zone = target;
    const char *text = conf_scalar(ctx, what, node, expected);
    char *origin;

    if (!text)
        return;
    origin = conf_domain_name(text, false, true);
    if (!origin) {
        conf_expected(ctx, what, node, expected);
        return;
    }
    free(zone->origin);
    zone->origin = origin;
}

static const conf_key_t conf_zone_keys[] = {
    {"file", conf_zone_file, true},
    {"origin", conf_zone_origin, false},
};

static void conf_section_zones(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                               void *target)
{
    conf_t *conf = target;

    if (node->type == CONF_NODE_SCALAR && node->is_null)
        return; /* "zones:" alone: no zones, every query is REFUSED */
    if (node->type != CONF_NODE_LIST) {
        conf_expected(ctx, what, node, "a list of zone files");
        return;
    }
    if (node->n_items == 0)
        return;
    conf->zones = conf_xrealloc(conf->zones, node->n_items, sizeof(*conf->zones));
    for (size_t i = 0; i < node->n_items; i++) {
        const conf_node_t *item = node->items[i];
        conf_zone_t *zone = &conf->zones[conf->n_zones];
        char entry[64];

        memset(zone, 0, sizeof(*zone));
        snprintf(entry, sizeof(entry), "%s[%zu]", what, i);
        if (item->type == CONF_NODE_MAP)
            conf_parse_keys(ctx, entry, item, conf_zone_keys,
                            sizeof(conf_zone_keys) / sizeof(conf_zone_keys[0]), zone);
        else if (item->type == CONF_NODE_SCALAR && !item->is_null)
            conf_zone_set_file(ctx, entry, item, zone);
        else
            conf_expected(ctx, entry, item, "a zone file name or a mapping with file and origin");
        if (!zone->file) {
            free(zone->origin); /* already reported */
            continue;
        }
        zone->conf_file = conf->path;
        zone->conf_line = item->line;
        conf->n_zones++;
    }
}

/* ------------------------------------------------------------ networks */

enum conf_net_status { CONF_NET_OK, CONF_NET_SYNTAX, CONF_NET_PREFIX, CONF_NET_HOST_BITS };

/* Parses "address[/prefix]". On CONF_NET_HOST_BITS out holds the network
 * with those bits cleared, so the message can say what was meant. */
static enum conf_net_status conf_network_read(const char *text, conf_network_t *out)
{
    char addr[INET6_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    size_t addr_len = slash ? (size_t)(slash - text) : strlen(text);
    unsigned max, prefix = 0;
    bool host_bits = false;

    memset(out, 0, sizeof(*out));
    if (addr_len == 0 || addr_len >= sizeof(addr))
        return CONF_NET_SYNTAX;
    memcpy(addr, text, addr_len);
    addr[addr_len] = '\0';
    if (strchr(addr, ':')) {
        if (inet_pton(AF_INET6, addr, out->addr) != 1)
            return CONF_NET_SYNTAX;
        out->family = AF_INET6;
        max = 128;
    } else {
        if (inet_pton(AF_INET, addr, out->addr) != 1)
            return CONF_NET_SYNTAX;
        out->family = AF_INET;
        max = 32;
    }
    if (slash) {
        const char *p = slash + 1;
        size_t n = strspn(p, "0123456789");
        /* "/024" could be read as octal or decimal: refuse both */
        if (n == 0 || p[n] != '\0' || (p[0] == '0' && n > 1))
            return CONF_NET_SYNTAX;
        if (n > 3)
            return CONF_NET_PREFIX;
        for (size_t i = 0; i < n; i++)
            prefix = prefix * 10 + (unsigned)(p[i] - '0');
        if (prefix > max)
            return CONF_NET_PREFIX;
    } else {
        prefix = max;
    }
    out->prefix = (uint8_t)prefix;
    for (unsigned bit = prefix; bit < max; bit++) {
        uint8_t mask = (uint8_t)(0x80u >> (bit % 8));
        if (out->addr[bit / 8] & mask) {
            host_bits = true;
            out->addr[bit / 8] &= (uint8_t)~mask;
        }
    }
    return host_bits ? CONF_NET_HOST_BITS : CONF_NET_OK;
}

static const char *conf_network_text(const conf_network_t *net, char *buf, size_t size)
{
    char addr[INET6_ADDRSTRLEN] = "?";

    inet_ntop(net->family, net->addr, addr, sizeof(addr));
    snprintf(buf, size, "%s/%u", addr, (unsigned)net->prefix);
    return buf;
}

static bool conf_network_equal(const conf_network_t *a, const conf_network_t *b)
{
    return a->family == b->family && a->prefix == b->prefix &&
           memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* ------------------------------------------------------------ geoip: */

/* Splits "subdivisions.0.iso_code" into its components, each in its own
 * allocation. Returns false (allocating nothing) when a component is
 * empty or there are too many. */
static bool conf_field_path_split(const char *text, conf_field_path_t *path)
{
    size_t n = 0;

    memset(path, 0, sizeof(*path));
    for (const char *p = text;; n++) {
        size_t len = strcspn(p, ".");
        char *part;

        if (len == 0 || n == CONF_MAX_FIELD_PATH) {
            for (size_t i = 0; i < n; i++)
                free((void *)path->part[i]);
            memset(path, 0, sizeof(*path));
            return false;
        }
        part = conf_xcalloc(len + 1, 1);
        memcpy(part, p, len);
        path->part[n] = part;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    return true;
}

static void conf_field_paths_free(conf_field_path_t *paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; paths[i].part[k]; k++)
            free((void *)paths[i].part[k]);
    free(paths);
}

_Static_assert(CONF_MAX_FIELD_PATH == 8, "the message below says 8");

/* One path or a non-empty list of alternatives. */
static void conf_get_field_paths(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                 conf_field_path_t **out, size_t *n_out)
{
    static const char *expected_path =
        "a field path such as \"country.iso_code\" (1 to 8 components, none empty)";
    bool is_list = node->type == CONF_NODE_LIST;
    size_t n_items = is_list ? node->n_items : 1, n = 0;
    conf_field_path_t *paths;

    if (is_list ? n_items == 0 : node->type != CONF_NODE_SCALAR || node->is_null) {
        conf_expected(ctx, what, node, "a field path or a non-empty list of field paths");
        return;
    }
    paths = conf_xcalloc(n_items, sizeof(*paths));
    for (size_t i = 0; i < n_items; i++) {
        const conf_node_t *item = is_list ? node->items[i] : node;
        char item_what[CONF_WHAT_SIZE];
        const char *text;

        if (is_list)
            conf_path(item_what, "%s[%zu]", what, i);
        else
            conf_path(item_what, "%s", what);
        text = conf_scalar(ctx, item_what, item, expected_path);
        if (!text)
            continue;
        if (!conf_field_path_split(text, &paths[n])) {
            conf_expected(ctx, item_what, item, expected_path);
            continue;
        }
        n++;
    }
    conf_field_paths_free(*out, *n_out);
    *out = paths;
    *n_out = n;
}

static void conf_field_continent(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                 void *target)
{
    conf_geo_fields_t *f = target;
    conf_get_field_paths(ctx, what, node, &f->continent, &f->n_continent);
}

static void conf_field_country(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                               void *target)
{
    conf_geo_fields_t *f = target;
    conf_get_field_paths(ctx, what, node, &f->country, &f->n_country);
}

static void conf_field_subdivision(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                   void *target)
{
    conf_geo_fields_t *f = target;
    conf_get_field_paths(ctx, what, node, &f->subdivision, &f->n_subdivision);
}

static void conf_field_latitude(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                void *target)
{
    conf_geo_fields_t *f = target;
    conf_get_field_paths(ctx, what, node, &f->latitude, &f->n_latitude);
}

static void conf_field_longitude(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                 void *target)
{
    conf_geo_fields_t *f = target;
    conf_get_field_paths(ctx, what, node, &f->longitude, &f->n_longitude);
}

static const conf_key_t conf_field_keys[] = {
    {"continent", conf_field_continent, false},
    {"country", conf_field_country, false},
    {"subdivision", conf_field_subdivision, false},
    {"latitude", conf_field_latitude, false},
    {"longitude", conf_field_longitude, false},
};

static void conf_geoip_database(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                void *target)
{
    conf_geoip_t *geoip = target;
    conf_get_path(ctx, what, node, "a file name", &geoip->database);
}

static void conf_geoip_countries(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                 void *target)
{
    conf_geoip_t *geoip = target;
    conf_get_path(ctx, what, node, "a file name", &geoip->countries);
}

static void conf_geoip_fields(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                              void *target)
{
    conf_geoip_t *geoip = target;
    conf_parse_keys(ctx, what, node, conf_field_keys,
                    sizeof(conf_field_keys) / sizeof(conf_field_keys[0]), &geoip->fields);
}

static const conf_key_t conf_geoip_keys[] = {
    {"database", conf_geoip_database, false},
    {"countries", conf_geoip_countries, false},
    {"fields", conf_geoip_fields, false},
};

static void conf_section_geoip(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                               void *target)
{
    conf_t *conf = target;

    conf->geoip.conf_file = conf->path;
    conf->geoip.conf_line = node->line;
    conf_parse_keys(ctx, what, node, conf_geoip_keys,
                    sizeof(conf_geoip_keys) / sizeof(conf_geoip_keys[0]), &conf->geoip);
}

/* ------------------------------------------------------------ datacenters: */

static const char *const conf_continent_codes[] = {"AF", "AN", "AS", "EU", "NA", "OC", "SA"};

/* Upper-cases text in place; true when it is one of the seven codes. */
static bool conf_continent_ok(char *text)
{
    conf_upper(text);
    for (size_t i = 0; i < sizeof(conf_continent_codes) / sizeof(conf_continent_codes[0]); i++)
        if (strcmp(text, conf_continent_codes[i]) == 0)
            return true;
    return false;
}

/* Two ASCII letters, upper-cased in place; ISO 3166 itself is the
 * country table's business. */
static bool conf_country_ok(char *text)
{
    if (!conf_is_alpha(text[0]) || !conf_is_alpha(text[1]) || text[2] != '\0')
        return false;
    conf_upper(text);
    return true;
}

/* "CC-SUB" as ISO 3166-2 writes it: "US-CA", "GB-ENG", "FR-75". */
static bool conf_subdivision_ok(char *text)
{
    size_t n;

    if (!conf_is_alpha(text[0]) || !conf_is_alpha(text[1]) || text[2] != '-')
        return false;
    for (n = 0; conf_is_alnum(text[3 + n]); n++)
        ;
    if (n < 1 || n > 3 || text[3 + n] != '\0')
        return false;
    conf_upper(text);
    return true;
}

/* Decimal degrees only ("53.35", "-6.26", "0"): no exponents, hex, inf
 * or nan, which strtod would take. */
static bool conf_parse_degrees(const char *text, double limit, double *out)
{
    size_t i = 0, digits = 0;
    double v;

    if (text[i] == '-' || text[i] == '+')
        i++;
    for (; text[i] >= '0' && text[i] <= '9'; i++)
        digits++;
    if (text[i] == '.')
        for (i++; text[i] >= '0' && text[i] <= '9'; i++)
            digits++;
    if (digits == 0 || text[i] != '\0')
        return false;
    v = strtod(text, NULL);
    if (!(v >= -limit && v <= limit))
        return false;
    *out = v;
    return true;
}

/* Data center and health check names: short, and safe in messages,
 * metrics labels and control commands. */
static bool conf_name_ok(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && len <= 63 && strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                 "0123456789_.-") == len;
}

static int conf_datacenter_find(const conf_t *conf, const char *name)
{
    for (size_t i = 0; i < conf->n_datacenters; i++)
        if (strcmp(conf->datacenters[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* An unknown name is most often a typo: the message lists what exists,
 * the n names that name_at gives, as far as they fit. */
static void conf_unknown_name(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                              const char *kind, const char *(*name_at)(const conf_t *, size_t),
                              size_t n)
{
    char declared[400] = "none", quoted[CONF_QUOTE_SIZE];
    size_t used = 0;

    for (size_t i = 0; i < n; i++) {
        const char *name = name_at(ctx->conf, i);
        const char *sep = i ? ", " : "";
        /* room for this name, its separator, and ", ..." after it */
        if (used + strlen(sep) + strlen(name) + 6 >= sizeof(declared)) {
            snprintf(declared + used, sizeof(declared) - used, "%s...", sep);
            break;
        }
        used += (size_t)snprintf(declared + used, sizeof(declared) - used, "%s%s", sep, name);
    }
    conf_error_at(ctx, node->line, node->col, "%s: unknown %s %s (declared: %s)", what, kind,
                  conf_describe(node, quoted, sizeof(quoted)), declared);
}

static const char *conf_datacenter_name_at(const conf_t *conf, size_t i)
{
    return conf->datacenters[i].name;
}

static void conf_unknown_datacenter(conf_ctx_t *ctx, const char *what, const conf_node_t *node)
{
    conf_unknown_name(ctx, what, node, "data center", conf_datacenter_name_at,
                      ctx->conf->n_datacenters);
}

static void conf_datacenter_location(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                     void *target)
{
    static const char *const names[] = {"a latitude from -90 to 90",
                                        "a longitude from -180 to 180"};
    static const double limits[] = {90, 180};
    conf_datacenter_t *dc = target;
    double v[2];
    bool ok = true;

    if (node->type != CONF_NODE_LIST || node->n_items != 2) {
        conf_expected(ctx, what, node, "a list of two numbers, [latitude, longitude]");
        return;
    }
    for (size_t i = 0; i < 2; i++) {
        char item_what[CONF_WHAT_SIZE];
        const char *text;

        conf_path(item_what, "%s[%zu]", what, i);
        text = conf_scalar(ctx, item_what, node->items[i], names[i]);
        if (!text) {
            ok = false;
        } else if (!conf_parse_degrees(text, limits[i], &v[i])) {
            conf_expected(ctx, item_what, node->items[i], names[i]);
            ok = false;
        }
    }
    if (!ok)
        return;
    dc->has_location = true;
    dc->lat = v[0];
    dc->lon = v[1];
}

/* Copies a scalar of at most 3 bytes (codes) into buf, or returns false;
 * the caller reports. */
static bool conf_get_code(const conf_node_t *node, char *buf, size_t size)
{
    if (node->type != CONF_NODE_SCALAR || node->is_null || node->len >= size ||
        strlen(node->text) != node->len)
        return false;
    memcpy(buf, node->text, node->len + 1);
    return true;
}

static void conf_datacenter_continent(conf_ctx_t *ctx, const char *what,
                                      const conf_node_t *node, void *target)
{
    conf_datacenter_t *dc = target;
    char code[3];

    if (!conf_get_code(node, code, sizeof(code)) || !conf_continent_ok(code)) {
        conf_expected(ctx, what, node, "a continent code: AF, AN, AS, EU, NA, OC or SA");
        return;
    }
    memcpy(dc->continent, code, sizeof(code));
}

static void conf_datacenter_country(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                    void *target)
{
    conf_datacenter_t *dc = target;
    char code[3];

    if (!conf_get_code(node, code, sizeof(code)) || !conf_country_ok(code)) {
        conf_expected(ctx, what, node, "a two-letter country code such as \"IE\"");
        return;
    }
    memcpy(dc->country, code, sizeof(code));
}

static const conf_key_t conf_datacenter_keys[] = {
    {"location", conf_datacenter_location, false},
    {"continent", conf_datacenter_continent, false},
    {"country", conf_datacenter_country, false},
};

static void conf_section_datacenters(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                     void *target)
{
    static const char *expected_name =
        "a data center name (1 to 63 letters, digits, '_', '.' or '-')";
    conf_t *conf = target;
    size_t n;

    if (node->type == CONF_NODE_SCALAR && node->is_null)
        return;
    if (node->type != CONF_NODE_MAP) {
        conf_expected(ctx, what, node, "a mapping of data center names to their details");
        return;
    }
    n = node->n_items / 2;
    conf->datacenters = conf_xcalloc(n < CONF_MAX_DATACENTERS ? n : CONF_MAX_DATACENTERS,
                                     sizeof(*conf->datacenters));
    for (size_t i = 0; i + 1 < node->n_items; i += 2) {
        const conf_node_t *key = node->items[i], *value = node->items[i + 1];
        char dc_what[CONF_WHAT_SIZE];
        conf_datacenter_t *dc;
        const char *name = conf_scalar(ctx, what, key, expected_name);
        int found;

        if (!name)
            continue;
        if (!conf_name_ok(name)) {
            conf_expected(ctx, what, key, expected_name);
            continue;
        }
        found = conf_datacenter_find(conf, name);
        if (found >= 0) {
            conf_error_at(ctx, key->line, key->col,
                          "%s: duplicate data center \"%s\" (first given at line %u)", what,
                          name, conf->datacenters[found].conf_line);
            continue;
        }
        if (conf->n_datacenters == CONF_MAX_DATACENTERS) {
            conf_error_at(ctx, key->line, key->col, "%s: more than %d data centers", what,
                          CONF_MAX_DATACENTERS);
            return;
        }
        dc = &conf->datacenters[conf->n_datacenters++];
        dc->name = conf_xstrdup(name);
        dc->conf_file = conf->path;
        dc->conf_line = key->line;
        conf_path(dc_what, "%s.%s", what, name);
        conf_parse_keys(ctx, dc_what, value, conf_datacenter_keys,
                        sizeof(conf_datacenter_keys) / sizeof(conf_datacenter_keys[0]), dc);
    }
}

/* ------------------------------------------------------------ health_checks: */

#define CONF_CHECK_TYPES 4
static const char *const conf_check_type_names[CONF_CHECK_TYPES] = {"tcp", "http", "https",
                                                                    "file"};
_Static_assert(CONF_CHECK_FILE == CONF_CHECK_TYPES - 1, "a type without a name");

#define CONF_CHECK_BIT(type) (1u << (type))
/* the types that probe an address over the network */
#define CONF_CHECK_NET                                                                     \
    (CONF_CHECK_BIT(CONF_CHECK_TCP) | CONF_CHECK_BIT(CONF_CHECK_HTTP) |                   \
     CONF_CHECK_BIT(CONF_CHECK_HTTPS))
#define CONF_CHECK_WEB (CONF_CHECK_BIT(CONF_CHECK_HTTP) | CONF_CHECK_BIT(CONF_CHECK_HTTPS))
#define CONF_MAX_CHECK_PATH 1024
#define CONF_MAX_CHECK_BODY 1024

_Static_assert(CONF_MAX_CHECK_PATH == 1024 && CONF_MAX_CHECK_BODY == 1024,
               "the messages below say 1024");

/* A check while its keys are read. Which keys belong depends on the type,
 * so the type is looked up before the keys are read, in whatever order
 * they were written. */
typedef struct conf_check_build {
    conf_health_check_t *check;
    int type; /* enum conf_check_type, or -1: missing or bad (reported) */
    const conf_node_t *interval, *timeout, *port, *file; /* where given */
    bool timing_bad; /* interval or timeout was reported: do not compare them */
} conf_check_build_t;

static int conf_check_type_find(const char *text)
{
    for (size_t i = 0; i < CONF_CHECK_TYPES; i++)
        if (strcmp(text, conf_check_type_names[i]) == 0)
            return (int)i;
    return -1;
}

/* The type a check's mapping names, or -1; the type's own key function
 * reports what is wrong with it. A repeated key counts the first time, as
 * in conf_parse_keys(). */
static int conf_check_peek_type(const conf_node_t *map)
{
    if (map->type != CONF_NODE_MAP)
        return -1;
    for (size_t i = 0; i + 1 < map->n_items; i += 2) {
        const conf_node_t *key = map->items[i], *value = map->items[i + 1];

        if (key->type != CONF_NODE_SCALAR || !conf_key_is(key, "type"))
            continue;
        if (value->type != CONF_NODE_SCALAR || value->is_null ||
            strlen(value->text) != value->len)
            return -1;
        return conf_check_type_find(value->text);
    }
    return -1;
}

/* Whether a key with this set of types belongs to the check; reports it
 * when not, since a value that would be ignored is a mistake. Without a
 * valid type (reported already) every key is read, so that its value is
 * still checked. */
static bool conf_check_applies(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                               const conf_check_build_t *b, unsigned types)
{
    char allowed[64] = "";
    size_t used = 0, total = 0, count = 0;

    if (b->type < 0 || (types & CONF_CHECK_BIT(b->type)))
        return true;
    for (size_t t = 0; t < CONF_CHECK_TYPES; t++)
        total += (types & CONF_CHECK_BIT(t)) != 0;
    for (size_t t = 0; t < CONF_CHECK_TYPES; t++) {
        if (!(types & CONF_CHECK_BIT(t)))
            continue;
        count++;
        used += (size_t)snprintf(allowed + used, sizeof(allowed) - used, "%s%s",
                                 count == 1 ? "" : count == total ? " or " : ", ",
                                 conf_check_type_names[t]);
    }
    conf_error_at(ctx, node->line, node->col, "%s: only allowed with type %s (the type is %s)",
                  what, allowed, conf_check_type_names[b->type]);
    return false;
}

static void conf_check_type(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                            void *target)
{
    static const char *expected = "one of tcp, http, https, file";
    conf_check_build_t *b = target;
    const char *text = conf_scalar(ctx, what, node, expected);
    int type;

    if (!text)
        return;
    type = conf_check_type_find(text);
    if (type < 0) {
        conf_expected(ctx, what, node, expected);
        return;
    }
    b->check->type = (enum conf_check_type)type;
}

/* interval and timeout: each with its own bounds here; that the timeout
 * is shorter than the interval is checked once both are known. */
static void conf_check_duration(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                conf_check_build_t *b, const conf_node_t **seen,
                                unsigned min_ms, unsigned *out)
{
    unsigned errors = ctx->errors;

    if (!conf_check_applies(ctx, what, node, b, CONF_CHECK_NET))
        return;
    *seen = node;
    conf_get_duration_ms(ctx, what, node, min_ms, 3600000, out);
    b->timing_bad = b->timing_bad || ctx->errors != errors;
}

static void conf_check_interval(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                void *target)
{
    conf_check_build_t *b = target;
    conf_check_duration(ctx, what, node, b, &b->interval, 100, &b->check->interval_ms);
}

static void conf_check_timeout(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                               void *target)
{
    conf_check_build_t *b = target;
    conf_check_duration(ctx, what, node, b, &b->timeout, 10, &b->check->timeout_ms);
}

static void conf_check_port(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                            void *target)
{
    conf_check_build_t *b = target;
    unsigned port = 0;

    if (!conf_check_applies(ctx, what, node, b, CONF_CHECK_NET))
        return;
    b->port = node;
    conf_get_uint(ctx, what, node, 1, 65535, &port);
    if (port)
        b->check->port = (uint16_t)port;
}

/* Printable ASCII without spaces: the text goes into an HTTP request
 * line or header as it is, where a space or a line break would end it. */
static bool conf_http_token_ok(const char *text)
{
    for (; *text; text++)
        if ((unsigned char)*text <= ' ' || (unsigned char)*text >= 0x7f)
            return false;
    return true;
}

static void conf_check_path(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                            void *target)
{
    static const char *expected = "a path such as \"/healthz\" (starting with '/', at most "
                                  "1024 bytes of printable ASCII, no spaces)";
    conf_check_build_t *b = target;
    const char *text;

    if (!conf_check_applies(ctx, what, node, b, CONF_CHECK_WEB))
        return;
    text = conf_scalar(ctx, what, node, expected);
    if (!text)
        return;
    if (text[0] != '/' || node->len > CONF_MAX_CHECK_PATH || !conf_http_token_ok(text)) {
        conf_expected(ctx, what, node, expected);
        return;
    }
    free(b->check->path);
    b->check->path = conf_xstrdup(text);
}

static void conf_check_host(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                            void *target)
{
    static const char *expected = "a host name such as \"www.example.com\" (1 to 255 bytes of "
                                  "printable ASCII, no spaces)";
    conf_check_build_t *b = target;
    const char *text;

    if (!conf_check_applies(ctx, what, node, b, CONF_CHECK_WEB))
        return;
    text = conf_scalar(ctx, what, node, expected);
    if (!text)
        return;
    if (node->len == 0 || node->len > 255 || !conf_http_token_ok(text)) {
        conf_expected(ctx, what, node, expected);
        return;
    }
    free(b->check->host);
    b->check->host = conf_xstrdup(text);
}

static void conf_check_expect_status(conf_ctx_t *ctx, const char *what,
                                     const conf_node_t *node, void *target)
{
    conf_check_build_t *b = target;

    if (conf_check_applies(ctx, what, node, b, CONF_CHECK_WEB))
        conf_get_uint(ctx, what, node, 100, 599, &b->check->expect_status);
}

static void conf_check_expect_body(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                   void *target)
{
    static const char *expected = "a text of 1 to 1024 bytes";
    conf_check_build_t *b = target;
    const char *text;

    if (!conf_check_applies(ctx, what, node, b, CONF_CHECK_WEB))
        return;
    text = conf_scalar(ctx, what, node, expected);
    if (!text)
        return;
    /* an empty text is in every body: it would check nothing */
    if (node->len == 0 || node->len > CONF_MAX_CHECK_BODY) {
        conf_expected(ctx, what, node, expected);
        return;
    }
    free(b->check->expect_body);
    b->check->expect_body = conf_xstrdup(text);
}

static void conf_check_verify_tls(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                  void *target)
{
    conf_check_build_t *b = target;

    if (conf_check_applies(ctx, what, node, b, CONF_CHECK_BIT(CONF_CHECK_HTTPS)))
        conf_get_bool(ctx, what, node, &b->check->verify_tls);
}

static void conf_check_file(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                            void *target)
{
    conf_check_build_t *b = target;

    if (!conf_check_applies(ctx, what, node, b, CONF_CHECK_BIT(CONF_CHECK_FILE)))
        return;
    b->file = node;
    conf_get_path(ctx, what, node, "a file name", &b->check->file);
}

/* File states apply as soon as the file changes: no thresholds there. */
static void conf_check_down_after(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                  void *target)
{
    conf_check_build_t *b = target;

    if (conf_check_applies(ctx, what, node, b, CONF_CHECK_NET))
        conf_get_uint(ctx, what, node, 1, 100, &b->check->down_after);
}

static void conf_check_up_after(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                void *target)
{
    conf_check_build_t *b = target;

    if (conf_check_applies(ctx, what, node, b, CONF_CHECK_NET))
        conf_get_uint(ctx, what, node, 1, 100, &b->check->up_after);
}

static const conf_key_t conf_check_keys[] = {
    {"type", conf_check_type, true},
    {"port", conf_check_port, false},
    {"path", conf_check_path, false},
    {"host", conf_check_host, false},
    {"expect_status", conf_check_expect_status, false},
    {"expect_body", conf_check_expect_body, false},
    {"verify_tls", conf_check_verify_tls, false},
    {"file", conf_check_file, false},
    {"interval", conf_check_interval, false},
    {"timeout", conf_check_timeout, false},
    {"down_after", conf_check_down_after, false},
    {"up_after", conf_check_up_after, false},
};

/* What depends on more than one key: the keys a type needs, the defaults
 * that depend on the type, and the timeout against the interval. */
static void conf_check_finish(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                              conf_check_build_t *b)
{
    conf_health_check_t *check = b->check;
    char interval[16], timeout[16];

    if (b->type < 0)
        return;
    if (b->type == CONF_CHECK_TCP && !b->port)
        conf_error_at(ctx, node->line, node->col,
                      "%s: missing key \"port\" (required with type tcp)", what);
    if (b->type == CONF_CHECK_FILE && !b->file)
        conf_error_at(ctx, node->line, node->col,
                      "%s: missing key \"file\" (required with type file)", what);
    if (b->type == CONF_CHECK_HTTP || b->type == CONF_CHECK_HTTPS) {
        if (!check->path)
            check->path = conf_xstrdup("/");
        if (!b->port)
            check->port = b->type == CONF_CHECK_HTTP ? 80 : 443;
    }
    if (b->timing_bad || check->timeout_ms < check->interval_ms)
        return;
    conf_format_ms(interval, sizeof(interval), check->interval_ms);
    conf_format_ms(timeout, sizeof(timeout), check->timeout_ms);
    /* a check still running when the next is due would overlap it */
    if (b->timeout)
        conf_error_at(ctx, b->timeout->line, b->timeout->col,
                      "%s.timeout: %s must be shorter than the interval (%s)", what, timeout,
                      interval);
    else
        conf_error_at(ctx, b->interval->line, b->interval->col,
                      "%s.interval: %s must be longer than the timeout (%s, the default; "
                      "set timeout)",
                      what, interval, timeout);
}

static const char *conf_check_name_at(const conf_t *conf, size_t i)
{
    return conf->health_checks[i].name;
}

static int conf_check_find(const conf_t *conf, const char *name)
{
    for (size_t i = 0; i < conf->n_health_checks; i++)
        if (strcmp(conf->health_checks[i].name, name) == 0)
            return (int)i;
    return -1;
}

static void conf_section_health_checks(conf_ctx_t *ctx, const char *what,
                                       const conf_node_t *node, void *target)
{
    static const char *expected_name =
        "a health check name (1 to 63 letters, digits, '_', '.' or '-')";
    conf_t *conf = target;

    if (node->type == CONF_NODE_SCALAR && node->is_null)
        return;
    if (node->type != CONF_NODE_MAP) {
        conf_expected(ctx, what, node, "a mapping of health check names to checks");
        return;
    }
    conf->health_checks = conf_xcalloc(node->n_items / 2, sizeof(*conf->health_checks));
    for (size_t i = 0; i + 1 < node->n_items; i += 2) {
        const conf_node_t *key = node->items[i], *value = node->items[i + 1];
        char check_what[CONF_WHAT_SIZE];
        conf_health_check_t *check;
        conf_check_build_t b = {0};
        const char *name = conf_scalar(ctx, what, key, expected_name);
        int found;

        if (!name)
            continue;
        if (!conf_name_ok(name)) {
            conf_expected(ctx, what, key, expected_name);
            continue;
        }
        found = conf_check_find(conf, name);
        if (found >= 0) {
            conf_error_at(ctx, key->line, key->col,
                          "%s: duplicate health check \"%s\" (first given at line %u)", what,
                          name, conf->health_checks[found].conf_line);
            continue;
        }
        /* kept even when its keys are bad, so that services naming it do
         * not add errors of their own */
        check = &conf->health_checks[conf->n_health_checks++];
        check->name = conf_xstrdup(name);
        check->interval_ms = CONF_DEFAULT_CHECK_INTERVAL_MS;
        check->timeout_ms = CONF_DEFAULT_CHECK_TIMEOUT_MS;
        check->expect_status = 200;
        check->verify_tls = true;
        check->down_after = CONF_DEFAULT_DOWN_AFTER;
        check->up_after = CONF_DEFAULT_UP_AFTER;
        check->conf_file = conf->path;
        check->conf_line = key->line;
        b.check = check;
        b.type = conf_check_peek_type(value);
        conf_path(check_what, "%s.%s", what, name);
        conf_parse_keys(ctx, check_what, value, conf_check_keys,
                        sizeof(conf_check_keys) / sizeof(conf_check_keys[0]), &b);
        conf_check_finish(ctx, check_what, value, &b);
    }
}

/* ------------------------------------------------------------ services: */

/* A service while its keys are read: the keys holding rules are only
 * remembered, then read once the policy is known and the pools are in
 * (rules may only name data centers with a pool), whatever the order in
 * which they were written. */
typedef struct conf_service_build {
    conf_service_t *svc;
    char what[CONF_WHAT_SIZE]; /* "services.www.example.com" */
    const conf_node_t *policy, *networks, *map, *default_order, *map_default;
    const conf_node_t *min_up, *failover_ttl;
    bool policy_bad; /* reported already: whether map belongs is unknown */
    bool pools_bad;  /* reported already: the pools' sizes are not what was meant */
} conf_service_build_t;

static bool conf_service_has_pool(const conf_service_t *svc, unsigned dc)
{
    for (size_t i = 0; i < svc->n_pools; i++)
        if (svc->pools[i].dc == dc)
            return true;
    return false;
}

/* A non-empty list of declared data centers with a pool in svc, each
 * once. Bad entries are reported and left out. */
static void conf_get_order(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                           const conf_service_t *svc, conf_dc_order_t *order)
{
    size_t first[CONF_MAX_DATACENTERS];
    bool seen[CONF_MAX_DATACENTERS] = {false};
    size_t cap;

    if (node->type != CONF_NODE_LIST || node->n_items == 0) {
        conf_expected(ctx, what, node, "a non-empty list of data centers");
        return;
    }
    /* past CONF_MAX_DATACENTERS every entry is a repeat or unknown */
    cap = node->n_items < CONF_MAX_DATACENTERS ? node->n_items : CONF_MAX_DATACENTERS;
    free(order->dc);
    order->dc = conf_xcalloc(cap, sizeof(*order->dc));
    order->n = 0;
    for (size_t i = 0; i < node->n_items; i++) {
        const conf_node_t *item = node->items[i];
        char item_what[CONF_WHAT_SIZE];
        const char *name;
        int dc;

        conf_path(item_what, "%s[%zu]", what, i);
        name = conf_scalar(ctx, item_what, item, "a data center name");
        if (!name)
            continue;
        dc = conf_datacenter_find(ctx->conf, name);
        if (dc < 0) {
            conf_unknown_datacenter(ctx, item_what, item);
        } else if (seen[dc]) {
            conf_error_at(ctx, item->line, item->col,
                          "%s: data center \"%s\" is listed twice (first at [%zu])", item_what,
                          name, first[dc]);
        } else if (!conf_service_has_pool(svc, (unsigned)dc)) {
            conf_error_at(ctx, item->line, item->col,
                          "%s: data center \"%s\" has no pool in this service", item_what,
                          name);
        } else {
            seen[dc] = true;
            first[dc] = i;
            order->dc[order->n++] = (uint8_t)dc;
        }
    }
}

static bool conf_get_address(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                             conf_network_t *out)
{
    static const char *expected =
        "an IPv4 or IPv6 address such as \"192.0.2.1\" or \"2001:db8::1\"";
    const char *text = conf_scalar(ctx, what, node, expected);

    if (!text)
        return false;
    if (strchr(text, '/') || conf_network_read(text, out) != CONF_NET_OK) {
        conf_expected(ctx, what, node, expected);
        return false;
    }
    return true;
}

/* One entry of a pool's addresses: "192.0.2.1", or the mapping
 * {address: 192.0.2.1, probe: 10.0.0.1} when the health check must reach
 * the address through something else (a NAT, a load balancer). */
typedef struct conf_pool_entry {
    conf_network_t addr, probe;
    const conf_node_t *addr_node, *probe_node; /* set when the value was good */
} conf_pool_entry_t;

static void conf_entry_address(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                               void *target)
{
    conf_pool_entry_t *e = target;

    if (conf_get_address(ctx, what, node, &e->addr))
        e->addr_node = node;
}

static void conf_entry_probe(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                             void *target)
{
    conf_pool_entry_t *e = target;

    if (conf_get_address(ctx, what, node, &e->probe))
        e->probe_node = node;
}

static const conf_key_t conf_pool_entry_keys[] = {
    {"address", conf_entry_address, true},
    {"probe", conf_entry_probe, false},
};

/* Reads one entry; false when it gave no usable address (reported). */
static bool conf_get_pool_entry(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                conf_pool_entry_t *e)
{
    char quoted[CONF_QUOTE_SIZE], addr_quoted[CONF_QUOTE_SIZE];

    memset(e, 0, sizeof(*e));
    if (node->type != CONF_NODE_MAP) {
        if (!conf_get_address(ctx, what, node, &e->addr))
            return false;
        e->addr_node = node;
        return true;
    }
    conf_parse_keys(ctx, what, node, conf_pool_entry_keys,
                    sizeof(conf_pool_entry_keys) / sizeof(conf_pool_entry_keys[0]), e);
    if (e->addr_node && e->probe_node && e->probe.family != e->addr.family) {
        /* a check would probe one family and the answer serve the other */
        conf_error_at(ctx, e->probe_node->line, e->probe_node->col,
                      "%s.probe: %s is an %s address but the address %s is %s", what,
                      conf_describe(e->probe_node, quoted, sizeof(quoted)),
                      e->probe.family == AF_INET ? "IPv4" : "IPv6",
                      conf_describe(e->addr_node, addr_quoted, sizeof(addr_quoted)),
                      e->addr.family == AF_INET ? "IPv4" : "IPv6");
        e->probe_node = NULL;
    }
    return e->addr_node != NULL;
}

static void conf_get_pool_addrs(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                conf_pool_t *pool)
{
    size_t *index; /* where each address kept was in the list, for messages */

    if (node->type != CONF_NODE_LIST || node->n_items == 0) {
        conf_expected(ctx, what, node, "a non-empty list of addresses");
        return;
    }
    free(pool->addrs);
    free(pool->probes);
    pool->addrs = conf_xcalloc(node->n_items, sizeof(*pool->addrs));
    pool->probes = conf_xcalloc(node->n_items, sizeof(*pool->probes));
    pool->n_addrs = 0;
    index = conf_xcalloc(node->n_items, sizeof(*index));
    for (size_t i = 0; i < node->n_items; i++) {
        char item_what[CONF_WHAT_SIZE], quoted[CONF_QUOTE_SIZE];
        conf_pool_entry_t e;
        size_t k;

        conf_path(item_what, "%s[%zu]", what, i);
        if (!conf_get_pool_entry(ctx, item_what, node->items[i], &e))
            continue;
        for (k = 0; k < pool->n_addrs && !conf_network_equal(&pool->addrs[k], &e.addr); k++)
            ;
        if (k < pool->n_addrs) {
            conf_error_at(ctx, e.addr_node->line, e.addr_node->col,
                          "%s: duplicate address %s (first at [%zu])", item_what,
                          conf_describe(e.addr_node, quoted, sizeof(quoted)), index[k]);
            continue;
        }
        index[pool->n_addrs] = i;
        if (e.probe_node)
            pool->probes[pool->n_addrs] = e.probe;
        pool->addrs[pool->n_addrs++] = e.addr;
    }
    free(index);
}

/* A pool being read in its mapping form, and where each key was. */
typedef struct conf_pool_build {
    conf_pool_t *pool;
    const conf_node_t *addresses, *cname;
} conf_pool_build_t;

static void conf_pool_addresses(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                void *target)
{
    conf_pool_build_t *b = target;
    b->addresses = node;
    conf_get_pool_addrs(ctx, what, node, b->pool);
}

static void conf_pool_cname(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                            void *target)
{
    static const char *expected = "a domain name such as \"www.example.net.\"";
    conf_pool_build_t *b = target;
    const char *text = conf_scalar(ctx, what, node, expected);
    char *name;

    b->cname = node;
    if (!text)
        return;
    name = conf_domain_name(text, true, false);
    if (!name) {
        conf_expected(ctx, what, node, expected);
        return;
    }
    free(b->pool->cname);
    b->pool->cname = name;
}

static const conf_key_t conf_pool_keys[] = {
    {"addresses", conf_pool_addresses, false},
    {"cname", conf_pool_cname, false},
};

static void conf_get_pool(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                          conf_pool_t *pool)
{
    conf_pool_build_t b = {.pool = pool};

    if (node->type == CONF_NODE_LIST) {
        conf_get_pool_addrs(ctx, what, node, pool);
        return;
    }
    if (node->type != CONF_NODE_MAP) {
        conf_expected(ctx, what, node, "a list of addresses or a mapping with cname");
        return;
    }
    conf_parse_keys(ctx, what, node, conf_pool_keys,
                    sizeof(conf_pool_keys) / sizeof(conf_pool_keys[0]), &b);
    /* one answer per data center: a CNAME cannot sit next to addresses */
    if (b.addresses && b.cname)
        conf_error_at(ctx, node->line, node->col, "%s: give either addresses or cname, not both",
                      what);
    else if (!b.addresses && !b.cname)
        conf_error_at(ctx, node->line, node->col, "%s: missing addresses or cname", what);
}

static void conf_get_pools(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                           conf_service_t *svc)
{
    if (node->type != CONF_NODE_MAP || node->n_items == 0) {
        conf_expected(ctx, what, node, "a non-empty mapping of data centers to addresses");
        return;
    }
    svc->pools = conf_xcalloc(node->n_items / 2, sizeof(*svc->pools));
    for (size_t i = 0; i + 1 < node->n_items; i += 2) {
        const conf_node_t *key = node->items[i], *value = node->items[i + 1];
        char pool_what[CONF_WHAT_SIZE];
        const char *name = conf_scalar(ctx, what, key, "a data center name");
        conf_pool_t *pool;
        int dc;

        if (!name)
            continue;
        dc = conf_datacenter_find(ctx->conf, name);
        if (dc < 0) {
            conf_unknown_datacenter(ctx, what, key);
            continue;
        }
        if (conf_service_has_pool(svc, (unsigned)dc)) {
            unsigned line = 0;
            for (size_t k = 0; k < svc->n_pools; k++)
                if (svc->pools[k].dc == dc)
                    line = svc->pools[k].conf_line;
            conf_error_at(ctx, key->line, key->col,
                          "%s: duplicate data center \"%s\" (first given at line %u)", what, name,
                          line);
            continue;
        }
        /* kept even when its addresses are bad, so that rules naming it
         * do not add errors of their own */
        pool = &svc->pools[svc->n_pools++];
        pool->dc = (uint8_t)dc;
        pool->conf_line = key->line;
        conf_path(pool_what, "%s.%s", what, name);
        conf_get_pool(ctx, pool_what, value, pool);
        /* every pool has one, so that users need not ask */
        if (!pool->probes)
            pool->probes = conf_xcalloc(1, sizeof(*pool->probes));
    }
}

static void conf_get_networks(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                              conf_service_t *svc)
{
    static const char *expected = "a network such as \"192.0.2.0/24\" or \"2001:db8::/32\"";

    if (node->type == CONF_NODE_SCALAR && node->is_null)
        return;
    if (node->type != CONF_NODE_MAP) {
        conf_expected(ctx, what, node, "a mapping of networks to lists of data centers");
        return;
    }
    svc->networks = conf_xrealloc(svc->networks, svc->n_networks + node->n_items / 2,
                                  sizeof(*svc->networks));
    for (size_t i = 0; i + 1 < node->n_items; i += 2) {
        const conf_node_t *key = node->items[i], *value = node->items[i + 1];
        char rule_what[CONF_WHAT_SIZE], quoted[CONF_QUOTE_SIZE], net_text[64];
        conf_network_rule_t *rule;
        conf_network_t net;
        const char *text = conf_scalar(ctx, what, key, expected);
        size_t k;

        if (!text)
            continue;
        switch (conf_network_read(text, &net)) {
        case CONF_NET_OK:
            break;
        case CONF_NET_SYNTAX:
            conf_expected(ctx, what, key, expected);
            continue;
        case CONF_NET_PREFIX:
            conf_error_at(ctx, key->line, key->col,
                          "%s: prefix length out of range in %s (0 to %u for %s)", what,
                          conf_describe(key, quoted, sizeof(quoted)),
                          net.family == AF_INET ? 32u : 128u,
                          net.family == AF_INET ? "IPv4" : "IPv6");
            continue;
        case CONF_NET_HOST_BITS:
            conf_error_at(ctx, key->line, key->col,
                          "%s: %s has bits set past the prefix length; the network is %s",
                          what, conf_describe(key, quoted, sizeof(quoted)),
                          conf_network_text(&net, net_text, sizeof(net_text)));
            continue;
        }
        for (k = 0; k < svc->n_networks && !conf_network_equal(&svc->networks[k].net, &net); k++)
            ;
        if (k < svc->n_networks) {
            conf_error_at(ctx, key->line, key->col,
                          "%s: duplicate network %s (first given at line %u)", what,
                          conf_network_text(&net, net_text, sizeof(net_text)),
                          svc->networks[k].conf_line);
            continue;
        }
        rule = &svc->networks[svc->n_networks++];
        memset(rule, 0, sizeof(*rule));
        rule->net = net;
        rule->conf_line = key->line;
        conf_path(rule_what, "%s.%s", what, text);
        conf_get_order(ctx, rule_what, value, svc, &rule->order);
    }
}

enum conf_rule_kind { CONF_RULE_SUBDIVISION, CONF_RULE_COUNTRY, CONF_RULE_CONTINENT };

static void conf_get_rules(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                           const conf_service_t *svc, enum conf_rule_kind kind,
                           conf_map_rule_t **rules, size_t *n_rules)
{
    static const char *const expected[] = {
        "a subdivision code such as \"US-CA\" (country, '-', 1 to 3 letters or digits)",
        "a two-letter country code such as \"GB\"",
        "a continent code: AF, AN, AS, EU, NA, OC or SA",
    };

    if (node->type == CONF_NODE_SCALAR && node->is_null)
        return;
    if (node->type != CONF_NODE_MAP) {
        conf_expected(ctx, what, node, "a mapping of codes to lists of data centers");
        return;
    }
    *rules = conf_xcalloc(node->n_items / 2, sizeof(**rules));
    for (size_t i = 0; i + 1 < node->n_items; i += 2) {
        const conf_node_t *key = node->items[i], *value = node->items[i + 1];
        char rule_what[CONF_WHAT_SIZE], code[8];
        conf_map_rule_t *rule;
        bool ok;
        size_t k;

        ok = conf_get_code(key, code, sizeof(code));
        if (ok && kind == CONF_RULE_SUBDIVISION)
            ok = conf_subdivision_ok(code);
        else if (ok && kind == CONF_RULE_COUNTRY)
            ok = conf_country_ok(code);
        else if (ok)
            ok = conf_continent_ok(code);
        if (!ok) {
            conf_expected(ctx, what, key, expected[kind]);
            continue;
        }
        for (k = 0; k < *n_rules && strcmp((*rules)[k].key, code) != 0; k++)
            ;
        if (k < *n_rules) {
            conf_error_at(ctx, key->line, key->col,
                          "%s: duplicate key \"%s\" (first given at line %u)", what, code,
                          (*rules)[k].conf_line);
            continue;
        }
        rule = &(*rules)[(*n_rules)++];
        rule->key = conf_xstrdup(code);
        rule->conf_line = key->line;
        conf_path(rule_what, "%s.%s", what, code);
        conf_get_order(ctx, rule_what, value, svc, &rule->order);
    }
}

static void conf_map_networks(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                              void *target)
{
    conf_service_build_t *b = target;
    conf_get_networks(ctx, what, node, b->svc);
}

static void conf_map_subdivisions(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                  void *target)
{
    conf_service_build_t *b = target;
    conf_get_rules(ctx, what, node, b->svc, CONF_RULE_SUBDIVISION, &b->svc->subdivisions,
                   &b->svc->n_subdivisions);
}

static void conf_map_countries(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                               void *target)
{
    conf_service_build_t *b = target;
    conf_get_rules(ctx, what, node, b->svc, CONF_RULE_COUNTRY, &b->svc->countries,
                   &b->svc->n_countries);
}

static void conf_map_continents(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                void *target)
{
    conf_service_build_t *b = target;
    conf_get_rules(ctx, what, node, b->svc, CONF_RULE_CONTINENT, &b->svc->continents,
                   &b->svc->n_continents);
}

static void conf_map_default(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                             void *target)
{
    conf_service_build_t *b = target;
    b->map_default = node;
    conf_get_order(ctx, what, node, b->svc, &b->svc->default_order);
}

static const conf_key_t conf_map_keys[] = {
    {"networks", conf_map_networks, false},
    {"subdivisions", conf_map_subdivisions, false},
    {"countries", conf_map_countries, false},
    {"continents", conf_map_continents, false},
    {"default", conf_map_default, false},
};

static void conf_service_ttl(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                             void *target)
{
    conf_service_build_t *b = target;
    unsigned ttl = b->svc->ttl;

    /* RFC 2181 section 8: a TTL is at most 2^31 - 1 */
    conf_get_uint(ctx, what, node, 0, 2147483647u, &ttl);
    b->svc->ttl = ttl;
}

static void conf_service_policy(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                void *target)
{
    static const char *expected = "nearest or map";
    conf_service_build_t *b = target;
    const char *text = conf_scalar(ctx, what, node, expected);

    b->policy = node;
    if (text && strcmp(text, "nearest") == 0) {
        b->svc->policy = CONF_POLICY_NEAREST;
    } else if (text && strcmp(text, "map") == 0) {
        b->svc->policy = CONF_POLICY_MAP;
    } else {
        if (text)
            conf_expected(ctx, what, node, expected);
        b->policy_bad = true;
    }
}

static void conf_service_fallback(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                  void *target)
{
    static const char *expected = "any or listed";
    conf_service_build_t *b = target;
    const char *text = conf_scalar(ctx, what, node, expected);

    if (text && strcmp(text, "any") == 0)
        b->svc->fallback = CONF_FALLBACK_ANY;
    else if (text && strcmp(text, "listed") == 0)
        b->svc->fallback = CONF_FALLBACK_LISTED;
    else if (text)
        conf_expected(ctx, what, node, expected);
}

static void conf_service_ecs(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                             void *target)
{
    conf_service_build_t *b = target;
    conf_get_bool(ctx, what, node, &b->svc->ecs);
}

/* Read at once: services come after every other section, so the data
 * centers are all known. */
static void conf_service_pools(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                               void *target)
{
    conf_service_build_t *b = target;
    unsigned errors = ctx->errors;

    conf_get_pools(ctx, what, node, b->svc);
    b->pools_bad = ctx->errors != errors;
}

static void conf_service_networks(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                  void *target)
{
    conf_service_build_t *b = target;
    b->networks = node;
}

static void conf_service_networks_file(conf_ctx_t *ctx, const char *what,
                                       const conf_node_t *node, void *target)
{
    conf_service_build_t *b = target;
    conf_get_path(ctx, what, node, "a file name", &b->svc->networks_file);
}

static void conf_service_map(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                             void *target)
{
    conf_service_build_t *b = target;
    b->map = node;
}

static void conf_service_default(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                 void *target)
{
    conf_service_build_t *b = target;
    b->default_order = node;
}

/* Read at once: services come after every other section, so the health
 * checks are all known. */
static void conf_service_check(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                               void *target)
{
    conf_service_build_t *b = target;
    const char *name = conf_scalar(ctx, what, node, "a health check name");
    int found;

    if (!name)
        return;
    found = conf_check_find(ctx->conf, name);
    if (found < 0) {
        conf_unknown_name(ctx, what, node, "health check", conf_check_name_at,
                          ctx->conf->n_health_checks);
        return;
    }
    b->svc->check = conf_xstrdup(name);
    b->svc->check_index = (size_t)found;
}

/* Its upper bound depends on the pools: read in conf_service_finish(). */
static void conf_service_min_up(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                void *target)
{
    conf_service_build_t *b = target;
    b->min_up = node;
}

static void conf_service_failover_ttl(conf_ctx_t *ctx, const char *what,
                                      const conf_node_t *node, void *target)
{
    conf_service_build_t *b = target;
    b->failover_ttl = node;
    conf_get_ttl(ctx, what, node, &b->svc->failover_ttl);
}

static const conf_key_t conf_service_keys[] = {
    {"ttl", conf_service_ttl, false},
    {"policy", conf_service_policy, false},
    {"fallback", conf_service_fallback, false},
    {"ecs", conf_service_ecs, false},
    {"pools", conf_service_pools, true},
    {"networks", conf_service_networks, false},
    {"networks_file", conf_service_networks_file, false},
    {"map", conf_service_map, false},
    {"default", conf_service_default, false},
    {"check", conf_service_check, false},
    {"min_up", conf_service_min_up, false},
    {"failover_ttl", conf_service_failover_ttl, false},
};

/* A data center whose pool has fewer addresses than min_up could never be
 * up, so min_up is bounded by the smallest pool with addresses (a CNAME
 * pool has none to count). */
static void conf_service_finish_health(conf_ctx_t *ctx, conf_service_build_t *b)
{
    conf_service_t *svc = b->svc;
    const conf_pool_t *smallest = NULL;
    char what[CONF_WHAT_SIZE], expected[160];

    for (size_t i = 0; i < svc->n_pools; i++)
        if (svc->pools[i].n_addrs > 0 &&
            (!smallest || svc->pools[i].n_addrs < smallest->n_addrs))
            smallest = &svc->pools[i];
    svc->min_up = 1;
    if (b->min_up && b->pools_bad) {
        /* the bound may be off: check the value alone */
        conf_path(what, "%s.min_up", b->what);
        conf_get_uint_expected(ctx, what, b->min_up, 1, UINT_MAX, "a positive integer",
                               &svc->min_up);
    } else if (b->min_up && !smallest) {
        conf_error_at(ctx, b->min_up->line, b->min_up->col,
                      "%s.min_up: no pool of this service has addresses to count", b->what);
    } else if (b->min_up) {
        conf_path(what, "%s.min_up", b->what);
        snprintf(expected, sizeof(expected),
                 "an integer from 1 to %zu (pool \"%s\" has %zu address%s)", smallest->n_addrs,
                 ctx->conf->datacenters[smallest->dc].name, smallest->n_addrs,
                 smallest->n_addrs == 1 ? "" : "es");
        conf_get_uint_expected(ctx, what, b->min_up, 1, (unsigned)smallest->n_addrs, expected,
                               &svc->min_up);
    }
    if (b->failover_ttl)
        return;
    if (svc->check) {
        /* clients sent elsewhere come back within one check interval
         * of their data center's return */
        unsigned seconds = ctx->conf->health_checks[svc->check_index].interval_ms / 1000;
        svc->failover_ttl = seconds ? seconds : 1;
    } else {
        svc->failover_ttl = svc->ttl;
    }
}

/* The rules, once the pools and the policy are known. */
static void conf_service_finish(conf_ctx_t *ctx, conf_service_build_t *b)
{
    conf_service_t *svc = b->svc;
    char what[CONF_WHAT_SIZE];

    if (b->networks) {
        conf_path(what, "%s.networks", b->what);
        conf_get_networks(ctx, what, b->networks, svc);
    }
    if (b->map && b->policy_bad) {
        /* nothing to add to the policy's own error */
    } else if (b->map && svc->policy != CONF_POLICY_MAP) {
        /* rules that would be silently ignored are a mistake either way */
        conf_error_at(ctx, b->map->line, b->map->col,
                      "%s.map: only allowed with policy: map (the policy is nearest)", b->what);
    } else if (b->map) {
        conf_path(what, "%s.map", b->what);
        conf_parse_keys(ctx, what, b->map, conf_map_keys,
                        sizeof(conf_map_keys) / sizeof(conf_map_keys[0]), b);
    } else if (svc->policy == CONF_POLICY_MAP) {
        conf_error_at(ctx, b->policy->line, b->policy->col,
                      "%s.policy: policy map needs a map section", b->what);
    }
    if (b->default_order && b->map_default) {
        conf_error_at(ctx, b->default_order->line, b->default_order->col,
                      "%s.default: give either this or map.default (line %u), not both",
                      b->what, b->map_default->line);
    } else if (b->default_order) {
        conf_path(what, "%s.default", b->what);
        conf_get_order(ctx, what, b->default_order, svc, &svc->default_order);
    }
    if (!svc->default_order.dc && svc->n_pools > 0) {
        /* no default given: the pools in the order written */
        svc->default_order.dc = conf_xcalloc(svc->n_pools, sizeof(*svc->default_order.dc));
        for (size_t i = 0; i < svc->n_pools; i++)
            svc->default_order.dc[i] = svc->pools[i].dc;
        svc->default_order.n = svc->n_pools;
    }
    conf_service_finish_health(ctx, b);
}

static void conf_section_services(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                  void *target)
{
    ctx->services = node;
}

static void conf_parse_services(conf_ctx_t *ctx, const conf_node_t *node)
{
    static const char *what = "services";
    static const char *expected_name = "a domain name such as \"www.example.com\"";
    conf_t *conf = ctx->conf;

    if (node->type == CONF_NODE_SCALAR && node->is_null)
        return;
    if (node->type != CONF_NODE_MAP) {
        conf_expected(ctx, what, node, "a mapping of service names to services");
        return;
    }
    conf->services = conf_xcalloc(node->n_items / 2, sizeof(*conf->services));
    for (size_t i = 0; i + 1 < node->n_items; i += 2) {
        const conf_node_t *key = node->items[i], *value = node->items[i + 1];
        conf_service_build_t b = {0};
        conf_service_t *svc;
        const char *text = conf_scalar(ctx, what, key, expected_name);
        char *name;
        size_t k, len;

        if (!text)
            continue;
        name = conf_domain_name(text, true, false);
        if (!name) {
            conf_expected(ctx, what, key, expected_name);
            continue;
        }
        conf_lower(name);
        for (k = 0; k < conf->n_services && strcmp(conf->services[k].name, name) != 0; k++)
            ;
        if (k < conf->n_services) {
            char quoted[CONF_QUOTE_SIZE];
            conf_error_at(ctx, key->line, key->col,
                          "%s: duplicate service %s (first given at line %u)", what,
                          conf_describe(key, quoted, sizeof(quoted)),
                          conf->services[k].conf_line);
            free(name);
            continue;
        }
        svc = &conf->services[conf->n_services++];
        svc->name = name;
        svc->ttl = 300;
        svc->policy = CONF_POLICY_NEAREST;
        svc->fallback = CONF_FALLBACK_ANY;
        svc->ecs = true;
        svc->conf_file = conf->path;
        svc->conf_line = key->line;
        b.svc = svc;
        /* the name as written, minus a final dot that would read as an
         * empty path component */
        len = key->len - (text[key->len - 1] == '.');
        conf_path(b.what, "%s.%.*s", what, (int)len, text);
        conf_parse_keys(ctx, b.what, value, conf_service_keys,
                        sizeof(conf_service_keys) / sizeof(conf_service_keys[0]), &b);
        conf_service_finish(ctx, &b);
    }
}

/* ------------------------------------------------------------ top level */

static const conf_key_t conf_sections[] = {
    {"server", conf_section_server, false},
    {"zones", conf_section_zones, false},
    {"geoip", conf_section_geoip, false},
    {"datacenters", conf_section_datacenters, false},
    {"health_checks", conf_section_health_checks, false},
    {"services", conf_section_services, false},
};

/* Fills a field nobody configured from a NULL-terminated list. */
static void conf_default_field(conf_field_path_t **paths, size_t *n, const char *const *alts)
{
    size_t count = 0;

    if (*n)
        return;
    while (alts[count])
        count++;
    *paths = conf_xcalloc(count, sizeof(**paths));
    for (size_t i = 0; i < count; i++)
        if (!conf_field_path_split(alts[i], &(*paths)[i]))
            abort();
    *n = count;
}

/* Values that cannot be written as constants in the struct's initializer. */
static void conf_fill_defaults(conf_t *conf)
{
    static const char *const listen[] = {"0.0.0.0:53", "[::]:53"};
    /* MaxMind's layout first, then the flat one of DB-IP lite and
     * ip-location-db */
    static const char *const continent[] = {"continent.code", NULL};
    static const char *const country[] = {"country.iso_code", "country_code", NULL};
    static const char *const subdivision[] = {"subdivisions.0.iso_code", NULL};
    static const char *const latitude[] = {"location.latitude", "latitude", NULL};
    static const char *const longitude[] = {"location.longitude", "longitude", NULL};
    conf_geo_fields_t *f = &conf->geoip.fields;

    if (!conf->listeners) {
        conf->listeners = conf_xcalloc(2, sizeof(*conf->listeners));
        for (size_t i = 0; i < 2; i++) {
            conf_listener_t *l = &conf->listeners[i];
            if (conf_parse_sockaddr(listen[i], CONF_DEFAULT_PORT, &l->addr, &l->addrlen) != 0)
                abort();
            l->text = conf_xstrdup(listen[i]);
        }
        conf->n_listeners = 2;
    }
    if (!conf->chaos_version)
        conf->chaos_version = conf_xstrdup("Meridian " PACKAGE_VERSION);
    if (!conf->chaos_identity) {
        char host[CONF_MAX_TXT + 1] = "";
        if (gethostname(host, sizeof(host) - 1) != 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        conf->chaos_identity = conf_xstrdup(host);
    }
    conf_default_field(&f->continent, &f->n_continent, continent);
    conf_default_field(&f->country, &f->n_country, country);
    conf_default_field(&f->subdivision, &f->n_subdivision, subdivision);
    conf_default_field(&f->latitude, &f->n_latitude, latitude);
    conf_default_field(&f->longitude, &f->n_longitude, longitude);
}

bool conf_load_buffer(const char *name, const char *text, size_t len, conf_t **out, diag_t *d)
{
    conf_ctx_t ctx = {.file = name, .d = d};
    conf_node_t *root = NULL;
    conf_t *conf;

    *out = NULL;
    conf = conf_xcalloc(1, sizeof(*conf));
    conf->path = conf_xstrdup(name);
    conf->max_udp_size = CONF_DEFAULT_MAX_UDP_SIZE;
    conf->tcp_idle_timeout_ms = CONF_DEFAULT_TCP_IDLE_MS;
    conf->tcp_max_connections = CONF_DEFAULT_TCP_MAX_CONNS;
    conf->tcp_max_pipeline = CONF_DEFAULT_TCP_MAX_PIPELINE;
    conf->tcp_max_per_address = CONF_DEFAULT_TCP_MAX_PER_ADDRESS;
    conf->tcp_max_per_ipv6_64 = CONF_DEFAULT_TCP_MAX_PER_IPV6_64;
    conf->tcp_max_queued_bytes = CONF_DEFAULT_TCP_MAX_QUEUED_BYTES;
    conf->tcp_max_queued_total = CONF_DEFAULT_TCP_MAX_QUEUED_TOTAL;
    conf->tcp_write_timeout_ms = CONF_DEFAULT_TCP_WRITE_TIMEOUT_MS;
    conf->chaos = true;
    conf->log_level = LOG_LEVEL_INFO;
    conf->control = conf_xstrdup(CONF_DEFAULT_CONTROL);
    ctx.conf = conf;
    ctx.base_dir = conf_base_dir(name);

    /* an empty file or a bare "---" is a config with every default */
    if (conf_tree_build(&ctx, text, len, &root) && root)
        conf_parse_keys(&ctx, NULL, root, conf_sections,
                        sizeof(conf_sections) / sizeof(conf_sections[0]), conf);
    if (ctx.services)
        conf_parse_services(&ctx, ctx.services);
    conf_node_free(root);
    free(ctx.base_dir);
    if (ctx.errors > CONF_MAX_ERRORS)
        diag_error(d, name, 0, 0, "%u more errors not shown", ctx.errors - CONF_MAX_ERRORS);
    if (ctx.errors) {
        conf_free(conf);
        return false;
    }
    conf_fill_defaults(conf);
    *out = conf;
    return true;
}

bool conf_load(const char *path, conf_t **out, diag_t *d)
{
    const char *why = NULL;
    size_t len = 0;
    *out = NULL;
    char *text = file_read_all(path, CONF_MAX_FILE_SIZE, &len, &why);
    if (!text) {
        diag_error(d, path, 0, 0, "cannot read the config file: %s", why);
        return false;
    }
    bool ok = conf_load_buffer(path, text, len, out, d);
    free(text);
    return ok;
}

static void conf_geoip_free(conf_geoip_t *geoip)
{
    conf_geo_fields_t *f = &geoip->fields;

    free(geoip->database);
    free(geoip->countries);
    conf_field_paths_free(f->continent, f->n_continent);
    conf_field_paths_free(f->country, f->n_country);
    conf_field_paths_free(f->subdivision, f->n_subdivision);
    conf_field_paths_free(f->latitude, f->n_latitude);
    conf_field_paths_free(f->longitude, f->n_longitude);
}

static void conf_rules_free(conf_map_rule_t *rules, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rules[i].key);
        free(rules[i].order.dc);
    }
    free(rules);
}

static void conf_service_free(conf_service_t *svc)
{
    free(svc->name);
    for (size_t i = 0; i < svc->n_pools; i++) {
        free(svc->pools[i].addrs);
        free(svc->pools[i].probes);
        free(svc->pools[i].cname);
    }
    free(svc->pools);
    conf_rules_free(svc->subdivisions, svc->n_subdivisions);
    conf_rules_free(svc->countries, svc->n_countries);
    conf_rules_free(svc->continents, svc->n_continents);
    free(svc->default_order.dc);
    for (size_t i = 0; i < svc->n_networks; i++)
        free(svc->networks[i].order.dc);
    free(svc->networks);
    free(svc->networks_file);
    free(svc->check);
}

static void conf_health_check_free(conf_health_check_t *check)
{
    free(check->name);
    free(check->path);
    free(check->host);
    free(check->expect_body);
    free(check->file);
}

void conf_free(conf_t *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; i < conf->n_listeners; i++)
        free(conf->listeners[i].text);
    free(conf->listeners);
    for (size_t i = 0; i < conf->n_zones; i++) {
        free(conf->zones[i].file);
        free(conf->zones[i].origin);
    }
    free(conf->zones);
    conf_geoip_free(&conf->geoip);
    for (size_t i = 0; i < conf->n_datacenters; i++)
        free(conf->datacenters[i].name);
    free(conf->datacenters);
    for (size_t i = 0; i < conf->n_services; i++)
        conf_service_free(&conf->services[i]);
    free(conf->services);
    for (size_t i = 0; i < conf->n_health_checks; i++)
        conf_health_check_free(&conf->health_checks[i]);
    free(conf->health_checks);
    free(conf->state_file);
    free(conf->control);
    free(conf->user);
    free(conf->group);
    free(conf->nsid);
    free(conf->chaos_version);
    free(conf->chaos_identity);
    free(conf->path);
    free(conf);
}

/* ------------------------------------------------------------ addresses */

/* 0..65535 in plain decimal; port 0 is allowed so tests can ask for an
 * ephemeral port. */
static int conf_parse_port(const char *text, uint16_t *port)
{
    unsigned v = 0;
    size_t i;

    for (i = 0; text[i] >= '0' && text[i] <= '9'; i++) {
        if (i >= 5)
            return -EINVAL;
        v = v * 10 + (unsigned)(text[i] - '0');
    }
    if (i == 0 || text[i] != '\0' || v > 65535)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

int conf_parse_sockaddr(const char *text, uint16_t default_port, struct sockaddr_storage *ss,
                        socklen_t *len)
{
    char host[INET6_ADDRSTRLEN];
    const char *port_text = NULL;
    size_t host_len;
    uint16_t port = default_port;
    bool ipv6;

    if (!text || !ss || !len)
        return -EINVAL;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close)
            return -EINVAL;
        if (close[1] == ':')
            port_text = close + 2;
        else if (close[1] != '\0')
            return -EINVAL;
        text++;
        host_len = (size_t)(close - text);
        ipv6 = true;
    } else {
        const char *colon = strchr(text, ':');
        /* two colons or more: a bare IPv6 address, which cannot carry a
         * port without brackets */
        ipv6 = colon && strchr(colon + 1, ':');
        if (colon && !ipv6)
            port_text = colon + 1;
        host_len = port_text ? (size_t)(colon - text) : strlen(text);
    }
    if (host_len == 0 || host_len >= sizeof(host))
        return -EINVAL;
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    if (port_text && conf_parse_port(port_text, &port) != 0)
        return -EINVAL;

    memset(ss, 0, sizeof(*ss));
    if (ipv6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return -EINVAL;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof(*sin6);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            return -EINVAL;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
    }
    return 0;
}

int conf_parse_network(const char *text, conf_network_t *out)
{
    conf_network_t net;

    if (!text || !out || conf_network_read(text, &net) != CONF_NET_OK)
        return -EINVAL;
    *out = net;
    return 0;
}
