/* offload: a job's work learns that offload_destroy waits for it (offload_cancelled), so long
 * work can stop early; the job's abandon runs, its done never does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/offload.h"

#include <event2/event.h>
#include <time.h>
#include <unistd.h>

struct long_job {
	atomic_bool started;
	bool saw_cancel, done, abandoned;
};

static void long_work(void *arg)
{
	struct long_job *j = arg;
	struct timespec t0, t;

	atomic_store(&j->started, true);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* bounded: without offload_cancelled the job gives up after 30 s, and the test fails */
	do {
		if (offload_cancelled()) {
			j->saw_cancel = true;
			return;
		}
		usleep(1000);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 30);
}

static void long_done(void *arg)
{
	((struct long_job *)arg)->done = true;
}

static void long_abandon(void *arg)
{
	((struct long_job *)arg)->abandoned = true;
}

static void a_destroy_tells_running_work_to_stop(void **state)
{
	struct event_base *base = event_base_new();
	struct offload *o = offload_create(base, 2);
	struct long_job j = {0};

	(void)state;
	assert_false(offload_cancelled()); /* outside a job */
	assert_int_equal(offload_run(o, long_work, long_done, long_abandon, &j), 0);
	while (!atomic_load(&j.started))
		usleep(1000);
	offload_destroy(o);
	assert_true(j.saw_cancel);
	assert_true(j.abandoned);
	assert_false(j.done);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_destroy_tells_running_work_to_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
