/*
 * ctl: the control socket that meridianctl(8) talks to.
 *
 * The server lives on the daemon's libuv loop (a uv_pipe_t on a Unix
 * socket) and every command runs on the loop thread, the thread that
 * publishes snapshots and owns health, so commands need no locks.
 *
 * Protocol, version 1. The client connects and sends one JSON object per
 * line (newline-terminated, UTF-8):
 *     {"version": 1, "command": "status", "args": [], "json": false}
 * "args" (an array of strings) and "json" (a boolean, a hint only: every
 * reply carries both forms) may be left out. The server answers each
 * request with one JSON object on one line:
 *     {"version": 1, "ok": true, "output": "text for humans", "data": {...}}
 *     {"version": 1, "ok": false, "error": "what went wrong", "data": {...}}
 * ("data" is optional in an error reply). Rules:
 *   - a "version" other than 1 (or none) gets an error reply "protocol
 *     version mismatch ..." and the connection stays open;
 *   - an unknown command or wrong arguments get an error reply, the
 *     connection stays open;
 *   - a line longer than CTL_MAX_LINE bytes, or one that is not a JSON
 *     object, gets an error reply and the connection is closed;
 *   - a connection that sends no complete line for CTL_IDLE_TIMEOUT_MS is
 *     closed (bytes without a newline do not count);
 *   - a client that leaves more than CTL_MAX_OUTPUT bytes of replies
 *     unread is disconnected (one reply is sent whatever its length);
 *   - at most CTL_MAX_CLIENTS connections at once: one more gets the error
 *     reply "too many clients" and is closed;
 *   - when the daemon runs out of memory answering, the reply is the error
 *     "out of memory ..." and the connection is closed; the daemon goes on.
 * Where the server closes after an error reply, it shuts down its side
 * once the reply is written and reads and drops what the client still
 * sends, for CTL_LINGER_MS at most, so the client can read the reply
 * instead of failing to send.
 *
 * Commands: status; reload; drain DC; undrain DC; force ADDRESS
 * up|down|auto; explain NAME ADDRESS[/PREFIX]. See meridianctl(8).
 *
 * The socket is created with mode 0660. A socket file left behind by a
 * dead daemon is removed at start; if a live daemon answers on it,
 * ctl_start() fails with -EADDRINUSE. The file is removed by ctl_stop().
 */
#ifndef MERIDIAN_CTL_CTL_H
#define MERIDIAN_CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "health/health.h"
#include "net/net.h"
#include "util/diag.h"

#define CTL_PROTOCOL_VERSION 1
#define CTL_MAX_LINE 65536 /* bytes in one request, without the newline */
#define CTL_IDLE_TIMEOUT_MS 10000
#define CTL_MAX_CLIENTS 16
#define CTL_MAX_OUTPUT (1024 * 1024) /* reply bytes queued for one client */
#define CTL_LINGER_MS 2000

/* How a reload went: ok when the new configuration is being served; every
 * problem in problems (as "file:line: message"); summary one line for
 * humans. Called on the loop thread; nothing passed lives past the call. */
typedef void (*ctl_reload_done_fn)(void *ctx, bool ok, const diag_t *problems,
                                   const char *summary);
/* Starts a reload of config and zones exactly as SIGHUP does and calls
 * done(ctx, ...) once it has finished, which may be before it returns. The
 * client that asked waits for the reply (its later requests with it). */
typedef void (*ctl_reload_fn)(void *arg, ctl_reload_done_fn done, void *ctx);

typedef struct ctl_config {
    const char *path;                /* the socket; copied */
    health_t *health;                /* for drain/undrain/force and status */
    const net_listen_t *listeners;   /* for status; copied */
    size_t n_listeners;
    ctl_reload_fn reload;            /* NULL: reload is refused */
    void *reload_arg;
    unsigned idle_timeout_ms;        /* 0: CTL_IDLE_TIMEOUT_MS */
} ctl_config_t;

typedef struct ctl ctl_t;

/* Binds the socket and starts accepting on loop. Returns 0, -EADDRINUSE
 * when another daemon answers on path, or another negative errno (the
 * directory is missing, permissions...). On failure *out is NULL and
 * nothing is left on the loop. The caller stops with ctl_stop() and frees
 * with ctl_free() once the loop has run the close callbacks. */
int ctl_start(ctl_t **out, uv_loop_t *loop, const ctl_config_t *cfg);
/* Closes the socket and every connection and removes the socket file.
 * Safe to call twice. */
void ctl_stop(ctl_t *c);
void ctl_free(ctl_t *c);

/* The ADDRESS[/PREFIX] of `explain` (shared with meridiand --explain):
 * an IPv4 or IPv6 address, optionally with a prefix length; bits past the
 * prefix are cleared (a client subnet carries none). Returns 0 or
 * -EINVAL. */
int ctl_parse_client(const char *text, int *family, uint8_t addr[16], unsigned *prefix);

#endif
