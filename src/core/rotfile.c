/* rotfile: see rotfile.h. A failed rename during rotation leaves the older files as they were
 * and the file is opened again (truncation is never used: a reader tailing it keeps its lines). */
#include "core/rotfile.h"
#include "core/fileio.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_append(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
}

int rotfile_open(struct rotfile *f, const char *path, size_t max_bytes, int keep)
{
	struct stat st;
	int fd = open_append(path);

	if (fd < 0)
		return -errno;
	rotfile_close(f);
	f->fd = fd;
	f->path = xstrdup(path);
	f->max_bytes = max_bytes;
	f->keep = keep;
	f->size = fstat(fd, &st) == 0 ? (size_t)st.st_size : 0;
	return 0;
}

static void rotate(struct rotfile *f)
{
	close(f->fd);
	f->fd = -1;
	for (int i = f->keep; i >= 1; i--) {
		char *from = i == 1 ? xstrdup(f->path) : xasprintf("%s.%d", f->path, i - 1);
		char *to = xasprintf("%s.%d", f->path, i);

		rename(from, to);
		free(from);
		free(to);
	}
	if (f->keep <= 0)
		unlink(f->path);
	f->fd = open_append(f->path);
	f->size = 0;
}

void rotfile_write(struct rotfile *f, const char *s, size_t n)
{
	if (f->fd < 0)
		return;
	if (f->max_bytes && f->size + n > f->max_bytes && f->size > 0)
		rotate(f);
	if (f->fd < 0)
		return;
	f->size += n;
	fileio_write_all(f->fd, s, n);
}

void rotfile_close(struct rotfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->path);
	f->path = NULL;
}
