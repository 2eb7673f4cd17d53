/* skill_hist: a skill's versions. Every change of a home skill (by the agent, the owner's
 * cockpit edit, a revert, an install, an edit of the files by hand found by its content hash)
 * is a numbered version: a snapshot of its SKILL.md and the content hash of its whole folder,
 * kept below home in skills/.history/<name>/ (a dot folder, which the skill scan skips):
 *
 *   log         one line per event, tab-separated, oldest first:
 *               "version\tN\tHASH\tTS_MS\tBY" and "test\tHASH\tTS_MS\tSUMMARY"
 *   <N>.md      SKILL.md as version N had it
 *
 * Everything goes through safeio (relative to home's descriptor, never through a symlink).
 * At most SKILL_HIST_KEEP versions are kept; older snapshots and their lines are dropped.
 */
#ifndef HERMETIC_SKILL_HIST_H
#define HERMETIC_SKILL_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define SKILL_HIST_KEEP	       100		 /* versions kept per skill */
#define SKILL_HIST_LOG_MAX     (256 * 1024)	 /* bytes of one log */
#define SKILL_HIST_FILES_MAX   200		 /* files of a folder that its hash covers */
#define SKILL_HIST_FILE_MAX    (4 * 1024 * 1024) /* bytes of one such file */
#define SKILL_HIST_SUMMARY_MAX 200		 /* bytes of a test summary */

struct skill_version {
	int n;				       /* 1, 2, ... */
	char hash[65];			       /* the folder's content hash (skill_hist_hash) */
	int64_t ts_ms;			       /* wall clock */
	char by[16];			       /* agent, cockpit, file, revert, install, update */
	char test[SKILL_HIST_SUMMARY_MAX + 1]; /* the last test result of this hash, "" = none */
	int64_t test_ms;
};

struct skill_hist {
	struct skill_version *v; /* oldest first */
	size_t n;
};

/* The content hash of the folder rel_dir below home_fd: SHA-256 over each regular file's
 * relative path, a NUL, its size in decimal, a NUL and its bytes, in path order (symlinks
 * and dot entries skipped, 3 levels deep at most). The same bytes give the same hash on any
 * machine (a pack's manifest holds it). Returns 0 or a negative errno (-EFBIG: a file or the
 * file count over the caps). */
int skill_hist_hash(int home_fd, const char *rel_dir, char out[65]);

/* Records the skill name (its folder rel_dir below home_fd) as a new version made by by,
 * unless its content hash equals the last version's. *n_out (may be NULL) gets the version
 * number now current (0 when the skill has no SKILL.md). Returns 0 or a negative errno. */
int skill_hist_record(int home_fd, const char *name, const char *rel_dir, const char *by,
		      int *n_out);

/* Loads the versions of name (none: 0 with h empty), each with the last test result noted
 * for its hash. Returns 0 or a negative errno. */
int skill_hist_load(int home_fd, const char *name, struct skill_hist *h);
void skill_hist_finish(struct skill_hist *h); /* accepts a zeroed struct */

/* SKILL.md of version n of name, appended to out. -ENOENT when it is not kept. */
int skill_hist_text(int home_fd, const char *name, int n, struct buf *out);

/* Notes a test run's summary (one line, cut at SKILL_HIST_SUMMARY_MAX) for the content hash
 * hash of name. Returns 0 or a negative errno. */
int skill_hist_note_test(int home_fd, const char *name, const char *hash, const char *summary);

/* A line diff of a -> b (pure): "-old" and "+new" lines with two lines of context around
 * each change, "@@ line N" before each hunk; "" when equal. Texts over 1,000 lines are shown
 * as a whole replacement. */
void skill_diff(const char *a, size_t a_len, const char *b, size_t b_len, struct buf *out);

#endif
