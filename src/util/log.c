#include "config.h"

#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_progname = "meridian";
static enum log_level log_level_max = LOG_LEVEL_INFO;
static bool log_syslog;
static bool log_journal; /* stderr is the journal: it stamps lines itself */

/* A decimal number up to stop; NULL when text does not start with one. */
static const char *log_number(const char *text, char stop, unsigned long long *n)
{
    if (*text < '0' || *text > '9')
        return NULL;
    char *end;
    errno = 0;
    *n = strtoull(text, &end, 10);
    return errno || *end != stop ? NULL : end;
}

bool log_stderr_is_journal(void)
{
    /* systemd.exec(5): JOURNAL_STREAM is "DEVICE:INODE" of the stream to
     * the journal. Being set is not enough: a process started from a unit
     * inherits it with its stderr sent elsewhere, so the numbers must be
     * those of our stderr. */
    const char *v = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!v || !(v = log_number(v, ':', &dev)) || !log_number(v + 1, 0, &ino))
        return false;
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *progname, enum log_level level, bool use_syslog)
{
    log_progname = progname;
    log_level_max = level;
    log_syslog = use_syslog;
    log_journal = log_stderr_is_journal();
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
    /* The journal stamps each line and reads a kernel-style "<N>"
     * priority in front (sd-daemon(3)); a terminal or a file gets the time,
     * in UTC with milliseconds. */
    char line[2048], stamp[40] = "";
    if (log_journal) {
        snprintf(stamp, sizeof(stamp), "<%d>", prio[level]);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t len = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(stamp + len, sizeof(stamp) - len, ".%03ldZ ", ts.tv_nsec / 1000000);
    }
    int n = snprintf(line, sizeof(line), "%s%s: %s\n", stamp, log_progname, msg);
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
