/* sse: an incremental Server-Sent Events parser (WHATWG "event stream interpretation") for
 * upstream LLM streams and MCP streamable-HTTP answers.
 *
 * Bytes go in with any split (mid-line, mid-CRLF, mid-BOM); complete events come out through a
 * callback. Everything the parser buffers is capped by max_event_bytes.
 */
#ifndef HERMETIC_SSE_H
#define HERMETIC_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"

/* One dispatched event. Every pointer is borrowed and valid only during the callback. */
struct sse_event {
	const char *event; /* "" when no event: line ("message" semantics left to the caller) */
	const char *data;  /* data lines joined with '\n', NUL-terminated (may hold NULs) */
	size_t data_len;
	const char *id; /* last id seen in the stream (persists across events), "" if none */
};

/* Return 0 to go on, < 0 to stop parsing (sse_feed returns that value). The callback must not
 * call sse_feed() or sse_finish() on the parser that called it. */
typedef int (*sse_event_cb)(const struct sse_event *ev, void *arg);

/* A streamed event's data (sse_set_stream): pieces in order (end false), then once end true
 * (data NULL) where the event would be dispatched. Return 0 to go on, < 0 to stop (sticky). */
typedef int (*sse_stream_cb)(const char *data, size_t len, bool end, void *arg);

/* Caller-owned parser state. Fields are private: use the functions. */
struct sse_parser {
	sse_event_cb cb;
	void *arg;
	size_t max;
	struct buf line;  /* partial line carried across feeds */
	struct buf data;  /* data lines of the pending event, '\n'-joined */
	struct buf event; /* event type of the pending event */
	struct buf id;	  /* last event id */
	size_t n_data;	  /* data lines in the pending event */
	long retry_ms;
	size_t comments;
	unsigned bom_seen;    /* BOM bytes matched at the start; 3 once the start is decided */
	bool after_cr;	      /* the last byte was a '\r': a '\n' right after it ends nothing */
	int error;	      /* sticky: -E2BIG or the callback's stop value */
	sse_stream_cb stream; /* sse_set_stream's, NULL = none */
	void *stream_arg;
	size_t stream_at;
	bool streaming;	     /* the pending event's data goes to stream */
	bool line_streaming; /* ... and so does the rest of the current line */
};

/* Prepares p. max_event_bytes (> 0) caps one line and one event's data. cb is required. */
void sse_init(struct sse_parser *p, size_t max_event_bytes, sse_event_cb cb, void *arg);
/* Events whose data would pass at bytes (at <= max_event_bytes) are not buffered: their data
 * goes to cb as it arrives, and cb(NULL, 0, true) stands in for the event callback. Only data
 * lines stream; any other line over max_event_bytes is still -E2BIG. */
void sse_set_stream(struct sse_parser *p, size_t at, sse_stream_cb cb, void *arg);
/* Frees the buffers; p may be sse_init()ed again. Accepts NULL. */
void sse_finish(struct sse_parser *p);
/* Feeds bytes (any split, even mid-line or mid-CRLF); the callback fires for each event
 * completed by them, in order. Events with empty data are not dispatched (WHATWG drops those
 * without data: lines; this parser also drops MCP's priming events `id: 7\ndata:\n\n`), but
 * their id: and retry: lines count. Returns 0, -E2BIG when one line or one event's data exceeds
 * max_event_bytes, or the callback's negative value; either error is sticky: the parser is
 * then unusable and every later call returns it again without calling back. */
int sse_feed(struct sse_parser *p, const char *data, size_t len);
/* True when a partial line or an undispatched event (data or event type) is buffered: the
 * stream was cut if it ends now. At end of stream such an event is never dispatched. */
bool sse_pending(const struct sse_parser *p);
/* The last valid `retry:` value in ms, -1 if none. */
long sse_retry_ms(const struct sse_parser *p);
/* The last event id the stream set (`id:`, also on events without data such as MCP's priming
 * event), "" if none. Borrowed: valid until the next sse_feed or sse_finish. */
const char *sse_last_id(const struct sse_parser *p);
/* Number of ':' comment lines skipped (keep-alives such as ": OPENROUTER PROCESSING"). */
size_t sse_comments(const struct sse_parser *p);

#endif
