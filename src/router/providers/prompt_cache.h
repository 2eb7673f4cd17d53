/* prompt_cache: the breakpoints of a provider's prompt cache (`cache_control` marks) in a chat
 * request, per deployment.
 *
 * OpenAI, DeepSeek, Groq and most OpenAI-compatible servers cache a repeated prompt prefix on
 * their own; Anthropic (directly, on Bedrock, or through OpenRouter) and Gemini through
 * OpenRouter cache only up to blocks marked `"cache_control": {"type": "ephemeral"}`. A mark
 * is OpenAI's content-part form: `{"type": "text", "text": ..., "cache_control": {...}}` (a
 * whole message may carry one too; the Anthropic and Bedrock dialects put it on its last
 * block). The marks come from the client (the agent places its own, see agent_model.c) or from the
 * deployment's `cache_control_injection_points` (LiteLLM's config form), and are sent only to
 * deployments whose wire takes them: the Anthropic and Bedrock dialects (which translate
 * them), OpenRouter and a LiteLLM proxy (which pass them on). Every other deployment gets the
 * request without them, a one-text-part content written back as the plain string it was, so
 * what an automatically caching provider sees is byte for byte what it saw before.
 */
#ifndef HERMETIC_PROMPT_CACHE_H
#define HERMETIC_PROMPT_CACHE_H

#include "core/config.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

/* Anthropic refuses a request with more marks than this. */
#define PROMPT_CACHE_MAX_MARKS 4

/* True when the deployment caches only what is marked: Anthropic's models wherever they are
 * served, Gemini's through OpenRouter. */
bool prompt_cache_needs_marks(const struct config_model *m);

/* Readies a chat request (the attempt's own parse) for deployment m: adds the marks of
 * m's cache_control_injection_points (none past PROMPT_CACHE_MAX_MARKS in the request),
 * then removes every mark when m's wire does not take them. Returns whether it changed req. */
bool prompt_cache_prepare(const struct config_model *m, cJSON *req);

/* Puts a mark on message (an OpenAI chat message object): on the last part of an array
 * content, a string content becoming one text part, else (no content: an assistant's tool
 * calls) on the message itself. Returns false when it already had one. */
bool prompt_cache_mark(cJSON *message);

#endif
