/* tg_api: how the bot talks to the Bot API: one POST per call (JSON or a multipart upload)
 * through httpc, its answer read into a struct answer (ok, error_code, description,
 * retry_after, result) and handed to the caller's api_cb exactly once, calls in flight kept in
 * t->calls so telegram_destroy can cancel them; a button press's answer (answerCallbackQuery,
 * cut to what Telegram shows); and the per-chat rate budget every send, edit, typing action
 * and reaction draws on.
 *
 * It calls no other file of the bot: telegram.c and the tg_*.c helpers call down to it, so it
 * sits at the bottom of the folder (make lint's no-circle rule).
 */
#include "telegram/telegram_int.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "net/daemon.h"
#include "net/httpc.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define CALLBACK_TEXT_MAX 190 /* bytes: Telegram shows at most 200 characters of an answer */

/* ---- Bot API calls ------------------------------------------------------------------- */

static void forget_call(struct telegram *t, struct api_call *c)
{
	for (struct api_call **p = &t->calls; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			return;
		}
}

static void on_api_done(struct httpc_req *req, void *arg)
{
	struct api_call *c = arg;
	struct telegram *t = c->t;
	struct answer a = {0};
	size_t len;
	const char *body = httpc_body(req, &len);
	cJSON *j = NULL;

	forget_call(t, c);
	a.status = httpc_status(req);
	if (httpc_result(req) != HTTPC_OK) {
		a.description = httpc_error(req);
	} else {
		j = json_parse(body, len, 0, NULL);
		cJSON *ok = cJSON_GetObjectItemCaseSensitive(j, "ok");
		cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "error_code");
		cJSON *desc = cJSON_GetObjectItemCaseSensitive(j, "description");
		cJSON *ra = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(j, "parameters"), "retry_after");

		a.ok = cJSON_IsTrue(ok);
		a.error_code = cJSON_IsNumber(code) ? (long)clamp_i64(code->valuedouble, 0, 999)
						    : a.status;
		a.description = cJSON_IsString(desc) ? desc->valuestring
				: j		     ? "no description"
						     : "the answer is not JSON";
		a.retry_after_s =
			cJSON_IsNumber(ra) ? (long)clamp_i64(ra->valuedouble, 0, 86400) : 0;
		a.result = cJSON_GetObjectItemCaseSensitive(j, "result");
	}
	c->cb(t, &a, c->arg);
	cJSON_Delete(j);
	free(c);
}

/* POSTs o's body (and upload) to method with o's headers; cb fires exactly once from the
 * loop. */
void tg_api_post(struct telegram *t, const char *method, struct httpc_opts *o, api_cb cb, void *arg)
{
	struct api_call *c = xcalloc(1, sizeof(*c));
	char *url =
		xasprintf("%s/bot%s/%s", t->cfg->telegram.api_base, t->cfg->telegram.token, method);

	o->method = "POST";
	o->url = url;
	o->max_response_bytes = RESPONSE_MAX;

	c->t = t;
	c->cb = cb;
	c->arg = arg;
	if (httpc_start(t->d->loop, o, on_api_done, c, &c->req) < 0) {
		struct answer a = {.description = "the request could not start"};

		/* Rare (allocation); answer from here rather than lose the callback. */
		free(url);
		free(c);
		cb(t, &a, arg);
		return;
	}
	c->next = t->calls;
	t->calls = c;
	free(url);
}

/* POSTs params (a JSON object text) to method. cb fires exactly once from the loop. */
void tg_api(struct telegram *t, const char *method, const char *params, long timeout_ms, api_cb cb,
	    void *arg)
{
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	struct httpc_opts o = {
		.headers = headers,
		.body = params,
		.body_len = strlen(params),
		.timeout_ms = timeout_ms,
	};

	tg_api_post(t, method, &o, cb, arg);
}

void tg_ignore_answer(struct telegram *t, const struct answer *a, void *arg)
{
	if (!a->ok)
		log_debug("telegram: %s", a->description ? a->description : "failed");
}

/* ---- the per-chat rate budget -------------------------------------------------------- */

/* Sends, edits, typing and reactions of one chat draw on one budget: Telegram allows about one
 * message a second in a chat and 20 a minute in a group, and counts edits and actions too. */
static int64_t chat_gap_ms(const struct chat *c)
{
	return c->id < 0 ? GROUP_GAP_MS : SEND_GAP_MS;
}

bool tg_budget_ok(const struct chat *c, int64_t now)
{
	return c->next_send_ms <= now;
}

void tg_budget_take(struct chat *c, int64_t now)
{
	c->next_send_ms = now + chat_gap_ms(c);
}

/* A 429's retry_after holds the whole chat: sends, edits, typing and reactions. */
void tg_budget_hold(struct chat *c, int64_t now, long retry_after_s)
{
	int64_t until = now + (retry_after_s > 0 ? retry_after_s : 1) * 1000;

	if (until > c->next_send_ms)
		c->next_send_ms = until;
}

/* ---- answers to button presses ---------------------------------------------------------- */

void tg_answer_callback(struct telegram *t, const char *query_id, const char *text)
{
	struct buf p;

	buf_init(&p, 0);
	buf_puts(&p, "{\"callback_query_id\":");
	buf_json_str(&p, query_id, strlen(query_id));
	if (text) {
		buf_puts(&p, ",\"text\":");
		buf_json_str(&p, text, utf8_cut(text, strnlen(text, CALLBACK_TEXT_MAX)));
	}
	buf_puts(&p, "}");
	tg_api(t, "answerCallbackQuery", buf_str(&p), API_TIMEOUT_MS, tg_ignore_answer, NULL);
	buf_finish(&p);
}
