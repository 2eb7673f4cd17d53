/* html_text: reduces an HTML page to the plain text a model should read, and cleans plain text
 * from the network into valid UTF-8. Pure functions over bytes: no I/O, no allocation that
 * outlives a call, any input is safe (fuzzed by tests/fuzz/fuzz_html.c).
 */
#ifndef HERMETIC_HTML_TEXT_H
#define HERMETIC_HTML_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"

/* Appends the readable text of html[0..len) to out: the page <title> on the first line and a
 * blank line after it (when there is a title), then the text. Dropped: script, style,
 * noscript, template, svg, math and head contents, comments. Block elements become line
 * breaks (paragraph-like ones a blank line), list items start with "- ", links and other
 * inline elements keep their text, <pre> keeps its line breaks, entities are decoded, runs of
 * whitespace become one space, invalid UTF-8 becomes U+FFFD. Returns 0, or -E2BIG when out's
 * cap was reached (out then holds what fit, cut at a character boundary). */
int html_text_reduce(const char *html, size_t len, struct buf *out);

/* Appends text[0..len) to out as valid UTF-8: invalid sequences become U+FFFD, "\r\n" and
 * "\r" become "\n", NUL and other control characters except tab and newline are dropped.
 * Returns 0 or -E2BIG like html_text_reduce. */
int html_text_plain(const char *text, size_t len, struct buf *out);

/* True when data (the start of a body) looks like an HTML document: after an optional BOM and
 * whitespace, "<!doctype html", "<html", "<head", "<body" or "<title" (case-insensitive). */
bool html_text_sniff(const char *data, size_t len);

#endif
