/* mcp_render: one pass over result.content[], a buf capped well above the final cap (so a
 * huge result costs bounded memory), then the final UTF-8-safe cut with its note.
 *
 * structuredContent is read only when content[] has no text block: servers such as
 * server-filesystem send the same data twice (a text block and {"content": text}), and the
 * model reading both paid for it twice and lost half the real text to the cap. Base64 is found
 * by shape (image/audio blocks, resource blobs) anywhere in the result, including inside
 * structuredContent, and by look (a long run of the base64 alphabet) in any string, and always
 * becomes a note with its type and decoded size. Rejected: comparing text and structured
 * content for equality (the text is usually formatted differently, so both got through). */
#include "mcp/mcp_render.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define WORK_CAP (4 * 1024 * 1024)
/* A string this long made only of the base64 alphabet is taken for binary data. Shorter runs
 * (ids, hashes: a SHA-512 in hex is 128) stay text. */
#define B64_MIN_LEN 256

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

/* Encoded binary mixes upper case, lower case and digits; a long word, a run of one letter
 * or a hex digest does not. */
static bool looks_base64(const char *s)
{
	bool upper = false, lower = false, digit = false;
	size_t n;

	for (n = 0; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];

		if (!isalnum(c) && !strchr("+/=-_", c))
			return false;
		upper = upper || isupper(c);
		lower = lower || islower(c);
		digit = digit || isdigit(c);
	}
	return n >= B64_MIN_LEN && upper && lower && digit;
}

static void replace_string(cJSON *item, const char *note)
{
	if (cJSON_IsString(item))
		cJSON_SetValuestring(item, note);
}

/* Replaces every base64 payload in a tree by a note: {type: image|audio, data} and
 * {blob} objects by shape, other strings by look. */
static void scrub(cJSON *node)
{
	cJSON *kid, *data = cJSON_GetObjectItemCaseSensitive(node, "data");
	cJSON *blob = cJSON_GetObjectItemCaseSensitive(node, "blob");
	const char *type = str(node, "type"), *mime = str(node, "mimeType");
	char *note;

	if (cJSON_IsObject(node) && cJSON_IsString(data) &&
	    (mime || (type && (strcmp(type, "image") == 0 || strcmp(type, "audio") == 0)))) {
		note = xasprintf("[%s: %s, %zu bytes]", type ? type : "data", mime ? mime : "?",
				 b64_size(data->valuestring));
		replace_string(data, note);
		free(note);
	}
	if (cJSON_IsObject(node) && cJSON_IsString(blob)) {
		note = xasprintf("[blob: %s, %zu bytes]", mime ? mime : "application/octet-stream",
				 b64_size(blob->valuestring));
		replace_string(blob, note);
		free(note);
	}
	if (cJSON_IsString(node) && looks_base64(node->valuestring)) {
		note = xasprintf("[base64 data, %zu bytes]", b64_size(node->valuestring));
		replace_string(node, note);
		free(note);
	}
	cJSON_ArrayForEach(kid, node)
	{
		scrub(kid);
	}
}

/* A text that is a base64 blob becomes a note; any other text is appended as it is. */
static void put_text(struct buf *out, const char *text)
{
	if (looks_base64(text))
		buf_printf(out, "[base64 data, %zu bytes]", b64_size(text));
	else
		buf_puts(out, text);
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
		put_text(out, text);
	} else {
		buf_printf(out, "[resource %s: %s, %zu bytes]", uri ? uri : "?",
			   mime ? mime : "application/octet-stream", b64_size(blob));
	}
}

static void render_block(struct buf *out, const cJSON *b)
{
	const char *type = str(b, "type"), *text = str(b, "text");

	if (!type)
		return;
	if (strcmp(type, "text") == 0 && text) {
		if (!*text)
			return;
		sep(out);
		put_text(out, text);
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

#define DESC_MARKER " [...]"

char *mcp_render_description(const char *desc, size_t max)
{
	size_t len = strlen(desc), room, cut = 0, word = 0, i;

	if (len <= max)
		return xstrdup(desc);
	if (max < 2 * sizeof(DESC_MARKER)) {
		/* No room for text and marker: a plain cut. */
		for (cut = max; cut > 0 && ((unsigned char)desc[cut] & 0xC0) == 0x80; cut--)
			;
		return xstrndup(desc, cut);
	}
	room = max - (sizeof(DESC_MARKER) - 1);
	/* A cut at i keeps desc[0..i): after a sentence's punctuation, before a line break, or
	 * (fallback) before a space. Servers put the safety sentence last, so a cut that loses
	 * half of it would read as a different rule. */
	for (i = 1; i <= room; i++) {
		char c = desc[i - 1], n = desc[i];

		if (n == '\n' || ((c == '.' || c == '!' || c == '?') && (n == ' ' || n == '\t')))
			cut = i;
		if (n == ' ')
			word = i;
	}
	if (cut < room / 2)
		cut = word >= room / 2 ? word : room;
	while (cut > 0 && ((unsigned char)desc[cut] & 0xC0) == 0x80)
		cut--;
	while (cut > 0 && isspace((unsigned char)desc[cut - 1]))
		cut--;
	return xasprintf("%.*s%s", (int)cut, desc, DESC_MARKER);
}

char *mcp_render_result(const char *result_json, size_t len, size_t cap, bool *is_error)
{
	cJSON *root = json_exact_parse(result_json, len), *content, *b, *sc;
	char *structured = NULL, *text;
	bool has_text = false;
	struct buf out;

	*is_error = false;
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		*is_error = true;
		return xstrdup("error: the MCP server sent a result that is not a JSON object");
	}
	buf_init(&out, WORK_CAP);
	*is_error = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "isError"));
	content = cJSON_GetObjectItemCaseSensitive(root, "content");
	cJSON_ArrayForEach(b, content)
	{
		const char *type = str(b, "type"), *said = str(b, "text");

		/* An empty text block says nothing: structuredContent then still counts. */
		has_text = has_text || (type && strcmp(type, "text") == 0 && said && *said);
	}
	sc = cJSON_GetObjectItemCaseSensitive(root, "structuredContent");
	if (!has_text && sc && !cJSON_IsNull(sc)) {
		scrub(sc);
		structured = json_exact_print(sc);
		buf_puts(&out, structured);
	}
	cJSON_ArrayForEach(b, content)
	{
		render_block(&out, b);
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
	cJSON *root = json_parse(error_json, len, 0, NULL);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "code");
	const char *msg = str(root, "message");
	char *text = xasprintf(
		"error: MCP error %d: %s",
		cJSON_IsNumber(code) ? (int)clamp_i64(code->valuedouble, INT32_MIN, INT32_MAX) : 0,
		msg ? msg : "(no message)");

	cJSON_Delete(root);
	return mcp_render_cap(text, cap);
}
