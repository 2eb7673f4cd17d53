/* loop: libevent base + libcurl multi, wired as in curl's hiperfifo.c.
 *
 * Each socket curl cares about gets one persistent libevent event (stored with
 * curl_multi_assign); curl's single timer is one libevent timer. After every
 * curl_multi_socket_action the finished transfers are drained from curl_multi_info_read and
 * their callbacks run after the handle is removed, so a callback may start new transfers.
 * Rejected: a thread per transfer, and curl_multi_poll in a loop of our own (it cannot share
 * the thread with the HTTP server and timers).
 */
#include "core/loop.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/util.h"

#include <event2/event.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

struct transfer {
	struct transfer *prev, *next;
	CURL *easy;
	loop_curl_done_cb cb;
	void *arg;
};

struct sig {
	struct event *ev;
	loop_signal_cb cb;
	void *arg;
};

/* Finished easy handles kept for reuse: curl_easy_init costs about 13k instructions,
 * curl_easy_reset a third of that. Small, because an idle handle keeps its send buffer
 * (16 KiB, see httpc.c) and its state (about 6 KiB). */
#define EASY_POOL 16

struct loop {
	struct event_base *base;
	CURLM *multi;
	CURL *easy_pool[EASY_POOL];
	size_t n_easy_pool;
	struct event *timer;
	bool in_timer; /* inside on_timer: a timeout of 0 waits for the next loop iteration */
	struct transfer *transfers; /* running, for teardown */
	size_t running;
	struct sig sigs[8];
	size_t n_sigs;
	long max_connections;
	void *user;
	void (*user_free)(void *p);
	struct offload *offload; /* NULL until loop_offload */
	unsigned long yields;	 /* loop_yield_if_idle's sched_yield calls */
};

struct sock {
	struct event *ev;
};

static void unlink_transfer(struct loop *l, struct transfer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		l->transfers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	l->running--;
}

static void drain_done(struct loop *l)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(l->multi, &left))) {
		struct transfer *t = NULL;
		CURL *easy = msg->easy_handle;
		CURLcode result = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
		if (!t)
			continue;
		curl_multi_remove_handle(l->multi, easy);
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		unlink_transfer(l, t);
		{
			loop_curl_done_cb cb = t->cb;
			void *arg = t->arg;

			free(t);
			cb(easy, result, arg);
		}
	}
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	int flags = 0, still;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(l->multi, fd, flags, &still);
	drain_done(l);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	int still;

	l->in_timer = true;
	curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &still);
	l->in_timer = false;
	drain_done(l);
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct loop *l = arg;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(l->timer);
		return 0;
	}
	if (timeout_ms == 0 && !l->in_timer) {
		/* Right after this callback, in the same loop iteration (hiperfifo's zero timer
		 * costs one more epoll_wait round per transfer). Not from the timer's own run, so
		 * that curl asking for 0 again and again cannot starve the sockets. */
		evtimer_del(l->timer);
		event_active(l->timer, EV_TIMEOUT, 1);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(l->timer, &tv);
	return 0;
}

static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct loop *l = arg;
	struct sock *sk = sockp;
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (sk) {
			event_free(sk->ev);
			free(sk);
			curl_multi_assign(l->multi, s, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (!sk) {
		sk = xcalloc(1, sizeof(*sk));
		sk->ev = event_new(l->base, s, kind, on_socket_event, l);
		curl_multi_assign(l->multi, s, sk);
	} else {
		/* The same event, new interest: no free and allocation per change. */
		event_del(sk->ev);
		event_assign(sk->ev, l->base, s, kind, on_socket_event, l);
	}
	event_add(sk->ev, NULL);
	return 0;
}

#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif

/* epoll with libevent's change list: interest changes of one loop iteration reach the kernel
 * as one epoll_ctl per socket when the loop next waits, so a socket disabled and enabled again
 * in between (the HTTP server's connection between a request and its answer, curl's between
 * transfers) costs one call or none instead of two. libevent's caveat for it is dup()ed
 * descriptors, which hermetic never watches.
 *
 * Not under ThreadSanitizer: there a descriptor closed on the loop has its EPOLL_CTL_DEL applied
 * only at the next wait, and a worker thread (offload, statefile, the file tools) that opened
 * the same number meanwhile is reported as racing with it. libevent ignores such a late DEL
 * (ENOENT or EBADF), so nothing goes astray. It cannot be suppressed well: by function name
 * not at all (the sealed gateway cannot start a symbolizer), and by module (called_from_lib)
 * TSan runs libevent's epoll_wait as a plain call, where a SIGTERM was at times never handled
 * (4 stops in 570 hung). Without the change list every interest change is made at once, and
 * TSan checks every descriptor with no suppression. */
static struct event_base *new_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (!cfg)
		return NULL;
#ifndef TSAN_BUILD
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
#endif
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

struct loop *loop_create(void)
{
	struct loop *l = xcalloc(1, sizeof(*l));

	l->base = new_base();
	l->multi = curl_multi_init();
	if (!l->base || !l->multi) {
		log_error("cannot create the event loop (libevent or libcurl multi init failed)");
		loop_destroy(l);
		return NULL;
	}
	l->timer = evtimer_new(l->base, on_timer, l);
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
	/* Keep idle connections small on a 4 MiB budget; upstreams are few. */
	curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, 8L);
	l->max_connections = 8;
	return l;
}

void loop_destroy(struct loop *l)
{
	size_t i;

	if (!l)
		return;
	offload_destroy(l->offload); /* joins: a job's work is never cut short */
	if (l->user_free)
		l->user_free(l->user);
	while (l->transfers)
		loop_curl_remove(l, l->transfers->easy);
	if (l->multi)
		curl_multi_cleanup(l->multi);
	for (i = 0; i < l->n_easy_pool; i++)
		curl_easy_cleanup(l->easy_pool[i]);
	for (i = 0; i < l->n_sigs; i++)
		event_free(l->sigs[i].ev);
	if (l->timer)
		event_free(l->timer);
	if (l->base)
		event_base_free(l->base);
	free(l);
}

struct event_base *loop_base(struct loop *l)
{
	return l->base;
}

int loop_run(struct loop *l)
{
	return event_base_dispatch(l->base) < 0 ? -1 : 0;
}

void loop_stop(struct loop *l)
{
	event_base_loopbreak(l->base);
}

static void on_signal(evutil_socket_t signo, short what, void *arg)
{
	struct sig *s = arg;

	s->cb((int)signo, s->arg);
}

int loop_on_signal(struct loop *l, int signo, loop_signal_cb cb, void *arg)
{
	struct sig *s;

	if (l->n_sigs == ARRAY_LEN(l->sigs))
		return -1;
	s = &l->sigs[l->n_sigs];
	s->cb = cb;
	s->arg = arg;
	s->ev = evsignal_new(l->base, signo, on_signal, s);
	if (!s->ev || evsignal_add(s->ev, NULL) < 0) {
		if (s->ev)
			event_free(s->ev);
		return -1;
	}
	l->n_sigs++;
	return 0;
}

int loop_curl_add(struct loop *l, CURL *easy, loop_curl_done_cb cb, void *arg)
{
	struct transfer *t = xcalloc(1, sizeof(*t));
	CURLMcode mc;

	t->easy = easy;
	t->cb = cb;
	t->arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
	mc = curl_multi_add_handle(l->multi, easy);
	if (mc != CURLM_OK) {
		log_error("curl_multi_add_handle: %s", curl_multi_strerror(mc));
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		free(t);
		return -1;
	}
	t->next = l->transfers;
	if (t->next)
		t->next->prev = t;
	l->transfers = t;
	l->running++;
	return 0;
}

void loop_curl_remove(struct loop *l, CURL *easy)
{
	struct transfer *t = NULL;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
	if (!t)
		return;
	curl_multi_remove_handle(l->multi, easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	unlink_transfer(l, t);
	free(t);
}

void loop_set_max_connections(struct loop *l, long n)
{
	curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, n);
	l->max_connections = n;
}

long loop_max_connections(const struct loop *l)
{
	return l->max_connections;
}

void loop_set_user(struct loop *l, void *p, void (*free_cb)(void *p))
{
	l->user = p;
	l->user_free = free_cb;
}

void *loop_user(const struct loop *l)
{
	return l->user;
}

struct offload *loop_offload(struct loop *l)
{
	if (!l->offload)
		l->offload = offload_create(l->base, LOOP_OFFLOAD_JOBS);
	return l->offload;
}

size_t loop_curl_running(const struct loop *l)
{
	return l->running;
}

CURL *loop_curl_easy(struct loop *l)
{
	if (l->n_easy_pool)
		return l->easy_pool[--l->n_easy_pool];
	return curl_easy_init();
}

void loop_curl_release(struct loop *l, CURL *easy)
{
	if (!easy)
		return;
	if (l->n_easy_pool == EASY_POOL) {
		curl_easy_cleanup(easy);
		return;
	}
	curl_easy_reset(easy);
	l->easy_pool[l->n_easy_pool++] = easy;
}

/* A task this thread wakes (a client reading the answer it was sent) is often put on this
 * thread's CPU by the kernel (wake-affine, as on the bench's VM: docs/numbers.md), and waits
 * there while the thread runs on. Yielding lets it run first; with no event ready the loop
 * would soon sleep anyway, and with events ready they go first, so no request waits behind
 * the yield. sched_yield returns at once when nothing else is ready on this CPU. */
void loop_yield_if_idle(struct loop *l)
{
	if (event_base_get_num_events(l->base, EVENT_BASE_COUNT_ACTIVE) != 0)
		return;
	l->yields++;
	sched_yield();
}

unsigned long loop_yields(const struct loop *l)
{
	return l->yields;
}
