/* audit: a line is one JSON object on one line; registered secrets never reach it; string
 * fields are cut at 256 bytes on a character boundary; message text only with include_text;
 * nothing is written while the trail is closed; the file rotates by size keeping `keep`. */
#include "test.h"
#include "core/audit.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/hermetic-test-audit-XXXXXX";

/* The file's text (fileio_read: capped, NUL-terminated), or NULL. */
static char *slurp(const char *path)
{
	struct buf b;

	buf_init(&b, 0);
	if (fileio_read(path, 1 << 20, &b) < 0) {
		buf_finish(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static char *path_of(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf %s", dir);
	int rc = system(cmd);

	(void)state;
	free(cmd);
	return rc == 0 ? 0 : -1;
}

static void test_a_line_is_json_without_secrets_or_text(void **state)
{
	char *path = path_of("a.jsonl"), *text, long_name[400], ascii_257[258], ascii_256[257];
	struct audit_line l;
	cJSON *j;

	(void)state;
	log_add_secret("sk-audit-SECRET-1234");
	assert_int_equal(audit_open(path, 0, 0, false), 0);
	memset(long_name, 'x', sizeof(long_name));
	memcpy(long_name + 255, "\xc3\xa9", 2); /* a 2-byte character across the 256th byte */
	long_name[sizeof(long_name) - 1] = '\0';
	memset(ascii_257, 'a', 257); /* plain ASCII: kept whole up to the cap, cut past it */
	ascii_257[257] = '\0';
	memset(ascii_256, 'b', 256);
	ascii_256[256] = '\0';
	audit_begin(&l, "attempt");
	audit_str(&l, "error", "bad key sk-audit-SECRET-1234 \"quoted\"\nnext");
	audit_str(&l, "model_group", long_name);
	audit_str(&l, "missing", NULL);
	audit_str(&l, "ascii_257", ascii_257);
	audit_str(&l, "ascii_256", ascii_256);
	audit_word(&l, "outcome", "http_error");
	audit_word(&l, "absent", NULL);
	audit_int(&l, "status", 429);
	audit_num(&l, "cost_usd", 0.25);
	audit_bool(&l, "billed", false);
	audit_hash(&l, "args_sha256", "{}", 2);
	audit_text(&l, "text", "PRIVATE words");
	audit_end(&l);
	audit_close();
	text = slurp(path);
	assert_non_null(text);
	assert_null(strstr(text, "SECRET"));
	assert_null(strstr(text, "PRIVATE"));
	assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text)); /* one line */
	j = cJSON_Parse(text);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "kind")->valuestring, "attempt");
	assert_non_null(strstr(cJSON_GetObjectItem(j, "error")->valuestring, "[REDACTED]"));
	assert_int_equal(strlen(cJSON_GetObjectItem(j, "model_group")->valuestring), 255);
	assert_null(cJSON_GetObjectItem(j, "missing"));
	assert_int_equal(strlen(cJSON_GetObjectItem(j, "ascii_257")->valuestring), 256);
	assert_string_equal(cJSON_GetObjectItem(j, "ascii_256")->valuestring, ascii_256);
	assert_string_equal(cJSON_GetObjectItem(j, "outcome")->valuestring, "http_error");
	assert_null(cJSON_GetObjectItem(j, "absent"));
	assert_true(strstr(text, "\"cost_usd\":0.25,") != NULL);
	assert_int_equal(cJSON_GetObjectItem(j, "status")->valueint, 429);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "billed")));
	/* sha256("{}") = 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a */
	assert_string_equal(cJSON_GetObjectItem(j, "args_sha256")->valuestring, "44136fa355b3678a");
	assert_null(cJSON_GetObjectItem(j, "text"));
	cJSON_Delete(j);
	free(text);
	free(path);
}

static void test_include_text_adds_text_cut_at_4_kib(void **state)
{
	char *path = path_of("t.jsonl"), *text, *big = xmalloc(6000);
	struct audit_line l;
	cJSON *j;

	(void)state;
	memset(big, 'w', 5999);
	big[5999] = '\0';
	assert_int_equal(audit_open(path, 0, 0, true), 0);
	audit_begin(&l, "turn");
	audit_text(&l, "text", "hello");
	audit_text(&l, "answer", big);
	audit_end(&l);
	audit_close();
	text = slurp(path);
	j = cJSON_Parse(text);
	assert_string_equal(cJSON_GetObjectItem(j, "text")->valuestring, "hello");
	assert_int_equal(strlen(cJSON_GetObjectItem(j, "answer")->valuestring), AUDIT_TEXT_MAX);
	cJSON_Delete(j);
	free(text);
	free(big);
	free(path);
}

static void test_closed_writes_nothing_and_the_file_rotates(void **state)
{
	char *path = path_of("r.jsonl"), *one = path_of("r.jsonl.1"), *two = path_of("r.jsonl.2");
	struct audit_line l;
	struct stat st;

	(void)state;
	audit_begin(&l, "turn"); /* closed: a no-op, nothing to free */
	audit_str(&l, "source", "x");
	audit_end(&l);
	assert_false(audit_is_open());
	assert_int_equal(audit_open(path, 200, 1, false), 0);
	for (int i = 0; i < 12; i++) {
		audit_begin(&l, "tool");
		audit_int(&l, "n", i);
		audit_end(&l);
	}
	audit_close();
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size <= 200);
	assert_int_equal(stat(one, &st), 0);
	assert_true(st.st_size <= 200);
	assert_int_not_equal(stat(two, &st), 0); /* keep 1 */
	free(path);
	free(one);
	free(two);
}

static void test_numbers_print_exactly_without_printf(void **state)
{
	char *path = path_of("n.jsonl"), *text;
	struct audit_line l;

	(void)state;
	assert_int_equal(audit_open(path, 0, 0, false), 0);
	audit_begin(&l, "n");
	audit_num(&l, "a", 0.25);
	audit_num(&l, "b", 0);
	audit_num(&l, "c", 1.5e-7);
	audit_num(&l, "d", -2);
	audit_num(&l, "e", 123.000000001);
	audit_num(&l, "f", 0.9999999999);
	audit_num(&l, "g", 0.0 / 0.0);
	audit_int(&l, "h", -9007199254740993LL);
	audit_end(&l);
	audit_close();
	text = slurp(path);
	assert_non_null(strstr(text, "\"a\":0.25,\"b\":0,\"c\":0.00000015,\"d\":-2,"
				     "\"e\":123.000000001,\"f\":1,\"g\":null,"
				     "\"h\":-9007199254740993}\n"));
	free(text);
	free(path);
}

/* Fields are spelled without the general paths (a plain value copied between quotes, digits
 * written beside their key): the bytes are still what buf_json_str and fmt_int make, for
 * values around the eight-byte steps, with each character that needs escaping at each place,
 * not ASCII, or invalid UTF-8, and for integers at their ends and keys past the short ones. */
static void test_fields_are_the_bytes_of_the_general_paths(void **state)
{
	static const char *const specials[] = {"\"", "\\",	 "\n",	 "\x1f", "\x7f",
					       " ",  "\xc3\xa9", "\xff", "~"};
	static const int64_t ints[] = {0, 7, -1, 10, 429, INT64_MAX, INT64_MIN};
	char *path = path_of("f.jsonl"), *text, v[40], digits[INT_TEXT_MAX + 1];
	struct buf want, cut;
	struct audit_line l;
	const char *p;

	(void)state;
	buf_init(&want, 0);
	buf_init(&cut, 0);
	assert_int_equal(audit_open(path, 0, 0, false), 0);
	audit_begin(&l, "f");
	for (size_t len = 0; len <= 17; len++) {
		for (size_t s = 0; s < ARRAY_LEN(specials); s++) {
			for (size_t at = 0; at < len; at += 3) {
				size_t sl = strlen(specials[s]);

				memset(v, 'a' + (int)(len % 26), len);
				memcpy(v + at, specials[s], at + sl <= len ? sl : len - at);
				v[len] = '\0';
				audit_str(&l, "s", v);
				buf_puts(&want, ",\"s\":");
				/* a string field is cut first, which makes invalid UTF-8 U+FFFD */
				buf_reset(&cut);
				utf8_clip(&cut, v, strlen(v), AUDIT_STR_MAX, false);
				buf_json_str(&want, buf_str(&cut), cut.len);
				audit_word(&l, "w", v);
				buf_puts(&want, ",\"w\":");
				buf_json_str(&want, v, strlen(v));
			}
		}
		memset(v, 'p', len);
		v[len] = '\0';
		audit_str(&l, "plain", v);
		buf_printf(&want, ",\"plain\":\"%s\"", v);
	}
	for (size_t i = 0; i < ARRAY_LEN(ints); i++) {
		digits[fmt_int(digits, ints[i])] = '\0';
		audit_int(&l, "n", ints[i]);
		audit_int(&l, "a_key_longer_than_any_the_router_writes_in_its_lines", ints[i]);
		buf_printf(&want,
			   ",\"n\":%s,\"a_key_longer_than_any_the_router_writes_in_its_lines\":%s",
			   digits, digits);
	}
	audit_end(&l);
	audit_close();
	text = slurp(path);
	assert_non_null(text);
	/* {"ts":"2026-11-26T01:53:15.123Z","kind":"f" */
	assert_int_equal(strncmp(text, "{\"ts\":\"", 7), 0);
	assert_int_equal(strncmp(text + 7 + 19, ".", 1), 0);
	p = text + 7 + 23;
	assert_int_equal(strncmp(p, "Z\",\"kind\":\"f\"", 13), 0);
	p += 13;
	assert_int_equal(strlen(p), want.len + 2);
	assert_memory_equal(p, buf_str(&want), want.len);
	assert_string_equal(p + want.len, "}\n");
	buf_finish(&want);
	buf_finish(&cut);
	free(text);
	free(path);
}

/* A line's buffer is kept for the next: two lines open at once (one begun while another is
 * being built) each keep their own fields. */
static void two_lines_open_at_once_keep_their_fields(void **state)
{
	char *path = path_of("o.jsonl"), *text, *second;
	struct audit_line a, b;

	(void)state;
	assert_int_equal(audit_open(path, 0, 0, false), 0);
	audit_begin(&a, "first");
	audit_begin(&b, "seen"); /* the first line's used buffer is kept: this one reuses it */
	audit_end(&b);
	audit_begin(&b, "second");
	audit_int(&a, "n", 1);
	audit_int(&b, "n", 2);
	audit_end(&b);
	audit_end(&a);
	audit_close();
	text = slurp(path);
	assert_non_null(text);
	second = strstr(text, "\"kind\":\"second\",\"n\":2}\n");
	assert_non_null(second);
	assert_non_null(strstr(second, "\"kind\":\"first\",\"n\":1}\n"));
	assert_non_null(strstr(text, "\"kind\":\"seen\"}\n"));
	free(text);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_line_is_json_without_secrets_or_text),
		cmocka_unit_test(test_include_text_adds_text_cut_at_4_kib),
		cmocka_unit_test(test_closed_writes_nothing_and_the_file_rotates),
		cmocka_unit_test(test_numbers_print_exactly_without_printf),
		cmocka_unit_test(test_fields_are_the_bytes_of_the_general_paths),
		cmocka_unit_test(two_lines_open_at_once_keep_their_fields),
	};

	log_set_stderr(0);
	return cmocka_run_group_tests(tests, setup, teardown);
}
