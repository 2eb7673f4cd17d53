/* toolout: a tool's output as it streams in, however large, in bounded memory.
 *
 * The first excerpt_max bytes are kept for the model; everything (up to
 * agent.tool_output.max_bytes) goes to home/tool-output/<UTC time>-<label>-<random>.txt when
 * agent.tool_output.keep is on. toolout_text then gives the model the excerpt and a note
 * saying how much was cut and where the whole output is. The file work (creating the folder,
 * pruning it to agent.tool_output.keep_days and keep_total_bytes, oldest first, creating the
 * file, its 64 KiB writes and its close) runs on a worker of the offload the output is given,
 * one writer at a time, in order; the loop only copies bytes into a queue of at most 1 MiB.
 * When the disk stays 1 MiB behind the loop waits for it, at most 5 s, then stops keeping.
 */
#ifndef HERMETIC_CORE_TOOLOUT_H
#define HERMETIC_CORE_TOOLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

struct config;
struct offload;
struct toolout;

/* The folder below home where whole outputs go. */
#define TOOLOUT_DIR "tool-output"

/* Starts an output named for label (letters, digits and '-' are kept, the rest become '-';
 * at most 48). excerpt_max: what the model may read, note included (0: nothing, a file only). The
 * file is named on the first write past what the excerpt can hold (a small output leaves no
 * file). off (borrowed; loop_offload) runs the file work; NULL, or no job free in it: the
 * caller's thread does (the CLI's tests, the fuzz target). Never fails: a file that cannot be
 * written is logged once, with what failed and where, and the excerpt still works. */
struct toolout *toolout_create(const struct config *cfg, struct offload *off, const char *label,
			       size_t excerpt_max);
/* Accepts NULL. The rest of the file is still written and closed, and kept; the object lives
 * on until its writer ended (or the offload was destroyed). */
void toolout_destroy(struct toolout *o);
/* Appends. Returns 0, or -E2BIG once the output passed agent.tool_output.max_bytes (the bytes
 * past it are dropped; the caller stops reading). */
int toolout_write(struct toolout *o, const void *data, size_t len);
/* Bytes written so far (also those past the cap, as far as they were offered). */
uint64_t toolout_total(const struct toolout *o);
/* True when the output is larger than what the model may read. */
bool toolout_cut(const struct toolout *o);
typedef void (*toolout_done_fn)(void *arg);
/* No more bytes: queues the last ones and the file's close. Returns 0: done(arg) fires exactly
 * once, from the loop (never from inside this call), when the file work has ended, written and
 * closed or failed (toolout_error); toolout_destroy before that drops it, and so does
 * loop_destroy (which finishes the file work on its own thread). -EALREADY: there is
 * no file work left (no file, or it ran on the caller's thread): done never fires. Then
 * toolout_text's note says whether the whole output was kept. */
int toolout_close(struct toolout *o, toolout_done_fn done, void *arg);
/* Appends what the model reads to out: the whole output when it fits excerpt_max, else the
 * excerpt (cut on a UTF-8 boundary) and the note, e.g.
 * "\n[output cut: the first 16000 of 52428800 bytes shown; the whole output is in
 * /home/hermetic/tool-output/20261125-231500-mcp-files-read-1a2b3c.txt]", or "...; the whole
 * output could not be kept: WHAT" (toolout_error) when writing it failed so far. Queues the
 * last bytes and the close, which the writer does later (toolout_idle). */
void toolout_text(struct toolout *o, struct buf *out);
/* The whole output's file (absolute), or NULL when none is kept (none needed, keep off, or its
 * writing failed so far). Borrowed. The writer may still be writing it. */
const char *toolout_path(const struct toolout *o);
/* What failed and where ("writing /home/x/tool-output/F.txt failed: No space left on device"),
 * or NULL while nothing did. Borrowed, until toolout_destroy. */
const char *toolout_error(const struct toolout *o);
/* True when no file work is queued or running: what is written is on disk and closed. */
bool toolout_idle(const struct toolout *o);
/* For tests: called on the thread that writes, before each write of the file. */
extern void (*toolout_write_hook)(void);
/* Deletes kept outputs past their age and the total (oldest first). Returns how many. */
int toolout_prune(const struct config *cfg);

#endif
