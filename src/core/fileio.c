/* fileio: capped reads, atomic replaces, mkdir -p and a symlink-safe recursive delete.
 *
 * The atomic replace writes "<dir>/.<name>.XXXXXX" with mkstemp (same directory, so the
 * rename cannot cross file systems), fsyncs it, renames it over the target and fsyncs the
 * directory so the rename itself survives a crash. The recursive delete walks with
 * openat(O_NOFOLLOW) and unlinkat() relative to directory descriptors, so a symlink planted
 * inside the tree is removed, never entered. Rejected: nftw(FTW_PHYS) (no depth limit and no
 * way to stay relative to an already opened directory).
 */
#include "core/fileio.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REMOVE_MAX_DEPTH 16
#define SLOW_FSYNC_MAX	 60000

static long slow_fsync_ms; /* HERMETIC_TEST_SLOW_FSYNC_MS, set once before any thread runs */

void fileio_test_env(void)
{
	const char *v = getenv("HERMETIC_TEST_SLOW_FSYNC_MS");
	int64_t ms;

	slow_fsync_ms = 0;
	if (v && parse_i64(v, 0, SLOW_FSYNC_MAX, &ms) == 0)
		slow_fsync_ms = (long)ms;
}

int fileio_fsync(int fd)
{
	if (slow_fsync_ms > 0) {
		struct timespec ts = {slow_fsync_ms / 1000, (slow_fsync_ms % 1000) * 1000000L};

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return fsync(fd) < 0 ? -errno : 0;
}

/* fileio_read_head() on an open descriptor (borrowed). */
static int read_head_fd(int fd, size_t max, struct buf *out, size_t *size)
{
	char chunk[16384];
	struct stat st;
	ssize_t n;
	size_t want;
	int rc = 0;

	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	if (rc == 0 && size)
		*size = (size_t)st.st_size;
	while (rc == 0 && max > 0) {
		want = max < sizeof(chunk) ? max : sizeof(chunk);
		n = read(fd, chunk, want);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		else if (buf_append(out, chunk, (size_t)n) < 0)
			rc = -E2BIG;
		else
			max -= (size_t)n;
	}
	return rc;
}

int fileio_read_head(const char *path, size_t max, struct buf *out, size_t *size)
{
	int rc, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	rc = read_head_fd(fd, max, out, size);
	close(fd);
	return rc;
}

int fileio_read_fd(int fd, size_t cap, struct buf *out)
{
	struct buf b;
	size_t size = 0;
	int rc;

	buf_init(&b, 0);
	rc = read_head_fd(fd, cap + 1, &b, &size);
	if (rc == 0 && (b.len > cap || size > cap))
		rc = -EFBIG; /* also when it grew while we read it */
	if (rc == 0)
		buf_append(out, buf_str(&b), b.len);
	buf_finish(&b);
	return rc;
}

int fileio_base64_fd(int fd, struct buf *out)
{
	char piece[48 * 1024]; /* 3n bytes: the pieces join into one encoding */
	size_t start = out->len;
	off_t at = 0;
	ssize_t got;

	/* pread of a regular file is short only at its end, so every piece but the last is 3n. */
	while ((got = pread(fd, piece, sizeof(piece), at)) > 0) {
		if (buf_base64(out, piece, (size_t)got) < 0) {
			out->len = start;
			return -EFBIG;
		}
		at += got;
	}
	if (got < 0) {
		out->len = start;
		return -EIO;
	}
	return 0;
}

int fileio_read(const char *path, size_t cap, struct buf *out)
{
	int rc, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	rc = fileio_read_fd(fd, cap, out);
	close(fd);
	return rc;
}

int fileio_write_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync of the directory holding path, so a completed rename is durable. */
static void sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : NULL;
	int fd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

int fileio_fill_temp(int fd, mode_t mode, const void *data, size_t len)
{
	int rc = 0;

	if (fchmod(fd, mode) < 0)
		rc = -errno;
	if (rc == 0)
		rc = fileio_write_all(fd, data, len);
	if (rc == 0)
		rc = fileio_fsync(fd);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	const char *slash = strrchr(path, '/');
	char *tmp = slash ? xasprintf("%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1)
			  : xasprintf(".%s.XXXXXX", path);
	int rc = 0, fd = mkostemp(tmp, O_CLOEXEC);

	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = fileio_fill_temp(fd, mode, data, len);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	else
		sync_dir(path);
out:
	free(tmp);
	return rc;
}

int fileio_mkdirs(const char *path, mode_t mode)
{
	char *p = xstrdup(path), *s, c;
	struct stat st;
	int rc = 0;

	for (s = p + 1; rc == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			rc = -errno;
		else if (stat(p, &st) < 0)
			rc = -errno;
		else if (!S_ISDIR(st.st_mode))
			rc = -ENOTDIR;
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

static int remove_at(int dirfd, int depth);

/* Removes the entry name of the directory dirfd: a directory recursively, anything else
 * (symlinks included) with unlinkat. */
static int remove_entry(int dirfd, const char *name, int depth)
{
	struct stat st;
	int fd, rc;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
	if (depth >= REMOVE_MAX_DEPTH)
		return -ELOOP;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = remove_at(fd, depth + 1); /* closes fd */
	if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		rc = -errno;
	return rc;
}

/* Empties the directory fd (taken: closed before returning). */
static int remove_at(int fd, int depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while (rc == 0) {
		errno = 0;
		e = readdir(d);
		if (!e) {
			rc = errno ? -errno : 0;
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		rc = remove_entry(dirfd(d), e->d_name, depth);
	}
	closedir(d);
	return rc;
}

int fileio_remove_tree_at(int dirfd, const char *name)
{
	int rc, fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return errno == ELOOP ? -ENOTDIR : -errno;
	rc = remove_at(fd, 0);
	if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		rc = -errno;
	return rc;
}

int fileio_remove_tree(const char *path)
{
	return fileio_remove_tree_at(AT_FDCWD, path);
}

bool fileio_within(const char *real_root, const char *real)
{
	size_t n = strlen(real_root);

	if (n == 1 && real_root[0] == '/')
		return real[0] == '/';
	return strncmp(real, real_root, n) == 0 && (real[n] == '\0' || real[n] == '/');
}
