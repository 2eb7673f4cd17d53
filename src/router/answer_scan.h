/* answer_scan: what the router reads from a whole (non-streamed) OpenAI-shaped answer, the
 * presence of "choices", "text", "error", "data", the usage numbers and the characters of
 * generated text, found by one pass over the text without building a tree.
 *
 * The pass accepts only plain, strict JSON (RFC 8259 numbers, the escapes cJSON decodes,
 * nesting up to ANSWER_SCAN_MAX_DEPTH, no key spelled with an escape, no member name twice in
 * one object, no "\u0000", nothing after the root object but whitespace) in the shapes it models
 * exactly; anything else makes it give up, and the caller parses the text with cJSON and reads the
 * same facts from the tree with answer_scan_tree(). Whenever answer_scan() returns 0, the facts are
 * those answer_scan_tree() reads from json_parse's tree of the same text (string lengths after
 * unescaping as strlen() sees them); tests/test_answer_scan.c and the fuzz target
 * tests/fuzz/fuzz_answer_scan.c hold the two to that.
 */
#ifndef HERMETIC_ANSWER_SCAN_H
#define HERMETIC_ANSWER_SCAN_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define ANSWER_SCAN_MAX_DEPTH 64

/* The members of a "usage" object the router reads (the first of each name). */
struct answer_usage {
	bool has_prompt, has_completion, has_input, has_output; /* present, any type */
	bool prompt_num, completion_num, input_num, output_num, cost_num;
	double prompt, completion, input, output, cost;
	/* The provider's prompt cache: prompt_tokens_details.cached_tokens and
	 * .cache_write_tokens (OpenAI, OpenRouter), input_tokens_details.cached_tokens (the
	 * Responses API), cache_creation_input_tokens (Anthropic's count, which LiteLLM and the
	 * Anthropic dialect keep beside OpenAI's). Each counted only when a number. */
	bool p_cached_num, p_write_num, i_cached_num, creation_num;
	double p_cached, p_write, i_cached, creation;
};

struct answer_facts {
	bool has_choices, has_text, has_error, has_data; /* root members present, any type */
	bool usage_object;				 /* "usage" is an object: u is read */
	struct answer_usage u;
	size_t output_chars; /* generated text: every choice's message and "text", root "text" */
};

/* Reads the facts of the JSON object in text[0..len). Returns 0, or -1 when the text is not
 * in the subset described above (out is then undefined): parse it and use answer_scan_tree. */
int answer_scan(const char *text, size_t len, struct answer_facts *out);
/* The same facts from a parsed object (root must be a cJSON object). */
void answer_scan_tree(const cJSON *root, struct answer_facts *out);
/* The usage members of a cJSON object (usage must not be NULL). */
void answer_usage_tree(const cJSON *usage, struct answer_usage *out);
/* Characters of generated text in every element of choices (an array, or an object's members,
 * as cJSON iterates both): the "field" object's content, reasoning, reasoning_content,
 * refusal and tool calls' function name and arguments, and the element's "text". */
size_t answer_choices_chars(const cJSON *choices, const char *field);

#endif
