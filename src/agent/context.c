/* context: the agent's context economy as choices over plain values (see context.h). The
 * passes, in the order agent_compress.c applies them when a request is over 85% of the budget: old
 * tool results shortened to one line (free), one compression call per turn for the middle (backed
 * off for ten minutes per session after a failure), then the oldest middle groups left out.
 * Tokens are estimated as bytes / 4: no tokenizer is linked, and the 15% margin absorbs the
 * error. Rejected: re-running compression until the request fits (Hermes Agent paid up to 9
 * calls per event). */
#include "agent/context.h"
#include "core/util.h"

#include <stdio.h>
#include <string.h>

int64_t context_budget_tokens(const struct config *cfg, const char *model)
{
	int64_t budget = cfg->agent.context_tokens;

	for (size_t i = 0; i < cfg->n_models; i++) {
		int64_t m = cfg->models[i].model_info.max_input_tokens;

		if (m > 0 && m < budget && strcmp(cfg->models[i].model_name, model) == 0)
			budget = m;
	}
	return budget;
}

size_t context_request_bytes(size_t system_len, const struct context_msg *m, size_t n)
{
	size_t bytes = system_len + 256;

	for (size_t i = 0; i < n; i++)
		bytes += m[i].len + 1;
	return bytes;
}

int64_t context_est_tokens(size_t bytes)
{
	return (int64_t)((bytes + 3) / 4);
}

bool context_over_budget(size_t request_bytes, int64_t budget_tokens)
{
	return (double)request_bytes / 4.0 > CONTEXT_BUDGET_FILL * (double)budget_tokens;
}

bool context_shortens(const struct context_msg *m, size_t i, size_t n)
{
	size_t end = n > CONTEXT_TAIL_KEEP_MSGS ? n - CONTEXT_TAIL_KEEP_MSGS : 0;

	return i < end && m[i].role == 't' && m[i].len >= CONTEXT_SHORT_LINE * 2;
}

char *context_shortened(const char *content)
{
	size_t n = strcspn(content, "\n");

	if (n > CONTEXT_SHORT_LINE)
		n = CONTEXT_SHORT_LINE;
	n = utf8_cut(content, n);
	return xasprintf("%.*s ... [shortened from %zu bytes]", (int)n, content, strlen(content));
}

bool context_middle(const struct context_msg *m, size_t n, int64_t budget_tokens, size_t *from,
		    size_t *to)
{
	size_t head = 1, tail = n, tail_bytes = 0;
	size_t keep = (size_t)((double)budget_tokens * 4.0 * CONTEXT_TAIL_SHARE);

	while (head < n && m[head].role == 't')
		head++;
	while (tail > head && tail_bytes + m[tail - 1].len <= keep) {
		tail--;
		tail_bytes += m[tail].len;
	}
	if (tail == n && tail > head)
		tail--; /* at least the last message stays */
	while (tail > head && m[tail].role == 't')
		tail--;
	*from = head;
	*to = tail;
	return tail > head;
}

bool context_next_drop(const struct context_msg *m, size_t n, int64_t budget_tokens, size_t *from,
		       size_t *end)
{
	size_t to;

	if (!context_middle(m, n, budget_tokens, from, &to)) {
		/* No middle left: drop from the start, but never the last user message and what
		 * follows it (the request would be pointless without it). */
		size_t last_user = n;

		while (last_user > 0 && m[last_user - 1].role != 'u')
			last_user--;
		*from = 0;
		to = last_user > 0 ? last_user - 1 : 0;
		if (to == 0)
			return false;
	}
	*end = *from + 1;
	while (*end < to && m[*end].role == 't')
		(*end)++;
	return true;
}

bool context_in_backoff(const struct context_backoff *b, int64_t session_id, int64_t now_ms)
{
	for (size_t i = 0; i < CONTEXT_N_BACKOFF; i++)
		if (b->slot[i].session_id == session_id && now_ms < b->slot[i].until_ms)
			return true;
	return false;
}

void context_backoff_set(struct context_backoff *b, int64_t session_id, int64_t now_ms)
{
	b->slot[b->next].session_id = session_id;
	b->slot[b->next].until_ms = now_ms + CONTEXT_COMPRESS_BACKOFF_MS;
	b->next = (b->next + 1) % CONTEXT_N_BACKOFF;
}

bool context_compress_allowed(bool tried_this_turn, bool in_backoff, bool has_middle)
{
	return !tried_this_turn && !in_backoff && has_middle;
}
