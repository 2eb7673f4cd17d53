/* alertmanager: Alertmanager's webhook turned into read-only investigations (see the header).
 *
 * The payload parser, the fingerprint sets, the decision and the silence body are pure
 * functions over plain values in am_decide.c, and so is the runbook match here
 * (tests/test_alertmanager.c); this file is the state machine around them: the groups, the
 * investigations, the route and the Silence/Ack/Dig deeper buttons. Groups are held in memory (at
 * most AM_GROUPS_MAX) and mirrored to the store's am_groups table: read once at start with short
 * statements, written through store_write so a locked database delays a write instead of losing it,
 * as hooks.c does.
 *
 * Rejected: one investigation per alert (a group is what Alertmanager says belongs together,
 * and one notification can carry hundreds of alerts); queueing investigations refused by the
 * rate limits (a queue would need its own cap and persistence, and Alertmanager repeats the
 * notification every repeat_interval anyway); writing silences without a human's press.
 */
#include "ops/alertmanager.h"
#include "core/json.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/loop.h"
#include "core/store.h"
#include "core/util.h"
#include "gateway/apiguard.h"
#include "gateway/jobs.h"
#include "telegram/telegram.h"
#include "net/httpc.h"
#include "net/httpd.h"
#include "skills/skill_md.h"
#include "skills/skill_set.h"
#include "tools/tools.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SILENCE_TIMEOUT_MS 10000
#define RUNBOOK_MAX	   (32 * 1024)
#define STARTS_KEPT	   1000 /* investigation and Dig deeper start times, for max_per_hour */
#define HOUR_MS		   3600000LL

/* ---- pure: runbooks -------------------------------------------------------------------- */

/* Labels of want matched by have, or 0 when one of them differs or is missing. */
static size_t labels_match(const struct skill_md_label *want, size_t n_want,
			   const struct am_label *have, size_t n)
{
	for (size_t i = 0; i < n_want; i++) {
		const char *v = am_label_get(have, n, want[i].name);

		if (!v || strcmp(v, want[i].value) != 0)
			return 0;
	}
	return n_want;
}

bool am_runbook_matches(const char *text, size_t len, const struct am_label *labels, size_t n,
			size_t *n_matched)
{
	struct skill_md md;
	struct buf err;

	*n_matched = 0;
	buf_init(&err, 1024);
	if (skill_md_parse(text, len, &md, &err) == 0) {
		*n_matched = labels_match(md.labels, md.n_labels, labels, n);
		skill_md_finish(&md);
	}
	buf_finish(&err);
	return *n_matched > 0;
}

/* ---- state ------------------------------------------------------------------------------ */

struct am_group {
	int64_t id;
	char *key;
	char *labels_json; /* the group's labels, for silences */
	char *fingerprints;
	int64_t investigated_ms, chat_id, message_id, seen_ms;
	char *acked_by; /* "" = not acked */
	bool firing;
	bool running; /* an investigation or Dig deeper turn */
	char *title;  /* the alertname, for notes */
};

/* An investigation whose runbook is looked for on a worker (am_runbook_for reads every
 * runbook's SKILL.md: the loop never waits for the disk). */
struct am_scan {
	struct alertmanager *am; /* NULL: destroyed, the callback only frees */
	const struct config *cfg;
	int64_t group_id, now_ms;
	char heading[160];
	char *prompt, *fps;
	struct am_label *labels; /* of the first firing alert, copied */
	size_t n_labels;
	char *extra, *skill; /* the worker's answer: the runbook's prompt and name, or NULL */
	struct am_scan *next;
};

struct am_run {
	struct alertmanager *am; /* NULL: destroyed, the callback only frees */
	int64_t group_id;
	bool dig;
	char heading[160]; /* "KubePodCrashLooping (2 firing)" */
	struct am_run *next;
};

struct am_silence {
	struct alertmanager *am;
	struct httpc_req *req;
	int64_t group_id;
	char *who;
	int64_t hours;
	struct am_silence *next;
};

struct alertmanager {
	const struct config *cfg;
	struct loop *loop;
	struct store *store;
	struct telegram *tg;
	const struct job_sink *sink;
	struct am_group **groups;
	size_t n_groups;
	int64_t next_id;
	int64_t starts[STARTS_KEPT]; /* ring of investigation and Dig deeper start times */
	size_t n_starts;
	struct am_run *runs;
	struct am_scan *scans; /* investigations waiting for their runbook */
	size_t n_scans;
	struct am_silence *silences;
	const char **builtins;
	struct tools_scope scope;
};

static void group_free(struct am_group *g)
{
	if (!g)
		return;
	free(g->key);
	free(g->labels_json);
	free(g->fingerprints);
	free(g->acked_by);
	free(g->title);
	free(g);
}

static struct am_group *group_by_key(struct alertmanager *am, const char *key)
{
	for (size_t i = 0; i < am->n_groups; i++)
		if (strcmp(am->groups[i]->key, key) == 0)
			return am->groups[i];
	return NULL;
}

static struct am_group *group_by_id(struct alertmanager *am, int64_t id)
{
	for (size_t i = 0; i < am->n_groups; i++)
		if (am->groups[i]->id == id)
			return am->groups[i];
	return NULL;
}

static int64_t started_last_hour(const struct alertmanager *am, int64_t now)
{
	int64_t n = 0;

	for (size_t i = 0; i < am->n_starts && i < STARTS_KEPT; i++)
		n += now - am->starts[i] < HOUR_MS;
	return n + (int64_t)am->n_scans; /* each becomes a start unless its turn fails */
}

/* A copy of a group's row, written by store_write. */
struct group_row {
	struct alertmanager *am;
	int64_t id, investigated_ms, chat_id, message_id, seen_ms;
	char *key, *labels_json, *fingerprints, *acked_by;
	bool firing;
};

static int write_group(struct store *s, void *arg)
{
	struct group_row *w = arg;
	sqlite3_stmt *st;
	int rc = 0;

	if (sqlite3_prepare_v2(
		    store_db(s),
		    "INSERT OR REPLACE INTO am_groups (id, group_key, labels, fingerprints,"
		    " investigated_ms, chat_id, message_id, acked_by, firing, seen_ms)"
		    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, "alert groups");
	sqlite3_bind_int64(st, 1, w->id);
	sqlite3_bind_text(st, 2, w->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, w->labels_json, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, w->fingerprints, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, w->investigated_ms);
	sqlite3_bind_int64(st, 6, w->chat_id);
	sqlite3_bind_int64(st, 7, w->message_id);
	sqlite3_bind_text(st, 8, w->acked_by, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, w->firing);
	sqlite3_bind_int64(st, 10, w->seen_ms);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, "alert groups");
	sqlite3_finalize(st);
	return rc;
}

static void group_row_free(void *arg, int rc)
{
	struct group_row *w = arg;

	if (rc < 0)
		log_warn("alertmanager: the state of group %lld was not stored: %s",
			 (long long)w->id, store_error(w->am->store));
	free(w->key);
	free(w->labels_json);
	free(w->fingerprints);
	free(w->acked_by);
	free(w);
}

static void save(struct alertmanager *am, const struct am_group *g)
{
	struct group_row *w = xcalloc(1, sizeof(*w));
	int rc;

	*w = (struct group_row){am,
				g->id,
				g->investigated_ms,
				g->chat_id,
				g->message_id,
				g->seen_ms,
				xstrdup(g->key),
				xstrdup(g->labels_json),
				xstrdup(g->fingerprints),
				xstrdup(g->acked_by),
				g->firing};
	rc = store_write(am->store, write_group, w, group_row_free);
	if (rc != -EINPROGRESS)
		group_row_free(w, rc);
}

/* The alertname of a stored group's labels, for its notes after a restart. */
static char *title_of_json(const char *labels_json)
{
	cJSON *j = json_parse_str(labels_json, NULL);
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "alertname");
	char *out = xstrdup(cJSON_IsString(name) ? name->valuestring : "alert group");

	cJSON_Delete(j);
	return out;
}

static void load(struct alertmanager *am)
{
	sqlite3 *db = store_db(am->store);
	sqlite3_stmt *st;
	int64_t now = now_wall_ms();

	if (sqlite3_prepare_v2(db, "DELETE FROM am_groups WHERE seen_ms < ?", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_int64(st, 1, now - AM_KEEP_MS);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (sqlite3_prepare_v2(
		    db,
		    "SELECT id, group_key, labels, fingerprints, investigated_ms, chat_id,"
		    " message_id, acked_by, firing, seen_ms FROM am_groups"
		    " ORDER BY seen_ms DESC LIMIT ?",
		    -1, &st, NULL) != SQLITE_OK) {
		log_warn("alertmanager: reading alert groups: %s", sqlite3_errmsg(db));
		return;
	}
	sqlite3_bind_int(st, 1, AM_GROUPS_MAX);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct am_group *g = xcalloc(1, sizeof(*g));

		g->id = sqlite3_column_int64(st, 0);
		g->key = xstrdup((const char *)sqlite3_column_text(st, 1));
		g->labels_json = xstrdup((const char *)sqlite3_column_text(st, 2));
		g->fingerprints = xstrdup((const char *)sqlite3_column_text(st, 3));
		g->investigated_ms = sqlite3_column_int64(st, 4);
		g->chat_id = sqlite3_column_int64(st, 5);
		g->message_id = sqlite3_column_int64(st, 6);
		g->acked_by = xstrdup((const char *)sqlite3_column_text(st, 7));
		g->firing = sqlite3_column_int(st, 8) != 0;
		g->seen_ms = sqlite3_column_int64(st, 9);
		g->title = title_of_json(g->labels_json);
		am->groups[am->n_groups++] = g;
		if (g->id >= am->next_id)
			am->next_id = g->id + 1;
		if (g->investigated_ms && now - g->investigated_ms < HOUR_MS)
			am->starts[am->n_starts++ % STARTS_KEPT] = g->investigated_ms;
	}
	sqlite3_finalize(st);
	/* Rows past AM_GROUPS_MAX are not loaded but keep their ids: a new group reusing one
	 * would replace that row, and its old message's buttons would act on the new group. */
	if (sqlite3_prepare_v2(db, "SELECT max(id) FROM am_groups", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) >= am->next_id)
			am->next_id = sqlite3_column_int64(st, 0) + 1;
		sqlite3_finalize(st);
	}
}

/* A new group, in place of the least recently seen one when AM_GROUPS_MAX are held (not one
 * with a turn running). */
static struct am_group *group_add(struct alertmanager *am, const char *key)
{
	struct am_group *g = xcalloc(1, sizeof(*g));
	size_t slot = am->n_groups;

	if (am->n_groups == AM_GROUPS_MAX) {
		slot = 0;
		for (size_t i = 1; i < am->n_groups; i++)
			if (!am->groups[i]->running &&
			    (am->groups[slot]->running ||
			     am->groups[i]->seen_ms < am->groups[slot]->seen_ms))
				slot = i;
		group_free(am->groups[slot]);
	} else {
		am->n_groups++;
	}
	g->id = am->next_id++;
	g->key = xstrdup(key);
	g->fingerprints = xstrdup("");
	g->acked_by = xstrdup("");
	g->labels_json = xstrdup("{}");
	g->title = xstrdup("alert group");
	am->groups[slot] = g;
	return g;
}

/* ---- investigations --------------------------------------------------------------------- */

static int64_t alerts_chat(const struct config *cfg)
{
	if (cfg->alerts.telegram_chat)
		return cfg->alerts.telegram_chat;
	if (cfg->telegram.admin_chat)
		return cfg->telegram.admin_chat;
	return cfg->telegram.n_allowed_users ? cfg->telegram.allowed_users[0] : 0;
}

static void labels_line(struct buf *b, const struct am_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s%s=%s", i ? ", " : "", l[i].name, l[i].value);
}

static void build_prompt(const struct am_notification *n, struct buf *p)
{
	size_t shown = 0;

	buf_printf(p,
		   "Alertmanager reports this alert group firing (groupKey %s). Investigate it "
		   "with the read-only tools you have (cluster state, events, pod logs, "
		   "Prometheus). Change nothing. Answer briefly for the on-call human: what is "
		   "wrong, the likely cause with the evidence you found, and what to do next.\n",
		   n->group_key);
	if (n->n_common_labels) {
		buf_puts(p, "\nCommon labels: ");
		labels_line(p, n->common_labels, n->n_common_labels);
		buf_puts(p, "\n");
	}
	for (size_t i = 0; i < n->n_alerts && p->len < AM_PROMPT_MAX; i++) {
		const struct am_alert *a = &n->alerts[i];

		if (!a->firing)
			continue;
		buf_printf(p, "\nAlert %zu (firing since %s)\nLabels: ", ++shown, a->starts_at);
		labels_line(p, a->labels, a->n_labels);
		for (size_t k = 0; k < a->n_annotations; k++)
			buf_printf(p, "\n%s: %s", a->annotations[k].name, a->annotations[k].value);
		buf_puts(p, "\n");
	}
	if (n->n_dropped)
		buf_printf(p, "\n(%zu more alerts were not included.)\n", n->n_dropped);
	if (p->len > AM_PROMPT_MAX) {
		p->len = utf8_cut(p->data, AM_PROMPT_MAX);
		p->data[p->len] = '\0';
	}
}

/* Test-only: HERMETIC_TEST_SLOW_RUNBOOK_MS (0 to 60000) makes each runbook scan sleep that
 * long first, as on a slow SD card, so the e2e tests can show that the scan never holds the
 * loop. Read by alertmanager_create, on the loop, before any scan runs; only tests set it. */
static long scan_delay_ms;

static long test_delay_ms(void)
{
	const char *v = getenv("HERMETIC_TEST_SLOW_RUNBOOK_MS");
	int64_t ms = 0;

	if (v && parse_i64(v, 0, 60000, &ms) < 0)
		ms = 0;
	return (long)ms;
}

char *am_runbook_for(const struct config *cfg, const struct am_label *labels, size_t n, char **name)
{
	const char *alertname = am_label_get(labels, n, "alertname");
	char lower[SKILL_MD_NAME_MAX + 1], *path, *out = NULL;
	struct skill_set set;
	const struct skill *best = NULL;
	size_t best_n = 0;
	bool by_name;
	struct buf text;

	*name = NULL;
	if (scan_delay_ms > 0) {
		struct timespec ts = {scan_delay_ms / 1000, (scan_delay_ms % 1000) * 1000000L};

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	snprintf(lower, sizeof(lower), "%s", alertname ? alertname : "");
	for (char *c = lower; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	skill_set_scan(cfg, &set);
	for (size_t i = 0; i < set.n && !best; i++)
		if (skill_usable(&set.v[i]) && set.v[i].category &&
		    strcmp(set.v[i].category, "runbooks") == 0 && strcmp(set.v[i].name, lower) == 0)
			best = &set.v[i];
	by_name = best != NULL;
	/* No runbook by name: the one whose front matter labels match the most wins (the first
	 * by name among equals). */
	for (size_t i = 0; i < set.n && !by_name; i++) {
		const struct skill *sk = &set.v[i];
		size_t k;

		if (!skill_usable(sk) || !sk->category || strcmp(sk->category, "runbooks") != 0)
			continue;
		k = labels_match(sk->labels, sk->n_labels, labels, n);
		if (k > best_n) {
			best = sk;
			best_n = k;
		}
	}
	if (best) {
		path = xasprintf("%s/SKILL.md", best->path);
		buf_init(&text, 0);
		if (fileio_read_head(path, RUNBOOK_MAX, &text, NULL) == 0) {
			*name = xstrdup(best->name);
			out = xasprintf("## Runbook (skill %s)\n%s", *name, buf_str(&text));
		}
		buf_finish(&text);
		free(path);
	}
	skill_set_finish(&set);
	return out;
}

char *am_runbook(const struct config *cfg, const struct am_notification *n, char **name)
{
	for (size_t i = 0; i < n->n_alerts; i++)
		if (n->alerts[i].firing)
			return am_runbook_for(cfg, n->alerts[i].labels, n->alerts[i].n_labels,
					      name);
	*name = NULL;
	return NULL;
}

static char *buttons_markup(const struct alertmanager *am, int64_t id)
{
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "{\"inline_keyboard\":[");
	if (am->cfg->alerts.alertmanager_url)
		buf_printf(&b,
			   "[{\"text\":\"Silence 1h\",\"callback_data\":\"a:s1:%lld\"},"
			   "{\"text\":\"Silence 4h\",\"callback_data\":\"a:s4:%lld\"}],",
			   (long long)id, (long long)id);
	buf_printf(&b,
		   "[{\"text\":\"Ack\",\"callback_data\":\"a:ack:%lld\"},"
		   "{\"text\":\"Dig deeper\",\"callback_data\":\"a:dig:%lld\"}]]}",
		   (long long)id, (long long)id);
	return buf_steal(&b);
}

/* A note under the group's investigation message (or alone when its id is unknown). */
static void note(struct alertmanager *am, const struct am_group *g, const char *markdown)
{
	int64_t chat = g->chat_id ? g->chat_id : alerts_chat(am->cfg);

	if (!am->tg || !chat) {
		log_info("alertmanager: %s", markdown);
		return;
	}
	telegram_send(am->tg, &(struct telegram_msg){.chat_id = chat,
						     .reply_to = g->message_id,
						     .markdown = markdown});
}

static void on_run_done(const struct job_result *r, void *arg)
{
	struct am_run *run = arg, **pp;
	struct alertmanager *am = run->am;
	struct am_group *g;
	char tag[32], *markup, *text;
	int64_t chat;

	if (!am) {
		free(run);
		return;
	}
	for (pp = &am->runs; *pp != run; pp = &(*pp)->next)
		;
	*pp = run->next;
	g = group_by_id(am, run->group_id);
	if (!g) {
		free(run);
		return;
	}
	g->running = false;
	chat = g->chat_id ? g->chat_id : alerts_chat(am->cfg);
	text = xasprintf("%s **%s**%s\n\n%s", run->dig ? "🔎" : "🚨", run->heading,
			 run->dig ? ": digging deeper" : "",
			 r->ok ? (r->text ? r->text : "") : "The investigation failed.");
	if (!r->ok)
		log_warn("alertmanager: the investigation of group %lld failed: %s",
			 (long long)g->id, r->text ? r->text : "unknown error");
	if (!am->tg || !chat) {
		log_info("alertmanager: %s", text);
	} else if (run->dig) {
		telegram_send(am->tg, &(struct telegram_msg){.chat_id = chat,
							     .reply_to = g->message_id,
							     .markdown = text});
	} else {
		snprintf(tag, sizeof(tag), "a:%lld", (long long)g->id);
		markup = buttons_markup(am, g->id);
		g->chat_id = chat;
		save(am, g);
		telegram_send(am->tg, &(struct telegram_msg){.chat_id = chat,
							     .markdown = text,
							     .markup = markup,
							     .tag = tag});
		free(markup);
	}
	free(text);
	free(run);
}

static int start_turn(struct alertmanager *am, struct am_group *g, const char *heading,
		      const char *prompt, const char *extra_system, bool dig)
{
	const struct config_alerts_investigate *inv = &am->cfg->alerts.investigate;
	struct am_run *run = xcalloc(1, sizeof(*run));
	char source[40];
	int rc;

	snprintf(source, sizeof(source), "alert:%lld", (long long)g->id);
	*run = (struct am_run){am, g->id, dig, "", am->runs};
	snprintf(run->heading, sizeof(run->heading), "%s", heading);
	rc = am->sink->run(am->sink->ctx,
			   &(struct job_opts){.source = source,
					      .model = inv->model,
					      .prompt = prompt,
					      .extra_system = extra_system,
					      .max_cost_usd = inv->max_cost_usd,
					      .own_cap = true,
					      .resume = dig,
					      .scope = &am->scope},
			   on_run_done, run);
	if (rc < 0) {
		free(run);
		return rc;
	}
	am->runs = run;
	g->running = true;
	return 0;
}

static char *labels_json(const struct am_notification *n)
{
	const struct am_label *l = n->n_group_labels ? n->group_labels : n->common_labels;
	size_t k = n->n_group_labels ? n->n_group_labels : n->n_common_labels;
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "{");
	for (size_t i = 0; i < k; i++) {
		if (i)
			buf_puts(&b, ",");
		buf_json_str(&b, l[i].name, strlen(l[i].name));
		buf_puts(&b, ":");
		buf_json_str(&b, l[i].value, strlen(l[i].value));
	}
	buf_puts(&b, "}");
	return buf_steal(&b);
}

static char *title_of(const struct am_notification *n)
{
	const char *name = am_label_get(n->common_labels, n->n_common_labels, "alertname");

	if (!name && n->n_alerts)
		name = am_label_get(n->alerts[0].labels, n->alerts[0].n_labels, "alertname");
	return xstrdup(name ? name : "alert group");
}

static void scan_free(struct am_scan *sc)
{
	for (size_t i = 0; i < sc->n_labels; i++) {
		free(sc->labels[i].name);
		free(sc->labels[i].value);
	}
	free(sc->labels);
	free(sc->prompt);
	free(sc->fps);
	free(sc->extra);
	free(sc->skill);
	free(sc);
}

/* On a worker: the runbook. */
static void scan_work(void *arg)
{
	struct am_scan *sc = arg;

	sc->extra = am_runbook_for(sc->cfg, sc->labels, sc->n_labels, &sc->skill);
}

/* From the loop: the runbook is known, the turn starts. */
static void scan_done(void *arg)
{
	struct am_scan *sc = arg, **pp;
	struct alertmanager *am = sc->am;
	struct am_group *g;

	if (!am) {
		scan_free(sc);
		return;
	}
	for (pp = &am->scans; *pp != sc; pp = &(*pp)->next)
		;
	*pp = sc->next;
	am->n_scans--;
	g = group_by_id(am, sc->group_id);
	if (g)
		g->running = false;
	if (!g || start_turn(am, g, sc->heading, sc->prompt, sc->extra, false) < 0) {
		log_warn("alertmanager: the investigation of group %lld could not start",
			 (long long)sc->group_id);
		scan_free(sc);
		return;
	}
	log_info("alertmanager: investigating group %lld (%s)%s%s", (long long)g->id, g->title,
		 sc->skill ? " with runbook " : "", sc->skill ? sc->skill : "");
	free(g->fingerprints);
	g->fingerprints = xstrdup(sc->fps);
	g->investigated_ms = sc->now_ms;
	g->message_id = 0;
	am->starts[am->n_starts++ % STARTS_KEPT] = sc->now_ms;
	save(am, g);
	scan_free(sc);
}

static void scan_abandon(void *arg)
{
	scan_free(arg);
}

/* Starts the investigation: its runbook is looked for on a worker, then the turn starts
 * (scan_done). The group counts as running meanwhile. 0, or -EAGAIN when no worker is
 * free. */
static int investigate(struct alertmanager *am, struct am_group *g, const struct am_notification *n,
		       const char *fps, int64_t now)
{
	struct am_scan *sc = xcalloc(1, sizeof(*sc));
	const struct am_alert *first = NULL;
	size_t firing = 0;
	struct buf prompt;
	char *title;

	for (size_t i = 0; i < n->n_alerts; i++) {
		firing += n->alerts[i].firing;
		if (n->alerts[i].firing && !first)
			first = &n->alerts[i];
	}
	sc->am = am;
	sc->cfg = am->cfg;
	sc->group_id = g->id;
	sc->now_ms = now;
	title = utf8_clip_dup(g->title, 120, true);
	snprintf(sc->heading, sizeof(sc->heading), "%s (%zu firing)", title, firing);
	free(title);
	buf_init(&prompt, 0);
	build_prompt(n, &prompt);
	sc->prompt = buf_steal(&prompt);
	sc->fps = xstrdup(fps);
	if (first && first->n_labels) {
		sc->labels = xcalloc(first->n_labels, sizeof(*sc->labels));
		for (size_t i = 0; i < first->n_labels; i++)
			sc->labels[i] = (struct am_label){xstrdup(first->labels[i].name),
							  xstrdup(first->labels[i].value)};
		sc->n_labels = first->n_labels;
	}
	if (offload_run(loop_offload(am->loop), scan_work, scan_done, scan_abandon, sc) < 0) {
		scan_free(sc);
		return -EAGAIN;
	}
	sc->next = am->scans;
	am->scans = sc;
	am->n_scans++;
	g->running = true;
	return 0;
}

/* Applies one notification; returns what was done. */
static enum am_action handle(struct alertmanager *am, const struct am_notification *n)
{
	struct am_group *g = group_by_key(am, n->group_key);
	int64_t now = now_wall_ms();
	const struct config *cfg = am->cfg;
	struct am_limits lim = {cfg->alerts.reinvestigate_after_s * 1000,
				cfg->alerts.investigate.group_min_interval_s * 1000,
				cfg->alerts.investigate.max_per_hour, started_last_hour(am, now)};
	struct am_group_view v = {0};
	enum am_action act;
	struct buf fps;

	if (g)
		v = (struct am_group_view){true, g->fingerprints, g->investigated_ms,
					   *g->acked_by != '\0', g->message_id != 0};
	buf_init(&fps, 0);
	am_fingerprints(n, &fps);
	act = am_decide(&v, n->firing, buf_str(&fps), now, &lim);
	if (!g)
		g = group_add(am, n->group_key);
	g->seen_ms = now;
	if (n->firing) {
		free(g->labels_json);
		g->labels_json = labels_json(n);
		free(g->title);
		g->title = title_of(n);
	}
	if (act == AM_INVESTIGATE && g->running)
		act = AM_SEEN; /* a turn of this group is still going */
	if (act == AM_INVESTIGATE && investigate(am, g, n, buf_str(&fps), now) < 0) {
		log_warn("alertmanager: the investigation of group %lld could not start",
			 (long long)g->id);
		act = AM_NOTHING;
	}
	if (act == AM_RESOLVED) {
		char *text = xasprintf("✅ Resolved: %s", g->title);

		note(am, g, text);
		free(text);
	}
	if (act == AM_GROUP_RATE || act == AM_RATE)
		log_warn("alertmanager: group %lld (%s) not investigated: %s", (long long)g->id,
			 g->title,
			 act == AM_RATE
				 ? "alerts.investigate.max_per_hour reached"
				 : "investigated within alerts.investigate.group_min_interval");
	if (!n->firing && g->firing) {
		free(g->acked_by); /* an ack lasts until the group resolves */
		g->acked_by = xstrdup("");
	}
	g->firing = n->firing;
	save(am, g);
	buf_finish(&fps);
	return act;
}

/* ---- the route -------------------------------------------------------------------------- */

static void on_notification(struct httpd_req *req, void *arg)
{
	struct alertmanager *am = arg;
	const char *token = httpd_bearer(req), *body;
	struct am_notification n;
	char err[256], *msg;
	enum am_action act;
	size_t len = 0;
	cJSON *root;

	if (!apiguard_check(&am->cfg->api, req))
		return;
	if (!token || !secret_equal(token, am->cfg->alerts.alertmanager_token)) {
		httpd_reply_error(req, 401, "auth_error",
				  "missing or wrong token (Authorization: Bearer "
				  "<alerts.alertmanager_token>)");
		return;
	}
	/* api.max_body_bytes bounds it: httpd answers 413 before this handler runs. */
	body = httpd_body_ref(req, &len);
	if (am_parse(body ? body : "", len, &n, err, sizeof(err)) < 0) {
		msg = xasprintf("not an Alertmanager webhook payload: %s", err);
		httpd_reply_error(req, 400, "invalid_request_error", msg);
		free(msg);
		return;
	}
	act = handle(am, &n);
	am_notification_finish(&n);
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "status", "ok");
	cJSON_AddStringToObject(root, "action", am_action_name(act));
	httpd_reply_json(req, 200, root);
}

void alertmanager_add_routes(struct alertmanager *am, struct httpd *api)
{
	if (am)
		httpd_route(api, HTTPD_POST | HTTPD_JSON, "/v1/alerts/alertmanager",
			    on_notification, am);
}

/* ---- buttons ---------------------------------------------------------------------------- */

static void silence_free(struct alertmanager *am, struct am_silence *s)
{
	struct am_silence **pp;

	for (pp = &am->silences; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	free(s->who);
	free(s);
}

static void on_silenced(struct httpc_req *req, void *arg)
{
	struct am_silence *s = arg;
	struct alertmanager *am = s->am;
	struct am_group *g = am ? group_by_id(am, s->group_id) : NULL;
	size_t len = 0;
	const char *body = httpc_body(req, &len);
	long status = httpc_status(req);
	cJSON *root = NULL;
	const cJSON *id;
	char *text;

	if (!am) { /* destroyed meanwhile */
		free(s->who);
		free(s);
		return;
	}
	if (httpc_result(req) == HTTPC_CANCELLED || !g) {
		silence_free(am, s);
		return;
	}
	if (httpc_result(req) == HTTPC_OK && status == 200 && body)
		root = json_parse(body, len, 0, NULL);
	id = cJSON_GetObjectItemCaseSensitive(root, "silenceID");
	if (cJSON_IsString(id)) {
		text = xasprintf("🔕 Silenced for %lldh by %s (silence %.64s)", (long long)s->hours,
				 s->who, id->valuestring);
	} else {
		char *said =
			utf8_clip_dup(httpc_result(req) == HTTPC_OK && body ? body : "", 200, true);

		text = xasprintf("⚠️ The silence was not made: %s %s",
				 httpc_result(req) == HTTPC_OK ? "Alertmanager answered"
							       : httpc_error(req),
				 said);
		free(said);
		log_warn("alertmanager: silence for group %lld failed (HTTP %ld)", (long long)g->id,
			 status);
	}
	note(am, g, text);
	free(text);
	cJSON_Delete(root);
	silence_free(am, s);
}

/* Silence the group's labels for hours through Alertmanager API v2. */
static const char *silence(struct alertmanager *am, struct am_group *g, int64_t hours,
			   const char *who)
{
	static const char *const headers[] = {"Content-Type: application/json",
					      "Accept: application/json", NULL};
	cJSON *labels = json_parse_str(g->labels_json, NULL);
	const cJSON *it;
	struct am_label *l = xcalloc(AM_LABELS_MAX, sizeof(*l));
	size_t n = 0;
	struct buf body;
	char *url, *comment;
	struct am_silence *s;
	int rc;

	cJSON_ArrayForEach(it, labels)
	{
		if (cJSON_IsString(it) && n < AM_LABELS_MAX)
			l[n++] = (struct am_label){it->string, it->valuestring};
	}
	if (!n) {
		cJSON_Delete(labels);
		free(l);
		return "This group has no labels to silence by.";
	}
	comment = xasprintf("Silenced from Telegram by %s (hermetic alert group %lld)", who,
			    (long long)g->id);
	buf_init(&body, 0);
	am_silence_body(l, n, now_wall_ms(), hours * HOUR_MS, comment, &body);
	url = xasprintf(
		"%s%sapi/v2/silences", am->cfg->alerts.alertmanager_url,
		am->cfg->alerts.alertmanager_url[strlen(am->cfg->alerts.alertmanager_url) - 1] ==
				'/'
			? ""
			: "/");
	s = xcalloc(1, sizeof(*s));
	*s = (struct am_silence){am, NULL, g->id, xstrdup(who), hours, am->silences};
	rc = httpc_start(am->loop,
			 &(struct httpc_opts){.method = "POST",
					      .url = url,
					      .headers = headers,
					      .body = body.data,
					      .body_len = body.len,
					      .timeout_ms = SILENCE_TIMEOUT_MS,
					      .max_response_bytes = 64 * 1024},
			 on_silenced, s, &s->req);
	if (rc == 0) {
		am->silences = s;
	} else {
		free(s->who);
		free(s);
	}
	free(url);
	free(comment);
	buf_finish(&body);
	cJSON_Delete(labels);
	free(l);
	return rc == 0 ? "Silencing…" : "The silence could not be sent.";
}

/* A Dig deeper press: a paid turn, so it counts against alerts.investigate.max_per_hour as
 * an investigation does. The answer is a literal or written into buf. */
static const char *dig(struct alertmanager *am, struct am_group *g, const char *who, char *buf,
		       size_t len)
{
	int64_t now = now_wall_ms();
	char *prompt;
	int rc;

	if (g->running)
		return "An investigation of this group is still running.";
	if (started_last_hour(am, now) >= am->cfg->alerts.investigate.max_per_hour) {
		snprintf(buf, len,
			 "No: alerts.investigate.max_per_hour (%lld) investigations ran in the "
			 "last hour. Try again later.",
			 (long long)am->cfg->alerts.investigate.max_per_hour);
		log_warn("alertmanager: Dig deeper on group %lld refused: "
			 "alerts.investigate.max_per_hour reached",
			 (long long)g->id);
		return buf;
	}
	prompt = xasprintf("%s asks you to dig deeper into this alert group. Look further with "
			   "the read-only tools: what did you not check yet, what would confirm "
			   "or rule out the cause? Change nothing. Answer briefly.",
			   who);
	rc = start_turn(am, g, g->title, prompt, NULL, true);
	free(prompt);
	if (rc < 0)
		return "The follow-up could not start; try again shortly.";
	am->starts[am->n_starts++ % STARTS_KEPT] = now;
	return "Digging deeper…";
}

static void on_press(const struct telegram_press *p, void *arg)
{
	struct alertmanager *am = arg;
	char op[8];
	long long id;
	int n = 0;
	struct am_group *g;
	const char *answer;
	char buf[160];
	int64_t posted;

	if (sscanf(p->data, "a:%7[a-z0-9]:%lld%n", op, &id, &n) != 2 || p->data[n] ||
	    !(g = group_by_id(am, id))) {
		telegram_answer_press(am->tg, p->query_id, "This alert group is no longer known.");
		return;
	}
	/* The buttons belong to the chat the group's report went to: a press from another
	 * allowed chat (a client can send any callback data) would otherwise move the group's
	 * follow-ups, notes and Dig deeper answers there. */
	posted = g->chat_id ? g->chat_id : alerts_chat(am->cfg);
	if (p->chat_id != posted) {
		log_warn("alertmanager: a press on group %lld from chat %lld refused: its report "
			 "is in chat %lld",
			 (long long)g->id, (long long)p->chat_id, (long long)posted);
		telegram_answer_press(am->tg, p->query_id,
				      "This alert was posted to another chat: press its buttons "
				      "there.");
		return;
	}
	/* The buttons are on the group's message: a press read before sendMessage's answer (two
	 * connections, either can come first) or after that answer was lost still tells its id,
	 * so a follow-up or note replies under it. */
	if (!g->message_id && p->message_id) {
		g->chat_id = posted;
		g->message_id = p->message_id;
		save(am, g);
	}
	if ((strcmp(op, "s1") == 0 || strcmp(op, "s4") == 0) && am->cfg->alerts.alertmanager_url) {
		answer = silence(am, g, op[1] == '1' ? 1 : 4, p->who);
	} else if (strcmp(op, "ack") == 0) {
		char *text = xasprintf("👍 Acked by %s: no more messages for this group until it "
				       "resolves.",
				       p->who);

		free(g->acked_by);
		g->acked_by = xstrdup(p->who);
		save(am, g);
		log_info("alertmanager: group %lld acked by %s (user %lld)", (long long)g->id,
			 p->who, (long long)p->user_id);
		note(am, g, text);
		free(text);
		answer = "Acked.";
	} else if (strcmp(op, "dig") == 0) {
		answer = dig(am, g, p->who, buf, sizeof(buf));
	} else {
		answer = "I do not know this button.";
	}
	telegram_answer_press(am->tg, p->query_id, answer);
}

static void on_sent(const char *tag, int64_t chat_id, int64_t message_id, void *arg)
{
	struct alertmanager *am = arg;
	long long id;
	struct am_group *g;

	if (sscanf(tag, "a:%lld", &id) != 1 || !(g = group_by_id(am, id)))
		return;
	g->chat_id = chat_id;
	g->message_id = message_id;
	save(am, g);
}

static const struct telegram_buttons buttons = {"a:", on_press, on_sent};

/* ---- life ------------------------------------------------------------------------------- */

struct alertmanager *alertmanager_create(const struct config *cfg, struct loop *loop,
					 struct store *store, struct telegram *tg,
					 const struct job_sink *sink)
{
	const struct config_alerts_investigate *inv = &cfg->alerts.investigate;
	struct alertmanager *am;

	if (!cfg->alerts.alertmanager_token)
		return NULL;
	am = xcalloc(1, sizeof(*am));
	*am = (struct alertmanager){
		.cfg = cfg, .loop = loop, .store = store, .tg = tg, .sink = sink, .next_id = 1};
	am->groups = xcalloc(AM_GROUPS_MAX, sizeof(*am->groups));
	am->builtins = xcalloc(1, sizeof(*am->builtins));
	am->builtins[0] = "prometheus_query";
	am->scope = (struct tools_scope){am->builtins, 1, (const char *const *)inv->mcp_servers,
					 inv->n_mcp_servers};
	for (size_t i = 0; i < inv->n_mcp_servers; i++) {
		bool found = false;

		for (size_t k = 0; k < cfg->n_mcp_servers; k++)
			found = found || strcmp(cfg->mcp_servers[k].name, inv->mcp_servers[i]) == 0;
		if (!found)
			log_warn("alertmanager: alerts.investigate.mcp_servers names '%s', which "
				 "is not in mcp_servers; investigations will not have its tools",
				 inv->mcp_servers[i]);
	}
	scan_delay_ms = test_delay_ms();
	load(am);
	telegram_set_buttons(tg, &buttons, am);
	if (tg && !alerts_chat(cfg))
		log_warn("alertmanager: no chat for investigations: set alerts.telegram_chat, "
			 "telegram.admin_chat or telegram.allowed_users");
	return am;
}

void alertmanager_destroy(struct alertmanager *am)
{
	if (!am)
		return;
	telegram_set_buttons(am->tg, NULL, NULL);
	for (struct am_run *r = am->runs; r; r = r->next)
		r->am = NULL;
	for (struct am_scan *sc = am->scans; sc; sc = sc->next)
		sc->am = NULL; /* freed by its callback, or by loop_destroy's abandon */
	while (am->silences) {
		struct am_silence *s = am->silences;

		am->silences = s->next;
		s->next = NULL;
		/* The done callback fires later with HTTPC_CANCELLED: it must find nothing. */
		s->am = NULL;
		httpc_cancel(s->req);
	}
	for (size_t i = 0; i < am->n_groups; i++)
		group_free(am->groups[i]);
	free(am->groups);
	free(am->builtins);
	free(am);
}
