/* gemini image: /v1/images/generations on gemini/ and vertex_ai/ deployments, as LiteLLM maps
 * it (litellm/llms/gemini/image_generation/transformation.py, litellm/llms/vertex_ai/
 * image_generation/vertex_{imagen,gemini}_transformation.py): which method a model is called
 * with (Imagen's :predict, a Gemini image model's generateContent), the body for each OpenAI
 * request (n, size through LiteLLM's aspect-ratio table), the requests that cannot be sent,
 * and the answers back in OpenAI's images shape: images, usage, and the answers without an
 * image (filtered, blocked, text only) as OpenAI's errors.
 */
#include "test.h"
#include "router/providers/provider.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct config_model model(enum provider_dialect d, const char *id)
{
	struct config_model m;

	memset(&m, 0, sizeof(m));
	m.model_name = "img";
	m.dialect = d;
	m.upstream_model = (char *)id;
	if (d == DIALECT_VERTEX) {
		m.provider = "vertex_ai";
		m.litellm_params.api_base = "https://us-central1-aiplatform.googleapis.com";
		m.litellm_params.vertex_project = "proj-1";
		m.litellm_params.vertex_location = "us-central1";
	} else {
		m.provider = "gemini";
		m.litellm_params.api_base = "https://generativelanguage.googleapis.com";
	}
	return m;
}

#define AI_STUDIO "https://generativelanguage.googleapis.com/v1beta/models/"
#define VERTEX                                                                                     \
	"https://us-central1-aiplatform.googleapis.com/v1/projects/proj-1/locations/us-central1/"  \
	"publishers/google/models/"

static const struct {
	enum provider_dialect dialect;
	const char *model;
	const char *req;
	const char *url;  /* NULL: refused */
	const char *body; /* the body sent, or a piece of the error */
} requests[] = {
	/* Imagen: instances + parameters, sampleCount 1 unless n says otherwise */
	{DIALECT_GEMINI, "imagen-4.0-generate-001", "{\"prompt\":\"an otter\"}",
	 AI_STUDIO "imagen-4.0-generate-001:predict",
	 "{\"instances\":[{\"prompt\":\"an otter\"}],\"parameters\":{\"sampleCount\":1}}"},
	{DIALECT_GEMINI, "imagen-4.0-generate-001",
	 "{\"prompt\":\"an otter\",\"n\":3,\"size\":\"1792x1024\",\"quality\":\"hd\"}",
	 AI_STUDIO "imagen-4.0-generate-001:predict",
	 "{\"instances\":[{\"prompt\":\"an otter\"}],\"parameters\":{\"sampleCount\":3,"
	 "\"aspectRatio\":\"16:9\"}}"},
	/* a size LiteLLM's table does not list is 1:1 */
	{DIALECT_GEMINI, "imagen-3.0-generate-002", "{\"prompt\":\"p\",\"size\":\"512x512\"}",
	 AI_STUDIO "imagen-3.0-generate-002:predict",
	 "{\"instances\":[{\"prompt\":\"p\"}],\"parameters\":{\"sampleCount\":1,"
	 "\"aspectRatio\":\"1:1\"}}"},
	/* a Gemini image model: generateContent, IMAGE only, n as candidateCount */
	{DIALECT_GEMINI, "gemini-2.5-flash-image",
	 "{\"prompt\":\"a banana\",\"n\":2,\"size\":\"1024x1792\"}",
	 AI_STUDIO "gemini-2.5-flash-image:generateContent",
	 "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"a banana\"}]}],"
	 "\"generationConfig\":{\"responseModalities\":[\"IMAGE\"],\"imageConfig\":"
	 "{\"aspectRatio\":\"9:16\"},\"candidateCount\":2}}"},
	/* Vertex: the same bodies under the project's publishers/google URL */
	{DIALECT_VERTEX, "imagen-3.0-generate-002", "{\"prompt\":\"p\",\"size\":\"896x1280\"}",
	 VERTEX "imagen-3.0-generate-002:predict",
	 "{\"instances\":[{\"prompt\":\"p\"}],\"parameters\":{\"sampleCount\":1,"
	 "\"aspectRatio\":\"3:4\"}}"},
	{DIALECT_VERTEX, "gemini-3-pro-image-preview", "{\"prompt\":\"p\"}",
	 VERTEX "gemini-3-pro-image-preview:generateContent",
	 "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"p\"}]}],"
	 "\"generationConfig\":{\"responseModalities\":[\"IMAGE\"]}}"},
	/* what cannot be sent */
	{DIALECT_GEMINI, "imagen-4.0-generate-001", "{\"prompt\":7}", NULL,
	 "prompt must be a string"},
	{DIALECT_GEMINI, "imagen-4.0-generate-001", "{\"prompt\":\"p\",\"n\":11}", NULL,
	 "n must be an integer from 1 to 10"},
	{DIALECT_GEMINI, "imagen-4.0-generate-001", "{\"prompt\":\"p\",\"n\":1.5}", NULL,
	 "n must be an integer from 1 to 10"},
	{DIALECT_VERTEX, "imagen-3.0-generate-002", "{\"prompt\":\"p\",\"size\":[1]}", NULL,
	 "size must be a string"},
};

static void requests_map_as_litellm_maps_them(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(requests); i++) {
		struct config_model m = model(requests[i].dialect, requests[i].model);
		struct provider_request out = {0};
		cJSON *req = json_exact_parse(requests[i].req, strlen(requests[i].req));
		char err[256] = "";
		int rc = provider_ops_of(m.dialect)->build(&m, PROVIDER_IMAGES, req, false, &out,
							   err, sizeof(err));

		if (!requests[i].url) {
			if (rc == 0 || !strstr(err, requests[i].body))
				fail_msg("row %zu: rc %d, err '%s'", i, rc, err);
		} else {
			cJSON *got = rc == 0 ? json_exact_parse(out.body, out.body_len) : NULL;
			cJSON *want = json_exact_parse(requests[i].body, strlen(requests[i].body));

			if (rc != 0 || !cJSON_Compare(got, want, true) ||
			    strcmp(out.url, requests[i].url) != 0)
				fail_msg("row %zu: rc %d (%s)\n url  %s\n body %s", i, rc, err,
					 out.url ? out.url : "", out.body ? out.body : "");
			cJSON_Delete(got);
			cJSON_Delete(want);
		}
		provider_request_finish(&out);
		cJSON_Delete(req);
	}
}

static const struct {
	const char *answer;
	const char *data;  /* the answer's data, or NULL: an error */
	const char *usage; /* the answer's usage, or NULL: none */
	const char *error; /* a piece of the error's message, and its code */
	const char *code;
} answers[] = {
	/* Imagen's predictions, each bytesBase64Encoded; a filtered one is left out */
	{"{\"predictions\":[{\"mimeType\":\"image/png\",\"bytesBase64Encoded\":\"QUJD\"},"
	 "{\"raiFilteredReason\":\"filtered\"},{\"bytesBase64Encoded\":\"REVG\"}]}",
	 "[{\"b64_json\":\"QUJD\"},{\"b64_json\":\"REVG\"}]", NULL, NULL, NULL},
	/* all taken by the safety filters: {} (or reasons only) */
	{"{}", NULL, NULL, "imagen returned no image", "content_policy_violation"},
	{"{\"predictions\":[{\"raiFilteredReason\":\"Your current safety filter threshold "
	 "filtered out 1 generated images\"}]}",
	 NULL, NULL, "filtered out 1 generated images", "content_policy_violation"},
	/* a Gemini image model's inlineData parts, text parts left out, usageMetadata as usage */
	{"{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Here\"},"
	 "{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"R0lG\"}}]},\"finishReason\":"
	 "\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9,"
	 "\"candidatesTokenCount\":1290,\"totalTokenCount\":1299},\"modelVersion\":"
	 "\"gemini-2.5-flash-image\"}",
	 "[{\"b64_json\":\"R0lG\"}]",
	 "{\"input_tokens\":9,\"output_tokens\":1290,\"total_tokens\":1299}", NULL, NULL},
	{"{\"candidates\":[{\"finishReason\":\"IMAGE_SAFETY\",\"index\":0}]}", NULL, NULL,
	 "finishReason IMAGE_SAFETY", "content_policy_violation"},
	{"{\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"}}", NULL, NULL,
	 "blockReason PROHIBITED_CONTENT", "content_policy_violation"},
	{"{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"I cannot draw that.\"}]},"
	 "\"finishReason\":\"STOP\"}]}",
	 NULL, NULL, "no image, only text: I cannot draw that.", NULL},
	/* neither shape */
	{"{\"foo\":1}", NULL, NULL, NULL, NULL},
};

static void answers_come_back_as_openai_images(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(answers); i++) {
		struct config_model m = model(DIALECT_GEMINI, "imagen-4.0-generate-001");
		char *text = provider_gemini.answer(&m, PROVIDER_IMAGES, answers[i].answer,
						    strlen(answers[i].answer));
		cJSON *got = text ? json_exact_parse(text, strlen(text)) : NULL;
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(got, "error");

		if (!answers[i].data && !answers[i].error) {
			if (text)
				fail_msg("row %zu: not an answer, yet translated: %s", i, text);
			continue;
		}
		if (answers[i].data) {
			cJSON *want = json_exact_parse(answers[i].data, strlen(answers[i].data));
			cJSON *u = answers[i].usage ? json_exact_parse(answers[i].usage,
								       strlen(answers[i].usage))
						    : NULL;

			if (!got ||
			    !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(got, "data"), want,
					   true) ||
			    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(got, "created")) ||
			    (u && !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(got, "usage"), u,
						 true)) ||
			    (!u && cJSON_GetObjectItemCaseSensitive(got, "usage")))
				fail_msg("row %zu: %s", i, text ? text : "(null)");
			cJSON_Delete(want);
			cJSON_Delete(u);
		} else {
			const char *msg = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(e, "message"));
			const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");

			if (!msg || !strstr(msg, answers[i].error) ||
			    (answers[i].code ? !cJSON_IsString(code) ||
						       strcmp(code->valuestring, answers[i].code)
					     : !cJSON_IsNull(code)))
				fail_msg("row %zu: %s", i, text ? text : "(null)");
		}
		cJSON_Delete(got);
		free(text);
	}
}

/* A chat call to the same deployment still reads a generateContent answer as a chat. */
static void a_chat_answer_is_not_read_as_images(void **state)
{
	struct config_model m = model(DIALECT_GEMINI, "gemini-2.5-flash-image");
	const char *body = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]},"
			   "\"finishReason\":\"STOP\"}]}";
	char *text = provider_gemini.answer(&m, PROVIDER_CHAT, body, strlen(body));

	(void)state;
	assert_non_null(text);
	assert_non_null(strstr(text, "\"chat.completion\""));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(requests_map_as_litellm_maps_them),
		cmocka_unit_test(answers_come_back_as_openai_images),
		cmocka_unit_test(a_chat_answer_is_not_read_as_images),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
