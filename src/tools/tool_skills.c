/* tool_skills: skills_list, skill_view and skill_manage, and the skill index of the system
 * prompt.
 *
 * A skill is a directory <dir>/<name>/ holding SKILL.md (front matter parsed by skill_md.c)
 * and any files it references. Skills are looked up in home/skills first (the agent's own,
 * writable), then in skills.external_dirs in order (read-only); the first directory holding
 * a name wins. The name is the directory name and must equal the front matter's `name`, so a
 * name is checked against the name rule before it ever becomes part of a path, and files of
 * a skill are read only when their realpath stays inside the skill's directory.
 *
 * skill_manage writes only below home/skills, through safeio (relative to home's descriptor,
 * no symlink anywhere on the way): a SKILL.md is replaced atomically, never through a
 * symlink, and a delete never follows one. Rejected: Hermes' category folders and
 * supporting-file writes (more schema bytes in every request; the operator adds reference
 * files by hand or in an external dir) and a cache of parsed skills (a directory scan per
 * session start or skills_list call is cheap, and a cache would go stale on hand edits).
 */
#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/safeio.h"
#include "tools/skill_md.h"
#include "tools/tool.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SKILL_MAX_BYTES (64 * 1024) /* one SKILL.md */
#define VIEW_MAX_BYTES	(64 * 1024) /* one file shown by skill_view */
#define MAX_SKILLS	512	    /* skills read from one directory */
#define MAX_FILES	50	    /* files listed under a SKILL.md */
#define FILES_DEPTH	3	    /* directory levels listed under a skill */

struct skill {
	char *name;
	char *description; /* NULL when the skill is invalid */
	char *error;	   /* why it is invalid */
	const char *dir;   /* the skills directory it was found in (borrowed) */
	bool external;
};

struct skill_set {
	struct skill *v;
	size_t n;
};

static void set_finish(struct skill_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].description);
		free(s->v[i].error);
	}
	free(s->v);
}

static bool set_has(const struct skill_set *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			return true;
	return false;
}

/* Reads and checks dir/name/SKILL.md into sk. -ENOENT when there is no SKILL.md. */
static int load_skill(const char *dir, const char *name, struct skill *sk)
{
	char *path = xasprintf("%s/%s/SKILL.md", dir, name);
	struct skill_md md;
	struct buf text, err;
	int rc;

	buf_init(&text, 0);
	buf_init(&err, 0);
	rc = fileio_read(path, SKILL_MAX_BYTES, &text);
	if (rc == -ENOENT || rc == -ENOTDIR)
		goto out;
	if (rc == -EFBIG)
		buf_printf(&err, "SKILL.md is larger than %d KiB", SKILL_MAX_BYTES / 1024);
	else if (rc < 0)
		buf_printf(&err, "cannot read SKILL.md: %s", strerror(-rc));
	else if (skill_md_parse(buf_str(&text), text.len, &md, &err) == 0) {
		if (strcmp(md.name, name) != 0)
			buf_printf(&err, "front matter: name '%s' differs from the directory name",
				   md.name);
		else
			sk->description = md.description ? xstrdup(md.description) : NULL;
		skill_md_finish(&md);
	}
	rc = 0;
	sk->name = xstrdup(name);
	sk->error = err.len ? buf_steal(&err) : NULL;
out:
	buf_finish(&err);
	buf_finish(&text);
	free(path);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct skill *)a)->name, ((const struct skill *)b)->name);
}

/* Adds the skills of dir that no earlier directory had. */
static void scan_dir(const char *dir, bool external, struct skill_set *s)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct skill sk;
	size_t seen = 0;

	if (!d) {
		if (errno != ENOENT)
			log_warn("skills: cannot open %s: %s", dir, strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (!skill_md_name_ok(e->d_name) || set_has(s, e->d_name))
			continue;
		if (++seen > MAX_SKILLS) {
			log_warn("skills: %s holds more than %d skills; the rest are ignored", dir,
				 MAX_SKILLS);
			break;
		}
		memset(&sk, 0, sizeof(sk));
		sk.dir = dir;
		sk.external = external;
		if (load_skill(dir, e->d_name, &sk) < 0)
			continue;
		s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
		s->v[s->n++] = sk;
	}
	closedir(d);
}

/* Home skills (sorted), then the external ones not shadowed (sorted). */
static void scan_all(const struct config *cfg, const char *home_dir, struct skill_set *s)
{
	size_t i, n_home;

	memset(s, 0, sizeof(*s));
	scan_dir(home_dir, false, s);
	n_home = s->n;
	for (i = 0; i < cfg->skills.n_external_dirs; i++)
		scan_dir(cfg->skills.external_dirs[i], true, s);
	if (s->n) {
		qsort(s->v, n_home, sizeof(*s->v), by_name);
		qsort(s->v + n_home, s->n - n_home, sizeof(*s->v), by_name);
	}
}

/* The description on one line: runs of white space become one space. */
static void put_oneline(struct buf *out, const char *s)
{
	bool space = false, started = false;

	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
			space = true;
			continue;
		}
		if (space && started)
			buf_append(out, " ", 1);
		space = false;
		started = true;
		buf_append(out, s, 1);
	}
}

static char *home_skills(const struct config *cfg)
{
	return xasprintf("%s/skills", cfg->home);
}

/* Where the skill name lives: home/skills/name if present, else the first external dir
 * holding it. Returns a new path, or NULL. */
static char *find_skill(const struct config *cfg, const char *name)
{
	char *path = xasprintf("%s/skills/%s", cfg->home, name);
	struct stat st;
	size_t i;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return path;
	for (i = 0; i < cfg->skills.n_external_dirs; i++) {
		free(path);
		path = xasprintf("%s/%s", cfg->skills.external_dirs[i], name);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return path;
	}
	free(path);
	return NULL;
}

static int check_name(const char *name, struct buf *out)
{
	if (skill_md_name_ok(name))
		return 0;
	buf_printf(out, "invalid name: %s", SKILL_MD_NAME_RULE);
	return -EINVAL;
}

/* ---------------------------------------------------------------------------------------
 * skills_list
 */

static int run_list(const struct tool_req *req, struct buf *out)
{
	const struct config *cfg = req->env->cfg;
	char *dir = home_skills(cfg);
	struct skill_set s;
	size_t i;

	scan_all(cfg, dir, &s);
	for (i = 0; i < s.n; i++) {
		buf_printf(out, "%s: ", s.v[i].name);
		if (s.v[i].error)
			buf_printf(out, "[invalid: %s]", s.v[i].error);
		else
			put_oneline(out, s.v[i].description);
		buf_puts(out, s.v[i].external ? " (read-only)\n" : "\n");
	}
	if (s.n == 0)
		buf_puts(out, "No skills yet; skill_manage with action=create adds one.");
	set_finish(&s);
	free(dir);
	return 0;
}

const struct tool_def tool_def_skills_list = {
	.name = "skills_list",
	.toolset = CONFIG_TOOLSET_SKILLS,
	.read_only = true,
	.description = "List skills (saved procedures) as name: description.",
	.params_json = "{\"type\":\"object\",\"properties\":{}}",
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

static int run_view(const struct tool_req *req, struct buf *out)
{
	size_t mark = out->len;
	const char *name = tool_arg_str(req->args, "name", true, out);
	const char *file = tool_arg_str(req->args, "file", false, out);
	char *dir;
	int rc;

	if (out->len > mark || check_name(name, out) < 0)
		return -EINVAL;
	file = file && *file ? file : "SKILL.md";
	if (!file_arg_ok(file)) {
		buf_puts(out, "file must be a relative path inside the skill without \"..\", like "
			      "references/api.md");
		return -EINVAL;
	}
	dir = find_skill(req->env->cfg, name);
	if (!dir) {
		buf_printf(out, "no skill named %s; skills_list shows them", name);
		return -ENOENT;
	}
	rc = view(dir, file, out);
	free(dir);
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

struct manage {
	const struct config *cfg;
	const char *name;
	const char *content;
	const char *old_text;
	const char *new_text;
	char *dir;	/* home/skills/<name> */
	char *rel_dir;	/* skills/<name>, below home */
	char *rel_file; /* skills/<name>/SKILL.md */
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
	int rc, home_fd = safeio_open_home(m->cfg->home);

	rc = home_fd < 0 ? home_fd : safeio_mkdirs_at(home_fd, m->rel_dir, 0700);
	if (rc == 0)
		rc = safeio_write_atomic_at(home_fd, m->rel_file, text, len, 0600);
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

/* 0 when the skill is an agent-owned real directory in home/skills; else a message. */
static int owned(const struct manage *m, struct buf *out)
{
	struct stat st;
	char *found;

	if (lstat(m->dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (lstat(m->dir, &st) == 0) {
		buf_printf(out,
			   "skill %s is a symlink or not a directory; it can only be changed "
			   "by hand",
			   m->name);
		return -EPERM;
	}
	found = find_skill(m->cfg, m->name);
	if (found)
		buf_printf(out, "skill %s is read-only (in %.*s)", m->name,
			   (int)(strrchr(found, '/') - found), found);
	else
		buf_printf(out, "no skill named %s; skills_list shows them", m->name);
	free(found);
	return found ? -EPERM : -ENOENT;
}

static int act_create(struct manage *m, struct buf *out)
{
	struct stat st;
	char *found;

	if (!m->content) {
		buf_puts(out, "create needs content: the whole SKILL.md, front matter included");
		return -EINVAL;
	}
	if (lstat(m->dir, &st) == 0) {
		buf_printf(out, "skill %s already exists; use action=patch, or delete it first",
			   m->name);
		return -EEXIST;
	}
	found = find_skill(m->cfg, m->name);
	if (found) {
		buf_printf(out, "%s is the name of a read-only skill (in %.*s); choose another",
			   m->name, (int)(strrchr(found, '/') - found), found);
		free(found);
		return -EEXIST;
	}
	if (validate(m, m->content, strlen(m->content), out) < 0)
		return -EINVAL;
	return write_skill(m, m->content, strlen(m->content), "Created", out);
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
	int home_fd, rc = owned(m, out);

	if (rc < 0)
		return rc;
	if (!m->old_text || !*m->old_text || !m->new_text) {
		buf_puts(out, "patch needs old_text (a unique part of SKILL.md) and new_text");
		return -EINVAL;
	}
	buf_init(&text, 0);
	buf_init(&next, 0);
	home_fd = safeio_open_home(m->cfg->home);
	rc = home_fd < 0 ? home_fd : safeio_read_at(home_fd, m->rel_file, SKILL_MAX_BYTES, &text);
	if (home_fd >= 0)
		close(home_fd);
	if (rc < 0) {
		buf_printf(out, "cannot read SKILL.md of %s: %s", m->name, safeio_strerror(rc));
		goto out;
	}
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

static int act_delete(struct manage *m, struct buf *out)
{
	int home_fd, rc = owned(m, out);

	if (rc < 0)
		return rc;
	home_fd = safeio_open_home(m->cfg->home);
	rc = home_fd < 0 ? home_fd : safeio_remove_tree_at(home_fd, m->rel_dir);
	if (home_fd >= 0)
		close(home_fd);
	if (rc < 0) {
		log_warn("skills: cannot delete %s: %s", m->dir, safeio_strerror(rc));
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
	int rc;

	if (out->len > mark)
		return -EINVAL;
	for (i = 0; i < ARRAY_LEN(manage_actions) && strcmp(manage_actions[i].name, action); i++)
		;
	if (i == ARRAY_LEN(manage_actions)) {
		buf_puts(out, "action must be create, patch or delete");
		return -EINVAL;
	}
	if (check_name(m.name, out) < 0)
		return -EINVAL;
	m.dir = xasprintf("%s/skills/%s", m.cfg->home, m.name);
	m.rel_dir = xasprintf("skills/%s", m.name);
	m.rel_file = xasprintf("skills/%s/SKILL.md", m.name);
	rc = manage_actions[i].fn(&m, out);
	free(m.rel_file);
	free(m.rel_dir);
	free(m.dir);
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
	.description = "Save a reusable procedure as a skill: create (content = whole SKILL.md "
		       "with name/description front matter), patch (old_text -> new_text) or "
		       "delete.",
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

static size_t note_len(size_t left)
{
	return left ? (size_t)snprintf(NULL, 0, "(%zu more: skills_list)\n", left) : 0;
}

void tools_skills_index(const struct config *cfg, struct buf *out, size_t max_bytes)
{
	char *dir = home_skills(cfg);
	struct skill_set s;
	struct buf *lines, all;
	size_t i, n = 0, used;

	scan_all(cfg, dir, &s);
	lines = xcalloc(s.n + 1, sizeof(*lines));
	for (i = 0; i < s.n; i++) {
		if (s.v[i].error) {
			log_warn("skills: skipping %s/%s/SKILL.md: %s", s.v[i].dir, s.v[i].name,
				 s.v[i].error);
			continue;
		}
		buf_init(&lines[n], 0);
		buf_printf(&lines[n], "%s: ", s.v[i].name);
		put_oneline(&lines[n], s.v[i].description);
		buf_puts(&lines[n++], "\n");
	}
	/* Whole lines only, and room kept for a note on how many were left out. */
	buf_init(&all, 0);
	for (used = 0; used < n; used++) {
		if (all.len + lines[used].len + note_len(n - used - 1) > max_bytes)
			break;
		buf_append(&all, lines[used].data, lines[used].len);
	}
	if (used < n && all.len + note_len(n - used) <= max_bytes)
		buf_printf(&all, "(%zu more: skills_list)\n", n - used);
	if (all.len)
		buf_append(out, all.data, all.len);
	for (i = 0; i < n; i++)
		buf_finish(&lines[i]);
	free(lines);
	buf_finish(&all);
	set_finish(&s);
	free(dir);
}
