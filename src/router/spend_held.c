/* spend_held: the rows of a store batch, copied when recorded on the loop and written as the
 * batch commits on the store's committer thread. One statement per row cost the program's
 * start, the table's open and the halt every time (about 13k instructions a row, with a batch
 * of 20 rows at 1,000 req/s); an INSERT of 16 rows pays them once. The statements are three
 * fixed sizes (16, 4, 1), not one per row count: each prepared statement is tens of KiB. The
 * rows' strings are copied into one growing buffer, reused from batch to batch, so holding a
 * row allocates nothing in the steady state. The ledger keeps two (filling, and set aside
 * for the committer), so the loop neither writes rows nor waits for a COMMIT: those stalls,
 * every STORE_BATCH_MS, were the router's p99.
 */
#include "router/spend_held.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BIG      16
#define CHUNK_SMALL    4
#define INSERT_COLUMNS 13
/* OR FAIL, not the default ABORT: a multi-row INSERT that may abort part-way makes SQLite keep
 * a statement journal (in memory: malloc, copy and free of every page the statement touches,
 * a sixth of the committer's instructions). A statement that fails under OR FAIL keeps the rows
 * it wrote before the failing one (VALUES rows go in order); the connection's change count says
 * how many, and write_rows marks only the rest lost, so no row is both in the table and in the
 * unsaved totals. */
#define INSERT_SQL                                                                                 \
	"INSERT OR FAIL INTO spend (ts_ms, day, model_group, deployment, key_hash,"                \
	" input_tokens, output_tokens, cost_usd, cost_source, estimated,"                          \
	" cached_tokens, cache_write_tokens, lane) VALUES "

static int prepare_rows(sqlite3 *db, size_t n, sqlite3_stmt **st)
{
	struct buf sql;
	int rc;

	buf_init(&sql, 0);
	buf_puts(&sql, INSERT_SQL);
	for (size_t i = 0; i < n; i++)
		buf_puts(&sql, i ? ",(?,?,?,?,?,?,?,?,?,?,?,?,?)" : "(?,?,?,?,?,?,?,?,?,?,?,?,?)");
	rc = sqlite3_prepare_v3(db, buf_str(&sql), -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
	buf_finish(&sql);
	return rc;
}

int spend_inserts_init(struct spend_inserts *ins, sqlite3 *db)
{
	int rc;

	memset(ins, 0, sizeof(*ins));
	rc = prepare_rows(db, 1, &ins->one);
	if (rc == SQLITE_OK)
		rc = prepare_rows(db, CHUNK_SMALL, &ins->small);
	if (rc == SQLITE_OK)
		rc = prepare_rows(db, CHUNK_BIG, &ins->big);
	return rc;
}

void spend_inserts_finish(struct spend_inserts *ins)
{
	sqlite3_finalize(ins->one);
	sqlite3_finalize(ins->small);
	sqlite3_finalize(ins->big);
	memset(ins, 0, sizeof(*ins));
}

void spend_held_init(struct spend_held *h)
{
	h->rows = NULL;
	h->n = h->cap = 0;
	h->err[0] = '\0';
	buf_init(&h->text, 0);
}

void spend_held_finish(struct spend_held *h)
{
	free(h->rows);
	buf_finish(&h->text);
}

/* The row's parameters in st from row * INSERT_COLUMNS + 1: text[] in the order of
 * SPEND_HELD_STRINGS, each with its length (-1: measured by SQLite; NULL binds NULL, but the
 * lane NULL as ""). */
static void bind_row(sqlite3_stmt *st, int row, const struct spend_entry *e,
		     const char *const text[SPEND_HELD_STRINGS], const int len[SPEND_HELD_STRINGS])
{
	int i = row * INSERT_COLUMNS;

	sqlite3_bind_int64(st, i + 1, e->ts_ms);
	sqlite3_bind_text(st, i + 2, text[5], len[5], SQLITE_STATIC);
	sqlite3_bind_text(st, i + 3, text[0], len[0], SQLITE_STATIC);
	sqlite3_bind_text(st, i + 4, text[1], len[1], SQLITE_STATIC);
	sqlite3_bind_text(st, i + 5, text[2], len[2], SQLITE_STATIC);
	sqlite3_bind_int64(st, i + 6, e->input_tokens);
	sqlite3_bind_int64(st, i + 7, e->output_tokens);
	sqlite3_bind_double(st, i + 8, e->cost_usd);
	sqlite3_bind_text(st, i + 9, text[3], len[3], SQLITE_STATIC);
	sqlite3_bind_int(st, i + 10, e->estimated);
	sqlite3_bind_int64(st, i + 11, e->cached_tokens);
	sqlite3_bind_int64(st, i + 12, e->cache_write_tokens);
	if (text[4])
		sqlite3_bind_text(st, i + 13, text[4], len[4], SQLITE_STATIC);
	else
		sqlite3_bind_text(st, i + 13, "", 0, SQLITE_STATIC);
}

void spend_held_bind(sqlite3_stmt *st, int row, const struct spend_entry *e, const char *day)
{
	const char *const text[SPEND_HELD_STRINGS] = {e->model_group, e->deployment, e->key_hash,
						      e->cost_source, e->lane,	     day};
	static const int len[SPEND_HELD_STRINGS] = {-1, -1, -1, -1, -1, -1};

	bind_row(st, row, e, text, len);
}

/* A row's string, copied with its NUL; *len its length (SIZE_MAX offset for NULL). Strings
 * longer than 4 GiB cannot reach here: a row's names and ids come from the config and the
 * request, both capped far below. */
static size_t put_text(struct spend_held *h, const char *v, uint32_t *len)
{
	size_t off = h->text.len, n;

	*len = 0;
	if (!v)
		return SIZE_MAX;
	n = strlen(v);
	buf_append(&h->text, v, n + 1);
	*len = (uint32_t)n;
	return off;
}

static const char *text_at(const struct spend_held *h, size_t off)
{
	return off == SIZE_MAX ? NULL : h->text.data + off;
}

bool spend_held_add(struct spend_held *h, const struct spend_entry *e, const char *day)
{
	struct spend_held_row *r;

	if (h->n == STORE_BATCH_HARD_ROWS)
		return false;
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : STORE_BATCH_MAX_ROWS;
		h->rows = xrealloc(h->rows, h->cap * sizeof(*h->rows));
	}
	r = &h->rows[h->n++];
	r->e = *e;
	r->lost = false;
	r->off[0] = put_text(h, e->model_group, &r->len[0]);
	r->off[1] = put_text(h, e->deployment, &r->len[1]);
	r->off[2] = put_text(h, e->key_hash, &r->len[2]);
	r->off[3] = put_text(h, e->cost_source, &r->len[3]);
	r->off[4] = put_text(h, e->lane, &r->len[4]);
	r->off[5] = put_text(h, day, &r->len[5]);
	return true;
}

/* The row's entry with its strings. */
static struct spend_entry entry_at(const struct spend_held *h, const struct spend_held_row *r)
{
	struct spend_entry e = r->e;

	e.model_group = text_at(h, r->off[0]);
	e.deployment = text_at(h, r->off[1]);
	e.key_hash = text_at(h, r->off[2]);
	e.cost_source = text_at(h, r->off[3]);
	e.lane = text_at(h, r->off[4]);
	return e;
}

/* spend_held_bind for a held row, with the lengths measured when it was held. */
static void bind_held(sqlite3_stmt *st, int row, const struct spend_held *h,
		      const struct spend_held_row *r)
{
	const char *text[SPEND_HELD_STRINGS];
	int len[SPEND_HELD_STRINGS];

	for (int k = 0; k < SPEND_HELD_STRINGS; k++) {
		text[k] = text_at(h, r->off[k]);
		len[k] = (int)r->len[k];
	}
	bind_row(st, row, &r->e, text, len);
}

/* Rows [from, from + n) with st, an INSERT of n rows; a failure marks lost the rows it did not
 * write (see INSERT_SQL). */
static size_t write_rows(struct spend_held *h, sqlite3_stmt *st, size_t from, size_t n)
{
	sqlite3 *db = sqlite3_db_handle(st);
	int64_t before = sqlite3_total_changes64(db);
	size_t written;
	int rc;

	for (size_t i = 0; i < n; i++)
		bind_held(st, (int)i, h, &h->rows[from + i]);
	rc = sqlite3_step(st);
	/* Every parameter is bound again before the next step: no clear_bindings. */
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	snprintf(h->err, sizeof(h->err), "%s", sqlite3_errmsg(db));
	/* The connection's total, not sqlite3_changes(): a statement that failed before it ran
	 * leaves the count of the one before it there, and rows taken for written that are not
	 * would be lost from the totals. A count that cannot be this statement's means none. */
	written = (size_t)(sqlite3_total_changes64(db) - before);
	if (written > n)
		written = 0;
	for (size_t i = written; i < n; i++)
		h->rows[from + i].lost = true;
	return n - written;
}

size_t spend_held_write(struct spend_held *h, const struct spend_inserts *ins, sqlite3 *db)
{
	size_t i = 0, n, lost = 0;
	sqlite3_stmt *st;

	while (i < h->n) {
		/* No transaction: written now, a row would be in the database and in the
		 * rolled-back batch's unsaved share both. */
		if (sqlite3_get_autocommit(db))
			break;
		n = h->n - i;
		st = n >= CHUNK_BIG ? ins->big : n >= CHUNK_SMALL ? ins->small : ins->one;
		n = n >= CHUNK_BIG ? CHUNK_BIG : n >= CHUNK_SMALL ? CHUNK_SMALL : 1;
		lost += write_rows(h, st, i, n);
		i += n;
		store_batch_yield(); /* 16 rows at most in one piece of the committer's CPU */
	}
	return lost;
}

struct spend_entry spend_held_entry(const struct spend_held *h, size_t i)
{
	return entry_at(h, &h->rows[i]);
}

void spend_held_each_lost(const struct spend_held *h, spend_lost_fn fn, void *arg)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->rows[i].lost) {
			struct spend_entry e = entry_at(h, &h->rows[i]);

			fn(arg, &e);
		}
}

void spend_held_drop(struct spend_held *h)
{
	h->n = 0;
	h->err[0] = '\0';
	buf_reset(&h->text);
	/* A burst's batches grow far past a quiet one's: their memory is not kept. */
	if (h->cap > STORE_BATCH_MAX_ROWS) {
		free(h->rows);
		h->rows = NULL;
		h->cap = 0;
		buf_finish(&h->text);
		buf_init(&h->text, 0);
	}
}
