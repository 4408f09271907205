/*
 * log: the daemon's one way to report what happens.
 *
 * Messages go to stderr (foreground) or syslog. On stderr each line starts
 * with the time (ISO 8601, UTC, milliseconds: "2026-12-08T03:15:26.123Z
 * meridiand: ..."), unless stderr is the systemd journal, which has the
 * time already: then it starts with the journal's "<N>" priority.
 * log_warn() appends strerror(errno), log_warnx() does not;
 * fatal()/fatalx() log and exit(1) and never return. Safe to call from any thread: each message is written
 * with a single write(2).
 */
#ifndef MERIDIAN_UTIL_LOG_H
#define MERIDIAN_UTIL_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_LEVEL_ERR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Also decides whether stderr is the journal (log_stderr_is_journal()). */
void log_init(const char *progname, enum log_level level, bool use_syslog);
/* Is stderr the systemd journal: JOURNAL_STREAM names its device and
 * inode (systemd.exec(5))? */
bool log_stderr_is_journal(void);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warning", "info", "debug"; returns -1 when unknown. */
int log_level_parse(const char *name);

void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_errx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_vmsg(enum log_level level, const char *fmt, va_list ap);
_Noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
