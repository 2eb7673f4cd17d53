/* toolout with the loop's offload: the kept file is written on a worker, never on the caller's
 * thread (a hook holds the writer while the caller writes, cuts and destroys the output, which
 * all return at once), its bytes in order; when creating or writing the file fails the excerpt
 * still comes with a note saying what failed and where; a disk that stays 1 MiB behind makes
 * the caller wait at most 5 s, then stops the keeping. The excerpt, the note and pruning with
 * writes on the caller's thread: tests/test_mcp_big.c. */
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/fileio.h"
#include "core/loop.h"
#include "core/offload.h"
#include "core/toolout.h"
#include "core/util.h"

#define EXCERPT 1024
#define BIG	(300 * 1024 + 17) /* five full chunks and a part */

static char home[] = "/tmp/test_toolout.XXXXXX";
static struct config cfg;
static struct loop *loop;

static pthread_t caller;
static sem_t go;
static int writes, writes_on_caller;

/* The hook: counts the writes and where they ran; a worker waits for go. */
static void held_write(void)
{
	struct timespec until;

	writes++;
	if (pthread_equal(pthread_self(), caller)) {
		writes_on_caller++; /* never wait here: that would hang the test */
		return;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	sem_timedwait(&go, &until);
}

static int setup(void **state)
{
	assert_non_null(mkdtemp(home));
	cfg.home = home;
	cfg.agent.tool_output.keep = true;
	cfg.agent.tool_output.max_bytes = 64 * 1024 * 1024;
	cfg.agent.tool_output.keep_days = 7;
	cfg.agent.tool_output.keep_total_bytes = 1024 * 1024 * 1024;
	loop = loop_create();
	caller = pthread_self();
	sem_init(&go, 0, 0);
	return 0;
}

static int teardown(void **state)
{
	loop_destroy(loop);
	sem_destroy(&go);
	fileio_remove_tree(home);
	return 0;
}

static unsigned char byte_at(size_t i)
{
	return (unsigned char)(33 + i % 89); /* printable; a prime: a chunk out of order shows */
}

/* Writes BIG pattern bytes in pieces of odd sizes. */
static void write_pattern(struct toolout *o)
{
	unsigned char piece[7001];
	size_t at = 0, n, i;

	while (at < BIG) {
		n = BIG - at < sizeof(piece) ? BIG - at : sizeof(piece);
		for (i = 0; i < n; i++)
			piece[i] = byte_at(at + i);
		assert_int_equal(toolout_write(o, piece, n), 0);
		at += n;
	}
}

static void writes_run_on_a_worker_in_order(void **state)
{
	struct toolout *o = toolout_create(&cfg, loop_offload(loop), "held", EXCERPT);
	struct buf text, file;
	char *path;
	size_t i;

	while (sem_trywait(&go) == 0)
		; /* posts left over from a test before */
	writes = writes_on_caller = 0;
	toolout_write_hook = held_write;
	write_pattern(o); /* returns while the worker is held in its first write */
	assert_int_equal(writes_on_caller, 0);
	buf_init(&text, 0);
	toolout_text(o, &text);
	if (!strstr(buf_str(&text), "the whole output is in "))
		fail_msg("text: %s", buf_str(&text) + (text.len > 300 ? text.len - 300 : 0));
	assert_false(toolout_idle(o));
	path = xstrdup(toolout_path(o));
	toolout_destroy(o); /* lives on until its writer ends */
	assert_int_equal(writes_on_caller, 0);
	for (i = 0; i < 16; i++)
		sem_post(&go);
	offload_drain(loop_offload(loop));
	toolout_write_hook = NULL;
	assert_int_equal(writes, 5); /* 4 full chunks and the rest */
	assert_int_equal(writes_on_caller, 0);

	buf_init(&file, 0);
	assert_int_equal(fileio_read(path, 1024 * 1024, &file), 0);
	assert_int_equal(file.len, BIG);
	for (i = 0; i < BIG; i++)
		if ((unsigned char)file.data[i] != byte_at(i))
			fail_msg("byte %zu of %s is %u, not %u", i, path,
				 (unsigned char)file.data[i], byte_at(i));
	buf_finish(&file);
	buf_finish(&text);
	free(path);
}

static void count_done(void *arg)
{
	(*(int *)arg)++;
}

/* Writes BIG bytes, closes and waits for the worker, returns the model's text (malloc'd). */
static char *text_after_writer(void)
{
	struct toolout *o = toolout_create(&cfg, loop_offload(loop), "fails", EXCERPT);
	struct buf text;
	int done = 0;

	write_pattern(o);
	assert_int_equal(toolout_close(o, count_done, &done), 0);
	assert_int_equal(done, 0); /* never from inside the call */
	offload_drain(loop_offload(loop));
	assert_int_equal(done, 1);
	assert_true(toolout_idle(o));
	assert_int_equal(toolout_close(o, count_done, &done), -EALREADY);
	buf_init(&text, 0);
	toolout_text(o, &text);
	offload_drain(loop_offload(loop));
	assert_int_equal(done, 1); /* exactly once */
	assert_null(toolout_path(o));
	assert_non_null(toolout_error(o));
	toolout_destroy(o);
	return buf_steal(&text);
}

static void failed_create_says_what_and_where(void **state)
{
	char dir[512], want[600];
	char *text;

	/* A file where the folder should be: the folder cannot be made. */
	snprintf(dir, sizeof(dir), "%s/" TOOLOUT_DIR, home);
	fileio_remove_tree(dir);
	assert_int_equal(fileio_write_atomic(dir, "x", 1, 0600), 0);
	text = text_after_writer();
	snprintf(want, sizeof(want), "; the whole output could not be kept: creating %s/", dir);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, ".txt failed: "));
	assert_true(text[0] == (char)byte_at(0) && text[1] == (char)byte_at(1)); /* the excerpt */
	assert_true(strlen(text) <= EXCERPT);
	free(text);
	assert_int_equal(unlink(dir), 0);
}

static void failed_write_says_what_and_where(void **state)
{
	struct rlimit old, small = {100 * 1024, 100 * 1024};
	char want[600];
	char *text;

	/* A file may not grow past 100 KiB: the write past it fails with EFBIG, as a full disk's
	 * fails with ENOSPC. */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	text = text_after_writer();
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	snprintf(want, sizeof(want),
		 "; the whole output could not be kept: writing %s/" TOOLOUT_DIR "/", home);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, ".txt failed: "));
	assert_non_null(strstr(text, strerror(EFBIG)));
	assert_true(strlen(text) <= EXCERPT);
	free(text);
}

/* A writer that stays stuck: the loop waits for room at most 5 s, then stops keeping, and the
 * note says why. The queue never held more than 1 MiB. */
static void a_stuck_disk_stops_the_keeping(void **state)
{
	struct toolout *o = toolout_create(&cfg, loop_offload(loop), "stuck", EXCERPT);
	unsigned char piece[64 * 1024];
	struct buf text;
	int i, done = 0;
	time_t t0 = time(NULL);

	while (sem_trywait(&go) == 0)
		; /* posts left over from a test before */
	writes = writes_on_caller = 0;
	toolout_write_hook = held_write;
	memset(piece, 'z', sizeof(piece));
	for (i = 0; i < 20; i++) /* the first is being written, 16 wait, the 18th finds no room */
		assert_int_equal(toolout_write(o, piece, sizeof(piece)), 0);
	assert_true(time(NULL) - t0 >= 4 && time(NULL) - t0 <= 9);
	assert_non_null(toolout_error(o));
	assert_non_null(strstr(toolout_error(o), "the disk stayed 1 MiB behind for 5 s"));
	for (i = 0; i < 32; i++)
		sem_post(&go);
	assert_int_equal(toolout_close(o, count_done, &done), 0);
	offload_drain(loop_offload(loop));
	toolout_write_hook = NULL;
	assert_int_equal(done, 1);
	assert_int_equal(writes_on_caller, 0);
	assert_true(writes <= 1); /* the chunks queued before the failure are dropped */
	buf_init(&text, 0);
	toolout_text(o, &text);
	assert_non_null(strstr(buf_str(&text), "; the whole output could not be kept: writing "));
	buf_finish(&text);
	toolout_destroy(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(writes_run_on_a_worker_in_order),
		cmocka_unit_test(failed_create_says_what_and_where),
		cmocka_unit_test(failed_write_says_what_and_where),
		cmocka_unit_test(a_stuck_disk_stops_the_keeping),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
