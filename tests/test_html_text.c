/* Tests of html_text: the title leads, invisible content (script, style, head, svg, comments)
 * is gone, blocks break lines, links keep their text, entities decode, whitespace collapses,
 * <pre> keeps its lines, broken markup and bytes stay safe, and the output cap holds at a
 * character boundary. Plain text cleaning and HTML sniffing too.
 */
#include "test.h"
#include "net/html_text.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static char *reduce_cap(const char *html, size_t cap, int *rc)
{
	struct buf out;

	buf_init(&out, cap);
	*rc = html_text_reduce(html, strlen(html), &out);
	return buf_steal(&out);
}

static void expect(const char *html, const char *want)
{
	int rc;
	char *got = reduce_cap(html, 1 << 20, &rc);

	assert_int_equal(rc, 0);
	if (strcmp(got, want) != 0)
		fail_msg("for %s\n got: [%s]\nwant: [%s]", html, got, want);
	free(got);
}

static void title_leads_and_head_script_style_are_dropped(void **state)
{
	expect("<!DOCTYPE html><html><head><meta charset=utf-8><title> My\n  Page </title>"
	       "<style>body{color:red}</style><script>var a = '<p>x</p>';</script>"
	       "<link rel=stylesheet href=x.css></head>"
	       "<body><h1>Hello</h1><p>World</p></body></html>",
	       "My Page\n\nHello\n\nWorld");
	expect("<p>no title here</p>", "no title here");
	expect("<title>Only a title</title>", "Only a title");
}

static void raw_text_elements_end_only_at_their_own_end_tag(void **state)
{
	expect("a<script>if (x < 1 && y > 2) document.write('</div><p>');</script >b", "ab");
	expect("a<style type=\"text/css\">p > a { }</STYLE>b", "ab");
	expect("a<noscript><img src=x>enable js</noscript>b", "ab");
	expect("a<script>never closed <p>text", "a");
	expect("a<scripts>kept</scripts>", "akept");
}

static void svg_template_and_comments_are_dropped(void **state)
{
	expect("<title>T</title><p>a<svg><title>icon</title><svg><g>x</g></svg>y</svg>b</p>",
	       "T\n\nab");
	expect("<p>a<!-- <p>hidden</p> -->b<!---->c</p>", "abc");
	expect("a<template><p>t</p></template>b", "ab");
	expect("a<!-- never closed", "a");
	expect("<?xml version=\"1.0\"?><!DOCTYPE x>text", "text");
}

static void svg_title_does_not_become_the_page_title(void **state)
{
	expect("<body><svg><title>icon</title></svg><p>x</p><title>Late</title></body>",
	       "Late\n\nx");
}

static void unclosed_head_ends_at_the_first_body_tag(void **state)
{
	expect("<head><title>T</title><meta x><div>body text</div>", "T\n\nbody text");
	expect("<html><head><title>T</title><body>b", "T\n\nb");
}

static void blocks_break_lines_and_inline_keeps_text(void **state)
{
	expect("<div>one</div><div>two</div><p>three</p>four", "one\ntwo\n\nthree\n\nfour");
	expect("a<br>b<br/><br />c", "a\nb\n\nc");
	expect("<p>Read <a href=\"/x\">the <b>docs</b></a> now.</p>", "Read the docs now.");
	expect("<ul><li>one</li><li>two <i>2</i></li></ul><p>after</p>", "- one\n- two 2\n\nafter");
	expect("<table><tr><td>a</td><td>b</td></tr><tr><th>c</th><td>d</td></tr></table>",
	       "a b\nc d");
	expect("<h2>Title</h2><p>x</p><hr><p>y</p>", "Title\n\nx\n\ny");
}

static void entities_decode(void **state)
{
	expect("&amp; &lt; &gt; &quot; &#39; &apos;", "& < > \" ' '");
	expect("&#65;&#x42;&#X43;&#x20AC;&#8212;", "ABC\xe2\x82\xac\xe2\x80\x94");
	expect("a&nbsp;b&nbsp;&nbsp;c", "a b c");
	expect("caf&eacute; &copy; &mdash; &hellip;",
	       "caf\xc3\xa9 \xc2\xa9 \xe2\x80\x94 \xe2\x80\xa6");
	/* Windows-1252 numbers, invalid numbers, unknown names, bare ampersands. */
	expect("&#150;&#0;&#xD800;&#x110000;", "\xe2\x80\x93\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	expect("AT&T &unknown; & &# &#x; &amp", "AT&T &unknown; & &# &#x; &");
	expect("&#1234567890123456789;", "\xef\xbf\xbd");
	expect("&lt;p&gt; stays text", "<p> stays text");
	expect("a &#10; b&#1;c", "a bc");
}

static void whitespace_collapses(void **state)
{
	expect("  \n\t a   b \r\n c  ", "a b c");
	expect("<p>  x  </p>  <p>  y  </p>", "x\n\ny");
	expect("a <span> b </span> c", "a b c");
}

static void pre_keeps_its_lines(void **state)
{
	expect("<p>x</p><pre>\nline 1\n  indented\n\n\nline 4</pre>y",
	       "x\n\nline 1\n  indented\n\nline 4\n\ny");
}

static void broken_markup_is_safe(void **state)
{
	expect("a < b and c<d", "a < b and c");
	expect("1 <3", "1 <3");
	expect("<p title=\"a > b\" data-x='<p>'>text</p>", "text");
	expect("<div", "");
	expect("x</", "x</");
	expect("x</ >y", "x</ >y");
	expect("<averyveryverylongtagnamethatisnotknown>t</averyveryverylongtagnamethatisnotknown>",
	       "t");
	expect("</p></div>text</li>", "text");
}

static void invalid_utf8_becomes_replacement_and_controls_vanish(void **state)
{
	expect("a\xff"
	       "b\xc3\x28"
	       "c\xed\xa0\x80"
	       "d\xe2\x82",
	       "a\xef\xbf\xbd"
	       "b\xef\xbf\xbd(c"
	       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	       "d\xef\xbf\xbd\xef\xbf\xbd");
	expect("a\x01\x02"
	       "b\x7f"
	       "c",
	       "abc");
	expect("\xef\xbb\xbf<p>bom</p>", "bom");
	expect("\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80", "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80");
}

static void output_cap_returns_e2big_at_a_character_boundary(void **state)
{
	int rc;
	char *got = reduce_cap("<p>\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9</p>", 5, &rc);

	assert_int_equal(rc, -E2BIG);
	assert_string_equal(got, "\xc3\xa9\xc3\xa9");
	free(got);
	got = reduce_cap("<title>T</title><p>abcdefgh</p>", 8, &rc);
	assert_int_equal(rc, -E2BIG);
	assert_string_equal(got, "T\n\nabcde");
	free(got);
}

static void long_titles_are_cut_not_failed(void **state)
{
	static char html[2100];
	char *got;
	int rc;

	memcpy(html, "<title>", 7);
	memset(html + 7, 'x', 2000);
	memcpy(html + 2007, "</title>body", 13);
	got = reduce_cap(html, 1 << 20, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(strlen(got), 512 + 2 + 4);
	assert_string_equal(got + 514, "body");
	free(got);
}

static void plain_text_is_cleaned(void **state)
{
	struct buf out;
	const char in[] = "a\r\nb\rc\nd\te\0f\x01g\xff";

	buf_init(&out, 1024);
	assert_int_equal(html_text_plain(in, sizeof(in) - 1, &out), 0);
	assert_string_equal(buf_str(&out), "a\nb\nc\nd\tefg\xef\xbf\xbd");
	buf_reset(&out);
	buf_finish(&out);
	buf_init(&out, 3);
	assert_int_equal(html_text_plain("abcdef", 6, &out), -E2BIG);
	assert_string_equal(buf_str(&out), "abc");
	buf_finish(&out);
}

static bool sniff(const char *s)
{
	return html_text_sniff(s, strlen(s));
}

static void sniff_recognises_documents_only(void **state)
{
	assert_true(sniff("<!DOCTYPE html>"));
	assert_true(sniff("\xef\xbb\xbf  \n<HTML lang=en>"));
	assert_true(sniff("<head>"));
	assert_true(sniff("<title>x"));
	assert_false(sniff("<htmlx>"));
	assert_false(sniff("{\"a\":1}"));
	assert_false(sniff("<?xml version=\"1.0\"?>"));
	assert_false(sniff(""));
	assert_false(sniff("<ht"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(title_leads_and_head_script_style_are_dropped),
		cmocka_unit_test(raw_text_elements_end_only_at_their_own_end_tag),
		cmocka_unit_test(svg_template_and_comments_are_dropped),
		cmocka_unit_test(svg_title_does_not_become_the_page_title),
		cmocka_unit_test(unclosed_head_ends_at_the_first_body_tag),
		cmocka_unit_test(blocks_break_lines_and_inline_keeps_text),
		cmocka_unit_test(entities_decode),
		cmocka_unit_test(whitespace_collapses),
		cmocka_unit_test(pre_keeps_its_lines),
		cmocka_unit_test(broken_markup_is_safe),
		cmocka_unit_test(invalid_utf8_becomes_replacement_and_controls_vanish),
		cmocka_unit_test(output_cap_returns_e2big_at_a_character_boundary),
		cmocka_unit_test(long_titles_are_cut_not_failed),
		cmocka_unit_test(plain_text_is_cleaned),
		cmocka_unit_test(sniff_recognises_documents_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
