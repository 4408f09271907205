/*
 * libFuzzer target for the control socket: the input is what a client
 * sends (request lines, split or not, too long or not JSON), over a real
 * connection to ctl on a real loop, with a published snapshot of the
 * fuzz world (so status, drain, force and explain have something to
 * act on) and a reload that answers at once. Every connection must end:
 * the server answers and closes, or closes when the client is done.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "ctl/ctl.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static ctl_t *ctl;
static char *sock_path;
static unsigned reloads;

static void reload(void *arg, ctl_reload_done_fn done, void *ctx)
{
    (void)arg;
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    /* every other reload fails, with a message, as a broken zone would */
    if (reloads++ % 2)
        diag_error(&d, "zones/x.zone", 7, 0, "bad record");
    done(ctx, d.errors == 0, &d, d.errors ? "reload failed" : "reloaded");
    diag_free(&d);
}

static void setup(void)
{
    rcu_register_thread();
    if (uv_loop_init(&loop) != 0)
        abort();
    health_t *health = health_new(&loop, NULL, NULL, NULL);
    snapshot_t *s = fuzz_world(health);
    health_commit(health, s->conf);
    snapshot_publish(s);
    sock_path = fuzz_path("ctl.sock");
    net_listen_t l = {.addr = s->conf->listeners[0].addr, .addrlen = s->conf->listeners[0].addrlen};
    ctl_config_t cfg = {.path = sock_path, .health = health, .listeners = &l, .n_listeners = 1,
                        .reload = reload};
    if (ctl_start(&ctl, &loop, &cfg) != 0)
        abort();
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctl)
        setup();
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
        abort();
    size_t sent = 0;
    bool shut = false;
    char buf[65536];
    double deadline = now() + 5;
    for (;;) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (sent < size) {
            ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                sent = size; /* the server closed on us (a line too long) */
        }
        if (sent == size && !shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        ssize_t got = recv(fd, buf, sizeof(buf), 0);
        if (got == 0 || (got < 0 && errno != EAGAIN))
            break;
        if (now() > deadline) {
            fprintf(stderr, "fuzz_ctl: the server kept the connection open\n");
            abort();
        }
    }
    close(fd);
    /* let the server finish closing its side */
    for (int i = 0; i < 4; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    return 0;
}
