/* mcp_render: turns an MCP tools/call result (or error) into the text the model reads.
 *
 * Text blocks are joined; structuredContent becomes compact JSON (numbers as sent) only when
 * there is no text block; images and audio become a one-line note with type and size;
 * resources become their text or a note; no base64 payload reaches the model from any part of
 * the result (image/audio data, resource blobs, long base64 strings: each becomes a note with
 * its type and size); errors start with "error: ". The result is capped at a UTF-8 boundary
 * with a note saying how much was cut.
 */
#ifndef HERMETIC_MCP_RENDER_H
#define HERMETIC_MCP_RENDER_H

#include <stdbool.h>
#include <stddef.h>

/* Tool descriptions longer than this reach the model cut (mcp list shows them as sent). */
#define MCP_RENDER_DESC_MAX 1024

/* result_json: the JSON-RPC "result" object of tools/call. Returns a malloc'd string and sets
 * *is_error (isError, or a result that is not a valid tools/call result). */
char *mcp_render_result(const char *result_json, size_t len, size_t cap, bool *is_error);
/* A JSON-RPC error object {code, message, data?} as a tool error. */
char *mcp_render_rpc_error(const char *error_json, size_t len, size_t cap);
/* Redacts registered secrets (log_redact), then caps text (malloc'd, taken) at cap bytes on a
 * UTF-8 boundary, appending the note. */
char *mcp_render_cap(char *text, size_t cap);
/* A tool description as the model gets it (malloc'd): unchanged up to max bytes; longer ones
 * are cut after the last whole sentence (or line, or word) that fits and end in " [...]",
 * the whole at most max bytes. */
char *mcp_render_description(const char *desc, size_t max);

#endif
