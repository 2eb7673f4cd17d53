/* alerts: the decision table of one key (a new condition is sent; a repeat within the dedupe
 * window is not; after the window it is sent again as a reminder; one held back by a rate
 * limit is sent at the next report; resolved is said only when its firing was), the sliding
 * rate limit (at most cap per window, freed as events age out, ring wrap-around), the provider
 * balance parsers over their documented JSON and wrong shapes, and the e-mail and webhook
 * messages (CRLF, headers on one line, no registered secret).
 */
#include "test.h"
#include "core/config.h"
#include "core/log.h"
#include "gateway/alerts.h"
#include "net/notify.h"
#include "router/balance.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define T0     1000000
#define MIN_MS 60000

static void test_new_condition_is_sent_once_within_the_window(void **state)
{
	struct alert_state s = {0};

	(void)state;
	assert_int_equal(alert_decide(&s, false, T0, 10 * MIN_MS), ALERT_SEND);
	alert_update(&s, false, true, T0);
	assert_true(s.firing && s.notified);
	assert_int_equal(alert_decide(&s, false, T0 + 1, 10 * MIN_MS), ALERT_DUPLICATE);
	assert_int_equal(alert_decide(&s, false, T0 + 10 * MIN_MS - 1, 10 * MIN_MS),
			 ALERT_DUPLICATE);
	/* Still firing after the window: a reminder. */
	assert_int_equal(alert_decide(&s, false, T0 + 10 * MIN_MS, 10 * MIN_MS), ALERT_SEND);
	alert_update(&s, false, true, T0 + 10 * MIN_MS);
	assert_int_equal(alert_decide(&s, false, T0 + 11 * MIN_MS, 10 * MIN_MS), ALERT_DUPLICATE);
}

static void test_held_back_report_is_sent_next_time(void **state)
{
	struct alert_state s = {0};

	(void)state;
	assert_int_equal(alert_decide(&s, false, T0, MIN_MS), ALERT_SEND);
	alert_update(&s, false, false, T0); /* a rate limit held it back */
	assert_true(s.firing && !s.notified);
	assert_int_equal(alert_decide(&s, false, T0 + 1, MIN_MS), ALERT_SEND);
	/* Nobody heard it fire: its end is not news. */
	assert_int_equal(alert_decide(&s, true, T0 + 2, MIN_MS), ALERT_QUIET);
}

static void test_resolved_only_after_a_sent_firing(void **state)
{
	struct alert_state s = {0};

	(void)state;
	assert_int_equal(alert_decide(&s, true, T0, MIN_MS), ALERT_QUIET);
	alert_update(&s, false, true, T0);
	assert_int_equal(alert_decide(&s, true, T0 + 1, MIN_MS), ALERT_SEND);
	alert_update(&s, true, true, T0 + 1);
	assert_false(s.firing || s.notified);
	assert_int_equal(alert_decide(&s, true, T0 + 2, MIN_MS), ALERT_QUIET);
	/* Firing again right after it cleared is news, dedupe window or not. */
	assert_int_equal(alert_decide(&s, false, T0 + 3, MIN_MS), ALERT_SEND);
}

static void test_zero_dedupe_sends_every_report(void **state)
{
	struct alert_state s = {0};

	(void)state;
	alert_update(&s, false, true, T0);
	assert_int_equal(alert_decide(&s, false, T0, 0), ALERT_SEND);
}

static void test_rate_limit_slides(void **state)
{
	struct alert_rate r;

	(void)state;
	alert_rate_init(&r, 3);
	assert_true(alert_rate_take(&r, T0, MIN_MS));
	assert_true(alert_rate_take(&r, T0 + 10, MIN_MS));
	assert_true(alert_rate_take(&r, T0 + 20, MIN_MS));
	assert_false(alert_rate_take(&r, T0 + 30, MIN_MS));
	assert_false(alert_rate_take(&r, T0 + MIN_MS - 1, MIN_MS));
	/* The first event left the window: one place is free, and only one. */
	assert_true(alert_rate_take(&r, T0 + MIN_MS, MIN_MS));
	assert_false(alert_rate_take(&r, T0 + MIN_MS + 5, MIN_MS));
	/* Much later everything has aged out; the ring wraps around cleanly. */
	for (int i = 0; i < 3; i++)
		assert_true(alert_rate_take(&r, T0 + 10 * MIN_MS + i, MIN_MS));
	assert_false(alert_rate_take(&r, T0 + 10 * MIN_MS + 3, MIN_MS));
	alert_rate_finish(&r);
	alert_rate_finish(&r); /* a finished one is zeroed */
}

static void test_rate_limit_of_one(void **state)
{
	struct alert_rate r;

	(void)state;
	alert_rate_init(&r, 1);
	assert_true(alert_rate_take(&r, T0, MIN_MS));
	assert_false(alert_rate_take(&r, T0 + 1, MIN_MS));
	assert_true(alert_rate_take(&r, T0 + MIN_MS, MIN_MS));
	alert_rate_finish(&r);
}

static void test_openrouter_key_answer(void **state)
{
	struct balance b;
	const char *full = "{\"data\": {\"label\": \"sk-or-v1-abc...z\", \"limit\": 10.0, "
			   "\"limit_remaining\": 2.5, \"limit_reset\": \"monthly\", \"usage\": "
			   "7.5, \"usage_daily\": 0.5, \"is_free_tier\": false}}";
	const char *no_limit = "{\"data\": {\"limit\": null, \"limit_remaining\": null, "
			       "\"usage\": 3}}";

	(void)state;
	assert_int_equal(balance_parse_openrouter(full, strlen(full), &b), 0);
	assert_true(b.has_limit && b.has_remaining);
	assert_true(b.limit_usd == 10.0 && b.remaining_usd == 2.5 && b.usage_usd == 7.5);
	assert_true(b.usage_daily_usd == 0.5);
	assert_string_equal(b.limit_reset, "monthly");
	assert_int_equal(balance_parse_openrouter(no_limit, strlen(no_limit), &b), 0);
	assert_false(b.has_limit || b.has_remaining);
	assert_true(b.usage_usd == 3 && b.usage_daily_usd < 0);
	assert_int_equal(balance_parse_openrouter("{\"error\": {\"code\": 401}}", 26, &b), -EINVAL);
	assert_int_equal(balance_parse_openrouter("{\"data\": {\"limit\": \"10\"}}", 25, &b),
			 -EINVAL);
	assert_int_equal(balance_parse_openrouter("not json", 8, &b), -EINVAL);
}

static void test_deepseek_balance_answer(void **state)
{
	struct balance b;
	const char *both = "{\"is_available\": true, \"balance_infos\": [{\"currency\": \"CNY\", "
			   "\"total_balance\": \"110.00\", \"granted_balance\": \"10.00\", "
			   "\"topped_up_balance\": \"100.00\"}, {\"currency\": \"USD\", "
			   "\"total_balance\": \"4.20\", \"granted_balance\": \"0.00\", "
			   "\"topped_up_balance\": \"4.20\"}]}";
	const char *empty = "{\"is_available\": false, \"balance_infos\": []}";
	const char *bad = "{\"is_available\": true, \"balance_infos\": [{\"currency\": \"USD\", "
			  "\"total_balance\": \"4,20\"}]}";

	(void)state;
	assert_int_equal(balance_parse_deepseek(both, strlen(both), &b), 0);
	assert_true(b.available && b.has_remaining && b.remaining_usd == 4.2 && b.cny == 110);
	assert_int_equal(balance_parse_deepseek(empty, strlen(empty), &b), 0);
	assert_false(b.available || b.has_remaining);
	assert_int_equal(balance_parse_deepseek(bad, strlen(bad), &b), -EINVAL);
	assert_int_equal(balance_parse_deepseek("{}", 2, &b), -EINVAL);
}

static void test_messages_are_redacted_and_well_formed(void **state)
{
	char *to[] = {"ops@example.test", "me@example.test"};
	struct config_alert_channel ch = {
		.type = CONFIG_ALERT_EMAIL, .from = "hermetic@example.test", .to = to, .n_to = 2};
	struct notify_msg m = {"cron:backup",
			       "cron job backup\r\nBcc: x@y failed",
			       "line one\nthe key sk-test-secret-123 leaked\n.dot line",
			       false,
			       1700000000000LL,
			       "pi-1"};
	char *mail, *hook;
	cJSON *j;

	(void)state;
	log_add_secret("sk-test-secret-123");
	mail = notify_email_message(&ch, &m);
	assert_null(strstr(mail, "sk-test-secret-123"));
	assert_non_null(strstr(mail, "To: <ops@example.test>, <me@example.test>\r\n"));
	assert_non_null(strstr(mail, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
	/* A line break in the title cannot add a header. */
	assert_non_null(strstr(mail, "Subject: [hermetic] cron job backup  Bcc: x@y failed\r\n"));
	assert_null(strstr(mail, "\r\nBcc:"));
	assert_non_null(strstr(mail, "\r\n\r\nline one\r\n"));
	assert_non_null(strstr(mail, "\r\n.dot line\r\n"));
	hook = notify_webhook_body(&m);
	assert_null(strstr(hook, "sk-test-secret-123"));
	j = cJSON_Parse(hook);
	assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "firing");
	assert_string_equal(cJSON_GetObjectItem(j, "key")->valuestring, "cron:backup");
	assert_string_equal(cJSON_GetObjectItem(j, "time")->valuestring, "2023-11-14T22:13:20Z");
	assert_string_equal(cJSON_GetObjectItem(j, "host")->valuestring, "pi-1");
	cJSON_Delete(j);
	free(mail);
	free(hook);
	log_forget_secrets();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_condition_is_sent_once_within_the_window),
		cmocka_unit_test(test_held_back_report_is_sent_next_time),
		cmocka_unit_test(test_resolved_only_after_a_sent_firing),
		cmocka_unit_test(test_zero_dedupe_sends_every_report),
		cmocka_unit_test(test_rate_limit_slides),
		cmocka_unit_test(test_rate_limit_of_one),
		cmocka_unit_test(test_openrouter_key_answer),
		cmocka_unit_test(test_deepseek_balance_answer),
		cmocka_unit_test(test_messages_are_redacted_and_well_formed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
