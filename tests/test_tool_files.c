/* files: read_file returns numbered lines from home and the notes dirs and refuses anything
 * whose realpath is outside them (absolute, "..", symlinks), state.db and binary files;
 * search_files finds lines in notes, honours glob and path, skips dot dirs, state.db and
 * symlinked directories, and stops at its caps with a note. Both run off the loop: the
 * result comes from the loop, never inside start(); an open() that hangs in the kernel (made
 * with a fanotify permission mark nobody answers, as a dead NFS server would) leaves the
 * loop running, cancel answers at once, and at most 4 abandoned threads are held (parallel
 * calls that do not hang are not limited by that). */
#include "tool_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/fanotify.h>

static char *json_path(const char *key, const char *path, const char *more)
{
	cJSON *a = cJSON_CreateObject();
	char *json, *all;

	cJSON_AddStringToObject(a, key, path);
	json = cJSON_PrintUnformatted(a);
	cJSON_Delete(a);
	if (!more)
		return json;
	json[strlen(json) - 1] = '\0';
	all = xasprintf("%s,%s}", json, more);
	free(json);
	return all;
}

/* read_file with path (plus more JSON members, e.g. "\"limit\":2"). */
static const char *read_path(struct fixture *f, const char *path, const char *more)
{
	char *json = json_path("path", path, more);
	const char *out = call(f, &tool_def_read_file, json);

	free(json);
	return out;
}

static void read_file_numbers_lines_with_offset_and_limit(void **state)
{
	struct fixture *f = fixture_create(NULL);

	(void)state;
	put_file(f->home, "notes.txt", "one\r\ntwo\nthree\nfour");
	assert_string_equal(read_path(f, "notes.txt", NULL),
			    "   1| one\n   2| two\n   3| three\n   4| four\n");
	assert_int_equal(f->rc, 0);
	assert_string_equal(read_path(f, "notes.txt", "\"offset\":2,\"limit\":2"),
			    "   2| two\n   3| three\n[more lines follow; continue with offset=4]");
	assert_string_equal(read_path(f, "notes.txt", "\"offset\":4,\"limit\":1"), "   4| four\n");
	read_path(f, "notes.txt", "\"offset\":9");
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out), "offset 9 is past the end of notes.txt (4 lines)");
	read_path(f, "notes.txt", "\"limit\":\"x\"");
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out), "limit must be an integer from 1 to 2000");
	assert_string_equal(read_path(f, "notes.txt", "\"limit\":\"1\""),
			    "   1| one\n"
			    "[more lines follow; "
			    "continue with offset=2]");
	put_file(f->home, "empty.txt", "");
	assert_string_equal(read_path(f, "empty.txt", NULL), "empty.txt is empty");
	assert_int_equal(f->rc, 0);
	call(f, &tool_def_read_file, "{\"path\":3}");
	assert_string_equal(buf_str(&f->out), "path must be a string");
	fixture_destroy(f);
}

static void paths_outside_the_roots_are_refused(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *want, *link;

	(void)state;
	want = xasprintf("/etc/passwd is outside the readable directories (home %s, %s); use a "
			 "path inside one of them",
			 f->home, f->notes);
	assert_string_equal(read_path(f, "/etc/passwd", NULL), want);
	assert_true(f->rc < 0);
	free(want);
	read_path(f, "../..", NULL);
	assert_true(f->rc < 0);
	assert_contains(buf_str(&f->out), "../.. is outside the readable directories");
	read_path(f, "../../etc/passwd", NULL);
	assert_contains(buf_str(&f->out), "outside the readable directories");
	link = xasprintf("%s/passwd", f->home);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	read_path(f, "passwd", NULL);
	assert_true(f->rc < 0);
	assert_contains(buf_str(&f->out), "passwd is outside the readable directories");
	assert_null(strstr(buf_str(&f->out), "root:"));
	free(link);
	/* a missing file says so only inside the roots */
	read_path(f, "nope.md", NULL);
	assert_string_equal(buf_str(&f->out), "no such file: nope.md");
	read_path(f, "/etc/nope-nope", NULL);
	assert_contains(buf_str(&f->out), "is outside the readable directories");
	fixture_destroy(f);
}

static void notes_dirs_are_readable_by_absolute_path(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *path, *link;

	(void)state;
	put_file(f->notes, "vault/todo.md", "# Todo\n- milk\n");
	path = xasprintf("%s/vault/todo.md", f->notes);
	assert_string_equal(read_path(f, path, NULL), "   1| # Todo\n   2| - milk\n");
	assert_int_equal(f->rc, 0);
	free(path);
	/* a symlink in home to a file in notes stays inside the roots */
	link = xasprintf("%s/todo.md", f->home);
	path = xasprintf("%s/vault/todo.md", f->notes);
	assert_int_equal(symlink(path, link), 0);
	assert_string_equal(read_path(f, "todo.md", "\"limit\":1"),
			    "   1| # Todo\n[more lines follow; continue with offset=2]");
	free(path);
	free(link);
	fixture_destroy(f);
}

static void state_db_and_binary_files_are_refused(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *path, *link;
	FILE *fp;

	(void)state;
	put_file(f->home, "state.db", "SQLite format 3");
	put_file(f->home, "state.db-wal", "wal");
	read_path(f, "state.db", NULL);
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out),
			    "state.db is the agent's database; it is not readable with this tool");
	path = xasprintf("%s/state.db-wal", f->home);
	read_path(f, path, NULL);
	assert_true(f->rc < 0);
	assert_contains(buf_str(&f->out), "state.db is the agent's database");
	free(path);
	link = xasprintf("%s/db", f->notes);
	path = xasprintf("%s/state.db", f->home);
	assert_int_equal(symlink(path, link), 0);
	read_path(f, link, NULL);
	assert_true(f->rc < 0);
	assert_contains(buf_str(&f->out), "state.db is the agent's database");
	free(path);
	free(link);
	path = xasprintf("%s/img.png", f->home);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fwrite("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 1, 16, fp);
	fclose(fp);
	read_path(f, "img.png", NULL);
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out),
			    "img.png is a binary file; read_file shows text only");
	free(path);
	fixture_destroy(f);
}

static void read_file_caps_bytes_and_long_lines(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < 2000; i++)
		buf_printf(&b, "%04zu %095d\n", i + 1, 0);
	put_file(f->home, "big.txt", buf_str(&b));
	read_path(f, "big.txt", "\"limit\":2000");
	assert_int_equal(f->rc, 0);
	assert_true(f->out.len <= 64 * 1024 + 100);
	assert_contains(buf_str(&f->out), "[more lines follow; continue with offset=");
	buf_reset(&b);
	for (i = 0; i < 5000; i++)
		buf_puts(&b, "\xc3\xa9");
	buf_puts(&b, "\nnext\n");
	put_file(f->home, "long.txt", buf_str(&b));
	read_path(f, "long.txt", NULL);
	assert_int_equal(f->rc, 0);
	assert_contains(buf_str(&f->out), "\xc3\xa9 [line cut]\n   2| next\n");
	assert_int_equal(strlen(buf_str(&f->out)), 6 + 2000 + 12 + 11);
	buf_finish(&b);
	fixture_destroy(f);
}

static void read_file_lists_a_directory(void **state)
{
	struct fixture *f = fixture_create(NULL);

	(void)state;
	put_file(f->home, "memories/MEMORY.md", "x");
	put_file(f->home, "skills/a/SKILL.md", "x");
	put_file(f->home, ".secret/x", "x");
	put_file(f->home, "state.db", "x");
	assert_string_equal(read_path(f, ".", NULL), "memories/\nskills/\n");
	assert_int_equal(f->rc, 0);
	fixture_destroy(f);
}

static const char *search(struct fixture *f, const char *args)
{
	return call(f, &tool_def_search_files, args);
}

static void search_finds_lines_in_notes_and_home(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *want, *args;

	(void)state;
	put_file(f->notes, "vault/todo.md", "# Todo\n  - buy MILK\n- call Ana\n");
	put_file(f->notes, "vault/milk.txt", "milk prices\n");
	put_file(f->home, "memories/MEMORY.md", "user likes milk\n");
	put_file(f->notes, ".obsidian/cache.md", "milk\n");
	put_file(f->home, "state.db", "milk\n");
	put_file(f->home, "state.db-wal", "milk\n");
	want = xasprintf("memories/MEMORY.md:1: user likes milk\n"
			 "%s/vault/milk.txt:1: milk prices\n"
			 "%s/vault/todo.md:2: - buy MILK\n",
			 f->notes, f->notes);
	assert_string_equal(search(f, "{\"pattern\":\"milk\"}"), want);
	assert_int_equal(f->rc, 0);
	free(want);
	want = xasprintf("memories/MEMORY.md:1: user likes milk\n"
			 "%s/vault/todo.md:2: - buy MILK\n",
			 f->notes);
	assert_string_equal(search(f, "{\"pattern\":\"Milk\",\"glob\":\"*.md\"}"), want);
	free(want);
	args = xasprintf("{\"pattern\":\"milk\",\"path\":\"%s/vault\",\"glob\":\"*.txt\"}",
			 f->notes);
	want = xasprintf("%s/vault/milk.txt:1: milk prices\n", f->notes);
	assert_string_equal(search(f, args), want);
	free(want);
	free(args);
	assert_string_equal(search(f, "{\"pattern\":\"milk\",\"path\":\"memories\"}"),
			    "memories/MEMORY.md:1: user likes milk\n");
	want = xasprintf("No matches for \"zebra\" in home %s, %s.", f->home, f->notes);
	assert_string_equal(search(f, "{\"pattern\":\"zebra\"}"), want);
	assert_int_equal(f->rc, 0);
	free(want);
	search(f, "{\"pattern\":\"milk\",\"path\":\"/tmp\"}");
	assert_true(f->rc < 0);
	assert_contains(buf_str(&f->out), "/tmp is outside the readable directories (home ");
	search(f, "{\"pattern\":\"\"}");
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out), "pattern must be 1 to 256 bytes of plain text");
	search(f, "{}");
	assert_string_equal(buf_str(&f->out), "missing required argument pattern");
	fixture_destroy(f);
}

static void search_stays_inside_the_roots(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *link, *target, *want;

	(void)state;
	put_file(f->notes, "vault/todo.md", "root: the plan\n");
	link = xasprintf("%s/etc", f->notes);
	assert_int_equal(symlink("/etc", link), 0);
	free(link);
	link = xasprintf("%s/pw", f->notes);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	free(link);
	link = xasprintf("%s/plan", f->notes);
	target = xasprintf("%s/vault/todo.md", f->notes);
	assert_int_equal(symlink(target, link), 0);
	free(target);
	free(link);
	link = xasprintf("%s/db", f->notes);
	target = xasprintf("%s/state.db", f->home);
	put_file(f->home, "state.db", "root: secret\n");
	assert_int_equal(symlink(target, link), 0);
	free(target);
	free(link);
	want = xasprintf("%s/plan:1: root: the plan\n%s/vault/todo.md:1: root: the plan\n",
			 f->notes, f->notes);
	assert_string_equal(search(f, "{\"pattern\":\"root:\"}"), want);
	free(want);
	fixture_destroy(f);
}

static void search_stops_at_its_caps(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct buf b;
	char name[32];
	size_t i;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < 60; i++)
		buf_printf(&b, "hit %zu\n", i);
	put_file(f->notes, "many.md", buf_str(&b));
	search(f, "{\"pattern\":\"hit\"}");
	assert_int_equal(f->rc, 0);
	assert_contains(buf_str(&f->out), "many.md:50: hit 49\n[stopped at 50 hits; narrow the "
					  "pattern, path or glob]");
	assert_null(strstr(buf_str(&f->out), "hit 50"));
	buf_reset(&b);
	for (i = 0; i < 300; i++)
		buf_puts(&b, "\xc3\xa9");
	buf_puts(&b, " needle\n");
	put_file(f->home, "wide.md", buf_str(&b));
	search(f, "{\"pattern\":\"needle\",\"glob\":\"wide.md\"}");
	assert_int_equal(f->out.len, strlen("wide.md:1: ") + 200 + 4);
	assert_contains(buf_str(&f->out), "\xc3\xa9...\n");
	for (i = 0; i < 5001; i++) {
		snprintf(name, sizeof(name), "d/f%04zu.txt", i);
		put_file(f->notes, name, "x\n");
	}
	search(f, "{\"pattern\":\"nothing\",\"glob\":\"*.txt\"}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out),
			    "[stopped after 5000 files; narrow the path or glob]");
	buf_finish(&b);
	fixture_destroy(f);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(*(int *)arg)++;
}

/* Runs the loop for ms milliseconds; returns how many 10 ms ticks fired meanwhile. */
static int spin(struct fixture *f, int ms)
{
	int ticks = 0, i;
	struct timeval ten = {0, 10000};
	struct event *ev = event_new(loop_base(f->loop), -1, EV_PERSIST, on_tick, &ticks);

	event_add(ev, &ten);
	for (i = 0; ticks < ms / 10 && i < 10000; i++)
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE);
	event_free(ev);
	return ticks;
}

static void file_tools_answer_from_the_loop(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct tool_job *job = NULL;

	(void)state;
	put_file(f->home, "a.txt", "alpha\n");
	assert_int_equal(fixture_start(f, &tool_def_read_file, "{\"path\":\"a.txt\"}", &job), 0);
	assert_int_equal(f->done, 0); /* not inside start() */
	while (f->done == 0)
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE);
	assert_string_equal(buf_str(&f->out), "   1| alpha\n");
	assert_int_equal(fixture_start(f, &tool_def_search_files, "{\"pattern\":\"ALPHA\"}", &job),
			 0);
	assert_int_equal(f->done, 1);
	while (f->done == 1)
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE);
	assert_string_equal(buf_str(&f->out), "a.txt:1: alpha\n");
	/* A round of parallel calls is not mistaken for a hung file system. */
	for (int i = 0; i < 12; i++)
		assert_int_equal(
			fixture_start(f, &tool_def_read_file, "{\"path\":\"a.txt\"}", &job), 0);
	while (f->done < 14)
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE);
	fixture_destroy(f);
}

/* The eventfds this process has open now (the hung thread holds its directories open too). */
static int open_eventfds(void)
{
	DIR *d = opendir("/proc/self/fd");
	char link[PATH_MAX], target[64];
	struct dirent *e;
	ssize_t len;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = '\0';
			n += strcmp(target, "anon_inode:[eventfd]") == 0;
		}
	}
	closedir(d);
	return n;
}

static void a_hung_open_leaves_the_loop_running_and_cancel_answers(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct tool_job *jobs[5] = {NULL};
	char *path = xasprintf("%s/stuck.md", f->notes), *args, *search;
	int fan, i, fds;

	(void)state;
	put_file(f->notes, "stuck.md", "never read while the mark holds\n");
	fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY);
	if (fan < 0 || fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, path) < 0) {
		if (fan >= 0)
			close(fan);
		free(path);
		fixture_destroy(f);
		skip(); /* needs CAP_SYS_ADMIN */
	}
	args = xasprintf("{\"path\":\"%s\"}", path);
	fds = open_eventfds();
	assert_int_equal(fixture_start(f, &tool_def_read_file, args, &jobs[0]), 0);
	/* The open() hangs in the thread; the loop keeps its timers. */
	assert_true(spin(f, 200) >= 20);
	assert_int_equal(f->done, 0);
	tool_def_read_file.cancel(jobs[0]);
	assert_int_equal(f->done, 0); /* not inside cancel() */
	event_base_loop(loop_base(f->loop), EVLOOP_ONCE);
	assert_int_equal(f->done, 1);
	assert_string_equal(buf_str(&f->out), "cancelled");
	/* The job's eventfd went with the loop's side, though its thread still hangs. */
	assert_int_equal(open_eventfds(), fds);
	/* Abandoned threads still count: three more may be abandoned, then calls are refused
	 * until the file system answers. */
	search = xasprintf("{\"pattern\":\"never\",\"path\":\"%s\"}", path);
	for (i = 1; i < 4; i++) {
		assert_int_equal(fixture_start(f, &tool_def_search_files, search, &jobs[i]), 0);
		tool_def_search_files.cancel(jobs[i]);
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE);
		assert_int_equal(f->done, i + 1);
	}
	assert_true(fixture_start(f, &tool_def_read_file, args, &jobs[4]) < 0);
	assert_contains(buf_str(&f->out), "read_file cannot run now: 4 earlier file tool calls "
					  "timed out and have still not returned");
	/* The server comes back: the abandoned threads end and free their jobs; calls run. */
	close(fan);
	for (i = 0; i < 200; i++) {
		if (fixture_start(f, &tool_def_search_files, search, &jobs[4]) == 0)
			break;
		usleep(10000);
	}
	while (f->done < 5)
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE);
	assert_contains(buf_str(&f->out), "stuck.md:1: never read while the mark holds");
	free(search);
	free(args);
	free(path);
	fixture_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(read_file_numbers_lines_with_offset_and_limit),
		cmocka_unit_test(paths_outside_the_roots_are_refused),
		cmocka_unit_test(notes_dirs_are_readable_by_absolute_path),
		cmocka_unit_test(state_db_and_binary_files_are_refused),
		cmocka_unit_test(read_file_caps_bytes_and_long_lines),
		cmocka_unit_test(read_file_lists_a_directory),
		cmocka_unit_test(search_finds_lines_in_notes_and_home),
		cmocka_unit_test(search_stays_inside_the_roots),
		cmocka_unit_test(search_stops_at_its_caps),
		cmocka_unit_test(file_tools_answer_from_the_loop),
		cmocka_unit_test(a_hung_open_leaves_the_loop_running_and_cancel_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
