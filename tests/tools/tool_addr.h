/* Parsing shared by the test tools and benchmarks: addresses, client
 * subnets, names. */
#ifndef MERIDIAN_TESTS_TOOL_ADDR_H
#define MERIDIAN_TESTS_TOOL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Fills ss/len from a numeric IPv4 or IPv6 address and a port. Returns 0,
 * or -1 after printing "<tool>: bad server address" to stderr. */
int tool_addr(const char *tool, const char *server, uint16_t port, struct sockaddr_storage *ss,
              socklen_t *len);

/* "1.2.3.4:53" or "[2001:db8::1]:53" (numeric, port 1..65535) into ss/len.
 * Returns false if it is neither. */
bool tool_hostport(const char *text, struct sockaddr_storage *ss, socklen_t *len);

/* Writes the EDNS Client Subnet option (RFC 7871: code, length, family,
 * source prefix, scope 0, address cut to the prefix) for "ADDR/PREFIX"; a
 * bare address means the full prefix. Returns its length (at most 24), or
 * 0 for a bad subnet. */
size_t tool_ecs_option(const char *subnet, uint8_t *out);

/* Encodes a presentation name ("www.example.com", trailing dot optional, no
 * escapes) into wire form in out (cap bytes). Returns its length, or 0 if
 * it is not a valid name or does not fit. */
size_t tool_name_encode(const char *text, uint8_t *out, size_t cap);

#endif
