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
                 NAME ":2:11: server.listen: expected at least one address, got a list");
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
    check_server_value("workers", "{}", expected, "a mapping");
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
    check_server_value("tcp_idle_timeout", "[]", expected, "a list");
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
    check_server_value("nsid", "[]", expected, "a list");

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
}

/* ------------------------------------------------------------ structure */

static void test_unknown_keys(void **state)
{
    (void)state;
    check_errors("server:\n  wrokers: 4\n",
                 NAME ":2:3: server: unknown key \"wrokers\" (expected one of: listen, workers, "
                      "max_udp_size, tcp_idle_timeout, tcp_max_connections, tcp_max_pipeline, "
                      "nsid, chaos, version, identity, log_level)");
    check_errors("servers:\n  workers: 4\n",
                 NAME ":1:1: unknown section \"servers\" (expected one of: server, zones)");
    check_errors("zones:\n  - {file: a.zone, orgin: a.}\n",
                 NAME ":2:20: zones[0]: unknown key \"orgin\" (expected one of: file, origin)");
    /* YAML merge keys are unknown keys too: aliases are not supported */
    check_errors("server:\n  \"<<\": {}\n",
                 NAME ":2:3: server: unknown key \"<<\" (expected one of: listen, workers, "
                      "max_udp_size, tcp_idle_timeout, tcp_max_connections, tcp_max_pipeline, "
                      "nsid, chaos, version, identity, log_level)");
    check_errors("server:\n  \"a\\tb\": 1\n",
                 NAME ":2:3: server: unknown key \"a\\x09b\" (expected one of: listen, workers, "
                      "max_udp_size, tcp_idle_timeout, tcp_max_connections, tcp_max_pipeline, "
                      "nsid, chaos, version, identity, log_level)");
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
                      "nsid, chaos, version, identity, log_level)",
                 NAME ":5:10: server.chaos: expected true or false, got \"sometimes\"",
                 NAME ":8:5: zones[1]: missing required key \"file\"",
                 NAME ":9:5: zones[2]: expected a zone file name, got \"\"",
                 NAME ":10:1: unknown section \"extra\" (expected one of: server, zones)");
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
                                        "(expected one of: server, zones)");
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

    /* 255 bytes with the final dot is the longest name */
    {
        char name[300];
        size_t n = 0;
        while (n < 254) {
            size_t chunk = 254 - n > 62 ? 62 : 254 - n - 1;
            memset(name + n, 'a', chunk);
            n += chunk;
            name[n++] = '.';
        }
        name[n - 1] = 'a'; /* 254 bytes, no final dot */
        name[n] = '\0';
        snprintf(yaml, sizeof(yaml), "zones:\n  - {file: a.zone, origin: %s}\n", name);
        conf = load_ok(yaml);
        assert_int_equal(strlen(conf->zones[0].origin), 255);
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
    assert_string_equal(d.messages[1], "etc: cannot read the config file: not a regular file");
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
