/* tool_prometheus: prometheus_query, an instant or range PromQL query against the configured
 * Prometheus, answered in the compact text of prom_render().
 *
 * Arguments are checked before any request (times, step, the point count Prometheus would
 * refuse anyway), so the model gets a precise error without a round trip. Times may be
 * relative ("now-1h"): a model rarely knows the current time. The answer is capped at 1 MiB;
 * past that the model is told to narrow the query rather than given a cut JSON document.
 *
 * Rejected: an SSRF guard like web_fetch's. prometheus.url is the operator's, usually
 * internal, and the model only chooses the query, never the host.
 */
#include "tools/tool.h"

#include "core/config.h"
#include "net/httpc.h"
#include "net/prom.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BODY_CAP   (1024 * 1024)
#define OUT_CAP	   (256 * 1024)
#define MAX_POINTS 11000 /* Prometheus refuses range queries with more points per series */
#define MAX_QUERY  16384

struct tool_job {
	const struct config_prometheus *prom;
	tool_job_cb cb;
	void *arg;
	struct httpc_req *http; /* never NULL until cb fired */
	bool cancelled;
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

static void on_done(struct httpc_req *req, void *arg)
{
	struct tool_job *j = arg;
	struct buf out;
	bool is_error = true;
	const char *body;
	size_t len;

	buf_init(&out, OUT_CAP);
	if (j->cancelled) {
		buf_puts(&out, "cancelled");
	} else if (httpc_result(req) != HTTPC_OK) {
		transport_error(j, req, &out);
	} else {
		body = httpc_body(req, &len);
		is_error = prom_render(body, len, httpc_status(req), PROM_MAX_SERIES, &out) < 0;
	}
	j->cb(is_error, buf_str(&out), out.len, j->arg);
	buf_finish(&out);
	free(j);
}

static int prom_start(const struct tool_req *req, tool_job_cb cb, void *arg, struct buf *err,
		      struct tool_job **out)
{
	static const char *const headers[] = {"Accept: application/json", NULL};
	const struct config_prometheus *prom = &req->env->cfg->prometheus;
	const char *query = tool_arg_str(req->args, "query", true, err);
	struct httpc_opts o = {0};
	struct tool_job *j;
	struct range r;
	struct buf url;
	int rc;

	if (!query)
		return -EINVAL;
	if (!prom->url) {
		buf_puts(err, "prometheus_query is not configured (prometheus.url is not set)");
		return -EINVAL;
	}
	if (!*query || strlen(query) > MAX_QUERY) {
		buf_printf(err,
			   "query must be a PromQL expression of 1 to %d bytes, e.g. up or "
			   "rate(x[5m])",
			   MAX_QUERY);
		return -EINVAL;
	}
	if (parse_range(req->args, &r, err) < 0)
		return -EINVAL;
	buf_init(&url, 0); /* bounded: at most 3 bytes per byte of a capped query */
	prom_query_url(&url, prom->url, query, r.on, r.start_s, r.end_s, r.step_s);
	j = xcalloc(1, sizeof(*j));
	j->prom = prom;
	j->cb = cb;
	j->arg = arg;
	o.url = buf_str(&url);
	o.headers = headers;
	o.timeout_ms = (long)prom->timeout_s * 1000;
	o.max_response_bytes = BODY_CAP;
	rc = httpc_start(req->env->loop, &o, on_done, j, &j->http);
	buf_finish(&url);
	if (rc < 0) {
		buf_printf(err, "prometheus_query could not start a request to %s", prom->url);
		free(j);
		return -EIO;
	}
	if (out)
		*out = j;
	return 0;
}

/* The request is in flight until cb fired: its done callback reports "cancelled". */
static void prom_cancel(struct tool_job *j)
{
	j->cancelled = true;
	httpc_cancel(j->http);
}

const struct tool_def tool_def_prometheus_query = {
	.name = "prometheus_query",
	.toolset = CONFIG_TOOLSET_PROMETHEUS,
	.read_only = true,
	.description = "Run a PromQL query on Prometheus. Instant by default; give start (and end) "
		       "for a range, summarised per series.",
	.params_json = "{\"type\":\"object\",\"properties\":{"
		       "\"query\":{\"type\":\"string\",\"description\":\"PromQL\"},"
		       "\"start\":{\"type\":\"string\",\"description\":"
		       "\"range start: RFC 3339, unix seconds or now-1h\"},"
		       "\"end\":{\"type\":\"string\",\"description\":\"range end, default now\"},"
		       "\"step\":{\"type\":\"string\",\"description\":"
		       "\"e.g. 30s or 5m; default gives about 60 points\"}},"
		       "\"required\":[\"query\"]}",
	.offered = prom_offered,
	.start = prom_start,
	.cancel = prom_cancel,
};
