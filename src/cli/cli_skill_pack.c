/* cli_skill_pack: `hermetic skill pack|install|approve|update`, skills shared safely.
 *
 * An install reads a pack (skills/skill_pack.c: every hash checked against its manifest, and
 * the whole file against --sha256 when given) or a folder holding SKILL.md (the Hermes hub's
 * and anthropics/skills' layouts put each skill in one), and writes it to
 * home/skills/.quarantine/<name>/: a dot folder, which the skill scan skips, so the model
 * neither sees it in the index nor reads it with skill_view. The owner reads it with every
 * script, URL and tool instruction flagged (`hermetic skill show NAME`), then `approve` moves
 * it into home/skills. home/skills.lock pins each installed skill to its source and content
 * hash: a different pack over a locked skill is refused, and `update` shows the diff and
 * applies it only when the owner says yes.
 *
 * skills.lock is text, one line per skill after a comment line:
 *   name TAB state (quarantined|approved) TAB content sha256 TAB pack sha256 or "-" TAB
 *   installed (UTC ms) TAB source
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

#define LOCK_FILE     "skills.lock"
#define LOCK_MAX      (256 * 1024)
#define QUARANTINE    "skills/.quarantine"
#define PACK_FILE_MAX (16 * 1024 * 1024)
#define FOLDER_DEPTH  3

/* ---- skills.lock ----------------------------------------------------------------------- */

struct lock_entry {
	char name[SKILL_MD_NAME_MAX + 1];
	char state[16];
	char hash[65], pack[65];
	int64_t ms;
	char *source;
};

struct lock {
	struct lock_entry *v;
	size_t n;
};

static void lock_finish(struct lock *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].source);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int lock_load(int home_fd, struct lock *l)
{
	struct buf b;
	char *line, *nl;
	int rc;

	memset(l, 0, sizeof(*l));
	buf_init(&b, 0);
	rc = safeio_read_at(home_fd, LOCK_FILE, LOCK_MAX, &b);
	if (rc == -ENOENT)
		rc = 0;
	for (line = b.data; rc == 0 && line && *line; line = nl ? nl + 1 : NULL) {
		char *f[6], *p = line;
		size_t n = 0;
		int64_t ms;

		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (*line == '#')
			continue;
		while (n < 6) {
			f[n++] = p;
			p = n < 6 ? strchr(p, '\t') : NULL;
			if (!p)
				break;
			*p++ = '\0';
		}
		if (n != 6 || !skill_md_name_ok(f[0]) || strlen(f[2]) != 64 ||
		    parse_i64(f[4], 0, INT64_MAX, &ms) < 0)
			continue; /* a line edited by hand into nonsense pins nothing */
		l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
		struct lock_entry *e = &l->v[l->n++];
		snprintf(e->name, sizeof(e->name), "%s", f[0]);
		snprintf(e->state, sizeof(e->state), "%s", f[1]);
		snprintf(e->hash, sizeof(e->hash), "%s", f[2]);
		snprintf(e->pack, sizeof(e->pack), "%s", f[3]);
		e->ms = ms;
		e->source = xstrdup(f[5]);
	}
	buf_finish(&b);
	return rc;
}

static int lock_save(int home_fd, const struct lock *l)
{
	struct buf b;
	int rc;

	buf_init(&b, 0);
	buf_puts(&b, "# hermetic skills.lock: name, state, content sha256, pack sha256, installed "
		     "(UTC ms), source\n");
	for (size_t i = 0; i < l->n; i++) {
		const struct lock_entry *e = &l->v[i];

		buf_printf(&b, "%s\t%s\t%s\t%s\t%" PRId64 "\t%s\n", e->name, e->state, e->hash,
			   e->pack[0] ? e->pack : "-", e->ms, e->source);
	}
	rc = safeio_write_atomic_at(home_fd, LOCK_FILE, b.data, b.len, 0600);
	buf_finish(&b);
	return rc;
}

static struct lock_entry *lock_find(struct lock *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

/* ---- reading a source ------------------------------------------------------------------ */

static int read_capped(const char *path, size_t cap, struct buf *out, struct buf *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = 0;
	char chunk[65536];
	ssize_t n;

	if (fd < 0) {
		buf_printf(err, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (out->len + (size_t)n > cap) {
			buf_printf(err, "%s is larger than %zu KiB", path, cap / 1024);
			rc = -EFBIG;
			break;
		} else {
			buf_append(out, chunk, (size_t)n);
		}
	if (n < 0) {
		buf_printf(err, "cannot read %s: %s", path, strerror(errno));
		rc = -EIO;
	}
	close(fd);
	return rc;
}

/* The files of the folder dir (rel below it) into p: regular files only; a symlink, a device
 * or too many files or bytes refuse the folder; dot entries (.git, .DS_Store) are skipped. */
static int read_folder(const char *dir, const char *rel, int depth, struct skill_pack *p,
		       size_t *total, struct buf *err)
{
	char *path = *rel ? xasprintf("%s/%s", dir, rel) : xstrdup(dir);
	DIR *d = opendir(path);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		buf_printf(err, "cannot open %s: %s", path, strerror(errno));
		free(path);
		return -errno;
	}
	while (rc == 0 && (e = readdir(d))) {
		char *sub, *full;
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		sub = *rel ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
		full = xasprintf("%s/%s", dir, sub);
		if (lstat(full, &st) < 0) {
			buf_printf(err, "cannot stat %s: %s", full, strerror(errno));
			rc = -errno;
		} else if (!skill_pack_path_ok(sub)) {
			buf_printf(
				err,
				"%s: the path is refused (a character outside A-Z a-z 0-9 . _ -)",
				full);
			rc = -EINVAL;
		} else if (S_ISLNK(st.st_mode)) {
			buf_printf(err,
				   "%s is a symlink; a skill to install holds regular files only",
				   full);
			rc = -ELOOP;
		} else if (S_ISDIR(st.st_mode) && depth + 1 < FOLDER_DEPTH) {
			rc = read_folder(dir, sub, depth + 1, p, total, err);
		} else if (!S_ISREG(st.st_mode)) {
			buf_printf(err, "%s is not a regular file (or is nested too deep)", full);
			rc = -EINVAL;
		} else if (p->n == SKILL_PACK_MEMBERS_MAX || st.st_size > SKILL_PACK_MEMBER_MAX ||
			   *total + (size_t)st.st_size > SKILL_PACK_TOTAL_MAX) {
			buf_printf(err, "%s: over %d files, %d KiB a file or %d MiB in all", full,
				   SKILL_PACK_MEMBERS_MAX, SKILL_PACK_MEMBER_MAX / 1024,
				   SKILL_PACK_TOTAL_MAX / (1024 * 1024));
			rc = -EFBIG;
		} else {
			struct buf b;

			buf_init(&b, 0);
			rc = read_capped(full, SKILL_PACK_MEMBER_MAX, &b, err);
			if (rc == 0) {
				skill_pack_add(p, sub, b.data ? b.data : "", b.len);
				*total += b.len;
			}
			buf_finish(&b);
		}
		free(full);
		free(sub);
	}
	closedir(d);
	free(path);
	return rc;
}

int cli_skill_read_folder(const char *dir, struct skill_pack *p, struct buf *err)
{
	size_t total = 0;

	return read_folder(dir, "", 0, p, &total, err);
}

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
	size_t total = 0;
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
		rc = want_sha256 ? -EINVAL : read_folder(real, "", 0, &s->p, &total, &err);
	} else {
		rc = read_capped(real, PACK_FILE_MAX, &bytes, &err);
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

static const char *const tool_words[] = {
	"send_file", "send_voice", "web_fetch",	     "skill_manage", "memory(",	 "schedule",
	"ask_user",  "mcp_",	   "session_search", "prometheus",   "curl ",	 "wget ",
	"bash ",     "sudo ",	   "rm -",	     "chmod ",	     "| sh",	 "eval ",
	"exec ",     "subprocess", "os.system",	     "tool call",    "call the", "use the tool",
};
static const char *const script_ext[] = {".sh", ".bash", ".py",	 ".js",	 ".mjs", ".ts",
					 ".rb", ".pl",	 ".ps1", ".php", ".bat", ".exe"};

static bool ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);

	return a >= b && strcasecmp(s + a - b, tail) == 0;
}

static bool has_tool_word(const char *line, size_t len)
{
	for (size_t i = 0; i < ARRAY_LEN(tool_words); i++)
		if (memmem(line, len, tool_words[i], strlen(tool_words[i])))
			return true;
	return false;
}

struct flags {
	size_t scripts, urls, tools;
};

static void review_file(const struct skill_pack_file *f, struct flags *fl, FILE *to)
{
	bool script = f->len > 2 && memcmp(f->data, "#!", 2) == 0;
	const char *line = f->data, *end = f->data + f->len;
	size_t no = 0;

	for (size_t i = 0; i < ARRAY_LEN(script_ext); i++)
		script |= ends_with(f->path, script_ext[i]);
	fprintf(to, "\n--- %s (%zu bytes)%s\n", f->path, f->len,
		script ? "  !! [SCRIPT] runs code if anything executes it" : "");
	fl->scripts += script;
	if (memchr(f->data, '\0', f->len)) {
		fprintf(to, "!! [BINARY] not shown\n");
		fl->scripts++;
		return;
	}
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
		bool url = memmem(line, n, "://", 3) != NULL;
		bool tool = has_tool_word(line, n);

		no++;
		fl->urls += url;
		fl->tools += tool;
		fprintf(to, "%s%4zu | %.*s\n",
			url && tool ? "!! [URL][TOOL] "
			: url	    ? "!! [URL]       "
			: tool	    ? "!! [TOOL]      "
				    : "               ",
			no, (int)n, line);
		line += n + 1;
	}
}

/* Prints p for review; returns the number of flags. */
static int review_pack(const struct skill_pack *p, const char *hash, FILE *to)
{
	struct flags fl = {0};

	fprintf(to, "== skill %s: %zu file%s, content sha256 %s\n", p->name, p->n,
		p->n == 1 ? "" : "s", hash);
	for (size_t i = 0; i < p->n; i++)
		review_file(&p->v[i], &fl, to);
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
	size_t total = 0;
	char hash[65];
	int rc;

	buf_init(&err, 0);
	rc = read_folder(dir, "", 0, &p, &total, &err);
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
	struct lock l;

	if (home_fd < 0 || lock_load(home_fd, &l) < 0) {
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
	lock_finish(&l);
	close(home_fd);
}

int cli_skill_show_quarantined(const struct config *cfg, const char *name)
{
	char *dir;
	struct stat st;
	int rc;

	if (!skill_md_name_ok(name))
		return -EINVAL;
	dir = xasprintf("%s/" QUARANTINE "/%s", cfg->home, name);
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

static bool home_skill_exists(const struct config *cfg, const char *name)
{
	struct skill_set s;
	bool yes;

	skill_set_scan(cfg, &s);
	yes = skill_set_find(&s, name, NULL) != NULL;
	skill_set_finish(&s);
	return yes;
}

int cli_skill_install(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n)
{
	struct source s;
	struct lock l = {0};
	struct lock_entry *e;
	char *rel = NULL, hash[65];
	int home_fd, rc;

	if (n != 1)
		return 2;
	if (load_source(w[0], o->sha256, &s) < 0)
		return 1;
	fileio_mkdirs(cfg->home, 0700); /* a new home: the first thing in it is this skill */
	home_fd = safeio_open_home(cfg->home);
	rc = home_fd < 0 ? home_fd : lock_load(home_fd, &l);
	if (rc < 0) {
		fprintf(stderr, "cannot read %s/%s: %s\n", cfg->home, LOCK_FILE,
			safeio_strerror(rc));
		goto out;
	}
	e = lock_find(&l, s.p.name);
	if (e && strcmp(e->hash, s.hash) == 0) {
		printf("%s is already installed from this content (%s, sha256 %.16s).\n", s.p.name,
		       e->state, e->hash);
		goto out;
	}
	if (e) {
		fprintf(stderr,
			"install refused: %s is locked to content sha256 %s (from %s) and this "
			"source holds %s; `hermetic skill update %s %s` shows the difference and "
			"applies it when you confirm\n",
			s.p.name, e->hash, e->source, s.hash, s.p.name, w[0]);
		rc = -EEXIST;
		goto out;
	}
	if (home_skill_exists(cfg, s.p.name)) {
		fprintf(stderr, "install refused: a skill named %s exists already\n", s.p.name);
		rc = -EEXIST;
		goto out;
	}
	rel = xasprintf(QUARANTINE "/%s", s.p.name);
	rc = write_files(home_fd, rel, &s.p);
	if (rc == 0)
		rc = skill_hist_hash(home_fd, rel, hash);
	if (rc == 0 && strcmp(hash, s.hash) != 0)
		rc = -EIO; /* what was written is not what was checked */
	if (rc == 0) {
		l.v = xrealloc(l.v, (l.n + 1) * sizeof(*l.v));
		e = &l.v[l.n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->name, sizeof(e->name), "%s", s.p.name);
		snprintf(e->state, sizeof(e->state), "quarantined");
		snprintf(e->hash, sizeof(e->hash), "%s", s.hash);
		snprintf(e->pack, sizeof(e->pack), "%s", s.pack_hash);
		e->ms = now_wall_ms();
		e->source = xstrdup(s.where);
		rc = lock_save(home_fd, &l);
	}
	if (rc < 0) {
		fprintf(stderr, "cannot install %s: %s\n", s.p.name, safeio_strerror(rc));
		goto out;
	}
	review_pack(&s.p, s.hash, stdout);
	printf("\nInstalled %s QUARANTINED in %s/%s: not offered to the model, not readable by "
	       "skill_view. Read the flagged lines above, then: hermetic skill approve %s\n",
	       s.p.name, cfg->home, rel, s.p.name);
out:
	free(rel);
	lock_finish(&l);
	if (home_fd >= 0)
		close(home_fd);
	source_finish(&s);
	return rc < 0;
}

int cli_skill_approve(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n)
{
	struct lock l = {0};
	struct lock_entry *e;
	char *rel = NULL, *dst = NULL, hash[65];
	int home_fd, rc, qfd = -1, sfd = -1;
	struct stat st;

	(void)o;
	if (n != 1)
		return 2;
	if (!skill_md_name_ok(w[0])) {
		fprintf(stderr, "invalid name: %s\n", SKILL_MD_NAME_RULE);
		return 1;
	}
	home_fd = safeio_open_home(cfg->home);
	rc = home_fd < 0 ? home_fd : lock_load(home_fd, &l);
	e = rc == 0 ? lock_find(&l, w[0]) : NULL;
	if (rc == 0 && (!e || strcmp(e->state, "quarantined") != 0)) {
		fprintf(stderr, "no quarantined skill named %s (hermetic skill list)\n", w[0]);
		rc = -ENOENT;
		goto out;
	}
	rel = xasprintf(QUARANTINE "/%s", w[0]);
	dst = xasprintf("skills/%s", w[0]);
	if (rc == 0)
		rc = skill_hist_hash(home_fd, rel, hash);
	if (rc == 0 && strcmp(hash, e->hash) != 0) {
		fprintf(stderr,
			"approve refused: %s changed in quarantine since it was installed (content "
			"sha256 %s, locked %s); install it again\n",
			w[0], hash, e->hash);
		rc = -EINVAL;
		goto out;
	}
	if (rc == 0 && home_skill_exists(cfg, w[0])) {
		fprintf(stderr, "approve refused: a skill named %s exists already\n", w[0]);
		rc = -EEXIST;
		goto out;
	}
	if (rc == 0) {
		qfd = safeio_open_at(home_fd, QUARANTINE, O_RDONLY | O_DIRECTORY, 0);
		sfd = safeio_open_at(home_fd, "skills", O_RDONLY | O_DIRECTORY, 0);
		rc = qfd < 0 ? qfd : sfd < 0 ? sfd : 0;
	}
	if (rc == 0 && fstatat(sfd, w[0], &st, AT_SYMLINK_NOFOLLOW) == 0)
		rc = -EEXIST;
	if (rc == 0 && renameat(qfd, w[0], sfd, w[0]) < 0)
		rc = -errno;
	if (rc == 0) {
		snprintf(e->state, sizeof(e->state), "approved");
		rc = lock_save(home_fd, &l);
	}
	if (rc == 0)
		skill_hist_record(home_fd, w[0], dst, "install", NULL);
	if (rc < 0)
		fprintf(stderr, "cannot approve %s: %s\n", w[0], safeio_strerror(rc));
	else
		printf("Approved %s: it is in %s/%s and offered to the model from the next "
		       "session.\n",
		       w[0], cfg->home, dst);
out:
	if (qfd >= 0)
		close(qfd);
	if (sfd >= 0)
		close(sfd);
	free(dst);
	free(rel);
	lock_finish(&l);
	if (home_fd >= 0)
		close(home_fd);
	return rc < 0;
}

/* The diff of the installed folder rel against s, file by file, to stdout; the number of
 * files that differ. */
static size_t show_diff(const char *home, const char *rel, const struct source *s)
{
	struct skill_pack cur = {0};
	struct buf err, d;
	size_t total = 0, changed = 0;
	char *abs;

	buf_init(&err, 0);
	buf_init(&d, 0);
	abs = xasprintf("%s/%s", home, rel);
	read_folder(abs, "", 0, &cur, &total, &err);
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
	struct lock l = {0};
	struct lock_entry *e;
	char *rel = NULL;
	int home_fd, rc;

	if (n != 1 && n != 2)
		return 2;
	home_fd = safeio_open_home(cfg->home);
	rc = home_fd < 0 ? home_fd : lock_load(home_fd, &l);
	e = rc == 0 && skill_md_name_ok(w[0]) ? lock_find(&l, w[0]) : NULL;
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
	rel = strcmp(e->state, "quarantined") == 0 ? xasprintf(QUARANTINE "/%s", e->name)
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
		rc = lock_save(home_fd, &l);
	}
	if (rc < 0)
		fprintf(stderr, "cannot update %s: %s\n", e->name, safeio_strerror(rc));
	else
		printf("Updated %s.\n", e->name);
out:
	free(rel);
	source_finish(&s);
	lock_finish(&l);
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
	size_t total = 0;
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
	rc = read_folder(sk->path, "", 0, &p, &total, &err);
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
