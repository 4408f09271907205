#include "config.h"

#include "fixture_geo.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

geo_db_t *fixture_geo_test_db(void)
{
    static const char *const up[] = {"/..", "/../.."};
    static const char file[] = "shared/geoip-testdata/GeoIP2-City-Test.mmdb";
    char top[PATH_MAX], path[PATH_MAX + 64];
    const char *env = getenv("top_srcdir");
    if (env && *env) {
        snprintf(top, sizeof(top), "%s", env);
    } else { /* tests/unit/fixture_geo.c -> the checkout */
        const char *slash = strrchr(__FILE__, '/');
        snprintf(top, sizeof(top), "%.*s/../..", slash ? (int)(slash - __FILE__) : 1,
                 slash ? __FILE__ : ".");
    }
    for (size_t i = 0; i < sizeof(up) / sizeof(up[0]); i++) {
        snprintf(path, sizeof(path), "%s%s/%s", top, up[i], file);
        if (access(path, R_OK) == 0)
            break;
    }
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "    %s not there: skipped\n", path);
        return NULL;
    }
    diag_t d;
    geo_db_t *db = NULL;
    diag_init(&d);
    d.quiet = true;
    if (!geo_db_open(path, NULL, NULL, &db, &d)) {
        for (size_t i = 0; i < d.count; i++)
            fprintf(stderr, "  %s\n", d.messages[i]);
        abort();
    }
    diag_free(&d);
    return db;
}
