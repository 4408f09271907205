#include "config.h"

#include "tool_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int tool_addr(const char *tool, const char *server, uint16_t port, struct sockaddr_storage *ss,
              socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, server, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
    } else if (inet_pton(AF_INET6, server, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof(*sin6);
    } else {
        fprintf(stderr, "%s: bad server address '%s'\n", tool, server);
        return -1;
    }
    return 0;
}

/* "1.2.3.4:53" or "[2001:db8::1]:53". Returns false if it is neither. */
bool tool_hostport(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN];
    const char *colon, *start = text;
    size_t host_len;
    unsigned long port;
    char *end;

    if (*text == '[') {
        const char *close = strchr(text, ']');

        if (close == NULL || close[1] != ':')
            return false;
        start = text + 1;
        host_len = (size_t)(close - start);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return false;
        host_len = (size_t)(colon - text);
    }
    if (host_len == 0 || host_len >= sizeof(host))
        return false;
    memcpy(host, start, host_len);
    host[host_len] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port == 0 || port > 65535 || errno != 0)
        return false;

    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (*text != '[' && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *len = sizeof(*sin);
    } else if (*text == '[' && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*sin6);
    } else {
        return false;
    }
    return true;
}

/* Writes the ECS option for "ADDR/PREFIX" (a bare address means a full
 * prefix). Returns its length, or 0 for a bad subnet. */
size_t tool_ecs_option(const char *subnet, uint8_t *out)
{
    uint8_t addr[16] = {0};
    char text[INET6_ADDRSTRLEN];
    const char *slash = strchr(subnet, '/');
    size_t addr_len = slash != NULL ? (size_t)(slash - subnet) : strlen(subnet);
    unsigned family, max, prefix, nbytes;
    size_t len = 0;

    if (addr_len == 0 || addr_len >= sizeof(text))
        return 0;
    memcpy(text, subnet, addr_len);
    text[addr_len] = '\0';
    if (inet_pton(AF_INET, text, addr) == 1) {
        family = 1;
        max = 32;
    } else if (inet_pton(AF_INET6, text, addr) == 1) {
        family = 2;
        max = 128;
    } else {
        return 0;
    }
    prefix = max;
    if (slash != NULL) {
        char *end;
        unsigned long v = strtoul(slash + 1, &end, 10);

        if (slash[1] == '\0' || *end != '\0' || v > max)
            return 0;
        prefix = (unsigned)v;
    }
    nbytes = (prefix + 7) / 8;
    if (prefix % 8 != 0) /* RFC 7871: no address bits past the prefix */
        addr[nbytes - 1] &= (uint8_t)(0xff << (8 - prefix % 8));
    out[len++] = 0;
    out[len++] = 8 /* ECS */;
    out[len++] = 0;
    out[len++] = (uint8_t)(4 + nbytes);
    out[len++] = 0;
    out[len++] = (uint8_t)family;
    out[len++] = (uint8_t)prefix;
    out[len++] = 0; /* SCOPE PREFIX-LENGTH */
    memcpy(out + len, addr, nbytes);
    return len + nbytes;
}

/* Encodes a presentation name ("www.example.com", trailing dot optional)
 * into wire form. Returns its length, or 0 if it is not a valid name. */
size_t tool_name_encode(const char *text, uint8_t *out, size_t cap)
{
    size_t len = 0;
    const char *p = text;

    if (strcmp(text, ".") == 0) {
        out[0] = 0;
        return 1;
    }
    while (*p != '\0') {
        const char *dot = strchr(p, '.');
        size_t label = dot != NULL ? (size_t)(dot - p) : strlen(p);

        if (label == 0 || label > 63 || len + label + 2 > cap || len + label + 2 > 255)
            return 0;
        out[len++] = (uint8_t)label;
        memcpy(out + len, p, label);
        len += label;
        p += label;
        if (*p == '.')
            p++;
    }
    out[len++] = 0;
    return len;
}
