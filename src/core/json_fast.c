/* json_fast: see json_fast.h.
 *
 * Why: the router parses every request it forwards (JSON_EXACT | JSON_FOLD), and cJSON's
 * parse, json.c's walk for repeated names and json_exact's second pass over the text were
 * 6.3k of the 66k instructions of a plain proxied request with an 80-byte body (callgrind,
 * benchmarks/router/profile.sh): cJSON measures each string before it copies it and calls
 * strtod on a copy of every number, and the two walks after it read the tree and the text
 * again. This pass reads each byte once (a string's plain run eight bytes a step,
 * json_plain_end), converts a short decimal without strtod (to the same double: Clinger's
 * fast path, as answer_scan.c), and compares each member's name with the ones before it as it
 * adds the member.
 *
 * "Plain" is RFC 8259 exactly (its four whitespace bytes only, no leading zero, no control
 * byte in a string, no byte order mark) without what cJSON reads in a way of its own: "\u0000"
 * and a \u escape that is not hex or is a lone surrogate (cJSON writes U+0000 there, or
 * fails), nesting deeper than FAST_DEPTH, a number of more than FAST_NUMBER characters, an
 * object of more than FAST_MEMBERS members (json.c checks those through a table), and a name
 * with a byte past ASCII where JSON_FOLD folds (Go's two non-ASCII folds are json.c's). At any
 * of these, at any invalid text and at any repeated name the pass gives up: it deletes the tree
 * so far and json_parse runs cJSON and its checks, which accept the text or say why not. So a
 * text the pass takes is one cJSON takes, into the same tree; tests/test_json_fast.c holds the
 * two to that, node by node, on a corpus and on 40,000 mutations of it, and fuzz_json on
 * whatever the fuzzer finds. The static build compiles this file for size, not among
 * meson.build's hot_sources: at -O2 it was 26 KiB more binary and no faster (docs/numbers.md).
 * Rejected: replacing cJSON's parse outright (json.c: cJSON is fuzzed, and what is refused
 * and how stays one program's answer).
 */
#include "core/json_fast.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* JSON_FOLD folds names in the root and in the containers directly in it (json.c's
 * JSON_FOLD_LEVELS: depth counts arrays and objects alike). */
enum { FAST_DEPTH = 64, FAST_MEMBERS = 32, FAST_NUMBER = 63, FOLD_DEPTH = 2 };

struct fast {
	const unsigned char *p, *end;
	unsigned flags;
	int depth;
	const char *span_name; /* json_fast_parse_span's: the root member whose value to find */
	const unsigned char *span_at, *span_end;
};

static bool value(struct fast *f, cJSON *it);

static cJSON *new_item(void)
{
	cJSON *it = cJSON_malloc(sizeof(*it));

	if (it)
		memset(it, 0, sizeof(*it));
	return it;
}

/* Skips RFC whitespace; false at another byte up to space (whitespace to cJSON). */
static inline __attribute__((always_inline)) bool ws(struct fast *f)
{
	while (f->p < f->end && *f->p <= ' ') {
		if (*f->p != ' ' && *f->p != '\n' && *f->p != '\r' && *f->p != '\t')
			return false;
		f->p++;
	}
	return true;
}

static bool at(const struct fast *f, unsigned char c)
{
	return f->p < f->end && *f->p == c;
}

static bool digit(const unsigned char *p, const unsigned char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

/* The escape at p (its backslash; a whole escape lies before end) written to *o as cJSON
 * writes it; the bytes it took, or 0 to give up. */
static size_t unescape(const unsigned char *p, const unsigned char *end, unsigned char **o)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *k;
	unsigned a, b;
	unsigned long cp;
	size_t n;

	if (p[1] != 'u') {
		k = strchr(from, p[1]);
		if (!k || !p[1])
			return 0;
		*(*o)++ = (unsigned char)to[k - from];
		return 2;
	}
	if (end - p < 6 || json_hex4(p + 2, &a) < 0 || a == 0 || (a >= 0xDC00 && a <= 0xDFFF))
		return 0;
	n = 6;
	cp = (unsigned long)a;
	if (a >= 0xD800 && a <= 0xDBFF) {
		if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || json_hex4(p + 8, &b) < 0 ||
		    b < 0xDC00 || b > 0xDFFF)
			return 0;
		cp = 0x10000 + ((((unsigned long)a & 0x3FF) << 10) | ((unsigned long)b & 0x3FF));
		n = 12;
	}
	if (cp < 0x80) {
		*(*o)++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*(*o)++ = (unsigned char)(0xC0 | (cp >> 6));
		*(*o)++ = (unsigned char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*(*o)++ = (unsigned char)(0xE0 | (cp >> 12));
		*(*o)++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		*(*o)++ = (unsigned char)(0x80 | (cp & 0x3F));
	} else {
		*(*o)++ = (unsigned char)(0xF0 | (cp >> 18));
		*(*o)++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		*(*o)++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		*(*o)++ = (unsigned char)(0x80 | (cp & 0x3F));
	}
	return n;
}

/* The string whose opening quote is at f->p, decoded into a new allocation (NUL-terminated:
 * it has no NUL of its own); NULL to give up. */
static char *string(struct fast *f)
{
	const unsigned char *start = ++f->p, *q, *close;
	unsigned char *out, *o;
	size_t n;

	q = (const unsigned char *)json_plain_end((const char *)start, (const char *)f->end);
	if (q < f->end && *q == '"') { /* most strings: no escape, one copy */
		n = (size_t)(q - start);
		out = cJSON_malloc(n + 1);
		if (!out)
			return NULL;
		if (n <= 16)
			copy_small((char *)out, (const char *)start, n);
		else
			memcpy(out, start, n);
		out[n] = '\0';
		f->p = q + 1;
		return (char *)out;
	}
	/* The closing quote: plain runs, and each escape's two bytes. */
	for (;;) {
		q = (const unsigned char *)json_plain_end((const char *)q, (const char *)f->end);
		if (q >= f->end || *q < 0x20)
			return NULL;
		if (*q == '"')
			break;
		if (f->end - q < 2)
			return NULL;
		q += 2;
	}
	close = q;
	/* Decoded, a string is never longer than its text. */
	out = cJSON_malloc((size_t)(close - start) + 1);
	if (!out)
		return NULL;
	for (o = out, q = start;;) {
		const unsigned char *run = q;

		q = (const unsigned char *)json_plain_end((const char *)q, (const char *)close);
		memcpy(o, run, (size_t)(q - run));
		o += q - run;
		if (q == close)
			break;
		n = unescape(q, close, &o);
		if (!n) {
			cJSON_free(out);
			return NULL;
		}
		q += n;
	}
	*o = '\0';
	f->p = close + 1;
	return (char *)out;
}

/* An RFC 8259 number at f->p: its double as strtod reads it (cJSON's), valueint saturated as
 * cJSON's, and under JSON_EXACT its text (as json_exact_annotate copies it). */
static bool number(struct fast *f, cJSON *it)
{
	static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,	 1e6,  1e7,
				       1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
	const unsigned char *s = f->p, *q = s, *int_end, *d;
	size_t frac = 0, digits, n;
	bool exp = false, neg = *s == '-';
	char tmp[FAST_NUMBER + 1];
	int64_t x = 0;
	double v;

	q += neg;
	if (!digit(q, f->end))
		return false;
	if (*q == '0')
		q++;
	else
		while (digit(q, f->end))
			q++;
	int_end = q;
	if (q < f->end && *q == '.') {
		if (!digit(++q, f->end))
			return false;
		while (digit(q, f->end))
			q++;
		frac = (size_t)(q - int_end) - 1;
	}
	if (q < f->end && (*q == 'e' || *q == 'E')) {
		exp = true;
		q++;
		if (q < f->end && (*q == '+' || *q == '-'))
			q++;
		if (!digit(q, f->end))
			return false;
		while (digit(q, f->end))
			q++;
	}
	n = (size_t)(q - s);
	if (n > FAST_NUMBER)
		return false;
	digits = (size_t)(int_end - s) - neg + frac;
	if (!exp && digits <= 15) {
		/* At most 15 digits and no exponent: the digits are exact in a double, so is
		 * 10^frac, and one IEEE division rounds as strtod does. */
		for (d = s + neg; d < q; d++)
			if (*d != '.')
				x = x * 10 + (*d - '0');
		v = (double)x / pow10[frac];
		if (neg)
			v = -v;
	} else {
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		v = strtod(tmp, NULL);
	}
	it->type = cJSON_Number;
	it->valuedouble = v;
	if (v >= INT_MAX)
		it->valueint = INT_MAX;
	else if (v <= (double)INT_MIN)
		it->valueint = INT_MIN;
	else
		it->valueint = (int)v;
	if (f->flags & JSON_EXACT) {
		/* From cJSON's allocator, as the strings (cJSON_Delete frees it with them). */
		it->valuestring = cJSON_malloc(n + 1);
		if (!it->valuestring)
			return false;
		memcpy(it->valuestring, s, n);
		it->valuestring[n] = '\0';
	}
	f->p = q;
	return true;
}

static bool literal(struct fast *f, const char *word, size_t len)
{
	if ((size_t)(f->end - f->p) < len || memcmp(f->p, word, len) != 0)
		return false;
	f->p += len;
	return true;
}

/* Whether two names are one: byte for byte, or (fold) with ASCII letters in either case. */
static bool same_name(const char *a, const char *b, bool fold)
{
	unsigned char x, y;

	if (!fold)
		return a[0] == b[0] && strcmp(a, b) == 0;
	do {
		x = (unsigned char)*a++;
		y = (unsigned char)*b++;
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
	} while (x == y && x);
	return x == y;
}

static bool ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* Appends a new node to container `it` (its first child or after `last`). */
static cJSON *add_kid(cJSON *it, cJSON *last)
{
	cJSON *kid = new_item();

	if (!kid)
		return NULL;
	if (last) {
		last->next = kid;
		kid->prev = last;
	} else {
		it->child = kid;
	}
	return kid;
}

/* An object or an array at f->p (its opening bracket). The links are cJSON's: each child's
 * prev is the one before it, the first child's the last. */
static bool container(struct fast *f, cJSON *it, bool object)
{
	const unsigned char close = object ? '}' : ']';
	const bool fold = (f->flags & JSON_FOLD) && f->depth < FOLD_DEPTH;
	cJSON *last = NULL, *kid, *other;
	size_t n = 0;

	if (++f->depth > FAST_DEPTH)
		return false;
	it->type = object ? cJSON_Object : cJSON_Array;
	f->p++;
	if (!ws(f))
		return false;
	if (at(f, close)) {
		f->p++;
		f->depth--;
		return true;
	}
	for (;;) {
		kid = add_kid(it, last);
		if (!kid)
			return false;
		last = kid;
		if (object) {
			if (!at(f, '"') || ++n > FAST_MEMBERS)
				return false;
			kid->string = string(f);
			if (!kid->string || (fold && !ascii(kid->string)))
				return false;
			for (other = it->child; other != kid; other = other->next)
				if (same_name(other->string, kid->string, fold))
					return false;
			if (!ws(f) || !at(f, ':'))
				return false;
			f->p++;
			if (!ws(f))
				return false;
			if (f->span_name && f->depth == 1 && at(f, '"') &&
			    strcmp(kid->string, f->span_name) == 0)
				f->span_at = f->p;
		}
		if (!value(f, kid))
			return false;
		if (f->span_at && !f->span_end)
			f->span_end = f->p;
		if (!ws(f))
			return false;
		if (at(f, ',')) {
			f->p++;
			if (!ws(f))
				return false;
			continue;
		}
		if (!at(f, close))
			return false;
		f->p++;
		break;
	}
	it->child->prev = last;
	f->depth--;
	return true;
}

static bool value(struct fast *f, cJSON *it)
{
	if (f->p >= f->end)
		return false;
	switch (*f->p) {
	case '{':
		return container(f, it, true);
	case '[':
		return container(f, it, false);
	case '"':
		it->type = cJSON_String;
		it->valuestring = string(f);
		return it->valuestring != NULL;
	case 't':
		it->type = cJSON_True;
		it->valueint = 1;
		return literal(f, "true", 4);
	case 'f':
		it->type = cJSON_False;
		return literal(f, "false", 5);
	case 'n':
		it->type = cJSON_NULL;
		return literal(f, "null", 4);
	default:
		return number(f, it);
	}
}

static cJSON *parse(struct fast *f)
{
	cJSON *root;

	if (!f->p || f->p == f->end || !ws(f))
		return NULL;
	root = new_item();
	if (!root)
		return NULL;
	if (!value(f, root) || !ws(f) || f->p != f->end) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

cJSON *json_fast_parse(const char *text, size_t len, unsigned flags)
{
	struct fast f = {.p = (const unsigned char *)text,
			 .end = (const unsigned char *)text + len,
			 .flags = flags};

	return parse(&f);
}

cJSON *json_fast_parse_span(const char *text, size_t len, unsigned flags, const char *name,
			    size_t *at, size_t *end)
{
	struct fast f = {.p = (const unsigned char *)text,
			 .end = (const unsigned char *)text + len,
			 .flags = flags};
	cJSON *root;

	f.span_name = name;
	root = parse(&f);
	*at = *end = 0;
	if (root && f.span_end) {
		*at = (size_t)(f.span_at - (const unsigned char *)text);
		*end = (size_t)(f.span_end - (const unsigned char *)text);
	}
	return root;
}
