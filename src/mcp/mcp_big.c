/* mcp_big: a JSON scanner over one oversized MCP message (mcp_big.h). A byte-at-a-time state
 * machine with a fixed stack of containers; each container has a role (the message, its
 * result, result.content, one block, a block's resource, the error) and each member the kind
 * its key names, so a string value knows at its first byte whether it is streamed (a block's
 * text), counted (base64 data), kept short (the id, a type) or skipped. Runs of plain string
 * bytes go out as one span.
 *
 * Rejected: a spill file of the raw message parsed afterwards (the disk would hold the message
 * twice, and cJSON would still need the whole tree in memory), and a general streaming JSON
 * library (none in Debian's static set; this needs 1% of one).
 */
#include "mcp/mcp_big.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/toolout.h"
#include "core/util.h"
#include "mcp/transport.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMALL_MAX 512 /* a kept string: id, type, mimeType, error message */
#define KEY_MAX	  16
#define RAW_STEP  4096 /* bytes kept per step while undecided */
#define ATOM_MAX  64
/* Room the later redaction of the excerpt may take (mcp.c redacts, tools.c cuts again). */
#define NOTE_SLACK 64

enum role { R_OTHER, R_TOP, R_RESULT, R_CONTENT, R_ITEM, R_RESOURCE, R_ERROR };
enum kind {
	K_OTHER,
	K_ID,
	K_METHOD,
	K_RESULT,
	K_ERROR,
	K_CONTENT,
	K_IS_ERROR,
	K_TYPE,
	K_MIME,
	K_TEXT,
	K_DATA,
	K_RESOURCE,
	K_CODE,
	K_MESSAGE
};
enum st {
	ST_VALUE,
	ST_KEY_OR_END,
	ST_KEY,
	ST_COLON,
	ST_COMMA_OR_END,
	ST_STRING,
	ST_ESC,
	ST_UHEX,
	ST_ATOM,
	ST_DONE
};
/* Where the bytes of the string being read go. */
enum sink { S_SKIP, S_KEY, S_SMALL, S_TEXT, S_COUNT };

struct frame {
	uint8_t role;
	uint8_t kind; /* of the member being read (objects) */
	bool is_obj;
};

static const struct {
	const char *key;
	enum kind kind;
} keys[] = {
	{"id", K_ID},	    {"method", K_METHOD},   {"result", K_RESULT},
	{"error", K_ERROR}, {"content", K_CONTENT}, {"isError", K_IS_ERROR},
	{"type", K_TYPE},   {"mimeType", K_MIME},   {"text", K_TEXT},
	{"data", K_DATA},   {"blob", K_DATA},	    {"resource", K_RESOURCE},
	{"code", K_CODE},   {"message", K_MESSAGE},
};

struct mcp_big {
	const struct config *cfg;
	struct toolout *out;
	struct frame stack[MCP_BIG_DEPTH];
	size_t depth;
	enum st st;
	enum sink sink;
	struct buf *small; /* the S_SMALL target */
	char key[KEY_MAX + 1];
	size_t key_len;
	bool key_long;
	char atom[ATOM_MAX + 1];
	size_t atom_len;
	unsigned uhex, n_uhex, high; /* \uXXXX being read; a pending high surrogate */
	uint64_t size, counted;
	/* what was found */
	struct buf id, method, type, mime, message;
	char code[ATOM_MAX + 1];
	bool has_id, id_is_str, has_result, has_error, is_error, is_request;
	size_t n_blocks; /* content blocks that gave the model something */
	int error;
	char why[160];
	/* Only answers to tools/call stream; anything else is held whole as before (up to
	 * MCP_EVENT_CAP) and handed over as it came. Until that is decided (at "result", "error"
	 * or "method"; the id comes first in practice) the raw bytes are kept. */
	bool (*streams)(const void *arg, int64_t id); /* NULL: everything streams */
	const void *streams_arg;
	bool decided, hold;
	struct buf raw;
};

static struct mcp_big *create(const struct config *cfg, struct offload *off, const char *server)
{
	struct mcp_big *b = xcalloc(1, sizeof(*b));
	char label[64];
	size_t cap = (size_t)cfg->agent.tool_result_max_bytes;

	b->cfg = cfg;
	snprintf(label, sizeof(label), "mcp-%s", server ? server : "");
	b->out = toolout_create(cfg, off, label, cap > 2 * NOTE_SLACK ? cap - NOTE_SLACK : cap);
	buf_init(&b->id, SMALL_MAX);
	buf_init(&b->method, SMALL_MAX);
	buf_init(&b->type, SMALL_MAX);
	buf_init(&b->mime, SMALL_MAX);
	buf_init(&b->message, SMALL_MAX);
	buf_init(&b->raw, MCP_EVENT_CAP);
	b->decided = true; /* until a filter is set */
	return b;
}

struct mcp_big *mcp_big_create(const struct config *cfg, const char *server)
{
	return create(cfg, NULL, server);
}

static bool server_streams(const void *arg, int64_t id)
{
	return mcp_transport_streams(arg, id);
}

struct mcp_big *mcp_big_create_for(struct mcp_server *s)
{
	/* The kept file is written on the loop's workers, never on the loop. */
	struct mcp_big *b =
		create(mcp_server_cfg(s), loop_offload(mcp_server_loop(s)), mcp_server_name(s));

	b->streams = server_streams;
	b->streams_arg = s;
	b->decided = false;
	return b;
}

/* Streams or holds, once the message showed what it is (see struct mcp_big). */
static void decide(struct mcp_big *b)
{
	int64_t id = 0;
	bool ours = b->has_id && !b->id_is_str &&
		    parse_i64(buf_str(&b->id), INT64_MIN, INT64_MAX, &id) == 0;

	if (b->decided)
		return;
	b->decided = true;
	b->hold = b->is_request || !ours || !b->streams(b->streams_arg, id);
	if (!b->hold)
		buf_finish(&b->raw);
}

void mcp_big_destroy(struct mcp_big *b)
{
	if (!b)
		return;
	toolout_destroy(b->out);
	buf_finish(&b->id);
	buf_finish(&b->method);
	buf_finish(&b->type);
	buf_finish(&b->mime);
	buf_finish(&b->message);
	buf_finish(&b->raw);
	free(b);
}

static int fail(struct mcp_big *b, int rc, const char *why)
{
	b->error = rc;
	snprintf(b->why, sizeof(b->why), "%s", why);
	return rc;
}

static struct frame *top(struct mcp_big *b)
{
	return b->depth ? &b->stack[b->depth - 1] : NULL;
}

/* The kind of the value about to start: its member's, or in result.content[] a block. */
static enum kind value_kind(struct mcp_big *b)
{
	struct frame *f = top(b);

	return f && f->is_obj ? f->kind : K_OTHER;
}

/* Text of the blocks in order, one line apart, as mcp_render joins them. */
static void block_text(struct mcp_big *b, const char *s, size_t len)
{
	toolout_write(b->out, s, len);
}

static void start_block_output(struct mcp_big *b)
{
	if (b->n_blocks++)
		block_text(b, "\n", 1);
}

static int push(struct mcp_big *b, bool is_obj)
{
	struct frame *f = top(b);
	enum kind k = value_kind(b);
	enum role r = R_OTHER;

	if (b->depth == MCP_BIG_DEPTH)
		return fail(b, -EPROTO, "the message is nested deeper than 64 levels");
	if (!f)
		r = is_obj ? R_TOP : R_OTHER;
	else if (f->role == R_TOP && k == K_RESULT && is_obj)
		r = R_RESULT;
	else if (f->role == R_TOP && k == K_ERROR && is_obj)
		r = R_ERROR;
	else if (f->role == R_RESULT && k == K_CONTENT && !is_obj)
		r = R_CONTENT;
	else if (f->role == R_CONTENT && is_obj)
		r = R_ITEM;
	else if (f->role == R_ITEM && k == K_RESOURCE && is_obj)
		r = R_RESOURCE;
	if (r == R_RESULT)
		b->has_result = true;
	if (r == R_ERROR)
		b->has_error = true;
	if (r == R_RESULT || r == R_ERROR)
		decide(b);
	if (r == R_ITEM) {
		buf_reset(&b->type);
		buf_reset(&b->mime);
		b->counted = 0;
	}
	b->stack[b->depth++] = (struct frame){.role = (uint8_t)r, .is_obj = is_obj};
	b->st = is_obj ? ST_KEY_OR_END : ST_VALUE;
	return 0;
}

/* A block ends: binary data becomes a note with its type and size, as mcp_render says it. */
static void end_block(struct mcp_big *b)
{
	char note[SMALL_MAX + 96];
	int n;

	if (!b->counted)
		return;
	n = snprintf(note, sizeof(note), "[%s: %s, %llu bytes of base64, not shown]",
		     b->type.len ? buf_str(&b->type) : "data",
		     b->mime.len ? buf_str(&b->mime) : "unknown type",
		     (unsigned long long)b->counted);
	start_block_output(b);
	block_text(b, note, (size_t)n);
}

static void after_value(struct mcp_big *b)
{
	b->st = b->depth ? ST_COMMA_OR_END : ST_DONE;
}

static int pop(struct mcp_big *b, bool is_obj)
{
	struct frame *f = top(b);

	if (!f || f->is_obj != is_obj)
		return fail(b, -EPROTO, "the message is not JSON (a bracket does not match)");
	if (f->role == R_ITEM)
		end_block(b);
	b->depth--;
	after_value(b);
	return 0;
}

static void start_string(struct mcp_big *b)
{
	struct frame *f = top(b);
	enum kind k = value_kind(b);
	enum role r = f ? (enum role)f->role : R_OTHER;

	b->sink = S_SKIP;
	b->small = NULL;
	b->high = 0;
	if (r == R_TOP && k == K_ID) {
		b->has_id = b->id_is_str = true;
		b->small = &b->id;
	} else if (r == R_TOP && k == K_METHOD) {
		b->is_request = true;
		b->small = &b->method;
		decide(b);
	} else if ((r == R_ITEM || r == R_RESOURCE) && k == K_TEXT) {
		b->sink = S_TEXT;
		start_block_output(b);
	} else if (r == R_ITEM && k == K_TYPE) {
		b->small = &b->type;
	} else if ((r == R_ITEM || r == R_RESOURCE) && k == K_MIME) {
		b->small = &b->mime;
	} else if ((r == R_ITEM || r == R_RESOURCE) && k == K_DATA) {
		b->sink = S_COUNT;
	} else if (r == R_ERROR && k == K_MESSAGE) {
		b->small = &b->message;
	}
	if (b->small) {
		buf_reset(b->small);
		b->sink = S_SMALL;
	}
	b->st = ST_STRING;
}

/* Bytes of the string being read, decoded. */
static void emit(struct mcp_big *b, const char *s, size_t len)
{
	switch (b->sink) {
	case S_KEY:
		if (b->key_len + len > KEY_MAX) {
			b->key_long = true;
			return;
		}
		memcpy(b->key + b->key_len, s, len);
		b->key_len += len;
		return;
	case S_SMALL: {
		size_t room = b->small->cap - b->small->len;

		buf_append(b->small, s, len < room ? len : room);
		return;
	}
	case S_TEXT:
		block_text(b, s, len);
		return;
	case S_COUNT:
		b->counted += len;
		return;
	case S_SKIP:
		return;
	}
}

static void emit_cp(struct mcp_big *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	emit(b, u, n);
}

/* A \uXXXX is complete: surrogate pairs joined, a lone half becomes U+FFFD. */
static void end_uhex(struct mcp_big *b)
{
	unsigned u = b->uhex;

	if (b->high && u >= 0xDC00 && u <= 0xDFFF) {
		emit_cp(b, 0x10000 + ((b->high - 0xD800) << 10) + (u - 0xDC00));
		b->high = 0;
		return;
	}
	if (b->high)
		emit_cp(b, 0xFFFD);
	b->high = 0;
	if (u >= 0xD800 && u <= 0xDBFF)
		b->high = u;
	else if (u >= 0xDC00 && u <= 0xDFFF)
		emit_cp(b, 0xFFFD);
	else
		emit_cp(b, u);
}

static void end_key(struct mcp_big *b)
{
	struct frame *f = top(b);
	size_t i;

	f->kind = K_OTHER;
	for (i = 0; !b->key_long && i < ARRAY_LEN(keys); i++)
		if (strlen(keys[i].key) == b->key_len && !memcmp(keys[i].key, b->key, b->key_len))
			f->kind = (uint8_t)keys[i].kind;
	b->st = ST_COLON;
}

static void end_string(struct mcp_big *b)
{
	if (b->high)
		emit_cp(b, 0xFFFD);
	b->high = 0;
	if (b->sink == S_KEY)
		end_key(b);
	else
		after_value(b);
}

/* True for true, false, null and a JSON number (RFC 8259's grammar). */
static bool valid_atom(const char *a)
{
	const char *p = a;

	if (!strcmp(a, "true") || !strcmp(a, "false") || !strcmp(a, "null"))
		return true;
	p += *p == '-';
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		p += strspn(p, "0123456789");
	else
		return false;
	if (*p == '.') {
		if (!strspn(++p, "0123456789"))
			return false;
		p += strspn(p, "0123456789");
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		p += *p == '+' || *p == '-';
		if (!strspn(p, "0123456789"))
			return false;
		p += strspn(p, "0123456789");
	}
	return *p == '\0';
}

static int end_atom(struct mcp_big *b)
{
	struct frame *f = top(b);
	enum kind k = value_kind(b);
	enum role r = f ? (enum role)f->role : R_OTHER;

	b->atom[b->atom_len] = '\0';
	if (!valid_atom(b->atom))
		return fail(b, -EPROTO, "the message is not JSON (a word that is no value)");
	if (r == R_TOP && k == K_ID) {
		b->has_id = true;
		b->id_is_str = false;
		buf_reset(&b->id);
		buf_puts(&b->id, b->atom);
	} else if (r == R_RESULT && k == K_IS_ERROR) {
		b->is_error = strcmp(b->atom, "true") == 0;
	} else if (r == R_ERROR && k == K_CODE) {
		memcpy(b->code, b->atom, b->atom_len + 1);
	}
	after_value(b);
	return 0;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_atom_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' ||
	       c == '.' || c == 'E';
}

/* Inside a string: a run of plain bytes at once. Returns the bytes used. */
static size_t string_run(struct mcp_big *b, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] != '"' && p[i] != '\\')
		i++;
	if (i) {
		if (b->high) {
			emit_cp(b, 0xFFFD);
			b->high = 0;
		}
		emit(b, p, i);
		return i;
	}
	b->st = p[0] == '"' ? ST_VALUE : ST_ESC;
	if (p[0] == '"') {
		end_string(b);
	}
	return 1;
}

static int escape(struct mcp_big *b, char c)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *at = c ? strchr(from, c) : NULL;

	if (c == 'u') {
		b->uhex = b->n_uhex = 0;
		b->st = ST_UHEX;
		return 0;
	}
	if (!at)
		return fail(b, -EPROTO, "the message is not JSON (a bad escape in a string)");
	if (b->high) {
		emit_cp(b, 0xFFFD);
		b->high = 0;
	}
	emit(b, &to[at - from], 1);
	b->st = ST_STRING;
	return 0;
}

/* One structural byte (outside strings and atoms). */
static int structural(struct mcp_big *b, char c)
{
	if (is_ws(c))
		return 0;
	switch (b->st) {
	case ST_VALUE:
		if (c == '{')
			return push(b, true);
		if (c == '[')
			return push(b, false);
		if (c == ']' && top(b) && !top(b)->is_obj)
			return pop(b, false); /* an empty array */
		if (c == '"') {
			start_string(b);
			return 0;
		}
		if (is_atom_char(c)) {
			b->atom[0] = c;
			b->atom_len = 1;
			b->st = ST_ATOM;
			return 0;
		}
		break;
	case ST_KEY_OR_END:
		if (c == '}')
			return pop(b, true);
		/* fall through */
	case ST_KEY:
		if (c == '"') {
			b->key_len = 0;
			b->key_long = false;
			b->sink = S_KEY;
			b->st = ST_STRING;
			return 0;
		}
		break;
	case ST_COLON:
		if (c == ':') {
			b->st = ST_VALUE;
			return 0;
		}
		break;
	case ST_COMMA_OR_END:
		if (c == ',') {
			b->st = top(b)->is_obj ? ST_KEY : ST_VALUE;
			return 0;
		}
		if (c == '}' || c == ']')
			return pop(b, c == '}');
		break;
	default:
		break;
	}
	return fail(b, -EPROTO,
		    b->st == ST_DONE ? "the message has bytes after its JSON value"
				     : "the message is not JSON");
}

/* Scans data until the message is held (then the raw bytes are all that matters). */
static int scan(struct mcp_big *b, const char *data, size_t len)
{
	size_t i = 0;
	int rc;

	while (i < len && !b->hold) {
		char c = data[i];

		switch (b->st) {
		case ST_STRING:
			i += string_run(b, data + i, len - i);
			continue;
		case ST_ESC:
			rc = escape(b, c);
			break;
		case ST_UHEX:
			if (hex_digit(c) < 0)
				return fail(b, -EPROTO,
					    "the message is not JSON (a bad \\u escape)");
			b->uhex = (b->uhex << 4) | (unsigned)hex_digit(c);
			if (++b->n_uhex == 4) {
				end_uhex(b);
				b->st = ST_STRING;
			}
			rc = 0;
			break;
		case ST_ATOM:
			if (is_atom_char(c)) {
				if (b->atom_len == ATOM_MAX)
					return fail(b, -EPROTO,
						    "the message is not JSON (a long word)");
				b->atom[b->atom_len++] = c;
				rc = 0;
				break;
			}
			if (end_atom(b) < 0)
				return b->error;
			continue; /* c is read again in the new state */
		default:
			rc = structural(b, c);
			break;
		}
		if (rc < 0)
			return rc;
		i++;
	}
	return 0;
}

int mcp_big_feed(struct mcp_big *b, const char *data, size_t len)
{
	int rc;

	if (b->error)
		return b->error;
	b->size += len;
	if (b->size > (uint64_t)b->cfg->agent.tool_output.max_bytes)
		return fail(b, -E2BIG, "the message is larger than agent.tool_output.max_bytes");
	/* Undecided, the bytes are kept as well, in small steps: the decision comes within the
	 * first few dozen bytes, so a streaming answer never holds more than one step. */
	while (len && !b->decided) {
		size_t n = len < RAW_STEP ? len : RAW_STEP;

		if (buf_append(&b->raw, data, n) < 0) {
			b->decided = true; /* 4 MiB and still undecided: it streams */
			buf_finish(&b->raw);
		}
		rc = scan(b, data, n);
		if (rc < 0)
			return rc;
		data += n;
		len -= n;
	}
	if (b->hold && buf_append(&b->raw, data, len) < 0)
		return fail(
			b, -E2BIG,
			"the message is over the 4 MiB frame cap and no tools/call answer, which "
			"alone may stream");
	return b->hold ? 0 : scan(b, data, len);
}

const char *mcp_big_why(const struct mcp_big *b)
{
	return b->why;
}

uint64_t mcp_big_size(const struct mcp_big *b)
{
	return b->size;
}

static void put_id(const struct mcp_big *b, struct buf *m)
{
	if (b->id_is_str)
		buf_json_str(m, b->id.data, b->id.len);
	else
		buf_append(m, b->id.data, b->id.len);
}

char *mcp_big_finish(struct mcp_big *b, size_t *len)
{
	struct buf m, text;

	if (b->hold && !b->error) { /* handed over as it came, for the core to parse */
		*len = b->raw.len;
		return buf_steal(&b->raw);
	}
	if (!b->error && b->st == ST_ATOM && !b->depth)
		end_atom(b); /* sets the error when it is no value */
	if (!b->error && b->st != ST_DONE)
		fail(b, -EPROTO, "the message ended before its JSON value did");
	if (b->error || b->is_request || !b->has_id || (!b->has_result && !b->has_error)) {
		if (!b->error)
			fail(b, -EPROTO,
			     b->is_request ? "the message is a request from the server"
					   : "the message is no answer");
		return NULL;
	}
	buf_init(&m, 0);
	buf_init(&text, 0);
	buf_puts(&m, "{\"jsonrpc\":\"2.0\",\"id\":");
	put_id(b, &m);
	if (b->has_error || !b->n_blocks) {
		if (!b->has_error)
			buf_printf(&text,
				   "the server's answer was %llu bytes, over the %d MiB frame cap, "
				   "and held no text a model reads",
				   (unsigned long long)b->size, MCP_FRAME_CAP / (1024 * 1024));
		else
			buf_append(&text, b->message.data, b->message.len);
		buf_printf(&m, ",\"error\":{\"code\":%s,\"message\":",
			   b->has_error && *b->code ? b->code : "-32603");
		buf_json_str(&m, text.data ? text.data : "", text.len);
		buf_puts(&m, "}}");
	} else {
		toolout_text(b->out, &text);
		buf_puts(&m, ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":");
		buf_json_str(&m, text.data ? text.data : "", text.len);
		buf_printf(&m, "}],\"isError\":%s}}", b->is_error ? "true" : "false");
	}
	buf_finish(&text);
	*len = m.len;
	return buf_steal(&m);
}

void mcp_big_hand_over(struct mcp_big **b, struct mcp_server *s)
{
	size_t len = 0;
	char *msg = mcp_big_finish(*b, &len);

	if (!msg)
		log_warn("mcp %s: dropped a %llu-byte message: %s", mcp_server_name(s),
			 (unsigned long long)(*b)->size, (*b)->why);
	else if (!(*b)->hold)
		log_info("mcp %s: a %llu-byte answer streamed past the %d MiB frame cap",
			 mcp_server_name(s), (unsigned long long)(*b)->size,
			 MCP_FRAME_CAP / (1024 * 1024));
	mcp_big_destroy(*b);
	*b = NULL;
	if (msg)
		mcp_transport_message(s, msg, len);
	free(msg);
}

void mcp_big_failure(const struct mcp_big *b, char *out, size_t len)
{
	snprintf(out, len, "the server sent a message of over %llu bytes that cannot be read: %s",
		 (unsigned long long)b->size, b->why);
}
