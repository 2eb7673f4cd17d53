/* tg_format: Markdown to Telegram's HTML subset, and length-safe splitting into messages.
 *
 * The renderer drives md4c's SAX-like parser (md_parse with our own enter/leave/text
 * callbacks) and writes only tags Telegram accepts. Raw HTML is never passed through: md4c
 * runs with MD_FLAG_NOHTML, so "<script>" arrives as ordinary text and is escaped. Block
 * separation is lazy: leaving a block asks for N line breaks, and they are written only
 * when more content follows, so the output never starts or ends with line breaks. Inline tags
 * already open are not reopened (<b> inside <b>), nor a blockquote inside a blockquote, since
 * Telegram refuses nested entities of one kind. Tables are collected cell by cell and written
 * as an aligned <pre> block once the table ends.
 *
 * The splitter tokenizes the HTML (tag, entity, one UTF-8 character), scans a part up to the
 * limit remembering the last line break, space and character that fit, cuts at the best, and
 * then replays the tags up to the cut to know which to close and reopen.
 *
 * Rejected: md4c-html (it writes tags Telegram refuses, passes raw HTML through and knows
 * nothing of splitting); MarkdownV2 output (its escaping of 18 characters is easy to get
 * wrong and a mistake loses the whole message to a 400); counting tag bytes toward the limit
 * (Telegram counts the text after entity parsing, and the exact rule wastes no space).
 */
#include "telegram/tg_format.h"
#include "net/html_text.h"

#include <errno.h>
#include <limits.h>
#include <md4c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_INDENT_LEVELS 16
#define PAD		  16 /* zero bytes after the copy md4c parses */

enum tag { TAG_NONE, TAG_B, TAG_I, TAG_S, TAG_U, TAG_CODE, TAG_A, N_TAGS };

static const char *const tag_names[N_TAGS] = {
	[TAG_B] = "b", [TAG_I] = "i",	    [TAG_S] = "s",
	[TAG_U] = "u", [TAG_CODE] = "code", [TAG_A] = "a",
};

struct list_level {
	bool ordered;
	unsigned next;
};

struct cell {
	size_t row, col;
	char *text;
	size_t len;
};

struct render {
	struct buf *out;
	int rc;
	unsigned sep;	 /* line breaks owed before the next content */
	bool fresh;	 /* nothing written yet in the current container */
	bool code_nl;	 /* a code block's last line break, held back */
	bool in_code;	 /* inside a code block */
	bool code_class; /* the open <pre> has an inner <code class> */
	unsigned quote_depth;
	unsigned open[N_TAGS]; /* how many spans of each tag are open */
	uint8_t *spans;	       /* per open md4c span: the tag written on enter */
	size_t n_spans, alloc_spans;
	struct list_level *lists;
	size_t n_lists, alloc_lists;
	bool in_table, in_cell;
	struct cell *cells;
	size_t n_cells, alloc_cells;
	size_t row, col;
	struct buf cell;
	uintptr_t src, src_end; /* the padded copy md4c parses */
};

static void out_raw(struct render *r, const char *s, size_t n)
{
	int rc;

	if (r->rc)
		return;
	rc = buf_append(r->out, s, n);
	if (rc)
		r->rc = rc;
}

static void want_sep(struct render *r, unsigned n)
{
	if (n > r->sep)
		r->sep = n;
}

/* Pays the owed line breaks: called before anything visible is written. */
static void flush(struct render *r)
{
	if (!r->fresh)
		for (unsigned i = 0; i < r->sep; i++)
			out_raw(r, "\n", 1);
	r->sep = 0;
	r->fresh = false;
}

static void escape_to(struct render *r, const char *s, size_t n, bool attr)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		const char *ent = NULL;

		switch (s[i]) {
		case '<':
			ent = "&lt;";
			break;
		case '>':
			ent = "&gt;";
			break;
		case '&':
			ent = "&amp;";
			break;
		case '"':
			ent = attr ? "&quot;" : NULL;
			break;
		case '\0':
			ent = "\xEF\xBF\xBD";
			break;
		}
		if (!ent)
			continue;
		out_raw(r, s + start, i - start);
		out_raw(r, ent, strlen(ent));
		start = i + 1;
	}
	out_raw(r, s + start, n - start);
}

/* Visible text: into the current table cell, or escaped into the output. */
static void put_text(struct render *r, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (r->in_table) {
		if (r->in_cell && buf_append(&r->cell, s, n))
			r->rc = -E2BIG;
		return;
	}
	flush(r);
	escape_to(r, s, n, false);
}

static void put_tag(struct render *r, const char *tag)
{
	flush(r);
	out_raw(r, tag, strlen(tag));
}

static void put_utf8(struct render *r, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	put_text(r, u, n);
}

static const struct {
	const char *name;
	uint32_t cp;
} named_entities[] = {
	{"&amp;", '&'},	      {"&lt;", '<'},	{"&gt;", '>'},	     {"&quot;", '"'},
	{"&apos;", '\''},     {"&nbsp;", 0xA0}, {"&mdash;", 0x2014}, {"&ndash;", 0x2013},
	{"&hellip;", 0x2026}, {"&copy;", 0xA9}, {"&laquo;", 0xAB},   {"&raquo;", 0xBB},
};

/* md4c hands entities over undecoded; Telegram knows only four named ones, so decode numeric
 * ones and a few common names, and leave any other name as literal text. */
static void put_entity(struct render *r, const char *s, size_t n)
{
	uint32_t cp = 0;

	if (n >= 4 && s[1] == '#') {
		bool hex = s[2] == 'x' || s[2] == 'X';

		for (size_t i = hex ? 3 : 2; i + 1 < n && cp <= 0x10FFFF; i++) {
			unsigned d = (unsigned char)s[i];

			if (d >= '0' && d <= '9')
				d -= '0';
			else if (hex && (d | 0x20) >= 'a' && (d | 0x20) <= 'f')
				d = (d | 0x20) - 'a' + 10;
			else
				break;
			cp = cp * (hex ? 16 : 10) + d;
		}
		put_utf8(r, cp);
		return;
	}
	for (size_t i = 0; i < ARRAY_LEN(named_entities); i++) {
		if (strlen(named_entities[i].name) == n &&
		    memcmp(named_entities[i].name, s, n) == 0) {
			put_utf8(r, named_entities[i].cp);
			return;
		}
	}
	put_text(r, s, n);
}

/* ------------------------------------------------------------------------------- blocks */

static void list_push(struct render *r, bool ordered, unsigned start)
{
	if (r->n_lists == r->alloc_lists) {
		r->alloc_lists = r->alloc_lists ? 2 * r->alloc_lists : 8;
		r->lists = xrealloc(r->lists, r->alloc_lists * sizeof(*r->lists));
	}
	r->lists[r->n_lists++] = (struct list_level){.ordered = ordered, .next = start};
	want_sep(r, 1);
}

static void list_item(struct render *r, const MD_BLOCK_LI_DETAIL *li)
{
	struct list_level *l;
	char mark[32];
	size_t depth;

	if (r->n_lists == 0)
		return;
	l = &r->lists[r->n_lists - 1];
	want_sep(r, 1);
	flush(r);
	depth = r->n_lists - 1 < MAX_INDENT_LEVELS ? r->n_lists - 1 : MAX_INDENT_LEVELS;
	for (size_t i = 0; i < depth; i++)
		out_raw(r, "  ", 2);
	if (l->ordered)
		out_raw(r, mark, (size_t)snprintf(mark, sizeof(mark), "%u. ", l->next++));
	else if (!li->is_task)
		out_raw(r, "\xE2\x80\xA2 ", 4); /* "• " */
	if (li->is_task && (li->task_mark == 'x' || li->task_mark == 'X'))
		out_raw(r, "\xE2\x98\x91 ", 4); /* "☑ " */
	else if (li->is_task)
		out_raw(r, "\xE2\x98\x90 ", 4); /* "☐ " */
}

/* Only letters, digits and a few signs: the name lands inside an attribute. */
static bool lang_ok(const MD_ATTRIBUTE *lang)
{
	if (lang->size == 0 || lang->size > 32)
		return false;
	for (MD_SIZE i = 0; i < lang->size; i++) {
		unsigned char c = (unsigned char)lang->text[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
		    (c == '\0' || !strchr("+-_.#", c)))
			return false;
	}
	return true;
}

static void code_enter(struct render *r, const MD_BLOCK_CODE_DETAIL *d)
{
	r->in_code = true;
	r->code_nl = false;
	r->code_class = lang_ok(&d->lang);
	if (!r->code_class) {
		put_tag(r, "<pre>");
		return;
	}
	put_tag(r, "<pre><code class=\"language-");
	out_raw(r, d->lang.text, d->lang.size);
	out_raw(r, "\">", 2);
}

static void code_text(struct render *r, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (r->code_nl)
		out_raw(r, "\n", 1);
	r->code_nl = s[n - 1] == '\n';
	escape_to(r, s, r->code_nl ? n - 1 : n, false);
}

static void cell_end(struct render *r)
{
	struct cell *c;

	if (!r->in_cell)
		return;
	if (r->n_cells == r->alloc_cells) {
		r->alloc_cells = r->alloc_cells ? 2 * r->alloc_cells : 16;
		r->cells = xrealloc(r->cells, r->alloc_cells * sizeof(*r->cells));
	}
	c = &r->cells[r->n_cells++];
	c->row = r->row;
	c->col = r->col++;
	c->len = r->cell.len;
	c->text = buf_steal(&r->cell);
	r->in_cell = false;
}

static void pad(struct render *r, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out_raw(r, &c, 1);
}

/* Columns padded to their widest cell (in characters), "-+-" under the header row. */
static void table_write(struct render *r)
{
	size_t n_cols = 0, *width;

	for (size_t i = 0; i < r->n_cells; i++)
		if (r->cells[i].col + 1 > n_cols)
			n_cols = r->cells[i].col + 1;
	width = xcalloc(n_cols ? n_cols : 1, sizeof(*width));
	for (size_t i = 0; i < r->n_cells; i++) {
		size_t w = utf8_count(r->cells[i].text, r->cells[i].len);

		if (w > width[r->cells[i].col])
			width[r->cells[i].col] = w;
	}
	put_tag(r, "<pre>");
	for (size_t i = 0; i < r->n_cells; i++) {
		const struct cell *c = &r->cells[i];
		bool last = i + 1 == r->n_cells || r->cells[i + 1].row != c->row;

		if (c->col > 0)
			out_raw(r, " | ", 3);
		escape_to(r, c->text, c->len, false);
		if (!last)
			pad(r, ' ', width[c->col] - utf8_count(c->text, c->len));
		if (last && i + 1 < r->n_cells)
			out_raw(r, "\n", 1);
		if (last && c->row == 0 && i + 1 < r->n_cells) {
			for (size_t k = 0; k < n_cols; k++) {
				if (k > 0)
					out_raw(r, "-+-", 3);
				pad(r, '-', width[k]);
			}
			out_raw(r, "\n", 1);
		}
	}
	out_raw(r, "</pre>", 6);
	free(width);
	for (size_t i = 0; i < r->n_cells; i++)
		free(r->cells[i].text);
	r->n_cells = 0;
}

static void close_tag(struct render *r, enum tag t)
{
	r->open[t]--;
	if (t == TAG_NONE)
		return;
	out_raw(r, "</", 2);
	out_raw(r, tag_names[t], strlen(tag_names[t]));
	out_raw(r, ">", 1);
}

/* No span crosses a block, but md4c 0.4.8 sometimes never leaves one (a "~~" whose closer
 * sat in a link destination): close what is left so the output stays balanced. */
static void close_spans(struct render *r)
{
	while (r->n_spans > 0)
		close_tag(r, r->spans[--r->n_spans]);
}

static int enter_block(MD_BLOCKTYPE type, void *detail, void *userdata)
{
	struct render *r = userdata;

	close_spans(r);

	switch (type) {
	case MD_BLOCK_QUOTE:
		if (r->quote_depth++ == 0 && !r->in_table) {
			put_tag(r, "<blockquote>");
			r->fresh = true;
		}
		break;
	case MD_BLOCK_UL:
		list_push(r, false, 0);
		break;
	case MD_BLOCK_OL:
		list_push(r, true, ((MD_BLOCK_OL_DETAIL *)detail)->start);
		break;
	case MD_BLOCK_LI:
		list_item(r, detail);
		break;
	case MD_BLOCK_HR:
		put_tag(r, "\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80"
			   "\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80"); /* 8 x U+2500 */
		break;
	case MD_BLOCK_H:
		put_tag(r, "<b>");
		r->open[TAG_B]++;
		break;
	case MD_BLOCK_CODE:
		code_enter(r, detail);
		break;
	case MD_BLOCK_TABLE:
		r->in_table = true;
		r->row = 0;
		break;
	case MD_BLOCK_TH:
	case MD_BLOCK_TD:
		buf_reset(&r->cell);
		r->in_cell = true;
		break;
	default:
		break;
	}
	return r->rc != 0;
}

static int leave_block(MD_BLOCKTYPE type, void *detail, void *userdata)
{
	struct render *r = userdata;

	close_spans(r);

	switch (type) {
	case MD_BLOCK_QUOTE:
		if (--r->quote_depth == 0 && !r->in_table) {
			r->sep = 0;
			r->fresh = false;
			out_raw(r, "</blockquote>", 13);
		}
		want_sep(r, 2);
		break;
	case MD_BLOCK_UL:
	case MD_BLOCK_OL:
		r->n_lists--;
		want_sep(r, r->n_lists ? 1 : 2);
		break;
	case MD_BLOCK_LI:
		want_sep(r, 1);
		break;
	case MD_BLOCK_H:
		out_raw(r, "</b>", 4);
		r->open[TAG_B]--;
		want_sep(r, 2);
		break;
	case MD_BLOCK_CODE:
		out_raw(r, r->code_class ? "</code></pre>" : "</pre>", r->code_class ? 13 : 6);
		r->in_code = false;
		want_sep(r, 2);
		break;
	case MD_BLOCK_TH:
	case MD_BLOCK_TD:
		cell_end(r);
		break;
	case MD_BLOCK_TR:
		r->row++;
		r->col = 0;
		break;
	case MD_BLOCK_TABLE:
		r->in_table = false;
		table_write(r);
		want_sep(r, 2);
		break;
	case MD_BLOCK_P:
	case MD_BLOCK_HR:
	case MD_BLOCK_HTML:
		want_sep(r, 2);
		break;
	default:
		break;
	}
	return r->rc != 0;
}

/* -------------------------------------------------------------------------------- spans */

static const char *const safe_schemes[] = {"http://", "https://", "tg://", "mailto:"};

/* The href with entities decoded, or NULL when its scheme is not allowed or it holds a
 * control character or space (Telegram would refuse the whole message). */
static char *href_get(const MD_ATTRIBUTE *a)
{
	struct buf b;
	bool ok = false;

	buf_init(&b, 0);
	for (size_t k = 0; a->substr_offsets[k] < a->size; k++) {
		const char *s = a->text + a->substr_offsets[k];
		size_t n = a->substr_offsets[k + 1] - a->substr_offsets[k];

		if (a->substr_types[k] == MD_TEXT_ENTITY && n == 5 && memcmp(s, "&amp;", 5) == 0)
			buf_append(&b, "&", 1);
		else if (a->substr_types[k] != MD_TEXT_NULLCHAR)
			buf_append(&b, s, n);
	}
	for (size_t i = 0; i < ARRAY_LEN(safe_schemes); i++)
		if (strncasecmp(buf_str(&b), safe_schemes[i], strlen(safe_schemes[i])) == 0)
			ok = true;
	for (size_t i = 0; i < b.len; i++)
		if ((unsigned char)b.data[i] <= ' ')
			ok = false;
	if (!ok) {
		buf_finish(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static enum tag open_link(struct render *r, const MD_ATTRIBUTE *href)
{
	char *url;

	if (r->open[TAG_A] || r->in_table)
		return TAG_NONE;
	url = href_get(href);
	if (!url)
		return TAG_NONE;
	put_tag(r, "<a href=\"");
	escape_to(r, url, strlen(url), true);
	out_raw(r, "\">", 2);
	free(url);
	return TAG_A;
}

static enum tag span_tag(MD_SPANTYPE type)
{
	switch (type) {
	case MD_SPAN_EM:
		return TAG_I;
	case MD_SPAN_STRONG:
		return TAG_B;
	case MD_SPAN_DEL:
		return TAG_S;
	case MD_SPAN_U:
		return TAG_U;
	case MD_SPAN_CODE:
		return TAG_CODE;
	default:
		return TAG_NONE;
	}
}

static int enter_span(MD_SPANTYPE type, void *detail, void *userdata)
{
	struct render *r = userdata;
	enum tag t = span_tag(type);

	if (type == MD_SPAN_A)
		t = open_link(r, &((MD_SPAN_A_DETAIL *)detail)->href);
	else if (type == MD_SPAN_IMG)
		t = open_link(r, &((MD_SPAN_IMG_DETAIL *)detail)->src);
	else if (t != TAG_NONE && (r->open[t] || r->in_table || r->open[TAG_CODE]))
		t = TAG_NONE;
	if (t != TAG_NONE && type != MD_SPAN_A && type != MD_SPAN_IMG) {
		put_tag(r, "<");
		out_raw(r, tag_names[t], strlen(tag_names[t]));
		out_raw(r, ">", 1);
	}
	r->open[t]++;
	if (r->n_spans == r->alloc_spans) {
		r->alloc_spans = r->alloc_spans ? 2 * r->alloc_spans : 16;
		r->spans = xrealloc(r->spans, r->alloc_spans);
	}
	r->spans[r->n_spans++] = (uint8_t)t;
	return r->rc != 0;
}

static int leave_span(MD_SPANTYPE type, void *detail, void *userdata)
{
	struct render *r = userdata;

	if (r->n_spans > 0)
		close_tag(r, r->spans[--r->n_spans]);
	return r->rc != 0;
}

static int text(MD_TEXTTYPE type, const MD_CHAR *s, MD_SIZE n, void *userdata)
{
	struct render *r = userdata;
	uintptr_t p = (uintptr_t)s;

	if (p >= r->src && p <= r->src_end + PAD && p + n > r->src_end)
		n = p < r->src_end ? (MD_SIZE)(r->src_end - p) : 0;

	switch (type) {
	case MD_TEXT_NULLCHAR:
		put_utf8(r, 0xFFFD);
		break;
	case MD_TEXT_BR:
	case MD_TEXT_SOFTBR:
		put_text(r, r->in_table ? " " : "\n", 1);
		break;
	case MD_TEXT_ENTITY:
		put_entity(r, s, n);
		break;
	case MD_TEXT_CODE:
		if (r->in_code)
			code_text(r, s, n);
		else
			put_text(r, s, n);
		break;
	default:
		put_text(r, s, n);
		break;
	}
	return r->rc != 0;
}

int tg_format_html(const char *markdown, size_t len, struct buf *out)
{
	MD_PARSER parser = {
		.abi_version = 0,
		.flags =
			MD_FLAG_NOHTML | MD_FLAG_TABLES | MD_FLAG_STRIKETHROUGH | MD_FLAG_TASKLISTS,
		.enter_block = enter_block,
		.leave_block = leave_block,
		.enter_span = enter_span,
		.leave_span = leave_span,
		.text = text,
	};
	struct render r = {.out = out, .fresh = true};
	char *src;
	int rc;

	if (len > UINT_MAX - PAD)
		return -EINVAL;
	/* Under the fuzzer, Debian's md4c 0.4.8 once handed over text reaching one byte past
	 * the input (not reproducible alone): parse a zero-padded copy, clamp text to it. */
	src = xmalloc(len + PAD);
	memcpy(src, markdown, len);
	memset(src + len, 0, PAD);
	r.src = (uintptr_t)src;
	r.src_end = r.src + len;
	buf_init(&r.cell, 0);
	rc = md_parse(src, (MD_SIZE)len, &parser, &r);
	free(src);
	if (r.rc)
		rc = r.rc;
	else if (rc)
		rc = -EINVAL;
	for (size_t i = 0; i < r.n_cells; i++)
		free(r.cells[i].text);
	free(r.cells);
	free(r.spans);
	free(r.lists);
	buf_finish(&r.cell);
	return rc;
}

int tg_format_plain(const char *markdown, size_t len, struct buf *out)
{
	return html_text_plain(markdown, len, out);
}

/* ------------------------------------------------------------------------------ lengths */

/* Length in bytes of the UTF-8 sequence at s (1 for an invalid byte), its UTF-16 units. */
static size_t seq_units(const char *s, size_t len, size_t *units)
{
	size_t n = utf8_seq(s, len);

	if (n == 0)
		n = 1;
	*units = n == 4 ? 2 : 1;
	return n;
}

size_t tg_utf16_len(const char *s, size_t len)
{
	size_t total = 0, units, i = 0;

	while (i < len) {
		i += seq_units(s + i, len - i, &units);
		total += units;
	}
	return total;
}

/* ---------------------------------------------------------------------------- splitting */

enum tok_kind { TOK_TEXT, TOK_OPEN, TOK_CLOSE, TOK_VOID };

struct tok {
	enum tok_kind kind;
	size_t end;   /* byte after the token */
	size_t units; /* TOK_TEXT only */
	size_t name, name_len;
};

struct open_tag {
	size_t start, end; /* the opening tag's bytes, reopened as they are */
	size_t name, name_len;
};

struct splitter {
	const char *s;
	size_t len;
	bool html;
	struct open_tag *stack;
	size_t depth, alloc;
};

static bool tag_token(const char *s, size_t len, size_t i, struct tok *t)
{
	const char *gt = memchr(s + i, '>', len - i);
	size_t n = i + 1;

	if (!gt)
		return false;
	t->kind = TOK_OPEN;
	if (n < len && s[n] == '/') {
		t->kind = TOK_CLOSE;
		n++;
	}
	t->name = n;
	while (n < len && !strchr(" \t\n/>", s[n]))
		n++;
	t->name_len = n - t->name;
	t->end = (size_t)(gt - s) + 1;
	if (t->name_len == 0)
		return false;
	if (t->kind == TOK_OPEN && s[t->end - 2] == '/')
		t->kind = TOK_VOID;
	return true;
}

/* The entities Telegram decodes: four names (1 unit) and numeric ones (up to 2 units). */
static size_t entity_len(const char *s, size_t len, size_t i, size_t *units)
{
	static const char *const names[] = {"&lt;", "&gt;", "&amp;", "&quot;"};
	size_t n = i + 2;
	bool hex;

	for (size_t k = 0; k < ARRAY_LEN(names); k++) {
		size_t nl = strlen(names[k]);

		if (len - i >= nl && memcmp(s + i, names[k], nl) == 0) {
			*units = 1;
			return nl;
		}
	}
	if (len - i < 4 || s[i + 1] != '#')
		return 0;
	hex = s[n] == 'x' || s[n] == 'X';
	n += hex;
	while (n < len && n - i < 12 &&
	       ((s[n] >= '0' && s[n] <= '9') ||
		(hex && (s[n] | 0x20) >= 'a' && (s[n] | 0x20) <= 'f')))
		n++;
	if (n >= len || s[n] != ';' || s[n - 1] == '#' || s[n - 1] == 'x' || s[n - 1] == 'X')
		return 0;
	*units = 2;
	return n + 1 - i;
}

static void next_token(const struct splitter *sp, size_t i, struct tok *t)
{
	size_t n;

	if (sp->html && sp->s[i] == '<' && tag_token(sp->s, sp->len, i, t))
		return;
	t->kind = TOK_TEXT;
	if (sp->html && sp->s[i] == '&') {
		n = entity_len(sp->s, sp->len, i, &t->units);
		if (n) {
			t->end = i + n;
			return;
		}
	}
	t->end = i + seq_units(sp->s + i, sp->len - i, &t->units);
}

static void apply_tag(struct splitter *sp, size_t i, const struct tok *t)
{
	if (t->kind == TOK_OPEN) {
		if (sp->depth == sp->alloc) {
			sp->alloc = sp->alloc ? 2 * sp->alloc : 8;
			sp->stack = xrealloc(sp->stack, sp->alloc * sizeof(*sp->stack));
		}
		sp->stack[sp->depth++] = (struct open_tag){
			.start = i, .end = t->end, .name = t->name, .name_len = t->name_len};
		return;
	}
	if (t->kind != TOK_CLOSE)
		return;
	for (size_t k = sp->depth; k > 0; k--) {
		const struct open_tag *o = &sp->stack[k - 1];

		if (o->name_len == t->name_len &&
		    memcmp(sp->s + o->name, sp->s + t->name, t->name_len) == 0) {
			sp->depth = k - 1;
			return;
		}
	}
}

/* The end of the next part starting at pos: the whole rest when it fits, else after the
 * last line break that fits, else the last space, else the last character. */
static size_t find_cut(const struct splitter *sp, size_t pos, size_t max_units)
{
	size_t units = 0, i = pos, nl = 0, space = 0, any = 0;
	struct tok t;

	while (i < sp->len) {
		next_token(sp, i, &t);
		if (t.kind != TOK_TEXT) {
			i = t.end;
			continue;
		}
		if (units + t.units > max_units)
			break;
		units += t.units;
		if (sp->s[i] == '\n')
			nl = t.end;
		else if (sp->s[i] == ' ')
			space = t.end;
		i = t.end;
		any = i;
	}
	if (i >= sp->len)
		return sp->len;
	return nl ? nl : space ? space : any;
}

/* Appends html[pos..cut) to part, after reopening the tags open at pos and before closing
 * those open at the returned cut (moved past closing tags that follow the cut). */
static size_t take_part(struct splitter *sp, size_t pos, size_t cut, struct buf *part,
			size_t *units, bool *visible)
{
	struct tok t;
	size_t i = pos;

	for (size_t k = 0; k < sp->depth; k++)
		buf_append(part, sp->s + sp->stack[k].start, sp->stack[k].end - sp->stack[k].start);
	*units = 0;
	*visible = false;
	while (i < cut) {
		next_token(sp, i, &t);
		if (t.kind == TOK_TEXT) {
			*units += t.units;
			char c = sp->s[i];

			if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
				*visible = true;
		}
		apply_tag(sp, i, &t);
		i = t.end;
	}
	while (i < sp->len) {
		next_token(sp, i, &t);
		if (t.kind != TOK_CLOSE)
			break;
		apply_tag(sp, i, &t);
		i = t.end;
	}
	buf_append(part, sp->s + pos, i - pos);
	for (size_t k = sp->depth; k > 0; k--) {
		buf_append(part, "</", 2);
		buf_append(part, sp->s + sp->stack[k - 1].name, sp->stack[k - 1].name_len);
		buf_append(part, ">", 1);
	}
	return i;
}

static size_t split(const char *s, size_t len, size_t max_units, bool html, struct tg_part **parts)
{
	struct splitter sp = {.s = s, .len = len, .html = html};
	struct tg_part *out = NULL;
	size_t n = 0, alloc = 0, pos = 0;

	if (max_units < 2)
		max_units = 2;
	while (pos < len) {
		struct buf part;
		size_t units, cut = find_cut(&sp, pos, max_units);
		bool visible;

		buf_init(&part, 0);
		pos = take_part(&sp, pos, cut, &part, &units, &visible);
		if (!visible) {
			buf_finish(&part);
			continue;
		}
		if (n == alloc) {
			alloc = alloc ? 2 * alloc : 4;
			out = xrealloc(out, alloc * sizeof(*out));
		}
		out[n].len = part.len;
		out[n].units = units;
		out[n].text = buf_steal(&part);
		n++;
	}
	free(sp.stack);
	*parts = out;
	return n;
}

size_t tg_split(const char *html, size_t len, size_t max_units, struct tg_part **parts)
{
	return split(html, len, max_units, true, parts);
}

size_t tg_split_plain(const char *text, size_t len, size_t max_units, struct tg_part **parts)
{
	return split(text, len, max_units, false, parts);
}

void tg_parts_free(struct tg_part *parts, size_t n)
{
	if (!parts)
		return;
	for (size_t i = 0; i < n; i++)
		free(parts[i].text);
	free(parts);
}
