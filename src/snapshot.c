#include "config.h"

#include "snapshot.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <urcu.h>

#include "util/file.h"
#include "zone/zone_source.h"

snapshot_t *snapshot_current_ptr;

/* Where the country table is when the config does not name one: where
 * `make install` puts it, else -- a daemon run from its build tree -- the
 * source tree's geoip/countries.csv, found from the program's own path
 * (built in the tree, or in a directory such as build/ inside it). Returns
 * the installed path or buf (which holds the one found); *found is false
 * when there is none (the installed path is returned, for messages). */
static const char *snapshot_find_countries(char *buf, size_t size, bool *found)
{
    static const char installed[] = SNAPSHOT_DEFAULT_COUNTRIES;
    *found = true;
    if (access(installed, R_OK) == 0)
        return installed;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *dir = file_dirname(exe);
        /* The file name apart: the installed path stays the only one in
         * the binary (systemd.sh finds it there). */
        static const char *const beside[] = {"geoip", "../geoip"};
        for (size_t i = 0; i < sizeof(beside) / sizeof(beside[0]); i++) {
            if ((size_t)snprintf(buf, size, "%s/%s/%s", dir, beside[i], "countries.csv") <
                    size &&
                access(buf, R_OK) == 0) {
                free(dir);
                return buf;
            }
        }
        free(dir);
    }
    *found = false;
    return installed;
}

/* The country table and the GeoIP database. A database whose records give
 * only a country needs the table for continents and coordinates: without
 * one, routing by either would silently send those clients to the
 * default, so that is an error, not a warning. */
static bool snapshot_load_geo(snapshot_t *s, diag_t *d)
{
    const conf_t *conf = s->conf;
    if (!conf->geoip.database)
        return true;
    char buf[PATH_MAX];
    bool found = false;
    const char *table = conf->geoip.countries;
    const char *looked = table ? table : snapshot_find_countries(buf, sizeof(buf), &found);
    if (!table && found)
        table = looked;
    if (table && !geo_countries_load(table, &s->countries, d))
        return false;
    if (!geo_db_open(conf->geoip.database, &conf->geoip.fields, s->countries, &s->geo, d))
        return false;
    size_t partial = table ? 0 : geo_db_country_only_count(s->geo);
    if (partial) {
        diag_error(d, conf->geoip.conf_file, conf->geoip.conf_line, 0,
                   "geoip: no country table at %s: %zu of the %zu records of %s give only a "
                   "country, so their clients would have no continent or coordinates (set "
                   "geoip.countries)",
                   looked, partial, geo_db_record_count(s->geo), conf->geoip.database);
        return false;
    }
    return true;
}

service_t *snapshot_service(const snapshot_t *s, const char *name)
{
    size_t len = strlen(name);
    if (len && name[len - 1] == '.')
        len--;
    for (size_t i = 0; i < s->conf->n_services; i++) {
        const char *have = s->conf->services[i].name;
        size_t hlen = strlen(have);
        if (hlen && have[hlen - 1] == '.')
            hlen--;
        if (hlen == len && strncasecmp(have, name, len) == 0)
            return s->services[i];
    }
    return NULL;
}

/* A snapshot on its way: what snapshot_build_read() loaded, until
 * snapshot_build_finish() compiles it. */
struct snapshot_build {
    snapshot_t *s;
    zone_source_t **sources;
    size_t n_sources;
};

void snapshot_build_free(snapshot_build_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_sources; i++)
        zone_source_free(b->sources[i]);
    free(b->sources);
    snapshot_free(b->s);
    free(b);
}

bool snapshot_build_read(const char *conf_path, snapshot_build_t **out, diag_t *d)
{
    snapshot_build_t *b = calloc(1, sizeof(*b));
    if (!b || !(b->s = calloc(1, sizeof(*b->s))))
        abort();
    snapshot_t *s = b->s;
    *out = NULL;
    if (!conf_load(conf_path, &s->conf, d))
        goto fail;

    b->sources = calloc(s->conf->n_zones ? s->conf->n_zones : 1, sizeof(*b->sources));
    if (!b->sources)
        abort();
    bool zones_ok = true;
    for (size_t i = 0; i < s->conf->n_zones; i++) {
        const conf_zone_t *z = &s->conf->zones[i];
        zone_source_t *src;
        if (!zone_source_load(z->file, z->origin, &src, d)) {
            zones_ok = false;
            continue;
        }
        b->sources[b->n_sources++] = src;
        s->n_records += src->count;
    }
    if (!zones_ok || !snapshot_load_geo(s, d))
        goto fail;
    *out = b;
    return true;
fail:
    snapshot_build_free(b);
    return false;
}

bool snapshot_build_services(snapshot_build_t *b, health_t *health, diag_t *d)
{
    snapshot_t *s = b->s;
    const conf_t *conf = s->conf;
    bool ok = true;
    s->services = calloc(conf->n_services ? conf->n_services : 1, sizeof(*s->services));
    if (!s->services)
        abort();
    for (size_t i = 0; i < conf->n_services; i++)
        ok &= service_build(conf, i, health, &s->services[i], d);
    return ok;
}

bool snapshot_build_finish(snapshot_build_t *b, snapshot_t **out, diag_t *d)
{
    snapshot_t *s = b->s;
    *out = NULL;
    zone_dynamic_t *dyn = calloc(s->conf->n_services ? s->conf->n_services : 1, sizeof(*dyn));
    if (!dyn)
        abort();
    for (size_t i = 0; i < s->conf->n_services; i++) {
        /* a decision per GeoIP record: compile-stage work, off the loop */
        service_bind_geo(s->services[i], s->geo);
        dyn[i].name = s->services[i]->name;
        dyn[i].data = s->services[i];
        dyn[i].conf_file = s->conf->services[i].conf_file;
        dyn[i].conf_line = s->conf->services[i].conf_line;
    }
    bool built =
        zone_db_build_consume(b->sources, b->n_sources, dyn, s->conf->n_services, &s->db, d);
    free(dyn);
    b->n_sources = 0; /* freed by the build */
    if (!built) {
        snapshot_build_free(b);
        return false;
    }
    s->query.max_udp_size = s->conf->max_udp_size;
    s->query.nsid = (const uint8_t *)s->conf->nsid;
    s->query.nsid_len = s->conf->nsid_len;
    s->query.chaos = s->conf->chaos;
    s->query.version = s->conf->chaos_version ? s->conf->chaos_version : "Meridian " VERSION;
    s->query.identity = s->conf->chaos_identity ? s->conf->chaos_identity : "meridian";
    s->query.geo = s->geo;
    b->s = NULL;
    snapshot_build_free(b);
    *out = s;
    return true;
}

bool snapshot_load(const char *conf_path, health_t *health, snapshot_t **out, diag_t *d)
{
    snapshot_build_t *b;
    *out = NULL;
    if (!snapshot_build_read(conf_path, &b, d))
        return false;
    if (!snapshot_build_services(b, health, d)) {
        snapshot_build_free(b);
        return false;
    }
    return snapshot_build_finish(b, out, d);
}

void snapshot_free(snapshot_t *s)
{
    if (!s)
        return;
    zone_db_free(s->db);
    if (s->services)
        for (size_t i = 0; i < s->conf->n_services; i++)
            service_free(s->services[i]);
    free(s->services);
    geo_db_free(s->geo);
    geo_countries_free(s->countries);
    conf_free(s->conf);
    free(s);
}

snapshot_t *snapshot_swap(snapshot_t *s) { return rcu_xchg_pointer(&snapshot_current_ptr, s); }

void snapshot_retire(snapshot_t *old)
{
    synchronize_rcu();
    snapshot_free(old);
}

void snapshot_publish(snapshot_t *s) { snapshot_retire(snapshot_swap(s)); }

