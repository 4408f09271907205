/*
 * conf: the YAML config file (parsed with libyaml).
 *
 * conf_load() reads the whole file, reports every problem to the diag as
 * "file:line:column: message" and returns false if any was an error. The
 * result is immutable after loading; relative paths inside it (zone files)
 * are resolved against the directory of the config file. Unknown keys are
 * errors, so a typo never silently changes behaviour. Later modules (geo,
 * health, control) add their own sections to the same file.
 */
#ifndef MERIDIAN_CONF_CONF_H
#define MERIDIAN_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/diag.h"

#define CONF_DEFAULT_PORT 53
#define CONF_DEFAULT_MAX_UDP_SIZE 1232
#define CONF_DEFAULT_TCP_IDLE_MS 10000
/* 0: not given; the server takes 1024, or fewer if the descriptor limit
 * does not leave room for them (an explicit value must fit). */
#define CONF_DEFAULT_TCP_MAX_CONNS 0
#define CONF_DEFAULT_TCP_MAX_PIPELINE 100
#define CONF_DEFAULT_TCP_MAX_PER_ADDRESS 64
#define CONF_DEFAULT_TCP_MAX_PER_IPV6_64 128
#define CONF_DEFAULT_TCP_MAX_QUEUED_BYTES (128u << 10)
#define CONF_DEFAULT_TCP_MAX_QUEUED_TOTAL ((uint64_t)64 << 20)
#define CONF_DEFAULT_TCP_WRITE_TIMEOUT_MS 5000
#define CONF_DEFAULT_CONTROL "/run/meridian/control.sock"
/* NSID payload limit: with a 255-byte name the answer still fits 512 bytes. */
#define CONF_MAX_NSID 128

typedef struct conf_listener {
    char *text; /* as written: "127.0.0.1:5353", "[::1]:53" */
    struct sockaddr_storage addr;
    socklen_t addrlen;
} conf_listener_t;

typedef struct conf_zone {
    char *file;   /* resolved path */
    char *origin; /* absolute, final dot added; NULL: from the file name minus ".zone" */
    const char *conf_file; /* where it was declared, for messages */
    unsigned conf_line;
} conf_zone_t;

/* ---- geo routing (geoip:, datacenters:, services:) ---- */

#define CONF_MAX_DATACENTERS 64 /* per config; a data-center order fits a uint8_t */
#define CONF_MAX_FIELD_PATH 8   /* components of a GeoIP field path */

/* An IPv4 or IPv6 network ("192.0.2.0/24", "2001:db8::/32"; a bare address
 * is a full-length prefix). Bits past the prefix are zero. */
typedef struct conf_network {
    uint8_t family; /* AF_INET or AF_INET6 */
    uint8_t prefix;
    uint8_t addr[16]; /* IPv4 in the first 4 bytes */
} conf_network_t;

/* An ordered list of data centers, as indices into conf_t.datacenters. */
typedef struct conf_dc_order {
    uint8_t *dc;
    size_t n;
} conf_dc_order_t;

typedef struct conf_datacenter {
    char *name;
    bool has_location;
    double lat, lon;    /* degrees; lat -90..90, lon -180..180 */
    char continent[3];  /* optional: "EU"; "" when not given */
    char country[3];    /* optional: "IE"; "" when not given */
    const char *conf_file;
    unsigned conf_line;
} conf_datacenter_t;

/* A field path in a GeoIP record: components are map keys or array
 * indices ("subdivisions", "0", "iso_code"). */
typedef struct conf_field_path {
    const char *part[CONF_MAX_FIELD_PATH + 1]; /* NULL-terminated */
} conf_field_path_t;

/* Where each value is looked for; the first path that yields a value wins.
 * Defaults cover both the MaxMind layout (continent.code, country.iso_code,
 * subdivisions.0.iso_code, location.latitude/longitude) and flat layouts
 * such as DB-IP lite / ip-location-db (country_code, latitude, longitude).
 * A loaded config has every list filled in (n_* >= 1): a field that the
 * file does not name gets these defaults. */
typedef struct conf_geo_fields {
    conf_field_path_t *continent, *country, *subdivision, *latitude, *longitude;
    size_t n_continent, n_country, n_subdivision, n_latitude, n_longitude;
} conf_geo_fields_t;

typedef struct conf_geoip {
    char *database;      /* resolved path; NULL: no database (every client default) */
    char *countries;     /* country table, resolved; NULL: the built-in default path */
    conf_geo_fields_t fields;
    const char *conf_file;
    unsigned conf_line;
} conf_geoip_t;

/* ---- health checks (health_checks:) ---- */

enum conf_check_type { CONF_CHECK_TCP = 0, CONF_CHECK_HTTP, CONF_CHECK_HTTPS, CONF_CHECK_FILE };

#define CONF_DEFAULT_CHECK_INTERVAL_MS 5000
#define CONF_DEFAULT_CHECK_TIMEOUT_MS 2000
#define CONF_DEFAULT_DOWN_AFTER 3
#define CONF_DEFAULT_UP_AFTER 2

typedef struct conf_health_check {
    char *name;
    enum conf_check_type type;
    unsigned interval_ms;   /* default 5 s */
    unsigned timeout_ms;    /* default 2 s; always < interval_ms */
    uint16_t port;          /* tcp: required; http 80, https 443 by default */
    char *path;             /* http(s): default "/" */
    char *host;             /* http(s) Host header; NULL: the probed address */
    unsigned expect_status; /* http(s): default 200 */
    char *expect_body;      /* http(s): a substring the body must hold, or NULL */
    bool verify_tls;        /* https: default true */
    char *file;             /* file: resolved path of "NAME UP|DOWN" lines */
    unsigned down_after;    /* consecutive failures to go down, default 3 */
    unsigned up_after;      /* consecutive successes to go up, default 2 */
    const char *conf_file;
    unsigned conf_line;
} conf_health_check_t;

/* Per data center, what a service answers with: addresses or a CNAME. */
typedef struct conf_pool {
    uint8_t dc;                /* index into conf_t.datacenters */
    conf_network_t *addrs;     /* full-length prefixes: A (IPv4) and AAAA (IPv6) */
    conf_network_t *probes;    /* per address, what the check probes instead
                                  (family 0: the address itself); n_addrs entries */
    size_t n_addrs;
    char *cname;               /* absolute target name, or NULL (then n_addrs > 0) */
    unsigned conf_line;
} conf_pool_t;

/* One map rule key ("US-CA", "GB", "EU") or network, to an order. */
typedef struct conf_map_rule {
    char *key;
    conf_dc_order_t order;
    unsigned conf_line;
} conf_map_rule_t;

typedef struct conf_network_rule {
    conf_network_t net;
    conf_dc_order_t order;
    unsigned conf_line;
} conf_network_rule_t;

enum conf_policy { CONF_POLICY_NEAREST = 0, CONF_POLICY_MAP };
/* When every data center of a client's order is down: answer from the
 * nearest healthy one outside it (any), or fail open within it (listed). */
enum conf_fallback { CONF_FALLBACK_ANY = 0, CONF_FALLBACK_LISTED };

typedef struct conf_service {
    char *name;             /* absolute owner name, lower case: "www.example.com." */
    uint32_t ttl;           /* default 300 */
    enum conf_policy policy;
    enum conf_fallback fallback; /* default any */
    bool ecs;               /* use EDNS Client Subnet (default true) */
    conf_pool_t *pools;     /* one per data center that serves it */
    size_t n_pools;
    /* map policy (nearest ignores all but default) */
    conf_map_rule_t *subdivisions; /* keys "CC-SUB", e.g. "US-CA" */
    size_t n_subdivisions;
    conf_map_rule_t *countries;    /* keys "GB" */
    size_t n_countries;
    conf_map_rule_t *continents;   /* keys "EU" */
    size_t n_continents;
    conf_dc_order_t default_order; /* when nothing else matches; when not given:
                                      the pools in the order written (so n >= 1
                                      in a loaded config) */
    /* network overrides, ahead of the database, for either policy */
    conf_network_rule_t *networks; /* inline (services.X.networks or map.networks) */
    size_t n_networks;
    char *networks_file;           /* resolved path of "CIDR dc [dc...]" lines, or NULL */
    /* health */
    char *check;            /* name of a health_checks entry, or NULL (always up) */
    size_t check_index;     /* its index in conf_t.health_checks when check != NULL */
    unsigned min_up;        /* addresses that must be up for the data center to be up;
                               default 1 */
    uint32_t failover_ttl;  /* TTL when the answer is not the client's first choice;
                               default: the check's interval in seconds (at least 1),
                               or ttl without a check */
    const char *conf_file;
    unsigned conf_line;
} conf_service_t;

typedef struct conf {
    char *path; /* the config file itself */

    /* server: */
    conf_listener_t *listeners;
    size_t n_listeners;
    unsigned workers;           /* UDP worker threads; 0 = one per core ("auto") */
    unsigned max_udp_size;      /* cap on the EDNS UDP size we answer with; 512..65535 */
    unsigned tcp_idle_timeout_ms;
    unsigned tcp_max_connections;
    unsigned tcp_max_pipeline;  /* queries in flight per TCP connection */
    unsigned tcp_max_per_address;    /* TCP connections from one address */
    unsigned tcp_max_per_ipv6_64;    /* and from one IPv6 /64 */
    unsigned tcp_max_queued_bytes;   /* answer bytes waiting on one connection */
    uint64_t tcp_max_queued_total;   /* on all of them */
    unsigned tcp_write_timeout_ms;   /* an answer waiting longer resets its connection */
    char *nsid;                 /* NSID payload (RFC 5001), NULL = off; raw bytes */
    size_t nsid_len;
    bool chaos;                 /* answer CH TXT version.bind / id.server / hostname.bind */
    char *chaos_version;        /* version.bind text */
    char *chaos_identity;       /* id.server and hostname.bind text */
    int log_level;              /* enum log_level */
    bool syslog;                /* server.log: syslog (default: stderr) */
    char *user;                 /* run as this user once the sockets are bound */
    char *group;                /* and this group (NULL: the user's own) */
    bool allow_root;            /* stay root when no user is given (default: refuse) */
    char *state_file;           /* operator overrides (drain, force), resolved path;
                                   NULL: overrides are not kept across restarts */
    char *control;              /* control socket path, resolved; default
                                   CONF_DEFAULT_CONTROL; "" (empty): no control socket */

    /* zones: */
    conf_zone_t *zones;
    size_t n_zones;

    /* geoip:, datacenters:, services: */
    conf_geoip_t geoip;
    conf_datacenter_t *datacenters;
    size_t n_datacenters;
    conf_service_t *services;
    size_t n_services;

    /* health_checks: */
    conf_health_check_t *health_checks;
    size_t n_health_checks;
} conf_t;

/* Returns false (having reported why) on any error; *out is then NULL.
 * Caller frees a loaded config with conf_free(). */
bool conf_load(const char *path, conf_t **out, diag_t *d);
/* The same from memory (tests, fuzzing, a config sent over the control
 * socket): name is used in messages and its directory anchors relative
 * paths. text need not be NUL-terminated. */
bool conf_load_buffer(const char *name, const char *text, size_t len, conf_t **out, diag_t *d);
void conf_free(conf_t *conf);

/* "127.0.0.1:53", "[::1]:5353", "::1" (port default_port), "0.0.0.0".
 * Returns 0 or -EINVAL. */
int conf_parse_sockaddr(const char *text, uint16_t default_port, struct sockaddr_storage *ss,
                        socklen_t *len);

/* "192.0.2.0/24", "2001:db8::/32", "192.0.2.1" (a /32). Bits set past the
 * prefix are an error (-EINVAL), as is a prefix longer than the address. */
int conf_parse_network(const char *text, conf_network_t *out);

#endif
