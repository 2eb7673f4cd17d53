/* cli_chat_gw: `hermetic chat` through the running gateway, so the CLI's model calls share
 * the gateway's rate pools (docs/pools.md) instead of opening a second scheduler. Each turn is
 * one POST /v1/chat/completions on api.listen with api.key and X-Hermetic-Client: cli (the
 * gateway gives such turns the session "cli:<user>" and the interactive class); the answer
 * goes to stdout, the usage to stderr, as in-process.
 *
 * The probe is GET /v1/pools with api.key (2 s): 200 is a gateway of this config; no answer
 * is no gateway (in-process, silently); another status (a wrong api.key: 401) is told in one
 * warning line and chat runs in-process. -q is a fresh session per run; the REPL continues
 * "cli:<unix user>". A turn waits agent.turn_timeout_s + 30 s at most, its answer is capped.
 * Rejected: an event-driven REPL here (a turn is one blocking request on a private loop; Ctrl-C
 * ends the process, the gateway sees the connection close and cancels the turn).
 */
#include "cli/cli_chat_gw.h"
#include "cli/cli_ask.h"
#include "core/config.h"
#include "core/json.h"
#include "core/loop.h"
#include "core/util.h"
#include "net/httpc.h"

#include <cjson/cJSON.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROBE_TIMEOUT_MS 2000
#define ANSWER_CAP	 (8 * 1024 * 1024)
#define LINE_MAX_BYTES	 (64 * 1024)
#define TURN_MARGIN_S	 30

/* One request to the gateway on api.listen with api.key and X-Hermetic-Client: cli. */
static int ask(const struct config *cfg, const char *path, const char *body, long timeout_ms,
	       struct cli_ask *a)
{
	static const char *const extra[] = {"X-Hermetic-Client: cli", NULL};
	const struct cli_ask_opts o = {.key = cfg->api.key,
				       .headers = extra,
				       .body = body,
				       .timeout_ms = timeout_ms,
				       .connect_timeout_ms = PROBE_TIMEOUT_MS,
				       .max_response_bytes = ANSWER_CAP};

	return cli_ask(&cfg->api.listen, path, &o, a);
}

bool cli_chat_gw_probe(const struct config *cfg)
{
	struct cli_ask a;
	bool up = false;

	if (!cfg->api.key || !cfg->api.listen.port)
		return false;
	if (ask(cfg, "/v1/pools", NULL, PROBE_TIMEOUT_MS, &a) == 0 && a.res == HTTPC_OK) {
		up = a.status == 200;
		if (!up)
			fprintf(stderr,
				"hermetic: warning: the gateway on %s answered HTTP %ld%s; "
				"chatting "
				"in-process (its rate pools are not shared)\n",
				cfg->api.listen.addr, a.status,
				a.status == 401 ? " (wrong api.key?)" : "");
	}
	cli_ask_finish(&a);
	return up;
}

static const char *str_at(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_at(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* One turn: 0 after an answer, 1 on failure (said on stderr). */
static int turn(const struct config *cfg, const char *text, const char *model, const char *user)
{
	cJSON *req = cJSON_CreateObject(), *msgs, *m, *root, *usage;
	const cJSON *choice;
	/* The turn is bounded by agent.turn_timeout_s on the gateway (its pool waits inside). */
	long timeout_ms = (long)(cfg->agent.turn_timeout_s + TURN_MARGIN_S) * 1000;
	char *body;
	struct cli_ask a;
	int rc = 1;

	msgs = cJSON_AddArrayToObject(req, "messages");
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", text);
	cJSON_AddItemToArray(msgs, m);
	if (model)
		cJSON_AddStringToObject(req, "model", model);
	if (user)
		cJSON_AddStringToObject(req, "user", user);
	body = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (ask(cfg, "/v1/chat/completions", body, timeout_ms, &a) < 0 || a.res != HTTPC_OK) {
		fprintf(stderr, "hermetic: the gateway on %s: %s\n", cfg->api.listen.addr,
			a.error && *a.error ? a.error : "no answer");
		goto out;
	}
	root = json_parse(a.body, strlen(a.body), 0, NULL);
	choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
	if (a.status != 200 ||
	    !str_at(cJSON_GetObjectItemCaseSensitive(choice, "message"), "content")) {
		const char *why =
			str_at(cJSON_GetObjectItemCaseSensitive(root, "error"), "message");

		fprintf(stderr, "hermetic: the gateway on %s answered HTTP %ld: %s\n",
			cfg->api.listen.addr, a.status, why ? why : "no answer in the body");
		cJSON_Delete(root);
		goto out;
	}
	printf("%s\n", str_at(cJSON_GetObjectItemCaseSensitive(choice, "message"), "content"));
	fflush(stdout);
	usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
	fprintf(stderr,
		"[gateway on %s, model %s: %.0f prompt + %.0f completion tokens, $%.6f%s]\n",
		cfg->api.listen.addr, str_at(root, "model") ? str_at(root, "model") : "?",
		num_at(usage, "prompt_tokens"), num_at(usage, "completion_tokens"),
		num_at(usage, "cost"),
		strcmp(str_at(choice, "finish_reason") ? str_at(choice, "finish_reason") : "",
		       "stop") != 0
			? ", stopped"
			: "");
	cJSON_Delete(root);
	rc = 0;
out:
	cli_ask_finish(&a);
	free(body);
	return rc;
}

/* The CLI's session name on the gateway: the unix user (the gateway makes it "cli:<user>"). */
static const char *unix_user(void)
{
	const struct passwd *pw = getpwuid(getuid());
	const char *u = getenv("USER");

	return pw && pw->pw_name ? pw->pw_name : (u && *u ? u : "owner");
}

int cli_chat_gw(const struct config *cfg, const char *prompt_text, const char *model)
{
	char *line = NULL, *cur = model ? xstrdup(model) : NULL;
	const char *user = unix_user();
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (prompt_text)
		return turn(cfg, prompt_text, model, NULL);
	while (true) {
		if (isatty(STDIN_FILENO)) {
			fputs("> ", stdout);
			fflush(stdout);
		}
		n = getline(&line, &cap, stdin);
		if (n < 0)
			break;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
			line[--n] = '\0';
		if (n == 0)
			continue;
		if (n > LINE_MAX_BYTES) {
			fprintf(stderr, "hermetic: line longer than %d bytes ignored\n",
				LINE_MAX_BYTES);
			continue;
		}
		if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0)
			break;
		if (strncmp(line, "/model ", 7) == 0) {
			free(cur);
			cur = xstrdup(line + 7);
			printf("model: %s\n", cur);
		} else if (line[0] == '/') {
			printf("through the gateway (session cli:%s): /model NAME, /quit; /new and "
			       "/usage need --local\n",
			       user);
		} else {
			rc = turn(cfg, line, cur, user);
		}
	}
	free(line);
	free(cur);
	return rc;
}
