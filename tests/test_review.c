/* review: the draft card's pure decisions (tools/review.c) as tables: which actions get a card,
 * which argument is the draft, which of the draft step's marks are kept (only sentences that
 * are in the draft, never_invent hits only for the skill's items), what survives an edit, and
 * how the marks are highlighted and escaped.
 */
#include "test.h"
#include "core/config.h"
#include "core/util.h"
#include "tools/review.h"

#include <stdlib.h>
#include <string.h>

static void test_wanted_table(void **state)
{
	static const struct config_lane reviewing = {.name = "private", .review_outbound = true};
	static const struct config_lane open = {.name = "deid", .review_outbound = false};
	static const struct {
		const struct config_lane *lane;
		bool skill;
		enum review_action a;
		bool want;
	} rows[] = {
		{&reviewing, false, REVIEW_OUTBOUND, true},
		{&reviewing, false, REVIEW_NOT_OUTBOUND, false},
		{&open, false, REVIEW_OUTBOUND, false},
		{&open, true, REVIEW_OUTBOUND, true},
		{NULL, true, REVIEW_OUTBOUND, true},
		{NULL, true, REVIEW_NOT_OUTBOUND, false},
		{NULL, false, REVIEW_OUTBOUND, false},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		assert_int_equal(review_wanted(rows[i].lane, rows[i].skill, rows[i].a),
				 rows[i].want);
}

static void test_draft_field_table(void **state)
{
	static const struct {
		const char *tool, *args, *field; /* field NULL: none */
	} rows[] = {
		{"web_fetch", "{\"url\":\"https://x.test/a\"}", "url"},
		{"send_file", "{\"path\":\"a.pdf\",\"caption\":\"hi\"}", "caption"},
		{"send_voice", "{\"text\":\"hello\"}", "text"},
		{"mcp_crm_add_note", "{\"id\":\"42\",\"note\":\"the long note text\"}", "note"},
		{"mcp_crm_add_note", "{\"a\":\"xy\",\"b\":\"zw\"}", "a"}, /* first of equals */
		{"mcp_crm_add_note", "{\"n\":3,\"ok\":true}", NULL},
		{"mcp_crm_add_note", "not json", NULL},
		{"mcp_crm_add_note", "[\"a\"]", NULL},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		char *f = review_draft_field(rows[i].tool, rows[i].args);

		if (rows[i].field)
			assert_string_equal(f, rows[i].field);
		else
			assert_null(f);
		free(f);
	}
}

static struct review_card card(const char *draft, const char *never_invent)
{
	struct review_card c = {0};

	c.version = 1;
	c.destination = xstrdup("mcp_crm_add_note");
	c.draft = xstrdup(draft);
	c.never_invent = xstrdup(never_invent);
	return c;
}

static void test_marks_keep_only_sentences_in_the_draft(void **state)
{
	struct review_card c = card("Meet Ana on Monday. She agreed to the plan. Dose: 5 mg.",
				    "due dates\nmedication doses");
	const char *answer =
		"Here it is:\n```json\n{\"inferred\": [\"She agreed to the plan.\", "
		"\"The CEO approved.\", 7],\n \"unsourced\": [{\"item\": \"Medication doses\", "
		"\"sentence\": \"Dose: 5 mg.\"}, {\"item\": \"owners\", \"sentence\": \"Meet Ana "
		"on "
		"Monday.\"}, {\"item\": \"due dates\", \"sentence\": \"Due Friday.\"}]}\n```";

	(void)state;
	assert_int_equal(review_parse_marks(&c, answer), 2);
	assert_int_equal(c.n_inferred, 1); /* "The CEO approved." is not in the draft */
	assert_string_equal(c.inferred[0], "She agreed to the plan.");
	assert_int_equal(c.n_unsourced, 1); /* "owners" is no item; "Due Friday." not there */
	assert_string_equal(c.unsourced[0], "Medication doses: Dose: 5 mg.");
	review_card_finish(&c);
}

static void test_marks_refuse_an_answer_without_the_object(void **state)
{
	struct review_card c = card("A. B.", "");

	(void)state;
	assert_int_equal(review_parse_marks(&c, "I found nothing to mark."), -22);
	assert_int_equal(review_parse_marks(&c, "{\"other\": 1}"), -22);
	assert_int_equal(review_parse_marks(&c, NULL), -22);
	assert_int_equal(review_parse_marks(&c, "{\"inferred\": []}"), 0);
	/* blank or cut to nothing (invalid UTF-8): no empty mark, which every draft "holds" */
	assert_int_equal(review_parse_marks(&c, "{\"inferred\": [\" \\r\\n\", \"\\u00ff\", \"\"]}"),
			 0);
	assert_int_equal(review_parse_marks(&c, "{\"inferred\": [\"\xff\xfe\"]}"), 0);
	assert_int_equal(c.n_inferred, 0);
	review_card_finish(&c);
}

static void test_marks_are_capped(void **state)
{
	struct review_card c = card("x", "");
	struct buf a;

	(void)state;
	buf_init(&a, 0);
	buf_puts(&a, "{\"inferred\":[");
	for (int i = 0; i < REVIEW_MARKS_MAX + 5; i++)
		buf_printf(&a, "%s\"x\"", i ? "," : "");
	buf_puts(&a, "]}");
	assert_int_equal(review_parse_marks(&c, buf_str(&a)), REVIEW_MARKS_MAX);
	assert_int_equal(c.n_inferred, REVIEW_MARKS_MAX);
	buf_finish(&a);
	review_card_finish(&c);
}

static void test_an_edit_keeps_the_marks_still_present(void **state)
{
	struct review_card c = card("One. Two. Three.", "owners");

	(void)state;
	assert_int_equal(review_parse_marks(&c, "{\"inferred\":[\"One.\",\"Two.\"],\"unsourced\":"
						"[{\"item\":\"owners\",\"sentence\":\"Three.\"}]}"),
			 3);
	free(c.draft);
	c.draft = xstrdup("Two. Four.");
	review_keep_present(&c);
	assert_int_equal(c.n_inferred, 1);
	assert_string_equal(c.inferred[0], "Two.");
	assert_int_equal(c.n_unsourced, 0);
	review_card_finish(&c);
}

static void test_highlight_escapes_and_marks(void **state)
{
	struct review_card c = card("a<b & Ana is 40. Ana is 40. end", "ages");
	struct buf t, m;

	(void)state;
	assert_int_equal(review_parse_marks(&c, "{\"unsourced\":[{\"item\":\"ages\","
						"\"sentence\":\"Ana is 40.\"}]}"),
			 1);
	buf_init(&t, 0);
	buf_init(&m, 0);
	review_highlight(&c, REVIEW_HTML_TELEGRAM, &t);
	review_highlight(&c, REVIEW_HTML_MARK, &m);
	assert_string_equal(buf_str(&t), "a&lt;b &amp; <b><u>Ana is 40.</u></b> <b><u>Ana is "
					 "40.</u></b> end");
	assert_string_equal(buf_str(&m),
			    "a&lt;b &amp; <mark>Ana is 40.</mark> <mark>Ana is 40.</mark> end");
	buf_finish(&t);
	buf_finish(&m);
	review_card_finish(&c);
}

static void test_plain_lists_every_part(void **state)
{
	struct review_card c = card("Call Bo at 9.", "times");
	struct buf p;

	(void)state;
	c.sources = xstrdup("mcp_crm_lookup (Bo)");
	c.lane = xstrdup("private");
	c.field = xstrdup("note");
	assert_int_equal(
		review_parse_marks(&c, "{\"inferred\":[\"Call Bo at 9.\"],\"unsourced\":"
				       "[{\"item\":\"times\",\"sentence\":\"Call Bo at 9.\"}]}"),
		2);
	buf_init(&p, 0);
	review_plain(&c, &p);
	assert_non_null(strstr(buf_str(&p), "To: mcp_crm_add_note\nLane: private\n"));
	assert_non_null(strstr(buf_str(&p), "Draft (note) (version 1):\nCall Bo at 9.\n"));
	assert_non_null(strstr(buf_str(&p), "Sources:\nmcp_crm_lookup (Bo)\n"));
	assert_non_null(strstr(buf_str(&p), "Inferred or unverified:\n- Call Bo at 9.\n"));
	assert_non_null(strstr(buf_str(&p), "never_invent without a source:\n- times: Call Bo"));
	buf_finish(&p);
	review_card_finish(&c);
}

static void test_card_chat_stays_in_the_lane(void **state)
{
	static char *chats[] = {"-100123:7", "555"};
	static const struct config_lane lane = {.name = "private", .chats = chats, .n_chats = 2};
	static const struct config_lane chatless = {.name = "x"};
	static const struct {
		const struct config_lane *lane;
		int64_t chat, thread, admin;
		int64_t want, want_thread;
	} rows[] = {
		{NULL, 42, 3, 9, 42, 3},	    /* no lane: where approvals go */
		{&lane, 555, 0, 9, 555, 0},	    /* a lane chat, every topic */
		{&lane, 555, 4, 9, 555, 4},	    /* ... */
		{&lane, -100123, 7, 9, -100123, 7}, /* the lane's topic */
		{&lane, -100123, 8, 9, -100123, 7}, /* another topic: outside */
		{&lane, 2002, 0, 9, -100123, 7},    /* a deliver chat outside */
		{&lane, 0, 0, 9, -100123, 7},	    /* no chat at all */
		{&chatless, 2002, 0, 9, 9, 0},	    /* a lane without chats: admin */
		{&chatless, 2002, 0, 0, 0, 0},	    /* ... none: nowhere */
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		int64_t th = -1;

		assert_int_equal(review_card_chat(rows[i].lane, rows[i].chat, rows[i].thread,
						  rows[i].admin, &th),
				 rows[i].want);
		assert_int_equal(th, rows[i].want_thread);
	}
	assert_true(review_chat_in_lane(&lane, 555, 0));
	assert_false(review_chat_in_lane(&lane, -100123, 0));
	assert_false(review_chat_in_lane(NULL, 555, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wanted_table),
		cmocka_unit_test(test_draft_field_table),
		cmocka_unit_test(test_marks_keep_only_sentences_in_the_draft),
		cmocka_unit_test(test_marks_refuse_an_answer_without_the_object),
		cmocka_unit_test(test_marks_are_capped),
		cmocka_unit_test(test_an_edit_keeps_the_marks_still_present),
		cmocka_unit_test(test_highlight_escapes_and_marks),
		cmocka_unit_test(test_plain_lists_every_part),
		cmocka_unit_test(test_card_chat_stays_in_the_lane),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
