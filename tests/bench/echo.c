/*
 * echo: the speed benchmark's ceiling, a UDP server that does no DNS work.
 *
 * It sends every datagram back to its sender with the QR bit set, so a
 * load generator counts it as an answer. What it reaches on one core is
 * the most any server could reach with the same batched socket calls on
 * this machine: the gap between it and meridiand is the DNS work.
 *
 *   echo -l ADDR:PORT [-b BATCH] [-w WORKERS]
 *
 * -l ADDR:PORT  where to listen: "127.0.0.1:5300" or "[::1]:5300".
 * -b BATCH      datagrams per recvmmsg/sendmmsg (default 32, at most 1024).
 * -w WORKERS    threads, each with its own SO_REUSEPORT socket (default 1).
 *
 * Each worker blocks until one datagram comes (MSG_WAITFORONE), takes
 * what else is queued up to BATCH, and sends them all back in one call.
 * Prints nothing but errors. Exit status: 0 on SIGTERM or SIGINT, 1 on a
 * socket error, 2 on a usage error.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../tools/tool_addr.h"

#define MAX_BATCH 1024 /* UIO_MAXIOV */
#define MAX_WORKERS 256
#define DGRAM_SIZE 4096 /* a query; anything longer is cut, as a server would */

typedef struct worker {
    pthread_t thread;
    int fd;
    unsigned batch;
} worker_t;

static void usage(void)
{
    fprintf(stderr, "usage: echo -l ADDR:PORT [-b BATCH] [-w WORKERS]\n");
    exit(2);
}

static unsigned parse_number(const char *arg, unsigned max)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(arg, &end, 10);
    if (*arg < '0' || *arg > '9' || *end != '\0' || errno != 0 || v == 0 || v > max)
        usage();
    return (unsigned)v;
}

static int listen_socket(const struct sockaddr_storage *ss, socklen_t len)
{
    int one = 1, size = 4 << 20;
    int fd = socket(ss->ss_family, SOCK_DGRAM, 0);

    if (fd < 0) {
        fprintf(stderr, "echo: socket: %s\n", strerror(errno));
        return -1;
    }
    /* Best effort: capped by net.core.[rw]mem_max. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (const struct sockaddr *)ss, len) != 0) {
        fprintf(stderr, "echo: bind: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void *worker_main(void *arg)
{
    const worker_t *w = arg;
    struct mmsghdr *msgs = calloc(w->batch, sizeof(*msgs));
    struct iovec *iov = calloc(w->batch, sizeof(*iov));
    struct sockaddr_storage *peers = calloc(w->batch, sizeof(*peers));
    uint8_t *bufs = malloc((size_t)w->batch * DGRAM_SIZE);

    if (msgs == NULL || iov == NULL || peers == NULL || bufs == NULL) {
        fprintf(stderr, "echo: out of memory\n");
        exit(1);
    }
    for (unsigned i = 0; i < w->batch; i++) {
        iov[i].iov_base = bufs + (size_t)i * DGRAM_SIZE;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &peers[i];
    }
    for (;;) {
        int n, sent = 0;

        for (unsigned i = 0; i < w->batch; i++) {
            iov[i].iov_len = DGRAM_SIZE;
            msgs[i].msg_hdr.msg_namelen = sizeof(peers[i]);
        }
        n = recvmmsg(w->fd, msgs, w->batch, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "echo: recvmmsg: %s\n", strerror(errno));
            exit(1);
        }
        for (int i = 0; i < n; i++) {
            uint8_t *pkt = iov[i].iov_base;

            iov[i].iov_len = msgs[i].msg_len;
            if (msgs[i].msg_len > 2)
                pkt[2] |= 0x80; /* QR: this is an answer */
        }
        while (sent < n) {
            int rc = sendmmsg(w->fd, msgs + sent, (unsigned)(n - sent), 0);

            if (rc > 0)
                sent += rc;
            else if (rc < 0 && errno == EINTR)
                continue;
            else
                sent++; /* this one cannot go: drop it, send the rest */
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *listen_at = NULL;
    unsigned batch = 32, n_workers = 1;
    struct sockaddr_storage ss;
    socklen_t ss_len;
    worker_t *workers;
    sigset_t stop;
    int c, sig;

    while ((c = getopt(argc, argv, "l:b:w:")) != -1) {
        switch (c) {
        case 'l':
            listen_at = optarg;
            break;
        case 'b':
            batch = parse_number(optarg, MAX_BATCH);
            break;
        case 'w':
            n_workers = parse_number(optarg, MAX_WORKERS);
            break;
        default:
            usage();
        }
    }
    if (optind != argc || listen_at == NULL)
        usage();
    if (!tool_hostport(listen_at, &ss, &ss_len)) {
        fprintf(stderr, "echo: bad listen address '%s' (ADDR:PORT or [ADDR6]:PORT)\n", listen_at);
        usage();
    }

    /* The workers inherit this mask: only main takes the signals. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    workers = calloc(n_workers, sizeof(*workers));
    if (workers == NULL) {
        fprintf(stderr, "echo: out of memory\n");
        return 1;
    }
    /* Every socket bound before any thread starts: a bind error exits 1. */
    for (unsigned i = 0; i < n_workers; i++) {
        workers[i].batch = batch;
        workers[i].fd = listen_socket(&ss, ss_len);
        if (workers[i].fd < 0)
            return 1;
    }
    for (unsigned i = 0; i < n_workers; i++) {
        int err = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);

        if (err != 0) {
            fprintf(stderr, "echo: pthread_create: %s\n", strerror(err));
            return 1;
        }
    }
    while (sigwait(&stop, &sig) != 0)
        ;
    /* The workers sit in recvmmsg; leaving main ends them. */
    return 0;
}
