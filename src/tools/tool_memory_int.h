/* tool_memory_int: the memory file that tool_memory.c (the `memory` tool, condensing, the
 * snapshot, the owner's edit) and tool_memory_file.c (the file itself) share. Private to
 * src/tools/tool_memory*.c.
 */
#ifndef HERMETIC_TOOL_MEMORY_INT_H
#define HERMETIC_TOOL_MEMORY_INT_H

#include "core/util.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct config;

#define FILE_MAX_BYTES	  (256 * 1024) /* a larger file was edited by hand: we do not rewrite it */
#define FULL_WARN_PERCENT 80	       /* from here on every write's answer asks to consolidate */
#define DELIM		  "\n§\n"
#define DELIM_CHARS	  3
#define HISTORY_DIR	  ".history" /* below the file's folder */
#define LANE_NAME_MAX	  64

/* One memory file, loaded. */
struct mem {
	char *file;	  /* as shown: "MEMORY.md", "lanes/private/MEMORY.md" (below memories/) */
	const char *base; /* "MEMORY.md": the name of its kept versions */
	char *rel;	  /* "memories/MEMORY.md", below home */
	char *dir;	  /* "memories", "memories/lanes/private" */
	const char *lane; /* NULL: the shared file */
	const char *home;
	size_t max_chars;
	char **v; /* entries, trimmed, non-empty, distinct */
	size_t n;
	struct buf raw; /* the file's bytes as read ("" when missing) */
};

/* Held from a file's read to its write, so a turn's call (on the loop) and the owner's edit
 * (on an offload thread) never write over each other in one process. */
void mem_lock(void);
void mem_unlock(void);

/* A lane's name becomes a folder: only names that cannot climb out of it or hide. */
bool mem_lane_ok(const char *lane);
/* The file of lane (NULL: the shared one) into m; the caller checked lane with mem_lane_ok. */
void mem_init(struct mem *m, const struct config *cfg, bool user, const char *lane);
void mem_finish(struct mem *m);

bool mem_is_space(char c);
/* Copies s[0..len) without surrounding white space; NULL when nothing is left. */
char *mem_trimmed(const char *s, size_t len);
/* The index of the entry equal to s, or -1. */
ssize_t mem_find(const struct mem *m, const char *s);
/* Appends e (taken) unless an identical entry is already there. */
void mem_push(struct mem *m, char *e);
/* The entries of text (the file's format) appended to m. */
void mem_parse(struct mem *m, const char *text, size_t len);
/* Reads the file; a missing one is empty. On error appends the reason to err. */
int mem_load(struct mem *m, struct buf *err);
/* v joined by the file's delimiter. */
void mem_join(char *const *v, size_t n, struct buf *out);
/* Characters of v as the file holds them (delimiters counted). */
size_t mem_chars_of(char *const *v, size_t n);
size_t mem_chars_one(const char *s);
/* "2,431" */
const char *mem_commas(size_t n, char out[32]);
/* "1,200/2,200 characters, 3 entries" */
void mem_usage(const struct mem *m, size_t chars, struct buf *out);
/* Refuses a write that would make the file chars long, listing the current entries: 0 or
 * -E2BIG with the words in out. */
int mem_check_bound(const struct mem *m, size_t chars, struct buf *out);
/* The file's bytes for m's entries. */
void mem_render(const struct mem *m, struct buf *b);
/* Writes m atomically; out gets "<done> <file> (usage)." and the warning when nearly full,
 * or why it failed (logged too). */
int mem_save(struct mem *m, const char *done, struct buf *out);
/* A line holding only "§" would split the entry in two when the file is read back. */
bool mem_has_delim_line(const char *s);
/* Keeps m's bytes as <its folder>/.history/<file>.<UTC time>; "<that folder>/<name>" (below
 * memories/) goes to kept. */
int mem_history_put(int home_fd, const struct mem *m, struct buf *kept);
/* Removes the oldest kept versions of m's file past keep (names sort by time). Best effort. */
void mem_history_prune(int home_fd, const struct mem *m, size_t keep);

#endif
