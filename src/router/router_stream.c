/* router_stream: reading upstream answers as they arrive. A streamed attempt's SSE events are
 * parsed, their usage and generated text counted, and forwarded to the client (collected while
 * inside one sse_feed, flushed after it); an error event before anything reached the client is
 * classified so the state machine in router.c may still retry or fall back. A Responses API
 * stream's events keep their `event:` names, its opening events wait for the first output (so
 * a failure right after them may still fall back) and its final event ends it with no
 * "[DONE]". Answers and chunks are parsed into a static scratch area. Rejected: buffering
 * whole streams (breaks time to first token). */
#include "router/router_int.h"
#include "core/json.h"
#include "core/log.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

static void flush_stream(struct router_call *c)
{
	struct buf *out = &c->r->out;

	if (out->len)
		c->cbs.on_stream_data(c, out->data, out->len, c->arg);
	buf_reset(out);
}

/* The events of one upstream read go to the client together (one HTTP chunk, one buffer),
 * when the read has been parsed; outside a read, at once. */
void router_stream_forward(struct router_call *c, const char *data, size_t len)
{
	struct buf *out = &c->r->out;

	buf_puts(out, "data: ");
	buf_append(out, data, len);
	buf_puts(out, "\n\n");
	if (!c->r->feeding)
		flush_stream(c);
}

void router_stream_start(struct router_call *c)
{
	struct router_result res = {.status = 200,
				    .streamed = true,
				    .model_group = c->group->name,
				    .deployment_id = c->dep->m->model_info.id,
				    .retries = c->retries,
				    .fallbacks = c->fallbacks};

	c->stream_started = true;
	/* Once bytes reached the client there is no retry or fallback (an error becomes an SSE
	 * error event), so the request text kept to rebuild one goes now, not at the end of
	 * the stream. */
	free(c->body);
	c->body = NULL;
	c->body_len = 0;
	c->t_first_token = now_mono_us();
	if (c->timer_kind == T_STREAM_TIMEOUT) {
		evtimer_del(c->timer);
		c->timer_kind = T_NONE;
	}
	c->cbs.on_stream_start(c, &res, c->arg);
}

/* The usage an answer or chunk reported: its token counts, and the provider's cost. */
void router_take_usage(struct router_call *c, const struct answer_usage *u)
{
	/* A transcription's usage ("type": "tokens") names them as the Responses API does. */
	bool io = !u->has_prompt && !u->has_completion;
	bool pt = io ? u->input_num : u->prompt_num, ct = io ? u->output_num : u->completion_num;

	if (pt)
		c->prompt_tokens = clamp_i64(io ? u->input : u->prompt, 0, INT64_C(1) << 50);
	if (ct)
		c->completion_tokens =
			clamp_i64(io ? u->output : u->completion, 0, INT64_C(1) << 50);
	if (u->cost_num && u->cost >= 0) {
		c->cost_usd = u->cost;
		c->have_cost = true;
	}
	if (io ? u->i_cached_num : u->p_cached_num)
		c->cached_tokens = clamp_i64(io ? u->i_cached : u->p_cached, 0, INT64_C(1) << 50);
	if (u->p_write_num || u->creation_num)
		c->cache_write_tokens =
			clamp_i64(u->p_write_num ? u->p_write : u->creation, 0, INT64_C(1) << 50);
	/* Parts of the prompt, never more than it: a provider's odd count cannot make the
	 * uncached rest negative. */
	if (c->cached_tokens > c->prompt_tokens)
		c->cached_tokens = c->prompt_tokens;
	if (c->cache_write_tokens > c->prompt_tokens - c->cached_tokens)
		c->cache_write_tokens = c->prompt_tokens - c->cached_tokens;
	c->got_usage = c->got_usage || pt || ct || c->have_cost;
}

void router_read_usage(struct router_call *c, cJSON *usage)
{
	struct answer_usage u;

	answer_usage_tree(usage, &u);
	router_take_usage(c, &u);
}

size_t router_choices_chars(const cJSON *choices, const char *field)
{
	return answer_choices_chars(choices, field);
}

/* An upstream error seen inside a stream, before anything reached the client. */
static int stream_error_before_start(struct router_call *c, cJSON *root)
{
	char *body = cJSON_PrintUnformatted(root), *msg = NULL;
	cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	cJSON *code = e ? cJSON_GetObjectItemCaseSensitive(e, "code") : NULL;
	long status = cJSON_IsNumber(code) ? (long)clamp_i64(code->valuedouble, 0, 999) : 502;

	c->err = policy_classify(status, body, &msg);
	c->err_status = status;
	free(c->err_msg);
	c->err_msg = msg;
	free(body);
	return -1;
}

static int not_json(struct router_call *c, cJSON *root)
{
	router_drop_scratch(root);
	c->err = E_MALFORMED;
	c->err_status = 502;
	free(c->err_msg);
	c->err_msg = xstrdup("upstream sent a stream chunk that is not JSON");
	return -1;
}

int router_stream_on_event(const struct sse_event *ev, void *arg)
{
	struct router_call *c = arg;
	cJSON *root, *choices, *usage;
	bool error_event, usage_only;
	int rc = 0;

	if (strcmp(ev->data, "[DONE]") == 0) {
		c->upstream_done = true;
		return 0;
	}
	c->got_event = true;
	root = router_parse_scratch(ev->data, ev->data_len);
	if (!cJSON_IsObject(root))
		return not_json(c, root);
	choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
	usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
	if (cJSON_IsObject(usage))
		router_read_usage(c, usage);
	c->output_chars += router_choices_chars(choices, "delta");
	error_event = cJSON_GetObjectItemCaseSensitive(root, "error") && !cJSON_IsArray(choices);
	usage_only =
		cJSON_IsArray(choices) && cJSON_GetArraySize(choices) == 0 && cJSON_IsObject(usage);
	if (error_event && !c->stream_started)
		rc = stream_error_before_start(c, root);
	router_drop_scratch(root);
	if (error_event) {
		if (c->stream_started) {
			/* Pass the provider's error event on, then stop; without our
			 * secrets: some providers quote the request's headers. */
			char *clean = router_scrub(c, ev->data);

			router_stream_forward(c, clean, strlen(clean));
			free(clean);
			c->stream_failed_forwarded = true;
			c->err = E_SERVER;
			c->err_status = 502;
			free(c->err_msg);
			c->err_msg = xstrdup("upstream error event in the stream");
			rc = -2;
		}
	} else if (usage_only) {
		if (c->client_usage)
			router_stream_forward(c, ev->data, ev->data_len);
	} else {
		char *restored = router_redact_chunk(c, ev->data, ev->data_len);

		if (!c->stream_started)
			router_stream_start(c);
		router_stream_forward(c, restored ? restored : ev->data,
				      restored ? strlen(restored) : ev->data_len);
		free(restored);
	}
	return rc;
}

/* ---- the Responses API (PROVIDER_RESPONSES) ---- */

/* Opening events held before the stream starts: two of them, at most an event cap each. */
#define HELD_BYTES (2 * SSE_EVENT_CAP)

/* Characters of the fields of every element of an item's array (content parts, summaries). */
static size_t string_len(const cJSON *v)
{
	return cJSON_IsString(v) ? strlen(v->valuestring) : 0;
}

static size_t parts_chars(const cJSON *item, const char *array, const char *const *fields,
			  size_t n_fields)
{
	const cJSON *part;
	size_t n = 0, i;

	cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(item, array))
	{
		for (i = 0; i < n_fields; i++)
			n += string_len(cJSON_GetObjectItemCaseSensitive(part, fields[i]));
	}
	return n;
}

size_t router_responses_chars(const cJSON *output)
{
	static const char *const content[] = {"text", "refusal"};
	const cJSON *item;
	size_t n = 0;

	cJSON_ArrayForEach(item, output)
	{
		n += string_len(cJSON_GetObjectItemCaseSensitive(item, "arguments"));
		n += parts_chars(item, "content", content, ARRAY_LEN(content));
		n += parts_chars(item, "summary", content, 1);
	}
	return n;
}

void router_responses_error(struct router_call *c, const cJSON *e)
{
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
	const char *cs = cJSON_IsString(code) ? code->valuestring : NULL;
	long status = policy_responses_status(cs);
	char *body, *text = NULL;

	/* "image_content_policy_violation" is LiteLLM's content-policy class too. */
	if (cs && strstr(cs, "content_policy"))
		cs = "content_policy_violation";
	body = provider_openai_error(cJSON_IsString(msg) ? msg->valuestring : NULL,
				     status >= 500 ? "server_error" : "invalid_request_error", cs,
				     status);
	c->err = policy_classify(status, body, &text);
	c->err_status = status;
	free(c->err_msg);
	c->err_msg = text;
	free(body);
}

/* One event as SSE: its event: line when it came with one, each data line prefixed. */
static void put_event(struct buf *b, const struct sse_event *ev)
{
	const char *p = ev->data, *end = ev->data + ev->data_len, *nl;

	if (*ev->event) {
		buf_puts(b, "event: ");
		buf_puts(b, ev->event);
		buf_puts(b, "\n");
	}
	do {
		nl = memchr(p, '\n', (size_t)(end - p));
		buf_puts(b, "data: ");
		buf_append(b, p, (size_t)((nl ? nl : end) - p));
		buf_puts(b, "\n");
		p = nl ? nl + 1 : end;
	} while (nl);
	buf_puts(b, "\n");
}

static void forward_event(struct router_call *c, const struct sse_event *ev)
{
	if (!c->stream_started) {
		router_stream_start(c);
		buf_append(&c->r->out, c->held.data, c->held.len);
		buf_finish(&c->held);
	}
	put_event(&c->r->out, ev);
	if (!c->r->feeding)
		flush_stream(c);
}

void router_responses_forward_error(struct router_call *c)
{
	const char *msg = c->err_msg ? c->err_msg : "upstream stream broke";
	struct buf data;
	struct sse_event ev = {.event = "error", .id = ""};

	buf_init(&data, 0);
	buf_puts(&data, "{\"type\":\"error\",\"code\":\"server_error\",\"message\":");
	buf_json_str(&data, msg, strlen(msg));
	buf_printf(&data, ",\"param\":null,\"sequence_number\":%lld}", (long long)c->next_seq);
	ev.data = data.data;
	ev.data_len = data.len;
	forward_event(c, &ev);
	buf_finish(&data);
}

/* What a Responses stream event means to the router; every other type is output. */
enum revent { R_OUTPUT, R_OPENING, R_END, R_FAILED, R_ERROR };

static enum revent revent_of(const char *type)
{
	static const struct {
		const char *type;
		enum revent kind;
	} kinds[] = {
		{"response.created", R_OPENING},
		{"response.in_progress", R_OPENING},
		{"response.queued", R_OPENING},
		{"response.completed", R_END},
		{"response.incomplete", R_END},
		{"response.failed", R_FAILED},
		{"error", R_ERROR},
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(kinds); i++)
		if (strcmp(type, kinds[i].type) == 0)
			return kinds[i].kind;
	return R_OUTPUT;
}

/* Reads what the router keeps of one event (usage, output, sequence, a failure's class) and
 * returns its kind. */
static enum revent read_revent(struct router_call *c, const cJSON *root, const char *name)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
	const cJSON *resp = cJSON_GetObjectItemCaseSensitive(root, "response");
	const cJSON *delta = cJSON_GetObjectItemCaseSensitive(root, "delta");
	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(root, "sequence_number");
	cJSON *usage = cJSON_GetObjectItemCaseSensitive(resp, "usage");
	enum revent k = revent_of(cJSON_IsString(type) ? type->valuestring : name);

	if (cJSON_IsNumber(seq))
		c->next_seq = clamp_i64(seq->valuedouble, -1, INT64_C(1) << 50) + 1;
	/* Every *.delta is generated output: text, refusals, tool arguments, reasoning. */
	if (cJSON_IsString(delta))
		c->output_chars += strlen(delta->valuestring);
	if ((k == R_END || k == R_FAILED) && cJSON_IsObject(usage))
		router_read_usage(c, usage);
	c->upstream_done = k == R_END;
	if (k == R_ERROR)
		router_responses_error(c, root);
	else if (k == R_FAILED)
		router_responses_error(c, cJSON_GetObjectItemCaseSensitive(resp, "error"));
	return k;
}

int router_stream_on_responses_event(const struct sse_event *ev, void *arg)
{
	struct router_call *c = arg;
	cJSON *root;
	enum revent k;

	/* Not the API's, but some OpenAI-compatible servers end their Responses streams with it
	 * too: the final event decides, and the client does not get it. */
	if (strcmp(ev->data, "[DONE]") == 0)
		return 0;
	c->got_event = true;
	root = router_parse_scratch(ev->data, ev->data_len);
	if (!cJSON_IsObject(root))
		return not_json(c, root);
	k = read_revent(c, root, ev->event);
	router_drop_scratch(root);
	if ((k == R_FAILED || k == R_ERROR) && !c->stream_started) {
		buf_finish(&c->held);
		return -1;
	}
	if (k == R_OPENING && !c->stream_started && c->held.len + ev->data_len <= HELD_BYTES) {
		put_event(&c->held, ev);
		return 0;
	}
	if (k == R_FAILED || k == R_ERROR) {
		/* Forwarded as the provider sent it (without our secrets), then the stream
		 * ends: the client sees the failure in the API's own terms. */
		char *clean = router_scrub(c, ev->data);
		struct sse_event copy = *ev;

		copy.data = clean;
		copy.data_len = strlen(clean);
		forward_event(c, &copy);
		free(clean);
		c->stream_failed_forwarded = true;
		return -2;
	}
	forward_event(c, ev);
	return 0;
}

int router_stream_on_chunk(const char *data, size_t len, void *arg)
{
	struct sse_event ev = {.event = "", .data = data, .data_len = len, .id = ""};

	return router_stream_on_event(&ev, arg);
}

int router_on_http_data(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	struct router_call *c = arg;
	int rc;

	if (httpc_status(req) != 200) {
		buf_append(&c->errbody, data, len); /* past the cap the tail is dropped */
		return 0;
	}
	c->stream_bytes += len;
	if (c->stream_bytes > (size_t)c->r->cfg->router.max_response_bytes) {
		c->err = E_MALFORMED;
		c->err_status = 502;
		free(c->err_msg);
		c->err_msg = xasprintf("upstream stream over router.max_response_bytes (%lld)",
				       (long long)c->r->cfg->router.max_response_bytes);
		return -1;
	}
	c->r->feeding = true;
	/* Another dialect's decoder emits OpenAI chunks into router_stream_on_chunk. */
	rc = c->pstream ? c->pstream_ops->stream_feed(c->pstream, data, len)
			: sse_feed(&c->sse, data, len);
	c->r->feeding = false;
	flush_stream(c);
	router_pool_progress(c);
	if ((rc == -E2BIG || rc == -EPROTO) && !c->err) {
		c->err = E_MALFORMED;
		c->err_status = 502;
		free(c->err_msg);
		c->err_msg = xstrdup(
			rc == -E2BIG ? "upstream stream event over the size cap"
				     : "upstream stream is not framed as its API frames it");
	}
	return rc < 0 ? -1 : 0;
}

/* Both token fields are clamped (a client sending a small max_tokens and a huge
 * max_completion_tokens gets both cut); with neither present, max_tokens is added.
 * refuse_max_tokens has already dropped nulls and refused anything but whole numbers. */
