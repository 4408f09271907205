/* Unit tests for src/query and src/zone/zonedb.c: answers from a compiled
 * database, checked by parsing each response with ldns. */
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

#include "dns/wire.h"
#include "query/query.h"
#include "fixture.h"
#include "zone/zonedb.h"

static const char *const zone_com[] = {
    "example.com. 3600 IN SOA ns1.example.com. host.example.com. 1 7200 3600 1209600 300",
    "example.com. 3600 IN NS ns1.example.com.",
    "example.com. 3600 IN NS ns2.example.net.",
    "example.com. 3600 IN MX 10 mail.example.com.",
    "ns1.example.com. 3600 IN A 192.0.2.53",
    "mail.example.com. 3600 IN A 192.0.2.25",
    "mail.example.com. 3600 IN AAAA 2001:db8::25",
    "www.example.com. 3600 IN A 192.0.2.10",
    "www.example.com. 3600 IN A 192.0.2.11",
    "web.example.com. 3600 IN CNAME www.example.com.",
    "chain1.example.com. 3600 IN CNAME chain2.example.com.",
    "chain2.example.com. 3600 IN CNAME www.example.com.",
    "loop1.example.com. 3600 IN CNAME loop2.example.com.",
    "loop2.example.com. 3600 IN CNAME loop1.example.com.",
    "ext.example.com. 3600 IN CNAME www.example.org.",
    "tonx.example.com. 3600 IN CNAME nothere.example.com.",
    "*.wild.example.com. 3600 IN A 192.0.2.80",
    "*.wild.example.com. 3600 IN TXT \"wild\"",
    "y.wild.example.com. 3600 IN A 192.0.2.81",
    "a.b.ent.example.com. 3600 IN A 192.0.2.1",
    "sub.example.com. 3600 IN NS ns.sub.example.com.",
    "sub.example.com. 3600 IN NS ns.elsewhere.org.",
    "sub.example.com. 3600 IN DS 12345 8 2 "
    "49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE0C4E4A4E2D4E2F1A2B3C4D5E",
    "ns.sub.example.com. 3600 IN A 192.0.2.99",
    "deep.sub.example.com. 3600 IN A 192.0.2.98",
    "old.example.com. 3600 IN DNAME example.net.",
    "o.example.com. 3600 IN DNAME "
    "a-long-label-that-makes-the-synthesized-name-too-long-xxxxxxxx.example.net.",
    "child.example.com. 3600 IN NS ns1.example.com.",
    "srv.example.com. 3600 IN SRV 10 60 5060 mail.example.com.",
    "svc.example.com. 3600 IN HTTPS 1 . alpn=h2",
    "svc.example.com. 3600 IN A 192.0.2.40",
    "svc.example.com. 3600 IN AAAA 2001:db8::40",
    "alias-svc.example.com. 3600 IN HTTPS 0 svc.example.com.",
    "to-svc.example.com. 3600 IN CNAME svc.example.com.",
    "none.example.com. 3600 IN HTTPS 0 .",
    "none.example.com. 3600 IN A 192.0.2.41",
    "far.example.com. 3600 IN SVCB 1 www.example.org. port=8443",
    "*.hw.example.com. 3600 IN HTTPS 1 . alpn=h2",
    "*.hw.example.com. 3600 IN A 192.0.2.42",
    NULL,
};
static const char *const zone_net[] = {
    "example.net. 300 IN SOA ns1.example.com. host.example.com. 7 7200 3600 1209600 60",
    "example.net. 300 IN NS ns1.example.com.",
    "www.example.net. 300 IN A 203.0.113.10",
    "svc.example.net. 300 IN HTTPS 1 . alpn=h2",
    "svc.example.net. 300 IN A 203.0.113.40",
    NULL,
};
static const char *const zone_child[] = {
    "child.example.com. 300 IN SOA ns1.example.com. host.example.com. 9 7200 3600 1209600 60",
    "child.example.com. 300 IN NS ns1.example.com.",
    "host.child.example.com. 300 IN A 198.51.100.1",
    NULL,
};

static zone_db_t *db;
static query_config_t cfg = {.max_udp_size = 1232,
                             .nsid = (const uint8_t *)"ns-test",
                             .nsid_len = 7,
                             .chaos = true,
                             .version = "Meridian test",
                             .identity = "test-host"};

static int setup(void **state)
{
    (void)state;
    zone_source_t *srcs[3] = {fixture_source("example.com.", zone_com),
                              fixture_source("example.net.", zone_net),
                              fixture_source("child.example.com.", zone_child)};
    db = fixture_db(srcs, 3);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    zone_db_free(db);
    return 0;
}

typedef struct qopts {
    int edns_size; /* 0: no EDNS */
    bool nsid;
    bool tcp;
    int edns_version;
    uint16_t qclass;
} qopts_t;

/* Sends name/type through query_answer() and parses the response. */
static ldns_pkt *ask_opts(const char *name, ldns_rr_type type, const qopts_t *o)
{
    ldns_rdf *qname = ldns_dname_new_frm_str(name);
    assert_non_null(qname);
    ldns_pkt *qp = ldns_pkt_query_new(qname, type, o->qclass ? o->qclass : LDNS_RR_CLASS_IN, 0);
    ldns_pkt_set_id(qp, 4242);
    if (o->edns_size) {
        ldns_pkt_set_edns_udp_size(qp, (uint16_t)o->edns_size);
        ldns_pkt_set_edns_version(qp, (uint8_t)o->edns_version);
        if (o->nsid) {
            ldns_rdf *opt = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 4, "\0\3\0\0");
            ldns_pkt_set_edns_data(qp, opt);
        } else {
            /* ldns only writes OPT when something in it is non-default */
            ldns_pkt_set_edns_data(qp, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 0, ""));
        }
    }
    uint8_t *wire;
    size_t wlen;
    assert_int_equal(ldns_pkt2wire(&wire, qp, &wlen), LDNS_STATUS_OK);
    ldns_pkt_free(qp);
    uint8_t resp[65535];
    size_t n =
        query_answer(db, &cfg, wire, wlen, resp, sizeof(resp), o->tcp, NULL, STATS_SLOTS - 1);
    free(wire);
    assert_true(n >= 12);
    ldns_pkt *rp;
    assert_int_equal(ldns_wire2pkt(&rp, resp, n), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_id(rp), 4242);
    assert_true(ldns_pkt_qr(rp));
    return rp;
}

static ldns_pkt *ask(const char *name, ldns_rr_type type)
{
    qopts_t o = {.edns_size = 0};
    return ask_opts(name, type, &o);
}

/* The section as sorted text lines, for assertions with readable output. */
static char *section_text(const ldns_rr_list *list)
{
    static char buf[8192];
    buf[0] = 0;
    for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++) {
        char *s = ldns_rr2str(ldns_rr_list_rr(list, i));
        strncat(buf, s, sizeof(buf) - strlen(buf) - 1);
        free(s);
    }
    return buf;
}

static void expect(ldns_pkt *p, ldns_pkt_rcode rcode, bool aa, size_t an, size_t ns, size_t ar)
{
    if (ldns_pkt_get_rcode(p) != rcode || ldns_pkt_aa(p) != aa || ldns_pkt_ancount(p) != an ||
        ldns_pkt_nscount(p) != ns || ldns_pkt_arcount(p) != ar) {
        char *s = ldns_pkt2str(p);
        fail_msg("expected rcode %d aa %d counts %zu/%zu/%zu, got:\n%s", rcode, aa, an, ns, ar, s);
    }
}

static void expect_contains(const ldns_rr_list *list, const char *text)
{
    char *s = section_text(list);
    if (!strstr(s, text))
        fail_msg("expected \"%s\" in:\n%s", text, s);
}

static void test_positive(void **state)
{
    (void)state;
    ldns_pkt *p = ask("www.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, true, 2, 0, 0);
    expect_contains(ldns_pkt_answer(p), "www.example.com.\t3600\tIN\tA\t192.0.2.10");
    expect_contains(ldns_pkt_answer(p), "192.0.2.11");
    ldns_pkt_free(p);
}

static void test_case_preserved(void **state)
{
    (void)state;
    ldns_pkt *p = ask("WwW.ExAmPlE.cOm.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, true, 2, 0, 0);
    expect_contains(ldns_pkt_question(p), "WwW.ExAmPlE.cOm.");
    ldns_pkt_free(p);
}

static void test_nodata_and_nxdomain(void **state)
{
    (void)state;
    ldns_pkt *p = ask("www.example.com.", LDNS_RR_TYPE_AAAA);
    expect(p, LDNS_RCODE_NOERROR, true, 0, 1, 0);
    /* negative TTL: min(SOA TTL 3600, MINIMUM 300) */
    expect_contains(ldns_pkt_authority(p), "example.com.\t300\tIN\tSOA");
    ldns_pkt_free(p);
    p = ask("nothere.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
    expect_contains(ldns_pkt_authority(p), "example.com.\t300\tIN\tSOA");
    ldns_pkt_free(p);
    /* below an existing name */
    p = ask("x.www.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
    ldns_pkt_free(p);
    /* the whole SOA; its owner, MNAME and RNAME point into the question, so
     * the apex takes the question's case */
    p = ask("NoThere.ExAmple.COM.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
    expect_contains(ldns_pkt_authority(p), "ExAmple.COM.\t300\tIN\tSOA\tns1.ExAmple.COM. "
                                           "host.ExAmple.COM. 1 7200 3600 1209600 300");
    ldns_pkt_free(p);
    /* MNAME and RNAME outside the zone: compressed the general way */
    p = ask("nothere.example.net.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
    expect_contains(ldns_pkt_authority(p), "example.net.\t60\tIN\tSOA\tns1.example.com. "
                                           "host.example.com. 7 7200 3600 1209600 60");
    ldns_pkt_free(p);
    /* at the end of a CNAME chain (the CNAME's own name compressed too) */
    p = ask("tonx.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NXDOMAIN, true, 1, 1, 0);
    expect_contains(ldns_pkt_authority(p), "example.com.\t300\tIN\tSOA\tns1.example.com. "
                                           "host.example.com. 1 7200 3600 1209600 300");
    ldns_pkt_free(p);
}

static void test_empty_non_terminal(void **state)
{
    (void)state;
    ldns_pkt *p = ask("ent.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, true, 0, 1, 0);
    ldns_pkt_free(p);
    p = ask("b.ent.example.com.", LDNS_RR_TYPE_TXT);
    expect(p, LDNS_RCODE_NOERROR, true, 0, 1, 0);
    ldns_pkt_free(p);
    p = ask("c.ent.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
    ldns_pkt_free(p);
}

static void test_cname(void **state)
{
    (void)state;
    ldns_pkt *p = ask("web.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, true, 3, 0, 0);
    expect_contains(ldns_pkt_answer(p), "web.example.com.\t3600\tIN\tCNAME\twww.example.com.");
    ldns_pkt_free(p);
    p = ask("chain1.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, true, 4, 0, 0);
    ldns_pkt_free(p);
    /* asking for the CNAME itself does not follow it */
    p = ask("web.example.com.", LDNS_RR_TYPE_CNAME);
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
    ldns_pkt_free(p);
    /* a loop ends after each CNAME once */
    p = ask("loop1.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, true, 2, 0, 0);
    ldns_pkt_free(p);
    /* out of our zones: the resolver follows */
    p = ask("ext.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
    ldns_pkt_free(p);
    /* to a name that does not exist: NXDOMAIN (RFC 6604) with the CNAME */
    p = ask("tonx.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NXDOMAIN, true, 1, 1, 0);
    ldns_pkt_free(p);
}

static void test_wildcard(void **state)
{
    (void)state;
    ldns_pkt *p = ask("foo.wild.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
    expect_contains(ldns_pkt_answer(p), "foo.wild.example.com.\t3600\tIN\tA\t192.0.2.80");
    ldns_pkt_free(p);
    p = ask("a.b.c.wild.example.com.", LDNS_RR_TYPE_TXT);
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
    ldns_pkt_free(p);
    /* wildcard NODATA */
    p = ask("foo.wild.example.com.", LDNS_RR_TYPE_MX);
    expect(p, LDNS_RCODE_NOERROR, true, 0, 1, 0);
    ldns_pkt_free(p);
    /* an existing name is not covered: y.wild exists, so z.y.wild has closest
     * encloser y.wild, which has no wildcard (RFC 4592 closest encloser) */
    p = ask("y.wild.example.com.", LDNS_RR_TYPE_TXT);
    expect(p, LDNS_RCODE_NOERROR, true, 0, 1, 0);
    ldns_pkt_free(p);
    p = ask("z.y.wild.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
    ldns_pkt_free(p);
    /* the wildcard itself */
    p = ask("*.wild.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
    ldns_pkt_free(p);
}

static void test_referral(void **state)
{
    (void)state;
    ldns_pkt *p = ask("www.sub.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, false, 0, 2, 1);
    expect_contains(ldns_pkt_authority(p), "sub.example.com.\t3600\tIN\tNS\tns.sub.example.com.");
    expect_contains(ldns_pkt_additional(p), "ns.sub.example.com.\t3600\tIN\tA\t192.0.2.99");
    ldns_pkt_free(p);
    /* at the cut itself, and occluded data below it */
    p = ask("sub.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, false, 0, 2, 1);
    ldns_pkt_free(p);
    p = ask("deep.sub.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, false, 0, 2, 1);
    ldns_pkt_free(p);
    /* DS belongs to the parent: authoritative answer */
    p = ask("sub.example.com.", LDNS_RR_TYPE_DS);
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
    ldns_pkt_free(p);
}

static void test_dname(void **state)
{
    (void)state;
    ldns_pkt *p = ask("www.old.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, true, 3, 0, 0);
    expect_contains(ldns_pkt_answer(p), "old.example.com.\t3600\tIN\tDNAME\texample.net.");
    expect_contains(ldns_pkt_answer(p),
                    "www.old.example.com.\t3600\tIN\tCNAME\twww.example.net.");
    expect_contains(ldns_pkt_answer(p), "www.example.net.\t300\tIN\tA\t203.0.113.10");
    ldns_pkt_free(p);
    /* the DNAME owner itself is answered normally */
    p = ask("old.example.com.", LDNS_RR_TYPE_DNAME);
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
    ldns_pkt_free(p);
    p = ask("old.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, true, 0, 1, 0);
    ldns_pkt_free(p);
    /* to a name missing in the target zone */
    p = ask("nope.old.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NXDOMAIN, true, 2, 1, 0);
    expect_contains(ldns_pkt_authority(p), "example.net.\t60\tIN\tSOA");
    ldns_pkt_free(p);
    /* a synthesized name longer than 255 bytes: YXDOMAIN */
    char longname[300];
    snprintf(longname, sizeof(longname), "%s.%s.%s.%s.o.example.com.",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
             "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
             "dddddddddddddddddddddddddddddddddddddddddddd");
    p = ask(longname, LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_YXDOMAIN, true, 1, 0, 0);
    ldns_pkt_free(p);
}

static void test_nested_zone_and_refused(void **state)
{
    (void)state;
    ldns_pkt *p = ask("host.child.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
    ldns_pkt_free(p);
    p = ask("nothere.child.example.com.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
    expect_contains(ldns_pkt_authority(p), "child.example.com.\t60\tIN\tSOA");
    ldns_pkt_free(p);
    p = ask("www.example.org.", LDNS_RR_TYPE_A);
    expect(p, LDNS_RCODE_REFUSED, false, 0, 0, 0);
    ldns_pkt_free(p);
    p = ask("com.", LDNS_RR_TYPE_NS);
    expect(p, LDNS_RCODE_REFUSED, false, 0, 0, 0);
    ldns_pkt_free(p);
}

static void test_additional(void **state)
{
    (void)state;
    ldns_pkt *p = ask("example.com.", LDNS_RR_TYPE_MX);
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 2);
    expect_contains(ldns_pkt_additional(p), "mail.example.com.\t3600\tIN\tAAAA\t2001:db8::25");
    ldns_pkt_free(p);
    p = ask("example.com.", LDNS_RR_TYPE_NS);
    expect(p, LDNS_RCODE_NOERROR, true, 2, 0, 1);
    ldns_pkt_free(p);
    p = ask("srv.example.com.", LDNS_RR_TYPE_SRV);
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 2);
    ldns_pkt_free(p);
}

/* RFC 9460 4.1: the in-zone addresses of an SVCB/HTTPS target come along;
 * "." in ServiceMode is the owner's (also a wildcard's synthesized name),
 * in AliasMode nothing. */
static void test_svcb_additional(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        ldns_rr_type type;
        size_t an, ar;
        const char *additional; /* one of them, or NULL */
    } cases[] = {
        {"svc.example.com.", LDNS_RR_TYPE_HTTPS, 1, 2,
         "svc.example.com.\t3600\tIN\tA\t192.0.2.40"},
        {"svc.example.com.", LDNS_RR_TYPE_HTTPS, 1, 2,
         "svc.example.com.\t3600\tIN\tAAAA\t2001:db8::40"},
        {"alias-svc.example.com.", LDNS_RR_TYPE_HTTPS, 1, 2,
         "svc.example.com.\t3600\tIN\tA\t192.0.2.40"},
        /* through a CNAME: the target's owner name, not the query's */
        {"to-svc.example.com.", LDNS_RR_TYPE_HTTPS, 2, 2,
         "svc.example.com.\t3600\tIN\tAAAA\t2001:db8::40"},
        {"x.hw.example.com.", LDNS_RR_TYPE_HTTPS, 1, 1,
         "x.hw.example.com.\t3600\tIN\tA\t192.0.2.42"},
        /* through a DNAME: the synthesized target's name */
        {"svc.old.example.com.", LDNS_RR_TYPE_HTTPS, 3, 1,
         "svc.example.net.\t300\tIN\tA\t203.0.113.40"},
        {"none.example.com.", LDNS_RR_TYPE_HTTPS, 1, 0, NULL},
        {"far.example.com.", LDNS_RR_TYPE_SVCB, 1, 0, NULL},
    };
    ldns_pkt *p;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p = ask(cases[i].name, cases[i].type);
        expect(p, LDNS_RCODE_NOERROR, true, cases[i].an, 0, cases[i].ar);
        if (cases[i].additional)
            expect_contains(ldns_pkt_additional(p), cases[i].additional);
        ldns_pkt_free(p);
    }

    /* Optional data: what does not fit is left out, without TC. */
    const char *lines[40];
    char store[32][80];
    int n = 0;
    lines[n++] = "h.test. 300 IN SOA ns.h.test. h.h.test. 1 2 3 4 5";
    lines[n++] = "h.test. 300 IN NS ns.h.test.";
    lines[n++] = "h.test. 300 IN HTTPS 1 . alpn=h2";
    lines[n++] = "h.test. 300 IN A 192.0.2.1";
    for (int i = 0; i < 20; i++) {
        snprintf(store[i], sizeof(store[i]), "h.test. 300 IN AAAA 2001:db8::%d", i + 1);
        lines[n++] = store[i];
    }
    lines[n] = NULL;
    zone_source_t *src = fixture_source("h.test.", lines);
    zone_db_t *saved = db, *h = fixture_db(&src, 1);
    db = h;
    p = ask("h.test.", LDNS_RR_TYPE_HTTPS); /* 512 bytes */
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 1);
    assert_false(ldns_pkt_tc(p));
    expect_contains(ldns_pkt_additional(p), "h.test.\t300\tIN\tA\t192.0.2.1");
    ldns_pkt_free(p);
    qopts_t o = {.edns_size = 1232};
    p = ask_opts("h.test.", LDNS_RR_TYPE_HTTPS, &o);
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 21);
    ldns_pkt_free(p);
    db = saved;
    zone_db_free(h);
}

static void test_any(void **state)
{
    (void)state;
    ldns_pkt *p = ask("example.com.", LDNS_RR_TYPE_ANY);
    expect(p, LDNS_RCODE_NOERROR, true, 2, 0, 1); /* NS is the first type */
    ldns_pkt_free(p);
    p = ask("web.example.com.", LDNS_RR_TYPE_ANY);
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
    ldns_pkt_free(p);
}

static void test_chaos(void **state)
{
    (void)state;
    qopts_t o = {.qclass = LDNS_RR_CLASS_CH};
    ldns_pkt *p = ask_opts("version.bind.", LDNS_RR_TYPE_TXT, &o);
    expect(p, LDNS_RCODE_NOERROR, true, 1, 0, 0);
    expect_contains(ldns_pkt_answer(p), "\"Meridian test\"");
    ldns_pkt_free(p);
    p = ask_opts("id.server.", LDNS_RR_TYPE_TXT, &o);
    expect_contains(ldns_pkt_answer(p), "\"test-host\"");
    ldns_pkt_free(p);
    p = ask_opts("other.bind.", LDNS_RR_TYPE_TXT, &o);
    expect(p, LDNS_RCODE_REFUSED, false, 0, 0, 0);
    ldns_pkt_free(p);
    cfg.chaos = false;
    p = ask_opts("version.bind.", LDNS_RR_TYPE_TXT, &o);
    cfg.chaos = true;
    expect(p, LDNS_RCODE_REFUSED, false, 0, 0, 0);
    ldns_pkt_free(p);
    o.qclass = LDNS_RR_CLASS_HS;
    p = ask_opts("www.example.com.", LDNS_RR_TYPE_A, &o);
    expect(p, LDNS_RCODE_REFUSED, false, 0, 0, 0);
    ldns_pkt_free(p);
}

static void test_edns(void **state)
{
    (void)state;
    qopts_t o = {.edns_size = 4096, .nsid = true};
    ldns_pkt *p = ask_opts("www.example.com.", LDNS_RR_TYPE_A, &o);
    expect(p, LDNS_RCODE_NOERROR, true, 2, 0, 0);
    assert_int_equal(ldns_pkt_edns_udp_size(p), 1232);
    ldns_rdf *data = ldns_pkt_edns_data(p);
    assert_non_null(data);
    assert_int_equal(ldns_rdf_size(data), 4 + 7);
    assert_memory_equal(ldns_rdf_data(data) + 4, "ns-test", 7);
    ldns_pkt_free(p);

    o.edns_version = 1;
    o.nsid = false;
    p = ask_opts("www.example.com.", LDNS_RR_TYPE_A, &o);
    /* BADVERS: extended rcode 1 in OPT, 0 in the header */
    assert_int_equal(ldns_pkt_get_rcode(p), 0);
    assert_int_equal(ldns_pkt_edns_extended_rcode(p), 1);
    assert_int_equal(ldns_pkt_ancount(p), 0);
    ldns_pkt_free(p);
}

static void test_truncation(void **state)
{
    (void)state;
    /* example.com NS + MX + ... is small; make a big answer: ask ANY at a
     * wildcard TXT? Use a dedicated database instead. */
    const char *lines[64];
    char store[40][300];
    int n = 0;
    lines[n++] = "big.test. 300 IN SOA ns.big.test. h.big.test. 1 2 3 4 5";
    lines[n++] = "big.test. 300 IN NS ns.big.test.";
    lines[n++] = "ns.big.test. 300 IN A 192.0.2.1";
    for (int i = 0; i < 30; i++) {
        snprintf(store[i], sizeof(store[i]),
                 "txt.big.test. 300 IN TXT \"record %02d "
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
                 i);
        lines[n++] = store[i];
    }
    lines[n] = NULL;
    zone_source_t *src = fixture_source("big.test.", lines);
    zone_db_t *saved = db, *big = fixture_db(&src, 1);
    db = big;

    ldns_pkt *p = ask("txt.big.test.", LDNS_RR_TYPE_TXT);
    assert_true(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 0); /* whole RRsets or nothing */
    ldns_pkt_free(p);
    qopts_t o = {.edns_size = 4096};
    p = ask_opts("txt.big.test.", LDNS_RR_TYPE_TXT, &o);
    assert_true(ldns_pkt_tc(p)); /* capped at 1232 */
    assert_int_equal(ldns_pkt_edns_udp_size(p), 1232);
    ldns_pkt_free(p);
    o.tcp = true;
    p = ask_opts("txt.big.test.", LDNS_RR_TYPE_TXT, &o);
    assert_false(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 30);
    ldns_pkt_free(p);
    cfg.max_udp_size = 4096;
    o.tcp = false;
    p = ask_opts("txt.big.test.", LDNS_RR_TYPE_TXT, &o);
    cfg.max_udp_size = 1232;
    assert_false(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 30);
    ldns_pkt_free(p);
    db = saved;
    zone_db_free(big);
}

/* ------------------------------------------------------------ referrals */

/* A database for the referral tests: a delegation with 40 in-domain name
 * servers (each with A and AAAA glue), and one whose first name server is
 * a sibling (optional glue, 21 addresses: past 512 bytes) and second
 * in-domain (required glue). */
static zone_db_t *referral_db(void)
{
    static char store[160][160];
    static const char *lines[180];
    int n = 0, k = 0;
    lines[n++] = "deleg.test. 300 IN SOA ns.deleg.test. h.deleg.test. 1 2 3 4 5";
    lines[n++] = "deleg.test. 300 IN NS ns.deleg.test.";
    lines[n++] = "ns.deleg.test. 300 IN A 192.0.2.1";
    for (int i = 1; i <= 40; i++) {
        snprintf(store[k], sizeof(store[k]), "many.deleg.test. 300 IN NS ns%02d.many.deleg.test.",
                 i);
        lines[n++] = store[k++];
        snprintf(store[k], sizeof(store[k]), "ns%02d.many.deleg.test. 300 IN A 192.0.2.%d", i, i);
        lines[n++] = store[k++];
        snprintf(store[k], sizeof(store[k]), "ns%02d.many.deleg.test. 300 IN AAAA 2001:db8::%d", i,
                 i);
        lines[n++] = store[k++];
    }
    lines[n++] = "mixed.deleg.test. 300 IN NS a-sibling-name-server-with-a-long-name.deleg.test.";
    lines[n++] = "mixed.deleg.test. 300 IN NS ns.mixed.deleg.test.";
    lines[n++] = "a-sibling-name-server-with-a-long-name.deleg.test. 300 IN A 198.51.100.1";
    for (int i = 1; i <= 20; i++) {
        snprintf(store[k], sizeof(store[k]),
                 "a-sibling-name-server-with-a-long-name.deleg.test. 300 IN AAAA 2001:db8:1::%d",
                 i);
        lines[n++] = store[k++];
    }
    lines[n++] = "ns.mixed.deleg.test. 300 IN A 198.51.100.2";
    lines[n++] = "ns.mixed.deleg.test. 300 IN AAAA 2001:db8:1::2";
    lines[n] = NULL;
    zone_source_t *src = fixture_source("deleg.test.", lines);
    return fixture_db(&src, 1);
}

/* Does the additional section hold an A or AAAA record owned by a name
 * at or below cut? How many such records. */
static size_t count_glue(ldns_pkt *p, const char *cut)
{
    ldns_rdf *c = ldns_dname_new_frm_str(cut);
    const ldns_rr_list *add = ldns_pkt_additional(p);
    size_t n = 0;
    for (size_t i = 0; i < ldns_rr_list_rr_count(add); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(add, i);
        ldns_rr_type t = ldns_rr_get_type(rr);
        if ((t == LDNS_RR_TYPE_A || t == LDNS_RR_TYPE_AAAA) &&
            ldns_dname_is_subdomain(ldns_rr_owner(rr), c))
            n++;
    }
    ldns_rdf_deep_free(c);
    return n;
}

/* RFC 9471 3: every in-domain glue record goes into a referral; where it
 * does not fit over UDP, TC says so; over TCP it always fits. */
static void test_referral_glue_complete(void **state)
{
    (void)state;
    zone_db_t *saved = db, *deleg = referral_db();
    db = deleg;
    qopts_t o = {.edns_size = 1232, .tcp = true};
    ldns_pkt *p = ask_opts("www.many.deleg.test.", LDNS_RR_TYPE_A, &o);
    expect(p, LDNS_RCODE_NOERROR, false, 0, 40, 80);
    assert_false(ldns_pkt_tc(p));
    assert_int_equal(count_glue(p, "many.deleg.test."), 80);
    expect_contains(ldns_pkt_additional(p), "ns40.many.deleg.test.\t300\tIN\tAAAA\t2001:db8::40");
    ldns_pkt_free(p);
    /* without EDNS over TCP too */
    o.edns_size = 0;
    p = ask_opts("many.deleg.test.", LDNS_RR_TYPE_NS, &o);
    expect(p, LDNS_RCODE_NOERROR, false, 0, 40, 80);
    ldns_pkt_free(p);
    /* over UDP it does not fit: TC, and the NS RRset whole */
    o.tcp = false;
    o.edns_size = 1232;
    p = ask_opts("www.many.deleg.test.", LDNS_RR_TYPE_A, &o);
    assert_true(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_nscount(p), 40);
    assert_true(count_glue(p, "many.deleg.test.") < 80);
    ldns_pkt_free(p);
    /* At every UDP size: either all in-domain glue or TC. The sibling's
     * glue (listed first) is optional and never sets TC by itself. */
    static const struct {
        const char *qname, *cut;
        size_t glue;
    } cases[] = {{"www.many.deleg.test.", "many.deleg.test.", 80},
                 {"www.mixed.deleg.test.", "mixed.deleg.test.", 2}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (int size = 512; size <= 1500; size++) {
            o.edns_size = size;
            p = ask_opts(cases[c].qname, LDNS_RR_TYPE_A, &o);
            size_t glue = count_glue(p, cases[c].cut);
            if (!ldns_pkt_tc(p) && glue != cases[c].glue) {
                char *s = ldns_pkt2str(p);
                fail_msg("%s at UDP size %d: expected TC or %zu glue records, got %zu:\n%s",
                         cases[c].qname, size, cases[c].glue, glue, s);
            }
            ldns_pkt_free(p);
        }
    }
    /* where everything fits: the sibling's glue too, no TC */
    o.edns_size = 1232;
    p = ask_opts("www.mixed.deleg.test.", LDNS_RR_TYPE_A, &o);
    expect(p, LDNS_RCODE_NOERROR, false, 0, 2, 23);
    assert_false(ldns_pkt_tc(p));
    expect_contains(ldns_pkt_additional(p), "a-sibling-name-server-with-a-long-name.deleg.test."
                                            "\t300\tIN\tA\t198.51.100.1");
    ldns_pkt_free(p);
    db = saved;
    zone_db_free(deleg);
}

static void test_malformed(void **state)
{
    (void)state;
    uint8_t resp[512];
    uint8_t pkt[64] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w'};
    /* truncated question: FORMERR without a question */
    size_t n = query_answer(db, &cfg, pkt, 15, resp, sizeof(resp), false, NULL, STATS_SLOTS - 1);
    assert_int_equal(n, 12);
    assert_int_equal(resp[3] & 0xF, DNS_RCODE_FORMERR);
    assert_int_equal(resp[2] & 0x80, 0x80);
    /* a response is dropped */
    pkt[2] = 0x80;
    assert_int_equal(
        query_answer(db, &cfg, pkt, 15, resp, sizeof(resp), false, NULL, STATS_SLOTS - 1), 0);
    /* short packets are dropped */
    assert_int_equal(
        query_answer(db, &cfg, pkt, 5, resp, sizeof(resp), false, NULL, STATS_SLOTS - 1), 0);
    /* no zones at all: REFUSED */
    ldns_pkt *p;
    const uint8_t q[] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1};
    n = query_answer(NULL, &cfg, q, sizeof(q), resp, sizeof(resp), false, NULL, STATS_SLOTS - 1);
    assert_int_equal(ldns_wire2pkt(&p, resp, n), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
    ldns_pkt_free(p);
    /* AXFR over UDP */
    p = ask("example.com.", LDNS_RR_TYPE_AXFR);
    expect(p, LDNS_RCODE_REFUSED, false, 0, 0, 0);
    ldns_pkt_free(p);
}

/* ------------------------------------------------ EDNS bits, TSIG, EDE */

/* A raw query for the tests below, which check bytes ldns hides. */
typedef struct rawq {
    const char *name;
    uint16_t type;
    uint16_t qclass;     /* 0: IN */
    uint16_t flags;      /* header flags */
    uint16_t qdcount;    /* 0: 1; 0xFFFF: no question */
    bool opt;
    uint16_t edns_flags; /* DO and Z */
    uint8_t version;
    const uint8_t *tail; /* records after the OPT (ARCOUNT + tail_count) */
    size_t tail_len;
    unsigned tail_count;
} rawq_t;

static size_t raw_build(const rawq_t *r, uint8_t *pkt)
{
    memset(pkt, 0, 12);
    dns_put16(pkt, 0x5151);
    dns_put16(pkt + 2, r->flags);
    size_t p = 12;
    unsigned qdcount = r->qdcount == 0xFFFF ? 0 : r->qdcount ? r->qdcount : 1;
    dns_put16(pkt + 4, (uint16_t)qdcount);
    for (unsigned i = 0; i < qdcount; i++) {
        ldns_rdf *n = ldns_dname_new_frm_str(r->name);
        assert_non_null(n);
        memcpy(pkt + p, ldns_rdf_data(n), ldns_rdf_size(n));
        p += ldns_rdf_size(n);
        ldns_rdf_deep_free(n);
        dns_put16(pkt + p, r->type);
        dns_put16(pkt + p + 2, r->qclass ? r->qclass : DNS_CLASS_IN);
        p += 4;
    }
    if (r->opt) {
        static const uint8_t opt[] = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0};
        memcpy(pkt + p, opt, sizeof(opt));
        pkt[p + 6] = r->version;
        dns_put16(pkt + p + 7, r->edns_flags);
        p += sizeof(opt);
    }
    if (r->tail_len) /* (memcpy from NULL is undefined even for 0 bytes) */
        memcpy(pkt + p, r->tail, r->tail_len);
    dns_put16(pkt + 10, (uint16_t)(r->opt + r->tail_count));
    return p + r->tail_len;
}

/* Where the answer's OPT record starts, or 0 when it has none (the
 * additional section walked by hand: ldns folds OPT and TSIG away). */
static size_t raw_find(const uint8_t *resp, size_t n, uint16_t want, size_t *end)
{
    size_t pos = 12;
    for (unsigned i = 0; i < dns_get16(resp + 4); i++) {
        uint8_t name[DNS_NAME_MAX];
        assert_true(dns_name_unpack(resp, n, &pos, name) > 0);
        pos += 4;
    }
    unsigned records = dns_get16(resp + 6) + dns_get16(resp + 8) + dns_get16(resp + 10u);
    size_t found = 0;
    for (unsigned i = 0; i < records; i++) {
        uint8_t name[DNS_NAME_MAX];
        size_t start = pos;
        assert_true(dns_name_unpack(resp, n, &pos, name) > 0);
        assert_true(pos + 10 <= n);
        if (dns_get16(resp + pos) == want) {
            assert_int_equal(found, 0); /* at most one */
            found = start;
            *end = pos + 10 + dns_get16(resp + pos + 8);
        }
        pos += 10u + dns_get16(resp + pos + 8);
    }
    assert_int_equal(pos, n);
    return found;
}

static size_t raw_ask(const rawq_t *r, uint8_t *resp, size_t cap, bool tcp)
{
    uint8_t pkt[1024];
    size_t len = raw_build(r, pkt);
    size_t n = query_answer(db, &cfg, pkt, len, resp, cap, tcp, NULL, STATS_SLOTS - 1);
    if (n < 12)
        fail_msg("%s type %u (%zu bytes): no answer", r->name, r->type, len);
    assert_int_equal(dns_get16(resp), 0x5151);
    return n;
}

/* The answer's OPT: the query's DO, no other flag, version 0, our size,
 * and ede the Extended DNS Error it carries (-1: none). */
static void expect_opt(const rawq_t *r, const uint8_t *resp, size_t n, int ede)
{
    size_t end, at = raw_find(resp, n, DNS_TYPE_OPT, &end);
    if (!r->opt) {
        if (at)
            fail_msg("%s: an OPT in the answer to a query without one", r->name);
        return;
    }
    if (!at)
        fail_msg("%s type %u flags %04x: no OPT in the answer", r->name, r->type, r->flags);
    const uint8_t *o = resp + at;
    assert_int_equal(o[0], 0);
    assert_int_equal(dns_get16(o + 3), 1232);
    assert_int_equal(o[6], 0); /* version */
    if (dns_get16(o + 7) != (r->edns_flags & DNS_EDNS_DO))
        fail_msg("%s type %u: OPT flags %04x, expected %04x (DO copied, Z zero)", r->name,
                 r->type, dns_get16(o + 7), r->edns_flags & DNS_EDNS_DO);
    /* the options: an EDE (code 15) exactly when expected */
    int got = -1;
    for (size_t p = at + 11; p < end; p += 4u + dns_get16(resp + p + 2))
        if (dns_get16(resp + p) == DNS_EDNS_EXTENDED_ERROR) {
            assert_int_equal(dns_get16(resp + p + 2), 2);
            got = dns_get16(resp + p + 4);
        }
    if (got != ede)
        fail_msg("%s type %u class %u opcode %u: EDE %d, expected %d", r->name, r->type,
                 r->qclass, (r->flags >> 11) & 0xF, got, ede);
}

/* Every kind of answer, errors included, over UDP and TCP: with an OPT in
 * the query, one in the answer with DO copied (RFC 3225 3) and the Z bits
 * clear; without, none. */
static void test_edns_bits_everywhere(void **state)
{
    (void)state;
    static const rawq_t kinds[] = {
        {.name = "www.example.com.", .type = DNS_TYPE_A},      /* the fused path */
        {.name = "web.example.com.", .type = DNS_TYPE_A},      /* a chain */
        {.name = "nothere.example.com.", .type = DNS_TYPE_A},  /* NXDOMAIN */
        {.name = "www.example.com.", .type = DNS_TYPE_MX},     /* NODATA */
        {.name = "x.sub.example.com.", .type = DNS_TYPE_A},    /* referral */
        {.name = "x.o.example.com.", .type = DNS_TYPE_A},      /* YXDOMAIN */
        {.name = "version.bind.", .type = DNS_TYPE_TXT, .qclass = DNS_CLASS_CH},
        {.name = "www.example.com.", .type = DNS_TYPE_A, .flags = 2u << 11}, /* NOTIMP */
        {.name = "www.example.com.", .type = DNS_TYPE_A, .qdcount = 0xFFFF}, /* FORMERR */
        {.name = "www.example.com.", .type = DNS_TYPE_A, .qdcount = 2},      /* FORMERR */
        {.name = "www.example.com.", .type = DNS_TYPE_A, .version = 1},      /* BADVERS */
    };
    static const uint16_t edns_flags[] = {DNS_EDNS_DO, 0, 0x7FFF, 0xFFFF, 0x8001};
    uint8_t resp[65535];
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        for (size_t f = 0; f < sizeof(edns_flags) / sizeof(edns_flags[0]); f++)
            for (int tcp = 0; tcp < 2; tcp++)
                for (int opt = 0; opt < 2; opt++) {
                    rawq_t r = kinds[k];
                    r.opt = opt;
                    r.edns_flags = edns_flags[f];
                    size_t n = raw_ask(&r, resp, sizeof(resp), tcp);
                    int ede = (r.flags >> 11) == 2 ? DNS_EDE_NOT_SUPPORTED : -1;
                    expect_opt(&r, resp, n, ede);
                    if (r.version == 1 && opt) /* BADVERS: extended RCODE 1 */
                        assert_int_equal(resp[n - 11 + 5], 1);
                }
    /* a truncated answer too */
    rawq_t big = {.name = "example.com.", .type = DNS_TYPE_NS, .opt = true,
                  .edns_flags = DNS_EDNS_DO};
    size_t n = raw_ask(&big, resp, 60, false);
    assert_true(resp[2] & (DNS_FLAG_TC >> 8));
    expect_opt(&big, resp, n, -1);
}

/* Extended DNS Errors (RFC 8914) where they tell a resolver's operator
 * why: only with an OPT, never in an ordinary answer. */
static void test_extended_errors(void **state)
{
    (void)state;
    static const struct {
        rawq_t q;
        int rcode, ede;
    } cases[] = {
        {{.name = "www.example.org.", .type = DNS_TYPE_A}, DNS_RCODE_REFUSED,
         DNS_EDE_NOT_AUTHORITATIVE},
        {{.name = "example.com.", .type = DNS_TYPE_AXFR}, DNS_RCODE_REFUSED, DNS_EDE_PROHIBITED},
        {{.name = "example.com.", .type = DNS_TYPE_IXFR}, DNS_RCODE_REFUSED, DNS_EDE_PROHIBITED},
        {{.name = "example.com.", .type = DNS_TYPE_SOA, .flags = 4u << 11}, DNS_RCODE_NOTIMP,
         DNS_EDE_NOT_SUPPORTED},
        {{.name = "example.com.", .type = DNS_TYPE_SOA, .flags = 15u << 11}, DNS_RCODE_NOTIMP,
         DNS_EDE_NOT_SUPPORTED},
        {{.name = "other.bind.", .type = DNS_TYPE_TXT, .qclass = DNS_CLASS_CH},
         DNS_RCODE_REFUSED, DNS_EDE_NOT_AUTHORITATIVE},
        {{.name = "www.example.com.", .type = DNS_TYPE_A, .qclass = 4 /* HS */},
         DNS_RCODE_REFUSED, DNS_EDE_NOT_SUPPORTED},
        {{.name = "www.example.com.", .type = DNS_TYPE_A, .qclass = DNS_CLASS_ANY},
         DNS_RCODE_REFUSED, DNS_EDE_NOT_SUPPORTED},
        {{.name = "www.example.com.", .type = DNS_TYPE_A}, DNS_RCODE_NOERROR, -1},
        {{.name = "nothere.example.com.", .type = DNS_TYPE_A}, DNS_RCODE_NXDOMAIN, -1},
        {{.name = "x.sub.example.com.", .type = DNS_TYPE_A}, DNS_RCODE_NOERROR, -1},
        {{.name = "www.example.com.", .type = DNS_TYPE_A, .qdcount = 2}, DNS_RCODE_FORMERR, -1},
    };
    uint8_t resp[65535];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (int opt = 0; opt < 2; opt++) {
            rawq_t r = cases[i].q;
            r.opt = opt;
            size_t n = raw_ask(&r, resp, sizeof(resp), false);
            if ((resp[3] & 0xF) != cases[i].rcode)
                fail_msg("%s type %u: rcode %u, expected %d", r.name, r.type, resp[3] & 0xF,
                         cases[i].rcode);
            expect_opt(&r, resp, n, cases[i].ede);
        }
    /* no zones at all */
    const zone_db_t *saved = db;
    db = NULL;
    rawq_t r = {.name = "www.example.com.", .type = DNS_TYPE_A, .opt = true};
    uint8_t pkt[512];
    size_t len = raw_build(&r, pkt);
    size_t n = query_answer(NULL, &cfg, pkt, len, resp, sizeof(resp), false, NULL, 0);
    db = (zone_db_t *)saved;
    assert_int_equal(resp[3] & 0xF, DNS_RCODE_REFUSED);
    expect_opt(&r, resp, n, DNS_EDE_NOT_AUTHORITATIVE);
}

/* A TSIG record as dig -y sends it (key somekey., hmac-sha256, 32-byte
 * MAC), with the owner key. */
static size_t tsig_record(uint8_t *p, const uint8_t *key, size_t key_len)
{
    static const uint8_t alg[] = "\13hmac-sha256";
    memcpy(p, key, key_len);
    size_t n = key_len;
    dns_put16(p + n, DNS_TYPE_TSIG);
    dns_put16(p + n + 2, DNS_CLASS_ANY);
    dns_put32(p + n + 4, 0);
    dns_put16(p + n + 8, (uint16_t)(sizeof(alg) + 10 + 32 + 6));
    n += 10;
    memcpy(p + n, alg, sizeof(alg));
    n += sizeof(alg);
    static const uint8_t fixed[] = {0, 0, 0x6a, 0x1b, 0x2c, 0x3d, 0, 60, 0, 32};
    memcpy(p + n, fixed, sizeof(fixed));
    n += sizeof(fixed);
    memset(p + n, 0x5A, 32);
    n += 32;
    dns_put16(p + n, 0x5151);
    dns_put32(p + n + 2, 0);
    return n + 6;
}

/* No key is configured: every well-formed signed query gets NOTAUTH with
 * an unsigned TSIG record carrying BADKEY (RFC 8945 5.2.1, 5.3.2), the
 * request's key name, algorithm and time, MAC size 0, after our OPT. */
static void test_tsig_badkey(void **state)
{
    (void)state;
    static const char *const names[] = {"www.example.com.", "nothere.example.com.",
                                        "www.example.org.", "x.sub.example.com."};
    uint8_t tsig[512], resp[65535];
    size_t tlen = tsig_record(tsig, (const uint8_t *)"\7SomeKey", 9);
    static const uint8_t want[] = "\7SomeKey\0\0\xFA\0\xFF\0\0\0\0\0\x1D\13hmac-sha256"
                                  "\0\0\0\x6a\x1b\x2c\x3d\x01\x2c\0\0\x51\x51\0\x11\0";
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        for (int opt = 0; opt < 2; opt++)
            for (int tcp = 0; tcp < 2; tcp++) {
                rawq_t r = {.name = names[i], .type = DNS_TYPE_A, .opt = opt,
                            .edns_flags = DNS_EDNS_DO, .tail = tsig, .tail_len = tlen,
                            .tail_count = 1};
                size_t n = raw_ask(&r, resp, sizeof(resp), tcp);
                if ((resp[3] & 0xF) != DNS_RCODE_NOTAUTH || (resp[2] & 0x06) != 0)
                    fail_msg("%s: rcode %u flags %02x, expected NOTAUTH, AA and TC clear",
                             names[i], resp[3] & 0xF, resp[2]);
                assert_int_equal(dns_get16(resp + 4), 1);
                assert_int_equal(dns_get16(resp + 6), 0);
                assert_int_equal(dns_get16(resp + 8), 0);
                assert_int_equal(dns_get16(resp + 10), 1 + opt);
                size_t end, at = raw_find(resp, n, DNS_TYPE_TSIG, &end);
                assert_int_equal(end, n); /* the last record */
                assert_int_equal(n - at, sizeof(want));
                assert_memory_equal(resp + at, want, sizeof(want));
                expect_opt(&r, resp, n, -1);
            }
    /* A key name too long for 512 bytes beside the question: TC, no
     * TSIG; over TCP it fits. */
    uint8_t key[DNS_NAME_MAX];
    size_t k = 0;
    for (int l = 0; l < 4; l++) {
        key[k++] = 62;
        memset(key + k, 'k', 62);
        k += 62;
    }
    key[k++] = 0;
    tlen = tsig_record(tsig, key, k);
    /* 4 labels of 55 under www.example.com.: a 241-byte name */
#define L55 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx."
    rawq_t r = {.name = L55 L55 L55 L55 "www.example.com.",
                .type = DNS_TYPE_A, .tail = tsig, .tail_len = tlen, .tail_count = 1};
    size_t n = raw_ask(&r, resp, sizeof(resp), false);
    assert_true(n <= 512);
    assert_int_equal(resp[3] & 0xF, DNS_RCODE_NOTAUTH);
    assert_true(resp[2] & (DNS_FLAG_TC >> 8));
    assert_int_equal(dns_get16(resp + 10), 0);
    n = raw_ask(&r, resp, sizeof(resp), true);
    assert_false(resp[2] & (DNS_FLAG_TC >> 8));
    size_t end;
    assert_true(raw_find(resp, n, DNS_TYPE_TSIG, &end) > 0);

    /* Malformed or misplaced: FORMERR, no TSIG record in the answer. */
    uint8_t two[1024];
    memcpy(two, tsig, tlen);
    memcpy(two + tlen, tsig, tlen);
    rawq_t bad = {.name = "www.example.com.", .type = DNS_TYPE_A, .tail = two,
                  .tail_len = 2 * tlen, .tail_count = 2};
    n = raw_ask(&bad, resp, sizeof(resp), false);
    assert_int_equal(resp[3] & 0xF, DNS_RCODE_FORMERR);
    assert_int_equal(raw_find(resp, n, DNS_TYPE_TSIG, &end), 0);
    tsig[k + 2] = 0;
    tsig[k + 3] = 1; /* class IN */
    bad.tail = tsig;
    bad.tail_len = tlen;
    bad.tail_count = 1;
    n = raw_ask(&bad, resp, sizeof(resp), false);
    assert_int_equal(resp[3] & 0xF, DNS_RCODE_FORMERR);
    assert_int_equal(raw_find(resp, n, DNS_TYPE_TSIG, &end), 0);
}

static void test_duplicate_zone(void **state)
{
    (void)state;
    zone_source_t *srcs[2] = {fixture_source("example.net.", zone_net),
                              fixture_source("example.net.", zone_net)};
    zone_db_t *dup;
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    assert_false(zone_db_build(srcs, 2, NULL, 0, &dup, &d));
    assert_null(dup);
    assert_int_equal(d.errors, 1);
    assert_non_null(strstr(d.messages[0], "already loaded"));
    diag_free(&d);
    zone_source_free(srcs[0]);
    zone_source_free(srcs[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positive),          cmocka_unit_test(test_case_preserved),
        cmocka_unit_test(test_nodata_and_nxdomain), cmocka_unit_test(test_empty_non_terminal),
        cmocka_unit_test(test_cname),             cmocka_unit_test(test_wildcard),
        cmocka_unit_test(test_referral),          cmocka_unit_test(test_dname),
        cmocka_unit_test(test_nested_zone_and_refused), cmocka_unit_test(test_additional),
        cmocka_unit_test(test_any),               cmocka_unit_test(test_chaos),
        cmocka_unit_test(test_edns),              cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_malformed),         cmocka_unit_test(test_duplicate_zone),
        cmocka_unit_test(test_edns_bits_everywhere), cmocka_unit_test(test_extended_errors),
        cmocka_unit_test(test_tsig_badkey),
        cmocka_unit_test(test_referral_glue_complete), cmocka_unit_test(test_svcb_additional),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
