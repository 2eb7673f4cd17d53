/* eventstream: an incremental decoder of AWS's application/vnd.amazon.eventstream framing
 * (Bedrock's ConverseStream answer). Each message is
 *
 *   u32 total_len | u32 headers_len | u32 prelude_crc | headers | payload | u32 message_crc
 *
 * all big-endian; both CRCs are IEEE CRC32 (the prelude's over the first 8 bytes, the
 * message's over everything before it). Bytes go in with any split; each complete, verified
 * message comes out through a callback with its string headers picked out.
 */
#ifndef HERMETIC_EVENTSTREAM_H
#define HERMETIC_EVENTSTREAM_H

#include "core/util.h"

#include <stddef.h>
#include <stdint.h>

/* One message. Every pointer is borrowed and valid only during the callback; a header that
 * is absent (or not a string) is "". The strings are NUL-terminated copies of the header
 * values; the payload is not NUL-terminated. */
struct eventstream_msg {
	const char *message_type;   /* ":message-type": "event", "exception", "error" */
	const char *event_type;	    /* ":event-type" */
	const char *exception_type; /* ":exception-type" */
	const char *error_code;	    /* ":error-code" (message-type error) */
	const char *error_message;  /* ":error-message" */
	const char *payload;
	size_t payload_len;
};

/* Return 0 to go on, < 0 to stop (eventstream_feed returns that value). The callback must not
 * feed or finish the decoder that called it. */
typedef int (*eventstream_cb)(const struct eventstream_msg *m, void *arg);

/* Caller-owned decoder state. Fields are private: use the functions. */
struct eventstream {
	eventstream_cb cb;
	void *arg;
	size_t max;	/* cap of one message's total_len */
	struct buf buf; /* bytes of the message being received */
	int error;	/* sticky */
};

/* Prepares d. max_message_bytes (>= 16) caps one message; cb is required. */
void eventstream_init(struct eventstream *d, size_t max_message_bytes, eventstream_cb cb,
		      void *arg);
/* Frees the buffer. Accepts NULL. */
void eventstream_finish(struct eventstream *d);
/* Feeds bytes (any split). Returns 0; -E2BIG when a message's total_len is over the cap;
 * -EPROTO for a bad prelude or message CRC, a length that cannot hold the prelude and CRC, or
 * headers that overrun their length; or the callback's negative value. Sticky. */
int eventstream_feed(struct eventstream *d, const char *data, size_t len);
/* True when part of a message is buffered (the stream was cut if it ends now). */
bool eventstream_pending(const struct eventstream *d);

/* IEEE 802.3 CRC32 (zlib's crc32()): crc = 0 to start, then the previous result. */
uint32_t eventstream_crc32(uint32_t crc, const void *data, size_t len);

#endif
