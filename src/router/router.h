/* router: LiteLLM-compatible routing of OpenAI requests, in process: chat completions,
 * completions, embeddings, audio transcriptions (multipart/form-data), speech (a binary
 * answer) and the Responses API, each a route of the same state machine.
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
 * Async contract: router_call() and router_chat() return 0 and on_done fires exactly once,
 * later, from the loop (also for requests refused before any upstream call, and on cancel).
 * They return a negative value only on a programming error (then nothing fires).
 */
#ifndef HERMETIC_ROUTER_H
#define HERMETIC_ROUTER_H

#include "router/providers/provider.h" /* enum provider_route */

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
	/* For the audit trail (copied): where the call comes from ("telegram:<chat>", "cron:<job>",
	 * "hook:<name>", "api:<user>"; NULL = "api", a client of the router), the agent's session
	 * (0 = none) and what the call is for ("turn", "compression", ...; NULL = none). */
	const char *source;
	int64_t session_id;
	const char *purpose;
	/* The call's class in the rate pools ("interactive", "api", "hook", "scheduled",
	 * "background"; docs/pools.md). NULL = the key's `priority` for a client of the router,
	 * else from source and purpose (pool_class_of). A request's LiteLLM `priority` may lower
	 * it, never raise it. */
	const char *pool_class;
	/* The caller's reply first (HTTP ingress): the ledger row, audit line and metrics of the
	 * attempt that ends the call are recorded right after on_done returns, not before it; the
	 * call's budget reservation holds until then. Off for in-process callers, whose on_done may
	 * start the next call against budgets that already hold this one's row. */
	bool reply_first;
	/* The call's lane (config lanes, router/lane.h; borrowed during router_call): it reaches
	 * only that lane's model groups, retries and fallbacks included. NULL = none, though the
	 * key's pinned lane or the request's metadata.lane may still raise it. An unknown name
	 * is refused (400), never treated as no lane. */
	const char *lane;
	/* The router redacts the request by its lane's rules and restores the answer
	 * (router_redact.c), as for a client its key or metadata.lane puts in a lane: for a
	 * caller that names its lane but does not redact its own text (an MCP server's
	 * sampling). The agent redacts its turns itself (agent_redact.c) and leaves it false. */
	bool redact;
};

/* What the client gets. Strings are borrowed for the duration of the callback. */
struct router_result {
	int status;	  /* HTTP status for the client (499 when cancelled) */
	const char *body; /* non-streamed answer or error body; binary for speech (body_len) */
	size_t body_len;
	const char *content_type;  /* the body's type: the upstream's for a speech or a
				    * transcription answer, NULL = application/json */
	bool streamed;		   /* the stream reached the client (on_stream_* were called) */
	const char *model_group;   /* group that answered, else the requested one if it is
				    * configured, else NULL (never the client's unchecked name) */
	const char *deployment_id; /* model_info.id of the deployment that answered, or "" */
	double cost_usd;
	int64_t prompt_tokens, completion_tokens;
	int retries, fallbacks;
	long retry_after_s; /* > 0: send Retry-After (cooldown, rate limit) */
	bool deferred;	    /* the 429 is the rate pools' (no room within max_wait_s), not a
			     * provider's: nothing was sent for the last group; retry later */
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
	/* Optional: an attempt starts waiting for room in a rate pool, about wait_ms (a progress
	 * line). Called from the loop, inside the router: it must not call back into the router
	 * for this call (no router_cancel); on_done still fires once, later. */
	void (*on_wait)(struct router_call *c, int64_t wait_ms, void *arg);
};

/* Points cJSON's allocation hooks, for the whole process, at hooks that serve the router's
 * parses from a static scratch area and are malloc and free everywhere else (router_scratch.c).
 * Call once, in main, before any thread exists: cJSON's hooks are global and changing them
 * while another thread uses cJSON is a data race. Without it the router parses with malloc. */
void router_scratch_install(void);

/* Creates the router for cfg's model_list. spend may be NULL (no ledger: budgets off). */
struct router *router_create(const struct config *cfg, struct loop *loop, struct spend *spend,
			     struct metrics *metrics);
/* Cancels every call (their on_done fire from the loop) and frees. Accepts NULL. */
void router_destroy(struct router *r);

/* One request to an OpenAI endpoint. */
struct router_request {
	enum provider_route route;
	const char *body; /* the client's body (copied): JSON, or the multipart form */
	size_t len;
	/* The body's Content-Type: required for PROVIDER_TRANSCRIPTIONS ("multipart/form-data;
	 * boundary=..."), ignored for the JSON routes. Copied. */
	const char *content_type;
	/* PROVIDER_TRANSCRIPTIONS: the audio's length in seconds when the caller knows it (a
	 * Telegram voice note's duration), 0 = unknown. With model_info.input_cost_per_second
	 * the cost is the answer's duration (usage seconds, verbose_json duration), else this,
	 * else an estimate from the file's size at 16 kbit/s (marked as an estimate). */
	double audio_seconds;
};

/* Starts a call of route q->route: the same allowlist, key restrictions, budgets, ledger rows,
 * retries, fallbacks, cooldowns and metrics for every route. A request the route cannot take
 * (model missing, embeddings without input, speech without voice, a transcription without a
 * file part...) or a deployment whose provider does not serve the route ends with an
 * OpenAI-shaped 400 through on_done, before anything is sent. Only PROVIDER_CHAT,
 * PROVIDER_COMPLETIONS and PROVIDER_RESPONSES stream (the last with its named events and no
 * "[DONE]": on_stream_data gets whole SSE events either way); a speech answer is the upstream's
 * audio (result body_len bytes, content_type set). For an in-process caller (the agent) that wants
 * a transcription: route PROVIDER_TRANSCRIPTIONS, a multipart/form-data body with `model` (a
 * model_list group) and `file` parts and its content type; who->key_hash "internal"; on_done gets
 * the upstream's answer ({"text":...} JSON, or plain text for response_format text). */
int router_call(struct router *r, const struct router_request *q, const struct router_caller *who,
		const struct router_cbs *cbs, void *arg, struct router_call **out);

/* router_call for PROVIDER_CHAT: the request body is OpenAI chat completions JSON (copied). */
int router_chat(struct router *r, const char *body, size_t len, const struct router_caller *who,
		const struct router_cbs *cbs, void *arg, struct router_call **out);
/* Aborts the call; on_done fires later with status 499. Not after on_done. */
void router_cancel(struct router_call *c);

/* True when name is a callable virtual model (a model_list model_name). */
bool router_has_model(const struct router *r, const char *name);
/* True when a deployment of model group name caches prompts only up to cache_control marks
 * (router/providers/prompt_cache.h): a caller with a long-lived prompt should mark it. */
bool router_wants_cache_marks(const struct router *r, const char *name);
size_t router_in_flight(const struct router *r);
/* The rate pools as JSON (caller frees): {"pools":[{name, tpm, rpm, used_tokens,
 * used_requests, reserved_tokens, in_flight, blocked_s, learned_tokens_left, queue {class: n},
 * waits {class: {count, total_s, max_s, deferred}}}]}; "pools" is empty without any pool. */
char *router_pools_json(struct router *r);
/* Every upstream send (retries and fallbacks too) asks b first and is refused with 429
 * bleed_breaker_open when it says no; each attempt's cost (estimated ones too) is fed to it.
 * b is borrowed (it must outlive the router); NULL = no breaker (`hermetic router`, `chat`). */
void router_set_breaker(struct router *r, struct breaker *b);

#endif
