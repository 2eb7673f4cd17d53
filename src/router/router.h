/* router: LiteLLM-compatible routing of OpenAI chat-completion requests, in process.
 *
 * A call names a virtual model (a model_list group). The router checks the allowlist and the
 * budgets before anything is sent, picks a deployment (simple-shuffle or least-busy, skipping
 * deployments in cooldown or over their rpm/tpm), sends the request upstream with the
 * provider's model id, retries retryable failures with backoff (honouring Retry-After),
 * then walks the fallback chain for the error class (skipping groups the caller's key may not
 * use). Each attempt reserves its estimated cost in the budgets before it is sent, so calls in
 * flight count, and every attempt the provider received (retries, cut, cancelled, timed-out
 * ones too) is recorded in the spend ledger, with an estimate marked as such when no usage
 * arrived. It updates LiteLLM-named metrics. Streams pass through chunk by chunk.
 *
 * Async contract: router_chat() returns 0 and on_done fires exactly once, later, from the
 * loop (also for requests refused before any upstream call, and on cancel). It returns a
 * negative value only on a programming error (then nothing fires).
 */
#ifndef HERMETIC_ROUTER_H
#define HERMETIC_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct breaker;
struct config_key;
struct loop;
struct metrics;
struct spend;
struct router;
struct router_call;

/* Who is calling: used for budgets, key restrictions and metric labels. */
struct router_caller {
	const char *key_hash;	      /* SHA-256 hex of the bearer key, or "internal" */
	const char *key_alias;	      /* NULL = "None" */
	const struct config_key *key; /* declarative key (models, budget), or NULL */
};

/* What the client gets. Strings are borrowed for the duration of the callback. */
struct router_result {
	int status;	  /* HTTP status for the client (499 when cancelled) */
	const char *body; /* non-streamed answer or error body (OpenAI JSON) */
	size_t body_len;
	bool streamed;		   /* the stream reached the client (on_stream_* were called) */
	const char *model_group;   /* group that answered, else the requested one if it is
				    * configured, else NULL (never the client's unchecked name) */
	const char *deployment_id; /* model_info.id of the deployment that answered, or "" */
	double cost_usd;
	int64_t prompt_tokens, completion_tokens;
	int retries, fallbacks;
	long retry_after_s; /* > 0: send Retry-After (cooldown, rate limit) */
	double overhead_ms; /* time spent in the router itself, not upstream or backoff */
};

/* The stream callbacks may be NULL for a caller that never asks for "stream": true (such a
 * request is then answered 400 through on_done). */
struct router_cbs {
	/* Streaming only: once, just before the first chunk (status 200, headers may be sent). */
	void (*on_stream_start)(struct router_call *c, const struct router_result *r, void *arg);
	/* Streaming only: complete SSE events ("data: ...\n\n"), in order. */
	void (*on_stream_data)(struct router_call *c, const char *data, size_t len, void *arg);
	/* Exactly once. For a stream, the last event ([DONE] or an error event) came before. */
	void (*on_done)(struct router_call *c, const struct router_result *r, void *arg);
};

/* Creates the router for cfg's model_list. spend may be NULL (no ledger: budgets off). */
struct router *router_create(const struct config *cfg, struct loop *loop, struct spend *spend,
			     struct metrics *metrics);
/* Cancels every call (their on_done fire from the loop) and frees. Accepts NULL. */
void router_destroy(struct router *r);

/* Starts a call for the request body (OpenAI chat completions JSON, copied). */
int router_chat(struct router *r, const char *body, size_t len, const struct router_caller *who,
		const struct router_cbs *cbs, void *arg, struct router_call **out);
/* Aborts the call; on_done fires later with status 499. Not after on_done. */
void router_cancel(struct router_call *c);

/* True when name is a callable virtual model (a model_list model_name). */
bool router_has_model(const struct router *r, const char *name);
size_t router_in_flight(const struct router *r);
/* Every upstream send (retries and fallbacks too) asks b first and is refused with 429
 * bleed_breaker_open when it says no; each attempt's cost (estimated ones too) is fed to it.
 * b is borrowed (it must outlive the router); NULL = no breaker (`hermetic router`, `chat`). */
void router_set_breaker(struct router *r, struct breaker *b);

#endif
