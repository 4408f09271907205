/* Unit tests for src/stats: counting one query, summing the slots, names. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dns/wire.h"
#include "stats/stats.h"

/* The slots are one global table: every test starts from zero. */
static int reset(void **state)
{
    (void)state;
    memset(stats_slots, 0, sizeof(stats_slots));
    return 0;
}

static void count(unsigned slot, bool answered, uint8_t rcode, uint16_t qtype, bool tc, bool ecs)
{
    stats_query_t q = {
        .answered = answered, .truncated = tc, .ecs = ecs, .rcode = rcode, .qtype = qtype};
    stats_count(slot, &q);
}

static void test_qtype_of(void **state)
{
    (void)state;
    static const struct {
        uint16_t type;
        enum stats_qtype want;
    } cases[] = {
        {DNS_TYPE_A, STATS_QT_A},         {DNS_TYPE_AAAA, STATS_QT_AAAA},
        {DNS_TYPE_NS, STATS_QT_NS},       {DNS_TYPE_CNAME, STATS_QT_CNAME},
        {DNS_TYPE_SOA, STATS_QT_SOA},     {DNS_TYPE_PTR, STATS_QT_PTR},
        {DNS_TYPE_MX, STATS_QT_MX},       {DNS_TYPE_TXT, STATS_QT_TXT},
        {DNS_TYPE_SRV, STATS_QT_SRV},     {257, STATS_QT_CAA},
        {DNS_TYPE_HTTPS, STATS_QT_HTTPS}, {DNS_TYPE_ANY, STATS_QT_ANY},
        /* not named: other, at both ends of the small table and past it */
        {0, STATS_QT_OTHER},              {DNS_TYPE_SVCB, STATS_QT_OTHER},
        {DNS_TYPE_DS, STATS_QT_OTHER},    {DNS_TYPE_AXFR, STATS_QT_OTHER},
        {256, STATS_QT_OTHER},            {258, STATS_QT_OTHER},
        {65535, STATS_QT_OTHER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (stats_qtype_of(cases[i].type) != cases[i].want)
            fail_msg("type %u: expected class %d, got %d", cases[i].type, cases[i].want,
                     stats_qtype_of(cases[i].type));
    }
}

static void test_names(void **state)
{
    (void)state;
    static const char *const qtypes[STATS_QT_N] = {"other", "A",   "AAAA", "NS",  "CNAME",
                                                   "SOA",   "PTR", "MX",   "TXT", "SRV",
                                                   "CAA",   "HTTPS", "ANY"};
    for (unsigned t = 0; t < STATS_QT_N; t++)
        assert_string_equal(stats_qtype_name((enum stats_qtype)t), qtypes[t]);
    assert_string_equal(stats_qtype_name(STATS_QT_N), "?");
    assert_string_equal(stats_qtype_name((enum stats_qtype)1000), "?");

    static const char *const rcodes[] = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN",
        "YXRRSET", "NXRRSET", "NOTAUTH",  "NOTZONE",  "RCODE11", "RCODE12", "RCODE13",
        "RCODE14", "RCODE15", "BADVERS"};
    assert_int_equal(sizeof(rcodes) / sizeof(rcodes[0]), STATS_RCODES);
    for (unsigned r = 0; r < STATS_RCODES; r++)
        assert_string_equal(stats_rcode_name(r), rcodes[r]);
    assert_string_equal(stats_rcode_name(17), "?");
    assert_string_equal(stats_rcode_name(~0u), "?");
}

static void test_empty_sum(void **state)
{
    (void)state;
    stats_totals_t t;
    memset(&t, 0xA5, sizeof(t)); /* stats_sum() clears what it fills */
    stats_sum(false, &t);
    stats_totals_t zero;
    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(&t, &zero, sizeof(t));
    memset(&t, 0xA5, sizeof(t));
    stats_sum(true, &t);
    assert_memory_equal(&t, &zero, sizeof(t));
}

static void test_count_and_sum(void **state)
{
    (void)state;
    /* UDP workers 0 and 255 (the last UDP slot), TCP the slot after. */
    count(0, true, DNS_RCODE_NOERROR, DNS_TYPE_A, false, false);
    count(0, true, DNS_RCODE_NOERROR, DNS_TYPE_A, true, true);
    count(0, true, DNS_RCODE_NXDOMAIN, DNS_TYPE_AAAA, false, true);
    count(255, true, DNS_RCODE_REFUSED, DNS_TYPE_AXFR, false, false);
    count(255, true, DNS_RCODE_BADVERS, 257, false, false);
    count(255, false, DNS_RCODE_NOERROR, DNS_TYPE_A, true, true); /* dropped: only that */
    count(STATS_SLOTS - 1, true, DNS_RCODE_FORMERR, DNS_TYPE_TXT, true, false);
    count(STATS_SLOTS - 1, false, 0, 0, false, false);

    stats_totals_t udp, tcp;
    stats_sum(false, &udp);
    stats_sum(true, &tcp);
    /* queries counts every packet, dropped ones too; rcodes and types the
     * answered ones. */
    assert_int_equal(udp.queries, 6);
    assert_int_equal(udp.dropped, 1);
    assert_int_equal(udp.truncated, 1);
    assert_int_equal(udp.ecs, 2);
    assert_int_equal(udp.rcode[DNS_RCODE_NOERROR], 2);
    assert_int_equal(udp.rcode[DNS_RCODE_NXDOMAIN], 1);
    assert_int_equal(udp.rcode[DNS_RCODE_REFUSED], 1);
    assert_int_equal(udp.rcode[DNS_RCODE_BADVERS], 1);
    assert_int_equal(udp.rcode[DNS_RCODE_FORMERR], 0);
    assert_int_equal(udp.qtype[STATS_QT_A], 2);
    assert_int_equal(udp.qtype[STATS_QT_AAAA], 1);
    assert_int_equal(udp.qtype[STATS_QT_OTHER], 1);
    assert_int_equal(udp.qtype[STATS_QT_CAA], 1);
    assert_int_equal(udp.qtype[STATS_QT_TXT], 0);

    assert_int_equal(tcp.queries, 2);
    assert_int_equal(tcp.dropped, 1);
    assert_int_equal(tcp.truncated, 1);
    assert_int_equal(tcp.ecs, 0);
    assert_int_equal(tcp.rcode[DNS_RCODE_FORMERR], 1);
    assert_int_equal(tcp.qtype[STATS_QT_TXT], 1);
    uint64_t sum = 0;
    for (unsigned r = 0; r < STATS_RCODES; r++)
        sum += tcp.rcode[r];
    assert_int_equal(sum, 1);
}

/* An rcode past BADVERS counts as the last one, a slot past the table as
 * the last one (TCP's): out-of-range input never writes outside. */
static void test_out_of_range(void **state)
{
    (void)state;
    count(STATS_SLOTS, true, 200, DNS_TYPE_MX, false, false);
    count(~0u, true, DNS_RCODE_NOERROR, DNS_TYPE_NS, false, false);
    stats_totals_t udp, tcp;
    stats_sum(false, &udp);
    stats_sum(true, &tcp);
    assert_int_equal(udp.queries, 0);
    assert_int_equal(tcp.queries, 2);
    assert_int_equal(tcp.rcode[STATS_RCODES - 1], 1);
    assert_int_equal(tcp.rcode[DNS_RCODE_NOERROR], 1);
    assert_int_equal(tcp.qtype[STATS_QT_MX], 1);
    assert_int_equal(tcp.qtype[STATS_QT_NS], 1);
}

/* Counters are 64-bit: a worker near 2^32 answers goes on counting. */
static void test_wide_counters(void **state)
{
    (void)state;
    stats_slots[3].cell[0][STATS_QT_A] = UINT64_C(0xFFFFFFFF);
    stats_slots[4].cell[0][STATS_QT_A] = UINT64_C(0xFFFFFFFF);
    count(3, true, 0, DNS_TYPE_A, false, false);
    stats_totals_t udp;
    stats_sum(false, &udp);
    assert_int_equal(udp.queries, UINT64_C(0x1FFFFFFFF));
    assert_int_equal(udp.qtype[STATS_QT_A], UINT64_C(0x1FFFFFFFF));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qtype_of),
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup(test_empty_sum, reset),
        cmocka_unit_test_setup(test_count_and_sum, reset),
        cmocka_unit_test_setup(test_out_of_range, reset),
        cmocka_unit_test_setup(test_wide_counters, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
