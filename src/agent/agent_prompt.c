/* agent_prompt: the system prompt a session starts with and keeps: the persona (built in or
 * agent.persona_file), the index of the skills that match the first message (and a cron
 * job's own), the memory snapshot; the line saying when the conversation started, added to
 * every request; and where those sections lie in a stored prompt (agent_context_split).
 * The prompt is written once per session and stored with it (agent_session.c), so its bytes
 * stay the same for the provider's prompt cache. Its memory snapshot is the shared files only;
 * a turn in a lane gets the files of its lane and the lanes below it as well
 * (agent_prompt_lane_memory, docs/security.md "Lanes"), in its copy of the prompt, rebuilt when
 * the lane is set or rises (a rise changes the model group, so the cache was cold anyway). */
#include "agent/agent_int.h"
#include "core/config.h"
#include "core/log.h"
#include "skills/skill_set.h"
#include "tools/tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char default_persona[] =
	"You are hermetic, the user's personal assistant, running on their own small server. "
	"Be brief and concrete; answer in the user's language. Use tools when they help and "
	"say when you are unsure. Keep durable facts about the user with the memory tool.";

static const char skills_head[] = "\n\n## Skills (skill_view NAME for details)\n";

static void read_persona(const struct config *cfg, struct buf *out)
{
	FILE *f;
	char chunk[4096];
	size_t n;

	if (!cfg->agent.persona_file) {
		buf_puts(out, default_persona);
		return;
	}
	f = fopen(cfg->agent.persona_file, "re");
	if (!f) {
		log_warn("agent: persona %s unreadable (%m); using the built-in one",
			 cfg->agent.persona_file);
		buf_puts(out, default_persona);
		return;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(out, chunk, n) < 0)
			break;
	fclose(f);
}

/* The job a cron run's source ("cron:<job>") names, for its skills; NULL for other sources. */
static const struct config_cron_job *cron_job_of(const struct config *cfg, const char *source)
{
	size_t i;

	for (i = 0; source && strncmp(source, "cron:", 5) == 0 && i < cfg->n_cron_jobs; i++)
		if (strcmp(cfg->cron_jobs[i].name, source + 5) == 0)
			return &cfg->cron_jobs[i];
	return NULL;
}

void agent_pinned_review(const struct config *cfg, const char *source, struct tools_review *review)
{
	const struct config_cron_job *job = cron_job_of(cfg, source);
	struct skill_set s;

	review->skill[0] = '\0';
	review->never_invent[0] = '\0';
	if (!job || !job->n_skills)
		return;
	skill_set_scan(cfg, &s);
	for (size_t i = 0; i < job->n_skills; i++) {
		const struct skill *sk = skill_set_find(&s, job->skills[i], NULL);

		if (!sk || !skill_usable(sk))
			continue;
		if (!review->skill[0] && skill_md_review_gates(&sk->workflow))
			snprintf(review->skill, sizeof(review->skill), "%s", sk->name);
		tools_review_add_never_invent(review, sk->workflow.never_invent,
					      sk->workflow.n_never_invent);
	}
	skill_set_finish(&s);
}

/* The system prompt of a session of source that starts with text (both may be NULL): the
 * skills index names the skills that match text, and a cron job's own. */
char *agent_system_prompt_for(const struct agent *a, const char *source, const char *text)
{
	const struct config *cfg = a->env.cfg;
	const struct config_cron_job *job = cron_job_of(cfg, source);
	struct buf b, part;

	buf_init(&b, 64 * 1024);
	read_persona(cfg, &b);
	buf_init(&part, 0);
	if (cfg->toolsets & CONFIG_TOOLSET_SKILLS) {
		tools_skills_index(cfg, text, job ? (const char *const *)job->skills : NULL,
				   job ? job->n_skills : 0, &part);
		if (part.len)
			buf_printf(&b, "%s%s", skills_head, buf_str(&part));
	}
	buf_reset(&part);
	if (cfg->toolsets & CONFIG_TOOLSET_MEMORY) {
		tools_memory_snapshot(cfg, NULL, &part);
		if (part.len)
			buf_printf(&b, "\n\n%s", buf_str(&part));
	}
	buf_finish(&part);
	return buf_steal(&b);
}

void agent_prompt_lane_memory(const struct config *cfg, const char *lane, char **system)
{
	size_t skills_at, memory_at;
	struct buf b, part;

	if (!lane || !*system || !(cfg->toolsets & CONFIG_TOOLSET_MEMORY))
		return;
	agent_system_sections(*system, &skills_at, &memory_at);
	buf_init(&b, 0);
	buf_init(&part, 0);
	buf_append(&b, *system, memory_at);
	tools_memory_snapshot(cfg, lane, &part);
	if (part.len)
		buf_printf(&b, "\n\n%s", buf_str(&part));
	free(*system);
	*system = buf_steal(&b);
	buf_finish(&part);
}

char *agent_system_prompt(const struct agent *a)
{
	return agent_system_prompt_for(a, NULL, NULL);
}

void agent_format_local(int64_t ms, char *out, size_t len)
{
	time_t when = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&when, &tm);
	strftime(out, len, "%a %Y-%m-%d %H:%M %Z", &tm);
}

void agent_append_now(const struct agent_turn *t, struct buf *b)
{
	char line[80];

	const char *tz = t->a->env.cfg->timezone;

	agent_format_local(t->started_ms ? t->started_ms : now_wall_ms(), line, sizeof(line));
	/* The zone's name once: "UTC (UTC)" says nothing twice. */
	buf_printf(b,
		   "\n\nThis conversation started %s%s%s%s; later messages start with their time "
		   "when it has moved on.",
		   line, strstr(line, tz) ? "" : " (", strstr(line, tz) ? "" : tz,
		   strstr(line, tz) ? "" : ")");
}

/* Where the sections agent_system_prompt wrote begin in a stored system prompt: the skills
 * index after its heading's blank line, the memory snapshot at its first "## Memory (" or
 * "## User (" heading after that; len when absent. */
void agent_system_sections(const char *sys, size_t *skills_at, size_t *memory_at)
{
	static const char *const memory_heads[] = {"\n\n## Memory (", "\n\n## User ("};
	const char *p = strstr(sys, skills_head);
	size_t len = strlen(sys);

	*skills_at = p ? (size_t)(p - sys) : len;
	*memory_at = len;
	for (size_t i = 0; i < ARRAY_LEN(memory_heads); i++) {
		p = strstr(sys + (*skills_at < len ? *skills_at : 0), memory_heads[i]);
		if (p && (size_t)(p - sys) < *memory_at)
			*memory_at = (size_t)(p - sys);
	}
	if (*skills_at > *memory_at)
		*skills_at = *memory_at;
}
