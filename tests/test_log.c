/* log: secrets never reach the file, control characters cannot forge lines, levels filter,
 * and the file rotates by size keeping the configured number of old files. */
#include "test.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/hermetic-test-log-XXXXXX";

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (!f)
		return NULL;
	buf_init(&b, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return buf_steal(&b);
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	log_set_stderr(0);
	return 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf %s", dir);
	int rc = system(cmd);

	free(cmd);
	log_close();
	log_forget_secrets();
	return rc;
}

static void registered_secret_is_redacted_in_file(void **state)
{
	char *path = xasprintf("%s/a.log", dir), *text;

	assert_int_equal(log_open_file(path, 0, 0), 0);
	log_add_secret("sk-or-v1-supersecret");
	log_info("calling upstream with key %s now", "sk-or-v1-supersecret");
	log_close();
	text = slurp(path);
	assert_non_null(text);
	assert_null(strstr(text, "supersecret"));
	assert_non_null(strstr(text, "with key [REDACTED] now"));
	assert_non_null(strstr(text, "[test_log.c:"));
	free(text);
	free(path);
}

static void newlines_in_messages_are_escaped(void **state)
{
	char *path = xasprintf("%s/b.log", dir), *text, *nl;

	assert_int_equal(log_open_file(path, 0, 0), 0);
	log_warn("user said %s", "hi\nFAKE 2026 error [x.c:1] forged");
	log_close();
	text = slurp(path);
	nl = strchr(text, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
	assert_non_null(strstr(text, "hi\\nFAKE"));
	free(text);
	free(path);
}

static void level_filters_lower_priority_lines(void **state)
{
	char *path = xasprintf("%s/c.log", dir), *text;

	assert_int_equal(log_open_file(path, 0, 0), 0);
	log_set_level(LOG_WARN);
	log_info("hidden line");
	log_warn("shown line");
	log_set_level(LOG_INFO);
	log_close();
	text = slurp(path);
	assert_null(strstr(text, "hidden"));
	assert_non_null(strstr(text, "shown line"));
	free(text);
	free(path);
}

static void file_rotates_by_size_and_keeps_n(void **state)
{
	char *path = xasprintf("%s/d.log", dir), *p1, *p2, *p3;
	struct stat st;
	int i;

	assert_int_equal(log_open_file(path, 300, 2), 0);
	for (i = 0; i < 40; i++)
		log_info("line number %d with some padding to fill the file", i);
	log_close();
	p1 = xasprintf("%s.1", path);
	p2 = xasprintf("%s.2", path);
	p3 = xasprintf("%s.3", path);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size <= 300);
	assert_int_equal(stat(p1, &st), 0);
	assert_int_equal(stat(p2, &st), 0);
	assert_int_not_equal(stat(p3, &st), 0);
	free(p1);
	free(p2);
	free(p3);
	free(path);
}

static void level_names_parse(void **state)
{
	enum log_level l;

	assert_int_equal(log_level_parse("debug", &l), 0);
	assert_int_equal(l, LOG_DEBUG);
	assert_int_not_equal(log_level_parse("verbose", &l), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(registered_secret_is_redacted_in_file),
		cmocka_unit_test(newlines_in_messages_are_escaped),
		cmocka_unit_test(level_filters_lower_priority_lines),
		cmocka_unit_test(file_rotates_by_size_and_keeps_n),
		cmocka_unit_test(level_names_parse),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
