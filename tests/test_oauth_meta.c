/* oauth_meta: the decision tables of MCP's OAuth 2.1 (challenge, discovery order, resource
 * check, scope selection, PKCE, redirect and token answers). */
#include "test.h"
#include "mcp/oauth_meta.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

static void challenge_params_are_read_quoted_or_not_in_any_order(void **state)
{
	static const struct {
		const char *header, *rm, *scope, *error;
		int rc;
	} rows[] = {
		{"Bearer resource_metadata=\"https://r/.well-known/oauth-protected-resource/mcp\"",
		 "https://r/.well-known/oauth-protected-resource/mcp", NULL, NULL, 0},
		{"Bearer error=\"insufficient_scope\", scope=\"a b\", "
		 "resource_metadata=\"http://x/m\"",
		 "http://x/m", "a b", "insufficient_scope", 0},
		{"bearer scope=read", NULL, "read", NULL, 0},
		/* another scheme first, with its own params: skipped */
		{"Basic realm=\"x\", Bearer scope=\"s\"", NULL, "s", NULL, 0},
		{"Bearer scope=\"q\\\"uoted\"", NULL, "q\"uoted", NULL, 0},
		{"Bearer", NULL, NULL, NULL, 0},
		{"Basic realm=\"x\"", NULL, NULL, NULL, -1},
		{"", NULL, NULL, NULL, -1},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct oauth_challenge c;
		int rc = oauth_challenge_parse(rows[i].header, &c);

		assert_int_equal(rc, rows[i].rc);
		if (rows[i].rm)
			assert_string_equal(c.resource_metadata, rows[i].rm);
		else
			assert_null(c.resource_metadata);
		if (rows[i].scope)
			assert_string_equal(c.scope, rows[i].scope);
		else
			assert_null(c.scope);
		if (rows[i].error)
			assert_string_equal(c.error, rows[i].error);
		else
			assert_null(c.error);
		oauth_challenge_finish(&c);
	}
}

static void check_urls(size_t n, char **got, const char *const *want)
{
	size_t i;

	for (i = 0; want[i]; i++) {
		assert_true(i < n);
		assert_string_equal(got[i], want[i]);
		free(got[i]);
	}
	assert_int_equal(n, i);
}

/* The spec's order: the challenge's URL alone, else path-based then root. */
static void protected_resource_metadata_is_asked_in_the_specs_order(void **state)
{
	char *u[OAUTH_MAX_URLS];

	(void)state;
	check_urls(oauth_prm_urls("http://127.0.0.1:5/mcp", NULL, u), u,
		   (const char *const[]){
			   "http://127.0.0.1:5/.well-known/oauth-protected-resource/mcp",
			   "http://127.0.0.1:5/.well-known/oauth-protected-resource", NULL});
	check_urls(oauth_prm_urls("https://h/a/b/?x=1#f", "", u), u,
		   (const char *const[]){"https://h/.well-known/oauth-protected-resource/a/b",
					 "https://h/.well-known/oauth-protected-resource", NULL});
	check_urls(oauth_prm_urls("https://h", NULL, u), u,
		   (const char *const[]){"https://h/.well-known/oauth-protected-resource", NULL});
	check_urls(oauth_prm_urls("https://h/mcp", "https://o/meta", u), u,
		   (const char *const[]){"https://o/meta", NULL});
	assert_int_equal(oauth_prm_urls("ftp://h/mcp", NULL, u), 0);
}

/* RFC 8414 with the MCP spec's path insertion, then OpenID Connect's. */
static void authorization_server_metadata_is_asked_in_the_specs_order(void **state)
{
	char *u[OAUTH_MAX_URLS];

	(void)state;
	check_urls(oauth_as_urls("https://as.example/tenant1", u), u,
		   (const char *const[]){
			   "https://as.example/.well-known/oauth-authorization-server/tenant1",
			   "https://as.example/.well-known/openid-configuration/tenant1",
			   "https://as.example/tenant1/.well-known/openid-configuration", NULL});
	check_urls(
		oauth_as_urls("https://as.example/", u), u,
		(const char *const[]){"https://as.example/.well-known/oauth-authorization-server",
				      "https://as.example/.well-known/openid-configuration", NULL});
	assert_int_equal(oauth_as_urls("as.example", u), 0);
}

static void the_resource_must_be_the_server_or_a_prefix_of_it(void **state)
{
	(void)state;
	assert_true(oauth_resource_allowed("http://h:1/mcp", "http://h:1/mcp"));
	assert_true(oauth_resource_allowed("http://h:1/mcp", "http://h:1/mcp/"));
	assert_true(oauth_resource_allowed("http://h:1/mcp", "http://h:1"));
	assert_true(oauth_resource_allowed("http://h:1/a/mcp", "http://h:1/a"));
	assert_false(oauth_resource_allowed("http://h:1/mcp", "http://h:2/mcp"));
	assert_false(oauth_resource_allowed("http://h:1/mcp", "https://h:1/mcp"));
	assert_false(oauth_resource_allowed("http://h:1/mcp", "http://h:1/mc"));
	assert_false(oauth_resource_allowed("http://h:1/mcp", "http://h:1/mcp/other"));
	assert_false(oauth_resource_allowed("http://h:1/mcp", "https://evil.example/mcp"));
	assert_false(oauth_resource_allowed("http://h:1/mcp", NULL));
}

/* Nothing the network sends is cut short where it fits its cap: 40 scopes of 12 bytes. */
static void long_scope_lists_and_parameters_are_kept_whole(void **state)
{
	struct buf doc, want;
	struct oauth_prm p;
	struct oauth_challenge c;
	char err[200], *h;
	int i;

	(void)state;
	buf_init(&doc, 0);
	buf_init(&want, 0);
	buf_puts(&doc, "{\"authorization_servers\":[\"http://as\"],\"scopes_supported\":[");
	for (i = 0; i < 40; i++) {
		buf_printf(&doc, "%s\"scope:%06d\"", i ? "," : "", i);
		buf_printf(&want, "%sscope:%06d", i ? " " : "", i);
	}
	buf_puts(&doc, "]}");
	assert_int_equal(oauth_prm_parse(doc.data, doc.len, &p, err, sizeof(err)), 0);
	assert_string_equal(p.scopes, want.data);
	oauth_prm_finish(&p);
	h = xasprintf("Bearer scope=\"%s\"", want.data);
	assert_int_equal(oauth_challenge_parse(h, &c), 0);
	assert_string_equal(c.scope, want.data);
	oauth_challenge_finish(&c);
	free(h);
	buf_finish(&doc);
	buf_finish(&want);
}

static void metadata_documents_give_what_the_client_uses(void **state)
{
	struct oauth_prm p;
	struct oauth_as a;
	char err[200];

	(void)state;
	{
		const char *d = "{\"resource\":\"http://h/mcp\",\"authorization_servers\":"
				"[\"http://as/t\"],\"scopes_supported\":[\"a\",\"b\"]}";

		assert_int_equal(oauth_prm_parse(d, strlen(d), &p, err, sizeof(err)), 0);
		assert_string_equal(p.resource, "http://h/mcp");
		assert_string_equal(p.auth_server, "http://as/t");
		assert_string_equal(p.scopes, "a b");
		oauth_prm_finish(&p);
		d = "{\"resource\":\"http://h/mcp\"}";
		assert_int_equal(oauth_prm_parse(d, strlen(d), &p, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "authorization_servers"));
		d = "<html>";
		assert_int_equal(oauth_prm_parse(d, strlen(d), &p, err, sizeof(err)), -1);
		d = "{\"issuer\":\"http://as\",\"authorization_endpoint\":\"http://as/a\","
		    "\"token_endpoint\":\"http://as/t\",\"code_challenge_methods_supported\":"
		    "[\"S256\"],\"grant_types_supported\":[\"authorization_code\"],"
		    "\"client_id_metadata_document_supported\":true,"
		    "\"authorization_response_iss_parameter_supported\":true}";
		assert_int_equal(oauth_as_parse(d, strlen(d), &a, err, sizeof(err)), 0);
		assert_string_equal(a.token_endpoint, "http://as/t");
		assert_null(a.registration_endpoint);
		assert_true(a.s256 && a.cimd && a.iss_response);
		assert_false(a.refresh);
		oauth_as_finish(&a);
		d = "{\"token_endpoint\":\"javascript:x\"}";
		assert_int_equal(oauth_as_parse(d, strlen(d), &a, err, sizeof(err)), -1);
	}
	assert_int_equal(oauth_as_default("http://h:9/mcp", &a), 0);
	assert_string_equal(a.authorization_endpoint, "http://h:9/authorize");
	assert_string_equal(a.token_endpoint, "http://h:9/token");
	assert_string_equal(a.registration_endpoint, "http://h:9/register");
	oauth_as_finish(&a);
}

/* The spec's scope selection: configured, else WWW-Authenticate, else scopes_supported, else
 * none; offline_access only when the authorization server lists it. */
static void scope_selection_follows_the_spec(void **state)
{
	static const struct {
		const char *configured, *challenge, *prm, *as, *want;
	} rows[] = {
		{NULL, "mcp:basic", "a b", NULL, "mcp:basic"},
		{NULL, NULL, "a b", NULL, "a b"},
		{NULL, NULL, NULL, NULL, NULL},
		{"x y", "mcp:basic", "a", NULL, "x y"},
		{NULL, "mcp:basic", NULL, "mcp:basic offline_access", "mcp:basic offline_access"},
		{NULL, NULL, NULL, "offline_access", "offline_access"},
		{NULL, "a", NULL, "a b", "a"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *s = oauth_pick_scope(rows[i].configured, rows[i].challenge, rows[i].prm,
					   rows[i].as, true);

		if (rows[i].want)
			assert_string_equal(s, rows[i].want);
		else
			assert_null(s);
		free(s);
	}
	{
		char *u = oauth_scope_union("mcp:basic", "mcp:basic mcp:write");

		assert_string_equal(u, "mcp:basic mcp:write");
		free(u);
	}
}

/* RFC 7636 appendix B's example. */
static void pkce_s256_matches_the_rfc_example(void **state)
{
	char *c = oauth_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");

	(void)state;
	assert_string_equal(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	free(c);
}

static void the_redirect_is_checked_for_state_and_iss(void **state)
{
	struct oauth_redirect r;
	char err[256];

	(void)state;
	assert_int_equal(oauth_redirect_parse("code=a%2Fb&state=s1&iss=http%3A%2F%2Fas", &r), 0);
	assert_string_equal(r.code, "a/b");
	assert_int_equal(oauth_redirect_check(&r, "s1", "http://as", true, err, sizeof(err)), 0);
	assert_int_equal(oauth_redirect_check(&r, "s2", "http://as", true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "state"));
	assert_int_equal(oauth_redirect_check(&r, "s1", "http://other", false, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "mix-up"));
	oauth_redirect_finish(&r);
	assert_int_equal(oauth_redirect_parse("code=c&state=s1", &r), 0);
	assert_int_equal(oauth_redirect_check(&r, "s1", "http://as", false, err, sizeof(err)), 0);
	assert_int_equal(oauth_redirect_check(&r, "s1", "http://as", true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "RFC 9207"));
	oauth_redirect_finish(&r);
	assert_int_equal(oauth_redirect_parse("error=access_denied&state=s1", &r), 0);
	assert_int_equal(oauth_redirect_check(&r, "s1", NULL, false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "access_denied"));
	oauth_redirect_finish(&r);
	assert_int_equal(oauth_redirect_parse("code=a&code=b&state=s", &r), -1);
	assert_int_equal(oauth_redirect_parse("code=%zz&state=s", &r), -1);
	assert_int_equal(oauth_redirect_parse("code=%4", &r), -1);
}

static void token_answers_are_parsed_and_errors_never_show_a_token(void **state)
{
	struct oauth_token t;
	char err[256];
	const char *ok = "{\"access_token\":\"AT\",\"token_type\":\"bearer\",\"expires_in\":3600,"
			 "\"refresh_token\":\"RT\",\"scope\":\"a\"}";
	const char *bad = "{\"error\":\"invalid_grant\",\"error_description\":\"code used\"}";
	const char *mac = "{\"access_token\":\"SECRET\",\"token_type\":\"mac\"}";

	(void)state;
	assert_int_equal(oauth_token_parse(200, ok, strlen(ok), &t, err, sizeof(err)), 0);
	assert_string_equal(t.access_token, "AT");
	assert_string_equal(t.refresh_token, "RT");
	assert_int_equal(t.expires_in_s, 3600);
	oauth_token_finish(&t);
	assert_int_equal(oauth_token_parse(400, bad, strlen(bad), &t, err, sizeof(err)), -1);
	assert_string_equal(err, "the token endpoint answered HTTP 400: invalid_grant: code used");
	assert_int_equal(oauth_token_parse(200, mac, strlen(mac), &t, err, sizeof(err)), -1);
	assert_null(strstr(err, "SECRET"));
	assert_null(t.access_token);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(challenge_params_are_read_quoted_or_not_in_any_order),
		cmocka_unit_test(protected_resource_metadata_is_asked_in_the_specs_order),
		cmocka_unit_test(authorization_server_metadata_is_asked_in_the_specs_order),
		cmocka_unit_test(the_resource_must_be_the_server_or_a_prefix_of_it),
		cmocka_unit_test(metadata_documents_give_what_the_client_uses),
		cmocka_unit_test(long_scope_lists_and_parameters_are_kept_whole),
		cmocka_unit_test(scope_selection_follows_the_spec),
		cmocka_unit_test(pkce_s256_matches_the_rfc_example),
		cmocka_unit_test(the_redirect_is_checked_for_state_and_iss),
		cmocka_unit_test(token_answers_are_parsed_and_errors_never_show_a_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
