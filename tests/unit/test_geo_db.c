/*
 * Unit tests for src/geo: the country table and geo_db (countries.c,
 * geodb.c): MaxMind's public test databases against the table in
 * shared/geoip-testdata/README.md, lookups cross-checked with
 * libmaxminddb's own, the broken databases, and databases built here by
 * geoip/csv2mmdb in both layouts.
 *
 * Finds the source tree from $top_srcdir (set by `make check`) or from this
 * file's name, and the test databases in $top_srcdir/../shared/geoip-testdata;
 * cases that need what is missing are skipped with a message saying so.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dns/wire.h"
#include "geo/geo.h"
#include "query/query.h"

/* Room for any path built from the ones below plus a file name. */
#define PATHBUF (2 * PATH_MAX)

static char g_top[PATH_MAX];          /* the source tree */
static char g_testdata[PATH_MAX + 64]; /* shared/geoip-testdata, "" when absent */
static char g_tmp[PATH_MAX + 64]; /* scratch directory, removed at the end */
static geo_countries_t *g_countries;

/* ------------------------------------------------------------ helpers */

static void print_messages(const diag_t *d)
{
    for (size_t i = 0; i < d->count; i++)
        print_message("  got: %s\n", d->messages[i]);
}

static void find_tree(void)
{
    const char *top = getenv("top_srcdir");
    if (top && *top) {
        snprintf(g_top, sizeof(g_top), "%s", top);
    } else {
        /* run by hand: the tree is three levels above this file */
        const char *file = __FILE__, *at = strstr(file, "tests/unit/test_geo_db.c");
        size_t len = at ? (size_t)(at - file) : 0;
        if (len > 1)
            snprintf(g_top, sizeof(g_top), "%.*s", (int)(len - 1), file);
        else
            snprintf(g_top, sizeof(g_top), ".");
    }
    char probe[PATHBUF];
    snprintf(probe, sizeof(probe), "%s/../shared/geoip-testdata/GeoIP2-City-Test.mmdb", g_top);
    if (access(probe, R_OK) == 0)
        snprintf(g_testdata, sizeof(g_testdata), "%s/../shared/geoip-testdata", g_top);
}

static const char *top_path(char *buf, size_t size, const char *rel)
{
    snprintf(buf, size, "%s/%s", g_top, rel);
    return buf;
}

static const char *tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", g_tmp, name);
    return buf;
}

/* Path of a MaxMind test database; skips the test when they are absent. */
static const char *testdata(char *buf, size_t size, const char *name)
{
    if (!g_testdata[0]) {
        print_message("  skipped: %s/../shared/geoip-testdata not found "
                      "(MaxMind's test databases)\n", g_top);
        skip();
    }
    snprintf(buf, size, "%s/%s", g_testdata, name);
    return buf;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static geo_db_t *open_ok(const char *path, const conf_geo_fields_t *fields)
{
    diag_t d;
    geo_db_t *db = NULL;
    diag_init(&d);
    d.quiet = true;
    bool ok = geo_db_open(path, fields, g_countries, &db, &d);
    if (!ok || d.count)
        print_messages(&d);
    assert_true(ok);
    assert_int_equal(d.errors, 0);
    assert_non_null(db);
    diag_free(&d);
    return db;
}

/* Opening must fail with a message that starts "path: " and holds want. */
static void open_fails(const char *path, const conf_geo_fields_t *fields, const char *want)
{
    diag_t d;
    geo_db_t *db = (geo_db_t *)1;
    diag_init(&d);
    d.quiet = true;
    bool ok = geo_db_open(path, fields, g_countries, &db, &d);
    assert_false(ok);
    assert_null(db);
    assert_true(d.errors >= 1);
    size_t plen = strlen(path);
    bool seen = false;
    for (size_t i = 0; i < d.count; i++)
        if (strncmp(d.messages[i], path, plen) == 0 && d.messages[i][plen] == ':' &&
            strstr(d.messages[i], want))
            seen = true;
    if (!seen) {
        print_message("  expected a message \"%s: ...%s...\"\n", path, want);
        print_messages(&d);
    }
    assert_true(seen);
    diag_free(&d);
}

static int parse_addr(const char *text, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, text, addr) == 1)
        return AF_INET;
    assert_int_equal(inet_pton(AF_INET6, text, addr), 1);
    return AF_INET6;
}

static geo_location_t locate(const geo_db_t *db, const char *text)
{
    uint8_t addr[16];
    int family = parse_addr(text, addr);
    geo_location_t loc;
    memset(&loc, 0xa5, sizeof(loc)); /* every field must be written */
    int r = geo_db_locate(db, family, addr, &loc);
    if (r != 0)
        print_message("  %s: geo_db_locate returned %d\n", text, r);
    assert_int_equal(r, 0);
    return loc;
}

/* What an address must give; NULL strings mean "", NAN means no coords. */
typedef struct expect {
    const char *addr;
    bool found;
    const char *continent, *country, *subdivision;
    double lat, lon;
    bool from_country;
    unsigned prefix;
} expect_t;

static void check_expect(const geo_db_t *db, const expect_t *e)
{
    geo_location_t loc = locate(db, e->addr);
    const char *cont = e->continent ? e->continent : "", *cc = e->country ? e->country : "",
               *sub = e->subdivision ? e->subdivision : "";
    bool coords = !isnan(e->lat);
    bool ok = loc.found == e->found && strcmp(loc.continent, cont) == 0 &&
              strcmp(loc.country, cc) == 0 && strcmp(loc.subdivision, sub) == 0 &&
              loc.has_coords == coords && loc.prefix == e->prefix &&
              loc.from_country == e->from_country &&
              (!coords || (fabs(loc.lat - e->lat) < 1e-4 && fabs(loc.lon - e->lon) < 1e-4));
    if (!ok) {
        print_message("  %s: expected found=%d %s/%s/%s coords=%d %.5f %.5f from_country=%d "
                      "/%u\n",
                      e->addr, e->found, cont, cc, sub, coords, e->lat, e->lon,
                      e->from_country, e->prefix);
        print_message("  %*s       got found=%d %s/%s/%s coords=%d %.5f %.5f from_country=%d "
                      "/%u\n",
                      (int)strlen(e->addr), "", loc.found, loc.continent, loc.country,
                      loc.subdivision, loc.has_coords, loc.lat, loc.lon, loc.from_country,
                      loc.prefix);
    }
    assert_true(ok);
}

static void check_all(const geo_db_t *db, const expect_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        check_expect(db, &e[i]);
}

/* Runs geoip/csv2mmdb with perl (no exec bit needed) and the given options;
 * returns its exit status, stderr in *err (static). Skips the test when
 * perl's MaxMind::DB::Writer is not installed (status 3). */
static int csv2mmdb(const char *const *opts, const char *csv, const char *out, char **err)
{
    static char text[8192];
    char tool[PATHBUF], errfile[PATHBUF];
    const char *argv[16];
    size_t n = 0;
    argv[n++] = "perl";
    argv[n++] = top_path(tool, sizeof(tool), "geoip/csv2mmdb");
    for (size_t i = 0; opts && opts[i] && n < 12; i++)
        argv[n++] = opts[i];
    argv[n++] = csv;
    argv[n++] = out;
    argv[n] = NULL;
    tmp_path(errfile, sizeof(errfile), "csv2mmdb.err");

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(127);
        setenv("CSV2MMDB_QUIET", "1", 1);
        execvp("perl", (char *const *)argv);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    FILE *f = fopen(errfile, "r");
    size_t got = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    text[got] = 0;
    if (f)
        fclose(f);
    *err = text;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    if (code == 127) {
        print_message("  skipped: cannot run perl\n");
        skip();
    }
    if (code == 3) {
        print_message("  skipped: %s", text);
        skip();
    }
    return code;
}

/* Builds name.mmdb in the scratch directory from CSV text; must succeed. */
static const char *build_db(const char *name, const char *csv_text, const char *const *opts,
                            char *out, size_t size)
{
    char csv[PATHBUF], *err;
    snprintf(csv, sizeof(csv), "%s/%s.csv", g_tmp, name);
    snprintf(out, size, "%s/%s.mmdb", g_tmp, name);
    write_file(csv, csv_text);
    int code = csv2mmdb(opts, csv, out, &err);
    if (code != 0)
        print_message("  csv2mmdb exited %d:\n%s", code, err);
    assert_int_equal(code, 0);
    return out;
}

#define CSV_HEADER "network,continent,country,subdivision,latitude,longitude\n"

/* ------------------------------------------------------------ country table */

static void test_countries_shipped(void **state)
{
    (void)state;
    assert_non_null(g_countries);
    const geo_country_t *gb = geo_countries_find(g_countries, "GB");
    assert_non_null(gb);
    assert_string_equal(gb->code, "GB");
    assert_string_equal(gb->continent, "EU");
    assert_true(gb->lat > 49 && gb->lat < 61 && gb->lon > -9 && gb->lon < 2);
    assert_ptr_equal(geo_countries_find(g_countries, "gb"), gb);
    assert_ptr_equal(geo_countries_find(g_countries, "Gb"), gb);
    /* continent codes that are also countries: American Samoa, Namibia */
    assert_string_equal(geo_countries_find(g_countries, "AS")->continent, "OC");
    assert_string_equal(geo_countries_find(g_countries, "NA")->continent, "AF");
    /* MaxMind's view: Russia is in Europe */
    assert_string_equal(geo_countries_find(g_countries, "RU")->continent, "EU");
    /* withdrawn, but in RIR data and so in ip-location-db */
    assert_non_null(geo_countries_find(g_countries, "AN"));
    assert_non_null(geo_countries_find(g_countries, "XK"));
    assert_string_equal(geo_countries_find(g_countries, "AQ")->continent, "AN");

    /* every code a test database below uses */
    static const char *const used[] = {"GB", "SE", "US", "CN", "BT", "PH", "SG", "AU", "JP",
                                       "FR", "DE", "IE", "BR", "AR", "ZA", "NG", "IN", "NZ"};
    for (size_t i = 0; i < sizeof(used) / sizeof(used[0]); i++)
        assert_non_null(geo_countries_find(g_countries, used[i]));

    assert_null(geo_countries_find(g_countries, "ZZ"));
    assert_null(geo_countries_find(g_countries, "G"));
    assert_null(geo_countries_find(g_countries, "GBR"));
    assert_null(geo_countries_find(g_countries, ""));
    assert_null(geo_countries_find(g_countries, "1A"));
    assert_null(geo_countries_find(g_countries, NULL));
    assert_null(geo_countries_find(NULL, "GB"));
}

/* Loads text as a country table that must fail with exactly these
 * messages (NULL-terminated), in order. */
static void check_table_errors(const char *text, ...)
{
    char path[PATHBUF];
    tmp_path(path, sizeof(path), "countries.csv");
    write_file(path, text);
    diag_t d;
    geo_countries_t *t = (geo_countries_t *)1;
    diag_init(&d);
    d.quiet = true;
    bool ok = geo_countries_load(path, &t, &d);
    va_list ap;
    va_start(ap, text);
    size_t n = 0;
    bool same = true;
    for (const char *want; (want = va_arg(ap, const char *)); n++) {
        char full[PATHBUF + 300];
        snprintf(full, sizeof(full), "%s:%s", path, want);
        if (n >= d.count || strcmp(d.messages[n], full) != 0) {
            print_message("  expected: %s\n", full);
            same = false;
        }
    }
    va_end(ap);
    if (!same || n != d.count)
        print_messages(&d);
    assert_false(ok);
    assert_null(t);
    assert_true(same);
    assert_int_equal(d.count, n);
    diag_free(&d);
}

#define TABLE_HEADER "code,continent,latitude,longitude,name\n"

static void test_countries_errors(void **state)
{
    (void)state;
    check_table_errors("# comment\n" TABLE_HEADER
                       "GB,EU,54,-2,United Kingdom\n"
                       "FR,EU,46\n"
                       "G1,EU,1,2,x\n"
                       "DE,XX,51,9,Germany\n"
                       "gb,EU,54,-2,again\n"
                       "IT,EU,91,12,Italy\n"
                       "ES,EU,40,-181,Spain\n"
                       "PT,EU,north,-8,Portugal\n"
                       "NL,EU,,5,Netherlands\n"
                       "BE,EU,50.5,4.5,Belgium, Kingdom of\n",
                       "4: expected code,continent,latitude,longitude,name",
                       "5: country code 'G1' is not two letters",
                       "6: unknown continent code 'XX' (expected AF AN AS EU NA OC SA)",
                       "7: duplicate country code GB (first on line 3)",
                       "8: coordinates 91, 12 out of range (latitude -90..90, longitude "
                       "-180..180)",
                       "9: coordinates 40, -181 out of range (latitude -90..90, longitude "
                       "-180..180)",
                       "10: latitude and longitude must be numbers",
                       "11: latitude and longitude must be numbers", NULL);
    check_table_errors("GB,EU,54,-2,United Kingdom\n",
                       "1: expected the header line 'code,continent,latitude,longitude,name'",
                       NULL);
    check_table_errors("# only comments\n\n", " no header line: not a country table", NULL);
    check_table_errors(TABLE_HEADER "# nothing else\n", " no countries in the table", NULL);

    /* CRLF line ends and boundary values load */
    char path[PATHBUF];
    tmp_path(path, sizeof(path), "countries-ok.csv");
    write_file(path, TABLE_HEADER "AA,AN,-90,-180,South\r\nZZ,NA,90,180,North\r\n");
    diag_t d;
    geo_countries_t *t;
    diag_init(&d);
    d.quiet = true;
    assert_true(geo_countries_load(path, &t, &d));
    assert_int_equal(d.count, 0);
    assert_string_equal(geo_countries_find(t, "aa")->continent, "AN");
    assert_true(geo_countries_find(t, "ZZ")->lon == 180);
    geo_countries_free(t);

    /* a missing file names itself */
    tmp_path(path, sizeof(path), "no-such-table.csv");
    t = (geo_countries_t *)1;
    assert_false(geo_countries_load(path, &t, &d));
    assert_null(t);
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(d.messages[0], "no-such-table.csv: cannot read the country table"));
    diag_free(&d);
}

/* ------------------------------------------------------------ MaxMind test data */

#define NO NAN

/* Every row of the table in shared/geoip-testdata/README.md, with the
 * prefixes mmdblookup reports (IPv4 ones less 96). */
static const expect_t city_rows[] = {
    {"81.2.69.142", true, "EU", "GB", "ENG", 51.5142, -0.0931, false, 31},
    {"81.2.69.160", true, "EU", "GB", "ENG", 51.5142, -0.0931, false, 27},
    {"2.125.160.216", true, "EU", "GB", "ENG", 51.75, -1.25, false, 29},
    {"89.160.20.112", true, "EU", "SE", "E", 58.4167, 15.6167, false, 28},
    {"89.160.20.128", true, "EU", "SE", "E", 58.4167, 15.6167, false, 25},
    {"216.160.83.56", true, "NA", "US", "WA", 47.2513, -122.3149, false, 29},
    {"216.160.83.64", true, "NA", "US", "WA", 47.7511, -120.7401, false, 29},
    {"214.78.120.5", true, "NA", "US", "CA", 32.7405, -117.0935, false, 22},
    {"149.101.100.1", true, "NA", "US", NULL, 37.751, -97.822, false, 28},
    {"175.16.199.1", true, "AS", "CN", "22", 43.88, 125.3228, false, 24},
    {"67.43.156.1", true, "AS", "BT", NULL, 27.5, 90.5, false, 24},
    {"202.196.224.1", true, "AS", "PH", NULL, 13, 122, false, 20},
    {"214.0.0.1", true, "AS", "SG", NULL, 1.336, 103.7716, false, 24},
    {"214.0.1.1", true, "OC", "AU", "VIC", -37.8159, 144.9669, false, 24},
    /* a record with nothing but traits: found, no location */
    {"214.1.1.1", true, NULL, NULL, NULL, NO, NO, false, 24},
    {"2001:480:10::1", true, "NA", "US", "CA", 32.7203, -117.1552, false, 48},
    {"2001:218::1", true, "AS", "JP", NULL, 35.68536, 139.75309, false, 32},
    {"2a02:d3c0::1", true, "EU", "GB", NULL, 54.75844, -2.69531, false, 29},
    /* continent and coordinates, no country: nothing to fill */
    {"2a02:d500::1", true, "EU", NULL, NULL, 48.69096, 9.14062, false, 29},
    /* not found: the prefix is that of the empty region */
    {"1.1.1.1", false, NULL, NULL, NULL, NO, NO, false, 8},
    {"127.0.0.1", false, NULL, NULL, NULL, NO, NO, false, 8},
    /* IPv4 inside IPv6, located by the IPv4 address, prefix in IPv6 bits */
    {"::ffff:81.2.69.142", true, "EU", "GB", "ENG", 51.5142, -0.0931, false, 127},
    {"::ffff:81.2.69.160", true, "EU", "GB", "ENG", 51.5142, -0.0931, false, 123},
    {"2002:5102:458e::1", true, "EU", "GB", "ENG", 51.5142, -0.0931, false, 47},
    /* 6to4 prefixes stop at the site's /48 */
    {"2002:d64e:7805:1::1", true, "NA", "US", "CA", 32.7405, -117.0935, false, 38},
    {"2002:5102:45a0::1", true, "EU", "GB", "ENG", 51.5142, -0.0931, false, 43},
    {"::ffff:1.1.1.1", false, NULL, NULL, NULL, NO, NO, false, 104},
    {"2002:101:101::", false, NULL, NULL, NULL, NO, NO, false, 24},
};

static void test_city(void **state)
{
    (void)state;
    char path[PATHBUF];
    geo_db_t *db = open_ok(testdata(path, sizeof(path), "GeoIP2-City-Test.mmdb"), NULL);
    check_all(db, city_rows, sizeof(city_rows) / sizeof(city_rows[0]));

    const char *desc = geo_db_describe(db);
    assert_non_null(strstr(desc, "GeoIP2-City, built 20"));
    assert_non_null(strstr(desc, " networks, "));
    assert_non_null(strstr(desc, " records"));
    geo_db_free(db);
}

/* GeoLite2-City has the same layout: a few rows must agree. */
static void test_geolite_city(void **state)
{
    (void)state;
    char path[PATHBUF];
    geo_db_t *db = open_ok(testdata(path, sizeof(path), "GeoLite2-City-Test.mmdb"), NULL);
    geo_location_t loc = locate(db, "81.2.69.142");
    assert_true(loc.found);
    assert_string_equal(loc.country, "GB");
    assert_string_equal(loc.continent, "EU");
    assert_true(loc.has_coords);
    assert_false(loc.from_country);
    loc = locate(db, "2001:218::1");
    assert_string_equal(loc.country, "JP");
    geo_db_free(db);
}

/* A Country database: continent from the record, coordinates from the
 * country table. */
static void test_country_db(void **state)
{
    (void)state;
    char path[PATHBUF];
    const geo_country_t *gb = geo_countries_find(g_countries, "GB"),
                        *se = geo_countries_find(g_countries, "SE"),
                        *us = geo_countries_find(g_countries, "US"),
                        *bt = geo_countries_find(g_countries, "BT"),
                        *ph = geo_countries_find(g_countries, "PH"),
                        *jp = geo_countries_find(g_countries, "JP");
    const expect_t rows[] = {
        {"81.2.69.142", true, "EU", "GB", NULL, gb->lat, gb->lon, true, 31},
        {"2.125.160.216", true, "EU", "GB", NULL, gb->lat, gb->lon, true, 29},
        {"89.160.20.112", true, "EU", "SE", NULL, se->lat, se->lon, true, 28},
        {"216.160.83.56", true, "NA", "US", NULL, us->lat, us->lon, true, 29},
        {"67.43.156.1", true, "AS", "BT", NULL, bt->lat, bt->lon, true, 24},
        {"202.196.224.1", true, "AS", "PH", NULL, ph->lat, ph->lon, true, 20},
        {"2001:480:10::1", true, "NA", "US", NULL, us->lat, us->lon, true, 48},
        {"2001:218::1", true, "AS", "JP", NULL, jp->lat, jp->lon, true, 32},
        /* "City DB only" */
        {"216.160.83.64", false, NULL, NULL, NULL, NO, NO, false, 26},
        {"1.1.1.1", false, NULL, NULL, NULL, NO, NO, false, 8},
        {"::ffff:81.2.69.142", true, "EU", "GB", NULL, gb->lat, gb->lon, true, 127},
    };
    geo_db_t *db = open_ok(testdata(path, sizeof(path), "GeoIP2-Country-Test.mmdb"), NULL);
    check_all(db, rows, sizeof(rows) / sizeof(rows[0]));
    geo_db_free(db);

    /* without a country table nothing is filled in */
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    assert_true(geo_db_open(path, NULL, NULL, &db, &d));
    geo_location_t loc = locate(db, "81.2.69.142");
    assert_true(loc.found);
    assert_string_equal(loc.country, "GB");
    assert_string_equal(loc.continent, "EU");
    assert_false(loc.has_coords);
    assert_false(loc.from_country);
    geo_db_free(db);
    diag_free(&d);
}

/* An IPv4-only tree: IPv6 addresses are not found (prefix 0) unless they
 * embed an IPv4 address. */
static void test_ipv4_only_db(void **state)
{
    (void)state;
    char path[PATHBUF];
    geo_db_t *db = open_ok(testdata(path, sizeof(path), "MaxMind-DB-test-ipv4-24.mmdb"), NULL);
    const expect_t rows[] = {
        {"1.1.1.1", true, NULL, NULL, NULL, NO, NO, false, 32},
        {"1.1.1.3", true, NULL, NULL, NULL, NO, NO, false, 31},
        {"1.1.1.0", false, NULL, NULL, NULL, NO, NO, false, 32},
        {"2001:db8::1", false, NULL, NULL, NULL, NO, NO, false, 0},
        {"::1.1.1.1", false, NULL, NULL, NULL, NO, NO, false, 0},
        {"::ffff:1.1.1.1", true, NULL, NULL, NULL, NO, NO, false, 128},
        {"2002:101:101::1", true, NULL, NULL, NULL, NO, NO, false, 48},
        {"2002:101:102::1", true, NULL, NULL, NULL, NO, NO, false, 47},
    };
    check_all(db, rows, sizeof(rows) / sizeof(rows[0]));
    geo_db_free(db);
}

/* Addresses from the table, the test databases' own networks and a fixed
 * pseudo-random sample. */
static size_t sample_addresses(int *family, uint8_t (*addr)[16], size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof(city_rows) / sizeof(city_rows[0]) && n < max; i++)
        family[n] = parse_addr(city_rows[i].addr, addr[n]), n++;
    for (unsigned i = 0; i < 64 && n < max; i++, n++) { /* 1.1.1.0/26 */
        family[n] = parse_addr("1.1.1.0", addr[n]);
        addr[n][3] = (uint8_t)i;
    }
    for (unsigned i = 0; i < 96 && n < max; i++, n++) { /* ::1:ffff:ffff, ::2:0:0/121 */
        family[n] = parse_addr(i ? "::2:0:0" : "::1:ffff:ffff", addr[n]);
        addr[n][15] = i ? (uint8_t)i : 0xff;
    }
    uint64_t x = 0x9e3779b97f4a7c15u;
    while (n < max) {
        for (unsigned j = 0; j < 16; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
            addr[n][j] = (uint8_t)x;
        }
        family[n] = (x >> 20) & 1 ? AF_INET : AF_INET6;
        if (family[n] == AF_INET6 && (x >> 21) & 1)
            addr[n][0] = 0x20, addr[n][1] = (x >> 22) & 1 ? 0x01 : 0x0a; /* 2001::, 200a:: */
        if (family[n] == AF_INET)
            memset(addr[n] + 4, 0, 12);
        n++;
    }
    return n;
}

/* Our tree walk against MMDB_lookup_sockaddr on every good test database
 * (24, 28 and 32-bit records, IPv4 and IPv6 trees): same found, same prefix.
 * ::ffff:0:0/96 and 2002::/16 are left out: there we answer from the IPv4
 * tree on purpose, whether or not the file aliases them. */
static void test_cross_check(void **state)
{
    (void)state;
    static const char *const dbs[] = {
        "GeoIP2-City-Test.mmdb",          "GeoIP2-Country-Test.mmdb",
        "GeoLite2-City-Test.mmdb",        "GeoLite2-Country-Test.mmdb",
        "GeoIP2-ISP-Test.mmdb",           "GeoIP2-Anonymous-IP-Test.mmdb",
        "MaxMind-DB-test-ipv4-24.mmdb",   "MaxMind-DB-test-ipv4-28.mmdb",
        "MaxMind-DB-test-ipv4-32.mmdb",   "MaxMind-DB-test-ipv6-24.mmdb",
        "MaxMind-DB-test-ipv6-28.mmdb",   "MaxMind-DB-test-ipv6-32.mmdb",
        "MaxMind-DB-test-mixed-24.mmdb",  "MaxMind-DB-test-mixed-28.mmdb",
        "MaxMind-DB-test-mixed-32.mmdb",  "MaxMind-DB-no-ipv4-search-tree.mmdb",
        "MaxMind-DB-test-decoder.mmdb",   "MaxMind-DB-string-value-entries.mmdb",
        "MaxMind-DB-test-nested.mmdb",    "MaxMind-DB-test-metadata-pointers.mmdb",
        "MaxMind-DB-test-pointer-decoder.mmdb",
    };
    enum { N = 2000 };
    static int family[N];
    static uint8_t addr[N][16];
    size_t n = sample_addresses(family, addr, N);
    char path[PATHBUF];
    unsigned compared = 0;

    for (size_t k = 0; k < sizeof(dbs) / sizeof(dbs[0]); k++) {
        geo_db_t *db = open_ok(testdata(path, sizeof(path), dbs[k]), NULL);
        MMDB_s mmdb;
        assert_int_equal(MMDB_open(path, MMDB_MODE_MMAP, &mmdb), MMDB_SUCCESS);
        for (size_t i = 0; i < n; i++) {
            struct sockaddr_storage ss;
            memset(&ss, 0, sizeof(ss));
            if (family[i] == AF_INET6 &&
                ((addr[i][0] == 0x20 && addr[i][1] == 0x02) ||
                 (memcmp(addr[i], "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)))
                continue;
            if (family[i] == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
                sin->sin_family = AF_INET;
                memcpy(&sin->sin_addr, addr[i], 4);
            } else {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
                sin6->sin6_family = AF_INET6;
                memcpy(&sin6->sin6_addr, addr[i], 16);
            }
            int err;
            MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&mmdb, (struct sockaddr *)&ss, &err);
            geo_location_t loc;
            assert_int_equal(geo_db_locate(db, family[i], addr[i], &loc), 0);
            if (err == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR) {
                assert_false(loc.found);
                assert_int_equal(loc.prefix, 0);
                continue;
            }
            assert_int_equal(err, MMDB_SUCCESS);
            unsigned want = r.netmask;
            if (family[i] == AF_INET && mmdb.metadata.ip_version == 6)
                want = want >= 96 ? want - 96 : 0;
            if (loc.found != r.found_entry || loc.prefix != want) {
                char text[INET6_ADDRSTRLEN];
                inet_ntop(family[i], addr[i], text, sizeof(text));
                print_message("  %s %s: libmaxminddb found=%d /%u, geo_db found=%d /%u\n",
                              dbs[k], text, r.found_entry, want, loc.found, loc.prefix);
            }
            assert_int_equal(loc.found, r.found_entry);
            assert_int_equal(loc.prefix, want);
            compared++;
        }
        MMDB_close(&mmdb);
        geo_db_free(db);
    }
    assert_true(compared > 20000);
}

static void test_broken_dbs(void **state)
{
    (void)state;
    char path[PATHBUF];
    open_fails(testdata(path, sizeof(path), "GeoIP2-City-Test-Invalid-Node-Count.mmdb"), NULL,
               "invalid metadata");
    /* a bad double in one record: found by decoding every record at load */
    open_fails(testdata(path, sizeof(path), "GeoIP2-City-Test-Broken-Double-Format.mmdb"), NULL,
               "record at data offset 155: The MaxMind DB file's data section contains bad data");
    /* a tree record pointing past the data section (node 36) */
    open_fails(testdata(path, sizeof(path), "MaxMind-DB-test-broken-pointers-24.mmdb"), NULL,
               "search tree is corrupt: node ");
    /* libmaxminddb still answers 1.1.1.x from it; the walk finds a record
     * that leads back to the root (worded by whichever check sees it) */
    open_fails(testdata(path, sizeof(path), "MaxMind-DB-test-broken-search-tree-24.mmdb"), NULL,
               "search tree is corrupt: node ");

    /* not a database at all, and no file */
    char other[PATHBUF];
    open_fails(top_path(other, sizeof(other), "geoip/countries.csv"), NULL,
               "invalid metadata");
    open_fails(tmp_path(other, sizeof(other), "missing.mmdb"), NULL, "No such file");
}

/* Field paths from the config replace the defaults, field by field. */
static void test_custom_fields(void **state)
{
    (void)state;
    char path[PATHBUF];
    testdata(path, sizeof(path), "GeoIP2-City-Test.mmdb");

    conf_field_path_t registered[] = {{{"registered_country", "iso_code", NULL}}};
    conf_field_path_t second_sub[] = {{{"subdivisions", "1", "iso_code", NULL}},
                                      {{"subdivisions", "0", "iso_code", NULL}}};
    conf_field_path_t missing_then_cont[] = {{{"no", "such", "path", NULL}},
                                             {{"continent", "code", NULL}}};
    conf_geo_fields_t fields = {0};
    fields.country = registered;
    fields.n_country = 1;
    fields.subdivision = second_sub;
    fields.n_subdivision = 2;
    fields.continent = missing_then_cont;
    fields.n_continent = 2;
    geo_db_t *db = open_ok(path, &fields);
    const expect_t rows[] = {
        /* registered_country FR; second subdivision WBK */
        {"2.125.160.216", true, "EU", "FR", "WBK", 51.75, -1.25, false, 29},
        /* one subdivision only: the second path wins; registered in US */
        {"81.2.69.142", true, "EU", "US", "ENG", 51.5142, -0.0931, false, 31},
    };
    check_all(db, rows, sizeof(rows) / sizeof(rows[0]));
    geo_db_free(db);

    /* empty lists mean the defaults */
    conf_geo_fields_t empty = {0};
    db = open_ok(path, &empty);
    check_expect(db, &city_rows[0]);
    geo_db_free(db);

    /* a path that holds the wrong type is an error, not "no value" */
    conf_field_path_t location[] = {{{"location", NULL}}};
    conf_geo_fields_t bad = {0};
    bad.country = location;
    bad.n_country = 1;
    open_fails(path, &bad, "country (location) is a map, expected a string");

    conf_field_path_t city_name[] = {{{"city", "names", "en", NULL}}};
    bad = (conf_geo_fields_t){0};
    bad.latitude = city_name;
    bad.n_latitude = 1;
    bad.longitude = city_name;
    bad.n_longitude = 1;
    open_fails(path, &bad, "latitude (city.names.en) is \"");

    conf_field_path_t names[] = {{{"country", "names", "en", NULL}}};
    bad = (conf_geo_fields_t){0};
    bad.subdivision = names;
    bad.n_subdivision = 1;
    open_fails(path, &bad, "expected 1 to 3 letters or digits");

    conf_field_path_t metro[] = {{{"location", "metro_code", NULL}}};
    bad = (conf_geo_fields_t){0};
    bad.latitude = metro; /* a uint16 is a number, but not a latitude */
    bad.n_latitude = 1;
    bad.longitude = metro;
    bad.n_longitude = 1;
    open_fails(path, &bad, "is out of range");

    conf_field_path_t only_lat[] = {{{"location", "latitude", NULL}}};
    conf_field_path_t nothing[] = {{{"nothing", NULL}}};
    bad = (conf_geo_fields_t){0};
    bad.latitude = only_lat;
    bad.n_latitude = 1;
    bad.longitude = nothing;
    bad.n_longitude = 1;
    open_fails(path, &bad, "latitude without longitude");
}

/* ------------------------------------------------------------ csv2mmdb */

static const char test_csv[] =
    "# written by test_geo_db\n" CSV_HEADER
    "192.0.2.0/24,EU,GB,ENG,51.5074,-0.1278\n"
    "192.0.2.128/25,EU,IE,L,53.3498,-6.2603\n" /* nested: the more specific wins */
    "198.51.100.0/24,NA,US,VA,39.0438,-77.4874\n"
    "203.0.113.7,AS,SG,,1.2897,103.8501\n" /* a host route */
    "2001:db8::/33,EU,GB,ENG,51.5074,-0.1278\n"
    "2001:db8:8000::/34,NA,US,VA,39.0438,-77.4874\n"
    "2001:db8:c000::/34,AS,SG,,1.2897,103.8501\n"
    "\n"
    "10.1.0.0/16,,DE,,,\n"   /* country only */
    "10.2.0.0/16,OC,,,,\n"   /* continent only */
    "10.3.0.0/16,,,,-33.8688,151.2093\n" /* coordinates only */
    "10.4.0.0/16,,,,,\n";    /* an empty record */

static void test_csv2mmdb(void **state)
{
    (void)state;
    char out[PATHBUF];
    geo_db_t *db = open_ok(build_db("t", test_csv, NULL, out, sizeof(out)), NULL);
    const geo_country_t *de = geo_countries_find(g_countries, "DE");
    const expect_t rows[] = {
        {"192.0.2.1", true, "EU", "GB", "ENG", 51.5074, -0.1278, false, 25},
        {"192.0.2.200", true, "EU", "IE", "L", 53.3498, -6.2603, false, 25},
        {"198.51.100.255", true, "NA", "US", "VA", 39.0438, -77.4874, false, 24},
        {"203.0.113.7", true, "AS", "SG", NULL, 1.2897, 103.8501, false, 32},
        {"203.0.113.6", false, NULL, NULL, NULL, NO, NO, false, 32},
        {"2001:db8::1", true, "EU", "GB", "ENG", 51.5074, -0.1278, false, 33},
        {"2001:db8:9999::1", true, "NA", "US", "VA", 39.0438, -77.4874, false, 34},
        {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true, "AS", "SG", NULL, 1.2897, 103.8501,
         false, 34},
        {"2001:db9::", false, NULL, NULL, NULL, NO, NO, false, 32},
        {"10.1.2.3", true, "EU", "DE", NULL, de->lat, de->lon, true, 16},
        {"10.2.2.3", true, "OC", NULL, NULL, NO, NO, false, 16},
        {"10.3.2.3", true, NULL, NULL, NULL, -33.8688, 151.2093, false, 16},
        {"10.4.2.3", true, NULL, NULL, NULL, NO, NO, false, 16},
        {"10.5.0.1", false, NULL, NULL, NULL, NO, NO, false, 16},
        /* the IPv4 subtree seen from IPv6 */
        {"::ffff:192.0.2.1", true, "EU", "GB", "ENG", 51.5074, -0.1278, false, 121},
        {"2002:c000:0201::1", true, "EU", "GB", "ENG", 51.5074, -0.1278, false, 41},
        {"2002:cb00:7107::", true, "AS", "SG", NULL, 1.2897, 103.8501, false, 48},
        {"::192.0.2.1", true, "EU", "GB", "ENG", 51.5074, -0.1278, false, 121},
    };
    check_all(db, rows, sizeof(rows) / sizeof(rows[0]));
    assert_non_null(strstr(geo_db_describe(db), "Meridian-Geo, built "));
    geo_db_free(db);

    /* every record size */
    static const char *const sizes[] = {"24", "32"};
    for (size_t i = 0; i < 2; i++) {
        const char *opts[] = {"--record-size", sizes[i], NULL};
        char name[16];
        snprintf(name, sizeof(name), "t%s", sizes[i]);
        db = open_ok(build_db(name, test_csv, opts, out, sizeof(out)), NULL);
        check_all(db, rows, sizeof(rows) / sizeof(rows[0]));
        geo_db_free(db);
    }
}

/* A /16 dense enough to get a second-level table (see geodb.c), with
 * networks shorter than, equal to and longer than /24 inside it, beside a
 * sparse /16 that is walked: every address of the dense one (and a sample
 * of the sparse one) gets the record and prefix libmaxminddb gives. */
static void test_dense_v4(void **state)
{
    (void)state;
    static const char *const countries[] = {"GB", "US", "SG", "DE"};
    char *csv = malloc(64 * 1024), out[PATHBUF];
    size_t n = (size_t)snprintf(csv, 64 * 1024, CSV_HEADER);
    for (unsigned b = 0; b < 128; b += 2) /* 64 /24s */
        n += (size_t)snprintf(csv + n, 64 * 1024 - n, "100.64.%u.0/24,,%s,,,\n", b,
                              countries[b / 2 % 4]);
    n += (size_t)snprintf(csv + n, 64 * 1024 - n, "100.64.160.0/20,,FR,,,\n");
    n += (size_t)snprintf(csv + n, 64 * 1024 - n, "100.64.200.16/28,,JP,,,\n");
    n += (size_t)snprintf(csv + n, 64 * 1024 - n, "100.64.200.33/32,,BR,,,\n");
    n += (size_t)snprintf(csv + n, 64 * 1024 - n, "100.64.6.128/25,,AU,,,\n");
    snprintf(csv + n, 64 * 1024 - n, "198.18.7.0/24,,CA,,,\n");
    build_db("dense", csv, NULL, out, sizeof(out));
    free(csv);
    geo_db_t *db = open_ok(out, NULL);
    MMDB_s mmdb;
    assert_int_equal(MMDB_open(out, MMDB_MODE_MMAP, &mmdb), MMDB_SUCCESS);
    unsigned compared = 0;
    for (unsigned a = 0; a < 2; a++) {
        for (unsigned b = 0; b < 256; b++) {
            for (unsigned c = 0; c < 256; c += a ? 85 : 1) {
                uint8_t addr[16] = {100, 64, (uint8_t)b, (uint8_t)c};
                if (a) {
                    addr[0] = 198;
                    addr[1] = 18;
                }
                struct sockaddr_in sin = {.sin_family = AF_INET};
                memcpy(&sin.sin_addr, addr, 4);
                int err;
                MMDB_lookup_result_s r =
                    MMDB_lookup_sockaddr(&mmdb, (struct sockaddr *)&sin, &err);
                assert_int_equal(err, MMDB_SUCCESS);
                geo_location_t loc;
                assert_int_equal(geo_db_locate(db, AF_INET, addr, &loc), 0);
                unsigned want = r.netmask >= 96 ? r.netmask - 96 : 0;
                if (loc.found != r.found_entry || loc.prefix != want)
                    print_message("  %u.%u.%u.%u: libmaxminddb found=%d /%u, "
                                  "geo_db found=%d /%u\n",
                                  addr[0], addr[1], b, c, r.found_entry, want, loc.found,
                                  loc.prefix);
                assert_int_equal(loc.found, r.found_entry);
                assert_int_equal(loc.prefix, want);
                if (loc.found) {
                    MMDB_entry_data_s e;
                    assert_int_equal(MMDB_get_value(&r.entry, &e, "country", "iso_code", NULL),
                                     MMDB_SUCCESS);
                    assert_memory_equal(loc.country, e.utf8_string, 2);
                }
                compared++;
            }
        }
    }
    assert_int_equal(compared, 256 * 256 + 256 * 4);
    MMDB_close(&mmdb);
    geo_db_free(db);
}

/* One address through every way in to the IPv4 tables (geo_db_lookup_v4,
 * AF_INET, ::ffff:0:0/96 and 6to4) against libmaxminddb: same found and
 * prefix, and the same record whichever way in. Returns 1 (compared). */
static unsigned check_v4_address(const geo_db_t *db, MMDB_s *mmdb, uint32_t a)
{
    uint8_t v4[16] = {(uint8_t)(a >> 24), (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a};
    uint8_t mapped[16] = {[10] = 0xff, [11] = 0xff};
    uint8_t sixtofour[16] = {0x20, 0x02};
    memcpy(mapped + 12, v4, 4);
    memcpy(sixtofour + 2, v4, 4);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    memcpy(&sin.sin_addr, v4, 4);
    int err;
    MMDB_lookup_result_s want = MMDB_lookup_sockaddr(mmdb, (struct sockaddr *)&sin, &err);
    assert_int_equal(err, MMDB_SUCCESS);
    unsigned want_prefix = want.netmask;
    if (mmdb->metadata.ip_version == 6)
        want_prefix = want_prefix >= 96 ? want_prefix - 96 : 0;

    uint32_t rec[4] = {0}; /* any value: only compared when found */
    uint8_t prefix[4] = {0};
    int r[4] = {geo_db_lookup_v4(db, a, &rec[0], &prefix[0]),
                geo_db_lookup(db, AF_INET, v4, &rec[1], &prefix[1]),
                geo_db_lookup(db, AF_INET6, mapped, &rec[2], &prefix[2]),
                geo_db_lookup(db, AF_INET6, sixtofour, &rec[3], &prefix[3])};
    unsigned want6to4 = want_prefix + 16 > 48 ? 48 : want_prefix + 16;
    bool ok = r[0] == want.found_entry && prefix[0] == want_prefix;
    for (int k = 1; k < 4; k++)
        ok = ok && r[k] == r[0] && (!r[0] || rec[k] == rec[0]);
    ok = ok && prefix[1] == want_prefix && prefix[2] == want_prefix + 96 &&
         prefix[3] == want6to4;
    if (!ok)
        print_message("  %u.%u.%u.%u: libmaxminddb found=%d /%u; geo_db_lookup_v4 %d /%u "
                      "record %u, AF_INET %d /%u record %u, mapped %d /%u record %u, "
                      "6to4 %d /%u record %u\n",
                      v4[0], v4[1], v4[2], v4[3], want.found_entry, want_prefix, r[0],
                      prefix[0], rec[0], r[1], prefix[1], rec[1], r[2], prefix[2], rec[2], r[3],
                      prefix[3], rec[3]);
    assert_true(ok);
    return 1;
}

/* A CSV of /16s 20.k.0.0 (k = 2 to 24) tiled by k aligned networks of
 * alternate countries, so k runs of third bytes from byte 0 to 255, and of
 * sparse /16s whose "none" beside their networks makes the runs: one /24
 * at byte 0 or 255 (9 runs), one /32 at the /16's end, two /24s (16 runs,
 * the most a runs block holds) and three (22). */
static char *runs_csv(void)
{
    size_t cap = 64 * 1024, n = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    n += (size_t)snprintf(csv + n, cap - n, CSV_HEADER);
    for (unsigned k = 2; k <= 24; k++) {
        /* split the first of the largest blocks until there are k */
        unsigned start[256], bits[256], count = 1;
        start[0] = 0;
        bits[0] = 16;
        while (count < k) {
            unsigned big = 0;
            for (unsigned i = 1; i < count; i++)
                if (bits[i] < bits[big])
                    big = i;
            memmove(start + big + 1, start + big, (count - big) * sizeof(*start));
            memmove(bits + big + 1, bits + big, (count - big) * sizeof(*bits));
            bits[big]++;
            bits[big + 1] = bits[big];
            start[big + 1] = start[big] + (1u << (24 - bits[big]));
            count++;
        }
        for (unsigned i = 0; i < count; i++)
            n += (size_t)snprintf(csv + n, cap - n, "20.%u.%u.0/%u,%s,,,\n", k, start[i], bits[i],
                                  i % 2 ? "NA,US" : "EU,GB");
    }
    n += (size_t)snprintf(csv + n, cap - n,
                          "40.1.0.0/24,EU,GB,,,\n40.2.255.0/24,EU,GB,,,\n"
                          "40.3.255.255/32,EU,GB,,,\n"
                          "40.4.0.0/24,EU,GB,,,\n40.4.128.0/24,NA,US,,,\n"
                          "40.5.0.0/24,EU,GB,,,\n40.5.64.0/24,NA,US,,,\n"
                          "40.5.128.0/24,EU,GB,,,\n");
    return csv;
}

/* Writes an IPv4 database (24-bit records) whose only networks are
 * 20.1.0.0/17 and 20.1.128.0/17, both pointing at one record: a split /16
 * of a single run, which csv2mmdb cannot make (its writer merges them). */
static void write_one_run_db(const char *path)
{
    /* MMDB data: a map of n pairs is "\xe0" + n, a string of n bytes "\x40" + n */
    static const char record[] = "\xe1" "\x47" "country" "\xe1" "\x48" "iso_code" "\x42" "GB";
    static const char metadata[] = "\xab\xcd\xef" "MaxMind.com" "\xe9"
                                   "\x49" "languages" "\x00\x04" /* [] */
                                   "\x4b" "description" "\xe0" /* {} */
                                   "\x4a" "node_count" "\xc1\x11" /* uint32 17 */
                                   "\x4b" "record_size" "\xa1\x18" /* uint16 24 */
                                   "\x4a" "ip_version" "\xa1\x04"
                                   "\x4d" "database_type" "\x44" "Test"
                                   "\x5b" "binary_format_major_version" "\xa1\x02"
                                   "\x5b" "binary_format_minor_version" "\xa0" /* 0 */
                                   "\x4b" "build_epoch" "\x01\x02\x01"; /* uint64 1 */
    enum { NODES = 17, EMPTY = NODES, DATA = NODES + 16 };
    uint8_t tree[NODES * 6 + 16] = {0};
    for (unsigned i = 0; i < NODES; i++) {
        unsigned want = i < 16 ? 0x1401u >> (15 - i) & 1 : 2; /* the bits of 20.1 */
        for (unsigned side = 0; side < 2; side++) {
            uint32_t v = i == 16 ? DATA : side == want ? i + 1 : EMPTY;
            tree[i * 6 + side * 3] = (uint8_t)(v >> 16);
            tree[i * 6 + side * 3 + 1] = (uint8_t)(v >> 8);
            tree[i * 6 + side * 3 + 2] = (uint8_t)v;
        }
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(tree, 1, sizeof(tree), f), sizeof(tree)); /* + separator */
    assert_int_equal(fwrite(record, 1, sizeof(record) - 1, f), sizeof(record) - 1);
    assert_int_equal(fwrite(metadata, 1, sizeof(metadata) - 1, f), sizeof(metadata) - 1);
    assert_int_equal(fclose(f), 0);
}

/* The form of /16 a.b's block: its runs in a runs block, 256 when it has
 * every entry, 0 when the /16 is not split. */
static unsigned v4_block_runs(const geo_db_t *db, unsigned a, unsigned b)
{
    const geo_v4_index_t *ix = (const geo_v4_index_t *)db;
    uint32_t e = ix->l1[a << 8 | b];
    if (!(e & GEO_V4_TABLE))
        return 0;
    if (!(e & GEO_V4_RUNS))
        return 256;
    const uint8_t *last = (const uint8_t *)(ix->l2 + (size_t)(e >> GEO_V4_SHIFT) * GEO_V4_BLOCK);
    unsigned n = 1;
    while (last[n - 1] != 255)
        n++;
    return n;
}

/* The direct IPv4 tables (a /16 table, then a block per split /16 by the
 * third byte, the tree only past /24) against libmaxminddb: every /16 at
 * its edges and middle, every /24 edge of the /16s the databases split, in
 * IPv4 and IPv6 trees, the networks longer than /24 of a built one, and
 * runs blocks of 1 to 16 runs beside 256-entry ones of a built one. */
static void test_v4_tables(void **state)
{
    (void)state;
    static const char *const dbs[] = {
        "GeoIP2-City-Test.mmdb",        "MaxMind-DB-test-ipv4-24.mmdb",
        "MaxMind-DB-test-ipv4-28.mmdb", "MaxMind-DB-test-mixed-32.mmdb",
        "MaxMind-DB-no-ipv4-search-tree.mmdb",
    };
    char path[PATHBUF];
    unsigned compared = 0;
    const size_t n_dbs = sizeof(dbs) / sizeof(dbs[0]);
    for (size_t k = 0; k <= n_dbs + 2; k++) {
        if (k < n_dbs) {
            testdata(path, sizeof(path), dbs[k]);
        } else if (k == n_dbs + 2) {
            write_one_run_db(tmp_path(path, sizeof(path), "v4onerun.mmdb"));
        } else if (k == n_dbs + 1) {
            char *csv = runs_csv();
            build_db("v4runs", csv, NULL, path, sizeof(path));
            free(csv);
        } else {
            /* split /16s with /17 to /32 networks, back to back at edges */
            char csv[4096];
            size_t n = (size_t)snprintf(csv, sizeof(csv), CSV_HEADER);
            static const char *const nets[] = {
                "10.0.0.0/17",     "10.0.128.0/24",   "10.0.129.0/25",   "10.0.129.128/32",
                "10.0.255.255/32", "10.1.0.0/16",     "10.2.0.0/15",     "11.0.0.0/8",
                "12.34.56.0/23",   "12.34.58.0/26",   "12.34.58.64/27",  "12.34.255.0/24",
                "0.0.0.0/24",      "255.255.255.0/25", "255.255.255.254/31",
            };
            for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
                n += (size_t)snprintf(csv + n, sizeof(csv) - n, "%s,EU,GB,,,\n", nets[i]);
            build_db("v4tables", csv, NULL, path, sizeof(path));
        }
        geo_db_t *db = open_ok(path, NULL);
        if (k == n_dbs + 1) {
            /* the cases are there: runs blocks up to 16 runs, then 256 entries */
            for (unsigned r = 2; r <= 24; r++)
                assert_int_equal(v4_block_runs(db, 20, r), r <= GEO_V4_RUNS_MAX ? r : 256);
            assert_int_equal(v4_block_runs(db, 40, 1), 9);
            assert_int_equal(v4_block_runs(db, 40, 2), 9);
            assert_int_equal(v4_block_runs(db, 40, 3), 9);
            assert_int_equal(v4_block_runs(db, 40, 4), 16);
            assert_int_equal(v4_block_runs(db, 40, 5), 256);
            assert_int_equal(v4_block_runs(db, 40, 6), 0);
        }
        if (k == n_dbs + 2)
            assert_int_equal(v4_block_runs(db, 20, 1), 1);
        MMDB_s mmdb;
        assert_int_equal(MMDB_open(path, MMDB_MODE_MMAP, &mmdb), MMDB_SUCCESS);
        for (uint32_t p = 0; p < 65536; p++) {
            static const uint32_t low16[] = {0x0000, 0x00ff, 0x8000, 0xffff};
            for (size_t i = 0; i < sizeof(low16) / sizeof(low16[0]); i++)
                compared += check_v4_address(db, &mmdb, p << 16 | low16[i]);
            /* a /16 the database splits: every /24 at both ends */
            struct sockaddr_in sin = {.sin_family = AF_INET};
            uint32_t be = htonl(p << 16);
            memcpy(&sin.sin_addr, &be, 4);
            int err;
            MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&mmdb, (struct sockaddr *)&sin, &err);
            unsigned bits = mmdb.metadata.ip_version == 6 && r.netmask >= 96 ? r.netmask - 96
                                                                                : r.netmask;
            if (bits <= 16)
                continue;
            for (uint32_t c = 0; c < 256; c++) {
                compared += check_v4_address(db, &mmdb, p << 16 | c << 8);
                compared += check_v4_address(db, &mmdb, p << 16 | c << 8 | 0xff);
                /* past /24: walked */
                compared += check_v4_address(db, &mmdb, p << 16 | c << 8 | (c * 37 & 0xff));
            }
        }
        MMDB_close(&mmdb);
        geo_db_free(db);
    }
    assert_true(compared > 7 * 65536 * 4);
}

/* ------------------------------------------------------------ IPv6 strides */

/* One database's IPv6 lookups against libmaxminddb's. */
typedef struct v6_check {
    const char *name;
    geo_db_t *db;
    MMDB_s mmdb;
    uint32_t *offset_of; /* our record -> its data offset + 1, 0 when not seen yet */
    uint32_t *record_of; /* data offset -> our record + 1, the same way */
    size_t n_records;
    unsigned compared, embedded;
} v6_check_t;

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* addr through geo_db_lookup(): the same found and prefix as libmaxminddb,
 * and records that stand for data offsets one to one; in ::ffff:0:0/96 and
 * 2002::/16, the same as the embedded IPv4 address through the IPv4 way. */
static void check_v6_address(v6_check_t *c, const uint8_t addr[16])
{
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
    uint32_t rec = UINT32_MAX, want_rec = UINT32_MAX;
    uint8_t prefix = 0xee;
    int r = geo_db_lookup(c->db, AF_INET6, addr, &rec, &prefix), want;
    unsigned want_prefix;
    bool is_mapped = memcmp(addr, mapped, 12) == 0;
    if (is_mapped || (addr[0] == 0x20 && addr[1] == 0x02)) {
        uint8_t p4;
        want = geo_db_lookup_v4(c->db, load_be32(addr + (is_mapped ? 12 : 2)), &want_rec, &p4);
        want_prefix = is_mapped ? p4 + 96u : (p4 + 16u > 48 ? 48 : p4 + 16u);
        c->embedded++;
    } else {
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
        memcpy(&sin6.sin6_addr, addr, 16);
        int err;
        MMDB_lookup_result_s m = MMDB_lookup_sockaddr(&c->mmdb, (struct sockaddr *)&sin6, &err);
        if (err == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR) {
            want = 0;
            want_prefix = 0;
        } else {
            assert_int_equal(err, MMDB_SUCCESS);
            want = m.found_entry;
            want_prefix = m.netmask;
        }
        if (want && r == 1 && rec < c->n_records) {
            /* the record the data offset got first, and the offset of that
             * record: one to one */
            uint32_t off = m.entry.offset;
            assert_true(off < c->mmdb.data_section_size);
            if (!c->record_of[off])
                c->record_of[off] = rec + 1;
            if (!c->offset_of[rec])
                c->offset_of[rec] = off + 1;
            want_rec = c->offset_of[rec] == off + 1 ? c->record_of[off] - 1 : UINT32_MAX;
        }
    }
    if (r != want || prefix != want_prefix || (want == 1 && rec != want_rec)) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, addr, text, sizeof(text));
        print_message("  %s %s: expected %d /%u record %u, geo_db_lookup %d /%u record %u "
                      "(UINT32_MAX: a record already seen for another data offset)\n",
                      c->name, text, want, want_prefix, want_rec, r, prefix, rec);
    }
    assert_int_equal(r, want);
    assert_int_equal(prefix, want_prefix);
    if (want == 1)
        assert_int_equal(rec, want_rec);
    c->compared++;
}

/* a = the network's first address (len bits kept) with every bit past len
 * set to fill, or to pseudo-random bits when fill is 2. */
static void v6_fill(uint8_t a[16], unsigned len, unsigned fill, uint64_t *x)
{
    for (unsigned b = len; b < 128; b++) {
        unsigned bit = fill;
        if (fill == 2) {
            *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
            bit = *x & 1;
        }
        uint8_t m = (uint8_t)(0x80 >> (b % 8));
        a[b / 8] = (uint8_t)(bit ? a[b / 8] | m : a[b / 8] & ~m);
    }
}

/* Adds delta (+1 or -1) to a 128-bit address; false when it wraps. */
static bool v6_step(uint8_t a[16], int delta)
{
    for (int i = 15; i >= 0; i--) {
        unsigned v = a[i];
        a[i] = (uint8_t)(v + (unsigned)delta);
        if ((delta > 0 && v != 0xff) || (delta < 0 && v != 0))
            return true;
    }
    return false;
}

/* Every network of the tree (aliases too): its first and last address,
 * the addresses either side, one inside at random. */
static void walk_v6(v6_check_t *c, uint32_t node, unsigned depth, uint8_t prefix[16], uint64_t *x)
{
    MMDB_search_node_s n;
    assert_int_equal(MMDB_read_node(&c->mmdb, node, &n), MMDB_SUCCESS);
    for (unsigned side = 0; side < 2; side++) {
        uint8_t m = (uint8_t)(0x80 >> (depth % 8));
        prefix[depth / 8] = (uint8_t)(side ? prefix[depth / 8] | m : prefix[depth / 8] & ~m);
        uint8_t type = side ? n.right_record_type : n.left_record_type;
        uint64_t record = side ? n.right_record : n.left_record;
        if (type == MMDB_RECORD_TYPE_SEARCH_NODE && depth + 1 < 128) {
            walk_v6(c, (uint32_t)record, depth + 1, prefix, x);
            continue;
        }
        uint8_t a[16];
        memcpy(a, prefix, 16);
        v6_fill(a, depth + 1, 0, x);
        check_v6_address(c, a);
        if (v6_step(a, -1))
            check_v6_address(c, a);
        memcpy(a, prefix, 16);
        v6_fill(a, depth + 1, 1, x);
        check_v6_address(c, a);
        if (v6_step(a, 1))
            check_v6_address(c, a);
        memcpy(a, prefix, 16);
        v6_fill(a, depth + 1, 2, x);
        check_v6_address(c, a);
    }
    prefix[depth / 8] = (uint8_t)(prefix[depth / 8] & ~(0x80 >> (depth % 8)));
}

static unsigned check_v6_db(const char *name, const char *path, unsigned *embedded)
{
    v6_check_t c = {.name = name};
    c.db = open_ok(path, NULL);
    assert_int_equal(MMDB_open(path, MMDB_MODE_MMAP, &c.mmdb), MMDB_SUCCESS);
    c.n_records = geo_db_record_count(c.db);
    c.offset_of = calloc(c.n_records + 1, sizeof(*c.offset_of));
    c.record_of = calloc(c.mmdb.data_section_size + 1, sizeof(*c.record_of));
    assert_non_null(c.offset_of);
    assert_non_null(c.record_of);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    uint8_t prefix[16] = {0};
    if (c.mmdb.metadata.ip_version == 6) {
        walk_v6(&c, 0, 0, prefix, &x);
    } else {
        for (unsigned i = 0; i < 64; i++) { /* never found: an IPv4 tree */
            v6_fill(prefix, 0, 2, &x);
            check_v6_address(&c, prefix);
        }
    }
    /* the IPv4 subtree seen through ::/96 and 2001::/32 (which MaxMind's
     * files alias to it) as well as through the IPv4 way */
    static const uint8_t heads[][4] = {{0, 0, 0, 0}, {0x20, 0x01, 0, 0}};
    for (unsigned h = 0; h < 2; h++) {
        for (unsigned i = 0; i < 1024; i++) {
            uint8_t a[16] = {0};
            v6_fill(a, 0, 2, &x);
            if (h == 0)
                memset(a, 0, 12);
            else
                memcpy(a, heads[h], 4);
            check_v6_address(&c, a);
        }
    }
    MMDB_close(&c.mmdb);
    geo_db_free(c.db);
    free(c.offset_of);
    free(c.record_of);
    *embedded += c.embedded;
    return c.compared;
}

/* IPv6 lookups (v6_l1, stride nodes, skips over chains, the jump to the
 * IPv4 tables) against libmaxminddb on every good test database and on one
 * built with networks of every length from /1 to /128, nested, and alone
 * in their /16 past /64: the edges of every network in the tree. */
static void test_v6_strides(void **state)
{
    (void)state;
    static const char *const dbs[] = {
        "GeoIP2-City-Test.mmdb",
        "GeoIP2-Country-Test.mmdb",
        "GeoLite2-City-Test.mmdb",
        "GeoLite2-Country-Test.mmdb",
        "GeoIP2-ISP-Test.mmdb",
        "GeoIP2-Anonymous-IP-Test.mmdb",
        "GeoIP2-City-Shield-Test.mmdb",
        "GeoIP2-Country-Shield-Test.mmdb",
        "GeoIP2-Connection-Type-Test.mmdb",
        "GeoIP2-Domain-Test.mmdb",
        "GeoLite2-ASN-Test.mmdb",
        "GeoIP2-Enterprise-Test.mmdb",
        "MaxMind-DB-test-ipv4-24.mmdb",
        "MaxMind-DB-test-ipv4-28.mmdb",
        "MaxMind-DB-test-ipv4-32.mmdb",
        "MaxMind-DB-test-ipv6-24.mmdb",
        "MaxMind-DB-test-ipv6-28.mmdb",
        "MaxMind-DB-test-ipv6-32.mmdb",
        "MaxMind-DB-test-mixed-24.mmdb",
        "MaxMind-DB-test-mixed-28.mmdb",
        "MaxMind-DB-test-mixed-32.mmdb",
        "MaxMind-DB-no-ipv4-search-tree.mmdb",
        "MaxMind-DB-test-decoder.mmdb",
        "MaxMind-DB-string-value-entries.mmdb",
        "MaxMind-DB-test-nested.mmdb",
        "MaxMind-DB-test-metadata-pointers.mmdb",
        "MaxMind-DB-test-pointer-decoder.mmdb",
    };
    char path[PATHBUF];
    unsigned compared = 0, embedded = 0;
    for (size_t k = 0; k < sizeof(dbs) / sizeof(dbs[0]); k++)
        compared += check_v6_db(dbs[k], testdata(path, sizeof(path), dbs[k]), &embedded);

    static const char *const countries[] = {"GB", "US", "SG", "DE", "FR", "JP"};
    size_t size = 64 * 1024, n;
    char *csv = malloc(size);
    assert_non_null(csv);
    n = (size_t)snprintf(csv, size, CSV_HEADER "192.0.2.0/24,EU,GB,,,\n10.0.0.0/8,,US,,,\n");
    uint64_t x = 0x0123456789abcdefull;
    for (unsigned len = 1; len <= 128; len++) {
        /* alone in a /16 of its own (long chains, skips across bit 64),
         * or for the shortest, in an otherwise empty top of the space */
        uint8_t a[16] = {0x24, (uint8_t)len};
        v6_fill(a, 16, 2, &x);
        if (len <= 16)
            a[0] = 0x80, a[1] = 0;
        if (len <= 16 && len > 1)
            continue; /* one short network is enough: they would nest */
        v6_fill(a, len, 0, &x);
        char text[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, a, text, sizeof(text));
        n += (size_t)snprintf(csv + n, size - n, "%s/%u,,%s,,,\n", text, len, countries[len % 6]);
    }
    /* nested: chains whose other side is a record, not empty, and networks
     * side by side at every depth past 64 */
    static const char *const nested[] = {
        "2a00::/12",
        "2a00:1234::/32",
        "2a00:1234:5678::/48",
        "2a00:1234:5678:9abc::/64",
        "2a00:1234:5678:9abc:def0::/80",
        "2a00:1234:5678:9abc:def0::1/128",
        "2a00:1234:5678:9abc:8000::/65",
        "2a00:1234:5678:9abc:def0:1::/96",
        "2a00:1234:5678:9abc:def0:1:0:0/127",
        "2a00:1234:5678:9abe::/63",
        "2a00:1234:5679::/49",
        "2a00:1234:567a::/47",
        "2c0f:f000::/20",
        "2c0f:f000::/36",
        "2c0f:f000:1000::/36",
        "2c0f:f000:2000::/37",
        "2c0f:f000:2800::/38",
        "2c0f:f000:2c00::/39",
    };
    for (size_t i = 0; i < sizeof(nested) / sizeof(nested[0]); i++)
        n += (size_t)snprintf(csv + n, size - n, "%s,,%s,,,\n", nested[i], countries[i % 6]);
    for (unsigned i = 0; i < 256; i++) /* a dense /16: full strides */
        n += (size_t)snprintf(csv + n, size - n, "2600:%x00::/24,,%s,,,\n", i, countries[i % 5]);
    /* one record size: MaxMind's files above have all three */
    compared +=
        check_v6_db("v6nets", build_db("v6nets", csv, NULL, path, sizeof(path)), &embedded);
    free(csv);
    assert_true(compared > 100000);
    assert_true(embedded > 1000);
}

/* Coordinates stored as float and int32 decode too. */
static void test_coordinate_types(void **state)
{
    (void)state;
    char out[PATHBUF];
    const char *as_float[] = {"--coord-type", "float", NULL};
    const char *as_int[] = {"--coord-type", "int32", NULL};
    const char *as_string[] = {"--coord-type", "string", NULL};
    const char *csv = CSV_HEADER "192.0.2.0/24,EU,GB,,51,-1\n";

    geo_db_t *db = open_ok(build_db("float", CSV_HEADER "192.0.2.0/24,EU,GB,,51.5,-0.125\n",
                                    as_float, out, sizeof(out)), NULL);
    geo_location_t loc = locate(db, "192.0.2.1");
    assert_true(loc.has_coords);
    assert_true(fabs(loc.lat - 51.5) < 1e-6 && fabs(loc.lon + 0.125) < 1e-6);
    geo_db_free(db);

    db = open_ok(build_db("int", csv, as_int, out, sizeof(out)), NULL);
    loc = locate(db, "192.0.2.1");
    assert_true(loc.has_coords && loc.lat == 51 && loc.lon == -1);
    geo_db_free(db);

    db = open_ok(build_db("string", csv, as_string, out, sizeof(out)), NULL);
    loc = locate(db, "192.0.2.1");
    assert_true(loc.has_coords && loc.lat == 51 && loc.lon == -1);
    geo_db_free(db);
}

/* The flat layout of DB-IP lite / ip-location-db, read by the default
 * paths: country_code alone (as geo-whois-asn-country has it), and
 * coordinates as strings. */
static void test_flat_layout(void **state)
{
    (void)state;
    char out[PATHBUF];
    const char *flat[] = {"--flat", NULL};
    const char *csv = CSV_HEADER "192.0.2.0/24,,GB,,,\n"     /* like ip-location-db */
                                 "198.51.100.0/24,NA,US,CA,37.386,-122.0838\n"
                                 "203.0.113.0/24,,AN,,,\n"   /* a withdrawn code */
                                 "2001:db8::/32,,JP,,35.6762,139.6503\n";
    geo_db_t *db = open_ok(build_db("flat", csv, flat, out, sizeof(out)), NULL);
    const geo_country_t *gb = geo_countries_find(g_countries, "GB"),
                        *an = geo_countries_find(g_countries, "AN");
    const expect_t rows[] = {
        {"192.0.2.1", true, "EU", "GB", NULL, gb->lat, gb->lon, true, 24},
        /* subdivision_code is not a default path */
        {"198.51.100.1", true, "NA", "US", NULL, 37.386, -122.0838, false, 24},
        {"203.0.113.1", true, "NA", "AN", NULL, an->lat, an->lon, true, 24},
        /* continent from the table, coordinates from the record */
        {"2001:db8::1", true, "AS", "JP", NULL, 35.6762, 139.6503, true, 32},
        {"::ffff:192.0.2.1", true, "EU", "GB", NULL, gb->lat, gb->lon, true, 120},
    };
    check_all(db, rows, sizeof(rows) / sizeof(rows[0]));
    geo_db_free(db);

    /* a configured path reads the flat subdivision */
    conf_field_path_t sub[] = {{{"subdivision_code", NULL}}};
    conf_geo_fields_t fields = {0};
    fields.subdivision = sub;
    fields.n_subdivision = 1;
    db = open_ok(out, &fields);
    assert_string_equal(locate(db, "198.51.100.1").subdivision, "CA");
    geo_db_free(db);

    /* a string that is not a number is refused with the record named */
    conf_field_path_t cc[] = {{{"country_code", NULL}}};
    conf_geo_fields_t bad = {0};
    bad.longitude = cc;
    bad.n_longitude = 1;
    open_fails(out, &bad, "longitude (country_code) is \"");
}

static void test_csv2mmdb_errors(void **state)
{
    (void)state;
    char csv[PATHBUF], out[PATHBUF], *err;
    tmp_path(csv, sizeof(csv), "bad.csv");
    tmp_path(out, sizeof(out), "bad.mmdb");
    write_file(csv, "# comment\n" CSV_HEADER
                    "192.0.2.0/24,XX,GB,,,\n"
                    "192.0.2.1/24,EU,GB,,,\n"
                    "192.0.2.0/33,EU,GB,,,\n"
                    "198.51.100.0/24,EU,gb,,91,0\n"
                    "203.0.113.0/24,EU,GB,,1,\n"
                    "2001:db8::/32,EU\n"
                    "2001:db8::/32,EU,GB,ENGL,,\n"
                    "2001:db8::/32,EU,GB,,,\n");
    assert_int_equal(csv2mmdb(NULL, csv, out, &err), 1);
    static const char *const want[] = {
        ":3: unknown continent 'XX'",
        ":4: '192.0.2.1/24' has bits set past the prefix /24",
        ":5: prefix /33 is longer than 32 bits",
        ":6: country 'gb' is not two upper-case letters",
        ":6: latitude 91 out of range",
        ":7: latitude and longitude go together",
        ":8: expected 6 fields",
        ":9: subdivision 'ENGL' is not 1 to 3",
        ":10: duplicate network 2001:db8::/32 (first on line 9)",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char full[PATHBUF + 100];
        snprintf(full, sizeof(full), "%s%s", csv, want[i]);
        if (!strstr(err, full))
            print_message("  expected \"%s\" in:\n%s", full, err);
        assert_non_null(strstr(err, full));
    }
    assert_int_equal(access(out, F_OK), -1); /* nothing written */

    /* ranges aliased to IPv4 cannot take data of their own */
    write_file(csv, CSV_HEADER "::ffff:192.0.2.0/120,EU,GB,,,\n");
    assert_int_equal(csv2mmdb(NULL, csv, out, &err), 1);
    assert_non_null(strstr(err, ":2: ::ffff:192.0.2.0/120 is in a range aliased to IPv4"));

    write_file(csv, "192.0.2.0/24,EU,GB,,,\n");
    assert_int_equal(csv2mmdb(NULL, csv, out, &err), 1);
    assert_non_null(strstr(err, ":1: expected the header line"));
}

/* geoip/demo.csv, the quick start's database: the documentation ranges on
 * the continents its header promises, and every continent present. */
static void test_demo_db(void **state)
{
    (void)state;
    char csv[PATHBUF], out[PATHBUF], *err;
    top_path(csv, sizeof(csv), "geoip/demo.csv");
    tmp_path(out, sizeof(out), "demo.mmdb");
    int code = csv2mmdb(NULL, csv, out, &err);
    if (code)
        print_message("%s", err);
    assert_int_equal(code, 0);
    geo_db_t *db = open_ok(out, NULL);
    static const char *const want[][2] = {
        {"192.0.2.10", "EU"},      {"198.51.100.10", "NA"},    {"203.0.113.10", "AS"},
        {"2001:db8::10", "EU"},    {"2001:db8:8000::1", "NA"}, {"2001:db8:c000::1", "AS"},
        {"81.2.69.142", "EU"},     {"8.8.8.8", "NA"},          {"200.160.0.1", "SA"},
        {"196.25.1.1", "AF"},      {"1.0.16.1", "AS"},         {"1.128.0.1", "OC"},
        {"157.132.0.1", "AN"},     {"5.255.255.5", "EU"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        geo_location_t loc = locate(db, want[i][0]);
        if (!loc.found || strcmp(loc.continent, want[i][1]) != 0 || !loc.has_coords)
            print_message("  %s: expected %s, got found=%d %s coords=%d\n", want[i][0],
                          want[i][1], loc.found, loc.continent, loc.has_coords);
        assert_true(loc.found);
        assert_string_equal(loc.continent, want[i][1]);
        assert_true(loc.has_coords);
    }
    assert_true(locate(db, "5.255.255.5").from_country);
    geo_db_free(db);
}

static void test_locate_bad_family(void **state)
{
    (void)state;
    char out[PATHBUF];
    geo_db_t *db = open_ok(build_db("fam", CSV_HEADER "192.0.2.0/24,EU,GB,,,\n", NULL, out,
                                    sizeof(out)), NULL);
    uint8_t addr[16] = {192, 0, 2, 1};
    geo_location_t loc;
    assert_int_equal(geo_db_locate(db, AF_UNIX, addr, &loc), -EINVAL);
    assert_false(loc.found);
    assert_int_equal(loc.prefix, 0);
    /* a caller's mistake is not a database error: nothing counted */
    assert_int_equal(geo_db_locate(db, AF_INET, addr, &loc), 0);
    assert_true(loc.found);
    assert_int_equal(geo_db_error_count(db), 0);
    geo_db_free(db);
}

/* ------------------------------------------------------------ main */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    find_tree();
    const char *tmpdir = getenv("TMPDIR");
    snprintf(g_tmp, sizeof(g_tmp), "%s/test_geo_db.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(g_tmp))
        return -1;
    char path[PATHBUF];
    diag_t d;
    diag_init(&d);
    bool ok = geo_countries_load(top_path(path, sizeof(path), "geoip/countries.csv"),
                                 &g_countries, &d);
    diag_free(&d);
    if (!g_testdata[0])
        fprintf(stderr, "test_geo_db: %s/../shared/geoip-testdata not found: the cases that "
                        "need MaxMind's test databases are skipped\n", g_top);
    return ok ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    geo_countries_free(g_countries);
    g_countries = NULL;
    if (g_tmp[0])
        nftw(g_tmp, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* query_prefetch(): a hint that reads, for each query of a batch, only the
 * packet's own bytes (each is allocated to its exact length here, so the
 * sanitizer build catches a read past one) and the GeoIP tables, skips
 * lengths of 0, works through batches longer than its part size, and
 * changes no lookup. Without a database it reads nothing at all. */
static void test_query_prefetch(void **state)
{
    (void)state;
    char out[PATHBUF];
    geo_db_t *db = open_ok(build_db("prefetch", test_csv, NULL, out, sizeof(out)), NULL);
    query_config_t cfg = {.max_udp_size = 1232, .geo = db};
    enum { N = 150 }; /* more than two of its parts of 64 */
    uint8_t *pkts[N];
    uint16_t lens[N];
    struct sockaddr_storage from[N];
    /* A query for a. A, then an OPT whose last option is an IPv4 subnet of
     * 1..4 address bytes (the shape query_prefetch looks for at the end). */
    static const uint8_t head[] = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1,
                                   1, 'a', 0, 0, 1, 0, 1};
    for (unsigned i = 0; i < N; i++) {
        unsigned nbytes = 1 + i % 4, kind = i % 5;
        uint8_t buf[64];
        size_t len = sizeof(head);
        memcpy(buf, head, len);
        memset(&from[i], 0, sizeof(from[i]));
        struct sockaddr_in *sin = (struct sockaddr_in *)&from[i];
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(0xC0000200u | i); /* 192.0.2.i */
        if (kind == 4)
            from[i].ss_family = AF_INET6; /* no IPv4 address to guess */
        if (kind >= 2) {
            static const uint8_t opt[] = {0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0};
            memcpy(buf + len, opt, sizeof(opt));
            len += sizeof(opt);
            dns_put16(buf + len, (uint16_t)(8 + nbytes)); /* RDLENGTH */
            dns_put16(buf + len + 2, DNS_EDNS_CLIENT_SUBNET);
            dns_put16(buf + len + 4, (uint16_t)(4 + nbytes));
            dns_put16(buf + len + 6, 1);
            buf[len + 8] = (uint8_t)(8 * nbytes);
            buf[len + 9] = 0;
            static const uint8_t addr[] = {198, 51, 100, 9};
            memcpy(buf + len + 10, addr, nbytes);
            len += 10 + nbytes;
        }
        if (kind == 1)
            len = 0; /* skipped: nothing of it may be read */
        lens[i] = (uint16_t)len;
        pkts[i] = malloc(len ? len : 1);
        assert_non_null(pkts[i]);
        memcpy(pkts[i], buf, len);
    }
    static const char *const addrs[] = {"192.0.2.1", "198.51.100.9", "203.0.113.7", "10.1.2.3",
                                        "10.5.0.1"};
    uint32_t rec_before[5], rec_after[5];
    uint8_t pre_before[5], pre_after[5];
    int r_before[5], r_after[5];
    for (size_t k = 0; k < 5; k++) {
        struct in_addr a;
        assert_int_equal(inet_pton(AF_INET, addrs[k], &a), 1);
        rec_before[k] = 0;
        r_before[k] = geo_db_lookup_v4(db, ntohl(a.s_addr), &rec_before[k], &pre_before[k]);
    }
    query_prefetch(&cfg, (const uint8_t *const *)pkts, lens, from, N);
    query_prefetch(&cfg, (const uint8_t *const *)pkts, lens, from, 0);
    query_prefetch(&cfg, (const uint8_t *const *)pkts, lens, from, 64);
    query_prefetch(&cfg, (const uint8_t *const *)pkts, lens, from, 65);
    for (size_t k = 0; k < 5; k++) {
        struct in_addr a;
        assert_int_equal(inet_pton(AF_INET, addrs[k], &a), 1);
        rec_after[k] = 0;
        r_after[k] = geo_db_lookup_v4(db, ntohl(a.s_addr), &rec_after[k], &pre_after[k]);
        assert_int_equal(r_after[k], r_before[k]);
        assert_int_equal(pre_after[k], pre_before[k]);
        if (r_before[k] > 0)
            assert_int_equal(rec_after[k], rec_before[k]);
    }
    assert_int_equal(r_before[0], 1); /* the addresses asked about are in the database */
    assert_int_equal(r_before[4], 0); /* and this one is not */
    /* no database: the packets and addresses are not even looked at */
    cfg.geo = NULL;
    query_prefetch(&cfg, NULL, NULL, NULL, N);
    for (unsigned i = 0; i < N; i++)
        free(pkts[i]);
    geo_db_free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_countries_shipped),
        cmocka_unit_test(test_countries_errors),
        cmocka_unit_test(test_city),
        cmocka_unit_test(test_geolite_city),
        cmocka_unit_test(test_country_db),
        cmocka_unit_test(test_ipv4_only_db),
        cmocka_unit_test(test_cross_check),
        cmocka_unit_test(test_broken_dbs),
        cmocka_unit_test(test_custom_fields),
        cmocka_unit_test(test_csv2mmdb),
        cmocka_unit_test(test_dense_v4),
        cmocka_unit_test(test_v4_tables),
        cmocka_unit_test(test_v6_strides),
        cmocka_unit_test(test_coordinate_types),
        cmocka_unit_test(test_flat_layout),
        cmocka_unit_test(test_csv2mmdb_errors),
        cmocka_unit_test(test_demo_db),
        cmocka_unit_test(test_locate_bad_family),
        cmocka_unit_test(test_query_prefetch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
