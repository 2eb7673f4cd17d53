/* skill_set: the skills of home/skills and skills.external_dirs, in both layouts.
 *
 * Each directory is read with opendir: an entry holding SKILL.md is a skill; an entry without
 * one is a category when a subfolder of it holds SKILL.md (one level, like Hermes; deeper
 * folders are a skill's own files). Every SKILL.md found is parsed for its front matter, so
 * a skill that is broken (no front matter, a name that is not its folder's, a folder name
 * that breaks the name rule) is kept with the reason and shown as invalid rather than
 * silently missing. Rejected: a cache of parsed skills (a scan per use is a few milliseconds
 * for hundreds of skills, and a cache would go stale on hand edits) and deeper category trees
 * (Hermes has one level; more would make a skill's own subfolders ambiguous).
 */
#include "skills/skill_set.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/util.h"
#include "skills/skill_md.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Skills in one set, all directories together; a directory's entries looked at. Both keep a
 * scan, which runs on the event loop, to a bounded number of stat calls and reads. */
#define MAX_SKILLS  512
#define MAX_ENTRIES 4096

void skill_set_finish(struct skill_set *s)
{
	size_t i;

	for (i = 0; s && i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].category);
		free(s->v[i].path);
		free(s->v[i].description);
		free(s->v[i].error);
		skill_md_labels_free(s->v[i].labels, s->v[i].n_labels);
		skill_md_workflow_finish(&s->v[i].workflow);
	}
	if (s) {
		free(s->v);
		memset(s, 0, sizeof(*s));
	}
}

bool skill_usable(const struct skill *sk)
{
	return sk->description && !sk->shadowed;
}

static bool has_skill_md(const char *dir)
{
	char *path = xasprintf("%s/SKILL.md", dir);
	struct stat st;
	bool yes = stat(path, &st) == 0 && !S_ISDIR(st.st_mode);

	free(path);
	return yes;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Why the folder names of sk break the rule, or NULL. */
static char *folder_error(const struct skill *sk)
{
	if (sk->category && !skill_md_name_ok(sk->category))
		return xasprintf("the category folder name '%s' is invalid: %s", sk->category,
				 SKILL_MD_NAME_RULE);
	if (!skill_md_name_ok(sk->name))
		return xasprintf("the folder name '%s' is invalid: %s", sk->name,
				 SKILL_MD_NAME_RULE);
	return NULL;
}

/* Parses sk->path/SKILL.md: the description, or the error. */
static void load(struct skill *sk)
{
	char *path;
	struct skill_md md;
	struct buf text, err;
	size_t size = 0;
	int rc;

	sk->error = folder_error(sk);
	if (sk->error)
		return;
	path = xasprintf("%s/SKILL.md", sk->path);
	buf_init(&text, 0);
	buf_init(&err, 0);
	/* Only the front matter is read: it must close within SKILL_MD_FRONT_MAX bytes. */
	rc = fileio_read_head(path, SKILL_MD_FRONT_MAX + 1, &text, &size);
	if (rc == 0 && size > SKILL_MAX_BYTES)
		buf_printf(&err, "SKILL.md is larger than %d KiB", SKILL_MAX_BYTES / 1024);
	else if (rc < 0)
		buf_printf(&err, "cannot read SKILL.md: %s", strerror(-rc));
	else if (skill_md_parse(buf_str(&text), text.len, &md, &err) == 0) {
		if (strcmp(md.name, sk->name) != 0)
			buf_printf(&err, "front matter: name '%s' differs from the directory name",
				   md.name);
		else
			sk->description = xstrdup(md.description);
		sk->labels = md.labels; /* taken */
		sk->n_labels = md.n_labels;
		md.labels = NULL;
		md.n_labels = 0;
		sk->workflow = md.workflow; /* taken */
		memset(&md.workflow, 0, sizeof(md.workflow));
		skill_md_finish(&md);
	}
	if (err.len)
		sk->error = buf_steal(&err);
	buf_finish(&err);
	buf_finish(&text);
	free(path);
}

struct scan {
	struct skill_set *s;
	const char *root; /* NULL: home/skills */
	const char *dir;  /* the directory being read */
	bool full;	  /* MAX_SKILLS reached: nothing more is read */
};

static void add(struct scan *sc, const char *category, const char *name, char *path)
{
	struct skill *sk;

	if (sc->s->n >= MAX_SKILLS) {
		if (!sc->full)
			log_warn("skills: more than %d skills; %s and what follows it are not read",
				 MAX_SKILLS, sc->dir);
		sc->full = true;
		free(path);
		return;
	}
	sc->s->v = xrealloc(sc->s->v, (sc->s->n + 1) * sizeof(*sc->s->v));
	sk = &sc->s->v[sc->s->n++];
	memset(sk, 0, sizeof(*sk));
	sk->name = xstrdup(name);
	sk->category = category ? xstrdup(category) : NULL;
	sk->path = path;
	sk->root = sc->root;
	load(sk);
}

/* The skills in dir: each entry holding SKILL.md, and at the top (category NULL) the skills
 * one level inside each other folder, which is then a category. */
static void scan_dir(struct scan *sc, const char *category, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t seen = 0;
	char *path;

	if (!d) {
		if (!category && errno != ENOENT)
			log_warn("skills: cannot open %s: %s", dir, strerror(errno));
		return;
	}
	while (!sc->full && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (++seen > MAX_ENTRIES) {
			log_warn("skills: %s has more than %d entries; the rest are not read", dir,
				 MAX_ENTRIES);
			break;
		}
		path = xasprintf("%s/%s", dir, e->d_name);
		sc->dir = dir;
		if (has_skill_md(path)) {
			add(sc, category, e->d_name, path);
			continue;
		}
		if (!category && is_dir(path))
			scan_dir(sc, e->d_name, path);
		free(path);
	}
	closedir(d);
}

/* By name; of one name, the top level first, then by category. */
static int by_name(const void *pa, const void *pb)
{
	const struct skill *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	if (c)
		return c;
	if (!a->category || !b->category)
		return (a->category != NULL) - (b->category != NULL);
	return strcmp(a->category, b->category);
}

static void mark_shadowed(struct skill_set *s)
{
	size_t i, j;

	for (i = 1; i < s->n; i++)
		for (j = 0; j < i; j++)
			if (!s->v[j].shadowed && strcmp(s->v[i].name, s->v[j].name) == 0) {
				s->v[i].shadowed = true;
				s->v[i].first = j;
				break;
			}
}

void skill_set_scan(const struct config *cfg, struct skill_set *s)
{
	char *home = xasprintf("%s/skills", cfg->home);
	struct scan sc = {.s = s};
	size_t i, from;

	memset(s, 0, sizeof(*s));
	for (i = 0; i <= cfg->skills.n_external_dirs && !sc.full; i++) {
		sc.root = i ? cfg->skills.external_dirs[i - 1] : NULL;
		from = s->n;
		scan_dir(&sc, NULL, i ? sc.root : home);
		if (s->n > from)
			qsort(s->v + from, s->n - from, sizeof(*s->v), by_name);
	}
	mark_shadowed(s);
	free(home);
}

const struct skill *skill_set_find(const struct skill_set *s, const char *name, size_t *n_same)
{
	const struct skill *found = NULL;
	size_t i, n = 0;

	for (i = 0; i < s->n; i++) {
		if (strcmp(s->v[i].name, name) != 0)
			continue;
		if (!found)
			found = &s->v[i];
		n++;
	}
	if (n_same)
		*n_same = n;
	return found;
}
