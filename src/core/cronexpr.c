/* cronexpr: parses a cron line into one bitset per field and finds the next matching minute.
 *
 * Each field is a comma list of items (`*`, `n`, `a-b`, with an optional `/step`); the five
 * fields are described by one table, so minute..day-of-week share a single parser. next()
 * walks the calendar coarse to fine (month, day, hour, minute) and resets the finer fields
 * whenever a coarser one moves, which needs at most a few thousand steps per year.
 * Rejected: mktime()-based stepping (it applies the process time zone and DST, which this
 * pure module must not know about) and a seconds field (the scheduler ticks per minute).
 */
#include "core/cronexpr.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EXPR_MAX     256
#define SEARCH_YEARS 28

struct field {
	const char *name;
	int min, max;
	const char *const *names; /* names[i] stands for value i + names_base */
	int n_names, names_base;
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
					  "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, N_FIELDS };

static const struct field fields[N_FIELDS] = {
	{"minute", 0, 59, NULL, 0, 0},		{"hour", 0, 23, NULL, 0, 0},
	{"day-of-month", 1, 31, NULL, 0, 0},	{"month", 1, 12, month_names, 12, 1},
	{"day-of-week", 0, 7, dow_names, 7, 0},
};

static const struct {
	const char *name;
	const char *expr;
} macros[] = {
	{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

/* A piece of the expression: [s, end). */
struct span {
	const char *s, *end;
};

static int fail(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err_len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int parse_name(const struct field *f, struct span *sp, int *out, char *err, size_t err_len)
{
	const char *s = sp->s;
	size_t len = 0;
	int i;

	while (s + len < sp->end && isalpha((unsigned char)s[len]))
		len++;
	for (i = 0; i < f->n_names && len == 3; i++) {
		if (strncasecmp(s, f->names[i], 3) == 0) {
			*out = i + f->names_base;
			sp->s += len;
			return 0;
		}
	}
	if (len > 16)
		len = 16;
	return fail(err, err_len, "%s: unknown name '%.*s'", f->name, (int)len, s);
}

/* Reads one number or name at sp->s and advances past it. */
static int parse_value(const struct field *f, struct span *sp, int *out, char *err, size_t err_len)
{
	int v = 0, digits = 0;

	if (sp->s < sp->end && isalpha((unsigned char)*sp->s) && f->names)
		return parse_name(f, sp, out, err, err_len);
	while (sp->s < sp->end && isdigit((unsigned char)*sp->s)) {
		if (++digits > 4)
			return fail(err, err_len, "%s: number too long", f->name);
		v = v * 10 + (*sp->s++ - '0');
	}
	if (digits == 0)
		return fail(err, err_len, "%s: expected a number%s", f->name,
			    f->names ? " or a name" : "");
	if (v < f->min || v > f->max)
		return fail(err, err_len, "%s: %d is out of range %d-%d", f->name, v, f->min,
			    f->max);
	*out = v;
	return 0;
}

static int parse_step(const struct field *f, struct span *sp, int *step, char *err, size_t err_len)
{
	int v = 0, digits = 0;

	*step = 1;
	if (sp->s == sp->end)
		return 0;
	if (*sp->s != '/')
		return fail(err, err_len, "%s: unexpected '%c'", f->name, *sp->s);
	sp->s++;
	while (sp->s < sp->end && isdigit((unsigned char)*sp->s) && digits < 4) {
		v = v * 10 + (*sp->s++ - '0');
		digits++;
	}
	if (digits == 0 || sp->s != sp->end)
		return fail(err, err_len, "%s: a step must be a number after '/'", f->name);
	if (v < 1 || v > f->max)
		return fail(err, err_len, "%s: step %d is out of range 1-%d", f->name, v, f->max);
	*step = v;
	return 0;
}

/* One list item: `*`, `n`, `a-b`, each with an optional `/step`; `a/step` means a-max/step. */
static int parse_item(const struct field *f, struct span sp, uint64_t *bits, char *err,
		      size_t err_len)
{
	int lo = f->min, hi = f->max, step, v, rc;

	if (sp.s < sp.end && *sp.s == '*') {
		sp.s++;
	} else {
		rc = parse_value(f, &sp, &lo, err, err_len);
		if (rc < 0)
			return rc;
		hi = lo;
		if (sp.s < sp.end && *sp.s == '-') {
			sp.s++;
			rc = parse_value(f, &sp, &hi, err, err_len);
			if (rc < 0)
				return rc;
			if (hi < lo)
				return fail(err, err_len, "%s: range %d-%d is backwards", f->name,
					    lo, hi);
		} else if (sp.s < sp.end && *sp.s == '/') {
			hi = f->max;
		}
	}
	rc = parse_step(f, &sp, &step, err, err_len);
	if (rc < 0)
		return rc;
	for (v = lo; v <= hi; v += step)
		*bits |= (uint64_t)1 << v;
	return 0;
}

static int parse_field(const struct field *f, struct span sp, uint64_t *bits, char *err,
		       size_t err_len)
{
	const char *comma;
	int rc;

	*bits = 0;
	for (;;) {
		struct span item = {sp.s, sp.end};

		comma = memchr(sp.s, ',', (size_t)(sp.end - sp.s));
		if (comma)
			item.end = comma;
		if (item.s == item.end)
			return fail(err, err_len, "%s: empty list item", f->name);
		rc = parse_item(f, item, bits, err, err_len);
		if (rc < 0 || !comma)
			return rc;
		sp.s = comma + 1;
	}
}

/* Splits s into at most N_FIELDS + 1 whitespace-separated spans; returns how many. */
static size_t split_fields(const char *s, struct span *out)
{
	size_t n = 0;

	while (*s && n <= N_FIELDS) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		out[n].s = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		out[n++].end = s;
	}
	return n;
}

static int days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* With `*` in day-of-week only day-of-month selects days: make sure some month has one. */
static bool days_possible(const struct cronexpr *c)
{
	int m, d;

	if (!c->dow_star)
		return true;
	for (m = 1; m <= 12; m++)
		for (d = 1; d <= days_in_month(2000, m); d++)
			if ((c->months >> m & 1) && (c->days >> d & 1))
				return true;
	return false;
}

static int parse_fields(const char *expr, struct cronexpr *out, char *err, size_t err_len)
{
	struct span sp[N_FIELDS + 1];
	uint64_t bits[N_FIELDS];
	size_t n = split_fields(expr, sp), i;
	int rc;

	if (n != N_FIELDS)
		return fail(
			err, err_len,
			"expected 5 fields (minute hour day-of-month month day-of-week), got %s%zu",
			n > N_FIELDS ? "more than " : "", n > N_FIELDS ? (size_t)N_FIELDS : n);
	for (i = 0; i < N_FIELDS; i++) {
		rc = parse_field(&fields[i], sp[i], &bits[i], err, err_len);
		if (rc < 0)
			return rc;
	}
	out->minutes = bits[F_MINUTE];
	out->hours = (uint32_t)bits[F_HOUR];
	out->days = (uint32_t)bits[F_DOM];
	out->months = (uint16_t)bits[F_MONTH];
	out->weekdays = (uint8_t)((bits[F_DOW] | bits[F_DOW] >> 7) & 0x7f);
	out->dom_star = *sp[F_DOM].s == '*';
	out->dow_star = *sp[F_DOW].s == '*';
	if (!days_possible(out))
		return fail(err, err_len, "day-of-month and month never coincide");
	return 0;
}

int cronexpr_parse(const char *expr, struct cronexpr *out, char *err, size_t err_len)
{
	size_t i;

	if (err_len > 0)
		err[0] = '\0';
	if (strlen(expr) > EXPR_MAX)
		return fail(err, err_len, "expression longer than %d characters", EXPR_MAX);
	memset(out, 0, sizeof(*out));
	if (expr[0] != '@')
		return parse_fields(expr, out, err, err_len);
	for (i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
		if (strcmp(expr, macros[i].name) == 0)
			return parse_fields(macros[i].expr, out, err, err_len);
	return fail(err, err_len,
		    "unknown macro '%.32s' (known: @hourly @daily @midnight @weekly @monthly "
		    "@yearly @annually)",
		    expr);
}

/* Day of the week for a Gregorian date, Sunday = 0 (Sakamoto's method); year >= 1. */
static int weekday(int year, int month, int day)
{
	static const int t[] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};

	if (month < 3)
		year--;
	return (year + year / 4 - year / 100 + year / 400 + t[month - 1] + day) % 7;
}

static bool tm_valid(const struct tm *t)
{
	if (t->tm_year < 1 - 1900 || t->tm_year > 100000 || t->tm_mon < 0 || t->tm_mon > 11)
		return false;
	return t->tm_mday >= 1 && t->tm_mday <= days_in_month(t->tm_year + 1900, t->tm_mon + 1) &&
	       t->tm_hour >= 0 && t->tm_hour <= 23 && t->tm_min >= 0 && t->tm_min <= 59;
}

static bool day_matches(const struct cronexpr *c, int year, int month, int day)
{
	bool dom = c->days >> day & 1;
	bool dow = c->weekdays >> weekday(year, month, day) & 1;

	if (c->dom_star || c->dow_star)
		return dom && dow;
	return dom || dow;
}

bool cronexpr_match(const struct cronexpr *c, const struct tm *tm)
{
	int year = tm->tm_year + 1900, month = tm->tm_mon + 1;

	if (!tm_valid(tm))
		return false;
	return (c->minutes >> tm->tm_min & 1) && (c->hours >> tm->tm_hour & 1) &&
	       (c->months >> month & 1) && day_matches(c, year, month, tm->tm_mday);
}

/* A calendar position; the step functions carry into the coarser fields. */
struct when {
	int year, month, day, hour, minute;
};

static void next_month(struct when *w)
{
	w->day = 1;
	w->hour = 0;
	w->minute = 0;
	if (++w->month > 12) {
		w->month = 1;
		w->year++;
	}
}

static void next_day(struct when *w)
{
	w->hour = 0;
	w->minute = 0;
	if (++w->day > days_in_month(w->year, w->month))
		next_month(w);
}

static void next_hour(struct when *w)
{
	w->minute = 0;
	if (++w->hour > 23)
		next_day(w);
}

static void next_minute(struct when *w)
{
	if (++w->minute > 59)
		next_hour(w);
}

static void fill_tm(const struct when *w, struct tm *out)
{
	int m, yday = w->day - 1;

	for (m = 1; m < w->month; m++)
		yday += days_in_month(w->year, m);
	memset(out, 0, sizeof(*out));
	out->tm_year = w->year - 1900;
	out->tm_mon = w->month - 1;
	out->tm_mday = w->day;
	out->tm_hour = w->hour;
	out->tm_min = w->minute;
	out->tm_wday = weekday(w->year, w->month, w->day);
	out->tm_yday = yday;
	out->tm_isdst = -1;
}

int cronexpr_next(const struct cronexpr *c, const struct tm *after_local, struct tm *next_local)
{
	struct when w;
	int limit;

	if (!tm_valid(after_local))
		return -EINVAL;
	w = (struct when){after_local->tm_year + 1900, after_local->tm_mon + 1,
			  after_local->tm_mday, after_local->tm_hour, after_local->tm_min};
	limit = w.year + SEARCH_YEARS;
	next_minute(&w);
	while (w.year <= limit) {
		if (!(c->months >> w.month & 1))
			next_month(&w);
		else if (!day_matches(c, w.year, w.month, w.day))
			next_day(&w);
		else if (!(c->hours >> w.hour & 1))
			next_hour(&w);
		else if (!(c->minutes >> w.minute & 1))
			next_minute(&w);
		else {
			fill_tm(&w, next_local);
			return 0;
		}
	}
	return -ENOENT;
}
