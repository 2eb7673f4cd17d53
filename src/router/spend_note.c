/* spend_note: what a budget refusal (spend_last_refusal) tells the person who hit it. LiteLLM's
 * "Budget has been exceeded! Current cost: 1.2, Max budget: 1.0" names neither the budget,
 * nor when it resets, nor what raises it; this paragraph does, in the config's time zone
 * (the process's TZ, set from cfg->tz_name at start). The router adds it to its error's
 * "budget" object and the agent shows it instead of the raw error. Rejected: composing it in
 * the agent (the router knows the period and the key; a router client reads the same text).
 */
#include "router/spend.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Dollars as a person reads them: cents, and more digits only when a budget has them
 * ($0.02, $1.20, $0.0035). */
static void usd(double v, char *out, size_t len)
{
	char *dot, *end;

	snprintf(out, len, "$%.6f", v);
	dot = strchr(out, '.');
	if (!dot)
		return;
	end = out + strlen(out);
	while (end > dot + 3 && end[-1] == '0')
		*--end = '\0';
}

/* "in 3 h 20 min", "in 12 min", "in 5 days". */
static void in_time(int64_t ms, char *out, size_t len)
{
	int64_t min = ms > 0 ? (ms + 59999) / 60000 : 0;

	if (min < 60)
		snprintf(out, len, "in %lld min", (long long)min);
	else if (min < 48 * 60)
		snprintf(out, len, "in %lld h %lld min", (long long)(min / 60),
			 (long long)(min % 60));
	else
		snprintf(out, len, "in %lld days", (long long)((min + 12 * 60) / (24 * 60)));
}

/* "2026-11-26 00:00 Europe/Berlin" in the process's zone. */
static void local_time(int64_t ms, const char *tz_name, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char when[32] = "?";

	if (localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	snprintf(out, len, "%s %s", when, tz_name && *tz_name ? tz_name : "local time");
}

static bool at_midnight(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	return localtime_r(&t, &tm) && tm.tm_hour == 0 && tm.tm_min == 0;
}

void spend_refusal_text(const struct spend_refusal *r, const char *tz_name, int64_t now_ms,
			char *out, size_t len)
{
	char spent[32], max[32], when[96], in[48], who[128], raise[256];
	const char *per = r->kind == SPEND_CAP_DAY     ? " a day"
			  : r->kind == SPEND_CAP_MONTH ? " a month"
						       : "";
	int n;

	if (!len)
		return;
	usd(r->spent_usd, spent, sizeof(spent));
	usd(r->max_usd, max, sizeof(max));
	switch (r->kind) {
	case SPEND_CAP_DAY:
		snprintf(who, sizeof(who), "Today's budget");
		snprintf(raise, sizeof(raise), "raise budget.daily_usd in the config");
		break;
	case SPEND_CAP_MONTH:
		snprintf(who, sizeof(who), "This month's budget");
		snprintf(raise, sizeof(raise), "raise budget.monthly_usd in the config");
		break;
	case SPEND_CAP_ROUTER:
		snprintf(who, sizeof(who), "The router's budget");
		snprintf(raise, sizeof(raise),
			 "raise litellm_settings.max_budget in the config (its period is "
			 "litellm_settings.budget_duration)");
		break;
	default:
		snprintf(who, sizeof(who), "The budget of key %s", r->key_name);
		snprintf(raise, sizeof(raise),
			 "raise max_budget of key %s under keys: in the config (its period is "
			 "that key's budget_duration)",
			 r->key_name);
		break;
	}
	if (r->in_flight)
		n = snprintf(out, len,
			     "%s is taken up: %s spent and calls in flight may use the rest of the "
			     "%s%s that %s allows.",
			     who, spent, max, per, r->config_key);
	else
		n = snprintf(out, len, "%s is used up: %s spent of the %s%s that %s allows.", who,
			     spent, max, per, r->config_key);
	if (n < 0 || (size_t)n >= len)
		return;
	if (r->resets_ms < 0) {
		snprintf(out + n, len - (size_t)n,
			 " It does not reset by itself (no budget_duration). To allow more, %s.",
			 raise);
		return;
	}
	local_time(r->resets_ms, tz_name, when, sizeof(when));
	in_time(r->resets_ms - now_ms, in, sizeof(in));
	snprintf(out + n, len - (size_t)n, " It resets at %s%s (%s). To allow more, %s.",
		 at_midnight(r->resets_ms) ? "midnight, " : "", when, in, raise);
}
