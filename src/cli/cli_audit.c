/* cli_audit: reads the audit trail's files oldest first (audit.jsonl.<keep> .. .1, then
 * audit.jsonl), keeps the lines that pass the filters and prints them, as stored (--json) or
 * one readable line each: time, kind, source, session, then the other fields as key=value.
 * A line longer than LINE_MAX (the writer never makes one) or not JSON is skipped. */
#include "cli/cli_audit.h"
#include "core/json.h"
#include "core/config.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LINE_MAX_BYTES (64 * 1024)
#define TAIL_MAX       10000

/* "30m" etc. or a UTC time prefix into an ISO 8601 bound comparable with a line's "ts". */
static int since_bound(const char *s, char out[32])
{
	char *end;
	long long n = strtoll(s, &end, 10);
	long long mult = 0;

	if (end != s && end[0] && !end[1] && n >= 0 && n <= 100000) {
		mult = *end == 's'   ? 1
		       : *end == 'm' ? 60
		       : *end == 'h' ? 3600
		       : *end == 'd' ? 86400
				     : 0;
		if (mult) {
			time_t t = time(NULL) - (time_t)(n * mult);
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
			return 0;
		}
	}
	/* YYYY-MM-DD[THH:MM[:SS]]: checked character by character against the pattern */
	{
		static const char pat[] = "dddd-dd-ddTdd:dd:dd";
		size_t len = strlen(s);

		if (len != 10 && len != 16 && len != 19)
			return -1;
		for (size_t i = 0; i < len; i++)
			if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pat[i])
				return -1;
		snprintf(out, 32, "%s", s);
		return 0;
	}
}

struct filter {
	const struct cli_audit_opts *o;
	char since[32];
};

static bool has_word(const char *line, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = line; *p; p++)
		if (strncasecmp(p, w, n) == 0)
			return true;
	return false;
}

static bool passes(const struct filter *f, const char *line, cJSON *j)
{
	const struct cli_audit_opts *o = f->o;
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "ts");
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "source");
	const cJSON *ses = cJSON_GetObjectItemCaseSensitive(j, "session");

	if (*f->since && (!cJSON_IsString(ts) || strcmp(ts->valuestring, f->since) < 0))
		return false;
	if (o->source) {
		size_t n = strlen(o->source);

		if (!cJSON_IsString(src) || strncmp(src->valuestring, o->source, n) != 0 ||
		    (src->valuestring[n] && src->valuestring[n] != ':' && o->source[n - 1] != ':'))
			return false;
	}
	if (o->lane) {
		const cJSON *lane = cJSON_GetObjectItemCaseSensitive(j, "lane");

		if (!cJSON_IsString(lane) || strcmp(lane->valuestring, o->lane) != 0)
			return false;
	}
	if (o->session && (!cJSON_IsNumber(ses) || (int64_t)ses->valuedouble != o->session))
		return false;
	for (int i = 0; i < o->n_words; i++)
		if (!has_word(line, o->words[i]))
			return false;
	return true;
}

/* key=value, the value bare when it is one plain word, else as a JSON string: text from a
 * chat can hold quotes and terminal escape sequences, which must not reach the terminal. */
static void print_value(const char *key, const char *v)
{
	bool plain = *v != '\0';
	struct buf b;

	for (const unsigned char *p = (const unsigned char *)v; *p && plain; p++)
		plain = *p > 0x20 && *p != '"' && *p != 0x7f && *p != '\\';
	if (plain) {
		printf(" %s=%s", key, v);
		return;
	}
	buf_init(&b, 0);
	buf_json_str(&b, v, strlen(v));
	printf(" %s=%s", key, buf_str(&b));
	buf_finish(&b);
}

static void print_line(const struct cli_audit_opts *o, const char *line)
{
	cJSON *j, *it;

	if (o->json) {
		fputs(line, stdout);
		return;
	}
	j = json_parse_str(line, NULL);
	if (!j)
		return;
	{
		const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "ts");
		const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
		const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "source");
		const cJSON *ses = cJSON_GetObjectItemCaseSensitive(j, "session");

		printf("%s %-7s %s", cJSON_IsString(ts) ? ts->valuestring : "?",
		       cJSON_IsString(kind) ? kind->valuestring : "?",
		       cJSON_IsString(src) ? src->valuestring : "-");
		if (cJSON_IsNumber(ses))
			printf(" #%lld", (long long)ses->valuedouble);
	}
	cJSON_ArrayForEach(it, j)
	{
		static const char *const shown[] = {"ts", "kind", "source", "session"};
		bool skip = false;

		for (size_t i = 0; i < ARRAY_LEN(shown); i++)
			skip |= strcmp(it->string, shown[i]) == 0;
		if (skip)
			continue;
		if (cJSON_IsString(it))
			print_value(it->string, it->valuestring);
		else if (cJSON_IsNumber(it))
			printf(" %s=%.10g", it->string, it->valuedouble);
		else if (cJSON_IsBool(it))
			printf(" %s=%s", it->string, cJSON_IsTrue(it) ? "true" : "false");
	}
	putchar('\n');
	cJSON_Delete(j);
}

/* Calls fn for each kept line of path, oldest first; false when path cannot be opened. */
static bool scan(const char *path, const struct filter *f, char *line,
		 void (*fn)(const char *line, void *arg), void *arg)
{
	FILE *in = fopen(path, "r");
	bool skipping = false;

	if (!in)
		return false;
	while (fgets(line, LINE_MAX_BYTES, in)) {
		size_t n = strlen(line);
		bool whole = n > 0 && line[n - 1] == '\n';
		cJSON *j;

		if (skipping || !whole) {
			skipping = !whole; /* the rest of an over-long line */
			continue;
		}
		j = json_parse_str(line, NULL);
		if (j && passes(f, line, j))
			fn(line, arg);
		cJSON_Delete(j);
	}
	fclose(in);
	return true;
}

struct ring {
	char **lines;
	long cap, n, next;
};

static void keep_last(const char *line, void *arg)
{
	struct ring *r = arg;

	free(r->lines[r->next]);
	r->lines[r->next] = xstrdup(line);
	r->next = (r->next + 1) % r->cap;
	if (r->n < r->cap)
		r->n++;
}

static void print_now(const char *line, void *arg)
{
	print_line(arg, line);
}

int cli_audit(const struct config *cfg, const struct cli_audit_opts *o)
{
	struct filter f = {o, ""};
	char *base = xasprintf("%s/logs/audit.jsonl", cfg->home), *line;
	struct ring ring = {0};
	long keep = cfg->audit.keep;
	bool any = false;

	if (o->source && !*o->source) {
		fprintf(stderr, "hermetic: audit: --source needs a value (telegram, cron:backup, "
				"api, ...)\n");
		free(base);
		return 2;
	}
	if (o->since && since_bound(o->since, f.since) < 0) {
		fprintf(stderr,
			"hermetic: audit: --since \"%s\": give an age (45s, 30m, 2h, 7d) or a UTC "
			"time (2026-11-23, 2026-11-23T10:00, 2026-11-23T10:00:00)\n",
			o->since);
		free(base);
		return 2;
	}
	if (!o->search) {
		ring.cap = o->lines > 0 ? (o->lines < TAIL_MAX ? o->lines : TAIL_MAX) : 20;
		ring.lines = xcalloc((size_t)ring.cap, sizeof(char *));
	}
	line = xmalloc(LINE_MAX_BYTES);
	for (long i = keep; i >= 0; i--) {
		char *path = i ? xasprintf("%s.%ld", base, i) : xstrdup(base);

		any |= scan(path, &f, line, o->search ? print_now : keep_last,
			    o->search ? (void *)o : &ring);
		free(path);
	}
	if (!any)
		fprintf(stderr,
			"hermetic: audit: no trail at %s (audit.enabled, and a gateway or "
			"router that has run with this home)\n",
			base);
	for (long k = 0; k < ring.n; k++) {
		long at = (ring.next - ring.n + k + ring.cap) % ring.cap;

		print_line(o, ring.lines[at]);
	}
	for (long k = 0; k < ring.cap; k++)
		free(ring.lines[k]);
	free(ring.lines);
	free(line);
	free(base);
	return any ? 0 : 1;
}
