#include "config.h"

#include "snapshot.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <urcu.h>

#include "zone/zone_source.h"

static snapshot_t *current_snapshot;

/* The country table, the GeoIP database and every service's policy. */
static bool snapshot_load_geo(snapshot_t *s, health_t *health, diag_t *d)
{
    const conf_t *conf = s->conf;
    bool ok = true;
    if (conf->geoip.database) {
        const char *table = conf->geoip.countries;
        if (!table && access(SNAPSHOT_DEFAULT_COUNTRIES, R_OK) != 0)
            diag_warn(d, conf->geoip.conf_file, conf->geoip.conf_line, 0,
                      "no country table at %s: databases that give only a country "
                      "will give no continent or coordinates",
                      SNAPSHOT_DEFAULT_COUNTRIES);
        else if (!geo_countries_load(table ? table : SNAPSHOT_DEFAULT_COUNTRIES, &s->countries,
                                     d))
            return false;
        if (!geo_db_open(conf->geoip.database, &conf->geoip.fields, s->countries, &s->geo, d))
            return false;
    }
    s->services = calloc(conf->n_services ? conf->n_services : 1, sizeof(*s->services));
    if (!s->services)
        abort();
    for (size_t i = 0; i < conf->n_services; i++) {
        ok &= service_build(conf, i, health, &s->services[i], d);
        if (s->services[i])
            service_bind_geo(s->services[i], s->geo);
    }
    return ok;
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

bool snapshot_load(const char *conf_path, health_t *health, snapshot_t **out, diag_t *d)
{
    snapshot_t *s = calloc(1, sizeof(*s));
    zone_source_t **sources = NULL;
    size_t n_sources = 0;
    bool ok = false;
    if (!s)
        abort();
    *out = NULL;
    if (!conf_load(conf_path, &s->conf, d))
        goto fail;

    sources = calloc(s->conf->n_zones ? s->conf->n_zones : 1, sizeof(*sources));
    if (!sources)
        abort();
    bool zones_ok = true;
    for (size_t i = 0; i < s->conf->n_zones; i++) {
        const conf_zone_t *z = &s->conf->zones[i];
        zone_source_t *src;
        if (!zone_source_load(z->file, z->origin, &src, d)) {
            zones_ok = false;
            continue;
        }
        sources[n_sources++] = src;
        s->n_records += src->count;
    }
    if (!zones_ok)
        goto fail;
    if (!snapshot_load_geo(s, health, d))
        goto fail;
    zone_dynamic_t *dyn = calloc(s->conf->n_services ? s->conf->n_services : 1, sizeof(*dyn));
    if (!dyn)
        abort();
    for (size_t i = 0; i < s->conf->n_services; i++) {
        dyn[i].name = s->services[i]->name;
        dyn[i].data = s->services[i];
        dyn[i].conf_file = s->conf->services[i].conf_file;
        dyn[i].conf_line = s->conf->services[i].conf_line;
    }
    bool built = zone_db_build(sources, n_sources, dyn, s->conf->n_services, &s->db, d);
    free(dyn);
    if (!built)
        goto fail;

    s->query.max_udp_size = s->conf->max_udp_size;
    s->query.nsid = (const uint8_t *)s->conf->nsid;
    s->query.nsid_len = s->conf->nsid_len;
    s->query.chaos = s->conf->chaos;
    s->query.version = s->conf->chaos_version ? s->conf->chaos_version : "Meridian " VERSION;
    s->query.identity = s->conf->chaos_identity ? s->conf->chaos_identity : "meridian";
    s->query.geo = s->geo;
    ok = true;
fail:
    for (size_t i = 0; i < n_sources; i++)
        zone_source_free(sources[i]);
    free(sources);
    if (!ok) {
        snapshot_free(s);
        return false;
    }
    *out = s;
    return true;
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

void snapshot_publish(snapshot_t *s)
{
    snapshot_t *old = rcu_xchg_pointer(&current_snapshot, s);
    synchronize_rcu();
    snapshot_free(old);
}

const snapshot_t *snapshot_current(void) { return rcu_dereference(current_snapshot); }
