/* hooks: the webhook routes. Each request is checked (the hook's token, constant-time), its
 * JSON body rendered into the hook's prompt template, and handed to the job_sink as a fresh
 * turn of source "hook:<name>". Idempotency keys live in the store's hook_runs table with the
 * run's status and answer, so a retried delivery from the sender (or a restart in between)
 * runs nothing twice.
 *
 * A keyed run that did not finish is never absorbed by its key: hooks_destroy() (a SIGTERM)
 * marks the rows of its runs in flight `interrupted`, and hooks_create() marks rows still
 * `running` (the process was killed or crashed) the same way, counting the crash. A zero
 * timer then runs each hook's interrupted rows again, oldest first and one at a time (the
 * hook's source takes one turn at a time), from the prompt stored with the row and under its
 * first run id; a repeated key meanwhile starts its run at once. Rows cut short by
 * HOOKS_MAX_CRASHES crashes are marked failed and reported instead.
 *
 * A sync request whose client goes away is not cancelled: httpd keeps the request, the run
 * goes on, is delivered, and the late reply only frees the request.
 *
 * A run whose model call a rate pool deferred (no room within the hook class's max_wait_s,
 * docs/pools.md) is not dropped: it stays the hook's run (a new request meanwhile is a 409)
 * and starts again from its prompt after the pool's retry-after (at least HOOK_DEFER_MIN_MS,
 * at most HOOK_DEFER_MAX_MS); a sync request keeps waiting for it. The HOOK_DEFER_GIVE_UP-th
 * deferral in a row fails the run instead, saying so, with one report to the alerts. A call
 * that can never fit its pool is not deferred at all: the router fails it at once (a 400).
 * Rejected: queueing a request when the hook's source is busy (the sender retries on 409,
 * and a queue would need its own cap and persistence); a template language with loops or
 * escaping (the prompt is read by a model, not parsed).
 */
#include "gateway/hooks.h"
#include "gateway/apiguard.h"
#include "core/json.h"
#include "core/config.h"
#include "core/loop.h"
#include "net/httpd.h"
#include "gateway/jobs.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/store.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CUT_NOTE	     "\n[payload cut: the prompt is limited to 32 KiB]"
#define RESUME_RETRY_S	     5	 /* after the store or the sink failed to resume a run */
#define LOCKED_RETRY_AFTER_S "2" /* a run refused while state.db is locked */
#define HOOK_DEFER_MIN_MS    5000
#define HOOK_DEFER_MAX_MS    (5 * 60000)
#define HOOK_DEFER_GIVE_UP   5

struct hooks;

struct hook_ep {
	struct hooks *h;
	const struct config_hook *cfg;
};

/* One run in flight. h NULL = hooks was destroyed; the callback only frees it. */
struct hook_run {
	struct hooks *h;
	struct hook_ep *ep;
	struct httpd_req *req; /* sync: waiting for the answer */
	char *key;	       /* NULL = no idempotency key */
	char run_id[24];
	char *prompt;		/* kept to run it again when a rate pool defers it */
	struct event *retry_ev; /* armed while a deferred run waits to start again */
	int deferrals;		/* in a row */
	struct hook_run *prev, *next;
};

struct hooks {
	const struct config *cfg;
	struct loop *loop;
	struct store *store;
	const struct job_sink *sink;
	struct hook_ep *eps;
	struct hook_run *runs;
	struct event *resume_ev;
	bool resume_pending; /* interrupted rows may be left to run */
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
	cJSON *root = json_parse_str(payload_json, NULL);
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
	bool running, ok, interrupted;
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
		const char *status = (const char *)sqlite3_column_text(st, 1);

		out->running = strcmp(status, "running") == 0;
		out->ok = strcmp(status, "ok") == 0;
		out->interrupted = strcmp(status, "interrupted") == 0;
		out->result = xstrdup((const char *)sqlite3_column_text(st, 2));
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Runs sql with ?1..?3 bound to a, b, c (when not NULL) and ?4 to n: 0 or -EIO (logged). */
static int exec_sql(struct hooks *h, const char *sql, const char *a, const char *b, const char *c,
		    int64_t n)
{
	sqlite3_stmt *st;
	int rc = 0;

	if (sqlite3_prepare_v2(store_db(h->store), sql, -1, &st, NULL)) {
		log_warn("hooks: idempotency table: %s", sqlite3_errmsg(store_db(h->store)));
		return -EIO;
	}
	if (a)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	if (c)
		sqlite3_bind_text(st, 3, c, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, n);
	if (sqlite3_step(st) != SQLITE_DONE) {
		log_warn("hooks: idempotency table: %s", sqlite3_errmsg(store_db(h->store)));
		rc = -EIO;
	}
	sqlite3_finalize(st);
	return rc;
}

/* A row change of the idempotency table; it waits in memory (store_write) while another
 * process holds the database's lock, so a busy database neither loses a result nor leaves a
 * finished run `running`. */
struct row_write {
	bool running; /* mark running (a = run id, b = prompt), else the result (a = status) */
	char *hook, *key, *a, *b;
};

static int write_row(struct store *s, void *arg)
{
	struct row_write *w = arg;
	sqlite3_stmt *st;
	int rc = 0;

	/* As running, a row left by an interrupted run keeps its crash count. */
	if (sqlite3_prepare_v2(
		    store_db(s),
		    w->running ? "INSERT INTO hook_runs (hook, key, run_id, status,"
				 " prompt, created_ms) VALUES (?1, ?2, ?3, 'running', ?4,"
				 " ?5) ON CONFLICT (hook, key) DO UPDATE SET"
				 " run_id = excluded.run_id, status = 'running',"
				 " result = '', prompt = excluded.prompt,"
				 " created_ms = excluded.created_ms"
			       : "UPDATE hook_runs SET status = ?3, result = ?4, prompt = ''"
				 " WHERE hook = ?1 AND key = ?2",
		    -1, &st, NULL))
		return store_fail(s, "hook runs");
	sqlite3_bind_text(st, 1, w->hook, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, w->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, w->a, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, w->b, -1, SQLITE_STATIC);
	if (w->running)
		sqlite3_bind_int64(st, 5, now_wall_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, "hook runs");
	sqlite3_finalize(st);
	return rc;
}

static void row_write_free(struct row_write *w, int rc, struct store *s)
{
	if (rc < 0 && s)
		log_warn("hooks: idempotency table: %s", store_error(s));
	else if (rc < 0)
		log_warn("hooks: idempotency row of key %s not stored", w->key);
	free(w->hook);
	free(w->key);
	free(w->a);
	free(w->b);
	free(w);
}

static void on_row_written(void *arg, int rc)
{
	row_write_free(arg, rc, NULL);
}

static void put_row(struct hooks *h, bool running, const char *hook, const char *key, const char *a,
		    const char *b)
{
	struct row_write *w = xcalloc(1, sizeof(*w));
	int rc;

	*w = (struct row_write){running, xstrdup(hook), xstrdup(key), xstrdup(a), xstrdup(b)};
	rc = store_write(h->store, write_row, w, on_row_written);
	if (rc != -EINPROGRESS)
		row_write_free(w, rc, h->store);
}

/* Records a keyed run as running with the prompt it can run again from. */
static void mark_running(struct hooks *h, const char *hook, const char *key, const char *run_id,
			 const char *prompt)
{
	put_row(h, true, hook, key, run_id, prompt);
}

static void save_result(struct hooks *h, const char *hook, const char *key, const char *status,
			const char *result)
{
	put_row(h, false, hook, key, status, result);
}

/* --- replies --- */

static void reply_run(struct httpd_req *req, int status, const char *run_id, const char *state,
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
	if (run->retry_ev)
		event_free(run->retry_ev);
	free(run->prompt);
	free(run->key);
	free(run);
}

static void schedule_resume(struct hooks *h, long delay_ms);
static void on_run_done(const struct job_result *r, void *arg);

static int sink_run(struct hook_run *run)
{
	char *source = xasprintf("hook:%s", run->ep->cfg->name);
	int rc = run->h->sink->run(run->h->sink->ctx,
				   &(struct job_opts){.source = source,
						      .model = run->ep->cfg->model,
						      .prompt = run->prompt},
				   on_run_done, run);

	free(source);
	return rc;
}

static void finish_run(struct hook_run *run, const char *status, const char *text);

/* The deferred run's time has come: it starts again (still the hook's run). */
static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct hook_run *run = arg;
	int rc;

	(void)fd;
	(void)what;
	rc = sink_run(run);
	if (rc == 0) {
		log_info("hook %s: run %s starts again after a deferral", run->ep->cfg->name,
			 run->run_id);
		return;
	}
	if (rc == -EBUSY || rc == -EAGAIN) { /* the session or state.db is busy: soon again */
		struct timeval tv = {HOOK_DEFER_MIN_MS / 1000, 0};

		evtimer_add(run->retry_ev, &tv);
		return;
	}
	finish_run(run, "failed", "the deferred run could not start again");
}

/* The run's model call found no room in a rate pool: it runs again later, never dropped. */
static void defer_run(struct hook_run *run, const struct job_result *r)
{
	struct hooks *h = run->h;
	const struct config_hook *hk = run->ep->cfg;
	int64_t delay = r->retry_after_s * 1000;
	struct timeval tv;

	run->deferrals++;
	if (delay < HOOK_DEFER_MIN_MS)
		delay = HOOK_DEFER_MIN_MS;
	if (delay > HOOK_DEFER_MAX_MS)
		delay = HOOK_DEFER_MAX_MS;
	count(h, hk->name, "deferred");
	log_warn("hook %s: run %s deferred (%d in a row): no room in the rate pool; runs again in "
		 "%lld s",
		 hk->name, run->run_id, run->deferrals, (long long)(delay / 1000));
	if (!run->retry_ev)
		run->retry_ev = evtimer_new(loop_base(h->loop), on_retry, run);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(run->retry_ev, &tv);
}

/* Deferred once too often: the pool has had no room for this run for long. It fails, saying
 * so, and the alerts hear of it once. */
static void defer_give_up(struct hook_run *run, const struct job_result *r)
{
	struct hooks *h = run->h;
	char *text = xasprintf("deferred %d times in a row: the rate pool had no room for its "
			       "model call (see `hermetic pools`). Last: %s",
			       run->deferrals + 1, r->text ? r->text : "no room");

	if (h->sink->outcome) {
		char *source = xasprintf("hook:%s", run->ep->cfg->name);

		h->sink->outcome(h->sink->ctx, source, false, text);
		free(source);
	}
	finish_run(run, "failed", text);
	free(text);
}

static void on_run_done(const struct job_result *r, void *arg)
{
	struct hook_run *run = arg;
	const char *text = r->text ? r->text : "";
	const char *status = r->ok ? "ok" : "failed";

	if (!run->h) {
		free_run(run);
		return;
	}
	if (!r->ok && r->deferred && run->prompt) {
		if (run->deferrals + 1 < HOOK_DEFER_GIVE_UP)
			defer_run(run, r);
		else
			defer_give_up(run, r);
		return;
	}
	finish_run(run, status, text);
}

/* The run is over (status "ok" or "failed"): stored, counted, delivered, answered, freed. */
static void finish_run(struct hook_run *run, const char *status, const char *text)
{
	struct hooks *h = run->h;
	const struct config_hook *hk = run->ep->cfg;
	bool ok = strcmp(status, "ok") == 0;
	char *failed = NULL;

	unlink_run(run);
	if (run->key) {
		char *stored = xstrndup(text, utf8_cut(text, strnlen(text, HOOKS_RESULT_MAX)));

		save_result(h, hk->name, run->key, status, stored);
		free(stored);
	}
	count(h, hk->name, status);
	if (!ok) {
		log_warn("hook %s: run %s failed: %s", hk->name, run->run_id, text);
		failed =
			xasprintf("hook %s failed: %s", hk->name, text[0] ? text : "unknown error");
	}
	h->sink->deliver(h->sink->ctx, &hk->deliver, failed ? failed : text);
	if (run->req)
		reply_run(run->req, 200, run->run_id, status, text);
	free(failed);
	free_run(run);
	if (h->resume_pending)
		schedule_resume(h, 0);
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
static char *idempotency_key(const struct config_hook *hk, struct httpd_req *req, const cJSON *root)
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

/* Answers a repeated key; false when the key is new or its run was interrupted (then
 * run_id is that run's id, else ""): the caller runs it. */
static bool answer_prior(struct hooks *h, const struct config_hook *hk, struct httpd_req *req,
			 const char *key, char run_id[24])
{
	struct prior p = {.result = NULL};

	run_id[0] = '\0';
	if (find_prior(h, hk->name, key, &p) < 0)
		return false;
	if (p.interrupted) {
		log_info("hook %s: repeated key of interrupted run %s; running it now", hk->name,
			 p.run_id);
		memcpy(run_id, p.run_id, sizeof(p.run_id));
		free(p.result);
		return false;
	}
	log_info("hook %s: repeated idempotency key; answering with run %s", hk->name, p.run_id);
	count(h, hk->name, "duplicate");
	if (p.running)
		reply_run(req, 202, p.run_id, "accepted", NULL);
	else
		reply_run(req, 200, p.run_id, p.ok ? "ok" : "failed", p.result);
	free(p.result);
	return true;
}

/* Starts a run of prompt; takes key (NULL = none). run_id NULL or "" = a new id. req NULL =
 * nobody waits (a resumed run). */
static int start_run(struct hook_ep *ep, struct httpd_req *req, char *key, const char *prompt,
		     const char *run_id)
{
	struct hooks *h = ep->h;
	const struct config_hook *hk = ep->cfg;
	struct hook_run *run = xcalloc(1, sizeof(*run));
	int rc;

	run->h = h;
	run->ep = ep;
	run->key = key;
	run->prompt = xstrdup(prompt);
	if (run_id && run_id[0])
		snprintf(run->run_id, sizeof(run->run_id), "%s", run_id);
	else
		new_run_id(h, hk->name, run->run_id);
	rc = sink_run(run);
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
		mark_running(h, hk->name, key, run->run_id, prompt);
	if (req && hk->async)
		reply_run(req, 202, run->run_id, "accepted", NULL);
	else
		run->req = req;
	return 0;
}

static void on_hook(struct httpd_req *req, void *arg)
{
	struct hook_ep *ep = arg;
	const struct config_hook *hk = ep->cfg;
	const char *bearer = httpd_bearer(req);
	struct buf prompt;
	char *body, *compact = NULL, *key = NULL, prior_id[24] = "";
	struct json_error jerr;
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
	root = json_parse(body, len, 0, &jerr);
	free(body);
	if (!root) {
		httpd_reply_error(
			req, 400, "invalid_request_error",
			jerr.duplicate ? jerr.msg
				       : "the body must be JSON (Content-Type: application/json)");
		goto out;
	}
	key = idempotency_key(hk, req, root);
	if (key && strlen(key) > HOOKS_KEY_MAX) {
		httpd_reply_error(req, 400, "invalid_request_error",
				  "the idempotency key is longer than 256 bytes");
		goto out;
	}
	if (key && answer_prior(ep->h, hk, req, key, prior_id))
		goto out;
	compact = cJSON_PrintUnformatted(root);
	hooks_render(hk->prompt, compact, &prompt);
	rc = start_run(ep, req, key, buf_str(&prompt), prior_id);
	key = NULL; /* start_run took it */
	if (rc == -EBUSY) {
		count(ep->h, hk->name, "busy");
		httpd_reply_error(req, 409, "conflict_error",
				  "a run of this hook is still going; retry when it has answered");
	} else if (rc == -EAGAIN) {
		/* A fresh session cannot be written: nothing ran, so the sender may repeat it. */
		count(ep->h, hk->name, "locked");
		httpd_add_header(req, "Retry-After", LOCKED_RETRY_AFTER_S);
		httpd_reply_error(
			req, 503, "service_unavailable",
			"the database (state.db) is locked by another process; the run did"
			" not start. Retry shortly");
	} else if (rc < 0) {
		httpd_reply_error(req, 500, "api_error", "the run could not start");
	}
out:
	free(key);
	free(compact);
	buf_finish(&prompt);
	cJSON_Delete(root);
}

/* --- interrupted runs --- */

struct pending {
	char *key;
	char run_id[24];
	char *prompt;
	int64_t crashes;
};

/* The hook's oldest interrupted run with a stored prompt: 0, -ENOENT, or -EIO. */
static int next_interrupted(struct hooks *h, const char *hook, struct pending *out)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(store_db(h->store),
			       "SELECT key, run_id, prompt, crashes FROM hook_runs WHERE hook = ?1"
			       " AND status = 'interrupted' AND prompt != ''"
			       " ORDER BY created_ms, rowid LIMIT 1",
			       -1, &st, NULL))
		return -EIO;
	sqlite3_bind_text(st, 1, hook, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->key = xstrdup((const char *)sqlite3_column_text(st, 0));
		snprintf(out->run_id, sizeof(out->run_id), "%s",
			 (const char *)sqlite3_column_text(st, 1));
		out->prompt = xstrdup((const char *)sqlite3_column_text(st, 2));
		out->crashes = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return -ENOENT;
	log_warn("hooks: reading interrupted runs: %s", sqlite3_errmsg(store_db(h->store)));
	return -EIO;
}

/* A run that a crash or kill cut short HOOKS_MAX_CRASHES times: failed, reported, not run. */
static void give_up(struct hooks *h, struct hook_ep *ep, const struct pending *p)
{
	const struct config_hook *hk = ep->cfg;
	char *why = xasprintf("the gateway died during this run %lld times; it is not run again",
			      (long long)p->crashes);
	char *text = xasprintf("hook %s failed: %s", hk->name, why);

	log_warn("hook %s: run %s: %s", hk->name, p->run_id, why);
	save_result(h, hk->name, p->key, "failed", why);
	count(h, hk->name, "failed");
	h->sink->deliver(h->sink->ctx, &hk->deliver, text);
	free(text);
	free(why);
}

static bool ep_running(struct hooks *h, const struct hook_ep *ep)
{
	for (struct hook_run *r = h->runs; r; r = r->next)
		if (r->ep == ep)
			return true;
	return false;
}

/* Starts the hook's oldest interrupted run unless one of its runs is going (the next one
 * starts when it is done). Returns 1 when one started or the hook is busy, 0 when none is
 * left, or a negative value (retry later). */
static int resume_ep(struct hook_ep *ep)
{
	struct hooks *h = ep->h;
	struct pending p;
	int rc;

	if (ep_running(h, ep))
		return 1;
	for (;;) {
		memset(&p, 0, sizeof(p));
		rc = next_interrupted(h, ep->cfg->name, &p);
		if (rc < 0)
			return rc == -ENOENT ? 0 : rc;
		if (p.crashes < HOOKS_MAX_CRASHES)
			break;
		give_up(h, ep, &p);
		free(p.key);
		free(p.prompt);
	}
	rc = start_run(ep, NULL, p.key, p.prompt, p.run_id); /* takes p.key */
	if (rc == 0)
		log_info("hook %s: run %s did not finish before the gateway stopped; running it"
			 " again",
			 ep->cfg->name, p.run_id);
	else
		log_warn("hook %s: interrupted run %s could not start again (%s); retrying in %d s",
			 ep->cfg->name, p.run_id, strerror(-rc), RESUME_RETRY_S);
	free(p.prompt);
	return rc < 0 ? rc : 1;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct hooks *h = arg;
	bool left = false, failed = false;
	int rc;

	for (size_t i = 0; i < h->cfg->n_hooks; i++) {
		rc = resume_ep(&h->eps[i]);
		left = left || rc != 0;
		failed = failed || rc < 0;
	}
	h->resume_pending = left;
	if (failed)
		schedule_resume(h, RESUME_RETRY_S * 1000);
}

static void schedule_resume(struct hooks *h, long delay_ms)
{
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};

	if (h->resume_ev)
		evtimer_add(h->resume_ev, &tv);
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
		h->m_runs = metrics_add(
			metrics, METRIC_COUNTER, "hermetic_hook_runs_total",
			"Hook requests by outcome (ok, failed, duplicate, busy, locked, deferred)",
			(const char *[]){"hook", "status", NULL});
	exec_sql(h, "DELETE FROM hook_runs WHERE created_ms < ?4", NULL, NULL, NULL,
		 now_wall_ms() - HOOKS_KEEP_MS);
	/* Rows still running belong to a process that was killed or crashed mid-run. */
	if (exec_sql(h,
		     "UPDATE hook_runs SET status = 'interrupted', crashes = crashes + 1"
		     " WHERE status = 'running'",
		     NULL, NULL, NULL, 0) == 0 &&
	    sqlite3_changes(store_db(store)) > 0)
		log_warn("hooks: %d keyed runs were cut short by a crash or kill; they run again",
			 sqlite3_changes(store_db(store)));
	h->resume_ev = evtimer_new(loop_base(loop), on_resume, h);
	h->resume_pending = true;
	schedule_resume(h, 0);
	return h;
}

void hooks_add_routes(struct hooks *h, struct httpd *api)
{
	size_t i;
	char *path;

	for (i = 0; i < h->cfg->n_hooks; i++) {
		path = xasprintf("/v1/hooks/%s", h->cfg->hooks[i].name);
		httpd_route(api, HTTPD_POST | HTTPD_JSON, path, on_hook, &h->eps[i]);
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
		if (run->key && exec_sql(h,
					 "UPDATE hook_runs SET status = 'interrupted'"
					 " WHERE hook = ?1 AND key = ?2 AND status = 'running'",
					 run->ep->cfg->name, run->key, NULL, 0) == 0)
			log_info(
				"hook %s: run %s stopped by the shutdown; it runs again at the next"
				" start",
				run->ep->cfg->name, run->run_id);
		if (run->req)
			httpd_reply_error(run->req, 503, "service_unavailable",
					  "hermetic is shutting down");
		run->req = NULL;
		run->h = NULL;
		run->prev = run->next = NULL;
		/* a deferred run waiting to start again has no turn whose callback would free it */
		if (run->retry_ev && evtimer_pending(run->retry_ev, NULL))
			free_run(run);
	}
	if (h->resume_ev)
		event_free(h->resume_ev);
	free(h->eps);
	free(h);
}
