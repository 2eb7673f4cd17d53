/* json_exact: cJSON parses the text; a second pass walks the same text alongside the tree
 * (children are in text order, duplicate keys included) and copies each number's source text
 * into its item. The walk checks every structural character it expects; if it ever disagrees
 * with the tree it stops, and the numbers it has not reached keep only their double. Printing
 * relabels those items cJSON_Raw (printed verbatim) for one cJSON_PrintUnformatted, then back.
 * Rejected: a parser of our own (cJSON's is fuzzed and shared by everything else) and keeping
 * raw spans beside the tree (every caller would need a second structure).
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
	while (s->p < s->end && *s->p != '"') {
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

cJSON *json_exact_parse(const char *text, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(text, len);
	struct scan s = {text, text + len};

	if (!root)
		return NULL;
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		s.p += 3;
	annotate(&s, root);
	return root;
}

/* The source text still says what valuedouble holds (not changed since the parse). */
static bool text_matches(const cJSON *item)
{
	char *end;
	double d;

	if (!cJSON_IsNumber(item) || !item->valuestring)
		return false;
	d = strtod(item->valuestring, &end);
	return *end == '\0' && d == item->valuedouble;
}

/* Marks an item relabelled by json_exact_print; cJSON reads only the low byte as the type. */
#define WAS_NUMBER (1 << 14)

static void relabel(cJSON *item, bool to_raw)
{
	cJSON *kid;

	if (to_raw && text_matches(item))
		item->type = cJSON_Raw | WAS_NUMBER | (item->type & ~0xFF);
	else if (!to_raw && (item->type & WAS_NUMBER))
		item->type = cJSON_Number | (item->type & ~0xFF & ~WAS_NUMBER);
	for (kid = item->child; kid; kid = kid->next)
		relabel(kid, to_raw);
}

char *json_exact_print(const cJSON *item)
{
	cJSON *tree = (cJSON *)item;
	char *out;

	relabel(tree, true);
	out = cJSON_PrintUnformatted(tree);
	relabel(tree, false);
	return out;
}
