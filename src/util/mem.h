/*
 * mem: memcpy() and memcmp() for buffers that may be empty.
 *
 * C makes memcpy(dst, NULL, 0) undefined, and an empty buffer is often a
 * NULL pointer: an empty ldns rdf (CAA 0 issue ""), an array nothing was
 * added to, a caller's (NULL, 0). The sanitizer build aborts on it. Use
 * these wherever a pointer may be NULL when its length is 0.
 */
#ifndef MERIDIAN_UTIL_MEM_H
#define MERIDIAN_UTIL_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static inline void *mem_copy(void *dst, const void *src, size_t n)
{
    return n ? memcpy(dst, src, n) : dst;
}

/* The n bytes at a and b are the same (true when n is 0). */
static inline bool mem_equal(const void *a, const void *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

#endif
