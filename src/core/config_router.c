/* config_router: the keys of the router's half as table data, walked like the rest
 * (config_walk.c): LiteLLM's `model_list`, `litellm_settings`, `router_settings` and
 * `general_settings`, and hermetic's own `router`, `keys` and `budget`. Apart from
 * config_table.c, which holds the agent's, the gateway's and the front ends' keys and the top
 * level that reaches these; the keys are listed in the order of docs/configuration.md.
 */
#include "core/config_int.h"
#include "core/util.h"

#include <stddef.h>
#include <stdint.h>

#define FLD(s, f) .off = offsetof(struct s, f)
#define CNT(s, f) .n_off = offsetof(struct s, f)
#define OPTS(v)	  .opts = v, .n_opts = ARRAY_LEN(v)
#define MIB	  (1024 * 1024)

_Static_assert(sizeof(enum config_routing) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_model_mode) == sizeof(int), "enum size");

/* LiteLLM's model_info.mode values; the first is the default. */
static const struct choice mode_choices[] = {
	{"chat", CONFIG_MODE_CHAT, NULL},
	{"completion", CONFIG_MODE_COMPLETION, NULL},
	{"embedding", CONFIG_MODE_EMBEDDING, NULL},
	{"audio_transcription", CONFIG_MODE_AUDIO_TRANSCRIPTION, NULL},
	{"audio_speech", CONFIG_MODE_AUDIO_SPEECH, NULL},
	{"image_generation", CONFIG_MODE_IMAGE_GENERATION, NULL},
	{"rerank", CONFIG_MODE_RERANK, NULL},
	{"moderation", CONFIG_MODE_MODERATION, NULL},
	{"responses", CONFIG_MODE_RESPONSES, NULL},
	{NULL, 0, NULL},
};

const struct choice cfg_routing_choices[] = {
	{"simple-shuffle", CONFIG_ROUTING_SIMPLE_SHUFFLE, NULL},
	{"least-busy", CONFIG_ROUTING_LEAST_BUSY, NULL},
	{"latency-based-routing", CONFIG_ROUTING_LATENCY, NULL},
	{"usage-based-routing", CONFIG_ROUTING_USAGE, NULL},
	{"usage-based-routing-v2", CONFIG_ROUTING_USAGE_V2, NULL},
	{"cost-based-routing", CONFIG_ROUTING_COST, NULL},
	{NULL, 0, NULL},
};

const char *config_routing_name(enum config_routing r)
{
	return cfg_routing_choices[r].name;
}

static const struct opt model_info_opts[] = {
	{"input_cost_per_token", T_NUM, FLD(config_model_info, input_cost_per_token), .def = "-1",
	 .min = 0, .max = 1, .text = "USD per prompt token; default 0"},
	{"output_cost_per_token", T_NUM, FLD(config_model_info, output_cost_per_token), .def = "-1",
	 .min = 0, .max = 1, .text = "USD per completion token; default 0"},
	{"cache_read_input_token_cost", T_NUM, FLD(config_model_info, cache_read_input_token_cost),
	 .def = "-1", .min = 0, .max = 1,
	 .text = "USD per prompt token read from the provider's cache; default "
		 "input_cost_per_token"},
	{"cache_creation_input_token_cost", T_NUM,
	 FLD(config_model_info, cache_creation_input_token_cost), .def = "-1", .min = 0, .max = 1,
	 .text = "USD per prompt token written to the provider's cache; default "
		 "input_cost_per_token"},
	{"input_cost_per_character", T_NUM, FLD(config_model_info, input_cost_per_character),
	 .def = "0", .min = 0, .max = 1,
	 .text = "USD per character of a /v1/audio/speech input; 0 = the token estimate"},
	{"max_input_tokens", T_INT, FLD(config_model_info, max_input_tokens), .def = "0", .min = 0,
	 .max = 100000000, .text = "context window; 0 = unknown"},
	{"max_output_tokens", T_INT, FLD(config_model_info, max_output_tokens), .def = "0",
	 .min = 0, .max = 100000000, .text = "completion limit; 0 = unknown"},
	{"max_tokens", T_INT, FLD(config_model_info, max_output_tokens), .min = 0, .max = 100000000,
	 .text = "same as max_output_tokens"},
	{"id", T_STR, FLD(config_model_info, id), .flags = F_ONELINE,
	 .text = "deployment id (x-litellm-model-id); default `<model_name>-<n>`"},
	{"mode", T_ENUM, FLD(config_model_info, mode), .def = "chat", .choices = mode_choices,
	 .flags = F_WARN_UNKNOWN,
	 .text = "what the deployment serves; another LiteLLM mode loads as chat, with a warning"},
	{"input_cost_per_second", T_NUM, FLD(config_model_info, input_cost_per_second), .def = "0",
	 .min = 0, .max = 1,
	 .text = "USD per second of audio a /v1/audio/transcriptions call took in; 0 = by token"},
	{"output_cost_per_image", T_NUM, FLD(config_model_info, output_cost_per_image), .def = "0",
	 .min = 0, .max = 1000,
	 .text = "USD per image a /v1/images/generations or /edits call returns (LiteLLM's); 0 = "
		 "by token"},
	{"order", T_INT, FLD(config_model_info, order), .min = -1000000000, .max = 1000000000,
	 .text = "litellm_params.order when that is not set (LiteLLM's _get_deployment_order)"},
	{"input_cost_per_query", T_NUM, FLD(config_model_info, input_cost_per_query), .def = "0",
	 .min = 0, .max = 1000,
	 .text = "USD per /v1/rerank query (per search unit the answer bills, LiteLLM's); 0 = by "
		 "token"},
	{"supports_vision", T_BOOL, FLD(config_model_info, supports_vision), .def = "false",
	 .text = "the model reads images: Telegram photos go to it as image parts"},
	{"supports_audio_input", T_BOOL, FLD(config_model_info, supports_audio_input),
	 .def = "false",
	 .text = "the chat model hears input_audio parts (usable as auxiliary.transcription)"},
	{"supports_pdf_input", T_BOOL, FLD(config_model_info, supports_pdf_input), .def = "false",
	 .text = "the model reads PDF file parts (openrouter/ models always may: OpenRouter "
		 "parses PDFs)"},
};

static const struct table model_info_table = {
	"model_info", "model_list[].model_info", OPTS(model_info_opts), .litellm = true,
	.text = "Facts about one deployment. LiteLLM keeps free-form data here, so unknown keys "
		"are warnings."};

static const struct opt model_opts[] = {
	{"model_name", T_STR, FLD(config_model, model_name), .flags = F_REQUIRED | F_ONELINE,
	 .text = "the group (virtual model) clients ask for; repeat it for more deployments"},
	{"litellm_params", T_SECTION, FLD(config_model, litellm_params),
	 .table = &cfg_litellm_params_table, .flags = F_REQUIRED},
	{"model_info", T_SECTION, FLD(config_model, model_info), .table = &model_info_table},
	{"(provider)", T_STR, FLD(config_model, provider), .flags = F_DERIVED},
	{"(upstream_model)", T_STR, FLD(config_model, upstream_model), .flags = F_DERIVED},
	{"(inactive)", T_STR, FLD(config_model, inactive), .flags = F_DERIVED},
	{"(needs_at_call)", T_STR, FLD(config_model, needs_at_call), .flags = F_DERIVED},
	{"(gcp.client_email)", T_STR, FLD(config_model, gcp.client_email), .flags = F_DERIVED},
	{"(gcp.private_key)", T_STR, FLD(config_model, gcp.private_key), .flags = F_DERIVED},
	{"(gcp.token_uri)", T_STR, FLD(config_model, gcp.token_uri), .flags = F_DERIVED},
	{"(gcp.project_uri)", T_STR, FLD(config_model, gcp.project_uri), .flags = F_DERIVED},
	{"(gcp.client_id)", T_STR, FLD(config_model, gcp.client_id), .flags = F_DERIVED},
	{"(gcp.client_secret)", T_STR, FLD(config_model, gcp.client_secret), .flags = F_DERIVED},
	{"(gcp.refresh_token)", T_STR, FLD(config_model, gcp.refresh_token), .flags = F_DERIVED},
};

const struct table cfg_model_table = {
	"model_list",
	"model_list[]",
	OPTS(model_opts),
	.size = sizeof(struct config_model),
	.litellm = true,
	.prepare = cfg_model_prepare,
	.check = cfg_model_check,
	.check_all = cfg_models_check_all,
	.text = "LiteLLM's model_list, verbatim: one entry per deployment."};

static const struct opt litellm_settings_opts[] = {
	{"num_retries", T_INT, FLD(config_litellm_settings, num_retries), .def = "-1", .min = 0,
	 .max = 10,
	 .text = "retries within a group before falling back; router_settings wins; "
		 "default 2 (LiteLLM's Router)",
	 .flags = F_CLAMP},
	{"request_timeout", T_INT, FLD(config_litellm_settings, request_timeout_s), .def = "-1",
	 .min = 1, .max = 86400,
	 .text = "seconds per upstream call; router_settings.timeout wins; default 600",
	 .flags = F_CLAMP},
	{"allowed_fails", T_INT, FLD(config_litellm_settings, allowed_fails), .def = "-1", .min = 0,
	 .max = 1000, .flags = F_CLAMP,
	 .text = "failures before a deployment cools down; router_settings wins; default 3"},
	{"cooldown_time", T_INT, FLD(config_litellm_settings, cooldown_time_s), .def = "-1",
	 .min = 0, .max = 86400, .flags = F_CLAMP,
	 .text = "seconds a failing deployment is skipped; router_settings wins; default 5"},
	{"retry_policy", T_SECTION, FLD(config_litellm_settings, retry_policy),
	 .table = &cfg_litellm_retry_policy_table},
	{"fallbacks", T_FALLBACKS, FLD(config_litellm_settings, fallbacks),
	 CNT(config_litellm_settings, n_fallbacks), .cap = 256,
	 .text = "`[{\"free\": [\"free2\", \"cheap\"]}]`: groups tried in order on errors"},
	{"context_window_fallbacks", T_FALLBACKS,
	 FLD(config_litellm_settings, context_window_fallbacks),
	 CNT(config_litellm_settings, n_context_window_fallbacks), .cap = 256,
	 .text = "the same, for context-window errors"},
	{"content_policy_fallbacks", T_FALLBACKS,
	 FLD(config_litellm_settings, content_policy_fallbacks),
	 CNT(config_litellm_settings, n_content_policy_fallbacks), .cap = 256,
	 .text = "the same, for content-policy errors"},
	{"default_fallbacks", T_STRS, FLD(config_litellm_settings, default_fallbacks),
	 CNT(config_litellm_settings, n_default_fallbacks), .cap = 16, .flags = F_MODEL,
	 .text = "groups tried after a group's own fallbacks"},
	{"max_fallbacks", T_INT, FLD(config_litellm_settings, max_fallbacks), .def = "-1", .min = 0,
	 .max = 20,
	 .text = "most fallback groups tried per request; router_settings wins; "
		 "default 5"},
	{"max_budget", T_NUM, FLD(config_litellm_settings, max_budget_usd), .def = "0", .min = 0,
	 .max = 1000000, .text = "USD the router may spend per budget_duration; 0 = no cap"},
	{"budget_duration", T_PERIOD, FLD(config_litellm_settings, budget_duration_s),
	 .text = "when max_budget resets; unset = never"},
};

const struct table cfg_litellm_settings_table = {"litellm_settings",
						 "litellm_settings",
						 OPTS(litellm_settings_opts),
						 .litellm = true,
						 .prepare = cfg_shapes_litellm_settings,
						 .text = "LiteLLM's router-wide settings."};

static const struct opt router_settings_opts[] = {
	{"routing_strategy", T_ENUM, FLD(config_router_settings, routing_strategy),
	 .def = "simple-shuffle", .choices = cfg_routing_choices,
	 .text = "how a deployment is picked within a group (docs/router.md, \"Routing "
		 "strategies\")"},
	{"routing_strategy_args", T_SECTION, FLD(config_router_settings, routing_args),
	 .table = &cfg_routing_args_table},
	{"allowed_fails_policy", T_SECTION, FLD(config_router_settings, allowed_fails_policy),
	 .table = &cfg_allowed_fails_policy_table},
	{"retry_after", T_INT, FLD(config_router_settings, retry_after_s), .def = "0", .min = 0,
	 .max = 3600, .flags = F_CLAMP,
	 .text = "seconds a retry waits at least (the floor of the backoff, which starts at 100 "
		 "ms); an upstream's Retry-After is taken as it is"},
	{"disable_cooldowns", T_BOOL, FLD(config_router_settings, disable_cooldowns),
	 .def = "false", .text = "no deployment ever cools down (as cooldown_time: 0)"},
	{"default_max_parallel_requests", T_INT,
	 FLD(config_router_settings, default_max_parallel_requests), .def = "-1", .min = 0,
	 .max = 100000,
	 .text = "calls in flight per deployment without max_parallel_requests; default "
		 "general_settings.max_parallel_requests, else none"},
	{"allowed_fails", T_INT, FLD(config_router_settings, allowed_fails), .def = "-1", .min = 0,
	 .max = 1000, .flags = F_CLAMP,
	 .text = "failures within cooldown_time before a deployment cools down; "
		 "default litellm_settings.allowed_fails, else 3 (LiteLLM's)"},
	{"cooldown_time", T_INT, FLD(config_router_settings, cooldown_time_s), .def = "-1",
	 .min = 0, .max = 86400, .flags = F_CLAMP,
	 .text = "seconds a failing deployment is skipped; default "
		 "litellm_settings.cooldown_time, else 5 (LiteLLM's)"},
	{"num_retries", T_INT, FLD(config_router_settings, num_retries), .def = "-1", .min = 0,
	 .max = 10, .text = "retries within a group; default litellm_settings.num_retries, else 2",
	 .flags = F_CLAMP},
	{"retry_policy", T_SECTION, FLD(config_router_settings, retry_policy),
	 .table = &cfg_retry_policy_table},
	{"timeout", T_INT, FLD(config_router_settings, timeout_s), .def = "-1", .min = 1,
	 .max = 86400,
	 .text = "seconds per call; default litellm_settings.request_timeout, else 600",
	 .flags = F_CLAMP},
	{"max_fallbacks", T_INT, FLD(config_router_settings, max_fallbacks), .def = "-1", .min = 0,
	 .max = 20,
	 .text = "most fallback groups per request; default "
		 "litellm_settings.max_fallbacks, else 5 (LiteLLM's)"},
	{"enable_pre_call_checks", T_BOOL, FLD(config_router_settings, enable_pre_call_checks),
	 .def = "false", .text = "skip deployments whose context window is too small"},
	{"fallbacks", T_FALLBACKS, FLD(config, litellm_settings.fallbacks),
	 CNT(config, litellm_settings.n_fallbacks), .cap = 256, .flags = F_ROOT,
	 .text = "same as litellm_settings.fallbacks (LiteLLM accepts both); this one wins"},
	{"context_window_fallbacks", T_FALLBACKS,
	 FLD(config, litellm_settings.context_window_fallbacks),
	 CNT(config, litellm_settings.n_context_window_fallbacks), .cap = 256, .flags = F_ROOT,
	 .text = "same as litellm_settings.context_window_fallbacks"},
	{"content_policy_fallbacks", T_FALLBACKS,
	 FLD(config, litellm_settings.content_policy_fallbacks),
	 CNT(config, litellm_settings.n_content_policy_fallbacks), .cap = 256, .flags = F_ROOT,
	 .text = "same as litellm_settings.content_policy_fallbacks"},
	{"default_fallbacks", T_STRS, FLD(config, litellm_settings.default_fallbacks),
	 CNT(config, litellm_settings.n_default_fallbacks), .cap = 16, .flags = F_ROOT | F_MODEL,
	 .text = "same as litellm_settings.default_fallbacks"},
	{"model_group_alias", T_ALIASES, FLD(config_router_settings, aliases),
	 CNT(config_router_settings, n_aliases), .cap = 256,
	 .text = "`{\"gpt-4\": \"strong\"}` or `{\"gpt-4\": {\"model\": \"strong\", \"hidden\": "
		 "true}}`: a name clients may call that answers as the group; hidden = not in "
		 "/v1/models"},
	{"default_litellm_params", T_SECTION, FLD(config_router_settings, default_params),
	 .table = &cfg_default_params_table},
};

const struct table cfg_router_settings_table = {"router_settings",
						"router_settings",
						OPTS(router_settings_opts),
						.litellm = true,
						.prepare = cfg_shapes_router_settings,
						.text = "LiteLLM's routing settings."};

static const struct opt general_settings_opts[] = {
	{"master_key", T_STR, FLD(config_general_settings, master_key),
	 .flags = F_SECRET | F_LOCK_ENV,
	 .text = "admin key of `hermetic router`; unset = only `keys` authenticate; an unset "
		 "variable = locked: only `keys` authenticate, the rest get 401 naming it"},
	{"(master_key_unset)", T_STR, FLD(config_general_settings, master_key_unset),
	 .flags = F_DERIVED},
	{"max_parallel_requests", T_INT, FLD(config_general_settings, max_parallel_requests),
	 .def = "0", .min = 0, .max = 100000,
	 .text = "calls in flight per deployment (router_settings.default_max_parallel_requests "
		 "wins); 0 = none"},
	{"global_max_parallel_requests", T_INT,
	 FLD(config_general_settings, global_max_parallel_requests), .def = "0", .min = 0,
	 .max = 4096,
	 .text = "upstream calls in flight in all; lowers router.max_concurrent_upstream; 0 = "
		 "none"},
};

const struct table cfg_general_settings_table = {"general_settings", "general_settings",
						 OPTS(general_settings_opts), .litellm = true,
						 .text = "LiteLLM's proxy settings."};

static const struct opt router_opts[] = {
	{"listen", T_LISTEN, FLD(config_router, listen), .def = "127.0.0.1:4000",
	 .text = "address of `hermetic router`; not loopback = needs a master_key or keys"},
	{"max_body_bytes", T_INT, FLD(config_router, max_body_bytes), .def = "4194304", .min = 1024,
	 .max = 64 * MIB, .text = "largest request body"},
	{"max_concurrent_upstream", T_INT, FLD(config_router, max_concurrent_upstream), .def = "64",
	 .min = 1, .max = 4096, .text = "upstream calls in flight"},
	{"max_response_bytes", T_INT, FLD(config_router, max_response_bytes), .def = "8388608",
	 .min = 1024, .max = 256 * MIB, .text = "largest upstream response"},
	{"max_connections", T_INT, FLD(config_router, max_connections), .def = "256", .min = 1,
	 .max = 65536, .text = "open client connections; past it a new one gets 503"},
	{"idle_timeout_s", T_INT, FLD(config_router, idle_timeout_s), .def = "60", .min = 1,
	 .max = 3600, .text = "a kept-alive connection with no request is closed after this"},
	{"header_timeout_s", T_INT, FLD(config_router, header_timeout_s), .def = "10", .min = 1,
	 .max = 600, .text = "from the connect (or a request's first byte) to its complete head"},
	{"body_timeout_s", T_INT, FLD(config_router, body_timeout_s), .def = "60", .min = 1,
	 .max = 3600, .text = "from the request head to its complete body"},
	{"openrouter_referer", T_STR, FLD(config_router, openrouter_referer), .def = "",
	 .flags = F_ONELINE, .text = "HTTP-Referer sent to OpenRouter; empty = not sent"},
	{"openrouter_title", T_STR, FLD(config_router, openrouter_title), .def = "hermetic",
	 .flags = F_ONELINE, .text = "X-Title sent to OpenRouter; empty = not sent"},
};

const struct table cfg_router_table = {"router", "router", OPTS(router_opts),
				       .text = "hermetic's router process."};

static const struct opt key_opts[] = {
	{"key", T_STR, FLD(config_key, key), .flags = F_REQUIRED | F_SECRET,
	 .text = "the bearer key, normally `os.environ/NAME`"},
	{"alias", T_STR, FLD(config_key, alias), .check = cfg_check_name,
	 .text = "name in metrics (api_key_alias) and logs"},
	{"models", T_STRS, FLD(config_key, models), CNT(config_key, n_models), .cap = 256,
	 .flags = F_MODEL | F_ALIAS_OK,
	 .text = "groups (or model_group_alias names) this key may use, fallbacks included; "
		 "empty = all"},
	{"max_budget", T_NUM, FLD(config_key, max_budget_usd), .def = "0", .min = 0, .max = 1000000,
	 .text = "USD per budget_duration; 0 = no cap"},
	{"budget_duration", T_PERIOD, FLD(config_key, budget_duration_s),
	 .text = "when max_budget resets; unset = never"},
	{"priority", T_ENUM, FLD(config_key, priority), .def = "api", .choices = cfg_class_choices,
	 .text = "class of its calls in the rate pools (docs/pools.md)"},
};

const struct table cfg_key_table = {"keys",
				    "keys[]",
				    OPTS(key_opts),
				    .size = sizeof(struct config_key),
				    .check_all = cfg_keys_check_all,
				    .text = "Virtual keys of `hermetic router`."};

static const struct opt budget_opts[] = {
	{"daily_usd", T_NUM, FLD(config_budget, daily_usd), .def = "0", .min = 0, .max = 1000000,
	 .text = "spend per day (in `timezone`), all callers; 0 = no cap"},
	{"monthly_usd", T_NUM, FLD(config_budget, monthly_usd), .def = "0", .min = 0,
	 .max = 1000000, .text = "spend per calendar month (in `timezone`); 0 = no cap"},
};

const struct table cfg_budget_table = {"budget", "budget", OPTS(budget_opts),
				       .text = "Hard spend caps; calls beyond them fail."};
