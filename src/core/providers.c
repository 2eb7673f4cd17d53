/* providers: the provider catalogue as one table (see providers.h). Base URLs are the ones
 * each provider documents for its OpenAI-compatible API (or native API for the dialects that
 * are not OpenAI's); api_base in the config always wins. Providers LiteLLM knows that need
 * an OAuth flow or a signing scheme hermetic does not implement (vertex_ai, sagemaker) are not
 * listed: the config check names them and says what to use instead. */
#include "core/providers.h"
#include "core/util.h"

#include <stdio.h>
#include <string.h>

static const struct provider_info catalogue[] = {
	/* first: a bare model id ("gpt-4o") is OpenAI's, as in LiteLLM */
	{"openai", DIALECT_OPENAI, "https://api.openai.com/v1", NULL, "OPENAI_API_KEY",
	 "OPENAI_API_BASE", false},
	{"openrouter", DIALECT_OPENAI, "https://openrouter.ai/api/v1", NULL, "OPENROUTER_API_KEY",
	 "OPENROUTER_API_BASE", false},
	{"groq", DIALECT_OPENAI, "https://api.groq.com/openai/v1", NULL, "GROQ_API_KEY", NULL,
	 false},
	{"cerebras", DIALECT_OPENAI, "https://api.cerebras.ai/v1", NULL, "CEREBRAS_API_KEY", NULL,
	 false},
	{"deepseek", DIALECT_OPENAI, "https://api.deepseek.com/v1", NULL, "DEEPSEEK_API_KEY",
	 "DEEPSEEK_API_BASE", false},
	{"mistral", DIALECT_OPENAI, "https://api.mistral.ai/v1", NULL, "MISTRAL_API_KEY",
	 "MISTRAL_API_BASE", false},
	{"codestral", DIALECT_OPENAI, "https://codestral.mistral.ai/v1", NULL, "CODESTRAL_API_KEY",
	 NULL, false},
	{"together_ai", DIALECT_OPENAI, "https://api.together.xyz/v1", NULL, "TOGETHERAI_API_KEY",
	 NULL, false},
	{"fireworks_ai", DIALECT_OPENAI, "https://api.fireworks.ai/inference/v1", NULL,
	 "FIREWORKS_AI_API_KEY", "FIREWORKS_AI_API_BASE", false},
	{"nvidia_nim", DIALECT_OPENAI, "https://integrate.api.nvidia.com/v1", NULL,
	 "NVIDIA_NIM_API_KEY", "NVIDIA_NIM_API_BASE", false},
	{"xai", DIALECT_OPENAI, "https://api.x.ai/v1", NULL, "XAI_API_KEY", "XAI_API_BASE", false},
	{"perplexity", DIALECT_OPENAI, "https://api.perplexity.ai", NULL, "PERPLEXITYAI_API_KEY",
	 NULL, false},
	{"deepinfra", DIALECT_OPENAI, "https://api.deepinfra.com/v1/openai", NULL,
	 "DEEPINFRA_API_KEY", NULL, false},
	{"sambanova", DIALECT_OPENAI, "https://api.sambanova.ai/v1", NULL, "SAMBANOVA_API_KEY",
	 NULL, false},
	{"moonshot", DIALECT_OPENAI, "https://api.moonshot.ai/v1", NULL, "MOONSHOT_API_KEY", NULL,
	 false},
	{"huggingface", DIALECT_OPENAI, "https://router.huggingface.co/v1", NULL, "HF_TOKEN",
	 "HF_API_BASE", false},
	{"hosted_vllm", DIALECT_OPENAI, NULL, NULL, "HOSTED_VLLM_API_KEY", "HOSTED_VLLM_API_BASE",
	 true},
	{"vllm", DIALECT_OPENAI, NULL, NULL, "HOSTED_VLLM_API_KEY", "HOSTED_VLLM_API_BASE", true},
	{"ollama", DIALECT_OPENAI, "http://localhost:11434", "/v1", "OLLAMA_API_KEY",
	 "OLLAMA_API_BASE", true},
	{"ollama_chat", DIALECT_OPENAI, "http://localhost:11434", "/v1", "OLLAMA_API_KEY",
	 "OLLAMA_API_BASE", true},
	{"lm_studio", DIALECT_OPENAI, "http://localhost:1234/v1", NULL, "LM_STUDIO_API_KEY",
	 "LM_STUDIO_API_BASE", true},
	{"llamafile", DIALECT_OPENAI, "http://127.0.0.1:8080/v1", NULL, "LLAMAFILE_API_KEY",
	 "LLAMAFILE_API_BASE", true},
	{"litellm_proxy", DIALECT_OPENAI, NULL, NULL, "LITELLM_PROXY_API_KEY",
	 "LITELLM_PROXY_API_BASE", true},
	{"custom_openai", DIALECT_OPENAI, NULL, NULL, NULL, NULL, true},
	{"openai_like", DIALECT_OPENAI, NULL, NULL, NULL, NULL, true},
	{"text-completion-openai", DIALECT_OPENAI, "https://api.openai.com/v1", NULL,
	 "OPENAI_API_KEY", "OPENAI_API_BASE", false},
	{"azure_ai", DIALECT_OPENAI, NULL, NULL, "AZURE_AI_API_KEY", "AZURE_AI_API_BASE", false},
	{"azure", DIALECT_AZURE, NULL, NULL, "AZURE_API_KEY", "AZURE_API_BASE", false},
	{"anthropic", DIALECT_ANTHROPIC, "https://api.anthropic.com", NULL, "ANTHROPIC_API_KEY",
	 "ANTHROPIC_API_BASE", false},
	{"gemini", DIALECT_GEMINI, "https://generativelanguage.googleapis.com", NULL,
	 "GEMINI_API_KEY", "GEMINI_API_BASE", false},
	/* api_base and key_env are what the reference prints: the config derives both */
	{"bedrock", DIALECT_BEDROCK, "https://bedrock-runtime.<region>.amazonaws.com", NULL,
	 "AWS_ACCESS_KEY_ID", "AWS_REGION", false},
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
		[DIALECT_OPENAI] = "openai",	   [DIALECT_AZURE] = "azure",
		[DIALECT_ANTHROPIC] = "anthropic", [DIALECT_GEMINI] = "gemini",
		[DIALECT_BEDROCK] = "bedrock",
	};

	return names[d];
}

void providers_print_reference(FILE *out)
{
	size_t i;

	fputs("### Providers\n\nThe `<provider>/` prefixes of `litellm_params.model` (or "
	      "`custom_llm_provider`). The key and base variables are read when `api_key` or "
	      "`api_base` is not given, as LiteLLM reads them. `bedrock` takes its region and "
	      "credentials from `aws_*` or AWS's variables and its base from the region.\n\n"
	      "| prefix | dialect | default api_base | key variable | base variable |\n"
	      "|---|---|---|---|---|\n",
	      out);
	for (i = 0; i < ARRAY_LEN(catalogue); i++) {
		const struct provider_info *p = &catalogue[i];
		char base[128], key[64], benv[64];

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
