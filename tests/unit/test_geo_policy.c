/*
 * Unit tests for src/geo/nets.c and src/geo/policy.c: the override trie
 * (against a brute-force model), the networks file and its messages, map
 * precedence, nearest ordering, scopes and the speed of a decision.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fixture_geo.h"
#include "geo/geo.h"

#define CONF_NAME "t.yaml"

enum { EU_WEST, US_EAST, AP_SOUTH, SPARE, NOWHERE, N_DC };

/* ------------------------------------------------------------ helpers */

static const char *data_dir(void)
{
    static char dir[PATH_MAX];
    const char *top = getenv("top_srcdir");
    if (top && *top) {
        snprintf(dir, sizeof(dir), "%s/tests/unit/data/geo-policy", top);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        int len = slash ? (int)(slash - __FILE__) : 1;
        snprintf(dir, sizeof(dir), "%.*s/data/geo-policy", len, slash ? __FILE__ : ".");
    }
    return dir;
}

static char *fixture(const char *name)
{
    static char path[PATH_MAX + 256]; /* data_dir() and a file name */
    snprintf(path, sizeof(path), "%s/%s", data_dir(), name);
    return path;
}

static conf_network_t net(const char *text)
{
    conf_network_t n;
    char buf[64];
    const char *slash = strchr(text, '/');
    size_t len = slash ? (size_t)(slash - text) : strlen(text);

    memset(&n, 0, sizeof(n));
    memcpy(buf, text, len);
    buf[len] = '\0';
    n.family = strchr(buf, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(n.family, buf, n.addr) != 1)
        fail_msg("bad test network %s", text);
    n.prefix = (uint8_t)(slash ? atoi(slash + 1) : n.family == AF_INET ? 32 : 128);
    return n;
}

static int addr_of(const char *text, uint8_t addr[16])
{
    memset(addr, 0, 16);
    int family = strchr(text, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, text, addr) != 1)
        fail_msg("bad test address %s", text);
    return family;
}

/* Looks text up; returns the value or -1, with the prefix and scope. */
static long look(const geo_nets_t *nets, const char *text, int *prefix, int *scope)
{
    uint8_t addr[16];
    int family = addr_of(text, addr);
    uint32_t value = 0;
    uint8_t p = 0xee, s = 0xee;
    bool hit = geo_nets_lookup_scope(nets, family, addr, &value, &p, &s);
    uint32_t value2 = 0;
    uint8_t p2 = 0xee;
    /* the plain lookup must agree */
    assert_int_equal(geo_nets_lookup(nets, family, addr, &value2, &p2), hit);
    if (hit) {
        assert_int_equal(value, value2);
        assert_int_equal(p, p2);
    }
    if (prefix)
        *prefix = hit ? p : -1;
    if (scope)
        *scope = s;
    return hit ? (long)value : -1;
}

static conf_t *make_conf(void)
{
    static const struct {
        const char *name;
        bool has_location;
        double lat, lon;
    } dcs[N_DC] = {
        {"eu-west", true, 53.35, -6.26},  {"us-east", true, 38.95, -77.45},
        {"ap-south", true, 1.29, 103.85}, {"spare", true, 50.11, 8.68},
        {"nowhere", false, 0, 0},
    };
    conf_t *conf = calloc(1, sizeof(*conf));
    assert_non_null(conf);
    conf->path = (char *)CONF_NAME;
    conf->datacenters = calloc(N_DC, sizeof(*conf->datacenters));
    assert_non_null(conf->datacenters);
    conf->n_datacenters = N_DC;
    for (int i = 0; i < N_DC; i++) {
        conf->datacenters[i].name = (char *)dcs[i].name;
        conf->datacenters[i].has_location = dcs[i].has_location;
        conf->datacenters[i].lat = dcs[i].lat;
        conf->datacenters[i].lon = dcs[i].lon;
        conf->datacenters[i].conf_file = CONF_NAME;
        conf->datacenters[i].conf_line = (unsigned)(2 + i);
    }
    return conf;
}

static void free_conf(conf_t *conf)
{
    free(conf->datacenters);
    free(conf);
}

/* A service answering from eu-west, us-east and ap-south (pools on lines
 * 20, 21, 22 of t.yaml), with no rules. */
static conf_service_t make_service(enum conf_policy policy)
{
    static conf_pool_t pools[3] = {
        {.dc = EU_WEST, .conf_line = 20},
        {.dc = US_EAST, .conf_line = 21},
        {.dc = AP_SOUTH, .conf_line = 22},
    };
    conf_service_t svc;
    memset(&svc, 0, sizeof(svc));
    svc.name = (char *)"www.example.com.";
    svc.ttl = 300;
    svc.policy = policy;
    svc.ecs = true;
    svc.pools = pools;
    svc.n_pools = 3;
    svc.conf_file = CONF_NAME;
    svc.conf_line = 18;
    return svc;
}

#define ORDER(...)                                                                                 \
    ((conf_dc_order_t){(uint8_t[]){__VA_ARGS__},                                                   \
                       sizeof((uint8_t[]){__VA_ARGS__}) / sizeof(uint8_t)})

static void print_messages(const diag_t *d)
{
    for (size_t i = 0; i < d->count; i++)
        print_message("  got: %s\n", d->messages[i]);
}

static geo_policy_t *build_ok(const conf_t *conf, const conf_service_t *svc)
{
    diag_t d;
    geo_policy_t *p = NULL;
    diag_init(&d);
    d.quiet = true;
    bool ok = geo_policy_build(conf, svc, &p, &d);
    if (!ok || d.count)
        print_messages(&d);
    assert_true(ok);
    assert_int_equal(d.count, 0);
    assert_non_null(p);
    diag_free(&d);
    return p;
}

/* Builds svc, which must fail with exactly the messages given (a NULL-
 * terminated list, in order). */
static void build_fails(const conf_t *conf, const conf_service_t *svc, ...)
{
    diag_t d;
    geo_policy_t *p = (geo_policy_t *)1;
    va_list ap;
    size_t n = 0;
    bool same = true;
    const char *want;

    diag_init(&d);
    d.quiet = true;
    assert_false(geo_policy_build(conf, svc, &p, &d));
    assert_null(p);
    va_start(ap, svc);
    while ((want = va_arg(ap, const char *))) {
        if (n >= d.count || strcmp(d.messages[n], want) != 0) {
            print_message("message %zu: expected: %s\n", n, want);
            print_message("message %zu:      got: %s\n", n, n < d.count ? d.messages[n] : "(none)");
            same = false;
        }
        n++;
    }
    va_end(ap);
    if (n != d.count) {
        print_message("expected %zu messages, got %zu:\n", n, d.count);
        print_messages(&d);
        same = false;
    }
    assert_true(same);
    diag_free(&d);
}

/* The decision's order as "eu-west,us-east". */
static const char *order_text(const conf_t *conf, const geo_decision_t *dec)
{
    static char buf[512];
    size_t at = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < dec->n_order; i++)
        at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s", i ? "," : "",
                               conf->datacenters[dec->order[i]].name);
    return buf;
}

static geo_location_t location(const char *continent, const char *country, const char *subdivision,
                               uint8_t prefix)
{
    geo_location_t loc;
    memset(&loc, 0, sizeof(loc));
    loc.found = true;
    snprintf(loc.continent, sizeof(loc.continent), "%s", continent);
    snprintf(loc.country, sizeof(loc.country), "%s", country);
    snprintf(loc.subdivision, sizeof(loc.subdivision), "%s", subdivision);
    loc.prefix = prefix;
    return loc;
}

static geo_location_t at(double lat, double lon, uint8_t prefix)
{
    geo_location_t loc = location("", "", "", prefix);
    loc.has_coords = true;
    loc.lat = lat;
    loc.lon = lon;
    return loc;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ------------------------------------------------------------ trie */

static void test_nets_empty(void **state)
{
    (void)state;
    geo_nets_t *nets = geo_nets_new();
    int prefix, scope;
    assert_non_null(nets);
    assert_int_equal(geo_nets_count(nets), 0);
    assert_int_equal(look(nets, "192.0.2.1", &prefix, &scope), -1);
    assert_int_equal(scope, 0);
    assert_int_equal(look(nets, "2001:db8::1", &prefix, &scope), -1);
    assert_int_equal(scope, 0);
    assert_int_equal(geo_nets_finish(nets), 0);
    assert_int_equal(look(nets, "::ffff:192.0.2.1", &prefix, &scope), -1);
    assert_int_equal(scope, 0);
    geo_nets_free(nets);
    geo_nets_free(NULL);
    assert_int_equal(geo_nets_count(NULL), 0);
}

static void test_nets_edges(void **state)
{
    (void)state;
    geo_nets_t *nets = geo_nets_new();
    conf_network_t n;
    uint32_t v;
    int prefix, scope;

    n = net("0.0.0.0/0");
    assert_int_equal(geo_nets_add(nets, &n, 1), 0);
    assert_int_equal(look(nets, "203.0.113.9", &prefix, &scope), 1);
    assert_int_equal(prefix, 0);
    assert_int_equal(scope, 0);
    /* /0 of IPv4 is not IPv6, and ::/0 is not IPv4 */
    assert_int_equal(look(nets, "2001:db8::1", &prefix, &scope), -1);
    n = net("::/0");
    assert_int_equal(geo_nets_add(nets, &n, 2), 0);
    assert_int_equal(look(nets, "2001:db8::1", &prefix, NULL), 2);
    assert_int_equal(prefix, 0);
    assert_int_equal(look(nets, "203.0.113.9", &prefix, NULL), 1);

    /* full-length networks */
    n = net("203.0.113.9/32");
    assert_int_equal(geo_nets_add(nets, &n, 3), 0);
    n = net("2001:db8::1/128");
    assert_int_equal(geo_nets_add(nets, &n, 4), 0);
    assert_int_equal(look(nets, "203.0.113.9", &prefix, &scope), 3);
    assert_int_equal(prefix, 32);
    assert_int_equal(scope, 32);
    assert_int_equal(look(nets, "203.0.113.8", &prefix, &scope), 1);
    assert_int_equal(prefix, 0);
    assert_int_equal(scope, 32); /* only 203.0.113.8/32 is clear of the /32 */
    assert_int_equal(look(nets, "2001:db8::1", &prefix, &scope), 4);
    assert_int_equal(prefix, 128);
    assert_int_equal(scope, 128);
    assert_int_equal(look(nets, "2001:db8::", &prefix, &scope), 2);
    assert_int_equal(scope, 128);
    assert_int_equal(look(nets, "8000::", &prefix, &scope), 2);
    assert_int_equal(scope, 1);

    /* nested: the longest prefix wins at every level */
    n = net("10.0.0.0/8");
    assert_int_equal(geo_nets_add(nets, &n, 10), 0);
    n = net("10.1.0.0/16");
    assert_int_equal(geo_nets_add(nets, &n, 11), 0);
    n = net("10.1.2.0/24");
    assert_int_equal(geo_nets_add(nets, &n, 12), 0);
    n = net("10.1.2.128/25");
    assert_int_equal(geo_nets_add(nets, &n, 13), 0);
    assert_int_equal(look(nets, "10.1.2.200", &prefix, &scope), 13);
    assert_int_equal(prefix, 25);
    assert_int_equal(scope, 25);
    assert_int_equal(look(nets, "10.1.2.1", &prefix, &scope), 12);
    assert_int_equal(prefix, 24);
    assert_int_equal(scope, 25); /* the /25 inside the /24 answers differently */
    assert_int_equal(look(nets, "10.1.3.1", &prefix, &scope), 11);
    assert_int_equal(prefix, 16);
    assert_int_equal(scope, 24);
    assert_int_equal(look(nets, "10.200.0.1", &prefix, &scope), 10);
    assert_int_equal(prefix, 8);
    assert_int_equal(scope, 9);
    assert_int_equal(look(nets, "11.0.0.1", &prefix, NULL), 1);

    /* a shorter network added after its more specific ones */
    n = net("10.0.0.0/15");
    assert_int_equal(geo_nets_add(nets, &n, 14), 0);
    assert_int_equal(look(nets, "10.0.0.1", &prefix, NULL), 14);
    assert_int_equal(prefix, 15);
    assert_int_equal(look(nets, "10.1.3.1", &prefix, NULL), 11);
    assert_int_equal(look(nets, "10.2.0.1", &prefix, NULL), 10);

    /* duplicates, also when written differently */
    n = net("10.1.0.0/16");
    assert_int_equal(geo_nets_add(nets, &n, 99), -EEXIST);
    n = net("::ffff:10.1.0.0/112");
    assert_int_equal(geo_nets_add(nets, &n, 99), -EEXIST);
    n = net("203.0.113.9");
    assert_int_equal(geo_nets_add(nets, &n, 99), -EEXIST);
    n = net("0.0.0.0/0");
    assert_int_equal(geo_nets_add(nets, &n, 99), -EEXIST);
    assert_true(geo_nets_get(nets, &n, &v));
    assert_int_equal(v, 1);
    n = net("10.1.0.0/17");
    assert_false(geo_nets_get(nets, &n, &v));
    n = net("10.0.0.0/9"); /* a branch point, not a network */
    assert_false(geo_nets_get(nets, &n, &v));

    /* malformed */
    n = net("10.1.2.3/24");
    assert_int_equal(geo_nets_add(nets, &n, 99), -EINVAL);
    n = net("10.0.0.0/8");
    n.prefix = 33;
    assert_int_equal(geo_nets_add(nets, &n, 99), -EINVAL);
    n = net("2001:db8::/32");
    n.prefix = 129;
    assert_int_equal(geo_nets_add(nets, &n, 99), -EINVAL);
    n.family = 99;
    n.prefix = 8;
    assert_int_equal(geo_nets_add(nets, &n, 99), -EINVAL);
    assert_int_equal(geo_nets_count(nets), 9);

    /* the same answers once laid out for lookups */
    assert_int_equal(geo_nets_finish(nets), 0);
    assert_int_equal(look(nets, "10.1.2.200", &prefix, &scope), 13);
    assert_int_equal(look(nets, "10.1.2.1", &prefix, &scope), 12);
    assert_int_equal(scope, 25);
    assert_int_equal(look(nets, "2001:db8::1", &prefix, NULL), 4);
    assert_int_equal(geo_nets_count(nets), 9);
    assert_true(geo_nets_memory(nets) > 0);
    /* and adding after finishing works */
    n = net("10.1.2.0/26");
    assert_int_equal(geo_nets_add(nets, &n, 15), 0);
    assert_int_equal(look(nets, "10.1.2.1", &prefix, NULL), 15);
    geo_nets_free(nets);
}

static void test_nets_v4_mapped(void **state)
{
    (void)state;
    geo_nets_t *nets = geo_nets_new();
    conf_network_t n;
    int prefix, scope;

    n = net("192.0.2.0/24");
    assert_int_equal(geo_nets_add(nets, &n, 1), 0);
    n = net("::ffff:198.51.100.0/120"); /* stored as 198.51.100.0/24 */
    assert_int_equal(geo_nets_add(nets, &n, 2), 0);
    n = net("::/0"); /* every IPv6 address, but not IPv4 clients */
    assert_int_equal(geo_nets_add(nets, &n, 3), 0);
    n = net("::fffe:0:0/95"); /* holds the mapped block, but is IPv6 */
    assert_int_equal(geo_nets_add(nets, &n, 4), 0);

    assert_int_equal(look(nets, "192.0.2.7", &prefix, &scope), 1);
    assert_int_equal(prefix, 24);
    assert_int_equal(look(nets, "::ffff:192.0.2.7", &prefix, &scope), 1);
    assert_int_equal(prefix, 120);
    assert_int_equal(scope, 120);
    assert_int_equal(look(nets, "198.51.100.1", &prefix, NULL), 2);
    assert_int_equal(prefix, 24);
    assert_int_equal(look(nets, "::ffff:198.51.100.1", &prefix, NULL), 2);
    assert_int_equal(prefix, 120);
    /* a mapped address with no IPv4 network is an IPv4 client: no match */
    assert_int_equal(look(nets, "::ffff:203.0.113.1", &prefix, &scope), -1);
    assert_true(scope > 96);
    assert_int_equal(look(nets, "203.0.113.1", &prefix, NULL), -1);
    /* not mapped: the IPv6 networks */
    assert_int_equal(look(nets, "::fffe:1:1", &prefix, NULL), 4);
    assert_int_equal(prefix, 95);
    assert_int_equal(look(nets, "2001:db8::c000:207", &prefix, NULL), 3);
    /* 192.0.2.0/24 and its mapped form are one network */
    n = net("::ffff:192.0.2.0/120");
    assert_int_equal(geo_nets_add(nets, &n, 9), -EEXIST);
    geo_nets_free(nets);
}

/* The brute-force answer: longest match, and the scope by its definition
 * (the shortest prefix of addr that no other network reaches into). */
static long model_lookup(const conf_network_t *nets, size_t n, int family, const uint8_t *addr,
                         int *prefix, int *scope)
{
    unsigned max = family == AF_INET ? 32 : 128;
    long best = -1;
    int bp = -1;
    for (size_t i = 0; i < n; i++) {
        if (nets[i].family != family)
            continue;
        unsigned common = 0;
        while (common < max &&
               !((addr[common / 8] ^ nets[i].addr[common / 8]) & (0x80 >> (common % 8))))
            common++;
        if (common >= nets[i].prefix && (int)nets[i].prefix > bp) {
            bp = nets[i].prefix;
            best = (long)i;
        }
    }
    int s = bp < 0 ? 0 : bp;
    for (size_t i = 0; i < n; i++) {
        if (nets[i].family != family || (int)nets[i].prefix <= bp)
            continue;
        unsigned common = 0;
        while (common < nets[i].prefix &&
               !((addr[common / 8] ^ nets[i].addr[common / 8]) & (0x80 >> (common % 8))))
            common++;
        if ((int)common + 1 > s)
            s = (int)common + 1;
    }
    *prefix = bp;
    *scope = s;
    return best;
}

/* Random networks crowded into a small space (so they nest and share
 * paths), checked against the model, before and after geo_nets_finish()
 * (enough networks for the jump table). */
static void test_nets_model(void **state)
{
    (void)state;
    for (int family = AF_INET; family != 0; family = family == AF_INET ? AF_INET6 : 0) {
        const size_t n_nets = 3000;
        conf_network_t *nets = calloc(n_nets, sizeof(*nets));
        geo_nets_t *t = geo_nets_new();
        unsigned max = family == AF_INET ? 32 : 128;
        size_t n = 0;

        for (size_t i = 0; i < n_nets; i++) {
            conf_network_t c;
            memset(&c, 0, sizeof(c));
            c.family = (uint8_t)family;
            c.prefix = (uint8_t)(rng() % (max + 1));
            for (unsigned b = 0; b < max / 8; b++)
                c.addr[b] = (uint8_t)rng();
            /* crowd them: the same first 12 bits, and few distinct bytes */
            c.addr[0] = 0x0a;
            c.addr[1] = (uint8_t)((c.addr[1] & 0x0f) | 0x10);
            for (unsigned b = 2; b < max / 8; b++)
                c.addr[b] &= 0x83;
            for (unsigned b = c.prefix; b < max; b++)
                c.addr[b / 8] &= (uint8_t) ~(0x80 >> (b % 8));
            int r = geo_nets_add(t, &c, (uint32_t)n);
            if (r == -EEXIST)
                continue;
            assert_int_equal(r, 0);
            nets[n++] = c;
        }
        assert_int_equal(geo_nets_count(t), n);
        for (int pass = 0; pass < 2; pass++) {
            for (int q = 0; q < 6000; q++) {
                uint8_t addr[16] = {0};
                if (q % 2) {
                    /* inside a network, or next to one */
                    memcpy(addr, nets[rng() % n].addr, 16);
                    addr[(max / 8) - 1 - rng() % 3] ^= (uint8_t)(1u << (rng() % 8));
                } else {
                    for (unsigned b = 0; b < max / 8; b++)
                        addr[b] = (uint8_t)rng();
                    if (q % 4)
                        addr[0] = 0x0a;
                    for (unsigned b = 2; b < max / 8 && q % 8; b++)
                        addr[b] &= 0x83;
                }
                int want_prefix, want_scope;
                long want = model_lookup(nets, n, family, addr, &want_prefix, &want_scope);
                uint32_t value = 0;
                uint8_t prefix = 0, scope = 0;
                bool hit = geo_nets_lookup_scope(t, family, addr, &value, &prefix, &scope);
                if (hit != (want >= 0) || (hit && ((long)value != want || prefix != want_prefix)) ||
                    scope != want_scope) {
                    char text[INET6_ADDRSTRLEN];
                    inet_ntop(family, addr, text, sizeof(text));
                    fail_msg("pass %d, %s: expected %ld /%d scope %d, got %ld /%d scope %d", pass,
                             text, want, want_prefix, want_scope, hit ? (long)value : -1L,
                             hit ? prefix : -1, scope);
                }
                if (family == AF_INET) {
                    /* the mapped form gives the same, in IPv6 bits */
                    uint8_t mapped[16] = {0};
                    mapped[10] = mapped[11] = 0xff;
                    memcpy(mapped + 12, addr, 4);
                    uint32_t v6 = 0;
                    uint8_t p6 = 0, s6 = 0;
                    assert_int_equal(geo_nets_lookup_scope(t, AF_INET6, mapped, &v6, &p6, &s6),
                                     hit);
                    if (hit) {
                        assert_int_equal(v6, value);
                        assert_int_equal(p6, prefix + 96);
                    }
                    assert_int_equal(s6, scope + 96);
                }
            }
            assert_int_equal(geo_nets_finish(t), 0);
        }
        geo_nets_free(t);
        free(nets);
    }
}

static bool bench_wanted(void)
{
    const char *bench = getenv("GEO_POLICY_BENCH");
    return bench && strcmp(bench, "1") == 0;
}

/* Random networks, 1,000,000 when GEO_POLICY_BENCH=1 (100,000 otherwise,
 * to keep `make check` fast): ns per lookup and bytes per network. */
static void test_nets_million(void **state)
{
    (void)state;
    const size_t n = bench_wanted() ? 1000000 : 100000;
    geo_nets_t *t = geo_nets_new();
    conf_network_t *nets = malloc(n * sizeof(*nets));
    size_t added = 0;
    assert_non_null(nets);

    double t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        conf_network_t *c = &nets[i];
        memset(c, 0, sizeof(*c));
        c->family = AF_INET;
        c->prefix = (uint8_t)(16 + rng() % 17);
        uint32_t a = (uint32_t)rng() & (c->prefix ? ~(uint32_t)0 << (32 - c->prefix) : 0);
        c->addr[0] = (uint8_t)(a >> 24);
        c->addr[1] = (uint8_t)(a >> 16);
        c->addr[2] = (uint8_t)(a >> 8);
        c->addr[3] = (uint8_t)a;
        if (geo_nets_add(t, c, (uint32_t)i) == 0)
            added++;
    }
    double t1 = now_ns();
    assert_int_equal(geo_nets_finish(t), 0);
    double t2 = now_ns();

    const size_t m = 2000000;
    uint32_t sum = 0;
    double t3 = now_ns();
    for (size_t i = 0; i < m; i++) {
        uint8_t addr[16] = {0};
        uint64_t r = rng();
        memcpy(addr, &r, 4);
        uint32_t v;
        uint8_t p;
        if (geo_nets_lookup(t, AF_INET, addr, &v, &p))
            sum += v;
    }
    double t4 = now_ns();
    print_message("    %zu networks: add %.0f ns each (random order), finish %.0f ms, "
                  "lookup %.0f ns (random addresses, incl. the generator), %.1f bytes/network\n",
                  added, (t1 - t0) / (double)n, (t2 - t1) / 1e6, (t4 - t3) / (double)m,
                  (double)geo_nets_memory(t) / (double)added);
    assert_true(added > n * 9 / 10);
    (void)sum;
    geo_nets_free(t);
    free(nets);
}

/* ------------------------------------------------------------ distance */

static void test_distance(void **state)
{
    (void)state;
    /* London - New York */
    assert_float_equal(geo_distance_km(51.5074, -0.1278, 40.7128, -74.0060), 5570.2, 2.0);
    /* Sydney - Singapore */
    assert_float_equal(geo_distance_km(-33.8688, 151.2093, 1.3521, 103.8198), 6300.0, 10.0);
    /* Dublin - Ashburn (the eu-west and us-east of the tests) */
    assert_float_equal(geo_distance_km(53.35, -6.26, 38.95, -77.45), 5465.6, 1.0);
    /* the same point, and symmetry */
    assert_float_equal(geo_distance_km(53.35, -6.26, 53.35, -6.26), 0.0, 1e-9);
    assert_float_equal(geo_distance_km(1.29, 103.85, 38.95, -77.45),
                       geo_distance_km(38.95, -77.45, 1.29, 103.85), 1e-6);
    /* antipodes: half the circumference */
    assert_float_equal(geo_distance_km(0, 0, 0, 180), M_PI * 6371.0088, 1e-6);
    assert_float_equal(geo_distance_km(90, 0, -90, 0), M_PI * 6371.0088, 1e-6);
    assert_float_equal(geo_distance_km(40.0, -3.7, -40.0, 176.3), M_PI * 6371.0088, 1e-3);
    /* across the date line: Fiji (178.4) to Samoa (-171.8) is about 1150 km */
    assert_float_equal(geo_distance_km(-18.1, 178.4, -13.8, -171.8), 1151.3, 1.0);
    assert_float_equal(geo_distance_km(0, 179.5, 0, -179.5), 111.2, 0.1);
    /* one degree of latitude */
    assert_float_equal(geo_distance_km(10, 20, 11, 20), 111.195, 0.01);
}

/* ------------------------------------------------------------ map */

static conf_service_t map_service(conf_map_rule_t *subs, size_t n_subs, conf_map_rule_t *ccs,
                                  size_t n_ccs, conf_map_rule_t *conts, size_t n_conts)
{
    conf_service_t svc = make_service(CONF_POLICY_MAP);
    svc.subdivisions = subs;
    svc.n_subdivisions = n_subs;
    svc.countries = ccs;
    svc.n_countries = n_ccs;
    svc.continents = conts;
    svc.n_continents = n_conts;
    return svc;
}

static void check_apply(const conf_t *conf, const geo_policy_t *p, geo_location_t loc,
                        enum geo_rule rule, const char *key, const char *order)
{
    geo_decision_t dec;
    memset(&dec, 0xaa, sizeof(dec));
    geo_policy_apply(p, &loc, &dec);
    if (dec.rule != rule || strcmp(order_text(conf, &dec), order) != 0 ||
        (key == NULL) != (dec.key == NULL) || (key && strcmp(key, dec.key) != 0))
        fail_msg("%s-%s/%s: expected rule %d key %s order %s, got rule %d key %s order %s",
                 loc.country, loc.subdivision, loc.continent, rule, key ? key : "(null)", order,
                 dec.rule, dec.key ? dec.key : "(null)", order_text(conf, &dec));
    assert_int_equal(dec.scope, loc.prefix);
    assert_false(dec.db_error);
    assert_memory_equal(&dec.loc, &loc, sizeof(loc));
}

static void test_map_precedence(void **state)
{
    (void)state;
    conf_t *conf = make_conf();
    conf_map_rule_t subs[] = {
        {(char *)"US-CA", ORDER(AP_SOUTH, US_EAST), 30},
        {(char *)"gb-sct", ORDER(US_EAST), 31}, /* any case */
        {(char *)"FR-75", ORDER(AP_SOUTH), 32},
        {(char *)"CN-22", ORDER(US_EAST, AP_SOUTH), 33},
    };
    conf_map_rule_t ccs[] = {
        {(char *)"US", ORDER(US_EAST, EU_WEST), 34},
        {(char *)"gb", ORDER(EU_WEST, US_EAST), 35},
        {(char *)"AU", ORDER(AP_SOUTH), 36},
    };
    conf_map_rule_t conts[] = {
        {(char *)"EU", ORDER(EU_WEST, US_EAST), 37},
        {(char *)"NA", ORDER(US_EAST, EU_WEST), 38},
        {(char *)"as", ORDER(AP_SOUTH, EU_WEST, US_EAST), 39},
    };
    conf_service_t svc = map_service(subs, 4, ccs, 3, conts, 3);
    svc.default_order = ORDER(US_EAST, EU_WEST, AP_SOUTH);
    geo_policy_t *p = build_ok(conf, &svc);

    /* every level, and the most specific winning */
    check_apply(conf, p, location("NA", "US", "CA", 22), GEO_RULE_SUBDIVISION, "US-CA",
                "ap-south,us-east");
    check_apply(conf, p, location("NA", "US", "TX", 16), GEO_RULE_COUNTRY, "US", "us-east,eu-west");
    check_apply(conf, p, location("NA", "US", "", 16), GEO_RULE_COUNTRY, "US", "us-east,eu-west");
    check_apply(conf, p, location("NA", "CA", "QC", 16), GEO_RULE_CONTINENT, "NA",
                "us-east,eu-west");
    check_apply(conf, p, location("EU", "GB", "SCT", 24), GEO_RULE_SUBDIVISION, "GB-SCT",
                "us-east");
    check_apply(conf, p, location("EU", "GB", "ENG", 24), GEO_RULE_COUNTRY, "GB",
                "eu-west,us-east");
    check_apply(conf, p, location("EU", "FR", "75", 20), GEO_RULE_SUBDIVISION, "FR-75", "ap-south");
    check_apply(conf, p, location("EU", "FR", "IDF", 20), GEO_RULE_CONTINENT, "EU",
                "eu-west,us-east");
    check_apply(conf, p, location("AS", "CN", "22", 24), GEO_RULE_SUBDIVISION, "CN-22",
                "us-east,ap-south");
    check_apply(conf, p, location("AS", "JP", "13", 24), GEO_RULE_CONTINENT, "AS",
                "ap-south,eu-west,us-east");
    check_apply(conf, p, location("OC", "AU", "NSW", 12), GEO_RULE_COUNTRY, "AU", "ap-south");
    check_apply(conf, p, location("OC", "NZ", "", 12), GEO_RULE_DEFAULT, NULL,
                "us-east,eu-west,ap-south");
    check_apply(conf, p, location("SA", "", "", 8), GEO_RULE_DEFAULT, NULL,
                "us-east,eu-west,ap-south");
    /* the database's case does not matter */
    check_apply(conf, p, location("na", "us", "ca", 22), GEO_RULE_SUBDIVISION, "US-CA",
                "ap-south,us-east");
    /* a subdivision without its country cannot match "US-CA" */
    check_apply(conf, p, location("NA", "", "CA", 22), GEO_RULE_CONTINENT, "NA", "us-east,eu-west");
    /* nothing known (not found): the default, scope from the database */
    geo_location_t none = location("", "", "", 7);
    none.found = false;
    check_apply(conf, p, none, GEO_RULE_DEFAULT, NULL, "us-east,eu-west,ap-south");
    /* junk from a database matches nothing */
    check_apply(conf, p, location("E", "U", "S", 3), GEO_RULE_DEFAULT, NULL,
                "us-east,eu-west,ap-south");
    check_apply(conf, p, location("XX", "1S", "CA", 3), GEO_RULE_DEFAULT, NULL,
                "us-east,eu-west,ap-south");
    geo_policy_free(p);

    /* no default given: the pools in the order written */
    svc.default_order = (conf_dc_order_t){NULL, 0};
    p = build_ok(conf, &svc);
    check_apply(conf, p, location("AF", "ZA", "", 9), GEO_RULE_DEFAULT, NULL,
                "eu-west,us-east,ap-south");
    geo_policy_free(p);

    /* without rules at all */
    svc = map_service(NULL, 0, NULL, 0, NULL, 0);
    p = build_ok(conf, &svc);
    check_apply(conf, p, location("NA", "US", "CA", 22), GEO_RULE_DEFAULT, NULL,
                "eu-west,us-east,ap-south");
    geo_policy_free(p);
    free_conf(conf);
}

/* ------------------------------------------------------------ nearest */

static void test_nearest(void **state)
{
    (void)state;
    conf_t *conf = make_conf();
    conf_service_t svc = make_service(CONF_POLICY_NEAREST);
    geo_policy_t *p = build_ok(conf, &svc);

    /* Europe */
    check_apply(conf, p, at(51.5074, -0.1278, 24), GEO_RULE_NEAREST, NULL,
                "eu-west,us-east,ap-south"); /* London */
    check_apply(conf, p, at(52.52, 13.40, 24), GEO_RULE_NEAREST, NULL,
                "eu-west,us-east,ap-south"); /* Berlin */
    check_apply(conf, p, at(55.75, 37.62, 24), GEO_RULE_NEAREST, NULL,
                "eu-west,us-east,ap-south"); /* Moscow: Virginia 7,800 km, Singapore 8,400 */
    /* North America */
    check_apply(conf, p, at(40.7128, -74.0060, 24), GEO_RULE_NEAREST, NULL,
                "us-east,eu-west,ap-south"); /* New York */
    check_apply(conf, p, at(37.77, -122.42, 24), GEO_RULE_NEAREST, NULL,
                "us-east,eu-west,ap-south"); /* San Francisco */
    check_apply(conf, p, at(61.22, -149.90, 24), GEO_RULE_NEAREST, NULL,
                "us-east,eu-west,ap-south"); /* Anchorage */
    /* Asia and Oceania */
    check_apply(conf, p, at(35.68, 139.69, 24), GEO_RULE_NEAREST, NULL,
                "ap-south,eu-west,us-east"); /* Tokyo: Dublin 9,600 km, Virginia 10,900 */
    check_apply(conf, p, at(19.08, 72.88, 24), GEO_RULE_NEAREST, NULL,
                "ap-south,eu-west,us-east"); /* Mumbai */
    check_apply(conf, p, at(-33.87, 151.21, 24), GEO_RULE_NEAREST, NULL,
                "ap-south,us-east,eu-west"); /* Sydney */
    /* across the date line: Fiji is nearer Virginia than Dublin */
    check_apply(conf, p, at(-18.1, 178.4, 24), GEO_RULE_NEAREST, NULL, "ap-south,us-east,eu-west");
    /* no coordinates: the default order */
    check_apply(conf, p, location("EU", "GB", "", 16), GEO_RULE_DEFAULT, NULL,
                "eu-west,us-east,ap-south");
    geo_policy_free(p);

    /* the order agrees with geo_distance_km() for random clients */
    svc.default_order = ORDER(AP_SOUTH, EU_WEST);
    p = build_ok(conf, &svc);
    check_apply(conf, p, location("", "", "", 0), GEO_RULE_DEFAULT, NULL, "ap-south,eu-west");
    for (int i = 0; i < 2000; i++) {
        double lat = (double)(rng() % 180000) / 1000.0 - 90.0;
        double lon = (double)(rng() % 360000) / 1000.0 - 180.0;
        geo_location_t loc = at(lat, lon, 20);
        geo_decision_t dec;
        geo_policy_apply(p, &loc, &dec);
        assert_int_equal(dec.n_order, 3);
        for (int k = 1; k < 3; k++) {
            const conf_datacenter_t *a = &conf->datacenters[dec.order[k - 1]];
            const conf_datacenter_t *b = &conf->datacenters[dec.order[k]];
            assert_true(geo_distance_km(lat, lon, a->lat, a->lon) <=
                        geo_distance_km(lat, lon, b->lat, b->lon) + 1e-6);
        }
    }
    geo_policy_free(p);
    free_conf(conf);
}

/* Ties keep the pools' order. */
static void test_nearest_ties(void **state)
{
    (void)state;
    conf_t *conf = make_conf();
    conf_service_t svc = make_service(CONF_POLICY_NEAREST);
    conf_pool_t pools[3] = {
        {.dc = AP_SOUTH, .conf_line = 20},
        {.dc = US_EAST, .conf_line = 21},
        {.dc = EU_WEST, .conf_line = 22},
    };
    conf->datacenters[US_EAST].lat = conf->datacenters[AP_SOUTH].lat;
    conf->datacenters[US_EAST].lon = conf->datacenters[AP_SOUTH].lon;
    svc.pools = pools;
    geo_policy_t *p = build_ok(conf, &svc);
    check_apply(conf, p, at(-33.87, 151.21, 24), GEO_RULE_NEAREST, NULL,
                "ap-south,us-east,eu-west");
    geo_policy_free(p);
    pools[0].dc = US_EAST;
    pools[1].dc = AP_SOUTH;
    p = build_ok(conf, &svc);
    check_apply(conf, p, at(-33.87, 151.21, 24), GEO_RULE_NEAREST, NULL,
                "us-east,ap-south,eu-west");
    geo_policy_free(p);
    free_conf(conf);
}

/* ------------------------------------------------------------ decide */

static void decide(const geo_policy_t *p, const geo_db_t *db, const char *addr_text,
                   unsigned source, geo_decision_t *dec)
{
    uint8_t addr[16];
    int family = addr_of(addr_text, addr);
    memset(dec, 0xaa, sizeof(*dec));
    geo_policy_decide(p, db, family, addr, source, dec);
}

static void check_decide(const conf_t *conf, const geo_policy_t *p, const geo_db_t *db,
                         const char *addr, unsigned source, enum geo_rule rule, const char *key,
                         const char *order, int scope)
{
    geo_decision_t dec;
    decide(p, db, addr, source, &dec);
    if (dec.rule != rule || strcmp(order_text(conf, &dec), order) != 0 ||
        (key == NULL) != (dec.key == NULL) || (key && strcmp(key, dec.key) != 0) ||
        dec.scope != scope)
        fail_msg("%s/%u: expected rule %d key %s order %s scope %d, "
                 "got rule %d key %s order %s scope %d",
                 addr, source, rule, key ? key : "(null)", order, scope, dec.rule,
                 dec.key ? dec.key : "(null)", order_text(conf, &dec), dec.scope);
    assert_false(dec.db_error);
}

static void test_decide_overrides(void **state)
{
    (void)state;
    conf_t *conf = make_conf();
    conf_network_rule_t rules[] = {
        {net("192.0.2.0/24"), ORDER(AP_SOUTH), 40},
        {net("192.0.2.128/25"), ORDER(US_EAST, EU_WEST), 41},
        {net("2001:db8::/32"), ORDER(EU_WEST), 42},
        {net("::ffff:198.51.100.0/120"), ORDER(US_EAST), 43},
    };
    conf_service_t svc = make_service(CONF_POLICY_NEAREST);
    svc.networks = rules;
    svc.n_networks = 4;
    svc.default_order = ORDER(US_EAST, AP_SOUTH, EU_WEST);
    geo_policy_t *p = build_ok(conf, &svc);

    /* source prefix 0: do not locate, whatever the address */
    check_decide(conf, p, NULL, "192.0.2.1", 0, GEO_RULE_DEFAULT, NULL, "us-east,ap-south,eu-west",
                 0);
    check_decide(conf, p, NULL, "2001:db8::1", 0, GEO_RULE_DEFAULT, NULL,
                 "us-east,ap-south,eu-west", 0);
    /* overrides, most specific first; scope is the network that decided */
    check_decide(conf, p, NULL, "192.0.2.1", 32, GEO_RULE_NETWORK, "192.0.2.0/24", "ap-south", 25);
    check_decide(conf, p, NULL, "192.0.2.200", 32, GEO_RULE_NETWORK, "192.0.2.128/25",
                 "us-east,eu-west", 25);
    check_decide(conf, p, NULL, "192.0.2.200", 24, GEO_RULE_NETWORK, "192.0.2.0/24", "ap-south",
                 25); /* the bits past the source prefix are not the client's */
    check_decide(conf, p, NULL, "192.0.2.200", 25, GEO_RULE_NETWORK, "192.0.2.128/25",
                 "us-east,eu-west", 25);
    check_decide(conf, p, NULL, "192.0.2.200", 200, GEO_RULE_NETWORK, "192.0.2.128/25",
                 "us-east,eu-west", 25);
    check_decide(conf, p, NULL, "2001:db8:ffff::1", 56, GEO_RULE_NETWORK, "2001:db8::/32",
                 "eu-west", 32);
    check_decide(conf, p, NULL, "198.51.100.9", 32, GEO_RULE_NETWORK, "::ffff:198.51.100.0/120",
                 "us-east", 24);
    check_decide(conf, p, NULL, "::ffff:198.51.100.9", 128, GEO_RULE_NETWORK,
                 "::ffff:198.51.100.0/120", "us-east", 120);
    /* no override and no database: the default, with the widest scope that
     * keeps clear of the overrides */
    check_decide(conf, p, NULL, "203.0.113.1", 32, GEO_RULE_DEFAULT, NULL,
                 "us-east,ap-south,eu-west", 5); /* 200.0.0.0/5 holds no override */
    check_decide(conf, p, NULL, "192.0.3.1", 32, GEO_RULE_DEFAULT, NULL, "us-east,ap-south,eu-west",
                 24);
    check_decide(conf, p, NULL, "2001:db9::1", 48, GEO_RULE_DEFAULT, NULL,
                 "us-east,ap-south,eu-west", 32);
    geo_policy_free(p);

    /* no overrides, no database: nothing varies by address */
    svc.networks = NULL;
    svc.n_networks = 0;
    p = build_ok(conf, &svc);
    check_decide(conf, p, NULL, "192.0.2.1", 32, GEO_RULE_DEFAULT, NULL, "us-east,ap-south,eu-west",
                 0);
    check_decide(conf, p, NULL, "2001:db8::1", 64, GEO_RULE_DEFAULT, NULL,
                 "us-east,ap-south,eu-west", 0);
    geo_decision_t dec;
    uint8_t addr[16] = {0};
    geo_policy_decide(p, NULL, 12345, addr, 32, &dec); /* not a family */
    assert_int_equal(dec.rule, GEO_RULE_DEFAULT);
    assert_int_equal(dec.scope, 0);
    geo_policy_free(p);
    free_conf(conf);
}

/* ------------------------------------------------------------ build errors */

static void test_build_errors(void **state)
{
    (void)state;
    conf_t *conf = make_conf();
    conf_map_rule_t subs[] = {
        {(char *)"USCA", ORDER(US_EAST), 30},    {(char *)"U-CA", ORDER(US_EAST), 31},
        {(char *)"US-CAXX", ORDER(US_EAST), 32}, {(char *)"US-", ORDER(US_EAST), 33},
        {(char *)"US-C.", ORDER(US_EAST), 34},   {(char *)"US-CA", ORDER(US_EAST, SPARE), 35},
        {(char *)"US-NY", ORDER(US_EAST), 36},   {(char *)"us-ny", ORDER(EU_WEST), 37},
    };
    conf_map_rule_t ccs[] = {
        {(char *)"GBR", ORDER(EU_WEST), 40}, {(char *)"G1", ORDER(EU_WEST), 41},
        {(char *)"", ORDER(EU_WEST), 42},    {(char *)"GB", ORDER(EU_WEST, EU_WEST), 43},
        {(char *)"FR", {NULL, 0}, 44},       {(char *)"DE", ORDER(EU_WEST), 45},
        {(char *)"de", ORDER(EU_WEST), 46},
    };
    conf_map_rule_t conts[] = {
        {(char *)"XX", ORDER(EU_WEST), 50},
        {(char *)"Europe", ORDER(EU_WEST), 51},
        {(char *)"eu", ORDER(NOWHERE), 52},
        {(char *)"NA", ORDER(US_EAST, 77), 53},
    };
    conf_network_rule_t nets[] = {
        {net("10.0.0.0/8"), ORDER(SPARE), 60},
        {net("10.1.0.0/16"), ORDER(EU_WEST), 61},
        {net("10.1.0.0/16"), ORDER(US_EAST), 62},
        {net("::ffff:10.1.0.0/112"), ORDER(US_EAST), 63},
    };
    conf_service_t svc = map_service(subs, 8, ccs, 7, conts, 4);
    svc.default_order = ORDER(SPARE, EU_WEST);
    svc.networks = nets;
    svc.n_networks = 4;
    build_fails(
        conf, &svc,
        "t.yaml:18: default: data center \"spare\" has no pool in service www.example.com.",
        "t.yaml:30: subdivision \"USCA\" is not a country code, \"-\" and a subdivision code "
        "(e.g. US-CA)",
        "t.yaml:31: subdivision \"U-CA\" is not a country code, \"-\" and a subdivision code "
        "(e.g. US-CA)",
        "t.yaml:32: subdivision \"US-CAXX\" is not a country code, \"-\" and a subdivision code "
        "(e.g. US-CA)",
        "t.yaml:33: subdivision \"US-\" is not a country code, \"-\" and a subdivision code "
        "(e.g. US-CA)",
        "t.yaml:34: subdivision \"US-C.\" is not a country code, \"-\" and a subdivision code "
        "(e.g. US-CA)",
        "t.yaml:35: subdivision US-CA: data center \"spare\" has no pool in service "
        "www.example.com.",
        "t.yaml:37: subdivision US-NY given twice (first at line 36)",
        "t.yaml:40: country \"GBR\" is not a two-letter ISO 3166 code",
        "t.yaml:41: country \"G1\" is not a two-letter ISO 3166 code",
        "t.yaml:42: country \"\" is not a two-letter ISO 3166 code",
        "t.yaml:43: country GB: data center \"eu-west\" listed twice",
        "t.yaml:44: country FR: no data centers",
        "t.yaml:46: country DE given twice (first at line 45)",
        "t.yaml:50: continent \"XX\" is not one of AF AN AS EU NA OC SA",
        "t.yaml:51: continent \"Europe\" is not one of AF AN AS EU NA OC SA",
        "t.yaml:52: continent eu: data center \"nowhere\" has no pool in service "
        "www.example.com.",
        "t.yaml:53: continent NA: data center #77 does not exist",
        "t.yaml:60: network 10.0.0.0/8: data center \"spare\" has no pool in service "
        "www.example.com.",
        "t.yaml:62: duplicate network 10.1.0.0/16 (first at line 61)",
        "t.yaml:63: duplicate network ::ffff:10.1.0.0/112 (first at line 61)", NULL);

    /* nearest needs a location for every data center with a pool */
    conf_pool_t pools[] = {
        {.dc = EU_WEST, .conf_line = 20},
        {.dc = NOWHERE, .conf_line = 21},
        {.dc = EU_WEST, .conf_line = 22},
        {.dc = 9, .conf_line = 23},
    };
    svc = make_service(CONF_POLICY_NEAREST);
    svc.pools = pools;
    svc.n_pools = 4;
    build_fails(conf, &svc,
                "t.yaml:21: data center \"nowhere\" has no location, which policy nearest needs",
                "t.yaml:22: data center \"eu-west\" has two pools",
                "t.yaml:23: pool for data center #9, which does not exist", NULL);
    /* map does not */
    svc.policy = CONF_POLICY_MAP;
    svc.n_pools = 2;
    geo_policy_free(build_ok(conf, &svc));

    svc.n_pools = 0;
    build_fails(conf, &svc, "t.yaml:18: service www.example.com. has no pools", NULL);
    geo_policy_free(NULL);
    free_conf(conf);
}

/* ------------------------------------------------------------ networks file */

static void test_networks_file(void **state)
{
    (void)state;
    conf_t *conf = make_conf();
    conf_network_rule_t rules[] = {
        {net("203.0.113.64/26"), ORDER(AP_SOUTH, US_EAST), 40},
    };
    conf_service_t svc = make_service(CONF_POLICY_MAP);
    svc.networks = rules;
    svc.n_networks = 1;
    svc.networks_file = fixture("good.nets");
    geo_policy_t *p = build_ok(conf, &svc);

    check_decide(conf, p, NULL, "192.0.2.1", 32, GEO_RULE_NETWORK, "192.0.2.0/24",
                 "eu-west,us-east", 25);
    check_decide(conf, p, NULL, "192.0.2.129", 32, GEO_RULE_NETWORK, "192.0.2.128/25", "ap-south",
                 25);
    check_decide(conf, p, NULL, "198.51.100.7", 32, GEO_RULE_NETWORK, "198.51.100.7", "us-east",
                 32);
    check_decide(conf, p, NULL, "2001:db8:2::1", 64, GEO_RULE_NETWORK, "2001:db8::/32",
                 "us-east,eu-west,ap-south", 47);
    check_decide(conf, p, NULL, "2001:db8:1::1", 64, GEO_RULE_NETWORK, "2001:db8:1::/48",
                 "ap-south", 48);
    check_decide(conf, p, NULL, "203.0.113.1", 32, GEO_RULE_NETWORK, "::ffff:203.0.113.0/120",
                 "eu-west", 26);
    check_decide(conf, p, NULL, "203.0.113.65", 32, GEO_RULE_NETWORK, "203.0.113.64/26",
                 "ap-south,us-east", 26);
    check_decide(conf, p, NULL, "8.8.8.8", 32, GEO_RULE_NETWORK, "0.0.0.0/0", "us-east", 1);
    /* IPv6 without an override, no database: the default */
    check_decide(conf, p, NULL, "2001:db9::1", 64, GEO_RULE_DEFAULT, NULL,
                 "eu-west,us-east,ap-south", 32);
    geo_policy_free(p);

    svc.networks_file = fixture("crlf.nets");
    p = build_ok(conf, &svc);
    check_decide(conf, p, NULL, "10.1.1.1", 32, GEO_RULE_NETWORK, "10.1.0.0/16", "us-east", 16);
    check_decide(conf, p, NULL, "10.2.1.1", 32, GEO_RULE_NETWORK, "10.0.0.0/8", "eu-west", 15);
    geo_policy_free(p);

    svc.networks_file = fixture("empty.nets");
    p = build_ok(conf, &svc);
    check_decide(conf, p, NULL, "10.1.1.1", 32, GEO_RULE_DEFAULT, NULL, "eu-west,us-east,ap-south",
                 1);
    geo_policy_free(p);
    free_conf(conf);
}

static void test_networks_file_errors(void **state)
{
    (void)state;
    conf_t *conf = make_conf();
    conf_service_t svc = make_service(CONF_POLICY_MAP);
    char *path = strdup(fixture("errors.nets"));
    static char want[16][PATH_MAX + 256];
    const char *texts[] = {
        "3: bad network \"10.0.0.300/24\": not an address",
        "4: bad network \"10.1.2.3/24\": bits set past the /24 prefix (the network is "
        "10.1.2.0/24)",
        "5: bad network \"10.2.0.0/33\": prefix longer than 32",
        "6: bad network \"2001:db8::/129\": prefix longer than 128",
        "7: bad network \"10.3.0.0/\": bad prefix length",
        "8: bad network \"10.4.0.0/x8\": bad prefix length",
        "9: unknown data center \"mars\"",
        "10: data center \"eu-west\" listed twice",
        "11: data center \"spare\" has no pool in service www.example.com.",
        "12: network 10.8.0.0/16: no data centers",
        "13: network 10.9.0.0/16: no data centers",
        "17: unknown data center \"EU-WEST\"",
        "14: duplicate network 10.0.0.0/8 (first at line 2)",
        "16: duplicate network ::ffff:10.10.0.0/112 (first at line 15)",
    };
    size_t n = sizeof(texts) / sizeof(texts[0]);
    for (size_t i = 0; i < n; i++)
        snprintf(want[i], sizeof(want[i]), "%s:%s", path, texts[i]);

    svc.networks_file = path;
    build_fails(conf, &svc, want[0], want[1], want[2], want[3], want[4], want[5], want[6], want[7],
                want[8], want[9], want[10], want[11], want[12], want[13], NULL);

    /* a network both inline and in the file */
    conf_network_rule_t rules[] = {
        {net("192.0.2.0/24"), ORDER(EU_WEST), 40},
    };
    svc.networks = rules;
    svc.n_networks = 1;
    svc.networks_file = fixture("inline-dup.nets");
    snprintf(want[0], sizeof(want[0]),
             "%s:1: network 192.0.2.0/24 is also given in the config (t.yaml:40)",
             svc.networks_file);
    build_fails(conf, &svc, want[0], NULL);

    /* a file that is not there */
    svc.networks_file = fixture("missing.nets");
    snprintf(want[0], sizeof(want[0]), "%s: cannot read networks file: %s", svc.networks_file,
             strerror(ENOENT));
    build_fails(conf, &svc, want[0], NULL);
    free(path);
    free_conf(conf);
}

/* A temporary file with the given bytes; the caller unlinks it. */
static char *temp_file(const char *bytes, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    char *path = malloc(PATH_MAX);
    assert_non_null(path);
    snprintf(path, PATH_MAX, "%s/test_geo_policy.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_networks_file_odd_bytes(void **state)
{
    (void)state;
    conf_t *conf = make_conf();
    conf_service_t svc = make_service(CONF_POLICY_MAP);
    static char want[2][PATH_MAX + 256];

    /* a NUL byte, and a last line without a newline */
    static const char text[] = "10.0.0.0/8 eu-west\n10.1.0.0/16 eu\0west\n10.2.0.0/16 nope";
    char *path = temp_file(text, sizeof(text) - 1);
    svc.networks_file = path;
    snprintf(want[0], sizeof(want[0]), "%s:2: NUL byte in line", path);
    snprintf(want[1], sizeof(want[1]), "%s:3: unknown data center \"nope\"", path);
    build_fails(conf, &svc, want[0], want[1], NULL);
    unlink(path);
    free(path);

    /* too many errors: stop after 100 */
    size_t len = 0;
    char *many = malloc(200 * 32);
    for (int i = 0; i < 200; i++)
        len += (size_t)sprintf(many + len, "10.0.%d.0/24 mars\n", i);
    path = temp_file(many, len);
    svc.networks_file = path;
    diag_t d;
    geo_policy_t *p = NULL;
    diag_init(&d);
    d.quiet = true;
    assert_false(geo_policy_build(conf, &svc, &p, &d));
    assert_int_equal(d.count, 101);
    snprintf(want[0], sizeof(want[0]), "%s:101: too many errors, giving up", path);
    assert_string_equal(d.messages[100], want[0]);
    diag_free(&d);
    unlink(path);
    free(path);
    free(many);

    /* the last line without a newline, a bare IPv6 address */
    static const char last[] = "2001:db8::5 us-east";
    path = temp_file(last, sizeof(last) - 1);
    svc.networks_file = path;
    p = build_ok(conf, &svc);
    check_decide(conf, p, NULL, "2001:db8::5", 128, GEO_RULE_NETWORK, "2001:db8::5", "us-east",
                 128);
    geo_policy_free(p);
    unlink(path);
    free(path);
    free_conf(conf);
}

/* Writes a networks file of n distinct random networks, in random order. */
static char *generate_file(size_t n, size_t *bytes)
{
    static const char *const orders[] = {"eu-west", "us-east ap-south", "ap-south eu-west",
                                         "us-east eu-west ap-south"};
    size_t cap = n * 64 + 64, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)sprintf(text, "# generated\n");
    for (size_t i = 0; i < n; i++) {
        /* distinct by construction: i spread over the address space */
        uint32_t a = (uint32_t)(i * 2654435761u) & 0xffffff00u;
        if (i % 4 == 3)
            len += (size_t)sprintf(text + len, "2001:db8:%x:%x::/64 %s\n", (unsigned)(i >> 16),
                                   (unsigned)(i & 0xffff), orders[i % 4]);
        else
            len += (size_t)sprintf(text + len, "%u.%u.%u.0/24\t%s\n", a >> 24, (a >> 16) & 0xff,
                                   (a >> 8) & 0xff, orders[i % 4]);
    }
    *bytes = len;
    return text;
}

static void load_generated(size_t n, const char *label)
{
    conf_t *conf = make_conf();
    conf_service_t svc = make_service(CONF_POLICY_NEAREST);
    size_t len;
    char *text = generate_file(n, &len);
    char *path = temp_file(text, len);
    free(text);
    svc.networks_file = path;

    double t0 = now_ns();
    geo_policy_t *p = build_ok(conf, &svc);
    double t1 = now_ns();
    print_message("    %s: %zu lines (%.1f MB) loaded in %.0f ms\n", label, n, (double)len / 1e6,
                  (t1 - t0) / 1e6);

    /* line 1 + i: a few checks */
    check_decide(conf, p, NULL, "2001:db8:0:3::1", 128, GEO_RULE_NETWORK, "2001:db8:0:3::/64",
                 "us-east,eu-west,ap-south", 64);
    uint32_t a = (uint32_t)(5 * 2654435761u) & 0xffffff00u;
    char addr[32], key[32];
    snprintf(addr, sizeof(addr), "%u.%u.%u.77", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff);
    snprintf(key, sizeof(key), "%u.%u.%u.0/24", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff);
    geo_decision_t dec;
    decide(p, NULL, addr, 32, &dec);
    assert_int_equal(dec.rule, GEO_RULE_NETWORK);
    assert_string_equal(dec.key, key);
    assert_string_equal(order_text(conf, &dec), "us-east,ap-south");
    geo_policy_free(p);
    unlink(path);
    free(path);
    free_conf(conf);
}

static void test_networks_file_100k(void **state)
{
    (void)state;
    load_generated(100000, "generated file");
}

/* A benchmark, run only when asked (GEO_POLICY_BENCH=1): a million lines
 * take a while under the sanitizers. */
static void test_networks_file_million(void **state)
{
    (void)state;
    load_generated(1000000, "generated file");
}

/* ------------------------------------------------------------ speed */

static void test_decide_speed(void **state)
{
    (void)state;
    conf_t *conf = make_conf();
    conf->datacenters = realloc(conf->datacenters, 10 * sizeof(*conf->datacenters));
    conf_pool_t pools[10];
    static const double where[10][2] = {
        {53.35, -6.26},  {38.95, -77.45},  {1.29, 103.85},   {50.11, 8.68},  {37.77, -122.42},
        {35.68, 139.69}, {-33.87, 151.21}, {-23.55, -46.63}, {19.08, 72.88}, {25.20, 55.27},
    };
    static char names[10][8];
    for (int i = 0; i < 10; i++) {
        snprintf(names[i], sizeof(names[i]), "dc%d", i);
        conf->datacenters[i] =
            (conf_datacenter_t){names[i], true, where[i][0], where[i][1], "", "", CONF_NAME, 2};
        pools[i] = (conf_pool_t){.dc = (uint8_t)i, .conf_line = 20};
    }
    conf->n_datacenters = 10;
    conf_network_rule_t rules[] = {
        {net("192.0.2.0/24"), ORDER(0), 40},
    };
    conf_service_t svc = make_service(CONF_POLICY_NEAREST);
    svc.pools = pools;
    svc.n_pools = 10;
    svc.networks = rules;
    svc.n_networks = 1;
    geo_policy_t *p = build_ok(conf, &svc);

    enum { N_LOC = 1024 };
    geo_location_t *locs = malloc(N_LOC * sizeof(*locs));
    for (int i = 0; i < N_LOC; i++)
        locs[i] = at((double)(rng() % 180000) / 1000.0 - 90.0,
                     (double)(rng() % 360000) / 1000.0 - 180.0, 24);
    const int rounds = 1000000;
    geo_decision_t dec;
    unsigned sink = 0;
    double t0 = now_ns();
    for (int i = 0; i < rounds; i++) {
        geo_policy_apply(p, &locs[i & (N_LOC - 1)], &dec);
        sink += dec.order[0];
    }
    double t1 = now_ns();
    uint8_t addr[16] = {198, 51, 100, 1};
    for (int i = 0; i < rounds; i++) {
        addr[3] = (uint8_t)i;
        geo_policy_decide(p, NULL, AF_INET, addr, 32, &dec);
        sink += dec.order[0];
    }
    double t2 = now_ns();
    print_message("    nearest, 10 data centers: %.0f ns per geo_policy_apply; "
                  "geo_policy_decide without a database: %.0f ns\n",
                  (t1 - t0) / rounds, (t2 - t1) / rounds);
    (void)sink;
    free(locs);
    geo_policy_free(p);
    free_conf(conf);
}

/* ------------------------------------------------------------ database */

static void test_decide_database(void **state)
{
    (void)state;
    geo_db_t *db = fixture_geo_test_db();
    if (!db) {
        skip();
        return;
    }
    conf_t *conf = make_conf();

    /* map */
    conf_map_rule_t subs[] = {{(char *)"GB-ENG", ORDER(EU_WEST), 30}};
    conf_map_rule_t ccs[] = {{(char *)"US", ORDER(US_EAST), 31}};
    conf_map_rule_t conts[] = {{(char *)"AS", ORDER(AP_SOUTH, EU_WEST), 32}};
    conf_network_rule_t rules[] = {{net("216.160.83.0/24"), ORDER(AP_SOUTH), 40}};
    conf_service_t svc = map_service(subs, 1, ccs, 1, conts, 1);
    svc.default_order = ORDER(US_EAST, EU_WEST);
    geo_policy_t *p = build_ok(conf, &svc);
    geo_decision_t dec;

    decide(p, db, "81.2.69.142", 32, &dec);
    assert_int_equal(dec.rule, GEO_RULE_SUBDIVISION);
    assert_string_equal(dec.key, "GB-ENG");
    assert_string_equal(order_text(conf, &dec), "eu-west");
    assert_string_equal(dec.loc.country, "GB");
    assert_true(dec.scope > 0 && dec.scope <= 32);
    assert_int_equal(dec.scope, dec.loc.prefix);
    assert_false(dec.db_error);

    decide(p, db, "216.160.83.56", 32, &dec);
    assert_int_equal(dec.rule, GEO_RULE_COUNTRY);
    assert_string_equal(dec.key, "US");
    decide(p, db, "::ffff:216.160.83.56", 128, &dec);
    assert_int_equal(dec.rule, GEO_RULE_COUNTRY);
    assert_true(dec.scope > 96);
    decide(p, db, "67.43.156.1", 32, &dec); /* Bhutan */
    assert_int_equal(dec.rule, GEO_RULE_CONTINENT);
    assert_string_equal(dec.key, "AS");
    assert_string_equal(order_text(conf, &dec), "ap-south,eu-west");
    decide(p, db, "89.160.20.112", 32, &dec); /* Sweden: no rule */
    assert_int_equal(dec.rule, GEO_RULE_DEFAULT);
    assert_string_equal(order_text(conf, &dec), "us-east,eu-west");
    assert_true(dec.loc.found);
    decide(p, db, "10.0.0.1", 32, &dec); /* not in the database */
    assert_int_equal(dec.rule, GEO_RULE_DEFAULT);
    assert_false(dec.loc.found);
    assert_int_equal(dec.scope, dec.loc.prefix);
    decide(p, db, "81.2.69.142", 0, &dec);
    assert_int_equal(dec.rule, GEO_RULE_DEFAULT);
    assert_int_equal(dec.scope, 0);
    geo_policy_free(p);

    /* an override ahead of the database */
    svc.networks = rules;
    svc.n_networks = 1;
    p = build_ok(conf, &svc);
    decide(p, db, "216.160.83.56", 32, &dec);
    assert_int_equal(dec.rule, GEO_RULE_NETWORK);
    assert_string_equal(dec.key, "216.160.83.0/24");
    assert_int_equal(dec.scope, 24);
    decide(p, db, "81.2.69.142", 32, &dec);
    assert_int_equal(dec.rule, GEO_RULE_SUBDIVISION);
    geo_policy_free(p);

    /* nearest */
    svc = make_service(CONF_POLICY_NEAREST);
    p = build_ok(conf, &svc);
    decide(p, db, "81.2.69.142", 32, &dec); /* London */
    assert_int_equal(dec.rule, GEO_RULE_NEAREST);
    assert_string_equal(order_text(conf, &dec), "eu-west,us-east,ap-south");
    decide(p, db, "216.160.83.56", 32, &dec); /* Milton, WA */
    assert_string_equal(order_text(conf, &dec), "us-east,eu-west,ap-south");
    decide(p, db, "175.16.199.1", 32, &dec); /* Changchun */
    assert_string_equal(order_text(conf, &dec), "ap-south,eu-west,us-east");

    /* Decisions precomputed per record (geo_policy_bind) are the ones the
     * policy computes per query, for every kind of address: IPv4 (which a
     * bound policy without overrides answers on its own short path, so
     * every prefix length), mapped, 6to4, IPv6, database misses, short
     * prefixes. */
    svc = map_service(subs, 1, ccs, 1, conts, 1);
    svc.default_order = ORDER(US_EAST, EU_WEST);
    geo_policy_t *maps[2] = {build_ok(conf, &svc), build_ok(conf, &svc)};
    svc = make_service(CONF_POLICY_NEAREST);
    geo_policy_t *nears[2] = {p, build_ok(conf, &svc)};
    geo_policy_bind(maps[1], db);
    geo_policy_bind(nears[1], db);
    uint32_t seed = 12345;
    for (int i = 0; i < 200000; i++) {
        uint8_t a[16] = {0};
        for (int k = 0; k < 16; k++) {
            seed = seed * 1103515245u + 12345u;
            a[k] = (uint8_t)(seed >> 16);
        }
        int family = AF_INET;
        /* the usual /24 to /32, and every IPv4 prefix, 0 and past 32 too */
        unsigned prefix = i % 8 == 4 ? (unsigned)(i / 8 % 41) : 32u - (unsigned)(i % 9);
        switch (i % 4) {
        case 0: /* 81.2.69.x, 216.160.83.x, 175.16.199.x and random */
            if (i % 3 == 0)
                memcpy(a, (const uint8_t[]){81, 2, 69}, 3);
            else if (i % 3 == 1)
                memcpy(a, (const uint8_t[]){216, 160, 83}, 3);
            break;
        case 1:
            family = AF_INET6;
            prefix = 128 - (i % 40);
            memset(a, 0, 10);
            a[10] = a[11] = 0xff;
            break;
        case 2:
            family = AF_INET6;
            prefix = 48;
            a[0] = 0x20;
            a[1] = 0x02;
            break;
        default:
            family = AF_INET6;
            prefix = 64 - (i % 30);
            a[0] = 0x20;
            a[1] = (uint8_t)(i % 2 ? 0x01 : 0x03);
            break;
        }
        for (int k = 0; k < 2; k++) {
            geo_policy_t *const *pair = k ? nears : maps;
            geo_route_t r0, r1;
            geo_policy_route(pair[0], db, family, a, prefix, &r0);
            geo_policy_route(pair[1], db, family, a, prefix, &r1);
            assert_int_equal(r0.rule, r1.rule);
            assert_int_equal(r0.scope, r1.scope);
            assert_int_equal(r0.found, r1.found);
            assert_int_equal(r0.prefix, r1.prefix);
            assert_int_equal(r0.db_error, r1.db_error);
            if (r0.found)
                assert_int_equal(r0.record, r1.record);
            assert_int_equal(r0.n_order, r1.n_order);
            assert_memory_equal(r0.order, r1.order, r0.n_order);
            assert_true((r0.key == NULL) == (r1.key == NULL));
            if (r0.key)
                assert_string_equal(r0.key, r1.key);
        }
    }
    geo_policy_free(maps[0]);
    geo_policy_free(maps[1]);
    geo_policy_free(nears[1]);

    /* speed with the database */
    const int rounds = 1000000;
    uint8_t addr[16] = {81, 2, 69, 142};
    unsigned sink = 0;
    double t0 = now_ns();
    for (int i = 0; i < rounds; i++) {
        addr[3] = (uint8_t)i;
        geo_policy_decide(p, db, AF_INET, addr, 32, &dec);
        sink += dec.order[0];
    }
    double t1 = now_ns();
    print_message("    geo_policy_decide, nearest, 3 data centers, with the test database: "
                  "%.0f ns\n",
                  (t1 - t0) / rounds);
    (void)sink;
    geo_policy_free(p);
    geo_db_free(db);
    free_conf(conf);
}

/* The route for addr_text/source, and what geo_policy_fallback() gives
 * it: "dc,dc,..." ("" for none), with the scope after the fallback. */
static const char *fallback_of(const conf_t *conf, const geo_policy_t *p, const geo_db_t *db,
                               const char *addr_text, unsigned source, int *scope_before,
                               int *scope)
{
    static char buf[512];
    uint8_t addr[16], dc[CONF_MAX_DATACENTERS];
    int family = addr_of(addr_text, addr);
    geo_route_t r;
    geo_policy_route(p, db, family, addr, source, &r);
    *scope_before = r.scope;
    unsigned n = geo_policy_fallback(p, db, &r, dc);
    size_t at = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < n; i++)
        at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s", i ? "," : "",
                               conf->datacenters[dc[i]].name);
    *scope = r.scope;
    return buf;
}

#define EXPECT_FALLBACK(p, db, addr, source, want, want_scope)                                    \
    do {                                                                                           \
        int before_, scope_;                                                                       \
        const char *got_ = fallback_of(conf, p, db, addr, source, &before_, &scope_);              \
        if (strcmp(got_, want) != 0 || scope_ != (want_scope))                                     \
            fail_msg("%s/%u: expected fallback \"%s\" scope %d, got \"%s\" scope %d (before %d)", \
                     addr, source, want, want_scope, got_, scope_, before_);                       \
    } while (0)

/* When every data center of a client's order is down, the rest, nearest
 * to the client first; without coordinates the default order, then the
 * others in config order; data centers without a location last. The ECS
 * scope grows when an override's client had to be located for it. */
static void test_fallback(void **state)
{
    (void)state;
    geo_db_t *db = fixture_geo_test_db();
    if (!db) {
        skip();
        return;
    }
    conf_t *conf = make_conf();
    conf_pool_t pools[] = {{.dc = EU_WEST}, {.dc = US_EAST}, {.dc = AP_SOUTH},
                           {.dc = SPARE},   {.dc = NOWHERE}};
    conf_map_rule_t conts[] = {{(char *)"EU", ORDER(EU_WEST, US_EAST), 32}};
    conf_network_rule_t rules[] = {{net("216.160.83.0/24"), ORDER(EU_WEST), 40}};
    conf_service_t svc = map_service(NULL, 0, NULL, 0, conts, 1);
    svc.pools = pools;
    svc.n_pools = 5;
    svc.default_order = ORDER(US_EAST, SPARE, EU_WEST);
    svc.networks = rules;
    svc.n_networks = 1;
    uint8_t a[16];
    geo_location_t milton;
    addr_of("216.160.83.56", a);
    assert_int_equal(geo_db_locate(db, AF_INET, a, &milton), 0);
    assert_true(milton.found && milton.prefix > 24);
    addr_of("216.160.83.0", a);
    geo_location_t milton24;
    assert_int_equal(geo_db_locate(db, AF_INET, a, &milton24), 0);
    int scope24 = milton24.prefix > 24 ? milton24.prefix : 24;

    for (int bound = 0; bound < 2; bound++) {
        geo_policy_t *p = build_ok(conf, &svc);
        if (bound)
            geo_policy_bind(p, db);
        /* London, continent EU [eu-west, us-east]: Frankfurt, then
         * Singapore, then the one without a location; scope unchanged */
        EXPECT_FALLBACK(p, db, "81.2.69.142", 32, "spare,ap-south,nowhere", 31);
        /* Changchun: the default order [us-east, spare, eu-west] */
        EXPECT_FALLBACK(p, db, "175.16.199.1", 32, "ap-south,nowhere", 24);
        /* not in the database: no coordinates, config order */
        EXPECT_FALLBACK(p, db, "10.0.0.1", 32, "ap-south,nowhere", 8);
        /* SOURCE 0: nothing located, the default order, scope 0 */
        EXPECT_FALLBACK(p, db, "81.2.69.142", 0, "ap-south,nowhere", 0);
        /* the override [eu-west] decided (scope /24) without locating:
         * Milton, WA is located now (its /29 bounds the scope) */
        EXPECT_FALLBACK(p, db, "216.160.83.56", 32, "us-east,spare,ap-south,nowhere",
                        milton.prefix);
        /* a /24 subnet: what the database says of 216.160.83.0 */
        EXPECT_FALLBACK(p, db, "216.160.83.56", 24, "us-east,spare,ap-south,nowhere", scope24);
        /* no database: the default order minus the listed, then the rest */
        EXPECT_FALLBACK(p, NULL, "216.160.83.56", 32, "us-east,spare,ap-south,nowhere", 24);

        /* orders the policy can give, inside a set of data centers */
        const uint64_t eu = UINT64_C(1) << EU_WEST, us = UINT64_C(1) << US_EAST,
                       sp = UINT64_C(1) << SPARE, ap = UINT64_C(1) << AP_SOUTH;
        assert_true(geo_policy_order_within(p, eu)); /* the override */
        assert_true(geo_policy_order_within(p, eu | us));
        assert_false(geo_policy_order_within(p, us | sp | ap));
        assert_true(geo_policy_order_within(p, us | sp | eu));
        assert_true(geo_policy_order_within(p, UINT64_MAX));
        assert_false(geo_policy_order_within(p, 0));
        geo_policy_free(p);
    }

    /* nearest: every order holds every data center; nothing falls back
     * until all are down */
    svc = make_service(CONF_POLICY_NEAREST);
    geo_policy_t *p = build_ok(conf, &svc);
    geo_policy_bind(p, db);
    EXPECT_FALLBACK(p, db, "81.2.69.142", 32, "", 31);
    assert_false(geo_policy_order_within(p, (UINT64_C(1) << EU_WEST) | (UINT64_C(1) << US_EAST)));
    assert_true(geo_policy_order_within(
        p, (UINT64_C(1) << EU_WEST) | (UINT64_C(1) << US_EAST) | (UINT64_C(1) << AP_SOUTH)));
    /* a nearest service whose default lists fewer: clients without
     * coordinates fall back to the others */
    geo_policy_free(p);
    svc.default_order = ORDER(AP_SOUTH);
    p = build_ok(conf, &svc);
    EXPECT_FALLBACK(p, db, "10.0.0.1", 32, "eu-west,us-east", 8);
    assert_true(geo_policy_order_within(p, UINT64_C(1) << AP_SOUTH));
    geo_policy_free(p);
    geo_db_free(db);
    free_conf(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nets_empty),           cmocka_unit_test(test_nets_edges),
        cmocka_unit_test(test_nets_v4_mapped),       cmocka_unit_test(test_nets_model),
        cmocka_unit_test(test_nets_million),         cmocka_unit_test(test_distance),
        cmocka_unit_test(test_map_precedence),       cmocka_unit_test(test_nearest),
        cmocka_unit_test(test_nearest_ties),         cmocka_unit_test(test_decide_overrides),
        cmocka_unit_test(test_build_errors),         cmocka_unit_test(test_networks_file),
        cmocka_unit_test(test_networks_file_errors), cmocka_unit_test(test_networks_file_odd_bytes),
        cmocka_unit_test(test_networks_file_100k),   cmocka_unit_test(test_decide_database),
        cmocka_unit_test(test_fallback),
    };
    /* Benchmarks (they print timings and assert no speed): only when asked,
     * never skipped cases inside `make check`. */
    const struct CMUnitTest bench[] = {
        cmocka_unit_test(test_networks_file_million),
        cmocka_unit_test(test_decide_speed),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (bench_wanted())
        rc |= cmocka_run_group_tests(bench, NULL, NULL);
    return rc;
}
