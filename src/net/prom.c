/* prom: arguments and answers of Prometheus' HTTP API, as text a model reads cheaply.
 *
 * A range query can return thousands of points per series; a model needs their shape, not
 * the numbers, so a matrix series becomes one line (points, min, max, last) and only short
 * series list their points. Labels that every shown series shares (job, instance) are
 * written once in the header instead of on every line. Values stay the strings Prometheus sent
 * ("0.1", "NaN", "+Inf") so nothing is lost or reformatted; min and max compare them as numbers.
 * Label values are cut at 200 bytes and the whole text stops growing at 32 KiB, whatever the series
 * count.
 *
 * Rejected: passing the JSON through (a 60-point matrix of 50 series is ~100 KiB of tokens),
 * and a relative-time syntax of our own beyond "now-1h" (Grafana's "now-1d/d" rounding):
 * models rarely need it and RFC 3339 covers the rest.
 */
#include "net/prom.h"
#include "core/json.h"
#include "net/html_text.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LABEL_VALUE_MAX 200
#define FEW_POINTS	10	    /* series with at most this many points list them */
#define SOFT_CAP_BYTES	(32 * 1024) /* no more series once the text is this long */
#define EXCERPT_BYTES	300	    /* of a body that is not the API's JSON */
#define MAX_COMMON	32	    /* labels factored out of the series lines */
#define SPARK_WIDTH	40	    /* characters of a series' sparkline */

/* ---- arguments ---- */

struct unit {
	const char *name;
	double seconds;
};

static const struct unit units[] = {
	{"ms", 0.001}, {"s", 1},      {"m", 60},       {"h", 3600},
	{"d", 86400},  {"w", 604800}, {"y", 31536000},
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static const struct unit *find_unit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(units); i++)
		if (strlen(units[i].name) == n && memcmp(units[i].name, s, n) == 0)
			return &units[i];
	return NULL;
}

int prom_parse_duration(const char *s, double *out)
{
	double total = 0, v;
	const struct unit *u;
	const char *p = s;
	size_t n;

	if (parse_double(s, &v) == 0) {
		if (!isfinite(v) || !(v > 0))
			return -EINVAL;
		*out = v;
		return 0;
	}
	if (!*p)
		return -EINVAL;
	while (*p) {
		/* Components are whole numbers with a unit: "1h30m". */
		for (v = 0; is_digit(*p); p++)
			v = v < 1e12 ? v * 10 + (*p - '0') : v;
		if (p == s)
			return -EINVAL;
		for (n = 0; is_lower(p[n]); n++)
			;
		u = find_unit(p, n);
		if (!u)
			return -EINVAL;
		total += v * u->seconds;
		p += n;
		s = p;
	}
	if (!(total > 0))
		return -EINVAL;
	*out = total;
	return 0;
}

/* Exactly n digits at *pp, advanced past them. */
static bool digits(const char **pp, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!is_digit((*pp)[i]))
			return false;
		v = v * 10 + ((*pp)[i] - '0');
	}
	*pp += n;
	*out = v;
	return true;
}

static bool expect(const char **pp, const char *one_of)
{
	if (!**pp || !strchr(one_of, **pp))
		return false;
	(*pp)++;
	return true;
}

/* "+02:00" / "-05:30" / "Z" (or nothing: UTC) into seconds east of UTC. */
static bool zone(const char *p, int *off_s)
{
	int sign, h, m;

	*off_s = 0;
	if (*p == '\0' || ((*p == 'Z' || *p == 'z') && p[1] == '\0'))
		return true;
	if (*p != '+' && *p != '-')
		return false;
	sign = *p++ == '-' ? -1 : 1;
	if (!digits(&p, 2, &h) || !expect(&p, ":") || !digits(&p, 2, &m) || *p || h > 23 || m > 59)
		return false;
	*off_s = sign * (h * 3600 + m * 60);
	return true;
}

static int parse_rfc3339(const char *p, double *out)
{
	struct tm tm = {0};
	int y, mo, d, h = 0, mi = 0, sec = 0, off;
	double frac = 0, scale = 0.1;
	time_t t;

	if (!digits(&p, 4, &y) || !expect(&p, "-") || !digits(&p, 2, &mo) || !expect(&p, "-") ||
	    !digits(&p, 2, &d))
		return -EINVAL;
	if (*p && (!expect(&p, "Tt ") || !digits(&p, 2, &h) || !expect(&p, ":") ||
		   !digits(&p, 2, &mi) || !expect(&p, ":") || !digits(&p, 2, &sec)))
		return -EINVAL;
	if (*p == '.')
		for (p++; is_digit(*p); p++, scale /= 10)
			frac += (*p - '0') * scale;
	if (!zone(p, &off) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm moves Feb 30 to March: such a date does not exist. */
	if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -EINVAL;
	*out = (double)t + frac - off;
	return 0;
}

int prom_parse_time(const char *s, double now_s, double *out)
{
	double d;

	if (strncmp(s, "now", 3) == 0) {
		s += 3;
		if (!*s) {
			*out = now_s;
			return 0;
		}
		if (*s != '-' && *s != '+')
			return -EINVAL;
	}
	if (*s == '-' || *s == '+') {
		if (prom_parse_duration(s + 1, &d) < 0)
			return -EINVAL;
		*out = *s == '-' ? now_s - d : now_s + d;
		return 0;
	}
	if (parse_double(s, &d) < 0)
		return parse_rfc3339(s, out);
	if (d < 0)
		return -EINVAL;
	*out = d;
	return 0;
}

double prom_default_step(double start_s, double end_s)
{
	double step = ceil((end_s - start_s) / PROM_MAX_POINTS);

	return step >= 1 ? step : 1;
}

static void put_encoded(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit((char)c) ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			buf_append(out, s, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};

			buf_append(out, e, 3);
		}
	}
}

void prom_query_url(struct buf *out, const char *base, const char *query, bool range,
		    double start_s, double end_s, double step_s)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	buf_append(out, base, n);
	buf_puts(out, range ? "/api/v1/query_range?query=" : "/api/v1/query?query=");
	put_encoded(out, query);
	if (range)
		buf_printf(out, "&start=%.3f&end=%.3f&step=%.3f", start_s, end_s, step_s);
}

/* ---- sparkline ---- */

void prom_sparkline(const double *v, size_t n, size_t width, struct buf *out)
{
	static const char *const bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
	double lo = INFINITY, hi = -INFINITY, x;
	size_t i, k, from, to;

	if (width == 0)
		return;
	for (i = 0; i < n; i++) {
		if (!isfinite(v[i]))
			continue;
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
	}
	if (n < width)
		width = n;
	for (k = 0; k < width; k++) {
		/* A bucket shows its largest value: a spike stays visible however long the range.
		 */
		from = k * n / width;
		to = (k + 1) * n / width;
		x = NAN;
		for (i = from; i < to; i++)
			if (isfinite(v[i]) && (isnan(x) || v[i] > x))
				x = v[i];
		if (isnan(x))
			buf_puts(out, " ");
		else if (hi <= lo)
			buf_puts(out, bars[0]);
		else
			buf_puts(out, bars[(int)lround((x - lo) / (hi - lo) * 7)]);
	}
}

/* path is the endpoint's, with the label name of label values encoded into it. */
void prom_api_url(struct buf *out, const char *base, enum prom_kind kind, const char *arg,
		  bool range, double start_s, double end_s)
{
	size_t n = strlen(base);
	char sep = '?';

	while (n > 0 && base[n - 1] == '/')
		n--;
	buf_append(out, base, n);
	switch (kind) {
	case PROM_KIND_SERIES:
		buf_puts(out, "/api/v1/series?match%5B%5D=");
		put_encoded(out, arg ? arg : "");
		sep = '&';
		break;
	case PROM_KIND_LABEL_VALUES:
		buf_puts(out, "/api/v1/label/");
		put_encoded(out, arg ? arg : "");
		buf_puts(out, "/values");
		break;
	case PROM_KIND_ALERTS:
		buf_puts(out, "/api/v1/alerts");
		return;
	case PROM_KIND_RULES:
	default:
		buf_puts(out, "/api/v1/rules");
		return;
	}
	if (range)
		buf_printf(out, "%cstart=%.3f&end=%.3f", sep, start_s, end_s);
}

/* ---- rendering ---- */

static void put_time(struct buf *out, double t, bool time_only)
{
	char s[40];
	struct tm tm;
	time_t whole;
	int ms;

	if (!isfinite(t) || fabs(t) > 1e11) {
		buf_printf(out, "%g", t);
		return;
	}
	whole = (time_t)floor(t);
	ms = (int)lround((t - floor(t)) * 1000);
	if (ms == 1000) {
		whole++;
		ms = 0;
	}
	if (!gmtime_r(&whole, &tm)) {
		buf_printf(out, "%g", t);
		return;
	}
	strftime(s, sizeof(s), time_only ? "%H:%M:%S" : "%Y-%m-%dT%H:%M:%S", &tm);
	buf_puts(out, s);
	if (ms)
		buf_printf(out, ".%03d", ms);
	if (!time_only)
		buf_puts(out, "Z");
}

/* A label value, escaped as PromQL writes it and cut at a character boundary. */
static void put_escaped(struct buf *out, const char *s)
{
	size_t n = strlen(s), i;

	if (n > LABEL_VALUE_MAX) {
		n = LABEL_VALUE_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_printf(out, "\\%c", s[i]);
		else if (s[i] == '\n')
			buf_puts(out, "\\n");
		else
			buf_append(out, s + i, 1);
	}
	if (n < strlen(s))
		buf_puts(out, "...");
}

/* Labels every shown series has with the same value: written once, in the header. */
struct common {
	const cJSON *labels[MAX_COMMON]; /* items of the first series' metric */
	size_t n;
};

static bool is_label(const cJSON *l)
{
	return cJSON_IsString(l) && l->string && strcmp(l->string, "__name__") != 0;
}

static bool is_common(const struct common *c, const char *name)
{
	size_t i;

	for (i = 0; c && i < c->n; i++)
		if (strcmp(c->labels[i]->string, name) == 0)
			return true;
	return false;
}

static void find_common(const cJSON *result, size_t max_series, struct common *c)
{
	const cJSON *s = cJSON_GetArrayItem(result, 0);
	const cJSON *l, *o;
	size_t i, k, seen = 0;

	c->n = 0;
	if (cJSON_GetArraySize(result) < 2 || max_series < 2)
		return;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(
				      s, "metric")) if (c->n < MAX_COMMON && is_label(l))
		c->labels[c->n++] = l;
	cJSON_ArrayForEach(s, result)
	{
		if (seen++ >= max_series)
			break;
		for (i = k = 0; i < c->n; i++) {
			o = cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(s, "metric"),
				c->labels[i]->string);
			if (cJSON_IsString(o) &&
			    strcmp(o->valuestring, c->labels[i]->valuestring) == 0)
				c->labels[k++] = c->labels[i];
		}
		c->n = k;
	}
}

static void put_label(struct buf *out, const cJSON *l, bool first)
{
	buf_puts(out, first ? "{" : ",");
	put_escaped(out, l->string);
	buf_puts(out, "=\"");
	put_escaped(out, l->valuestring);
	buf_puts(out, "\"");
}

static void put_common(struct buf *out, const struct common *c)
{
	size_t i;

	if (c->n == 0)
		return;
	buf_puts(out, "; every series below has ");
	for (i = 0; i < c->n; i++)
		put_label(out, c->labels[i], i == 0);
	buf_puts(out, "}");
}

/* name{label="value",...} without the common labels; "{}" when nothing is left. */
static void put_series(struct buf *out, const cJSON *metric, const struct common *c)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(metric, "__name__");
	const cJSON *l;
	bool first = true;

	if (cJSON_IsString(name))
		put_escaped(out, name->valuestring);
	cJSON_ArrayForEach(l, metric)
	{
		if (!is_label(l) || is_common(c, l->string))
			continue;
		put_label(out, l, first);
		first = false;
	}
	if (!first)
		buf_puts(out, "}");
	else if (!cJSON_IsString(name))
		buf_puts(out, "{}");
}

/* [time, "value"] */
static bool sample(const cJSON *v, double *t, const char **val)
{
	const cJSON *ts = cJSON_GetArrayItem(v, 0), *s = cJSON_GetArrayItem(v, 1);

	if (!cJSON_IsArray(v) || !cJSON_IsNumber(ts) || !cJSON_IsString(s))
		return false;
	*t = ts->valuedouble;
	*val = s->valuestring;
	return true;
}

/* A native histogram sample [time, {"count":..,"sum":..}] as "histogram count=.. sum=..". */
static bool histogram(const cJSON *v, struct buf *out)
{
	const cJSON *h = cJSON_GetArrayItem(v, 1);
	const cJSON *count = cJSON_GetObjectItemCaseSensitive(h, "count");
	const cJSON *sum = cJSON_GetObjectItemCaseSensitive(h, "sum");

	if (!cJSON_IsArray(v) || !cJSON_IsObject(h))
		return false;
	buf_printf(out, "histogram count=%s sum=%s",
		   cJSON_IsString(count) ? count->valuestring : "?",
		   cJSON_IsString(sum) ? sum->valuestring : "?");
	return true;
}

/* Appends "... N more series" when not every series was shown. */
static void more(struct buf *out, size_t shown, size_t total)
{
	if (shown < total)
		buf_printf(out, "\n... %zu more series", total - shown);
}

/* Another series may be shown: fewer than max so far, and the text is not long yet. */
static bool room_for_series(const struct buf *out, size_t start_len, size_t shown, size_t max)
{
	return shown < max && out->len - start_len < SOFT_CAP_BYTES;
}

static int render_vector(const cJSON *result, size_t max_series, struct buf *out)
{
	size_t total = (size_t)cJSON_GetArraySize(result), shown = 0, start = out->len;
	struct common c;
	const cJSON *s;
	const char *val;
	double t;

	if (total == 0) {
		buf_puts(out, "vector: no series (the query matched nothing)");
		return 0;
	}
	s = cJSON_GetArrayItem(result, 0);
	buf_printf(out, "vector: %zu series", total);
	if (sample(cJSON_GetObjectItemCaseSensitive(s, "value"), &t, &val)) {
		buf_puts(out, " at ");
		put_time(out, t, false);
	}
	find_common(result, max_series, &c);
	put_common(out, &c);
	cJSON_ArrayForEach(s, result)
	{
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "value");

		if (!room_for_series(out, start, shown, max_series))
			break;
		buf_puts(out, "\n");
		put_series(out, cJSON_GetObjectItemCaseSensitive(s, "metric"), &c);
		buf_puts(out, " ");
		if (sample(v, &t, &val))
			buf_puts(out, val);
		else if (!histogram(cJSON_GetObjectItemCaseSensitive(s, "histogram"), out))
			buf_puts(out, "?");
		shown++;
	}
	more(out, shown, total);
	return 0;
}

struct stats {
	size_t points;
	const char *min, *max, *last;
	double min_v, max_v, first_t, last_t;
};

static void series_stats(const cJSON *values, struct stats *st)
{
	const cJSON *v;
	const char *val;
	double t, x;

	memset(st, 0, sizeof(*st));
	cJSON_ArrayForEach(v, values)
	{
		if (!sample(v, &t, &val))
			continue;
		if (st->points++ == 0)
			st->first_t = t;
		st->last_t = t;
		st->last = val;
		x = strtod(val, NULL);
		if (isnan(x))
			continue;
		if (!st->min || x < st->min_v) {
			st->min = val;
			st->min_v = x;
		}
		if (!st->max || x > st->max_v) {
			st->max = val;
			st->max_v = x;
		}
	}
}

/* " ▁▃█" of a series' values (read as numbers), at most SPARK_WIDTH characters. */
static void put_spark(struct buf *out, const cJSON *values, size_t points)
{
	double *v;
	const cJSON *item;
	const char *val;
	double t;
	size_t n = 0;

	if (points == 0)
		return;
	v = xmalloc(points * sizeof(*v));
	cJSON_ArrayForEach(item, values) if (n < points && sample(item, &t, &val)) v[n++] =
		strtod(val, NULL);
	buf_puts(out, " ");
	prom_sparkline(v, n, SPARK_WIDTH, out);
	free(v);
}

static void put_points(struct buf *out, const cJSON *values, bool time_only)
{
	const cJSON *v;
	const char *val;
	double t;
	bool first = true;

	buf_puts(out, " [");
	cJSON_ArrayForEach(v, values)
	{
		if (!sample(v, &t, &val))
			continue;
		buf_puts(out, first ? "" : " ");
		first = false;
		put_time(out, t, time_only);
		buf_printf(out, "=%s", val);
	}
	buf_puts(out, "]");
}

static void put_matrix_series(struct buf *out, const cJSON *s, const struct common *c,
			      bool time_only)
{
	const cJSON *values = cJSON_GetObjectItemCaseSensitive(s, "values");
	const cJSON *hist = cJSON_GetObjectItemCaseSensitive(s, "histograms");
	struct stats st;

	buf_puts(out, "\n");
	put_series(out, cJSON_GetObjectItemCaseSensitive(s, "metric"), c);
	series_stats(values, &st);
	if (st.points == 0 && cJSON_GetArraySize(hist) > 0) {
		buf_printf(out, " histograms=%d", cJSON_GetArraySize(hist));
		return;
	}
	buf_printf(out, " points=%zu min=%s max=%s last=%s", st.points, st.min ? st.min : "NaN",
		   st.max ? st.max : "NaN", st.last ? st.last : "-");
	put_spark(out, values, st.points);
	if (st.points > 0 && st.points <= FEW_POINTS)
		put_points(out, values, time_only);
}

/* The time span of every series' points, for the header. */
static void matrix_span(const cJSON *result, double *from, double *to)
{
	const cJSON *s;
	struct stats st;

	*from = INFINITY;
	*to = -INFINITY;
	cJSON_ArrayForEach(s, result)
	{
		series_stats(cJSON_GetObjectItemCaseSensitive(s, "values"), &st);
		if (st.points > 0 && st.first_t < *from)
			*from = st.first_t;
		if (st.points > 0 && st.last_t > *to)
			*to = st.last_t;
	}
}

static int render_matrix(const cJSON *result, size_t max_series, struct buf *out)
{
	size_t total = (size_t)cJSON_GetArraySize(result), shown = 0, start = out->len;
	struct common c;
	const cJSON *s;
	double from, to;
	bool time_only;

	if (total == 0) {
		buf_puts(out, "matrix: no series (the query matched nothing in the range)");
		return 0;
	}
	matrix_span(result, &from, &to);
	buf_printf(out, "matrix: %zu series", total);
	if (from <= to) {
		buf_puts(out, ", ");
		put_time(out, from, false);
		buf_puts(out, " to ");
		put_time(out, to, false);
	}
	find_common(result, max_series, &c);
	put_common(out, &c);
	/* Points show the time of day when the whole span lies within one day. */
	time_only = from <= to && to - from < 86400;
	cJSON_ArrayForEach(s, result)
	{
		if (!room_for_series(out, start, shown, max_series))
			break;
		put_matrix_series(out, s, &c, time_only);
		shown++;
	}
	more(out, shown, total);
	return 0;
}

static int render_scalar(const cJSON *result, const char *type, struct buf *out)
{
	const char *val;
	double t;

	if (!sample(result, &t, &val)) {
		buf_printf(out, "Prometheus sent a %s result of an unexpected shape", type);
		return -EINVAL;
	}
	buf_printf(out, "%s: ", type);
	if (strcmp(type, "string") == 0) {
		buf_puts(out, "\"");
		put_escaped(out, val);
		buf_puts(out, "\"");
	} else {
		buf_puts(out, val);
	}
	buf_puts(out, " at ");
	put_time(out, t, false);
	return 0;
}

static int render_data(const cJSON *data, size_t max_series, struct buf *out)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(data, "resultType");
	const cJSON *result = cJSON_GetObjectItemCaseSensitive(data, "result");
	const char *t = cJSON_IsString(type) ? type->valuestring : "";

	if (strcmp(t, "vector") == 0 && cJSON_IsArray(result))
		return render_vector(result, max_series, out);
	if (strcmp(t, "matrix") == 0 && cJSON_IsArray(result))
		return render_matrix(result, max_series, out);
	if (strcmp(t, "scalar") == 0)
		return render_scalar(result, "scalar", out);
	if (strcmp(t, "string") == 0)
		return render_scalar(result, "string", out);
	buf_printf(out, "Prometheus sent an answer without a known resultType ('%.40s')", t);
	return -EINVAL;
}

static void notes(const cJSON *root, const char *key, const char *label, struct buf *out)
{
	const cJSON *w;

	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(root, key)) if (cJSON_IsString(w))
		buf_printf(out, "\n%s: %s", label, w->valuestring);
}

static int api_error(const cJSON *root, long status, struct buf *out)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "errorType");
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
	const char *t = cJSON_IsString(type) ? type->valuestring : "unknown";
	const char *e = cJSON_IsString(err) ? err->valuestring : "(no message)";

	if (strcmp(t, "bad_data") == 0)
		buf_printf(out, "Prometheus rejected the query (bad_data): %s", e);
	else
		buf_printf(out, "Prometheus failed (%s, HTTP %ld): %s", t, status, e);
	return -EINVAL;
}

/* An answer that is not the API's JSON: a proxy's error page, a wrong URL. */
static int not_json(const char *body, size_t len, long status, struct buf *out)
{
	struct buf ex;
	size_t n;
	int rc;

	if (status != 200)
		buf_printf(out, "Prometheus answered HTTP %ld", status);
	else
		buf_puts(out, "Prometheus answered with something that is not its API's JSON");
	if (len == 0) {
		buf_puts(out, " with an empty body");
		return -EINVAL;
	}
	buf_init(&ex, EXCERPT_BYTES);
	if (html_text_sniff(body, len))
		rc = html_text_reduce(body, len, &ex);
	else
		rc = html_text_plain(body, len, &ex);
	n = ex.len;
	while (n > 0 && (buf_str(&ex)[n - 1] == '\n' || buf_str(&ex)[n - 1] == ' '))
		n--;
	buf_printf(out, ": %.*s%s", (int)n, buf_str(&ex), rc < 0 ? "..." : "");
	buf_finish(&ex);
	if (status == 404)
		buf_puts(out, " (is prometheus.url the base URL of Prometheus?)");
	return -EINVAL;
}

/* ---- listings: series, label values, alerts, rules ---- */

static int render_series_list(const cJSON *data, size_t max, struct buf *out)
{
	size_t total = (size_t)cJSON_GetArraySize(data), shown = 0, start = out->len;
	const cJSON *s;

	if (!cJSON_IsArray(data))
		return buf_puts(out, "Prometheus sent a series list of an unexpected shape"),
		       -EINVAL;
	if (total == 0)
		return buf_puts(out, "series: none match (in the range)"), 0;
	buf_printf(out, "series: %zu", total);
	cJSON_ArrayForEach(s, data)
	{
		if (!room_for_series(out, start, shown, max))
			break;
		buf_puts(out, "\n");
		put_series(out, s, NULL);
		shown++;
	}
	more(out, shown, total);
	return 0;
}

static int render_label_values(const cJSON *data, size_t max, struct buf *out)
{
	size_t total = (size_t)cJSON_GetArraySize(data), shown = 0, start = out->len;
	const cJSON *v;

	if (!cJSON_IsArray(data))
		return buf_puts(out, "Prometheus sent label values of an unexpected shape"),
		       -EINVAL;
	if (total == 0)
		return buf_puts(out, "label values: none (no series has this label in the range)"),
		       0;
	buf_printf(out, "label values: %zu", total);
	cJSON_ArrayForEach(v, data)
	{
		if (!cJSON_IsString(v))
			continue;
		/* Values are short: many per series line's worth, so the cap counts 4 per series.
		 */
		if (!room_for_series(out, start, shown, 4 * max))
			break;
		buf_puts(out, "\n");
		put_escaped(out, v->valuestring);
		shown++;
	}
	if (shown < total)
		buf_printf(out, "\n... %zu more values", total - shown);
	return 0;
}

static const char *str_member(const cJSON *o, const char *name, const char *def)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(m) ? m->valuestring : def;
}

/* activeAt and the like: RFC 3339 as Prometheus sends it, seconds cut off the fraction. */
static void put_since(struct buf *out, const char *rfc3339)
{
	double t;

	if (!rfc3339 || prom_parse_time(rfc3339, 0, &t) < 0)
		return;
	buf_puts(out, " since ");
	put_time(out, floor(t), false);
}

static void put_alert(struct buf *out, const cJSON *a, const char *indent)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(a, "labels");
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(a, "annotations");
	const char *summary = str_member(ann, "summary", str_member(ann, "description", NULL));
	const char *value = str_member(a, "value", NULL);
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(labels, "alertname");
	struct common c = {.n = 0};

	buf_printf(out, "\n%s%s ", indent, str_member(a, "state", "?"));
	if (cJSON_IsString(name)) {
		/* alertname leads the line, as a metric name would; not again in the braces. */
		put_escaped(out, name->valuestring);
		c.labels[c.n++] = name;
	}
	if ((size_t)cJSON_GetArraySize(labels) > c.n)
		put_series(out, labels, &c);
	put_since(out, str_member(a, "activeAt", NULL));
	if (value)
		buf_printf(out, " value=%.40s", value);
	if (summary) {
		buf_puts(out, ": ");
		put_escaped(out, summary);
	}
}

static int render_alerts(const cJSON *data, size_t max, struct buf *out)
{
	const cJSON *alerts = cJSON_GetObjectItemCaseSensitive(data, "alerts");
	size_t total = (size_t)cJSON_GetArraySize(alerts), shown = 0, firing = 0, start = out->len;
	const cJSON *a;

	if (!cJSON_IsArray(alerts))
		return buf_puts(out, "Prometheus sent alerts of an unexpected shape"), -EINVAL;
	cJSON_ArrayForEach(a, alerts) firing += strcmp(str_member(a, "state", ""), "firing") == 0;
	if (total == 0)
		return buf_puts(out, "alerts: none firing or pending"), 0;
	buf_printf(out, "alerts: %zu (%zu firing, %zu pending)", total, firing, total - firing);
	cJSON_ArrayForEach(a, alerts)
	{
		if (!room_for_series(out, start, shown, max))
			break;
		put_alert(out, a, "");
		shown++;
	}
	if (shown < total)
		buf_printf(out, "\n... %zu more alerts", total - shown);
	return 0;
}

static void put_rule(struct buf *out, const cJSON *r)
{
	const char *type = str_member(r, "type", "?");
	const char *health = str_member(r, "health", "unknown");
	const char *err = str_member(r, "lastError", "");
	bool alerting = strcmp(type, "alerting") == 0;

	buf_printf(out, "\n  %s ", alerting ? "alert" : "record");
	put_escaped(out, str_member(r, "name", "?"));
	if (alerting)
		buf_printf(out, " state=%.20s active=%d", str_member(r, "state", "?"),
			   cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "alerts")));
	buf_printf(out, " health=%.20s", health);
	if (*err) {
		buf_puts(out, " error=\"");
		put_escaped(out, err);
		buf_puts(out, "\"");
	}
	buf_puts(out, ": ");
	put_escaped(out, str_member(r, "query", ""));
}

static int render_rules(const cJSON *data, size_t max, struct buf *out)
{
	const cJSON *groups = cJSON_GetObjectItemCaseSensitive(data, "groups");
	size_t n_rules = 0, shown = 0, start = out->len;
	const cJSON *g, *r;

	if (!cJSON_IsArray(groups))
		return buf_puts(out, "Prometheus sent rules of an unexpected shape"), -EINVAL;
	cJSON_ArrayForEach(g, groups) n_rules +=
		(size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(g, "rules"));
	buf_printf(out, "rules: %d groups, %zu rules", cJSON_GetArraySize(groups), n_rules);
	cJSON_ArrayForEach(g, groups)
	{
		if (!room_for_series(out, start, shown, max))
			break;
		buf_puts(out, "\ngroup ");
		put_escaped(out, str_member(g, "name", "?"));
		buf_printf(out, " (%.200s)", str_member(g, "file", "?"));
		cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(g, "rules"))
		{
			if (!room_for_series(out, start, shown, max))
				break;
			put_rule(out, r);
			shown++;
		}
	}
	if (shown < n_rules)
		buf_printf(out, "\n... %zu more rules", n_rules - shown);
	return 0;
}

static int render_kind(enum prom_kind kind, const cJSON *data, size_t max, struct buf *out)
{
	switch (kind) {
	case PROM_KIND_SERIES:
		return render_series_list(data, max, out);
	case PROM_KIND_LABEL_VALUES:
		return render_label_values(data, max, out);
	case PROM_KIND_ALERTS:
		return render_alerts(data, max, out);
	case PROM_KIND_RULES:
		return render_rules(data, max, out);
	case PROM_KIND_QUERY:
	default:
		return render_data(data, max, out);
	}
}

int prom_render_kind(enum prom_kind kind, const char *body, size_t len, long http_status,
		     size_t max_series, struct buf *out)
{
	cJSON *root = json_parse(body, len, 0, NULL);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "status");
	const char *s = cJSON_IsString(st) ? st->valuestring : "";
	int rc;

	if (!cJSON_IsObject(root))
		rc = not_json(body, len, http_status, out);
	else if (strcmp(s, "error") == 0)
		rc = api_error(root, http_status, out);
	else if (strcmp(s, "success") == 0)
		rc = render_kind(kind, cJSON_GetObjectItemCaseSensitive(root, "data"), max_series,
				 out);
	else
		rc = not_json(body, len, http_status, out);
	if (rc == 0) {
		notes(root, "warnings", "warning", out);
		notes(root, "infos", "info", out);
	}
	cJSON_Delete(root);
	return rc;
}

int prom_render(const char *body, size_t len, long http_status, size_t max_series, struct buf *out)
{
	return prom_render_kind(PROM_KIND_QUERY, body, len, http_status, max_series, out);
}

/* ---- a matrix as numbers, for a chart ---- */

static void parse_line(const cJSON *s, size_t max_points, struct prom_line *l)
{
	const cJSON *values = cJSON_GetObjectItemCaseSensitive(s, "values");
	const cJSON *v;
	struct buf label;
	const char *val;
	double t;
	size_t n = (size_t)cJSON_GetArraySize(values);

	buf_init(&label, LABEL_VALUE_MAX + 4);
	put_series(&label, cJSON_GetObjectItemCaseSensitive(s, "metric"), NULL);
	l->label = buf_steal(&label);
	n = n < max_points ? n : max_points;
	l->t_s = xmalloc((n ? n : 1) * sizeof(double));
	l->v = xmalloc((n ? n : 1) * sizeof(double));
	l->n = 0;
	cJSON_ArrayForEach(v, values)
	{
		if (l->n == n)
			break;
		if (!sample(v, &t, &val))
			continue;
		l->t_s[l->n] = t;
		l->v[l->n++] = strtod(val, NULL);
	}
}

int prom_matrix_parse(const char *body, size_t len, size_t max_series, size_t max_points,
		      struct prom_matrix *m)
{
	cJSON *root = json_parse(body, len, 0, NULL);
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(data, "resultType");
	const cJSON *result = cJSON_GetObjectItemCaseSensitive(data, "result");
	const cJSON *s;
	int rc = -EINVAL;

	memset(m, 0, sizeof(*m));
	if (!cJSON_IsString(type) || strcmp(type->valuestring, "matrix") != 0 ||
	    !cJSON_IsArray(result))
		goto out;
	m->total = (size_t)cJSON_GetArraySize(result);
	m->lines =
		xcalloc(m->total < max_series ? m->total + 1 : max_series + 1, sizeof(*m->lines));
	cJSON_ArrayForEach(s, result)
	{
		if (m->n == max_series)
			break;
		parse_line(s, max_points, &m->lines[m->n++]);
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

void prom_matrix_finish(struct prom_matrix *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->lines[i].label);
		free(m->lines[i].t_s);
		free(m->lines[i].v);
	}
	free(m->lines);
	memset(m, 0, sizeof(*m));
}
