/* safeio: writes (and the reads before them) that cannot leave the home directory.
 *
 * A relative path is checked as text first (no leading '/', no "..", no "." or empty
 * component), then resolved from the home descriptor: with openat2() and RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS when the kernel has it (5.6+), else one
 * component at a time with openat(O_NOFOLLOW | O_DIRECTORY), so the kernel itself refuses a
 * symlink anywhere on the way, also one swapped in between a check and a use. Writes go to
 * a temp file opened relative to the parent's descriptor and are renamed in that same
 * descriptor. Rejected: realpath() + prefix compare (a race between the check and the open)
 * and chroot (needs privileges and breaks the rest of the process).
 */
#include "core/safeio.h"
#include "core/fileio.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define HAVE_OPEN_HOW 1
#endif
#endif

#ifndef HAVE_OPEN_HOW
struct open_how {
	uint64_t flags;
	uint64_t mode;
	uint64_t resolve;
};
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#endif
#ifndef RESOLVE_NO_SYMLINKS
#define RESOLVE_NO_SYMLINKS 0x04
#endif
#ifndef RESOLVE_BENEATH
#define RESOLVE_BENEATH 0x08
#endif
#ifndef SYS_openat2
#define SYS_openat2 437 /* the same number on every architecture */
#endif

#define TEMP_TRIES 16

static bool walk_only; /* tests force the fallback walk */

void safeio_set_walk_only(bool on)
{
	walk_only = on;
}

/* The path as text: relative, no "..", no "." or empty component, each at most NAME_MAX. */
static int check_rel(const char *rel)
{
	const char *p = rel;
	size_t n;

	if (!rel || !*rel)
		return -EINVAL;
	if (rel[0] == '/')
		return -EXDEV;
	if (strlen(rel) >= PATH_MAX)
		return -ENAMETOOLONG;
	for (;;) {
		n = strcspn(p, "/");
		if (n == 2 && memcmp(p, "..", 2) == 0)
			return -EXDEV;
		if (n == 0 || (n == 1 && p[0] == '.'))
			return -EINVAL;
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

/* -ELOOP when name in dirfd is a symlink, else err (why an open of it failed). */
static int why(int dirfd, const char *name, int err)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		return -ELOOP;
	return -err;
}

static int walk(int home_fd, const char *rel, int flags, mode_t mode)
{
	char *copy = xstrdup(rel), *p = copy, *slash;
	int fd = home_fd, next, rc;

	while ((slash = strchr(p, '/')) != NULL) {
		*slash = '\0';
		next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		rc = next < 0 ? why(fd, p, errno) : 0;
		if (fd != home_fd)
			close(fd);
		if (next < 0)
			goto out;
		fd = next;
		p = slash + 1;
	}
	next = openat(fd, p, flags, mode);
	rc = next < 0 ? why(fd, p, errno) : next;
	if (fd != home_fd)
		close(fd);
out:
	free(copy);
	return rc;
}

int safeio_open_at(int home_fd, const char *rel, int flags, mode_t mode)
{
	struct open_how how = {0};
	long fd;
	int rc = check_rel(rel);

	if (rc < 0)
		return rc;
	flags |= O_NOFOLLOW | O_CLOEXEC;
	if (!walk_only) {
		how.flags = (uint64_t)flags;
		how.mode = (flags & O_CREAT) ? (uint64_t)mode : 0;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
		fd = syscall(SYS_openat2, home_fd, rel, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		/* ENOSYS: before 5.6 (or a sandbox that hides it); EPERM: a seccomp filter;
		 * ENOTDIR: also what a symlink opened with O_DIRECTORY | O_NOFOLLOW gives, and
		 * the walk tells the two apart. */
		if (errno != ENOSYS && errno != EPERM && errno != ENOTDIR)
			return -errno;
	}
	return walk(home_fd, rel, flags, mode);
}

int safeio_open_home(const char *home)
{
	int fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* The directory holding rel, opened safely; *leaf points into rel at the last component. */
static int open_parent(int home_fd, const char *rel, const char **leaf)
{
	const char *slash;
	char *dir;
	int rc = check_rel(rel);

	if (rc < 0)
		return rc;
	slash = strrchr(rel, '/');
	if (!slash) {
		*leaf = rel;
		rc = openat(home_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return rc < 0 ? -errno : rc;
	}
	*leaf = slash + 1;
	dir = xstrndup(rel, (size_t)(slash - rel));
	rc = safeio_open_at(home_fd, dir, O_RDONLY | O_DIRECTORY, 0);
	free(dir);
	return rc;
}

int safeio_read_at(int home_fd, const char *rel, size_t cap, struct buf *out)
{
	int rc, fd = safeio_open_at(home_fd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);

	if (fd < 0)
		return fd;
	rc = fileio_read_fd(fd, cap, out);
	close(fd);
	return rc;
}

int safeio_mkdirs_at(int home_fd, const char *rel, mode_t mode)
{
	char *copy, *p, *slash;
	int fd, next, rc = check_rel(rel);

	if (rc < 0)
		return rc;
	copy = xstrdup(rel);
	fd = home_fd;
	for (p = copy; p; p = slash ? slash + 1 : NULL) {
		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (mkdirat(fd, p, mode) < 0 && errno != EEXIST) {
			rc = -errno;
			break;
		}
		next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			rc = why(fd, p, errno);
		if (fd != home_fd)
			close(fd);
		fd = next;
		if (rc < 0)
			break;
	}
	if (fd >= 0 && fd != home_fd)
		close(fd);
	free(copy);
	return rc;
}

/* Creates ".<leaf>.XXXXXX" in dirfd; returns its descriptor and the name in tmp. */
static int make_temp(int dirfd, const char *leaf, char *tmp, size_t tmp_len)
{
	uint32_t r;
	int i, fd;

	for (i = 0; i < TEMP_TRIES; i++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint32_t)getpid() * 2654435761u + (uint32_t)i;
		snprintf(tmp, tmp_len, ".%.*s.%06x", NAME_MAX - 9, leaf, r & 0xffffff);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	return -EEXIST;
}

int safeio_write_atomic_at(int home_fd, const char *rel, const void *data, size_t len, mode_t mode)
{
	char tmp[NAME_MAX + 1];
	const char *leaf;
	struct stat st;
	int rc = 0, fd, dirfd = open_parent(home_fd, rel, &leaf);

	if (dirfd < 0)
		return dirfd;
	/* Renaming over a symlink would replace the link, not write through it; still, a
	 * symlink there was planted, and refusing says so. */
	if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
		rc = S_ISLNK(st.st_mode) ? -ELOOP : -EINVAL;
		goto out;
	}
	fd = make_temp(dirfd, leaf, tmp, sizeof(tmp));
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	if (fchmod(fd, mode) < 0)
		rc = -errno;
	if (rc == 0)
		rc = fileio_write_all(fd, data, len);
	if (rc == 0)
		rc = fileio_fsync(fd);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(dirfd, tmp, dirfd, leaf) < 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(dirfd, tmp, 0);
	else
		fsync(dirfd); /* the rename itself survives a crash */
out:
	close(dirfd);
	return rc;
}

int safeio_remove_tree_at(int home_fd, const char *rel)
{
	const char *leaf;
	struct stat st;
	int rc, dirfd = open_parent(home_fd, rel, &leaf);

	if (dirfd < 0)
		return dirfd;
	if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		rc = -errno;
	else if (S_ISLNK(st.st_mode))
		rc = -ELOOP;
	else if (!S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	else
		rc = fileio_remove_tree_at(dirfd, leaf);
	close(dirfd);
	return rc;
}

const char *safeio_strerror(int rc)
{
	switch (rc) {
	case -EXDEV:
		return "the path leaves home (absolute or \"..\"); refused";
	case -ELOOP:
		return "a symlink is in the way (symlinks under home are never followed); refused";
	case -EINVAL:
		return "not a valid path below home (empty or \".\" component), or not a regular "
		       "file";
	default:
		return strerror(-rc);
	}
}
