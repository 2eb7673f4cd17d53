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

/* Renders an answer of /api/v1/query or /api/v1/query_range (body[0..len), its HTTP status):
 * vector: one "name{label="v",...} value" line per series; matrix: one line per series with
 * the number of points, min, max and last (and the points when there are few); scalar and
 * string as they are; at most max_series series, then "... N more series"; warnings last.
 * Returns 0 with the text appended, or -EINVAL with a readable error appended (Prometheus'
 * own errorType and error, an HTTP error with the start of its body, or an unexpected
 * shape). */
int prom_render(const char *body, size_t len, long http_status, size_t max_series, struct buf *out);

#endif
