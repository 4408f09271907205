#include "config.h"

#include "stats/stats.h"

#include <string.h>

#include "dns/wire.h"


stats_slot_t stats_slots[STATS_SLOTS];

const uint8_t stats_qtype_small[256] = {
    [DNS_TYPE_A] = STATS_QT_A,
    [DNS_TYPE_AAAA] = STATS_QT_AAAA,
    [DNS_TYPE_NS] = STATS_QT_NS,
    [DNS_TYPE_CNAME] = STATS_QT_CNAME,
    [DNS_TYPE_SOA] = STATS_QT_SOA,
    [DNS_TYPE_PTR] = STATS_QT_PTR,
    [DNS_TYPE_MX] = STATS_QT_MX,
    [DNS_TYPE_TXT] = STATS_QT_TXT,
    [DNS_TYPE_SRV] = STATS_QT_SRV,
    [DNS_TYPE_HTTPS] = STATS_QT_HTTPS,
    [DNS_TYPE_ANY] = STATS_QT_ANY,
};
_Atomic uint64_t stats_reloads, stats_reload_failures;
stats_net_t stats_net;

const char *stats_qtype_name(enum stats_qtype t)
{
    static const char *const names[STATS_QT_N] = {"other", "A",   "AAAA", "NS",  "CNAME",
                                                  "SOA",   "PTR", "MX",   "TXT", "SRV",
                                                  "CAA",   "HTTPS", "ANY"};
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

static uint64_t stats_load(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void stats_add(stats_totals_t *out, const stats_slot_t *s)
{
    out->dropped += stats_load(&s->dropped);
    out->queries += stats_load(&s->dropped);
    out->truncated += stats_load(&s->truncated);
    out->ecs += stats_load(&s->ecs);
    for (unsigned r = 0; r < STATS_RCODES; r++) {
        for (unsigned t = 0; t < STATS_QT_N; t++) {
            uint64_t n = stats_load(&s->cell[r][t]);
            out->queries += n;
            out->rcode[r] += n;
            out->qtype[t] += n;
        }
    }
}

void stats_sum(bool tcp, stats_totals_t *out)
{
    memset(out, 0, sizeof(*out));
    if (tcp) {
        stats_add(out, &stats_slots[STATS_SLOTS - 1]);
        return;
    }
    for (unsigned i = 0; i < STATS_SLOTS - 1; i++)
        stats_add(out, &stats_slots[i]);
}
