/*
 * Unit tests for src/snapshot.c: loading a config and its zones into one
 * snapshot, whole or in stages, finding services, and publishing with RCU.
 * Each test writes its own config and zone into a temporary directory.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu.h>

#include "snapshot.h"

typedef struct fixture {
    char dir[64];
    char conf[128];
} fixture_t;

static void write_file(const fixture_t *f, const char *name, const char *text)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static const char zone_text[] = "$ORIGIN example.com.\n"
                                "$TTL 3600\n"
                                "@ SOA ns1 hostmaster 2026120101 7200 3600 1209600 300\n"
                                "  NS ns1\n"
                                "ns1 A 192.0.2.53\n"
                                "static A 192.0.2.99\n";

/* Four records, one service, chaos strings set. */
static const char conf_text[] = "server:\n"
                                "  listen: [\"127.0.0.1:5399\"]\n"
                                "  control: \"\"\n"
                                "  max_udp_size: 1400\n"
                                "  version: \"test version\"\n"
                                "  identity: \"test identity\"\n"
                                "zones:\n"
                                "  - example.com.zone\n"
                                "datacenters:\n"
                                "  eu-west: {}\n"
                                "  us-east: {}\n"
                                "services:\n"
                                "  www.Example.com:\n"
                                "    policy: map\n"
                                "    map: {default: [eu-west, us-east]}\n"
                                "    pools:\n"
                                "      eu-west: [192.0.2.10]\n"
                                "      us-east: [198.51.100.10]\n";

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_snapshot.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->conf, sizeof(f->conf), "%s/meridian.yaml", f->dir);
    write_file(f, "example.com.zone", zone_text);
    write_file(f, "meridian.yaml", conf_text);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char path[192];
    static const char *const names[] = {"example.com.zone", "meridian.yaml", "example.org.zone",
                                        "bad.yaml", "min.yaml"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", f->dir, names[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Does d hold a message containing text? */
static bool diag_has(const diag_t *d, const char *text)
{
    for (size_t i = 0; i < d->count; i++)
        if (strstr(d->messages[i], text))
            return true;
    return false;
}

static void print_diag(const diag_t *d)
{
    for (size_t i = 0; i < d->count; i++)
        print_message("diag: %s\n", d->messages[i]);
}

/* snapshot_load() of path into *s, its problems collected in d (which the
 * caller frees). */
static bool load(const char *path, snapshot_t **s, diag_t *d)
{
    diag_init(d);
    d->quiet = true;
    *s = (snapshot_t *)1; /* must be set, whatever the outcome */
    bool ok = snapshot_load(path, NULL, s, d);
    print_diag(d);
    return ok;
}

static void test_load(void **state)
{
    fixture_t *f = *state;
    diag_t d;
    snapshot_t *s;
    assert_true(load(f->conf, &s, &d));
    assert_non_null(s);
    assert_int_equal(d.errors, 0);
    assert_int_equal(s->n_records, 4);
    assert_int_equal(zone_db_zone_count(s->db), 1);
    assert_int_equal(zone_db_zone(s->db, 0)->serial, 2026120101u);
    assert_int_equal(s->conf->n_services, 1);
    assert_non_null(s->services);
    assert_non_null(s->services[0]);
    /* the answer settings come from the config */
    assert_int_equal(s->query.max_udp_size, 1400);
    assert_string_equal(s->query.version, "test version");
    assert_string_equal(s->query.identity, "test identity");
    assert_null(s->geo); /* no GeoIP database configured */
    assert_null(s->countries);
    assert_null(s->query.geo);
    /* the zone and the service are both in the database */
    zone_lookup_t r;
    uint8_t name[DNS_NAME_MAX + 8] = "\6static\7example\3com"; /* 8 readable bytes past it */
    zone_lookup(s->db, name, 20, &r);
    assert_non_null(r.node);
    memset(name, 0, sizeof(name));
    memcpy(name, "\3www\7example\3com", 17);
    zone_lookup(s->db, name, 17, &r);
    assert_non_null(r.node);
    assert_true(r.node->flags & ZONE_NODE_DYNAMIC);
    assert_ptr_equal(r.node->dynamic, s->services[0]);
    snapshot_free(s);
    diag_free(&d);
}

/* Without server.version and server.identity the CHAOS answers are the
 * documented defaults. */
static void test_defaults(void **state)
{
    fixture_t *f = *state;
    write_file(f, "min.yaml", "zones: [example.com.zone]\n");
    char path[192];
    snprintf(path, sizeof(path), "%s/min.yaml", f->dir);
    diag_t d;
    snapshot_t *s;
    assert_true(load(path, &s, &d));
    assert_int_equal(s->query.max_udp_size, 1232);
    assert_string_equal(s->query.version, "Meridian " VERSION);
    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
    assert_string_equal(s->query.identity, host); /* docs: "default the host name" */
    assert_int_equal(s->conf->n_services, 0);
    assert_null(snapshot_service(s, "www.example.com"));
    snapshot_free(s);
    diag_free(&d);
}

static void test_service_lookup(void **state)
{
    fixture_t *f = *state;
    diag_t d;
    snapshot_t *s;
    assert_true(load(f->conf, &s, &d));
    service_t *svc = s->services[0];
    assert_ptr_equal(snapshot_service(s, "www.example.com"), svc);
    assert_ptr_equal(snapshot_service(s, "www.example.com."), svc);
    assert_ptr_equal(snapshot_service(s, "WWW.EXAMPLE.COM"), svc);
    assert_ptr_equal(snapshot_service(s, "www.Example.COM."), svc);
    assert_null(snapshot_service(s, "www.example.co"));
    assert_null(snapshot_service(s, "www.example.comm"));
    assert_null(snapshot_service(s, "ww.example.com"));
    assert_null(snapshot_service(s, "static.example.com")); /* a name, not a service */
    assert_null(snapshot_service(s, ""));
    assert_null(snapshot_service(s, "."));
    assert_null(snapshot_service(s, "www.example.com.."));
    snapshot_free(s);
    diag_free(&d);
}

static void test_load_failures(void **state)
{
    fixture_t *f = *state;
    diag_t d;
    snapshot_t *s;
    char path[192];

    /* no such config */
    snprintf(path, sizeof(path), "%s/absent.yaml", f->dir);
    assert_false(load(path, &s, &d));
    assert_null(s);
    assert_true(d.errors > 0);
    assert_true(diag_has(&d, "absent.yaml"));
    diag_free(&d);

    /* a zone without its SOA: the file and line are named */
    write_file(f, "example.org.zone", "$ORIGIN example.org.\n$TTL 60\nns1 A 192.0.2.1\n");
    write_file(f, "bad.yaml", "zones: [example.com.zone, example.org.zone]\n");
    snprintf(path, sizeof(path), "%s/bad.yaml", f->dir);
    assert_false(load(path, &s, &d));
    assert_null(s);
    assert_int_equal(d.errors, 2);
    assert_true(diag_has(&d, "example.org.zone: no SOA record at the zone apex example.org."));
    assert_true(diag_has(&d, "example.org.zone: no NS records"));
    diag_free(&d);

    /* a service in no served zone fails at the last stage */
    write_file(f, "bad.yaml", "zones: [example.com.zone]\n"
                              "datacenters: {a: {}}\n"
                              "services:\n"
                              "  www.example.org:\n"
                              "    policy: map\n"
                              "    map: {default: [a]}\n"
                              "    pools: {a: [192.0.2.1]}\n");
    assert_false(load(path, &s, &d));
    assert_null(s);
    assert_true(diag_has(&d, "www.example.org"));
    diag_free(&d);
}

/* The three stages give what snapshot_load() gives; a build abandoned
 * after any stage frees everything (the sanitizer build checks). */
static void test_stages(void **state)
{
    fixture_t *f = *state;
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    snapshot_build_t *b = NULL;
    assert_true(snapshot_build_read(f->conf, &b, &d));
    assert_non_null(b);
    snapshot_build_free(b);
    snapshot_build_free(NULL);

    assert_true(snapshot_build_read(f->conf, &b, &d));
    assert_true(snapshot_build_services(b, NULL, &d));
    snapshot_build_free(b);

    assert_true(snapshot_build_read(f->conf, &b, &d));
    assert_true(snapshot_build_services(b, NULL, &d));
    snapshot_t *s = (snapshot_t *)1;
    assert_true(snapshot_build_finish(b, &s, &d));
    assert_non_null(s);
    assert_int_equal(s->n_records, 4);
    assert_int_equal(zone_db_zone_count(s->db), 1);
    assert_non_null(snapshot_service(s, "www.example.com"));
    assert_int_equal(d.errors, 0);
    snapshot_free(s);
    snapshot_free(NULL);

    /* a read that fails leaves no build */
    char path[192];
    snprintf(path, sizeof(path), "%s/absent.yaml", f->dir);
    b = (snapshot_build_t *)1;
    assert_false(snapshot_build_read(path, &b, &d));
    assert_null(b);
    diag_free(&d);
}

/* swap returns the previous snapshot at once and makes the new one
 * current; publish frees the previous after readers left; NULL clears. */
static void test_publish(void **state)
{
    fixture_t *f = *state;
    diag_t d, d2;
    snapshot_t *a, *b;
    assert_true(load(f->conf, &a, &d));
    assert_true(load(f->conf, &b, &d2));
    diag_free(&d2);
    rcu_register_thread();
    assert_null(snapshot_current());
    assert_null(snapshot_swap(a));
    rcu_read_lock();
    assert_ptr_equal(snapshot_current(), a);
    rcu_read_unlock();
    assert_ptr_equal(snapshot_swap(b), a);
    rcu_read_lock();
    assert_ptr_equal(snapshot_current(), b);
    rcu_read_unlock();
    snapshot_retire(a);     /* waits for readers, then frees a */
    snapshot_retire(NULL);  /* nothing to free */
    snapshot_publish(NULL); /* frees b */
    assert_null(snapshot_current());
    rcu_unregister_thread();
    diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
