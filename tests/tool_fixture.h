/* A config with a fresh home, notes dir and external skills dir (mkdtemp), and a call of a
 * builtin tool with JSON arguments, for the unit tests of src/tools/tool_*.c: run(), or
 * start() on a loop of the fixture's own until the callback fires. */
#ifndef HERMETIC_TOOL_FIXTURE_H
#define HERMETIC_TOOL_FIXTURE_H

#include "test.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/loop.h"
#include "tools/tool.h"
#include "core/util.h"

struct fixture {
	char home[32];
	char notes[32];
	char ext[32];
	struct config *cfg;
	struct tools_env env;
	struct buf out;
	int rc;
	struct loop *loop; /* created by the first call of a start() tool */
	int done;	   /* callbacks of start() tools */
};

#define UNUSED __attribute__((unused))

/* extra: more YAML appended to the config (e.g. "memory:\n  max_chars: 100\n"). */
static UNUSED struct fixture *fixture_create(const char *extra)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct config_diag *diag = config_diag_create();
	char *yaml;

	log_set_stderr(0);
	snprintf(f->home, sizeof(f->home), "/tmp/hm-home-XXXXXX");
	snprintf(f->notes, sizeof(f->notes), "/tmp/hm-notes-XXXXXX");
	snprintf(f->ext, sizeof(f->ext), "/tmp/hm-ext-XXXXXX");
	assert_non_null(mkdtemp(f->home));
	assert_non_null(mkdtemp(f->notes));
	assert_non_null(mkdtemp(f->ext));
	yaml = xasprintf("home: %s\nnotes_dirs: [%s]\nskills:\n  external_dirs: [%s]\n%s", f->home,
			 f->notes, f->ext, extra ? extra : "");
	if (config_parse("t.yaml", yaml, strlen(yaml), &f->cfg, diag) != 0)
		config_diag_print(diag, stderr);
	assert_non_null(f->cfg);
	free(yaml);
	config_diag_destroy(diag);
	f->env.cfg = f->cfg;
	buf_init(&f->out, 1024 * 1024);
	return f;
}

static UNUSED void fixture_destroy(struct fixture *f)
{
	assert_int_equal(fileio_remove_tree(f->home), 0);
	assert_int_equal(fileio_remove_tree(f->notes), 0);
	assert_int_equal(fileio_remove_tree(f->ext), 0);
	config_destroy(f->cfg);
	buf_finish(&f->out);
	loop_destroy(f->loop);
	free(f);
}

static UNUSED void on_fixture_job(bool is_error, const char *text, size_t len, void *arg)
{
	struct fixture *f = arg;

	buf_append(&f->out, text, len);
	f->rc = is_error ? -EIO : 0;
	f->done++;
}

/* Starts def (an asynchronous tool); its result lands in f->out and f->rc when the loop
 * runs. Returns start()'s result (its error text is in f->out then). */
static UNUSED int fixture_start(struct fixture *f, const struct tool_def *def,
				const char *args_json, struct tool_job **job)
{
	cJSON *args = cJSON_Parse(args_json);
	struct tool_req req = {.env = &f->env, .session_id = "", .args = args};
	int rc;

	assert_non_null(args);
	if (!f->loop) {
		f->loop = loop_create();
		f->env.loop = f->loop;
	}
	buf_reset(&f->out);
	rc = def->start(&req, on_fixture_job, f, &f->out, job);
	cJSON_Delete(args);
	return rc;
}

/* Runs def with args_json; returns the output (valid until the next call), rc in f->rc. */
static UNUSED const char *call(struct fixture *f, const struct tool_def *def, const char *args_json)
{
	cJSON *args = cJSON_Parse(args_json);
	struct tool_req req = {.env = &f->env, .session_id = "", .args = args};

	assert_non_null(args);
	if (!def->run) {
		struct tool_job *job = NULL;
		int done = f->done;

		cJSON_Delete(args);
		f->rc = fixture_start(f, def, args_json, &job);
		while (f->rc == 0 && f->done == done)
			event_base_loop(loop_base(f->loop), EVLOOP_ONCE);
		return buf_str(&f->out);
	}
	buf_reset(&f->out);
	f->rc = def->run(&req, &f->out);
	cJSON_Delete(args);
	return buf_str(&f->out);
}

/* Asserts that haystack contains needle, printing both when it does not. */
#define assert_contains(haystack, needle) contains((haystack), (needle), __FILE__, __LINE__)

static UNUSED void contains(const char *haystack, const char *needle, const char *file, int line)
{
	bool yes = strstr(haystack, needle) != NULL;

	if (!yes)
		print_error("'%s' not found in:\n%s\n", needle, haystack);
	_assert_true(yes, "strstr(haystack, needle)", file, line);
}

/* Writes text to dir/rel, creating parent directories. */
static UNUSED void put_file(const char *dir, const char *rel, const char *text)
{
	char *path = xasprintf("%s/%s", dir, rel), *slash = strrchr(path, '/');
	FILE *fp;

	*slash = '\0';
	assert_int_equal(fileio_mkdirs(path, 0700), 0);
	*slash = '/';
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	free(path);
}

/* The content of dir/rel (malloc'd), or NULL when it does not exist. */
static UNUSED char *get_file(const char *dir, const char *rel)
{
	char *path = xasprintf("%s/%s", dir, rel);
	struct buf b;
	int rc;

	buf_init(&b, 0);
	rc = fileio_read(path, 1024 * 1024, &b);
	free(path);
	if (rc < 0) {
		buf_finish(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static UNUSED bool exists(const char *dir, const char *rel)
{
	char *path = xasprintf("%s/%s", dir, rel);
	struct stat st;
	bool yes = lstat(path, &st) == 0;

	free(path);
	return yes;
}

#endif
