/* Unit tests for src/util: diagnostics collection, log levels, file reads. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diag_formats),
        cmocka_unit_test(test_diag_many),
        cmocka_unit_test(test_diag_long_message),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_file_not_regular),
        cmocka_unit_test(test_file_dirname),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
