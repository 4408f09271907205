/* Test fixtures shared by the unit tests and fuzz targets. */
#ifndef MERIDIAN_TESTS_FIXTURE_H
#define MERIDIAN_TESTS_FIXTURE_H

#include "zone/zone_source.h"
#include "zone/zonedb.h"

/* A zone source from presentation-format records (absolute names), NULL
 * terminated; aborts on a record ldns cannot read. Free with
 * zone_source_free(). */
zone_source_t *fixture_source(const char *origin, const char *const *records);

/* Builds a database from n sources made by fixture_source(), frees them,
 * and aborts when the build fails. Free with zone_db_free(). */
zone_db_t *fixture_db(zone_source_t **sources, size_t n);

#endif
