/*
 * diag: problems found while loading input (config, zones, GeoIP data).
 *
 * Loaders report every problem here as "file:line: message" (or
 * "file:line:column: message") instead of stopping at the first one, so
 * that `meridiand --check`, start-up and a reload can show them all. Each
 * message is also logged as it arrives. A diag_t lives on the caller's
 * stack: diag_init() before use, diag_free() after.
 */
#ifndef MERIDIAN_UTIL_DIAG_H
#define MERIDIAN_UTIL_DIAG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/log.h"

typedef struct diag {
    char **messages; /* every error and warning, formatted, in order */
    size_t count;
    size_t cap;
    unsigned errors;
    unsigned warnings;
    bool quiet; /* collect only, do not log */
} diag_t;

void diag_init(diag_t *d);
void diag_free(diag_t *d);

/* file may be NULL (no location); line 0 omits the line, col 0 the column. */
void diag_error(diag_t *d, const char *file, unsigned line, unsigned col, const char *fmt, ...)
    LOG_PRINTF(5, 6);
void diag_warn(diag_t *d, const char *file, unsigned line, unsigned col, const char *fmt, ...)
    LOG_PRINTF(5, 6);

#endif
