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
 *
 * Another process (the CLI, a backup, sqlite3 by hand) may hold the write lock for seconds.
 * SQLite's busy timeout would sleep on the loop for all of it, once per statement (three 5 s
 * waits froze a daemon for 15 s, and its long poll timed out). Once a loop is attached a busy
 * handler waits at most STORE_LOOP_BUSY_MS, then fails writes at once for FAIL_FAST_MS, and
 * store_write() keeps each write that found the lock in a FIFO retried from a timer (100 ms
 * doubling to 2 s) until it is stored, so a reply waits for the lock instead of being lost
 * or paid for again. Rejected: a writer thread (every caller would need a callback for what
 * is almost always a sub-millisecond insert).
 *
 * Group commit (store_batch_*): a commit is half of what a spend row costs (the WAL frames,
 * their checksums, the shm locks: about 14k of the router's 23k instructions per row, and
 * 4 pwrite + 6 fcntl), and at 1000 req/s nearly every upstream answer arrives in a loop pass
 * of its own, so batching one pass's rows saved nothing (1% of rows shared a commit). A batch
 * therefore stays open for STORE_BATCH_MS, on the loop's own connection, and the statements
 * run inside it as they come; the commit costs the loop a few microseconds. A row that comes
 * after a quiet window is written alone (a batch of one is 2k instructions and a timer
 * wake-up dearer than autocommit); the next row within the window opens a batch. The window
 * was 5 ms; at 20 ms a batch at 1000 req/s holds about 20 rows instead of 8, and pwrite +
 * fcntl per row fell from 1.7 to 0.9 (strace -c, 4000 requests), for a crash window of 20 ms
 * of rows, still far shorter than the calls in flight that a crash loses anyway. At 100 ms
 * (about 100 rows a batch at 1000 req/s) the committer wakes 10 times a second instead of 50,
 * writes each of the table's four b-tree leaves once per 100 rows instead of per 20, and the
 * plain router's CPU per request fell by a tenth (perf stat, 5 interleaved runs of 5,000
 * requests: 415 -> 371 ms). At 500 ms (about 500 rows a batch; docs/numbers.md, "The
 * twenty-first look") the process costs about 2 µs a request less again (an A/B of two copies
 * of each build, 10 rounds: cheaper in 8-10 of 10): each commit has a fixed part of about
 * 120 µs of CPU on the committer (WAL frames, locks, the thread's wake-ups) however few rows
 * it holds. A crash then loses at most 1 s of rows: LiteLLM's proxy writes its spend every
 * 10 s (PROXY_BATCH_WRITE_AT), and many of its deployments set 60 s. The COMMIT
 * itself was not a few microseconds but 100-300 (its pwrite calls), the router's p99; it now
 * runs on a committer thread on the same connection (see commit_loop). A writer may also hold
 * its rows back and write them in one statement just before the COMMIT (store_batch_hold: the
 * ledger's rows, router/spend_held.c); the crash window is the same. Rejected: a writer
 * thread with a queue for every row (copies, a second connection whose lock the loop's own
 * writes would wait for, and a wake-up per row).
 */
#include "core/store.h"
#include "core/store_mem.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/offload.h"
#include "core/util.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 5000
#define FAIL_FAST_MS	1000  /* after a busy wait ran out, on the loop */
#define BUSY_LOG_MS	30000 /* at most one "locked" warning per this */
#define RETRY_MIN_MS	100
#define RETRY_MAX_MS	2000

/* The application's migrations, registered from above by store_set_schema() (gateway/schema.c):
 * the store knows how to migrate, not which tables the modules above it keep. */
static const struct store_migration *schema;
static size_t n_schema;

#define CHECKPOINT_EVERY_S 1
/* What the WAL file is cut back to once a checkpoint let it restart (a string: SQL text). */
#define WAL_LIMIT_BYTES "4194304"

#define STORE_BATCH_LISTENERS 4

struct batch_listener {
	store_batch_fn fn;
	const struct store_held_ops *ops; /* NULL for a listener without rows */
	void *arg;
};

/* A batch's listeners, in the order they joined. */
struct batch {
	struct batch_listener l[STORE_BATCH_LISTENERS];
	size_t n;
};

struct store_job {
	store_write_fn fn;
	store_done_fn done;
	void *arg;
	struct store_job *next;
};

struct store {
	sqlite3 *db;
	int version;
	char *path;
	char err[512];
	/* on a loop */
	struct event *retry_ev;
	struct store_job *jobs, **jobs_tail;
	size_t n_jobs;
	long retry_ms;
	int64_t busy_since_ms, fail_fast_until_ms, busy_logged_ms;
	bool busy_reported; /* a "locked" warning awaits its "stored again" note */
	/* group commit: rows held by their writers while a batch fills on the loop, written and
	 * committed by the committer thread (see commit_loop) */
	struct event *batch_ev; /* the filling batch's window */
	sqlite3_stmt *batch_begin, *batch_commit;
	bool batch_open; /* a batch is filling */
	bool batch_due;	 /* its window ended while the one before it was being written */
	size_t batch_rows;
	int64_t last_join_ms; /* when a row last asked to join */
	struct batch fill, writing;
	uint64_t n_batch_commits, n_batch_joins;
	struct loop *loop; /* store_attach_loop's */
	/* The committer thread and the loop's view of it. */
	pthread_t committer;
	bool committer_running;
	pthread_mutex_t cmu;
	pthread_cond_t ccv;
	bool commit_asked, commit_finished, committer_stop;
	bool committing;       /* writing holds a batch that is not done (in the thread or not) */
	bool commit_in_thread; /* the committer has it now */
	int commit_rc;
	char commit_err[256];
	int commit_fd; /* eventfd: the committer's "finished" to the loop */
	struct event *commit_ev;
	pthread_t checkpointer;
	bool checkpointer_running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	bool reader; /* store_open_reader: read-only, never checkpoints */
};

static void stop_committer(struct store *s);
static int write_batch(struct store *s, const struct batch *b);

/* Starts one of the store's threads on a small stack. Returns true when it runs. */
static bool start_thread(pthread_t *t, void *(*fn)(void *), struct store *s)
{
	pthread_attr_t attr;
	bool ok;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	ok = pthread_create(t, &attr, fn, s) == 0;
	pthread_attr_destroy(&attr);
	return ok;
}

static void *checkpoint_loop(void *arg)
{
	struct store *s = arg;
	sqlite3 *db = NULL;
	struct timespec until;

	offload_thread_background();
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
	if (s->checkpointer_running)
		return;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->checkpointer_running = start_thread(&s->checkpointer, checkpoint_loop, s);
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
			if (!sqlite3_get_autocommit(s->db))
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

	store_mem_install();
	/* NOMUTEX: the connection is used by the loop and the committer thread, never at once
	 * (wait_commit; the hand-over under cmu orders them), so SQLite's per-call mutex was
	 * 2.4k instructions a proxied request for nothing. */
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW |
				     SQLITE_OPEN_NOMUTEX,
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
		  /* First, as it takes effect only on a database without tables: a new
		   * state.db can give pages back after session retention deletes rows
		   * (PRAGMA incremental_vacuum); an older one keeps reusing them. */
		  "PRAGMA auto_vacuum=INCREMENTAL;"
		  " PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
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

void store_set_schema(const struct store_migration *migrations, size_t n)
{
	schema = migrations;
	n_schema = n;
}

int store_open(const char *path, struct store **out, char *err, size_t err_len)
{
	if (!schema) {
		*out = NULL;
		snprintf(err, err_len,
			 "%s: no schema registered (a program calls store_set_schema first)", path);
		return -1;
	}
	return store_open_with(path, schema, n_schema, out, err, err_len);
}

int store_open_reader(const char *path, struct store **out, char *err, size_t err_len)
{
	struct store *s = xcalloc(1, sizeof(*s));
	int rc;

	s->reader = true;
	store_mem_install();
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
		/* Same small cache and in-memory temp storage as store_open_with(). */
		rc = exec(s->db, "PRAGMA cache_size=-256; PRAGMA temp_store=MEMORY;", NULL);
	}
	if (rc == SQLITE_OK)
		rc = read_version(s->db, &s->version);
	if (rc != SQLITE_OK) {
		snprintf(err, err_len, "cannot read database %s: %s", path,
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		sqlite3_close(s->db);
		free(s);
		return -1;
	}
	s->path = xstrdup(path);
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_flush(s);
	store_batch_end(s);
	stop_committer(s);
	if (s->retry_ev)
		event_free(s->retry_ev);
	if (s->batch_ev)
		event_free(s->batch_ev);
	sqlite3_finalize(s->batch_begin);
	sqlite3_finalize(s->batch_commit);
	stop_checkpointer(s);
	if (!s->reader)
		sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

sqlite3 *store_db(struct store *s)
{
	store_batch_end(s);
	return s->db;
}

const char *store_path(const struct store *s)
{
	return s->path;
}

/* ---- a loop's connection: short busy waits, writes kept and retried ----------------- */

/* Also called on the committer thread, should a COMMIT wait for a lock: in WAL mode it never
 * does (the write lock is held from BEGIN IMMEDIATE and autocheckpoint is off), but a file that
 * could not be put in WAL mode needs EXCLUSIVE at COMMIT. That is safe: these fields are only
 * touched inside SQLite calls on this connection, which wait_commit keeps from overlapping, and
 * log_msg takes its own lock. */
static int on_busy(void *arg, int n)
{
	struct store *s = arg;
	int64_t now = now_mono_ms();

	if (n == 0)
		s->busy_since_ms = now;
	if (now < s->fail_fast_until_ms)
		return 0;
	if (now - s->busy_since_ms < STORE_LOOP_BUSY_MS) {
		sqlite3_sleep(n < 3 ? 1 : 5);
		return 1;
	}
	s->fail_fast_until_ms = now + FAIL_FAST_MS;
	if (!s->busy_logged_ms || now - s->busy_logged_ms >= BUSY_LOG_MS) {
		log_warn("store: %s is locked by another process (waited %d ms); writes are kept"
			 " in memory and retried until it is free",
			 s->path, STORE_LOOP_BUSY_MS);
		s->busy_logged_ms = now;
		s->busy_reported = true;
	}
	return 0;
}

static void schedule_retry(struct store *s)
{
	struct timeval tv = {s->retry_ms / 1000, (s->retry_ms % 1000) * 1000};

	evtimer_add(s->retry_ev, &tv);
}

static struct store_job *pop_job(struct store *s)
{
	struct store_job *j = s->jobs;

	s->jobs = j->next;
	if (!s->jobs)
		s->jobs_tail = &s->jobs;
	s->n_jobs--;
	return j;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;
	struct store_job *j;
	int rc;

	store_batch_end(s);
	while (s->jobs) {
		rc = s->jobs->fn(s, s->jobs->arg);
		if (rc == -EBUSY) {
			s->retry_ms =
				s->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : s->retry_ms * 2;
			schedule_retry(s);
			return;
		}
		/* Unlinked before done: done may write again (it then queues behind the rest). */
		j = pop_job(s);
		j->done(j->arg, rc);
		free(j);
	}
	if (s->busy_reported)
		log_info("store: %s is free again; the writes kept meanwhile are stored", s->path);
	s->busy_reported = false;
}

/* The committer's own thread: store_batch_yield yields there only. */
static _Thread_local bool on_committer;

void store_batch_yield(void)
{
	if (on_committer)
		sched_yield();
}

/* ---- the committer thread -------------------------------------------------------------
 * A batch's rows and its COMMIT cost the loop about 11k instructions a row (SQLite's INSERT)
 * plus 100-300 µs of pwrite for its WAL frames every STORE_BATCH_MS, and a row that came
 * while a COMMIT ran waited for it: those stalls were the router's p99. The loop now only
 * holds rows in memory; as a batch closes, its writers set their rows aside (seal) and this
 * thread writes them and commits (BEGIN IMMEDIATE, each writer's write, COMMIT) while the
 * next batch fills on the loop. The one connection is used from both threads (opened
 * SQLITE_OPEN_NOMUTEX: SQLite may be, as long as never at once), and the store never lets
 * them overlap: every other
 * use of the connection (store_db, store_begin, store_write, a row written alone, ...) first
 * waits for the batch in flight (wait_commit). The batch's listeners fire on the loop when it
 * is done, from the eventfd or from wait_commit, whichever comes first. A writer yields the
 * thread's CPU between its statements (store_batch_yield): as SCHED_BATCH, a woken thread
 * that lands on this one's CPU (the load generator, the upstream, another service) waited
 * for the whole batch otherwise. Yields alone did not hand the CPU over when the scheduler
 * still owed this thread time: it runs at nice 10 as well (offload_thread_background). */
static void *commit_loop(void *arg)
{
	struct store *s = arg;
	uint64_t one = 1;
	int rc;

	offload_thread_background();
	on_committer = true;
	pthread_mutex_lock(&s->cmu);
	for (;;) {
		while (!s->commit_asked && !s->committer_stop)
			pthread_cond_wait(&s->ccv, &s->cmu);
		if (s->committer_stop)
			break;
		s->commit_asked = false;
		pthread_mutex_unlock(&s->cmu);
		rc = write_batch(s, &s->writing);
		pthread_mutex_lock(&s->cmu);
		s->commit_rc = rc;
		/* The wake-up before "finished", under the lock: whoever sees finished also
		 * finds the eventfd's count there to take. */
		if (write(s->commit_fd, &one, sizeof(one)) < 0) {
			/* cannot fail: one count per batch, taken before the next */
		}
		s->commit_finished = true;
		pthread_cond_broadcast(&s->ccv);
	}
	pthread_mutex_unlock(&s->cmu);
	return NULL;
}

static void start_committer(struct store *s)
{
	s->commit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->commit_fd < 0)
		return;
	pthread_mutex_init(&s->cmu, NULL);
	pthread_cond_init(&s->ccv, NULL);
	s->committer_running = start_thread(&s->committer, commit_loop, s);
	if (!s->committer_running) {
		/* Batches are then written on the loop, as they always could be. */
		pthread_mutex_destroy(&s->cmu);
		pthread_cond_destroy(&s->ccv);
		close(s->commit_fd);
		s->commit_fd = -1;
	}
}

static void commit_done(struct store *s);

/* Takes the committer's result once it is there (blocking until then). */
static void collect_commit(struct store *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->cmu);
	while (!s->commit_finished)
		pthread_cond_wait(&s->ccv, &s->cmu);
	s->commit_finished = false;
	pthread_mutex_unlock(&s->cmu);
	event_del(s->commit_ev);
	if (read(s->commit_fd, &n, sizeof(n)) < 0) {
		/* cannot fail: the count was written before commit_finished */
	}
	s->commit_in_thread = false;
}

/* Blocks until no batch is in flight and the listeners of those that were have fired; from
 * every use of the connection on the loop. A batch done may hand the next one over (its
 * window ended meanwhile, or it is full): that one is waited for too, so the caller finds the
 * connection free. */
static void wait_commit(struct store *s)
{
	while (s->committing) {
		if (s->commit_in_thread)
			collect_commit(s);
		commit_done(s);
	}
}

static void on_committed(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;

	if (!s->commit_in_thread)
		return;
	collect_commit(s);
	commit_done(s);
}

static void stop_committer(struct store *s)
{
	if (!s->committer_running)
		return;
	wait_commit(s);
	pthread_mutex_lock(&s->cmu);
	s->committer_stop = true;
	pthread_cond_signal(&s->ccv);
	pthread_mutex_unlock(&s->cmu);
	pthread_join(s->committer, NULL);
	pthread_mutex_destroy(&s->cmu);
	pthread_cond_destroy(&s->ccv);
	if (s->commit_ev)
		event_free(s->commit_ev);
	s->commit_ev = NULL;
	close(s->commit_fd);
	s->commit_fd = -1;
	s->committer_running = false;
}

static void on_batch_window(evutil_socket_t fd, short what, void *arg);

void store_attach_loop(struct store *s, struct loop *loop)
{
	if (s->retry_ev)
		return;
	s->jobs_tail = &s->jobs;
	s->loop = loop;
	s->retry_ev = evtimer_new(loop_base(loop), on_retry, s);
	sqlite3_busy_handler(s->db, on_busy, s);
	/* Without them, batches are off: every store_batch_hold says -ENOTSUP. */
	if (sqlite3_prepare_v2(s->db, "BEGIN IMMEDIATE", -1, &s->batch_begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->batch_commit, NULL) != SQLITE_OK)
		return;
	s->batch_ev = evtimer_new(loop_base(loop), on_batch_window, s);
	start_committer(s);
	if (s->committer_running) {
		/* Added only while a batch is in flight, so an idle store keeps no loop alive. */
		s->commit_ev = event_new(loop_base(loop), s->commit_fd, EV_READ, on_committed, s);
		if (!s->commit_ev)
			stop_committer(s);
	}
}

int store_write(struct store *s, store_write_fn fn, void *arg, store_done_fn done)
{
	int rc;

	store_batch_end(s);
	if (!s->jobs) {
		rc = fn(s, arg);
		if (rc != -EBUSY)
			return rc;
	}
	return store_write_later(s, fn, arg, done);
}

int store_write_later(struct store *s, store_write_fn fn, void *arg, store_done_fn done)
{
	struct store_job *j;

	if (!s->retry_ev)
		return -EBUSY;
	if (!s->jobs) {
		s->retry_ms = RETRY_MIN_MS;
		schedule_retry(s);
	}
	j = xcalloc(1, sizeof(*j));
	j->fn = fn;
	j->done = done;
	j->arg = arg;
	*s->jobs_tail = j;
	s->jobs_tail = &j->next;
	s->n_jobs++;
	return -EINPROGRESS;
}

size_t store_writes_waiting(const struct store *s)
{
	return s->n_jobs;
}

void store_flush(struct store *s)
{
	struct store_job *j;
	bool locked = false;
	int rc;

	if (!s || !s->jobs)
		return;
	store_batch_end(s);
	evtimer_del(s->retry_ev);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	while (s->jobs) {
		rc = locked ? -EBUSY : s->jobs->fn(s, s->jobs->arg);
		if (rc == -EBUSY && !locked)
			log_error("store: %s is still locked; %zu writes kept in memory are lost",
				  s->path, s->n_jobs);
		locked = locked || rc == -EBUSY;
		j = pop_job(s);
		j->done(j->arg, rc);
		free(j);
	}
	sqlite3_busy_handler(s->db, on_busy, s);
}

/* ---- group commit ---------------------------------------------------------------------- */

/* The batch's transaction, on the committer thread (or on the loop without one, or from
 * wait_commit): its writers' rows between BEGIN IMMEDIATE and COMMIT. -EBUSY: another process
 * holds the write lock (nothing was written; the batch may be tried again). Touches only the
 * connection, the batch and commit_err, which the loop leaves alone while it runs. */
static int write_batch(struct store *s, const struct batch *b)
{
	int rc = sqlite3_step(s->batch_begin);
	size_t i;

	if (rc != SQLITE_DONE) {
		snprintf(s->commit_err, sizeof(s->commit_err), "%s: begin: %s", s->path,
			 sqlite3_errmsg(s->db));
		sqlite3_reset(s->batch_begin);
		return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? -EBUSY : -EIO;
	}
	sqlite3_reset(s->batch_begin);
	for (i = 0; i < b->n; i++)
		if (b->l[i].ops)
			b->l[i].ops->write(b->l[i].arg, s->db);
	/* A statement's failure (SQLITE_FULL, IOERR...) may have rolled all of it back. */
	if (sqlite3_get_autocommit(s->db)) {
		snprintf(s->commit_err, sizeof(s->commit_err),
			 "%s: the batch was rolled back by a failure", s->path);
		return -EIO;
	}
	rc = sqlite3_step(s->batch_commit);
	if (rc != SQLITE_DONE) {
		snprintf(s->commit_err, sizeof(s->commit_err), "%s: commit: %s", s->path,
			 sqlite3_errmsg(s->db));
		sqlite3_reset(s->batch_commit);
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -EIO;
	}
	sqlite3_reset(s->batch_commit);
	return 0;
}

/* The committer (or the loop) has the writing batch. */
static void start_commit(struct store *s)
{
	if (s->committer_running && event_add(s->commit_ev, NULL) == 0) {
		s->commit_in_thread = true;
		pthread_mutex_lock(&s->cmu);
		s->commit_asked = true;
		pthread_cond_signal(&s->ccv);
		pthread_mutex_unlock(&s->cmu);
		return;
	}
	s->commit_rc = write_batch(s, &s->writing);
	commit_done(s);
}

/* The filling batch closes: its writers set its rows aside, and they are written while the
 * next batch fills. Only when no batch is in flight. */
static void hand_off(struct store *s)
{
	size_t i;

	s->writing = s->fill;
	s->fill.n = 0;
	s->batch_open = false;
	s->batch_due = false;
	s->batch_rows = 0;
	event_del(s->batch_ev);
	for (i = 0; i < s->writing.n; i++)
		if (s->writing.l[i].ops)
			s->writing.l[i].ops->seal(s->writing.l[i].arg);
	s->committing = true;
	start_commit(s);
}

/* The loop's half of a written batch: its outcome, then its listeners; then the next batch
 * if its window ended meanwhile. */
static void commit_done(struct store *s)
{
	struct batch b;
	int rc = s->commit_rc;
	size_t i;

	s->committing = false;
	if (rc == 0) {
		s->n_batch_commits++;
	} else {
		snprintf(s->err, sizeof(s->err), "%s", s->commit_err);
		/* (another process's lock: on_busy has warned, and the writers queue the rows) */
		if (rc != -EBUSY)
			log_error("store: %s", s->err);
	}
	/* Copied first: a listener may write again (and open the next batch). */
	b = s->writing;
	s->writing.n = 0;
	for (i = 0; i < b.n; i++)
		b.l[i].fn(b.l[i].arg, rc);
	if (s->batch_open && !s->committing &&
	    (s->batch_due || s->batch_rows >= STORE_BATCH_MAX_ROWS))
		hand_off(s);
}

/* The filling batch's window is over: written now, or right after the batch in flight. */
static void on_batch_window(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;

	if (!s->batch_open)
		return;
	if (s->committing)
		s->batch_due = true;
	else
		hand_off(s);
}

void store_batch_end(struct store *s)
{
	if (!s)
		return;
	wait_commit(s);
	if (!s->batch_open)
		return;
	hand_off(s);
	wait_commit(s);
}

static int add_listener(struct batch *b, store_batch_fn fn, const struct store_held_ops *ops,
			void *arg)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (b->l[i].fn == fn && b->l[i].arg == arg)
			return 0;
	if (i == STORE_BATCH_LISTENERS)
		return -ENOSPC;
	b->l[b->n++] = (struct batch_listener){fn, ops, arg};
	return 0;
}

int store_batch_listen(struct store *s, store_batch_fn fn, void *arg)
{
	if (!s || !s->batch_open)
		return -ENOTSUP;
	return add_listener(&s->fill, fn, NULL, arg);
}

int store_batch_hold(struct store *s, const struct store_held_ops *ops, void *arg)
{
	struct timeval window = {0, STORE_BATCH_MS * 1000};
	int64_t now = now_mono_ms(), last = s->last_join_ms;
	bool idle = !s->batch_open && !s->committing;

	if (!s->batch_ev || s->jobs) {
		wait_commit(s); /* -ENOTSUP: the caller uses the connection now */
		return -ENOTSUP;
	}
	/* A transaction of someone else's (store_begin) is open: write inside it, as before. */
	if (idle && !sqlite3_get_autocommit(s->db))
		return -ENOTSUP;
	s->last_join_ms = now;
	/* The first row after a quiet window goes alone: a batch of one costs more than
	 * autocommit, and when rows come closer than the window, the next one opens the batch. */
	if (idle && (!last || now - last >= STORE_BATCH_MS))
		return -ENOTSUP;
	/* A full batch goes now; while the one before it is being written it grows instead
	 * (and goes when that one is done), up to the hard bound, where the loop waits. */
	if (s->batch_open && s->batch_rows >= STORE_BATCH_HARD_ROWS)
		wait_commit(s);
	if (s->batch_open && s->batch_rows >= STORE_BATCH_MAX_ROWS && !s->committing)
		hand_off(s);
	if (!s->batch_open) {
		s->batch_open = true;
		evtimer_add(s->batch_ev, &window);
	}
	if (add_listener(&s->fill, ops->done, ops, arg) < 0) {
		/* More writers than slots: this one's row goes in the next batch. */
		wait_commit(s);
		if (s->batch_open)
			hand_off(s);
		return store_batch_hold(s, ops, arg);
	}
	s->batch_rows++;
	s->n_batch_joins++;
	return 0;
}

bool store_batch_open(const struct store *s)
{
	return s->batch_open;
}

bool store_batch_pending(const struct store *s)
{
	return s->batch_open || s->committing;
}

void store_batch_stats(const struct store *s, uint64_t *joins, uint64_t *commits)
{
	*joins = s->n_batch_joins;
	*commits = s->n_batch_commits;
}

/* ---- transactions and errors ----------------------------------------------------------- */

char *store_column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? xstrdup((const char *)t) : NULL;
}

int store_fail(struct store *s, const char *what)
{
	int code = sqlite3_errcode(s->db);

	snprintf(s->err, sizeof(s->err), "%s: %s: %s", s->path ? s->path : "database", what,
		 sqlite3_errmsg(s->db));
	return code == SQLITE_BUSY || code == SQLITE_LOCKED ? -EBUSY : -EIO;
}

const char *store_error(const struct store *s)
{
	return s->err[0] ? s->err : "no error recorded";
}

int store_begin(struct store *s)
{
	store_batch_end(s);
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(s, "begin");
	return 0;
}

int store_end(struct store *s, int rc)
{
	if (rc == 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = store_fail(s, "commit");
	if (rc < 0 && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* The WAL holds every commit not yet checkpointed, and a checkpoint syncs the database file
 * before the WAL restarts, so an fsync of the WAL covers every commit so far. No WAL file (the
 * store was closed and checkpointed) means nothing is waiting. */
static int sync_wal(const char *wal_path)
{
	int fd = open(wal_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int rc;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = fileio_fsync(fd);
	close(fd);
	return rc;
}

struct sync_job {
	char *wal_path;
	int rc;
	store_synced_fn done;
	void *arg;
};

static void sync_work(void *arg)
{
	struct sync_job *j = arg;

	j->rc = sync_wal(j->wal_path);
}

static void sync_finish(struct sync_job *j, int rc)
{
	j->done(rc, j->arg);
	free(j->wal_path);
	free(j);
}

static void sync_done(void *arg)
{
	struct sync_job *j = arg;

	sync_finish(j, j->rc);
}

static void sync_abandon(void *arg)
{
	sync_finish(arg, -ECANCELED);
}

static void sync_inline_done(evutil_socket_t fd, short what, void *arg)
{
	sync_done(arg);
}

int store_sync(struct store *s, store_synced_fn done, void *arg)
{
	struct timeval now = {0, 0};
	struct sync_job *j;

	if (!s->loop)
		return -EINVAL;
	store_batch_end(s); /* an open group commit is part of "so far" */
	j = xcalloc(1, sizeof(*j));
	j->wal_path = xasprintf("%s-wal", s->path);
	j->done = done;
	j->arg = arg;
	if (offload_run(loop_offload(s->loop), sync_work, sync_done, sync_abandon, j) == 0)
		return 0;
	/* no thread (at the job limit, or none could start): on the loop, once */
	sync_work(j);
	if (event_base_once(loop_base(s->loop), -1, EV_TIMEOUT, sync_inline_done, j, &now) < 0) {
		free(j->wal_path);
		free(j);
		return -ENOMEM;
	}
	return 0;
}

int store_schema_version(struct store *s)
{
	return s->version;
}

int store_kv_get(struct store *s, const char *key, char **value)
{
	sqlite3_stmt *st;
	int rc;

	store_batch_end(s);
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

	store_batch_end(s);
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO kv (key, value, updated_ms) VALUES (?1, ?2, ?3)"
			       " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
			       " updated_ms = excluded.updated_ms",
			       -1, &st, NULL))
		return store_fail(s, "write kv");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_wall_ms());
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, "write kv");
	sqlite3_finalize(st);
	/* A lock is logged by the busy handler; store_write() callers retry it. */
	if (rc == -EIO)
		log_error("store: writing %s failed: %s", key, store_error(s));
	return rc;
}

struct kv_write {
	char *key, *value;
};

static int write_kv(struct store *s, void *arg)
{
	struct kv_write *w = arg;

	return store_kv_set(s, w->key, w->value);
}

static void kv_write_free(void *arg, int rc)
{
	struct kv_write *w = arg;

	if (rc == -EBUSY)
		log_error("store: %s was not written: the database stayed locked", w->key);
	free(w->key);
	free(w->value);
	free(w);
}

int store_kv_put(struct store *s, const char *key, const char *value)
{
	struct kv_write *w = xmalloc(sizeof(*w));
	int rc;

	w->key = xstrdup(key);
	w->value = xstrdup(value);
	rc = store_write(s, write_kv, w, kv_write_free);
	if (rc != -EINPROGRESS)
		kv_write_free(w, rc);
	return rc;
}

int store_kv_del(struct store *s, const char *key)
{
	sqlite3_stmt *st;
	int rc;

	store_batch_end(s);
	if (sqlite3_prepare_v2(s->db, "DELETE FROM kv WHERE key = ?1", -1, &st, NULL))
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}
