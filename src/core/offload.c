/* offload: blocking work on a thread, its completion on the loop (see offload.h).
 *
 * Each job has a thread and an eventfd: the thread runs work, then writes the eventfd; the
 * loop's read event joins the thread (it has returned or is about to) and calls done. Jobs
 * are kept in a list so that offload_destroy can join the ones still running. Rejected: a
 * pool of long-lived threads (idle memory and one more thing to stop for what is, in the
 * cockpit, a few requests a minute), and tool_files.c's detached, abandonable threads (work
 * here never hangs in the kernel on a remote mount: it reads state.db or hashes a password).
 */
#include "core/offload.h"
#include "core/util.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STACK_BYTES (512 * 1024) /* SQLite's parser and FTS5 want more than musl's 128 KiB */

struct job {
	struct offload *o;
	struct job *next;
	pthread_t thread;
	int efd;
	struct event *ev;
	offload_fn work, done, abandon;
	void *arg;
	atomic_bool cancel; /* set by offload_destroy; read by the work (offload_cancelled) */
};

struct offload {
	struct event_base *base;
	size_t max_jobs, n_jobs;
	struct job *jobs;
};

void offload_thread_init(void)
{
	const struct sched_param none = {0};
	sigset_t all;

	sigfillset(&all);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* A failure (a seccomp profile of a container runtime that denies it) leaves the thread
	 * as it was, which works, only with a worse tail. */
	(void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &none);
}

void offload_thread_background(void)
{
	offload_thread_init();
	/* Linux keeps a nice value per thread: PRIO_PROCESS with a tid sets this one's. */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), OFFLOAD_BACKGROUND_NICE);
}

/* The job this thread runs, for offload_cancelled. */
static _Thread_local struct job *current;

bool offload_cancelled(void)
{
	return current && atomic_load_explicit(&current->cancel, memory_order_relaxed);
}

static void *job_main(void *p)
{
	struct job *j = p;
	uint64_t one = 1;

	offload_thread_init();
	current = j;
	j->work(j->arg);
	while (write(j->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	return NULL;
}

static void unlink_job(struct offload *o, struct job *j)
{
	struct job **pp = &o->jobs;

	while (*pp != j)
		pp = &(*pp)->next;
	*pp = j->next;
	o->n_jobs--;
}

static void free_job(struct job *j)
{
	event_free(j->ev);
	close(j->efd);
	free(j);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	pthread_join(j->thread, NULL);
	unlink_job(j->o, j);
	j->done(j->arg);
	free_job(j);
}

struct offload *offload_create(struct event_base *base, size_t max_jobs)
{
	struct offload *o = xcalloc(1, sizeof(*o));

	o->base = base;
	o->max_jobs = max_jobs ? max_jobs : 1;
	return o;
}

void offload_destroy(struct offload *o)
{
	struct job *j;

	if (!o)
		return;
	for (j = o->jobs; j; j = j->next)
		atomic_store_explicit(&j->cancel, true, memory_order_relaxed);
	while (o->jobs) {
		j = o->jobs;
		pthread_join(j->thread, NULL);
		unlink_job(o, j);
		if (j->abandon)
			j->abandon(j->arg);
		free_job(j);
	}
	free(o);
}

int offload_run(struct offload *o, offload_fn work, offload_fn done, offload_fn abandon, void *arg)
{
	struct job *j;
	pthread_attr_t attr;
	int rc;

	if (o->n_jobs >= o->max_jobs)
		return -EBUSY;
	j = xcalloc(1, sizeof(*j));
	j->o = o;
	j->work = work;
	j->done = done;
	j->abandon = abandon;
	j->arg = arg;
	j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (j->efd < 0) {
		free(j);
		return -EAGAIN;
	}
	j->ev = event_new(o->base, j->efd, EV_READ, on_done, j);
	if (!j->ev) {
		close(j->efd);
		free(j);
		return -EAGAIN;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_BYTES);
	rc = pthread_create(&j->thread, &attr, job_main, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		free_job(j);
		return -EAGAIN;
	}
	event_add(j->ev, NULL);
	j->next = o->jobs;
	o->jobs = j;
	o->n_jobs++;
	return 0;
}

void offload_drain(struct offload *o)
{
	struct job *j, **pp;

	while (o->jobs) {
		for (pp = &o->jobs; (*pp)->next; pp = &(*pp)->next)
			; /* the oldest: the list is newest first */
		j = *pp;
		pthread_join(j->thread, NULL);
		unlink_job(o, j);
		j->done(j->arg);
		free_job(j);
	}
}

size_t offload_jobs(const struct offload *o)
{
	return o->n_jobs;
}
