/*
 * file: whole-file reads for the loaders (config, zones).
 */
#ifndef MERIDIAN_UTIL_FILE_H
#define MERIDIAN_UTIL_FILE_H

#include <stddef.h>

/* Reads a regular file into memory (a NUL is added after the last byte,
 * not counted in *len). max is the largest size accepted, 0 for no limit.
 * Returns NULL with *why set (strerror text, or "not a regular file",
 * "larger than the limit") on failure. Caller frees the result; aborts on
 * out-of-memory (load time only). */
char *file_read_all(const char *path, size_t max, size_t *len, const char **why);

#endif
