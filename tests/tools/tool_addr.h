/* Address parsing shared by the test tools. */
#ifndef MERIDIAN_TESTS_TOOL_ADDR_H
#define MERIDIAN_TESTS_TOOL_ADDR_H

#include <stdint.h>
#include <sys/socket.h>

/* Fills ss/len from a numeric IPv4 or IPv6 address and a port. Returns 0,
 * or -1 after printing "<tool>: bad server address" to stderr. */
int tool_addr(const char *tool, const char *server, uint16_t port, struct sockaddr_storage *ss,
              socklen_t *len);

#endif
