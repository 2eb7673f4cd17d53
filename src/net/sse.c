/* sse: Server-Sent Events parsing after the WHATWG HTML standard, section "Interpreting an event
 * stream", fed incrementally.
 *
 * A line ending in the current feed is handled in place, without copying; only the unfinished
 * tail of a feed is kept in a line buffer. A '\r' at the end of a feed leaves `after_cr` set so a
 * '\n' at the start of the next feed is taken as the second half of the same CRLF. Fields are
 * dispatched through a table. Data lines are joined with '\n' as they arrive (the separator goes
 * in front of every line but the first), so the event's data never needs its final newline
 * stripped and the data cap counts exactly the bytes the callback sees.
 * One deliberate step away from WHATWG: an event whose data is empty is not dispatched, also
 * when it had a single empty `data:` line (browsers deliver that as ""). MCP servers send such
 * priming events (`id: 7` + `data:`) only to set the id, and no caller wants an empty message.
 * An event too large to buffer can stream instead (sse_set_stream): once its data would pass
 * the mark, what was buffered and every later data byte go to the stream callback as they
 * arrive, also the middle of a line, so a 50 MB MCP answer costs no more than the mark.
 * Rejected: splitting on "\n\n" (misses CR-only and CRLF streams and mixed endings) and
 * collecting whole events before parsing them (doubles the memory and the copying).
 */
#include "net/sse.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

typedef int (*field_fn)(struct sse_parser *p, const char *value, size_t len);

static int set_buf(struct buf *b, const char *value, size_t len)
{
	buf_reset(b);
	return buf_append(b, value, len);
}

static int emit(struct sse_parser *p, const char *data, size_t len)
{
	return len ? p->stream(data, len, false, p->stream_arg) : 0;
}

/* The pending event streams from here: the data buffered so far goes out first and its buffer
 * is given back. */
static int begin_stream(struct sse_parser *p)
{
	int rc = emit(p, p->data.data, p->data.len);

	p->streaming = true;
	buf_finish(&p->data);
	buf_init(&p->data, p->max);
	return rc;
}

static int field_data(struct sse_parser *p, const char *value, size_t len)
{
	int rc;

	if (!p->streaming && p->stream && p->data.len + 1 + len > p->stream_at) {
		rc = begin_stream(p);
		if (rc < 0)
			return rc;
	}
	if (p->streaming) {
		rc = p->n_data++ ? emit(p, "\n", 1) : 0;
		return rc < 0 ? rc : emit(p, value, len);
	}

	if (p->n_data > 0) {
		rc = buf_append(&p->data, "\n", 1);
		if (rc < 0)
			return rc;
	}
	rc = buf_append(&p->data, value, len);
	if (rc < 0)
		return rc;
	p->n_data++;
	return 0;
}

static int field_event(struct sse_parser *p, const char *value, size_t len)
{
	return set_buf(&p->event, value, len);
}

static int field_id(struct sse_parser *p, const char *value, size_t len)
{
	if (memchr(value, '\0', len))
		return 0;
	return set_buf(&p->id, value, len);
}

static int field_retry(struct sse_parser *p, const char *value, size_t len)
{
	long ms = 0;
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (value[i] < '0' || value[i] > '9')
			return 0;
		/* A value that does not fit is as useless as one that is not a number. */
		if (ms > (LONG_MAX - (value[i] - '0')) / 10)
			return 0;
		ms = ms * 10 + (value[i] - '0');
	}
	p->retry_ms = ms;
	return 0;
}

static const struct {
	const char *name;
	size_t len;
	field_fn fn;
} fields[] = {
	{"data", 4, field_data},
	{"event", 5, field_event},
	{"id", 2, field_id},
	{"retry", 5, field_retry},
};

static int dispatch(struct sse_parser *p)
{
	struct sse_event ev;
	int rc;

	if (p->streaming) {
		rc = p->stream(NULL, 0, true, p->stream_arg);
		p->streaming = false;
		buf_reset(&p->event);
		p->n_data = 0;
		return rc < 0 ? rc : 0;
	}
	if (p->data.len == 0) {
		/* No data, or one empty data line (MCP's priming event): nothing to deliver. */
		buf_reset(&p->data);
		buf_reset(&p->event);
		p->n_data = 0;
		return 0;
	}
	ev.event = buf_str(&p->event);
	ev.data = buf_str(&p->data);
	ev.data_len = p->data.len;
	ev.id = buf_str(&p->id);
	rc = p->cb(&ev, p->arg);
	buf_reset(&p->data);
	buf_reset(&p->event);
	p->n_data = 0;
	return rc < 0 ? rc : 0;
}

static int process_line(struct sse_parser *p, const char *line, size_t len)
{
	const char *colon, *value = "";
	size_t i, name_len = len, value_len = 0;

	if (len == 0)
		return dispatch(p);
	if (line[0] == ':') {
		p->comments++;
		return 0;
	}
	colon = memchr(line, ':', len);
	if (colon) {
		name_len = (size_t)(colon - line);
		value = colon + 1;
		value_len = len - name_len - 1;
		if (value_len > 0 && value[0] == ' ') {
			value++;
			value_len--;
		}
	}
	for (i = 0; i < ARRAY_LEN(fields); i++)
		if (fields[i].len == name_len && memcmp(fields[i].name, line, name_len) == 0)
			return fields[i].fn(p, value, value_len);
	return 0;
}

/* Consumes the start of the stream while it may still be a BOM; returns the bytes used. */
static size_t skip_bom(struct sse_parser *p, const char *data, size_t len)
{
	size_t i = 0;

	while (i < len && p->bom_seen < 3) {
		if ((unsigned char)data[i] != bom[p->bom_seen]) {
			/* Not a BOM after all: the bytes matched so far start the first line
			 * (too long only with a cap below 3 bytes). */
			if (buf_append(&p->line, bom, p->bom_seen) < 0)
				p->error = -E2BIG;
			p->bom_seen = 3;
			return i;
		}
		p->bom_seen++;
		i++;
	}
	return i;
}

static int fail(struct sse_parser *p, int rc)
{
	p->error = rc;
	return rc;
}

void sse_init(struct sse_parser *p, size_t max_event_bytes, sse_event_cb cb, void *arg)
{
	memset(p, 0, sizeof(*p));
	p->cb = cb;
	p->arg = arg;
	p->max = max_event_bytes ? max_event_bytes : 1;
	buf_init(&p->line, p->max);
	buf_init(&p->data, p->max);
	buf_init(&p->event, p->max);
	buf_init(&p->id, p->max);
	p->retry_ms = -1;
}

void sse_finish(struct sse_parser *p)
{
	if (!p)
		return;
	buf_finish(&p->line);
	buf_finish(&p->data);
	buf_finish(&p->event);
	buf_finish(&p->id);
}

void sse_set_stream(struct sse_parser *p, size_t at, sse_stream_cb cb, void *arg)
{
	p->stream = cb;
	p->stream_arg = arg;
	p->stream_at = at < p->max ? at : p->max;
}

/* Byte k of the line made of p->line and then seg. */
static char line_at(const struct sse_parser *p, const char *seg, size_t k)
{
	return k < p->line.len ? p->line.data[k] : seg[k - p->line.len];
}

/* True when the line made of p->line and seg[0..n) should stream: a data line past the mark. */
static bool stream_it(const struct sse_parser *p, const char *seg, size_t n)
{
	size_t total = p->line.len + n, k;

	if (!p->stream || total <= p->stream_at || total < 5)
		return false;
	for (k = 0; k < 5; k++)
		if (line_at(p, seg, k) != "data:"[k])
			return false;
	return true;
}

/* A data line too long to buffer: its value so far (p->line, then seg) goes out, the rest of
 * the line follows as it arrives. */
static int start_line_stream(struct sse_parser *p, const char *seg, size_t n)
{
	size_t skip = 5, k;
	int rc = p->streaming ? 0 : begin_stream(p);

	if (rc == 0 && p->n_data++)
		rc = emit(p, "\n", 1);
	if (p->line.len + n > 5 && line_at(p, seg, 5) == ' ')
		skip = 6;
	if (rc == 0 && skip < p->line.len)
		rc = emit(p, p->line.data + skip, p->line.len - skip);
	k = skip > p->line.len ? skip - p->line.len : 0;
	if (rc == 0)
		rc = emit(p, seg + k, n - k);
	buf_reset(&p->line);
	p->line_streaming = true;
	return rc;
}

int sse_feed(struct sse_parser *p, const char *data, size_t len)
{
	size_t i = 0, start, line_len;
	int rc;

	if (p->error)
		return p->error;
	if (p->bom_seen < 3) {
		i = skip_bom(p, data, len);
		if (p->error)
			return p->error;
	}
	while (i < len) {
		if (p->after_cr) {
			p->after_cr = false;
			if (data[i] == '\n') {
				i++;
				continue;
			}
		}
		start = i;
		while (i < len && data[i] != '\n' && data[i] != '\r')
			i++;
		line_len = i - start;
		if (p->line_streaming || stream_it(p, data + start, line_len)) {
			rc = p->line_streaming ? emit(p, data + start, line_len)
					       : start_line_stream(p, data + start, line_len);
			if (rc < 0)
				return fail(p, rc);
			if (i == len)
				break;
			p->line_streaming = false;
			p->after_cr = data[i] == '\r';
			i++;
			continue;
		}
		if (i == len) {
			if (buf_append(&p->line, data + start, len - start) < 0)
				return fail(p, -E2BIG);
			break;
		}
		p->after_cr = data[i] == '\r';
		i++;
		if (p->line.len > 0) {
			if (buf_append(&p->line, data + start, line_len) < 0)
				return fail(p, -E2BIG);
			rc = process_line(p, p->line.data, p->line.len);
			buf_reset(&p->line);
		} else if (line_len > p->max) {
			rc = -E2BIG;
		} else {
			rc = process_line(p, data + start, line_len);
		}
		if (rc < 0)
			return fail(p, rc);
	}
	return 0;
}

bool sse_pending(const struct sse_parser *p)
{
	return p->line.len > 0 || p->n_data > 0 || p->event.len > 0 || p->streaming ||
	       (p->bom_seen > 0 && p->bom_seen < 3);
}

long sse_retry_ms(const struct sse_parser *p)
{
	return p->retry_ms;
}

const char *sse_last_id(const struct sse_parser *p)
{
	return buf_str(&p->id);
}

size_t sse_comments(const struct sse_parser *p)
{
	return p->comments;
}
