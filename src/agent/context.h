/* context: the agent's context budget and compression choices as pure functions. They take
 * the session's messages as plain values (role and length of each), the budget and the time,
 * and say what to do: whether the request is over the budget, which tool results to shorten,
 * what middle to summarise, whether a compression call is allowed, what to leave out as a last
 * resort. agent_compress.c acts on the answers; tests/test_agent_context.c checks each choice. */
#ifndef HERMETIC_AGENT_CONTEXT_H
#define HERMETIC_AGENT_CONTEXT_H

#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONTEXT_BUDGET_FILL	    0.85   /* compress above this share of the context budget */
#define CONTEXT_TAIL_SHARE	    0.20   /* compression keeps about this share as recent tail */
#define CONTEXT_TAIL_KEEP_MSGS	    4	   /* the free pass never shortens these last messages */
#define CONTEXT_SHORT_LINE	    120	   /* a shortened tool result keeps this much */
#define CONTEXT_COMPRESS_BACKOFF_MS 600000 /* after a failed compression, for the session */
#define CONTEXT_N_BACKOFF	    16

/* One message of a session as the budget sees it. The agent's own message type: json is the
 * OpenAI message object (owned by the agent), id its store id (0 = not stored). */
struct context_msg {
	int64_t id;
	char *json;
	size_t len;
	char role;  /* 'u'ser, 'a'ssistant, 't'ool, 's'ystem */
	bool parts; /* the turn's user message: its files go with it (agent_part) */
};

/* The context budget in tokens for a model group: agent.context_tokens, or the smallest
 * positive model_info.max_input_tokens of the group's deployments when smaller. */
int64_t context_budget_tokens(const struct config *cfg, const char *model);

/* Estimated request bytes: the system prompt, every message and a fixed 256 for the rest. */
size_t context_request_bytes(size_t system_len, const struct context_msg *m, size_t n);

/* Estimated tokens of that many request bytes: bytes / 4 rounded up, the estimate the budget
 * uses (no tokenizer is linked). */
int64_t context_est_tokens(size_t bytes);

/* Whether a request of that many bytes (about 4 a token) is over 85% of the budget. */
bool context_over_budget(size_t request_bytes, int64_t budget_tokens);

/* Whether message i of n is a tool result the free pass shortens: outside the last 4 messages
 * and at least twice the kept line long. */
bool context_shortens(const struct context_msg *m, size_t i, size_t n);

/* The shortened text of a tool result: its first line, at most 120 bytes cut on a UTF-8
 * boundary, and how long it was. Returns a malloc'd string. */
char *context_shortened(const char *content);

/* The middle to compress or leave out: after the first message (and its tool results),
 * before a recent tail of about 20% of the budget (at least the last message); both ends on
 * a message that is not a tool result, so no call loses its result. Sets [*from, *to) and
 * returns whether it is not empty. */
bool context_middle(const struct context_msg *m, size_t n, int64_t budget_tokens, size_t *from,
		    size_t *to);

/* The next messages [*from, *end) the last resort leaves out of the request: the oldest group
 * of the middle (a message and its tool results); with no middle, from the start but never
 * the last user message and what follows it. Returns false when nothing may go. */
bool context_next_drop(const struct context_msg *m, size_t n, int64_t budget_tokens, size_t *from,
		       size_t *end);

/* Sessions whose compression failed recently; zeroed memory is empty. Fields are private. */
struct context_backoff {
	struct {
		int64_t session_id, until_ms;
	} slot[CONTEXT_N_BACKOFF];
	size_t next;
};

/* Whether the session's compression failed less than ten minutes before now_ms. */
bool context_in_backoff(const struct context_backoff *b, int64_t session_id, int64_t now_ms);

/* Notes a failed compression of the session at now_ms (the oldest note makes room). */
void context_backoff_set(struct context_backoff *b, int64_t session_id, int64_t now_ms);

/* Whether a compression call is allowed: none tried in this turn yet, the session not in
 * backoff, and a middle to summarise. */
bool context_compress_allowed(bool tried_this_turn, bool in_backoff, bool has_middle);

#endif
