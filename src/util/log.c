#include "config.h"

#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static const char *log_progname = "meridian";
static enum log_level log_level_max = LOG_LEVEL_INFO;
static bool log_syslog;

void log_init(const char *progname, enum log_level level, bool use_syslog)
{
    log_progname = progname;
    log_level_max = level;
    log_syslog = use_syslog;
    if (use_syslog)
        openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level) { log_level_max = level; }

enum log_level log_get_level(void) { return log_level_max; }

int log_level_parse(const char *name)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static void log_emit(enum log_level level, const char *msg)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    if (log_syslog) {
        syslog(prio[level], "%s", msg);
        return;
    }
    char line[2048];
    int n = snprintf(line, sizeof(line), "%s: %s\n", log_progname, msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    /* One write per message keeps lines from different threads whole. */
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    if (level > log_level_max)
        return;
    char msg[1800];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    log_emit(level, msg);
}

static void log_with_errno(enum log_level level, int err, const char *fmt, va_list ap)
{
    if (level > log_level_max)
        return;
    char msg[1800];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n >= 0 && (size_t)n < sizeof(msg))
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
    log_emit(level, msg);
}

void log_warn(const char *fmt, ...)
{
    int err = errno;
    va_list ap;
    va_start(ap, fmt);
    log_with_errno(LOG_LEVEL_WARN, err, fmt, ap);
    va_end(ap);
}

#define LOG_DEFINE(fn, level)                                                                      \
    void fn(const char *fmt, ...)                                                                  \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_vmsg(level, fmt, ap);                                                                  \
        va_end(ap);                                                                                \
    }

LOG_DEFINE(log_warnx, LOG_LEVEL_WARN)
LOG_DEFINE(log_info, LOG_LEVEL_INFO)
LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG)
LOG_DEFINE(log_errx, LOG_LEVEL_ERR)

void fatal(const char *fmt, ...)
{
    int err = errno;
    va_list ap;
    va_start(ap, fmt);
    log_with_errno(LOG_LEVEL_ERR, err, fmt, ap);
    va_end(ap);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_ERR, fmt, ap);
    va_end(ap);
    exit(1);
}
