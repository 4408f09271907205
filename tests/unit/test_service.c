/* Unit tests for geo services on the query path (src/query/service.c and
 * the service part of src/query/query.c): pools, rotation, CNAME pools,
 * network overrides, EDNS Client Subnet echo and scope, misplaced services.
 * No GeoIP database here: the integration tests use real ones. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <cmocka.h>
#include <ldns/ldns.h>
#include <netinet/in.h>

#include "dns/wire.h"
#include "fixture.h"
#include "fixture_geo.h"
#include "fixture_service.h"
#include "query/query.h"
#include "query/service.h"

enum { DC_EU, DC_US, DC_AP };

static conf_datacenter_t dcs[3] = {
    {.name = "eu-west", .has_location = true, .lat = 53.35, .lon = -6.26},
    {.name = "us-east", .has_location = true, .lat = 38.95, .lon = -77.45},
    {.name = "ap-south", .has_location = true, .lat = 1.29, .lon = 103.85},
};

static uint8_t order_us_eu_ap[] = {DC_US, DC_EU, DC_AP};
static uint8_t order_ap[] = {DC_AP};
static uint8_t order_eu[] = {DC_EU};
static conf_network_t eu_addrs[3], us_addrs[1], near_ap_addrs[1];
static conf_pool_t geo_pools[3], near_pools[3], hop_pools[3];
static conf_network_rule_t overrides[2], eu_overrides[2];
static conf_map_rule_t eu_continent[1];
enum { N_SERVICES = 8 };
static conf_service_t services[N_SERVICES];
static conf_t conf;

static const char *const zone_com[] = {
    "example.com. 300 IN SOA ns1.example.com. h.example.com. 1 7200 3600 1209600 60",
    "example.com. 300 IN NS ns1.example.com.",
    "ns1.example.com. 300 IN A 192.0.2.53",
    "static.example.com. 300 IN A 192.0.2.99",
    "alias.example.com. 300 IN CNAME geo.example.com.",
    "sub.example.com. 300 IN NS ns1.example.com.",
    NULL,
};
static const char *const zone_net[] = {
    "example.net. 300 IN SOA ns1.example.com. h.example.com. 1 7200 3600 1209600 60",
    "example.net. 300 IN NS ns1.example.com.",
    "ap.example.net. 300 IN A 203.0.113.10",
    "ap.example.net. 300 IN HTTPS 1 . alpn=h2",
    "ap.example.net. 300 IN TXT \"ap\"",
    "ap.example.net. 300 IN MX 10 mx.example.net.",
    "mx.example.net. 300 IN A 203.0.113.25",
    NULL,
};

static fixture_services_t fixture;
static zone_db_t *db;
static service_t *svcs[N_SERVICES];
static health_t *health; /* no loop: only overrides change states */
static query_config_t cfg = {.max_udp_size = 1232, .chaos = false};

static void build_conf(void)
{
    eu_addrs[0] = fixture_net("192.0.2.10", 32);
    eu_addrs[1] = fixture_net("192.0.2.11", 32);
    eu_addrs[2] = fixture_net("2001:db8::10", 128);
    us_addrs[0] = fixture_net("198.51.100.10", 32);
    near_ap_addrs[0] = fixture_net("203.0.113.20", 32);
    geo_pools[0] = (conf_pool_t){.dc = DC_EU, .addrs = eu_addrs, .n_addrs = 3};
    geo_pools[1] = (conf_pool_t){.dc = DC_US, .addrs = us_addrs, .n_addrs = 1};
    geo_pools[2] = (conf_pool_t){.dc = DC_AP, .cname = "ap.example.net."};
    near_pools[0] = (conf_pool_t){.dc = DC_EU, .addrs = eu_addrs, .n_addrs = 1};
    near_pools[1] = (conf_pool_t){.dc = DC_US, .addrs = us_addrs, .n_addrs = 1};
    near_pools[2] = (conf_pool_t){.dc = DC_AP, .addrs = near_ap_addrs, .n_addrs = 1};
    overrides[0] = (conf_network_rule_t){.net = fixture_net("192.0.2.0", 24),
                                         .order = {order_ap, 1}};
    overrides[1] = (conf_network_rule_t){.net = fixture_net("2001:db8::", 32),
                                         .order = {order_eu, 1}};
    services[0] = (conf_service_t){.name = "geo.example.com.", .ttl = 120, .failover_ttl = 10,
                                   .min_up = 1,
                                   .policy = CONF_POLICY_MAP, .ecs = true,
                                   .pools = geo_pools, .n_pools = 3,
                                   .default_order = {order_us_eu_ap, 3},
                                   .networks = overrides, .n_networks = 2,
                                   .conf_file = "test.yaml", .conf_line = 10};
    services[1] = (conf_service_t){.name = "near.example.com.", .ttl = 60, .failover_ttl = 5,
                                   .min_up = 1,
                                   .policy = CONF_POLICY_NEAREST, .ecs = true,
                                   .pools = near_pools, .n_pools = 3,
                                   .conf_file = "test.yaml", .conf_line = 20};
    /* the same routing with ECS switched off */
    services[2] = services[0];
    services[2].name = "noecs.example.com.";
    services[2].ecs = false;
    /* eu-west counts as up only with all three of its addresses */
    services[3] = services[0];
    services[3].name = "minup.example.com.";
    services[3].min_up = 3;
    services[3].n_networks = 0;
    /* geo's routing, failing open within the order (today's behaviour) */
    services[4] = services[0];
    services[4].name = "listed.example.com.";
    services[4].fallback = CONF_FALLBACK_LISTED;
    /* Europe and the default to eu-west alone, address pools only: when
     * it is down everyone falls back, to the nearer of us-east and
     * ap-south; one without overrides (the bound short path), one with */
    eu_continent[0] = (conf_map_rule_t){.key = "EU", .order = {order_eu, 1}};
    eu_overrides[0] = (conf_network_rule_t){.net = fixture_net("81.2.69.0", 24),
                                            .order = {order_eu, 1}};
    eu_overrides[1] = (conf_network_rule_t){.net = fixture_net("192.0.2.0", 24),
                                            .order = {order_eu, 1}};
    services[5] = (conf_service_t){.name = "fb.example.com.", .ttl = 60, .failover_ttl = 5,
                                   .min_up = 1, .policy = CONF_POLICY_MAP, .ecs = true,
                                   .pools = near_pools, .n_pools = 3,
                                   .continents = eu_continent, .n_continents = 1,
                                   .default_order = {order_eu, 1},
                                   .conf_file = "test.yaml", .conf_line = 30};
    services[6] = services[5];
    services[6].name = "fbnet.example.com.";
    services[6].networks = eu_overrides;
    services[6].n_networks = 2;
    /* geo's routing, its ap-south pool a CNAME to another service */
    hop_pools[0] = geo_pools[0];
    hop_pools[1] = geo_pools[1];
    hop_pools[2] = (conf_pool_t){.dc = DC_AP, .cname = "near.example.com."};
    services[7] = services[0];
    services[7].name = "hop.example.com.";
    services[7].pools = hop_pools;
    conf = (conf_t){.datacenters = dcs, .n_datacenters = 3, .services = services,
                    .n_services = N_SERVICES};
}

static int setup(void **state)
{
    (void)state;
    build_conf();
    if (fixture_services(&fixture, &conf, zone_com, zone_net) < 0)
        return -1;
    db = fixture.db;
    for (size_t i = 0; i < N_SERVICES; i++)
        svcs[i] = fixture.svcs[i];
    health = fixture.health;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fixture_services_free(&fixture);
    return 0;
}

/* Writes into pkt (512 bytes) a query with an OPT record, and an ECS
 * option in it unless family is 0. Returns its length. */
static size_t build_query(uint8_t *pkt, const char *name, ldns_rr_type type, uint16_t id,
                          int family, const char *subnet, unsigned source)
{
    ldns_rdf *qname = ldns_dname_new_frm_str(name);
    size_t p = 12;
    memset(pkt, 0, 12);
    dns_put16(pkt, id);
    dns_put16(pkt + 4, 1);
    dns_put16(pkt + 10, 1);
    memcpy(pkt + p, ldns_rdf_data(qname), ldns_rdf_size(qname));
    p += ldns_rdf_size(qname);
    ldns_rdf_deep_free(qname);
    dns_put16(pkt + p, type);
    dns_put16(pkt + p + 2, DNS_CLASS_IN);
    p += 4;
    uint8_t *opt = pkt + p;
    opt[0] = 0;
    dns_put16(opt + 1, DNS_TYPE_OPT);
    dns_put16(opt + 3, 4096);
    dns_put32(opt + 5, 0);
    size_t rdlen = 0;
    if (family) {
        uint8_t addr[16] = {0};
        assert_int_equal(inet_pton(family == 1 ? AF_INET : AF_INET6, subnet, addr), 1);
        size_t alen = (source + 7) / 8;
        dns_put16(opt + 11, DNS_EDNS_CLIENT_SUBNET);
        dns_put16(opt + 13, (uint16_t)(4 + alen));
        dns_put16(opt + 15, (uint16_t)family);
        opt[17] = (uint8_t)source;
        opt[18] = 0;
        memcpy(opt + 19, addr, alen);
        rdlen = 8 + alen;
    }
    dns_put16(opt + 9, (uint16_t)rdlen);
    return p + 11 + rdlen;
}

/* A query with an optional ECS option (family 0: none) from client. */
static ldns_pkt *ask(const char *name, ldns_rr_type type, uint16_t id, int family,
                     const char *subnet, unsigned source, const struct sockaddr *client)
{
    uint8_t pkt[512];
    size_t p = build_query(pkt, name, type, id, family, subnet, source);
    uint8_t resp[4096];
    size_t n = query_answer(db, &cfg, pkt, p, resp, sizeof(resp), false, client, STATS_SLOTS - 1);
    assert_true(n >= 12);
    ldns_pkt *rp;
    assert_int_equal(ldns_wire2pkt(&rp, resp, n), LDNS_STATUS_OK);
    return rp;
}

/* lines: every one must be in the answer, which must hold n_lines records. */
static void expect_answer(ldns_pkt *p, ldns_pkt_rcode rcode, const char *const *lines,
                          size_t n_lines)
{
    char *text = ldns_rr_list2str(ldns_pkt_answer(p));
    bool ok = ldns_pkt_get_rcode(p) == rcode && ldns_pkt_ancount(p) == n_lines;
    for (size_t i = 0; ok && i < n_lines; i++)
        ok = strstr(text, lines[i]) != NULL;
    if (!ok) {
        char *all = ldns_pkt2str(p);
        fail_msg("expected rcode %d and %zu answers incl. \"%s\", got:\n%s", rcode, n_lines,
                 n_lines ? lines[0] : "", all);
    }
    free(text);
}

/* The ECS option echoed in the response: returns its scope, or -1. */
static int echoed_scope(ldns_pkt *p, unsigned *source)
{
    ldns_rdf *data = ldns_pkt_edns_data(p);
    if (!data)
        return -1;
    const uint8_t *o = ldns_rdf_data(data);
    size_t len = ldns_rdf_size(data);
    for (size_t i = 0; i + 4 <= len;) {
        uint16_t code = dns_get16(o + i), olen = dns_get16(o + i + 2);
        if (code == DNS_EDNS_CLIENT_SUBNET && olen >= 4) {
            *source = o[i + 6];
            return o[i + 7];
        }
        i += 4u + olen;
    }
    return -1;
}

/* query_prefetch()'s guess at the client: the subnet a query ends with,
 * else the IPv4 source. */
static void test_client_v4_guess(void **state)
{
    (void)state;
    uint8_t pkt[512];
    struct sockaddr_storage v4 = {0}, v6 = {0};
    struct sockaddr_in *sin = (struct sockaddr_in *)&v4;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(0xCB007105); /* 203.0.113.5 */
    v6.ss_family = AF_INET6;
    static const struct {
        const char *subnet;
        unsigned source;
        uint32_t want;
    } subnets[] = {
        {"10.0.0.0", 8, 0x0A000000},      {"172.16.0.0", 12, 0xAC100000},
        {"192.0.2.0", 24, 0xC0000200},    {"198.51.96.0", 20, 0xC6336000},
        {"198.51.100.7", 32, 0xC6336407}, {"100.64.0.0", 10, 0x64400000},
    };
    uint32_t a;
    for (size_t i = 0; i < sizeof(subnets) / sizeof(subnets[0]); i++) {
        size_t n = build_query(pkt, "geo.example.com.", LDNS_RR_TYPE_A, 1, 1, subnets[i].subnet,
                               subnets[i].source);
        a = 0;
        assert_true(query_client_v4_guess(pkt, n, &v6, &a));
        assert_int_equal(a, subnets[i].want);
        /* cut short: no longer a subnet at the end */
        assert_true(query_client_v4_guess(pkt, n - 1, &v4, &a));
        assert_int_equal(a, 0xCB007105);
    }
    size_t n = build_query(pkt, "geo.example.com.", LDNS_RR_TYPE_A, 1, 0, NULL, 0);
    assert_true(query_client_v4_guess(pkt, n, &v4, &a));
    assert_int_equal(a, 0xCB007105);
    assert_false(query_client_v4_guess(pkt, n, &v6, &a));
    n = build_query(pkt, "geo.example.com.", LDNS_RR_TYPE_A, 1, 2, "2001:db8::", 48);
    assert_false(query_client_v4_guess(pkt, n, &v6, &a));
    for (size_t len = 0; len < 24; len++) /* too short for a subnet */
        assert_false(query_client_v4_guess(pkt, len, &v6, &a));
}

static void test_override_and_cname_pool(void **state)
{
    (void)state;
    ldns_pkt *p = ask("geo.example.com.", LDNS_RR_TYPE_A, 1, 1, "192.0.2.0", 24, NULL);
    const char *want[] = {"geo.example.com.\t120\tIN\tCNAME\tap.example.net.",
                          "ap.example.net.\t300\tIN\tA\t203.0.113.10"};
    expect_answer(p, LDNS_RCODE_NOERROR, want, 2);
    assert_true(ldns_pkt_aa(p));
    unsigned source = 0;
    assert_int_equal(echoed_scope(p, &source), 24);
    assert_int_equal(source, 24);
    ldns_pkt_free(p);
}

static void test_default_order_and_scope(void **state)
{
    (void)state;
    ldns_pkt *p = ask("geo.example.com.", LDNS_RR_TYPE_A, 1, 1, "10.0.0.0", 8, NULL);
    const char *want[] = {"198.51.100.10"};
    expect_answer(p, LDNS_RCODE_NOERROR, want, 1);
    unsigned source;
    assert_true(echoed_scope(p, &source) >= 0);
    assert_int_equal(source, 8);
    ldns_pkt_free(p);
    /* SOURCE PREFIX-LENGTH 0: do not locate; default order, scope 0 */
    p = ask("geo.example.com.", LDNS_RR_TYPE_A, 1, 1, "0.0.0.0", 0, NULL);
    expect_answer(p, LDNS_RCODE_NOERROR, want, 1);
    assert_int_equal(echoed_scope(p, &source), 0);
    ldns_pkt_free(p);
}

static void test_ipv6_override(void **state)
{
    (void)state;
    ldns_pkt *p = ask("geo.example.com.", LDNS_RR_TYPE_AAAA, 1, 2, "2001:db8:1::", 48, NULL);
    const char *want[] = {"geo.example.com.\t120\tIN\tAAAA\t2001:db8::10"};
    expect_answer(p, LDNS_RCODE_NOERROR, want, 1);
    unsigned source;
    assert_int_equal(echoed_scope(p, &source), 32);
    assert_int_equal(source, 48);
    ldns_pkt_free(p);
    /* the eu-west pool has one AAAA and two A: A answers both, rotated */
    p = ask("geo.example.com.", LDNS_RR_TYPE_A, 2, 2, "2001:db8:1::", 48, NULL);
    char *first = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0));
    assert_int_equal(ldns_pkt_ancount(p), 2);
    ldns_pkt_free(p);
    p = ask("geo.example.com.", LDNS_RR_TYPE_A, 3, 2, "2001:db8:1::", 48, NULL);
    char *second = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0));
    assert_int_equal(ldns_pkt_ancount(p), 2);
    assert_string_not_equal(first, second);
    free(first);
    free(second);
    ldns_pkt_free(p);
}

static void test_other_types_nodata(void **state)
{
    (void)state;
    ldns_pkt *p = ask("geo.example.com.", LDNS_RR_TYPE_MX, 1, 1, "10.0.0.0", 8, NULL);
    expect_answer(p, LDNS_RCODE_NOERROR, NULL, 0);
    assert_int_equal(ldns_pkt_nscount(p), 1);
    unsigned source;
    /* not the same for everyone (ap-south's clients get a CNAME): the
     * scope of the route, as for A (test_address_pool_nodata) */
    assert_int_equal(echoed_scope(p, &source), 1);
    ldns_pkt_free(p);
    /* us-east has no AAAA: NODATA for AAAA there */
    p = ask("geo.example.com.", LDNS_RR_TYPE_AAAA, 1, 1, "10.0.0.0", 8, NULL);
    expect_answer(p, LDNS_RCODE_NOERROR, NULL, 0);
    assert_int_equal(ldns_pkt_nscount(p), 1);
    ldns_pkt_free(p);
    /* below a service name: NXDOMAIN, never a service answer */
    p = ask("x.geo.example.com.", LDNS_RR_TYPE_A, 1, 0, NULL, 0, NULL);
    expect_answer(p, LDNS_RCODE_NXDOMAIN, NULL, 0);
    ldns_pkt_free(p);
}

/* A client whose pool is a CNAME gets it for every type (RFC 1034 3.6.2,
 * RFC 2181 10.1), followed in our zones but for CNAME and ANY (which the
 * CNAME answers), with the scope that decided it. */
static void test_cname_pool_every_type(void **state)
{
    (void)state;
    static const struct {
        ldns_rr_type type;
        size_t an, ns, ar;
        const char *answer, *additional; /* one of each, or NULL */
    } cases[] = {
        {LDNS_RR_TYPE_HTTPS, 2, 0, 1, "ap.example.net.\t300\tIN\tHTTPS\t1 . alpn=h2",
         "ap.example.net.\t300\tIN\tA\t203.0.113.10"},
        {LDNS_RR_TYPE_TXT, 2, 0, 0, "ap.example.net.\t300\tIN\tTXT\t\"ap\"", NULL},
        {LDNS_RR_TYPE_MX, 2, 0, 1, "ap.example.net.\t300\tIN\tMX\t10 mx.example.net.",
         "mx.example.net.\t300\tIN\tA\t203.0.113.25"},
        {LDNS_RR_TYPE_A, 2, 0, 0, "ap.example.net.\t300\tIN\tA\t203.0.113.10", NULL},
        /* no such data at the target: the CNAME and the target zone's SOA */
        {LDNS_RR_TYPE_AAAA, 1, 1, 0, NULL, NULL},
        {LDNS_RR_TYPE_CAA, 1, 1, 0, NULL, NULL},
        {LDNS_RR_TYPE_DS, 1, 1, 0, NULL, NULL},
        {(ldns_rr_type)0x1234, 1, 1, 0, NULL, NULL},
        /* the CNAME is the answer */
        {LDNS_RR_TYPE_CNAME, 1, 0, 0, NULL, NULL},
        {LDNS_RR_TYPE_ANY, 1, 0, 0, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ldns_pkt *p = ask("geo.example.com.", cases[i].type, 1, 1, "192.0.2.0", 24, NULL);
        char *text = ldns_pkt2str(p);
        char *an = ldns_rr_list2str(ldns_pkt_answer(p));
        char *ar = ldns_rr_list2str(ldns_pkt_additional(p));
        unsigned source;
        if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR || !ldns_pkt_aa(p) ||
            ldns_pkt_ancount(p) != cases[i].an || ldns_pkt_nscount(p) != cases[i].ns ||
            ldns_pkt_arcount(p) != cases[i].ar ||
            !strstr(an, "geo.example.com.\t120\tIN\tCNAME\tap.example.net.") ||
            (cases[i].answer && !strstr(an, cases[i].answer)) ||
            (cases[i].additional && !strstr(ar, cases[i].additional)) ||
            (cases[i].ns && !strstr(text, "example.net.\t60\tIN\tSOA")) ||
            echoed_scope(p, &source) != 24)
            fail_msg("type %d: expected NOERROR AA, counts %zu/%zu/%zu, the CNAME, \"%s\" "
                     "and \"%s\", scope 24; got:\n%s",
                     cases[i].type, cases[i].an, cases[i].ns, cases[i].ar,
                     cases[i].answer ? cases[i].answer : "",
                     cases[i].additional ? cases[i].additional : "",
                     text);
        free(text);
        free(an);
        free(ar);
        ldns_pkt_free(p);
    }
}

/* NODATA at a service is the SOA; it holds for every client (scope 0)
 * only when no pool could answer that type, none being a CNAME. */
static void test_address_pool_nodata(void **state)
{
    (void)state;
    unsigned source;
    /* geo: a client routed to us-east (IPv4 only) gets NODATA for AAAA and
     * HTTPS, with the scope of its route, as a client of ap-south would
     * get the CNAME */
    ldns_pkt *p = ask("geo.example.com.", LDNS_RR_TYPE_A, 1, 1, "10.0.0.0", 8, NULL);
    int scope = echoed_scope(p, &source);
    ldns_pkt_free(p);
    static const ldns_rr_type geo_types[] = {LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_HTTPS,
                                             LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_CNAME};
    for (size_t i = 0; i < sizeof(geo_types) / sizeof(geo_types[0]); i++) {
        p = ask("geo.example.com.", geo_types[i], 1, 1, "10.0.0.0", 8, NULL);
        expect_answer(p, LDNS_RCODE_NOERROR, NULL, 0);
        assert_int_equal(ldns_pkt_nscount(p), 1);
        assert_int_equal(echoed_scope(p, &source), scope);
        ldns_pkt_free(p);
    }
    /* near: IPv4 pools only, no CNAME: NODATA but for A, scope 0 */
    static const ldns_rr_type near_types[] = {LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_HTTPS,
                                              LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_CNAME,
                                              LDNS_RR_TYPE_MX};
    for (size_t i = 0; i < sizeof(near_types) / sizeof(near_types[0]); i++) {
        p = ask("near.example.com.", near_types[i], 1, 1, "192.0.2.0", 24, NULL);
        expect_answer(p, LDNS_RCODE_NOERROR, NULL, 0);
        assert_int_equal(ldns_pkt_nscount(p), 1);
        char *soa = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_authority(p), 0));
        assert_non_null(strstr(soa, "example.com.\t60\tIN\tSOA"));
        free(soa);
        assert_int_equal(echoed_scope(p, &source), 0);
        ldns_pkt_free(p);
    }
}

/* A CNAME pool into another service: the answer depends on both routes,
 * so the scope echoed is the narrower network of the two. */
static void test_scope_through_services(void **state)
{
    (void)state;
    ldns_pkt *p = ask("hop.example.com.", LDNS_RR_TYPE_A, 1, 1, "192.0.2.0", 24, NULL);
    const char *want[] = {"hop.example.com.\t120\tIN\tCNAME\tnear.example.com.",
                          "near.example.com.\t60\tIN\tA\t192.0.2.10"};
    expect_answer(p, LDNS_RCODE_NOERROR, want, 2);
    unsigned source;
    assert_int_equal(echoed_scope(p, &source), 24);
    ldns_pkt_free(p);
}

static void test_source_address(void **state)
{
    (void)state;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    inet_pton(AF_INET, "192.0.2.55", &sin.sin_addr);
    ldns_pkt *p = ask("geo.example.com.", LDNS_RR_TYPE_A, 1, 0, NULL, 0,
                      (struct sockaddr *)&sin);
    const char *want[] = {"CNAME\tap.example.net.", "A\t203.0.113.10"};
    expect_answer(p, LDNS_RCODE_NOERROR, want, 2);
    unsigned source;
    assert_int_equal(echoed_scope(p, &source), -1); /* no ECS sent, none echoed */
    ldns_pkt_free(p);
    /* a service that ignores ECS uses the source address and echoes scope 0 */
    p = ask("noecs.example.com.", LDNS_RR_TYPE_A, 1, 1, "10.0.0.0", 8, (struct sockaddr *)&sin);
    expect_answer(p, LDNS_RCODE_NOERROR, want, 2);
    assert_int_equal(echoed_scope(p, &source), 0);
    ldns_pkt_free(p);
}

static void test_chain_into_service(void **state)
{
    (void)state;
    ldns_pkt *p = ask("alias.example.com.", LDNS_RR_TYPE_A, 1, 1, "10.0.0.0", 8, NULL);
    const char *want[] = {"alias.example.com.\t300\tIN\tCNAME\tgeo.example.com.",
                          "geo.example.com.\t120\tIN\tA\t198.51.100.10"};
    expect_answer(p, LDNS_RCODE_NOERROR, want, 2);
    ldns_pkt_free(p);
}

static void test_static_name_with_ecs(void **state)
{
    (void)state;
    ldns_pkt *p = ask("static.example.com.", LDNS_RR_TYPE_A, 1, 1, "192.0.2.0", 24, NULL);
    const char *want[] = {"192.0.2.99"};
    expect_answer(p, LDNS_RCODE_NOERROR, want, 1);
    unsigned source;
    assert_int_equal(echoed_scope(p, &source), 0);
    assert_int_equal(source, 24);
    ldns_pkt_free(p);
}

static void test_nearest_without_database(void **state)
{
    (void)state;
    /* no database, no override: the default order, i.e. the pools' order */
    ldns_pkt *p = ask("near.example.com.", LDNS_RR_TYPE_A, 1, 1, "10.0.0.0", 8, NULL);
    const char *want[] = {"near.example.com.\t60\tIN\tA\t192.0.2.10"};
    expect_answer(p, LDNS_RCODE_NOERROR, want, 1);
    ldns_pkt_free(p);
}

/* The first up data center answers, with failover_ttl; only up addresses
 * are served; with everything down, the first choice's whole pool. */
static void test_failover(void **state)
{
    (void)state;
    const char *want_eu2[] = {"near.example.com.\t60\tIN\tA\t192.0.2.10"};
    ldns_pkt *p = ask("near.example.com.", LDNS_RR_TYPE_A, 1, 1, "10.0.0.0", 8, NULL);
    expect_answer(p, LDNS_RCODE_NOERROR, want_eu2, 1);
    ldns_pkt_free(p);

    /* drain eu-west: us-east answers with the failover TTL */
    assert_int_equal(health_force_dc(health, "eu-west", HEALTH_FORCE_DOWN), 0);
    const char *want_us[] = {"near.example.com.\t5\tIN\tA\t198.51.100.10"};
    p = ask("near.example.com.", LDNS_RR_TYPE_A, 1, 1, "10.0.0.0", 8, NULL);
    expect_answer(p, LDNS_RCODE_NOERROR, want_us, 1);
    ldns_pkt_free(p);

    /* one address of eu-west's two A records down (geo service): the other
     * alone is served, with the normal TTL (eu-west is not the first choice
     * for the default order here, so use the IPv6 override to eu-west) */
    assert_int_equal(health_force_dc(health, "eu-west", HEALTH_AUTO), 0);
    assert_int_equal(health_force_address(health, "192.0.2.10", HEALTH_FORCE_DOWN), 0);
    for (uint16_t id = 0; id < 4; id++) {
        const char *want_11[] = {"geo.example.com.\t120\tIN\tA\t192.0.2.11"};
        p = ask("geo.example.com.", LDNS_RR_TYPE_A, id, 2, "2001:db8:1::", 48, NULL);
        expect_answer(p, LDNS_RCODE_NOERROR, want_11, 1);
        ldns_pkt_free(p);
    }

    /* min_up 3: with one of eu-west's three addresses down it is down; the
     * default order's first choice is us-east anyway, so use eu-west first:
     * minup's default order is us-east, eu-west, ap-south; force us-east
     * down to make eu-west the candidate */
    assert_int_equal(health_force_dc(health, "us-east", HEALTH_FORCE_DOWN), 0);
    const char *want_ap[] = {"minup.example.com.\t10\tIN\tCNAME\tap.example.net.",
                             "ap.example.net.\t300\tIN\tA\t203.0.113.10"};
    p = ask("minup.example.com.", LDNS_RR_TYPE_A, 1, 1, "10.0.0.0", 8, NULL);
    expect_answer(p, LDNS_RCODE_NOERROR, want_ap, 2);
    ldns_pkt_free(p);
    /* and with all three up it answers (geo's min_up 1 was content with two) */
    assert_int_equal(health_force_address(health, "192.0.2.10", HEALTH_AUTO), 0);
    const char *want_eu_min[] = {"minup.example.com.\t10\tIN\tA\t192.0.2.10",
                                 "minup.example.com.\t10\tIN\tA\t192.0.2.11"};
    p = ask("minup.example.com.", LDNS_RR_TYPE_A, 1, 1, "10.0.0.0", 8, NULL);
    expect_answer(p, LDNS_RCODE_NOERROR, want_eu_min, 2);
    ldns_pkt_free(p);
    assert_int_equal(health_force_dc(health, "us-east", HEALTH_AUTO), 0);

    /* everything down: fail open with eu-west's whole pool (first choice);
     * listed fails open within the order, geo's fallback takes the CNAME
     * pool, which has nothing to check */
    assert_int_equal(health_force_dc(health, "eu-west", HEALTH_FORCE_DOWN), 0);
    assert_int_equal(health_force_dc(health, "us-east", HEALTH_FORCE_DOWN), 0);
    assert_int_equal(health_force_dc(health, "ap-south", HEALTH_FORCE_DOWN), 0);
    uint64_t before = service_count(svcs[4], SERVICE_COUNT_FAIL_OPEN);
    const char *want_all[] = {"listed.example.com.\t120\tIN\tA\t192.0.2.10", "192.0.2.11"};
    p = ask("listed.example.com.", LDNS_RR_TYPE_A, 1, 2, "2001:db8:1::", 48, NULL);
    expect_answer(p, LDNS_RCODE_NOERROR, want_all, 2);
    ldns_pkt_free(p);
    assert_int_equal(service_count(svcs[4], SERVICE_COUNT_FAIL_OPEN), before + 1);
    const char *want_cname[] = {"geo.example.com.\t10\tIN\tCNAME\tap.example.net.",
                                "ap.example.net.\t300\tIN\tA\t203.0.113.10"};
    p = ask("geo.example.com.", LDNS_RR_TYPE_A, 1, 2, "2001:db8:1::", 48, NULL);
    expect_answer(p, LDNS_RCODE_NOERROR, want_cname, 2);
    ldns_pkt_free(p);
    before = service_count(svcs[1], SERVICE_COUNT_FAIL_OPEN);
    const char *want_near_all[] = {"near.example.com.\t60\tIN\tA\t192.0.2.10"};
    p = ask("near.example.com.", LDNS_RR_TYPE_A, 1, 1, "10.0.0.0", 8, NULL);
    expect_answer(p, LDNS_RCODE_NOERROR, want_near_all, 1);
    ldns_pkt_free(p);
    assert_int_equal(service_count(svcs[1], SERVICE_COUNT_FAIL_OPEN), before + 1);

    /* an address forced up beats its data center forced down */
    assert_int_equal(health_force_address(health, "198.51.100.10", HEALTH_FORCE_UP), 0);
    p = ask("near.example.com.", LDNS_RR_TYPE_A, 1, 1, "10.0.0.0", 8, NULL);
    expect_answer(p, LDNS_RCODE_NOERROR, want_us, 1);
    ldns_pkt_free(p);

    /* unknown names are refused */
    assert_int_equal(health_force_dc(health, "mars", HEALTH_FORCE_DOWN), -ENOENT);
    assert_int_equal(health_force_address(health, "192.0.2.200", HEALTH_FORCE_DOWN), -ENOENT);

    /* back to normal for the other tests */
    assert_int_equal(health_force_address(health, "198.51.100.10", HEALTH_AUTO), 0);
    assert_int_equal(health_force_address(health, "192.0.2.10", HEALTH_AUTO), 0);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(health_force_dc(health, dcs[i].name, HEALTH_AUTO), 0);
}

/* ask() for an IPv4 client subnet; checks the one A record, its TTL and
 * the echoed scope. */
static void expect_a(const char *name, const char *subnet, unsigned source, const char *addr,
                     unsigned ttl, int scope)
{
    char want[128];
    snprintf(want, sizeof(want), "%s\t%u\tIN\tA\t%s", name, ttl, addr);
    ldns_pkt *p = ask(name, LDNS_RR_TYPE_A, 1, 1, subnet, source, NULL);
    const char *lines[] = {want};
    expect_answer(p, LDNS_RCODE_NOERROR, lines, 1);
    unsigned got_source;
    int got = echoed_scope(p, &got_source);
    if (got != scope)
        fail_msg("%s from %s/%u: expected scope %d, got %d", name, subnet, source, scope, got);
    ldns_pkt_free(p);
}

/* Every data center of the client's order down: fallback: any answers
 * from the nearest up one outside it (failover TTL, counted, the state
 * changes once), listed fails open within the order. */
static void test_fallback(void **state)
{
    (void)state;
    service_t *fb = svcs[5], *fbnet = svcs[6], *listed = svcs[4], *near = svcs[1];
    for (size_t i = 0; i < N_SERVICES; i++)
        assert_int_equal(svcs[i]->state, SERVICE_NORMAL);
    assert_int_equal(health_force_dc(health, "eu-west", HEALTH_FORCE_DOWN), 0);
    /* no database: no coordinates, so the default order, then config order */
    uint64_t before = service_count(fbnet, SERVICE_COUNT_FALLBACK);
    uint64_t open_before = service_count(fbnet, SERVICE_COUNT_FAIL_OPEN);
    expect_a("fbnet.example.com.", "192.0.2.0", 24, "198.51.100.10", 5, 24);
    assert_int_equal(service_count(fbnet, SERVICE_COUNT_FALLBACK), before + 1);
    assert_int_equal(service_count(fbnet, SERVICE_COUNT_FAIL_OPEN), open_before);
    expect_a("fb.example.com.", "10.0.0.0", 8, "198.51.100.10", 5, 0);
    /* the health loop's view: one transition each, then none */
    assert_true(service_log_transitions(fb, &conf));
    assert_int_equal(fb->state, SERVICE_FALLBACK);
    assert_true(fb->state_since > 0);
    assert_false(service_log_transitions(fb, &conf));
    assert_true(service_log_transitions(fbnet, &conf));
    assert_false(service_log_transitions(near, &conf)); /* its orders hold every pool */
    assert_int_equal(near->state, SERVICE_NORMAL);
    /* geo's override 2001:db8::/32 lists eu-west alone */
    assert_true(service_log_transitions(svcs[0], &conf));
    assert_int_equal(svcs[0]->state, SERVICE_FALLBACK);
    assert_true(service_log_transitions(listed, &conf));
    assert_int_equal(listed->state, SERVICE_FAIL_OPEN);
    const char *want_listed[] = {"listed.example.com.\t120\tIN\tA\t192.0.2.10", "192.0.2.11"};
    ldns_pkt *p = ask("listed.example.com.", LDNS_RR_TYPE_A, 1, 2, "2001:db8:1::", 48, NULL);
    expect_answer(p, LDNS_RCODE_NOERROR, want_listed, 2);
    ldns_pkt_free(p);

    /* with the database: by distance from the client */
    geo_db_t *gdb = fixture_geo_test_db();
    if (gdb) {
        cfg.geo = gdb;
        service_bind_geo(fb, gdb);
        service_bind_geo(fbnet, gdb);
        /* London (EU: eu-west): us-east is nearer than ap-south; the
         * database's /31 decided, as without the fallback */
        expect_a("fb.example.com.", "81.2.69.142", 32, "198.51.100.10", 5, 31);
        /* Changchun (the default: eu-west): ap-south */
        expect_a("fb.example.com.", "175.16.199.1", 32, "203.0.113.20", 5, 24);
        expect_a("fb.example.com.", "175.16.199.0", 24, "203.0.113.20", 5, 24);
        /* the override 81.2.69.0/24 listed eu-west; London's /31 chose
         * the fallback, so the scope is /31, not the override's /24 */
        expect_a("fbnet.example.com.", "81.2.69.142", 32, "198.51.100.10", 5, 31);
        expect_a("fbnet.example.com.", "175.16.199.1", 32, "203.0.113.20", 5, 24);
        /* eu-west up again: its own answer, the override's scope */
        assert_int_equal(health_force_dc(health, "eu-west", HEALTH_AUTO), 0);
        expect_a("fbnet.example.com.", "81.2.69.142", 32, "192.0.2.10", 60, 24);
        assert_int_equal(health_force_dc(health, "eu-west", HEALTH_FORCE_DOWN), 0);
        cfg.geo = NULL;
        service_bind_geo(fb, NULL);
        service_bind_geo(fbnet, NULL);
        geo_db_free(gdb);
    }

    /* nothing up anywhere: fail open for everyone */
    assert_int_equal(health_force_dc(health, "us-east", HEALTH_FORCE_DOWN), 0);
    assert_int_equal(health_force_dc(health, "ap-south", HEALTH_FORCE_DOWN), 0);
    assert_true(service_log_transitions(fb, &conf));
    assert_int_equal(fb->state, SERVICE_FAIL_OPEN);
    assert_int_equal(svcs[0]->state, SERVICE_FALLBACK); /* until the loop looks */
    assert_false(service_log_transitions(svcs[0], &conf)); /* the CNAME pool is up */
    expect_a("fb.example.com.", "10.0.0.0", 8, "192.0.2.10", 60, 0);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(health_force_dc(health, dcs[i].name, HEALTH_AUTO), 0);
    assert_true(service_log_transitions(fb, &conf));
    assert_int_equal(fb->state, SERVICE_NORMAL);
    for (size_t i = 0; i < N_SERVICES; i++) {
        service_log_transitions(svcs[i], &conf);
        assert_int_equal(svcs[i]->state, SERVICE_NORMAL);
    }
    expect_a("fb.example.com.", "10.0.0.0", 8, "192.0.2.10", 60, 0);
}

static void test_misplaced_services(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"static.example.com.", "already has records"},
        {"www.example.org.", "not inside any served zone"},
        {"x.sub.example.com.", "below the delegation"},
        {"*.example.com.", "wildcard"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ldns_rdf *name = ldns_dname_new_frm_str(cases[i][0]);
        zone_dynamic_t dyn = {.name = ldns_rdf_data(name), .data = svcs[0],
                              .conf_file = "test.yaml", .conf_line = 7};
        zone_source_t *src = fixture_source("example.com.", zone_com);
        zone_db_t *bad;
        diag_t d;
        diag_init(&d);
        d.quiet = true;
        assert_false(zone_db_build(&src, 1, &dyn, 1, &bad, &d));
        assert_null(bad);
        assert_true(d.errors >= 1);
        if (!strstr(d.messages[0], cases[i][1]))
            fail_msg("%s: expected \"%s\" in \"%s\"", cases[i][0], cases[i][1], d.messages[0]);
        diag_free(&d);
        zone_source_free(src);
        ldns_rdf_deep_free(name);
    }
}

/* service_pick() and service_pick_further() directly (with fallback:
 * listed, no database): the pool chosen, the failover and fail-open flags, the counters of the caller's slot (and of
 * the last slot for one out of range), service_pool_up() with min_up and
 * CNAME pools, service_addr_served() when failing open. */
static void pick(service_t *s, const uint8_t *order, unsigned n, unsigned slot, bool further,
                 service_choice_t *out)
{
    geo_route_t r = {.order = order, .n_order = (uint8_t)n};
    memset(out, 0xA5, sizeof(*out));
    if (further)
        service_pick_further(s, NULL, &r, slot, out);
    else
        service_pick(s, NULL, &r, slot, out);
}

static void pick_is(service_t *s, const uint8_t *order, unsigned n, unsigned slot, int dc,
                    bool failover, bool fallback, bool fail_open)
{
    service_choice_t c;
    pick(s, order, n, slot, false, &c);
    assert_non_null(c.pool);
    if (c.pool->dc != dc || c.failover != failover || c.fallback != fallback ||
        c.fail_open != fail_open)
        fail_msg("%s: expected dc %d failover %d fallback %d fail_open %d, got %d %d %d %d",
                 s->conf->name, dc, failover, fallback, fail_open, c.pool->dc, c.failover,
                 c.fallback, c.fail_open);
    service_choice_t f;
    pick(s, order, n, slot, true, &f); /* the same decision, the slow way */
    assert_ptr_equal(f.pool, c.pool);
    assert_int_equal(f.failover, c.failover);
    assert_int_equal(f.fallback, c.fallback);
    assert_int_equal(f.fail_open, c.fail_open);
}

static uint64_t slot_count(const service_t *s, unsigned slot, size_t which)
{
    return atomic_load(&service_slot_counts(s, slot)[which]);
}

static void test_pick(void **state)
{
    (void)state;
    service_t *g = svcs[0], *m = svcs[3], *l = svcs[4]; /* l: fallback: listed */
    const unsigned slot = 7;
    uint64_t g0[SERVICE_COUNT_ANSWERS + 3], l0[SERVICE_COUNT_ANSWERS + 3];
    for (size_t i = 0; i < SERVICE_COUNT_ANSWERS + 3; i++) {
        g0[i] = slot_count(g, slot, i);
        l0[i] = slot_count(l, slot, i);
    }
    static const uint8_t order_eu_us[] = {DC_EU, DC_US};

    /* all up: the first choice, whatever the order says */
    pick_is(g, order_us_eu_ap, 3, slot, DC_US, false, false, false);
    pick_is(g, order_eu_us, 2, slot, DC_EU, false, false, false);
    for (size_t p = 0; p < g->n_pools; p++)
        assert_true(service_pool_up(g, &g->pools[p]));
    /* us-east down: eu-west, a failover */
    assert_int_equal(health_force_dc(health, "us-east", HEALTH_FORCE_DOWN), 0);
    assert_false(service_pool_up(g, &g->pools[1]));
    pick_is(g, order_us_eu_ap, 3, slot, DC_EU, true, false, false);
    /* one eu-west address down: min_up 1 still up, min_up 3 not */
    assert_int_equal(health_force_address(health, "192.0.2.11", HEALTH_FORCE_DOWN), 0);
    assert_true(service_pool_up(g, &g->pools[0]));
    assert_false(service_pool_up(m, &m->pools[0]));
    pick_is(m, order_us_eu_ap, 3, 8, DC_AP, true, false, false); /* the CNAME pool */
    assert_true(service_pool_up(m, &m->pools[2]));              /* always up */
    /* every data center of the order down: fallback: any takes one outside
     * it (ap-south); fallback: listed fails open to the first choice, with
     * every address served */
    assert_int_equal(health_force_dc(health, "eu-west", HEALTH_FORCE_DOWN), 0);
    pick_is(g, order_eu_us, 2, slot, DC_AP, true, true, false);
    pick_is(l, order_eu_us, 2, slot, DC_EU, false, false, true);
    service_choice_t c;
    pick(l, order_eu_us, 2, slot, false, &c);
    assert_true(c.fail_open);
    assert_true(service_addr_served(l, &c, c.pool->a_target[0]));
    assert_true(service_addr_served(l, &c, c.pool->a_target[1]));
    /* not failing open, a down address is not served */
    assert_int_equal(health_force_dc(health, "us-east", HEALTH_AUTO), 0);
    pick(l, order_eu_us, 2, slot, false, &c);
    assert_false(c.fail_open);
    assert_true(c.failover);
    assert_int_equal(c.pool->dc, DC_US);
    assert_int_equal(health_force_dc(health, "eu-west", HEALTH_AUTO), 0);
    pick(l, order_eu_us, 2, slot, false, &c);
    assert_int_equal(c.pool->dc, DC_EU);
    assert_true(service_addr_served(l, &c, c.pool->a_target[0]));
    assert_false(service_addr_served(l, &c, c.pool->a_target[1])); /* 192.0.2.11 */
    assert_int_equal(health_force_address(health, "192.0.2.11", HEALTH_AUTO), 0);
    assert_true(service_addr_served(l, &c, c.pool->a_target[1]));

    /* counted in slot 7 (pick_is picks twice). g: eu-west 2 first choice
     * + 2 failover, us-east 2, ap-south 2 fallback; failovers 2 (a
     * fallback counts as one, not as a failover); l: eu-west 2 + 1 fail
     * open + 1, us-east 1 failover */
    static const struct {
        size_t which;
        uint64_t g, l;
    } want[] = {
        {SERVICE_COUNT_ANSWERS + 0, 4, 4}, {SERVICE_COUNT_ANSWERS + 1, 2, 1},
        {SERVICE_COUNT_ANSWERS + 2, 2, 0}, {SERVICE_COUNT_FAILOVERS, 2, 1},
        {SERVICE_COUNT_FALLBACK, 2, 0},    {SERVICE_COUNT_FAIL_OPEN, 0, 3},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        uint64_t dg = slot_count(g, slot, want[i].which) - g0[want[i].which];
        uint64_t dl = slot_count(l, slot, want[i].which) - l0[want[i].which];
        if (dg != want[i].g || dl != want[i].l)
            fail_msg("counter %zu: expected +%llu and +%llu, got +%llu and +%llu",
                     want[i].which, (unsigned long long)want[i].g,
                     (unsigned long long)want[i].l, (unsigned long long)dg,
                     (unsigned long long)dl);
    }
    /* a slot past the table counts in the last one */
    uint64_t last0 = slot_count(g, STATS_SLOTS - 1, SERVICE_COUNT_ANSWERS + 1);
    pick_is(g, order_us_eu_ap, 3, STATS_SLOTS + 5, DC_US, false, false, false);
    assert_int_equal(slot_count(g, STATS_SLOTS - 1, SERVICE_COUNT_ANSWERS + 1) - last0, 2);
    assert_ptr_equal(service_slot_counts(g, STATS_SLOTS + 5),
                     service_slot_counts(g, STATS_SLOTS - 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_v4_guess),
        cmocka_unit_test(test_override_and_cname_pool),
        cmocka_unit_test(test_default_order_and_scope),
        cmocka_unit_test(test_ipv6_override),
        cmocka_unit_test(test_other_types_nodata),
        cmocka_unit_test(test_cname_pool_every_type),
        cmocka_unit_test(test_address_pool_nodata),
        cmocka_unit_test(test_scope_through_services),
        cmocka_unit_test(test_source_address),
        cmocka_unit_test(test_chain_into_service),
        cmocka_unit_test(test_static_name_with_ecs),
        cmocka_unit_test(test_nearest_without_database),
        cmocka_unit_test(test_failover),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_pick),
        cmocka_unit_test(test_misplaced_services),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
