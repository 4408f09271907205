/* Unit tests for src/util: diagnostics collection, logging (the line's form on stderr:
 * time stamp, or the journal's priority), file opens and reads. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <regex.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/diag.h"
#include "util/file.h"
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

/* Runs fn with stderr sent to a temporary file; returns what it wrote
 * (static buffer). */
static const char *capture_stderr(void (*fn)(void))
{
    static char out[8192];
    char path[] = "/tmp/test_util.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    fn();
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    static char raw[8192];
    ssize_t n = pread(fd, raw, sizeof(raw) - 1, 0);
    assert_true(n >= 0);
    raw[n] = 0;
    close(fd);
    /* Each line opens with its time ("2026-12-08T03:15:26.123Z "), which
     * test_log_stamps checks: the lines are compared without it. */
    char *o = out;
    for (const char *line = raw; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
        if (len > 25 && line[4] == '-' && line[10] == 'T' && line[23] == 'Z' && line[24] == ' ') {
            line += 25;
            len -= 25;
        }
        memcpy(o, line, len);
        o += len;
        line += len;
    }
    *o = 0;
    return out;
}

static void vmsg(enum log_level level, const char *fmt, ...) LOG_PRINTF(2, 3);
static void vmsg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

static void log_each_level(void)
{
    log_init("prog", LOG_LEVEL_DEBUG, false);
    log_errx("e %d", 1);
    log_warnx("w %s", "x");
    errno = ENOENT;
    log_warn("open %s", "f");
    log_info("i");
    log_debug("d");
    vmsg(LOG_LEVEL_WARN, "v %u", 7u);
    log_set_level(LOG_LEVEL_WARN);
    log_info("hidden info");
    log_debug("hidden debug");
    vmsg(LOG_LEVEL_INFO, "hidden vmsg");
    errno = EACCES;
    log_warn("shown");
    log_set_level(LOG_LEVEL_ERR);
    log_warnx("hidden warning");
    log_errx("last");
    log_init("meridian", LOG_LEVEL_INFO, false);
}

static void test_log_lines(void **state)
{
    (void)state;
    const char *got = capture_stderr(log_each_level);
    assert_string_equal(got, "prog: e 1\n"
                             "prog: w x\n"
                             "prog: open f: No such file or directory\n"
                             "prog: i\n"
                             "prog: d\n"
                             "prog: v 7\n"
                             "prog: shown: Permission denied\n"
                             "prog: last\n");
}

static void log_long(void)
{
    static char big[4000];
    memset(big, 'y', sizeof(big) - 1);
    log_init("prog", LOG_LEVEL_INFO, false);
    log_info("%s", big);
    errno = EPERM;
    log_warn("%s", big);
    log_info("after");
    log_init("meridian", LOG_LEVEL_INFO, false);
}

/* A message longer than the line buffer is cut, still one line ending in
 * a newline; what follows starts a line of its own. */
static void test_log_long(void **state)
{
    (void)state;
    const char *got = capture_stderr(log_long);
    const char *nl = strchr(got, '\n');
    assert_non_null(nl);
    size_t first = (size_t)(nl - got) + 1;
    assert_true(first > 1000 && first <= 2048);
    assert_memory_equal(got, "prog: yyy", 9);
    const char *second = nl + 1;
    nl = strchr(second, '\n');
    assert_non_null(nl);
    assert_memory_equal(second, "prog: yyy", 9);
    assert_string_equal(nl + 1, "prog: after\n");
}

static void write_bytes(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_file_read_all(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_util.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/f", dir);
    const char *why = NULL;
    size_t len = 12345;

    /* bytes as they are, a NUL inside counted, one added after */
    write_bytes(path, "ab\0cd\n", 6);
    char *text = file_read_all(path, 0, &len, &why);
    assert_non_null(text);
    assert_int_equal(len, 6);
    assert_memory_equal(text, "ab\0cd\n", 7);
    free(text);
    /* at the limit: read; one byte over: refused */
    text = file_read_all(path, 6, &len, &why);
    assert_non_null(text);
    free(text);
    assert_null(file_read_all(path, 5, &len, &why));
    assert_string_equal(why, "6 bytes: larger than the limit of 5");
    /* empty */
    write_bytes(path, "", 0);
    text = file_read_all(path, 1, &len, &why);
    assert_non_null(text);
    assert_int_equal(len, 0);
    assert_int_equal(text[0], 0);
    free(text);
    /* larger than the first guess of a buffer, several reads */
    static char big[100000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    write_bytes(path, big, sizeof(big));
    text = file_read_all(path, sizeof(big), &len, &why);
    assert_non_null(text);
    assert_int_equal(len, sizeof(big));
    assert_memory_equal(text, big, sizeof(big));
    assert_int_equal(text[len], 0);
    free(text);
    assert_null(file_read_all(path, sizeof(big) - 1, &len, &why));
    assert_string_equal(why, "100000 bytes: larger than the limit of 99999");
    /* not there; a directory */
    unlink(path);
    assert_null(file_read_all(path, 0, &len, &why));
    assert_string_equal(why, strerror(ENOENT));
    why = NULL;
    assert_null(file_read_all(dir, 0, &len, &why));
    assert_string_equal(why, "not a regular file (a directory)");
    assert_int_equal(rmdir(dir), 0);
}

/* A FIFO with no writer: before file_open, the open itself waited for a
 * writer forever. Now it is refused at once, as are a directory and a
 * device; a file over the limit is refused without being read. */
static void test_file_not_regular(void **state)
{
    (void)state;
    char dir[] = "/tmp/meridian-test-file.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char fifo[64], big[64], small[64];
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    snprintf(big, sizeof(big), "%s/big", dir);
    snprintf(small, sizeof(small), "%s/small", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);

    const char *why = NULL;
    size_t len = 0;
    alarm(5); /* a blocking open fails the test instead of hanging it */
    time_t start = time(NULL);
    assert_int_equal(file_open(fifo, &why), -1);
    assert_int_equal(errno, EINVAL);
    assert_string_equal(why, "not a regular file (a FIFO)");
    assert_null(file_read_all(fifo, 0, &len, &why));
    assert_string_equal(why, "not a regular file (a FIFO)");
    assert_true(time(NULL) - start < 2);
    assert_null(file_read_all(dir, 0, &len, &why));
    assert_string_equal(why, "not a regular file (a directory)");
    assert_null(file_read_all("/dev/zero", 0, &len, &why));
    assert_string_equal(why, "not a regular file (a character device)");
    assert_null(file_read_all("/dev/null", 0, &len, &why));
    assert_string_equal(why, "not a regular file (a character device)");
    assert_null(file_read_all(small + 1, 0, &len, &why)); /* no such file */
    assert_int_equal(errno, ENOENT);

    int fd = open(big, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)1 << 31), 0); /* sparse: no disk used */
    close(fd);
    assert_null(file_read_all(big, 1000, &len, &why));
    assert_int_equal(errno, EFBIG);
    assert_string_equal(why, "2147483648 bytes: larger than the limit of 1000");

    FILE *f = fopen(small, "w");
    assert_non_null(f);
    fputs("hello", f);
    fclose(f);
    char *text = file_read_all(small, 5, &len, &why);
    assert_non_null(text);
    assert_int_equal(len, 5);
    assert_string_equal(text, "hello");
    free(text);
    assert_null(file_read_all(small, 4, &len, &why));
    assert_string_equal(why, "5 bytes: larger than the limit of 4");
    /* the descriptor handed out is a blocking one */
    fd = file_open(small, &why);
    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);

    alarm(0);
    unlink(fifo);
    unlink(big);
    unlink(small);
    rmdir(dir);
}

static void test_file_dirname(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"/var/lib/meridian/state", "/var/lib/meridian"}, {"state", "."}, {"/state", "/"},
        {"a/b", "a"}, {"./x", "."}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dir = file_dirname(cases[i][0]);
        assert_string_equal(dir, cases[i][1]);
        free(dir);
    }
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
        cmocka_unit_test(test_log_lines),
        cmocka_unit_test(test_log_long),
        cmocka_unit_test(test_file_read_all),
        cmocka_unit_test(test_file_not_regular),
        cmocka_unit_test(test_file_dirname),
        cmocka_unit_test(test_log_stamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
