/* tg_token: which answers of Telegram mean "the token is wrong" (401; a bare 404 "Not Found",
 * Telegram's answer to a text that is not a token's shape) and which do not (a 404 of another
 * server quoting the path, 409, 429, 5xx); the one line a user reads names the code, @BotFather,
 * the config key, the environment variable and the K3s Secret's key, and fits /readyz. */
#include "test.h"
#include "telegram/tg_token.h"

#include <stdbool.h>
#include <string.h>

static void only_401_and_a_bare_404_mean_a_wrong_token(void **state)
{
	assert_true(tg_token_refused(401, "Unauthorized"));
	assert_true(tg_token_refused(401, NULL));
	assert_true(tg_token_refused(404, "Not Found"));
	assert_false(tg_token_refused(404, "Not Found: /bot123:abc/getMe"));
	assert_false(tg_token_refused(404, NULL));
	assert_false(tg_token_refused(409, "Conflict: terminated by other getUpdates request"));
	assert_false(tg_token_refused(429, "Too Many Requests: retry after 5"));
	assert_false(tg_token_refused(502, "Bad Gateway"));
	assert_false(tg_token_refused(0, NULL));
}

static void the_line_says_what_is_wrong_and_what_to_do(void **state)
{
	char line[512];

	tg_token_refused_text(401, line, sizeof(line));
	assert_non_null(
		strstr(line, "the bot token is wrong (Telegram answered 401 Unauthorized)"));
	assert_non_null(strstr(line, "@BotFather"));
	assert_non_null(strstr(line, "telegram.token"));
	assert_non_null(strstr(line, "os.environ/TELEGRAM_BOT_TOKEN"));
	assert_non_null(
		strstr(line, "the key TELEGRAM_BOT_TOKEN of the Secret ai/hermetic-secrets"));
	assert_null(strchr(line, '\n'));
	assert_true(strlen(line) < 500); /* /readyz's buffer is 512 with the newline */
	tg_token_refused_text(404, line, sizeof(line));
	assert_non_null(strstr(line, "(Telegram answered 404 Not Found)"));
	tg_token_refused_text(401, line, 40); /* cut, still terminated */
	assert_int_equal(strlen(line), 39);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(only_401_and_a_bare_404_mean_a_wrong_token),
		cmocka_unit_test(the_line_says_what_is_wrong_and_what_to_do),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
