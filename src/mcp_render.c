/* mcp_render: one pass over result.content[], a buf capped well above the final cap (so a
 * huge result costs bounded memory), then the final UTF-8-safe cut with its note. */
#include "mcp_render.h"
#include "log.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define WORK_CAP (4 * 1024 * 1024)

static const char *str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Decoded size of base64 text (padding aware). */
static size_t b64_size(const char *s)
{
	size_t n = s ? strlen(s) : 0, pad = 0;

	if (n >= 1 && s[n - 1] == '=')
		pad++;
	if (n >= 2 && s[n - 2] == '=')
		pad++;
	return n / 4 * 3 - (n % 4 == 0 ? pad : 0);
}

static void sep(struct buf *out)
{
	if (out->len)
		buf_puts(out, "\n");
}

static void render_resource(struct buf *out, const cJSON *res)
{
	const char *uri = str(res, "uri"), *text = str(res, "text"), *blob = str(res, "blob");
	const char *mime = str(res, "mimeType");

	if (text) {
		buf_printf(out, "[resource %s]\n", uri ? uri : "?");
		buf_puts(out, text);
	} else {
		buf_printf(out, "[resource %s: %s, %zu bytes]", uri ? uri : "?",
			   mime ? mime : "application/octet-stream", b64_size(blob));
	}
}

static void render_block(struct buf *out, const cJSON *b, const char *structured)
{
	const char *type = str(b, "type"), *text = str(b, "text");

	if (!type)
		return;
	if (strcmp(type, "text") == 0 && text) {
		if (structured) {
			cJSON *parsed = cJSON_Parse(text);
			char *compact = parsed ? cJSON_PrintUnformatted(parsed) : NULL;
			bool same = compact && strcmp(compact, structured) == 0;

			free(compact);
			cJSON_Delete(parsed);
			if (same)
				return;
		}
		sep(out);
		buf_puts(out, text);
	} else if (strcmp(type, "image") == 0 || strcmp(type, "audio") == 0) {
		const char *mime = str(b, "mimeType");

		sep(out);
		buf_printf(out, "[%s: %s, %zu bytes]", type, mime ? mime : "?",
			   b64_size(str(b, "data")));
	} else if (strcmp(type, "resource") == 0) {
		sep(out);
		render_resource(out, cJSON_GetObjectItemCaseSensitive(b, "resource"));
	} else if (strcmp(type, "resource_link") == 0) {
		const char *uri = str(b, "uri");

		sep(out);
		buf_printf(out, "[resource link: %s]", uri ? uri : "?");
	} else {
		sep(out);
		buf_printf(out, "[%s content]", type);
	}
}

char *mcp_render_cap(char *text, size_t cap)
{
	size_t len, cut;
	char *out;

	/* Redact before cutting: a secret cut in half at the cap is not recognised later. */
	out = log_redact(text);
	free(text);
	text = out;
	len = strlen(text);
	if (len <= cap)
		return text;
	cut = cap;
	/* Step back over UTF-8 continuation bytes so no character is split. */
	while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
		cut--;
	out = xasprintf("%.*s\n[truncated: showed %zu of %zu bytes]", (int)cut, text, cut, len);
	free(text);
	return out;
}

char *mcp_render_result(const char *result_json, size_t len, size_t cap, bool *is_error)
{
	cJSON *root = cJSON_ParseWithLength(result_json, len), *content, *b, *sc;
	char *structured = NULL, *text;
	struct buf out;

	*is_error = false;
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		*is_error = true;
		return xstrdup("error: the MCP server sent a result that is not a JSON object");
	}
	buf_init(&out, WORK_CAP);
	*is_error = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "isError"));
	sc = cJSON_GetObjectItemCaseSensitive(root, "structuredContent");
	if (sc && !cJSON_IsNull(sc))
		structured = cJSON_PrintUnformatted(sc);
	if (structured)
		buf_puts(&out, structured);
	content = cJSON_GetObjectItemCaseSensitive(root, "content");
	cJSON_ArrayForEach(b, content)
	{
		render_block(&out, b, structured);
	}
	if (!out.len)
		buf_puts(&out, *is_error ? "the tool failed without a message" : "(no output)");
	text = *is_error ? xasprintf("error: %s", buf_str(&out)) : buf_steal(&out);
	buf_finish(&out);
	free(structured);
	cJSON_Delete(root);
	return mcp_render_cap(text, cap);
}

char *mcp_render_rpc_error(const char *error_json, size_t len, size_t cap)
{
	cJSON *root = cJSON_ParseWithLength(error_json, len);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "code");
	const char *msg = str(root, "message");
	char *text = xasprintf("error: MCP error %d: %s",
			       cJSON_IsNumber(code) ? (int)code->valuedouble : 0,
			       msg ? msg : "(no message)");

	cJSON_Delete(root);
	return mcp_render_cap(text, cap);
}
