/*
 * upstream.c: a fixed-latency fake upstream for the router benchmark: OpenAI's chat completions
 * and Anthropic's Messages API.
 *
 * Single-threaded libevent (evhttp + evtimer, precise timers), loopback only.
 *
 *   POST /v1/chat/completions (also /chat/completions)
 *     non-stream: a fixed chat.completion JSON (usage with cost) after --delay-ms
 *     "stream": true: SSE, --chunks chunk events spaced by --chunk-delay-ms
 *                     (the first after --delay-ms), a usage chunk, then data: [DONE]
 *   POST /v1/messages (also /messages; Anthropic's Messages API)
 *     needs the x-api-key and anthropic-version headers (else 401 / 400 with Anthropic's error
 *     body {"type":"error","error":{"type","message"},"request_id"}) and a body with model,
 *     max_tokens and messages (else 400 invalid_request_error)
 *     non-stream: a fixed "type":"message" JSON (one text block, stop_reason end_turn, usage
 *                 input_tokens/output_tokens) after --delay-ms
 *     "stream": true: SSE with Anthropic's event framing after --delay-ms: message_start,
 *                     content_block_start, ping, then --chunks - 1 content_block_delta
 *                     (text_delta) spaced by --chunk-delay-ms, content_block_stop,
 *                     message_delta (stop_reason, cumulative usage), message_stop
 *   A request whose body contains the text "bench-fast" (the concurrency-1 phase puts it in
 *   its prompt, which every proxy forwards unchanged) answers after --fast-delay-ms instead.
 *   GET  /_stats        {"requests","messages","streams","connections","open","max_open",
 *                        "open_streams","max_open_streams"}; connections = client connections
 *                        accepted so far, messages = requests on the Anthropic endpoint
 *                        "pii_raw","pii_redacted": requests whose body held the bench's
 *                        e-mail address (bench-pii@example.com) as written, and requests that
 *                        held the placeholder a redacting lane puts in its place ([EMAIL_1])
 *   POST /_stats/reset  zeroes the max_* counters (the current values stay)
 *
 * Usage: upstream [--port N] [--port-file F] [--delay-ms 20] [--fast-delay-ms 1] [--chunks 40]
 *                 [--chunk-delay-ms 50] [--max-seconds 900]
 * Exits 0 on SIGTERM/SIGINT, or after --max-seconds (a bound so that a lost process dies).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static struct event_base *base;
static struct timeval delay_tv, fast_tv, chunk_tv;
static int n_chunks = 40;

static unsigned long long n_requests, n_messages, n_streams, n_conns, n_pii_raw, n_pii_redacted;
static unsigned char conn_seen[65536 / 8]; /* open client connections, by peer port */
static long open_now, max_open, open_streams, max_open_streams;

static const char COMPLETION[] =
	"{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1700000000,"
	"\"model\":\"bench-model\",\"system_fingerprint\":\"fp_bench\","
	"\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
	"\"Hello! This is a fixed answer from the benchmark upstream.\"},"
	"\"logprobs\":null,\"finish_reason\":\"stop\"}],"
	"\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":12,\"total_tokens\":24,"
	"\"cost\":0.000024,\"prompt_tokens_details\":{\"cached_tokens\":0},"
	"\"completion_tokens_details\":{\"reasoning_tokens\":0}}}";

#define CHUNK_HEAD                                                                                 \
	"data: "                                                                                   \
	"{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"  \
	"\"model\":\"bench-model\","
static const char CHUNK_ROLE[] =
	CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
		   "\"finish_reason\":null}]}\n\n";
static const char CHUNK_TEXT[] = CHUNK_HEAD
	"\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word \"},\"finish_reason\":null}]}\n\n";
static const char CHUNK_STOP[] =
	CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
static const char CHUNK_USAGE[] =
	CHUNK_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":40,"
		   "\"total_tokens\":52,\"cost\":0.000052}}\n\n";
static const char CHUNK_DONE[] = "data: [DONE]\n\n";

/* Anthropic's Messages API: the same answer in its shape. */
static const char MESSAGE[] =
	"{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\","
	"\"content\":[{\"type\":\"text\","
	"\"text\":\"Hello! This is a fixed answer from the benchmark upstream.\"}],"
	"\"model\":\"bench-model\",\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
	"\"usage\":{\"input_tokens\":12,\"output_tokens\":12}}";
static const char EV_START[] =
	"event: message_start\n"
	"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench\",\"type\":\"message\","
	"\"role\":\"assistant\",\"content\":[],\"model\":\"bench-model\",\"stop_reason\":null,"
	"\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":0,"
	"\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
	"event: ping\n"
	"data: {\"type\":\"ping\"}\n\n";
static const char EV_DELTA[] = "event: content_block_delta\n"
			       "data: {\"type\":\"content_block_delta\",\"index\":0,"
			       "\"delta\":{\"type\":\"text_delta\",\"text\":\"word \"}}\n\n";
static const char EV_STOP_HEAD[] =
	"event: content_block_stop\n"
	"data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
	"event: message_delta\n"
	"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
	"\"stop_sequence\":null},\"usage\":{\"output_tokens\":";
static const char EV_STOP_TAIL[] = "}}\n\n"
				   "event: message_stop\n"
				   "data: {\"type\":\"message_stop\"}\n\n";

struct job {
	struct evhttp_request *req;
	struct event *ev;
	int stream;
	int anthropic; /* Anthropic's Messages API, not OpenAI's chat completions */
	int sent;      /* stream events sent so far */
};

static void job_done(struct job *j)
{
	open_now--;
	if (j->stream)
		open_streams--;
	event_free(j->ev);
	free(j);
}

static void add_chunk(struct evhttp_request *req, const char *s, size_t n)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, s, n);
	evhttp_send_reply_chunk(req, b);
	evbuffer_free(b);
}

static void answer_plain(struct job *j)
{
	struct evbuffer *b = evbuffer_new();
	if (j->anthropic)
		evbuffer_add(b, MESSAGE, sizeof(MESSAGE) - 1);
	else
		evbuffer_add(b, COMPLETION, sizeof(COMPLETION) - 1);
	evhttp_add_header(evhttp_request_get_output_headers(j->req), "Content-Type",
			  "application/json");
	evhttp_send_reply(j->req, 200, "OK", b);
	evbuffer_free(b);
}

/* The next event of a stream: 1 when it was the last. */
static int stream_step(struct job *j)
{
	if (j->sent == 0) {
		struct evkeyvalq *h = evhttp_request_get_output_headers(j->req);
		evhttp_add_header(h, "Content-Type", "text/event-stream");
		evhttp_add_header(h, "Cache-Control", "no-cache");
		evhttp_send_reply_start(j->req, 200, "OK");
		if (j->anthropic)
			add_chunk(j->req, EV_START, sizeof(EV_START) - 1);
		else
			add_chunk(j->req, CHUNK_ROLE, sizeof(CHUNK_ROLE) - 1);
		return 0;
	}
	if (j->sent < n_chunks) {
		if (j->anthropic)
			add_chunk(j->req, EV_DELTA, sizeof(EV_DELTA) - 1);
		else
			add_chunk(j->req, CHUNK_TEXT, sizeof(CHUNK_TEXT) - 1);
		return 0;
	}
	if (j->anthropic) {
		char tail[512];
		int n = snprintf(tail, sizeof(tail), "%s%d%s", EV_STOP_HEAD, n_chunks - 1,
				 EV_STOP_TAIL);
		add_chunk(j->req, tail, (size_t)n);
	} else {
		add_chunk(j->req, CHUNK_STOP, sizeof(CHUNK_STOP) - 1);
		add_chunk(j->req, CHUNK_USAGE, sizeof(CHUNK_USAGE) - 1);
		add_chunk(j->req, CHUNK_DONE, sizeof(CHUNK_DONE) - 1);
	}
	evhttp_send_reply_end(j->req); /* frees req, also when the client is gone */
	return 1;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	(void)fd;
	(void)what;
	if (!j->stream) {
		answer_plain(j);
		job_done(j);
		return;
	}
	if (stream_step(j)) {
		job_done(j);
		return;
	}
	j->sent++;
	evtimer_add(j->ev, &chunk_tv);
}

static const char *body_of(struct evhttp_request *req, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	*len = evbuffer_get_length(in);
	if (*len == 0 || *len > 1 << 20)
		return NULL;
	return (const char *)evbuffer_pullup(in, -1);
}

static int body_has(struct evhttp_request *req, const char *s)
{
	size_t n;
	const char *p = body_of(req, &n);
	return p && memmem(p, n, s, strlen(s)) != NULL;
}

static int body_wants_stream(struct evhttp_request *req)
{
	size_t n;
	const char *p = body_of(req, &n);
	if (!p)
		return 0;
	/* "stream": true, with or without a space; the benchmark bodies are ours */
	const char *k = p;
	while ((k = memmem(k, n - (size_t)(k - p), "\"stream\"", 8)) != NULL) {
		const char *v = k + 8;
		while (v < p + n && (*v == ' ' || *v == ':' || *v == '\t'))
			v++;
		if (p + n - v >= 4 && memcmp(v, "true", 4) == 0)
			return 1;
		k += 8;
	}
	return 0;
}

static void send_json(struct evhttp_request *req, int code, const char *json)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, json, strlen(json));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json");
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
	evbuffer_free(b);
}

/* Anthropic's error body: {"type":"error","error":{"type","message"},"request_id"}. */
static void send_anthropic_error(struct evhttp_request *req, int code, const char *type,
				 const char *message)
{
	char buf[512];
	snprintf(buf, sizeof(buf),
		 "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"%s\"},"
		 "\"request_id\":\"req_bench\"}",
		 type, message);
	send_json(req, code, buf);
}

/* What Anthropic checks before it answers: 1 when the request may go on, else answered. */
static int anthropic_valid(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *key = evhttp_find_header(h, "x-api-key");
	if (!key || !*key) {
		send_anthropic_error(req, 401, "authentication_error",
				     "x-api-key header is required");
		return 0;
	}
	if (!evhttp_find_header(h, "anthropic-version")) {
		send_anthropic_error(req, 400, "invalid_request_error",
				     "anthropic-version: header is required");
		return 0;
	}
	static const char *const need[] = {"\"model\"", "\"max_tokens\"", "\"messages\""};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!body_has(req, need[i])) {
			char msg[64];
			snprintf(msg, sizeof(msg), "%.*s: Field required", (int)strlen(need[i]) - 2,
				 need[i] + 1);
			send_anthropic_error(req, 400, "invalid_request_error", msg);
			return 0;
		}
	return 1;
}

/* The request's path without its query. */
static int path_is(const char *uri, const char *path)
{
	size_t n = strlen(path);
	return strncmp(uri, path, n) == 0 && (uri[n] == 0 || uri[n] == '?');
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	char *host;
	ev_uint16_t port;
	(void)arg;
	evhttp_connection_get_peer(evcon, &host, &port);
	conn_seen[port / 8] &= (unsigned char)~(1u << (port % 8));
}

/* counts client connections: a request on a connection not seen before is a new one */
static void count_conn(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *host;
	ev_uint16_t port;
	if (!evcon)
		return;
	evhttp_connection_get_peer(evcon, &host, &port);
	if (conn_seen[port / 8] & (1u << (port % 8)))
		return;
	conn_seen[port / 8] |= (unsigned char)(1u << (port % 8));
	n_conns++;
	evhttp_connection_set_closecb(evcon, on_conn_close, NULL);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	(void)arg;
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	if (strncmp(uri, "/_stats", 7) == 0) {
		char buf[512];
		if (cmd == EVHTTP_REQ_POST) {
			max_open = open_now;
			max_open_streams = open_streams;
		}
		snprintf(buf, sizeof(buf),
			 "{\"requests\":%llu,\"messages\":%llu,\"streams\":%llu,"
			 "\"connections\":%llu,\"open\":%ld,\"max_open\":%ld,"
			 "\"open_streams\":%ld,\"max_open_streams\":%ld,"
			 "\"pii_raw\":%llu,\"pii_redacted\":%llu}",
			 n_requests, n_messages, n_streams, n_conns, open_now, max_open,
			 open_streams, max_open_streams, n_pii_raw, n_pii_redacted);
		send_json(req, 200, buf);
		return;
	}
	int anthropic = path_is(uri, "/v1/messages") || path_is(uri, "/messages");
	if (cmd != EVHTTP_REQ_POST || (!anthropic && !path_is(uri, "/v1/chat/completions") &&
				       !path_is(uri, "/chat/completions"))) {
		send_json(
			req, 404,
			"{\"error\":{\"message\":\"not found\",\"type\":\"invalid_request_error\","
			"\"param\":null,\"code\":\"not_found\"}}");
		return;
	}
	count_conn(req);
	if (anthropic && !anthropic_valid(req))
		return;
	struct job *j = calloc(1, sizeof(*j));
	if (!j) {
		send_json(req, 500, "{\"error\":{\"message\":\"out of memory\"}}");
		return;
	}
	j->req = req;
	j->stream = body_wants_stream(req);
	j->anthropic = anthropic;
	j->ev = evtimer_new(base, on_timer, j);
	n_requests++;
	n_messages += (unsigned long long)anthropic;
	n_pii_raw += (unsigned long long)body_has(req, "bench-pii@example.com");
	n_pii_redacted += (unsigned long long)body_has(req, "[EMAIL_1]");
	if (++open_now > max_open)
		max_open = open_now;
	if (j->stream) {
		n_streams++;
		if (++open_streams > max_open_streams)
			max_open_streams = open_streams;
	}
	evtimer_add(j->ev, body_has(req, "bench-fast") ? &fast_tv : &delay_tv);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopexit(base, NULL);
}

static struct timeval ms_tv(double ms)
{
	struct timeval tv;
	long long us = (long long)(ms * 1000.0);
	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	return tv;
}

int main(int argc, char **argv)
{
	int port = 0;
	const char *port_file = NULL;
	double delay_ms = 20, fast_delay_ms = 1, chunk_delay_ms = 50, max_seconds = 900;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "upstream: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--port-file"))
			port_file = v;
		else if (!strcmp(a, "--delay-ms"))
			delay_ms = atof(v);
		else if (!strcmp(a, "--fast-delay-ms"))
			fast_delay_ms = atof(v);
		else if (!strcmp(a, "--chunks"))
			n_chunks = atoi(v);
		else if (!strcmp(a, "--chunk-delay-ms"))
			chunk_delay_ms = atof(v);
		else if (!strcmp(a, "--max-seconds"))
			max_seconds = atof(v);
		else {
			fprintf(stderr, "upstream: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	delay_tv = ms_tv(delay_ms);
	fast_tv = ms_tv(fast_delay_ms);
	chunk_tv = ms_tv(chunk_delay_ms);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* timers fire within ~1 us, not 50 us */
	signal(SIGPIPE, SIG_IGN);

	struct event_config *ec = event_config_new();
	event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!base) {
		fprintf(stderr, "upstream: event_base_new failed\n");
		return 1;
	}
	struct evhttp *http = evhttp_new(base);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_max_body_size(http, 1 << 20);
	evhttp_set_timeout(http, 120);
	evhttp_set_gencb(http, on_request, NULL);
	struct evhttp_bound_socket *bs =
		evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port);
	if (!bs) {
		fprintf(stderr, "upstream: cannot bind 127.0.0.1:%d: %s\n", port, strerror(errno));
		return 1;
	}
	struct sockaddr_storage ss;
	ev_socklen_t sl = sizeof(ss);
	getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl);
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (port_file) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
		    rename(tmp, port_file) != 0) {
			fprintf(stderr, "upstream: cannot write %s\n", port_file);
			return 1;
		}
	}
	fprintf(stderr,
		"upstream: listening on http://127.0.0.1:%d (delay %.1f ms, fast %.1f ms, %d "
		"chunks "
		"every %.1f ms)\n",
		port, delay_ms, fast_delay_ms, n_chunks, chunk_delay_ms);

	struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, NULL);
	struct event *sigint = evsignal_new(base, SIGINT, on_signal, NULL);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	struct timeval limit = ms_tv(max_seconds * 1000.0);
	event_base_loopexit(base, &limit);

	event_base_dispatch(base);

	event_free(sigterm);
	event_free(sigint);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
