/* config_table: the option table as data only (tmux's options-table.c beside options.c):
 * one struct opt per key with its type, field offset, default, range or check and help text.
 * Keys are listed in the order of the configuration reference, which config_print_reference()
 * prints from these tables. The keys accepted and ignored are in config_ignored.c; the
 * router's (model_list, litellm_settings, router_settings, general_settings, router, keys,
 * budget) in config_router.c; lanes, pools, policies and tasks in their own files.
 */
#include "core/config_int.h"
#include "core/util.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------
 * The tables. Keys are listed in the order of docs/configuration.md.
 */

#define FLD(s, f) .off = offsetof(struct s, f)
#define CNT(s, f) .n_off = offsetof(struct s, f)
#define OPTS(v)	  .opts = v, .n_opts = ARRAY_LEN(v)
#define MIB	  (1024 * 1024)

/* Enum fields are written through an int. */
_Static_assert(sizeof(enum config_seccomp_action) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_mcp_transport) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_mcp_auth) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_oauth_client_auth) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_oauth_grant) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");

static const struct choice alert_type_choices[] = {
	{"email", CONFIG_ALERT_EMAIL, NULL},
	{"ntfy", CONFIG_ALERT_NTFY, NULL},
	{"webhook", CONFIG_ALERT_WEBHOOK, NULL},
	{NULL, 0, NULL},
};

static const struct choice toolset_choices[] = {
	{"all", CONFIG_TOOLSET_ALL, NULL},
	{"memory", CONFIG_TOOLSET_MEMORY, NULL},
	{"session_search", CONFIG_TOOLSET_SESSION_SEARCH, NULL},
	{"skills", CONFIG_TOOLSET_SKILLS, NULL},
	{"files", CONFIG_TOOLSET_FILES, NULL},
	{"web", CONFIG_TOOLSET_WEB, NULL},
	{"prometheus", CONFIG_TOOLSET_PROMETHEUS, NULL},
	{"time", CONFIG_TOOLSET_TIME, NULL},
	{"mcp", CONFIG_TOOLSET_MCP, NULL},
	{NULL, 0, NULL},
};

static const struct choice approve_mcp_choices[] = {
	{"not_read_only", CONFIG_APPROVE_MCP_NOT_READ_ONLY, NULL},
	{"destructive", CONFIG_APPROVE_MCP_DESTRUCTIVE, NULL},
	{"none", CONFIG_APPROVE_MCP_NONE, NULL},
	{NULL, 0, NULL},
};

static const struct choice approve_builtin_choices[] = {
	{"all", CONFIG_APPROVE_ALL, NULL},
	{"skill_manage", CONFIG_APPROVE_SKILL_MANAGE, NULL},
	{"send_file", CONFIG_APPROVE_SEND_FILE, NULL},
	{"schedule", CONFIG_APPROVE_SCHEDULE, NULL},
	{NULL, 0, NULL},
};

const char *config_toolset_name(size_t i, unsigned *flag)
{
	if (i >= ARRAY_LEN(toolset_choices) - 1)
		return NULL;
	*flag = (unsigned)toolset_choices[i].value;
	return toolset_choices[i].name;
}

static const struct choice seccomp_choices[] = {
	{"errno", CONFIG_SECCOMP_ERRNO, NULL},
	{"kill", CONFIG_SECCOMP_KILL, NULL},
	{NULL, 0, NULL},
};

static const struct choice log_choices[] = {
	{"error", LOG_ERROR, NULL}, {"warn", LOG_WARN, NULL}, {"info", LOG_INFO, NULL},
	{"debug", LOG_DEBUG, NULL}, {NULL, 0, NULL},
};

static const struct choice secure_cookie_choices[] = {
	{"auto", CONFIG_SECURE_COOKIE_AUTO, NULL},
	{"always", CONFIG_SECURE_COOKIE_ALWAYS, NULL},
	{"never", CONFIG_SECURE_COOKIE_NEVER, NULL},
	{NULL, 0, NULL},
};

static const struct choice voice_choices[] = {
	{"never", CONFIG_VOICE_NEVER, NULL},
	{"when_asked", CONFIG_VOICE_WHEN_ASKED, NULL},
	{"mirror", CONFIG_VOICE_MIRROR, NULL},
	{NULL, 0, NULL},
};

static const struct choice stream_choices[] = {
	{"edit", CONFIG_STREAM_EDIT, NULL},
	{"draft", CONFIG_STREAM_DRAFT, NULL},
	{"off", CONFIG_STREAM_OFF, NULL},
	{NULL, 0, NULL},
};

static const struct choice progress_choices[] = {
	{"tools", CONFIG_PROGRESS_TOOLS, NULL},
	{"off", CONFIG_PROGRESS_OFF, NULL},
	{NULL, 0, NULL},
};

static const struct choice transport_choices[] = {
	{"http", CONFIG_MCP_HTTP, NULL},
	{"sse", CONFIG_MCP_SSE, NULL},
	{"stdio", CONFIG_MCP_STDIO, NULL},
	{NULL, 0, NULL},
};

static const struct opt auxiliary_opts[] = {
	{"compression", T_STR, FLD(config_auxiliary, compression), .flags = F_MODEL,
	 .text = "summarises old turns when the context fills up"},
	{"title", T_STR, FLD(config_auxiliary, title), .flags = F_MODEL,
	 .text = "reserved; sessions are named after their first message, with no call"},
	{"session_search", T_STR, FLD(config_auxiliary, session_search), .flags = F_MODEL,
	 .text = "reserved; session_search returns excerpts, with no call"},
	{"vision", T_STR, FLD(config_auxiliary, vision), .flags = F_MODEL,
	 .text = "describes a photo in words when the chat's model has no "
		 "`model_info.supports_vision`"},
	{"web_extract", T_STR, FLD(config_auxiliary, web_extract), .flags = F_MODEL,
	 .text = "reserved; web_fetch returns the page as text, with no call"},
	{"transcription", T_STR, FLD(config_auxiliary, transcription), .flags = F_MODEL,
	 .text = "turns voice notes into text: a group of `mode: audio_transcription` "
		 "(/v1/audio/transcriptions) or a chat group with "
		 "`model_info.supports_audio_input`; unset = voice notes are not transcribed"},
	{"memory", T_STR, FLD(config_auxiliary, memory), .flags = F_MODEL,
	 .text = "condenses a memory file (MEMORY.md, USER.md) that a write would overflow; "
		 "unset = `auxiliary.compression`"},
	{"speech", T_STR, FLD(config_auxiliary, speech), .flags = F_MODEL,
	 .text = "voice replies: a group of `mode: audio_speech` (/v1/audio/speech, Opus out); "
		 "unset = none"},
};

static const struct table auxiliary_table = {
	"auxiliary",
	"auxiliary",
	OPTS(auxiliary_opts),
	.text = "Model groups for side jobs. An unset slot uses `model`.",
};

static const struct opt agent_opts[] = {
	{"max_iterations", T_INT, FLD(config_agent, max_iterations), .def = "12", .min = 1,
	 .max = 1000, .text = "model calls per turn before the agent stops and answers"},
	{"max_turn_cost_usd", T_NUM, FLD(config_agent, max_turn_cost_usd), .def = "0.05", .min = 0,
	 .max = 1000, .text = "spend per turn before the agent stops; 0 = no cap"},
	{"context_tokens", T_INT, FLD(config_agent, context_tokens), .def = "9000", .min = 1024,
	 .max = 10000000, .text = "context budget; older turns are compressed beyond it"},
	{"persona_file", T_STR, FLD(config_agent, persona_file), .check = cfg_check_abs_path,
	 .text = "system prompt file (absolute path); unset = built-in persona"},
	{"session_idle_minutes", T_INT, FLD(config_agent, session_idle_minutes), .def = "240",
	 .min = 1, .max = 525600, .text = "a chat idle this long starts a new session"},
	{"turn_timeout_s", T_INT, FLD(config_agent, turn_timeout_s), .def = "300", .min = 1,
	 .max = 86400, .text = "wall-clock limit of one turn"},
	{"tool_result_max_bytes", T_INT, FLD(config_agent, tool_result_max_bytes), .def = "16384",
	 .min = 256, .max = 16 * MIB,
	 .text = "tool output beyond this is cut before the model sees it"},
	{"answer_max_bytes", T_INT, FLD(config_agent, answer_max_bytes), .def = "262144",
	 .min = 1024, .max = 16 * MIB,
	 .text = "a streamed answer is cut here, with a note; the rest is not read"},
	{"tool_timeout_s", T_INT, FLD(config_agent, tool_timeout_s), .def = "60", .min = 1,
	 .max = 3600, .text = "limit of one tool call"},
	{"max_tools", T_INT, FLD(config_agent, max_tools), .def = "128", .min = 16, .max = 1024,
	 .text = "tools per request (OpenAI refuses more than 128): builtin tools first, then MCP "
		 "tools in server order; the rest are left out (logged; doctor warns)"},
	{"tool_schema_budget_tokens", T_INT, FLD(config_agent, tool_schema_budget_tokens),
	 .def = "1500", .min = 0, .max = 1000000,
	 .text = "MCP tool schemas over this many tokens (bytes / 4), or past max_tools, go to "
		 "the model as a one-line catalog in mcp_call with mcp_tool_schema to load a "
		 "tool's parameters; 0 = always send every schema"},
	{"tool_output", T_SECTION, FLD(config_agent, tool_output), .table = &cfg_tool_output_table},
};

static const struct table agent_table = {"agent", "agent", OPTS(agent_opts),
					 .text = "The agent loop."};

static const struct opt memory_opts[] = {
	{"max_chars", T_INT, FLD(config_memory, max_chars), .def = "2200", .min = 100,
	 .max = 100000, .text = "bound of MEMORY.md (the agent's notes), in characters"},
	{"user_max_chars", T_INT, FLD(config_memory, user_max_chars), .def = "1375", .min = 100,
	 .max = 100000, .text = "bound of USER.md (about the user), in characters"},
	{"history_keep", T_INT, FLD(config_memory, history_keep), .def = "10", .min = 1,
	 .max = 1000,
	 .text = "versions of a memory file kept in `home/memories/.history/` when it is "
		 "condensed (oldest removed first)"},
};

static const struct table memory_table = {
	"memory", "memory", OPTS(memory_opts),
	.text = "The `memory` toolset: `home/memories/MEMORY.md` and `USER.md`, shown to the "
		"model at session start."};

static const struct opt skills_opts[] = {
	{"external_dirs", T_STRS, FLD(config_skills, external_dirs),
	 CNT(config_skills, n_external_dirs), .cap = 32, .check = cfg_check_abs_path,
	 .text = "read-only skill directories besides home/skills (absolute paths)"},
	{"index_tokens", T_INT, FLD(config_skills, index_tokens), .def = "400", .min = 0,
	 .max = 100000,
	 .text = "size of the skills index in the system prompt, in tokens (bytes/4): the skills "
		 "that best match the session's first message (and a cron job's own) are named, "
		 "skills_list searches the rest; 0 = no index"},
};

static const struct table skills_table = {
	"skills", "skills", OPTS(skills_opts),
	.text = "Skills (`<dir>/<name>/SKILL.md` or `<dir>/<category>/<name>/SKILL.md`)."};

static const struct opt web_opts[] = {
	{"allow_hosts", T_STRS, FLD(config_web, allow_hosts), CNT(config_web, n_allow_hosts),
	 .cap = 256, .check = cfg_check_host_pattern,
	 .text = "hosts web_fetch may reach (`example.com`, `*.example.com`); a listed host may "
		 "be internal and use any port; empty = any public host, ports 80 and 443"},
	{"timeout_s", T_INT, FLD(config_web, timeout_s), .def = "20", .min = 1, .max = 300,
	 .text = "limit of one fetch"},
	{"max_bytes", T_INT, FLD(config_web, max_bytes), .def = "1048576", .min = 1024,
	 .max = 64 * MIB, .text = "largest response body read"},
};

static const struct table web_table = {"web", "web", OPTS(web_opts), .text = "The `web` toolset."};

static const struct opt prometheus_opts[] = {
	{"url", T_STR, FLD(config_prometheus, url), .check = cfg_check_url,
	 .text = "Prometheus base URL; unset = prometheus_query is not offered"},
	{"timeout_s", T_INT, FLD(config_prometheus, timeout_s), .def = "15", .min = 1, .max = 300,
	 .text = "limit of one query"},
};

static const struct table prometheus_table = {"prometheus", "prometheus", OPTS(prometheus_opts),
					      .prepare = cfg_shapes_prometheus,
					      .text = "The `prometheus` toolset."};

static const struct opt bleed_opts[] = {
	{"max_calls", T_INT, FLD(config_bleed, max_calls), .def = "60", .min = 0, .max = 1000000,
	 .text = "upstream calls (retries too) per window; 0 = off"},
	{"window_s", T_INT, FLD(config_bleed, window_s), .def = "900", .min = 1, .max = 86400,
	 .text = "the sliding window"},
	{"max_cost_usd", T_NUM, FLD(config_bleed, max_cost_usd), .def = "0", .min = 0, .max = 10000,
	 .text = "spend per window; 0 = off"},
	{"cooldown_s", T_INT, FLD(config_bleed, cooldown_s), .def = "3600", .min = 0, .max = 604800,
	 .text = "calls are refused this long after a trip; 0 = until /resume"},
};

static const struct table bleed_table = {"bleed", "guardrails.bleed", OPTS(bleed_opts),
					 .text = "The bleed detector: stops runaway loops."};

static const struct opt seccomp_opts[] = {
	{"enabled", T_BOOL, FLD(config_seccomp, enabled), .def = "true",
	 .text = "install the syscall allowlist at start"},
	{"action", T_ENUM, FLD(config_seccomp, action), .def = "errno", .choices = seccomp_choices,
	 .text = "a denied syscall fails with EPERM (errno) or kills the process"},
};

static const struct table seccomp_table = {"seccomp", "guardrails.seccomp", OPTS(seccomp_opts),
					   .text = "The process sandbox."};

static const struct opt guardrails_opts[] = {
	{"bleed", T_SECTION, FLD(config_guardrails, bleed), .table = &bleed_table},
	{"max_tokens", T_LIMITS, FLD(config_guardrails, max_tokens),
	 CNT(config_guardrails, n_max_tokens),
	 .aux_off = offsetof(struct config_guardrails, max_tokens_default), .def = "4096", .min = 1,
	 .max = 10000000, .cap = 256,
	 .text = "completion cap: `{default: 4096, strong: 8192}` or one number"},
	{"seccomp", T_SECTION, FLD(config_guardrails, seccomp), .table = &seccomp_table},
};

static const struct table guardrails_table = {"guardrails", "guardrails", OPTS(guardrails_opts),
					      .text = "Limits the agent cannot talk its way past."};

static const struct opt telegram_opts[] = {
	{"token", T_STR, FLD(config_telegram, token), .flags = F_SECRET,
	 .text = "bot token, normally `os.environ/TELEGRAM_BOT_TOKEN`; unset or empty = off"},
	{"allowed_users", T_INTS, FLD(config_telegram, allowed_users),
	 CNT(config_telegram, n_allowed_users), .min = 1, .max = MAX_I64, .cap = 1024,
	 .text = "user ids served; empty = nobody"},
	{"allowed_chats", T_INTS, FLD(config_telegram, allowed_chats),
	 CNT(config_telegram, n_allowed_chats), .min = INT64_MIN + 1, .max = MAX_I64, .cap = 1024,
	 .text = "group chat ids (negative) where allowed users are answered; private chats need "
		 "no entry, other groups are ignored"},
	{"api_base", T_STR, FLD(config_telegram, api_base), .def = "https://api.telegram.org",
	 .check = cfg_check_url, .text = "Bot API server"},
	{"admin_chat", T_INT, FLD(config_telegram, admin_chat), .def = "0", .min = INT64_MIN + 1,
	 .max = MAX_I64, .text = "chat for alerts (budget, bleed, failures); 0 = none"},
	{"poll_timeout_s", T_INT, FLD(config_telegram, poll_timeout_s), .def = "30", .min = 1,
	 .max = 120,
	 .text = "getUpdates long-poll timeout; `/readyz` fails after no successful poll for "
		 "twice this, at least 10 s"},
	{"refuse_unknown", T_BOOL, FLD(config_telegram, refuse_unknown), .def = "true",
	 .text = "answer strangers with a refusal (false = ignore them)"},
	{"max_file_bytes", T_INT, FLD(config_telegram, max_file_bytes), .def = "20971520",
	 .min = 1024, .max = 2000 * MIB,
	 .text = "largest voice note, audio, video note or document downloaded (Telegram's "
		 "cloud Bot API serves bots 20 MB; a local Bot API server more); photos are "
		 "bounded by max_image_bytes alone"},
	{"max_image_bytes", T_INT, FLD(config_telegram, max_image_bytes), .def = "1048576",
	 .min = 1024, .max = 20 * MIB,
	 .text = "a photo's cap: the largest of its sizes up to this is taken, whatever "
		 "max_file_bytes; a photo with no size up to this is refused; an image sent "
		 "as a file up to this is handled as a photo"},
	{"max_text_doc_bytes", T_INT, FLD(config_telegram, max_text_doc_bytes), .def = "32768",
	 .min = 0, .max = MIB,
	 .text = "a text document up to this size goes into the turn; a larger one is given "
		 "as its path under home for read_file"},
	{"voice_replies", T_ENUM, FLD(config_telegram, voice_replies), .def = "never",
	 .choices = voice_choices,
	 .text = "`never`; `when_asked`: the agent gets a send_voice tool; `mirror`: a voice "
		 "note is answered with text and voice (needs auxiliary.speech)"},
	{"voice", T_STR, FLD(config_telegram, voice), .def = "alloy", .flags = F_ONELINE,
	 .text = "the speech voice of voice replies"},
	{"stream", T_ENUM, FLD(config_telegram, stream), .def = "edit", .choices = stream_choices,
	 .text = "`edit`: the answer grows in one message edited in place; `draft`: in "
		 "private chats a sendMessageDraft preview (Bot API 9.3), then the message; "
		 "`off`: the whole answer at once"},
	{"progress", T_ENUM, FLD(config_telegram, progress), .def = "tools",
	 .choices = progress_choices,
	 .text = "`tools`: the live message says which tool runs until the answer replaces it; "
		 "`off`"},
	{"reactions", T_BOOL, FLD(config_telegram, reactions), .def = "false",
	 .text = "react to the user's message: 👀 taken, 👍 answered, 👎 failed, 🤔 "
		 "stopped"},
	{"edit_every_ms", T_INT, FLD(config_telegram, edit_every_ms), .def = "1500", .min = 1000,
	 .max = 60000,
	 .text = "the per-chat budget: sends, edits, typing and reactions of one private chat "
		 "are at least this far apart (groups: twice this, at most 20 a minute)"},
};

static const struct table telegram_table = {"telegram", "telegram", OPTS(telegram_opts),
					    .text = "The Telegram gateway."};

static const struct opt media_opts[] = {
	{"retention_days", T_INT, FLD(config_media, retention_days), .def = "30", .min = 0,
	 .max = 3650, .text = "files under home/media older than this are deleted; 0 = kept"},
	{"max_total_bytes", T_INT, FLD(config_media, max_total_bytes), .def = "524288000", .min = 0,
	 .max = MAX_I64, .text = "home/media is pruned, oldest first, to this size; 0 = no cap"},
};

static const struct table media_table = {
	"media", "media", OPTS(media_opts),
	.text = "Files received from and sent to Telegram, under home/media (pruned hourly)."};

static const struct opt sessions_opts[] = {
	{"retention_days", T_INT, FLD(config_sessions, retention_days), .def = "90", .min = 0,
	 .max = 36500,
	 .text = "conversations idle longer than this are deleted with their messages and search "
		 "rows (0 = keep all)"},
};

static const struct table sessions_table = {"sessions", "sessions", OPTS(sessions_opts),
					    .text = "Conversations in state.db (gateway: pruned 10 "
						    "s after start, then hourly, in small "
						    "batches)."};

static const struct opt api_opts[] = {
	{"listen", T_LISTEN, FLD(config_api, listen), .def = "127.0.0.1:8642",
	 .text = "address of the agent API and hooks"},
	{"key", T_STR, FLD(config_api, key), .flags = F_SECRET,
	 .text = "bearer key of the agent API; unset = no auth, then listen must be loopback"},
	{"allowed_hosts", T_STRS, FLD(config_api, allowed_hosts), CNT(config_api, n_allowed_hosts),
	 .cap = 64, .check = cfg_check_allowed_host,
	 .text = "Host names the API answers besides loopback and listen's address (a Service "
		 "name); `*` = any (needs key)"},
	{"max_body_bytes", T_INT, FLD(config_api, max_body_bytes), .def = "1048576", .min = 1024,
	 .max = 64 * MIB,
	 .text = "largest request body (also of an Alertmanager notification); over it is 413"},
	{"timeout_s", T_INT, FLD(config_api, timeout_s), .def = "60", .min = 1, .max = 3600,
	 .text = "limit of one synchronous request"},
};

static const struct table api_table = {"api", "api", OPTS(api_opts), .check = cfg_api_check,
				       .text = "The loopback HTTP API (chat, hooks)."};

static const struct opt ui_opts[] = {
	{"enabled", T_BOOL, FLD(config_ui, enabled), .def = "false",
	 .text = "serve the web cockpit under /ui/ on api.listen (on too when password_hash is "
		 "set); login with password_hash or api.key"},
	{"password_hash", T_STR, FLD(config_ui, password_hash), .flags = F_SECRET,
	 .check = cfg_check_password_hash,
	 .text = "PBKDF2 hash of the cockpit's password, from `hermetic ui hash-password`"},
	{"session_ttl_s", T_INT, FLD(config_ui, session_ttl_s), .def = "43200", .min = 60,
	 .max = 30 * 86400, .text = "a login lasts this long (sessions end on restart too)"},
	{"login_failures", T_INT, FLD(config_ui, login_failures), .def = "5", .min = 1, .max = 1000,
	 .text = "failed logins per client address (IPv6: per /64) and minute; past it that "
		 "address gets 429, and all addresses together get 20 times as many"},
	{"trusted_proxies", T_STRS, FLD(config_ui, trusted_proxies),
	 CNT(config_ui, n_trusted_proxies), .cap = 32, .check = cfg_check_trusted_proxy,
	 .text = "reverse proxies (addresses or networks, `10.42.0.0/16`) whose "
		 "X-Forwarded-For names the client of the login limit and whose "
		 "`X-Forwarded-Proto: https` makes the cookie secure"},
	{"public_url", T_STR, FLD(config_ui, public_url), .check = cfg_check_url,
	 .text = "the address the cockpit is reached at from a browser (`https://hermetic.example."
		 "org`, no trailing slash): an MCP sign-in sent to Telegram comes back to its "
		 "/ui/oauth/callback; unset, the owner pastes the address the browser ended on"},
	{"secure_cookie", T_ENUM, FLD(config_ui, secure_cookie), .def = "auto",
	 .choices = secure_cookie_choices,
	 .text = "the session cookie as `__Host-hermetic_ui` with Secure: `auto` when a trusted "
		 "proxy says the browser came over HTTPS, `always`, or `never`"},
};

static const struct table ui_table = {"ui", "ui", OPTS(ui_opts),
				      .text = "The web cockpit (docs/cockpit.md)."};

static const struct opt log_opts[] = {
	{"level", T_ENUM, FLD(config_log, level), .def = "info", .choices = log_choices,
	 .text = "least severe level written"},
	{"file", T_BOOL, FLD(config_log, file), .def = "true",
	 .text = "also write home/logs/hermetic.log"},
	{"max_bytes", T_INT, FLD(config_log, max_bytes), .def = "10485760", .min = 65536,
	 .max = 1024 * MIB, .text = "rotate the file beyond this size"},
	{"keep", T_INT, FLD(config_log, keep), .def = "3", .min = 0, .max = 100,
	 .text = "rotated files kept"},
};

static const struct table log_table = {"log", "log", OPTS(log_opts), .text = "Logging."};

static const struct opt audit_opts[] = {
	{"enabled", T_BOOL, FLD(config_audit, enabled), .def = "true",
	 .text = "write home/logs/audit.jsonl (`gateway`, `router`, `chat`)"},
	{"include_text", T_BOOL, FLD(config_audit, include_text), .def = "false",
	 .text = "also the turn's message and answer (cut at 4 KiB each)"},
	{"max_bytes", T_INT, FLD(config_audit, max_bytes), .def = "10485760", .min = 65536,
	 .max = 1024 * MIB, .text = "rotate the file beyond this size"},
	{"keep", T_INT, FLD(config_audit, keep), .def = "3", .min = 0, .max = 100,
	 .text = "rotated files kept"},
};

static const struct table audit_table = {
	"audit", "audit", OPTS(audit_opts),
	.text = "The audit trail: one JSON line per model attempt, tool call and turn, without "
		"secrets, and without message text unless include_text (docs/audit.md)."};

static const struct opt mcp_tools_opts[] = {
	{"include", T_STRS, FLD(config_mcp_server, tools_include),
	 CNT(config_mcp_server, n_tools_include), .cap = 256, .flags = F_ONELINE | F_ONE_OR_LIST,
	 .text = "offer only these tools (a name or a list); empty = all; wins over exclude"},
	{"exclude", T_STRS, FLD(config_mcp_server, tools_exclude),
	 CNT(config_mcp_server, n_tools_exclude), .cap = 256, .flags = F_ONELINE | F_ONE_OR_LIST,
	 .text = "never offer these tools (a name or a list)"},
};

static const struct table mcp_tools_table = {"tools", "mcp_servers.NAME.tools",
					     OPTS(mcp_tools_opts),
					     .text = "Which of the server's tools the model sees."};

static const struct opt mcp_sampling_opts[] = {
	{"enabled", T_BOOL, FLD(config_mcp_server, sampling_enabled), .def = "false",
	 .text = "the server may ask the model (sampling/createMessage); off: it is told "
		 "-32601"},
	{"model", T_STR, FLD(config_mcp_server, sampling_model), .flags = F_MODEL,
	 .text = "model group that answers (default: the agent's model)"},
	{"max_tokens_cap", T_INT, FLD(config_mcp_server, sampling_max_tokens_cap), .def = "4096",
	 .min = 1, .max = 1000000, .text = "the server's maxTokens is cut to this"},
	{"timeout", T_INT, FLD(config_mcp_server, sampling_timeout_s), .def = "60", .min = 1,
	 .max = 3600, .text = "seconds for one answer; then the server gets an error"},
	{"max_rpm", T_INT, FLD(config_mcp_server, sampling_max_rpm), .def = "10", .min = 1,
	 .max = 10000, .text = "requests a minute from this server; more get an error"},
	{"allowed_models", T_STRS, FLD(config_mcp_server, sampling_allowed_models),
	 CNT(config_mcp_server, n_sampling_allowed_models), .cap = 64,
	 .flags = F_MODEL | F_ONELINE | F_ONE_OR_LIST,
	 .text = "model groups the server's modelPreferences hints may pick; others: model"},
};

static const struct table mcp_sampling_table = {
	"sampling", "mcp_servers.NAME.sampling", OPTS(mcp_sampling_opts),
	.text = "The server asking the model (Hermes' keys): through the router in the server's "
		"lane (the lane that lists it in mcp_servers) and budgets (docs/mcp.md)."};
static const struct choice mcp_protocol_choices[] = {
	{"auto", CONFIG_MCP_PROTOCOL_AUTO, NULL},
	{"2026-07-28", CONFIG_MCP_PROTOCOL_2026, NULL},
	{"2025-11-25", CONFIG_MCP_PROTOCOL_2025, NULL},
	{NULL, 0, NULL},
};

static const struct choice mcp_auth_choices[] = {
	{"none", CONFIG_MCP_AUTH_NONE, NULL},
	{"oauth", CONFIG_MCP_AUTH_OAUTH, NULL},
	{NULL, 0, NULL},
};

static const struct choice oauth_client_auth_choices[] = {
	{"auto", CONFIG_OAUTH_CLIENT_AUTH_AUTO, NULL},
	{"client_secret_basic", CONFIG_OAUTH_CLIENT_AUTH_BASIC, NULL},
	{"client_secret_post", CONFIG_OAUTH_CLIENT_AUTH_POST, NULL},
	{"none", CONFIG_OAUTH_CLIENT_AUTH_NONE, NULL},
	{"private_key_jwt", CONFIG_OAUTH_CLIENT_AUTH_PRIVATE_KEY_JWT, NULL},
	{NULL, 0, NULL},
};

static const struct choice oauth_grant_choices[] = {
	{"authorization_code", CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE, NULL},
	{"client_credentials", CONFIG_OAUTH_GRANT_CLIENT_CREDENTIALS, NULL},
	{"urn:ietf:params:oauth:grant-type:jwt-bearer", CONFIG_OAUTH_GRANT_JWT_BEARER, NULL},
	{NULL, 0, NULL},
};

static const struct opt mcp_oauth_opts[] = {
	{"client_id", T_STR, FLD(config_mcp_server, oauth.client_id), .flags = F_ONELINE,
	 .text = "a client registered with the server's authorization server; unset = a Client "
		 "ID Metadata Document (client_metadata_url), else dynamic registration (RFC "
		 "7591)"},
	{"client_secret", T_STR, FLD(config_mcp_server, oauth.client_secret),
	 .flags = F_SECRET | F_ONELINE, .text = "the client's secret, normally `os.environ/NAME`"},
	{"token_endpoint_auth_method", T_ENUM, FLD(config_mcp_server, oauth.client_auth),
	 .def = "auto", .choices = oauth_client_auth_choices,
	 .text = "how the client authenticates at the token endpoint; auto = what registration "
		 "returned, else client_secret_basic with a secret and none without"},
	{"private_key", T_STR, FLD(config_mcp_server, oauth.private_key),
	 .text = "PEM key for private_key_jwt, RSA (RS256) or P-256 (ES256), normally "
		 "`os.environ/NAME`; secret (each line of it is redacted)"},
	{"client_metadata_url", T_STR, FLD(config_mcp_server, oauth.client_metadata_url),
	 .check = cfg_check_cimd_url,
	 .text = "https URL of a Client ID Metadata Document: used as the client_id when the "
		 "authorization server supports it (client_id_metadata_document_supported)"},
	{"grant", T_ENUM, FLD(config_mcp_server, oauth.grant), .def = "authorization_code",
	 .choices = oauth_grant_choices,
	 .text = "authorization_code (a person signs in: `hermetic mcp login`), "
		 "client_credentials or urn:ietf:params:oauth:grant-type:jwt-bearer (the client "
		 "signs in by itself)"},
	{"assertion", T_STR, FLD(config_mcp_server, oauth.assertion), .flags = F_SECRET | F_ONELINE,
	 .text = "the JWT the jwt-bearer grant presents, normally `os.environ/NAME`"},
	{"idp_token_endpoint", T_STR, FLD(config_mcp_server, oauth.idp_token_endpoint),
	 .check = cfg_check_url,
	 .text = "cross-app access (jwt-bearer grant): the enterprise IdP's token endpoint, where "
		 "id_token is exchanged for an ID-JAG (RFC 8693)"},
	{"idp_client_id", T_STR, FLD(config_mcp_server, oauth.idp_client_id), .flags = F_ONELINE,
	 .text = "cross-app access: this client's id at the IdP"},
	{"idp_client_secret", T_STR, FLD(config_mcp_server, oauth.idp_client_secret),
	 .flags = F_SECRET | F_ONELINE,
	 .text = "cross-app access: this client's secret at the IdP (client_secret_basic), if any"},
	{"idp_issuer", T_STR, FLD(config_mcp_server, oauth.idp_issuer), .check = cfg_check_url,
	 .text = "cross-app access: the IdP's issuer (informational: the token endpoint is what is "
		 "used)"},
	{"id_token", T_STR, FLD(config_mcp_server, oauth.id_token), .flags = F_SECRET | F_ONELINE,
	 .text = "cross-app access: the user's ID token from the IdP, normally `os.environ/NAME`"},
	{"scopes", T_STRS, FLD(config_mcp_server, oauth.scopes),
	 CNT(config_mcp_server, oauth.n_scopes), .cap = 64, .check = cfg_check_oauth_scope,
	 .flags = F_ONELINE | F_ONE_OR_LIST,
	 .text = "scopes to ask for; unset = the server's WWW-Authenticate scope, else its "
		 "scopes_supported, else none"},
	{"dpop", T_BOOL, FLD(config_mcp_server, oauth.dpop), .def = "false",
	 .text = "bind the tokens with DPoP (RFC 9449): a P-256 key made once for this server and "
		 "kept with its tokens in state.db signs a proof for every token request and "
		 "every request to the server; the authorization server must take ES256"},
};

static const struct table mcp_oauth_table = {
	"oauth", "mcp_servers.NAME.oauth", OPTS(mcp_oauth_opts),
	.text = "OAuth 2.1 sign-in (with `auth: oauth`), all optional: what is unset is "
		"discovered (docs/mcp.md, \"Remote servers that sign in\")."};

static const struct opt mcp_root_opts[] = {
	{"uri", T_STR, FLD(config_mcp_root, uri), .check = cfg_check_root,
	 .flags = F_REQUIRED | F_ONELINE,
	 .text = "the folder: an absolute path or a file:/// URI (an item may be just this)"},
	{"name", T_STR, FLD(config_mcp_root, name), .flags = F_ONELINE,
	 .text = "what the server may call it"},
};

static const struct table mcp_root_table = {
	"roots",
	"mcp_servers.NAME.roots[]",
	OPTS(mcp_root_opts),
	.size = sizeof(struct config_mcp_root),
	.scalar_first = true,
	.text = "Folders the server is told it may work in (MCP roots, answered to roots/list; "
		"docs/mcp.md \"Roots\"). A list of paths or file:/// URIs, or of {uri, name}."};

static const struct opt mcp_opts[] = {
	{"url", T_STR, FLD(config_mcp_server, url), .check = cfg_check_url,
	 .text = "endpoint of an http or sse server"},
	{"command", T_STR, FLD(config_mcp_server, command), .check = cfg_check_command,
	 .text = "program of a stdio server"},
	{"transport", T_ENUM, FLD(config_mcp_server, transport), .choices = transport_choices,
	 .text = "default http with url, stdio with command"},
	{"protocol", T_ENUM, FLD(config_mcp_server, protocol), .def = "auto",
	 .choices = mcp_protocol_choices,
	 .text = "auto = offer the 2026-07-28 revision first over http, the 2025-11-25 handshake "
		 "otherwise; 2026-07-28 = first over stdio too; 2025-11-25 = the handshake only"},
	{"args", T_STRS, FLD(config_mcp_server, args), CNT(config_mcp_server, n_args), .cap = 64,
	 .text = "arguments of command"},
	{"env", T_PAIRS, FLD(config_mcp_server, env), CNT(config_mcp_server, n_env), .cap = 64,
	 .check = cfg_check_env_name, .flags = F_SECRET | F_LITERAL_PUBLIC,
	 .text = "environment of command (values taken from the environment are secrets)"},
	{"headers", T_PAIRS, FLD(config_mcp_server, headers), CNT(config_mcp_server, n_headers),
	 .cap = 32, .check = cfg_check_header_name, .flags = F_SECRET | F_ONELINE,
	 .text = "HTTP headers (values are secrets)"},
	{"auth", T_ENUM, FLD(config_mcp_server, auth), .def = "none", .choices = mcp_auth_choices,
	 .text = "none = only headers; oauth = sign in with OAuth 2.1 (`hermetic mcp login NAME`; "
		 "Hermes' key)"},
	{"oauth", T_SECTION, .off = 0, .table = &mcp_oauth_table},
	{"timeout", T_INT, FLD(config_mcp_server, timeout_s), .def = "120", .min = 1, .max = 3600,
	 .text = "seconds per request (Hermes' default)"},
	{"connect_timeout", T_INT, FLD(config_mcp_server, connect_timeout_s), .def = "60", .min = 1,
	 .max = 300,
	 .text = "seconds to connect and initialize (Hermes' default; a cold `npx -y` needs it)"},
	{"tools", T_SECTION, .off = 0, .table = &mcp_tools_table},
	{"sampling", T_SECTION, .off = 0, .table = &mcp_sampling_table},
	{"roots", T_LIST, FLD(config_mcp_server, roots), CNT(config_mcp_server, n_roots), .cap = 64,
	 .table = &mcp_root_table,
	 .text = "folders the server may work in (MCP roots); none = the capability is not "
		 "declared"},
	{"enabled", T_BOOL, FLD(config_mcp_server, enabled), .def = "true",
	 .text = "false = keep the entry but do not connect"},
	{"(name)", T_STR, FLD(config_mcp_server, name), .flags = F_DERIVED},
	{"(prefix)", T_STR, FLD(config_mcp_server, prefix), .flags = F_DERIVED},
};

static const struct table mcp_table = {
	"mcp_servers",
	"mcp_servers.NAME",
	OPTS(mcp_opts),
	.size = sizeof(struct config_mcp_server),
	.name_off = offsetof(struct config_mcp_server, name),
	.check = cfg_mcp_check,
	.check_all = cfg_mcp_check_all,
	.text = "MCP servers by name. Their tools are offered as `mcp_<name>_<tool>` (at most 64 "
		"characters), with characters other than a-z, A-Z, 0-9, _ turned into _."};

static const struct choice job_web_choices[] = {
	{"allow_hosts", CONFIG_JOB_WEB_ALLOW_HOSTS, NULL},
	{"any", CONFIG_JOB_WEB_ANY, NULL},
	{NULL, 0, NULL},
};

#define JOB_WEB_TEXT                                                                               \
	"where web_fetch may go in this job's runs (untrusted, see Trust): `allow_hosts` = only "  \
	"web.allow_hosts; `any` = any host a chat may fetch"

static const struct choice cron_report_choices[] = {
	{"off", CONFIG_CRON_REPORT_OFF, NULL},
	{"on_failure", CONFIG_CRON_REPORT_ON_FAILURE, NULL},
	{NULL, 0, NULL},
};

static const struct opt cron_opts[] = {
	{"name", T_STR, FLD(config_cron_job, name), .check = cfg_check_name, .flags = F_REQUIRED,
	 .text = "unique; `^[a-z0-9][a-z0-9_-]{0,63}$`"},
	{"schedule", T_STR, FLD(config_cron_job, schedule), .flags = F_REQUIRED,
	 .text = "5-field cron line in `timezone`, or @hourly/@daily/@weekly/@monthly/@yearly"},
	{"prompt", T_STR, FLD(config_cron_job, prompt), .flags = F_REQUIRED,
	 .text = "what the agent is asked"},
	{"deliver", T_DELIVER, FLD(config_cron_job, deliver),
	 .text = "where the answer goes; unset = kept in the session only"},
	{"skills", T_STRS, FLD(config_cron_job, skills), CNT(config_cron_job, n_skills), .cap = 32,
	 .check = cfg_check_name, .text = "skills loaded for the run"},
	{"model", T_STR, FLD(config_cron_job, model), .flags = F_MODEL,
	 .text = "model group; default `model`"},
	{"misfire_grace_s", T_INT, FLD(config_cron_job, misfire_grace_s), .def = "600", .min = 0,
	 .max = 86400, .text = "a run missed by less than this (downtime) still happens"},
	{"enabled", T_BOOL, FLD(config_cron_job, enabled), .def = "true",
	 .text = "false = keep the entry but never run it"},
	{"web_fetch", T_ENUM, FLD(config_cron_job, web_fetch), .def = "allow_hosts",
	 .choices = job_web_choices, .text = JOB_WEB_TEXT},
	{"report", T_ENUM, FLD(config_cron_job, report), .def = "off",
	 .choices = cron_report_choices,
	 .text = "`on_failure` = a health check: the run ends with a verdict (ok, warn, fail) "
		 "through the `report` tool and only a verdict that is not ok is delivered (a run "
		 "without one counts as fail); the last 10 are kept. `off` = the answer is "
		 "delivered"},
};

static const struct table cron_table = {"cron",
					"cron[]",
					OPTS(cron_opts),
					.size = sizeof(struct config_cron_job),
					.check = cfg_cron_check,
					.check_all = cfg_cron_check_all,
					.text = "Scheduled agent runs."};

static const struct opt hook_opts[] = {
	{"name", T_STR, FLD(config_hook, name), .check = cfg_check_name, .flags = F_REQUIRED,
	 .text = "unique; the hook is POST /v1/hooks/<name>"},
	{"token", T_STR, FLD(config_hook, token), .flags = F_REQUIRED | F_SECRET,
	 .text = "bearer token callers send"},
	{"prompt", T_STR, FLD(config_hook, prompt), .flags = F_REQUIRED,
	 .text = "what the agent is asked; `{{payload}}` is the JSON body, `{{payload.a.b}}` one "
		 "field"},
	{"deliver", T_DELIVER, FLD(config_hook, deliver),
	 .text = "where the answer goes; unset = only in the response"},
	{"idempotency_field", T_STR, FLD(config_hook, idempotency_field),
	 .check = cfg_check_field_name, .text = "payload field whose repeats are ignored"},
	{"async", T_BOOL, FLD(config_hook, async), .def = "false",
	 .text = "answer 202 at once instead of waiting for the agent"},
	{"model", T_STR, FLD(config_hook, model), .flags = F_MODEL,
	 .text = "model group; default `model`"},
	{"web_fetch", T_ENUM, FLD(config_hook, web_fetch), .def = "allow_hosts",
	 .choices = job_web_choices, .text = JOB_WEB_TEXT},
};

static const struct table hook_table = {"hooks",
					"hooks[]",
					OPTS(hook_opts),
					.size = sizeof(struct config_hook),
					.check = cfg_hook_check,
					.check_all = cfg_hooks_check_all,
					.text = "Webhooks that start an agent run."};

static const struct opt reminders_opts[] = {
	{"enabled", T_BOOL, FLD(config_reminders, enabled), .def = "true",
	 .text = "offer the `schedule` tool in Telegram chats and run its jobs (gateway)"},
	{"max_per_chat", T_INT, FLD(config_reminders, max_per_chat), .def = "20", .min = 1,
	 .max = 1000, .text = "active and paused jobs one chat may have"},
	{"max_cost_usd", T_NUM, FLD(config_reminders, max_cost_usd), .def = "0.05", .min = 0,
	 .max = 100,
	 .text = "cost cap of one run when the model names none; also the highest it may name"},
	{"min_interval_s", T_INT, FLD(config_reminders, min_interval_s), .def = "300", .min = 60,
	 .max = 31536000, .text = "a recurring job may not run more often than this"},
	{"continuity", T_BOOL, FLD(config_reminders, continuity), .def = "true",
	 .text = "a recurring job's run is shown its previous result"},
};

static const struct table reminders_table = {
	"reminders", "reminders", OPTS(reminders_opts), .check = cfg_reminders_check,
	.text = "Reminders and schedules the agent makes for a chat (`schedule` tool), kept in "
		"state.db apart from `cron`. See docs/gateway.md, \"Reminders\"."};

static const struct opt approvals_opts[] = {
	{"timeout_s", T_INT, FLD(config_approvals, timeout_s), .def = "300", .min = 10,
	 .max = 86400, .text = "a question nobody answers in this time is answered no"},
	{"mcp", T_ENUM, FLD(config_approvals, mcp), .def = "not_read_only",
	 .choices = approve_mcp_choices,
	 .text = "which MCP tools ask, by their tools/list annotations: `not_read_only` = "
		 "all but `readOnlyHint: true`; `destructive` = also not `destructiveHint: "
		 "false`; `none`"},
	{"builtin", T_FLAGS, FLD(config_approvals, builtin), .def = "all",
	 .choices = approve_builtin_choices,
	 .text = "builtin tools that ask: skill_manage, send_file, schedule (`[]`: none)"},
	{"tools", T_STRS, FLD(config_approvals, tools), CNT(config_approvals, n_tools), .cap = 64,
	 .text = "more tools that ask: names or patterns (`mcp_kubernetes_*`, `web_fetch`)"},
};

static const struct table approvals_table = {
	"approvals", "approvals", OPTS(approvals_opts),
	.text = "Tool calls that wait for the human's yes in the chat (buttons Approve, Always in "
		"this chat, Deny). Asked in chats only: `hermetic chat` and the agent API run "
		"them, "
		"and a cron job or hook asks in its deliver chat (else telegram.admin_chat; with "
		"none the call is denied). See docs/gateway.md, \"Approvals\"."};

static const struct opt alert_channel_opts[] = {
	{"type", T_ENUM, FLD(config_alert_channel, type), .choices = alert_type_choices,
	 .flags = F_REQUIRED, .text = "`email` (SMTP), `ntfy` or `webhook` (a JSON POST)"},
	{"url", T_STR, FLD(config_alert_channel, url), .flags = F_REQUIRED | F_SECRET | F_ONELINE,
	 .text = "email: `smtps://host:465` or `smtp://host:587` (STARTTLS required); ntfy: the "
		 "topic's URL; webhook: the URL (secret: topic names and hook URLs are "
		 "credentials)"},
	{"name", T_STR, FLD(config_alert_channel, name), .check = cfg_check_name,
	 .text = "in `hermetic alerts test`, logs and metrics; default `<type>-<n>`"},
	{"token", T_STR, FLD(config_alert_channel, token), .flags = F_SECRET | F_ONELINE,
	 .text = "ntfy, webhook: sent as `Authorization: Bearer`; normally `os.environ/NAME`"},
	{"priority", T_INT, FLD(config_alert_channel, priority), .def = "4", .min = 1, .max = 5,
	 .text = "ntfy: the message priority (3 = default, 5 = max)"},
	{"from", T_STR, FLD(config_alert_channel, from), .flags = F_ONELINE,
	 .text = "email: the sender address"},
	{"to", T_STRS, FLD(config_alert_channel, to), CNT(config_alert_channel, n_to), .cap = 16,
	 .flags = F_ONELINE | F_ONE_OR_LIST, .text = "email: recipient addresses"},
	{"username", T_STR, FLD(config_alert_channel, username), .flags = F_ONELINE,
	 .text = "email: SMTP AUTH user, e.g. `os.environ/SMTP_USER`; unset = no AUTH"},
	{"password", T_STR, FLD(config_alert_channel, password), .flags = F_SECRET | F_ONELINE,
	 .text = "email: SMTP AUTH password, normally `os.environ/SMTP_PASSWORD`"},
	{"plain_loopback", T_BOOL, FLD(config_alert_channel, plain_loopback), .def = "false",
	 .text = "email: allow `smtp://` without STARTTLS, only to a loopback host (a local "
		 "relay)"},
	{"timeout_s", T_INT, FLD(config_alert_channel, timeout_s), .def = "20", .min = 1,
	 .max = 300, .text = "limit of one send"},
};

static const struct table alert_channel_table = {
	"channels",
	"alerts.channels[]",
	OPTS(alert_channel_opts),
	.size = sizeof(struct config_alert_channel),
	.check = cfg_alert_channel_check,
	.text = "One place alerts go. Every channel gets every alert."};

static const struct opt alerts_investigate_opts[] = {
	{"mcp_servers", T_STRS, FLD(config_alerts_investigate, mcp_servers),
	 CNT(config_alerts_investigate, n_mcp_servers), .cap = 16,
	 .text = "MCP servers (names in mcp_servers) whose read-only tools (readOnlyHint) an "
		 "investigation may call, e.g. `[kubernetes]`; with `prometheus_query` they are "
		 "its only tools"},
	{"max_cost_usd", T_NUM, FLD(config_alerts_investigate, max_cost_usd), .def = "0.10",
	 .min = 0, .max = 100,
	 .text = "one investigation's own cost cap (also above agent.max_turn_cost_usd; 0 = that "
		 "one); a Dig deeper turn gets the same"},
	{"model", T_STR, FLD(config_alerts_investigate, model), .flags = F_MODEL,
	 .text = "model group of investigations; default: `model`"},
	{"max_per_hour", T_INT, FLD(config_alerts_investigate, max_per_hour), .def = "6", .min = 1,
	 .max = 1000,
	 .text = "investigations and Dig deeper turns started per hour, all groups; the rest are "
		 "noted only (a refused press says so)"},
	{"group_min_interval", T_PERIOD, FLD(config_alerts_investigate, group_min_interval_s),
	 .def = "15m",
	 .text = "one alert group (groupKey) starts at most one investigation per this, even when "
		 "new alerts join it"},
};

static const struct table alerts_investigate_table = {
	"investigate", "alerts.investigate", OPTS(alerts_investigate_opts),
	.text = "The agent turns Alertmanager's notifications start. See docs/operations.md, "
		"\"Alert-driven investigations\"."};

static const struct opt alerts_opts[] = {
	{"channels", T_LIST, FLD(config_alerts, channels), CNT(config_alerts, n_channels), .cap = 8,
	 .table = &alert_channel_table, .text = "where alerts go besides telegram.admin_chat"},
	{"poller_down_after", T_PERIOD, FLD(config_alerts, poller_down_after_s), .def = "10m",
	 .text = "the Telegram poller without a successful poll this long is an alert (sent "
		 "through the channels only)"},
	{"mcp_down_after", T_PERIOD, FLD(config_alerts, mcp_down_after_s), .def = "30m",
	 .text = "an enabled MCP server not connected this long is an alert"},
	{"balance_interval", T_PERIOD, FLD(config_alerts, balance_interval_s), .def = "1h",
	 .text = "how often the provider balances (OpenRouter, DeepSeek) are read"},
	{"balance_min_usd", T_NUM, FLD(config_alerts, balance_min_usd), .def = "0", .min = 0,
	 .max = 1000000, .text = "a provider balance below this is an alert; 0 = no alert"},
	{"heartbeat_url", T_STR, FLD(config_alerts, heartbeat_url), .flags = F_SECRET | F_ONELINE,
	 .check = cfg_check_url,
	 .text = "GET every heartbeat_interval while healthy (a dead man's switch); secret"},
	{"heartbeat_interval", T_PERIOD, FLD(config_alerts, heartbeat_interval_s), .def = "1m",
	 .text = "how often home/heartbeat.json is rewritten and heartbeat_url called"},
	{"dedupe", T_PERIOD, FLD(config_alerts, dedupe_s), .def = "1h",
	 .text = "the same alert still firing is not sent again within this"},
	{"max_per_hour", T_INT, FLD(config_alerts, max_per_hour), .def = "30", .min = 1,
	 .max = 10000, .text = "alerts sent per hour, all channels; the rest are logged"},
	{"channel_max_per_hour", T_INT, FLD(config_alerts, channel_max_per_hour), .def = "20",
	 .min = 1, .max = 10000, .text = "messages per hour through one channel"},
	{"alertmanager_token", T_STR, FLD(config_alerts, alertmanager_token),
	 .flags = F_SECRET | F_ONELINE,
	 .text = "bearer token of `POST /v1/alerts/alertmanager` (Alertmanager's "
		 "`http_config.authorization`), normally `os.environ/ALERTMANAGER_TOKEN`; unset = "
		 "the route is off"},
	{"alertmanager_url", T_STR, FLD(config_alerts, alertmanager_url), .flags = F_ONELINE,
	 .check = cfg_check_url,
	 .text = "Alertmanager's base URL for silences (`POST /api/v2/silences`); unset = no "
		 "Silence buttons"},
	{"telegram_chat", T_INT, FLD(config_alerts, telegram_chat), .def = "0",
	 .min = INT64_MIN + 1, .max = MAX_I64,
	 .text = "where investigations go; 0 = telegram.admin_chat, else the first of "
		 "telegram.allowed_users"},
	{"reinvestigate_after", T_PERIOD, FLD(config_alerts, reinvestigate_after_s), .def = "4h",
	 .text = "a group firing again with alerts (fingerprints) already investigated within "
		 "this starts nothing"},
	{"send_attempts", T_INT, FLD(config_alerts, send_attempts), .def = "4", .min = 1, .max = 10,
	 .text = "tries of one alert through one channel, the first included; a channel that "
		 "took it is not sent it again"},
	{"retry_after", T_PERIOD, FLD(config_alerts, retry_after_s), .def = "30s",
	 .text = "wait before the first retry of a failed send; it doubles with each retry, up "
		 "to 15 minutes"},
	{"investigate", T_SECTION, FLD(config_alerts, investigate),
	 .table = &alerts_investigate_table},
};

static const struct table alerts_table = {
	"alerts", "alerts", OPTS(alerts_opts), .check = cfg_alerts_check,
	.text = "Alerts that do not depend on Telegram (gateway): bleed breaker trips, the daily "
		"budget reached, the Telegram poller down, a cron job failing twice in a row, an "
		"MCP server down, a provider balance low. See docs/operations.md."};

static const struct opt top_opts[] = {
	{"home", T_STR, FLD(config, home), .check = cfg_check_abs_path,
	 .text = "data directory; default $HERMETIC_HOME, else /opt/data"},
	{"timezone", T_STR, FLD(config, timezone), .def = "UTC", .check = cfg_check_timezone,
	 .text = "IANA zone of cron schedules and of the time tool"},
	{"model", T_STR, FLD(config, model), .flags = F_MODEL,
	 .text = "default model group of the agent; default: the first in model_list"},
	{"auxiliary", T_SECTION, FLD(config, auxiliary), .table = &auxiliary_table},
	{"agent", T_SECTION, FLD(config, agent), .table = &agent_table},
	{"toolsets", T_FLAGS, FLD(config, toolsets), .def = "all", .choices = toolset_choices,
	 .text = "tool families offered to the model"},
	{"memory", T_SECTION, FLD(config, memory), .table = &memory_table},
	{"skills", T_SECTION, FLD(config, skills), .table = &skills_table},
	{"notes_dirs", T_STRS, FLD(config, notes_dirs), CNT(config, n_notes_dirs), .cap = 32,
	 .check = cfg_check_abs_path,
	 .text = "read-only directories for read_file and search_files"},
	{"web", T_SECTION, FLD(config, web), .table = &web_table},
	{"prometheus", T_SECTION, FLD(config, prometheus), .table = &prometheus_table},
	{"model_list", T_LIST, FLD(config, models), CNT(config, n_models), .cap = CONFIG_MAX_MODELS,
	 .table = &cfg_model_table},
	{"litellm_settings", T_SECTION, FLD(config, litellm_settings),
	 .table = &cfg_litellm_settings_table},
	{"router_settings", T_SECTION, FLD(config, router_settings),
	 .table = &cfg_router_settings_table},
	{"general_settings", T_SECTION, FLD(config, general_settings),
	 .table = &cfg_general_settings_table},
	{"router", T_SECTION, FLD(config, router), .table = &cfg_router_table},
	{"keys", T_LIST, FLD(config, keys), CNT(config, n_keys), .cap = CONFIG_MAX_KEYS,
	 .table = &cfg_key_table},
	{"rate_pools", T_MAP, FLD(config, rate_pools), CNT(config, n_rate_pools), .cap = 64,
	 .table = &cfg_rate_pool_table},
	{"priorities", T_SECTION, FLD(config, priorities), .table = &cfg_priorities_table},
	{"budget", T_SECTION, FLD(config, budget), .table = &cfg_budget_table},
	{"guardrails", T_SECTION, FLD(config, guardrails), .table = &guardrails_table,
	 .flags = F_SEQ_IGNORED},
	{"telegram", T_SECTION, FLD(config, telegram), .table = &telegram_table},
	{"media", T_SECTION, FLD(config, media), .table = &media_table},
	{"api", T_SECTION, FLD(config, api), .table = &api_table},
	{"log", T_SECTION, FLD(config, log), .table = &log_table},
	{"audit", T_SECTION, FLD(config, audit), .table = &audit_table},
	{"mcp_servers", T_MAP, FLD(config, mcp_servers), CNT(config, n_mcp_servers),
	 .cap = CONFIG_MAX_MCP_SERVERS, .table = &mcp_table},
	{"cron", T_LIST, FLD(config, cron_jobs), CNT(config, n_cron_jobs),
	 .cap = CONFIG_MAX_CRON_JOBS, .table = &cron_table},
	{"hooks", T_LIST, FLD(config, hooks), CNT(config, n_hooks), .cap = CONFIG_MAX_HOOKS,
	 .table = &hook_table},
	{"reminders", T_SECTION, FLD(config, reminders), .table = &reminders_table},
	{"tasks", T_SECTION, FLD(config, tasks), .table = &cfg_tasks_table},
	{"approvals", T_SECTION, FLD(config, approvals), .table = &approvals_table},
	{"sessions", T_SECTION, FLD(config, sessions), .table = &sessions_table},
	{"alerts", T_SECTION, FLD(config, alerts), .table = &alerts_table},
	{"ui", T_SECTION, FLD(config, ui), .table = &ui_table},
	{"environment_variables", T_PAIRS, FLD(config, env_vars), CNT(config, n_env_vars),
	 .cap = 256, .flags = F_SECRET | F_ONELINE,
	 .text = "LiteLLM's: `NAME: value` pairs that `os.environ/NAME` and `${NAME}` read before "
		 "the process environment (and the providers' default variables); values are "
		 "secrets; not exported to tools"},
	{"lanes", T_MAP, FLD(config, lanes), CNT(config, n_lanes), .cap = CONFIG_MAX_LANES,
	 .table = &cfg_lane_table},
};

const struct table cfg_top_table = {"config", "Top level", OPTS(top_opts),
				    .prepare = cfg_shapes_top, .text = "The sections."};
