/* Fuzz target of skill_tests_parse() and skill_test_grade(): any bytes give cases that keep
 * the caps (cases, list items, text sizes; every case named, with an input) or one error line
 * "FILE:LINE:COL: ..."; grading each case against a fixed run never crashes. Seeds:
 * tests/fuzz/corpus/skill_test/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "skills/skill_test.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int list_ok(const struct skill_test_list *l)
{
	if (l->n > SKILL_TEST_LIST_MAX)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		if (!l->v[i] || !*l->v[i] || strlen(l->v[i]) > SKILL_TEST_TEXT_MAX)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tools[] = {"skill_view"};
	const struct skill_test_run run = {"- Ann: x", tools, 1, 0.001, 10, 1};
	char *copy = xmalloc(size ? size : 1);
	struct skill_tests t;
	struct buf err, why;

	if (size)
		memcpy(copy, data, size);
	buf_init(&err, 0);
	buf_init(&why, 0);
	if (skill_tests_parse(copy, size, "t.yaml", &t, &err) == 0) {
		if (t.n > SKILL_TEST_CASES_MAX || err.len)
			abort();
		for (size_t i = 0; i < t.n; i++) {
			const struct skill_test_case *c = &t.v[i];

			if (!c->name || !c->input || !list_ok(&c->files) ||
			    !list_ok(&c->contains) || !list_ok(&c->not_contains) ||
			    !list_ok(&c->regex) || !list_ok(&c->tool_called) ||
			    !list_ok(&c->tool_not_called))
				abort();
			skill_test_grade(c, &run, &why);
		}
		skill_tests_finish(&t);
	} else if (!err.len || t.n || memchr(err.data, '\n', err.len) ||
		   strncmp(err.data, "t.yaml", 6) != 0) {
		abort();
	}
	buf_finish(&why);
	buf_finish(&err);
	free(copy);
	return 0;
}
