/* Unit tests for src/query/query.c's two answer paths: the fused path for
 * the common query shape (query_answer_common()) and the general one
 * (query_answer_general()), the reference. Every packet below goes
 * through both, over UDP and TCP and with small and large buffers: where
 * the fused path answers, its bytes and its statistics must be the
 * general path's; where it declines, it must have written nothing but the
 * question name and counted nothing; query_answer() must always give the
 * general path's bytes. Each case also says which path should take it, so
 * a fused path that declines everything (or takes an odd shape) fails. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "dns/wire.h"
#include "fixture.h"
#include "fixture_geo.h"
#include "fixture_service.h"
#include "query/query_internal.h"
#include "query/service.h"

static const char *const zone_com[] = {
    "example.com. 3600 IN SOA ns1.example.com. host.example.com. 1 7200 3600 1209600 300",
    "example.com. 3600 IN NS ns1.example.com.",
    "example.com. 3600 IN MX 10 mail.example.com.",
    "example.com. 3600 IN TXT \"apex\"",
    "ns1.example.com. 3600 IN A 192.0.2.53",
    "mail.example.com. 3600 IN A 192.0.2.25",
    "mail.example.com. 3600 IN AAAA 2001:db8::25",
    "www.example.com. 3600 IN A 192.0.2.10",
    "www.example.com. 3600 IN A 192.0.2.11",
    "www.example.com. 3600 IN AAAA 2001:db8::10",
    "web.example.com. 3600 IN CNAME www.example.com.",
    "*.wild.example.com. 3600 IN A 192.0.2.80",
    "a.b.ent.example.com. 3600 IN A 192.0.2.1",
    "sub.example.com. 3600 IN NS ns.sub.example.com.",
    "ns.sub.example.com. 3600 IN A 192.0.2.99",
    "old.example.com. 3600 IN DNAME example.net.",
    "srv.example.com. 3600 IN SRV 10 60 5060 mail.example.com.",
    "svc.example.com. 3600 IN HTTPS 1 . alpn=h2",
    "svc.example.com. 3600 IN A 192.0.2.40",
    "alias-svc.example.com. 3600 IN HTTPS 0 svc.example.com.",
    "far.example.com. 3600 IN SVCB 1 www.example.org. port=8443",
    "*.hw.example.com. 3600 IN HTTPS 1 . alpn=h2",
    "*.hw.example.com. 3600 IN AAAA 2001:db8::42",
    "big.example.com. 3600 IN TXT \"" /* too big for 512 bytes: TC */
    "0123456789012345678901234567890123456789012345678901234567890123456789"
    "0123456789012345678901234567890123456789012345678901234567890123456789"
    "0123456789012345678901234567890123456789012345678901234567890123456789\"",
    "big.example.com. 3600 IN TXT \""
    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"
    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"
    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij\"",
    "big.example.com. 3600 IN TXT \"third\" \""
    "ABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJ\"",
    NULL,
};
static const char *const zone_net[] = {
    "example.net. 300 IN SOA ns1.example.com. host.example.com. 7 7200 3600 1209600 60",
    "example.net. 300 IN NS ns1.example.com.",
    "ap.example.net. 300 IN A 203.0.113.10",
    "ap.example.net. 300 IN HTTPS 1 . alpn=h2",
    "ap.example.net. 300 IN TXT \"ap\"",
    "ap.example.net. 300 IN MX 10 mail.example.com.",
    NULL,
};

/* Two services routed by network overrides (scope > 0 with ECS), one of
 * whose pools is a CNAME into a zone of ours; one that falls back (see
 * setup()); one with IPv4 pools only. */
enum { DC_EU, DC_US, DC_AP };
static conf_datacenter_t dcs[3] = {
    {.name = "eu-west", .has_location = true, .lat = 53.35, .lon = -6.26},
    {.name = "us-east", .has_location = true, .lat = 38.95, .lon = -77.45},
    {.name = "ap-south", .has_location = true, .lat = 1.29, .lon = 103.85},
};
static uint8_t order_default[] = {DC_US, DC_EU, DC_AP};
static uint8_t order_ap[] = {DC_AP};
static uint8_t order_eu[] = {DC_EU};
static conf_network_t eu_addrs[3], us_addrs[1];
static conf_pool_t pools[3], v4_pools[2];
static conf_network_rule_t overrides[2];
static conf_map_rule_t eu_continent[1];
static conf_service_t services[4];
static conf_t conf;

static fixture_services_t fixture;
static zone_db_t *db;
static query_config_t cfg = {.max_udp_size = 1232,
                             .nsid = (const uint8_t *)"ns-test",
                             .nsid_len = 7,
                             .chaos = true,
                             .version = "v1",
                             .identity = "id"};

static int setup(void **state)
{
    (void)state;
    eu_addrs[0] = fixture_net("192.0.2.10", 32);
    eu_addrs[1] = fixture_net("192.0.2.11", 32);
    eu_addrs[2] = fixture_net("2001:db8::10", 128);
    us_addrs[0] = fixture_net("198.51.100.10", 32);
    pools[0] = (conf_pool_t){.dc = DC_EU, .addrs = eu_addrs, .n_addrs = 3};
    pools[1] = (conf_pool_t){.dc = DC_US, .addrs = us_addrs, .n_addrs = 1};
    pools[2] = (conf_pool_t){.dc = DC_AP, .cname = "ap.example.net."};
    overrides[0] = (conf_network_rule_t){.net = fixture_net("192.0.2.0", 24),
                                         .order = {order_ap, 1}};
    overrides[1] = (conf_network_rule_t){.net = fixture_net("2001:db8::", 32),
                                         .order = {order_eu, 1}};
    services[0] = (conf_service_t){.name = "geo.example.com.", .ttl = 120, .failover_ttl = 10,
                                   .min_up = 1, .policy = CONF_POLICY_MAP, .ecs = true,
                                   .pools = pools, .n_pools = 3,
                                   .default_order = {order_default, 3},
                                   .networks = overrides, .n_networks = 2,
                                   .conf_file = "test.yaml", .conf_line = 1};
    services[1] = services[0];
    services[1].name = "noecs.example.com.";
    services[1].ecs = false;
    /* no overrides (the bound short path), Europe and the rest to eu-west:
     * with eu-west down, everyone falls back */
    eu_continent[0] = (conf_map_rule_t){.key = "EU", .order = {order_eu, 1}};
    services[2] = services[0];
    services[2].name = "fb.example.com.";
    services[2].networks = NULL;
    services[2].n_networks = 0;
    services[2].continents = eu_continent;
    services[2].n_continents = 1;
    services[2].default_order = (conf_dc_order_t){order_eu, 1};
    v4_pools[0] = (conf_pool_t){.dc = DC_EU, .addrs = eu_addrs, .n_addrs = 2};
    v4_pools[1] = (conf_pool_t){.dc = DC_US, .addrs = us_addrs, .n_addrs = 1};
    services[3] = services[0];
    services[3].name = "v4.example.com.";
    services[3].pools = v4_pools;
    services[3].n_pools = 2;
    services[3].default_order = (conf_dc_order_t){order_default, 2};
    services[3].n_networks = 0;
    conf = (conf_t){.datacenters = dcs, .n_datacenters = 3, .services = services,
                    .n_services = 4};
    /* zone_com and a delegation to 40 in-domain name servers, whose glue
     * does not fit in 1232 bytes */
    static char many[80][64];
    static const char *com[sizeof(zone_com) / sizeof(zone_com[0]) + 80];
    size_t n = 0;
    while (zone_com[n]) {
        com[n] = zone_com[n];
        n++;
    }
    for (int i = 0; i < 40; i++) {
        snprintf(many[2 * i], sizeof(many[0]), "many.example.com. 60 IN NS ns%d.%s", i,
                 "many.example.com.");
        snprintf(many[2 * i + 1], sizeof(many[0]), "ns%d.many.example.com. 60 IN AAAA %s%d", i,
                 "2001:db8::", i);
        com[n++] = many[2 * i];
        com[n++] = many[2 * i + 1];
    }
    com[n] = NULL;
    if (fixture_services(&fixture, &conf, com, zone_net) < 0)
        return -1;
    db = fixture.db;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fixture_services_free(&fixture);
    return 0;
}

/* ------------------------------------------------------------ packets */

enum { OPT_NONE, OPT_EMPTY, OPT_ECS4, OPT_ECS4_ZERO, OPT_ECS6, OPT_ECS_BAD, OPT_NSID,
       OPT_ECS_NSID, OPT_COOKIE, OPT_UNKNOWN, OPT_ECS4_LONDON };

typedef struct query_shape {
    const char *name; /* presentation form, or NULL: name_wire */
    uint16_t type;
    uint16_t qclass;  /* 0: IN */
    uint16_t flags;   /* header flags as sent */
    int opt;          /* OPT_* */
    uint16_t udp_size;
    uint8_t version;
    uint16_t edns_flags;
} query_shape_t;

/* Appends the wire form of a presentation name; returns its length. */
static size_t put_name(uint8_t *p, const char *name)
{
    size_t n = 0;
    while (*name && strcmp(name, ".") != 0) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        p[n++] = (uint8_t)l;
        memcpy(p + n, name, l);
        n += l;
        name += l + (dot ? 1 : 0);
    }
    p[n++] = 0;
    return n;
}

/* The OPT record's options for kind; returns their length. */
static size_t put_options(uint8_t *o, int kind)
{
    static const uint8_t ecs4[] = {0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2};
    static const uint8_t ecs4_zero[] = {0, 8, 0, 4, 0, 1, 0, 0};
    static const uint8_t ecs6[] = {0, 8, 0, 10, 0, 2, 48, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 1};
    static const uint8_t ecs_bad[] = {0, 8, 0, 7, 0, 1, 23, 0, 192, 0, 3}; /* bit past /23 */
    static const uint8_t nsid[] = {0, 3, 0, 0};
    static const uint8_t cookie[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t unknown[] = {0xfd, 0xe9, 0, 2, 9, 9};
    static const uint8_t london[] = {0, 8, 0, 8, 0, 1, 32, 0, 81, 2, 69, 142};
    const uint8_t *src = NULL;
    size_t n = 0;
    switch (kind) {
    case OPT_ECS4: src = ecs4; n = sizeof(ecs4); break;
    case OPT_ECS4_ZERO: src = ecs4_zero; n = sizeof(ecs4_zero); break;
    case OPT_ECS6: src = ecs6; n = sizeof(ecs6); break;
    case OPT_ECS_BAD: src = ecs_bad; n = sizeof(ecs_bad); break;
    case OPT_NSID: src = nsid; n = sizeof(nsid); break;
    case OPT_COOKIE: src = cookie; n = sizeof(cookie); break;
    case OPT_UNKNOWN: src = unknown; n = sizeof(unknown); break;
    case OPT_ECS4_LONDON: src = london; n = sizeof(london); break;
    case OPT_ECS_NSID:
        memcpy(o, ecs4, sizeof(ecs4));
        memcpy(o + sizeof(ecs4), nsid, sizeof(nsid));
        return sizeof(ecs4) + sizeof(nsid);
    default:
        return 0;
    }
    memcpy(o, src, n);
    return n;
}

/* Builds the query s into pkt; returns its length. */
static size_t build(const query_shape_t *s, uint16_t id, uint8_t *pkt)
{
    memset(pkt, 0, 12);
    dns_put16(pkt, id);
    dns_put16(pkt + 2, s->flags);
    dns_put16(pkt + 4, 1);
    size_t p = 12 + put_name(pkt + 12, s->name);
    dns_put16(pkt + p, s->type);
    dns_put16(pkt + p + 2, s->qclass ? s->qclass : DNS_CLASS_IN);
    p += 4;
    if (s->opt == OPT_NONE)
        return p;
    dns_put16(pkt + 10, 1);
    uint8_t *opt = pkt + p;
    opt[0] = 0;
    dns_put16(opt + 1, DNS_TYPE_OPT);
    dns_put16(opt + 3, s->udp_size ? s->udp_size : 1232);
    opt[5] = 0;
    opt[6] = s->version;
    dns_put16(opt + 7, s->edns_flags);
    size_t rdlen = put_options(opt + 11, s->opt);
    dns_put16(opt + 9, (uint16_t)rdlen);
    return p + 11 + rdlen;
}

/* ------------------------------------------------------------ comparing */

static const struct sockaddr_in client4 = {.sin_family = AF_INET,
                                           .sin_addr = {.s_addr = 0x0a02000a}};

typedef struct outcome {
    size_t len;
    stats_totals_t counted;
} outcome_t;

#define RESP_CAP 65535

/* Runs one path on pkt into resp (pre-filled with 0xA5) and notes what it
 * counted. which: 0 general, 1 fused, 2 query_answer(). */
static outcome_t run(int which, const uint8_t *pkt, size_t len, uint8_t *resp, size_t cap,
                     bool tcp)
{
    typedef size_t (*path_fn)(const zone_db_t *, const query_config_t *, const uint8_t *, size_t,
                              uint8_t *, size_t, bool, const struct sockaddr *, unsigned);
    static const path_fn paths[] = {query_answer_general, query_answer_common, query_answer};
    stats_totals_t before, after;
    outcome_t o;
    unsigned slot = tcp ? STATS_SLOTS - 1 : 3;
    memset(resp, 0xA5, RESP_CAP);
    stats_sum(tcp, &before);
    o.len = paths[which](db, &cfg, pkt, len, resp, cap, tcp,
                         (const struct sockaddr *)&client4, slot);
    stats_sum(tcp, &after);
    uint64_t *b = (uint64_t *)&before, *a = (uint64_t *)&after, *c = (uint64_t *)&o.counted;
    for (size_t i = 0; i < sizeof(before) / sizeof(uint64_t); i++)
        c[i] = a[i] - b[i];
    return o;
}

static void dump(const char *what, const uint8_t *p, size_t n)
{
    fprintf(stderr, "%s (%zu bytes):", what, n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s%02x", i % 16 ? " " : "\n  ", p[i]);
    fprintf(stderr, "\n");
}

/* Checks pkt through every path at one size; returns whether the fused path
 * answered. */
static bool check_one(const char *label, const uint8_t *pkt, size_t len, size_t cap, bool tcp)
{
    static uint8_t general[RESP_CAP], fused[RESP_CAP], both[RESP_CAP];
    outcome_t g = run(0, pkt, len, general, cap, tcp);
    outcome_t f = run(1, pkt, len, fused, cap, tcp);
    outcome_t q = run(2, pkt, len, both, cap, tcp);
    if (q.len != g.len || memcmp(both, general, g.len) != 0 ||
        memcmp(&q.counted, &g.counted, sizeof(g.counted)) != 0) {
        dump("query", pkt, len);
        dump("general", general, g.len);
        dump("query_answer", both, q.len);
        fail_msg("%s (cap %zu, %s): query_answer() differs from the general path", label, cap,
                 tcp ? "tcp" : "udp");
    }
    if (f.len == 0) {
        stats_totals_t none = {0};
        /* Declined: nothing counted, nothing written outside the name. */
        if (memcmp(&f.counted, &none, sizeof(none)) != 0)
            fail_msg("%s: the fused path declined but counted the query", label);
        for (size_t i = 0; i < RESP_CAP; i++)
            if ((i < DNS_HEADER_SIZE || i >= DNS_HEADER_SIZE + DNS_NAME_MAX + 8) &&
                fused[i] != 0xA5)
                fail_msg("%s: the fused path declined but wrote byte %zu", label, i);
        return false;
    }
    if (f.len != g.len || memcmp(fused, general, g.len) != 0) {
        dump("query", pkt, len);
        dump("general", general, g.len);
        dump("fused", fused, f.len);
        fail_msg("%s (cap %zu, %s): the fused path's answer differs", label, cap,
                 tcp ? "tcp" : "udp");
    }
    if (memcmp(&f.counted, &g.counted, sizeof(g.counted)) != 0)
        fail_msg("%s: the fused path counted differently", label);
    return true;
}

/* Checks pkt at every size; expect_fused: must the fused path answer it at
 * the full UDP size? */
static void check_packet(const char *label, const uint8_t *pkt, size_t len, bool expect_fused)
{
    bool fused = check_one(label, pkt, len, RESP_CAP, false);
    check_one(label, pkt, len, 512, false);
    check_one(label, pkt, len, RESP_CAP, true);
    if (fused != expect_fused)
        fail_msg("%s: expected the %s path to answer", label, expect_fused ? "fused" : "general");
}

static void check_shape(const query_shape_t *s, bool expect_fused)
{
    uint8_t pkt[600];
    char label[400];
    snprintf(label, sizeof(label), "%s type %u class %u flags %04x opt %d", s->name, s->type,
             s->qclass, s->flags, s->opt);
    for (uint16_t id = 0; id < 3; id++) /* ids rotate pools */
        check_packet(label, pkt, build(s, (uint16_t)(0x4242 + id), pkt), expect_fused);
}

/* ------------------------------------------------------------ cases */

static void test_common_names_and_types(void **state)
{
    (void)state;
    static const char *const names[] = {
        "www.example.com.", "WWW.EXAMPLE.COM.", "wWw.ExAmPlE.cOm.", "mail.example.com.",
        "ns1.example.com.", "example.com.", "Example.COM.", "nothere.example.com.",
        "NoThere.Example.Com.", "b.ent.example.com.", "a.b.ent.example.com.",
        "geo.example.com.", "GEO.Example.com.", "noecs.example.com.",
    };
    static const uint16_t types[] = {DNS_TYPE_A, DNS_TYPE_AAAA, DNS_TYPE_TXT, DNS_TYPE_HTTPS,
                                     257 /* CAA */, 0x1234, 99};
    static const int opts[] = {OPT_NONE, OPT_EMPTY, OPT_ECS4, OPT_ECS4_ZERO, OPT_ECS6};
    for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++)
        for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
            for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]); o++) {
                query_shape_t s = {.name = names[n], .type = types[t], .opt = opts[o]};
                check_shape(&s, true);
                s.flags = DNS_FLAG_RD | DNS_FLAG_CD | 0x0020 /* AD */;
                s.edns_flags = DNS_EDNS_DO;
                check_shape(&s, true);
            }
}

static void test_edns_variants(void **state)
{
    (void)state;
    static const uint16_t sizes[] = {0, 100, 511, 512, 600, 1232, 4096, 65535};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        query_shape_t s = {.name = "www.example.com.", .type = DNS_TYPE_A, .opt = OPT_EMPTY,
                           .udp_size = sizes[i]};
        check_shape(&s, true);
        s.name = "geo.example.com.";
        s.opt = OPT_ECS6;
        check_shape(&s, true);
    }
    /* What the fused path leaves to the general one. */
    static const int others[] = {OPT_ECS_BAD, OPT_NSID, OPT_ECS_NSID, OPT_COOKIE, OPT_UNKNOWN};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        query_shape_t s = {.name = "www.example.com.", .type = DNS_TYPE_A, .opt = others[i]};
        check_shape(&s, false);
    }
    query_shape_t v1 = {.name = "www.example.com.", .type = DNS_TYPE_A, .opt = OPT_EMPTY,
                        .version = 1};
    check_shape(&v1, false);
    /* The OPT flags: DO copied, the Z bits cleared, on both paths. */
    static const uint16_t edns_flags[] = {DNS_EDNS_DO, 0x7FFF, 0xFFFF, 0x0001};
    static const char *const flag_names[] = {"www.example.com.", "geo.example.com.",
                                             "nothere.example.com.", "mail.example.com."};
    for (size_t f = 0; f < sizeof(edns_flags) / sizeof(edns_flags[0]); f++)
        for (size_t n = 0; n < sizeof(flag_names) / sizeof(flag_names[0]); n++) {
            query_shape_t s = {.name = flag_names[n], .type = DNS_TYPE_A, .opt = OPT_ECS4,
                               .edns_flags = edns_flags[f]};
            check_shape(&s, true);
            s.opt = OPT_COOKIE;
            check_shape(&s, false);
            s.version = 1;
            check_shape(&s, false);
        }
}

static void test_answers_left_to_the_general_path(void **state)
{
    (void)state;
    static const query_shape_t shapes[] = {
        {.name = "web.example.com.", .type = DNS_TYPE_A},      /* CNAME */
        {.name = "x.wild.example.com.", .type = DNS_TYPE_A},   /* wildcard */
        {.name = "x.wild.example.com.", .type = DNS_TYPE_MX},  /* wildcard, no data */
        {.name = "sub.example.com.", .type = DNS_TYPE_A},      /* delegation */
        {.name = "ns.sub.example.com.", .type = DNS_TYPE_A},   /* glue below the cut */
        {.name = "deep.sub.example.com.", .type = DNS_TYPE_A}, /* below the cut */
        {.name = "x.old.example.com.", .type = DNS_TYPE_A},    /* DNAME */
        {.name = "example.com.", .type = DNS_TYPE_MX},         /* names to compress */
        {.name = "example.com.", .type = DNS_TYPE_NS},
        {.name = "example.com.", .type = DNS_TYPE_SOA},
        {.name = "srv.example.com.", .type = DNS_TYPE_SRV},    /* additional records */
        {.name = "www.example.com.", .type = DNS_TYPE_ANY},
        {.name = "sub.example.com.", .type = DNS_TYPE_DS},
        {.name = "example.com.", .type = DNS_TYPE_AXFR},
        {.name = "example.com.", .type = DNS_TYPE_IXFR},
        {.name = "www.example.org.", .type = DNS_TYPE_A},      /* not ours: REFUSED */
        {.name = ".", .type = DNS_TYPE_NS},
        {.name = "version.bind.", .type = DNS_TYPE_TXT, .qclass = DNS_CLASS_CH},
        {.name = "www.example.com.", .type = DNS_TYPE_A, .qclass = DNS_CLASS_ANY},
        {.name = "www.example.com.", .type = DNS_TYPE_A, .qclass = 4},
        {.name = "www.example.com.", .type = DNS_TYPE_A, .flags = DNS_FLAG_TC},
        {.name = "www.example.com.", .type = DNS_TYPE_A, .flags = DNS_FLAG_AA},
        {.name = "www.example.com.", .type = DNS_TYPE_A, .flags = DNS_FLAG_QR},
        {.name = "www.example.com.", .type = DNS_TYPE_A, .flags = 1u << 11}, /* IQUERY */
        {.name = "www.example.com.", .type = DNS_TYPE_A, .flags = 5u << 11}, /* UPDATE */
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        query_shape_t s = shapes[i];
        check_shape(&s, false);
        s.opt = OPT_ECS4;
        check_shape(&s, false);
        s.edns_flags = DNS_EDNS_DO | 0x0101; /* DO and two Z bits */
        check_shape(&s, false);
    }
    /* A big answer: truncated at 512 bytes by the general path, whole at
     * the client's size by the fused one. */
    query_shape_t big = {.name = "big.example.com.", .type = DNS_TYPE_TXT};
    check_shape(&big, false);
    big.opt = OPT_EMPTY;
    check_shape(&big, true);
    big.udp_size = 512;
    check_shape(&big, false);
    /* Every size around the answer's: it must leave room for our OPT. */
    static const int opts[] = {OPT_EMPTY, OPT_ECS4, OPT_ECS6};
    for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]); o++) {
        for (uint16_t size = 540; size < 640; size++) {
            uint8_t pkt[600];
            big.opt = opts[o];
            big.udp_size = size;
            char label[64];
            snprintf(label, sizeof(label), "big TXT, opt %d, UDP size %u", opts[o], size);
            size_t len = build(&big, size, pkt);
            check_one(label, pkt, len, RESP_CAP, false);
        }
    }
    /* No data at a DNAME's owner: the DNAME is no cut for its own name. */
    query_shape_t dname = {.name = "old.example.com.", .type = DNS_TYPE_A, .opt = OPT_ECS4};
    check_shape(&dname, true);
    dname.type = DNS_TYPE_DNAME;
    check_shape(&dname, true);
}

/* Every type at a service (a CNAME pool's target followed, with its
 * additional data; NODATA at address pools), SVCB/HTTPS with and
 * without in-zone targets, and referrals whose glue must be complete. */
static void test_services_svcb_and_glue(void **state)
{
    (void)state;
    static const char *const services_names[] = {"geo.example.com.", "noecs.example.com.",
                                                 "v4.example.com.", "GEO.example.COM."};
    static const uint16_t types[] = {DNS_TYPE_A,     DNS_TYPE_AAAA, DNS_TYPE_TXT,
                                     DNS_TYPE_HTTPS, DNS_TYPE_SVCB, DNS_TYPE_MX,
                                     DNS_TYPE_CNAME, DNS_TYPE_NS,   DNS_TYPE_SOA,
                                     257 /* CAA */,  0x1234,        DNS_TYPE_DS,
                                     DNS_TYPE_ANY};
    static const int opts[] = {OPT_NONE, OPT_EMPTY, OPT_ECS4, OPT_ECS4_ZERO, OPT_ECS6};
    for (size_t n = 0; n < sizeof(services_names) / sizeof(services_names[0]); n++)
        for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
            for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]); o++) {
                query_shape_t s = {.name = services_names[n], .type = types[t],
                                   .opt = opts[o]};
                /* DS and ANY have answers of their own */
                check_shape(&s, types[t] != DNS_TYPE_DS && types[t] != DNS_TYPE_ANY);
            }
    static const struct {
        const char *name;
        uint16_t type;
        bool fused;
    } cases[] = {
        {"svc.example.com.", DNS_TYPE_HTTPS, false}, /* its own A in additional */
        {"alias-svc.example.com.", DNS_TYPE_HTTPS, false},
        {"x.hw.example.com.", DNS_TYPE_HTTPS, false}, /* under the query name */
        {"far.example.com.", DNS_TYPE_SVCB, true},    /* target in no zone of ours */
        {"ap.example.net.", DNS_TYPE_HTTPS, false},
        {"ap.example.net.", DNS_TYPE_TXT, true},
        {"sub.example.com.", DNS_TYPE_NS, false},
        {"x.many.example.com.", DNS_TYPE_A, false},
        {"many.example.com.", DNS_TYPE_NS, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]); o++) {
            query_shape_t s = {.name = cases[i].name, .type = cases[i].type, .opt = opts[o]};
            check_shape(&s, cases[i].fused);
        }
}

/* Rewrites one 16-bit header field of a good query. */
static void check_header_field(size_t at, uint16_t value, bool expect_fused)
{
    query_shape_t s = {.name = "www.example.com.", .type = DNS_TYPE_A, .opt = OPT_ECS4};
    uint8_t pkt[600];
    size_t len = build(&s, 7, pkt);
    dns_put16(pkt + at, value);
    char label[64];
    snprintf(label, sizeof(label), "header offset %zu = %u", at, value);
    check_packet(label, pkt, len, expect_fused);
}

static void test_odd_shapes(void **state)
{
    (void)state;
    check_header_field(4, 0, false); /* no question */
    check_header_field(4, 2, false); /* two questions */
    check_header_field(6, 1, false); /* an answer record */
    check_header_field(8, 1, false); /* an authority record */
    check_header_field(10, 0, true); /* the OPT ignored: no EDNS */
    check_header_field(10, 2, false);
    check_header_field(2, 0x00ff, true); /* RA, Z, AD, CD and an RCODE: ignored or copied */

    /* A second question really there. */
    query_shape_t s = {.name = "www.example.com.", .type = DNS_TYPE_A};
    uint8_t pkt[600];
    size_t len = build(&s, 1, pkt);
    memcpy(pkt + len, pkt + 12, len - 12);
    dns_put16(pkt + 4, 2);
    check_packet("two questions", pkt, 2 * len - 12, false);

    /* The question name as a compression pointer (into the header, as a
     * pointer must point back), and a label with a pointer's other bits. */
    static const uint8_t pointer[] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
                                      0xc0, 0x04, 0, 1, 0, 1};
    check_packet("pointer", pointer, sizeof(pointer), false);
    static const uint8_t label_40[] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
                                       0x41, 'a', 0, 0, 1, 0, 1};
    check_packet("label type 0x40", label_40, sizeof(label_40), false);

    /* Trailing bytes after the OPT, and after the question. */
    len = build(&(query_shape_t){.name = "www.example.com.", .type = DNS_TYPE_A,
                                 .opt = OPT_ECS6},
                2, pkt);
    memset(pkt + len, 0x77, 9);
    check_packet("bytes after the OPT", pkt, len + 9, true);
    len = build(&s, 3, pkt);
    memset(pkt + len, 0, 3);
    check_packet("bytes after the question", pkt, len + 3, true);

    /* An OPT not owned by the root, and a record that is not an OPT. */
    len = build(&(query_shape_t){.name = "www.example.com.", .type = DNS_TYPE_A,
                                 .opt = OPT_EMPTY},
                4, pkt);
    size_t opt = len - 11;
    pkt[opt] = 1;
    memmove(pkt + opt + 2, pkt + opt + 1, 10);
    pkt[opt + 1] = 0;
    check_packet("OPT owned by another name", pkt, len + 1, false);
    len = build(&(query_shape_t){.name = "www.example.com.", .type = DNS_TYPE_A,
                                 .opt = OPT_EMPTY},
                5, pkt);
    dns_put16(pkt + len - 10, DNS_TYPE_TXT);
    check_packet("a TXT in the additional section", pkt, len, false);
    /* RDLENGTH past the end. */
    dns_put16(pkt + len - 10, DNS_TYPE_OPT);
    dns_put16(pkt + len - 2, 1);
    check_packet("OPT RDLENGTH past the end", pkt, len, false);

    /* A TSIG record (no key is known: NOTAUTH, BADKEY), alone, after the
     * OPT and before it (FORMERR). */
    static const uint8_t tsig[] = "\3key\0\0\xFA\0\xFF\0\0\0\0\0\x1D\13hmac-sha256"
                                  "\0\0\0\x6a\x1b\x2c\x3d\x01\x2c\0\0\x43\x21\0\0\0";
    for (int where = 0; where < 3; where++) {
        len = build(&(query_shape_t){.name = "www.example.com.", .type = DNS_TYPE_A,
                                     .opt = where ? OPT_ECS4 : OPT_NONE,
                                     .edns_flags = DNS_EDNS_DO},
                    6, pkt);
        if (where == 2) { /* the TSIG first */
            memmove(pkt + len - 22 + sizeof(tsig), pkt + len - 22, 22);
            memcpy(pkt + len - 22, tsig, sizeof(tsig));
        } else {
            memcpy(pkt + len, tsig, sizeof(tsig));
        }
        dns_put16(pkt + 10, (uint16_t)(dns_get16(pkt + 10) + 1));
        check_packet("a TSIG record", pkt, len + sizeof(tsig), false);
    }
}

static void test_truncated_packets(void **state)
{
    (void)state;
    static const int opts[] = {OPT_NONE, OPT_EMPTY, OPT_ECS4, OPT_ECS6};
    static const char *const names[] = {"geo.example.com.", "mail.example.com.",
                                        "nothere.example.com.", "a.b.ent.example.com."};
    for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++)
        for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]); o++) {
            query_shape_t s = {.name = names[n], .type = DNS_TYPE_A, .opt = opts[o]};
            uint8_t pkt[600];
            size_t len = build(&s, 9, pkt);
            for (size_t cut = 0; cut < len; cut++) {
                char label[128];
                snprintf(label, sizeof(label), "%s opt %d cut to %zu of %zu", names[n], opts[o],
                         cut, len);
                check_one(label, pkt, cut, RESP_CAP, false);
                check_one(label, pkt, cut, RESP_CAP, true);
            }
        }
}

/* Names of 255 bytes (the most), in and out of our zones, and 256. */
static void test_longest_names(void **state)
{
    (void)state;
    char name[300];
    /* 3 labels of 63 and one of 61 under example.com. (13 bytes): 255 */
    for (int total = 254; total <= 256; total++) {
        int last = total - 13 - 3 * 64 - 1;
        snprintf(name, sizeof(name), "%.63s.%.63s.%.63s.%.*s.example.com.",
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                 "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
                 "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", last,
                 "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD");
        static const int opts[] = {OPT_NONE, OPT_EMPTY, OPT_ECS6};
        for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]); o++) {
            query_shape_t s = {.name = name, .type = DNS_TYPE_A, .opt = opts[o]};
            check_shape(&s, total <= 255); /* a name error, or FORMERR */
        }
    }
    /* Many short labels: the most offsets. */
    size_t n = 0;
    for (int i = 0; i < 121; i++) {
        name[n++] = 'x';
        name[n++] = '.';
    }
    strcpy(name + n, "example.com.");
    query_shape_t s = {.name = name, .type = DNS_TYPE_AAAA, .opt = OPT_EMPTY};
    check_shape(&s, true);
}

/* Every data center of the client's order down: the answer from outside
 * it (fallback: any) and its ECS scope are the same on both paths, with
 * and without a database bound to the services. */
static void test_fallback_paths(void **state)
{
    (void)state;
    static const char *const names[] = {"geo.example.com.", "noecs.example.com.",
                                        "fb.example.com."};
    static const uint16_t types[] = {DNS_TYPE_A, DNS_TYPE_AAAA};
    static const int opts[] = {OPT_NONE, OPT_ECS4, OPT_ECS6, OPT_ECS4_LONDON};
    static const char *const drained[][2] = {{"eu-west", NULL}, {"eu-west", "us-east"}};
    geo_db_t *gdb = fixture_geo_test_db();
    for (int with_db = 0; with_db < (gdb ? 2 : 1); with_db++) {
        cfg.geo = with_db ? gdb : NULL;
        for (size_t i = 0; i < fixture.n; i++)
            service_bind_geo(fixture.svcs[i], cfg.geo);
        for (size_t d = 0; d < sizeof(drained) / sizeof(drained[0]); d++) {
            for (size_t k = 0; k < 2 && drained[d][k]; k++)
                assert_int_equal(health_force_dc(fixture.health, drained[d][k],
                                                 HEALTH_FORCE_DOWN), 0);
            uint64_t before = service_count(fixture.svcs[2], SERVICE_COUNT_FALLBACK);
            for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++)
                for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
                    for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]); o++) {
                        query_shape_t s = {.name = names[n], .type = types[t], .opt = opts[o]};
                        check_shape(&s, true);
                    }
            /* the fallback was taken, not a fail open */
            assert_true(service_count(fixture.svcs[2], SERVICE_COUNT_FALLBACK) > before);
            for (size_t k = 0; k < 2 && drained[d][k]; k++)
                assert_int_equal(health_force_dc(fixture.health, drained[d][k], HEALTH_AUTO), 0);
        }
    }
    cfg.geo = NULL;
    for (size_t i = 0; i < fixture.n; i++)
        service_bind_geo(fixture.svcs[i], NULL);
    geo_db_free(gdb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_common_names_and_types),
        cmocka_unit_test(test_edns_variants),
        cmocka_unit_test(test_answers_left_to_the_general_path),
        cmocka_unit_test(test_services_svcb_and_glue),
        cmocka_unit_test(test_odd_shapes),
        cmocka_unit_test(test_truncated_packets),
        cmocka_unit_test(test_longest_names),
        cmocka_unit_test(test_fallback_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
