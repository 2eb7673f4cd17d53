/* skill_pack and skill_hist's pure parts: a pack round-trips through the writer and reader
 * (and its manifest verifies), every unsafe member is refused with its reason, a changed
 * file fails the manifest, the content hash ignores order and the manifest, the CRC is
 * gzip's; skill_diff shows changed lines with context. */
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skills/skill_hist.h"
#include "skills/skill_pack.h"
#include "core/util.h"

static void sample(struct skill_pack *p)
{
	memset(p, 0, sizeof(*p));
	p->name = xstrdup("minutes");
	skill_pack_add(p, "SKILL.md", "---\nname: minutes\ndescription: x\n---\nbody\n", 40);
	skill_pack_add(p, "tests/basic.yaml", "- name: a\n", 10);
}

static void packed(struct skill_pack *p, struct buf *out)
{
	struct buf m;
	char hash[65];

	buf_init(&m, 0);
	skill_pack_content_hash(p, hash);
	skill_pack_manifest(p, hash, &m);
	skill_pack_add(p, SKILL_PACK_MANIFEST, m.data, m.len);
	skill_pack_write(p, out);
	buf_finish(&m);
}

static void a_pack_round_trips_and_verifies(void **state)
{
	struct skill_pack p, q;
	struct buf out, err;
	char h1[65], h2[65], stated[65];

	(void)state;
	sample(&p);
	skill_pack_content_hash(&p, h1);
	buf_init(&out, 0);
	buf_init(&err, 0);
	packed(&p, &out);
	assert_int_equal(skill_pack_read(out.data, out.len, &q, &err), 0);
	assert_string_equal(buf_str(&err), "");
	assert_string_equal(q.name, "minutes");
	assert_int_equal(q.n, 3);
	assert_string_equal(q.v[0].path, SKILL_PACK_MANIFEST); /* first */
	assert_int_equal(skill_pack_verify(&q, stated, &err), 0);
	assert_string_equal(stated, h1);
	skill_pack_content_hash(&q, h2); /* the manifest is not content */
	assert_string_equal(h1, h2);
	/* the same files give the same bytes (mtime 0, fixed owner) */
	{
		struct skill_pack r;
		struct buf again;

		sample(&r);
		buf_init(&again, 0);
		packed(&r, &again);
		assert_int_equal(again.len, out.len);
		assert_memory_equal(again.data, out.data, out.len);
		buf_finish(&again);
		skill_pack_finish(&r);
	}
	skill_pack_finish(&q);
	skill_pack_finish(&p);
	buf_finish(&err);
	buf_finish(&out);
}

static void a_changed_file_fails_the_manifest(void **state)
{
	struct skill_pack p, q;
	struct buf out, err;
	char stated[65];

	(void)state;
	sample(&p);
	buf_init(&out, 0);
	buf_init(&err, 0);
	packed(&p, &out);
	assert_int_equal(skill_pack_read(out.data, out.len, &q, &err), 0);
	for (size_t i = 0; i < q.n; i++)
		if (strcmp(q.v[i].path, "SKILL.md") == 0)
			q.v[i].data[q.v[i].len - 2] = 'X';
	assert_int_equal(skill_pack_verify(&q, stated, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "the sha256 of SKILL.md does not match"));
	skill_pack_finish(&q);
	/* a flipped byte in the stream: the gzip CRC */
	out.data[200] ^= 1;
	buf_reset(&err);
	assert_int_equal(skill_pack_read(out.data, out.len, &q, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "CRC"));
	assert_int_equal(q.n, 0);
	skill_pack_finish(&p);
	buf_finish(&err);
	buf_finish(&out);
}

static void unsafe_member_paths_are_refused(void **state)
{
	static const char *const bad[] = {
		"../x",		 "a/../b", "/etc/passwd", "a//b",   ".hidden",
		"a/.git/config", "",	   "a/",	  "sp ace", "a\\b",
	};
	static const char *const good[] = {"SKILL.md", "tests/basic.yaml", "a-b_c.d/e"};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		if (skill_pack_path_ok(bad[i]))
			print_error("accepted %s\n", bad[i]);
		assert_false(skill_pack_path_ok(bad[i]));
	}
	for (size_t i = 0; i < ARRAY_LEN(good); i++)
		assert_true(skill_pack_path_ok(good[i]));
}

/* A pack whose one member has path and whose reader must refuse it for why. */
static void refused_member(const char *path, const char *why)
{
	struct skill_pack p = {0}, q;
	struct buf out, err;

	p.name = xstrdup("minutes");
	skill_pack_add(&p, "SKILL.md", "x", 1);
	free(p.v[0].path);
	p.v[0].path = xstrdup(path);
	buf_init(&out, 0);
	buf_init(&err, 0);
	skill_pack_write(&p, &out);
	assert_int_equal(skill_pack_read(out.data, out.len, &q, &err), -EINVAL);
	if (!strstr(buf_str(&err), why))
		print_error("%s: expected '%s', got '%s'\n", path, why, buf_str(&err));
	assert_non_null(strstr(buf_str(&err), why));
	skill_pack_finish(&p);
	buf_finish(&err);
	buf_finish(&out);
}

static void the_reader_refuses_escapes(void **state)
{
	(void)state;
	refused_member("../../etc/cron.d/x", "is refused");
	refused_member(".ssh/authorized_keys", "is refused");
	struct skill_pack q;
	struct buf err;

	buf_init(&err, 0);
	/* "a" deflated with the fixed code: inflated, then the CRC-32 and length are checked,
	 * then it is not a tar */
	assert_int_equal(skill_pack_read("\x1f\x8b\x08\0\0\0\0\0\0\x03\x4b\x04\0"
					 "\0\0\0\0\x01\0\0\0",
					 21, &q, &err),
			 -EINVAL);
	assert_non_null(strstr(buf_str(&err), "CRC"));
	buf_reset(&err);
	assert_int_equal(skill_pack_read("\x1f\x8b\x08\0\0\0\0\0\0\x03\x4b\x04\0"
					 "\x43\xbe\xb7\xe8\x01\0\0\0",
					 21, &q, &err),
			 -EINVAL);
	assert_non_null(strstr(buf_str(&err), "tar: the archive has no end marker"));
	buf_reset(&err);
	/* a block of the reserved type 3 */
	assert_int_equal(skill_pack_read("\x1f\x8b\x08\0\0\0\0\0\0\x03\x07\0\0"
					 "\0\0\0\0\0\0\0\0",
					 21, &q, &err),
			 -EINVAL);
	assert_non_null(strstr(buf_str(&err), "deflate data is invalid"));
	buf_reset(&err);
	assert_int_equal(skill_pack_read("PK\3\4", 4, &q, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "not a gzip file"));
	buf_finish(&err);
}

static void crc32_is_gzips(void **state)
{
	(void)state;
	assert_int_equal(skill_pack_crc32(0, "123456789", 9), 0xcbf43926u);
	assert_int_equal(skill_pack_crc32(skill_pack_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
}

static void diff_shows_changes_with_context(void **state)
{
	const char *a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
	const char *b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\nten\n";
	struct buf d;

	(void)state;
	buf_init(&d, 0);
	skill_diff(a, strlen(a), a, strlen(a), &d);
	assert_string_equal(buf_str(&d), "");
	skill_diff(a, strlen(a), b, strlen(b), &d);
	assert_string_equal(buf_str(&d), "@@ line 3\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n+ten\n");
	buf_reset(&d);
	skill_diff("1\n2\n3\n4\n5\n6\n7\n8\n", 16, "x\n2\n3\n4\n5\n6\n7\ny\n", 16, &d);
	assert_string_equal(buf_str(&d), "@@ line 1\n-1\n+x\n 2\n 3\n@@ line 6\n 6\n 7\n-8\n+y\n");
	buf_reset(&d);
	skill_diff("", 0, "new\n", 4, &d);
	assert_string_equal(buf_str(&d), "@@ line 1\n+new\n");
	buf_finish(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_pack_round_trips_and_verifies),
		cmocka_unit_test(a_changed_file_fails_the_manifest),
		cmocka_unit_test(unsafe_member_paths_are_refused),
		cmocka_unit_test(the_reader_refuses_escapes),
		cmocka_unit_test(crc32_is_gzips),
		cmocka_unit_test(diff_shows_changes_with_context),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
