/* cli_skill: `hermetic skill list|show|history|revert` here; packs, installs, quarantine and
 * updates in cli_skill_pack.c. The skills layer keeps the versions (skills/skill_hist.c); a
 * revert goes through the skill tools' own checks and write (tools_skill_edit), so it is one
 * more version, never a rewrite of history.
 */
#include "cli/cli_skill.h"
#include "cli/cli_skill_int.h"
#include "core/config.h"
#include "core/safeio.h"
#include "core/util.h"
#include "skills/skill_hist.h"
#include "skills/skill_md.h"
#include "skills/skill_set.h"
#include "tools/tools.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_skill_home_rel(const struct config *cfg, const char *name, char **rel_dir, int *home_fd)
{
	struct skill_set s;
	const struct skill *sk;
	int rc = 0;

	*rel_dir = NULL;
	*home_fd = -1;
	if (!skill_md_name_ok(name)) {
		fprintf(stderr, "invalid name: %s\n", SKILL_MD_NAME_RULE);
		return -EINVAL;
	}
	skill_set_scan(cfg, &s);
	sk = skill_set_find(&s, name, NULL);
	if (!sk) {
		fprintf(stderr, "no skill named %s (hermetic skill list shows them)\n", name);
		rc = -ENOENT;
	} else if (sk->root) {
		fprintf(stderr,
			"skill %s is in %s, an external dir: read-only, its versions are that "
			"folder's own\n",
			name, sk->root);
		rc = -EPERM;
	} else {
		*rel_dir = sk->category ? xasprintf("skills/%s/%s", sk->category, name)
					: xasprintf("skills/%s", name);
	}
	skill_set_finish(&s);
	if (rc == 0) {
		*home_fd = safeio_open_home(cfg->home);
		if (*home_fd < 0) {
			rc = *home_fd;
			fprintf(stderr, "cannot open %s: %s\n", cfg->home, safeio_strerror(rc));
			free(*rel_dir);
			*rel_dir = NULL;
		}
	}
	return rc;
}

static int cmd_list(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n)
{
	struct skill_set s;

	(void)o;
	(void)w;
	if (n != 0)
		return 2;
	skill_set_scan(cfg, &s);
	for (size_t i = 0; i < s.n; i++) {
		const struct skill *sk = &s.v[i];

		printf("%-24s %s%s\n", sk->name,
		       sk->error      ? "INVALID: "
		       : sk->shadowed ? "SHADOWED: "
				      : "",
		       sk->error	 ? sk->error
		       : sk->description ? sk->description
					 : "");
	}
	skill_set_finish(&s);
	cli_skill_list_quarantine(cfg);
	return 0;
}

static int cmd_show(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n)
{
	struct skill_set s;
	const struct skill *sk;
	int rc = 0;

	(void)o;
	if (n != 1)
		return 2;
	if (cli_skill_show_quarantined(cfg, w[0]) == 0)
		return 0;
	skill_set_scan(cfg, &s);
	sk = skill_set_find(&s, w[0], NULL);
	if (!sk) {
		fprintf(stderr, "no skill named %s\n", w[0]);
		rc = 1;
	} else {
		rc = cli_skill_review(sk->path, stdout) < 0;
	}
	skill_set_finish(&s);
	return rc;
}

static void put_version(const struct skill_version *v)
{
	char when[RFC3339_LEN];

	rfc3339_utc(v->ts_ms, false, when);
	printf("v%-4d %s  %-8s %.16s", v->n, when, v->by, v->hash);
	if (v->test[0])
		printf("  tests: %s", v->test);
	printf("\n");
}

/* history NAME: the versions, newest first (an edit by hand since the last is recorded
 * first); history NAME N: what version N changed against N-1. */
static int cmd_history(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n)
{
	struct skill_hist h = {0};
	struct buf a, b, d;
	char *rel;
	int home_fd, rc, cur = 0;
	int64_t want = 0;

	(void)o;
	if (n != 1 && n != 2)
		return 2;
	if (n == 2 && parse_i64(w[1][0] == 'v' ? w[1] + 1 : w[1], 1, INT32_MAX, &want) < 0)
		return 2;
	if (cli_skill_home_rel(cfg, w[0], &rel, &home_fd) < 0)
		return 1;
	rc = skill_hist_record(home_fd, w[0], rel, "file", &cur);
	if (rc == 0)
		rc = skill_hist_load(home_fd, w[0], &h);
	if (rc < 0) {
		fprintf(stderr, "cannot read the history of %s: %s\n", w[0], safeio_strerror(rc));
	} else if (n == 1) {
		printf("skill %s: %zu version%s, current v%d (%s/%s)\n", w[0], h.n,
		       h.n == 1 ? "" : "s", cur, cfg->home, rel);
		for (size_t i = h.n; i-- > 0;)
			put_version(&h.v[i]);
	} else {
		buf_init(&a, 0);
		buf_init(&b, 0);
		buf_init(&d, 0);
		rc = skill_hist_text(home_fd, w[0], (int)want, &b);
		if (rc < 0)
			fprintf(stderr,
				"version %lld of %s is not kept (hermetic skill history %s)\n",
				(long long)want, w[0], w[0]);
		else if (want > 1 && skill_hist_text(home_fd, w[0], (int)want - 1, &a) < 0)
			printf("(version %lld is not kept: the whole text)\n", (long long)want - 1);
		if (rc == 0) {
			for (size_t i = 0; i < h.n; i++)
				if (h.v[i].n == want)
					put_version(&h.v[i]);
			skill_diff(a.data ? a.data : "", a.len, b.data ? b.data : "", b.len, &d);
			fputs(d.len ? buf_str(&d) : "(SKILL.md unchanged: another file changed)\n",
			      stdout);
		}
		buf_finish(&d);
		buf_finish(&b);
		buf_finish(&a);
	}
	skill_hist_finish(&h);
	close(home_fd);
	free(rel);
	return rc < 0;
}

/* revert NAME N: SKILL.md of version N written back through the tools' checks (a new
 * version made by "revert"). */
static int cmd_revert(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n)
{
	char version[TOOLS_VERSION_LEN + 1], new_version[TOOLS_VERSION_LEN + 1], *rel, *md;
	struct buf old, cur, out;
	int home_fd, rc, now = 0;
	int64_t want;

	(void)o;
	if (n != 2 || parse_i64(w[1][0] == 'v' ? w[1] + 1 : w[1], 1, INT32_MAX, &want) < 0)
		return 2;
	if (cli_skill_home_rel(cfg, w[0], &rel, &home_fd) < 0)
		return 1;
	buf_init(&old, 0);
	buf_init(&cur, 0);
	buf_init(&out, 0);
	md = xasprintf("%s/SKILL.md", rel);
	rc = skill_hist_record(home_fd, w[0], rel, "file", NULL); /* keep a hand edit */
	if (rc == 0)
		rc = safeio_read_at(home_fd, md, SKILL_MAX_BYTES, &cur);
	if (rc < 0) {
		fprintf(stderr, "cannot read %s: %s\n", md, safeio_strerror(rc));
	} else if ((rc = skill_hist_text(home_fd, w[0], (int)want, &old)) < 0) {
		fprintf(stderr, "version %lld of %s is not kept (hermetic skill history %s)\n",
			(long long)want, w[0], w[0]);
	} else {
		tools_edit_version(cur.data ? cur.data : "", cur.len, version);
		rc = tools_skill_edit(cfg, TOOLS_SKILL_REVERT, w[0], buf_str(&old), version,
				      new_version, &out);
		if (rc < 0) {
			fprintf(stderr, "revert refused: %s\n", buf_str(&out));
		} else {
			skill_hist_record(home_fd, w[0], rel, "revert", &now);
			printf("Reverted %s to the text of v%lld (now v%d).\n", w[0],
			       (long long)want, now);
		}
	}
	buf_finish(&out);
	buf_finish(&cur);
	buf_finish(&old);
	free(md);
	close(home_fd);
	free(rel);
	return rc < 0;
}

static const struct {
	const char *name;
	int (*fn)(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n);
} cmds[] = {
	{"list", cmd_list},
	{"show", cmd_show},
	{"history", cmd_history},
	{"revert", cmd_revert},
	{"pack", cli_skill_pack},
	{"install", cli_skill_install},
	{"approve", cli_skill_approve},
	{"update", cli_skill_update},
	{"test", cli_skill_test},
};

int cli_skill(const struct config *cfg, const struct cli_skill_opts *o, char **words, int n)
{
	int rc = 2;

	for (size_t i = 0; i < ARRAY_LEN(cmds); i++)
		if (n > 0 && strcmp(words[0], cmds[i].name) == 0)
			rc = cmds[i].fn(cfg, o, words + 1, n - 1);
	if (rc == 2)
		fprintf(stderr, "usage: %s\n", CLI_SKILL_USAGE);
	return rc;
}
