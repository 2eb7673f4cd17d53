/* config_fixture.h: what the config table tests share (test_config_compat.c,
 * test_config_litellm3.c): a TZDIR with a UTC zone so config loads read no system zone, and a
 * parse whose diagnostics are kept as `config check` prints them. Header-only: each test is its
 * own executable. */
#ifndef HERMETIC_TESTS_CONFIG_FIXTURE_H
#define HERMETIC_TESTS_CONFIG_FIXTURE_H

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makes tzdir (a mkdtemp template) with a UTC zone in it, sets TZDIR, silences the log. */
static inline int config_fixture_tz_setup(char *tzdir)
{
	char *path;
	FILE *f;

	unsetenv("HERMETIC_HOME");
	if (!mkdtemp(tzdir))
		return -1;
	path = xasprintf("%s/UTC", tzdir);
	f = fopen(path, "w");
	free(path);
	if (!f)
		return -1;
	fputs("TZif2 test zone\n", f);
	fclose(f);
	setenv("TZDIR", tzdir, 1);
	log_set_stderr(0);
	return 0;
}

static inline int config_fixture_tz_teardown(const char *tzdir)
{
	char *path = xasprintf("%s/UTC", tzdir);

	remove(path);
	free(path);
	rmdir(tzdir);
	log_forget_secrets();
	return 0;
}

struct result {
	int rc;
	struct config *cfg;
	struct config_diag *diag;
	char *out; /* the diag as config check prints it */
};

/* Parses text as file (strict: --strict) and keeps what `config check` would print. */
static inline struct result config_fixture_parse(const char *file, const char *text, bool strict)
{
	struct result r = {.diag = config_diag_create()};
	size_t len;
	FILE *f;

	config_diag_set_strict(r.diag, strict);
	r.rc = config_parse(file, text, strlen(text), &r.cfg, r.diag);
	f = open_memstream(&r.out, &len);
	config_diag_print(r.diag, f);
	fclose(f);
	return r;
}

static inline void result_finish(struct result *r)
{
	config_destroy(r->cfg);
	config_diag_destroy(r->diag);
	free(r->out);
}

#endif
