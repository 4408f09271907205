#include "config.h"

#include "fuzz_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FUZZ_SRCDIR
#error "FUZZ_SRCDIR (the source tree, for geoip/) must be defined"
#endif

static char scratch[64];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_scratch(void)
{
    nftw(scratch, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

char *fuzz_path(const char *name)
{
    if (!scratch[0]) {
        snprintf(scratch, sizeof(scratch), "/tmp/meridian-fuzz.XXXXXX");
        if (!mkdtemp(scratch))
            abort();
        atexit(remove_scratch);
    }
    char *p = malloc(strlen(scratch) + strlen(name) + 2);
    if (!p)
        abort();
    sprintf(p, "%s/%s", scratch, name);
    return p;
}

void fuzz_write(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, (const char *)data + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            abort();
        done += (size_t)n;
    }
    close(fd);
}

static const char zone_text[] =
    "$ORIGIN example.com.\n"
    "$TTL 300\n"
    "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "  NS ns1\n"
    "  MX 10 mail\n"
    "  CAA 0 issue \"\"\n"
    "  TXT \"\"\n"
    "ns1 A 192.0.2.53\n"
    "mail AAAA 2001:db8::25\n"
    "svc HTTPS 1 . alpn=\"h2,h3\" ipv4hint=192.0.2.1\n"
    "alias CNAME geo\n"
    "sub NS ns.sub\n"
    "ns.sub A 192.0.2.99\n";

static const char nets_text[] = "192.0.2.0/24 ap-south\n2001:db8::/32 eu-west us-east\n";

static char *conf_path;

const char *fuzz_world_conf(void) { return conf_path; }

snapshot_t *fuzz_world(health_t *health)
{
    char *zone = fuzz_path("example.com.zone"), *nets = fuzz_path("world.nets");
    fuzz_write(zone, zone_text, sizeof(zone_text) - 1);
    fuzz_write(nets, nets_text, sizeof(nets_text) - 1);
    char conf[4096];
    int n = snprintf(conf, sizeof(conf),
                     "server:\n"
                     "  listen: [\"127.0.0.1:5353\"]\n"
                     "  nsid: fuzz\n"
                     "zones:\n"
                     "  - %s\n"
                     "geoip:\n"
                     "  database: %s/geoip/demo.mmdb\n"
                     "  countries: %s/geoip/countries.csv\n"
                     "datacenters:\n"
                     "  eu-west: {location: [53.35, -6.26]}\n"
                     "  us-east: {location: [38.95, -77.45]}\n"
                     "  ap-south: {location: [1.29, 103.85]}\n"
                     "services:\n"
                     "  geo.example.com:\n"
                     "    ttl: 300\n"
                     "    policy: nearest\n"
                     "    pools:\n"
                     "      eu-west: [192.0.2.10, \"2001:db8::10\"]\n"
                     "      us-east: [198.51.100.10]\n"
                     "      ap-south: [203.0.113.10, \"2001:db8:c000::10\"]\n"
                     "  map.example.com:\n"
                     "    ttl: 60\n"
                     "    policy: map\n"
                     "    networks_file: %s\n"
                     "    map:\n"
                     "      countries: {GB: [eu-west, us-east], AU: [ap-south]}\n"
                     "      continents: {EU: [eu-west], NA: [us-east, eu-west]}\n"
                     "      default: [us-east, eu-west, ap-south]\n"
                     "    pools: {eu-west: [192.0.2.20], us-east: [198.51.100.20],\n"
                     "            ap-south: {cname: ap.example.net.}}\n",
                     zone, FUZZ_SRCDIR, FUZZ_SRCDIR, nets);
    if (n < 0 || (size_t)n >= sizeof(conf))
        abort();
    conf_path = fuzz_path("meridian.yaml");
    fuzz_write(conf_path, conf, (size_t)n);
    free(zone);
    free(nets);
    diag_t d;
    diag_init(&d);
    snapshot_t *s = NULL;
    if (!snapshot_load(conf_path, health, &s, &d))
        abort();
    diag_free(&d);
    return s;
}
