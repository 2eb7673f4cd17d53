/* cli_skill_pack: `hermetic skill pack|install|approve|update`, skills shared safely.
 *
 * An install reads a pack (skills/skill_pack.c: every hash checked against its manifest, and
 * the whole file against --sha256 when given) or a folder holding SKILL.md (the Hermes hub's
 * and anthropics/skills' layouts put each skill in one), and writes it to
 * home/skills/.quarantine/<name>/, pinned in home/skills.lock (skills/skill_quarantine.c: the
 * lock, the review flags and the approval, shared with the cockpit). The owner reads it with
 * every script, URL and tool instruction flagged (`hermetic skill show NAME`), then `approve`
 * moves it into home/skills. A different pack over a locked skill is refused, and `update`
 * shows the diff and applies it only when the owner says yes.
 */
#include "cli/cli_skill.h"
#include "cli/cli_skill_int.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/safeio.h"
#include "core/util.h"
#include "skills/skill_hist.h"
#include "skills/skill_md.h"
#include "skills/skill_pack.h"
#include "skills/skill_quarantine.h"
#include "skills/skill_set.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PACK_FILE_MAX (16 * 1024 * 1024)

/* ---- reading a source ------------------------------------------------------------------ */

static const struct skill_pack_file *pack_file(const struct skill_pack *p, const char *path)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].path, path) == 0)
			return &p->v[i];
	return NULL;
}

/* Drops the manifest from p (it is not installed). */
static void drop_manifest(struct skill_pack *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].path, SKILL_PACK_MANIFEST) == 0) {
			free(p->v[i].path);
			free(p->v[i].data);
			p->v[i] = p->v[--p->n];
			return;
		}
}

struct source {
	struct skill_pack p;
	char hash[65];	    /* content */
	char pack_hash[65]; /* the whole file; "" for a folder */
	char *where;	    /* absolute path */
};

/* Loads src (a pack file or a skill folder) into s, every check made; the reason on stderr. */
static int load_source(const char *src, const char *want_sha256, struct source *s)
{
	struct skill_md md = {0};
	struct buf err, bytes;
	struct stat st;
	char real[PATH_MAX], stated[65], tmp[256] = "", *folder = NULL;
	const char *path = src;
	const struct skill_pack_file *f;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	if (!strpbrk(src, "\t\n") && cli_skill_is_git(src)) {
		if (want_sha256) {
			fprintf(stderr,
				"install refused: --sha256 checks a pack file; %s is a git "
				"repository\n",
				src);
			return -EINVAL;
		}
		rc = cli_skill_git_fetch(src, tmp, sizeof(tmp), &folder);
		if (rc < 0) {
			cli_skill_git_cleanup(tmp);
			return rc;
		}
		path = folder;
	}
	buf_init(&err, 0);
	buf_init(&bytes, 0);
	if (strpbrk(src, "\t\n") || !realpath(path, real) || stat(real, &st) < 0) {
		buf_printf(&err, "cannot find %s", src);
		rc = -ENOENT;
	} else if (S_ISDIR(st.st_mode)) {
		if (want_sha256)
			buf_puts(&err, "--sha256 checks a pack file; SOURCE is a folder");
		rc = want_sha256 ? -EINVAL : skill_read_folder(real, &s->p, &err);
	} else {
		rc = skill_read_capped(real, PACK_FILE_MAX, &bytes, &err);
		if (rc == 0)
			sha256_hex(bytes.data ? bytes.data : "", bytes.len, s->pack_hash);
		if (rc == 0 && want_sha256 && strcasecmp(want_sha256, s->pack_hash) != 0) {
			buf_printf(&err,
				   "the pack's sha256 is %s, not %s as --sha256 says: refused",
				   s->pack_hash, want_sha256);
			rc = -EINVAL;
		}
		if (rc == 0)
			rc = skill_pack_read(bytes.data, bytes.len, &s->p, &err);
		if (rc == 0)
			rc = skill_pack_verify(&s->p, stated, &err);
		if (rc == 0)
			drop_manifest(&s->p);
		if (rc == 0) {
			skill_pack_content_hash(&s->p, s->hash);
			if (strcmp(stated, s->hash) != 0) {
				buf_puts(&err, "the manifest's content sha256 does not match the "
					       "files: refused");
				rc = -EINVAL;
			}
		}
	}
	f = rc == 0 ? pack_file(&s->p, "SKILL.md") : NULL;
	if (rc == 0 && !f) {
		buf_printf(&err, "%s holds no SKILL.md", src);
		rc = -EINVAL;
	} else if (rc == 0 && skill_md_parse(f->data, f->len, &md, &err) < 0) {
		rc = -EINVAL;
	} else if (rc == 0 && s->p.name && strcmp(s->p.name, md.name) != 0) {
		buf_printf(&err, "the pack's folder is %s but its SKILL.md is named %s", s->p.name,
			   md.name);
		rc = -EINVAL;
	}
	if (rc == 0 && !s->p.name)
		s->p.name = xstrdup(md.name);
	if (rc == 0 && !s->hash[0])
		skill_pack_content_hash(&s->p, s->hash);
	if (rc == 0) {
		s->where = xstrdup(folder ? src : real); /* a repository is fetched again */
	} else {
		fprintf(stderr, "install refused: %s: %s\n", src, buf_str(&err));
		/* what was read before the refusal is dropped here: a caller's source_finish
		 * then finds nothing */
		skill_pack_finish(&s->p);
	}
	cli_skill_git_cleanup(tmp);
	free(folder);
	skill_md_finish(&md);
	buf_finish(&bytes);
	buf_finish(&err);
	return rc;
}

static void source_finish(struct source *s)
{
	skill_pack_finish(&s->p);
	free(s->where);
}

/* ---- review ---------------------------------------------------------------------------- */

static void print_file(const struct skill_pack_file *f, bool script, bool binary, void *arg)
{
	FILE *to = arg;

	fprintf(to, "\n--- %s (%zu bytes)%s\n", f->path, f->len,
		script ? "  !! [SCRIPT] runs code if anything executes it" : "");
	if (binary)
		fprintf(to, "!! [BINARY] not shown\n");
}

static void print_line(size_t no, const char *text, size_t len, bool url, bool tool, void *arg)
{
	fprintf(arg, "%s%4zu | %.*s\n",
		url && tool ? "!! [URL][TOOL] "
		: url	    ? "!! [URL]       "
		: tool	    ? "!! [TOOL]      "
			    : "               ",
		no, (int)len, text);
}

/* Prints p for review; returns the number of flags. */
static int review_pack(const struct skill_pack *p, const char *hash, FILE *to)
{
	static const struct skill_review_cbs print = {print_file, print_line};
	struct skill_review_flags fl;

	fprintf(to, "== skill %s: %zu file%s, content sha256 %s\n", p->name, p->n,
		p->n == 1 ? "" : "s", hash);
	skill_review(p, &print, to, &fl);
	fprintf(to,
		"\n== flags: %zu script%s, %zu line%s with a URL, %zu line%s telling the model "
		"to call a tool or run a command\n",
		fl.scripts, fl.scripts == 1 ? "" : "s", fl.urls, fl.urls == 1 ? "" : "s", fl.tools,
		fl.tools == 1 ? "" : "s");
	return (int)(fl.scripts + fl.urls + fl.tools);
}

int cli_skill_review(const char *dir, FILE *to)
{
	struct skill_pack p = {0};
	struct buf err;
	char hash[65];
	int rc;

	buf_init(&err, 0);
	rc = skill_read_folder(dir, &p, &err);
	if (rc < 0) {
		fprintf(stderr, "%s\n", buf_str(&err));
	} else {
		const char *slash = strrchr(dir, '/');

		p.name = xstrdup(slash ? slash + 1 : dir);
		skill_pack_content_hash(&p, hash);
		rc = review_pack(&p, hash, to);
	}
	skill_pack_finish(&p);
	buf_finish(&err);
	return rc;
}

/* ---- quarantine ------------------------------------------------------------------------ */

void cli_skill_list_quarantine(const struct config *cfg)
{
	int home_fd = safeio_open_home(cfg->home);
	struct skill_lock l;

	if (home_fd < 0 || skill_lock_load(home_fd, &l) < 0) {
		if (home_fd >= 0)
			close(home_fd);
		return;
	}
	for (size_t i = 0; i < l.n; i++)
		if (strcmp(l.v[i].state, "quarantined") == 0)
			printf("%-24s QUARANTINED: from %s; not offered to the model until "
			       "`hermetic "
			       "skill approve %s` (read it first: hermetic skill show %s)\n",
			       l.v[i].name, l.v[i].source, l.v[i].name, l.v[i].name);
	skill_lock_finish(&l);
	close(home_fd);
}

int cli_skill_show_quarantined(const struct config *cfg, const char *name)
{
	char *dir;
	struct stat st;
	int rc;

	if (!skill_md_name_ok(name))
		return -EINVAL;
	dir = xasprintf("%s/" SKILL_QUARANTINE "/%s", cfg->home, name);
	rc = lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -ENOENT;
	if (rc == 0) {
		printf("QUARANTINED: %s is not offered to the model until you approve it "
		       "(hermetic skill approve %s)\n",
		       name, name);
		rc = cli_skill_review(dir, stdout) < 0 ? -EIO : 0;
	}
	free(dir);
	return rc;
}

/* Writes p's files into rel below home_fd (which must not exist yet, or is replaced). */
static int write_files(int home_fd, const char *rel, const struct skill_pack *p)
{
	int rc = safeio_remove_tree_at(home_fd, rel);

	rc = rc == -ENOENT ? 0 : rc;
	if (rc == 0)
		rc = safeio_mkdirs_at(home_fd, rel, 0700);
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		char *path = xasprintf("%s/%s", rel, p->v[i].path), *slash = strrchr(path, '/');

		*slash = '\0';
		rc = safeio_mkdirs_at(home_fd, path, 0700);
		*slash = '/';
		if (rc == 0)
			rc = safeio_write_atomic_at(home_fd, path, p->v[i].data, p->v[i].len, 0600);
		free(path);
	}
	return rc;
}

/* Installs p (named p->name, content sha256 hash, the whole pack's pack_hash or "") into the
 * quarantine with source in skills.lock; prints the review. 0, 1 (already there), or a
 * negative errno after printing why. */
static int quarantine(const struct config *cfg, const struct skill_pack *p, const char *hash,
		      const char *pack_hash, const char *source, const char *retry)
{
	struct skill_lock l = {0};
	struct skill_lock_entry *e;
	char *rel = NULL, written[65];
	int home_fd, rc;

	fileio_mkdirs(cfg->home, 0700); /* a new home: the first thing in it is this skill */
	home_fd = safeio_open_home(cfg->home);
	rc = home_fd < 0 ? home_fd : skill_lock_load(home_fd, &l);
	if (rc < 0) {
		fprintf(stderr, "cannot read %s/%s: %s\n", cfg->home, SKILL_LOCK_FILE,
			safeio_strerror(rc));
		goto out;
	}
	e = skill_lock_find(&l, p->name);
	if (e && strcmp(e->hash, hash) == 0) {
		printf("%s is already installed from this content (%s, sha256 %.16s).\n", p->name,
		       e->state, e->hash);
		rc = 1;
		goto out;
	}
	if (e) {
		fprintf(stderr,
			"install refused: %s is locked to content sha256 %s (from %s) and this "
			"source holds %s; `hermetic skill update %s %s` shows the difference and "
			"applies it when you confirm\n",
			p->name, e->hash, e->source, hash, p->name, retry);
		rc = -EEXIST;
		goto out;
	}
	if (skill_home_has(cfg, p->name)) {
		fprintf(stderr, "install refused: a skill named %s exists already\n", p->name);
		rc = -EEXIST;
		goto out;
	}
	rel = xasprintf(SKILL_QUARANTINE "/%s", p->name);
	rc = write_files(home_fd, rel, p);
	if (rc == 0)
		rc = skill_hist_hash(home_fd, rel, written);
	if (rc == 0 && strcmp(written, hash) != 0)
		rc = -EIO; /* what was written is not what was checked */
	if (rc == 0) {
		l.v = xrealloc(l.v, (l.n + 1) * sizeof(*l.v));
		e = &l.v[l.n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->name, sizeof(e->name), "%s", p->name);
		snprintf(e->state, sizeof(e->state), "quarantined");
		snprintf(e->hash, sizeof(e->hash), "%s", hash);
		snprintf(e->pack, sizeof(e->pack), "%s", pack_hash);
		e->ms = now_wall_ms();
		e->source = xstrdup(source);
		rc = skill_lock_save(home_fd, &l);
	}
	if (rc < 0) {
		fprintf(stderr, "cannot install %s: %s\n", p->name, safeio_strerror(rc));
		goto out;
	}
	review_pack(p, hash, stdout);
	printf("\nInstalled %s QUARANTINED in %s/%s: not offered to the model, not readable by "
	       "skill_view. Read the flagged lines above, then: hermetic skill approve %s\n",
	       p->name, cfg->home, rel, p->name);
out:
	free(rel);
	skill_lock_finish(&l);
	if (home_fd >= 0)
		close(home_fd);
	return rc;
}

int cli_skill_install(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n)
{
	struct source s;
	int rc;

	if (n != 1)
		return 2;
	if (load_source(w[0], o->sha256, &s) < 0)
		return 1;
	rc = quarantine(cfg, &s.p, s.hash, s.pack_hash, s.where, w[0]);
	source_finish(&s);
	return rc < 0;
}

int cli_skill_quarantine_files(const struct config *cfg, struct skill_pack *p, const char *source)
{
	struct skill_md md = {0};
	struct buf err;
	const struct skill_pack_file *f = pack_file(p, "SKILL.md");
	char hash[65];
	int rc = 0;

	buf_init(&err, 0);
	for (size_t i = 0; rc == 0 && i < p->n; i++)
		if (!skill_pack_path_ok(p->v[i].path)) {
			buf_printf(&err, "the file path %s is not one a skill may hold",
				   p->v[i].path);
			rc = -EINVAL;
		}
	if (rc == 0 && !f) {
		buf_puts(&err, "it holds no SKILL.md");
		rc = -EINVAL;
	} else if (rc == 0 && skill_md_parse(f->data, f->len, &md, &err) < 0) {
		rc = -EINVAL;
	} else if (rc == 0 && strcmp(p->name, md.name) != 0) {
		buf_printf(&err, "its folder is %s but its SKILL.md is named %s", p->name, md.name);
		rc = -EINVAL;
	}
	if (rc < 0) {
		fprintf(stderr, "install refused: %s: %s\n", source, buf_str(&err));
	} else {
		skill_pack_content_hash(p, hash);
		rc = quarantine(cfg, p, hash, "", source, source);
	}
	skill_md_finish(&md);
	buf_finish(&err);
	return rc < 0 ? rc : 0;
}

/* approve NAME [--sha256 HEX]: the sha256 the owner read in `skill show` is optional here (the
 * terminal owner reviewed just before) and checked when given; the one approved is printed. */
int cli_skill_approve(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n)
{
	struct buf err;
	char approved[65];
	int rc;

	if (n != 1)
		return 2;
	buf_init(&err, 0);
	rc = skill_quarantine_approve(cfg, w[0], o->sha256, approved, &err);
	if (rc == -ENOENT)
		fprintf(stderr, "%s (hermetic skill list)\n", buf_str(&err));
	else if (rc < 0)
		fprintf(stderr, "%s\n", buf_str(&err));
	else
		printf("Approved %s (content sha256 %s): it is in %s/skills/%s and offered to the "
		       "model from the next session.\n",
		       w[0], approved, cfg->home, w[0]);
	buf_finish(&err);
	return rc < 0;
}

/* The diff of the installed folder rel against s, file by file, to stdout; the number of
 * files that differ. */
static size_t show_diff(const char *home, const char *rel, const struct source *s)
{
	struct skill_pack cur = {0};
	struct buf err, d;
	size_t changed = 0;
	char *abs;

	buf_init(&err, 0);
	buf_init(&d, 0);
	abs = xasprintf("%s/%s", home, rel);
	skill_read_folder(abs, &cur, &err);
	for (size_t i = 0; i < s->p.n; i++) {
		const struct skill_pack_file *a = pack_file(&cur, s->p.v[i].path);

		buf_reset(&d);
		skill_diff(a ? a->data : "", a ? a->len : 0, s->p.v[i].data, s->p.v[i].len, &d);
		if (d.len || !a) {
			printf("--- %s%s\n%s", s->p.v[i].path, a ? "" : " (new file)", buf_str(&d));
			changed++;
		}
	}
	for (size_t i = 0; i < cur.n; i++)
		if (!pack_file(&s->p, cur.v[i].path)) {
			printf("--- %s (removed)\n", cur.v[i].path);
			changed++;
		}
	free(abs);
	buf_finish(&d);
	buf_finish(&err);
	skill_pack_finish(&cur);
	return changed;
}

static bool confirmed(const struct cli_skill_opts *o)
{
	char line[16];

	if (o->yes)
		return true;
	if (!isatty(STDIN_FILENO)) {
		fprintf(stderr, "not applied: confirm with y on a terminal, or pass --yes\n");
		return false;
	}
	printf("Apply this update? [y/N] ");
	fflush(stdout);
	return fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y');
}

int cli_skill_update(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n)
{
	struct source s = {0};
	struct skill_lock l = {0};
	struct skill_lock_entry *e;
	char *rel = NULL;
	int home_fd, rc;

	if (n != 1 && n != 2)
		return 2;
	home_fd = safeio_open_home(cfg->home);
	rc = home_fd < 0 ? home_fd : skill_lock_load(home_fd, &l);
	e = rc == 0 && skill_md_name_ok(w[0]) ? skill_lock_find(&l, w[0]) : NULL;
	if (!e) {
		fprintf(stderr, "%s was not installed from a source (skills.lock has no entry)\n",
			w[0]);
		rc = -ENOENT;
		goto out;
	}
	rc = load_source(n == 2 ? w[1] : e->source, o->sha256, &s);
	if (rc < 0)
		goto out;
	if (strcmp(s.p.name, e->name) != 0) {
		fprintf(stderr, "update refused: the source holds skill %s, not %s\n", s.p.name,
			e->name);
		rc = -EINVAL;
		goto out;
	}
	if (strcmp(s.hash, e->hash) == 0) {
		printf("%s is up to date (content sha256 %.16s).\n", e->name, e->hash);
		goto out;
	}
	rel = strcmp(e->state, "quarantined") == 0 ? xasprintf(SKILL_QUARANTINE "/%s", e->name)
						   : xasprintf("skills/%s", e->name);
	printf("Update of %s: content sha256 %.16s -> %.16s (from %s)\n", e->name, e->hash, s.hash,
	       s.where);
	show_diff(cfg->home, rel, &s);
	review_pack(&s.p, s.hash, stdout);
	if (!confirmed(o)) {
		rc = -ECANCELED;
		goto out;
	}
	if (strcmp(e->state, "approved") == 0)
		skill_hist_record(home_fd, e->name, rel, "file", NULL);
	rc = write_files(home_fd, rel, &s.p);
	if (rc == 0 && strcmp(e->state, "approved") == 0)
		skill_hist_record(home_fd, e->name, rel, "update", NULL);
	if (rc == 0) {
		snprintf(e->hash, sizeof(e->hash), "%s", s.hash);
		snprintf(e->pack, sizeof(e->pack), "%s", s.pack_hash);
		free(e->source);
		e->source = xstrdup(s.where);
		e->ms = now_wall_ms();
		rc = skill_lock_save(home_fd, &l);
	}
	if (rc < 0)
		fprintf(stderr, "cannot update %s: %s\n", e->name, safeio_strerror(rc));
	else
		printf("Updated %s.\n", e->name);
out:
	free(rel);
	source_finish(&s);
	skill_lock_finish(&l);
	if (home_fd >= 0)
		close(home_fd);
	return rc < 0;
}

int cli_skill_pack(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n)
{
	struct skill_pack p = {0};
	struct skill_set set;
	const struct skill *sk;
	struct buf err, manifest, out;
	char hash[65], whole[65], *file = NULL;
	int rc = 0;
	FILE *fp;

	if (n != 1)
		return 2;
	buf_init(&err, 0);
	buf_init(&manifest, 0);
	buf_init(&out, 0);
	skill_set_scan(cfg, &set);
	sk = skill_set_find(&set, w[0], NULL);
	if (!sk || !skill_usable(sk)) {
		fprintf(stderr, "no usable skill named %s (hermetic skill list)\n", w[0]);
		rc = -ENOENT;
		goto out;
	}
	rc = skill_read_folder(sk->path, &p, &err);
	if (rc < 0) {
		fprintf(stderr, "cannot pack %s: %s\n", w[0], buf_str(&err));
		goto out;
	}
	drop_manifest(&p);
	p.name = xstrdup(sk->name);
	skill_pack_content_hash(&p, hash);
	skill_pack_manifest(&p, hash, &manifest);
	skill_pack_add(&p, SKILL_PACK_MANIFEST, manifest.data, manifest.len);
	skill_pack_write(&p, &out);
	sha256_hex(out.data, out.len, whole);
	file = o->out ? xstrdup(o->out) : xasprintf("%s.skill.tar.gz", sk->name);
	fp = fopen(file, "wbx");
	if (fp && fwrite(out.data, 1, out.len, fp) != out.len) {
		fclose(fp);
		fp = NULL;
	} else if (fp && fclose(fp) != 0) {
		fp = NULL;
	}
	if (!fp) {
		fprintf(stderr, "cannot write %s: %s\n", file,
			errno == EEXIST ? "it exists (pass -o FILE)" : strerror(errno));
		rc = -EIO;
		goto out;
	}
	printf("%s: %zu files, %zu bytes\nsha256 %s (give it to `hermetic skill install %s "
	       "--sha256 ...`)\ncontent sha256 %s\n",
	       file, p.n, out.len, whole, file, hash);
out:
	free(file);
	buf_finish(&out);
	buf_finish(&manifest);
	buf_finish(&err);
	skill_pack_finish(&p);
	skill_set_finish(&set);
	return rc < 0;
}
