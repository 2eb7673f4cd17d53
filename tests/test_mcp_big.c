/* mcp_big and core/toolout: an oversized MCP message read as it streams. The message that
 * stands for it (id, one text block, isError; or the error), at every split; escapes and
 * surrogates decoded; the excerpt and its note; the whole text in home/tool-output/ (0600),
 * or no file when agent.tool_output.keep is off; binary blocks as notes; requests and
 * messages without content; the hard cap and the depth cap; pruning by age and by total.
 */
#include "test.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/toolout.h"
#include "core/util.h"
#include "mcp/mcp_big.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

static char home[] = "/tmp/test_mcp_big.XXXXXX";
static struct config cfg;

static int setup(void **state)
{
	assert_non_null(mkdtemp(home));
	cfg.home = home;
	cfg.agent.tool_result_max_bytes = 1024;
	cfg.agent.tool_output.keep = true;
	cfg.agent.tool_output.max_bytes = 64 * 1024 * 1024;
	cfg.agent.tool_output.keep_days = 7;
	cfg.agent.tool_output.keep_total_bytes = 1024 * 1024 * 1024;
	return 0;
}

static int teardown(void **state)
{
	fileio_remove_tree(home);
	return 0;
}

/* Feeds msg in pieces of step bytes; returns the standing message, parsed. */
static cJSON *run(const char *msg, size_t len, size_t step, int *rc)
{
	struct mcp_big *b = mcp_big_create(&cfg, "srv");
	size_t at, n = 0;
	char *out;
	cJSON *j = NULL;

	*rc = 0;
	for (at = 0; at < len && *rc == 0; at += step)
		*rc = mcp_big_feed(b, msg + at, step < len - at ? step : len - at);
	out = *rc == 0 ? mcp_big_finish(b, &n) : NULL;
	if (out)
		j = json_parse(out, n, 0, NULL);
	if (out)
		assert_non_null(j);
	free(out);
	mcp_big_destroy(b);
	return j;
}

static const char *text_of(const cJSON *j)
{
	const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "result"), "content");

	return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(c, 0), "text"));
}

static void escapes_and_surrogates_at_every_split(void **state)
{
	static const char msg[] =
		"{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{\"content\":[{\"type\":\"text\","
		"\"text\":\"a\\n\\\"b\\\"\\\\ \\u00e9 \\ud83d\\ude00 \\udc00 \\/\"},"
		"{\"text\":\"second\",\"type\":\"text\"}],\"isError\":true,"
		"\"structuredContent\":{\"text\":\"not this\",\"n\":[1,2,{\"x\":null}]}}}\n";
	size_t step;

	for (step = 1; step <= sizeof(msg); step++) {
		int rc;
		cJSON *j = run(msg, sizeof(msg) - 1, step, &rc);

		assert_int_equal(rc, 0);
		assert_int_equal(cJSON_GetObjectItem(j, "id")->valueint, 42);
		assert_string_equal(text_of(j),
				    "a\n\"b\"\\ \xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbd /\nsecond");
		assert_true(cJSON_IsTrue(
			cJSON_GetObjectItem(cJSON_GetObjectItem(j, "result"), "isError")));
		cJSON_Delete(j);
	}
}

/* A message with text of n bytes (of 'A'), and the given id JSON. */
static char *big_msg(size_t n, const char *id, size_t *len)
{
	struct buf b;

	buf_init(&b, 0);
	buf_printf(&b,
		   "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"content\":[{\"type\":\"text\","
		   "\"text\":\"",
		   id);
	for (size_t i = 0; i < n; i++)
		buf_append(&b, "A", 1);
	buf_puts(&b, "\"}]}}");
	*len = b.len;
	return buf_steal(&b);
}

static size_t count_files(void)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/" TOOLOUT_DIR, home);
	if (access(dir, F_OK) != 0)
		return 0;
	return test_count_entries(dir);
}

static void excerpt_note_and_the_whole_in_a_file(void **state)
{
	size_t len, n = 3 * 1024 * 1024;
	char *msg = big_msg(n, "\"req-7\"", &len), path[512], want[128];
	int rc;
	cJSON *j = run(msg, len, 65536, &rc);
	const char *t, *note;
	struct buf kept;
	struct stat st;

	assert_int_equal(rc, 0);
	assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, "req-7");
	t = text_of(j);
	assert_true(strlen(t) <= (size_t)cfg.agent.tool_result_max_bytes);
	note = strstr(t, "\n[output cut: the first ");
	assert_non_null(note);
	snprintf(want, sizeof(want),
		 " of %zu bytes shown; the whole output is in %s/" TOOLOUT_DIR "/", n, home);
	assert_non_null(strstr(note, want));
	assert_int_equal(sscanf(strstr(note, " is in ") + 7, "%511[^]]", path), 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal((size_t)st.st_size, n);
	buf_init(&kept, 0);
	assert_int_equal(fileio_read(path, n, &kept), 0);
	assert_int_equal(strspn(kept.data, "A"), n);
	assert_int_equal(strspn(t, "A"), (size_t)(note - t));
	buf_finish(&kept);
	cJSON_Delete(j);
	free(msg);
}

static void nothing_kept_when_off(void **state)
{
	size_t len, before = count_files();
	char *msg = big_msg(200000, "1", &len);
	int rc;
	cJSON *j;

	cfg.agent.tool_output.keep = false;
	j = run(msg, len, 4096, &rc);
	cfg.agent.tool_output.keep = true;
	assert_non_null(strstr(text_of(j), " of 200000 bytes shown; the whole output was not kept "
					   "(agent.tool_output.keep: false)]"));
	assert_int_equal(count_files(), before);
	cJSON_Delete(j);
	free(msg);
}

static void small_text_has_no_note_and_no_file(void **state)
{
	size_t len, before = count_files();
	char *msg = big_msg(100, "3", &len);
	int rc;
	cJSON *j = run(msg, len, 7, &rc);

	assert_int_equal(strlen(text_of(j)), 100);
	assert_int_equal(count_files(), before);
	cJSON_Delete(j);
	free(msg);
}

static void binary_blocks_become_notes(void **state)
{
	static const char msg[] =
		"{\"id\":5,\"jsonrpc\":\"2.0\",\"result\":{\"content\":["
		"{\"type\":\"image\",\"mimeType\":\"image/png\",\"data\":\"QUJD\"},"
		"{\"type\":\"resource\",\"resource\":{\"uri\":\"f:/x\",\"mimeType\":"
		"\"text/plain\",\"text\":\"inside\"}}]}}";
	int rc;
	cJSON *j = run(msg, sizeof(msg) - 1, 3, &rc);

	assert_string_equal(text_of(j), "[image: image/png, 4 bytes of base64, not shown]\ninside");
	cJSON_Delete(j);
}

static void errors_and_answers_without_text(void **state)
{
	static const char err[] = "{\"jsonrpc\":\"2.0\",\"id\":9,\"error\":{\"code\":-32001,"
				  "\"message\":\"it \\\"broke\\\"\",\"data\":[1,2,3]}}";
	static const char empty[] = "{\"jsonrpc\":\"2.0\",\"id\":10,\"result\":{\"tools\":[]}}";
	int rc;
	cJSON *j = run(err, sizeof(err) - 1, 1, &rc), *e = cJSON_GetObjectItem(j, "error");

	assert_int_equal(cJSON_GetObjectItem(e, "code")->valueint, -32001);
	assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring, "it \"broke\"");
	cJSON_Delete(j);
	j = run(empty, sizeof(empty) - 1, 5, &rc);
	e = cJSON_GetObjectItem(j, "error");
	assert_int_equal(cJSON_GetObjectItem(e, "code")->valueint, -32603);
	assert_non_null(strstr(cJSON_GetObjectItem(e, "message")->valuestring, "held no text"));
	assert_int_equal(cJSON_GetObjectItem(j, "id")->valueint, 10);
	cJSON_Delete(j);
}

static void requests_and_bad_json_are_refused(void **state)
{
	static const char req[] =
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sampling/createMessage\","
		"\"params\":{}}";
	static const char *bad[] = {"{\"id\":1,\"result\":{]}", "{\"id\":1}x",
				    "{\"id\":1,\"a\":\"\\q\"}",
				    "{\"id\":1,\"result\":{\"content\":[{\"text\":\"cut"};
	struct mcp_big *b = mcp_big_create(&cfg, "srv");
	size_t i, n;

	assert_int_equal(mcp_big_feed(b, req, sizeof(req) - 1), 0);
	assert_null(mcp_big_finish(b, &n));
	assert_non_null(strstr(mcp_big_why(b), "request"));
	mcp_big_destroy(b);
	for (i = 0; i < ARRAY_LEN(bad); i++) {
		b = mcp_big_create(&cfg, "srv");
		if (mcp_big_feed(b, bad[i], strlen(bad[i])) == 0)
			assert_null(mcp_big_finish(b, &n));
		assert_true(*mcp_big_why(b));
		mcp_big_destroy(b);
	}
}

static void hard_cap_and_depth_cap(void **state)
{
	static const char head[] = "{\"id\":1,\"result\":{\"content\":[{\"text\":\"";
	struct mcp_big *b;
	char chunk[4096];
	int rc = 0;
	size_t i;

	cfg.agent.tool_output.max_bytes = 1024 * 1024;
	b = mcp_big_create(&cfg, "srv");
	memset(chunk, 'A', sizeof(chunk));
	assert_int_equal(mcp_big_feed(b, head, strlen(head)), 0);
	for (i = 0; i < 1000 && rc == 0; i++)
		rc = mcp_big_feed(b, chunk, sizeof(chunk));
	assert_int_equal(rc, -E2BIG);
	assert_true(i * sizeof(chunk) <= 1024 * 1024 + sizeof(chunk));
	assert_non_null(strstr(mcp_big_why(b), "agent.tool_output.max_bytes"));
	assert_int_equal(mcp_big_feed(b, "x", 1), -E2BIG); /* sticky */
	mcp_big_destroy(b);
	cfg.agent.tool_output.max_bytes = 64 * 1024 * 1024;

	b = mcp_big_create(&cfg, "srv");
	memset(chunk, '[', 100);
	assert_int_equal(mcp_big_feed(b, chunk, 100), -EPROTO);
	assert_non_null(strstr(mcp_big_why(b), "deeper than 64"));
	mcp_big_destroy(b);
}

static void write_kept(const char *name, size_t size, time_t mtime)
{
	char path[512];
	struct utimbuf t = {mtime, mtime};
	FILE *f;

	snprintf(path, sizeof(path), "%s/" TOOLOUT_DIR "/%s", home, name);
	f = fopen(path, "w");
	assert_non_null(f);
	for (size_t i = 0; i < size; i++)
		fputc('x', f);
	fclose(f);
	assert_int_equal(utime(path, &t), 0);
}

static void prune_by_age_and_total(void **state)
{
	char dir[512];
	time_t now = time(NULL);

	snprintf(dir, sizeof(dir), "%s/" TOOLOUT_DIR, home);
	fileio_remove_tree(dir);
	assert_int_equal(fileio_mkdirs(dir, 0700), 0);
	write_kept("old.txt", 10, now - 8 * 86400);
	write_kept("a.txt", 600 * 1024, now - 300);
	write_kept("b.txt", 600 * 1024, now - 200);
	write_kept("c.txt", 600 * 1024, now - 100);
	write_kept("other.dat", 10, now - 30 * 86400); /* not ours: left alone */
	cfg.agent.tool_output.keep_total_bytes = 1300 * 1024;
	assert_int_equal(toolout_prune(&cfg), 2); /* old.txt by age, then a.txt by total */
	cfg.agent.tool_output.keep_total_bytes = 1024 * 1024 * 1024;
	assert_int_equal(test_count_entries(dir), 3);
	snprintf(dir, sizeof(dir), "%s/" TOOLOUT_DIR "/b.txt", home);
	assert_int_equal(access(dir, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escapes_and_surrogates_at_every_split),
		cmocka_unit_test(excerpt_note_and_the_whole_in_a_file),
		cmocka_unit_test(nothing_kept_when_off),
		cmocka_unit_test(small_text_has_no_note_and_no_file),
		cmocka_unit_test(binary_blocks_become_notes),
		cmocka_unit_test(errors_and_answers_without_text),
		cmocka_unit_test(requests_and_bad_json_are_refused),
		cmocka_unit_test(hard_cap_and_depth_cap),
		cmocka_unit_test(prune_by_age_and_total),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
