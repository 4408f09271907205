#include "config.h"

#include "util/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void diag_init(diag_t *d) { memset(d, 0, sizeof(*d)); }

void diag_free(diag_t *d)
{
    for (size_t i = 0; i < d->count; i++)
        free(d->messages[i]);
    free(d->messages);
    memset(d, 0, sizeof(*d));
}

static void diag_add(diag_t *d, bool error, const char *file, unsigned line, unsigned col,
                     const char *fmt, va_list ap)
{
    char where[1100] = "";
    char text[1024];
    if (file && line && col)
        snprintf(where, sizeof(where), "%s:%u:%u: ", file, line, col);
    else if (file && line)
        snprintf(where, sizeof(where), "%s:%u: ", file, line);
    else if (file)
        snprintf(where, sizeof(where), "%s: ", file);
    vsnprintf(text, sizeof(text), fmt, ap);

    size_t len = strlen(where) + strlen(text) + sizeof("warning: ");
    char *msg = malloc(len);
    if (!msg)
        abort(); /* loaders may abort on OOM */
    snprintf(msg, len, "%s%s%s", where, error ? "" : "warning: ", text);
    if (d->count == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->messages = realloc(d->messages, d->cap * sizeof(*d->messages));
        if (!d->messages)
            abort();
    }
    d->messages[d->count++] = msg;
    if (error)
        d->errors++;
    else
        d->warnings++;
    if (!d->quiet) {
        if (error)
            log_errx("%s", msg);
        else
            log_warnx("%s", msg);
    }
}

void diag_error(diag_t *d, const char *file, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_add(d, true, file, line, col, fmt, ap);
    va_end(ap);
}

void diag_warn(diag_t *d, const char *file, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_add(d, false, file, line, col, fmt, ap);
    va_end(ap);
}
