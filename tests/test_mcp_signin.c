/* mcp_signin: what the MCP client's sign-in hook does in the gateway, as a table: who is
 * asked, when a refresh comes first, and when nothing more is sent (one sign-in at a time, none
 * from reconnects after one expired). The flows themselves: tests/e2e/test_mcp_signin_*.py. */
#include "test.h"
#include "gateway/mcp_signin.h"

static void the_hook_sends_one_sign_in_and_refreshes_first_when_it_can(void **state)
{
	enum {
		ASK = MCP_SIGNIN_ASK,
		STEP = MCP_SIGNIN_ASK_STEP_UP,
		NOBODY = MCP_SIGNIN_NOBODY,
		WAIT = MCP_SIGNIN_WAITING,
		BUSY = MCP_SIGNIN_REFRESHING,
		REFRESH = MCP_SIGNIN_REFRESH,
		EXPIRED = MCP_SIGNIN_EXPIRED,
	};
	static const struct {
		struct mcp_signin_facts f;
		int want;
		const char *why;
	} rows[] = {
		{{.status = 401, .can_ask = true, .auth_code = true}, ASK, "first use: no tokens"},
		{{.status = 0, .can_ask = true, .auth_code = true},
		 ASK,
		 "a call wants a server not signed in"},
		{{.status = 401, .can_ask = false, .auth_code = true},
		 NOBODY,
		 "no front, no cockpit: mcp login"},
		{{.status = 401, .can_ask = true, .auth_code = false},
		 NOBODY,
		 "client_credentials signs in by itself"},
		{{.status = 401, .can_ask = true, .auth_code = true, .asking = true},
		 WAIT,
		 "one waits: not sent again"},
		{{.status = 0, .can_ask = true, .auth_code = true, .asking = true},
		 WAIT,
		 "a call while one waits"},
		{{.status = 403,
		  .can_ask = true,
		  .auth_code = true,
		  .asking = true,
		  .insufficient_scope = true},
		 WAIT,
		 "a step-up while one waits"},
		{{.status = 401, .can_ask = true, .auth_code = true, .refreshing = true},
		 BUSY,
		 "a refresh in flight decides"},
		{{.status = 401, .can_ask = true, .auth_code = true, .refresh_token = true},
		 REFRESH,
		 "a 401 with a refresh token"},
		{{.status = 401,
		  .can_ask = true,
		  .auth_code = true,
		  .refresh_token = true,
		  .refreshed_once = true},
		 ASK,
		 "a second 401 after a refresh: the token is not taken"},
		{{.status = 0, .can_ask = true, .auth_code = true, .refresh_token = true},
		 ASK,
		 "a call does not refresh"},
		{{.status = 403, .can_ask = true, .auth_code = true, .insufficient_scope = true},
		 STEP,
		 "step-up"},
		{{.status = 403, .can_ask = true, .auth_code = true},
		 NOBODY,
		 "a 403 that is no insufficient_scope"},
		{{.status = 401, .can_ask = true, .auth_code = true, .expired = true},
		 EXPIRED,
		 "a reconnect after one expired"},
		{{.status = 0, .can_ask = true, .auth_code = true, .expired = true},
		 ASK,
		 "a call after one expired sends a new one"},
		{{.status = 403,
		  .can_ask = true,
		  .auth_code = true,
		  .expired = true,
		  .insufficient_scope = true},
		 STEP,
		 "a step-up after one expired"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int got = mcp_signin_decide(&rows[i].f);

		if (got != rows[i].want)
			fail_msg("row %zu (%s): got %d, want %d", i, rows[i].why, got,
				 rows[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_hook_sends_one_sign_in_and_refreshes_first_when_it_can),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
