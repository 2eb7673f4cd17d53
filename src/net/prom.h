/* prom: the pure parts of prometheus_query: time and duration arguments, the query URL of
 * Prometheus' HTTP API, and a compact text rendering of its answers for a model. No I/O.
 */
#ifndef HERMETIC_PROM_H
#define HERMETIC_PROM_H

#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"

#define PROM_MAX_SERIES 50 /* series shown; the rest are counted */
#define PROM_MAX_POINTS 60 /* the default step aims at this many points per series */

/* A time argument: RFC 3339 ("2024-05-01T12:00:00Z", "2024-05-01T14:00:00.5+02:00"), unix
 * seconds ("1714564800", "1714564800.25"), or relative to now_s ("now", "now-1h", "-30m",
 * "now+5m"). Returns 0 with *out in unix seconds, or -EINVAL. */
int prom_parse_time(const char *s, double now_s, double *out);
/* A duration: Prometheus units ("500ms", "30s", "5m", "1h30m", "1d", "1w", "1y") or plain
 * seconds ("15", "0.5"). Returns 0 with *out > 0 in seconds, or -EINVAL. */
int prom_parse_duration(const char *s, double *out);
/* The step (whole seconds, at least 1) that gives at most PROM_MAX_POINTS points. */
double prom_default_step(double start_s, double end_s);

/* Appends the URL of an instant query (range false) or a range query to out: base (trailing
 * '/' dropped) + "/api/v1/query?query=..." with every parameter percent-encoded. */
void prom_query_url(struct buf *out, const char *base, const char *query, bool range,
		    double start_s, double end_s, double step_s);

/* What prometheus_query asks for: a PromQL query (instant or range) or a listing. */
enum prom_kind {
	PROM_KIND_QUERY,
	PROM_KIND_SERIES,	/* /api/v1/series: arg is the series selector (match[]) */
	PROM_KIND_LABEL_VALUES, /* /api/v1/label/<arg>/values: arg is the label name */
	PROM_KIND_ALERTS,	/* /api/v1/alerts */
	PROM_KIND_RULES,	/* /api/v1/rules */
};

/* Appends the URL of a listing (kind other than PROM_KIND_QUERY) to out, arg percent-encoded;
 * series and label values take the time range when range is true. */
void prom_api_url(struct buf *out, const char *base, enum prom_kind kind, const char *arg,
		  bool range, double start_s, double end_s);

/* A sparkline of v[0..n) in at most width characters of ▁▂▃▄▅▆▇█ (3 bytes each in UTF-8):
 * the points are split into width buckets (fewer when n < width), each showing its largest
 * finite value scaled between the smallest and largest of all; a bucket with no finite
 * value is a space, a flat series all ▁. */
void prom_sparkline(const double *v, size_t n, size_t width, struct buf *out);

/* Renders an answer of /api/v1/query or /api/v1/query_range (body[0..len), its HTTP status):
 * vector: one "name{label="v",...} value" line per series; matrix: one line per series with
 * the number of points, min, max and last (and the points when there are few); scalar and
 * string as they are; at most max_series series, then "... N more series"; warnings last.
 * Returns 0 with the text appended, or -EINVAL with a readable error appended (Prometheus'
 * own errorType and error, an HTTP error with the start of its body, or an unexpected
 * shape). */
int prom_render(const char *body, size_t len, long http_status, size_t max_series, struct buf *out);
/* The same for every kind. Series: one "name{labels}" line each, at most max_series; label
 * values: one per line, at most 4 * max_series; alerts: "state alertname{labels} since T
 * value=V: summary" lines, at most max_series; rules: "group NAME (file)" lines with their
 * "  alert NAME state=S active=N health=H: expr" and "  record NAME health=H: expr" lines, at
 * most max_series rules. Past the cap (or 32 KiB of text) "... N more". Errors as above. */
int prom_render_kind(enum prom_kind kind, const char *body, size_t len, long http_status,
		     size_t max_series, struct buf *out);

/* A range query's series as numbers (for a chart). Fields may be read; free with
 * prom_matrix_finish. */
struct prom_line {
	char *label; /* name{labels}, as the text shows it */
	double *t_s; /* unix seconds */
	double *v;   /* NaN where Prometheus sent NaN or something not a number */
	size_t n;
};
struct prom_matrix {
	struct prom_line *lines;
	size_t n;     /* lines parsed (at most max_series) */
	size_t total; /* series in the answer */
};
/* Parses a successful matrix answer: the first max_series series, each cut to its first
 * max_points points. 0, or -EINVAL when body is not a matrix answer (m is then empty). */
int prom_matrix_parse(const char *body, size_t len, size_t max_series, size_t max_points,
		      struct prom_matrix *m);
/* Frees what m holds; accepts an empty or zeroed m. */
void prom_matrix_finish(struct prom_matrix *m);

#endif
