/* redact_chat: an OpenAI chat completions request de-identified member by member, as a pure
 * function over its parsed tree (docs/security.md, "Lanes"; tests: tests/test_redact.c).
 *
 * Every member the router knows is in a table saying what it carries: nothing free (a number,
 * a mode), an identifier that must pass unchanged (a tool call's id, a function's name), text
 * (redacted), an object whose every string is text (a JSON schema), or a nested object of its
 * own table (a message, a content part, a tool call). A member in no table is refused: in a
 * redacting lane the router sends nothing it cannot read.
 */
#ifndef HERMETIC_REDACT_CHAT_H
#define HERMETIC_REDACT_CHAT_H

#include "core/redact.h"

#include <stddef.h>

/* Redacts, in place and through m, every text of req (a chat completions request object) by
 * rules. Returns 1 when a text was redacted, 0 when req is as it was, or -1 when req holds a
 * member no table knows, a member of a shape its table does not take (a number where text
 * goes), or an identifier or object key a detector matches: then param (param_len bytes,
 * NUL-terminated) names it as OpenAI's 400 does ("messages[1].thinking_blocks") and req is
 * partly redacted: send nothing. */
int redact_chat_request(struct redact_map *m, const struct redact_rules *rules, cJSON *req,
			char *param, size_t param_len);

#endif
