/* tool_files: read_file and search_files, read-only access to home and the notes dirs.
 *
 * The roots are cfg->home and cfg->notes_dirs (e.g. a synced Obsidian vault). A path is
 * relative to home or absolute; it is resolved with realpath() and used only when the result
 * lies inside the realpath of a root, which covers "..", absolute paths elsewhere and
 * symlinks inside a root that point out of it. home/state.db* (SQLite with every
 * conversation) is never read. Both tools stream files in chunks and stop at fixed caps
 * (bytes returned, bytes and files scanned, hits), saying so in the result, so a huge or
 * hostile tree costs bounded time and memory.
 *
 * search_files matches a plain, case-insensitive substring per line: models write broken
 * regular expressions often enough that a literal is the better default for notes. The walk
 * never enters a symlinked directory (a loop or a way out); a symlinked file is searched
 * only when its target is inside a root. Rejected: shelling out to grep/ripgrep (a process
 * per call, and the sandbox has no such binaries) and an index (the trees are small).
 *
 * Off the loop: a notes dir can sit on NFS or a sync mount that hangs, and then realpath(),
 * open() and read() block in the kernel for as long as the server is away. So each call runs
 * on a detached worker thread of its own, with copies of everything it reads (the arguments
 * and the roots' names, never the config), and posts its result back through an eventfd the
 * loop watches. The tool timeout (tools.c) cancels the job: the callback fires from the loop
 * at once, and a thread that is stuck in the kernel is abandoned; when it ever returns, its
 * result is discarded and it frees the job (a reference count of two: thread and loop).
 * At most MAX_STUCK abandoned threads may still be running (past that a call is refused,
 * saying a notes dir seems to hang) and MAX_LIVE threads in all (a round of parallel calls),
 * so a hung mount costs a bounded number of threads.
 * Rejected: a pool (a stuck call would hold a pool thread forever and starve the others, so
 * it would need the same abandonment and gains little), and O_NONBLOCK or timeouts on the
 * syscalls (regular files ignore O_NONBLOCK; NFS hard mounts ignore everything).
 */
#include "core/config.h"
#include "core/fileio.h"
#include "core/loop.h"
#include "core/offload.h"
#include "tools/tool.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_MAX_BYTES	  (64 * 1024)	     /* numbered text returned by one read_file */
#define READ_SCAN_BYTES	  (32 * 1024 * 1024) /* bytes read_file passes to reach offset */
#define LINE_MAX_BYTES	  2000		     /* read_file cuts longer lines */
#define LIST_MAX_ENTRIES  200		     /* read_file on a directory */
#define CHUNK_BYTES	  (64 * 1024)
#define SEARCH_MAX_HITS	  50
#define HIT_MAX_BYTES	  200		     /* text shown per hit */
#define SEARCH_MAX_FILES  5000		     /* files opened by one search */
#define SEARCH_SCAN_BYTES (32 * 1024 * 1024) /* bytes read by one search */
#define SEARCH_FILE_BYTES (1024 * 1024)	     /* bytes searched per file */
#define SEARCH_MAX_DEPTH  16
#define PATTERN_MAX_BYTES 256
#define MAX_ROOTS	  (1 + 32)
#define MAX_STUCK	  4  /* abandoned (cancelled, timed out) threads still running */
#define MAX_LIVE	  36 /* threads in all: a round of parallel calls, plus the stuck */
#define WORKER_STACK	  (512 * 1024)

/* What a call reads, copied so that a thread that outlives the call needs nothing else. */
struct file_req {
	char *home;
	char *notes[MAX_ROOTS - 1];
	size_t n_notes;
	cJSON *args;
};

struct roots {
	const char *shown[MAX_ROOTS]; /* as configured */
	char *real[MAX_ROOTS];	      /* realpath; NULL when it does not exist */
	size_t n;
	const char *home_real; /* real[0] */
};

static void roots_init(struct roots *r, const struct file_req *req)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	r->shown[r->n] = req->home;
	r->real[r->n++] = realpath(req->home, NULL);
	for (i = 0; i < req->n_notes && r->n < MAX_ROOTS; i++) {
		r->shown[r->n] = req->notes[i];
		r->real[r->n++] = realpath(req->notes[i], NULL);
	}
	r->home_real = r->real[0];
}

static void roots_finish(struct roots *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->real[i]);
}

/* The root holding real, or -1. */
static ssize_t root_of(const struct roots *r, const char *real)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->real[i] && fileio_within(r->real[i], real))
			return (ssize_t)i;
	return -1;
}

static void put_roots(const struct roots *r, struct buf *out)
{
	size_t i;

	buf_printf(out, "home %s", r->shown[0]);
	for (i = 1; i < r->n; i++)
		buf_printf(out, ", %s", r->shown[i]);
}

/* home/state.db, state.db-wal, ...: the database is never read. */
static bool is_state_db(const struct roots *r, const char *real)
{
	const char *rel;

	if (!r->home_real || !fileio_within(r->home_real, real))
		return false;
	rel = real + strlen(r->home_real);
	rel += *rel == '/';
	return strncmp(rel, "state.db", 8) == 0 && !strchr(rel, '/');
}

/* True when path has no ".." component and starts with a configured or real root, so "not
 * found" tells nothing about places outside the roots. */
static bool lexically_inside(const struct roots *r, const char *path)
{
	size_t i;

	if (strstr(path, "/../") || strncmp(path, "../", 3) == 0 ||
	    (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0))
		return false;
	for (i = 0; i < r->n; i++)
		if (fileio_within(r->shown[i], path) ||
		    (r->real[i] && fileio_within(r->real[i], path)))
			return true;
	return false;
}

/* Resolves the model's path (relative to home, or absolute) to a real path inside a root.
 * Returns a new string, or NULL with the reason in out. */
static char *resolve(const struct roots *r, const char *path, struct buf *out)
{
	char *full = path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", r->shown[0], path);
	char *real = realpath(full, NULL);
	int e = errno;

	if (!real && (e == ENOENT || e == ENOTDIR) && lexically_inside(r, full)) {
		buf_printf(out, "no such file: %s", path);
	} else if (!real || root_of(r, real) < 0) {
		buf_printf(out, "%s is outside the readable directories (", path);
		put_roots(r, out);
		buf_puts(out, "); use a path inside one of them");
	} else if (is_state_db(r, real)) {
		buf_puts(out,
			 "state.db is the agent's database; it is not readable with this tool");
	} else {
		free(full);
		return real;
	}
	free(real);
	free(full);
	return NULL;
}

/* How a real path is shown: relative for home, else below its configured root. */
static char *shown_path(const struct roots *r, const char *real)
{
	ssize_t i = root_of(r, real);
	const char *rest;

	if (i < 0)
		return xstrdup(real);
	rest = real + strlen(r->real[i]);
	if (i == 0)
		return xstrdup(*rest == '/' ? rest + 1 : (*rest ? rest : "."));
	return xasprintf("%s%s", r->shown[i], rest);
}

/* ---------------------------------------------------------------------------------------
 * read_file
 */

struct reader {
	size_t offset, limit; /* lines [offset, offset + limit) are wanted */
	size_t line_no;	      /* 1-based number of the line being read */
	bool in_line;	      /* bytes of line_no were seen */
	struct buf line;      /* the wanted line so far, at most LINE_MAX_BYTES */
	bool line_cut;
	struct buf text; /* numbered lines */
	bool full;	 /* READ_MAX_BYTES reached */
	bool binary;
};

static bool wanted(const struct reader *r)
{
	return r->line_no >= r->offset && r->line_no - r->offset < r->limit;
}

static void end_line(struct reader *rd)
{
	struct buf *l = &rd->line;
	size_t n = l->len, before = rd->text.len;

	if (wanted(rd)) {
		while (n > 0 && l->data[n - 1] == '\r')
			n--;
		buf_printf(&rd->text, "%4zu| %.*s%s\n", rd->line_no, (int)n, buf_str(l),
			   rd->line_cut ? " [line cut]" : "");
		if (rd->text.len > READ_MAX_BYTES) {
			rd->text.len = before; /* the line does not fit: stop before it */
			rd->text.data[before] = '\0';
			rd->full = true;
			return;
		}
	}
	buf_reset(l);
	rd->line_cut = false;
	rd->in_line = false;
	rd->line_no++;
}

static bool done(const struct reader *rd)
{
	return rd->full || rd->binary ||
	       (rd->line_no >= rd->offset && rd->line_no - rd->offset >= rd->limit);
}

/* Feeds data[0..n); returns the bytes consumed (fewer once done). */
static size_t feed(struct reader *rd, const char *data, size_t n)
{
	const char *p = data, *end = data + n, *nl;
	size_t seg, room;

	if (memchr(data, '\0', n)) {
		rd->binary = true;
		return n;
	}
	while (p < end && !done(rd)) {
		nl = memchr(p, '\n', (size_t)(end - p));
		seg = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (wanted(rd) && !rd->line_cut) {
			room = LINE_MAX_BYTES - rd->line.len;
			if (seg > room) {
				buf_append(&rd->line, p, utf8_cut(p, room));
				rd->line_cut = true;
			} else {
				buf_append(&rd->line, p, seg);
			}
		}
		rd->in_line = rd->in_line || seg > 0;
		p += seg;
		if (nl) {
			end_line(rd);
			p++;
		}
	}
	return (size_t)(p - data);
}

static int read_text(int fd, const char *path, struct reader *rd, struct buf *out)
{
	char *chunk = xmalloc(CHUNK_BYTES);
	size_t scanned = 0, used = 0;
	ssize_t n = 0;
	bool more = false;
	int err = 0;

	while (!done(rd) && scanned < READ_SCAN_BYTES) {
		n = read(fd, chunk, CHUNK_BYTES);
		if (n < 0 && errno == EINTR)
			continue;
		err = n < 0 ? errno : 0;
		if (n <= 0)
			break;
		scanned += (size_t)n;
		used = feed(rd, chunk, (size_t)n);
	}
	if (n == 0 && rd->in_line && !done(rd))
		end_line(rd); /* a last line without '\n' */
	if (done(rd) && !rd->binary)
		more = used < (size_t)(n > 0 ? n : 0) || read(fd, chunk, 1) > 0;
	else if (n > 0)
		more = true; /* stopped by READ_SCAN_BYTES */
	free(chunk);
	if (n < 0) {
		buf_printf(out, "cannot read %s: %s", path, strerror(err));
		return -EIO;
	}
	if (rd->binary) {
		buf_printf(out, "%s is a binary file; read_file shows text only", path);
		return -EINVAL;
	}
	if (rd->line_no <= rd->offset && rd->text.len == 0 && !rd->full) {
		if (scanned >= READ_SCAN_BYTES)
			buf_printf(out, "offset %zu is beyond the first %d MiB of %s", rd->offset,
				   READ_SCAN_BYTES / (1024 * 1024), path);
		else if (rd->line_no == 1)
			buf_printf(out, "%s is empty", path);
		else
			buf_printf(out, "offset %zu is past the end of %s (%zu lines)", rd->offset,
				   path, rd->line_no - 1);
		return rd->line_no == 1 && scanned == 0 ? 0 : -EINVAL;
	}
	buf_append(out, buf_str(&rd->text), rd->text.len);
	if (rd->full || more)
		buf_printf(out, "[more lines follow; continue with offset=%zu]", rd->line_no);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_hidden(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/* read_file on a directory lists it: names, "/" after directories. */
static int list_dir(const struct roots *r, const char *real, const char *path, struct buf *out)
{
	struct dirent **v = NULL;
	struct stat st;
	char *child;
	int n = scandir(real, &v, not_hidden, by_name), i, shown = 0;

	if (n < 0) {
		buf_printf(out, "cannot list %s: %s", path, strerror(errno));
		return -EIO;
	}
	for (i = 0; i < n; i++) {
		child = xasprintf("%s/%s", real, v[i]->d_name);
		if (!is_state_db(r, child) && shown < LIST_MAX_ENTRIES) {
			buf_printf(out, "%s%s\n", v[i]->d_name,
				   stat(child, &st) == 0 && S_ISDIR(st.st_mode) ? "/" : "");
			shown++;
		}
		free(child);
		free(v[i]);
	}
	free(v);
	if (shown == 0)
		buf_printf(out, "%s is an empty directory", path);
	else if (shown == LIST_MAX_ENTRIES && n > LIST_MAX_ENTRIES)
		buf_printf(out, "[first %d entries; search_files finds the rest]",
			   LIST_MAX_ENTRIES);
	return 0;
}

static int run_read(const struct file_req *req, struct buf *out)
{
	size_t mark = out->len;
	bool bad = false;
	const char *path = tool_arg_str(req->args, "path", true, out);
	long long offset = tool_arg_int(req->args, "offset", 1, 1, 1000000000, &bad, out);
	long long limit = tool_arg_int(req->args, "limit", 200, 1, 2000, &bad, out);
	struct reader rd = {.offset = (size_t)offset, .limit = (size_t)limit, .line_no = 1};
	struct roots r;
	struct stat st;
	char *real = NULL;
	int rc = -EINVAL, fd = -1;

	if (out->len > mark || bad)
		return -EINVAL;
	roots_init(&r, req);
	buf_init(&rd.line, 0);
	buf_init(&rd.text, 0);
	real = *path ? resolve(&r, path, out) : NULL;
	if (!*path)
		buf_puts(out, "path is empty");
	if (real)
		fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (real && (fd < 0 || fstat(fd, &st) < 0))
		buf_printf(out, "cannot open %s: %s", path, strerror(errno));
	else if (real && S_ISDIR(st.st_mode))
		rc = list_dir(&r, real, path, out);
	else if (real && !S_ISREG(st.st_mode))
		buf_printf(out, "%s is not a regular file", path);
	else if (real)
		rc = read_text(fd, path, &rd, out);
	if (fd >= 0)
		close(fd);
	free(real);
	buf_finish(&rd.text);
	buf_finish(&rd.line);
	roots_finish(&r);
	return rc;
}

/* ---------------------------------------------------------------------------------------
 * the worker thread
 */

typedef int (*file_run)(const struct file_req *req, struct buf *out);

static int run_search(const struct file_req *req, struct buf *out);

struct tool_job {
	atomic_int refs; /* the thread's and the loop's */
	/* The thread writes 1 when out and rc are final. The loop owns it and closes it when its
	 * side ends (job_end): the descriptor it watches is closed on its own thread, and a hung
	 * thread holds none. mu makes the thread's write and that close exclusive: after the
	 * close (loop_gone) the thread writes nothing. */
	int efd;
	pthread_mutex_t mu;
	bool loop_gone;
	struct event *ready, *defer;
	tool_job_cb cb;
	void *arg;
	file_run run;
	struct file_req req;
	struct buf out;
	int rc;
	atomic_int state; /* RUNNING, then DONE (the thread) or ABANDONED (job_cancel) */
	bool cancelled;	  /* loop side only */
};

enum { RUNNING, DONE, ABANDONED };

static atomic_int n_live, n_stuck;

static void job_release(struct tool_job *j)
{
	size_t i;

	if (atomic_fetch_sub(&j->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&j->mu);
	cJSON_Delete(j->req.args);
	free(j->req.home);
	for (i = 0; i < j->req.n_notes; i++)
		free(j->req.notes[i]);
	buf_finish(&j->out);
	free(j);
}

static void *worker_main(void *arg)
{
	struct tool_job *j = arg;
	uint64_t one = 1;

	offload_thread_init();
	j->rc = j->run(&j->req, &j->out);
	if (atomic_exchange(&j->state, DONE) == ABANDONED)
		atomic_fetch_sub(&n_stuck, 1);
	atomic_fetch_sub(&n_live, 1);
	/* Cannot block or fail: the counter is far from its limit, and efd is open until the
	 * loop's side ends, which waits for this. */
	pthread_mutex_lock(&j->mu);
	if (!j->loop_gone)
		while (write(j->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	pthread_mutex_unlock(&j->mu);
	job_release(j);
	return NULL;
}

/* The loop's side is over: no event of the job fires again. */
static void job_end(struct tool_job *j)
{
	event_free(j->ready);
	event_free(j->defer);
	pthread_mutex_lock(&j->mu);
	j->loop_gone = true;
	close(j->efd);
	pthread_mutex_unlock(&j->mu);
	job_release(j);
}

static void on_ready(evutil_socket_t fd, short what, void *arg)
{
	struct tool_job *j = arg;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno == EAGAIN)
		return;
	j->cb(j->rc < 0, buf_str(&j->out), j->out.len, j->arg);
	job_end(j);
}

static void on_cancelled(evutil_socket_t fd, short what, void *arg)
{
	struct tool_job *j = arg;

	j->cb(true, "cancelled", strlen("cancelled"), j->arg);
	job_end(j);
}

/* The thread may be stuck in the kernel: answer now, from the loop, and leave the thread
 * to free the job if it ever returns. */
static void job_cancel(struct tool_job *j)
{
	struct timeval zero = {0, 0};
	int running = RUNNING;

	if (j->cancelled)
		return;
	j->cancelled = true;
	if (atomic_compare_exchange_strong(&j->state, &running, ABANDONED))
		atomic_fetch_add(&n_stuck, 1);
	event_del(j->ready);
	evtimer_add(j->defer, &zero);
}

static int job_start(const struct tool_req *req, file_run run, const char *name, tool_job_cb cb,
		     void *arg, struct buf *err, struct tool_job **out)
{
	const struct config *cfg = req->env->cfg;
	struct event_base *base = loop_base(req->env->loop);
	struct tool_job *j;
	pthread_attr_t attr;
	pthread_t thread;
	size_t i;
	int rc;

	if (atomic_load(&n_stuck) >= MAX_STUCK) {
		buf_printf(err,
			   "%s cannot run now: %d earlier file tool calls timed out and have still "
			   "not returned (is a notes dir on a file system that hangs?); try again "
			   "later",
			   name, MAX_STUCK);
		return -EBUSY;
	}
	if (atomic_fetch_add(&n_live, 1) >= MAX_LIVE) {
		atomic_fetch_sub(&n_live, 1);
		buf_printf(err,
			   "%s cannot run now: %d file tool calls are running; try again later",
			   name, MAX_LIVE);
		return -EBUSY;
	}
	j = xcalloc(1, sizeof(*j));
	j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (j->efd < 0) {
		buf_printf(err, "%s could not start: %s", name, strerror(errno));
		atomic_fetch_sub(&n_live, 1);
		free(j);
		return -EIO;
	}
	pthread_mutex_init(&j->mu, NULL);
	atomic_init(&j->refs, 2);
	atomic_init(&j->state, RUNNING);
	j->cb = cb;
	j->arg = arg;
	j->run = run;
	j->req.home = xstrdup(cfg->home);
	for (i = 0; i < cfg->n_notes_dirs && i < ARRAY_LEN(j->req.notes); i++)
		j->req.notes[j->req.n_notes++] = xstrdup(cfg->notes_dirs[i]);
	j->req.args = cJSON_Duplicate(req->args, true);
	buf_init(&j->out, err->cap);
	j->ready = event_new(base, j->efd, EV_READ | EV_PERSIST, on_ready, j);
	j->defer = evtimer_new(base, on_cancelled, j);
	event_add(j->ready, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&thread, &attr, worker_main, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		buf_printf(err, "%s could not start a thread: %s", name, strerror(rc));
		atomic_fetch_sub(&n_live, 1);
		atomic_fetch_sub(&j->refs, 1); /* the thread's */
		job_end(j);
		return -EAGAIN;
	}
	*out = j;
	return 0;
}

static int start_read(const struct tool_req *req, tool_job_cb cb, void *arg, struct buf *err,
		      struct tool_job **out)
{
	return job_start(req, run_read, "read_file", cb, arg, err, out);
}

static int start_search(const struct tool_req *req, tool_job_cb cb, void *arg, struct buf *err,
			struct tool_job **out)
{
	return job_start(req, run_search, "search_files", cb, arg, err, out);
}

const struct tool_def tool_def_read_file = {
	.name = "read_file",
	.toolset = CONFIG_TOOLSET_FILES,
	.read_only = true,
	.description = "Read a text file as numbered lines, or list a directory (home or the "
		       "notes dirs).",
	.params_json = "{\"type\":\"object\",\"properties\":{"
		       "\"path\":{\"type\":\"string\"},"
		       "\"offset\":{\"type\":\"integer\",\"description\":\"first line, 1-based\"},"
		       "\"limit\":{\"type\":\"integer\",\"description\":\"lines, default 200\"}},"
		       "\"required\":[\"path\"]}",
	.start = start_read,
	.cancel = job_cancel,
};

/* ---------------------------------------------------------------------------------------
 * search_files
 */

struct search {
	const struct roots *r;
	const char *pattern;
	const char *glob; /* NULL = every file */
	struct buf *out;
	size_t hits, files, bytes;
	const char *stop; /* why the walk stopped early, or NULL */
};

static void hit(struct search *s, const char *real, size_t line_no, const char *line)
{
	char *shown = shown_path(s->r, real);
	size_t n;

	while (*line == ' ' || *line == '\t')
		line++;
	n = strlen(line);
	if (n > 0 && line[n - 1] == '\r')
		n--;
	buf_printf(s->out, "%s:%zu: ", shown, line_no);
	if (n > HIT_MAX_BYTES)
		buf_printf(s->out, "%.*s...\n", (int)utf8_cut(line, HIT_MAX_BYTES), line);
	else
		buf_printf(s->out, "%.*s\n", (int)n, line);
	free(shown);
	if (++s->hits == SEARCH_MAX_HITS)
		s->stop = "hits";
}

static void search_file(struct search *s, const char *real)
{
	struct buf b;
	char *p, *end, *nl;
	size_t line_no = 1;

	if (++s->files > SEARCH_MAX_FILES) {
		s->stop = "files";
		return;
	}
	buf_init(&b, 0);
	if (fileio_read_head(real, SEARCH_FILE_BYTES, &b, NULL) < 0 || b.len == 0 ||
	    memchr(b.data, '\0', b.len)) {
		buf_finish(&b);
		return;
	}
	s->bytes += b.len;
	for (p = b.data, end = b.data + b.len; p < end && !s->stop; p = nl + 1, line_no++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end; /* b.data[b.len] is the NUL buf keeps */
		*nl = '\0';
		if (strcasestr(p, s->pattern))
			hit(s, real, line_no, p);
	}
	if (s->bytes >= SEARCH_SCAN_BYTES && !s->stop)
		s->stop = "bytes";
	buf_finish(&b);
}

static bool glob_ok(const struct search *s, const char *name)
{
	return !s->glob || fnmatch(s->glob, name, 0) == 0;
}

static void walk(struct search *s, const char *dir, int depth);

static void walk_entry(struct search *s, const char *path, const char *name, int depth)
{
	struct stat st;
	char *real;

	if (strncmp(name, "state.db", 8) == 0 || lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		if (depth < SEARCH_MAX_DEPTH)
			walk(s, path, depth + 1);
		return;
	}
	if (!glob_ok(s, name))
		return;
	if (S_ISREG(st.st_mode)) {
		search_file(s, path);
		return;
	}
	if (!S_ISLNK(st.st_mode) || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	real = realpath(path, NULL);
	if (real && root_of(s->r, real) >= 0 && !is_state_db(s->r, real))
		search_file(s, path);
	free(real);
}

static void walk(struct search *s, const char *dir, int depth)
{
	struct dirent **v = NULL;
	char *path;
	int n = scandir(dir, &v, not_hidden, by_name), i;

	for (i = 0; i < n; i++) {
		if (!s->stop) {
			path = xasprintf("%s/%s", dir, v[i]->d_name);
			walk_entry(s, path, v[i]->d_name, depth);
			free(path);
		}
		free(v[i]);
	}
	free(v);
}

/* Walks real (a file or directory inside a root). */
static void search_in(struct search *s, const char *real)
{
	struct stat st;
	const char *base = strrchr(real, '/');

	if (stat(real, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode))
		walk(s, real, 0);
	else if (S_ISREG(st.st_mode) && glob_ok(s, base ? base + 1 : real))
		search_file(s, real);
}

/* A root inside another root is walked as part of that one. */
static bool nested_root(const struct roots *r, size_t i)
{
	size_t j;

	for (j = 0; j < r->n; j++)
		if (j != i && r->real[j] && fileio_within(r->real[j], r->real[i]) &&
		    (strcmp(r->real[j], r->real[i]) != 0 || j < i))
			return true;
	return false;
}

static void search_report(const struct search *s, const char *where, struct buf *out)
{
	if (s->hits == 0 && !s->stop)
		buf_printf(out, "No matches for \"%s\" in %s.", s->pattern, where);
	if (!s->stop)
		return;
	if (strcmp(s->stop, "hits") == 0)
		buf_printf(out, "[stopped at %d hits; narrow the pattern, path or glob]",
			   SEARCH_MAX_HITS);
	else if (strcmp(s->stop, "files") == 0)
		buf_printf(out, "[stopped after %d files; narrow the path or glob]",
			   SEARCH_MAX_FILES);
	else
		buf_printf(out, "[stopped after %d MiB read; narrow the path or glob]",
			   SEARCH_SCAN_BYTES / (1024 * 1024));
}

static int run_search(const struct file_req *req, struct buf *out)
{
	size_t mark = out->len, i;
	const char *pattern = tool_arg_str(req->args, "pattern", true, out);
	const char *path = tool_arg_str(req->args, "path", false, out);
	const char *glob = tool_arg_str(req->args, "glob", false, out);
	struct search s = {.pattern = pattern, .glob = glob && *glob ? glob : NULL, .out = out};
	struct roots r;
	struct buf where;
	char *real = NULL;
	int rc = 0;

	if (out->len > mark)
		return -EINVAL;
	if (!*pattern || strlen(pattern) > PATTERN_MAX_BYTES) {
		buf_printf(out, "pattern must be 1 to %d bytes of plain text", PATTERN_MAX_BYTES);
		return -EINVAL;
	}
	roots_init(&r, req);
	s.r = &r;
	buf_init(&where, 0);
	if (path && *path) {
		real = resolve(&r, path, out);
		rc = real ? 0 : -EINVAL;
		if (real)
			search_in(&s, real);
		buf_puts(&where, path);
	} else {
		for (i = 0; i < r.n && !s.stop; i++)
			if (r.real[i] && !nested_root(&r, i))
				search_in(&s, r.real[i]);
		put_roots(&r, &where);
	}
	if (rc == 0)
		search_report(&s, buf_str(&where), out);
	buf_finish(&where);
	free(real);
	roots_finish(&r);
	return rc;
}

const struct tool_def tool_def_search_files = {
	.name = "search_files",
	.toolset = CONFIG_TOOLSET_FILES,
	.read_only = true,
	.description = "Find lines containing a text (any case) in files under home and the notes "
		       "dirs.",
	.params_json = "{\"type\":\"object\",\"properties\":{"
		       "\"pattern\":{\"type\":\"string\"},"
		       "\"path\":{\"type\":\"string\",\"description\":\"subdirectory or file\"},"
		       "\"glob\":{\"type\":\"string\",\"description\":\"file name, e.g. *.md\"}},"
		       "\"required\":[\"pattern\"]}",
	.start = start_search,
	.cancel = job_cancel,
};
