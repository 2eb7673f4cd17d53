/* metrics: an in-process Prometheus registry rendered in the text exposition format.
 *
 * Families are registered once at start-up (name, help, type, label names); series are
 * created on first use with their label values, up to a cap per family (see below). Label
 * values are escaped on render.
 * Single-threaded (the event loop).
 */
#ifndef HERMETIC_METRICS_H
#define HERMETIC_METRICS_H

#include <stddef.h>

#include "core/util.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;
struct metric;

typedef void (*metrics_collect_cb)(struct metrics *m, void *arg);

struct metrics *metrics_create(void);
void metrics_destroy(struct metrics *m); /* accepts NULL */

/* Registers a family; name must match [a-zA-Z_:][a-zA-Z0-9_:]* and be new (aborts otherwise:
 * a programming error). labels is a NULL-terminated list, copied; NULL = no labels.
 * Counters are named with their _total suffix by the caller. Returns a borrowed pointer valid
 * until metrics_destroy. */
struct metric *metrics_add(struct metrics *m, enum metric_type type, const char *name,
			   const char *help, const char *const *labels);
/* Histogram with the given upper bounds (ascending, copied; +Inf is implicit). */
struct metric *metrics_add_histogram(struct metrics *m, const char *name, const char *help,
				     const char *const *labels, const double *bounds,
				     size_t n_bounds);
/* Called at the start of every render, to refresh gauges computed on demand. */
void metrics_on_collect(struct metrics *m, metrics_collect_cb cb, void *arg);

/* Bounds on what callers (and through them, clients) can make the registry hold: a label
 * value is cut to METRICS_MAX_LABEL_BYTES (at a UTF-8 boundary), and a family keeps at most
 * METRICS_MAX_SERIES series; further label combinations all count in one extra series whose
 * values are METRICS_OVERFLOW. */
#define METRICS_MAX_LABEL_BYTES 128
#define METRICS_MAX_SERIES	1000
#define METRICS_MAX_LABELS	16 /* per family; more aborts at registration */
#define METRICS_OVERFLOW	"__overflow__"

/* values: one per label, in registration order (NULL -> "None", LiteLLM's convention). */
void metric_inc(struct metric *f, const char *const *values, double by);
/* metric_inc(fs[i], values, by[i]) for each i, the values measured once (metrics with the
 * same labels). */
void metric_inc_each(struct metric *const *fs, const double *by, size_t n,
		     const char *const *values);
void metric_set(struct metric *f, const char *const *values, double v);
void metric_observe(struct metric *f, const char *const *values, double v);
/* Current value of a counter/gauge series, or the count of a histogram series; 0 if absent. */
double metric_get(struct metric *f, const char *const *values);

/* Appends the whole registry in Prometheus text format 0.0.4 to an uncapped buf: the label
 * and series caps above bound its size whatever the label values were. */
void metrics_render(struct metrics *m, struct buf *out);

/* LiteLLM's latency buckets (seconds), docs/references.md section 3. */
extern const double metrics_latency_buckets[];
extern const size_t metrics_n_latency_buckets;

#endif
