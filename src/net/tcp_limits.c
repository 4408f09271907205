/*
 * Limits of the TCP server: the descriptor budget and the count of
 * connections per source.
 *
 * Sources: one table of counters keyed by an IPv4 address, an IPv6
 * address or an IPv6 /64, with open addressing and linear probing. A
 * connection holds at most two keys (its address and, for IPv6, its /64),
 * so a table of four slots per connection is never more than half full
 * and a probe always ends at an empty slot. Deletion shifts the entries
 * behind back into place, so there are no tombstones and the table never
 * degrades. The hash is keyed with a random seed drawn at creation: a
 * client choosing its addresses cannot pile its keys onto one chain.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "net/net_internal.h"
#include "util/log.h"

enum { SOURCE_EMPTY = 0, SOURCE_V4, SOURCE_V6, SOURCE_V6_64 };

typedef struct tcp_source {
    uint8_t kind; /* SOURCE_EMPTY: the slot is free */
    uint8_t addr[16];
    uint32_t count;
} tcp_source_t;

struct net__tcp_sources {
    size_t mask; /* slots - 1, slots a power of two */
    uint64_t seed;
    unsigned per_address, per_64;
    tcp_source_t slot[];
};

struct net__tcp_sources *net__tcp_sources_new(unsigned max_conns, unsigned per_address,
                                              unsigned per_64)
{
    size_t slots = 16;
    while (slots < (size_t)max_conns * 4)
        slots *= 2;
    struct net__tcp_sources *t = calloc(1, sizeof(*t) + slots * sizeof(t->slot[0]));
    if (t == NULL)
        return NULL;
    t->mask = slots - 1;
    t->per_address = per_address;
    t->per_64 = per_64;
    if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != sizeof(t->seed))
        t->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
    return t;
}

void net__tcp_sources_free(struct net__tcp_sources *t) { free(t); }

/* The key of sa (its address, or with as_64 its IPv6 /64); false for a
 * family that has none. An IPv4-mapped IPv6 address counts as IPv4. */
static bool source_key(const struct sockaddr *sa, bool as_64, tcp_source_t *key)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    memset(key, 0, sizeof(*key));
    if (sa->sa_family == AF_INET) {
        if (as_64)
            return false;
        key->kind = SOURCE_V4;
        memcpy(key->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family != AF_INET6)
        return false;
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    if (memcmp(a, mapped, sizeof(mapped)) == 0) {
        if (as_64)
            return false;
        key->kind = SOURCE_V4;
        memcpy(key->addr, a + 12, 4);
        return true;
    }
    key->kind = as_64 ? SOURCE_V6_64 : SOURCE_V6;
    memcpy(key->addr, a, as_64 ? 8 : 16);
    return true;
}

static size_t source_hash(const struct net__tcp_sources *t, const tcp_source_t *key)
{
    uint64_t h = t->seed ^ key->kind;
    for (int i = 0; i < 16; i += 8) {
        uint64_t w;
        memcpy(&w, key->addr + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15u;
        h ^= h >> 31;
    }
    return (size_t)h & t->mask;
}

static bool source_same(const tcp_source_t *a, const tcp_source_t *b)
{
    return a->kind == b->kind && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* The slot holding key, or the empty slot where it would go. */
static tcp_source_t *source_find(struct net__tcp_sources *t, const tcp_source_t *key)
{
    size_t i = source_hash(t, key);
    while (t->slot[i].kind != SOURCE_EMPTY && !source_same(&t->slot[i], key))
        i = (i + 1) & t->mask;
    return &t->slot[i];
}

static void source_remove(struct net__tcp_sources *t, tcp_source_t *s)
{
    size_t hole = (size_t)(s - t->slot);
    size_t i = hole;
    /* An empty slot reads as a count of 0: acquire relies on it. */
    t->slot[hole] = (tcp_source_t){.kind = SOURCE_EMPTY};
    /* Move back every entry of the run behind the hole whose home is not
     * between the hole and itself, so that lookups still reach it. */
    for (;;) {
        i = (i + 1) & t->mask;
        if (t->slot[i].kind == SOURCE_EMPTY)
            return;
        size_t home = source_hash(t, &t->slot[i]);
        bool stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
        if (stays)
            continue;
        t->slot[hole] = t->slot[i];
        t->slot[i] = (tcp_source_t){.kind = SOURCE_EMPTY};
        hole = i;
    }
}

int net__tcp_sources_acquire(struct net__tcp_sources *t, const struct sockaddr *sa,
                             bool *prefix_full)
{
    tcp_source_t key_addr, key_64;
    bool has_addr = source_key(sa, false, &key_addr);
    bool has_64 = source_key(sa, true, &key_64);
    tcp_source_t *a = has_addr ? source_find(t, &key_addr) : NULL;
    tcp_source_t *p = has_64 ? source_find(t, &key_64) : NULL;

    *prefix_full = false;
    if (a != NULL && t->per_address != 0 && a->count >= t->per_address)
        return -EUSERS;
    if (p != NULL && t->per_64 != 0 && p->count >= t->per_64) {
        *prefix_full = true;
        return -EUSERS;
    }
    bool p_new = p != NULL && p->kind == SOURCE_EMPTY;
    if (a != NULL) {
        if (a->kind == SOURCE_EMPTY)
            *a = key_addr;
        a->count++;
    }
    if (p != NULL) {
        /* Filling a moves nothing, but it may have taken the empty slot
         * the /64 was to go into: look again. */
        if (p_new)
            p = source_find(t, &key_64);
        if (p->kind == SOURCE_EMPTY)
            *p = key_64;
        p->count++;
    }
    return 0;
}

static void source_drop(struct net__tcp_sources *t, const tcp_source_t *key)
{
    tcp_source_t *s = source_find(t, key);
    if (s->kind == SOURCE_EMPTY)
        return; /* not held: a caller's mistake, nothing to undo */
    if (--s->count == 0)
        source_remove(t, s);
}

void net__tcp_sources_release(struct net__tcp_sources *t, const struct sockaddr *sa)
{
    tcp_source_t key;
    if (source_key(sa, false, &key))
        source_drop(t, &key);
    if (source_key(sa, true, &key))
        source_drop(t, &key);
}

/* ------------------------------------------------------------ descriptors */

unsigned long net_raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        log_warn("getrlimit(RLIMIT_NOFILE)");
        return 0;
    }
    rlim_t before = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            /* An unlimited hard limit is above what the kernel allows
             * (fs.nr_open): ask for that instead. */
            rl.rlim_cur = 1u << 20;
            if (rl.rlim_cur < before || setrlimit(RLIMIT_NOFILE, &rl) < 0) {
                log_warn("cannot raise the descriptor limit from %llu",
                         (unsigned long long)before);
                rl.rlim_cur = before;
            }
        }
        if (rl.rlim_cur != before)
            log_info("descriptor limit (RLIMIT_NOFILE) raised from %llu to %llu",
                     (unsigned long long)before, (unsigned long long)rl.rlim_cur);
    }
    return rl.rlim_cur > (rlim_t)1 << 30 ? 1ul << 30 : (unsigned long)rl.rlim_cur;
}

unsigned net__fds_open(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n > 0 ? n - 1 : 0; /* not the directory's own */
}

int net_tcp_cap_fits(unsigned cap, unsigned reserve, unsigned sockets, unsigned long *room,
                     unsigned long *limit)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max == RLIM_INFINITY)
        return 0;
    *limit = (unsigned long)rl.rlim_max;
    /* as net__tcp_fit_connections(): one spare, one being refused */
    unsigned long kept = (unsigned long)net__fds_open() + sockets + reserve + 2;
    *room = *limit > kept ? *limit - kept : 0;
    return cap <= *room ? 0 : -EMFILE;
}

int net__tcp_fit_connections(net_server_t *srv, bool explicit, unsigned open_now)
{
    unsigned long limit = srv->fd_limit;
    /* One more for the spare descriptor, one for a connection being
     * refused at the cap. */
    unsigned long kept = (unsigned long)open_now + srv->fd_reserve + 2;
    unsigned long room = limit > kept ? limit - kept : 0;

    if (srv->tcp_max_connections <= room)
        return 0;
    if (explicit || room == 0) {
        log_warnx("tcp: tcp_max_connections %u does not fit the descriptor limit %lu "
                  "(RLIMIT_NOFILE): %u descriptors are open and %u kept for health checks, "
                  "the control socket and reloads, so at most %lu connections fit; raise "
                  "the limit (LimitNOFILE=, ulimit -n) or lower tcp_max_connections",
                  srv->tcp_max_connections, limit, open_now, srv->fd_reserve, room);
        return -EMFILE;
    }
    log_warnx("tcp: at most %lu connections, not the default %u: the descriptor limit is %lu "
              "(RLIMIT_NOFILE), %u descriptors are open and %u kept for health checks, the "
              "control socket and reloads",
              room, srv->tcp_max_connections, limit, open_now, srv->fd_reserve);
    srv->tcp_max_connections = (unsigned)room;
    return 0;
}
