/* Fuzz target of json_parse, the one JSON parser: it accepts exactly the texts cJSON accepts
 * as one value whose objects repeat no member name, and says "duplicate" exactly when cJSON
 * reads the text and some object repeats a name (checked here by plain pairwise compares,
 * against the table json.c uses for large objects). And json_fast's one pass, under each flag
 * set, takes only texts the long way takes, into the same tree. json_parse_span's span, when
 * it gives one, is a JSON string in the text that reads as the tree's root "model" (the
 * router replaces it and forwards the rest as written). Seeds: tests/fuzz/corpus/json/. */
#include "core/json.h"
#include "core/json_fast.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool has_duplicate(const cJSON *item)
{
	const cJSON *a, *b;

	for (a = item->child; a; a = a->next) {
		if (cJSON_IsObject(item))
			for (b = a->next; b; b = b->next)
				if (strcmp(a->string, b->string) == 0)
					return true;
		if (has_duplicate(a))
			return true;
	}
	return false;
}

static bool same_tree(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y;

	if (a->type != b->type || a->valueint != b->valueint ||
	    memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)) != 0 ||
	    !a->string != !b->string || (a->string && strcmp(a->string, b->string) != 0) ||
	    !a->valuestring != !b->valuestring ||
	    (a->valuestring && strcmp(a->valuestring, b->valuestring) != 0))
		return false;
	for (x = a->child, y = b->child; x && y; x = x->next, y = y->next)
		if (!same_tree(x, y) || (x->next == NULL) != (y->next == NULL))
			return false;
	return !x && !y && (!a->child || (a->child->prev && !a->child->prev->next));
}

static void fast_matches_long(const char *text, size_t size, unsigned flags)
{
	cJSON *fast = json_fast_parse(text, size, flags), *slow;

	if (!fast)
		return;
	slow = json_parse_cjson(text, size, flags, NULL);
	if (!slow || !same_tree(fast, slow))
		abort();
	cJSON_Delete(fast);
	cJSON_Delete(slow);
}

/* The span is the root's "model" string, as the tree holds it. */
static void span_is_the_model(const char *text, size_t size)
{
	size_t at, end;
	cJSON *root = json_parse_span(text, size, JSON_EXACT | JSON_FOLD, NULL, "model", &at, &end);
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
	cJSON *alone;

	if (end) {
		if (!cJSON_IsString(model) || end <= at || end > size || text[at] != '"' ||
		    text[end - 1] != '"')
			abort();
		alone = json_parse(text + at, end - at, 0, NULL);
		if (!cJSON_IsString(alone) || strcmp(alone->valuestring, model->valuestring) != 0)
			abort();
		cJSON_Delete(alone);
	}
	cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *end = NULL;
	struct json_error err;
	cJSON *root = json_parse(text, size, 0, &err), *plain;
	bool whole;

	plain = size ? cJSON_ParseWithLengthOpts(text, size, &end, false) : NULL;
	whole = plain && end;
	while (whole && end < text + size && (unsigned char)*end <= 32)
		end++;
	whole = whole && end == text + size;
	if (root && (!whole || has_duplicate(plain)))
		abort();
	if (!root && whole && !has_duplicate(plain))
		abort();
	if (!root && err.duplicate != (whole && has_duplicate(plain)))
		abort();
	if (!root && !memchr(err.msg, '\0', sizeof(err.msg)))
		abort();
	cJSON_Delete(plain);
	cJSON_Delete(root);
	fast_matches_long(text, size, 0);
	fast_matches_long(text, size, JSON_EXACT);
	fast_matches_long(text, size, JSON_EXACT | JSON_FOLD);
	span_is_the_model(text, size);
	return 0;
}
