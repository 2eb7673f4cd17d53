/* redact: each detector over texts it must and must not take (checksums included), stable
 * placeholders within a map, the lane's regexes, restoration, and the map read back.
 */
#include "test.h"
#include "core/config.h"
#include "core/redact.h"
#include "router/redact_chat.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ALL                                                                                        \
	(CONFIG_REDACT_EMAIL | CONFIG_REDACT_PHONE | CONFIG_REDACT_IBAN | CONFIG_REDACT_CARD |     \
	 CONFIG_REDACT_IP)

struct redact_case {
	unsigned detectors;
	const char *in, *want;
};

static const struct redact_case cases[] = {
	/* e-mail */
	{ALL, "write to ada.l+x@example.co.uk today", "write to [EMAIL_1] today"},
	{ALL, "mail: bob@mail.example.org.", "mail: [EMAIL_1]."},
	{ALL, "not an address: a@b, @handle, x@localhost",
	 "not an address: a@b, @handle, x@localhost"},
	{CONFIG_REDACT_PHONE, "ada@example.com", "ada@example.com"},
	/* payment cards: Luhn */
	{ALL, "card 4111 1111 1111 1111 exp", "card [CARD_1] exp"},
	{ALL, "card 4111-1111-1111-1111.", "card [CARD_1]."},
	{ALL, "order 4111111111111112 is not a card", "order 4111111111111112 is not a card"},
	{ALL, "id 41111111111111110", "id 41111111111111110"},
	/* IBAN: mod 97 */
	{ALL, "IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN_1] please"},
	{ALL, "GB82WEST12345698765432", "[IBAN_1]"},
	{ALL, "DE88 3704 0044 0532 0130 00 is wrong", "DE88 3704 0044 0532 0130 00 is wrong"},
	{ALL, "DE89370400440532013000 OK", "[IBAN_1] OK"},
	/* IP addresses */
	{ALL, "host 192.168.1.20 and 10.0.0.1", "host [IP_1] and [IP_2]"},
	{ALL, "version 1.2.3.4.5 and 256.1.1.1 and 01.2.3.4",
	 "version 1.2.3.4.5 and 256.1.1.1 and 01.2.3.4"},
	{ALL, "v6 2001:db8::8a2e:370:7334 here", "v6 [IP_1] here"},
	{ALL, "at 12:30:45 and std::vector and fe80::1", "at 12:30:45 and std::vector and fe80::1"},
	{ALL, "peer fe::ab:cd up", "peer [IP_1] up"}, /* no digit in it */
	/* phones */
	{ALL, "call +49 30 1234 5678 now", "call [PHONE_1] now"},
	{ALL, "call (030) 1234-5678", "call [PHONE_1]"},
	{ALL, "call 030 12345678", "call [PHONE_1]"},
	{ALL, "room 1234, 3.14, +1 2, 2024-11-25", "room 1234, 3.14, +1 2, 2024-11-25"},
	/* nothing asked, nothing taken */
	{0, "ada@example.com 4111 1111 1111 1111", "ada@example.com 4111 1111 1111 1111"},
	/* the same value twice: one placeholder */
	{ALL, "a@ex.com b@ex.com a@ex.com", "[EMAIL_1] [EMAIL_2] [EMAIL_1]"},
	/* names and free text: not found (said so in the docs) */
	{ALL, "Ada Lovelace, born 10 December 1815 in London",
	 "Ada Lovelace, born 10 December 1815 in London"},
};

static void test_detectors_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct redact_map *m = redact_map_create();
		size_t n;
		char *out = redact_text(m, cases[i].detectors, NULL, 0, cases[i].in,
					strlen(cases[i].in), &n, NULL);
		char *back = redact_restore(m, out, n, NULL);

		if (strcmp(out, cases[i].want) != 0)
			fail_msg("\"%s\" -> \"%s\", want \"%s\"", cases[i].in, out, cases[i].want);
		if (strcmp(back, cases[i].in) != 0)
			fail_msg("\"%s\" restored as \"%s\"", cases[i].in, back);
		free(out);
		free(back);
		redact_map_destroy(m);
	}
}

/* The scan that skips detectors (and the whole text) never hides a match: true for every text
 * of the table a detector changes, false for text no detector can take, true with a regex. */
static void test_may_match_never_hides_a_match(void **state)
{
	struct redact_rules rules;
	char *const pat[] = {"secret-[a-z]+"};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct redact_rules r = {.detectors = cases[i].detectors};

		if (strcmp(cases[i].in, cases[i].want) != 0 &&
		    !redact_may_match(&r, cases[i].in, strlen(cases[i].in)))
			fail_msg("\"%s\": a match hidden", cases[i].in);
	}
	assert_int_equal(redact_rules_init(&rules, ALL, NULL, 0), 0);
	assert_false(redact_may_match(&rules, "Hello there", 11));
	assert_false(redact_may_match(&rules, "bench-fallback", 14));
	assert_true(redact_may_match(&rules, "ada@example.com", 15));
	assert_true(redact_may_match(&rules, "room 12", 7));
	assert_true(redact_may_match(&rules, "a::b", 4));
	redact_rules_finish(&rules);
	assert_int_equal(redact_rules_init(&rules, CONFIG_REDACT_EMAIL, NULL, 0), 0);
	assert_false(redact_may_match(&rules, "call +49 30 1234 5678", 21));
	redact_rules_finish(&rules);
	assert_int_equal(redact_rules_init(&rules, CONFIG_REDACT_PHONE, pat, 1), 0);
	assert_true(redact_may_match(&rules, "no digit here", 13));
	redact_rules_finish(&rules);
}

static void test_checksums(void **state)
{
	(void)state;
	assert_true(redact_luhn_ok("79927398713", 11));
	assert_false(redact_luhn_ok("79927398710", 11));
	assert_true(redact_iban_ok("GB82WEST12345698765432", 22));
	assert_false(redact_iban_ok("GB82WEST12345698765433", 22));
	assert_false(redact_iban_ok("GB82", 4));
}

static void test_placeholders_are_stable_across_calls_and_restore(void **state)
{
	struct redact_map *m = redact_map_create();
	const char *first = "ada@example.com", *second = "cc ada@example.com and +44 20 7946 0958";
	char *a = redact_text(m, ALL, NULL, 0, first, strlen(first), NULL, NULL);
	bool changed = false;
	char *b = redact_text(m, ALL, NULL, 0, second, strlen(second), NULL, &changed);
	const char *answer = "I wrote to [EMAIL_1]; call [PHONE_1]. [EMAIL_9] and [NOTE] stay.";
	char *restored = redact_restore(m, answer, strlen(answer), NULL);

	(void)state;
	assert_string_equal(a, "[EMAIL_1]");
	assert_string_equal(b, "cc [EMAIL_1] and [PHONE_1]");
	assert_true(changed);
	assert_string_equal(restored,
			    "I wrote to ada@example.com; call +44 20 7946 0958. [EMAIL_9] and "
			    "[NOTE] stay.");
	assert_int_equal(redact_map_count(m), 2);
	free(a);
	free(b);
	free(restored);
	redact_map_destroy(m);
}

static void test_lane_patterns(void **state)
{
	regex_t re[2];
	struct redact_map *m = redact_map_create();
	const char *in = "patient MRN-004211 and MRN-004211, case K-77; a@b.co";
	char *out;

	(void)state;
	assert_int_equal(regcomp(&re[0], "MRN-[0-9]{6}", REG_EXTENDED), 0);
	assert_int_equal(regcomp(&re[1], "K-[0-9]+", REG_EXTENDED), 0);
	out = redact_text(m, CONFIG_REDACT_EMAIL, re, 2, in, strlen(in), NULL, NULL);
	assert_string_equal(out,
			    "patient [PATTERN_1] and [PATTERN_1], case [PATTERN_2]; [EMAIL_1]");
	free(out);
	regfree(&re[0]);
	regfree(&re[1]);
	redact_map_destroy(m);
}

static void test_map_read_back_continues_numbering(void **state)
{
	struct redact_map *m = redact_map_create();
	const char *ph, *v;
	char *out;

	(void)state;
	assert_int_equal(redact_map_add(m, "[EMAIL_3]", "old@example.com"), 0);
	assert_int_equal(redact_map_add(m, "[EMAIL_03]", "x@example.com"), -EINVAL);
	assert_int_equal(redact_map_add(m, "[NAME_1]", "Ada"), -EINVAL);
	assert_int_equal(redact_map_add(m, "EMAIL_1", "x@example.com"), -EINVAL);
	out = redact_text(m, ALL, NULL, 0, "old@example.com new@example.com", 31, NULL, NULL);
	assert_string_equal(out, "[EMAIL_3] [EMAIL_4]");
	redact_map_entry(m, 1, &ph, &v);
	assert_string_equal(ph, "[EMAIL_4]");
	assert_string_equal(v, "new@example.com");
	free(out);
	redact_map_destroy(m);
}

static void test_a_nul_inside_is_kept(void **state)
{
	struct redact_map *m = redact_map_create();
	const char in[] = "a@ex.com\0b@ex.com";
	size_t n;
	char *out = redact_text(m, ALL, NULL, 0, in, sizeof(in) - 1, &n, NULL);

	(void)state;
	assert_int_equal(n, strlen("[EMAIL_1]") + 1 + strlen("b@ex.com"));
	assert_memory_equal(out, "[EMAIL_1]\0b@ex.com", n);
	free(out);
	redact_map_destroy(m);
}

/* A streamed answer's piece holds back what may be the start of a placeholder. */
static void test_hold_from_keeps_a_possible_placeholder_prefix(void **state)
{
	static const struct {
		const char *text;
		size_t want;
	} t[] = {
		{"", 0},
		{"plain text", 10},
		{"write to [", 9},
		{"write to [EM", 9},
		{"write to [EMAIL_", 9},
		{"write to [EMAIL_1", 9},
		{"write to [EMAIL_1]", 18}, /* complete: nothing held */
		{"a [b", 4},		    /* lower case: never a placeholder */
		{"x [EMAIL 1", 10},	    /* a space: no placeholder */
		{"[", 0},
		{"[[", 1},
		{"x [ABCDEFGHIJKLMNOPQRSTUVWXYZ", 29}, /* longer than any placeholder */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t got = redact_hold_from(t[i].text, strlen(t[i].text));

		if (got != t[i].want)
			fail_msg("'%s': held from %zu, want %zu", t[i].text, got, t[i].want);
	}
}

/* One request: redacted (1, or 0 when nothing was to redact, and the printed result in *out)
 * or refused (-1, param in param). */
static int chat_request(const char *json, char **out, char *param, size_t param_len,
			struct redact_map *m)
{
	struct redact_rules rules;
	cJSON *req = cJSON_Parse(json);
	int rc;

	assert_non_null(req);
	assert_int_equal(redact_rules_init(&rules, ALL, NULL, 0), 0);
	rc = redact_chat_request(m, &rules, req, param, param_len);
	*out = rc >= 0 ? cJSON_PrintUnformatted(req) : NULL;
	redact_rules_finish(&rules);
	cJSON_Delete(req);
	return rc;
}

/* Each member of the chat completions request that carries a client's text, with an address
 * in it: each comes out as a placeholder (and back through the map), identifiers unchanged. */
static void test_chat_request_redacts_every_text_member(void **state)
{
	static const struct {
		const char *member, *json, *want;
	} t[] = {
		{"content", "{\"messages\":[{\"role\":\"user\",\"content\":\"a@ex.com\"}]}",
		 "{\"messages\":[{\"role\":\"user\",\"content\":\"[EMAIL_1]\"}]}"},
		{"content parts",
		 "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a@"
		 "ex.com\"},"
		 "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/"
		 "png;base64,AAAA\"}}]}]}",
		 "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"["
		 "EMAIL_1]\"},"
		 "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/"
		 "png;base64,AAAA\"}}]}]}"},
		{"name",
		 "{\"messages\":[{\"role\":\"user\",\"name\":\"a@ex.com\",\"content\":\"hi\"}]}",
		 "{\"messages\":[{\"role\":\"user\",\"name\":\"[EMAIL_1]\",\"content\":\"hi\"}]}"},
		{"tool_calls arguments",
		 "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_1\","
		 "\"type\":"
		 "\"function\",\"function\":{\"name\":\"send\",\"arguments\":\"{\\\"to\\\":\\\"a@"
		 "ex."
		 "com\\\"}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"ok\"}"
		 "]}",
		 "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_1\","
		 "\"type\":"
		 "\"function\",\"function\":{\"name\":\"send\",\"arguments\":\"{\\\"to\\\":\\\"["
		 "EMAIL_"
		 "1]\\\"}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"ok\"}]"
		 "}"},
		{"function_call arguments",
		 "{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"function_call\":{"
		 "\"name\":"
		 "\"send\",\"arguments\":\"to a@ex.com\"}}]}",
		 "{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"function_call\":{"
		 "\"name\":"
		 "\"send\",\"arguments\":\"to [EMAIL_1]\"}}]}"},
		{"refusal",
		 "{\"messages\":[{\"role\":\"assistant\",\"refusal\":\"not a@ex.com\"}]}",
		 "{\"messages\":[{\"role\":\"assistant\",\"refusal\":\"not [EMAIL_1]\"}]}"},
		{"refusal part",
		 "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"refusal\","
		 "\"refusal\":\"a@ex.com\"}]}]}",
		 "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"refusal\","
		 "\"refusal\":\"[EMAIL_1]\"}]}]}"},
		{"reasoning_content",
		 "{\"messages\":[{\"role\":\"assistant\",\"reasoning_content\":\"a@ex.com\"}]}",
		 "{\"messages\":[{\"role\":\"assistant\",\"reasoning_content\":\"[EMAIL_1]\"}]}"},
		{"file name",
		 "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":{"
		 "\"filename\":\"to a@ex.com 1.pdf\",\"file_data\":\"JVBERi0=\"}}]}]}",
		 "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":{"
		 "\"filename\":\"to [EMAIL_1] 1.pdf\",\"file_data\":\"JVBERi0=\"}}]}]}"},
		{"prediction string",
		 "{\"messages\":[],\"prediction\":{\"type\":\"content\",\"content\":\"a@ex.com\"}}",
		 "{\"messages\":[],\"prediction\":{\"type\":\"content\",\"content\":\"[EMAIL_1]\"}"
		 "}"},
		{"prediction parts",
		 "{\"prediction\":{\"type\":\"content\",\"content\":[{\"type\":\"text\",\"text\":"
		 "\"a@ex.com\"}]}}",
		 "{\"prediction\":{\"type\":\"content\",\"content\":[{\"type\":\"text\",\"text\":"
		 "\"[EMAIL_1]\"}]}}"},
		{"user, stop, safety_identifier, prompt_cache_key",
		 "{\"user\":\"a@ex.com\",\"stop\":[\"b@ex.com\"],\"safety_identifier\":\"a@ex."
		 "com\","
		 "\"prompt_cache_key\":\"c@ex.com\",\"temperature\":0.2,\"stream\":true}",
		 "{\"user\":\"[EMAIL_1]\",\"stop\":[\"[EMAIL_2]\"],\"safety_identifier\":\"[EMAIL_"
		 "1]\","
		 "\"prompt_cache_key\":\"[EMAIL_3]\",\"temperature\":0.2,\"stream\":true}"},
		{"tools: description and schema strings",
		 "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"send\","
		 "\"description\":"
		 "\"mails a@ex.com\",\"parameters\":{\"type\":\"object\",\"properties\":{\"to\":{"
		 "\"type\":\"string\",\"enum\":[\"b@ex.com\"]}}}}}],\"tool_choice\":\"auto\"}",
		 "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"send\","
		 "\"description\":"
		 "\"mails [EMAIL_1]\",\"parameters\":{\"type\":\"object\",\"properties\":{\"to\":{"
		 "\"type\":\"string\",\"enum\":[\"[EMAIL_2]\"]}}}}}],\"tool_choice\":\"auto\"}"},
		{"legacy functions",
		 "{\"functions\":[{\"name\":\"send\",\"description\":\"a@ex.com\"}],"
		 "\"function_call\":{\"name\":\"send\"}}",
		 "{\"functions\":[{\"name\":\"send\",\"description\":\"[EMAIL_1]\"}],"
		 "\"function_call\":{\"name\":\"send\"}}"},
		{"response_format schema",
		 "{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\","
		 "\"schema\":{\"description\":\"for a@ex.com\"}}}}",
		 "{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\","
		 "\"schema\":{\"description\":\"for [EMAIL_1]\"}}}}"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct redact_map *m = redact_map_create();
		char param[128], *out = NULL, *back;
		int rc = chat_request(t[i].json, &out, param, sizeof(param), m);

		if (rc != 1)
			fail_msg("%s: %s %s", t[i].member,
				 rc < 0 ? "refused as" : "nothing redacted", rc < 0 ? param : "");
		if (strcmp(out, t[i].want) != 0)
			fail_msg("%s:\n got %s\nwant %s", t[i].member, out, t[i].want);
		back = redact_restore(m, out, strlen(out), NULL);
		if (!strstr(back, "a@ex.com"))
			fail_msg("%s: not restored: %s", t[i].member, back);
		free(back);
		cJSON_free(out);
		redact_map_destroy(m);
	}
}

/* A request with nothing to redact says so (0), so the router keeps the client's body instead
 * of printing the same tree again; its tree is as it was. */
static void test_chat_request_with_nothing_to_redact_reports_no_change(void **state)
{
	static const char json[] = "{\"model\":\"bench\",\"messages\":[{\"role\":\"user\","
				   "\"content\":\"Hello\"}],\"max_tokens\":16}";
	struct redact_map *m = redact_map_create();
	char param[128], *out = NULL;

	(void)state;
	assert_int_equal(chat_request(json, &out, param, sizeof(param), m), 0);
	assert_string_equal(out, json);
	assert_int_equal(redact_map_count(m), 0);
	cJSON_free(out);
	redact_map_destroy(m);
}

/* What the tables do not know, or cannot redact, is refused, naming the member. */
static void test_chat_request_refuses_what_it_cannot_redact(void **state)
{
	static const struct {
		const char *json, *param;
	} t[] = {
		{"{\"model\":\"m\",\"metadata\":{\"note\":\"a@ex.com\"}}", "metadata"},
		{"{\"model\":\"m\",\"extra_body\":{\"x\":1}}", "extra_body"},
		{"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\","
		 "\"thinking_blocks\":[]}]}",
		 "messages[1].thinking_blocks"},
		{"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"x\","
		 "\"annotation\":\"a@ex.com\"}]}]}",
		 "messages[0].content[0].annotation"},
		{"{\"messages\":[{\"role\":\"user\",\"content\":42}]}", "messages[0].content"},
		{"{\"messages\":[{\"role\":\"user\",\"name\":{\"n\":\"a@ex.com\"}}]}",
		 "messages[0].name"},
		{"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a@ex.com\"}]}]}",
		 "messages[0].tool_calls[0].id"},
		{"{\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"a@ex.com\"}]}",
		 "messages[0].tool_call_id"},
		{"{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{"
		 "\"properties\":{\"a@ex.com\":{}}}}}]}",
		 "tools[0].function.parameters.properties.a@ex.com"},
		{"{\"tools\":[{\"type\":\"custom\",\"custom\":{\"name\":\"f\"}}]}",
		 "tools[0].custom"},
		{"{\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"a@ex.com\"}}}",
		 "tool_choice.function.name"},
		{"{\"temperature\":\"a@ex.com\"}", "temperature"},
		{"{\"prediction\":{\"type\":\"content\",\"content\":{\"text\":\"a@ex.com\"}}}",
		 "prediction.content"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct redact_map *m = redact_map_create();
		char param[128] = "", *out = NULL;

		if (chat_request(t[i].json, &out, param, sizeof(param), m) >= 0)
			fail_msg("%s: passed as %s", t[i].json, out);
		if (strcmp(param, t[i].param) != 0)
			fail_msg("%s: param %s, want %s", t[i].json, param, t[i].param);
		redact_map_destroy(m);
	}
}

/* The agent's message walk (and the router's restoration of answers) covers the legacy
 * function_call's arguments and refusals too. */
static void test_message_walk_covers_function_call_and_refusal(void **state)
{
	struct redact_map *m = redact_map_create();
	struct redact_rules rules;
	cJSON *msg = cJSON_Parse("{\"role\":\"assistant\",\"refusal\":\"a@ex.com\","
				 "\"function_call\":{\"name\":\"f\",\"arguments\":\"b@ex.com\"}}");
	char *out;

	(void)state;
	assert_int_equal(redact_rules_init(&rules, ALL, NULL, 0), 0);
	assert_true(redact_json_message(m, &rules, msg));
	out = cJSON_PrintUnformatted(msg);
	assert_string_equal(out, "{\"role\":\"assistant\",\"refusal\":\"[EMAIL_1]\","
				 "\"function_call\":{\"name\":\"f\",\"arguments\":\"[EMAIL_2]\"}}");
	cJSON_free(out);
	assert_true(redact_json_message(m, NULL, msg));
	out = cJSON_PrintUnformatted(msg);
	assert_string_equal(out, "{\"role\":\"assistant\",\"refusal\":\"a@ex.com\","
				 "\"function_call\":{\"name\":\"f\",\"arguments\":\"b@ex.com\"}}");
	cJSON_free(out);
	redact_rules_finish(&rules);
	cJSON_Delete(msg);
	redact_map_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detectors_table),
		cmocka_unit_test(test_may_match_never_hides_a_match),
		cmocka_unit_test(test_checksums),
		cmocka_unit_test(test_placeholders_are_stable_across_calls_and_restore),
		cmocka_unit_test(test_lane_patterns),
		cmocka_unit_test(test_map_read_back_continues_numbering),
		cmocka_unit_test(test_a_nul_inside_is_kept),
		cmocka_unit_test(test_hold_from_keeps_a_possible_placeholder_prefix),
		cmocka_unit_test(test_chat_request_redacts_every_text_member),
		cmocka_unit_test(test_chat_request_with_nothing_to_redact_reports_no_change),
		cmocka_unit_test(test_chat_request_refuses_what_it_cannot_redact),
		cmocka_unit_test(test_message_walk_covers_function_call_and_refusal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
