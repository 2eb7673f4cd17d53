/* mcp_wire: the 2026-07-28 revision's wire, the pure part: the _meta every request carries,
 * the HTTP headers a POST carries (Mcp-Method, Mcp-Name, Mcp-Param-* from a tool's
 * x-mcp-header parameters, SEP-2243) with their value encoding, and the check of a tool's
 * x-mcp-header annotations. Plain values in, plain values out (tests/test_mcp_wire.c).
 */
#ifndef HERMETIC_MCP_WIRE_H
#define HERMETIC_MCP_WIRE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define MCP_WIRE_2026 "2026-07-28"

/* Adds to params (an object) the _meta keys of the revision: protocolVersion, clientInfo and
 * clientCapabilities (caps_json, a JSON object). Keys the caller already set in _meta stay. */
void mcp_wire_add_meta(cJSON *params, const char *version, const char *caps_json);

/* Checks the x-mcp-header annotations of a tool's inputSchema (top-level properties): each
 * non-empty, visible ASCII without ':', on a string, integer or boolean property, unique
 * regardless of case. Returns 0, or -EINVAL with why (which property, what is wrong). */
int mcp_wire_check_headers(const cJSON *schema, char *why, size_t why_len);

/* A header value as the revision encodes it: as is when it is visible ASCII (spaces inside
 * allowed) with no space at either end, else "=?base64?<UTF-8 in base64>?=". Returns
 * malloc'd. */
char *mcp_wire_encode_value(const char *s, size_t len);

/* The header lines ("Name: value", or "Name;" for an empty value, as httpc takes them) a POST of
 * the JSON-RPC message json carries on the revision's wire: Mcp-Method for a request or
 * notification; Mcp-Name for tools/call, prompts/get (params.name) and resources/read (params.uri);
 * for tools/call, Mcp-Param-<Name> for each argument whose property in schema_json (the tool's
 * inputSchema, or NULL) has an x-mcp-header, omitted when the argument is absent or null. Returns a
 * NULL-terminated malloc'd array of malloc'd lines (free with mcp_wire_free_headers), or NULL for
 * none. */
char **mcp_wire_headers(const char *json, size_t len, const char *schema_json);
void mcp_wire_free_headers(char **h);

#endif
