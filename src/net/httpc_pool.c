/* httpc_pool: the plain path's connections: a connection's socket and event, and the
 * keep-alive pool per loop that holds idle ones for the next request to the same address
 * (bounded by loop_max_connections, closed by a prune timer after idle_ms, closed at once
 * when the peer closes one while it idles). The pool also owns the loop's mail offload
 * (httpc_mail.c), so both go when the loop does. What a connection carries is httpc_plain.c's;
 * it decides when to take one, put one back, or close it, and it sets the events a connection
 * waits for (httpc_conn_want), so this file calls no other httpc file. */
#include "net/httpc_int.h"
#include "core/loop.h"
#include "core/offload.h"
#include "core/util.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define IDLE_MS	  30000 /* a pooled connection idle this long is closed (prune timer) */
#define SPARE_MAX 32	/* struct plain kept for the next requests (httpc_pool_plain) */

static void pool_free(void *arg)
{
	struct pool *pl = arg;
	struct conn *c, *next;

	offload_destroy(pl->mail); /* waits for mail still being sent */
	if (pl->prune)
		event_free(pl->prune);
	for (c = pl->idle; c; c = next) {
		next = c->next;
		httpc_conn_close(
			c); /* its read event is armed while idle: deleted before the base goes */
	}
	while (pl->spare) {
		struct plain *p = pl->spare;

		pl->spare = p->next_spare;
		free(p);
	}
	free(pl);
}

struct pool *httpc_pool_of(struct loop *l)
{
	struct pool *pl = loop_user(l);

	if (!pl) {
		pl = xcalloc(1, sizeof(*pl));
		pl->idle_ms = IDLE_MS;
		loop_set_user(l, pl, pool_free);
	}
	return pl;
}

/* Up to SPARE_MAX struct plain are kept between requests (about 1 KiB each): a loop proxying
 * plain requests, a few dozen in flight, then allocates none (a malloc and a free per request,
 * dearer in musl's allocator than in glibc's, which caches 7 of a size per thread). */
struct plain *httpc_pool_plain(struct loop *l)
{
	struct pool *pl = httpc_pool_of(l);
	struct plain *p = pl->spare;

	if (!p)
		return xmalloc(sizeof(*p));
	pl->spare = p->next_spare;
	pl->n_spare--;
	return p;
}

void httpc_pool_plain_done(struct loop *l, struct plain *p)
{
	struct pool *pl = httpc_pool_of(l);

	if (pl->n_spare >= SPARE_MAX) {
		free(p);
		return;
	}
	p->next_spare = pl->spare;
	pl->spare = p;
	pl->n_spare++;
}

void httpc_set_idle_ms(struct loop *l, long ms)
{
	httpc_pool_of(l)->idle_ms = ms > 0 ? ms : IDLE_MS;
}

void httpc_conn_close(struct conn *c)
{
	if (c->what)
		event_del(&c->ev);
	close(c->fd);
	free(c);
}

/* Idle times are kept on the coarse clock (idle_clock_us): they are compared only with each
 * other, against an idle timeout of seconds, and a pooled request reads it twice. */
static int64_t idle_clock_us(void)
{
	return now_mono_coarse_ms() * 1000;
}

static bool expired(const struct pool *pl, const struct conn *c, int64_t now_us)
{
	return now_us - c->idle_since_us >= (int64_t)pl->idle_ms * 1000;
}

/* Arms the prune timer for when the oldest idle connection (the list's last) expires. */
static void prune_arm(struct pool *pl, int64_t now_us)
{
	const struct conn *c = pl->idle;
	int64_t left_us;
	struct timeval tv;

	if (!c) {
		evtimer_del(pl->prune);
		return;
	}
	while (c->next)
		c = c->next;
	left_us = c->idle_since_us + (int64_t)pl->idle_ms * 1000 - now_us;
	if (left_us < 0)
		left_us = 0;
	tv = (struct timeval){(time_t)(left_us / 1000000), (suseconds_t)(left_us % 1000000)};
	evtimer_add(pl->prune, &tv);
}

/* Without this an idle connection would only be closed when the next request met it. */
static void on_prune(evutil_socket_t fd, short what, void *arg)
{
	struct pool *pl = arg;
	struct conn **pp = &pl->idle, *c;
	int64_t now = idle_clock_us();

	while ((c = *pp)) {
		if (!expired(pl, c, now)) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		pl->n_idle--;
		httpc_conn_close(c);
	}
	prune_arm(pl, now);
}

/* A pooled connection to key that is young enough (one the server closed, or sent a byte on,
 * while it idled was closed then by httpc_idle_closed); expired ones met on the way are closed. */
struct conn *httpc_pool_take(struct loop *l, const char *key)
{
	struct pool *pl = httpc_pool_of(l);
	struct conn **pp = &pl->idle, *c;
	int64_t now = idle_clock_us();

	while ((c = *pp)) {
		bool old = expired(pl, c, now);

		if (!old && strcmp(c->key, key) != 0) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		pl->n_idle--;
		c->pool = NULL;
		/* Its read event stayed armed while idle (httpc_idle_closed closes it at the peer's
		 * FIN), so no peek is needed: a request reuses it without a syscall. */
		if (!old)
			return c;
		httpc_conn_close(c);
	}
	return NULL;
}

/* Keeps c for the next request (at most loop_max_connections idle per loop, which also bounds
 * the idle connections to one host), or closes it. */
void httpc_pool_put(struct loop *l, struct conn *c)
{
	struct pool *pl = httpc_pool_of(l);

	if ((long)pl->n_idle >= loop_max_connections(l)) {
		httpc_conn_close(c);
		return;
	}
	/* Read stays armed (httpc_plain_detach armed it, usually already: no epoll_ctl per
	 * request): the peer's FIN, an error or a stray byte on an idle connection closes it at
	 * once (httpc_idle_closed). The prune timer keeps loop_run going while anything is idle
	 * anyway. */
	c->req = NULL;
	c->pool = pl;
	c->idle_since_us = idle_clock_us();
	c->next = pl->idle;
	pl->idle = c;
	pl->n_idle++;
	if (!pl->prune) {
		pl->prune = evtimer_new(loop_base(l), on_prune, pl);
		if (!pl->prune)
			abort();
	}
	if (!evtimer_pending(pl->prune, NULL))
		prune_arm(pl, c->idle_since_us);
}
/* An idle connection became readable: the peer closed it (or broke the protocol). */
void httpc_idle_closed(struct conn *c)
{
	struct pool *pl = c->pool;

	for (struct conn **pp = &pl->idle; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			pl->n_idle--;
			break;
		}
	httpc_conn_close(c);
	prune_arm(pl, idle_clock_us());
}
