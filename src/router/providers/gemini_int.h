/* gemini_int.h: private to providers/gemini*.c and providers/vertex.c's Gemini half: the
 * Gemini dialect's answer, stream and error translations (gemini_answer.c), its image
 * routes (gemini_image.c), and the small cJSON helpers its files share. */
#ifndef HERMETIC_GEMINI_INT_H
#define HERMETIC_GEMINI_INT_H

#include "router/providers/provider.h"
#include "core/json_exact.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Separates a tool call id from the thoughtSignature it carries (LiteLLM's marker). */
#define THOUGHT_SEP "__thought__"

static inline cJSON *get(const cJSON *obj, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static inline const char *get_str(const cJSON *obj, const char *name)
{
	const cJSON *v = get(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline bool str_is(const char *s, const char *want)
{
	return s && strcmp(s, want) == 0;
}

/* A cJSON_AddObjectToArray that cJSON lacks. */
static inline cJSON *add_object_to(cJSON *array)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddItemToArray(array, o);
	return o;
}

static inline char *print_free(cJSON *root)
{
	char *s = json_exact_print(root);

	cJSON_Delete(root);
	return s;
}

/* A GenerateContentResponse (or a batchEmbedContents answer) -> OpenAI's answer (malloc'd), NULL
 * when the body is neither. */
char *gemini_answer(const struct config_model *m, enum provider_route route, const char *body,
		    size_t len);

/* ---- gemini_image.c: /v1/images/generations ---- */

/* True when LiteLLM calls this model id as a Gemini image model (generateContent); else it is
 * Imagen (:predict). */
bool gemini_image_is_gemini(const char *upstream_model);

/* The body of an images call to upstream_model in out (body, body_len). Returns 0, or -EINVAL
 * with a message in err for a request that cannot be sent (no prompt, a bad n or size). */
int gemini_image_body(const char *upstream_model, const cJSON *req, struct provider_request *out,
		      char *err, size_t err_len);

/* A :predict or generateContent answer -> OpenAI's images answer (malloc'd), or OpenAI's error
 * JSON when it holds no image (filtered, text only); NULL when it is neither shape. A prompt
 * Gemini blocked (promptFeedback's blockReason) is gemini_answer's, before it calls this: calls
 * go one way, gemini_answer.c -> gemini_image.c. */
char *gemini_image_answer(const cJSON *resp);

/* Google's error body -> OpenAI's error JSON (malloc'd). */
char *gemini_error(long status, const char *body, size_t len);

/* The ?alt=sse stream decoder (provider_ops' stream_* contract). */
struct provider_stream *gemini_stream_create(const struct config_model *m, size_t max_event_bytes,
					     provider_emit_cb emit, void *arg);
int gemini_stream_feed(struct provider_stream *s, const char *data, size_t len);
void gemini_stream_destroy(struct provider_stream *s);

#endif
