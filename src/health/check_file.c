/*
 * file check: another system writes "NAME UP|DOWN" lines and we follow.
 *
 * One watcher per status file, shared by every target whose check names
 * it. The watcher listens on the file's directory, not the file, because
 * writers replace the file by rename (the inode changes, a watch on the old
 * one would go quiet). A change re-reads the file after a short debounce;
 * a timer re-reads it every check interval too, in case an event was lost
 * (or the directory could not be watched at all). The read runs on libuv's
 * thread pool so a slow disk never stalls the loop; parsing and applying
 * run back on the loop.
 *
 * A file that cannot be read or has a malformed line changes nothing: the
 * last good verdict stands. Each distinct problem is logged once, until
 * the file is good again. In a good file, a target takes the state of the
 * last line naming its served address, else of the last line naming its
 * data center, else UNKNOWN (counts as up): a line that is removed no
 * longer holds the target down.
 */
#include "config.h"

#include "health/health_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/file.h"
#include "util/log.h"

struct health__file_watch {
    health_t *h; /* NULL once closing */
    health__file_watch_t *next;
    char *path, *dir, *base;
    uv_fs_event_t event;
    uv_timer_t debounce, interval;
    int open_handles;
    unsigned interval_ms;
    bool used; /* scratch for health__file_sync */
    struct file_read *reading;
    bool again;    /* changed while being read: read once more */
    char **warned; /* problems already logged, as logged */
    size_t n_warned;
};

typedef struct file_read {
    uv_work_t req;
    health__file_watch_t *watch; /* NULL: the watcher went away */
    char *path;
    char *text;
    size_t len;
    char *why; /* why it could not be read; NULL: text holds it */
} file_read_t;

typedef struct file_entry {
    bool is_address;
    conf_network_t addr;
    const char *name; /* data center, into the text */
    enum health_state state;
} file_entry_t;

static char *dup_or_die(const char *s)
{
    char *p = strdup(s);
    if (!p)
        fatalx("health: out of memory");
    return p;
}

/* ------------------------------------------------------------ reading (thread pool) */

/* The one way a status file is read, by the checks and by
 * health_status_files_check(): the daemon's own open, so a FIFO or a
 * device in place of the file cannot hang a pool thread (and the
 * shutdown, which waits for it). */
static char *status_file_read(const char *path, size_t *len, const char **why)
{
    return file_read_all(path, HEALTH__FILE_MAX, len, why);
}

static void read_work(uv_work_t *req)
{
    file_read_t *r = req->data;
    const char *why;
    r->text = status_file_read(r->path, &r->len, &why);
    if (!r->text)
        r->why = dup_or_die(why);
}

bool health_status_files_check(const conf_t *conf, const char *who, diag_t *d)
{
    bool ok = true;
    for (size_t i = 0; i < conf->n_health_checks; i++) {
        const conf_health_check_t *c = &conf->health_checks[i];
        if (c->type != CONF_CHECK_FILE || !c->file)
            continue;
        const char *why;
        size_t len;
        char *text = status_file_read(c->file, &len, &why);
        if (!text && errno != ENOENT) { /* not written yet is fine: no verdict */
            diag_error(d, c->conf_file, c->conf_line, 0,
                       "health check %s: cannot read the status file %s as user %s: %s",
                       c->name, c->file, who, why);
            ok = false;
        }
        free(text);
    }
    return ok;
}

/* ------------------------------------------------------------ parsing and applying */

typedef struct problems {
    char **msg;
    size_t n;
} problems_t;

static void problem(problems_t *p, const char *fmt, ...) LOG_PRINTF(2, 3);
static void problem(problems_t *p, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char **grown = realloc(p->msg, (p->n + 1) * sizeof(*grown));
    if (!grown)
        return; /* it will be found again on the next read */
    p->msg = grown;
    p->msg[p->n++] = dup_or_die(buf);
}

static void shown(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; *s && n + 1 < size; s++)
        out[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    out[n] = '\0';
}

/* Splits text into entries; any problem is added to *probs. The text is
 * cut up in place (entries point into it). */
static file_entry_t *parse(const char *path, char *text, size_t len, size_t *n_entries,
                           problems_t *probs)
{
    file_entry_t *entries = NULL;
    size_t n = 0;
    unsigned line = 0;
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        line++;
        char *cur = p;
        p = eol + 1;
        if (memchr(cur, '\0', (size_t)(eol - cur))) {
            problem(probs, "status file %s:%u: NUL byte", path, line);
            continue;
        }
        *eol = '\0';
        char *hash = strchr(cur, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL, *tok[3] = {NULL, NULL, NULL};
        int k = 0;
        for (char *w = strtok_r(cur, " \t\r\v\f", &save); w && k < 3;
             w = strtok_r(NULL, " \t\r\v\f", &save))
            tok[k++] = w;
        if (k == 0)
            continue;
        char text1[64];
        if (k != 2) {
            problem(probs, "status file %s:%u: expected \"NAME UP|DOWN\"", path, line);
            continue;
        }
        file_entry_t e;
        memset(&e, 0, sizeof(e));
        if (strcasecmp(tok[1], "up") == 0) {
            e.state = HEALTH_UP;
        } else if (strcasecmp(tok[1], "down") == 0) {
            e.state = HEALTH_DOWN;
        } else {
            shown(tok[1], text1, sizeof(text1));
            problem(probs, "status file %s:%u: bad state \"%s\" (expected UP or DOWN)", path, line,
                    text1);
            continue;
        }
        e.is_address = health__parse_address(tok[0], &e.addr);
        e.name = tok[0];
        file_entry_t *grown = realloc(entries, (n + 1) * sizeof(*grown));
        if (!grown)
            fatalx("health: out of memory");
        entries = grown;
        entries[n++] = e;
    }
    *n_entries = n;
    return entries;
}

static bool warned_before(const health__file_watch_t *w, const char *msg)
{
    for (size_t i = 0; i < w->n_warned; i++)
        if (strcmp(w->warned[i], msg) == 0)
            return true;
    return false;
}

/* Logs the problems not logged already and remembers this set, so a
 * problem that stays is logged once and one that comes back is logged
 * again. */
static void report(health__file_watch_t *w, problems_t *probs)
{
    for (size_t i = 0; i < probs->n; i++)
        if (!warned_before(w, probs->msg[i]))
            log_warnx("health: %s (states unchanged)", probs->msg[i]);
    if (probs->n == 0 && w->n_warned)
        log_info("health: status file %s is good again", w->path);
    for (size_t i = 0; i < w->n_warned; i++)
        free(w->warned[i]);
    free(w->warned);
    w->warned = probs->msg;
    w->n_warned = probs->n;
    probs->msg = NULL;
    probs->n = 0;
}

static void apply(health__file_watch_t *w, const file_entry_t *entries, size_t n)
{
    health_t *h = w->h;
    for (uint32_t id = 0; id < h->n_targets; id++) {
        health__target_t *t = h->targets[id];
        if (!t || t->status != HEALTH__ACTIVE || !t->has_check ||
            t->check.type != CONF_CHECK_FILE || !t->check.file ||
            strcmp(t->check.file, w->path) != 0)
            continue;
        const file_entry_t *by_addr = NULL, *by_dc = NULL;
        for (size_t i = 0; i < n; i++) {
            if (entries[i].is_address && health__same_address(&entries[i].addr, &t->addr))
                by_addr = &entries[i];
            else if (!entries[i].is_address && strcmp(entries[i].name, t->datacenter) == 0)
                by_dc = &entries[i];
        }
        const file_entry_t *e = by_addr ? by_addr : by_dc;
        char reason[512];
        if (e)
            snprintf(reason, sizeof(reason), "status file %s: %.64s %s", w->path, e->name,
                     e->state == HEALTH_DOWN ? "DOWN" : "UP");
        else
            snprintf(reason, sizeof(reason), "status file %s no longer lists it", w->path);
        health__file_state(t, e ? e->state : HEALTH_UNKNOWN, reason);
    }
    health__notify(h);
}

static void queue_read(health__file_watch_t *w);

static void read_done(uv_work_t *req, int status)
{
    file_read_t *r = req->data;
    health__file_watch_t *w = r->watch;
    if (w)
        w->reading = NULL;
    if (w && status == 0) {
        problems_t probs = {NULL, 0};
        if (r->why) {
            problem(&probs, "status file %s: cannot read: %s", w->path, r->why);
        } else {
            size_t n = 0;
            file_entry_t *entries = parse(w->path, r->text, r->len, &n, &probs);
            if (probs.n == 0)
                apply(w, entries, n);
            free(entries);
        }
        report(w, &probs);
        if (w->again) {
            w->again = false;
            queue_read(w);
        }
    }
    free(r->text);
    free(r->why);
    free(r->path);
    free(r);
}

static void queue_read(health__file_watch_t *w)
{
    if (!w->h)
        return;
    if (w->reading) {
        w->again = true;
        return;
    }
    file_read_t *r = calloc(1, sizeof(*r));
    if (!r)
        return; /* the interval timer will try again */
    r->req.data = r;
    r->watch = w;
    r->path = dup_or_die(w->path);
    if (uv_queue_work(w->h->loop, &r->req, read_work, read_done) != 0) {
        free(r->path);
        free(r);
        return;
    }
    w->reading = r;
}

/* ------------------------------------------------------------ watching */

static void debounced(uv_timer_t *timer)
{
    queue_read(timer->data);
}

static void interval_fired(uv_timer_t *timer)
{
    queue_read(timer->data);
}

static void dir_changed(uv_fs_event_t *event, const char *filename, int events, int status)
{
    health__file_watch_t *w = event->data;
    if (!w->h)
        return;
    /* No name (overflow, some platforms): assume it was ours. */
    if (status == 0 && filename && strcmp(filename, w->base) != 0)
        return;
    uv_timer_start(&w->debounce, debounced, HEALTH__FILE_DEBOUNCE_MS, 0);
}

static void watch_closed(uv_handle_t *handle)
{
    health__file_watch_t *w = handle->data;
    if (--w->open_handles > 0)
        return;
    for (size_t i = 0; i < w->n_warned; i++)
        free(w->warned[i]);
    free(w->warned);
    free(w->path);
    free(w->dir);
    free(w->base);
    free(w);
}

static health__file_watch_t *watch_new(health_t *h, const char *path)
{
    health__file_watch_t *w = calloc(1, sizeof(*w));
    if (!w)
        fatalx("health: out of memory");
    w->h = h;
    w->path = dup_or_die(path);
    const char *slash = strrchr(path, '/');
    if (!slash) {
        w->dir = dup_or_die(".");
        w->base = dup_or_die(path);
    } else {
        w->dir = slash == path ? dup_or_die("/") : strndup(path, (size_t)(slash - path));
        w->base = dup_or_die(slash + 1);
        if (!w->dir)
            fatalx("health: out of memory");
    }
    uv_fs_event_init(h->loop, &w->event);
    uv_timer_init(h->loop, &w->debounce);
    uv_timer_init(h->loop, &w->interval);
    w->event.data = w->debounce.data = w->interval.data = w;
    w->open_handles = 3;
    int rc = uv_fs_event_start(&w->event, dir_changed, w->dir, 0);
    if (rc < 0)
        log_warnx("health: cannot watch directory %s for %s: %s; re-reading it every "
                  "interval instead",
                  w->dir, w->base, uv_strerror(rc));
    w->next = h->watches;
    h->watches = w;
    return w;
}

static void watch_close(health__file_watch_t *w)
{
    w->h = NULL;
    if (w->reading) {
        /* The read finishes (or is cancelled) on its own and frees itself. */
        w->reading->watch = NULL;
        uv_cancel((uv_req_t *)&w->reading->req);
        w->reading = NULL;
    }
    uv_close((uv_handle_t *)&w->event, watch_closed);
    uv_close((uv_handle_t *)&w->debounce, watch_closed);
    uv_close((uv_handle_t *)&w->interval, watch_closed);
}

void health__file_sync(health_t *h)
{
    for (health__file_watch_t *w = h->watches; w; w = w->next) {
        w->used = false;
        w->interval_ms = 0;
    }
    for (uint32_t id = 0; id < h->n_targets; id++) {
        health__target_t *t = h->targets[id];
        if (!t || t->status != HEALTH__ACTIVE || !t->has_check ||
            t->check.type != CONF_CHECK_FILE || !t->check.file)
            continue;
        health__file_watch_t *w = h->watches;
        while (w && strcmp(w->path, t->check.file) != 0)
            w = w->next;
        if (!w)
            w = watch_new(h, t->check.file);
        w->used = true;
        unsigned iv = t->check.interval_ms ? t->check.interval_ms : CONF_DEFAULT_CHECK_INTERVAL_MS;
        if (!w->interval_ms || iv < w->interval_ms)
            w->interval_ms = iv;
    }
    health__file_watch_t **link = &h->watches;
    while (*link) {
        health__file_watch_t *w = *link;
        if (!w->used) {
            *link = w->next;
            watch_close(w);
            continue;
        }
        if (uv_timer_get_repeat(&w->interval) != w->interval_ms)
            uv_timer_start(&w->interval, interval_fired, w->interval_ms, w->interval_ms);
        /* New targets may use it: give them the file's word right away. */
        queue_read(w);
        link = &w->next;
    }
}

void health__file_stop(health_t *h)
{
    while (h->watches) {
        health__file_watch_t *w = h->watches;
        h->watches = w->next;
        watch_close(w);
    }
}
