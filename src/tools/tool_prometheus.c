/* tool_prometheus: prometheus_query, a PromQL query (instant or range) or a listing (series,
 * label values, alerts, rules) against the configured Prometheus, answered in the compact
 * text of prom_render_kind(). A range query can also come back as a PNG chart (chart: "png"),
 * saved under home/media (pruned with the media Telegram brought in) and sent as a photo to
 * the turn's chat through the same outlet as send_file; a turn without a chat gets the path.
 *
 * Arguments are checked before any request (times, step, the point count Prometheus would
 * refuse anyway), so the model gets a precise error without a round trip. Times may be
 * relative ("now-1h"): a model rarely knows the current time. The answer is capped at 1 MiB;
 * past that the model is told to narrow the query rather than given a cut JSON document.
 * A chart that cannot be drawn or sent does not fail the call: the text is still the answer.
 * The chart is drawn, deflated and written (with fsync) on one of the loop's workers
 * (loop_offload), then sent from the loop: a slow SD card or a large PNG never stalls the
 * loop. A call cancelled meanwhile is answered at once; the worker's result is dropped.
 *
 * Its results taint the turn (tools_taints): alert annotations and label values are written by
 * whatever runs in the cluster, the same text that taints an Alertmanager investigation.
 *
 * Rejected: an SSRF guard like web_fetch's. prometheus.url is the operator's, usually
 * internal, and the model only chooses the query, never the host. A separate tool per
 * listing: four more schemas paid on every call for what one `kind` argument says.
 */
#include "tools/tool.h"

#include "core/config.h"
#include "core/loop.h"
#include "core/offload.h"
#include "core/safeio.h"
#include "net/httpc.h"
#include "net/prom.h"
#include "tools/chart.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BODY_CAP   (1024 * 1024)
#define OUT_CAP	   (256 * 1024)
#define MAX_POINTS 11000 /* Prometheus refuses range queries with more points per series */
#define MAX_QUERY  16384
#define MAX_LABEL  128
#define CHART_W	   800
#define CHART_H	   450
#define PNG_CAP	   (4 * 1024 * 1024)
#define CHART_DIR  "media"

struct chart_work;

struct tool_job {
	const struct config_prometheus *prom;
	const struct config *cfg;
	struct loop *loop;
	tool_job_cb cb;
	void *arg;
	struct httpc_req *http;	  /* the request, until its callback */
	struct chart_work *drawn; /* then the chart on a worker, or NULL */
	struct event *later;	  /* answers a cancel during the chart, from the loop */
	struct buf text;	  /* the answer so far (while the chart is drawn) */
	bool cancelled;
	enum prom_kind kind;
	/* chart: "png" on a range query: where it goes (the outlet outlives every turn). */
	bool chart;
	char *query, *source;
	tools_outlet_cb outlet;
	void *outlet_arg;
};

/* kind: what the model may ask for, and what each needs. */
struct kind_def {
	const char *name;
	enum prom_kind kind;
	bool needs_query; /* query is the PromQL (query) or series selector (series) */
	bool takes_range; /* start/end apply */
};

static const struct kind_def kinds[] = {
	{"query", PROM_KIND_QUERY, true, true},
	{"series", PROM_KIND_SERIES, true, true},
	{"label_values", PROM_KIND_LABEL_VALUES, false, true},
	{"alerts", PROM_KIND_ALERTS, false, false},
	{"rules", PROM_KIND_RULES, false, false},
};

struct range {
	bool on;
	double start_s, end_s, step_s;
};

static bool prom_offered(const struct tools_env *env)
{
	return env->cfg->prometheus.url != NULL;
}

/* A time given as a string (RFC 3339, unix seconds, now-1h) or a JSON number (unix seconds).
 * Returns 1 when present, 0 when absent, -EINVAL with the reason in err. */
static int time_arg(const cJSON *args, const char *name, double now_s, double *out, struct buf *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(args, name);

	if (!item || cJSON_IsNull(item))
		return 0;
	if (cJSON_IsNumber(item) && item->valuedouble >= 0) {
		*out = item->valuedouble;
		return 1;
	}
	if (cJSON_IsString(item) && prom_parse_time(item->valuestring, now_s, out) == 0)
		return 1;
	buf_printf(err,
		   "%s must be an RFC 3339 time (2024-05-01T12:00:00Z), unix seconds, or relative "
		   "to now (now-1h, now-30m)",
		   name);
	return -EINVAL;
}

/* step as a duration string ("30s", "5m") or a number of seconds. */
static int step_arg(const cJSON *args, double *out, struct buf *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(args, "step");

	if (!item || cJSON_IsNull(item))
		return 0;
	if (cJSON_IsNumber(item) && item->valuedouble > 0) {
		*out = item->valuedouble;
		return 1;
	}
	if (cJSON_IsString(item) && prom_parse_duration(item->valuestring, out) == 0)
		return 1;
	buf_puts(err, "step must be a duration like 30s, 5m or 1h (or seconds)");
	return -EINVAL;
}

/* start/end/step: a range query when start or end is given (end defaults to now, start to an
 * hour before end). */
static int parse_range(const cJSON *args, struct range *r, struct buf *err)
{
	double now_s = (double)now_wall_ms() / 1000.0;
	int has_start, has_end, has_step;

	memset(r, 0, sizeof(*r));
	r->end_s = now_s;
	has_end = time_arg(args, "end", now_s, &r->end_s, err);
	r->start_s = r->end_s - 3600;
	has_start = time_arg(args, "start", now_s, &r->start_s, err);
	has_step = step_arg(args, &r->step_s, err);
	if (has_start < 0 || has_end < 0 || has_step < 0)
		return -EINVAL;
	r->on = has_start || has_end;
	if (!r->on) {
		if (has_step)
			buf_puts(err, "step applies to range queries only: give start (and end)");
		return has_step ? -EINVAL : 0;
	}
	if (r->start_s >= r->end_s) {
		buf_puts(err, "start must be before end");
		return -EINVAL;
	}
	if (!has_step)
		r->step_s = prom_default_step(r->start_s, r->end_s);
	if ((r->end_s - r->start_s) / r->step_s > MAX_POINTS) {
		buf_printf(err, "start to end in steps of %gs is over %d points; use a larger step",
			   r->step_s, MAX_POINTS);
		return -EINVAL;
	}
	return 0;
}

static void transport_error(const struct tool_job *j, const struct httpc_req *req, struct buf *out)
{
	switch (httpc_result(req)) {
	case HTTPC_TOO_BIG:
		buf_puts(out, "prometheus_query: the answer is over 1 MiB; narrow the query (label "
			      "matchers, sum or topk by a few labels, or a larger step)");
		break;
	case HTTPC_TIMEOUT:
		buf_printf(
			out,
			"prometheus_query timed out after %lld s (prometheus.timeout_s); simplify "
			"the query or shorten the range",
			(long long)j->prom->timeout_s);
		break;
	case HTTPC_CONNECT:
		buf_printf(out, "prometheus_query could not reach Prometheus at %s: %s",
			   j->prom->url, httpc_error(req));
		break;
	default:
		buf_printf(out, "prometheus_query failed: %s", httpc_error(req));
		break;
	}
}

static void job_free(struct tool_job *j)
{
	if (j->later)
		event_free(j->later);
	buf_finish(&j->text);
	free(j->query);
	free(j->source);
	free(j);
}

/* A chart drawn on a worker: copies of what it reads, and what happened. */
struct chart_work {
	struct tool_job *j; /* NULL once the call was answered (cancelled): only freed */
	char *body, *title, *home;
	size_t len;
	char rel[96]; /* media/chart-<ms>-<n>.png, chosen on the loop */
	int stage;    /* where it stopped: 0 parse, 1 draw, 2 save, 3 saved */
	int rc;
	size_t png_len, n, total;
};

/* Writes the PNG as home/rel (in home/media). */
static int save_png(const char *home, const struct buf *png, const char *rel)
{
	int home_fd = safeio_open_home(home), rc;

	rc = home_fd < 0 ? home_fd : safeio_mkdirs_at(home_fd, CHART_DIR, 0700);
	if (rc == 0)
		rc = safeio_write_atomic_at(home_fd, rel, png->data, png->len, 0600);
	if (home_fd >= 0)
		close(home_fd);
	return rc;
}

static int draw(const struct prom_matrix *m, const char *title, struct buf *png)
{
	struct chart_series series[CHART_MAX_SERIES];
	struct chart c = {CHART_W, CHART_H, title, series, m->n};
	size_t i;

	for (i = 0; i < m->n; i++)
		series[i] = (struct chart_series){m->lines[i].label, m->lines[i].t_s, m->lines[i].v,
						  m->lines[i].n};
	return chart_png(&c, png, NULL);
}

/* On the worker: parse, draw, deflate, write. */
static void chart_work(void *arg)
{
	struct chart_work *w = arg;
	struct prom_matrix m;
	struct buf png;

	buf_init(&png, PNG_CAP);
	w->rc = prom_matrix_parse(w->body, w->len, CHART_MAX_SERIES, CHART_MAX_POINTS, &m);
	if (w->rc < 0 || m.n == 0)
		goto out;
	w->n = m.n;
	w->total = m.total;
	w->stage = 1;
	w->rc = draw(&m, w->title, &png);
	if (w->rc < 0)
		goto out;
	w->stage = 2;
	w->png_len = png.len;
	w->rc = save_png(w->home, &png, w->rel);
	if (w->rc == 0)
		w->stage = 3;
out:
	prom_matrix_finish(&m);
	buf_finish(&png);
}

static void chart_work_free(struct chart_work *w)
{
	free(w->body);
	free(w->title);
	free(w->home);
	free(w);
}

/* What happened to the chart, appended to out; a saved one is sent to the chat. */
static void chart_note(struct tool_job *j, const struct chart_work *w, struct buf *out)
{
	char err[200] = "", caption[160], *query;
	int rc;

	if (w->stage == 0) {
		buf_puts(out, "\nchart: nothing to draw (no series)");
		return;
	}
	if (w->stage == 1) {
		buf_printf(out, "\nchart: not drawn (%s)",
			   w->rc == -ENODATA ? "no series has a number in the range"
					     : strerror(-w->rc));
		return;
	}
	if (w->stage == 2) {
		buf_printf(out, "\nchart: could not be saved under home/%s (%s)", CHART_DIR,
			   safeio_strerror(w->rc));
		return;
	}
	query = utf8_clip_dup(j->query, 120, true);
	snprintf(caption, sizeof(caption), "%s%s", query,
		 w->total > w->n ? " (first 8 series)" : "");
	free(query);
	rc = j->outlet ? j->outlet(j->source, "sendPhoto", w->rel, caption, err, sizeof(err),
				   j->outlet_arg)
		       : -ENOTSUP;
	if (rc == 0)
		buf_printf(out, "\nchart: sent to the chat as a photo (%s, %zu bytes)", w->rel,
			   w->png_len);
	else if (rc == -ENOTSUP)
		buf_printf(out, "\nchart: saved as %s/%s (this turn has no chat to send it to)",
			   j->cfg->home, w->rel);
	else
		buf_printf(out, "\nchart: saved as %s/%s but not sent: %s", j->cfg->home, w->rel,
			   err);
	if (w->total > w->n)
		buf_printf(out, "; it shows the first %zu of %zu series", w->n, w->total);
}

/* The one answer of the call; frees it. */
static void finish(struct tool_job *j, bool is_error)
{
	j->cb(is_error, buf_str(&j->text), j->text.len, j->arg);
	job_free(j);
}

/* From the loop, once the worker is done. */
static void chart_done(void *arg)
{
	struct chart_work *w = arg;
	struct tool_job *j = w->j;

	if (j) {
		j->drawn = NULL;
		chart_note(j, w, &j->text);
		finish(j, false);
	}
	chart_work_free(w);
}

/* loop_destroy came first: nobody is left to answer. */
static void chart_abandon(void *arg)
{
	struct chart_work *w = arg;

	if (w->j)
		job_free(w->j);
	chart_work_free(w);
}

/* Hands the chart of a range answer to a worker; false when none could take it (the reason
 * is then appended to the answer). */
static bool chart_start(struct tool_job *j, const char *body, size_t len)
{
	static unsigned seq;
	struct chart_work *w = xcalloc(1, sizeof(*w));

	w->j = j;
	w->body = xstrndup(body, len);
	w->len = len;
	w->title = xstrdup(j->query);
	w->home = xstrdup(j->cfg->home);
	snprintf(w->rel, sizeof(w->rel), CHART_DIR "/chart-%lld-%u.png", (long long)now_wall_ms(),
		 ++seq);
	if (offload_run(loop_offload(j->loop), chart_work, chart_done, chart_abandon, w) < 0) {
		chart_work_free(w);
		buf_puts(&j->text, "\nchart: not drawn (every worker is busy; try again)");
		return false;
	}
	j->drawn = w;
	return true;
}

static void on_done(struct httpc_req *req, void *arg)
{
	struct tool_job *j = arg;
	bool is_error = true;
	const char *body;
	size_t len;

	j->http = NULL;
	if (j->cancelled) {
		buf_puts(&j->text, "cancelled");
	} else if (httpc_result(req) != HTTPC_OK) {
		transport_error(j, req, &j->text);
	} else {
		body = httpc_body(req, &len);
		is_error = prom_render_kind(j->kind, body, len, httpc_status(req), PROM_MAX_SERIES,
					    &j->text) < 0;
		if (!is_error && j->chart && chart_start(j, body, len))
			return; /* answered by chart_done */
	}
	finish(j, is_error);
}

static const struct kind_def *kind_arg(const cJSON *args, struct buf *err)
{
	const char *name = tool_arg_str(args, "kind", false, err);
	size_t i;

	if (!name)
		return err->len ? NULL : &kinds[0];
	for (i = 0; i < ARRAY_LEN(kinds); i++)
		if (strcmp(name, kinds[i].name) == 0)
			return &kinds[i];
	buf_puts(err, "kind must be query, series, label_values, alerts or rules");
	return NULL;
}

static bool label_name_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
		      (i > 0 && s[i] >= '0' && s[i] <= '9')))
			return false;
	return i > 0 && i <= MAX_LABEL;
}

/* The arguments of one kind: query, label, range and chart. */
static int check_args(const struct kind_def *k, const cJSON *args, const char *query,
		      const char *label, struct range *r, bool *want_chart, struct buf *err)
{
	const char *chart_arg = tool_arg_str(args, "chart", false, err);

	if (err->len)
		return -EINVAL;
	if (k->needs_query && !query) {
		buf_printf(err, "kind %s needs query (%s)", k->name,
			   k->kind == PROM_KIND_SERIES ? "a series selector like up{job=\"node\"}"
						       : "PromQL");
		return -EINVAL;
	}
	if (query && (!*query || strlen(query) > MAX_QUERY)) {
		buf_printf(err,
			   "query must be a PromQL expression of 1 to %d bytes, e.g. up or "
			   "rate(x[5m])",
			   MAX_QUERY);
		return -EINVAL;
	}
	if (k->kind == PROM_KIND_LABEL_VALUES && (!label || !label_name_ok(label))) {
		buf_puts(err, "kind label_values needs label: a label name like job or __name__");
		return -EINVAL;
	}
	if (parse_range(args, r, err) < 0)
		return -EINVAL;
	if (r->on && !k->takes_range) {
		buf_printf(err, "kind %s takes no start or end (it answers for now)", k->name);
		return -EINVAL;
	}
	if (r->on && k->kind != PROM_KIND_QUERY && cJSON_GetObjectItemCaseSensitive(args, "step")) {
		buf_puts(err, "step applies to range queries only");
		return -EINVAL;
	}
	*want_chart = chart_arg && strcmp(chart_arg, "none") != 0;
	if (chart_arg && strcmp(chart_arg, "png") != 0 && strcmp(chart_arg, "none") != 0) {
		buf_puts(err, "chart must be \"png\" (or \"none\")");
		return -EINVAL;
	}
	if (*want_chart && (k->kind != PROM_KIND_QUERY || !r->on)) {
		buf_puts(err, "chart: \"png\" draws a range query: give query and start (and end)");
		return -EINVAL;
	}
	return 0;
}

static int prom_start(const struct tool_req *req, tool_job_cb cb, void *arg, struct buf *err,
		      struct tool_job **out)
{
	static const char *const headers[] = {"Accept: application/json", NULL};
	const struct config_prometheus *prom = &req->env->cfg->prometheus;
	const struct kind_def *k = kind_arg(req->args, err);
	const char *query = tool_arg_str(req->args, "query", false, err);
	const char *label = tool_arg_str(req->args, "label", false, err);
	struct httpc_opts o = {0};
	struct tool_job *j;
	struct range r;
	struct buf url;
	bool want_chart = false;
	int rc;

	if (!k || err->len)
		return -EINVAL;
	if (!prom->url) {
		buf_puts(err, "prometheus_query is not configured (prometheus.url is not set)");
		return -EINVAL;
	}
	if (check_args(k, req->args, query, label, &r, &want_chart, err) < 0)
		return -EINVAL;
	buf_init(&url, 0); /* bounded: at most 3 bytes per byte of a capped query */
	if (k->kind == PROM_KIND_QUERY)
		prom_query_url(&url, prom->url, query, r.on, r.start_s, r.end_s, r.step_s);
	else
		prom_api_url(&url, prom->url, k->kind,
			     k->kind == PROM_KIND_LABEL_VALUES ? label : query, r.on, r.start_s,
			     r.end_s);
	j = xcalloc(1, sizeof(*j));
	j->prom = prom;
	j->cfg = req->env->cfg;
	j->loop = req->env->loop;
	buf_init(&j->text, OUT_CAP);
	j->cb = cb;
	j->arg = arg;
	j->kind = k->kind;
	j->chart = want_chart;
	j->query = xstrdup(query ? query : "");
	j->source = xstrdup(req->source ? req->source : "");
	j->outlet = req->outlet;
	j->outlet_arg = req->outlet_arg;
	o.url = buf_str(&url);
	o.headers = headers;
	o.timeout_ms = (long)prom->timeout_s * 1000;
	o.max_response_bytes = BODY_CAP;
	rc = httpc_start(req->env->loop, &o, on_done, j, &j->http);
	buf_finish(&url);
	if (rc < 0) {
		buf_printf(err, "prometheus_query could not start a request to %s", prom->url);
		job_free(j);
		return -EIO;
	}
	if (out)
		*out = j;
	return 0;
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
	struct tool_job *j = arg;

	buf_reset(&j->text);
	buf_puts(&j->text, "cancelled");
	finish(j, true);
}

/* While the request is in flight its done callback reports "cancelled"; while the chart is
 * drawn the call is answered from the loop at once and the worker's result dropped. */
static void prom_cancel(struct tool_job *j)
{
	if (j->cancelled)
		return;
	j->cancelled = true;
	if (j->http) {
		httpc_cancel(j->http);
		return;
	}
	j->drawn->j = NULL;
	j->drawn = NULL;
	j->later = evtimer_new(loop_base(j->loop), on_later, j);
	if (!j->later)
		abort();
	event_active(j->later, EV_TIMEOUT, 1);
}

const struct tool_def tool_def_prometheus_query = {
	.name = "prometheus_query",
	.toolset = CONFIG_TOOLSET_PROMETHEUS,
	.read_only = true,
	.taints = true,
	.description = "Query Prometheus: PromQL (instant; start/end for a range, summarised per "
		       "series with a sparkline; chart png sends a line chart), or list series, "
		       "label values, alerts or rules.",
	.params_json = "{\"type\":\"object\",\"properties\":{"
		       "\"kind\":{\"type\":\"string\",\"enum\":[\"query\",\"series\","
		       "\"label_values\",\"alerts\",\"rules\"],\"description\":\"default query\"},"
		       "\"query\":{\"type\":\"string\",\"description\":"
		       "\"PromQL; for series a selector\"},"
		       "\"label\":{\"type\":\"string\",\"description\":\"label_values: name\"},"
		       "\"start\":{\"type\":\"string\",\"description\":"
		       "\"range start: RFC 3339, unix seconds or now-1h\"},"
		       "\"end\":{\"type\":\"string\",\"description\":\"range end, default now\"},"
		       "\"step\":{\"type\":\"string\",\"description\":"
		       "\"e.g. 30s or 5m; default gives about 60 points\"},"
		       "\"chart\":{\"type\":\"string\",\"enum\":[\"png\"],\"description\":"
		       "\"range query: also send a PNG chart to the chat\"}}}",
	.offered = prom_offered,
	.start = prom_start,
	.cancel = prom_cancel,
};
