/* oauth_store: a server's sign-in survives a round trip through state.db, is replaced whole,
 * forgotten by del, and a database that cannot answer is an error, not an empty sign-in. */
#include "test.h"
#include "core/jws.h"
#include "core/log.h"
#include "core/store.h"
#include "core/util.h"
#include "mcp/oauth_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct store_migration migrations[] = {{"mcp-oauth", OAUTH_STORE_SCHEMA_SQL},
						    {"mcp-oauth-dpop", OAUTH_STORE_DPOP_SQL}};

static struct store *open_db(char *path)
{
	struct store *st = NULL;
	char err[256];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	assert_int_equal(
		store_open_with(path, migrations, ARRAY_LEN(migrations), &st, err, sizeof(err)), 0);
	return st;
}

static void tokens_round_trip_and_are_replaced_and_forgotten(void **state)
{
	char path[] = "/tmp/test_oauth_store_XXXXXX";
	struct store *st = open_db(path);
	struct oauth_tokens t = {.url = "https://h/mcp",
				 .client_id = "cid",
				 .token_endpoint = "https://as/token",
				 .access_token = "access-token-one",
				 .refresh_token = "refresh-token-one",
				 .scope = "a b",
				 .expires_at_ms = 1234},
			    got;
	char *line;

	(void)state;
	assert_int_equal(oauth_store_get(st, "lin", &got), -ENOENT);
	assert_int_equal(oauth_store_put(st, "lin", &t, 1), 0);
	assert_int_equal(oauth_store_get(st, "lin", &got), 0);
	assert_string_equal(got.access_token, "access-token-one");
	assert_string_equal(got.refresh_token, "refresh-token-one");
	assert_null(got.client_secret);
	assert_int_equal(got.expires_at_ms, 1234);
	oauth_tokens_finish(&got);
	/* stored tokens are secrets from then on */
	line = log_redact("sent access-token-one and refresh-token-one");
	assert_null(strstr(line, "token-one"));
	free(line);
	t.access_token = "access-token-two";
	t.refresh_token = NULL;
	assert_int_equal(oauth_store_put(st, "lin", &t, 2), 0);
	assert_int_equal(oauth_store_get(st, "lin", &got), 0);
	assert_string_equal(got.access_token, "access-token-two");
	assert_null(got.refresh_token);
	oauth_tokens_finish(&got);
	assert_int_equal(oauth_store_del(st, "lin"), 0);
	assert_int_equal(oauth_store_get(st, "lin", &got), -ENOENT);
	/* a database that cannot answer: an error, not "not signed in" */
	assert_int_equal(sqlite3_exec(store_db(st), "DROP TABLE mcp_oauth", NULL, NULL, NULL), 0);
	assert_int_equal(oauth_store_get(st, "lin", &got), -EIO);
	assert_int_equal(oauth_store_put(st, "lin", &t, 3), -EIO);
	assert_int_equal(oauth_store_del(st, "lin"), -EIO);
	store_close(st);
	unlink(path);
}

/* oauth.dpop: the server's key and the token's type are kept with its tokens, the key is a
 * secret line by line (a log line holds one line of it), and copies carry both. */
static void a_dpop_key_is_kept_with_the_tokens_and_never_shown(void **state)
{
	char path[] = "/tmp/test_oauth_store_XXXXXX";
	struct store *st = open_db(path);
	char err[256] = "", *key = jws_ec_key_create(err, sizeof(err)), *line, *shown;
	const char *body;
	struct oauth_tokens t = {.url = "https://h/mcp",
				 .access_token = "dpop-bound-token",
				 .token_type = "DPoP",
				 .dpop_key = key},
			    got, copy = {0};

	(void)state;
	assert_non_null(key);
	assert_true(oauth_tokens_dpop(&t));
	assert_int_equal(oauth_store_put(st, "s", &t, 1), 0);
	assert_int_equal(oauth_store_get(st, "s", &got), 0);
	assert_string_equal(got.token_type, "DPoP");
	assert_string_equal(got.dpop_key, key);
	assert_true(oauth_tokens_dpop(&got));
	oauth_tokens_copy(&copy, &got);
	assert_string_equal(copy.dpop_key, key);
	assert_string_equal(copy.token_type, "DPoP");
	/* the key's base64 lines are redacted wherever they appear */
	body = strchr(key, '\n') + 1;
	line = xstrndup(body, strcspn(body, "\n"));
	shown = log_redact(line);
	assert_null(strstr(shown, line));
	free(shown);
	free(line);
	/* a Bearer token, or one without its key, is not sent as DPoP */
	t.token_type = "Bearer";
	assert_false(oauth_tokens_dpop(&t));
	t.token_type = "dpop";
	t.dpop_key = NULL;
	assert_false(oauth_tokens_dpop(&t));
	oauth_tokens_finish(&got);
	oauth_tokens_finish(&copy);
	store_close(st);
	unlink(path);
	free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tokens_round_trip_and_are_replaced_and_forgotten),
		cmocka_unit_test(a_dpop_key_is_kept_with_the_tokens_and_never_shown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
