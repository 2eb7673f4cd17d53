/* store: one sqlite3 connection used from the loop thread. WAL mode so readers (the CLI's
 * `sessions`/`spend` commands) never block the daemon; synchronous=NORMAL, which in WAL mode
 * keeps the database consistent across power loss and loses at most the last transactions;
 * a busy timeout for the CLI running beside the daemon. Transactions stay short so the loop
 * never waits long on the disk.
 *
 * Checkpoints (copying the WAL back into the database) would otherwise run inside whichever
 * commit crosses the auto-checkpoint size, stalling the loop for milliseconds; they run
 * instead on a small thread with its own connection, PASSIVE, once a second, which never
 * blocks the writer. The loop's connection has auto-checkpoint off.
 */
#include "store.h"
#include "hooks.h"
#include "log.h"
#include "sessions.h"
#include "telegram.h"
#include "spend.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUSY_TIMEOUT_MS 5000

static const struct store_migration builtin[] = {
	{"kv", "CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL,"
	       " updated_ms INTEGER NOT NULL) STRICT;"},
	{"spend", SPEND_SCHEMA_SQL},
	{"spend-lean", SPEND_LEAN_SQL},
	{"sessions", SESSIONS_SCHEMA_SQL},
	{"telegram", TELEGRAM_SCHEMA_SQL},
	{"hook-runs", HOOKS_SCHEMA_SQL},
	{"telegram-attempts", TELEGRAM_ATTEMPTS_SQL},
	{"messages-origin", SESSIONS_ORIGIN_SQL},
};

#define CHECKPOINT_EVERY_S 1
/* What the WAL file is cut back to once a checkpoint let it restart (a string: SQL text). */
#define WAL_LIMIT_BYTES "4194304"

struct store {
	sqlite3 *db;
	int version;
	char *path;
	pthread_t checkpointer;
	bool checkpointer_running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

static void *checkpoint_loop(void *arg)
{
	struct store *s = arg;
	sqlite3 *db = NULL;
	sigset_t all;
	struct timespec until;

	sigfillset(&all);
	/* SIGSYS stays open: under the sandbox's errno mode a denied syscall here must fail
	 * with EPERM like anywhere else; a blocked SIGSYS would kill the process instead. */
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	/* A connection learns the file is in WAL mode on its first read; until then
	 * sqlite3_wal_checkpoint_v2() finds no WAL and silently does nothing, and the WAL
	 * grew without bound (1.2 GB after 8,000 benchmark turns, the shm map with it). */
	sqlite3_exec(db, "SELECT 1 FROM sqlite_schema LIMIT 1", NULL, NULL, NULL);
	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += CHECKPOINT_EVERY_S;
		pthread_cond_timedwait(&s->cv, &s->mu, &until);
		if (s->stop)
			break;
		pthread_mutex_unlock(&s->mu);
		sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	sqlite3_close(db);
	return NULL;
}

void store_start_checkpointer(struct store *s)
{
	pthread_attr_t attr;

	if (s->checkpointer_running)
		return;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	s->checkpointer_running = pthread_create(&s->checkpointer, &attr, checkpoint_loop, s) == 0;
	pthread_attr_destroy(&attr);
	if (!s->checkpointer_running) {
		log_warn("store: no checkpoint thread; SQLite checkpoints on commit instead");
		sqlite3_exec(s->db, "PRAGMA wal_autocheckpoint=1000", NULL, NULL, NULL);
	}
}

static void stop_checkpointer(struct store *s)
{
	if (!s->checkpointer_running)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->checkpointer, NULL);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	s->checkpointer_running = false;
}

int store_busy_timeout_ms(void)
{
	return BUSY_TIMEOUT_MS;
}

static int exec(sqlite3 *db, const char *sql, char **msg)
{
	return sqlite3_exec(db, sql, NULL, NULL, msg);
}

static int read_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*version = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static int migrate(struct store *s, const struct store_migration *m, size_t n, char *err,
		   size_t err_len)
{
	size_t i;
	char *msg = NULL, *sql;
	int rc;

	for (i = (size_t)s->version; i < n; i++) {
		sql = xasprintf("BEGIN IMMEDIATE; %s PRAGMA user_version = %zu; COMMIT;", m[i].sql,
				i + 1);
		rc = exec(s->db, sql, &msg);
		free(sql);
		if (rc != SQLITE_OK) {
			snprintf(err, err_len, "schema migration %zu (%s) failed: %s", i + 1,
				 m[i].name, msg ? msg : sqlite3_errstr(rc));
			sqlite3_free(msg);
			exec(s->db, "ROLLBACK", NULL);
			return -1;
		}
		s->version = (int)(i + 1);
	}
	return 0;
}

int store_open_with(const char *path, const struct store_migration *migrations, size_t n,
		    struct store **out, char *err, size_t err_len)
{
	struct store *s = xcalloc(1, sizeof(*s));
	char *msg = NULL;
	int rc;

	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, err_len,
			 "cannot open database %s: %s (check that the directory exists"
			 " and is writable by this user)",
			 path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	rc = exec(s->db,
		  "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		  " PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=0;"
		  /* SQLite's default 2 MiB page cache would be a quarter of the gateway's
		   * memory budget; a personal agent's hot pages fit in 256 KiB. */
		  " PRAGMA cache_size=-256;"
		  /* Temp tables and statement journals in memory: under Landlock the
		   * process may not create files in /var/tmp or /tmp. */
		  " PRAGMA temp_store=MEMORY;"
		  /* The WAL file keeps its largest size after a checkpoint (SQLite overwrites it
		   * from the start); a burst of turns would leave tens of MB on the volume. */
		  " PRAGMA journal_size_limit=" WAL_LIMIT_BYTES ";",
		  &msg);
	if (rc == SQLITE_OK)
		rc = read_version(s->db, &s->version);
	if (rc != SQLITE_OK) {
		snprintf(err, err_len, "database %s is not usable: %s (is it a SQLite file?)", path,
			 msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		goto fail;
	}
	if ((size_t)s->version > n) {
		snprintf(err, err_len,
			 "database %s has schema version %d but this hermetic knows"
			 " only up to %zu; run a newer hermetic or restore a backup",
			 path, s->version, n);
		goto fail;
	}
	if (migrate(s, migrations, n, err, err_len) < 0)
		goto fail;
	s->path = xstrdup(path);
	*out = s;
	return 0;
fail:
	sqlite3_close(s->db);
	free(s);
	return -1;
}

int store_open(const char *path, struct store **out, char *err, size_t err_len)
{
	return store_open_with(path, builtin, ARRAY_LEN(builtin), out, err, err_len);
}

void store_close(struct store *s)
{
	if (!s)
		return;
	stop_checkpointer(s);
	sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

sqlite3 *store_db(struct store *s)
{
	return s->db;
}

int store_schema_version(struct store *s)
{
	return s->version;
}

int store_kv_get(struct store *s, const char *key, char **value)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, "SELECT value FROM kv WHERE key = ?1", -1, &st, NULL))
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*value = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return -ENOENT;
	log_error("store: reading %s failed: %s", key, sqlite3_errmsg(s->db));
	return -EIO;
}

int store_kv_set(struct store *s, const char *key, const char *value)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO kv (key, value, updated_ms) VALUES (?1, ?2, ?3)"
			       " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
			       " updated_ms = excluded.updated_ms",
			       -1, &st, NULL))
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_wall_ms());
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	log_error("store: writing %s failed: %s", key, sqlite3_errmsg(s->db));
	return -EIO;
}

int store_kv_del(struct store *s, const char *key)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, "DELETE FROM kv WHERE key = ?1", -1, &st, NULL))
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}
