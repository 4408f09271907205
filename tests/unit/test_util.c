/* Unit tests for src/util: diagnostics collection and log levels. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diag_formats),
        cmocka_unit_test(test_diag_many),
        cmocka_unit_test(test_diag_long_message),
        cmocka_unit_test(test_log_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
