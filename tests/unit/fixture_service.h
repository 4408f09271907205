/* Test fixture for the query tests that need geo services: the services
 * of a config, compiled, and a database of two zones that holds them. */
#ifndef MERIDIAN_TESTS_FIXTURE_SERVICE_H
#define MERIDIAN_TESTS_FIXTURE_SERVICE_H

#include "conf/conf.h"
#include "health/health.h"
#include "query/service.h"
#include "zone/zonedb.h"

typedef struct fixture_services {
    zone_db_t *db;
    service_t *svcs[8];
    size_t n;
    health_t *health; /* no loop: only overrides change states */
} fixture_services_t;

/* Builds every service of conf (at most 8) and a database of the zones
 * com ("example.com.") and net ("example.net.") holding them. Returns 0 or
 * -1 (for a cmocka setup). Free with fixture_services_free(). */
int fixture_services(fixture_services_t *f, const conf_t *conf, const char *const *com,
                     const char *const *net);
void fixture_services_free(fixture_services_t *f);

/* The network text/prefix ("192.0.2.0", 24; "2001:db8::", 32); aborts on
 * an address inet_pton() refuses. */
conf_network_t fixture_net(const char *text, unsigned prefix);

#endif
