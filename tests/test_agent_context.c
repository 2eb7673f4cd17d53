/* agent context: the budget (the smaller of agent.context_tokens and the group's
 * max_input_tokens), the 85% line, which tool results the free pass shortens and to what, the
 * middle that compression summarises (tool results never split from their call), what the
 * last resort leaves out (never the last user message), and when a compression call is
 * allowed (once per turn, not within ten minutes of a failure for the session).
 */
#include "test.h"
#include "agent/context.h"
#include "core/config.h"

#include <stdlib.h>
#include <string.h>

/* Messages from a role string ("uatau") with every message len bytes long. */
static void msgs_of(const char *roles, size_t len, struct context_msg *out)
{
	for (size_t i = 0; roles[i]; i++)
		out[i] = (struct context_msg){0, NULL, len, roles[i], false};
}

static void test_budget_is_the_smaller_of_config_and_model(void **state)
{
	struct config_model models[3];
	struct config cfg;

	(void)state;
	memset(models, 0, sizeof(models));
	memset(&cfg, 0, sizeof(cfg));
	models[0].model_name = "gpt";
	models[0].model_info.max_input_tokens = 8000;
	models[1].model_name = "gpt";
	models[1].model_info.max_input_tokens = 0; /* unknown: does not count */
	models[2].model_name = "big";
	models[2].model_info.max_input_tokens = 1000000;
	cfg.models = models;
	cfg.n_models = 3;
	cfg.agent.context_tokens = 32000;
	assert_int_equal(context_budget_tokens(&cfg, "gpt"), 8000);
	assert_int_equal(context_budget_tokens(&cfg, "big"), 32000);
	assert_int_equal(context_budget_tokens(&cfg, "other"), 32000);
}

static void test_over_budget_past_85_percent(void **state)
{
	struct context_msg m[2];

	(void)state;
	msgs_of("ua", 100, m);
	/* 44 system + 256 + 2 * (100 + 1) = 502 bytes */
	assert_int_equal(context_request_bytes(44, m, 2), 502);
	/* budget 1000 tokens: the line is 850 tokens = 3400 bytes */
	assert_false(context_over_budget(3400, 1000));
	assert_true(context_over_budget(3401, 1000));
	assert_false(context_over_budget(0, 0));
	assert_true(context_over_budget(1, 0));
}

static void test_free_pass_shortens_old_long_tool_results_only(void **state)
{
	struct context_msg m[8];
	static const struct {
		size_t i;
		bool want;
		const char *why;
	} cases[] = {
		{0, false, "a user message"},
		{1, true, "an old long tool result"},
		{2, false, "an old tool result shorter than 240 bytes"},
		{3, false, "an assistant message"},
		{4, false, "a tool result among the last 4 messages"},
	};

	(void)state;
	msgs_of("uttatatu", 240, m);
	m[2].len = 239;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		if (context_shortens(m, cases[k].i, 8) != cases[k].want)
			fail_msg("message %zu (%s): want %d", cases[k].i, cases[k].why,
				 cases[k].want);
	/* with 4 messages or fewer nothing is old */
	assert_false(context_shortens(m, 1, 4));
}

static void test_shortened_keeps_the_first_line_and_says_the_size(void **state)
{
	char long_line[301];
	char *s;

	(void)state;
	s = context_shortened("first line\nsecond line");
	assert_string_equal(s, "first line ... [shortened from 22 bytes]");
	free(s);
	memset(long_line, 'x', 300);
	long_line[300] = '\0';
	s = context_shortened(long_line);
	assert_int_equal(strspn(s, "x"), 120);
	assert_string_equal(s + 120, " ... [shortened from 300 bytes]");
	free(s);
	/* a 2-byte character across byte 120 is not split */
	memset(long_line, 'x', 119);
	memcpy(long_line + 119, "\xc3\xa9", 2);
	long_line[121] = '\0';
	s = context_shortened(long_line);
	assert_int_equal(strspn(s, "x"), 119);
	assert_string_equal(s + 119, " ... [shortened from 121 bytes]");
	free(s);
}

static void test_middle_keeps_first_message_and_recent_tail(void **state)
{
	struct context_msg m[10];
	size_t from, to;

	(void)state;
	/* budget 175 tokens: the tail keeps 20% of 700 bytes, 140 = the last 3 messages of 40 */
	msgs_of("uatuauauau", 40, m);
	assert_true(context_middle(m, 10, 175, &from, &to));
	assert_int_equal(from, 1);
	assert_int_equal(to, 7);
}

static void test_middle_never_splits_a_call_from_its_results(void **state)
{
	struct context_msg m[9];
	size_t from, to;

	(void)state;
	/* the first message is followed by tool results: the middle starts after them */
	msgs_of("sttuattau", 40, m);
	/* the 140-byte tail would start on the tool result at 6: it moves back past the
	 * results to their call at 4, which stays with them */
	assert_true(context_middle(m, 9, 175, &from, &to));
	assert_int_equal(from, 3);
	assert_int_equal(to, 4);
}

static void test_no_middle_in_a_short_history(void **state)
{
	struct context_msg m[2];
	size_t from, to;

	(void)state;
	msgs_of("ua", 40, m);
	assert_false(context_middle(m, 2, 1000000, &from, &to));
	assert_false(context_middle(m, 1, 1000000, &from, &to));
}

static void test_last_resort_drops_the_oldest_middle_group(void **state)
{
	struct context_msg m[8];
	size_t from, end;

	(void)state;
	/* tiny budget: the tail is the last message only, the middle is [1, 7) */
	msgs_of("uattauau", 40, m);
	assert_true(context_next_drop(m, 8, 1, &from, &end));
	assert_int_equal(from, 1);
	assert_int_equal(end, 4); /* the call with its two results */
}

static void test_last_resort_never_drops_the_last_user_message(void **state)
{
	struct context_msg m[4];
	size_t from, end;

	(void)state;
	/* no middle: drop from the start (the first message with its tool result), never
	 * the last user message */
	msgs_of("utu", 40, m);
	assert_true(context_next_drop(m, 3, 1, &from, &end));
	assert_int_equal(from, 0);
	assert_int_equal(end, 2);
	/* only the last user message and its answer: nothing may go */
	msgs_of("ua", 40, m);
	assert_false(context_next_drop(m, 2, 1, &from, &end));
	msgs_of("u", 40, m);
	assert_false(context_next_drop(m, 1, 1, &from, &end));
}

static void test_compression_once_per_turn_and_not_in_backoff(void **state)
{
	static const struct {
		bool tried, backoff, middle, want;
	} cases[] = {
		{false, false, true, true}, {true, false, true, false},
		{false, true, true, false}, {false, false, false, false},
		{true, true, false, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (context_compress_allowed(cases[i].tried, cases[i].backoff, cases[i].middle) !=
		    cases[i].want)
			fail_msg("case %zu: want %d", i, cases[i].want);
}

static void test_backoff_lasts_ten_minutes_per_session(void **state)
{
	struct context_backoff b;

	(void)state;
	memset(&b, 0, sizeof(b));
	assert_false(context_in_backoff(&b, 7, 1000));
	context_backoff_set(&b, 7, 1000);
	assert_true(context_in_backoff(&b, 7, 1000));
	assert_true(context_in_backoff(&b, 7, 1000 + 599999));
	assert_false(context_in_backoff(&b, 7, 1000 + 600000));
	assert_false(context_in_backoff(&b, 8, 1000));
}

static void test_backoff_forgets_the_oldest_of_16_sessions(void **state)
{
	struct context_backoff b;

	(void)state;
	memset(&b, 0, sizeof(b));
	for (int64_t s = 1; s <= 17; s++)
		context_backoff_set(&b, s, 1000);
	assert_false(context_in_backoff(&b, 1, 2000));
	assert_true(context_in_backoff(&b, 2, 2000));
	assert_true(context_in_backoff(&b, 17, 2000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_is_the_smaller_of_config_and_model),
		cmocka_unit_test(test_over_budget_past_85_percent),
		cmocka_unit_test(test_free_pass_shortens_old_long_tool_results_only),
		cmocka_unit_test(test_shortened_keeps_the_first_line_and_says_the_size),
		cmocka_unit_test(test_middle_keeps_first_message_and_recent_tail),
		cmocka_unit_test(test_middle_never_splits_a_call_from_its_results),
		cmocka_unit_test(test_no_middle_in_a_short_history),
		cmocka_unit_test(test_last_resort_drops_the_oldest_middle_group),
		cmocka_unit_test(test_last_resort_never_drops_the_last_user_message),
		cmocka_unit_test(test_compression_once_per_turn_and_not_in_backoff),
		cmocka_unit_test(test_backoff_lasts_ten_minutes_per_session),
		cmocka_unit_test(test_backoff_forgets_the_oldest_of_16_sessions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
