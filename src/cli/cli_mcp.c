/* cli_mcp: the one-shot MCP commands, `hermetic mcp list` and `hermetic mcp call`. A private
 * loop (cli_mcp_run.c) runs the MCP client without reconnects until every server has
 * connected or failed (each bounded by its connect_timeout), then the command prints and
 * closes the servers gracefully. `mcp list` shows each server's skills through
 * cli_mcp_skill.c, which runs its own command on the same loop and never calls back here. */
#include "cli/cli_mcp.h"
#include "cli/cli_elicit.h"
#include "cli/cli_mcp_oauth.h"
#include "cli/cli_mcp_run.h"
#include "cli/cli_mcp_skill.h"
#include "core/config.h"
#include "core/loop.h"
#include "mcp/mcp.h"
#include "mcp/mcp_skills.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A server's skills (SEP-2640), as listed: no file of them is fetched. */
static void skills_json(cJSON *o, const struct mcp_skill_list *l)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "skills");

	for (size_t k = 0; l && k < l->n; k++) {
		cJSON *sk = cJSON_CreateObject();

		cJSON_AddStringToObject(sk, "name", l->v[k].name);
		cJSON_AddStringToObject(sk, "uri", l->v[k].uri);
		cJSON_AddStringToObject(sk, "description", l->v[k].description);
		cJSON_AddNumberToObject(sk, "files", (double)l->v[k].n_files);
		cJSON_AddBoolToObject(sk, "verifiable", !l->v[k].dynamic);
		cJSON_AddItemToArray(arr, sk);
	}
}

static void print_skills(const struct mcp_skill_list *l)
{
	for (size_t k = 0; l && k < l->n; k++) {
		const char *d = l->v[k].description, *nl = strchr(d, '\n');

		printf("  skill %-34s %.*s\n", l->v[k].name,
		       (int)(nl ? (size_t)(nl - d) : strlen(d)), d);
	}
}

static cJSON *server_json(const struct config *cfg, const struct mcp *m, size_t i)
{
	const char *sign_in;
	struct mcp_server_info si;
	struct mcp_tool_info ti;
	cJSON *o = cJSON_CreateObject(), *tools;
	size_t k;

	mcp_server_info(m, i, &si);
	sign_in = cli_mcp_sign_in_state(cfg, si.name);
	cJSON_AddStringToObject(o, "name", si.name);
	cJSON_AddStringToObject(o, "transport", si.transport);
	if (sign_in)
		cJSON_AddStringToObject(o, "sign_in", sign_in);
	else
		cJSON_AddNullToObject(o, "sign_in");
	cJSON_AddStringToObject(o, "state",
				strcmp(si.state, "connected") == 0  ? "connected"
				: strcmp(si.state, "disabled") == 0 ? "disabled"
								    : "failed");
	if (si.protocol_version && strcmp(si.state, "connected") == 0)
		cJSON_AddStringToObject(o, "protocol_version", si.protocol_version);
	else
		cJSON_AddNullToObject(o, "protocol_version");
	if (si.error)
		cJSON_AddStringToObject(o, "error", si.error);
	else
		cJSON_AddNullToObject(o, "error");
	tools = cJSON_AddArrayToObject(o, "tools");
	for (k = 0; k < mcp_n_tools(m); k++) {
		cJSON *t;

		mcp_tool_info(m, k, &ti);
		if (strcmp(ti.server, si.name) != 0)
			continue;
		t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "name", ti.name);
		cJSON_AddStringToObject(t, "tool", ti.tool);
		cJSON_AddStringToObject(t, "description", ti.description);
		/* The schema as the server sent it (its numbers as written: raw text), for
		 * scripts and the conformance suite's client. */
		cJSON_AddRawToObject(t, "input_schema", ti.schema_json ? ti.schema_json : "{}");
		cJSON_AddItemToArray(tools, t);
	}
	return o;
}

/* An error of several lines (a stdio server's last stderr lines follow the reason) with the
 * lines after the first indented under the entry they belong to. */
void cli_mcp_print_error(const char *error)
{
	const char *nl;

	while ((nl = strchr(error, '\n'))) {
		printf("%.*s\n    ", (int)(nl - error), error);
		error = nl + 1;
	}
	printf("%s\n", error);
}

static void print_text(const struct config *cfg, const struct mcp *m, size_t i)
{
	struct mcp_server_info si;
	struct mcp_tool_info ti;
	const char *sign_in;
	size_t k;

	mcp_server_info(m, i, &si);
	sign_in = cli_mcp_sign_in_state(cfg, si.name);
	printf("%s  %s%s%s  %s  %s  %zu tools%s", si.name, si.transport, sign_in ? "  " : "",
	       sign_in ? sign_in : "", strcmp(si.state, "connected") == 0 ? "connected" : si.state,
	       si.protocol_version ? si.protocol_version : "-", si.n_tools,
	       si.error ? "  error: " : "");
	cli_mcp_print_error(si.error ? si.error : "");
	for (k = 0; k < mcp_n_tools(m); k++) {
		const char *nl;

		mcp_tool_info(m, k, &ti);
		if (strcmp(ti.server, si.name) != 0)
			continue;
		nl = strchr(ti.description, '\n');
		printf("  %-40s %.*s\n", ti.name,
		       (int)(nl ? (size_t)(nl - ti.description) : strlen(ti.description)),
		       ti.description);
	}
}

/* The first server whose listing failed with a challenge a step-up answers (signed in anew
 * for it): true when the listing should run again. */
static bool list_step_up(const struct config *cfg, struct cli_mcp_run *r)
{
	size_t i;

	for (i = 0; i < mcp_n_servers(r->mcp); i++) {
		struct mcp_server_info si;
		const char *ch;

		mcp_server_info(r->mcp, i, &si);
		ch = mcp_challenge(r->mcp, si.name);
		if (strcmp(si.state, "connected") != 0 && ch &&
		    cli_mcp_step_up(cfg, si.name, ch) == 0)
			return true;
	}
	return false;
}

int cli_mcp_list(const struct config *cfg, bool json)
{
	struct cli_mcp_run r = {0};
	struct mcp_skill_list *skills;
	cJSON *root, *arr;
	size_t i;
	int rc = 0, step_ups = 0;

	if (cli_mcp_run_start(&r, cfg) < 0)
		return 1;
	/* A 403 insufficient_scope (or a 401 naming a scope not granted) of tools/list: sign in
	 * for it and list again, a bounded number of times. */
	while (step_ups < CLI_MCP_MAX_STEP_UPS && list_step_up(cfg, &r)) {
		step_ups++;
		cli_mcp_run_finish(&r);
		if (cli_mcp_run_start(&r, cfg) < 0)
			return 1;
	}
	skills = xcalloc(mcp_n_servers(r.mcp) + 1, sizeof(*skills));
	for (i = 0; i < mcp_n_servers(r.mcp); i++) {
		struct mcp_server_info si;
		char *why = NULL;

		mcp_server_info(r.mcp, i, &si);
		if (mcp_skills_offered(r.mcp, si.name) &&
		    cli_mcp_skills_list(&r, si.name, &skills[i], &why) < 0) {
			fprintf(stderr, "hermetic: MCP server %s: %s\n", si.name, why);
			rc = 1;
		}
		free(why);
	}
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "servers");
	for (i = 0; i < mcp_n_servers(r.mcp); i++) {
		struct mcp_server_info si;

		mcp_server_info(r.mcp, i, &si);
		if (strcmp(si.state, "connected") != 0 && strcmp(si.state, "disabled") != 0)
			rc = 1;
		if (json) {
			cJSON *o = server_json(cfg, r.mcp, i);

			skills_json(o, &skills[i]);
			cJSON_AddItemToArray(arr, o);
		} else {
			print_text(cfg, r.mcp, i);
			print_skills(&skills[i]);
		}
		mcp_skill_list_finish(&skills[i]);
	}
	free(skills);
	if (json) {
		char *s = cJSON_Print(root);

		puts(s);
		free(s);
	}
	cJSON_Delete(root);
	fflush(stdout);
	cli_mcp_run_finish(&r);
	return rc;
}

static void on_call(const struct mcp_result *res, void *arg)
{
	struct cli_mcp_run *r = arg;

	printf("%s\n", res->text);
	r->rc = res->is_error ? 1 : 0;
	r->finished = true;
	loop_stop(r->loop);
}

/* cli_mcp_run_start with the client answering its servers' questions through e. */
static int start_asking(struct cli_mcp_run *r, const struct config *cfg, int elicit,
			struct cli_elicit **e)
{
	struct mcp_elicit_cbs cbs;

	r->loop = loop_create();
	if (!r->loop)
		return -1;
	r->mcp = mcp_create(cfg, r->loop, NULL, false);
	cli_mcp_oauth_prepare(cfg, r->loop, r->mcp);
	*e = cli_elicit_create(r->loop, (enum cli_elicit_mode)elicit, &cbs);
	mcp_set_elicit(r->mcp, &cbs);
	mcp_start_and_wait(r->mcp);
	return 0;
}

/* One attempt of `mcp call`: 0 or 1 in r->rc; *challenge gets the server's last 401/403
 * WWW-Authenticate (malloc'd) when the call failed. */
static void call_once(const struct config *cfg, const char *server, const char *tool,
		      const char *args_json, int elicit, struct cli_mcp_run *r, char **challenge)
{
	struct mcp_server_info si;
	struct cli_elicit *e = NULL;
	size_t i;
	int rc;

	if (start_asking(r, cfg, elicit, &e) < 0)
		return;
	/* From here only the call's own answer ends the loop, not a server state change. */
	mcp_on_change(r->mcp, NULL, NULL);
	rc = mcp_call_server(r->mcp, server, tool, args_json, on_call, r, NULL);
	if (rc == -EINVAL) {
		fprintf(stderr,
			"hermetic: the arguments must be a JSON object, e.g. '{\"a\":1}'\n");
	} else if (rc == -ENOTCONN || (rc == -ENOENT && !cfg->n_mcp_servers)) {
		for (i = 0; i < mcp_n_servers(r->mcp); i++) {
			mcp_server_info(r->mcp, i, &si);
			if (strcmp(si.name, server) == 0)
				fprintf(stderr, "hermetic: MCP server %s is not connected: %s\n",
					server, si.error ? si.error : si.state);
		}
	} else if (rc == -ENOENT) {
		fprintf(stderr, "hermetic: no tool %s on MCP server %s (see hermetic mcp list)\n",
			tool, server);
	} else if (rc == 0) {
		loop_run(r->loop);
		if (!r->finished)
			fprintf(stderr, "hermetic: the call did not finish\n");
	}
	fflush(stdout);
	if (r->rc != 0)
		*challenge = xstrdup(mcp_challenge(r->mcp, server));
	cli_mcp_run_finish(r);
	cli_elicit_destroy(e);
}

int cli_mcp_call(const struct config *cfg, const char *server, const char *tool,
		 const char *args_json, int elicit)
{
	int step_ups = 0;

	for (;;) {
		struct cli_mcp_run r = {.rc = 1};
		char *challenge = NULL;
		bool again;

		call_once(cfg, server, tool, args_json, elicit, &r, &challenge);
		/* A 403 insufficient_scope: sign in for the larger scope, then call again, a
		 * bounded number of times (a server that never accepts must not loop us). */
		again = r.rc != 0 && challenge && step_ups < CLI_MCP_MAX_STEP_UPS &&
			cli_mcp_step_up(cfg, server, challenge) == 0;
		free(challenge);
		if (!again)
			return r.rc;
		step_ups++;
	}
}
