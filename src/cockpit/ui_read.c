/* ui_read: the cockpit's read-only views, each read off the loop: sessions (list, search, one
 * session's view and its JSON or Markdown export), spend, memory, skills, jobs, the log and
 * the audit trail. What the loop holds in memory is ui_status.c's; writes are ui_edit.c's
 * and ui_actions.c's.
 *
 * Each read opens its own read-only connection to state.db on an offload thread
 * (store_open_reader), runs the same query the CLI runs (sessions_list, sessions_messages,
 * sessions_search, spend_report_each), prints the answer there and closes; the loop only
 * sends it. The loop's own connection is never used from the thread, and a slow disk or a
 * large ledger never holds the loop.
 */
#include "cockpit/ui_int.h"
#include "core/json.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/sessions.h"
#include "core/store.h"
#include "core/util.h"
#include "gateway/cron.h"
#include "gateway/reminders.h"
#include "net/httpd.h"
#include "router/spend.h"
#include "core/safeio.h"
#include "skills/skill_hist.h"
#include "skills/skill_set.h"
#include "tools/tools.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIST_DEFAULT	 50
#define LIST_MAX	 200
#define SEARCH_SESSIONS	 10 /* as `hermetic sessions search` */
#define SEARCH_MAX_BYTES 256
#define VIEW_MAX_MSGS	 2000
#define VIEW_TEXT_MAX	 (16 * 1024)  /* bytes of one message's content (or arguments) shown */
#define EXPORT_TEXT_MAX	 (256 * 1024) /* ... and exported */
/* Bytes of text one session view or export holds in all: the answer lives three times on
 * the thread (the cJSON tree, the printed JSON, the Markdown), MAX_JOBS at once, in a
 * process meant to fit in a few MiB. */
#define VIEW_MAX_BYTES	(1024 * 1024)
#define MSG_OVERHEAD	64 /* bytes counted per message and tool call for keys and numbers */
#define SPEND_DAYS	30
#define SKILL_SHOWN_MAX SKILL_MAX_BYTES /* a SKILL.md shown */
#define LOG_TAIL_BYTES	(256 * 1024)	/* of hermetic.log searched for the last warnings */
#define LOG_LINES	20
#define AUDIT_LINES	20

/* ---- reads off the loop ------------------------------------------------------------------ */

enum read_kind {
	READ_LIST,
	READ_SEARCH,
	READ_VIEW,
	READ_SPEND,
	READ_MEMORY,
	READ_SKILL,
	READ_JOBS,
	READ_LOG,
	READ_AUDIT
};
enum read_format { AS_VIEW, AS_JSON_FILE, AS_MARKDOWN_FILE }; /* READ_VIEW's answer */

struct read_job {
	struct httpd_req *req;
	enum read_kind kind;
	char *db_path;
	const struct config *cfg;      /* immutable: read by the memory and skill reads */
	char text[SEARCH_MAX_BYTES];   /* READ_SEARCH: the query */
	int64_t n;		       /* list: limit; view: session id; spend: days */
	int64_t now_ms;		       /* wall clock, for spend's local days */
	double daily_usd, monthly_usd; /* spend: budget.daily_usd and monthly_usd (0: none) */
	enum read_format format;
	bool *running; /* READ_JOBS: per config cron job, a run in flight (seen on the loop) */
	int status;
	char *answer; /* JSON, or Markdown for AS_MARKDOWN_FILE */
};

static cJSON *session_json(const struct session_info *si)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)si->id);
	cJSON_AddStringToObject(o, "source", si->source);
	if (si->title)
		cJSON_AddStringToObject(o, "title", si->title);
	else
		cJSON_AddNullToObject(o, "title");
	if (si->model)
		cJSON_AddStringToObject(o, "model", si->model);
	else
		cJSON_AddNullToObject(o, "model");
	cJSON_AddNumberToObject(o, "created_ms", (double)si->created_ms);
	cJSON_AddNumberToObject(o, "updated_ms", (double)si->updated_ms);
	cJSON_AddBoolToObject(o, "ended", si->ended);
	cJSON_AddNumberToObject(o, "turns", (double)si->turns);
	cJSON_AddNumberToObject(o, "prompt_tokens", (double)si->prompt_tokens);
	cJSON_AddNumberToObject(o, "completion_tokens", (double)si->completion_tokens);
	cJSON_AddNumberToObject(o, "cost_usd", si->cost_usd);
	cJSON_AddNumberToObject(o, "messages", (double)si->n_messages);
	return o;
}

/* Where a session of source is continued: the cockpit continues only its own (a turn of
 * another source would answer into the cockpit, not where that source's messages go). */
const char *ui_source_place(const char *source)
{
	static const struct {
		const char *prefix, *place;
	} places[] = {
		{"telegram:", "a Telegram chat"},
		{"api:", "an API client"},
		{"cron:", "a cron job"},
		{"hook:", "a webhook"},
		{"alert:", "an alert's investigation"},
		{"reminder:", "a reminder"},
		{"cli", "the command line (hermetic chat)"},
	};

	for (size_t i = 0; i < ARRAY_LEN(places); i++)
		if (strncmp(source, places[i].prefix, strlen(places[i].prefix)) == 0)
			return places[i].place;
	return "its own source";
}

static void add_session(const struct session_info *si, void *arg)
{
	cJSON_AddItemToArray(arg, session_json(si));
}

struct msg_acc {
	cJSON *arr;
	size_t text_max; /* bytes of one content or arguments string */
	size_t n, bytes; /* messages and text bytes added so far */
	bool truncated;	 /* a message was left out: the count or the byte budget */
};

/* s cut at max bytes (utf8_clip: valid UTF-8, which cJSON does not check), added to o as
 * name; the bytes of s kept. */
static size_t add_cut(cJSON *o, const char *name, const char *s, size_t max, bool *cut)
{
	size_t n = strlen(s), keep;
	struct buf text;

	buf_init(&text, 0);
	keep = utf8_clip(&text, s, n, max, false);
	cJSON_AddStringToObject(o, name, buf_str(&text));
	buf_finish(&text);
	*cut = keep < n;
	return keep;
}

/* What one message will cost of the budget, as add_message cuts it. */
static size_t message_bytes(const cJSON *j, const char *role, size_t text_max)
{
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(j, "content"), *c;
	size_t n = MSG_OVERHEAD + strlen(role);

	if (cJSON_IsString(content))
		n += utf8_cut(content->valuestring, strnlen(content->valuestring, text_max));
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(j, "tool_calls"))
	{
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
		const cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");

		n += MSG_OVERHEAD;
		if (cJSON_IsString(name))
			n += strnlen(name->valuestring, text_max);
		if (cJSON_IsString(args))
			n += utf8_cut(args->valuestring, strnlen(args->valuestring, text_max));
	}
	return n;
}

/* One stored message as the page shows it: role, text (cut), tool calls and results; none
 * past VIEW_MAX_MSGS or VIEW_MAX_BYTES (then acc->truncated). */
static void add_message(int64_t msg_id, const char *role, const char *json, void *arg)
{
	struct msg_acc *acc = arg;
	cJSON *m, *j, *calls, *c, *out;
	const cJSON *content;
	size_t bytes;
	bool cut;

	if (acc->truncated)
		return;
	if (acc->n >= VIEW_MAX_MSGS) {
		acc->truncated = true;
		return;
	}
	j = json_parse_str(json, NULL);
	bytes = message_bytes(j, role, acc->text_max);
	if (acc->bytes + bytes > VIEW_MAX_BYTES) {
		acc->truncated = true;
		cJSON_Delete(j);
		return;
	}
	acc->n++;
	acc->bytes += bytes;
	m = cJSON_CreateObject();
	cJSON_AddNumberToObject(m, "id", (double)msg_id);
	cJSON_AddStringToObject(m, "role", role);
	content = cJSON_GetObjectItemCaseSensitive(j, "content");
	if (cJSON_IsString(content)) {
		add_cut(m, "content", content->valuestring, acc->text_max, &cut);
		cJSON_AddBoolToObject(m, "cut", cut);
	} else {
		cJSON_AddStringToObject(m, "content", "");
	}
	calls = cJSON_GetObjectItemCaseSensitive(j, "tool_calls");
	out = cJSON_AddArrayToObject(m, "tool_calls");
	cJSON_ArrayForEach(c, calls)
	{
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
		const cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");
		cJSON *t = cJSON_CreateObject();

		add_cut(t, "name", cJSON_IsString(name) ? name->valuestring : "?", acc->text_max,
			&cut);
		add_cut(t, "arguments", cJSON_IsString(args) ? args->valuestring : "",
			acc->text_max, &cut);
		cJSON_AddBoolToObject(t, "cut", cut);
		cJSON_AddItemToArray(out, t);
	}
	cJSON_AddItemToArray(acc->arr, m);
	cJSON_Delete(j);
}

struct spend_acc {
	cJSON *rows;
	struct spend_row total;
};

static void add_spend_row(const struct spend_row *r, void *arg)
{
	struct spend_acc *acc = arg;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "day", r->day);
	cJSON_AddStringToObject(o, "model_group", r->model_group);
	if (*r->lane)
		cJSON_AddStringToObject(o, "lane", r->lane);
	cJSON_AddNumberToObject(o, "calls", (double)r->calls);
	cJSON_AddNumberToObject(o, "input_tokens", (double)r->input_tokens);
	cJSON_AddNumberToObject(o, "cached_tokens", (double)r->cached_tokens);
	cJSON_AddNumberToObject(o, "output_tokens", (double)r->output_tokens);
	cJSON_AddNumberToObject(o, "cost_usd", r->cost_usd);
	cJSON_AddNumberToObject(o, "estimated", (double)r->estimated);
	cJSON_AddItemToArray(acc->rows, o);
	acc->total.calls += r->calls;
	acc->total.input_tokens += r->input_tokens;
	acc->total.cached_tokens += r->cached_tokens;
	acc->total.output_tokens += r->output_tokens;
	acc->total.estimated += r->estimated;
	acc->total.cost_usd += r->cost_usd;
}

static void add_usage(cJSON *root, const char *name, const struct spend_usage *su, double cap)
{
	cJSON *o = cJSON_AddObjectToObject(root, name);

	cJSON_AddNumberToObject(o, "calls", (double)su->calls);
	cJSON_AddNumberToObject(o, "input_tokens", (double)su->input_tokens);
	cJSON_AddNumberToObject(o, "cached_tokens", (double)su->cached_tokens);
	cJSON_AddNumberToObject(o, "output_tokens", (double)su->output_tokens);
	cJSON_AddNumberToObject(o, "cost_usd", su->cost_usd);
	/* The share of prompt tokens the providers served from their prompt caches. */
	cJSON_AddNumberToObject(
		o, "cache_hit_share",
		su->input_tokens ? (double)su->cached_tokens / (double)su->input_tokens : 0);
	if (cap > 0) {
		cJSON_AddNumberToObject(o, "budget_usd", cap);
		cJSON_AddNumberToObject(o, "budget_left_usd", cap - su->cost_usd);
	} else {
		cJSON_AddNullToObject(o, "budget_usd");
		cJSON_AddNullToObject(o, "budget_left_usd");
	}
}

static int read_spend(struct store *st, struct read_job *j, cJSON *root)
{
	struct spend_acc acc = {cJSON_AddArrayToObject(root, "rows"), {0}};
	struct spend_usage today = {0}, month = {0};
	cJSON *t;
	int rc;

	cJSON_AddNumberToObject(root, "days", (double)j->n);
	rc = spend_report_each(st, (int)j->n, j->now_ms, add_spend_row, &acc);
	t = cJSON_AddObjectToObject(root, "total");
	cJSON_AddNumberToObject(t, "calls", (double)acc.total.calls);
	cJSON_AddNumberToObject(t, "input_tokens", (double)acc.total.input_tokens);
	cJSON_AddNumberToObject(t, "cached_tokens", (double)acc.total.cached_tokens);
	cJSON_AddNumberToObject(t, "output_tokens", (double)acc.total.output_tokens);
	cJSON_AddNumberToObject(t, "cost_usd", acc.total.cost_usd);
	cJSON_AddNumberToObject(t, "estimated", (double)acc.total.estimated);
	if (rc == 0)
		rc = spend_usage(st, j->now_ms, &today, &month);
	add_usage(root, "today", &today, j->daily_usd);
	add_usage(root, "month", &month, j->monthly_usd);
	return rc;
}

/* The session's lane and why, from the mark agent/agent_lane.c keeps ("<lane> <why>"):
 * {"name", "why"}, or null for a session in no lane (docs/security.md, "Lanes"). */
static void add_lane(struct store *st, int64_t id, cJSON *root)
{
	char key[48], *v = NULL, *sp;
	cJSON *o;

	snprintf(key, sizeof(key), "session.%lld.lane", (long long)id);
	if (store_kv_get(st, key, &v) < 0 || !v) {
		cJSON_AddNullToObject(root, "lane");
		free(v);
		return;
	}
	sp = strchr(v, ' ');
	if (sp)
		*sp++ = '\0';
	o = cJSON_AddObjectToObject(root, "lane");
	cJSON_AddStringToObject(o, "name", v);
	cJSON_AddStringToObject(o, "why", sp ? sp : "");
	free(v);
}

/* Which group answered the session's last turn and which it asked for, from the mark
 * agent/agent_session.c keeps ("<answered> <asked>"): {"model", "asked"}, or null before an
 * answer. They differ after a fallback or a lane's reroute. */
static void add_answered(struct store *st, int64_t id, cJSON *root)
{
	char key[48], *v = NULL, *sp;
	cJSON *o;

	snprintf(key, sizeof(key), "session.%lld.answered", (long long)id);
	if (store_kv_get(st, key, &v) < 0 || !v) {
		cJSON_AddNullToObject(root, "answered_by");
		free(v);
		return;
	}
	sp = strchr(v, ' ');
	if (sp)
		*sp++ = '\0';
	o = cJSON_AddObjectToObject(root, "answered_by");
	cJSON_AddStringToObject(o, "model", v);
	cJSON_AddStringToObject(o, "asked", sp ? sp : v);
	free(v);
}

static int read_view(struct store *st, struct read_job *j, cJSON *root)
{
	struct session_info si;
	int rc = sessions_get(st, j->n, &si);

	if (rc < 0)
		return rc;
	struct msg_acc acc = {.text_max = j->format == AS_VIEW ? VIEW_TEXT_MAX : EXPORT_TEXT_MAX};

	cJSON_AddItemToObject(root, "session", session_json(&si));
	cJSON_AddBoolToObject(root, "continuable", strcmp(si.source, UI_CHAT_SOURCE) == 0);
	cJSON_AddStringToObject(root, "continued_in",
				strcmp(si.source, UI_CHAT_SOURCE) == 0
					? "the cockpit"
					: ui_source_place(si.source));
	add_lane(st, j->n, root);
	add_answered(st, j->n, root);
	session_info_finish(&si);
	acc.arr = cJSON_AddArrayToObject(root, "messages");
	/* One past the cap: the query stops there, and add_message learns it was cut. */
	rc = sessions_messages_max(st, j->n, VIEW_MAX_MSGS + 1, add_message, &acc);
	cJSON_AddBoolToObject(root, "truncated", acc.truncated);
	return rc;
}

static double num_item(const cJSON *o, const char *name)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* The session view as a Markdown document (the export); its time is in zone, the config's
 * (the process's TZ), and says so. */
static char *markdown(const cJSON *root, const char *zone)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "session"), *m, *t;
	const cJSON *lane = cJSON_GetObjectItemCaseSensitive(root, "lane");
	char date[32];
	struct buf b;

	buf_init(&b, 0);
	sessions_format_time((int64_t)num_item(s, "created_ms"), date);
	buf_printf(&b, "# %s\n\n", *ui_str_item(s, "title") ? ui_str_item(s, "title") : "Session");
	buf_printf(&b,
		   "- session: %.0f\n- source: %s\n- started: %s %s\n- model: %s\n- turns: %.0f\n"
		   "- tokens: %.0f prompt + %.0f completion\n- cost: $%.6f\n",
		   num_item(s, "id"), ui_str_item(s, "source"), date, zone, ui_str_item(s, "model"),
		   num_item(s, "turns"), num_item(s, "prompt_tokens"),
		   num_item(s, "completion_tokens"), num_item(s, "cost_usd"));
	if (cJSON_IsObject(lane))
		buf_printf(&b, "- lane: %s (%s)\n", ui_str_item(lane, "name"),
			   ui_str_item(lane, "why"));
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "messages"))
	{
		buf_printf(&b, "\n## %s\n\n", ui_str_item(m, "role"));
		if (*ui_str_item(m, "content"))
			buf_printf(&b, "%s%s\n", ui_str_item(m, "content"),
				   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "cut"))
					   ? " [cut]"
					   : "");
		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
		{
			bool cut = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "cut"));

			buf_printf(&b, "\ntool call `%s`:\n\n```json\n%s%s\n```\n",
				   ui_str_item(t, "name"), ui_str_item(t, "arguments"),
				   cut ? " [cut]" : "");
		}
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "truncated")))
		buf_puts(&b,
			 "\n---\n\n[truncated: the rest of the session is not in this export]\n");
	return buf_steal(&b);
}

static int read_search(struct store *st, struct read_job *j, cJSON *root)
{
	struct buf out;
	int n;

	buf_init(&out, 0);
	n = sessions_search(st, j->text, 0, SEARCH_SESSIONS, &out);
	cJSON_AddStringToObject(root, "query", j->text);
	cJSON_AddNumberToObject(root, "count", n < 0 ? 0 : n);
	cJSON_AddStringToObject(root, "text", buf_str(&out));
	buf_finish(&out);
	return n < 0 ? n : 0;
}

/* A file under home as text, never through a symlink (the memory tool refuses them too). */
static void add_file(cJSON *root, const char *name, const char *path)
{
	struct buf b;
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK), rc = -errno;

	buf_init(&b, 0);
	if (fd >= 0) {
		rc = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? 0 : -EINVAL;
		if (rc == 0)
			rc = fileio_read_fd(fd, SKILL_SHOWN_MAX, &b);
		close(fd);
	}
	if (rc == 0)
		cJSON_AddStringToObject(root, name, buf_str(&b));
	else if (rc == -ENOENT)
		cJSON_AddStringToObject(root, name, "");
	else
		cJSON_AddNullToObject(root, name); /* too large, not a file, unreadable */
	buf_finish(&b);
}

/* The last LOG_TAIL_BYTES of the file at path (closed again; a symlink or a non-regular file
 * reads as empty), NUL-terminated, or NULL when it cannot be opened. The first line may be
 * cut by the offset: the callers' line filters skip it. */
static char *read_tail(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	char *text;
	struct stat st;
	ssize_t got = 0;

	if (fd < 0)
		return NULL;
	text = xmalloc(LOG_TAIL_BYTES + 1);
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		off_t from = st.st_size > LOG_TAIL_BYTES ? st.st_size - LOG_TAIL_BYTES : 0;

		got = pread(fd, text, LOG_TAIL_BYTES, from);
	}
	close(fd);
	text[got > 0 ? got : 0] = '\0';
	return text;
}

/* The last LOG_LINES warnings and errors of home/logs/hermetic.log (already redacted when
 * written), found in its last LOG_TAIL_BYTES: the lines' second field is the level. */
static void read_log(struct read_job *j, cJSON *root)
{
	char *path = xasprintf("%s/logs/hermetic.log", j->cfg->home);
	char *text = read_tail(path);
	cJSON *arr = cJSON_AddArrayToObject(root, "lines");
	const char *lines[LOG_LINES];
	size_t n = 0, first = 0;

	free(path);
	cJSON_AddBoolToObject(root, "file", text != NULL);
	if (!text)
		return;
	/* A ring of the last matches; the first line may be cut by the offset: it never
	 * starts with a timestamp and a level, so it does not match. */
	for (char *line = text, *end; *line; line = end) {
		char *sp = strchr(line, ' ');

		end = strchr(line, '\n');
		end = end ? end + 1 : line + strlen(line);
		if (sp && sp < end &&
		    (strncmp(sp + 1, "warn ", 5) == 0 || strncmp(sp + 1, "error", 5) == 0)) {
			if (end[-1] == '\n')
				end[-1] = '\0';
			lines[(first + n) % LOG_LINES] = line;
			if (n < LOG_LINES)
				n++;
			else
				first = (first + 1) % LOG_LINES;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *l = lines[(first + i) % LOG_LINES];
		char *cut = utf8_clip_dup(l, 1000, true);

		cJSON_AddItemToArray(arr, cJSON_CreateString(cut));
		free(cut);
	}
	free(text);
}

/* MEMORY.md or USER.md read by the memory tool's reader: its text as name and its version
 * and numbers as name_file (both null when it cannot be read). */
static void add_memory_file(cJSON *root, const struct config *cfg, bool user, const char *name)
{
	struct tools_memory_info info;
	struct buf text, err;
	char *key = xasprintf("%s_file", name);
	cJSON *o;

	buf_init(&text, 0);
	buf_init(&err, 0);
	if (tools_memory_get(cfg, user, &text, &info, &err) == 0) {
		cJSON_AddStringToObject(root, name, buf_str(&text));
		o = cJSON_AddObjectToObject(root, key);
		cJSON_AddStringToObject(o, "version", info.version);
		cJSON_AddNumberToObject(o, "chars", (double)info.chars);
		cJSON_AddNumberToObject(o, "max_chars", (double)info.max_chars);
		cJSON_AddNumberToObject(o, "entries", (double)info.entries);
	} else {
		cJSON_AddNullToObject(root, name); /* a symlink, too large, unreadable */
		cJSON_AddNullToObject(root, key);
	}
	free(key);
	buf_finish(&err);
	buf_finish(&text);
}

/* MEMORY.md, USER.md and the skills' index, as the agent would see them now. */
static void read_memory(struct read_job *j, cJSON *root)
{
	struct skill_set set = {0};
	cJSON *arr;

	add_memory_file(root, j->cfg, false, "memory");
	add_memory_file(root, j->cfg, true, "user");
	skill_set_scan(j->cfg, &set);
	arr = cJSON_AddArrayToObject(root, "skills");
	for (size_t i = 0; i < set.n; i++) {
		const struct skill *sk = &set.v[i];
		cJSON *o;

		if (sk->shadowed)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", sk->name);
		if (sk->category)
			cJSON_AddStringToObject(o, "category", sk->category);
		cJSON_AddStringToObject(o, "description", sk->description ? sk->description : "");
		if (sk->error)
			cJSON_AddStringToObject(o, "error", sk->error);
		cJSON_AddBoolToObject(o, "external", sk->root != NULL);
		cJSON_AddItemToArray(arr, o);
	}
	skill_set_finish(&set);
}

#define UI_VERSIONS 20	       /* newest versions shown on a skill's page */
#define UI_DIFFS    5	       /* of those, with their diff */
#define UI_DIFF_MAX (8 * 1024) /* bytes of one diff */

/* A home skill's versions, newest first, with their test results and, for the newest few,
 * what each changed (skills/skill_hist.h); nothing for an external skill. */
static void add_versions(cJSON *root, const struct config *cfg, const struct skill *sk)
{
	struct skill_hist h = {0};
	cJSON *arr = cJSON_AddArrayToObject(root, "versions");
	int home_fd;

	if (sk->root)
		return;
	home_fd = safeio_open_home(cfg->home);
	if (home_fd < 0 || skill_hist_load(home_fd, sk->name, &h) < 0) {
		if (home_fd >= 0)
			close(home_fd);
		return;
	}
	for (size_t k = 0; k < h.n && k < UI_VERSIONS; k++) {
		const struct skill_version *v = &h.v[h.n - 1 - k];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "n", v->n);
		cJSON_AddNumberToObject(o, "ts_ms", (double)v->ts_ms);
		cJSON_AddStringToObject(o, "by", v->by);
		cJSON_AddStringToObject(o, "hash", v->hash);
		if (v->test[0])
			cJSON_AddStringToObject(o, "test", v->test);
		if (k < UI_DIFFS) {
			struct buf a, b, d;

			buf_init(&a, 0);
			buf_init(&b, 0);
			buf_init(&d, UI_DIFF_MAX);
			if (skill_hist_text(home_fd, sk->name, v->n, &b) == 0) {
				if (v->n > 1)
					skill_hist_text(home_fd, sk->name, v->n - 1, &a);
				skill_diff(a.data ? a.data : "", a.len, b.data ? b.data : "", b.len,
					   &d);
				cJSON_AddStringToObject(o, "diff", buf_str(&d));
			}
			buf_finish(&d);
			buf_finish(&b);
			buf_finish(&a);
		}
		cJSON_AddItemToArray(arr, o);
	}
	skill_hist_finish(&h);
	close(home_fd);
}

/* One skill's SKILL.md. -ENOENT when there is no usable skill of that name. */
static int read_skill(struct read_job *j, cJSON *root)
{
	struct skill_set set = {0};
	const struct skill *sk;
	char *path;
	int rc = -ENOENT;

	skill_set_scan(j->cfg, &set);
	sk = skill_set_find(&set, j->text, NULL);
	if (sk) {
		const cJSON *text;
		char v[TOOLS_VERSION_LEN + 1];

		cJSON_AddStringToObject(root, "name", sk->name);
		path = xasprintf("%s/SKILL.md", sk->path);
		add_file(root, "text", path);
		free(path);
		text = cJSON_GetObjectItemCaseSensitive(root, "text");
		if (cJSON_IsString(text)) {
			tools_edit_version(text->valuestring, strlen(text->valuestring), v);
			cJSON_AddStringToObject(root, "version", v);
		}
		cJSON_AddBoolToObject(root, "writable", sk->root == NULL);
		add_versions(root, j->cfg, sk);
		rc = 0;
	}
	skill_set_finish(&set);
	return rc;
}

/* A health check's last verdicts, newest first (cron_verdicts, as /jobs shows them). */
static void add_verdicts(struct store *st, const char *job, cJSON *o)
{
	struct cron_verdict v[CRON_VERDICTS_KEPT];
	size_t n = 0;
	cJSON *arr = cJSON_AddArrayToObject(o, "verdicts");

	if (cron_verdicts_list(st, job, v, CRON_VERDICTS_KEPT, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		cJSON *e = cJSON_CreateObject();

		cJSON_AddNumberToObject(e, "time_ms", (double)v[i].time_ms);
		cJSON_AddStringToObject(e, "status", cron_status_name(v[i].status));
		cJSON_AddStringToObject(e, "summary", v[i].summary);
		cJSON_AddItemToArray(arr, e);
	}
}

/* The agent's scheduled jobs of every chat (reminders_list_all, the rows of /jobs). */
static int add_reminders(struct store *st, cJSON *root)
{
	struct reminders_job *v;
	size_t n;
	cJSON *arr = cJSON_AddArrayToObject(root, "reminders");

	if (reminders_list_all(st, &v, &n) < 0)
		return -EIO;
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "id", (double)v[i].id);
		cJSON_AddStringToObject(o, "source", v[i].source);
		cJSON_AddStringToObject(o, "title", v[i].title);
		cJSON_AddStringToObject(o, "when", v[i].when);
		cJSON_AddBoolToObject(o, "recurring", v[i].recurring);
		cJSON_AddStringToObject(o, "status", v[i].status);
		if (v[i].next_ms >= 0 && strcmp(v[i].status, "active") == 0)
			cJSON_AddNumberToObject(o, "next_ms", (double)v[i].next_ms);
		else
			cJSON_AddNullToObject(o, "next_ms");
		if (v[i].last_run_ms >= 0)
			cJSON_AddNumberToObject(o, "last_run_ms", (double)v[i].last_run_ms);
		else
			cJSON_AddNullToObject(o, "last_run_ms");
		cJSON_AddStringToObject(o, "last_status", v[i].last_status);
		cJSON_AddBoolToObject(o, "undelivered", v[i].undelivered);
		cJSON_AddItemToArray(arr, o);
	}
	free(v);
	return 0;
}

/* The config's cron jobs with their next time and the last run cron.c keeps in the store (kv
 * "cron.<name>.last_run", cron.h); health checks with their verdicts; the reminders. */
static int read_jobs(struct store *st, struct read_job *j, cJSON *root)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "cron");

	for (size_t i = 0; i < j->cfg->n_cron_jobs; i++) {
		const struct config_cron_job *cj = &j->cfg->cron_jobs[i];
		cJSON *o = cJSON_CreateObject(), *last;
		char *key = xasprintf("cron.%s.last_run", cj->name), *value = NULL;
		int64_t next_ms;

		cJSON_AddStringToObject(o, "name", cj->name);
		cJSON_AddStringToObject(o, "schedule", cj->schedule);
		cJSON_AddBoolToObject(o, "enabled", cj->enabled);
		cJSON_AddBoolToObject(o, "health_check",
				      cj->report == CONFIG_CRON_REPORT_ON_FAILURE);
		cJSON_AddBoolToObject(o, "running", j->running && j->running[i]);
		cJSON_AddStringToObject(o, "model", cj->model ? cj->model : "");
		cJSON_AddStringToObject(o, "deliver", cj->deliver.target ? cj->deliver.target : "");
		if (cj->enabled && cron_next_run(cj, j->now_ms, &next_ms) == 0)
			cJSON_AddNumberToObject(o, "next_ms", (double)next_ms);
		else
			cJSON_AddNullToObject(o, "next_ms");
		last = store_kv_get(st, key, &value) == 0 ? json_parse_str(value, NULL) : NULL;
		if (cJSON_IsObject(last))
			cJSON_AddItemToObject(o, "last", last);
		else
			cJSON_AddNullToObject(o, "last");
		if (last && !cJSON_IsObject(last))
			cJSON_Delete(last);
		free(value);
		free(key);
		if (cj->report == CONFIG_CRON_REPORT_ON_FAILURE)
			add_verdicts(st, cj->name, o);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(root, "reminders_enabled", j->cfg->reminders.enabled);
	if (!j->cfg->reminders.enabled) {
		cJSON_AddArrayToObject(root, "reminders");
		return 0;
	}
	return add_reminders(st, root);
}

/* The last AUDIT_LINES lines of home/logs/audit.jsonl (the file `hermetic audit tail` reads
 * last; rotated files are not searched), found in its last LOG_TAIL_BYTES, as objects. */
static void read_audit(struct read_job *j, cJSON *root)
{
	char *path = xasprintf("%s/logs/audit.jsonl", j->cfg->home);
	char *text = read_tail(path);
	cJSON *arr;
	const char *lines[AUDIT_LINES];
	size_t n = 0, first = 0;

	free(path);
	cJSON_AddBoolToObject(root, "enabled", j->cfg->audit.enabled);
	cJSON_AddBoolToObject(root, "file", text != NULL);
	arr = cJSON_AddArrayToObject(root, "lines");
	if (!text)
		return;
	/* Only whole lines: a line cut by the offset is not JSON and is skipped below. */
	for (char *line = text, *end; *line; line = end) {
		end = strchr(line, '\n');
		if (!end)
			break; /* a line being written */
		*end++ = '\0';
		lines[(first + n) % AUDIT_LINES] = line;
		if (n < AUDIT_LINES)
			n++;
		else
			first = (first + 1) % AUDIT_LINES;
	}
	for (size_t i = 0; i < n; i++) {
		cJSON *o = json_parse_str(lines[(first + i) % AUDIT_LINES], NULL);

		if (cJSON_IsObject(o))
			cJSON_AddItemToArray(arr, o);
		else
			cJSON_Delete(o);
	}
	free(text);
}

static void read_work(void *arg)
{
	struct read_job *j = arg;
	cJSON *root = cJSON_CreateObject();
	struct store *st;
	char err[512];
	int rc;

	if (j->kind == READ_MEMORY || j->kind == READ_SKILL || j->kind == READ_LOG ||
	    j->kind == READ_AUDIT) {
		rc = 0;
		if (j->kind == READ_MEMORY)
			read_memory(j, root);
		else if (j->kind == READ_LOG)
			read_log(j, root);
		else if (j->kind == READ_AUDIT)
			read_audit(j, root);
		else
			rc = read_skill(j, root);
		j->status = rc == 0 ? 200 : 404;
		if (rc < 0)
			cJSON_AddStringToObject(root, "error", "no such skill");
		goto out;
	}
	if (store_open_reader(j->db_path, &st, err, sizeof(err)) < 0) {
		j->status = 503;
		cJSON_AddStringToObject(root, "error", err);
		goto out;
	}
	switch (j->kind) {
	case READ_LIST:
		rc = sessions_list(st, (int)j->n, add_session,
				   cJSON_AddArrayToObject(root, "sessions"));
		break;
	case READ_SEARCH:
		rc = read_search(st, j, root);
		break;
	case READ_VIEW:
		rc = read_view(st, j, root);
		break;
	case READ_JOBS:
		rc = read_jobs(st, j, root);
		break;
	default:
		rc = read_spend(st, j, root);
		break;
	}
	store_close(st);
	j->status = rc == 0 ? 200 : rc == -ENOENT ? 404 : 500;
	if (rc < 0) {
		cJSON_Delete(root);
		root = cJSON_CreateObject();
		cJSON_AddStringToObject(root, "error",
					rc == -ENOENT ? "no such session"
						      : "reading state.db failed (see the log)");
	}
out:
	if (j->status == 200 && j->format == AS_MARKDOWN_FILE)
		j->answer = markdown(root, j->cfg->timezone);
	else
		j->answer = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
}

static void read_free(void *arg)
{
	struct read_job *j = arg;

	free(j->answer);
	free(j->db_path);
	free(j->running);
	free(j);
}

static void read_done(void *arg)
{
	struct read_job *j = arg;
	char disp[96];

	if (j->status != 200 || j->format == AS_VIEW) {
		ui_reply_json_text(j->req, j->status, j->answer, strlen(j->answer));
	} else {
		snprintf(disp, sizeof(disp), "attachment; filename=\"session-%lld.%s\"",
			 (long long)j->n, j->format == AS_MARKDOWN_FILE ? "md" : "json");
		ui_page_headers(j->req);
		httpd_add_header(j->req, "Content-Disposition", disp);
		httpd_add_header(j->req, "Cache-Control", "no-store");
		httpd_reply(j->req, 200,
			    j->format == AS_MARKDOWN_FILE ? "text/markdown; charset=utf-8"
							  : "application/json",
			    j->answer, strlen(j->answer));
	}
	read_free(j);
}

static void start_read(struct ui *u, struct httpd_req *req, struct read_job *tmpl)
{
	struct read_job *j = xmalloc(sizeof(*j));

	*j = *tmpl;
	j->req = req;
	j->db_path = xstrdup(u->db_path);
	j->cfg = u->cfg;
	j->now_ms = now_wall_ms();
	j->daily_usd = u->cfg->budget.daily_usd;
	j->monthly_usd = u->cfg->budget.monthly_usd;
	if (offload_run(u->work, read_work, read_done, read_free, j) < 0) {
		read_free(j);
		httpd_add_header(req, "Retry-After", "1");
		ui_reply_error(req, 503, "the cockpit is busy with other reads; retry in a moment");
	}
}

static int64_t query_int(struct httpd_req *req, const char *name, int64_t def, int64_t min,
			 int64_t max, bool *bad)
{
	char v[24];
	int64_t n;

	if (!ui_query_param(httpd_query(req), name, v, sizeof(v)))
		return def;
	if (parse_i64(v, min, max, &n) < 0) {
		*bad = true;
		return def;
	}
	return n;
}

static void on_sessions(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_LIST};
	bool bad = false;

	if (!ui_gate(u, req))
		return;
	j.n = query_int(req, "limit", LIST_DEFAULT, 1, LIST_MAX, &bad);
	if (bad) {
		ui_reply_error(req, 400, "limit must be a whole number from 1 to 200");
		return;
	}
	if (ui_query_param(httpd_query(req), "q", j.text, sizeof(j.text))) {
		if (j.text[0])
			j.kind = READ_SEARCH;
	} else if (ui_query_param(httpd_query(req), "q", NULL, 0)) {
		ui_reply_error(req, 400, "q: at most 255 bytes of search words");
		return;
	}
	start_read(u, req, &j);
}

static void on_session(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_VIEW};
	bool bad = false;
	char format[16] = "";

	if (!ui_gate(u, req))
		return;
	j.n = query_int(req, "id", 0, 1, INT64_MAX, &bad);
	ui_query_param(httpd_query(req), "export", format, sizeof(format));
	if (strcmp(format, "md") == 0)
		j.format = AS_MARKDOWN_FILE;
	else if (strcmp(format, "json") == 0)
		j.format = AS_JSON_FILE;
	else if (format[0])
		bad = true;
	if (bad || j.n == 0) {
		ui_reply_error(req, 400, "expected ?id=<session id>[&export=md|json]");
		return;
	}
	start_read(u, req, &j);
}

static void on_spend(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_SPEND};
	bool bad = false;

	if (!ui_gate(u, req))
		return;
	j.n = query_int(req, "days", SPEND_DAYS, 1, SPEND_REPORT_MAX_DAYS, &bad);
	if (bad) {
		ui_reply_error(req, 400, "days must be a whole number from 1 to 3660");
		return;
	}
	start_read(u, req, &j);
}

static void on_memory(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_MEMORY};

	if (!ui_gate(u, req))
		return;
	start_read(u, req, &j);
}

static void on_log(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_LOG};

	if (!ui_gate(u, req))
		return;
	start_read(u, req, &j);
}

static void on_audit(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_AUDIT};

	if (!ui_gate(u, req))
		return;
	start_read(u, req, &j);
}

static void on_jobs(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_JOBS};
	size_t n = u->cfg->n_cron_jobs;

	if (!ui_gate(u, req))
		return;
	/* cron's state lives on the loop: seen here, copied to the thread */
	j.running = xcalloc(n ? n : 1, sizeof(*j.running));
	for (size_t i = 0; i < n; i++)
		j.running[i] = cron_job_running(u->env.cron, u->cfg->cron_jobs[i].name);
	start_read(u, req, &j);
}

static void on_skill(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	struct read_job j = {.kind = READ_SKILL};

	if (!ui_gate(u, req))
		return;
	if (!ui_query_param(httpd_query(req), "name", j.text, sizeof(j.text)) || !j.text[0]) {
		ui_reply_error(req, 400, "expected ?name=<skill>");
		return;
	}
	start_read(u, req, &j);
}

void ui_read_routes(struct ui *u, struct httpd *h)
{
	httpd_route(h, HTTPD_GET, "/v1/ui/sessions", on_sessions, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/session", on_session, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/spend", on_spend, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/memory", on_memory, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/skill", on_skill, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/jobs", on_jobs, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/log", on_log, u);
	httpd_route(h, HTTPD_GET, "/v1/ui/audit", on_audit, u);
}
