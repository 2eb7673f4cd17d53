/* rotfile: an append-only file that rotates by size (path -> path.1 -> ... -> path.<keep>),
 * shared by the log and the audit trail. Writes are plain write(2) calls on an O_APPEND
 * descriptor: lines are small and local, and the loop is single-threaded. */
#ifndef HERMETIC_ROTFILE_H
#define HERMETIC_ROTFILE_H

#include <stddef.h>

struct rotfile {
	int fd; /* -1 = closed */
	char *path;
	size_t max_bytes; /* 0 = never rotate */
	int keep;
	size_t size;
};

#define ROTFILE_CLOSED                                                                             \
	{                                                                                          \
		.fd = -1                                                                           \
	}

/* Opens (creates 0600, never through a symlink) path for appending; an open file is closed
 * first. Returns 0 or a negative errno (the file stays closed). */
int rotfile_open(struct rotfile *f, const char *path, size_t max_bytes, int keep);
/* Appends s[0..n), rotating first when it would pass max_bytes. Nothing when closed. */
void rotfile_write(struct rotfile *f, const char *s, size_t n);
void rotfile_close(struct rotfile *f);

#endif
