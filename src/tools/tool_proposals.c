/* tool_proposals: the memory and skill writes of tainted turns, waiting for the human.
 *
 * A proposal is one file, home/proposals/<id>.json: {"id", "tool", "args", "source",
 * "created_ms", and "lane" for a turn in one (approving runs the call in that lane, so a
 * memory entry lands in the lane's file, never in the shared one)}, written atomically through
 * safeio like every other write of the tools. The id is 6 random hex digits (short enough to type
 * after /approve; a clash is retried) and a file name is only ever built from a checked id, so a
 * command's argument cannot name another file. Deciding first renames <id>.json to <id>.deciding,
 * so of two deciders (the CLI and Telegram) exactly one gets it. Approving runs the stored call
 * through the tool's own run(), with every check the tool makes at that moment (memory bounds,
 * unique old_text, skill names); rejecting only removes the file. At most MAX_PENDING wait at once:
 * past that a tainted turn's write is refused, so an injected loop cannot fill the disk.
 *
 * Rejected: a table in state.db (these files can be read, and deleted, by hand, and the
 * CLI that approves needs no schema), and storing the resulting file instead of the call (a
 * stale proposal would overwrite every edit made since; the call is re-checked instead).
 */
#include "core/json.h"
#include "core/config.h"
#include "core/safeio.h"
#include "core/sessions.h"
#include "tools/tool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define DIR_REL	    "proposals"
#define MAX_PENDING 100
#define RECORD_MAX  (64 * 1024) /* one proposal file */
#define SHOWN_MAX   1500	/* bytes of each text shown to the human */
#define ID_LEN	    6
#define ID_TRIES    8

static bool valid_id(const char *id)
{
	size_t i;

	if (!id || strlen(id) != ID_LEN)
		return false;
	for (i = 0; i < ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

static int new_id(char id[8])
{
	unsigned char r[3];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -errno;
	snprintf(id, 8, "%02x%02x%02x", r[0], r[1], r[2]);
	return 0;
}

/* "<id>.json" files in home/proposals (0 when the directory does not exist). */
static size_t count_pending(const char *home)
{
	char *dir = xasprintf("%s/%s", home, DIR_REL);
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0, len;

	free(dir);
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (len == ID_LEN + 5 && strcmp(e->d_name + ID_LEN, ".json") == 0)
			n++;
	}
	closedir(d);
	return n;
}

int tool_proposal_store(const struct config *cfg, const char *tool, const cJSON *args,
			const char *source, const char *lane, char id[8], struct buf *err)
{
	cJSON *rec = cJSON_CreateObject();
	char *text = NULL, *rel = NULL;
	int fd = -1, rc, i, probe;

	if (count_pending(cfg->home) >= MAX_PENDING) {
		buf_printf(
			err,
			"not applied: this turn has read untrusted content, so the change needs "
			"the human's approval, and %d proposals already wait for it; ask the human "
			"to approve or reject them (hermetic proposals)",
			MAX_PENDING);
		rc = -ENOSPC;
		goto out;
	}
	fd = safeio_open_home(cfg->home);
	rc = fd < 0 ? fd : safeio_mkdirs_at(fd, DIR_REL, 0700);
	for (i = 0; rc == 0 && i < ID_TRIES; i++) {
		rc = new_id(id);
		free(rel);
		rel = xasprintf("%s/%s.json", DIR_REL, id);
		probe = rc == 0 ? safeio_open_at(fd, rel, O_RDONLY, 0) : -ENOENT;
		if (probe >= 0)
			close(probe);
		if (probe == -ENOENT)
			break;
	}
	if (rc == 0 && i == ID_TRIES)
		rc = -EEXIST;
	if (rc < 0) {
		buf_printf(err, "not applied: the change could not be stored for approval (%s)",
			   safeio_strerror(rc));
		goto out;
	}
	cJSON_AddStringToObject(rec, "id", id);
	cJSON_AddStringToObject(rec, "tool", tool);
	cJSON_AddItemToObject(rec, "args", cJSON_Duplicate(args, true));
	cJSON_AddStringToObject(rec, "source", source);
	if (lane)
		cJSON_AddStringToObject(rec, "lane", lane);
	cJSON_AddNumberToObject(rec, "created_ms", (double)now_wall_ms());
	text = cJSON_PrintUnformatted(rec);
	if (strlen(text) > RECORD_MAX) {
		buf_printf(err, "not applied: the change is larger than %d KiB", RECORD_MAX / 1024);
		rc = -E2BIG;
		goto out;
	}
	rc = safeio_write_atomic_at(fd, rel, text, strlen(text), 0600);
	if (rc < 0)
		buf_printf(err, "not applied: the change could not be stored for approval (%s)",
			   safeio_strerror(rc));
out:
	if (fd >= 0)
		close(fd);
	cJSON_free(text);
	free(rel);
	cJSON_Delete(rec);
	return rc;
}

static void shown(struct buf *out, const char *label, const cJSON *args, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
	size_t n;

	if (!cJSON_IsString(v))
		return;
	n = strlen(v->valuestring);
	buf_printf(out, "\n%s: ", label);
	buf_append(out, v->valuestring, n > SHOWN_MAX ? utf8_cut(v->valuestring, SHOWN_MAX) : n);
	if (n > SHOWN_MAX)
		buf_printf(out, " [... %zu bytes in all]", n);
}

static const char *str_arg(const cJSON *args, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);

	return cJSON_IsString(v) ? v->valuestring : "?";
}

void tool_proposal_describe(const char *tool, const cJSON *args, struct buf *out)
{
	if (strcmp(tool, "memory") == 0) {
		buf_printf(out, "memory %s (%s)", str_arg(args, "action"), str_arg(args, "target"));
		shown(out, "entry containing", args, "old_text");
		shown(out, "new text", args, "content");
	} else if (strcmp(tool, "skill_manage") == 0) {
		buf_printf(out, "skill_manage %s %s", str_arg(args, "action"),
			   str_arg(args, "name"));
		shown(out, "content", args, "content");
		shown(out, "old text", args, "old_text");
		shown(out, "new text", args, "new_text");
	} else {
		char *text = cJSON_PrintUnformatted(args);

		buf_printf(out, "%s %.*s", tool, (int)utf8_cut(text, SHOWN_MAX), text);
		cJSON_free(text);
	}
}

/* ---- deciding ---- */

static const struct tool_def *writer(const char *name)
{
	static const struct tool_def *const defs[] = {&tool_def_memory, &tool_def_skill_manage};
	size_t i;

	for (i = 0; i < ARRAY_LEN(defs); i++)
		if (strcmp(defs[i]->name, name) == 0)
			return defs[i];
	return NULL;
}

/* The record of rel below home, parsed, or NULL. */
static cJSON *read_record(int home_fd, const char *rel)
{
	struct buf b;
	cJSON *rec = NULL;

	buf_init(&b, 0);
	if (safeio_read_at(home_fd, rel, RECORD_MAX, &b) == 0)
		rec = json_parse_str(buf_str(&b), NULL);
	buf_finish(&b);
	if (rec && (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(rec, "tool")) ||
		    !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(rec, "args")))) {
		cJSON_Delete(rec);
		rec = NULL;
	}
	return rec;
}

static int apply(const struct config *cfg, const char *id, const cJSON *rec, struct buf *out)
{
	const char *tool = cJSON_GetObjectItemCaseSensitive(rec, "tool")->valuestring;
	const struct tool_def *d = writer(tool);
	struct tools_env env = {.cfg = cfg};
	const cJSON *lane = cJSON_GetObjectItemCaseSensitive(rec, "lane");
	struct tool_req req = {.env = &env,
			       .session_id = "",
			       .args = cJSON_GetObjectItemCaseSensitive(rec, "args"),
			       .lane = cJSON_IsString(lane) ? lane->valuestring : NULL};
	struct buf res;
	int rc;

	if (!d) {
		buf_printf(out, "Proposal %s names %s, which proposals cannot change.", id, tool);
		return -EINVAL;
	}
	buf_init(&res, 64 * 1024);
	rc = d->run(&req, &res);
	if (rc < 0)
		buf_printf(out, "Proposal %s could not be applied: %s", id, buf_str(&res));
	else
		buf_printf(out, "Approved proposal %s: %s", id, buf_str(&res));
	buf_finish(&res);
	return rc;
}

int tools_proposal_decide(const struct config *cfg, const char *arg, bool approve, struct buf *out)
{
	char id[ID_LEN + 2] = "", json[32], taken[32];
	cJSON *rec = NULL;
	int fd = -1, dir = -1, rc;
	size_t n;

	/* The word after the command, as typed: "/approve ab12cd\n". */
	arg += arg ? strspn(arg, " \t\r\n") : 0;
	n = arg ? strcspn(arg, " \t\r\n") : 0;
	if (n <= ID_LEN) {
		memcpy(id, arg ? arg : "", n);
		id[n] = '\0';
	}
	if (!valid_id(id)) {
		buf_printf(out, "A proposal id is %d characters 0-9 a-f (see hermetic proposals).",
			   ID_LEN);
		return -EINVAL;
	}
	snprintf(json, sizeof(json), "%s.json", id);
	snprintf(taken, sizeof(taken), "%s.deciding", id);
	fd = safeio_open_home(cfg->home);
	dir = fd < 0 ? fd : safeio_open_at(fd, DIR_REL, O_RDONLY | O_DIRECTORY, 0);
	rc = dir < 0 ? dir : (renameat(dir, json, dir, taken) < 0 ? -errno : 0);
	if (rc == -ENOENT) {
		buf_printf(out, "There is no proposal %s (already decided?).", id);
		goto out;
	}
	if (rc < 0) {
		buf_printf(out, "Proposal %s could not be opened: %s", id, safeio_strerror(rc));
		goto out;
	}
	rec = read_record(dir, taken);
	if (!rec) {
		buf_printf(out, "Proposal %s is unreadable; it was removed.", id);
		rc = -EINVAL;
	} else if (approve) {
		rc = apply(cfg, id, rec, out);
	} else {
		buf_printf(out, "Rejected proposal %s: ", id);
		tool_proposal_describe(cJSON_GetObjectItemCaseSensitive(rec, "tool")->valuestring,
				       cJSON_GetObjectItemCaseSensitive(rec, "args"), out);
	}
	unlinkat(dir, taken, 0);
out:
	cJSON_Delete(rec);
	if (dir >= 0)
		close(dir);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- listing ---- */

struct pending {
	double created_ms;
	cJSON *rec;
};

static int by_time(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	return (x->created_ms > y->created_ms) - (x->created_ms < y->created_ms);
}

static void list_one(const cJSON *rec, struct buf *out)
{
	const cJSON *created = cJSON_GetObjectItemCaseSensitive(rec, "created_ms");
	const cJSON *source = cJSON_GetObjectItemCaseSensitive(rec, "source");
	char when[32] = "?";

	if (cJSON_IsNumber(created))
		sessions_format_time((int64_t)created->valuedouble, when);
	buf_printf(out, "%s  %s  from %s\n", str_arg(rec, "id"), when,
		   cJSON_IsString(source) ? source->valuestring : "?");
	tool_proposal_describe(cJSON_GetObjectItemCaseSensitive(rec, "tool")->valuestring,
			       cJSON_GetObjectItemCaseSensitive(rec, "args"), out);
	buf_puts(out, "\n\n");
}

int tools_proposals_list(const struct config *cfg, struct buf *out)
{
	struct pending *v = NULL;
	size_t n = 0, i, len;
	struct dirent *e;
	int fd = safeio_open_home(cfg->home);
	int dir = fd < 0 ? fd : safeio_open_at(fd, DIR_REL, O_RDONLY | O_DIRECTORY, 0);
	DIR *d = dir >= 0 ? fdopendir(dup(dir)) : NULL;

	while (d && (e = readdir(d)) != NULL && n < MAX_PENDING * 2) {
		cJSON *rec;
		const cJSON *created;

		len = strlen(e->d_name);
		if (len != ID_LEN + 5 || strcmp(e->d_name + ID_LEN, ".json") != 0)
			continue;
		rec = read_record(dir, e->d_name);
		if (!rec)
			continue;
		created = cJSON_GetObjectItemCaseSensitive(rec, "created_ms");
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n].created_ms = cJSON_IsNumber(created) ? created->valuedouble : 0;
		v[n++].rec = rec;
	}
	if (d)
		closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), by_time);
	for (i = 0; i < n; i++) {
		list_one(v[i].rec, out);
		cJSON_Delete(v[i].rec);
	}
	free(v);
	if (n == 0)
		buf_puts(out, "No proposals wait for approval.\n");
	else
		buf_puts(out, "Approve with: hermetic proposals approve ID (or /approve ID in "
			      "Telegram); reject with reject ID.\n");
	if (dir >= 0)
		close(dir);
	if (fd >= 0)
		close(fd);
	return 0;
}
