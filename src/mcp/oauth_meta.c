/* oauth_meta: the pure parts of MCP's OAuth 2.1 (see oauth_meta.h). The discovery orders are
 * the spec's (2025-11-25, "Authorization Server Metadata Discovery" and "Protected Resource
 * Metadata Discovery"), checked against the TypeScript SDK's src/client/auth.ts. Nothing here
 * does I/O; every input is capped by the caller (OAUTH_DOC_CAP) or here (headers, queries).
 */
#include "mcp/oauth_meta.h"
#include "core/json.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEADER_CAP 8192

static void set_err(char *err, size_t err_len, const char *what)
{
	if (err_len)
		snprintf(err, err_len, "%s", what);
}

/* challenge */

static bool tchar(char c)
{
	return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

/* Reads one auth-param at *p: name=token or name="quoted". Returns false at the end of the
 * challenge (another scheme starts, or the input ends). */
static bool next_param(const char **p, char **name, char **value)
{
	const char *s = *p, *n0;
	struct buf v;

	while (*s == ' ' || *s == '\t' || *s == ',')
		s++;
	n0 = s;
	while (tchar(*s) && *s != '=')
		s++;
	if (s == n0 || *s != '=') /* a new scheme (a token and a space), or the end */
		return false;
	*name = xstrndup(n0, (size_t)(s - n0));
	s++;
	buf_init(&v, 0);
	if (*s == '"') {
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && s[1])
				s++;
			buf_append(&v, s, 1);
		}
		if (*s == '"')
			s++;
	} else {
		while (*s && *s != ',' && *s != ' ' && *s != '\t')
			buf_append(&v, s++, 1);
	}
	*value = buf_steal(&v);
	*p = s;
	return true;
}

int oauth_challenge_parse(const char *header, struct oauth_challenge *out)
{
	const char *p = header;
	bool found = false;

	memset(out, 0, sizeof(*out));
	if (!header || strlen(header) > HEADER_CAP)
		return -1;
	for (;;) {
		const char *scheme;
		size_t len;
		char *name, *value;
		bool bearer, dpop;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		scheme = p;
		while (tchar(*p))
			p++;
		len = (size_t)(p - scheme);
		bearer = len == 6 && strncasecmp(scheme, "Bearer", 6) == 0;
		dpop = len == 4 && strncasecmp(scheme, "DPoP", 4) == 0; /* RFC 9449 7.1 */
		if (!len)
			break;
		found |= bearer || dpop;
		out->dpop |= dpop;
		while (next_param(&p, &name, &value)) {
			char **slot = NULL;

			if ((bearer || dpop) && strcasecmp(name, "resource_metadata") == 0)
				slot = &out->resource_metadata;
			else if ((bearer || dpop) && strcasecmp(name, "scope") == 0)
				slot = &out->scope;
			else if (bearer && strcasecmp(name, "error") == 0)
				slot = &out->error;
			else if (dpop && strcasecmp(name, "error") == 0)
				slot = &out->dpop_error;
			if (slot && !*slot) {
				*slot = value;
				value = NULL;
			}
			free(name);
			free(value);
		}
	}
	/* A DPoP challenge's error stands for both when there is no Bearer one. */
	if (!out->error && out->dpop_error)
		out->error = xstrdup(out->dpop_error);
	if (!found)
		oauth_challenge_finish(out);
	return found ? 0 : -1;
}

void oauth_challenge_finish(struct oauth_challenge *c)
{
	if (!c)
		return;
	free(c->resource_metadata);
	free(c->scope);
	free(c->error);
	free(c->dpop_error);
	memset(c, 0, sizeof(*c));
}

/* URLs */

/* Splits an http(s) URL: the length of its origin, and its path (without query or fragment,
 * "" for none or "/"). */
static int split_url(const char *url, size_t *origin_len, const char **path, size_t *path_len)
{
	const char *host, *end;

	if (!url)
		return -1;
	if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else
		return -1;
	end = host + strcspn(host, "/?#");
	if (end == host)
		return -1;
	*origin_len = (size_t)(end - url);
	*path = end;
	*path_len = *end == '/' ? strcspn(end, "?#") : 0;
	while (*path_len && (*path)[*path_len - 1] == '/')
		(*path_len)--;
	return 0;
}

char *oauth_origin(const char *url)
{
	size_t olen, plen;
	const char *path;

	if (split_url(url, &olen, &path, &plen) < 0)
		return NULL;
	return xstrndup(url, olen);
}

size_t oauth_prm_urls(const char *server_url, const char *from_challenge, char *out[OAUTH_MAX_URLS])
{
	size_t olen, plen, n = 0;
	const char *path;

	if (from_challenge && *from_challenge) {
		out[n++] = xstrdup(from_challenge);
		return n;
	}
	if (split_url(server_url, &olen, &path, &plen) < 0)
		return 0;
	if (plen)
		out[n++] = xasprintf("%.*s/.well-known/oauth-protected-resource%.*s", (int)olen,
				     server_url, (int)plen, path);
	out[n++] = xasprintf("%.*s/.well-known/oauth-protected-resource", (int)olen, server_url);
	return n;
}

size_t oauth_as_urls(const char *issuer, char *out[OAUTH_MAX_URLS])
{
	size_t olen, plen, n = 0;
	const char *path;

	if (split_url(issuer, &olen, &path, &plen) < 0)
		return 0;
	if (!plen) {
		out[n++] =
			xasprintf("%.*s/.well-known/oauth-authorization-server", (int)olen, issuer);
		out[n++] = xasprintf("%.*s/.well-known/openid-configuration", (int)olen, issuer);
		return n;
	}
	out[n++] = xasprintf("%.*s/.well-known/oauth-authorization-server%.*s", (int)olen, issuer,
			     (int)plen, path);
	out[n++] = xasprintf("%.*s/.well-known/openid-configuration%.*s", (int)olen, issuer,
			     (int)plen, path);
	out[n++] = xasprintf("%.*s%.*s/.well-known/openid-configuration", (int)olen, issuer,
			     (int)plen, path);
	return n;
}

bool oauth_resource_allowed(const char *server_url, const char *resource)
{
	size_t so, sp, ro, rp;
	const char *spath, *rpath;

	if (split_url(server_url, &so, &spath, &sp) < 0 ||
	    split_url(resource, &ro, &rpath, &rp) < 0)
		return false;
	if (so != ro || strncasecmp(server_url, resource, so) != 0)
		return false;
	if (rp > sp || strncmp(spath, rpath, rp) != 0)
		return false;
	return rp == sp || spath[rp] == '/';
}

/* documents */

static char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) && v->valuestring[0] ? xstrdup(v->valuestring) : NULL;
}

/* A JSON array of strings joined with ' ', or NULL when absent or empty. */
static char *joined(const cJSON *o, const char *key)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *it;
	struct buf b;

	if (!cJSON_IsArray(a))
		return NULL;
	buf_init(&b, 0);
	cJSON_ArrayForEach(it, a)
	{
		if (!cJSON_IsString(it) || !it->valuestring[0] || strchr(it->valuestring, ' '))
			continue;
		if (b.len)
			buf_puts(&b, " ");
		buf_puts(&b, it->valuestring);
	}
	if (!b.len) {
		buf_finish(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static bool http_url(const char *s)
{
	size_t olen, plen;
	const char *path;

	return s && split_url(s, &olen, &path, &plen) == 0;
}

static cJSON *parse_object(const char *json, size_t len, char *err, size_t err_len)
{
	cJSON *o;

	if (!json || len > OAUTH_DOC_CAP) {
		set_err(err, err_len, "the document is missing or over 64 KiB");
		return NULL;
	}
	o = json_parse(json, len, 0, NULL);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		set_err(err, err_len, "the document is not a JSON object");
		return NULL;
	}
	return o;
}

int oauth_prm_parse(const char *json, size_t len, struct oauth_prm *out, char *err, size_t err_len)
{
	cJSON *o = parse_object(json, len, err, err_len);
	const cJSON *as;

	memset(out, 0, sizeof(*out));
	if (!o)
		return -1;
	as = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "authorization_servers"), 0);
	if (cJSON_IsString(as) && http_url(as->valuestring))
		out->auth_server = xstrdup(as->valuestring);
	out->resource = str_of(o, "resource");
	out->scopes = joined(o, "scopes_supported");
	cJSON_Delete(o);
	if (!out->auth_server) {
		oauth_prm_finish(out);
		set_err(err, err_len, "it names no authorization server (authorization_servers)");
		return -1;
	}
	return 0;
}

void oauth_prm_finish(struct oauth_prm *p)
{
	if (!p)
		return;
	free(p->resource);
	free(p->auth_server);
	free(p->scopes);
	memset(p, 0, sizeof(*p));
}

int oauth_as_parse(const char *json, size_t len, struct oauth_as *out, char *err, size_t err_len)
{
	cJSON *o = parse_object(json, len, err, err_len);
	const cJSON *v;

	memset(out, 0, sizeof(*out));
	if (!o)
		return -1;
	out->issuer = str_of(o, "issuer");
	out->authorization_endpoint = str_of(o, "authorization_endpoint");
	out->token_endpoint = str_of(o, "token_endpoint");
	out->registration_endpoint = str_of(o, "registration_endpoint");
	out->scopes = joined(o, "scopes_supported");
	out->auth_methods = joined(o, "token_endpoint_auth_methods_supported");
	out->dpop_algs = joined(o, "dpop_signing_alg_values_supported");
	/* a list that names nothing usable says no algorithm at all, unlike no list */
	if (!out->dpop_algs &&
	    cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "dpop_signing_alg_values_supported")))
		out->dpop_algs = xstrdup("");
	out->cimd = cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(o, "client_id_metadata_document_supported"));
	out->iss_response = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		o, "authorization_response_iss_parameter_supported"));
	{
		char *m = joined(o, "code_challenge_methods_supported");
		char *g = joined(o, "grant_types_supported");

		out->s256 = oauth_scope_has(m, "S256");
		v = cJSON_GetObjectItemCaseSensitive(o, "grant_types_supported");
		out->refresh = !v || oauth_scope_has(g, "refresh_token");
		free(m);
		free(g);
	}
	cJSON_Delete(o);
	if (!http_url(out->token_endpoint) ||
	    (out->authorization_endpoint && !http_url(out->authorization_endpoint)) ||
	    (out->registration_endpoint && !http_url(out->registration_endpoint))) {
		oauth_as_finish(out);
		set_err(err, err_len, "its token_endpoint (or another endpoint) is no http(s) URL");
		return -1;
	}
	return 0;
}

int oauth_as_default(const char *base, struct oauth_as *out)
{
	char *origin = oauth_origin(base);

	memset(out, 0, sizeof(*out));
	if (!origin)
		return -1;
	out->authorization_endpoint = xasprintf("%s/authorize", origin);
	out->token_endpoint = xasprintf("%s/token", origin);
	out->registration_endpoint = xasprintf("%s/register", origin);
	out->s256 = true;
	out->refresh = true;
	free(origin);
	return 0;
}

void oauth_as_finish(struct oauth_as *a)
{
	if (!a)
		return;
	free(a->issuer);
	free(a->authorization_endpoint);
	free(a->token_endpoint);
	free(a->registration_endpoint);
	free(a->scopes);
	free(a->auth_methods);
	free(a->dpop_algs);
	memset(a, 0, sizeof(*a));
}

/* scopes */

bool oauth_scope_has(const char *list, const char *word)
{
	size_t wl = strlen(word);
	const char *p = list;

	while (p && *p) {
		size_t l = strcspn(p, " ");

		if (l == wl && strncmp(p, word, wl) == 0)
			return true;
		p += l;
		while (*p == ' ')
			p++;
	}
	return false;
}

char *oauth_scope_union(const char *a, const char *b)
{
	struct buf out;
	const char *p = b;

	buf_init(&out, 0);
	if (a && *a)
		buf_puts(&out, a);
	while (p && *p) {
		size_t l = strcspn(p, " ");
		char *w = xstrndup(p, l);

		if (l && !oauth_scope_has(buf_str(&out), w)) {
			if (out.len)
				buf_puts(&out, " ");
			buf_puts(&out, w);
		}
		free(w);
		p += l;
		while (*p == ' ')
			p++;
	}
	if (!out.len) {
		buf_finish(&out);
		return NULL;
	}
	return buf_steal(&out);
}

char *oauth_pick_scope(const char *configured, const char *challenge, const char *prm_scopes,
		       const char *as_scopes, bool want_offline)
{
	const char *base = configured && *configured   ? configured
			   : challenge && *challenge   ? challenge
			   : prm_scopes && *prm_scopes ? prm_scopes
						       : NULL;

	if (want_offline && oauth_scope_has(as_scopes, "offline_access"))
		return oauth_scope_union(base, "offline_access");
	return base ? xstrdup(base) : NULL;
}

/* encodings */

void oauth_form_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[3] = {'%', hex[c >> 4], hex[c & 15]};

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			buf_append(b, s, 1);
		else
			buf_append(b, e, 3);
	}
}

void oauth_b64url(struct buf *b, const void *data, size_t len)
{
	size_t start = b->len, i;

	buf_base64(b, data, len);
	while (b->len > start && b->data[b->len - 1] == '=')
		b->len--;
	for (i = start; i < b->len; i++)
		b->data[i] = b->data[i] == '+' ? '-' : b->data[i] == '/' ? '_' : b->data[i];
	buf_reserve(b, 1);
	b->data[b->len] = '\0';
}

char *oauth_random_b64url(size_t n)
{
	unsigned char raw[48];
	struct buf b;

	if (n > sizeof(raw) || random_fill(NULL, raw, n) < 0)
		abort(); /* getrandom(2) does not fail on Linux >= 3.17 */
	buf_init(&b, 0);
	oauth_b64url(&b, raw, n);
	return buf_steal(&b);
}

char *oauth_pkce_challenge(const char *verifier)
{
	unsigned char md[32];
	struct buf b;

#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256((const unsigned char *)verifier, strlen(verifier), md, 0);
#else
	mbedtls_sha256_ret((const unsigned char *)verifier, strlen(verifier), md, 0);
#endif
	buf_init(&b, 0);
	oauth_b64url(&b, md, sizeof(md));
	return buf_steal(&b);
}

/* redirect */

static char *form_decode(const char *s, size_t len)
{
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi = i + 2 < len ? hex_digit(s[i + 1]) : -1;
			int lo = i + 2 < len ? hex_digit(s[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				buf_finish(&b);
				return NULL;
			}
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		buf_append(&b, &c, 1);
	}
	return buf_steal(&b);
}

int oauth_redirect_parse(const char *query, struct oauth_redirect *out)
{
	const char *p = query;

	memset(out, 0, sizeof(*out));
	if (!query || strlen(query) > HEADER_CAP)
		return -1;
	while (*p) {
		size_t l = strcspn(p, "&#"), k = strcspn(p, "=");
		char **slot = NULL;

		if (k < l) {
			if (k == 4 && strncmp(p, "code", 4) == 0)
				slot = &out->code;
			else if (k == 5 && strncmp(p, "state", 5) == 0)
				slot = &out->state;
			else if (k == 3 && strncmp(p, "iss", 3) == 0)
				slot = &out->iss;
			else if (k == 5 && strncmp(p, "error", 5) == 0)
				slot = &out->error;
			else if (k == 17 && strncmp(p, "error_description", 17) == 0)
				slot = &out->error_description;
			if (slot && *slot) /* a repeated parameter is an attack or a bug */
				goto bad;
			if (slot) {
				*slot = form_decode(p + k + 1, l - k - 1);
				if (!*slot)
					goto bad;
			}
		}
		if (p[l] != '&')
			break;
		p += l + 1;
	}
	return 0;
bad:
	oauth_redirect_finish(out);
	return -1;
}

void oauth_redirect_finish(struct oauth_redirect *r)
{
	if (!r)
		return;
	free(r->code);
	free(r->state);
	free(r->iss);
	free(r->error);
	free(r->error_description);
	memset(r, 0, sizeof(*r));
}

int oauth_redirect_check(const struct oauth_redirect *r, const char *state, const char *issuer,
			 bool iss_required, char *err, size_t err_len)
{
	if (!r->state || !secret_equal(r->state, state)) {
		set_err(err, err_len,
			"the redirect's state is not the one sent (a forged or stale redirect)");
		return -1;
	}
	if (r->iss ? !issuer || strcmp(r->iss, issuer) != 0 : iss_required) {
		set_err(err, err_len,
			r->iss ? "the redirect's iss is not the authorization server's issuer "
				 "(RFC 9207: a mix-up)"
			       : "the redirect has no iss though the authorization server says it "
				 "sends one (RFC 9207)");
		return -1;
	}
	if (r->error) {
		if (err_len)
			snprintf(err, err_len, "the authorization server refused: %.64s%s%.200s",
				 r->error, r->error_description ? ": " : "",
				 r->error_description ? r->error_description : "");
		return -1;
	}
	if (!r->code || !*r->code) {
		set_err(err, err_len, "the redirect carries no code");
		return -1;
	}
	return 0;
}

/* tokens */

int oauth_token_parse(long status, const char *json, size_t len, struct oauth_token *out, char *err,
		      size_t err_len)
{
	cJSON *o;
	const cJSON *v;

	memset(out, 0, sizeof(*out));
	o = parse_object(json, len, err, err_len);
	if (status != 200 || !o) {
		char *e = o ? str_of(o, "error") : NULL,
		     *d = o ? str_of(o, "error_description") : NULL;

		if (err_len)
			snprintf(err, err_len,
				 "the token endpoint answered HTTP %ld%s%.64s%s%.200s", status,
				 e ? ": " : "", e ? e : "", d ? ": " : "", d ? d : "");
		free(e);
		free(d);
		cJSON_Delete(o);
		return -1;
	}
	out->access_token = str_of(o, "access_token");
	out->refresh_token = str_of(o, "refresh_token");
	out->scope = str_of(o, "scope");
	out->token_type = str_of(o, "token_type");
	v = cJSON_GetObjectItemCaseSensitive(o, "expires_in");
	if (cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 1e9)
		out->expires_in_s = (long long)v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(o, "token_type");
	if (!out->access_token || !cJSON_IsString(v) ||
	    (strcasecmp(v->valuestring, "Bearer") != 0 &&
	     strcasecmp(v->valuestring, "DPoP") != 0)) {
		set_err(err, err_len,
			out->access_token ? "the token endpoint's token_type is not Bearer"
					  : "the token endpoint's answer has no access_token");
		oauth_token_finish(out);
		cJSON_Delete(o);
		return -1;
	}
	cJSON_Delete(o);
	return 0;
}

void oauth_token_finish(struct oauth_token *t)
{
	if (!t)
		return;
	free(t->access_token);
	free(t->refresh_token);
	free(t->scope);
	free(t->token_type);
	memset(t, 0, sizeof(*t));
}
