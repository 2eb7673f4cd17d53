/* toolout: a tool's output streamed to an excerpt in memory and, when it is larger, to a file
 * in home/tool-output/ (toolout.h). The excerpt is a capped buf; the file is written through a
 * 64 KiB buffer, so memory stays at excerpt + 64 KiB whatever the output's size. The file is
 * opened only once the output outgrows the excerpt: small results, the common case, touch no
 * disk. Paths go through safeio (below home, no symlink on the way).
 *
 * Rejected: a temp file per result deleted after the turn (the point is that the human or a
 * later turn can read what the model did not), and keeping files in state.db (a 50 MB row).
 */
#include "core/toolout.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/safeio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WBUF_SIZE   (64 * 1024)
#define LABEL_MAX   48
#define PRUNE_FILES 1024 /* entries looked at per prune */

struct toolout {
	const struct config *cfg;
	char label[LABEL_MAX + 1];
	size_t excerpt_max;
	struct buf head; /* the first excerpt_max bytes */
	uint64_t total;
	bool over; /* passed agent.tool_output.max_bytes */
	int fd;
	bool file_failed;
	char *path; /* absolute, once the file is open */
	char *wbuf;
	size_t wlen;
};

struct toolout *toolout_create(const struct config *cfg, const char *label, size_t excerpt_max)
{
	struct toolout *o = xcalloc(1, sizeof(*o));
	size_t i;

	o->cfg = cfg;
	o->fd = -1;
	o->excerpt_max = excerpt_max;
	buf_init(&o->head, excerpt_max ? excerpt_max : 1); /* a cap of 0 would be none */
	for (i = 0; label && label[i] && i < LABEL_MAX; i++) {
		char ch = label[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '-';

		o->label[i] = ok ? ch : '-';
	}
	o->label[i] = '\0';
	if (!i)
		snprintf(o->label, sizeof(o->label), "tool");
	return o;
}

static void flush(struct toolout *o)
{
	if (o->fd >= 0 && o->wlen && fileio_write_all(o->fd, o->wbuf, o->wlen) < 0) {
		log_warn("tool output: writing %s failed: %s; the rest is not kept", o->path,
			 strerror(errno));
		close(o->fd);
		o->fd = -1;
		o->file_failed = true;
	}
	o->wlen = 0;
}

static void file_put(struct toolout *o, const char *data, size_t len)
{
	while (o->fd >= 0 && len) {
		size_t n = WBUF_SIZE - o->wlen < len ? WBUF_SIZE - o->wlen : len;

		memcpy(o->wbuf + o->wlen, data, n);
		o->wlen += n;
		data += n;
		len -= n;
		if (o->wlen == WBUF_SIZE)
			flush(o);
	}
}

static void close_file(struct toolout *o)
{
	flush(o);
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	free(o->wbuf);
	o->wbuf = NULL;
}

/* Opens home/tool-output/<time>-<label>-<random>.txt and writes what the excerpt holds. */
static void open_file(struct toolout *o)
{
	int home = safeio_open_home(o->cfg->home), rc;
	unsigned char rnd[3] = {0};
	char rel[128], stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	o->file_failed = true; /* until it worked */
	/* A CLI run (`hermetic mcp call`) may come before anything created home. */
	if (home == -ENOENT && fileio_mkdirs(o->cfg->home, 0700) == 0)
		home = safeio_open_home(o->cfg->home);
	rc = home;
	if (home < 0)
		goto out;
	rc = safeio_mkdirs_at(home, TOOLOUT_DIR, 0700);
	if (rc < 0)
		goto out;
	toolout_prune(o->cfg);
	random_fill(NULL, rnd, sizeof(rnd));
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	snprintf(rel, sizeof(rel), TOOLOUT_DIR "/%s-%s-%02x%02x%02x.txt", stamp, o->label, rnd[0],
		 rnd[1], rnd[2]);
	rc = safeio_open_at(home, rel, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (rc < 0)
		goto out;
	o->fd = rc;
	o->file_failed = false;
	o->path = xasprintf("%s/%s", o->cfg->home, rel);
	o->wbuf = xmalloc(WBUF_SIZE);
	file_put(o, o->head.data, o->head.len);
out:
	if (o->file_failed)
		log_warn("tool output: cannot keep it in %s/%s: %s", o->cfg->home, TOOLOUT_DIR,
			 safeio_strerror(rc));
	if (home >= 0)
		close(home);
}

int toolout_write(struct toolout *o, const void *data, size_t len)
{
	uint64_t max = (uint64_t)o->cfg->agent.tool_output.max_bytes;
	size_t room = o->excerpt_max - o->head.len;

	if (o->over) {
		o->total += len;
		return -E2BIG;
	}
	if (o->total + len > max) {
		o->over = true;
		len = (size_t)(max - o->total);
	}
	if (o->total + len > o->excerpt_max && o->fd < 0 && !o->file_failed &&
	    o->cfg->agent.tool_output.keep)
		open_file(o);
	buf_append(&o->head, data, len < room ? len : room);
	file_put(o, data, len);
	o->total += len;
	return o->over ? -E2BIG : 0;
}

uint64_t toolout_total(const struct toolout *o)
{
	return o->total;
}

bool toolout_cut(const struct toolout *o)
{
	return o->over || o->total > o->excerpt_max;
}

const char *toolout_path(const struct toolout *o)
{
	return o->file_failed ? NULL : o->path;
}

void toolout_text(struct toolout *o, struct buf *out)
{
	uint64_t max = (uint64_t)o->cfg->agent.tool_output.max_bytes;
	char note[PATH_MAX + 256], where[PATH_MAX + 96];
	size_t keep, n;

	close_file(o);
	if (!toolout_cut(o)) {
		buf_append(out, o->head.data, o->head.len);
		return;
	}
	if (!o->cfg->agent.tool_output.keep)
		snprintf(where, sizeof(where),
			 "the whole output was not kept (agent.tool_output.keep: false)");
	else if (!toolout_path(o))
		snprintf(where, sizeof(where), "the whole output could not be kept (see the log)");
	else if (o->over)
		snprintf(where, sizeof(where), "its first %llu bytes are in %s",
			 (unsigned long long)max, o->path);
	else
		snprintf(where, sizeof(where), "the whole output is in %s", o->path);
	/* The excerpt's length goes into the note, which takes room from the excerpt: measure the
	 * note with the longest length it can name, then fill in the real one. */
	n = (size_t)snprintf(note, sizeof(note),
			     "\n[output cut: the first %zu of %s%llu bytes shown%s; %s]",
			     o->excerpt_max, o->over ? "more than " : "",
			     (unsigned long long)(o->over ? max : o->total),
			     o->over ? " (agent.tool_output.max_bytes)" : "", where);
	keep = o->excerpt_max > n ? o->excerpt_max - n : 0;
	keep = utf8_cut(o->head.data, keep < o->head.len ? keep : o->head.len);
	snprintf(note, sizeof(note), "\n[output cut: the first %zu of %s%llu bytes shown%s; %s]",
		 keep, o->over ? "more than " : "", (unsigned long long)(o->over ? max : o->total),
		 o->over ? " (agent.tool_output.max_bytes)" : "", where);
	buf_append(out, o->head.data, keep);
	buf_puts(out, note);
}

void toolout_destroy(struct toolout *o)
{
	if (!o)
		return;
	close_file(o);
	buf_finish(&o->head);
	free(o->path);
	free(o);
}

struct kept {
	char name[72];
	time_t mtime;
	uint64_t size;
};

static int by_age(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;

	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

int toolout_prune(const struct config *cfg)
{
	const struct config_tool_output *c = &cfg->agent.tool_output;
	time_t oldest = time(NULL) - (time_t)c->keep_days * 86400;
	struct kept *k = NULL;
	size_t n = 0, i;
	uint64_t total = 0;
	int home = safeio_open_home(cfg->home), dfd = -1, gone = 0;
	struct dirent *e;
	DIR *d = NULL;

	if (home >= 0)
		dfd = safeio_open_at(home, TOOLOUT_DIR, O_RDONLY | O_DIRECTORY, 0);
	if (dfd >= 0)
		d = fdopendir(dfd);
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	k = xcalloc(PRUNE_FILES, sizeof(*k));
	while (n < PRUNE_FILES && (e = readdir(d))) {
		struct stat st;
		size_t len = strlen(e->d_name);

		if (len < 5 || len >= sizeof(k[0].name) || strcmp(e->d_name + len - 4, ".txt"))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		memcpy(k[n].name, e->d_name, len + 1);
		k[n].mtime = st.st_mtime;
		k[n].size = (uint64_t)st.st_size;
		total += k[n].size;
		n++;
	}
	qsort(k, n, sizeof(*k), by_age);
	for (i = 0; i < n; i++) {
		if (k[i].mtime >= oldest && total <= (uint64_t)c->keep_total_bytes)
			break;
		if (unlinkat(dirfd(d), k[i].name, 0) == 0)
			gone++;
		total -= k[i].size;
	}
	closedir(d);
	if (gone)
		log_info("tool output: deleted %d kept output(s) past agent.tool_output's "
			 "keep_days or keep_total_bytes",
			 gone);
out:
	free(k);
	if (home >= 0)
		close(home);
	return gone;
}
