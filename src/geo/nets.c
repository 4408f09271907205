/*
 * geo_nets: network overrides as two path-compressed binary tries, one for
 * IPv4 and one for IPv6, sharing one node array.
 *
 * Every node is a prefix (its key and length); a node either carries a
 * value (a network that was added) or is a branch point with two children.
 * A child hangs under the bit of its key just past its parent's prefix.
 * So a trie of n networks has fewer than 2n nodes, however long or sparse
 * the prefixes are, and a lookup visits at most one node per branch point.
 *
 * Nodes live in one array and refer to each other by 32-bit index (0 is
 * "none"): one allocation per doubling instead of one per node, half the
 * size of pointers, and the array is contiguous for the cache.
 *
 * IPv4 networks written as IPv6 (::ffff:a.b.c.d/n, n >= 96) are stored in
 * the IPv4 trie, and an IPv6 lookup of a mapped address searches only the
 * IPv4 trie: such a client is an IPv4 client reaching us over a dual-stack
 * socket, and must get the answer an IPv4 client would. Other embeddings
 * (6to4, Teredo) are separate networks with their own routes and are left
 * alone: an override names exactly the networks it means.
 */
#include "config.h"

#include "geo/geo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define NETS_V4 0
#define NETS_V6 1
#define NETS_INITIAL_NODES 64

typedef struct nets_node {
    uint64_t key[2];   /* the prefix, most significant bit first; zero past bits */
    uint32_t child[2]; /* by the bit at position `bits`; 0 = none */
    uint32_t value;
    uint8_t bits;
    uint8_t has_value;
} nets_node_t;

/* Where a lookup stands after the first `jump_bits` bits of an address:
 * the node to go on from, the longest network seen so far and how far the
 * path had to be followed (see geo_nets_lookup_scope). */
typedef struct nets_jump {
    uint32_t node; /* 0: nothing deeper */
    uint32_t value;
    uint8_t matched; /* NETS_NO_MATCH or the prefix of value's network */
    uint8_t reach;
} nets_jump_t;

#define NETS_NO_MATCH 0xff
#define NETS_JUMP_MAX_BITS 20
#define NETS_JUMP_MIN_COUNT 256

struct geo_nets {
    nets_node_t *node; /* node[0] is unused so that index 0 can mean "none" */
    uint32_t n_nodes;
    uint32_t cap;
    uint32_t root[2]; /* NETS_V4, NETS_V6 */
    size_t count;
    size_t tree_count[2];
    nets_jump_t *jump[2]; /* built by geo_nets_finish(), NULL until then */
    unsigned jump_bits[2];
};

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t load_be32(const uint8_t *p)
{
    return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
}

/* Turns an address into the trie it belongs to and its 128-bit key. The
 * returned bit offset is what the family's prefix lengths must be reduced
 * by (96 for an IPv4-mapped IPv6 address), or -1 for a bad family. */
static int nets_key(int family, const uint8_t addr[16], uint64_t key[2], int *tree)
{
    if (family == AF_INET) {
        key[0] = load_be32(addr) << 32;
        key[1] = 0;
        *tree = NETS_V4;
        return 0;
    }
    if (family != AF_INET6)
        return -1;
    if (memcmp(addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
        key[0] = load_be32(addr + 12) << 32;
        key[1] = 0;
        *tree = NETS_V4;
        return 96;
    }
    key[0] = load_be64(addr);
    key[1] = load_be64(addr + 8);
    *tree = NETS_V6;
    return 0;
}

/* Length of the common prefix of two keys, 0..128. */
static inline unsigned key_common(const uint64_t a[2], const uint64_t b[2])
{
    uint64_t x = a[0] ^ b[0];
    if (x)
        return (unsigned)__builtin_clzll(x);
    x = a[1] ^ b[1];
    return x ? 64 + (unsigned)__builtin_clzll(x) : 128;
}

/* Bit i of a key, 0 being the most significant; i < 128. */
static inline unsigned key_bit(const uint64_t k[2], unsigned i)
{
    return i < 64 ? (unsigned)(k[0] >> (63 - i)) & 1 : (unsigned)(k[1] >> (127 - i)) & 1;
}

static void key_mask(const uint64_t in[2], unsigned bits, uint64_t out[2])
{
    out[0] = bits >= 64 ? in[0] : bits == 0 ? 0 : in[0] & ~(UINT64_MAX >> bits);
    out[1] = bits >= 128 ? in[1] : bits <= 64 ? 0 : in[1] & ~(UINT64_MAX >> (bits - 64));
}

geo_nets_t *geo_nets_new(void)
{
    geo_nets_t *nets = calloc(1, sizeof(*nets));
    if (!nets)
        return NULL;
    nets->node = malloc(NETS_INITIAL_NODES * sizeof(*nets->node));
    if (!nets->node) {
        free(nets);
        return NULL;
    }
    nets->cap = NETS_INITIAL_NODES;
    nets->n_nodes = 1;
    return nets;
}

static void nets_jump_drop(geo_nets_t *nets)
{
    for (int t = 0; t < 2; t++) {
        free(nets->jump[t]);
        nets->jump[t] = NULL;
        nets->jump_bits[t] = 0;
    }
}

void geo_nets_free(geo_nets_t *nets)
{
    if (!nets)
        return;
    nets_jump_drop(nets);
    free(nets->node);
    free(nets);
}

size_t geo_nets_count(const geo_nets_t *nets)
{
    return nets ? nets->count : 0;
}

/* Makes room for `more` nodes, so that an insertion can hold pointers into
 * the array while it adds them. */
static int nets_reserve(geo_nets_t *nets, uint32_t more)
{
    if (nets->cap - nets->n_nodes >= more)
        return 0;
    if (nets->cap > UINT32_MAX / 2)
        return -ENOMEM;
    uint32_t cap = nets->cap * 2;
    nets_node_t *node = realloc(nets->node, (size_t)cap * sizeof(*node));
    if (!node)
        return -ENOMEM;
    nets->node = node;
    nets->cap = cap;
    return 0;
}

static uint32_t nets_node_new(geo_nets_t *nets, const uint64_t key[2], unsigned bits,
                              bool has_value, uint32_t value)
{
    uint32_t i = nets->n_nodes++;
    nets_node_t *n = &nets->node[i];
    key_mask(key, bits, n->key);
    n->child[0] = n->child[1] = 0;
    n->value = value;
    n->bits = (uint8_t)bits;
    n->has_value = has_value;
    return i;
}

/* Checks net and gives its trie, key and prefix in that trie's bits. */
static int nets_network(const conf_network_t *net, uint64_t key[2], unsigned *bits, int *tree)
{
    unsigned max = net->family == AF_INET ? 32 : 128;
    uint64_t masked[2];
    int shift;

    if (net->family != AF_INET && net->family != AF_INET6)
        return -EINVAL;
    if (net->prefix > max)
        return -EINVAL;
    shift = nets_key(net->family, net->addr, key, tree);
    if (shift > 0 && net->prefix < shift) {
        /* wider than ::ffff:0:0/96: an IPv6 network after all */
        key[0] = load_be64(net->addr);
        key[1] = load_be64(net->addr + 8);
        *tree = NETS_V6;
        shift = 0;
    }
    *bits = net->prefix - (unsigned)shift;
    key_mask(key, *bits, masked);
    if (masked[0] != key[0] || masked[1] != key[1])
        return -EINVAL;
    return 0;
}

int geo_nets_add(geo_nets_t *nets, const conf_network_t *net, uint32_t value)
{
    uint64_t key[2];
    unsigned bits;
    int tree;
    int r;

    if ((r = nets_network(net, key, &bits, &tree)) < 0)
        return r;
    if ((r = nets_reserve(nets, 2)) < 0)
        return r;
    /* the jump tables describe the old shape of the tries */
    nets_jump_drop(nets);

    uint32_t *slot = &nets->root[tree];
    for (;;) {
        if (*slot == 0) {
            *slot = nets_node_new(nets, key, bits, true, value);
            break;
        }
        nets_node_t *n = &nets->node[*slot];
        unsigned common = key_common(n->key, key);
        if (common > bits)
            common = bits;
        if (common >= n->bits) {
            if (n->bits == bits) {
                if (n->has_value)
                    return -EEXIST;
                n->has_value = true;
                n->value = value;
                break;
            }
            slot = &n->child[key_bit(key, n->bits)];
            continue;
        }
        /* the new network leaves n's path at bit `common` */
        uint32_t old = *slot;
        uint32_t up;
        if (common == bits) {
            up = nets_node_new(nets, key, bits, true, value);
        } else {
            up = nets_node_new(nets, key, common, false, 0);
            uint32_t leaf = nets_node_new(nets, key, bits, true, value);
            nets->node[up].child[key_bit(key, common)] = leaf;
        }
        nets->node[up].child[key_bit(nets->node[old].key, common)] = old;
        *slot = up;
        break;
    }
    nets->count++;
    nets->tree_count[tree]++;
    return 0;
}

bool geo_nets_get(const geo_nets_t *nets, const conf_network_t *net, uint32_t *value)
{
    uint64_t key[2];
    unsigned bits;
    int tree;

    if (nets_network(net, key, &bits, &tree) < 0)
        return false;
    uint32_t i = nets->root[tree];
    while (i) {
        const nets_node_t *n = &nets->node[i];
        if (n->bits > bits || key_common(n->key, key) < n->bits)
            return false;
        if (n->bits == bits) {
            if (n->has_value && value)
                *value = n->value;
            return n->has_value;
        }
        i = n->child[key_bit(key, n->bits)];
    }
    return false;
}

bool geo_nets_lookup_scope(const geo_nets_t *nets, int family, const uint8_t addr[16],
                           uint32_t *value, uint8_t *prefix, uint8_t *scope)
{
    uint64_t key[2];
    int tree;
    int shift = nets_key(family, addr, key, &tree);
    unsigned max = tree == NETS_V4 ? 32 : 128;
    unsigned matched = 0, reach = 0;
    uint32_t found = 0;
    bool hit = false;

    if (shift < 0 || nets->count == 0) {
        if (scope)
            *scope = 0;
        return false;
    }
    /*
     * reach: how far the address's path must be followed before it is
     * clear of every network that does not hold it; an answer is valid for
     * that whole prefix of the address (the ECS scope). It is one past the
     * last bit where the address turned away from a network that follows.
     */
    uint32_t i = nets->root[tree];
    if (nets->jump[tree]) {
        const nets_jump_t *j = &nets->jump[tree][key[0] >> (64 - nets->jump_bits[tree])];
        if (j->matched != NETS_NO_MATCH) {
            hit = true;
            found = j->value;
            matched = j->matched;
        }
        reach = j->reach;
        i = j->node;
    }
    while (i) {
        const nets_node_t *n = &nets->node[i];
        unsigned common = key_common(n->key, key);
        if (common < n->bits) {
            reach = common + 1;
            break;
        }
        if (n->has_value) {
            hit = true;
            found = n->value;
            matched = n->bits;
        }
        if (n->bits == max)
            break;
        unsigned b = key_bit(key, n->bits);
        if (n->child[!b])
            reach = n->bits + 1u;
        i = n->child[b];
    }
    if (hit) {
        if (value)
            *value = found;
        if (prefix)
            *prefix = (uint8_t)(matched + (unsigned)shift);
    }
    if (scope)
        *scope = (uint8_t)((reach > matched ? reach : matched) + (unsigned)shift);
    return hit;
}

bool geo_nets_lookup(const geo_nets_t *nets, int family, const uint8_t addr[16], uint32_t *value,
                     uint8_t *prefix)
{
    return geo_nets_lookup_scope(nets, family, addr, value, prefix, NULL);
}

size_t geo_nets_memory(const geo_nets_t *nets)
{
    if (!nets)
        return 0;
    size_t n = sizeof(*nets) + (size_t)nets->cap * sizeof(*nets->node);
    for (int t = 0; t < 2; t++)
        if (nets->jump[t])
            n += ((size_t)1 << nets->jump_bits[t]) * sizeof(*nets->jump[t]);
    return n;
}

/* Renumbers the nodes in depth-first order, so that a subtree (what is
 * left of a lookup after the jump table) sits in a few neighbouring cache
 * lines, and trims the array to its size. */
static int nets_relayout(geo_nets_t *nets)
{
    typedef struct {
        uint32_t old, parent;
        unsigned side;
    } pending_t;
    /* every step down adds one bit and leaves at most one sibling behind */
    pending_t stack[2 * 130];
    nets_node_t *node = malloc((size_t)nets->n_nodes * sizeof(*node));
    uint32_t next = 1;

    if (!node)
        return -ENOMEM;
    for (int t = 0; t < 2; t++) {
        unsigned sp = 0;
        if (nets->root[t])
            stack[sp++] = (pending_t){nets->root[t], 0, 0};
        while (sp) {
            pending_t e = stack[--sp];
            uint32_t i = next++;
            node[i] = nets->node[e.old];
            if (e.parent)
                node[e.parent].child[e.side] = i;
            else
                nets->root[t] = i;
            for (unsigned b = 2; b-- > 0;)
                if (node[i].child[b])
                    stack[sp++] = (pending_t){node[i].child[b], i, b};
        }
    }
    free(nets->node);
    nets->node = node;
    nets->cap = nets->n_nodes;
    return 0;
}

/* Where a lookup stands after the jump bits of `key` (zero past them). */
static void nets_jump_fill(const geo_nets_t *nets, int tree, unsigned k, const uint64_t key[2],
                           nets_jump_t *j)
{
    uint32_t i = nets->root[tree];

    j->node = 0;
    j->value = 0;
    j->matched = NETS_NO_MATCH;
    j->reach = 0;
    while (i) {
        const nets_node_t *n = &nets->node[i];
        unsigned common = key_common(n->key, key);
        if (common > k)
            common = k;
        if (common < n->bits && common < k) {
            j->reach = (uint8_t)(common + 1);
            return;
        }
        if (n->bits >= k) {
            /* decided by bits past the table; the loop looks at n again */
            j->node = i;
            return;
        }
        if (n->has_value) {
            j->value = n->value;
            j->matched = n->bits;
        }
        unsigned b = key_bit(key, n->bits);
        if (n->child[!b])
            j->reach = (uint8_t)(n->bits + 1);
        i = n->child[b];
    }
}

int geo_nets_finish(geo_nets_t *nets)
{
    int r;

    nets_jump_drop(nets);
    if ((r = nets_relayout(nets)) < 0)
        return r;
    for (int t = 0; t < 2; t++) {
        size_t count = nets->tree_count[t];
        unsigned k = 0;
        if (count < NETS_JUMP_MIN_COUNT)
            continue;
        /* about four networks per entry: a few nodes left to visit, for a
         * table of a few bytes per network */
        while (k < NETS_JUMP_MAX_BITS && ((size_t)4 << (k + 1)) <= count)
            k++;
        if (t == NETS_V4 && k > 32)
            k = 32;
        nets_jump_t *jump = malloc(((size_t)1 << k) * sizeof(*jump));
        if (!jump)
            return -ENOMEM;
        for (uint64_t e = 0; e < ((uint64_t)1 << k); e++) {
            uint64_t key[2] = {e << (64 - k), 0};
            nets_jump_fill(nets, t, k, key, &jump[e]);
        }
        nets->jump[t] = jump;
        nets->jump_bits[t] = k;
    }
    return 0;
}
