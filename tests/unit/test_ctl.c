/*
 * Unit tests for ctl: the control protocol's framing and parsing, over a
 * real socket served on a real loop (no snapshot published, health with
 * no targets, a fake reload).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "ctl/ctl.h"
#include "ctl/ctl_internal.h"

typedef struct fixture {
    uv_loop_t loop;
    health_t *health;
    ctl_t *ctl;
    char dir[64];
    char path[128];
    int reloads;
    uv_timer_t reload_timer; /* the fake reload answers from the loop, later */
    ctl_reload_done_fn reload_done;
    void *reload_ctx;
} fixture_t;

static void fake_reload_finish(uv_timer_t *t)
{
    fixture_t *f = t->data;
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    diag_error(&d, "zones/x.zone", 7, 0, "bad record");
    f->reload_done(f->reload_ctx, false, &d,
                   "reload failed: still serving the previous configuration");
    diag_free(&d);
}

static void fake_reload(void *arg, ctl_reload_done_fn done, void *ctx)
{
    fixture_t *f = arg;
    f->reloads++;
    f->reload_done = done;
    f->reload_ctx = ctx;
    uv_timer_start(&f->reload_timer, fake_reload_finish, 1, 0);
}

static int setup_with(void **state, unsigned idle_timeout_ms)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_ctl.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/ctl.sock", f->dir);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->reload_timer);
    f->reload_timer.data = f;
    f->health = health_new(&f->loop, NULL, NULL, NULL);
    net_listen_t l = {.addrlen = sizeof(struct sockaddr_in)};
    struct sockaddr_in *sin = (struct sockaddr_in *)&l.addr;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(5353);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ctl_config_t cfg = {
        .path = f->path,
        .health = f->health,
        .listeners = &l,
        .n_listeners = 1,
        .reload = fake_reload,
        .reload_arg = f,
        .idle_timeout_ms = idle_timeout_ms,
    };
    assert_int_equal(ctl_start(&f->ctl, &f->loop, &cfg), 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 0);
}

/* An idle deadline short enough to wait for. */
static int setup_short_idle(void **state)
{
    return setup_with(state, 1000);
}

/* Allocation failures injected into jansson while the server's loop runs
 * (never while the test parses a reply): the fail_at'th allocation from
 * arming on fails. */
static bool alloc_armed;
static long alloc_count, alloc_fail_at = -1;

static void *failing_malloc(size_t size)
{
    if (alloc_armed && alloc_fail_at >= 0 && alloc_count++ == alloc_fail_at)
        return NULL;
    return malloc(size);
}

/* One turn of the server's loop. */
static void loop_turn(fixture_t *f)
{
    alloc_armed = true;
    uv_run(&f->loop, UV_RUN_NOWAIT);
    alloc_armed = false;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ctl_stop(f->ctl);
    health_stop(f->health);
    uv_close((uv_handle_t *)&f->reload_timer, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ctl_free(f->ctl);
    health_free(f->health);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    /* ctl_stop removes the socket file */
    struct stat st;
    assert_int_equal(lstat(f->path, &st), -1);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Bytes read past the last reply line (replies to pipelined requests). */
static char pending[8192];
static size_t pending_len;

static int client_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    pending_len = 0;
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    return fd;
}

/* Writes all of data while turning the loop (a big write would otherwise
 * block on a server that is not running). */
static void client_send(fixture_t *f, int fd, const char *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        loop_turn(f);
        ssize_t n = send(fd, data + done, len - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN)
                continue;
            /* the server may close on us mid-way (oversized line) */
            assert_int_equal(errno, EPIPE);
            return;
        }
        done += (size_t)n;
    }
}

/* Turns the loop until a whole reply line arrived (returned, parsed) or
 * the server closed (NULL). */
static json_t *client_reply(fixture_t *f, int fd)
{
    for (int i = 0; i < 2000; i++) {
        char *nl = memchr(pending, '\n', pending_len);
        if (nl) {
            json_error_t err;
            size_t line = (size_t)(nl - pending);
            json_t *j = json_loadb(pending, line, 0, &err);
            if (!j)
                fail_msg("reply is not JSON: %s: %.*s", err.text, (int)line, pending);
            memmove(pending, nl + 1, pending_len - line - 1);
            pending_len -= line + 1;
            return j;
        }
        loop_turn(f);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5) <= 0)
            continue;
        ssize_t n = recv(fd, pending + pending_len, sizeof(pending) - pending_len, MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n <= 0)
            return NULL;
        pending_len += (size_t)n;
    }
    fail_msg("no reply within 10 s");
    return NULL;
}

/* Is the connection closed by the server (EOF within a second)? */
static bool client_closed(fixture_t *f, int fd)
{
    char c;
    for (int i = 0; i < 200; i++) {
        loop_turn(f);
        ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN))
            return true;
        if (n > 0)
            return false;
        usleep(5000);
    }
    return false;
}

static json_t *ask(fixture_t *f, int fd, const char *line)
{
    client_send(f, fd, line, strlen(line));
    return client_reply(f, fd);
}

static void expect_error(json_t *reply, const char *substring)
{
    assert_non_null(reply);
    assert_int_equal(json_integer_value(json_object_get(reply, "version")), 1);
    assert_true(json_is_false(json_object_get(reply, "ok")));
    const char *error = json_string_value(json_object_get(reply, "error"));
    assert_non_null(error);
    if (!strstr(error, substring))
        fail_msg("expected an error with \"%s\", got \"%s\"", substring, error);
}

static void test_bad_json_closes(void **state)
{
    fixture_t *f = *state;
    int fd = client_connect(f->path);
    json_t *r = ask(f, fd, "{\"version\": 1, \"command\": \n");
    expect_error(r, "invalid request");
    json_decref(r);
    assert_true(client_closed(f, fd));
    close(fd);

    /* valid JSON but not an object */
    fd = client_connect(f->path);
    r = ask(f, fd, "[1, 2]\n");
    expect_error(r, "not a JSON object");
    json_decref(r);
    assert_true(client_closed(f, fd));
    close(fd);
}

static void test_version_mismatch(void **state)
{
    fixture_t *f = *state;
    int fd = client_connect(f->path);
    json_t *r = ask(f, fd, "{\"version\": 2, \"command\": \"status\"}\n");
    expect_error(r, "protocol version mismatch");
    expect_error(r, "version 2");
    json_decref(r);
    r = ask(f, fd, "{\"command\": \"status\"}\n");
    expect_error(r, "protocol version mismatch");
    json_decref(r);
    /* the connection stays usable */
    r = ask(f, fd, "{\"version\": 1, \"command\": \"status\"}\n");
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    close(fd);
}

static void test_unknown_command_and_args(void **state)
{
    fixture_t *f = *state;
    int fd = client_connect(f->path);
    json_t *r = ask(f, fd, "{\"version\": 1, \"command\": \"frob\", \"args\": []}\n");
    expect_error(r, "unknown command 'frob'");
    json_decref(r);
    r = ask(f, fd, "{\"version\": 1, \"command\": \"drain\", \"args\": []}\n");
    expect_error(r, "usage: drain DATACENTER");
    json_decref(r);
    r = ask(f, fd, "{\"version\": 1, \"command\": \"drain\", \"args\": [1]}\n");
    expect_error(r, "list of strings");
    json_decref(r);
    r = ask(f, fd, "{\"version\": 1, \"command\": 7}\n");
    expect_error(r, "\"command\" must be a string");
    json_decref(r);
    r = ask(f, fd, "{\"version\": 1, \"command\": \"status\", \"json\": 3}\n");
    expect_error(r, "\"json\" must be true or false");
    json_decref(r);
    /* two requests in one write: two replies, in order */
    const char *two = "{\"version\":1,\"command\":\"x1\"}\n{\"version\":1,\"command\":\"x2\"}\n";
    client_send(f, fd, two, strlen(two));
    r = client_reply(f, fd);
    expect_error(r, "'x1'");
    json_decref(r);
    r = client_reply(f, fd);
    expect_error(r, "'x2'");
    json_decref(r);
    close(fd);
}

static void test_oversized_line(void **state)
{
    fixture_t *f = *state;
    int fd = client_connect(f->path);
    size_t len = CTL_MAX_LINE + 10;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, ' ', len);
    client_send(f, fd, big, len);
    free(big);
    json_t *r = client_reply(f, fd);
    expect_error(r, "request too long");
    json_decref(r);
    assert_true(client_closed(f, fd));
    close(fd);

    /* exactly CTL_MAX_LINE bytes and a newline is still a request */
    fd = client_connect(f->path);
    const char *req = "{\"version\": 1, \"command\": \"frob\"}";
    big = malloc(CTL_MAX_LINE + 1);
    assert_non_null(big);
    memset(big, ' ', CTL_MAX_LINE);
    memcpy(big, req, strlen(req));
    big[CTL_MAX_LINE] = '\n';
    client_send(f, fd, big, CTL_MAX_LINE + 1);
    free(big);
    r = client_reply(f, fd);
    expect_error(r, "unknown command");
    json_decref(r);
    close(fd);
}

static void test_commands(void **state)
{
    fixture_t *f = *state;
    int fd = client_connect(f->path);
    json_t *r = ask(f, fd, "{\"version\": 1, \"command\": \"status\", \"args\": [], "
                           "\"json\": true}\n");
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_t *data = json_object_get(r, "data");
    json_t *listeners = json_object_get(data, "listeners");
    assert_string_equal(json_string_value(json_array_get(listeners, 0)), "127.0.0.1:5353");
    assert_string_equal(json_string_value(json_object_get(data, "version")), VERSION);
    assert_non_null(strstr(json_string_value(json_object_get(r, "output")), "listeners:"));
    json_decref(r);

    r = ask(f, fd, "{\"version\": 1, \"command\": \"drain\", \"args\": [\"nowhere\"]}\n");
    expect_error(r, "no data center nowhere");
    json_decref(r);
    r = ask(f, fd,
            "{\"version\": 1, \"command\": \"force\", \"args\": [\"192.0.2.1\", \"up\"]}\n");
    expect_error(r, "no address 192.0.2.1");
    json_decref(r);
    r = ask(f, fd, "{\"version\": 1, \"command\": \"force\", \"args\": [\"192.0.2.1\", \"x\"]}\n");
    expect_error(r, "expected up, down or auto");
    json_decref(r);
    r = ask(f, fd, "{\"version\": 1, \"command\": \"explain\", \"args\": [\"a.\", \"1.2.3\"]}\n");
    expect_error(r, "not an address");
    json_decref(r);
    r = ask(f, fd, "{\"version\": 1, \"command\": \"explain\", \"args\": [\"a.\", \"::1/64\"]}\n");
    expect_error(r, "a. is not a service");
    json_decref(r);

    r = ask(f, fd, "{\"version\": 1, \"command\": \"reload\"}\n");
    expect_error(r, "zones/x.zone:7: bad record");
    expect_error(r, "still serving");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(json_object_get(r, "data"), "problems"),
                                         0)),
        "zones/x.zone:7: bad record");
    assert_int_equal(f->reloads, 1);
    json_decref(r);
    close(fd);
}

static void test_client_limit(void **state)
{
    fixture_t *f = *state;
    int fds[CTL_MAX_CLIENTS + 1];
    for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
        fds[i] = client_connect(f->path);
        json_t *r = ask(f, fds[i], "{\"version\": 1, \"command\": \"status\"}\n");
        assert_true(json_is_true(json_object_get(r, "ok")));
        json_decref(r);
    }
    fds[CTL_MAX_CLIENTS] = client_connect(f->path);
    json_t *r = client_reply(f, fds[CTL_MAX_CLIENTS]);
    expect_error(r, "too many clients");
    json_decref(r);
    /* The refusal came before the client sent its request (meridianctl
     * may be that slow): the send must still work, or the client reports
     * "Broken pipe" instead of the reason it has not read yet. */
    const char *req = "{\"version\": 1, \"command\": \"status\"}\n";
    ssize_t n = send(fds[CTL_MAX_CLIENTS], req, strlen(req), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n != (ssize_t)strlen(req))
        fail_msg("send after the refusal: expected %zu bytes sent, got %zd (%s)", strlen(req), n,
                 n < 0 ? strerror(errno) : "short");
    assert_true(client_closed(f, fds[CTL_MAX_CLIENTS]));
    close(fds[CTL_MAX_CLIENTS]);
    /* a slot freed is a slot for the next client */
    close(fds[0]);
    for (int i = 0; i < 20; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    fds[0] = client_connect(f->path);
    r = ask(f, fds[0], "{\"version\": 1, \"command\": \"status\"}\n");
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    for (int i = 0; i < CTL_MAX_CLIENTS; i++)
        close(fds[i]);
}

/* A client that sends requests and never reads their replies is cut off
 * once CTL_MAX_OUTPUT bytes wait for it; the server serves the next. */
static void test_unread_output_bound(void **state)
{
    fixture_t *f = *state;
    int fd = client_connect(f->path);
    const char *one = "{\"version\": 1, \"command\": \"status\"}\n";
    size_t len = strlen(one), sent = 0, max = 40000, off = 0;
    char chunk[100 * 64];
    for (size_t i = 0; i < 100; i++)
        memcpy(chunk + i * len, one, len);
    bool cut_off = false;
    /* whole requests only: a partial send is finished before the next, or
     * a broken line would close the connection for another reason */
    while (!cut_off && sent < max) {
        loop_turn(f);
        ssize_t n = send(fd, chunk + off, 100 * len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n < 0) {
            assert_true(errno == EPIPE || errno == ECONNRESET);
            cut_off = true;
        } else if ((off += (size_t)n) == 100 * len) {
            off = 0;
            sent += 100;
        }
    }
    if (!cut_off)
        fail_msg("expected the client cut off within %zu unread replies; it was not", max);
    /* cut off for its unread replies: every reply it got is a status, none
     * an error that closed the connection for another reason */
    size_t cap = 8 << 20, got = 0;
    char *replies = malloc(cap + 1);
    assert_non_null(replies);
    for (ssize_t n; got < cap && (n = recv(fd, replies + got, cap - got, MSG_DONTWAIT)) > 0;)
        got += (size_t)n;
    replies[got] = 0;
    assert_true(got > 0);
    if (strstr(replies, "\"ok\":false"))
        fail_msg("expected only status replies before the cut-off, got an error: %.300s",
                 strstr(replies, "\"ok\":false"));
    free(replies);
    close(fd);
    for (int i = 0; i < 20; i++)
        loop_turn(f);
    fd = client_connect(f->path);
    json_t *r = ask(f, fd, one);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    close(fd);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Turns the loop for `seconds`; false when fd was closed meanwhile. */
static bool turn_for(fixture_t *f, int fd, double seconds)
{
    for (double end = now_s() + seconds; now_s() < end;) {
        loop_turn(f);
        char c;
        if (recv(fd, &c, 1, MSG_DONTWAIT) == 0)
            return false;
        usleep(5000);
    }
    return true;
}

/* The idle deadline counts whole lines: one byte at a time does not hold
 * a slot, a line now and then does. Timed by the clock, with wide margins
 * (1 s deadline; a byte every 50 ms for up to 3 s; a line every 300 ms). */
static void test_idle_counts_lines(void **state)
{
    fixture_t *f = *state;
    int fd = client_connect(f->path);
    const char *req = "{\"version\": 1, \"command\": \"status\"}\n";
    bool closed = false;
    double start = now_s();
    for (size_t i = 0; !closed && now_s() < start + 3; i = (i + 1) % (strlen(req) - 1)) {
        closed = send(fd, req + i, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0;
        closed = closed || !turn_for(f, fd, 0.05);
    }
    if (!closed)
        fail_msg("a client trickling a byte every 50 ms was still connected after 3 s "
                 "(idle deadline 1 s)");
    close(fd);

    fd = client_connect(f->path);
    for (int i = 0; i < 5; i++) { /* 1.5 s in all */
        json_t *r = ask(f, fd, req);
        if (!r)
            fail_msg("a client sending a line every 300 ms was closed after %d lines", i);
        assert_true(json_is_true(json_object_get(r, "ok")));
        json_decref(r);
        assert_true(turn_for(f, fd, 0.3));
    }
    close(fd);
}

/* Running out of memory while answering is an error for that client: each
 * allocation of a status reply in turn fails; the daemon (this process)
 * never exits, the client gets a reply that is ok or says "out of memory",
 * and the next client is served. */
static void test_out_of_memory(void **state)
{
    fixture_t *f = *state;
    json_set_alloc_funcs(failing_malloc, free);
    const char *req = "{\"version\": 1, \"command\": \"status\", \"json\": true}\n";
    long failures = 0, at;
    for (at = 0; at < 1000; at++) {
        int fd = client_connect(f->path);
        alloc_count = 0;
        alloc_fail_at = at;
        json_t *r = ask(f, fd, req);
        alloc_fail_at = -1;
        assert_non_null(r);
        if (json_is_false(json_object_get(r, "ok"))) {
            /* jansson's parser reports some of its allocation failures as
             * syntax errors: an error for this client all the same */
            const char *error = json_string_value(json_object_get(r, "error"));
            if (!strstr(error, "invalid request"))
                expect_error(r, "out of memory");
            failures++;
        }
        bool done = alloc_count <= at; /* the reply needed fewer allocations */
        json_decref(r);
        close(fd);
        if (done)
            break;
    }
    json_set_alloc_funcs(malloc, free);
    if (at == 1000)
        fail_msg("a status reply took more than 1000 allocations: raise the bound");
    if (failures < 10)
        fail_msg("expected many injected failures to reach the client, got %ld", failures);
    int fd = client_connect(f->path);
    json_t *r = ask(f, fd, req);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    close(fd);
}

/* A live server on the path refuses a second; a dead one's file is
 * replaced. */
static void test_stale_and_live_socket(void **state)
{
    fixture_t *f = *state;
    uv_loop_t loop2;
    assert_int_equal(uv_loop_init(&loop2), 0);
    ctl_config_t cfg = {.path = f->path, .health = f->health};
    ctl_t *second;
    assert_int_equal(ctl_start(&second, &loop2, &cfg), -EADDRINUSE);
    assert_null(second);

    char stale[100];
    snprintf(stale, sizeof(stale), "%s/stale.sock", f->dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", stale);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    close(fd); /* bound, never listened: nobody answers */
    cfg.path = stale;
    assert_int_equal(ctl_start(&second, &loop2, &cfg), 0);
    struct stat st;
    assert_int_equal(stat(stale, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
    ctl_stop(second);
    uv_run(&loop2, UV_RUN_DEFAULT);
    ctl_free(second);
    assert_int_equal(uv_loop_close(&loop2), 0);
    assert_int_equal(lstat(stale, &st), -1);

    /* never removes what is not a socket */
    FILE *file = fopen(stale, "w");
    assert_non_null(file);
    fclose(file);
    assert_int_equal(ctl_start(&second, &loop2, &cfg), -EEXIST);
    unlink(stale);
}

static void test_parse_client(void **state)
{
    (void)state;
    int family;
    uint8_t addr[16];
    unsigned prefix;
    assert_int_equal(ctl_parse_client("192.0.2.77/24", &family, addr, &prefix), 0);
    assert_int_equal(family, AF_INET);
    assert_int_equal(prefix, 24);
    assert_memory_equal(addr, "\xc0\x00\x02\x00", 4);
    assert_int_equal(ctl_parse_client("2001:db8::1", &family, addr, &prefix), 0);
    assert_int_equal(family, AF_INET6);
    assert_int_equal(prefix, 128);
    assert_int_equal(ctl_parse_client("2001:db8::1/0", &family, addr, &prefix), 0);
    assert_int_equal(prefix, 0);
    assert_int_equal(addr[0], 0);
    assert_int_equal(ctl_parse_client("192.0.2.1/33", &family, addr, &prefix), -EINVAL);
    assert_int_equal(ctl_parse_client("192.0.2.1/", &family, addr, &prefix), -EINVAL);
    assert_int_equal(ctl_parse_client("192.0.2.1/-1", &family, addr, &prefix), -EINVAL);
    assert_int_equal(ctl_parse_client("192.0.2.1/2x", &family, addr, &prefix), -EINVAL);
    assert_int_equal(ctl_parse_client("::1/129", &family, addr, &prefix), -EINVAL);
    assert_int_equal(ctl_parse_client("www", &family, addr, &prefix), -EINVAL);
    assert_int_equal(ctl_parse_client("", &family, addr, &prefix), -EINVAL);
}

/* Status tables: each column as wide as its widest cell, counted in
 * characters; numbers to the right; no padding after the last column. */
static void test_table(void **state)
{
    (void)state;
    ctl_table_t t;
    ctl__table_init(&t, "lrl");
    ctl__table_row(&t, (const char *[]){"NAME", "UP", "STATE"});
    ctl__table_row(&t, (const char *[]){"eu-west", "2", "down, forced"});
    ctl__table_row(&t, (const char *[]){"z\xc3\xbcrich", "10", NULL});
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    ctl__table_print(&t, out, "  ");
    fclose(out);
    assert_false(t.failed);
    ctl__table_free(&t);
    assert_string_equal(text, "  NAME     UP  STATE\n"
                              "  eu-west   2  down, forced\n"
                              "  z\xc3\xbcrich   10  -\n");
    free(text);
}

int main(void)
{
    rcu_register_thread();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_json_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_command_and_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_and_live_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unread_output_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_counts_lines, setup_short_idle, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
        cmocka_unit_test(test_parse_client),
        cmocka_unit_test(test_table),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rcu_unregister_thread();
    return rc;
}
