/* cli_skill_test: `hermetic skill test NAME [--model GROUP] [--record|--replay]`.
 *
 * Each case of the skill's tests/NAME.yaml files (skills/skill_test.c) is one fresh agent
 * turn in a scratch home made for the run (a temporary directory holding only a copy of the
 * skill, removed afterwards): memory and skill writes land there and vanish, no MCP server is
 * started and no chat is attached, so send_file and every outbound tool have nowhere to go.
 * The answer, the tools called, the prompt tokens and the cost are graded by the pure
 * skill_test_grade; a case's judge is one more model call (its group: judge.model, else
 * --model, else the config's model) that answers PASS or FAIL and a reason.
 *
 * --record keeps each case's answer, tool calls, tokens, cost and judge verdict in
 * tests/recorded.json, with every model answer of its turn (agent_turn_opts.replay) and every
 * tool result. --replay runs each case's turn again in a scratch home, its model calls served
 * from those answers (agent/agent_replay.c: no router, no cost) so the tools the answers call
 * really run again there: tool_called and the tools' results are this run's, and a tool
 * whose result now differs from the recording's is noted (the recorded answers may no longer
 * follow from it). Free and deterministic, so CI checks the cases; a judge's verdict is
 * reused while its rubric is unchanged. A recording made without the model answers is graded
 * as recorded, with a note. The summary is noted in the skill's history with its content
 * hash (skills/skill_hist.h). Rejected: sealing the run with Landlock (the recording and the
 * history are written after the turns, outside the scratch home).
 */
#include "cli/cli_skill.h"
#include "cli/cli_skill_int.h"
#include "agent/agent.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/safeio.h"
#include "core/store.h"
#include "core/util.h"
#include "router/router.h"
#include "router/spend.h"
#include "skills/skill_hist.h"
#include "skills/skill_pack.h"
#include "skills/skill_quarantine.h"
#include "skills/skill_set.h"
#include "skills/skill_test.h"
#include "tools/tools.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECORDED  "tests/recorded.json"
#define MAX_TOOLS 64
#define JUDGE_SYS                                                                                  \
	"You grade an assistant's answer against a rubric. Reply with PASS or FAIL as the first "  \
	"word, then one sentence saying why."

struct one {
	char *answer;
	char *tools[MAX_TOOLS];
	size_t n_tools;
	double cost_usd;
	int64_t input_tokens;
	int judged; /* skill_test_run's */
	char *reason;
	bool failed; /* the turn itself failed */
	/* --record: the model's answers and the tools' results, in order; --replay: the same
	 * read back (borrowed from the recording), what was served and what the tools say now. */
	cJSON *calls, *results;
	const cJSON *rec_calls, *rec_results;
	int served;
	struct buf notes; /* replay: where the run left the recording's path */
};

struct runner {
	struct config cfg; /* the caller's, with the scratch home */
	struct loop *loop;
	struct store *store;
	struct spend *spend;
	struct metrics *metrics;
	struct router *router;
	struct tools *tools;
	struct agent *agent;
	struct one *cur;
};

static void one_finish(struct one *o)
{
	free(o->answer);
	free(o->reason);
	for (size_t i = 0; i < o->n_tools; i++)
		free(o->tools[i]);
	cJSON_Delete(o->calls);
	cJSON_Delete(o->results);
	buf_finish(&o->notes);
	memset(o, 0, sizeof(*o));
}

/* ---- live turns ------------------------------------------------------------------------ */

static void on_tool_call(const char *name, const char *args, void *arg)
{
	struct runner *r = arg;

	(void)args;
	if (r->cur->n_tools < MAX_TOOLS)
		r->cur->tools[r->cur->n_tools++] = xstrdup(name);
}

static void on_done(const struct agent_result *res, void *arg)
{
	struct runner *r = arg;

	r->cur->answer = xstrdup(res->text ? res->text : "");
	r->cur->cost_usd = res->cost_usd;
	r->cur->input_tokens = res->prompt_tokens;
	r->cur->failed = res->stop == AGENT_FAILED || res->stop == AGENT_CANCELLED;
	loop_stop(r->loop);
}

/* A tool's result, as recorded and compared: capped, so a recording stays small. */
#define RESULT_KEEP 4000

static void on_tool_result(const char *name, bool is_error, const char *text, size_t len, void *arg)
{
	struct runner *r = arg;
	cJSON *o = cJSON_CreateObject();
	char *kept = utf8_clip_dup(text, RESULT_KEEP, false);

	(void)len;
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddBoolToObject(o, "error", is_error);
	cJSON_AddStringToObject(o, "text", kept);
	if (!r->cur->results)
		r->cur->results = cJSON_CreateArray();
	cJSON_AddItemToArray(r->cur->results, o);
	free(kept);
}

static const struct agent_cbs turn_cbs = {
	.on_tool_call = on_tool_call, .on_tool_result = on_tool_result, .on_done = on_done};

/* --record: each model answer of the case's turn. */
static void on_answered(void *arg, const struct agent_answer *a)
{
	struct runner *r = arg;
	cJSON *o = cJSON_CreateObject();
	char *body = xstrndup(a->body, a->len);

	cJSON_AddStringToObject(o, "purpose", a->purpose);
	cJSON_AddStringToObject(o, "body", body);
	cJSON_AddNumberToObject(o, "cost_usd", a->cost_usd);
	cJSON_AddNumberToObject(o, "prompt_tokens", (double)a->prompt_tokens);
	cJSON_AddNumberToObject(o, "completion_tokens", (double)a->completion_tokens);
	if (!r->cur->calls)
		r->cur->calls = cJSON_CreateArray();
	cJSON_AddItemToArray(r->cur->calls, o);
	free(body);
}

/* --replay: the recording's next answer, when it answers a call of this purpose. */
static int on_next(void *arg, const char *purpose, struct agent_answer *out, char *why, size_t len)
{
	struct runner *r = arg;
	const cJSON *c = cJSON_GetArrayItem(r->cur->rec_calls, r->cur->served);
	const char *was = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "purpose"));
	const char *body = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "body"));
	double cost = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "cost_usd"));

	if (!c || !was || !body) {
		snprintf(why, len, "the recording has no answer for model call %d (%s)",
			 r->cur->served + 1, purpose);
		return -ENOENT;
	}
	if (strcmp(was, purpose) != 0) {
		snprintf(why, len, "model call %d is a %s call now but was a %s call when recorded",
			 r->cur->served + 1, purpose, was);
		return -ESTALE;
	}
	r->cur->served++;
	*out = (struct agent_answer){
		was,
		body,
		strlen(body),
		cost == cost ? cost : 0, /* NaN when absent */
		(int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "prompt_tokens")),
		(int64_t)cJSON_GetNumberValue(
			cJSON_GetObjectItemCaseSensitive(c, "completion_tokens")),
	};
	return 0;
}

static void on_judge(struct router_call *rc, const struct router_result *res, void *arg)
{
	struct runner *r = arg;
	cJSON *j = res->status == 200 ? json_parse(res->body, res->body_len, 0, NULL) : NULL;
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(
			cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0),
			"message"),
		"content"));

	(void)rc;
	r->cur->cost_usd += res->cost_usd;
	text = text ? text + strspn(text, " \t\r\n*\"") : NULL;
	if (text && strncasecmp(text, "PASS", 4) == 0)
		r->cur->judged = 1;
	else if (text && strncasecmp(text, "FAIL", 4) == 0)
		r->cur->judged = 0;
	r->cur->reason = xstrdup(text	     ? text
				 : res->body ? "the judge's answer had no text"
					     : "the judge did not answer");
	cJSON_Delete(j);
	loop_stop(r->loop);
}

static void judge(struct runner *r, const struct skill_test_case *c, const char *model,
		  const char *input)
{
	static const struct router_cbs cbs = {.on_done = on_judge};
	struct router_caller who = {.key_hash = "internal", .source = "skilltest"};
	cJSON *body = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(body, "messages");
	cJSON *m = cJSON_CreateObject();
	char *user = xasprintf("Rubric: %s\n\nThe user's message:\n%s\n\nThe answer:\n%s", c->judge,
			       input, r->cur->answer);
	char *text;

	cJSON_AddStringToObject(body, "model", model);
	cJSON_AddNumberToObject(body, "temperature", 0);
	cJSON_AddStringToObject(m, "role", "system");
	cJSON_AddStringToObject(m, "content", JUDGE_SYS);
	cJSON_AddItemToArray(msgs, m);
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", user);
	cJSON_AddItemToArray(msgs, m);
	text = cJSON_PrintUnformatted(body);
	r->cur->judged = -1;
	if (router_chat(r->router, text, strlen(text), &who, &cbs, r, NULL) == 0)
		loop_run(r->loop);
	else
		r->cur->reason = xstrdup("the judge's model could not be called");
	cJSON_free(text);
	free(user);
	cJSON_Delete(body);
}

static int runner_open(struct runner *r, const struct config *cfg, const char *scratch)
{
	char *db = xasprintf("%s/state.db", scratch);
	char err[256];
	int rc;

	r->cfg = *cfg;
	r->cfg.home = (char *)scratch;
	r->cfg.n_mcp_servers = 0;
	r->cfg.toolsets &= ~(unsigned)CONFIG_TOOLSET_MCP;
	r->cfg.skills.n_external_dirs = 0;
	rc = store_open(db, &r->store, err, sizeof(err));
	free(db);
	if (rc < 0) {
		fprintf(stderr, "skill test: %s\n", err);
		return rc;
	}
	r->loop = loop_create();
	if (!r->loop)
		return -ENOMEM;
	r->spend = spend_create(r->store, &r->cfg);
	r->metrics = metrics_create();
	r->router = router_create(&r->cfg, r->loop, r->spend, r->metrics);
	r->tools = tools_create(&(struct tools_env){&r->cfg, r->loop, r->store, NULL});
	r->agent =
		agent_create(&(struct agent_env){&r->cfg, r->loop, r->router, r->tools, r->store});
	return 0;
}

static void runner_close(struct runner *r)
{
	agent_destroy(r->agent);
	tools_destroy(r->tools);
	router_destroy(r->router);
	spend_destroy(r->spend);
	metrics_destroy(r->metrics);
	loop_destroy(r->loop);
	store_close(r->store);
}

/* The case's input with its files (from the skill's tests/) appended. */
static char *input_of(const char *skill_dir, const struct skill_test_case *c, struct buf *err)
{
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, c->input);
	for (size_t i = 0; i < c->files.n; i++) {
		char *path = xasprintf("%s/tests/%s", skill_dir, c->files.v[i]);
		struct buf f;
		size_t size = 0;
		int rc;

		buf_init(&f, 0);
		rc = skill_pack_path_ok(c->files.v[i])
			     ? fileio_read_head(path, SKILL_TEST_FILE_MAX + 1, &f, &size)
			     : -EINVAL;
		if (rc == 0 && size > SKILL_TEST_FILE_MAX)
			rc = -EFBIG;
		if (rc < 0)
			buf_printf(err, "  - file %s: %s\n", c->files.v[i],
				   rc == -EINVAL ? "not a plain path inside tests/"
						 : strerror(-rc));
		else
			buf_printf(&b, "\n\n--- %s ---\n%s", c->files.v[i], buf_str(&f));
		buf_finish(&f);
		free(path);
	}
	return buf_steal(&b);
}

/* One case's turn: live (recorded when record), or replayed from rec_calls (o's). */
static void run_live(struct runner *r, const char *name, const char *skill_dir,
		     const struct skill_test_case *c, const char *model, struct one *o, bool record,
		     struct buf *why)
{
	struct agent_replay replay = {o->rec_calls ? on_next : NULL, record ? on_answered : NULL,
				      r};
	struct agent_turn_opts opts = {.source = "skilltest", .model = model, .fresh = true};
	struct agent_turn *turn = NULL;
	char *input = input_of(skill_dir, c, why);
	char *extra = xasprintf("Use the skill %s (skill_view %s).", name, name);

	r->cur = o;
	opts.extra_system = extra;
	opts.replay = replay.next || replay.answered ? &replay : NULL;
	if (agent_turn(r->agent, &opts, input, &turn_cbs, r, &turn) == 0)
		loop_run(r->loop);
	else
		o->failed = true;
	if (!o->answer)
		o->answer = xstrdup("");
	if (c->judge && !o->failed && !o->rec_calls)
		judge(r, c, c->judge_model ? c->judge_model : model ? model : r->cfg.model, input);
	free(extra);
	free(input);
}

/* ---- recordings ------------------------------------------------------------------------ */

static cJSON *recorded_json(const struct one *o, const struct skill_test_case *c)
{
	cJSON *j = cJSON_CreateObject(), *tools = cJSON_AddArrayToObject(j, "tools");

	cJSON_AddStringToObject(j, "answer", o->answer);
	for (size_t i = 0; i < o->n_tools; i++)
		cJSON_AddItemToArray(tools, cJSON_CreateString(o->tools[i]));
	cJSON_AddNumberToObject(j, "cost_usd", o->cost_usd);
	cJSON_AddNumberToObject(j, "input_tokens", (double)o->input_tokens);
	cJSON_AddItemToObject(j, "calls",
			      o->calls ? cJSON_Duplicate(o->calls, true) : cJSON_CreateArray());
	cJSON_AddItemToObject(j, "tool_results",
			      o->results ? cJSON_Duplicate(o->results, true) : cJSON_CreateArray());
	if (c->judge && o->judged >= 0) {
		cJSON_AddStringToObject(j, "judge_rubric", c->judge);
		cJSON_AddStringToObject(j, "judge_grade", o->judged ? "pass" : "fail");
		cJSON_AddStringToObject(j, "judge_reason", o->reason ? o->reason : "");
	}
	return j;
}

static void recorded_judge(const cJSON *j, const struct skill_test_case *c, struct one *o);

/* A recording made before the tools were replayed (no model answers kept): graded as it was
 * recorded. */
static void from_recorded(const cJSON *j, const struct skill_test_case *c, struct one *o)
{
	const cJSON *t;
	const char *answer = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "answer"));

	o->answer = xstrdup(answer ? answer : "");
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(j, "tools"))
	{
		if (cJSON_IsString(t) && o->n_tools < MAX_TOOLS)
			o->tools[o->n_tools++] = xstrdup(t->valuestring);
	}
	o->cost_usd = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "cost_usd"));
	o->input_tokens =
		(int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "input_tokens"));
	o->cost_usd = o->cost_usd == o->cost_usd ? o->cost_usd : 0; /* NaN when absent */
	recorded_judge(j, c, o);
}

/* The recorded judge's verdict, while the rubric is the one it graded. */
static void recorded_judge(const cJSON *j, const struct skill_test_case *c, struct one *o)
{
	const char *rubric =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "judge_rubric"));
	const char *grade =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "judge_grade"));
	const char *reason =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "judge_reason"));

	o->judged = -1;
	if (c->judge && rubric && grade && strcmp(rubric, c->judge) == 0) {
		o->judged = strcmp(grade, "pass") == 0;
		o->reason = xstrdup(reason ? reason : "");
	} else if (c->judge) {
		o->reason = xstrdup("the rubric changed since the recording: record again");
	}
}

static cJSON *load_recorded(const char *skill_dir)
{
	char *path = xasprintf("%s/" RECORDED, skill_dir);
	struct buf b;
	size_t size = 0;
	cJSON *j = NULL;

	buf_init(&b, 0);
	if (fileio_read_head(path, 16 * 1024 * 1024, &b, &size) == 0)
		j = json_parse(b.data, b.len, 0, NULL);
	buf_finish(&b);
	free(path);
	return j;
}

/* ---- the command ----------------------------------------------------------------------- */

struct all_cases {
	struct skill_tests *files;
	char **names;
	size_t n;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every tests/NAME.yaml of skill_dir, in name order; 0 files is an error. */
static int load_cases(const char *skill_dir, struct all_cases *all)
{
	char *dir = xasprintf("%s/tests", skill_dir);
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	memset(all, 0, sizeof(*all));
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' &&
		    (strlen(e->d_name) > 5 &&
		     strcmp(e->d_name + strlen(e->d_name) - 5, ".yaml") == 0)) {
			all->names = xrealloc(all->names, (all->n + 1) * sizeof(*all->names));
			all->names[all->n++] = xstrdup(e->d_name);
		}
	if (d)
		closedir(d);
	qsort(all->names, all->n, sizeof(*all->names), by_name);
	all->files = xcalloc(all->n + 1, sizeof(*all->files));
	for (size_t i = 0; rc == 0 && i < all->n; i++) {
		char *path = xasprintf("%s/%s", dir, all->names[i]);
		char *label = xasprintf("tests/%s", all->names[i]);
		struct buf text, err;
		size_t size = 0;

		buf_init(&text, 0);
		buf_init(&err, 0);
		rc = fileio_read_head(path, SKILL_TEST_FILE_MAX + 1, &text, &size);
		if (rc < 0)
			fprintf(stderr, "cannot read %s: %s\n", path, strerror(-rc));
		else if ((rc = skill_tests_parse(text.data, size, label, &all->files[i], &err)) < 0)
			fprintf(stderr, "%s/%s\n", skill_dir, buf_str(&err));
		buf_finish(&err);
		buf_finish(&text);
		free(label);
		free(path);
	}
	if (rc == 0 && !all->n) {
		fprintf(stderr,
			"%s has no test cases (tests/NAME.yaml: docs/agent.md, \"Skill "
			"tests\")\n",
			skill_dir);
		rc = -ENOENT;
	}
	free(dir);
	return rc;
}

static void cases_finish(struct all_cases *all)
{
	for (size_t i = 0; i < all->n; i++) {
		skill_tests_finish(&all->files[i]);
		free(all->names[i]);
	}
	free(all->files);
	free(all->names);
}

/* Copies the skill into scratch/skills/<name> (the only skill the turns see). */
static int scratch_home(const char *skill_dir, const char *name, char *scratch, size_t size)
{
	struct skill_pack p = {0};
	struct buf err;
	int home_fd, rc;

	snprintf(scratch, size, "%s/hermetic-skill-test-XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(scratch))
		return -errno;
	buf_init(&err, 0);
	rc = skill_read_folder(skill_dir, &p, &err);
	home_fd = rc == 0 ? safeio_open_home(scratch) : -1;
	for (size_t i = 0; rc == 0 && i < p.n; i++) {
		char *path = xasprintf("skills/%s/%s", name, p.v[i].path),
		     *slash = strrchr(path, '/');

		*slash = '\0';
		rc = safeio_mkdirs_at(home_fd, path, 0700);
		*slash = '/';
		if (rc == 0)
			rc = safeio_write_atomic_at(home_fd, path, p.v[i].data, p.v[i].len, 0600);
		free(path);
	}
	if (rc < 0)
		fprintf(stderr, "skill test: cannot copy %s: %s\n", skill_dir,
			err.len ? buf_str(&err) : safeio_strerror(rc));
	if (home_fd >= 0)
		close(home_fd);
	buf_finish(&err);
	skill_pack_finish(&p);
	return rc;
}

static bool same_result(const cJSON *a, const cJSON *b)
{
	static const char *const keys[] = {"name", "text"};

	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		const char *x = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, keys[i]));
		const char *y = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, keys[i]));

		if (!x || !y || strcmp(x, y) != 0)
			return false;
	}
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "error")) ==
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "error"));
}

/* --replay: where the tools' results now differ from the recording's, in notes. */
static void compare_results(struct one *o)
{
	int now = cJSON_GetArraySize(o->results), was = cJSON_GetArraySize(o->rec_results);
	int calls = cJSON_GetArraySize(o->rec_calls);

	for (int i = 0; i < now && i < was; i++) {
		const cJSON *a = cJSON_GetArrayItem(o->results, i);

		if (!same_result(a, cJSON_GetArrayItem(o->rec_results, i)))
			buf_printf(
				&o->notes,
				"  note: %s (tool call %d) answered differently than when "
				"recorded; the recorded answers may no longer follow from it "
				"(record again)\n",
				cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "name")),
				i + 1);
	}
	if (now != was)
		buf_printf(&o->notes, "  note: %d tool calls ran, %d when recorded\n", now, was);
	if (o->served != calls)
		buf_printf(&o->notes, "  note: %d of the %d recorded model answers were used\n",
			   o->served, calls);
}

/* --replay of one case: its recorded model answers served to a real turn whose tools run
 * again in the scratch home, or (a recording without them) its recorded outcome graded. */
static void replay_case(struct runner *r, const char *name, const char *skill_dir,
			const struct skill_test_case *c, const char *model, const cJSON *rec,
			struct one *o, struct buf *why)
{
	const cJSON *calls = cJSON_GetObjectItemCaseSensitive(rec, "calls");
	const cJSON *cost = cJSON_GetObjectItemCaseSensitive(rec, "cost_usd");

	if (!cJSON_IsArray(calls) || !r->agent) {
		from_recorded(rec, c, o);
		buf_puts(&o->notes, "  note: recorded without its model answers: graded as "
				    "recorded, its tools not run again (record again)\n");
		return;
	}
	o->rec_calls = calls;
	o->rec_results = cJSON_GetObjectItemCaseSensitive(rec, "tool_results");
	run_live(r, name, skill_dir, c, model, o, false, why);
	/* The served answers carry their recorded costs; the recorded judge's is added. */
	if (cJSON_IsNumber(cost) && !o->failed)
		o->cost_usd = cost->valuedouble;
	recorded_judge(rec, c, o);
	compare_results(o);
}

/* Runs or replays every case; prints one line per case and the failures. */
static void run_cases(struct runner *r, const char *name, const char *skill_dir,
		      const struct all_cases *all, const struct cli_skill_opts *o,
		      const cJSON *recorded, cJSON *record, size_t *passed, size_t *total,
		      int64_t *tokens, double *cost)
{
	for (size_t f = 0; f < all->n; f++)
		for (size_t i = 0; i < all->files[f].n; i++) {
			const struct skill_test_case *c = &all->files[f].v[i];
			struct one one = {0};
			struct buf why;
			const cJSON *rec = cJSON_GetObjectItemCaseSensitive(recorded, c->name);
			bool ok;

			buf_init(&why, 0);
			if (o->replay && !rec)
				buf_puts(&why, "  - not recorded: run skill test --record first\n");
			else if (o->replay)
				replay_case(r, name, skill_dir, c, o->model, rec, &one, &why);
			else
				run_live(r, name, skill_dir, c, o->model, &one, o->record, &why);
			if (one.failed)
				buf_printf(&why, "  - the turn failed: %s\n", one.answer);
			{
				struct skill_test_run run = {
					one.answer,	  (const char *const *)one.tools,
					one.n_tools,	  one.cost_usd,
					one.input_tokens, one.judged};

				ok = why.len == 0 && skill_test_grade(c, &run, &why);
			}
			printf("%s %-28s %6lld tokens  $%.6f  (tests/%s:%zu)\n",
			       ok ? "PASS" : "FAIL", c->name, (long long)one.input_tokens,
			       one.cost_usd, all->names[f], c->line);
			if (one.reason)
				printf("  judge: %s\n", one.reason);
			fputs(buf_str(&why), stdout);
			fputs(buf_str(&one.notes), stdout);
			*passed += ok;
			(*total)++;
			*tokens += one.input_tokens;
			*cost += one.cost_usd;
			if (record && one.answer && !one.failed)
				cJSON_AddItemToObject(record, c->name, recorded_json(&one, c));
			one_finish(&one);
			buf_finish(&why);
		}
}

static int save_recorded(const char *skill_dir, cJSON *record)
{
	char *path = xasprintf("%s/" RECORDED, skill_dir);
	char *text = cJSON_Print(record);
	int rc = fileio_write_atomic(path, text, strlen(text), 0600);

	if (rc < 0)
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(-rc));
	else
		printf("recorded in %s\n", path);
	cJSON_free(text);
	free(path);
	return rc;
}

int cli_skill_test(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n)
{
	struct runner r = {0};
	struct all_cases all = {0};
	struct skill_set set;
	const struct skill *sk;
	char scratch[256] = "", hash[65], summary[SKILL_HIST_SUMMARY_MAX + 1];
	cJSON *recorded = NULL, *record = NULL;
	size_t passed = 0, total = 0;
	int64_t tokens = 0;
	double cost = 0;
	int rc = 0, home_fd;

	if (n != 1)
		return 2;
	skill_set_scan(cfg, &set);
	sk = skill_set_find(&set, w[0], NULL);
	if (!sk || !skill_usable(sk)) {
		fprintf(stderr, "no usable skill named %s (hermetic skill list)\n", w[0]);
		skill_set_finish(&set);
		return 1;
	}
	rc = load_cases(sk->path, &all);
	if (rc == 0 && o->replay && !(recorded = load_recorded(sk->path))) {
		fprintf(stderr,
			"%s/" RECORDED " is missing or unreadable: run skill test --record\n",
			sk->path);
		rc = -ENOENT;
	}
	if (rc == 0) { /* a replay runs its tools there too */
		rc = scratch_home(sk->path, sk->name, scratch, sizeof(scratch));
		if (rc == 0)
			rc = runner_open(&r, cfg, scratch);
	}
	if (rc == 0) {
		record = o->record ? cJSON_CreateObject() : NULL;
		run_cases(&r, sk->name, sk->path, &all, o, recorded, record, &passed, &total,
			  &tokens, &cost);
		if (record)
			rc = save_recorded(sk->path, record);
	}
	if (r.loop)
		runner_close(&r);
	if (scratch[0])
		fileio_remove_tree(scratch);
	if (total) {
		struct skill_pack p = {0};
		struct buf err;

		buf_init(&err, 0);
		snprintf(summary, sizeof(summary),
			 "%zu/%zu passed, %lld input tokens, $%.6f (%s, model %.40s)", passed,
			 total, (long long)tokens, cost,
			 o->replay   ? "replay"
			 : o->record ? "recorded"
				     : "live",
			 o->replay  ? "as recorded"
			 : o->model ? o->model
				    : cfg->model);
		printf("%s: %s\n", sk->name, summary);
		if (skill_read_folder(sk->path, &p, &err) == 0) {
			p.name = xstrdup(sk->name);
			skill_pack_content_hash(&p, hash);
			home_fd = safeio_open_home(cfg->home);
			if (home_fd >= 0) {
				skill_hist_note_test(home_fd, sk->name, hash, summary);
				close(home_fd);
			}
		}
		skill_pack_finish(&p);
		buf_finish(&err);
	}
	cJSON_Delete(record);
	cJSON_Delete(recorded);
	cases_finish(&all);
	skill_set_finish(&set);
	return rc < 0 || passed != total;
}
