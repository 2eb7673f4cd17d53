/* agent_model: one model call of a turn. It builds the request from the turn's state (the
 * tool list first, the system prompt with its time line, the history, the turn's files as
 * content parts, the prompt-cache marks, the limit's note), sends it through the router in
 * process (streamed when the caller watches: agent_stream.c), and reads the answer: tool
 * calls are copied into the turn (agent_tools.c), and the outcome goes to the turn's owner
 * (t->owner: TE_CALLS, TE_ANSWER, TE_FAILED, ...), which decides what comes next.
 * agent_model_split measures the same request without sending it. The compression call and
 * tools' side calls are their own files'. */
#include "agent/agent_int.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/log.h"
#include "core/safeio.h"
#include "router/providers/prompt_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_model(struct router_call *rc, const struct router_result *r, void *arg);
static void on_model_wait(struct router_call *rc, int64_t wait_ms, void *arg);
static const struct router_cbs model_cbs = {.on_done = on_model, .on_wait = on_model_wait};

static const struct router_cbs stream_cbs = {.on_stream_start = agent_stream_on_start,
					     .on_stream_data = agent_stream_on_data,
					     .on_done = on_model,
					     .on_wait = on_model_wait};

/* ---- the request ------------------------------------------------------------------- */

/* Appends the file at home/rel as base64. 0, or a negative errno with nothing appended. */
static int append_file_base64(int home_fd, const char *rel, struct buf *b)
{
	int rc, fd = safeio_open_at(home_fd, rel, O_RDONLY, 0);

	if (fd < 0)
		return fd;
	rc = fileio_base64_fd(fd, b);
	close(fd);
	return rc;
}

static void append_part(struct agent_turn *t, int home_fd, const struct agent_part *p,
			struct buf *b)
{
	size_t start = b->len;
	int rc = -EBADF;

	switch (p->kind) {
	case AGENT_PART_IMAGE:
		buf_printf(b, ",{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:%s;base64,",
			   p->type);
		break;
	case AGENT_PART_AUDIO:
		buf_puts(b, ",{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"");
		break;
	case AGENT_PART_PDF:
		buf_puts(b, ",{\"type\":\"file\",\"file\":{\"filename\":");
		buf_json_str(b, p->filename, strlen(p->filename));
		buf_puts(b, ",\"file_data\":\"data:application/pdf;base64,");
		break;
	}
	if (home_fd >= 0)
		rc = append_file_base64(home_fd, p->path, b);
	if (rc < 0) {
		char note[300];

		b->len = start;
		snprintf(note, sizeof(note), "[the attached file %s could not be read: %s]",
			 p->path, safeio_strerror(rc));
		buf_puts(b, ",{\"type\":\"text\",\"text\":");
		buf_json_str(b, note, strlen(note));
		buf_puts(b, "}");
		log_warn("agent: %s: %s", t->source, note);
		return;
	}
	if (p->kind == AGENT_PART_AUDIO)
		buf_printf(b, "\",\"format\":\"%s\"}}", p->type);
	else
		buf_puts(b, "\"}}");
}

/* The turn's user message with its files: content becomes [text, parts...]. */
static void user_with_parts(struct agent_turn *t, const struct context_msg *m, struct buf *b)
{
	cJSON *j = json_parse(m->json, m->len, 0, NULL);
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(j, "content");
	int home_fd = safeio_open_home(t->a->env.cfg->home);

	buf_puts(b, "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":");
	if (cJSON_IsString(content))
		buf_json_str(b, content->valuestring, strlen(content->valuestring));
	else
		buf_puts(b, "\"\"");
	buf_puts(b, "}");
	for (size_t i = 0; i < t->n_parts; i++)
		append_part(t, home_fd, &t->parts[i], b);
	buf_puts(b, "]}");
	if (home_fd >= 0)
		close(home_fd);
	cJSON_Delete(j);
}

/* Prompt-cache marks for providers that cache only what is marked (Anthropic; Gemini through
 * OpenRouter: router_wants_cache_marks). Three of Anthropic's four: the system prompt (with
 * the tools before it, the same all session), the turn's user message (a prefix that holds
 * through the turn's tool rounds) and the request's last message (what the next call reads
 * back). Anthropic looks for a cached prefix up to 20 blocks before each mark, so the marks
 * moving on with the conversation still find the last call's. The router takes the marks
 * out for a deployment that does not use them. */
static void put_marked(struct buf *b, const char *json, size_t len)
{
	cJSON *j = json_parse(json, len, 0, NULL);
	char *text;

	if (!j || !prompt_cache_mark(j) || !(text = cJSON_PrintUnformatted(j))) {
		buf_append(b, json, len);
		cJSON_Delete(j);
		return;
	}
	buf_puts(b, text);
	free(text);
	cJSON_Delete(j);
}

/* The index of the newest stored user message, or SIZE_MAX. */
static size_t newest_user(const struct agent_turn *t)
{
	for (size_t i = t->n_msgs; i-- > 0;)
		if (t->msgs[i].role == 'u')
			return i;
	return SIZE_MAX;
}

static void build_request(struct agent_turn *t, const char *tools_json, bool summary,
			  const char *note, bool stream, struct buf *b)
{
	bool marks = router_wants_cache_marks(t->a->env.router, agent_lane_group(t, t->model));
	size_t user = marks ? newest_user(t) : SIZE_MAX;
	struct buf sys;

	buf_init(&sys, 0);
	buf_puts(&sys, t->system);
	if (t->extra_system)
		buf_printf(&sys, "\n\n%s", t->extra_system);
	agent_append_now(t, &sys);
	buf_puts(b, "{\"model\":");
	buf_json_str(b, t->model, strlen(t->model));
	/* The tools before the messages, as providers put them in the prompt: the request's
	 * bytes then share their longest prefix with the session's previous call. */
	if (tools_json && strcmp(tools_json, "[]") != 0) {
		buf_printf(b, ",\"tools\":%s", tools_json);
		if (summary)
			buf_puts(b, ",\"tool_choice\":\"none\"");
	}
	buf_puts(b, ",\"messages\":[{\"role\":\"system\",\"content\":");
	if (marks)
		buf_puts(b, "[{\"type\":\"text\",\"text\":");
	buf_json_str(b, sys.data, sys.len);
	if (marks)
		buf_puts(b, ",\"cache_control\":{\"type\":\"ephemeral\"}}]");
	buf_puts(b, "}");
	buf_finish(&sys);
	for (size_t i = 0; i < t->n_msgs; i++) {
		bool mark = marks && (i == user || (i + 1 == t->n_msgs && !note));

		buf_puts(b, ",");
		if (t->msgs[i].parts && t->n_parts) {
			if (!mark) {
				user_with_parts(t, &t->msgs[i], b);
				continue;
			}
			struct buf parts;

			buf_init(&parts, 0);
			user_with_parts(t, &t->msgs[i], &parts);
			put_marked(b, parts.data, parts.len);
			buf_finish(&parts);
		} else if (mark) {
			put_marked(b, t->msgs[i].json, t->msgs[i].len);
		} else {
			buf_append(b, t->msgs[i].json, t->msgs[i].len);
		}
	}
	if (note) {
		buf_puts(b, ",{\"role\":\"user\",\"content\":");
		if (marks)
			buf_puts(b, "[{\"type\":\"text\",\"text\":");
		buf_json_str(b, note, strlen(note));
		if (marks)
			buf_puts(b, ",\"cache_control\":{\"type\":\"ephemeral\"}}]");
		buf_puts(b, "}");
	}
	buf_puts(b, "]");
	if (stream)
		buf_puts(b, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
	buf_puts(b, "}");
}

/* ---- the call and its answer --------------------------------------------------------- */

int agent_model_call(struct agent_turn *t, const char *tools_json, const char *note)
{
	bool summary = t->state == T_SUMMARY;
	struct buf body;
	int rc;

	agent_stream_finish(&t->stream);
	if (t->cbs.on_text)
		agent_stream_begin(t);
	buf_init(&body, 0);
	build_request(t, tools_json, summary, note, t->stream.on, &body);
	t->last_bytes = (int64_t)body.len;
	rc = agent_send(t, summary ? "limit_summary" : "turn", body.data, body.len, &t->hold,
			t->stream.on ? &stream_cbs : &model_cbs, t, &t->rc);
	buf_finish(&body);
	if (rc == 0)
		t->model_calls++;
	return rc;
}

/* choices[0].message of a parsed completion, or NULL. */
static cJSON *first_message(const cJSON *completion)
{
	return cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(completion, "choices"), 0),
		"message");
}

/* "The model call failed (HTTP 429): MESSAGE" from an OpenAI error body; a budget's refusal
 * as the router words it for a person (error.budget.text: which budget, when it resets, what
 * raises it) instead of LiteLLM's "Budget has been exceeded! ...". */
static char *error_text(const struct router_result *r)
{
	cJSON *j = json_parse(r->body ? r->body : "", r->body_len, 0, NULL);
	cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
	cJSON *b = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "budget"),
						    "text");
	char *s = cJSON_IsString(b) ? xstrdup(b->valuestring)
				    : xasprintf("The model call failed (HTTP %d): %s", r->status,
						cJSON_IsString(m) ? m->valuestring : "no details");

	cJSON_Delete(j);
	return s;
}

/* The model's rate limit is taken by other work (a rate pool had no room in time): short,
 * for the person waiting. */
static char *busy_text(struct agent_turn *t, const struct router_result *r)
{
	t->deferred = true;
	t->retry_after_s = r->retry_after_s > 0 ? r->retry_after_s : 1;
	return xasprintf("Busy: the model's rate limit is in use by other work right now. Please "
			 "try again in about %ld s.",
			 t->retry_after_s);
}

/* usage.prompt_tokens_details.cached_tokens of a completion, 0 when absent. */
static int64_t cached_of(const cJSON *completion)
{
	const cJSON *usage = cJSON_GetObjectItemCaseSensitive(completion, "usage");
	const cJSON *details = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
	const cJSON *cached = cJSON_GetObjectItemCaseSensitive(details, "cached_tokens");

	return cJSON_IsNumber(cached) ? clamp_i64(cached->valuedouble, 0, INT64_C(1) << 50) : 0;
}

/* A whole completion (the router's answer, or one assembled from a stream): its tool calls
 * run, or its text ends the turn. */
static void got_answer(struct agent_turn *t, const char *body, size_t len)
{
	cJSON *j = json_parse(body, len, 0, NULL);
	cJSON *msg = first_message(j);
	cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
	cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
	const char *text = cJSON_IsString(content) ? content->valuestring : NULL;

	t->cached_tokens = cached_of(j);
	agent_restore_message(t, msg);
	content = cJSON_GetObjectItemCaseSensitive(msg, "content");
	text = cJSON_IsString(content) ? content->valuestring : NULL;
	if (!msg) {
		cJSON_Delete(j);
		t->owner->on_event(t, TE_UNREAD,
				   "The model's answer could not be read (no message).");
	} else if (t->state == T_MODEL && cJSON_GetArraySize(calls) > 0) {
		agent_take_calls(t, calls, text);
		cJSON_Delete(j);
		t->owner->on_event(t, TE_CALLS, NULL);
	} else {
		char *answer = xstrdup(text ? text : "");

		cJSON_Delete(j);
		t->owner->on_event(t, TE_ANSWER, answer);
		free(answer);
	}
}

/* The turn's model call waits for room in a rate pool: the turn's owner may say so. */
static void on_model_wait(struct router_call *rc, int64_t wait_ms, void *arg)
{
	struct agent_turn *t = arg;

	if (t->cbs.on_wait)
		t->cbs.on_wait(wait_ms, t->arg);
}

static void on_model(struct router_call *rc, const struct router_result *r, void *arg)
{
	struct agent_turn *t = arg;
	struct stream *s = &t->stream;
	char *err;

	t->rc = NULL;
	t->cost_usd += r->cost_usd;
	if (r->status == 200 && r->model_group) {
		free(t->answered);
		t->answered = xstrdup(r->model_group);
	}
	t->prompt_tokens += r->prompt_tokens;
	t->completion_tokens += r->completion_tokens;
	agent_watch_after(t, &t->hold, r);
	t->last_prompt_tokens = r->prompt_tokens;
	t->cached_tokens = 0;
	if (t->cancelled) {
		t->owner->on_event(t, TE_CANCELLED, NULL);
		return;
	}
	if ((r->status == 200 && s->on && r->streamed && agent_stream_whole(s, r)) ||
	    (s->on && s->cut)) {
		char *body = agent_stream_completion(s);

		got_answer(t, body, strlen(body));
		free(body);
		return;
	}
	if (r->status == 200 && agent_stream_whole(s, r)) {
		got_answer(t, r->body, r->body_len);
		return;
	}
	if (t->time_up && t->state == T_MODEL) {
		t->owner->on_event(t, TE_TIMED_OUT, NULL);
		return;
	}
	if (s->error)
		err = xstrdup(s->error);
	else if (r->status == 200)
		err = xstrdup("The model's answer broke off mid-stream (its end never came).");
	else if (r->deferred)
		err = busy_text(t, r);
	else
		err = error_text(r);
	t->owner->on_event(t, TE_FAILED, err);
	free(err);
}

/* ---- the context split ------------------------------------------------------------- */

/* Bytes of s[0..len) inside a JSON string literal (without its quotes), as build_request
 * writes it. */
static size_t json_len(const char *s, size_t len)
{
	struct buf b;
	size_t n;

	buf_init(&b, 0);
	buf_json_str(&b, s, len);
	n = b.len - 2;
	buf_finish(&b);
	return n;
}

static void part_set(struct agent_context_part *p, size_t bytes)
{
	p->bytes = bytes;
	p->tokens = context_est_tokens(bytes);
}

void agent_model_split(struct agent_turn *t, struct agent_context_split *out)
{
	size_t skills_at, memory_at, sys_len = strlen(t->system), history = 0, now;
	struct buf tools_json, body, line;

	buf_init(&tools_json, 0);
	if (t->scope)
		tools_schemas_json_scoped(t->a->env.tools, t->scope, &tools_json);
	else
		tools_schemas_json(t->a->env.tools, &tools_json);
	buf_init(&body, 0);
	build_request(t, buf_str(&tools_json), false, NULL, false, &body);
	buf_init(&line, 0);
	if (t->extra_system)
		buf_printf(&line, "\n\n%s", t->extra_system);
	agent_append_now(t, &line);
	now = json_len(line.data, line.len);
	agent_system_sections(t->system, &skills_at, &memory_at);
	part_set(&out->persona, json_len(t->system, skills_at) + now);
	part_set(&out->skills, json_len(t->system + skills_at, memory_at - skills_at));
	part_set(&out->memory, json_len(t->system + memory_at, sys_len - memory_at));
	part_set(&out->tools, strcmp(buf_str(&tools_json), "[]") != 0 ? tools_json.len : 0);
	for (size_t i = 0; i < t->n_msgs; i++)
		history += t->msgs[i].len;
	part_set(&out->history, history);
	out->n_messages = t->n_msgs;
	part_set(&out->total, body.len);
	part_set(&out->framing, body.len - out->persona.bytes - out->skills.bytes -
					out->memory.bytes - out->tools.bytes - history);
	buf_finish(&line);
	buf_finish(&body);
	buf_finish(&tools_json);
}
