/* mcp/transport_sse: the legacy HTTP+SSE transport (protocol 2024-11-05, still served by
 * older servers). A GET opens the event stream; its first `endpoint` event names (usually
 * relatively) where to POST; answers arrive as `message` events on the stream. The endpoint is
 * resolved against the SSE URL with curl's URL API. The stream ending is a disconnect.
 */
#include "core/config.h"
#include "net/httpc.h"
#include "core/log.h"
#include "core/loop.h"
#include "mcp/mcp_big.h"
#include "mcp/transport.h"
#include "net/sse.h"
#include "core/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sse_t;

struct post {
	struct post *next;
	struct sse_t *t;
	int64_t id;
	struct httpc_req *req;
};

struct sse_t {
	struct mcp_server *s;
	struct httpc_req *get;
	struct sse_parser sse;
	struct mcp_big *big; /* an event over MCP_FRAME_CAP, streaming */
	char *endpoint;
	struct post *posts;
	int busy;
	bool dead, type_checked;
};

static void destroy(struct sse_t *t)
{
	sse_finish(&t->sse);
	mcp_big_destroy(t->big);
	free(t->endpoint);
	free(t);
}

static bool leave(struct sse_t *t)
{
	t->busy--;
	if (t->dead && !t->busy) {
		destroy(t);
		return false;
	}
	return !t->dead;
}

static char *resolve(const char *base, const char *ref)
{
	CURLU *u = curl_url();
	char *out = NULL, *res = NULL;

	if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK) {
		res = xstrdup(out);
		curl_free(out);
	}
	curl_url_cleanup(u);
	return res;
}

static int on_event(const struct sse_event *ev, void *arg)
{
	struct sse_t *t = arg;

	if (t->dead)
		return -1;
	if (strcmp(ev->event, "endpoint") == 0) {
		char *url = resolve(mcp_server_config(t->s)->url, ev->data);

		if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
			free(url);
			mcp_transport_failed(t->s,
					     "the server's endpoint event is not a usable URL");
			return -1;
		}
		if (!t->endpoint) {
			t->endpoint = url;
			mcp_transport_ready(t->s);
		} else {
			free(url);
		}
	} else if (!*ev->event || strcmp(ev->event, "message") == 0) {
		mcp_transport_message(t->s, ev->data, ev->data_len);
	}
	return t->dead ? -1 : 0;
}

/* An event over MCP_FRAME_CAP streams through mcp_big (an endpoint event is never that long). */
static int on_big_event(const char *data, size_t len, bool end, void *arg)
{
	struct sse_t *t = arg;
	char why[256];

	if (t->dead)
		return -1;
	if (!t->big)
		t->big = mcp_big_create_for(t->s);
	if (end) {
		mcp_big_hand_over(&t->big, t->s);
		return t->dead ? -1 : 0;
	}
	if (mcp_big_feed(t->big, data, len) == 0)
		return 0;
	mcp_big_failure(t->big, why, sizeof(why));
	mcp_transport_failed(t->s, why);
	return -1;
}

static int on_get_data(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	struct sse_t *t = arg;
	int rc;

	if (httpc_status(req) != 200 || t->dead)
		return t->dead ? -1 : 0;
	if (!t->type_checked) {
		const char *ct = httpc_header(req, "Content-Type");
		char why[160];

		t->type_checked = true;
		/* A url that is no legacy server (probed after a refused initialize) may answer a
		 * web page: say so now rather than wait for connect_timeout. */
		if (!ct || strncasecmp(ct, "text/event-stream", 17) != 0) {
			snprintf(why, sizeof(why),
				 "SSE stream: HTTP 200 with %.60s, not text/event-stream",
				 ct ? ct : "no Content-Type");
			mcp_transport_failed(t->s, why);
			return -1;
		}
	}
	mcp_transport_heard(t->s);
	t->busy++;
	rc = sse_feed(&t->sse, data, len);
	if (rc == -E2BIG && !t->dead)
		mcp_transport_failed(t->s, "the server sent an event line over the 4 MiB cap");
	leave(t);
	return rc < 0 ? -1 : 0;
}

/* "SSE stream: HTTP 404 (text/html)": the status and type, never the body (an error page). */
static void no_stream(char *why, size_t len, long status, const char *ctype)
{
	if (ctype)
		snprintf(why, len, "SSE stream: HTTP %ld (%.60s)", status, ctype);
	else
		snprintf(why, len, "SSE stream: HTTP %ld", status);
}

static void on_get_done(struct httpc_req *req, void *arg)
{
	struct sse_t *t = arg;
	char why[256];

	t->get = NULL;
	if (!t->dead) {
		if (httpc_result(req) != HTTPC_OK)
			snprintf(why, sizeof(why), "SSE stream: %s", httpc_error(req));
		else if (httpc_status(req) != 200)
			no_stream(why, sizeof(why), httpc_status(req),
				  httpc_header(req, "Content-Type"));
		else
			snprintf(why, sizeof(why), "the server closed the SSE stream");
		mcp_transport_failed(t->s, why);
	}
	leave(t); /* the GET's reference */
}

static int open_sse(struct mcp_server *s)
{
	const struct config_mcp_server *c = mcp_server_config(s);
	struct sse_t *t = xcalloc(1, sizeof(*t));
	char **h = xcalloc(c->n_headers + 2, sizeof(char *));
	struct httpc_opts o = {0};
	size_t i;
	int rc;

	t->s = s;
	sse_init(&t->sse, MCP_EVENT_CAP, on_event, t);
	sse_set_stream(&t->sse, MCP_FRAME_CAP, on_big_event, t);
	h[0] = xstrdup("Accept: text/event-stream");
	for (i = 0; i < c->n_headers; i++)
		h[i + 1] = xasprintf("%s: %s", c->headers[i].name, c->headers[i].value);
	o.method = "GET";
	o.url = c->url;
	o.headers = (const char *const *)h;
	o.connect_timeout_ms = (c->connect_timeout_s > 0 ? c->connect_timeout_s : 10) * 1000;
	o.on_data = on_get_data;
	rc = httpc_start(mcp_server_loop(s), &o, on_get_done, t, &t->get);
	for (i = 0; h[i]; i++)
		free(h[i]);
	free(h);
	if (rc < 0) {
		destroy(t);
		return -EIO;
	}
	t->busy = 1; /* held by the GET until its callback */
	mcp_server_set_transport_state(s, t);
	return 0;
}

static void unlink_post(struct sse_t *t, struct post *p)
{
	struct post **pp;

	for (pp = &t->posts; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

static void on_post_done(struct httpc_req *req, void *arg)
{
	struct post *p = arg;
	struct sse_t *t = p->t;
	long status = httpc_status(req);

	if (t && !t->dead) {
		unlink_post(t, p);
		if ((httpc_result(req) != HTTPC_OK || status / 100 != 2) && p->id >= 0) {
			size_t len = 0;
			const char *body = httpc_body(req, &len);
			bool ok = httpc_result(req) == HTTPC_OK;
			/* The endpoint names our session: 404, or a 400 about it, means the
			 * server forgot it (a restart). */
			bool lost = ok && (status == 404 || (status == 400 && body &&
							     memmem(body, len, "ession", 6)));
			char *why =
				ok ? mcp_http_describe(httpc_header(req, "Content-Type"), body, len)
				   : xstrdup(httpc_error(req));

			t->busy++;
			mcp_transport_request_failed(t->s, p->id, ok ? status : 0, lost, why);
			free(why);
			leave(t);
		}
	}
	free(p);
}

static int send_sse(struct mcp_server *s, const char *json, size_t len, int64_t id)
{
	struct sse_t *t = mcp_server_transport_state(s);
	static const char *const h[] = {"Content-Type: application/json", NULL};
	struct httpc_opts o = {0};
	struct post *p;

	if (!t || t->dead || !t->endpoint)
		return -EPIPE;
	p = xcalloc(1, sizeof(*p));
	p->t = t;
	p->id = id;
	o.method = "POST";
	o.url = t->endpoint;
	o.headers = h;
	o.body = json;
	o.body_len = len;
	o.timeout_ms = 30000;
	o.max_response_bytes = 64 * 1024;
	if (httpc_start(mcp_server_loop(s), &o, on_post_done, p, &p->req) < 0) {
		free(p);
		return -EIO;
	}
	p->next = t->posts;
	t->posts = p;
	return 0;
}

static void abandon_sse(struct mcp_server *s, int64_t id)
{
	/* Answers share the one stream: nothing per request to close. */
}

static void close_sse(struct mcp_server *s, bool graceful)
{
	struct sse_t *t = mcp_server_transport_state(s);
	struct post *p;

	if (!t)
		return;
	mcp_server_set_transport_state(s, NULL);
	t->dead = true;
	while ((p = t->posts)) {
		t->posts = p->next;
		p->t = NULL;
		httpc_cancel(p->req);
	}
	if (t->get)
		httpc_cancel(t->get); /* on_get_done drops the last reference */
	else if (!t->busy)
		destroy(t);
}

static int reset_sse(struct mcp_server *s)
{
	return -ENOTSUP; /* the session is the event stream: the core reconnects */
}

static void initialized_sse(struct mcp_server *s)
{
}

const struct mcp_transport_ops mcp_transport_sse = {
	.name = "sse",
	.open = open_sse,
	.send = send_sse,
	.abandon = abandon_sse,
	.close = close_sse,
	.reset_session = reset_sse,
	.initialized = initialized_sse,
};
