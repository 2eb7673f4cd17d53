/* skill_rank: skills ranked by FTS5 against free text.
 *
 * Each call opens an in-memory SQLite database, fills an FTS5 table (porter stemming, so
 * "pods" finds "pod") with the docs and asks it for bm25 order: for a few hundred skills this
 * is well under a millisecond, and SQLite with FTS5 is linked already for session search.
 * The text never reaches FTS5 as syntax: it is cut into words of letters, digits and
 * non-ASCII bytes, each one quoted, joined with OR (the same defence as sessions.c). Common
 * English words are dropped, so a chatty first message ranks by what it is about rather than
 * by how often a description says "the". Rejected: a hand-written TF-IDF (more code, no
 * stemming) and a persistent index in state.db (would go stale on hand edits of SKILL.md;
 * rebuilding it is as cheap as using it).
 */
#include "skills/skill_rank.h"
#include "core/log.h"
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define WORD_MAX 64 /* bytes; a longer run is cut there */

/* Words that say nothing about what a skill does; sorted for bsearch. */
static const char *const stop_words[] = {
	"about", "after",  "all",   "also", "am",    "an",     "and",	"any",	  "are",   "as",
	"at",	 "be",	   "been",  "but",  "by",    "can",    "could", "did",	  "do",	   "does",
	"for",	 "from",   "get",   "had",  "has",   "have",   "he",	"hello",  "help",  "her",
	"hey",	 "hi",	   "his",   "how",  "i",     "if",     "in",	"into",	  "is",	   "it",
	"its",	 "just",   "let",   "like", "me",    "my",     "need",	"no",	  "not",   "now",
	"of",	 "on",	   "or",    "our",  "out",   "please", "she",	"should", "so",	   "some",
	"than",	 "thanks", "that",  "the",  "their", "them",   "then",	"there",  "these", "they",
	"this",	 "to",	   "up",    "us",   "use",   "want",   "was",	"we",	  "were",  "what",
	"when",	 "where",  "which", "who",  "why",   "will",   "with",	"would",  "you",   "your",
};

static int cmp_word(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

static bool is_word_byte(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

size_t skill_rank_query(const char *text, struct buf *out)
{
	char words[SKILL_RANK_MAX_WORDS][WORD_MAX + 1];
	size_t n = 0, len, i;
	const char *w;

	while (text && *text && n < SKILL_RANK_MAX_WORDS) {
		while (*text && !is_word_byte((unsigned char)*text))
			text++;
		for (w = text; is_word_byte((unsigned char)*text); text++)
			;
		len = (size_t)(text - w);
		if (len < 2)
			continue;
		len = len > WORD_MAX ? WORD_MAX : len;
		for (i = 0; i < len; i++)
			words[n][i] = (char)tolower((unsigned char)w[i]);
		words[n][len] = '\0';
		if (bsearch(words[n], stop_words, ARRAY_LEN(stop_words), sizeof(stop_words[0]),
			    cmp_word))
			continue;
		for (i = 0; i < n && strcmp(words[i], words[n]) != 0; i++)
			;
		if (i < n)
			continue;
		buf_printf(out, "%s\"%s\"", n ? " OR " : "", words[n]);
		n++;
	}
	return n;
}

static int fail(sqlite3 *db, const char *what)
{
	log_warn("skills: ranking: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
	return -EIO;
}

static int fill(sqlite3 *db, const struct skill_rank_doc *docs, size_t n)
{
	sqlite3_stmt *st;
	size_t i;
	int rc = 0;

	if (sqlite3_exec(db,
			 "CREATE VIRTUAL TABLE s USING fts5(name, category, description, "
			 "tokenize = 'porter unicode61 remove_diacritics 2')",
			 NULL, NULL, NULL) != SQLITE_OK)
		return fail(db, "create");
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO s(rowid, name, category, description) "
			       "VALUES (?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return fail(db, "prepare");
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (i = 0; i < n && rc == 0; i++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
		sqlite3_bind_text(st, 2, docs[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, docs[i].category, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, docs[i].description, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = fail(db, "insert");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

static int search(sqlite3 *db, const char *match, size_t n, size_t *order)
{
	sqlite3_stmt *st;
	size_t got = 0;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "SELECT rowid FROM s WHERE s MATCH ? "
			       "ORDER BY bm25(s, 10.0, 3.0, 1.0), rowid",
			       -1, &st, NULL) != SQLITE_OK)
		return fail(db, "prepare");
	sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && got < n)
		order[got++] = (size_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(db, "search");
	return (int)got;
}

int skill_rank(const struct skill_rank_doc *docs, size_t n, const char *text, size_t *order)
{
	sqlite3 *db = NULL;
	struct buf match;
	int rc = 0;

	buf_init(&match, 0);
	if (n == 0 || skill_rank_query(text, &match) == 0)
		goto out;
	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = fail(db, "open");
		goto out;
	}
	rc = fill(db, docs, n);
	if (rc == 0)
		rc = search(db, buf_str(&match), n, order);
out:
	sqlite3_close(db);
	buf_finish(&match);
	return rc;
}
