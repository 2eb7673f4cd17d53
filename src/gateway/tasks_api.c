/* tasks_api: the routes of background tasks (see tasks_api.h). Each answers at once from the
 * journal: a POST queues or changes a task, a GET reads its rows; nothing waits for a task.
 */
#include "gateway/tasks_api.h"
#include "agent/task_store.h"
#include "agent/tasks.h"
#include "core/json.h"
#include "core/util.h"
#include "net/httpd.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tasks_api {
	struct tasks *ts;
	struct store *store;
	tasks_api_auth_fn auth;
	void *auth_ctx;
};

static void reply_error_rc(struct httpd_req *req, int rc)
{
	if (rc == -ENOENT)
		httpd_reply_error(req, 404, "not_found_error", "no such task");
	else if (rc == -EALREADY)
		httpd_reply_error(req, 409, "conflict_error", "the task has ended");
	else if (rc == -EINVAL)
		httpd_reply_error(req, 400, "invalid_request_error", "empty or too long text");
	else if (rc == -EPERM)
		httpd_reply_error(
			req, 403, "permission_error",
			"the session it would come from is in a lane the config no longer "
			"has");
	else
		httpd_reply_error(req, 503, "api_error", "the journal is busy; try again");
}

/* The request's JSON body ({} when empty), or NULL after answering 400: a repeated member
 * name says which (json_parse), anything else that it is not JSON. */
static cJSON *body_json(struct httpd_req *req)
{
	size_t len = 0;
	const char *body = httpd_body_ref(req, &len);
	struct json_error jerr;
	cJSON *j;

	if (!body || !len)
		return cJSON_CreateObject();
	j = json_parse(body, len, 0, &jerr);
	if (!j)
		httpd_reply_error(req, 400, "invalid_request_error",
				  jerr.duplicate ? jerr.msg
						 : "the body must be JSON (Content-Type: "
						   "application/json)");
	return j;
}

static void on_add(struct httpd_req *req, void *arg)
{
	struct tasks_api *a = arg;
	cJSON *j, *out;
	const cJSON *prompt, *chat;
	int64_t id = 0;
	int rc;

	if (!a->auth(a->auth_ctx, req))
		return;
	j = body_json(req);
	if (!j)
		return;
	prompt = cJSON_GetObjectItemCaseSensitive(j, "prompt");
	chat = cJSON_GetObjectItemCaseSensitive(j, "chat_id");
	/* a chat id is an integer Telegram can hold (|id| < 2^52); anything else is not one */
	if (!cJSON_IsString(prompt) || !*prompt->valuestring ||
	    (chat && (!cJSON_IsNumber(chat) || !(fabs(chat->valuedouble) < 4503599627370496.0) ||
		      chat->valuedouble != (double)(int64_t)chat->valuedouble))) {
		httpd_reply_error(req, 400, "invalid_request_error",
				  "expected {\"prompt\": TEXT} (and optionally \"chat_id\": N)");
		cJSON_Delete(j);
		return;
	}
	rc = tasks_add(a->ts,
		       &(struct tasks_new){.origin = "api",
					   .chat_id = chat ? (int64_t)chat->valuedouble : 0,
					   .prompt = prompt->valuestring},
		       &id);
	cJSON_Delete(j);
	if (rc < 0) {
		reply_error_rc(req, rc);
		return;
	}
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "id", (double)id);
	cJSON_AddStringToObject(out, "state", "queued");
	httpd_reply_json(req, 202, out);
}

int tasks_api_list_json(struct store *s, struct buf *out)
{
	struct task_row *rows = NULL;
	size_t n = 0;
	cJSON *root, *arr;
	char *text;
	int rc = task_store_list(s, NULL, &rows, &n);

	if (rc < 0)
		return rc;
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "data");
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		struct task_spend t;

		cJSON_AddNumberToObject(o, "id", (double)rows[i].id);
		cJSON_AddStringToObject(o, "state", rows[i].state);
		cJSON_AddStringToObject(o, "origin", rows[i].origin ? rows[i].origin : "");
		cJSON_AddStringToObject(o, "prompt", rows[i].prompt ? rows[i].prompt : "");
		if (rows[i].lane)
			cJSON_AddStringToObject(o, "lane", rows[i].lane);
		else
			cJSON_AddNullToObject(o, "lane");
		cJSON_AddNumberToObject(o, "created_ms", (double)rows[i].created_ms);
		cJSON_AddNumberToObject(o, "started_ms", (double)rows[i].started_ms);
		cJSON_AddNumberToObject(o, "ended_ms", (double)rows[i].ended_ms);
		if (rows[i].doing)
			cJSON_AddStringToObject(o, "doing", rows[i].doing);
		if (task_store_tree_spend(s, rows[i].id, &t) == 0)
			cJSON_AddNumberToObject(o, "tree_spent_usd", t.usd);
		cJSON_AddItemToArray(arr, o);
	}
	task_rows_free(rows, n);
	text = cJSON_PrintUnformatted(root);
	buf_puts(out, text);
	free(text);
	cJSON_Delete(root);
	return 0;
}

static void on_list(struct httpd_req *req, void *arg)
{
	struct tasks_api *a = arg;
	struct buf out;
	int rc;

	if (!a->auth(a->auth_ctx, req))
		return;
	buf_init(&out, 0);
	rc = tasks_api_list_json(a->store, &out);
	if (rc < 0)
		reply_error_rc(req, rc);
	else
		httpd_reply(req, 200, "application/json", buf_str(&out), out.len);
	buf_finish(&out);
}

static void on_tasks(struct httpd_req *req, void *arg)
{
	if (httpd_method(req) == HTTPD_POST)
		on_add(req, arg);
	else
		on_list(req, arg);
}

/* /v1/tasks/ID[/stop|/steer] */
static void on_task(struct httpd_req *req, void *arg)
{
	struct tasks_api *a = arg;
	const char *path = httpd_path(req) + strlen("/v1/tasks/");
	long long id = 0;
	char what[8] = "";
	int n = 0, rc;

	if (!a->auth(a->auth_ctx, req))
		return;
	if (sscanf(path, "%lld%n", &id, &n) != 1 || id <= 0 ||
	    (path[n] && sscanf(path + n, "/%7[a-z]", what) != 1) ||
	    (path[n] && strlen(path + n) != strlen(what) + 1)) {
		httpd_reply_error(req, 404, "not_found_error", "no such route");
		return;
	}
	if (*what && strcmp(what, "stop") != 0 && strcmp(what, "steer") != 0) {
		httpd_reply_error(req, 404, "not_found_error", "no such route");
		return;
	}
	if (!*what && httpd_method(req) == HTTPD_GET) {
		struct buf out;

		buf_init(&out, 0);
		rc = tasks_show_json(a->store, id, now_wall_ms(), &out);
		if (rc < 0)
			reply_error_rc(req, rc);
		else
			httpd_reply(req, 200, "application/json", buf_str(&out), out.len);
		buf_finish(&out);
		return;
	}
	if (httpd_method(req) != HTTPD_POST ||
	    (strcmp(what, "stop") != 0 && strcmp(what, "steer") != 0)) {
		httpd_reply_error(req, 405, "invalid_request_error",
				  "GET /v1/tasks/ID, POST /v1/tasks/ID/stop or /steer");
		return;
	}
	if (strcmp(what, "stop") == 0) {
		rc = tasks_stop(a->ts, id, NULL);
	} else {
		cJSON *j = body_json(req);
		const cJSON *text;

		if (!j)
			return;
		text = cJSON_GetObjectItemCaseSensitive(j, "text");

		rc = cJSON_IsString(text) ? tasks_steer(a->ts, id, NULL, text->valuestring)
					  : -EINVAL;
		cJSON_Delete(j);
	}
	if (rc < 0) {
		reply_error_rc(req, rc);
		return;
	}
	httpd_reply(req, 200, "application/json", "{\"ok\":true}", 11);
}

struct tasks_api *tasks_api_create(struct tasks *ts, struct store *store, tasks_api_auth_fn auth,
				   void *auth_ctx)
{
	struct tasks_api *a = xcalloc(1, sizeof(*a));

	*a = (struct tasks_api){ts, store, auth, auth_ctx};
	return a;
}

void tasks_api_destroy(struct tasks_api *a)
{
	free(a);
}

void tasks_api_add_routes(struct tasks_api *a, struct httpd *h)
{
	httpd_route(h, HTTPD_GET | HTTPD_POST | HTTPD_JSON, "/v1/tasks", on_tasks, a);
	httpd_route(h, HTTPD_GET | HTTPD_POST | HTTPD_JSON, "/v1/tasks/*", on_task, a);
}
