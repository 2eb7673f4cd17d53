/* alertmanager: `POST /v1/alerts/alertmanager`, Alertmanager's webhook (payload version 4),
 * turned into read-only investigations delivered to Telegram with buttons.
 *
 * A notification is checked (alerts.alertmanager_token, constant-time; 401 otherwise), parsed
 * (400 says what and where) and decided per group (groupKey):
 *   firing, new fingerprints (or reinvestigate_after passed)  -> an investigation turn
 *   firing, fingerprints investigated within reinvestigate_after, or the group acked -> nothing
 *   firing, but group_min_interval or max_per_hour says no     -> nothing (logged)
 *   resolved, after an investigation                           -> a note replying to it
 * and answered 200 {"status":"ok","action":...} at once (Alertmanager does not wait).
 *
 * An investigation is a fresh session of source "alert:<id>" with only prometheus_query and
 * the read-only tools of alerts.investigate.mcp_servers, the runbook skill matched by the
 * alert (runbooks/<alertname lower-cased>, else a runbook whose front matter `labels:` all
 * match), and its own cost cap. The answer goes to the alerts chat with the buttons Silence 1h,
 * Silence 4h (Alertmanager API v2, only with alerts.alertmanager_url), Ack and Dig deeper
 * (callback_data "a:<op>:<id>"). Groups live in the store's am_groups table, so a restart
 * investigates nothing twice.
 */
#ifndef HERMETIC_ALERTMANAGER_H
#define HERMETIC_ALERTMANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;
struct httpd;
struct job_sink;
struct loop;
struct store;
struct telegram;

#define AM_ALERTS_MAX 500  /* alerts read from one notification; the rest are counted */
#define AM_LABELS_MAX 64   /* labels or annotations of one alert */
#define AM_VALUE_MAX  4096 /* bytes of one label or annotation value */
#define AM_GROUPS_MAX 1024 /* groups remembered; the least recently seen go first */
#define AM_PROMPT_MAX (16 * 1024)
#define AM_KEEP_MS    (14LL * 24 * 3600 * 1000) /* groups not seen this long are forgotten */

/* The store migration of the groups table (appended to the list in gateway/schema.c).
 * fingerprints: the sorted firing fingerprints of the last investigation; labels: the group's
 * labels as a JSON object (silence matchers); chat_id, message_id: the investigation's message;
 * acked_by: who pressed Ack ('' = not acked). */
#define ALERTMANAGER_SCHEMA_SQL                                                                    \
	"CREATE TABLE am_groups (id INTEGER PRIMARY KEY, group_key TEXT NOT NULL UNIQUE,"          \
	" labels TEXT NOT NULL DEFAULT '{}', fingerprints TEXT NOT NULL DEFAULT '',"               \
	" investigated_ms INTEGER NOT NULL DEFAULT 0, chat_id INTEGER NOT NULL DEFAULT 0,"         \
	" message_id INTEGER NOT NULL DEFAULT 0, acked_by TEXT NOT NULL DEFAULT '',"               \
	" firing INTEGER NOT NULL DEFAULT 0, seen_ms INTEGER NOT NULL) STRICT;"

/* ---- pure: the payload ---- */

struct am_label {
	char *name, *value;
};

struct am_alert {
	bool firing;
	char *fingerprint, *starts_at, *ends_at, *generator_url;
	struct am_label *labels, *annotations;
	size_t n_labels, n_annotations;
};

struct am_notification {
	char *receiver, *group_key, *external_url;
	bool firing;
	struct am_alert *alerts;
	size_t n_alerts;
	size_t n_dropped; /* alerts beyond AM_ALERTS_MAX, plus truncatedAlerts */
	struct am_label *group_labels, *common_labels, *common_annotations;
	size_t n_group_labels, n_common_labels, n_common_annotations;
};

/* Parses body[0..len). Returns 0 with out filled (free with am_notification_finish), or
 * -EINVAL with one line in err saying what is wrong and where ("line 3, column 7: ...",
 * "alerts[2].labels: ...") and out zeroed. */
int am_parse(const char *body, size_t len, struct am_notification *out, char *err, size_t err_len);
void am_notification_finish(struct am_notification *n); /* accepts a zeroed struct */

/* The value of label name in labels, or NULL. */
const char *am_label_get(const struct am_label *labels, size_t n, const char *name);
/* The firing alerts' fingerprints, sorted, comma-separated, appended to out. */
void am_fingerprints(const struct am_notification *n, struct buf *out);
/* True when every fingerprint of sorted list a is in sorted list b. */
bool am_fingerprints_within(const char *a, const char *b);

/* ---- pure: the decision ---- */

enum am_action {
	AM_INVESTIGATE,
	AM_SEEN,       /* those alerts were investigated within reinvestigate_after */
	AM_ACKED,      /* someone pressed Ack: nothing until the group resolves */
	AM_GROUP_RATE, /* group_min_interval */
	AM_RATE,       /* max_per_hour */
	AM_RESOLVED,   /* a note under the investigation */
	AM_NOTHING,    /* resolved without an investigation to answer */
};

struct am_group_view {
	bool known;
	const char *fingerprints; /* of the last investigation, sorted ("" = none) */
	int64_t investigated_ms;  /* 0 = never */
	bool acked;
	bool has_message; /* the investigation's message id is known */
};

struct am_limits {
	int64_t reinvestigate_after_ms, group_min_interval_ms;
	int64_t max_per_hour;
	int64_t started_last_hour; /* investigations started in the hour before now */
};

enum am_action am_decide(const struct am_group_view *g, bool firing, const char *fingerprints,
			 int64_t now_ms, const struct am_limits *lim);
const char *am_action_name(enum am_action a);

/* The body of Alertmanager API v2 POST /api/v2/silences: one exact matcher per label,
 * startsAt now, endsAt now + duration_ms (RFC 3339 UTC with milliseconds), createdBy
 * "hermetic", comment. Appended to out. */
void am_silence_body(const struct am_label *labels, size_t n, int64_t now_ms, int64_t duration_ms,
		     const char *comment, struct buf *out);

/* True when the front matter of SKILL.md text[0..len) is valid (skill_md_parse, the parser
 * of every skill) and has a `labels:` map with at least one entry, all of whose entries are
 * labels of the alert (exact values). *n_matched gets how many (0 when false). */
bool am_runbook_matches(const char *text, size_t len, const struct am_label *labels, size_t n,
			size_t *n_matched);
/* The runbook of an alert with labels[0..n), as the investigation's extra system prompt (a
 * new string; NULL = none): skills/runbooks/<alertname lower-cased>/SKILL.md, else among the
 * runbooks whose front matter labels all match the one matching the most. *name gets the
 * skill's name (a new string) or NULL. Reads cfg->home's skills from disk: blocking, so the
 * gateway calls it on a worker (loop_offload). */
char *am_runbook_for(const struct config *cfg, const struct am_label *labels, size_t n,
		     char **name);
/* am_runbook_for() of n's first firing alert (NULL when none fires). */
char *am_runbook(const struct config *cfg, const struct am_notification *n, char **name);

/* ---- the route ---- */

struct alertmanager;

/* Borrows everything (tg may be NULL: answers are logged); all must outlive
 * alertmanager_destroy(). Loads the groups from the store. NULL when
 * alerts.alertmanager_token is not set (nothing to do). */
struct alertmanager *alertmanager_create(const struct config *cfg, struct loop *loop,
					 struct store *store, struct telegram *tg,
					 const struct job_sink *sink);
/* Adds POST /v1/alerts/alertmanager. Accepts a NULL am. */
void alertmanager_add_routes(struct alertmanager *am, struct httpd *api);
/* Cancels silences in flight; turns in flight only free their memory when they end. Accepts
 * NULL. */
void alertmanager_destroy(struct alertmanager *am);

#endif
