/* alertmanager: the webhook payload parser (version 4 as Alertmanager sends it, errors that say
 * what and where, the caps), the fingerprint sets, the decision table (new, repeat within and
 * after reinvestigate_after, a new alert joining, acked, the per-group and overall rate limits,
 * resolved with and without an investigation), the silence body (exact API v2 JSON), the
 * runbook front-matter match and the runbook chosen (by name, else the most labels matched).
 */
#include "test.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/util.h"
#include "ops/alertmanager.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0     1700000000000LL
#define MIN_MS 60000LL
#define HOUR   (60 * MIN_MS)

static const char SAMPLE[] =
	"{\"receiver\":\"hermetic\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
	"\"labels\":{\"alertname\":\"KubePodCrashLooping\",\"pod\":\"web-1\"},\"annotations\":"
	"{\"summary\":\"crash\"},\"startsAt\":\"2026-11-23T10:00:00Z\",\"endsAt\":"
	"\"0001-01-01T00:00:00Z\",\"generatorURL\":\"http://p/g\",\"fingerprint\":\"bb\"},"
	"{\"status\":\"resolved\",\"labels\":{\"alertname\":\"KubePodCrashLooping\",\"pod\":"
	"\"web-2\"},\"annotations\":{},\"startsAt\":\"2026-11-23T09:00:00Z\",\"endsAt\":"
	"\"2026-11-23T10:05:00Z\",\"generatorURL\":\"\",\"fingerprint\":\"cc\"},{\"status\":"
	"\"firing\",\"labels\":{\"alertname\":\"KubePodCrashLooping\",\"pod\":\"web-0\"},"
	"\"annotations\":{},\"startsAt\":\"2026-11-23T10:01:00Z\",\"endsAt\":"
	"\"0001-01-01T00:00:00Z\",\"generatorURL\":\"\",\"fingerprint\":\"aa\"}],"
	"\"groupLabels\":{\"alertname\":\"KubePodCrashLooping\"},\"commonLabels\":{\"alertname\":"
	"\"KubePodCrashLooping\"},\"commonAnnotations\":{},\"externalURL\":\"http://am:9093\","
	"\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"KubePodCrashLooping\\\"}\","
	"\"truncatedAlerts\":2}";

static void test_parses_alertmanagers_payload(void **state)
{
	struct am_notification n;
	struct buf fps;
	char err[256] = "";

	(void)state;
	assert_int_equal(am_parse(SAMPLE, strlen(SAMPLE), &n, err, sizeof(err)), 0);
	assert_true(n.firing);
	assert_string_equal(n.group_key, "{}:{alertname=\"KubePodCrashLooping\"}");
	assert_string_equal(n.receiver, "hermetic");
	assert_int_equal(n.n_alerts, 3);
	assert_int_equal(n.n_dropped, 2);
	assert_false(n.alerts[1].firing);
	assert_string_equal(am_label_get(n.alerts[0].labels, n.alerts[0].n_labels, "pod"), "web-1");
	assert_string_equal(n.alerts[0].annotations[0].value, "crash");
	assert_null(am_label_get(n.alerts[0].labels, n.alerts[0].n_labels, "nope"));
	assert_int_equal(n.n_group_labels, 1);
	buf_init(&fps, 0);
	am_fingerprints(&n, &fps);
	assert_string_equal(buf_str(&fps), "aa,bb"); /* firing only, sorted */
	buf_finish(&fps);
	am_notification_finish(&n);
}

static void expect_error(const char *body, const char *want)
{
	struct am_notification n;
	char err[256] = "";

	assert_int_equal(am_parse(body, strlen(body), &n, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not say \"%s\"", err, want);
	assert_null(n.alerts);
}

static void test_errors_say_what_and_where(void **state)
{
	(void)state;
	expect_error("{\"status\":\n  firing}", "line 2, column 3");
	expect_error("[]", "must be a JSON object");
	expect_error("{\"version\":\"3\",\"status\":\"firing\"}", "version");
	expect_error("{\"status\":\"burning\",\"groupKey\":\"k\",\"alerts\":[]}", "status");
	expect_error("{\"status\":\"firing\",\"alerts\":[]}", "groupKey");
	expect_error("{\"status\":\"firing\",\"groupKey\":\"k\",\"alerts\":{}}",
		     "alerts: expected");
	expect_error("{\"status\":\"firing\",\"groupKey\":\"k\",\"alerts\":[{\"status\":"
		     "\"firing\",\"fingerprint\":\"a\"},{\"status\":\"firing\",\"labels\":"
		     "{\"x\":1},\"fingerprint\":\"b\"}]}",
		     "alerts[1].labels.x: expected a string");
	expect_error("{\"status\":\"firing\",\"groupKey\":\"k\",\"alerts\":[{\"status\":"
		     "\"firing\"}]}",
		     "alerts[0].fingerprint");
}

static void test_caps_alerts_and_labels(void **state)
{
	struct buf b;
	struct am_notification n;
	char err[256];

	(void)state;
	buf_init(&b, 0);
	buf_puts(&b, "{\"status\":\"firing\",\"groupKey\":\"k\",\"alerts\":[");
	for (int i = 0; i < AM_ALERTS_MAX + 5; i++) {
		buf_printf(&b, "%s{\"status\":\"firing\",\"fingerprint\":\"f%d\",\"labels\":{",
			   i ? "," : "", i);
		for (int k = 0; k < (i == 0 ? AM_LABELS_MAX + 3 : 1); k++)
			buf_printf(&b, "%s\"l%d\":\"v\"", k ? "," : "", k);
		buf_puts(&b, "}}");
	}
	buf_puts(&b, "]}");
	assert_int_equal(am_parse(b.data, b.len, &n, err, sizeof(err)), 0);
	assert_int_equal(n.n_alerts, AM_ALERTS_MAX);
	assert_int_equal(n.n_dropped, 5);
	assert_int_equal(n.alerts[0].n_labels, AM_LABELS_MAX);
	am_notification_finish(&n);
	buf_finish(&b);
}

static void test_fingerprints_within(void **state)
{
	(void)state;
	assert_true(am_fingerprints_within("aa,bb", "aa,bb,cc"));
	assert_true(am_fingerprints_within("", "aa"));
	assert_false(am_fingerprints_within("aa,dd", "aa,bb,cc"));
	assert_false(am_fingerprints_within("a", "aa"));
	assert_false(am_fingerprints_within("aa", ""));
}

static const struct am_limits LIM = {4 * HOUR, 15 * MIN_MS, 6, 0};

static void test_decision_table(void **state)
{
	struct am_group_view none = {0};
	struct am_group_view seen = {true, "aa,bb", T0, false, true};
	struct am_group_view acked = {true, "aa,bb", T0, true, true};
	struct am_limits busy = LIM;

	(void)state;
	assert_int_equal(am_decide(&none, true, "aa", T0, &LIM), AM_INVESTIGATE);
	/* A repeat of the same alerts within reinvestigate_after, and a subset of them. */
	assert_int_equal(am_decide(&seen, true, "aa,bb", T0 + HOUR, &LIM), AM_SEEN);
	assert_int_equal(am_decide(&seen, true, "bb", T0 + HOUR, &LIM), AM_SEEN);
	/* After reinvestigate_after the same alerts are investigated again. */
	assert_int_equal(am_decide(&seen, true, "aa,bb", T0 + 4 * HOUR, &LIM), AM_INVESTIGATE);
	/* A new alert joins: investigated, but not within group_min_interval. */
	assert_int_equal(am_decide(&seen, true, "aa,bb,cc", T0 + 5 * MIN_MS, &LIM), AM_GROUP_RATE);
	assert_int_equal(am_decide(&seen, true, "aa,bb,cc", T0 + 15 * MIN_MS, &LIM),
			 AM_INVESTIGATE);
	/* Acked: nothing while firing, whatever joins. */
	assert_int_equal(am_decide(&acked, true, "zz", T0 + 5 * HOUR, &LIM), AM_ACKED);
	/* The overall limit. */
	busy.started_last_hour = 6;
	assert_int_equal(am_decide(&none, true, "aa", T0, &busy), AM_RATE);
	busy.started_last_hour = 5;
	assert_int_equal(am_decide(&none, true, "aa", T0, &busy), AM_INVESTIGATE);
	/* Resolved: a note only under an investigation whose message is known. */
	assert_int_equal(am_decide(&seen, false, "", T0 + HOUR, &LIM), AM_RESOLVED);
	assert_int_equal(am_decide(&acked, false, "", T0 + HOUR, &LIM), AM_RESOLVED);
	assert_int_equal(am_decide(&none, false, "", T0, &LIM), AM_NOTHING);
	seen.has_message = false;
	assert_int_equal(am_decide(&seen, false, "", T0, &LIM), AM_NOTHING);
	assert_string_equal(am_action_name(AM_SEEN), "already_investigated");
}

static void test_silence_body_is_api_v2(void **state)
{
	struct am_label l[] = {{"alertname", "KubePodCrashLooping"}, {"namespace", "pr\"od"}};
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	am_silence_body(l, 2, T0 + 123, HOUR, "by @ada", &b);
	assert_string_equal(
		buf_str(&b),
		"{\"matchers\":[{\"name\":\"alertname\",\"value\":\"KubePodCrashLooping\","
		"\"isRegex\":false,\"isEqual\":true},{\"name\":\"namespace\",\"value\":"
		"\"pr\\\"od\",\"isRegex\":false,\"isEqual\":true}],\"startsAt\":"
		"\"2023-11-14T22:13:20.123Z\",\"endsAt\":\"2023-11-14T23:13:20.123Z\","
		"\"createdBy\":\"hermetic\",\"comment\":\"by @ada\"}");
	buf_finish(&b);
}

static void test_runbook_front_matter_match(void **state)
{
	static const char md[] = "---\nname: crash\ndescription: x\nlabels:\n  alertname: "
				 "KubePodCrashLooping\n  namespace: \"prod\"\n---\nbody\nlabels:\n"
				 "  pod: nope\n";
	struct am_label yes[] = {
		{"alertname", "KubePodCrashLooping"}, {"namespace", "prod"}, {"pod", "web"}};
	struct am_label no[] = {{"alertname", "KubePodCrashLooping"}, {"namespace", "dev"}};
	size_t n;

	(void)state;
	assert_true(am_runbook_matches(md, strlen(md), yes, 3, &n));
	assert_int_equal(n, 2); /* the body's "labels:" is not front matter */
	assert_false(am_runbook_matches(md, strlen(md), no, 2, &n));
	assert_false(am_runbook_matches("---\nname: a\n---\n", 17, yes, 3, &n));
	assert_false(am_runbook_matches("no front matter", 15, yes, 3, &n));
}

static void write_runbook(const char *home, const char *name, const char *labels)
{
	char *dir = xasprintf("%s/skills/runbooks/%s", home, name);
	char *path = xasprintf("%s/SKILL.md", dir);
	char *md = xasprintf("---\nname: %s\ndescription: what to check\nlabels:\n%s---\nRB-%s\n",
			     name, labels, name);

	assert_int_equal(fileio_mkdirs(dir, 0700), 0);
	assert_int_equal(fileio_write_atomic(path, md, strlen(md), 0600), 0);
	free(md);
	free(path);
	free(dir);
}

static void test_runbook_matching_the_most_labels_wins(void **state)
{
	char home[32] = "/tmp/hm-am-XXXXXX", *text, *name = NULL, *yaml;
	struct config_diag *diag = config_diag_create();
	struct config *cfg = NULL;
	struct am_notification n;
	char err[128];

	(void)state;
	assert_non_null(mkdtemp(home));
	yaml = xasprintf("home: %s\n", home);
	assert_int_equal(config_parse("t.yaml", yaml, strlen(yaml), &cfg, diag), 0);
	assert_int_equal(am_parse(SAMPLE, strlen(SAMPLE), &n, err, sizeof(err)), 0);
	/* Both match the first firing alert (alertname, pod web-1); the first by name matches
	 * fewer labels. */
	write_runbook(home, "a-any-crash", "  alertname: KubePodCrashLooping\n");
	write_runbook(home, "b-web-crash", "  alertname: KubePodCrashLooping\n  pod: web-1\n");
	write_runbook(home, "c-other-pod", "  alertname: KubePodCrashLooping\n  pod: web-9\n");
	text = am_runbook(cfg, &n, &name);
	assert_non_null(text);
	assert_string_equal(name, "b-web-crash");
	assert_non_null(strstr(text, "RB-b-web-crash"));
	free(text);
	free(name);
	/* The runbook named for the alert wins over any match. */
	write_runbook(home, "kubepodcrashlooping", "  namespace: nowhere\n");
	text = am_runbook(cfg, &n, &name);
	assert_string_equal(name, "kubepodcrashlooping");
	free(text);
	free(name);
	am_notification_finish(&n);
	config_destroy(cfg);
	config_diag_destroy(diag);
	free(yaml);
	assert_int_equal(fileio_remove_tree(home), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parses_alertmanagers_payload),
		cmocka_unit_test(test_errors_say_what_and_where),
		cmocka_unit_test(test_caps_alerts_and_labels),
		cmocka_unit_test(test_fingerprints_within),
		cmocka_unit_test(test_decision_table),
		cmocka_unit_test(test_silence_body_is_api_v2),
		cmocka_unit_test(test_runbook_front_matter_match),
		cmocka_unit_test(test_runbook_matching_the_most_labels_wins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
