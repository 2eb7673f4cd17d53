/* fileio: the few file operations the agent's tools share: a capped read of a regular file,
 * an atomic replace (temp file in the same directory, fsync, rename), `mkdir -p`, a bounded
 * recursive delete that never follows a symlink, and "is this real path inside that root".
 *
 * Everything is synchronous and bounded; none of it logs (callers decide what a failure means).
 * The writers here take trusted paths; whatever the agent's tools write goes through safeio.h,
 * which stays below home and never follows a symlink.
 */
#ifndef HERMETIC_FILEIO_H
#define HERMETIC_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct buf;

/* Appends the whole content of the regular file path (symlinks followed) to out. Returns 0;
 * -ENOENT; -EFBIG when it holds more than cap bytes (out unchanged); -EINVAL when it is not a
 * regular file (FIFOs and devices are never opened for reading, so this cannot block); or
 * another negative errno. */
int fileio_read(const char *path, size_t cap, struct buf *out);

/* fileio_read() on an open descriptor (borrowed, read from its current offset). */
int fileio_read_fd(int fd, size_t cap, struct buf *out);
/* Appends the regular file fd from offset 0 to out as base64 (buf_base64), read in pieces,
 * so only its encoding is held. 0, or a negative errno with out as it was. */
int fileio_base64_fd(int fd, struct buf *out);

/* Like fileio_read(), but a larger file is not an error: at most max bytes of its start are
 * appended, and *size (may be NULL) is set to its size when opened. */
int fileio_read_head(const char *path, size_t max, struct buf *out, size_t *size);

/* Writes all of data[0..len) to fd (retrying short writes and EINTR). Returns 0 or a negative
 * errno (-EIO when write() makes no progress). The log and the rotated files use it too. */
int fileio_write_all(int fd, const char *data, size_t len);

/* Replaces path with data[0..len) atomically: readers see the old file or the new one, never
 * a mix, and on any failure the old file is untouched and no temp file is left. The new file
 * gets mode (umask not applied). Returns 0 or a negative errno. */
int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* fsync(fd) as the atomic replaces and store_sync do it: 0 or a negative errno. */
int fileio_fsync(int fd);

/* The part of an atomic replace before the rename (here and in safeio): gives the fresh
 * temporary file fd mode and data[0..len), fsyncs it and closes it (always, also on a
 * failure). Returns 0 or the first negative errno. */
int fileio_fill_temp(int fd, mode_t mode, const void *data, size_t len);

/* Test-only slow storage: reads HERMETIC_TEST_SLOW_FSYNC_MS (milliseconds, 0 to 60000) from
 * the environment; from then on fileio_fsync sleeps that long first, as a slow SD card
 * would, so the e2e tests can show that no atomic replace runs on the loop. Called once at
 * start (daemon_init) before any thread is started; tests alone set the variable. */
void fileio_test_env(void);

/* Creates path and its missing parents with mode. An existing directory is fine. Returns 0
 * or a negative errno (-ENOTDIR when a component is not a directory). */
int fileio_mkdirs(const char *path, mode_t mode);

/* Deletes the directory path and everything below it. Symlinks are removed, never followed;
 * path itself must be a real directory (-ENOTDIR otherwise). A tree nested deeper than 16
 * levels fails with -ELOOP (what was reached first may be gone). Returns 0 or a negative
 * errno. */
int fileio_remove_tree(const char *path);
/* fileio_remove_tree() of the entry name of the directory dirfd (AT_FDCWD allowed). */
int fileio_remove_tree_at(int dirfd, const char *name);

/* True when the canonical path real equals the canonical root real_root or lies below it.
 * Both must come from realpath(); this is a string comparison. */
bool fileio_within(const char *real_root, const char *real);

#endif
