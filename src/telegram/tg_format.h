/* tg_format: a model's Markdown reply as Telegram HTML-mode text, and the splitting of long
 * texts into messages within Telegram's length limit. Pure functions over bytes: no I/O, no
 * state between calls, any input is safe (fuzzed by tests/fuzz/fuzz_tg_format.c).
 */
#ifndef HERMETIC_TG_FORMAT_H
#define HERMETIC_TG_FORMAT_H

#include <stddef.h>

#include "core/util.h"

/* Telegram's sendMessage limit, in UTF-16 code units after entity parsing. */
#define TG_MAX_UNITS 4096

/* Appends markdown[0..len) (CommonMark with GFM tables, strikethrough and task lists) to out
 * as text for parse_mode=HTML, using only the tags b i s code pre a blockquote and the
 * entities &lt; &gt; &amp; &quot;; tags are always balanced and properly nested. Headings
 * become bold lines, list items "• " or "1. " lines indented by nesting, tables a <pre>
 * block, images a link whose text is the alt text, raw HTML in the Markdown plain escaped
 * text, links whose scheme is not http, https, tg or mailto their plain text. Paragraphs are
 * separated by one blank line; no leading or trailing line breaks.
 * Returns 0; -EINVAL when md4c fails (out then holds partial output: send the text through
 * tg_format_plain instead); -E2BIG when out's cap was reached (the same). */
int tg_format_html(const char *markdown, size_t len, struct buf *out);

/* The fallback when Telegram answers 400 "can't parse entities": appends markdown[0..len)
 * itself, unrendered (a model's Markdown reads well as it is), made valid UTF-8 by
 * html_text_plain. Returns 0 or -E2BIG. */
int tg_format_plain(const char *markdown, size_t len, struct buf *out);

/* UTF-16 code units of the UTF-8 text s[0..len): characters above U+FFFF count 2, others 1;
 * each byte of an invalid sequence counts 1 (it is sent as U+FFFD). */
size_t tg_utf16_len(const char *s, size_t len);

/* One message of a split text: a malloc'd NUL-terminated copy. */
struct tg_part {
	char *text;
	size_t len;   /* bytes */
	size_t units; /* UTF-16 units Telegram counts (see tg_split) */
};

/* Splits the HTML-mode text html[0..len) (as made by tg_format_html) into messages of at most
 * max_units UTF-16 units each (values below 2 count as 2), counted as Telegram does: after
 * entity parsing, so tags count nothing, &lt; &gt; &amp; &quot; count 1, a numeric entity 2
 * (conservatively) and every other character its UTF-16 length. A part ends after the last
 * line break that fits, else after the last space, else after the last character that fits;
 * never inside a tag, an entity or a UTF-8 sequence (so never between the halves of a
 * surrogate pair). Tags open at a cut are closed at the end of the part and reopened, with
 * their attributes, at the start of the next, so every part has balanced tags; closing tags
 * right after a cut stay with the part before it. Parts holding only whitespace are dropped.
 * Stores a malloc'd array in *parts (NULL when there is no part) and returns its length;
 * free with tg_parts_free. */
size_t tg_split(const char *html, size_t len, size_t max_units, struct tg_part **parts);

/* The same for plain text (the fallback path): every byte is text, '<' and '&' included. */
size_t tg_split_plain(const char *text, size_t len, size_t max_units, struct tg_part **parts);

/* Frees parts[0..n) and the array; accepts NULL. */
void tg_parts_free(struct tg_part *parts, size_t n);

#endif
