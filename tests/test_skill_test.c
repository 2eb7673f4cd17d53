/* skill_test: a tests file gives its cases with every check (a string is a list of one), every
 * mistake is refused naming FILE:LINE:COL, the caps hold; the grade passes only when every
 * check does and says why each failed. */
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skills/skill_test.h"
#include "core/util.h"

static int parse(const char *text, struct skill_tests *t, struct buf *err)
{
	buf_init(err, 0);
	return skill_tests_parse(text, strlen(text), "tests/a.yaml", t, err);
}

static void every_key_is_read(void **state)
{
	const char *text = "- name: owners\n"
			   "  input: \"notes: Ann\"\n"
			   "  files: [notes.txt]\n"
			   "  contains: Ann\n"
			   "  not_contains: [due, Friday]\n"
			   "  regex: \"^- \"\n"
			   "  tool_called: [skill_view]\n"
			   "  tool_not_called: send_file\n"
			   "  max_cost_usd: 0.01\n"
			   "  max_input_tokens: 4000\n"
			   "  judge: {rubric: names Ann, model: cheap}\n"
			   "- name: second\n"
			   "  input: hi\n"
			   "  judge: plain rubric\n";
	struct skill_tests t;
	struct buf err;

	(void)state;
	assert_int_equal(parse(text, &t, &err), 0);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.v[0].name, "owners");
	assert_string_equal(t.v[0].input, "notes: Ann");
	assert_int_equal(t.v[0].files.n, 1);
	assert_int_equal(t.v[0].contains.n, 1);
	assert_string_equal(t.v[0].contains.v[0], "Ann");
	assert_int_equal(t.v[0].not_contains.n, 2);
	assert_string_equal(t.v[0].regex.v[0], "^- ");
	assert_string_equal(t.v[0].tool_not_called.v[0], "send_file");
	assert_true(t.v[0].max_cost_usd > 0.0099 && t.v[0].max_cost_usd < 0.0101);
	assert_int_equal(t.v[0].max_input_tokens, 4000);
	assert_string_equal(t.v[0].judge, "names Ann");
	assert_string_equal(t.v[0].judge_model, "cheap");
	assert_int_equal(t.v[0].line, 1);
	assert_true(t.v[1].max_cost_usd < 0); /* no bound */
	assert_int_equal(t.v[1].max_input_tokens, 0);
	assert_string_equal(t.v[1].judge, "plain rubric");
	assert_null(t.v[1].judge_model);
	assert_int_equal(t.v[1].line, 12);
	skill_tests_finish(&t);
	buf_finish(&err);
}

static void mistakes_name_file_line_and_column(void **state)
{
	static const struct {
		const char *text, *why;
	} cases[] = {
		{"name: a\n", "tests/a.yaml:1:1: a tests file is a YAML list"},
		{"- just text\n", "tests/a.yaml:1:3: a case must be a mapping"},
		{"- name: a\n  input: b\n  contians: x\n", "tests/a.yaml:3:3: contians: unknown"},
		{"- name: a\n", "tests/a.yaml:1:3: a case needs a name and an input"},
		{"- name: a\n  input: b\n  contains: {x: y}\n",
		 "tests/a.yaml:3:13: contains: must be a string or a list"},
		{"- name: a\n  input: b\n  contains: [[x]]\n",
		 "tests/a.yaml:3:14: contains: must be a "
		 "non-empty string"},
		{"- name: a\n  input: b\n  regex: \"(\"\n", "tests/a.yaml:3:10: regex: "},
		{"- name: a\n  input: b\n  max_cost_usd: lots\n",
		 "tests/a.yaml:3:17: max_cost_usd: must be a number"},
		{"- name: a\n  input: b\n  max_input_tokens: 0\n",
		 "max_input_tokens: must be at least 1"},
		{"- name: a\n  input: b\n  judge: {model: x}\n", "judge: needs a rubric"},
		{"- name: a\n  input: b\n  judge: {rubric: r, grade: x}\n",
		 "judge: unknown or repeated"},
		{"- name: a\n  input: b\n- name: a\n  input: c\n",
		 "tests/a.yaml:3:3: a: two cases"},
		{"- name: a\n  input: b\n  input: c\n",
		 "tests/a.yaml:3:3: input: unknown or repeated"},
		{"- [unclosed\n", "tests/a.yaml:2:1: YAML error"},
		/* regcomp's memory grows with stacked and counted repetitions: refused before */
		{"- name: a\n  input: b\n  regex: \"^(a|b++++++++)+$\"\n",
		 "tests/a.yaml:3:10: regex: a repetition right after another"},
		{"- name: a\n  input: b\n  regex: \"(x{99}){999}\"\n",
		 "tests/a.yaml:3:10: regex: counted repetitions over {100}"},
		/* and its time with repeated groups that can match nothing, and with many
		 * (empty) alternatives: minutes for a line, each shape under the other caps */
		{"- name: a\n  input: b\n  regex: \"^((a?|b?|c?|d?)(a?|b?|c?|d?)(a?|b?|c?|d?)"
		 "(a?|b?|c?|d?))+$\"\n",
		 "tests/a.yaml:3:10: regex: more than 12 repetitions"},
		{"- name: a\n  input: b\n  regex: \"^(a|||||||||||||||||||||||||||||||||b)+$\"\n",
		 "tests/a.yaml:3:10: regex: more than 32 alternatives"},
	};
	struct skill_tests t;
	struct buf err;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		assert_int_equal(parse(cases[i].text, &t, &err), -EINVAL);
		if (!strstr(buf_str(&err), cases[i].why))
			print_error("case %zu: expected '%s', got '%s'\n", i, cases[i].why,
				    buf_str(&err));
		assert_non_null(strstr(buf_str(&err), cases[i].why));
		assert_int_equal(t.n, 0);
		buf_finish(&err);
	}
}

static void caps_hold(void **state)
{
	struct skill_tests t;
	struct buf err, text;

	(void)state;
	buf_init(&text, 0);
	buf_puts(&text, "- name: a\n  input: b\n  contains: [");
	for (int i = 0; i < 17; i++)
		buf_printf(&text, "%sx%d", i ? ", " : "", i);
	buf_puts(&text, "]\n");
	assert_int_equal(parse(buf_str(&text), &t, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "has more than 16 items"));
	buf_finish(&err);
	buf_reset(&text);
	for (int i = 0; i < 51; i++)
		buf_printf(&text, "- {name: c%d, input: x}\n", i);
	assert_int_equal(parse(buf_str(&text), &t, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "more than 50 cases"));
	buf_finish(&err);
	buf_finish(&text);
}

static void the_grade_names_each_failed_check(void **state)
{
	const char *text = "- name: a\n  input: b\n  contains: [Ann]\n  not_contains: [due]\n"
			   "  regex: \"^- \"\n  tool_called: [skill_view]\n"
			   "  tool_not_called: [send_file]\n  max_cost_usd: 0.01\n"
			   "  max_input_tokens: 100\n  judge: r\n";
	const char *good_tools[] = {"skill_view", "memory"};
	const char *bad_tools[] = {"send_file"};
	struct skill_test_run good = {"- Ann: report", good_tools, 2, 0.005, 90, 1};
	struct skill_test_run bad = {"Bob, due Friday", bad_tools, 1, 0.02, 200, 0};
	struct skill_tests t;
	struct buf err, why;

	(void)state;
	assert_int_equal(parse(text, &t, &err), 0);
	buf_init(&why, 0);
	assert_true(skill_test_grade(&t.v[0], &good, &why));
	assert_string_equal(buf_str(&why), "");
	assert_false(skill_test_grade(&t.v[0], &bad, &why));
	assert_string_equal(buf_str(&why), "  - the answer does not contain \"Ann\"\n"
					   "  - the answer contains \"due\"\n"
					   "  - the answer does not match /^- /\n"
					   "  - skill_view was not called\n"
					   "  - send_file was called\n"
					   "  - cost $0.020000, over max_cost_usd $0.010000\n"
					   "  - 200 input tokens, over max_input_tokens 100\n"
					   "  - the judge graded it fail\n");
	buf_reset(&why);
	good.judged = -1; /* a judge that gave no grade fails the case */
	assert_false(skill_test_grade(&t.v[0], &good, &why));
	assert_string_equal(buf_str(&why), "  - the judge gave no grade\n");
	buf_finish(&why);
	skill_tests_finish(&t);
	buf_finish(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_key_is_read),
		cmocka_unit_test(mistakes_name_file_line_and_column),
		cmocka_unit_test(caps_hold),
		cmocka_unit_test(the_grade_names_each_failed_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
