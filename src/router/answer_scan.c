/* answer_scan: the facts the router reads from a whole answer, by one pass over its text.
 *
 * Parsing a 500-byte chat.completion into a cJSON tree only to read usage and count a few
 * strings was about 20k instructions of a proxied request; this pass is a recursive descent
 * that validates every byte, decodes nothing it does not count, and allocates nothing. It
 * models cJSON's lookups exactly where the answer's shape is ordinary (objects of at most
 * SCAN_MEMBERS members, each name once; arrays of objects; anything else contributes nothing,
 * as a lookup on it finds nothing) and gives up where cJSON's behaviour is odd (choices or
 * tool_calls as an object, whose members cJSON iterates like elements), lenient (numbers like 01,
 * trailing text, any byte below 0x21 as whitespace, "\uZZZZ" read as U+0000) or truncating
 * ("\u0000", numbers past 63 characters): the caller then parses with cJSON as before, so an answer
 * the pass cannot read costs one pass more, never a different result. A repeated member name is
 * such a give-up: json_parse (core/json.h), the fallback, refuses the answer (I-JSON), so the
 * client never gets an answer whose usage we read from one member and it from another. Rejected: a
 * general streaming tokenizer with callbacks (more code than the five shapes read here) and
 * skipping validation (the router refuses a 200 answer that is not JSON).
 */
#include "router/answer_scan.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Members of one object the pass checks for a repeated name pairwise; a larger object is left
 * to json_parse, whose check is a table. */
enum { SCAN_MEMBERS = 32 };

struct scan {
	const unsigned char *p, *end;
	int depth;
};

typedef int (*member_fn)(struct scan *s, const char *key, size_t key_len, void *arg);
typedef int (*element_fn)(struct scan *s, void *arg);

static int peek(const struct scan *s)
{
	return s->p < s->end ? *s->p : -1;
}

/* Most answers have no whitespace between tokens: one compare decides that. Inline: it runs
 * around every token. */
static inline __attribute__((always_inline)) void ws(struct scan *s)
{
	while (s->p < s->end && *s->p <= ' ' &&
	       (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

/* The first control byte, '"' or '\\' from s->p on (json_plain_end: a word at a time). */
static const unsigned char *plain_end(const struct scan *s)
{
	return (const unsigned char *)json_plain_end((const char *)s->p, (const char *)s->end);
}

/* One "\uXXXX" (or a surrogate pair) at s->p (after the backslash and 'u' were seen): the
 * UTF-8 bytes cJSON writes for it, or -1 where cJSON fails or writes U+0000. */
static int unicode_escape(struct scan *s, size_t *bytes)
{
	unsigned a, b;

	if (s->end - s->p < 6 || json_hex4(s->p + 2, &a) < 0 || a == 0 ||
	    (a >= 0xDC00 && a <= 0xDFFF))
		return -1;
	s->p += 6;
	if (a >= 0xD800 && a <= 0xDBFF) {
		if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
		    json_hex4(s->p + 2, &b) < 0 || b < 0xDC00 || b > 0xDFFF)
			return -1;
		s->p += 6;
		*bytes += 4;
		return 0;
	}
	*bytes += a < 0x80 ? 1 : a < 0x800 ? 2 : 3;
	return 0;
}

/* A string at s->p; *bytes = its length once unescaped (NULL: not counted). A raw control
 * byte is refused (cJSON keeps it, but strlen would stop at a NUL). */
static int string(struct scan *s, size_t *bytes)
{
	size_t n = 0;
	unsigned char c;

	const unsigned char *run;

	s->p++;
	for (;;) {
		/* The plain bytes up to the next quote, backslash or control byte. */
		run = s->p;
		s->p = plain_end(s);
		n += (size_t)(s->p - run);
		if (s->p >= s->end)
			return -1;
		c = *s->p;
		if (c == '"')
			break;
		if (c < 0x20)
			return -1;
		if (s->end - s->p < 2)
			return -1;
		c = s->p[1];
		if (c == 'u') {
			if (unicode_escape(s, &n) < 0)
				return -1;
			continue;
		}
		if (!strchr("\"\\/bfnrt", c) || c == 0)
			return -1;
		s->p += 2;
		n++;
	}
	s->p++;
	if (bytes)
		*bytes += n;
	return 0;
}

/* A key without escapes (cJSON compares unescaped keys; these compare as written). */
static int key(struct scan *s, const char **k, size_t *len)
{
	const unsigned char *start;

	if (peek(s) != '"')
		return -1;
	start = ++s->p;
	s->p = plain_end(s);
	if (s->p >= s->end || *s->p != '"')
		return -1;
	*k = (const char *)start;
	*len = (size_t)(s->p - start);
	s->p++;
	return 0;
}

static bool digit(int c)
{
	return c >= '0' && c <= '9';
}

/* An RFC 8259 number; its value (strtod of the same text, as cJSON's) when v is not NULL. */
static int number(struct scan *s, double *v)
{
	static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,	 1e6,  1e7,
				       1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
	const unsigned char *start = s->p, *int_end, *d;
	size_t n, frac = 0, digits;
	char tmp[64];
	int64_t x;
	bool exp;

	if (peek(s) == '-')
		s->p++;
	if (peek(s) == '0') {
		s->p++;
	} else if (digit(peek(s))) {
		while (digit(peek(s)))
			s->p++;
	} else {
		return -1;
	}
	int_end = s->p;
	if (peek(s) == '.') {
		s->p++;
		if (!digit(peek(s)))
			return -1;
		while (digit(peek(s)))
			s->p++;
		frac = (size_t)(s->p - int_end) - 1;
	}
	digits = (size_t)(int_end - start) - (*start == '-') + frac;
	exp = peek(s) == 'e' || peek(s) == 'E';
	if (exp) {
		s->p++;
		if (peek(s) == '+' || peek(s) == '-')
			s->p++;
		if (!digit(peek(s)))
			return -1;
		while (digit(peek(s)))
			s->p++;
	}
	n = (size_t)(s->p - start);
	if (n >= sizeof(tmp))
		return -1; /* cJSON reads at most 63 characters of a number */
	if (v && !exp && digits <= 15) {
		/* At most 15 digits and no exponent: the digits are exact in a double, so is 10^k
		 * (k <= 22), and one IEEE division rounds correctly, as strtod does (Clinger's
		 * fast path). */
		for (x = 0, d = start + (*start == '-'); d < s->p; d++)
			if (*d != '.')
				x = x * 10 + (*d - '0');
		*v = (double)x / pow10[frac];
		if (*start == '-')
			*v = -*v;
	} else if (v) {
		memcpy(tmp, start, n);
		tmp[n] = '\0';
		*v = strtod(tmp, NULL);
	}
	return 0;
}

static int literal(struct scan *s, const char *word, size_t len)
{
	if ((size_t)(s->end - s->p) < len || memcmp(s->p, word, len) != 0)
		return -1;
	s->p += len;
	return 0;
}

static int object(struct scan *s, member_fn fn, void *arg);
static int array(struct scan *s, element_fn fn, void *arg);

static int skip_member(struct scan *s, const char *k, size_t len, void *arg);
static int skip_element(struct scan *s, void *arg);

/* Any value, validated and not read. */
static int skip(struct scan *s)
{
	switch (peek(s)) {
	case '{':
		return object(s, skip_member, NULL);
	case '[':
		return array(s, skip_element, NULL);
	case '"':
		return string(s, NULL);
	case 't':
		return literal(s, "true", 4);
	case 'f':
		return literal(s, "false", 5);
	case 'n':
		return literal(s, "null", 4);
	default:
		return number(s, NULL);
	}
}

static int skip_member(struct scan *s, const char *k, size_t len, void *arg)
{
	(void)k;
	(void)len;
	(void)arg;
	return skip(s);
}

static int skip_element(struct scan *s, void *arg)
{
	(void)arg;
	return skip(s);
}

/* The walk an object and an array share: the depth cap, the empty case, the commas up to
 * close. An object (on_member set) reads each key and its colon before calling on_member; an
 * array calls on_element. */
static int walk(struct scan *s, char close, member_fn on_member, element_fn on_element, void *arg)
{
	struct {
		const char *s;
		size_t len;
	} names[SCAN_MEMBERS];
	const char *k;
	size_t len, n_names = 0, i;
	uint64_t marks = 0, mark;

	if (++s->depth > ANSWER_SCAN_MAX_DEPTH)
		return -1;
	s->p++;
	ws(s);
	if (peek(s) == close) {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		if (on_member) {
			if (key(s, &k, &len) < 0 || n_names == SCAN_MEMBERS)
				return -1;
			/* A bit for each name's length and last byte: the pairwise check runs only
			 * when a name shares its bit with one before it (in an answer's objects,
			 * almost never). */
			mark = 1ull << ((len * 7 + (len ? (unsigned char)k[len - 1] : 0)) & 63);
			if (marks & mark)
				for (i = 0; i < n_names; i++)
					if (names[i].len == len && mem_eq(names[i].s, k, len))
						return -1;
			marks |= mark;
			names[n_names].s = k;
			names[n_names++].len = len;
			ws(s);
			if (peek(s) != ':')
				return -1;
			s->p++;
			ws(s);
			if (on_member(s, k, len, arg) < 0)
				return -1;
		} else if (on_element(s, arg) < 0) {
			return -1;
		}
		ws(s);
		if (peek(s) == close)
			break;
		if (peek(s) != ',')
			return -1;
		s->p++;
		ws(s);
	}
	s->p++;
	s->depth--;
	return 0;
}

static int object(struct scan *s, member_fn fn, void *arg)
{
	return walk(s, '}', fn, NULL, arg);
}

static int array(struct scan *s, element_fn fn, void *arg)
{
	return walk(s, ']', NULL, fn, arg);
}

struct name {
	const char *s;
	size_t len;
};

#define NAME(lit)                                                                                  \
	{                                                                                          \
		lit, sizeof(lit) - 1                                                               \
	}

/* The index of key in names, if it is the first member of that name (bit i of *seen). */
static int first_of(const char *k, size_t len, const struct name *names, size_t n, unsigned *seen)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i].len == len && mem_eq(k, names[i].s, len)) {
			if (*seen & (1u << i))
				return -1;
			*seen |= 1u << i;
			return (int)i;
		}
	return -1;
}

/* A string member counted when it is a string; any other type counts nothing. */
static int counted(struct scan *s, size_t *chars)
{
	return peek(s) == '"' ? string(s, chars) : skip(s);
}

/* An object whose members fn reads (an object's lookups find nothing in any other type). */
static int object_or_skip(struct scan *s, member_fn fn, void *arg)
{
	return peek(s) == '{' ? object(s, fn, arg) : skip(s);
}

/* cJSON iterates an object's members as it iterates an array's elements: not modelled. */
static int array_or_skip(struct scan *s, element_fn fn, void *arg)
{
	if (peek(s) == '{')
		return -1;
	return peek(s) == '[' ? array(s, fn, arg) : skip(s);
}

struct counting {
	size_t *chars;
	unsigned seen;
};

static int function_member(struct scan *s, const char *k, size_t len, void *arg)
{
	static const struct name names[] = {NAME("name"), NAME("arguments")};
	struct counting *c = arg;

	if (first_of(k, len, names, ARRAY_LEN(names), &c->seen) >= 0)
		return counted(s, c->chars);
	return skip(s);
}

static int tool_call_member(struct scan *s, const char *k, size_t len, void *arg)
{
	static const struct name names[] = {NAME("function")};
	struct counting *c = arg, f = {c->chars, 0};

	if (first_of(k, len, names, 1, &c->seen) >= 0)
		return object_or_skip(s, function_member, &f);
	return skip(s);
}

static int tool_call(struct scan *s, void *arg)
{
	struct counting c = {arg, 0};

	return object_or_skip(s, tool_call_member, &c);
}

static int message_member(struct scan *s, const char *k, size_t len, void *arg)
{
	static const struct name names[] = {NAME("content"), NAME("reasoning"),
					    NAME("reasoning_content"), NAME("refusal"),
					    NAME("tool_calls")};
	struct counting *c = arg;
	int i = first_of(k, len, names, ARRAY_LEN(names), &c->seen);

	if (i == 4)
		return array_or_skip(s, tool_call, c->chars);
	return i >= 0 ? counted(s, c->chars) : skip(s);
}

static int choice_member(struct scan *s, const char *k, size_t len, void *arg)
{
	static const struct name names[] = {NAME("message"), NAME("text")};
	struct counting *c = arg, m = {c->chars, 0};
	int i = first_of(k, len, names, ARRAY_LEN(names), &c->seen);

	if (i == 0)
		return object_or_skip(s, message_member, &m);
	return i == 1 ? counted(s, c->chars) : skip(s);
}

static int choice(struct scan *s, void *arg)
{
	struct counting c = {arg, 0};

	return object_or_skip(s, choice_member, &c);
}

struct usage_scan {
	struct answer_usage *u;
	unsigned seen;
};

/* A number member: read when it is a number, skipped otherwise (cJSON_IsNumber). */
static int number_or_skip(struct scan *s, bool *num, double *val)
{
	if (peek(s) != '-' && !digit(peek(s)))
		return skip(s);
	*num = true;
	return number(s, val);
}

struct details_scan {
	bool *cached_num, *write_num; /* write_num NULL: input_tokens_details */
	double *cached, *write;
	unsigned seen;
};

static int details_member(struct scan *s, const char *k, size_t len, void *arg)
{
	static const struct name names[] = {NAME("cached_tokens"), NAME("cache_write_tokens")};
	struct details_scan *d = arg;
	int i = first_of(k, len, names, ARRAY_LEN(names), &d->seen);

	if (i == 0)
		return number_or_skip(s, d->cached_num, d->cached);
	if (i == 1 && d->write_num)
		return number_or_skip(s, d->write_num, d->write);
	return skip(s);
}

static int usage_member(struct scan *s, const char *k, size_t len, void *arg)
{
	static const struct name names[] = {NAME("prompt_tokens"),
					    NAME("completion_tokens"),
					    NAME("input_tokens"),
					    NAME("output_tokens"),
					    NAME("cost"),
					    NAME("prompt_tokens_details"),
					    NAME("input_tokens_details"),
					    NAME("cache_creation_input_tokens")};
	struct usage_scan *us = arg;
	struct answer_usage *u = us->u;
	int i = first_of(k, len, names, ARRAY_LEN(names), &us->seen);

	/* A switch, not tables of the fields' addresses: those were filled on every member. */
	switch (i) {
	case 0:
		u->has_prompt = true;
		return number_or_skip(s, &u->prompt_num, &u->prompt);
	case 1:
		u->has_completion = true;
		return number_or_skip(s, &u->completion_num, &u->completion);
	case 2:
		u->has_input = true;
		return number_or_skip(s, &u->input_num, &u->input);
	case 3:
		u->has_output = true;
		return number_or_skip(s, &u->output_num, &u->output);
	case 4:
		return number_or_skip(s, &u->cost_num, &u->cost);
	case 5: {
		struct details_scan pd = {&u->p_cached_num, &u->p_write_num, &u->p_cached,
					  &u->p_write, 0};

		return object_or_skip(s, details_member, &pd);
	}
	case 6: {
		struct details_scan id = {&u->i_cached_num, NULL, &u->i_cached, NULL, 0};

		return object_or_skip(s, details_member, &id);
	}
	case 7:
		return number_or_skip(s, &u->creation_num, &u->creation);
	default:
		return skip(s);
	}
}

struct root_scan {
	struct answer_facts *f;
	unsigned seen;
};

static int root_member(struct scan *s, const char *k, size_t len, void *arg)
{
	static const struct name names[] = {NAME("choices"), NAME("text"), NAME("error"),
					    NAME("data"), NAME("usage")};
	struct root_scan *r = arg;
	struct answer_facts *f = r->f;
	struct usage_scan us = {&f->u, 0};

	switch (first_of(k, len, names, ARRAY_LEN(names), &r->seen)) {
	case 0:
		f->has_choices = true;
		return array_or_skip(s, choice, &f->output_chars);
	case 1:
		f->has_text = true;
		return counted(s, &f->output_chars);
	case 2:
		f->has_error = true;
		return skip(s);
	case 3:
		f->has_data = true;
		return skip(s);
	case 4:
		if (peek(s) != '{')
			return skip(s);
		f->usage_object = true;
		return object(s, usage_member, &us);
	default:
		return skip(s);
	}
}

int answer_scan(const char *text, size_t len, struct answer_facts *out)
{
	struct scan s = {(const unsigned char *)text, (const unsigned char *)text + len, 0};
	struct root_scan r = {out, 0};

	memset(out, 0, sizeof(*out));
	ws(&s);
	if (peek(&s) != '{' || object(&s, root_member, &r) < 0)
		return -1;
	ws(&s);
	return s.p == s.end ? 0 : -1;
}

/* ---- the same facts from cJSON's tree ---- */

static const cJSON *member(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

static size_t string_len(const cJSON *v)
{
	return cJSON_IsString(v) ? strlen(v->valuestring) : 0;
}

/* Characters of generated text in a message or delta (what the provider bills as output). */
static size_t text_chars(const cJSON *m)
{
	static const char *const fields[] = {"content", "reasoning", "reasoning_content",
					     "refusal"};
	const cJSON *v, *f, *tc = member(m, "tool_calls");
	size_t n = 0, i;

	for (i = 0; i < ARRAY_LEN(fields); i++)
		n += string_len(member(m, fields[i]));
	cJSON_ArrayForEach(v, tc)
	{
		f = member(v, "function");
		n += string_len(member(f, "name"));
		n += string_len(member(f, "arguments"));
	}
	return n;
}

size_t answer_choices_chars(const cJSON *choices, const char *field)
{
	const cJSON *ch;
	size_t n = 0;

	cJSON_ArrayForEach(ch, choices)
	{
		n += text_chars(member(ch, field));
		n += string_len(member(ch, "text"));
	}
	return n;
}

static void number_of(const cJSON *v, bool *present, bool *num, double *val)
{
	if (present)
		*present = v != NULL;
	*num = cJSON_IsNumber(v);
	if (*num)
		*val = v->valuedouble;
}

void answer_usage_tree(const cJSON *usage, struct answer_usage *u)
{
	const cJSON *pd, *id;

	memset(u, 0, sizeof(*u));
	number_of(member(usage, "prompt_tokens"), &u->has_prompt, &u->prompt_num, &u->prompt);
	number_of(member(usage, "completion_tokens"), &u->has_completion, &u->completion_num,
		  &u->completion);
	number_of(member(usage, "input_tokens"), &u->has_input, &u->input_num, &u->input);
	number_of(member(usage, "output_tokens"), &u->has_output, &u->output_num, &u->output);
	number_of(member(usage, "cost"), NULL, &u->cost_num, &u->cost);
	pd = member(usage, "prompt_tokens_details");
	id = member(usage, "input_tokens_details");
	number_of(member(pd, "cached_tokens"), NULL, &u->p_cached_num, &u->p_cached);
	number_of(member(pd, "cache_write_tokens"), NULL, &u->p_write_num, &u->p_write);
	number_of(member(id, "cached_tokens"), NULL, &u->i_cached_num, &u->i_cached);
	number_of(member(usage, "cache_creation_input_tokens"), NULL, &u->creation_num,
		  &u->creation);
}

void answer_scan_tree(const cJSON *root, struct answer_facts *out)
{
	const cJSON *text = member(root, "text"), *usage = member(root, "usage");
	const cJSON *choices = member(root, "choices");

	memset(out, 0, sizeof(*out));
	out->has_choices = choices != NULL;
	out->has_text = text != NULL;
	out->has_error = member(root, "error") != NULL;
	out->has_data = member(root, "data") != NULL;
	out->usage_object = cJSON_IsObject(usage);
	if (out->usage_object)
		answer_usage_tree(usage, &out->u);
	out->output_chars = answer_choices_chars(choices, "message") + string_len(text);
}
