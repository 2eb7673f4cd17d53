/* tg_commands: the bot's slash commands (the whole is described in telegram.c). One table
 * gives the dispatch, /help and the menu registered with setMyCommands; each handler writes
 * its answer into a buf that telegram.c stores with the row. The buttons some answers carry
 * (/jobs, /decide) are pressed in tg_questions.c. /stop while a turn runs is tg_poll.c's.
 */
#include "telegram/telegram_int.h"
#include "gateway/reminders.h"
#include "agent/agent.h"
#include "router/breaker.h"
#include "router/lane.h"
#include "net/daemon.h"
#include "sandbox/landlock.h"
#include "mcp/mcp.h"
#include "sandbox/rootguard.h"
#include "sandbox/sandbox.h"
#include "core/sessions.h"
#include "router/spend.h"
#include "tools/tools.h"
#include "core/log.h"
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>

/* ---- commands ------------------------------------------------------------------------ */

/* "Today: 3 calls, 9000 tokens in (80% from the prompt cache), 120 out, $0.0012." */
static void usage_line(struct buf *out, const char *when, const struct spend_usage *u)
{
	buf_printf(out, "%s: %lld calls, %lld tokens in", when, (long long)u->calls,
		   (long long)u->input_tokens);
	if (u->cached_tokens > 0 && u->input_tokens > 0)
		buf_printf(out, " (%lld%% from the prompt cache)",
			   (long long)(u->cached_tokens * 100 / u->input_tokens));
	buf_printf(out, ", %lld out, $%.4f.\n", (long long)u->output_tokens, u->cost_usd);
}

/* "Last answer: free2 (asked for free1)." for the chat's session: the group that answered. */
static void answered_line(struct telegram *t, struct chat *c, struct buf *out)
{
	char source[64], answered[128], asked[128];

	tg_source_of(c->id, c->thread, source, sizeof(source));
	if (agent_answered_by(t->agent, source, answered, sizeof(answered), asked, sizeof(asked)) <
	    0)
		return;
	if (strcmp(answered, asked) == 0)
		buf_printf(out, "Last answer: %s.\n", answered);
	else
		buf_printf(out, "Last answer: %s (asked for %s).\n", answered, asked);
}

static void usage_text(struct telegram *t, struct chat *c, struct buf *out)
{
	struct spend_usage today = {0}, month = {0};
	const struct config_budget *b = &t->cfg->budget;

	answered_line(t, c, out);

	if (t->spend && spend_usage(t->d->store, now_wall_ms(), &today, &month) == 0) {
		usage_line(out, "Today", &today);
		usage_line(out, "This month", &month);
		if (b->daily_usd > 0)
			buf_printf(out, "Daily budget: $%.2f, $%.4f left.\n", b->daily_usd,
				   b->daily_usd > today.cost_usd ? b->daily_usd - today.cost_usd
								 : 0);
		if (b->monthly_usd > 0)
			buf_printf(out, "Monthly budget: $%.2f, $%.4f left.\n", b->monthly_usd,
				   b->monthly_usd > month.cost_usd ? b->monthly_usd - month.cost_usd
								   : 0);
	} else {
		buf_puts(out, "No spend figures available.\n");
	}
}

const char *tg_current_model(struct telegram *t, struct chat *c, struct session_info *si)
{
	char source[64];

	tg_source_of(c->id, c->thread, source, sizeof(source));
	if (sessions_current(t->d->store, source, 0, si) == 0 && si->model)
		return si->model;
	return t->cfg->model;
}

/* The chat's lane when it does not list model: "lane private: its turns are answered by
 * local (in that order)" appended, true; else nothing, false. */
static bool lane_groups_text(struct telegram *t, const char *source, const char *model,
			     struct buf *out)
{
	const struct config *cfg = t->cfg;
	const char *name = NULL;
	int lane;

	if (cfg->n_lanes == 0 || agent_lane_of(t->agent, source, &name, NULL, 0) < 0 || !name)
		return false;
	lane = lane_find(cfg->lanes, cfg->n_lanes, name);
	if (lane == LANE_NONE || lane_allows(cfg->lanes, cfg->n_lanes, lane, model))
		return false;
	buf_printf(out, "lane %s: its turns are answered by ", name);
	for (size_t i = 0; i < cfg->lanes[lane].n_models; i++)
		buf_printf(out, "%s%s", i ? ", " : "", cfg->lanes[lane].models[i]);
	buf_puts(out, " (in that order)");
	return true;
}

static void model_text(struct telegram *t, struct chat *c, const char *arg, struct buf *out)
{
	struct session_info si = {0};
	const char *model;
	char source[64];

	tg_source_of(c->id, c->thread, source, sizeof(source));
	if (arg && *arg) {
		int rc = agent_set_model(t->agent, source, arg);

		if (rc == 0) {
			buf_printf(out, "Model: %s.", arg);
		} else if (rc == -EPERM) {
			buf_printf(out, "\"%s\" is outside this chat's ", arg);
			if (!lane_groups_text(t, source, arg, out))
				buf_puts(out, "lane");
			buf_puts(out, ". The model is unchanged.");
		} else if (rc == -ENOENT) {
			buf_printf(out, "There is no model \"%s\".", arg);
		} else {
			buf_puts(out, "The model could not be set now (the database is busy); try "
				      "again.");
		}
	} else {
		struct buf note;

		model = tg_current_model(t, c, &si);
		buf_init(&note, 0);
		if (lane_groups_text(t, source, model, &note))
			buf_printf(out, "Model: %s (outside this chat's %s).", model,
				   buf_str(&note));
		else
			buf_printf(out, "Model: %s.", model);
		buf_finish(&note);
	}
	buf_puts(out, " Configured:");
	for (size_t i = 0; i < t->cfg->n_model_groups; i++)
		buf_printf(out, " %s", t->cfg->model_groups[i]);
	session_info_finish(&si);
}

static void breaker_text(struct telegram *t, struct buf *out)
{
	struct breaker_state bs;
	char until[64];

	if (!t->breaker)
		return;
	breaker_state(t->breaker, now_mono_ms(), &bs);
	if (!bs.enabled) {
		buf_puts(out, "Bleed breaker: off (guardrails.bleed).\n");
	} else if (!bs.open) {
		buf_printf(out,
			   "Bleed breaker: closed, %lld calls in the window, tripped %llu times.\n",
			   (long long)bs.calls_in_window, (unsigned long long)bs.trips);
	} else if (bs.until_ms) {
		breaker_format_time(bs.until_ms, until, sizeof(until));
		buf_printf(out, "Bleed breaker: OPEN (%s) until %s; /resume closes it.\n", bs.why,
			   until);
	} else {
		buf_printf(out, "Bleed breaker: OPEN (%s) until /resume.\n", bs.why);
	}
}

static void status_text(struct telegram *t, struct chat *c, struct buf *out)
{
	struct session_info si = {0};
	int64_t up_s = (now_wall_ms() - t->d->start_wall_ms) / 1000;
	size_t n = t->mcp ? mcp_n_servers(t->mcp) : 0;

	if (rootguard_is_root())
		buf_puts(out,
			 "WARNING: running as root (HERMETIC_ALLOW_ROOT=1); run hermetic as an "
			 "unprivileged user.\n");
	buf_printf(out, "Up %lldd %02lldh %02lldm. Model: %s.\n", (long long)(up_s / 86400),
		   (long long)(up_s / 3600 % 24), (long long)(up_s / 60 % 60),
		   tg_current_model(t, c, &si));
	session_info_finish(&si);
	for (size_t i = 0; i < n; i++) {
		struct mcp_server_info mi;

		mcp_server_info(t->mcp, i, &mi);
		buf_printf(out, "MCP %s: %s, %zu tools.\n", mi.name, mi.state, mi.n_tools);
	}
	if (n == 0)
		buf_puts(out, "No MCP servers.\n");
	buf_printf(out, "%s.\n", landlock_state());
	buf_printf(out, "Seccomp: %s.\n", sandbox_status());
	breaker_text(t, out);
}

/* Only allowed users' messages reach a chat's inbox, so whoever sends this may resume. */
static void resume_text(struct telegram *t, int64_t chat_id, struct buf *out)
{
	if (!t->breaker) {
		buf_puts(out, "There is no bleed breaker here.");
		return;
	}
	if (breaker_resume(t->breaker, now_mono_ms())) {
		log_warn("telegram: chat %lld closed the bleed breaker with /resume",
			 (long long)chat_id);
		buf_puts(out, "Bleed breaker closed: model calls flow again.");
	} else {
		buf_puts(out, "The bleed breaker is not open: model calls flow.");
	}
}

static void help_cmd(struct chat *c, const char *name, const char *arg, struct buf *out);
static void lane_text(struct chat *c, const char *source, struct buf *out);

static void context_line(struct buf *out, const char *what, const struct agent_context_part *p,
			 int64_t total)
{
	buf_printf(out, "\n%s: %lld tokens (%lld%%, %zu bytes)", what, (long long)p->tokens,
		   total > 0 ? (long long)(p->tokens * 100 / total) : 0LL, p->bytes);
}

/* How the next request's tokens split, and what the provider's prompt cache served of the
 * last one: where the money of a long chat goes. */
static void context_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	struct agent_context_split sp = {0};
	char source[64];
	int64_t total;

	tg_source_of(c->id, c->thread, source, sizeof(source));
	if (agent_context_split(c->t->agent, source, &sp) < 0) {
		buf_puts(out,
			 "The context could not be read now (the database is busy); try again.");
		return;
	}
	total = sp.total.tokens;
	if (c->t->cfg->n_lanes) {
		lane_text(c, source, out);
		buf_puts(out, "\n");
	}
	buf_printf(out, "The next request: about %lld tokens of the model's %lld (%s).",
		   (long long)total, (long long)sp.budget_tokens,
		   sp.session_id ? "this conversation" : "a new conversation");
	context_line(out, "persona", &sp.persona, total);
	context_line(out, "memory", &sp.memory, total);
	context_line(out, "skills index", &sp.skills, total);
	context_line(out, "tool schemas", &sp.tools, total);
	buf_printf(out, "\nhistory, %zu messages: %lld tokens (%lld%%, %zu bytes)", sp.n_messages,
		   (long long)sp.history.tokens,
		   total > 0 ? (long long)(sp.history.tokens * 100 / total) : 0LL,
		   sp.history.bytes);
	context_line(out, "JSON framing", &sp.framing, total);
	buf_printf(out, "\ntotal: %zu bytes", sp.total.bytes);
	if (sp.have_last)
		buf_printf(out,
			   "\nThe last request: %lld prompt tokens, %lld of them (%lld%%) from the "
			   "provider's prompt cache.",
			   (long long)sp.last_prompt_tokens, (long long)sp.last_cached_tokens,
			   sp.last_prompt_tokens > 0 ? (long long)(sp.last_cached_tokens * 100 /
								   sp.last_prompt_tokens)
						     : 0LL);
	else
		buf_puts(out,
			 "\nNo request of this conversation since the start: no cache figures.");
}

const char *tg_lane_of(struct telegram *t, const char *source)
{
	const char *name = NULL;
	char why[8];

	if (t->cfg->n_lanes == 0 || !t->agent)
		return NULL;
	if (agent_lane_of(t->agent, source, &name, why, sizeof(why)) < 0)
		return "(unknown lane)"; /* the router refuses it: nothing leaves */
	return name;
}

/* The lane line of /context and /lane: which lane and why. */
static void lane_text(struct chat *c, const char *source, struct buf *out)
{
	const char *name = NULL;
	char why[128];
	int rc = agent_lane_of(c->t->agent, source, &name, why, sizeof(why));

	if (rc == -ENOENT)
		buf_printf(out, "Lane: unknown (%s): no model is reachable; /new starts over.",
			   why);
	else if (rc < 0)
		buf_puts(out, "Lane: could not be read now (the database is busy).");
	else if (!name)
		buf_puts(out, "Lane: none (every model group is reachable).");
	else
		buf_printf(out, "Lane: %s (%s).", name, why);
}

/* /lane: the session's lane; /lane NAME raises it (never lowers: /new starts low). */
static void lane_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	const struct config *cfg = c->t->cfg;
	char source[64];
	int rc;

	tg_source_of(c->id, c->thread, source, sizeof(source));
	if (cfg->n_lanes == 0) {
		buf_puts(out, "There are no lanes in the config.");
		return;
	}
	if (arg && *arg) {
		rc = agent_raise_lane(c->t->agent, source, arg);
		if (rc == -ENOENT || rc == -EPERM) {
			buf_puts(out, rc == -ENOENT
					      ? "There is no such lane. Lanes, most sensitive "
						"first:"
					      : "Lanes only rise; /new starts a conversation "
						"in no lane. Lanes, most sensitive first:");
			for (size_t i = 0; i < cfg->n_lanes; i++)
				buf_printf(out, " %s", cfg->lanes[i].name);
			return;
		}
		if (rc < 0) {
			buf_puts(out, "Could not set the lane (see the log).");
			return;
		}
	}
	lane_text(c, source, out);
}

static void new_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	char source[64];

	tg_source_of(c->id, c->thread, source, sizeof(source));
	buf_puts(out, agent_reset(c->t->agent, source) == 0 ? "New conversation started."
							    : "Could not reset (see the log).");
}

/* A /stop while a turn runs never gets here (on_message stops the turn). */
static void stop_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	buf_puts(out, "Nothing is running.");
}

static void usage_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	usage_text(c->t, c, out);
}

static void model_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	model_text(c->t, c, arg, out);
}

static void status_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	status_text(c->t, c, out);
}

static void resume_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	resume_text(c->t, c->id, out);
}

/* ---- /jobs: the chat's reminders with Pause / Resume / Delete buttons ----------------- */

#define JOBS_BUTTONS_MAX 20 /* rows of buttons (reminders.max_per_chat is 20 by default) */

/* The list (Markdown) of source's jobs and the config's cron jobs, and its keyboard (NULL
 * when no job of the chat can be changed). */
void tg_jobs_text(struct telegram *t, const char *source, struct buf *out, char **markup)
{
	struct reminders_job *jobs = NULL;
	size_t n = 0;
	struct buf b;

	*markup = NULL;
	if (!t->reminders) {
		buf_puts(out, "Reminders are off here (reminders.enabled: false).");
		return;
	}
	if (reminders_list_text(t->reminders, source, true, out) < 0 ||
	    reminders_list(t->reminders, source, &jobs, &n) < 0 || n == 0) {
		free(jobs);
		return;
	}
	buf_init(&b, 0);
	buf_puts(&b, "{\"inline_keyboard\":[");
	for (size_t i = 0; i < n && i < JOBS_BUTTONS_MAX; i++) {
		bool paused = strcmp(jobs[i].status, "paused") == 0;
		char *title = utf8_clip_dup(jobs[i].title, 40, true), *label;

		label = xasprintf("%s %lld. %s", paused ? "▶ Resume" : "⏸ Pause",
				  (long long)jobs[i].id, title);
		buf_printf(&b, "%s[{\"text\":", i ? "," : "");
		buf_json_str(&b, label, strlen(label));
		free(label);
		free(title);
		buf_printf(&b,
			   ",\"callback_data\":\"j:%c:%lld\"},{\"text\":\"🗑 Delete\","
			   "\"callback_data\":\"j:d:%lld\",\"style\":\"danger\"}]",
			   paused ? 'r' : 'p', (long long)jobs[i].id, (long long)jobs[i].id);
	}
	buf_puts(&b, "]}");
	*markup = buf_steal(&b);
	free(jobs);
}

static void jobs_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	char source[64];

	tg_source_of(c->id, c->thread, source, sizeof(source));
	free(c->markup);
	tg_jobs_text(c->t, source, out, &c->markup);
}

/* /bg and /tasks act at intake (tg_tasks.c); they reach the queue only when tasks are off. */
static void tasks_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	buf_puts(out, "Background tasks are not available here.");
}

/* Allowed users only: only their messages reach a chat's inbox. */
static void decide_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	tools_proposal_decide(c->t->cfg, arg, name[0] == 'a', out);
}

/* IF_LANES: listed in /help only when the config has lanes. */
enum { IN_HELP = 1 << 0, IN_MENU = 1 << 1, IF_LANES = 1 << 2 };

/* The one list of chat commands: it generates /help, the setMyCommands menu and the dispatch.
 * description starts lower case (/help prints it so; the menu capitalizes it). An entry in
 * /help without a description shares the next entry's line ("/approve ID, /reject ID - ...");
 * an entry in neither list is an alias. */
static const struct tg_command {
	const char *name;
	const char *args; /* shown after the name in /help, or NULL */
	const char *description;
	unsigned where;
	void (*handler)(struct chat *c, const char *name, const char *arg, struct buf *out);
} commands[] = {
	{"new", NULL, "start a new conversation", IN_HELP | IN_MENU, new_cmd},
	{"stop", NULL, "stop what I am doing", IN_HELP | IN_MENU, stop_cmd},
	{"usage", NULL, "tokens and cost today and this month", IN_HELP | IN_MENU, usage_cmd},
	{"model", NULL, "show or switch the model", IN_HELP | IN_MENU, model_cmd},
	{"status", NULL, "uptime, model, tool servers, breaker", IN_HELP | IN_MENU, status_cmd},
	{"context", NULL, "what the next request holds, and the prompt cache", IN_HELP | IN_MENU,
	 context_cmd},
	{"resume", NULL, "close the bleed breaker so model calls flow again", IN_HELP | IN_MENU,
	 resume_cmd},
	{"lane", "NAME", "show the conversation's lane, or raise it", IN_HELP | IF_LANES, lane_cmd},
	{"jobs", NULL, "reminders and scheduled jobs, to pause or delete", IN_HELP | IN_MENU,
	 jobs_cmd},
	{"bg", NULL, "run what follows as a background task; the chat stays free",
	 IN_HELP | IN_MENU, tasks_cmd},
	{"tasks", NULL, "background tasks, to stop or steer", IN_HELP | IN_MENU, tasks_cmd},
	{"help", NULL, "what I can do", IN_MENU, help_cmd},
	{"approve", "ID", NULL, IN_HELP, decide_cmd},
	{"reject", "ID", "decide a held memory change", IN_HELP, decide_cmd},
	{"start", NULL, NULL, 0, help_cmd},
	{"reset", NULL, NULL, 0, new_cmd},
};

static void help_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	bool joined = false;

	buf_puts(out, "I am your hermetic assistant. Write to me in plain words.");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct tg_command *k = &commands[i];

		if (!(k->where & IN_HELP) || ((k->where & IF_LANES) && !c->t->cfg->n_lanes))
			continue;
		buf_printf(out, "%s/%s", joined ? ", " : "\n", k->name);
		if (k->args)
			buf_printf(out, " %s", k->args);
		joined = !k->description;
		if (k->description)
			buf_printf(out, " - %s", k->description);
	}
}

/* The setMyCommands menu: [{"command":..., "description":...}, ...], malloc'd. */
char *tg_menu_json(void)
{
	struct buf b;
	bool first = true;

	buf_init(&b, 0);
	buf_puts(&b, "[");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct tg_command *k = &commands[i];

		if (!(k->where & IN_MENU))
			continue;
		buf_printf(&b, "%s{\"command\":\"%s\",\"description\":\"%c%s\"}", first ? "" : ",",
			   k->name, toupper((unsigned char)k->description[0]), k->description + 1);
		first = false;
	}
	buf_puts(&b, "]");
	return buf_steal(&b);
}

/* Handles /command; returns its reply, or NULL when it is not one of ours (the text goes to the
 * model). */
char *tg_command_run(struct chat *c, const char *text)
{
	char name[33] = "";
	const char *arg;
	size_t n = 0;
	struct buf out;

	if (text[0] != '/')
		return NULL;
	for (const char *p = text + 1; *p && *p != ' ' && *p != '@' && *p != '\n' && n < 32; p++)
		name[n++] = *p;
	name[n] = '\0';
	arg = strchr(text, ' ');
	arg = arg ? arg + 1 : NULL;
	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0) {
			commands[i].handler(c, name, arg, &out);
			break;
		}
	if (out.len == 0) {
		buf_finish(&out);
		return NULL;
	}
	return buf_steal(&out);
}
