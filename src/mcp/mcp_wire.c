/* mcp_wire: the 2026-07-28 revision's per-request _meta, its HTTP request headers and their
 * value encoding, and the x-mcp-header check (mcp_wire.h). The headers let a gateway route a
 * request without parsing its body; a value that could be misread in a header line (not
 * visible ASCII, or spaces at its ends) goes as base64 in the form the revision names.
 * Schemas and messages are parsed with json_exact so a number argument is mirrored as the
 * caller wrote it.
 */
#include "mcp/mcp_wire.h"
#include "config_build.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADERS 64

void mcp_wire_add_meta(cJSON *params, const char *version, const char *caps_json)
{
	cJSON *meta = cJSON_GetObjectItemCaseSensitive(params, "_meta"), *info;

	if (!cJSON_IsObject(meta)) {
		cJSON_DeleteItemFromObjectCaseSensitive(params, "_meta");
		meta = cJSON_AddObjectToObject(params, "_meta");
	}
	if (!cJSON_HasObjectItem(meta, "io.modelcontextprotocol/protocolVersion"))
		cJSON_AddStringToObject(meta, "io.modelcontextprotocol/protocolVersion", version);
	if (!cJSON_HasObjectItem(meta, "io.modelcontextprotocol/clientInfo")) {
		info = cJSON_AddObjectToObject(meta, "io.modelcontextprotocol/clientInfo");
		cJSON_AddStringToObject(info, "name", "hermetic");
		cJSON_AddStringToObject(info, "version", HERMETIC_VERSION);
	}
	if (!cJSON_HasObjectItem(meta, "io.modelcontextprotocol/clientCapabilities"))
		cJSON_AddRawToObject(meta, "io.modelcontextprotocol/clientCapabilities",
				     caps_json ? caps_json : "{}");
}

static bool header_name_ok(const char *name)
{
	const unsigned char *p;

	if (!*name)
		return false;
	for (p = (const unsigned char *)name; *p; p++)
		if (*p < 0x21 || *p > 0x7e || *p == ':')
			return false;
	return true;
}

int mcp_wire_check_headers(const cJSON *schema, char *why, size_t why_len)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties"), *p, *q;

	cJSON_ArrayForEach(p, props)
	{
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(p, "x-mcp-header");
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");

		if (!h)
			continue;
		if (!cJSON_IsString(h) || !header_name_ok(h->valuestring)) {
			snprintf(why, why_len,
				 "property %s: x-mcp-header must be a non-empty header name of "
				 "visible ASCII without ':'",
				 p->string);
			return -EINVAL;
		}
		if (!cJSON_IsString(type) || (strcmp(type->valuestring, "string") != 0 &&
					      strcmp(type->valuestring, "integer") != 0 &&
					      strcmp(type->valuestring, "boolean") != 0)) {
			snprintf(why, why_len,
				 "property %s: x-mcp-header is only for string, integer and "
				 "boolean parameters",
				 p->string);
			return -EINVAL;
		}
		for (q = props->child; q != p; q = q->next) {
			const cJSON *h2 = cJSON_GetObjectItemCaseSensitive(q, "x-mcp-header");

			if (cJSON_IsString(h2) &&
			    strcasecmp(h2->valuestring, h->valuestring) == 0) {
				snprintf(why, why_len,
					 "properties %s and %s: the same x-mcp-header %s",
					 q->string, p->string, h->valuestring);
				return -EINVAL;
			}
		}
	}
	return 0;
}

char *mcp_wire_encode_value(const char *s, size_t len)
{
	bool plain = len == 0 || (s[0] != ' ' && s[len - 1] != ' ');
	struct buf b;
	size_t i;

	for (i = 0; plain && i < len; i++)
		plain = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] <= 0x7e;
	if (plain)
		return xstrndup(s, len);
	buf_init(&b, 0);
	buf_append(&b, "=?base64?", 9);
	buf_base64(&b, s, len);
	buf_append(&b, "?=", 2);
	return buf_steal(&b);
}

static void add(char **h, size_t *n, char *line)
{
	if (*n < MAX_HEADERS)
		h[(*n)++] = line;
	else
		free(line);
}

static void add_encoded(char **h, size_t *n, const char *name, const char *value)
{
	char *v = mcp_wire_encode_value(value, strlen(value));

	/* An empty value is a header all the same; httpc (curl) drops "Name:" but sends
	 * "Name;" as the empty header. */
	add(h, n, *v ? xasprintf("%s: %s", name, v) : xasprintf("%s;", name));
	free(v);
}

static void add_params(char **h, size_t *n, const cJSON *args, const char *schema_json)
{
	cJSON *schema = json_exact_parse(schema_json, strlen(schema_json)), *p;
	char why[160];

	/* A tool whose annotations do not pass was never listed; this is the second lock. */
	if (mcp_wire_check_headers(schema, why, sizeof(why)) < 0) {
		cJSON_Delete(schema);
		return;
	}
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(schema, "properties"))
	{
		const cJSON *hn = cJSON_GetObjectItemCaseSensitive(p, "x-mcp-header");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, p->string);
		char *name, *text;

		if (!cJSON_IsString(hn) || !v || cJSON_IsNull(v))
			continue;
		name = xasprintf("Mcp-Param-%s", hn->valuestring);
		if (cJSON_IsString(v)) {
			add_encoded(h, n, name, v->valuestring);
		} else if (cJSON_IsBool(v)) {
			add(h, n, xasprintf("%s: %s", name, cJSON_IsTrue(v) ? "true" : "false"));
		} else if (cJSON_IsNumber(v)) {
			text = json_exact_print(v);
			add(h, n, xasprintf("%s: %s", name, text));
			free(text);
		}
		free(name);
	}
	cJSON_Delete(schema);
}

char **mcp_wire_headers(const char *json, size_t len, const char *schema_json)
{
	cJSON *msg = json_exact_parse(json, len);
	const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params"), *name = NULL;
	char **h;
	size_t n = 0;

	if (!cJSON_IsString(method)) {
		cJSON_Delete(msg);
		return NULL;
	}
	h = xcalloc(MAX_HEADERS + 1, sizeof(*h));
	add_encoded(h, &n, "Mcp-Method", method->valuestring);
	if (strcmp(method->valuestring, "tools/call") == 0 ||
	    strcmp(method->valuestring, "prompts/get") == 0)
		name = cJSON_GetObjectItemCaseSensitive(params, "name");
	else if (strcmp(method->valuestring, "resources/read") == 0)
		name = cJSON_GetObjectItemCaseSensitive(params, "uri");
	if (cJSON_IsString(name))
		add_encoded(h, &n, "Mcp-Name", name->valuestring);
	if (schema_json && strcmp(method->valuestring, "tools/call") == 0)
		add_params(h, &n, cJSON_GetObjectItemCaseSensitive(params, "arguments"),
			   schema_json);
	cJSON_Delete(msg);
	return h;
}

void mcp_wire_free_headers(char **h)
{
	for (char **p = h; p && *p; p++)
		free(*p);
	free(h);
}
