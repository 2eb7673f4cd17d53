/* sse: every WHATWG line rule (LF, CRLF, CR, CRLF split across feeds, BOM, comments, one space
 * stripped, fields without colon, unknown fields), data joining, event types, id persistence,
 * retry, priming events, the cap, the callback's stop value and sse_pending() after a cut; a
 * real OpenAI stream and an MCP answer give the same events at every split.
 */
#include "test.h"
#include "net/sse.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An OpenAI chat.completion.chunk stream with a tool call split over deltas, an OpenRouter
 * keep-alive, the usage chunk and [DONE]. */
static const char openai_stream[] =
	": OPENROUTER PROCESSING\n"
	"\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,"
	"\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
	"\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
	"\"function\":{\"name\":\"pods_list\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n"
	"\n"
	"data: "
	"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"namespace\"}}]}"
	","
	"\"finish_reason\":null}]}\n"
	"\n"
	": OPENROUTER PROCESSING\n"
	"\n"
	"data: "
	"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\":"
	"\\\"default\\\"}\""
	"}}]},\"finish_reason\":null}]}\n"
	"\n"
	"data: "
	"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
	"\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n"
	"\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
	"\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":18,\"total_tokens\":138,"
	"\"cost\":0.0000123}}\n"
	"\n"
	"data: [DONE]\n"
	"\n";

/* An MCP streamable-HTTP answer: a priming event, then the JSON-RPC response. */
static const char mcp_answer[] =
	"id: 0\n"
	"data:\n"
	"\n"
	"event: message\n"
	"id: 1\n"
	"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-06-18\","
	"\"capabilities\":{\"tools\":{\"listChanged\":true}},"
	"\"serverInfo\":{\"name\":\"kubernetes-mcp-server\",\"version\":\"0.0.67\"}}}\n"
	"\n";

#define MAX_EVENTS 64

struct rec {
	char *event, *data, *id;
	size_t data_len;
};

struct events {
	struct rec r[MAX_EVENTS];
	size_t n;
	int stop_at; /* 1-based event number whose callback returns stop_rc; 0 = never */
	int stop_rc;
};

static int collect(const struct sse_event *ev, void *arg)
{
	struct events *e = arg;
	struct rec *r;

	assert_true(e->n < MAX_EVENTS);
	assert_int_equal(ev->data[ev->data_len], '\0');
	r = &e->r[e->n++];
	r->event = xstrdup(ev->event);
	r->data = xmalloc(ev->data_len + 1);
	memcpy(r->data, ev->data, ev->data_len + 1);
	r->data_len = ev->data_len;
	r->id = xstrdup(ev->id);
	if (e->stop_at && (size_t)e->stop_at == e->n)
		return e->stop_rc;
	return 0;
}

static void events_free(struct events *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		free(e->r[i].event);
		free(e->r[i].data);
		free(e->r[i].id);
	}
	memset(e, 0, sizeof(*e));
}

static void events_equal(const struct events *a, const struct events *b)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_string_equal(a->r[i].event, b->r[i].event);
		assert_int_equal(a->r[i].data_len, b->r[i].data_len);
		assert_memory_equal(a->r[i].data, b->r[i].data, a->r[i].data_len);
		assert_string_equal(a->r[i].id, b->r[i].id);
	}
}

static int feed_str(struct sse_parser *p, const char *s)
{
	return sse_feed(p, s, strlen(s));
}

/* Feeds text in pieces of the given sizes (cycled), checks the stream ends cleanly. */
static void feed_split(const char *text, size_t len, const size_t *sizes, size_t n_sizes,
		       struct events *out)
{
	struct sse_parser p;
	size_t off = 0, k = 0, n;

	sse_init(&p, 4096, collect, out);
	while (off < len) {
		n = sizes[k++ % n_sizes];
		if (n > len - off)
			n = len - off;
		assert_int_equal(sse_feed(&p, text + off, n), 0);
		off += n;
	}
	assert_false(sse_pending(&p));
	sse_finish(&p);
}

static void feed_all(const char *text, struct events *out)
{
	size_t whole = strlen(text);

	feed_split(text, whole, &whole, 1, out);
}

/* Replaces every "\n" of text with eol. */
static char *with_eol(const char *text, const char *eol)
{
	struct buf b;
	const char *nl;

	buf_init(&b, 0);
	while ((nl = strchr(text, '\n'))) {
		buf_append(&b, text, (size_t)(nl - text));
		buf_puts(&b, eol);
		text = nl + 1;
	}
	buf_puts(&b, text);
	return buf_steal(&b);
}

static void openai_stream_gives_each_chunk(void **state)
{
	struct events e = {0};

	feed_all(openai_stream, &e);
	assert_int_equal(e.n, 6);
	assert_string_equal(e.r[0].event, "");
	assert_string_equal(e.r[0].id, "");
	assert_non_null(strstr(e.r[0].data, "\"name\":\"pods_list\""));
	assert_true(strncmp(e.r[1].data, "{\"id\"", 5) == 0);
	assert_non_null(strstr(e.r[4].data, "\"usage\""));
	assert_string_equal(e.r[5].data, "[DONE]");
	assert_int_equal(e.r[5].data_len, 6);
	events_free(&e);
}

static void one_byte_at_a_time_gives_same_events(void **state)
{
	static const char *const eols[] = {"\n", "\r\n", "\r"};
	struct events whole = {0}, bytes = {0};
	size_t one = 1, i;
	char *text;

	feed_all(openai_stream, &whole);
	for (i = 0; i < ARRAY_LEN(eols); i++) {
		text = with_eol(openai_stream, eols[i]);
		feed_split(text, strlen(text), &one, 1, &bytes);
		events_equal(&whole, &bytes);
		events_free(&bytes);
		free(text);
	}
	events_free(&whole);
}

static void crlf_split_at_every_position_gives_same_events(void **state)
{
	struct events whole = {0}, split = {0};
	char *text = with_eol(openai_stream, "\r\n");
	size_t len = strlen(text), k, sizes[2];

	feed_all(openai_stream, &whole);
	for (k = 1; k < len; k++) {
		sizes[0] = k;
		sizes[1] = len;
		feed_split(text, len, sizes, 2, &split);
		events_equal(&whole, &split);
		events_free(&split);
	}
	free(text);
	events_free(&whole);
}

static void random_splits_give_same_events(void **state)
{
	static const char *const eols[] = {"\n", "\r\n", "\r"};
	struct events whole = {0}, split = {0};
	unsigned seed = 12345;
	size_t sizes[16], i, j, round;
	char *text;

	feed_all(openai_stream, &whole);
	for (round = 0; round < 300; round++) {
		for (j = 0; j < ARRAY_LEN(sizes); j++)
			sizes[j] = 1 + (size_t)rand_r(&seed) % 97;
		i = round % ARRAY_LEN(eols);
		text = with_eol(openai_stream, eols[i]);
		feed_split(text, strlen(text), sizes, ARRAY_LEN(sizes), &split);
		events_equal(&whole, &split);
		events_free(&split);
		free(text);
	}
	events_free(&whole);
}

static void mixed_line_endings(void **state)
{
	static const char text[] = "data: a\rdata: b\r\n\r\ndata: c\n\r";
	struct events e = {0};

	feed_all(text, &e);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.r[0].data, "a\nb");
	assert_string_equal(e.r[1].data, "c");
	events_free(&e);
}

static void cr_at_end_of_feed_then_lf_is_one_line_end(void **state)
{
	struct events e = {0};
	struct sse_parser p;

	sse_init(&p, 4096, collect, &e);
	assert_int_equal(feed_str(&p, "data: x\r"), 0);
	assert_int_equal(feed_str(&p, "\ndata: y\r"), 0);
	assert_int_equal(feed_str(&p, "\n"), 0);
	assert_int_equal(e.n, 0);
	assert_true(sse_pending(&p));
	assert_int_equal(feed_str(&p, "\r"), 0);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.r[0].data, "x\ny");
	/* A lone '\r' then a non-'\n' byte: the '\r' ended the line by itself. */
	assert_int_equal(feed_str(&p, "data: z\r"), 0);
	assert_int_equal(feed_str(&p, "\r"), 0);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.r[1].data, "z");
	assert_false(sse_pending(&p));
	sse_finish(&p);
	events_free(&e);
}

static void leading_bom_is_skipped_even_split(void **state)
{
	static const char text[] = "\357\273\277data: x\n\n";
	struct events e = {0};
	size_t one = 1;

	feed_split(text, strlen(text), &one, 1, &e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.r[0].data, "x");
	events_free(&e);
	feed_all(text, &e);
	assert_int_equal(e.n, 1);
	events_free(&e);
}

static void bom_only_counts_at_the_start(void **state)
{
	struct events e = {0};
	struct sse_parser p;

	/* A second BOM is part of the line: the field "<BOM>data" is unknown. */
	feed_all("\357\273\277\357\273\277data: x\n\ndata: y\n\n", &e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.r[0].data, "y");
	events_free(&e);
	/* A partial BOM is kept as the start of the first line. */
	sse_init(&p, 4096, collect, &e);
	assert_int_equal(feed_str(&p, "\357\273"), 0);
	assert_true(sse_pending(&p));
	assert_int_equal(feed_str(&p, "data: x\n\ndata: y\n\n"), 0);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.r[0].data, "y");
	sse_finish(&p);
	events_free(&e);
	/* A stream without a BOM loses nothing. */
	feed_all("data: x\n\n", &e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.r[0].data, "x");
	events_free(&e);
}

static void comments_are_skipped_and_counted(void **state)
{
	struct events e = {0};
	struct sse_parser p;

	sse_init(&p, 4096, collect, &e);
	assert_int_equal(feed_str(&p, ": OPENROUTER PROCESSING\n\n"), 0);
	assert_int_equal(feed_str(&p, ": OPENROUTER PROCESSING\n\n"), 0);
	assert_int_equal(feed_str(&p, "data: a\n:mid-event comment\ndata: b\n\n"), 0);
	assert_int_equal(feed_str(&p, ":\n"), 0);
	assert_int_equal(sse_comments(&p), 4);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.r[0].data, "a\nb");
	assert_false(sse_pending(&p));
	sse_finish(&p);
	events_free(&e);
}

static void multi_line_data_is_joined(void **state)
{
	struct events e = {0};

	feed_all("data: first\ndata:second\ndata\ndata:  two spaces\n\n", &e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.r[0].data, "first\nsecond\n\n two spaces");
	events_free(&e);
	/* Two empty data lines make one newline: not empty, so dispatched. */
	feed_all("data\ndata:\n\n", &e);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.r[0].data_len, 1);
	assert_string_equal(e.r[0].data, "\n");
	events_free(&e);
}

static void data_may_hold_nul_bytes(void **state)
{
	static const char text[] = "data: a\0b\n\n";
	struct events e = {0};
	size_t len = sizeof(text) - 1;

	feed_split(text, len, &len, 1, &e);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.r[0].data_len, 3);
	assert_memory_equal(e.r[0].data, "a\0b", 3);
	events_free(&e);
}

static void event_type_applies_to_one_event(void **state)
{
	struct events e = {0};

	feed_all("event: add\ndata: 1\n\ndata: 2\n\nevent:remove\nevent: update\ndata: 3\n\n", &e);
	assert_int_equal(e.n, 3);
	assert_string_equal(e.r[0].event, "add");
	assert_string_equal(e.r[1].event, "");
	assert_string_equal(e.r[2].event, "update");
	events_free(&e);
}

static void empty_priming_events_are_not_dispatched(void **state)
{
	struct events e = {0};

	/* No data line: the event type is reset too. */
	feed_all("event: endpoint\nid: 5\n\ndata: x\n\n", &e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.r[0].event, "");
	assert_string_equal(e.r[0].id, "5");
	events_free(&e);
	/* MCP's priming event: an id and one empty data line. */
	feed_all(mcp_answer, &e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.r[0].event, "message");
	assert_string_equal(e.r[0].id, "1");
	assert_true(strncmp(e.r[0].data, "{\"jsonrpc\":\"2.0\",\"id\":1,", 24) == 0);
	events_free(&e);
}

static void mcp_answer_same_at_every_split(void **state)
{
	struct events whole = {0}, split = {0};
	char *text = with_eol(mcp_answer, "\r\n");
	size_t len = strlen(text), k, sizes[2];

	feed_all(mcp_answer, &whole);
	for (k = 1; k < len; k++) {
		sizes[0] = k;
		sizes[1] = 1;
		feed_split(text, len, sizes, 2, &split);
		events_equal(&whole, &split);
		events_free(&split);
	}
	free(text);
	events_free(&whole);
}

static void id_persists_across_events(void **state)
{
	static const char text[] = "id: 7\ndata: a\n\n"
				   "data: b\n\n"
				   "id: bad\0id\ndata: c\n\n"
				   "id\ndata: d\n\n"
				   "id: 8\n\n"
				   "data: e\n\n";
	struct events e = {0};
	size_t len = sizeof(text) - 1;

	feed_split(text, len, &len, 1, &e);
	assert_int_equal(e.n, 5);
	assert_string_equal(e.r[0].id, "7");
	assert_string_equal(e.r[1].id, "7");
	assert_string_equal(e.r[2].id, "7"); /* an id holding NUL is ignored */
	assert_string_equal(e.r[3].id, "");  /* an empty id resets it */
	assert_string_equal(e.r[4].id, "8"); /* set by an undispatched event */
	events_free(&e);
}

/* What a resumption sends as Last-Event-ID: the id of the priming event (no data, never
 * dispatched) counts, and a later id replaces it. */
static void last_id_is_kept_for_resuming(void **state)
{
	struct events e = {0};
	struct sse_parser p;

	sse_init(&p, 4096, collect, &e);
	assert_string_equal(sse_last_id(&p), "");
	assert_int_equal(feed_str(&p, "id: ev-1\nretry: 500\ndata: \n\n"), 0);
	assert_string_equal(sse_last_id(&p), "ev-1");
	assert_int_equal(e.n, 0);
	assert_int_equal(feed_str(&p, "id: ev-2\ndata: {}\n\n"), 0);
	assert_string_equal(sse_last_id(&p), "ev-2");
	assert_int_equal(e.n, 1);
	events_free(&e);
	sse_finish(&p);
}

static void retry_only_when_all_digits(void **state)
{
	struct events e = {0};
	struct sse_parser p;

	sse_init(&p, 4096, collect, &e);
	assert_int_equal(sse_retry_ms(&p), -1);
	assert_int_equal(feed_str(&p, "retry: 1500\n"), 0);
	assert_int_equal(sse_retry_ms(&p), 1500);
	assert_int_equal(feed_str(&p, "retry: 15x\nretry: -1\nretry:\nretry: 1 \n"), 0);
	assert_int_equal(sse_retry_ms(&p), 1500);
	assert_int_equal(feed_str(&p, "retry: 99999999999999999999999999\n"), 0);
	assert_int_equal(sse_retry_ms(&p), 1500);
	assert_int_equal(feed_str(&p, "retry:0\n\n"), 0);
	assert_int_equal(sse_retry_ms(&p), 0);
	assert_int_equal(e.n, 0);
	sse_finish(&p);
}

static void unknown_fields_are_ignored(void **state)
{
	struct events e = {0};

	feed_all("foo: bar\nData: no\nDATA: no\ndata : no\nretryx: 5\ndata: yes\n\n", &e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.r[0].data, "yes");
	events_free(&e);
}

static void line_over_cap_is_e2big_and_sticky(void **state)
{
	struct events e = {0};
	struct sse_parser p;
	char line[80];
	size_t i;

	memset(line, 'x', sizeof(line));
	memcpy(line, "data: ", 6);
	line[sizeof(line) - 1] = '\n';
	/* In one feed (handled in place). */
	sse_init(&p, 32, collect, &e);
	assert_int_equal(sse_feed(&p, line, sizeof(line)), -E2BIG);
	assert_int_equal(feed_str(&p, "data: x\n\n"), -E2BIG);
	assert_int_equal(e.n, 0);
	sse_finish(&p);
	/* Byte by byte (buffered), failing before the line ends. */
	sse_init(&p, 32, collect, &e);
	for (i = 0; i < 32; i++)
		assert_int_equal(sse_feed(&p, line + i, 1), 0);
	assert_int_equal(sse_feed(&p, line + 32, 1), -E2BIG);
	sse_finish(&p);
	/* A long comment or unknown field counts too, though nothing of it is kept. */
	line[0] = ':';
	sse_init(&p, 32, collect, &e);
	assert_int_equal(sse_feed(&p, line, sizeof(line)), -E2BIG);
	sse_finish(&p);
	memcpy(line, "other:", 6);
	sse_init(&p, 32, collect, &e);
	assert_int_equal(sse_feed(&p, line, sizeof(line)), -E2BIG);
	sse_finish(&p);
	/* A partial BOM belongs to the first line once it turns out not to be one. */
	sse_init(&p, 8, collect, &e);
	assert_int_equal(feed_str(&p, "\357\273data:1\n"), 0);
	sse_finish(&p);
	sse_init(&p, 7, collect, &e);
	assert_int_equal(feed_str(&p, "\357\273data:1\n"), -E2BIG);
	sse_finish(&p);
}

static void data_over_cap_is_e2big(void **state)
{
	struct events e = {0};
	struct sse_parser p;

	/* Exactly the cap: fine. 10 bytes of data. */
	sse_init(&p, 10, collect, &e);
	assert_int_equal(feed_str(&p, "data:01234\ndata:5678\n\n"), 0);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.r[0].data_len, 10);
	events_free(&e);
	/* One byte more over several short lines. */
	assert_int_equal(feed_str(&p, "data:01234\ndata:56789\n"), -E2BIG);
	assert_int_equal(feed_str(&p, "\n"), -E2BIG);
	assert_int_equal(e.n, 0);
	sse_finish(&p);
}

static void callback_stop_value_is_returned(void **state)
{
	struct events e = {.stop_at = 2, .stop_rc = -ECANCELED};
	struct sse_parser p;

	sse_init(&p, 4096, collect, &e);
	assert_int_equal(feed_str(&p, "data: 1\n\ndata: 2\n\ndata: 3\n\n"), -ECANCELED);
	assert_int_equal(e.n, 2);
	assert_int_equal(feed_str(&p, "data: 4\n\n"), -ECANCELED);
	assert_int_equal(e.n, 2);
	sse_finish(&p);
	events_free(&e);
}

static void pending_tells_a_cut_stream(void **state)
{
	static const char *const cuts[] = {"data: {\"partial", "data: x\n", "event: message\n",
					   "data: x\r", "\357"};
	static const char *const clean[] = {
		"",	   "data: x\n\n", ": keep-alive\n", "data: x\r\n\r\n",
		"id: 1\n", "retry: 10\n", "data: x\n\r"};
	struct events e = {0};
	struct sse_parser p;
	size_t i;

	for (i = 0; i < ARRAY_LEN(cuts); i++) {
		sse_init(&p, 4096, collect, &e);
		assert_int_equal(sse_feed(&p, cuts[i], strlen(cuts[i])), 0);
		assert_true(sse_pending(&p));
		sse_finish(&p);
	}
	assert_int_equal(e.n, 0);
	for (i = 0; i < ARRAY_LEN(clean); i++) {
		sse_init(&p, 4096, collect, &e);
		assert_int_equal(sse_feed(&p, clean[i], strlen(clean[i])), 0);
		assert_false(sse_pending(&p));
		sse_finish(&p);
	}
	events_free(&e);
	/* A stream cut before [DONE]'s blank line never dispatches it. */
	sse_init(&p, 4096, collect, &e);
	assert_int_equal(sse_feed(&p, openai_stream, strlen(openai_stream) - 1), 0);
	assert_int_equal(e.n, 5);
	assert_true(sse_pending(&p));
	sse_finish(&p);
	events_free(&e);
}

static void finish_accepts_null_and_parser_reinits(void **state)
{
	struct events e = {0};
	struct sse_parser p;

	sse_finish(NULL);
	sse_init(&p, 4096, collect, &e);
	assert_int_equal(feed_str(&p, "data: a"), 0);
	sse_finish(&p);
	sse_init(&p, 4096, collect, &e);
	assert_false(sse_pending(&p));
	assert_int_equal(feed_str(&p, "data: b\n\n"), 0);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.r[0].data, "b");
	sse_finish(&p);
	events_free(&e);
}

struct streamed {
	struct buf data;
	int ends;
};

static int on_stream(const char *data, size_t len, bool end, void *arg)
{
	struct streamed *st = arg;

	if (end) {
		st->ends++;
		return 0;
	}
	assert_int_equal(st->ends, 0);
	assert_int_equal(buf_append(&st->data, data, len), 0);
	return 0;
}

/* An event whose data passes the mark streams (split anywhere, CRLF or LF, the one space after
 * "data:" dropped, lines joined with '\n'); its buffered bytes never pass the mark; the
 * events around it arrive whole as before. */
static void big_event_streams_past_the_mark(void **state)
{
	static const size_t splits[] = {1, 7, 4096, 100000, SIZE_MAX};
	const size_t mark = 1000, big = 50000;
	struct buf in, want;
	size_t i, k, at;

	buf_init(&in, 0);
	buf_init(&want, 0);
	buf_puts(&in, "data: small one\n\nevent: message\r\ndata: {\"a\":\"");
	buf_puts(&want, "{\"a\":\"");
	for (i = 0; i < big; i++) {
		buf_append(&in, &"xyz"[i % 3], 1);
		buf_append(&want, &"xyz"[i % 3], 1);
	}
	buf_puts(&in, "\"\r\ndata:second line\r\n\r\ndata: small two\n\n");
	buf_puts(&want, "\"\nsecond line");
	for (k = 0; k < ARRAY_LEN(splits); k++) {
		struct sse_parser p;
		struct events e = {0};
		struct streamed st = {0};

		buf_init(&st.data, 0);
		sse_init(&p, 4 * mark, collect, &e);
		sse_set_stream(&p, mark, on_stream, &st);
		for (at = 0; at < in.len; at += splits[k] < in.len - at ? splits[k] : in.len - at) {
			size_t n = splits[k] < in.len - at ? splits[k] : in.len - at;

			assert_int_equal(sse_feed(&p, in.data + at, n), 0);
			assert_true(p.line.alloc <= 4 * mark && p.data.alloc <= 4 * mark);
		}
		assert_int_equal(st.ends, 1);
		assert_int_equal(st.data.len, want.len);
		assert_memory_equal(st.data.data, want.data, want.len);
		assert_int_equal(e.n, 2);
		assert_string_equal(e.r[0].data, "small one");
		assert_string_equal(e.r[1].data, "small two");
		assert_false(sse_pending(&p));
		events_free(&e);
		buf_finish(&st.data);
		sse_finish(&p);
	}
	buf_finish(&in);
	buf_finish(&want);
}

/* Only data streams: another line past the cap is still -E2BIG. */
static void big_non_data_line_is_still_e2big(void **state)
{
	struct sse_parser p;
	struct events e = {0};
	struct streamed st = {0};
	char line[300];

	memset(line, 'a', sizeof(line));
	memcpy(line, "event:", 6);
	sse_init(&p, 100, collect, &e);
	sse_set_stream(&p, 50, on_stream, &st);
	assert_int_equal(sse_feed(&p, line, sizeof(line)), -E2BIG);
	assert_int_equal(st.ends, 0);
	sse_finish(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(openai_stream_gives_each_chunk),
		cmocka_unit_test(one_byte_at_a_time_gives_same_events),
		cmocka_unit_test(crlf_split_at_every_position_gives_same_events),
		cmocka_unit_test(random_splits_give_same_events),
		cmocka_unit_test(mixed_line_endings),
		cmocka_unit_test(cr_at_end_of_feed_then_lf_is_one_line_end),
		cmocka_unit_test(leading_bom_is_skipped_even_split),
		cmocka_unit_test(bom_only_counts_at_the_start),
		cmocka_unit_test(comments_are_skipped_and_counted),
		cmocka_unit_test(multi_line_data_is_joined),
		cmocka_unit_test(data_may_hold_nul_bytes),
		cmocka_unit_test(event_type_applies_to_one_event),
		cmocka_unit_test(empty_priming_events_are_not_dispatched),
		cmocka_unit_test(mcp_answer_same_at_every_split),
		cmocka_unit_test(id_persists_across_events),
		cmocka_unit_test(last_id_is_kept_for_resuming),
		cmocka_unit_test(retry_only_when_all_digits),
		cmocka_unit_test(unknown_fields_are_ignored),
		cmocka_unit_test(line_over_cap_is_e2big_and_sticky),
		cmocka_unit_test(data_over_cap_is_e2big),
		cmocka_unit_test(callback_stop_value_is_returned),
		cmocka_unit_test(pending_tells_a_cut_stream),
		cmocka_unit_test(finish_accepts_null_and_parser_reinits),
		cmocka_unit_test(big_event_streams_past_the_mark),
		cmocka_unit_test(big_non_data_line_is_still_e2big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
