/* mcp_render: what the model reads for each kind of MCP tool result. */
#include "test.h"
#include "mcp/mcp_render.h"
#include "core/log.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

static char *render(const char *json, size_t cap, bool *is_error)
{
	return mcp_render_result(json, strlen(json), cap, is_error);
}

static void text_blocks_are_joined(void **state)
{
	bool err;
	char *s = render("{\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
			 "{\"type\":\"text\",\"text\":\"b\"}]}",
			 1000, &err);

	assert_string_equal(s, "a\nb");
	assert_false(err);
	free(s);
}

static void text_blocks_win_over_structured_content(void **state)
{
	bool err;
	/* server-filesystem's read_text_file: the file as text, and again as {"content": text}. */
	char *s = render("{\"content\":[{\"type\":\"text\",\"text\":\"line 1\\nline 2\"}],"
			 "\"structuredContent\":{\"content\":\"line 1\\nline 2\"}}",
			 1000, &err);

	assert_string_equal(s, "line 1\nline 2");
	free(s);
}

static void structured_content_is_compact_json_when_there_is_no_text(void **state)
{
	bool err;
	char *s = render("{\"content\":[],\"structuredContent\":{ \"t\": 21, "
			 "\"id\": 1234567890123456789 }}",
			 1000, &err);

	assert_string_equal(s, "{\"t\":21,\"id\":1234567890123456789}");
	free(s);
	/* An empty text block does not hide structuredContent. */
	s = render("{\"content\":[{\"type\":\"text\",\"text\":\"\"}],"
		   "\"structuredContent\":{\"t\":21}}",
		   1000, &err);
	assert_string_equal(s, "{\"t\":21}");
	free(s);
}

static char *b64(size_t n)
{
	char *s = malloc(n + 1);

	for (size_t i = 0; i < n; i++)
		s[i] = "AB+/b9"[i % 6];
	s[n] = '\0';
	return s;
}

static void base64_in_structured_content_becomes_a_note(void **state)
{
	bool err;
	char *data = b64(4096), *json, *s;

	/* server-filesystem's read_media_file: the image block again in structuredContent. */
	json = xasprintf("{\"content\":[{\"type\":\"image\",\"data\":\"%s\",\"mimeType\":"
			 "\"image/png\"}],\"structuredContent\":{\"content\":[{\"type\":\"image\","
			 "\"data\":\"%s\",\"mimeType\":\"image/png\"},{\"type\":\"resource\","
			 "\"resource\":{\"uri\":\"file:///x.bin\",\"blob\":\"AAAA\"}}],"
			 "\"thumb\":\"%s\"}}",
			 data, data, data);
	s = render(json, 100000, &err);
	assert_null(strstr(s, "AB+/b9"));
	assert_null(strstr(s, "AAAA"));
	assert_string_equal(s, "{\"content\":[{\"type\":\"image\",\"data\":\"[image: image/png, "
			       "3072 bytes]\",\"mimeType\":\"image/png\"},{\"type\":\"resource\","
			       "\"resource\":{\"uri\":\"file:///x.bin\",\"blob\":\"[blob: "
			       "application/octet-stream, 3 bytes]\"}}],\"thumb\":\"[base64 data, "
			       "3072 bytes]\"}\n[image: image/png, 3072 bytes]");
	free(s);
	free(json);
	free(data);
}

static void base64_text_becomes_a_note(void **state)
{
	bool err;
	char *data = b64(400),
	     *json = xasprintf("{\"content\":[{\"type\":\"text\",\"text\":"
			       "\"%s\"},{\"type\":\"text\",\"text\":\"%.200s\"}]}",
			       data, data);
	char *s = render(json, 100000, &err);

	/* A short run is text (ids, hashes); a long one is data. */
	assert_true(strncmp(s, "[base64 data, 300 bytes]\nAB+/b9", 31) == 0);
	free(s);
	free(json);
	free(data);
	/* Neither is a run of one letter or a hex digest. */
	json = xasprintf(
		"{\"content\":[{\"type\":\"text\",\"text\":\"%0400d\"},"
		"{\"type\":\"text\",\"text\":\"%s\"}]}",
		0,
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	s = render(json, 100000, &err);
	assert_null(strstr(s, "base64"));
	free(s);
	free(json);
}

static void image_and_audio_become_size_notes(void **state)
{
	bool err;
	char *s = render("{\"content\":[{\"type\":\"image\",\"mimeType\":\"image/png\","
			 "\"data\":\"AAAAAA==\"},{\"type\":\"audio\",\"mimeType\":\"audio/wav\","
			 "\"data\":\"AAAA\"}]}",
			 1000, &err);

	assert_string_equal(s, "[image: image/png, 4 bytes]\n[audio: audio/wav, 3 bytes]");
	free(s);
}

static void resources_show_text_or_a_note(void **state)
{
	bool err;
	char *s = render("{\"content\":[{\"type\":\"resource\",\"resource\":{\"uri\":\"f://a\","
			 "\"text\":\"hello\"}},{\"type\":\"resource\",\"resource\":{\"uri\":"
			 "\"f://b\",\"mimeType\":\"application/gzip\",\"blob\":\"AAAA\"}},"
			 "{\"type\":\"resource_link\",\"uri\":\"f://c\",\"name\":\"c\"}]}",
			 1000, &err);

	assert_string_equal(s, "[resource f://a]\nhello\n[resource f://b: application/gzip, 3 "
			       "bytes]\n[resource link: f://c]");
	free(s);
}

static void is_error_results_start_with_error(void **state)
{
	bool err;
	char *s = render("{\"isError\":true,\"content\":[{\"type\":\"text\",\"text\":\"no "
			 "cluster\"}]}",
			 1000, &err);

	assert_true(err);
	assert_string_equal(s, "error: no cluster");
	free(s);
}

static void rpc_errors_name_code_and_message(void **state)
{
	const char *e = "{\"code\":-32602,\"message\":\"Unknown tool: nope\"}";
	char *s = mcp_render_rpc_error(e, strlen(e), 1000);

	assert_string_equal(s, "error: MCP error -32602: Unknown tool: nope");
	free(s);
}

static void cap_cuts_on_a_utf8_boundary_with_a_note(void **state)
{
	bool err;
	/* "é" is two bytes: a cut at 5 would split the third one. */
	char *s = render("{\"content\":[{\"type\":\"text\",\"text\":\"\xc3\xa9\xc3\xa9\xc3\xa9"
			 "\xc3\xa9\"}]}",
			 5, &err);

	assert_string_equal(s, "\xc3\xa9\xc3\xa9\n[truncated: showed 4 of 8 bytes]");
	free(s);
}

static void secrets_are_redacted_before_the_cap_cuts(void **state)
{
	bool err;
	char *s;

	log_add_secret("sk-render-SECRET-0123");
	/* The cap falls inside the secret: cut first, its head would survive unrecognised. */
	s = render("{\"content\":[{\"type\":\"text\",\"text\":\"key=sk-render-SECRET-0123 "
		   "and more\"}]}",
		   12, &err);
	assert_null(strstr(s, "sk-render"));
	assert_true(strncmp(s, "key=[REDACTE", 12) == 0);
	free(s);
	log_forget_secrets();
}

static void non_object_result_is_an_error(void **state)
{
	bool err;
	char *s = render("[1,2]", 1000, &err);

	assert_true(err);
	assert_non_null(strstr(s, "not a JSON object"));
	free(s);
}

static void empty_result_says_so(void **state)
{
	bool err;
	char *s = render("{\"content\":[]}", 1000, &err);

	assert_string_equal(s, "(no output)");
	free(s);
}

static void short_descriptions_pass_unchanged(void **state)
{
	char *s = mcp_render_description("Read a file. Only works within allowed directories.", 51);

	assert_string_equal(s, "Read a file. Only works within allowed directories.");
	free(s);
}

static void long_descriptions_are_cut_after_a_whole_sentence_with_a_marker(void **state)
{
	const char *d = "Read a file. Use head for the first lines. Only works within allowed "
			"directories.";
	char *s = mcp_render_description(d, 60);

	assert_string_equal(s, "Read a file. Use head for the first lines. [...]");
	assert_true(strlen(s) <= 60);
	free(s);
}

static void a_description_without_sentences_is_cut_between_words(void **state)
{
	const char *d = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu";
	char *s = mcp_render_description(d, 40);

	assert_string_equal(s, "alpha beta gamma delta epsilon [...]");
	free(s);
	/* One long word: cut on a UTF-8 boundary. */
	s = mcp_render_description("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
				   "\xc3\xa9\xc3\xa9\xc3\xa9",
				   15);
	assert_string_equal(s, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 [...]");
	free(s);
	/* A cap too small for the marker: a plain cut, still within the cap. */
	s = mcp_render_description("abcdefghij", 5);
	assert_string_equal(s, "abcde");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_blocks_are_joined),
		cmocka_unit_test(text_blocks_win_over_structured_content),
		cmocka_unit_test(structured_content_is_compact_json_when_there_is_no_text),
		cmocka_unit_test(base64_in_structured_content_becomes_a_note),
		cmocka_unit_test(base64_text_becomes_a_note),
		cmocka_unit_test(image_and_audio_become_size_notes),
		cmocka_unit_test(resources_show_text_or_a_note),
		cmocka_unit_test(is_error_results_start_with_error),
		cmocka_unit_test(rpc_errors_name_code_and_message),
		cmocka_unit_test(cap_cuts_on_a_utf8_boundary_with_a_note),
		cmocka_unit_test(secrets_are_redacted_before_the_cap_cuts),
		cmocka_unit_test(non_object_result_is_an_error),
		cmocka_unit_test(empty_result_says_so),
		cmocka_unit_test(short_descriptions_pass_unchanged),
		cmocka_unit_test(long_descriptions_are_cut_after_a_whole_sentence_with_a_marker),
		cmocka_unit_test(a_description_without_sentences_is_cut_between_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
