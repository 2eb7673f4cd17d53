/* eventstream: AWS event-stream framing, decoded incrementally. The bytes of one message are
 * gathered in a buffer capped at the caller's limit (the prelude is checked, CRC first, as
 * soon as its 12 bytes are in, so a bad or huge length fails before anything is buffered);
 * a complete message has its CRC checked and its headers walked with bounds checks on every
 * step. All ten header value types are understood (to skip them); only string values are
 * handed out. CRC32 is the reflected IEEE polynomial with a constant 16-entry table (two
 * lookups per byte): small, no init-time state. Rejected: zlib's crc32 (not linked by the
 * static build).
 */
#include "router/providers/eventstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PRELUDE_BYTES	  12
#define MIN_MESSAGE_BYTES 16 /* prelude + message CRC */

static const uint32_t crc_nibble[16] = {
	0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4,
	0x4DB26158, 0x5005713C, 0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C,
	0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C,
};

uint32_t eventstream_crc32(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	crc = ~crc;
	for (i = 0; i < len; i++) {
		crc = crc_nibble[(crc ^ p[i]) & 15] ^ (crc >> 4);
		crc = crc_nibble[(crc ^ (p[i] >> 4)) & 15] ^ (crc >> 4);
	}
	return ~crc;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void eventstream_init(struct eventstream *d, size_t max_message_bytes, eventstream_cb cb, void *arg)
{
	memset(d, 0, sizeof(*d));
	d->cb = cb;
	d->arg = arg;
	d->max = max_message_bytes < MIN_MESSAGE_BYTES ? MIN_MESSAGE_BYTES : max_message_bytes;
	buf_init(&d->buf, d->max);
}

void eventstream_finish(struct eventstream *d)
{
	if (d)
		buf_finish(&d->buf);
}

bool eventstream_pending(const struct eventstream *d)
{
	return d->buf.len > 0;
}

/* The headers the decoder hands out, by name. */
enum { H_MESSAGE_TYPE, H_EVENT_TYPE, H_EXCEPTION_TYPE, H_ERROR_CODE, H_ERROR_MESSAGE, N_HDR };

static const char *const hdr_names[N_HDR] = {
	":message-type", ":event-type", ":exception-type", ":error-code", ":error-message",
};

/* Fixed value sizes of the header types; -1 = u16 length prefix; type 0/1 (bool) none. */
static const int value_size[10] = {0, 0, 1, 2, 4, 8, -1, -1, 8, 16};

/* Walks the headers in h[0..len), copying the wanted string values into vals (malloc'd). */
static int read_headers(const unsigned char *h, size_t len, char *vals[N_HDR])
{
	size_t pos = 0, name_len, vlen, i;
	const unsigned char *name;
	unsigned type;

	while (pos < len) {
		name_len = h[pos++];
		if (name_len > len - pos || len - pos - name_len < 1)
			return -EPROTO;
		name = h + pos;
		pos += name_len;
		type = h[pos++];
		if (type >= 10)
			return -EPROTO;
		if (value_size[type] >= 0) {
			vlen = (size_t)value_size[type];
		} else {
			if (len - pos < 2)
				return -EPROTO;
			vlen = (size_t)h[pos] << 8 | h[pos + 1];
			pos += 2;
		}
		if (vlen > len - pos)
			return -EPROTO;
		for (i = 0; type == 7 && i < N_HDR; i++) {
			if (strlen(hdr_names[i]) == name_len &&
			    memcmp(name, hdr_names[i], name_len) == 0) {
				free(vals[i]);
				vals[i] = xstrndup((const char *)h + pos, vlen);
			}
		}
		pos += vlen;
	}
	return 0;
}

/* A complete message in d->buf: check it, hand it out. */
static int dispatch(struct eventstream *d)
{
	const unsigned char *m = (const unsigned char *)d->buf.data;
	size_t total = d->buf.len, hlen = be32(m + 4), i;
	char *vals[N_HDR] = {0};
	struct eventstream_msg msg;
	int rc;

	if (eventstream_crc32(0, m, total - 4) != be32(m + total - 4))
		return -EPROTO;
	rc = read_headers(m + PRELUDE_BYTES, hlen, vals);
	if (rc == 0) {
		msg.message_type = vals[H_MESSAGE_TYPE] ? vals[H_MESSAGE_TYPE] : "";
		msg.event_type = vals[H_EVENT_TYPE] ? vals[H_EVENT_TYPE] : "";
		msg.exception_type = vals[H_EXCEPTION_TYPE] ? vals[H_EXCEPTION_TYPE] : "";
		msg.error_code = vals[H_ERROR_CODE] ? vals[H_ERROR_CODE] : "";
		msg.error_message = vals[H_ERROR_MESSAGE] ? vals[H_ERROR_MESSAGE] : "";
		msg.payload = (const char *)m + PRELUDE_BYTES + hlen;
		msg.payload_len = total - MIN_MESSAGE_BYTES - hlen;
		rc = d->cb(&msg, d->arg);
	}
	for (i = 0; i < N_HDR; i++)
		free(vals[i]);
	return rc;
}

/* The prelude just completed: its CRC, then lengths that can be framed and fit the cap. */
static int check_prelude(const struct eventstream *d)
{
	const unsigned char *p = (const unsigned char *)d->buf.data;
	uint32_t t = be32(p), h = be32(p + 4);

	if (eventstream_crc32(0, p, 8) != be32(p + 8))
		return -EPROTO;
	if (t < MIN_MESSAGE_BYTES || h > t - MIN_MESSAGE_BYTES)
		return -EPROTO;
	if (t > d->max)
		return -E2BIG;
	return 0;
}

int eventstream_feed(struct eventstream *d, const char *data, size_t len)
{
	size_t need, take;
	int rc;

	while (d->error == 0 && len > 0) {
		need = d->buf.len < PRELUDE_BYTES ? PRELUDE_BYTES
						  : be32((const unsigned char *)d->buf.data);
		take = need - d->buf.len < len ? need - d->buf.len : len;
		buf_append(&d->buf, data, take); /* within the cap: the prelude was checked */
		data += take;
		len -= take;
		if (d->buf.len == PRELUDE_BYTES) {
			rc = check_prelude(d);
			if (rc < 0) {
				d->error = rc;
				break;
			}
		}
		if (d->buf.len > PRELUDE_BYTES &&
		    d->buf.len == be32((const unsigned char *)d->buf.data)) {
			rc = dispatch(d);
			buf_reset(&d->buf);
			if (rc < 0)
				d->error = rc;
		}
	}
	return d->error;
}
