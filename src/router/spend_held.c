/* spend_held: the rows of a store batch, copied when recorded on the loop and written as the
 * batch commits on the store's committer thread. One statement per row cost the program's
 * start, the table's open and the halt every time (about 13k instructions a row, with a batch
 * of 20 rows at 1,000 req/s); an INSERT of 16 rows pays them once. The statements are three
 * fixed sizes (16, 4, 1), not one per row count: each prepared statement is tens of KiB. The
 * ledger keeps two (filling, and set aside for the committer), so the loop neither writes rows
 * nor waits for a COMMIT: those stalls, every STORE_BATCH_MS, were the router's p99.
 *
 * A row's six strings (model group, deployment, key hash, cost source, lane, day) are stored
 * as ids of spend_text (SPEND_TEXT_SQL): a row of integers is a quarter of the bytes that SQLite
 * encodes, checksums into the WAL and copies at each checkpoint, and its binds are integers.
 * The strings of a batch repeat (one key, one group, one day), so a batch holds each distinct
 * string once, with the rows holding its index: compared with the row before's first, then
 * with the last TEXT_LOOKBACK distinct ones (a string not found is held again, which costs a
 * lookup, never a wrong id). The committer looks each distinct string up (and adds the new
 * ones) inside the batch's own transaction before the rows: an id is never remembered across
 * batches, so a rolled-back batch cannot leave a row pointing at a string that is not there.
 *
 * SQLite keeps a statement's bindings until they are bound again, so each INSERT remembers what
 * its parameters hold (struct spend_bound) and binds only those whose value changes: most of a
 * row's thirteen are the same as in the row that used the same place before (its six string
 * ids, its zeros). That was 1.6k of the committer's 7.4k instructions a row; it is 0.7k.
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
#define NO_TEXT	       UINT32_MAX
#define TEXT_LOOKBACK  16
/* OR FAIL, not the default ABORT: a multi-row INSERT that may abort part-way makes SQLite keep
 * a statement journal (in memory: malloc, copy and free of every page the statement touches,
 * a sixth of the committer's instructions). A statement that fails under OR FAIL keeps the rows
 * it wrote before the failing one (VALUES rows go in order); the connection's change count says
 * how many, and write_rows marks only the rest lost, so no row is both in the table and in the
 * unsaved totals. */
#define INSERT_SQL                                                                                 \
	"INSERT OR FAIL INTO spend_row (ts_ms, day, model_group, deployment, key_hash,"            \
	" input_tokens, output_tokens, cost_usd, cost_source, estimated,"                          \
	" cached_tokens, cache_write_tokens, lane) VALUES "

static int prepare_rows(sqlite3 *db, size_t n, struct spend_insert *in)
{
	struct buf sql;
	int rc;

	buf_init(&sql, 0);
	buf_puts(&sql, INSERT_SQL);
	for (size_t i = 0; i < n; i++)
		buf_puts(&sql, i ? ",(?,?,?,?,?,?,?,?,?,?,?,?,?)" : "(?,?,?,?,?,?,?,?,?,?,?,?,?)");
	rc = sqlite3_prepare_v3(db, buf_str(&sql), -1, SQLITE_PREPARE_PERSISTENT, &in->st, NULL);
	buf_finish(&sql);
	in->rows = n;
	in->bound = xcalloc(n * INSERT_COLUMNS, sizeof(*in->bound));
	return rc;
}

static void insert_finish(struct spend_insert *in)
{
	sqlite3_finalize(in->st);
	free(in->bound);
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
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(db, "SELECT id FROM spend_text WHERE text = ?", -1,
					SQLITE_PREPARE_PERSISTENT, &ins->text_find, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(
			db,
			"INSERT INTO spend_text (text) VALUES (?)"
			" ON CONFLICT (text) DO UPDATE SET text = excluded.text RETURNING id",
			-1, SQLITE_PREPARE_PERSISTENT, &ins->text_add, NULL);
	/* The next row's id is at least the largest there + 1 (SQLite's rowid, below 2^63 - 1);
	 * a minute already there has a first_id no greater than that. */
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(
			db,
			"INSERT INTO spend_minute (minute, first_id)"
			" SELECT ?1, COALESCE(MAX(id), 0) + 1 FROM spend_row WHERE true"
			" ON CONFLICT (minute) DO NOTHING",
			-1, SQLITE_PREPARE_PERSISTENT, &ins->minute_add, NULL);
	return rc;
}

void spend_inserts_finish(struct spend_inserts *ins)
{
	insert_finish(&ins->one);
	insert_finish(&ins->small);
	insert_finish(&ins->big);
	sqlite3_finalize(ins->text_find);
	sqlite3_finalize(ins->text_add);
	sqlite3_finalize(ins->minute_add);
	memset(ins, 0, sizeof(*ins));
}

void spend_held_init(struct spend_held *h)
{
	memset(h, 0, sizeof(*h));
	buf_init(&h->text, 0);
}

void spend_held_finish(struct spend_held *h)
{
	free(h->rows);
	free(h->texts);
	buf_finish(&h->text);
}

/* The index of v among the batch's distinct strings, held now if it is not found; NO_TEXT for
 * NULL. prev: the same string's index in the row before (NO_TEXT: none). A row's strings come
 * from the config, the key's hash and the code's literals, never longer than a request's cap. */
static uint32_t hold_text(struct spend_held *h, const char *v, uint32_t prev)
{
	struct spend_held_text *t;
	size_t len, i, stop;

	if (!v)
		return NO_TEXT;
	len = strlen(v);
	if (prev != NO_TEXT && h->texts[prev].len == len &&
	    mem_eq(h->text.data + h->texts[prev].off, v, len))
		return prev;
	stop = h->n_texts > TEXT_LOOKBACK ? h->n_texts - TEXT_LOOKBACK : 0;
	for (i = h->n_texts; i-- > stop;)
		if (h->texts[i].len == len && mem_eq(h->text.data + h->texts[i].off, v, len))
			return (uint32_t)i;
	if (h->n_texts == h->cap_texts) {
		h->cap_texts = h->cap_texts ? h->cap_texts * 2 : 16;
		h->texts = xrealloc(h->texts, h->cap_texts * sizeof(*h->texts));
	}
	t = &h->texts[h->n_texts];
	t->off = h->text.len;
	t->len = len;
	t->id = 0;
	t->known = false;
	buf_append(&h->text, v, len + 1);
	return (uint32_t)h->n_texts++;
}

static const char *text_at(const struct spend_held *h, uint32_t k)
{
	return k == NO_TEXT ? NULL : h->text.data + h->texts[k].off;
}

bool spend_held_add(struct spend_held *h, const struct spend_entry *e, const char *day)
{
	const char *v[SPEND_HELD_STRINGS] = {e->model_group, e->deployment,	     e->key_hash,
					     e->cost_source, e->lane ? e->lane : "", day};
	uint32_t prev[SPEND_HELD_STRINGS];
	struct spend_held_row *r;

	if (h->n == STORE_BATCH_HARD_ROWS)
		return false;
	if (h->n == h->cap) {
		/* From a few rows: the ledger's row written alone holds one (2 KiB, not the
		 * 32 KiB of a full batch's), and a batch doubles to its size once. */
		h->cap = h->cap ? h->cap * 2 : 16;
		h->rows = xrealloc(h->rows, h->cap * sizeof(*h->rows));
	}
	for (int k = 0; k < SPEND_HELD_STRINGS; k++)
		prev[k] = h->n ? h->rows[h->n - 1].tix[k] : NO_TEXT;
	r = &h->rows[h->n++];
	r->e = *e;
	r->lost = false;
	for (int k = 0; k < SPEND_HELD_STRINGS; k++)
		r->tix[k] = hold_text(h, v[k], prev[k]);
	return true;
}

/* The row's entry with its strings. */
static struct spend_entry entry_at(const struct spend_held *h, const struct spend_held_row *r)
{
	struct spend_entry e = r->e;

	e.model_group = text_at(h, r->tix[0]);
	e.deployment = text_at(h, r->tix[1]);
	e.key_hash = text_at(h, r->tix[2]);
	e.cost_source = text_at(h, r->tix[3]);
	e.lane = text_at(h, r->tix[4]);
	return e;
}

/* The id of v[0..len) in spend_text, added when it is not there (by an upsert: outside a
 * transaction another process may add it between the two). SQLITE_OK or SQLite's code. */
static int text_id(const struct spend_inserts *ins, const char *v, size_t len, int64_t *id)
{
	sqlite3_stmt *st = ins->text_find;
	int rc;

	for (int pass = 0; pass < 2; pass++, st = ins->text_add) {
		sqlite3_bind_text(st, 1, v, (int)len, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (rc == SQLITE_ROW)
			return SQLITE_OK;
		if (rc != SQLITE_DONE)
			return rc;
	}
	return SQLITE_INTERNAL; /* an INSERT ... RETURNING that returned nothing */
}

/* Every distinct string held gets its id (see the top of this file). */
static int resolve(struct spend_held *h, const struct spend_inserts *ins)
{
	for (size_t i = 0; i < h->n_texts; i++) {
		struct spend_held_text *t = &h->texts[i];
		int rc = t->known ? SQLITE_OK : text_id(ins, h->text.data + t->off, t->len, &t->id);

		if (rc != SQLITE_OK)
			return rc;
		t->known = true;
	}
	return SQLITE_OK;
}

/* The minute of each row held is in spend_minute, with a first_id no greater than the ids the
 * rows will get (SPEND_MINUTE_SQL): run before the rows are written, in their transaction.
 * A batch's rows are a few minutes at most, in order: a minute is noted once per run of it,
 * and a row written alone in autocommit skips the minute of the row before (committed, as
 * the strings' ids it keeps; spend_held_drop forgets it). */
static int note_minutes(struct spend_held *h, const struct spend_inserts *ins)
{
	int rc;

	for (size_t i = 0; i < h->n; i++) {
		int64_t minute = h->rows[i].e.ts_ms / 60000; /* SQLite's integer division too */

		if (h->minute_noted && minute == h->minute)
			continue;
		sqlite3_bind_int64(ins->minute_add, 1, minute);
		rc = sqlite3_step(ins->minute_add);
		sqlite3_reset(ins->minute_add);
		if (rc != SQLITE_DONE)
			return rc;
		h->minute = minute;
		h->minute_noted = true;
	}
	return SQLITE_OK;
}

/* Parameter i (from 1) of in, bound to a value of type and bits unless it holds that already
 * (struct spend_bound). Most of a row's thirteen are the row before's in the same place: its
 * six string ids, its zeros. */
static void bind_value(struct spend_insert *in, int i, int type, uint64_t bits)
{
	struct spend_bound *b = &in->bound[i - 1];
	double d;
	int rc;

	if (b->type == type && b->bits == bits)
		return;
	if (type == SQLITE_INTEGER) {
		rc = sqlite3_bind_int64(in->st, i, (sqlite3_int64)bits);
	} else if (type == SQLITE_FLOAT) {
		memcpy(&d, &bits, sizeof(d));
		rc = sqlite3_bind_double(in->st, i, d);
	} else {
		rc = sqlite3_bind_null(in->st, i);
	}
	b->type = rc == SQLITE_OK ? (uint8_t)type : 0;
	b->bits = bits;
}

static void bind_int(struct spend_insert *in, int i, int64_t v)
{
	bind_value(in, i, SQLITE_INTEGER, (uint64_t)v);
}

static void bind_id(struct spend_insert *in, int i, const struct spend_held *h, uint32_t k)
{
	/* NULL: NOT NULL fails the row, as a NULL string did */
	if (k == NO_TEXT)
		bind_value(in, i, SQLITE_NULL, 0);
	else
		bind_int(in, i, h->texts[k].id);
}

/* The row's parameters in in from row * INSERT_COLUMNS + 1 (resolve has run). */
static void bind_held(struct spend_insert *in, int row, const struct spend_held *h,
		      const struct spend_held_row *r)
{
	const struct spend_entry *e = &r->e;
	int i = row * INSERT_COLUMNS;
	uint64_t cost;

	memcpy(&cost, &e->cost_usd, sizeof(cost));
	bind_int(in, i + 1, e->ts_ms);
	bind_id(in, i + 2, h, r->tix[5]);
	bind_id(in, i + 3, h, r->tix[0]);
	bind_id(in, i + 4, h, r->tix[1]);
	bind_id(in, i + 5, h, r->tix[2]);
	bind_int(in, i + 6, e->input_tokens);
	bind_int(in, i + 7, e->output_tokens);
	bind_value(in, i + 8, SQLITE_FLOAT, cost);
	bind_id(in, i + 9, h, r->tix[3]);
	bind_int(in, i + 10, e->estimated);
	bind_int(in, i + 11, e->cached_tokens);
	bind_int(in, i + 12, e->cache_write_tokens);
	bind_id(in, i + 13, h, r->tix[4]);
}

static void mark_lost(struct spend_held *h, size_t from, size_t n, sqlite3 *db)
{
	snprintf(h->err, sizeof(h->err), "%s", sqlite3_errmsg(db));
	for (size_t i = from; i < from + n; i++)
		h->rows[i].lost = true;
}

/* Rows [from, from + in->rows) with in, an INSERT of that many rows; a failure marks lost the
 * rows it did not write (see INSERT_SQL). */
static size_t write_rows(struct spend_held *h, struct spend_insert *in, size_t from)
{
	sqlite3 *db = sqlite3_db_handle(in->st);
	int64_t before = sqlite3_total_changes64(db);
	size_t written, n = in->rows;
	int rc;

	for (size_t i = 0; i < n; i++)
		bind_held(in, (int)i, h, &h->rows[from + i]);
	rc = sqlite3_step(in->st);
	/* Every parameter holds its row's value before the next step: no clear_bindings. */
	sqlite3_reset(in->st);
	if (rc == SQLITE_DONE)
		return 0;
	/* The connection's total, not sqlite3_changes(): a statement that failed before it ran
	 * leaves the count of the one before it there, and rows taken for written that are not
	 * would be lost from the totals. A count that cannot be this statement's means none. */
	written = (size_t)(sqlite3_total_changes64(db) - before);
	if (written > n)
		written = 0;
	mark_lost(h, from + written, n - written, db);
	return n - written;
}

size_t spend_held_write(struct spend_held *h, struct spend_inserts *ins, sqlite3 *db)
{
	size_t i = 0, n, lost = 0;
	struct spend_insert *in;

	/* No transaction: written now, a row would be in the database and in the rolled-back
	 * batch's unsaved share both. */
	if (!h->n || sqlite3_get_autocommit(db))
		return 0;
	if (resolve(h, ins) != SQLITE_OK || note_minutes(h, ins) != SQLITE_OK) {
		mark_lost(h, 0, h->n, db);
		return h->n;
	}
	while (i < h->n) {
		if (sqlite3_get_autocommit(db))
			break;
		n = h->n - i;
		in = n >= CHUNK_BIG ? &ins->big : n >= CHUNK_SMALL ? &ins->small : &ins->one;
		lost += write_rows(h, in, i);
		i += in->rows;
		store_batch_yield(); /* 16 rows at most in one piece of the committer's CPU */
	}
	return lost;
}

int spend_held_insert(struct spend_held *one, struct spend_inserts *ins,
		      const struct spend_entry *e, const char *day)
{
	bool keep = sqlite3_get_autocommit(sqlite3_db_handle(ins->one.st));
	int rc;

	/* The strings of the rows before, with their ids, while they are a few (hold_text looks
	 * back TEXT_LOOKBACK of them): a new key or group now and then restarts the list. */
	if (keep && one->n_texts + SPEND_HELD_STRINGS <= TEXT_LOOKBACK)
		one->n = 0;
	else
		spend_held_drop(one);
	spend_held_add(one, e, day);
	rc = resolve(one, ins);
	if (rc == SQLITE_OK)
		rc = note_minutes(one, ins);
	if (rc == SQLITE_OK) {
		bind_held(&ins->one, 0, one, &one->rows[0]);
		rc = sqlite3_step(ins->one.st);
		/* Every parameter holds its row's value before the next step: no clear_bindings. */
		sqlite3_reset(ins->one.st);
	}
	if (!keep || rc != SQLITE_DONE)
		spend_held_drop(one); /* ids that a rollback may take back are not kept */
	return rc;
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
	h->n_texts = 0;
	h->minute_noted = false;
	h->err[0] = '\0';
	buf_reset(&h->text);
	/* A burst's batches grow far past a quiet one's: their memory is not kept. */
	if (h->cap > STORE_BATCH_MAX_ROWS) {
		free(h->rows);
		free(h->texts);
		h->rows = NULL;
		h->texts = NULL;
		h->cap = h->cap_texts = 0;
		buf_finish(&h->text);
		buf_init(&h->text, 0);
	}
}
