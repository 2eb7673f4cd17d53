/* oauth_meta: the pure parts of MCP's OAuth 2.1 (the MCP authorization spec, 2025-11-25, with
 * the 2025-03-26 fallbacks): a WWW-Authenticate challenge, where the protected resource and
 * authorization server metadata live and in which order to ask, what the metadata says, which
 * scope to ask for, PKCE, and the query of the redirect. Plain values in, plain values out;
 * mcp/oauth.c's state machine calls them (tests/test_oauth_meta.c has their tables).
 */
#ifndef HERMETIC_OAUTH_META_H
#define HERMETIC_OAUTH_META_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/* Most a metadata document, registration or token answer may be: larger is refused. */
#define OAUTH_DOC_CAP (64 * 1024)
/* Most candidate URLs one discovery step tries. */
#define OAUTH_MAX_URLS 3

/* A Bearer or DPoP challenge's parameters (RFC 6750 3, RFC 9728 5.1, RFC 9449 7.1); each
 * malloc'd or NULL; the first value of a parameter wins. */
struct oauth_challenge {
	char *resource_metadata;
	char *scope;
	char *error;	  /* "invalid_token", "insufficient_scope" (Bearer's, else DPoP's) */
	char *dpop_error; /* the DPoP challenge's: "use_dpop_nonce", "invalid_dpop_proof" */
	bool dpop;	  /* there is a DPoP challenge */
};

/* Parses a WWW-Authenticate value: the Bearer and DPoP challenges' auth-params (quoted or
 * token values, any order, other schemes skipped). Returns 0, or -1 when there is neither
 * (out is then empty). Input over 8 KiB is refused. */
int oauth_challenge_parse(const char *header, struct oauth_challenge *out);
void oauth_challenge_finish(struct oauth_challenge *c);

/* The scheme://host[:port] of an http(s) URL, malloc'd; NULL when url is not one. */
char *oauth_origin(const char *url);

/* Where to ask for the protected resource metadata of server_url, in order: the challenge's
 * resource_metadata when given (then only it), else the path-based well-known URL (when the
 * URL has a path), then the root one. Fills out (malloc'd each); returns how many. */
size_t oauth_prm_urls(const char *server_url, const char *from_challenge,
		      char *out[OAUTH_MAX_URLS]);
/* Where to ask for an authorization server's metadata (RFC 8414 3.1 and OpenID Connect
 * Discovery, with the MCP spec's path insertion): for an issuer with a path, the OAuth and
 * OpenID URLs with the well-known part inserted, then OpenID's appended; without a path, the
 * OAuth then the OpenID root URLs. Returns how many (0 = not an http(s) URL). */
size_t oauth_as_urls(const char *issuer, char *out[OAUTH_MAX_URLS]);

/* Whether the protected resource metadata's resource may stand for server_url (RFC 9728 3.3,
 * the TypeScript SDK's rule): same origin, and its path a prefix of the server's at a '/'. */
bool oauth_resource_allowed(const char *server_url, const char *resource);

/* Protected resource metadata (RFC 9728), what the client uses of it. */
struct oauth_prm {
	char *resource;
	char *auth_server; /* the first of authorization_servers */
	char *scopes;	   /* scopes_supported joined with ' ', NULL if absent */
};
/* Parses a document; 0, or -1 with why in err (not JSON, no authorization_servers). */
int oauth_prm_parse(const char *json, size_t len, struct oauth_prm *out, char *err, size_t err_len);
void oauth_prm_finish(struct oauth_prm *p);

/* Authorization server metadata (RFC 8414 2), what the client uses of it. */
struct oauth_as {
	char *issuer;
	char *authorization_endpoint;
	char *token_endpoint;
	char *registration_endpoint; /* NULL = no dynamic registration */
	char *scopes;		     /* scopes_supported joined with ' ', NULL if absent */
	char *auth_methods;	     /* token_endpoint_auth_methods_supported joined, or NULL */
	bool cimd;		     /* client_id_metadata_document_supported */
	bool iss_response;	     /* authorization_response_iss_parameter_supported */
	bool s256;		     /* code_challenge_methods_supported has S256 */
	bool refresh;		     /* grant_types_supported has refresh_token (absent: yes) */
	/* dpop_signing_alg_values_supported joined with ' ' ("" for an empty list), or NULL */
	char *dpop_algs;
};
/* Parses a document; 0, or -1 with why in err (not JSON, no token_endpoint, endpoints that
 * are not http(s) URLs). */
int oauth_as_parse(const char *json, size_t len, struct oauth_as *out, char *err, size_t err_len);
/* The 2025-03-26 fallback when no metadata exists: the endpoints at the origin of base. */
int oauth_as_default(const char *base, struct oauth_as *out);
void oauth_as_finish(struct oauth_as *a);

/* The scope to ask for (the spec's scope selection): configured (space-joined) when set, else
 * the challenge's, else the resource's scopes_supported, else none (NULL); offline_access is
 * added when want_offline and the authorization server lists it in as_scopes. malloc'd. */
char *oauth_pick_scope(const char *configured, const char *challenge, const char *prm_scopes,
		       const char *as_scopes, bool want_offline);
/* Whether the space-separated list has word. */
bool oauth_scope_has(const char *list, const char *word);
/* a and b joined, without repeating a scope of a (step-up: what we had plus what is asked). */
char *oauth_scope_union(const char *a, const char *b);

/* Appends s percent-encoded for application/x-www-form-urlencoded and URL queries (every byte
 * but A-Z a-z 0-9 - . _ ~). */
void oauth_form_escape(struct buf *b, const char *s);
/* Appends data as base64url without padding (RFC 7636 appendix A). */
void oauth_b64url(struct buf *b, const void *data, size_t len);
/* n (<= 48) random bytes as base64url, malloc'd (state, verifier, jti). */
char *oauth_random_b64url(size_t n);
/* The S256 code challenge of verifier, malloc'd. */
char *oauth_pkce_challenge(const char *verifier);

/* The parameters of the redirect back to us (its query, after '?'), percent-decoded and
 * malloc'd, NULL when absent. Returns 0, or -1 when the query is malformed or over 8 KiB. */
struct oauth_redirect {
	char *code, *state, *iss, *error, *error_description;
};
int oauth_redirect_parse(const char *query, struct oauth_redirect *out);
void oauth_redirect_finish(struct oauth_redirect *r);
/* Checks a redirect against what we sent (state) and expect (issuer, when the server says it
 * sends iss: RFC 9207): 0 and the code, or -1 with why in err. */
int oauth_redirect_check(const struct oauth_redirect *r, const char *state, const char *issuer,
			 bool iss_required, char *err, size_t err_len);

/* A token endpoint's answer (RFC 6749 5.1). */
struct oauth_token {
	char *access_token;
	char *refresh_token;	/* NULL if none */
	char *scope;		/* NULL if the answer did not say */
	char *token_type;	/* "Bearer" or "DPoP" as the server spelled it */
	long long expires_in_s; /* 0 = not said */
};
/* Parses a token answer of HTTP status; 0, or -1 with the server's error (RFC 6749 5.2) or
 * what is wrong in err (never a token). */
int oauth_token_parse(long status, const char *json, size_t len, struct oauth_token *out, char *err,
		      size_t err_len);
void oauth_token_finish(struct oauth_token *t);

#endif
