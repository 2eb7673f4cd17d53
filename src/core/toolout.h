/* toolout: a tool's output as it streams in, however large, in bounded memory.
 *
 * The first excerpt_max bytes are kept for the model; everything (up to
 * agent.tool_output.max_bytes) goes to home/tool-output/<UTC time>-<label>-<random>.txt when
 * agent.tool_output.keep is on. toolout_text then gives the model the excerpt and a note
 * saying how much was cut and where the whole output is. Writes are plain write(2)s of 64 KiB
 * on the loop: local, bounded, the page cache's. Each new file first prunes the folder to
 * agent.tool_output.keep_days and keep_total_bytes, oldest first.
 */
#ifndef HERMETIC_CORE_TOOLOUT_H
#define HERMETIC_CORE_TOOLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

struct config;
struct toolout;

/* The folder below home where whole outputs go. */
#define TOOLOUT_DIR "tool-output"

/* Starts an output named for label (letters, digits and '-' are kept, the rest become '-';
 * at most 48). excerpt_max: what the model may read, note included (0: nothing, a file only). The
 * file is opened on the first write past what the excerpt can hold (a small output leaves no file).
 * Never fails: a file that cannot be written is logged once and the excerpt still works. */
struct toolout *toolout_create(const struct config *cfg, const char *label, size_t excerpt_max);
/* Accepts NULL. A file still open is closed and kept. */
void toolout_destroy(struct toolout *o);
/* Appends. Returns 0, or -E2BIG once the output passed agent.tool_output.max_bytes (the bytes
 * past it are dropped; the caller stops reading). */
int toolout_write(struct toolout *o, const void *data, size_t len);
/* Bytes written so far (also those past the cap, as far as they were offered). */
uint64_t toolout_total(const struct toolout *o);
/* True when the output is larger than what the model may read. */
bool toolout_cut(const struct toolout *o);
/* Appends what the model reads to out: the whole output when it fits excerpt_max, else the
 * excerpt (cut on a UTF-8 boundary) and the note, e.g.
 * "\n[output cut: the first 16000 of 52428800 bytes shown; the whole output is in
 * /home/hermetic/tool-output/20261125-231500-mcp-files-read-1a2b3c.txt]". Closes the file. */
void toolout_text(struct toolout *o, struct buf *out);
/* The whole output's file (absolute), or NULL when none was kept. Borrowed. */
const char *toolout_path(const struct toolout *o);
/* Deletes kept outputs past their age and the total (oldest first). Returns how many. */
int toolout_prune(const struct config *cfg);

#endif
