/*
 * geo_policy: a service's routing, compiled once per load so that a
 * decision is a few table reads and never allocates.
 *
 * Orders (lists of data centers) are interned: the override networks of a
 * large networks file mostly share a handful of orders, so each network
 * costs its trie nodes and a 16-byte record, not a copy of its list.
 *
 * A map rule that names only some data centers gives exactly those, in
 * that order; the others are not appended. The operator said where those
 * clients go; when all of the listed ones are down, the service asks
 * geo_policy_fallback() for the rest (fallback: any) or fails open
 * (listed), so a silent tail here would only hide what the rule means.
 */
#include "config.h"

#include "geo/geo.h"
#include "util/file.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define GEO_EARTH_RADIUS_KM 6371.0088 /* IUGG mean radius */
/* A networks file larger than this is surely a mistake (a 1,000,000-line
 * file is about 30 MB). */
#define NETS_FILE_MAX (1024u * 1024 * 1024)
/* Past this many errors in one networks file, the rest is noise. */
#define NETS_FILE_MAX_ERRORS 100
#define CIDR_TEXT_MAX (INET6_ADDRSTRLEN + 4)

static const char bits_past_prefix[] = "bits set past the prefix";

typedef struct policy_order {
    uint32_t off; /* into geo_policy.order_dc */
    uint8_t n;
} policy_order_t;

typedef struct policy_override {
    const char *key; /* the network as written */
    uint32_t line;   /* in the networks file, or in the config when inline */
    uint32_t order;  /* index into geo_policy.orders */
} policy_override_t;

typedef struct policy_rule {
    char key[8]; /* upper case: "US-CA", "GB", "EU" */
    uint32_t order;
    unsigned line;
} policy_rule_t;

/* A decision ready to hand out: its order points into geo_policy.order_dc. */
typedef struct policy_route {
    const uint8_t *order;
    const char *key;
    uint8_t n_order;
    uint8_t rule; /* enum geo_rule */
} policy_route_t;

typedef struct policy_subdivision {
    uint64_t key; /* the key's bytes, big-endian, zero-padded: sorts like the text */
    uint32_t rule;
} policy_subdivision_t;

static const char *const continents[] = {"AF", "AN", "AS", "EU", "NA", "OC", "SA"};
#define N_CONTINENTS (sizeof(continents) / sizeof(continents[0]))
#define NO_RULE UINT32_MAX

struct geo_policy {
    enum conf_policy kind;
    uint8_t n_pools;
    uint8_t pool_dc[CONF_MAX_DATACENTERS];    /* in the order written */
    double pool_vec[CONF_MAX_DATACENTERS][3]; /* unit vectors (nearest) */
    uint64_t pools;                           /* bit per data center with a pool */
    uint64_t located;                         /* and with a location */
    /* Every pool's data center: the default order, then the rest in config
     * order (a fallback for clients without coordinates). */
    uint8_t fallback_dc[CONF_MAX_DATACENTERS];
    uint32_t default_order;

    uint8_t *order_dc;
    size_t n_order_dc, cap_order_dc;
    policy_order_t *orders;
    size_t n_orders, cap_orders;

    policy_rule_t *rules; /* map rules of every kind */
    size_t n_rules;
    uint32_t country[26 * 26]; /* rule index by the two letters, NO_RULE */
    uint32_t continent[N_CONTINENTS];
    policy_subdivision_t *subdivisions; /* sorted by key */
    size_t n_subdivisions;

    /* Set by geo_policy_bind(): the decision for each record of picks_db,
     * as indices (picks) and as geo_policy_route() gives it (routes). */
    struct policy_pick *picks;
    struct policy_route *routes;
    struct policy_route default_route;
    const geo_db_t *picks_db;
    /* picks_db when clients may take route_v4() or route_v6() (no
     * overrides), else NULL. */
    const geo_db_t *v4_db;

    geo_nets_t *nets; /* value: index into overrides */
    policy_override_t *overrides;
    size_t n_overrides, cap_overrides;
    size_t n_inline;   /* overrides[0..n_inline) came from the config */
    char *inline_text; /* their keys */
    char *file_text;   /* the networks file; its keys point into it */
};

/* Build-time state that the policy does not keep. */
typedef struct policy_build {
    const conf_t *conf;
    const conf_service_t *svc;
    diag_t *d;
    bool has_pool[CONF_MAX_DATACENTERS];
    uint32_t *order_hash; /* order index + 1; 0 = empty */
    size_t order_hash_cap;
    int16_t dc_hash[2 * CONF_MAX_DATACENTERS]; /* data center index; -1 = empty */
} policy_build_t;

static void *xrealloc(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        abort();
    p = realloc(p, n * size > 0 ? n * size : 1);
    if (!p)
        abort(); /* load time: out of memory is fatal */
    return p;
}

static uint32_t fnv1a(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}
static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ------------------------------------------------------------ orders */

static bool order_equal(const geo_policy_t *p, uint32_t i, const uint8_t *dc, size_t n)
{
    return p->orders[i].n == n && memcmp(p->order_dc + p->orders[i].off, dc, n) == 0;
}

static void order_hash_grow(geo_policy_t *p, policy_build_t *b)
{
    size_t cap = b->order_hash_cap ? b->order_hash_cap * 2 : 64;
    uint32_t *h = calloc(cap, sizeof(*h));
    if (!h)
        abort();
    for (size_t i = 0; i < p->n_orders; i++) {
        const policy_order_t *o = &p->orders[i];
        size_t s = fnv1a(p->order_dc + o->off, o->n) & (cap - 1);
        while (h[s])
            s = (s + 1) & (cap - 1);
        h[s] = (uint32_t)i + 1;
    }
    free(b->order_hash);
    b->order_hash = h;
    b->order_hash_cap = cap;
}

/* The index of an order equal to dc[0..n), added when new. */
static uint32_t order_intern(geo_policy_t *p, policy_build_t *b, const uint8_t *dc, size_t n)
{
    if ((p->n_orders + 1) * 2 > b->order_hash_cap)
        order_hash_grow(p, b);
    size_t mask = b->order_hash_cap - 1;
    size_t s = fnv1a(dc, n) & mask;
    for (; b->order_hash[s]; s = (s + 1) & mask)
        if (order_equal(p, b->order_hash[s] - 1, dc, n))
            return b->order_hash[s] - 1;

    if (!p->order_dc || p->n_order_dc + n > p->cap_order_dc) {
        p->cap_order_dc = p->cap_order_dc * 2 + n + 64;
        p->order_dc = xrealloc(p->order_dc, p->cap_order_dc, 1);
    }
    if (p->n_orders == p->cap_orders) {
        p->cap_orders = p->cap_orders ? p->cap_orders * 2 : 16;
        p->orders = xrealloc(p->orders, p->cap_orders, sizeof(*p->orders));
    }
    memcpy(p->order_dc + p->n_order_dc, dc, n);
    p->orders[p->n_orders].off = (uint32_t)p->n_order_dc;
    p->orders[p->n_orders].n = (uint8_t)n;
    p->n_order_dc += n;
    b->order_hash[s] = (uint32_t)p->n_orders + 1;
    return (uint32_t)p->n_orders++;
}

/* Checks a configured order: every data center exists, has a pool in this
 * service and is listed once. what names the rule in messages. */
static bool order_check(policy_build_t *b, const conf_dc_order_t *o, unsigned line,
                        const char *what)
{
    const conf_t *conf = b->conf;
    const conf_service_t *svc = b->svc;
    uint64_t seen = 0;
    bool ok = true;

    if (o->n == 0) {
        diag_error(b->d, svc->conf_file, line, 0, "%s: no data centers", what);
        return false;
    }
    for (size_t i = 0; i < o->n; i++) {
        unsigned dc = o->dc[i];
        if (dc >= conf->n_datacenters || dc >= CONF_MAX_DATACENTERS) {
            diag_error(b->d, svc->conf_file, line, 0, "%s: data center #%u does not exist", what,
                       dc);
            ok = false;
            continue;
        }
        const char *name = conf->datacenters[dc].name;
        if (seen & (UINT64_C(1) << dc)) {
            diag_error(b->d, svc->conf_file, line, 0, "%s: data center \"%s\" listed twice", what,
                       name);
            ok = false;
        } else if (!b->has_pool[dc]) {
            diag_error(b->d, svc->conf_file, line, 0,
                       "%s: data center \"%s\" has no pool in service %s", what, name, svc->name);
            ok = false;
        }
        seen |= UINT64_C(1) << dc;
    }
    return ok;
}

/* ------------------------------------------------------------ map rules */

/* Packs an upper-case key of up to 8 bytes so that integer order is text
 * order. */
static uint64_t key_pack(const char *s, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = (v << 8) | (i < n ? (uint8_t)s[i] : 0);
    return v;
}

static int continent_index(const char *code)
{
    for (size_t i = 0; i < N_CONTINENTS; i++)
        if (code[0] == continents[i][0] && code[1] == continents[i][1])
            return (int)i;
    return -1;
}

/* Normalises a map key into up[8]; false when it has the wrong shape. */
static bool key_normalise(enum geo_rule kind, const char *key, char up[8])
{
    size_t n = strlen(key);

    if (n >= 8)
        return false;
    for (size_t i = 0; i <= n; i++)
        up[i] = upper(key[i]);
    switch (kind) {
    case GEO_RULE_SUBDIVISION:
        /* ISO 3166-2: the country, "-", one to three letters or digits */
        if (n < 4 || n > 6 || !is_alpha(up[0]) || !is_alpha(up[1]) || up[2] != '-')
            return false;
        for (size_t i = 3; i < n; i++)
            if (!is_alpha(up[i]) && !is_digit(up[i]))
                return false;
        return true;
    case GEO_RULE_COUNTRY:
        return n == 2 && is_alpha(up[0]) && is_alpha(up[1]);
    case GEO_RULE_CONTINENT:
        return n == 2 && continent_index(up) >= 0;
    default:
        return false;
    }
}

static int subdivision_cmp(const void *a, const void *b)
{
    const policy_subdivision_t *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

static void rules_add(geo_policy_t *p, policy_build_t *b, enum geo_rule kind,
                      const conf_map_rule_t *rules, size_t n)
{
    static const char *const what[] = {
        [GEO_RULE_SUBDIVISION] = "subdivision",
        [GEO_RULE_COUNTRY] = "country",
        [GEO_RULE_CONTINENT] = "continent",
    };
    const char *file = b->svc->conf_file;

    for (size_t i = 0; i < n; i++) {
        const conf_map_rule_t *r = &rules[i];
        char up[8], rule_name[64];
        bool ok = true;

        snprintf(rule_name, sizeof(rule_name), "%s %s", what[kind], r->key);
        if (!key_normalise(kind, r->key, up)) {
            if (kind == GEO_RULE_SUBDIVISION)
                diag_error(b->d, file, r->conf_line, 0,
                           "subdivision \"%s\" is not a country code, \"-\" and a "
                           "subdivision code (e.g. US-CA)",
                           r->key);
            else if (kind == GEO_RULE_COUNTRY)
                diag_error(b->d, file, r->conf_line, 0,
                           "country \"%s\" is not a two-letter ISO 3166 code", r->key);
            else
                diag_error(b->d, file, r->conf_line, 0,
                           "continent \"%s\" is not one of AF AN AS EU NA OC SA", r->key);
            ok = false;
        }
        if (!order_check(b, &r->order, r->conf_line, rule_name))
            ok = false;
        if (!ok)
            continue;

        /* "us-ca" and "US-CA" are the same key */
        uint32_t *slot = NULL, first = NO_RULE;
        if (kind == GEO_RULE_COUNTRY) {
            slot = &p->country[(up[0] - 'A') * 26 + (up[1] - 'A')];
            first = *slot;
        } else if (kind == GEO_RULE_CONTINENT) {
            slot = &p->continent[continent_index(up)];
            first = *slot;
        } else {
            for (size_t j = 0; j < p->n_subdivisions; j++)
                if (strcmp(p->rules[p->subdivisions[j].rule].key, up) == 0)
                    first = p->subdivisions[j].rule;
        }
        if (first != NO_RULE) {
            diag_error(b->d, file, r->conf_line, 0, "%s %s given twice (first at line %u)",
                       what[kind], up, p->rules[first].line);
            continue;
        }

        uint32_t idx = (uint32_t)p->n_rules++;
        p->rules = xrealloc(p->rules, p->n_rules, sizeof(*p->rules));
        memcpy(p->rules[idx].key, up, sizeof(up));
        p->rules[idx].order = order_intern(p, b, r->order.dc, r->order.n);
        p->rules[idx].line = r->conf_line;
        if (slot) {
            *slot = idx;
        } else {
            p->subdivisions =
                xrealloc(p->subdivisions, p->n_subdivisions + 1, sizeof(*p->subdivisions));
            p->subdivisions[p->n_subdivisions].key = key_pack(up, strlen(up));
            p->subdivisions[p->n_subdivisions].rule = idx;
            p->n_subdivisions++;
        }
    }
}

/* ------------------------------------------------------------ overrides */

static uint32_t override_add(geo_policy_t *p, const char *key, unsigned line, uint32_t order)
{
    if (p->n_overrides == p->cap_overrides) {
        p->cap_overrides = p->cap_overrides ? p->cap_overrides * 2 : 64;
        p->overrides = xrealloc(p->overrides, p->cap_overrides, sizeof(*p->overrides));
    }
    p->overrides[p->n_overrides].key = key;
    p->overrides[p->n_overrides].line = line;
    p->overrides[p->n_overrides].order = order;
    return (uint32_t)p->n_overrides++;
}

static void network_text(const conf_network_t *net, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    if (!inet_ntop(net->family, net->addr, a, sizeof(a)))
        snprintf(a, sizeof(a), "(family %u)", net->family);
    snprintf(buf, len, "%s/%u", a, net->prefix);
}

static void inline_networks(geo_policy_t *p, policy_build_t *b)
{
    const conf_service_t *svc = b->svc;
    char *text;

    if (svc->n_networks == 0)
        return;
    p->inline_text = text = xrealloc(NULL, svc->n_networks, CIDR_TEXT_MAX);
    for (size_t i = 0; i < svc->n_networks; i++, text += CIDR_TEXT_MAX) {
        const conf_network_rule_t *r = &svc->networks[i];
        char rule_name[CIDR_TEXT_MAX + 16];
        uint32_t first;

        network_text(&r->net, text, CIDR_TEXT_MAX);
        snprintf(rule_name, sizeof(rule_name), "network %s", text);
        if (!order_check(b, &r->order, r->conf_line, rule_name))
            continue;
        uint32_t idx =
            override_add(p, text, r->conf_line, order_intern(p, b, r->order.dc, r->order.n));
        int err = geo_nets_add(p->nets, &r->net, idx);
        if (err == 0)
            continue;
        p->n_overrides--;
        if (err == -EEXIST && geo_nets_get(p->nets, &r->net, &first))
            diag_error(b->d, svc->conf_file, r->conf_line, 0,
                       "duplicate network %s (first at line %u)", text, p->overrides[first].line);
        else
            diag_error(b->d, svc->conf_file, r->conf_line, 0, "bad network %s: %s", text,
                       strerror(-err));
    }
    p->n_inline = p->n_overrides;
}

static void dc_hash_build(policy_build_t *b)
{
    const size_t cap = sizeof(b->dc_hash) / sizeof(b->dc_hash[0]);
    for (size_t i = 0; i < cap; i++)
        b->dc_hash[i] = -1;
    for (size_t i = 0; i < b->conf->n_datacenters && i < CONF_MAX_DATACENTERS; i++) {
        const char *name = b->conf->datacenters[i].name;
        size_t s = fnv1a(name, strlen(name)) % cap;
        while (b->dc_hash[s] >= 0)
            s = (s + 1) % cap;
        b->dc_hash[s] = (int16_t)i;
    }
}

static int dc_find(const policy_build_t *b, const char *name, size_t len)
{
    const size_t cap = sizeof(b->dc_hash) / sizeof(b->dc_hash[0]);
    for (size_t s = fnv1a(name, len) % cap; b->dc_hash[s] >= 0; s = (s + 1) % cap) {
        const char *dc = b->conf->datacenters[b->dc_hash[s]].name;
        if (strncmp(dc, name, len) == 0 && dc[len] == '\0')
            return b->dc_hash[s];
    }
    return -1;
}

/* Parses "address[/prefix]" (NUL-terminated, len bytes). Returns NULL or
 * why it is not a network; on "bits set past the prefix", net holds the
 * network those bits belong to, masked. */
static const char *cidr_parse(const char *text, size_t len, conf_network_t *net)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = memchr(text, '/', len);
    size_t alen = slash ? (size_t)(slash - text) : len;
    unsigned max, prefix;

    if (alen == 0 || alen >= sizeof(addr))
        return "not an address";
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    memset(net, 0, sizeof(*net));
    net->family = memchr(addr, ':', alen) ? AF_INET6 : AF_INET;
    if (inet_pton(net->family, addr, net->addr) != 1)
        return "not an address";
    max = net->family == AF_INET ? 32 : 128;
    prefix = max;
    if (slash) {
        const char *s = slash + 1, *end = text + len;
        if (s == end || end - s > 3)
            return "bad prefix length";
        for (prefix = 0; s < end; s++) {
            if (!is_digit(*s))
                return "bad prefix length";
            prefix = prefix * 10 + (unsigned)(*s - '0');
        }
        if (prefix > max)
            return net->family == AF_INET ? "prefix longer than 32" : "prefix longer than 128";
    }
    net->prefix = (uint8_t)prefix;

    bool stray = false;
    for (unsigned i = prefix / 8; i < max / 8; i++) {
        uint8_t keep = i == prefix / 8 ? (uint8_t)(0xff00 >> (prefix % 8)) : 0;
        if (net->addr[i] & ~keep) {
            net->addr[i] &= keep;
            stray = true;
        }
    }
    return stray ? bits_past_prefix : NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* A parsed line of the networks file, waiting to be added. */
typedef struct file_network {
    uint64_t order_key; /* the address's first 64 bits: insertion order */
    uint32_t override;  /* index into geo_policy.overrides */
    conf_network_t net;
} file_network_t;

typedef struct file_duplicate {
    uint32_t line;
    uint32_t self, first; /* override indices: this line's, the one added first */
} file_duplicate_t;

/* The first 64 bits of the network as the trie stores it: an IPv4-mapped
 * IPv6 network is its IPv4 network, so that equal networks get equal keys
 * and the sort keeps them in file order. */
static uint64_t order_key(const conf_network_t *net)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t *a = net->addr;
    uint64_t v = 0;

    if (net->family == AF_INET6 && net->prefix >= 96 && memcmp(a, mapped, 12) == 0) {
        for (int i = 12; i < 16; i++)
            v = (v << 8) | a[i];
        return v << 32;
    }
    for (int i = 0; i < 8; i++)
        v = (v << 8) | a[i];
    return v;
}

/*
 * Sorts by address, keeping the file's order among equal keys (so the
 * first of two duplicates is added first): a least-significant-digit radix
 * sort by 16-bit digits, which skips the digits that are the same
 * everywhere (the low half of every IPv4 key).
 */
static void file_networks_sort(file_network_t *v, size_t n)
{
    size_t sorted = 1;
    while (sorted < n && v[sorted - 1].order_key <= v[sorted].order_key)
        sorted++;
    if (sorted >= n)
        return; /* files written in address order need nothing */

    enum { DIGITS = 4, RADIX = 1 << 16 };
    uint32_t(*count)[RADIX] = calloc(DIGITS, sizeof(*count));
    file_network_t *tmp = xrealloc(NULL, n, sizeof(*tmp));
    file_network_t *from = v, *to = tmp;
    if (!count)
        abort();
    for (size_t i = 0; i < n; i++)
        for (unsigned d = 0; d < DIGITS; d++)
            count[d][(v[i].order_key >> (16 * d)) & 0xffff]++;
    for (unsigned d = 0; d < DIGITS; d++) {
        unsigned shift = 16 * d;
        if (count[d][(v[0].order_key >> shift) & 0xffff] == n)
            continue;
        uint32_t at = 0;
        for (unsigned c = 0; c < RADIX; c++) {
            uint32_t k = count[d][c];
            count[d][c] = at;
            at += k;
        }
        for (size_t i = 0; i < n; i++)
            to[count[d][(from[i].order_key >> shift) & 0xffff]++] = from[i];
        file_network_t *t = from;
        from = to;
        to = t;
    }
    if (from != v)
        memcpy(v, from, n * sizeof(*v));
    free(tmp);
    free(count);
}

static int duplicate_cmp(const void *a, const void *b)
{
    const file_duplicate_t *x = a, *y = b;
    return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * The networks file: "CIDR dc [dc ...]" lines, '#' comments. The keys of
 * its overrides are its own CIDR tokens, NUL-terminated in place.
 *
 * Lines are parsed first and added to the trie in address order: adding a
 * million networks in the file's order would touch the trie at random and
 * miss the cache at every level, in address order each path is still warm
 * from the line before. Duplicates are therefore found after the lines
 * are read, and reported after the other errors of the file.
 */
static void networks_file(geo_policy_t *p, policy_build_t *b)
{
    const char *path = b->svc->networks_file;
    const char *why;
    const char *svc_name = b->svc->name;
    size_t len;
    unsigned line = 0, start_errors = b->d->errors;
    file_network_t *nets = NULL;
    size_t n_nets = 0, cap_nets = 0;

    char *text = file_read_all(path, NETS_FILE_MAX, &len, &why);
    if (!text) {
        diag_error(b->d, path, 0, 0, "cannot read networks file: %s", why);
        return;
    }
    p->file_text = text;
    dc_hash_build(b);

    char *s = text, *end = text + len;
    while (s < end) {
        char *eol = memchr(s, '\n', (size_t)(end - s));
        if (!eol)
            eol = end;
        char *stop = memchr(s, '#', (size_t)(eol - s));
        if (!stop)
            stop = eol;
        line++;
        if (b->d->errors - start_errors >= NETS_FILE_MAX_ERRORS) {
            diag_error(b->d, path, line, 0, "too many errors, giving up");
            free(nets);
            return;
        }
        if (memchr(s, '\0', (size_t)(eol - s))) {
            diag_error(b->d, path, line, 0, "NUL byte in line");
            s = eol + 1;
            continue;
        }

        char *c = s;
        while (c < stop && is_space(*c))
            c++;
        if (c == stop) {
            s = eol + 1;
            continue;
        }
        char *cidr = c;
        while (c < stop && !is_space(*c))
            c++;
        size_t cidr_len = (size_t)(c - cidr);
        char *rest = c;
        conf_network_t net;
        bool ok = true;

        /* Terminate the token where it lies: it is the key decisions show.
         * The byte after it is already read (space, '#', newline or the
         * NUL past the end). */
        *c = '\0';
        const char *bad = cidr_parse(cidr, cidr_len, &net);
        if (bad == bits_past_prefix) {
            char want[CIDR_TEXT_MAX];
            network_text(&net, want, sizeof(want));
            diag_error(b->d, path, line, 0,
                       "bad network \"%.64s\": bits set past the /%u prefix (the network is %s)",
                       cidr, net.prefix, want);
            ok = false;
        } else if (bad) {
            diag_error(b->d, path, line, 0, "bad network \"%.64s\": %s", cidr, bad);
            ok = false;
        }

        uint8_t order[CONF_MAX_DATACENTERS];
        size_t n = 0;
        uint64_t seen = 0;
        c = rest + 1;
        while (c < stop) {
            while (c < stop && is_space(*c))
                c++;
            if (c == stop)
                break;
            const char *name = c;
            while (c < stop && !is_space(*c))
                c++;
            int len_name = (int)(c - name);
            int dc = dc_find(b, name, (size_t)len_name);
            if (dc < 0) {
                diag_error(b->d, path, line, 0, "unknown data center \"%.*s\"",
                           len_name > 64 ? 64 : len_name, name);
                ok = false;
            } else if (seen & (UINT64_C(1) << dc)) {
                diag_error(b->d, path, line, 0, "data center \"%.*s\" listed twice", len_name,
                           name);
                ok = false;
            } else if (!b->has_pool[dc]) {
                diag_error(b->d, path, line, 0, "data center \"%.*s\" has no pool in service %s",
                           len_name, name, svc_name);
                ok = false;
            } else {
                seen |= UINT64_C(1) << dc;
                order[n++] = (uint8_t)dc;
            }
        }
        if (ok && n == 0) {
            diag_error(b->d, path, line, 0, "network %s: no data centers", cidr);
            ok = false;
        }
        if (ok) {
            if (n_nets == cap_nets) {
                cap_nets = cap_nets ? cap_nets * 2 : 1024;
                nets = xrealloc(nets, cap_nets, sizeof(*nets));
            }
            nets[n_nets].order_key = order_key(&net);
            nets[n_nets].override = override_add(p, cidr, line, order_intern(p, b, order, n));
            nets[n_nets].net = net;
            n_nets++;
        }
        s = eol + 1;
    }

    file_networks_sort(nets, n_nets);
    file_duplicate_t *dups = NULL;
    size_t n_dups = 0;
    for (size_t i = 0; i < n_nets; i++) {
        uint32_t first;
        int err = geo_nets_add(p->nets, &nets[i].net, nets[i].override);
        if (err == -EEXIST && geo_nets_get(p->nets, &nets[i].net, &first)) {
            dups = xrealloc(dups, n_dups + 1, sizeof(*dups));
            dups[n_dups].line = p->overrides[nets[i].override].line;
            dups[n_dups].self = nets[i].override;
            dups[n_dups].first = first;
            n_dups++;
        } else if (err < 0) {
            diag_error(b->d, path, p->overrides[nets[i].override].line, 0, "network %s: %s",
                       p->overrides[nets[i].override].key, strerror(-err));
        }
    }
    free(nets);
    if (n_dups > 1)
        qsort(dups, n_dups, sizeof(*dups), duplicate_cmp);
    for (size_t i = 0; i < n_dups; i++) {
        const policy_override_t *first = &p->overrides[dups[i].first];
        const char *key = p->overrides[dups[i].self].key;
        if (b->d->errors - start_errors >= NETS_FILE_MAX_ERRORS) {
            diag_error(b->d, path, dups[i].line, 0, "too many errors, giving up");
            break;
        }
        if (dups[i].first < p->n_inline)
            diag_error(b->d, path, dups[i].line, 0,
                       "network %s is also given in the config (%s:%u)", key, b->svc->conf_file,
                       first->line);
        else
            diag_error(b->d, path, dups[i].line, 0, "duplicate network %s (first at line %u)", key,
                       first->line);
    }
    free(dups);
}

/* ------------------------------------------------------------ build */

/* p->fallback_dc: the default order, then the other pools' data centers by
 * index (the order of the datacenters section). */
static void fallback_build(geo_policy_t *p)
{
    uint64_t seen = 0;
    unsigned n = 0;
    if (p->default_order >= p->n_orders)
        return; /* a bad default, reported: the policy is not built */
    const policy_order_t *o = &p->orders[p->default_order];
    for (unsigned i = 0; i < o->n; i++) {
        uint8_t dc = p->order_dc[o->off + i];
        seen |= UINT64_C(1) << dc;
        p->fallback_dc[n++] = dc;
    }
    for (unsigned dc = 0; dc < CONF_MAX_DATACENTERS && n < p->n_pools; dc++)
        if ((p->pools & ~seen) & (UINT64_C(1) << dc))
            p->fallback_dc[n++] = (uint8_t)dc;
}

bool geo_policy_build(const conf_t *conf, const conf_service_t *svc, geo_policy_t **out, diag_t *d)
{
    policy_build_t b = {.conf = conf, .svc = svc, .d = d};
    unsigned errors = d->errors;
    geo_policy_t *p = calloc(1, sizeof(*p));

    *out = NULL;
    if (!p)
        abort();
    p->kind = svc->policy;
    for (size_t i = 0; i < 26 * 26; i++)
        p->country[i] = NO_RULE;
    for (size_t i = 0; i < N_CONTINENTS; i++)
        p->continent[i] = NO_RULE;

    if (svc->n_pools == 0)
        diag_error(d, svc->conf_file, svc->conf_line, 0, "service %s has no pools", svc->name);
    for (size_t i = 0; i < svc->n_pools; i++) {
        const conf_pool_t *pool = &svc->pools[i];
        unsigned dc = pool->dc;
        if (dc >= conf->n_datacenters || dc >= CONF_MAX_DATACENTERS) {
            diag_error(d, svc->conf_file, pool->conf_line, 0,
                       "pool for data center #%u, which does not exist", dc);
            continue;
        }
        const conf_datacenter_t *where = &conf->datacenters[dc];
        if (b.has_pool[dc]) {
            diag_error(d, svc->conf_file, pool->conf_line, 0, "data center \"%s\" has two pools",
                       where->name);
            continue;
        }
        if (svc->policy == CONF_POLICY_NEAREST && !where->has_location) {
            diag_error(d, svc->conf_file, pool->conf_line, 0,
                       "data center \"%s\" has no location, which policy nearest needs",
                       where->name);
        }
        const double rad = M_PI / 180.0;
        double lat = where->lat * rad, lon = where->lon * rad;
        p->pool_vec[p->n_pools][0] = cos(lat) * cos(lon);
        p->pool_vec[p->n_pools][1] = cos(lat) * sin(lon);
        p->pool_vec[p->n_pools][2] = sin(lat);
        b.has_pool[dc] = true;
        p->pool_dc[p->n_pools++] = (uint8_t)dc;
        p->pools |= UINT64_C(1) << dc;
        if (where->has_location)
            p->located |= UINT64_C(1) << dc;
    }

    if (svc->default_order.n) {
        if (order_check(&b, &svc->default_order, svc->conf_line, "default"))
            p->default_order = order_intern(p, &b, svc->default_order.dc, svc->default_order.n);
    } else {
        p->default_order = order_intern(p, &b, p->pool_dc, p->n_pools);
    }

    fallback_build(p);

    rules_add(p, &b, GEO_RULE_SUBDIVISION, svc->subdivisions, svc->n_subdivisions);
    rules_add(p, &b, GEO_RULE_COUNTRY, svc->countries, svc->n_countries);
    rules_add(p, &b, GEO_RULE_CONTINENT, svc->continents, svc->n_continents);
    if (p->n_subdivisions > 1)
        qsort(p->subdivisions, p->n_subdivisions, sizeof(*p->subdivisions), subdivision_cmp);

    p->nets = geo_nets_new();
    if (!p->nets)
        abort();
    inline_networks(p, &b);
    if (svc->networks_file)
        networks_file(p, &b);
    if (geo_nets_finish(p->nets) < 0)
        abort();

    free(b.order_hash);
    if (d->errors != errors) {
        geo_policy_free(p);
        return false;
    }
    *out = p;
    return true;
}

void geo_policy_free(geo_policy_t *p)
{
    if (!p)
        return;
    geo_nets_free(p->nets);
    free(p->overrides);
    free(p->inline_text);
    free(p->file_text);
    free(p->rules);
    free(p->subdivisions);
    free(p->orders);
    free(p->order_dc);
    free(p->picks);
    free(p->routes);
    free(p);
}

/* ------------------------------------------------------------ decisions */

/* A decision as indices: which rule, and the index of its order. */
typedef struct policy_pick {
    uint32_t order; /* index into geo_policy.orders */
    uint8_t rule;   /* enum geo_rule */
    const char *key;
} policy_pick_t;

static void pick_rule(const geo_policy_t *p, enum geo_rule kind, uint32_t rule, policy_pick_t *pk)
{
    pk->rule = (uint8_t)kind;
    pk->key = p->rules[rule].key;
    pk->order = p->rules[rule].order;
}

static void pick_default(const geo_policy_t *p, policy_pick_t *pk)
{
    pk->rule = GEO_RULE_DEFAULT;
    pk->key = NULL;
    pk->order = p->default_order;
}

static bool map_subdivision(const geo_policy_t *p, const geo_location_t *loc, policy_pick_t *pk)
{
    char key[8];
    size_t n = 0;

    key[n++] = upper(loc->country[0]);
    key[n++] = upper(loc->country[1]);
    key[n++] = '-';
    for (size_t i = 0; i < sizeof(loc->subdivision) && loc->subdivision[i]; i++)
        key[n++] = upper(loc->subdivision[i]);
    uint64_t want = key_pack(key, n);

    size_t lo = 0, hi = p->n_subdivisions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->subdivisions[mid].key < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == p->n_subdivisions || p->subdivisions[lo].key != want)
        return false;
    pick_rule(p, GEO_RULE_SUBDIVISION, p->subdivisions[lo].rule, pk);
    return true;
}

static void pick_map(const geo_policy_t *p, const geo_location_t *loc, policy_pick_t *pk)
{
    char cc0 = upper(loc->country[0]), cc1 = upper(loc->country[1]);
    bool country = cc0 >= 'A' && cc0 <= 'Z' && cc1 >= 'A' && cc1 <= 'Z' && !loc->country[2];

    if (country && loc->subdivision[0] && p->n_subdivisions && map_subdivision(p, loc, pk))
        return;
    if (country) {
        uint32_t r = p->country[(cc0 - 'A') * 26 + (cc1 - 'A')];
        if (r != NO_RULE) {
            pick_rule(p, GEO_RULE_COUNTRY, r, pk);
            return;
        }
    }
    if (loc->continent[0] && loc->continent[1] && !loc->continent[2]) {
        char up[2] = {upper(loc->continent[0]), upper(loc->continent[1])};
        int c = continent_index(up);
        if (c >= 0 && p->continent[c] != NO_RULE) {
            pick_rule(p, GEO_RULE_CONTINENT, p->continent[c], pk);
            return;
        }
    }
    pick_default(p, pk);
}

/*
 * Sorting by the dot product of unit vectors gives the haversine order
 * (both are monotonic in the central angle) for two trigonometric calls
 * per location instead of several per data center. Writes p->n_pools data
 * centers to dc, nearest first.
 */
static void nearest_order(const geo_policy_t *p, const geo_location_t *loc, uint8_t *dc)
{
    const double rad = M_PI / 180.0;
    double lat = loc->lat * rad, lon = loc->lon * rad;
    double x = cos(lat) * cos(lon), y = cos(lat) * sin(lon), z = sin(lat);
    double near[CONF_MAX_DATACENTERS];
    uint8_t idx[CONF_MAX_DATACENTERS];
    unsigned n = p->n_pools;

    for (unsigned i = 0; i < n; i++) {
        const double *v = p->pool_vec[i];
        double dot = v[0] * x + v[1] * y + v[2] * z;
        unsigned j = i;
        /* insertion sort, stable: ties keep the pools' order */
        while (j > 0 && near[j - 1] < dot) {
            near[j] = near[j - 1];
            idx[j] = idx[j - 1];
            j--;
        }
        near[j] = dot;
        idx[j] = (uint8_t)i;
    }
    for (unsigned i = 0; i < n; i++)
        dc[i] = p->pool_dc[idx[i]];
}

static void route_order(const geo_policy_t *p, uint32_t order, geo_route_t *out)
{
    const policy_order_t *o = &p->orders[order];
    out->order = p->order_dc + o->off;
    out->n_order = o->n;
}

static void route_pick(const geo_policy_t *p, const policy_pick_t *pk, geo_route_t *out)
{
    out->rule = (enum geo_rule)pk->rule;
    out->key = pk->key;
    route_order(p, pk->order, out);
}

/* The rules after the overrides, for a location, computed now (the
 * database's records are precomputed by geo_policy_bind()). */
static void route_location(const geo_policy_t *p, const geo_location_t *loc, geo_route_t *out)
{
    policy_pick_t pk;
    if (p->kind == CONF_POLICY_MAP) {
        pick_map(p, loc, &pk);
    } else if (loc->has_coords) {
        nearest_order(p, loc, out->buf);
        out->rule = GEO_RULE_NEAREST;
        out->key = NULL;
        out->order = out->buf;
        out->n_order = p->n_pools;
        return;
    } else {
        pick_default(p, &pk);
    }
    route_pick(p, &pk, out);
}

void geo_policy_bind(geo_policy_t *p, const geo_db_t *db)
{
    free(p->picks);
    free(p->routes);
    p->picks = NULL;
    p->routes = NULL;
    p->picks_db = NULL;
    p->v4_db = NULL;
    if (!db)
        return;
    size_t n = geo_db_record_count(db);
    p->picks = xrealloc(NULL, n ? n : 1, sizeof(*p->picks));
    p->routes = xrealloc(NULL, n ? n : 1, sizeof(*p->routes));
    policy_build_t b = {0};
    for (size_t i = 0; i < n; i++) {
        geo_location_t loc;
        geo_route_t r;
        geo_db_record_location(db, (uint32_t)i, 0, &loc);
        route_location(p, &loc, &r);
        /* a rule's order is interned already; a nearest one may be new */
        p->picks[i] = (policy_pick_t){.order = order_intern(p, &b, r.order, r.n_order),
                                      .rule = (uint8_t)r.rule,
                                      .key = r.key};
    }
    free(b.order_hash);
    /* order_dc moves while orders are interned: point into it only now */
    for (size_t i = 0; i < n; i++) {
        const policy_order_t *o = &p->orders[p->picks[i].order];
        p->routes[i] = (policy_route_t){.order = p->order_dc + o->off,
                                        .key = p->picks[i].key,
                                        .n_order = o->n,
                                        .rule = p->picks[i].rule};
    }
    const policy_order_t *o = &p->orders[p->default_order];
    p->default_route = (policy_route_t){.order = p->order_dc + o->off, .n_order = o->n,
                                        .rule = GEO_RULE_DEFAULT};
    p->picks_db = db;
    p->v4_db = p->n_overrides ? NULL : db;
}

static inline void route_set(geo_route_t *out, const policy_route_t *r)
{
    out->order = r->order;
    out->n_order = r->n_order;
    out->rule = (enum geo_rule)r->rule;
    out->key = r->key;
}

/* The common case, an IPv4 client of a policy without overrides bound to
 * db: the address masked to its source prefix, one lookup, one table
 * read. Decides exactly as the general path below. */
/* Clears the bits of the address a (max bits long) past prefix. */
static inline void clear_past_prefix(uint8_t *a, unsigned prefix, unsigned max)
{
    if (prefix >= max)
        return;
    a[prefix / 8] &= (uint8_t)(0xff00 >> (prefix % 8));
    for (unsigned i = prefix / 8 + 1; i < max / 8; i++)
        a[i] = 0;
}

/* The end of route_v4() and route_v6(): the lookup's result r for an
 * address of bits bits. */
static inline void route_bound(const geo_policy_t *p, int r, unsigned bits, geo_route_t *out)
{
    out->scope = out->prefix;
    out->found = r > 0;
    if (r > 0) {
        route_set(out, &p->routes[out->record]);
        return;
    }
    route_set(out, &p->default_route);
    if (r < 0) {
        out->db_error = true;
        out->scope = (uint8_t)bits;
    }
}

static void route_v4(const geo_policy_t *p, const geo_db_t *db, const uint8_t addr[16],
                     unsigned source_prefix, geo_route_t *out)
{
    uint32_t a = (uint32_t)addr[0] << 24 | (uint32_t)addr[1] << 16 | (uint32_t)addr[2] << 8 |
                 addr[3];
    unsigned bits = source_prefix < 32 ? source_prefix : 32;
    a &= UINT32_MAX << (32 - bits); /* bits > 0 */
    out->db_error = false;
    route_bound(p, geo_db_lookup_v4(db, a, &out->record, &out->prefix), bits, out);
}

/* The same for an IPv6 client. */
static void route_v6(const geo_policy_t *p, const geo_db_t *db, const uint8_t addr[16],
                     unsigned source_prefix, geo_route_t *out)
{
    unsigned bits = source_prefix < 128 ? source_prefix : 128;
    uint8_t a[16];
    memcpy(a, addr, 16);
    clear_past_prefix(a, bits, 128);
    out->db_error = false;
    route_bound(p, geo_db_lookup(db, AF_INET6, a, &out->record, &out->prefix), bits, out);
}

/* Every other case: overrides, IPv6, no database, nothing bound. Kept out
 * of line so that the common case above needs no stack frame. */
static __attribute__((noinline)) void route_general(const geo_policy_t *p, const geo_db_t *db,
                                                    int family, const uint8_t addr[16],
                                                    unsigned source_prefix, geo_route_t *out)
{
    unsigned max = family == AF_INET ? 32 : 128;
    uint8_t a[16];
    uint32_t value;
    uint8_t matched, scope = 0;
    policy_pick_t pk;

    pick_default(p, &pk);
    out->db_error = false;
    out->found = false;
    out->prefix = 0;
    out->scope = 0;
    if (source_prefix == 0 || (family != AF_INET && family != AF_INET6)) {
        route_pick(p, &pk, out);
        return;
    }
    if (source_prefix > max)
        source_prefix = max;
    /* ECS clears these bits already; a caller passing a full source
     * address with a shorter prefix must not be told more than it asked */
    memcpy(a, addr, 16);
    if (max == 32)
        memset(a + 4, 0, 12);
    clear_past_prefix(a, source_prefix, max);

    /* The scope of an override, or on a miss the widest prefix of the
     * address that no override reaches into: a resolver that caches the
     * database's answer for a wider block would give it to clients that an
     * override sends elsewhere. */
    if (p->n_overrides && geo_nets_lookup_scope(p->nets, family, a, &value, &matched, &scope)) {
        out->rule = GEO_RULE_NETWORK;
        out->key = p->overrides[value].key;
        route_order(p, p->overrides[value].order, out);
        out->scope = scope;
        out->family = family;
        out->source_prefix = (uint8_t)source_prefix;
        memcpy(out->addr, a, 16);
        return;
    }
    if (!db) {
        route_pick(p, &pk, out);
        out->scope = scope;
        return;
    }
    int r = geo_db_lookup(db, family, a, &out->record, &out->prefix);
    if (r < 0) {
        route_pick(p, &pk, out);
        out->db_error = true;
        out->scope = (uint8_t)source_prefix;
        return;
    }
    out->found = r > 0;
    out->scope = out->prefix > scope ? out->prefix : scope;
    if (!out->found) {
        route_pick(p, &pk, out); /* no location: what every rule gives it */
    } else if (p->picks_db == db) {
        route_set(out, &p->routes[out->record]);
    } else {
        geo_location_t loc;
        geo_db_record_location(db, out->record, out->prefix, &loc);
        route_location(p, &loc, out);
    }
}

void geo_policy_route(const geo_policy_t *p, const geo_db_t *db, int family,
                      const uint8_t addr[16], unsigned source_prefix, geo_route_t *out)
{
    if (db == p->v4_db && db && source_prefix && family == AF_INET)
        route_v4(p, db, addr, source_prefix, out);
    else if (db == p->v4_db && db && source_prefix && family == AF_INET6)
        route_v6(p, db, addr, source_prefix, out);
    else
        route_general(p, db, family, addr, source_prefix, out);
}

unsigned geo_policy_fallback(const geo_policy_t *p, const geo_db_t *db, geo_route_t *route,
                             uint8_t *dc)
{
    uint64_t listed = 0, near = 0;
    for (unsigned i = 0; i < route->n_order; i++)
        listed |= UINT64_C(1) << route->order[i];
    geo_location_t loc = {.has_coords = false};
    if (route->found) {
        geo_db_record_location(db, route->record, route->prefix, &loc);
    } else if (route->rule == GEO_RULE_NETWORK && db && route->source_prefix) {
        /* The override chose the order; where the client is now chooses
         * among the rest, so both networks bound the scope. */
        uint32_t record;
        uint8_t prefix;
        int r = geo_db_lookup(db, route->family, route->addr, &record, &prefix);
        uint8_t decided = r < 0 ? route->source_prefix : prefix;
        if (decided > route->scope)
            route->scope = decided;
        if (r > 0)
            geo_db_record_location(db, record, prefix, &loc);
    }
    unsigned n = 0;
    if (loc.has_coords) {
        uint8_t by_distance[CONF_MAX_DATACENTERS];
        nearest_order(p, &loc, by_distance);
        near = p->located & ~listed;
        for (unsigned i = 0; i < p->n_pools; i++)
            if (near & (UINT64_C(1) << by_distance[i]))
                dc[n++] = by_distance[i];
    }
    for (unsigned i = 0; i < p->n_pools; i++)
        if (!((listed | near) & (UINT64_C(1) << p->fallback_dc[i])))
            dc[n++] = p->fallback_dc[i];
    return n;
}

bool geo_policy_order_within(const geo_policy_t *p, uint64_t dcs)
{
    /* every order is a non-empty list of pools' data centers */
    if (!(p->pools & ~dcs))
        return true;
    for (size_t i = 0; i < p->n_orders; i++) {
        const policy_order_t *o = &p->orders[i];
        uint64_t in = 0;
        for (unsigned k = 0; k < o->n; k++)
            in |= UINT64_C(1) << p->order_dc[o->off + k];
        if (o->n && !(in & ~dcs))
            return true;
    }
    return false;
}

static void decision_from_route(const geo_route_t *r, geo_decision_t *out)
{
    out->rule = r->rule;
    out->key = r->key;
    out->db_error = r->db_error;
    out->scope = r->scope;
    out->n_order = r->n_order;
    memcpy(out->order, r->order, r->n_order);
}

void geo_policy_apply(const geo_policy_t *p, const geo_location_t *loc, geo_decision_t *out)
{
    geo_route_t r = {.scope = loc->prefix};
    route_location(p, loc, &r);
    decision_from_route(&r, out);
    out->loc = *loc;
}

void geo_policy_decide(const geo_policy_t *p, const geo_db_t *db, int family,
                       const uint8_t addr[16], unsigned source_prefix, geo_decision_t *out)
{
    geo_route_t r;
    geo_policy_route(p, db, family, addr, source_prefix, &r);
    decision_from_route(&r, out);
    memset(&out->loc, 0, sizeof(out->loc));
    out->loc.prefix = r.prefix;
    if (r.found)
        geo_db_record_location(db, r.record, r.prefix, &out->loc);
}

double geo_distance_km(double lat1, double lon1, double lat2, double lon2)
{
    const double rad = M_PI / 180.0;
    double s_lat = sin((lat2 - lat1) * rad / 2);
    double s_lon = sin((lon2 - lon1) * rad / 2);
    double a = s_lat * s_lat + cos(lat1 * rad) * cos(lat2 * rad) * s_lon * s_lon;

    /* rounding can push a just past 1 for antipodes */
    if (a > 1)
        a = 1;
    return 2 * GEO_EARTH_RADIUS_KM * asin(sqrt(a));
}
