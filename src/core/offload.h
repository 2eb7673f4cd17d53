/* offload: runs blocking work (a SQLite read on a connection of its own, a password hash) on a
 * thread of its own and its completion on the loop, so the loop never waits for it.
 *
 * One joinable thread per job, at most max_jobs at once (no thread is kept while idle: the
 * idle process costs nothing). The work function runs on the thread with every signal but
 * SIGSYS blocked and must touch nothing the loop touches; it writes its result into its arg.
 */
#ifndef HERMETIC_OFFLOAD_H
#define HERMETIC_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct offload;

/* work runs on the thread; done runs later on the loop, once work has returned. */
typedef void (*offload_fn)(void *arg);

/* Borrows base (the loop's, loop_base()), which must outlive the offload. The base rather
 * than the loop: the loop owns an offload of its own (loop_offload), and this file calls
 * nothing of loop.c. */
struct offload *offload_create(struct event_base *base, size_t max_jobs);
/* Tells the jobs still running to stop (offload_cancelled), waits for them and calls their
 * abandon callbacks instead of done (see offload_run). Accepts NULL. */
void offload_destroy(struct offload *o);
/* In a work function: true once offload_destroy waits for this job. Work that can run long
 * (a password hash of millions of iterations) asks now and then and returns early, so that a
 * shutdown waits for none of it; its result goes to abandon, never to done. False outside a
 * job. */
bool offload_cancelled(void);
/* Starts work(arg) on a new thread. Returns 0: done(arg) fires exactly once, from the loop,
 * unless offload_destroy comes first, which then calls abandon(arg) instead (abandon may be
 * NULL), after the work has returned. Returns -EBUSY (max_jobs are running) or -EAGAIN (no
 * thread could be started): nothing fires. */
int offload_run(struct offload *o, offload_fn work, offload_fn done, offload_fn abandon, void *arg);
/* Waits for every job (also those a done callback starts meanwhile) and calls its done from
 * here, in the order the jobs were started, instead of from the loop. For the loop's thread
 * outside any callback of o: tests that check a job's effect before other events run. */
void offload_drain(struct offload *o);
/* Jobs running or waiting for their done callback. */
size_t offload_jobs(const struct offload *o);
/* What a worker thread (an offload job's, the store's, a file tool's) does first:
 * - blocks every signal, which are the loop's, but SIGSYS: under the sandbox's errno mode a
 *   denied syscall must fail with EPERM there too; a blocked SIGSYS would kill the process;
 * - takes SCHED_BATCH (best effort): a worker woken by the loop (the store's committer, 10
 *   times a second under load) no longer preempts the loop on its CPU. As SCHED_OTHER it did,
 *   and the loop stood still for the worker's whole run: at 1,000 req/s the batch window's
 *   callback took a median 157 µs and up to 470 µs (benchmarks/router, docs/numbers.md). Same
 *   weight otherwise: the worker gets its share of the CPU, only later. */
void offload_thread_init(void);
/* offload_thread_init, then the nice value OFFLOAD_BACKGROUND_NICE (best effort): for threads
 * whose work the loop seldom waits for, the store's committer and checkpointer. As
 * SCHED_BATCH at nice 0 a committer woken with the CPU's fair share ahead of it kept the CPU
 * through its whole commit (0.4-1.1 ms every 500 ms at 1,000 req/s), yields and all, and the
 * loop's requests on that CPU waited: with the router, the load generator and the upstream on
 * one CPU, nice 10 took the router's added p99 from +58 and +48 µs to +38 and +21 (two copies
 * of each build, docs/numbers.md). At nice 10 the thread still gets about a tenth of a CPU that
 * a busy nice-0 thread wants, so a commit the loop must wait for (the batch's hard bound, another
 * use of the connection) still ends in milliseconds; SCHED_IDLE (0.3%, and no way back for an
 * unprivileged thread) was measured and rejected for that wait. */
#define OFFLOAD_BACKGROUND_NICE 10
void offload_thread_background(void);

#endif
