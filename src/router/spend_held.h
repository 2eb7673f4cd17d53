/* spend_held: the ledger rows of a store batch (store_batch_hold), held in memory on the loop
 * and written together on the store's committer thread, 16 and 4 rows to an INSERT: a row
 * costs about 2k fewer instructions than in a statement of its own. The ledger keeps two: the
 * one filling and the one set aside for the batch being written. Only spend.c uses it. */
#ifndef HERMETIC_ROUTER_SPEND_HELD_H
#define HERMETIC_ROUTER_SPEND_HELD_H

#include "core/store.h"
#include "core/util.h"
#include "router/spend.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPEND_HELD_STRINGS 6 /* model_group, deployment, key_hash, cost_source, lane, day */

/* Fields are private. A batch holds each distinct string once (an offset into text, which
 * moves as it grows, and its id in spend_text once the committer has looked it up); a row
 * holds the index of each of its strings there. */
struct spend_held_text {
	size_t off, len;
	int64_t id;
	bool known; /* id holds its id in spend_text */
};

struct spend_held_row {
	struct spend_entry e;
	uint32_t tix[SPEND_HELD_STRINGS];
	bool lost; /* its statement failed (spend_held_write) */
};

struct spend_held {
	struct spend_held_row *rows; /* grows to STORE_BATCH_HARD_ROWS, kept between batches */
	size_t n, cap;
	struct spend_held_text *texts;
	size_t n_texts, cap_texts;
	struct buf text;
	int64_t minute; /* the last minute noted in spend_minute, if minute_noted */
	bool minute_noted;
	char err[128]; /* the last failed statement's error, "" when none */
};

/* What one parameter of an INSERT holds: SQLite keeps a statement's bindings across
 * sqlite3_reset (and across a re-prepare), so a parameter whose value is the row's already is
 * not bound again. type 0: not known (never bound, or its bind failed). */
struct spend_bound {
	uint64_t bits; /* the int64, or the double's bits */
	uint8_t type;  /* SQLITE_INTEGER, SQLITE_FLOAT or SQLITE_NULL */
};

/* An INSERT of `rows` rows with what each of its parameters holds. */
struct spend_insert {
	sqlite3_stmt *st;
	size_t rows;
	struct spend_bound *bound; /* rows * 13 */
};

/* The INSERTs of 1, 4 and 16 rows, the lookup and insert of a string in spend_text and the
 * insert of a minute in spend_minute, prepared once on the store's connection; used on one
 * thread at a time (the store's). */
struct spend_inserts {
	struct spend_insert one, small, big;
	sqlite3_stmt *text_find, *text_add;
	sqlite3_stmt *minute_add; /* a minute of spend_minute (SPEND_MINUTE_SQL), if new */
};

int spend_inserts_init(struct spend_inserts *ins, sqlite3 *db);
void spend_inserts_finish(struct spend_inserts *ins); /* accepts a zeroed ins */

void spend_held_init(struct spend_held *h);
void spend_held_finish(struct spend_held *h);
/* Copies e and its strings; false when STORE_BATCH_HARD_ROWS rows are held. */
bool spend_held_add(struct spend_held *h, const struct spend_entry *e, const char *day);
/* Writes every row held, in order, inside the open transaction on db (the committer thread's
 * part). A statement that fails marks its rows lost; a transaction rolled back by a failure
 * stops the writing (the batch then fails whole). Returns how many rows were marked lost. */
size_t spend_held_write(struct spend_held *h, struct spend_inserts *ins, sqlite3 *db);
/* One row written at once, outside a batch: one (a spend_held of the caller's, for this
 * only) holds it while its strings are looked up. In autocommit, where every statement is
 * committed when it ends, one keeps the ids of the strings it looked up for the next row
 * (a few: the call's key, group, day...), so a row alone is one INSERT, as before; inside a
 * transaction of someone else's, which may roll back, it keeps none. SQLITE_DONE, or SQLite's
 * code of the statement that failed (SQLITE_BUSY when another process holds the lock). */
int spend_held_insert(struct spend_held *one, struct spend_inserts *ins,
		      const struct spend_entry *e, const char *day);
/* Row i (< h->n) with its strings (h's: valid until h changes). */
struct spend_entry spend_held_entry(const struct spend_held *h, size_t i);
/* fn(arg, row) for each row marked lost, with its strings. */
typedef void (*spend_lost_fn)(void *arg, const struct spend_entry *e);
void spend_held_each_lost(const struct spend_held *h, spend_lost_fn fn, void *arg);
void spend_held_drop(struct spend_held *h);

#endif
