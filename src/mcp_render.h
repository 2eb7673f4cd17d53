/* mcp_render: turns an MCP tools/call result (or error) into the text the model reads.
 *
 * Text blocks are joined; structuredContent becomes compact JSON (text blocks that merely
 * repeat it are dropped); images and audio become a one-line note with type and size, never
 * base64; resources become their text or a note; errors start with "error: ". The result is
 * capped at a UTF-8 boundary with a note saying how much was cut.
 */
#ifndef HERMETIC_MCP_RENDER_H
#define HERMETIC_MCP_RENDER_H

#include <stdbool.h>
#include <stddef.h>

/* result_json: the JSON-RPC "result" object of tools/call. Returns a malloc'd string and sets
 * *is_error (isError, or a result that is not a valid tools/call result). */
char *mcp_render_result(const char *result_json, size_t len, size_t cap, bool *is_error);
/* A JSON-RPC error object {code, message, data?} as a tool error. */
char *mcp_render_rpc_error(const char *error_json, size_t len, size_t cap);
/* Redacts registered secrets (log_redact), then caps text (malloc'd, taken) at cap bytes on a
 * UTF-8 boundary, appending the note. */
char *mcp_render_cap(char *text, size_t cap);

#endif
