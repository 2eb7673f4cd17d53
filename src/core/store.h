/* store: the SQLite database at home/state.db (WAL, busy timeout, numbered migrations).
 *
 * Schema changes are append-only migrations: migration N runs once, inside a transaction
 * with `PRAGMA user_version = N`, so a crash mid-migration leaves the previous version intact.
 * A database from a newer hermetic (user_version above what this binary knows) is refused
 * rather than risked.
 *
 * Inside a daemon (store_attach_loop) the loop never waits on a lock held by another process
 * for more than STORE_LOOP_BUSY_MS: a write that finds the database locked reports -EBUSY,
 * and store_write() keeps it and retries it from the loop, in order, until it is stored.
 */
#ifndef HERMETIC_STORE_H
#define HERMETIC_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct store;

#define STORE_LOOP_BUSY_MS 100 /* longest wait for another process's lock on the loop */

struct store_migration {
	const char *name;
	const char *sql;
};

/* Sets the migrations store_open() applies: the application's list, owned by a higher layer
 * (gateway/schema.c), borrowed for the life of the process. Call once, before store_open. */
void store_set_schema(const struct store_migration *migrations, size_t n);
/* Opens (creating) path with the migrations of store_set_schema(). Returns 0, or -1 with a
 * message in err naming the file and what to do (also when no schema was set). */
int store_open(const char *path, struct store **out, char *err, size_t err_len);
/* Same with an explicit migration list (tests). */
int store_open_with(const char *path, const struct store_migration *migrations, size_t n,
		    struct store **out, char *err, size_t err_len);
/* A read-only connection to a database another connection of this process keeps up to date
 * (a reader off the loop, such as the cockpit's queries): no migrations, and store_close does
 * not checkpoint (a TRUNCATE checkpoint would hold the loop's writers while it waits). Returns
 * 0, or -1 with a message in err. */
int store_open_reader(const char *path, struct store **out, char *err, size_t err_len);
/* Starts the thread that checkpoints the WAL once a second (the loop's own connection never
 * does: see store.c). Long-running commands call it once sealed, so the thread is born under
 * Landlock like the rest of the process; a command that never calls it checkpoints at close.
 * Idempotent. */
void store_start_checkpointer(struct store *s);
/* Checkpoints the WAL and closes. Accepts NULL. */
void store_close(struct store *s);
sqlite3 *store_db(struct store *s);
const char *store_path(const struct store *s);
int store_schema_version(struct store *s);
int store_busy_timeout_ms(void);

/* From now on the connection is the loop's: a lock held by another connection is waited for
 * at most STORE_LOOP_BUSY_MS, and after a wait that ran out, writes fail at once for a moment
 * (a long lock costs the loop one short wait per second, not one per statement); the first
 * such failure in a while is logged with the database's path. store_write() retries on the
 * loop. Without this call (the CLI) SQLite waits up to store_busy_timeout_ms(). Borrows loop,
 * which must outlive the store. */
void store_attach_loop(struct store *s, struct loop *loop);

/* Transactions that report the first error, not the ROLLBACK's. store_begin() starts a write
 * transaction: 0, -EBUSY (locked by another connection) or -EIO, nothing open on error.
 * store_end() commits when rc == 0, else rolls back if SQLite still has the transaction
 * open (a failed statement may have ended it); returns rc, or the commit's error. */
int store_begin(struct store *s);
int store_end(struct store *s, int rc);

/* Commits use synchronous=NORMAL: a process crash cannot undo one, a power loss can (back to
 * the last checkpoint, about a second). store_sync() makes every commit so far survive a power
 * loss too, as synchronous=FULL would have at commit, without an fsync on the loop: it fsyncs
 * the WAL (fileio_fsync) on a thread of the loop's offload pool (on the loop only when no
 * thread can start), then calls done(rc, arg) from the loop: 0, a negative errno, or
 * -ECANCELED when the loop is destroyed first (done then fires from loop_destroy). Needs
 * store_attach_loop(). Returns 0: done fires exactly once, never from inside this call; or
 * -EINVAL (no loop) / -ENOMEM: done never fires. For what a peer is told was kept: Telegram
 * forgets updates once the next poll confirms their offset. */
typedef void (*store_synced_fn)(int rc, void *arg);
int store_sync(struct store *s, store_synced_fn done, void *arg);
/* Records the connection's current error as the failure of what (e.g. "append message"), for
 * store_error(), and returns -EBUSY when the database was locked, else -EIO. Call it right
 * after the failing sqlite3 call. */
int store_fail(struct store *s, const char *what);
/* The last error store_fail/store_begin/store_end recorded, naming the database file:
 * "/home/x/state.db: begin: database is locked". Valid until the next such call. */
const char *store_error(const struct store *s);
/* Column i of st's current row as a malloc'd string; NULL when the column is NULL. */
char *store_column_dup(sqlite3_stmt *st, int i);

/* A write that must not be lost to a busy database. fn does the writing (a transaction of its
 * own if it needs one) and returns 0, -EBUSY when the database was locked, or another
 * negative value. store_write runs fn at once and returns its result (done never fires and
 * arg stays the caller's), unless fn returned -EBUSY on a store with a loop attached, or
 * earlier writes are still waiting (order is kept): then it returns -EINPROGRESS, owns the
 * write, retries fn from the loop until it returns something else, and then calls done(arg,
 * that result) exactly once (done frees arg). */
typedef int (*store_write_fn)(struct store *s, void *arg);
typedef void (*store_done_fn)(void *arg, int rc);
int store_write(struct store *s, store_write_fn fn, void *arg, store_done_fn done);
/* The second half of store_write, for a caller that ran its write itself (no writes were
 * waiting) and got -EBUSY, so that it copies its data only then: keeps the write as above
 * (-EINPROGRESS), or returns -EBUSY when no loop is attached (nothing kept, done never fires). */
int store_write_later(struct store *s, store_write_fn fn, void *arg, store_done_fn done);
/* Writes waiting for the database (0 = none). */
size_t store_writes_waiting(const struct store *s);
/* Tries the waiting writes once more now, waiting up to store_busy_timeout_ms() for the first;
 * when the database is still locked the rest are given up (done gets -EBUSY). Every done
 * fires before it returns. Owners call it before freeing what their done callbacks use;
 * store_close() calls it too. */
void store_flush(struct store *s);

/* Group commit on a loop's connection. A writer holds its rows in memory while a batch fills
 * (store_batch_hold); STORE_BATCH_MS after the batch's first row, or as soon as it holds
 * STORE_BATCH_MAX_ROWS rows and no batch is being written, or earlier by store_batch_end(),
 * the batch closes: on the loop
 * each writer's seal(arg) sets its rows aside, then the store's committer thread runs BEGIN
 * IMMEDIATE, each writer's write(arg, db) and COMMIT while the next batch fills, and each
 * listener's done/fn(arg, rc) fires once on the loop: rc 0 committed, -EIO rolled back (the
 * rows are not in the database), -EBUSY another process held the write lock past
 * STORE_LOOP_BUSY_MS (nothing was written: the rows are the writers' again, to queue with
 * store_write_later). The loop never runs the batch's statements and never waits
 * for them, except where it needs the connection itself: every other use (store_db,
 * store_begin, store_write and its retries, store_kv_*, store_close, store_batch_end) first
 * waits for the batch in flight, so nothing else ever runs inside it. Order is kept (one
 * connection, batches in the order they closed, rows in the order their writers held them).
 * store_batch_hold returns 0 (the row is the writer's to hold until seal), or -ENOTSUP (write
 * as before, in autocommit, on the loop: no batch is in flight then) for the first row after
 * STORE_BATCH_MS without one (a batch of one row costs more than autocommit; under load the
 * next row opens the batch), without a loop, while store_write's queue waits, or inside
 * another transaction on the connection. A batch that reaches STORE_BATCH_HARD_ROWS while the
 * one before it is being written makes the loop wait for that one (the only wait, and the
 * bound on the rows held).
 * Crash semantics: a clean exit commits; a crash (SIGKILL, a fault) loses the batches not yet
 * committed, the rows of at most the last 2 x STORE_BATCH_MS; other processes see a row at
 * most that long after it was written. A power loss loses the last commits anyway
 * (synchronous=NORMAL). */
#define STORE_BATCH_MS	     500
#define STORE_BATCH_MAX_ROWS 512
/* While a batch is being written the next one may grow past STORE_BATCH_MAX_ROWS (it goes as
 * soon as the one before it is done); at this many rows the loop waits for the one before. */
#define STORE_BATCH_HARD_ROWS 4096
typedef void (*store_batch_fn)(void *arg, int rc);
struct store_held_ops {
	/* On the loop, as the batch closes: set its rows aside; rows held from now on belong
	 * to the next batch. */
	void (*seal)(void *arg);
	/* On the committer thread (or on the loop when there is none), inside the batch's
	 * transaction: write the rows set aside, with statements on db only (no store_* call,
	 * nothing the loop touches). A row it could not write it marks for done. */
	void (*write)(void *arg, sqlite3 *db);
	/* On the loop, once: the batch committed (0), was rolled back (-EIO) or never began
	 * (-EBUSY: the rows set aside are the writer's again). */
	store_batch_fn done;
};
int store_batch_hold(struct store *s, const struct store_held_ops *ops, void *arg);
/* For a held_ops.write, between two of its statements: on the committer thread, gives the
 * CPU to any thread waiting for it (sched_yield); elsewhere (a batch written on the loop)
 * nothing. A batch of 100 rows is about 0.26 ms of CPU on a small VM; in one piece it held
 * up the load generator and the upstream on the other CPU, and was the router's p99 at
 * 1,000 req/s (docs/numbers.md, "The eighteenth look"). */
void store_batch_yield(void);
/* Writes the filling batch now and waits for it (and for the one in flight). */
void store_batch_end(struct store *s);
/* Asks for fn(arg, rc) once when the filling batch is written, without rows of its own (the
 * audit trail holds its lines until then). 0, or -ENOTSUP when no batch is filling (s may be
 * NULL), or -ENOSPC when every listener slot is taken. */
int store_batch_listen(struct store *s, store_batch_fn fn, void *arg);
/* A batch is filling. */
bool store_batch_open(const struct store *s);
/* A batch is filling or being written (its listeners have not all fired). */
bool store_batch_pending(const struct store *s);
/* Rows joined and batches committed since open (tests, benchmarks). */
void store_batch_stats(const struct store *s, uint64_t *joins, uint64_t *commits);

/* Small key/value state (Telegram offset, cron last runs...). get returns 0 and a malloc'd
 * copy in *value, -ENOENT when absent, or -EIO. set returns 0, -EBUSY when the database was
 * locked (for store_write), or -EIO; del returns 0 or -EIO. */
int store_kv_get(struct store *s, const char *key, char **value);
int store_kv_set(struct store *s, const char *key, const char *value);
int store_kv_del(struct store *s, const char *key);
/* store_kv_set through store_write (copies key and value): 0 when stored, -EINPROGRESS when
 * it waits for a locked database (it is written once the lock is gone, in order with the
 * other waiting writes), or the error (logged). */
int store_kv_put(struct store *s, const char *key, const char *value);

#endif
