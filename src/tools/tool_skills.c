/* tool_skills: skills_list, skill_view and skill_manage, the skill index of the system
 * prompt, and the skills report of `config check` and `doctor`.
 *
 * A skill is a folder holding SKILL.md (front matter parsed by skill_md.c) and any files it
 * references, at the top of a skills directory or one level down in a category folder
 * (skill_set.c finds them). Skills are looked up in home/skills first (the agent's own,
 * writable), then in skills.external_dirs in order (read-only); a name is unique, the first
 * skill holding it wins and the others are reported. The name is the folder name and must
 * equal the front matter's `name`, so a name is checked against the name rule before it is
 * looked up, and files of a skill are read only when their realpath stays inside the skill's
 * folder.
 *
 * With a hundred skills neither a full index nor a full list fits a request: the index names
 * the skills that match the session's first text best (skill_rank.c) within
 * skills.index_tokens, and skills_list searches and pages, one line per skill.
 *
 * skill_manage writes only below home/skills, through safeio (relative to home's descriptor,
 * no symlink anywhere on the way): a SKILL.md is replaced atomically, never through a
 * symlink, and a delete never follows one. A new skill goes to the top level. The owner's
 * edits from the web cockpit (tools_skill_edit) go through the same checks and writes, with
 * the version of the text the human was shown (an edit of a file written since is refused),
 * and a lock keeps a turn's call on the loop and an edit on a thread from interleaving. Rejected:
 * supporting-file writes and a category argument (more schema bytes in every request; the
 * operator adds reference files and category folders by hand or in an external dir).
 */
#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/safeio.h"
#include "skills/skill_hist.h"
#include "skills/skill_md.h"
#include "skills/skill_rank.h"
#include "skills/skill_set.h"
#include "tools/tool.h"
#include "tools/tools.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VIEW_MAX_BYTES	   (64 * 1024) /* one file shown by skill_view */
#define MAX_FILES	   50	       /* files listed under a SKILL.md */
#define FILES_DEPTH	   3	       /* directory levels listed under a skill */
#define LIST_LIMIT	   20	       /* skills_list lines per page by default */
#define LIST_LIMIT_MAX	   50	       /* and at most */
#define LIST_DESC_MAX	   160	       /* bytes of a description in a skills_list line */
#define INDEX_DESC_MAX	   100	       /* and in a line of the index */
#define INDEX_WF_MAX	   80	       /* and of its workflow's never_invent and review */
#define INDEX_BYTES_PER_TK 4	       /* the context budget's estimate (context_est_tokens) */

/* s on one line (runs of white space become one space), at most max bytes: a longer one is
 * cut at a character boundary, at a space when there is one near, and ends with "...". */
static void put_oneline(struct buf *out, const char *s, size_t max)
{
	bool space = false, started = false;
	struct buf b;
	const char *sp;
	size_t n;

	buf_init(&b, 0);
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
			space = true;
			continue;
		}
		if (space && started)
			buf_append(&b, " ", 1);
		space = false;
		started = true;
		buf_append(&b, s, 1);
	}
	n = b.len;
	if (n > max) {
		n = utf8_cut(buf_str(&b), max - 3);
		sp = memrchr(buf_str(&b), ' ', n);
		if (sp && (size_t)(sp - buf_str(&b)) + 24 > n)
			n = (size_t)(sp - buf_str(&b));
	}
	buf_append(out, buf_str(&b), n);
	if (n < b.len)
		buf_puts(out, "...");
	buf_finish(&b);
}

static int check_name(const char *name, struct buf *out)
{
	if (skill_md_name_ok(name))
		return 0;
	buf_printf(out, "invalid name: %s", SKILL_MD_NAME_RULE);
	return -EINVAL;
}

/* Where sk lives, for messages: its external dir, or home/skills. */
static void put_root(struct buf *out, const struct config *cfg, const struct skill *sk)
{
	if (sk->root)
		buf_puts(out, sk->root);
	else
		buf_printf(out, "%s/skills", cfg->home);
}

/* ---------------------------------------------------------------------------------------
 * skills_list
 */

struct list {
	const struct skill **v; /* the skills the call shows, in order */
	size_t n;
};

/* The usable and the invalid skills (not the shadowed ones) of the category ("" = all). */
static void select_category(const struct skill_set *s, const char *category, struct list *l)
{
	size_t i;

	l->v = xcalloc(s->n + 1, sizeof(*l->v));
	l->n = 0;
	for (i = 0; i < s->n; i++)
		if (!s->v[i].shadowed &&
		    (!*category || (s->v[i].category && strcmp(s->v[i].category, category) == 0)))
			l->v[l->n++] = &s->v[i];
}

/* Keeps the skills of l that share a word with query, best first. -EIO when SQLite failed. */
static int rank_list(struct list *l, const char *query)
{
	struct skill_rank_doc *docs = xcalloc(l->n + 1, sizeof(*docs));
	const struct skill **ranked = xcalloc(l->n + 1, sizeof(*ranked));
	size_t *order = xcalloc(l->n + 1, sizeof(*order)), i;
	int n;

	for (i = 0; i < l->n; i++)
		docs[i] = (struct skill_rank_doc){l->v[i]->name, l->v[i]->category,
						  l->v[i]->description};
	n = skill_rank(docs, l->n, query, order);
	for (i = 0; n > 0 && i < (size_t)n; i++)
		ranked[i] = l->v[order[i]];
	free(l->v);
	l->v = ranked;
	l->n = n > 0 ? (size_t)n : 0;
	free(order);
	free(docs);
	return n < 0 ? n : 0;
}

static void put_list_line(struct buf *out, const struct skill *sk)
{
	buf_puts(out, sk->name);
	if (sk->category)
		buf_printf(out, " [%s]", sk->category);
	buf_puts(out, ": ");
	if (sk->description) {
		put_oneline(out, sk->description, LIST_DESC_MAX);
	} else {
		buf_puts(out, "[invalid: ");
		put_oneline(out, sk->error, LIST_DESC_MAX);
		buf_puts(out, "]");
	}
	buf_puts(out, sk->root ? " (read-only)\n" : "\n");
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "Categories: a (3), b (12)" of the listed skills, by name, when any has one. */
static void put_categories(struct buf *out, const struct skill_set *s)
{
	const char **cats = xcalloc(s->n + 1, sizeof(*cats));
	size_t i, j, n = 0;

	for (i = 0; i < s->n; i++)
		if (!s->v[i].shadowed && s->v[i].category)
			cats[n++] = s->v[i].category;
	qsort(cats, n, sizeof(*cats), by_str);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && strcmp(cats[j], cats[i]) == 0; j++)
			;
		buf_printf(out, "%s%s (%zu)", i ? ", " : "Categories: ", cats[i], j - i);
	}
	if (n)
		buf_puts(out, "\n");
	free(cats);
}

static void put_page(struct buf *out, const struct skill_set *s, const struct list *l,
		     const char *query, const char *category, size_t offset, size_t limit)
{
	size_t i, end = offset + limit < l->n ? offset + limit : l->n;

	if (offset >= l->n) {
		buf_printf(out, "offset %zu is past the end: %zu skills", offset, l->n);
		buf_puts(out, *query || *category ? " match.\n" : ".\n");
		return;
	}
	buf_printf(out, "Skills %zu-%zu of %zu", offset + 1, end, l->n);
	if (*query)
		buf_puts(out, " matching the query, best first");
	if (*category)
		buf_printf(out, " in category %s", category);
	buf_puts(out, ":\n");
	if (!*query && !*category && offset == 0)
		put_categories(out, s);
	for (i = offset; i < end; i++)
		put_list_line(out, l->v[i]);
	if (end < l->n)
		buf_printf(out, "Next page: offset=%zu.%s\n", end,
			   *query ? "" : " query= searches names and descriptions.");
}

static int run_list(const struct tool_req *req, struct buf *out)
{
	size_t mark = out->len;
	bool bad = false;
	const char *query = tool_arg_str(req->args, "query", false, out);
	const char *category = tool_arg_str(req->args, "category", false, out);
	long long offset = tool_arg_int(req->args, "offset", 0, 0, 1000000, &bad, out);
	long long limit = tool_arg_int(req->args, "limit", LIST_LIMIT, 1, 1000000, &bad, out);
	struct skill_set s;
	struct list l;
	int rc = 0;

	if (out->len > mark || bad)
		return -EINVAL;
	query = query ? query : "";
	category = category ? category : "";
	skill_set_scan(req->env->cfg, &s);
	select_category(&s, category, &l);
	if (*query)
		rc = rank_list(&l, query);
	if (rc < 0)
		buf_puts(out, "the search failed; call skills_list without query");
	else if (s.n == 0)
		buf_puts(out, "No skills yet; skill_manage with action=create adds one.");
	else if (l.n == 0 && *category && !*query) {
		buf_printf(out, "No skills in category %s. ", category);
		put_categories(out, &s);
	} else if (l.n == 0)
		buf_puts(out, "No skill matches the query; skills_list without query lists them "
			      "all.");
	else
		put_page(out, &s, &l, query, category, (size_t)offset,
			 limit > LIST_LIMIT_MAX ? LIST_LIMIT_MAX : (size_t)limit);
	free(l.v);
	skill_set_finish(&s);
	return rc;
}

const struct tool_def tool_def_skills_list = {
	.name = "skills_list",
	.toolset = CONFIG_TOOLSET_SKILLS,
	.read_only = true,
	.description = "List or search skills (saved procedures), 20 a page.",
	.params_json = "{\"type\":\"object\",\"properties\":{"
		       "\"query\":{\"type\":\"string\"},"
		       "\"category\":{\"type\":\"string\"},"
		       "\"offset\":{\"type\":\"integer\"},"
		       "\"limit\":{\"type\":\"integer\",\"description\":\"at most 50\"}}}",
	.run = run_list,
};

/* ---------------------------------------------------------------------------------------
 * skill_view
 */

/* Appends the paths of the files below dir (relative, depth-first, no dot files, symlinked
 * directories not entered), at most MAX_FILES, skipping SKILL.md itself. */
static void list_files(const char *dir, const char *rel, int depth, size_t *n, struct buf *out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	char *path, *sub;
	bool ok;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL && *n < MAX_FILES) {
		if (e->d_name[0] == '.' || (depth == 0 && strcmp(e->d_name, "SKILL.md") == 0))
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		sub = *rel ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
		ok = lstat(path, &st) == 0;
		if (ok && !S_ISDIR(st.st_mode))
			buf_printf(out, "%s%s", (*n)++ ? ", " : "", sub);
		else if (ok && depth + 1 < FILES_DEPTH)
			list_files(path, sub, depth + 1, n, out);
		free(sub);
		free(path);
	}
	closedir(d);
}

/* file must name something inside the skill: relative, no "..", no empty component. */
static bool file_arg_ok(const char *file)
{
	const char *p = file;
	size_t n;

	for (;;) {
		n = strcspn(p, "/");
		if (n == 0 || (n == 2 && memcmp(p, "..", 2) == 0))
			return false;
		if (p[n] == '\0')
			return true;
		p += n + 1;
	}
}

/* Appends the first VIEW_MAX_BYTES of the file; refuses binary content. */
static int put_file(const char *real, const char *file, struct buf *out)
{
	struct buf b;
	size_t size = 0;
	int rc;

	buf_init(&b, 0);
	rc = fileio_read_head(real, VIEW_MAX_BYTES, &b, &size);
	if (rc == 0 && memchr(buf_str(&b), '\0', b.len)) {
		buf_printf(out, "%s is a binary file; skill_view shows text only", file);
		rc = -EINVAL;
	} else if (rc == 0) {
		buf_append(out, buf_str(&b), b.len);
		if (b.len < size)
			buf_printf(out, "\n[cut at %d KiB of %zu bytes]", VIEW_MAX_BYTES / 1024,
				   size);
	} else if (rc == -EINVAL) {
		buf_printf(out, "%s is not a regular file", file);
	} else {
		buf_printf(out, "cannot read %s: %s", file, strerror(-rc));
	}
	buf_finish(&b);
	return rc;
}

static int view(const char *dir, const char *file, struct buf *out)
{
	char *path = xasprintf("%s/%s", dir, file), real_dir[PATH_MAX], real[PATH_MAX];
	size_t n = 0;
	int rc = -EINVAL;

	if (!realpath(dir, real_dir)) {
		buf_printf(out, "cannot open the skill: %s", strerror(errno));
	} else if (!realpath(path, real)) {
		rc = -ENOENT;
		buf_printf(out, "the skill has no file %s (files: ", file);
		list_files(real_dir, "", 0, &n, out);
		buf_puts(out, n ? ")" : "none besides SKILL.md)");
	} else if (!fileio_within(real_dir, real) || strcmp(real_dir, real) == 0) {
		buf_printf(out, "%s resolves outside the skill's directory; refused", file);
	} else {
		rc = put_file(real, file, out);
	}
	if (rc == 0 && strcmp(file, "SKILL.md") == 0) {
		buf_puts(out, "\n\n[files: ");
		list_files(real_dir, "", 0, &n, out);
		buf_puts(out, n ? "]" : "none besides SKILL.md]");
	}
	free(path);
	return rc;
}

/* The folders of every skill called name, comma-separated. */
static void put_paths(struct buf *out, const struct skill_set *s, const char *name)
{
	size_t i, k = 0;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			buf_printf(out, "%s%s", k++ ? ", " : "", s->v[i].path);
}

/* The skill's four questions after its SKILL.md, as instructions; a review that gates marks
 * the turn (review), so its outbound actions wait for the owner (tools.h, tools_review). */
static void put_workflow(struct buf *out, const struct skill *sk, struct tools_review *review)
{
	const struct skill_md_workflow *wf = &sk->workflow;

	if (!skill_md_workflow_present(wf))
		return;
	buf_puts(out, "\n\n[workflow of this skill: follow it]\n");
	skill_md_workflow_put(out, wf, "");
	if (wf->n_never_invent)
		buf_puts(out, "Never invent means: when the input does not state one of these, "
			      "say it is missing; do not guess it.\n");
	/* The draft card lists where these appear without a source (tools/review.h). */
	if (review)
		tools_review_add_never_invent(review, wf->never_invent, wf->n_never_invent);
	if (skill_md_review_gates(wf)) {
		buf_puts(out, "Every outbound action (a file or message sent, an external "
			      "system changed) waits for the owner's approval.\n");
		if (review)
			snprintf(review->skill, sizeof(review->skill), "%s", sk->name);
	}
}

static int run_view(const struct tool_req *req, struct buf *out)
{
	size_t mark = out->len, n_same;
	const char *name = tool_arg_str(req->args, "name", true, out);
	const char *file = tool_arg_str(req->args, "file", false, out);
	const struct skill *sk;
	struct skill_set s;
	int rc;

	if (out->len > mark || check_name(name, out) < 0)
		return -EINVAL;
	file = file && *file ? file : "SKILL.md";
	if (!file_arg_ok(file)) {
		buf_puts(out, "file must be a relative path inside the skill without \"..\", like "
			      "references/api.md");
		return -EINVAL;
	}
	skill_set_scan(req->env->cfg, &s);
	sk = skill_set_find(&s, name, &n_same);
	if (!sk) {
		buf_printf(out, "no skill named %s; skills_list shows them", name);
		rc = -ENOENT;
	} else {
		rc = view(sk->path, file, out);
		if (rc == 0 && strcmp(file, "SKILL.md") == 0)
			put_workflow(out, sk, req->review);
		if (rc == 0 && n_same > 1) {
			buf_printf(out, "\n\n[%zu skills are named %s: ", n_same, name);
			put_paths(out, &s, name);
			buf_printf(out,
				   "; this is %s. Names must be unique: tell the user to rename "
				   "one.]",
				   sk->path);
		}
	}
	skill_set_finish(&s);
	return rc;
}

const struct tool_def tool_def_skill_view = {
	.name = "skill_view",
	.toolset = CONFIG_TOOLSET_SKILLS,
	.read_only = true,
	.description = "Read a skill's SKILL.md, or a file it references.",
	.params_json = "{\"type\":\"object\",\"properties\":{"
		       "\"name\":{\"type\":\"string\"},"
		       "\"file\":{\"type\":\"string\",\"description\":\"default SKILL.md\"}},"
		       "\"required\":[\"name\"]}",
	.run = run_view,
};

/* ---------------------------------------------------------------------------------------
 * skill_manage
 */

/* Held from the scan of the skills to the write: a turn's skill_manage (on the loop) and the
 * owner's edit (tools_skill_edit, on a thread) never interleave in one process. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

struct manage {
	const struct config *cfg;
	const char *name;
	const char *content;
	const char *old_text;
	const char *new_text;
	const char *version; /* the owner's edit: the SKILL.md it was shown; NULL: the agent */
	const char *by;	     /* who changes it, for the skill's history: NULL = "agent" */
	struct skill_set set;
	const struct skill *sk; /* the skill called name, or NULL */
	size_t n_same;		/* skills called name */
	char *rel_dir;		/* skills/[<category>/]<name>, below home */
	char *rel_file;		/* that and /SKILL.md */
};

/* Checks a whole new SKILL.md: size, front matter, and that it names this skill. */
static int validate(const struct manage *m, const char *text, size_t len, struct buf *out)
{
	struct skill_md md = {0};
	struct buf err;
	int rc = -EINVAL;

	buf_init(&err, 0);
	if (len > SKILL_MAX_BYTES)
		buf_printf(out, "SKILL.md would be %zu bytes; at most %d", len, SKILL_MAX_BYTES);
	else if (skill_md_parse(text, len, &md, &err) < 0)
		buf_printf(out, "invalid SKILL.md: %s", buf_str(&err));
	else if (strcmp(md.name, m->name) != 0)
		buf_printf(out, "the front matter name '%s' must equal the name argument '%s'",
			   md.name, m->name);
	else
		rc = 0;
	skill_md_finish(&md);
	buf_finish(&err);
	return rc;
}

static int write_skill(const struct manage *m, const char *text, size_t len, const char *done,
		       struct buf *out)
{
	int rc, hrc = 0, home_fd = safeio_open_home(m->cfg->home);

	/* An edit by hand since the last version is a version of its own ("file"). */
	if (home_fd >= 0)
		hrc = skill_hist_record(home_fd, m->name, m->rel_dir, "file", NULL);
	rc = home_fd < 0 ? home_fd : safeio_mkdirs_at(home_fd, m->rel_dir, 0700);
	if (rc == 0)
		rc = safeio_write_atomic_at(home_fd, m->rel_file, text, len, 0600);
	if (rc == 0 && hrc == 0)
		hrc = skill_hist_record(home_fd, m->name, m->rel_dir, m->by ? m->by : "agent",
					NULL);
	if (hrc < 0)
		log_warn("skills: cannot record a version of %s: %s", m->name,
			 safeio_strerror(hrc));
	if (home_fd >= 0)
		close(home_fd);
	if (rc < 0) {
		log_warn("skills: cannot write %s/%s: %s", m->cfg->home, m->rel_file,
			 safeio_strerror(rc));
		buf_printf(out, "cannot write SKILL.md of %s: %s", m->name, safeio_strerror(rc));
		return rc;
	}
	buf_printf(out, "%s skill %s (%zu bytes).", done, m->name, len);
	return 0;
}

/* The SKILL.md of m's skill as it is now, into text; a message in out on error. */
static int read_current(const struct manage *m, struct buf *text, struct buf *out)
{
	int rc, home_fd = safeio_open_home(m->cfg->home);

	rc = home_fd < 0 ? home_fd : safeio_read_at(home_fd, m->rel_file, SKILL_MAX_BYTES, text);
	if (home_fd >= 0)
		close(home_fd);
	if (rc < 0)
		buf_printf(out, "cannot read SKILL.md of %s: %s", m->name, safeio_strerror(rc));
	return rc;
}

/* The owner's edit must be of the text it was shown; the agent's calls (no version) pass. */
static int check_version(const struct manage *m, const struct buf *text, struct buf *out)
{
	char v[TOOLS_VERSION_LEN + 1];

	if (!m->version)
		return 0;
	tools_edit_version(text->data ? text->data : "", text->len, v);
	if (strcmp(v, m->version) == 0)
		return 0;
	buf_printf(out,
		   "SKILL.md of %s changed after it was shown (the agent or another edit wrote "
		   "it); nothing was saved: reload it and make the change again",
		   m->name);
	return -ESTALE;
}

/* 0 when the skill is the only one of its name and an agent-owned real directory in
 * home/skills; else a message. */
static int owned(const struct manage *m, struct buf *out)
{
	struct stat st;

	if (!m->sk) {
		buf_printf(out, "no skill named %s; skills_list shows them", m->name);
		return -ENOENT;
	}
	if (m->sk->root) {
		buf_printf(out, "skill %s is read-only (in ", m->name);
		put_root(out, m->cfg, m->sk);
		buf_puts(out, ")");
		return -EPERM;
	}
	if (m->n_same > 1) {
		buf_printf(out, "%zu skills are named %s (", m->n_same, m->name);
		put_paths(out, &m->set, m->name);
		buf_puts(out, "); names must be unique: the user must rename one first");
		return -EPERM;
	}
	if (lstat(m->sk->path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	buf_printf(out, "skill %s is a symlink or not a directory; it can only be changed by hand",
		   m->name);
	return -EPERM;
}

static int act_create(struct manage *m, struct buf *out)
{
	char *dir = xasprintf("%s/skills/%s", m->cfg->home, m->name);
	struct stat st;
	int rc = -EEXIST;

	if (!m->content) {
		buf_puts(out, "create needs content: the whole SKILL.md, front matter included");
		rc = -EINVAL;
	} else if (m->sk && m->sk->root) {
		buf_printf(out, "%s is the name of a read-only skill (in ", m->name);
		put_root(out, m->cfg, m->sk);
		buf_puts(out, "); choose another");
	} else if (m->sk) {
		buf_printf(out, "skill %s already exists; use action=patch, or delete it first",
			   m->name);
	} else if (lstat(dir, &st) == 0) {
		buf_printf(out,
			   "%s exists in home/skills and is not a skill (a category folder?); "
			   "choose another name",
			   m->name);
	} else if (validate(m, m->content, strlen(m->content), out) < 0) {
		rc = -EINVAL;
	} else {
		rc = write_skill(m, m->content, strlen(m->content), "Created", out);
	}
	free(dir);
	return rc;
}

/* The number of non-overlapping occurrences of needle in hay[0..len), and the first. */
static size_t occurrences(const char *hay, size_t len, const char *needle, const char **first)
{
	size_t n = 0, nl = strlen(needle);
	const char *p = hay, *end = hay + len, *hit;

	*first = NULL;
	while (p < end && (hit = memmem(p, (size_t)(end - p), needle, nl)) != NULL) {
		if (n++ == 0)
			*first = hit;
		p = hit + nl;
	}
	return n;
}

static int act_patch(struct manage *m, struct buf *out)
{
	struct buf text, next;
	const char *at;
	size_t n;
	int rc = owned(m, out);

	if (rc < 0)
		return rc;
	if (!m->old_text || !*m->old_text || !m->new_text) {
		buf_puts(out, "patch needs old_text (a unique part of SKILL.md) and new_text");
		return -EINVAL;
	}
	buf_init(&text, 0);
	buf_init(&next, 0);
	rc = read_current(m, &text, out);
	if (rc < 0)
		goto out;
	n = occurrences(buf_str(&text), text.len, m->old_text, &at);
	rc = -EINVAL;
	if (n == 0)
		buf_printf(out, "old_text was not found in SKILL.md of %s; call skill_view first",
			   m->name);
	else if (n > 1)
		buf_printf(out,
			   "old_text occurs %zu times in SKILL.md; include more of the "
			   "surrounding text",
			   n);
	if (n != 1)
		goto out;
	buf_append(&next, text.data, (size_t)(at - text.data));
	buf_puts(&next, m->new_text);
	at += strlen(m->old_text);
	buf_append(&next, at, text.len - (size_t)(at - text.data));
	rc = validate(m, buf_str(&next), next.len, out);
	if (rc == 0)
		rc = write_skill(m, buf_str(&next), next.len, "Patched", out);
out:
	buf_finish(&next);
	buf_finish(&text);
	return rc;
}

/* The owner's edit: the whole SKILL.md replaced (the tool patches a part of it instead). */
static int act_replace(struct manage *m, struct buf *out)
{
	struct buf text;
	int rc = owned(m, out);

	if (rc < 0)
		return rc;
	buf_init(&text, 0);
	rc = read_current(m, &text, out);
	if (rc == 0)
		rc = check_version(m, &text, out);
	if (rc == 0)
		rc = validate(m, m->content, strlen(m->content), out);
	if (rc == 0)
		rc = write_skill(m, m->content, strlen(m->content), "Saved", out);
	buf_finish(&text);
	return rc;
}

static int act_delete(struct manage *m, struct buf *out)
{
	struct buf text;
	int home_fd, rc = owned(m, out);

	if (rc < 0)
		return rc;
	if (m->version) {
		buf_init(&text, 0);
		rc = read_current(m, &text, out);
		if (rc == 0)
			rc = check_version(m, &text, out);
		buf_finish(&text);
		if (rc < 0)
			return rc;
	}
	home_fd = safeio_open_home(m->cfg->home);
	rc = home_fd < 0 ? home_fd : safeio_remove_tree_at(home_fd, m->rel_dir);
	if (home_fd >= 0)
		close(home_fd);
	if (rc < 0) {
		log_warn("skills: cannot delete %s/%s: %s", m->cfg->home, m->rel_dir,
			 safeio_strerror(rc));
		buf_printf(out, "cannot delete skill %s: %s", m->name, safeio_strerror(rc));
		return rc;
	}
	buf_printf(out, "Deleted skill %s.", m->name);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct manage *m, struct buf *out);
} manage_actions[] = {
	{"create", act_create},
	{"patch", act_patch},
	{"delete", act_delete},
};

/* Runs fn on m (its name, strings and cfg set) with the skills as they are now, under the
 * lock: the name checked, the skill found, its folder below home. */
static int with_skill(struct manage *m, int (*fn)(struct manage *m, struct buf *out),
		      struct buf *out)
{
	int rc;

	if (check_name(m->name, out) < 0)
		return -EINVAL;
	pthread_mutex_lock(&write_lock);
	skill_set_scan(m->cfg, &m->set);
	m->sk = skill_set_find(&m->set, m->name, &m->n_same);
	if (m->sk && m->sk->category && !m->sk->root)
		m->rel_dir = xasprintf("skills/%s/%s", m->sk->category, m->name);
	else
		m->rel_dir = xasprintf("skills/%s", m->name);
	m->rel_file = xasprintf("%s/SKILL.md", m->rel_dir);
	rc = fn(m, out);
	pthread_mutex_unlock(&write_lock);
	free(m->rel_file);
	free(m->rel_dir);
	skill_set_finish(&m->set);
	return rc;
}

static int run_manage(const struct tool_req *req, struct buf *out)
{
	size_t mark = out->len, i;
	const char *action = tool_arg_str(req->args, "action", true, out);
	struct manage m = {
		.cfg = req->env->cfg,
		.name = tool_arg_str(req->args, "name", true, out),
		.content = tool_arg_str(req->args, "content", false, out),
		.old_text = tool_arg_str(req->args, "old_text", false, out),
		.new_text = tool_arg_str(req->args, "new_text", false, out),
	};

	if (out->len > mark)
		return -EINVAL;
	for (i = 0; i < ARRAY_LEN(manage_actions) && strcmp(manage_actions[i].name, action); i++)
		;
	if (i == ARRAY_LEN(manage_actions)) {
		buf_puts(out, "action must be create, patch or delete");
		return -EINVAL;
	}
	return with_skill(&m, manage_actions[i].fn, out);
}

int tools_skill_edit(const struct config *cfg, enum tools_skill_edit what, const char *name,
		     const char *text, const char *version, char new_version[TOOLS_VERSION_LEN + 1],
		     struct buf *out)
{
	static int (*const fns[])(struct manage * m, struct buf * out) = {
		[TOOLS_SKILL_CREATE] = act_create,
		[TOOLS_SKILL_REPLACE] = act_replace,
		[TOOLS_SKILL_DELETE] = act_delete,
		[TOOLS_SKILL_REVERT] = act_replace,
	};
	struct manage m = {
		.cfg = cfg,
		.name = name ? name : "",
		.content = text,
		/* "" never matches: an edit of an existing file must say which one it saw */
		.version = what == TOOLS_SKILL_CREATE ? NULL
			   : version		      ? version
						      : "",
		.by = what == TOOLS_SKILL_REVERT ? "revert" : "cockpit",
	};
	int rc;

	new_version[0] = '\0';
	if (what != TOOLS_SKILL_DELETE && !text) {
		buf_puts(out, "the whole SKILL.md is needed, front matter included");
		return -EINVAL;
	}
	rc = with_skill(&m, fns[what], out);
	if (rc == 0 && what != TOOLS_SKILL_DELETE)
		tools_edit_version(text, strlen(text), new_version);
	if (rc == 0)
		log_info("skills: %s %s by the owner",
			 what == TOOLS_SKILL_CREATE   ? "created"
			 : what == TOOLS_SKILL_DELETE ? "deleted"
			 : what == TOOLS_SKILL_REVERT ? "reverted"
						      : "replaced",
			 m.name);
	return rc;
}

/* Every action (create, patch, delete) changes the skills index of later system prompts. */
static bool manage_writes(const cJSON *args)
{
	(void)args;
	return true;
}

const struct tool_def tool_def_skill_manage = {
	.name = "skill_manage",
	.toolset = CONFIG_TOOLSET_SKILLS,
	.read_only = false,
	.writes = manage_writes,
	.description = "Save a procedure as a skill: create (content = SKILL.md with name and "
		       "description front matter), patch (old_text -> new_text) or delete.",
	.params_json = "{\"type\":\"object\",\"properties\":{"
		       "\"action\":{\"enum\":[\"create\",\"patch\",\"delete\"]},"
		       "\"name\":{\"type\":\"string\"},"
		       "\"content\":{\"type\":\"string\"},"
		       "\"old_text\":{\"type\":\"string\"},"
		       "\"new_text\":{\"type\":\"string\"}},"
		       "\"required\":[\"action\",\"name\"]}",
	.run = run_manage,
};

/* ---------------------------------------------------------------------------------------
 * The index of the system prompt
 */

/* The note that ends a cut index; its longest form, with as many digits as n. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "(N more in cat1, cat2: skills_list searches them)", or "N skills" when none is named: the
 * skills the index leaves out (those not flagged in shown), by category. */
static void put_note(struct buf *out, const struct skill_set *s, const bool *shown)
{
	const char **cats = xcalloc(s->n + 1, sizeof(*cats));
	size_t n = 0, n_cats = 0, i, k;
	bool any = false;

	for (i = 0; i < s->n; i++) {
		any = any || shown[i];
		if (shown[i] || !skill_usable(&s->v[i]))
			continue;
		n++;
		if (s->v[i].category)
			cats[n_cats++] = s->v[i].category;
	}
	qsort(cats, n_cats, sizeof(*cats), cmp_str);
	buf_printf(out, "(%zu %s", n, any ? "more" : n == 1 ? "skill" : "skills");
	for (i = k = 0; i < n_cats; i++) {
		if (i && strcmp(cats[i], cats[i - 1]) == 0)
			continue;
		buf_printf(out, "%s%s", k++ ? ", " : " in ", cats[i]);
	}
	buf_puts(out, ": skills_list searches them)\n");
	free(cats);
}

struct pick {
	const struct skill_set *s;
	bool *taken;
	size_t *order;
	size_t n;
};

static void take(struct pick *p, size_t k)
{
	if (p->taken[k] || !skill_usable(&p->s->v[k]))
		return;
	p->taken[k] = true;
	p->order[p->n++] = k;
}

/* The usable skills in the order the index takes them: the pinned ones (*n_first of them
 * found), then those that match text best (*n_match with the pinned), then the rest by name.
 * Returns how many (order has room for s->n). */
static size_t index_order(const struct skill_set *s, const char *text, const char *const *pinned,
			  size_t n_pinned, size_t *order, size_t *n_first, size_t *n_match)
{
	struct skill_rank_doc *docs = xcalloc(s->n + 1, sizeof(*docs));
	size_t *ranked = xcalloc(s->n + 1, sizeof(*ranked)), i;
	struct pick p = {s, xcalloc(s->n + 1, sizeof(bool)), order, 0};
	const struct skill *sk;
	int n_ranked;

	for (i = 0; i < n_pinned; i++) {
		sk = skill_set_find(s, pinned[i], NULL);
		if (sk)
			take(&p, (size_t)(sk - s->v));
	}
	*n_first = p.n;
	for (i = 0; i < s->n; i++)
		docs[i] = (struct skill_rank_doc){s->v[i].name, s->v[i].category,
						  s->v[i].description};
	n_ranked = text && *text ? skill_rank(docs, s->n, text, ranked) : 0;
	for (i = 0; n_ranked > 0 && i < (size_t)n_ranked; i++)
		take(&p, ranked[i]);
	*n_match = p.n;
	for (i = 0; i < s->n; i++)
		take(&p, i);
	free(p.taken);
	free(ranked);
	free(docs);
	return p.n;
}

/* "name: description", and for a skill with a workflow what it must never invent and that a
 * human reviews (the rest is in its skill_view). */
static void index_line(struct buf *out, const struct skill *sk)
{
	const struct skill_md_workflow *wf = &sk->workflow;
	struct buf w;

	buf_printf(out, "%s: ", sk->name);
	put_oneline(out, sk->description, INDEX_DESC_MAX);
	if (wf->n_never_invent || skill_md_review_gates(wf)) {
		buf_init(&w, 0);
		if (wf->n_never_invent) {
			buf_puts(&w, "never invent ");
			for (size_t i = 0; i < wf->n_never_invent; i++)
				buf_printf(&w, "%s%s", i ? ", " : "", wf->never_invent[i]);
		}
		if (skill_md_review_gates(wf))
			buf_printf(&w, "%shuman review", w.len ? "; " : "");
		buf_puts(out, " [");
		put_oneline(out, buf_str(&w), INDEX_WF_MAX);
		buf_puts(out, "]");
		buf_finish(&w);
	}
	buf_puts(out, "\n");
}

void tools_skills_index(const struct config *cfg, const char *text, const char *const *pinned,
			size_t n_pinned, struct buf *out)
{
	size_t max_bytes = (size_t)cfg->skills.index_tokens * INDEX_BYTES_PER_TK;
	size_t *order, n, n_first, n_match, i, note_room;
	struct skill_set s;
	struct buf all, line, note;
	bool *shown;

	skill_set_scan(cfg, &s);
	order = xcalloc(s.n + 1, sizeof(*order));
	shown = xcalloc(s.n + 1, sizeof(*shown));
	n = index_order(&s, text, pinned, n_pinned, order, &n_first, &n_match);
	buf_init(&all, 0);
	buf_init(&line, 0);
	buf_init(&note, 0);
	for (i = 0; i < n; i++)
		index_line(&all, &s.v[order[i]]);
	if (all.len <= max_bytes) { /* every skill fits: all of them, best first */
		buf_append(out, all.data, all.len);
		goto out;
	}
	/* Too many to name: the pinned ones whatever the size, then the ones the text is about
	 * while they fit with room for the note; the rest are counted by category (names that
	 * match nothing would only be noise). The first line that does not fit ends it (a
	 * shorter one after it would jump the ranking). */
	buf_reset(&all);
	put_note(&note, &s, shown);
	note_room = note.len;
	for (i = 0; i < n_match; i++) {
		buf_reset(&line);
		index_line(&line, &s.v[order[i]]);
		if (i >= n_first && all.len + line.len + note_room > max_bytes)
			break;
		buf_append(&all, line.data, line.len);
		shown[order[i]] = true;
	}
	buf_reset(&note);
	put_note(&note, &s, shown);
	if (all.len + note.len <= max_bytes)
		buf_append(&all, note.data, note.len);
	buf_append(out, all.data, all.len);
out:
	for (i = 0; i < s.n; i++)
		if (s.v[i].error)
			log_warn("skills: skipping %s/%s%s", s.v[i].path,
				 strncmp(s.v[i].error, "SKILL.md:", 9) == 0 ? "" : "SKILL.md: ",
				 s.v[i].error);
	buf_finish(&note);
	buf_finish(&line);
	buf_finish(&all);
	free(shown);
	free(order);
	skill_set_finish(&s);
}

char *tools_skill_file(const struct config *cfg, const char *name)
{
	struct skill_set s;
	const struct skill *sk;
	char *path = NULL;

	skill_set_scan(cfg, &s);
	sk = skill_set_find(&s, name, NULL);
	if (sk)
		path = xasprintf("%s/SKILL.md", sk->path);
	skill_set_finish(&s);
	return path;
}

size_t tools_skills_check(const struct config *cfg, struct buf *out, size_t *n_skills)
{
	struct skill_set s;
	size_t i, n = 0;

	skill_set_scan(cfg, &s);
	*n_skills = 0;
	for (i = 0; i < s.n; i++) {
		const struct skill *sk = &s.v[i];

		*n_skills += skill_usable(sk);
		if (sk->error && strncmp(sk->error, "SKILL.md:", 9) == 0) {
			buf_printf(out, "%s/%s\n", sk->path, sk->error); /* FILE:LINE:COL: */
			n++;
		} else if (sk->error) {
			buf_printf(out, "%s/SKILL.md: %s\n", sk->path, sk->error);
			n++;
		} else if (sk->shadowed) {
			buf_printf(out,
				   "%s: another skill is named %s (%s, which is used); names must "
				   "be unique\n",
				   sk->path, sk->name, s.v[sk->first].path);
			n++;
		}
	}
	skill_set_finish(&s);
	return n;
}
