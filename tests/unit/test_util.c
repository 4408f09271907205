/* Unit tests for src/util: diagnostics collection, log levels and the
 * log line's form on stderr (time stamp, or the journal's priority). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/diag.h"
#include "util/log.h"

static void test_diag_formats(void **state)
{
    (void)state;
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    diag_error(&d, "zones/a.zone", 12, 0, "no SOA record");
    diag_warn(&d, "etc/m.yaml", 3, 7, "deprecated key %s", "x");
    diag_error(&d, "zones/b.zone", 0, 0, "cannot open: %s", "No such file");
    diag_error(&d, NULL, 0, 0, "plain");
    assert_int_equal(d.count, 4);
    assert_int_equal(d.errors, 3);
    assert_int_equal(d.warnings, 1);
    assert_string_equal(d.messages[0], "zones/a.zone:12: no SOA record");
    assert_string_equal(d.messages[1], "etc/m.yaml:3:7: warning: deprecated key x");
    assert_string_equal(d.messages[2], "zones/b.zone: cannot open: No such file");
    assert_string_equal(d.messages[3], "plain");
    diag_free(&d);
    assert_int_equal(d.count, 0);
    assert_null(d.messages);
}

static void test_diag_many(void **state)
{
    (void)state;
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    for (unsigned i = 1; i <= 1000; i++)
        diag_warn(&d, "f", i, 0, "w%u", i);
    assert_int_equal(d.count, 1000);
    assert_string_equal(d.messages[999], "f:1000: warning: w1000");
    diag_free(&d);
}

static void test_diag_long_message(void **state)
{
    (void)state;
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    diag_error(&d, "f", 1, 0, "%s", big);
    /* cut, not overflowed */
    assert_true(strlen(d.messages[0]) < 1100);
    assert_memory_equal(d.messages[0], "f:1: xxx", 8);
    diag_free(&d);
}

static void test_log_levels(void **state)
{
    (void)state;
    assert_int_equal(log_level_parse("error"), LOG_LEVEL_ERR);
    assert_int_equal(log_level_parse("warning"), LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("info"), LOG_LEVEL_INFO);
    assert_int_equal(log_level_parse("debug"), LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("verbose"), -1);
    assert_int_equal(log_level_parse(""), -1);
    log_set_level(LOG_LEVEL_ERR);
    assert_int_equal(log_get_level(), LOG_LEVEL_ERR);
    log_info("not shown");
    log_set_level(LOG_LEVEL_INFO);
}

enum journal { J_UNSET, J_SAME, J_OTHER_INODE, J_OTHER_DEVICE, J_MALFORMED, J_EMPTY };

/* What log_warnx("hello 7") writes to stderr, stderr being a temp file and
 * JOURNAL_STREAM naming that file (J_SAME), something else, or nothing. */
static void log_capture(enum journal journal, char *out, size_t cap)
{
    char path[] = "/tmp/test_util.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    unsigned long long dev = st.st_dev, ino = st.st_ino;
    char v[64] = "";
    if (journal == J_SAME)
        snprintf(v, sizeof(v), "%llu:%llu", dev, ino);
    else if (journal == J_OTHER_INODE)
        snprintf(v, sizeof(v), "%llu:%llu", dev, ino + 1);
    else if (journal == J_OTHER_DEVICE)
        snprintf(v, sizeof(v), "%llu:%llu", dev + 1, ino);
    else if (journal == J_MALFORMED)
        snprintf(v, sizeof(v), "%llu:%llux", dev, ino);
    if (journal == J_UNSET)
        unsetenv("JOURNAL_STREAM");
    else
        setenv("JOURNAL_STREAM", v, 1);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    log_init("test", LOG_LEVEL_INFO, false);
    log_warnx("hello %d", 7);
    dup2(saved, STDERR_FILENO);
    close(saved);
    unsetenv("JOURNAL_STREAM");
    log_init("test", LOG_LEVEL_INFO, false);
    ssize_t n = pread(fd, out, cap - 1, 0);
    assert_true(n >= 0);
    out[n] = 0;
    close(fd);
}

static void expect_stamped(const char *line, const char *what)
{
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^([0-9]{4}-[0-9]{2}-[0-9]{2})T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                             "test: hello 7\n$",
                             REG_EXTENDED),
                     0);
    regmatch_t m[2];
    int rc = regexec(&re, line, 2, m, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("%s: expected \"YYYY-MM-DDTHH:MM:SS.mmmZ test: hello 7\", got \"%s\"", what,
                 line);
    /* the time is now, in UTC */
    char today[16], yesterday[16];
    time_t now = time(NULL), before = now - 60;
    strftime(today, sizeof(today), "%Y-%m-%d", gmtime(&now));
    strftime(yesterday, sizeof(yesterday), "%Y-%m-%d", gmtime(&before));
    if (strncmp(line, today, 10) != 0 && strncmp(line, yesterday, 10) != 0)
        fail_msg("%s: expected today's date (UTC) %s, got \"%s\"", what, today, line);
}

static void test_log_stamps(void **state)
{
    (void)state;
    char line[512];
    log_capture(J_UNSET, line, sizeof(line));
    expect_stamped(line, "no JOURNAL_STREAM");
    log_capture(J_SAME, line, sizeof(line));
    assert_string_equal(line, "<4>test: hello 7\n"); /* LOG_WARNING */
    /* set, but not our stderr: a terminal or file still wants the time */
    log_capture(J_OTHER_INODE, line, sizeof(line));
    expect_stamped(line, "JOURNAL_STREAM of another inode");
    log_capture(J_OTHER_DEVICE, line, sizeof(line));
    expect_stamped(line, "JOURNAL_STREAM of another device");
    log_capture(J_MALFORMED, line, sizeof(line));
    expect_stamped(line, "JOURNAL_STREAM malformed");
    log_capture(J_EMPTY, line, sizeof(line));
    expect_stamped(line, "JOURNAL_STREAM empty");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diag_formats),
        cmocka_unit_test(test_diag_many),
        cmocka_unit_test(test_diag_long_message),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_log_stamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
