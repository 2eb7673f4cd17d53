/* gemini_image: /v1/images/generations for gemini/ and vertex_ai/ deployments, as LiteLLM
 * serves it (litellm/llms/gemini/image_generation/, litellm/llms/vertex_ai/image_generation/).
 * A model whose id names "gemini" (gemini-2.5-flash-image, gemini-3-pro-image-preview) is a
 * Gemini image model, called with generateContent and responseModalities ["IMAGE"]; any other
 * (imagen-4.0-generate-001, imagegeneration@006) is Imagen, called with :predict and
 * {"instances":[{"prompt"}],"parameters":{"sampleCount"}}. LiteLLM's mapping of OpenAI's
 * fields: n -> sampleCount (Imagen) or candidateCount (Gemini); size -> aspectRatio through
 * LiteLLM's table, "1:1" for a size it does not list. Either answer comes back as OpenAI's
 * {"created","data":[{"b64_json"}]}; a Gemini answer's usageMetadata as the images API's usage
 * (input_tokens, output_tokens) for a deployment priced per token.
 *
 * Unlike LiteLLM, an answer without a single image is an error, not an empty list: Imagen
 * answers {} when its safety filters took every image (with raiFilteredReason when asked),
 * Gemini a candidate whose finishReason says why (IMAGE_SAFETY, PROHIBITED_CONTENT) or text
 * alone. An empty list would be billed and look like success.
 *
 * Rejected: response_format "url" (Google returns bytes only; LiteLLM answers b64_json too),
 * quality and style (LiteLLM drops them for these providers).
 */
#include "router/providers/gemini_int.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* LiteLLM's _map_size_to_aspect_ratio (the same table in both of its Google configs). */
static const struct {
	const char *size;
	const char *ratio;
} aspect_ratios[] = {
	{"1024x1024", "1:1"}, {"1792x1024", "16:9"}, {"1024x1792", "9:16"},
	{"1280x896", "4:3"},  {"896x1280", "3:4"},
};

bool gemini_image_is_gemini(const char *upstream_model)
{
	return strstr(upstream_model, "gemini") != NULL;
}

static const char *aspect_ratio(const char *size)
{
	for (size_t i = 0; i < ARRAY_LEN(aspect_ratios); i++)
		if (strcmp(aspect_ratios[i].size, size) == 0)
			return aspect_ratios[i].ratio;
	return "1:1";
}

static int fail(char *err, size_t err_len, const char *msg)
{
	snprintf(err, err_len, "%s", msg);
	return -EINVAL;
}

int gemini_image_body(const char *upstream_model, const cJSON *req, struct provider_request *out,
		      char *err, size_t err_len)
{
	const char *prompt = get_str(req, "prompt");
	const cJSON *n = get(req, "n"), *size = get(req, "size");
	cJSON *body, *params;

	if (!prompt)
		return fail(err, err_len, "prompt must be a string");
	if (n && (!cJSON_IsNumber(n) || n->valuedouble < 1 || n->valuedouble > 10 ||
		  n->valuedouble != (double)(int)n->valuedouble))
		return fail(err, err_len, "n must be an integer from 1 to 10");
	if (size && !cJSON_IsString(size))
		return fail(err, err_len, "size must be a string such as \"1024x1024\"");
	body = cJSON_CreateObject();
	if (gemini_image_is_gemini(upstream_model)) {
		cJSON *turn = add_object_to(cJSON_AddArrayToObject(body, "contents"));

		cJSON_AddStringToObject(turn, "role", "user");
		cJSON_AddStringToObject(add_object_to(cJSON_AddArrayToObject(turn, "parts")),
					"text", prompt);
		params = cJSON_AddObjectToObject(body, "generationConfig");
		cJSON_AddItemToArray(cJSON_AddArrayToObject(params, "responseModalities"),
				     cJSON_CreateString("IMAGE"));
		if (size)
			cJSON_AddStringToObject(cJSON_AddObjectToObject(params, "imageConfig"),
						"aspectRatio", aspect_ratio(size->valuestring));
		if (n)
			cJSON_AddNumberToObject(params, "candidateCount", n->valuedouble);
	} else {
		cJSON_AddStringToObject(add_object_to(cJSON_AddArrayToObject(body, "instances")),
					"prompt", prompt);
		params = cJSON_AddObjectToObject(body, "parameters");
		cJSON_AddNumberToObject(params, "sampleCount", n ? n->valuedouble : 1);
		if (size)
			cJSON_AddStringToObject(params, "aspectRatio",
						aspect_ratio(size->valuestring));
	}
	out->body = print_free(body);
	out->body_len = strlen(out->body);
	return 0;
}

/* OpenAI's error for an answer that holds no image. */
static char *no_image(const char *why, bool policy)
{
	cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");

	cJSON_AddStringToObject(e, "message", why);
	cJSON_AddStringToObject(e, "type", policy ? "invalid_request_error" : "api_error");
	cJSON_AddNullToObject(e, "param");
	if (policy)
		cJSON_AddStringToObject(e, "code", "content_policy_violation");
	else
		cJSON_AddNullToObject(e, "code");
	return print_free(root);
}

static void add_image(cJSON *data, const char *b64)
{
	cJSON_AddStringToObject(add_object_to(data), "b64_json", b64);
}

/* Imagen's predictions: bytesBase64Encoded each, or raiFilteredReason for one filtered. */
static char *imagen_answer(const cJSON *preds, cJSON *root, cJSON *data)
{
	const char *filtered = NULL;
	const cJSON *p;
	char *msg, *out;

	cJSON_ArrayForEach(p, preds)
	{
		const char *b64 = get_str(p, "bytesBase64Encoded");

		if (b64)
			add_image(data, b64);
		else if (!filtered)
			filtered = get_str(p, "raiFilteredReason");
	}
	if (cJSON_GetArraySize(data) > 0)
		return print_free(root);
	cJSON_Delete(root);
	msg = xasprintf("imagen returned no image: its safety filters removed them (%s)",
			filtered ? filtered : "no raiFilteredReason given");
	out = no_image(msg, true);
	free(msg);
	return out;
}

/* A Gemini image model's candidates: each inlineData part an image; usageMetadata as usage. */
static char *gemini_model_answer(const cJSON *resp, cJSON *root, cJSON *data)
{
	const cJSON *c, *part, *um = get(resp, "usageMetadata");
	const char *finish = NULL, *text = NULL;
	char *msg, *out;

	cJSON_ArrayForEach(c, get(resp, "candidates"))
	{
		cJSON_ArrayForEach(part, get(get(c, "content"), "parts"))
		{
			const char *b64 = get_str(get(part, "inlineData"), "data");

			if (b64)
				add_image(data, b64);
			else if (!text)
				text = get_str(part, "text");
		}
		if (!finish)
			finish = get_str(c, "finishReason");
	}
	if (cJSON_IsObject(um)) {
		cJSON *u = cJSON_AddObjectToObject(root, "usage");
		const cJSON *in = get(um, "promptTokenCount"), *o = get(um, "candidatesTokenCount");
		double n_in = cJSON_IsNumber(in) ? in->valuedouble : 0;
		double n_out = cJSON_IsNumber(o) ? o->valuedouble : 0;

		cJSON_AddNumberToObject(u, "input_tokens", n_in);
		cJSON_AddNumberToObject(u, "output_tokens", n_out);
		cJSON_AddNumberToObject(u, "total_tokens", n_in + n_out);
	}
	if (cJSON_GetArraySize(data) > 0)
		return print_free(root);
	cJSON_Delete(root);
	if (finish && strcmp(finish, "STOP") != 0 && strcmp(finish, "MAX_TOKENS") != 0) {
		msg = xasprintf("gemini returned no image (finishReason %s): content policy "
				"violation",
				finish);
		out = no_image(msg, true);
	} else {
		msg = xasprintf("gemini returned no image%s%.200s", text ? ", only text: " : "",
				text ? text : "");
		out = no_image(msg, false);
	}
	free(msg);
	return out;
}

char *gemini_image_answer(const cJSON *resp)
{
	const cJSON *preds = get(resp, "predictions");
	cJSON *root, *data;

	if (!cJSON_IsArray(preds) && !cJSON_IsArray(get(resp, "candidates")) &&
	    !(cJSON_IsObject(resp) && !resp->child))
		return NULL;
	root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "created", (double)time(NULL));
	data = cJSON_AddArrayToObject(root, "data");
	return cJSON_IsArray(get(resp, "candidates")) ? gemini_model_answer(resp, root, data)
						      : imagen_answer(preds, root, data);
}
