/* config_refs: what the value handlers (config_types.c) and the checks record as they walk:
 * the key path of messages (cfg_path_push/pop), the references to check after the load (a
 * model group, a fallback, a Telegram chat: cfg_add_ref), the secret values to redact from
 * the log (cfg_note_secret), and a scalar's environment references resolved (cfg_resolve).
 * It calls nothing of the handlers.
 */
#include "core/config_int.h"
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------------------------
 * Paths, references, secrets
 */

size_t cfg_path_push(struct ctx *c, const char *fmt, ...)
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

size_t cfg_path_key(struct ctx *c, const char *key)
{
	char tmp[SHOW_LEN];

	return cfg_path_push(c, "%s%s", c->path_len ? "." : "", cfg_show(key, tmp));
}

size_t cfg_path_index(struct ctx *c, size_t i)
{
	return cfg_path_push(c, "[%zu]", i);
}

void cfg_path_pop(struct ctx *c, size_t len)
{
	c->path_len = len;
	c->path[len] = '\0';
}

/* A message about map's key, prefixed with the key's path, at the key's value. */

void cfg_key_err(struct ctx *c, const struct node *map, const char *key, bool error,
		 const char *fmt, ...)
{
	size_t at = cfg_path_key(c, key);
	va_list ap;

	va_start(ap, fmt);
	cfg_prefixed(c, cfg_loc(map, key), error, fmt, ap);
	va_end(ap);
	cfg_path_pop(c, at);
}

void cfg_add_ref(struct ctx *c, enum ref_kind kind, const struct node *at, const char *name)
{
	if (c->defaults)
		return;
	c->refs = cfg_grow(c->refs, &c->alloc_refs, c->n_refs, sizeof(*c->refs));
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
			cfg_err(c, at,
				"more than %d distinct secret values; log redaction holds no more",
				CONFIG_MAX_SECRETS);
		c->secret_at = at;
		return;
	}
	c->secrets = cfg_grow(c->secrets, &c->alloc_secrets, c->n_secrets, sizeof(*c->secrets));
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

void cfg_note_secret(struct ctx *c, const struct node *at, const char *s)
{
	note_secret(c, at, s);
}

/* ------------------------------------------------------------------------------------------
 * Environment references: `os.environ/NAME` (a whole scalar, LiteLLM's form) and `${NAME}`,
 * `${NAME:-default}`, `${NAME-default}` (anywhere, docker compose's forms; `$${` is a literal
 * `${`). Rejected: `:?`, `:+` and nested references, which no LiteLLM config in the sample used.
 */

bool cfg_env_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= ENV_NAME_LEN || isdigit((unsigned char)s[0]))
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

const char *cfg_getenv(const struct ctx *c, const char *name)
{
	const struct node *root = c->tree.root;
	const struct node *m =
		root && root->type == N_MAP ? cfg_map_get(root, "environment_variables") : NULL;
	const struct node *v = m && m->type == N_MAP ? cfg_map_get(m, name) : NULL;

	/* LiteLLM sets these into os.environ before it reads the rest of the file. */
	if (v && v->type == N_SCALAR && !cfg_is_null(v))
		return v->text;
	return getenv(name);
}

/* An F_INACTIVE_ENV value whose variable `name` is unset: warns at n, notes the name for
 * cfg_shapes_unset_deactivate() (config_shapes.c), which marks the entry inactive after its
 * walk, and returns 0 (the value is empty). */
static int unset_inactive(struct ctx *c, const struct node *n, const char *name)
{
	cfg_warn(c, n,
		 "environment variable %s is not set (referenced here): LiteLLM starts with no "
		 "value here; the deployment loads inactive until it is set",
		 name);
	if (!c->unset_env)
		c->unset_env = xstrdup(name);
	return 0;
}

/* Appends the value of the variable name[0..len) to out. def (NULL = none) is the default of
 * `${NAME:-def}` (used when the variable is unset or empty, def_if_empty) or `${NAME-def}`
 * (only when unset), as in POSIX sh and docker compose. */
static int env_append(struct ctx *c, const struct node *n, const char *name, size_t len,
		      const char *def, size_t def_len, bool def_if_empty, unsigned flags,
		      struct buf *out)
{
	char key[ENV_NAME_LEN], tmp[SHOW_LEN];
	const char *v;

	if (!cfg_env_name_ok(name, len)) {
		char *bad = xstrndup(name, len);

		cfg_err(c, n,
			"'%s' is not a valid environment variable name (letters, digits and '_', "
			"not starting with a digit)",
			cfg_show(bad, tmp));
		free(bad);
		return -EINVAL;
	}
	memcpy(key, name, len);
	key[len] = '\0';
	v = cfg_getenv(c, key);
	if (def && (!v || (def_if_empty && !*v))) {
		buf_append(out, def, def_len);
		return 0;
	}
	if (!v && (flags & F_INACTIVE_ENV))
		return unset_inactive(c, n, key);
	if (!v && (flags & F_LOCK_ENV)) {
		cfg_warn(
			c, n,
			"environment variable %s is not set (referenced here): LiteLLM would serve "
			"without authentication; hermetic starts with its router locked (only "
			"`keys` authenticate, every other request is answered 401 naming %s) until "
			"it is set",
			key, key);
		if (!c->locked_env)
			c->locked_env = xstrdup(key);
		return 0;
	}
	if (!v && (flags & F_SOFT_ENV)) {
		cfg_warn(c, n,
			 "environment variable %s is not set (referenced here): the deployment "
			 "loads, and its calls go without this value (the provider will refuse "
			 "them); export it or put it in the Secret",
			 key);
		return 0;
	}
	if (!v) {
		cfg_err(c, n,
			"environment variable %s is not set (referenced here); export it or put it "
			"in the Secret",
			key);
		return -EINVAL;
	}
	if (flags & F_SECRET)
		note_secret(c, n, v);
	buf_puts(out, v);
	return 0;
}

/* One `${...}` body (between the braces): NAME, NAME:-default or NAME-default. */
static int env_braces(struct ctx *c, const struct node *n, const char *body, size_t len,
		      unsigned flags, struct buf *out)
{
	size_t name_len = 0;
	char tmp[SHOW_LEN];
	char *bad;

	while (name_len < len && (isalnum((unsigned char)body[name_len]) || body[name_len] == '_'))
		name_len++;
	if (name_len == len && len > 0)
		return env_append(c, n, body, len, NULL, 0, false, flags, out);
	if (name_len > 0 && body[name_len] == ':' && name_len + 1 < len &&
	    body[name_len + 1] == '-')
		return env_append(c, n, body, name_len, body + name_len + 2, len - name_len - 2,
				  true, flags, out);
	if (name_len > 0 && body[name_len] == '-')
		return env_append(c, n, body, name_len, body + name_len + 1, len - name_len - 1,
				  false, flags, out);
	bad = xstrndup(body, len);
	cfg_err(c, n,
		"'${%s}' is not a form hermetic reads: write ${NAME}, ${NAME:-default} or "
		"${NAME-default}",
		cfg_show(bad, tmp));
	free(bad);
	return -EINVAL;
}

static int resolve_braces(struct ctx *c, const struct node *n, unsigned flags, struct buf *out)
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
			cfg_err(c, n,
				"'${' without a closing '}' (write '$${' for a literal '${')");
			return -EINVAL;
		}
		rc = env_braces(c, n, p + 2, (size_t)(end - p - 2), flags, out);
		if (rc < 0)
			return rc;
		s = end + 1;
	}
	buf_puts(out, s);
	return 0;
}

/* The scalar's value with references resolved (malloc'd), or NULL after an error. flags:
 * F_SECRET registers what the environment gave for redaction; F_SOFT_ENV makes an unset
 * variable a warning and an empty value. */
char *cfg_resolve(struct ctx *c, const struct node *n, unsigned flags)
{
	struct buf out;
	int rc;

	buf_init(&out, 0);
	if (strncmp(n->text, "os.environ/", 11) == 0)
		rc = env_append(c, n, n->text + 11, strlen(n->text + 11), NULL, 0, false, flags,
				&out);
	else
		rc = resolve_braces(c, n, flags, &out);
	if (rc < 0) {
		buf_finish(&out);
		return NULL;
	}
	buf_puts(&out, "");
	return buf_steal(&out);
}
