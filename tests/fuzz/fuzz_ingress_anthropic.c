/* Fuzz target of ingress_anthropic: the input is an Anthropic Messages request; a translation
 * that succeeds must be JSON, a refusal must say why. The same bytes also go through the answer
 * translation and, as router SSE, through the stream state machine (fed in two pieces), whose
 * output must be whole Anthropic events. Never a crash, a leak or an out-of-bounds read.
 * Seeds: tests/fuzz/corpus/ingress_anthropic/. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/util.h"
#include "router/ingress_anthropic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const char *text, size_t size)
{
	struct ingress_anthropic_request r;
	char err[256] = "";
	cJSON *o;

	if (ingress_anthropic_request(text, size, &r, err, sizeof(err)) == 0) {
		o = cJSON_ParseWithLength(r.body, r.body_len);
		if (!cJSON_IsObject(o) || !r.model || ingress_anthropic_count_tokens(&r) < 1)
			abort();
		cJSON_Delete(o);
	} else if (!err[0] || r.body) {
		abort();
	}
	ingress_anthropic_request_finish(&r);
}

static void check_stream(const char *text, size_t size)
{
	struct ingress_anthropic_stream *s = ingress_anthropic_stream_create("m", 4096);
	struct buf out;
	size_t half = size / 2;

	buf_init(&out, 0);
	ingress_anthropic_stream_feed(s, text, half, &out);
	ingress_anthropic_stream_feed(s, text + half, size - half, &out);
	ingress_anthropic_stream_end(s, &out);
	/* every stream ends with message_stop or an error event */
	if (!ingress_anthropic_stream_over(s) || out.len < 2 ||
	    memcmp(buf_str(&out) + out.len - 2, "\n\n", 2) != 0)
		abort();
	buf_finish(&out);
	ingress_anthropic_stream_destroy(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char *answer;

	check_request(text, size);
	answer = ingress_anthropic_answer(text, size, "m");
	free(answer);
	check_stream(text, size);
	return 0;
}
