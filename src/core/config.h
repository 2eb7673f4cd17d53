/* config: loads hermetic's YAML config (LiteLLM's router format plus hermetic's own sections)
 * into plain structs, validating every value at load.
 *
 * A loaded `struct config` is immutable: modules read its fields directly and never write
 * them. Every string field is owned by the config and lives until config_destroy(). After a
 * successful load every default is filled in: a NULL string means "not set" only where the
 * field's comment says so. Env references (`os.environ/NAME`, `${NAME}`) are already
 * resolved. docs/configuration.md is the user-facing reference (generated from the same table).
 */
#ifndef HERMETIC_CONFIG_H
#define HERMETIC_CONFIG_H

#include "core/providers.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/cronexpr.h"
#include "core/log.h"

#define CONFIG_MAX_FILE_BYTES  (1024 * 1024)
#define CONFIG_MAX_DEPTH       32
#define CONFIG_MAX_MODELS      4096
#define CONFIG_MAX_MCP_SERVERS 64
/* litellm_params.order not given (LiteLLM's None). */
#define CONFIG_ORDER_UNSET   INT64_MIN
#define CONFIG_MAX_CRON_JOBS 128
#define CONFIG_MAX_HOOKS     64
#define CONFIG_MAX_LANES     16
#define CONFIG_MAX_KEYS	     256
#define CONFIG_MAX_SECRETS   48 /* distinct secret values; log.c redacts at most 64 */
#define CONFIG_DEFAULT_PATH  "/etc/hermetic/config.yaml"
#define CONFIG_DEFAULT_HOME  "/opt/data"

/* A string pair: HTTP header, environment variable. value may be a secret. */
struct config_pair {
	char *name;
	char *value;
};

/* "HOST:PORT" as written, split. host keeps no brackets ("::1" for "[::1]:8642"). */
struct config_listen {
	char *addr;
	char *host;
	int port;
};

/* Where a cron/hook result goes. target NULL = not delivered (kept in the session only). */
struct config_deliver {
	char *target;		  /* "telegram:123456789" as written */
	int64_t telegram_chat_id; /* parsed; 0 when target is NULL */
};

/* One cache_control_injection_points entry: the message a breakpoint goes on. */
enum config_cache_role {
	CONFIG_CACHE_ANY_ROLE,
	CONFIG_CACHE_SYSTEM,
	CONFIG_CACHE_USER,
	CONFIG_CACHE_ASSISTANT,
	CONFIG_CACHE_TOOL,
};
struct config_cache_point {
	int location;		     /* 0: "message", the only location LiteLLM documents */
	enum config_cache_role role; /* with no index: the last message of this role */
	int64_t index;		     /* with has_index: messages[index], negative from the end */
	bool has_index;
};

/* litellm_params of a model_list entry. */
struct config_litellm_params {
	char *model;		       /* as written: "openrouter/qwen/qwen3-coder:free" */
	char *api_base;		       /* always set: given, or the provider's default */
	char *api_key;		       /* secret; NULL = no Authorization header */
	int64_t rpm, tpm;	       /* 0 = no limit (rpm_limit, tpm_limit too) */
	int64_t weight;		       /* shuffle share: weight_given in thousandths; 0 = none */
	double weight_given;	       /* weight as written (LiteLLM's: any number); 0 = none */
	int64_t max_parallel_requests; /* calls in flight at once; 0 = router_settings' default */
	int64_t timeout_s;	       /* whole call; 0 = router_settings.timeout_s */
	int64_t stream_timeout_s;      /* first streamed chunk; 0 = timeout_s */
	int64_t max_tokens;	       /* 0 = leave to the request / guardrails */
	int64_t num_retries;	       /* -1 = router_settings.num_retries */
	int64_t order;		       /* priority, lowest first; CONFIG_ORDER_UNSET = none */
	char *request_params;	       /* JSON object of the request parameters sent with every call
					* (temperature, extra_body, ...), in file order; NULL = none */
	double input_cost_per_token;   /* < 0 = not given here (see model_info) */
	double output_cost_per_token;  /* < 0 = not given here (see model_info) */
	double cache_read_input_token_cost;	/* < 0 = not given here (see model_info) */
	double cache_creation_input_token_cost; /* < 0 = not given here (see model_info) */
	/* LiteLLM's cache_control_injection_points: messages marked as prompt-cache
	 * breakpoints on every request to this deployment. */
	struct config_cache_point *cache_points;
	size_t n_cache_points;
	struct config_pair *extra_headers; /* values are secrets */
	size_t n_extra_headers;
	char *api_version;	   /* azure: the api-version query; default AZURE_API_VERSION or
				    * 2024-10-21 */
	char *custom_llm_provider; /* overrides the model's prefix (then model is the id) */
	/* bedrock: region and credentials; unset = AWS_REGION / AWS_DEFAULT_REGION,
	 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN */
	char *aws_region_name;
	char *aws_access_key_id;     /* secret */
	char *aws_secret_access_key; /* secret */
	char *aws_session_token;     /* secret; NULL = none */
	/* vertex_ai: the Google Cloud project and region (default VERTEXAI_PROJECT or the
	 * service account's project_id, VERTEXAI_LOCATION or us-central1) and the service
	 * account: a JSON key file's path or its JSON text (default
	 * GOOGLE_APPLICATION_CREDENTIALS) */
	char *vertex_project;
	char *vertex_location;
	char *vertex_credentials; /* secret */
};

/* Where a vertex_ai deployment's access token comes from, found at load as Google's
 * application default credentials are (docs/providers/vertex.md). */
enum config_gcp_kind {
	GCP_NONE,
	GCP_SERVICE_ACCOUNT, /* a JSON key: a signed JWT exchanged at token_uri */
	GCP_AUTHORIZED_USER, /* gcloud's application-default login: a refresh token */
	GCP_METADATA,	     /* the GCE/GKE metadata server: GET token_uri */
};

struct config_gcp_account {
	enum config_gcp_kind kind;
	char *client_email;  /* the service account; a label for the others */
	char *private_key;   /* secret: the PEM text (service account) */
	char *token_uri;     /* where the token is asked for */
	char *client_id;     /* authorized_user */
	char *client_secret; /* secret; authorized_user */
	char *refresh_token; /* secret; authorized_user */
	char *project_uri;   /* metadata, no project named: where the call asks the metadata
			      * server for it (google.auth.default()'s project); else NULL */
};

/* What a deployment serves (LiteLLM's model_info.mode); unknown values load as chat with a
 * warning. */
enum config_model_mode {
	CONFIG_MODE_CHAT,
	CONFIG_MODE_COMPLETION,
	CONFIG_MODE_EMBEDDING,
	CONFIG_MODE_AUDIO_TRANSCRIPTION,
	CONFIG_MODE_AUDIO_SPEECH,
	CONFIG_MODE_IMAGE_GENERATION,
	CONFIG_MODE_RERANK,
	CONFIG_MODE_MODERATION,
	CONFIG_MODE_RESPONSES,
};

/* model_info of a model_list entry (costs resolved: model_info, else litellm_params, else 0). */
struct config_model_info {
	double input_cost_per_token; /* USD */
	double output_cost_per_token;
	double input_cost_per_character; /* USD per character of a speech input; 0 = by token */
	int64_t max_input_tokens;	 /* 0 = unknown */
	int64_t max_output_tokens;	 /* 0 = unknown; `max_tokens` is accepted as an alias */
	char *id;		      /* deployment id; always set (default "<model_name>-<n>") */
	enum config_model_mode mode;  /* default CONFIG_MODE_CHAT */
	double input_cost_per_second; /* USD per second of transcribed audio; 0 = by token */
	double output_cost_per_image; /* USD per image /v1/images/generations returns; 0 = tokens */
	double input_cost_per_query;  /* USD per /v1/rerank search unit; 0 = by token */
	int64_t order;	      /* LiteLLM reads it when litellm_params has none (resolved into it) */
	bool supports_vision; /* takes image_url content parts */
	bool supports_audio_input; /* takes input_audio content parts */
	bool supports_pdf_input;   /* takes file content parts with a PDF */
	/* USD per prompt token read from / written to the provider's prompt cache; resolved:
	 * model_info, else litellm_params, else input_cost_per_token */
	double cache_read_input_token_cost;
	double cache_creation_input_token_cost;
};

/* One model_list entry = one deployment of the group (virtual model) model_name. */
struct config_model {
	char *model_name;
	struct config_litellm_params litellm_params;
	struct config_model_info model_info;
	char *provider; /* derived: the catalogue name ("openrouter", "anthropic", ...; see
			 * core/providers.h), or an unknown prefix used with api_base */
	enum provider_dialect dialect; /* derived: how the provider is spoken to */
	char *upstream_model; /* derived: the id sent upstream, e.g. "qwen/qwen3-coder:free";
			       * for a wildcard entry a '*' in it stands for what the '*' of
			       * model_name matched (see router/policy.h) */
	bool wildcard;	      /* derived: model_name has a '*': "*", "anthropic/" + '*' */
	struct config_gcp_account gcp; /* derived: vertex_ai's service account, else zeroed */
	char *inactive; /* derived: why the deployment is not routed (a provider hermetic cannot
			 * call, say); NULL = active. It still loads and shows in config check. */
	char *needs_at_call; /* derived: what its calls need that was missing at load, where
			      * LiteLLM starts and reads it only at call time (a credential, an
			      * account id): active, and each call to it fails at once with
			      * this, nothing sent; NULL = nothing missing */
};

struct config_fallback {
	char *from;
	char **to;
	size_t n_to;
};

/* Per-error-class retry counts; -1 = not set: rate limit, timeout and server errors then
 * use default_retries, else num_retries; the other classes are not retried (LiteLLM's
 * defaults). service_unavailable is a 503, else internal_server holds for 5xx. */
struct config_retry_policy {
	int64_t rate_limit;
	int64_t timeout;
	int64_t internal_server;
	int64_t bad_request;
	int64_t authentication;
	int64_t content_policy;
	int64_t service_unavailable;
	int64_t not_found;
	int64_t default_retries;
};

/* router_settings.allowed_fails_policy: failures within cooldown_time before a deployment
 * cools down, by the class of the failure that decides; -1 = allowed_fails. */
struct config_allowed_fails_policy {
	int64_t bad_request;
	int64_t authentication;
	int64_t timeout;
	int64_t rate_limit;
	int64_t content_policy;
	int64_t internal_server;
	int64_t service_unavailable;
	int64_t bad_gateway;
	int64_t not_found;
};

/* router_settings.routing_strategy_args (latency-based-routing's). */
struct config_routing_args {
	int64_t ttl_s;		       /* how long a measured latency counts */
	double lowest_latency_buffer;  /* pick among those within (1 + buffer) x the lowest */
	int64_t max_latency_list_size; /* latencies kept per deployment */
};

/* The router keys LiteLLM reads from both sections are resolved into router_settings (which
 * wins, as in LiteLLM); the copies here are what litellm_settings said (-1 = not set). The
 * fallback lists are resolved here. */
struct config_litellm_settings {
	int64_t num_retries;
	int64_t request_timeout_s;
	int64_t allowed_fails;
	int64_t cooldown_time_s;
	struct config_retry_policy retry_policy;
	struct config_fallback *fallbacks;
	size_t n_fallbacks;
	struct config_fallback *context_window_fallbacks;
	size_t n_context_window_fallbacks;
	struct config_fallback *content_policy_fallbacks;
	size_t n_content_policy_fallbacks;
	char **default_fallbacks;
	size_t n_default_fallbacks;
	int64_t max_fallbacks;
	double max_budget_usd;	   /* 0 = no proxy-wide budget */
	int64_t budget_duration_s; /* 0 = never resets; "1mo" counts as 30 days */
};

enum config_routing {
	CONFIG_ROUTING_SIMPLE_SHUFFLE,
	CONFIG_ROUTING_LEAST_BUSY,
	CONFIG_ROUTING_LATENCY,
	CONFIG_ROUTING_USAGE,	 /* usage-based-routing */
	CONFIG_ROUTING_USAGE_V2, /* usage-based-routing-v2: the same decision here */
	CONFIG_ROUTING_COST,
};

/* router_settings.model_group_alias: requests for `alias` go to the group `model`. */
struct config_alias {
	char *alias;
	char *model;
	bool hidden; /* not listed in /v1/models */
};

/* router_settings.default_litellm_params: request parameters (JSON object, NULL = none). */
struct config_default_params {
	char *request_params;
};

/* Resolved: router_settings wins over litellm_settings for num_retries, timeout
 * (litellm_settings.request_timeout), allowed_fails, cooldown_time, retry_policy and
 * max_fallbacks, as in LiteLLM; unset in both = LiteLLM's defaults (2, 600 s, 3, 5 s, none, 5). */
struct config_router_settings {
	enum config_routing routing_strategy;
	struct config_routing_args routing_args;
	int64_t allowed_fails;
	struct config_allowed_fails_policy allowed_fails_policy;
	int64_t default_max_parallel_requests; /* per deployment without its own; 0 = none */
	int64_t retry_after_s;		       /* the least backoff before a retry; 0 = none */
	bool disable_cooldowns;		       /* resolved: cooldown_time_s is then 0 */
	int64_t cooldown_time_s;
	int64_t num_retries;
	struct config_retry_policy retry_policy;
	int64_t timeout_s;
	int64_t max_fallbacks;
	bool enable_pre_call_checks;
	struct config_alias *aliases; /* model_group_alias, in file order */
	size_t n_aliases;
	struct config_default_params default_params; /* default_litellm_params */
};

struct config_general_settings {
	char *master_key; /* secret; NULL = the router accepts only `keys` (or nothing) */
	/* master_key names a variable that was not set: its name. The router then accepts only
	 * `keys` and refuses the rest saying so; it is never open (LiteLLM would be). */
	char *master_key_unset;
	int64_t max_parallel_requests;	      /* per deployment; 0 = none */
	int64_t global_max_parallel_requests; /* resolved into router.max_concurrent_upstream */
};

struct config_router {
	struct config_listen listen;
	int64_t max_body_bytes;
	int64_t max_concurrent_upstream;
	int64_t max_response_bytes;
	int64_t max_connections;  /* open client connections; past it 503 */
	int64_t idle_timeout_s;	  /* keep-alive connection without a request */
	int64_t header_timeout_s; /* connect or first byte to the end of the request head */
	int64_t body_timeout_s;	  /* end of the head to the end of the body */
	char *openrouter_referer; /* "" = header not sent */
	char *openrouter_title;
};

/* A call's class in the rate pools (router/pool.h's enum pool_class, in the same order). */
enum config_pool_class {
	CONFIG_CLASS_INTERACTIVE,
	CONFIG_CLASS_API,
	CONFIG_CLASS_HOOK,
	CONFIG_CLASS_SCHEDULED,
	CONFIG_CLASS_BACKGROUND,
	CONFIG_N_CLASSES
};

/* One rate_pools entry: a provider account's ceiling shared by the deployments of its groups. */
struct config_rate_pool {
	char *name;
	int64_t tpm, rpm; /* 0 = no limit of that kind (at least one is set) */
	char **models;	  /* model groups drawing from it; a group is in one pool at most */
	size_t n_models;
};

/* priorities: how the rate pools serve the classes. */
struct config_priorities {
	int64_t interactive_reserve_pct;
	int64_t max_wait_s[CONFIG_N_CLASSES]; /* by enum config_pool_class; 0 = never waits */
	int64_t max_waiters;
};

/* A declarative virtual key of the router. */
struct config_key {
	char *key;     /* secret */
	char *alias;   /* NULL = none */
	char **models; /* allowed model groups; 0 = all */
	size_t n_models;
	double max_budget_usd;		 /* 0 = none */
	int64_t budget_duration_s;	 /* 0 = never resets */
	enum config_pool_class priority; /* its calls' class in the rate pools; default api */
};

/* agent.tool_output: a tool's whole output when it is cut for the model (core/toolout.h). */
struct config_tool_output {
	bool keep;		  /* keep it in home/tool-output/ */
	int64_t max_bytes;	  /* the most one result may stream; past it the result is cut */
	int64_t keep_days;	  /* kept files older than this are deleted */
	int64_t keep_total_bytes; /* and the oldest beyond this total */
};

struct config_agent {
	int64_t max_iterations;
	double max_turn_cost_usd; /* 0 = no cap */
	int64_t context_tokens;
	char *persona_file; /* NULL = built-in persona */
	int64_t session_idle_minutes;
	int64_t turn_timeout_s;
	int64_t tool_result_max_bytes;
	int64_t answer_max_bytes; /* a streamed answer's text is cut here, with a note */
	int64_t tool_timeout_s;
	int64_t max_tools; /* tools per request: builtin first, then MCP in server order */
	/* MCP schemas past this (bytes / 4) go as a catalog and a loader; 0 = always whole */
	int64_t tool_schema_budget_tokens;
	struct config_tool_output tool_output;
};

/* Auxiliary model slots; every slot is resolved (unset = cfg->model). */
struct config_auxiliary {
	char *compression;
	char *title;
	char *session_search;
	char *vision;
	char *web_extract;
	char *memory;	     /* condenses a full memory file; unset = compression */
	char *transcription; /* NULL = unset: voice notes are answered with how to turn them on */
	char *speech;	     /* NULL = unset: no voice replies */
};

enum config_toolset {
	CONFIG_TOOLSET_MEMORY = 1 << 0,
	CONFIG_TOOLSET_SESSION_SEARCH = 1 << 1,
	CONFIG_TOOLSET_SKILLS = 1 << 2,
	CONFIG_TOOLSET_FILES = 1 << 3,
	CONFIG_TOOLSET_WEB = 1 << 4,
	CONFIG_TOOLSET_PROMETHEUS = 1 << 5,
	CONFIG_TOOLSET_TIME = 1 << 6,
	CONFIG_TOOLSET_MCP = 1 << 7,
	CONFIG_TOOLSET_ALL = (1 << 8) - 1,
};

/* Bounds of home/memories/MEMORY.md and USER.md, in characters (UTF-8 code points). */
struct config_memory {
	int64_t max_chars;
	int64_t user_max_chars;
	int64_t history_keep; /* condensed-away versions kept in memories/.history, per file */
};

/* reminders: the jobs the agent schedules for a chat (gateway/reminders.c, tool `schedule`). */
struct config_reminders {
	bool enabled;
	int64_t max_per_chat;	/* active + paused jobs of one chat */
	double max_cost_usd;	/* a run's cost cap when the model names none (and the highest) */
	int64_t min_interval_s; /* a recurring job runs at most this often */
	bool continuity;	/* a recurring run sees its previous result */
};

/* tasks: background tasks and delegate subagents (agent/tasks.c, docs/agent.md "Tasks"). */
struct config_task_budget {
	double usd;	    /* 0 = no cap */
	int64_t tokens;	    /* prompt + completion tokens of every call; 0 = no cap */
	int64_t minutes;    /* wall time from the task's start; 0 = no cap */
	int64_t tool_calls; /* 0 = no cap */
};

struct config_tasks {
	int64_t max_running;		  /* background tasks at once; more wait in order */
	int64_t max_parallel_children;	  /* children of one tree running at once */
	int64_t max_depth;		  /* the task's own agent is depth 0 */
	struct config_task_budget budget; /* default per tree */
};

/* What waits for the human's yes (docs/gateway.md, "Approvals"). */
struct config_approvals {
	int64_t timeout_s; /* no answer: denied */
	int mcp;	   /* CONFIG_APPROVE_MCP_* */
	unsigned builtin;  /* CONFIG_APPROVE_* bits */
	char **tools;	   /* names or fnmatch patterns (builtin or mcp_<server>_<tool>) */
	size_t n_tools;
};

enum { CONFIG_APPROVE_MCP_NOT_READ_ONLY, CONFIG_APPROVE_MCP_DESTRUCTIVE, CONFIG_APPROVE_MCP_NONE };
enum {
	CONFIG_APPROVE_SKILL_MANAGE = 1 << 0,
	CONFIG_APPROVE_SEND_FILE = 1 << 1,
	CONFIG_APPROVE_SCHEDULE = 1 << 2,
	CONFIG_APPROVE_ALL = (1 << 3) - 1,
};

struct config_skills {
	char **external_dirs; /* absolute, read-only */
	size_t n_external_dirs;
	int64_t index_tokens; /* the skills index of the system prompt; 0 = none */
};

struct config_web {
	char **allow_hosts; /* "example.com", "*.example.com"; 0 = any host */
	size_t n_allow_hosts;
	int64_t timeout_s;
	int64_t max_bytes;
};

struct config_prometheus {
	char *url; /* NULL = prometheus_query is not offered */
	int64_t timeout_s;
};

struct config_budget {
	double daily_usd;   /* 0 = no cap */
	double monthly_usd; /* 0 = no cap */
};

struct config_bleed {
	int64_t max_calls; /* upstream calls per window; 0 = off */
	int64_t window_s;
	double max_cost_usd; /* spend per window; 0 = off */
	int64_t cooldown_s;  /* 0 = open until /resume */
};

/* guardrails.max_tokens entry other than `default`. */
struct config_model_limit {
	char *model;
	int64_t max_tokens;
};

enum config_seccomp_action {
	CONFIG_SECCOMP_ERRNO,
	CONFIG_SECCOMP_KILL,
};

struct config_seccomp {
	bool enabled;
	enum config_seccomp_action action;
};

struct config_guardrails {
	struct config_bleed bleed;
	int64_t max_tokens_default;
	struct config_model_limit *max_tokens; /* per model group */
	size_t n_max_tokens;
	struct config_seccomp seccomp;
};

struct config_telegram {
	bool enabled; /* derived: token set and non-empty */
	char *token;  /* secret; NULL = Telegram off */
	int64_t *allowed_users;
	size_t n_allowed_users;
	int64_t *allowed_chats; /* group chats served; private chats always are */
	size_t n_allowed_chats;
	char *api_base;
	int64_t admin_chat; /* 0 = none */
	int64_t poll_timeout_s;
	bool refuse_unknown;
	int64_t max_file_bytes;	    /* largest file downloaded from Telegram */
	int64_t max_image_bytes;    /* largest photo size taken */
	int64_t max_text_doc_bytes; /* a text document up to this size goes into the turn */
	int voice_replies;	    /* CONFIG_VOICE_* */
	char *voice;		    /* the speech voice ("alloy") */
	int stream;		    /* CONFIG_STREAM_* */
	int progress;		    /* CONFIG_PROGRESS_* */
	bool reactions;
	int64_t edit_every_ms; /* the per-chat rate budget's gap */
};

enum { CONFIG_STREAM_EDIT, CONFIG_STREAM_DRAFT, CONFIG_STREAM_OFF };
enum { CONFIG_PROGRESS_TOOLS, CONFIG_PROGRESS_OFF };

enum {
	CONFIG_VOICE_NEVER,
	CONFIG_VOICE_WHEN_ASKED, /* the agent gets a send_voice tool */
	CONFIG_VOICE_MIRROR,	 /* a voice note is answered with text and voice */
};

struct config_sessions {
	int64_t retention_days; /* 0 = keep every session */
};

struct config_media {
	int64_t retention_days;
	int64_t max_total_bytes;
};

struct config_api {
	struct config_listen listen;
	char *key;	      /* secret; NULL = no auth (refused unless listen is loopback) */
	char **allowed_hosts; /* Host names besides listen's and loopback ("*" = any) */
	size_t n_allowed_hosts;
	int64_t max_body_bytes;
	int64_t timeout_s;
};

/* The web cockpit (docs/cockpit.md), served under /ui/ on api.listen. */
struct config_ui {
	bool enabled;		/* also on when password_hash is set */
	char *password_hash;	/* pbkdf2-sha256$..., `hermetic ui hash-password`; NULL: api.key */
	int64_t session_ttl_s;	/* a login's life */
	int64_t login_failures; /* failed logins per client address and minute before 429 */
	int secure_cookie;	/* CONFIG_SECURE_COOKIE_* */
	char *public_url;	/* where a browser reaches the cockpit; NULL = not said */
	char **trusted_proxies; /* addresses or networks whose X-Forwarded-* are believed */
	size_t n_trusted_proxies;
};

enum {
	CONFIG_SECURE_COOKIE_AUTO,   /* __Host- and Secure when a trusted proxy says https */
	CONFIG_SECURE_COOKIE_ALWAYS, /* ... on every answer (TLS in front, not a trusted proxy) */
	CONFIG_SECURE_COOKIE_NEVER,
};

struct config_log {
	enum log_level level;
	bool file; /* also write home/logs/hermetic.log */
	int64_t max_bytes;
	int64_t keep;
};

/* audit: the trail of model attempts, tool calls and turns (core/audit.h). */
struct config_audit {
	bool enabled; /* write home/logs/audit.jsonl */
	bool include_text;
	int64_t max_bytes;
	int64_t keep;
};

enum config_mcp_transport {
	CONFIG_MCP_HTTP,
	CONFIG_MCP_SSE,
	CONFIG_MCP_STDIO,
};

/* mcp_servers.NAME.protocol: which MCP revisions are offered (docs/mcp.md "Protocol
 * revisions"). */
enum config_mcp_protocol {
	CONFIG_MCP_PROTOCOL_AUTO, /* Streamable HTTP: 2026-07-28 first; others: 2025-11-25 */
	CONFIG_MCP_PROTOCOL_2026, /* 2026-07-28 first on http and stdio, then 2025-11-25 */
	CONFIG_MCP_PROTOCOL_2025, /* only the initialize handshake (2025-11-25 and older) */
};

/* mcp_servers.NAME.auth: how the client signs in to a remote server. */
enum config_mcp_auth {
	CONFIG_MCP_AUTH_NONE,  /* only the entry's headers */
	CONFIG_MCP_AUTH_OAUTH, /* OAuth 2.1 as the MCP authorization spec has it (mcp/oauth.h) */
};

/* oauth.token_endpoint_auth_method: how the client authenticates at the token endpoint. */
enum config_oauth_client_auth {
	CONFIG_OAUTH_CLIENT_AUTH_AUTO, /* what registration returned, else what the server offers */
	CONFIG_OAUTH_CLIENT_AUTH_BASIC,
	CONFIG_OAUTH_CLIENT_AUTH_POST,
	CONFIG_OAUTH_CLIENT_AUTH_NONE,
	CONFIG_OAUTH_CLIENT_AUTH_PRIVATE_KEY_JWT,
};

enum config_oauth_grant {
	CONFIG_OAUTH_GRANT_AUTHORIZATION_CODE,
	CONFIG_OAUTH_GRANT_CLIENT_CREDENTIALS,
	CONFIG_OAUTH_GRANT_JWT_BEARER, /* urn:ietf:params:oauth:grant-type:jwt-bearer */
};

/* mcp_servers.NAME.oauth: everything optional; what is unset is discovered. */
struct config_mcp_oauth {
	char *client_id;	   /* pre-registered; NULL = CIMD or dynamic registration */
	char *client_secret;	   /* secret */
	char *private_key;	   /* PEM, secret: private_key_jwt */
	char *client_metadata_url; /* https URL of a Client ID Metadata Document */
	char *assertion;	   /* secret: the JWT the jwt-bearer grant presents */
	/* enterprise-managed cross-app access (SEP-990): the id_token is exchanged at the IdP's
	 * token endpoint for an ID-JAG, which the jwt-bearer grant presents */
	char *idp_token_endpoint, *idp_client_id, *idp_client_secret, *idp_issuer;
	char *id_token; /* secret */
	enum config_oauth_client_auth client_auth;
	enum config_oauth_grant grant;
	char **scopes; /* 0 = from the server's WWW-Authenticate or metadata */
	size_t n_scopes;
	bool dpop; /* bind the tokens to a key of the server's own with DPoP (RFC 9449) */
};

/* mcp_servers.NAME.roots[]: a folder the server is told it may work in (MCP roots). */
struct config_mcp_root {
	char *uri;  /* as written: an absolute path or a file:/// URI */
	char *name; /* NULL = none */
};

struct config_mcp_server {
	char *name;   /* the key under mcp_servers */
	char *prefix; /* derived: name with [^a-zA-Z0-9_] -> '_', unique among servers */
	enum config_mcp_transport transport;
	char *url;     /* http/sse */
	char *command; /* stdio */
	char **args;
	size_t n_args;
	struct config_pair *env; /* stdio; values are secrets */
	size_t n_env;
	struct config_pair *headers; /* http/sse; values are secrets */
	size_t n_headers;
	enum config_mcp_protocol protocol;
	enum config_mcp_auth auth;
	struct config_mcp_oauth oauth;
	int64_t timeout_s;
	int64_t connect_timeout_s;
	char **tools_include; /* 0 = all tools */
	size_t n_tools_include;
	char **tools_exclude;
	size_t n_tools_exclude;
	bool enabled;
	/* sampling: the server may ask the model (sampling/createMessage; docs/mcp.md) */
	bool sampling_enabled;
	char *sampling_model; /* NULL = the agent's model */
	int64_t sampling_max_tokens_cap;
	int64_t sampling_timeout_s;
	int64_t sampling_max_rpm;
	char **sampling_allowed_models; /* model groups the server's hints may pick */
	size_t n_sampling_allowed_models;
	/* roots: the folders the server is offered (roots/list); none = no roots capability */
	struct config_mcp_root *roots;
	size_t n_roots;
};

/* cron[].web_fetch, hooks[].web_fetch: where web_fetch may go in the job's runs, which are
 * untrusted (docs/security.md, "Trust"). */
enum {
	CONFIG_JOB_WEB_ALLOW_HOSTS, /* only hosts in web.allow_hosts (default) */
	CONFIG_JOB_WEB_ANY,	    /* any host a chat may fetch */
};

/* cron[].report: off = the answer is delivered (a plain job); on_failure = a health check that
 * ends with a verdict through the `report` tool, delivered only when it is not ok. */
enum config_cron_report {
	CONFIG_CRON_REPORT_OFF,
	CONFIG_CRON_REPORT_ON_FAILURE,
};

struct config_cron_job {
	char *name;
	char *schedule; /* as written */
	struct cronexpr expr;
	char *prompt;
	struct config_deliver deliver;
	char **skills;
	size_t n_skills;
	char *model; /* always set: given, or cfg->model */
	int64_t misfire_grace_s;
	bool enabled;
	int web_fetch; /* CONFIG_JOB_WEB_* */
	int report;    /* CONFIG_CRON_REPORT_* */
};

struct config_hook {
	char *name;
	char *token;  /* secret, required */
	char *prompt; /* "{{payload}}" is replaced by the request body */
	struct config_deliver deliver;
	char *idempotency_field; /* NULL = no deduplication */
	bool async;
	char *model;   /* always set: given, or cfg->model */
	int web_fetch; /* CONFIG_JOB_WEB_* */
};

/* alerts.channels[]: where alerts go besides Telegram (ops/alerts.c, net/notify.c). */
enum config_alert_type {
	CONFIG_ALERT_EMAIL,
	CONFIG_ALERT_NTFY,
	CONFIG_ALERT_WEBHOOK,
};

struct config_alert_channel {
	int type;	  /* CONFIG_ALERT_* */
	char *name;	  /* for messages and metrics; default "<type>-<n>" */
	char *url;	  /* secret: smtp(s):// for email, http(s):// otherwise */
	char *token;	  /* secret; ntfy and webhook: Authorization: Bearer; NULL = none */
	int64_t priority; /* ntfy: 1-5 */
	char *from;	  /* email: the sender address */
	char **to;	  /* email: recipients */
	size_t n_to;
	char *username; /* email: SMTP AUTH user; NULL = no AUTH */
	char *password; /* secret */
	/* email over smtp:// to a loopback host without STARTTLS (a local relay); off =
	 * STARTTLS is required on smtp:// */
	bool plain_loopback;
	int64_t timeout_s;
};

/* alerts.investigate: the turns Alertmanager's notifications start (ops/alertmanager.c). */
struct config_alerts_investigate {
	char **mcp_servers; /* their read-only tools are offered */
	size_t n_mcp_servers;
	double max_cost_usd;	      /* one investigation's own cap */
	char *model;		      /* NULL = cfg->model */
	int64_t max_per_hour;	      /* investigations started per hour, all groups */
	int64_t group_min_interval_s; /* one group is investigated at most once per this */
};

struct config_alerts {
	struct config_alert_channel *channels;
	size_t n_channels;
	int64_t poller_down_after_s; /* the Telegram poller without a successful poll */
	int64_t mcp_down_after_s;    /* an enabled MCP server not connected */
	int64_t balance_interval_s;
	double balance_min_usd; /* 0 = no low-balance alert (the gauges still update) */
	char *heartbeat_url;	/* secret; NULL = none */
	int64_t heartbeat_interval_s;
	int64_t dedupe_s;	      /* the same alert is not sent again within this */
	int64_t max_per_hour;	      /* alerts sent per hour, all channels */
	int64_t channel_max_per_hour; /* messages per hour through one channel */
	/* POST /v1/alerts/alertmanager (ops/alertmanager.c) */
	char *alertmanager_token;      /* secret; NULL = the route answers 404 */
	char *alertmanager_url;	       /* API v2 base for silences; NULL = no Silence buttons */
	int64_t telegram_chat;	       /* 0 = telegram.admin_chat, else the first allowed user */
	int64_t reinvestigate_after_s; /* the same firing alerts are not investigated again */
	struct config_alerts_investigate investigate;
	int64_t send_attempts; /* tries of one message through one channel, first included */
	int64_t retry_after_s; /* before the first retry; doubles per retry */
};

struct config {
	char *name;	/* the file name given to config_parse() */
	char *home;	/* always set */
	char *timezone; /* always set, default "UTC" */
	char *model;	/* default virtual model; NULL only when model_list is empty */
	struct config_auxiliary auxiliary;
	struct config_agent agent;
	unsigned toolsets; /* CONFIG_TOOLSET_* bits */
	struct config_memory memory;
	struct config_skills skills;
	char **notes_dirs;
	size_t n_notes_dirs;
	struct config_web web;
	struct config_prometheus prometheus;
	struct config_model *models; /* model_list, in file order */
	size_t n_models;
	char **model_groups; /* distinct model_name values, in first-seen order (borrowed from
				models) */
	size_t n_model_groups;
	struct config_litellm_settings litellm_settings;
	struct config_router_settings router_settings;
	struct config_general_settings general_settings;
	struct config_router router;
	struct config_key *keys;
	size_t n_keys;
	struct config_rate_pool *rate_pools;
	size_t n_rate_pools;
	struct config_priorities priorities;
	struct config_budget budget;
	struct config_guardrails guardrails;
	struct config_telegram telegram;
	struct config_media media;
	struct config_api api;
	struct config_log log;
	struct config_audit audit;
	struct config_mcp_server *mcp_servers; /* in file order */
	size_t n_mcp_servers;
	struct config_cron_job *cron_jobs;
	size_t n_cron_jobs;
	struct config_hook *hooks;
	size_t n_hooks;
	struct config_reminders reminders;
	struct config_tasks tasks;
	struct config_approvals approvals;
	struct config_sessions sessions;
	struct config_alerts alerts;
	struct config_ui ui;
	/* LiteLLM's environment_variables: they serve `os.environ/NAME` and `${NAME}` before the
	 * process environment does (and the providers' default variables); not exported. */
	struct config_pair *env_vars;
	size_t n_env_vars;
	struct config_lane *lanes; /* most sensitive first */
	size_t n_lanes;
};

/* lanes.NAME (router/lane.h, docs/security.md "Lanes"): where a turn's data may go. */
enum {
	CONFIG_REDACT_EMAIL = 1u << 0,
	CONFIG_REDACT_PHONE = 1u << 1,
	CONFIG_REDACT_IBAN = 1u << 2,
	CONFIG_REDACT_CARD = 1u << 3,
	CONFIG_REDACT_IP = 1u << 4,
};

struct config_lane {
	char *name;
	char **models; /* the only model groups a call in this lane may reach */
	size_t n_models;
	char **chats; /* "CHAT" or "CHAT:TOPIC" */
	size_t n_chats;
	char **skills;
	size_t n_skills;
	char **mcp_servers;
	size_t n_mcp_servers;
	char **keys; /* router key aliases pinned to this lane */
	size_t n_keys;
	unsigned redact;	/* CONFIG_REDACT_* */
	char **redact_patterns; /* POSIX extended regexes, checked at load */
	size_t n_redact_patterns;
	bool review_outbound;
	int64_t review_expire_min;
};

/* Collected messages of one or more loads, each with file, line and column. */
struct config_diag;

struct config_diag *config_diag_create(void);
void config_diag_destroy(struct config_diag *d); /* accepts NULL */
size_t config_diag_errors(const struct config_diag *d);
size_t config_diag_warnings(const struct config_diag *d);
/* One "FILE:LINE:COL: error: msg" or "FILE:LINE:COL: warning: msg" line per message, sorted
 * by file position ("FILE: error: msg" for whole-file problems). Never contains a secret.
 * Identical messages are kept once. 200 messages are held, errors before warnings (an error
 * takes the place of the last warning); a parse that has an error stops looking for problems
 * once 200 are held, one of warnings only is walked to the end. A last line then says how
 * many more were counted but not shown. */
void config_diag_print(const struct config_diag *d, FILE *out);
/* strict (`config check --strict`): an unknown key in a section LiteLLM owns is an error, not
 * a warning. Set before the load. */
void config_diag_set_strict(struct config_diag *d, bool strict);
/* The i-th key a load accepted and ignored (in first-seen order): its section as the
 * reference names it ("general_settings", "model_list[].litellm_params"), how many times it
 * was seen, and whether hermetic knows it (false) or not (true). false past the last. The
 * strings are borrowed from d. */
bool config_diag_ignored(const struct config_diag *d, size_t i, const char **section,
			 const char **key, size_t *count, bool *unknown);
/* Distinct ignored keys past the 256 that d keeps. */
size_t config_diag_ignored_dropped(const struct config_diag *d);

/* $HERMETIC_CONFIG if set and non-empty, else CONFIG_DEFAULT_PATH. Borrowed string. */
const char *config_default_path(void);

/* Reads path (at most CONFIG_MAX_FILE_BYTES) and calls config_parse() with path as name.
 * Returns 0 with *out set, or -EINVAL (unreadable, too big, or invalid; diag says why). */
int config_load(const char *path, struct config **out, struct config_diag *diag);

/* Parses text[0..len) (need not be NUL-terminated); name is used in messages. Returns 0
 * with *out set (diag may hold warnings), or -EINVAL with at least one error added to diag
 * and *out NULL. Resolves env references with getenv(). On success only, registers every
 * secret value (and every env value substituted into a secret) with log_add_secret(). */
int config_parse(const char *name, const char *text, size_t len, struct config **out,
		 struct config_diag *diag);

void config_destroy(struct config *cfg); /* accepts NULL */

/* The i-th toolset's YAML name (0 is "all") with its bit in *flag, or NULL past the last. */
const char *config_toolset_name(size_t i, unsigned *flag);
/* The YAML spelling of a routing strategy ("simple-shuffle", "least-busy"). */
const char *config_routing_name(enum config_routing r);
/* "http", "sse" or "stdio": the YAML spelling of t. */
const char *config_mcp_transport_name(enum config_mcp_transport t);

/* The compatibility summary of `config check` after a load: the keys ignored, grouped by
 * section, each inactive deployment with why, and a last line "deployments: N active, M
 * inactive". Prints nothing for a config with no model_list entries and no ignored keys. */
void config_print_compat(const struct config *cfg, const struct config_diag *d, FILE *out);

/* Prints the Markdown key reference (the tables of docs/configuration.md) generated from the
 * option table, so the documentation cannot drift from the parser. */
void config_print_reference(FILE *out);

#endif
