#include "config.h"

#include "preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "health/health.h"
#include "net/net.h"
#include "util/file.h"
#include "util/log.h"

/* Who the daemon will be. Fills pf->drop, uid, gid and who (the name in
 * messages); false (reported) when the start would refuse. */
static bool preflight_identity(const conf_t *conf, preflight_t *pf, char *who, size_t size,
                               diag_t *d)
{
    const char *f = conf->path;
    struct passwd *pw;
    if (!conf->user) {
        pw = getpwuid(geteuid());
        if (pw)
            snprintf(who, size, "%s", pw->pw_name);
        else
            snprintf(who, size, "uid %u", (unsigned)geteuid());
        if (geteuid() == 0 && !conf->allow_root) {
            diag_error(d, f, 0, 0, "refusing to run as root: set server.user to an "
                                   "unprivileged account (or server.allow_root: true)");
            return false;
        }
        return true;
    }
    snprintf(who, size, "%s", conf->user);
    if (!(pw = getpwnam(conf->user))) {
        diag_error(d, f, 0, 0, "server.user: no user named %s", conf->user);
        return false;
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (conf->group) {
        struct group *gr = getgrnam(conf->group);
        if (!gr) {
            diag_error(d, f, 0, 0, "server.group: no group named %s", conf->group);
            return false;
        }
        gid = gr->gr_gid;
    }
    if (geteuid() != 0) {
        if (geteuid() == uid) {
            /* Started as that user already (systemd User=): server.group,
             * if set, must still be taken (drop_privileges tries). */
            pf->take_group = conf->group && getegid() != gid;
            pf->gid = gid;
            return true;
        }
        diag_error(d, f, 0, 0, "server.user: cannot become user %s: not started as root",
                   conf->user);
        return false;
    }
    pf->drop = true;
    pf->uid = uid;
    pf->gid = gid;
    return true;
}

/* The ids to come back to after acting as the daemon's user. */
typedef struct preflight_ids {
    gid_t egid;
    gid_t *groups;
    int n_groups;
} preflight_ids_t;

/* Takes pf's uid and gid as the effective ones (the real and saved ones
 * stay root, so preflight_restore() can come back). */
static void preflight_restore(preflight_ids_t *saved);

static bool preflight_become(const preflight_t *pf, const char *who, preflight_ids_t *saved,
                             diag_t *d)
{
    saved->egid = getegid();
    saved->n_groups = getgroups(0, NULL);
    saved->groups = calloc(saved->n_groups > 0 ? (size_t)saved->n_groups : 1, sizeof(gid_t));
    if (!saved->groups)
        fatal("preflight");
    if (saved->n_groups > 0 && getgroups(saved->n_groups, saved->groups) < 0)
        fatal("getgroups");
    if (setgroups(1, &pf->gid) < 0 || setegid(pf->gid) < 0 || seteuid(pf->uid) < 0) {
        diag_error(d, NULL, 0, 0, "cannot act as user %s to check its access: %s", who,
                   strerror(errno));
        preflight_restore(saved);
        return false;
    }
    return true;
}

static void preflight_restore(preflight_ids_t *saved)
{
    /* Going on as anyone else would be worse than stopping. */
    if (seteuid(0) < 0 || setegid(saved->egid) < 0 ||
        setgroups((size_t)(saved->n_groups > 0 ? saved->n_groups : 0), saved->groups) < 0)
        fatal("preflight: cannot take back root's ids");
    free(saved->groups);
}

/* The directory of path must exist and take new entries from us: key
 * names the config key in messages. */
static bool preflight_dir_writable(const conf_t *conf, const char *key, const char *path,
                                   const char *who, diag_t *d)
{
    char *dir = file_dirname(path);
    struct stat st;
    int err = 0;
    if (stat(dir, &st) != 0)
        err = errno;
    else if (!S_ISDIR(st.st_mode))
        err = ENOTDIR;
    else if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0)
        err = errno; /* AT_EACCESS: as the effective ids preflight_become() set */
    if (err)
        diag_error(d, conf->path, 0, 0, "%s: cannot write in %s as user %s: %s", key, dir, who,
                   strerror(err));
    free(dir);
    return err == 0;
}

/* What the loaded snapshot does not read itself but the running daemon
 * will: the state file, and the directories it writes in. */
static bool preflight_runtime_files(const conf_t *conf, health_t *health, const char *who,
                                    diag_t *d)
{
    bool ok = true;
    if (conf->state_file) {
        health_set_state_file(health, conf->state_file);
        /* Starting without a drain the operator asked for could send users
         * to a data center under maintenance. */
        if (!health_load_state(health, d)) {
            diag_error(d, conf->state_file, 0, 0,
                       "the state file is unreadable or corrupt: the operator's overrides in "
                       "it would be lost (fix or remove it)");
            ok = false;
        }
        ok &= preflight_dir_writable(conf, "server.state_file", conf->state_file, who, d);
    }
    if (conf->control && conf->control[0]) {
        struct stat st;
        if (lstat(conf->control, &st) == 0 && !S_ISSOCK(st.st_mode)) {
            diag_error(d, conf->path, 0, 0, "server.control: %s exists and is not a socket",
                       conf->control);
            ok = false;
        }
        ok &= preflight_dir_writable(conf, "server.control", conf->control, who, d);
    }
    ok &= health_status_files_check(conf, who, d);
    return ok;
}

/* An explicit tcp_max_connections must fit the descriptor limit, as the
 * start will require (a cap left unset is lowered to fit there). The
 * start counts the descriptors open once its sockets are bound; here they
 * are estimated: per listener one TCP socket and one UDP socket a worker,
 * an epoll descriptor a worker, and a few for the loop. */
static bool preflight_descriptors(const conf_t *conf, const health_t *health, diag_t *d)
{
    if (conf->tcp_max_connections == 0)
        return true;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned workers = conf->workers ? conf->workers : cores > 0 ? (unsigned)cores : 1;
    unsigned sockets = (unsigned)conf->n_listeners * (workers + 1) + workers + 8;
    unsigned reserve = NET_FD_RESERVE + CTL_MAX_CLIENTS + 2 * health_target_end(health);
    unsigned long room = 0, limit = 0;
    if (net_tcp_cap_fits(conf->tcp_max_connections, reserve, sockets, &room, &limit) == 0)
        return true;
    diag_error(d, conf->path, 0, 0,
               "server.tcp_max_connections: %u does not fit the descriptor limit %lu "
               "(RLIMIT_NOFILE, hard): beside the server's sockets and the %u kept for health "
               "checks, the control socket and reloads, at most %lu connections fit; raise the "
               "limit (LimitNOFILE=, ulimit -Hn) or lower tcp_max_connections",
               conf->tcp_max_connections, limit, reserve, room);
    return false;
}

bool preflight_run(const char *config_path, health_t *health, preflight_t *out, diag_t *d)
{
    memset(out, 0, sizeof(*out));
    conf_t *conf;
    if (!conf_load(config_path, &conf, d))
        return false;
    char who[64];
    bool ok = preflight_identity(conf, out, who, sizeof(who), d);
    conf_free(conf);

    preflight_ids_t saved = {0};
    bool switched = false;
    if (ok && out->drop) {
        switched = preflight_become(out, who, &saved, d);
        ok = switched;
    }
    /* Loaded even after a problem above, so that every one is reported. */
    ok &= snapshot_load(config_path, health, &out->snap, d);
    if (out->snap) {
        health_t *own = health ? NULL : health_new(NULL, NULL, NULL, NULL);
        ok &= preflight_runtime_files(out->snap->conf, health ? health : own, who, d);
        ok &= preflight_descriptors(out->snap->conf, health ? health : own, d);
        if (own) {
            health_stop(own);
            health_free(own);
        }
    }
    if (switched)
        preflight_restore(&saved);
    if (!ok) {
        snapshot_free(out->snap);
        out->snap = NULL;
    }
    return ok;
}
