/*
 * libFuzzer target for the country table loader (geoip/countries.csv):
 * any bytes must load into a table whose entries keep the format's
 * promises, or fail with at least one message.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "geo/geo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *path;
    if (!path)
        path = fuzz_path("countries.csv");
    fuzz_write(path, data, size);
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    geo_countries_t *t = (geo_countries_t *)1;
    bool ok = geo_countries_load(path, &t, &d);
    if (ok != (t != NULL) || ok != (d.errors == 0))
        abort();
    /* every two-letter code, in both cases */
    for (int a = 'A'; ok && a <= 'Z'; a++)
        for (int b = 'A'; b <= 'Z'; b++) {
            char code[3] = {(char)a, (char)b, 0}, lower[3] = {(char)(a + 32), (char)(b + 32), 0};
            const geo_country_t *c = geo_countries_find(t, code);
            if (c != geo_countries_find(t, lower))
                abort();
            if (c && (strcmp(c->code, code) != 0 || strlen(c->continent) != 2 ||
                      !(fabs(c->lat) <= 90) || !(fabs(c->lon) <= 180)))
                abort();
        }
    if (ok && (geo_countries_find(t, "") || geo_countries_find(t, "A") ||
               geo_countries_find(t, "ABC")))
        abort();
    geo_countries_free(t);
    diag_free(&d);
    return 0;
}
