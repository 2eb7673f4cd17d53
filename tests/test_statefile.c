/* statefile: on slow storage (HERMETIC_TEST_SLOW_FSYNC_MS) a put returns at once and the
 * write happens on a worker; puts while a write runs are coalesced, so the file is replaced
 * twice, not once per put, and ends up holding the newest contents; what was put before
 * statefile_destroy is still written, by a worker or, when loop_destroy comes first, by the
 * abandon path. */
#include "test.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/loop.h"
#include "core/offload.h"
#include "core/statefile.h"
#include "core/util.h"

#define SLOW_MS "400"

struct fx {
	char dir[32];
	char *path;
	struct loop *loop;
	int ino; /* inotify of dir: counts the temp files written for path */
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/hm-statefile-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->path = xasprintf("%s/state.json", f->dir);
	f->loop = loop_create();
	f->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	assert_true(f->ino >= 0);
	assert_true(inotify_add_watch(f->ino, f->dir, IN_CLOSE_WRITE) >= 0);
	setenv("HERMETIC_TEST_SLOW_FSYNC_MS", SLOW_MS, 1);
	fileio_test_env();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	setenv("HERMETIC_TEST_SLOW_FSYNC_MS", "0", 1);
	fileio_test_env();
	loop_destroy(f->loop);
	close(f->ino);
	assert_int_equal(fileio_remove_tree(f->dir), 0);
	free(f->path);
	free(f);
	return 0;
}

static char *contents(const struct fx *f)
{
	struct buf b;

	buf_init(&b, 0);
	if (fileio_read(f->path, 4096, &b) < 0)
		buf_puts(&b, "(none)");
	return buf_steal(&b);
}

/* Writes of path seen so far: each writes a temp file ".state.json.XXXXXX" of its own
 * (renames onto path itself would be merged by inotify, being identical events). */
static int replaces(const struct fx *f)
{
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int n = 0;
	ssize_t len;

	while ((len = read(f->ino, ev, sizeof(ev))) > 0)
		for (char *p = ev; p < ev + len;) {
			const struct inotify_event *e = (const struct inotify_event *)p;

			n += e->len && strncmp(e->name, ".state.json.", 12) == 0;
			p += sizeof(*e) + e->len;
		}
	return n;
}

static void put(struct statefile *sf, const char *text)
{
	statefile_put(sf, xstrdup(text), strlen(text));
}

static void assert_contents(const struct fx *f, const char *want)
{
	char *have = contents(f);

	assert_string_equal(have, want);
	free(have);
}

static void put_returns_before_the_slow_write_and_coalesces(void **state)
{
	struct fx *f = *state;
	struct statefile *sf = statefile_create(f->loop, f->path, 0600, NULL);
	int64_t t0 = now_mono_ms();

	put(sf, "one");
	put(sf, "two");
	put(sf, "three");
	/* Three puts on a disk whose fsync takes 400 ms: none of them waited for it. */
	assert_true(now_mono_ms() - t0 < 200);
	assert_false(statefile_idle(sf));
	for (int i = 0; i < 50 && !statefile_idle(sf); i++)
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE);
	assert_true(statefile_idle(sf));
	assert_contents(f, "three");
	/* "one" went out at once; "two" was replaced by "three" while it ran. */
	assert_int_equal(replaces(f), 2);
	statefile_destroy(sf);
}

static void newest_put_before_destroy_is_written(void **state)
{
	struct fx *f = *state;
	struct statefile *sf = statefile_create(f->loop, f->path, 0600, NULL);

	put(sf, "old");
	put(sf, "new");
	statefile_destroy(sf);
	offload_drain(loop_offload(f->loop));
	assert_contents(f, "new");
	assert_int_equal(replaces(f), 2);
}

static void loop_destroy_writes_what_still_waits(void **state)
{
	struct fx *f = *state;
	struct statefile *sf = statefile_create(f->loop, f->path, 0600, NULL);

	put(sf, "old");
	put(sf, "newest");
	statefile_destroy(sf);
	/* Shutdown: the loop is not run again; loop_destroy joins the write and the newest
	 * contents are written on its way out. */
	loop_destroy(f->loop);
	f->loop = loop_create();
	assert_contents(f, "newest");
}

static void destroy_when_idle_writes_nothing(void **state)
{
	struct fx *f = *state;
	struct statefile *sf = statefile_create(f->loop, f->path, 0600, NULL);

	statefile_destroy(sf);
	statefile_destroy(NULL);
	assert_int_equal(offload_jobs(loop_offload(f->loop)), 0);
	assert_contents(f, "(none)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(put_returns_before_the_slow_write_and_coalesces,
						setup, teardown),
		cmocka_unit_test_setup_teardown(newest_put_before_destroy_is_written, setup,
						teardown),
		cmocka_unit_test_setup_teardown(loop_destroy_writes_what_still_waits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(destroy_when_idle_writes_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
