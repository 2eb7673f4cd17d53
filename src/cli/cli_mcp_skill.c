/* cli_mcp_skill: the skills MCP servers offer (SEP-2640) in the CLI: the listing that
 * `hermetic mcp list` shows, and `hermetic mcp skill SERVER NAME`, which loads one.
 *
 * A skill from a server is code for the model from someone else, like a pack from the web, so
 * a loaded skill goes where `hermetic skill install` puts one: into the quarantine, pinned in
 * skills.lock with its origin ("mcp:SERVER URI"), shown with every script, URL and tool
 * instruction flagged, and offered to the model only after `hermetic skill approve`. Loading
 * is the one moment files are fetched (mcp/mcp_skills.c verifies each before it is kept);
 * listing fetches none. Rejected: loading straight into home/skills (a server could then put
 * instructions before the model that nobody read), and fetching the supporting files at
 * approval (the review must show what is approved).
 */
#include "cli/cli_mcp_skill.h"
#include "cli/cli_mcp_run.h"
#include "cli/cli_skill.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/util.h"
#include "mcp/mcp.h"
#include "mcp/mcp_skills.h"
#include "skills/skill_pack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wait {
	struct loop *loop;
	bool done;
	int rc;
	char *why;
	struct mcp_skill_list l;
	struct skill_pack p;
};

static void on_list(int rc, struct mcp_skill_list *l, const char *why, void *arg)
{
	struct wait *w = arg;

	w->done = true;
	w->rc = rc;
	w->why = why ? xstrdup(why) : NULL;
	w->l = *l;
	memset(l, 0, sizeof(*l));
	loop_stop(w->loop);
}

int cli_mcp_skills_list(struct cli_mcp_run *r, const char *server, struct mcp_skill_list *out,
			char **why)
{
	struct wait w = {.loop = r->loop};
	int rc;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	rc = mcp_skills_list(r->mcp, server, on_list, &w);
	if (rc < 0)
		return rc;
	/* The request's own timeout ends the wait: the callback fires exactly once. */
	while (!w.done)
		loop_run(r->loop);
	*out = w.l;
	*why = w.why;
	return w.rc;
}

static void on_load(int rc, const struct mcp_skill_content *files, size_t n, const char *why,
		    void *arg)
{
	struct wait *w = arg;

	w->done = true;
	w->rc = rc;
	w->why = why ? xstrdup(why) : NULL;
	for (size_t i = 0; i < n; i++)
		skill_pack_add(&w->p, files[i].path, files[i].data, files[i].len);
	loop_stop(w->loop);
}

/* The entry of name (a skill's name or its SKILL.md URI) in l, or NULL with why printed. */
static const struct mcp_skill *pick(const struct mcp_skill_list *l, const char *server,
				    const char *name)
{
	const struct mcp_skill *found = NULL;
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].uri, name) == 0)
			return &l->v[i];
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0) {
			found = &l->v[i];
			n++;
		}
	if (n == 1)
		return found;
	if (n == 0) {
		fprintf(stderr, "hermetic: MCP server %s lists no skill %s (hermetic mcp list)\n",
			server, name);
		return NULL;
	}
	/* Names are labels, not identifiers (SEP-2640): two may collide; the URI decides. */
	fprintf(stderr, "hermetic: MCP server %s lists %zu skills named %s; name one by its URI:\n",
		server, n, name);
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			fprintf(stderr, "  %s\n", l->v[i].uri);
	return NULL;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int load(const struct config *cfg, struct cli_mcp_run *r, const char *server,
		const struct mcp_skill *sk)
{
	struct wait w = {.loop = r->loop};
	char *source;
	int rc;

	if (sk->dynamic) {
		fprintf(stderr,
			"hermetic: skill %s of %s lists no files with digests (a dynamic skill): "
			"nothing could be verified, so it is not loaded\n",
			sk->uri, server);
		return 1;
	}
	if (!printable(sk->uri)) {
		fprintf(stderr, "hermetic: the skill's URI holds control characters: refused\n");
		return 1;
	}
	rc = mcp_skill_load(r->mcp, server, sk, on_load, &w);
	if (rc < 0) {
		fprintf(stderr,
			"hermetic: skill %s of %s cannot be verified: its resources %s: refused\n",
			sk->uri, server,
			rc == -EINVAL
				? "do not list its SKILL.md, or list a file outside its folder"
				: "are out of reach");
		return 1;
	}
	while (!w.done)
		loop_run(r->loop);
	if (w.rc < 0) {
		fprintf(stderr, "hermetic: skill %s of MCP server %s not loaded: %s\n", sk->name,
			server, w.why ? w.why : "failed");
		free(w.why);
		skill_pack_finish(&w.p);
		return 1;
	}
	w.p.name = xstrdup(sk->name);
	source = xasprintf("mcp:%s %s", server, sk->uri);
	rc = cli_skill_quarantine_files(cfg, &w.p, source);
	free(source);
	free(w.why);
	skill_pack_finish(&w.p);
	return rc < 0 ? 1 : 0;
}

int cli_mcp_skill(const struct config *cfg, const char *server, const char *name)
{
	struct cli_mcp_run r = {0};
	struct mcp_skill_list l = {0};
	const struct mcp_skill *sk;
	char *why = NULL;
	int rc;

	if (cli_mcp_run_start(&r, cfg) < 0)
		return 1;
	rc = cli_mcp_skills_list(&r, server, &l, &why);
	if (rc == -ENOENT)
		fprintf(stderr, "hermetic: no MCP server %s in the config\n", server);
	else if (rc == -ENOTCONN)
		fprintf(stderr, "hermetic: MCP server %s is not connected (hermetic mcp list)\n",
			server);
	else if (rc == -EOPNOTSUPP)
		fprintf(stderr,
			"hermetic: MCP server %s offers no skills (it does not declare the "
			"io.modelcontextprotocol/skills extension)\n",
			server);
	else if (rc < 0)
		fprintf(stderr, "hermetic: MCP server %s: %s\n", server, why ? why : "failed");
	sk = rc == 0 ? pick(&l, server, name) : NULL;
	rc = sk ? load(cfg, &r, server, sk) : 1;
	fflush(stdout);
	free(why);
	mcp_skill_list_finish(&l);
	cli_mcp_run_finish(&r);
	return rc;
}
