/* fileio: capped reads refuse what is too big or not a regular file (a FIFO must not block),
 * the atomic replace leaves the old file and no temp file when a write fails, mkdir -p, the
 * recursive delete removes symlinks without following them, and the root check is by
 * component, not by string prefix. Also the argument helpers of the tools (tool_args.c). */
#include "test.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "tools/tool.h"
#include "core/util.h"

static char *tmpdir(void)
{
	char *d = xstrdup("/tmp/hm-fileio-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void read_is_capped_and_regular_files_only(void **state)
{
	char *d = tmpdir(), *file = xasprintf("%s/f", d), *fifo = xasprintf("%s/p", d);
	struct buf b;
	size_t size = 0;

	(void)state;
	buf_init(&b, 0);
	write_text(file, "0123456789");
	assert_int_equal(fileio_read(file, 10, &b), 0);
	assert_string_equal(buf_str(&b), "0123456789");
	buf_reset(&b);
	assert_int_equal(fileio_read(file, 9, &b), -EFBIG);
	assert_int_equal(b.len, 0);
	assert_int_equal(fileio_read_head(file, 4, &b, &size), 0);
	assert_string_equal(buf_str(&b), "0123");
	assert_int_equal(size, 10);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(fileio_read(fifo, 100, &b), -EINVAL);
	assert_int_equal(fileio_read(d, 100, &b), -EINVAL);
	assert_int_equal(fileio_read("/nonexistent/x", 100, &b), -ENOENT);
	buf_finish(&b);
	assert_int_equal(fileio_remove_tree(d), 0);
	free(fifo);
	free(file);
	free(d);
}

static void atomic_write_replaces_or_leaves_the_old_file(void **state)
{
	char *d = tmpdir(), *file = xasprintf("%s/f", d);
	struct rlimit old, small = {.rlim_cur = 4};
	struct stat st;
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(fileio_write_atomic(file, "old", 3, 0640), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_int_equal(fileio_write_atomic(file, "new and longer", 14, 0600), -EFBIG);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(fileio_read(file, 100, &b), 0);
	assert_string_equal(buf_str(&b), "old");
	assert_int_equal(test_count_entries(d), 1);
	assert_int_equal(fileio_write_atomic("/nonexistent/dir/f", "x", 1, 0600), -ENOENT);
	buf_finish(&b);
	assert_int_equal(fileio_remove_tree(d), 0);
	free(file);
	free(d);
}

/* The one write loop (files, the log, rotated files): all bytes land, and a failing write
 * returns its errno instead of retrying. */
static void write_all_writes_everything_or_returns_the_error(void **state)
{
	char *d = tmpdir(), *file = xasprintf("%s/w", d);
	struct buf b;
	int fd, p[2];

	(void)state;
	buf_init(&b, 0);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fileio_write_all(fd, "one two", 7), 0);
	assert_int_equal(fileio_write_all(fd, "", 0), 0);
	close(fd);
	assert_int_equal(fileio_read(file, 100, &b), 0);
	assert_string_equal(buf_str(&b), "one two");
	assert_int_equal(fileio_write_all(-1, "x", 1), -EBADF);
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(fileio_write_all(p[1], "x", 1), -EPIPE);
	signal(SIGPIPE, SIG_DFL);
	close(p[1]);
	buf_finish(&b);
	assert_int_equal(fileio_remove_tree(d), 0);
	free(file);
	free(d);
}

/* The shared step of both atomic replaces: the temp file gets its mode and data and is closed;
 * on a failed write the error comes back and the descriptor is closed all the same. */
static void fill_temp_writes_sets_mode_and_always_closes(void **state)
{
	char *d = tmpdir(), *file = xasprintf("%s/t", d);
	struct stat st;
	struct buf b;
	int fd;

	(void)state;
	buf_init(&b, 0);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fileio_fill_temp(fd, 0640, "data", 4), 0);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(fileio_read(file, 100, &b), 0);
	assert_string_equal(buf_str(&b), "data");
	fd = open(file, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fileio_fill_temp(fd, 0600, "x", 1), -EBADF);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	buf_finish(&b);
	assert_int_equal(fileio_remove_tree(d), 0);
	free(file);
	free(d);
}

static void mkdirs_creates_parents_and_refuses_files(void **state)
{
	char *d = tmpdir(), *deep = xasprintf("%s/a/b/c/", d), *file = xasprintf("%s/f", d);
	char *under = xasprintf("%s/f/x", d);
	struct stat st;

	(void)state;
	assert_int_equal(fileio_mkdirs(deep, 0700), 0);
	assert_int_equal(fileio_mkdirs(deep, 0700), 0);
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	write_text(file, "x");
	assert_int_equal(fileio_mkdirs(under, 0700), -ENOTDIR);
	assert_int_equal(fileio_remove_tree(d), 0);
	free(under);
	free(file);
	free(deep);
	free(d);
}

static void remove_tree_never_follows_symlinks(void **state)
{
	char *d = tmpdir(), *outside = tmpdir();
	char *keep = xasprintf("%s/keep", outside), *victim = xasprintf("%s/t", d);
	char *link = xasprintf("%s/t/sub/link", d), *file = xasprintf("%s/t/sub/f", d);
	char *dirlink = xasprintf("%s/dirlink", d);
	struct stat st;

	(void)state;
	assert_int_equal(fileio_mkdirs(link, 0700), 0);
	assert_int_equal(rmdir(link), 0);
	write_text(keep, "keep");
	write_text(file, "x");
	assert_int_equal(symlink(outside, link), 0);
	assert_int_equal(fileio_remove_tree(victim), 0);
	assert_int_equal(lstat(victim, &st), -1);
	assert_int_equal(stat(keep, &st), 0);
	/* the tree itself must be a directory, not a link to one */
	assert_int_equal(symlink(outside, dirlink), 0);
	assert_int_equal(fileio_remove_tree(dirlink), -ENOTDIR);
	assert_int_equal(stat(keep, &st), 0);
	assert_int_equal(fileio_remove_tree(d), 0);
	assert_int_equal(fileio_remove_tree(outside), 0);
	free(dirlink);
	free(file);
	free(link);
	free(victim);
	free(keep);
	free(outside);
	free(d);
}

static void within_compares_whole_components(void **state)
{
	(void)state;
	assert_true(fileio_within("/a/b", "/a/b"));
	assert_true(fileio_within("/a/b", "/a/b/c"));
	assert_false(fileio_within("/a/b", "/a/bc"));
	assert_false(fileio_within("/a/b", "/a"));
	assert_true(fileio_within("/", "/etc/passwd"));
}

static void utf8_count_counts_code_points(void **state)
{
	(void)state;
	assert_int_equal(utf8_count("abc", 3), 3);
	assert_int_equal(utf8_count("\xc3\xa9t\xc3\xa9", 5), 3);
	assert_int_equal(utf8_count("\xf0\x9f\x99\x82", 4), 1);
}

static void tool_args_name_the_argument_and_the_fix(void **state)
{
	cJSON *a = cJSON_Parse("{\"s\":\"x\",\"n\":5,\"ns\":\"12\",\"f\":1.5,\"big\":1e300,"
			       "\"null\":null,\"neg\":\"-3\"}");
	struct buf err;
	bool bad = false;

	(void)state;
	buf_init(&err, 0);
	assert_string_equal(tool_arg_str(a, "s", true, &err), "x");
	assert_null(tool_arg_str(a, "missing", false, &err));
	assert_null(tool_arg_str(a, "null", false, &err));
	assert_int_equal(err.len, 0);
	assert_null(tool_arg_str(a, "missing", true, &err));
	assert_string_equal(buf_str(&err), "missing required argument missing");
	buf_reset(&err);
	assert_null(tool_arg_str(a, "n", true, &err));
	assert_string_equal(buf_str(&err), "n must be a string");
	buf_reset(&err);
	assert_int_equal(tool_arg_int(a, "n", 1, 0, 10, &bad, &err), 5);
	assert_int_equal(tool_arg_int(a, "ns", 1, 0, 100, &bad, &err), 12);
	assert_int_equal(tool_arg_int(a, "missing", 7, 0, 10, &bad, &err), 7);
	assert_int_equal(tool_arg_int(a, "null", 7, 0, 10, &bad, &err), 7);
	assert_false(bad);
	assert_int_equal(err.len, 0);
	assert_int_equal(tool_arg_int(a, "f", 7, 0, 10, &bad, &err), 7);
	assert_true(bad);
	assert_string_equal(buf_str(&err), "f must be an integer from 0 to 10");
	buf_reset(&err);
	bad = false;
	assert_int_equal(tool_arg_int(a, "big", 7, 0, 10, &bad, &err), 7);
	assert_true(bad);
	bad = false;
	assert_int_equal(tool_arg_int(a, "n", 7, 6, 10, &bad, &err), 7);
	assert_true(bad);
	bad = false;
	assert_int_equal(tool_arg_int(a, "neg", 7, 0, 10, &bad, &err), 7);
	assert_true(bad);
	assert_int_equal(tool_arg_int(a, "s", 7, 0, 10, NULL, &err), 7);
	buf_finish(&err);
	cJSON_Delete(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(read_is_capped_and_regular_files_only),
		cmocka_unit_test(atomic_write_replaces_or_leaves_the_old_file),
		cmocka_unit_test(fill_temp_writes_sets_mode_and_always_closes),
		cmocka_unit_test(write_all_writes_everything_or_returns_the_error),
		cmocka_unit_test(mkdirs_creates_parents_and_refuses_files),
		cmocka_unit_test(remove_tree_never_follows_symlinks),
		cmocka_unit_test(within_compares_whole_components),
		cmocka_unit_test(utf8_count_counts_code_points),
		cmocka_unit_test(tool_args_name_the_argument_and_the_fix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
