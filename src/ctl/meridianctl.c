/*
 * meridianctl: sends one command to a running meridiand over its control
 * socket (protocol in ctl.h) and prints the answer.
 *
 * Exit status: 0 ok, 1 the daemon said no, 2 usage, 3 cannot connect,
 * 4 no answer in time. The command line is checked against the command
 * table (ctl_internal.h) before any config is read, so `help`, a bare
 * `meridianctl` and a wrong command work without a config or a daemon.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "ctl/ctl.h"
#include "ctl/ctl_internal.h"

#define DEFAULT_CONFIG SYSCONFDIR "/meridian/meridian.yaml"

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_CONNECT = 3, EXIT_TIMEOUT = 4 };

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: meridianctl [-s SOCKET | -c CONFIG] [--json] [-t SECONDS] COMMAND [ARGS...]\n"
            "Controls a running meridiand through its control socket.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < CTL_CMD_COUNT; i++) {
        const char *help = ctl__command_specs[i].help;
        fprintf(out, "  %-30s ", ctl__command_specs[i].usage);
        for (const char *nl; (nl = strchr(help, '\n')); help = nl + 1)
            fprintf(out, "%.*s\n  %-30s ", (int)(nl - help), help, "");
        fprintf(out, "%s\n", help);
    }
    fprintf(out,
            "  %-30s show this help and exit\n"
            "\n"
            "Options:\n"
            "  -s, --socket SOCKET   the control socket\n"
            "  -c, --config CONFIG   read the socket's path (server.control) from this config\n"
            "                        (default %s)\n"
            "  -j, --json            print the machine-readable data as JSON\n"
            "  -t, --timeout SECONDS give up waiting after this long (default 5)\n"
            "  -h, --help            show this help and exit\n"
            "  -V, --version         show the version and exit\n"
            "\n"
            "Exit status: 0 ok, 1 the daemon refused or the command failed, 2 usage,\n"
            "3 cannot connect, 4 timeout.\n",
            "help", DEFAULT_CONFIG);
}

/* A usage error: the message, where to look, exit status 2. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "meridianctl: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'meridianctl --help' for the commands and options.\n");
    va_end(ap);
    return EXIT_USAGE;
}

/* The socket named by the config's server.control; NULL (said why) when
 * there is none. Caller frees. */
static char *socket_from_config(const char *path)
{
    diag_t d;
    diag_init(&d);
    d.quiet = true;
    conf_t *conf = NULL;
    char *sock = NULL;
    if (!conf_load(path, &conf, &d)) {
        for (size_t i = 0; i < d.count; i++)
            fprintf(stderr, "%s\n", d.messages[i]);
        fprintf(stderr, "meridianctl: cannot read the control socket's path from %s\n", path);
    } else if (!conf->control[0]) {
        fprintf(stderr, "meridianctl: %s turns the control socket off (server.control: \"\")\n",
                path);
    } else {
        sock = strdup(conf->control);
    }
    if (conf)
        conf_free(conf);
    diag_free(&d);
    return sock;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events until deadline; 0, or EXIT_TIMEOUT. */
static int wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return EXIT_TIMEOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return EXIT_CONNECT;
    }
}

/* Sends request and reads one reply line into *reply (caller frees).
 * Returns 0 or an exit status (message printed). */
static int exchange(const char *path, const char *request, long long deadline, char **reply)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "meridianctl: %s: the path is too long for a Unix socket\n", path);
        return EXIT_CONNECT;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fprintf(stderr, "meridianctl: socket: %s\n", strerror(errno));
        return EXIT_CONNECT;
    }
    /* A Unix socket whose backlog is full refuses a non-blocking connect
     * with EAGAIN (it does not complete later, as TCP's does): the daemon
     * is busy, not gone, so try again until the deadline. */
    int e = 0;
    while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        e = errno;
        if ((e != EAGAIN && e != EINTR) || now_ms() >= deadline)
            break;
        e = 0;
        poll(NULL, 0, 10);
    }
    if (e == EAGAIN) {
        fprintf(stderr, "meridianctl: %s: the daemon accepted no connection within the "
                        "timeout\n", path);
        close(fd);
        return EXIT_TIMEOUT;
    }
    if (e) {
        if (e == ENOENT || e == ECONNREFUSED)
            fprintf(stderr,
                    "meridianctl: cannot connect to %s: %s (is meridiand running, with "
                    "server.control set to this path?)\n",
                    path, strerror(e));
        else
            fprintf(stderr, "meridianctl: cannot connect to %s: %s\n", path, strerror(e));
        close(fd);
        return EXIT_CONNECT;
    }
    int rc = 0;
    size_t len = strlen(request), done = 0;
    while (done < len) {
        if ((rc = wait_fd(fd, POLLOUT, deadline)) != 0)
            goto out;
        ssize_t n = send(fd, request + done, len - done, MSG_NOSIGNAL);
        /* The daemon stopped reading (too many clients, a request too
         * long): its reply says why, so read it rather than report the
         * broken pipe. */
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            break;
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            fprintf(stderr, "meridianctl: %s: %s\n", path, strerror(errno));
            rc = EXIT_CONNECT;
            goto out;
        }
        if (n > 0)
            done += (size_t)n;
    }
    /* Status on a big fleet can be large: grow as needed. */
    size_t cap = 4096, have = 0;
    char *buf = malloc(cap);
    if (!buf) {
        rc = EXIT_CONNECT;
        goto out;
    }
    for (;;) {
        if ((rc = wait_fd(fd, POLLIN, deadline)) != 0) {
            free(buf);
            goto out;
        }
        if (have + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                rc = EXIT_CONNECT;
                goto out;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + have, cap - have - 1, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            fprintf(stderr, "meridianctl: %s: the daemon closed the connection without "
                            "answering\n", path);
            free(buf);
            rc = EXIT_CONNECT;
            goto out;
        }
        char *nl = memchr(buf + have, '\n', (size_t)n);
        have += (size_t)n;
        if (nl) {
            *nl = 0;
            *reply = buf;
            goto out;
        }
    }
out:
    if (rc == EXIT_TIMEOUT)
        fprintf(stderr, "meridianctl: %s: no answer within the timeout\n", path);
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"socket", required_argument, NULL, 's'},
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *sock_opt = NULL, *config = NULL;
    bool json = false;
    double timeout = 5;
    int c;
    /* "+": options end at the command, so its arguments are its own */
    while ((c = getopt_long(argc, argv, "+s:c:jt:hV", options, NULL)) != -1) {
        switch (c) {
        case 's':
            sock_opt = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 't': {
            char *end;
            timeout = strtod(optarg, &end);
            if (end == optarg || *end || !(timeout > 0) || timeout > 86400)
                return usage_error("-t %s: expected seconds, more than 0 and at most 86400",
                                   optarg);
            break;
        }
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("meridianctl %s\n", VERSION);
            return EXIT_OK;
        default: /* getopt has said what is wrong */
            fprintf(stderr, "Try 'meridianctl --help' for the commands and options.\n");
            return EXIT_USAGE;
        }
    }
    /* --json may also follow the command ("meridianctl status --json");
     * after "--" every word is an argument */
    int n_args = 0;
    char **args = argv + optind;
    bool literal = false;
    for (int i = optind; i < argc; i++) {
        if (!literal && strcmp(argv[i], "--") == 0)
            literal = true;
        else if (!literal && (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0))
            json = true;
        else
            args[n_args++] = argv[i];
    }
    if (n_args == 0) {
        fprintf(stderr, "meridianctl: no command given\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(args[0], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    const ctl_command_spec_t *spec = ctl__command_find(args[0]);
    if (!spec)
        return usage_error("unknown command '%s'", args[0]);
    if ((unsigned)(n_args - 1) != spec->n_args)
        return usage_error("%s: %s\nUsage: meridianctl [OPTIONS] %s", args[0],
                           n_args - 1 < (int)spec->n_args ? "missing argument"
                                                          : "too many arguments",
                           spec->usage);
    if (sock_opt && config)
        return usage_error("-s and -c exclude each other");

    json_t *req = json_pack("{s:i, s:s, s:[], s:b}", "version", CTL_PROTOCOL_VERSION,
                            "command", args[0], "args", "json", json);
    if (!req) {
        fprintf(stderr, "meridianctl: the command is not valid UTF-8\n");
        return EXIT_USAGE;
    }
    json_t *jargs = json_object_get(req, "args");
    for (int i = 1; i < n_args; i++) {
        if (json_array_append_new(jargs, json_string(args[i])) < 0) {
            fprintf(stderr, "meridianctl: argument '%s' is not valid UTF-8\n", args[i]);
            json_decref(req);
            return EXIT_USAGE;
        }
    }
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char *line = NULL;
    if (!text || asprintf(&line, "%s\n", text) < 0) {
        free(text);
        return EXIT_CONNECT;
    }
    free(text);

    char *sock = sock_opt ? strdup(sock_opt)
                          : socket_from_config(config ? config : DEFAULT_CONFIG);
    if (!sock) {
        free(line);
        return EXIT_CONNECT;
    }
    char *reply_text = NULL;
    int rc = exchange(sock, line, now_ms() + (long long)(timeout * 1000), &reply_text);
    free(line);
    if (rc != 0) {
        free(sock);
        return rc;
    }

    json_error_t jerr;
    json_t *reply = json_loads(reply_text, 0, &jerr);
    json_t *ok = json_object_get(reply, "ok");
    if (!reply || !json_is_boolean(ok)) {
        fprintf(stderr, "meridianctl: %s: the daemon's answer is not understood: %s\n", sock,
                reply ? "no \"ok\"" : jerr.text);
        rc = EXIT_REFUSED;
    } else if (json_is_true(ok)) {
        if (json) {
            json_t *data = json_object_get(reply, "data");
            json_dumpf(data ? data : json_null(), stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
            printf("\n");
        } else {
            const char *output = json_string_value(json_object_get(reply, "output"));
            if (output && *output)
                printf("%s%s", output, output[strlen(output) - 1] == '\n' ? "" : "\n");
        }
    } else {
        const char *error = json_string_value(json_object_get(reply, "error"));
        if (json) {
            json_dumpf(reply, stdout, JSON_INDENT(2));
            printf("\n");
        }
        if (!error)
            error = "(no reason given)";
        fprintf(stderr, "%s%s", error, error[0] && error[strlen(error) - 1] == '\n' ? "" : "\n");
        rc = EXIT_REFUSED;
    }
    json_decref(reply);
    free(reply_text);
    free(sock);
    return rc;
}
