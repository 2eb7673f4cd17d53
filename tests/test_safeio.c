/* safeio: writes below home work (mkdir -p, atomic replace, read back, recursive delete), and
 * every way out is refused with its own code while nothing outside home changes: "..",
 * absolute paths, a symlink planted as a middle component, as the final component (also a
 * dangling one), and a home subdirectory that is a symlink to a directory outside. Each case
 * runs twice: with openat2() and with the component walk used where the kernel lacks it. */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/safeio.h"
#include "core/util.h"

struct tree {
	char *root;
	char *home;
	char *out; /* outside home */
	int home_fd;
};

static char *path_of(const char *dir, const char *rel)
{
	return xasprintf("%s/%s", dir, rel);
}

static void write_text(const char *dir, const char *rel, const char *text)
{
	char *p = path_of(dir, rel);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

/* The content of dir/rel, or NULL when missing. */
static char *read_text(const char *dir, const char *rel)
{
	char *p = path_of(dir, rel);
	struct buf b;
	char *s = NULL;

	buf_init(&b, 0);
	if (fileio_read(p, 1 << 20, &b) == 0)
		s = xstrdup(buf_str(&b));
	buf_finish(&b);
	free(p);
	return s;
}

static bool is_link(const char *dir, const char *rel)
{
	char *p = path_of(dir, rel);
	struct stat st;
	bool yes = lstat(p, &st) == 0 && S_ISLNK(st.st_mode);

	free(p);
	return yes;
}

static size_t n_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void link_at(const char *target, const char *dir, const char *rel)
{
	char *p = path_of(dir, rel);

	assert_int_equal(symlink(target, p), 0);
	free(p);
}

static void tree_init(struct tree *t)
{
	t->root = xstrdup("/tmp/hm-safeio-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	t->home = path_of(t->root, "home");
	t->out = path_of(t->root, "out");
	assert_int_equal(mkdir(t->home, 0700), 0);
	assert_int_equal(mkdir(t->out, 0700), 0);
	write_text(t->out, "secret", "outside\n");
	t->home_fd = safeio_open_home(t->home);
	assert_true(t->home_fd >= 0);
}

static void tree_finish(struct tree *t)
{
	close(t->home_fd);
	assert_int_equal(fileio_remove_tree(t->root), 0);
	free(t->home);
	free(t->out);
	free(t->root);
}

/* Nothing outside home changed: only "secret" (and what the case put there) with its text. */
static void outside_untouched(const struct tree *t, size_t n)
{
	char *s = read_text(t->out, "secret");

	assert_non_null(s);
	assert_string_equal(s, "outside\n");
	free(s);
	assert_int_equal(n_entries(t->out), n);
}

static void writes_inside_home(void)
{
	struct tree t;
	struct buf b;
	struct stat st;
	char *s, *p;

	tree_init(&t);
	buf_init(&b, 0);
	assert_int_equal(safeio_mkdirs_at(t.home_fd, "a/b", 0700), 0);
	assert_int_equal(safeio_mkdirs_at(t.home_fd, "a/b", 0700), 0); /* existing is fine */
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "a/b/f.md", "one", 3, 0600), 0);
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "a/b/f.md", "two!", 4, 0640), 0);
	s = read_text(t.home, "a/b/f.md");
	assert_string_equal(s, "two!");
	free(s);
	p = path_of(t.home, "a/b/f.md");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	free(p);
	p = path_of(t.home, "a/b");
	assert_int_equal(n_entries(p), 1); /* no temp file left */
	free(p);
	assert_int_equal(safeio_read_at(t.home_fd, "a/b/f.md", 100, &b), 0);
	assert_string_equal(buf_str(&b), "two!");
	assert_int_equal(safeio_read_at(t.home_fd, "a/b/f.md", 3, &b), -EFBIG);
	assert_int_equal(safeio_read_at(t.home_fd, "a/b/none", 3, &b), -ENOENT);
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "top.md", "x", 1, 0600), 0);
	write_text(t.home, "a/plain", "x");
	assert_int_equal(safeio_mkdirs_at(t.home_fd, "a/plain/c", 0700), -ENOTDIR);
	assert_int_equal(safeio_remove_tree_at(t.home_fd, "a"), 0);
	assert_null(read_text(t.home, "a/b/f.md"));
	outside_untouched(&t, 1);
	buf_finish(&b);
	tree_finish(&t);
}

static void dotdot_absolute_and_malformed_are_refused(void)
{
	struct tree t;
	struct buf b;
	char *abs;

	tree_init(&t);
	buf_init(&b, 0);
	abs = path_of(t.out, "abs");
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "../out/escape", "x", 1, 0600), -EXDEV);
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "a/../../out/escape", "x", 1, 0600),
			 -EXDEV);
	assert_int_equal(safeio_write_atomic_at(t.home_fd, abs, "x", 1, 0600), -EXDEV);
	assert_int_equal(safeio_mkdirs_at(t.home_fd, "../out/dir", 0700), -EXDEV);
	assert_int_equal(safeio_remove_tree_at(t.home_fd, "../out"), -EXDEV);
	assert_int_equal(safeio_read_at(t.home_fd, "../out/secret", 100, &b), -EXDEV);
	assert_int_equal(safeio_open_at(t.home_fd, abs, O_WRONLY | O_CREAT, 0600), -EXDEV);
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "", "x", 1, 0600), -EINVAL);
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "a//b", "x", 1, 0600), -EINVAL);
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "./a", "x", 1, 0600), -EINVAL);
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "a/", "x", 1, 0600), -EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(n_entries(t.home), 0);
	outside_untouched(&t, 1);
	free(abs);
	buf_finish(&b);
	tree_finish(&t);
}

static void symlink_as_middle_component_is_refused(void)
{
	struct tree t;
	struct buf b;

	tree_init(&t);
	buf_init(&b, 0);
	link_at(t.out, t.home, "memories");
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "memories/MEMORY.md", "x", 1, 0600),
			 -ELOOP);
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "memories/secret", "x", 1, 0600),
			 -ELOOP);
	assert_int_equal(safeio_mkdirs_at(t.home_fd, "memories/sub", 0700), -ELOOP);
	assert_int_equal(safeio_read_at(t.home_fd, "memories/secret", 100, &b), -ELOOP);
	assert_int_equal(safeio_remove_tree_at(t.home_fd, "memories"), -ELOOP);
	assert_int_equal(b.len, 0);
	assert_true(is_link(t.home, "memories"));
	outside_untouched(&t, 1);
	buf_finish(&b);
	tree_finish(&t);
}

static void symlink_as_final_component_is_refused(void)
{
	struct tree t;
	struct buf b;
	char *target = NULL, *dangling = NULL;

	tree_init(&t);
	buf_init(&b, 0);
	target = path_of(t.out, "secret");
	dangling = path_of(t.out, "created");
	link_at(target, t.home, "MEMORY.md");
	link_at(dangling, t.home, "USER.md");
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "MEMORY.md", "x", 1, 0600), -ELOOP);
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "USER.md", "x", 1, 0600), -ELOOP);
	assert_int_equal(safeio_open_at(t.home_fd, "USER.md", O_WRONLY | O_CREAT, 0600), -ELOOP);
	assert_int_equal(safeio_read_at(t.home_fd, "MEMORY.md", 100, &b), -ELOOP);
	assert_int_equal(safeio_mkdirs_at(t.home_fd, "USER.md", 0700), -ELOOP);
	assert_int_equal(b.len, 0);
	assert_true(is_link(t.home, "MEMORY.md"));
	assert_true(is_link(t.home, "USER.md"));
	outside_untouched(&t, 1); /* "created" was not made through the dangling link */
	free(target);
	free(dangling);
	buf_finish(&b);
	tree_finish(&t);
}

static void symlinked_home_subdir_pointing_outside_is_refused(void)
{
	struct tree t;
	struct buf b;
	char *skills;

	tree_init(&t);
	buf_init(&b, 0);
	skills = path_of(t.out, "skills");
	assert_int_equal(mkdir(skills, 0700), 0);
	assert_int_equal(safeio_mkdirs_at(t.home_fd, "skills", 0700), 0);
	/* home/skills/x -> out/skills (a directory outside, planted inside a real one) */
	write_text(t.out, "skills/SKILL.md", "theirs");
	link_at(skills, t.home, "skills/x");
	assert_int_equal(safeio_write_atomic_at(t.home_fd, "skills/x/SKILL.md", "x", 1, 0600),
			 -ELOOP);
	assert_int_equal(safeio_mkdirs_at(t.home_fd, "skills/x/refs", 0700), -ELOOP);
	assert_int_equal(safeio_read_at(t.home_fd, "skills/x/SKILL.md", 100, &b), -ELOOP);
	assert_int_equal(safeio_remove_tree_at(t.home_fd, "skills/x"), -ELOOP);
	assert_int_equal(b.len, 0);
	free(skills);
	skills = read_text(t.out, "skills/SKILL.md");
	assert_string_equal(skills, "theirs");
	free(skills);
	skills = path_of(t.out, "skills");
	assert_int_equal(n_entries(skills), 1);
	outside_untouched(&t, 2);
	/* A real directory holding a symlink is deleted without following it. */
	assert_int_equal(safeio_mkdirs_at(t.home_fd, "skills/y", 0700), 0);
	link_at(skills, t.home, "skills/y/escape");
	assert_int_equal(safeio_remove_tree_at(t.home_fd, "skills/y"), 0);
	assert_int_equal(n_entries(skills), 1);
	free(skills);
	buf_finish(&b);
	tree_finish(&t);
}

static void errors_say_what_was_refused(void)
{
	assert_non_null(strstr(safeio_strerror(-EXDEV), "leaves home"));
	assert_non_null(strstr(safeio_strerror(-ELOOP), "symlink"));
	assert_non_null(strstr(safeio_strerror(-ELOOP), "refused"));
	assert_string_equal(safeio_strerror(-ENOSPC), strerror(ENOSPC));
}

/* Each case with openat2() and with the component walk. */
#define BOTH(fn)                                                                                   \
	static void fn##_both(void **state)                                                        \
	{                                                                                          \
		(void)state;                                                                       \
		safeio_set_walk_only(false);                                                       \
		fn();                                                                              \
		safeio_set_walk_only(true);                                                        \
		fn();                                                                              \
		safeio_set_walk_only(false);                                                       \
	}

BOTH(writes_inside_home)
BOTH(dotdot_absolute_and_malformed_are_refused)
BOTH(symlink_as_middle_component_is_refused)
BOTH(symlink_as_final_component_is_refused)
BOTH(symlinked_home_subdir_pointing_outside_is_refused)

static void errors_say_what_was_refused_test(void **state)
{
	(void)state;
	errors_say_what_was_refused();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(writes_inside_home_both),
		cmocka_unit_test(dotdot_absolute_and_malformed_are_refused_both),
		cmocka_unit_test(symlink_as_middle_component_is_refused_both),
		cmocka_unit_test(symlink_as_final_component_is_refused_both),
		cmocka_unit_test(symlinked_home_subdir_pointing_outside_is_refused_both),
		cmocka_unit_test(errors_say_what_was_refused_test),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
