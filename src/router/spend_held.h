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

/* Fields are private. A row's strings are offsets into text (which moves as it grows), with
 * their lengths: bound with them, SQLite does not measure each again. */
struct spend_held_row {
	struct spend_entry e;
	size_t off[SPEND_HELD_STRINGS];
	uint32_t len[SPEND_HELD_STRINGS];
	bool lost; /* its statement failed (spend_held_write) */
};

struct spend_held {
	struct spend_held_row *rows; /* grows to STORE_BATCH_HARD_ROWS, kept between batches */
	size_t n, cap;
	struct buf text;
	char err[128]; /* the last failed statement's error, "" when none */
};

/* The INSERTs of 1, 4 and 16 rows, prepared once on the store's connection. */
struct spend_inserts {
	sqlite3_stmt *one, *small, *big;
};

int spend_inserts_init(struct spend_inserts *ins, sqlite3 *db);
void spend_inserts_finish(struct spend_inserts *ins); /* accepts a zeroed ins */
void spend_held_bind(sqlite3_stmt *st, int row, const struct spend_entry *e, const char *day);

void spend_held_init(struct spend_held *h);
void spend_held_finish(struct spend_held *h);
/* Copies e and its strings; false when STORE_BATCH_HARD_ROWS rows are held. */
bool spend_held_add(struct spend_held *h, const struct spend_entry *e, const char *day);
/* Writes every row held, in order, inside the open transaction on db (the committer thread's
 * part). A statement that fails marks its rows lost; a transaction rolled back by a failure
 * stops the writing (the batch then fails whole). Returns how many rows were marked lost. */
size_t spend_held_write(struct spend_held *h, const struct spend_inserts *ins, sqlite3 *db);
/* Row i (< h->n) with its strings (h's: valid until h changes). */
struct spend_entry spend_held_entry(const struct spend_held *h, size_t i);
/* fn(arg, row) for each row marked lost, with its strings. */
typedef void (*spend_lost_fn)(void *arg, const struct spend_entry *e);
void spend_held_each_lost(const struct spend_held *h, spend_lost_fn fn, void *arg);
void spend_held_drop(struct spend_held *h);

#endif
