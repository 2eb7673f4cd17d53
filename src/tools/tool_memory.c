/* tool_memory: the `memory` tool and the memory snapshot of the system prompt.
 *
 * Two small files under home/memories/: MEMORY.md (the agent's own notes) and USER.md (what
 * it knows about the user), each a list of entries joined by a line holding only "§"
 * (Hermes Agent's format, so its files can be copied over). Each file has a bound in
 * characters (memory.max_chars, memory.user_max_chars); a write that would pass it is
 * refused with the numbers and the current entries, so the model can consolidate and retry.
 *
 * Memory never fills silently: from FULL_WARN_PERCENT of the bound every write's answer asks
 * the model to consolidate; and when an add or replace from a turn would not fit, one model
 * call (auxiliary.memory, lent by the turn through tools_llm, so it is paid, ledgered and
 * budgeted like compression) rewrites the other entries shorter, to at most CONDENSE_PERCENT
 * of the bound. Its answer must be entries in the file's own format and is checked
 * (tool_memory_condensed); the old file is kept as memories/.history/<file>.<UTC time>
 * (memory.history_keep of them), the new one written, and the pending entry added verbatim.
 * The human is told in one line with the reply (tools_ctx.notice), and also when a write
 * still does not fit. A failed call, an answer that does not pass, or a file that changed
 * while the model wrote leaves the file byte for byte as it was. At most one such call per
 * file per turn (the turn enforces it by key). Writes from a tainted turn never get here:
 * tools.c stores them as proposals first, and applying one (run(), no turn) never condenses.
 * Rejected: condensing in the background before the file is full (a paid call for nothing
 * on most days), and letting the model's answer replace the pending entry too (the entry the
 * model asked to store is kept as written).
 * replace/remove pick one entry by a unique substring, as Hermes does: ids would cost tokens
 * and go stale, whole-entry matches make the model copy text back verbatim.
 *
 * Every call re-reads the file, so edits by hand or by another session are never lost; a
 * write replaces the file atomically. Each read-change-write holds the write lock (mem_lock), so a
 * turn's call (on the loop) and the owner's edit from the web cockpit (tools_memory_put, on an
 * offload thread) never write over each other in one process.
 *
 * The owner's edit (tools_memory_put) replaces the whole file with the text the human wrote,
 * through this file's parser, bound check (the tool's refusal, word for word) and atomic
 * save, and keeps the old file in memories/.history as a condensing rewrite does. It names
 * the version (tools_edit_version of the bytes it was shown): a file written since is not
 * overwritten (-ESTALE). It is the human's own write: no proposal, no approval, no
 * condensing model call (the human sees the bound and shortens the text). The snapshot is read once
 * per session by the caller (a frozen system prompt keeps the provider's prompt cache warm); writes
 * show up in the next session. Reads and writes go through safeio relative to home's descriptor, so
 * a symlink planted at memories/ or at the file is refused, never followed. Rejected: keeping
 * entries in state.db (the files are meant to be read and edited by the user) and Hermes' batch
 * operations (more schema bytes in every request for a rare case).
 *
 * Lanes (docs/security.md, "Lanes"): the shared files are in every conversation's prompt, so a
 * turn in a lane writes its own files instead, memories/lanes/<lane>/MEMORY.md and USER.md
 * (same format, same bounds, history in memories/lanes/<lane>/.history). A turn sees the
 * shared files and those of its lane and of every lane listed after it (tool_memory_lanes),
 * in its prompt and in `read`; never a more sensitive lane's. Its add, replace and remove act
 * on its own lane's file only, and a full one is condensed alone, by the turn's own side call
 * (in the lane), so no other lane's entries are in that call. A lane's file is a plain file
 * the owner edits like the others. Rejected: a marker per entry inside MEMORY.md (one file
 * holding every lane's text, a bound shared across lanes, and an edit by hand that drops a
 * marker would move an entry into every prompt).
 */
#include "tools/tool_memory_int.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/safeio.h"
#include "tools/tool.h"
#include "tools/tools.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define PREVIEW_BYTES	 80
#define CONDENSE_PERCENT 70 /* a condensed file leaves 30% of the bound free */

/* The entry content, trimmed and checked; NULL with a message in out. */
static char *content_arg(const char *content, const char *action, struct buf *out)
{
	char *c = content ? mem_trimmed(content, strlen(content)) : NULL;

	if (!c)
		buf_printf(out, "%s needs content: the text of the entry", action);
	else if (mem_has_delim_line(c))
		buf_puts(out, "content must not hold a line with only \"§\": it separates entries");
	else
		return c;
	free(c);
	return NULL;
}

/* The index of the one entry holding old_text; -1 with a message in out. */
static ssize_t pick(const struct mem *m, const char *old_text, const char *action, struct buf *out)
{
	size_t i, hits = 0, at = 0;

	if (!old_text || !*old_text) {
		buf_printf(out, "%s needs old_text: a unique part of the entry", action);
		return -1;
	}
	for (i = 0; i < m->n; i++)
		if (strstr(m->v[i], old_text)) {
			hits++;
			at = i;
		}
	if (hits == 1)
		return (ssize_t)at;
	if (hits == 0) {
		buf_printf(out, "old_text was not found in %s; call memory with action=read first",
			   m->file);
		return -1;
	}
	buf_printf(out, "old_text matches %zu entries in %s; use a longer part of one of:", hits,
		   m->file);
	for (i = 0; i < m->n; i++)
		if (strstr(m->v[i], old_text))
			buf_printf(out, "\n- %.*s%s", PREVIEW_BYTES, m->v[i],
				   strlen(m->v[i]) > PREVIEW_BYTES ? "..." : "");
	return -1;
}

struct call {
	struct mem *m;
	const char *content;
	const char *old_text;
};

static int act_add(const struct call *c, struct buf *out)
{
	struct mem *m = c->m;
	char *e = content_arg(c->content, "add", out);
	int rc;

	if (!e)
		return -EINVAL;
	if (mem_find(m, e) >= 0) {
		free(e);
		buf_printf(out, "Already in %s; nothing to do.", m->file);
		return 0;
	}
	rc = mem_check_bound(
		m, mem_chars_of(m->v, m->n) + (m->n ? DELIM_CHARS : 0) + mem_chars_one(e), out);
	if (rc < 0) {
		free(e);
		return rc;
	}
	mem_push(m, e);
	return mem_save(m, "Added to", out);
}

static int act_replace(const struct call *c, struct buf *out)
{
	struct mem *m = c->m;
	ssize_t at = pick(m, c->old_text, "replace", out);
	char *e;
	int rc;

	if (at < 0)
		return -EINVAL;
	e = content_arg(c->content, "replace", out);
	if (!e)
		return -EINVAL;
	rc = mem_check_bound(
		m, mem_chars_of(m->v, m->n) - mem_chars_one(m->v[at]) + mem_chars_one(e), out);
	if (rc < 0) {
		free(e);
		return rc;
	}
	free(m->v[at]);
	m->v[at] = e;
	return mem_save(m, "Replaced the entry in", out);
}

static int act_remove(const struct call *c, struct buf *out)
{
	struct mem *m = c->m;
	ssize_t at = pick(m, c->old_text, "remove", out);

	if (at < 0)
		return -EINVAL;
	free(m->v[at]);
	memmove(m->v + at, m->v + at + 1, (m->n - (size_t)at - 1) * sizeof(*m->v));
	m->n--;
	return mem_save(m, "Removed the entry from", out);
}

static int act_read(const struct call *c, struct buf *out)
{
	struct mem *m = c->m;

	buf_printf(out, "%s (", m->file);
	mem_usage(m, mem_chars_of(m->v, m->n), out);
	buf_puts(out, m->n ? "):\n" : ")");
	mem_join(m->v, m->n, out);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(const struct call *c, struct buf *out);
} actions[] = {
	{"add", act_add},
	{"replace", act_replace},
	{"remove", act_remove},
	{"read", act_read},
};

/* The action's index, the target and the strings of a call (borrowed from args); -EINVAL
 * with the reason in out. */
static int read_args(const cJSON *args, size_t *action, bool *user, struct call *c, struct buf *out)
{
	size_t mark = out->len, i;
	const char *name = tool_arg_str(args, "action", true, out);
	const char *target = tool_arg_str(args, "target", false, out);

	c->content = tool_arg_str(args, "content", false, out);
	c->old_text = tool_arg_str(args, "old_text", false, out);
	if (!name || out->len > mark)
		return -EINVAL;
	if (target && strcmp(target, "memory") != 0 && strcmp(target, "user") != 0) {
		buf_puts(out, "target must be memory or user");
		return -EINVAL;
	}
	for (i = 0; i < ARRAY_LEN(actions) && strcmp(actions[i].name, name) != 0; i++)
		;
	if (i == ARRAY_LEN(actions)) {
		buf_puts(out, "action must be add, replace, remove or read");
		return -EINVAL;
	}
	*action = i;
	*user = target && strcmp(target, "user") == 0;
	return 0;
}

/* Loads lane's file (NULL: the shared one) into m (the caller finishes m) and runs the action
 * on it. */
static int act(const struct config *cfg, bool user, const char *lane, size_t action, struct call *c,
	       struct mem *m, struct buf *out)
{
	int rc;

	mem_init(m, cfg, user, lane);
	c->m = m;
	mem_lock();
	rc = mem_load(m, out);
	if (rc == 0)
		rc = actions[action].fn(c, out);
	mem_unlock();
	return rc;
}

/* ---- lanes: a turn in a lane keeps its entries in that lane's files ---------------------- */

size_t tool_memory_lanes(const struct config *cfg, const char *lane, const char **out)
{
	size_t i, n = 0, at;

	if (!lane)
		return 0;
	for (at = 0; at < cfg->n_lanes && strcmp(cfg->lanes[at].name, lane) != 0; at++)
		;
	if (at == cfg->n_lanes)
		return SIZE_MAX;
	for (i = cfg->n_lanes; i > at; i--)
		if (mem_lane_ok(cfg->lanes[i - 1].name))
			out[n++] = cfg->lanes[i - 1].name;
	return n;
}

/* The lane whose files a write of req's turn changes: NULL for a turn in no lane, else the
 * turn's own lane. -EPERM with the reason in out when that lane cannot have files. */
static int write_lane(const struct tool_req *req, const char **lane, struct buf *out)
{
	const char *v[CONFIG_MAX_LANES];
	size_t n = tool_memory_lanes(req->env->cfg, req->lane, v);

	*lane = NULL;
	if (!req->lane)
		return 0;
	if (n != SIZE_MAX && n > 0 && strcmp(v[n - 1], req->lane) == 0) {
		*lane = req->lane;
		return 0;
	}
	buf_printf(out,
		   "not saved: this conversation is in lane '%.64s', which %s, so the entry "
		   "could not be kept apart from other lanes; keep it in this conversation "
		   "instead",
		   req->lane,
		   n == SIZE_MAX ? "is not in the config"
				 : "has a name that cannot be a folder (letters, digits, '_', '-', "
				   "'.')");
	return -EPERM;
}

/* `read` from a turn in lane: the shared file, then the files of the lanes the turn may see,
 * least sensitive first, its own last (shown even when empty: its writes go there). */
static int read_visible(const struct config *cfg, bool user, const char *lane, size_t action,
			struct call *c, struct buf *out)
{
	const char *v[CONFIG_MAX_LANES];
	size_t n = tool_memory_lanes(cfg, lane, v), i;
	struct mem m;
	int rc = act(cfg, user, NULL, action, c, &m, out);

	mem_finish(&m);
	for (i = 0; rc == 0 && n != SIZE_MAX && i < n; i++) {
		struct buf one;

		buf_init(&one, 0);
		rc = act(cfg, user, v[i], action, c, &m, &one);
		if (rc == 0 && (m.n || i + 1 == n))
			buf_printf(out, "\n\nLane %s: %s", v[i], buf_str(&one));
		else if (rc < 0)
			buf_append(out, one.data, one.len);
		buf_finish(&one);
		mem_finish(&m);
	}
	return rc;
}

static bool is_read(size_t action)
{
	return strcmp(actions[action].name, "read") == 0;
}

static int run(const struct tool_req *req, struct buf *out)
{
	const char *lane;
	struct call c;
	struct mem m;
	size_t action;
	bool user;
	int rc = read_args(req->args, &action, &user, &c, out);

	if (rc < 0)
		return rc;
	if (is_read(action))
		return read_visible(req->env->cfg, user, req->lane, action, &c, out);
	if (write_lane(req, &lane, out) < 0)
		return -EPERM;
	rc = act(req->env->cfg, user, lane, action, &c, &m, out);
	mem_finish(&m);
	return rc;
}

/* ---- condensing a full file ------------------------------------------------------------ */

static const char condense_prompt[] =
	"You condense a full memory file of an AI assistant. Rewrite its entries shorter: merge "
	"duplicates and related entries, drop what is stale or superseded, keep every durable "
	"fact (names, numbers, dates, preferences, decisions). Answer with the entries only, in "
	"the file's format: each entry separated from the next by a line holding only \"§\". No "
	"preamble, no comments, no code fence. At most %zu characters in all.";

/* The model's answer, for tool_memory_condensed: one ``` fence around it is taken off. */
static void unfence(const char **s, size_t *len)
{
	const char *nl;

	while (*len > 0 && mem_is_space(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && mem_is_space((*s)[*len - 1]))
		(*len)--;
	if (*len < 6 || strncmp(*s, "```", 3) != 0 || strncmp(*s + *len - 3, "```", 3) != 0)
		return;
	nl = memchr(*s, '\n', *len - 3);
	if (!nl)
		return;
	*len -= (size_t)(nl + 1 - *s) + 3;
	*s = nl + 1;
}

long tool_memory_condensed(const char *answer, size_t max_chars, struct buf *out, char *why,
			   size_t why_len)
{
	struct mem m;
	const char *s = answer ? answer : "";
	size_t len = strlen(s), chars, i;
	long rc = -1;

	memset(&m, 0, sizeof(m));
	unfence(&s, &len);
	if (len > max_chars * 4 + DELIM_CHARS) { /* more bytes than any text it may be */
		snprintf(why, why_len,
			 "the answer was %zu bytes, over the %zu characters asked for", len,
			 max_chars);
		goto out;
	}
	mem_parse(&m, s, len);
	if (m.n == 0) {
		snprintf(why, why_len, "the answer held no entries");
		goto out;
	}
	for (i = 0; i < m.n; i++)
		if (strstr(m.v[i], "```") || mem_has_delim_line(m.v[i])) {
			snprintf(why, why_len, "the answer was not in the file's format");
			goto out;
		}
	chars = mem_chars_of(m.v, m.n);
	if (chars > max_chars) {
		snprintf(why, why_len, "the answer was %zu characters, over the %zu asked for",
			 chars, max_chars);
		goto out;
	}
	mem_join(m.v, m.n, out);
	rc = (long)chars;
out:
	mem_finish(&m);
	return rc;
}

/* One memory call of a turn: answered at once (from the loop), or after a condensing call. */
struct tool_job {
	const struct config *cfg;
	struct event *ev; /* delivers a result known in start() */
	tool_job_cb cb;
	void *arg;
	const struct tools_llm *llm;
	void *llm_arg;
	void *call; /* the condensing call in flight */
	void (*notice)(const char *text, void *arg);
	void *notice_arg;
	size_t action;
	bool user, cancelled, is_error;
	char *lane;		  /* the lane whose file it writes, NULL: the shared one */
	char *content, *old_text; /* the call's, copied */
	struct buf before;	  /* the file's bytes the model was given */
	size_t before_chars;
	struct buf out;
};

static bool is_replace(const struct tool_job *j)
{
	return strcmp(actions[j->action].name, "replace") == 0;
}

static size_t condensed_max(size_t max_chars)
{
	return max_chars * CONDENSE_PERCENT / 100;
}

static void job_free(struct tool_job *j)
{
	if (j->ev)
		event_free(j->ev);
	free(j->lane);
	free(j->content);
	free(j->old_text);
	buf_finish(&j->before);
	buf_finish(&j->out);
	free(j);
}

static void deliver(struct tool_job *j)
{
	j->cb(j->is_error, buf_str(&j->out), j->out.len, j->arg);
	job_free(j);
}

static void on_ready(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	deliver(arg);
}

/* The human hears that a write did not fit: why is what condensing hit (tried: the call was
 * made and failed), or NULL when it was not tried. */
static void tell_full(const struct tool_job *j, const struct mem *m, const char *why, bool tried)
{
	char a[32], b[32], *text, *how;

	if (!j->notice)
		return;
	if (tried)
		how = xasprintf(", and condensing it failed (%s), so the file is unchanged and the "
				"entry was not saved",
				why);
	else
		how = xasprintf("%s%s%s; the entry was not saved",
				why ? " and was not condensed (" : "", why ? why : "",
				why ? ")" : "");
	text = xasprintf("Memory is full: a new entry did not fit in %s (%s/%s characters)%s. Ask "
			 "me to forget something, or edit memories/%s.",
			 m->file, mem_commas(mem_chars_of(m->v, m->n), a),
			 mem_commas(m->max_chars, b), how, m->file);
	j->notice(text, j->notice_arg);
	free(how);
	free(text);
}

static void on_condensed(int status, const char *text, void *arg);

/* Starts the one model call that condenses m (which refused the pending write): every entry
 * but the one a replace drops. false with why filled when it cannot help or cannot start. */
static bool condense_start(struct tool_job *j, const struct mem *m, char *why, size_t why_len)
{
	char *e = mem_trimmed(j->content, strlen(j->content)), *key, a[32], b[32];
	size_t target = condensed_max(m->max_chars), need = mem_chars_one(e), i, n = 0;
	struct buf scratch, sys, user;
	ssize_t drop = -1;
	int rc;

	free(e);
	buf_init(&scratch, 0);
	if (is_replace(j)) /* the entry it replaces is not kept */
		drop = pick(m, j->old_text, "replace", &scratch);
	buf_finish(&scratch);
	if (need + DELIM_CHARS > m->max_chars - target) {
		snprintf(why, why_len, "the new entry is too long to fit even then");
		return false;
	}
	if (!j->cfg->auxiliary.memory) {
		snprintf(why, why_len, "no model is set (auxiliary.memory)");
		return false;
	}
	buf_init(&sys, 0);
	buf_init(&user, 0);
	buf_printf(&sys, condense_prompt, target);
	buf_printf(&user, "%s (%s), %s/%s characters:\n\n", m->file,
		   j->user ? "what the assistant knows about the user"
			   : "the assistant's own notes",
		   mem_commas(mem_chars_of(m->v, m->n), a), mem_commas(m->max_chars, b));
	for (i = 0; i < m->n; i++)
		if ((ssize_t)i != drop)
			buf_printf(&user, "%s%s", n++ ? DELIM : "", m->v[i]);
	key = xasprintf("memory:%s", m->file);
	/* A token is about four characters of English: half a token per character is room
	 * enough for a text of target characters, and keeps a large file's call within what
	 * providers accept (and what the router reserves for it). */
	/* A lane's file is condensed by the turn's own group (""), which its lane allows:
	 * auxiliary.memory may be a group outside the lane, which the router would refuse. */
	rc = j->llm->chat(j->llm_arg, key, j->lane ? "" : j->cfg->auxiliary.memory, buf_str(&sys),
			  buf_str(&user),
			  (int)(target / 2 + 256 < 16384 ? target / 2 + 256 : 16384), on_condensed,
			  j, &j->call);
	free(key);
	buf_finish(&sys);
	buf_finish(&user);
	if (rc == -EALREADY)
		snprintf(why, why_len, "it was condensed once in this turn already");
	else if (rc < 0)
		snprintf(why, why_len, "no model call could be made now");
	if (rc < 0)
		return false;
	buf_append(&j->before, m->raw.data, m->raw.len);
	j->before_chars = mem_chars_of(m->v, m->n);
	return true;
}

/* Writes the condensed entries plus the pending one, the old file kept first. 0, or -1 with
 * why filled and the file as it was. */
static int condense_apply(struct tool_job *j, const struct buf *cond, char *why, size_t why_len)
{
	struct mem old, m;
	struct buf scratch, name;
	char a[32], b[32];
	int rc = -1, home_fd = -1;
	size_t chars;

	mem_init(&old, j->cfg, j->user, j->lane);
	mem_init(&m, j->cfg, j->user, j->lane);
	buf_init(&scratch, 0);
	buf_init(&name, 0);
	mem_lock();
	if (mem_load(&old, &scratch) < 0) {
		snprintf(why, why_len, "%s", buf_str(&scratch));
		goto out;
	}
	if (old.raw.len != j->before.len ||
	    (old.raw.len && memcmp(old.raw.data, j->before.data, old.raw.len) != 0)) {
		snprintf(why, why_len, "%s changed while the model wrote", old.file);
		goto out;
	}
	mem_parse(&m, cond->data ? cond->data : "", cond->len);
	mem_push(&m, mem_trimmed(j->content, strlen(j->content)));
	chars = mem_chars_of(m.v, m.n);
	if (chars > m.max_chars) {
		snprintf(why, why_len, "the condensed file left no room");
		goto out;
	}
	home_fd = safeio_open_home(j->cfg->home);
	rc = home_fd < 0 ? home_fd : mem_history_put(home_fd, &old, &name);
	if (rc < 0) {
		snprintf(why, why_len, "the old version could not be kept: %s",
			 safeio_strerror(rc));
		goto out;
	}
	/* Pruned before the save: a failed save cannot leave one version more than kept. */
	mem_history_prune(home_fd, &old, (size_t)j->cfg->memory.history_keep);
	rc = mem_save(&m, is_replace(j) ? "Replaced the entry in" : "Added to", &scratch);
	if (rc < 0) {
		snprintf(why, why_len, "%s", buf_str(&scratch));
		goto out;
	}
	buf_reset(&j->out);
	buf_printf(&j->out,
		   "%s It was full, so one model call condensed the other entries first (%s had "
		   "%s characters); the old version is kept as %s. Read the file "
		   "(action=read) before you rely on an entry's exact words.",
		   buf_str(&scratch), old.file, mem_commas(j->before_chars, a), buf_str(&name));
	log_info("memory: condensed %s from %zu to %zu characters (one model call), old version "
		 "%s",
		 old.file, j->before_chars, chars, buf_str(&name));
	if (j->notice) {
		char *text = xasprintf("Memory was full; I condensed %s from %s to %s characters "
				       "(old version kept in %s/%s).",
				       old.file, mem_commas(j->before_chars, a),
				       mem_commas(chars, b), old.dir, HISTORY_DIR);

		j->notice(text, j->notice_arg);
		free(text);
	}
out:
	mem_unlock();
	if (home_fd >= 0)
		close(home_fd);
	buf_finish(&name);
	buf_finish(&scratch);
	mem_finish(&m);
	mem_finish(&old);
	return rc < 0 ? -1 : 0;
}

/* Condensing failed (why): the write is tried once more on the file as it is now. */
static void condense_failed(struct tool_job *j, const char *why)
{
	struct call c = {NULL, j->content, j->old_text};
	struct mem m;
	int rc;

	log_warn("memory: condensing %s failed: %s; nothing was changed",
		 j->user ? "USER.md" : "MEMORY.md", why);
	buf_reset(&j->out);
	rc = act(j->cfg, j->user, j->lane, j->action, &c, &m, &j->out);
	if (rc == -E2BIG) {
		buf_printf(&j->out,
			   "\nCondensing %s with one model call failed (%s); nothing was "
			   "changed. The user was told.",
			   m.file, why);
		tell_full(j, &m, why, true);
	}
	j->is_error = rc < 0;
	mem_finish(&m);
}

static void on_condensed(int status, const char *text, void *arg)
{
	struct tool_job *j = arg;
	size_t max = (size_t)(j->user ? j->cfg->memory.user_max_chars : j->cfg->memory.max_chars);
	struct buf cond;
	char why[200] = "";

	j->call = NULL;
	buf_init(&cond, 0);
	if (j->cancelled || status == 499)
		snprintf(why, sizeof(why), "the model call was stopped before it answered");
	else if (status != 200 || !text)
		snprintf(why, sizeof(why), "the model call failed with HTTP %d", status);
	if (j->cancelled) {
		/* The tool call is over (cancelled or timed out; the model was answered so): the
		 * write is not tried again, but the user learns that the entry was not saved, from
		 * the file as it was sent, without reading it again. */
		struct mem m;

		mem_init(&m, j->cfg, j->user, j->lane);
		mem_parse(&m, j->before.data ? j->before.data : "", j->before.len);
		tell_full(j, &m, why, true);
		mem_finish(&m);
		j->is_error = true;
	} else if (*why ||
		   tool_memory_condensed(text, condensed_max(max), &cond, why, sizeof(why)) < 0 ||
		   condense_apply(j, &cond, why, sizeof(why)) < 0) {
		condense_failed(j, why);
	}
	buf_finish(&cond);
	deliver(j);
}

static int start(const struct tool_req *req, tool_job_cb cb, void *arg, struct buf *err,
		 struct tool_job **out)
{
	struct timeval zero = {0, 0};
	struct tool_job *j;
	const char *lane = NULL;
	struct call c;
	struct mem m;
	size_t action;
	bool user;
	char why[160] = "";
	int rc = read_args(req->args, &action, &user, &c, err);

	if (rc < 0)
		return rc;
	if (!is_read(action) && write_lane(req, &lane, err) < 0)
		return -EPERM;
	j = xcalloc(1, sizeof(*j));
	*j = (struct tool_job){.cfg = req->env->cfg,
			       .cb = cb,
			       .arg = arg,
			       .llm = req->llm,
			       .llm_arg = req->llm_arg,
			       .notice = req->notice,
			       .notice_arg = req->notice_arg,
			       .action = action,
			       .user = user,
			       .lane = lane ? xstrdup(lane) : NULL,
			       .content = xstrdup(c.content),
			       .old_text = xstrdup(c.old_text)};
	buf_init(&j->before, 0);
	buf_init(&j->out, 0);
	if (is_read(action)) {
		rc = read_visible(j->cfg, user, req->lane, action, &c, &j->out);
		mem_init(&m, j->cfg, user, NULL);
	} else {
		rc = act(j->cfg, user, lane, action, &c, &m, &j->out);
	}
	if (rc == -E2BIG && j->llm && condense_start(j, &m, why, sizeof(why))) {
		mem_finish(&m);
		*out = j;
		return 0;
	}
	if (rc == -E2BIG && *why)
		buf_printf(&j->out, "\nIt was not condensed: %s.%s", why,
			   j->notice ? " The user was told." : "");
	if (rc == -E2BIG)
		tell_full(j, &m, *why ? why : NULL, false);
	mem_finish(&m);
	j->is_error = rc < 0;
	j->ev = evtimer_new(loop_base(req->env->loop), on_ready, j);
	evtimer_add(j->ev, &zero);
	*out = j;
	return 0;
}

static void cancel(struct tool_job *j)
{
	j->cancelled = true;
	if (j->call)
		j->llm->cancel(j->llm_arg, j->call);
}

/* Every action but read changes what the next session's system prompt shows. */
static bool writes(const cJSON *args)
{
	const cJSON *action = cJSON_GetObjectItemCaseSensitive(args, "action");

	return !cJSON_IsString(action) || strcmp(action->valuestring, "read") != 0;
}

const struct tool_def tool_def_memory = {
	.name = "memory",
	.toolset = CONFIG_TOOLSET_MEMORY,
	.read_only = false,
	.writes = writes,
	.description = "Durable facts across sessions: memory (your notes) or user (about the "
		       "user); replace/remove match a unique old_text.",
	.params_json = "{\"type\":\"object\",\"properties\":{"
		       "\"action\":{\"enum\":[\"add\",\"replace\",\"remove\",\"read\"]},"
		       "\"target\":{\"enum\":[\"memory\",\"user\"]},"
		       "\"content\":{\"type\":\"string\"},"
		       "\"old_text\":{\"type\":\"string\"}},"
		       "\"required\":[\"action\",\"target\"]}",
	.run = run,
	.start = start,
	.cancel = cancel,
};

/* One "## Title (n/max characters, k entries)" block, "## Title (lane L: ...)" for lane L's
 * file; an over-long file is cut at its bound. */
static void snapshot_one(const struct config *cfg, bool user, const char *lane, const char *title,
			 struct buf *out)
{
	struct mem m;
	struct buf err, text;
	size_t chars, i, cut;

	mem_init(&m, cfg, user, lane);
	buf_init(&err, 0);
	buf_init(&text, 0);
	if (mem_load(&m, &err) < 0)
		log_warn("memory: %s", buf_str(&err));
	if (m.n == 0)
		goto out;
	mem_join(m.v, m.n, &text);
	chars = mem_chars_of(m.v, m.n);
	buf_printf(out, "%s## %s (", out->len ? "\n" : "", title);
	if (lane)
		buf_printf(out, "lane %s: ", lane);
	mem_usage(&m, chars, out);
	buf_puts(out, ")\n");
	for (i = 0, cut = 0; i < text.len && cut < m.max_chars; i++)
		cut += ((unsigned char)text.data[i] & 0xc0) != 0x80;
	while (i < text.len && ((unsigned char)text.data[i] & 0xc0) == 0x80)
		i++;
	buf_append(out, text.data, i);
	if (i < text.len)
		buf_printf(out, "\n[cut: %s is over its bound; remove or shorten entries]", m.file);
	buf_puts(out, "\n");
out:
	buf_finish(&text);
	buf_finish(&err);
	mem_finish(&m);
}

void tools_memory_snapshot(const struct config *cfg, const char *lane, struct buf *out)
{
	const char *v[CONFIG_MAX_LANES];
	size_t n = tool_memory_lanes(cfg, lane, v), i;
	struct buf b;

	buf_init(&b, 0);
	snapshot_one(cfg, false, NULL, "Memory", &b);
	snapshot_one(cfg, true, NULL, "User", &b);
	for (i = 0; n != SIZE_MAX && i < n; i++) {
		snapshot_one(cfg, false, v[i], "Memory", &b);
		snapshot_one(cfg, true, v[i], "User", &b);
	}
	if (b.len)
		buf_append(out, b.data, b.len);
	buf_finish(&b);
}

/* ---- the owner's edit (the web cockpit) ------------------------------------------------ */

static bool same_version(const struct buf *raw, const char *version)
{
	char v[TOOLS_VERSION_LEN + 1];

	tools_edit_version(raw->data ? raw->data : "", raw->len, v);
	return version && strcmp(v, version) == 0;
}

/* m's file as it is on disk now (m->raw) and as the bound counts it. */
static void describe(const struct mem *m, struct tools_memory_info *info)
{
	tools_edit_version(m->raw.data ? m->raw.data : "", m->raw.len, info->version);
	info->chars = mem_chars_of(m->v, m->n);
	info->max_chars = m->max_chars;
	info->entries = m->n;
}

int tools_memory_get(const struct config *cfg, bool user, struct buf *text,
		     struct tools_memory_info *info, struct buf *err)
{
	struct mem m;
	int rc;

	mem_init(&m, cfg, user, NULL);
	mem_lock();
	rc = mem_load(&m, err);
	mem_unlock();
	if (rc == 0) {
		buf_append(text, m.raw.data ? m.raw.data : "", m.raw.len);
		describe(&m, info);
	}
	mem_finish(&m);
	return rc;
}

/* Keeps old's bytes in memories/.history (the versions past memory.history_keep pruned);
 * "<dir>/<name>" goes to kept. Nothing to keep for a missing or empty file. */
static int keep_old(const struct config *cfg, const struct mem *old, struct buf *kept,
		    struct buf *out)
{
	int rc, home_fd;

	if (old->raw.len == 0)
		return 0;
	home_fd = safeio_open_home(cfg->home);
	rc = home_fd < 0 ? home_fd : mem_history_put(home_fd, old, kept);
	if (rc == 0)
		mem_history_prune(home_fd, old, (size_t)cfg->memory.history_keep);
	if (home_fd >= 0)
		close(home_fd);
	if (rc < 0)
		buf_printf(out, "the old version of %s could not be kept (%s); nothing was changed",
			   old->file, safeio_strerror(rc));
	return rc;
}

int tools_memory_put(const struct config *cfg, bool user, const char *text, const char *version,
		     struct tools_memory_info *info, struct buf *out)
{
	struct mem old, m;
	struct buf next, kept;
	int rc;

	mem_init(&old, cfg, user, NULL);
	mem_init(&m, cfg, user, NULL);
	buf_init(&next, 0);
	buf_init(&kept, 0);
	mem_lock();
	rc = mem_load(&old, out);
	if (rc < 0)
		goto out;
	if (!same_version(&old.raw, version)) {
		buf_printf(out,
			   "%s changed after it was shown (the agent or another edit wrote it); "
			   "nothing was saved: reload it and make the change again",
			   old.file);
		rc = -ESTALE;
		goto out;
	}
	mem_parse(&m, text, strlen(text));
	rc = mem_check_bound(&old, mem_chars_of(m.v, m.n), out);
	if (rc < 0)
		goto out;
	mem_render(&m, &next);
	if (next.len == old.raw.len && (!next.len || !memcmp(next.data, old.raw.data, next.len))) {
		buf_printf(out, "%s is unchanged; nothing to do.", m.file);
		describe(&old, info);
		goto out;
	}
	rc = keep_old(cfg, &old, &kept, out);
	if (rc == 0)
		rc = mem_save(&m, "Saved", out);
	if (rc < 0)
		goto out;
	if (kept.len)
		buf_printf(out, " The old version is kept as %s.", buf_str(&kept));
	buf_reset(&m.raw);
	buf_append(&m.raw, next.data ? next.data : "", next.len);
	describe(&m, info);
	log_info("memory: %s replaced by the owner (%zu characters)%s%s", m.file, info->chars,
		 kept.len ? ", old version " : "", buf_str(&kept));
out:
	mem_unlock();
	buf_finish(&kept);
	buf_finish(&next);
	mem_finish(&m);
	mem_finish(&old);
	return rc;
}
