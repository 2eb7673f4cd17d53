/* skill_md: SKILL.md front matter -> name, description, labels and the workflow block.
 *
 * The fences are found by hand (a line "---", optional trailing blanks and CR); the YAML
 * between them goes through libyaml's event parser, reading only the top-level mapping:
 * `name` and `description` must be scalars, `labels` is kept when it is a mapping of
 * scalars, every other value is skipped by counting collection starts and ends. The event parser
 * never expands aliases and keeps its own stack on the heap, and the input is capped at
 * SKILL_MD_FRONT_MAX bytes, so hostile input costs bounded time and memory. Rejected: libyaml's
 * document loader (builds the whole tree only to read two keys) and a line-based "key: value"
 * scanner (wrong on quoted, folded and block scalars, which real skills use for long descriptions).
 */
#include "skills/skill_md.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

bool skill_md_name_ok(const char *name)
{
	size_t i;

	if (!name || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
		return false;
	for (i = 0; name[i]; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '.' || name[i] == '_' || name[i] == '-'))
			return false;
	return i <= SKILL_MD_NAME_MAX;
}

void skill_md_labels_free(struct skill_md_label *labels, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(labels[i].name);
		free(labels[i].value);
	}
	free(labels);
}

void skill_md_workflow_finish(struct skill_md_workflow *wf)
{
	if (!wf)
		return;
	free(wf->input);
	free(wf->output);
	free(wf->review);
	for (size_t i = 0; i < wf->n_never_invent; i++)
		free(wf->never_invent[i]);
	free(wf->never_invent);
	memset(wf, 0, sizeof(*wf));
}

bool skill_md_workflow_present(const struct skill_md_workflow *wf)
{
	return wf && (wf->input || wf->output || wf->review || wf->n_never_invent);
}

bool skill_md_review_gates(const struct skill_md_workflow *wf)
{
	static const char *const off[] = {"none", "no", "never", "false"};
	size_t i;

	if (!wf || !wf->review || strspn(wf->review, " \t\r\n") == strlen(wf->review))
		return false;
	for (i = 0; i < ARRAY_LEN(off); i++)
		if (strcasecmp(wf->review, off[i]) == 0)
			return false;
	return true;
}

void skill_md_workflow_put(struct buf *out, const struct skill_md_workflow *wf, const char *prefix)
{
	size_t i;

	if (wf->input)
		buf_printf(out, "%sInput: %s\n", prefix, wf->input);
	if (wf->output)
		buf_printf(out, "%sOutput: %s\n", prefix, wf->output);
	if (wf->n_never_invent) {
		buf_printf(out, "%sNever invent: ", prefix);
		for (i = 0; i < wf->n_never_invent; i++)
			buf_printf(out, "%s%s", i ? "; " : "", wf->never_invent[i]);
		buf_puts(out, "\n");
	}
	if (wf->review)
		buf_printf(out, "%sReview: %s\n", prefix, wf->review);
}

void skill_md_finish(struct skill_md *md)
{
	if (!md)
		return;
	free(md->name);
	free(md->description);
	skill_md_labels_free(md->labels, md->n_labels);
	skill_md_workflow_finish(&md->workflow);
	memset(md, 0, sizeof(*md));
}

/* Length of the line at p (without its '\n'), and whether it is a "---" fence. */
static bool is_fence(const char *p, const char *end, size_t *line_len)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

	*line_len = n;
	while (n > 3 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
		n--;
	return n == 3 && memcmp(p, "---", 3) == 0;
}

/* Finds the YAML between the fences: [*yaml, *yaml + *yaml_len), body after. */
static int find_fences(const char *text, size_t len, size_t *yaml, size_t *yaml_len, size_t *body,
		       struct buf *err)
{
	const char *end = text + len, *p = text;
	size_t n;

	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	if (!is_fence(p, end, &n) || p + n == end) {
		buf_puts(err, "SKILL.md must start with a line \"---\" that opens the YAML front "
			      "matter (name:, description:)");
		return -EINVAL;
	}
	p += n + 1;
	*yaml = (size_t)(p - text);
	while (p < end && (size_t)(p - text) <= SKILL_MD_FRONT_MAX) {
		if (is_fence(p, end, &n)) {
			*yaml_len = (size_t)(p - text) - *yaml;
			*body = p + n < end ? (size_t)(p - text) + n + 1 : len;
			return 0;
		}
		p += n + (p + n < end);
	}
	buf_printf(err, "the front matter is not closed by a line \"---\" within the first %d KiB",
		   SKILL_MD_FRONT_MAX / 1024);
	return -EINVAL;
}

struct walk {
	yaml_parser_t parser;
	yaml_event_t ev;
	bool have_ev;
	struct skill_md *md;
	struct buf *err;
	size_t line0; /* the file's line (1-based) of the YAML's first line */
};

static int next(struct walk *w)
{
	if (w->have_ev)
		yaml_event_delete(&w->ev);
	w->have_ev = false;
	if (!yaml_parser_parse(&w->parser, &w->ev)) {
		if (w->parser.error == YAML_READER_ERROR)
			buf_puts(w->err, "front matter: ");
		else
			buf_printf(w->err, "front matter, SKILL.md line %zu: ",
				   (size_t)w->parser.problem_mark.line + 2);
		buf_printf(w->err, "YAML error: %s",
			   w->parser.problem ? w->parser.problem : "malformed input");
		return -EINVAL;
	}
	w->have_ev = true;
	return 0;
}

/* Skips the value whose first event is current (a scalar, alias or whole collection). */
static int skip_value(struct walk *w)
{
	size_t depth = 0;

	do {
		if (w->ev.type == YAML_SEQUENCE_START_EVENT ||
		    w->ev.type == YAML_MAPPING_START_EVENT)
			depth++;
		else if (w->ev.type == YAML_SEQUENCE_END_EVENT ||
			 w->ev.type == YAML_MAPPING_END_EVENT)
			depth--;
		if (depth == 0)
			return 0;
	} while (next(w) == 0);
	return -EINVAL;
}

/* Stores the current event, which must be a scalar, as the value of key into *dst. */
static int take_scalar(struct walk *w, const char *key, char **dst)
{
	const char *v;
	size_t n;

	if (*dst) {
		buf_printf(w->err, "front matter: %s is given twice", key);
		return -EINVAL;
	}
	v = w->ev.type == YAML_SCALAR_EVENT ? (const char *)w->ev.data.scalar.value : NULL;
	n = v ? w->ev.data.scalar.length : 0;
	if (!v || strlen(v) != n) {
		buf_printf(w->err, "front matter: %s must be a string", key);
		return -EINVAL;
	}
	*dst = xstrndup(v, n);
	return 0;
}

/* The current scalar as a new string; NULL when it is not one (or holds a NUL). */
static char *scalar(const struct walk *w)
{
	const char *v;

	if (w->ev.type != YAML_SCALAR_EVENT)
		return NULL;
	v = (const char *)w->ev.data.scalar.value;
	if (strlen(v) != w->ev.data.scalar.length)
		return NULL;
	return xstrndup(v, w->ev.data.scalar.length);
}

/* labels: kept only as a mapping of scalars (the first SKILL_MD_LABELS_MAX); any other
 * shape is skipped whole and leaves no labels. */
static int take_labels(struct walk *w)
{
	struct skill_md *md = w->md;
	bool ok = w->ev.type == YAML_MAPPING_START_EVENT && !md->labels;
	char *k, *v;
	int rc;

	if (!ok)
		return skip_value(w);
	md->labels = xcalloc(SKILL_MD_LABELS_MAX, sizeof(*md->labels));
	for (;;) {
		rc = next(w);
		if (rc < 0 || w->ev.type == YAML_MAPPING_END_EVENT)
			break;
		k = scalar(w);
		if (!k)
			rc = skip_value(w); /* a key that is a collection, skipped whole */
		if (rc == 0)
			rc = next(w);
		v = rc == 0 ? scalar(w) : NULL;
		if (rc == 0 && !v)
			rc = skip_value(w);
		if (!k || !v) {
			ok = false;
		} else if (md->n_labels < SKILL_MD_LABELS_MAX) {
			md->labels[md->n_labels++] = (struct skill_md_label){k, v};
			k = v = NULL;
		}
		free(k);
		free(v);
		if (rc < 0)
			break;
	}
	if (rc < 0 || !ok || !md->n_labels) {
		skill_md_labels_free(md->labels, md->n_labels);
		md->labels = NULL;
		md->n_labels = 0;
	}
	return rc;
}

/* A workflow error at mark: "SKILL.md:LINE:COL: workflow: what". */
static void wf_err_at(struct walk *w, yaml_mark_t mark, const char *what)
{
	buf_printf(w->err, "SKILL.md:%zu:%zu: workflow: %s", (size_t)mark.line + w->line0,
		   (size_t)mark.column + 1, what);
}

/* The same at the current event. */
static void wf_err(struct walk *w, const char *what)
{
	wf_err_at(w, w->ev.start_mark, what);
}

/* A workflow text member: a non-empty string of at most max characters. */
static int wf_text(struct walk *w, const char *key, size_t max, char **dst)
{
	char msg[160];
	char *v = scalar(w);
	size_t n = v ? utf8_count(v, strlen(v)) : 0;

	if (*dst) {
		snprintf(msg, sizeof(msg), "%s is given twice", key);
	} else if (!v || n == 0 || strspn(v, " \t\r\n") == strlen(v)) {
		snprintf(msg, sizeof(msg), "%s must be a non-empty string", key);
	} else if (n > max) {
		snprintf(msg, sizeof(msg), "%s is %zu characters; at most %zu", key, n, max);
	} else {
		*dst = v;
		return 0;
	}
	free(v);
	wf_err(w, msg);
	return -EINVAL;
}

/* never_invent: a list of strings, or one string (a list of one). */
static int wf_never_invent(struct walk *w, struct skill_md_workflow *wf)
{
	char *item = NULL;
	int rc;

	if (wf->never_invent) {
		wf_err(w, "never_invent is given twice");
		return -EINVAL;
	}
	wf->never_invent = xcalloc(SKILL_MD_WF_ITEMS, sizeof(*wf->never_invent));
	if (w->ev.type == YAML_SCALAR_EVENT) {
		rc = wf_text(w, "a never_invent item", SKILL_MD_WF_ITEM_MAX, &item);
		if (rc == 0)
			wf->never_invent[wf->n_never_invent++] = item;
		return rc;
	}
	if (w->ev.type != YAML_SEQUENCE_START_EVENT) {
		wf_err(w, "never_invent must be a list of strings ([due dates, owners])");
		return -EINVAL;
	}
	for (;;) {
		rc = next(w);
		if (rc < 0 || w->ev.type == YAML_SEQUENCE_END_EVENT)
			return rc;
		if (wf->n_never_invent == SKILL_MD_WF_ITEMS) {
			char msg[64];

			snprintf(msg, sizeof(msg), "never_invent has more than %d items",
				 SKILL_MD_WF_ITEMS);
			wf_err(w, msg);
			return -EINVAL;
		}
		item = NULL;
		rc = wf_text(w, "a never_invent item", SKILL_MD_WF_ITEM_MAX, &item);
		if (rc < 0)
			return rc;
		wf->never_invent[wf->n_never_invent++] = item;
	}
}

/* workflow: a mapping of input, output, never_invent and review; anything else is an error
 * (a misspelt review must not silently drop the approval it asked for). */
static int take_workflow(struct walk *w)
{
	struct skill_md_workflow *wf = &w->md->workflow;
	yaml_mark_t at;
	char msg[512]; /* the key escaped: 64 bytes at most 6 each */
	char *key;
	int rc;

	if (w->ev.type != YAML_MAPPING_START_EVENT) {
		wf_err(w, "must be a mapping (input:, output:, never_invent:, review:)");
		return -EINVAL;
	}
	if (skill_md_workflow_present(wf) || wf->never_invent) {
		wf_err(w, "is given twice");
		return -EINVAL;
	}
	for (;;) {
		rc = next(w);
		if (rc < 0 || w->ev.type == YAML_MAPPING_END_EVENT)
			break;
		key = scalar(w);
		if (!key) {
			wf_err(w, "keys must be plain strings");
			return -EINVAL;
		}
		at = w->ev.start_mark;
		rc = next(w);
		if (rc == 0 && strcmp(key, "input") == 0)
			rc = wf_text(w, "input", SKILL_MD_WF_TEXT_MAX, &wf->input);
		else if (rc == 0 && strcmp(key, "output") == 0)
			rc = wf_text(w, "output", SKILL_MD_WF_TEXT_MAX, &wf->output);
		else if (rc == 0 && strcmp(key, "review") == 0)
			rc = wf_text(w, "review", SKILL_MD_WF_TEXT_MAX, &wf->review);
		else if (rc == 0 && strcmp(key, "never_invent") == 0)
			rc = wf_never_invent(w, wf);
		else if (rc == 0) {
			/* The key as a JSON string: a quoted key may hold a newline, and the
			 * error must stay one line. */
			struct buf q;

			buf_init(&q, 0);
			buf_json_str(&q, key, utf8_cut(key, strnlen(key, 64)));
			snprintf(msg, sizeof(msg),
				 "unknown key %s (input, output, never_invent, review)",
				 buf_str(&q));
			buf_finish(&q);
			wf_err_at(w, at, msg);
			rc = -EINVAL;
		}
		free(key);
		if (rc < 0)
			break;
	}
	return rc;
}

static int walk_pair(struct walk *w)
{
	char *key;
	int rc;

	if (w->ev.type != YAML_SCALAR_EVENT) {
		buf_puts(w->err, "front matter: keys must be plain strings");
		return -EINVAL;
	}
	key = xstrndup((const char *)w->ev.data.scalar.value, w->ev.data.scalar.length);
	rc = next(w);
	if (rc == 0 && strcmp(key, "name") == 0)
		rc = take_scalar(w, "name", &w->md->name);
	else if (rc == 0 && strcmp(key, "description") == 0)
		rc = take_scalar(w, "description", &w->md->description);
	else if (rc == 0 && strcmp(key, "labels") == 0)
		rc = take_labels(w);
	else if (rc == 0 && strcmp(key, "workflow") == 0)
		rc = take_workflow(w);
	else if (rc == 0)
		rc = skip_value(w);
	free(key);
	return rc;
}

/* Walks the top-level mapping, stopping after its end. */
static int walk(struct walk *w)
{
	int rc;

	do {
		rc = next(w);
	} while (rc == 0 && (w->ev.type == YAML_STREAM_START_EVENT ||
			     w->ev.type == YAML_DOCUMENT_START_EVENT));
	if (rc < 0)
		return rc;
	if (w->ev.type != YAML_MAPPING_START_EVENT) {
		buf_puts(w->err, "the front matter must be a YAML mapping (name: ..., "
				 "description: ...)");
		return -EINVAL;
	}
	for (;;) {
		rc = next(w);
		if (rc < 0 || w->ev.type == YAML_MAPPING_END_EVENT)
			return rc;
		rc = walk_pair(w);
		if (rc < 0)
			return rc;
	}
}

static int check(const struct skill_md *md, struct buf *err)
{
	size_t n;

	if (!md->name || !*md->name) {
		buf_puts(err, "front matter: name is missing");
		return -EINVAL;
	}
	if (!skill_md_name_ok(md->name)) {
		buf_printf(err, "front matter: name: %s", SKILL_MD_NAME_RULE);
		return -EINVAL;
	}
	n = md->description ? utf8_count(md->description, strlen(md->description)) : 0;
	if (n == 0 || strspn(md->description, " \t\r\n") == strlen(md->description)) {
		buf_puts(err, "front matter: description is missing (one line on when to use the "
			      "skill)");
		return -EINVAL;
	}
	if (n > SKILL_MD_DESC_MAX) {
		buf_printf(err, "front matter: description is %zu characters; at most %d", n,
			   SKILL_MD_DESC_MAX);
		return -EINVAL;
	}
	return 0;
}

int skill_md_parse(const char *text, size_t len, struct skill_md *out, struct buf *err)
{
	struct walk w = {.md = out, .err = err};
	size_t yaml = 0, yaml_len = 0, body = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = find_fences(text, len, &yaml, &yaml_len, &body, err);
	if (rc < 0)
		return rc;
	if (!yaml_parser_initialize(&w.parser)) {
		buf_puts(err, "out of memory");
		return -ENOMEM;
	}
	w.line0 = 1;
	for (size_t i = 0; i < yaml; i++)
		w.line0 += text[i] == '\n';
	yaml_parser_set_input_string(&w.parser, (const unsigned char *)text + yaml, yaml_len);
	rc = walk(&w);
	if (w.have_ev)
		yaml_event_delete(&w.ev);
	yaml_parser_delete(&w.parser);
	if (rc == 0)
		rc = check(out, err);
	if (rc < 0)
		skill_md_finish(out);
	else
		out->body = body;
	return rc;
}
