/* spend: a SQLite ledger of upstream calls plus in-memory totals of the budget periods.
 *
 * Every budget (day, month, proxy max_budget, each key's max_budget) is a `struct window`: the
 * bounds of its current period in ms and the period's total. A window is (re)loaded with one
 * indexed SUM when the time asked about leaves its bounds, then kept up to date by
 * spend_record(), so a check within a period is a few comparisons. spend_record() first moves
 * the windows forward to the entry's period, so a reload can neither miss the row nor count it
 * twice. A row that could not be written is still counted and remembered per window
 * (unsaved_usd) until its period ends, so reloading a total after a read error never drops it.
 * A row that finds state.db locked by another process waits in store_write's queue (a copy
 * on s->pending) and is written when the lock goes; a reload meanwhile adds the pending rows
 * of its period, so the row counts once before and once after it lands.
 * Calls in flight hold reservations: each window also keeps reserved_usd, what the attempts in
 * flight reserved in it, which the checks add to the total and spend_release() takes back. A
 * reservation outlives a period change (the call is recorded in the period it ends in), so
 * reserved_usd is not reset with the total. An attempt of unknown cost reserves what is left of
 * each cap, which lets it run alone; the deployment's recent mean cost (a ring of the last
 * costs per deployment, loaded once from the ledger) usually makes it known.
 * Periods come from the process time zone (spend_days.c). Rows on a loop join the store's
 * group commit: held in memory (spend_held.c) and written on the store's committer thread,
 * so the loop never runs an INSERT or waits for a COMMIT; the reports are spend_report.c's.
 * Rejected: querying SQLite in every check (hundreds of microseconds on a Pi SD card against a
 * router overhead budget of tens) and rolling windows (LiteLLM resets budgets at fixed times,
 * and a fixed period needs one number, not a queue of rows).
 */
#include "router/spend.h"
#include "router/spend_days.h"
#include "router/spend_held.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MEAN_CALLS	 16
#define MEAN_DEPLOYMENTS 256
#define MEAN_WINDOW_MS	 (7LL * DAY_S * 1000)
#define BATCHED		 1 /* write_entry: the row is in the store's open batch */

/* Windows of a hold: the three global ones, then W_KEY + the index in s->keys. */
enum { W_DAY, W_MONTH, W_PROXY, W_KEY };

struct window {
	int64_t start_ms, end_ms; /* current period [start, end); empty before the first load */
	double total_usd;	  /* spent in the period: the database sum + later records */
	double unsaved_usd;	  /* the part of total_usd whose rows could not be written */
	double batch_usd;	  /* the part of total_usd in the store's filling batch */
	double writing_usd;	  /* the part in the batch being written (set aside) */
	bool loaded;		  /* total_usd includes the database sum of the period */
	double reserved_usd;	  /* held by attempts in flight (any period) */
	int n_held;		  /* how many attempts hold a part of reserved_usd */
};

/* The last costs of one deployment, for the estimate of a call whose price is unknown. */
struct dep_costs {
	char *id;
	double usd[MEAN_CALLS];
	size_t n, pos;
};

struct key_budget {
	char *hash;
	int64_t span_s;
	struct window w;
};

/* A row waiting in store_write's queue for a database locked by another process. Its cost is
 * in the totals already; a window reloaded meanwhile adds it back (pending_usd). */
struct pending_row {
	struct spend *s;
	struct spend_entry e; /* strings owned */
	struct pending_row *prev, *next;
};

struct spend {
	struct store *store;
	sqlite3 *db; /* for error messages: store_db() would end the open batch */
	const struct config *cfg;
	sqlite3_stmt *sum, *sum_key, *recent;
	struct spend_inserts ins;
	struct spend_held bufs[2];	  /* the rows of the filling batch and of the one written */
	struct spend_held one;		  /* a row written alone (insert), on the loop */
	struct spend_held *fill, *sealed; /* sealed: the committer thread's while it writes */
	size_t sealed_lost;		  /* its rows whose statement failed (set by the writer) */
	struct pending_row *pending;
	struct window day, month, proxy;
	struct key_budget *keys;
	size_t n_keys;
	struct dep_costs *deps;
	size_t n_deps;
	bool write_failing, read_failing; /* a failure is logged once until it clears */
	int64_t day_lo_ms, day_hi_ms;	  /* rows in [lo, hi) have the date day_text */
	char day_text[16];
	char which[80];
	struct spend_refusal refusal; /* the cap spend_reserve last refused */
	bool refused;		      /* refusal holds one */
};

static void failed(struct spend *s, bool *failing, const char *what)
{
	if (!*failing)
		log_error("spend: %s the spend ledger failed: %s; budgets keep counting this "
			  "process's calls",
			  what, sqlite3_errmsg(s->db));
	*failing = true;
}

static void worked(bool *failing, const char *what)
{
	if (*failing)
		log_info("spend: %s the spend ledger works again", what);
	*failing = false;
}

/* Sum of cost_usd over [start, end), for one key_hash or (NULL) all. */
static int db_sum(struct spend *s, const char *key_hash, int64_t start, int64_t end, double *out)
{
	sqlite3_stmt *st = key_hash ? s->sum_key : s->sum;
	int rc;

	sqlite3_bind_int64(st, 1, start);
	sqlite3_bind_int64(st, 2, end);
	if (key_hash)
		sqlite3_bind_text(st, 3, key_hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_double(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW) {
		failed(s, &s->read_failing, "reading");
		return -EIO;
	}
	worked(&s->read_failing, "reading");
	return 0;
}

/* The cost of the rows of w's period (and key_hash's, NULL = all keys) that wait for the
 * database. */
static double pending_usd(const struct spend *s, const struct window *w, const char *key_hash)
{
	double usd = 0;

	for (const struct pending_row *p = s->pending; p; p = p->next)
		if (p->e.ts_ms >= w->start_ms && p->e.ts_ms < w->end_ms &&
		    (!key_hash || (p->e.key_hash && strcmp(key_hash, p->e.key_hash) == 0)))
			usd += p->e.cost_usd;
	return usd;
}

/* Makes w hold the period of span_s holding at_ms, loading its total if needed. Returns 0, or
 * -EIO when the total could not be read (w then counts only this process's records). */
static int refresh(struct spend *s, struct window *w, int64_t span_s, const char *key_hash,
		   int64_t at_ms)
{
	double sum;

	/* The open batch's rows are counted as saved in the current periods: settled before
	 * a period moves or a sum is read. */
	if (at_ms < w->start_ms || at_ms >= w->end_ms || !w->loaded)
		store_batch_end(s->store);
	if (at_ms < w->start_ms || at_ms >= w->end_ms) {
		spend_period(span_s, at_ms, &w->start_ms, &w->end_ms);
		w->total_usd = 0;
		w->unsaved_usd = 0;
		w->loaded = false;
	}
	if (w->loaded)
		return 0;
	if (db_sum(s, key_hash, w->start_ms, w->end_ms, &sum) < 0)
		return -EIO;
	/* Records made while the total was unreadable are in the database, in unsaved, or
	 * still waiting for a lock to go. */
	w->total_usd = sum + w->unsaved_usd + pending_usd(s, w, key_hash);
	w->loaded = true;
	return 0;
}

static struct key_budget *find_key(struct spend *s, const char *key_hash)
{
	size_t i;

	for (i = 0; i < s->n_keys; i++)
		if (strcmp(s->keys[i].hash, key_hash) == 0)
			return &s->keys[i];
	return NULL;
}

static struct key_budget *add_key(struct spend *s, const char *key_hash, int64_t span_s)
{
	struct key_budget *k;

	s->keys = xrealloc(s->keys, (s->n_keys + 1) * sizeof(*s->keys));
	k = &s->keys[s->n_keys++];
	memset(k, 0, sizeof(*k));
	k->hash = xstrdup(key_hash);
	k->span_s = span_s;
	return k;
}

/* The budget of a capped key, created on first use (normally at spend_create). key_hash NULL
 * = computed from the key. */
static struct key_budget *key_budget(struct spend *s, const char *key_hash,
				     const struct config_key *key)
{
	struct key_budget *k;
	char hash[65];

	if (!key_hash) {
		sha256_hex(key->key, strlen(key->key), hash);
		key_hash = hash;
	}
	k = find_key(s, key_hash);
	if (!k)
		return add_key(s, key_hash, key->budget_duration_s);
	if (k->span_s != key->budget_duration_s) {
		k->span_s = key->budget_duration_s;
		memset(&k->w, 0, sizeof(k->w));
	}
	return k;
}

/* The budgets' sums read spend_row, the strings they name looked up once: through the view,
 * SQLite joins every string of every row summed (it drops an unused LEFT JOIN only outside
 * an aggregate). Each reads its time range as a range of ids (SPEND_SINCE); a deployment's
 * recent costs are its last rows by id, the order they were written in. */
static int prepare(struct spend *s)
{
	sqlite3 *db = store_db(s->store);

	s->db = db;
	if (spend_inserts_init(&s->ins, db) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "SELECT cost_usd FROM spend_row WHERE " SPEND_SINCE(
				       "?2") " AND ts_ms >= ?2 AND deployment ="
					     " (SELECT id FROM spend_text WHERE text = ?1)"
					     " AND estimated = 0 ORDER BY id DESC LIMIT ?3",
			       -1, &s->recent, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "SELECT COALESCE(SUM(cost_usd), 0) FROM spend_row"
			       " WHERE " SPEND_SINCE("?1") " AND ts_ms >= ?1 AND ts_ms < ?2",
			       -1, &s->sum, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "SELECT COALESCE(SUM(cost_usd), 0) FROM spend_row WHERE key_hash ="
			       " (SELECT id FROM spend_text WHERE text = ?3) AND " SPEND_SINCE(
				       "?1") " AND ts_ms >= ?1 AND ts_ms < ?2",
			       -1, &s->sum_key, NULL) != SQLITE_OK) {
		log_error("spend: the spend table is unusable: %s (the database schema is older "
			  "than this hermetic; restart it to migrate)",
			  sqlite3_errmsg(db));
		return -EIO;
	}
	return 0;
}

struct spend *spend_create(struct store *store, const struct config *cfg)
{
	struct spend *s = xcalloc(1, sizeof(*s));
	int64_t now = now_wall_ms();
	char hash[65];
	struct key_budget *k;
	size_t i;

	s->store = store;
	s->cfg = cfg;
	spend_held_init(&s->bufs[0]);
	spend_held_init(&s->bufs[1]);
	spend_held_init(&s->one);
	s->fill = &s->bufs[0];
	s->sealed = &s->bufs[1];
	if (prepare(s) < 0) {
		spend_destroy(s);
		return NULL;
	}
	refresh(s, &s->day, DAY_S, NULL, now);
	refresh(s, &s->month, SPAN_MONTH, NULL, now);
	if (cfg->litellm_settings.max_budget_usd > 0)
		refresh(s, &s->proxy, cfg->litellm_settings.budget_duration_s, NULL, now);
	for (i = 0; i < cfg->n_keys; i++) {
		if (cfg->keys[i].max_budget_usd <= 0)
			continue;
		sha256_hex(cfg->keys[i].key, strlen(cfg->keys[i].key), hash);
		k = add_key(s, hash, cfg->keys[i].budget_duration_s);
		refresh(s, &k->w, k->span_s, k->hash, now);
	}
	return s;
}

void spend_destroy(struct spend *s)
{
	size_t i;

	if (!s)
		return;
	/* Rows waiting for a locked database: a last try (their callbacks use s). */
	if (s->pending)
		store_flush(s->store);
	store_batch_end(s->store); /* its end callback uses s */
	spend_inserts_finish(&s->ins);
	spend_held_finish(&s->bufs[0]);
	spend_held_finish(&s->bufs[1]);
	spend_held_finish(&s->one);
	sqlite3_finalize(s->sum);
	sqlite3_finalize(s->sum_key);
	sqlite3_finalize(s->recent);
	for (i = 0; i < s->n_keys; i++)
		free(s->keys[i].hash);
	free(s->keys);
	for (i = 0; i < s->n_deps; i++)
		free(s->deps[i].id);
	free(s->deps);
	free(s);
}

/* The local date of a row, "YYYY-MM-DD". localtime_r reads TZ from the environment on every
 * call, so the date is kept with the bounds of its day: when the UTC offset at the day's first
 * and last millisecond is the same (not a DST change day, whose rows each ask again), local
 * time runs evenly between them and every instant in between has that date. */
static const char *row_day(struct spend *s, int64_t ms)
{
	int64_t day, lo, hi;
	struct tm a, b;

	if (ms >= s->day_lo_ms && ms < s->day_hi_ms)
		return s->day_text;
	day = spend_local_day(ms);
	spend_day_string(day, s->day_text);
	lo = spend_local_midnight_ms(day);
	hi = spend_local_midnight_ms(day + 1);
	spend_local_tm(lo, &a);
	spend_local_tm(hi - 1, &b);
	if (lo <= ms && ms < hi && a.tm_gmtoff == b.tm_gmtoff &&
	    spend_days_from_civil(a.tm_year + 1900LL, a.tm_mon + 1, a.tm_mday) == day &&
	    spend_days_from_civil(b.tm_year + 1900LL, b.tm_mon + 1, b.tm_mday) == day) {
		s->day_lo_ms = lo;
		s->day_hi_ms = hi;
	} else {
		s->day_lo_ms = s->day_hi_ms = 0;
	}
	return s->day_text;
}

static int insert(struct spend *s, const struct spend_entry *e)
{
	int rc = spend_held_insert(&s->one, &s->ins, e, row_day(s, e->ts_ms));

	/* Another process's lock is logged by the store, and the row waits for it. */
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return -EBUSY;
	if (rc != SQLITE_DONE) {
		failed(s, &s->write_failing, "writing");
		return -EIO;
	}
	worked(&s->write_failing, "writing");
	return 0;
}

static void add(struct window *w, int64_t ts_ms, double cost_usd, int rc)
{
	if (ts_ms < w->start_ms || ts_ms >= w->end_ms)
		return;
	w->total_usd += cost_usd;
	if (rc == -EIO)
		w->unsaved_usd += cost_usd;
	else if (rc == BATCHED)
		w->batch_usd += cost_usd;
}

static void settle_batch(struct window *w, int rc)
{
	if (rc < 0)
		w->unsaved_usd += w->writing_usd;
	w->writing_usd = 0;
}

static void add_unsaved(struct spend *s, const struct spend_entry *e);
static int queue_row(struct spend *s, const struct spend_entry *e);

static void seal_window(struct window *w)
{
	w->writing_usd = w->batch_usd;
	w->batch_usd = 0;
}

/* The batch's rows are queued: its share leaves the windows' writing part. */
static void drop_writing(struct spend *s)
{
	s->day.writing_usd = 0;
	s->month.writing_usd = 0;
	s->proxy.writing_usd = 0;
	for (size_t i = 0; i < s->n_keys; i++)
		s->keys[i].w.writing_usd = 0;
}

/* store_held_ops.seal, on the loop: the filling batch closes; its rows and their share of the
 * totals are set aside for the committer, and the next rows fill the other buffer. */
static void seal_held(void *arg)
{
	struct spend *s = arg;
	struct spend_held *t = s->sealed;
	size_t i;

	s->sealed = s->fill;
	s->fill = t;
	spend_held_drop(s->fill);
	seal_window(&s->day);
	seal_window(&s->month);
	seal_window(&s->proxy);
	for (i = 0; i < s->n_keys; i++)
		seal_window(&s->keys[i].w);
}

/* store_held_ops.write, on the committer thread: the rows set aside, nothing else of s. */
static void write_held(void *arg, sqlite3 *db)
{
	struct spend *s = arg;

	s->sealed_lost = spend_held_write(s->sealed, &s->ins, db);
}

static void unbatch(struct spend *s, const struct spend_entry *e);

static void lost(void *arg, const struct spend_entry *e)
{
	unbatch(arg, e);
}

/* store_held_ops.done, on the loop: the batch's rows are in the database, or (rolled back)
 * only in the totals, kept there as unsaved until their periods end; so are the rows of a
 * statement that failed in a batch that committed. */
static void held_done(void *arg, int rc)
{
	struct spend *s = arg;
	size_t i;

	if (rc == -EBUSY) {
		/* Another process holds the lock: the rows wait in the queue, as a row alone would,
		 * and their share of the totals with them (pending_usd). */
		for (i = 0; i < s->sealed->n; i++) {
			struct spend_entry e = spend_held_entry(s->sealed, i);

			if (queue_row(s, &e) == -EIO)
				add_unsaved(s, &e);
		}
		spend_held_drop(s->sealed);
		drop_writing(s);
		return;
	}
	if (s->sealed_lost) {
		spend_held_each_lost(s->sealed, lost, s);
		if (rc == 0)
			log_error(
				"spend: %zu ledger rows were not written: %s; budgets keep counting"
				" them until their periods end",
				s->sealed_lost,
				s->sealed->err[0] ? s->sealed->err : store_error(s->store));
		s->write_failing = true;
	} else if (rc == 0 && s->sealed->n) {
		worked(&s->write_failing, "writing");
	}
	if (rc < 0)
		log_error("spend: the ledger rows of one batch ($%.6f today) were not written:"
			  " %s; budgets keep counting them until their periods end",
			  s->day.writing_usd, store_error(s->store));
	s->sealed_lost = 0;
	spend_held_drop(s->sealed);
	settle_batch(&s->day, rc);
	settle_batch(&s->month, rc);
	settle_batch(&s->proxy, rc);
	for (i = 0; i < s->n_keys; i++)
		settle_batch(&s->keys[i].w, rc);
}

static const struct store_held_ops held_ops = {seal_held, write_held, held_done};

/* A row counted in the totals whose write finally failed: from now on only unsaved keeps it
 * across a reload of its window. */
static void keep_unsaved(struct window *w, int64_t ts_ms, double cost_usd)
{
	if (ts_ms >= w->start_ms && ts_ms < w->end_ms)
		w->unsaved_usd += cost_usd;
}

static void add_unsaved(struct spend *s, const struct spend_entry *e)
{
	struct key_budget *k = e->key_hash ? find_key(s, e->key_hash) : NULL;

	keep_unsaved(&s->day, e->ts_ms, e->cost_usd);
	keep_unsaved(&s->month, e->ts_ms, e->cost_usd);
	if (s->cfg->litellm_settings.max_budget_usd > 0)
		keep_unsaved(&s->proxy, e->ts_ms, e->cost_usd);
	if (k)
		keep_unsaved(&k->w, e->ts_ms, e->cost_usd);
}

static void pending_free(struct pending_row *p)
{
	free((char *)p->e.model_group);
	free((char *)p->e.deployment);
	free((char *)p->e.key_hash);
	free((char *)p->e.cost_source);
	free((char *)p->e.lane);
	free(p);
}

static int write_pending(struct store *store, void *arg)
{
	struct pending_row *p = arg;

	return insert(p->s, &p->e);
}

/* The row waited for a lock and is written now (rc 0: the database's sums hold it), or never
 * will be (unsaved keeps it in the totals until its period ends). */
static void on_pending_written(void *arg, int rc)
{
	struct pending_row *p = arg;
	struct spend *s = p->s;

	if (p->prev)
		p->prev->next = p->next;
	else
		s->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	if (rc < 0) {
		log_error("spend: a ledger row of $%.6f (%s) was not written: %s; budgets keep"
			  " counting it until its period ends",
			  p->e.cost_usd, p->e.model_group, store_error(s->store));
		add_unsaved(s, &p->e);
	}
	pending_free(p);
}

/* A row set aside that could not be written: its cost leaves the batch's share for unsaved,
 * so neither a commit nor a rollback of the batch counts it again. */
static void unbatch_window(struct window *w, int64_t ts_ms, double cost_usd)
{
	if (ts_ms >= w->start_ms && ts_ms < w->end_ms) {
		w->writing_usd -= cost_usd;
		w->unsaved_usd += cost_usd;
	}
}

static void unbatch(struct spend *s, const struct spend_entry *e)
{
	struct key_budget *k = e->key_hash ? find_key(s, e->key_hash) : NULL;

	unbatch_window(&s->day, e->ts_ms, e->cost_usd);
	unbatch_window(&s->month, e->ts_ms, e->cost_usd);
	if (s->cfg->litellm_settings.max_budget_usd > 0)
		unbatch_window(&s->proxy, e->ts_ms, e->cost_usd);
	if (k)
		unbatch_window(&k->w, e->ts_ms, e->cost_usd);
}

/* The row waits in store_write's queue for the database (-EINPROGRESS), copied; or, with no
 * loop to wait on, fails (-EIO). */
static int queue_row(struct spend *s, const struct spend_entry *e)
{
	struct pending_row *p;
	int rc;

	p = xcalloc(1, sizeof(*p));
	p->s = s;
	p->e = *e;
	p->e.model_group = xstrdup(e->model_group);
	p->e.deployment = xstrdup(e->deployment);
	p->e.key_hash = e->key_hash ? xstrdup(e->key_hash) : NULL;
	p->e.cost_source = xstrdup(e->cost_source);
	p->e.lane = e->lane ? xstrdup(e->lane) : NULL;
	rc = store_write_later(s->store, write_pending, p, on_pending_written);
	if (rc != -EINPROGRESS) {
		pending_free(p);
		if (rc == -EBUSY) /* no loop to wait on (a CLI command): as final as any error */
			failed(s, &s->write_failing, "writing");
		return rc < 0 ? -EIO : 0;
	}
	p->next = s->pending;
	if (p->next)
		p->next->prev = p;
	s->pending = p;
	return rc;
}

/* Writes the row into the store's batch (BATCHED: held, and written with the batch's other
 * rows on the store's committer thread; held_done tells how it went) or, when no batch takes
 * it, at once (0), or queues it behind another process's lock or a full batch (store_write;
 * -EINPROGRESS). -EIO when it failed. */
static int write_entry(struct spend *s, const struct spend_entry *e)
{
	int rc;

	/* Written at once unless rows wait for a lock: the copy is made only for the queue. */
	if (!store_writes_waiting(s->store)) {
		rc = store_batch_hold(s->store, &held_ops, s);
		/* (The store closes a batch at STORE_BATCH_HARD_ROWS rows: fill always has room.)
		 */
		if (rc == 0 && spend_held_add(s->fill, e, row_day(s, e->ts_ms)))
			return BATCHED;
		if (rc == -ENOTSUP)
			rc = insert(s, e);
		else if (rc == 0)
			rc = -EBUSY;
		if (rc != -EBUSY)
			return rc;
	}
	return queue_row(s, e);
}

static struct dep_costs *find_dep(struct spend *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->n_deps; i++)
		if (strcmp(s->deps[i].id, id) == 0)
			return &s->deps[i];
	return NULL;
}

static void push_cost(struct dep_costs *d, double usd)
{
	d->usd[d->pos] = usd;
	d->pos = (d->pos + 1) % MEAN_CALLS;
	if (d->n < MEAN_CALLS)
		d->n++;
}

/* Only deployments whose history was loaded keep one: a later load reads this row anyway. */
static void note_cost(struct spend *s, const char *deployment, double usd)
{
	struct dep_costs *d = find_dep(s, deployment);

	if (d)
		push_cost(d, usd);
}

static struct dep_costs *load_dep(struct spend *s, const char *id, int64_t now_ms)
{
	sqlite3_stmt *st = s->recent;
	struct dep_costs *d;
	int rc;

	if (s->n_deps >= MEAN_DEPLOYMENTS)
		return NULL;
	store_batch_end(s->store); /* the recent costs include the batches' rows */
	s->deps = xrealloc(s->deps, (s->n_deps + 1) * sizeof(*s->deps));
	d = &s->deps[s->n_deps++];
	memset(d, 0, sizeof(*d));
	d->id = xstrdup(id);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ms - MEAN_WINDOW_MS);
	sqlite3_bind_int(st, 3, MEAN_CALLS);
	for (;;) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		push_cost(d, sqlite3_column_double(st, 0));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		failed(s, &s->read_failing, "reading");
	return d;
}

int spend_deployment_mean(struct spend *s, const char *deployment, int64_t now_ms, double *mean_usd)
{
	struct dep_costs *d = find_dep(s, deployment);
	double sum = 0;
	size_t i;

	if (!d)
		d = load_dep(s, deployment, now_ms);
	if (!d || d->n == 0)
		return -ENOENT;
	for (i = 0; i < d->n; i++)
		sum += d->usd[i];
	*mean_usd = sum / (double)d->n;
	return 0;
}

double spend_estimate_usd(size_t prompt_bytes, int64_t output_tokens, double input_price,
			  double output_price, double mean_usd)
{
	if (input_price > 0 || output_price > 0)
		return (double)(prompt_bytes / 4) * (input_price > 0 ? input_price : 0) +
		       (double)(output_tokens > 0 ? output_tokens : 0) *
			       (output_price > 0 ? output_price : 0);
	return mean_usd >= 0 && isfinite(mean_usd) ? mean_usd : -1;
}

int spend_record(struct spend *s, const struct spend_entry *e)
{
	struct key_budget *k = e->key_hash ? find_key(s, e->key_hash) : NULL;
	const int64_t proxy_span = s->cfg->litellm_settings.budget_duration_s;
	bool proxy = s->cfg->litellm_settings.max_budget_usd > 0;
	int rc;

	/* Move windows whose period ended to the entry's period before it is written. */
	if (e->ts_ms >= s->day.end_ms)
		refresh(s, &s->day, DAY_S, NULL, e->ts_ms);
	if (e->ts_ms >= s->month.end_ms)
		refresh(s, &s->month, SPAN_MONTH, NULL, e->ts_ms);
	if (proxy && e->ts_ms >= s->proxy.end_ms)
		refresh(s, &s->proxy, proxy_span, NULL, e->ts_ms);
	if (k && e->ts_ms >= k->w.end_ms)
		refresh(s, &k->w, k->span_s, k->hash, e->ts_ms);
	/* A row that waits for the database counts as saved: it is in s->pending, which a
	 * reload adds, until it is written or given up (then unsaved). */
	rc = write_entry(s, e);
	add(&s->day, e->ts_ms, e->cost_usd, rc);
	add(&s->month, e->ts_ms, e->cost_usd, rc);
	if (proxy)
		add(&s->proxy, e->ts_ms, e->cost_usd, rc);
	if (k)
		add(&k->w, e->ts_ms, e->cost_usd, rc);
	if (!e->estimated)
		note_cost(s, e->deployment, e->cost_usd);
	return rc == BATCHED ? 0 : rc;
}

/* Python's repr() of a float, which is what LiteLLM prints: the shortest digits that read back
 * as v, positional with at least one decimal for 1e-4 <= |v| < 1e16. */
static void py_float(double v, char *out, size_t len)
{
	char tmp[40], *e;
	int prec, exp;

	if (!isfinite(v)) {
		snprintf(out, len, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
	e = strchr(tmp, 'e');
	exp = e ? (int)strtol(e + 1, NULL, 10) : 0;
	if (v != 0 && (exp < -4 || exp >= 16)) {
		snprintf(out, len, "%s", tmp);
		return;
	}
	snprintf(out, len, "%.*f", prec - 1 - exp > 1 ? prec - 1 - exp : 1, v);
}

struct cap {
	enum spend_cap_kind kind;
	const char *name;
	double max_usd;
	struct window *w;
	int64_t span_s;
	const char *key_hash; /* NULL = all keys */
	int window;	      /* W_DAY... for a hold */
};

/* out = "key:" and at most max bytes of name, cut to fit size, as snprintf's "key:%.*s" would
 * write it; without printf: it runs twice for every call of a key with a budget. */
static void name_key(char *out, size_t size, const char *name, size_t max)
{
	size_t n = strnlen(name, max);

	memcpy(out, "key:", 4);
	if (n > size - 5)
		n = size - 5;
	memcpy(out + 4, name, n);
	out[4 + n] = '\0';
}

static size_t caps_of(struct spend *s, const char *key_hash, const struct config_key *key,
		      struct cap caps[4])
{
	const struct config *cfg = s->cfg;
	struct key_budget *k;
	size_t n = 0;

	if (cfg->budget.daily_usd > 0)
		caps[n++] = (struct cap){.kind = SPEND_CAP_DAY,
					 .name = "daily",
					 .max_usd = cfg->budget.daily_usd,
					 .w = &s->day,
					 .span_s = DAY_S,
					 .window = W_DAY};
	if (cfg->budget.monthly_usd > 0)
		caps[n++] = (struct cap){.kind = SPEND_CAP_MONTH,
					 .name = "monthly",
					 .max_usd = cfg->budget.monthly_usd,
					 .w = &s->month,
					 .span_s = SPAN_MONTH,
					 .window = W_MONTH};
	if (cfg->litellm_settings.max_budget_usd > 0)
		caps[n++] = (struct cap){.kind = SPEND_CAP_ROUTER,
					 .name = "max_budget",
					 .max_usd = cfg->litellm_settings.max_budget_usd,
					 .w = &s->proxy,
					 .span_s = cfg->litellm_settings.budget_duration_s,
					 .window = W_PROXY};
	if (key && key->max_budget_usd > 0) {
		k = key_budget(s, key_hash, key);
		name_key(s->which, sizeof(s->which), key->alias ? key->alias : k->hash,
			 key->alias ? SIZE_MAX : 8);
		caps[n++] = (struct cap){.kind = SPEND_CAP_KEY,
					 .name = s->which,
					 .max_usd = key->max_budget_usd,
					 .w = &k->w,
					 .span_s = k->span_s,
					 .key_hash = k->hash,
					 .window = W_KEY + (int)(k - s->keys)};
	}
	return n;
}

int spend_check(struct spend *s, const char *key_hash, const struct config_key *key, int64_t now_ms,
		char *msg, size_t msg_len, const char **which)
{
	return spend_reserve(s, key_hash, key, now_ms, 0, NULL, msg, msg_len, which);
}

static void refused(const struct cap *c, char *msg, size_t msg_len)
{
	char cost[40], max[40], held[40];
	int n;

	if (!msg || !msg_len)
		return;
	py_float(c->w->total_usd, cost, sizeof(cost));
	py_float(c->max_usd, max, sizeof(max));
	n = snprintf(msg, msg_len, "Budget has been exceeded! Current cost: %s, Max budget: %s",
		     cost, max);
	if (c->w->total_usd < c->max_usd && n > 0 && (size_t)n < msg_len) {
		py_float(c->w->reserved_usd, held, sizeof(held));
		snprintf(msg + n, msg_len - (size_t)n, "; calls in flight may add %s", held);
	}
}

static void note_refusal(struct spend *s, const struct cap *c)
{
	static const char *const keys[] = {
		[SPEND_CAP_DAY] = "budget.daily_usd",
		[SPEND_CAP_MONTH] = "budget.monthly_usd",
		[SPEND_CAP_ROUTER] = "litellm_settings.max_budget",
		[SPEND_CAP_KEY] = "max_budget",
	};
	struct spend_refusal *r = &s->refusal;

	memset(r, 0, sizeof(*r));
	r->kind = c->kind;
	r->config_key = keys[c->kind];
	if (c->kind == SPEND_CAP_KEY)
		snprintf(r->key_name, sizeof(r->key_name), "%s", c->name + strlen("key:"));
	r->spent_usd = c->w->total_usd;
	r->max_usd = c->max_usd;
	r->reserved_usd = c->w->reserved_usd;
	r->in_flight = c->w->total_usd < c->max_usd;
	r->resets_ms = c->w->end_ms == INT64_MAX ? -1 : c->w->end_ms;
	s->refused = true;
}

int spend_last_refusal(const struct spend *s, struct spend_refusal *out)
{
	if (!s || !s->refused)
		return -ENOENT;
	*out = s->refusal;
	return 0;
}

static struct window *window_of(struct spend *s, int window)
{
	switch (window) {
	case W_DAY:
		return &s->day;
	case W_MONTH:
		return &s->month;
	case W_PROXY:
		return &s->proxy;
	default:
		return &s->keys[window - W_KEY].w;
	}
}

int spend_reserve(struct spend *s, const char *key_hash, const struct config_key *key,
		  int64_t now_ms, double est_usd, struct spend_hold *hold, char *msg,
		  size_t msg_len, const char **which)
{
	struct cap caps[4];
	size_t i, n = caps_of(s, key_hash, key, caps);
	int busy = -1; /* the cap that refuses */
	double usd;

	if (msg && msg_len)
		msg[0] = '\0';
	if (which)
		*which = NULL;
	if (hold)
		memset(hold, 0, sizeof(*hold));
	s->refused = false;
	for (i = 0; i < n; i++) {
		if (refresh(s, caps[i].w, caps[i].span_s, caps[i].key_hash, now_ms) < 0) {
			if (msg && msg_len)
				snprintf(msg, msg_len,
					 "Budget check failed: the spend ledger cannot be read "
					 "(see hermetic's log)");
			if (which)
				*which = caps[i].name;
			return -EIO;
		}
		if (caps[i].w->total_usd + caps[i].w->reserved_usd < caps[i].max_usd)
			continue;
		/* A cap reached by spend wins over one only reservations fill. */
		if (busy < 0 || caps[i].w->total_usd >= caps[i].max_usd)
			busy = (int)i;
		if (caps[i].w->total_usd >= caps[i].max_usd)
			break;
	}
	if (busy >= 0) {
		note_refusal(s, &caps[busy]);
		refused(&caps[busy], msg, msg_len);
		if (which)
			*which = caps[busy].name;
		return caps[busy].w->total_usd >= caps[busy].max_usd ? -EDQUOT : -EBUSY;
	}
	if (!hold)
		return 0;
	for (i = 0; i < n; i++) {
		struct window *w = caps[i].w;

		usd = est_usd >= 0 && isfinite(est_usd)
			      ? est_usd
			      : caps[i].max_usd - w->total_usd - w->reserved_usd;
		w->reserved_usd += usd;
		w->n_held++;
		hold->usd[hold->n] = usd;
		hold->window[hold->n++] = caps[i].window;
	}
	return 0;
}

void spend_release(struct spend *s, struct spend_hold *hold)
{
	size_t i;

	for (i = 0; i < hold->n; i++) {
		struct window *w = window_of(s, hold->window[i]);

		w->reserved_usd -= hold->usd[i];
		/* The last one out leaves exactly nothing, not a rounding residue. */
		if (--w->n_held <= 0) {
			w->n_held = 0;
			w->reserved_usd = 0;
		}
	}
	hold->n = 0;
}

double spend_day_usd(struct spend *s, int64_t now_ms)
{
	refresh(s, &s->day, DAY_S, NULL, now_ms);
	return s->day.total_usd;
}

double spend_month_usd(struct spend *s, int64_t now_ms)
{
	refresh(s, &s->month, SPAN_MONTH, NULL, now_ms);
	return s->month.total_usd;
}

double spend_key_remaining_usd(struct spend *s, const char *key_hash, const struct config_key *key,
			       int64_t now_ms)
{
	struct key_budget *k;

	if (!key || key->max_budget_usd <= 0)
		return -1;
	k = key_budget(s, key_hash, key);
	refresh(s, &k->w, k->span_s, k->hash, now_ms);
	return key->max_budget_usd - k->w.total_usd;
}

double spend_proxy_remaining_usd(struct spend *s, int64_t now_ms)
{
	const struct config_litellm_settings *ls = &s->cfg->litellm_settings;

	if (ls->max_budget_usd <= 0)
		return -1;
	refresh(s, &s->proxy, ls->budget_duration_s, NULL, now_ms);
	return ls->max_budget_usd - s->proxy.total_usd;
}
