/*
 * health: which addresses of which data centers are up.
 *
 * A target is one address of one data center as a service uses it, with
 * the check that probes it (or none). Services register their addresses
 * while a snapshot is built (health_target) and the targets of the
 * published config are kept in step by health_commit: new ones start
 * checking at once, ones the config dropped stop, unchanged ones keep their
 * state and counters across reloads. Checks run on the libuv loop, never
 * on a UDP worker:
 *   - tcp: connect within the timeout;
 *   - http/https: GET path with a Host header through libcurl's multi
 *     interface driven by uv_poll and a uv_timer; status (and optionally a
 *     body substring) must match; https verifies the certificate unless
 *     told not to;
 *   - file: "NAME UP|DOWN" lines fed by another system, watched with
 *     uv_fs_event and re-read on change; NAME is an address (as the
 *     service serves it) or a data center name; a missing or malformed
 *     file is logged and changes nothing.
 * Hysteresis: a target goes DOWN after down_after consecutive failures and
 * UP after up_after consecutive successes (file states apply at once).
 * Until its first result a target is UNKNOWN, which counts as up.
 * Precisely, for tcp and http(s), with counters of consecutive successes
 * and failures (a result resets the other counter):
 *   - UNKNOWN: the first success makes it UP at once (a fresh target or a
 *     restart needs no warm-up); failures keep it UNKNOWN until there are
 *     down_after of them in a row, which make it DOWN;
 *   - UP: down_after consecutive failures make it DOWN;
 *   - DOWN: up_after consecutive successes make it UP.
 * A threshold of 0 counts as 1. Changing a check's parameters on reload
 * keeps state and counters (changing its type resets them to UNKNOWN).
 *
 * Status files ("file" checks): '#' starts a comment; other non-blank
 * lines are "NAME UP|DOWN" (any case). NAME is compared as an address when
 * it parses as one ("2001:DB8:0::10" names 2001:db8::10), else as a data
 * center name. A target takes the state of the last line naming its served
 * address, else of the last line naming its data center, else UNKNOWN (so
 * deleting a line releases the target). Files are re-read on a change in
 * their directory (atomic renames included) and every check interval; a
 * missing, unreadable or malformed file keeps every state as it was and
 * logs each distinct problem (file:line) once. Counters stay 0.
 *
 * http(s) and names: the request goes to the probe address, but the URL
 * names the check's host (or the served address), so the Host header,
 * TLS SNI and the certificate check all use that name; with verify_tls
 * the certificate must be valid for the host (or, without a host, carry
 * the served IP address). No DNS lookup ever happens. See check_http.c.
 *
 * Operator overrides force a data center or an address UP or DOWN (or back
 * to AUTO); an address override beats a data-center override, which beats
 * the check. They are kept in the state file, written atomically (temporary
 * file in the same directory, fsync, rename, fsync of the directory), and
 * read back at start and on SIGHUP. Its format, one override a line:
 *     # meridian health overrides, written by meridiand: ...
 *     datacenter eu-west down
 *     address 2001:db8::10 up
 * '#' starts a comment, blank lines are ignored, fields are separated by
 * blanks, up/down may be in any case, addresses in any inet_pton spelling
 * (written back canonical). Overrides naming data centers or addresses the
 * current config lacks are kept and apply once a config has them.
 *
 * Target ids are stable: a target keeps its id, state and counters across
 * commits for as long as configs keep its key, and a retired id is never
 * handed out again. The one exception: health_rollback() returns the ids
 * of the pending targets it drops, which no published snapshot ever held
 * (so a config that keeps failing to load cannot exhaust the table).
 *
 * The query path reads only the effective state of each target: one atomic
 * byte (relaxed loads) in an array that lives as long as the health_t and
 * never moves. Every other function runs on the loop thread (or, for
 * offline tools, with loop NULL: nothing is ever checked).
 */
#ifndef MERIDIAN_HEALTH_HEALTH_H
#define MERIDIAN_HEALTH_HEALTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "conf/conf.h"
#include "util/diag.h"

#define HEALTH_MAX_TARGETS 65536

enum health_state { HEALTH_UNKNOWN = 0, HEALTH_UP = 1, HEALTH_DOWN = 2 };
enum health_force { HEALTH_AUTO = 0, HEALTH_FORCE_UP = 1, HEALTH_FORCE_DOWN = 2 };

typedef struct health health_t;

/* Called on the loop thread after any target's effective state changed
 * (so the caller can log data-center and service transitions). */
typedef void (*health_change_fn)(void *arg);

/* loop NULL: no checks run (meridiand --check, --explain). state_file may
 * be NULL (overrides then last until exit). Caller frees with
 * health_free() after health_stop() and after the loop has run the close
 * callbacks (uv_run until health_stop's handles are closed). */
health_t *health_new(uv_loop_t *loop, const char *state_file, health_change_fn on_change,
                     void *arg);
void health_stop(health_t *h);
void health_free(health_t *h);

/* The target for address `addr` of pool `pool` of svc (indices into
 * conf_service_t.pools and conf_pool_t.addrs): found by (check name, data
 * center name, address, probe address, port) or created pending. Returns
 * its id (< HEALTH_MAX_TARGETS) or -1 when the table is full (reported). */
long health_target(health_t *h, const conf_t *conf, const conf_service_t *svc, size_t pool,
                   size_t addr, diag_t *d);

/* After a snapshot built with health_target() is published: pending
 * targets start (first check at once, later ones 1 ms apart so that many
 * do not fire together), targets conf no longer uses stop (their handles
 * close; their ids stay retired). Every address conf uses is a target
 * afterwards, registered or not. After a failed build instead:
 * health_rollback() forgets the pending ones. A pending target already
 * reflects overrides, since its snapshot may be read before the commit. */
void health_commit(health_t *h, const conf_t *conf);
void health_rollback(health_t *h);

/* The query path's view: one byte per target id, an enum health_state
 * after overrides. Never moves while h lives. */
const _Atomic uint8_t *health_states(const health_t *h);

static inline bool health_state_up(const _Atomic uint8_t *states, uint32_t target)
{
    return atomic_load_explicit(&states[target], memory_order_relaxed) != HEALTH_DOWN;
}

/* Operator overrides (persisted when a state file is configured). dc is a
 * data center name; address is as written in the config ("192.0.2.10",
 * "2001:db8::10", any spelling inet_pton accepts). Return 0, -ENOENT when
 * no target has that data center or address (nothing is stored; but AUTO
 * still clears an override stored for one, e.g. from the state file),
 * -EINVAL for an address that does not parse, an empty name or a bad
 * force, -EIO when the state file could not be written (the override
 * still applies). on_change runs before they return if a state changed. */
int health_force_dc(health_t *h, const char *dc, enum health_force force);
int health_force_address(health_t *h, const char *address, enum health_force force);

/* The state file to use from now on (the config may name another on a
 * reload); NULL: overrides are kept in memory only. */
void health_set_state_file(health_t *h, const char *path);

/* Removes the temporary files a write of the state file cut short (a
 * kill -9 between writing and renaming) left in its directory: only
 * names STATE.XXXXXX that are regular files of this process's user
 * holding nothing or the start of a state file. Returns how many were
 * removed, or a negative errno when the directory cannot be read. */
int health_clean_state_temps(health_t *h);

/* Whether each file check's status file can be read now, by the process's
 * effective ids (who names them in messages): one that does not exist yet
 * is fine, any other failure is reported (file:line of the check). */
bool health_status_files_check(const conf_t *conf, const char *who, diag_t *d);

/* Reads the state file (at start and on SIGHUP): on success the overrides
 * in it replace the current ones; a missing file means none; a corrupt
 * one is reported (file:line) and changes nothing. */
bool health_load_state(health_t *h, diag_t *d);

/* For status output and tests: a target's check state before overrides,
 * consecutive successes/failures, and the last result's text. */
typedef struct health_info {
    enum health_state check_state;
    enum health_state effective;
    enum health_force forced; /* the override in effect, address or data center */
    unsigned successes, failures;
    const char *last_error; /* NULL after a success */
    char address[48];       /* served address, text */
    const char *datacenter;
    const char *check;      /* NULL: unchecked */
    time_t since;           /* when the effective state last changed */
    const char *why;        /* and why ("3 consecutive failures: ...", "override: ...") */
} health_info_t;
/* False for an id that is retired, rolled back or never handed out. The
 * strings live until the target is retired (the next commit at the
 * earliest). */
bool health_target_info(const health_t *h, uint32_t target, health_info_t *out);
/* One past the highest id handed out: walk 0..end with health_target_info
 * to list every target. */
uint32_t health_target_end(const health_t *h);

#endif
