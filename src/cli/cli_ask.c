/* cli_ask: one blocking request from a CLI command to a running hermetic process, on a loop
 * of its own (the command has nothing else to do meanwhile). The URL from a listen address
 * and the bearer key, the answer capped as the caller says. */
#include "cli/cli_ask.h"
#include "core/loop.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 8

struct pending {
	struct loop *loop;
	struct cli_ask *out;
};

static void on_done(struct httpc_req *req, void *arg)
{
	struct pending *p = arg;
	size_t len;
	const char *body = httpc_body(req, &len);

	p->out->res = httpc_result(req);
	p->out->status = httpc_status(req);
	free(p->out->body);
	free(p->out->error);
	p->out->body = xstrndup(body ? body : "", body ? len : 0);
	p->out->error = xstrdup(httpc_error(req) ? httpc_error(req) : "");
	loop_stop(p->loop);
}

int cli_ask(const struct config_listen *l, const char *path, const struct cli_ask_opts *o,
	    struct cli_ask *out)
{
	const char *host = l->host && *l->host ? l->host : "127.0.0.1";
	const char *headers[MAX_HEADERS + 3] = {NULL};
	struct httpc_opts ho = {0};
	struct pending p = {NULL, out};
	char *url, *auth = NULL;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->body = xstrdup("");
	out->error = xstrdup("");
	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	url = strchr(host, ':') ? xasprintf("http://[%s]:%d%s", host, l->port, path)
				: xasprintf("http://%s:%d%s", host, l->port, path);
	if (o->key) {
		auth = xasprintf("Authorization: Bearer %s", o->key);
		headers[n++] = auth;
	}
	for (size_t i = 0; o->headers && o->headers[i] && i < MAX_HEADERS; i++)
		headers[n++] = o->headers[i];
	if (o->body)
		headers[n++] = "Content-Type: application/json";
	ho.url = url;
	ho.headers = headers;
	ho.body = o->body;
	ho.body_len = o->body ? strlen(o->body) : 0;
	ho.timeout_ms = o->timeout_ms;
	ho.connect_timeout_ms = o->connect_timeout_ms;
	ho.max_response_bytes = o->max_response_bytes;
	p.loop = loop_create();
	rc = p.loop ? httpc_start(p.loop, &ho, on_done, &p, NULL) : -1;
	if (rc == 0)
		loop_run(p.loop);
	loop_destroy(p.loop);
	free(url);
	free(auth);
	return rc < 0 ? -1 : 0;
}

void cli_ask_finish(struct cli_ask *a)
{
	free(a->body);
	free(a->error);
	a->body = a->error = NULL;
}
