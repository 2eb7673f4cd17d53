/* cli_sessions: the session store from the command line. It opens state.db beside a running
 * gateway (WAL: readers never block the daemon) and prints plain text. */
#include "cli/cli_sessions.h"
#include "core/json.h"
#include "core/config.h"
#include "core/sessions.h"
#include "core/store.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_MAX	 50
#define SHOW_CONTENT_MAX 2000

static void print_row(const struct session_info *si, void *arg)
{
	char date[32];

	sessions_format_time(si->updated_ms, date);
	printf("%6lld  %s  %-20s %3lld msgs  $%.6f  %s\n", (long long)si->id, date, si->source,
	       (long long)si->n_messages, si->cost_usd, si->title ? si->title : "");
}

static void print_message(int64_t id, const char *role, const char *json, void *arg)
{
	cJSON *j = json_parse_str(json, NULL), *calls, *c;
	cJSON *content = cJSON_GetObjectItemCaseSensitive(j, "content");

	if (cJSON_IsString(content) && *content->valuestring)
		printf("%s: %.*s\n", role,
		       (int)utf8_cut(content->valuestring,
				     strnlen(content->valuestring, SHOW_CONTENT_MAX)),
		       content->valuestring);
	calls = cJSON_GetObjectItemCaseSensitive(j, "tool_calls");
	cJSON_ArrayForEach(c, calls)
	{
		cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
		cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
		cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");

		printf("%s: -> %s %s\n", role, cJSON_IsString(name) ? name->valuestring : "?",
		       cJSON_IsString(args) ? args->valuestring : "");
	}
	cJSON_Delete(j);
}

static int show(struct store *st, const char *id_text)
{
	int64_t id;
	struct session_info si;
	char date[32];

	if (parse_i64(id_text, 1, INT64_MAX, &id) < 0) {
		fprintf(stderr, "hermetic: sessions show: \"%s\" is not a session id\n", id_text);
		return 2;
	}
	if (sessions_get(st, id, &si) < 0) {
		fprintf(stderr, "hermetic: no session %lld (see `hermetic sessions list`)\n",
			(long long)id);
		return 1;
	}
	sessions_format_time(si.created_ms, date);
	printf("session %lld, %s, started %s, model %s, %lld turns, %lld prompt + %lld "
	       "completion tokens, $%.6f%s\n\n",
	       (long long)si.id, si.source, date, si.model ? si.model : "-", (long long)si.turns,
	       (long long)si.prompt_tokens, (long long)si.completion_tokens, si.cost_usd,
	       si.ended ? ", ended" : "");
	session_info_finish(&si);
	return sessions_messages(st, id, print_message, NULL) < 0 ? 1 : 0;
}

static int search(struct store *st, char **words, int n)
{
	struct buf q, out;
	int rc;

	buf_init(&q, 4096);
	for (int i = 0; i < n; i++)
		buf_printf(&q, "%s%s", i ? " " : "", words[i]);
	buf_init(&out, 0);
	rc = sessions_search(st, buf_str(&q), 0, 10, &out);
	printf("%s\n", buf_str(&out));
	buf_finish(&q);
	buf_finish(&out);
	return rc < 0 ? 1 : 0;
}

int cli_sessions(const struct config *cfg, char **words, int n)
{
	char *db = xasprintf("%s/state.db", cfg->home);
	char err[512];
	struct store *st;
	int rc = 2;

	if (store_open(db, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "hermetic: %s\n", err);
		free(db);
		return 1;
	}
	free(db);
	if (n == 1 && strcmp(words[0], "list") == 0)
		rc = sessions_list(st, LIST_MAX, print_row, NULL) < 0 ? 1 : 0;
	else if (n == 2 && strcmp(words[0], "show") == 0)
		rc = show(st, words[1]);
	else if (n >= 2 && strcmp(words[0], "search") == 0)
		rc = search(st, words + 1, n - 1);
	else
		fprintf(stderr,
			"usage: hermetic sessions list|show ID|search WORDS [--config FILE]\n");
	store_close(st);
	return rc;
}
