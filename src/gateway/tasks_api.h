/* tasks_api: background tasks on the agent API (agent/tasks.h):
 *   POST /v1/tasks              {"prompt": TEXT[, "chat_id": N]} -> 202 {"id": N, "state"}
 *   GET  /v1/tasks              the newest tasks (roots) as {"data": [...]}
 *   GET  /v1/tasks/ID           the task with its children: state, result, spend
 *   POST /v1/tasks/ID/stop      stops it (and its tree) before its next call
 *   POST /v1/tasks/ID/steer     {"text": TEXT}: read by the task at its next step
 * The caller is checked by the gateway's own gate (auth), as for every API route. A task of
 * the API has the origin "api"; with chat_id its result also goes to that Telegram chat.
 */
#ifndef HERMETIC_TASKS_API_H
#define HERMETIC_TASKS_API_H

#include <stdbool.h>

struct buf;
struct httpd;
struct httpd_req;
struct store;
struct tasks;
struct tasks_api;

/* False when req was refused (and answered). */
typedef bool (*tasks_api_auth_fn)(void *ctx, struct httpd_req *req);

/* Borrows everything. */
struct tasks_api *tasks_api_create(struct tasks *ts, struct store *store, tasks_api_auth_fn auth,
				   void *auth_ctx);
void tasks_api_destroy(struct tasks_api *a); /* accepts NULL */
void tasks_api_add_routes(struct tasks_api *a, struct httpd *h);

/* GET /v1/tasks's answer, appended to out: the newest roots as {"data": [{id, state, origin,
 * prompt, created_ms, started_ms, ended_ms (0: not yet), doing?, tree_spent_usd}]}. Reads s
 * only (the cockpit calls it on a reader connection of its own). 0 or the store's error. */
int tasks_api_list_json(struct store *s, struct buf *out);

#endif
