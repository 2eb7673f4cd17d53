/* store_mem: SQLite's memory through the C library's malloc, except that its blocks of 8 to
 * 32 KiB are kept for reuse (two of each 4 KiB size) instead of going back at once.
 *
 * Why: a b-tree page split (balance_nonroot) takes a scratch block of about 13 KiB and gives
 * it back before the statement ends; an index's pages split so (a table's appended rows do
 * not), and the ledger's commit split one a few times a batch while spend_row had its index
 * on ts_ms (SPEND_MINUTE_SQL); spend_text's index, the sessions' and the others' still do.
 * musl's malloc (the release binary's) maps a fresh group for each such block and unmaps it
 * when it is freed: at 1,000 req/s the committer thread made 3.3 mmap and 3.3 munmap calls a
 * 100 ms batch (perf trace) and faulted the new pages in, each munmap a TLB shootdown of the
 * other threads' CPUs. A kept block costs one atomic exchange to take and one to give back.
 *
 * Blocks are rounded up to whole 4 KiB (musl maps these sizes in whole pages anyway, so the
 * rounding uses no more memory than before) and kept in a slot per size class; a block whose
 * slots are full is freed as before. At most KEEP_PER_CLASS blocks of each class size
 * (12, 16, ... 32 KiB) are held: 264 KiB, about 32 KiB in the router's steady state. Lock-free:
 * the loop, the committer and the checkpoint thread allocate through SQLite at once.
 */
#include "core/store_mem.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define KEEP_STEP      4096
#define KEEP_MIN       (2 * KEEP_STEP) /* blocks above this ... */
#define KEEP_MAX       (8 * KEEP_STEP) /* ... up to this are kept */
#define KEEP_CLASSES   ((KEEP_MAX - KEEP_MIN) / KEEP_STEP)
#define KEEP_PER_CLASS 2

static sqlite3_mem_methods base;
static void *_Atomic kept[KEEP_CLASSES][KEEP_PER_CLASS];
static atomic_ulong n_reused, n_kept;
static bool installed;

static bool keepable(int n)
{
	return n > KEEP_MIN && n <= KEEP_MAX;
}

/* The class of a keepable size, rounded up to whole KEEP_STEPs. */
static int class_of(int n)
{
	return (n - KEEP_MIN - 1) / KEEP_STEP;
}

static int class_size(int c)
{
	return KEEP_MIN + (c + 1) * KEEP_STEP;
}

static void *mem_malloc(int n)
{
	if (keepable(n)) {
		int c = class_of(n);

		for (int i = 0; i < KEEP_PER_CLASS; i++) {
			void *p = atomic_exchange(&kept[c][i], NULL);

			if (p) {
				atomic_fetch_add_explicit(&n_reused, 1, memory_order_relaxed);
				return p;
			}
		}
		return base.xMalloc(class_size(c));
	}
	return base.xMalloc(n);
}

static void mem_free(void *p)
{
	int n;

	if (!p)
		return;
	n = base.xSize(p);
	/* Only blocks of a class's exact size: those mem_malloc made (or mem_roundup sized). */
	if (keepable(n) && class_size(class_of(n)) == n) {
		int c = class_of(n);

		for (int i = 0; i < KEEP_PER_CLASS; i++) {
			void *none = NULL;

			if (atomic_compare_exchange_strong(&kept[c][i], &none, p)) {
				atomic_fetch_add_explicit(&n_kept, 1, memory_order_relaxed);
				return;
			}
		}
	}
	base.xFree(p);
}

static int mem_size(void *p)
{
	return base.xSize(p);
}

static void *mem_realloc(void *p, int n)
{
	int old = base.xSize(p);
	void *q;

	if (!keepable(old) && !keepable(n))
		return base.xRealloc(p, n);
	q = mem_malloc(n);
	if (!q)
		return NULL; /* p stays valid, as realloc's contract says */
	memcpy(q, p, (size_t)(old < n ? old : n));
	mem_free(p);
	return q;
}

static int mem_roundup(int n)
{
	return keepable(n) ? class_size(class_of(n)) : base.xRoundup(n);
}

static int mem_init(void *arg)
{
	return base.xInit(arg);
}

static void mem_shutdown(void *arg)
{
	for (int c = 0; c < KEEP_CLASSES; c++)
		for (int i = 0; i < KEEP_PER_CLASS; i++) {
			void *p = atomic_exchange(&kept[c][i], NULL);

			if (p)
				base.xFree(p);
		}
	base.xShutdown(arg);
}

static void install(void)
{
	static const sqlite3_mem_methods ours = {mem_malloc,  mem_free, mem_realloc,  mem_size,
						 mem_roundup, mem_init, mem_shutdown, NULL};

	/* Fails (SQLITE_MISUSE) once SQLite is initialized: it then keeps its own methods. */
	if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &base) != SQLITE_OK || !base.xMalloc)
		return;
	installed = sqlite3_config(SQLITE_CONFIG_MALLOC, &ours) == SQLITE_OK;
}

void store_mem_install(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, install);
}

bool store_mem_installed(void)
{
	return installed;
}

void store_mem_stats(unsigned long *reused, unsigned long *kept_back)
{
	*reused = atomic_load_explicit(&n_reused, memory_order_relaxed);
	*kept_back = atomic_load_explicit(&n_kept, memory_order_relaxed);
}
