/*
 * file: how every file the daemon reads is opened (config, zones and
 * their $INCLUDEs, the GeoIP database, the country table, networks files,
 * the health state file, health status files).
 *
 * Only regular files are read. A FIFO in place of a zone would block the
 * open until a writer came (and with it the reload thread, every later
 * reload and the shutdown); a device may never end (/dev/zero) or block;
 * a directory has no text. So the open never waits (O_NONBLOCK) and the
 * file's type is checked on the descriptor (fstat), not on the path, so
 * nothing can be swapped in between the check and the read.
 */
#ifndef MERIDIAN_UTIL_FILE_H
#define MERIDIAN_UTIL_FILE_H

#include <stddef.h>

/* Opens name (relative to the directory dirfd, or AT_FDCWD) for reading,
 * with O_NONBLOCK | O_NOCTTY | O_CLOEXEC and the extra open flags given
 * (O_NOFOLLOW, ...), and refuses anything but a regular file. The
 * descriptor returned is back in blocking mode. Returns -1 on failure with
 * errno set (EINVAL for "not a regular file") and *why a text for a
 * message: strerror's, or "not a regular file (a FIFO)" and the like;
 * *why stays valid until the thread's next call. */
int file_openat(int dirfd, const char *name, int flags, const char **why);
/* file_openat(AT_FDCWD, path, 0, why). */
int file_open(const char *path, const char **why);

/* Reads a regular file, opened with file_open(), into memory (a NUL is
 * added after the last byte, not counted in *len). max is the largest
 * size accepted, 0 for no limit. Returns NULL with *why set (as
 * file_open's, or "N bytes: larger than the limit of M") and errno set
 * (EFBIG for the size) on failure. Caller frees the result; aborts on
 * out-of-memory (load time only). */
char *file_read_all(const char *path, size_t max, size_t *len, const char **why);

/* The directory part of path: "." for a bare name, "/" for one at the
 * root. Caller frees; aborts on out-of-memory. */
char *file_dirname(const char *path);

#endif
