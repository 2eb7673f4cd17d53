/* schema: state.db's migrations in their one true order (see schema.h). The list was in
 * core/store.c, which had to include the headers of four higher layers to build it; moving it
 * up keeps the store free of them. The order and the names are exactly as before: changing
 * either would renumber user_version on every existing database. */
#include "gateway/schema.h"
#include "ops/alertmanager.h"
#include "core/sessions.h"
#include "core/store.h"
#include "core/util.h"
#include "gateway/cron.h"
#include "gateway/hooks.h"
#include "gateway/reminders.h"
#include "telegram/tg_store.h"
#include "agent/task_store.h"
#include "router/spend.h"
#include "mcp/oauth_store.h"

static const struct store_migration migrations[] = {
	{"kv", "CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL,"
	       " updated_ms INTEGER NOT NULL) STRICT;"},
	{"spend", SPEND_SCHEMA_SQL},
	{"spend-lean", SPEND_LEAN_SQL},
	{"sessions", SESSIONS_SCHEMA_SQL},
	{"telegram", TG_STORE_SCHEMA_SQL},
	{"hook-runs", HOOKS_SCHEMA_SQL},
	{"hook-runs-resume", HOOKS_RESUME_SQL},
	{"spend-estimated", SPEND_ESTIMATED_SQL},
	{"telegram-attempts", TG_STORE_ATTEMPTS_SQL},
	{"messages-origin", SESSIONS_ORIGIN_SQL},
	{"telegram-media", TG_STORE_MEDIA_SQL},
	{"telegram-live", TG_STORE_LIVE_SQL},
	{"reminders", REMINDERS_SCHEMA_SQL},
	{"spend-cache", SPEND_CACHE_SQL},
	{"telegram-reply", TG_STORE_REPLY_SQL},
	{"alertmanager", ALERTMANAGER_SCHEMA_SQL},
	{"cron-verdicts", CRON_VERDICTS_SQL},
	{"telegram-untrusted", TG_STORE_UNTRUSTED_SQL},
	{"telegram-strangers", TG_STORE_STRANGERS_SQL},
	{"spend-lane", SPEND_LANE_SQL},
	{"tasks", TASK_STORE_SCHEMA_SQL},
	{"mcp-oauth", OAUTH_STORE_SCHEMA_SQL},
	{"mcp-oauth-dpop", OAUTH_STORE_DPOP_SQL},
	{"spend-text", SPEND_TEXT_SQL},
	{"spend-minute", SPEND_MINUTE_SQL},
};

void schema_register(void)
{
	store_set_schema(migrations, ARRAY_LEN(migrations));
}
