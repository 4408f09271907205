#include "config.h"

#include "snapshot.h"

#include <stdlib.h>
#include <urcu.h>

#include "zone/zone_source.h"

static snapshot_t *current_snapshot;

bool snapshot_load(const char *conf_path, snapshot_t **out, diag_t *d)
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
    if (!zone_db_build(sources, n_sources, &s->db, d))
        goto fail;

    s->query.max_udp_size = s->conf->max_udp_size;
    s->query.nsid = (const uint8_t *)s->conf->nsid;
    s->query.nsid_len = s->conf->nsid_len;
    s->query.chaos = s->conf->chaos;
    s->query.version = s->conf->chaos_version ? s->conf->chaos_version : "Meridian " VERSION;
    s->query.identity = s->conf->chaos_identity ? s->conf->chaos_identity : "meridian";
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
