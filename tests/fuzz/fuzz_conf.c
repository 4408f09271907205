/*
 * libFuzzer target for the config parser: any bytes must either load into
 * a config whose values are all in range or fail with at least one
 * message, without crashing or leaking. The first line is also fed to the
 * address parser, which listen: and later control: rely on.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What conf_load promises its callers about a config it accepted. */
static void check_config(const conf_t *conf)
{
    if (conf->n_listeners == 0 || !conf->listeners)
        abort();
    for (size_t i = 0; i < conf->n_listeners; i++)
        if (!conf->listeners[i].text || conf->listeners[i].addrlen == 0 ||
            conf->listeners[i].addrlen > sizeof(conf->listeners[i].addr))
            abort();
    if (conf->workers > 256 || conf->max_udp_size < 512 || conf->max_udp_size > 65535)
        abort();
    if (conf->tcp_idle_timeout_ms < 1 || conf->tcp_idle_timeout_ms > 3600000)
        abort();
    /* 0: not set, the start fits the default to the descriptor limit */
    if (conf->tcp_max_connections > 1000000)
        abort();
    if (conf->tcp_max_pipeline < 1 || conf->tcp_max_pipeline > 65535)
        abort();
    if ((conf->nsid == NULL) != (conf->nsid_len == 0) || conf->nsid_len > 255)
        abort();
    if (!conf->chaos_version || strlen(conf->chaos_version) > 255 || !conf->chaos_identity ||
        strlen(conf->chaos_identity) > 255)
        abort();
    if (conf->log_level < LOG_LEVEL_ERR || conf->log_level > LOG_LEVEL_DEBUG)
        abort();
    for (size_t i = 0; i < conf->n_zones; i++) {
        const conf_zone_t *zone = &conf->zones[i];
        /* the config's directory is absolute, so every zone path is */
        if (!zone->file || zone->file[0] != '/' || zone->conf_file != conf->path)
            abort();
        if (zone->origin && (zone->origin[0] == '\0' || strlen(zone->origin) > 255 ||
                             zone->origin[strlen(zone->origin) - 1] != '.'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    char line[80];
    size_t n;
    diag_t d;
    conf_t *conf = (conf_t *)1;
    bool ok;

    diag_init(&d);
    d.quiet = true;
    /* a directory that does not exist: no dependence on the filesystem */
    ok = conf_load_buffer("/fuzz/meridian.yaml", (const char *)data, size, &conf, &d);
    if (ok != (conf != NULL) || ok != (d.errors == 0))
        abort();
    if (ok)
        check_config(conf);
    conf_free(conf);
    diag_free(&d);

    n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
    memcpy(line, data, n);
    line[n] = '\0';
    line[strcspn(line, "\n")] = '\0';
    if (conf_parse_sockaddr(line, 53, &ss, &len) == 0 &&
        ((ss.ss_family != AF_INET && ss.ss_family != AF_INET6) || len > sizeof(ss)))
        abort();
    return 0;
}
