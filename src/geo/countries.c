/*
 * geo_countries: the country table (geoip/countries.csv).
 *
 * Two letters index a 26x26 array directly, so a lookup is one load and
 * needs no hashing or search; the table is small enough (676 slots) that
 * the wasted slots do not matter.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "geo/geo.h"
#include "util/file.h"

#define GEO_COUNTRY_SLOTS (26 * 26)
#define GEO_COUNTRIES_MAX_FILE (4u << 20) /* a real table is ~10 KB */
#define GEO_COUNTRIES_HEADER "code,continent,latitude,longitude,name"

struct geo_countries {
    geo_country_t slot[GEO_COUNTRY_SLOTS];
    unsigned line[GEO_COUNTRY_SLOTS]; /* where each was defined; 0 = empty */
    size_t count;
};

/* -1 unless code is exactly two ASCII letters. */
static int geo_country_slot(const char *code, size_t len)
{
    if (len != 2 || !isalpha((unsigned char)code[0]) || !isalpha((unsigned char)code[1]))
        return -1;
    int a = toupper((unsigned char)code[0]) - 'A', b = toupper((unsigned char)code[1]) - 'A';
    if (a < 0 || a >= 26 || b < 0 || b >= 26) /* isalpha() may accept more in some locales */
        return -1;
    return a * 26 + b;
}

static bool geo_continent_valid(const char *s, size_t len)
{
    static const char *const known[] = {"AF", "AN", "AS", "EU", "NA", "OC", "SA"};
    if (len != 2)
        return false;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (memcmp(known[i], s, 2) == 0)
            return true;
    return false;
}

/* Parses a whole field as a finite number. */
static bool geo_parse_degrees(const char *s, size_t len, double *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* Splits line (no newline) at the first four commas; the name is the rest. */
static bool geo_split_fields(const char *line, size_t len, const char *field[5], size_t flen[5])
{
    const char *p = line, *end = line + len;
    for (int i = 0; i < 4; i++) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        if (!comma)
            return false;
        field[i] = p;
        flen[i] = (size_t)(comma - p);
        p = comma + 1;
    }
    field[4] = p;
    flen[4] = (size_t)(end - p);
    return true;
}

static void geo_country_line(geo_countries_t *t, const char *path, unsigned lineno,
                             const char *line, size_t len, diag_t *d)
{
    const char *f[5];
    size_t fl[5];
    if (!geo_split_fields(line, len, f, fl)) {
        diag_error(d, path, lineno, 0,
                   "expected code,continent,latitude,longitude,name");
        return;
    }
    int slot = geo_country_slot(f[0], fl[0]);
    if (slot < 0) {
        diag_error(d, path, lineno, 0, "country code '%.*s' is not two letters", (int)fl[0],
                   f[0]);
        return;
    }
    char cont[3] = {0};
    if (fl[1] == 2) {
        cont[0] = (char)toupper((unsigned char)f[1][0]);
        cont[1] = (char)toupper((unsigned char)f[1][1]);
    }
    if (!geo_continent_valid(cont, fl[1])) {
        diag_error(d, path, lineno, 0,
                   "unknown continent code '%.*s' (expected AF AN AS EU NA OC SA)",
                   (int)fl[1], f[1]);
        return;
    }
    double lat, lon;
    if (!geo_parse_degrees(f[2], fl[2], &lat) || !geo_parse_degrees(f[3], fl[3], &lon)) {
        diag_error(d, path, lineno, 0, "latitude and longitude must be numbers");
        return;
    }
    if (lat < -90 || lat > 90 || lon < -180 || lon > 180) {
        diag_error(d, path, lineno, 0,
                   "coordinates %g, %g out of range (latitude -90..90, longitude -180..180)",
                   lat, lon);
        return;
    }
    geo_country_t *c = &t->slot[slot];
    if (t->line[slot]) {
        diag_error(d, path, lineno, 0, "duplicate country code %s (first on line %u)", c->code,
                   t->line[slot]);
        return;
    }
    c->code[0] = (char)('A' + slot / 26);
    c->code[1] = (char)('A' + slot % 26);
    c->code[2] = 0;
    memcpy(c->continent, cont, sizeof(c->continent));
    c->lat = lat;
    c->lon = lon;
    t->line[slot] = lineno;
    t->count++;
}

bool geo_countries_load(const char *path, geo_countries_t **out, diag_t *d)
{
    *out = NULL;
    size_t len;
    const char *why;
    char *text = file_read_all(path, GEO_COUNTRIES_MAX_FILE, &len, &why);
    if (!text) {
        diag_error(d, path, 0, 0, "cannot read the country table: %s", why);
        return false;
    }
    geo_countries_t *t = calloc(1, sizeof(*t));
    if (!t)
        abort(); /* load time: out of memory is fatal */
    unsigned errors_before = d->errors, lineno = 0;
    bool header = false;
    for (char *p = text, *end = text + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line_end = nl ? nl : end;
        char *line = p;
        p = nl ? nl + 1 : end;
        lineno++;
        size_t n = (size_t)(line_end - line);
        if (n && line[n - 1] == '\r') /* files edited on Windows */
            n--;
        if (n == 0 || line[0] == '#')
            continue;
        if (memchr(line, 0, n)) {
            diag_error(d, path, lineno, 0, "NUL byte in line");
            continue;
        }
        if (!header) {
            if (n != strlen(GEO_COUNTRIES_HEADER) || memcmp(line, GEO_COUNTRIES_HEADER, n)) {
                diag_error(d, path, lineno, 0, "expected the header line '%s'",
                           GEO_COUNTRIES_HEADER);
                break; /* the columns are unknown: every later line would be noise */
            }
            header = true;
            continue;
        }
        geo_country_line(t, path, lineno, line, n, d);
    }
    free(text);
    if (d->errors == errors_before && !header)
        diag_error(d, path, 0, 0, "no header line: not a country table");
    else if (d->errors == errors_before && t->count == 0)
        diag_error(d, path, 0, 0, "no countries in the table");
    if (d->errors != errors_before) {
        free(t);
        return false;
    }
    *out = t;
    return true;
}

void geo_countries_free(geo_countries_t *t) { free(t); }

const geo_country_t *geo_countries_find(const geo_countries_t *t, const char *code)
{
    if (!t || !code)
        return NULL;
    int slot = geo_country_slot(code, strnlen(code, 3));
    if (slot < 0 || !t->line[slot])
        return NULL;
    return &t->slot[slot];
}
