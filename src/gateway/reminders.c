/* reminders: state.db is the whole state. One libevent timer is armed for the earliest of
 * the active jobs' next_ms and the pending deliveries' pending_next_ms (never more than a
 * minute ahead, so a wall clock step is noticed soon); each fire selects what is due. In
 * memory there is only the list of runs in flight, which keeps a job from starting twice.
 *
 * A run's life: at its start the row is moved on (a one-shot's next_ms cleared, a recurring
 * job's set to its next cron time); its answer is written to `pending` first and delivered
 * after, so a failed delivery is only retried, never re-run. A recurring job whose previous
 * answer is still undelivered skips its run (no spend while the chat cannot be reached).
 *
 * Rejected: one timer per job (the table is small, one query is cheaper than bookkeeping);
 * running a recurring job for every time missed while down (only one, within the grace);
 * keeping jobs in kv like cron's last runs (a chat's list, its limit and the delivery state
 * want real columns).
 */
#include "gateway/reminders.h"
#include "core/config.h"
#include "core/cronexpr.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/store.h"
#include "core/util.h"
#include "gateway/cron.h"
#include "tools/tools.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ARM_MS	 60000
#define RETRY_MS	 2000 /* a due job that could not start (state.db locked) */
#define LATE_MS		 60000
#define BACKOFF_MIN_MS	 30000
#define BACKOFF_MAX_MS	 (3600 * 1000)
#define DONE_KEEP_MS	 (30 * 86400 * 1000LL)
#define INTERVAL_SAMPLES 64
#define DUE_BATCH	 64

#define COLUMNS                                                                                    \
	"id, source, chat_id, thread_id, kind, coalesce(at_ms, 0), coalesce(cron, ''), prompt,"    \
	" title, max_cost_usd, status, coalesce(next_ms, -1), coalesce(last_run_ms, -1),"          \
	" coalesce(last_result, ''), pending, pending_attempts"

struct row {
	int64_t id;
	char *source;
	int64_t chat_id, thread_id;
	bool once;
	int64_t at_ms;
	char *cron, *prompt, *title;
	double max_cost_usd;
	char status[8];
	int64_t next_ms, last_run_ms;
	char *last_result;
	char *pending; /* NULL: nothing to deliver */
	int64_t attempts;
};

struct run;

struct reminders {
	const struct config *cfg;
	struct loop *loop;
	struct store *store;
	const struct reminders_sink *sink;
	struct event *timer;
	struct run *runs;
	int64_t (*clock)(void *arg);
	void *clock_arg;
};

/* One run in flight. r NULL = reminders was destroyed: done only frees it. */
struct run {
	struct reminders *r;
	struct run *next;
	int64_t id;
	char *title;
};

static int64_t now_of(const struct reminders *r)
{
	return r->clock ? r->clock(r->clock_arg) : now_wall_ms();
}

static char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? xstrdup((const char *)t) : NULL;
}

static void row_read(sqlite3_stmt *st, struct row *w)
{
	w->id = sqlite3_column_int64(st, 0);
	w->source = col_text(st, 1);
	w->chat_id = sqlite3_column_int64(st, 2);
	w->thread_id = sqlite3_column_int64(st, 3);
	w->once = strcmp((const char *)sqlite3_column_text(st, 4), "once") == 0;
	w->at_ms = sqlite3_column_int64(st, 5);
	w->cron = col_text(st, 6);
	w->prompt = col_text(st, 7);
	w->title = col_text(st, 8);
	w->max_cost_usd = sqlite3_column_double(st, 9);
	snprintf(w->status, sizeof(w->status), "%s", sqlite3_column_text(st, 10));
	w->next_ms = sqlite3_column_int64(st, 11);
	w->last_run_ms = sqlite3_column_int64(st, 12);
	w->last_result = col_text(st, 13);
	w->pending = col_text(st, 14);
	w->attempts = sqlite3_column_int64(st, 15);
}

static void row_finish(struct row *w)
{
	free(w->source);
	free(w->cron);
	free(w->prompt);
	free(w->title);
	free(w->last_result);
	free(w->pending);
	memset(w, 0, sizeof(*w));
}

static sqlite3_stmt *prepare(struct reminders *r, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(store_db(r->store), sql, -1, &st, NULL) != SQLITE_OK) {
		store_fail(r->store, "reminders");
		log_warn("reminders: %s", store_error(r->store));
		return NULL;
	}
	return st;
}

/* Runs a statement to its end; -EIO (logged) on failure. */
static int finish_stmt(struct reminders *r, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	log_warn("reminders: %s: %s", what, sqlite3_errmsg(store_db(r->store)));
	return -EIO;
}

/* The row id (any chat when source is NULL). 0, -ENOENT, -EIO. */
static int load(struct reminders *r, int64_t id, const char *source, struct row *w)
{
	sqlite3_stmt *st = prepare(r, "SELECT " COLUMNS " FROM reminders WHERE id = ?1 AND"
				      " (?2 IS NULL OR source = ?2)");
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_read(st, w);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

/* Ids selected by sql with now bound to ?1 (at most DUE_BATCH). */
static size_t select_ids(struct reminders *r, const char *sql, int64_t now, int64_t *ids)
{
	sqlite3_stmt *st = prepare(r, sql);
	size_t n = 0;

	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, now);
	while (n < DUE_BATCH && sqlite3_step(st) == SQLITE_ROW)
		ids[n++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void local_time(int64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(out, len, "%a %Y-%m-%d %H:%M %Z", &tm))
		snprintf(out, len, "@%lld", (long long)(ms / 1000));
}

/* The next run of a cron line strictly after now_ms: 0, or -ENOENT (never, or unparsable). */
static int cron_next(const char *line, int64_t now_ms, int64_t *next_ms)
{
	struct cronexpr e;
	char err[8];

	if (cronexpr_parse(line, &e, err, sizeof(err)) < 0)
		return -ENOENT;
	return cron_next_after(&e, now_ms, next_ms);
}

static struct run *find_run(struct reminders *r, int64_t id)
{
	for (struct run *u = r->runs; u; u = u->next)
		if (u->id == id)
			return u;
	return NULL;
}

static void unlink_run(struct reminders *r, struct run *u)
{
	for (struct run **p = &r->runs; *p; p = &(*p)->next)
		if (*p == u) {
			*p = u->next;
			return;
		}
}

static void arm(struct reminders *r, int64_t now)
{
	sqlite3_stmt *st = prepare(r, "SELECT min(m) FROM (SELECT next_ms AS m FROM reminders"
				      " WHERE status = 'active' UNION ALL SELECT pending_next_ms"
				      " FROM reminders WHERE pending IS NOT NULL)");
	int64_t nearest = -1, delay;
	struct timeval tv;

	if (!st)
		return;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		nearest = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (!r->timer || nearest < 0)
		return;
	/* Still due after a tick: it could not start (a locked database); try again soon. */
	delay = nearest <= now ? RETRY_MS : nearest - now;
	if (delay > MAX_ARM_MS)
		delay = MAX_ARM_MS;
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	event_del(r->timer);
	event_add(r->timer, &tv);
}

/* ------------------------------------------------------------------------------------------
 * Delivery
 */

static int64_t backoff_ms(int64_t attempts)
{
	int64_t ms = BACKOFF_MIN_MS;

	while (attempts-- > 1 && ms < BACKOFF_MAX_MS)
		ms *= 2;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* Hands job id's pending answer to its chat; cleared once queued, else retried later. */
static void deliver_pending(struct reminders *r, int64_t id, int64_t now)
{
	struct row w = {0};
	sqlite3_stmt *st;

	if (load(r, id, NULL, &w) < 0 || !w.pending) {
		row_finish(&w);
		return;
	}
	if (r->sink->deliver(r->sink->ctx, w.chat_id, w.thread_id, w.pending) == 0) {
		st = prepare(r, "UPDATE reminders SET pending = NULL, pending_attempts = 0,"
				" pending_next_ms = NULL, status = CASE WHEN kind = 'once' THEN"
				" 'done' ELSE status END WHERE id = ?1");
		if (st) {
			sqlite3_bind_int64(st, 1, id);
			finish_stmt(r, st, "clear a delivered answer");
		}
		row_finish(&w);
		return;
	}
	log_warn("reminders: job %lld: the answer could not be handed to chat %lld (attempt %lld);"
		 " retrying in %lld s",
		 (long long)id, (long long)w.chat_id, (long long)w.attempts + 1,
		 (long long)(backoff_ms(w.attempts + 1) / 1000));
	st = prepare(r, "UPDATE reminders SET pending_attempts = pending_attempts + 1,"
			" pending_next_ms = ?2 WHERE id = ?1");
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now + backoff_ms(w.attempts + 1));
		finish_stmt(r, st, "plan a delivery retry");
	}
	row_finish(&w);
}

/* ------------------------------------------------------------------------------------------
 * Runs
 */

static void on_run_done(const struct job_result *res, void *arg)
{
	struct run *u = arg;
	struct reminders *r = u->r;
	const char *why = res->text && *res->text ? res->text : "unknown error";
	char *text = NULL, *last;
	sqlite3_stmt *st;
	int64_t now;
	size_t len;

	if (!r)
		goto out;
	unlink_run(r, u);
	now = now_of(r);
	if (!res->ok)
		text = xasprintf("The reminder '%s' failed: %s", u->title, why);
	else if (!res->text || !*res->text)
		text = xasprintf("The reminder '%s' ran but gave no answer.", u->title);
	else
		text = xstrdup(res->text);
	len = utf8_cut(text, strnlen(text, REMINDERS_PENDING_MAX));
	text[len] = '\0';
	last = xstrndup(text, utf8_cut(text, strnlen(text, REMINDERS_RESULT_MAX)));
	log_info("reminders: job %lld: %s ($%.4f)", (long long)u->id, res->ok ? "done" : "failed",
		 res->cost_usd);
	/* Stored before it is delivered: a delivery that fails is retried from here. */
	st = prepare(r, "UPDATE reminders SET last_status = ?2, last_result = ?3, pending = ?4,"
			" pending_attempts = 0, pending_next_ms = ?5 WHERE id = ?1");
	if (st) {
		sqlite3_bind_int64(st, 1, u->id);
		sqlite3_bind_text(st, 2, res->ok ? "ok" : "failed", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, last, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now);
	}
	if (!st || finish_stmt(r, st, "store a result") < 0) {
		/* Not stored: hand it over once anyway rather than lose it. */
		struct row w = {0};

		if (load(r, u->id, NULL, &w) == 0)
			r->sink->deliver(r->sink->ctx, w.chat_id, w.thread_id, text);
		row_finish(&w);
	} else if (sqlite3_changes(store_db(r->store)) > 0) {
		deliver_pending(r, u->id, now);
	}
	free(last);
	arm(r, now);
out:
	free(text);
	free(u->title);
	free(u);
}

/* The system text of a run: what is firing, when it was meant to, and the last result. */
static char *run_context(const struct reminders *r, const struct row *w, int64_t now)
{
	char set_for[64], at[64];
	struct buf b;

	buf_init(&b, 0);
	local_time(w->once ? w->at_ms : w->next_ms, set_for, sizeof(set_for));
	buf_printf(&b,
		   "[hermetic] A scheduled job of this chat is firing now (job %lld, \"%s\"): "
		   "the user asked for it earlier. It was set for %s.",
		   (long long)w->id, w->title, set_for);
	if (w->once && now - w->at_ms > LATE_MS) {
		local_time(now, at, sizeof(at));
		buf_printf(&b,
			   " It fires late, at %s, because hermetic was not running at that time:"
			   " say so.",
			   at);
	}
	if (!w->once)
		buf_printf(&b, " It recurs (cron `%s`, %s).", w->cron, r->cfg->timezone);
	buf_puts(&b, " Your answer is sent to the chat as it is: address the user directly and do"
		     " what the job asks.");
	if (!w->once && r->cfg->reminders.continuity && w->last_result && *w->last_result &&
	    w->last_run_ms >= 0) {
		local_time(w->last_run_ms, at, sizeof(at));
		buf_printf(&b, "\n\nThe previous run (%s) answered:\n%s", at, w->last_result);
	}
	return buf_steal(&b);
}

/* Moves a started (or skipped) job on: a one-shot waits for its answer, a recurring job to
 * its next time after now. */
static void move_on(struct reminders *r, const struct row *w, int64_t now, bool started)
{
	int64_t next = -1;
	sqlite3_stmt *st;

	if (!w->once && cron_next(w->cron, now, &next) < 0)
		next = -1;
	st = prepare(r, "UPDATE reminders SET next_ms = ?2, last_run_ms = CASE WHEN ?3 THEN ?4"
			" ELSE last_run_ms END, last_status = CASE WHEN ?3 THEN 'running' ELSE"
			" last_status END WHERE id = ?1");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, w->id);
	if (next >= 0)
		sqlite3_bind_int64(st, 2, next);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int(st, 3, started);
	sqlite3_bind_int64(st, 4, now);
	finish_stmt(r, st, "plan the next run");
}

static void fire(struct reminders *r, int64_t id, int64_t now)
{
	struct row w = {0};
	struct run *u;
	char source[48], *extra;
	int rc;

	if (load(r, id, NULL, &w) < 0 || find_run(r, id))
		goto out;
	if (w.pending) {
		log_warn("reminders: job %lld: run skipped: its previous answer is not delivered "
			 "yet",
			 (long long)id);
		move_on(r, &w, now, false);
		goto out;
	}
	if (!w.once && now - w.next_ms > REMINDERS_GRACE_MS) {
		log_info("reminders: job %lld: the run of %lld s ago was missed; skipping to the "
			 "next",
			 (long long)id, (long long)((now - w.next_ms) / 1000));
		move_on(r, &w, now, false);
		goto out;
	}
	u = xcalloc(1, sizeof(*u));
	u->r = r;
	u->id = id;
	u->title = xstrdup(w.title);
	snprintf(source, sizeof(source), "reminder:%lld", (long long)id);
	extra = run_context(r, &w, now);
	rc = r->sink->run(r->sink->ctx, source, w.prompt, extra, w.max_cost_usd, on_run_done, u);
	free(extra);
	if (rc < 0) {
		free(u->title);
		free(u);
		if (rc == -EAGAIN)
			goto out; /* still due: arm() tries again in RETRY_MS */
		log_warn("reminders: job %lld: the run could not start (%s)", (long long)id,
			 strerror(-rc));
		if (!w.once) {
			move_on(r, &w, now, false);
			goto out;
		}
		/* A one-shot is not lost silently: the chat hears that it failed. */
		move_on(r, &w, now, true);
		u = xcalloc(1, sizeof(*u));
		*u = (struct run){r, r->runs, id, xstrdup(w.title)};
		r->runs = u;
		on_run_done(&(struct job_result){.ok = false, .text = "the run could not start"},
			    u);
		goto out;
	}
	u->next = r->runs;
	r->runs = u;
	move_on(r, &w, now, true);
	log_info("reminders: job %lld started", (long long)id);
out:
	row_finish(&w);
}

void reminders_tick_at(struct reminders *r, int64_t now)
{
	int64_t ids[DUE_BATCH];
	size_t n, i;

	n = select_ids(
		r,
		"SELECT id FROM reminders WHERE pending IS NOT NULL AND pending_next_ms <= ?1"
		" ORDER BY pending_next_ms",
		now, ids);
	for (i = 0; i < n; i++)
		deliver_pending(r, ids[i], now);
	n = select_ids(r,
		       "SELECT id FROM reminders WHERE status = 'active' AND next_ms <= ?1"
		       " ORDER BY next_ms",
		       now, ids);
	for (i = 0; i < n; i++)
		fire(r, ids[i], now);
	arm(r, now);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct reminders *r = arg;

	reminders_tick_at(r, now_of(r));
}

static void exec_now(struct reminders *r, const char *sql, int64_t now, const char *what)
{
	sqlite3_stmt *st = prepare(r, sql);

	if (!st)
		return;
	sqlite3_bind_int64(st, 1, now);
	finish_stmt(r, st, what);
}

void reminders_start(struct reminders *r)
{
	reminders_start_at(r, now_of(r));
}

void reminders_start_at(struct reminders *r, int64_t now)
{
	/* A one-shot run the last process did not finish: run it again (late, and it says so). */
	exec_now(r,
		 "UPDATE reminders SET next_ms = at_ms WHERE kind = 'once' AND status = 'active'"
		 " AND next_ms IS NULL AND pending IS NULL",
		 now, "recover interrupted runs");
	exec_now(r, "UPDATE reminders SET pending_next_ms = ?1 WHERE pending IS NOT NULL", now,
		 "deliver pending answers");
	exec_now(r, "DELETE FROM reminders WHERE status = 'done' AND last_run_ms < ?1 - 2592000000",
		 now, "forget old jobs");
	reminders_tick_at(r, now);
}

/* ------------------------------------------------------------------------------------------
 * Create, list, pause, delete
 */

/* "telegram:<chat>" or "telegram:<chat>:<thread>". */
static int parse_source(const char *source, int64_t *chat, int64_t *thread)
{
	char head[32];
	const char *colon;

	*thread = 0;
	if (!source || strncmp(source, "telegram:", 9) != 0)
		return -EINVAL;
	colon = strchr(source + 9, ':');
	if (!colon)
		return parse_i64(source + 9, INT64_MIN + 1, INT64_MAX, chat) < 0 || !*chat ? -EINVAL
											   : 0;
	if ((size_t)(colon - source - 9) >= sizeof(head))
		return -EINVAL;
	snprintf(head, sizeof(head), "%.*s", (int)(colon - source - 9), source + 9);
	if (parse_i64(head, INT64_MIN + 1, INT64_MAX, chat) < 0 || !*chat ||
	    parse_i64(colon + 1, 1, INT64_MAX, thread) < 0)
		return -EINVAL;
	return 0;
}

/* Whether the text is non-empty and holds no control character but newlines and tabs. */
static bool text_ok(const char *s, bool one_line)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && (one_line || (*s != '\n' && *s != '\t')))
			return false;
	return true;
}

/* A title from the prompt: its first line, cut at 60 bytes. */
static char *title_from(const char *prompt)
{
	size_t len = strcspn(prompt, "\r\n\t");

	if (len > 60)
		len = utf8_cut(prompt, 60);
	return len ? xstrndup(prompt, len) : xstrdup("reminder");
}

/* The shortest gap of the next INTERVAL_SAMPLES runs; -1 when it never runs. */
static int64_t min_gap_ms(const struct cronexpr *e, int64_t now)
{
	int64_t t, prev = -1, gap = -1;

	for (int i = 0; i < INTERVAL_SAMPLES && cron_next_after(e, prev < 0 ? now : prev, &t) == 0;
	     i++) {
		if (prev >= 0 && (gap < 0 || t - prev < gap))
			gap = t - prev;
		prev = t;
	}
	return prev < 0 ? -1 : gap < 0 ? INT64_MAX : gap;
}

static int64_t count_jobs(struct reminders *r, int64_t chat)
{
	sqlite3_stmt *st = prepare(r, "SELECT count(*) FROM reminders WHERE chat_id = ?1 AND"
				      " status IN ('active', 'paused')");
	int64_t n = -1;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, chat);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Checks req; fills *next_ms and *cost. 0, or a negative errno with the reason in out. */
static int check_req(struct reminders *r, const struct tools_schedule_req *req, int64_t now,
		     int64_t *next_ms, double *cost, struct buf *out)
{
	const struct config_reminders *c = &r->cfg->reminders;
	struct cronexpr e;
	char err[160];
	int64_t gap;

	if (!req->prompt || !text_ok(req->prompt, false))
		return buf_puts(out, "prompt is empty or holds control characters; say what to do "
				     "when the job fires"),
		       -EINVAL;
	if (strlen(req->prompt) > REMINDERS_PROMPT_MAX)
		return buf_printf(out, "prompt has %zu bytes; at most %d", strlen(req->prompt),
				  REMINDERS_PROMPT_MAX),
		       -EINVAL;
	if (req->title && (!text_ok(req->title, true) || strlen(req->title) > REMINDERS_TITLE_MAX))
		return buf_printf(out, "title must be one line of 1 to %d bytes",
				  REMINDERS_TITLE_MAX),
		       -EINVAL;
	*cost = req->max_cost_usd > 0 ? req->max_cost_usd : c->max_cost_usd;
	if (*cost > c->max_cost_usd)
		return buf_printf(out,
				  "max_cost_usd $%.4f is above the highest allowed, $%.4f "
				  "(reminders.max_cost_usd)",
				  *cost, c->max_cost_usd),
		       -ERANGE;
	if (!req->cron) {
		/* A minute of slack for the approval between the tool call and here. */
		if (req->at_ms <= now - 60000 || req->at_ms > now + 366 * 86400 * 1000LL)
			return buf_puts(out, "the time is in the past or more than a year ahead"),
			       -ERANGE;
		*next_ms = req->at_ms;
		return 0;
	}
	if (cronexpr_parse(req->cron, &e, err, sizeof(err)) < 0)
		return buf_printf(out, "cron \"%.80s\": %s", req->cron, err), -EINVAL;
	gap = min_gap_ms(&e, now);
	if (gap < 0 || cron_next_after(&e, now, next_ms) < 0)
		return buf_printf(out, "cron \"%.80s\" never runs", req->cron), -EINVAL;
	if (gap < c->min_interval_s * 1000)
		return buf_printf(out,
				  "cron \"%.80s\" runs every %lld minutes; recurring jobs may run "
				  "at most once every %lld minutes (reminders.min_interval_s)",
				  req->cron, (long long)(gap / 60000),
				  (long long)(c->min_interval_s / 60)),
		       -EINVAL;
	return 0;
}

int reminders_add(struct reminders *r, const char *source, const struct tools_schedule_req *req,
		  int64_t *id, struct buf *out)
{
	int64_t chat, thread, next = -1, n, now = now_of(r), new_id;
	char *title = NULL, when[64];
	sqlite3_stmt *st;
	double cost = 0;
	int rc;

	if (parse_source(source, &chat, &thread) < 0)
		return buf_printf(out, "jobs belong to a Telegram chat; %s is none", source),
		       -EINVAL;
	rc = check_req(r, req, now, &next, &cost, out);
	if (rc < 0)
		return rc;
	n = count_jobs(r, chat);
	if (n < 0)
		return buf_puts(out, "the job could not be stored (database error)"), -EIO;
	if (n >= r->cfg->reminders.max_per_chat)
		return buf_printf(out,
				  "this chat already has %lld jobs, the most allowed "
				  "(reminders.max_per_chat); delete one first",
				  (long long)n),
		       -ENOSPC;
	title = req->title ? xstrdup(req->title) : title_from(req->prompt);
	st = prepare(r, "INSERT INTO reminders (source, chat_id, thread_id, kind, at_ms, cron,"
			" prompt, title, max_cost_usd, status, created_ms, next_ms) VALUES (?1, ?2,"
			" ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'active', ?10, ?11)");
	rc = -EIO;
	if (st) {
		sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, chat);
		sqlite3_bind_int64(st, 3, thread);
		sqlite3_bind_text(st, 4, req->cron ? "cron" : "once", -1, SQLITE_STATIC);
		if (req->cron)
			sqlite3_bind_null(st, 5);
		else
			sqlite3_bind_int64(st, 5, req->at_ms);
		sqlite3_bind_text(st, 6, req->cron, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, req->prompt, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, title, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 9, cost);
		sqlite3_bind_int64(st, 10, now);
		sqlite3_bind_int64(st, 11, next);
		rc = finish_stmt(r, st, "store a job");
	}
	if (rc < 0) {
		buf_puts(out, "the job could not be stored (database error)");
		goto out;
	}
	new_id = sqlite3_last_insert_rowid(store_db(r->store));
	if (id)
		*id = new_id;
	local_time(next, when, sizeof(when));
	if (req->cron)
		buf_printf(out,
			   "Scheduled job %lld \"%s\": recurring (cron `%s`, %s), next run %s.",
			   (long long)new_id, title, req->cron, r->cfg->timezone, when);
	else
		buf_printf(out, "Scheduled job %lld \"%s\": once, at %s (%s).", (long long)new_id,
			   title, when, r->cfg->timezone);
	buf_printf(out,
		   " Each run may spend at most $%.4f. The answer of the run is sent to this chat;"
		   " delete it with action delete, id %lld.",
		   cost, (long long)new_id);
	log_info("reminders: job %lld created for %s", (long long)new_id, source);
	arm(r, now);
out:
	free(title);
	return rc;
}

/* The jobs that are not done, of source or (NULL) of every chat, oldest first. */
static int list_jobs(sqlite3 *db, const char *source, struct reminders_job **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct reminders_job *jobs = NULL, *j;
	size_t count = 0, alloc = 0;
	struct row w;
	char at[64];

	*out = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT " COLUMNS ", coalesce(last_status, '') FROM reminders WHERE"
			       " (?1 IS NULL OR source = ?1) AND status != 'done' ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK) {
		log_warn("reminders: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -EIO;
	}
	if (source)
		sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (count == alloc) {
			alloc = alloc ? alloc * 2 : 8;
			jobs = xrealloc(jobs, alloc * sizeof(*jobs));
		}
		memset(&w, 0, sizeof(w));
		row_read(st, &w);
		j = &jobs[count++];
		memset(j, 0, sizeof(*j));
		j->id = w.id;
		snprintf(j->source, sizeof(j->source), "%s", w.source ? w.source : "");
		snprintf(j->title, sizeof(j->title), "%s", w.title);
		j->recurring = !w.once;
		local_time(w.at_ms, at, sizeof(at));
		if (w.once)
			snprintf(j->when, sizeof(j->when), "once at %s", at);
		else
			snprintf(j->when, sizeof(j->when), "cron `%s`", w.cron);
		j->next_ms = w.next_ms;
		j->last_run_ms = w.last_run_ms;
		snprintf(j->last_status, sizeof(j->last_status), "%s",
			 (const char *)sqlite3_column_text(st, 16));
		snprintf(j->status, sizeof(j->status), "%s", w.status);
		j->undelivered = w.pending != NULL;
		row_finish(&w);
	}
	sqlite3_finalize(st);
	*out = jobs;
	*n = count;
	return 0;
}

int reminders_list(struct reminders *r, const char *source, struct reminders_job **out, size_t *n)
{
	return list_jobs(store_db(r->store), source, out, n);
}

int reminders_list_all(struct store *s, struct reminders_job **out, size_t *n)
{
	return list_jobs(store_db(s), NULL, out, n);
}

int reminders_list_text(struct reminders *r, const char *source, bool with_config_cron,
			struct buf *out)
{
	struct reminders_job *jobs;
	char next[64];
	size_t n, i;

	if (reminders_list(r, source, &jobs, &n) < 0)
		return buf_puts(out, "the jobs could not be read (database error)"), -EIO;
	if (!n)
		buf_puts(out, "No reminders or scheduled jobs in this chat.\n");
	for (i = 0; i < n; i++) {
		buf_printf(out, "%lld. \"%s\": %s", (long long)jobs[i].id, jobs[i].title,
			   jobs[i].when);
		if (jobs[i].recurring && jobs[i].next_ms >= 0 &&
		    strcmp(jobs[i].status, "active") == 0) {
			local_time(jobs[i].next_ms, next, sizeof(next));
			buf_printf(out, ", next %s", next);
		}
		if (strcmp(jobs[i].status, "paused") == 0)
			buf_puts(out, " (paused)");
		if (jobs[i].undelivered)
			buf_puts(out, " (its last answer waits to be delivered)");
		buf_puts(out, "\n");
	}
	free(jobs);
	if (!with_config_cron || !r->cfg->n_cron_jobs)
		return 0;
	buf_puts(out, "\nSet up in the config (read-only here):\n");
	for (i = 0; i < r->cfg->n_cron_jobs; i++) {
		const struct config_cron_job *c = &r->cfg->cron_jobs[i];

		buf_printf(out, "- %s: cron `%s`%s\n", c->name, c->schedule,
			   c->enabled ? "" : " (disabled)");
		if (c->report == CONFIG_CRON_REPORT_ON_FAILURE) {
			buf_puts(out, "  ");
			cron_verdicts_text(r->store, c, out);
		}
	}
	return 0;
}

int reminders_pause(struct reminders *r, const char *source, int64_t id, bool paused,
		    struct buf *out)
{
	int64_t now = now_of(r), next = -1;
	struct row w = {0};
	sqlite3_stmt *st;
	int rc = load(r, id, source, &w);

	if (rc == 0 && strcmp(w.status, "done") == 0)
		rc = -ENOENT;
	if (rc < 0) {
		buf_printf(out,
			   rc == -ENOENT ? "There is no job %lld in this chat."
					 : "Job %lld could not be read (database error).",
			   (long long)id);
		goto out;
	}
	next = w.next_ms;
	/* A recurring job resumes at its next time from now, not at the ones it slept through. */
	if (!paused && !w.once && cron_next(w.cron, now, &next) < 0)
		next = -1;
	st = prepare(r, "UPDATE reminders SET status = ?2, next_ms = ?3 WHERE id = ?1");
	rc = -EIO;
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, paused ? "paused" : "active", -1, SQLITE_STATIC);
		if (next >= 0)
			sqlite3_bind_int64(st, 3, next);
		else
			sqlite3_bind_null(st, 3);
		rc = finish_stmt(r, st, "pause a job");
	}
	if (rc == 0)
		buf_printf(out, "Job %lld \"%s\" is %s.", (long long)id, w.title,
			   paused ? "paused" : "active again");
	else
		buf_printf(out, "Job %lld could not be changed (database error).", (long long)id);
	arm(r, now);
out:
	row_finish(&w);
	return rc;
}

int reminders_delete(struct reminders *r, const char *source, int64_t id, struct buf *out)
{
	sqlite3_stmt *st = prepare(r, "DELETE FROM reminders WHERE id = ?1 AND source = ?2 AND"
				      " status != 'done' RETURNING title");
	int rc;

	if (!st)
		return buf_puts(out, "the job could not be deleted (database error)"), -EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		buf_printf(out, "Deleted job %lld \"%s\".", (long long)id,
			   (const char *)sqlite3_column_text(st, 0));
	else if (rc == SQLITE_DONE)
		buf_printf(out, "There is no job %lld in this chat.", (long long)id);
	else
		buf_puts(out, "the job could not be deleted (database error)");
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		log_info("reminders: job %lld deleted by %s", (long long)id, source);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

/* ------------------------------------------------------------------------------------------
 * The scheduler the `schedule` tool calls
 */

static int sched_create(void *arg, const char *source, const struct tools_schedule_req *req,
			struct buf *out)
{
	return reminders_add(arg, source, req, NULL, out);
}

static int sched_list(void *arg, const char *source, struct buf *out)
{
	return reminders_list_text(arg, source, false, out);
}

static int sched_cancel(void *arg, const char *source, int64_t id, struct buf *out)
{
	return reminders_delete(arg, source, id, out);
}

const struct tools_scheduler *reminders_scheduler(void)
{
	static const struct tools_scheduler s = {sched_create, sched_list, sched_cancel};

	return &s;
}

struct reminders *reminders_create(const struct config *cfg, struct loop *loop, struct store *store,
				   const struct reminders_sink *sink)
{
	struct reminders *r = xcalloc(1, sizeof(*r));

	r->cfg = cfg;
	r->loop = loop;
	r->store = store;
	r->sink = sink;
	r->timer = evtimer_new(loop_base(loop), on_timer, r);
	return r;
}

void reminders_set_clock(struct reminders *r, int64_t (*fn)(void *arg), void *arg)
{
	r->clock = fn;
	r->clock_arg = arg;
}

void reminders_destroy(struct reminders *r)
{
	struct run *u, *next;

	if (!r)
		return;
	for (u = r->runs; u; u = next) {
		next = u->next;
		u->r = NULL;
		u->next = NULL;
	}
	if (r->timer)
		event_free(r->timer);
	free(r);
}
