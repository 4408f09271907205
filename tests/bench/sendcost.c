/*
 * sendcost: what the kernel charges a UDP answer under each IPv4
 * IP_MTU_DISCOVER mode, the measurement behind meridiand's choice of
 * IP_PMTUDISC_PROBE (see UDP_V4_PMTU in src/net/udp.c).
 *
 *   sendcost [ROUNDS]
 *
 * One sending socket per mode sends batches of 32 datagrams of 61 bytes (a
 * typical answer) with sendmmsg() to a socket on 127.0.0.1; the batch's
 * thread CPU time, which on loopback includes delivering the datagrams to
 * the receiving socket, is divided by 32. The receiver is drained between
 * batches, untimed. The modes take turns, starting with a different one
 * each round, so that no mode always follows the same one; ROUNDS (default
 * 3000) batches each. Prints the median and quartiles per mode in ns.
 * Run it pinned (taskset -c 0) on an otherwise quiet core.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 32
#define ANSWER_LEN 61

static const struct {
    int mode;
    const char *name;
} modes[] = {
    {IP_PMTUDISC_WANT, "WANT (default)"},
    {IP_PMTUDISC_DONT, "DONT"},
    {IP_PMTUDISC_OMIT, "OMIT"},
    {IP_PMTUDISC_PROBE, "PROBE"},
};
#define N_MODES (sizeof(modes) / sizeof(modes[0]))

static double thread_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what)
{
    fprintf(stderr, "sendcost: %s: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 3000;
    if (argc > 2 || rounds < 1 || rounds > 1000000) {
        fprintf(stderr, "usage: sendcost [ROUNDS]\n");
        return 2;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t tolen = sizeof(to);
    int rx = socket(AF_INET, SOCK_DGRAM, 0);
    if (rx < 0 || bind(rx, (struct sockaddr *)&to, tolen) < 0 ||
        getsockname(rx, (struct sockaddr *)&to, &tolen) < 0)
        die("receiving socket");
    int tx[N_MODES];
    for (size_t m = 0; m < N_MODES; m++) {
        tx[m] = socket(AF_INET, SOCK_DGRAM, 0);
        if (tx[m] < 0 || setsockopt(tx[m], IPPROTO_IP, IP_MTU_DISCOVER, &modes[m].mode,
                                    sizeof(modes[m].mode)) < 0)
            die(modes[m].name);
    }

    static uint8_t out[BATCH][ANSWER_LEN], in[BATCH][512];
    struct iovec out_iov[BATCH], in_iov[BATCH];
    struct mmsghdr out_msg[BATCH], in_msg[BATCH];
    memset(out_msg, 0, sizeof(out_msg));
    memset(in_msg, 0, sizeof(in_msg));
    for (int i = 0; i < BATCH; i++) {
        out_iov[i] = (struct iovec){out[i], ANSWER_LEN};
        out_msg[i].msg_hdr = (struct msghdr){
            .msg_name = &to, .msg_namelen = tolen, .msg_iov = &out_iov[i], .msg_iovlen = 1};
        in_iov[i] = (struct iovec){in[i], sizeof(in[i])};
        in_msg[i].msg_hdr = (struct msghdr){.msg_iov = &in_iov[i], .msg_iovlen = 1};
    }

    double *ns = malloc(sizeof(double) * N_MODES * (size_t)rounds);
    if (!ns)
        die("malloc");
    for (long r = 0; r < rounds; r++) {
        for (size_t k = 0; k < N_MODES; k++) {
            size_t m = (k + (size_t)r) % N_MODES;
            double t0 = thread_ns();
            if (sendmmsg(tx[m], out_msg, BATCH, 0) != BATCH)
                die("sendmmsg");
            ns[m * (size_t)rounds + (size_t)r] = (thread_ns() - t0) / BATCH;
            for (int got = 0; got < BATCH;) {
                int n = recvmmsg(rx, in_msg, BATCH, 0, NULL);
                if (n < 0)
                    die("recvmmsg");
                got += n;
            }
        }
    }
    printf("mode              ns/datagram: median  p25  p75  (%ld batches of %d)\n", rounds,
           BATCH);
    for (size_t m = 0; m < N_MODES; m++) {
        double *v = ns + m * (size_t)rounds;
        qsort(v, (size_t)rounds, sizeof(double), by_value);
        printf("%-16s %20.0f %4.0f %4.0f\n", modes[m].name, v[rounds / 2], v[rounds / 4],
               v[rounds * 3 / 4]);
    }
    free(ns);
    return 0;
}
