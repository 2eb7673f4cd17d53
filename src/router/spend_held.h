/* spend_held: the ledger rows of the store's open batch, held back and written together just
 * before it commits (store_batch_hold), 16 and 4 rows to an INSERT: a row costs about 2k
 * fewer instructions than in a statement of its own. Only spend.c uses it. */
#ifndef HERMETIC_ROUTER_SPEND_HELD_H
#define HERMETIC_ROUTER_SPEND_HELD_H

#include "core/store.h"
#include "core/util.h"
#include "router/spend.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#define SPEND_HELD_STRINGS 6 /* model_group, deployment, key_hash, cost_source, lane, day */

/* Fields are private. A row's strings are offsets into text (which moves as it grows). */
struct spend_held_row {
	struct spend_entry e;
	size_t off[SPEND_HELD_STRINGS];
};

struct spend_held {
	struct spend_held_row rows[STORE_BATCH_MAX_ROWS];
	size_t n;
	struct buf text;
	sqlite3_stmt *one, *small, *big; /* INSERTs of 1, 4 and 16 rows */
};

/* Prepares the INSERTs on db (borrowed). SQLite's code on failure (h is then finishable). */
int spend_held_init(struct spend_held *h, sqlite3 *db);
void spend_held_finish(struct spend_held *h); /* accepts a zeroed h */
/* Binds e's values and day (borrowed until the step) as the row'th row of st. */
void spend_held_bind(sqlite3_stmt *st, int row, const struct spend_entry *e, const char *day);
/* Copies e and day in; false when full (STORE_BATCH_MAX_ROWS: write first). */
bool spend_held_add(struct spend_held *h, const struct spend_entry *e, const char *day);
/* Called with each row of a statement that failed (its strings borrowed for the call). */
typedef void (*spend_lost_fn)(void *arg, const struct spend_entry *e);
/* Writes the held rows on db inside its open transaction and empties h. A failed statement's
 * rows go to lost(arg, row); once the transaction is gone (a failure rolled it back, or it was
 * never open) the rest are not written and not passed to lost: the batch's rollback has them.
 * 0 when every row was written, else -EIO. */
int spend_held_write(struct spend_held *h, sqlite3 *db, spend_lost_fn lost, void *arg);
/* Forgets the held rows (their batch ended without them). */
void spend_held_drop(struct spend_held *h);

#endif
