#include "config.h"

#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The text behind *why when it is formatted: one per thread, since the
 * reload thread, the loop and libuv's pool all read files. */
static _Thread_local char file_why[96];

static const char *file_type_text(mode_t mode)
{
    if (S_ISDIR(mode))
        return "not a regular file (a directory)";
    if (S_ISFIFO(mode))
        return "not a regular file (a FIFO)";
    if (S_ISCHR(mode))
        return "not a regular file (a character device)";
    if (S_ISBLK(mode))
        return "not a regular file (a block device)";
    if (S_ISSOCK(mode))
        return "not a regular file (a socket)";
    return "not a regular file";
}

int file_openat(int dirfd, const char *name, int flags, const char **why)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | flags);
    if (fd < 0) {
        int err = errno;
        *why = strerror(err);
        errno = err;
        return -1;
    }
    struct stat st;
    int err = 0;
    if (fstat(fd, &st) != 0) {
        err = errno;
        *why = strerror(err);
    } else if (!S_ISREG(st.st_mode)) {
        err = EINVAL;
        *why = file_type_text(st.st_mode);
    } else {
        /* A regular file never blocks anyway, but a reader that meets
         * EAGAIN (some network file systems) should wait, not fail. */
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
            err = errno;
            *why = strerror(err);
        }
    }
    if (err) {
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

int file_open(const char *path, const char **why) { return file_openat(AT_FDCWD, path, 0, why); }

static void *file_grow(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p)
        abort();
    return p;
}

static char *file_too_big(int fd, char *buf, unsigned long long size, size_t max,
                          const char **why)
{
    snprintf(file_why, sizeof(file_why), "%llu bytes: larger than the limit of %zu", size, max);
    *why = file_why;
    free(buf);
    close(fd);
    errno = EFBIG;
    return NULL;
}

char *file_read_all(const char *path, size_t max, size_t *len, const char **why)
{
    int fd = file_open(path, why);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        *why = strerror(err);
        close(fd);
        errno = err;
        return NULL;
    }
    /* Refused before a byte is read: a huge file costs nothing. */
    if (max && (unsigned long long)st.st_size > max)
        return file_too_big(fd, NULL, (unsigned long long)st.st_size, max, why);
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    char *buf = file_grow(NULL, cap);
    for (;;) {
        if (n + 1 >= cap)
            buf = file_grow(buf, cap *= 2);
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int err = errno;
            *why = strerror(err);
            free(buf);
            close(fd);
            errno = err;
            return NULL;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (max && n > max) /* it grew while we read */
            return file_too_big(fd, buf, n, max, why);
    }
    close(fd);
    buf[n] = 0;
    *len = n;
    return buf;
}

char *file_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        abort();
    return dir;
}
