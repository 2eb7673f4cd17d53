/* mcp_skills: the skills extension (SEP-2640) on the client side.
 *
 * A listing is skills/list followed page by page (capped in pages and entries); it reads no
 * file, as the SEP asks ("not on connection, not on listing"). A load is one state machine per
 * skill: resources/read of its SKILL.md, checked against the entry (size first, then the
 * sha256 digest, then the front matter parsed from the file compared field by field with the
 * entry's) before anything else is read; then each further file of the entry in order, each
 * checked the same way; the first failure ends it. The front matter is read with libyaml's
 * event parser into JSON (plain scalars resolved as YAML 1.2's core schema does) so the two
 * sides compare as values, not as text. Rejected: loading a skill without `resources` (a
 * dynamic skill): nothing could be verified; reading binary (`blob`) files: hermetic's skills
 * are text.
 */
#include "mcp/mcp_skills.h"
#include "mcp/mcp_int.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define EXT_ID		"io.modelcontextprotocol/skills"
#define YAML_DEPTH_MAX	32
#define YAML_NODES_MAX	4096
#define FRONTMATTER_MAX (64 * 1024)

bool mcp_skills_declared(const cJSON *init_result)
{
	const cJSON *caps = cJSON_GetObjectItemCaseSensitive(init_result, "capabilities");
	const cJSON *ext = cJSON_GetObjectItemCaseSensitive(caps, "extensions");

	return cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(ext, EXT_ID));
}

static void skill_finish(struct mcp_skill *sk)
{
	free(sk->uri);
	free(sk->name);
	free(sk->description);
	free(sk->frontmatter_json);
	for (size_t i = 0; i < sk->n_files; i++)
		free(sk->files[i].uri);
	free(sk->files);
	memset(sk, 0, sizeof(*sk));
}

void mcp_skill_list_finish(struct mcp_skill_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		skill_finish(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- the pure part ---- */

static bool digest_ok(const char *d)
{
	if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != MCP_SKILL_DIGEST_LEN)
		return false;
	for (d += 7; *d; d++)
		if (!((*d >= '0' && *d <= '9') || (*d >= 'a' && *d <= 'f')))
			return false;
	return true;
}

/* The last folder of a SKILL.md URI ("skill://a/b/refunds/SKILL.md" -> "refunds"), or NULL. */
static char *uri_skill_name(const char *uri)
{
	const char *end, *start;
	size_t n = strlen(uri);

	if (n < 9 || strcmp(uri + n - 9, "/SKILL.md") != 0)
		return NULL;
	end = uri + n - 9;
	for (start = end; start > uri && start[-1] != '/'; start--)
		;
	if (start == end || !strstr(uri, "://") || start < strstr(uri, "://") + 3)
		return NULL;
	return xstrndup(start, (size_t)(end - start));
}

/* One entry into sk; false (with sk finished) when it is unusable. */
static bool parse_entry(const cJSON *e, struct mcp_skill *sk)
{
	const cJSON *uri = cJSON_GetObjectItemCaseSensitive(e, "uri");
	const cJSON *fm = cJSON_GetObjectItemCaseSensitive(e, "frontmatter");
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(e, "resources"), *r;
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(fm, "description");

	memset(sk, 0, sizeof(*sk));
	if (!cJSON_IsString(uri) || !cJSON_IsObject(fm))
		return false;
	sk->uri = xstrdup(uri->valuestring);
	sk->name = uri_skill_name(sk->uri);
	if (!sk->name) {
		skill_finish(sk);
		return false;
	}
	sk->description = xstrdup(cJSON_IsString(desc) ? desc->valuestring : "");
	sk->frontmatter_json = cJSON_PrintUnformatted(fm);
	if (!cJSON_IsArray(res)) {
		sk->dynamic = true;
		return true;
	}
	if (cJSON_GetArraySize(res) > MCP_SKILL_FILES_MAX) {
		skill_finish(sk);
		return false;
	}
	sk->files = xcalloc((size_t)cJSON_GetArraySize(res) + 1, sizeof(*sk->files));
	cJSON_ArrayForEach(r, res)
	{
		const cJSON *ru = cJSON_GetObjectItemCaseSensitive(r, "uri");
		const cJSON *rd = cJSON_GetObjectItemCaseSensitive(r, "digest");
		const cJSON *rs = cJSON_GetObjectItemCaseSensitive(r, "size");
		struct mcp_skill_file *f = &sk->files[sk->n_files];

		if (!cJSON_IsString(ru) || !cJSON_IsString(rd) || !digest_ok(rd->valuestring) ||
		    (rs && (!cJSON_IsNumber(rs) || rs->valuedouble < 0))) {
			skill_finish(sk);
			return false;
		}
		f->uri = xstrdup(ru->valuestring);
		snprintf(f->digest, sizeof(f->digest), "%s", rd->valuestring);
		f->size = rs ? (int64_t)rs->valuedouble : -1;
		sk->n_files++;
	}
	return true;
}

int mcp_skills_parse_page(const char *json, size_t len, struct mcp_skill_list *l, char **cursor)
{
	cJSON *root = json_parse(json, len, 0, NULL), *e;
	const cJSON *skills = cJSON_GetObjectItemCaseSensitive(root, "skills");
	const cJSON *next = cJSON_GetObjectItemCaseSensitive(root, "nextCursor");

	*cursor = NULL;
	if (!cJSON_IsObject(root) || !cJSON_IsArray(skills)) {
		cJSON_Delete(root);
		return -EBADMSG;
	}
	cJSON_ArrayForEach(e, skills)
	{
		struct mcp_skill sk;

		if (l->n >= MCP_SKILLS_MAX) {
			l->truncated = true;
			break;
		}
		if (!parse_entry(e, &sk)) {
			log_warn("mcp skills: an entry without a usable uri, frontmatter or "
				 "resources was skipped");
			continue;
		}
		l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
		l->v[l->n++] = sk;
	}
	if (cJSON_IsString(next) && *next->valuestring)
		*cursor = xstrdup(next->valuestring);
	cJSON_Delete(root);
	return 0;
}

/* YAML 1.2 core schema for a plain scalar: null, booleans, numbers; else a string. */
static cJSON *plain_scalar(const char *v, size_t len)
{
	char *end;
	double d;

	if (len == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	    strcmp(v, "NULL") == 0)
		return cJSON_CreateNull();
	if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0)
		return cJSON_CreateTrue();
	if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "FALSE") == 0)
		return cJSON_CreateFalse();
	if (strspn(v, "+-0123456789.eE") == len && strpbrk(v, "0123456789")) {
		errno = 0;
		d = strtod(v, &end);
		if (errno == 0 && *end == '\0')
			return cJSON_CreateNumber(d);
	}
	return cJSON_CreateString(v);
}

struct yctx {
	yaml_parser_t p;
	size_t nodes;
	char *why;
	size_t why_len;
};

static void set_why(struct yctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, c->why_len, fmt, ap);
	va_end(ap);
}

/* The node whose first event is ev (consumed here), or NULL with why set. */
static cJSON *yaml_node(struct yctx *c, yaml_event_t *ev, int depth)
{
	cJSON *out = NULL;
	yaml_event_t k, v;

	if (++c->nodes > YAML_NODES_MAX || depth > YAML_DEPTH_MAX) {
		set_why(c, "the front matter is too large or too deep");
		yaml_event_delete(ev);
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT: {
		const char *s = (const char *)ev->data.scalar.value;

		out = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
			      ? plain_scalar(s, ev->data.scalar.length)
			      : cJSON_CreateString(s);
		break;
	}
	case YAML_SEQUENCE_START_EVENT:
		out = cJSON_CreateArray();
		for (;;) {
			cJSON *item;

			if (!yaml_parser_parse(&c->p, &v))
				goto bad;
			if (v.type == YAML_SEQUENCE_END_EVENT) {
				yaml_event_delete(&v);
				break;
			}
			item = yaml_node(c, &v, depth + 1);
			if (!item)
				goto fail;
			cJSON_AddItemToArray(out, item);
		}
		break;
	case YAML_MAPPING_START_EVENT:
		out = cJSON_CreateObject();
		for (;;) {
			cJSON *val;
			char *key;

			if (!yaml_parser_parse(&c->p, &k))
				goto bad;
			if (k.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&k);
				break;
			}
			if (k.type != YAML_SCALAR_EVENT) {
				yaml_event_delete(&k);
				set_why(c, "a front matter key is not a plain text");
				goto fail;
			}
			key = xstrdup((const char *)k.data.scalar.value);
			yaml_event_delete(&k);
			if (!yaml_parser_parse(&c->p, &v)) {
				free(key);
				goto bad;
			}
			val = yaml_node(c, &v, depth + 1);
			if (!val) {
				free(key);
				goto fail;
			}
			cJSON_DeleteItemFromObjectCaseSensitive(out, key); /* the last one wins */
			cJSON_AddItemToObject(out, key, val);
			free(key);
		}
		break;
	default:
		set_why(c, "the front matter uses an alias or tag hermetic does not read");
		yaml_event_delete(ev);
		return NULL;
	}
	yaml_event_delete(ev);
	return out;
bad:
	set_why(c, "the front matter is not valid YAML (line %zu: %s)", c->p.problem_mark.line + 1,
		c->p.problem ? c->p.problem : "?");
fail:
	yaml_event_delete(ev);
	cJSON_Delete(out);
	return NULL;
}

/* The front matter block of text: [*start, *start + *n). false when there is none. */
static bool frontmatter_block(const char *text, size_t len, const char **start, size_t *n)
{
	const char *p, *end = text + len;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		text += 3;
	if (end - text >= 4 && memcmp(text, "---\n", 4) == 0)
		p = text + 4;
	else if (end - text >= 5 && memcmp(text, "---\r\n", 5) == 0)
		p = text + 5;
	else
		return false;
	*start = p;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p), k = 3;

		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		while (k < ll && (p[k] == ' ' || p[k] == '\t'))
			k++;
		if (ll >= 3 && memcmp(p, "---", 3) == 0 && k == ll) {
			*n = (size_t)(p - *start);
			return true;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return false;
}

int mcp_skill_frontmatter(const char *text, size_t len, char **json, char *why, size_t why_len)
{
	struct yctx c = {.why = why, .why_len = why_len};
	const char *block;
	size_t n;
	yaml_event_t ev;
	cJSON *root = NULL;
	bool ok = true;

	*json = NULL;
	if (!frontmatter_block(text, len, &block, &n)) {
		snprintf(why, why_len, "SKILL.md does not begin with a --- front matter block");
		return -EBADMSG;
	}
	if (n > FRONTMATTER_MAX) {
		snprintf(why, why_len, "the front matter is over %d bytes", FRONTMATTER_MAX);
		return -EBADMSG;
	}
	yaml_parser_initialize(&c.p);
	yaml_parser_set_input_string(&c.p, (const unsigned char *)block, n);
	/* stream start, document start, the node, then the document must end */
	for (int i = 0; ok && i < 2; i++) {
		ok = yaml_parser_parse(&c.p, &ev);
		if (ok)
			yaml_event_delete(&ev);
	}
	if (ok && yaml_parser_parse(&c.p, &ev)) {
		root = yaml_node(&c, &ev, 0);
	} else if (ok) {
		set_why(&c, "the front matter is not valid YAML (line %zu: %s)",
			c.p.problem_mark.line + 1, c.p.problem ? c.p.problem : "?");
	} else {
		set_why(&c, "the front matter is empty or not valid YAML");
	}
	yaml_parser_delete(&c.p);
	if (root && !cJSON_IsObject(root)) {
		snprintf(why, why_len, "the front matter is not a mapping");
		cJSON_Delete(root);
		root = NULL;
	}
	if (!root)
		return -EBADMSG;
	*json = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return 0;
}

/* Names the first field where a and b differ into why. */
static void first_difference(const cJSON *file, const cJSON *entry, char *why, size_t why_len)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, file)
	{
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(entry, it->string);

		if (!o || !cJSON_Compare(it, o, true)) {
			snprintf(why, why_len,
				 "the front matter of SKILL.md differs from the listing's at "
				 "\"%s\"%s",
				 it->string, o ? "" : " (not in the listing)");
			return;
		}
	}
	cJSON_ArrayForEach(it, entry)
	{
		if (!cJSON_GetObjectItemCaseSensitive(file, it->string)) {
			snprintf(why, why_len,
				 "the listing's front matter has \"%s\", which SKILL.md lacks",
				 it->string);
			return;
		}
	}
	snprintf(why, why_len, "the front matter of SKILL.md differs from the listing's");
}

int mcp_skill_verify(const struct mcp_skill *sk, const struct mcp_skill_file *f, const char *data,
		     size_t len, char *why, size_t why_len)
{
	char hex[65], *fm = NULL;
	cJSON *a, *b;
	bool same;

	if (f->size >= 0 && (int64_t)len != f->size) {
		snprintf(why, why_len, "%s is %zu bytes, the listing says %lld: refused", f->uri,
			 len, (long long)f->size);
		return -EBADMSG;
	}
	sha256_hex(data, len, hex);
	if (strcmp(hex, f->digest + 7) != 0) {
		snprintf(why, why_len, "%s has sha256 %.16s..., the listing says %.23s...: refused",
			 f->uri, hex, f->digest);
		return -EBADMSG;
	}
	if (strcmp(f->uri, sk->uri) != 0)
		return 0;
	if (mcp_skill_frontmatter(data, len, &fm, why, why_len) < 0)
		return -EBADMSG;
	a = json_parse_str(fm, NULL);
	b = json_parse_str(sk->frontmatter_json, NULL);
	same = a && b && cJSON_Compare(a, b, true);
	if (!same)
		first_difference(a, b, why, why_len);
	cJSON_Delete(a);
	cJSON_Delete(b);
	free(fm);
	return same ? 0 : -EBADMSG;
}

const char *mcp_skill_rel_path(const struct mcp_skill *sk, const char *uri)
{
	size_t root = strlen(sk->uri) - strlen("SKILL.md"); /* keeps the '/' */

	if (strncmp(uri, sk->uri, root) != 0 || !uri[root])
		return NULL;
	return uri + root;
}

/* ---- on the loop ---- */

static struct mcp_server *find_server(struct mcp *m, const char *name)
{
	for (size_t i = 0; i < m->n_servers; i++)
		if (strcmp(m->servers[i].cfg->name, name) == 0)
			return &m->servers[i];
	return NULL;
}

bool mcp_skills_offered(struct mcp *m, const char *server)
{
	struct mcp_server *s = find_server(m, server);

	return s && s->state == S_READY && s->skills;
}

static int usable(struct mcp *m, const char *server, struct mcp_server **out)
{
	*out = find_server(m, server);
	if (!*out)
		return -ENOENT;
	if ((*out)->state != S_READY)
		return -ENOTCONN;
	return (*out)->skills ? 0 : -EOPNOTSUPP;
}

struct listing {
	struct mcp_server *s;
	struct mcp_skill_list l;
	size_t pages;
	mcp_skills_cb cb;
	void *arg;
};

static void list_page(struct listing *ls, const char *cursor);

static void listing_end(struct listing *ls, int rc, const char *why)
{
	ls->cb(rc, &ls->l, why, ls->arg);
	mcp_skill_list_finish(&ls->l);
	free(ls);
}

static void on_list_result(struct pending *p, const char *result, size_t len)
{
	struct listing *ls = p->arg;
	char *cursor = NULL;

	if (mcp_skills_parse_page(result, len, &ls->l, &cursor) < 0) {
		listing_end(ls, -EBADMSG, "skills/list: the answer holds no skills array");
		return;
	}
	if (cursor && !ls->l.truncated && ++ls->pages < MCP_SKILL_PAGES_MAX) {
		list_page(ls, cursor);
		free(cursor);
		return;
	}
	ls->l.truncated = ls->l.truncated || cursor;
	free(cursor);
	listing_end(ls, 0, NULL);
}

static void on_list_error(struct pending *p, const char *why, const char *rpc, size_t len,
			  bool timeout)
{
	char *text =
		xasprintf("skills/list failed: %s%s%.*s", timeout ? "timed out" : why,
			  rpc ? ": " : "", rpc ? (int)(len > 300 ? 300 : len) : 0, rpc ? rpc : "");

	listing_end(p->arg, timeout ? -ETIMEDOUT : -EIO, text);
	free(text);
}

static void list_page(struct listing *ls, const char *cursor)
{
	cJSON *params = cJSON_CreateObject();

	if (cursor)
		cJSON_AddStringToObject(params, "cursor", cursor);
	mcp_server_request(ls->s, "skills/list", params, on_list_result, on_list_error, ls);
}

int mcp_skills_list(struct mcp *m, const char *server, mcp_skills_cb cb, void *arg)
{
	struct mcp_server *s;
	struct listing *ls;
	int rc = usable(m, server, &s);

	if (rc < 0)
		return rc;
	ls = xcalloc(1, sizeof(*ls));
	ls->s = s;
	ls->cb = cb;
	ls->arg = arg;
	list_page(ls, NULL);
	return 0;
}

struct load {
	struct mcp_server *s;
	struct mcp_skill sk; /* a copy */
	size_t next;	     /* the next file of sk.files to read; SKILL.md comes first */
	size_t *order;	     /* indexes into sk.files, SKILL.md first */
	struct mcp_skill_content *got;
	size_t n_got, total;
	mcp_skill_load_cb cb;
	void *arg;
};

static void load_end(struct load *ld, int rc, const char *why)
{
	ld->cb(rc, rc < 0 ? NULL : ld->got, rc < 0 ? 0 : ld->n_got, why, ld->arg);
	for (size_t i = 0; i < ld->n_got; i++) {
		free(ld->got[i].path);
		free(ld->got[i].data);
	}
	free(ld->got);
	free(ld->order);
	skill_finish(&ld->sk);
	free(ld);
}

static void read_next(struct load *ld);

static void on_read_result(struct pending *p, const char *result, size_t len)
{
	struct load *ld = p->arg;
	const struct mcp_skill_file *f = &ld->sk.files[ld->order[ld->next]];
	cJSON *root = json_parse(result, len, 0, NULL), *c;
	const cJSON *text = NULL;
	char why[512];

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "contents"))
	{
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "text");

		if (cJSON_IsString(t)) {
			text = t;
			break;
		}
	}
	if (!text) {
		snprintf(why, sizeof(why), "%s: resources/read returned no text content%s", f->uri,
			 cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "contents")) > 0
				 ? " (binary files are not loaded)"
				 : "");
		cJSON_Delete(root);
		load_end(ld, -EBADMSG, why);
		return;
	}
	len = strlen(text->valuestring);
	if (len > MCP_SKILL_FILE_MAX || ld->total + len > MCP_SKILL_TOTAL_MAX) {
		snprintf(why, sizeof(why), "%s: over the size a skill may have", f->uri);
		cJSON_Delete(root);
		load_end(ld, -EFBIG, why);
		return;
	}
	/* Verified before it is kept: content that fails is used for nothing. */
	if (mcp_skill_verify(&ld->sk, f, text->valuestring, len, why, sizeof(why)) < 0) {
		cJSON_Delete(root);
		load_end(ld, -EBADMSG, why);
		return;
	}
	ld->got[ld->n_got].path = xstrdup(mcp_skill_rel_path(&ld->sk, f->uri));
	ld->got[ld->n_got].data = xstrndup(text->valuestring, len);
	ld->got[ld->n_got].len = len;
	ld->n_got++;
	ld->total += len;
	cJSON_Delete(root);
	ld->next++;
	read_next(ld);
}

static void on_read_error(struct pending *p, const char *why, const char *rpc, size_t len,
			  bool timeout)
{
	struct load *ld = p->arg;
	char *text =
		xasprintf("resources/read of %s failed: %s%s%.*s",
			  ld->sk.files[ld->order[ld->next]].uri, timeout ? "timed out" : why,
			  rpc ? ": " : "", rpc ? (int)(len > 300 ? 300 : len) : 0, rpc ? rpc : "");

	load_end(ld, timeout ? -ETIMEDOUT : -EIO, text);
	free(text);
}

static void read_next(struct load *ld)
{
	cJSON *params;

	if (ld->next == ld->sk.n_files) {
		load_end(ld, 0, NULL);
		return;
	}
	params = cJSON_CreateObject();
	cJSON_AddStringToObject(params, "uri", ld->sk.files[ld->order[ld->next]].uri);
	mcp_server_request(ld->s, "resources/read", params, on_read_result, on_read_error, ld);
}

static void copy_skill(struct mcp_skill *to, const struct mcp_skill *from)
{
	*to = *from;
	to->uri = xstrdup(from->uri);
	to->name = xstrdup(from->name);
	to->description = xstrdup(from->description);
	to->frontmatter_json = xstrdup(from->frontmatter_json);
	to->files = xcalloc(from->n_files + 1, sizeof(*to->files));
	for (size_t i = 0; i < from->n_files; i++) {
		to->files[i] = from->files[i];
		to->files[i].uri = xstrdup(from->files[i].uri);
	}
}

int mcp_skill_load(struct mcp *m, const char *server, const struct mcp_skill *sk,
		   mcp_skill_load_cb cb, void *arg)
{
	struct mcp_server *s;
	struct load *ld;
	size_t i, k = 1, md = SIZE_MAX;
	int rc = usable(m, server, &s);

	if (rc < 0)
		return rc;
	for (i = 0; i < sk->n_files; i++) {
		if (!mcp_skill_rel_path(sk, sk->files[i].uri))
			return -EINVAL; /* a file outside the skill's folder */
		if (strcmp(sk->files[i].uri, sk->uri) == 0)
			md = i;
	}
	if (sk->dynamic || md == SIZE_MAX)
		return -EINVAL;
	ld = xcalloc(1, sizeof(*ld));
	ld->s = s;
	copy_skill(&ld->sk, sk);
	ld->order = xcalloc(sk->n_files, sizeof(*ld->order));
	ld->order[0] = md;
	for (i = 0; i < sk->n_files; i++)
		if (i != md)
			ld->order[k++] = i;
	ld->got = xcalloc(sk->n_files, sizeof(*ld->got));
	ld->cb = cb;
	ld->arg = arg;
	read_next(ld);
	return 0;
}
