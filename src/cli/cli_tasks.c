/* cli_tasks: background tasks from the shell (see cli_tasks.h). A task must run in the
 * gateway (its turns, its budget and its delivery live there), so add and stop are requests
 * to its API (cli_ask), waiting at most CALL_TIMEOUT_MS; list and show read the
 * journal directly, as `hermetic sessions` reads the sessions, and work with the gateway
 * stopped too.
 */
#include "cli/cli_tasks.h"
#include "cli/cli_ask.h"
#include "agent/tasks.h"
#include "core/config.h"
#include "core/json.h"
#include "core/store.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_TIMEOUT_MS 10000

/* POSTs body to path of the gateway: the HTTP status (0: no answer) and the body in *out. */
static long post(const struct config *cfg, const char *path, const char *body, char **out)
{
	const struct cli_ask_opts o = {
		.key = cfg->api.key, .body = body, .timeout_ms = CALL_TIMEOUT_MS};
	struct cli_ask a;
	long status;

	cli_ask(&cfg->api.listen, path, &o, &a);
	if (a.res != HTTPC_OK)
		fprintf(stderr, "hermetic: the gateway at %s did not answer (%s); is it running?\n",
			cfg->api.listen.addr, httpc_result_name(a.res));
	status = a.res == HTTPC_OK ? a.status : 0;
	*out = a.body;
	a.body = NULL;
	cli_ask_finish(&a);
	return status;
}

static int add(const struct config *cfg, char **words, int n)
{
	cJSON *j = cJSON_CreateObject(), *r;
	struct buf prompt;
	char *body, *answer = NULL;
	long status;

	buf_init(&prompt, 0);
	for (int i = 0; i < n; i++)
		buf_printf(&prompt, "%s%s", i ? " " : "", words[i]);
	cJSON_AddStringToObject(j, "prompt", buf_str(&prompt));
	buf_finish(&prompt);
	body = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	status = post(cfg, "/v1/tasks", body, &answer);
	free(body);
	r = json_parse_str(answer ? answer : "", NULL);
	if (status == 202 && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "id")))
		printf("task %lld queued; `hermetic tasks show %lld` gives its state and result\n",
		       (long long)cJSON_GetObjectItemCaseSensitive(r, "id")->valuedouble,
		       (long long)cJSON_GetObjectItemCaseSensitive(r, "id")->valuedouble);
	else if (status)
		fprintf(stderr, "hermetic: the gateway answered %ld: %s\n", status, answer);
	cJSON_Delete(r);
	free(answer);
	return status == 202 ? 0 : 1;
}

static int stop(const struct config *cfg, const char *id)
{
	char *path, *answer = NULL;
	long status;

	if (strspn(id, "0123456789") != strlen(id) || !*id) {
		fprintf(stderr, "hermetic: a task id is a number\n");
		return 2;
	}
	path = xasprintf("/v1/tasks/%s/stop", id);
	status = post(cfg, path, "{}", &answer);
	if (status == 200)
		printf("task %s stops before its next call\n", id);
	else if (status)
		fprintf(stderr, "hermetic: the gateway answered %ld: %s\n", status, answer);
	free(path);
	free(answer);
	return status == 200 ? 0 : 1;
}

static int with_store(const struct config *cfg, const char *what, const char *id)
{
	char *db = xasprintf("%s/state.db", cfg->home), err[512];
	struct store *st;
	struct buf out;
	int64_t ids[1];
	size_t n = 0;
	int rc;

	if (store_open(db, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "hermetic: %s\n", err);
		free(db);
		return 1;
	}
	free(db);
	buf_init(&out, 0);
	if (strcmp(what, "list") == 0)
		rc = tasks_list_text(st, NULL, now_wall_ms(), &out, ids, 0, &n);
	else
		rc = tasks_show_json(st, strtoll(id, NULL, 10), now_wall_ms(), &out);
	if (rc == 0)
		printf("%s\n", buf_str(&out));
	else
		fprintf(stderr, "hermetic: %s\n",
			rc == -2 ? "no such task" : "the journal could not be read");
	buf_finish(&out);
	store_close(st);
	return rc == 0 ? 0 : 1;
}

int cli_tasks(const struct config *cfg, char **words, int n)
{
	if (n >= 2 && strcmp(words[0], "add") == 0)
		return add(cfg, words + 1, n - 1);
	if (n == 1 && strcmp(words[0], "list") == 0)
		return with_store(cfg, "list", NULL);
	if (n == 2 && strcmp(words[0], "show") == 0)
		return with_store(cfg, "show", words[1]);
	if (n == 2 && strcmp(words[0], "stop") == 0)
		return stop(cfg, words[1]);
	fprintf(stderr, "usage: hermetic tasks add TEXT|list|show ID|stop ID [--config FILE]\n");
	return 2;
}
