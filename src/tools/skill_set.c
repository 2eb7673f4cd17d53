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
#include "tools/skill_set.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/util.h"
#include "tools/skill_md.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SKILL_MAX_BYTES (64 * 1024) /* one SKILL.md */
#define MAX_SKILLS	512	    /* skills read from one directory, categories included */

void skill_set_finish(struct skill_set *s)
{
	size_t i;

	for (i = 0; s && i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].category);
		free(s->v[i].path);
		free(s->v[i].description);
		free(s->v[i].error);
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
	int rc;

	sk->error = folder_error(sk);
	if (sk->error)
		return;
	path = xasprintf("%s/SKILL.md", sk->path);
	buf_init(&text, 0);
	buf_init(&err, 0);
	rc = fileio_read(path, SKILL_MAX_BYTES, &text);
	if (rc == -EFBIG)
		buf_printf(&err, "SKILL.md is larger than %d KiB", SKILL_MAX_BYTES / 1024);
	else if (rc < 0)
		buf_printf(&err, "cannot read SKILL.md: %s", strerror(-rc));
	else if (skill_md_parse(buf_str(&text), text.len, &md, &err) == 0) {
		if (strcmp(md.name, sk->name) != 0)
			buf_printf(&err, "front matter: name '%s' differs from the directory name",
				   md.name);
		else
			sk->description = xstrdup(md.description);
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
	const char *root;
	bool external;
	size_t n_root; /* skills found in root so far */
};

static void add(struct scan *sc, const char *category, const char *name, char *path)
{
	struct skill *sk;

	if (++sc->n_root > MAX_SKILLS) {
		if (sc->n_root == MAX_SKILLS + 1)
			log_warn("skills: %s holds more than %d skills; the rest are ignored",
				 sc->root, MAX_SKILLS);
		free(path);
		return;
	}
	sc->s->v = xrealloc(sc->s->v, (sc->s->n + 1) * sizeof(*sc->s->v));
	sk = &sc->s->v[sc->s->n++];
	memset(sk, 0, sizeof(*sk));
	sk->name = xstrdup(name);
	sk->category = category ? xstrdup(category) : NULL;
	sk->path = path;
	sk->root = sc->external ? sc->root : NULL;
	sk->external = sc->external;
	load(sk);
}

/* The skills one level below the category folder dir. */
static void scan_category(struct scan *sc, const char *category, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *path;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		if (has_skill_md(path))
			add(sc, category, e->d_name, path);
		else
			free(path);
	}
	closedir(d);
}

static void scan_root(struct scan *sc)
{
	DIR *d = opendir(sc->root);
	struct dirent *e;
	char *path;

	if (!d) {
		if (errno != ENOENT)
			log_warn("skills: cannot open %s: %s", sc->root, strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", sc->root, e->d_name);
		if (has_skill_md(path)) {
			add(sc, NULL, e->d_name, path);
			continue;
		}
		if (is_dir(path))
			scan_category(sc, e->d_name, path);
		free(path);
	}
	closedir(d);
}

/* By name; of one name, the top level first, then by category. */
static int by_name(const void *pa, const void *pb)
{
	const struct skill *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	if (c || !a->category != !b->category)
		return c ? c : a->category ? 1 : -1;
	return a->category ? strcmp(a->category, b->category) : 0;
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
	struct scan sc = {.s = s, .root = home};
	size_t i, from;

	memset(s, 0, sizeof(*s));
	for (i = 0; i <= cfg->skills.n_external_dirs; i++) {
		if (i) {
			sc.root = cfg->skills.external_dirs[i - 1];
			sc.external = true;
		}
		sc.n_root = 0;
		from = s->n;
		scan_root(&sc);
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
