/* json_fast: json_parse's first pass (core/json.c). One walk over a text of plain RFC 8259
 * JSON builds the tree cJSON would build, node for node, with the checks json_parse adds
 * (a repeated member name, JSON_FOLD's folded one, JSON_EXACT's number texts); any text it
 * does not take on is left to cJSON and the checks after it, which then accept it or say why
 * not. See json_fast.c for what "plain" means and why.
 */
#ifndef HERMETIC_JSON_FAST_H
#define HERMETIC_JSON_FAST_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct json_error;

/* The tree of `len` bytes of `text` as json_parse(text, len, flags) returns it, or NULL
 * when the text is outside the pass (invalid, a repeated name, or only unusual: the caller
 * parses it again the long way). Nodes come from cJSON's allocator hooks, as cJSON's own. */
cJSON *json_fast_parse(const char *text, size_t len, unsigned flags);
/* As json_fast_parse; when it takes the text and its root object has a member `name` (its
 * name as unescaped) whose value is a string, [*at, *end) is that value in text, quotes
 * included; else both are 0. A text this pass takes is one cJSON reads as written (RFC 8259,
 * no "\u0000": json_fast.c), so a caller may replace that span and send the rest as it is. */
cJSON *json_fast_parse_span(const char *text, size_t len, unsigned flags, const char *name,
			    size_t *at, size_t *end);

/* json_parse the long way alone (cJSON, then its checks): what json_fast_parse gives up to,
 * and what tests hold it to. Defined in json.c. */
cJSON *json_parse_cjson(const char *text, size_t len, unsigned flags, struct json_error *err);

#endif
