/* multipart: multipart/form-data read into parts that point into the body, and written out
 * again. The parse follows RFC 2046's grammar: an optional preamble, then parts each opened by
 * CRLF "--" boundary (the first one may start the body), transport padding (spaces and tabs)
 * and CRLF, a header block ended by an empty line, the content up to the next delimiter; the
 * close delimiter "--" boundary "--" ends the form and anything after it (the epilogue) is
 * ignored. Only Content-Disposition is read from a part's headers (RFC 7578: name, filename),
 * and a part must have exactly one; the rest is kept verbatim for the re-encoding. The encoder
 * keeps the client's boundary, which the client already chose to be absent from every part, so the
 * file part is never rescanned. Rejected: streaming the parse (the router holds the whole body
 * anyway, capped by router.max_body_bytes) and a fresh random boundary (it would have to be checked
 * against every byte of the file).
 */
#include "net/multipart.h"
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void set_err(char *err, size_t err_len, const char *msg)
{
	if (err && err_len)
		snprintf(err, err_len, "%s", msg);
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* RFC 2045 token characters. */
static bool is_tchar(char ch)
{
	return ch > 32 && ch < 127 && !strchr("()<>@,;:\\\"/[]?=", ch);
}

/* The value of parameter param in a header value's "; a=b; c="d"" list (s..end), malloc'd, or
 * NULL when absent or malformed. Quoted strings may escape with a backslash. */
static char *param_value(const char *s, const char *end, const char *param)
{
	size_t plen = strlen(param);
	const char *p = memchr(s, ';', (size_t)(end - s));

	while (p && p < end) {
		const char *name, *v;
		struct buf out;

		p = skip_ws(p + 1, end);
		name = p;
		while (p < end && *p != '=' && *p != ';')
			p++;
		if (p >= end || *p == ';')
			continue;
		v = p + 1;
		buf_init(&out, 0);
		if (v < end && *v == '"') {
			for (v++; v < end && *v != '"'; v++) {
				if (*v == '\\' && v + 1 < end)
					v++;
				buf_append(&out, v, 1);
			}
			if (v >= end) {
				buf_finish(&out);
				return NULL;
			}
			v++;
		} else {
			const char *t = v;

			while (v < end && *v != ';' && *v != ' ' && *v != '\t')
				v++;
			buf_append(&out, t, (size_t)(v - t));
		}
		while (name < p && (p[-1] == ' ' || p[-1] == '\t'))
			p--;
		if ((size_t)(p - name) == plen && strncasecmp(name, param, plen) == 0)
			return buf_steal(&out);
		buf_finish(&out);
		p = memchr(v, ';', (size_t)(end - v));
	}
	return NULL;
}

#define NAMELESS "a multipart part lacks Content-Disposition: form-data; name=\"...\""

/* Reads name and filename from the one Content-Disposition line of a header block. A second
 * one is refused, not skipped: servers disagree on which one counts (Starlette reads the last),
 * so a part could name one field here and another upstream. */
static int read_disposition(struct multipart_part *part, char *err, size_t err_len)
{
	static const char hname[] = "content-disposition:";
	const char *p = part->head, *end = part->head + part->head_len, *line = NULL,
		   *line_end = NULL;
	const char *v;

	while (p < end) {
		const char *eol = p;

		while (eol + 1 < end && !(eol[0] == '\r' && eol[1] == '\n'))
			eol++;
		if (eol + 1 >= end)
			eol = end;
		if ((size_t)(eol - p) >= sizeof(hname) - 1 &&
		    strncasecmp(p, hname, sizeof(hname) - 1) == 0) {
			if (line) {
				set_err(err, err_len,
					"a multipart part has more than one Content-Disposition "
					"header; send one per part");
				return -1;
			}
			line = p;
			line_end = eol;
		}
		p = eol + 2;
	}
	if (!line)
		goto nameless;
	v = skip_ws(line + sizeof(hname) - 1, line_end);
	if ((size_t)(line_end - v) < 9 || strncasecmp(v, "form-data", 9) != 0)
		goto nameless;
	part->name = param_value(v, line_end, "name");
	part->filename = param_value(v, line_end, "filename");
	if (part->name)
		return 0;
nameless:
	set_err(err, err_len, NAMELESS);
	return -1;
}

/* RFC 2046's bchars: letters, digits, '()+_,-./:=? and spaces, not at the end. */
static bool bchars(const char *b)
{
	const char *p;

	for (p = b; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("'()+_,-./:=? ", *p))
			return false;
	return p[-1] != ' ';
}

static int read_boundary(const char *content_type, struct multipart_form *out, char *err,
			 size_t err_len)
{
	static const char media[] = "multipart/form-data";
	const char *s, *end;
	char *b;
	size_t n;

	if (!content_type) {
		set_err(err, err_len, "the body must be multipart/form-data (no Content-Type)");
		return -EINVAL;
	}
	s = skip_ws(content_type, content_type + strlen(content_type));
	end = s + strlen(s);
	if ((size_t)(end - s) < sizeof(media) - 1 ||
	    strncasecmp(s, media, sizeof(media) - 1) != 0 ||
	    (s[sizeof(media) - 1] != ';' && s[sizeof(media) - 1] != ' ' &&
	     s[sizeof(media) - 1] != '\0')) {
		set_err(err, err_len, "the body must be multipart/form-data");
		return -EINVAL;
	}
	b = param_value(s + sizeof(media) - 1, end, "boundary");
	n = b ? strlen(b) : 0;
	if (n == 0 || n > MULTIPART_MAX_BOUNDARY || !bchars(b)) {
		free(b);
		set_err(err, err_len,
			"multipart/form-data needs a boundary of 1 to 70 characters of RFC 2046");
		return -EINVAL;
	}
	memcpy(out->boundary, b, n + 1);
	free(b);
	return 0;
}

/* Where the delimiter CRLF "--" boundary starts at or after p, or NULL. */
static const char *find_delim(const char *p, const char *end, const char *delim, size_t dlen)
{
	return (size_t)(end - p) < dlen ? NULL : memmem(p, (size_t)(end - p), delim, dlen);
}

/* One part starting at p (just after its "--boundary" line). Returns where the next delimiter
 * starts, or NULL with err set. */
static const char *read_part(const char *p, const char *end, const char *delim, size_t dlen,
			     struct multipart_part *part, char *err, size_t err_len)
{
	size_t cap = (size_t)(end - p);
	const char *hend, *next;

	if (cap > MULTIPART_MAX_HEADER_BYTES + 4)
		cap = MULTIPART_MAX_HEADER_BYTES + 4;
	/* A part without headers has no name, so it is refused with the nameless ones. */
	hend = cap >= 2 && p[0] == '\r' && p[1] == '\n' ? NULL : memmem(p, cap, "\r\n\r\n", 4);
	if (!hend && cap >= 2 && p[0] == '\r') {
		set_err(err, err_len, NAMELESS);
		return NULL;
	}
	if (!hend) {
		set_err(err, err_len, "a multipart part's headers are too long or unended");
		return NULL;
	}
	part->head = p;
	part->head_len = (size_t)(hend - p);
	if (read_disposition(part, err, err_len) < 0)
		return NULL;
	part->data = hend + 4;
	next = find_delim(part->data, end, delim, dlen);
	if (!next) {
		set_err(err, err_len, "the multipart body ends without its closing boundary");
		return NULL;
	}
	part->data_len = (size_t)(next - part->data);
	return next;
}

int multipart_parse(const char *content_type, const char *body, size_t len,
		    struct multipart_form *out, char *err, size_t err_len)
{
	const char *end = body + len, *p;
	char delim[MULTIPART_MAX_BOUNDARY + 5];
	size_t dlen;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = read_boundary(content_type, out, err, err_len);
	if (rc < 0)
		return rc;
	dlen = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", out->boundary);
	/* The first delimiter may open the body, without the CRLF. */
	if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0)
		p = body;
	else if ((p = find_delim(body, end, delim, dlen)))
		p += 2;
	out->parts = xcalloc(MULTIPART_MAX_PARTS, sizeof(*out->parts));
	while (p) {
		p += dlen - 2;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
			if (out->n_parts)
				return 0;
			break;
		}
		p = skip_ws(p, end);
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			break;
		if (out->n_parts == MULTIPART_MAX_PARTS) {
			set_err(err, err_len, "the form has more than 64 parts");
			multipart_form_finish(out);
			return -E2BIG;
		}
		p = read_part(p + 2, end, delim, dlen, &out->parts[out->n_parts++], err, err_len);
		if (!p) {
			multipart_form_finish(out);
			return -EINVAL;
		}
		p += 2;
	}
	set_err(err, err_len,
		out->n_parts ? "the multipart body does not follow its boundary"
			     : "the multipart body has no part");
	multipart_form_finish(out);
	return -EINVAL;
}

void multipart_form_finish(struct multipart_form *f)
{
	size_t i;

	if (!f || !f->parts)
		return;
	for (i = 0; i < f->n_parts; i++) {
		free(f->parts[i].name);
		free(f->parts[i].filename);
	}
	free(f->parts);
	f->parts = NULL;
	f->n_parts = 0;
}

const struct multipart_part *multipart_find(const struct multipart_form *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n_parts; i++)
		if (strcmp(f->parts[i].name, name) == 0)
			return &f->parts[i];
	return NULL;
}

size_t multipart_count(const struct multipart_form *f, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < f->n_parts; i++)
		n += strcmp(f->parts[i].name, name) == 0;
	return n;
}

/* The boundary as a Content-Type parameter value: a token, else a quoted string. */
static char *content_type_of(const char *boundary)
{
	const char *q;

	for (q = boundary; *q; q++)
		if (!is_tchar(*q))
			return xasprintf("multipart/form-data; boundary=\"%s\"", boundary);
	return xasprintf("multipart/form-data; boundary=%s", boundary);
}

char *multipart_encode(const struct multipart_form *f, const char *field, const char *value,
		       size_t *len, char **content_type)
{
	struct buf out;
	size_t i;

	if (value && strstr(value, f->boundary))
		return NULL;
	buf_init(&out, 0);
	for (i = 0; i < f->n_parts; i++) {
		const struct multipart_part *part = &f->parts[i];
		bool replace = value && !part->filename && strcmp(part->name, field) == 0;

		buf_puts(&out, "--");
		buf_puts(&out, f->boundary);
		buf_puts(&out, "\r\n");
		buf_append(&out, part->head, part->head_len);
		buf_puts(&out, "\r\n\r\n");
		if (replace)
			buf_puts(&out, value);
		else
			buf_append(&out, part->data, part->data_len);
		buf_puts(&out, "\r\n");
	}
	buf_puts(&out, "--");
	buf_puts(&out, f->boundary);
	buf_puts(&out, "--\r\n");
	*len = out.len;
	*content_type = content_type_of(f->boundary);
	return buf_steal(&out);
}
