/* toolout: a tool's output streamed to an excerpt in memory and, when it is larger, to a file
 * in home/tool-output/ (toolout.h). The excerpt is a capped buf; the file's bytes go in 64 KiB
 * chunks onto a queue of at most QUEUE_MAX chunks, which a worker of the offload pool drains
 * into the file (creating the folder, pruning it and opening the file first), so memory stays
 * at excerpt + 1 MiB whatever the output's size and the loop never waits for the disk. The
 * file is opened only once the output outgrows the excerpt: small results, the common case,
 * touch no disk. Paths go through safeio (below home, no symlink on the way).
 *
 * One writer at a time: the loop starts a job only when none drains the queue (writing, under
 * the mutex), and a writer clears writing under the mutex only when it found the queue empty,
 * so the chunks reach the file in the order they were queued. Only a disk 1 MiB behind the
 * peer makes the loop wait (for a chunk's room, at most STALL_MS, then the rest is not kept):
 * the bound on memory wins over the rule, but only for a disk that cannot keep up anyway.
 * After toolout_destroy the object lives on until its last job ended, then frees itself.
 *
 * Rejected: a temp file per result deleted after the turn (the point is that the human or a
 * later turn can read what the model did not), keeping files in state.db (a 50 MB row), one
 * job per chunk (a thread per 64 KiB), and, for now, pausing the peer when the queue is full
 * (each MCP transport and web_fetch would need a way to pause theirs).
 */
#include "core/toolout.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/safeio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_SIZE  (64 * 1024)
#define QUEUE_MAX   16	 /* chunks waiting for the writer: 1 MiB */
#define STALL_MS    5000 /* the longest the loop waits for room before it stops keeping */
#define LABEL_MAX   48
#define PRUNE_FILES 1024 /* entries looked at per prune */

void (*toolout_write_hook)(void);

struct chunk {
	struct chunk *next;
	size_t len;
	char data[CHUNK_SIZE];
};

struct toolout {
	const struct config *cfg;
	char label[LABEL_MAX + 1];
	size_t excerpt_max;
	struct buf head; /* the first excerpt_max bytes */
	uint64_t total;
	bool over; /* passed agent.tool_output.max_bytes */
	/* the loop's */
	struct offload *off;  /* NULL: the writes run on the caller's thread */
	bool wanted;	      /* the file was asked for: rel and path are set */
	char rel[128];	      /* below home */
	char *path;	      /* absolute */
	struct chunk *fill;   /* being filled */
	unsigned jobs;	      /* started, their done not yet run */
	bool dying;	      /* toolout_destroy was called: the last job's end frees it */
	toolout_done_fn done; /* toolout_close's, until it fired */
	void *done_arg;
	/* shared with the writer, under mu */
	pthread_mutex_t mu;
	pthread_cond_t room; /* a chunk left the queue */
	struct chunk *q, **q_tail;
	size_t n_q;
	struct chunk *spare; /* written chunks, for the next to fill: no malloc and free per
			      * 64 KiB (a sanitizer's quarantine kept every one of them) */
	bool writing;	     /* a writer drains q */
	bool closing;	     /* no more chunks: the writer closes the file */
	bool failed;	     /* nothing more is written; why says what and where */
	char why[PATH_MAX + 160];
	int fd; /* the writer's: -1 before the open and after the close */
};

struct toolout *toolout_create(const struct config *cfg, struct offload *off, const char *label,
			       size_t excerpt_max)
{
	struct toolout *o = xcalloc(1, sizeof(*o));
	size_t i;

	o->cfg = cfg;
	o->off = off;
	o->fd = -1;
	o->q_tail = &o->q;
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->room, NULL);
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

/* ---- the writer (a worker's thread, or the caller's without an offload) ---- */

/* Under mu: the first failure is the one reported; the log has it once. */
static void fail_locked(struct toolout *o, const char *what, const char *detail)
{
	if (o->failed)
		return;
	o->failed = true;
	snprintf(o->why, sizeof(o->why), "%s %s failed: %s", what, o->path, detail);
	log_warn("tool output: %s; the rest is not kept", o->why);
}

static void fail(struct toolout *o, const char *what, const char *detail)
{
	pthread_mutex_lock(&o->mu);
	fail_locked(o, what, detail);
	pthread_mutex_unlock(&o->mu);
}

static int prune_dir(const struct config *cfg);

/* Creates home/tool-output/, prunes it and creates the file. Returns the fd or -errno. */
static int open_file(struct toolout *o)
{
	int home = safeio_open_home(o->cfg->home), rc, gone;

	/* A CLI run (`hermetic mcp call`) may come before anything created home. */
	if (home == -ENOENT && fileio_mkdirs(o->cfg->home, 0700) == 0)
		home = safeio_open_home(o->cfg->home);
	rc = home;
	if (home < 0)
		goto out;
	rc = safeio_mkdirs_at(home, TOOLOUT_DIR, 0700);
	if (rc < 0)
		goto out;
	gone = prune_dir(o->cfg);
	if (gone)
		log_info("tool output: deleted %d kept output(s) past agent.tool_output's "
			 "keep_days or keep_total_bytes",
			 gone);
	rc = safeio_open_at(home, o->rel, O_WRONLY | O_CREAT | O_EXCL, 0600);
out:
	if (home >= 0)
		close(home);
	return rc;
}

static void put_chunk(struct toolout *o, const struct chunk *c)
{
	int rc;

	if (o->fd < 0) {
		rc = open_file(o);
		if (rc < 0) {
			fail(o, "creating", safeio_strerror(rc));
			return;
		}
		pthread_mutex_lock(&o->mu); /* the loop reads it (kick, toolout_idle) */
		o->fd = rc;
		pthread_mutex_unlock(&o->mu);
	}
	if (toolout_write_hook)
		toolout_write_hook();
	if (fileio_write_all(o->fd, c->data, c->len) < 0)
		fail(o, "writing", strerror(errno));
}

/* Writes the queue until it is empty, then closes the file if asked to. */
static void drain(struct toolout *o)
{
	struct chunk *c;
	bool skip;
	int fd;

	for (;;) {
		pthread_mutex_lock(&o->mu);
		c = o->q;
		if (!c) {
			fd = o->closing ? o->fd : -1;
			if (fd >= 0)
				o->fd = -1;
			o->writing = false;
			pthread_mutex_unlock(&o->mu);
			if (fd >= 0 && close(fd) < 0)
				fail(o, "closing", strerror(errno));
			return;
		}
		o->q = c->next;
		if (!o->q)
			o->q_tail = &o->q;
		skip = o->failed;
		pthread_mutex_unlock(&o->mu);
		if (!skip)
			put_chunk(o, c);
		pthread_mutex_lock(&o->mu);
		/* At most QUEUE_MAX + 2 chunks exist: the spares are within the bound. */
		c->next = o->spare;
		o->spare = c;
		o->n_q--;
		pthread_cond_signal(&o->room);
		pthread_mutex_unlock(&o->mu);
	}
}

/* ---- the loop's side ---- */

static void free_out(struct toolout *o)
{
	while (o->spare) {
		struct chunk *c = o->spare;

		o->spare = c->next;
		free(c);
	}
	free(o->fill);
	buf_finish(&o->head);
	free(o->path);
	pthread_cond_destroy(&o->room);
	pthread_mutex_destroy(&o->mu);
	free(o);
}

static void job_work(void *arg)
{
	drain(arg);
}

static void kick(struct toolout *o);

/* A job ended: frees a destroyed output after its last one, else tells toolout_close's
 * caller once the file work is over (not from loop_destroy, whose callers are going away). */
static void end_job(struct toolout *o, bool tell)
{
	toolout_done_fn done = o->done;

	o->jobs--;
	if (o->dying && !o->jobs) {
		free_out(o);
		return;
	}
	if (done && tell && toolout_idle(o)) {
		o->done = NULL;
		done(o->done_arg);
	}
}

static void job_done(void *arg)
{
	end_job(arg, true);
}

/* From offload_destroy (loop_destroy), after the work returned: no worker is left, so what
 * is still queued is written here. */
static void job_abandon(void *arg)
{
	struct toolout *o = arg;

	o->off = NULL;
	kick(o);
	end_job(o, false);
}

/* Has the queue drained unless a writer already does it: by a worker when one can be had,
 * else here. */
static void kick(struct toolout *o)
{
	bool start;

	pthread_mutex_lock(&o->mu);
	start = !o->writing && (o->q || (o->closing && o->fd >= 0));
	if (start)
		o->writing = true;
	pthread_mutex_unlock(&o->mu);
	if (!start)
		return;
	if (o->off && offload_run(o->off, job_work, job_done, job_abandon, o) == 0) {
		o->jobs++;
		return;
	}
	drain(o); /* no worker to be had (all busy, or no offload): late rather than lost */
}

/* Queues the chunk being filled, first waiting for room when the writer is QUEUE_MAX behind. */
static void queue_fill(struct toolout *o)
{
	struct chunk *c = o->fill;
	struct timespec until;
	int rc = 0;

	o->fill = NULL;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STALL_MS / 1000;
	pthread_mutex_lock(&o->mu);
	while (o->n_q >= QUEUE_MAX && !o->failed && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&o->room, &o->mu, &until);
	if (o->n_q >= QUEUE_MAX && !o->failed)
		fail_locked(o, "writing", "the disk stayed 1 MiB behind for 5 s");
	if (o->failed) {
		pthread_mutex_unlock(&o->mu);
		free(c);
		return;
	}
	c->next = NULL;
	*o->q_tail = c;
	o->q_tail = &c->next;
	o->n_q++;
	pthread_mutex_unlock(&o->mu);
	kick(o);
}

static void file_put(struct toolout *o, const char *data, size_t len)
{
	while (len) {
		size_t n;

		if (!o->fill) {
			pthread_mutex_lock(&o->mu);
			o->fill = o->spare;
			if (o->fill)
				o->spare = o->fill->next;
			pthread_mutex_unlock(&o->mu);
			if (!o->fill)
				o->fill = xmalloc(sizeof(*o->fill));
			o->fill->len = 0;
		}
		n = CHUNK_SIZE - o->fill->len < len ? CHUNK_SIZE - o->fill->len : len;
		memcpy(o->fill->data + o->fill->len, data, n);
		o->fill->len += n;
		data += n;
		len -= n;
		if (o->fill->len == CHUNK_SIZE)
			queue_fill(o);
	}
}

/* Names the file (home/tool-output/<time>-<label>-<random>.txt) and queues what the excerpt
 * holds; the writer creates it. */
static void want_file(struct toolout *o)
{
	unsigned char rnd[3] = {0};
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	o->wanted = true;
	random_fill(NULL, rnd, sizeof(rnd));
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	snprintf(o->rel, sizeof(o->rel), TOOLOUT_DIR "/%s-%s-%02x%02x%02x.txt", stamp, o->label,
		 rnd[0], rnd[1], rnd[2]);
	o->path = xasprintf("%s/%s", o->cfg->home, o->rel);
	file_put(o, o->head.data, o->head.len);
}

/* No more bytes: the last chunk goes out and the writer closes the file. */
static void close_file(struct toolout *o)
{
	if (!o->wanted)
		return;
	if (o->fill && o->fill->len)
		queue_fill(o);
	free(o->fill);
	o->fill = NULL;
	pthread_mutex_lock(&o->mu);
	o->closing = true;
	pthread_mutex_unlock(&o->mu);
	kick(o);
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
	if (o->total + len > o->excerpt_max && !o->wanted && o->cfg->agent.tool_output.keep)
		want_file(o);
	buf_append(&o->head, data, len < room ? len : room);
	if (o->wanted)
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
	struct toolout *w = (struct toolout *)o; /* the mutex; nothing else changes */
	bool failed;

	if (!o->wanted)
		return NULL;
	pthread_mutex_lock(&w->mu);
	failed = o->failed;
	pthread_mutex_unlock(&w->mu);
	return failed ? NULL : o->path;
}

const char *toolout_error(const struct toolout *o)
{
	struct toolout *w = (struct toolout *)o;
	const char *why;

	pthread_mutex_lock(&w->mu);
	why = o->failed ? o->why : NULL;
	pthread_mutex_unlock(&w->mu);
	return why;
}

bool toolout_idle(const struct toolout *o)
{
	struct toolout *w = (struct toolout *)o;
	bool idle;

	pthread_mutex_lock(&w->mu);
	idle = !o->writing && !o->q && o->fd < 0;
	pthread_mutex_unlock(&w->mu);
	return idle && !o->jobs;
}

int toolout_close(struct toolout *o, toolout_done_fn done, void *arg)
{
	close_file(o);
	if (toolout_idle(o))
		return -EALREADY;
	o->done = done;
	o->done_arg = arg;
	return 0;
}

void toolout_text(struct toolout *o, struct buf *out)
{
	uint64_t max = (uint64_t)o->cfg->agent.tool_output.max_bytes;
	char note[PATH_MAX + 512], where[PATH_MAX + 384];
	const char *why;
	size_t keep, n;

	close_file(o);
	if (!toolout_cut(o)) {
		buf_append(out, o->head.data, o->head.len);
		return;
	}
	why = toolout_error(o);
	if (!o->cfg->agent.tool_output.keep)
		snprintf(where, sizeof(where),
			 "the whole output was not kept (agent.tool_output.keep: false)");
	else if (why)
		snprintf(where, sizeof(where), "the whole output could not be kept: %s", why);
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
	o->done = NULL;
	o->dying = true;
	if (!o->jobs)
		free_out(o);
}

/* ---- pruning ---- */

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

static int prune_dir(const struct config *cfg)
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
out:
	free(k);
	if (home >= 0)
		close(home);
	return gone;
}

int toolout_prune(const struct config *cfg)
{
	int gone = prune_dir(cfg);

	if (gone)
		log_info("tool output: deleted %d kept output(s) past agent.tool_output's "
			 "keep_days or keep_total_bytes",
			 gone);
	return gone;
}
