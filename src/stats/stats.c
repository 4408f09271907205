#include "config.h"

#include "stats/stats.h"

#include <string.h>


stats_slot_t stats_slots[STATS_SLOTS];
_Atomic uint64_t stats_reloads, stats_reload_failures;

const char *stats_qtype_name(enum stats_qtype t)
{
    static const char *const names[STATS_QT_N] = {"A",   "AAAA", "NS",  "CNAME", "SOA",
                                                  "PTR", "MX",   "TXT", "SRV",   "CAA",
                                                  "HTTPS", "ANY", "other"};
    return t < STATS_QT_N ? names[t] : "?";
}

const char *stats_rcode_name(unsigned rcode)
{
    static const char *const names[STATS_RCODES] = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
        "YXRRSET", "NXRRSET", "NOTAUTH",  "NOTZONE",  "RCODE11", "RCODE12", "RCODE13",
        "RCODE14", "RCODE15", "BADVERS"};
    return rcode < STATS_RCODES ? names[rcode] : "?";
}

static void stats_add(stats_slot_t *out, const stats_slot_t *s)
{
#define STATS_ADD(field)                                                                           \
    atomic_store_explicit(&out->field,                                                             \
                          atomic_load_explicit(&out->field, memory_order_relaxed) +               \
                              atomic_load_explicit(&s->field, memory_order_relaxed),              \
                          memory_order_relaxed)
    STATS_ADD(queries);
    STATS_ADD(dropped);
    STATS_ADD(truncated);
    STATS_ADD(ecs);
    for (unsigned i = 0; i < STATS_RCODES; i++)
        STATS_ADD(rcode[i]);
    for (unsigned i = 0; i < STATS_QT_N; i++)
        STATS_ADD(qtype[i]);
#undef STATS_ADD
}

void stats_sum(bool tcp, stats_slot_t *out)
{
    memset(out, 0, sizeof(*out));
    if (tcp) {
        stats_add(out, &stats_slots[STATS_SLOTS - 1]);
        return;
    }
    for (unsigned i = 0; i < STATS_SLOTS - 1; i++)
        stats_add(out, &stats_slots[i]);
}
