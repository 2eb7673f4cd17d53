/* skill_test: tests/NAME.yaml -> cases, and the grade of one run.
 *
 * The file is loaded with libyaml's document loader (the text is capped at
 * SKILL_TEST_FILE_MAX, and aliases resolve to shared nodes, never copies, so a hostile file
 * costs bounded memory); each case is read key by key from a table, so an unknown key or a
 * scalar where a list belongs is an error with the node's line and column. Regexes are
 * compiled once here, so a bad one is reported at its line rather than mid-run.
 */
#include "skills/skill_test.h"
#include "core/util.h"

#include <errno.h>
#include <stddef.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

struct parse {
	yaml_document_t doc;
	const char *file;
	struct buf *err;
};

static int fail_at(struct parse *p, const yaml_node_t *n, const char *what, const char *key)
{
	buf_printf(p->err, "%s:%zu:%zu: %s%s%s", p->file, (size_t)n->start_mark.line + 1,
		   (size_t)n->start_mark.column + 1, key ? key : "", key ? ": " : "", what);
	return -EINVAL;
}

/* A scalar without NUL of at most SKILL_TEST_TEXT_MAX bytes, or NULL. */
static const char *scalar(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.length > SKILL_TEST_TEXT_MAX ||
	    strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return NULL;
	return (const char *)n->data.scalar.value;
}

static int take_text(struct parse *p, const yaml_node_t *n, const char *key, char **dst)
{
	const char *v = scalar(n);

	if (!v || !*v)
		return fail_at(p, n, "must be a non-empty string (at most 8 KiB)", key);
	*dst = xstrdup(v);
	return 0;
}

/* A string or a list of strings. */
static int take_list(struct parse *p, const yaml_node_t *n, const char *key,
		     struct skill_test_list *l)
{
	const yaml_node_item_t *it;

	if (n->type == YAML_SCALAR_NODE) {
		l->v = xcalloc(1, sizeof(*l->v));
		return take_text(p, n, key, &l->v[l->n++]);
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return fail_at(p, n, "must be a string or a list of strings", key);
	if (n->data.sequence.items.top - n->data.sequence.items.start > SKILL_TEST_LIST_MAX)
		return fail_at(p, n, "has more than 16 items", key);
	l->v = xcalloc(SKILL_TEST_LIST_MAX, sizeof(*l->v));
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		const yaml_node_t *item = yaml_document_get_node(&p->doc, *it);
		int rc = take_text(p, item, key, &l->v[l->n]);

		if (rc < 0)
			return rc;
		l->n++;
	}
	return 0;
}

static int take_number(struct parse *p, const yaml_node_t *n, const char *key, double max,
		       double *out)
{
	const char *v = scalar(n);
	char *end;

	if (v) {
		*out = strtod(v, &end);
		if (end != v && !*end && *out >= 0 && *out <= max)
			return 0;
	}
	return fail_at(p, n, "must be a number >= 0", key);
}

static int take_judge(struct parse *p, const yaml_node_t *n, struct skill_test_case *c)
{
	const yaml_node_pair_t *pr;
	int rc = 0;

	if (n->type == YAML_SCALAR_NODE)
		return take_text(p, n, "judge", &c->judge);
	if (n->type != YAML_MAPPING_NODE)
		return fail_at(p, n, "must be a rubric, or {rubric: ..., model: GROUP}", "judge");
	for (pr = n->data.mapping.pairs.start; rc == 0 && pr < n->data.mapping.pairs.top; pr++) {
		const yaml_node_t *k = yaml_document_get_node(&p->doc, pr->key);
		const yaml_node_t *v = yaml_document_get_node(&p->doc, pr->value);
		const char *ks = scalar(k);

		if (ks && strcmp(ks, "rubric") == 0 && !c->judge)
			rc = take_text(p, v, "judge.rubric", &c->judge);
		else if (ks && strcmp(ks, "model") == 0 && !c->judge_model)
			rc = take_text(p, v, "judge.model", &c->judge_model);
		else
			rc = fail_at(p, k, "unknown or repeated key (rubric, model)", "judge");
	}
	if (rc == 0 && !c->judge)
		rc = fail_at(p, n, "needs a rubric", "judge");
	return rc;
}

#define REGEX_MAX_LEN	 256
#define REGEX_MAX_BOUNDS 4
#define REGEX_MAX_COUNT	 100
#define REGEX_MAX_QUANTS 12
#define REGEX_MAX_BARS	 32

/* A test file comes with a skill pack from anyone, and glibc's regcomp is exponential in some
 * shapes a line can hold. Its memory grows with stacked and counted repetitions
 * ("(a|b++++...)+", "(x{99}){99}": gigabytes); its time with repeated groups that can match
 * nothing ("^((a?|b?|c?|d?){8})+$" or "(a?)*" 22 times: minutes), and with many alternatives,
 * empty ones above all ("^(a|||...)+$" with 250 bars: 5 s; found by the fuzz target). So a
 * pattern is short, has no quantifier right after another, at most REGEX_MAX_QUANTS
 * quantifiers (the worst shape with 12 compiles in 7 ms here, with 16 in 70 ms, 20 in seconds),
 * at most REGEX_MAX_BOUNDS {m,n} of at most REGEX_MAX_COUNT, and at most REGEX_MAX_BARS
 * alternatives (32 empty ones: 4 ms). NULL if tame, else why not. */
static const char *untamed(const char *re)
{
	size_t len = strlen(re), bounds = 0, quants = 0, bars = 0;
	bool after_quant = false;

	if (len > REGEX_MAX_LEN)
		return "longer than 256 characters";
	for (size_t i = 0; i < len; i++) {
		char ch = re[i];

		if (ch == '\\' && i + 1 < len) {
			i++;
			after_quant = false;
			continue;
		}
		if (ch == '|' && ++bars > REGEX_MAX_BARS)
			return "more than 32 alternatives (|)";
		if (ch == '*' || ch == '+' || ch == '?' || ch == '{') {
			if (after_quant)
				return "a repetition right after another";
			if (++quants > REGEX_MAX_QUANTS)
				return "more than 12 repetitions (*, +, ?, {m,n})";
			if (ch == '{') {
				char *end;
				unsigned long a = strtoul(re + i + 1, &end, 10), b = a;

				if (*end == ',')
					b = end[1] == '}' ? a : strtoul(end + 1, &end, 10);
				if (++bounds > REGEX_MAX_BOUNDS || a > REGEX_MAX_COUNT ||
				    b > REGEX_MAX_COUNT)
					return "counted repetitions over {100} or more than 4 of "
					       "them";
				while (i < len && re[i] != '}')
					i++;
			}
			after_quant = true;
			continue;
		}
		after_quant = false;
	}
	return NULL;
}

static int check_regexes(struct parse *p, const yaml_node_t *n, const struct skill_test_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		regex_t re;
		char msg[128];
		const char *why = untamed(l->v[i]);
		int rc;

		if (why)
			return fail_at(p, n, why, "regex");
		rc = regcomp(&re, l->v[i], REG_EXTENDED | REG_NOSUB);

		if (rc != 0) {
			regerror(rc, &re, msg, sizeof(msg));
			return fail_at(p, n, msg, "regex");
		}
		regfree(&re);
	}
	return 0;
}

static int take_case(struct parse *p, const yaml_node_t *n, struct skill_test_case *c)
{
	const yaml_node_pair_t *pr;
	double v;
	int rc = 0;

	c->max_cost_usd = -1;
	c->line = (size_t)n->start_mark.line + 1;
	if (n->type != YAML_MAPPING_NODE)
		return fail_at(p, n, "a case must be a mapping (name:, input:, checks)", NULL);
	for (pr = n->data.mapping.pairs.start; rc == 0 && pr < n->data.mapping.pairs.top; pr++) {
		const yaml_node_t *k = yaml_document_get_node(&p->doc, pr->key);
		const yaml_node_t *val = yaml_document_get_node(&p->doc, pr->value);
		const char *key = scalar(k);
		static const struct {
			const char *key;
			size_t off;
		} lists[] = {
			{"files", offsetof(struct skill_test_case, files)},
			{"contains", offsetof(struct skill_test_case, contains)},
			{"not_contains", offsetof(struct skill_test_case, not_contains)},
			{"regex", offsetof(struct skill_test_case, regex)},
			{"tool_called", offsetof(struct skill_test_case, tool_called)},
			{"tool_not_called", offsetof(struct skill_test_case, tool_not_called)},
		};
		size_t i;

		if (!key || !val)
			return fail_at(p, k ? k : n, "keys must be strings", NULL);
		for (i = 0; i < ARRAY_LEN(lists) && strcmp(key, lists[i].key) != 0; i++)
			;
		if (i < ARRAY_LEN(lists)) {
			struct skill_test_list *l =
				(struct skill_test_list *)((char *)c + lists[i].off);

			rc = l->v ? fail_at(p, k, "is given twice", key)
				  : take_list(p, val, key, l);
			if (rc == 0 && l == &c->regex)
				rc = check_regexes(p, val, l);
		} else if (strcmp(key, "name") == 0 && !c->name) {
			rc = take_text(p, val, key, &c->name);
		} else if (strcmp(key, "input") == 0 && !c->input) {
			rc = take_text(p, val, key, &c->input);
		} else if (strcmp(key, "judge") == 0 && !c->judge) {
			rc = take_judge(p, val, c);
		} else if (strcmp(key, "max_cost_usd") == 0 && c->max_cost_usd < 0) {
			rc = take_number(p, val, key, 1000, &c->max_cost_usd);
		} else if (strcmp(key, "max_input_tokens") == 0 && !c->max_input_tokens) {
			rc = take_number(p, val, key, 1e9, &v);
			c->max_input_tokens = rc == 0 && v >= 1 ? (int64_t)v : 0;
			if (rc == 0 && v < 1)
				rc = fail_at(p, val, "must be at least 1", key);
		} else {
			rc = fail_at(p, k,
				     "unknown or repeated key (name, input, files, contains, "
				     "not_contains, regex, tool_called, tool_not_called, "
				     "max_cost_usd, max_input_tokens, judge)",
				     key);
		}
	}
	if (rc == 0 && (!c->name || !c->input))
		rc = fail_at(p, n, "a case needs a name and an input", NULL);
	return rc;
}

static void list_free(struct skill_test_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

void skill_tests_finish(struct skill_tests *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		struct skill_test_case *c = &t->v[i];

		free(c->name);
		free(c->input);
		free(c->judge);
		free(c->judge_model);
		list_free(&c->files);
		list_free(&c->contains);
		list_free(&c->not_contains);
		list_free(&c->regex);
		list_free(&c->tool_called);
		list_free(&c->tool_not_called);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int walk(struct parse *p, struct skill_tests *out)
{
	const yaml_node_t *root = yaml_document_get_root_node(&p->doc);
	const yaml_node_item_t *it;
	int rc = 0;

	if (!root || root->type != YAML_SEQUENCE_NODE) {
		buf_printf(p->err, "%s:1:1: a tests file is a YAML list of cases (- name: ...)",
			   p->file);
		return -EINVAL;
	}
	if (root->data.sequence.items.top - root->data.sequence.items.start > SKILL_TEST_CASES_MAX)
		return fail_at(p, root, "more than 50 cases in one file", NULL);
	out->v = xcalloc(SKILL_TEST_CASES_MAX, sizeof(*out->v));
	for (it = root->data.sequence.items.start; rc == 0 && it < root->data.sequence.items.top;
	     it++) {
		const yaml_node_t *n = yaml_document_get_node(&p->doc, *it);
		struct skill_test_case *c = &out->v[out->n++];

		rc = take_case(p, n, c);
		for (size_t i = 0; rc == 0 && i + 1 < out->n; i++)
			if (strcmp(out->v[i].name, c->name) == 0)
				rc = fail_at(p, n, "two cases have this name", c->name);
	}
	return rc;
}

int skill_tests_parse(const char *text, size_t len, const char *file, struct skill_tests *out,
		      struct buf *err)
{
	struct parse p = {.file = file, .err = err};
	yaml_parser_t parser;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > SKILL_TEST_FILE_MAX) {
		buf_printf(err, "%s: larger than %d KiB", file, SKILL_TEST_FILE_MAX / 1024);
		return -EINVAL;
	}
	if (!yaml_parser_initialize(&parser)) {
		buf_puts(err, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &p.doc)) {
		buf_printf(err, "%s:%zu:%zu: YAML error: %s", file,
			   (size_t)parser.problem_mark.line + 1,
			   (size_t)parser.problem_mark.column + 1,
			   parser.problem ? parser.problem : "malformed input");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	rc = walk(&p, out);
	yaml_document_delete(&p.doc);
	yaml_parser_delete(&parser);
	if (rc < 0)
		skill_tests_finish(out);
	return rc;
}

/* ---- grading --------------------------------------------------------------------------- */

static bool called(const struct skill_test_run *run, const char *tool)
{
	for (size_t i = 0; i < run->n_tools; i++)
		if (strcmp(run->tools[i], tool) == 0)
			return true;
	return false;
}

bool skill_test_grade(const struct skill_test_case *c, const struct skill_test_run *run,
		      struct buf *why)
{
	const char *a = run->answer ? run->answer : "";
	size_t mark = why->len;

	for (size_t i = 0; i < c->contains.n; i++)
		if (!strstr(a, c->contains.v[i]))
			buf_printf(why, "  - the answer does not contain \"%s\"\n",
				   c->contains.v[i]);
	for (size_t i = 0; i < c->not_contains.n; i++)
		if (strstr(a, c->not_contains.v[i]))
			buf_printf(why, "  - the answer contains \"%s\"\n", c->not_contains.v[i]);
	for (size_t i = 0; i < c->regex.n; i++) {
		regex_t re;
		bool match = false;

		if (regcomp(&re, c->regex.v[i], REG_EXTENDED | REG_NOSUB | REG_NEWLINE) == 0) {
			match = regexec(&re, a, 0, NULL, 0) == 0;
			regfree(&re);
		}
		if (!match)
			buf_printf(why, "  - the answer does not match /%s/\n", c->regex.v[i]);
	}
	for (size_t i = 0; i < c->tool_called.n; i++)
		if (!called(run, c->tool_called.v[i]))
			buf_printf(why, "  - %s was not called\n", c->tool_called.v[i]);
	for (size_t i = 0; i < c->tool_not_called.n; i++)
		if (called(run, c->tool_not_called.v[i]))
			buf_printf(why, "  - %s was called\n", c->tool_not_called.v[i]);
	if (c->max_cost_usd >= 0 && run->cost_usd > c->max_cost_usd)
		buf_printf(why, "  - cost $%.6f, over max_cost_usd $%.6f\n", run->cost_usd,
			   c->max_cost_usd);
	if (c->max_input_tokens && run->input_tokens > c->max_input_tokens)
		buf_printf(why, "  - %lld input tokens, over max_input_tokens %lld\n",
			   (long long)run->input_tokens, (long long)c->max_input_tokens);
	if (c->judge && run->judged != 1)
		buf_printf(why, "  - the judge %s\n",
			   run->judged == 0 ? "graded it fail" : "gave no grade");
	return why->len == mark;
}
