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
#define CONF_DEFAULT_TCP_MAX_CONNS 1024
#define CONF_DEFAULT_TCP_MAX_PIPELINE 100
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
    char *nsid;                 /* NSID payload (RFC 5001), NULL = off; raw bytes */
    size_t nsid_len;
    bool chaos;                 /* answer CH TXT version.bind / id.server / hostname.bind */
    char *chaos_version;        /* version.bind text */
    char *chaos_identity;       /* id.server and hostname.bind text */
    int log_level;              /* enum log_level */

    /* zones: */
    conf_zone_t *zones;
    size_t n_zones;
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

#endif
