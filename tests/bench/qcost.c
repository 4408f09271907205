/* qcost: answers the same query N times through query_answer(), for
 * counting instructions per query with callgrind (see qcost.sh):
 *   qcost CONFIG N NAME [TYPE] [SUBNET/PREFIX]
 * A client subnet, when given, is sent as an EDNS Client Subnet option. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/wire.h"
#include "snapshot.h"

static size_t put_name(uint8_t *p, const char *name)
{
    size_t n = 0;
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        p[n++] = (uint8_t)len;
        memcpy(p + n, name, len);
        n += len;
        name += len + (dot ? 1 : 0);
    }
    p[n++] = 0;
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: qcost CONFIG N NAME [TYPE] [SUBNET/PREFIX]\n");
        return 2;
    }
    diag_t d;
    diag_init(&d);
    snapshot_t *s;
    if (!snapshot_load(argv[1], NULL, &s, &d))
        return 1;
    long n = atol(argv[2]);
    uint8_t q[512] = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
    size_t len = 12 + put_name(q + 12, argv[3]);
    dns_put16(q + len, argc > 4 && strcmp(argv[4], "AAAA") == 0 ? DNS_TYPE_AAAA : DNS_TYPE_A);
    dns_put16(q + len + 2, DNS_CLASS_IN);
    len += 4;
    uint8_t *opt = q + len;
    opt[0] = 0;
    dns_put16(opt + 1, DNS_TYPE_OPT);
    dns_put16(opt + 3, 1232);
    dns_put32(opt + 5, 0);
    dns_put16(opt + 9, 0);
    len += 11;
    if (argc > 5) {
        char text[64];
        snprintf(text, sizeof(text), "%s", argv[5]);
        char *slash = strchr(text, '/');
        unsigned prefix = slash ? (unsigned)atoi(slash + 1) : 32;
        if (slash)
            *slash = 0;
        uint8_t addr[16];
        int v6 = strchr(text, ':') != NULL;
        if (inet_pton(v6 ? AF_INET6 : AF_INET, text, addr) != 1)
            return 2;
        size_t alen = (prefix + 7) / 8;
        dns_put16(opt + 11, DNS_EDNS_CLIENT_SUBNET);
        dns_put16(opt + 13, (uint16_t)(4 + alen));
        dns_put16(opt + 15, v6 ? 2 : 1);
        opt[17] = (uint8_t)prefix;
        opt[18] = 0;
        memcpy(opt + 19, addr, alen);
        dns_put16(opt + 9, (uint16_t)(8 + alen));
        len += 8 + alen;
    }
    uint8_t resp[4096];
    size_t total = 0;
    for (long i = 0; i < n; i++)
        total += query_answer(s->db, &s->query, q, len, resp, sizeof(resp), false, NULL,
                              STATS_SLOTS - 1);
    printf("%zu bytes answered\n", total);
    snapshot_free(s);
    diag_free(&d);
    return 0;
}
