/*
 * snapshot: everything the query path reads, loaded together and published
 * with RCU.
 *
 * A snapshot holds the config, the compiled zone database and the answer
 * settings derived from them. It is built off the hot path by
 * snapshot_load(), or in stages so that a reload does its heavy part on
 * another thread: snapshot_build_read() and snapshot_build_finish() may
 * run on any thread, snapshot_build_services() (which registers health
 * targets) only where health lives. snapshot_publish() swaps it in with
 * rcu_xchg_pointer() and frees the previous one after synchronize_rcu(),
 * so a worker inside rcu_read_lock() always sees one whole snapshot, never
 * a mix; snapshot_swap() and snapshot_retire() are its two halves, for a
 * caller that frees the old one on another thread.
 */
#ifndef MERIDIAN_SNAPSHOT_H
#define MERIDIAN_SNAPSHOT_H

#include <stdbool.h>

#include "conf/conf.h"
#include "geo/geo.h"
#include "health/health.h"
#include "query/query.h"
#include "query/service.h"
#include "util/diag.h"
#include "zone/zonedb.h"

typedef struct snapshot {
    conf_t *conf;
    zone_db_t *db;
    query_config_t query;
    size_t n_records;
    geo_countries_t *countries; /* NULL when no GeoIP database is configured */
    geo_db_t *geo;
    service_t **services; /* conf->n_services, in config order */
} snapshot_t;

/* Where the country table is looked for first when the config does not
 * say (then beside the program, for one run from its build tree). */
#define SNAPSHOT_DEFAULT_COUNTRIES MERIDIAN_DATADIR "/countries.csv"

/* The service named name (any case, with or without the final dot), or
 * NULL. */
service_t *snapshot_service(const snapshot_t *s, const char *name);

/* Loads the config file and every zone it names, registering every service
 * address with health (NULL: everything counts as up; the caller then
 * commits or rolls back health's pending targets). Returns false, with
 * every problem reported to d, when anything is wrong. Caller frees with
 * snapshot_free() unless it publishes it. */
bool snapshot_load(const char *conf_path, health_t *health, snapshot_t **out, diag_t *d);
void snapshot_free(snapshot_t *s);

/* snapshot_load() in three stages, each reporting to d and returning false
 * when anything is wrong; a failed stage frees b.
 *   read (any thread): the config, every zone file, the GeoIP files;
 *   services (health's thread): builds the services, registering their
 *     addresses with health (the caller commits or rolls back after);
 *   finish (any thread): computes the services' decisions per GeoIP
 *     record and compiles the zones, frees b; *out as from
 *     snapshot_load().
 * snapshot_build_free() abandons a build between stages. */
typedef struct snapshot_build snapshot_build_t;
bool snapshot_build_read(const char *conf_path, snapshot_build_t **out, diag_t *d);
bool snapshot_build_services(snapshot_build_t *b, health_t *health, diag_t *d);
bool snapshot_build_finish(snapshot_build_t *b, snapshot_t **out, diag_t *d);
void snapshot_build_free(snapshot_build_t *b);

/* Makes s the current snapshot and frees the previous one once no reader
 * can still see it. The caller must not be inside an RCU read section. */
void snapshot_publish(snapshot_t *s);
/* The same in two steps: swap returns the previous snapshot (at once);
 * retire waits for every reader to leave it and frees it, on any thread
 * outside an RCU read section. */
snapshot_t *snapshot_swap(snapshot_t *s);
void snapshot_retire(snapshot_t *old);

/* The current snapshot; only valid inside rcu_read_lock(). Inline, as it
 * is read for every query: a dependent load, which is what
 * rcu_dereference() does, without a call into liburcu. */
extern snapshot_t *snapshot_current_ptr; /* written by snapshot_swap() only */
static inline const snapshot_t *snapshot_current(void)
{
    return __atomic_load_n(&snapshot_current_ptr, __ATOMIC_CONSUME);
}

#endif
