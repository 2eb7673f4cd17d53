/* skill_md: the front matter of SKILL.md gives name and description, and labels when they
 * are a map of strings (a runbook's; any other shape is ignored, the skill stays valid);
 * other keys (nested too) are skipped; every way to get it wrong is refused with a one-line reason;
 * the name rule. */
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skills/skill_md.h"
#include "core/util.h"

/* Parses text; returns rc, the error in *err (malloc'd, "" when none). */
static int parse(const char *text, struct skill_md *md, char **err)
{
	struct buf b;
	int rc;

	buf_init(&b, 0);
	rc = skill_md_parse(text, strlen(text), md, &b);
	*err = buf_steal(&b);
	return rc;
}

static void refused(const char *text, const char *why)
{
	struct skill_md md;
	char *err;

	assert_int_equal(parse(text, &md, &err), -EINVAL);
	if (!strstr(err, why))
		print_error("expected '%s', got '%s'\n", why, err);
	assert_non_null(strstr(err, why));
	assert_null(md.name);
	assert_null(md.description);
	free(err);
}

static void name_and_description_are_read_and_other_keys_skipped(void **state)
{
	const char *text =
		"---\n"
		"license: MIT\n"
		"metadata:\n  hermes:\n    tags: [k8s, deploy]\n    nested: {a: [1, 2]}\n"
		"name: deploy-k8s\n"
		"description: >\n  Roll out a deployment\n  and watch it.\n"
		"allowed-tools: [read_file]\n"
		"---\n"
		"# Deploy\nbody\n";
	struct skill_md md;
	char *err;

	(void)state;
	assert_int_equal(parse(text, &md, &err), 0);
	assert_string_equal(err, "");
	assert_string_equal(md.name, "deploy-k8s");
	assert_string_equal(md.description, "Roll out a deployment and watch it.\n");
	assert_string_equal(text + md.body, "# Deploy\nbody\n");
	skill_md_finish(&md);
	free(err);
}

static void labels_are_a_map_of_strings_or_nothing(void **state)
{
	const char *map = "---\nname: crash\ndescription: x\nlabels:\n  alertname: "
			  "KubePodCrashLooping\n  namespace: \"prod\"\n---\nlabels:\n  pod: body\n";
	const char *flow = "---\nname: a\ndescription: x\nlabels: {job: node, env: 'dev'}\n---\n";
	const char *bad[] = {
		"---\nname: a\ndescription: x\nlabels: [a, b]\n---\n",
		"---\nname: a\ndescription: x\nlabels: plain\n---\n",
		"---\nname: a\ndescription: x\nlabels:\n  job: [x]\n  env: dev\n---\n",
		"---\nname: a\ndescription: x\nlabels:\n  ? [k]\n  : v\n---\n",
		"---\nname: a\ndescription: x\nlabels: {}\n---\n",
	};
	struct skill_md md;
	char *err;

	(void)state;
	assert_int_equal(parse(map, &md, &err), 0);
	assert_int_equal(md.n_labels, 2); /* the body's "labels:" is not front matter */
	assert_string_equal(md.labels[0].name, "alertname");
	assert_string_equal(md.labels[0].value, "KubePodCrashLooping");
	assert_string_equal(md.labels[1].name, "namespace");
	assert_string_equal(md.labels[1].value, "prod");
	skill_md_finish(&md);
	free(err);
	assert_int_equal(parse(flow, &md, &err), 0);
	assert_int_equal(md.n_labels, 2);
	assert_string_equal(md.labels[1].value, "dev");
	skill_md_finish(&md);
	free(err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &md, &err), 0);
		assert_string_equal(md.name, "a");
		assert_null(md.labels);
		assert_int_equal(md.n_labels, 0);
		skill_md_finish(&md);
		free(err);
	}
}

static void crlf_bom_and_trailing_blanks_on_fences_are_accepted(void **state)
{
	const char *text =
		"\xef\xbb\xbf---  \r\nname: \"a.b_c-1\"\r\ndescription: 'x: y'\r\n---\r\n";
	struct skill_md md;
	char *err;

	(void)state;
	assert_int_equal(parse(text, &md, &err), 0);
	assert_string_equal(md.name, "a.b_c-1");
	assert_string_equal(md.description, "x: y");
	assert_int_equal(md.body, strlen(text));
	skill_md_finish(&md);
	free(err);
	/* no body and no newline after the closing fence */
	assert_int_equal(parse("---\nname: a\ndescription: b\n---", &md, &err), 0);
	assert_int_equal(md.body, strlen("---\nname: a\ndescription: b\n---"));
	skill_md_finish(&md);
	free(err);
}

static void missing_fences_are_refused(void **state)
{
	(void)state;
	refused("", "must start with a line \"---\"");
	refused("# Title\n---\nname: a\n---\n", "must start with a line \"---\"");
	refused("---", "must start with a line \"---\"");
	refused("----\nname: a\n---\n", "must start with a line \"---\"");
	refused("---\nname: a\ndescription: b\n", "not closed by a line \"---\" within the first "
						  "16 KiB");
}

static void the_closing_fence_must_come_within_16_kib(void **state)
{
	struct skill_md md;
	struct buf b;
	char *err, *x = xmalloc(SKILL_MD_FRONT_MAX);

	(void)state;
	memset(x, 'x', SKILL_MD_FRONT_MAX);
	buf_init(&b, 0);
	buf_puts(&b, "---\nname: a\ndescription: b\nx: \"");
	buf_append(&b, x, SKILL_MD_FRONT_MAX);
	buf_puts(&b, "\"\n---\n");
	assert_int_equal(parse(buf_str(&b), &md, &err), -EINVAL);
	assert_non_null(strstr(err, "within the first 16 KiB"));
	free(err);
	buf_finish(&b);
	free(x);
}

static void bad_front_matter_is_refused_with_the_reason(void **state)
{
	(void)state;
	refused("---\n---\n", "must be a YAML mapping");
	refused("---\n- a\n- b\n---\n", "must be a YAML mapping");
	refused("---\ndescription: b\n---\n", "name is missing");
	refused("---\nname: a\n---\n", "description is missing");
	refused("---\nname: a\ndescription: \"  \"\n---\n", "description is missing");
	refused("---\nname: [a]\ndescription: b\n---\n", "name must be a string");
	refused("---\nname: a\ndescription: {x: 1}\n---\n", "description must be a string");
	refused("---\nname: &n a\ndescription: *n\n---\n", "description must be a string");
	refused("---\nname: a\nname: b\ndescription: c\n---\n", "name is given twice");
	refused("---\nname: Deploy\ndescription: b\n---\n", "name: " SKILL_MD_NAME_RULE);
	refused("---\nname: a\ndescription: \"a\\0b\"\n---\n", "description must be a string");
	refused("---\nname: a\ndescription: b\n  c: d\n---\n", "SKILL.md line 4: YAML error");
	refused("---\n? [a]\n: b\n---\n", "keys must be plain strings");
	refused("---\nname: a\ndescription: \xff\n---\n", "front matter: YAML error");
}

static void description_is_capped_in_characters(void **state)
{
	char text[8192];
	struct skill_md md;
	size_t i, at;
	char *err;

	(void)state;
	at = (size_t)snprintf(text, sizeof(text), "---\nname: a\ndescription: ");
	for (i = 0; i < SKILL_MD_DESC_MAX; i++, at += 2)
		memcpy(text + at, "\xc3\xa9", 2);
	snprintf(text + at, sizeof(text) - at, "\n---\n");
	assert_int_equal(parse(text, &md, &err), 0);
	skill_md_finish(&md);
	free(err);
	snprintf(text + at, sizeof(text) - at, "x\n---\n");
	refused(text, "description is 1025 characters; at most 1024");
}

static void the_name_rule(void **state)
{
	static const char *const good[] = {"a", "0", "deploy-k8s", "a.b_c", "x1.2"};
	static const char *const bad[] = {"",	"A",  "../x", "x/y",	   ".hidden",
					  "-a", "_a", "a b",  "a\xc3\xa9", "a:b"};
	char longest[SKILL_MD_NAME_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(good); i++)
		assert_true(skill_md_name_ok(good[i]));
	for (i = 0; i < ARRAY_LEN(bad); i++)
		assert_false(skill_md_name_ok(bad[i]));
	assert_false(skill_md_name_ok(NULL));
	memset(longest, 'a', SKILL_MD_NAME_MAX);
	longest[SKILL_MD_NAME_MAX] = '\0';
	assert_true(skill_md_name_ok(longest));
	longest[SKILL_MD_NAME_MAX] = 'a';
	longest[SKILL_MD_NAME_MAX + 1] = '\0';
	assert_false(skill_md_name_ok(longest));
}

static void workflow_block_gives_the_four_questions(void **state)
{
	const char *text = "---\n"
			   "name: minutes\n"
			   "description: Meeting notes to tasks.\n"
			   "workflow:\n"
			   "  input: \"a voice memo or pasted meeting notes\"\n"
			   "  output: a task list, one line per task\n"
			   "  never_invent: [due dates, owners, medication doses]\n"
			   "  review: \"before anything is sent outside the chat\"\n"
			   "---\nbody\n";
	struct skill_md md;
	struct buf b;
	char *err;

	(void)state;
	assert_int_equal(parse(text, &md, &err), 0);
	assert_string_equal(md.workflow.input, "a voice memo or pasted meeting notes");
	assert_string_equal(md.workflow.output, "a task list, one line per task");
	assert_int_equal(md.workflow.n_never_invent, 3);
	assert_string_equal(md.workflow.never_invent[0], "due dates");
	assert_string_equal(md.workflow.never_invent[2], "medication doses");
	assert_string_equal(md.workflow.review, "before anything is sent outside the chat");
	assert_true(skill_md_workflow_present(&md.workflow));
	assert_true(skill_md_review_gates(&md.workflow));
	buf_init(&b, 0);
	skill_md_workflow_put(&b, &md.workflow, "- ");
	assert_string_equal(buf_str(&b), "- Input: a voice memo or pasted meeting notes\n"
					 "- Output: a task list, one line per task\n"
					 "- Never invent: due dates; owners; medication doses\n"
					 "- Review: before anything is sent outside the chat\n");
	buf_finish(&b);
	skill_md_finish(&md);
	free(err);
}

static void workflow_is_optional_and_partial(void **state)
{
	struct skill_md md;
	char *err;

	(void)state;
	assert_int_equal(parse("---\nname: a\ndescription: x\n---\n", &md, &err), 0);
	assert_false(skill_md_workflow_present(&md.workflow));
	assert_false(skill_md_review_gates(&md.workflow));
	skill_md_finish(&md);
	free(err);
	/* one string is a list of one; output alone is fine */
	assert_int_equal(parse("---\nname: a\ndescription: x\nworkflow:\n  never_invent: "
			       "prices\n  output: y\n---\n",
			       &md, &err),
			 0);
	assert_int_equal(md.workflow.n_never_invent, 1);
	assert_string_equal(md.workflow.never_invent[0], "prices");
	assert_null(md.workflow.review);
	skill_md_finish(&md);
	free(err);
}

static void review_none_does_not_gate(void **state)
{
	const char *off[] = {"none", "No", "NEVER", "false", "\"  \""};
	const char *on[] = {"always", "before sending", "yes"};
	char text[256];
	struct skill_md md;
	char *err;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(off) + ARRAY_LEN(on); i++) {
		bool gates = i >= ARRAY_LEN(off);
		const char *v = gates ? on[i - ARRAY_LEN(off)] : off[i];
		int rc;

		snprintf(text, sizeof(text),
			 "---\nname: a\ndescription: x\nworkflow:\n  review: %s\n---\n", v);
		rc = parse(text, &md, &err);
		if (rc < 0) { /* a blank review is refused as empty */
			assert_non_null(strstr(err, "review must be a non-empty string"));
		} else {
			assert_int_equal(skill_md_review_gates(&md.workflow), gates);
			skill_md_finish(&md);
		}
		free(err);
	}
}

/* Each mistake names SKILL.md:LINE:COL of the offending value, the line counted in the whole
 * file (the opening fence is line 1). */
static void workflow_mistakes_name_line_and_column(void **state)
{
	static const struct {
		const char *yaml, *why;
	} cases[] = {
		{"workflow: do it\n", "SKILL.md:4:11: workflow: must be a mapping"},
		{"workflow:\n  reveiw: always\n", "SKILL.md:5:3: workflow: unknown key \"reveiw\""},
		{"workflow:\n  input: [a]\n", "SKILL.md:5:10: workflow: input must be a non-empty"},
		{"workflow:\n  output: \"\"\n",
		 "SKILL.md:5:11: workflow: output must be a non-empty"},
		{"workflow:\n  never_invent: {a: b}\n",
		 "SKILL.md:5:17: workflow: never_invent must be a list of strings"},
		{"workflow:\n  never_invent:\n    - a\n    - [b]\n",
		 "SKILL.md:7:7: workflow: a never_invent item must be a non-empty string"},
		{"workflow:\n  review: a\n  review: b\n",
		 "SKILL.md:6:11: workflow: review is given "
		 "twice"},
		{"workflow:\n  never_invent: "
		 "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]\n",
		 "workflow: never_invent has more than 16 items"},
		{"workflow: {input: a}\nworkflow: {output: b}\n", "workflow: is given twice"},
	};
	char text[512];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		snprintf(text, sizeof(text), "---\nname: a\ndescription: x\n%s---\nbody\n",
			 cases[i].yaml);
		refused(text, cases[i].why);
	}
}

static void workflow_texts_are_capped(void **state)
{
	char text[2048], big[600];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(text, sizeof(text), "---\nname: a\ndescription: x\nworkflow:\n  input: %s\n---\n",
		 big);
	refused(text, "workflow: input is 599 characters; at most 512");
	big[SKILL_MD_WF_ITEM_MAX + 1] = '\0';
	snprintf(text, sizeof(text),
		 "---\nname: a\ndescription: x\nworkflow:\n  never_invent: [%s]\n---\n", big);
	refused(text, "a never_invent item is 121 characters; at most 120");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(name_and_description_are_read_and_other_keys_skipped),
		cmocka_unit_test(labels_are_a_map_of_strings_or_nothing),
		cmocka_unit_test(crlf_bom_and_trailing_blanks_on_fences_are_accepted),
		cmocka_unit_test(missing_fences_are_refused),
		cmocka_unit_test(the_closing_fence_must_come_within_16_kib),
		cmocka_unit_test(bad_front_matter_is_refused_with_the_reason),
		cmocka_unit_test(description_is_capped_in_characters),
		cmocka_unit_test(the_name_rule),
		cmocka_unit_test(workflow_block_gives_the_four_questions),
		cmocka_unit_test(workflow_is_optional_and_partial),
		cmocka_unit_test(review_none_does_not_gate),
		cmocka_unit_test(workflow_mistakes_name_line_and_column),
		cmocka_unit_test(workflow_texts_are_capped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
