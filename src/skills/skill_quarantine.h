/* skill_quarantine: skills.lock, the quarantine an installed skill waits in, the review that
 * flags its scripts, URLs and tool instructions, and its approval (see skill_quarantine.c). */
#ifndef HERMETIC_SKILL_QUARANTINE_H
#define HERMETIC_SKILL_QUARANTINE_H

#include "skills/skill_md.h"
#include "skills/skill_pack.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;

#define SKILL_LOCK_FILE	   "skills.lock"	/* below the home */
#define SKILL_QUARANTINE   "skills/.quarantine" /* below the home; one folder per skill */
#define SKILL_FOLDER_DEPTH 3			/* folder levels of a skill read */

/* One line of skills.lock. */
struct skill_lock_entry {
	char name[SKILL_MD_NAME_MAX + 1];
	char state[16]; /* "quarantined" or "approved" */
	char hash[65], pack[65];
	int64_t ms;
	char *source; /* owned */
};

struct skill_lock {
	struct skill_lock_entry *v;
	size_t n;
};

/* Reads home_fd's skills.lock into l (empty when there is none; a malformed line pins
 * nothing). 0 or a negative errno; l is to be finished either way. */
int skill_lock_load(int home_fd, struct skill_lock *l);
/* Writes l as home_fd's skills.lock (atomically, 0600). 0 or a negative errno. */
int skill_lock_save(int home_fd, const struct skill_lock *l);
/* The entry of name, or NULL (borrowed from l). */
struct skill_lock_entry *skill_lock_find(struct skill_lock *l, const char *name);
void skill_lock_finish(struct skill_lock *l); /* accepts a zeroed lock */

/* The file at path into out, refused over cap bytes (-EFBIG) or when it is a symlink; the
 * reason appended to err. 0 or a negative errno. */
int skill_read_capped(const char *path, size_t cap, struct buf *out, struct buf *err);
/* The files of the skill folder dir into p (regular files, SKILL_FOLDER_DEPTH levels, dot
 * entries skipped; a symlink or the caps of skill_pack.h refuse it with the reason in err).
 * 0 or a negative errno. */
int skill_read_folder(const char *dir, struct skill_pack *p, struct buf *err);

/* What a review found. A binary file counts as a script. */
struct skill_review_flags {
	size_t scripts, urls, tools;
};

/* What skill_review reports, in order: each file, then each of its lines (none for a binary
 * file). Either may be NULL. text is the line without its newline, borrowed. */
struct skill_review_cbs {
	void (*file)(const struct skill_pack_file *f, bool script, bool binary, void *arg);
	void (*line)(size_t no, const char *text, size_t len, bool url, bool tool, void *arg);
};

/* Walks p's files for the owner's review: a script (a #! line or a script's extension), a
 * line with a URL, a line that tells the model to call a tool or run a command are flagged;
 * their counts into *out. */
void skill_review(const struct skill_pack *p, const struct skill_review_cbs *cbs, void *arg,
		  struct skill_review_flags *out);

/* Approves quarantined skill name of cfg's home: its content must still have the locked hash
 * and, when reviewed is not NULL, be the content sha256 (hex) the owner reviewed; it moves
 * into home/skills, skills.lock says "approved" and its history records the install; the
 * approved content's sha256 into approved (NULL = not wanted). 0, or a negative errno with one
 * line saying why appended to err: -ENOENT (no quarantined skill of that name), -EBADMSG
 * (changed since it was installed), -ESTALE (not the content reviewed: replaced since),
 * -EEXIST (a skill of that name exists), -EINVAL (a bad name or sha256), or the file system's
 * error. */
int skill_quarantine_approve(const struct config *cfg, const char *name, const char *reviewed,
			     char approved[65], struct buf *err);

/* Whether a usable skill of that name is in home/skills (installing over it is refused). */
bool skill_home_has(const struct config *cfg, const char *name);

#endif
