/* tool_memory: the `memory` tool and the memory snapshot of the system prompt.
 *
 * Two small files under home/memories/: MEMORY.md (the agent's own notes) and USER.md (what
 * it knows about the user), each a list of entries joined by a line holding only "§"
 * (Hermes Agent's format, so its files can be copied over). Each file has a bound in
 * characters (memory.max_chars, memory.user_max_chars); a write that would pass it is
 * refused with the numbers and the current entries, so the model can consolidate and retry.
 * replace/remove pick one entry by a unique substring, as Hermes does: ids would cost tokens
 * and go stale, whole-entry matches make the model copy text back verbatim.
 *
 * Every call re-reads the file, so edits by hand or by another session are never lost; a
 * write replaces the file atomically. The snapshot is read once per session by the caller
 * (a frozen system prompt keeps the provider's prompt cache warm); writes show up in the
 * next session. Reads and writes go through safeio relative to home's descriptor, so a
 * symlink planted at memories/ or at the file is refused, never followed. Rejected: keeping entries
 * in state.db (the files are meant to be read and edited by the user) and Hermes' batch operations
 * (more schema bytes in every request for a rare case).
 */
#include "core/config.h"
#include "core/log.h"
#include "core/safeio.h"
#include "tools/tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define FILE_MAX_BYTES	  (256 * 1024) /* a larger file was edited by hand: we do not rewrite it */
#define FULL_WARN_PERCENT 80	       /* from here on every write's answer asks to consolidate */
#define DELIM		  "\n§\n"
#define DELIM_CHARS	  3
#define PREVIEW_BYTES	  80

/* One memory file, loaded. */
struct mem {
	const char *file; /* "MEMORY.md" */
	char *rel;	  /* "memories/MEMORY.md", below home */
	const char *home;
	size_t max_chars;
	char **v; /* entries, trimmed, non-empty, distinct */
	size_t n;
};

static void mem_init(struct mem *m, const struct config *cfg, bool user)
{
	memset(m, 0, sizeof(*m));
	m->file = user ? "USER.md" : "MEMORY.md";
	m->rel = xasprintf("memories/%s", m->file);
	m->home = cfg->home;
	m->max_chars = (size_t)(user ? cfg->memory.user_max_chars : cfg->memory.max_chars);
}

static void mem_finish(struct mem *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->v[i]);
	free(m->v);
	free(m->rel);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copies s[0..len) without surrounding white space; NULL when nothing is left. */
static char *trimmed(const char *s, size_t len)
{
	while (len > 0 && is_space(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_space(s[len - 1]))
		len--;
	return len ? xstrndup(s, len) : NULL;
}

static ssize_t find_exact(const struct mem *m, const char *s)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->v[i], s) == 0)
			return (ssize_t)i;
	return -1;
}

/* Appends e (taken) unless an identical entry is already there. */
static void push(struct mem *m, char *e)
{
	if (!e || find_exact(m, e) >= 0) {
		free(e);
		return;
	}
	m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
	m->v[m->n++] = e;
}

static void parse(struct mem *m, const char *text, size_t len)
{
	const char *end = text + len, *d;

	while (text < end) {
		d = memmem(text, (size_t)(end - text), DELIM, strlen(DELIM));
		if (!d)
			d = end;
		push(m, trimmed(text, (size_t)(d - text)));
		text = d < end ? d + strlen(DELIM) : end;
	}
}

/* Reads the file; a missing one is empty. On error appends the reason to err. */
static int load(struct mem *m, struct buf *err)
{
	struct buf b;
	int rc, home_fd;

	buf_init(&b, 0);
	home_fd = safeio_open_home(m->home);
	rc = home_fd < 0 ? home_fd : safeio_read_at(home_fd, m->rel, FILE_MAX_BYTES, &b);
	if (home_fd >= 0)
		close(home_fd);
	if (rc == 0)
		parse(m, buf_str(&b), b.len);
	else if (rc == -ENOENT)
		rc = 0;
	else if (rc == -EFBIG)
		buf_printf(err, "%s is larger than %d KiB; it must be shortened by hand", m->file,
			   FILE_MAX_BYTES / 1024);
	else
		buf_printf(err, "cannot read %s: %s", m->rel, safeio_strerror(rc));
	buf_finish(&b);
	return rc;
}

static void join(char *const *v, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf_printf(out, "%s%s", i ? DELIM : "", v[i]);
}

static size_t chars_of(char *const *v, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		c += utf8_count(v[i], strlen(v[i])) + (i ? DELIM_CHARS : 0);
	return c;
}

/* "2,431" */
static const char *commas(size_t n, char out[32])
{
	char digits[24];
	size_t len = (size_t)snprintf(digits, sizeof(digits), "%zu", n), i, j = 0;

	for (i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			out[j++] = ',';
		out[j++] = digits[i];
	}
	out[j] = '\0';
	return out;
}

static void usage(const struct mem *m, size_t chars, struct buf *out)
{
	char a[32], b[32];

	buf_printf(out, "%s/%s characters, %zu %s", commas(chars, a), commas(m->max_chars, b), m->n,
		   m->n == 1 ? "entry" : "entries");
}

static size_t chars_one(const char *s)
{
	return utf8_count(s, strlen(s));
}

/* Refuses a write that would make the file chars long, listing the current entries. */
static int check_bound(const struct mem *m, size_t chars, struct buf *out)
{
	char a[32], b[32];

	if (chars <= m->max_chars)
		return 0;
	buf_printf(out,
		   "%s would be %s/%s characters; remove or shorten entries first (current "
		   "entries:\n",
		   m->file, commas(chars, a), commas(m->max_chars, b));
	join(m->v, m->n, out);
	buf_puts(out, ")");
	return -E2BIG;
}

static int save(struct mem *m, const char *done, struct buf *out)
{
	struct buf b;
	int rc, home_fd = safeio_open_home(m->home);

	buf_init(&b, 0);
	join(m->v, m->n, &b);
	if (m->n)
		buf_puts(&b, "\n");
	rc = home_fd < 0 ? home_fd : safeio_mkdirs_at(home_fd, "memories", 0700);
	if (rc == 0)
		rc = safeio_write_atomic_at(home_fd, m->rel, buf_str(&b), b.len, 0600);
	if (home_fd >= 0)
		close(home_fd);
	if (rc < 0) {
		log_warn("memory: cannot write %s/%s: %s", m->home, m->rel, safeio_strerror(rc));
		buf_printf(out, "cannot write %s: %s; nothing was changed", m->file,
			   safeio_strerror(rc));
	} else {
		size_t chars = chars_of(m->v, m->n);

		buf_printf(out, "%s %s (", done, m->file);
		usage(m, chars, out);
		buf_puts(out, ").");
		/* Told before it fills, not when a write is refused. */
		if (m->max_chars && chars * 100 >= m->max_chars * FULL_WARN_PERCENT)
			buf_printf(out,
				   " It is %zu%% full: merge related entries and drop stale ones "
				   "now (replace, remove), before a write is refused.",
				   chars * 100 / m->max_chars);
	}
	buf_finish(&b);
	return rc;
}

/* A line holding only "§" would split the entry in two when the file is read back. */
static bool has_delim_line(const char *s)
{
	const char *line = s, *nl;
	size_t len;

	for (; line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		len = nl ? (size_t)(nl - line) : strlen(line);
		while (len > 0 && is_space(line[len - 1]))
			len--;
		if (len == strlen("§") && memcmp(line, "§", len) == 0)
			return true;
	}
	return false;
}

/* The entry content, trimmed and checked; NULL with a message in out. */
static char *content_arg(const char *content, const char *action, struct buf *out)
{
	char *c = content ? trimmed(content, strlen(content)) : NULL;

	if (!c)
		buf_printf(out, "%s needs content: the text of the entry", action);
	else if (has_delim_line(c))
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
	if (find_exact(m, e) >= 0) {
		free(e);
		buf_printf(out, "Already in %s; nothing to do.", m->file);
		return 0;
	}
	rc = check_bound(m, chars_of(m->v, m->n) + (m->n ? DELIM_CHARS : 0) + chars_one(e), out);
	if (rc < 0) {
		free(e);
		return rc;
	}
	push(m, e);
	return save(m, "Added to", out);
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
	rc = check_bound(m, chars_of(m->v, m->n) - chars_one(m->v[at]) + chars_one(e), out);
	if (rc < 0) {
		free(e);
		return rc;
	}
	free(m->v[at]);
	m->v[at] = e;
	return save(m, "Replaced the entry in", out);
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
	return save(m, "Removed the entry from", out);
}

static int act_read(const struct call *c, struct buf *out)
{
	struct mem *m = c->m;

	buf_printf(out, "%s (", m->file);
	usage(m, chars_of(m->v, m->n), out);
	buf_puts(out, m->n ? "):\n" : ")");
	join(m->v, m->n, out);
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

static int run(const struct tool_req *req, struct buf *out)
{
	size_t mark = out->len;
	const char *action = tool_arg_str(req->args, "action", true, out);
	const char *target = tool_arg_str(req->args, "target", false, out);
	struct call c = {
		.content = tool_arg_str(req->args, "content", false, out),
		.old_text = tool_arg_str(req->args, "old_text", false, out),
	};
	struct mem m;
	size_t i;
	int rc;

	if (!action || out->len > mark)
		return -EINVAL;
	if (target && strcmp(target, "memory") != 0 && strcmp(target, "user") != 0) {
		buf_puts(out, "target must be memory or user");
		return -EINVAL;
	}
	for (i = 0; i < ARRAY_LEN(actions) && strcmp(actions[i].name, action) != 0; i++)
		;
	if (i == ARRAY_LEN(actions)) {
		buf_puts(out, "action must be add, replace, remove or read");
		return -EINVAL;
	}
	mem_init(&m, req->env->cfg, target && strcmp(target, "user") == 0);
	c.m = &m;
	rc = load(&m, out);
	if (rc == 0)
		rc = actions[i].fn(&c, out);
	mem_finish(&m);
	return rc;
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
	.description = "Keep durable facts across sessions: target memory (your notes) or user "
		       "(about the user); replace/remove pick an entry by a unique old_text.",
	.params_json = "{\"type\":\"object\",\"properties\":{"
		       "\"action\":{\"enum\":[\"add\",\"replace\",\"remove\",\"read\"]},"
		       "\"target\":{\"enum\":[\"memory\",\"user\"]},"
		       "\"content\":{\"type\":\"string\"},"
		       "\"old_text\":{\"type\":\"string\"}},"
		       "\"required\":[\"action\",\"target\"]}",
	.run = run,
};

/* One "## Title (n/max characters, k entries)" block; an over-long file is cut at its bound. */
static void snapshot_one(const struct config *cfg, bool user, const char *title, struct buf *out)
{
	struct mem m;
	struct buf err, text;
	size_t chars, i, cut;

	mem_init(&m, cfg, user);
	buf_init(&err, 0);
	buf_init(&text, 0);
	if (load(&m, &err) < 0)
		log_warn("memory: %s", buf_str(&err));
	if (m.n == 0)
		goto out;
	join(m.v, m.n, &text);
	chars = chars_of(m.v, m.n);
	buf_printf(out, "%s## %s (", out->len ? "\n" : "", title);
	usage(&m, chars, out);
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

void tools_memory_snapshot(const struct config *cfg, struct buf *out)
{
	struct buf b;

	buf_init(&b, 0);
	snapshot_one(cfg, false, "Memory", &b);
	snapshot_one(cfg, true, "User", &b);
	if (b.len)
		buf_append(out, b.data, b.len);
	buf_finish(&b);
}
