/* providers: the provider catalogue as one table (see providers.h). Base URLs are the ones
 * each provider documents for its OpenAI-compatible API (or native API for the dialects that
 * are not OpenAI's), as LiteLLM defaults them; api_base in the config always wins. Providers
 * LiteLLM knows that hermetic cannot call (a device-login flow, an endpoint API it does not
 * speak) are listed with why: their deployments load inactive with a warning. */
#include "core/providers.h"
#include "core/util.h"

#include <stdio.h>
#include <string.h>

static const struct provider_info catalogue[] = {
	/* first: a bare model id ("gpt-4o") is OpenAI's, as in LiteLLM */
	{"openai", DIALECT_OPENAI, "https://api.openai.com/v1", NULL, "OPENAI_API_KEY",
	 "OPENAI_API_BASE", false, NULL},
	{"openrouter", DIALECT_OPENAI, "https://openrouter.ai/api/v1", NULL, "OPENROUTER_API_KEY",
	 "OPENROUTER_API_BASE", false, NULL},
	{"groq", DIALECT_OPENAI, "https://api.groq.com/openai/v1", NULL, "GROQ_API_KEY", NULL,
	 false, NULL},
	{"cerebras", DIALECT_OPENAI, "https://api.cerebras.ai/v1", NULL, "CEREBRAS_API_KEY", NULL,
	 false, NULL},
	{"deepseek", DIALECT_OPENAI, "https://api.deepseek.com/v1", NULL, "DEEPSEEK_API_KEY",
	 "DEEPSEEK_API_BASE", false, NULL},
	{"mistral", DIALECT_OPENAI, "https://api.mistral.ai/v1", NULL, "MISTRAL_API_KEY",
	 "MISTRAL_API_BASE", false, NULL},
	{"codestral", DIALECT_OPENAI, "https://codestral.mistral.ai/v1", NULL, "CODESTRAL_API_KEY",
	 NULL, false, NULL},
	{"together_ai", DIALECT_OPENAI, "https://api.together.xyz/v1", NULL, "TOGETHERAI_API_KEY",
	 NULL, false, NULL},
	{"fireworks_ai", DIALECT_OPENAI, "https://api.fireworks.ai/inference/v1", NULL,
	 "FIREWORKS_AI_API_KEY", "FIREWORKS_AI_API_BASE", false, NULL},
	{"nvidia_nim", DIALECT_OPENAI, "https://integrate.api.nvidia.com/v1", NULL,
	 "NVIDIA_NIM_API_KEY", "NVIDIA_NIM_API_BASE", false, NULL},
	{"xai", DIALECT_OPENAI, "https://api.x.ai/v1", NULL, "XAI_API_KEY", "XAI_API_BASE", false,
	 NULL},
	{"perplexity", DIALECT_OPENAI, "https://api.perplexity.ai", NULL, "PERPLEXITYAI_API_KEY",
	 NULL, false, NULL},
	{"deepinfra", DIALECT_OPENAI, "https://api.deepinfra.com/v1/openai", NULL,
	 "DEEPINFRA_API_KEY", NULL, false, NULL},
	{"sambanova", DIALECT_OPENAI, "https://api.sambanova.ai/v1", NULL, "SAMBANOVA_API_KEY",
	 NULL, false, NULL},
	{"moonshot", DIALECT_OPENAI, "https://api.moonshot.ai/v1", NULL, "MOONSHOT_API_KEY", NULL,
	 false, NULL},
	{"huggingface", DIALECT_OPENAI, "https://router.huggingface.co/v1", NULL, "HF_TOKEN",
	 "HF_API_BASE", false, NULL},
	{"hosted_vllm", DIALECT_OPENAI, NULL, NULL, "HOSTED_VLLM_API_KEY", "HOSTED_VLLM_API_BASE",
	 true, NULL},
	{"vllm", DIALECT_OPENAI, NULL, NULL, "HOSTED_VLLM_API_KEY", "HOSTED_VLLM_API_BASE", true,
	 NULL},
	{"ollama", DIALECT_OPENAI, "http://localhost:11434", "/v1", "OLLAMA_API_KEY",
	 "OLLAMA_API_BASE", true, NULL},
	{"ollama_chat", DIALECT_OPENAI, "http://localhost:11434", "/v1", "OLLAMA_API_KEY",
	 "OLLAMA_API_BASE", true, NULL},
	{"lm_studio", DIALECT_OPENAI, "http://localhost:1234/v1", NULL, "LM_STUDIO_API_KEY",
	 "LM_STUDIO_API_BASE", true, NULL},
	{"llamafile", DIALECT_OPENAI, "http://127.0.0.1:8080/v1", NULL, "LLAMAFILE_API_KEY",
	 "LLAMAFILE_API_BASE", true, NULL},
	{"litellm_proxy", DIALECT_OPENAI, NULL, NULL, "LITELLM_PROXY_API_KEY",
	 "LITELLM_PROXY_API_BASE", true, NULL},
	{"custom_openai", DIALECT_OPENAI, NULL, NULL, NULL, NULL, true, NULL},
	{"openai_like", DIALECT_OPENAI, NULL, NULL, NULL, NULL, true, NULL},
	{"text-completion-openai", DIALECT_OPENAI, "https://api.openai.com/v1", NULL,
	 "OPENAI_API_KEY", "OPENAI_API_BASE", false, NULL},
	{"azure_ai", DIALECT_OPENAI, NULL, NULL, "AZURE_AI_API_KEY", "AZURE_AI_API_BASE", false,
	 NULL},
	{"azure", DIALECT_AZURE, NULL, NULL, "AZURE_API_KEY", "AZURE_API_BASE", false, NULL},
	{"anthropic", DIALECT_ANTHROPIC, "https://api.anthropic.com", NULL, "ANTHROPIC_API_KEY",
	 "ANTHROPIC_API_BASE", false, NULL},
	{"gemini", DIALECT_GEMINI, "https://generativelanguage.googleapis.com", NULL,
	 "GEMINI_API_KEY", "GEMINI_API_BASE", false, NULL},
	/* api_base and key_env are what the reference prints: the config derives both */
	{"bedrock", DIALECT_BEDROCK, "https://bedrock-runtime.<region>.amazonaws.com", NULL,
	 "AWS_ACCESS_KEY_ID", "AWS_REGION", false, NULL},
	{"vertex_ai", DIALECT_VERTEX, "https://<location>-aiplatform.googleapis.com", NULL,
	 "GOOGLE_APPLICATION_CREDENTIALS", NULL, false, NULL},
	{"vertex_ai_beta", DIALECT_VERTEX, "https://<location>-aiplatform.googleapis.com", NULL,
	 "GOOGLE_APPLICATION_CREDENTIALS", NULL, false, NULL},
	/* OpenAI-compatible APIs, with LiteLLM's key variables */
	{"cohere", DIALECT_OPENAI, "https://api.cohere.ai/compatibility/v1", NULL, "COHERE_API_KEY",
	 NULL, false, NULL},
	{"cohere_chat", DIALECT_OPENAI, "https://api.cohere.ai/compatibility/v1", NULL,
	 "COHERE_API_KEY", NULL, false, NULL},
	{"github", DIALECT_OPENAI, "https://models.inference.ai.azure.com", NULL, "GITHUB_API_KEY",
	 NULL, false, NULL},
	/* the account id goes into the URL (config_check.c) */
	{"cloudflare", DIALECT_OPENAI,
	 "https://api.cloudflare.com/client/v4/accounts/<CLOUDFLARE_ACCOUNT_ID>/ai/v1", NULL,
	 "CLOUDFLARE_API_KEY", NULL, false, NULL},
	{"zhipu", DIALECT_OPENAI, "https://open.bigmodel.cn/api/paas/v4", NULL, "ZHIPUAI_API_KEY",
	 NULL, false, NULL},
	{"zhipuai", DIALECT_OPENAI, "https://open.bigmodel.cn/api/paas/v4", NULL, "ZHIPUAI_API_KEY",
	 NULL, false, NULL},
	{"zai", DIALECT_OPENAI, "https://api.z.ai/api/paas/v4", NULL, "ZAI_API_KEY", NULL, false,
	 NULL},
	{"volcengine", DIALECT_OPENAI, "https://ark.cn-beijing.volces.com/api/v3", NULL,
	 "VOLCENGINE_API_KEY", NULL, false, NULL},
	{"nvidia", DIALECT_OPENAI, "https://integrate.api.nvidia.com/v1", NULL,
	 "NVIDIA_NIM_API_KEY", "NVIDIA_NIM_API_BASE", false, NULL},
	/* LiteLLM's MinimaxChatConfig: /v1 put under an api_base that lacks it */
	{"minimax", DIALECT_OPENAI, "https://api.minimax.io", "/v1", "MINIMAX_API_KEY",
	 "MINIMAX_API_BASE", false, NULL},
	{"dashscope", DIALECT_OPENAI, "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
	 NULL, "DASHSCOPE_API_KEY", NULL, false, NULL},
	/* LiteLLM's OpenAI-compatible providers with a class of their own
	 * (litellm/llms/<name>/chat/transformation.py, or get_llm_provider_logic.py's
	 * _get_openai_compatible_provider_info) */
	{"siliconflow", DIALECT_OPENAI, "https://api.siliconflow.com/v1", NULL,
	 "SILICONFLOW_API_KEY", "SILICONFLOW_API_BASE", false, NULL},
	{"hyperbolic", DIALECT_OPENAI, "https://api.hyperbolic.xyz/v1", NULL, "HYPERBOLIC_API_KEY",
	 "HYPERBOLIC_API_BASE", false, NULL},
	{"featherless_ai", DIALECT_OPENAI, "https://api.featherless.ai/v1", NULL,
	 "FEATHERLESS_API_KEY", "FEATHERLESS_API_BASE", false, NULL},
	{"lambda_ai", DIALECT_OPENAI, "https://api.lambda.ai/v1", NULL, "LAMBDA_API_KEY",
	 "LAMBDA_API_BASE", false, NULL},
	{"nscale", DIALECT_OPENAI, "https://inference.api.nscale.com/v1", NULL, "NSCALE_API_KEY",
	 "NSCALE_API_BASE", false, NULL},
	{"meta_llama", DIALECT_OPENAI, "https://api.llama.com/compat/v1", NULL, "LLAMA_API_KEY",
	 "LLAMA_API_BASE", false, NULL},
	{"ai21_chat", DIALECT_OPENAI, "https://api.ai21.com/studio/v1", NULL, "AI21_API_KEY",
	 "AI21_API_BASE", false, NULL},
	{"friendliai", DIALECT_OPENAI, "https://api.friendli.ai/serverless/v1", NULL,
	 "FRIENDLIAI_API_KEY", "FRIENDLI_API_BASE", false, NULL},
	{"galadriel", DIALECT_OPENAI, "https://api.galadriel.com/v1", NULL, "GALADRIEL_API_KEY",
	 "GALADRIEL_API_BASE", false, NULL},
	{"anyscale", DIALECT_OPENAI, "https://api.endpoints.anyscale.com/v1", NULL,
	 "ANYSCALE_API_KEY", "ANYSCALE_API_BASE", false, NULL},
	{"empower", DIALECT_OPENAI, "https://app.empower.dev/api/v1", NULL, "EMPOWER_API_KEY",
	 "EMPOWER_API_BASE", false, NULL},
	/* and those of litellm/llms/openai_like/providers.json */
	{"publicai", DIALECT_OPENAI, "https://api.publicai.co/v1", NULL, "PUBLICAI_API_KEY",
	 "PUBLICAI_API_BASE", false, NULL},
	{"helicone", DIALECT_OPENAI, "https://ai-gateway.helicone.ai", NULL, "HELICONE_API_KEY",
	 NULL, false, NULL},
	{"veniceai", DIALECT_OPENAI, "https://api.venice.ai/api/v1", NULL, "VENICE_AI_API_KEY",
	 NULL, false, NULL},
	{"xiaomi_mimo", DIALECT_OPENAI, "https://api.xiaomimimo.com/v1", NULL,
	 "XIAOMI_MIMO_API_KEY", NULL, false, NULL},
	{"scaleway", DIALECT_OPENAI, "https://api.scaleway.ai/v1", NULL, "SCW_SECRET_KEY", NULL,
	 false, NULL},
	{"synthetic", DIALECT_OPENAI, "https://api.synthetic.new/openai/v1", NULL,
	 "SYNTHETIC_API_KEY", NULL, false, NULL},
	{"apertis", DIALECT_OPENAI, "https://api.stima.tech/v1", NULL, "STIMA_API_KEY", NULL, false,
	 NULL},
	{"nano-gpt", DIALECT_OPENAI, "https://nano-gpt.com/api/v1", NULL, "NANOGPT_API_KEY", NULL,
	 false, NULL},
	{"poe", DIALECT_OPENAI, "https://api.poe.com/v1", NULL, "POE_API_KEY", NULL, false, NULL},
	{"chutes", DIALECT_OPENAI, "https://llm.chutes.ai/v1", NULL, "CHUTES_API_KEY", NULL, false,
	 NULL},
	{"abliteration", DIALECT_OPENAI, "https://api.abliteration.ai/v1", NULL,
	 "ABLITERATION_API_KEY", NULL, false, NULL},
	{"llamagate", DIALECT_OPENAI, "https://api.llamagate.dev/v1", NULL, "LLAMAGATE_API_KEY",
	 NULL, false, NULL},
	{"gmi", DIALECT_OPENAI, "https://api.gmi-serving.com/v1", NULL, "GMI_API_KEY", NULL, false,
	 NULL},
	{"assemblyai", DIALECT_OPENAI, "https://llm-gateway.assemblyai.com/v1", NULL,
	 "ASSEMBLYAI_API_KEY", NULL, false, NULL},
	{"charity_engine", DIALECT_OPENAI,
	 "https://api.charityengine.services/remotejobs/v2/inference", NULL,
	 "CHARITY_ENGINE_API_KEY", NULL, false, NULL},
	{"aihubmix", DIALECT_OPENAI, "https://aihubmix.com/v1", NULL, "AIHUBMIX_API_KEY",
	 "AIHUBMIX_API_BASE", false, NULL},
	/* what hermetic cannot call: loaded inactive, with why */
	{"github_copilot", DIALECT_OPENAI, NULL, NULL, NULL, NULL, false,
	 "GitHub Copilot signs in with a device-login flow that a server cannot complete"},
	/* LiteLLM's chatgpt/ Authenticator: a ChatGPT subscription's OAuth device code */
	{"chatgpt", DIALECT_OPENAI, NULL, NULL, NULL, NULL, false,
	 "ChatGPT's subscription API signs in with a device-login flow that a server cannot "
	 "complete"},
	{"sagemaker", DIALECT_OPENAI, NULL, NULL, NULL, NULL, false,
	 "SageMaker endpoint invocation is not implemented; serve the model behind an "
	 "OpenAI-compatible api_base (openai/<id>)"},
	{"sagemaker_chat", DIALECT_OPENAI, NULL, NULL, NULL, NULL, false,
	 "SageMaker endpoint invocation is not implemented; serve the model behind an "
	 "OpenAI-compatible api_base (openai/<id>)"},
	{"watsonx", DIALECT_OPENAI, NULL, NULL, NULL, NULL, false,
	 "watsonx's IAM token flow is not implemented; serve the model behind an "
	 "OpenAI-compatible api_base (openai/<id>)"},
};

const struct provider_info *providers_find(const char *prefix, size_t len)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(catalogue); i++)
		if (strlen(catalogue[i].name) == len &&
		    strncmp(catalogue[i].name, prefix, len) == 0)
			return &catalogue[i];
	return NULL;
}

const struct provider_info *providers_at(size_t i)
{
	return i < ARRAY_LEN(catalogue) ? &catalogue[i] : NULL;
}

size_t providers_count(void)
{
	return ARRAY_LEN(catalogue);
}

const char *providers_dialect_name(enum provider_dialect d)
{
	static const char *const names[] = {
		[DIALECT_OPENAI] = "openai",
		[DIALECT_AZURE] = "azure",
		[DIALECT_ANTHROPIC] = "anthropic",
		[DIALECT_GEMINI] = "gemini",
		[DIALECT_BEDROCK] = "bedrock",
		[DIALECT_VERTEX] = "vertex",
		[DIALECT_VERTEX_ANTHROPIC] = "vertex-anthropic",
	};

	return names[d];
}

void providers_print_reference(FILE *out)
{
	size_t i;

	fputs("### Providers\n\nThe `<provider>/` prefixes of `litellm_params.model` (or "
	      "`custom_llm_provider`). The key and base variables are read when `api_key` or "
	      "`api_base` is not given, as LiteLLM reads them. `bedrock` takes its region and "
	      "credentials from `aws_*` or AWS's variables and its base from the region; "
	      "`vertex_ai` its service account from `vertex_credentials` or "
	      "GOOGLE_APPLICATION_CREDENTIALS and its base from `vertex_location` "
	      "(docs/providers/vertex.md).\n\n"
	      "| prefix | dialect | default api_base | key variable | base variable |\n"
	      "|---|---|---|---|---|\n",
	      out);
	for (i = 0; i < ARRAY_LEN(catalogue); i++) {
		const struct provider_info *p = &catalogue[i];
		char base[128], key[64], benv[64];

		if (p->unsupported) {
			fprintf(out, "| `%s` | - | inactive: %s | - | - |\n", p->name,
				p->unsupported);
			continue;
		}
		if (!p->api_base)
			snprintf(base, sizeof(base), "required");
		else
			snprintf(base, sizeof(base), "`%s%s`", p->api_base,
				 p->path_prefix ? p->path_prefix : "");
		snprintf(key, sizeof(key), p->key_env ? "`%s`%s" : "-%s",
			 p->key_env ? p->key_env : "", p->key_optional ? " (optional)" : "");
		snprintf(benv, sizeof(benv), p->base_env ? "`%s`" : "-%s",
			 p->base_env ? p->base_env : "");
		fprintf(out, "| `%s` | %s | %s | %s | %s |\n", p->name,
			providers_dialect_name(p->dialect), base, key, benv);
	}
}
