/* json: the one entry point that turns JSON text into a cJSON tree.
 *
 * Every JSON text hermetic reads (a client's request, a provider's answer, an MCP message, a
 * webhook, a store row it wrote itself) goes through json_parse; `make lint` refuses a call of
 * cJSON_Parse* anywhere else. Beyond cJSON's grammar it holds the text to I-JSON (RFC 7493):
 * a member name repeated in one object, at any depth, is refused. cJSON keeps both members and
 * its lookups find the first, while Python, JavaScript and Go keep the last: a body the router
 * checked as {"model":"small"} would reach the provider as {"model":"gpt-4o"}. Names are
 * compared as decoded, byte for byte ("mod\u0065l" is "model"). The text must be one value:
 * only whitespace may follow it.
 */
#ifndef HERMETIC_JSON_H
#define HERMETIC_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Why a text was refused. Fields are plain: read them. */
struct json_error {
	/* The byte where cJSON stopped (not JSON), the end of the value (text after it), or 0
	 * (a duplicate: the tree has no positions; `msg` gives the path instead). */
	size_t offset;
	/* One line for a person, e.g. `duplicate member "model" at $.messages[0]` or
	 * `not valid JSON (at byte 12)`. */
	char msg[192];
	/* True when the text was JSON apart from a repeated member name. */
	int duplicate;
};

enum json_flags {
	/* Keep each number's source text (json_exact.h) so it prints as written. */
	JSON_EXACT = 1,
	/* Also refuse two names that are one under Go's encoding/json matching (ASCII letters
	 * in any case, U+017F as "s" and U+212A as "k") in the root object and the objects
	 * directly in it. A body the router forwards may reach a server in Go (Ollama,
	 * LocalAI), which sets its "model" field from "MODEL" too. */
	JSON_FOLD = 2,
};

/* Parses `len` bytes of `text` (a NULL text is refused like an empty one). Returns the tree
 * (free with cJSON_Delete) or NULL with *err filled in when err is not NULL. `flags`: an OR of
 * enum json_flags. */
cJSON *json_parse(const char *text, size_t len, unsigned flags, struct json_error *err);
/* As json_parse; [*at, *end) is the span of the root object's string member `name` in text,
 * quotes included, when the text is plain JSON that reads as written (json_fast.h,
 * json_fast_parse_span); else both are 0. */
cJSON *json_parse_span(const char *text, size_t len, unsigned flags, struct json_error *err,
		       const char *name, size_t *at, size_t *end);
/* As json_parse over a NUL-terminated text. */
cJSON *json_parse_str(const char *text, struct json_error *err);

/* out[i] = the first member of obj named names[i] (NULL names are skipped), or NULL, as
 * cJSON_GetObjectItemCaseSensitive finds it (which also stops at a member without a name), in
 * one walk of the members: each lookup walks them again with strcmp, and the router asks a
 * request for several names on every call. */
void json_members(const cJSON *obj, const char *const *names, size_t n, cJSON **out);

#endif
