/* Unit tests for src/zone/zonedb.c: the compiled database and zone_lookup(). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "dns/name.h"
#include "dns/wire.h"
#include "fixture.h"
#include "zone/zonedb.h"

static const char *const parent[] = {
    "example.com. 3600 IN SOA ns1.example.com. h.example.com. 2026 7200 3600 1209600 300",
    "example.com. 3600 IN NS ns1.example.com.",
    "example.com. 3600 IN MX 10 mail.example.com.",
    "example.com. 3600 IN MX 20 mail.example.com.",
    "example.com. 3600 IN MX 30 www.example.org.",
    "ns1.example.com. 3600 IN A 192.0.2.1",
    "mail.example.com. 3600 IN AAAA 2001:db8::1",
    "www.example.com. 3600 IN CNAME host.example.com.",
    "host.example.com. 3600 IN A 192.0.2.2",
    "out.example.com. 3600 IN CNAME www.example.org.",
    "a.b.c.example.com. 3600 IN A 192.0.2.3",
    "*.w.example.com. 3600 IN A 192.0.2.4",
    "x.w.example.com. 3600 IN A 192.0.2.5",
    "d.example.com. 3600 IN DNAME example.net.",
    "below.d.example.com. 3600 IN A 192.0.2.6",
    "del.example.com. 3600 IN NS ns1.example.com.",
    "del.example.com. 3600 IN NS ns.del.example.com.",
    "ns.del.example.com. 3600 IN A 192.0.2.7",
    "deeper.x.del.example.com. 3600 IN NS ns.example.net.",
    "child.example.com. 3600 IN NS ns1.example.com.",
    "child.example.com. 3600 IN DS 1 8 2 "
    "49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE0C4E4A4E2D4E2F1A2B3C4D5E",
    "glue.child.example.com. 3600 IN A 192.0.2.8",
    "svc.example.com. 3600 IN HTTPS 1 . alpn=h2",
    "svc.example.com. 3600 IN SVCB 0 .",
    "svc.example.com. 3600 IN A 192.0.2.9",
    "alias.example.com. 3600 IN HTTPS 0 svc.example.com.",
    "alias.example.com. 3600 IN SVCB 1 host.example.com. port=8443",
    "alias.example.com. 3600 IN SVCB 2 ns1.example.com. port=8443",
    NULL,
};
static const char *const child[] = {
    "child.example.com. 60 IN SOA ns1.example.com. h.example.com. 7 7200 3600 1209600 600",
    "child.example.com. 60 IN NS ns1.example.com.",
    "in.child.example.com. 60 IN A 198.51.100.1",
    NULL,
};

static zone_db_t *db;

static int setup(void **state)
{
    (void)state;
    zone_source_t *s[2] = {fixture_source("example.com.", parent),
                           fixture_source("child.example.com.", child)};
    db = fixture_db(s, 2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    zone_db_free(db);
    return 0;
}

/* Looks text up; the name is converted to lower-case wire format. */
static void look(const char *text, zone_lookup_t *r)
{
    ldns_rdf *name = ldns_dname_new_frm_str(text);
    assert_non_null(name);
    uint8_t lc[DNS_NAME_MAX + 8]; /* zone_lookup() reads a word past the name */
    size_t len = ldns_rdf_size(name);
    dns_name_lower(lc, ldns_rdf_data(name), len);
    ldns_rdf_deep_free(name);
    zone_lookup(db, lc, len, r);
}

static void assert_name(const zone_node_t *node, const char *expected)
{
    char text[DNS_NAME_MAX * 4];
    assert_non_null(node);
    dns_name_to_text(node->key, text, sizeof(text));
    assert_string_equal(text, expected);
}

static void test_zones(void **state)
{
    (void)state;
    assert_int_equal(zone_db_zone_count(db), 2);
    const zone_t *z = zone_db_zone(db, 0);
    assert_int_equal(z->serial, 2026);
    assert_int_equal(z->soa->ttl, 3600);
    assert_int_equal(z->negative_soa.ttl, 300); /* min(TTL, MINIMUM) */
    const zone_t *c = zone_db_zone(db, 1);
    assert_int_equal(c->negative_soa.ttl, 60); /* TTL below MINIMUM */
    assert_non_null(c->parent_deleg);
    assert_name(c->parent_deleg, "child.example.com.");
    assert_null(z->parent_deleg);
}

static void test_exact_and_case(void **state)
{
    (void)state;
    zone_lookup_t r;
    look("HOST.Example.COM.", &r);
    assert_name(r.node, "host.example.com.");
    assert_ptr_equal(r.encloser, r.node);
    assert_null(r.cut);
    assert_null(r.wild);
    assert_ptr_equal(r.zone, zone_db_zone(db, 0));
    look("example.com.", &r);
    assert_true(r.node->flags & ZONE_NODE_APEX);
    assert_false(r.node->flags & ZONE_NODE_DELEG);
}

static void test_ent_and_nxdomain(void **state)
{
    (void)state;
    zone_lookup_t r;
    look("b.c.example.com.", &r); /* empty non-terminal: a node with no data */
    assert_non_null(r.node);
    assert_int_equal(r.node->n_rrsets, 0);
    look("c.example.com.", &r);
    assert_non_null(r.node);
    look("z.b.c.example.com.", &r);
    assert_null(r.node);
    assert_name(r.encloser, "b.c.example.com.");
    assert_null(r.wild);
    look("nothing.example.com.", &r);
    assert_null(r.node);
    assert_name(r.encloser, "example.com.");
}

static void test_wildcard(void **state)
{
    (void)state;
    zone_lookup_t r;
    look("q.w.example.com.", &r);
    assert_null(r.node);
    assert_name(r.encloser, "w.example.com.");
    assert_name(r.wild, "*.w.example.com.");
    look("a.b.q.w.example.com.", &r);
    assert_name(r.wild, "*.w.example.com.");
    /* x.w exists: below it the closest encloser is x.w, with no wildcard */
    look("y.x.w.example.com.", &r);
    assert_name(r.encloser, "x.w.example.com.");
    assert_null(r.wild);
    look("x.w.example.com.", &r);
    assert_name(r.node, "x.w.example.com.");
}

static void test_cuts(void **state)
{
    (void)state;
    zone_lookup_t r;
    look("del.example.com.", &r);
    assert_name(r.node, "del.example.com.");
    assert_ptr_equal(r.cut, r.node);
    assert_true(r.node->flags & ZONE_NODE_DELEG);
    look("ns.del.example.com.", &r);
    assert_name(r.cut, "del.example.com.");
    /* the highest cut wins over a deeper one */
    look("deeper.x.del.example.com.", &r);
    assert_name(r.cut, "del.example.com.");
    look("nothing.del.example.com.", &r);
    assert_name(r.cut, "del.example.com.");
    /* DNAME applies below its owner, not at it */
    look("d.example.com.", &r);
    assert_null(r.cut);
    look("below.d.example.com.", &r);
    assert_name(r.cut, "d.example.com.");
    look("any.thing.d.example.com.", &r);
    assert_name(r.cut, "d.example.com.");
}

static void test_nested_zone(void **state)
{
    (void)state;
    zone_lookup_t r;
    look("child.example.com.", &r);
    assert_ptr_equal(r.zone, zone_db_zone(db, 1));
    assert_true(r.node->flags & ZONE_NODE_APEX);
    assert_null(r.cut);
    look("in.child.example.com.", &r);
    assert_ptr_equal(r.zone, zone_db_zone(db, 1));
    /* the parent's glue below the child apex is not reachable by lookup */
    look("glue.child.example.com.", &r);
    assert_null(r.node);
    assert_ptr_equal(r.zone, zone_db_zone(db, 1));
    look("www.example.org.", &r);
    assert_null(r.zone);
    look("com.", &r);
    assert_null(r.zone);
    look(".", &r);
    assert_null(r.zone);
}

static void test_targets(void **state)
{
    (void)state;
    zone_lookup_t r;
    look("www.example.com.", &r);
    const zone_rrset_t *cname = zone_node_rrset(r.node, DNS_TYPE_CNAME);
    assert_non_null(cname->cname_target);
    assert_name(cname->cname_target->node, "host.example.com.");
    look("out.example.com.", &r);
    cname = zone_node_rrset(r.node, DNS_TYPE_CNAME);
    assert_null(cname->cname_target->zone);
    look("example.com.", &r);
    /* two MX to one host: its node once; one out of every zone: none */
    const zone_rrset_t *mx = zone_node_rrset(r.node, DNS_TYPE_MX);
    assert_int_equal(mx->n_additional, 1);
    assert_int_equal(mx->n_glue, 0);
    assert_name(mx->additional[0], "mail.example.com.");
    const zone_rrset_t *ns = zone_node_rrset(r.node, DNS_TYPE_NS);
    assert_int_equal(ns->n_additional, 1);
    assert_int_equal(ns->n_glue, 0); /* the apex's NS is no referral */
    assert_name(ns->additional[0], "ns1.example.com.");
    look("del.example.com.", &r);
    /* in-domain glue (below the cut) first and required, the sibling after */
    ns = zone_node_rrset(r.node, DNS_TYPE_NS);
    assert_int_equal(ns->n_additional, 2);
    assert_int_equal(ns->n_glue, 1);
    assert_name(ns->additional[0], "ns.del.example.com.");
    assert_name(ns->additional[1], "ns1.example.com.");
    /* SVCB/HTTPS (RFC 9460): "." in ServiceMode is the owner, in AliasMode
     * no target at all */
    look("svc.example.com.", &r);
    const zone_rrset_t *https = zone_node_rrset(r.node, DNS_TYPE_HTTPS);
    assert_int_equal(https->n_additional, 1);
    assert_ptr_equal(https->additional[0], r.node);
    assert_int_equal(zone_node_rrset(r.node, DNS_TYPE_SVCB)->n_additional, 0);
    look("alias.example.com.", &r);
    https = zone_node_rrset(r.node, DNS_TYPE_HTTPS);
    assert_int_equal(https->n_additional, 1);
    assert_name(https->additional[0], "svc.example.com.");
    const zone_rrset_t *svcb = zone_node_rrset(r.node, DNS_TYPE_SVCB);
    assert_int_equal(svcb->n_additional, 2);
    assert_name(svcb->additional[0], "host.example.com.");
    assert_name(svcb->additional[1], "ns1.example.com.");
    look("deeper.x.del.example.com.", &r);
    /* occluded data stays in the database but is reached only as a referral */
    assert_non_null(r.node);
    assert_name(r.cut, "del.example.com.");
}

static void test_prerendered(void **state)
{
    (void)state;
    zone_lookup_t r;
    look("host.example.com.", &r);
    const zone_rrset_t *a = zone_node_rrset(r.node, DNS_TYPE_A);
    assert_non_null(a->wire);
    assert_int_equal(a->wire_len, 16);
    assert_memory_equal(a->wire, "\xC0\x0C\x00\x01\x00\x01\x00\x00\x0E\x10\x00\x04\xC0\x00\x02\x02",
                        16);
    look("www.example.com.", &r);
    assert_null(zone_node_rrset(r.node, DNS_TYPE_CNAME)->wire); /* names to compress */
    assert_null(zone_node_rrset(r.node, DNS_TYPE_A));
}

static void test_large_zone(void **state)
{
    (void)state;
    enum { N = 20000 };
    char **lines = calloc(N + 3, sizeof(char *));
    lines[0] = strdup("big. 300 IN SOA ns.big. h.big. 1 2 3 4 5");
    lines[1] = strdup("big. 300 IN NS ns.big.");
    for (int i = 0; i < N; i++) {
        lines[i + 2] = malloc(64);
        snprintf(lines[i + 2], 64, "h%d.l%d.big. 300 IN A 10.%d.%d.%d", i, i % 100, i >> 16,
                 (i >> 8) & 255, i & 255);
    }
    zone_source_t *src = fixture_source("big.", (const char *const *)lines);
    zone_db_t *saved = db;
    db = fixture_db(&src, 1);
    zone_lookup_t r;
    /* Every name, in another case, finds its own node: its key is the name
     * asked and its one A record is the address written for it. */
    for (int i = 0; i < N; i++) {
        char name[64];
        snprintf(name, sizeof(name), "H%d.L%d.BIG.", i, i % 100);
        look(name, &r);
        assert_non_null(r.node);
        char want[64], got[64];
        snprintf(want, sizeof(want), "h%d.l%d.big.", i, i % 100);
        dns_name_to_text(r.node->key, got, sizeof(got));
        assert_string_equal(got, want);
        const zone_rrset_t *a = zone_node_rrset(r.node, DNS_TYPE_A);
        assert_non_null(a);
        assert_int_equal(a->count, 1);
        const uint8_t want_rd[6] = {0, 4, 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        assert_int_equal(a->rdata_len, sizeof(want_rd));
        assert_memory_equal(a->rdata, want_rd, sizeof(want_rd));
    }
    look("l7.big.", &r); /* ENT */
    assert_non_null(r.node);
    assert_int_equal(r.node->n_rrsets, 0);
    look("h7.l8.big.", &r);
    assert_null(r.node);
    zone_db_free(db);
    db = saved;
    for (int i = 0; i < N + 2; i++)
        free(lines[i]);
    free(lines);
}

static void test_empty_db(void **state)
{
    (void)state;
    zone_db_t *empty;
    diag_t d;
    diag_init(&d);
    assert_true(zone_db_build(NULL, 0, NULL, 0, &empty, &d));
    zone_lookup_t r;
    zone_lookup(empty, (const uint8_t *)"\1a\0", 3, &r);
    assert_null(r.zone);
    zone_db_free(empty);
    diag_free(&d);
}

/* text in wire format, as sent (case kept), into buf (DNS_NAME_MAX + 8
 * bytes, zero-padded: lookups read a word past the name); its length. */
static size_t wire(const char *text, uint8_t *buf)
{
    ldns_rdf *name = ldns_dname_new_frm_str(text);
    assert_non_null(name);
    size_t len = ldns_rdf_size(name);
    memset(buf, 0, DNS_NAME_MAX + 8);
    memcpy(buf, ldns_rdf_data(name), len);
    ldns_rdf_deep_free(name);
    return len;
}

/* The hash index directly: a key is found only with its own hash, length
 * and (for zone_index_find) lower-case bytes; zone_index_find_any_case
 * takes the name in any case. */
static void test_index_find(void **state)
{
    (void)state;
    const zone_index_t *ix = (const zone_index_t *)db;
    uint8_t name[DNS_NAME_MAX + 8], upper[DNS_NAME_MAX + 8];
    size_t len = wire("host.example.com.", name);
    uint32_t h = dns_name_hash(name, len);
    const zone_node_t *n = zone_index_find(ix, h, name, len);
    assert_name(n, "host.example.com.");
    assert_int_equal(n->hash, h);
    assert_int_equal(n->name_len, len);
    assert_null(zone_index_find(ix, h ^ 1, name, len));   /* another hash */
    assert_null(zone_index_find(ix, h, name, len - 1));   /* another length */
    assert_ptr_equal(zone_index_find_any_case(ix, h, name, len), n);
    /* upper case: the exact-case probe misses, the any-case one finds it;
     * the hash is always that of the lower-cased name */
    assert_int_equal(wire("HOST.Example.COM.", upper), len);
    assert_null(zone_index_find(ix, h, upper, len));
    assert_ptr_equal(zone_index_find_any_case(ix, h, upper, len), n);
    /* one byte different */
    name[1] = 'i';
    assert_null(zone_index_find(ix, dns_name_hash(name, len), name, len));
    assert_null(zone_index_find_any_case(ix, dns_name_hash(name, len), name, len));
    /* the root is no node: no zone is served there */
    len = wire(".", name);
    assert_null(zone_index_find(ix, dns_name_hash(name, len), name, len));
    /* the apexes and an empty non-terminal are */
    len = wire("child.example.com.", name);
    assert_name(zone_index_find(ix, dns_name_hash(name, len), name, len), "child.example.com.");
    len = wire("c.example.com.", name);
    assert_non_null(zone_index_find(ix, dns_name_hash(name, len), name, len));
}

/* zone_lookup_miss for names that are not nodes, in any case: the closest
 * encloser, and the cut or wildcard that applies. */
static void test_lookup_miss(void **state)
{
    (void)state;
    static const struct {
        const char *name, *encloser, *cut, *wild;
        unsigned zone; /* 0 example.com, 1 child, 2 none */
    } cases[] = {
        {"zz.b.c.example.com.", "b.c.example.com.", NULL, NULL, 0},
        {"ZZ.B.c.Example.COM.", "b.c.example.com.", NULL, NULL, 0},
        {"q.w.example.com.", "w.example.com.", NULL, "*.w.example.com.", 0},
        {"a.b.q.w.example.com.", "w.example.com.", NULL, "*.w.example.com.", 0},
        {"y.del.example.com.", "del.example.com.", "del.example.com.", NULL, 0},
        {"y.x.deeper.x.del.example.com.", "deeper.x.del.example.com.", "del.example.com.",
         NULL, 0},
        {"foo.d.example.com.", "d.example.com.", "d.example.com.", NULL, 0}, /* DNAME */
        {"nothing.example.com.", "example.com.", NULL, NULL, 0},
        {"new.child.example.com.", "child.example.com.", NULL, NULL, 1},
        {"example.org.", NULL, NULL, NULL, 2},
        {"com.", NULL, NULL, NULL, 2},
        {"xexample.com.", NULL, NULL, NULL, 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t name[DNS_NAME_MAX + 8], offs[DNS_LABELS_MAX];
        size_t len = wire(cases[i].name, name);
        unsigned n = dns_name_label_offsets(name, offs) - 1;
        zone_lookup_t r;
        memset(&r, 0xA5, sizeof(r)); /* every field is set */
        zone_lookup_miss(db, name, len, offs, n, &r);
        print_message("  %s\n", cases[i].name);
        assert_null(r.node);
        if (cases[i].zone == 2) {
            assert_null(r.zone);
            assert_null(r.encloser);
            assert_null(r.cut);
            assert_null(r.wild);
            continue;
        }
        assert_ptr_equal(r.zone, zone_db_zone(db, cases[i].zone));
        assert_name(r.encloser, cases[i].encloser);
        if (cases[i].cut)
            assert_name(r.cut, cases[i].cut);
        else
            assert_null(r.cut);
        if (cases[i].wild)
            assert_name(r.wild, cases[i].wild);
        else
            assert_null(r.wild);
        /* zone_lookup_labels on the lower-cased name agrees */
        uint8_t lc[DNS_NAME_MAX + 8] = {0};
        dns_name_lower(lc, name, len);
        zone_lookup_t r2;
        zone_lookup_labels(db, lc, len, dns_name_hash(lc, len), offs, n, &r2);
        assert_memory_equal(&r, &r2, sizeof(r));
    }
    /* an empty database: nothing, whatever the name */
    zone_db_t *empty;
    diag_t d;
    diag_init(&d);
    assert_true(zone_db_build(NULL, 0, NULL, 0, &empty, &d));
    uint8_t name[DNS_NAME_MAX + 8], offs[DNS_LABELS_MAX];
    size_t len = wire("a.example.com.", name);
    zone_lookup_t r;
    memset(&r, 0xA5, sizeof(r));
    zone_lookup_miss(empty, name, len, offs, dns_name_label_offsets(name, offs) - 1, &r);
    assert_null(r.zone);
    assert_null(r.encloser);
    zone_db_free(empty);
    diag_free(&d);
}

/* zone_lookup_labels: an exact hit is one probe and fills every field. */
static void test_lookup_labels_hit(void **state)
{
    (void)state;
    uint8_t name[DNS_NAME_MAX + 8], offs[DNS_LABELS_MAX];
    size_t len = wire("in.child.example.com.", name);
    unsigned n = dns_name_label_offsets(name, offs) - 1;
    zone_lookup_t r;
    memset(&r, 0xA5, sizeof(r));
    zone_lookup_labels(db, name, len, dns_name_hash(name, len), offs, n, &r);
    assert_name(r.node, "in.child.example.com.");
    assert_ptr_equal(r.encloser, r.node);
    assert_null(r.wild);
    assert_null(r.cut); /* in the child zone, which owns the name */
    assert_ptr_equal(r.zone, zone_db_zone(db, 1));
    /* the parent's glue below the cut is not a lookup's to find */
    len = wire("glue.child.example.com.", name);
    n = dns_name_label_offsets(name, offs) - 1;
    zone_lookup_labels(db, name, len, dns_name_hash(name, len), offs, n, &r);
    assert_null(r.node);
    assert_name(r.encloser, "child.example.com.");
    assert_ptr_equal(r.zone, zone_db_zone(db, 1));
}

/* zone_db_build_consume() frees every source and clears its slot, whether
 * the build succeeds or fails (the sanitizer build checks the frees), and
 * builds what zone_db_build() builds. */
static void test_build_consume(void **state)
{
    (void)state;
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    zone_source_t *s[2] = {fixture_source("example.com.", parent),
                           fixture_source("child.example.com.", child)};
    zone_db_t *c = NULL;
    assert_true(zone_db_build_consume(s, 2, NULL, 0, &c, &d));
    assert_null(s[0]);
    assert_null(s[1]);
    assert_int_equal(zone_db_zone_count(c), 2);
    assert_int_equal(zone_db_zone(c, 0)->serial, zone_db_zone(db, 0)->serial);
    assert_int_equal(zone_db_zone(c, 1)->serial, 7);
    zone_lookup_t r;
    uint8_t name[DNS_NAME_MAX + 8];
    size_t len = wire("in.child.example.com.", name);
    zone_lookup(c, name, len, &r);
    assert_name(r.node, "in.child.example.com.");
    assert_ptr_equal(r.zone, zone_db_zone(c, 1));
    zone_db_free(c);
    /* two zones with one origin: refused, and still every source freed */
    zone_source_t *dup[3] = {fixture_source("example.com.", parent),
                             fixture_source("example.com.", parent),
                             fixture_source("child.example.com.", child)};
    c = (zone_db_t *)1;
    assert_false(zone_db_build_consume(dup, 3, NULL, 0, &c, &d));
    assert_null(dup[0]);
    assert_null(dup[1]);
    assert_null(dup[2]);
    assert_true(d.errors > 0);
    diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zones),        cmocka_unit_test(test_exact_and_case),
        cmocka_unit_test(test_ent_and_nxdomain), cmocka_unit_test(test_wildcard),
        cmocka_unit_test(test_cuts),         cmocka_unit_test(test_nested_zone),
        cmocka_unit_test(test_targets),      cmocka_unit_test(test_prerendered),
        cmocka_unit_test(test_large_zone),   cmocka_unit_test(test_empty_db),
        cmocka_unit_test(test_index_find),   cmocka_unit_test(test_lookup_miss),
        cmocka_unit_test(test_lookup_labels_hit), cmocka_unit_test(test_build_consume),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
