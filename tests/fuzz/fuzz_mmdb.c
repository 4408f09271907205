/*
 * libFuzzer target for the GeoIP database loader: mutated .mmdb bytes go
 * through geo_db_open(), which walks the whole search tree and decodes
 * every record at open. It must refuse a broken file with a message or
 * give a database whose every lookup and record keeps geo.h's promises:
 * prefixes within the family's bits, records below the count, codes of
 * the documented lengths.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz_util.h"
#include "geo/geo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_location(const geo_location_t *loc, unsigned bits)
{
    if (loc->prefix > bits || strnlen(loc->continent, 3) > 2 || strnlen(loc->country, 3) > 2 ||
        strnlen(loc->subdivision, 4) > 3)
        abort();
    if (loc->has_coords && !(fabs(loc->lat) <= 90 && fabs(loc->lon) <= 180))
        abort();
}

static void probe(const geo_db_t *db, int family, const uint8_t addr[16])
{
    unsigned bits = family == AF_INET ? 32 : 128;
    geo_location_t loc;
    uint32_t record = UINT32_MAX;
    uint8_t prefix = 0xff;
    int rc = geo_db_locate(db, family, addr, &loc);
    if (rc != 0 && rc != -EIO)
        abort();
    check_location(&loc, bits);
    rc = geo_db_lookup(db, family, addr, &record, &prefix);
    if (rc < -EIO || rc > 1 || prefix > bits || (rc == 1 && record >= geo_db_record_count(db)))
        abort();
    if (family == AF_INET) {
        uint32_t v4 = (uint32_t)addr[0] << 24 | addr[1] << 16 | addr[2] << 8 | addr[3];
        uint32_t r4 = UINT32_MAX;
        uint8_t p4 = 0xff;
        int rc4 = geo_db_lookup_v4(db, v4, &r4, &p4);
        /* the inline IPv4 tables give the tree's answer */
        if (rc4 != rc || p4 != prefix || (rc == 1 && r4 != record))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *path;
    static geo_countries_t *countries;
    if (!path) {
        path = fuzz_path("fuzz.mmdb");
        diag_t d;
        diag_init(&d);
        if (!geo_countries_load(FUZZ_SRCDIR "/geoip/countries.csv", &countries, &d))
            abort();
        diag_free(&d);
    }
    fuzz_write(path, data, size);
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    geo_db_t *db = (geo_db_t *)1;
    bool ok = geo_db_open(path, NULL, countries, &db, &d);
    if (ok != (db != NULL) || ok != (d.errors == 0))
        abort();
    if (ok) {
        static const uint8_t v4[][4] = {{0, 0, 0, 0},     {1, 2, 3, 4},     {81, 2, 69, 160},
                                        {175, 16, 199, 1}, {216, 160, 83, 56}, {255, 255, 255, 255}};
        static const uint8_t v6[][16] = {{0},
                                         {0x20, 0x01, 0x02, 0x18},
                                         {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                                         {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
        for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
            uint8_t a[16] = {0};
            memcpy(a, v4[i], 4);
            probe(db, AF_INET, a);
        }
        for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++)
            probe(db, AF_INET6, v6[i]);
        /* and addresses taken from the input itself, which the tree may hold */
        for (size_t off = 0; off + 16 <= size && off < 256; off += 16) {
            probe(db, AF_INET, data + off);
            probe(db, AF_INET6, data + off);
        }
        size_t n = geo_db_record_count(db);
        for (size_t r = 0; r < n && r < 4096; r++) {
            geo_location_t loc;
            geo_db_record_location(db, (uint32_t)r, 24, &loc);
            check_location(&loc, 128);
        }
        if (!geo_db_describe(db))
            abort();
    }
    geo_db_free(db);
    diag_free(&d);
    return 0;
}
