/* loop: loop_yield_if_idle gives the CPU away only when no event of the loop is ready, so no
 * ready request waits behind the yield. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/loop.h"

#include <event2/event.h>

struct probe {
	struct loop *l;
	unsigned long yields_in_cb;
	int fired;
};

static void on_ready(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd;
	(void)what;
	p->fired++;
	/* This event left the ready set as it ran; nothing else is ready: it yields. */
	loop_yield_if_idle(p->l);
	p->yields_in_cb = loop_yields(p->l);
}

static void the_loop_yields_only_when_no_event_is_ready(void **state)
{
	struct probe p = {.l = loop_create()};
	struct event *a = event_new(loop_base(p.l), -1, 0, on_ready, &p);
	struct event *b = event_new(loop_base(p.l), -1, 0, on_ready, &p);

	(void)state;
	assert_int_equal(loop_yields(p.l), 0);
	loop_yield_if_idle(p.l); /* idle */
	assert_int_equal(loop_yields(p.l), 1);

	event_active(a, EV_TIMEOUT, 1);
	loop_yield_if_idle(p.l); /* a is ready: no yield */
	assert_int_equal(loop_yields(p.l), 1);

	event_active(b, EV_TIMEOUT, 1);
	event_base_loop(loop_base(p.l), EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(p.fired, 2);
	/* a's callback ran with b still ready (no yield), b's with nothing ready (one) */
	assert_int_equal(loop_yields(p.l), 2);
	assert_int_equal(p.yields_in_cb, 2);

	event_free(a);
	event_free(b);
	loop_destroy(p.l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_loop_yields_only_when_no_event_is_ready),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
