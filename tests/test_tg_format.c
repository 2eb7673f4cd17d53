/* tg_format: Markdown comes out as Telegram's HTML subset with raw HTML escaped and unsafe
 * links dropped; UTF-16 lengths count astral characters twice; long texts split into parts
 * within the limit, at line breaks or spaces, never inside a character, with the tags open at
 * a cut closed and reopened so every part is balanced. */
#include "test.h"
#include "telegram/tg_format.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static char *render(const char *md)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(tg_format_html(md, strlen(md), &b), 0);
	return buf_steal(&b);
}

#define assert_renders(md, html)                                                                   \
	do {                                                                                       \
		char *got_ = render(md);                                                           \
		assert_string_equal(got_, html);                                                   \
		free(got_);                                                                        \
	} while (0)

/* Tags balanced and properly nested; UTF-16 units of the text after entity parsing. */
static bool balanced(const char *s, size_t *units)
{
	char stack[32][16];
	size_t depth = 0, u = 0;

	for (size_t i = 0; s[i];) {
		if (s[i] == '<') {
			bool close = s[i + 1] == '/';
			size_t n = i + 1 + close, k = 0;
			char name[16];

			while (s[n] && s[n] != '>' && s[n] != ' ' && k < sizeof(name) - 1)
				name[k++] = s[n++];
			name[k] = '\0';
			while (s[n] && s[n] != '>')
				n++;
			if (!s[n])
				return false;
			if (close && (depth == 0 || strcmp(stack[--depth], name) != 0))
				return false;
			if (!close && depth < 32)
				snprintf(stack[depth++], sizeof(stack[0]), "%s", name);
			i = n + 1;
		} else if (s[i] == '&') {
			const char *semi = strchr(s + i, ';');

			if (!semi)
				return false;
			u++;
			i = (size_t)(semi - s) + 1;
		} else {
			size_t n = 1;

			while ((s[i + n] & 0xC0) == 0x80)
				n++;
			u += tg_utf16_len(s + i, n);
			i += n;
		}
	}
	*units = u;
	return depth == 0;
}

static void inline_markup_becomes_tags(void **state)
{
	assert_renders("**bold** and *it* and `x<y` and ~~gone~~",
		       "<b>bold</b> and <i>it</i> and <code>x&lt;y</code> and <s>gone</s>");
	assert_renders("***both***", "<i><b>both</b></i>");
	/* md4c 0.4.8 never leaves this strikethrough: closed at the paragraph's end */
	assert_renders("x~~y [j](~~y) z\n\nnext", "x<s>y j z</s>\n\nnext");
}

static void links_keep_safe_schemes_only(void **state)
{
	assert_renders("[site](https://example.com/?a=1&b=2)",
		       "<a href=\"https://example.com/?a=1&amp;b=2\">site</a>");
	assert_renders("[x](javascript:alert(1))", "x");
	assert_renders("[x](data:text/html,hi)", "x");
	assert_renders("<mailto:me@example.com>",
		       "<a href=\"mailto:me@example.com\">mailto:me@example.com</a>");
	assert_renders("![a cat](https://example.com/cat.png)",
		       "<a href=\"https://example.com/cat.png\">a cat</a>");
}

static void headings_are_bold_lines_and_paragraphs_one_blank_line(void **state)
{
	assert_renders("# Title\n\nfirst\n\n\n\nsecond\nline",
		       "<b>Title</b>\n\nfirst\n\nsecond\nline");
	assert_renders("Setext\n===\ntext", "<b>Setext</b>\n\ntext");
}

static void lists_use_bullets_numbers_and_indentation(void **state)
{
	assert_renders("- a\n- b\n\nafter", "\xE2\x80\xA2 a\n\xE2\x80\xA2 b\n\nafter");
	assert_renders("3. x\n4. y", "3. x\n4. y");
	assert_renders("- a\n  - b\n    1. c\n- d",
		       "\xE2\x80\xA2 a\n  \xE2\x80\xA2 b\n    1. c\n\xE2\x80\xA2 d");
	assert_renders("- [x] done\n- [ ] todo", "\xE2\x98\x91 done\n\xE2\x98\x90 todo");
}

static void code_fences_keep_language_and_escape(void **state)
{
	assert_renders(
		"```python\nif a < b:\n    pass\n```\ntext",
		"<pre><code class=\"language-python\">if a &lt; b:\n    pass</code></pre>\n\n"
		"text");
	assert_renders("```\nplain & simple\n```", "<pre>plain &amp; simple</pre>");
	assert_renders("```x\" onclick=\"y\nz\n```", "<pre>z</pre>");
}

static void blockquotes_do_not_nest(void **state)
{
	assert_renders("> one\n>\n> two\n\nout", "<blockquote>one\n\ntwo</blockquote>\n\nout");
	assert_renders("> a\n>> b", "<blockquote>a\n\nb</blockquote>");
}

static void raw_html_is_escaped_text(void **state)
{
	assert_renders("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;");
	assert_renders("a < b & c", "a &lt; b &amp; c");
	assert_renders("<b>x</b> &copy; &amp; &#128512; &#0;",
		       "&lt;b&gt;x&lt;/b&gt; \xC2\xA9 &amp; \xF0\x9F\x98\x80 \xEF\xBF\xBD");
	assert_renders("&foo;", "&amp;foo;");
}

static void tables_become_aligned_pre(void **state)
{
	assert_renders("| a | bb |\n|---|---|\n| ccc | d |",
		       "<pre>a   | bb\n----+---\nccc | d</pre>");
}

static void plain_fallback_is_the_markdown(void **state)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(tg_format_plain("**x** <y>\xff", 10, &b), 0);
	assert_string_equal(buf_str(&b), "**x** <y>\xEF\xBF\xBD");
	buf_finish(&b);
}

static void output_cap_gives_e2big(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(tg_format_html("**hello world**", 15, &b), -E2BIG);
	buf_finish(&b);
}

static void utf16_len_counts_astral_twice(void **state)
{
	assert_int_equal(tg_utf16_len("hello", 5), 5);
	assert_int_equal(tg_utf16_len("\xC3\xA9", 2), 1);	  /* é */
	assert_int_equal(tg_utf16_len("\xE2\x82\xAC", 3), 1);	  /* € */
	assert_int_equal(tg_utf16_len("\xF0\x9F\x98\x80", 4), 2); /* 😀 */
	assert_int_equal(tg_utf16_len("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z", 11), 6);
	assert_int_equal(tg_utf16_len("\xF0\x9F\x98", 3), 3); /* cut sequence: 3 x U+FFFD */
	assert_int_equal(tg_utf16_len("\xED\xA0\x80", 3), 3); /* a surrogate in UTF-8 */
}

static void long_reply_with_emoji_splits_at_lines(void **state)
{
	struct buf md, html;
	struct tg_part *parts;
	size_t n, total = 0;

	buf_init(&md, 0);
	/* 10,000+ characters: lines of 49 characters and an emoji */
	for (int i = 0; i < 200; i++)
		buf_printf(&md, "line %03d \xF0\x9F\x98\x80 %s\n", i,
			   "lorem ipsum dolor sit amet consectetur adipi");
	assert_true(utf8_count(md.data, md.len) >= 10000);
	buf_init(&html, 0);
	assert_int_equal(tg_format_html(md.data, md.len, &html), 0);
	n = tg_split(html.data, html.len, TG_MAX_UNITS, &parts);
	assert_true(n >= 3);
	for (size_t i = 0; i < n; i++) {
		size_t units;

		assert_true(balanced(parts[i].text, &units));
		assert_int_equal(units, parts[i].units);
		assert_true(parts[i].units <= TG_MAX_UNITS);
		assert_int_equal(strlen(parts[i].text), parts[i].len);
		/* whole lines: each part starts a line and ends with one */
		assert_memory_equal(parts[i].text, "line ", 5);
		if (i + 1 < n)
			assert_int_equal(parts[i].text[parts[i].len - 1], '\n');
		total += parts[i].len;
	}
	assert_int_equal(total, html.len);
	tg_parts_free(parts, n);
	buf_finish(&html);
	buf_finish(&md);
}

static void emoji_never_cut_at_hard_cut(void **state)
{
	struct buf s;
	struct tg_part *parts;
	size_t n;

	buf_init(&s, 0);
	buf_puts(&s, "a");
	for (int i = 0; i < 50; i++)
		buf_puts(&s, "\xF0\x9F\x98\x80");
	n = tg_split(s.data, s.len, 10, &parts);
	assert_int_equal(n, 11);
	assert_int_equal(parts[0].units, 9); /* "a" + 4 emoji; a fifth would make 11 */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(tg_utf16_len(parts[i].text, parts[i].len), parts[i].units);
		assert_int_equal(utf8_cut(parts[i].text, parts[i].len), parts[i].len);
		assert_true(parts[i].units <= 10);
	}
	tg_parts_free(parts, n);
	buf_finish(&s);
}

static void long_code_fence_parts_have_balanced_pre(void **state)
{
	const char *reopened = "<pre><code class=\"language-c\">x = a[";
	struct buf md, html;
	struct tg_part *parts;
	size_t n;

	buf_init(&md, 0);
	buf_puts(&md, "intro\n\n```c\n");
	for (int i = 0; i < 100; i++)
		buf_printf(&md, "x = a[%d] < b && c; // line %d\n", i, i);
	buf_puts(&md, "```\n\nbye");
	buf_init(&html, 0);
	assert_int_equal(tg_format_html(md.data, md.len, &html), 0);
	n = tg_split(html.data, html.len, 500, &parts);
	assert_true(n >= 6);
	for (size_t i = 0; i < n; i++) {
		size_t units;

		assert_true(balanced(parts[i].text, &units));
		assert_true(units <= 500);
		if (i > 0 && i + 1 < n)
			assert_memory_equal(parts[i].text, reopened, strlen(reopened));
		/* entities are never cut */
		assert_null(strstr(parts[i].text, "&l</"));
	}
	assert_non_null(strstr(parts[n - 1].text, "bye"));
	tg_parts_free(parts, n);
	buf_finish(&html);
	buf_finish(&md);
}

static void nested_tags_are_reopened(void **state)
{
	const char *html = "<b>bold <i>both one two three four</i> bold</b> end";
	struct tg_part *parts;
	size_t n = tg_split(html, strlen(html), 16, &parts);

	assert_int_equal(n, 3);
	assert_string_equal(parts[0].text, "<b>bold <i>both one </i></b>");
	assert_string_equal(parts[1].text, "<b><i>two three four</i> </b>");
	assert_string_equal(parts[2].text, "<b>bold</b> end");
	assert_int_equal(parts[0].units, 14);
	tg_parts_free(parts, n);
}

static void long_line_cut_at_space(void **state)
{
	const char *text = "alpha beta gamma delta epsilon";
	struct tg_part *parts;
	size_t n = tg_split_plain(text, strlen(text), 12, &parts);

	assert_int_equal(n, 3);
	assert_string_equal(parts[0].text, "alpha beta ");
	assert_string_equal(parts[1].text, "gamma delta ");
	assert_string_equal(parts[2].text, "epsilon");
	tg_parts_free(parts, n);

	/* plain text: '<' and '&' are characters, not markup */
	n = tg_split_plain("<b>&amp;", 8, 4, &parts);
	assert_int_equal(n, 2);
	assert_string_equal(parts[0].text, "<b>&");
	tg_parts_free(parts, n);
}

static void short_and_blank_inputs(void **state)
{
	struct tg_part *parts;

	assert_int_equal(tg_split("hi", 2, TG_MAX_UNITS, &parts), 1);
	assert_string_equal(parts[0].text, "hi");
	tg_parts_free(parts, 1);
	assert_int_equal(tg_split("", 0, TG_MAX_UNITS, &parts), 0);
	assert_null(parts);
	assert_int_equal(tg_split(" \n <b> </b>", 11, TG_MAX_UNITS, &parts), 0);
	tg_parts_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(inline_markup_becomes_tags),
		cmocka_unit_test(links_keep_safe_schemes_only),
		cmocka_unit_test(headings_are_bold_lines_and_paragraphs_one_blank_line),
		cmocka_unit_test(lists_use_bullets_numbers_and_indentation),
		cmocka_unit_test(code_fences_keep_language_and_escape),
		cmocka_unit_test(blockquotes_do_not_nest),
		cmocka_unit_test(raw_html_is_escaped_text),
		cmocka_unit_test(tables_become_aligned_pre),
		cmocka_unit_test(plain_fallback_is_the_markdown),
		cmocka_unit_test(output_cap_gives_e2big),
		cmocka_unit_test(utf16_len_counts_astral_twice),
		cmocka_unit_test(long_reply_with_emoji_splits_at_lines),
		cmocka_unit_test(emoji_never_cut_at_hard_cut),
		cmocka_unit_test(long_code_fence_parts_have_balanced_pre),
		cmocka_unit_test(nested_tags_are_reopened),
		cmocka_unit_test(long_line_cut_at_space),
		cmocka_unit_test(short_and_blank_inputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
