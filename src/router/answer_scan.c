/* answer_scan: the facts the router reads from a whole answer, by one pass over its text.
 *
 * Parsing a 500-byte chat.completion into a cJSON tree only to read usage and count a few
 * strings was about 20k instructions of a proxied request; this pass validates every byte,
 * decodes nothing it does not count, and allocates nothing. It models cJSON's lookups exactly
 * where the answer's shape is ordinary (objects of at most SCAN_MEMBERS members, each name once;
 * arrays of objects; anything else contributes nothing, as a lookup on it finds nothing) and
 * gives up where cJSON's behaviour is odd (choices or tool_calls as an object, whose members cJSON
 * iterates like elements), lenient (numbers like 01, trailing text, any byte below 0x21 as
 * whitespace, "\uZZZZ" read as U+0000) or truncating ("\u0000", numbers past 63 characters): the
 * caller then parses with cJSON as before, so an answer the pass cannot read costs one pass more,
 * never a different result. A repeated member name is such a give-up: json_parse (core/json.h),
 * the fallback, refuses the answer (I-JSON), so the client never gets an answer whose usage we
 * read from one member and it from another.
 *
 * The pass is one loop with an explicit stack of open containers, each with the context it is
 * read in (the root, a choice, a message, usage, ...: enum ctx); a member's name is looked up
 * only in a context that reads something, and what it names becomes the action on the value
 * that follows (count a string, read a number, open a known object). It replaced a recursive
 * descent with a callback per object kind: for the bench's 480-byte answer 6.6k instructions
 * became 4.6k (with json_plain_end's sixteen-byte step), on the answer's leg of a request,
 * where the router's time exceeds nginx's most (docs/numbers.md). Rejected: a general
 * streaming tokenizer with callbacks (more code than the shapes read here) and skipping
 * validation (the router refuses a 200 answer that is not JSON).
 */
#include "router/answer_scan.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Members of one object the pass checks for a repeated name pairwise; a larger object is left
 * to json_parse, whose check is a table. */
enum { SCAN_MEMBERS = 32 };
/* Names of all the open objects together (each object's are dropped when it closes). */
enum { SCAN_NAMES = 256 };

typedef unsigned char u8;

/* What a container is read as. An object or array in C_NONE holds nothing read. */
enum ctx {
	C_NONE,
	C_ROOT,
	C_CHOICE,    /* an element of the root's "choices" */
	C_MESSAGE,   /* a choice's "message" */
	C_TOOL_CALL, /* an element of a message's "tool_calls" */
	C_FUNCTION,  /* a tool call's "function" */
	C_USAGE,
	C_PDETAILS, /* usage.prompt_tokens_details */
	C_IDETAILS, /* usage.input_tokens_details */
};

/* What is done with the value after a member's name (or an array's element): the kind in the
 * low four bits, its argument (a context, a number's slot) above. */
enum act_kind {
	A_SKIP,	 /* validated, not read */
	A_COUNT, /* a string's unescaped bytes count as output; another type counts nothing */
	A_OBJ,	 /* an object is read in context arg; another type is skipped */
	A_ARR,	 /* an array's objects are read in context arg; an object gives up (cJSON would
		  * iterate its members); another type is skipped */
	A_NUM,	 /* a number is read into slot arg; another type is skipped */
	A_USAGE, /* the root's usage: an object sets usage_object and is read as C_USAGE */
};

#define ACT(kind, arg) ((u8)((kind) | (arg) << 4))

/* The numbers of struct answer_usage by slot: its is-a-number flag and its value. */
#define SLOT(num, val)                                                                             \
	{                                                                                          \
		offsetof(struct answer_usage, num), offsetof(struct answer_usage, val)             \
	}
static const struct {
	unsigned short num, val;
} slots[] = {
	SLOT(prompt_num, prompt),     SLOT(completion_num, completion),
	SLOT(input_num, input),	      SLOT(output_num, output),
	SLOT(cost_num, cost),	      SLOT(p_cached_num, p_cached),
	SLOT(p_write_num, p_write),   SLOT(i_cached_num, i_cached),
	SLOT(creation_num, creation),
};

/* One open container. */
struct frame {
	u8 ctx;
	u8 element; /* an array: the action on each element */
	char close; /* '}' or ']' */
	u8 n_names; /* an object: its names so far, from names_at in the shared list */
	unsigned short names_at;
	uint64_t marks; /* a bit for each name's length and last byte */
};

struct name_ref {
	const u8 *s;
	size_t len;
};

static bool digit(u8 c)
{
	return c >= '0' && c <= '9';
}

/* Skips whitespace at p (most answers have none between tokens: one compare decides that). */
#define WS(p, end)                                                                                 \
	while ((p) < (end) && *(p) <= ' ' &&                                                       \
	       (*(p) == ' ' || *(p) == '\n' || *(p) == '\r' || *(p) == '\t'))                      \
	(p)++

/* One "\uXXXX" (or a surrogate pair) at p (the backslash): past it, with *bytes grown by the
 * UTF-8 bytes cJSON writes for it, or NULL where cJSON fails or writes U+0000. */
static const u8 *unicode_escape(const u8 *p, const u8 *end, size_t *bytes)
{
	unsigned a, b;

	if (end - p < 6 || json_hex4(p + 2, &a) < 0 || a == 0 || (a >= 0xDC00 && a <= 0xDFFF))
		return NULL;
	p += 6;
	if (a >= 0xD800 && a <= 0xDBFF) {
		if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || json_hex4(p + 2, &b) < 0 ||
		    b < 0xDC00 || b > 0xDFFF)
			return NULL;
		*bytes += 4;
		return p + 6;
	}
	*bytes += a < 0x80 ? 1 : a < 0x800 ? 2 : 3;
	return p;
}

/* A string at p (its opening quote): past it, with *bytes grown by its length once unescaped,
 * or NULL. A raw control byte is refused (cJSON keeps it, but strlen would stop at a NUL). */
static const u8 *string(const u8 *p, const u8 *end, size_t *bytes)
{
	const u8 *run;
	size_t n = 0;
	u8 c;

	p++;
	for (;;) {
		/* The plain bytes up to the next quote, backslash or control byte. */
		run = p;
		p = (const u8 *)json_plain_end((const char *)p, (const char *)end);
		n += (size_t)(p - run);
		if (p >= end)
			return NULL;
		c = *p;
		if (c == '"')
			break;
		if (c < 0x20 || end - p < 2)
			return NULL;
		c = p[1];
		if (c == 'u') {
			p = unicode_escape(p, end, &n);
			if (!p)
				return NULL;
			continue;
		}
		if (c == 0 || !strchr("\"\\/bfnrt", c))
			return NULL;
		p += 2;
		n++;
	}
	*bytes += n;
	return p + 1;
}

/* An RFC 8259 number at p: past it, with its value in *v (strtod of the same text, as cJSON's)
 * when v is not NULL, or NULL. */
static const u8 *number(const u8 *p, const u8 *end, double *v)
{
	static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,	 1e6,  1e7,
				       1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
	const u8 *start = p, *int_end;
	uint64_t x = 0;
	size_t n, frac = 0;
	bool neg = false, exp = false;
	char tmp[64];

	if (p < end && *p == '-') {
		neg = true;
		p++;
	}
	if (p >= end || !digit(*p))
		return NULL;
	if (*p == '0')
		p++;
	else
		while (p < end && digit(*p))
			x = x * 10 + (uint64_t)(*p++ - '0'); /* past 19 digits it wraps, unused */
	int_end = p;
	if (p < end && *p == '.') {
		p++;
		if (p >= end || !digit(*p))
			return NULL;
		while (p < end && digit(*p))
			x = x * 10 + (uint64_t)(*p++ - '0');
		frac = (size_t)(p - int_end) - 1;
	}
	if (p < end && (*p | 0x20) == 'e') {
		exp = true;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !digit(*p))
			return NULL;
		while (p < end && digit(*p))
			p++;
	}
	n = (size_t)(p - start);
	if (n >= sizeof(tmp))
		return NULL; /* cJSON reads at most 63 characters of a number */
	if (!v)
		return p;
	if (!exp && (size_t)(int_end - start) - neg + frac <= 15) {
		/* At most 15 digits and no exponent: the digits are exact in a double, so is 10^k
		 * (k <= 22), and one IEEE division rounds correctly, as strtod does (Clinger's
		 * fast path). */
		*v = (double)x / pow10[frac];
		if (neg)
			*v = -*v;
	} else {
		memcpy(tmp, start, n);
		tmp[n] = '\0';
		*v = strtod(tmp, NULL);
	}
	return p;
}

/* The action on the value of member k in an object read as ctx, with the presence flags
 * that name alone sets. Each name is compared by its length first. */
static u8 lookup(u8 ctx, const u8 *k, size_t len, struct answer_facts *f)
{
#define IS(lit) (len == sizeof(lit) - 1 && mem_eq(k, lit, sizeof(lit) - 1))
	switch (ctx) {
	case C_ROOT:
		if (IS("choices")) {
			f->has_choices = true;
			return ACT(A_ARR, C_CHOICE);
		}
		if (IS("usage"))
			return ACT(A_USAGE, C_USAGE);
		if (IS("text")) {
			f->has_text = true;
			return A_COUNT;
		}
		if (IS("error"))
			f->has_error = true;
		else if (IS("data"))
			f->has_data = true;
		return A_SKIP;
	case C_CHOICE:
		if (IS("message"))
			return ACT(A_OBJ, C_MESSAGE);
		return IS("text") ? A_COUNT : A_SKIP;
	case C_MESSAGE:
		if (IS("content") || IS("reasoning") || IS("reasoning_content") || IS("refusal"))
			return A_COUNT;
		return IS("tool_calls") ? ACT(A_ARR, C_TOOL_CALL) : A_SKIP;
	case C_TOOL_CALL:
		return IS("function") ? ACT(A_OBJ, C_FUNCTION) : A_SKIP;
	case C_FUNCTION:
		return IS("name") || IS("arguments") ? A_COUNT : A_SKIP;
	case C_USAGE:
		if (IS("prompt_tokens")) {
			f->u.has_prompt = true;
			return ACT(A_NUM, 0);
		}
		if (IS("completion_tokens")) {
			f->u.has_completion = true;
			return ACT(A_NUM, 1);
		}
		if (IS("input_tokens")) {
			f->u.has_input = true;
			return ACT(A_NUM, 2);
		}
		if (IS("output_tokens")) {
			f->u.has_output = true;
			return ACT(A_NUM, 3);
		}
		if (IS("cost"))
			return ACT(A_NUM, 4);
		if (IS("prompt_tokens_details"))
			return ACT(A_OBJ, C_PDETAILS);
		if (IS("input_tokens_details"))
			return ACT(A_OBJ, C_IDETAILS);
		return IS("cache_creation_input_tokens") ? ACT(A_NUM, 8) : A_SKIP;
	case C_PDETAILS:
		if (IS("cached_tokens"))
			return ACT(A_NUM, 5);
		return IS("cache_write_tokens") ? ACT(A_NUM, 6) : A_SKIP;
	case C_IDETAILS:
		return IS("cached_tokens") ? ACT(A_NUM, 7) : A_SKIP;
	default:
		return A_SKIP;
	}
#undef IS
}

int answer_scan(const char *text, size_t len, struct answer_facts *out)
{
	struct frame st[ANSWER_SCAN_MAX_DEPTH], *top = NULL;
	struct name_ref names[SCAN_NAMES];
	const u8 *p = (const u8 *)text, *end = p + len, *k;
	size_t n_names = 0, klen, i, uncounted = 0;
	uint64_t mark;
	u8 act = ACT(A_OBJ, C_ROOT), kind, ctx;
	double *val;

	memset(out, 0, sizeof(*out));
	WS(p, end);
	if (p >= end || *p != '{')
		return -1;
value:
	/* p is at a value (whitespace skipped); act says what to do with it. */
	if (p >= end)
		return -1;
	kind = act & 15;
	switch (*p) {
	case '{':
		if (kind == A_ARR)
			return -1;
		if (kind == A_USAGE)
			out->usage_object = true;
		ctx = kind == A_OBJ || kind == A_USAGE ? act >> 4 : C_NONE;
		if (top == st + ANSWER_SCAN_MAX_DEPTH - 1)
			return -1;
		top = top ? top + 1 : st;
		top->ctx = ctx;
		top->close = '}';
		top->n_names = 0;
		top->names_at = (unsigned short)n_names;
		top->marks = 0;
		p++;
		WS(p, end);
		if (p < end && *p == '}')
			goto close;
		goto key;
	case '[':
		if (top == st + ANSWER_SCAN_MAX_DEPTH - 1)
			return -1;
		top++;
		top->ctx = kind == A_ARR ? act >> 4 : C_NONE;
		top->element = top->ctx ? ACT(A_OBJ, top->ctx) : A_SKIP;
		top->close = ']';
		p++;
		WS(p, end);
		if (p < end && *p == ']')
			goto close;
		act = top->element;
		goto value;
	case '"':
		p = string(p, end, kind == A_COUNT ? &out->output_chars : &uncounted);
		break;
	case 't':
		if (end - p < 4 || !mem_eq(p, "true", 4))
			return -1;
		p += 4;
		break;
	case 'f':
		if (end - p < 5 || !mem_eq(p, "false", 5))
			return -1;
		p += 5;
		break;
	case 'n':
		if (end - p < 4 || !mem_eq(p, "null", 4))
			return -1;
		p += 4;
		break;
	default:
		val = NULL;
		if (kind == A_NUM && (*p == '-' || digit(*p))) {
			*(bool *)((char *)&out->u + slots[act >> 4].num) = true;
			val = (double *)((char *)&out->u + slots[act >> 4].val);
		}
		p = number(p, end, val);
		break;
	}
	if (!p)
		return -1;
next:
	/* After a value: a comma and the next member or element, or the container's end. */
	WS(p, end);
	if (p >= end)
		return -1;
	if (*p == ',') {
		p++;
		WS(p, end);
		if (top->close == ']') {
			act = top->element;
			goto value;
		}
		goto key;
	}
	if (*p != top->close)
		return -1;
close:
	p++;
	if (top->close == '}')
		n_names = top->names_at;
	if (top == st) {
		WS(p, end);
		return p == end ? 0 : -1;
	}
	top--;
	goto next;
key:
	/* A name without escapes (cJSON compares unescaped names; these compare as written). */
	if (p >= end || *p != '"' || top->n_names == SCAN_MEMBERS || n_names == SCAN_NAMES)
		return -1;
	k = ++p;
	p = (const u8 *)json_plain_end((const char *)p, (const char *)end);
	if (p >= end || *p != '"')
		return -1;
	klen = (size_t)(p - k);
	p++;
	/* A bit for the name's length and last byte (the opening quote for ""): the pairwise
	 * check runs only when a name shares its bit with one before it (in an answer's objects,
	 * almost never). */
	mark = 1ull << ((klen * 7 + k[(ptrdiff_t)klen - 1]) & 63);
	if (top->marks & mark)
		for (i = top->names_at; i < n_names; i++)
			if (names[i].len == klen && mem_eq(names[i].s, k, klen))
				return -1;
	top->marks |= mark;
	names[n_names].s = k;
	names[n_names++].len = klen;
	top->n_names++;
	WS(p, end);
	if (p >= end || *p != ':')
		return -1;
	p++;
	WS(p, end);
	act = top->ctx ? lookup(top->ctx, k, klen, out) : A_SKIP;
	goto value;
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
