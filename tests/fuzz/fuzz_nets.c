/*
 * libFuzzer target for a service's networks_file ("CIDR dc [dc...]"
 * lines): any bytes must compile into a policy or fail with at least one
 * message; a policy's decisions for any address name only data centers
 * with a pool and never a scope wider than the address's bits.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "fuzz_util.h"
#include "geo/geo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static conf_t *conf;
static char *path;

static void setup(void)
{
    path = fuzz_path("fuzz.nets");
    char text[1024];
    int n = snprintf(text, sizeof(text),
                     "server: {listen: [\"127.0.0.1:5353\"]}\n"
                     "datacenters:\n"
                     "  eu-west: {location: [53.35, -6.26]}\n"
                     "  us-east: {location: [38.95, -77.45]}\n"
                     "  ap-south: {location: [1.29, 103.85]}\n"
                     "  idle: {location: [0, 0]}\n"
                     "services:\n"
                     "  map.example.com:\n"
                     "    ttl: 60\n"
                     "    policy: map\n"
                     "    networks_file: %s\n"
                     "    map:\n"
                     "      networks: {\"198.51.100.0/24\": [ap-south]}\n"
                     "      default: [us-east, eu-west]\n"
                     "    pools: {eu-west: [192.0.2.20], us-east: [198.51.100.20],\n"
                     "            ap-south: [203.0.113.20]}\n",
                     path);
    diag_t d;
    diag_init(&d);
    if (n < 0 || (size_t)n >= sizeof(text) ||
        !conf_load_buffer("/fuzz/meridian.yaml", text, (size_t)n, &conf, &d))
        abort();
    diag_free(&d);
}

static void check(const geo_policy_t *p, int family, const uint8_t addr[16], unsigned source)
{
    geo_decision_t dec;
    geo_policy_decide(p, NULL, family, addr, source, &dec);
    if (dec.scope > (family == AF_INET ? 32 : 128) || dec.n_order > CONF_MAX_DATACENTERS)
        abort();
    for (unsigned i = 0; i < dec.n_order; i++)
        if (dec.order[i] >= conf->n_datacenters || strcmp(conf->datacenters[dec.order[i]].name,
                                                          "idle") == 0)
            abort();
    geo_route_t route;
    geo_policy_route(p, NULL, family, addr, source, &route);
    if (route.n_order != dec.n_order || route.scope != dec.scope ||
        memcmp(route.order, dec.order, dec.n_order) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!conf)
        setup();
    fuzz_write(path, data, size);
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    geo_policy_t *p = (geo_policy_t *)1;
    bool ok = geo_policy_build(conf, &conf->services[0], &p, &d);
    if (ok != (p != NULL) || ok != (d.errors == 0))
        abort();
    if (ok) {
        uint8_t a[16] = {198, 51, 100, 7};
        check(p, AF_INET, a, 32);
        check(p, AF_INET, a, 20);
        /* addresses from the input, which its lines may name */
        for (size_t off = 0; off + 16 <= size && off < 512; off += 16) {
            check(p, AF_INET, data + off, 32);
            check(p, AF_INET6, data + off, 128);
            check(p, AF_INET6, data + off, data[off] % 129);
        }
    }
    geo_policy_free(p);
    diag_free(&d);
    return 0;
}
