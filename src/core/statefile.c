/* statefile: the newest contents of a small file, written on a worker (see statefile.h).
 *
 * The loop side holds at most one write in flight (busy) and the newest contents not yet
 * handed to a worker (next). A put while busy replaces next; when the write in flight ends
 * (its done callback, on the loop), next goes out. So writes of one file never overlap and
 * run in the order of their puts, and the contents skipped are only ever older ones.
 * After statefile_destroy the object lives on until its last write ended, then frees itself.
 *
 * Rejected: a worker that loops over a mutex-guarded slot (one more lock to get right for a
 * file written every few seconds at most), and a write per put (the state changes in bursts:
 * one alert resolving touches it a few times in a row).
 */
#include "core/statefile.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/offload.h"
#include "core/util.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_MS 1000

struct statefile {
	struct loop *loop;
	char *path, *note;
	mode_t mode;
	char *next; /* the newest contents not handed to a worker, NULL = none */
	size_t next_len;
	bool busy;	     /* a write runs on a worker */
	bool dying;	     /* statefile_destroy was called: the last write's end frees it */
	struct event *retry; /* no worker could take next: try again (NULL once dying) */
};

struct job {
	struct statefile *f;
	char *data;
	size_t len;
	int rc;
};

static void report(const struct statefile *f, int rc)
{
	if (rc < 0)
		log_warn("cannot write %s (%s)%s", f->path, strerror(-rc), f->note);
}

/* Writes next now, on this thread: only when dying, with no worker left for it. */
static void write_next_here(struct statefile *f)
{
	if (!f->next)
		return;
	report(f, fileio_write_atomic(f->path, f->next, f->next_len, f->mode));
	free(f->next);
	f->next = NULL;
}

static void free_file(struct statefile *f)
{
	free(f->next);
	free(f->path);
	free(f->note);
	free(f);
}

static void work(void *arg)
{
	struct job *j = arg;

	j->rc = fileio_write_atomic(j->f->path, j->data, j->len, j->f->mode);
}

static void done(void *arg);
static void abandon(void *arg);

/* Hands next to a worker unless a write runs. */
static void start(struct statefile *f)
{
	struct timeval tv = {RETRY_MS / 1000, (RETRY_MS % 1000) * 1000};
	struct job *j;

	if (f->busy || !f->next)
		return;
	j = xcalloc(1, sizeof(*j));
	*j = (struct job){f, f->next, f->next_len, 0};
	f->next = NULL;
	if (offload_run(loop_offload(f->loop), work, done, abandon, j) == 0) {
		f->busy = true;
		return;
	}
	f->next = j->data;
	free(j);
	if (f->dying)
		write_next_here(f);
	else
		evtimer_add(f->retry, &tv);
}

static void end_job(struct job *j)
{
	struct statefile *f = j->f;

	f->busy = false;
	report(f, j->rc);
	free(j->data);
	free(j);
}

static void done(void *arg)
{
	struct statefile *f = ((struct job *)arg)->f;

	end_job(arg);
	start(f);
	if (f->dying && !f->busy)
		free_file(f);
}

/* From loop_destroy, after the work returned: no worker is left, so next is written here. */
static void abandon(void *arg)
{
	struct statefile *f = ((struct job *)arg)->f;

	end_job(arg);
	if (!f->dying)
		return; /* its owner still holds it (statefile_destroy after loop_destroy) */
	write_next_here(f);
	free_file(f);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	start(arg);
}

struct statefile *statefile_create(struct loop *loop, const char *path, mode_t mode,
				   const char *note)
{
	struct statefile *f = xcalloc(1, sizeof(*f));

	f->loop = loop;
	f->path = xstrdup(path);
	f->note = xstrdup(note ? note : "");
	f->mode = mode;
	f->retry = evtimer_new(loop_base(loop), on_retry, f);
	if (!f->retry)
		abort();
	return f;
}

void statefile_put(struct statefile *f, char *data, size_t len)
{
	free(f->next);
	f->next = data;
	f->next_len = len;
	if (f->retry)
		evtimer_del(f->retry);
	start(f);
}

bool statefile_idle(const struct statefile *f)
{
	return !f->busy && !f->next;
}

void statefile_destroy(struct statefile *f)
{
	if (!f)
		return;
	event_free(f->retry);
	f->retry = NULL;
	f->dying = true;
	start(f);
	if (!f->busy)
		free_file(f);
}
