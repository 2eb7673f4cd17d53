/* audit: the audit trail, one JSON object a line in home/logs/audit.jsonl (rotated by size
 * like the log): every model attempt the router makes, every tool call and every turn, with
 * where it came from (source, session), what it cost and how it ended. Its reader is
 * `hermetic audit tail|search` (cli/cli_audit.c) and any JSON-lines tool.
 *
 * A line is built with audit_begin(), the field adders and audit_end(). String values pass
 * log_redact() (no registered secret reaches the file) and are cut at AUDIT_STR_MAX bytes;
 * message text is added only with `audit.include_text: true` (audit_text()). With the trail
 * closed every call is a no-op, so callers need not check. Single-threaded (the loop). */
#ifndef HERMETIC_AUDIT_H
#define HERMETIC_AUDIT_H

#include "core/util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct store;

#define AUDIT_STR_MAX  256  /* a string field (a name, an error) */
#define AUDIT_TEXT_MAX 4096 /* message text, with include_text */

struct audit_line {
	struct buf b;
	bool on;
};

/* Opens the trail at path. Returns 0 or a negative errno (the trail stays closed). */
int audit_open(const char *path, size_t max_bytes, int keep, bool include_text);
void audit_close(void);
/* While s's group commit has a batch open, lines wait in memory and are written when it
 * ends (committed or rolled back): a few writes instead of one a line, and an attempt's line
 * reaches the file with its ledger row (a crash loses both, at most 2 x STORE_BATCH_MS of
 * them); past AUDIT_HELD_MAX bytes held, they are written before the batch ends.
 * They go out in pieces of whole lines of at most AUDIT_PIECE bytes, one piece a turn of
 * loop's event loop (a batch's 100 lines in one write of 34 KB held the loop for 50-100 µs
 * every batch, docs/numbers.md); a line that comes while pieces wait joins them. Otherwise,
 * and with s NULL, a line is written at once. Held lines are written first; call with NULL
 * before closing s (and loop). */
void audit_hold_for(struct store *s, struct loop *loop);
#define AUDIT_PIECE (8 * 1024)
/* A full batch's lines: STORE_BATCH_MAX_ROWS of a few hundred bytes (audit.c checks). */
#define AUDIT_HELD_MAX (256 * 1024)
bool audit_is_open(void);

/* {"ts":"<UTC ISO 8601, ms>","kind":kind ... */
void audit_begin(struct audit_line *l, const char *kind);

/* The adders below take the key as a string literal (a compile error otherwise): the line's
 * ,"key": is spelled at compile time, so adding a field measures and copies nothing for its
 * key (a router attempt's line has twenty of them). Keys are the code's own: nothing in them
 * is escaped. */
#define AUDIT_KEY(k) ",\"" k "\":", sizeof(k) + 3

/* "key":"value" (NULL: left out). */
#define audit_str(l, k, value) audit_put_str(l, AUDIT_KEY(k), value)
/* "key":"value" for a value from a fixed set of the code's own literals (an outcome, a
 * route): neither searched for secrets nor cut. Anything a user, a config or a peer chose goes
 * through audit_str. */
#define audit_word(l, k, value) audit_put_word(l, AUDIT_KEY(k), value)
/* Message text: only with include_text, cut at AUDIT_TEXT_MAX. */
#define audit_text(l, k, value) audit_put_text(l, AUDIT_KEY(k), value)
/* Text that is itself the record of an action (a reviewed draft, what left after Approve):
 * always, whatever include_text says, cut at AUDIT_TEXT_MAX. */
#define audit_record(l, k, value) audit_put_record(l, AUDIT_KEY(k), value)
#define audit_int(l, k, value)	  audit_put_int(l, AUDIT_KEY(k), value)
#define audit_num(l, k, value)	  audit_put_num(l, AUDIT_KEY(k), value)
#define audit_bool(l, k, value)	  audit_put_bool(l, AUDIT_KEY(k), value)
/* "key":"<first 16 hex digits of the SHA-256 of data>": tells equal arguments apart without
 * storing them. */
#define audit_hash(l, k, data, len) audit_put_hash(l, AUDIT_KEY(k), data, len)

/* What the macros above call: key is ,"name": and key_len its length (AUDIT_KEY). The
 * frequent ones append the key inline, where its length is the literal's and the copy a few
 * moves, and leave the value to audit_value_*(). */
void audit_put_text(struct audit_line *l, const char *key, size_t key_len, const char *value);
void audit_put_record(struct audit_line *l, const char *key, size_t key_len, const char *value);
void audit_put_hash(struct audit_line *l, const char *key, size_t key_len, const char *data,
		    size_t len);
/* A value after its key: a string cut at AUDIT_STR_MAX, a word, an integer, a number. */
void audit_value_str(struct audit_line *l, const char *value);
void audit_value_word(struct audit_line *l, const char *value);
void audit_value_int(struct audit_line *l, int64_t value);
void audit_value_num(struct audit_line *l, double value);

static inline void audit_put_str(struct audit_line *l, const char *key, size_t key_len,
				 const char *value)
{
	if (l->on && value) {
		buf_append(&l->b, key, key_len);
		audit_value_str(l, value);
	}
}

static inline void audit_put_word(struct audit_line *l, const char *key, size_t key_len,
				  const char *value)
{
	if (l->on && value) {
		buf_append(&l->b, key, key_len);
		audit_value_word(l, value);
	}
}

static inline void audit_put_int(struct audit_line *l, const char *key, size_t key_len,
				 int64_t value)
{
	if (l->on) {
		buf_append(&l->b, key, key_len);
		audit_value_int(l, value);
	}
}

static inline void audit_put_num(struct audit_line *l, const char *key, size_t key_len,
				 double value)
{
	if (l->on) {
		buf_append(&l->b, key, key_len);
		audit_value_num(l, value);
	}
}

static inline void audit_put_bool(struct audit_line *l, const char *key, size_t key_len, bool value)
{
	if (l->on) {
		buf_append(&l->b, key, key_len);
		if (value)
			buf_append(&l->b, "true", 4);
		else
			buf_append(&l->b, "false", 5);
	}
}

/* Closes the object and appends it as one line. */
void audit_end(struct audit_line *l);

#endif
