/* router_int: what the router's files share (router.c, router_admit.c, router_pick.c,
 * router_upstream.c, router_cost.c, router_answer.c, router_stream.c, ...): the router's and
 * a call's state, the helpers router.c calls, and the only way back into router.c
 * (struct call_owner; README.md, "Who calls whom"). Private to src/router/router*.c; everyone
 * else sees router.h. The fields are the state machine's: see router.c for who sets what. */
#ifndef HERMETIC_ROUTER_INT_H
#define HERMETIC_ROUTER_INT_H

#include "router/router.h"
#include "router/answer_scan.h"
#include "router/policy.h"
#include "router/pool.h"
#include "router/router_metrics.h"
#include "router/spend.h"
#include "router/providers/provider.h"
#include "core/config.h"
#include "core/util.h"
#include "net/httpc.h"
#include "net/multipart.h"
#include "net/sse.h"

#include <cjson/cJSON.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

#define SSE_EVENT_CAP  (1024 * 1024)
#define ERROR_BODY_CAP (64 * 1024)

struct event;
struct json_error;

/* What the state machine does differently per OpenAI endpoint. */
struct route_spec {
	const char *needs[2];  /* fields it cannot go without, besides model */
	const char *limits[2]; /* its output-token bounds: checked, clamped, reserved for */
	bool multipart;	       /* the body is a multipart/form-data form, else JSON */
	bool streams;	       /* "stream": true is served (as SSE) */
	bool text_out;	       /* its answer's text is billed output (estimated without usage) */
};

struct deployment {
	const struct config_model *m;
	const struct provider_ops *ops; /* the provider's wire dialect */
	char **headers;			/* NULL-terminated, for httpc */
	struct httpc_headers *prepared; /* headers checked and laid out once for httpc */
	int in_flight;
	int64_t *fail_ms; /* ring of recent failure times, allowed_fails + 1 long */
	size_t n_fail_slots, fail_pos;
	int64_t cooldown_until_ms;
	int64_t last_fail_ms;
	struct policy_window win;
	/* what the routing strategies read (router_settings.routing_strategy) */
	int64_t share;			 /* simple-shuffle: policy_shares() of the group */
	double cost_per_token;		 /* cost-based: input + output USD per token; < 0 unknown */
	struct policy_latency lat;	 /* latency-based, whole answers: us per completion token */
	struct policy_latency ttft;	 /* latency-based, streams: us to the first event */
	struct gtoken_account *gacct;	 /* vertex_ai: the service account's tokens, else NULL */
	size_t pools[POOL_MAX_PER_CALL]; /* the rate pools it draws from (router_pool.c) */
	size_t n_pools;
	bool own_pool; /* its tpm/rpm is a pool of one: the pool, not the pick, keeps them */
};

/* One rate pool's waits since start, by class (router_pool.c). */
struct pool_stats {
	int64_t waits[POOL_CLASSES], wait_ms[POOL_CLASSES], max_ms[POOL_CLASSES];
	int64_t deferred[POOL_CLASSES];
};

struct group {
	const char *name;
	struct deployment **deps;
	size_t n_deps;
	struct policy_candidate *cand; /* n_deps, rewritten by each pick: no allocation per call */
};

/* The state machine's transitions a helper file may reach back into (router.c's; a helper
 * calls them as c->r->owner->x(c)): the only calls from router_*.c into router.c. Each ends
 * what the helper was doing with the call: after it the helper touches c no more. */
struct call_owner {
	/* One attempt failed before anything reached the client (c->err and its status and
	 * message set): retry, fall back, or give up. */
	void (*attempt_failed)(struct router_call *c);
	/* A group could not serve the call (c->err set): next group of the fallback chain, or
	 * the error to the client. */
	void (*group_exhausted)(struct router_call *c);
	/* Ends the call with a 200 answer: body (taken), len bytes, type (copied; NULL = JSON). */
	void (*answer_ok)(struct router_call *c, char *body, size_t len, const char *type);
};

#define ROUTER_SPARE_CALLS 32

struct router {
	const struct config *cfg;
	const struct call_owner *owner; /* router.c's transitions, for the helper files */
	struct loop *loop;
	int64_t calls_started; /* numbers the calls in the audit trail */
	struct spend *spend;
	struct breaker *breaker; /* borrowed; asked before every upstream send, or NULL */
	struct deployment *deps;
	size_t n_deps;
	struct group *groups;
	size_t n_groups;
	struct router_call *calls;
	size_t in_flight;
	struct buf out; /* SSE events forwarded during one upstream read */
	bool feeding;	/* inside sse_feed: router_stream_forward() only collects */
	struct router_metrics m;
	struct gtoken *gtoken; /* Google service accounts' access tokens (vertex_ai) */
	/* rate pools (router_pool.c): NULL sched = no pool configured */
	struct pool_sched *sched;
	char **pool_names;
	struct pool_stats *pool_stats;
	size_t n_pools;
	struct event *pool_timer;
	uint64_t pool_ids;
	/* Freed calls kept for the next ones (router.c, call_alloc): a call is about 1.3 KiB, a
	 * size musl's mallocng keeps in groups it unmaps and maps again as the calls in flight
	 * rise and fall (perf stat, 5,000 requests at 1,000 req/s: 567 -> 394 page faults). */
	struct router_call *spare_calls[ROUTER_SPARE_CALLS];
	size_t n_spare_calls;
};

/* Where a call stands in the rate pools. */
enum call_pool {
	CP_NONE,    /* holds nothing */
	CP_WAITING, /* queued: a pool_run grants or expires it */
	CP_READY,   /* granted, not sent yet: the next attempt() sends without asking */
	CP_SENT,    /* sent: settled when its HTTP request ends */
};

struct router_call {
	struct router_call *prev, *next;
	struct router *r;
	size_t alloc_size;	  /* the bytes of c's allocation (call_alloc) */
	struct router_caller who; /* who.lane is NULL: the call's lane is lane */
	char *key_hash, *key_alias, *source, *purpose;
	int lane;		      /* index in cfg->lanes, or LANE_NONE (router/lane.h) */
	bool lane_unknown;	      /* the caller named a lane the config does not have */
	struct router_redact *redact; /* a client's call in a redacting lane (router_redact.c) */
	int64_t id;		      /* the call's number since start (audit trail) */
	int attempt_no;		      /* attempts sent so far, retries and fallbacks included */
	int attempt_fallback;	      /* the fallbacks taken when the current attempt was sent */
	struct router_cbs cbs;
	void *arg;
	enum provider_route route;
	cJSON *req; /* the client's request (a form's plain fields), until the first attempt */
	unsigned char area; /* router_scratch.c's area holding req's nodes (index + 1), or 0 */
	/* req is no longer what body says (a member dropped, added or changed since the parse,
	 * or a form's fields): the dialect prints req. While false, an OpenAI-shaped upstream
	 * gets body as written with only its model replaced (router_upstream_request). Every
	 * change to req sets it: router_req_drop, or by hand where a change is made. */
	bool req_changed;
	/* The value of the body's root "model" in body, quotes included, when the body is plain
	 * JSON that reads as written (json_parse_span); 0, 0 otherwise. */
	size_t model_at, model_end;
	char *body; /* its text, to rebuild req for a retry or fallback */
	size_t body_len;
	char *content_type;	    /* the body's, for a multipart route */
	struct multipart_form form; /* a multipart body's parts (pointing into body) */
	size_t input_chars;	    /* characters of a speech request's input */
	double audio_hint_s;	    /* a transcription's length as the caller knows it; 0 = not */
	double audio_s;		    /* the length the provider's answer gave; 0 = none */
	int64_t images;		    /* images an answer of /v1/images/generations holds */
	bool images_counted;	    /* images was read from the answer (0: it held none) */
	int64_t search_units; /* what a /v1/rerank answer bills (Cohere's meta), 0 = not said */
	char *requested;
	char *asked; /* the client's model name when an alias or wildcard resolved it into
		      * requested (the group): for the key check and wildcard ids, never a label */
	bool client_stream, client_usage, disable_fallbacks;
	/* the client's request named fallbacks or disable_fallbacks (router_refuse's walk) */
	bool litellm_fields;
	char **body_fallbacks; /* per-request "fallbacks", or NULL */
	size_t n_body_fallbacks;
	/* the chain of groups: [requested, fallbacks...], decided after the first group fails */
	const char **chain;
	size_t n_chain, chain_pos;
	bool chain_decided;
	struct group *group;
	struct deployment *dep, *last_failed;
	int attempts_in_group, retries, fallbacks;
	/* litellm_params.order within the group (router_order.c): the order the last pick kept,
	 * and the one an order fallback asks for (LiteLLM's _target_order) */
	bool order_kept_set, order_target_set;
	int64_t order_kept, order_target;
	struct httpc_req *http;
	/* In the call, not event_new'd: a malloc and a free fewer a call. timer is &timer_ev. */
	struct event timer_ev, *timer;
	enum { T_NONE, T_BACKOFF, T_FINISH, T_STREAM_TIMEOUT } timer_kind;
	bool cancelled, done;
	/* rate pools (router_pool.c) */
	enum pool_class pool_class;
	enum call_pool pool_state;
	uint64_t pool_id;	 /* the current ask's */
	bool pool_no_wait;	 /* a wait expired: later groups only if they have room now */
	bool pool_bounded;	 /* the client set max_tokens (or its route's like) */
	bool pool_deferred;	 /* the last group found no room (no attempt sent since) */
	int64_t pool_prompt_est; /* the attempt's estimate: prompt tokens, and in all */
	int64_t pool_tokens;
	int64_t pool_asked_ms, pool_est_ms; /* when it asked; its wait as estimated then */
	/* current attempt */
	struct sse_parser sse;
	bool sse_active;
	struct provider_stream *pstream; /* a non-OpenAI dialect's stream decoder, else NULL */
	const struct provider_ops *pstream_ops; /* the dialect that made it */
	bool stream_started;			/* bytes reached the client */
	bool upstream_done; /* [DONE] (a Responses stream: its final event) seen */
	struct buf held;    /* a Responses stream's opening events, until its first output */
	int64_t next_seq;   /* a Responses stream's next sequence_number */
	bool got_event;
	struct buf errbody;
	size_t stream_bytes; /* upstream bytes of this attempt's stream, against the cap */
	size_t sent_bytes;   /* this attempt's request body as sent upstream */
	size_t output_chars; /* generated text seen: content, reasoning, tool calls */
	bool attempt_open;   /* sent upstream and not settled yet */
	bool budget_wait;    /* waiting for calls in flight to settle */
	/* waiting for token_acct's token exchange number token_seq (gtoken.h) */
	bool token_wait;
	struct gtoken_account *token_acct;
	uint64_t token_seq;
	struct spend_hold hold;
	double est_usd; /* what the attempt may cost (reserved), < 0 = unknown */
	bool stream_failed, stream_failed_forwarded;
	/* last error */
	enum policy_eclass err;
	enum policy_eclass first_err;
	long err_status, first_err_status;
	char *err_msg;
	long retry_after_s;
	/* result (of the current attempt) */
	int64_t prompt_tokens, completion_tokens;
	/* of prompt_tokens: read from and written to the provider's prompt cache */
	int64_t cached_tokens, cache_write_tokens;
	double cost_usd;
	bool have_cost, got_usage;
	bool estimated; /* no usage arrived: tokens and cost are estimates */
	const char *cost_source;
	char *final_body;
	size_t final_len;
	char *final_type; /* content type of a 200 answer that is not JSON, else NULL */
	int final_status;
	/* timing (µs) */
	int64_t t_start, t_attempt, t_first_token, upstream_us, backoff_us;
	/* The settled attempt (router_settle()): what its row and audit line say, kept so that a
	 * reply_first caller's answer goes out before they are recorded (record_pending), and
	 * the success metrics of its answer, taken at t_answer (count_pending). */
	long settled_status;
	bool settled_billed, record_pending, count_pending;
	const char *settled_outcome;
	int64_t settled_ms, t_answer;
};

/* Wall-clock time: only for the ledger and the budgets (days and months are dates). Cooldowns,
 * rpm/tpm windows and the breaker run on now_mono_ms(), so a wall-clock step (NTP, a resumed
 * VM) neither wedges a deployment in cooldown nor fills or empties a window. */
static inline int64_t router_now_ms(void)
{
	return now_wall_ms();
}

/* The caller's key alias as a metric label: "None" without one. */
static inline const char *router_alias_or_none(const struct router_call *c)
{
	return c->key_alias ? c->key_alias : "None";
}

/* ---- router.c: the state machine ---- */

/* What each route (OpenAI endpoint) needs, bounds and serves (router.c's table). */
extern const struct route_spec router_route_specs[PROVIDER_ROUTES];

static inline const struct route_spec *router_spec_of(const struct router_call *c)
{
	return &router_route_specs[c->route];
}

/* The call's answer is images (/v1/images/generations, /v1/images/edits): priced per image. */
bool router_images(const struct router_call *c);

/* ---- router_end.c: a call's end written, nothing decided ---- */

/* Arms the call's one timer: kind (T_*) after delay_ms, or "now, from the loop" for 0. */
void router_arm(struct router_call *c, int kind, int64_t delay_ms);

/* The answer's body (taken), len bytes, and its type (copied; NULL = application/json). */
void router_set_final(struct router_call *c, char *body, size_t len, const char *type);

/* LiteLLM's error body {"error": {message, type, param: null, code: "<status>"}}; the caller
 * owns it (and may add members before router_fail_json). */
cJSON *router_error_json(enum policy_eclass c, long status, const char *msg);

/* Ends the call with an error answer (before any stream reached the client). */
void router_fail_call(struct router_call *c, enum policy_eclass cls, long status, const char *msg);

/* Ends the call with the error body root (router_error_json's, maybe with more members;
 * taken). */
void router_fail_json(struct router_call *c, enum policy_eclass cls, long status, cJSON *root);

/* Ends the call refused by a budget (spend_check/spend_reserve said so in msg): LiteLLM's
 * 400 with msg, plus "budget": {which, config_key, spent_usd, max_usd, resets_at (RFC 3339 in
 * the config's zone, or null), timezone, text (spend_refusal_text)} when a cap refused it
 * (router_cost.c). */
void router_fail_budget(struct router_call *c, const char *msg);

/* Ends the call with OpenAI's 400 for a request field ({"error":{message, type
 * "invalid_request_error", param, code}}). Returns true. */
bool router_refuse_param(struct router_call *c, const char *msg, const char *param,
			 const char *code);

/* text (an upstream's error, a log line's part) without the registered secrets and without the
 * attempt's own credentials: the deployment's api_key and its minted access tokens, which an
 * upstream's 401 may quote ("Bearer ya29..."). malloc'd. */
char *router_scrub(const struct router_call *c, const char *text);
/* c->err_msg scrubbed so, in place (a failed attempt's, before it is logged or answered). */
void router_scrub_error(struct router_call *c);

/* router_params.c: the deployment m's request parameters (litellm_params' temperature,
 * extra_body, max_tokens, ...) merged into the attempt's request c->req, the request's own
 * values winning; extra_body's members then go to the top level. Chat calls only. */
void router_params_merge(struct router_call *c, const struct config_model *m);
/* When c->dep lacks what its calls need (config_model.needs_at_call: a credential LiteLLM too
 * reads only at call time): the attempt fails with that, nothing sent, and true. */
bool router_needs_at_call(struct router_call *c);

/* router_order.c: litellm_params.order. Marks the group's candidates (just filled) that are
 * not of the order this pick keeps, and notes that order in the call. */
void router_order_filter(struct router_call *c, int64_t now_ms);
/* The group is exhausted at the kept order: true when a higher order of the same group is to
 * be tried now (the call's target set, its retries counted anew), false for the fallbacks. */
bool router_order_next(struct router_call *c);
/* A new group of the chain: no order kept or asked for yet. */
void router_order_reset(struct router_call *c);

/* ---- router_pool.c: the rate pools ---- */

/* The router's pools from cfg's rate_pools and each deployment's own tpm/rpm, their timer and
 * metrics; router_pools_destroy frees them (after every call finished). */
void router_pools_create(struct router *r);
void router_pools_destroy(struct router *r);

/* The call's class (who->pool_class, else its key's priority, else its source and purpose,
 * lowered by the request's LiteLLM `priority`), and the request without that field. */
void router_pool_classify(struct router_call *c);

/* Asks the attempt's pools for room for its estimate (body_len bytes upstream and c->req's
 * output bound; c->dep picked). 0: go (reserved). < 0: not now, arranged: the call waits (a
 * later grant runs attempt() again), falls back, or fails with 429. */
int router_pool_ask(struct router_call *c, size_t body_len);

/* The attempt was sent upstream with its reservation. */
void router_pool_sent(struct router_call *c);

/* A stream's chunk arrived: the reservation follows the answer when it outgrows it. */
void router_pool_progress(struct router_call *c);

/* The sent attempt ended (after router_settle): what the answer's rate headers and a 429's
 * retry-after say of the account, and its reservation settled to its usage. */
void router_pool_done(struct router_call *c, struct httpc_req *req);

/* Gives up the call's place: a waiter leaves the queue, a reservation not sent is released.
 * Safe to call in any state. */
void router_pool_drop(struct router_call *c);

/* True when the call, sent to d, would go through d's rate pools now (pool_would_go: its
 * estimate within its class's share, nobody of its class or above waiting there, not blocked);
 * true for a deployment without pools. The estimate is the client's body, as the attempt's
 * ask will be the body as sent. */
bool router_pool_would_go(const struct router_call *c, const struct deployment *d);

/* Refreshes the hermetic_pool_tokens and hermetic_pool_queue gauges (at a scrape). */
void router_pools_collect(struct router *r);

/* ---- router_admit.c: the request read and checked ---- */

/* Reads and checks a new call's request: the body, the fields the router acts on, model
 * aliases, a route's required fields and output bounds, then admission (allowlist, key,
 * budget). Returns true after arranging the error answer. */
bool router_refuse(struct router_call *c);

/* The client's JSON again (for a retry or fallback) without LiteLLM's own request fields, or
 * a form's plain fields, into c->req. Returns 0, or -1 when the body is not a JSON object. */
int router_parse_request(struct router_call *c);

/* ---- router_cost.c: reservations, prices, the ledger ---- */

/* While the call waits for calls in flight to settle: true when it waits on (arming the next
 * poll), false when the attempt may go. */
bool router_still_waiting(struct router_call *c);

/* Reserves what the attempt (body_len bytes upstream) may cost in every capped budget. Returns
 * 0, or < 0 after arranging the wait or ending the call. */
int router_reserve(struct router_call *c, size_t body_len);

/* The output tokens the attempt may generate: c->req's max_tokens, else the deployment's
 * max_output_tokens, else a default (policy_output_bound). */
int64_t router_output_bound(const struct router_call *c);
/* The same for deployment d, before the call has one (the pick). */
int64_t router_output_bound_of(const struct router_call *c, const struct deployment *d);

/* Gives the attempt's reservation back. */
void router_release(struct router_call *c);

/* Tokens of an attempt whose usage did not arrive, from what was sent and seen. */
void router_estimate_tokens(struct router_call *c);

/* What the attempt cost and how it ended, read while its request is alive; recorded at once,
 * or after on_done when the call is finishing for a reply_first caller (record_pending). */
void router_settle(struct router_call *c, struct httpc_req *req);

/* The settled attempt's ledger row, budgets, breaker and audit line. */
void router_record(struct router_call *c);

/* ---- router_answer.c ---- */

/* A whole (not streamed) 200 answer of the attempt, type its Content-Type: the call answered,
 * or the attempt failed. */
void router_on_non_stream_ok(struct router_call *c, const char *body, size_t len, const char *type);

/* ---- router_scratch.c: upstream JSON parsed into a static area ---- */

/* Parses an upstream answer or chunk into the scratch area (see router_scratch.c); NULL when it
 * is not JSON. Free with router_drop_scratch() before the next parse. */
cJSON *router_parse_scratch(const char *s, size_t len);

/* Deletes a tree from router_parse_scratch() and empties the scratch area. */
void router_drop_scratch(cJSON *root);

/* How many calls' requests have an area of their own at once (router_scratch.c). */
#define ROUTER_CALL_AREAS 32

/* Parses c's body into c->req (json_parse's flags and err), in place of the one before, with
 * its nodes in an area of c's own while one is free (router_scratch.c). Returns c->req, NULL
 * when the body is not JSON. */
cJSON *router_parse_call(struct router_call *c, int flags, struct json_error *err);

/* Deletes c->req and gives c's area back. */
void router_drop_call(struct router_call *c);

/* Deletes c->req's member `name`, when it has one (then c->req_changed). */
void router_req_drop(struct router_call *c, const char *name);
/* Deletes the member `item` of c->req, when not NULL (then c->req_changed). */
void router_req_drop_item(struct router_call *c, cJSON *item);

/* ---- router_stream.c ---- */

/* Reads a "usage" object (tokens, cost) into the call's attempt. */
void router_read_usage(struct router_call *c, cJSON *usage);
/* The same from usage members already read (answer_scan). */
void router_take_usage(struct router_call *c, const struct answer_usage *u);

/* Generated characters in every choice's field ("delta" of a chunk, "message" of an answer)
 * and in its "text" (completions). */
size_t router_choices_chars(const cJSON *choices, const char *field);

/* Starts the client's stream (its on_stream_start), once. */
void router_stream_start(struct router_call *c);

/* Sends SSE bytes to the client, collected while the router is inside sse_feed. */
void router_stream_forward(struct router_call *c, const char *data, size_t len);

/* router_redact.c: a router client's call in a redacting lane (docs/security.md, "Lanes"). */
/* Redacts c->req's messages and makes c->body the redacted text, when c's lane redacts; a
 * route other than chat completions is refused. true after failing the call. */
bool router_redact_request(struct router_call *c);
/* A whole chat answer with its placeholders restored (malloc'd), or NULL: as it is. */
char *router_redact_answer(struct router_call *c, const char *body, size_t len);
/* A stream chunk restored, holding back a placeholder's possible start (malloc'd), or NULL:
 * as it is. */
char *router_redact_chunk(struct router_call *c, const char *data, size_t len);
/* A chunk with the text still held back, for before "[DONE]" (malloc'd), or NULL: none. */
char *router_redact_flush(struct router_call *c);
void router_redact_free(struct router_call *c);

/* One translated chunk of a non-OpenAI dialect's stream (the provider_emit_cb). */
int router_stream_on_chunk(const char *data, size_t len, void *arg);

/* One upstream SSE event of a streamed attempt (the sse_parser callback). */
int router_stream_on_event(const struct sse_event *ev, void *arg);

/* The same for a PROVIDER_RESPONSES attempt: named events forwarded with their names, the
 * opening ones (response.created, response.in_progress) held until the first output so a
 * failure right after them may still retry or fall back; response.completed, .incomplete
 * and .failed end the stream and carry its usage. No "[DONE]". */
int router_stream_on_responses_event(const struct sse_event *ev, void *arg);

/* Ends a Responses stream that broke after it reached the client with an "error" event of
 * the API's shape (code "server_error", the call's err_msg). */
void router_responses_forward_error(struct router_call *c);

/* Generated characters of a Response's output items (text, refusals, function-call
 * arguments, reasoning summaries). */
size_t router_responses_chars(const cJSON *output);

/* Classifies a Responses API error object ({"code", "message"}: an "error" event, a failed
 * response's "error") into the call's err, err_status and err_msg. */
void router_responses_error(struct router_call *c, const cJSON *e);

/* Upstream body bytes of an attempt (the httpc on_data callback): fed to the SSE parser of a
 * streamed call, kept as the error body of a failed one. */
int router_on_http_data(struct httpc_req *req, const char *data, size_t len, void *arg);

/* ---- router_pick.c ---- */

/* Picks a usable deployment of c->group for the next attempt (cooldowns, windows, order, the
 * routing strategy, rate pools); NULL with *wait_s (or *all_cooling) when none is usable. */
struct deployment *router_pick(struct router_call *c, long *wait_s, bool *all_cooling);

/* A failed attempt of d counted towards its cooldown (allowed_fails, allowed_fails_policy). */
void router_note_failure(struct router *r, struct deployment *d, enum policy_eclass err,
			 long status);

/* A finished attempt's latency kept for latency-based-routing (a timeout counts 1000 s). */
void router_note_latency(struct router_call *c, bool timed_out);

/* LiteLLM's deployment-state gauge of d at t_ms (healthy, partial, outage). Set on a failure
 * and for every deployment when /metrics is rendered (the state moves with the clock and with
 * failures, never with a success, so an answer does not set it). */
void router_set_state_metric(struct router *r, struct deployment *d, int64_t t_ms);

/* ---- router_upstream.c ---- */

/* The attempt as c->dep's dialect frames it: URL, body, and headers when they are per attempt.
 * Returns 0, or < 0 after arranging a 400 (nothing is sent). */
int router_upstream_request(struct router_call *c, struct provider_request *out);

/* A vertex_ai deployment's access token: 0 with *token; -1 when the call waits for the
 * account's exchange (the router's token callback runs the attempt again) or after the
 * exchange it waited for failed (then the attempt has failed, retried or fallen back). */
int router_google_token(struct router_call *c, const char **token);

/* The attempt's headers with "Authorization: Bearer <token>" added. */
void router_add_bearer(struct router_call *c, struct provider_request *preq, const char *token);

#endif
