/* config: YAML text -> struct config through one option table, with every value checked.
 *
 * Three stages. (1) libyaml's event parser builds a small tree of nodes that remember their
 * line and column; anchors, aliases and `<<` merge keys are resolved there, duplicate keys
 * are rejected, and nesting depth, collection sizes, node count and merge work are capped so
 * hostile input can exhaust neither the stack nor the CPU. (2) The tree is walked against the
 * option table (tmux's options-table.c style): each entry names a key, a type, the offset of
 * the field it fills, a default, a range or check function and, for sections and lists, a
 * sub-table. One handler per type (dispatched through `cfg_types[]`) parses, validates and frees,
 * so a new key is one table entry, and defaults go through the same parser as user values.
 * (3) Cross-references (model names, Telegram deliveries, MCP tool prefixes, settings that
 * LiteLLM lets two sections set) are resolved once everything is loaded.
 * File I/O lives only in config_load(), so config_parse() can be fuzzed on raw bytes.
 * Rejected: libyaml's document loader (no depth or alias limits and no merge keys) and a
 * hand-written parser per section (long if-chains that drift from the documentation, which
 * config_print_reference() prints from the same table).
 * The stages live in their own files, sharing the private core/config_int.h: config_yaml.c
 * (1), config_walk.c, config_types.c and config_table.c (2), config_check.c and
 * config_lanes.c (3). This file owns the load: its entry points call the stages in order and
 * nothing in the other parts calls back into it. It also holds the reference printer, which
 * reads the private tables.
 */
#include "core/config.h"
#include "core/config_int.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	cfg_free_table(&cfg_top_table, cfg);
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
	free(c->unset_env);
	free(c->locked_env);
	for (i = 0; i < c->n_secrets; i++)
		free(c->secrets[i]);
	free(c->secrets);
	cfg_tree_free(&c->tree);
	config_destroy(c->cfg);
}

/* Stage (3): the checks of the whole config, then the lanes' names, which read what
 * cfg_finish resolved (model groups, MCP servers). */
static void finish(struct ctx *c, const struct node *root)
{
	cfg_finish(c, root);
	cfg_lanes_finish(c, root);
}

static void walk_root(struct ctx *c)
{
	const struct node *root = c->tree.root;

	if (!root || cfg_is_null(root)) {
		finish(c, root);
		return;
	}
	if (root->type != N_MAP) {
		cfg_err_at(c, root,
			   "the config must be a mapping of sections (home:, model_list:, ...), "
			   "not %s",
			   cfg_kind(root));
		return;
	}
	cfg_walk_table(c, &cfg_top_table, root, c->cfg);
	finish(c, root);
}

int config_parse(const char *name, const char *text, size_t len, struct config **out,
		 struct config_diag *diag)
{
	struct ctx c = {.file = name,
			.text = text ? text : "",
			.len = text ? len : 0,
			.diag = diag,
			.strict = cfg_diag_strict(diag)};
	size_t i;
	int rc;

	*out = NULL;
	if (len > CONFIG_MAX_FILE_BYTES) {
		cfg_diag_add(diag, name, 0, 0, true,
			     xasprintf("the config is %zu bytes; the limit is %d (1 MiB)", len,
				       CONFIG_MAX_FILE_BYTES));
		return -EINVAL;
	}
	c.cfg = xcalloc(1, sizeof(*c.cfg));
	c.cfg->name = xstrdup(name);
	cfg_init_table(&c, &cfg_top_table, c.cfg);
	if (cfg_tree_build(&c) == 0) {
		cfg_process_includes(&c);
		walk_root(&c);
	}
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
	cfg_diag_add(d, path, 0, 0, true, xvasprintf(fmt, ap));
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
	{cfg_check_abs_path, "absolute path"},	{cfg_check_command, "program"},
	{cfg_check_url, "http(s) URL"},		{cfg_check_name, "name"},
	{cfg_check_host_pattern, "host name"},	{cfg_check_field_name, "field name"},
	{cfg_check_timezone, "IANA zone name"},
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
		fputs(cfg_types[o->type].doc, out);
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

	fprintf(out, "### %s%s%s\n\n%s\n\n", t == &cfg_top_table ? "" : "`", t->path,
		t == &cfg_top_table ? "" : "`", t->text);
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

	ref_table(out, &cfg_top_table);
	fputs("### LiteLLM and Hermes keys accepted and ignored\n\nThese load with a warning "
	      "`ignored: ...` so a LiteLLM or Hermes config works unchanged. A trailing `*` "
	      "matches any suffix.\n\n"
	      "| section | key | why |\n|---|---|---|\n",
	      out);
	for (i = 0; i < cfg_n_ignored; i++)
		fprintf(out, "| `%s` | `%s` | %s |\n",
			strcmp(cfg_ignored[i].section, "config") ? cfg_ignored[i].section
								 : "top level",
			cfg_ignored[i].key, cfg_ignored[i].why);
	fputs("\n", out);
	providers_print_reference(out);
}
