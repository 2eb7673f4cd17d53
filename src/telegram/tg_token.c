/* tg_token: a refused bot token said in one line (where the token comes from and what to do),
 * and getMe for `hermetic doctor`. The gateway's poller (tg_poll.c) uses the same line, so a
 * user reads the same words in the log, in /readyz and from doctor.
 * Not through telegram.c's tg_api: doctor has no running bot, only a loop.
 */
#include "telegram/tg_token.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "net/httpc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ME_MAX_BYTES (64 * 1024)

bool tg_token_refused(long error_code, const char *description)
{
	return error_code == 401 ||
	       (error_code == 404 && description && strcmp(description, "Not Found") == 0);
}

void tg_token_refused_text(long error_code, char *out, size_t len)
{
	snprintf(out, len,
		 "telegram: the bot token is wrong (Telegram answered %ld %s): put the token "
		 "@BotFather gave you (/mybots -> your bot -> API Token) in telegram.token, "
		 "normally os.environ/TELEGRAM_BOT_TOKEN (on K3s the key TELEGRAM_BOT_TOKEN of the "
		 "Secret ai/hermetic-secrets, docs/deploy-k3s.md section 3), then restart",
		 error_code, error_code == 404 ? "Not Found" : "Unauthorized");
}

struct me_call {
	tg_me_cb done;
	void *arg;
};

static void me_answered(struct me_call *c, long status, const char *body, size_t len)
{
	cJSON *j = json_parse(body, len, 0, NULL);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "error_code");
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(j, "description");
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "result"), "username");
	long error_code =
		cJSON_IsNumber(code) ? (long)clamp_i64(code->valuedouble, 0, 999) : status;
	char text[512];
	char *clean;

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")) && cJSON_IsString(user)) {
		clean = log_redact(user->valuestring);
		c->done(TG_ME_OK, clean, c->arg);
	} else if (tg_token_refused(error_code, cJSON_IsString(desc) ? desc->valuestring : NULL)) {
		tg_token_refused_text(error_code, text, sizeof(text));
		c->done(TG_ME_REFUSED, text, c->arg);
		clean = NULL;
	} else {
		snprintf(text, sizeof(text), "getMe answered HTTP %ld: %.200s", status,
			 cJSON_IsString(desc) ? desc->valuestring
			 : j		      ? "no description"
					      : "the answer is not JSON");
		clean = log_redact(text);
		c->done(TG_ME_FAILED, clean, c->arg);
	}
	free(clean);
	cJSON_Delete(j);
}

static void on_me(struct httpc_req *req, void *arg)
{
	struct me_call *c = arg;
	size_t len;
	const char *body = httpc_body(req, &len);

	if (httpc_result(req) != HTTPC_OK) {
		char *text = xasprintf("getMe failed: %s", httpc_error(req));
		char *clean = log_redact(text);

		c->done(TG_ME_FAILED, clean, c->arg);
		free(clean);
		free(text);
	} else {
		me_answered(c, httpc_status(req), body, len);
	}
	free(c);
}

int tg_get_me(struct loop *l, const struct config *cfg, long timeout_ms, tg_me_cb done, void *arg)
{
	struct me_call *c;
	struct httpc_opts o = {0};
	char *url;
	int rc;

	if (!cfg->telegram.enabled)
		return -EINVAL;
	url = xasprintf("%s/bot%s/getMe", cfg->telegram.api_base, cfg->telegram.token);
	o.url = url;
	o.timeout_ms = timeout_ms;
	o.connect_timeout_ms = timeout_ms / 2;
	o.max_response_bytes = ME_MAX_BYTES;
	c = xcalloc(1, sizeof(*c));
	c->done = done;
	c->arg = arg;
	rc = httpc_start(l, &o, on_me, c, NULL);
	if (rc < 0)
		free(c);
	free(url);
	return rc < 0 ? -EINVAL : 0;
}
