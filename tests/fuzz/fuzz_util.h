/* Helpers shared by the fuzz targets whose parsers read files: a scratch
 * directory of the process's own (removed at exit) and a small geo world
 * (zone, GeoIP database, map and nearest services) to serve queries and
 * control commands from. */
#ifndef MERIDIAN_TESTS_FUZZ_UTIL_H
#define MERIDIAN_TESTS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

/* dir/name in the scratch directory, made on first use. Caller frees. */
char *fuzz_path(const char *name);

/* Replaces the file at path with size bytes of data; aborts on failure
 * (the fuzzer cannot go on without its input on disk). */
void fuzz_write(const char *path, const void *data, size_t size);

/* The geo world, loaded once (aborts when it does not load): the config
 * the fuzzers serve, its path in the scratch directory, and the snapshot
 * built from it with health (which may be NULL). */
snapshot_t *fuzz_world(health_t *health);
const char *fuzz_world_conf(void);

#endif
