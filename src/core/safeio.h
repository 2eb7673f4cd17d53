/* safeio: the one way the agent's tools write. Every path is relative to the home directory
 * descriptor and may not leave it: no absolute path, no "..", and no symlink anywhere on the
 * way (middle component or final one). Reads done on the way to a write (the file a memory or
 * skill edit starts from) use the same rules, so a planted symlink cannot leak a file either.
 *
 * All functions are synchronous and bounded and log nothing; they return 0 (or a descriptor)
 * or a negative errno: -EXDEV for an absolute path or "..", -ELOOP for a symlink in the way,
 * -EINVAL for an empty path or component. safeio_strerror() turns those into words.
 */
#ifndef HERMETIC_SAFEIO_H
#define HERMETIC_SAFEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct buf;

/* Opens the directory home (the configured data directory; following symlinks there is the
 * operator's choice) for use as home_fd below. Returns a descriptor (O_CLOEXEC) or a negative
 * errno. The caller closes it. */
int safeio_open_home(const char *home);

/* Opens rel below home_fd with flags (O_NOFOLLOW and O_CLOEXEC are added; O_CREAT uses mode).
 * Uses openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) where the
 * kernel has it, else walks the components with openat(O_NOFOLLOW). Returns a descriptor or
 * a negative errno. */
int safeio_open_at(int home_fd, const char *rel, int flags, mode_t mode);

/* Appends the whole regular file rel to out; -EFBIG (out unchanged) when it holds more than
 * cap bytes, -EINVAL when it is not a regular file, -ENOENT when missing. */
int safeio_read_at(int home_fd, const char *rel, size_t cap, struct buf *out);

/* Creates the directory rel and its missing parents below home_fd with mode; existing
 * directories are fine, a symlink anywhere is -ELOOP, a non-directory is -ENOTDIR. */
int safeio_mkdirs_at(int home_fd, const char *rel, mode_t mode);

/* Replaces rel with data[0..len) atomically: a temp file in the same directory (opened by
 * descriptor), fsync, renameat, fsync of the directory. Readers see the old or the new file;
 * on failure the old one is untouched and no temp file is left. A final component that is a
 * symlink is refused (-ELOOP), never written through. mode is applied exactly. */
int safeio_write_atomic_at(int home_fd, const char *rel, const void *data, size_t len, mode_t mode);

/* Deletes the real directory rel and everything below it, never following a symlink (a
 * symlink at rel itself is -ELOOP). Returns 0 or a negative errno. */
int safeio_remove_tree_at(int home_fd, const char *rel);

/* Words for the codes above ("the path leaves home (absolute or \"..\")", ...), else
 * strerror(-rc). */
const char *safeio_strerror(int rc);

/* Tests only: skip openat2() and always walk component by component. */
void safeio_set_walk_only(bool on);

#endif
