/*
 * snapshot: everything the query path reads, loaded together and published
 * with RCU.
 *
 * A snapshot holds the config, the compiled zone database and the answer
 * settings derived from them. It is built off the hot path by
 * snapshot_load(); snapshot_publish() swaps it in with rcu_xchg_pointer()
 * and frees the previous one after synchronize_rcu(), so a worker inside
 * rcu_read_lock() always sees one whole snapshot, never a mix.
 */
#ifndef MERIDIAN_SNAPSHOT_H
#define MERIDIAN_SNAPSHOT_H

#include <stdbool.h>

#include "conf/conf.h"
#include "query/query.h"
#include "util/diag.h"
#include "zone/zonedb.h"

typedef struct snapshot {
    conf_t *conf;
    zone_db_t *db;
    query_config_t query;
    size_t n_records;
} snapshot_t;

/* Loads the config file and every zone it names. Returns false, with every
 * problem reported to d, when anything is wrong. Caller frees with
 * snapshot_free() unless it publishes it. */
bool snapshot_load(const char *conf_path, snapshot_t **out, diag_t *d);
void snapshot_free(snapshot_t *s);

/* Makes s the current snapshot and frees the previous one once no reader
 * can still see it. The caller must not be inside an RCU read section. */
void snapshot_publish(snapshot_t *s);

/* The current snapshot; only valid inside rcu_read_lock(). */
const snapshot_t *snapshot_current(void);

#endif
