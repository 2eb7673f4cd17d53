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
char *gemini_answer(const struct config_model *m, const char *body, size_t len);

/* Google's error body -> OpenAI's error JSON (malloc'd). */
char *gemini_error(long status, const char *body, size_t len);

/* The ?alt=sse stream decoder (provider_ops' stream_* contract). */
struct provider_stream *gemini_stream_create(const struct config_model *m, size_t max_event_bytes,
					     provider_emit_cb emit, void *arg);
int gemini_stream_feed(struct provider_stream *s, const char *data, size_t len);
void gemini_stream_destroy(struct provider_stream *s);

#endif
