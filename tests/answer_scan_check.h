/* The property tests/test_answer_scan.c and tests/fuzz/fuzz_answer_scan.c check: whenever
 * answer_scan() reads a text, json_parse (the router's fallback) accepts it and its facts are
 * those the tree gives. */
#ifndef HERMETIC_ANSWER_SCAN_CHECK_H
#define HERMETIC_ANSWER_SCAN_CHECK_H

#include "core/json.h"
#include "router/answer_scan.h"

#include <stdbool.h>
#include <string.h>

static inline bool same_number(bool num_a, double a, bool num_b, double b)
{
	return num_a == num_b && (!num_a || memcmp(&a, &b, sizeof(a)) == 0);
}

static inline bool same_facts(const struct answer_facts *a, const struct answer_facts *b)
{
	const struct answer_usage *x = &a->u, *y = &b->u;

	if (a->has_choices != b->has_choices || a->has_text != b->has_text ||
	    a->has_error != b->has_error || a->has_data != b->has_data ||
	    a->usage_object != b->usage_object || a->output_chars != b->output_chars)
		return false;
	return !a->usage_object ||
	       (x->has_prompt == y->has_prompt && x->has_completion == y->has_completion &&
		x->has_input == y->has_input && x->has_output == y->has_output &&
		same_number(x->prompt_num, x->prompt, y->prompt_num, y->prompt) &&
		same_number(x->completion_num, x->completion, y->completion_num, y->completion) &&
		same_number(x->input_num, x->input, y->input_num, y->input) &&
		same_number(x->output_num, x->output, y->output_num, y->output) &&
		same_number(x->cost_num, x->cost, y->cost_num, y->cost) &&
		same_number(x->p_cached_num, x->p_cached, y->p_cached_num, y->p_cached) &&
		same_number(x->p_write_num, x->p_write, y->p_write_num, y->p_write) &&
		same_number(x->i_cached_num, x->i_cached, y->i_cached_num, y->i_cached) &&
		same_number(x->creation_num, x->creation, y->creation_num, y->creation));
}

/* 1: scanned and equal to the tree's facts; 0: the scan gave up; -1: they differ, or the scan
 * read a text cJSON refuses or whose root is not an object. */
static inline int answer_scan_check(const char *text, size_t len, struct answer_facts *scanned)
{
	struct answer_facts t;
	cJSON *root;
	int rc;

	if (answer_scan(text, len, scanned) < 0)
		return 0;
	root = json_parse(text, len, 0, NULL);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return -1;
	}
	answer_scan_tree(root, &t);
	cJSON_Delete(root);
	rc = same_facts(scanned, &t) ? 1 : -1;
	return rc;
}

#endif
