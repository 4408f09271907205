/*
 * preflight: everything a start verifies before serving, in one function
 * that `meridiand --check` runs and stops after and the start runs and
 * goes on from, so that the two can never disagree: --check exits 0 only
 * when the start would succeed with every feature working as configured.
 *
 * It decides who the daemon will run as (server.user, server.group,
 * server.allow_root) and loads the snapshot -- config, zones, $INCLUDEs,
 * country table, GeoIP database, networks files -- as that account (the
 * effective ids are switched for the load and back), so that a file only
 * root can read fails now, not at the first reload after the privileges
 * are dropped. As that account too it reads the state file and checks
 * what must be writable later: the state file's directory (the file is
 * replaced by rename) and the control socket's (the socket is removed at
 * stop), and that each health status file can be read.
 *
 * Runs on the main thread before any other thread exists (the effective
 * ids are the process's).
 */
#ifndef MERIDIAN_PREFLIGHT_H
#define MERIDIAN_PREFLIGHT_H

#include <stdbool.h>
#include <sys/types.h>

#include "health/health.h"
#include "snapshot.h"
#include "util/diag.h"

typedef struct preflight {
    snapshot_t *snap; /* caller frees or publishes; NULL when the run failed */
    bool drop;        /* started as root with server.user: become uid, gid */
    bool take_group;  /* started as server.user already: only become gid */
    uid_t uid;
    gid_t gid;
} preflight_t;

/* Runs every check, reporting each problem to d; true when there was none.
 * health receives the services' targets and the state file's overrides
 * (NULL: a private one is used and freed, as for --check). */
bool preflight_run(const char *config_path, health_t *health, preflight_t *out, diag_t *d);

#endif
