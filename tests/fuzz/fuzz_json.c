/* Fuzz target of json_parse, the one JSON parser: it accepts exactly the texts cJSON accepts
 * as one value whose objects repeat no member name, and says "duplicate" exactly when cJSON
 * reads the text and some object repeats a name (checked here by plain pairwise compares,
 * against the table json.c uses for large objects). Seeds: tests/fuzz/corpus/json/. */
#include "core/json.h"

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
	return 0;
}
