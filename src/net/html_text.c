/* html_text: a one-pass HTML-to-text reducer.
 *
 * A small tokenizer walks the bytes once: text runs go through entity decoding and
 * whitespace collapsing into a "sink" that holds back spaces and line breaks until the next
 * visible character (so there is never leading or trailing whitespace, and a block boundary
 * wins over a space). Tags are looked up in one table that says what an element does: break
 * the line, start a paragraph, drop its raw content (script, style), drop its content while
 * still reading tags (svg, head), or capture the title. A first pass only looks for the title,
 * so it can lead the output wherever it appeared, and the text then goes straight into the
 * caller's capped buffer, cut between characters when the cap is reached.
 *
 * Rejected: a real HTML5 tree builder (md4c-sized code for a few edge cases a model does not
 * notice), and keeping link targets (long URLs cost tokens on every page; the model can ask
 * for a page it was told about by name).
 */
#include "net/html_text.h"
#include "core/util.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#define TITLE_CAP    512
#define NAME_MAX_LEN 16

enum kind {
	K_INLINE, /* not in the table: keeps its text */
	K_LINE,	  /* one line break before and after */
	K_PARA,	  /* a blank line before and after */
	K_BR,	  /* a line break, no content */
	K_ITEM,	  /* list item: line break and "- " */
	K_CELL,	  /* table cell: a space */
	K_PRE,	  /* paragraph that keeps its line breaks */
	K_RAW,	  /* content is not HTML: skipped up to the end tag */
	K_SKIP,	  /* content is HTML but dropped (tags still read, for nesting and the title) */
	K_HEAD,	  /* like K_SKIP, and ends at the first tag that only a body has */
	K_TITLE,
};

struct elem {
	const char *name;
	enum kind kind;
};

static const struct elem elems[] = {
	{"address", K_PARA},  {"article", K_PARA},  {"aside", K_PARA},	    {"blockquote", K_PARA},
	{"br", K_BR},	      {"caption", K_LINE},  {"center", K_LINE},	    {"dd", K_LINE},
	{"details", K_PARA},  {"dialog", K_PARA},   {"div", K_LINE},	    {"dl", K_PARA},
	{"dt", K_LINE},	      {"fieldset", K_PARA}, {"figcaption", K_LINE}, {"figure", K_PARA},
	{"footer", K_PARA},   {"form", K_PARA},	    {"h1", K_PARA},	    {"h2", K_PARA},
	{"h3", K_PARA},	      {"h4", K_PARA},	    {"h5", K_PARA},	    {"h6", K_PARA},
	{"head", K_HEAD},     {"header", K_PARA},   {"hgroup", K_PARA},	    {"hr", K_BR},
	{"iframe", K_RAW},    {"legend", K_LINE},   {"li", K_ITEM},	    {"main", K_PARA},
	{"math", K_SKIP},     {"nav", K_PARA},	    {"noembed", K_RAW},	    {"noframes", K_RAW},
	{"noscript", K_RAW},  {"ol", K_PARA},	    {"option", K_LINE},	    {"p", K_PARA},
	{"pre", K_PRE},	      {"script", K_RAW},    {"section", K_PARA},    {"style", K_RAW},
	{"summary", K_LINE},  {"svg", K_SKIP},	    {"table", K_PARA},	    {"td", K_CELL},
	{"template", K_SKIP}, {"textarea", K_RAW},  {"th", K_CELL},	    {"title", K_TITLE},
	{"tr", K_LINE},	      {"ul", K_PARA},	    {"xmp", K_RAW},
};

/* Elements that may stand in <head>; any other start tag ends an unclosed head. */
static const char *const head_elems[] = {"base",   "link",  "meta",	"noscript",
					 "script", "style", "template", "title"};

/* Text is written through a sink that holds back whitespace until something visible follows. */
struct sink {
	struct buf *b;
	int rc;
	bool any;    /* something visible was written */
	bool space;  /* a space is pending */
	int breaks;  /* line breaks pending (at most 2: a blank line) */
	bool bullet; /* "- " is pending */
};

struct red {
	const char *p, *end;
	struct sink text, title;
	bool have_title;
	int pre;		 /* depth of open <pre> */
	const struct elem *skip; /* the K_SKIP/K_HEAD element whose content is dropped */
	int skip_depth;
};

/* A sink without a buffer only tracks state (the title pass). */
static void sink_put(struct sink *s, const char *data, size_t n)
{
	if (s->b && s->rc == 0 && buf_append(s->b, data, n) < 0)
		s->rc = -E2BIG;
}

/* Writes held-back whitespace, then n visible bytes. */
static void sink_visible(struct sink *s, const char *data, size_t n)
{
	if (s->any && s->breaks > 0)
		sink_put(s, "\n\n", (size_t)s->breaks);
	else if (s->any && s->space)
		sink_put(s, " ", 1);
	if (s->bullet)
		sink_put(s, "- ", 2);
	s->breaks = 0;
	s->space = false;
	s->bullet = false;
	s->any = true;
	sink_put(s, data, n);
}

static void sink_break(struct sink *s, int n)
{
	if (n > s->breaks)
		s->breaks = n;
	s->space = false;
}

static void sink_utf8(struct sink *s, unsigned cp)
{
	char u[4];

	if (cp < 0x80) {
		u[0] = (char)cp;
		sink_visible(s, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		sink_visible(s, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		sink_visible(s, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		sink_visible(s, u, 4);
	}
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(unsigned char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

/* One text byte or sequence at *pp: whitespace collapses (or, in <pre>, keeps its lines),
 * control characters vanish, invalid UTF-8 becomes U+FFFD. */
static void text_char(struct sink *s, const char **pp, const char *end, bool pre)
{
	const unsigned char *p = (const unsigned char *)*pp;
	size_t n;

	if (is_space(*p)) {
		if (pre && *p == '\n')
			s->breaks = s->breaks < 2 && s->any ? s->breaks + 1 : s->breaks;
		else if (pre && *p != '\r')
			sink_visible(s, " ", 1);
		else if (!pre && s->breaks == 0)
			s->space = true;
		*pp += 1;
		return;
	}
	if (*p < 0x20 || *p == 0x7f) {
		*pp += 1;
		return;
	}
	n = utf8_seq((const char *)p, (size_t)(end - *pp));
	if (n == 0) {
		sink_utf8(s, 0xfffd);
		*pp += 1;
		return;
	}
	sink_visible(s, *pp, n);
	*pp += n;
}

/* ---- entities ---- */

struct entity {
	const char *name;
	unsigned cp;
};

/* The common ones; the full list has 2231 names, most never seen in text worth reading. */
static const struct entity entities[] = {
	{"amp", '&'},	    {"lt", '<'},       {"gt", '>'},	  {"quot", '"'},
	{"apos", '\''},	    {"nbsp", ' '},     {"copy", 0xa9},	  {"reg", 0xae},
	{"trade", 0x2122},  {"mdash", 0x2014}, {"ndash", 0x2013}, {"hellip", 0x2026},
	{"lsquo", 0x2018},  {"rsquo", 0x2019}, {"ldquo", 0x201c}, {"rdquo", 0x201d},
	{"laquo", 0xab},    {"raquo", 0xbb},   {"bull", 0x2022},  {"middot", 0xb7},
	{"deg", 0xb0},	    {"times", 0xd7},   {"divide", 0xf7},  {"euro", 0x20ac},
	{"pound", 0xa3},    {"yen", 0xa5},     {"cent", 0xa2},	  {"sect", 0xa7},
	{"para", 0xb6},	    {"plusmn", 0xb1},  {"frac12", 0xbd},  {"shy", 0xad},
	{"larr", 0x2190},   {"rarr", 0x2192},  {"uarr", 0x2191},  {"darr", 0x2193},
	{"le", 0x2264},	    {"ge", 0x2265},    {"ne", 0x2260},	  {"minus", 0x2212},
	{"auml", 0xe4},	    {"ouml", 0xf6},    {"uuml", 0xfc},	  {"Auml", 0xc4},
	{"Ouml", 0xd6},	    {"Uuml", 0xdc},    {"szlig", 0xdf},	  {"eacute", 0xe9},
	{"egrave", 0xe8},   {"aacute", 0xe1},  {"agrave", 0xe0},  {"ccedil", 0xe7},
	{"ntilde", 0xf1},   {"oacute", 0xf3},  {"uacute", 0xfa},  {"iacute", 0xed},
	{"thinsp", 0x2009}, {"ensp", 0x2002},  {"emsp", 0x2003},  {"zwnj", 0x200c},
	{"zwj", 0x200d},    {"lrm", 0x200e},   {"rlm", 0x200f},
};

/* HTML maps numeric references 0x80..0x9f to windows-1252 (0 = U+FFFD). */
static const unsigned short cp1252[32] = {
	0x20ac, 0,	0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
	0x2039, 0x0152, 0,	0x017d, 0,	0,	0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
	0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,	0x017e, 0x0178,
};

static unsigned fix_codepoint(unsigned long cp)
{
	if (cp >= 0x80 && cp <= 0x9f)
		return cp1252[cp - 0x80] ? cp1252[cp - 0x80] : 0xfffd;
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0xfffd;
	return (unsigned)cp;
}

/* "&#NNN;" / "&#xHH;" at p (p[0] == '&', p[1] == '#'): the code point and the length, or 0. */
static size_t numeric_ref(const char *p, const char *end, unsigned *cp)
{
	const char *q = p + 2;
	int base = 10, d;
	unsigned long v = 0;
	size_t digits = 0;

	if (q < end && (*q == 'x' || *q == 'X')) {
		base = 16;
		q++;
	}
	while (q < end) {
		d = hex_digit(*q);
		if (d < 0 || d >= base)
			break;
		if (v <= 0x10ffff)
			v = v * (unsigned long)base + (unsigned long)d;
		digits++;
		q++;
	}
	if (digits == 0)
		return 0;
	if (q < end && *q == ';')
		q++;
	*cp = fix_codepoint(v);
	return (size_t)(q - p);
}

/* "&name;" at p: the code point and the length, or 0. Only a few work without the ';', as
 * browsers accept them in old pages ("AT&T" stays as is: "T" is not one of them). */
static size_t named_ref(const char *p, const char *end, unsigned *cp)
{
	static const char *const legacy[] = {"amp", "lt", "gt", "quot", "nbsp", "copy", "reg"};
	const char *q = p + 1;
	size_t n, i;

	while (q < end && is_alnum((unsigned char)*q) && q - p <= NAME_MAX_LEN * 2)
		q++;
	n = (size_t)(q - p - 1);
	for (i = 0; i < ARRAY_LEN(entities); i++)
		if (strlen(entities[i].name) == n && memcmp(entities[i].name, p + 1, n) == 0)
			break;
	if (i == ARRAY_LEN(entities))
		return 0;
	*cp = entities[i].cp;
	if (q < end && *q == ';')
		return n + 2;
	for (i = 0; i < ARRAY_LEN(legacy); i++)
		if (strlen(legacy[i]) == n && memcmp(legacy[i], p + 1, n) == 0)
			return n + 1;
	return 0;
}

/* At '&': writes the decoded character (or the '&' itself) and advances. */
static void entity(struct sink *s, const char **pp, const char *end, bool pre)
{
	const char *p = *pp;
	unsigned cp = 0;
	size_t n = 0;

	if (p + 1 < end && p[1] == '#')
		n = numeric_ref(p, end, &cp);
	else if (p + 1 < end && is_alpha((unsigned char)p[1]))
		n = named_ref(p, end, &cp);
	if (n == 0) {
		sink_visible(s, "&", 1);
		*pp += 1;
		return;
	}
	*pp += n;
	if (cp == ' ' || cp == '\t' || cp == '\n') {
		/* &nbsp; and friends are spacing: they collapse like a space (kept in <pre>). */
		const char sp[1] = {(char)cp};
		const char *q = sp;

		text_char(s, &q, sp + 1, pre);
	} else if (cp < 0x20 || cp == 0x7f) {
		return;
	} else {
		sink_utf8(s, cp);
	}
}

/* Text from r->p up to end, into s. */
static void text_run(struct red *r, struct sink *s, const char *end)
{
	while (r->p < end && s->rc == 0) {
		if (*r->p == '&')
			entity(s, &r->p, end, r->pre > 0);
		else
			text_char(s, &r->p, end, r->pre > 0);
	}
}

/* ---- tags ---- */

static const struct elem *find_elem(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(elems); i++)
		if (strcmp(elems[i].name, name) == 0)
			return &elems[i];
	return NULL;
}

static bool in_head_set(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(head_elems); i++)
		if (strcmp(head_elems[i], name) == 0)
			return true;
	return false;
}

/* Case-insensitive search for "</name" followed by a character that ends a tag name. */
static const char *find_end_tag(const char *p, const char *end, const char *name)
{
	size_t n = strlen(name);

	for (; p + 2 + n <= end; p++) {
		if (p[0] != '<' || p[1] != '/' || strncasecmp(p + 2, name, n) != 0)
			continue;
		if (p + 2 + n == end || !is_alnum((unsigned char)p[2 + n]))
			return p;
	}
	return end;
}

/* Skips attributes up to and past the '>' that ends the tag (quoted values may hold '>'). */
static void skip_tag_rest(struct red *r)
{
	char quote = 0, prev = 0;

	for (; r->p < r->end; r->p++) {
		char c = *r->p;

		if (quote) {
			if (c == quote)
				quote = 0;
		} else if ((c == '"' || c == '\'') && prev == '=') {
			quote = c;
		} else if (c == '>') {
			r->p++;
			return;
		}
		if (!is_space((unsigned char)c))
			prev = c;
	}
}

/* Reads a tag name at r->p into name (lowercase; "" when too long to be one we know). */
static void read_name(struct red *r, char name[NAME_MAX_LEN + 1])
{
	size_t n = 0;
	bool too_long = false;

	while (r->p < r->end && (is_alnum((unsigned char)*r->p) || *r->p == '-' || *r->p == ':')) {
		if (n < NAME_MAX_LEN)
			name[n++] = (char)(*r->p | ((*r->p >= 'A' && *r->p <= 'Z') ? 0x20 : 0));
		else
			too_long = true;
		r->p++;
	}
	name[too_long ? 0 : n] = '\0';
}

static void capture_title(struct red *r)
{
	const char *end = find_end_tag(r->p, r->end, "title");
	bool capture = r->title.b && !r->have_title && (!r->skip || r->skip->kind == K_HEAD);
	int pre = r->pre;

	r->pre = 0;
	if (capture) {
		text_run(r, &r->title, end);
		r->have_title = r->title.any;
		/* A title over its cap is cut, not an error of the page. */
		r->title.rc = 0;
	}
	r->pre = pre;
	r->p = end;
}

static void block(struct red *r, enum kind k, bool closing)
{
	switch (k) {
	case K_LINE:
		sink_break(&r->text, 1);
		break;
	case K_PARA:
	case K_PRE:
		sink_break(&r->text, 2);
		if (k == K_PRE)
			r->pre += closing ? (r->pre > 0 ? -1 : 0) : 1;
		break;
	case K_BR:
		if (!closing)
			sink_break(&r->text, r->text.breaks + 1 > 2 ? 2 : r->text.breaks + 1);
		break;
	case K_ITEM:
		sink_break(&r->text, 1);
		r->text.bullet = !closing;
		break;
	case K_CELL:
		if (r->text.breaks == 0)
			r->text.space = true;
		break;
	default:
		break;
	}
}

static void start_tag(struct red *r, const char *tag, const char *name)
{
	const struct elem *e = find_elem(name);
	bool self_closing;

	skip_tag_rest(r);
	self_closing = r->p - tag >= 3 && r->p[-1] == '>' && r->p[-2] == '/';
	if (r->skip && r->skip->kind == K_HEAD && !in_head_set(name) && strcmp(name, "head") != 0)
		r->skip = NULL; /* an unclosed head ends where the body starts */
	if (!e)
		return;
	if (e->kind == K_RAW) {
		r->p = find_end_tag(r->p, r->end, e->name);
	} else if (e->kind == K_TITLE) {
		capture_title(r);
	} else if (r->skip) {
		if (r->skip == e && !self_closing)
			r->skip_depth++;
	} else if (e->kind == K_SKIP || e->kind == K_HEAD) {
		if (!self_closing) {
			r->skip = e;
			r->skip_depth = 1;
		}
	} else {
		block(r, e->kind, false);
	}
}

static void end_tag(struct red *r, const char *name)
{
	const struct elem *e = find_elem(name);

	skip_tag_rest(r);
	if (!e)
		return;
	if (r->skip) {
		if (r->skip == e && --r->skip_depth == 0)
			r->skip = NULL;
		return;
	}
	block(r, e->kind, true);
}

/* At '<': a tag, comment or declaration is consumed; anything else is text. */
static void markup(struct red *r)
{
	const char *p = r->p + 1;
	char name[NAME_MAX_LEN + 1];

	if (p < r->end && *p == '!' && r->end - p >= 3 && memcmp(p, "!--", 3) == 0) {
		const char *q = memmem(p + 3, (size_t)(r->end - p - 3), "-->", 3);

		r->p = q ? q + 3 : r->end;
	} else if (p < r->end && (*p == '!' || *p == '?')) {
		r->p = p;
		skip_tag_rest(r);
	} else if (p + 1 < r->end && *p == '/' && is_alpha((unsigned char)p[1])) {
		r->p = p + 1;
		read_name(r, name);
		end_tag(r, name);
	} else if (p < r->end && is_alpha((unsigned char)*p)) {
		r->p = p;
		read_name(r, name);
		start_tag(r, p - 1, name);
	} else if (!r->skip) {
		sink_visible(&r->text, "<", 1);
		r->p++;
	} else {
		r->p++;
	}
}

static void run(struct red *r)
{
	while (r->p < r->end && r->text.rc == 0) {
		const char *lt = memchr(r->p, '<', (size_t)(r->end - r->p));
		const char *stop = lt ? lt : r->end;

		if (r->skip || !r->text.b)
			r->p = stop;
		else
			text_run(r, &r->text, stop);
		if (r->p < r->end && r->text.rc == 0)
			markup(r);
	}
}

static const char *skip_bom(const char *p, size_t *len)
{
	if (*len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		*len -= 3;
		return p + 3;
	}
	return p;
}

/* Clean text (valid UTF-8, no controls) character by character, so a cap cuts between them. */
static void sink_text(struct sink *s, const char *p, size_t len)
{
	size_t i = 0, n;

	while (i < len && s->rc == 0) {
		n = utf8_seq(p + i, len - i);
		n = n ? n : 1;
		sink_visible(s, p + i, n);
		i += n;
	}
}

int html_text_reduce(const char *html, size_t len, struct buf *out)
{
	struct buf title;
	struct red r = {0};

	html = skip_bom(html, &len);
	buf_init(&title, TITLE_CAP);
	/* Pass 1 finds the title wherever it is; pass 2 writes the text after it. */
	r.p = html;
	r.end = html + len;
	r.title.b = &title;
	run(&r);
	memset(&r, 0, sizeof(r));
	r.p = html;
	r.end = html + len;
	r.text.b = out;
	if (title.len > 0) {
		sink_text(&r.text, buf_str(&title), title.len);
		sink_break(&r.text, 2);
	}
	run(&r);
	buf_finish(&title);
	return r.text.rc;
}

int html_text_plain(const char *text, size_t len, struct buf *out)
{
	struct sink s = {.b = out, .any = true};
	const char *p, *end;

	p = skip_bom(text, &len);
	end = p + len;
	while (p < end && s.rc == 0) {
		unsigned char c = (unsigned char)*p;
		size_t n;

		if (c == '\r' || c == '\n') {
			sink_put(&s, "\n", 1);
			p += (c == '\r' && p + 1 < end && p[1] == '\n') ? 2 : 1;
			continue;
		}
		if (c == '\t') {
			sink_put(&s, "\t", 1);
		} else if (c >= 0x20 && c != 0x7f) {
			n = utf8_seq(p, (size_t)(end - p));
			if (n == 0)
				sink_put(&s, "\xef\xbf\xbd", 3);
			else
				sink_put(&s, p, n);
			p += n ? n : 1;
			continue;
		}
		p++;
	}
	return s.rc;
}

bool html_text_sniff(const char *data, size_t len)
{
	static const char *const starts[] = {"<!doctype html", "<html", "<head", "<body", "<title"};
	size_t i, n;

	data = skip_bom(data, &len);
	while (len > 0 && is_space((unsigned char)*data)) {
		data++;
		len--;
	}
	for (i = 0; i < ARRAY_LEN(starts); i++) {
		n = strlen(starts[i]);
		if (len >= n && strncasecmp(data, starts[i], n) == 0 &&
		    (len == n || !is_alnum((unsigned char)data[n])))
			return true;
	}
	return false;
}
