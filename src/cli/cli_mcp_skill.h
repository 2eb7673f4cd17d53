/* cli_mcp_skill: skills offered by MCP servers (SEP-2640): listed by `hermetic mcp list`,
 * loaded into the quarantine by `hermetic mcp skill SERVER NAME`. */
#ifndef HERMETIC_CLI_MCP_SKILL_H
#define HERMETIC_CLI_MCP_SKILL_H

struct config;
struct cli_mcp_run;
struct mcp_skill_list;

/* server's skills into out (to finish) on r's loop, waiting for the answer (bounded by the
 * server's timeout). 0, or a negative errno (mcp_skills_list's, or the listing's failure with
 * *why, malloc'd). */
int cli_mcp_skills_list(struct cli_mcp_run *r, const char *server, struct mcp_skill_list *out,
			char **why);
/* hermetic mcp skill SERVER NAME: loads the skill NAME (or its SKILL.md URI), every file
 * verified, into the quarantine. Exit code 0, or 1 with why on stderr. */
int cli_mcp_skill(const struct config *cfg, const char *server, const char *name);

#endif
