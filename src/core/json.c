/* json: json_fast's one pass takes a text of plain JSON; anything else goes the long way,
 * below: cJSON parses the text; then, on the tree, one walk refuses an object that repeats a
 * member name, and (JSON_EXACT) json_exact annotates the numbers. Both ways give one tree.
 *
 * The walk needs no text positions: cJSON keeps every member, duplicates included, with its
 * decoded name in `string`, so comparing those names is comparing what any other parser
 * decodes. An object of a few members is checked pairwise; a larger one through an
 * open-addressed table of its names (a hostile 100k-member object costs one pass, not n^2/2
 * string compares). The path in the message is only built when there is a duplicate: each
 * level of the walk keeps a frame on the stack pointing at its parent.
 * Rejected: a tokenizer of our own that sees the duplicate while reading in place of cJSON
 * (cJSON's parser is fuzzed and shared; json_fast does so only for plain text and gives the
 * rest, every error included, to this way), and refusing in the router alone (every reader
 * of peer text faces the same split between "first wins" and "last wins").
 */
#include "core/json.h"
#include "core/json_exact.h"
#include "core/json_fast.h"
#include "core/util.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Up to this many members, pairwise compares beat building a table. JSON_FOLD folds the names
 * of the root object and of the objects directly in it (the request's own fields and
 * stream_options, usage, ...): deeper down are JSON schemas and free-form maps, whose
 * properties may differ only in case and which Go reads into maps, case-sensitively. */
enum { PAIRWISE_MAX = 12, NAME_SHOWN = 48, PATH_SHOWN = 90, JSON_FOLD_LEVELS = 2 };

/* One level of the walk: a member of an object (name) or an element of an array (index). */
struct frame {
	const struct frame *up;
	const char *name; /* NULL for an array element */
	size_t index;
};

/* The next byte of a name as compared, advancing *s; 0 at its end. Folded: ASCII letters
 * lower-cased, U+017F (long s, C5 BF) as 's' and U+212A (Kelvin sign, E2 84 AA) as 'k', the
 * two non-ASCII letters Go's case-insensitive key match folds into ASCII. */
static unsigned char next_byte(const unsigned char **s, bool fold)
{
	const unsigned char *p = *s;

	if (!*p)
		return 0;
	if (fold && p[0] == 0xC5 && p[1] == 0xBF) {
		*s += 2;
		return 's';
	}
	if (fold && p[0] == 0xE2 && p[1] == 0x84 && p[2] == 0xAA) {
		*s += 3;
		return 'k';
	}
	*s += 1;
	return fold && *p >= 'A' && *p <= 'Z' ? (unsigned char)(*p - 'A' + 'a') : *p;
}

static uint64_t hash_name(const char *name, bool fold)
{
	const unsigned char *s = (const unsigned char *)name;
	uint64_t h = 1469598103934665603ull;
	unsigned char c;

	while ((c = next_byte(&s, fold)))
		h = (h ^ c) * 1099511628211ull;
	return h;
}

static bool same_name(const char *x, const char *y, bool fold)
{
	const unsigned char *a = (const unsigned char *)x, *b = (const unsigned char *)y;
	unsigned char c;

	if (!fold)
		return strcmp(x, y) == 0;
	do {
		c = next_byte(&a, true);
		if (c != next_byte(&b, true))
			return false;
	} while (c);
	return true;
}

static const char *name_of(const cJSON *item)
{
	return item->string ? item->string : "";
}

/* The second member of `obj` whose name an earlier member has, or NULL. */
static const cJSON *find_duplicate(const cJSON *obj, bool fold)
{
	const cJSON *kid, *other, *found = NULL, **slots;
	size_t n = 0, size = 16, at;

	for (kid = obj->child; kid; kid = kid->next)
		n++;
	if (n < 2)
		return NULL;
	if (n <= PAIRWISE_MAX) {
		for (kid = obj->child->next; kid; kid = kid->next)
			for (other = obj->child; other != kid; other = other->next)
				if (same_name(name_of(other), name_of(kid), fold))
					return kid;
		return NULL;
	}
	while (size < 2 * n)
		size *= 2;
	slots = xcalloc(size, sizeof(*slots));
	for (kid = obj->child; kid && !found; kid = kid->next) {
		at = (size_t)hash_name(name_of(kid), fold) & (size - 1);
		while (slots[at] && !same_name(name_of(slots[at]), name_of(kid), fold))
			at = (at + 1) & (size - 1);
		if (slots[at])
			found = kid;
		slots[at] = kid;
	}
	free(slots);
	return found;
}

static bool plain_name(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* A name for a person: printable ASCII as it is, `"` and `\` escaped, other bytes as \xNN
 * (the message goes into logs and JSON answers, which must not carry raw control bytes or
 * a cut UTF-8 sequence). */
static void put_name(struct buf *b, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < NAME_SHOWN; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			buf_append(b, &s[i], 1);
		else
			buf_printf(b, "\\x%02x", c);
	}
	if (s[i])
		buf_puts(b, "...");
}

static void put_path(struct buf *b, const struct frame *f)
{
	if (!f)
		return;
	put_path(b, f->up);
	if (!f->name) {
		buf_printf(b, "[%zu]", f->index);
	} else if (plain_name(f->name)) {
		buf_puts(b, ".");
		put_name(b, f->name);
	} else {
		buf_puts(b, "[\"");
		put_name(b, f->name);
		buf_puts(b, "\"]");
	}
}

/* Whether an earlier member of kid's object has kid's name byte for byte. */
static bool exact_before(const cJSON *obj, const cJSON *kid)
{
	const cJSON *other;

	for (other = obj->child; other && other != kid; other = other->next)
		if (strcmp(name_of(other), name_of(kid)) == 0)
			return true;
	return false;
}

static void report_duplicate(const cJSON *obj, const cJSON *kid, const struct frame *where,
			     bool fold, struct json_error *err)
{
	struct buf name, path;

	if (!err)
		return;
	buf_init(&name, 0);
	buf_init(&path, 0);
	put_name(&name, name_of(kid));
	buf_puts(&path, "$");
	put_path(&path, where);
	fold = fold && !exact_before(obj, kid);
	err->offset = 0;
	err->duplicate = 1;
	/* A deep path keeps its end: the object that holds the duplicate is what a person needs. */
	if (path.len > PATH_SHOWN)
		snprintf(err->msg, sizeof(err->msg), "duplicate member \"%s\" at $...%s%s",
			 buf_str(&name), buf_str(&path) + path.len - PATH_SHOWN,
			 fold ? " (case ignored)" : "");
	else
		snprintf(err->msg, sizeof(err->msg), "duplicate member \"%s\" at %s%s",
			 buf_str(&name), buf_str(&path), fold ? " (case ignored)" : "");
	buf_finish(&name);
	buf_finish(&path);
}

/* Walks `item` (reached through `where`); false after reporting the first duplicate. Names
 * are folded in the `fold_levels` levels from here (0: none). cJSON's nesting limit (1000)
 * bounds the recursion. */
static bool unique_members(const cJSON *item, const struct frame *where, int fold_levels,
			   struct json_error *err)
{
	const cJSON *kid, *dup;
	struct frame f = {where, NULL, 0};

	if (cJSON_IsObject(item)) {
		dup = find_duplicate(item, fold_levels > 0);
		if (dup) {
			report_duplicate(item, dup, where, fold_levels > 0, err);
			return false;
		}
	}
	for (kid = item->child; kid; kid = kid->next, f.index++) {
		if (!cJSON_IsObject(kid) && !cJSON_IsArray(kid))
			continue;
		f.name = cJSON_IsObject(item) ? name_of(kid) : NULL;
		if (!unique_members(kid, &f, fold_levels > 0 ? fold_levels - 1 : 0, err))
			return false;
	}
	return true;
}

static void refuse(struct json_error *err, size_t offset, const char *msg)
{
	if (!err)
		return;
	err->offset = offset;
	err->duplicate = 0;
	snprintf(err->msg, sizeof(err->msg), "%s", msg);
}

cJSON *json_parse(const char *text, size_t len, unsigned flags, struct json_error *err)
{
	cJSON *root = json_fast_parse(text, len, flags);

	return root ? root : json_parse_cjson(text, len, flags, err);
}

cJSON *json_parse_span(const char *text, size_t len, unsigned flags, struct json_error *err,
		       const char *name, size_t *at, size_t *end)
{
	cJSON *root = json_fast_parse_span(text, len, flags, name, at, end);

	return root ? root : json_parse_cjson(text, len, flags, err);
}

cJSON *json_parse_cjson(const char *text, size_t len, unsigned flags, struct json_error *err)
{
	const char *end = NULL, *p;
	cJSON *root;
	char msg[64];

	if (!text || !len) {
		refuse(err, 0, "not valid JSON (the text is empty)");
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!root) {
		size_t at = end && end >= text ? (size_t)(end - text) : 0;

		snprintf(msg, sizeof(msg), "not valid JSON (at byte %zu)", at);
		refuse(err, at, msg);
		return NULL;
	}
	/* cJSON's whitespace is every byte up to space; anything else after the value is a
	 * second text cJSON did not read, and no other reader agrees on what it means. */
	for (p = end; p < text + len && (unsigned char)*p <= 32; p++)
		;
	if (p < text + len) {
		snprintf(msg, sizeof(msg), "not valid JSON (text after the value at byte %zu)",
			 (size_t)(p - text));
		refuse(err, (size_t)(p - text), msg);
		cJSON_Delete(root);
		return NULL;
	}
	if (!unique_members(root, NULL, flags & JSON_FOLD ? JSON_FOLD_LEVELS : 0, err)) {
		cJSON_Delete(root);
		return NULL;
	}
	if (flags & JSON_EXACT)
		json_exact_annotate(text, len, root);
	return root;
}

cJSON *json_parse_str(const char *text, struct json_error *err)
{
	return json_parse(text, text ? strlen(text) : 0, 0, err);
}

/* Here rather than in json_exact.c: json_parse calls the annotation there, and the parse
 * itself stays one way, json.c -> json_exact.c. */
cJSON *json_exact_parse(const char *text, size_t len)
{
	return json_parse(text, len, JSON_EXACT, NULL);
}

void json_members(const cJSON *obj, const char *const *names, size_t n, cJSON **out)
{
	cJSON *kid;
	size_t i;

	memset(out, 0, n * sizeof(*out));
	for (kid = obj ? obj->child : NULL; kid && kid->string; kid = kid->next)
		for (i = 0; i < n; i++)
			/* Two bytes before the call (the first is not NUL, so both strings have a
			 * second): a request's names share first letters ("model", "messages",
			 * "max_tokens"), and most of the calls were to find they differ. */
			if (names[i] && !out[i] && kid->string[0] == names[i][0] &&
			    kid->string[0] && kid->string[1] == names[i][1] &&
			    strcmp(kid->string, names[i]) == 0) {
				out[i] = kid;
				break;
			}
}
