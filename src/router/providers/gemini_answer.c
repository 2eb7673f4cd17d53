/* gemini_answer: Gemini's answers back in OpenAI's shape: a GenerateContentResponse -> a
 * chat.completion (text, thoughts as reasoning_content, functionCall parts -> tool_calls with
 * generated ids, usageMetadata -> usage), a batchEmbedContents answer -> an embeddings list,
 * Google's {"error":{code,message,status}} -> OpenAI's error with LiteLLM's codes, and the
 * ?alt=sse stream of whole GenerateContentResponse events -> chat.completion.chunk texts,
 * "[DONE]" after the event carrying a finishReason.
 *
 * Split from gemini.c (the request side) by direction; both read the helpers in gemini_int.h.
 */
#include "router/providers/gemini_int.h"
#include "core/json.h"
#include "core/util.h"
#include "net/sse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

/* Random lowercase hex (a counter mixed in if the kernel cannot give bytes). */
static void random_hex(char *out, size_t n_bytes)
{
	static uint64_t counter;
	unsigned char r[16];
	size_t i;

	if (n_bytes > sizeof(r))
		n_bytes = sizeof(r);
	if (getrandom(r, n_bytes, 0) != (ssize_t)n_bytes) {
		uint64_t x = ++counter * 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL);

		for (i = 0; i < n_bytes; i++)
			r[i] = (unsigned char)(x >> (8 * (i % 8)));
	}
	for (i = 0; i < n_bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* ---- answer: GenerateContentResponse -> OpenAI ---- */

static const struct {
	const char *gemini;
	const char *openai;
} finish_reasons[] = {
	{"STOP", "stop"},
	{"MAX_TOKENS", "length"},
	{"SAFETY", "content_filter"},
	{"RECITATION", "content_filter"},
	{"BLOCKLIST", "content_filter"},
	{"PROHIBITED_CONTENT", "content_filter"},
	{"SPII", "content_filter"},
	{"IMAGE_SAFETY", "content_filter"},
};

/* OpenAI's finish_reason for a Gemini one (NULL: none yet); STOP after function calls is
 * "tool_calls". */
static const char *finish_reason(const char *gemini, bool calls)
{
	size_t i;

	if (!gemini || !*gemini)
		return NULL;
	if (calls && (strcmp(gemini, "STOP") == 0))
		return "tool_calls";
	for (i = 0; i < ARRAY_LEN(finish_reasons); i++)
		if (strcmp(gemini, finish_reasons[i].gemini) == 0)
			return finish_reasons[i].openai;
	return "stop";
}

static char *call_id(const cJSON *part)
{
	const char *sig = get_str(part, "thoughtSignature");
	char hex[25];

	random_hex(hex, 12);
	return sig && *sig ? xasprintf("call_%s" THOUGHT_SEP "%s", hex, sig)
			   : xasprintf("call_%s", hex);
}

/* One functionCall part -> a tool_calls entry ({index} only in stream deltas). */
static cJSON *tool_call(const cJSON *part, int index, bool delta)
{
	const cJSON *fc = get(part, "functionCall"), *args = get(fc, "args");
	cJSON *tc = cJSON_CreateObject(), *fn;
	char *id = call_id(part), *text;

	if (delta)
		cJSON_AddNumberToObject(tc, "index", index);
	cJSON_AddStringToObject(tc, "id", id);
	cJSON_AddStringToObject(tc, "type", "function");
	fn = cJSON_AddObjectToObject(tc, "function");
	cJSON_AddStringToObject(fn, "name", get_str(fc, "name") ? get_str(fc, "name") : "");
	text = cJSON_IsObject(args) ? json_exact_print(args) : xstrdup("{}");
	cJSON_AddStringToObject(fn, "arguments", text);
	free(text);
	free(id);
	return tc;
}

struct parts_out {
	struct buf text;
	struct buf thoughts;
	cJSON *calls; /* array or NULL */
};

/* A candidate's parts: text joined, thought text joined, function calls in order; *n_calls
 * numbers the calls across a stream. */
static void read_parts(const cJSON *parts, struct parts_out *o, int *n_calls, bool delta)
{
	const cJSON *p, *t;

	buf_init(&o->text, 0);
	buf_init(&o->thoughts, 0);
	o->calls = NULL;
	cJSON_ArrayForEach(p, parts)
	{
		t = get(p, "text");
		if (get(p, "functionCall")) {
			if (!o->calls)
				o->calls = cJSON_CreateArray();
			cJSON_AddItemToArray(o->calls, tool_call(p, (*n_calls)++, delta));
		} else if (cJSON_IsString(t)) {
			buf_puts(cJSON_IsTrue(get(p, "thought")) ? &o->thoughts : &o->text,
				 t->valuestring);
		}
	}
}

/* Fills msg (a message or a delta) from o and frees o. */
static void put_parts(cJSON *msg, struct parts_out *o, bool delta)
{
	if (o->text.len)
		cJSON_AddStringToObject(msg, "content", buf_str(&o->text));
	else if (!delta)
		cJSON_AddNullToObject(msg, "content");
	if (o->thoughts.len)
		cJSON_AddStringToObject(msg, "reasoning_content", buf_str(&o->thoughts));
	if (o->calls)
		cJSON_AddItemToObject(msg, "tool_calls", o->calls);
	buf_finish(&o->text);
	buf_finish(&o->thoughts);
}

static double number(const cJSON *obj, const char *name)
{
	const cJSON *v = get(obj, name);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* usageMetadata -> OpenAI usage; thoughts are output tokens Gemini bills. */
static cJSON *usage_of(const cJSON *um)
{
	double prompt = number(um, "promptTokenCount");
	double thoughts = number(um, "thoughtsTokenCount");
	double completion = number(um, "candidatesTokenCount") + thoughts;
	cJSON *u = cJSON_CreateObject();

	cJSON_AddNumberToObject(u, "prompt_tokens", prompt);
	cJSON_AddNumberToObject(u, "completion_tokens", completion);
	cJSON_AddNumberToObject(u, "total_tokens", prompt + completion);
	if (get(um, "cachedContentTokenCount"))
		cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "prompt_tokens_details"),
					"cached_tokens", number(um, "cachedContentTokenCount"));
	if (thoughts > 0)
		cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "completion_tokens_details"),
					"reasoning_tokens", thoughts);
	return u;
}

/* The head every answer and chunk carries. */
static cJSON *head(const cJSON *resp, const struct config_model *m, const char *object,
		   const char *id)
{
	cJSON *root = cJSON_CreateObject();
	const char *model = get_str(resp, "modelVersion");

	cJSON_AddStringToObject(root, "id", id);
	cJSON_AddStringToObject(root, "object", object);
	cJSON_AddNumberToObject(root, "created", (double)time(NULL));
	cJSON_AddStringToObject(root, "model", model ? model : m->upstream_model);
	return root;
}

static void make_id(const cJSON *resp, char *id, size_t len)
{
	const char *rid = get_str(resp, "responseId");
	char hex[25];

	if (rid && *rid && strlen(rid) < len - 10) {
		snprintf(id, len, "chatcmpl-%s", rid);
		return;
	}
	random_hex(hex, 12);
	snprintf(id, len, "chatcmpl-%s", hex);
}

/* A prompt Gemini blocked before generating: an OpenAI content-policy error. */
static char *blocked_prompt(const cJSON *resp, long code_num, bool numeric)
{
	const char *reason = get_str(get(resp, "promptFeedback"), "blockReason");
	char *msg = xasprintf("gemini blocked the prompt (blockReason %s): content policy "
			      "violation",
			      reason ? reason : "unknown");
	cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");

	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", "invalid_request_error");
	cJSON_AddNullToObject(e, "param");
	if (numeric)
		cJSON_AddNumberToObject(e, "code", (double)code_num);
	else
		cJSON_AddStringToObject(e, "code", "content_policy_violation");
	free(msg);
	return print_free(root);
}

static char *embeddings_answer(const struct config_model *m, const cJSON *resp)
{
	cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data");
	const cJSON *e;
	int i = 0;

	cJSON_AddStringToObject(root, "object", "list");
	cJSON_ArrayForEach(e, get(resp, "embeddings"))
	{
		cJSON *d = add_object_to(data);

		cJSON_AddStringToObject(d, "object", "embedding");
		cJSON_AddNumberToObject(d, "index", i++);
		cJSON_AddItemToObject(d, "embedding",
				      cJSON_IsArray(get(e, "values"))
					      ? cJSON_Duplicate(get(e, "values"), 1)
					      : cJSON_CreateArray());
	}
	cJSON_AddStringToObject(root, "model", m->upstream_model);
	/* batchEmbedContents reports no token counts: no usage, so the router bills the estimate
	 * from the bytes sent (marked estimated), never a zero it did not see. */
	return print_free(root);
}

static char *chat_answer(const struct config_model *m, const cJSON *resp)
{
	const cJSON *cands = get(resp, "candidates"), *c;
	cJSON *root, *choices;
	char id[160];
	int n_calls = 0;

	if (cJSON_GetArraySize(cands) == 0 && get_str(get(resp, "promptFeedback"), "blockReason"))
		return blocked_prompt(resp, 400, false);
	if (!cJSON_IsArray(cands) && !get(resp, "usageMetadata"))
		return NULL;
	make_id(resp, id, sizeof(id));
	root = head(resp, m, "chat.completion", id);
	choices = cJSON_AddArrayToObject(root, "choices");
	cJSON_ArrayForEach(c, cands)
	{
		cJSON *ch = add_object_to(choices), *msg;
		struct parts_out o;
		const char *fr;

		n_calls = 0;
		cJSON_AddNumberToObject(ch, "index",
					cJSON_IsNumber(get(c, "index"))
						? number(c, "index")
						: cJSON_GetArraySize(choices) - 1);
		msg = cJSON_AddObjectToObject(ch, "message");
		cJSON_AddStringToObject(msg, "role", "assistant");
		read_parts(get(get(c, "content"), "parts"), &o, &n_calls, false);
		put_parts(msg, &o, false);
		fr = finish_reason(get_str(c, "finishReason"), n_calls > 0);
		cJSON_AddStringToObject(ch, "finish_reason", fr ? fr : "stop");
	}
	cJSON_AddItemToObject(root, "usage", usage_of(get(resp, "usageMetadata")));
	return print_free(root);
}

char *gemini_answer(const struct config_model *m, enum provider_route route, const char *body,
		    size_t len)
{
	cJSON *resp = json_exact_parse(body, len);
	char *out = NULL;

	/* a prompt blocked before any image is refused as a chat's is; gemini_image.c reads
	 * only answers that were made */
	if (cJSON_IsObject(resp) && !get(resp, "error") && route == PROVIDER_IMAGES)
		out = get(get(resp, "promptFeedback"), "blockReason")
			      ? blocked_prompt(resp, 400, false)
			      : gemini_image_answer(resp);
	else if (cJSON_IsObject(resp) && !get(resp, "error"))
		out = get(resp, "embeddings") ? embeddings_answer(m, resp) : chat_answer(m, resp);
	cJSON_Delete(resp);
	return out;
}

/* ---- errors ---- */

static const char *const context_phrases[] = {
	"exceeds the maximum number of tokens",
	"input token count",
	"too many tokens",
	"exceeds the context",
};

static bool contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; hay && *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

static const char *error_type(long status)
{
	if (status == 401 || status == 403)
		return "authentication_error";
	if (status == 404)
		return "not_found_error";
	if (status == 429)
		return "rate_limit_error";
	if (status >= 500)
		return "api_error";
	return "invalid_request_error";
}

/* {"error":{message,type,param,code}}: code is the string given, else the HTTP status as a
 * number (which the router reads as the status of an error inside a 200 answer). */
static char *openai_error(const char *message, const char *type, const char *code, long status)
{
	cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");

	cJSON_AddStringToObject(e, "message", message);
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddNullToObject(e, "param");
	if (code)
		cJSON_AddStringToObject(e, "code", code);
	else
		cJSON_AddNumberToObject(e, "code", (double)status);
	return print_free(root);
}

/* Google's {"error":{code,message,status,details}} (also inside a one-element array, as the
 * non-SSE stream sends it) -> OpenAI's shape. NULL: not Google's shape (an OpenAI-shaped
 * body passes as it is). */
static char *error_from(long status, const cJSON *root)
{
	const cJSON *e = get(cJSON_IsArray(root) ? cJSON_GetArrayItem(root, 0) : root, "error");
	const char *msg = get_str(e, "message"), *gstatus = get_str(e, "status");
	const cJSON *code = get(e, "code");
	const char *oa_code = NULL;
	char *text;
	size_t i;

	if (!cJSON_IsObject(e) || cJSON_IsString(code))
		return NULL;
	if (cJSON_IsNumber(code) && (status == 200 || status <= 0))
		status = (long)clamp_i64(code->valuedouble, 0, 999);
	if (status <= 0)
		status = 500;
	for (i = 0; i < ARRAY_LEN(context_phrases); i++)
		if ((status == 400 || str_is(gstatus, "INVALID_ARGUMENT")) &&
		    contains_ci(msg, context_phrases[i]))
			oa_code = "context_length_exceeded";
	text = gstatus ? xasprintf("%s (%s)", msg ? msg : "gemini error", gstatus)
		       : xstrdup(msg ? msg : "gemini error");
	msg = text;
	text = openai_error(msg, oa_code ? "invalid_request_error" : error_type(status), oa_code,
			    status);
	free((char *)msg);
	return text;
}

char *gemini_error(long status, const char *body, size_t len)
{
	cJSON *root = body ? json_parse(body, len, 0, NULL) : NULL;
	char *out = root ? error_from(status, root) : NULL;

	cJSON_Delete(root);
	return out;
}

/* ---- stream: SSE GenerateContentResponse events -> OpenAI chunks ---- */

struct provider_stream {
	struct sse_parser sse;
	const struct config_model *m;
	provider_emit_cb emit;
	void *arg;
	char id[160];
	char model[128]; /* modelVersion of the first event, else the upstream id */
	bool started;	 /* id and model chosen, role sent */
	bool done;	 /* [DONE] emitted: later events are ignored */
	int n_calls;	 /* tool_calls index across the stream */
	bool have_usage;
	double prompt, candidates, thoughts, cached;
	bool have_cached;
};

/* Every chunk of one stream carries the first event's id and model. */
static cJSON *chunk_head(struct provider_stream *s, const cJSON *resp)
{
	const char *model = get_str(resp, "modelVersion");
	cJSON *root;

	if (!s->started) {
		make_id(resp, s->id, sizeof(s->id));
		snprintf(s->model, sizeof(s->model), "%s", model ? model : s->m->upstream_model);
	}
	root = head(resp, s->m, "chat.completion.chunk", s->id);
	cJSON_ReplaceItemInObjectCaseSensitive(root, "model", cJSON_CreateString(s->model));
	return root;
}

static int emit_json(struct provider_stream *s, cJSON *root)
{
	char *text = print_free(root);
	int rc = s->emit(text, strlen(text), s->arg);

	free(text);
	return rc;
}

static void keep_usage(struct provider_stream *s, const cJSON *um)
{
	if (!cJSON_IsObject(um))
		return;
	s->have_usage = true;
	s->prompt = number(um, "promptTokenCount");
	s->candidates = number(um, "candidatesTokenCount");
	s->thoughts = number(um, "thoughtsTokenCount");
	s->have_cached = get(um, "cachedContentTokenCount") != NULL;
	s->cached = number(um, "cachedContentTokenCount");
}

static int emit_usage(struct provider_stream *s, const cJSON *resp)
{
	cJSON *root, *um;

	if (!s->have_usage)
		return 0;
	um = cJSON_CreateObject();
	cJSON_AddNumberToObject(um, "promptTokenCount", s->prompt);
	cJSON_AddNumberToObject(um, "candidatesTokenCount", s->candidates);
	cJSON_AddNumberToObject(um, "thoughtsTokenCount", s->thoughts);
	if (s->have_cached)
		cJSON_AddNumberToObject(um, "cachedContentTokenCount", s->cached);
	root = chunk_head(s, resp);
	cJSON_AddArrayToObject(root, "choices");
	cJSON_AddItemToObject(root, "usage", usage_of(um));
	cJSON_Delete(um);
	return emit_json(s, root);
}

/* An error object inside the stream: an OpenAI error chunk with the HTTP code. */
static int stream_error(struct provider_stream *s, const cJSON *resp)
{
	char *text = error_from(0, resp);
	int rc;

	if (!text) {
		const cJSON *e = get(resp, "error");

		text = openai_error(get_str(e, "message") ? get_str(e, "message") : "gemini error",
				    "api_error", NULL, 500);
	}
	s->done = true;
	rc = s->emit(text, strlen(text), s->arg);
	free(text);
	return rc;
}

static int stream_blocked(struct provider_stream *s, const cJSON *resp)
{
	char *text = blocked_prompt(resp, 400, true);
	int rc;

	s->done = true;
	rc = s->emit(text, strlen(text), s->arg);
	free(text);
	return rc;
}

/* One candidate -> one choice of a chunk; *finished when it carries a finishReason. */
static void add_choice(struct provider_stream *s, cJSON *choices, const cJSON *c, bool *finished)
{
	cJSON *ch = add_object_to(choices), *delta;
	struct parts_out o;
	const char *fr;

	cJSON_AddNumberToObject(ch, "index", number(c, "index"));
	delta = cJSON_AddObjectToObject(ch, "delta");
	if (!s->started)
		cJSON_AddStringToObject(delta, "role", "assistant");
	read_parts(get(get(c, "content"), "parts"), &o, &s->n_calls, true);
	put_parts(delta, &o, true);
	fr = finish_reason(get_str(c, "finishReason"), s->n_calls > 0);
	if (fr) {
		cJSON_AddStringToObject(ch, "finish_reason", fr);
		*finished = true;
	} else {
		cJSON_AddNullToObject(ch, "finish_reason");
	}
}

static int stream_response(struct provider_stream *s, const cJSON *resp)
{
	const cJSON *cands = get(resp, "candidates"), *c;
	bool finished = false;
	cJSON *root, *choices;
	int rc;

	keep_usage(s, get(resp, "usageMetadata"));
	if (cJSON_GetArraySize(cands) == 0)
		return get_str(get(resp, "promptFeedback"), "blockReason") ? stream_blocked(s, resp)
									   : 0;
	root = chunk_head(s, resp);
	choices = cJSON_AddArrayToObject(root, "choices");
	cJSON_ArrayForEach(c, cands)
	{
		add_choice(s, choices, c, &finished);
	}
	s->started = true;
	rc = emit_json(s, root);
	if (rc < 0 || !finished)
		return rc;
	s->done = true;
	rc = emit_usage(s, resp);
	return rc < 0 ? rc : s->emit("[DONE]", 6, s->arg);
}

static int on_event(const struct sse_event *ev, void *arg)
{
	struct provider_stream *s = arg;
	cJSON *resp;
	int rc;

	if (s->done)
		return 0;
	resp = json_exact_parse(ev->data, ev->data_len);
	if (!cJSON_IsObject(resp) && !cJSON_IsArray(resp)) {
		cJSON_Delete(resp);
		return -EPROTO;
	}
	if (cJSON_IsArray(resp) || get(resp, "error"))
		rc = stream_error(s, resp);
	else
		rc = stream_response(s, resp);
	cJSON_Delete(resp);
	return rc;
}

struct provider_stream *gemini_stream_create(const struct config_model *m, size_t max_event_bytes,
					     provider_emit_cb emit, void *arg)
{
	struct provider_stream *s = xcalloc(1, sizeof(*s));

	s->m = m;
	s->emit = emit;
	s->arg = arg;
	sse_init(&s->sse, max_event_bytes, on_event, s);
	return s;
}

int gemini_stream_feed(struct provider_stream *s, const char *data, size_t len)
{
	return sse_feed(&s->sse, data, len);
}

void gemini_stream_destroy(struct provider_stream *s)
{
	if (!s)
		return;
	sse_finish(&s->sse);
	free(s);
}
