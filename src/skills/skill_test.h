/* skill_test: a skill's test cases, skills/<name>/tests/NAME.yaml, and the pure grading of one
 * run against them. A file is a YAML list of cases:
 *
 *   - name: owners-are-not-invented          required, unique in the file
 *     input: "notes: Ann drafts the report"  required: the user's message
 *     files: [notes.txt]                     optional: files of tests/, appended to the input
 *     contains: [Ann]                        the answer holds each (a string or a list)
 *     not_contains: ["due:"]                 the answer holds none
 *     regex: ["^- "]                         each POSIX extended regex matches the answer
 *     tool_called: [skill_view]              each tool was called in the turn
 *     tool_not_called: [send_file]           none was
 *     max_cost_usd: 0.01                     the turn cost at most this
 *     max_input_tokens: 4000                 its prompt tokens (all model calls) at most this
 *     judge: "lists Ann as the owner"        a rubric a model grades pass/fail, with a reason
 *     judge: {rubric: "...", model: GROUP}   the same, graded by that model group
 *
 * Unknown keys and wrong shapes are errors naming FILE:LINE:COL. Pure: no I/O (fuzzed by
 * tests/fuzz/fuzz_skill_test.c).
 */
#ifndef HERMETIC_SKILL_TEST_H
#define HERMETIC_SKILL_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define SKILL_TEST_FILE_MAX  (64 * 1024) /* bytes of one tests/NAME.yaml */
#define SKILL_TEST_CASES_MAX 50		 /* cases of one file */
#define SKILL_TEST_LIST_MAX  16		 /* items of one check's list */
#define SKILL_TEST_TEXT_MAX  8192	 /* bytes of an input, a rubric or an item */

struct skill_test_list {
	char **v; /* owned */
	size_t n;
};

struct skill_test_case {
	char *name, *input; /* owned */
	struct skill_test_list files, contains, not_contains, regex, tool_called, tool_not_called;
	double max_cost_usd;	  /* < 0 = no bound */
	int64_t max_input_tokens; /* 0 = no bound */
	char *judge;		  /* the rubric, NULL = no judge */
	char *judge_model;	  /* NULL = the run's model */
	size_t line;		  /* where the case starts in its file */
};

struct skill_tests {
	struct skill_test_case *v;
	size_t n;
};

/* Parses one tests file (text[0..len), named file in messages). Returns 0 with out filled
 * (free with skill_tests_finish), or -EINVAL with "FILE:LINE:COL: message" appended to err and
 * out empty. */
int skill_tests_parse(const char *text, size_t len, const char *file, struct skill_tests *out,
		      struct buf *err);
void skill_tests_finish(struct skill_tests *t); /* accepts a zeroed struct */

/* What one case's turn did. */
struct skill_test_run {
	const char *answer;
	const char *const *tools; /* the tools called, in order (repeats allowed) */
	size_t n_tools;
	double cost_usd;
	int64_t input_tokens;
	int judged; /* 1 pass, 0 fail, -1 not judged (no judge, or it failed to answer) */
};

/* Grades run against c's checks (pure). Returns true when every check passes; each failed
 * check appends one line "  - why" to why. A case with a judge whose run was not judged
 * fails. */
bool skill_test_grade(const struct skill_test_case *c, const struct skill_test_run *run,
		      struct buf *why);

#endif
