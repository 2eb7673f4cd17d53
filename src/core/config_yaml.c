/* config_yaml: YAML text -> a tree of nodes that remember their FILE:LINE:COL, and the
 * diagnostics that point there.
 *
 * libyaml's event parser feeds one handler per event (event_fns[]); anchors, aliases and `<<`
 * merge keys are resolved here, a duplicate key keeps its last value (LiteLLM's loader's) with
 * a warning, and nesting depth, collection
 * sizes, node count and merge work are capped so hostile input can exhaust neither the stack
 * nor the CPU. Every message of a load goes through report() into the struct config_diag,
 * which sorts and prints them. Rejected: libyaml's document loader (no depth or alias limits
 * and no merge keys).
 */
#include "core/config_int.h"
#include "core/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

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

/* A key accepted and ignored, once per section and key, for the compatibility summary. */
struct diag_ignored {
	char *section, *key;
	size_t count;
	bool unknown;
};

#define MAX_IGNORED 256 /* distinct section/key pairs kept; more are counted */

struct config_diag {
	struct diag_msg *msgs;
	size_t n, alloc;
	size_t errors, warnings, dropped, seq;
	bool strict;
	struct diag_ignored *ignored;
	size_t n_ignored, alloc_ignored, ignored_dropped;
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
	for (i = 0; i < d->n_ignored; i++) {
		free(d->ignored[i].section);
		free(d->ignored[i].key);
	}
	free(d->ignored);
	free(d);
}

void config_diag_set_strict(struct config_diag *d, bool strict)
{
	d->strict = strict;
}

bool cfg_diag_strict(const struct config_diag *d)
{
	return d->strict;
}

void cfg_diag_ignored(struct config_diag *d, const char *section, const char *key, bool unknown)
{
	struct diag_ignored *ig;
	size_t i;

	for (i = 0; i < d->n_ignored; i++) {
		ig = &d->ignored[i];
		if (strcmp(ig->section, section) == 0 && strcmp(ig->key, key) == 0) {
			ig->count++;
			return;
		}
	}
	if (d->n_ignored == MAX_IGNORED) {
		d->ignored_dropped++;
		return;
	}
	d->ignored = cfg_grow(d->ignored, &d->alloc_ignored, d->n_ignored, sizeof(*d->ignored));
	d->ignored[d->n_ignored++] =
		(struct diag_ignored){xstrdup(section), xstrdup(key), 1, unknown};
}

bool config_diag_ignored(const struct config_diag *d, size_t i, const char **section,
			 const char **key, size_t *count, bool *unknown)
{
	if (i >= d->n_ignored)
		return false;
	*section = d->ignored[i].section;
	*key = d->ignored[i].key;
	*count = d->ignored[i].count;
	*unknown = d->ignored[i].unknown;
	return true;
}

size_t config_diag_ignored_dropped(const struct config_diag *d)
{
	return d->ignored_dropped;
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

/* A full diag gives an error the place of its last warning: warnings in LiteLLM's sections
 * can be many, and must not hide why a config fails. */
static bool replace_warning(struct config_diag *d, struct diag_msg *m)
{
	size_t i;

	for (i = d->n; i-- > 0;) {
		if (d->msgs[i].error)
			continue;
		free(d->msgs[i].file);
		free(d->msgs[i].text);
		m->file = xstrdup(m->file);
		d->msgs[i] = *m;
		d->dropped++;
		return true;
	}
	return false;
}

bool cfg_diag_full(const struct config_diag *d)
{
	return d->n >= MAX_DIAG;
}

void cfg_diag_drop(struct config_diag *d, bool error)
{
	*(error ? &d->errors : &d->warnings) += 1;
	d->dropped++;
}

/* Adds a message; an identical one (an alias walked twice) is counted once. */
void cfg_diag_add(struct config_diag *d, const char *file, unsigned line, unsigned col, bool error,
		  char *text)
{
	struct diag_msg m = {(char *)file, line, col, error, text, d->seq++};

	if (diag_has(d, &m)) {
		free(text);
		return;
	}
	*(error ? &d->errors : &d->warnings) += 1;
	if (d->n == MAX_DIAG && error && replace_warning(d, &m))
		return;
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

/* Returns p with room for at least n + 1 elements of size bytes. */
void *cfg_grow(void *p, size_t *alloc, size_t n, size_t size)
{
	if (n < *alloc)
		return p;
	*alloc = *alloc ? 2 * *alloc : 8;
	return xrealloc(p, *alloc * size);
}

static void report(struct ctx *c, const struct node *n, bool error, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void report(struct ctx *c, const struct node *n, bool error, const char *fmt, va_list ap)
{
	if (error)
		c->errors++;
	cfg_diag_add(c->diag, n && n->file ? n->file : c->file, n ? n->line : 1, n ? n->col : 1,
		     error, xvasprintf(fmt, ap));
	/* Once the diag is full and the config fails, stop looking; a full diag of warnings
	 * only (a big LiteLLM config) is walked to the end, or it would load in part. */
	c->stop = c->stop || (c->diag->n >= MAX_DIAG && c->errors > 0);
}

void cfg_err_at(struct ctx *c, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(c, n, true, fmt, ap);
	va_end(ap);
}

void cfg_warn_at(struct ctx *c, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(c, n, false, fmt, ap);
	va_end(ap);
}

void cfg_prefixed(struct ctx *c, const struct node *n, bool error, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);

	if (error)
		cfg_err_at(c, n, "%s%s%s", c->path, c->path_len ? ": " : "", msg);
	else
		cfg_warn_at(c, n, "%s%s%s", c->path, c->path_len ? ": " : "", msg);
	free(msg);
}

void cfg_err(struct ctx *c, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_prefixed(c, n, true, fmt, ap);
	va_end(ap);
}

void cfg_warn(struct ctx *c, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_prefixed(c, n, false, fmt, ap);
	va_end(ap);
}

/* Copies s for a message: control and non-ASCII bytes become '?', long text is cut. */
const char *cfg_show(const char *s, char *out)
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
const char *cfg_got(const struct node *n, char *out)
{
	char tmp[SHOW_LEN];

	if (!has_env_ref(n->text)) {
		snprintf(out, SHOW_LEN + 2, "'%s'", cfg_show(n->text, tmp));
		return out;
	}
	snprintf(out, SHOW_LEN + 32, "the value of '%s'", cfg_show(n->text, tmp));
	return out;
}

const char *cfg_kind(const struct node *n)
{
	static const char *const kinds[] = {"a string", "a sequence", "a mapping"};

	return kinds[n->type];
}

bool cfg_is_null(const struct node *n)
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
	n->file = c->file;
	n->line = (unsigned)mark->line + 1;
	n->col = (unsigned)mark->column + 1;
	t->all = cfg_grow(t->all, &t->alloc_all, t->n_all, sizeof(*t->all));
	t->all[t->n_all++] = n;
	return n;
}

struct node *cfg_node_map(struct ctx *c, unsigned line, unsigned col)
{
	yaml_mark_t mark = {.line = line ? line - 1 : 0, .column = col ? col - 1 : 0};

	return node_new(c, N_MAP, &mark);
}

struct node *cfg_node_scalar(struct ctx *c, unsigned line, unsigned col, const char *text)
{
	yaml_mark_t mark = {.line = line ? line - 1 : 0, .column = col ? col - 1 : 0};
	struct node *n = node_new(c, N_SCALAR, &mark);

	n->plain = true;
	n->text = xstrdup(text);
	return n;
}

void cfg_tree_free(struct tree *t)
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
	for (i = 0; i < t->n_files; i++)
		free(t->files[i]);
	free(t->files);
	memset(t, 0, sizeof(*t));
}

void cfg_node_push(struct node *parent, struct node *kid)
{
	parent->kids =
		cfg_grow(parent->kids, &parent->alloc_kids, parent->n_kids, sizeof(*parent->kids));
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
		cfg_err_at(c, n, "more than %d entries in one sequence or mapping", MAX_ITEMS);
		return -EINVAL;
	}
	cfg_node_push(parent, n);
	return 0;
}

static void add_anchor(struct tree *t, struct node *n)
{
	t->anchors = cfg_grow(t->anchors, &t->alloc_anchors, t->n_anchors, sizeof(*t->anchors));
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
	cfg_diag_add(c->diag, c->file, (unsigned)ev->start_mark.line + 1,
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
		cfg_err_at(c, n, "a string contains a NUL character");
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
		cfg_err_at(c, n, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
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
	cfg_diag_add(c->diag, c->file, (unsigned)ev->start_mark.line + 1,
		     (unsigned)ev->start_mark.column + 1, true,
		     xasprintf("unknown alias '*%s' (an alias must follow its complete '&' anchor)",
			       cfg_show(name, tmp)));
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
	cfg_diag_add(c->diag, c->file, (unsigned)mark.line + 1, (unsigned)mark.column + 1, true,
		     xasprintf("YAML syntax error: %s%s%s",
			       p->problem ? p->problem : "malformed input", p->context ? " " : "",
			       p->context ? p->context : ""));
	return -EINVAL;
}

int cfg_tree_build(struct ctx *c)
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
			cfg_err_at(c, c->tree.all[c->tree.n_all - 1], "more than %d YAML nodes",
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
			cfg_err_at(c, m->kids[i], "a mapping key must be a plain string, not %s",
				   cfg_kind(m->kids[i]));
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

/* A key given twice: LiteLLM's loader (PyYAML's safe_load) keeps the last one and starts, so
 * hermetic keeps the last one too, with a warning naming both lines (an error under
 * --strict). The earlier pairs are dropped so later checks see one value. */
static void drop_duplicates(struct ctx *c, struct node *m)
{
	size_t n = m->n_kids / 2, i, j = 0, last = 0;
	struct keyref *v = xmalloc(n * sizeof(*v) + 1);
	bool *drop = xcalloc(n + 1, sizeof(*drop));
	char tmp[SHOW_LEN];

	for (i = 0; i < n; i++)
		v[i] = (struct keyref){m->kids[2 * i]->text, i};
	qsort(v, n, sizeof(*v), keyref_cmp);
	for (i = n; i-- > 0;) {
		if (i + 1 == n || strcmp(v[i].text, v[i + 1].text) != 0) {
			last = v[i].pair;
			continue;
		}
		drop[v[i].pair] = true;
		(c->strict ? cfg_err_at : cfg_warn_at)(c, m->kids[2 * last],
						       "duplicate key '%s' (also at line %u): the "
						       "last one is read, as LiteLLM's YAML "
						       "loader reads it",
						       cfg_show(v[i].text, tmp),
						       m->kids[2 * v[i].pair]->line);
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
		cfg_err_at(c, at, "'<<' merges a mapping or a list of mappings, not %s",
			   cfg_kind(src));
		return 0;
	}
	for (i = 0; i < src->n_kids; i += 2) {
		if (map_has_key(c, m, src->kids[i]->text))
			continue;
		if (c->tree.merge_work < 0 || m->n_kids >= 2 * MAX_ITEMS) {
			cfg_err_at(c, at, "'<<' merges too many keys");
			return -EINVAL;
		}
		cfg_node_push(m, src->kids[i]);
		cfg_node_push(m, src->kids[i + 1]);
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

const struct node *cfg_map_get(const struct node *map, const char *key)
{
	size_t i;

	for (i = 0; map && map->type == N_MAP && i < map->n_kids; i += 2)
		if (strcmp(map->kids[i]->text, key) == 0)
			return map->kids[i + 1];
	return NULL;
}

/* The value node of key for a message, else the mapping itself. */
const struct node *cfg_loc(const struct node *map, const char *key)
{
	const struct node *n = cfg_map_get(map, key);

	return n ? n : map;
}
