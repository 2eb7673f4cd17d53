/* alerts: the decision table of one key (a new condition is sent; a repeat within the dedupe
 * window is not; after the window it is sent again as a reminder; one held back by a rate
 * limit is sent at the next report; resolved is said only when its firing was, and a resolved
 * report held back by the hourly limit or given up by every channel keeps the key firing so
 * it is said again), the sliding
 * rate limit (at most cap per window, freed as events age out, ring wrap-around), the provider
 * balance parsers over their documented JSON and wrong shapes, and the e-mail and webhook
 * messages (CRLF, headers on one line, no registered secret); the retry schedule (doubling from
 * retry_after, capped, bounded tries and queue); the state that survives a restart (the file's
 * JSON both ways, bad entries skipped, sent times carried over by the wall clock), and the
 * module on an injected clock: a firing restored from the file is a duplicate within the
 * dedupe window and news after it, a cleared one leaves the file, cron failures keep counting
 * across a restart.
 */
#include "test.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/offload.h"
#include "core/util.h"
#include "ops/alerts.h"
#include "net/notify.h"
#include "router/balance.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
	assert_int_equal(balance_parse_openrouter("{\"error\": {\"code\": 401}}", 24, &b), -EINVAL);
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

static void test_balance_low_only_with_a_minimum(void **state)
{
	(void)state;
	assert_true(alert_balance_low(true, true, 0.5, 1.0));
	assert_false(alert_balance_low(true, true, 1.0, 1.0));
	assert_false(alert_balance_low(true, false, 0, 1.0)); /* no limit: nothing to compare */
	assert_true(alert_balance_low(false, false, 0, 1.0)); /* DeepSeek: not available */
	/* alerts.balance_min_usd 0 is "no alert", also for an account not available. */
	assert_false(alert_balance_low(false, false, 0, 0));
	assert_false(alert_balance_low(false, true, 0, 0));
	assert_false(alert_balance_low(true, true, -1, 0));
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

static bool valid_utf8(const char *s)
{
	for (size_t i = 0, n, len = strlen(s); i < len; i += n) {
		n = utf8_seq(s + i, len - i);
		if (n == 0)
			return false;
	}
	return true;
}

/* A model's error cut by bytes in the middle of an emoji, and a stray byte: every channel
 * still gets valid UTF-8 (a strict receiver refuses the rest; ntfy made it attachment.bin),
 * ntfy's body within its 4096-byte message limit. */
static void test_messages_are_valid_utf8_whatever_the_text(void **state)
{
	char *to[] = {"ops@example.test"};
	struct config_alert_channel ch = {
		.type = CONFIG_ALERT_EMAIL, .from = "hermetic@example.test", .to = to, .n_to = 1};
	struct buf text;
	struct notify_msg m = {"cron:x", "cron job \xF0\x9F\x94 failed", NULL, false, 0, NULL};
	char *mail, *hook, *ntfy;
	cJSON *j;

	(void)state;
	buf_init(&text, 0);
	for (int i = 0; i < 2000; i++)
		buf_puts(&text, "\xF0\x9F\x94\xA5");
	buf_puts(&text, "\xF0\x9F stray \xFF end");
	m.text = buf_str(&text);
	mail = notify_email_message(&ch, &m);
	hook = notify_webhook_body(&m);
	ntfy = notify_ntfy_body(&m);
	assert_true(valid_utf8(mail));
	assert_true(valid_utf8(hook));
	assert_true(valid_utf8(ntfy));
	assert_non_null(strstr(mail, "Subject: [hermetic] cron job \xEF\xBF\xBD\xEF\xBF\xBD"));
	j = cJSON_Parse(hook);
	assert_non_null(j);
	assert_non_null(
		strstr(cJSON_GetObjectItem(j, "text")->valuestring, "stray \xEF\xBF\xBD end"));
	cJSON_Delete(j);
	assert_true(strlen(ntfy) <= 4096);
	assert_string_equal(ntfy + strlen(ntfy) - 7, "\xF0\x9F\x94\xA5\xE2\x80\xA6"); /* "🔥…" */
	free(mail);
	free(hook);
	free(ntfy);
	buf_finish(&text);
}

static void test_retry_delay_doubles_up_to_the_cap(void **state)
{
	(void)state;
	assert_true(alert_retry_delay_ms(1, 30000) == 30000);
	assert_true(alert_retry_delay_ms(2, 30000) == 60000);
	assert_true(alert_retry_delay_ms(3, 30000) == 120000);
	assert_true(alert_retry_delay_ms(6, 30000) == ALERT_RETRY_MAX_MS);
	assert_true(alert_retry_delay_ms(1000, 30000) == ALERT_RETRY_MAX_MS);
	assert_true(alert_retry_delay_ms(1, 3600000) == ALERT_RETRY_MAX_MS);
	assert_true(alert_retry_delay_ms(3, 0) == 0);
}

static void test_retry_is_bounded_by_tries_and_queue(void **state)
{
	(void)state;
	assert_true(alert_retry_allowed(1, 4, 0));
	assert_true(alert_retry_allowed(3, 4, ALERT_RETRY_QUEUE_MAX - 1));
	assert_false(alert_retry_allowed(4, 4, 0));
	assert_false(alert_retry_allowed(1, 1, 0)); /* send_attempts 1: no retry */
	assert_false(alert_retry_allowed(1, 4, ALERT_RETRY_QUEUE_MAX));
}

static void test_state_file_both_ways(void **state)
{
	struct alert_saved *in = xcalloc(1, sizeof(*in)), *out = xcalloc(1, sizeof(*out));
	const char *bad = "{\"version\": 1, \"firing\": [{\"key\": 5}, {\"key\": \"ok\", "
			  "\"sent_ms\": 7}, {\"sent_ms\": 1}], \"cron_fails\": [{\"job\": \"j\", "
			  "\"fails\": 0}, {\"job\": \"k\", \"fails\": 3}, \"x\"]}";
	char *json;

	(void)state;
	snprintf(in->keys[0].key, ALERT_KEY_LEN, "cron:backup");
	in->keys[0].sent_wall_ms = 1700000000123LL;
	snprintf(in->keys[1].key, ALERT_KEY_LEN, "mcp:\"odd\"\\name");
	in->keys[1].sent_wall_ms = 1;
	in->n_keys = 2;
	snprintf(in->jobs[0].job, ALERT_KEY_LEN, "backup");
	in->jobs[0].fails = 2;
	in->n_jobs = 1;
	json = alert_state_encode(in);
	assert_int_equal(alert_state_decode(json, strlen(json), out), 0);
	assert_int_equal(out->n_keys, 2);
	assert_string_equal(out->keys[0].key, "cron:backup");
	assert_true(out->keys[0].sent_wall_ms == 1700000000123LL);
	assert_string_equal(out->keys[1].key, "mcp:\"odd\"\\name");
	assert_int_equal(out->n_jobs, 1);
	assert_string_equal(out->jobs[0].job, "backup");
	assert_int_equal(out->jobs[0].fails, 2);
	free(json);
	/* Entries that are not well formed are skipped; what is not the file at all is refused. */
	assert_int_equal(alert_state_decode(bad, strlen(bad), out), 0);
	assert_int_equal(out->n_keys, 1);
	assert_string_equal(out->keys[0].key, "ok");
	assert_int_equal(out->n_jobs, 1);
	assert_string_equal(out->jobs[0].job, "k");
	assert_int_equal(alert_state_decode("[1, 2]", 6, out), -EINVAL);
	assert_int_equal(alert_state_decode("{\"firing\": ", 11, out), -EINVAL);
	assert_int_equal(alert_state_decode("{\"firing\": []} x", 16, out), -EINVAL);
	assert_int_equal(alert_state_decode("{\"firing\": []}\n", 15, out), 0);
	assert_int_equal(out->n_keys, 0);
	free(in);
	free(out);
}

static void test_restored_time_follows_the_wall_clock(void **state)
{
	(void)state;
	/* Sent ten minutes before now by the wall clock: ten minutes before now on this boot's
	 * monotonic clock, whatever its origin. */
	assert_true(alert_restore_mono(T0, T0 + 10 * MIN_MS, 5000) == 5000 - 10 * MIN_MS);
	/* A wall clock stepped back since: counted as sent now, never in the future. */
	assert_true(alert_restore_mono(T0 + MIN_MS, T0, 5000) == 5000);
}

/* ---- the module on an injected clock ------------------------------------------------------ */

struct clock {
	int64_t mono, wall;
};

static int64_t clock_mono(void *arg)
{
	return ((struct clock *)arg)->mono;
}

static int64_t clock_wall(void *arg)
{
	return ((struct clock *)arg)->wall;
}

struct mod {
	char home[32];
	struct config *cfg;
	struct loop *loop;
	struct metrics *metrics;
	struct alerts *a;
	struct clock clock;
	int port_fd; /* the refused port's socket, or -1 */
};

static void mod_start(struct mod *m)
{
	m->metrics = metrics_create();
	m->a = alerts_create(m->cfg, m->loop, m->metrics);
	alerts_set_clock(m->a, clock_mono, clock_wall, &m->clock);
	alerts_start(m->a, &(struct alerts_sources){0});
}

/* The state file is written on a worker: lets the writes that were started end (and only
 * them: no other event runs meanwhile). */
static void settle(struct mod *m)
{
	offload_drain(loop_offload(m->loop));
}

static void mod_stop(struct mod *m)
{
	alerts_destroy(m->a);
	settle(m); /* its last write ends before the next start reads the file */
	metrics_destroy(m->metrics);
	m->a = NULL;
}

/* A loopback port nothing listens on: a webhook sent there is refused at once. */
static int refused_port(int *fd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(*fd >= 0);
	assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

/* alerts: options after dedupe (e.g. "max_per_hour: 1"); with_channel adds a webhook channel
 * whose every send is refused, tried once. */
static struct mod *mod_create_with(const char *alerts, bool with_channel)
{
	struct mod *m = xcalloc(1, sizeof(*m));
	struct config_diag *diag = config_diag_create();
	char *text, *channel = xstrdup("");

	log_set_stderr(0);
	snprintf(m->home, sizeof(m->home), "/tmp/hm-alerts-XXXXXX");
	assert_non_null(mkdtemp(m->home));
	m->port_fd = -1;
	if (with_channel) {
		free(channel);
		channel = xasprintf(", send_attempts: 1, channels: [{type: webhook, name: hook, "
				    "url: \"http://127.0.0.1:%d/hook\"}]",
				    refused_port(&m->port_fd));
	}
	text = xasprintf("home: %s\nalerts: {dedupe: 1h%s%s%s}\n", m->home, *alerts ? ", " : "",
			 alerts, channel);
	free(channel);
	assert_int_equal(config_parse("t.yaml", text, strlen(text), &m->cfg, diag), 0);
	free(text);
	config_diag_destroy(diag);
	m->loop = loop_create();
	m->clock = (struct clock){50000, T0 + 100 * MIN_MS};
	return m;
}

static struct mod *mod_create(void)
{
	return mod_create_with("", false);
}

static void mod_destroy(struct mod *m)
{
	mod_stop(m);
	loop_destroy(m->loop);
	config_destroy(m->cfg);
	if (m->port_fd >= 0)
		close(m->port_fd);
	assert_int_equal(fileio_remove_tree(m->home), 0);
	free(m);
}

static char *state_file(struct mod *m)
{
	char *path = xasprintf("%s/alerts-state.json", m->home);
	struct buf b;

	settle(m);
	buf_init(&b, 0);
	if (fileio_read(path, ALERT_STATE_MAX_BYTES, &b) < 0)
		buf_puts(&b, "(none)");
	free(path);
	return buf_steal(&b);
}

static bool has_metric(struct mod *m, const char *line)
{
	struct buf b;
	bool found;

	buf_init(&b, 0);
	metrics_render(m->metrics, &b);
	found = strstr(buf_str(&b), line) != NULL;
	buf_finish(&b);
	return found;
}

/* Runs the loop until the metrics show line (the sends' answers come from it). */
static void run_until_metric(struct mod *m, const char *line)
{
	for (int i = 0; i < 200 && !has_metric(m, line); i++)
		event_base_loop(loop_base(m->loop), EVLOOP_ONCE);
	assert_true(has_metric(m, line));
}

/* The state file as a previous process left it: keys whose firing was announced a minute ago
 * (wall clock). */
static void write_firing(struct mod *m, const char *k1, const char *k2)
{
	char *path = xasprintf("%s/alerts-state.json", m->home);
	char *json = xasprintf("{\"version\": 1, \"firing\": [{\"key\": \"%s\", \"sent_ms\": "
			       "%lld}, {\"key\": \"%s\", \"sent_ms\": %lld}], \"cron_fails\": []}",
			       k1, (long long)(m->clock.wall - MIN_MS), k2,
			       (long long)(m->clock.wall - MIN_MS));

	assert_int_equal(fileio_write_atomic(path, json, strlen(json), 0600), 0);
	free(json);
	free(path);
}

static bool file_has(struct mod *m, const char *what)
{
	char *text = state_file(m);
	bool found = strstr(text, what) != NULL;

	free(text);
	return found;
}

static void test_resolved_not_sent_stays_firing(void **state)
{
	struct alert_state s = {0};

	(void)state;
	alert_update(&s, false, true, T0);
	/* A rate limit held the resolved report back: receivers still see it firing. */
	alert_update(&s, true, false, T0 + 1);
	assert_true(s.firing && s.notified && s.last_sent_ms == T0);
	assert_int_equal(alert_decide(&s, true, T0 + 2, MIN_MS), ALERT_SEND);
	alert_update(&s, true, true, T0 + 2);
	assert_false(s.firing || s.notified);
	/* Never announced: nothing to say, nothing kept. */
	alert_update(&s, false, false, T0 + 3);
	alert_update(&s, true, false, T0 + 4);
	assert_false(s.firing || s.notified);
}

static void test_resolved_held_back_by_the_hourly_limit_is_sent_later(void **state)
{
	struct mod *m = mod_create_with("max_per_hour: 1", true);

	(void)state;
	write_firing(m, "mcp:a", "mcp:b");
	mod_start(m);
	alerts_resolve(m->a, "mcp:a", "connected again");
	assert_false(file_has(m, "mcp:a"));
	/* The hour's one message went to mcp:a: mcp:b's resolved waits, still firing. */
	alerts_resolve(m->a, "mcp:b", "connected again");
	assert_true(has_metric(m, "hermetic_alerts_suppressed_total{reason=\"rate_limited\"} 1\n"));
	assert_true(file_has(m, "mcp:b"));
	alerts_resolve(m->a, "mcp:b", "connected again");
	assert_true(has_metric(m, "hermetic_alerts_suppressed_total{reason=\"rate_limited\"} 2\n"));
	m->clock.mono += 60 * MIN_MS;
	alerts_resolve(m->a, "mcp:b", "connected again");
	assert_false(file_has(m, "mcp:b"));
	mod_destroy(m);
}

static void test_resolved_no_channel_took_is_reported_again(void **state)
{
	struct mod *m = mod_create_with("", true);

	(void)state;
	write_firing(m, "mcp:a", "mcp:b");
	mod_start(m);
	alerts_resolve(m->a, "mcp:a", "connected again");
	assert_false(file_has(m, "mcp:a"));
	/* Its only try is refused: the firing is back, as announced a minute ago. */
	run_until_metric(m, "hermetic_alerts_given_up_total{channel=\"hook\"} 1\n");
	assert_true(file_has(m, "mcp:a"));
	alerts_fire(m->a, "mcp:a", "MCP server a down", "down again");
	assert_true(has_metric(m, "hermetic_alerts_suppressed_total{reason=\"duplicate\"} 1\n"));
	/* The next report of the cleared condition says resolved again. */
	alerts_resolve(m->a, "mcp:a", "connected again");
	run_until_metric(m, "hermetic_alerts_given_up_total{channel=\"hook\"} 2\n");
	mod_destroy(m);
}

static void test_restart_within_the_window_stays_quiet(void **state)
{
	struct mod *m = mod_create_with("", true);
	char *path = xasprintf("%s/alerts-state.json", m->home);
	/* A previous process announced the poller down 5 minutes ago (wall clock). */
	char *json = xasprintf("{\"version\": 1, \"firing\": [{\"key\": \"telegram_poller\", "
			       "\"sent_ms\": %lld}], \"cron_fails\": []}",
			       (long long)(m->clock.wall - 5 * MIN_MS));
	char *after;

	(void)state;
	assert_int_equal(fileio_write_atomic(path, json, strlen(json), 0600), 0);
	mod_start(m);
	alerts_fire(m->a, "telegram_poller", "Telegram poller down", "still down");
	assert_true(has_metric(m, "hermetic_alerts_suppressed_total{reason=\"duplicate\"} 1\n"));
	/* Still a duplicate until an hour after the first send, then news (a reminder). */
	m->clock.mono += 54 * MIN_MS;
	alerts_fire(m->a, "telegram_poller", "Telegram poller down", "still down");
	assert_true(has_metric(m, "hermetic_alerts_suppressed_total{reason=\"duplicate\"} 2\n"));
	assert_false(has_metric(m, "hermetic_alerts_sent_total{"));
	m->clock.mono += MIN_MS;
	alerts_fire(m->a, "telegram_poller", "Telegram poller down", "still down");
	assert_true(has_metric(m, "hermetic_alerts_suppressed_total{reason=\"duplicate\"} 2\n"));
	/* The reminder went to the channel (which refused it): one try, the only one. */
	run_until_metric(m, "hermetic_alerts_sent_total{channel=\"hook\",result=\"failed\"} 1\n");
	assert_false(has_metric(m, "result=\"ok\""));
	/* It cleared: the key leaves the file, so the next start knows nothing of it. */
	alerts_resolve(m->a, "telegram_poller", "polling again");
	after = state_file(m);
	assert_null(strstr(after, "telegram_poller"));
	free(after);
	free(json);
	free(path);
	mod_destroy(m);
}

static void test_cron_failures_keep_counting_across_a_restart(void **state)
{
	struct mod *m = mod_create();
	char *text;

	(void)state;
	mod_start(m);
	alerts_job_done(m->a, "cron:backup", false, "disk full");
	alerts_job_done(m->a, "hook:x", false, "not a cron job");
	text = state_file(m);
	assert_non_null(strstr(text, "{\"job\": \"backup\", \"fails\": 1}"));
	assert_null(strstr(text, "\"x\""));
	free(text);
	mod_stop(m);
	mod_start(m);
	alerts_job_done(m->a, "cron:backup", false, "disk full");
	text = state_file(m);
	assert_non_null(strstr(text, "{\"job\": \"backup\", \"fails\": 2}"));
	free(text);
	alerts_job_done(m->a, "cron:backup", true, "fine");
	text = state_file(m);
	assert_null(strstr(text, "backup"));
	free(text);
	mod_destroy(m);
}

/* The body of the first request a webhook receiver on fd (listening, non-blocking) gets,
 * the loop run meanwhile; NULL when none came. malloc'd. */
static char *receive_body(struct mod *m, int fd)
{
	struct buf in;
	int conn = -1;
	char chunk[4096], *body = NULL;

	buf_init(&in, 0);
	for (int i = 0; i < 2000 && !body; i++) {
		const char *end, *len;
		ssize_t n;

		event_base_loop(loop_base(m->loop), EVLOOP_NONBLOCK);
		if (conn < 0)
			conn = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
		n = conn >= 0 ? recv(conn, chunk, sizeof(chunk), 0) : -1;
		if (n > 0)
			buf_append(&in, chunk, (size_t)n);
		else
			usleep(1000);
		end = in.len ? strstr(buf_str(&in), "\r\n\r\n") : NULL;
		len = in.len ? strcasestr(buf_str(&in), "Content-Length: ") : NULL;
		if (end && len &&
		    in.len >= (size_t)(end + 4 - in.data) + strtoul(len + 16, NULL, 10))
			body = xstrdup(end + 4);
	}
	if (conn >= 0)
		close(conn);
	buf_finish(&in);
	return body;
}

/* A cron job's error cut for its alert in the middle of an emoji: the webhook body is valid
 * UTF-8 JSON, the error cut between characters with an ellipsis (no U+FFFD). */
static void test_a_cron_error_is_cut_between_characters(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct buf err;
	char *opts, *body, *text;
	struct mod *m;
	cJSON *j;

	(void)state;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	opts = xasprintf("send_attempts: 1, channels: [{type: webhook, name: hook, "
			 "url: \"http://127.0.0.1:%d/hook\"}]",
			 ntohs(sa.sin_port));
	m = mod_create_with(opts, false);
	buf_init(&err, 0);
	buf_puts(&err, "x");
	for (int i = 0; i < 200; i++)
		buf_puts(&err, "\xF0\x9F\x94\xA5"); /* the 500th byte is inside an emoji */
	mod_start(m);
	alerts_job_done(m->a, "cron:backup", false, buf_str(&err));
	alerts_job_done(m->a, "cron:backup", false, buf_str(&err));
	body = receive_body(m, fd);
	assert_non_null(body);
	assert_true(valid_utf8(body));
	j = cJSON_Parse(body);
	assert_non_null(j);
	text = cJSON_GetObjectItem(j, "text")->valuestring;
	assert_null(strstr(text, "\xEF\xBF\xBD"));
	assert_string_equal(text + strlen(text) - 7, "\xF0\x9F\x94\xA5\xE2\x80\xA6");
	cJSON_Delete(j);
	free(body);
	buf_finish(&err);
	free(opts);
	mod_destroy(m);
	close(fd);
}

static void test_unreadable_state_file_starts_empty(void **state)
{
	struct mod *m = mod_create();
	char *path = xasprintf("%s/alerts-state.json", m->home);
	/* A well-formed start announcing the breaker a minute ago, then garbage: the file was
	 * not written by us (ours are written whole), so none of it is believed. */
	char *json = xasprintf("{\"version\": 1, \"firing\": [{\"key\": \"breaker\", \"sent_ms\": "
			       "%lld}], \"cron_fails\": []} not json",
			       (long long)(m->clock.wall - MIN_MS));

	(void)state;
	assert_int_equal(fileio_write_atomic(path, json, strlen(json), 0600), 0);
	mod_start(m);
	alerts_fire(m->a, "breaker", "open", "open");
	assert_false(has_metric(m, "hermetic_alerts_suppressed_total{reason=\"duplicate\"}"));
	free(json);
	free(path);
	mod_destroy(m);
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
		cmocka_unit_test(test_balance_low_only_with_a_minimum),
		cmocka_unit_test(test_messages_are_redacted_and_well_formed),
		cmocka_unit_test(test_messages_are_valid_utf8_whatever_the_text),
		cmocka_unit_test(test_a_cron_error_is_cut_between_characters),
		cmocka_unit_test(test_retry_delay_doubles_up_to_the_cap),
		cmocka_unit_test(test_retry_is_bounded_by_tries_and_queue),
		cmocka_unit_test(test_state_file_both_ways),
		cmocka_unit_test(test_restored_time_follows_the_wall_clock),
		cmocka_unit_test(test_resolved_not_sent_stays_firing),
		cmocka_unit_test(test_resolved_held_back_by_the_hourly_limit_is_sent_later),
		cmocka_unit_test(test_resolved_no_channel_took_is_reported_again),
		cmocka_unit_test(test_restart_within_the_window_stays_quiet),
		cmocka_unit_test(test_cron_failures_keep_counting_across_a_restart),
		cmocka_unit_test(test_unreadable_state_file_starts_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
