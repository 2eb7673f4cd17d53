/* json_exact: json_parse (core/json.c) parses the text and then calls json_exact_annotate,
 * whose pass walks the same text alongside the tree (children are in text order, duplicate
 * keys included) and copies each number's source text into its item. Nothing here calls
 * json.c: json_exact_parse, the wrapper, is defined there. The walk checks every structural
 * character it expects; if it ever disagrees with the tree it stops, and the numbers it has not
 * reached keep only their double.
 *
 * Printing writes what cJSON_PrintUnformatted writes, byte for byte (its string escapes, its
 * number format for a number without text), except that a number whose text still says what
 * its double holds is written as that text. It is our own walk into one buffer: the router
 * prints every request it forwards, and cJSON's printer (two passes over each string, a
 * growing buffer, a copy at the end) plus relabelling each number cJSON_Raw and back cost 4k
 * instructions of a 100k request. Plain runs of a string are found eight bytes at a time and
 * a short decimal's text is checked against its double without strtod, for the same reason.
 * tests/test_json_exact.c holds it to cJSON's output.
 * Rejected: keeping raw spans beside the tree (every caller would need a second structure).
 * json_fast.c, json_parse's first pass, copies the number texts as it reads them, as this
 * pass would; this pass runs only for the texts cJSON reads (the ones json_fast gives up).
 */
#include "core/json_exact.h"
#include "core/util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct scan {
	const char *p, *end;
};

/* cJSON's whitespace: every byte up to and including space. */
static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (unsigned char)*s->p <= 32)
		s->p++;
}

static bool expect(struct scan *s, char c)
{
	skip_ws(s);
	if (s->p >= s->end || *s->p != c)
		return false;
	s->p++;
	return true;
}

static bool skip_string(struct scan *s)
{
	if (!expect(s, '"'))
		return false;
	for (;;) {
		s->p = json_plain_end(s->p, s->end);
		if (s->p >= s->end || *s->p == '"')
			break;
		if (*s->p == '\\')
			s->p++;
		s->p++;
	}
	if (s->p >= s->end)
		return false;
	s->p++;
	return true;
}

static bool number_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

static bool annotate(struct scan *s, cJSON *item);

static bool annotate_members(struct scan *s, cJSON *item, bool object)
{
	cJSON *kid;

	if (!expect(s, object ? '{' : '['))
		return false;
	for (kid = item->child; kid; kid = kid->next) {
		if (kid != item->child && !expect(s, ','))
			return false;
		if (object && (!skip_string(s) || !expect(s, ':')))
			return false;
		if (!annotate(s, kid))
			return false;
	}
	return expect(s, object ? '}' : ']');
}

static bool annotate(struct scan *s, cJSON *item)
{
	const char *start;

	skip_ws(s);
	if (cJSON_IsObject(item) || cJSON_IsArray(item))
		return annotate_members(s, item, cJSON_IsObject(item));
	if (cJSON_IsString(item))
		return skip_string(s);
	if (cJSON_IsNumber(item)) {
		start = s->p;
		while (s->p < s->end && number_char(*s->p))
			s->p++;
		if (s->p == start || item->valuestring)
			return false;
		item->valuestring = xstrndup(start, (size_t)(s->p - start));
		return true;
	}
	/* true, false, null */
	while (s->p < s->end && *s->p >= 'a' && *s->p <= 'z')
		s->p++;
	return true;
}

void json_exact_annotate(const char *text, size_t len, cJSON *root)
{
	struct scan s = {text, text + len};

	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		s.p += 3;
	annotate(&s, root);
}

/* The value of t when it is -?[0-9]+(.[0-9]+)? with at most 15 digits: those digits are exact
 * in a double, so is 10^k (k <= 15), and one IEEE division rounds correctly, as strtod does
 * (Clinger's fast path). False for any other text, which strtod reads. */
static bool short_decimal(const char *t, double *v)
{
	static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,	 1e6,  1e7,
				       1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
	const char *p = t + (*t == '-'), *dot = NULL;
	int64_t x = 0;
	size_t digits = 0;

	for (; *p; p++) {
		if (*p == '.' && !dot && digits) {
			dot = p;
			continue;
		}
		if (*p < '0' || *p > '9' || ++digits > 15)
			return false;
		x = x * 10 + (*p - '0');
	}
	if (!digits || (dot && dot + 1 == p))
		return false;
	*v = (double)x / pow10[dot ? (size_t)(p - dot - 1) : 0];
	if (*t == '-')
		*v = -*v;
	return true;
}

/* The source text still says what valuedouble holds (not changed since the parse). */
static bool text_matches(const cJSON *item)
{
	char *end;
	double d;

	if (!cJSON_IsNumber(item) || !item->valuestring)
		return false;
	if (short_decimal(item->valuestring, &d))
		return d == item->valuedouble;
	d = strtod(item->valuestring, &end);
	return *end == '\0' && d == item->valuedouble;
}

/* A string as cJSON's print_string_ptr writes it: the two-character escapes, \u00xx for the
 * other control bytes, every other byte as it is (no UTF-8 check: cJSON passes bytes through);
 * NULL as "". */
void json_exact_put_string(struct buf *b, const char *s)
{
	const char *p = s ? s : "";
	size_t len = strlen(p), i = 0, run;
	/* the bytes with a two-character escape, and the letter after the backslash */
	static const char hex[] = "0123456789abcdef", shorts[] = "\"\\\b\f\n\r\t",
			  letters[] = "\"\\bfnrt";
	const char *at;

	buf_append(b, "\"", 1);
	for (;; i++) {
		unsigned char c;
		char esc[6] = {'\\', 0, '0', '0', 0, 0};
		size_t n = 2;

		run = (size_t)(json_plain_end(p + i, p + len) - (p + i));
		buf_append(b, p + i, run);
		i += run;
		if (i == len)
			break;
		c = (unsigned char)p[i];
		at = memchr(shorts, c, sizeof(shorts) - 1);
		if (at) {
			esc[1] = letters[at - shorts];
		} else {
			esc[1] = 'u';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		buf_append(b, esc, n);
	}
	buf_append(b, "\"", 1);
}

/* A number without text that still holds: cJSON's own format (its print_number), by printing
 * a copy of the item alone. */
static bool put_cjson_number(struct buf *b, const cJSON *item)
{
	cJSON one = *item;
	char *text;

	one.next = one.prev = one.child = NULL;
	one.string = NULL;
	one.type = cJSON_Number;
	text = cJSON_PrintUnformatted(&one);
	if (!text)
		return false;
	buf_puts(b, text);
	cJSON_free(text);
	return true;
}

static bool put_item(struct buf *b, const cJSON *item)
{
	const cJSON *kid;

	switch (item->type & 0xFF) {
	case cJSON_NULL:
		buf_append(b, "null", 4);
		return true;
	case cJSON_False:
		buf_append(b, "false", 5);
		return true;
	case cJSON_True:
		buf_append(b, "true", 4);
		return true;
	case cJSON_Number:
		if (text_matches(item)) {
			buf_append(b, item->valuestring, strlen(item->valuestring));
			return true;
		}
		return put_cjson_number(b, item);
	case cJSON_Raw:
		if (!item->valuestring)
			return false;
		buf_append(b, item->valuestring, strlen(item->valuestring));
		return true;
	case cJSON_String:
		json_exact_put_string(b, item->valuestring);
		return true;
	case cJSON_Array:
	case cJSON_Object:
		buf_append(b, (item->type & 0xFF) == cJSON_Array ? "[" : "{", 1);
		for (kid = item->child; kid; kid = kid->next) {
			if (kid != item->child)
				buf_append(b, ",", 1);
			if ((item->type & 0xFF) == cJSON_Object) {
				json_exact_put_string(b, kid->string);
				buf_append(b, ":", 1);
			}
			if (!put_item(b, kid))
				return false;
		}
		buf_append(b, (item->type & 0xFF) == cJSON_Array ? "]" : "}", 1);
		return true;
	default:
		return false; /* cJSON_Invalid: cJSON prints nothing either */
	}
}

char *json_exact_print(const cJSON *item)
{
	struct buf b;

	if (!item)
		return NULL;
	buf_init(&b, 0);
	buf_reserve(&b, 256);
	if (!put_item(&b, item)) {
		buf_finish(&b);
		return NULL;
	}
	return buf_steal(&b);
}
