/* alerts: keys -> decisions -> channels. Each report goes through alert_decide (dedupe), then
 * the overall rate limit (alerts.max_per_hour, counted per alert), then each channel's own
 * (alerts.channel_max_per_hour, counted per message); a report held back by a limit leaves its
 * key un-notified, so the watches, which report every few seconds while a condition holds, send
 * it once the limit allows. Sends are notify_send requests; one still in flight when the
 * module is destroyed is detached (its record no longer points here) and freed by its own
 * callback, which daemon_finish's httpc_cancel_all guarantees.
 *
 * The watches run on one timer (WATCH_EVERY_MS) and read plain state: telegram's last good
 * poll, mcp_server_info, spend's in-memory day and month totals, breaker_state. The balance
 * reads run on their own timer. The heartbeat is written at the watch tick that is due.
 *
 * A message is one refcounted copy shared by its channels' sends; each send keeps its own try
 * count and, while it waits for a retry, its own timer. When the last send of a message ends
 * and no channel took it, its key goes back to un-notified (the watches report it again); for
 * a resolved message, back to firing as announced (the watches report it resolved again). A
 * resolved report a rate limit holds back leaves the key firing the same way.
 *
 * The announced keys and the cron failure counts are saved to home/alerts-state.json (written
 * atomically, as the heartbeat is) whenever they change, with wall clock times, and read at
 * start, where each time becomes a monotonic one as long ago as the wall clock says. Both
 * files are written on a worker (core/statefile: fsync on an SD card can take a second), the
 * newest contents last; the state read at start is the only file I/O on the loop.
 *
 * Rejected: the state in state.db (the store can be locked by another process for a while,
 * and an alert about that must still work; a small file needs no migration); one timer for
 * all retries (a timer per waiting send is simpler and the queue is capped); counting retries
 * against the channel rate limits (a retry is the same message, not a new one).
 */
#include "ops/alerts.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/statefile.h"
#include "core/store.h"
#include "core/util.h"
#include "core/version.h"
#include "telegram/telegram.h"
#include "mcp/mcp.h"
#include "net/httpc.h"
#include "net/notify.h"
#include "router/balance.h"
#include "router/breaker.h"
#include "router/spend.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WATCH_FIRST_MS	  3000
#define WATCH_EVERY_MS	  2000
#define BALANCE_FIRST_MS  5000
#define HOUR_MS		  3600000
#define MAX_KEYS	  ALERT_SAVED_KEYS
#define KEY_LEN		  ALERT_KEY_LEN
#define MAX_ACCOUNTS	  16
#define MAX_MCP		  CONFIG_MAX_MCP_SERVERS
#define HEARTBEAT_TIMEOUT 10000

/* ---- the decisions ---------------------------------------------------------------------- */

enum alert_verdict alert_decide(const struct alert_state *s, bool resolved, int64_t now_ms,
				int64_t dedupe_ms)
{
	if (resolved)
		return s->firing && s->notified ? ALERT_SEND : ALERT_QUIET;
	if (s->firing && s->notified && now_ms - s->last_sent_ms < dedupe_ms)
		return ALERT_DUPLICATE;
	return ALERT_SEND;
}

void alert_update(struct alert_state *s, bool resolved, bool sent, int64_t now_ms)
{
	if (resolved) {
		/* A resolved report that went nowhere leaves a firing that was announced as it
		 * is: receivers still see it firing, and the next report says resolved again. */
		if (sent || !s->notified)
			*s = (struct alert_state){0};
		return;
	}
	s->firing = true;
	if (sent) {
		s->notified = true;
		s->last_sent_ms = now_ms;
	}
}

void alert_rate_init(struct alert_rate *r, size_t cap)
{
	*r = (struct alert_rate){xcalloc(cap ? cap : 1, sizeof(int64_t)), cap, 0, 0};
}

void alert_rate_finish(struct alert_rate *r)
{
	free(r->t);
	*r = (struct alert_rate){0};
}

bool alert_rate_take(struct alert_rate *r, int64_t now_ms, int64_t window_ms)
{
	/* Events older than the window leave the ring from its oldest end. */
	while (r->n && now_ms - r->t[r->head] >= window_ms) {
		r->head = (r->head + 1) % r->cap;
		r->n--;
	}
	if (r->n >= r->cap)
		return false;
	r->t[(r->head + r->n) % r->cap] = now_ms;
	r->n++;
	return true;
}

bool alert_balance_low(bool available, bool has_remaining, double remaining_usd, double min_usd)
{
	if (min_usd <= 0)
		return false;
	return !available || (has_remaining && remaining_usd < min_usd);
}

int64_t alert_retry_delay_ms(int retry, int64_t first_ms)
{
	int64_t d = first_ms > 0 ? first_ms : 0;

	for (int i = 1; i < retry && d < ALERT_RETRY_MAX_MS; i++)
		d *= 2;
	return d < ALERT_RETRY_MAX_MS ? d : ALERT_RETRY_MAX_MS;
}

bool alert_retry_allowed(int attempts, int64_t max_attempts, size_t waiting)
{
	return attempts < max_attempts && waiting < ALERT_RETRY_QUEUE_MAX;
}

int64_t alert_restore_mono(int64_t sent_wall_ms, int64_t now_wall_ms, int64_t now_mono_ms)
{
	int64_t ago = now_wall_ms - sent_wall_ms;

	return now_mono_ms - (ago > 0 ? ago : 0);
}

char *alert_state_encode(const struct alert_saved *s)
{
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "{\"version\": 1, \"firing\": [");
	for (size_t i = 0; i < s->n_keys; i++) {
		buf_puts(&b, i ? ", {\"key\": " : "{\"key\": ");
		buf_json_str(&b, s->keys[i].key, strlen(s->keys[i].key));
		buf_printf(&b, ", \"sent_ms\": %lld}", (long long)s->keys[i].sent_wall_ms);
	}
	buf_puts(&b, "], \"cron_fails\": [");
	for (size_t i = 0; i < s->n_jobs; i++) {
		buf_puts(&b, i ? ", {\"job\": " : "{\"job\": ");
		buf_json_str(&b, s->jobs[i].job, strlen(s->jobs[i].job));
		buf_printf(&b, ", \"fails\": %d}", s->jobs[i].fails);
	}
	buf_puts(&b, "]}\n");
	return buf_steal(&b);
}

int alert_state_decode(const char *json, size_t len, struct alert_saved *s)
{
	/* The file is written whole (atomically): anything after its JSON means it is not ours,
	 * and none of it is believed (json_parse refuses text after the value). */
	cJSON *root = json_parse(json, len, 0, NULL), *e;
	const cJSON *firing = cJSON_GetObjectItemCaseSensitive(root, "firing");
	const cJSON *fails = cJSON_GetObjectItemCaseSensitive(root, "cron_fails");

	memset(s, 0, sizeof(*s));
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return -EINVAL;
	}
	cJSON_ArrayForEach(e, (cJSON_IsArray(firing) ? firing : NULL))
	{
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "sent_ms");

		if (s->n_keys == ALERT_SAVED_KEYS || !cJSON_IsString(k) || !cJSON_IsNumber(t) ||
		    !*k->valuestring || strlen(k->valuestring) >= ALERT_KEY_LEN)
			continue;
		snprintf(s->keys[s->n_keys].key, ALERT_KEY_LEN, "%s", k->valuestring);
		s->keys[s->n_keys++].sent_wall_ms = (int64_t)t->valuedouble;
	}
	cJSON_ArrayForEach(e, (cJSON_IsArray(fails) ? fails : NULL))
	{
		const cJSON *j = cJSON_GetObjectItemCaseSensitive(e, "job");
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "fails");

		if (s->n_jobs == ALERT_SAVED_JOBS || !cJSON_IsString(j) || !cJSON_IsNumber(n) ||
		    !*j->valuestring || strlen(j->valuestring) >= ALERT_KEY_LEN ||
		    n->valuedouble < 1 || n->valuedouble > 1000000)
			continue;
		snprintf(s->jobs[s->n_jobs].job, ALERT_KEY_LEN, "%s", j->valuestring);
		s->jobs[s->n_jobs++].fails = (int)n->valuedouble;
	}
	cJSON_Delete(root);
	return 0;
}

/* ---- the module -------------------------------------------------------------------------- */

struct key_entry {
	char key[KEY_LEN];
	struct alert_state st;
	bool resolve_held; /* its last resolved report was over alerts.max_per_hour (logged) */
};

/* One alert message, shared by its channels' sends (refs of them). */
struct msg {
	int refs;
	bool taken; /* a channel took it */
	bool resolved;
	int64_t ts_wall_ms;
	char key[KEY_LEN];
	char *title, *text;
	int64_t sent_mono_ms; /* firing: the key's last_sent_ms it set; resolved: the one it had */
};

struct send {
	struct send *prev, *next;
	struct alerts *a; /* NULL once the module is gone */
	struct msg *m;
	size_t channel;
	int attempts;		/* tries started */
	struct event *retry_ev; /* while it waits for its next try */
};

struct beat {
	struct alerts *a; /* NULL once the module is gone */
};

struct account {
	struct balance_account acct;
	bool in_flight;
	struct alerts *a;
	/* The last read, for alerts_balances (the same numbers the gauges show). */
	bool read, ok;
	struct balance last;
	int64_t read_ms;
	char error[160];
};

struct alerts {
	const struct config *cfg;
	struct loop *loop;
	struct alerts_sources src;
	struct key_entry *keys;
	size_t n_keys;
	struct alert_rate overall;
	struct alert_rate *per_channel;
	struct send *sends; /* in flight or waiting for a retry */
	size_t n_waiting;   /* of them, waiting for a retry */
	int64_t (*clock_mono)(void *arg), (*clock_wall)(void *arg);
	void *clock_arg;
	char *state_path;
	struct statefile *state_file, *beat_file;
	struct event *watch_ev, *balance_ev;
	char host[64];
	int64_t next_heartbeat_ms;
	int64_t mcp_down_since[MAX_MCP]; /* 0 = connected (or disabled) */
	/* cron jobs failing in a row, by name; at most CONFIG_MAX_CRON_JOBS */
	struct {
		char name[KEY_LEN];
		int fails;
	} cron[CONFIG_MAX_CRON_JOBS];
	size_t n_cron;
	struct account *accounts[MAX_ACCOUNTS];
	size_t n_accounts;
	struct beat *beat; /* the heartbeat_url request in flight, or NULL */
	struct metric *m_sent, *m_suppressed, *m_heartbeat, *m_given_up;
	struct metric *m_balance, *m_limit, *m_usage, *m_cny, *m_balance_up;
};

static struct key_entry *key_find(struct alerts *a, const char *key, bool create)
{
	for (size_t i = 0; i < a->n_keys; i++)
		if (strcmp(a->keys[i].key, key) == 0)
			return &a->keys[i];
	if (!create)
		return NULL;
	if (a->n_keys == MAX_KEYS) {
		/* Reuse a key that is not firing; the sources are bounded by the config, so
		 * this only happens with hundreds of MCP servers and cron jobs flapping. */
		for (size_t i = 0; i < a->n_keys; i++)
			if (!a->keys[i].st.firing) {
				a->keys[i] = (struct key_entry){0};
				snprintf(a->keys[i].key, KEY_LEN, "%s", key);
				return &a->keys[i];
			}
		return NULL;
	}
	a->keys[a->n_keys] = (struct key_entry){0};
	snprintf(a->keys[a->n_keys].key, KEY_LEN, "%s", key);
	return &a->keys[a->n_keys++];
}

static void count(struct metric *m, const char *a, const char *b)
{
	if (m)
		metric_inc(m, (const char *const[]){a, b}, 1);
}

static int64_t mono(const struct alerts *a)
{
	return a->clock_mono ? a->clock_mono(a->clock_arg) : now_mono_ms();
}

static int64_t wall(const struct alerts *a)
{
	return a->clock_wall ? a->clock_wall(a->clock_arg) : now_wall_ms();
}

/* ---- what survives a restart ------------------------------------------------------------- */

static void save_state(struct alerts *a)
{
	struct alert_saved *sv = xcalloc(1, sizeof(*sv));
	int64_t now = mono(a), now_wall = wall(a);
	char *json;

	for (size_t i = 0; i < a->n_keys && sv->n_keys < ALERT_SAVED_KEYS; i++) {
		const struct key_entry *k = &a->keys[i];

		if (!k->st.firing || !k->st.notified)
			continue;
		snprintf(sv->keys[sv->n_keys].key, KEY_LEN, "%s", k->key);
		sv->keys[sv->n_keys++].sent_wall_ms = now_wall - (now - k->st.last_sent_ms);
	}
	for (size_t i = 0; i < a->n_cron && sv->n_jobs < ALERT_SAVED_JOBS; i++) {
		if (!a->cron[i].fails)
			continue;
		snprintf(sv->jobs[sv->n_jobs].job, KEY_LEN, "%s", a->cron[i].name);
		sv->jobs[sv->n_jobs++].fails = a->cron[i].fails;
	}
	json = alert_state_encode(sv);
	statefile_put(a->state_file, json, strlen(json));
	free(sv);
}

static void load_state(struct alerts *a)
{
	struct alert_saved *sv = xcalloc(1, sizeof(*sv));
	int64_t now = mono(a), now_wall = wall(a);
	struct buf b;
	int rc;

	buf_init(&b, 0);
	rc = fileio_read(a->state_path, ALERT_STATE_MAX_BYTES, &b);
	if (rc == 0)
		rc = alert_state_decode(b.data, b.len, sv);
	if (rc < 0 && rc != -ENOENT)
		log_warn("alerts: %s unreadable (%s); starting with no alert firing", a->state_path,
			 strerror(-rc));
	for (size_t i = 0; rc == 0 && i < sv->n_keys; i++) {
		struct key_entry *k = key_find(a, sv->keys[i].key, true);

		if (k)
			k->st = (struct alert_state){
				true, true,
				alert_restore_mono(sv->keys[i].sent_wall_ms, now_wall, now)};
	}
	for (size_t i = 0; rc == 0 && i < sv->n_jobs && a->n_cron < CONFIG_MAX_CRON_JOBS; i++) {
		snprintf(a->cron[a->n_cron].name, KEY_LEN, "%s", sv->jobs[i].job);
		a->cron[a->n_cron++].fails = sv->jobs[i].fails;
	}
	if (rc == 0 && sv->n_keys)
		log_info("alerts: %zu alert(s) still firing from before the restart", sv->n_keys);
	buf_finish(&b);
	free(sv);
}

/* ---- sends and retries ------------------------------------------------------------------- */

static void msg_unref(struct alerts *a, struct msg *m)
{
	struct key_entry *k;

	if (--m->refs > 0)
		return;
	/* Nobody heard it: the key is news again, and the watches report it again. */
	if (a && !m->taken && !m->resolved) {
		k = key_find(a, m->key, false);
		if (k && k->st.firing && k->st.notified && k->st.last_sent_ms == m->sent_mono_ms) {
			k->st.notified = false;
			save_state(a);
		}
	}
	/* Nobody heard it resolve: receivers still see it firing, so the key fires again as
	 * announced, and the next report of the cleared condition says resolved again. A key
	 * that fired anew meanwhile has its own state. */
	if (a && !m->taken && m->resolved) {
		k = key_find(a, m->key, true);
		if (k && !k->st.firing) {
			k->st = (struct alert_state){true, true, m->sent_mono_ms};
			save_state(a);
		}
	}
	free(m->title);
	free(m->text);
	free(m);
}

static void send_unlink(struct alerts *a, struct send *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		a->sends = s->next;
	if (s->next)
		s->next->prev = s->prev;
}

static void send_free(struct alerts *a, struct send *s)
{
	if (s->retry_ev)
		event_free(s->retry_ev);
	msg_unref(a, s->m);
	free(s);
}

static void on_sent(bool ok, const char *error, void *arg);

/* One try of s; 0, or -EINVAL when the request cannot start. */
static int send_try(struct alerts *a, struct send *s)
{
	struct notify_msg m = {s->m->key,      s->m->title,	 s->m->text,
			       s->m->resolved, s->m->ts_wall_ms, a->host};

	s->attempts++;
	return notify_send(a->loop, &a->cfg->alerts.channels[s->channel], &m, on_sent, s, NULL);
}

static void give_up(struct alerts *a, struct send *s, const char *error)
{
	const char *ch = a->cfg->alerts.channels[s->channel].name;

	log_warn("alerts: %s was not sent through %s (%d attempt(s)): %s", s->m->key, ch,
		 s->attempts, error);
	count(a->m_given_up, ch, NULL);
	send_unlink(a, s);
	send_free(a, s);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct send *s = arg;
	struct alerts *a = s->a;

	a->n_waiting--;
	if (send_try(a, s) < 0)
		give_up(a, s, "the request cannot start");
}

static void on_sent(bool ok, const char *error, void *arg)
{
	struct send *s = arg;
	struct alerts *a = s->a;
	const char *ch;
	int64_t delay;
	struct timeval tv;

	if (!a) {
		send_free(NULL, s);
		return;
	}
	ch = a->cfg->alerts.channels[s->channel].name;
	count(a->m_sent, ch, ok ? "ok" : "failed");
	if (ok) {
		log_info("alerts: %s sent through %s", s->m->key, ch);
		s->m->taken = true;
		send_unlink(a, s);
		send_free(a, s);
		return;
	}
	if (!alert_retry_allowed(s->attempts, a->cfg->alerts.send_attempts, a->n_waiting)) {
		give_up(a, s,
			s->attempts < a->cfg->alerts.send_attempts ? "the retry queue is full"
								   : error);
		return;
	}
	delay = alert_retry_delay_ms(s->attempts, a->cfg->alerts.retry_after_s * 1000);
	log_warn("alerts: %s could not be sent through %s: %s; trying again in %lld s", s->m->key,
		 ch, error, (long long)(delay / 1000));
	if (!s->retry_ev)
		s->retry_ev = evtimer_new(loop_base(a->loop), on_retry, s);
	tv = (struct timeval){(time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000};
	evtimer_add(s->retry_ev, &tv);
	a->n_waiting++;
}

/* Sends m through every channel whose own limit allows; true when at least one send started. */
static bool send_all(struct alerts *a, const struct notify_msg *nm, int64_t now,
		     int64_t sent_mono_ms)
{
	const struct config_alerts *ac = &a->cfg->alerts;
	struct msg *m = xcalloc(1, sizeof(*m));
	bool any = false;

	*m = (struct msg){1,
			  false,
			  nm->resolved,
			  nm->ts_wall_ms,
			  "",
			  xstrdup(nm->title),
			  xstrdup(nm->text),
			  sent_mono_ms};
	snprintf(m->key, sizeof(m->key), "%s", nm->key);
	for (size_t i = 0; i < ac->n_channels; i++) {
		struct send *s;

		if (!alert_rate_take(&a->per_channel[i], now, HOUR_MS)) {
			log_warn("alerts: %s not sent through %s: over alerts.channel_max_per_hour",
				 nm->key, ac->channels[i].name);
			count(a->m_sent, ac->channels[i].name, "rate_limited");
			continue;
		}
		s = xcalloc(1, sizeof(*s));
		s->a = a;
		s->m = m;
		s->channel = i;
		m->refs++;
		if (send_try(a, s) < 0) {
			log_warn("alerts: %s: channel %s cannot start a send", nm->key,
				 ac->channels[i].name);
			m->refs--;
			free(s);
			continue;
		}
		s->next = a->sends;
		if (s->next)
			s->next->prev = s;
		a->sends = s;
		any = true;
	}
	/* The sends hold it now; with none it goes (the key stays un-notified). */
	m->taken = !any;
	msg_unref(a, m);
	return any;
}

static void report(struct alerts *a, const char *key, bool resolved, const char *title,
		   const char *text)
{
	int64_t now = mono(a);
	struct key_entry *k = key_find(a, key, !resolved);
	struct notify_msg m = {key, title, text, resolved, wall(a), a->host};
	enum alert_verdict v;
	bool sent = false, was_notified;

	if (!k)
		return;
	was_notified = k->st.notified;
	v = alert_decide(&k->st, resolved, now, a->cfg->alerts.dedupe_s * 1000);
	if (v == ALERT_DUPLICATE)
		count(a->m_suppressed, "duplicate", NULL);
	if (v != ALERT_SEND || !a->cfg->alerts.n_channels) {
		/* With no channel a resolved report has nowhere to go, now or later: done. */
		alert_update(&k->st, resolved, resolved && v == ALERT_SEND, now);
		if (was_notified && !k->st.notified)
			save_state(a);
		return;
	}
	if (!alert_rate_take(&a->overall, now, HOUR_MS)) {
		/* Only the first refusal of a key is logged: the watches report again. */
		if (!k->st.firing || (resolved && !k->resolve_held))
			log_warn("alerts: %s%s not sent: over alerts.max_per_hour",
				 resolved ? "resolved " : "", key);
		k->resolve_held = resolved;
		count(a->m_suppressed, "rate_limited", NULL);
	} else {
		log_warn("alerts: %s%s: %s", resolved ? "resolved " : "", key, title);
		k->resolve_held = false;
		sent = send_all(a, &m, now, resolved ? k->st.last_sent_ms : now);
	}
	alert_update(&k->st, resolved, sent, now);
	if (sent || was_notified != k->st.notified)
		save_state(a);
}

void alerts_fire(struct alerts *a, const char *key, const char *title, const char *text)
{
	if (a)
		report(a, key, false, title, text);
}

void alerts_resolve(struct alerts *a, const char *key, const char *text)
{
	struct key_entry *k;

	if (!a)
		return;
	k = key_find(a, key, false);
	if (k && k->st.firing)
		report(a, key, true, text, text);
}

static bool firing(struct alerts *a, const char *key)
{
	struct key_entry *k = key_find(a, key, false);

	return k && k->st.firing;
}

void alerts_breaker_trip(struct alerts *a, const char *why, const char *until)
{
	char *text;

	if (!a)
		return;
	text = xasprintf("Bleed breaker open: %s. Model calls are refused until %s. Send /resume "
			 "to the bot to close it now (guardrails.bleed).",
			 why, until);
	alerts_fire(a, "breaker", "Bleed breaker open: model calls are refused", text);
	free(text);
}

void alerts_job_done(struct alerts *a, const char *source, bool ok, const char *text)
{
	const char *name;
	char key[KEY_LEN];
	size_t i;

	if (!a || strncmp(source, "cron:", 5) != 0)
		return;
	name = source + 5;
	for (i = 0; i < a->n_cron && strcmp(a->cron[i].name, name) != 0; i++)
		;
	if (i == a->n_cron) {
		if (i == CONFIG_MAX_CRON_JOBS)
			return;
		snprintf(a->cron[i].name, KEY_LEN, "%s", name);
		a->cron[i].fails = 0;
		a->n_cron++;
	}
	snprintf(key, sizeof(key), "cron:%s", name);
	if (ok) {
		if (a->cron[i].fails) {
			a->cron[i].fails = 0;
			save_state(a);
		}
		alerts_resolve(a, key, "the cron job ran successfully again");
		return;
	}
	a->cron[i].fails++;
	save_state(a);
	if (a->cron[i].fails >= 2) {
		char *title =
			xasprintf("cron job %s failed %d times in a row", name, a->cron[i].fails);
		char *why = utf8_clip_dup(text, 500, true);
		char *body = xasprintf("%s. The last error: %s", title, why);

		alerts_fire(a, key, title, body);
		free(title);
		free(why);
		free(body);
	}
}

/* ---- the watches ------------------------------------------------------------------------- */

static void watch_poller(struct alerts *a)
{
	int64_t age;
	char *text;

	if (!a->src.tg)
		return;
	age = telegram_poll_age_ms(a->src.tg);
	if (age < a->cfg->alerts.poller_down_after_s * 1000) {
		/* Only a poll that worked says it is back: right after a restart the age counts
		 * from the start, and a firing restored from before it may still hold. */
		if (telegram_polled(a->src.tg) && firing(a, "telegram_poller"))
			alerts_resolve(a, "telegram_poller",
				       "Telegram poller is polling again: the bot is reachable");
		return;
	}
	text = xasprintf(
		"The Telegram poller has had no successful getUpdates for %lld s "
		"(alerts.poller_down_after is %lld s): the bot cannot be reached. Check the "
		"network, the bot token and the gateway's log.",
		(long long)(age / 1000), (long long)a->cfg->alerts.poller_down_after_s);
	alerts_fire(a, "telegram_poller", "Telegram poller down", text);
	free(text);
}

static void watch_mcp(struct alerts *a, int64_t now)
{
	size_t n = a->src.mcp ? mcp_n_servers(a->src.mcp) : 0;

	for (size_t i = 0; i < n && i < MAX_MCP; i++) {
		struct mcp_server_info si;
		char key[KEY_LEN];
		bool up;

		mcp_server_info(a->src.mcp, i, &si);
		up = strcmp(si.state, "connected") == 0 || strcmp(si.state, "disabled") == 0;
		snprintf(key, sizeof(key), "mcp:%s", si.name);
		if (up) {
			a->mcp_down_since[i] = 0;
			if (firing(a, key))
				alerts_resolve(a, key, "the MCP server is connected again");
			continue;
		}
		if (!a->mcp_down_since[i])
			a->mcp_down_since[i] = now;
		if (now - a->mcp_down_since[i] >= a->cfg->alerts.mcp_down_after_s * 1000) {
			char *title = xasprintf("MCP server %s down", si.name);
			char *why = utf8_clip_dup(si.error ? si.error : "none", 300, true);
			char *text =
				xasprintf("MCP server %s has not been connected for %lld s (%s): "
					  "its tools are not offered. Last error: %s",
					  si.name, (long long)((now - a->mcp_down_since[i]) / 1000),
					  si.state, why);

			alerts_fire(a, key, title, text);
			free(title);
			free(why);
			free(text);
		}
	}
}

static void watch_budget_one(struct alerts *a, const char *key, const char *what, double cap,
			     double spent)
{
	char *title, *text;

	if (cap <= 0)
		return;
	if (spent < cap) {
		if (firing(a, key))
			alerts_resolve(a, key, "a new budget period began: model calls run again");
		return;
	}
	title = xasprintf("%s budget reached: model calls are refused", what);
	text = xasprintf(
		"The %s budget is spent: $%.4f of $%.2f. Model calls are refused until the "
		"period ends (budget: in the config).",
		what, spent, cap);
	alerts_fire(a, key, title, text);
	free(title);
	free(text);
}

static void watch_budget(struct alerts *a)
{
	int64_t now = now_wall_ms();

	if (!a->src.spend)
		return;
	watch_budget_one(a, "budget:daily", "daily", a->cfg->budget.daily_usd,
			 spend_day_usd(a->src.spend, now));
	watch_budget_one(a, "budget:monthly", "monthly", a->cfg->budget.monthly_usd,
			 spend_month_usd(a->src.spend, now));
}

static void watch_breaker(struct alerts *a)
{
	struct breaker_state st;

	if (!a->src.breaker || !firing(a, "breaker"))
		return;
	breaker_state(a->src.breaker, now_mono_ms(), &st);
	if (!st.open)
		alerts_resolve(a, "breaker", "Bleed breaker closed: model calls run again");
}

/* ---- the heartbeat ----------------------------------------------------------------------- */

static void on_beat(struct httpc_req *req, void *arg)
{
	struct beat *b = arg;
	long status = httpc_status(req);

	if (b->a)
		b->a->beat = NULL;
	free(b);
	if (httpc_result(req) != HTTPC_OK)
		log_warn("alerts: heartbeat_url: %s", httpc_error(req));
	else if (status < 200 || status >= 300)
		log_warn("alerts: heartbeat_url answered HTTP %ld", status);
}

/* Healthy: the loop runs (we are in its timer), the last Telegram poll is recent (when
 * Telegram is on), and the store takes a write. why says what is not. */
static bool healthy(struct alerts *a, char *why, size_t len)
{
	char stamp[32];
	int rc;

	if (a->src.tg && !telegram_ready(a->src.tg, why, len))
		return false;
	if (!a->src.store)
		return true;
	if (store_writes_waiting(a->src.store)) {
		snprintf(why, len, "store: writes are waiting for the database lock");
		return false;
	}
	snprintf(stamp, sizeof(stamp), "%lld", (long long)now_wall_ms());
	rc = store_kv_put(a->src.store, "alerts.heartbeat", stamp);
	if (rc == 0)
		return true;
	snprintf(why, len, "store: %s", rc == -EINPROGRESS ? "locked" : "write failed");
	return false;
}

static void heartbeat(struct alerts *a, int64_t now)
{
	const struct config_alerts *ac = &a->cfg->alerts;
	char why[512] = "", *json;
	int64_t wall = now_wall_ms();

	if (now < a->next_heartbeat_ms)
		return;
	a->next_heartbeat_ms = now + ac->heartbeat_interval_s * 1000;
	if (!healthy(a, why, sizeof(why))) {
		log_warn("alerts: heartbeat skipped: %.*s", (int)strcspn(why, "\n"), why);
		return;
	}
	if (a->m_heartbeat)
		metric_set(a->m_heartbeat, NULL, (double)wall / 1000.0);
	json = xasprintf("{\"ts_ms\": %lld, \"pid\": %ld, \"version\": \"%s\", \"telegram\": "
			 "\"%s\", \"store\": \"ok\"}\n",
			 (long long)wall, (long)getpid(), version_string(),
			 a->src.tg ? "ok" : "off");
	/* A few hundred bytes to the data directory; the atomic replace keeps readers from
	 * seeing half a file. */
	statefile_put(a->beat_file, json, strlen(json));
	if (ac->heartbeat_url && !a->beat) {
		struct httpc_opts o = {.url = ac->heartbeat_url,
				       .timeout_ms = HEARTBEAT_TIMEOUT,
				       .connect_timeout_ms = HEARTBEAT_TIMEOUT / 2,
				       .max_response_bytes = 4096};

		a->beat = xcalloc(1, sizeof(*a->beat));
		a->beat->a = a;
		if (httpc_start(a->loop, &o, on_beat, a->beat, NULL) < 0) {
			log_warn("alerts: heartbeat_url: cannot start the request");
			free(a->beat);
			a->beat = NULL;
		}
	}
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
	struct alerts *a = arg;
	int64_t now = now_mono_ms();
	struct timeval tv = {WATCH_EVERY_MS / 1000, (WATCH_EVERY_MS % 1000) * 1000};

	watch_poller(a);
	watch_mcp(a, now);
	watch_budget(a);
	watch_breaker(a);
	heartbeat(a, now);
	evtimer_add(a->watch_ev, &tv);
}

/* ---- the balance watch ------------------------------------------------------------------- */

static void balance_alert(struct alerts *a, const struct account *ac, const struct balance *b)
{
	const char *prov = balance_provider_name(ac->acct.provider);
	double min = a->cfg->alerts.balance_min_usd;
	char key[KEY_LEN], *title, *text;

	snprintf(key, sizeof(key), "balance:%s:%s", prov, ac->acct.group);
	if (!alert_balance_low(b->available, b->has_remaining, b->remaining_usd, min)) {
		if (firing(a, key))
			alerts_resolve(
				a, key,
				min > 0 ? "the provider balance is above alerts.balance_min_usd"
					: "alerts.balance_min_usd is 0: no balance alerts");
		return;
	}
	title = xasprintf("%s balance low (%s)", prov, ac->acct.group);
	if (b->has_remaining)
		text = xasprintf("%s says $%.4f is left for the deployments of %s "
				 "(alerts.balance_min_usd is $%.2f)%s. Top up, or calls will fail.",
				 prov, b->remaining_usd, ac->acct.group, min,
				 b->available ? ""
					      : "; the account is not available for API calls");
	else
		text = xasprintf("%s says the account of %s is not available for API calls "
				 "(balance insufficient). Top up.",
				 prov, ac->acct.group);
	alerts_fire(a, key, title, text);
	free(title);
	free(text);
}

static void on_balance(bool ok, const struct balance *b, const char *error, void *arg)
{
	struct account *ac = arg;
	struct alerts *a = ac->a;
	const char *labels[] = {balance_provider_name(ac->acct.provider), ac->acct.group};

	ac->in_flight = false;
	if (!a) {
		free(ac);
		return;
	}
	if (a->m_balance_up)
		metric_set(a->m_balance_up, labels, ok ? 1 : 0);
	ac->read = true;
	ac->ok = ok;
	ac->read_ms = a->clock_wall ? a->clock_wall(a->clock_arg) : now_wall_ms();
	snprintf(ac->error, sizeof(ac->error), "%s", ok || !error ? "" : error);
	if (ok)
		ac->last = *b;
	if (!ok) {
		log_warn("alerts: %s balance of %s: %s", labels[0], labels[1], error);
		return;
	}
	if (b->has_remaining && a->m_balance)
		metric_set(a->m_balance, labels, b->remaining_usd);
	if (b->has_limit && a->m_limit)
		metric_set(a->m_limit, labels, b->limit_usd);
	if (ac->acct.provider == BALANCE_OPENROUTER && a->m_usage)
		metric_set(a->m_usage, labels, b->usage_usd);
	if (b->cny >= 0 && a->m_cny)
		metric_set(a->m_cny, labels, b->cny);
	balance_alert(a, ac, b);
}

static void on_balance_timer(evutil_socket_t fd, short what, void *arg)
{
	struct alerts *a = arg;
	struct timeval tv = {a->cfg->alerts.balance_interval_s, 0};

	for (size_t i = 0; i < a->n_accounts; i++) {
		struct account *ac = a->accounts[i];

		if (ac->in_flight)
			continue;
		if (balance_fetch(a->loop, &ac->acct, on_balance, ac) == 0)
			ac->in_flight = true;
	}
	evtimer_add(a->balance_ev, &tv);
}

size_t alerts_balances(const struct alerts *a, struct alerts_balance *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; a && i < a->n_accounts && n < max; i++) {
		const struct account *ac = a->accounts[i];

		out[n++] = (struct alerts_balance){balance_provider_name(ac->acct.provider),
						   ac->acct.group,
						   ac->read,
						   ac->ok,
						   ac->last,
						   ac->read_ms,
						   ac->error};
	}
	return n;
}

/* ---- life -------------------------------------------------------------------------------- */

static void register_metrics(struct alerts *a, struct metrics *m)
{
	static const char *const acct[] = {"provider", "account", NULL};

	if (!m)
		return;
	a->m_sent = metrics_add(m, METRIC_COUNTER, "hermetic_alerts_sent_total",
				"Alert messages by channel and result (ok, failed, rate_limited)",
				(const char *const[]){"channel", "result", NULL});
	a->m_suppressed = metrics_add(m, METRIC_COUNTER, "hermetic_alerts_suppressed_total",
				      "Alerts not sent, by reason (duplicate, rate_limited)",
				      (const char *const[]){"reason", NULL});
	a->m_heartbeat = metrics_add(m, METRIC_GAUGE, "hermetic_heartbeat_timestamp_seconds",
				     "Unix time of the last healthy heartbeat", NULL);
	a->m_given_up = metrics_add(m, METRIC_COUNTER, "hermetic_alerts_given_up_total",
				    "Alert messages a channel never took: alerts.send_attempts "
				    "tries failed, or the retry queue was full",
				    (const char *const[]){"channel", NULL});
	if (!a->n_accounts)
		return;
	a->m_balance = metrics_add(m, METRIC_GAUGE, "hermetic_provider_balance_usd",
				   "What the provider says is left: OpenRouter's key "
				   "limit_remaining, DeepSeek's USD balance",
				   acct);
	a->m_limit = metrics_add(m, METRIC_GAUGE, "hermetic_provider_limit_usd",
				 "OpenRouter: the key's credit limit", acct);
	a->m_usage = metrics_add(m, METRIC_GAUGE, "hermetic_provider_usage_usd",
				 "OpenRouter: the key's usage, all time", acct);
	a->m_cny = metrics_add(m, METRIC_GAUGE, "hermetic_provider_balance_cny",
			       "DeepSeek: the CNY balance", acct);
	a->m_balance_up = metrics_add(m, METRIC_GAUGE, "hermetic_provider_balance_up",
				      "1 when the last balance read succeeded", acct);
}

struct alerts *alerts_create(const struct config *cfg, struct loop *loop, struct metrics *metrics)
{
	struct alerts *a = xcalloc(1, sizeof(*a));
	struct balance_account accts[MAX_ACCOUNTS];
	char *path;
	size_t i;

	a->cfg = cfg;
	a->loop = loop;
	a->keys = xcalloc(MAX_KEYS, sizeof(*a->keys));
	a->state_path = xasprintf("%s/alerts-state.json", cfg->home);
	a->state_file = statefile_create(loop, a->state_path, 0600,
					 ": a restart may announce firing alerts again");
	path = xasprintf("%s/heartbeat.json", cfg->home);
	a->beat_file = statefile_create(loop, path, 0600, NULL);
	free(path);
	alert_rate_init(&a->overall, (size_t)cfg->alerts.max_per_hour);
	a->per_channel = xcalloc(cfg->alerts.n_channels + 1, sizeof(*a->per_channel));
	for (i = 0; i < cfg->alerts.n_channels; i++)
		alert_rate_init(&a->per_channel[i], (size_t)cfg->alerts.channel_max_per_hour);
	if (gethostname(a->host, sizeof(a->host) - 1) < 0)
		snprintf(a->host, sizeof(a->host), "hermetic");
	a->n_accounts = balance_accounts(cfg, accts, MAX_ACCOUNTS);
	for (i = 0; i < a->n_accounts; i++) {
		a->accounts[i] = xcalloc(1, sizeof(struct account));
		a->accounts[i]->acct = accts[i];
		a->accounts[i]->a = a;
	}
	register_metrics(a, metrics);
	return a;
}

void alerts_start(struct alerts *a, const struct alerts_sources *src)
{
	struct timeval first = {WATCH_FIRST_MS / 1000, (WATCH_FIRST_MS % 1000) * 1000};
	struct timeval bfirst = {BALANCE_FIRST_MS / 1000, (BALANCE_FIRST_MS % 1000) * 1000};

	a->src = *src;
	load_state(a);
	a->watch_ev = evtimer_new(loop_base(a->loop), on_watch, a);
	evtimer_add(a->watch_ev, &first);
	if (a->n_accounts) {
		a->balance_ev = evtimer_new(loop_base(a->loop), on_balance_timer, a);
		evtimer_add(a->balance_ev, &bfirst);
	}
}

void alerts_set_clock(struct alerts *a, int64_t (*mono_ms)(void *arg),
		      int64_t (*wall_ms)(void *arg), void *arg)
{
	a->clock_mono = mono_ms;
	a->clock_wall = wall_ms;
	a->clock_arg = arg;
}

void alerts_destroy(struct alerts *a)
{
	struct send *s, *next;

	if (!a)
		return;
	if (a->watch_ev)
		event_free(a->watch_ev);
	if (a->balance_ev)
		event_free(a->balance_ev);
	if (a->beat)
		a->beat->a = NULL; /* freed by its callback (daemon_finish cancels it) */
	/* A send waiting for its retry goes now; one in flight is freed by its callback. */
	for (s = a->sends; s; s = next) {
		next = s->next;
		if (s->retry_ev && evtimer_pending(s->retry_ev, NULL)) {
			send_free(NULL, s);
			continue;
		}
		s->a = NULL;
	}
	for (size_t i = 0; i < a->n_accounts; i++) {
		if (a->accounts[i]->in_flight)
			a->accounts[i]->a = NULL; /* freed by its callback */
		else
			free(a->accounts[i]);
	}
	for (size_t i = 0; i < a->cfg->alerts.n_channels; i++)
		alert_rate_finish(&a->per_channel[i]);
	free(a->per_channel);
	alert_rate_finish(&a->overall);
	free(a->keys);
	/* Their last writes still complete, on a worker (loop_destroy waits for them). */
	statefile_destroy(a->state_file);
	statefile_destroy(a->beat_file);
	free(a->state_path);
	free(a);
}
