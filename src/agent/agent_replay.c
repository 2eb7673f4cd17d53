/* agent_replay: a turn's model calls recorded, or served from a recording, for `hermetic skill
 * test --record|--replay` (agent_turn_opts.replay). Recording wraps the caller's callbacks:
 * each answer with status 200 goes to the recorder, then on to the caller unchanged. Replay
 * never reaches the router: the recording's next answer is handed to the caller's on_done
 * from a zero-delay timer (never from inside the call), as a router result with the recorded
 * cost and tokens, so the turn runs exactly as it did (its tools really run again, in the
 * skill test's scratch home) without a paid call. A call the recording has no answer for
 * fails as an HTTP 500 with the reason, which ends the turn like any failed call.
 *
 * Rejected: a fake upstream on loopback for replay (a socket, a port and a second parser for
 * what is already in memory) and replaying through the router (its budgets and spend would
 * count calls that cost nothing).
 */
#include "agent/agent_int.h"
#include "core/loop.h"
#include "core/util.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- recording ------------------------------------------------------------------------- */

struct tap {
	const struct agent_replay *replay;
	char *purpose;
	const struct router_cbs *cbs;
	void *arg;
	struct router_cbs own;
};

static void tap_done(struct router_call *rc, const struct router_result *r, void *arg)
{
	struct tap *tp = arg;
	void (*on_done)(struct router_call *, const struct router_result *, void *) =
		tp->cbs->on_done;
	void *cb_arg = tp->arg;

	if (r->status == 200 && r->body && !r->streamed) {
		struct agent_answer a = {tp->purpose, r->body,		r->body_len,
					 r->cost_usd, r->prompt_tokens, r->completion_tokens};

		tp->replay->answered(tp->replay->arg, &a);
	}
	free(tp->purpose);
	free(tp);
	on_done(rc, r, cb_arg); /* may end the turn: nothing of the tap is touched after */
}

static void tap_wait(struct router_call *rc, int64_t wait_ms, void *arg)
{
	struct tap *tp = arg;

	tp->cbs->on_wait(rc, wait_ms, tp->arg);
}

static int record(struct agent_turn *t, const char *purpose, const char *body, size_t len,
		  const struct router_caller *who, const struct router_cbs *cbs, void *arg,
		  struct router_call **out)
{
	struct tap *tp = xcalloc(1, sizeof(*tp));
	int rc;

	*tp = (struct tap){t->replay, xstrdup(purpose), cbs, arg, {0}};
	/* Streams are not recorded (a skill test's turns do not stream): passed on as they are
	 * would need the caller's arg, so a streaming call goes to the router untapped. */
	if (cbs->on_stream_start || cbs->on_stream_data) {
		free(tp->purpose);
		free(tp);
		return router_chat(t->a->env.router, body, len, who, cbs, arg, out);
	}
	tp->own.on_done = tap_done;
	tp->own.on_wait = cbs->on_wait ? tap_wait : NULL;
	rc = router_chat(t->a->env.router, body, len, who, &tp->own, tp, out);
	if (rc < 0) {
		free(tp->purpose);
		free(tp);
	}
	return rc;
}

/* ---- replay ---------------------------------------------------------------------------- */

struct served {
	struct event *ev;
	const struct router_cbs *cbs;
	void *arg;
	char *body;
	struct router_result r;
};

static void on_served(evutil_socket_t fd, short what, void *arg)
{
	struct served *s = arg;
	void (*on_done)(struct router_call *, const struct router_result *, void *) =
		s->cbs->on_done;
	struct router_result r = s->r;
	char *body = s->body;
	void *cb_arg = s->arg;

	(void)fd;
	(void)what;
	event_free(s->ev);
	free(s);
	on_done(NULL, &r, cb_arg);
	free(body);
}

static int serve(struct agent_turn *t, const char *purpose, const struct router_cbs *cbs, void *arg,
		 struct router_call **out)
{
	struct served *s = xcalloc(1, sizeof(*s));
	struct agent_answer a = {0};
	struct timeval now = {0, 0};
	char why[200];

	s->cbs = cbs;
	s->arg = arg;
	if (t->replay->next(t->replay->arg, purpose, &a, why, sizeof(why)) < 0) {
		s->body = xasprintf("{\"error\":{\"message\":\"replay: %s\"}}", why);
		s->r.status = 500;
	} else {
		s->body = xstrndup(a.body, a.len);
		s->r = (struct router_result){.status = 200,
					      .cost_usd = a.cost_usd,
					      .prompt_tokens = a.prompt_tokens,
					      .completion_tokens = a.completion_tokens};
	}
	s->r.body = s->body;
	s->r.body_len = strlen(s->body);
	s->r.model_group = t->model;
	s->r.deployment_id = "";
	s->ev = evtimer_new(loop_base(t->a->env.loop), on_served, s);
	evtimer_add(s->ev, &now);
	if (out)
		*out = NULL; /* nothing to cancel: a cancelled turn reads the answer and stops */
	return 0;
}

int agent_replay_send(struct agent_turn *t, const char *purpose, const char *body, size_t len,
		      const struct router_caller *who, const struct router_cbs *cbs, void *arg,
		      struct router_call **out)
{
	if (t->replay->next)
		return serve(t, purpose, cbs, arg, out);
	if (t->replay->answered)
		return record(t, purpose, body, len, who, cbs, arg, out);
	return router_chat(t->a->env.router, body, len, who, cbs, arg, out);
}
