/* skill_rank: which skills fit a text best. FTS5 relevance (bm25) over each skill's name,
 * category and description, against free text: a user's first message, a cron job's prompt,
 * a skills_list query. Pure apart from an in-memory SQLite database that lives for one call.
 */
#ifndef HERMETIC_SKILL_RANK_H
#define HERMETIC_SKILL_RANK_H

#include <stddef.h>

struct buf;

#define SKILL_RANK_MAX_WORDS 48 /* distinct words of the text that are searched */

struct skill_rank_doc {
	const char *name;
	const char *category;	 /* NULL = none */
	const char *description; /* NULL = none */
};

/* Free text -> an FTS5 query: its words ("w1" OR "w2" ...), lowercased, deduplicated, without
 * one-letter and common English words, at most SKILL_RANK_MAX_WORDS. Letters, digits and any
 * non-ASCII byte make words, so punctuation and quotes in the text can never be FTS5 syntax.
 * Returns the number of words appended to out (0: nothing to search for). */
size_t skill_rank_query(const char *text, struct buf *out);

/* Writes to order (room for n) the indexes of the docs that share a word with text, best
 * first (bm25; a word in the name weighs most, then the category, then the description; ties
 * keep index order). Returns how many were written (0 when nothing matches or text has no
 * words), or -EIO when SQLite failed (logged). */
int skill_rank(const struct skill_rank_doc *docs, size_t n, const char *text, size_t *order);

#endif
