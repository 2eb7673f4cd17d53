/* store: the SQLite database at home/state.db (WAL, busy timeout, numbered migrations).
 *
 * Schema changes are append-only migrations: migration N runs once, inside a transaction
 * with `PRAGMA user_version = N`, so a crash mid-migration leaves the previous version intact.
 * A database from a newer hermetic (user_version above what this binary knows) is refused
 * rather than risked.
 */
#ifndef HERMETIC_STORE_H
#define HERMETIC_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct store;

struct store_migration {
	const char *name;
	const char *sql;
};

/* Opens (creating) path with the built-in migrations. Returns 0, or -1 with a message in err
 * naming the file and what to do. */
int store_open(const char *path, struct store **out, char *err, size_t err_len);
/* Same with an explicit migration list (tests). */
int store_open_with(const char *path, const struct store_migration *migrations, size_t n,
		    struct store **out, char *err, size_t err_len);
/* Starts the thread that checkpoints the WAL once a second (the loop's own connection never
 * does: see store.c). Long-running commands call it once sealed, so the thread is born under
 * Landlock like the rest of the process; a command that never calls it checkpoints at close.
 * Idempotent. */
void store_start_checkpointer(struct store *s);
/* Checkpoints the WAL and closes. Accepts NULL. */
void store_close(struct store *s);
sqlite3 *store_db(struct store *s);
int store_schema_version(struct store *s);
int store_busy_timeout_ms(void);

/* Small key/value state (Telegram offset, cron last runs...). get returns 0 and a malloc'd
 * copy in *value, -ENOENT when absent, or -EIO. set and del return 0 or -EIO. */
int store_kv_get(struct store *s, const char *key, char **value);
int store_kv_set(struct store *s, const char *key, const char *value);
int store_kv_del(struct store *s, const char *key);

#endif
