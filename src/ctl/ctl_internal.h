/*
 * ctl internals shared by the server (ctl.c) and meridianctl.c.
 *
 * The command table is the one list of what the control socket accepts:
 * the server checks a request's arguments against it and meridianctl
 * checks the command line against it before it reads any config, so both
 * give the same usage line. The text table lays out status columns from
 * their content, so no value (a long state, a long name) breaks them.
 */
#ifndef MERIDIAN_CTL_CTL_INTERNAL_H
#define MERIDIAN_CTL_CTL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

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
extern const ctl_command_spec_t ctl_command_specs[CTL_CMD_COUNT];

/* The command called name, or NULL. */
const ctl_command_spec_t *ctl_command_find(const char *name);

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
void ctl_table_init(ctl_table_t *t, const char *align);
/* Adds a row of t's n_cols cells (NULL prints as "-"). */
void ctl_table_row(ctl_table_t *t, const char *const *cells);
/* Prints every row, each after indent; the last column is not padded. */
void ctl_table_print(const ctl_table_t *t, FILE *out, const char *indent);
void ctl_table_free(ctl_table_t *t);

#endif
