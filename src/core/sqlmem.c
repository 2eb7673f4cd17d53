/* sqlmem: see sqlmem.h.
 *
 * Why: the router's ledger rows are written on the store's committer thread, and each batch's
 * INSERTs and COMMIT allocate and free the same few small blocks (records, cursors, the
 * statement journal). musl's allocator gives a block group back to the kernel as soon as its
 * last block is freed and maps a new one on the next allocation: at 1,000 req/s that was about
 * 500 mmap and 500 munmap calls a second, each munmap a TLB shootdown across the threads, and
 * its global lock was contended by the two threads (about 400 futex calls a second). Freed
 * blocks of up to SQLMEM_MAX_CLASS bytes now wait in per-size free lists (at most
 * SQLMEM_KEEP_BYTES in all) for the next allocation of their size. Rejected: SQLite's own
 * memsys5 heap (a fixed arena sized in advance: a query larger than it fails with
 * SQLITE_NOMEM) and a bigger lookaside (it serves the connection's small objects only).
 */
#include "core/sqlmem.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SQLMEM_MIN_SHIFT  6 /* 64 bytes */
#define SQLMEM_CLASSES	  8 /* 64 .. 8192 bytes */
#define SQLMEM_MAX_CLASS  (1u << (SQLMEM_MIN_SHIFT + SQLMEM_CLASSES - 1))
#define SQLMEM_KEEP_BYTES (256 * 1024)

/* Before each block: its usable size (a class's size, or the size asked for when larger).
 * 16 bytes keep the block as aligned as malloc's. */
struct head {
	size_t size;
	size_t pad;
};

static struct {
	pthread_mutex_t mu;
	void *free[SQLMEM_CLASSES]; /* each block's first word links the next */
	size_t kept;		    /* bytes waiting in the lists */
} M = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};

/* The class holding n bytes, or -1 when n is past the largest. */
static int class_of(size_t n)
{
	int c = 0;

	if (n > SQLMEM_MAX_CLASS)
		return -1;
	while (((size_t)1 << (SQLMEM_MIN_SHIFT + c)) < n)
		c++;
	return c;
}

static size_t class_size(int c)
{
	return (size_t)1 << (SQLMEM_MIN_SHIFT + c);
}

static void *mem_malloc(int n)
{
	size_t size = n > 0 ? (size_t)n : 1;
	int c = class_of(size);
	struct head *h;
	void *p = NULL;

	if (c >= 0) {
		size = class_size(c);
		pthread_mutex_lock(&M.mu);
		p = M.free[c];
		if (p) {
			memcpy(&M.free[c], p, sizeof(void *));
			M.kept -= size;
		}
		pthread_mutex_unlock(&M.mu);
		if (p)
			return p;
	} else {
		size = (size + 15) & ~(size_t)15; /* as mem_roundup says */
	}
	h = malloc(sizeof(*h) + size);
	if (!h)
		return NULL;
	h->size = size;
	return h + 1;
}

static size_t block_size(const void *p)
{
	return ((const struct head *)p - 1)->size;
}

static void mem_free(void *p)
{
	size_t size;
	int c;

	if (!p)
		return;
	size = block_size(p);
	c = class_of(size);
	if (c >= 0 && class_size(c) == size) {
		pthread_mutex_lock(&M.mu);
		if (M.kept + size <= SQLMEM_KEEP_BYTES) {
			memcpy(p, &M.free[c], sizeof(void *));
			M.free[c] = p;
			M.kept += size;
			p = NULL;
		}
		pthread_mutex_unlock(&M.mu);
		if (!p)
			return;
	}
	free((struct head *)p - 1);
}

static void *mem_realloc(void *p, int n)
{
	size_t old;
	void *q;

	if (!p)
		return mem_malloc(n);
	old = block_size(p);
	if (n > 0 && (size_t)n <= old && (size_t)n > old / 2)
		return p;
	q = mem_malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, old < (size_t)n ? old : (size_t)n);
	mem_free(p);
	return q;
}

static int mem_size(void *p)
{
	return p ? (int)block_size(p) : 0;
}

static int mem_roundup(int n)
{
	int c = class_of(n > 0 ? (size_t)n : 1);

	return c >= 0 ? (int)class_size(c) : (n + 15) & ~15;
}

static int mem_init(void *arg)
{
	(void)arg;
	return SQLITE_OK;
}

static void mem_shutdown(void *arg)
{
	(void)arg;
}

static void install(void)
{
	static const sqlite3_mem_methods methods = {
		mem_malloc,  mem_free, mem_realloc,  mem_size,
		mem_roundup, mem_init, mem_shutdown, NULL,
	};

	/* SQLITE_MISUSE when SQLite was initialized already: it then keeps malloc's. */
	sqlite3_config(SQLITE_CONFIG_MALLOC, &methods);
}

void sqlmem_install(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, install);
}

size_t sqlmem_kept(void)
{
	size_t n;

	pthread_mutex_lock(&M.mu);
	n = M.kept;
	pthread_mutex_unlock(&M.mu);
	return n;
}
