/*
 * Unit tests for src/conf: every key, every range boundary, the exact text
 * and position of every message, and address parsing.
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
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"

#define NAME "t.yaml"

static void print_messages(const diag_t *d)
{
    for (size_t i = 0; i < d->count; i++)
        print_message("  got: %s\n", d->messages[i]);
}

/* Loads yaml that must be valid and raise no message at all. */
static conf_t *load_ok(const char *yaml)
{
    diag_t d;
    conf_t *conf = NULL;
    bool ok;

    diag_init(&d);
    d.quiet = true;
    ok = conf_load_buffer(NAME, yaml, strlen(yaml), &conf, &d);
    if (!ok || d.count)
        print_messages(&d);
    assert_true(ok);
    assert_int_equal(d.count, 0);
    assert_non_null(conf);
    diag_free(&d);
    return conf;
}

/* Loads yaml (len bytes) that must fail with exactly the messages given,
 * a NULL-terminated list, in order. */
static void check_errors_len(const char *yaml, size_t len, ...)
{
    diag_t d;
    conf_t *conf = (conf_t *)1;
    va_list ap;
    size_t n = 0;
    const char *want;

    diag_init(&d);
    d.quiet = true;
    assert_false(conf_load_buffer(NAME, yaml, len, &conf, &d));
    assert_null(conf);
    va_start(ap, len);
    while ((want = va_arg(ap, const char *)) != NULL) {
        if (n >= d.count) {
            print_message("missing message: %s\n", want);
            print_messages(&d);
            fail();
        }
        assert_string_equal(d.messages[n], want);
        n++;
    }
    va_end(ap);
    if (n != d.count)
        print_messages(&d);
    assert_int_equal(d.count, n);
    assert_int_equal(d.errors, n);
    diag_free(&d);
}

#define check_errors(yaml, ...) check_errors_len(yaml, strlen(yaml), __VA_ARGS__, NULL)

/* Loads "server:\n  <key>: <value>\n" which must fail with one message
 * at line 2 of the form "server.<key>: expected <expected>, got <got>". */
static void check_server_value(const char *key, const char *value, const char *expected,
                               const char *got)
{
    char yaml[1024], msg[1200];

    snprintf(yaml, sizeof(yaml), "server:\n  %s: %s\n", key, value);
    snprintf(msg, sizeof(msg), NAME ":2:%zu: server.%s: expected %s, got %s",
             strlen(key) + 5, key, expected, got);
    check_errors(yaml, msg);
}

static conf_t *load_server_value(const char *key, const char *value)
{
    char yaml[1024];

    snprintf(yaml, sizeof(yaml), "server:\n  %s: %s\n", key, value);
    return load_ok(yaml);
}

static unsigned server_uint(const char *key, const char *value, size_t offset)
{
    conf_t *conf = load_server_value(key, value);
    unsigned v = *(const unsigned *)((const char *)conf + offset);
    conf_free(conf);
    return v;
}

static const char *sockaddr_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    const void *addr = ss->ss_family == AF_INET6
                           ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                           : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
    return inet_ntop(ss->ss_family, addr, buf, (socklen_t)size);
}

static unsigned sockaddr_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void check_defaults(const conf_t *conf)
{
    char host[256] = "", buf[INET6_ADDRSTRLEN];

    assert_string_equal(conf->path, NAME);
    assert_int_equal(conf->n_listeners, 2);
    assert_string_equal(conf->listeners[0].text, "0.0.0.0:53");
    assert_int_equal(conf->listeners[0].addr.ss_family, AF_INET);
    assert_int_equal(conf->listeners[0].addrlen, sizeof(struct sockaddr_in));
    assert_string_equal(sockaddr_text(&conf->listeners[0].addr, buf, sizeof(buf)), "0.0.0.0");
    assert_int_equal(sockaddr_port(&conf->listeners[0].addr), 53);
    assert_string_equal(conf->listeners[1].text, "[::]:53");
    assert_int_equal(conf->listeners[1].addr.ss_family, AF_INET6);
    assert_int_equal(conf->listeners[1].addrlen, sizeof(struct sockaddr_in6));
    assert_string_equal(sockaddr_text(&conf->listeners[1].addr, buf, sizeof(buf)), "::");
    assert_int_equal(sockaddr_port(&conf->listeners[1].addr), 53);
    assert_int_equal(conf->workers, 0);
    assert_int_equal(conf->max_udp_size, CONF_DEFAULT_MAX_UDP_SIZE);
    assert_int_equal(conf->tcp_idle_timeout_ms, CONF_DEFAULT_TCP_IDLE_MS);
    assert_int_equal(conf->tcp_max_connections, CONF_DEFAULT_TCP_MAX_CONNS);
    assert_int_equal(conf->tcp_max_pipeline, CONF_DEFAULT_TCP_MAX_PIPELINE);
    assert_null(conf->nsid);
    assert_int_equal(conf->nsid_len, 0);
    assert_true(conf->chaos);
    assert_string_equal(conf->chaos_version, "Meridian " PACKAGE_VERSION);
    assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
    assert_string_equal(conf->chaos_identity, host);
    assert_int_equal(conf->log_level, LOG_LEVEL_INFO);
    assert_int_equal(conf->n_zones, 0);
    assert_null(conf->zones);
    assert_null(conf->geoip.database);
    assert_null(conf->geoip.countries);
    assert_int_equal(conf->n_datacenters, 0);
    assert_int_equal(conf->n_services, 0);
    assert_null(conf->state_file);
    assert_int_equal(conf->n_health_checks, 0);
}

/* ------------------------------------------------------------ defaults */

static void test_defaults(void **state)
{
    static const char *const empty[] = {
        "",
        "---\n",
        "~\n",
        "# nothing but a comment\n",
        "server:\nzones:\n",
        "server: {}\nzones: []\n",
        "server: ~\n",
        "geoip:\ndatacenters:\nservices:\n",
        "geoip: {}\ndatacenters: {}\nservices: {}\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        conf_t *conf = load_ok(empty[i]);
        check_defaults(conf);
        conf_free(conf);
    }
}

static void test_every_key(void **state)
{
    static const char *yaml = "server:\n"
                              "  listen: [\"127.0.0.1:5353\", \"[::1]:5354\"]\n"
                              "  workers: 4\n"
                              "  max_udp_size: 4096\n"
                              "  tcp_idle_timeout: 2m\n"
                              "  tcp_max_connections: 50\n"
                              "  tcp_max_pipeline: 7\n"
                              "  nsid: ns1.example\n"
                              "  chaos: false\n"
                              "  version: \"\"\n"
                              "  identity: ns1\n"
                              "  log_level: debug\n"
                              "zones:\n"
                              "  - /srv/zones/example.com.zone\n"
                              "  - {file: /srv/zones/other.zone, origin: other.example.}\n";
    char buf[INET6_ADDRSTRLEN];
    conf_t *conf;

    (void)state;
    conf = load_ok(yaml);
    assert_int_equal(conf->n_listeners, 2);
    assert_string_equal(conf->listeners[0].text, "127.0.0.1:5353");
    assert_string_equal(sockaddr_text(&conf->listeners[0].addr, buf, sizeof(buf)), "127.0.0.1");
    assert_int_equal(sockaddr_port(&conf->listeners[0].addr), 5353);
    assert_string_equal(conf->listeners[1].text, "[::1]:5354");
    assert_string_equal(sockaddr_text(&conf->listeners[1].addr, buf, sizeof(buf)), "::1");
    assert_int_equal(sockaddr_port(&conf->listeners[1].addr), 5354);
    assert_int_equal(conf->workers, 4);
    assert_int_equal(conf->max_udp_size, 4096);
    assert_int_equal(conf->tcp_idle_timeout_ms, 120000);
    assert_int_equal(conf->tcp_max_connections, 50);
    assert_int_equal(conf->tcp_max_pipeline, 7);
    assert_int_equal(conf->nsid_len, 11);
    assert_memory_equal(conf->nsid, "ns1.example", 11);
    assert_false(conf->chaos);
    assert_string_equal(conf->chaos_version, "");
    assert_string_equal(conf->chaos_identity, "ns1");
    assert_int_equal(conf->log_level, LOG_LEVEL_DEBUG);
    assert_int_equal(conf->n_zones, 2);
    assert_string_equal(conf->zones[0].file, "/srv/zones/example.com.zone");
    assert_null(conf->zones[0].origin);
    assert_ptr_equal(conf->zones[0].conf_file, conf->path);
    assert_int_equal(conf->zones[0].conf_line, 14);
    assert_string_equal(conf->zones[1].file, "/srv/zones/other.zone");
    assert_string_equal(conf->zones[1].origin, "other.example.");
    assert_int_equal(conf->zones[1].conf_line, 15);
    conf_free(conf);
}

/* ------------------------------------------------------------ server.listen */

static void test_listen_forms(void **state)
{
    char buf[INET6_ADDRSTRLEN];
    conf_t *conf;

    (void)state;
    conf = load_ok("server:\n  listen: 192.0.2.1\n");
    assert_int_equal(conf->n_listeners, 1);
    assert_string_equal(conf->listeners[0].text, "192.0.2.1");
    assert_string_equal(sockaddr_text(&conf->listeners[0].addr, buf, sizeof(buf)), "192.0.2.1");
    assert_int_equal(sockaddr_port(&conf->listeners[0].addr), 53);
    conf_free(conf);

    conf = load_ok("server:\n  listen:\n    - \"[::]:0\"\n    - ::1\n    - 10.0.0.1:1\n");
    assert_int_equal(conf->n_listeners, 3);
    assert_int_equal(conf->listeners[0].addr.ss_family, AF_INET6);
    assert_int_equal(sockaddr_port(&conf->listeners[0].addr), 0);
    assert_string_equal(sockaddr_text(&conf->listeners[1].addr, buf, sizeof(buf)), "::1");
    assert_int_equal(sockaddr_port(&conf->listeners[1].addr), 53);
    assert_int_equal(sockaddr_port(&conf->listeners[2].addr), 1);
    conf_free(conf);

    /* the same IP on two ports, and v4 and v6 wildcards, are different */
    conf = load_ok("server:\n  listen: [\"0.0.0.0:53\", \"0.0.0.0:54\", \"[::]:53\"]\n");
    assert_int_equal(conf->n_listeners, 3);
    conf_free(conf);
}

static void test_listen_errors(void **state)
{
    static const char *addr =
        "an address such as \"192.0.2.1:53\", \"[2001:db8::1]:53\" or \"::\"";
    char msg[512];

    (void)state;
    check_errors("server:\n  listen: []\n",
                 NAME ":2:11: server.listen: expected at least one address, got an empty list");
    check_errors("server:\n  listen:\n",
                 NAME ":2:10: server.listen: expected an address or a list of addresses, "
                      "got an empty value");
    check_errors("server:\n  listen: {a: b}\n",
                 NAME ":2:11: server.listen: expected an address or a list of addresses, "
                      "got a mapping");
    snprintf(msg, sizeof(msg), NAME ":2:11: server.listen: expected %s, got \"localhost:53\"",
             addr);
    check_errors("server:\n  listen: localhost:53\n", msg);
    snprintf(msg, sizeof(msg), NAME ":2:12: server.listen: expected %s, got a list", addr);
    check_errors("server:\n  listen: [[1.2.3.4]]\n", msg);
    snprintf(msg, sizeof(msg), NAME ":2:21: server.listen: expected %s, got \"1.2.3.4:65536\"",
             addr);
    check_errors("server:\n  listen: [1.2.3.4, 1.2.3.4:65536]\n", msg);
    check_errors("server:\n  listen: [\"0.0.0.0\", \"0.0.0.0:53\"]\n",
                 NAME ":2:23: server.listen: \"0.0.0.0:53\" is the same address as "
                      "\"0.0.0.0\" listed before");
}

/* ------------------------------------------------------------ numbers */

static void test_workers(void **state)
{
    static const char *expected = "\"auto\" or an integer from 1 to 256";
    size_t off = offsetof(conf_t, workers);

    (void)state;
    assert_int_equal(server_uint("workers", "auto", off), 0);
    assert_int_equal(server_uint("workers", "\"auto\"", off), 0);
    assert_int_equal(server_uint("workers", "1", off), 1);
    assert_int_equal(server_uint("workers", "256", off), 256);
    assert_int_equal(server_uint("workers", "'8'", off), 8);
    check_errors("server:\n  workers: x\n",
                 NAME ":2:12: server.workers: expected \"auto\" or an integer from 1 to 256, "
                      "got \"x\"");
    check_server_value("workers", "0", expected, "\"0\"");
    check_server_value("workers", "257", expected, "\"257\"");
    check_server_value("workers", "-1", expected, "\"-1\"");
    check_server_value("workers", "010", expected, "\"010\"");
    check_server_value("workers", "0x10", expected, "\"0x10\"");
    check_server_value("workers", "1.5", expected, "\"1.5\"");
    check_server_value("workers", "AUTO", expected, "\"AUTO\"");
    check_server_value("workers", "99999999999999999999", expected,
                       "\"99999999999999999999\"");
    check_server_value("workers", "[1]", expected, "a list");
    check_server_value("workers", "{}", expected, "an empty mapping");
    check_server_value("workers", "~", expected, "an empty value");
}

static void test_max_udp_size(void **state)
{
    static const char *expected = "an integer from 512 to 65535";
    size_t off = offsetof(conf_t, max_udp_size);

    (void)state;
    assert_int_equal(server_uint("max_udp_size", "512", off), 512);
    assert_int_equal(server_uint("max_udp_size", "65535", off), 65535);
    check_server_value("max_udp_size", "511", expected, "\"511\"");
    check_server_value("max_udp_size", "65536", expected, "\"65536\"");
    check_server_value("max_udp_size", "\"\"", expected, "\"\"");
    check_server_value("max_udp_size", "1232 bytes", expected, "\"1232 bytes\"");
}

static void test_tcp_max_connections(void **state)
{
    static const char *expected = "an integer from 1 to 1000000";
    size_t off = offsetof(conf_t, tcp_max_connections);

    (void)state;
    assert_int_equal(server_uint("tcp_max_connections", "1", off), 1);
    assert_int_equal(server_uint("tcp_max_connections", "1000000", off), 1000000);
    check_server_value("tcp_max_connections", "0", expected, "\"0\"");
    check_server_value("tcp_max_connections", "1000001", expected, "\"1000001\"");
}

static void test_tcp_max_pipeline(void **state)
{
    static const char *expected = "an integer from 1 to 65535";
    size_t off = offsetof(conf_t, tcp_max_pipeline);

    (void)state;
    assert_int_equal(server_uint("tcp_max_pipeline", "1", off), 1);
    assert_int_equal(server_uint("tcp_max_pipeline", "65535", off), 65535);
    check_server_value("tcp_max_pipeline", "0", expected, "\"0\"");
    check_server_value("tcp_max_pipeline", "65536", expected, "\"65536\"");
}

static void test_tcp_source_limits(void **state)
{
    static const char *expected = "an integer from 1 to 1000000";
    size_t off = offsetof(conf_t, tcp_max_per_address);
    size_t off64 = offsetof(conf_t, tcp_max_per_ipv6_64);
    conf_t *conf;

    (void)state;
    conf = load_ok("server: {}\n");
    assert_int_equal(conf->tcp_max_per_address, CONF_DEFAULT_TCP_MAX_PER_ADDRESS);
    assert_int_equal(conf->tcp_max_per_ipv6_64, CONF_DEFAULT_TCP_MAX_PER_IPV6_64);
    assert_int_equal(conf->tcp_max_connections, 0); /* not given: fitted at start */
    conf_free(conf);
    assert_int_equal(server_uint("tcp_max_per_address", "1", off), 1);
    assert_int_equal(server_uint("tcp_max_per_address", "1000000", off), 1000000);
    assert_int_equal(server_uint("tcp_max_per_ipv6_64", "7", off64), 7);
    check_server_value("tcp_max_per_address", "0", expected, "\"0\"");
    check_server_value("tcp_max_per_ipv6_64", "1000001", expected, "\"1000001\"");
}

static void test_tcp_output_budgets(void **state)
{
    static const char *per_conn =
        "a size from 1024 to 1073741824 bytes, such as \"65536\", \"128k\" or \"64m\"";
    static const char *total =
        "a size from 65536 to 1099511627776 bytes, such as \"65536\", \"128k\" or \"64m\"";
    size_t off = offsetof(conf_t, tcp_max_queued_bytes);
    size_t off_wt = offsetof(conf_t, tcp_write_timeout_ms);
    conf_t *conf;

    (void)state;
    conf = load_ok("server: {}\n");
    assert_int_equal(conf->tcp_max_queued_bytes, 131072);
    assert_int_equal(conf->tcp_max_queued_total, 64 << 20);
    assert_int_equal(conf->tcp_write_timeout_ms, 5000);
    conf_free(conf);
    assert_int_equal(server_uint("tcp_max_queued_bytes", "1024", off), 1024);
    assert_int_equal(server_uint("tcp_max_queued_bytes", "128k", off), 131072);
    assert_int_equal(server_uint("tcp_max_queued_bytes", "1g", off), 1u << 30);
    check_server_value("tcp_max_queued_bytes", "1023", per_conn, "\"1023\"");
    check_server_value("tcp_max_queued_bytes", "2g", per_conn, "\"2g\"");
    check_server_value("tcp_max_queued_bytes", "64K", per_conn, "\"64K\"");
    check_server_value("tcp_max_queued_bytes", "k", per_conn, "\"k\"");
    /* 12 digits times 2^30 would overflow 64 bits if it were not checked */
    check_server_value("tcp_max_queued_total", "999999999999g", total, "\"999999999999g\"");
    check_server_value("tcp_max_queued_total", "63k", total, "\"63k\"");
    conf = load_server_value("tcp_max_queued_total", "1024g");
    assert_true(conf->tcp_max_queued_total == (uint64_t)1 << 40);
    conf_free(conf);
    assert_int_equal(server_uint("tcp_write_timeout", "250ms", off_wt), 250);
    check_server_value("tcp_write_timeout", "0s",
                       "a duration from 1ms to 1h such as \"500ms\", \"10s\" or \"2m\"",
                       "\"0s\"");
}

static void test_tcp_idle_timeout(void **state)
{
    static const struct {
        const char *text;
        unsigned ms;
    } good[] = {
        {"1ms", 1},      {"500ms", 500},   {"10s", 10000},     {"2m", 120000},
        {"1h", 3600000}, {"3600", 3600000}, {"1", 1000},       {"3600000ms", 3600000},
        {"60m", 3600000}, {"3600s", 3600000}, {"\"10s\"", 10000},
    };
    static const char *const bad[] = {
        "0",    "0ms",  "3600001ms", "61m",  "3601s", "2h",  "3601", "1.5s", "10x",
        "s",    "ms",   "10 s",      "10S",  "-1s",   "01s", "1m1s", "99999999999999999999s",
        "10sec",
    };
    static const char *expected =
        "a duration from 1ms to 1h such as \"500ms\", \"10s\" or \"2m\"";
    size_t off = offsetof(conf_t, tcp_idle_timeout_ms);
    char got[64];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(server_uint("tcp_idle_timeout", good[i].text, off), good[i].ms);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(got, sizeof(got), "\"%s\"", bad[i]);
        check_server_value("tcp_idle_timeout", bad[i], expected, got);
    }
    check_server_value("tcp_idle_timeout", "[]", expected, "an empty list");
}

/* ------------------------------------------------------------ text keys */

static void test_nsid(void **state)
{
    static const char *expected =
        "a text of 1 to 128 bytes or \"hex:\" and 1 to 128 bytes in hex";
    char value[600], got[600];
    conf_t *conf;

    (void)state;
    conf = load_server_value("nsid", "\"hex:6e7331\"");
    assert_int_equal(conf->nsid_len, 3);
    assert_memory_equal(conf->nsid, "ns1", 3);
    conf_free(conf);

    conf = load_server_value("nsid", "hex:00FFaB");
    assert_int_equal(conf->nsid_len, 3);
    assert_memory_equal(conf->nsid, "\x00\xff\xab", 3);
    conf_free(conf);

    conf = load_server_value("nsid", "12");
    assert_int_equal(conf->nsid_len, 2);
    assert_memory_equal(conf->nsid, "12", 2);
    conf_free(conf);

    memset(value, 'n', 128);
    value[128] = '\0';
    conf = load_server_value("nsid", value);
    assert_int_equal(conf->nsid_len, 128);
    conf_free(conf);

    memcpy(value, "hex:", 4);
    memset(value + 4, 'a', 256);
    value[260] = '\0';
    conf = load_server_value("nsid", value);
    assert_int_equal(conf->nsid_len, 128);
    assert_int_equal((unsigned char)conf->nsid[127], 0xaa);
    conf_free(conf);

    check_server_value("nsid", "\"\"", expected, "\"\"");
    check_server_value("nsid", "\"hex:\"", expected, "\"hex:\"");
    check_server_value("nsid", "hex:6e7", expected, "\"hex:6e7\"");
    check_server_value("nsid", "hex:6g", expected, "\"hex:6g\"");
    check_server_value("nsid", "hex:6e 73", expected, "\"hex:6e 73\"");
    check_server_value("nsid", "\"a\\0b\"", expected, "\"a\\x00b\"");
    check_server_value("nsid", "[]", expected, "an empty list");

    /* one byte too many, in both forms; long values are cut short in the
     * message so that it stays readable */
    memset(value, 'n', 129);
    value[129] = '\0';
    snprintf(got, sizeof(got), "\"%.63s...\"", value);
    check_server_value("nsid", value, expected, got);
    memcpy(value, "hex:", 4);
    memset(value + 4, 'a', 258);
    value[262] = '\0';
    snprintf(got, sizeof(got), "\"%.63s...\"", value);
    check_server_value("nsid", value, expected, got);
}

static void test_chaos(void **state)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "on", "\"true\""};
    static const char *const no[] = {"false", "False", "no", "off", "OFF"};
    conf_t *conf;

    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        conf = load_server_value("chaos", yes[i]);
        assert_true(conf->chaos);
        conf_free(conf);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        conf = load_server_value("chaos", no[i]);
        assert_false(conf->chaos);
        conf_free(conf);
    }
    check_server_value("chaos", "maybe", "true or false", "\"maybe\"");
    check_server_value("chaos", "1", "true or false", "\"1\"");
    /* a missing value is reported right after its key's colon */
    check_errors("server:\n  chaos:\n",
                 NAME ":2:9: server.chaos: expected true or false, got an empty value");
}

static void test_version_identity(void **state)
{
    static const char *const keys[] = {"version", "identity"};
    static const char *expected = "a text of at most 255 bytes";
    char value[300], got[300];
    conf_t *conf;

    (void)state;
    for (size_t k = 0; k < 2; k++) {
        size_t off = k == 0 ? offsetof(conf_t, chaos_version) : offsetof(conf_t, chaos_identity);

        conf = load_server_value(keys[k], "\"hidden \\u00e9\"");
        assert_string_equal(*(char **)((char *)conf + off), "hidden \xc3\xa9");
        conf_free(conf);
        conf = load_server_value(keys[k], "''");
        assert_string_equal(*(char **)((char *)conf + off), "");
        conf_free(conf);
        memset(value, 'v', 255);
        value[255] = '\0';
        conf = load_server_value(keys[k], value);
        assert_int_equal(strlen(*(char **)((char *)conf + off)), 255);
        conf_free(conf);

        value[255] = 'v';
        value[256] = '\0';
        snprintf(got, sizeof(got), "\"%.63s...\"", value);
        check_server_value(keys[k], value, expected, got);
        check_server_value(keys[k], "\"a\\0\"", expected, "\"a\\x00\"");
        check_server_value(keys[k], "[a]", expected, "a list");
        snprintf(value, sizeof(value), "server:\n  %s:\n", keys[k]);
        snprintf(got, sizeof(got),
                 NAME ":2:%zu: server.%s: expected a text of at most 255 bytes, "
                      "got an empty value",
                 strlen(keys[k]) + 4, keys[k]);
        check_errors(value, got);
    }
}

static void test_log_level(void **state)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    static const int levels[] = {LOG_LEVEL_ERR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG};
    static const char *expected = "one of error, warning, info, debug";

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        conf_t *conf = load_server_value("log_level", names[i]);
        assert_int_equal(conf->log_level, levels[i]);
        conf_free(conf);
    }
    check_server_value("log_level", "verbose", expected, "\"verbose\"");
    check_server_value("log_level", "INFO", expected, "\"INFO\"");

    /* server.log: where the lines go */
    conf_t *conf = load_server_value("log", "syslog");
    assert_true(conf->syslog);
    conf_free(conf);
    conf = load_server_value("log", "stderr");
    assert_false(conf->syslog);
    conf_free(conf);
    check_server_value("log", "journal", "stderr or syslog", "\"journal\"");

    /* the account to run as */
    conf = load_server_value("user", "meridian");
    assert_string_equal(conf->user, "meridian");
    assert_null(conf->group);
    assert_false(conf->allow_root);
    conf_free(conf);
    conf = load_ok("server:\n  group: dns\n  user: meridian\n");
    assert_string_equal(conf->group, "dns");
    assert_string_equal(conf->user, "meridian");
    conf_free(conf);
    /* a group alone would be ignored: it is an error */
    check_errors("server:\n  allow_root: true\n  group: dns\n",
                 NAME ":3:3: server.group: needs server.user (the group is taken with it)");
    conf = load_server_value("allow_root", "true");
    assert_true(conf->allow_root);
    conf_free(conf);
}

/* ------------------------------------------------------------ structure */

static void test_unknown_keys(void **state)
{
    (void)state;
    check_errors("server:\n  wrokers: 4\n",
                 NAME ":2:3: server: unknown key \"wrokers\" (expected one of: listen, workers, "
                      "max_udp_size, tcp_idle_timeout, tcp_max_connections, tcp_max_pipeline, "
                      "tcp_max_per_address, tcp_max_per_ipv6_64, tcp_max_queued_bytes, "
                      "tcp_max_queued_total, tcp_write_timeout, nsid, chaos, version, identity, log_level, log, state_file, control, "
                      "user, group, allow_root)");
    check_errors("servers:\n  workers: 4\n",
                 NAME ":1:1: unknown section \"servers\" (expected one of: server, zones, geoip, "
                      "datacenters, health_checks, services)");
    check_errors("zones:\n  - {file: a.zone, orgin: a.}\n",
                 NAME ":2:20: zones[0]: unknown key \"orgin\" (expected one of: file, origin)");
    /* YAML merge keys are unknown keys too: aliases are not supported */
    check_errors("server:\n  \"<<\": {}\n",
                 NAME ":2:3: server: unknown key \"<<\" (expected one of: listen, workers, "
                      "max_udp_size, tcp_idle_timeout, tcp_max_connections, tcp_max_pipeline, "
                      "tcp_max_per_address, tcp_max_per_ipv6_64, tcp_max_queued_bytes, "
                      "tcp_max_queued_total, tcp_write_timeout, nsid, chaos, version, identity, log_level, log, state_file, control, "
                      "user, group, allow_root)");
    check_errors("server:\n  \"a\\tb\": 1\n",
                 NAME ":2:3: server: unknown key \"a\\x09b\" (expected one of: listen, workers, "
                      "max_udp_size, tcp_idle_timeout, tcp_max_connections, tcp_max_pipeline, "
                      "tcp_max_per_address, tcp_max_per_ipv6_64, tcp_max_queued_bytes, "
                      "tcp_max_queued_total, tcp_write_timeout, nsid, chaos, version, identity, log_level, log, state_file, control, "
                      "user, group, allow_root)");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    check_errors("server:\n  workers: 2\n  chaos: true\n  workers: 3\n",
                 NAME ":4:3: server: duplicate key \"workers\" (first given at line 2)");
    check_errors("zones: []\nserver: {}\nzones: []\n",
                 NAME ":3:1: duplicate section \"zones\" (first given at line 1)");
    check_errors("zones:\n  - {file: a.zone, file: b.zone}\n",
                 NAME ":2:20: zones[0]: duplicate key \"file\" (first given at line 2)");
    /* a bad first value still counts as given */
    check_errors("server:\n  workers: x\n  workers: 2\n",
                 NAME ":2:12: server.workers: expected \"auto\" or an integer from 1 to 256, "
                      "got \"x\"",
                 NAME ":3:3: server: duplicate key \"workers\" (first given at line 2)");
}

static void test_wrong_types(void **state)
{
    (void)state;
    check_errors("- server\n", NAME ":1:1: the config file: expected a mapping, got a list");
    check_errors("server\n", NAME ":1:1: the config file: expected a mapping, got \"server\"");
    check_errors("server: [a]\n", NAME ":1:9: server: expected a mapping, got a list");
    check_errors("server: 1\n", NAME ":1:9: server: expected a mapping, got \"1\"");
    check_errors("zones: {a: b}\n",
                 NAME ":1:8: zones: expected a list of zone files, got a mapping");
    check_errors("zones: a.zone\n",
                 NAME ":1:8: zones: expected a list of zone files, got \"a.zone\"");
    check_errors("? [a]\n: 1\n", NAME ":1:3: expected a section name, got a list");
    check_errors("server:\n  ? {a: 1}\n  : 1\n",
                 NAME ":2:5: server: expected a key name, got a mapping");
}

/* ------------------------------------------------------------ YAML level */

static void test_yaml_syntax_errors(void **state)
{
    (void)state;
    check_errors("server:\n  listen: [\"127.0.0.1\"\n  workers: 1\n",
                 NAME ":3:3: YAML syntax error: did not find expected ',' or ']' "
                      "(while parsing a flow sequence at line 2, column 11)");
    check_errors("server:\n  workers: 1\n chaos: true\n",
                 NAME ":3:2: YAML syntax error: did not find expected key "
                      "(while parsing a block mapping at line 1, column 1)");
    check_errors("server:\n\tworkers: 1\n",
                 NAME ":2:1: YAML syntax error: found character that cannot start any token "
                      "(while scanning for the next token at line 2, column 1)");
    check_errors("server: \"unterminated\n",
                 NAME ":2:1: YAML syntax error: found unexpected end of stream "
                      "(while scanning a quoted scalar at line 1, column 9)");
    check_errors("a: b: c\n",
                 NAME ":1:5: YAML syntax error: mapping values are not allowed in this context");
    /* nothing of the config is checked past a syntax error */
    check_errors("bogus: 1\n]\n",
                 NAME ":2:1: YAML syntax error: did not find expected key "
                      "(while parsing a block mapping at line 1, column 1)");
}

static void test_yaml_reader_error(void **state)
{
    static const char yaml[] = "server:\n  nsid: ab\xff\n";

    (void)state;
    check_errors_len(yaml, sizeof(yaml) - 1,
                     NAME ":2:11: YAML error: invalid leading UTF-8 octet (byte 0xff)", NULL);
}

static void test_yaml_one_document(void **state)
{
    (void)state;
    check_errors("server: {}\n---\nzones: []\n",
                 NAME ":2:1: only one YAML document is allowed in a config file");
    check_errors("server:\n  version: &v x\n  identity: *v\n",
                 NAME ":3:13: YAML aliases (*v) are not supported");
}

static void test_yaml_nesting(void **state)
{
    char yaml[200], msg[128];
    size_t n = 0;

    (void)state;
    /* 32 levels are fine for the tree (and wrong for the schema) */
    n += (size_t)snprintf(yaml, sizeof(yaml), "zones: ");
    for (size_t i = 0; i < 31; i++)
        yaml[n++] = '[';
    for (size_t i = 0; i < 31; i++)
        yaml[n++] = ']';
    yaml[n] = '\0';
    check_errors(yaml, NAME ":1:9: zones[0]: expected a zone file name or a mapping with file "
                            "and origin, got a list");

    n = 0;
    for (size_t i = 0; i < 40; i++)
        yaml[n++] = '[';
    for (size_t i = 0; i < 40; i++)
        yaml[n++] = ']';
    yaml[n] = '\0';
    snprintf(msg, sizeof(msg), NAME ":1:33: YAML nesting is deeper than 32 levels");
    check_errors(yaml, msg);
}

/* A huge flat list stops at the node limit instead of eating memory. */
static void test_yaml_node_limit(void **state)
{
    size_t items = 1000000, n = 0;
    char *yaml = malloc(16 + 2 * items);
    char msg[128];

    (void)state;
    assert_non_null(yaml);
    n += (size_t)sprintf(yaml, "zones: [");
    for (size_t i = 0; i < items; i++) {
        yaml[n++] = '1';
        yaml[n++] = ',';
    }
    yaml[n++] = ']';
    yaml[n] = '\0';
    /* the root mapping, its key and the list come first: item 999997
     * (0-based) is node 1000001 */
    snprintf(msg, sizeof(msg), NAME ":1:%zu: more than 1000000 YAML nodes",
             (size_t)9 + 2 * 999997);
    check_errors(yaml, msg);
    free(yaml);
}

/* ------------------------------------------------------------ reporting */

static void test_collects_all_errors(void **state)
{
    (void)state;
    check_errors("server:\n"
                 "  workers: 0\n"
                 "  max_udp_size: 100\n"
                 "  colour: blue\n"
                 "  chaos: sometimes\n"
                 "zones:\n"
                 "  - a.zone\n"
                 "  - {origin: b.}\n"
                 "  - \"\"\n"
                 "extra: 1\n",
                 NAME ":2:12: server.workers: expected \"auto\" or an integer from 1 to 256, "
                      "got \"0\"",
                 NAME ":3:17: server.max_udp_size: expected an integer from 512 to 65535, "
                      "got \"100\"",
                 NAME ":4:3: server: unknown key \"colour\" (expected one of: listen, workers, "
                      "max_udp_size, tcp_idle_timeout, tcp_max_connections, tcp_max_pipeline, "
                      "tcp_max_per_address, tcp_max_per_ipv6_64, tcp_max_queued_bytes, "
                      "tcp_max_queued_total, tcp_write_timeout, nsid, chaos, version, identity, log_level, log, state_file, control, "
                      "user, group, allow_root)",
                 NAME ":5:10: server.chaos: expected true or false, got \"sometimes\"",
                 NAME ":8:5: zones[1]: missing required key \"file\"",
                 NAME ":9:5: zones[2]: expected a zone file name, got \"\"",
                 NAME ":10:1: unknown section \"extra\" (expected one of: server, zones, geoip, "
                      "datacenters, health_checks, services)");
}

static void test_error_cap(void **state)
{
    char *yaml = malloc(150 * 16);
    size_t n = 0;
    diag_t d;
    conf_t *conf;

    (void)state;
    assert_non_null(yaml);
    for (unsigned i = 0; i < 150; i++)
        n += (size_t)sprintf(yaml + n, "bad%u: 1\n", i);
    diag_init(&d);
    d.quiet = true;
    assert_false(conf_load_buffer(NAME, yaml, n, &conf, &d));
    assert_null(conf);
    assert_int_equal(d.count, 101);
    assert_int_equal(d.errors, 101);
    assert_string_equal(d.messages[99], NAME ":100:1: unknown section \"bad99\" "
                                        "(expected one of: server, zones, geoip, "
                                        "datacenters, health_checks, services)");
    assert_string_equal(d.messages[100], NAME ": 50 more errors not shown");
    diag_free(&d);
    free(yaml);
}

/* ------------------------------------------------------------ zones */

static void test_zones(void **state)
{
    char cwd[PATH_MAX], want[PATH_MAX + 64];
    conf_t *conf;
    diag_t d;

    (void)state;
    conf = load_ok("zones:\n"
                   "  - example.com.zone\n"
                   "  - {file: ../z/other.zone, origin: other.example}\n"
                   "  - file: /abs/root.zone\n"
                   "    origin: .\n"
                   "  - {file: x.zone, origin: 0/25.2.0.192.in-addr.arpa.}\n");
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(conf->n_zones, 4);
    snprintf(want, sizeof(want), "%s/example.com.zone", cwd);
    assert_string_equal(conf->zones[0].file, want);
    assert_null(conf->zones[0].origin);
    assert_int_equal(conf->zones[0].conf_line, 2);
    snprintf(want, sizeof(want), "%s/../z/other.zone", cwd);
    assert_string_equal(conf->zones[1].file, want);
    assert_string_equal(conf->zones[1].origin, "other.example.");
    assert_string_equal(conf->zones[2].file, "/abs/root.zone");
    assert_string_equal(conf->zones[2].origin, ".");
    assert_int_equal(conf->zones[2].conf_line, 4);
    assert_string_equal(conf->zones[3].origin, "0/25.2.0.192.in-addr.arpa.");
    for (size_t i = 0; i < conf->n_zones; i++)
        assert_string_equal(conf->zones[i].conf_file, NAME);
    conf_free(conf);

    /* relative paths follow the config file's directory, not the cwd */
    diag_init(&d);
    d.quiet = true;
    assert_true(conf_load_buffer("/nonexistent-meridian/etc/m.yaml",
                                 "zones: [../zones/x.zone, /y.zone]", 33, &conf, &d));
    assert_string_equal(conf->zones[0].file, "/nonexistent-meridian/etc/../zones/x.zone");
    assert_string_equal(conf->zones[1].file, "/y.zone");
    conf_free(conf);
    assert_true(conf_load_buffer("/m.yaml", "zones: [x.zone]", 15, &conf, &d));
    assert_string_equal(conf->zones[0].file, "/x.zone");
    conf_free(conf);
    assert_int_equal(d.count, 0);
    diag_free(&d);

    conf = load_ok("zones: []\n");
    assert_int_equal(conf->n_zones, 0);
    conf_free(conf);
}

static void test_zone_errors(void **state)
{
    static const struct {
        const char *yaml, *got;
    } bad_origins[] = {
        {"\"\"", "\"\""},
        {".com", "\".com\""},
        {"a..b", "\"a..b\""},
        {"\"a b\"", "\"a b\""},
        {"\"a\\\\.b\"", "\"a\\\\.b\""},
        {"..", "\"..\""},
        {"\"caf\\u00e9.\"", "\"caf\xc3\xa9.\""},
        {"[a]", "a list"},
    };
    char yaml[600], msg[700], label[70], got[80];
    conf_t *conf;

    (void)state;
    check_errors("zones:\n  -\n  - [a]\n  - {file: [a]}\n  - {file: \"\"}\n",
                 NAME ":2:4: zones[0]: expected a zone file name or a mapping with file and "
                      "origin, got an empty value",
                 NAME ":3:5: zones[1]: expected a zone file name or a mapping with file and "
                      "origin, got a list",
                 NAME ":4:12: zones[2].file: expected a zone file name, got a list",
                 NAME ":5:12: zones[3].file: expected a zone file name, got \"\"");
    check_errors("zones:\n  - {}\n", NAME ":2:5: zones[0]: missing required key \"file\"");

    for (size_t i = 0; i < sizeof(bad_origins) / sizeof(bad_origins[0]); i++) {
        snprintf(yaml, sizeof(yaml), "zones:\n  - {file: a.zone, origin: %s}\n",
                 bad_origins[i].yaml);
        snprintf(msg, sizeof(msg),
                 NAME ":2:28: zones[0].origin: expected a domain name such as "
                      "\"example.com.\", got %s",
                 bad_origins[i].got);
        check_errors(yaml, msg);
    }

    /* a label of 63 bytes is fine, 64 is not */
    memset(label, 'l', 63);
    label[63] = '\0';
    snprintf(yaml, sizeof(yaml), "zones:\n  - {file: a.zone, origin: %s.com}\n", label);
    conf = load_ok(yaml);
    assert_int_equal(strlen(conf->zones[0].origin), 68);
    conf_free(conf);
    label[63] = 'l';
    label[64] = '\0';
    snprintf(yaml, sizeof(yaml), "zones:\n  - {file: a.zone, origin: %s.com}\n", label);
    snprintf(got, sizeof(got), "\"%.63s...\"", label);
    snprintf(msg, sizeof(msg),
             NAME ":2:28: zones[0].origin: expected a domain name such as \"example.com.\", "
                  "got %s",
             got);
    check_errors(yaml, msg);

    /* 254 bytes with the final dot is the longest name: 255 on the wire,
     * with a length byte for each label and one for the root */
    {
        char name[300];
        size_t n = 0;
        while (n < 253) {
            size_t chunk = 253 - n > 62 ? 62 : 253 - n - 1;
            memset(name + n, 'a', chunk);
            n += chunk;
            name[n++] = '.';
        }
        name[n - 1] = 'a'; /* 253 bytes, no final dot */
        name[n] = '\0';
        snprintf(yaml, sizeof(yaml), "zones:\n  - {file: a.zone, origin: %s}\n", name);
        conf = load_ok(yaml);
        assert_int_equal(strlen(conf->zones[0].origin), 254);
        conf_free(conf);
        name[n] = 'a';
        name[n + 1] = '\0';
        snprintf(yaml, sizeof(yaml), "zones:\n  - {file: a.zone, origin: %s}\n", name);
        snprintf(got, sizeof(got), "\"%.63s...\"", name);
        snprintf(msg, sizeof(msg),
                 NAME ":2:28: zones[0].origin: expected a domain name such as "
                      "\"example.com.\", got %s",
                 got);
        check_errors(yaml, msg);
    }
}

/* ------------------------------------------------------------ files */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void test_load_file(void **state)
{
    char tmpl[] = "/tmp/test_conf.XXXXXX";
    char old_cwd[PATH_MAX], dir[PATH_MAX], etc[PATH_MAX + 8], path[PATH_MAX + 32];
    char want[PATH_MAX + 64];
    conf_t *conf;
    diag_t d;

    (void)state;
    assert_non_null(getcwd(old_cwd, sizeof(old_cwd)));
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, dir));
    snprintf(etc, sizeof(etc), "%s/etc", dir);
    assert_int_equal(mkdir(etc, 0700), 0);
    snprintf(path, sizeof(path), "%s/meridian.yaml", etc);
    write_file(path, "server:\n  workers: 3\nzones:\n  - ../zones/x.zone\n");
    snprintf(want, sizeof(want), "%s/etc/../zones/x.zone", dir);

    diag_init(&d);
    d.quiet = true;
    /* absolute config path, from an unrelated cwd */
    assert_int_equal(chdir("/"), 0);
    assert_true(conf_load(path, &conf, &d));
    assert_string_equal(conf->path, path);
    assert_int_equal(conf->workers, 3);
    assert_string_equal(conf->zones[0].file, want);
    conf_free(conf);

    /* relative config path: zone paths still come out absolute */
    assert_int_equal(chdir(dir), 0);
    assert_true(conf_load("etc/meridian.yaml", &conf, &d));
    assert_string_equal(conf->path, "etc/meridian.yaml");
    assert_string_equal(conf->zones[0].file, want);
    conf_free(conf);
    assert_int_equal(d.count, 0);

    /* errors name the file as it was given */
    write_file(path, "server:\n  workers: many\n");
    assert_false(conf_load("etc/meridian.yaml", &conf, &d));
    assert_null(conf);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.messages[0], "etc/meridian.yaml:2:12: server.workers: expected "
                                       "\"auto\" or an integer from 1 to 256, got \"many\"");
    diag_free(&d);

    diag_init(&d);
    d.quiet = true;
    assert_false(conf_load("etc/missing.yaml", &conf, &d));
    assert_null(conf);
    assert_false(conf_load("etc", &conf, &d));
    assert_null(conf);
    assert_int_equal(d.count, 2);
    assert_string_equal(d.messages[0],
                        "etc/missing.yaml: cannot read the config file: No such file or "
                        "directory");
    assert_string_equal(d.messages[1], "etc: cannot read the config file: not a regular file (a directory)");
    diag_free(&d);

    /* an empty file is a config with every default */
    write_file(path, "");
    diag_init(&d);
    d.quiet = true;
    assert_true(conf_load(path, &conf, &d));
    assert_int_equal(conf->n_listeners, 2);
    conf_free(conf);
    diag_free(&d);

    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(etc), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(chdir(old_cwd), 0);
}

/* The demo config shipped in etc/ must always load. */
static void test_demo_config(void **state)
{
    const char *srcdir = getenv("top_srcdir");
    char path[PATH_MAX], want[PATH_MAX + 64];
    conf_t *conf;
    diag_t d;

    (void)state;
    if (srcdir) {
        snprintf(path, sizeof(path), "%s/etc/meridian.yaml", srcdir);
    } else {
        /* run by hand: find the source tree from this file's own name */
        const char *slash = strstr(__FILE__, "tests/unit/test_conf.c");
        if (!slash || __FILE__[0] != '/')
            skip();
        snprintf(path, sizeof(path), "%.*setc/meridian.yaml", (int)(slash - __FILE__),
                 __FILE__);
    }
    diag_init(&d);
    d.quiet = true;
    if (!conf_load(path, &conf, &d))
        print_messages(&d);
    assert_int_equal(d.count, 0);
    assert_non_null(conf);
    assert_int_equal(conf->n_listeners, 2);
    assert_int_equal(sockaddr_port(&conf->listeners[0].addr), 5353);
    assert_int_equal(conf->nsid_len, 8);
    assert_memory_equal(conf->nsid, "demo-ns1", 8);
    assert_int_equal(conf->n_zones, 2);
    assert_non_null(realpath(path, want));
    *strrchr(want, '/') = '\0';
    strcat(want, "/../zones/example.com.zone");
    assert_string_equal(conf->zones[0].file, want);
    conf_free(conf);
    diag_free(&d);
}

static void test_free_null(void **state)
{
    (void)state;
    conf_free(NULL);
}

/* ------------------------------------------------------------ geo: helpers */

/* The geo structures as short texts, so that a failure prints the whole
 * expected and actual value side by side. */

static const char *net_text(const conf_network_t *net, char *buf, size_t size)
{
    char addr[INET6_ADDRSTRLEN];

    assert_non_null(inet_ntop(net->family, net->addr, addr, sizeof(addr)));
    snprintf(buf, size, "%s/%u", addr, (unsigned)net->prefix);
    return buf;
}

/* "us-east,eu-west" */
static const char *order_text(const conf_t *conf, const conf_dc_order_t *order, char *buf,
                              size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < order->n; i++) {
        assert_true(order->dc[i] < conf->n_datacenters);
        o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? "," : "",
                              conf->datacenters[order->dc[i]].name);
    }
    return buf;
}

/* "eu-west=192.0.2.10,2001:db8::10 ap-south=>ap.example.net." */
static const char *pools_text(const conf_t *conf, const conf_service_t *svc, char *buf,
                              size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < svc->n_pools; i++) {
        const conf_pool_t *pool = &svc->pools[i];
        assert_true(pool->dc < conf->n_datacenters);
        o += (size_t)snprintf(buf + o, size - o, "%s%s=", i ? " " : "",
                              conf->datacenters[pool->dc].name);
        if (pool->cname) {
            assert_int_equal(pool->n_addrs, 0);
            o += (size_t)snprintf(buf + o, size - o, ">%s", pool->cname);
        }
        for (size_t k = 0; k < pool->n_addrs; k++) {
            char addr[INET6_ADDRSTRLEN];
            const conf_network_t *a = &pool->addrs[k];
            assert_int_equal(a->prefix, a->family == AF_INET ? 32 : 128);
            assert_non_null(inet_ntop(a->family, a->addr, addr, sizeof(addr)));
            o += (size_t)snprintf(buf + o, size - o, "%s%s", k ? "," : "", addr);
        }
    }
    return buf;
}

/* "GB=eu-west,us-east AU=ap-south" */
static const char *rules_text(const conf_t *conf, const conf_map_rule_t *rules, size_t n,
                              char *buf, size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char order[512];
        o += (size_t)snprintf(buf + o, size - o, "%s%s=%s", i ? " " : "", rules[i].key,
                              order_text(conf, &rules[i].order, order, sizeof(order)));
    }
    return buf;
}

/* "198.51.100.0/24=ap-south 2001:db8:1::/48=eu-west,us-east" */
static const char *networks_text(const conf_t *conf, const conf_service_t *svc, char *buf,
                                 size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < svc->n_networks; i++) {
        char net[64], order[512];
        o += (size_t)snprintf(buf + o, size - o, "%s%s=%s", i ? " " : "",
                              net_text(&svc->networks[i].net, net, sizeof(net)),
                              order_text(conf, &svc->networks[i].order, order, sizeof(order)));
    }
    return buf;
}

/* "country.iso_code|country_code" */
static const char *paths_text(const conf_field_path_t *paths, size_t n, char *buf, size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        assert_non_null(paths[i].part[0]);
        for (size_t k = 0; paths[i].part[k]; k++) {
            assert_true(k < CONF_MAX_FIELD_PATH);
            o += (size_t)snprintf(buf + o, size - o, "%s%s", k ? "." : i ? "|" : "",
                                  paths[i].part[k]);
        }
    }
    return buf;
}

#define TEXT_SIZE 2048
#define assert_order(conf, order, want)                                                    \
    do {                                                                                   \
        char buf_[TEXT_SIZE];                                                              \
        assert_string_equal(order_text(conf, order, buf_, sizeof(buf_)), want);            \
    } while (0)
#define assert_pools(conf, svc, want)                                                      \
    do {                                                                                   \
        char buf_[TEXT_SIZE];                                                              \
        assert_string_equal(pools_text(conf, svc, buf_, sizeof(buf_)), want);              \
    } while (0)
#define assert_rules(conf, rules, n, want)                                                 \
    do {                                                                                   \
        char buf_[TEXT_SIZE];                                                              \
        assert_string_equal(rules_text(conf, rules, n, buf_, sizeof(buf_)), want);         \
    } while (0)
#define assert_networks(conf, svc, want)                                                   \
    do {                                                                                   \
        char buf_[TEXT_SIZE];                                                              \
        assert_string_equal(networks_text(conf, svc, buf_, sizeof(buf_)), want);           \
    } while (0)
#define assert_paths(paths, n, want)                                                       \
    do {                                                                                   \
        char buf_[TEXT_SIZE];                                                              \
        assert_string_equal(paths_text(paths, n, buf_, sizeof(buf_)), want);               \
    } while (0)

/* The field paths used when geoip.fields does not name them. */
static void check_default_fields(const conf_geo_fields_t *f)
{
    assert_paths(f->continent, f->n_continent, "continent.code");
    assert_paths(f->country, f->n_country, "country.iso_code|country_code");
    assert_paths(f->subdivision, f->n_subdivision, "subdivisions.0.iso_code");
    assert_paths(f->latitude, f->n_latitude, "location.latitude|latitude");
    assert_paths(f->longitude, f->n_longitude, "location.longitude|longitude");
}

static conf_t *load_at(const char *name, const char *yaml)
{
    diag_t d;
    conf_t *conf = NULL;
    bool ok;

    diag_init(&d);
    d.quiet = true;
    ok = conf_load_buffer(name, yaml, strlen(yaml), &conf, &d);
    if (!ok || d.count)
        print_messages(&d);
    assert_true(ok);
    assert_int_equal(d.count, 0);
    diag_free(&d);
    return conf;
}

/* Three data centers and a service "x.example.com" whose keys follow at
 * line 4, indented by four. */
#define GEO_HEAD                                                                           \
    "datacenters: {a: {location: [1, 2]}, b: {}, c: {}}\n"                                 \
    "services:\n"                                                                          \
    "  x.example.com:\n"
#define GEO_DCS "(declared: a, b, c)"

/* ------------------------------------------------------------ geo: examples */

/* The example of the task's sketch, every key at once (with ap-south
 * declared, and one default, as the rules require). */
static void test_geo_full_example(void **state)
{
    static const char *yaml =
        "geoip:\n"
        "  database: geoip/GeoLite2-City.mmdb\n"
        "  countries: geoip/countries.csv\n"
        "  fields:\n"
        "    continent: continent.code\n"
        "    country: [country.iso_code, country_code]\n"
        "    subdivision: subdivisions.0.iso_code\n"
        "    latitude: [location.latitude, latitude]\n"
        "    longitude: [location.longitude, longitude]\n"
        "datacenters:\n"
        "  eu-west: {location: [53.35, -6.26], continent: EU, country: IE}\n"
        "  us-east: {location: [38.95, -77.45]}\n"
        "  ap-south: {location: [1.29, 103.85]}\n"
        "services:\n"
        "  www.example.com:\n"
        "    ttl: 300\n"
        "    policy: map\n"
        "    ecs: true\n"
        "    pools:\n"
        "      eu-west: [192.0.2.10, 192.0.2.11, \"2001:db8::10\"]\n"
        "      us-east: [198.51.100.10]\n"
        "      ap-south: {cname: ap.example.net.}\n"
        "    networks: {\"198.51.100.0/24\": [ap-south],\n"
        "               \"2001:db8:1::/48\": [eu-west, us-east]}\n"
        "    networks_file: nets/www.txt\n"
        "    map:\n"
        "      networks: {\"203.0.113.0/24\": [us-east]}\n"
        "      subdivisions: {US-CA: [us-east, ap-south]}\n"
        "      countries: {GB: [eu-west, us-east], AU: [ap-south]}\n"
        "      continents: {EU: [eu-west, us-east], NA: [us-east, eu-west]}\n"
        "      default: [us-east, eu-west, ap-south]\n";
    conf_t *conf;
    const conf_datacenter_t *dc;
    const conf_service_t *svc;
    const conf_field_path_t *sub;

    (void)state;
    conf = load_at("/nonexistent-meridian/etc/m.yaml", yaml);
    assert_string_equal(conf->geoip.database,
                        "/nonexistent-meridian/etc/geoip/GeoLite2-City.mmdb");
    assert_string_equal(conf->geoip.countries, "/nonexistent-meridian/etc/geoip/countries.csv");
    assert_ptr_equal(conf->geoip.conf_file, conf->path);
    assert_int_equal(conf->geoip.conf_line, 2);
    check_default_fields(&conf->geoip.fields);
    sub = &conf->geoip.fields.subdivision[0];
    assert_string_equal(sub->part[0], "subdivisions");
    assert_string_equal(sub->part[1], "0");
    assert_string_equal(sub->part[2], "iso_code");
    assert_null(sub->part[3]);

    assert_int_equal(conf->n_datacenters, 3);
    dc = &conf->datacenters[0];
    assert_string_equal(dc->name, "eu-west");
    assert_true(dc->has_location);
    assert_true(dc->lat == 53.35 && dc->lon == -6.26);
    assert_string_equal(dc->continent, "EU");
    assert_string_equal(dc->country, "IE");
    assert_ptr_equal(dc->conf_file, conf->path);
    assert_int_equal(dc->conf_line, 11);
    dc = &conf->datacenters[1];
    assert_string_equal(dc->name, "us-east");
    assert_true(dc->has_location);
    assert_true(dc->lat == 38.95 && dc->lon == -77.45);
    assert_string_equal(dc->continent, "");
    assert_string_equal(dc->country, "");
    assert_int_equal(dc->conf_line, 12);
    dc = &conf->datacenters[2];
    assert_string_equal(dc->name, "ap-south");
    assert_true(dc->lat == 1.29 && dc->lon == 103.85);

    assert_int_equal(conf->n_services, 1);
    svc = &conf->services[0];
    assert_string_equal(svc->name, "www.example.com.");
    assert_int_equal(svc->ttl, 300);
    assert_int_equal(svc->policy, CONF_POLICY_MAP);
    assert_true(svc->ecs);
    assert_int_equal(svc->n_pools, 3);
    assert_pools(conf, svc,
                 "eu-west=192.0.2.10,192.0.2.11,2001:db8::10 us-east=198.51.100.10 "
                 "ap-south=>ap.example.net.");
    assert_int_equal(svc->pools[0].conf_line, 20);
    assert_int_equal(svc->pools[2].conf_line, 22);
    assert_int_equal(svc->pools[0].addrs[2].family, AF_INET6);
    /* service-level overrides first, then the map's */
    assert_networks(conf, svc,
                    "198.51.100.0/24=ap-south 2001:db8:1::/48=eu-west,us-east "
                    "203.0.113.0/24=us-east");
    assert_int_equal(svc->networks[2].conf_line, 27);
    assert_string_equal(svc->networks_file, "/nonexistent-meridian/etc/nets/www.txt");
    assert_rules(conf, svc->subdivisions, svc->n_subdivisions, "US-CA=us-east,ap-south");
    assert_rules(conf, svc->countries, svc->n_countries, "GB=eu-west,us-east AU=ap-south");
    assert_int_equal(svc->countries[1].conf_line, 29);
    assert_rules(conf, svc->continents, svc->n_continents,
                 "EU=eu-west,us-east NA=us-east,eu-west");
    assert_order(conf, &svc->default_order, "us-east,eu-west,ap-south");
    assert_ptr_equal(svc->conf_file, conf->path);
    assert_int_equal(svc->conf_line, 15);
    conf_free(conf);
}

/* The geo sections of the example in DESIGN.md, without the health-check
 * keys (failover_ttl, check), which belong to the health module. */
static void test_geo_design_example(void **state)
{
    static const char *yaml =
        "geoip:\n"
        "  database: geoip/GeoLite2-City.mmdb\n"
        "  # fields: {country: [country_code], latitude: [latitude]}  # flat layouts\n"
        "datacenters:\n"
        "  eu-west: {location: [53.35, -6.26]}\n"
        "  us-east: {location: [38.95, -77.45]}\n"
        "  ap-south: {location: [1.29, 103.85]}\n"
        "services:\n"
        "  www.example.com:\n"
        "    ttl: 300\n"
        "    policy: nearest             # or: map\n"
        "    pools:\n"
        "      eu-west: [192.0.2.10, 192.0.2.11, \"2001:db8::10\"]\n"
        "      us-east: [198.51.100.10]\n"
        "      ap-south: [203.0.113.10]\n"
        "  api.example.com:\n"
        "    ttl: 60\n"
        "    policy: map                 # most specific match wins\n"
        "    map:\n"
        "      networks: {\"198.51.100.0/24\": [ap-south]}\n"
        "      subdivisions: {US-CA: [us-east, ap-south]}\n"
        "      countries: {GB: [eu-west, us-east], AU: [ap-south]}\n"
        "      continents: {EU: [eu-west, us-east], NA: [us-east, eu-west]}\n"
        "      default: [us-east, eu-west, ap-south]\n"
        "    pools: {eu-west: [192.0.2.20], us-east: [198.51.100.20],\n"
        "            ap-south: [203.0.113.20]}\n";
    conf_t *conf;
    const conf_service_t *svc;

    (void)state;
    conf = load_at("/nonexistent-meridian/etc/m.yaml", yaml);
    assert_string_equal(conf->geoip.database,
                        "/nonexistent-meridian/etc/geoip/GeoLite2-City.mmdb");
    assert_null(conf->geoip.countries);
    check_default_fields(&conf->geoip.fields);
    assert_int_equal(conf->n_datacenters, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_true(conf->datacenters[i].has_location);
        assert_string_equal(conf->datacenters[i].continent, "");
        assert_string_equal(conf->datacenters[i].country, "");
    }
    assert_int_equal(conf->n_services, 2);

    svc = &conf->services[0];
    assert_string_equal(svc->name, "www.example.com.");
    assert_int_equal(svc->ttl, 300);
    assert_int_equal(svc->policy, CONF_POLICY_NEAREST);
    assert_true(svc->ecs);
    assert_pools(conf, svc,
                 "eu-west=192.0.2.10,192.0.2.11,2001:db8::10 us-east=198.51.100.10 "
                 "ap-south=203.0.113.10");
    assert_int_equal(svc->n_networks, 0);
    assert_null(svc->networks_file);
    assert_int_equal(svc->n_subdivisions + svc->n_countries + svc->n_continents, 0);
    /* no default given: the pools in the order written */
    assert_order(conf, &svc->default_order, "eu-west,us-east,ap-south");

    svc = &conf->services[1];
    assert_string_equal(svc->name, "api.example.com.");
    assert_int_equal(svc->ttl, 60);
    assert_int_equal(svc->policy, CONF_POLICY_MAP);
    assert_pools(conf, svc, "eu-west=192.0.2.20 us-east=198.51.100.20 ap-south=203.0.113.20");
    assert_networks(conf, svc, "198.51.100.0/24=ap-south");
    assert_rules(conf, svc->subdivisions, svc->n_subdivisions, "US-CA=us-east,ap-south");
    assert_rules(conf, svc->countries, svc->n_countries, "GB=eu-west,us-east AU=ap-south");
    assert_rules(conf, svc->continents, svc->n_continents,
                 "EU=eu-west,us-east NA=us-east,eu-west");
    assert_order(conf, &svc->default_order, "us-east,eu-west,ap-south");
    assert_int_equal(svc->conf_line, 16);
    conf_free(conf);
}

/* services may come before the data centers they name */
static void test_geo_section_order(void **state)
{
    conf_t *conf;

    (void)state;
    conf = load_ok("services:\n"
                   "  s.example: {pools: {b: [192.0.2.1], a: [192.0.2.2]}, default: [a]}\n"
                   "geoip: {database: /db.mmdb}\n"
                   "datacenters: {a: {}, b: {}}\n");
    assert_int_equal(conf->n_services, 1);
    assert_pools(conf, &conf->services[0], "b=192.0.2.1 a=192.0.2.2");
    assert_order(conf, &conf->services[0].default_order, "a");
    assert_string_equal(conf->geoip.database, "/db.mmdb");
    conf_free(conf);
}

/* ------------------------------------------------------------ geo: geoip */

static void test_geoip(void **state)
{
    char yaml[512];
    conf_t *conf;

    (void)state;
    conf = load_ok("geoip:\n");
    assert_null(conf->geoip.database);
    assert_null(conf->geoip.countries);
    check_default_fields(&conf->geoip.fields);
    conf_free(conf);

    /* a field that is given replaces its default; the others keep theirs */
    conf = load_ok("geoip:\n"
                   "  fields: {country: country_code, latitude: [lat, \"a.b-c.0.d e\"]}\n");
    assert_paths(conf->geoip.fields.country, conf->geoip.fields.n_country, "country_code");
    assert_paths(conf->geoip.fields.latitude, conf->geoip.fields.n_latitude,
                 "lat|a.b-c.0.d e");
    assert_paths(conf->geoip.fields.continent, conf->geoip.fields.n_continent,
                 "continent.code");
    assert_paths(conf->geoip.fields.longitude, conf->geoip.fields.n_longitude,
                 "location.longitude|longitude");
    conf_free(conf);

    /* 8 components are the most */
    conf = load_ok("geoip: {fields: {subdivision: a.b.c.d.e.f.g.h}}\n");
    assert_paths(conf->geoip.fields.subdivision, conf->geoip.fields.n_subdivision,
                 "a.b.c.d.e.f.g.h");
    assert_null(conf->geoip.fields.subdivision[0].part[8]);
    conf_free(conf);
    snprintf(yaml, sizeof(yaml), "geoip: {fields: {subdivision: a.b.c.d.e.f.g.h.i}}\n");
    check_errors(yaml, NAME ":1:31: geoip.fields.subdivision: expected a field path such as "
                            "\"country.iso_code\" (1 to 8 components, none empty), got "
                            "\"a.b.c.d.e.f.g.h.i\"");

    check_errors("geoip:\n"
                 "  database: \"\"\n"
                 "  countries: [a]\n"
                 "  fields:\n"
                 "    country: []\n"
                 "    continent: ~\n"
                 "    latitude: a..b\n"
                 "    longitude: [a, .b, c., [d]]\n"
                 "    region: x\n"
                 "  field: {}\n",
                 NAME ":2:13: geoip.database: expected a file name, got \"\"",
                 NAME ":3:14: geoip.countries: expected a file name, got a list",
                 NAME ":5:14: geoip.fields.country: expected a field path or a non-empty list "
                      "of field paths, got an empty list",
                 NAME ":6:16: geoip.fields.continent: expected a field path or a non-empty "
                      "list of field paths, got an empty value",
                 NAME ":7:15: geoip.fields.latitude: expected a field path such as "
                      "\"country.iso_code\" (1 to 8 components, none empty), got \"a..b\"",
                 NAME ":8:20: geoip.fields.longitude[1]: expected a field path such as "
                      "\"country.iso_code\" (1 to 8 components, none empty), got \".b\"",
                 NAME ":8:24: geoip.fields.longitude[2]: expected a field path such as "
                      "\"country.iso_code\" (1 to 8 components, none empty), got \"c.\"",
                 NAME ":8:28: geoip.fields.longitude[3]: expected a field path such as "
                      "\"country.iso_code\" (1 to 8 components, none empty), got a list",
                 NAME ":9:5: geoip.fields: unknown key \"region\" (expected one of: continent, "
                      "country, subdivision, latitude, longitude)",
                 NAME ":10:3: geoip: unknown key \"field\" (expected one of: database, "
                      "countries, fields)");
    check_errors("geoip: [a]\n", NAME ":1:8: geoip: expected a mapping, got a list");
}

/* ------------------------------------------------------------ geo: datacenters */

static void test_datacenters(void **state)
{
    static const struct {
        const char *text;
        double lat, lon;
    } good[] = {
        {"[90, 180]", 90, 180},        {"[-90, -180]", -90, -180},
        {"[0, 0]", 0, 0},              {"[+90.000, -180.]", 90, -180},
        {"[.5, \"-0\"]", 0.5, 0},      {"[\"53.35\", -6.26]", 53.35, -6.26},
        {"[-89.999999, 179.999999]", -89.999999, 179.999999},
    };
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"[90.0001, 0]", "[0]: expected a latitude from -90 to 90, got \"90.0001\""},
        {"[-91, 0]", "[0]: expected a latitude from -90 to 90, got \"-91\""},
        {"[0, 180.5]", "[1]: expected a longitude from -180 to 180, got \"180.5\""},
        {"[0, -181]", "[1]: expected a longitude from -180 to 180, got \"-181\""},
        {"[1e1, 0]", "[0]: expected a latitude from -90 to 90, got \"1e1\""},
        {"[nan, 0]", "[0]: expected a latitude from -90 to 90, got \"nan\""},
        {"[0, inf]", "[1]: expected a longitude from -180 to 180, got \"inf\""},
        {"[0x10, 0]", "[0]: expected a latitude from -90 to 90, got \"0x10\""},
        {"[., 0]", "[0]: expected a latitude from -90 to 90, got \".\""},
        {"[-, 0]", "[0]: expected a latitude from -90 to 90, got \"-\""},
        {"[\"\", 0]", "[0]: expected a latitude from -90 to 90, got \"\""},
        {"[~, 0]", "[0]: expected a latitude from -90 to 90, got an empty value"},
        {"[1]", ": expected a list of two numbers, [latitude, longitude], got a list"},
        {"[1, 2, 3]", ": expected a list of two numbers, [latitude, longitude], got a list"},
        {"[]", ": expected a list of two numbers, [latitude, longitude], got an empty list"},
        {"12", ": expected a list of two numbers, [latitude, longitude], got \"12\""},
    };
    char yaml[256], msg[256];
    conf_t *conf;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(yaml, sizeof(yaml), "datacenters:\n  dc1: {location: %s}\n", good[i].text);
        conf = load_ok(yaml);
        assert_true(conf->datacenters[0].has_location);
        if (conf->datacenters[0].lat != good[i].lat || conf->datacenters[0].lon != good[i].lon)
            print_message("%s: got %g, %g\n", good[i].text, conf->datacenters[0].lat,
                          conf->datacenters[0].lon);
        assert_true(conf->datacenters[0].lat == good[i].lat);
        assert_true(conf->datacenters[0].lon == good[i].lon);
        conf_free(conf);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* the message points at the list (column 19) or at an element */
        size_t col = 19;
        if (bad[i].msg[0] == '[') {
            const char *p = bad[i].msg[1] == '0' ? bad[i].text + 1
                                                 : strchr(bad[i].text, ',') + 2;
            col += (size_t)(p - bad[i].text);
        }
        snprintf(yaml, sizeof(yaml), "datacenters:\n  dc1: {location: %s}\n", bad[i].text);
        snprintf(msg, sizeof(msg), NAME ":2:%zu: datacenters.dc1.location%s", col, bad[i].msg);
        check_errors(yaml, msg);
    }

    /* names, continents, countries; no details at all is fine */
    conf = load_ok("datacenters:\n"
                   "  a_b.c-D9: {continent: eu, country: ie}\n"
                   "  x:\n"
                   "  y: {}\n"
                   "  z: {continent: AF}\n");
    assert_int_equal(conf->n_datacenters, 4);
    assert_string_equal(conf->datacenters[0].name, "a_b.c-D9");
    assert_string_equal(conf->datacenters[0].continent, "EU");
    assert_string_equal(conf->datacenters[0].country, "IE");
    assert_false(conf->datacenters[0].has_location);
    assert_string_equal(conf->datacenters[1].name, "x");
    assert_false(conf->datacenters[1].has_location);
    assert_string_equal(conf->datacenters[1].continent, "");
    assert_string_equal(conf->datacenters[3].continent, "AF");
    conf_free(conf);
    for (size_t i = 0; i < 7; i++) {
        static const char *const codes[] = {"AF", "an", "As", "EU", "NA", "oc", "SA"};
        snprintf(yaml, sizeof(yaml), "datacenters: {a: {continent: %s}}\n", codes[i]);
        conf = load_ok(yaml);
        assert_int_equal(strlen(conf->datacenters[0].continent), 2);
        conf_free(conf);
    }

    check_errors("datacenters:\n"
                 "  eu west: {}\n"
                 "  \"\": {}\n"
                 "  g: {continent: XX, country: IRL}\n"
                 "  h: {country: \"1a\", continent: [EU], colour: red}\n"
                 "  g: {}\n"
                 "  i: []\n"
                 "  ? [j]\n"
                 "  : {}\n"
                 "  k: {continent: \"E\"}\n",
                 NAME ":2:3: datacenters: expected a data center name (1 to 63 letters, digits, "
                      "'_', '.' or '-'), got \"eu west\"",
                 NAME ":3:3: datacenters: expected a data center name (1 to 63 letters, digits, "
                      "'_', '.' or '-'), got \"\"",
                 NAME ":4:18: datacenters.g.continent: expected a continent code: AF, AN, AS, "
                      "EU, NA, OC or SA, got \"XX\"",
                 NAME ":4:31: datacenters.g.country: expected a two-letter country code such "
                      "as \"IE\", got \"IRL\"",
                 NAME ":5:16: datacenters.h.country: expected a two-letter country code such "
                      "as \"IE\", got \"1a\"",
                 NAME ":5:33: datacenters.h.continent: expected a continent code: AF, AN, AS, "
                      "EU, NA, OC or SA, got a list",
                 NAME ":5:39: datacenters.h: unknown key \"colour\" (expected one of: location, "
                      "continent, country)",
                 NAME ":6:3: datacenters: duplicate data center \"g\" (first given at line 4)",
                 NAME ":7:6: datacenters.i: expected a mapping, got an empty list",
                 NAME ":8:5: datacenters: expected a data center name (1 to 63 letters, "
                      "digits, '_', '.' or '-'), got a list",
                 NAME ":10:18: datacenters.k.continent: expected a continent code: AF, AN, AS, "
                      "EU, NA, OC or SA, got \"E\"");
    check_errors("datacenters: [a]\n",
                 NAME ":1:14: datacenters: expected a mapping of data center names to their "
                      "details, got a list");

    /* names of 63 bytes are fine, 64 are not */
    {
        char name[70];
        memset(name, 'n', 64);
        name[63] = '\0';
        snprintf(yaml, sizeof(yaml), "datacenters: {%s: {}}\n", name);
        conf = load_ok(yaml);
        assert_string_equal(conf->datacenters[0].name, name);
        conf_free(conf);
        name[63] = 'n';
        name[64] = '\0';
        snprintf(yaml, sizeof(yaml), "datacenters: {%s: {}}\n", name);
        snprintf(msg, sizeof(msg),
                 NAME ":1:15: datacenters: expected a data center name (1 to 63 letters, "
                      "digits, '_', '.' or '-'), got \"%.63s...\"",
                 name);
        check_errors(yaml, msg);
    }
}

/* A data-center order is a uint8_t: 64 are the most. */
static void test_datacenter_limit(void **state)
{
    char yaml[4096];
    size_t n;
    conf_t *conf;

    (void)state;
    n = (size_t)snprintf(yaml, sizeof(yaml), "datacenters:\n");
    for (unsigned i = 0; i < 64; i++)
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "  dc%u: {}\n", i);
    /* a service may use them all, in any order */
    n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "services:\n  s.example:\n    pools:\n");
    for (unsigned i = 0; i < 64; i++)
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "      dc%u: [192.0.2.%u]\n", i, i);
    n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "    default: [dc63");
    for (unsigned i = 0; i < 63; i++)
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, ", dc%u", i);
    snprintf(yaml + n, sizeof(yaml) - n, "]\n");
    conf = load_ok(yaml);
    assert_int_equal(conf->n_datacenters, 64);
    assert_string_equal(conf->datacenters[63].name, "dc63");
    assert_int_equal(conf->services[0].n_pools, 64);
    assert_int_equal(conf->services[0].pools[63].dc, 63);
    assert_int_equal(conf->services[0].default_order.n, 64);
    assert_int_equal(conf->services[0].default_order.dc[0], 63);
    assert_int_equal(conf->services[0].default_order.dc[63], 62);
    conf_free(conf);

    n = (size_t)snprintf(yaml, sizeof(yaml), "datacenters:\n");
    for (unsigned i = 0; i < 66; i++)
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "  dc%u: {}\n", i);
    check_errors(yaml, NAME ":66:3: datacenters: more than 64 data centers");
}

/* ------------------------------------------------------------ geo: services */

static void test_services(void **state)
{
    char yaml[1024], msg[1024], name[300];
    conf_t *conf;
    size_t n = 0;

    (void)state;
    conf = load_ok("datacenters: {a: {}}\n"
                   "services:\n"
                   "  WWW.Example.COM: {pools: {a: [192.0.2.1]}}\n"
                   "  b.example.: {pools: {a: [192.0.2.1]}, ttl: 0, ecs: false, policy: nearest,"
                   " fallback: listed}\n"
                   "  _svc-1.x: {pools: {a: [192.0.2.1]}, ttl: 2147483647, ecs: off}\n"
                   "  top: {pools: {a: [192.0.2.1]}}\n");
    assert_int_equal(conf->n_services, 4);
    assert_string_equal(conf->services[0].name, "www.example.com.");
    assert_int_equal(conf->services[0].ttl, 300);
    assert_true(conf->services[0].ecs);
    assert_int_equal(conf->services[0].policy, CONF_POLICY_NEAREST);
    assert_int_equal(conf->services[0].fallback, CONF_FALLBACK_ANY);
    assert_int_equal(conf->services[1].fallback, CONF_FALLBACK_LISTED);
    assert_int_equal(conf->services[0].conf_line, 3);
    assert_string_equal(conf->services[1].name, "b.example.");
    assert_int_equal(conf->services[1].ttl, 0);
    assert_false(conf->services[1].ecs);
    assert_string_equal(conf->services[2].name, "_svc-1.x.");
    assert_int_equal(conf->services[2].ttl, 2147483647);
    assert_false(conf->services[2].ecs);
    /* whether it lies in a zone is the zone compiler's question */
    assert_string_equal(conf->services[3].name, "top.");
    conf_free(conf);

    conf = load_ok("services:\n");
    assert_int_equal(conf->n_services, 0);
    conf_free(conf);

    check_errors("datacenters: {a: {}}\n"
                 "services:\n"
                 "  www.example.com: {pools: {a: [192.0.2.1]}}\n"
                 "  WWW.EXAMPLE.COM.: {pools: {a: [192.0.2.1]}}\n"
                 "  a..b: {}\n"
                 "  .: {}\n"
                 "  .a: {}\n"
                 "  \"a b\": {}\n"
                 "  \"@\": {}\n"
                 "  \"*.example\": {}\n"
                 "  ? [x]\n"
                 "  : {}\n"
                 "  y.example:\n"
                 "  z.example: {}\n"
                 "  w.example: {pools: {}}\n"
                 "  v.example: {pools: ~, ttl: -1, policy: Map, ecs: maybe, chek: web}\n"
                 "  u.example: {pools: [a], ttl: 2147483648, networks_file: \"\"}\n"
                 "  t.example: [a]\n",
                 NAME ":4:3: services: duplicate service \"WWW.EXAMPLE.COM.\" (first given at "
                      "line 3)",
                 NAME ":5:3: services: expected a domain name such as \"www.example.com\", got "
                      "\"a..b\"",
                 NAME ":6:3: services: expected a domain name such as \"www.example.com\", got "
                      "\".\"",
                 NAME ":7:3: services: expected a domain name such as \"www.example.com\", got "
                      "\".a\"",
                 NAME ":8:3: services: expected a domain name such as \"www.example.com\", got "
                      "\"a b\"",
                 NAME ":9:3: services: expected a domain name such as \"www.example.com\", got "
                      "\"@\"",
                 NAME ":10:3: services: expected a domain name such as \"www.example.com\", got "
                      "\"*.example\"",
                 NAME ":11:5: services: expected a domain name such as \"www.example.com\", got "
                      "a list",
                 NAME ":13:13: services.y.example: missing required key \"pools\"",
                 NAME ":14:14: services.z.example: missing required key \"pools\"",
                 NAME ":15:22: services.w.example.pools: expected a non-empty mapping of data "
                      "centers to addresses, got an empty mapping",
                 NAME ":16:22: services.v.example.pools: expected a non-empty mapping of data "
                      "centers to addresses, got an empty value",
                 NAME ":16:30: services.v.example.ttl: expected an integer from 0 to 2147483647, "
                      "got \"-1\"",
                 NAME ":16:42: services.v.example.policy: expected nearest or map, got \"Map\"",
                 NAME ":16:52: services.v.example.ecs: expected true or false, got \"maybe\"",
                 NAME ":16:59: services.v.example: unknown key \"chek\" (expected one of: ttl, "
                      "policy, fallback, ecs, pools, networks, networks_file, map, default, "
                      "check, min_up, failover_ttl)",
                 NAME ":17:22: services.u.example.pools: expected a non-empty mapping of data "
                      "centers to addresses, got a list",
                 NAME ":17:32: services.u.example.ttl: expected an integer from 0 to 2147483647, "
                      "got \"2147483648\"",
                 NAME ":17:59: services.u.example.networks_file: expected a file name, got \"\"",
                 NAME ":18:14: services.t.example: expected a mapping, got a list");
    check_errors("datacenters: {a: {}}\n"
                 "services:\n"
                 "  x.example: {pools: {a: [192.0.2.1]}, fallback: nearest}\n"
                 "  y.example: {pools: {a: [192.0.2.1]}, fallback: [any]}\n",
                 NAME ":3:50: services.x.example.fallback: expected any or listed, got "
                      "\"nearest\"",
                 NAME ":4:50: services.y.example.fallback: expected any or listed, got a list");
    check_errors("services: [a]\n",
                 NAME ":1:11: services: expected a mapping of service names to services, got a "
                      "list");

    /* labels of 63 bytes; names of 254 bytes with the final dot (255 on
     * the wire) */
    memset(name, 'l', 63);
    name[63] = '\0';
    snprintf(yaml, sizeof(yaml), "datacenters: {a: {}}\nservices:\n  %s.example: "
             "{pools: {a: [192.0.2.1]}}\n", name);
    conf = load_ok(yaml);
    assert_int_equal(strlen(conf->services[0].name), 72);
    conf_free(conf);
    snprintf(yaml, sizeof(yaml), "services:\n  l%s.example: {}\n", name);
    snprintf(msg, sizeof(msg), NAME ":2:3: services: expected a domain name such as "
             "\"www.example.com\", got \"l%.62s...\"", name);
    check_errors(yaml, msg);
    while (n < 253) {
        size_t chunk = 253 - n > 62 ? 62 : 253 - n - 1;
        memset(name + n, 'a', chunk);
        n += chunk;
        name[n++] = '.';
    }
    name[n - 1] = 'a';
    name[n] = '\0'; /* 253 bytes, 254 with the final dot */
    snprintf(yaml, sizeof(yaml), "datacenters: {a: {}}\nservices:\n  %s: "
             "{pools: {a: [192.0.2.1]}, ttl: x}\n", name);
    /* the whole name appears in the key path */
    snprintf(msg, sizeof(msg), NAME ":3:%zu: services.%s.ttl: expected an integer from 0 "
             "to 2147483647, got \"x\"", n + 36, name);
    check_errors(yaml, msg);
    name[n] = 'a';
    name[n + 1] = '\0'; /* one more */
    snprintf(yaml, sizeof(yaml), "services:\n  %s: {}\n", name);
    snprintf(msg, sizeof(msg), NAME ":2:3: services: expected a domain name such as "
             "\"www.example.com\", got \"%.63s...\"", name);
    check_errors(yaml, msg);
}

static void test_pools(void **state)
{
    conf_t *conf;

    (void)state;
    conf = load_ok(GEO_HEAD "    pools:\n"
                            "      a: [\"2001:DB8::1\", 192.0.2.1, \"::ffff:192.0.2.1\", \"::\"]\n"
                            "      b: {cname: Other.Example.NET}\n"
                            "      c: {addresses: [\"2001:db8::2\"]}\n");
    assert_pools(conf, &conf->services[0],
                 "a=2001:db8::1,192.0.2.1,::ffff:192.0.2.1,:: b=>Other.Example.NET. "
                 "c=2001:db8::2");
    assert_int_equal(conf->services[0].pools[0].addrs[2].family, AF_INET6);
    assert_int_equal(conf->services[0].pools[0].n_addrs, 4);
    conf_free(conf);

    check_errors(GEO_HEAD
                 "    pools:\n"
                 "      a: [192.0.2.1, 192.0.2.1, \"::1\", \"0::1\", 192.0.2.0/24, x, [y], \"\"]\n"
                 "      b: {}\n"
                 "      c: 192.0.2.1\n"
                 "      d: [192.0.2.1]\n"
                 "      a: [192.0.2.1]\n"
                 "      ? [a]\n"
                 "      : []\n",
                 NAME ":5:22: services.x.example.com.pools.a[1]: duplicate address "
                      "\"192.0.2.1\" (first at [0])",
                 NAME ":5:40: services.x.example.com.pools.a[3]: duplicate address \"0::1\" "
                      "(first at [2])",
                 NAME ":5:48: services.x.example.com.pools.a[4]: expected an IPv4 or IPv6 "
                      "address such as \"192.0.2.1\" or \"2001:db8::1\", got \"192.0.2.0/24\"",
                 NAME ":5:62: services.x.example.com.pools.a[5]: expected an IPv4 or IPv6 "
                      "address such as \"192.0.2.1\" or \"2001:db8::1\", got \"x\"",
                 NAME ":5:65: services.x.example.com.pools.a[6]: expected an IPv4 or IPv6 "
                      "address such as \"192.0.2.1\" or \"2001:db8::1\", got a list",
                 NAME ":5:70: services.x.example.com.pools.a[7]: expected an IPv4 or IPv6 "
                      "address such as \"192.0.2.1\" or \"2001:db8::1\", got \"\"",
                 NAME ":6:10: services.x.example.com.pools.b: missing addresses or cname",
                 NAME ":7:10: services.x.example.com.pools.c: expected a list of addresses or "
                      "a mapping with cname, got \"192.0.2.1\"",
                 NAME ":8:7: services.x.example.com.pools: unknown data center \"d\" " GEO_DCS,
                 NAME ":9:7: services.x.example.com.pools: duplicate data center \"a\" (first "
                      "given at line 5)",
                 NAME ":10:9: services.x.example.com.pools: expected a data center name, got "
                      "a list");
    check_errors(GEO_HEAD
                 "    pools:\n"
                 "      a: {cname: c.example, addresses: [192.0.2.1]}\n"
                 "      b: {cname: \"a b\", cnam: x}\n"
                 "      c: {cname: .}\n"
                 "      c.x: {addresses: []}\n",
                 NAME ":5:10: services.x.example.com.pools.a: give either addresses or cname, "
                      "not both",
                 NAME ":6:18: services.x.example.com.pools.b.cname: expected a domain name such "
                      "as \"www.example.net.\", got \"a b\"",
                 NAME ":6:25: services.x.example.com.pools.b: unknown key \"cnam\" (expected one "
                      "of: addresses, cname)",
                 NAME ":7:18: services.x.example.com.pools.c.cname: expected a domain name such "
                      "as \"www.example.net.\", got \".\"",
                 NAME ":8:7: services.x.example.com.pools: unknown data center \"c.x\" " GEO_DCS);
    check_errors(GEO_HEAD "    pools: {c: {addresses: []}, b: []}\n",
                 NAME ":4:28: services.x.example.com.pools.c.addresses: expected a non-empty "
                      "list of addresses, got an empty list",
                 NAME ":4:36: services.x.example.com.pools.b: expected a non-empty list of "
                      "addresses, got an empty list");
}

/* ------------------------------------------------------------ geo: rules */

static void test_policy_and_map(void **state)
{
    conf_t *conf;
    const conf_service_t *svc;

    (void)state;
    /* keys are stored upper case; sections come in any order */
    conf = load_ok(GEO_HEAD "    map:\n"
                            "      continents: {eu: [a], Na: [b, a], AF: [c]}\n"
                            "      countries: {gb: [a, b], Au: [c]}\n"
                            "      subdivisions: {us-ca: [b], GB-ENG: [a], fr-75: [c], "
                            "Us-1: [a]}\n"
                            "    pools: {a: [192.0.2.1], b: [192.0.2.2], c: [192.0.2.3]}\n"
                            "    policy: map\n");
    svc = &conf->services[0];
    assert_int_equal(svc->policy, CONF_POLICY_MAP);
    assert_rules(conf, svc->continents, svc->n_continents, "EU=a NA=b,a AF=c");
    assert_rules(conf, svc->countries, svc->n_countries, "GB=a,b AU=c");
    assert_rules(conf, svc->subdivisions, svc->n_subdivisions,
                 "US-CA=b GB-ENG=a FR-75=c US-1=a");
    assert_int_equal(svc->subdivisions[1].conf_line, 7);
    assert_order(conf, &svc->default_order, "a,b,c");
    conf_free(conf);

    /* an empty map is a map: everybody gets the default */
    conf = load_ok(GEO_HEAD "    {policy: map, map: ~, pools: {b: [192.0.2.2]}}\n");
    assert_int_equal(conf->services[0].policy, CONF_POLICY_MAP);
    assert_order(conf, &conf->services[0].default_order, "b");
    conf_free(conf);

    check_errors(GEO_HEAD "    pools: {a: [192.0.2.1]}\n"
                          "    map: {countries: {GB: [a]}}\n",
                 NAME ":5:10: services.x.example.com.map: only allowed with policy: map (the "
                      "policy is nearest)");
    check_errors(GEO_HEAD "    pools: {a: [192.0.2.1]}\n"
                          "    map: {}\n"
                          "    policy: nearest\n",
                 NAME ":5:10: services.x.example.com.map: only allowed with policy: map (the "
                      "policy is nearest)");
    check_errors(GEO_HEAD "    pools: {a: [192.0.2.1]}\n"
                          "    policy: map\n",
                 NAME ":5:13: services.x.example.com.policy: policy map needs a map section");
    /* a misspelt policy is one mistake, not two */
    check_errors(GEO_HEAD "    {pools: {a: [192.0.2.1]}, map: {countries: {GB: [a]}}, "
                          "policy: Map}\n",
                 NAME ":4:68: services.x.example.com.policy: expected nearest or map, got "
                      "\"Map\"");

    check_errors(GEO_HEAD
                 "    policy: map\n"
                 "    pools: {a: [192.0.2.1], b: [192.0.2.2]}\n"
                 "    map:\n"
                 "      countries: {gb: [a], GB: [b], GBR: [a], \"G1\": [a], ~: [a]}\n"
                 "      subdivisions: {US-: [a], US-ABCD: [a], USA-CA: [a], US_CA: [a], "
                 "US-C_: [a]}\n"
                 "      continents: {XX: [a], EU: [], NA: a, AS: [a, a, b, c, d, [e]], "
                 "OC: {a: 1}}\n"
                 "      regions: {}\n",
                 NAME ":7:28: services.x.example.com.map.countries: duplicate key \"GB\" (first "
                      "given at line 7)",
                 NAME ":7:37: services.x.example.com.map.countries: expected a two-letter "
                      "country code such as \"GB\", got \"GBR\"",
                 NAME ":7:47: services.x.example.com.map.countries: expected a two-letter "
                      "country code such as \"GB\", got \"G1\"",
                 NAME ":7:58: services.x.example.com.map.countries: expected a two-letter "
                      "country code such as \"GB\", got an empty value",
                 NAME ":8:22: services.x.example.com.map.subdivisions: expected a subdivision "
                      "code such as \"US-CA\" (country, '-', 1 to 3 letters or digits), got "
                      "\"US-\"",
                 NAME ":8:32: services.x.example.com.map.subdivisions: expected a subdivision "
                      "code such as \"US-CA\" (country, '-', 1 to 3 letters or digits), got "
                      "\"US-ABCD\"",
                 NAME ":8:46: services.x.example.com.map.subdivisions: expected a subdivision "
                      "code such as \"US-CA\" (country, '-', 1 to 3 letters or digits), got "
                      "\"USA-CA\"",
                 NAME ":8:59: services.x.example.com.map.subdivisions: expected a subdivision "
                      "code such as \"US-CA\" (country, '-', 1 to 3 letters or digits), got "
                      "\"US_CA\"",
                 NAME ":8:71: services.x.example.com.map.subdivisions: expected a subdivision "
                      "code such as \"US-CA\" (country, '-', 1 to 3 letters or digits), got "
                      "\"US-C_\"",
                 NAME ":9:20: services.x.example.com.map.continents: expected a continent "
                      "code: AF, AN, AS, EU, NA, OC or SA, got \"XX\"",
                 NAME ":9:33: services.x.example.com.map.continents.EU: expected a non-empty "
                      "list of data centers, got an empty list",
                 NAME ":9:41: services.x.example.com.map.continents.NA: expected a non-empty "
                      "list of data centers, got \"a\"",
                 NAME ":9:52: services.x.example.com.map.continents.AS[1]: data center \"a\" is "
                      "listed twice (first at [0])",
                 NAME ":9:58: services.x.example.com.map.continents.AS[3]: data center \"c\" has "
                      "no pool in this service",
                 NAME ":9:61: services.x.example.com.map.continents.AS[4]: unknown data center "
                      "\"d\" " GEO_DCS,
                 NAME ":9:64: services.x.example.com.map.continents.AS[5]: expected a data "
                      "center name, got a list",
                 NAME ":9:74: services.x.example.com.map.continents.OC: expected a non-empty "
                      "list of data centers, got a mapping",
                 NAME ":10:7: services.x.example.com.map: unknown key \"regions\" (expected one "
                      "of: networks, subdivisions, countries, continents, default)");
    check_errors(GEO_HEAD "    {policy: map, pools: {a: [192.0.2.1]}, map: {countries: [GB]}}\n",
                 NAME ":4:61: services.x.example.com.map.countries: expected a mapping of codes "
                      "to lists of data centers, got a list");
}

static void test_defaults_orders(void **state)
{
    conf_t *conf;

    (void)state;
    /* nearest: the order for clients without a location */
    conf = load_ok(GEO_HEAD "    {pools: {a: [192.0.2.1], b: [192.0.2.2]}, default: [b, a]}\n");
    assert_int_equal(conf->services[0].policy, CONF_POLICY_NEAREST);
    assert_order(conf, &conf->services[0].default_order, "b,a");
    conf_free(conf);
    /* map: either place, and a default need not name every pool */
    conf = load_ok(GEO_HEAD "    {policy: map, map: {}, pools: {a: [192.0.2.1], b: [192.0.2.2]},"
                            " default: [b]}\n");
    assert_order(conf, &conf->services[0].default_order, "b");
    conf_free(conf);
    conf = load_ok(GEO_HEAD "    {policy: map, map: {default: [b]}, pools: {a: [192.0.2.1], "
                            "b: [192.0.2.2]}}\n");
    assert_order(conf, &conf->services[0].default_order, "b");
    conf_free(conf);

    check_errors(GEO_HEAD "    default: [b, a]\n"
                          "    policy: map\n"
                          "    pools: {a: [192.0.2.1], b: [192.0.2.2]}\n"
                          "    map: {default: [a, b]}\n",
                 NAME ":4:14: services.x.example.com.default: give either this or map.default "
                      "(line 7), not both");
    check_errors(GEO_HEAD "    {pools: {a: [192.0.2.1]}, default: []}\n",
                 NAME ":4:40: services.x.example.com.default: expected a non-empty list of "
                      "data centers, got an empty list");
    check_errors(GEO_HEAD "    {pools: {a: [192.0.2.1]}, default: [b, z, a, a]}\n",
                 NAME ":4:41: services.x.example.com.default[0]: data center \"b\" has no pool "
                      "in this service",
                 NAME ":4:44: services.x.example.com.default[1]: unknown data center \"z\" "
                      GEO_DCS,
                 NAME ":4:50: services.x.example.com.default[3]: data center \"a\" is listed "
                      "twice (first at [2])");
    /* the declared names are listed up to a limit */
    {
        char yaml[4096], msg[1024];
        size_t n = (size_t)snprintf(yaml, sizeof(yaml), "datacenters:\n");
        for (unsigned i = 0; i < 40; i++)
            n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "  datacenter-%02u: {}\n", i);
        snprintf(yaml + n, sizeof(yaml) - n, "services: {s: {pools: {nowhere: []}}}\n");
        snprintf(msg, sizeof(msg),
                 NAME ":42:24: services.s.pools: unknown data center \"nowhere\" (declared: "
                      "datacenter-00, datacenter-01, datacenter-02, datacenter-03, "
                      "datacenter-04, datacenter-05, datacenter-06, datacenter-07, "
                      "datacenter-08, datacenter-09, datacenter-10, datacenter-11, "
                      "datacenter-12, datacenter-13, datacenter-14, datacenter-15, "
                      "datacenter-16, datacenter-17, datacenter-18, datacenter-19, "
                      "datacenter-20, datacenter-21, datacenter-22, datacenter-23, "
                      "datacenter-24, datacenter-25, ...)");
        check_errors(yaml, msg);
    }
    check_errors("services: {s: {pools: {a: [192.0.2.1]}}}\n",
                 NAME ":1:24: services.s.pools: unknown data center \"a\" (declared: none)");
}

static void test_networks(void **state)
{
    conf_t *conf;

    (void)state;
    conf = load_ok(GEO_HEAD "    pools: {a: [192.0.2.1], b: [\"2001:db8::1\"]}\n"
                            "    policy: map\n"
                            "    map:\n"
                            "      networks: {\"2001:DB8:0:1::/64\": [b], 10.0.0.0/8: [a, b]}\n"
                            "    networks:\n"
                            "      198.51.100.0/24: [a]\n"
                            "      \"2001:db8::/32\": [b, a]\n"
                            "      0.0.0.0/0: [b]\n"
                            "      \"::/0\": [a]\n"
                            "      192.0.2.1: [a]\n"
                            "      \"2001:db8::1\": [b]\n"
                            "      10.0.0.0/9: [a]\n");
    /* service-level first, then the map's; a bare address is a full prefix */
    assert_networks(conf, &conf->services[0],
                    "198.51.100.0/24=a 2001:db8::/32=b,a 0.0.0.0/0=b ::/0=a 192.0.2.1/32=a "
                    "2001:db8::1/128=b 10.0.0.0/9=a 2001:db8:0:1::/64=b 10.0.0.0/8=a,b");
    assert_int_equal(conf->services[0].networks[0].conf_line, 9);
    assert_int_equal(conf->services[0].networks[7].conf_line, 7);
    conf_free(conf);

    /* nearest services have overrides too */
    conf = load_ok(GEO_HEAD "    {pools: {a: [192.0.2.1]}, networks: {192.0.2.0/24: [a]}, "
                            "networks_file: /n.txt}\n");
    assert_networks(conf, &conf->services[0], "192.0.2.0/24=a");
    assert_string_equal(conf->services[0].networks_file, "/n.txt");
    conf_free(conf);

    check_errors(GEO_HEAD
                 "    pools: {a: [192.0.2.1], b: [\"::1\"]}\n"
                 "    policy: map\n"
                 "    networks:\n"
                 "      10.0.0.1/8: [a]\n"
                 "      10.0.0.0/33: [a]\n"
                 "      \"::/129\": [a]\n"
                 "      \"::1/0\": [b]\n"
                 "      x: [a]\n"
                 "      10.0.0.0/08: [a]\n"
                 "      10.0.0.0/: [a]\n"
                 "      10.0.0.0/1000: [a]\n"
                 "      \"2001:db8::/32\": [a]\n"
                 "      \"2001:DB8::/32\": [b]\n"
                 "      \"2001:db8:1::/48\": [c]\n"
                 "      \"[::1]/128\": [a]\n"
                 "    map:\n"
                 "      networks: {\"2001:db8:0::/32\": [a], 192.0.2.0/24: a}\n",
                 NAME ":7:7: services.x.example.com.networks: \"10.0.0.1/8\" has bits set past "
                      "the prefix length; the network is 10.0.0.0/8",
                 NAME ":8:7: services.x.example.com.networks: prefix length out of range in "
                      "\"10.0.0.0/33\" (0 to 32 for IPv4)",
                 NAME ":9:7: services.x.example.com.networks: prefix length out of range in "
                      "\"::/129\" (0 to 128 for IPv6)",
                 NAME ":10:7: services.x.example.com.networks: \"::1/0\" has bits set past the "
                      "prefix length; the network is ::/0",
                 NAME ":11:7: services.x.example.com.networks: expected a network such as "
                      "\"192.0.2.0/24\" or \"2001:db8::/32\", got \"x\"",
                 NAME ":12:7: services.x.example.com.networks: expected a network such as "
                      "\"192.0.2.0/24\" or \"2001:db8::/32\", got \"10.0.0.0/08\"",
                 NAME ":13:7: services.x.example.com.networks: expected a network such as "
                      "\"192.0.2.0/24\" or \"2001:db8::/32\", got \"10.0.0.0/\"",
                 NAME ":14:7: services.x.example.com.networks: prefix length out of range in "
                      "\"10.0.0.0/1000\" (0 to 32 for IPv4)",
                 NAME ":16:7: services.x.example.com.networks: duplicate network 2001:db8::/32 "
                      "(first given at line 15)",
                 NAME ":17:27: services.x.example.com.networks.2001:db8:1::/48[0]: data center "
                      "\"c\" has no pool in this service",
                 NAME ":18:7: services.x.example.com.networks: expected a network such as "
                      "\"192.0.2.0/24\" or \"2001:db8::/32\", got \"[::1]/128\"",
                 NAME ":20:18: services.x.example.com.map.networks: duplicate network "
                      "2001:db8::/32 (first given at line 15)",
                 NAME ":20:56: services.x.example.com.map.networks.192.0.2.0/24: expected a "
                      "non-empty list of data centers, got \"a\"");
    check_errors(GEO_HEAD "    {pools: {a: [192.0.2.1]}, networks: [192.0.2.0/24]}\n",
                 NAME ":4:41: services.x.example.com.networks: expected a mapping of networks "
                      "to lists of data centers, got a list");
}

/* ------------------------------------------------------------ health */

static void test_state_file(void **state)
{
    char cwd[PATH_MAX], want[PATH_MAX + 32];
    conf_t *conf;

    (void)state;
    conf = load_at("/nonexistent-meridian/etc/m.yaml",
                   "server:\n  state_file: ../var/state\n");
    assert_string_equal(conf->state_file, "/nonexistent-meridian/etc/../var/state");
    conf_free(conf);
    conf = load_ok("server: {state_file: /var/lib/meridian/state}\n");
    assert_string_equal(conf->state_file, "/var/lib/meridian/state");
    conf_free(conf);
    /* a config from memory anchors relative paths at the working directory */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(want, sizeof(want), "%s/state", cwd);
    conf = load_ok("server: {state_file: state}\n");
    assert_string_equal(conf->state_file, want);
    conf_free(conf);
    conf = load_ok("server: {}\n");
    assert_null(conf->state_file);
    conf_free(conf);

    check_server_value("state_file", "\"\"", "a file name", "\"\"");
    check_server_value("state_file", "[a]", "a file name", "a list");
    check_server_value("state_file", "~", "a file name", "an empty value");
    check_errors("server:\n  state_file: a\n  state_file: b\n",
                 NAME ":3:3: server: duplicate key \"state_file\" (first given at line 2)");
}

static void test_control(void **state)
{
    char cwd[PATH_MAX], want[PATH_MAX + 32], yaml[300], msg[400];
    conf_t *conf;

    (void)state;
    conf = load_ok("server: {}\n");
    assert_string_equal(conf->control, CONF_DEFAULT_CONTROL);
    conf_free(conf);
    conf = load_at("/nonexistent-meridian/etc/m.yaml", "server:\n  control: ../run/ctl.sock\n");
    assert_string_equal(conf->control, "/nonexistent-meridian/etc/../run/ctl.sock");
    conf_free(conf);
    conf = load_ok("server: {control: /run/m/control.sock}\n");
    assert_string_equal(conf->control, "/run/m/control.sock");
    conf_free(conf);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(want, sizeof(want), "%s/c.sock", cwd);
    conf = load_ok("server: {control: c.sock}\n");
    assert_string_equal(conf->control, want);
    conf_free(conf);
    /* "" turns the socket off */
    conf = load_ok("server: {control: \"\"}\n");
    assert_string_equal(conf->control, "");
    conf_free(conf);
    /* 107 bytes is the most a sun_path holds */
    snprintf(yaml, sizeof(yaml), "server: {control: /%0106d}\n", 0);
    conf = load_ok(yaml);
    assert_int_equal(strlen(conf->control), 107);
    conf_free(conf);
    snprintf(yaml, sizeof(yaml), "server:\n  control: /%0107d\n", 0);
    /* the message shows the start of a long value only */
    snprintf(msg, sizeof(msg),
             NAME ":2:12: server.control: expected a socket path (at most 107 bytes once "
                  "resolved) or \"\", got \"/%062d...\"", 0);
    check_errors(yaml, msg);
    check_server_value("control", "[a]",
                       "a socket path (at most 107 bytes once resolved) or \"\"", "a list");
    check_errors("server:\n  control: a\n  control: b\n",
                 NAME ":3:3: server: duplicate key \"control\" (first given at line 2)");
}

/* Every key of the sketch, and every kind of check. */
static void test_health_full_example(void **state)
{
    static const char *yaml =
        "server:\n"
        "  state_file: /var/lib/meridian/state\n"
        "health_checks:\n"
        "  web:   {type: https, path: /healthz, port: 443, interval: 5s, timeout: 2s,\n"
        "          down_after: 3, up_after: 2, host: www.example.com, expect_status: 200,\n"
        "          expect_body: \"ok\", verify_tls: true}\n"
        "  plain: {type: http, port: 8080}\n"
        "  ssh:   {type: tcp, port: 22}\n"
        "  feed:  {type: file, file: /run/meridian/health}\n"
        "  custom:\n"
        "    type: https\n"
        "    port: 8443\n"
        "    path: /status?full=1\n"
        "    host: \"api.example.com:8443\"\n"
        "    expect_status: 204\n"
        "    expect_body: \"\\\"status\\\": \\\"up\\\"\"\n"
        "    verify_tls: no\n"
        "    interval: 1m\n"
        "    timeout: 1500ms\n"
        "    down_after: 100\n"
        "    up_after: 1\n"
        "datacenters: {eu-west: {}, us-east: {}}\n"
        "services:\n"
        "  www.example.com:\n"
        "    check: web\n"
        "    min_up: 1\n"
        "    failover_ttl: 30\n"
        "    pools:\n"
        "      eu-west: [192.0.2.10, {address: 192.0.2.11, probe: 10.0.0.11}]\n"
        "      us-east: {addresses: [198.51.100.10, {address: 198.51.100.11, "
        "probe: 10.1.0.11}]}\n"
        "  ssh.example.com:\n"
        "    check: custom\n"
        "    min_up: 2\n"
        "    failover_ttl: 2m\n"
        "    pools: {eu-west: [\"2001:db8::1\",\n"
        "                      {address: \"2001:db8::2\", probe: \"fd00::2\"}]}\n";
    const conf_health_check_t *c;
    const conf_service_t *svc;
    char buf[64];
    conf_t *conf;

    (void)state;
    conf = load_ok(yaml);
    assert_string_equal(conf->state_file, "/var/lib/meridian/state");
    assert_int_equal(conf->n_health_checks, 5);

    c = &conf->health_checks[0];
    assert_string_equal(c->name, "web");
    assert_int_equal(c->type, CONF_CHECK_HTTPS);
    assert_string_equal(c->path, "/healthz");
    assert_int_equal(c->port, 443);
    assert_int_equal(c->interval_ms, 5000);
    assert_int_equal(c->timeout_ms, 2000);
    assert_int_equal(c->down_after, 3);
    assert_int_equal(c->up_after, 2);
    assert_string_equal(c->host, "www.example.com");
    assert_int_equal(c->expect_status, 200);
    assert_string_equal(c->expect_body, "ok");
    assert_true(c->verify_tls);
    assert_null(c->file);
    assert_ptr_equal(c->conf_file, conf->path);
    assert_int_equal(c->conf_line, 4);

    c = &conf->health_checks[1];
    assert_string_equal(c->name, "plain");
    assert_int_equal(c->type, CONF_CHECK_HTTP);
    assert_int_equal(c->port, 8080);
    assert_string_equal(c->path, "/");
    assert_int_equal(c->conf_line, 7);

    c = &conf->health_checks[2];
    assert_string_equal(c->name, "ssh");
    assert_int_equal(c->type, CONF_CHECK_TCP);
    assert_int_equal(c->port, 22);
    assert_null(c->path);

    c = &conf->health_checks[3];
    assert_string_equal(c->name, "feed");
    assert_int_equal(c->type, CONF_CHECK_FILE);
    assert_string_equal(c->file, "/run/meridian/health");
    assert_int_equal(c->port, 0);
    assert_null(c->path);

    c = &conf->health_checks[4];
    assert_string_equal(c->name, "custom");
    assert_int_equal(c->type, CONF_CHECK_HTTPS);
    assert_int_equal(c->port, 8443);
    assert_string_equal(c->path, "/status?full=1");
    assert_string_equal(c->host, "api.example.com:8443");
    assert_int_equal(c->expect_status, 204);
    assert_string_equal(c->expect_body, "\"status\": \"up\"");
    assert_false(c->verify_tls);
    assert_int_equal(c->interval_ms, 60000);
    assert_int_equal(c->timeout_ms, 1500);
    assert_int_equal(c->down_after, 100);
    assert_int_equal(c->up_after, 1);
    assert_int_equal(c->conf_line, 10);

    assert_int_equal(conf->n_services, 2);
    svc = &conf->services[0];
    assert_string_equal(svc->check, "web");
    assert_int_equal(svc->check_index, 0);
    assert_int_equal(svc->min_up, 1);
    assert_int_equal(svc->failover_ttl, 30);
    assert_pools(conf, svc, "eu-west=192.0.2.10,192.0.2.11 us-east=198.51.100.10,198.51.100.11");
    assert_int_equal(svc->pools[0].probes[0].family, 0);
    assert_string_equal(net_text(&svc->pools[0].probes[1], buf, sizeof(buf)), "10.0.0.11/32");
    assert_int_equal(svc->pools[1].probes[0].family, 0);
    assert_string_equal(net_text(&svc->pools[1].probes[1], buf, sizeof(buf)), "10.1.0.11/32");

    svc = &conf->services[1];
    assert_string_equal(svc->check, "custom");
    assert_int_equal(svc->check_index, 4);
    assert_int_equal(svc->min_up, 2);
    assert_int_equal(svc->failover_ttl, 120);
    assert_int_equal(svc->pools[0].probes[0].family, 0);
    assert_string_equal(net_text(&svc->pools[0].probes[1], buf, sizeof(buf)), "fd00::2/128");
    conf_free(conf);
}

/* What each type gets when a key is not given. */
static void test_health_defaults(void **state)
{
    static const char *yaml = "health_checks:\n"
                              "  h: {type: http}\n"
                              "  s: {type: https}\n"
                              "  t: {type: tcp, port: 1}\n"
                              "  f: {type: file, file: run/health}\n";
    char cwd[PATH_MAX], want[PATH_MAX + 32];
    conf_t *conf;

    (void)state;
    conf = load_ok(yaml);
    assert_int_equal(conf->n_health_checks, 4);
    for (size_t i = 0; i < 4; i++) {
        const conf_health_check_t *c = &conf->health_checks[i];
        assert_int_equal(c->interval_ms, CONF_DEFAULT_CHECK_INTERVAL_MS);
        assert_int_equal(c->interval_ms, 5000);
        assert_int_equal(c->timeout_ms, CONF_DEFAULT_CHECK_TIMEOUT_MS);
        assert_int_equal(c->timeout_ms, 2000);
        assert_int_equal(c->down_after, CONF_DEFAULT_DOWN_AFTER);
        assert_int_equal(c->down_after, 3);
        assert_int_equal(c->up_after, CONF_DEFAULT_UP_AFTER);
        assert_int_equal(c->up_after, 2);
        assert_int_equal(c->expect_status, 200);
        assert_true(c->verify_tls);
        assert_null(c->host);
        assert_null(c->expect_body);
    }
    assert_int_equal(conf->health_checks[0].type, CONF_CHECK_HTTP);
    assert_int_equal(conf->health_checks[0].port, 80);
    assert_string_equal(conf->health_checks[0].path, "/");
    assert_null(conf->health_checks[0].file);
    assert_int_equal(conf->health_checks[1].type, CONF_CHECK_HTTPS);
    assert_int_equal(conf->health_checks[1].port, 443);
    assert_string_equal(conf->health_checks[1].path, "/");
    assert_int_equal(conf->health_checks[2].type, CONF_CHECK_TCP);
    assert_int_equal(conf->health_checks[2].port, 1);
    assert_null(conf->health_checks[2].path);
    assert_null(conf->health_checks[2].file);
    assert_int_equal(conf->health_checks[3].type, CONF_CHECK_FILE);
    assert_int_equal(conf->health_checks[3].port, 0);
    assert_null(conf->health_checks[3].path);
    /* resolved against the config's directory */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(want, sizeof(want), "%s/run/health", cwd);
    assert_string_equal(conf->health_checks[3].file, want);
    conf_free(conf);

    for (size_t i = 0; i < 2; i++) {
        conf = load_ok(i ? "health_checks:\n" : "health_checks: {}\n");
        assert_int_equal(conf->n_health_checks, 0);
        check_defaults(conf);
        conf_free(conf);
    }
}

/* Keys that the type does not use are errors that name the type; the
 * keys a type needs are required. */
static void test_health_keys_by_type(void **state)
{
    conf_t *conf;

    (void)state;
    check_errors("health_checks:\n"
                 "  t:\n"
                 "    path: /x\n"
                 "    host: h\n"
                 "    expect_status: 200\n"
                 "    expect_body: ok\n"
                 "    verify_tls: true\n"
                 "    file: f\n"
                 "    type: tcp\n"
                 "    port: 22\n",
                 NAME ":3:11: health_checks.t.path: only allowed with type http or https (the "
                      "type is tcp)",
                 NAME ":4:11: health_checks.t.host: only allowed with type http or https (the "
                      "type is tcp)",
                 NAME ":5:20: health_checks.t.expect_status: only allowed with type http or "
                      "https (the type is tcp)",
                 NAME ":6:18: health_checks.t.expect_body: only allowed with type http or "
                      "https (the type is tcp)",
                 NAME ":7:17: health_checks.t.verify_tls: only allowed with type https (the "
                      "type is tcp)",
                 NAME ":8:11: health_checks.t.file: only allowed with type file (the type is "
                      "tcp)");
    check_errors("health_checks:\n"
                 "  h: {type: http, verify_tls: false, file: f}\n",
                 NAME ":2:31: health_checks.h.verify_tls: only allowed with type https (the "
                      "type is http)",
                 NAME ":2:44: health_checks.h.file: only allowed with type file (the type is "
                      "http)");
    check_errors("health_checks:\n"
                 "  f: {file: f, port: 1, path: /, host: h, expect_status: 200,\n"
                 "      expect_body: x, verify_tls: no, interval: 1s, timeout: 1s,\n"
                 "      down_after: 1, up_after: 1, type: file}\n",
                 NAME ":2:22: health_checks.f.port: only allowed with type tcp, http or https "
                      "(the type is file)",
                 NAME ":2:31: health_checks.f.path: only allowed with type http or https (the "
                      "type is file)",
                 NAME ":2:40: health_checks.f.host: only allowed with type http or https (the "
                      "type is file)",
                 NAME ":2:58: health_checks.f.expect_status: only allowed with type http or "
                      "https (the type is file)",
                 NAME ":3:20: health_checks.f.expect_body: only allowed with type http or "
                      "https (the type is file)",
                 NAME ":3:35: health_checks.f.verify_tls: only allowed with type https (the "
                      "type is file)",
                 NAME ":3:49: health_checks.f.interval: only allowed with type tcp, http or "
                      "https (the type is file)",
                 NAME ":3:62: health_checks.f.timeout: only allowed with type tcp, http or "
                      "https (the type is file)",
                 NAME ":4:19: health_checks.f.down_after: only allowed with type tcp, http or "
                      "https (the type is file)",
                 NAME ":4:32: health_checks.f.up_after: only allowed with type tcp, http or "
                      "https (the type is file)");
    /* not applicable comes first: the value is not looked at */
    check_errors("health_checks: {t: {type: tcp, port: 1, path: relative}}\n",
                 NAME ":1:47: health_checks.t.path: only allowed with type http or https (the "
                      "type is tcp)");
    /* required by the type */
    check_errors("health_checks:\n"
                 "  t: {type: tcp}\n"
                 "  f: {type: file}\n"
                 "  g:\n"
                 "    type: file\n"
                 "  t2: {type: tcp, port: 0}\n",
                 NAME ":2:6: health_checks.t: missing key \"port\" (required with type tcp)",
                 NAME ":3:6: health_checks.f: missing key \"file\" (required with type file)",
                 NAME ":5:5: health_checks.g: missing key \"file\" (required with type file)",
                 NAME ":6:25: health_checks.t2.port: expected an integer from 1 to 65535, got "
                      "\"0\"");
    /* the type itself */
    check_errors("health_checks:\n"
                 "  a: {port: 1}\n"
                 "  b: {type: ftp, port: x, verify_tls: maybe}\n"
                 "  c: {type: [tcp]}\n"
                 "  d: {type: HTTP}\n"
                 "  e: {type: tcp, type: http, port: 1}\n"
                 "  f:\n"
                 "  g: {type: ~}\n",
                 NAME ":2:6: health_checks.a: missing required key \"type\"",
                 NAME ":3:13: health_checks.b.type: expected one of tcp, http, https, file, got "
                      "\"ftp\"",
                 /* without a type every value is still checked */
                 NAME ":3:24: health_checks.b.port: expected an integer from 1 to 65535, got "
                      "\"x\"",
                 NAME ":3:39: health_checks.b.verify_tls: expected true or false, got "
                      "\"maybe\"",
                 NAME ":4:13: health_checks.c.type: expected one of tcp, http, https, file, got "
                      "a list",
                 NAME ":5:13: health_checks.d.type: expected one of tcp, http, https, file, got "
                      "\"HTTP\"",
                 NAME ":6:18: health_checks.e: duplicate key \"type\" (first given at line 6)",
                 NAME ":7:5: health_checks.f: missing required key \"type\"",
                 NAME ":8:13: health_checks.g.type: expected one of tcp, http, https, file, got "
                      "an empty value");
    /* the first of two types is the one that counts */
    check_errors("health_checks: {e: {type: file, type: tcp, port: 1, file: f}}\n",
                 NAME ":1:33: health_checks.e: duplicate key \"type\" (first given at line 1)",
                 NAME ":1:50: health_checks.e.port: only allowed with type tcp, http or https "
                      "(the type is file)");
    check_errors("health_checks: {a: {type: tcp, port: 1, prot: 2}}\n",
                 NAME ":1:41: health_checks.a: unknown key \"prot\" (expected one of: type, "
                      "port, path, host, expect_status, expect_body, verify_tls, file, interval, "
                      "timeout, down_after, up_after)");
    /* an https check takes every key but file */
    conf = load_ok("health_checks: {s: {type: https, port: 1, path: /, host: h, "
                   "expect_status: 100, expect_body: b, verify_tls: on, interval: 1s, "
                   "timeout: 10ms, down_after: 1, up_after: 1}}\n");
    assert_int_equal(conf->health_checks[0].port, 1);
    conf_free(conf);
}

/* Check "c" of type type with one more key, which must fail with message
 * (col: where the value starts), or load when message is NULL. */
static void check_health_value(const char *type, const char *key, const char *value,
                               const char *message)
{
    char yaml[4096], msg[4096];
    int col;

    col = snprintf(yaml, sizeof(yaml), "health_checks:\n  c: {type: %s, %s: ", type, key);
    snprintf(yaml + col, sizeof(yaml) - (size_t)col, "%s}\n", value);
    col -= (int)strlen("health_checks:\n") - 1;
    if (!message) {
        conf_t *conf = load_ok(yaml);
        conf_free(conf);
        return;
    }
    snprintf(msg, sizeof(msg), NAME ":2:%d: health_checks.c.%s: %s", col, key, message);
    check_errors(yaml, msg);
}

static void test_health_values(void **state)
{
    static const char *interval = "expected a duration from 100ms to 1h such as \"500ms\", "
                                  "\"10s\" or \"2m\", got ";
    static const char *timeout = "expected a duration from 10ms to 1h such as \"500ms\", "
                                 "\"10s\" or \"2m\", got ";
    static const char *path = "expected a path such as \"/healthz\" (starting with '/', at most "
                              "1024 bytes of printable ASCII, no spaces), got ";
    static const char *host = "expected a host name such as \"www.example.com\" (1 to 255 bytes "
                              "of printable ASCII, no spaces), got ";
    char msg[2048], value[1100];
    conf_t *conf;

    (void)state;
    /* interval: 100ms to 1h */
    check_health_value("http", "interval", "1h", NULL);
    check_health_value("http", "interval", "3600", NULL);
    check_health_value("http", "interval", "2001ms", NULL);
    snprintf(msg, sizeof(msg), "%s\"99ms\"", interval);
    check_health_value("http", "interval", "99ms", msg);
    snprintf(msg, sizeof(msg), "%s\"3601s\"", interval);
    check_health_value("http", "interval", "3601s", msg);
    snprintf(msg, sizeof(msg), "%s\"5 s\"", interval);
    check_health_value("tcp, port: 1", "interval", "5 s", msg);
    snprintf(msg, sizeof(msg), "%s\"-1s\"", interval);
    check_health_value("tcp, port: 1", "interval", "-1s", msg);
    /* timeout: 10ms up to the interval */
    check_health_value("http", "timeout", "10ms", NULL);
    check_health_value("http", "timeout", "4999ms", NULL);
    snprintf(msg, sizeof(msg), "%s\"9ms\"", timeout);
    check_health_value("http", "timeout", "9ms", msg);
    snprintf(msg, sizeof(msg), "%s\"2h\"", timeout);
    check_health_value("http", "timeout", "2h", msg);
    check_health_value("http", "timeout", "5s", "5s must be shorter than the interval (5s)");
    /* port: 1 to 65535 */
    check_health_value("http", "port", "1", NULL);
    check_health_value("https", "port", "65535", NULL);
    check_health_value("http", "port", "65536",
                       "expected an integer from 1 to 65535, got \"65536\"");
    check_health_value("tcp", "port", "0", "expected an integer from 1 to 65535, got \"0\"");
    check_health_value("tcp", "port", "022", "expected an integer from 1 to 65535, got \"022\"");
    /* path */
    check_health_value("http", "path", "/", NULL);
    check_health_value("http", "path", "\"/a%20b?c=d&e#f\"", NULL);
    snprintf(msg, sizeof(msg), "%s\"healthz\"", path);
    check_health_value("http", "path", "healthz", msg);
    snprintf(msg, sizeof(msg), "%s\"/a b\"", path);
    check_health_value("http", "path", "\"/a b\"", msg);
    snprintf(msg, sizeof(msg), "%s\"/a\\x0d\\x0aX: y\"", path);
    check_health_value("http", "path", "\"/a\\r\\nX: y\"", msg);
    snprintf(msg, sizeof(msg), "%s\"\"", path);
    check_health_value("http", "path", "\"\"", msg);
    snprintf(msg, sizeof(msg), "%s\"/\xc3\xa9\"", path); /* UTF-8 passes through */
    check_health_value("http", "path", "\"/\\xe9\"", msg);
    snprintf(msg, sizeof(msg), "%san empty value", path);
    check_health_value("http", "path", "~", msg);
    value[0] = '/';
    memset(value + 1, 'p', 1023);
    value[1024] = '\0';
    check_health_value("https", "path", value, NULL);
    value[1024] = 'p';
    value[1025] = '\0';
    snprintf(msg, sizeof(msg), "%s\"/%.62s...\"", path, value + 1);
    check_health_value("https", "path", value, msg);
    /* host */
    check_health_value("http", "host", "www.example.com", NULL);
    check_health_value("http", "host", "\"[2001:db8::1]:8080\"", NULL);
    memset(value, 'h', 255);
    value[255] = '\0';
    check_health_value("http", "host", value, NULL);
    value[255] = 'h';
    value[256] = '\0';
    snprintf(msg, sizeof(msg), "%s\"%.63s...\"", host, value);
    check_health_value("http", "host", value, msg);
    snprintf(msg, sizeof(msg), "%s\"\"", host);
    check_health_value("http", "host", "\"\"", msg);
    snprintf(msg, sizeof(msg), "%s\"a b\"", host);
    check_health_value("http", "host", "\"a b\"", msg);
    /* expect_status: 100 to 599 */
    check_health_value("http", "expect_status", "100", NULL);
    check_health_value("http", "expect_status", "599", NULL);
    check_health_value("http", "expect_status", "99",
                       "expected an integer from 100 to 599, got \"99\"");
    check_health_value("https", "expect_status", "600",
                       "expected an integer from 100 to 599, got \"600\"");
    /* expect_body: 1 to 1024 bytes */
    check_health_value("http", "expect_body", "x", NULL);
    memset(value, 'b', 1024);
    value[1024] = '\0';
    check_health_value("http", "expect_body", value, NULL);
    value[1024] = 'b';
    value[1025] = '\0';
    snprintf(msg, sizeof(msg), "expected a text of 1 to 1024 bytes, got \"%.63s...\"", value);
    check_health_value("http", "expect_body", value, msg);
    check_health_value("http", "expect_body", "\"\"",
                       "expected a text of 1 to 1024 bytes, got \"\"");
    check_health_value("http", "expect_body", "\"a\\0b\"",
                       "expected a text of 1 to 1024 bytes, got \"a\\x00b\"");
    check_health_value("http", "expect_body", "[x]",
                       "expected a text of 1 to 1024 bytes, got a list");
    /* verify_tls */
    check_health_value("https", "verify_tls", "yes", NULL);
    check_health_value("https", "verify_tls", "1", "expected true or false, got \"1\"");
    /* file */
    check_health_value("file", "file", "\"\"", "expected a file name, got \"\"");
    check_health_value("file", "file", "{}", "expected a file name, got an empty mapping");
    /* down_after and up_after: 1 to 100 */
    check_health_value("http", "down_after", "1", NULL);
    check_health_value("http", "down_after", "100", NULL);
    check_health_value("http", "up_after", "1", NULL);
    check_health_value("http", "up_after", "100", NULL);
    check_health_value("http", "down_after", "0",
                       "expected an integer from 1 to 100, got \"0\"");
    check_health_value("http", "up_after", "101",
                       "expected an integer from 1 to 100, got \"101\"");
    check_health_value("tcp, port: 1", "up_after", "0",
                       "expected an integer from 1 to 100, got \"0\"");

    conf = load_ok("health_checks: {c: {type: http, interval: 100ms, timeout: 99ms}}\n");
    assert_int_equal(conf->health_checks[0].interval_ms, 100);
    assert_int_equal(conf->health_checks[0].timeout_ms, 99);
    conf_free(conf);
    conf = load_ok("health_checks: {c: {type: http, interval: 1h, timeout: 59m}}\n");
    assert_int_equal(conf->health_checks[0].interval_ms, 3600000);
    assert_int_equal(conf->health_checks[0].timeout_ms, 3540000);
    conf_free(conf);
}

static void test_health_timing(void **state)
{
    conf_t *conf;

    (void)state;
    conf = load_ok("health_checks: {c: {type: tcp, port: 1, timeout: 3599s, interval: 1h}}\n");
    conf_free(conf);
    check_errors("health_checks:\n"
                 "  a: {type: http, interval: 1s, timeout: 1s}\n"
                 "  b: {type: http, timeout: 3s, interval: 2500ms}\n"
                 "  c: {type: http, interval: 2s}\n"
                 "  d: {type: http, interval: 1s}\n"
                 "  e: {type: http, timeout: 5s}\n"
                 "  f: {type: http, timeout: 6s}\n"
                 "  g: {type: http, interval: 1h, timeout: 1h}\n",
                 NAME ":2:42: health_checks.a.timeout: 1s must be shorter than the interval (1s)",
                 NAME ":3:28: health_checks.b.timeout: 3s must be shorter than the interval "
                      "(2500ms)",
                 NAME ":4:29: health_checks.c.interval: 2s must be longer than the timeout (2s, "
                      "the default; set timeout)",
                 NAME ":5:29: health_checks.d.interval: 1s must be longer than the timeout (2s, "
                      "the default; set timeout)",
                 NAME ":6:28: health_checks.e.timeout: 5s must be shorter than the interval "
                      "(5s)",
                 NAME ":7:28: health_checks.f.timeout: 6s must be shorter than the interval "
                      "(5s)",
                 NAME ":8:42: health_checks.g.timeout: 1h must be shorter than the interval "
                      "(1h)");
    /* a bad value is not compared as well */
    check_errors("health_checks: {a: {type: http, interval: 1s, timeout: 1x}}\n",
                 NAME ":1:56: health_checks.a.timeout: expected a duration from 10ms to 1h such "
                      "as \"500ms\", \"10s\" or \"2m\", got \"1x\"");
    check_errors("health_checks: {a: {type: http, interval: 10ms}}\n",
                 NAME ":1:43: health_checks.a.interval: expected a duration from 100ms to 1h "
                      "such as \"500ms\", \"10s\" or \"2m\", got \"10ms\"");
}

static void test_health_names(void **state)
{
    static const char *expected_name =
        "expected a health check name (1 to 63 letters, digits, '_', '.' or '-')";
    char yaml[512], msg[512], name[70];
    conf_t *conf;

    (void)state;
    memset(name, 'n', 63);
    name[63] = '\0';
    snprintf(yaml, sizeof(yaml), "health_checks:\n  %s: {type: http}\n  A_b.c-1: {type: http}\n",
             name);
    conf = load_ok(yaml);
    assert_string_equal(conf->health_checks[0].name, name);
    assert_string_equal(conf->health_checks[1].name, "A_b.c-1");
    assert_int_equal(conf->health_checks[1].conf_line, 3);
    conf_free(conf);

    snprintf(yaml, sizeof(yaml), "health_checks:\n  n%s: {type: http}\n", name);
    snprintf(msg, sizeof(msg), NAME ":2:3: health_checks: %s, got \"n%.62s...\"", expected_name,
             name);
    check_errors(yaml, msg);
    snprintf(msg, sizeof(msg), NAME ":3:3: health_checks: %s, got \"a b\"", expected_name);
    check_errors("health_checks:\n"
                 "  web: {type: http}\n"
                 "  \"a b\": {type: http}\n"
                 "  web: {type: tcp}\n"
                 "  ? [x]\n"
                 "  : {}\n"
                 "  \"\": {}\n",
                 msg,
                 NAME ":4:3: health_checks: duplicate health check \"web\" (first given at "
                      "line 2)",
                 NAME ":5:5: health_checks: expected a health check name (1 to 63 letters, "
                      "digits, '_', '.' or '-'), got a list",
                 NAME ":7:3: health_checks: expected a health check name (1 to 63 letters, "
                      "digits, '_', '.' or '-'), got \"\"");
    check_errors("health_checks: [web]\n",
                 NAME ":1:16: health_checks: expected a mapping of health check names to "
                      "checks, got a list");
    check_errors("health_checks: web\n",
                 NAME ":1:16: health_checks: expected a mapping of health check names to "
                      "checks, got \"web\"");
    check_errors("health_checks: {web: [type, http]}\n",
                 NAME ":1:22: health_checks.web: expected a mapping, got a list");
    check_errors("health_checks: {}\nhealth_checks: {}\n",
                 NAME ":2:1: duplicate section \"health_checks\" (first given at line 1)");
}

/* Checks "web" (interval 5s), "fast" (1500ms), "quick" (100ms) and
 * "hourly" (a file), three data centers, and a service "x.example.com"
 * whose keys follow at line 9, indented by four. */
#define HEALTH_HEAD                                                                        \
    "health_checks:\n"                                                                     \
    "  web: {type: http}\n"                                                                \
    "  fast: {type: tcp, port: 7, interval: 1500ms, timeout: 1s}\n"                        \
    "  quick: {type: tcp, port: 7, interval: 100ms, timeout: 10ms}\n"                      \
    "  hourly: {type: file, file: /f}\n" GEO_HEAD
#define HEALTH_CHECKS "(declared: web, fast, quick, hourly)"

static void test_service_check(void **state)
{
    conf_t *conf;

    (void)state;
    conf = load_ok(HEALTH_HEAD "    {check: quick, pools: {a: [192.0.2.1]}}\n"
                               "  y.example.com: {check: web, pools: {a: [192.0.2.1]}}\n"
                               "  z.example.com: {pools: {a: [192.0.2.1]}}\n");
    assert_string_equal(conf->services[0].check, "quick");
    assert_int_equal(conf->services[0].check_index, 2);
    assert_string_equal(conf->services[1].check, "web");
    assert_int_equal(conf->services[1].check_index, 0);
    assert_null(conf->services[2].check);
    conf_free(conf);

    /* checks may be declared after the services that use them */
    conf = load_ok("datacenters: {a: {}}\n"
                   "services: {s: {check: late, pools: {a: [192.0.2.1]}}}\n"
                   "health_checks: {early: {type: http}, late: {type: https}}\n");
    assert_int_equal(conf->services[0].check_index, 1);
    conf_free(conf);

    check_errors(HEALTH_HEAD "    {check: Web, pools: {a: [192.0.2.1]}}\n"
                             "  y.example.com: {check: [web], pools: {a: [192.0.2.1]}}\n"
                             "  z.example.com: {check: ~, pools: {a: [192.0.2.1]}}\n",
                 NAME ":9:13: services.x.example.com.check: unknown health check \"Web\" "
                      HEALTH_CHECKS,
                 NAME ":10:26: services.y.example.com.check: expected a health check name, got a "
                      "list",
                 NAME ":11:26: services.z.example.com.check: expected a health check name, got "
                      "an empty value");
    check_errors("datacenters: {a: {}}\n"
                 "services: {s: {check: web, pools: {a: [192.0.2.1]}}}\n",
                 NAME ":2:23: services.s.check: unknown health check \"web\" (declared: none)");
    /* a check with errors still exists: no second error at the service */
    check_errors("health_checks: {web: {type: tcp}}\n"
                 "datacenters: {a: {}}\n"
                 "services: {s: {check: web, pools: {a: [192.0.2.1]}}}\n",
                 NAME ":1:22: health_checks.web: missing key \"port\" (required with type tcp)");
}

static void test_service_min_up(void **state)
{
    conf_t *conf;

    (void)state;
    conf = load_ok(GEO_HEAD "    pools: {a: [192.0.2.1, 192.0.2.2]}\n");
    assert_int_equal(conf->services[0].min_up, 1);
    conf_free(conf);
    /* up to the smallest pool with addresses; CNAME pools do not count */
    conf = load_ok(GEO_HEAD "    min_up: 2\n"
                            "    pools:\n"
                            "      a: [192.0.2.1, 192.0.2.2, 192.0.2.3]\n"
                            "      b: {cname: b.example.net}\n"
                            "      c: {addresses: [\"2001:db8::1\",\n"
                            "                      {address: \"2001:db8::2\"}]}\n");
    assert_int_equal(conf->services[0].min_up, 2);
    conf_free(conf);
    /* without a check too: forced addresses count */
    conf = load_ok(GEO_HEAD "    {min_up: 1, pools: {a: [192.0.2.1]}}\n");
    assert_int_equal(conf->services[0].min_up, 1);
    conf_free(conf);

    check_errors(GEO_HEAD "    min_up: 3\n"
                          "    pools:\n"
                          "      a: [192.0.2.1, 192.0.2.2, 192.0.2.3]\n"
                          "      c: [192.0.2.4, 192.0.2.5]\n"
                          "      b: [192.0.2.6, 192.0.2.7]\n",
                 NAME ":4:13: services.x.example.com.min_up: expected an integer from 1 to 2 "
                      "(pool \"c\" has 2 addresses), got \"3\"");
    check_errors(GEO_HEAD "    {pools: {a: [192.0.2.1]}, min_up: 0}\n",
                 NAME ":4:39: services.x.example.com.min_up: expected an integer from 1 to 1 "
                      "(pool \"a\" has 1 address), got \"0\"");
    check_errors(GEO_HEAD "    {pools: {a: [192.0.2.1]}, min_up: 2}\n",
                 NAME ":4:39: services.x.example.com.min_up: expected an integer from 1 to 1 "
                      "(pool \"a\" has 1 address), got \"2\"");
    check_errors(GEO_HEAD "    {pools: {a: [192.0.2.1]}, min_up: many}\n",
                 NAME ":4:39: services.x.example.com.min_up: expected an integer from 1 to 1 "
                      "(pool \"a\" has 1 address), got \"many\"");
    check_errors(GEO_HEAD "    {pools: {b: {cname: b.example.}}, min_up: 1}\n",
                 NAME ":4:47: services.x.example.com.min_up: no pool of this service has "
                      "addresses to count");
    /* bad pools: the bound is unknown, and the value is checked alone */
    check_errors(GEO_HEAD "    {pools: {a: [192.0.2.1, x]}, min_up: 2}\n",
                 NAME ":4:29: services.x.example.com.pools.a[1]: expected an IPv4 or IPv6 "
                      "address such as \"192.0.2.1\" or \"2001:db8::1\", got \"x\"");
    check_errors(GEO_HEAD "    {pools: {a: [192.0.2.1, x]}, min_up: 0}\n",
                 NAME ":4:29: services.x.example.com.pools.a[1]: expected an IPv4 or IPv6 "
                      "address such as \"192.0.2.1\" or \"2001:db8::1\", got \"x\"",
                 NAME ":4:42: services.x.example.com.min_up: expected a positive integer, got "
                      "\"0\"");
}

static void test_service_failover_ttl(void **state)
{
    static const struct {
        const char *value;
        uint32_t seconds;
    } good[] = {
        {"0", 0},
        {"30", 30},
        {"30s", 30},
        {"2m", 120},
        {"1h", 3600},
        {"0s", 0},
        {"2147483647", 2147483647u},
        {"2147483647s", 2147483647u},
        {"35791394m", 2147483640u},
        {"596523h", 2147482800u},
    };
    static const char *const bad[] = {"2147483648", "2147483648s", "35791395m", "596524h",
                                      "-1",         "1.5s",        "500ms",     "1d",
                                      "030",        "s",           "\"\"",      "1000000000000"};
    static const char *expected = "expected a number of seconds from 0 to 2147483647 or a "
                                  "duration such as \"30s\" or \"5m\", got ";
    char yaml[512], msg[512];
    conf_t *conf;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(yaml, sizeof(yaml), GEO_HEAD "    {pools: {a: [192.0.2.1]}, failover_ttl: %s}\n",
                 good[i].value);
        conf = load_ok(yaml);
        assert_int_equal(conf->services[0].failover_ttl, good[i].seconds);
        conf_free(conf);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(yaml, sizeof(yaml), GEO_HEAD "    {pools: {a: [192.0.2.1]}, failover_ttl: %s}\n",
                 bad[i]);
        snprintf(msg, sizeof(msg), NAME ":4:45: services.x.example.com.failover_ttl: %s\"%s\"",
                 expected, bad[i][0] == '"' ? "" : bad[i]);
        check_errors(yaml, msg);
    }
    check_errors(GEO_HEAD "    {pools: {a: [192.0.2.1]}, failover_ttl: [30]}\n",
                 NAME ":4:45: services.x.example.com.failover_ttl: expected a number of seconds "
                      "from 0 to 2147483647 or a duration such as \"30s\" or \"5m\", got a list");

    /* the default: the check's interval in whole seconds, at least 1;
     * without a check, the service's TTL */
    conf = load_ok(HEALTH_HEAD "    {check: web, pools: {a: [192.0.2.1]}}\n"
                               "  y.example.com: {check: fast, pools: {a: [192.0.2.1]}}\n"
                               "  z.example.com: {check: quick, pools: {a: [192.0.2.1]}}\n"
                               "  w.example.com: {check: hourly, pools: {a: [192.0.2.1]}}\n"
                               "  v.example.com: {pools: {a: [192.0.2.1]}}\n"
                               "  u.example.com: {pools: {a: [192.0.2.1]}, ttl: 45}\n"
                               "  t.example.com: {ttl: 0, pools: {a: [192.0.2.1]}}\n"
                               "  s.example.com: {failover_ttl: 7, check: web, ttl: 1, "
                               "pools: {a: [192.0.2.1]}}\n");
    assert_int_equal(conf->services[0].failover_ttl, 5);
    assert_int_equal(conf->services[1].failover_ttl, 1);
    assert_int_equal(conf->services[2].failover_ttl, 1);
    assert_int_equal(conf->services[3].failover_ttl, 5);
    assert_int_equal(conf->services[4].failover_ttl, 300);
    assert_int_equal(conf->services[5].failover_ttl, 45);
    assert_int_equal(conf->services[6].failover_ttl, 0);
    assert_int_equal(conf->services[7].failover_ttl, 7);
    conf_free(conf);
    conf = load_ok("health_checks: {h: {type: http, interval: 1h}}\n"
                   "datacenters: {a: {}}\n"
                   "services: {s: {check: h, pools: {a: [192.0.2.1]}}}\n");
    assert_int_equal(conf->services[0].failover_ttl, 3600);
    conf_free(conf);
}

/* "a=192.0.2.1>10.0.0.1,192.0.2.2 b=" : each address and its probe */
static const char *probes_text(const conf_t *conf, const conf_service_t *svc, char *buf,
                               size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < svc->n_pools; i++) {
        const conf_pool_t *pool = &svc->pools[i];
        assert_non_null(pool->probes);
        o += (size_t)snprintf(buf + o, size - o, "%s%s=", i ? " " : "",
                              conf->datacenters[pool->dc].name);
        for (size_t k = 0; k < pool->n_addrs; k++) {
            char addr[INET6_ADDRSTRLEN], probe[INET6_ADDRSTRLEN];
            const conf_network_t *p = &pool->probes[k];
            assert_non_null(inet_ntop(pool->addrs[k].family, pool->addrs[k].addr, addr,
                                      sizeof(addr)));
            o += (size_t)snprintf(buf + o, size - o, "%s%s", k ? "," : "", addr);
            if (p->family == 0)
                continue;
            assert_int_equal(p->family, pool->addrs[k].family);
            assert_int_equal(p->prefix, p->family == AF_INET ? 32 : 128);
            assert_non_null(inet_ntop(p->family, p->addr, probe, sizeof(probe)));
            o += (size_t)snprintf(buf + o, size - o, ">%s", probe);
        }
    }
    return buf;
}

#define assert_probes(conf, svc, want)                                                     \
    do {                                                                                   \
        char buf_[TEXT_SIZE];                                                              \
        assert_string_equal(probes_text(conf, svc, buf_, sizeof(buf_)), want);             \
    } while (0)

static void test_pool_probes(void **state)
{
    static const char *addr = "expected an IPv4 or IPv6 address such as \"192.0.2.1\" or "
                              "\"2001:db8::1\", got ";
    char msg[512], msg2[512], msg3[512], msg4[512];
    conf_t *conf;

    (void)state;
    conf = load_ok(GEO_HEAD
                   "    pools:\n"
                   "      a: [192.0.2.1, {address: 192.0.2.2, probe: 10.0.0.2}, {address: "
                   "192.0.2.3},\n"
                   "          {probe: \"FD00::4\", address: \"2001:db8::4\"}]\n"
                   "      b: {addresses: [{address: 198.51.100.1, probe: 198.51.100.1}]}\n"
                   "      c: {cname: c.example.net}\n"
                   "  y.example.com: {pools: {a: [192.0.2.1]}}\n"
                   "  z.example.com:\n"
                   "    pools:\n"
                   "      a:\n"
                   "        - address: 192.0.2.9\n"
                   "          probe: 10.9.9.9\n"
                   "        - 192.0.2.8\n");
    assert_probes(conf, &conf->services[0],
                  "a=192.0.2.1,192.0.2.2>10.0.0.2,192.0.2.3,2001:db8::4>fd00::4 "
                  "b=198.51.100.1>198.51.100.1 c=");
    assert_pools(conf, &conf->services[0],
                 "a=192.0.2.1,192.0.2.2,192.0.2.3,2001:db8::4 b=198.51.100.1 "
                 "c=>c.example.net.");
    assert_probes(conf, &conf->services[1], "a=192.0.2.1");
    assert_probes(conf, &conf->services[2], "a=192.0.2.9>10.9.9.9,192.0.2.8");
    conf_free(conf);

    snprintf(msg, sizeof(msg), NAME ":6:64: services.x.example.com.pools.a[3].address: %s\"x\"",
             addr);
    snprintf(msg2, sizeof(msg2), NAME ":7:39: services.x.example.com.pools.a[4].probe: %s"
             "\"10.0.0.0/8\"", addr);
    snprintf(msg3, sizeof(msg3), NAME ":9:64: services.x.example.com.pools.a[8].address: %sa list",
             addr);
    snprintf(msg4, sizeof(msg4), NAME ":9:70: services.x.example.com.pools.a[9]: %s\"7\"", addr);
    check_errors(GEO_HEAD
                 "    pools:\n"
                 "      a: [{address: 192.0.2.1, probe: \"::1\"}, {probe: 10.0.0.1},\n"
                 "          {address: \"2001:db8::1\", probe: 10.0.0.1}, {address: x},\n"
                 "          {address: 192.0.2.2, probe: 10.0.0.0/8},\n"
                 "          {address: 192.0.2.3, prob: 1},\n"
                 "          {address: 192.0.2.1, probe: 10.0.0.9}, {}, {address: [a]}, 7]\n"
                 "      b: {addresses: [{address: 192.0.2.1, probe: \"2001:db8::1\"}]}\n",
                 NAME ":5:39: services.x.example.com.pools.a[0].probe: \"::1\" is an IPv6 "
                      "address but the address \"192.0.2.1\" is IPv4",
                 NAME ":5:47: services.x.example.com.pools.a[1]: missing required key "
                      "\"address\"",
                 NAME ":6:43: services.x.example.com.pools.a[2].probe: \"10.0.0.1\" is an IPv4 "
                      "address but the address \"2001:db8::1\" is IPv6",
                 msg, msg2,
                 NAME ":8:32: services.x.example.com.pools.a[5]: unknown key \"prob\" (expected "
                      "one of: address, probe)",
                 NAME ":9:21: services.x.example.com.pools.a[6]: duplicate address "
                      "\"192.0.2.1\" (first at [0])",
                 NAME ":9:50: services.x.example.com.pools.a[7]: missing required key "
                      "\"address\"",
                 msg3, msg4,
                 NAME ":10:51: services.x.example.com.pools.b.addresses[0].probe: "
                      "\"2001:db8::1\" is an IPv6 address but the address \"192.0.2.1\" is "
                      "IPv4");
    check_errors(GEO_HEAD "    pools: {a: [{address: 192.0.2.1, address: 192.0.2.2}]}\n",
                 NAME ":4:38: services.x.example.com.pools.a[0]: duplicate key \"address\" "
                      "(first given at line 4)");
}

/* ------------------------------------------------------------ addresses */

static void test_sockaddr_valid(void **state)
{
    static const struct {
        const char *text;
        int family;
        const char *addr;
        unsigned port;
    } cases[] = {
        {"1.2.3.4:53", AF_INET, "1.2.3.4", 53},
        {"1.2.3.4", AF_INET, "1.2.3.4", 99},
        {"0.0.0.0:0", AF_INET, "0.0.0.0", 0},
        {"255.255.255.255:65535", AF_INET, "255.255.255.255", 65535},
        {"[::1]:53", AF_INET6, "::1", 53},
        {"::1", AF_INET6, "::1", 99},
        {"[::]:0", AF_INET6, "::", 0},
        {"[::]", AF_INET6, "::", 99},
        {"::", AF_INET6, "::", 99},
        {"2001:db8::1:53", AF_INET6, "2001:db8::1:53", 99}, /* no brackets: all address */
        {"[2001:db8::10]:5353", AF_INET6, "2001:db8::10", 5353},
        {"[::ffff:192.0.2.1]:53", AF_INET6, "::ffff:192.0.2.1", 53},
        {"1.2.3.4:00053", AF_INET, "1.2.3.4", 53},
    };
    char buf[INET6_ADDRSTRLEN];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_storage ss;
        socklen_t len = 0;

        int rc = conf_parse_sockaddr(cases[i].text, 99, &ss, &len);

        if (rc != 0 || ss.ss_family != cases[i].family || sockaddr_port(&ss) != cases[i].port)
            print_message("input: \"%s\"\n", cases[i].text);
        assert_int_equal(rc, 0);
        assert_int_equal(ss.ss_family, cases[i].family);
        assert_int_equal(len, cases[i].family == AF_INET ? sizeof(struct sockaddr_in)
                                                         : sizeof(struct sockaddr_in6));
        assert_string_equal(sockaddr_text(&ss, buf, sizeof(buf)), cases[i].addr);
        assert_int_equal(sockaddr_port(&ss), cases[i].port);
    }
}

static void test_sockaddr_invalid(void **state)
{
    static const char *const cases[] = {
        "",
        ":",
        ":53",
        "1.2.3.4:",
        "1.2.3.4:65536",
        "1.2.3.4:123456",
        "1.2.3.4:-1",
        "1.2.3.4:5x",
        "1.2.3.4: 53",
        "1.2.3",
        "1.2.3.256",
        " 1.2.3.4",
        "localhost",
        "localhost:53",
        "[::1]:",
        "[::1]:65536",
        "[::1]53",
        "[::1",
        "::1]",
        "[]:53",
        "[1.2.3.4]:53",
        "[::1]:53:53",
        ":::",
        "1::2::3",
        "[fe80::1%eth0]:53",
        "fe80::1%eth0",
        "[0000:0000:0000:0000:0000:0000:0000:0000:0000]:53",
    };
    struct sockaddr_storage ss;
    socklen_t len;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = conf_parse_sockaddr(cases[i], 53, &ss, &len);

        if (rc != -EINVAL)
            print_message("input: \"%s\" was accepted\n", cases[i]);
        assert_int_equal(rc, -EINVAL);
    }
    assert_int_equal(conf_parse_sockaddr(NULL, 53, &ss, &len), -EINVAL);
}

static void test_parse_network(void **state)
{
    static const struct {
        const char *text, *want;
    } good[] = {
        {"192.0.2.0/24", "192.0.2.0/24"},
        {"192.0.2.1", "192.0.2.1/32"},
        {"192.0.2.1/32", "192.0.2.1/32"},
        {"0.0.0.0/0", "0.0.0.0/0"},
        {"128.0.0.0/1", "128.0.0.0/1"},
        {"255.255.255.254/31", "255.255.255.254/31"},
        {"2001:db8::/32", "2001:db8::/32"},
        {"2001:DB8:0:0::/48", "2001:db8::/48"},
        {"::/0", "::/0"},
        {"::1", "::1/128"},
        {"::1/128", "::1/128"},
        {"2001:db8::8/125", "2001:db8::8/125"},
        {"::ffff:192.0.2.0/120", "::ffff:192.0.2.0/120"},
        {"fe80::/10", "fe80::/10"},
    };
    static const char *const bad[] = {
        "",
        "/24",
        "192.0.2.0/",
        "192.0.2.1/24",   /* bits past the prefix */
        "192.0.2.0/33",
        "192.0.2.0/024",  /* octal or decimal? */
        "192.0.2.0/-1",
        "192.0.2.0/+8",
        "192.0.2.0/ 24",
        "192.0.2.0/24 ",
        "192.0.2.0/24/24",
        "192.0.2.0/1000",
        "192.0.2.0/99999999999999999999",
        "192.0.2",
        "192.0.2.256",
        "1.2.3.4:53",
        "::1/0",
        "::/129",
        "2001:db8::1/64",
        "[::1]",
        "[::1]/128",
        "fe80::1%eth0",
        "fe80::1%eth0/128",
        "example.com",
        "0x7f.0.0.1",
    };
    char buf[64];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        conf_network_t net;
        int rc;

        memset(&net, 0xaa, sizeof(net));
        rc = conf_parse_network(good[i].text, &net);
        if (rc != 0)
            print_message("input: \"%s\" was refused\n", good[i].text);
        assert_int_equal(rc, 0);
        assert_string_equal(net_text(&net, buf, sizeof(buf)), good[i].want);
        assert_int_equal(net.family, strchr(good[i].text, ':') ? AF_INET6 : AF_INET);
        if (net.family == AF_INET)
            for (size_t k = 4; k < 16; k++)
                assert_int_equal(net.addr[k], 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        conf_network_t net = {0};
        int rc = conf_parse_network(bad[i], &net);

        if (rc != -EINVAL)
            print_message("input: \"%s\" was accepted\n", bad[i]);
        assert_int_equal(rc, -EINVAL);
    }
    assert_int_equal(conf_parse_network(NULL, &(conf_network_t){0}), -EINVAL);
    assert_int_equal(conf_parse_network("192.0.2.0/24", NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_listen_forms),
        cmocka_unit_test(test_listen_errors),
        cmocka_unit_test(test_workers),
        cmocka_unit_test(test_max_udp_size),
        cmocka_unit_test(test_tcp_max_connections),
        cmocka_unit_test(test_tcp_max_pipeline),
        cmocka_unit_test(test_tcp_source_limits),
        cmocka_unit_test(test_tcp_output_budgets),
        cmocka_unit_test(test_tcp_idle_timeout),
        cmocka_unit_test(test_nsid),
        cmocka_unit_test(test_chaos),
        cmocka_unit_test(test_version_identity),
        cmocka_unit_test(test_log_level),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_yaml_syntax_errors),
        cmocka_unit_test(test_yaml_reader_error),
        cmocka_unit_test(test_yaml_one_document),
        cmocka_unit_test(test_yaml_nesting),
        cmocka_unit_test(test_yaml_node_limit),
        cmocka_unit_test(test_collects_all_errors),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_zones),
        cmocka_unit_test(test_zone_errors),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_demo_config),
        cmocka_unit_test(test_free_null),
        cmocka_unit_test(test_sockaddr_valid),
        cmocka_unit_test(test_sockaddr_invalid),
        cmocka_unit_test(test_geo_full_example),
        cmocka_unit_test(test_geo_design_example),
        cmocka_unit_test(test_geo_section_order),
        cmocka_unit_test(test_geoip),
        cmocka_unit_test(test_datacenters),
        cmocka_unit_test(test_datacenter_limit),
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_policy_and_map),
        cmocka_unit_test(test_defaults_orders),
        cmocka_unit_test(test_networks),
        cmocka_unit_test(test_parse_network),
        cmocka_unit_test(test_state_file),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_health_full_example),
        cmocka_unit_test(test_health_defaults),
        cmocka_unit_test(test_health_keys_by_type),
        cmocka_unit_test(test_health_values),
        cmocka_unit_test(test_health_timing),
        cmocka_unit_test(test_health_names),
        cmocka_unit_test(test_service_check),
        cmocka_unit_test(test_service_min_up),
        cmocka_unit_test(test_service_failover_ttl),
        cmocka_unit_test(test_pool_probes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
