/* config: YAML text -> struct config through one option table, with every value checked.
 *
 * Three stages. (1) libyaml's event parser builds a small tree of nodes that remember their
 * line and column; anchors, aliases and `<<` merge keys are resolved there, duplicate keys
 * are rejected, and nesting depth, collection sizes, node count and merge work are capped so
 * hostile input can exhaust neither the stack nor the CPU. (2) The tree is walked against the
 * option table (tmux's options-table.c style): each entry names a key, a type, the offset of
 * the field it fills, a default, a range or check function and, for sections and lists, a
 * sub-table. One handler per type (dispatched through `types[]`) parses, validates and frees,
 * so a new key is one table entry, and defaults go through the same parser as user values.
 * (3) Cross-references (model names, Telegram deliveries, MCP tool prefixes, settings that
 * LiteLLM lets two sections set) are resolved once everything is loaded.
 * File I/O lives only in config_load(), so config_parse() can be fuzzed on raw bytes.
 * Rejected: libyaml's document loader (no depth or alias limits and no merge keys) and a
 * hand-written parser per section (long if-chains that drift from the documentation, which
 * config_print_reference() prints from the same table).
 */
#include "core/config.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#define MAX_ITEMS      4096   /* entries in one YAML sequence or mapping */
#define MAX_NODES      100000 /* YAML nodes in one file */
#define MAX_MERGE_WORK (1 << 22)
#define MAX_DIAG       200    /* stored messages; the walk stops when they are full */
#define MAX_WALK       100000 /* keys visited, aliases counted each time they are used */
#define SHOW_LEN       72
#define PATH_LEN       256
#define ENV_NAME_LEN   128

/* ------------------------------------------------------------------------------------------
 * Diagnostics
 */

struct diag_msg {
	char *file;
	unsigned line, col; /* 0 = whole file */
	bool error;
	char *text;
	size_t seq;
};

struct config_diag {
	struct diag_msg *msgs;
	size_t n, alloc;
	size_t errors, warnings, dropped, seq;
};

struct config_diag *config_diag_create(void)
{
	return xcalloc(1, sizeof(struct config_diag));
}

void config_diag_destroy(struct config_diag *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++) {
		free(d->msgs[i].file);
		free(d->msgs[i].text);
	}
	free(d->msgs);
	free(d);
}

size_t config_diag_errors(const struct config_diag *d)
{
	return d->errors;
}

size_t config_diag_warnings(const struct config_diag *d)
{
	return d->warnings;
}

static bool diag_has(const struct config_diag *d, const struct diag_msg *m)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (d->msgs[i].line == m->line && d->msgs[i].col == m->col &&
		    d->msgs[i].error == m->error && strcmp(d->msgs[i].text, m->text) == 0 &&
		    strcmp(d->msgs[i].file, m->file) == 0)
			return true;
	return false;
}

/* Adds a message; an identical one (an alias walked twice) is counted once. */
static void diag_add(struct config_diag *d, const char *file, unsigned line, unsigned col,
		     bool error, char *text)
{
	struct diag_msg m = {(char *)file, line, col, error, text, d->seq++};

	if (diag_has(d, &m)) {
		free(text);
		return;
	}
	*(error ? &d->errors : &d->warnings) += 1;
	if (d->n == MAX_DIAG) {
		d->dropped++;
		free(text);
		return;
	}
	if (d->n == d->alloc) {
		d->alloc = d->alloc ? 2 * d->alloc : 16;
		d->msgs = xrealloc(d->msgs, d->alloc * sizeof(*d->msgs));
	}
	m.file = xstrdup(file);
	d->msgs[d->n++] = m;
}

static int msg_cmp(const void *a, const void *b)
{
	const struct diag_msg *x = a, *y = b;
	int f = strcmp(x->file, y->file);

	if (f != 0)
		return f;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void config_diag_print(const struct config_diag *d, FILE *out)
{
	struct diag_msg *v = xmalloc(d->n * sizeof(*v) + 1);
	const char *what;
	size_t i;

	if (d->n)
		memcpy(v, d->msgs, d->n * sizeof(*v));
	qsort(v, d->n, sizeof(*v), msg_cmp);
	for (i = 0; i < d->n; i++) {
		what = v[i].error ? "error" : "warning";
		if (v[i].line == 0)
			fprintf(out, "%s: %s: %s\n", v[i].file, what, v[i].text);
		else
			fprintf(out, "%s:%u:%u: %s: %s\n", v[i].file, v[i].line, v[i].col, what,
				v[i].text);
	}
	if (d->dropped)
		fprintf(out, "hermetic: %zu more messages not shown\n", d->dropped);
	free(v);
}

/* ------------------------------------------------------------------------------------------
 * YAML tree
 */

enum ntype { N_SCALAR, N_SEQ, N_MAP };

struct node {
	enum ntype type;
	bool plain; /* plain scalar: null and booleans are recognised */
	unsigned line, col;
	char *text;	    /* scalars: the raw value, env references unresolved */
	char *anchor;	    /* registered once the node is complete (no cycles) */
	struct node **kids; /* sequence items; mapping key, value, key, value, ... */
	size_t n_kids, alloc_kids;
};

struct tree {
	struct node **all; /* every node once, for freeing */
	size_t n_all, alloc_all;
	struct node **anchors;
	size_t n_anchors, alloc_anchors;
	struct node *stack[CONFIG_MAX_DEPTH];
	size_t depth;
	struct node *root;
	size_t docs;
	long merge_work;
};

struct ref;

/* One parse. Errors are counted here to decide success without re-reading the diag. */
struct ctx {
	const char *file;
	const char *text;
	size_t len;
	struct config_diag *diag;
	size_t errors;
	bool defaults; /* applying defaults: skip checks and ranges */
	struct config *cfg;
	char path[PATH_LEN];
	size_t path_len;
	struct ref *refs;
	size_t n_refs, alloc_refs;
	char **secrets;
	size_t n_secrets, alloc_secrets;
	const struct node *secret_at;
	size_t walked; /* keys visited so far (MAX_WALK) */
	bool stop;     /* the diag is full or the walk too long: report nothing more */
	struct tree tree;
};

/* Returns p with room for at least n + 1 elements of size bytes. */
static void *grow(void *p, size_t *alloc, size_t n, size_t size)
{
	if (n < *alloc)
		return p;
	*alloc = *alloc ? 2 * *alloc : 8;
	return xrealloc(p, *alloc * size);
}

static void report(struct ctx *c, unsigned line, unsigned col, bool error, const char *fmt,
		   va_list ap) __attribute__((format(printf, 5, 0)));

static void report(struct ctx *c, unsigned line, unsigned col, bool error, const char *fmt,
		   va_list ap)
{
	if (error)
		c->errors++;
	diag_add(c->diag, c->file, line, col, error, xvasprintf(fmt, ap));
	c->stop = c->stop || c->diag->n >= MAX_DIAG;
}

/* Messages at a node, as written ("unknown key ..."). */
static void err_at(struct ctx *c, const struct node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void warn_at(struct ctx *c, const struct node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Messages at a node about the current key, prefixed with its path ("agent.max_iterations: "). */
static void err(struct ctx *c, const struct node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void warn(struct ctx *c, const struct node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void err_at(struct ctx *c, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(c, n ? n->line : 1, n ? n->col : 1, true, fmt, ap);
	va_end(ap);
}

static void warn_at(struct ctx *c, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(c, n ? n->line : 1, n ? n->col : 1, false, fmt, ap);
	va_end(ap);
}

static void prefixed(struct ctx *c, const struct node *n, bool error, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void prefixed(struct ctx *c, const struct node *n, bool error, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);

	if (error)
		err_at(c, n, "%s%s%s", c->path, c->path_len ? ": " : "", msg);
	else
		warn_at(c, n, "%s%s%s", c->path, c->path_len ? ": " : "", msg);
	free(msg);
}

static void err(struct ctx *c, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	prefixed(c, n, true, fmt, ap);
	va_end(ap);
}

static void warn(struct ctx *c, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	prefixed(c, n, false, fmt, ap);
	va_end(ap);
}

/* Copies s for a message: control and non-ASCII bytes become '?', long text is cut. */
static const char *show(const char *s, char *out)
{
	size_t i;

	for (i = 0; s[i] && i < SHOW_LEN - 4; i++)
		out[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i];
	if (s[i]) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static bool has_env_ref(const char *s)
{
	return strncmp(s, "os.environ/", 11) == 0 || strstr(s, "${") != NULL;
}

/* A scalar for "got ...": values from the environment are never shown, only the reference. */
static const char *got(const struct node *n, char *out)
{
	char tmp[SHOW_LEN];

	if (!has_env_ref(n->text)) {
		snprintf(out, SHOW_LEN + 2, "'%s'", show(n->text, tmp));
		return out;
	}
	snprintf(out, SHOW_LEN + 32, "the value of '%s'", show(n->text, tmp));
	return out;
}

static const char *kind(const struct node *n)
{
	static const char *const kinds[] = {"a string", "a sequence", "a mapping"};

	return kinds[n->type];
}

static bool is_null(const struct node *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	size_t i;

	for (i = 0; n->type == N_SCALAR && n->plain && i < ARRAY_LEN(nulls); i++)
		if (strcmp(n->text, nulls[i]) == 0)
			return true;
	return false;
}

static struct node *node_new(struct ctx *c, enum ntype type, const yaml_mark_t *mark)
{
	struct tree *t = &c->tree;
	struct node *n = xcalloc(1, sizeof(*n));

	n->type = type;
	n->line = (unsigned)mark->line + 1;
	n->col = (unsigned)mark->column + 1;
	t->all = grow(t->all, &t->alloc_all, t->n_all, sizeof(*t->all));
	t->all[t->n_all++] = n;
	return n;
}

static void tree_free(struct tree *t)
{
	size_t i;

	for (i = 0; i < t->n_all; i++) {
		free(t->all[i]->text);
		free(t->all[i]->anchor);
		free(t->all[i]->kids);
		free(t->all[i]);
	}
	free(t->all);
	free(t->anchors);
	memset(t, 0, sizeof(*t));
}

static void push_kid(struct node *parent, struct node *kid)
{
	parent->kids =
		grow(parent->kids, &parent->alloc_kids, parent->n_kids, sizeof(*parent->kids));
	parent->kids[parent->n_kids++] = kid;
}

/* Hangs n under the open collection (or makes it the root). */
static int attach(struct ctx *c, struct node *n)
{
	struct tree *t = &c->tree;
	struct node *parent;

	if (t->depth == 0) {
		t->root = n;
		return 0;
	}
	parent = t->stack[t->depth - 1];
	if (parent->n_kids >= (parent->type == N_MAP ? 2 : 1) * MAX_ITEMS) {
		err_at(c, n, "more than %d entries in one sequence or mapping", MAX_ITEMS);
		return -EINVAL;
	}
	push_kid(parent, n);
	return 0;
}

static void add_anchor(struct tree *t, struct node *n)
{
	t->anchors = grow(t->anchors, &t->alloc_anchors, t->n_anchors, sizeof(*t->anchors));
	t->anchors[t->n_anchors++] = n;
}

static int ev_ignore(struct ctx *c, const yaml_event_t *ev)
{
	(void)c;
	(void)ev;
	return 0;
}

static int ev_document(struct ctx *c, const yaml_event_t *ev)
{
	if (c->tree.docs++ == 0)
		return 0;
	c->errors++;
	diag_add(c->diag, c->file, (unsigned)ev->start_mark.line + 1,
		 (unsigned)ev->start_mark.column + 1, true,
		 xstrdup("a config file holds one YAML document; remove this '---' and what "
			 "follows"));
	return -EINVAL;
}

static int ev_scalar(struct ctx *c, const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	struct node *n = node_new(c, N_SCALAR, &ev->start_mark);

	n->text = xstrndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		   !(tag && strcmp(tag, YAML_STR_TAG) == 0);
	if (strlen(n->text) != ev->data.scalar.length) {
		err_at(c, n, "a string contains a NUL character");
		return -EINVAL;
	}
	if (ev->data.scalar.anchor) {
		n->anchor = xstrdup((const char *)ev->data.scalar.anchor);
		add_anchor(&c->tree, n);
	}
	return attach(c, n);
}

static int ev_start(struct ctx *c, const yaml_event_t *ev)
{
	bool map = ev->type == YAML_MAPPING_START_EVENT;
	const yaml_char_t *anchor =
		map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	struct node *n = node_new(c, map ? N_MAP : N_SEQ, &ev->start_mark);

	if (c->tree.depth == CONFIG_MAX_DEPTH) {
		err_at(c, n, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
		return -EINVAL;
	}
	if (anchor)
		n->anchor = xstrdup((const char *)anchor);
	if (attach(c, n) < 0)
		return -EINVAL;
	c->tree.stack[c->tree.depth++] = n;
	return 0;
}

static int finish_map(struct ctx *c, struct node *m);

static int ev_end(struct ctx *c, const yaml_event_t *ev)
{
	struct node *n = c->tree.stack[--c->tree.depth];

	(void)ev;
	if (n->type == N_MAP && finish_map(c, n) < 0)
		return -EINVAL;
	if (n->anchor)
		add_anchor(&c->tree, n);
	return 0;
}

static int ev_alias(struct ctx *c, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct tree *t = &c->tree;
	char tmp[SHOW_LEN];
	size_t i;

	for (i = t->n_anchors; i-- > 0;)
		if (strcmp(t->anchors[i]->anchor, name) == 0)
			return attach(c, t->anchors[i]);
	c->errors++;
	diag_add(c->diag, c->file, (unsigned)ev->start_mark.line + 1,
		 (unsigned)ev->start_mark.column + 1, true,
		 xasprintf("unknown alias '*%s' (an alias must follow its complete '&' anchor)",
			   show(name, tmp)));
	return -EINVAL;
}

typedef int (*event_fn)(struct ctx *c, const yaml_event_t *ev);

static const event_fn event_fns[] = {
	[YAML_NO_EVENT] = ev_ignore,	       [YAML_STREAM_START_EVENT] = ev_ignore,
	[YAML_STREAM_END_EVENT] = ev_ignore,   [YAML_DOCUMENT_START_EVENT] = ev_document,
	[YAML_DOCUMENT_END_EVENT] = ev_ignore, [YAML_ALIAS_EVENT] = ev_alias,
	[YAML_SCALAR_EVENT] = ev_scalar,       [YAML_SEQUENCE_START_EVENT] = ev_start,
	[YAML_SEQUENCE_END_EVENT] = ev_end,    [YAML_MAPPING_START_EVENT] = ev_start,
	[YAML_MAPPING_END_EVENT] = ev_end,
};

/* libyaml reader errors carry a byte offset instead of a mark. */
static void offset_to_mark(const char *text, size_t offset, size_t len, yaml_mark_t *mark)
{
	size_t i;

	mark->line = 0;
	mark->column = 0;
	for (i = 0; i < offset && i < len; i++) {
		if (text[i] == '\n') {
			mark->line++;
			mark->column = 0;
		} else {
			mark->column++;
		}
	}
}

static int syntax_error(struct ctx *c, const yaml_parser_t *p)
{
	yaml_mark_t mark = p->problem_mark;

	if (p->error == YAML_READER_ERROR)
		offset_to_mark(c->text, p->problem_offset, c->len, &mark);
	c->errors++;
	diag_add(c->diag, c->file, (unsigned)mark.line + 1, (unsigned)mark.column + 1, true,
		 xasprintf("YAML syntax error: %s%s%s", p->problem ? p->problem : "malformed input",
			   p->context ? " " : "", p->context ? p->context : ""));
	return -EINVAL;
}

static int tree_build(struct ctx *c)
{
	yaml_parser_t p;
	yaml_event_t ev;
	bool done = false;
	int rc = 0;

	c->tree.merge_work = MAX_MERGE_WORK;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)c->text, c->len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = syntax_error(c, &p);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		if (c->tree.n_all >= MAX_NODES) {
			err_at(c, c->tree.all[c->tree.n_all - 1], "more than %d YAML nodes",
			       MAX_NODES);
			rc = -EINVAL;
		} else if ((size_t)ev.type < ARRAY_LEN(event_fns) && event_fns[ev.type]) {
			rc = event_fns[ev.type](c, &ev);
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return rc;
}

/* Mapping keys must be scalars: drop the others after saying so. */
static void drop_bad_keys(struct ctx *c, struct node *m)
{
	size_t i, j = 0;

	for (i = 0; i < m->n_kids; i += 2) {
		if (m->kids[i]->type != N_SCALAR) {
			err_at(c, m->kids[i], "a mapping key must be a plain string, not %s",
			       kind(m->kids[i]));
			continue;
		}
		m->kids[j++] = m->kids[i];
		m->kids[j++] = m->kids[i + 1];
	}
	m->n_kids = j;
}

struct keyref {
	const char *text;
	size_t pair;
};

static int keyref_cmp(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	int r = strcmp(x->text, y->text);

	return r ? r : (x->pair > y->pair) - (x->pair < y->pair);
}

/* Duplicate keys are errors; the first one stays so later checks see one value. */
static void drop_duplicates(struct ctx *c, struct node *m)
{
	size_t n = m->n_kids / 2, i, j = 0, first = 0;
	struct keyref *v = xmalloc(n * sizeof(*v) + 1);
	bool *drop = xcalloc(n + 1, sizeof(*drop));
	char tmp[SHOW_LEN];

	for (i = 0; i < n; i++)
		v[i] = (struct keyref){m->kids[2 * i]->text, i};
	qsort(v, n, sizeof(*v), keyref_cmp);
	for (i = 0; i < n; i++) {
		if (i == 0 || strcmp(v[i].text, v[i - 1].text) != 0) {
			first = v[i].pair;
			continue;
		}
		drop[v[i].pair] = true;
		err_at(c, m->kids[2 * v[i].pair], "duplicate key '%s' (first at line %u)",
		       show(v[i].text, tmp), m->kids[2 * first]->line);
	}
	for (i = 0; i < n; i++) {
		if (drop[i])
			continue;
		m->kids[j++] = m->kids[2 * i];
		m->kids[j++] = m->kids[2 * i + 1];
	}
	m->n_kids = j;
	free(v);
	free(drop);
}

static bool is_merge_key(const struct node *k)
{
	return k->plain && strcmp(k->text, "<<") == 0;
}

static bool map_has_key(struct ctx *c, const struct node *m, const char *key)
{
	size_t i;

	c->tree.merge_work -= (long)(m->n_kids / 2) + 1;
	for (i = 0; i < m->n_kids; i += 2)
		if (strcmp(m->kids[i]->text, key) == 0)
			return true;
	return false;
}

/* Appends the pairs of src that m lacks: keys written in m win over merged ones. */
static int merge_from(struct ctx *c, struct node *m, const struct node *src, const struct node *at)
{
	size_t i;

	if (src->type != N_MAP) {
		err_at(c, at, "'<<' merges a mapping or a list of mappings, not %s", kind(src));
		return 0;
	}
	for (i = 0; i < src->n_kids; i += 2) {
		if (map_has_key(c, m, src->kids[i]->text))
			continue;
		if (c->tree.merge_work < 0 || m->n_kids >= 2 * MAX_ITEMS) {
			err_at(c, at, "'<<' merges too many keys");
			return -EINVAL;
		}
		push_kid(m, src->kids[i]);
		push_kid(m, src->kids[i + 1]);
	}
	return 0;
}

/* Duplicates are gone by now, so there is at most one `<<` key. */
static int apply_merges(struct ctx *c, struct node *m)
{
	const struct node *key = NULL, *val = NULL;
	size_t i, j = 0;
	int rc = 0;

	for (i = 0; i < m->n_kids; i += 2) {
		if (is_merge_key(m->kids[i])) {
			key = m->kids[i];
			val = m->kids[i + 1];
			continue;
		}
		m->kids[j++] = m->kids[i];
		m->kids[j++] = m->kids[i + 1];
	}
	m->n_kids = j;
	if (!val)
		return 0;
	if (val->type != N_SEQ)
		return merge_from(c, m, val, key);
	for (i = 0; i < val->n_kids && rc == 0; i++)
		rc = merge_from(c, m, val->kids[i], key);
	return rc;
}

static int finish_map(struct ctx *c, struct node *m)
{
	drop_bad_keys(c, m);
	drop_duplicates(c, m);
	return apply_merges(c, m);
}

static const struct node *map_get(const struct node *map, const char *key)
{
	size_t i;

	for (i = 0; map && map->type == N_MAP && i < map->n_kids; i += 2)
		if (strcmp(map->kids[i]->text, key) == 0)
			return map->kids[i + 1];
	return NULL;
}

/* The value node of key for a message, else the mapping itself. */
static const struct node *loc(const struct node *map, const char *key)
{
	const struct node *n = map_get(map, key);

	return n ? n : map;
}

/* ------------------------------------------------------------------------------------------
 * Paths, references, secrets
 */

static size_t path_push(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t path_push(struct ctx *c, const char *fmt, ...)
{
	size_t old = c->path_len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->path + old, sizeof(c->path) - old, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->path_len = strlen(c->path);
	return old;
}

static size_t path_key(struct ctx *c, const char *key)
{
	char tmp[SHOW_LEN];

	return path_push(c, "%s%s", c->path_len ? "." : "", show(key, tmp));
}

static size_t path_index(struct ctx *c, size_t i)
{
	return path_push(c, "[%zu]", i);
}

static void path_pop(struct ctx *c, size_t len)
{
	c->path_len = len;
	c->path[len] = '\0';
}

/* A message about map's key, prefixed with the key's path, at the key's value. */
static void key_err(struct ctx *c, const struct node *map, const char *key, bool error,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void key_err(struct ctx *c, const struct node *map, const char *key, bool error,
		    const char *fmt, ...)
{
	size_t at = path_key(c, key);
	va_list ap;

	va_start(ap, fmt);
	prefixed(c, loc(map, key), error, fmt, ap);
	va_end(ap);
	path_pop(c, at);
}

enum ref_kind { REF_MODEL, REF_TELEGRAM };

/* A name to check once everything is loaded (model_list may come after its users). */
struct ref {
	enum ref_kind kind;
	char *name;
	char *path;
	const struct node *at;
};

static void add_ref(struct ctx *c, enum ref_kind kind, const struct node *at, const char *name)
{
	if (c->defaults)
		return;
	c->refs = grow(c->refs, &c->alloc_refs, c->n_refs, sizeof(*c->refs));
	c->refs[c->n_refs++] = (struct ref){kind, xstrdup(name), xstrdup(c->path), at};
}

static const char *const auth_schemes[] = {"Bearer", "Basic", "Token", "Bot"};

/* Remembers a secret to register on success; log.c ignores strings shorter than 4 bytes. */
static void note_secret(struct ctx *c, const struct node *at, const char *s)
{
	size_t i;

	if (strlen(s) < 4)
		return;
	for (i = 0; i < c->n_secrets; i++)
		if (strcmp(c->secrets[i], s) == 0)
			return;
	if (c->n_secrets == CONFIG_MAX_SECRETS) {
		if (!c->secret_at)
			err(c, at,
			    "more than %d distinct secret values; log redaction holds no more",
			    CONFIG_MAX_SECRETS);
		c->secret_at = at;
		return;
	}
	c->secrets = grow(c->secrets, &c->alloc_secrets, c->n_secrets, sizeof(*c->secrets));
	c->secrets[c->n_secrets++] = xstrdup(s);
	/* A header value "Bearer <token>" (Basic, Token, Bot): a server that says "token <token>
	 * is not valid" quotes the credentials without the scheme, so they are a secret too. */
	for (i = 0; i < ARRAY_LEN(auth_schemes); i++) {
		size_t n = strlen(auth_schemes[i]);

		if (strncasecmp(s, auth_schemes[i], n) == 0 && s[n] == ' ') {
			note_secret(c, at, s + n + strspn(s + n, " "));
			break;
		}
	}
}

/* ------------------------------------------------------------------------------------------
 * Environment references: `os.environ/NAME` (a whole scalar) and `${NAME}` (anywhere;
 * `$${` is a literal `${`).
 */

static bool env_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= ENV_NAME_LEN || isdigit((unsigned char)s[0]))
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

static int env_append(struct ctx *c, const struct node *n, const char *name, size_t len,
		      bool secret, struct buf *out)
{
	char key[ENV_NAME_LEN], tmp[SHOW_LEN];
	const char *v;

	if (!env_name_ok(name, len)) {
		char *bad = xstrndup(name, len);

		err(c, n, "'%s' is not a valid environment variable name", show(bad, tmp));
		free(bad);
		return -EINVAL;
	}
	memcpy(key, name, len);
	key[len] = '\0';
	v = getenv(key);
	if (!v) {
		err(c, n,
		    "environment variable %s is not set (referenced here); export it or put it in "
		    "the Secret",
		    key);
		return -EINVAL;
	}
	if (secret)
		note_secret(c, n, v);
	buf_puts(out, v);
	return 0;
}

static int resolve_braces(struct ctx *c, const struct node *n, bool secret, struct buf *out)
{
	const char *s = n->text, *p, *end;
	int rc;

	for (;;) {
		p = strchr(s, '$');
		if (!p)
			break;
		buf_append(out, s, (size_t)(p - s));
		s = p + 1;
		if (p[1] == '$' && p[2] == '{') {
			buf_puts(out, "${");
			s = p + 3;
			continue;
		}
		if (p[1] != '{') {
			buf_puts(out, "$");
			continue;
		}
		end = strchr(p + 2, '}');
		if (!end) {
			err(c, n, "'${' without a closing '}' (write '$${' for a literal '${')");
			return -EINVAL;
		}
		rc = env_append(c, n, p + 2, (size_t)(end - p - 2), secret, out);
		if (rc < 0)
			return rc;
		s = end + 1;
	}
	buf_puts(out, s);
	return 0;
}

/* The scalar's value with references resolved (malloc'd), or NULL after an error. */
static char *resolve(struct ctx *c, const struct node *n, bool secret)
{
	struct buf out;
	int rc;

	buf_init(&out, 0);
	if (strncmp(n->text, "os.environ/", 11) == 0)
		rc = env_append(c, n, n->text + 11, strlen(n->text + 11), secret, &out);
	else
		rc = resolve_braces(c, n, secret, &out);
	if (rc < 0) {
		buf_finish(&out);
		return NULL;
	}
	buf_puts(&out, "");
	return buf_steal(&out);
}

/* ------------------------------------------------------------------------------------------
 * The option table and one handler per value type
 */

enum otype {
	T_STR,	     /* string (env references resolved) */
	T_INT,	     /* int64_t in [min, max] */
	T_NUM,	     /* double in [min, max] */
	T_BOOL,	     /* bool: true/false/yes/no/on/off, any case */
	T_ENUM,	     /* int from choices */
	T_FLAGS,     /* unsigned bitmask from a list of choices, or "all" */
	T_PERIOD,    /* int64_t seconds from "30s", "30m", "30h", "30d", "2w", "1mo" */
	T_STRS,	     /* char ** + size_t count at n_off */
	T_INTS,	     /* int64_t * + size_t count at n_off */
	T_PAIRS,     /* struct config_pair * + count: a string -> string mapping */
	T_SECTION,   /* an embedded struct filled by table */
	T_LIST,	     /* an array of table->size structs + count, from a sequence of mappings */
	T_MAP,	     /* the same from a mapping of name -> mapping (name at table->name_off) */
	T_LISTEN,    /* struct config_listen */
	T_DELIVER,   /* struct config_deliver */
	T_FALLBACKS, /* struct config_fallback * + count, LiteLLM's [{from: [to, ...]}, ...] */
	T_LIMITS,    /* struct config_model_limit * + count; `default` goes to aux_off */
	N_TYPES,
};

enum {
	F_REQUIRED = 1 << 0,
	F_SECRET = 1 << 1,	/* registered for log redaction, never printed */
	F_MODEL = 1 << 2,	/* names a model group; checked against model_list at the end */
	F_DERIVED = 1 << 3,	/* not a key: a field computed at load, listed so it is freed */
	F_ROOT = 1 << 4,	/* offsets are into struct config: LiteLLM's second spelling */
	F_ONELINE = 1 << 5,	/* no line breaks: the value goes into an HTTP header */
	F_SEQ_IGNORED = 1 << 6, /* a sequence here is LiteLLM's unrelated feature: warn, skip */
	/* With F_SECRET on pairs: only what comes from the environment is redacted. A literal
	 * (PATH, TZ, MODE: read-only) is plain config, and redacting it would blank ordinary
	 * words out of every log line and tool result. */
	F_LITERAL_PUBLIC = 1 << 7,
	F_ONE_OR_LIST = 1 << 8, /* T_STRS: a single string is a list of one (Hermes' spelling) */
};

struct choice {
	const char *name;
	int value;
	const char *unsupported; /* set: a LiteLLM value hermetic rejects, and why */
};

typedef int (*check_fn)(struct ctx *c, const struct node *n, const char *value);
typedef void (*table_check_fn)(struct ctx *c, const struct node *map, void *obj);
typedef void (*list_check_fn)(struct ctx *c, const struct node *coll, void *items, size_t n);

struct table;

struct opt {
	const char *key;
	enum otype type;
	size_t off;
	size_t n_off;	 /* lists: offset of the size_t count */
	size_t aux_off;	 /* T_LIMITS: offset of the default */
	const char *def; /* default, parsed like a quoted YAML value */
	int64_t min, max;
	size_t cap;	/* most entries of a list or mapping */
	check_fn check; /* strings: the value; T_PAIRS: each name */
	const struct table *table;
	const struct choice *choices;
	unsigned flags;
	const char *text; /* one line for README.md */
};

struct table {
	const char *name; /* in messages about ignored keys and in the ignored-key table */
	const char *path; /* heading in the reference */
	const struct opt *opts;
	size_t n_opts;
	size_t size;		 /* T_LIST/T_MAP element size */
	size_t name_off;	 /* T_MAP: where the entry's name goes */
	bool lenient;		 /* unknown keys are warnings (LiteLLM's free-form model_info) */
	table_check_fn check;	 /* after a mapping was walked without errors */
	list_check_fn check_all; /* after a whole T_LIST/T_MAP was walked */
	const char *text;
};

struct type_ops {
	const char *doc;
	int (*set)(struct ctx *c, const struct opt *o, const struct node *n, void *obj);
	void (*clear)(const struct opt *o, void *obj);
};

static const struct type_ops types[N_TYPES];

#define AT(base, off, type) ((type *)(void *)((char *)(base) + (off)))

static void walk_table(struct ctx *c, const struct table *t, const struct node *map, void *obj);
static void init_table(struct ctx *c, const struct table *t, void *obj);
static void free_table(const struct table *t, void *obj);

static void *base_of(struct ctx *c, const struct opt *o, void *obj)
{
	return (o->flags & F_ROOT) ? (void *)c->cfg : obj;
}

/* Pointer fields of different struct types are read and written as bytes. */
static void *get_ptr(const void *base, size_t off)
{
	void *p;

	memcpy(&p, (const char *)base + off, sizeof(p));
	return p;
}

static void set_ptr(void *base, size_t off, void *p)
{
	memcpy((char *)base + off, &p, sizeof(p));
}

/* Aliases let a small file name one big mapping many times: cap the values visited. */
static bool over_budget(struct ctx *c, const struct node *at, size_t cost)
{
	c->walked += cost;
	if (c->walked <= MAX_WALK)
		return false;
	if (!c->stop)
		err(c, at, "the config expands (through aliases) to more than %d values", MAX_WALK);
	c->stop = true;
	return true;
}

static bool too_many(struct ctx *c, const struct opt *o, const struct node *n, size_t count)
{
	if (over_budget(c, n, count))
		return true;
	if (count <= o->cap)
		return false;
	err(c, n, "has %zu entries; at most %zu are allowed", count, o->cap);
	return true;
}

/* A list is only non-empty before its key is read when LiteLLM's other section (see F_ROOT)
 * already filled it. */
static bool set_twice(struct ctx *c, const struct opt *o, const struct node *n, void *base)
{
	if (*AT(base, o->n_off, size_t) == 0)
		return false;
	err(c, n, "is set in both litellm_settings and router_settings; keep one");
	return true;
}

static char *get_str(struct ctx *c, const struct node *n, unsigned flags, check_fn check)
{
	char *s;

	if (n->type != N_SCALAR) {
		err(c, n, "expected a string, got %s", kind(n));
		return NULL;
	}
	s = resolve(c, n, flags & F_SECRET);
	if (!s || c->defaults)
		return s;
	if ((flags & (F_SECRET | F_ONELINE)) && strpbrk(s, "\r\n")) {
		err(c, n, "must be a single line (it is sent in an HTTP header)");
		free(s);
		return NULL;
	}
	if (check && check(c, n, s) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static int set_str(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	char **field = AT(base_of(c, o, obj), o->off, char *);
	char *s = get_str(c, n, o->flags, o->check);

	if (!s)
		return -EINVAL;
	if ((o->flags & F_REQUIRED) && !*s) {
		err(c, n, "must not be empty");
		free(s);
		return -EINVAL;
	}
	free(*field);
	*field = s;
	if (o->flags & F_SECRET)
		note_secret(c, n, s);
	if (o->flags & F_MODEL)
		add_ref(c, REF_MODEL, n, s);
	return 0;
}

static void clear_str(const struct opt *o, void *obj)
{
	char **field = AT(obj, o->off, char *);

	free(*field);
	*field = NULL;
}

static int get_int(struct ctx *c, const struct node *n, int64_t min, int64_t max, int64_t *out)
{
	char tmp[SHOW_LEN + 32];
	char *s;
	int rc;

	if (n->type != N_SCALAR) {
		err(c, n, "expected an integer, got %s", kind(n));
		return -EINVAL;
	}
	s = resolve(c, n, false);
	if (!s)
		return -EINVAL;
	rc = parse_i64(s, INT64_MIN, INT64_MAX, out);
	free(s);
	if (rc == -EINVAL) {
		err(c, n, "expected an integer, got %s", got(n, tmp));
		return rc;
	}
	if (rc < 0 || (!c->defaults && (*out < min || *out > max))) {
		err(c, n, "%s is out of range (%lld..%lld)", got(n, tmp), (long long)min,
		    (long long)max);
		return -ERANGE;
	}
	return 0;
}

static int set_int(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	int64_t v;
	int rc = get_int(c, n, o->min, o->max, &v);

	if (rc == 0)
		*AT(base_of(c, o, obj), o->off, int64_t) = v;
	return rc;
}

static void clear_none(const struct opt *o, void *obj)
{
	(void)o;
	(void)obj;
}

static int set_num(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	char tmp[SHOW_LEN + 32];
	char *s;
	double v;
	int rc;

	if (n->type != N_SCALAR) {
		err(c, n, "expected a number, got %s", kind(n));
		return -EINVAL;
	}
	s = resolve(c, n, false);
	if (!s)
		return -EINVAL;
	rc = parse_double(s, &v);
	free(s);
	if (rc == -EINVAL) {
		err(c, n, "expected a number, got %s", got(n, tmp));
		return rc;
	}
	if (rc < 0 || (!c->defaults && (v < (double)o->min || v > (double)o->max))) {
		err(c, n, "%s is out of range (%lld..%lld)", got(n, tmp), (long long)o->min,
		    (long long)o->max);
		return -ERANGE;
	}
	*AT(obj, o->off, double) = v;
	return 0;
}

static const struct choice bools[] = {
	{"true", 1, NULL}, {"yes", 1, NULL}, {"on", 1, NULL}, {"false", 0, NULL},
	{"no", 0, NULL},   {"off", 0, NULL}, {NULL, 0, NULL},
};

static int set_bool(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	char tmp[SHOW_LEN + 32];
	char *s;
	size_t i;

	if (n->type != N_SCALAR) {
		err(c, n, "expected true or false, got %s", kind(n));
		return -EINVAL;
	}
	s = resolve(c, n, false);
	for (i = 0; s && bools[i].name; i++) {
		if (strcasecmp(s, bools[i].name) == 0) {
			*AT(obj, o->off, bool) = bools[i].value;
			free(s);
			return 0;
		}
	}
	if (s)
		err(c, n, "expected true or false, got %s", got(n, tmp));
	free(s);
	return -EINVAL;
}

static void choice_names(const struct choice *ch, struct buf *out)
{
	size_t i;

	for (i = 0; ch[i].name; i++)
		if (!ch[i].unsupported)
			buf_printf(out, "%s%s", *buf_str(out) ? ", " : "", ch[i].name);
}

static const char *suggest_choice(const struct choice *ch, const char *s)
{
	size_t i;

	for (i = 0; ch[i].name; i++)
		if (!ch[i].unsupported && edit_distance(s, ch[i].name, 2) <= 2 &&
		    edit_distance(s, ch[i].name, 2) < strlen(s))
			return ch[i].name;
	return NULL;
}

/* Finds s among choices or says why not; returns the entry or NULL. */
static const struct choice *get_choice(struct ctx *c, const struct node *n, const struct choice *ch,
				       const char *s)
{
	char tmp[SHOW_LEN + 32];
	const char *hint;
	struct buf names;
	size_t i;

	for (i = 0; ch[i].name && strcmp(ch[i].name, s) != 0; i++)
		;
	if (ch[i].name && !ch[i].unsupported)
		return &ch[i];
	buf_init(&names, 0);
	choice_names(ch, &names);
	hint = suggest_choice(ch, s);
	if (ch[i].name)
		err(c, n, "%s is %s; use one of: %s", got(n, tmp), ch[i].unsupported,
		    buf_str(&names));
	else
		err(c, n, "unknown value %s; use one of: %s%s%s%s", got(n, tmp), buf_str(&names),
		    hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
	buf_finish(&names);
	return NULL;
}

static int set_enum(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	const struct choice *ch = NULL;
	char *s = get_str(c, n, 0, NULL);

	if (s)
		ch = get_choice(c, n, o->choices, s);
	free(s);
	if (!ch)
		return -EINVAL;
	*AT(obj, o->off, int) = ch->value;
	return 0;
}

static int set_flags(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	const struct node *const *items = &n;
	const struct choice *ch;
	size_t n_items = 1, i;
	unsigned bits = 0;
	char *s;
	int rc = 0;

	if (n->type == N_SEQ) {
		items = (const struct node *const *)n->kids;
		n_items = n->n_kids;
	}
	for (i = 0; i < n_items; i++) {
		s = get_str(c, items[i], 0, NULL);
		ch = s ? get_choice(c, items[i], o->choices, s) : NULL;
		free(s);
		if (!ch)
			rc = -EINVAL;
		else
			bits |= (unsigned)ch->value;
	}
	if (rc == 0)
		*AT(obj, o->off, unsigned) = bits;
	return rc;
}

static const struct {
	const char *unit;
	int64_t seconds;
} period_units[] = {
	{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 7 * 86400}, {"mo", 30 * 86400},
};

/* LiteLLM's budget_duration: a positive count and a unit ("1mo" counts as 30 days). */
static int parse_period(const char *s, int64_t *out)
{
	int64_t count = 0;
	size_t i;

	for (i = 0; isdigit((unsigned char)s[i]) && i < 6; i++)
		count = count * 10 + (s[i] - '0');
	if (i == 0 || count == 0)
		return -EINVAL;
	s += i;
	for (i = 0; i < ARRAY_LEN(period_units); i++) {
		if (strcmp(s, period_units[i].unit) == 0) {
			*out = count * period_units[i].seconds;
			return *out <= 10 * 366 * 86400LL ? 0 : -EINVAL;
		}
	}
	return -EINVAL;
}

static int set_period(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	char tmp[SHOW_LEN + 32];
	char *s = get_str(c, n, 0, NULL);
	int64_t v;
	int rc;

	if (!s)
		return -EINVAL;
	rc = parse_period(s, &v);
	free(s);
	if (rc < 0) {
		err(c, n,
		    "expected a duration like 30s, 30m, 30h, 30d, 2w or 1mo (at most 10 "
		    "years), got %s",
		    got(n, tmp));
		return rc;
	}
	*AT(obj, o->off, int64_t) = v;
	return 0;
}

static int set_strs(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	void *base = base_of(c, o, obj);
	struct node *const *items = n->kids, *one = (struct node *)n;
	size_t i, k = 0, at, n_items = n->n_kids;
	char **v;
	int rc = 0;

	if (n->type == N_SCALAR && (o->flags & F_ONE_OR_LIST)) {
		items = &one;
		n_items = 1;
	} else if (n->type != N_SEQ) {
		err(c, n, "expected a list of strings, got %s", kind(n));
		return -EINVAL;
	}
	if (too_many(c, o, n, n_items) || set_twice(c, o, n, base))
		return -EINVAL;
	types[o->type].clear(o, base);
	v = xcalloc(n_items + 1, sizeof(*v));
	for (i = 0; i < n_items; i++) {
		at = path_index(c, i);
		v[k] = get_str(c, items[i], o->flags, o->check);
		if (v[k] && (o->flags & F_MODEL))
			add_ref(c, REF_MODEL, items[i], v[k]);
		rc = v[k] ? rc : -EINVAL;
		k += v[k] != NULL;
		path_pop(c, at);
	}
	set_ptr(base, o->off, v);
	*AT(base, o->n_off, size_t) = k;
	return rc;
}

static void clear_strs(const struct opt *o, void *obj)
{
	char **v = get_ptr(obj, o->off);
	size_t i, n = *AT(obj, o->n_off, size_t);

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	set_ptr(obj, o->off, NULL);
	*AT(obj, o->n_off, size_t) = 0;
}

static int set_ints(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	int64_t *v;
	size_t i, k = 0, at;
	int rc = 0;

	if (n->type != N_SEQ) {
		err(c, n, "expected a list of integers, got %s", kind(n));
		return -EINVAL;
	}
	if (too_many(c, o, n, n->n_kids))
		return -EINVAL;
	types[o->type].clear(o, obj);
	v = xcalloc(n->n_kids + 1, sizeof(*v));
	for (i = 0; i < n->n_kids; i++) {
		at = path_index(c, i);
		if (get_int(c, n->kids[i], o->min, o->max, &v[k]) == 0)
			k++;
		else
			rc = -EINVAL;
		path_pop(c, at);
	}
	set_ptr(obj, o->off, v);
	*AT(obj, o->n_off, size_t) = k;
	return rc;
}

static void clear_ints(const struct opt *o, void *obj)
{
	free(get_ptr(obj, o->off));
	set_ptr(obj, o->off, NULL);
	*AT(obj, o->n_off, size_t) = 0;
}

static int set_pair(struct ctx *c, const struct opt *o, const struct node *k, const struct node *v,
		    struct config_pair *out)
{
	size_t at = path_key(c, k->text);
	int rc = 0;

	if (!c->defaults && o->check && o->check(c, k, k->text) < 0)
		rc = -EINVAL;
	out->value = is_null(v) ? xstrdup("") : get_str(c, v, o->flags, NULL);
	if (!out->value)
		rc = -EINVAL;
	else if ((o->flags & F_SECRET) && !(o->flags & F_LITERAL_PUBLIC))
		note_secret(c, v, out->value);
	out->name = rc == 0 ? xstrdup(k->text) : NULL;
	if (rc < 0) {
		free(out->value);
		out->value = NULL;
	}
	path_pop(c, at);
	return rc;
}

static int set_pairs(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	struct config_pair *v;
	size_t i, k = 0;
	int rc = 0;

	if (n->type != N_MAP) {
		err(c, n, "expected a mapping of names to strings, got %s", kind(n));
		return -EINVAL;
	}
	if (too_many(c, o, n, n->n_kids / 2))
		return -EINVAL;
	types[o->type].clear(o, obj);
	v = xcalloc(n->n_kids / 2 + 1, sizeof(*v));
	for (i = 0; i < n->n_kids; i += 2) {
		if (set_pair(c, o, n->kids[i], n->kids[i + 1], &v[k]) == 0)
			k++;
		else
			rc = -EINVAL;
	}
	set_ptr(obj, o->off, v);
	*AT(obj, o->n_off, size_t) = k;
	return rc;
}

static void clear_pairs(const struct opt *o, void *obj)
{
	struct config_pair *v = get_ptr(obj, o->off);
	size_t i, n = *AT(obj, o->n_off, size_t);

	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
	set_ptr(obj, o->off, NULL);
	*AT(obj, o->n_off, size_t) = 0;
}

static int set_section(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	if (n->type == N_SEQ && (o->flags & F_SEQ_IGNORED)) {
		warn(c, n,
		     "ignored: this is LiteLLM's list of guardrails, which hermetic does not "
		     "run; hermetic's guardrails is a mapping (see the README)");
		return 0;
	}
	if (n->type != N_MAP) {
		err(c, n, "expected a mapping, got %s", kind(n));
		return -EINVAL;
	}
	walk_table(c, o->table, n, AT(obj, o->off, char));
	return 0;
}

static void clear_section(const struct opt *o, void *obj)
{
	free_table(o->table, AT(obj, o->off, char));
}

/* One entry of a T_LIST or T_MAP: a mapping, or null for "all defaults". */
static void walk_item(struct ctx *c, const struct table *t, const struct node *n, void *item)
{
	init_table(c, t, item);
	if (n->type != N_MAP && !is_null(n)) {
		err(c, n, "expected a mapping, got %s", kind(n));
		return;
	}
	walk_table(c, t, n, item);
}

static int set_list(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	const struct table *t = o->table;
	char *items;
	size_t i, at;

	if (n->type != N_SEQ) {
		err(c, n, "expected a list, got %s", kind(n));
		return -EINVAL;
	}
	if (too_many(c, o, n, n->n_kids))
		return -EINVAL;
	types[o->type].clear(o, obj);
	items = xcalloc(n->n_kids + 1, t->size);
	set_ptr(obj, o->off, items);
	*AT(obj, o->n_off, size_t) = n->n_kids;
	for (i = 0; i < n->n_kids && !c->stop; i++) {
		at = path_index(c, i);
		walk_item(c, t, n->kids[i], items + i * t->size);
		path_pop(c, at);
	}
	if (t->check_all)
		t->check_all(c, n, items, n->n_kids);
	return 0;
}

static void clear_list(const struct opt *o, void *obj)
{
	char *items = get_ptr(obj, o->off);
	size_t i, n = *AT(obj, o->n_off, size_t);

	for (i = 0; i < n; i++)
		free_table(o->table, items + i * o->table->size);
	free(items);
	set_ptr(obj, o->off, NULL);
	*AT(obj, o->n_off, size_t) = 0;
}

static int set_map(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	const struct table *t = o->table;
	char *items, *item;
	size_t i, at;

	if (n->type != N_MAP) {
		err(c, n, "expected a mapping of names to settings, got %s", kind(n));
		return -EINVAL;
	}
	if (too_many(c, o, n, n->n_kids / 2))
		return -EINVAL;
	types[o->type].clear(o, obj);
	items = xcalloc(n->n_kids / 2 + 1, t->size);
	set_ptr(obj, o->off, items);
	*AT(obj, o->n_off, size_t) = n->n_kids / 2;
	for (i = 0; i < n->n_kids; i += 2) {
		item = items + i / 2 * t->size;
		at = path_key(c, n->kids[i]->text);
		*AT(item, t->name_off, char *) = xstrdup(n->kids[i]->text);
		walk_item(c, t, n->kids[i + 1], item);
		path_pop(c, at);
	}
	if (t->check_all)
		t->check_all(c, n, items, n->n_kids / 2);
	return 0;
}

static bool host_chars_ok(const char *s, size_t len, bool ipv6)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' &&
		    !(ipv6 && s[i] == ':'))
			return false;
	return len > 0;
}

/* "HOST:PORT" or "[V6]:PORT" with a port of 1-65535. */
static int parse_listen(const char *s, struct config_listen *out)
{
	const char *host = s, *colon, *close = NULL;
	size_t len;
	int64_t port;

	if (*s == '[') {
		close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		host = s + 1;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
	}
	len = (size_t)((close ? close : colon) - host);
	if (!host_chars_ok(host, len, close != NULL) || parse_i64(colon + 1, 1, 65535, &port) < 0)
		return -EINVAL;
	out->addr = xstrdup(s);
	out->host = xstrndup(host, len);
	out->port = (int)port;
	return 0;
}

static int set_listen(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	struct config_listen *l = AT(obj, o->off, struct config_listen), v;
	char tmp[SHOW_LEN + 32];
	char *s = get_str(c, n, 0, NULL);
	int rc;

	if (!s)
		return -EINVAL;
	rc = parse_listen(s, &v);
	free(s);
	if (rc < 0) {
		err(c, n,
		    "expected HOST:PORT with a port of 1-65535 (e.g. 127.0.0.1:8642 or "
		    "[::1]:8642), got %s",
		    got(n, tmp));
		return rc;
	}
	types[o->type].clear(o, obj);
	*l = v;
	return 0;
}

static void clear_listen(const struct opt *o, void *obj)
{
	struct config_listen *l = AT(obj, o->off, struct config_listen);

	free(l->addr);
	free(l->host);
	memset(l, 0, sizeof(*l));
}

static int set_deliver(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	struct config_deliver *d = AT(obj, o->off, struct config_deliver);
	char tmp[SHOW_LEN + 32];
	char *s = get_str(c, n, 0, NULL);
	int64_t id = 0;

	if (!s)
		return -EINVAL;
	if (strncmp(s, "telegram:", 9) != 0 || parse_i64(s + 9, INT64_MIN, INT64_MAX, &id) < 0 ||
	    id == 0 || !isdigit((unsigned char)s[strlen(s) - 1]) || isspace((unsigned char)s[9])) {
		err(c, n, "expected telegram:<chat id> (e.g. telegram:123456789), got %s",
		    got(n, tmp));
		free(s);
		return -EINVAL;
	}
	free(d->target);
	d->target = s;
	d->telegram_chat_id = id;
	add_ref(c, REF_TELEGRAM, n, s);
	return 0;
}

static void clear_deliver(const struct opt *o, void *obj)
{
	struct config_deliver *d = AT(obj, o->off, struct config_deliver);

	free(d->target);
	memset(d, 0, sizeof(*d));
}

static int set_fallback(struct ctx *c, const struct node *k, const struct node *v,
			struct config_fallback *out, const struct config_fallback *prev,
			size_t n_prev)
{
	size_t at = path_key(c, k->text), i;
	char tmp[SHOW_LEN];
	int rc = 0;

	out->from = xstrdup(k->text);
	add_ref(c, REF_MODEL, k, k->text);
	for (i = 0; i < n_prev; i++)
		if (strcmp(prev[i].from, k->text) == 0)
			rc = -EINVAL;
	if (rc < 0)
		err(c, k, "fallbacks for '%s' are listed twice; keep one list", show(k->text, tmp));
	else if (v->type != N_SEQ || v->n_kids > 16)
		err(c, v, "expected a list of at most 16 model names, got %s", kind(v));
	for (i = 0; rc == 0 && v->type == N_SEQ && i < v->n_kids && i < 16; i++) {
		if (i == 0)
			out->to = xcalloc(v->n_kids + 1, sizeof(*out->to));
		out->to[out->n_to] = get_str(c, v->kids[i], 0, NULL);
		if (!out->to[out->n_to])
			continue;
		add_ref(c, REF_MODEL, v->kids[i], out->to[out->n_to]);
		out->n_to++;
	}
	path_pop(c, at);
	return rc;
}

static int set_fallbacks(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	void *base = base_of(c, o, obj);
	const struct node *m;
	struct config_fallback *v;
	size_t i, j, total = 0, k = 0, at;

	if (n->type != N_SEQ) {
		err(c, n, "expected a list like [{\"free\": [\"free2\", \"cheap\"]}], got %s",
		    kind(n));
		return -EINVAL;
	}
	for (i = 0; i < n->n_kids; i++)
		total += n->kids[i]->type == N_MAP ? n->kids[i]->n_kids / 2 : 0;
	if (too_many(c, o, n, total) || set_twice(c, o, n, base))
		return -EINVAL;
	types[o->type].clear(o, base);
	v = xcalloc(total + 1, sizeof(*v));
	for (i = 0; i < n->n_kids; i++) {
		m = n->kids[i];
		at = path_index(c, i);
		if (m->type != N_MAP)
			err(c, m,
			    "expected a mapping like {\"free\": [\"free2\", \"cheap\"]}, got %s",
			    kind(m));
		for (j = 0; m->type == N_MAP && j < m->n_kids; j += 2, k++)
			set_fallback(c, m->kids[j], m->kids[j + 1], &v[k], v, k);
		path_pop(c, at);
	}
	set_ptr(base, o->off, v);
	*AT(base, o->n_off, size_t) = k;
	return 0;
}

static void clear_fallbacks(const struct opt *o, void *obj)
{
	struct config_fallback *v = get_ptr(obj, o->off);
	size_t i, j, n = *AT(obj, o->n_off, size_t);

	for (i = 0; i < n; i++) {
		for (j = 0; j < v[i].n_to; j++)
			free(v[i].to[j]);
		free(v[i].to);
		free(v[i].from);
	}
	free(v);
	set_ptr(obj, o->off, NULL);
	*AT(obj, o->n_off, size_t) = 0;
}

/* guardrails.max_tokens: `4096`, or {default: 4096, strong: 8192}. */
static int set_limits(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	int64_t *def = AT(obj, o->aux_off, int64_t);
	struct config_model_limit *v;
	const struct node *key;
	size_t i, k = 0, at;
	int rc = 0;

	if (n->type == N_SCALAR)
		return get_int(c, n, o->min, o->max, def);
	if (n->type != N_MAP) {
		err(c, n, "expected an integer or a mapping of model names to integers, got %s",
		    kind(n));
		return -EINVAL;
	}
	if (too_many(c, o, n, n->n_kids / 2))
		return -EINVAL;
	types[o->type].clear(o, obj);
	v = xcalloc(n->n_kids / 2 + 1, sizeof(*v));
	for (i = 0; i < n->n_kids; i += 2) {
		key = n->kids[i];
		at = path_key(c, key->text);
		if (strcmp(key->text, "default") == 0) {
			rc = get_int(c, n->kids[i + 1], o->min, o->max, def) < 0 ? -EINVAL : rc;
		} else if (get_int(c, n->kids[i + 1], o->min, o->max, &v[k].max_tokens) == 0) {
			v[k].model = xstrdup(key->text);
			add_ref(c, REF_MODEL, key, key->text);
			k++;
		} else {
			rc = -EINVAL;
		}
		path_pop(c, at);
	}
	set_ptr(obj, o->off, v);
	*AT(obj, o->n_off, size_t) = k;
	return rc;
}

static void clear_limits(const struct opt *o, void *obj)
{
	struct config_model_limit *v = get_ptr(obj, o->off);
	size_t i, n = *AT(obj, o->n_off, size_t);

	for (i = 0; i < n; i++)
		free(v[i].model);
	free(v);
	set_ptr(obj, o->off, NULL);
	*AT(obj, o->n_off, size_t) = 0;
}

static const struct type_ops types[N_TYPES] = {
	[T_STR] = {"string", set_str, clear_str},
	[T_INT] = {"integer", set_int, clear_none},
	[T_NUM] = {"number", set_num, clear_none},
	[T_BOOL] = {"bool", set_bool, clear_none},
	[T_ENUM] = {"one of", set_enum, clear_none},
	[T_FLAGS] = {"list of", set_flags, clear_none},
	[T_PERIOD] = {"duration (30s, 30m, 30h, 30d, 2w, 1mo)", set_period, clear_none},
	[T_STRS] = {"list of strings", set_strs, clear_strs},
	[T_INTS] = {"list of integers", set_ints, clear_ints},
	[T_PAIRS] = {"mapping of names to strings", set_pairs, clear_pairs},
	[T_SECTION] = {"mapping", set_section, clear_section},
	[T_LIST] = {"list of mappings", set_list, clear_list},
	[T_MAP] = {"mapping of names to mappings", set_map, clear_list},
	[T_LISTEN] = {"HOST:PORT", set_listen, clear_listen},
	[T_DELIVER] = {"telegram:CHAT_ID", set_deliver, clear_deliver},
	[T_FALLBACKS] = {"list of {group: [groups]}", set_fallbacks, clear_fallbacks},
	[T_LIMITS] = {"integer, or mapping of group (or `default`) to integer", set_limits,
		      clear_limits},
};

/* ------------------------------------------------------------------------------------------
 * Checks of string values (they report, then return -EINVAL)
 */

static int check_abs_path(struct ctx *c, const struct node *n, const char *v)
{
	char tmp[SHOW_LEN + 32];

	if (v[0] == '/' && !strpbrk(v, "\r\n"))
		return 0;
	err(c, n, "expected an absolute path (starting with '/'), got %s", got(n, tmp));
	return -EINVAL;
}

static int check_command(struct ctx *c, const struct node *n, const char *v)
{
	if (*v && !strpbrk(v, "\r\n"))
		return 0;
	err(c, n, "expected a program path or name on one line");
	return -EINVAL;
}

static int check_url(struct ctx *c, const struct node *n, const char *v)
{
	char tmp[SHOW_LEN + 32];
	const char *host = NULL;
	size_t i;

	if (strncasecmp(v, "http://", 7) == 0)
		host = v + 7;
	else if (strncasecmp(v, "https://", 8) == 0)
		host = v + 8;
	for (i = 0; v[i]; i++)
		if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f)
			host = NULL;
	if (host && *host && *host != '/')
		return 0;
	err(c, n, "expected an http:// or https:// URL, got %s", got(n, tmp));
	return -EINVAL;
}

/* Cron job, hook, skill and key alias names: ^[a-z0-9][a-z0-9_-]{0,63}$. */
static int check_name(struct ctx *c, const struct node *n, const char *v)
{
	char tmp[SHOW_LEN + 32];
	size_t i, len = strlen(v);
	bool ok = len >= 1 && len <= 64 &&
		  (islower((unsigned char)v[0]) || isdigit((unsigned char)v[0]));

	for (i = 1; ok && i < len; i++)
		ok = islower((unsigned char)v[i]) || isdigit((unsigned char)v[i]) || v[i] == '_' ||
		     v[i] == '-';
	if (ok)
		return 0;
	err(c, n,
	    "expected a name of 1-64 characters a-z, 0-9, '_', '-' starting with a letter "
	    "or digit, got %s",
	    got(n, tmp));
	return -EINVAL;
}

static int check_header_name(struct ctx *c, const struct node *n, const char *v)
{
	char tmp[SHOW_LEN];
	size_t i;

	for (i = 0; v[i]; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("!#$%&'*+-.^_`|~", v[i]))
			break;
	if (i > 0 && !v[i])
		return 0;
	err(c, n, "'%s' is not a valid HTTP header name", show(v, tmp));
	return -EINVAL;
}

static int check_env_name(struct ctx *c, const struct node *n, const char *v)
{
	char tmp[SHOW_LEN];

	if (env_name_ok(v, strlen(v)))
		return 0;
	err(c, n, "'%s' is not a valid environment variable name", show(v, tmp));
	return -EINVAL;
}

/* web.allow_hosts: "example.com" or "*.example.com", lowercase. */
static int check_host_pattern(struct ctx *c, const struct node *n, const char *v)
{
	char tmp[SHOW_LEN + 32];
	const char *h = strncmp(v, "*.", 2) == 0 ? v + 2 : v;
	size_t i;

	for (i = 0; h[i]; i++)
		if (!islower((unsigned char)h[i]) && !isdigit((unsigned char)h[i]) && h[i] != '.' &&
		    h[i] != '-')
			break;
	if (i > 0 && !h[i])
		return 0;
	err(c, n, "expected a lowercase host name like example.com or *.example.com, got %s",
	    got(n, tmp));
	return -EINVAL;
}

/* A JSON field name of the hook payload, e.g. "id" or "data.id". */
static int check_field_name(struct ctx *c, const struct node *n, const char *v)
{
	char tmp[SHOW_LEN + 32];
	size_t i;

	for (i = 0; v[i]; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("_.-", v[i]))
			break;
	if (i > 0 && !v[i])
		return 0;
	err(c, n, "expected a JSON field name like id or data.id, got %s", got(n, tmp));
	return -EINVAL;
}

/* An IANA name: no leading '/', no '.', so it cannot leave the zoneinfo directory. */
static bool tz_name_ok(const char *v)
{
	size_t i;

	if (!*v || *v == '/' || strlen(v) > 64 || strstr(v, "//") || v[strlen(v) - 1] == '/')
		return false;
	for (i = 0; v[i]; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("_+-/", v[i]))
			return false;
	return true;
}

static bool is_tzif(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name), magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	bool ok = false;
	struct stat st;

	free(path);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		ok = read(fd, magic, 4) == 4 && memcmp(magic, "TZif", 4) == 0;
	close(fd);
	return ok;
}

static int check_timezone(struct ctx *c, const struct node *n, const char *v)
{
	const char *dir = getenv("TZDIR");
	char tmp[SHOW_LEN + 32];
	struct stat st;

	if (!dir || !*dir)
		dir = "/usr/share/zoneinfo";
	if (!tz_name_ok(v)) {
		err(c, n, "expected an IANA time zone name like Asia/Manila or UTC, got %s",
		    got(n, tmp));
		return -EINVAL;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		warn(c, n,
		     "cannot check the time zone: %s is missing (install tzdata or set TZDIR)",
		     dir);
		return 0;
	}
	if (is_tzif(dir, v))
		return 0;
	err(c, n, "unknown time zone %s (no zoneinfo file under %s); use a name like Asia/Manila",
	    got(n, tmp), dir);
	return -EINVAL;
}

/* ------------------------------------------------------------------------------------------
 * Checks across the keys of one mapping or one list
 */

static const struct provider {
	const char *name;
	const char *api_base;
} providers[] = {
	{"openai", "https://api.openai.com/v1"}, /* first: bare ids are OpenAI's */
	{"openrouter", "https://openrouter.ai/api/v1"},
};

static const struct provider *find_provider(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(providers); i++)
		if (strlen(providers[i].name) == len && strncmp(providers[i].name, name, len) == 0)
			return &providers[i];
	return NULL;
}

/* "openrouter/qwen/qwen3-coder:free" -> provider openrouter, upstream qwen/qwen3-coder:free. */
static void model_provider(struct ctx *c, const struct node *at, struct config_model *m)
{
	struct config_litellm_params *p = &m->litellm_params;
	const char *slash = strchr(p->model, '/');
	size_t len = slash ? (size_t)(slash - p->model) : 0;
	const struct provider *pv = slash ? find_provider(p->model, len) : &providers[0];
	char *prefix = xstrndup(p->model, len), tmp[SHOW_LEN], tmp2[SHOW_LEN];

	if (slash && !slash[1]) {
		err(c, at, "no model id after '%s/'", show(prefix, tmp));
	} else if (!pv && !p->api_base) {
		err(c, at,
		    "provider '%s' is not supported; use openrouter/... or openai/... with "
		    "api_base",
		    show(prefix, tmp));
	} else {
		if (!pv)
			warn(c, at,
			     "provider '%s' is not one hermetic knows: api_base is treated as "
			     "an OpenAI-compatible API and gets model '%s' (write openai/... "
			     "to silence this)",
			     show(prefix, tmp), show(slash + 1, tmp2));
		m->provider = pv ? xstrdup(pv->name) : xstrdup(prefix);
		m->upstream_model = xstrdup(slash ? slash + 1 : p->model);
		if (!p->api_base)
			p->api_base = xstrdup(pv->api_base);
	}
	free(prefix);
}

static double pick_cost(double info, double params)
{
	return info >= 0 ? info : params >= 0 ? params : 0;
}

static void model_check(struct ctx *c, const struct node *map, void *obj)
{
	struct config_model *m = obj;
	struct config_model_info *mi = &m->model_info;
	size_t at = path_push(c, ".litellm_params.model");

	model_provider(c, loc(map_get(map, "litellm_params"), "model"), m);
	path_pop(c, at);
	mi->input_cost_per_token =
		pick_cost(mi->input_cost_per_token, m->litellm_params.input_cost_per_token);
	mi->output_cost_per_token =
		pick_cost(mi->output_cost_per_token, m->litellm_params.output_cost_per_token);
}

/* The node of key inside the mapping under sub (e.g. model_info.id) of one list entry. */
static const struct node *item_loc(const struct node *item, const char *sub, const char *key)
{
	const struct node *m = sub ? map_get(item, sub) : item;

	return m ? loc(m, key) : item;
}

/* Default deployment ids are "<model_name>-<n>", n counting within the group from 1. */
static void models_check_all(struct ctx *c, const struct node *seq, void *items, size_t n)
{
	struct config_model *m = items;
	char tmp[SHOW_LEN];
	size_t i, j, k;

	for (i = 0; i < n; i++) {
		if (m[i].model_info.id || !m[i].model_name)
			continue;
		for (j = 0, k = 1; j < i; j++)
			k += m[j].model_name && strcmp(m[j].model_name, m[i].model_name) == 0;
		m[i].model_info.id = xasprintf("%s-%zu", m[i].model_name, k);
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < i && m[i].model_info.id; j++)
			if (m[j].model_info.id &&
			    strcmp(m[i].model_info.id, m[j].model_info.id) == 0)
				err_at(c, item_loc(seq->kids[i], "model_info", "id"),
				       "model_list[%zu]: deployment id '%s' is already used by "
				       "model_list[%zu]; set a unique model_info.id",
				       i, show(m[i].model_info.id, tmp), j);
}

static const char *const transport_names[] = {"http", "sse", "stdio"};

const char *config_mcp_transport_name(enum config_mcp_transport t)
{
	return transport_names[t];
}

static void mcp_check(struct ctx *c, const struct node *map, void *obj)
{
	struct config_mcp_server *s = obj;
	size_t i;

	if (!*s->name || strlen(s->name) > 64)
		err(c, map, "a server name must be 1-64 characters");
	if (!s->url == !s->command) {
		err(c, map, "set exactly one of 'url' (http or sse) or 'command' (stdio)");
		return;
	}
	if (!map_get(map, "transport"))
		s->transport = s->url ? CONFIG_MCP_HTTP : CONFIG_MCP_STDIO;
	else if ((s->transport == CONFIG_MCP_STDIO) != (s->command != NULL))
		key_err(c, map, "transport", true, "transport '%s' needs '%s'",
			transport_names[s->transport], s->command ? "url" : "command");
	if (s->command && s->n_headers)
		key_err(c, map, "headers", true, "headers apply only to servers with a url");
	if (s->url && (s->n_args || s->n_env))
		key_err(c, map, s->n_args ? "args" : "env", true,
			"args and env apply only to servers with a command");
	if (s->n_tools_include && s->n_tools_exclude)
		key_err(c, map, "tools", false,
			"include and exclude are both set: include wins, as in Hermes (only the "
			"included tools are offered; exclude is ignored)");
	s->prefix = xstrdup(s->name);
	for (i = 0; s->prefix[i]; i++)
		if (!isalnum((unsigned char)s->prefix[i]) && s->prefix[i] != '_')
			s->prefix[i] = '_';
}

/* Tool names are "mcp_<prefix>_<tool>": two servers must not share a prefix. */
static void mcp_check_all(struct ctx *c, const struct node *map, void *items, size_t n)
{
	struct config_mcp_server *s = items;
	char a[SHOW_LEN], b[SHOW_LEN], p[SHOW_LEN];
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < i && s[i].prefix; j++)
			if (s[j].prefix && strcmp(s[i].prefix, s[j].prefix) == 0)
				err_at(c, map->kids[2 * i],
				       "mcp_servers: '%s' and '%s' both become the tool prefix "
				       "'%s' "
				       "(characters other than a-z, A-Z, 0-9, _ turn into _); "
				       "rename "
				       "one",
				       show(s[j].name, a), show(s[i].name, b),
				       show(s[i].prefix, p));
}

static void cron_check(struct ctx *c, const struct node *map, void *obj)
{
	struct config_cron_job *j = obj;
	char why[160], tmp[SHOW_LEN + 32];

	if (cronexpr_parse(j->schedule, &j->expr, why, sizeof(why)) < 0)
		key_err(c, map, "schedule", true, "invalid cron schedule %s: %s",
			got(loc(map, "schedule"), tmp), why);
}

static void check_unique(struct ctx *c, const struct node *seq, void *items, size_t n, size_t size,
			 size_t off, const char *what)
{
	char tmp[SHOW_LEN];
	const char *a, *b;
	size_t i, j;

	for (i = 0; i < n; i++) {
		a = *AT((char *)items + i * size, off, char *);
		for (j = 0; j < i && a; j++) {
			b = *AT((char *)items + j * size, off, char *);
			if (b && strcmp(a, b) == 0)
				err_at(c, item_loc(seq->kids[i], NULL, "name"),
				       "%s[%zu]: duplicate %s name '%s' (first at line %u)",
				       c->path, i, what, show(a, tmp),
				       item_loc(seq->kids[j], NULL, "name")->line);
		}
	}
}

static void cron_check_all(struct ctx *c, const struct node *seq, void *items, size_t n)
{
	check_unique(c, seq, items, n, sizeof(struct config_cron_job),
		     offsetof(struct config_cron_job, name), "cron job");
}

static void hook_check(struct ctx *c, const struct node *map, void *obj)
{
	struct config_hook *h = obj;

	if (!strstr(h->prompt, "{{payload}}"))
		key_err(c, map, "prompt", false,
			"has no {{payload}}: the request body will not reach the model");
}

static void hooks_check_all(struct ctx *c, const struct node *seq, void *items, size_t n)
{
	check_unique(c, seq, items, n, sizeof(struct config_hook),
		     offsetof(struct config_hook, name), "hook");
}

static void keys_check_all(struct ctx *c, const struct node *seq, void *items, size_t n)
{
	struct config_key *k = items;
	char tmp[SHOW_LEN];
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++) {
			if (k[i].alias && k[j].alias && strcmp(k[i].alias, k[j].alias) == 0)
				err_at(c, item_loc(seq->kids[i], NULL, "alias"),
				       "keys[%zu]: duplicate alias '%s'", i, show(k[i].alias, tmp));
			if (k[i].key && k[j].key && strcmp(k[i].key, k[j].key) == 0)
				err_at(c, item_loc(seq->kids[i], NULL, "key"),
				       "keys[%zu]: the same key value as keys[%zu]; every key must "
				       "differ",
				       i, j);
		}
	}
}

static bool is_loopback(const char *host)
{
	struct in_addr a4;

	/* 127.0.0.0/8 as an address: a name like 127.example.com is not loopback. */
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0;
}

/* An api.allowed_hosts entry: a host name or address as a Host header carries it, without
 * port (lowercase letters, digits, '.', '-', ':' inside an IPv6 address), or "*". */
static int check_allowed_host(struct ctx *c, const struct node *n, const char *v)
{
	char tmp[SHOW_LEN + 32];
	size_t i;

	if (strcmp(v, "*") == 0)
		return 0;
	for (i = 0; v[i]; i++)
		if (!islower((unsigned char)v[i]) && !isdigit((unsigned char)v[i]) &&
		    !strchr(".-:", v[i]))
			break;
	if (i > 0 && i <= 255 && !v[i] && (!strchr(v, ':') || strchr(v, '.') == NULL))
		return 0;
	err(c, n,
	    "expected a lowercase host name or address without port (hermetic.default.svc, "
	    "10.0.0.7, ::1) or \"*\", got %s",
	    got(n, tmp));
	return -EINVAL;
}

static void api_check(struct ctx *c, const struct node *map, void *obj)
{
	struct config_api *a = obj;
	size_t i;

	/* Without a key the API is safe only where no one else can reach it: a browser page can
	 * still reach loopback, and the Host check (apiguard.c) is what stops it there. */
	if (!a->key && !is_loopback(a->listen.host))
		key_err(c, map, "listen", true,
			"api.key is not set and %s is not a loopback address: anyone who can "
			"reach it could run the agent; set api.key (e.g. "
			"os.environ/API_SERVER_KEY) or listen on 127.0.0.1",
			a->listen.host);
	for (i = 0; !a->key && i < a->n_allowed_hosts; i++)
		if (strcmp(a->allowed_hosts[i], "*") == 0)
			key_err(c, map, "allowed_hosts", true,
				"\"*\" accepts any Host, which lets a web page reach the API "
				"through DNS rebinding: it needs api.key");
}

/* ------------------------------------------------------------------------------------------
 * The tables. Keys are listed in the order of README.md.
 */

#define FLD(s, f)    .off = offsetof(struct s, f)
#define CNT(s, f)    .n_off = offsetof(struct s, f)
#define OPTS(v)	     .opts = v, .n_opts = ARRAY_LEN(v)
#define MAX_I64	     INT64_MAX
#define MIB	     (1024 * 1024)
#define LITELLM_ONLY "a LiteLLM routing strategy hermetic does not support"

/* Enum fields are written through an int. */
_Static_assert(sizeof(enum config_routing) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_seccomp_action) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_mcp_transport) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");

static const struct choice toolset_choices[] = {
	{"all", CONFIG_TOOLSET_ALL, NULL},
	{"memory", CONFIG_TOOLSET_MEMORY, NULL},
	{"session_search", CONFIG_TOOLSET_SESSION_SEARCH, NULL},
	{"skills", CONFIG_TOOLSET_SKILLS, NULL},
	{"files", CONFIG_TOOLSET_FILES, NULL},
	{"web", CONFIG_TOOLSET_WEB, NULL},
	{"prometheus", CONFIG_TOOLSET_PROMETHEUS, NULL},
	{"time", CONFIG_TOOLSET_TIME, NULL},
	{"mcp", CONFIG_TOOLSET_MCP, NULL},
	{NULL, 0, NULL},
};

static const struct choice routing_choices[] = {
	{"simple-shuffle", CONFIG_ROUTING_SIMPLE_SHUFFLE, NULL},
	{"least-busy", CONFIG_ROUTING_LEAST_BUSY, NULL},
	{"usage-based-routing", 0, LITELLM_ONLY},
	{"usage-based-routing-v2", 0, LITELLM_ONLY},
	{"latency-based-routing", 0, LITELLM_ONLY},
	{"cost-based-routing", 0, LITELLM_ONLY},
	{NULL, 0, NULL},
};

const char *config_toolset_name(size_t i, unsigned *flag)
{
	if (i >= ARRAY_LEN(toolset_choices) - 1)
		return NULL;
	*flag = (unsigned)toolset_choices[i].value;
	return toolset_choices[i].name;
}

const char *config_routing_name(enum config_routing r)
{
	return routing_choices[r].name;
}

static const struct choice seccomp_choices[] = {
	{"errno", CONFIG_SECCOMP_ERRNO, NULL},
	{"kill", CONFIG_SECCOMP_KILL, NULL},
	{NULL, 0, NULL},
};

static const struct choice log_choices[] = {
	{"error", LOG_ERROR, NULL}, {"warn", LOG_WARN, NULL}, {"info", LOG_INFO, NULL},
	{"debug", LOG_DEBUG, NULL}, {NULL, 0, NULL},
};

static const struct choice transport_choices[] = {
	{"http", CONFIG_MCP_HTTP, NULL},
	{"sse", CONFIG_MCP_SSE, NULL},
	{"stdio", CONFIG_MCP_STDIO, NULL},
	{NULL, 0, NULL},
};

static const struct opt auxiliary_opts[] = {
	{"compression", T_STR, FLD(config_auxiliary, compression), .flags = F_MODEL,
	 .text = "summarises old turns when the context fills up"},
	{"title", T_STR, FLD(config_auxiliary, title), .flags = F_MODEL,
	 .text = "reserved; sessions are named after their first message, with no call"},
	{"session_search", T_STR, FLD(config_auxiliary, session_search), .flags = F_MODEL,
	 .text = "reserved; session_search returns excerpts, with no call"},
	{"vision", T_STR, FLD(config_auxiliary, vision), .flags = F_MODEL,
	 .text = "reserved for image input (not used yet)"},
	{"web_extract", T_STR, FLD(config_auxiliary, web_extract), .flags = F_MODEL,
	 .text = "reserved; web_fetch returns the page as text, with no call"},
};

static const struct table auxiliary_table = {
	"auxiliary",
	"auxiliary",
	OPTS(auxiliary_opts),
	.text = "Model groups for side jobs. An unset slot uses `model`.",
};

static const struct opt agent_opts[] = {
	{"max_iterations", T_INT, FLD(config_agent, max_iterations), .def = "12", .min = 1,
	 .max = 1000, .text = "model calls per turn before the agent stops and answers"},
	{"max_turn_cost_usd", T_NUM, FLD(config_agent, max_turn_cost_usd), .def = "0.05", .min = 0,
	 .max = 1000, .text = "spend per turn before the agent stops; 0 = no cap"},
	{"context_tokens", T_INT, FLD(config_agent, context_tokens), .def = "32000", .min = 1024,
	 .max = 10000000, .text = "context budget; older turns are compressed beyond it"},
	{"persona_file", T_STR, FLD(config_agent, persona_file), .check = check_abs_path,
	 .text = "system prompt file (absolute path); unset = built-in persona"},
	{"session_idle_minutes", T_INT, FLD(config_agent, session_idle_minutes), .def = "240",
	 .min = 1, .max = 525600, .text = "a chat idle this long starts a new session"},
	{"turn_timeout_s", T_INT, FLD(config_agent, turn_timeout_s), .def = "300", .min = 1,
	 .max = 86400, .text = "wall-clock limit of one turn"},
	{"tool_result_max_bytes", T_INT, FLD(config_agent, tool_result_max_bytes), .def = "16384",
	 .min = 256, .max = 16 * MIB,
	 .text = "tool output beyond this is cut before the model sees it"},
	{"tool_timeout_s", T_INT, FLD(config_agent, tool_timeout_s), .def = "60", .min = 1,
	 .max = 3600, .text = "limit of one tool call"},
	{"max_tools", T_INT, FLD(config_agent, max_tools), .def = "128", .min = 16, .max = 1024,
	 .text = "tools per request (OpenAI refuses more than 128): builtin tools first, then MCP "
		 "tools in server order; the rest are left out (logged; doctor warns)"},
};

static const struct table agent_table = {"agent", "agent", OPTS(agent_opts),
					 .text = "The agent loop."};

static const struct opt memory_opts[] = {
	{"max_chars", T_INT, FLD(config_memory, max_chars), .def = "2200", .min = 100,
	 .max = 100000, .text = "bound of MEMORY.md (the agent's notes), in characters"},
	{"user_max_chars", T_INT, FLD(config_memory, user_max_chars), .def = "1375", .min = 100,
	 .max = 100000, .text = "bound of USER.md (about the user), in characters"},
};

static const struct table memory_table = {
	"memory", "memory", OPTS(memory_opts),
	.text = "The `memory` toolset: `home/memories/MEMORY.md` and `USER.md`, shown to the "
		"model at session start."};

static const struct opt skills_opts[] = {
	{"external_dirs", T_STRS, FLD(config_skills, external_dirs),
	 CNT(config_skills, n_external_dirs), .cap = 32, .check = check_abs_path,
	 .text = "read-only skill directories besides home/skills (absolute paths)"},
};

static const struct table skills_table = {"skills", "skills", OPTS(skills_opts),
					  .text = "Skills (`<dir>/<name>/SKILL.md`)."};

static const struct opt web_opts[] = {
	{"allow_hosts", T_STRS, FLD(config_web, allow_hosts), CNT(config_web, n_allow_hosts),
	 .cap = 256, .check = check_host_pattern,
	 .text = "hosts web_fetch may reach (`example.com`, `*.example.com`); a listed host may "
		 "be internal and use any port; empty = any public host, ports 80 and 443"},
	{"timeout_s", T_INT, FLD(config_web, timeout_s), .def = "20", .min = 1, .max = 300,
	 .text = "limit of one fetch"},
	{"max_bytes", T_INT, FLD(config_web, max_bytes), .def = "1048576", .min = 1024,
	 .max = 64 * MIB, .text = "largest response body read"},
};

static const struct table web_table = {"web", "web", OPTS(web_opts), .text = "The `web` toolset."};

static const struct opt prometheus_opts[] = {
	{"url", T_STR, FLD(config_prometheus, url), .check = check_url,
	 .text = "Prometheus base URL; unset = prometheus_query is not offered"},
	{"timeout_s", T_INT, FLD(config_prometheus, timeout_s), .def = "15", .min = 1, .max = 300,
	 .text = "limit of one query"},
};

static const struct table prometheus_table = {"prometheus", "prometheus", OPTS(prometheus_opts),
					      .text = "The `prometheus` toolset."};

static const struct opt litellm_params_opts[] = {
	{"model", T_STR, FLD(config_litellm_params, model), .flags = F_REQUIRED,
	 .text = "`openrouter/<id>`, `openai/<id>` or a bare OpenAI id; another `x/<id>` needs "
		 "api_base"},
	{"api_base", T_STR, FLD(config_litellm_params, api_base), .check = check_url,
	 .text = "OpenAI-compatible base URL; default: the provider's"},
	{"api_key", T_STR, FLD(config_litellm_params, api_key), .flags = F_SECRET,
	 .text = "bearer key, normally `os.environ/NAME`"},
	{"rpm", T_INT, FLD(config_litellm_params, rpm), .def = "0", .min = 0, .max = 1000000000,
	 .text = "requests per minute this deployment takes; 0 = no limit"},
	{"tpm", T_INT, FLD(config_litellm_params, tpm), .def = "0", .min = 0, .max = MAX_I64,
	 .text = "tokens per minute; 0 = no limit"},
	{"weight", T_INT, FLD(config_litellm_params, weight), .def = "1", .min = 1, .max = 1000,
	 .text = "share of simple-shuffle picks within the group"},
	{"timeout", T_INT, FLD(config_litellm_params, timeout_s), .def = "0", .min = 0,
	 .max = 86400, .text = "seconds for the whole call; 0 = router_settings.timeout"},
	{"stream_timeout", T_INT, FLD(config_litellm_params, stream_timeout_s), .def = "0",
	 .min = 0, .max = 86400, .text = "seconds to the first streamed chunk; 0 = timeout"},
	{"max_tokens", T_INT, FLD(config_litellm_params, max_tokens), .def = "0", .min = 0,
	 .max = 10000000, .text = "max_tokens sent when the request has none; 0 = not sent"},
	{"num_retries", T_INT, FLD(config_litellm_params, num_retries), .def = "-1", .min = 0,
	 .max = 10, .text = "retries of this deployment; default router_settings.num_retries"},
	{"input_cost_per_token", T_NUM, FLD(config_litellm_params, input_cost_per_token),
	 .def = "-1", .min = 0, .max = 1, .text = "USD; LiteLLM's spelling, model_info wins"},
	{"output_cost_per_token", T_NUM, FLD(config_litellm_params, output_cost_per_token),
	 .def = "-1", .min = 0, .max = 1, .text = "USD; LiteLLM's spelling, model_info wins"},
	{"extra_headers", T_PAIRS, FLD(config_litellm_params, extra_headers),
	 CNT(config_litellm_params, n_extra_headers), .cap = 32, .check = check_header_name,
	 .flags = F_SECRET | F_ONELINE, .text = "headers added to every upstream request (secret)"},
};

static const struct table litellm_params_table = {"litellm_params", "model_list[].litellm_params",
						  OPTS(litellm_params_opts),
						  .text = "How to call one deployment."};

static const struct opt model_info_opts[] = {
	{"input_cost_per_token", T_NUM, FLD(config_model_info, input_cost_per_token), .def = "-1",
	 .min = 0, .max = 1, .text = "USD per prompt token; default 0"},
	{"output_cost_per_token", T_NUM, FLD(config_model_info, output_cost_per_token), .def = "-1",
	 .min = 0, .max = 1, .text = "USD per completion token; default 0"},
	{"max_input_tokens", T_INT, FLD(config_model_info, max_input_tokens), .def = "0", .min = 0,
	 .max = 100000000, .text = "context window; 0 = unknown"},
	{"max_output_tokens", T_INT, FLD(config_model_info, max_output_tokens), .def = "0",
	 .min = 0, .max = 100000000, .text = "completion limit; 0 = unknown"},
	{"max_tokens", T_INT, FLD(config_model_info, max_output_tokens), .min = 0, .max = 100000000,
	 .text = "same as max_output_tokens"},
	{"id", T_STR, FLD(config_model_info, id), .flags = F_ONELINE,
	 .text = "deployment id (x-litellm-model-id); default `<model_name>-<n>`"},
};

static const struct table model_info_table = {
	"model_info", "model_list[].model_info", OPTS(model_info_opts), .lenient = true,
	.text = "Facts about one deployment. LiteLLM keeps free-form data here, so unknown keys "
		"are warnings."};

static const struct opt model_opts[] = {
	{"model_name", T_STR, FLD(config_model, model_name), .flags = F_REQUIRED | F_ONELINE,
	 .text = "the group (virtual model) clients ask for; repeat it for more deployments"},
	{"litellm_params", T_SECTION, FLD(config_model, litellm_params),
	 .table = &litellm_params_table, .flags = F_REQUIRED},
	{"model_info", T_SECTION, FLD(config_model, model_info), .table = &model_info_table},
	{"(provider)", T_STR, FLD(config_model, provider), .flags = F_DERIVED},
	{"(upstream_model)", T_STR, FLD(config_model, upstream_model), .flags = F_DERIVED},
};

static const struct table model_table = {
	"model_list",
	"model_list[]",
	OPTS(model_opts),
	.size = sizeof(struct config_model),
	.check = model_check,
	.check_all = models_check_all,
	.text = "LiteLLM's model_list, verbatim: one entry per deployment."};

static const struct opt litellm_settings_opts[] = {
	{"num_retries", T_INT, FLD(config_litellm_settings, num_retries), .def = "2", .min = 0,
	 .max = 10, .text = "retries within a group before falling back"},
	{"request_timeout", T_INT, FLD(config_litellm_settings, request_timeout_s), .def = "600",
	 .min = 1, .max = 86400, .text = "seconds per upstream call"},
	{"fallbacks", T_FALLBACKS, FLD(config_litellm_settings, fallbacks),
	 CNT(config_litellm_settings, n_fallbacks), .cap = 256,
	 .text = "`[{\"free\": [\"free2\", \"cheap\"]}]`: groups tried in order on errors"},
	{"context_window_fallbacks", T_FALLBACKS,
	 FLD(config_litellm_settings, context_window_fallbacks),
	 CNT(config_litellm_settings, n_context_window_fallbacks), .cap = 256,
	 .text = "the same, for context-window errors"},
	{"content_policy_fallbacks", T_FALLBACKS,
	 FLD(config_litellm_settings, content_policy_fallbacks),
	 CNT(config_litellm_settings, n_content_policy_fallbacks), .cap = 256,
	 .text = "the same, for content-policy errors"},
	{"default_fallbacks", T_STRS, FLD(config_litellm_settings, default_fallbacks),
	 CNT(config_litellm_settings, n_default_fallbacks), .cap = 16, .flags = F_MODEL,
	 .text = "groups tried after a group's own fallbacks"},
	{"max_fallbacks", T_INT, FLD(config_litellm_settings, max_fallbacks), .def = "5", .min = 0,
	 .max = 20, .text = "most fallback groups tried per request"},
	{"max_budget", T_NUM, FLD(config_litellm_settings, max_budget_usd), .def = "0", .min = 0,
	 .max = 1000000, .text = "USD the router may spend per budget_duration; 0 = no cap"},
	{"budget_duration", T_PERIOD, FLD(config_litellm_settings, budget_duration_s),
	 .text = "when max_budget resets; unset = never"},
};

static const struct table litellm_settings_table = {"litellm_settings", "litellm_settings",
						    OPTS(litellm_settings_opts),
						    .text = "LiteLLM's router-wide settings."};

static const struct opt retry_policy_opts[] = {
	{"RateLimitErrorRetries", T_INT, FLD(config_retry_policy, rate_limit), .def = "-1",
	 .min = 0, .max = 10, .text = "retries after 429; default num_retries"},
	{"TimeoutErrorRetries", T_INT, FLD(config_retry_policy, timeout), .def = "-1", .min = 0,
	 .max = 10, .text = "retries after a timeout or 408"},
	{"InternalServerErrorRetries", T_INT, FLD(config_retry_policy, internal_server),
	 .def = "-1", .min = 0, .max = 10, .text = "retries after 5xx"},
	{"BadRequestErrorRetries", T_INT, FLD(config_retry_policy, bad_request), .def = "-1",
	 .min = 0, .max = 10, .text = "retries after 400"},
	{"AuthenticationErrorRetries", T_INT, FLD(config_retry_policy, authentication), .def = "-1",
	 .min = 0, .max = 10, .text = "retries after 401/403"},
	{"ContentPolicyViolationErrorRetries", T_INT, FLD(config_retry_policy, content_policy),
	 .def = "-1", .min = 0, .max = 10, .text = "retries after a content-policy refusal"},
};

static const struct table retry_policy_table = {
	"retry_policy", "router_settings.retry_policy", OPTS(retry_policy_opts),
	.text = "Retries per error class; unset classes use num_retries."};

static const struct opt router_settings_opts[] = {
	{"routing_strategy", T_ENUM, FLD(config_router_settings, routing_strategy),
	 .def = "simple-shuffle", .choices = routing_choices,
	 .text = "how a deployment is picked within a group"},
	{"allowed_fails", T_INT, FLD(config_router_settings, allowed_fails), .def = "3", .min = 0,
	 .max = 1000, .text = "failures within cooldown_time before a deployment cools down"},
	{"cooldown_time", T_INT, FLD(config_router_settings, cooldown_time_s), .def = "30",
	 .min = 0, .max = 86400, .text = "seconds a failing deployment is skipped"},
	{"num_retries", T_INT, FLD(config_router_settings, num_retries), .def = "-1", .min = 0,
	 .max = 10, .text = "retries within a group; default litellm_settings.num_retries"},
	{"retry_policy", T_SECTION, FLD(config_router_settings, retry_policy),
	 .table = &retry_policy_table},
	{"timeout", T_INT, FLD(config_router_settings, timeout_s), .def = "-1", .min = 1,
	 .max = 86400, .text = "seconds per call; default litellm_settings.request_timeout"},
	{"max_fallbacks", T_INT, FLD(config_router_settings, max_fallbacks), .def = "-1", .min = 0,
	 .max = 20, .text = "default litellm_settings.max_fallbacks"},
	{"enable_pre_call_checks", T_BOOL, FLD(config_router_settings, enable_pre_call_checks),
	 .def = "false", .text = "skip deployments whose context window is too small"},
	{"fallbacks", T_FALLBACKS, FLD(config, litellm_settings.fallbacks),
	 CNT(config, litellm_settings.n_fallbacks), .cap = 256, .flags = F_ROOT,
	 .text = "same as litellm_settings.fallbacks (LiteLLM accepts both)"},
	{"context_window_fallbacks", T_FALLBACKS,
	 FLD(config, litellm_settings.context_window_fallbacks),
	 CNT(config, litellm_settings.n_context_window_fallbacks), .cap = 256, .flags = F_ROOT,
	 .text = "same as litellm_settings.context_window_fallbacks"},
	{"content_policy_fallbacks", T_FALLBACKS,
	 FLD(config, litellm_settings.content_policy_fallbacks),
	 CNT(config, litellm_settings.n_content_policy_fallbacks), .cap = 256, .flags = F_ROOT,
	 .text = "same as litellm_settings.content_policy_fallbacks"},
	{"default_fallbacks", T_STRS, FLD(config, litellm_settings.default_fallbacks),
	 CNT(config, litellm_settings.n_default_fallbacks), .cap = 16, .flags = F_ROOT | F_MODEL,
	 .text = "same as litellm_settings.default_fallbacks"},
};

static const struct table router_settings_table = {"router_settings", "router_settings",
						   OPTS(router_settings_opts),
						   .text = "LiteLLM's routing settings."};

static const struct opt general_settings_opts[] = {
	{"master_key", T_STR, FLD(config_general_settings, master_key), .flags = F_SECRET,
	 .text = "admin key of `hermetic router`; unset = only `keys` authenticate"},
};

static const struct table general_settings_table = {"general_settings", "general_settings",
						    OPTS(general_settings_opts),
						    .text = "LiteLLM's proxy settings."};

static const struct opt router_opts[] = {
	{"listen", T_LISTEN, FLD(config_router, listen), .def = "127.0.0.1:4000",
	 .text = "address of `hermetic router`; not loopback = needs a master_key or keys"},
	{"max_body_bytes", T_INT, FLD(config_router, max_body_bytes), .def = "4194304", .min = 1024,
	 .max = 64 * MIB, .text = "largest request body"},
	{"max_concurrent_upstream", T_INT, FLD(config_router, max_concurrent_upstream), .def = "64",
	 .min = 1, .max = 4096, .text = "upstream calls in flight"},
	{"max_response_bytes", T_INT, FLD(config_router, max_response_bytes), .def = "8388608",
	 .min = 1024, .max = 256 * MIB, .text = "largest upstream response"},
	{"max_connections", T_INT, FLD(config_router, max_connections), .def = "256", .min = 1,
	 .max = 65536, .text = "open client connections; past it a new one gets 503"},
	{"idle_timeout_s", T_INT, FLD(config_router, idle_timeout_s), .def = "60", .min = 1,
	 .max = 3600, .text = "a kept-alive connection with no request is closed after this"},
	{"header_timeout_s", T_INT, FLD(config_router, header_timeout_s), .def = "10", .min = 1,
	 .max = 600, .text = "from the connect (or a request's first byte) to its complete head"},
	{"body_timeout_s", T_INT, FLD(config_router, body_timeout_s), .def = "60", .min = 1,
	 .max = 3600, .text = "from the request head to its complete body"},
	{"openrouter_referer", T_STR, FLD(config_router, openrouter_referer), .def = "",
	 .flags = F_ONELINE, .text = "HTTP-Referer sent to OpenRouter; empty = not sent"},
	{"openrouter_title", T_STR, FLD(config_router, openrouter_title), .def = "hermetic",
	 .flags = F_ONELINE, .text = "X-Title sent to OpenRouter; empty = not sent"},
};

static const struct table router_table = {"router", "router", OPTS(router_opts),
					  .text = "hermetic's router process."};

static const struct opt key_opts[] = {
	{"key", T_STR, FLD(config_key, key), .flags = F_REQUIRED | F_SECRET,
	 .text = "the bearer key, normally `os.environ/NAME`"},
	{"alias", T_STR, FLD(config_key, alias), .check = check_name,
	 .text = "name in metrics (api_key_alias) and logs"},
	{"models", T_STRS, FLD(config_key, models), CNT(config_key, n_models), .cap = 256,
	 .flags = F_MODEL, .text = "groups this key may use, fallbacks included; empty = all"},
	{"max_budget", T_NUM, FLD(config_key, max_budget_usd), .def = "0", .min = 0, .max = 1000000,
	 .text = "USD per budget_duration; 0 = no cap"},
	{"budget_duration", T_PERIOD, FLD(config_key, budget_duration_s),
	 .text = "when max_budget resets; unset = never"},
};

static const struct table key_table = {"keys",
				       "keys[]",
				       OPTS(key_opts),
				       .size = sizeof(struct config_key),
				       .check_all = keys_check_all,
				       .text = "Virtual keys of `hermetic router`."};

static const struct opt budget_opts[] = {
	{"daily_usd", T_NUM, FLD(config_budget, daily_usd), .def = "0", .min = 0, .max = 1000000,
	 .text = "spend per day (in `timezone`), all callers; 0 = no cap"},
	{"monthly_usd", T_NUM, FLD(config_budget, monthly_usd), .def = "0", .min = 0,
	 .max = 1000000, .text = "spend per calendar month (in `timezone`); 0 = no cap"},
};

static const struct table budget_table = {"budget", "budget", OPTS(budget_opts),
					  .text = "Hard spend caps; calls beyond them fail."};

static const struct opt bleed_opts[] = {
	{"max_calls", T_INT, FLD(config_bleed, max_calls), .def = "60", .min = 0, .max = 1000000,
	 .text = "upstream calls (retries too) per window; 0 = off"},
	{"window_s", T_INT, FLD(config_bleed, window_s), .def = "900", .min = 1, .max = 86400,
	 .text = "the sliding window"},
	{"max_cost_usd", T_NUM, FLD(config_bleed, max_cost_usd), .def = "0", .min = 0, .max = 10000,
	 .text = "spend per window; 0 = off"},
	{"cooldown_s", T_INT, FLD(config_bleed, cooldown_s), .def = "3600", .min = 0, .max = 604800,
	 .text = "calls are refused this long after a trip; 0 = until /resume"},
};

static const struct table bleed_table = {"bleed", "guardrails.bleed", OPTS(bleed_opts),
					 .text = "The bleed detector: stops runaway loops."};

static const struct opt seccomp_opts[] = {
	{"enabled", T_BOOL, FLD(config_seccomp, enabled), .def = "true",
	 .text = "install the syscall allowlist at start"},
	{"action", T_ENUM, FLD(config_seccomp, action), .def = "errno", .choices = seccomp_choices,
	 .text = "a denied syscall fails with EPERM (errno) or kills the process"},
};

static const struct table seccomp_table = {"seccomp", "guardrails.seccomp", OPTS(seccomp_opts),
					   .text = "The process sandbox."};

static const struct opt guardrails_opts[] = {
	{"bleed", T_SECTION, FLD(config_guardrails, bleed), .table = &bleed_table},
	{"max_tokens", T_LIMITS, FLD(config_guardrails, max_tokens),
	 CNT(config_guardrails, n_max_tokens),
	 .aux_off = offsetof(struct config_guardrails, max_tokens_default), .def = "4096", .min = 1,
	 .max = 10000000, .cap = 256,
	 .text = "completion cap: `{default: 4096, strong: 8192}` or one number"},
	{"seccomp", T_SECTION, FLD(config_guardrails, seccomp), .table = &seccomp_table},
};

static const struct table guardrails_table = {"guardrails", "guardrails", OPTS(guardrails_opts),
					      .text = "Limits the agent cannot talk its way past."};

static const struct opt telegram_opts[] = {
	{"token", T_STR, FLD(config_telegram, token), .flags = F_SECRET,
	 .text = "bot token, normally `os.environ/TELEGRAM_BOT_TOKEN`; unset or empty = off"},
	{"allowed_users", T_INTS, FLD(config_telegram, allowed_users),
	 CNT(config_telegram, n_allowed_users), .min = 1, .max = MAX_I64, .cap = 1024,
	 .text = "user ids served; empty = nobody"},
	{"allowed_chats", T_INTS, FLD(config_telegram, allowed_chats),
	 CNT(config_telegram, n_allowed_chats), .min = INT64_MIN + 1, .max = MAX_I64, .cap = 1024,
	 .text = "group chat ids (negative) where allowed users are answered; private chats need "
		 "no entry, other groups are ignored"},
	{"api_base", T_STR, FLD(config_telegram, api_base), .def = "https://api.telegram.org",
	 .check = check_url, .text = "Bot API server"},
	{"admin_chat", T_INT, FLD(config_telegram, admin_chat), .def = "0", .min = INT64_MIN + 1,
	 .max = MAX_I64, .text = "chat for alerts (budget, bleed, failures); 0 = none"},
	{"poll_timeout_s", T_INT, FLD(config_telegram, poll_timeout_s), .def = "30", .min = 1,
	 .max = 120,
	 .text = "getUpdates long-poll timeout; `/readyz` fails after no successful poll for "
		 "twice this, at least 10 s"},
	{"refuse_unknown", T_BOOL, FLD(config_telegram, refuse_unknown), .def = "true",
	 .text = "answer strangers with a refusal (false = ignore them)"},
};

static const struct table telegram_table = {"telegram", "telegram", OPTS(telegram_opts),
					    .text = "The Telegram gateway."};

static const struct opt api_opts[] = {
	{"listen", T_LISTEN, FLD(config_api, listen), .def = "127.0.0.1:8642",
	 .text = "address of the agent API and hooks"},
	{"key", T_STR, FLD(config_api, key), .flags = F_SECRET,
	 .text = "bearer key of the agent API; unset = no auth, then listen must be loopback"},
	{"allowed_hosts", T_STRS, FLD(config_api, allowed_hosts), CNT(config_api, n_allowed_hosts),
	 .cap = 64, .check = check_allowed_host,
	 .text = "Host names the API answers besides loopback and listen's address (a Service "
		 "name); `*` = any (needs key)"},
	{"max_body_bytes", T_INT, FLD(config_api, max_body_bytes), .def = "1048576", .min = 1024,
	 .max = 64 * MIB, .text = "largest request body"},
	{"timeout_s", T_INT, FLD(config_api, timeout_s), .def = "60", .min = 1, .max = 3600,
	 .text = "limit of one synchronous request"},
};

static const struct table api_table = {"api", "api", OPTS(api_opts), .check = api_check,
				       .text = "The loopback HTTP API (chat, hooks)."};

static const struct opt log_opts[] = {
	{"level", T_ENUM, FLD(config_log, level), .def = "info", .choices = log_choices,
	 .text = "least severe level written"},
	{"file", T_BOOL, FLD(config_log, file), .def = "true",
	 .text = "also write home/logs/hermetic.log"},
	{"max_bytes", T_INT, FLD(config_log, max_bytes), .def = "10485760", .min = 65536,
	 .max = 1024 * MIB, .text = "rotate the file beyond this size"},
	{"keep", T_INT, FLD(config_log, keep), .def = "3", .min = 0, .max = 100,
	 .text = "rotated files kept"},
};

static const struct table log_table = {"log", "log", OPTS(log_opts), .text = "Logging."};

static const struct opt mcp_tools_opts[] = {
	{"include", T_STRS, FLD(config_mcp_server, tools_include),
	 CNT(config_mcp_server, n_tools_include), .cap = 256, .flags = F_ONELINE | F_ONE_OR_LIST,
	 .text = "offer only these tools (a name or a list); empty = all; wins over exclude"},
	{"exclude", T_STRS, FLD(config_mcp_server, tools_exclude),
	 CNT(config_mcp_server, n_tools_exclude), .cap = 256, .flags = F_ONELINE | F_ONE_OR_LIST,
	 .text = "never offer these tools (a name or a list)"},
};

static const struct table mcp_tools_table = {"tools", "mcp_servers.NAME.tools",
					     OPTS(mcp_tools_opts),
					     .text = "Which of the server's tools the model sees."};

static const struct opt mcp_opts[] = {
	{"url", T_STR, FLD(config_mcp_server, url), .check = check_url,
	 .text = "endpoint of an http or sse server"},
	{"command", T_STR, FLD(config_mcp_server, command), .check = check_command,
	 .text = "program of a stdio server"},
	{"transport", T_ENUM, FLD(config_mcp_server, transport), .choices = transport_choices,
	 .text = "default http with url, stdio with command"},
	{"args", T_STRS, FLD(config_mcp_server, args), CNT(config_mcp_server, n_args), .cap = 64,
	 .text = "arguments of command"},
	{"env", T_PAIRS, FLD(config_mcp_server, env), CNT(config_mcp_server, n_env), .cap = 64,
	 .check = check_env_name, .flags = F_SECRET | F_LITERAL_PUBLIC,
	 .text = "environment of command (values taken from the environment are secrets)"},
	{"headers", T_PAIRS, FLD(config_mcp_server, headers), CNT(config_mcp_server, n_headers),
	 .cap = 32, .check = check_header_name, .flags = F_SECRET | F_ONELINE,
	 .text = "HTTP headers (values are secrets)"},
	{"timeout", T_INT, FLD(config_mcp_server, timeout_s), .def = "120", .min = 1, .max = 3600,
	 .text = "seconds per request (Hermes' default)"},
	{"connect_timeout", T_INT, FLD(config_mcp_server, connect_timeout_s), .def = "60", .min = 1,
	 .max = 300,
	 .text = "seconds to connect and initialize (Hermes' default; a cold `npx -y` needs it)"},
	{"tools", T_SECTION, .off = 0, .table = &mcp_tools_table},
	{"enabled", T_BOOL, FLD(config_mcp_server, enabled), .def = "true",
	 .text = "false = keep the entry but do not connect"},
	{"(name)", T_STR, FLD(config_mcp_server, name), .flags = F_DERIVED},
	{"(prefix)", T_STR, FLD(config_mcp_server, prefix), .flags = F_DERIVED},
};

static const struct table mcp_table = {
	"mcp_servers",
	"mcp_servers.NAME",
	OPTS(mcp_opts),
	.size = sizeof(struct config_mcp_server),
	.name_off = offsetof(struct config_mcp_server, name),
	.check = mcp_check,
	.check_all = mcp_check_all,
	.text = "MCP servers by name. Their tools are offered as `mcp_<name>_<tool>` (at most 64 "
		"characters), with characters other than a-z, A-Z, 0-9, _ turned into _."};

static const struct choice job_web_choices[] = {
	{"allow_hosts", CONFIG_JOB_WEB_ALLOW_HOSTS, NULL},
	{"any", CONFIG_JOB_WEB_ANY, NULL},
	{NULL, 0, NULL},
};

#define JOB_WEB_TEXT                                                                               \
	"where web_fetch may go in this job's runs (untrusted, see Trust): `allow_hosts` = only "  \
	"web.allow_hosts; `any` = any host a chat may fetch"

static const struct opt cron_opts[] = {
	{"name", T_STR, FLD(config_cron_job, name), .check = check_name, .flags = F_REQUIRED,
	 .text = "unique; `^[a-z0-9][a-z0-9_-]{0,63}$`"},
	{"schedule", T_STR, FLD(config_cron_job, schedule), .flags = F_REQUIRED,
	 .text = "5-field cron line in `timezone`, or @hourly/@daily/@weekly/@monthly/@yearly"},
	{"prompt", T_STR, FLD(config_cron_job, prompt), .flags = F_REQUIRED,
	 .text = "what the agent is asked"},
	{"deliver", T_DELIVER, FLD(config_cron_job, deliver),
	 .text = "where the answer goes; unset = kept in the session only"},
	{"skills", T_STRS, FLD(config_cron_job, skills), CNT(config_cron_job, n_skills), .cap = 32,
	 .check = check_name, .text = "skills loaded for the run"},
	{"model", T_STR, FLD(config_cron_job, model), .flags = F_MODEL,
	 .text = "model group; default `model`"},
	{"misfire_grace_s", T_INT, FLD(config_cron_job, misfire_grace_s), .def = "600", .min = 0,
	 .max = 86400, .text = "a run missed by less than this (downtime) still happens"},
	{"enabled", T_BOOL, FLD(config_cron_job, enabled), .def = "true",
	 .text = "false = keep the entry but never run it"},
	{"web_fetch", T_ENUM, FLD(config_cron_job, web_fetch), .def = "allow_hosts",
	 .choices = job_web_choices, .text = JOB_WEB_TEXT},
};

static const struct table cron_table = {"cron",
					"cron[]",
					OPTS(cron_opts),
					.size = sizeof(struct config_cron_job),
					.check = cron_check,
					.check_all = cron_check_all,
					.text = "Scheduled agent runs."};

static const struct opt hook_opts[] = {
	{"name", T_STR, FLD(config_hook, name), .check = check_name, .flags = F_REQUIRED,
	 .text = "unique; the hook is POST /v1/hooks/<name>"},
	{"token", T_STR, FLD(config_hook, token), .flags = F_REQUIRED | F_SECRET,
	 .text = "bearer token callers send"},
	{"prompt", T_STR, FLD(config_hook, prompt), .flags = F_REQUIRED,
	 .text = "what the agent is asked; `{{payload}}` is the JSON body, `{{payload.a.b}}` one "
		 "field"},
	{"deliver", T_DELIVER, FLD(config_hook, deliver),
	 .text = "where the answer goes; unset = only in the response"},
	{"idempotency_field", T_STR, FLD(config_hook, idempotency_field), .check = check_field_name,
	 .text = "payload field whose repeats are ignored"},
	{"async", T_BOOL, FLD(config_hook, async), .def = "false",
	 .text = "answer 202 at once instead of waiting for the agent"},
	{"model", T_STR, FLD(config_hook, model), .flags = F_MODEL,
	 .text = "model group; default `model`"},
	{"web_fetch", T_ENUM, FLD(config_hook, web_fetch), .def = "allow_hosts",
	 .choices = job_web_choices, .text = JOB_WEB_TEXT},
};

static const struct table hook_table = {"hooks",
					"hooks[]",
					OPTS(hook_opts),
					.size = sizeof(struct config_hook),
					.check = hook_check,
					.check_all = hooks_check_all,
					.text = "Webhooks that start an agent run."};

static const struct opt top_opts[] = {
	{"home", T_STR, FLD(config, home), .check = check_abs_path,
	 .text = "data directory; default $HERMETIC_HOME, else /opt/data"},
	{"timezone", T_STR, FLD(config, timezone), .def = "UTC", .check = check_timezone,
	 .text = "IANA zone of cron schedules and of the time tool"},
	{"model", T_STR, FLD(config, model), .flags = F_MODEL,
	 .text = "default model group of the agent; default: the first in model_list"},
	{"auxiliary", T_SECTION, FLD(config, auxiliary), .table = &auxiliary_table},
	{"agent", T_SECTION, FLD(config, agent), .table = &agent_table},
	{"toolsets", T_FLAGS, FLD(config, toolsets), .def = "all", .choices = toolset_choices,
	 .text = "tool families offered to the model"},
	{"memory", T_SECTION, FLD(config, memory), .table = &memory_table},
	{"skills", T_SECTION, FLD(config, skills), .table = &skills_table},
	{"notes_dirs", T_STRS, FLD(config, notes_dirs), CNT(config, n_notes_dirs), .cap = 32,
	 .check = check_abs_path, .text = "read-only directories for read_file and search_files"},
	{"web", T_SECTION, FLD(config, web), .table = &web_table},
	{"prometheus", T_SECTION, FLD(config, prometheus), .table = &prometheus_table},
	{"model_list", T_LIST, FLD(config, models), CNT(config, n_models), .cap = CONFIG_MAX_MODELS,
	 .table = &model_table},
	{"litellm_settings", T_SECTION, FLD(config, litellm_settings),
	 .table = &litellm_settings_table},
	{"router_settings", T_SECTION, FLD(config, router_settings),
	 .table = &router_settings_table},
	{"general_settings", T_SECTION, FLD(config, general_settings),
	 .table = &general_settings_table},
	{"router", T_SECTION, FLD(config, router), .table = &router_table},
	{"keys", T_LIST, FLD(config, keys), CNT(config, n_keys), .cap = CONFIG_MAX_KEYS,
	 .table = &key_table},
	{"budget", T_SECTION, FLD(config, budget), .table = &budget_table},
	{"guardrails", T_SECTION, FLD(config, guardrails), .table = &guardrails_table,
	 .flags = F_SEQ_IGNORED},
	{"telegram", T_SECTION, FLD(config, telegram), .table = &telegram_table},
	{"api", T_SECTION, FLD(config, api), .table = &api_table},
	{"log", T_SECTION, FLD(config, log), .table = &log_table},
	{"mcp_servers", T_MAP, FLD(config, mcp_servers), CNT(config, n_mcp_servers),
	 .cap = CONFIG_MAX_MCP_SERVERS, .table = &mcp_table},
	{"cron", T_LIST, FLD(config, cron_jobs), CNT(config, n_cron_jobs),
	 .cap = CONFIG_MAX_CRON_JOBS, .table = &cron_table},
	{"hooks", T_LIST, FLD(config, hooks), CNT(config, n_hooks), .cap = CONFIG_MAX_HOOKS,
	 .table = &hook_table},
};

static const struct table top_table = {"config", "Top level", OPTS(top_opts),
				       .text = "The sections."};

/* ------------------------------------------------------------------------------------------
 * LiteLLM keys that hermetic accepts and ignores, with the reason (one table, printed in
 * README.md). A key ending in '*' matches every key with that prefix.
 */

#define WHY_METRICS  "metrics are always on: hermetic serves /metrics itself"
#define WHY_CACHE    "hermetic does not cache responses"
#define WHY_DB	     "hermetic keeps spend and keys in its own SQLite and this file"
#define WHY_USERS    "hermetic has no teams, users or generated keys; use keys:"
#define WHY_PARAMS   "hermetic does not rewrite request parameters per deployment"
#define WHY_LOGGING  "hermetic's logging is set under log:"
#define WHY_ROUTER   "hermetic's router does not implement this LiteLLM feature"
#define WHY_PROVIDER "the provider comes from the model prefix and api_base"

static const struct ignored {
	const char *section;
	const char *key;
	const char *why;
} ignored[] = {
	{"config", "environment_variables", "set variables in the container environment"},
	{"config", "credential_list", "put api_key in each model's litellm_params"},
	{"config", "callback_settings", WHY_METRICS},
	{"config", "assistant_settings", "hermetic serves only chat completions"},
	{"config", "files_settings", "hermetic serves only chat completions"},
	{"config", "finetune_settings", "hermetic serves only chat completions"},
	{"litellm_settings", "callbacks", WHY_METRICS},
	{"litellm_settings", "success_callback", WHY_METRICS},
	{"litellm_settings", "failure_callback", WHY_METRICS},
	{"litellm_settings", "service_callback", WHY_METRICS},
	{"litellm_settings", "prometheus_initialize_budget_metrics", WHY_METRICS},
	{"litellm_settings", "drop_params", WHY_PARAMS},
	{"litellm_settings", "modify_params", WHY_PARAMS},
	{"litellm_settings", "set_verbose", WHY_LOGGING},
	{"litellm_settings", "json_logs", WHY_LOGGING},
	{"litellm_settings", "turn_off_message_logging", WHY_LOGGING},
	{"litellm_settings", "redact_user_api_key_info", WHY_LOGGING},
	{"litellm_settings", "telemetry", "hermetic sends no telemetry"},
	{"litellm_settings", "cache", WHY_CACHE},
	{"litellm_settings", "cache_params", WHY_CACHE},
	{"litellm_settings", "enable_json_schema_validation", WHY_ROUTER},
	{"litellm_settings", "default_team_settings", WHY_USERS},
	{"litellm_settings", "max_internal_user_budget", WHY_USERS},
	{"litellm_settings", "internal_user_budget_duration", WHY_USERS},
	{"litellm_settings", "max_end_user_budget", WHY_USERS},
	{"litellm_settings", "default_key_generate_params", WHY_USERS},
	{"litellm_settings", "upperbound_key_generate_params", WHY_USERS},
	{"litellm_settings", "disable_end_user_cost_tracking", WHY_USERS},
	{"litellm_settings", "ssl_verify", "hermetic always verifies TLS"},
	{"litellm_settings", "force_ipv4", WHY_ROUTER},
	{"litellm_settings", "return_response_headers", WHY_ROUTER},
	{"litellm_settings", "guardrails", "see hermetic's guardrails: section"},
	{"router_settings", "redis_*", "hermetic keeps router state in process"},
	{"router_settings", "cache_responses", WHY_CACHE},
	{"router_settings", "caching_groups", WHY_CACHE},
	{"router_settings", "routing_strategy_args", "the supported strategies take no arguments"},
	{"router_settings", "model_group_alias", WHY_ROUTER},
	{"router_settings", "provider_budget_config", "use budget: and keys:"},
	{"router_settings", "enable_tag_filtering", WHY_ROUTER},
	{"router_settings", "tag_filtering", WHY_ROUTER},
	{"router_settings", "polling_interval", WHY_ROUTER},
	{"router_settings", "client_ttl", WHY_ROUTER},
	{"router_settings", "default_litellm_params", WHY_PARAMS},
	{"router_settings", "debug_level", WHY_LOGGING},
	{"router_settings", "set_verbose", WHY_LOGGING},
	{"router_settings", "allowed_fails_policy", "allowed_fails applies to every error"},
	{"router_settings", "disable_cooldowns", "set cooldown_time: 0"},
	{"router_settings", "model_group_retry_policy", "use retry_policy"},
	{"router_settings", "optional_pre_call_checks", WHY_ROUTER},
	{"router_settings", "default_max_parallel_requests", "use router.max_concurrent_upstream"},
	{"router_settings", "retry_after", WHY_ROUTER},
	{"general_settings", "database_url", WHY_DB},
	{"general_settings", "database_connection_pool_limit", WHY_DB},
	{"general_settings", "database_connection_timeout", WHY_DB},
	{"general_settings", "store_model_in_db", "models come only from this file"},
	{"general_settings", "disable_spend_logs", WHY_DB},
	{"general_settings", "proxy_batch_write_at", WHY_DB},
	{"general_settings", "allow_requests_on_db_unavailable", WHY_DB},
	{"general_settings", "maximum_spend_logs_retention_period", WHY_DB},
	{"general_settings", "use_redis_transaction_buffer",
	 "hermetic keeps router state in process"},
	{"general_settings", "disable_reset_budget", WHY_DB},
	{"general_settings", "alerting", "alerts go to telegram.admin_chat"},
	{"general_settings", "alert_types", "alerts go to telegram.admin_chat"},
	{"general_settings", "alerting_threshold", "alerts go to telegram.admin_chat"},
	{"general_settings", "background_health_checks", WHY_ROUTER},
	{"general_settings", "health_check_interval", WHY_ROUTER},
	{"general_settings", "health_check_details", WHY_ROUTER},
	{"general_settings", "ui_access_mode", "hermetic has no admin UI"},
	{"general_settings", "disable_master_key_return", "hermetic has no admin UI"},
	{"general_settings", "custom_auth", "keys come from master_key and keys:"},
	{"general_settings", "enable_jwt_auth", "keys come from master_key and keys:"},
	{"general_settings", "litellm_key_header_name", "keys come from master_key and keys:"},
	{"general_settings", "max_parallel_requests", "use router.max_concurrent_upstream"},
	{"general_settings", "global_max_parallel_requests", "use router.max_concurrent_upstream"},
	{"general_settings", "infer_model_from_keys", WHY_ROUTER},
	{"general_settings", "enforce_user_param", WHY_USERS},
	{"general_settings", "public_routes", WHY_ROUTER},
	{"general_settings", "allowed_routes", WHY_ROUTER},
	{"general_settings", "pass_through_endpoints", WHY_ROUTER},
	{"general_settings", "forward_client_headers_to_llm_api", WHY_ROUTER},
	{"litellm_params", "api_version", WHY_PROVIDER},
	{"litellm_params", "organization", WHY_PROVIDER},
	{"litellm_params", "custom_llm_provider", WHY_PROVIDER},
	{"litellm_params", "litellm_credential_name", "put api_key here instead"},
	{"litellm_params", "region_name", WHY_PROVIDER},
	{"litellm_params", "aws_*", WHY_PROVIDER},
	{"litellm_params", "vertex_*", WHY_PROVIDER},
	{"litellm_params", "max_retries", "use num_retries"},
	{"litellm_params", "tags", WHY_ROUTER},
	{"litellm_params", "order", WHY_ROUTER},
	{"litellm_params", "mock_response", WHY_ROUTER},
	{"litellm_params", "use_in_pass_through", WHY_ROUTER},
	{"litellm_params", "merge_reasoning_content_in_choices", WHY_PARAMS},
	{"litellm_params", "input_cost_per_second", "costs are per token"},
	{"litellm_params", "output_cost_per_second", "costs are per token"},
	{"litellm_params", "max_parallel_requests", "use rpm or router.max_concurrent_upstream"},
	{"litellm_params", "drop_params", WHY_PARAMS},
	{"litellm_params", "additional_drop_params", WHY_PARAMS},
	{"litellm_params", "temperature", WHY_PARAMS},
	{"litellm_params", "top_p", WHY_PARAMS},
	{"litellm_params", "seed", WHY_PARAMS},
	{"litellm_params", "extra_body", WHY_PARAMS},
	{"litellm_params", "reasoning_effort", WHY_PARAMS},
	{"mcp_servers", "sampling", "hermetic does not let MCP servers call the model (Hermes)"},
	{"mcp_servers", "auth", "hermetic does no MCP OAuth; send a token in headers (Hermes)"},
	{"tools", "prompts", "hermetic offers MCP tools only, not prompts (Hermes)"},
	{"tools", "resources", "hermetic offers MCP tools only, not resources (Hermes)"},
};

static bool key_matches(const char *pattern, const char *key)
{
	size_t len = strlen(pattern);

	if (len > 0 && pattern[len - 1] == '*')
		return strncmp(pattern, key, len - 1) == 0;
	return strcmp(pattern, key) == 0;
}

static const struct ignored *find_ignored(const char *section, const char *key)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(ignored); i++)
		if (strcmp(ignored[i].section, section) == 0 && key_matches(ignored[i].key, key))
			return &ignored[i];
	return NULL;
}

/* ------------------------------------------------------------------------------------------
 * Walking a mapping against a table
 */

static const struct opt *find_opt(const struct table *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->n_opts; i++)
		if (!(t->opts[i].flags & F_DERIVED) && strcmp(t->opts[i].key, key) == 0)
			return &t->opts[i];
	return NULL;
}

static bool similar(const char *key, const char *cand)
{
	size_t d = edit_distance(key, cand, 2), len = strlen(key);

	if (d <= 2 && d < len)
		return true;
	return len >= 3 && (strncmp(cand, key, len) == 0 || strncmp(key, cand, strlen(cand)) == 0);
}

/* The closest known key: a table key or a LiteLLM key this table ignores. */
static const char *suggest_key(const struct table *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->n_opts; i++)
		if (!(t->opts[i].flags & F_DERIVED) && similar(key, t->opts[i].key))
			return t->opts[i].key;
	for (i = 0; i < ARRAY_LEN(ignored); i++)
		if (strcmp(ignored[i].section, t->name) == 0 && !strchr(ignored[i].key, '*') &&
		    similar(key, ignored[i].key))
			return ignored[i].key;
	return NULL;
}

static void known_keys(const struct table *t, struct buf *out)
{
	size_t i;

	for (i = 0; i < t->n_opts; i++)
		if (!(t->opts[i].flags & F_DERIVED))
			buf_printf(out, "%s%s", *buf_str(out) ? ", " : "", t->opts[i].key);
}

static void unknown_key(struct ctx *c, const struct table *t, const struct node *k)
{
	const struct ignored *ig = find_ignored(t->name, k->text);
	const char *hint = suggest_key(t, k->text);
	char key[SHOW_LEN], where[PATH_LEN + 16];
	struct buf known;

	show(k->text, key);
	snprintf(where, sizeof(where), c->path_len ? "in '%s'" : "at the top level", c->path);
	if (ig) {
		warn_at(c, k, "ignored: '%s' %s: %s", key, where, ig->why);
		return;
	}
	if (hint) {
		(t->lenient ? warn_at : err_at)(c, k, "unknown key '%s' %s; did you mean '%s'?",
						key, where, hint);
		return;
	}
	buf_init(&known, 0);
	known_keys(t, &known);
	(t->lenient ? warn_at : err_at)(c, k, "unknown key '%s' %s; known keys: %s", key, where,
					buf_str(&known));
	buf_finish(&known);
}

/* Returns the bit of the option the pair set (or tried to), 0 for none. */
static uint64_t walk_pair(struct ctx *c, const struct table *t, const struct node *k,
			  const struct node *v, void *obj)
{
	const struct opt *o;
	size_t at, index;

	if (c->stop || over_budget(c, k, 1))
		return 0;
	o = find_opt(t, k->text);
	if (!o) {
		unknown_key(c, t, k);
		return 0;
	}
	if (is_null(v))
		return 0;
	at = path_key(c, k->text);
	types[o->type].set(c, o, v, obj);
	path_pop(c, at);
	index = (size_t)(o - t->opts);
	return index < 64 ? (uint64_t)1 << index : 0;
}

static void walk_table(struct ctx *c, const struct table *t, const struct node *map, void *obj)
{
	size_t i, errors = c->errors;
	uint64_t seen = 0;

	for (i = 0; map->type == N_MAP && i < map->n_kids; i += 2)
		seen |= walk_pair(c, t, map->kids[i], map->kids[i + 1], obj);
	for (i = 0; i < t->n_opts && i < 64; i++)
		if ((t->opts[i].flags & F_REQUIRED) && !(seen >> i & 1))
			err(c, map, "missing required key '%s'", t->opts[i].key);
	if (t->check && c->errors == errors)
		t->check(c, map, obj);
}

/* Defaults go through the same handlers as values from the file. */
static void init_table(struct ctx *c, const struct table *t, void *obj)
{
	struct node fake = {.type = N_SCALAR};
	const struct opt *o;
	size_t i;

	for (i = 0; i < t->n_opts; i++) {
		o = &t->opts[i];
		if (o->flags & F_ROOT)
			continue;
		if (o->type == T_SECTION) {
			init_table(c, o->table, AT(obj, o->off, char));
		} else if (o->def) {
			fake.text = (char *)o->def;
			c->defaults = true;
			types[o->type].set(c, o, &fake, obj);
			c->defaults = false;
		}
	}
}

static void free_table(const struct table *t, void *obj)
{
	size_t i;

	for (i = 0; i < t->n_opts; i++)
		if (!(t->opts[i].flags & F_ROOT))
			types[t->opts[i].type].clear(&t->opts[i], obj);
}

/* ------------------------------------------------------------------------------------------
 * After the walk: inherited settings and references
 */

static void resolve_home(struct ctx *c, const struct node *root)
{
	const char *env = getenv("HERMETIC_HOME");

	if (c->cfg->home)
		return;
	if (env && *env && env[0] != '/')
		err_at(c, root, "HERMETIC_HOME must be an absolute path");
	c->cfg->home = xstrdup(env && *env ? env : CONFIG_DEFAULT_HOME);
}

static bool has_group(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n_model_groups; i++)
		if (strcmp(cfg->model_groups[i], name) == 0)
			return true;
	return false;
}

static void collect_groups(struct config *cfg)
{
	size_t i;

	cfg->model_groups = xcalloc(cfg->n_models + 1, sizeof(*cfg->model_groups));
	for (i = 0; i < cfg->n_models; i++)
		if (cfg->models[i].model_name && !has_group(cfg, cfg->models[i].model_name))
			cfg->model_groups[cfg->n_model_groups++] = cfg->models[i].model_name;
}

static void default_model(char **slot, const char *model)
{
	if (!*slot && model)
		*slot = xstrdup(model);
}

static void resolve_models(struct config *cfg)
{
	struct config_auxiliary *a = &cfg->auxiliary;
	size_t i;

	if (!cfg->model && cfg->n_model_groups)
		cfg->model = xstrdup(cfg->model_groups[0]);
	default_model(&a->compression, cfg->model);
	default_model(&a->title, cfg->model);
	default_model(&a->session_search, cfg->model);
	default_model(&a->vision, cfg->model);
	default_model(&a->web_extract, cfg->model);
	for (i = 0; i < cfg->n_cron_jobs; i++)
		default_model(&cfg->cron_jobs[i].model, cfg->model);
	for (i = 0; i < cfg->n_hooks; i++)
		default_model(&cfg->hooks[i].model, cfg->model);
}

static void inherit(int64_t *v, int64_t from)
{
	if (*v < 0)
		*v = from;
}

static void resolve_router_settings(struct config *cfg)
{
	struct config_router_settings *r = &cfg->router_settings;
	size_t i;

	/* retry_policy entries stay -1 when unset: the router applies LiteLLM's per-class
	 * default (retryable classes use the deployment's num_retries, the others 0). */
	inherit(&r->num_retries, cfg->litellm_settings.num_retries);
	inherit(&r->timeout_s, cfg->litellm_settings.request_timeout_s);
	inherit(&r->max_fallbacks, cfg->litellm_settings.max_fallbacks);
	for (i = 0; i < cfg->n_models; i++)
		inherit(&cfg->models[i].litellm_params.num_retries, r->num_retries);
}

static void check_model_ref(struct ctx *c, const struct ref *r)
{
	const struct config *cfg = c->cfg;
	char tmp[SHOW_LEN];
	const char *hint = NULL;
	struct buf known;
	size_t i;

	if (cfg->n_models == 0 || has_group(cfg, r->name))
		return;
	buf_init(&known, 0);
	for (i = 0; i < cfg->n_model_groups; i++) {
		buf_printf(&known, "%s%s", i ? ", " : "", cfg->model_groups[i]);
		if (!hint && similar(r->name, cfg->model_groups[i]))
			hint = cfg->model_groups[i];
	}
	err_at(c, r->at, "%s%s'%s' is not a model_name in model_list%s%s%s (known: %s)", r->path,
	       *r->path ? ": " : "", show(r->name, tmp), hint ? "; did you mean '" : "",
	       hint ? hint : "", hint ? "'?" : "", buf_str(&known));
	buf_finish(&known);
}

static void check_refs(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->n_refs && !c->stop; i++) {
		if (c->refs[i].kind == REF_MODEL)
			check_model_ref(c, &c->refs[i]);
		else if (!c->cfg->telegram.enabled)
			warn_at(c, c->refs[i].at,
				"%s: Telegram is off (no telegram.token), so this is never "
				"delivered",
				c->refs[i].path);
	}
}

static void check_telegram(struct ctx *c, const struct node *root)
{
	struct config_telegram *t = &c->cfg->telegram;

	t->enabled = t->token && *t->token;
	if (t->enabled && t->n_allowed_users == 0)
		warn_at(c, loc(map_get(root, "telegram"), "allowed_users"),
			"telegram.allowed_users is empty: nobody will be served (add Telegram user "
			"ids)");
}

/* An open router is a spend faucet: anyone who reaches it calls paid models. */
static void check_router_listen(struct ctx *c, const struct node *root)
{
	const struct config *cfg = c->cfg;

	if (!cfg->router.listen.host || cfg->general_settings.master_key || cfg->n_keys ||
	    is_loopback(cfg->router.listen.host))
		return;
	err_at(c, loc(map_get(root, "router"), "listen"),
	       "router.listen: %s is not a loopback address and neither "
	       "general_settings.master_key nor keys is set: anyone who can reach it could spend "
	       "your budget; set general_settings.master_key (e.g. "
	       "os.environ/LITELLM_MASTER_KEY) or listen on 127.0.0.1",
	       cfg->router.listen.addr);
}

static void finish(struct ctx *c, const struct node *root)
{
	struct config *cfg = c->cfg;

	resolve_home(c, root);
	collect_groups(cfg);
	resolve_models(cfg);
	resolve_router_settings(cfg);
	check_telegram(c, root);
	check_router_listen(c, root);
	check_refs(c);
	if (cfg->n_models == 0)
		warn_at(c, root, "model_list is empty: no model can be called");
}

/* ------------------------------------------------------------------------------------------
 * Entry points
 */

const char *config_default_path(void)
{
	const char *env = getenv("HERMETIC_CONFIG");

	return env && *env ? env : CONFIG_DEFAULT_PATH;
}

void config_destroy(struct config *cfg)
{
	if (!cfg)
		return;
	free_table(&top_table, cfg);
	free(cfg->model_groups);
	free(cfg->name);
	free(cfg);
}

static void ctx_finish(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->n_refs; i++) {
		free(c->refs[i].name);
		free(c->refs[i].path);
	}
	free(c->refs);
	for (i = 0; i < c->n_secrets; i++)
		free(c->secrets[i]);
	free(c->secrets);
	tree_free(&c->tree);
	config_destroy(c->cfg);
}

static void walk_root(struct ctx *c)
{
	const struct node *root = c->tree.root;

	if (!root || is_null(root)) {
		finish(c, root);
		return;
	}
	if (root->type != N_MAP) {
		err_at(c, root,
		       "the config must be a mapping of sections (home:, model_list:, ...), "
		       "not %s",
		       kind(root));
		return;
	}
	walk_table(c, &top_table, root, c->cfg);
	finish(c, root);
}

int config_parse(const char *name, const char *text, size_t len, struct config **out,
		 struct config_diag *diag)
{
	struct ctx c = {
		.file = name, .text = text ? text : "", .len = text ? len : 0, .diag = diag};
	size_t i;
	int rc;

	*out = NULL;
	if (len > CONFIG_MAX_FILE_BYTES) {
		diag_add(diag, name, 0, 0, true,
			 xasprintf("the config is %zu bytes; the limit is %d (1 MiB)", len,
				   CONFIG_MAX_FILE_BYTES));
		return -EINVAL;
	}
	c.cfg = xcalloc(1, sizeof(*c.cfg));
	c.cfg->name = xstrdup(name);
	init_table(&c, &top_table, c.cfg);
	if (tree_build(&c) == 0)
		walk_root(&c);
	rc = c.errors ? -EINVAL : 0;
	if (rc == 0) {
		for (i = 0; i < c.n_secrets; i++)
			log_add_secret(c.secrets[i]);
		*out = c.cfg;
		c.cfg = NULL;
	}
	ctx_finish(&c);
	return rc;
}

static void file_error(struct config_diag *d, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void file_error(struct config_diag *d, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(d, path, 0, 0, true, xvasprintf(fmt, ap));
	va_end(ap);
}

/* Reads the whole file into b (capped at CONFIG_MAX_FILE_BYTES); *len counts its bytes. */
static int read_file(const char *path, struct buf *b, size_t *len, struct config_diag *diag)
{
	char chunk[16384];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc = 0;

	if (fd < 0) {
		file_error(diag, path,
			   "cannot open the config: %s; pass --config FILE or set HERMETIC_CONFIG",
			   strerror(errno));
		return -EINVAL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		file_error(diag, path, "the config is not a regular file");
		rc = -EINVAL;
	}
	while (rc == 0) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		rc = -EINVAL;
		if (n < 0)
			file_error(diag, path, "cannot read the config: %s", strerror(errno));
		else if (buf_append(b, chunk, (size_t)n) < 0)
			file_error(diag, path,
				   "the config is larger than 1 MiB; the limit is %d bytes",
				   CONFIG_MAX_FILE_BYTES);
		else
			rc = 0;
		*len += n > 0 ? (size_t)n : 0;
	}
	close(fd);
	return rc;
}

int config_load(const char *path, struct config **out, struct config_diag *diag)
{
	struct buf b;
	size_t len = 0;
	int rc;

	*out = NULL;
	buf_init(&b, CONFIG_MAX_FILE_BYTES);
	rc = read_file(path, &b, &len, diag);
	if (rc == 0)
		rc = config_parse(path, buf_str(&b), len, out, diag);
	buf_finish(&b);
	return rc;
}

/* ------------------------------------------------------------------------------------------
 * The Markdown reference, printed from the tables
 */

/* What a checked string is, for the reference. */
static const struct {
	check_fn check;
	const char *doc;
} check_docs[] = {
	{check_abs_path, "absolute path"},  {check_command, "program"},
	{check_url, "http(s) URL"},	    {check_name, "name"},
	{check_host_pattern, "host name"},  {check_field_name, "field name"},
	{check_timezone, "IANA zone name"},
};

static const char *ref_kind(const struct opt *o)
{
	size_t i;

	if (o->flags & F_MODEL)
		return "model group";
	for (i = 0; i < ARRAY_LEN(check_docs) && o->type != T_PAIRS; i++)
		if (o->check == check_docs[i].check)
			return check_docs[i].doc;
	return "string";
}

static void ref_type(FILE *out, const struct opt *o)
{
	size_t i;

	fputs(o->flags & F_SECRET ? "secret " : "", out);
	if (o->type == T_STR)
		fputs(ref_kind(o), out);
	else if (o->type == T_STRS)
		fprintf(out, "list of %ss", ref_kind(o));
	else
		fputs(types[o->type].doc, out);
	for (i = 0; o->choices && o->choices[i].name; i++)
		if (!o->choices[i].unsupported)
			fprintf(out, "%s `%s`", i ? "," : ":", o->choices[i].name);
}

static void ref_range(FILE *out, const struct opt *o)
{
	if (o->type == T_INT || o->type == T_NUM || o->type == T_INTS || o->type == T_LIMITS) {
		if (o->max == MAX_I64)
			fprintf(out, ">= %lld", (long long)o->min);
		else
			fprintf(out, "%lld..%lld", (long long)o->min, (long long)o->max);
	}
	if (o->cap)
		fprintf(out, "%sat most %zu entries",
			o->type == T_INTS || o->type == T_LIMITS ? "; " : "", o->cap);
}

static void ref_row(FILE *out, const struct opt *o)
{
	fprintf(out, "| `%s` | ", o->key);
	ref_type(out, o);
	if (o->flags & F_REQUIRED)
		fputs(" | required | ", out);
	else if (o->def && strcmp(o->def, "-1") == 0)
		fputs(" | see meaning | ", out);
	else if (o->def)
		fprintf(out, " | `%s` | ", *o->def ? o->def : "\"\"");
	else
		fputs(" | - | ", out);
	ref_range(out, o);
	fprintf(out, " | %s |\n", o->text ? o->text : o->table->text);
}

static void ref_table(FILE *out, const struct table *t)
{
	size_t i;

	fprintf(out, "### %s%s%s\n\n%s\n\n", t == &top_table ? "" : "`", t->path,
		t == &top_table ? "" : "`", t->text);
	fputs("| key | type | default | range | meaning |\n|---|---|---|---|---|\n", out);
	for (i = 0; i < t->n_opts; i++)
		if (!(t->opts[i].flags & F_DERIVED))
			ref_row(out, &t->opts[i]);
	fputs("\n", out);
	for (i = 0; i < t->n_opts; i++)
		if (t->opts[i].table)
			ref_table(out, t->opts[i].table);
}

void config_print_reference(FILE *out)
{
	size_t i;

	ref_table(out, &top_table);
	fputs("### LiteLLM and Hermes keys accepted and ignored\n\nThese load with a warning "
	      "`ignored: ...` so a LiteLLM or Hermes config works unchanged. A trailing `*` "
	      "matches any suffix.\n\n"
	      "| section | key | why |\n|---|---|---|\n",
	      out);
	for (i = 0; i < ARRAY_LEN(ignored); i++)
		fprintf(out, "| `%s` | `%s` | %s |\n",
			strcmp(ignored[i].section, "config") ? ignored[i].section : "top level",
			ignored[i].key, ignored[i].why);
}
