/*
 * geo_db: one MaxMind DB file, checked and decoded at load.
 *
 * Opening walks every node of the search tree once (MMDB_read_node), which
 * proves that each reachable record is a node, "empty" or a data offset
 * inside the data section, that the tree has no cycle and is no deeper than
 * the address, and collects the distinct data offsets. Each distinct record
 * is then decoded once, fully (so a corrupt byte anywhere in it is found at
 * load, not by a query) and through the configured field paths. The tree
 * is then converted into the structures lookups read (see "IPv4 tables"
 * and "IPv6 strides" below): an IPv4 address is one or two table reads, an
 * IPv6 one a 16-bit table and four bits a step with skips, each ending on
 * the index of a decoded record: no libmaxminddb call, no decoding and no
 * allocation per query, and nothing a lookup reads can be out of bounds
 * because the walk at load visited every node a lookup can reach.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <math.h>
#include <maxminddb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "geo/geo.h"
#include "util/file.h"

/* Records point past node_count + this many bytes of separator. */
#define GEO_DB_DATA_SEPARATOR 16

/* Children in geo_db.kids and walk: node indices are below GEO_LEAF. */
#define GEO_LEAF 0x80000000u  /* | the index of a decoded record */
#define GEO_EMPTY 0xFFFFFFFFu /* no record: the address is not in the database */
#define GEO_BAD 0xFFFFFFFEu   /* a record that points nowhere (unreachable at open) */

typedef struct geo_db_record {
    char continent[3];
    char country[3];
    char subdivision[4];
    bool has_coords;
    bool from_country;
    double lat, lon;
} geo_db_record_t;

struct geo_db {
    geo_v4_index_t v4; /* first: see geo_db_lookup_v4() in geo.h */
    MMDB_s mmdb;
    const uint8_t *tree; /* the search tree: node_count nodes of node_bytes */
    uint32_t node_count;
    unsigned record_bits; /* 24, 28 or 32 */
    unsigned node_bytes;
    unsigned ip_bits; /* 32 or 128 */
    /* Where IPv4 lookups start: the node (or record) reached by 96 zero bits
     * in an IPv6 tree, the root in an IPv4 tree. */
    uint32_t v4_start;
    /* IPv4 lookups as one or two table reads (see "IPv4 tables" below):
     * v4_l1 by the first 16 bits, then for a /16 split further, its
     * block in v4_l2 by the third byte; walk holds where the rare entries
     * that end on a node carry on down the tree. */
    uint32_t *v4_l1;
    uint32_t *v4_l2;
    uint32_t *walk;
    /* IPv6 lookups (IPv6 trees only, else NULL; see "IPv6 strides"
     * below): v6_l1 by the first 16 bits, then stride nodes (v6_next,
     * v6_bits) four bits at a time and skips over chains of nodes. */
    uint32_t *v6_l1;
    uint8_t *v6_l1_bits;
    uint32_t *v6_next;
    uint8_t *v6_bits;
    struct geo_v6_skip *v6_skips;
    size_t v6_strides, v6_n_skips;
    uint32_t v6_plain; /* node codes below are stride nodes, from here skips */
    /* The tree as lookups walk it: two children per node, each a node
     * index, GEO_LEAF | a record index, GEO_EMPTY or GEO_BAD. walk holds
     * values of the same kind. */
    uint32_t *kids;
    /* offset -> index into records; slots hold offset + 1 so 0 means empty */
    uint32_t *slot_key;
    uint32_t *slot_index;
    uint32_t slot_mask;
    geo_db_record_t *records;
    size_t n_records;
    size_t n_networks; /* tree records that point to data */
    char description[192];
    /* Failed lookups: the only thing in a geo_db that changes after open,
     * counted (relaxed; errors are rare) for the operator. */
    _Atomic uint64_t errors;
};

/* ------------------------------------------------------------ field paths */

static const conf_field_path_t geo_default_continent[] = {
    {{"continent", "code", NULL}}, {{"continent_code", NULL}}, {{"continent", NULL}}};
static const conf_field_path_t geo_default_country[] = {
    {{"country", "iso_code", NULL}},
    {{"country_code", NULL}},
    {{"registered_country", "iso_code", NULL}}};
static const conf_field_path_t geo_default_subdivision[] = {
    {{"subdivisions", "0", "iso_code", NULL}}};
static const conf_field_path_t geo_default_latitude[] = {
    {{"location", "latitude", NULL}}, {{"latitude", NULL}}};
static const conf_field_path_t geo_default_longitude[] = {
    {{"location", "longitude", NULL}}, {{"longitude", NULL}}};

#define GEO_N(a) (sizeof(a) / sizeof((a)[0]))

/* One field's list of paths, the configured one or the default. */
typedef struct geo_field {
    const char *name; /* for messages */
    const conf_field_path_t *paths;
    size_t n;
} geo_field_t;

static geo_field_t geo_field_pick(const char *name, const conf_field_path_t *conf_paths,
                                  size_t n_conf, const conf_field_path_t *def, size_t n_def)
{
    geo_field_t f = {name, def, n_def};
    if (conf_paths && n_conf) {
        f.paths = conf_paths;
        f.n = n_conf;
    }
    return f;
}

static void geo_path_text(const conf_field_path_t *p, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i <= CONF_MAX_FIELD_PATH && p->part[i] && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? "." : "", p->part[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static const char *geo_type_name(uint32_t type)
{
    switch (type) {
    case MMDB_DATA_TYPE_UTF8_STRING: return "string";
    case MMDB_DATA_TYPE_DOUBLE: return "double";
    case MMDB_DATA_TYPE_BYTES: return "bytes";
    case MMDB_DATA_TYPE_UINT16: return "uint16";
    case MMDB_DATA_TYPE_UINT32: return "uint32";
    case MMDB_DATA_TYPE_MAP: return "map";
    case MMDB_DATA_TYPE_INT32: return "int32";
    case MMDB_DATA_TYPE_UINT64: return "uint64";
    case MMDB_DATA_TYPE_UINT128: return "uint128";
    case MMDB_DATA_TYPE_ARRAY: return "array";
    case MMDB_DATA_TYPE_BOOLEAN: return "boolean";
    case MMDB_DATA_TYPE_FLOAT: return "float";
    default: return "value of unknown type";
    }
}

/* The decoding context of one record, for messages. */
typedef struct geo_decode {
    const char *file;
    uint32_t offset;
    diag_t *d;
} geo_decode_t;

/* Finds the first path of f that holds a value. Returns 1 with *value set,
 * 0 when no path does, -1 on a decode error (reported). */
static int geo_field_get(const geo_decode_t *c, MMDB_entry_s *entry, const geo_field_t *f,
                         MMDB_entry_data_s *value, const conf_field_path_t **which)
{
    for (size_t i = 0; i < f->n; i++) {
        int s = MMDB_aget_value(entry, value, f->paths[i].part);
        /* A path that leads nowhere (missing key, index past the end, a key
         * looked up in a string) just means this layout does not use it. */
        if (s == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR || s == MMDB_INVALID_LOOKUP_PATH_ERROR)
            continue;
        if (s != MMDB_SUCCESS) {
            char path[160];
            geo_path_text(&f->paths[i], path, sizeof(path));
            diag_error(c->d, c->file, 0, 0, "record at data offset %u: %s (%s): %s", c->offset,
                       f->name, path, MMDB_strerror(s));
            return -1;
        }
        if (!value->has_data)
            continue;
        *which = &f->paths[i];
        return 1;
    }
    return 0;
}

static void geo_field_type_error(const geo_decode_t *c, const geo_field_t *f,
                                 const conf_field_path_t *which, const MMDB_entry_data_s *v,
                                 const char *expected)
{
    char path[160];
    geo_path_text(which, path, sizeof(path));
    diag_error(c->d, c->file, 0, 0, "record at data offset %u: %s (%s) is a %s, expected %s",
               c->offset, f->name, path, geo_type_name(v->type), expected);
}

/* A code of min..max ASCII letters (digits too when digits is set),
 * upper-cased into out. An empty string counts as absent. */
static int geo_field_code(const geo_decode_t *c, MMDB_entry_s *entry, const geo_field_t *f,
                          size_t min, size_t max, bool digits, char *out)
{
    MMDB_entry_data_s v;
    const conf_field_path_t *which;
    int r = geo_field_get(c, entry, f, &v, &which);
    out[0] = 0;
    if (r <= 0)
        return r;
    if (v.type != MMDB_DATA_TYPE_UTF8_STRING) {
        geo_field_type_error(c, f, which, &v, "a string");
        return -1;
    }
    if (v.data_size == 0)
        return 0;
    bool ok = v.data_size >= min && v.data_size <= max;
    for (uint32_t i = 0; ok && i < v.data_size; i++) {
        unsigned char ch = (unsigned char)v.utf8_string[i];
        ok = (ch < 128 && isalpha(ch)) || (digits && ch < 128 && isdigit(ch));
    }
    if (!ok) {
        char path[160];
        geo_path_text(which, path, sizeof(path));
        diag_error(c->d, c->file, 0, 0,
                   "record at data offset %u: %s (%s) is \"%.*s\", expected %zu to %zu %s",
                   c->offset, f->name, path, (int)(v.data_size > 32 ? 32 : v.data_size),
                   v.utf8_string, min, max, digits ? "letters or digits" : "letters");
        return -1;
    }
    for (uint32_t i = 0; i < v.data_size; i++)
        out[i] = (char)toupper((unsigned char)v.utf8_string[i]);
    out[v.data_size] = 0;
    return 1;
}

/* A number in degrees: double, float, an integer, or a decimal string (flat
 * layouts converted from CSV). Returns 1, 0 (absent or "") or -1. */
static int geo_field_degrees(const geo_decode_t *c, MMDB_entry_s *entry, const geo_field_t *f,
                             double limit, double *out)
{
    MMDB_entry_data_s v;
    const conf_field_path_t *which;
    int r = geo_field_get(c, entry, f, &v, &which);
    if (r <= 0)
        return r;
    double x;
    switch (v.type) {
    case MMDB_DATA_TYPE_DOUBLE: x = v.double_value; break;
    case MMDB_DATA_TYPE_FLOAT: x = v.float_value; break;
    case MMDB_DATA_TYPE_INT32: x = v.int32; break;
    case MMDB_DATA_TYPE_UINT16: x = v.uint16; break;
    case MMDB_DATA_TYPE_UINT32: x = v.uint32; break;
    case MMDB_DATA_TYPE_UINT64: x = (double)v.uint64; break;
    case MMDB_DATA_TYPE_UTF8_STRING: {
        char buf[64], *end;
        if (v.data_size == 0)
            return 0;
        bool ok = v.data_size < sizeof(buf);
        if (ok) {
            memcpy(buf, v.utf8_string, v.data_size);
            buf[v.data_size] = 0;
            errno = 0;
            x = strtod(buf, &end);
            ok = !errno && end != buf && !*end;
        }
        if (!ok) {
            char path[160];
            geo_path_text(which, path, sizeof(path));
            diag_error(c->d, c->file, 0, 0,
                       "record at data offset %u: %s (%s) is \"%.*s\", not a number",
                       c->offset, f->name, path, (int)(v.data_size > 32 ? 32 : v.data_size),
                       v.utf8_string);
            return -1;
        }
        break;
    }
    default:
        geo_field_type_error(c, f, which, &v, "a number");
        return -1;
    }
    if (!isfinite(x) || x < -limit || x > limit) {
        char path[160];
        geo_path_text(which, path, sizeof(path));
        diag_error(c->d, c->file, 0, 0, "record at data offset %u: %s (%s) = %g is out of range",
                   c->offset, f->name, path, x);
        return -1;
    }
    *out = x;
    return 1;
}

typedef struct geo_fields {
    geo_field_t continent, country, subdivision, latitude, longitude;
} geo_fields_t;

static bool geo_decode_record(geo_db_t *db, const char *file, uint32_t offset,
                              const geo_fields_t *f, const geo_countries_t *countries,
                              geo_db_record_t *rec, diag_t *d)
{
    geo_decode_t c = {file, offset, d};
    MMDB_entry_s entry = {.mmdb = &db->mmdb, .offset = offset};

    /* Decoding the whole record finds bad bytes in fields we never read; a
     * database that is partly corrupt is not one to trust. */
    MMDB_entry_data_list_s *list = NULL;
    int s = MMDB_get_entry_data_list(&entry, &list);
    MMDB_free_entry_data_list(list);
    if (s != MMDB_SUCCESS) {
        diag_error(d, file, 0, 0, "record at data offset %u: %s", offset, MMDB_strerror(s));
        return false;
    }

    double lat = 0, lon = 0;
    int has_lat, has_lon;
    if (geo_field_code(&c, &entry, &f->continent, 2, 2, false, rec->continent) < 0 ||
        geo_field_code(&c, &entry, &f->country, 2, 2, false, rec->country) < 0 ||
        geo_field_code(&c, &entry, &f->subdivision, 1, 3, true, rec->subdivision) < 0 ||
        (has_lat = geo_field_degrees(&c, &entry, &f->latitude, 90, &lat)) < 0 ||
        (has_lon = geo_field_degrees(&c, &entry, &f->longitude, 180, &lon)) < 0)
        return false;
    if (has_lat != has_lon) {
        diag_error(d, file, 0, 0, "record at data offset %u: %s without %s", offset,
                   has_lat ? "latitude" : "longitude", has_lat ? "longitude" : "latitude");
        return false;
    }
    rec->has_coords = has_lat;
    rec->lat = lat;
    rec->lon = lon;

    const geo_country_t *ct = rec->country[0] ? geo_countries_find(countries, rec->country) : NULL;
    if (ct && !rec->continent[0]) {
        memcpy(rec->continent, ct->continent, sizeof(rec->continent));
        rec->from_country = true;
    }
    if (ct && !rec->has_coords) {
        rec->has_coords = true;
        rec->lat = ct->lat;
        rec->lon = ct->lon;
        rec->from_country = true;
    }
    return true;
}

/* ------------------------------------------------------------ the tree */

static inline uint32_t geo_be24(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* The left (bit 0) or right (bit 1) record of a node. */
static void geo_db_build_kids(geo_db_t *db);
static void geo_db_build_v4(geo_db_t *db);
static void geo_db_build_v6(geo_db_t *db);

static inline uint32_t geo_db_child(const geo_db_t *db, uint32_t node, unsigned bit)
{
    const uint8_t *p = db->tree + (size_t)node * db->node_bytes;
    switch (db->record_bits) {
    case 24:
        return geo_be24(p + 3 * bit);
    case 28:
        /* the middle byte holds the high nibble of each record */
        if (bit == 0)
            return (uint32_t)(p[3] & 0xf0) << 20 | geo_be24(p);
        return (uint32_t)(p[3] & 0x0f) << 24 | geo_be24(p + 4);
    default:
        p += 4 * bit;
        return (uint32_t)p[0] << 24 | geo_be24(p + 1);
    }
}

static uint32_t geo_hash(uint32_t offset) { return offset * 0x9e3779b1u; }

/* Returns the record index for offset, adding it when new. */
static uint32_t geo_db_slot(geo_db_t *db, uint32_t offset)
{
    if (db->n_records + 1 > (size_t)(db->slot_mask + 1) / 2) {
        /* keep the load under one half so probes stay short */
        uint32_t cap = (db->slot_mask + 1) * 2;
        uint32_t *key = calloc(cap, sizeof(*key)), *index = malloc(cap * sizeof(*index));
        if (!key || !index)
            abort(); /* load time */
        for (uint32_t i = 0; i <= db->slot_mask; i++) {
            if (!db->slot_key[i])
                continue;
            uint32_t j = geo_hash(db->slot_key[i] - 1) & (cap - 1);
            while (key[j])
                j = (j + 1) & (cap - 1);
            key[j] = db->slot_key[i];
            index[j] = db->slot_index[i];
        }
        free(db->slot_key);
        free(db->slot_index);
        db->slot_key = key;
        db->slot_index = index;
        db->slot_mask = cap - 1;
    }
    uint32_t j = geo_hash(offset) & db->slot_mask;
    while (db->slot_key[j]) {
        if (db->slot_key[j] == offset + 1)
            return db->slot_index[j];
        j = (j + 1) & db->slot_mask;
    }
    db->slot_key[j] = offset + 1;
    db->slot_index[j] = (uint32_t)db->n_records++;
    return db->slot_index[j];
}

static bool geo_db_find_record(const geo_db_t *db, uint32_t offset, uint32_t *index)
{
    uint32_t j = geo_hash(offset) & db->slot_mask;
    while (db->slot_key[j]) {
        if (db->slot_key[j] == offset + 1) {
            *index = db->slot_index[j];
            return true;
        }
        j = (j + 1) & db->slot_mask;
    }
    return false;
}

typedef struct geo_frame {
    uint32_t node;
    uint8_t side;   /* next child to look at: 0, 1, 2 = done */
    uint8_t height; /* of the tallest child seen so far */
    MMDB_search_node_s rec;
} geo_frame_t;

enum { GEO_NODE_NEW = 0, GEO_NODE_OPEN, GEO_NODE_DONE };

/* Counts a network and notes its data offset the first time it is seen. */
static void geo_walk_data(geo_db_t *db, uint32_t offset, uint32_t **offsets, size_t *cap)
{
    db->n_networks++;
    size_t before = db->n_records;
    uint32_t index = geo_db_slot(db, offset);
    if (db->n_records == before)
        return;
    if (index >= *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *offsets = realloc(*offsets, *cap * sizeof(**offsets));
        if (!*offsets)
            abort(); /* load time */
    }
    (*offsets)[index] = offset;
}

/* Checks one child record; pushes it when it is a node not seen yet. */
static bool geo_walk_child(geo_db_t *db, const char *file, geo_frame_t *stack, unsigned *sp,
                           uint8_t *state, uint8_t *height, uint32_t **offsets, size_t *cap,
                           diag_t *d)
{
    geo_frame_t *f = &stack[*sp - 1];
    unsigned side = f->side++;
    uint64_t record = side ? f->rec.right_record : f->rec.left_record;
    uint8_t type = side ? f->rec.right_record_type : f->rec.left_record_type;
    uint32_t offset = side ? f->rec.right_record_entry.offset : f->rec.left_record_entry.offset;

    if (record != geo_db_child(db, f->node, side)) {
        /* our reader and libmaxminddb's must agree, or lookups would lie */
        diag_error(d, file, 0, 0, "node %u: record %u reads differently (%llu)", f->node, side,
                   (unsigned long long)record);
        return false;
    }
    switch (type) {
    case MMDB_RECORD_TYPE_EMPTY:
        return true;
    case MMDB_RECORD_TYPE_DATA:
        if (record < (uint64_t)db->node_count + GEO_DB_DATA_SEPARATOR) {
            diag_error(d, file, 0, 0, "search tree is corrupt: node %u points into the "
                       "data section separator", f->node);
            return false;
        }
        geo_walk_data(db, offset, offsets, cap);
        return true;
    case MMDB_RECORD_TYPE_SEARCH_NODE:
        break;
    default:
        /* libmaxminddb calls a record of 0 invalid: it leads back to the root */
        if (record == 0)
            diag_error(d, file, 0, 0, "search tree is corrupt: node %u points back to the "
                       "root", f->node);
        else
            diag_error(d, file, 0, 0, "search tree is corrupt: node %u points past the data "
                       "section (record %llu)", f->node, (unsigned long long)record);
        return false;
    }

    uint32_t child = (uint32_t)record;
    if (state[child] == GEO_NODE_OPEN) {
        diag_error(d, file, 0, 0, "search tree is corrupt: node %u leads back to node %u",
                   f->node, child);
        return false;
    }
    if (state[child] == GEO_NODE_DONE) {
        /* reached again at another depth (aliases do that): still bounded? */
        if (*sp + height[child] > db->ip_bits) {
            diag_error(d, file, 0, 0, "search tree is corrupt: deeper than %u bits",
                       db->ip_bits);
            return false;
        }
        if (height[child] > f->height)
            f->height = height[child];
        return true;
    }
    if (*sp >= db->ip_bits) {
        diag_error(d, file, 0, 0, "search tree is corrupt: deeper than %u bits", db->ip_bits);
        return false;
    }
    geo_frame_t *next = &stack[(*sp)++];
    memset(next, 0, sizeof(*next));
    next->node = child;
    state[child] = GEO_NODE_OPEN;
    int s = MMDB_read_node(&db->mmdb, child, &next->rec);
    if (s != MMDB_SUCCESS) {
        diag_error(d, file, 0, 0, "node %u: %s", child, MMDB_strerror(s));
        return false;
    }
    return true;
}

/* Walks every node reachable from the root once; fills the offset hash.
 * *offsets gets the distinct data offsets in index order. */
static bool geo_db_walk(geo_db_t *db, const char *file, uint32_t **offsets, size_t *reached,
                        diag_t *d)
{
    bool ok = false;
    size_t cap = 0;
    uint8_t *state = calloc(db->node_count, 1);
    uint8_t *height = calloc(db->node_count, 1);
    geo_frame_t *stack = calloc(db->ip_bits + 1, sizeof(*stack));
    if (!state || !height || !stack)
        abort();
    *reached = 0;

    unsigned sp = 1;
    stack[0].node = 0;
    state[0] = GEO_NODE_OPEN;
    int s = MMDB_read_node(&db->mmdb, 0, &stack[0].rec);
    if (s != MMDB_SUCCESS) {
        diag_error(d, file, 0, 0, "node 0: %s", MMDB_strerror(s));
        goto done;
    }
    while (sp) {
        geo_frame_t *f = &stack[sp - 1];
        if (f->side < 2) {
            if (!geo_walk_child(db, file, stack, &sp, state, height, offsets, &cap, d))
                goto done;
            continue;
        }
        /* both children seen: the node's height is known */
        uint8_t h = (uint8_t)(f->height + 1);
        state[f->node] = GEO_NODE_DONE;
        height[f->node] = h;
        (*reached)++;
        sp--;
        if (sp && h > stack[sp - 1].height)
            stack[sp - 1].height = h;
    }
    ok = true;
done:
    free(state);
    free(height);
    free(stack);
    return ok;
}

static void geo_db_describe_init(geo_db_t *db)
{
    const char *type = db->mmdb.metadata.database_type;
    char built[32] = "unknown date";
    time_t when = (time_t)db->mmdb.metadata.build_epoch;
    struct tm tm;
    if (gmtime_r(&when, &tm))
        strftime(built, sizeof(built), "%Y-%m-%d", &tm);
    snprintf(db->description, sizeof(db->description), "%s, built %s, %zu networks, %zu records",
             type && *type ? type : "(no database_type)", built, db->n_networks,
             db->n_records);
}

bool geo_db_open(const char *path, const conf_geo_fields_t *fields,
                 const geo_countries_t *countries, geo_db_t **out, diag_t *d)
{
    *out = NULL;
    geo_db_t *db = calloc(1, sizeof(*db));
    uint32_t *offsets = NULL;
    if (!db)
        abort();
    /* libmaxminddb opens the file by name itself, with a blocking open.
     * So the file is opened and checked here first, the daemon's one way
     * (a regular file, an open that never waits), and libmaxminddb is
     * given /proc/self/fd/N: the very file checked, even if the path is
     * replaced meanwhile (say by a FIFO). Without /proc the path is given
     * after the check; a swap in that window can still block this load,
     * which is why shutdown never waits for a reload (see meridiand.c). */
    const char *why;
    int fd = file_open(path, &why);
    if (fd < 0) {
        diag_error(d, path, 0, 0, "cannot open the GeoIP database: %s", why);
        free(db);
        return false;
    }
    char self[32];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    int s = MMDB_open(self, MMDB_MODE_MMAP, &db->mmdb);
    if (s == MMDB_FILE_OPEN_ERROR && errno == ENOENT)
        s = MMDB_open(path, MMDB_MODE_MMAP, &db->mmdb);
    int err = errno;
    close(fd); /* the mapping stays */
    if (s != MMDB_SUCCESS) {
        if (s == MMDB_IO_ERROR || s == MMDB_FILE_OPEN_ERROR)
            diag_error(d, path, 0, 0, "%s: %s", MMDB_strerror(s), strerror(err));
        else
            diag_error(d, path, 0, 0, "%s", MMDB_strerror(s));
        free(db);
        return false;
    }

    const MMDB_metadata_s *meta = &db->mmdb.metadata;
    if (meta->binary_format_major_version != 2) {
        diag_error(d, path, 0, 0, "binary format %u.%u is not supported (2.x is)",
                   meta->binary_format_major_version, meta->binary_format_minor_version);
        goto fail;
    }
    if (meta->ip_version != 4 && meta->ip_version != 6) {
        diag_error(d, path, 0, 0, "invalid metadata: ip_version %u", meta->ip_version);
        goto fail;
    }
    if (meta->record_size != 24 && meta->record_size != 28 && meta->record_size != 32) {
        diag_error(d, path, 0, 0, "record size %u is not supported (24, 28 or 32)",
                   meta->record_size);
        goto fail;
    }
    if (meta->node_count == 0) {
        diag_error(d, path, 0, 0, "invalid metadata: the search tree has no node");
        goto fail;
    }
    if (meta->node_count >= GEO_LEAF) {
        diag_error(d, path, 0, 0, "the search tree has %u nodes: at most %u are supported",
                   meta->node_count, GEO_LEAF - 1);
        goto fail;
    }
    db->tree = db->mmdb.file_content;
    db->node_count = meta->node_count;
    db->record_bits = meta->record_size;
    db->node_bytes = meta->record_size / 4;
    db->ip_bits = meta->ip_version == 6 ? 128 : 32;
    db->slot_mask = 15;
    db->slot_key = calloc(db->slot_mask + 1, sizeof(*db->slot_key));
    db->slot_index = calloc(db->slot_mask + 1, sizeof(*db->slot_index));
    if (!db->slot_key || !db->slot_index)
        abort();

    size_t reached;
    if (!geo_db_walk(db, path, &offsets, &reached, d))
        goto fail;
    /* Unreachable nodes cannot mislead a lookup, but a writer never leaves
     * them: say so, since it hints at a damaged file. */
    if (reached != db->node_count)
        diag_warn(d, path, 0, 0, "%zu of %u search tree nodes cannot be reached",
                  (size_t)db->node_count - reached, db->node_count);

    db->v4_start = 0;
    if (db->ip_bits == 128)
        for (unsigned i = 0; i < 96 && db->v4_start < db->node_count; i++)
            db->v4_start = geo_db_child(db, db->v4_start, 0);
    geo_db_build_kids(db);
    geo_db_build_v4(db);
    if (db->ip_bits == 128)
        geo_db_build_v6(db);

    geo_fields_t f = {
        geo_field_pick("continent", fields ? fields->continent : NULL,
                       fields ? fields->n_continent : 0, geo_default_continent,
                       GEO_N(geo_default_continent)),
        geo_field_pick("country", fields ? fields->country : NULL,
                       fields ? fields->n_country : 0, geo_default_country,
                       GEO_N(geo_default_country)),
        geo_field_pick("subdivision", fields ? fields->subdivision : NULL,
                       fields ? fields->n_subdivision : 0, geo_default_subdivision,
                       GEO_N(geo_default_subdivision)),
        geo_field_pick("latitude", fields ? fields->latitude : NULL,
                       fields ? fields->n_latitude : 0, geo_default_latitude,
                       GEO_N(geo_default_latitude)),
        geo_field_pick("longitude", fields ? fields->longitude : NULL,
                       fields ? fields->n_longitude : 0, geo_default_longitude,
                       GEO_N(geo_default_longitude)),
    };
    db->records = calloc(db->n_records ? db->n_records : 1, sizeof(*db->records));
    if (!db->records)
        abort();
    for (size_t i = 0; i < db->n_records; i++)
        if (!geo_decode_record(db, path, offsets[i], &f, countries, &db->records[i], d))
            goto fail;
    free(offsets);
    geo_db_describe_init(db);
    *out = db;
    return true;
fail:
    free(offsets);
    geo_db_free(db);
    return false;
}

void geo_db_free(geo_db_t *db)
{
    if (!db)
        return;
    MMDB_close(&db->mmdb);
    free(db->v4_l1);
    free(db->v4_l2);
    free(db->v6_l1);
    free(db->v6_l1_bits);
    free(db->v6_next);
    free(db->v6_bits);
    free(db->v6_skips);
    free(db->walk);
    free(db->kids);
    free(db->slot_key);
    free(db->slot_index);
    free(db->records);
    free(db);
}

const char *geo_db_describe(const geo_db_t *db) { return db->description; }

/* ------------------------------------------------------------ lookups */

static void geo_location_clear(geo_location_t *loc, uint8_t prefix)
{
    memset(loc, 0, sizeof(*loc));
    loc->prefix = prefix;
}

/* Fills loc from the record an address ended on; prefix in the bits walked. */
static int geo_db_error(const geo_db_t *db)
{
    atomic_fetch_add_explicit(&((geo_db_t *)db)->errors, 1, memory_order_relaxed);
    return -EIO;
}

uint64_t geo_db_error_count(const geo_db_t *db)
{
    return atomic_load_explicit(&db->errors, memory_order_relaxed);
}

void geo_db_record_location(const geo_db_t *db, uint32_t record, uint8_t prefix,
                            geo_location_t *loc)
{
    const geo_db_record_t *r = &db->records[record];
    geo_location_clear(loc, prefix);
    loc->found = true;
    memcpy(loc->continent, r->continent, sizeof(loc->continent));
    memcpy(loc->country, r->country, sizeof(loc->country));
    memcpy(loc->subdivision, r->subdivision, sizeof(loc->subdivision));
    loc->has_coords = r->has_coords;
    loc->lat = r->lat;
    loc->lon = r->lon;
    loc->from_country = r->from_country;
}

size_t geo_db_record_count(const geo_db_t *db) { return db->n_records; }

size_t geo_db_country_only_count(const geo_db_t *db)
{
    size_t n = 0;
    for (size_t i = 0; i < db->n_records; i++) {
        const geo_db_record_t *r = &db->records[i];
        n += r->country[0] && (!r->continent[0] || !r->has_coords);
    }
    return n;
}

/* What a walk ended on, as geo_db_lookup() returns it. */
static int geo_db_result(const geo_db_t *db, uint32_t v, unsigned depth, uint32_t *record,
                         uint8_t *prefix)
{
    *prefix = (uint8_t)depth;
    if (v == GEO_EMPTY)
        return 0;
    if (v == GEO_BAD) {
        *prefix = 0;
        return geo_db_error(db);
    }
    *record = v & ~GEO_LEAF;
    return 1;
}

/* A raw tree record as kids holds it. */
static uint32_t geo_db_encode(const geo_db_t *db, uint32_t record)
{
    uint32_t index;
    if (record < db->node_count)
        return record;
    if (record == db->node_count)
        return GEO_EMPTY;
    if (record < db->node_count + GEO_DB_DATA_SEPARATOR ||
        !geo_db_find_record(db, record - db->node_count - GEO_DB_DATA_SEPARATOR, &index))
        return GEO_BAD;
    return GEO_LEAF | index;
}

/* Two 32-bit children a node: one load a level instead of unpacking 24-,
 * 28- or 32-bit records, and a leaf names its decoded record directly. */
static void geo_db_build_kids(geo_db_t *db)
{
    db->kids = malloc((size_t)db->node_count * 2 * sizeof(*db->kids));
    if (!db->kids)
        abort(); /* load time */
    for (uint32_t n = 0; n < db->node_count; n++) {
        db->kids[2 * (size_t)n] = geo_db_encode(db, geo_db_child(db, n, 0));
        db->kids[2 * (size_t)n + 1] = geo_db_encode(db, geo_db_child(db, n, 1));
    }
}

/* ------------------------------------------------------------ IPv4 tables */

/*
 * (The same as geo_v4_index_t in geo.h, whose l1 and l2 are these.)
 * An IPv4 lookup is v4_l1[first 16 bits], and when that /16 is split
 * further, a read of its block in v4_l2 by the third byte. An entry is
 *     code << GEO_V4_SHIFT | flags | depth (5 bits)
 * and is either final: the address's network is depth bits long and code
 * is 0 (not in the database), 1 (a record that points nowhere) or 2 + a
 * record index; or GEO_V4_TABLE (v4_l1 only): code is the block; or
 * GEO_V4_WALK: the walk goes on from walk[code] at depth bits, for the
 * networks longer than /24 (and the /16s past GEO_V4_L2_MAX). So an
 * address in a /24 or shorter network costs two reads and no tree walk.
 *
 * A block is the 256 entries, or (GEO_V4_RUNS) the runs of equal entries
 * when there are at most GEO_V4_RUNS_MAX: 16 bytes of last third bytes,
 * then the runs' entries, 64 bytes for up to 12 runs. Even a /16 holding
 * a single /24 has 9 runs (the /24, and the "none" beside it at /17 to
 * /24, each its own depth), and a database of networks spread over the
 * world splits a /16 for nearly each of them: 1 KiB tables made v4_l2
 * about 13 MB for 13,000 networks, read at random, where runs blocks make
 * it under 1 MB for a few more instructions per lookup.
 */
#define GEO_V4_CODE_MAX (UINT32_MAX >> GEO_V4_SHIFT)
/* 40 MiB of blocks at most, as much as the lists and tables they replace
 * could take. */
#define GEO_V4_L2_MAX ((size_t)40 << 20)

/* v (a kids value) reached after depth bits, as a v4 table entry. */
static uint32_t geo_v4_entry(geo_db_t *db, uint32_t v, unsigned depth, size_t *n_walk)
{
    uint32_t code;
    if (v < GEO_LEAF) {
        db->walk[*n_walk] = v;
        return (uint32_t)(*n_walk)++ << GEO_V4_SHIFT | GEO_V4_WALK | depth;
    }
    if (v == GEO_EMPTY)
        code = 0;
    else if (v == GEO_BAD)
        code = 1;
    else
        code = (v & ~GEO_LEAF) + 2;
    return code << GEO_V4_SHIFT | depth;
}

/* Walks the bits [depth, to) of the IPv4 address a (host order) from v. */
static uint32_t geo_v4_descend(const geo_db_t *db, uint32_t v, uint32_t a, unsigned *depth,
                               unsigned to)
{
    unsigned i = *depth;
    while (v < GEO_LEAF && i < to) {
        v = db->kids[2 * (size_t)v + (a >> (31 - i) & 1)];
        i++;
    }
    *depth = i;
    return v;
}

/* Appends the block of a /16 whose 256 entries are t to l2 (*used of *cap
 * uint32_t, blocks GEO_V4_BLOCK-aligned). Returns its v4_l1 entry. */
static uint32_t geo_v4_block(uint32_t **l2, size_t *used, size_t *cap, const uint32_t t[256])
{
    uint8_t last[16];
    uint32_t runs[GEO_V4_RUNS_MAX];
    size_t n = 0;
    for (unsigned b = 0; b < 256 && n <= GEO_V4_RUNS_MAX; b++) {
        if (b == 255 || t[b + 1] != t[b]) {
            if (n < GEO_V4_RUNS_MAX) {
                last[n] = (uint8_t)b;
                runs[n] = t[b];
            }
            n++;
        }
    }
    size_t size = n <= GEO_V4_RUNS_MAX ? sizeof(last) / sizeof(uint32_t) + n : 256;
    size = (size + GEO_V4_BLOCK - 1) / GEO_V4_BLOCK * GEO_V4_BLOCK;
    if (*used + size > *cap) {
        *cap = *cap ? *cap * 2 : 64 * 256;
        *l2 = realloc(*l2, *cap * sizeof(**l2));
        if (!*l2)
            abort(); /* load time */
    }
    uint32_t *block = *l2 + *used;
    uint32_t e = (uint32_t)(*used / GEO_V4_BLOCK) << GEO_V4_SHIFT | GEO_V4_TABLE;
    *used += size;
    if (n > GEO_V4_RUNS_MAX) {
        memcpy(block, t, 256 * sizeof(*t));
        return e;
    }
    memset(last + n, 255, sizeof(last) - n);
    memcpy(block, last, sizeof(last));
    memcpy(block + sizeof(last) / sizeof(uint32_t), runs, n * sizeof(*runs));
    memset(block + sizeof(last) / sizeof(uint32_t) + n, 0,
           (size - sizeof(last) / sizeof(uint32_t) - n) * sizeof(*block));
    return e | GEO_V4_RUNS;
}

/* The tree was checked at open (no cycles, nothing deeper than the address
 * length), so these walks end. */
static void geo_db_build_v4(geo_db_t *db)
{
    size_t used = 0, cap = 0, n_walk = 0, cap_walk = 256;
    uint32_t *l2 = NULL, t[256];
    uint32_t start = geo_db_encode(db, db->v4_start);
    db->v4_l1 = malloc(((size_t)1 << 16) * sizeof(*db->v4_l1));
    db->walk = malloc(cap_walk * sizeof(*db->walk));
    if (!db->v4_l1 || !db->walk)
        abort(); /* load time */
    if (db->n_records + 2 > GEO_V4_CODE_MAX) {
        /* far more records than any real database: walk every lookup from
         * where it starts, walk[0] */
        db->walk[n_walk++] = start;
        for (size_t p = 0; p < (size_t)1 << 16; p++)
            db->v4_l1[p] = GEO_V4_WALK;
        db->v4 = (geo_v4_index_t){.l1 = db->v4_l1, .l2 = db->v4_l2};
        return;
    }
    for (uint32_t p = 0; p < (uint32_t)1 << 16; p++) {
        unsigned depth = 0;
        uint32_t v = geo_v4_descend(db, start, p << 16, &depth, 16);
        if (n_walk + 256 > cap_walk) {
            cap_walk *= 2;
            db->walk = realloc(db->walk, cap_walk * sizeof(*db->walk));
            if (!db->walk)
                abort();
        }
        if (v >= GEO_LEAF || (used + 256) * sizeof(*l2) > GEO_V4_L2_MAX) {
            db->v4_l1[p] = geo_v4_entry(db, v, depth, &n_walk);
            continue;
        }
        for (uint32_t b = 0; b < 256; b++) {
            unsigned d = 16;
            uint32_t w = geo_v4_descend(db, v, p << 16 | b << 8, &d, 24);
            t[b] = geo_v4_entry(db, w, d, &n_walk);
        }
        db->v4_l1[p] = geo_v4_block(&l2, &used, &cap, t);
    }
    if (used) {
        /* 64-byte aligned, so that a runs block is one cache line */
        db->v4_l2 = aligned_alloc(GEO_V4_BLOCK * sizeof(*l2), used * sizeof(*l2));
        if (!db->v4_l2)
            abort();
        memcpy(db->v4_l2, l2, used * sizeof(*l2));
    }
    free(l2);
    db->v4 = (geo_v4_index_t){.l1 = db->v4_l1, .l2 = db->v4_l2};
}

/* ------------------------------------------------------------ IPv6 strides */

/*
 * An IPv6 lookup (not embedded IPv4) reads v6_l1[first 16 bits]: a kids
 * value, a leaf after v6_l1_bits of the same index, or the code of the tree
 * node reached at 16 bits. From there it goes on by node codes, each
 * standing for a tree node reached after a multiple of four bits:
 *   - below v6_plain, a stride node: GEO_V6_FANOUT entries of v6_next, one
 *     for each value of the next four bits, each a leaf reached after
 *     v6_bits of the same index (1 to 4) of the four, or the node code four
 *     bits on;
 *   - from v6_plain up (to GEO_LEAF), a skip, v6_skips[GEO_LEAF - 1 - code]:
 *     a chain of nodes that each have one node child, the other child being
 *     the same leaf all along (in sparse parts of a tree, the empty record
 *     around a network). An address that follows the chain's len bits goes
 *     on at the node code past it, or gets the leaf past it (a chain that
 *     ends on a node of two leaves, one the same as the others); one that
 *     leaves it gets that leaf, at the prefix where it left. len is at least
 *     GEO_V6_SKIP_MIN (shorter chains are strides), at most GEO_V6_SKIP_MAX
 *     (a longer chain is several skips), and a multiple of four unless a
 *     leaf follows, so strides stay on nibbles.
 * The IPv4 subtree (under ::/96, and 2001::/32 too in MaxMind files) is a
 * skip of no bits, code GEO_LEAF - 1: the lookup goes on by the IPv4
 * tables. Any other tree node reached more than once has one code, which is
 * why stride entries hold the bits they used of their stride and not prefix
 * lengths. So there are never more stride nodes and skips together than
 * tree nodes: a stride node (80 bytes) for every 15 nodes of a full subtree,
 * at most one for every fourth node of a short chain, and a skip (24 bytes)
 * for up to 60 bits of a longer one.
 */
#define GEO_V6_STRIDE 4
#define GEO_V6_FANOUT (1u << GEO_V6_STRIDE)
#define GEO_V6_SKIP_MIN 12 /* a skip costs about what two or three strides do */
#define GEO_V6_SKIP_MAX 60 /* shifts by len stay below 64 */

typedef struct geo_v6_skip {
    uint64_t path; /* the len bits to follow, from the top; the rest 0 */
    uint32_t miss; /* the leaf of an address that leaves the path */
    uint32_t next; /* the node code len bits on */
    uint8_t len;
    uint8_t shift; /* 64 - len: what is left of 64 bits once they are past */
} geo_v6_skip_t;

/* The codes given so far, and the stride nodes still to fill. */
typedef struct geo_v6_build {
    uint32_t *code_of; /* tree node -> its code + 1, 0 when none yet */
    uint32_t *node_of; /* stride node -> its tree node */
    size_t cap, cap_skips;
} geo_v6_build_t;

/* A new skip, zeroed: its index. */
static size_t geo_v6_skip_add(geo_db_t *db, geo_v6_build_t *b)
{
    if (db->v6_n_skips == b->cap_skips) {
        b->cap_skips = b->cap_skips ? b->cap_skips * 2 : 256;
        db->v6_skips = realloc(db->v6_skips, b->cap_skips * sizeof(*db->v6_skips));
        if (!db->v6_skips)
            abort(); /* load time */
    }
    memset(&db->v6_skips[db->v6_n_skips], 0, sizeof(*db->v6_skips));
    return db->v6_n_skips++;
}

/* The code of a tree node reached after a multiple of four bits, made when
 * new: a skip when a long enough chain starts there, else a stride node,
 * filled later by geo_db_build_v6(). */
static uint32_t geo_v6_code(geo_db_t *db, geo_v6_build_t *b, uint32_t node)
{
    if (b->code_of[node])
        return b->code_of[node] - 1;
    if (node == db->v4_start) {
        /* the IPv4 subtree, which the IPv4 tables already have: a skip of
         * no bits, made first, is the way there */
        geo_v6_skip_add(db, b);
        b->code_of[node] = GEO_LEAF;
        return GEO_LEAF - 1;
    }

    /* the chain from node, up to GEO_V6_SKIP_MAX bits, cut after the last
     * whole stride: len bits of path lead to the node end */
    uint64_t path = 0, len_path = 0;
    uint32_t v = node, miss = GEO_EMPTY, end = node;
    unsigned len = 0;
    for (unsigned c = 0; c < GEO_V6_SKIP_MAX;) {
        uint32_t left = db->kids[2 * (size_t)v], right = db->kids[2 * (size_t)v + 1];
        if (left < GEO_LEAF && right < GEO_LEAF)
            break;
        if (left >= GEO_LEAF && right >= GEO_LEAF) {
            /* a node of two leaves, one the chain's: the chain can end on the
             * other, at any length since no stride follows */
            if (c > 0 && (left == miss || right == miss)) {
                len = c + 1;
                len_path = left == miss ? path | (uint64_t)1 << (63 - c) : path;
                end = left == miss ? right : left;
            }
            break;
        }
        uint32_t leaf = left < GEO_LEAF ? right : left;
        if (c > 0 && leaf != miss)
            break;
        miss = leaf;
        if (right < GEO_LEAF)
            path |= (uint64_t)1 << (63 - c);
        v = left < GEO_LEAF ? left : right;
        if (++c % GEO_V6_STRIDE == 0) {
            len = c;
            len_path = path;
            end = v;
        }
    }

    uint32_t code;
    if (len >= GEO_V6_SKIP_MIN) {
        size_t k = geo_v6_skip_add(db, b);
        /* every tree node has one code at most: skips and stride nodes
         * together stay below node_count, so these never meet */
        code = GEO_LEAF - 1 - (uint32_t)k;
        b->code_of[node] = code + 1;
        /* a leaf, or a node: a chain at most 128 / 12 deep */
        uint32_t next = end >= GEO_LEAF ? end : geo_v6_code(db, b, end);
        db->v6_skips[k] = (geo_v6_skip_t){len_path, miss, next, (uint8_t)len, (uint8_t)(64 - len)};
        return code;
    }
    if (db->v6_strides == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->node_of = realloc(b->node_of, b->cap * sizeof(*b->node_of));
        db->v6_next = realloc(db->v6_next, b->cap * GEO_V6_FANOUT * sizeof(*db->v6_next));
        db->v6_bits = realloc(db->v6_bits, b->cap * GEO_V6_FANOUT * sizeof(*db->v6_bits));
        if (!b->node_of || !db->v6_next || !db->v6_bits)
            abort(); /* load time */
    }
    code = (uint32_t)db->v6_strides++;
    b->node_of[code] = node;
    b->code_of[node] = code + 1;
    return code;
}

/* Gives back what doubling left unused of an array of n elements. */
static void *geo_shrink(void *p, size_t n, size_t size)
{
    void *q = n ? realloc(p, n * size) : NULL;
    return q ? q : p;
}

/* The tree was checked at open (no cycles, nothing deeper than 128 bits),
 * so the loops end. */
static void geo_db_build_v6(geo_db_t *db)
{
    geo_v6_build_t b = {calloc(db->node_count, sizeof(*b.code_of)), NULL, 0, 0};
    db->v6_l1 = malloc(((size_t)1 << 16) * sizeof(*db->v6_l1));
    db->v6_l1_bits = malloc((size_t)1 << 16);
    if (!b.code_of || !db->v6_l1 || !db->v6_l1_bits)
        abort(); /* load time */
    /* the IPv4 subtree first: skip 0, code GEO_LEAF - 1 */
    if (db->v4_start < db->node_count)
        geo_v6_code(db, &b, db->v4_start);
    for (uint32_t p = 0; p < (uint32_t)1 << 16; p++) {
        unsigned depth = 0;
        uint32_t v = geo_v4_descend(db, 0, p << 16, &depth, 16);
        db->v6_l1[p] = v < GEO_LEAF ? geo_v6_code(db, &b, v) : v;
        db->v6_l1_bits[p] = (uint8_t)depth;
    }
    /* v6_strides grows as stride nodes find new nodes under them */
    for (size_t s = 0; s < db->v6_strides; s++) {
        uint32_t node = b.node_of[s];
        for (uint32_t bits = 0; bits < GEO_V6_FANOUT; bits++) {
            uint32_t v = node;
            unsigned used = 0;
            while (v < GEO_LEAF && used < GEO_V6_STRIDE) {
                v = db->kids[2 * (size_t)v + (bits >> (GEO_V6_STRIDE - 1 - used) & 1)];
                used++;
            }
            if (v < GEO_LEAF)
                v = geo_v6_code(db, &b, v); /* may move v6_next */
            db->v6_next[s * GEO_V6_FANOUT + bits] = v;
            db->v6_bits[s * GEO_V6_FANOUT + bits] = (uint8_t)used;
        }
    }
    db->v6_plain = GEO_LEAF - (uint32_t)db->v6_n_skips;
    db->v6_next = geo_shrink(db->v6_next, db->v6_strides * GEO_V6_FANOUT, sizeof(*db->v6_next));
    db->v6_bits = geo_shrink(db->v6_bits, db->v6_strides * GEO_V6_FANOUT, sizeof(*db->v6_bits));
    db->v6_skips = geo_shrink(db->v6_skips, db->v6_n_skips, sizeof(*db->v6_skips));
    free(b.code_of);
    free(b.node_of);
}

/* A final entry, as geo_db_lookup() returns it. */
static inline int geo_v4_final(const geo_db_t *db, uint32_t e, uint32_t *record,
                               uint8_t *prefix)
{
    uint32_t code = e >> GEO_V4_SHIFT;
    *prefix = (uint8_t)(e & GEO_V4_DEPTH);
    if (code >= 2) {
        *record = code - 2;
        return 1;
    }
    if (code == 0)
        return 0;
    *prefix = 0;
    return geo_db_error(db);
}

/* An entry that ends on a node: the networks past /24, walked. */
static int geo_db_lookup4_walk(const geo_db_t *db, uint32_t a, uint32_t e, uint32_t *record,
                               uint8_t *prefix)
{
    unsigned depth = e & GEO_V4_DEPTH;
    uint32_t v = geo_v4_descend(db, db->walk[e >> GEO_V4_SHIFT], a, &depth, 32);
    if (v < GEO_LEAF) /* out of bits: cannot happen after the checks at open */
        v = GEO_BAD;
    return geo_db_result(db, v, depth, record, prefix);
}

int geo_db_lookup_v4_rest(const geo_db_t *db, uint32_t a, uint32_t e, uint32_t *record,
                          uint8_t *prefix)
{
    if (e & GEO_V4_WALK)
        return geo_db_lookup4_walk(db, a, e, record, prefix);
    return geo_v4_final(db, e, record, prefix);
}

static inline uint32_t geo_load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t geo_load_be64(const uint8_t *p)
{
    return (uint64_t)geo_load_be32(p) << 32 | geo_load_be32(p + 4);
}

/* The rest of an IPv6 lookup that reached the IPv4 subtree after depth
 * bits (at most 96, the subtree being no more than 32 deep), through the
 * IPv4 tables, which give the same as walking it. */
static int geo_db_lookup6_v4(const geo_db_t *db, uint32_t a, unsigned depth, uint32_t *record,
                             uint8_t *prefix)
{
    int r = geo_db_lookup_v4(db, a, record, prefix);
    if (r >= 0)
        *prefix = (uint8_t)(*prefix + depth);
    return r;
}

/* IPv6 (not embedded IPv4) in an IPv6 tree: v6_l1, then stride nodes
 * through each 64-bit half of the address in turn, and skips. Out of line,
 * so that the IPv4 path through geo_db_lookup() saves no registers. */
static __attribute__((noinline)) int geo_db_lookup6(const geo_db_t *db, const uint8_t addr[16],
                                                    uint32_t *record, uint8_t *prefix)
{
    size_t at = (size_t)addr[0] << 8 | addr[1];
    uint32_t v = db->v6_l1[at];
    if (v >= GEO_LEAF)
        return geo_db_result(db, v, db->v6_l1_bits[at], record, prefix);
    const uint64_t hi = geo_load_be64(addr), lo = geo_load_be64(addr + 8);
    const uint32_t plain = db->v6_plain, *next = db->v6_next;
    uint64_t half = hi << 16; /* the bits from i on, in this half */
    unsigned i = 16;
    for (;;) {
        if (v >= plain) {
            if (v >= GEO_LEAF)
                return geo_db_result(db, v, i - GEO_V6_STRIDE + db->v6_bits[at], record, prefix);
            const geo_v6_skip_t *k = &db->v6_skips[v ^ (GEO_LEAF - 1)]; /* GEO_LEAF - 1 - v */
            /* the 64 bits from i on, zeros past the end */
            uint64_t from = i < 64 ? half | lo >> (64 - i) : half;
            if (!k->len)
                return geo_db_lookup6_v4(db, (uint32_t)(from >> 32), i, record, prefix);
            uint64_t off = from ^ k->path;
            if (off >> k->shift)
                return geo_db_result(db, k->miss, i + (unsigned)__builtin_clzll(off) + 1, record,
                                     prefix);
            unsigned to = i + k->len;
            v = k->next;
            if (v >= GEO_LEAF)
                return geo_db_result(db, v, to, record, prefix);
            half = from << k->len;
            if ((i ^ to) & ~63u) {
                /* into the second half: from has too few of its bits */
                if (to >= 128) /* out of bits: cannot happen after the checks at open */
                    break;
                half = lo << (to - 64);
            }
            i = to;
            continue;
        }
        at = (size_t)v * GEO_V6_FANOUT + (size_t)(half >> (64 - GEO_V6_STRIDE));
        v = next[at];
        half <<= GEO_V6_STRIDE;
        i += GEO_V6_STRIDE;
        if (i % 64 == 0) {
            if (i == 128 && v < GEO_LEAF) /* as above */
                break;
            half = lo;
        }
    }
    return geo_db_result(db, GEO_BAD, i, record, prefix);
}

static const uint8_t geo_v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* ::ffff:0:0/96 and 2002::/16: embedded IPv4 addresses are found through
 * the IPv4 tree whether or not the database aliases these ranges
 * (ip-location-db does not); the prefix is given back in IPv6 bits. Out of
 * line, so that geo_db_lookup() only ever jumps on. */
static __attribute__((noinline)) int geo_db_lookup_embedded(const geo_db_t *db,
                                                            const uint8_t addr[16],
                                                            uint32_t *record, uint8_t *prefix)
{
    if (addr[0] == 0) {
        int r = geo_db_lookup_v4(db, geo_load_be32(addr + 12), record, prefix);
        *prefix = (uint8_t)(*prefix + 96);
        return r;
    }
    int r = geo_db_lookup_v4(db, geo_load_be32(addr + 2), record, prefix);
    /* a 6to4 site is a /48; longer prefixes say nothing more */
    *prefix = (uint8_t)(*prefix + 16 > 48 ? 48 : *prefix + 16);
    return r;
}

int geo_db_lookup(const geo_db_t *db, int family, const uint8_t addr[16], uint32_t *record,
                  uint8_t *prefix)
{
    if (family == AF_INET)
        return geo_db_lookup_v4(db, geo_load_be32(addr), record, prefix);
    *prefix = 0;
    if (family != AF_INET6)
        return -EINVAL;
    if (memcmp(addr, geo_v4mapped, sizeof(geo_v4mapped)) == 0 ||
        (addr[0] == 0x20 && addr[1] == 0x02))
        return geo_db_lookup_embedded(db, addr, record, prefix);
    if (db->ip_bits == 32)
        return 0;
    return geo_db_lookup6(db, addr, record, prefix);
}

int geo_db_locate(const geo_db_t *db, int family, const uint8_t addr[16], geo_location_t *loc)
{
    uint32_t record;
    uint8_t prefix;
    int r = geo_db_lookup(db, family, addr, &record, &prefix);
    if (r > 0) {
        geo_db_record_location(db, record, prefix, loc);
        return 0;
    }
    geo_location_clear(loc, prefix);
    return r;
}
