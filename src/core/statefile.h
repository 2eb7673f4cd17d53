/* statefile: a small file that always ends up holding the newest of what was put into it
 * (home/alerts-state.json, home/heartbeat.json), replaced atomically (fileio_write_atomic,
 * fsync and all) on the loop's worker threads (loop_offload), so a slow disk never stalls the
 * loop.
 *
 * One write at a time per file, and always of the newest contents: what is put while a write
 * runs waits, and a later put replaces it (coalesced), so an older write can never finish
 * after a newer one and leave the older contents on disk.
 */
#ifndef HERMETIC_STATEFILE_H
#define HERMETIC_STATEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct loop;
struct statefile;

/* A writer of path (copied) with mode. A failed write is logged as a warning, "cannot write
 * PATH (reason)" followed by note (copied, may be NULL: what the failure means). Borrows
 * loop, which must outlive it. */
struct statefile *statefile_create(struct loop *loop, const char *path, mode_t mode,
				   const char *note);
/* Takes data (malloc'd, len bytes) as the file's new contents. If no worker thread can take
 * the write now (all busy), it is tried again a second later, unless a newer put comes. */
void statefile_put(struct statefile *f, char *data, size_t len);
/* True when nothing waits and no write runs: the file holds the last contents put (or a
 * write of them failed and was logged). */
bool statefile_idle(const struct statefile *f);
/* Puts nothing more. What was put is still written: a write that runs and the newest
 * contents waiting complete on a worker (loop_destroy waits for them; if no thread is left
 * for the newest contents, they are written here, on the caller's thread, as at shutdown
 * nothing else waits). Accepts NULL. Call before loop_destroy. */
void statefile_destroy(struct statefile *f);

#endif
