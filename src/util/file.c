#include "config.h"

#include "util/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void *file_grow(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p)
        abort();
    return p;
}

char *file_read_all(const char *path, size_t max, size_t *len, const char **why)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *why = strerror(errno);
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        *why = strerror(errno);
        fclose(f);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        /* A FIFO or a device could block or never end. */
        *why = "not a regular file";
        fclose(f);
        return NULL;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    char *buf = file_grow(NULL, cap);
    for (;;) {
        if (n + 1 >= cap)
            buf = file_grow(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (max && n > max) {
            *why = "larger than the limit";
            free(buf);
            fclose(f);
            return NULL;
        }
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        *why = strerror(errno ? errno : EIO);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}
