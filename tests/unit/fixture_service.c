#include "config.h"

#include "fixture_service.h"

#include "fixture.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

conf_network_t fixture_net(const char *text, unsigned prefix)
{
    conf_network_t n = {.prefix = (uint8_t)prefix};
    n.family = strchr(text, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(n.family, text, n.addr) != 1) {
        fprintf(stderr, "fixture_net: bad address %s\n", text);
        abort();
    }
    return n;
}

int fixture_services(fixture_services_t *f, const conf_t *conf, const char *const *com,
                     const char *const *net)
{
    f->n = conf->n_services;
    f->health = health_new(NULL, NULL, NULL, NULL);
    diag_t d;
    diag_init(&d);
    zone_dynamic_t dyn[8];
    for (size_t i = 0; i < f->n; i++) {
        if (!service_build(conf, i, f->health, &f->svcs[i], &d))
            return -1;
        dyn[i] = (zone_dynamic_t){.name = f->svcs[i]->name, .data = f->svcs[i],
                                  .conf_file = "test.yaml", .conf_line = 1};
    }
    zone_source_t *srcs[2] = {fixture_source("example.com.", com),
                              fixture_source("example.net.", net)};
    bool ok = zone_db_build(srcs, 2, dyn, f->n, &f->db, &d);
    zone_source_free(srcs[0]);
    zone_source_free(srcs[1]);
    diag_free(&d);
    health_commit(f->health, conf);
    return ok ? 0 : -1;
}

void fixture_services_free(fixture_services_t *f)
{
    zone_db_free(f->db);
    for (size_t i = 0; i < f->n; i++)
        service_free(f->svcs[i]);
    health_stop(f->health);
    health_free(f->health);
}
