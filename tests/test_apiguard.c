/* apiguard: the decisions over header values. Host names this server only as a loopback name
 * or address (any port), listen's own host, or an allowed_hosts entry; an Origin must be the
 * server's own; a body is JSON only as application/json.
 */
#include "test.h"
#include "gateway/apiguard.h"
#include "core/config.h"

static void host_must_name_this_server(void **state)
{
	char *allowed[] = {"hermetic.ai.svc"};
	struct config_api api = {.listen = {"127.0.0.1:8642", "127.0.0.1", 8642},
				 .allowed_hosts = allowed,
				 .n_allowed_hosts = 1};

	assert_true(apiguard_host_ok(&api, "127.0.0.1:8642"));
	assert_true(apiguard_host_ok(&api, "127.0.0.2"));
	assert_true(apiguard_host_ok(&api, "localhost:18642"));
	assert_true(apiguard_host_ok(&api, "LocalHost"));
	assert_true(apiguard_host_ok(&api, "[::1]:8642"));
	assert_true(apiguard_host_ok(&api, "hermetic.ai.svc:8642"));
	assert_true(apiguard_host_ok(&api, "HERMETIC.ai.svc"));
	assert_false(apiguard_host_ok(&api, NULL));
	assert_false(apiguard_host_ok(&api, ""));
	assert_false(apiguard_host_ok(&api, "attacker.example"));
	assert_false(apiguard_host_ok(&api, "localhost.attacker.example:8642"));
	assert_false(apiguard_host_ok(&api, "127.0.0.1.attacker.example"));
	assert_false(apiguard_host_ok(&api, "127.example.com"));
	assert_false(apiguard_host_ok(&api, "svc"));
	assert_false(apiguard_host_ok(&api, "[::1"));
	assert_false(apiguard_host_ok(&api, "::1"));
	assert_false(apiguard_host_ok(&api, ":8642"));
}

static void listen_host_counts_unless_it_is_a_wildcard(void **state)
{
	char *any[] = {"*"};
	struct config_api api = {.listen = {"10.0.0.7:8642", "10.0.0.7", 8642}};

	assert_true(apiguard_host_ok(&api, "10.0.0.7:8642"));
	assert_false(apiguard_host_ok(&api, "10.0.0.8:8642"));
	api.listen.host = "0.0.0.0";
	assert_false(apiguard_host_ok(&api, "0.0.0.0:8642"));
	assert_false(apiguard_host_ok(&api, "10.0.0.7:8642"));
	api.allowed_hosts = any;
	api.n_allowed_hosts = 1;
	assert_true(apiguard_host_ok(&api, "anything.example"));
}

static void origin_must_be_our_own(void **state)
{
	assert_true(apiguard_origin_ok(NULL, "127.0.0.1:8642"));
	assert_true(apiguard_origin_ok("http://127.0.0.1:8642", "127.0.0.1:8642"));
	assert_true(apiguard_origin_ok("https://LOCALHOST:8642", "localhost:8642"));
	assert_false(apiguard_origin_ok("https://attacker.example", "127.0.0.1:8642"));
	assert_false(apiguard_origin_ok("http://localhost:3000", "localhost:8642"));
	assert_false(apiguard_origin_ok("null", "127.0.0.1:8642"));
	assert_false(apiguard_origin_ok("file://", "127.0.0.1:8642"));
	assert_false(apiguard_origin_ok("http://127.0.0.1:8642", NULL));
}

static void only_application_json_is_json(void **state)
{
	assert_true(apiguard_json_type("application/json"));
	assert_true(apiguard_json_type("Application/JSON; charset=utf-8"));
	assert_true(apiguard_json_type(" application/json ;charset=utf-8"));
	assert_false(apiguard_json_type(NULL));
	assert_false(apiguard_json_type(""));
	assert_false(apiguard_json_type("text/plain"));
	assert_false(apiguard_json_type("application/x-www-form-urlencoded"));
	assert_false(apiguard_json_type("multipart/form-data; boundary=x"));
	assert_false(apiguard_json_type("application/jsonp"));
	assert_false(apiguard_json_type("application/json-seq"));
}

/* The owner's CLI gets "cli:" sessions (class interactive) only with the gateway's api.key;
 * names are bounded and sanitised either way. */
static void session_source_names_and_owner_cli(void **state)
{
	char out[64];

	assert_true(apiguard_owner_cli("cli", "k3y"));
	assert_false(apiguard_owner_cli("cli", NULL));
	assert_false(apiguard_owner_cli("cli", ""));
	assert_false(apiguard_owner_cli("CLI ", "k3y"));
	assert_false(apiguard_owner_cli("telegram", "k3y"));
	assert_false(apiguard_owner_cli(NULL, "k3y"));

	assert_true(apiguard_session_source("alice", 16, false, 7, out, sizeof(out)));
	assert_string_equal(out, "api:alice");
	assert_true(apiguard_session_source("alice", 16, true, 7, out, sizeof(out)));
	assert_string_equal(out, "cli:alice");
	assert_true(apiguard_session_source("a b/c:d@e.f-g_h", 16, true, 7, out, sizeof(out)));
	assert_string_equal(out, "cli:a_b_c_d@e.f-g_h");
	assert_false(apiguard_session_source(NULL, 16, true, 7, out, sizeof(out)));
	assert_string_equal(out, "cli:~7");
	assert_false(apiguard_session_source("", 16, false, 8, out, sizeof(out)));
	assert_string_equal(out, "api:~8");
	assert_false(apiguard_session_source("seventeen-chars-x", 16, false, 9, out, sizeof(out)));
	assert_string_equal(out, "api:~9");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(host_must_name_this_server),
		cmocka_unit_test(listen_host_counts_unless_it_is_a_wildcard),
		cmocka_unit_test(origin_must_be_our_own),
		cmocka_unit_test(only_application_json_is_json),
		cmocka_unit_test(session_source_names_and_owner_cli),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
