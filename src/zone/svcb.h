/*
 * svcb: the SvcParams of SVCB and HTTPS records (RFC 9460), for the zone
 * loader (internal to src/zone).
 *
 * ldns 1.8.3 reads neither the quoted form dig prints (alpn="h2,h3",
 * ipv4hint="192.0.2.1,192.0.2.2") nor the value-list escapes of RFC 9460
 * appendix A.1, and knows no key past dohpath; so the presentation form is
 * read here, every key with its own syntax, into the wire form NSD and
 * Knot load from the same text: keys sorted, each value as the RFC
 * encodes it. zone_svcb_check() applies the same rules to SvcParams in
 * wire form (RFC 3597 "\#" RDATA), so either spelling is held to them.
 */
#ifndef MERIDIAN_ZONE_SVCB_H
#define MERIDIAN_ZONE_SVCB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One SvcParam as written: key, and the value between "=" and the next
 * blank (or between the quotes), escapes as written; value NULL when
 * there is no "=". */
typedef struct zone_svcb_param {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} zone_svcb_param_t;

/* Writes the wire form of n params into out (at most cap bytes). Returns
 * the length, or -1 with why (a NUL-terminated message of at most
 * why_size bytes) saying what is wrong. Never reads past the lengths. */
long zone_svcb_params(const zone_svcb_param_t *params, size_t n, uint8_t *out, size_t cap,
                      char *why, size_t why_size);

/* Checks the SvcParams in wire form (len bytes after the target name):
 * true, or false with why. */
bool zone_svcb_check(const uint8_t *p, size_t len, char *why, size_t why_size);

#endif
