/* ui_tasks: the cockpit's Pools and Tasks views. GET /v1/ui/pools is the router's rate pools
 * as GET /v1/pools gives them (router_pools_json: memory, on the loop). GET /v1/ui/tasks and
 * /v1/ui/tasks/ID are GET /v1/tasks's and /v1/tasks/ID's answers (tasks_api_list_json,
 * tasks_show_json), read on an offload thread over a reader connection of their own, as
 * ui_read.c reads. POST /v1/ui/tasks/stop {"id": N} stops a task's tree like
 * /v1/tasks/ID/stop.
 */
#include "cockpit/ui_int.h"
#include "agent/tasks.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/store.h"
#include "core/util.h"
#include "gateway/tasks_api.h"
#include "net/httpd.h"
#include "router/router.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct task_read {
	struct httpd_req *req;
	char *db_path;
	int64_t id; /* 0: the list */
	int64_t now_ms;
	int status;
	struct buf answer;
};

static void on_pools(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	char *body;

	if (!ui_gate(u, req))
		return;
	if (!u->env.router) {
		ui_reply_json_text(req, 200, "{\"pools\":[]}", strlen("{\"pools\":[]}"));
		return;
	}
	body = router_pools_json(u->env.router);
	ui_reply_json_text(req, 200, body, strlen(body));
	free(body);
}

static void error_answer(struct task_read *j, int status, const char *message)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	cJSON_AddStringToObject(o, "error", message);
	text = cJSON_PrintUnformatted(o);
	buf_reset(&j->answer);
	buf_puts(&j->answer, text);
	free(text);
	cJSON_Delete(o);
	j->status = status;
}

static void task_read_work(void *arg)
{
	struct task_read *j = arg;
	struct store *st;
	char err[512];
	int rc;

	if (store_open_reader(j->db_path, &st, err, sizeof(err)) < 0) {
		error_answer(j, 503, err);
		return;
	}
	rc = j->id ? tasks_show_json(st, j->id, j->now_ms, &j->answer)
		   : tasks_api_list_json(st, &j->answer);
	store_close(st);
	if (rc == -ENOENT)
		error_answer(j, 404, "no such task");
	else if (rc < 0)
		error_answer(j, 500, "reading state.db failed (see the log)");
	else
		j->status = 200;
}

static void task_read_free(void *arg)
{
	struct task_read *j = arg;

	buf_finish(&j->answer);
	free(j->db_path);
	free(j);
}

static void task_read_done(void *arg)
{
	struct task_read *j = arg;

	ui_reply_json_text(j->req, j->status, buf_str(&j->answer), j->answer.len);
	task_read_free(j);
}

/* GET /v1/ui/tasks and /v1/ui/tasks/ID */
static void on_tasks(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	const char *path = httpd_path(req);
	struct task_read *j;
	int64_t id = 0;

	if (!ui_gate(u, req))
		return;
	if (strncmp(path, "/v1/ui/tasks/", strlen("/v1/ui/tasks/")) == 0 &&
	    parse_i64(path + strlen("/v1/ui/tasks/"), 1, INT64_MAX, &id) < 0) {
		ui_reply_error(req, 404, "no such task");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->req = req;
	j->db_path = xstrdup(u->db_path);
	j->id = id;
	j->now_ms = now_wall_ms();
	buf_init(&j->answer, 0);
	if (offload_run(u->work, task_read_work, task_read_done, task_read_free, j) < 0) {
		task_read_free(j);
		httpd_add_header(req, "Retry-After", "1");
		ui_reply_error(req, 503, "the cockpit is busy with other reads; retry in a moment");
	}
}

static void on_task_stop(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	cJSON *root;
	int64_t id;
	int rc;

	if (!ui_gate(u, req))
		return;
	root = ui_body_object(req, "expected {\"id\": N}");
	if (!root)
		return;
	if (!ui_int_item(root, "id", 1, INT64_MAX / 2, &id)) {
		cJSON_Delete(root);
		ui_reply_error(req, 400, "expected {\"id\": N}");
		return;
	}
	cJSON_Delete(root);
	rc = u->env.tasks ? tasks_stop(u->env.tasks, id, NULL) : -ENOENT;
	if (rc == -ENOENT) {
		ui_reply_error(req, 404, "no such task");
	} else if (rc == -EALREADY) {
		ui_reply_error(req, 409, "the task has ended");
	} else if (rc < 0) {
		ui_reply_error(req, 503, "the journal is busy; try again");
	} else {
		log_info("ui: task %lld stopped from the cockpit", (long long)id);
		ui_reply_json_text(req, 200, "{\"ok\":true}", strlen("{\"ok\":true}"));
	}
}

void ui_tasks_routes(struct ui *u, struct httpd *h)
{
	httpd_route(h, HTTPD_GET, "/v1/ui/pools", on_pools, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/tasks", on_tasks, u);
	/* before the wildcard: the first route that matches takes the request */
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/tasks/stop", on_task_stop, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/tasks/*", on_tasks, u);
}
