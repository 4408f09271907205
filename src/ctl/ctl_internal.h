/*
 * ctl internals: the command table and the text table, shared by the
 * server and meridianctl.c (spec.c); then the server's own, shared by
 * ctl.c (the socket and its clients) and commands.c (requests, commands).
 *
 * The command table is the one list of what the control socket accepts:
 * the server checks a request's arguments against it and meridianctl
 * checks the command line against it before it reads any config, so both
 * give the same usage line. The text table lays out status columns from
 * their content, so no value (a long state, a long name) breaks them.
 */
#ifndef MERIDIAN_CTL_CTL_INTERNAL_H
#define MERIDIAN_CTL_CTL_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl/ctl.h"

enum ctl_command_id {
    CTL_CMD_STATUS,
    CTL_CMD_STATS,
    CTL_CMD_RELOAD,
    CTL_CMD_DRAIN,
    CTL_CMD_UNDRAIN,
    CTL_CMD_FORCE,
    CTL_CMD_EXPLAIN,
    CTL_CMD_COUNT
};

typedef struct ctl_command_spec {
    enum ctl_command_id id;
    const char *name;
    unsigned n_args;
    const char *usage; /* "drain DATACENTER" */
    const char *help;  /* for meridianctl --help; lines after the first start with '\n' */
} ctl_command_spec_t;

/* Indexed by enum ctl_command_id. */
extern const ctl_command_spec_t ctl__command_specs[CTL_CMD_COUNT];

/* The command called name, or NULL. */
const ctl_command_spec_t *ctl__command_find(const char *name);

/* A table of text cells printed with each column as wide as its widest
 * cell (UTF-8 characters, not bytes). Rows are copied. On out of memory
 * the table sets failed and ignores further rows: the caller reports the
 * failure, the table never aborts. */
#define CTL_TABLE_MAX_COLS 16

typedef struct ctl_table {
    const char *align; /* one letter per column: 'l' left, 'r' right */
    size_t n_cols;
    char **rows; /* each row's cells, NUL-separated, in one allocation */
    size_t n_rows, cap;
    bool failed;
} ctl_table_t;

/* align has at most CTL_TABLE_MAX_COLS letters. */
void ctl__table_init(ctl_table_t *t, const char *align);
/* Adds a row of t's n_cols cells (NULL prints as "-"). */
void ctl__table_row(ctl_table_t *t, const char *const *cells);
/* Prints every row, each after indent; the last column is not padded. */
void ctl__table_print(const ctl_table_t *t, FILE *out, const char *indent);
void ctl__table_free(ctl_table_t *t);

/* ------------------------------------------------------------ the server
 * Everything below runs on the loop thread. */

typedef struct ctl_client ctl_client_t;
typedef struct ctl_pending ctl_pending_t;
typedef struct ctl_reply ctl_reply_t; /* commands.c */

struct ctl {
    uv_pipe_t listener;
    uv_loop_t *loop;
    char *path;
    health_t *health;
    char **listeners; /* "127.0.0.1:53", "[::1]:53" */
    size_t n_listeners;
    ctl_reload_fn reload;
    void *reload_arg;
    uint64_t started_ms; /* uv_now() at start */
    unsigned idle_ms;
    ctl_client_t *clients; /* served and refused ones */
    size_t n_clients;      /* served ones: at most CTL_MAX_CLIENTS */
    size_t n_refused;      /* refused ones, still being told why */
    uv_pipe_t spare;       /* takes a connection there is no memory for */
    bool spare_busy, accept_owed;
    bool stopped;
};

struct ctl_client {
    uv_pipe_t pipe;
    uv_timer_t idle; /* the idle deadline, then the deadline to say goodbye */
    uv_shutdown_t shutdown;
    uv_write_t no_memory; /* the out-of-memory reply needs no allocation */
    ctl_t *ctl;
    ctl_client_t *prev, *next;
    int open_handles; /* freed when both handles are closed */
    bool closing;
    bool served;            /* counted in n_clients */
    bool refused;           /* over CTL_MAX_CLIENTS: counted in n_refused */
    bool cut_off;           /* for leaving too many replies unread */
    bool draining;          /* its last reply is sent: input is read and dropped */
    ctl_pending_t *pending; /* a reload it waits for: reading stops until it ends */
    size_t len;
    char *buf; /* CTL_MAX_LINE + 1 bytes, a line and its newline; NULL when refused */
};

/* A reload asked for by a client, until its done callback. */
struct ctl_pending {
    ctl_client_t *client; /* NULL once the client is gone */
    ctl_reply_t *now;     /* while the reload call runs: where a quick answer goes */
    bool answered;
};

/* Builds the reply to one request line of cl (commands.c). Sets
 * *close_after when the connection must close after it, *deferred when the
 * reply comes later (a reload). Returns NULL when deferred or out of
 * memory. Caller frees with json_decref(). */
json_t *ctl__handle_line(ctl_t *c, ctl_client_t *cl, const char *line, size_t len,
                         bool *close_after, bool *deferred);
/* Queues reply (NULL: it could not be built) for cl (ctl.c). */
void ctl__send(ctl_client_t *cl, json_t *reply, bool close_after);
/* After a deferred reply: the requests that came behind it (ctl.c). */
void ctl__client_resume(ctl_client_t *cl);

#endif
