/* config_types: one handler per value type of the option table (cfg_types[]), each of
 * which parses, checks its range and frees its field, and the walk budget. Defaults go
 * through the same handlers as values from the file. The key path of messages, references
 * and secrets the handlers record are config_refs.c's.
 */
#include "core/config_int.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------------------------
 * The option table and one handler per value type
 */

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

static bool too_many(struct ctx *c, const struct opt *o, const struct node *n, size_t count)
{
	if (cfg_over_budget(c, n, count))
		return true;
	if (count <= o->cap)
		return false;
	cfg_err(c, n, "has %zu entries; at most %zu are allowed", count, o->cap);
	return true;
}

/* A vector value: v at o->off, its count at o->n_off (T_STRS, T_PAIRS, T_LIST, ...). */
static void set_vec(void *obj, const struct opt *o, void *v, size_t n)
{
	set_ptr(obj, o->off, v);
	*AT(obj, o->n_off, size_t) = n;
}

/* Frees a vector's array (the caller freed its items) and leaves it empty. */
static void free_vec(const struct opt *o, void *obj)
{
	free(get_ptr(obj, o->off));
	set_vec(obj, o, NULL, 0);
}

/* The start of a vector value read from n, a list (kind N_SEQ, an entry a kid) or a mapping
 * (N_MAP, an entry two kids): NULL when n is not of that kind ("expected <what>") or has more
 * entries than o allows; otherwise the old value cleared and a zeroed array of item_size for
 * the entries and one more. */
static void *begin_vec(struct ctx *c, const struct opt *o, const struct node *n, void *obj,
		       enum ntype kind, size_t item_size, const char *what)
{
	size_t count = kind == N_MAP ? n->n_kids / 2 : n->n_kids;

	if (n->type != kind) {
		cfg_err(c, n, "expected %s, got %s", what, cfg_kind(n));
		return NULL;
	}
	if (too_many(c, o, n, count))
		return NULL;
	cfg_types[o->type].clear(o, obj);
	return xcalloc(count + 1, item_size);
}

/* The fallback lists LiteLLM reads from litellm_settings and router_settings (F_ROOT): a list
 * is only non-empty before its key is read when the other section filled it. router_settings
 * wins, as in LiteLLM (Router(fallbacks=...) over litellm.fallbacks), whichever comes first
 * in the file. Returns true when this value is to be skipped. */
static bool set_twice(struct ctx *c, const struct opt *o, const struct node *n, void *base)
{
	if (*AT(base, o->n_off, size_t) == 0)
		return false;
	if (o->flags & F_ROOT) {
		cfg_warn(c, n,
			 "is set in litellm_settings too; this one wins, as in LiteLLM (the "
			 "litellm_settings list is not used)");
		return false;
	}
	cfg_warn(c, n,
		 "is set in router_settings too, which wins, as in LiteLLM: this list is not "
		 "used");
	return true;
}

static char *get_str(struct ctx *c, const struct node *n, unsigned flags, check_fn check)
{
	char *s;

	if (n->type != N_SCALAR) {
		cfg_err(c, n, "expected a string, got %s", cfg_kind(n));
		return NULL;
	}
	s = cfg_resolve(c, n, flags & (F_SECRET | F_SOFT_ENV | F_INACTIVE_ENV | F_LOCK_ENV));
	if (!s || c->defaults)
		return s;
	if ((flags & (F_SECRET | F_ONELINE)) && strpbrk(s, "\r\n")) {
		cfg_err(c, n, "must be a single line (it is sent in an HTTP header)");
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
	if ((o->flags & F_LOCK_ENV) && c->locked_env) {
		/* Never the empty key: unset, with the variable's name kept for the router. */
		free(s);
		free(c->cfg->general_settings.master_key_unset);
		c->cfg->general_settings.master_key_unset = c->locked_env;
		c->locked_env = NULL;
		free(*field);
		*field = NULL;
		return 0;
	}
	if ((o->flags & F_REQUIRED) && !*s && !((o->flags & F_INACTIVE_ENV) && c->unset_env)) {
		cfg_err(c, n, "must not be empty");
		free(s);
		return -EINVAL;
	}
	free(*field);
	*field = s;
	if (o->flags & F_SECRET)
		cfg_note_secret(c, n, s);
	if (o->flags & F_MODEL)
		cfg_add_ref(c, REF_MODEL, n, s);
	return 0;
}

static void clear_str(const struct opt *o, void *obj)
{
	char **field = AT(obj, o->off, char *);

	free(*field);
	*field = NULL;
}

/* "300.0": a whole number written as a float (LiteLLM reads `timeout: 300.0` as 300). */
static int whole_float(const char *s, int64_t *out)
{
	const char *dot = strchr(s, '.');
	char head[32];
	size_t len = dot ? (size_t)(dot - s) : 0;

	if (!dot || len == 0 || len >= sizeof(head) || !dot[1] ||
	    strspn(dot + 1, "0") != strlen(dot + 1))
		return -EINVAL;
	memcpy(head, s, len);
	head[len] = '\0';
	return parse_i64(head, INT64_MIN, INT64_MAX, out);
}

static int get_int(struct ctx *c, const struct node *n, int64_t min, int64_t max, int64_t *out)
{
	char tmp[SHOW_LEN + 32];
	char *s;
	int rc;

	if (n->type != N_SCALAR) {
		cfg_err(c, n, "expected an integer, got %s", cfg_kind(n));
		return -EINVAL;
	}
	s = cfg_resolve(c, n, 0);
	if (!s)
		return -EINVAL;
	rc = parse_i64(s, INT64_MIN, INT64_MAX, out);
	if (rc == -EINVAL)
		rc = whole_float(s, out);
	free(s);
	if (rc == -EINVAL) {
		cfg_err(c, n, "expected an integer, got %s", cfg_got(n, tmp));
		return rc;
	}
	if (rc < 0 || (!c->defaults && (*out < min || *out > max))) {
		cfg_err(c, n, "%s is out of range (%lld..%lld)", cfg_got(n, tmp), (long long)min,
			(long long)max);
		return -ERANGE;
	}
	return 0;
}

/* F_CLAMP: a number LiteLLM takes that hermetic's range or whole units do not hold is used
 * rounded up and clamped, with a warning. 1 when it was (*out set), 0 when the value is for
 * get_int (an integer in range, not a number, or --strict). */
static int clamped_int(struct ctx *c, const struct opt *o, const struct node *n, int64_t *out)
{
	char tmp[SHOW_LEN + 32];
	char *s;
	double d, up;
	int64_t v;

	if (!(o->flags & F_CLAMP) || c->strict || c->defaults || n->type != N_SCALAR)
		return 0;
	s = cfg_resolve(c, n, 0);
	if (!s)
		return 0;
	if (parse_double(s, &d) < 0 || d != d) {
		free(s);
		return 0;
	}
	free(s);
	up = ceil(d);
	if (up == d && d >= (double)o->min && d <= (double)o->max)
		return 0;
	v = up < (double)o->min ? o->min : up > (double)o->max ? o->max : (int64_t)up;
	cfg_warn(c, n, "%s is taken as %lld (%s); --strict refuses it", cfg_got(n, tmp),
		 (long long)v,
		 up != d && up >= (double)o->min && up <= (double)o->max
			 ? "hermetic counts whole units: rounded up"
			 : "outside what hermetic allows here");
	*out = v;
	return 1;
}

static int set_int(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	int64_t v;
	int rc = clamped_int(c, o, n, &v) ? 0 : get_int(c, n, o->min, o->max, &v);

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
		cfg_err(c, n, "expected a number, got %s", cfg_kind(n));
		return -EINVAL;
	}
	s = cfg_resolve(c, n, 0);
	if (!s)
		return -EINVAL;
	rc = parse_double(s, &v);
	free(s);
	if (rc == -EINVAL) {
		cfg_err(c, n, "expected a number, got %s", cfg_got(n, tmp));
		return rc;
	}
	if (rc < 0 || (!c->defaults && (v < (double)o->min || v > (double)o->max))) {
		cfg_err(c, n, "%s is out of range (%lld..%lld)", cfg_got(n, tmp), (long long)o->min,
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
		cfg_err(c, n, "expected true or false, got %s", cfg_kind(n));
		return -EINVAL;
	}
	s = cfg_resolve(c, n, 0);
	for (i = 0; s && bools[i].name; i++) {
		if (strcasecmp(s, bools[i].name) == 0) {
			*AT(obj, o->off, bool) = bools[i].value;
			free(s);
			return 0;
		}
	}
	if (s)
		cfg_err(c, n, "expected true or false, got %s", cfg_got(n, tmp));
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
		cfg_err(c, n, "%s is %s; use one of: %s", cfg_got(n, tmp), ch[i].unsupported,
			buf_str(&names));
	else
		cfg_err(c, n, "unknown value %s; use one of: %s%s%s%s", cfg_got(n, tmp),
			buf_str(&names), hint ? " (did you mean '" : "", hint ? hint : "",
			hint ? "'?)" : "");
	buf_finish(&names);
	return NULL;
}

/* F_WARN_UNKNOWN: a value outside the choices keeps the default, with a warning. */
static const struct choice *lenient_choice(struct ctx *c, const struct node *n,
					   const struct choice *ch, const char *s)
{
	char tmp[SHOW_LEN + 32];
	struct buf names;
	size_t i;

	for (i = 0; ch[i].name; i++)
		if (strcmp(ch[i].name, s) == 0)
			return &ch[i];
	buf_init(&names, 0);
	choice_names(ch, &names);
	cfg_warn(c, n, "unknown value %s is taken as %s; known: %s", cfg_got(n, tmp), ch[0].name,
		 buf_str(&names));
	buf_finish(&names);
	return &ch[0];
}

static int set_enum(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	const struct choice *ch = NULL;
	char *s = get_str(c, n, 0, NULL);

	if (s && (o->flags & F_WARN_UNKNOWN))
		ch = lenient_choice(c, n, o->choices, s);
	else if (s)
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

	s = cfg_period_alias(s);
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
		cfg_err(c, n,
			"expected a duration like 30s, 30m, 30h, 30d, 2w or 1mo (at most 10 "
			"years), got %s",
			cfg_got(n, tmp));
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
		cfg_err(c, n, "expected a list of strings, got %s", cfg_kind(n));
		return -EINVAL;
	}
	if (too_many(c, o, n, n_items))
		return -EINVAL;
	if (set_twice(c, o, n, base))
		return 0;
	cfg_types[o->type].clear(o, base);
	v = xcalloc(n_items + 1, sizeof(*v));
	for (i = 0; i < n_items; i++) {
		at = cfg_path_index(c, i);
		v[k] = get_str(c, items[i], o->flags, o->check);
		if (v[k] && (o->flags & F_MODEL))
			cfg_add_ref(c, (o->flags & F_ALIAS_OK) ? REF_MODEL_OR_ALIAS : REF_MODEL,
				    items[i], v[k]);
		rc = v[k] ? rc : -EINVAL;
		k += v[k] != NULL;
		cfg_path_pop(c, at);
	}
	set_vec(base, o, v, k);
	return rc;
}

static void clear_strs(const struct opt *o, void *obj)
{
	char **v = get_ptr(obj, o->off);
	size_t i, n = *AT(obj, o->n_off, size_t);

	for (i = 0; i < n; i++)
		free(v[i]);
	free_vec(o, obj);
}

static int set_ints(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	int64_t *v;
	size_t i, k = 0, at;
	int rc = 0;

	v = begin_vec(c, o, n, obj, N_SEQ, sizeof(*v), "a list of integers");
	if (!v)
		return -EINVAL;
	for (i = 0; i < n->n_kids; i++) {
		at = cfg_path_index(c, i);
		if (get_int(c, n->kids[i], o->min, o->max, &v[k]) == 0)
			k++;
		else
			rc = -EINVAL;
		cfg_path_pop(c, at);
	}
	set_vec(obj, o, v, k);
	return rc;
}

/* A pair's value that is a number or a boolean word (`LITELLM_LOG_JSON: true`, `PORT: 4000`):
 * a setting, not a credential; redacting it would blank every "true" in the logs. */
static bool plain_setting(const char *s)
{
	static const char *const words[] = {"true", "false", "True", "False", "TRUE", "FALSE"};
	size_t i;

	for (i = 0; i < ARRAY_LEN(words); i++)
		if (strcmp(s, words[i]) == 0)
			return true;
	return *s && strspn(s, "0123456789.") == strlen(s);
}

static int set_pair(struct ctx *c, const struct opt *o, const struct node *k, const struct node *v,
		    struct config_pair *out)
{
	size_t at = cfg_path_key(c, k->text);
	int rc = 0;

	if (!c->defaults && o->check && o->check(c, k, k->text) < 0)
		rc = -EINVAL;
	out->value = cfg_is_null(v) ? xstrdup("") : get_str(c, v, o->flags, NULL);
	if (!out->value)
		rc = -EINVAL;
	else if ((o->flags & F_SECRET) && !(o->flags & F_LITERAL_PUBLIC) &&
		 !plain_setting(out->value))
		cfg_note_secret(c, v, out->value);
	out->name = rc == 0 ? xstrdup(k->text) : NULL;
	if (rc < 0) {
		free(out->value);
		out->value = NULL;
	}
	cfg_path_pop(c, at);
	return rc;
}

static int set_pairs(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	struct config_pair *v;
	size_t i, k = 0;
	int rc = 0;

	v = begin_vec(c, o, n, obj, N_MAP, sizeof(*v), "a mapping of names to strings");
	if (!v)
		return -EINVAL;
	for (i = 0; i < n->n_kids; i += 2) {
		if (set_pair(c, o, n->kids[i], n->kids[i + 1], &v[k]) == 0)
			k++;
		else
			rc = -EINVAL;
	}
	set_vec(obj, o, v, k);
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
	free_vec(o, obj);
}

static int set_section(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	if (n->type == N_SEQ && (o->flags & F_SEQ_IGNORED)) {
		cfg_warn(c, n,
			 "ignored: this is LiteLLM's list of guardrails, which hermetic does not "
			 "run; hermetic's guardrails is a mapping (see docs/configuration.md)");
		cfg_diag_ignored(c->diag, "top level", o->key, false);
		return 0;
	}
	if (n->type != N_MAP) {
		cfg_err(c, n, "expected a mapping, got %s", cfg_kind(n));
		return -EINVAL;
	}
	cfg_walk_table(c, o->table, n, AT(obj, o->off, char));
	return 0;
}

static void clear_section(const struct opt *o, void *obj)
{
	cfg_free_table(o->table, AT(obj, o->off, char));
}

/* One entry of a T_LIST or T_MAP: a mapping, or null for "all defaults". */
static void walk_item(struct ctx *c, const struct table *t, const struct node *n, void *item)
{
	cfg_init_table(c, t, item);
	if (n->type == N_SCALAR && t->scalar_first && !cfg_is_null(n)) {
		cfg_types[t->opts[0].type].set(c, &t->opts[0], n, item);
		return;
	}
	if (n->type != N_MAP && !cfg_is_null(n)) {
		cfg_err(c, n, "expected a mapping, got %s", cfg_kind(n));
		return;
	}
	cfg_walk_table(c, t, n, item);
}

static int set_list(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	const struct table *t = o->table;
	char *items;
	size_t i, at;

	items = begin_vec(c, o, n, obj, N_SEQ, t->size, "a list");
	if (!items)
		return -EINVAL;
	set_vec(obj, o, items, n->n_kids);
	for (i = 0; i < n->n_kids && !c->stop; i++) {
		at = cfg_path_index(c, i);
		walk_item(c, t, n->kids[i], items + i * t->size);
		cfg_path_pop(c, at);
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
		cfg_free_table(o->table, items + i * o->table->size);
	free_vec(o, obj);
}

static int set_map(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	const struct table *t = o->table;
	char *items, *item;
	size_t i, at;

	items = begin_vec(c, o, n, obj, N_MAP, t->size, "a mapping of names to settings");
	if (!items)
		return -EINVAL;
	set_vec(obj, o, items, n->n_kids / 2);
	for (i = 0; i < n->n_kids; i += 2) {
		item = items + i / 2 * t->size;
		at = cfg_path_key(c, n->kids[i]->text);
		*AT(item, t->name_off, char *) = xstrdup(n->kids[i]->text);
		walk_item(c, t, n->kids[i + 1], item);
		cfg_path_pop(c, at);
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
		cfg_err(c, n,
			"expected HOST:PORT with a port of 1-65535 (e.g. 127.0.0.1:8642 or "
			"[::1]:8642), got %s",
			cfg_got(n, tmp));
		return rc;
	}
	cfg_types[o->type].clear(o, obj);
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
		cfg_err(c, n, "expected telegram:<chat id> (e.g. telegram:123456789), got %s",
			cfg_got(n, tmp));
		free(s);
		return -EINVAL;
	}
	free(d->target);
	d->target = s;
	d->telegram_chat_id = id;
	cfg_add_ref(c, REF_TELEGRAM, n, s);
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
	size_t at = cfg_path_key(c, k->text), i;
	char tmp[SHOW_LEN];
	int rc = 0;

	out->from = xstrdup(k->text);
	cfg_add_ref(c, REF_FALLBACK, k, k->text);
	for (i = 0; i < n_prev; i++)
		if (strcmp(prev[i].from, k->text) == 0)
			rc = -EINVAL;
	if (rc < 0)
		cfg_err(c, k, "fallbacks for '%s' are listed twice; keep one list",
			cfg_show(k->text, tmp));
	else if (v->type != N_SEQ || v->n_kids > 16)
		cfg_err(c, v, "expected a list of at most 16 model names, got %s", cfg_kind(v));
	for (i = 0; rc == 0 && v->type == N_SEQ && i < v->n_kids && i < 16; i++) {
		if (i == 0)
			out->to = xcalloc(v->n_kids + 1, sizeof(*out->to));
		out->to[out->n_to] = get_str(c, v->kids[i], 0, NULL);
		if (!out->to[out->n_to])
			continue;
		cfg_add_ref(c, REF_FALLBACK, v->kids[i], out->to[out->n_to]);
		out->n_to++;
	}
	cfg_path_pop(c, at);
	return rc;
}

static int set_fallbacks(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	void *base = base_of(c, o, obj);
	const struct node *m;
	struct config_fallback *v;
	size_t i, j, total = 0, k = 0, at;

	if (n->type != N_SEQ) {
		cfg_err(c, n, "expected a list like [{\"free\": [\"free2\", \"cheap\"]}], got %s",
			cfg_kind(n));
		return -EINVAL;
	}
	for (i = 0; i < n->n_kids; i++)
		total += n->kids[i]->type == N_MAP ? n->kids[i]->n_kids / 2 : 0;
	if (too_many(c, o, n, total))
		return -EINVAL;
	if (set_twice(c, o, n, base))
		return 0;
	cfg_types[o->type].clear(o, base);
	v = xcalloc(total + 1, sizeof(*v));
	for (i = 0; i < n->n_kids; i++) {
		m = n->kids[i];
		at = cfg_path_index(c, i);
		if (m->type != N_MAP)
			cfg_err(c, m,
				"expected a mapping like {\"free\": [\"free2\", \"cheap\"]}, got "
				"%s",
				cfg_kind(m));
		for (j = 0; m->type == N_MAP && j < m->n_kids; j += 2, k++)
			set_fallback(c, m->kids[j], m->kids[j + 1], &v[k], v, k);
		cfg_path_pop(c, at);
	}
	set_vec(base, o, v, k);
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
	free_vec(o, obj);
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
	v = begin_vec(c, o, n, obj, N_MAP, sizeof(*v),
		      "an integer or a mapping of model names to integers");
	if (!v)
		return -EINVAL;
	for (i = 0; i < n->n_kids; i += 2) {
		key = n->kids[i];
		at = cfg_path_key(c, key->text);
		if (strcmp(key->text, "default") == 0) {
			rc = get_int(c, n->kids[i + 1], o->min, o->max, def) < 0 ? -EINVAL : rc;
		} else if (get_int(c, n->kids[i + 1], o->min, o->max, &v[k].max_tokens) == 0) {
			v[k].model = xstrdup(key->text);
			cfg_add_ref(c, REF_MODEL, key, key->text);
			k++;
		} else {
			rc = -EINVAL;
		}
		cfg_path_pop(c, at);
	}
	set_vec(obj, o, v, k);
	return rc;
}

static void clear_limits(const struct opt *o, void *obj)
{
	struct config_model_limit *v = get_ptr(obj, o->off);
	size_t i, n = *AT(obj, o->n_off, size_t);

	for (i = 0; i < n; i++)
		free(v[i].model);
	free_vec(o, obj);
}

/* router_settings.model_group_alias: {"alias": "group"} or {"alias": {"model": "group",
 * "hidden": true}}. */
static int set_alias(struct ctx *c, const struct node *k, const struct node *v,
		     struct config_alias *out)
{
	const struct node *model = v->type == N_SCALAR ? v : NULL, *hidden = NULL;
	char tmp[SHOW_LEN + 32], tmp2[SHOW_LEN];
	size_t i;
	int rc = 0;

	if (v->type == N_MAP) {
		model = cfg_map_get(v, "model");
		hidden = cfg_map_get(v, "hidden");
		for (i = 0; i < v->n_kids; i += 2)
			if (strcmp(v->kids[i]->text, "model") != 0 &&
			    strcmp(v->kids[i]->text, "hidden") != 0)
				cfg_err_at(c, v->kids[i],
					   "unknown key '%s' in model_group_alias.%s; known keys: "
					   "model, hidden",
					   cfg_show(v->kids[i]->text, tmp),
					   cfg_show(k->text, tmp2));
	}
	if (!model) {
		cfg_err(c, v, "expected a model group name or {model: GROUP, hidden: true}");
		return -EINVAL;
	}
	out->model = get_str(c, model, F_ONELINE, NULL);
	if (!out->model)
		return -EINVAL;
	if (hidden) {
		char *h = get_str(c, hidden, 0, NULL);

		if (h && (strcasecmp(h, "true") == 0 || strcasecmp(h, "yes") == 0))
			out->hidden = true;
		else if (!h || (strcasecmp(h, "false") != 0 && strcasecmp(h, "no") != 0)) {
			cfg_err(c, hidden, "expected true or false, got %s", cfg_got(hidden, tmp));
			rc = -EINVAL;
		}
		free(h);
	}
	cfg_add_ref(c, REF_MODEL, model, out->model);
	out->alias = xstrdup(k->text);
	return rc;
}

static int set_aliases(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	struct config_alias *v;
	size_t i, k = 0, at;
	int rc = 0;

	v = begin_vec(c, o, n, obj, N_MAP, sizeof(*v), "a mapping of alias names to model groups");
	if (!v)
		return -EINVAL;
	for (i = 0; i < n->n_kids; i += 2) {
		at = cfg_path_key(c, n->kids[i]->text);
		if (set_alias(c, n->kids[i], n->kids[i + 1], &v[k]) == 0) {
			k++;
		} else {
			free(v[k].alias);
			free(v[k].model);
			memset(&v[k], 0, sizeof(v[k]));
			rc = -EINVAL;
		}
		cfg_path_pop(c, at);
	}
	set_vec(obj, o, v, k);
	return rc;
}

static void clear_aliases(const struct opt *o, void *obj)
{
	struct config_alias *v = get_ptr(obj, o->off);
	size_t i, n = *AT(obj, o->n_off, size_t);

	for (i = 0; i < n; i++) {
		free(v[i].alias);
		free(v[i].model);
	}
	free_vec(o, obj);
}

const struct type_ops cfg_types[N_TYPES] = {
	[T_STR] = {"string", set_str, clear_str},
	[T_INT] = {"integer", set_int, clear_none},
	[T_NUM] = {"number", set_num, clear_none},
	[T_BOOL] = {"bool", set_bool, clear_none},
	[T_ENUM] = {"one of", set_enum, clear_none},
	[T_FLAGS] = {"list of", set_flags, clear_none},
	[T_PERIOD] = {"duration (30s, 30m, 30h, 30d, 2w, 1mo)", set_period, clear_none},
	[T_STRS] = {"list of strings", set_strs, clear_strs},
	[T_INTS] = {"list of integers", set_ints, free_vec},
	[T_PAIRS] = {"mapping of names to strings", set_pairs, clear_pairs},
	[T_SECTION] = {"mapping", set_section, clear_section},
	[T_LIST] = {"list of mappings", set_list, clear_list},
	[T_MAP] = {"mapping of names to mappings", set_map, clear_list},
	[T_LISTEN] = {"HOST:PORT", set_listen, clear_listen},
	[T_DELIVER] = {"telegram:CHAT_ID", set_deliver, clear_deliver},
	[T_FALLBACKS] = {"list of {group: [groups]}", set_fallbacks, clear_fallbacks},
	[T_LIMITS] = {"integer, or mapping of group (or `default`) to integer", set_limits,
		      clear_limits},
	[T_ALIASES] = {"mapping of alias to group, or to {model, hidden}", set_aliases,
		       clear_aliases},
	[T_JSON] = {"any YAML value, sent as JSON", cfg_set_json, cfg_clear_json},
};
