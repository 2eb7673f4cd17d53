/* Fuzz target of the draft card's reader of the draft step's answer (tools/review.c): any
 * bytes as "draft\nanswer" must never crash, leak or read out of bounds; every mark kept is in
 * the draft, there are at most REVIEW_MARKS_MAX of each, each at most REVIEW_MARK_MAX bytes;
 * and the highlighted draft has exactly as many opening as closing marks.
 * Build: meson setup -Dfuzz=true (tests/meson.build).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "tools/review.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = xstrndup((const char *)data, size), *nl;
	struct review_card c = {0};
	struct buf h;

	nl = strchr(in, '\n');
	c.version = 1;
	c.destination = xstrdup("x");
	c.draft = xstrndup(in, nl ? (size_t)(nl - in) : strlen(in));
	c.never_invent = xstrdup("due dates\nowners");
	review_parse_marks(&c, nl ? nl + 1 : "");
	if (c.n_inferred > REVIEW_MARKS_MAX || c.n_unsourced > REVIEW_MARKS_MAX)
		abort();
	for (size_t i = 0; i < c.n_inferred; i++)
		if (!strstr(c.draft, c.inferred[i]) || strlen(c.inferred[i]) > REVIEW_MARK_MAX)
			abort();
	buf_init(&h, 0);
	review_highlight(&c, REVIEW_HTML_MARK, &h);
	if (count(buf_str(&h), "<mark>") != count(buf_str(&h), "</mark>"))
		abort();
	buf_finish(&h);
	free(c.draft);
	c.draft = xstrdup("");
	review_keep_present(&c);
	if (c.n_inferred || c.n_unsourced)
		abort();
	review_card_finish(&c);
	free(in);
	return 0;
}
