#include "config.h"

#include "query/query.h"

#include <assert.h>
#include <string.h>

#include <netinet/in.h>

#include "dns/wire.h"
#include "query/query_internal.h"
#include "query/service.h"

typedef struct answer {
    dns_writer_t w;
    int ede;           /* Extended DNS Error INFO-CODE for the OPT, or EDE_NONE */
    const dns_query_t *q;
    const zone_db_t *db;
    const query_config_t *cfg;
    const struct sockaddr *client;
    uint8_t ecs_scope; /* SCOPE PREFIX-LENGTH to echo (0 unless a service decided) */
    unsigned slot;     /* the caller's stats slot */
    bool truncated;
    /* The one RRset whose targets' addresses go into the additional
     * section (an answer has at most one: its last step's, or the
     * referral's NS), the node holding it and the owner it was written
     * under (NULL: the question): an SVCB "." target is that name. The
     * owner is copied: a DNAME's synthesized name lives in answer_chain()'s
     * frame only. */
    const zone_rrset_t *additional;
    const zone_node_t *additional_node;
    const uint8_t *additional_owner;
    uint8_t additional_owner_buf[DNS_NAME_MAX];
} answer_t;

enum { SECTION_ANSWER = 0, SECTION_AUTHORITY = 1, SECTION_ADDITIONAL = 2 };
enum { EDE_NONE = -1 };

/* REFUSED, with the Extended DNS Error that says why (RFC 8914). */
static void refuse(answer_t *a, int ede)
{
    dns_writer_set_rcode(&a->w, DNS_RCODE_REFUSED);
    a->ede = ede;
}

/* Writes the RDATA of one record, compressing names where RFC 1035 allows. */
static int put_rdata(dns_writer_t *w, uint16_t type, const uint8_t *rd, uint16_t rdlen)
{
    switch (type) {
    case DNS_TYPE_NS:
    case DNS_TYPE_CNAME:
    case DNS_TYPE_PTR:
        return dns_writer_name(w, rd);
    case DNS_TYPE_MX:
        if (dns_writer_bytes(w, rd, 2) < 0)
            return -1;
        return dns_writer_name(w, rd + 2);
    case DNS_TYPE_SOA: {
        size_t m = dns_name_len(rd);
        size_t r = dns_name_len(rd + m);
        if (dns_writer_name(w, rd) < 0 || dns_writer_name(w, rd + m) < 0)
            return -1;
        return dns_writer_bytes(w, rd + m + r, 20);
    }
    default:
        return dns_writer_bytes(w, rd, rdlen);
    }
}

/* Writes a whole RRset record by record, or nothing: owner (NULL: a
 * pointer to the question) and RDATA names compressed. */
static int put_rrset_records(answer_t *a, int section, const uint8_t *owner,
                             const zone_rrset_t *set)
{
    dns_writer_t *w = &a->w;
    size_t save_len = w->len;
    unsigned save_comp = w->ncomp;
    const uint8_t *rd = set->rdata;
    for (unsigned i = 0; i < set->count; i++) {
        uint16_t rdlen = dns_get16(rd);
        int rc = owner ? dns_writer_name(w, owner) : dns_writer_bytes(w, "\xC0\x0C", 2);
        if (rc < 0 || w->len + 10 > w->cap)
            goto fail;
        uint8_t *hdr = w->buf + w->len;
        dns_put16(hdr, set->type);
        dns_put16(hdr + 2, DNS_CLASS_IN);
        dns_put32(hdr + 4, set->ttl);
        w->len += 10;
        size_t start = w->len;
        if (put_rdata(w, set->type, rd + 2, rdlen) < 0)
            goto fail;
        dns_put16(w->buf + start - 2, (uint16_t)(w->len - start));
        rd += 2u + rdlen;
    }
    dns_writer_add_count(w, section, set->count);
    return 0;
fail:
    dns_writer_rewind(w, save_len, save_comp);
    return -1;
}

/* Writes a whole RRset or nothing. owner NULL means the query name; the
 * RRset's records as rendered at load then serve as they are. */
static inline int put_rrset(answer_t *a, int section, const uint8_t *owner,
                            const zone_rrset_t *set)
{
    if (owner || !set->wire)
        return put_rrset_records(a, section, owner, set);
    if (dns_writer_bytes(&a->w, set->wire, set->wire_len) < 0)
        return -1;
    dns_writer_add_count(&a->w, section, set->count);
    return 0;
}

/* Answer and authority must be complete: what does not fit sets TC. */
static inline bool put_required(answer_t *a, int section, const uint8_t *owner,
                         const zone_rrset_t *set)
{
    if (a->truncated)
        return false;
    if (put_rrset(a, section, owner, set) < 0) {
        a->truncated = true;
        return false;
    }
    return true;
}

/* Notes that set (at node, written under owner) wants its targets'
 * addresses in the additional section. */
static inline void note_additional(answer_t *a, const zone_rrset_t *set, const zone_node_t *node,
                                   const uint8_t *owner)
{
    assert(!a->additional); /* one per answer: see answer_t */
    if (set->n_additional) {
        a->additional = set;
        a->additional_node = node;
        a->additional_owner = NULL;
        if (owner) {
            memcpy(a->additional_owner_buf, owner, dns_name_len(owner));
            a->additional_owner = a->additional_owner_buf;
        }
    }
}

/* Writes the addresses note_additional() asked for, every one when they
 * fit: what is left out of a referral's in-domain glue sets TC (RFC 9471
 * 3); the rest is optional (RFC 1034 4.3.2 step 6, RFC 9460 4.1) and is
 * left out silently. Out of line: most answers have none, see below. */
static __attribute__((noinline)) void put_additional_records(answer_t *a)
{
    const zone_rrset_t *set = a->additional;
    for (unsigned k = 0; k < set->n_additional; k++) {
        const zone_node_t *n = set->additional[k];
        const uint8_t *owner = n == a->additional_node ? a->additional_owner : n->name;
        static const uint16_t types[] = {DNS_TYPE_A, DNS_TYPE_AAAA};
        for (int t = 0; t < 2; t++) {
            const zone_rrset_t *addr = zone_node_rrset(n, types[t]);
            if (addr && put_rrset(a, SECTION_ADDITIONAL, owner, addr) < 0) {
                if (k < set->n_glue)
                    a->truncated = true;
                return;
            }
        }
    }
}

static inline void put_additional(answer_t *a)
{
    if (__builtin_expect(a->additional != NULL, 0) && !a->truncated)
        put_additional_records(a);
}

/* Where zone's apex name stands in the question (as a compression
 * target), or 0 when the question is not in that zone. */
static unsigned question_apex(const answer_t *a, const zone_t *zone)
{
    const dns_query_t *q = a->q;
    const zone_node_t *apex = zone->apex;
    if (apex->labels > q->qname_labels)
        return 0;
    unsigned off = q->qname_offs[q->qname_labels - apex->labels];
    /* The name as sent, as the fused path has no lower-cased copy. */
    if ((size_t)q->qname_len - off != apex->name_len ||
        !dns_words_equal_lower(q->qname + off, apex->key, apex->name_len))
        return 0;
    return DNS_HEADER_SIZE + off;
}

/* The SOA of a negative answer (RFC 2308). Its owner, and MNAME and RNAME
 * where they end in the apex, point at the apex inside the question: no
 * compression search, which would cost more than the rest of the answer. */
static void put_negative(answer_t *a, const zone_t *zone)
{
    const zone_rrset_t *soa = &zone->negative_soa;
    unsigned at = question_apex(a, zone);
    unsigned pm = zone->soa_apex_at[0], pr = zone->soa_apex_at[1];
    if (a->truncated || at == 0 || at >= 0x4000 || pm == ZONE_SOA_NO_APEX ||
        pr == ZONE_SOA_NO_APEX) {
        put_required(a, SECTION_AUTHORITY, zone->apex->name, soa);
        return;
    }
    dns_writer_t *w = &a->w;
    const uint8_t *mname = soa->rdata + 2;
    const uint8_t *rname = mname + dns_name_len(mname);
    const uint8_t *numbers = rname + dns_name_len(rname);
    size_t rdlen = pm + 2u + pr + 2u + 20u;
    if (w->len + 12 + rdlen > w->cap) {
        a->truncated = true;
        return;
    }
    uint8_t *p = w->buf + w->len;
    uint16_t ptr = (uint16_t)(0xC000u | at);
    dns_put16(p, ptr);
    dns_put16(p + 2, DNS_TYPE_SOA);
    dns_put16(p + 4, DNS_CLASS_IN);
    dns_put32(p + 6, soa->ttl);
    dns_put16(p + 10, (uint16_t)rdlen);
    p += 12;
    memcpy(p, mname, pm);
    dns_put16(p + pm, ptr);
    p += pm + 2;
    memcpy(p, rname, pr);
    dns_put16(p + pr, ptr);
    memcpy(p + pr + 2, numbers, 20);
    w->len += 12 + rdlen;
    dns_writer_add_count(w, SECTION_AUTHORITY, 1);
}

static void put_referral(answer_t *a, const zone_node_t *cut)
{
    const zone_rrset_t *ns = zone_node_rrset(cut, DNS_TYPE_NS);
    if (ns && put_required(a, SECTION_AUTHORITY, cut->name, ns))
        note_additional(a, ns, cut, cut->name);
}

/* Replaces the suffix owned by the DNAME at cut with its target. Returns the
 * new name's length, or -1 when it would exceed 255 bytes (YXDOMAIN). */
static int dname_substitute(const uint8_t *name, size_t len, const zone_node_t *cut,
                            const zone_rrset_t *dname, uint8_t *out)
{
    size_t prefix = len - cut->name_len;
    const uint8_t *target = dname->rdata + 2;
    size_t tlen = dns_name_len(target);
    if (prefix + tlen > DNS_NAME_MAX)
        return -1;
    memcpy(out, name, prefix);
    memcpy(out + prefix, target, tlen);
    return (int)(prefix + tlen);
}

static const zone_rrset_t *any_choice(const zone_node_t *node)
{
    /* RFC 8482: one RRset stands for all of them; the CNAME if there is one
     * (it is the only data), else the first by type number. */
    const zone_rrset_t *cname = zone_node_rrset(node, DNS_TYPE_CNAME);
    if (cname)
        return cname;
    return node->n_rrsets ? &node->rrsets[0] : NULL;
}

/* Writes the served records of a pool (rr_len bytes each, their health
 * targets in targets) starting at first and wrapping, so successive
 * queries see the pool rotated; ttl replaces the pre-rendered one when it
 * differs. owner NULL: the query name (the records already point at it).
 * Returns how many were written, or -1 when they did not fit. */
static inline int put_pool(answer_t *a, const service_t *svc, const service_choice_t *choice,
                           const uint8_t *owner, const uint8_t *wire, const uint32_t *targets,
                           unsigned count, unsigned rr_len, unsigned first, uint32_t ttl)
{
    dns_writer_t *w = &a->w;
    bool all = true;
    for (unsigned k = 0; k < count && all; k++)
        all = service_addr_served(svc, choice, targets[k]);
    if (all && !owner && ttl == svc->ttl) {
        /* Every record is served as rendered: two copies, rotated. */
        size_t total = (size_t)count * rr_len;
        size_t head = count > 1 ? (size_t)(first % count) * rr_len : 0;
        if (w->len + total > w->cap) {
            a->truncated = true;
            return -1;
        }
        dns_copy(w->buf + w->len, wire + head, total - head);
        if (head)
            dns_copy(w->buf + w->len + total - head, wire, head);
        w->len += total;
        dns_writer_add_count(w, SECTION_ANSWER, (uint16_t)count);
        return (int)count;
    }
    size_t save_len = w->len;
    unsigned save_comp = w->ncomp, written = 0;
    for (unsigned k = 0; k < count; k++) {
        unsigned i = (first + k) % count;
        if (!service_addr_served(svc, choice, targets[i]))
            continue;
        const uint8_t *rr = wire + (size_t)rr_len * i;
        size_t rest;
        int rc;
        if (owner) {
            rc = dns_writer_name(w, owner);
            rest = w->len;
            rc = rc < 0 ? rc : dns_writer_bytes(w, rr + 2, rr_len - 2);
        } else { /* the record as rendered: its owner points at the question */
            rest = w->len + 2;
            rc = dns_writer_bytes(w, rr, rr_len);
        }
        if (rc < 0) {
            dns_writer_rewind(w, save_len, save_comp);
            a->truncated = true;
            return -1;
        }
        if (ttl != svc->ttl)
            dns_put32(w->buf + rest + 4, ttl);
        written++;
    }
    dns_writer_add_count(w, SECTION_ANSWER, (uint16_t)written);
    return (int)written;
}

/* Where the service should see the client: the query's client subnet when
 * it has one and the service uses ECS, else the packet's source. */
static void route_client(answer_t *a, const service_t *svc, geo_route_t *route)
{
    const dns_query_t *q = a->q;
    const geo_db_t *db = a->cfg->geo;
    if (q->ecs && svc->ecs) {
        const dns_client_subnet_t *cs = &q->client_subnet;
        geo_policy_route(svc->policy, db, cs->family == 1 ? AF_INET : AF_INET6, cs->addr,
                         cs->source_prefix, route);
        return;
    }
    uint8_t addr[16] = {0};
    const struct sockaddr *c = a->client;
    if (c && c->sa_family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)c)->sin_addr, 4);
        geo_policy_route(svc->policy, db, AF_INET, addr, 32, route);
    } else if (c && c->sa_family == AF_INET6) {
        memcpy(addr, &((const struct sockaddr_in6 *)c)->sin6_addr, 16);
        geo_policy_route(svc->policy, db, AF_INET6, addr, 128, route);
    } else {
        geo_policy_route(svc->policy, db, AF_INET, addr, 0, route); /* unknown: the default */
    }
}

/* Answers at a service's name: a CNAME pool with its CNAME whatever the
 * type (RFC 1034 3.6.2, RFC 2181 10.1), an address pool with its A or
 * AAAA records (ANY: A when it has some), or no data. Returns the CNAME
 * target to follow, or NULL (also for CNAME and ANY, which the CNAME
 * answers, RFC 1034 4.3.2 step 3a). */
static const uint8_t *answer_service(answer_t *a, const zone_node_t *node, const uint8_t *owner,
                                     const zone_t *zone)
{
    service_t *svc = (service_t *)node->dynamic; /* only its counters change */
    uint16_t qtype = a->q->qtype;
    geo_route_t route;
    service_choice_t choice;

    if (__builtin_expect(qtype != DNS_TYPE_A || !svc->has_a, 0) &&
        service_nodata_for_all(svc, qtype)) {
        put_negative(a, zone); /* the same for every client: scope 0 */
        return NULL;
    }
    route_client(a, svc, &route);
    service_pick(svc, a->cfg->geo, &route, a->slot, &choice);
    /* The scope of the decision, fallback included; after a CNAME pool
     * into another service the answer holds only where both decisions
     * do: the narrower network. */
    if (a->q->ecs && svc->ecs && route.scope > a->ecs_scope)
        a->ecs_scope = route.scope;
    const service_pool_t *pool = choice.pool;
    /* Not the client's first choice: a short TTL brings resolvers back soon
     * after that data center recovers. Failing open answers with the first
     * choice itself, so the service TTL stays. */
    uint32_t ttl = choice.failover ? svc->failover_ttl : svc->ttl;

    if (pool->cname) {
        uint8_t rd[2 + DNS_NAME_MAX];
        size_t len = dns_name_len(pool->cname);
        dns_put16(rd, (uint16_t)len);
        memcpy(rd + 2, pool->cname, len);
        zone_rrset_t cname = {.type = DNS_TYPE_CNAME, .count = 1, .ttl = ttl,
                              .rdata = rd, .rdata_len = (uint32_t)len + 2};
        if (!put_required(a, SECTION_ANSWER, owner, &cname) || qtype == DNS_TYPE_CNAME ||
            qtype == DNS_TYPE_ANY)
            return NULL;
        return pool->cname;
    }
    bool v4 = qtype == DNS_TYPE_A || (qtype == DNS_TYPE_ANY && pool->n_a);
    unsigned count = v4 ? pool->n_a
                        : qtype == DNS_TYPE_AAAA || qtype == DNS_TYPE_ANY ? pool->n_aaaa : 0;
    int written = 0;
    if (count) /* resolvers pick random IDs: a free rotation */
        written = put_pool(a, svc, &choice, owner, v4 ? pool->a_wire : pool->aaaa_wire,
                           v4 ? pool->a_target : pool->aaaa_target, count,
                           v4 ? SERVICE_A_RR_LEN : SERVICE_AAAA_RR_LEN, a->q->id, ttl);
    if (written == 0)
        put_negative(a, zone);
    return NULL;
}

/* Looks name (len bytes, any case) up into r; true when it is in our
 * zones. */
static bool lookup_name(const answer_t *a, const uint8_t *name, size_t len, zone_lookup_t *r)
{
    uint8_t lc[DNS_NAME_MAX + 8]; /* zone_lookup() reads past the name */
    dns_name_lower(lc, name, len);
    zone_lookup(a->db, lc, len, r);
    return r->zone != NULL;
}

enum chain_step { STEP_DONE, STEP_FOLLOW, STEP_NODE };

/* The zone cut r->cut, above the name or at it, answers: a delegation
 * with a referral (STEP_DONE), a DNAME with itself and the CNAME it
 * synthesizes, the name it leads to left in next and looked up into r
 * (STEP_FOLLOW, or STEP_DONE when that is not in our zones). DS at a
 * delegation is the parent's data, answered from the node (STEP_NODE). */
static enum chain_step answer_cut(answer_t *a, zone_lookup_t *r, const uint8_t *owner,
                                  unsigned step, uint8_t *next)
{
    const dns_query_t *q = a->q;
    const zone_node_t *cut = r->cut;
    if (q->qtype == DNS_TYPE_DS && cut == r->node)
        return STEP_NODE;
    if (cut->flags & ZONE_NODE_DELEG) {
        if (step == 0)
            a->w.buf[2] &= (uint8_t)~(DNS_FLAG_AA >> 8);
        put_referral(a, cut);
        return STEP_DONE;
    }
    const zone_rrset_t *dname = zone_node_rrset(cut, DNS_TYPE_DNAME);
    if (!put_required(a, SECTION_ANSWER, cut->name, dname))
        return STEP_DONE;
    const uint8_t *cur = owner ? owner : q->qname;
    size_t cur_len = owner ? dns_name_len(owner) : q->qname_len;
    int nlen = dname_substitute(cur, cur_len, cut, dname, next);
    if (nlen < 0) {
        dns_writer_set_rcode(&a->w, DNS_RCODE_YXDOMAIN);
        return STEP_DONE;
    }
    /* The synthesized CNAME carries the DNAME's TTL (RFC 6672 3.1). */
    uint8_t rd[2 + DNS_NAME_MAX];
    dns_put16(rd, (uint16_t)nlen);
    memcpy(rd + 2, next, (size_t)nlen);
    zone_rrset_t cname = {.type = DNS_TYPE_CNAME, .count = 1, .ttl = dname->ttl,
                          .rdata = rd, .rdata_len = (uint32_t)nlen + 2};
    if (!put_required(a, SECTION_ANSWER, owner, &cname) || q->qtype == DNS_TYPE_CNAME)
        return STEP_DONE;
    return lookup_name(a, next, (size_t)nlen, r) ? STEP_FOLLOW : STEP_DONE;
}

/* Answers from r, the lookup of owner (NULL: the query name), following
 * CNAMEs, DNAMEs and CNAME pools inside our zones; seen, when not NULL,
 * is the service node that answered the query name with a CNAME to owner
 * (the chain's first step). */
static void answer_chain(answer_t *a, zone_lookup_t r, const uint8_t *owner,
                         const zone_node_t *seen)
{
    uint16_t qtype = a->q->qtype;
    uint8_t names[2][DNS_NAME_MAX]; /* the current name of a chain, case kept */
    const zone_node_t *visited[QUERY_MAX_CHAIN];
    unsigned n_visited = 0;
    if (seen)
        visited[n_visited++] = seen;

    for (unsigned step = n_visited; step < QUERY_MAX_CHAIN; step++) {
        if (r.cut) {
            uint8_t *next = names[step & 1];
            enum chain_step how = answer_cut(a, &r, owner, step, next);
            if (how == STEP_DONE)
                return;
            if (how == STEP_FOLLOW) {
                owner = next;
                continue;
            }
        }
        const zone_node_t *node = r.node ? r.node : r.wild;
        if (!node) {
            dns_writer_set_rcode(&a->w, DNS_RCODE_NXDOMAIN);
            put_negative(a, r.zone);
            return;
        }
        if (node->flags & ZONE_NODE_DYNAMIC) {
            for (unsigned i = 0; i < n_visited; i++)
                if (visited[i] == node)
                    return;
            visited[n_visited++] = node;
            const uint8_t *target = answer_service(a, node, owner, r.zone);
            if (!target || !lookup_name(a, target, dns_name_len(target), &r))
                return;
            owner = target; /* the pool's, as stable as the snapshot */
            continue;
        }
        const zone_rrset_t *set = qtype == DNS_TYPE_ANY ? any_choice(node)
                                                        : zone_node_rrset(node, qtype);
        if (set) {
            if (put_required(a, SECTION_ANSWER, owner, set))
                note_additional(a, set, node, owner);
            return;
        }
        const zone_rrset_t *cname = zone_node_rrset(node, DNS_TYPE_CNAME);
        if (!cname) {
            put_negative(a, r.zone);
            return;
        }
        for (unsigned i = 0; i < n_visited; i++)
            if (visited[i] == node)
                return; /* a loop: every CNAME of it is in the answer already */
        visited[n_visited++] = node;
        if (!put_required(a, SECTION_ANSWER, owner, cname))
            return;
        r = *cname->cname_target;
        if (!r.zone)
            return; /* the chain leaves our zones: the resolver follows it */
        owner = cname->rdata + 2;
    }
}

/* Answers the query name, the service at node. */
static inline __attribute__((always_inline)) void
answer_dynamic(answer_t *a, const zone_node_t *node, const zone_t *zone)
{
    const uint8_t *target = answer_service(a, node, NULL, zone);
    zone_lookup_t r;
    /* a CNAME pool: its target is followed */
    if (target && lookup_name(a, target, dns_name_len(target), &r))
        answer_chain(a, r, target, node);
}

static void answer_in(answer_t *a)
{
    const dns_query_t *q = a->q;
    uint16_t qtype = q->qtype;
    zone_lookup_t r;

    if (qtype == DNS_TYPE_AXFR || qtype == DNS_TYPE_IXFR) {
        refuse(a, DNS_EDE_PROHIBITED);
        return;
    }
    zone_lookup_labels(a->db, q->qname_lc, q->qname_len, q->qname_hash, q->qname_offs,
                       q->qname_labels, &r);
    if (!r.zone) {
        refuse(a, DNS_EDE_NOT_AUTHORITATIVE);
        return;
    }
    dns_writer_set_flag(&a->w, DNS_FLAG_AA);
    /* Most queries name a node of static data with an RRset of their type,
     * or a service: answered here, before the general walk of
     * answer_chain(). */
    const zone_node_t *node = r.node;
    if (node && !r.cut && qtype != DNS_TYPE_ANY && qtype != DNS_TYPE_DS) {
        if (node->flags & ZONE_NODE_DYNAMIC) {
            answer_dynamic(a, node, r.zone);
            return;
        }
        const zone_rrset_t *set = zone_node_rrset(node, qtype);
        if (set) {
            if (put_required(a, SECTION_ANSWER, NULL, set))
                note_additional(a, set, node, NULL);
            return;
        }
    }
    /* A DS record lives in the parent, also when we serve the child zone. */
    if (qtype == DNS_TYPE_DS && node && (node->flags & ZONE_NODE_APEX) &&
        r.zone->parent_deleg) {
        r.node = r.encloser = r.zone->parent_deleg;
        r.zone = r.node->zone;
        r.cut = r.node->cut;
    }
    answer_chain(a, r, NULL, NULL);
}

static bool chaos_answer(answer_t *a, const query_config_t *cfg)
{
    const dns_query_t *q = a->q;
    static const uint8_t version_bind[] = "\7version\4bind";
    static const uint8_t version_server[] = "\7version\6server";
    static const uint8_t id_server[] = "\2id\6server";
    static const uint8_t hostname_bind[] = "\10hostname\4bind";
    const char *text = NULL;
    if (!cfg->chaos || (q->qtype != DNS_TYPE_TXT && q->qtype != DNS_TYPE_ANY))
        return false;
    if (dns_name_equal(q->qname_lc, version_bind) || dns_name_equal(q->qname_lc, version_server))
        text = cfg->version;
    else if (dns_name_equal(q->qname_lc, id_server) ||
             dns_name_equal(q->qname_lc, hostname_bind))
        text = cfg->identity;
    if (!text)
        return false;
    size_t tlen = strlen(text);
    if (tlen > 255)
        tlen = 255;
    uint8_t rr[12 + 1 + 255];
    dns_put16(rr, 0xC00C);
    dns_put16(rr + 2, DNS_TYPE_TXT);
    dns_put16(rr + 4, DNS_CLASS_CH);
    dns_put32(rr + 6, 0);
    dns_put16(rr + 10, (uint16_t)(tlen + 1));
    rr[12] = (uint8_t)tlen;
    memcpy(rr + 13, text, tlen);
    if (dns_writer_bytes(&a->w, rr, 13 + tlen) < 0)
        a->truncated = true;
    else
        dns_writer_add_count(&a->w, SECTION_ANSWER, 1);
    dns_writer_set_flag(&a->w, DNS_FLAG_AA);
    return true;
}

/* Size of the OPT record we will add, so the sections leave room for it
 * (an Extended DNS Error, added to error answers only, is not counted). */
static inline __attribute__((always_inline)) size_t
opt_size(const dns_query_t *q, const query_config_t *cfg)
{
    size_t n = 11;
    if (q->nsid && cfg->nsid)
        n += 4 + cfg->nsid_len;
    if (q->ecs)
        n += 8 + (q->client_subnet.source_prefix + 7u) / 8u;
    return n;
}

/* Writes our OPT record at p (the room opt_size() reserved, and 6 bytes
 * more when ede is not EDE_NONE) and returns its size; the caller counts
 * it. */
static inline __attribute__((always_inline)) size_t
put_opt(uint8_t *p, const dns_query_t *q, const query_config_t *cfg, unsigned rcode,
        uint8_t ecs_scope, int ede)
{
    size_t rdlen = 0;
    p[0] = 0;
    dns_put16(p + 1, DNS_TYPE_OPT);
    dns_put16(p + 3, (uint16_t)cfg->max_udp_size);
    /* Extended RCODE (upper 8 bits), version 0, and of the flags DO, which
     * RFC 3225 3 has us copy; the other (Z) bits are zero (RFC 6891 6.1.4). */
    dns_put32(p + 5, (uint32_t)(rcode >> 4) << 24 | (q->edns_flags & DNS_EDNS_DO));
    if (q->nsid && cfg->nsid) {
        dns_put16(p + 11, DNS_EDNS_NSID);
        dns_put16(p + 13, (uint16_t)cfg->nsid_len);
        memcpy(p + 15, cfg->nsid, cfg->nsid_len);
        rdlen += 4 + cfg->nsid_len;
    }
    if (q->ecs) {
        /* RFC 7871 7.2.1: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS as sent,
         * SCOPE PREFIX-LENGTH for what the answer depended on. */
        const dns_client_subnet_t *cs = &q->client_subnet;
        size_t alen = (cs->source_prefix + 7u) / 8u;
        uint8_t *o = p + 11 + rdlen;
        dns_put16(o, DNS_EDNS_CLIENT_SUBNET);
        dns_put16(o + 2, (uint16_t)(4 + alen));
        dns_put16(o + 4, cs->family);
        o[6] = cs->source_prefix;
        o[7] = ecs_scope;
        dns_copy(o + 8, cs->addr, alen);
        rdlen += 8 + alen;
    }
    if (ede != EDE_NONE) {
        uint8_t *o = p + 11 + rdlen;
        dns_put16(o, DNS_EDNS_EXTENDED_ERROR);
        dns_put16(o + 2, 2); /* INFO-CODE, no EXTRA-TEXT */
        dns_put16(o + 4, (uint16_t)ede);
        rdlen += 6;
    }
    dns_put16(p + 9, (uint16_t)rdlen);
    return 11 + rdlen;
}

/* How long the answer may grow: 512 bytes without EDNS, the smaller of
 * the client's and our UDP size with it, 65535 over TCP; never past cap. */
static inline size_t answer_limit(const dns_query_t *q, const query_config_t *cfg, bool edns,
                                  size_t cap, bool tcp)
{
    size_t limit = 512;
    if (tcp)
        limit = 65535;
    else if (edns)
        limit = q->edns_udp_size < cfg->max_udp_size ? q->edns_udp_size : cfg->max_udp_size;
    return limit < cap ? limit : cap;
}

/* Starts an answer to q in resp, cap bytes at most. */
static inline void answer_start(answer_t *a, const dns_query_t *q, const zone_db_t *db,
                                const query_config_t *cfg, const struct sockaddr *client,
                                unsigned slot, uint8_t *resp, size_t cap)
{
    a->q = q;
    a->db = db;
    a->cfg = cfg;
    a->client = client;
    a->ecs_scope = 0;
    a->slot = slot;
    a->truncated = false;
    a->additional = NULL;
    dns_writer_start(&a->w, resp, cap, q);
}

/* Sets the RCODE and TC, adds our OPT (with the Extended DNS Error ede
 * unless EDE_NONE) when edns, counts the query and returns the answer's
 * length. */
static inline __attribute__((always_inline)) size_t
answer_finish(answer_t *a, const query_config_t *cfg, unsigned rcode, bool edns, int ede)
{
    const dns_query_t *q = a->q;
    if (rcode != DNS_RCODE_NOERROR)
        dns_writer_set_rcode(&a->w, rcode & 0xF);
    if (a->truncated)
        dns_writer_set_flag(&a->w, DNS_FLAG_TC);
    if (edns) {
        a->w.len += put_opt(a->w.buf + a->w.len, q, cfg, rcode, a->ecs_scope, ede);
        dns_writer_add_count(&a->w, SECTION_ADDITIONAL, 1);
    }
    stats_count(a->slot, &(stats_query_t){
                             .answered = true,
                             .truncated = a->truncated,
                             .ecs = q->ecs,
                             .rcode = rcode ? (uint8_t)rcode : (uint8_t)(a->w.buf[3] & 0xF),
                             .qtype = q->has_question ? q->qtype : 0,
                         });
    return a->w.len;
}

/* The general path's answer to q, read from the packet with status st
 * (not DNS_PARSE_DROP), its name already at resp + DNS_HEADER_SIZE. Out
 * of line: the fused path, which calls it too, keeps a smaller frame. */
static __attribute__((noinline)) size_t
answer_parsed(const dns_query_t *q, enum dns_parse_status st, const zone_db_t *db,
              const query_config_t *cfg, uint8_t *resp, size_t cap, bool tcp,
              const struct sockaddr *client, unsigned slot)
{
    /* Every answer, errors too, has an OPT when the query had a sound one
     * (RFC 6891 7; the parser says which). */
    bool edns = q->edns;
    size_t limit = answer_limit(q, cfg, edns, cap, tcp);
    size_t reserve = edns ? opt_size(q, cfg) : 0;
    /* No TSIG key is known yet: a signed query's key is unknown (RFC 8945
     * 5.2.1), whatever it asks, and its answer ends with the TSIG record
     * that says so. */
    bool badkey = st == DNS_PARSE_OK && q->tsig;
    if (badkey)
        reserve += dns_tsig_unsigned_size(&q->tsig_rr);
    answer_t a;
    answer_start(&a, q, db, cfg, client, slot, resp, reserve < limit ? limit - reserve : 0);
    a.ede = EDE_NONE;

    unsigned rcode = DNS_RCODE_NOERROR;
    switch (st) {
    case DNS_PARSE_FORMERR:
        rcode = DNS_RCODE_FORMERR;
        break;
    case DNS_PARSE_NOTIMP:
        rcode = DNS_RCODE_NOTIMP;
        a.ede = DNS_EDE_NOT_SUPPORTED;
        break;
    case DNS_PARSE_BADVERS:
        rcode = DNS_RCODE_BADVERS;
        break;
    default:
        if (badkey) {
            rcode = DNS_RCODE_NOTAUTH;
            a.truncated = a.w.len > a.w.cap; /* a record too long for 512 bytes */
        } else if (q->qclass == DNS_CLASS_IN) {
            if (db)
                answer_in(&a);
            else
                refuse(&a, DNS_EDE_NOT_AUTHORITATIVE);
        } else if (!(q->qclass == DNS_CLASS_CH && chaos_answer(&a, cfg))) {
            rcode = DNS_RCODE_REFUSED;
            a.ede = q->qclass == DNS_CLASS_CH ? DNS_EDE_NOT_AUTHORITATIVE
                                              : DNS_EDE_NOT_SUPPORTED;
        }
        put_additional(&a);
        break;
    }
    /* The Extended DNS Error goes only where it fits (error answers are
     * short: it always does but with the longest names and NSID). */
    if (a.ede != EDE_NONE && (!edns || a.w.len + reserve + 6 > limit))
        a.ede = EDE_NONE;
    size_t n = answer_finish(&a, cfg, rcode, edns, a.ede);
    if (badkey && !a.truncated) {
        a.w.cap = limit;
        if (dns_writer_tsig_unsigned(&a.w, &q->tsig_rr, q->id, DNS_TSIG_BADKEY) == 0)
            n = a.w.len;
    }
    return n;
}

size_t query_answer_general(const zone_db_t *db, const query_config_t *cfg, const uint8_t *pkt,
                            size_t len, uint8_t *resp, size_t cap, bool tcp,
                            const struct sockaddr *client, unsigned slot)
{
    dns_query_t q;
    /* The name as sent goes straight to where the answer repeats it. */
    enum dns_parse_status st = dns_query_parse_to(pkt, len, &q, resp + DNS_HEADER_SIZE);
    if (st == DNS_PARSE_DROP) {
        stats_count(slot, &(stats_query_t){.answered = false});
        return 0;
    }
    return answer_parsed(&q, st, db, cfg, resp, cap, tcp, client, slot);
}

/* The common answer to the common query: a node's RRset as rendered at
 * load, written straight after the question. Returns its length, or 0
 * (nothing written) when it does not fit: the general path sets TC. */
static inline __attribute__((always_inline)) size_t
answer_rendered(const dns_query_t *q, const query_config_t *cfg, const zone_rrset_t *set,
                uint8_t *resp, size_t limit, unsigned slot)
{
    size_t at = DNS_HEADER_SIZE + q->qname_len + 4u;
    size_t reserve = q->edns ? opt_size(q, cfg) : 0;
    if (at + set->wire_len + reserve > limit)
        return 0;
    dns_put16(resp, q->id);
    dns_put16(resp + 2, (uint16_t)(dns_answer_flags(q) | DNS_FLAG_AA));
    /* QDCOUNT 1, ANCOUNT, NSCOUNT 0, ARCOUNT 1 with our OPT */
    dns_put32(resp + 4, 0x10000u | set->count);
    dns_put32(resp + 8, q->edns);
    dns_put16(resp + at - 4, q->qtype);
    dns_put16(resp + at - 2, DNS_CLASS_IN);
    dns_copy(resp + at, set->wire, set->wire_len);
    at += set->wire_len;
    if (q->edns)
        at += put_opt(resp + at, q, cfg, DNS_RCODE_NOERROR, 0, EDE_NONE);
    stats_count(slot, &(stats_query_t){.answered = true, .ecs = q->ecs, .qtype = q->qtype});
    return at;
}

/* The fused path's answer at a service (node, dynamic), or its negative
 * answer: no data at node, or, node NULL, a name that is not in the index,
 * which it declines (0, nothing written but the question name) when it is
 * below a cut, matches a wildcard or is in no zone of ours. */
static inline __attribute__((always_inline)) size_t
answer_common_rest(const dns_query_t *q, const zone_db_t *db, const query_config_t *cfg,
                   const zone_node_t *node, uint8_t *resp, size_t limit,
                   const struct sockaddr *client, unsigned slot)
{
    const zone_t *zone;
    if (node) {
        zone = node->zone;
    } else {
        zone_lookup_t r;
        zone_lookup_miss(db, q->qname, q->qname_len, q->qname_offs, q->qname_labels, &r);
        if (!r.zone || r.cut || r.wild)
            return 0;
        zone = r.zone;
    }
    answer_t a;
    answer_start(&a, q, db, cfg, client, slot, resp, limit - (q->edns ? opt_size(q, cfg) : 0));
    dns_writer_set_flag(&a.w, DNS_FLAG_AA);
    if (!node) {
        dns_writer_set_rcode(&a.w, DNS_RCODE_NXDOMAIN);
        put_negative(&a, zone);
    } else if (node->flags & ZONE_NODE_DYNAMIC) {
        answer_dynamic(&a, node, zone);
        put_additional(&a);
    } else {
        put_negative(&a, zone); /* no data */
    }
    return answer_finish(&a, cfg, DNS_RCODE_NOERROR, q->edns, EDE_NONE);
}

/* answer_common_rest() for negative answers, out of line: the common
 * path keeps a smaller frame. */
static __attribute__((noinline)) size_t
answer_common_negative(const dns_query_t *q, const zone_db_t *db, const query_config_t *cfg,
                       const zone_node_t *node, uint8_t *resp, size_t limit, unsigned slot)
{
    return answer_common_rest(q, db, cfg, node, resp, limit, NULL, slot);
}

/* The general path's answer to q, which dns_query_parse_common() read and
 * the fused path declined: the packet is not read again, only the name
 * lower-cased, which is all the general path needs besides. Out of line,
 * like answer_parsed(), to keep the fused path's frame small. */
static __attribute__((noinline)) size_t
answer_declined(dns_query_t *q, const zone_db_t *db, const query_config_t *cfg, uint8_t *resp,
                size_t cap, bool tcp, const struct sockaddr *client, unsigned slot)
{
    dns_name_lower_words(q->qname_lc, q->qname, q->qname_len);
    return answer_parsed(q, DNS_PARSE_OK, db, cfg, resp, cap, tcp, client, slot);
}

/* The fused path: the common query (dns_query_parse_common()) of class IN
 * whose name is below no zone cut, answered with a node's rendered RRset,
 * a service, or a name error or no data without a wildcard. It decides
 * before it writes more than the question name (which the general path
 * writes the same), so declining leaves nothing behind: then it answers
 * with query_answer_general() when fall_back, else returns 0. What it
 * answers, it answers as the general path would, through the same
 * functions but for the rendered RRset. */
static inline __attribute__((always_inline)) size_t
answer_common(const zone_db_t *db, const query_config_t *cfg, const uint8_t *pkt, size_t len,
              uint8_t *resp, size_t cap, bool tcp, const struct sockaddr *client, unsigned slot,
              bool fall_back)
{
    dns_query_t q;
    /* The hints keep the common answer's values in registers. */
    if (__builtin_expect(!db || !dns_query_parse_common(pkt, len, &q, resp + DNS_HEADER_SIZE),
                         0))
        goto decline;
    uint16_t qtype = q.qtype;
    /* ANY, DS and zone transfers have answers of their own (MAILA and MAILB,
     * between them, go along). */
    if (__builtin_expect(q.qclass != DNS_CLASS_IN || qtype == DNS_TYPE_DS ||
                             (unsigned)(qtype - DNS_TYPE_IXFR) <= DNS_TYPE_ANY - DNS_TYPE_IXFR,
                         0))
        goto decline_parsed;
    const zone_index_t *ix = (const zone_index_t *)db; /* see zone_lookup_labels() */
    const zone_node_t *node =
        ix->buckets ? zone_index_find_any_case(ix, q.qname_hash, q.qname, q.qname_len) : NULL;
    size_t limit = answer_limit(&q, cfg, q.edns, cap, tcp);
    if (node) {
        if (node->cut)
            goto decline_parsed;
        if (!(node->flags & ZONE_NODE_DYNAMIC)) {
            const zone_rrset_t *set = zone_node_rrset(node, qtype);
            size_t n = 0;
            if (__builtin_expect(set && set->wire && !set->n_additional, 1))
                n = answer_rendered(&q, cfg, set, resp, limit, slot);
            if (__builtin_expect(n != 0, 1))
                return n;
            if (set || (node->flags & ZONE_NODE_CNAME))
                goto decline_parsed;
        }
    }
    size_t n = node && (node->flags & ZONE_NODE_DYNAMIC)
                   ? answer_common_rest(&q, db, cfg, node, resp, limit, client, slot)
                   : answer_common_negative(&q, db, cfg, node, resp, limit, slot);
    if (n)
        return n;
decline_parsed:
    return fall_back ? answer_declined(&q, db, cfg, resp, cap, tcp, client, slot) : 0;
decline:
    return fall_back ? query_answer_general(db, cfg, pkt, len, resp, cap, tcp, client, slot) : 0;
}

size_t query_answer_common(const zone_db_t *db, const query_config_t *cfg, const uint8_t *pkt,
                           size_t len, uint8_t *resp, size_t cap, bool tcp,
                           const struct sockaddr *client, unsigned slot)
{
    return answer_common(db, cfg, pkt, len, resp, cap, tcp, client, slot, false);
}

size_t query_answer(const zone_db_t *db, const query_config_t *cfg, const uint8_t *pkt,
                    size_t len, uint8_t *resp, size_t cap, bool tcp,
                    const struct sockaddr *client, unsigned slot)
{
    return answer_common(db, cfg, pkt, len, resp, cap, tcp, client, slot, true);
}
