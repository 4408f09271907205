/*
 * health internals shared by health.c and the check implementations.
 *
 * Everything here runs on the loop thread. A target's in-flight probe and
 * its interval timer are separate allocations owned by libuv's close
 * callbacks, so a target can be retired (and its memory freed) while a
 * probe is still closing: cancelling a probe detaches it from its target
 * first, and no close callback ever touches a target or the health_t.
 */
#ifndef MERIDIAN_HEALTH_HEALTH_INTERNAL_H
#define MERIDIAN_HEALTH_HEALTH_INTERNAL_H

#include "health/health.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/socket.h>

/* Bytes of an http(s) body kept for the expect_body search: a health page
 * is small, and a bigger one must not cost memory or time. */
#define HEALTH__HTTP_BODY_MAX 4096
/* A status file larger than this is a mistake, not a status file. */
#define HEALTH__FILE_MAX (1024 * 1024)
/* Writers often touch a status file several times in a row. */
#define HEALTH__FILE_DEBOUNCE_MS 20

enum health__status { HEALTH__PENDING = 0, HEALTH__ACTIVE };

typedef struct health__target {
    health_t *h;
    uint32_t id;
    uint8_t status;  /* enum health__status; retired targets are freed */
    bool referenced; /* scratch for health_commit */
    bool restart;    /* scratch: check parameters changed */
    uint32_t hash;
    uint32_t hash_next; /* id + 1 of the next target in the bucket, 0: end */

    /* the key */
    char *datacenter;
    conf_network_t addr;  /* served address */
    conf_network_t probe; /* probed address (the served one unless set) */
    uint16_t port;        /* 0 for file checks and unchecked targets */
    bool has_check;
    conf_health_check_t check; /* a deep copy (strings owned), conf_file NULL */

    /* state */
    enum health_state check_state;
    uint8_t effective; /* mirrors h->states[id] */
    time_t since;      /* when effective last changed (or the target was made) */
    char why[256];     /* why it last changed, for status */
    unsigned successes, failures;
    bool has_error;
    char last_error[160];

    /* tcp/http(s): the interval timer (own allocation) and the probe in
     * flight (tcp or http probe, by check.type) */
    uv_timer_t *timer;
    void *inflight;
} health__target_t;

typedef struct health__override_dc {
    char *name;
    enum health_force force;
} health__override_dc_t;

typedef struct health__override_addr {
    conf_network_t addr;
    enum health_force force;
} health__override_addr_t;

typedef struct health__http health__http_t;
typedef struct health__file_watch health__file_watch_t;

struct health {
    uv_loop_t *loop;
    char *state_file;
    health_change_fn on_change;
    void *arg;
    _Atomic uint8_t *states; /* HEALTH_MAX_TARGETS bytes, never moves */

    health__target_t **targets; /* by id; NULL: retired (or never used) */
    uint32_t n_targets;         /* ids handed out: the next new id */
    uint32_t first_pending;     /* ids >= this are pending */
    uint32_t *buckets;          /* id + 1 of the first target, 0: empty */

    health__override_dc_t *dc_overrides;
    size_t n_dc_overrides;
    health__override_addr_t *addr_overrides;
    size_t n_addr_overrides;

    unsigned spread; /* start offsets handed out by the current commit */
    bool changed;    /* an effective state changed since the last notify */
    bool stopped;

    health__http_t *http;          /* NULL without a loop */
    health__file_watch_t *watches; /* status files being watched */
};

/* health.c: results from the checks. why is NULL on success. */
void health__check_result(health__target_t *t, bool ok, const char *why);
/* A status file's verdict for t (HEALTH_UNKNOWN: the file does not name it). */
void health__file_state(health__target_t *t, enum health_state st, const char *reason);
/* Calls on_change once if anything changed since the last call. */
void health__notify(health_t *h);
/* "192.0.2.10", "2001:DB8:0::10" into a full-length network; false if not
 * an address. */
bool health__parse_address(const char *text, conf_network_t *out);
bool health__same_address(const conf_network_t *a, const conf_network_t *b);
/* Text of a target's served or probed address. */
void health__address_text(const conf_network_t *a, char *buf, size_t size);

/* check_tcp.c */
void health__tcp_start(health__target_t *t);
void health__tcp_cancel(void *probe);

/* check_http.c */
int health__http_init(health_t *h);
void health__http_start(health__target_t *t);
void health__http_cancel(health_t *h, void *probe);
void health__http_stop(health_t *h);
void health__http_free(health_t *h);

/* check_file.c: after a commit, watch every status file an active target
 * uses (reading each at once) and stop watching the rest. */
void health__file_sync(health_t *h);
void health__file_stop(health_t *h);

#endif
