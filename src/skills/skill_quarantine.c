/* skill_quarantine: what an installed skill goes through before the model sees it, shared by
 * the CLI (`hermetic skill install|approve|show|update`) and the cockpit's Skills view.
 *
 * home/skills.lock pins each installed skill to its source and content hash, one line per
 * skill after a comment line:
 *   name TAB state (quarantined|approved) TAB content sha256 TAB pack sha256 or "-" TAB
 *   installed (UTC ms) TAB source
 * A quarantined skill waits in home/skills/.quarantine/<name>/ (a dot folder: the skill scan
 * skips it, so the model neither sees it in the index nor reads it with skill_view) until
 * skill_quarantine_approve moves it into home/skills after checking that its content still
 * has the locked hash. skill_review walks a skill's files for the owner's review, flagging
 * every script, URL and line that tells the model to call a tool or run a command. Also here:
 * a skill folder read into a skill_pack (regular files only, capped).
 *
 * Rejected: keeping these in cli/: the cockpit (gateway/) may not include the CLI, and two
 * copies of the flag rules would drift apart.
 */
#include "skills/skill_quarantine.h"
#include "core/config.h"
#include "core/safeio.h"
#include "core/util.h"
#include "skills/skill_hist.h"
#include "skills/skill_md.h"
#include "skills/skill_set.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_MAX (256 * 1024)

/* ---- skills.lock ----------------------------------------------------------------------- */

void skill_lock_finish(struct skill_lock *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].source);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int skill_lock_load(int home_fd, struct skill_lock *l)
{
	struct buf b;
	char *line, *nl;
	int rc;

	memset(l, 0, sizeof(*l));
	buf_init(&b, 0);
	rc = safeio_read_at(home_fd, SKILL_LOCK_FILE, LOCK_MAX, &b);
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
		struct skill_lock_entry *e = &l->v[l->n++];
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

int skill_lock_save(int home_fd, const struct skill_lock *l)
{
	struct buf b;
	int rc;

	buf_init(&b, 0);
	buf_puts(&b, "# hermetic skills.lock: name, state, content sha256, pack sha256, installed "
		     "(UTC ms), source\n");
	for (size_t i = 0; i < l->n; i++) {
		const struct skill_lock_entry *e = &l->v[i];

		buf_printf(&b, "%s\t%s\t%s\t%s\t%" PRId64 "\t%s\n", e->name, e->state, e->hash,
			   e->pack[0] ? e->pack : "-", e->ms, e->source);
	}
	rc = safeio_write_atomic_at(home_fd, SKILL_LOCK_FILE, b.data, b.len, 0600);
	buf_finish(&b);
	return rc;
}

struct skill_lock_entry *skill_lock_find(struct skill_lock *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

/* ---- a skill folder read ---------------------------------------------------------------- */

int skill_read_capped(const char *path, size_t cap, struct buf *out, struct buf *err)
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
static int walk_folder(const char *dir, const char *rel, int depth, struct skill_pack *p,
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
		} else if (S_ISDIR(st.st_mode) && depth + 1 < SKILL_FOLDER_DEPTH) {
			rc = walk_folder(dir, sub, depth + 1, p, total, err);
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
			rc = skill_read_capped(full, SKILL_PACK_MEMBER_MAX, &b, err);
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

int skill_read_folder(const char *dir, struct skill_pack *p, struct buf *err)
{
	size_t total = 0;

	return walk_folder(dir, "", 0, p, &total, err);
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

static void review_file(const struct skill_pack_file *f, const struct skill_review_cbs *cbs,
			void *arg, struct skill_review_flags *fl)
{
	bool script = f->len > 2 && memcmp(f->data, "#!", 2) == 0;
	bool binary = memchr(f->data, '\0', f->len) != NULL;
	const char *line = f->data, *end = f->data + f->len;
	size_t no = 0;

	for (size_t i = 0; i < ARRAY_LEN(script_ext); i++)
		script |= ends_with(f->path, script_ext[i]);
	fl->scripts += script + binary;
	if (cbs->file)
		cbs->file(f, script, binary, arg);
	if (binary)
		return;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
		bool url = memmem(line, n, "://", 3) != NULL;
		bool tool = has_tool_word(line, n);

		no++;
		fl->urls += url;
		fl->tools += tool;
		if (cbs->line)
			cbs->line(no, line, n, url, tool, arg);
		line += n + 1;
	}
}

void skill_review(const struct skill_pack *p, const struct skill_review_cbs *cbs, void *arg,
		  struct skill_review_flags *out)
{
	*out = (struct skill_review_flags){0};
	for (size_t i = 0; i < p->n; i++)
		review_file(&p->v[i], cbs, arg, out);
}

/* ---- approval -------------------------------------------------------------------------- */

bool skill_home_has(const struct config *cfg, const char *name)
{
	struct skill_set s;
	bool yes;

	skill_set_scan(cfg, &s);
	yes = skill_set_find(&s, name, NULL) != NULL;
	skill_set_finish(&s);
	return yes;
}

/* Moves .quarantine/name into skills/ (both below home_fd): 0 or a negative errno. */
static int move_in(int home_fd, const char *name)
{
	int qfd = safeio_open_at(home_fd, SKILL_QUARANTINE, O_RDONLY | O_DIRECTORY, 0);
	int sfd = safeio_open_at(home_fd, "skills", O_RDONLY | O_DIRECTORY, 0);
	int rc = qfd < 0 ? qfd : sfd < 0 ? sfd : 0;
	struct stat st;

	if (rc == 0 && fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		rc = -EEXIST;
	if (rc == 0 && renameat(qfd, name, sfd, name) < 0)
		rc = -errno;
	if (qfd >= 0)
		close(qfd);
	if (sfd >= 0)
		close(sfd);
	return rc;
}

/* Whether s is 64 hexadecimal digits. */
static bool sha256_hex_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	return i == 64;
}

int skill_quarantine_approve(const struct config *cfg, const char *name, const char *reviewed,
			     char approved[65], struct buf *err)
{
	struct skill_lock l = {0};
	struct skill_lock_entry *e = NULL;
	char *rel = NULL, *dst = NULL, hash[65];
	int home_fd, rc;

	if (!skill_md_name_ok(name)) {
		buf_printf(err, "invalid name: %s", SKILL_MD_NAME_RULE);
		return -EINVAL;
	}
	if (reviewed && !sha256_hex_ok(reviewed)) {
		buf_printf(err,
			   "invalid sha256: expected the 64 hex digits of the content's sha256 "
			   "(hermetic skill show %s prints it)",
			   name);
		return -EINVAL;
	}
	home_fd = safeio_open_home(cfg->home);
	rc = home_fd < 0 ? home_fd : skill_lock_load(home_fd, &l);
	if (rc < 0) {
		buf_printf(err, "cannot read %s/%s: %s", cfg->home, SKILL_LOCK_FILE,
			   safeio_strerror(rc));
		goto out;
	}
	e = skill_lock_find(&l, name);
	if (!e || strcmp(e->state, "quarantined") != 0) {
		buf_printf(err, "no quarantined skill named %s", name);
		rc = -ENOENT;
		goto out;
	}
	rel = xasprintf(SKILL_QUARANTINE "/%s", name);
	dst = xasprintf("skills/%s", name);
	rc = skill_hist_hash(home_fd, rel, hash);
	if (rc == 0 && strcmp(hash, e->hash) != 0) {
		buf_printf(err,
			   "approve refused: %s changed in quarantine since it was installed "
			   "(content sha256 %s, locked %s); install it again",
			   name, hash, e->hash);
		rc = -EBADMSG;
		goto out;
	}
	/* The reviewer approves what they read: an update since then is a new review. */
	if (rc == 0 && reviewed && strcasecmp(reviewed, hash) != 0) {
		buf_printf(err,
			   "approve refused: %s is now content sha256 %s, not the %s you reviewed "
			   "(it was replaced since, e.g. by skill update); review it again "
			   "(hermetic skill show %s) and approve that",
			   name, hash, reviewed, name);
		rc = -ESTALE;
		goto out;
	}
	if (rc == 0 && skill_home_has(cfg, name)) {
		buf_printf(err, "approve refused: a skill named %s exists already", name);
		rc = -EEXIST;
		goto out;
	}
	if (rc == 0)
		rc = move_in(home_fd, name);
	if (rc == 0) {
		snprintf(e->state, sizeof(e->state), "approved");
		rc = skill_lock_save(home_fd, &l);
	}
	if (rc == 0) {
		skill_hist_record(home_fd, name, dst, "install", NULL);
		if (approved)
			memcpy(approved, hash, 65);
	} else
		buf_printf(err, "cannot approve %s: %s", name, safeio_strerror(rc));
out:
	free(dst);
	free(rel);
	skill_lock_finish(&l);
	if (home_fd >= 0)
		close(home_fd);
	return rc;
}
