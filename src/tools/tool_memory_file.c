/* tool_memory_file: one memory file (MEMORY.md, USER.md, a lane's) as tool_memory.c reads
 * and writes it: entries joined by a line holding only "§" (Hermes Agent's format), their
 * bound in characters, the read (capped at FILE_MAX_BYTES) and the atomic write through
 * safeio below home, the kept versions in .history, and the lock held from a read to its
 * write. What the entries mean, and who may write them, is tool_memory.c's; nothing here
 * calls it.
 */
#include "tools/tool_memory_int.h"
#include "core/config.h"
#include "core/log.h"
#include "core/safeio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Held from a file's read to its write (tool_memory_int.h). */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

void mem_lock(void)
{
	pthread_mutex_lock(&write_lock);
}

void mem_unlock(void)
{
	pthread_mutex_unlock(&write_lock);
}

/* A lane's name becomes a folder: only names that cannot climb out of it or hide. */
bool mem_lane_ok(const char *lane)
{
	size_t i, len = strlen(lane);

	if (len == 0 || len > LANE_NAME_MAX || lane[0] == '.' || lane[0] == '-')
		return false;
	for (i = 0; i < len; i++)
		if (!((lane[i] >= 'a' && lane[i] <= 'z') || (lane[i] >= 'A' && lane[i] <= 'Z') ||
		      (lane[i] >= '0' && lane[i] <= '9') || lane[i] == '_' || lane[i] == '-' ||
		      lane[i] == '.'))
			return false;
	return true;
}

/* The file of lane (NULL: the shared one); the caller checked lane with lane_dir_ok. */
void mem_init(struct mem *m, const struct config *cfg, bool user, const char *lane)
{
	memset(m, 0, sizeof(*m));
	m->base = user ? "USER.md" : "MEMORY.md";
	m->lane = lane;
	m->file = lane ? xasprintf("lanes/%s/%s", lane, m->base) : xstrdup(m->base);
	m->rel = xasprintf("memories/%s", m->file);
	m->dir = lane ? xasprintf("memories/lanes/%s", lane) : xstrdup("memories");
	m->home = cfg->home;
	m->max_chars = (size_t)(user ? cfg->memory.user_max_chars : cfg->memory.max_chars);
	buf_init(&m->raw, 0);
}

void mem_finish(struct mem *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->v[i]);
	free(m->v);
	free(m->rel);
	free(m->dir);
	free(m->file);
	buf_finish(&m->raw);
}

bool mem_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copies s[0..len) without surrounding white space; NULL when nothing is left. */
char *mem_trimmed(const char *s, size_t len)
{
	while (len > 0 && mem_is_space(*s)) {
		s++;
		len--;
	}
	while (len > 0 && mem_is_space(s[len - 1]))
		len--;
	return len ? xstrndup(s, len) : NULL;
}

ssize_t mem_find(const struct mem *m, const char *s)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->v[i], s) == 0)
			return (ssize_t)i;
	return -1;
}

/* Appends e (taken) unless an identical entry is already there. */
void mem_push(struct mem *m, char *e)
{
	if (!e || mem_find(m, e) >= 0) {
		free(e);
		return;
	}
	m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
	m->v[m->n++] = e;
}

void mem_parse(struct mem *m, const char *text, size_t len)
{
	const char *end = text + len, *d;

	while (text < end) {
		d = memmem(text, (size_t)(end - text), DELIM, strlen(DELIM));
		if (!d)
			d = end;
		mem_push(m, mem_trimmed(text, (size_t)(d - text)));
		text = d < end ? d + strlen(DELIM) : end;
	}
}

/* Reads the file; a missing one is empty. On error appends the reason to err. */
int mem_load(struct mem *m, struct buf *err)
{
	struct buf *b = &m->raw;
	int rc, home_fd;

	home_fd = safeio_open_home(m->home);
	rc = home_fd < 0 ? home_fd : safeio_read_at(home_fd, m->rel, FILE_MAX_BYTES, b);
	if (home_fd >= 0)
		close(home_fd);
	if (rc == 0)
		mem_parse(m, buf_str(b), b->len);
	else if (rc == -ENOENT)
		rc = 0;
	else if (rc == -EFBIG)
		buf_printf(err, "%s is larger than %d KiB; it must be shortened by hand", m->file,
			   FILE_MAX_BYTES / 1024);
	else
		buf_printf(err, "cannot read %s: %s", m->rel, safeio_strerror(rc));
	return rc;
}

void mem_join(char *const *v, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf_printf(out, "%s%s", i ? DELIM : "", v[i]);
}

size_t mem_chars_of(char *const *v, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		c += utf8_count(v[i], strlen(v[i])) + (i ? DELIM_CHARS : 0);
	return c;
}

/* "2,431" */
const char *mem_commas(size_t n, char out[32])
{
	char digits[24];
	size_t len = (size_t)snprintf(digits, sizeof(digits), "%zu", n), i, j = 0;

	for (i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			out[j++] = ',';
		out[j++] = digits[i];
	}
	out[j] = '\0';
	return out;
}

void mem_usage(const struct mem *m, size_t chars, struct buf *out)
{
	char a[32], b[32];

	buf_printf(out, "%s/%s characters, %zu %s", mem_commas(chars, a),
		   mem_commas(m->max_chars, b), m->n, m->n == 1 ? "entry" : "entries");
}

size_t mem_chars_one(const char *s)
{
	return utf8_count(s, strlen(s));
}

/* Refuses a write that would make the file chars long, listing the current entries. */
int mem_check_bound(const struct mem *m, size_t chars, struct buf *out)
{
	char a[32], b[32];

	if (chars <= m->max_chars)
		return 0;
	buf_printf(out,
		   "%s would be %s/%s characters; remove or shorten entries first (current "
		   "entries:\n",
		   m->file, mem_commas(chars, a), mem_commas(m->max_chars, b));
	mem_join(m->v, m->n, out);
	buf_puts(out, ")");
	return -E2BIG;
}

/* The file's bytes for m's entries. */
void mem_render(const struct mem *m, struct buf *b)
{
	mem_join(m->v, m->n, b);
	if (m->n)
		buf_puts(b, "\n");
}

int mem_save(struct mem *m, const char *done, struct buf *out)
{
	struct buf b;
	int rc, home_fd = safeio_open_home(m->home);

	buf_init(&b, 0);
	mem_render(m, &b);
	rc = home_fd < 0 ? home_fd : safeio_mkdirs_at(home_fd, m->dir, 0700);
	if (rc == 0)
		rc = safeio_write_atomic_at(home_fd, m->rel, buf_str(&b), b.len, 0600);
	if (home_fd >= 0)
		close(home_fd);
	if (rc < 0) {
		log_warn("memory: cannot write %s/%s: %s", m->home, m->rel, safeio_strerror(rc));
		buf_printf(out, "cannot write %s: %s; nothing was changed", m->file,
			   safeio_strerror(rc));
	} else {
		size_t chars = mem_chars_of(m->v, m->n);

		buf_printf(out, "%s %s (", done, m->file);
		mem_usage(m, chars, out);
		buf_puts(out, ").");
		/* Told before it fills, not when a write is refused. */
		if (m->max_chars && chars * 100 >= m->max_chars * FULL_WARN_PERCENT)
			buf_printf(out,
				   " It is %zu%% full: merge related entries and drop stale ones "
				   "now (replace, remove), before a write is refused.",
				   chars * 100 / m->max_chars);
	}
	buf_finish(&b);
	return rc;
}

/* A line holding only "§" would split the entry in two when the file is read back. */
bool mem_has_delim_line(const char *s)
{
	const char *line = s, *nl;
	size_t len;

	for (; line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		len = nl ? (size_t)(nl - line) : strlen(line);
		while (len > 0 && mem_is_space(line[len - 1]))
			len--;
		if (len == strlen("§") && memcmp(line, "§", len) == 0)
			return true;
	}
	return false;
}

/* Keeps m's bytes as <its folder>/.history/<file>.<UTC time> (memories/.history/... for the
 * shared files); "<that folder>/<name>" (below memories/) goes to kept. */
int mem_history_put(int home_fd, const struct mem *m, struct buf *kept)
{
	int64_t ms = now_wall_ms();
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char stamp[32], *rel, *dir;
	int rc;

	gmtime_r(&s, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	dir = xasprintf("%s/%s", m->dir, HISTORY_DIR);
	rel = xasprintf("%s/%s.%s.%03dZ", dir, m->base, stamp, (int)(ms % 1000));
	rc = safeio_mkdirs_at(home_fd, dir, 0700);
	if (rc == 0)
		rc = safeio_write_atomic_at(home_fd, rel, m->raw.data ? m->raw.data : "",
					    m->raw.len, 0600);
	if (rc == 0)
		buf_puts(kept, rel);
	free(dir);
	free(rel);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes the oldest kept versions of m's file past keep (names sort by time). Best effort. */
void mem_history_prune(int home_fd, const struct mem *m, size_t keep)
{
	char *dir = xasprintf("%s/%s", m->dir, HISTORY_DIR);
	int fd = safeio_open_at(home_fd, dir, O_RDONLY | O_DIRECTORY, 0);
	size_t n = 0, i, plen = strlen(m->base);
	const char *file = m->base;
	char **v = NULL;
	struct dirent *e;
	DIR *d;

	free(dir);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strncmp(e->d_name, file, plen) == 0 && e->d_name[plen] == '.') {
			v = xrealloc(v, (n + 1) * sizeof(*v));
			v[n++] = xstrdup(e->d_name);
		}
	qsort(v, n, sizeof(*v), by_name);
	for (i = 0; i < n; i++) {
		if (i + keep < n && unlinkat(dirfd(d), v[i], 0) < 0)
			log_warn("memory: cannot remove %s/%s/%s: %s", m->dir, HISTORY_DIR, v[i],
				 strerror(errno));
		free(v[i]);
	}
	free(v);
	closedir(d);
}
