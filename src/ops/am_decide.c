/* am_decide: the pure half of the Alertmanager intake (alertmanager.h): a webhook payload
 * parsed into plain structs with every list and string capped (AM_ALERTS_MAX, AM_LABELS_MAX,
 * AM_VALUE_MAX) and errors that say where, a group's fingerprint set and whether one set lies
 * within another, the decision for a notification (investigate, note, resolve, nothing), and
 * the body of a silence. No state, no I/O: tests/test_alertmanager.c drives each over its
 * decision table and tests/fuzz/fuzz_alertmanager.c the parser.
 *
 * Split out of alertmanager.c, which owns the groups and calls these; nothing here calls back.
 */
#include "ops/alertmanager.h"
#include "core/json.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pure: the payload ------------------------------------------------------------------ */

static char *str_field(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (!cJSON_IsString(v))
		return xstrdup("");
	return xstrndup(v->valuestring,
			utf8_cut(v->valuestring, strnlen(v->valuestring, AM_VALUE_MAX)));
}

static void labels_free(struct am_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].name);
		free(l[i].value);
	}
	free(l);
}

/* An object of strings (labels, annotations) into *out; missing = none. */
static int labels_parse(const cJSON *obj, const char *where, struct am_label **out, size_t *n,
			char *err, size_t err_len)
{
	const cJSON *it;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (!obj)
		return 0;
	if (!cJSON_IsObject(obj)) {
		snprintf(err, err_len, "%s: expected an object of strings", where);
		return -EINVAL;
	}
	*out = xcalloc(AM_LABELS_MAX, sizeof(**out));
	cJSON_ArrayForEach(it, obj)
	{
		if (!cJSON_IsString(it)) {
			snprintf(err, err_len, "%s.%.64s: expected a string", where, it->string);
			labels_free(*out, k);
			*out = NULL;
			return -EINVAL;
		}
		if (k == AM_LABELS_MAX)
			break;
		(*out)[k].name = xstrndup(it->string, strnlen(it->string, 256));
		(*out)[k].value =
			xstrndup(it->valuestring,
				 utf8_cut(it->valuestring, strnlen(it->valuestring, AM_VALUE_MAX)));
		k++;
	}
	*n = k;
	return 0;
}

static bool status_firing(const cJSON *obj, const char *where, bool *firing, char *err,
			  size_t err_len)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, "status");

	if (!cJSON_IsString(s) ||
	    (strcmp(s->valuestring, "firing") != 0 && strcmp(s->valuestring, "resolved") != 0)) {
		snprintf(err, err_len, "%sstatus: expected \"firing\" or \"resolved\"", where);
		return false;
	}
	*firing = strcmp(s->valuestring, "firing") == 0;
	return true;
}

static int alert_parse(const cJSON *a, size_t i, struct am_alert *out, char *err, size_t err_len)
{
	char where[48];
	int rc;

	snprintf(where, sizeof(where), "alerts[%zu].", i);
	if (!cJSON_IsObject(a)) {
		snprintf(err, err_len, "alerts[%zu]: expected an object", i);
		return -EINVAL;
	}
	if (!status_firing(a, where, &out->firing, err, err_len))
		return -EINVAL;
	snprintf(where, sizeof(where), "alerts[%zu].labels", i);
	rc = labels_parse(cJSON_GetObjectItemCaseSensitive(a, "labels"), where, &out->labels,
			  &out->n_labels, err, err_len);
	snprintf(where, sizeof(where), "alerts[%zu].annotations", i);
	if (rc == 0)
		rc = labels_parse(cJSON_GetObjectItemCaseSensitive(a, "annotations"), where,
				  &out->annotations, &out->n_annotations, err, err_len);
	out->fingerprint = str_field(a, "fingerprint");
	out->starts_at = str_field(a, "startsAt");
	out->ends_at = str_field(a, "endsAt");
	out->generator_url = str_field(a, "generatorURL");
	if (rc == 0 && !*out->fingerprint) {
		snprintf(err, err_len, "alerts[%zu].fingerprint: expected a non-empty string", i);
		rc = -EINVAL;
	}
	return rc;
}

static void alert_finish(struct am_alert *a)
{
	free(a->fingerprint);
	free(a->starts_at);
	free(a->ends_at);
	free(a->generator_url);
	labels_free(a->labels, a->n_labels);
	labels_free(a->annotations, a->n_annotations);
}

void am_notification_finish(struct am_notification *n)
{
	for (size_t i = 0; i < n->n_alerts; i++)
		alert_finish(&n->alerts[i]);
	free(n->alerts);
	free(n->receiver);
	free(n->group_key);
	free(n->external_url);
	labels_free(n->group_labels, n->n_group_labels);
	labels_free(n->common_labels, n->n_common_labels);
	labels_free(n->common_annotations, n->n_common_annotations);
	memset(n, 0, sizeof(*n));
}

/* "line L, column C" of pos in body (columns in bytes, from 1). */
static void where_in(const char *body, size_t len, const char *pos, char *out, size_t out_len)
{
	size_t line = 1, col = 1;

	for (const char *p = body; p < pos && p < body + len; p++) {
		if (*p == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	snprintf(out, out_len, "line %zu, column %zu", line, col);
}

static int notification_fields(const cJSON *root, struct am_notification *out, char *err,
			       size_t err_len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
	const cJSON *alerts = cJSON_GetObjectItemCaseSensitive(root, "alerts");
	const cJSON *trunc = cJSON_GetObjectItemCaseSensitive(root, "truncatedAlerts");
	const cJSON *a;
	int rc;

	if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, "4") != 0)) {
		snprintf(err, err_len, "version: expected \"4\" (Alertmanager's webhook payload)");
		return -EINVAL;
	}
	if (!status_firing(root, "", &out->firing, err, err_len))
		return -EINVAL;
	out->receiver = str_field(root, "receiver");
	out->group_key = str_field(root, "groupKey");
	out->external_url = str_field(root, "externalURL");
	if (!*out->group_key) {
		snprintf(err, err_len, "groupKey: expected a non-empty string");
		return -EINVAL;
	}
	if (!cJSON_IsArray(alerts)) {
		snprintf(err, err_len, "alerts: expected an array");
		return -EINVAL;
	}
	rc = labels_parse(cJSON_GetObjectItemCaseSensitive(root, "groupLabels"), "groupLabels",
			  &out->group_labels, &out->n_group_labels, err, err_len);
	if (rc == 0)
		rc = labels_parse(cJSON_GetObjectItemCaseSensitive(root, "commonLabels"),
				  "commonLabels", &out->common_labels, &out->n_common_labels, err,
				  err_len);
	if (rc == 0)
		rc = labels_parse(cJSON_GetObjectItemCaseSensitive(root, "commonAnnotations"),
				  "commonAnnotations", &out->common_annotations,
				  &out->n_common_annotations, err, err_len);
	if (rc < 0)
		return rc;
	if (cJSON_IsNumber(trunc) && trunc->valuedouble > 0 && trunc->valuedouble < 1e9)
		out->n_dropped = (size_t)trunc->valuedouble;
	out->alerts = xcalloc((size_t)cJSON_GetArraySize(alerts) < AM_ALERTS_MAX
				      ? (size_t)cJSON_GetArraySize(alerts) + 1
				      : AM_ALERTS_MAX,
			      sizeof(*out->alerts));
	cJSON_ArrayForEach(a, alerts)
	{
		if (out->n_alerts == AM_ALERTS_MAX) {
			out->n_dropped++;
			continue;
		}
		rc = alert_parse(a, out->n_alerts, &out->alerts[out->n_alerts], err, err_len);
		out->n_alerts++;
		if (rc < 0)
			return rc;
	}
	return 0;
}

int am_parse(const char *body, size_t len, struct am_notification *out, char *err, size_t err_len)
{
	struct json_error jerr;
	cJSON *root;
	char at[48];
	int rc;

	memset(out, 0, sizeof(*out));
	root = json_parse(body, len, 0, &jerr);
	if (!root && jerr.duplicate) {
		snprintf(err, err_len, "the body is not I-JSON: %s", jerr.msg);
		return -EINVAL;
	}
	if (!root) {
		where_in(body, len, body + jerr.offset, at, sizeof(at));
		snprintf(err, err_len, "the body is not JSON (%s)", at);
		return -EINVAL;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, err_len,
			 "the body must be a JSON object (Alertmanager's webhook "
			 "payload, version 4)");
		cJSON_Delete(root);
		return -EINVAL;
	}
	rc = notification_fields(root, out, err, err_len);
	cJSON_Delete(root);
	if (rc < 0)
		am_notification_finish(out);
	return rc;
}

const char *am_label_get(const struct am_label *labels, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(labels[i].name, name) == 0)
			return labels[i].value;
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void am_fingerprints(const struct am_notification *n, struct buf *out)
{
	const char **v = xcalloc(n->n_alerts + 1, sizeof(*v));
	size_t k = 0;

	for (size_t i = 0; i < n->n_alerts; i++)
		if (n->alerts[i].firing)
			v[k++] = n->alerts[i].fingerprint;
	qsort(v, k, sizeof(*v), cmp_str);
	for (size_t i = 0; i < k; i++)
		if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
			buf_printf(out, "%s%s", out->len ? "," : "", v[i]);
	free(v);
}

/* Is the item a[0..len) in the comma-separated list b? */
static bool list_has(const char *b, const char *a, size_t len)
{
	while (*b) {
		size_t n = strcspn(b, ",");

		if (n == len && strncmp(a, b, len) == 0)
			return true;
		b += n + (b[n] == ',');
	}
	return false;
}

bool am_fingerprints_within(const char *a, const char *b)
{
	while (*a) {
		size_t n = strcspn(a, ",");

		if (n && !list_has(b, a, n))
			return false;
		a += n + (a[n] == ',');
	}
	return true;
}

/* ---- pure: the decision ----------------------------------------------------------------- */

enum am_action am_decide(const struct am_group_view *g, bool firing, const char *fingerprints,
			 int64_t now_ms, const struct am_limits *lim)
{
	bool recent = g->known && g->investigated_ms &&
		      now_ms - g->investigated_ms < lim->reinvestigate_after_ms;

	if (!firing)
		return g->known && g->investigated_ms && g->has_message ? AM_RESOLVED : AM_NOTHING;
	if (g->known && g->acked)
		return AM_ACKED;
	if (recent && am_fingerprints_within(fingerprints, g->fingerprints))
		return AM_SEEN;
	if (g->known && g->investigated_ms &&
	    now_ms - g->investigated_ms < lim->group_min_interval_ms)
		return AM_GROUP_RATE;
	if (lim->started_last_hour >= lim->max_per_hour)
		return AM_RATE;
	return AM_INVESTIGATE;
}

const char *am_action_name(enum am_action a)
{
	static const char *const names[] = {
		"investigating", "already_investigated", "acked",  "group_rate_limited",
		"rate_limited",	 "resolved_noted",	 "nothing"};

	return names[a];
}

/* ---- pure: the silence ------------------------------------------------------------------ */

void am_silence_body(const struct am_label *labels, size_t n, int64_t now_ms, int64_t duration_ms,
		     const char *comment, struct buf *out)
{
	char from[RFC3339_LEN], to[RFC3339_LEN];

	rfc3339_utc(now_ms, true, from);
	rfc3339_utc(now_ms + duration_ms, true, to);
	buf_puts(out, "{\"matchers\":[");
	for (size_t i = 0; i < n; i++) {
		buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
		buf_json_str(out, labels[i].name, strlen(labels[i].name));
		buf_puts(out, ",\"value\":");
		buf_json_str(out, labels[i].value, strlen(labels[i].value));
		buf_puts(out, ",\"isRegex\":false,\"isEqual\":true}");
	}
	buf_printf(out,
		   "],\"startsAt\":\"%s\",\"endsAt\":\"%s\",\"createdBy\":\"hermetic\","
		   "\"comment\":",
		   from, to);
	buf_json_str(out, comment, strlen(comment));
	buf_puts(out, "}");
}
