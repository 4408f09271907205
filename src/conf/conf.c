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
/* Keeps the OPT record of a small answer well under 512 bytes. */
/* Room for a quoted, escaped excerpt of a bad value in a message. */
#define CONF_QUOTE_SIZE 72

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
        return "a mapping";
    if (node->type == CONF_NODE_LIST)
        return "a list";
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

static void conf_get_uint(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                          unsigned min, unsigned max, unsigned *out)
{
    char expected[64];
    const char *text;
    uint64_t v;

    snprintf(expected, sizeof(expected), "an integer from %u to %u", min, max);
    text = conf_scalar(ctx, what, node, expected);
    if (!text)
        return;
    if (!conf_parse_u64(text, &v) || v < min || v > max) {
        conf_expected(ctx, what, node, expected);
        return;
    }
    *out = (unsigned)v;
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

/* "500ms", "10s", "2m", "1h", or a bare number of seconds. */
static void conf_get_duration_ms(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                 unsigned min_ms, unsigned max_ms, unsigned *out)
{
    static const struct {
        const char *suffix;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"", 1000}};
    char expected[128], lo[16], hi[16], digits[16];
    const char *text;
    size_t n;
    uint64_t v;

    conf_format_ms(lo, sizeof(lo), min_ms);
    conf_format_ms(hi, sizeof(hi), max_ms);
    snprintf(expected, sizeof(expected),
             "a duration from %s to %s such as \"500ms\", \"10s\" or \"2m\"", lo, hi);
    text = conf_scalar(ctx, what, node, expected);
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
        v *= units[i].ms; /* v < 10^12, so no overflow */
        if (v < min_ms || v > max_ms)
            goto bad;
        *out = (unsigned)v;
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
        char what[96];
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

static const conf_key_t conf_server_keys[] = {
    {"listen", conf_server_listen, false},
    {"workers", conf_server_workers, false},
    {"max_udp_size", conf_server_max_udp_size, false},
    {"tcp_idle_timeout", conf_server_tcp_idle_timeout, false},
    {"tcp_max_connections", conf_server_tcp_max_connections, false},
    {"tcp_max_pipeline", conf_server_tcp_max_pipeline, false},
    {"nsid", conf_server_nsid, false},
    {"chaos", conf_server_chaos, false},
    {"version", conf_server_version, false},
    {"identity", conf_server_identity, false},
    {"log_level", conf_server_log_level, false},
};

static void conf_section_server(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                                void *target)
{
    conf_parse_keys(ctx, what, node, conf_server_keys,
                    sizeof(conf_server_keys) / sizeof(conf_server_keys[0]), target);
}

/* ------------------------------------------------------------ zones: */

static void conf_zone_set_file(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                               conf_zone_t *zone)
{
    static const char *expected = "a zone file name";
    const char *text = conf_scalar(ctx, what, node, expected);

    if (!text)
        return;
    if (text[0] == '\0') {
        conf_expected(ctx, what, node, expected);
        return;
    }
    free(zone->file);
    zone->file = conf_resolve_path(ctx, text);
}

static void conf_zone_file(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                           void *target)
{
    conf_zone_set_file(ctx, what, node, target);
}

/* A light check that catches typos early; the zone loader has the final
 * word on names. The origin is made absolute: in a config file every
 * zone name is, with or without its final dot. */
static void conf_zone_origin(conf_ctx_t *ctx, const char *what, const conf_node_t *node,
                             void *target)
{
    static const char *expected = "a domain name such as \"example.com.\"";
    conf_zone_t *zone = target;
    const char *text = conf_scalar(ctx, what, node, expected);
    size_t len, label = 0;
    char *origin;

    if (!text)
        return;
    len = node->len;
    if (strcmp(text, ".") != 0) {
        if (len == 0 || text[0] == '.' || len + (text[len - 1] != '.') > 255)
            goto bad;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)text[i];
            /* escapes would need a real name parser; zone origins never
             * need them */
            if (c <= ' ' || c >= 0x7f || c == '\\')
                goto bad;
            if (c != '.') {
                if (++label > 63)
                    goto bad;
                continue;
            }
            if (label == 0)
                goto bad;
            label = 0;
        }
    }
    origin = conf_xcalloc(len + 2, 1);
    memcpy(origin, text, len);
    if (text[len - 1] != '.')
        origin[len] = '.';
    free(zone->origin);
    zone->origin = origin;
    return;
bad:
    conf_expected(ctx, what, node, expected);
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

/* ------------------------------------------------------------ top level */

static const conf_key_t conf_sections[] = {
    {"server", conf_section_server, false},
    {"zones", conf_section_zones, false},
};

/* Values that cannot be written as constants in the struct's initializer. */
static void conf_fill_defaults(conf_t *conf)
{
    static const char *const listen[] = {"0.0.0.0:53", "[::]:53"};

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
    conf->chaos = true;
    conf->log_level = LOG_LEVEL_INFO;
    ctx.conf = conf;
    ctx.base_dir = conf_base_dir(name);

    /* an empty file or a bare "---" is a config with every default */
    if (conf_tree_build(&ctx, text, len, &root) && root)
        conf_parse_keys(&ctx, NULL, root, conf_sections,
                        sizeof(conf_sections) / sizeof(conf_sections[0]), conf);
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
