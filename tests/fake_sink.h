/* A job_sink for the cron and hooks tests: records every run and delivery, refuses runs with
 * -EBUSY (or -EAGAIN) when told to, and completes a run only when the test calls fake_complete().
 */
#ifndef HERMETIC_FAKE_SINK_H
#define HERMETIC_FAKE_SINK_H

#include "test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "gateway/jobs.h"
#include "core/util.h"

#define FAKE_MAX 32

struct fake_run {
	char *source, *model, *prompt, *extra;
	const struct agent_tool *tool; /* a health check's report tool, or NULL */
	job_done_cb done;
	void *arg;
	bool finished;
};

struct fake_sink {
	struct job_sink sink;
	struct fake_run runs[FAKE_MAX];
	size_t n_runs;
	char *delivered[FAKE_MAX];
	char *delivered_to[FAKE_MAX];
	size_t n_delivered;
	bool busy;
	bool locked;	    /* refuse runs with -EAGAIN, as while state.db is locked */
	size_t n_failures;  /* outcomes reported with ok false (what the alerts count) */
	char *last_failure; /* the text of the last one */
};

static void fake_outcome(void *ctx, const char *source, bool ok, const char *text)
{
	struct fake_sink *f = ctx;

	if (ok)
		return;
	f->n_failures++;
	free(f->last_failure);
	f->last_failure = xstrdup(text ? text : "");
}

static int fake_run(void *ctx, const struct job_opts *o, job_done_cb done, void *arg)
{
	struct fake_sink *f = ctx;
	struct fake_run *r;

	if (f->busy)
		return -EBUSY;
	if (f->locked)
		return -EAGAIN;
	assert_true(f->n_runs < FAKE_MAX);
	r = &f->runs[f->n_runs++];
	r->source = xstrdup(o->source);
	r->model = xstrdup(o->model);
	r->prompt = xstrdup(o->prompt);
	r->extra = xstrdup(o->extra_system);
	r->tool = o->tool;
	r->done = done;
	r->arg = arg;
	return 0;
}

static void fake_deliver(void *ctx, const struct config_deliver *to, const char *text)
{
	struct fake_sink *f = ctx;

	assert_true(f->n_delivered < FAKE_MAX);
	f->delivered_to[f->n_delivered] = xstrdup(to->target ? to->target : "(none)");
	f->delivered[f->n_delivered++] = xstrdup(text);
}

static inline void fake_init(struct fake_sink *f)
{
	memset(f, 0, sizeof(*f));
	f->sink.run = fake_run;
	f->sink.deliver = fake_deliver;
	f->sink.outcome = fake_outcome;
	f->sink.ctx = f;
}

/* Finishes run i (once) with ok and text. */
static inline void fake_complete(struct fake_sink *f, size_t i, bool ok, const char *text,
				 double cost_usd)
{
	struct job_result r = {.ok = ok, .text = text, .session_id = 1, .cost_usd = cost_usd};

	assert_true(i < f->n_runs);
	assert_false(f->runs[i].finished);
	f->runs[i].finished = true;
	f->runs[i].done(&r, f->runs[i].arg);
}

/* Finishes run i as a rate pool deferred its model call (no room within max_wait_s). */
static inline void fake_defer(struct fake_sink *f, size_t i, long retry_after_s)
{
	struct job_result r = {.ok = false,
			       .text = "Busy: the model's rate limit is in use by other work",
			       .deferred = true,
			       .retry_after_s = retry_after_s};

	assert_true(i < f->n_runs && !f->runs[i].finished);
	f->runs[i].finished = true;
	f->runs[i].done(&r, f->runs[i].arg);
}

static inline void fake_finish(struct fake_sink *f)
{
	size_t i;

	for (i = 0; i < f->n_runs; i++) {
		free(f->runs[i].source);
		free(f->runs[i].model);
		free(f->runs[i].prompt);
		free(f->runs[i].extra);
	}
	for (i = 0; i < f->n_delivered; i++) {
		free(f->delivered[i]);
		free(f->delivered_to[i]);
	}
	free(f->last_failure);
	memset(f, 0, sizeof(*f));
}

/* Parses yaml (home: is prepended); fails the test on an error. */
static inline struct config *fake_config(const char *home, const char *yaml)
{
	struct config_diag *diag = config_diag_create();
	struct config *cfg = NULL;
	char *text = xasprintf("home: %s\n%s", home, yaml);

	if (config_parse("t.yaml", text, strlen(text), &cfg, diag) != 0)
		config_diag_print(diag, stderr);
	assert_non_null(cfg);
	free(text);
	config_diag_destroy(diag);
	return cfg;
}

#endif
