/* tool_schedule: schedule, reminders and recurring jobs the user asks for in a chat. The
 * tool reads the model's words (`when` in the process time zone, or a cron line) and hands a
 * request to the scheduler the gateway set (tools_set_scheduler, gateway/reminders.c), which
 * owns the jobs, their limits and the chat they belong to.
 *
 * Only a chat's own turn may schedule: a cron, hook or reminder run that could create jobs
 * could make jobs that make jobs. `when` is parsed by a pure function with now as an
 * argument, so its table is tested without a clock. Rejected: free natural-language dates
 * ("next Friday"): the model can turn those into an ISO time itself, and a parser that
 * guesses would schedule the wrong day silently.
 */
#include "core/config.h"
#include "tools/tool.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define YEAR_MS	  (366LL * 86400 * 1000)
#define WORDS_MAX 8

/* Splits s (lowercased copy in buf) into at most WORDS_MAX words. */
static size_t split_words(const char *s, char *buf, size_t buf_len, char *words[WORDS_MAX])
{
	size_t n = 0, i;
	char *p;

	for (i = 0; s[i] && i + 1 < buf_len; i++)
		buf[i] = (char)tolower((unsigned char)s[i]);
	buf[i] = '\0';
	for (p = buf; *p && n < WORDS_MAX + 1;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			*p++ = '\0';
		if (!*p)
			break;
		if (n == WORDS_MAX)
			return WORDS_MAX + 1;
		words[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != ',')
			p++;
	}
	return n;
}

/* "7:05", "07:05", "19:30" -> hour and minute. */
static bool parse_hhmm(const char *s, int *h, int *m)
{
	int hour = 0, minute, i = 0;

	while (isdigit((unsigned char)s[i]) && i < 2)
		hour = hour * 10 + (s[i++] - '0');
	if (i == 0 || s[i] != ':' || !isdigit((unsigned char)s[i + 1]) ||
	    !isdigit((unsigned char)s[i + 2]))
		return false;
	minute = (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
	i += 3;
	/* Seconds are accepted and ignored: a reminder is kept to the minute. */
	if (s[i] == ':' && isdigit((unsigned char)s[i + 1]) && isdigit((unsigned char)s[i + 2]))
		i += 3;
	if (s[i] || hour > 23 || minute > 59)
		return false;
	*h = hour;
	*m = minute;
	return true;
}

/* The local time days_ahead days after now's date at h:m, as wall ms (-1 when none). */
static int64_t local_at(int64_t now_ms, int days_ahead, int h, int m)
{
	time_t now = (time_t)(now_ms / 1000), t;
	struct tm tm;

	if (!localtime_r(&now, &tm))
		return -1;
	tm.tm_mday += days_ahead;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	return t == (time_t)-1 ? -1 : (int64_t)t * 1000;
}

static int64_t unit_ms(const char *u)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {
		{"m", 60000},
		{"min", 60000},
		{"mins", 60000},
		{"minute", 60000},
		{"minutes", 60000},
		{"h", 3600000},
		{"hr", 3600000},
		{"hrs", 3600000},
		{"hour", 3600000},
		{"hours", 3600000},
		{"d", 86400000},
		{"day", 86400000},
		{"days", 86400000},
		{"w", 7 * 86400000LL},
		{"week", 7 * 86400000LL},
		{"weeks", 7 * 86400000LL},
	};

	for (size_t i = 0; i < ARRAY_LEN(units); i++)
		if (strcmp(u, units[i].name) == 0)
			return units[i].ms;
	return -1;
}

/* "in 20 minutes", "in 1 hour 30 minutes", "in an hour", "in 2h". */
static int parse_in(char **w, size_t n, int64_t now_ms, int64_t *at_ms, char *err, size_t len)
{
	int64_t total = 0, count, ms;
	size_t i = 1;
	char *end;

	if (n < 2)
		return snprintf(err, len, "\"in\" needs an amount, e.g. \"in 20 minutes\""),
		       -EINVAL;
	while (i < n) {
		if (strcmp(w[i], "a") == 0 || strcmp(w[i], "an") == 0) {
			count = 1;
			end = w[i] + strlen(w[i]);
		} else {
			errno = 0;
			count = strtoll(w[i], &end, 10);
			if (end == w[i] || errno || count < 0 || count > 100000)
				return snprintf(err, len,
						"\"%s\" is not a number of minutes, hours, "
						"days or weeks",
						w[i]),
				       -EINVAL;
		}
		/* "20m", "2h": the unit glued to the number. */
		if (*end) {
			ms = unit_ms(end);
			i++;
		} else if (i + 1 < n) {
			ms = unit_ms(w[i + 1]);
			end = w[i + 1];
			i += 2;
		} else {
			return snprintf(err, len,
					"\"in %s\" needs a unit (minutes, hours, days or "
					"weeks)",
					w[i]),
			       -EINVAL;
		}
		if (ms < 0)
			return snprintf(err, len,
					"unknown unit \"%s\" (use minutes, hours, days or "
					"weeks)",
					end),
			       -EINVAL;
		total += count * ms;
		if (strcmp(i < n ? w[i] : "", "and") == 0)
			i++;
	}
	if (total <= 0)
		return snprintf(err, len, "\"in\" needs a time after now"), -ERANGE;
	if (total > YEAR_MS)
		return snprintf(err, len,
				"that is more than a year ahead; schedule at most a year "
				"ahead"),
		       -ERANGE;
	/* The whole delay, never less: "in 1 minute" said at 10:15:59 is 10:16:59, not
	 * 10:16:00. Whole seconds, so the job's time reads cleanly. */
	*at_ms = (now_ms + total + 999) / 1000 * 1000;
	return 0;
}

/* "2026-12-01 09:30", "2026-12-01T09:30", "2026-12-01 at 09:30". */
static int parse_date(char **w, size_t n, int64_t *at_ms, char *err, size_t len)
{
	struct tm tm = {0};
	char *time_part = NULL, *t;
	int y, mo, d, h, mi, used = 0;
	time_t at;

	if (sscanf(w[0], "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
		return snprintf(err, len, "\"%s\" is not a date (use YYYY-MM-DD HH:MM)", w[0]),
		       -EINVAL;
	t = strchr(w[0], 't');
	if (t && w[0][10] == 't' && n == 1)
		time_part = t + 1;
	else if (!w[0][10] && n == 2)
		time_part = w[1];
	else if (!w[0][10] && n == 3 && strcmp(w[1], "at") == 0)
		time_part = w[2];
	if (!time_part)
		return snprintf(err, len, "a date needs a time, e.g. \"%.10s 09:30\"", w[0]),
		       -EINVAL;
	if (!parse_hhmm(time_part, &h, &mi))
		return snprintf(err, len, "\"%s\" is not a time (use HH:MM, 24-hour)", time_part),
		       -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31)
		return snprintf(err, len, "\"%s\" is not a date", w[0]), -EINVAL;
	tm = (struct tm){.tm_year = y - 1900,
			 .tm_mon = mo - 1,
			 .tm_mday = d,
			 .tm_hour = h,
			 .tm_min = mi,
			 .tm_isdst = -1};
	at = mktime(&tm);
	if (at == (time_t)-1 || tm.tm_mday != d)
		return snprintf(err, len, "\"%.10s\" is not a day of the calendar", w[0]), -EINVAL;
	*at_ms = (int64_t)at * 1000;
	return 0;
}

int tool_schedule_parse_when(const char *when, int64_t now_ms, int64_t *at_ms, char *err,
			     size_t err_len)
{
	char buf[128], *w[WORDS_MAX];
	size_t n = split_words(when, buf, sizeof(buf), w), i = 0;
	int h, m, days = -1, rc;

	if (strlen(when) >= sizeof(buf) || n > WORDS_MAX)
		return snprintf(err, err_len,
				"`when` is too long; say e.g. \"in 20 minutes\" or "
				"\"tomorrow 07:00\""),
		       -EINVAL;
	if (n == 0)
		return snprintf(err, err_len, "`when` is empty"), -EINVAL;
	if (strcmp(w[0], "in") == 0) {
		rc = parse_in(w, n, now_ms, at_ms, err, err_len);
		goto check;
	}
	if (isdigit((unsigned char)w[0][0]) && strchr(w[0], '-')) {
		rc = parse_date(w, n, at_ms, err, err_len);
		goto check;
	}
	if (strcmp(w[0], "today") == 0 || strcmp(w[0], "tomorrow") == 0) {
		days = strcmp(w[0], "tomorrow") == 0;
		i = 1;
	}
	if (i < n && strcmp(w[i], "at") == 0)
		i++;
	if (i + 1 != n || !parse_hhmm(w[i], &h, &m))
		return snprintf(err, err_len,
				"`when` \"%.60s\" was not understood; use \"in 20 minutes\", "
				"\"tomorrow 07:00\", \"at 18:00\" or \"2026-12-01 09:30\"",
				when),
		       -EINVAL;
	*at_ms = local_at(now_ms, days < 0 ? 0 : days, h, m);
	/* "at 18:00" once 18:00 has passed today means tomorrow's. */
	if (days < 0 && *at_ms >= 0 && *at_ms <= now_ms)
		*at_ms = local_at(now_ms, 1, h, m);
	rc = *at_ms < 0 ? (snprintf(err, err_len, "that time does not exist here"), -EINVAL) : 0;
check:
	if (rc < 0)
		return rc;
	if (*at_ms <= now_ms)
		return snprintf(err, err_len, "`when` \"%.60s\" is in the past", when), -ERANGE;
	if (*at_ms - now_ms > YEAR_MS)
		return snprintf(err, err_len,
				"`when` \"%.60s\" is more than a year ahead; schedule at most a "
				"year ahead",
				when),
		       -ERANGE;
	return 0;
}

/* max_cost_usd: absent = 0 (the default cap), else a positive number. */
static int cost_arg(const cJSON *args, double *out, struct buf *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "max_cost_usd");

	*out = 0;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble <= 0)
		return buf_puts(err, "max_cost_usd must be a number above 0 (dollars per run), or "
				     "left out for the default cap"),
		       -EINVAL;
	*out = v->valuedouble;
	return 0;
}

static int create(const struct tool_req *req, struct buf *out)
{
	struct tools_schedule_req r = {0};
	const char *when = tool_arg_str(req->args, "when", false, out);
	const char *cron = tool_arg_str(req->args, "cron", false, out);
	char err[200];
	int rc;

	r.prompt = tool_arg_str(req->args, "prompt", true, out);
	r.title = tool_arg_str(req->args, "title", false, out);
	if (out->len || cost_arg(req->args, &r.max_cost_usd, out) < 0)
		return -EINVAL;
	if (!when == !cron)
		return buf_puts(out, "give either `when` (a one-shot: \"in 20 minutes\", "
				     "\"tomorrow 07:00\") or `cron` (recurring: \"0 7 * * 1-5\"), "
				     "not both"),
		       -EINVAL;
	if (when) {
		rc = tool_schedule_parse_when(when, now_wall_ms(), &r.at_ms, err, sizeof(err));
		if (rc < 0)
			return buf_puts(out, err), rc;
	}
	r.cron = cron;
	return req->scheduler->create(req->scheduler_arg, req->source, &r, out);
}

static int run(const struct tool_req *req, struct buf *out)
{
	const char *action = tool_arg_str(req->args, "action", false, out);
	bool bad = false;
	long long id;

	if (out->len)
		return -EINVAL;
	if (!req->scheduler)
		return buf_puts(out, "scheduling is not available here"), -ENOTSUP;
	/* Only a person's chat makes jobs: a job's own run (cron, hook, reminder) may not. */
	if (strncmp(req->source, "telegram:", 9) != 0)
		return buf_printf(
			       out,
			       "schedule works only in a chat; this turn is %s (cron jobs, hooks "
			       "and reminders cannot schedule jobs)",
			       *req->source ? req->source : "not a chat"),
		       -EPERM;
	if (!action || strcmp(action, "create") == 0)
		return create(req, out);
	if (strcmp(action, "list") == 0)
		return req->scheduler->list(req->scheduler_arg, req->source, out);
	if (strcmp(action, "delete") == 0) {
		id = tool_arg_int(req->args, "id", -1, 1, INT64_MAX, &bad, out);
		if (bad || id < 0)
			return buf_puts(out, bad ? "" : "delete needs the job's `id` (see list)"),
			       -EINVAL;
		return req->scheduler->cancel(req->scheduler_arg, req->source, id, out);
	}
	return buf_printf(out, "unknown action \"%.40s\": use create, list or delete", action),
	       -EINVAL;
}

static bool offered(const struct tools_env *env)
{
	return env->cfg->reminders.enabled;
}

const struct tool_def tool_def_schedule = {
	.name = "schedule",
	.toolset = CONFIG_TOOLSET_TIME,
	.description =
		"Reminders and recurring jobs for this chat: at that time you get prompt and "
		"your answer is sent here. when: once; cron: recurring, local time.",
	.params_json =
		"{\"type\":\"object\",\"properties\":{\"action\":{\"type\":\"string\",\"enum\":"
		"[\"create\",\"list\",\"delete\"]},\"when\":{\"type\":\"string\",\"description\":"
		"\"'in 20 minutes', 'tomorrow 07:00', '2026-12-01 09:30'\"},\"cron\":"
		"{\"type\":\"string\",\"description\":\"e.g. '0 7 * * 1-5'\"},\"prompt\":{\"type\":"
		"\"string\",\"description\":\"e.g. 'Remind me to call mum'\"},"
		"\"title\":{\"type\":\"string\"},\"max_cost_usd\":{\"type\":\"number\"},\"id\":"
		"{\"type\":\"integer\"}}}",
	.offered = offered,
	.needs_scheduler = true,
	.run = run,
};
