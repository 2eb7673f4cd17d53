/* config_include: a top-level `include:` merged into the tree as LiteLLM's proxy merges it
 * (proxy_server.py, ProxyConfig._process_includes, called by _get_config_from_file before
 * anything else reads the config):
 * - `include` must be a list of paths (else LiteLLM raises ValueError and does not start: an
 *   error here too); each is joined to the config file's directory (os.path.join: an
 *   absolute path stays as it is);
 * - each file is one YAML mapping; for each of its top-level keys, a list whose key the
 *   config already has is appended to the config's list (model_list, ...), anything else
 *   replaces the config's value (or adds the key), file after file;
 * - an included file's own include: list is appended to the list being read (LiteLLM's loop
 *   extends the very list it iterates), its paths joined to the config's directory too.
 * A file that cannot be read is a warning where LiteLLM raises FileNotFoundError and does not
 * start: hermetic starts without it and says what is missing (--strict refuses it). The included
 * nodes live in the config's tree and carry their file's name, so a message about one of them
 * points there. Rejected: pasting the included text into the config's (positions would lie).
 */
#include "core/config.h"
#include "core/config_int.h"
#include "core/fileio.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INCLUDES 32 /* files one config may include */

/* Where LiteLLM looks for path: os.path.join(dirname(abspath(config)), path). */
static char *include_path(const char *config_file, const char *path)
{
	const char *slash = strrchr(config_file, '/');

	if (path[0] == '/' || !slash)
		return xstrdup(path);
	return xasprintf("%.*s/%s", (int)(slash - config_file), config_file, path);
}

/* Parses text (read from file) into c's tree; its root, or NULL after saying why. The
 * config's own root, anchors and stack are put back: an included file is its own YAML
 * stream, as yaml.safe_load reads it. */
static struct node *parse_included(struct ctx *c, char *file, const char *text, size_t len)
{
	struct tree *t = &c->tree;
	const char *file0 = c->file, *text0 = c->text;
	struct node *root0 = t->root, **anchors0 = t->anchors, *root = NULL;
	size_t len0 = c->len, docs0 = t->docs, n_anchors0 = t->n_anchors;
	size_t alloc_anchors0 = t->alloc_anchors;

	t->files = cfg_grow(t->files, &t->alloc_files, t->n_files, sizeof(*t->files));
	t->files[t->n_files++] = file;
	c->file = file;
	c->text = text;
	c->len = len;
	t->root = NULL;
	t->docs = 0;
	t->depth = 0;
	t->anchors = NULL;
	t->n_anchors = t->alloc_anchors = 0;
	if (cfg_tree_build(c) == 0)
		root = t->root;
	free(t->anchors);
	t->anchors = anchors0;
	t->n_anchors = n_anchors0;
	t->alloc_anchors = alloc_anchors0;
	t->depth = 0;
	t->docs = docs0;
	t->root = root0;
	c->file = file0;
	c->text = text0;
	c->len = len0;
	return root;
}

static struct node *map_value(struct node *map, const char *key)
{
	size_t i;

	for (i = 0; i + 1 < map->n_kids; i += 2)
		if (strcmp(map->kids[i]->text, key) == 0)
			return map->kids[i + 1];
	return NULL;
}

/* _process_includes' merge: a list extends the config's list of that key, anything else
 * replaces it. */
static void merge_into(struct ctx *c, struct node *root, struct node *list, const struct node *inc)
{
	struct node *have;
	size_t i, j;

	for (i = 0; i + 1 < inc->n_kids; i += 2) {
		if (strcmp(inc->kids[i]->text, "include") == 0) {
			/* a list extends the one being read; anything else replaces config's
			 * include, which LiteLLM's loop no longer looks at */
			if (inc->kids[i + 1]->type == N_SEQ)
				for (j = 0; j < inc->kids[i + 1]->n_kids; j++)
					cfg_node_push(list, inc->kids[i + 1]->kids[j]);
			continue;
		}
		have = map_value(root, inc->kids[i]->text);
		if (have && have->type == N_SEQ && inc->kids[i + 1]->type == N_SEQ) {
			for (j = 0; j < inc->kids[i + 1]->n_kids; j++) {
				if (have->n_kids >= MAX_ITEMS) {
					cfg_err_at(c, inc->kids[i + 1]->kids[j],
						   "more than %d entries in '%s' with the included "
						   "files",
						   MAX_ITEMS, inc->kids[i]->text);
					return;
				}
				cfg_node_push(have, inc->kids[i + 1]->kids[j]);
			}
			continue;
		}
		for (j = 0; j + 1 < root->n_kids; j += 2)
			if (strcmp(root->kids[j]->text, inc->kids[i]->text) == 0)
				break;
		if (j + 1 < root->n_kids) {
			root->kids[j + 1] = inc->kids[i + 1];
		} else {
			cfg_node_push(root, inc->kids[i]);
			cfg_node_push(root, inc->kids[i + 1]);
		}
	}
}

static void include_one(struct ctx *c, struct node *root, struct node *list,
			const struct node *item)
{
	char *file, tmp[SHOW_LEN];
	struct node *inc;
	struct buf b;
	int rc;

	if (item->type != N_SCALAR || !*item->text) {
		cfg_err_at(c, item, "include: each entry is a file path, not %s", cfg_kind(item));
		return;
	}
	file = include_path(c->file, item->text);
	buf_init(&b, CONFIG_MAX_FILE_BYTES);
	rc = fileio_read(file, CONFIG_MAX_FILE_BYTES, &b);
	if (rc < 0) {
		/* --strict refuses what LiteLLM refuses */
		(c->strict ? cfg_err_at : cfg_warn_at)(
			c, item,
			"include: cannot read %s (%s): loaded without it, so what it holds (its "
			"model_list entries...) is missing; LiteLLM does not start without it",
			cfg_show(file, tmp), rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
		free(file);
		buf_finish(&b);
		return;
	}
	inc = parse_included(c, file, buf_str(&b), b.len);
	if (inc && inc->type == N_MAP)
		merge_into(c, root, list, inc);
	else if (inc && !cfg_is_null(inc))
		cfg_err_at(c, inc, "an included file must be a mapping of sections, not %s",
			   cfg_kind(inc));
	buf_finish(&b);
}

void cfg_process_includes(struct ctx *c)
{
	struct node *root = c->tree.root, *list = NULL;
	size_t i, at = 0;

	if (!root || root->type != N_MAP)
		return;
	for (i = 0; i + 1 < root->n_kids; i += 2)
		if (strcmp(root->kids[i]->text, "include") == 0) {
			list = root->kids[i + 1];
			at = i;
		}
	if (!list)
		return;
	/* out of the tree first: what the files bring is walked, include: itself is not */
	memmove(&root->kids[at], &root->kids[at + 2],
		(root->n_kids - at - 2) * sizeof(*root->kids));
	root->n_kids -= 2;
	if (list->type != N_SEQ) {
		cfg_err_at(c, list,
			   "include must be a list of file paths (LiteLLM's proxy does not start "
			   "with %s)",
			   cfg_kind(list));
		return;
	}
	for (i = 0; i < list->n_kids && !c->stop; i++) {
		if (i == MAX_INCLUDES) {
			/* LiteLLM has no limit, and a file that includes itself never ends */
			cfg_err_at(c, list->kids[i],
				   "include: more than %d files (does one include "
				   "itself?)",
				   MAX_INCLUDES);
			return;
		}
		include_one(c, root, list, list->kids[i]);
	}
}
