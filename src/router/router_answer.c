/* router_answer: a whole (not streamed) 200 answer read into the attempt. Another dialect's
 * answer translated to OpenAI's first, the usage and generated characters read in one pass
 * (answer_scan) or from cJSON's tree, a Responses object's usage and error, a transcription's
 * length, a raw answer (speech's audio, a transcription as text) passed on with its type; an
 * error object inside the 200 or a body that is not I-JSON fails the attempt. Error statuses
 * and streams are router.c's and router_stream.c's.
 */
#include "router/router_int.h"
#include "router/router.h"
#include "router/policy.h"
#include "core/log.h"
#include "core/util.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void malformed(struct router_call *c, const char *msg)
{
	c->err = E_MALFORMED;
	c->err_status = 502;
	free(c->err_msg);
	c->err_msg = xstrdup(msg);
	c->r->owner->attempt_failed(c);
}

/* An error object in a 200 answer, in the dialect's shape or OpenAI's. */
static void error_in_answer(struct router_call *c, const char *body, size_t len)
{
	char *norm = c->dep->ops->error ? c->dep->ops->error(200, body, len) : NULL, *msg = NULL;

	c->err = policy_classify(200, norm ? norm : body, &msg);
	c->err_status = policy_client_status(c->err, 502);
	free(c->err_msg);
	c->err_msg = msg;
	free(norm);
	c->r->owner->attempt_failed(c);
}

static bool is_json_type(const char *type)
{
	while (type && (*type == ' ' || *type == '\t'))
		type++;
	return type && strncasecmp(type, "application/json", 16) == 0;
}

/* A 200 answer that is not JSON: speech's audio, a transcription as text, srt or vtt. It goes
 * to the client with the upstream's type; a transcription's text is its billed output. */
static bool raw_answer(struct router_call *c, const char *body, size_t len, const char *type)
{
	if (c->route != PROVIDER_SPEECH &&
	    (c->route != PROVIDER_TRANSCRIPTIONS || is_json_type(type)))
		return false;
	c->output_chars = c->route == PROVIDER_SPEECH ? 0 : len;
	c->r->owner->answer_ok(c, xstrndup(body, len), len,
			       type ? type : "application/octet-stream");
	return true;
}

/* A Responses API answer: its usage and output read into the attempt; a failed response
 * (an "error" object, not null) classified into it. Returns whether it failed. */
static bool read_response_object(struct router_call *c, const cJSON *root)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");

	if (cJSON_IsObject(usage))
		router_read_usage(c, usage);
	c->output_chars = router_responses_chars(cJSON_GetObjectItemCaseSensitive(root, "output"));
	if (!cJSON_IsObject(e))
		return false;
	router_responses_error(c, e);
	return true;
}

/* Cohere's {"meta": {"billed_units": {"search_units": N}}} of a rerank answer. */
static void read_search_units(struct router_call *c, const char *text, size_t len)
{
	cJSON *root = router_parse_scratch(text, len);
	cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "meta");
	cJSON *bu = cJSON_GetObjectItemCaseSensitive(meta, "billed_units");
	cJSON *su = cJSON_GetObjectItemCaseSensitive(bu, "search_units");

	if (cJSON_IsNumber(su) && su->valuedouble >= 0 && su->valuedouble < 1e6)
		c->search_units = (int64_t)su->valuedouble;
	c->output_chars = 0; /* scores and indexes are no text to bill */
	router_drop_scratch(root);
}

/* A transcription's length: verbose_json's "duration", or whisper-1's usage
 * {"type": "duration", "seconds": N}. */
static void read_duration(struct router_call *c, const cJSON *root)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "usage");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "duration");
	const cJSON *sec = cJSON_GetObjectItemCaseSensitive(u, "seconds");

	if (cJSON_IsNumber(sec) && sec->valuedouble > 0 && sec->valuedouble < 1e7)
		c->audio_s = sec->valuedouble;
	else if (cJSON_IsNumber(d) && d->valuedouble > 0 && d->valuedouble < 1e7)
		c->audio_s = d->valuedouble;
}

/* The facts of a chat, completions, embeddings or transcription answer: one pass over the
 * text, or (text the pass does not model) cJSON's tree. Returns false when it is not a JSON
 * object. */
static bool answer_facts(const char *text, size_t len, struct answer_facts *f)
{
	cJSON *root;
	bool is_object;

	if (answer_scan(text, len, f) == 0)
		return true;
	root = router_parse_scratch(text, len);
	is_object = cJSON_IsObject(root);
	if (is_object)
		answer_scan_tree(root, f);
	router_drop_scratch(root);
	return is_object;
}

void router_on_non_stream_ok(struct router_call *c, const char *body, size_t len, const char *type)
{
	/* Another dialect's answer becomes OpenAI's first (router/providers/): chat, and every
	 * other route the dialect declares it serves. */
	bool translate =
		c->dep->ops->answer &&
		(c->route == PROVIDER_CHAT || (c->dep->ops->routes & PROVIDER_ROUTE_BIT(c->route)));
	char *translated = translate ? c->dep->ops->answer(c->dep->m, c->route, body, len) : NULL;
	const char *text = translated ? translated : body;
	size_t text_len = translated ? strlen(translated) : len;
	struct answer_facts f;
	cJSON *root;
	bool is_object, is_error = false;

	if (raw_answer(c, body, len, type))
		return;
	if (c->route == PROVIDER_RESPONSES) {
		root = router_parse_scratch(text, text_len);
		is_object = cJSON_IsObject(root);
		if (is_object)
			is_error = read_response_object(c, root);
		router_drop_scratch(root);
	} else {
		is_object = answer_facts(text, text_len, &f);
		/* choices (chat, completions), data (embeddings), text (transcriptions) */
		is_error = is_object && f.has_error && !f.has_choices && !f.has_text && !f.has_data;
		if (is_object && !is_error && f.usage_object)
			router_take_usage(c, &f.u);
		if (is_object && !is_error)
			c->output_chars = f.output_chars;
		if (is_object && !is_error && c->route == PROVIDER_RERANK)
			read_search_units(c, text, text_len);
		if (is_object && !is_error && router_images(c)) {
			root = router_parse_scratch(text, text_len);
			c->images =
				cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "data"));
			c->images_counted = true;
			c->output_chars = 0; /* base64 images are no text to bill */
			router_drop_scratch(root);
		}
		if (is_object && !is_error && c->route == PROVIDER_TRANSCRIPTIONS) {
			root = router_parse_scratch(text, text_len);
			read_duration(c, root); /* rare: the tree is fine here */
			router_drop_scratch(root);
		}
	}
	if (!is_object) {
		malformed(c, "upstream answered 200 with a body that is not I-JSON (not JSON, "
			     "or a member name repeated in an object)");
	} else if (is_error && c->route == PROVIDER_RESPONSES) {
		c->r->owner->attempt_failed(c); /* classified by read_response_object */
	} else if (is_error) {
		/* an image answer that is a refusal (filtered, blocked) made no image to bill */
		c->images_counted = router_images(c);
		error_in_answer(c, text, text_len);
	} else if (translate && !translated) {
		malformed(c, "upstream answered 200 with a body that is not an answer of its API");
	} else {
		char *restored = router_redact_answer(c, text, text_len);

		if (restored) {
			text_len = strlen(restored);
			free(translated);
			translated = restored;
		}
		c->r->owner->answer_ok(c, translated ? translated : xstrndup(body, len), text_len,
				       NULL);
		translated = NULL;
	}
	free(translated);
}
