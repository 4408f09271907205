/*
 * ctl: the command table (see ctl_internal.h) and the status text table,
 * shared by the server and meridianctl.
 */
#include "config.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_internal.h"

const ctl_command_spec_t ctl__command_specs[CTL_CMD_COUNT] = {
    [CTL_CMD_STATUS] = {CTL_CMD_STATUS, "status", 0, "status",
                        "version, uptime, listeners, zones, data centers"
                        "\nand every health target"},
    [CTL_CMD_STATS] = {CTL_CMD_STATS, "stats", 0, "stats",
                       "counters: queries by transport, rcode and type,"
                       "\nanswers per service and data center, failovers,"
                       "\nreloads, check results"},
    [CTL_CMD_RELOAD] = {CTL_CMD_RELOAD, "reload", 0, "reload",
                        "reload the config and zones (as SIGHUP does)"},
    [CTL_CMD_DRAIN] = {CTL_CMD_DRAIN, "drain", 1, "drain DATACENTER",
                       "force a data center down (kept across restarts"
                       "\nwhen server.state_file is set)"},
    [CTL_CMD_UNDRAIN] = {CTL_CMD_UNDRAIN, "undrain", 1, "undrain DATACENTER",
                         "back to what its health checks say"},
    [CTL_CMD_FORCE] = {CTL_CMD_FORCE, "force", 2, "force ADDRESS up|down|auto",
                       "force one address up or down, or release it"},
    [CTL_CMD_EXPLAIN] = {CTL_CMD_EXPLAIN, "explain", 2, "explain NAME ADDRESS[/PREFIX]",
                         "how service NAME answers that client, now"},
};

const ctl_command_spec_t *ctl__command_find(const char *name)
{
    for (size_t i = 0; i < CTL_CMD_COUNT; i++)
        if (strcmp(ctl__command_specs[i].name, name) == 0)
            return &ctl__command_specs[i];
    return NULL;
}

/* ------------------------------------------------------------ text table */

void ctl__table_init(ctl_table_t *t, const char *align)
{
    *t = (ctl_table_t){.align = align, .n_cols = strlen(align)};
    assert(t->n_cols > 0 && t->n_cols <= CTL_TABLE_MAX_COLS);
}

void ctl__table_row(ctl_table_t *t, const char *const *cells)
{
    if (t->failed)
        return;
    size_t size = 0;
    for (size_t i = 0; i < t->n_cols; i++)
        size += strlen(cells[i] ? cells[i] : "-") + 1;
    if (t->n_rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **rows = realloc(t->rows, cap * sizeof(*rows));
        if (!rows) {
            t->failed = true;
            return;
        }
        t->rows = rows;
        t->cap = cap;
    }
    char *row = malloc(size), *p = row;
    if (!row) {
        t->failed = true;
        return;
    }
    for (size_t i = 0; i < t->n_cols; i++) {
        const char *cell = cells[i] ? cells[i] : "-";
        size_t len = strlen(cell) + 1;
        memcpy(p, cell, len);
        p += len;
    }
    t->rows[t->n_rows++] = row;
}

/* Characters, as a terminal shows them: UTF-8 continuation bytes take no
 * column. */
static size_t ctl__table_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

void ctl__table_print(const ctl_table_t *t, FILE *out, const char *indent)
{
    size_t widths[CTL_TABLE_MAX_COLS] = {0};
    size_t n_cols = t->n_cols;
    for (size_t r = 0; r < t->n_rows; r++) {
        const char *cell = t->rows[r];
        for (size_t i = 0; i < n_cols; i++, cell += strlen(cell) + 1) {
            size_t w = ctl__table_width(cell);
            if (w > widths[i])
                widths[i] = w;
        }
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        const char *cell = t->rows[r];
        fputs(indent, out);
        for (size_t i = 0; i < n_cols; i++, cell += strlen(cell) + 1) {
            bool last = i + 1 == n_cols;
            int pad = (int)(widths[i] - ctl__table_width(cell));
            if (t->align[i] == 'r')
                fprintf(out, "%*s%s", pad, "", cell);
            else
                fprintf(out, "%s%*s", cell, last ? 0 : pad, "");
            fputs(last ? "\n" : "  ", out);
        }
    }
}

void ctl__table_free(ctl_table_t *t)
{
    for (size_t r = 0; r < t->n_rows; r++)
        free(t->rows[r]);
    free(t->rows);
    t->rows = NULL;
    t->n_rows = t->cap = 0;
}
