/* mcp_skills: a skills/list page read into entries, and a file checked against its entry
 * (size, sha256 digest, and for SKILL.md the front matter field by field) before it is used
 * (SEP-2640, "Integrity and verification"). */
#include "test.h"
#include "mcp/mcp_skills.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char skill_md[] = "---\n"
			       "name: pdf-processing\n"
			       "description: Extract, fill, and assemble PDF documents\n"
			       "metadata:\n"
			       "  version: 2.1\n"
			       "  beta: true\n"
			       "  tags: [pdf, \"forms\"]\n"
			       "---\n"
			       "\n"
			       "Skill body.\n";
static const char forms[] = "Supporting content.\n";

/* A one-entry skills/list result for skill_md and forms, with frontmatter fm. */
static char *page(const char *fm, const char *next)
{
	char d1[65], d2[65];

	sha256_hex(skill_md, strlen(skill_md), d1);
	sha256_hex(forms, strlen(forms), d2);
	return xasprintf("{\"skills\":[{\"uri\":\"skill://pdf-processing/SKILL.md\","
			 "\"frontmatter\":%s,\"resources\":["
			 "{\"uri\":\"skill://pdf-processing/SKILL.md\",\"digest\":\"sha256:%s\","
			 "\"size\":%zu},"
			 "{\"uri\":\"skill://pdf-processing/references/FORMS.md\","
			 "\"digest\":\"sha256:%s\",\"size\":%zu}]},"
			 "{\"uri\":\"skill://gen/SKILL.md\",\"frontmatter\":{\"name\":\"gen\"}},"
			 "{\"frontmatter\":{\"name\":\"no-uri\"}},"
			 "{\"uri\":\"skill://bad/SKILL.md\",\"frontmatter\":{},\"resources\":"
			 "[{\"uri\":\"skill://bad/SKILL.md\",\"digest\":\"md5:00\"}]}]%s%s%s}",
			 fm, d1, strlen(skill_md), d2, strlen(forms),
			 next ? ",\"nextCursor\":\"" : "", next ? next : "", next ? "\"" : "");
}

static const char fm_ok[] = "{\"name\":\"pdf-processing\",\"description\":\"Extract, fill, and "
			    "assemble PDF documents\",\"metadata\":{\"beta\":true,\"version\":2.1,"
			    "\"tags\":[\"pdf\",\"forms\"]}}";

static void a_listing_page_keeps_usable_entries_and_its_cursor(void **state)
{
	struct mcp_skill_list l = {0};
	char *p = page(fm_ok, "c2"), *cursor;

	assert_int_equal(mcp_skills_parse_page(p, strlen(p), &l, &cursor), 0);
	assert_string_equal(cursor, "c2");
	/* no uri, and a malformed digest, are dropped; a dynamic skill is kept, marked */
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].name, "pdf-processing");
	assert_string_equal(l.v[0].description, "Extract, fill, and assemble PDF documents");
	assert_int_equal(l.v[0].n_files, 2);
	assert_int_equal(l.v[0].files[1].size, (int64_t)strlen(forms));
	assert_false(l.v[0].dynamic);
	assert_string_equal(l.v[1].name, "gen");
	assert_true(l.v[1].dynamic);
	assert_string_equal(mcp_skill_rel_path(&l.v[0], l.v[0].files[1].uri),
			    "references/FORMS.md");
	assert_null(mcp_skill_rel_path(&l.v[0], "skill://other/SKILL.md"));
	free(cursor);
	assert_int_equal(mcp_skills_parse_page("[]", 2, &l, &cursor), -EBADMSG);
	assert_null(cursor);
	free(p);
	mcp_skill_list_finish(&l);
}

static void verify(const char *fm, const char *data, int want, const char *why_has)
{
	struct mcp_skill_list l = {0};
	char *p = page(fm, NULL), *cursor, why[512] = "";
	int rc;

	assert_int_equal(mcp_skills_parse_page(p, strlen(p), &l, &cursor), 0);
	rc = mcp_skill_verify(&l.v[0], &l.v[0].files[0], data, strlen(data), why, sizeof(why));
	if (rc != want)
		fail_msg("want %d, got %d (%s)", want, rc, why);
	if (why_has && !strstr(why, why_has))
		fail_msg("why \"%s\" lacks \"%s\"", why, why_has);
	free(p);
	mcp_skill_list_finish(&l);
}

static void skill_md_that_matches_its_entry_passes(void **state)
{
	verify(fm_ok, skill_md, 0, NULL);
}

static void a_different_size_is_refused_before_the_digest(void **state)
{
	char *longer = xasprintf("%sextra\n", skill_md);

	verify(fm_ok, longer, -EBADMSG, "bytes, the listing says");
	free(longer);
}

static void a_different_digest_is_refused(void **state)
{
	char *evil = xstrdup(skill_md);

	memcpy(strstr(evil, "Skill body."), "Evil body!!", 11);
	verify(fm_ok, evil, -EBADMSG, "has sha256");
	free(evil);
}

static void front_matter_that_differs_from_the_entry_is_refused(void **state)
{
	verify("{\"name\":\"pdf-processing\",\"description\":\"Exfiltrate credentials\","
	       "\"metadata\":{\"beta\":true,\"version\":2.1,\"tags\":[\"pdf\",\"forms\"]}}",
	       skill_md, -EBADMSG, "at \"description\"");
	/* a type differs: the string "2.1" is not the number 2.1 */
	verify("{\"name\":\"pdf-processing\",\"description\":\"Extract, fill, and assemble PDF "
	       "documents\",\"metadata\":{\"beta\":true,\"version\":\"2.1\",\"tags\":[\"pdf\","
	       "\"forms\"]}}",
	       skill_md, -EBADMSG, "at \"metadata\"");
	/* a field only the listing has */
	verify("{\"name\":\"pdf-processing\",\"description\":\"Extract, fill, and assemble PDF "
	       "documents\",\"license\":\"MIT\",\"metadata\":{\"beta\":true,\"version\":2.1,"
	       "\"tags\":[\"pdf\",\"forms\"]}}",
	       skill_md, -EBADMSG, "\"license\", which SKILL.md lacks");
}

static void front_matter_is_read_as_yaml_values(void **state)
{
	char *json = NULL, why[256];

	assert_int_equal(mcp_skill_frontmatter("---\r\na: 'x'\r\nb: 3\r\nc: ~\r\nd: no\r\n---\r\n",
					       40, &json, why, sizeof(why)),
			 0);
	assert_string_equal(json, "{\"a\":\"x\",\"b\":3,\"c\":null,\"d\":\"no\"}");
	free(json);
	assert_int_equal(mcp_skill_frontmatter("no front matter\n", 16, &json, why, sizeof(why)),
			 -EBADMSG);
	assert_non_null(strstr(why, "does not begin with"));
	assert_int_equal(mcp_skill_frontmatter("---\na: [\n---\n", 13, &json, why, sizeof(why)),
			 -EBADMSG);
	assert_int_equal(mcp_skill_frontmatter("---\n- a\n---\n", 12, &json, why, sizeof(why)),
			 -EBADMSG);
	assert_non_null(strstr(why, "not a mapping"));
	assert_int_equal(
		mcp_skill_frontmatter("---\na: &x 1\nb: *x\n---\n", 22, &json, why, sizeof(why)),
		-EBADMSG);
}

static void front_matter_nested_past_the_cap_is_refused(void **state)
{
	char deep[256] = "---\na: ", why[256], *json = NULL;
	size_t n = strlen(deep);

	for (int i = 0; i < 40; i++)
		deep[n++] = '[';
	for (int i = 0; i < 40; i++)
		deep[n++] = ']';
	memcpy(deep + n, "\n---\n", 6);
	n += 5;
	assert_int_equal(mcp_skill_frontmatter(deep, n, &json, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "too large or too deep"));
	assert_null(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_listing_page_keeps_usable_entries_and_its_cursor),
		cmocka_unit_test(skill_md_that_matches_its_entry_passes),
		cmocka_unit_test(a_different_size_is_refused_before_the_digest),
		cmocka_unit_test(a_different_digest_is_refused),
		cmocka_unit_test(front_matter_that_differs_from_the_entry_is_refused),
		cmocka_unit_test(front_matter_is_read_as_yaml_values),
		cmocka_unit_test(front_matter_nested_past_the_cap_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
