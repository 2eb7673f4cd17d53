/* skill_hist: a skill's numbered versions, their content hashes and test results, and the line
 * diff that shows what a version changed.
 *
 * The log is a small text file rewritten whole (safeio_write_atomic_at) on each event, so a
 * crash leaves the old log or the new one, never half a line; a snapshot is written before the
 * line that names it. The content hash covers every regular file of the skill's folder, so an
 * edit by hand of SKILL.md or of a script it references shows as a new version ("file") the
 * next time anything records. Rejected: a git repository per skill (a dependency and a
 * process per write for what a log of snapshots gives), and snapshots of every file (the
 * tools write only SKILL.md; a pack keeps a whole folder).
 */
#include "skills/skill_hist.h"
#include "core/safeio.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HIST_DIR   "skills/.history"
#define MD_MAX	   (256 * 1024) /* a SKILL.md snapshot (the scan refuses past 64 KiB) */
#define DEPTH_MAX  3
#define DIFF_LINES 1000
#define CONTEXT	   2

/* ---- content hash ---------------------------------------------------------------------- */

struct files {
	char **v;
	size_t n;
};

static int list(int home_fd, const char *root, const char *rel, int depth, struct files *f)
{
	char *path = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	int fd = safeio_open_at(home_fd, path, O_RDONLY | O_DIRECTORY, 0), rc = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;

	free(path);
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (rc == 0 && (e = readdir(d))) {
		char *sub;

		if (e->d_name[0] == '.' || fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		sub = *rel ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
		if (S_ISDIR(st.st_mode) && depth + 1 < DEPTH_MAX) {
			rc = list(home_fd, root, sub, depth + 1, f);
			free(sub);
		} else if (S_ISREG(st.st_mode) && f->n < SKILL_HIST_FILES_MAX) {
			f->v = xrealloc(f->v, (f->n + 1) * sizeof(*f->v));
			f->v[f->n++] = sub;
		} else {
			rc = S_ISREG(st.st_mode) ? -EFBIG : 0;
			free(sub);
		}
	}
	closedir(d);
	return rc;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

#if MBEDTLS_VERSION_MAJOR >= 3
#define SHA_START(c)	    mbedtls_sha256_starts(c, 0)
#define SHA_UPDATE(c, p, n) mbedtls_sha256_update(c, (const unsigned char *)(p), n)
#define SHA_FINISH(c, md)   mbedtls_sha256_finish(c, md)
#else
#define SHA_START(c)	    mbedtls_sha256_starts_ret(c, 0)
#define SHA_UPDATE(c, p, n) mbedtls_sha256_update_ret(c, (const unsigned char *)(p), n)
#define SHA_FINISH(c, md)   mbedtls_sha256_finish_ret(c, md)
#endif

int skill_hist_hash(int home_fd, const char *rel_dir, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	struct files f = {0};
	mbedtls_sha256_context c;
	unsigned char md[32];
	struct buf b;
	char size[24], *path;
	int rc;

	rc = list(home_fd, rel_dir, "", 0, &f);
	if (rc == 0)
		qsort(f.v, f.n, sizeof(*f.v), by_path);
	mbedtls_sha256_init(&c);
	SHA_START(&c);
	buf_init(&b, 0);
	for (size_t i = 0; rc == 0 && i < f.n; i++) {
		buf_reset(&b);
		path = xasprintf("%s/%s", rel_dir, f.v[i]);
		rc = safeio_read_at(home_fd, path, SKILL_HIST_FILE_MAX, &b);
		free(path);
		snprintf(size, sizeof(size), "%zu", b.len);
		SHA_UPDATE(&c, f.v[i], strlen(f.v[i]) + 1);
		SHA_UPDATE(&c, size, strlen(size) + 1);
		SHA_UPDATE(&c, b.data ? b.data : "", b.len);
	}
	SHA_FINISH(&c, md);
	mbedtls_sha256_free(&c);
	for (size_t i = 0; i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	buf_finish(&b);
	for (size_t i = 0; i < f.n; i++)
		free(f.v[i]);
	free(f.v);
	return rc;
}

/* ---- the log --------------------------------------------------------------------------- */

void skill_hist_finish(struct skill_hist *h)
{
	if (!h)
		return;
	free(h->v);
	memset(h, 0, sizeof(*h));
}

static char *log_path(const char *name)
{
	return xasprintf(HIST_DIR "/%s/log", name);
}

/* Splits line (NUL-terminated, no '\n') at tabs into at most max fields. */
static size_t fields(char *line, char **f, size_t max)
{
	size_t n = 0;

	while (n < max) {
		char *tab = strchr(line, '\t');

		f[n++] = line;
		if (!tab)
			break;
		*tab = '\0';
		line = tab + 1;
	}
	return n;
}

/* One pass over the log's lines: the versions (tests = false), or the test results of the
 * versions already read (tests = true), so a test noted before its version was recorded
 * still finds it. text is cut up in place. */
static void parse_lines(char *text, struct skill_hist *h, bool tests)
{
	char *line = text, *nl, *f[5];
	int64_t v;

	for (; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		size_t n = fields(line, f, 5);
		if (!tests && n == 5 && strcmp(f[0], "version") == 0 &&
		    parse_i64(f[1], 1, INT32_MAX, &v) == 0 && strlen(f[2]) == 64) {
			struct skill_version *sv;

			h->v = xrealloc(h->v, (h->n + 1) * sizeof(*h->v));
			sv = &h->v[h->n++];
			memset(sv, 0, sizeof(*sv));
			sv->n = (int)v;
			snprintf(sv->hash, sizeof(sv->hash), "%s", f[2]);
			sv->ts_ms = parse_i64(f[3], 0, INT64_MAX, &v) == 0 ? v : 0;
			snprintf(sv->by, sizeof(sv->by), "%s", f[4]);
		} else if (tests && n == 4 && strcmp(f[0], "test") == 0) {
			for (size_t i = 0; i < h->n; i++)
				if (strcmp(h->v[i].hash, f[1]) == 0) {
					snprintf(h->v[i].test, sizeof(h->v[i].test), "%s", f[3]);
					h->v[i].test_ms =
						parse_i64(f[2], 0, INT64_MAX, &v) == 0 ? v : 0;
				}
		}
	}
}

static void parse_log(const char *text, struct skill_hist *h)
{
	char *copy = xstrdup(text);

	parse_lines(copy, h, false);
	free(copy);
	copy = xstrdup(text);
	parse_lines(copy, h, true);
	free(copy);
}

static int read_log(int home_fd, const char *name, struct buf *text)
{
	char *path = log_path(name);
	int rc = safeio_read_at(home_fd, path, SKILL_HIST_LOG_MAX, text);

	free(path);
	return rc == -ENOENT ? 0 : rc;
}

int skill_hist_load(int home_fd, const char *name, struct skill_hist *h)
{
	struct buf text;
	int rc;

	memset(h, 0, sizeof(*h));
	buf_init(&text, 0);
	rc = read_log(home_fd, name, &text);
	if (rc == 0 && text.len)
		parse_log(text.data, h);
	buf_finish(&text);
	return rc;
}

int skill_hist_text(int home_fd, const char *name, int n, struct buf *out)
{
	char *path = xasprintf(HIST_DIR "/%s/%d.md", name, n);
	int rc = safeio_read_at(home_fd, path, MD_MAX, out);

	free(path);
	return rc;
}

/* Drops the oldest versions past SKILL_HIST_KEEP: their lines (tests of hashes no longer
 * kept stay harmlessly) and snapshots. */
static void prune(int home_fd, const char *name, struct buf *log)
{
	struct skill_hist h = {0};
	char *dir, *p;
	size_t drop;
	int dfd;

	parse_log(buf_str(log), &h);
	if (h.n <= SKILL_HIST_KEEP) {
		skill_hist_finish(&h);
		return;
	}
	drop = h.n - SKILL_HIST_KEEP;
	dir = xasprintf(HIST_DIR "/%s", name);
	dfd = safeio_open_at(home_fd, dir, O_RDONLY | O_DIRECTORY, 0);
	for (size_t i = 0; i < drop; i++) {
		char file[32];

		snprintf(file, sizeof(file), "%d.md", h.v[i].n);
		if (dfd >= 0)
			unlinkat(dfd, file, 0);
	}
	if (dfd >= 0)
		close(dfd);
	/* the log's lines are in version order: cut up to the first kept version's line */
	p = log->data;
	for (size_t k = 0; k < drop && p; k++) {
		p = strstr(p, "version\t");
		p = p ? strchr(p, '\n') : NULL;
		p = p ? p + 1 : NULL;
	}
	if (p)
		buf_consume(log, (size_t)(p - log->data));
	free(dir);
	skill_hist_finish(&h);
}

static int append_line(int home_fd, const char *name, const char *line, bool may_prune)
{
	char *dir = xasprintf(HIST_DIR "/%s", name), *path = log_path(name);
	struct buf log;
	int rc;

	buf_init(&log, 0);
	rc = safeio_mkdirs_at(home_fd, dir, 0700);
	if (rc == 0)
		rc = read_log(home_fd, name, &log);
	if (rc == 0) {
		buf_puts(&log, line);
		if (may_prune)
			prune(home_fd, name, &log);
		if (log.len > SKILL_HIST_LOG_MAX) /* many test lines: keep the newest part */
			buf_consume(
				&log,
				(size_t)(strchr(log.data + log.len - SKILL_HIST_LOG_MAX / 2, '\n') +
					 1 - log.data));
		rc = safeio_write_atomic_at(home_fd, path, log.data, log.len, 0600);
	}
	buf_finish(&log);
	free(path);
	free(dir);
	return rc;
}

int skill_hist_record(int home_fd, const char *name, const char *rel_dir, const char *by,
		      int *n_out)
{
	struct skill_hist h = {0};
	char hash[65], *md_path = xasprintf("%s/SKILL.md", rel_dir), *snap = NULL, *line = NULL;
	struct buf text;
	int rc, n = 0;

	buf_init(&text, 0);
	rc = safeio_read_at(home_fd, md_path, MD_MAX, &text);
	if (rc == -ENOENT) {
		rc = 0;
		goto out;
	}
	if (rc == 0)
		rc = skill_hist_hash(home_fd, rel_dir, hash);
	if (rc == 0)
		rc = skill_hist_load(home_fd, name, &h);
	if (rc < 0)
		goto out;
	n = h.n ? h.v[h.n - 1].n : 0;
	if (h.n && strcmp(h.v[h.n - 1].hash, hash) == 0)
		goto out;
	n++;
	snap = xasprintf(HIST_DIR "/%s/%d.md", name, n);
	line = xasprintf("version\t%d\t%s\t%" PRId64 "\t%s\n", n, hash, now_wall_ms(), by);
	rc = safeio_mkdirs_at(home_fd, HIST_DIR, 0700);
	if (rc == 0) {
		char *dir = xasprintf(HIST_DIR "/%s", name);

		rc = safeio_mkdirs_at(home_fd, dir, 0700);
		free(dir);
	}
	if (rc == 0)
		rc = safeio_write_atomic_at(home_fd, snap, text.data ? text.data : "", text.len,
					    0600);
	if (rc == 0)
		rc = append_line(home_fd, name, line, true);
out:
	if (n_out)
		*n_out = rc == 0 ? n : 0;
	free(line);
	free(snap);
	skill_hist_finish(&h);
	buf_finish(&text);
	free(md_path);
	return rc;
}

int skill_hist_note_test(int home_fd, const char *name, const char *hash, const char *summary)
{
	char one[SKILL_HIST_SUMMARY_MAX + 1], *line;
	size_t i;
	int rc;

	snprintf(one, sizeof(one), "%s", summary);
	for (i = 0; one[i]; i++)
		if (one[i] == '\n' || one[i] == '\t' || one[i] == '\r')
			one[i] = ' ';
	one[utf8_cut(one, strlen(one))] = '\0';
	line = xasprintf("test\t%s\t%" PRId64 "\t%s\n", hash, now_wall_ms(), one);
	rc = append_line(home_fd, name, line, false);
	free(line);
	return rc;
}

/* ---- diff ------------------------------------------------------------------------------ */

struct lines {
	const char **p;
	size_t *len;
	size_t n;
};

static void split(const char *s, size_t len, struct lines *l)
{
	const char *end = s + len;

	l->p = NULL;
	l->len = NULL;
	l->n = 0;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);

		l->p = xrealloc(l->p, (l->n + 1) * sizeof(*l->p));
		l->len = xrealloc(l->len, (l->n + 1) * sizeof(*l->len));
		l->p[l->n] = s;
		l->len[l->n++] = n;
		s += n + (nl != NULL);
	}
}

static bool same(const struct lines *a, size_t i, const struct lines *b, size_t j)
{
	return a->len[i] == b->len[j] && memcmp(a->p[i], b->p[j], a->len[i]) == 0;
}

/* ops: ' ' kept, '-' a's line dropped, '+' b's line added; from an LCS table of suffixes. */
static char *ops_of(const struct lines *a, const struct lines *b, size_t *n_ops)
{
	size_t w = b->n + 1, i, j, k = 0;
	uint16_t *t = xcalloc((a->n + 1) * w, sizeof(*t));
	char *ops = xmalloc(a->n + b->n + 1);

	for (i = a->n; i-- > 0;)
		for (j = b->n; j-- > 0;)
			t[i * w + j] = same(a, i, b, j) ? (uint16_t)(t[(i + 1) * w + j + 1] + 1)
				       : t[(i + 1) * w + j] >= t[i * w + j + 1] ? t[(i + 1) * w + j]
										: t[i * w + j + 1];
	for (i = j = 0; i < a->n || j < b->n;) {
		if (i < a->n && j < b->n && same(a, i, b, j)) {
			ops[k++] = ' ';
			i++;
			j++;
		} else if (i < a->n && (j == b->n || t[(i + 1) * w + j] >= t[i * w + j + 1])) {
			ops[k++] = '-';
			i++;
		} else {
			ops[k++] = '+';
			j++;
		}
	}
	free(t);
	*n_ops = k;
	return ops;
}

void skill_diff(const char *a, size_t a_len, const char *b, size_t b_len, struct buf *out)
{
	struct lines la, lb;
	size_t n_ops, k, i = 0, j = 0, last_shown = 0;
	bool shown_any = false;
	char *ops;

	if (a_len == b_len && memcmp(a, b, a_len) == 0)
		return;
	split(a, a_len, &la);
	split(b, b_len, &lb);
	if (la.n > DIFF_LINES || lb.n > DIFF_LINES) {
		buf_printf(out, "@@ the whole text (%zu lines -> %zu lines)\n", la.n, lb.n);
		for (k = 0; k < la.n; k++)
			buf_printf(out, "-%.*s\n", (int)la.len[k], la.p[k]);
		for (k = 0; k < lb.n; k++)
			buf_printf(out, "+%.*s\n", (int)lb.len[k], lb.p[k]);
		goto out;
	}
	ops = ops_of(&la, &lb, &n_ops);
	for (k = 0; k < n_ops; k++) {
		bool near = false;

		for (size_t d = (k > CONTEXT ? k - CONTEXT : 0); d <= k + CONTEXT && d < n_ops; d++)
			near |= ops[d] != ' ';
		if (near) {
			if (!shown_any || k > last_shown + 1)
				buf_printf(out, "@@ line %zu\n", j + 1);
			if (ops[k] == '-')
				buf_printf(out, "-%.*s\n", (int)la.len[i], la.p[i]);
			else if (ops[k] == '+')
				buf_printf(out, "+%.*s\n", (int)lb.len[j], lb.p[j]);
			else
				buf_printf(out, " %.*s\n", (int)lb.len[j], lb.p[j]);
			shown_any = true;
			last_shown = k;
		}
		i += ops[k] != '+';
		j += ops[k] != '-';
	}
	free(ops);
out:
	free(la.p);
	free(la.len);
	free(lb.p);
	free(lb.len);
}
