/* agent_stream: a streamed model answer, read as it arrives.
 *
 * Streaming (agent_cbs.on_text set): every model call of the turn, the limit's summary call
 * too, asks for "stream": true with the usage chunk. The router hands the in-process caller
 * OpenAI chat.completion.chunk events whatever the provider's dialect; they are read as they
 * arrive (delta.content appended, delta.tool_calls merged by index, finish_reason, usage),
 * on_text gets the call's whole text after each event that added some, and at [DONE] the
 * pieces become the same completion object a non-streamed call returns, so storage, tools,
 * limits and costs take one path (agent_model.c). The answer's text is cut at
 * agent.answer_max_bytes with a note (the call cancelled, the rest never read: a model that
 * streams 50 MB costs the cap, not 50 MB); all that is assembled is capped by
 * router.max_response_bytes; a stream that breaks after its first chunk (an error event, no
 * [DONE]) cannot be retried by the router and fails the turn, storing nothing of the broken
 * answer. The compression call is never streamed: nobody watches it.
 *
 * Rejected: throttling on_text here (a chat edits a message at its own pace; a CLI prints
 * every piece).
 */
#include "agent/agent_int.h"
#include "core/config.h"
#include "core/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A streamed answer: one event at most the router's own SSE event cap, and at most this many
 * distinct tool calls (past MAX_TOOL_CALLS they are answered with an error, as unstreamed
 * ones are; far past it the answer is not one to act on). */
#define STREAM_EVENT_CAP (1024 * 1024)
#define STREAM_MAX_CALLS (4 * MAX_TOOL_CALLS)

void agent_stream_finish(struct stream *s)
{
	if (s->on)
		sse_finish(&s->sse);
	buf_finish(&s->content);
	for (size_t i = 0; i < s->n_calls; i++) {
		buf_finish(&s->calls[i].id);
		buf_finish(&s->calls[i].name);
		buf_finish(&s->calls[i].args);
	}
	free(s->calls);
	free(s->finish_reason);
	free(s->error);
	memset(s, 0, sizeof(*s));
}

static void stream_fail(struct stream *s, char *why)
{
	if (!s->error)
		s->error = why;
	else
		free(why);
}

/* Counts n more bytes of answer; false (and the call stopped) past the cap. */
static bool stream_room(struct agent_turn *t, size_t n)
{
	long long cap = (long long)t->a->env.cfg->router.max_response_bytes;

	t->stream.bytes += n;
	if ((long long)t->stream.bytes <= cap)
		return true;
	stream_fail(&t->stream,
		    xasprintf("The model's answer is over router.max_response_bytes (%lld bytes); "
			      "it was stopped there.",
			      cap));
	/* Deferred by the router (httpc_cancel), so safe from inside its data callback. */
	if (t->rc)
		router_cancel(t->rc);
	return false;
}

/* The call of a tool_calls fragment: by index, kept sorted; a fragment without an index
 * starts a call when it has an id, else continues the last one. NULL at the cap. */
static struct stream_call *stream_call_of(struct agent_turn *t, const cJSON *frag)
{
	struct stream *s = &t->stream;
	const cJSON *index = cJSON_GetObjectItemCaseSensitive(frag, "index");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(frag, "id");
	int64_t at;
	size_t i;

	if (cJSON_IsNumber(index))
		at = clamp_i64(index->valuedouble, 0, INT64_C(1) << 40);
	else if (s->n_calls && !(cJSON_IsString(id) && *id->valuestring))
		return &s->calls[s->n_calls - 1];
	else
		at = s->n_calls ? s->calls[s->n_calls - 1].index + 1 : 0;
	for (i = 0; i < s->n_calls && s->calls[i].index < at; i++)
		;
	if (i < s->n_calls && s->calls[i].index == at)
		return &s->calls[i];
	if (s->n_calls == STREAM_MAX_CALLS) {
		stream_fail(s, xasprintf("The model's answer has more than %d tool calls; it was "
					 "not acted on.",
					 STREAM_MAX_CALLS));
		if (t->rc)
			router_cancel(t->rc);
		return NULL;
	}
	s->calls = xrealloc(s->calls, (s->n_calls + 1) * sizeof(*s->calls));
	memmove(&s->calls[i + 1], &s->calls[i], (s->n_calls - i) * sizeof(*s->calls));
	s->n_calls++;
	s->calls[i] = (struct stream_call){.index = at};
	return &s->calls[i];
}

/* The answer's text reached agent.answer_max_bytes: what fits stays, with a note, and the rest
 * is not read (the call is cancelled; on_model takes what was kept as the answer). Memory stays
 * at the cap however long the model goes on. */
static void cut_answer(struct agent_turn *t, const char *add, size_t n)
{
	struct stream *s = &t->stream;
	size_t max = (size_t)t->a->env.cfg->agent.answer_max_bytes;
	size_t room = max > s->content.len ? max - s->content.len : 0;

	buf_append(&s->content, add, utf8_cut(add, n < room ? n : room));
	buf_printf(&s->content,
		   "\n\n[answer cut: the model's answer passed agent.answer_max_bytes (%zu bytes); "
		   "the rest was not read]",
		   max);
	log_warn("agent: a streamed answer passed agent.answer_max_bytes (%zu bytes): cut", max);
	s->cut = s->done = true;
	free(s->finish_reason);
	s->finish_reason = xstrdup("length");
	if (t->rc)
		router_cancel(t->rc);
}

/* Appends a string fragment to b, counted against the cap. */
static bool stream_add(struct agent_turn *t, struct buf *b, const cJSON *v)
{
	size_t n;

	if (!cJSON_IsString(v))
		return true;
	n = strlen(v->valuestring);
	if (b == &t->stream.content && b->len + n > (size_t)t->a->env.cfg->agent.answer_max_bytes) {
		cut_answer(t, v->valuestring, n);
		return false;
	}
	if (!stream_room(t, n))
		return false;
	buf_append(b, v->valuestring, n);
	return true;
}

static bool stream_tool_calls(struct agent_turn *t, const cJSON *calls)
{
	const cJSON *frag;

	cJSON_ArrayForEach(frag, calls)
	{
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(frag, "function");
		struct stream_call *c = stream_call_of(t, frag);

		if (!c || !stream_add(t, &c->id, cJSON_GetObjectItemCaseSensitive(frag, "id")) ||
		    !stream_add(t, &c->name, cJSON_GetObjectItemCaseSensitive(f, "name")) ||
		    !stream_add(t, &c->args, cJSON_GetObjectItemCaseSensitive(f, "arguments")))
			return false;
	}
	return true;
}

static void stream_usage(struct stream *s, const cJSON *usage)
{
	const cJSON *pt = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
	const cJSON *ct = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
	const cJSON *details = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
	const cJSON *cached = cJSON_GetObjectItemCaseSensitive(details, "cached_tokens");

	s->have_usage = true;
	if (cJSON_IsNumber(pt))
		s->prompt_tokens = clamp_i64(pt->valuedouble, 0, INT64_C(1) << 50);
	if (cJSON_IsNumber(ct))
		s->completion_tokens = clamp_i64(ct->valuedouble, 0, INT64_C(1) << 50);
	if (cJSON_IsNumber(cached))
		s->cached_tokens = clamp_i64(cached->valuedouble, 0, INT64_C(1) << 50);
}

/* Reads one chunk; returns whether it added text. An error stops the parser (sticky). */
static int stream_chunk(struct agent_turn *t, const cJSON *root, bool *added)
{
	struct stream *s = &t->stream;
	const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
	const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
	const cJSON *choice = cJSON_GetArrayItem(choices, 0);
	const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
	const cJSON *fr = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
	size_t before = s->content.len;

	if (err && !cJSON_IsArray(choices)) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(err, "message");

		stream_fail(s, xasprintf("The model's answer broke off mid-stream: %s",
					 cJSON_IsString(m) ? m->valuestring : "an error event"));
		return -1;
	}
	if (cJSON_IsObject(usage))
		stream_usage(s, usage);
	if (cJSON_IsString(fr)) {
		free(s->finish_reason);
		s->finish_reason = xstrdup(fr->valuestring);
	}
	if (!stream_add(t, &s->content, content) ||
	    !stream_tool_calls(t, cJSON_GetObjectItemCaseSensitive(delta, "tool_calls")))
		return -1;
	*added = s->content.len > before;
	return 0;
}

/* One SSE event of the stream (the sse_parser callback). */
static int stream_event(const struct sse_event *ev, void *arg)
{
	struct agent_turn *t = arg;
	struct stream *s = &t->stream;
	bool added = false;
	cJSON *root;
	int rc;

	if (strcmp(ev->data, "[DONE]") == 0) {
		s->done = true;
		return 0;
	}
	root = json_parse(ev->data, ev->data_len, 0, NULL);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		stream_fail(s, xstrdup("The model's answer broke off mid-stream: a chunk that is "
				       "not JSON."));
		return -1;
	}
	rc = stream_chunk(t, root, &added);
	cJSON_Delete(root);
	if (rc == 0 && added && !t->cancelled)
		t->cbs.on_text(buf_str(&s->content), s->content.len, t->arg);
	return rc;
}

void agent_stream_begin(struct agent_turn *t)
{
	t->stream.on = true;
	sse_init(&t->stream.sse, STREAM_EVENT_CAP, stream_event, t);
	buf_init(&t->stream.content, 0);
}

void agent_stream_on_start(struct router_call *rc, const struct router_result *r, void *arg)
{
}

void agent_stream_on_data(struct router_call *rc, const char *data, size_t len, void *arg)
{
	struct agent_turn *t = arg;
	int rc_feed;

	if (!t->stream.on || t->stream.error || t->stream.done || t->cancelled)
		return; /* also a cut answer's rest, until the cancel lands */
	rc_feed = sse_feed(&t->stream.sse, data, len);
	if (rc_feed == -E2BIG)
		stream_fail(
			&t->stream,
			xasprintf("The model's answer broke off: a streamed event over %d bytes.",
				  STREAM_EVENT_CAP));
}

/* The completion a non-streamed call would have returned, from the streamed pieces: the
 * message (content null when there is none, as in a tool-call answer), finish_reason, usage. */
char *agent_stream_completion(const struct stream *s)
{
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
		     "{\"role\":\"assistant\",\"content\":");
	if (s->content.len)
		buf_json_str(&b, s->content.data, s->content.len);
	else
		buf_puts(&b, "null");
	if (s->n_calls) {
		buf_puts(&b, ",\"tool_calls\":[");
		for (size_t i = 0; i < s->n_calls; i++) {
			const struct stream_call *c = &s->calls[i];

			buf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
			buf_json_str(&b, buf_str(&c->id), c->id.len);
			buf_puts(&b, ",\"type\":\"function\",\"function\":{\"name\":");
			buf_json_str(&b, buf_str(&c->name), c->name.len);
			buf_puts(&b, ",\"arguments\":");
			buf_json_str(&b, buf_str(&c->args), c->args.len);
			buf_puts(&b, "}}");
		}
		buf_puts(&b, "]");
	}
	buf_puts(&b, "},\"finish_reason\":");
	if (s->finish_reason)
		buf_json_str(&b, s->finish_reason, strlen(s->finish_reason));
	else
		buf_puts(&b, "null");
	buf_puts(&b, "}]");
	if (s->have_usage)
		buf_printf(&b,
			   ",\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
			   "\"prompt_tokens_details\":{\"cached_tokens\":%lld}}",
			   (long long)s->prompt_tokens, (long long)s->completion_tokens,
			   (long long)s->cached_tokens);
	buf_puts(&b, "}");
	return buf_steal(&b);
}

/* A streamed call that ended with status 200: whole ([DONE], no error), or why not. */
bool agent_stream_whole(const struct stream *s, const struct router_result *r)
{
	return !r->streamed || (s->done && !s->error);
}
