/* mcp_skills: the skills extension (SEP-2640, `io.modelcontextprotocol/skills`) on the client
 * side: skills/list read into entries, and one skill loaded: its SKILL.md read with
 * resources/read and verified (size, sha256 digest, front matter field by field against the
 * entry) before anything of it is used, then each further file of the entry, each verified.
 * Nothing is read before a load: listing reads no file.
 *
 * Async contract: a negative return means the callback never fires; otherwise it fires exactly
 * once, later, from the loop (also when the server fails or the client is destroyed).
 */
#ifndef HERMETIC_MCP_SKILLS_H
#define HERMETIC_MCP_SKILLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mcp;

#define MCP_SKILLS_MAX	     512	       /* entries kept of one listing */
#define MCP_SKILL_FILES_MAX  200	       /* files of one skill (skill packs' cap) */
#define MCP_SKILL_FILE_MAX   (1024 * 1024)     /* bytes of one file */
#define MCP_SKILL_TOTAL_MAX  (8 * 1024 * 1024) /* bytes of one skill's files */
#define MCP_SKILL_PAGES_MAX  50		       /* skills/list pages followed */
#define MCP_SKILL_DIGEST_LEN 71		       /* "sha256:" + 64 hex */

struct mcp_skill_file {
	char *uri;
	char digest[MCP_SKILL_DIGEST_LEN + 1];
	int64_t size; /* bytes; -1 when the entry gives none */
};

/* One skills/list (or skills/get) entry. Strings owned. */
struct mcp_skill {
	char *uri;		/* of its SKILL.md */
	char *name;		/* the URI's last folder (= frontmatter.name for a valid entry) */
	char *description;	/* frontmatter.description, "" when none */
	char *frontmatter_json; /* the entry's frontmatter object, compact JSON */
	struct mcp_skill_file *files;
	size_t n_files;
	bool dynamic; /* no resources: nothing to verify against; not loaded */
};

struct mcp_skill_list {
	struct mcp_skill *v;
	size_t n;
	bool truncated; /* more pages or entries than the caps */
};

void mcp_skill_list_finish(struct mcp_skill_list *l); /* accepts a zeroed list */

/* ---- the pure part (tests/test_mcp_skills.c) ---- */

/* Appends the entries of one skills/list result (JSON text) to l; its nextCursor into *cursor
 * (malloc'd, NULL when none). An entry without a uri or frontmatter object, or whose digests
 * are malformed, is dropped with a warning. 0, or -EBADMSG (not a result object). */
int mcp_skills_parse_page(const char *json, size_t len, struct mcp_skill_list *l, char **cursor);
/* The YAML front matter of SKILL.md text as compact JSON (malloc'd into *json): the block
 * between a first line `---` and the next `---` line. 0, or -EBADMSG with why. */
int mcp_skill_frontmatter(const char *text, size_t len, char **json, char *why, size_t why_len);
/* Checks data read from f's uri against f: its byte length against f->size, its sha256 against
 * f->digest; and, when f is sk's SKILL.md, its front matter against sk's, field by field. 0,
 * or -EBADMSG with why (what differs). */
int mcp_skill_verify(const struct mcp_skill *sk, const struct mcp_skill_file *f, const char *data,
		     size_t len, char *why, size_t why_len);
/* The path of uri below sk's folder ("references/FORMS.md"), or NULL when uri is not within
 * it (borrowed from uri). */
const char *mcp_skill_rel_path(const struct mcp_skill *sk, const char *uri);

/* ---- on the loop ---- */

/* Whether server is connected and declared the extension. */
bool mcp_skills_offered(struct mcp *m, const char *server);

/* l is the callback's to keep (move it out) or leave: it is finished after the callback. why
 * (rc < 0) says what failed. */
typedef void (*mcp_skills_cb)(int rc, struct mcp_skill_list *l, const char *why, void *arg);
/* Lists server's skills, every page up to the caps. -ENOENT (no such server), -ENOTCONN (not
 * connected), -EOPNOTSUPP (it offers no skills). */
int mcp_skills_list(struct mcp *m, const char *server, mcp_skills_cb cb, void *arg);

struct mcp_skill_content {
	char *path; /* below the skill's folder: "SKILL.md", "references/FORMS.md" */
	char *data;
	size_t len;
};

/* files (SKILL.md first) borrowed during the callback; n = 0 when rc < 0. */
typedef void (*mcp_skill_load_cb)(int rc, const struct mcp_skill_content *files, size_t n,
				  const char *why, void *arg);
/* Loads sk (an entry of server's listing; copied): SKILL.md first, verified before any other
 * file is read; then each further file of the entry, verified. A failed check ends the load:
 * nothing more is read. -ENOENT, -ENOTCONN as mcp_skills_list; -EINVAL when the entry cannot
 * be verified (dynamic, or no entry for its SKILL.md). */
int mcp_skill_load(struct mcp *m, const char *server, const struct mcp_skill *sk,
		   mcp_skill_load_cb cb, void *arg);

#endif
