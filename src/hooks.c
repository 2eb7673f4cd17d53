/* hooks: the webhook routes. Each request is checked (the hook's token, constant-time), its
 * JSON body rendered into the hook's prompt template, and handed to the job_sink as a fresh
 * turn of source "hook:<name>". Idempotency keys live in the store's hook_runs table with the
 * run's status and answer, so a retried delivery from the sender (or a restart in between)
 * runs nothing twice.
 *
 * A sync request whose client goes away is not cancelled: evhttp detaches the request, the
 * run goes on, is delivered, and the late reply only frees the request.
 * Rejected: queueing a request when the hook's source is busy (the sender retries on 409,
 * and a queue would need its own cap and persistence); a template language with loops or
 * escaping (the prompt is read by a model, not parsed).
 */
#include "hooks.h"
#include "apiguard.h"
#include "config.h"
#include "httpd.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CUT_NOTE "\n[payload cut: the prompt is limited to 32 KiB]"

struct hooks;

struct hook_ep {
	struct hooks *h;
	const struct config_hook *cfg;
};

/* One run in flight. h NULL = hooks was destroyed; the callback only frees it. */
struct hook_run {
	struct hooks *h;
	struct hook_ep *ep;
	struct evhttp_request *req; /* sync: waiting for the answer */
	char *key;		    /* NULL = no idempotency key */
	char run_id[24];
	struct hook_run *prev, *next;
};

struct hooks {
	const struct config *cfg;
	struct loop *loop;
	struct store *store;
	const struct job_sink *sink;
	struct hook_ep *eps;
	struct hook_run *runs;
	struct metric *m_runs;
	uint64_t n_runs;
};

/* --- rendering --- */

struct render {
	struct buf b;
	bool cut;
};

static void put(struct render *r, const char *s, size_t n)
{
	size_t room = HOOKS_PROMPT_MAX - r->b.len;

	if (r->cut)
		return;
	if (n > room) {
		n = utf8_cut(s, room);
		r->cut = true;
	}
	buf_append(&r->b, s, n);
}

static const cJSON *lookup(const cJSON *root, const char *path, size_t len)
{
	const cJSON *cur = root;
	char seg[256];
	size_t n;
	int64_t idx;

	while (cur && len) {
		n = 0;
		while (n < len && path[n] != '.')
			n++;
		if (n == 0 || n >= sizeof(seg))
			return NULL;
		memcpy(seg, path, n);
		seg[n] = '\0';
		if (cJSON_IsObject(cur))
			cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
		else if (cJSON_IsArray(cur) && parse_i64(seg, 0, INT32_MAX, &idx) == 0)
			cur = cJSON_GetArrayItem(cur, (int)idx);
		else
			return NULL;
		path += n;
		len -= n;
		if (len) {
			path++;
			len--;
			if (!len)
				return NULL;
		}
	}
	return cur;
}

static void put_value(struct render *r, const cJSON *v)
{
	char *text;

	if (!v)
		return;
	if (cJSON_IsString(v)) {
		put(r, v->valuestring, strlen(v->valuestring));
		return;
	}
	text = cJSON_PrintUnformatted(v);
	if (text)
		put(r, text, strlen(text));
	free(text);
}

/* Substitutes one {{...}} whose inner text is s[0..len); false when it is not ours. */
static bool placeholder(struct render *r, const cJSON *root, const char *s, size_t len)
{
	while (len && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	if (len == 7 && memcmp(s, "payload", 7) == 0)
		put_value(r, root);
	else if (len > 8 && memcmp(s, "payload.", 8) == 0)
		put_value(r, lookup(root, s + 8, len - 8));
	else
		return false;
	return true;
}

int hooks_render(const char *tmpl, const char *payload_json, struct buf *out)
{
	cJSON *root = cJSON_Parse(payload_json);
	struct render r = {.cut = false};
	const char *p = tmpl, *open, *close;

	if (!root)
		return -EINVAL;
	buf_init(&r.b, 0);
	while (*p && !r.cut) {
		open = strstr(p, "{{");
		if (!open) {
			put(&r, p, strlen(p));
			break;
		}
		put(&r, p, (size_t)(open - p));
		close = strstr(open + 2, "}}");
		if (close && placeholder(&r, root, open + 2, (size_t)(close - open - 2))) {
			p = close + 2;
			continue;
		}
		put(&r, "{{", 2);
		p = open + 2;
	}
	cJSON_Delete(root);
	if (r.cut)
		buf_puts(&r.b, CUT_NOTE);
	buf_append(out, r.b.data ? r.b.data : "", r.b.len);
	buf_finish(&r.b);
	return r.cut ? 1 : 0;
}

/* --- the idempotency table --- */

struct prior {
	char run_id[24];
	bool running, ok;
	char *result;
};

static int find_prior(struct hooks *h, const char *hook, const char *key, struct prior *out)
{
	sqlite3_stmt *st;
	int rc = -ENOENT;

	if (sqlite3_prepare_v2(store_db(h->store),
			       "SELECT run_id, status, result FROM hook_runs"
			       " WHERE hook = ?1 AND key = ?2",
			       -1, &st, NULL))
		return -EIO;
	sqlite3_bind_text(st, 1, hook, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(out->run_id, sizeof(out->run_id), "%s",
			 (const char *)sqlite3_column_text(st, 0));
		out->running = strcmp((const char *)sqlite3_column_text(st, 1), "running") == 0;
		out->ok = strcmp((const char *)sqlite3_column_text(st, 1), "ok") == 0;
		out->result = xstrdup((const char *)sqlite3_column_text(st, 2));
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static void exec_sql(struct hooks *h, const char *sql, const char *a, const char *b, const char *c,
		     int64_t n)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(store_db(h->store), sql, -1, &st, NULL)) {
		log_warn("hooks: idempotency table: %s", sqlite3_errmsg(store_db(h->store)));
		return;
	}
	if (a)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	if (c)
		sqlite3_bind_text(st, 3, c, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, n);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warn("hooks: idempotency table: %s", sqlite3_errmsg(store_db(h->store)));
	sqlite3_finalize(st);
}

static void save_result(struct hooks *h, const char *hook, const char *key, const char *status,
			const char *result)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(store_db(h->store),
			       "UPDATE hook_runs SET status = ?3, result = ?4"
			       " WHERE hook = ?1 AND key = ?2",
			       -1, &st, NULL)) {
		log_warn("hooks: idempotency table: %s", sqlite3_errmsg(store_db(h->store)));
		return;
	}
	sqlite3_bind_text(st, 1, hook, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, result, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warn("hooks: idempotency table: %s", sqlite3_errmsg(store_db(h->store)));
	sqlite3_finalize(st);
}

/* --- replies --- */

static void reply_run(struct evhttp_request *req, int status, const char *run_id, const char *state,
		      const char *result)
{
	cJSON *root = cJSON_CreateObject();
	char *text;

	cJSON_AddStringToObject(root, "run_id", run_id);
	cJSON_AddStringToObject(root, "status", state);
	if (result)
		cJSON_AddStringToObject(root, "result", result);
	text = cJSON_PrintUnformatted(root);
	httpd_reply(req, status, "application/json", text, strlen(text));
	free(text);
	cJSON_Delete(root);
}

static void count(struct hooks *h, const char *hook, const char *status)
{
	if (h->m_runs)
		metric_inc(h->m_runs, (const char *[]){hook, status}, 1);
}

/* --- runs --- */

static void unlink_run(struct hook_run *run)
{
	if (run->prev)
		run->prev->next = run->next;
	else if (run->h)
		run->h->runs = run->next;
	if (run->next)
		run->next->prev = run->prev;
	run->prev = run->next = NULL;
}

static void free_run(struct hook_run *run)
{
	free(run->key);
	free(run);
}

static void on_run_done(const struct job_result *r, void *arg)
{
	struct hook_run *run = arg;
	struct hooks *h = run->h;
	const struct config_hook *hk;
	const char *text = r->text ? r->text : "";
	const char *status = r->ok ? "ok" : "failed";
	char *failed = NULL;

	if (!h) {
		free_run(run);
		return;
	}
	hk = run->ep->cfg;
	unlink_run(run);
	if (run->key) {
		char *stored = xstrndup(text, utf8_cut(text, strnlen(text, HOOKS_RESULT_MAX)));

		save_result(h, hk->name, run->key, status, stored);
		free(stored);
	}
	count(h, hk->name, status);
	if (!r->ok) {
		log_warn("hook %s: run %s failed: %s", hk->name, run->run_id, text);
		failed =
			xasprintf("hook %s failed: %s", hk->name, text[0] ? text : "unknown error");
	}
	h->sink->deliver(h->sink->ctx, &hk->deliver, failed ? failed : text);
	if (run->req)
		reply_run(run->req, 200, run->run_id, status, text);
	free(failed);
	free_run(run);
}

static void new_run_id(struct hooks *h, const char *hook, char out[24])
{
	char seed[256], hex[65];

	snprintf(seed, sizeof(seed), "%s|%lld|%lld|%llu|%ld|%p", hook, (long long)now_wall_ms(),
		 (long long)now_mono_us(), (unsigned long long)++h->n_runs, (long)getpid(),
		 (void *)h);
	sha256_hex(seed, strlen(seed), hex);
	snprintf(out, 24, "run_%.16s", hex);
}

/* The Idempotency-Key header, else the body's idempotency_field; NULL = none. */
static char *idempotency_key(const struct config_hook *hk, struct evhttp_request *req,
			     const cJSON *root)
{
	const char *header = httpd_header(req, "Idempotency-Key");
	const cJSON *v;

	if (header && header[0])
		return xstrdup(header);
	if (!hk->idempotency_field)
		return NULL;
	v = lookup(root, hk->idempotency_field, strlen(hk->idempotency_field));
	if (cJSON_IsString(v))
		return v->valuestring[0] ? xstrdup(v->valuestring) : NULL;
	if (v && !cJSON_IsNull(v) && !cJSON_IsObject(v) && !cJSON_IsArray(v))
		return cJSON_PrintUnformatted(v);
	return NULL;
}

static bool answer_prior(struct hooks *h, const struct config_hook *hk, struct evhttp_request *req,
			 const char *key)
{
	struct prior p = {.result = NULL};

	if (find_prior(h, hk->name, key, &p) < 0)
		return false;
	log_info("hook %s: repeated idempotency key; answering with run %s", hk->name, p.run_id);
	count(h, hk->name, "duplicate");
	if (p.running)
		reply_run(req, 202, p.run_id, "accepted", NULL);
	else
		reply_run(req, 200, p.run_id, p.ok ? "ok" : "failed", p.result);
	free(p.result);
	return true;
}

static int start_run(struct hook_ep *ep, struct evhttp_request *req, char *key, const char *prompt)
{
	struct hooks *h = ep->h;
	const struct config_hook *hk = ep->cfg;
	struct hook_run *run = xcalloc(1, sizeof(*run));
	char *source = xasprintf("hook:%s", hk->name);
	int rc;

	run->h = h;
	run->ep = ep;
	run->key = key;
	new_run_id(h, hk->name, run->run_id);
	rc = h->sink->run(h->sink->ctx, source, hk->model, prompt, NULL, on_run_done, run);
	free(source);
	if (rc < 0) {
		free_run(run);
		return rc;
	}
	log_info("hook %s: run %s started", hk->name, run->run_id);
	run->next = h->runs;
	if (h->runs)
		h->runs->prev = run;
	h->runs = run;
	if (key)
		exec_sql(h,
			 "INSERT OR REPLACE INTO hook_runs (hook, key, run_id, status, created_ms)"
			 " VALUES (?1, ?2, ?3, 'running', ?4)",
			 hk->name, key, run->run_id, now_wall_ms());
	if (hk->async)
		reply_run(req, 202, run->run_id, "accepted", NULL);
	else
		run->req = req;
	return 0;
}

static void on_hook(struct evhttp_request *req, void *arg)
{
	struct hook_ep *ep = arg;
	const struct config_hook *hk = ep->cfg;
	const char *bearer = httpd_bearer(req);
	struct buf prompt;
	char *body, *compact = NULL, *key = NULL;
	cJSON *root;
	size_t len;
	int rc;

	if (!apiguard_check(&ep->h->cfg->api, req))
		return;
	if (!bearer || !secret_equal(bearer, hk->token)) {
		httpd_reply_error(req, 401, "authentication_error",
				  "missing or wrong bearer token for this hook");
		return;
	}
	buf_init(&prompt, 0);
	body = httpd_body(req, &len);
	root = cJSON_ParseWithLength(body, len);
	free(body);
	if (!root) {
		httpd_reply_error(req, 400, "invalid_request_error",
				  "the body must be JSON (Content-Type: application/json)");
		goto out;
	}
	key = idempotency_key(hk, req, root);
	if (key && strlen(key) > HOOKS_KEY_MAX) {
		httpd_reply_error(req, 400, "invalid_request_error",
				  "the idempotency key is longer than 256 bytes");
		goto out;
	}
	if (key && answer_prior(ep->h, hk, req, key))
		goto out;
	compact = cJSON_PrintUnformatted(root);
	hooks_render(hk->prompt, compact, &prompt);
	rc = start_run(ep, req, key, buf_str(&prompt));
	key = NULL; /* start_run took it */
	if (rc == -EBUSY) {
		count(ep->h, hk->name, "busy");
		httpd_reply_error(req, 409, "conflict_error",
				  "a run of this hook is still going; retry when it has answered");
	} else if (rc < 0) {
		httpd_reply_error(req, 500, "api_error", "the run could not start");
	}
out:
	free(key);
	free(compact);
	buf_finish(&prompt);
	cJSON_Delete(root);
}

struct hooks *hooks_create(const struct config *cfg, struct loop *loop, struct store *store,
			   struct metrics *metrics, const struct job_sink *sink)
{
	struct hooks *h = xcalloc(1, sizeof(*h));
	size_t i;

	h->cfg = cfg;
	h->loop = loop;
	h->store = store;
	h->sink = sink;
	h->eps = xcalloc(cfg->n_hooks ? cfg->n_hooks : 1, sizeof(*h->eps));
	for (i = 0; i < cfg->n_hooks; i++) {
		h->eps[i].h = h;
		h->eps[i].cfg = &cfg->hooks[i];
	}
	if (metrics)
		h->m_runs = metrics_add(metrics, METRIC_COUNTER, "hermetic_hook_runs_total",
					"Hook requests by outcome (ok, failed, duplicate, busy)",
					(const char *[]){"hook", "status", NULL});
	exec_sql(h, "DELETE FROM hook_runs WHERE created_ms < ?4", NULL, NULL, NULL,
		 now_wall_ms() - HOOKS_KEEP_MS);
	return h;
}

void hooks_add_routes(struct hooks *h, struct httpd *api)
{
	size_t i;
	char *path;

	for (i = 0; i < h->cfg->n_hooks; i++) {
		path = xasprintf("/v1/hooks/%s", h->cfg->hooks[i].name);
		httpd_route(api, HTTPD_POST, path, on_hook, &h->eps[i]);
		free(path);
	}
}

void hooks_destroy(struct hooks *h)
{
	struct hook_run *run, *next;

	if (!h)
		return;
	for (run = h->runs; run; run = next) {
		next = run->next;
		if (run->req)
			httpd_reply_error(run->req, 503, "service_unavailable",
					  "hermetic is shutting down");
		run->req = NULL;
		run->h = NULL;
		run->prev = run->next = NULL;
	}
	free(h->eps);
	free(h);
}
