/* Test fixture for the tests that need a real GeoIP database. */
#ifndef MERIDIAN_TESTS_FIXTURE_GEO_H
#define MERIDIAN_TESTS_FIXTURE_GEO_H

#include "geo/geo.h"

/* MaxMind's GeoIP2-City-Test.mmdb (external test data, see
 * /work/shared/geoip-testdata/README.md), opened without a country table;
 * NULL when it is not beside the checkout or its folder of worktrees (the
 * caller skips). Aborts when it is there but does not open. Free with
 * geo_db_free(). */
geo_db_t *fixture_geo_test_db(void);

#endif
