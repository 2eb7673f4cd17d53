/* Fuzz target of the redactor: any bytes, every detector and one lane regex, must never crash,
 * leak or read out of bounds; the output is NUL-terminated; and text without a '['
 * (so no placeholder of its own) is restored byte for byte: every builtin detector's match
 * fits REDACT_VALUE_MAX, so all of them are remembered. A stream's restoration (the redacted
 * text cut at a point chosen from the input, the first piece restored up to
 * redact_hold_from, the held tail with the rest) gives the same text as restoring it whole.
 * Input that is a JSON object also goes through router/redact_chat.c's walk (a router
 * client's request): redacted it prints, refused it names a member.
 * Build: meson setup -Dfuzz=true (tests/meson.build), or by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_redact.c src/core/redact.c src/core/util.c src/core/log.c \
 *     src/core/rotfile.c src/core/fileio.c src/router/redact_chat.c -lcjson -lmbedcrypto
 */
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/redact.h"
#include "router/redact_chat.h"

#include <cjson/cJSON.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void chat_request(const uint8_t *data, size_t size, const regex_t *re)
{
	struct redact_rules rules = {CONFIG_REDACT_EMAIL | CONFIG_REDACT_PHONE | CONFIG_REDACT_IP,
				     (regex_t *)re, 1};
	struct redact_map *m = redact_map_create();
	cJSON *req = cJSON_ParseWithLength((const char *)data, size);
	char param[64], *out;

	if (cJSON_IsObject(req)) {
		if (redact_chat_request(m, &rules, req, param, sizeof(param)) >= 0) {
			out = cJSON_PrintUnformatted(req);
			if (!out)
				abort();
			cJSON_free(out);
		} else if (!param[0] || !memchr(param, '\0', sizeof(param))) {
			abort();
		}
	}
	cJSON_Delete(req);
	redact_map_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static regex_t re;
	static bool compiled;
	const char *text = (const char *)data;
	struct redact_map *m = redact_map_create();
	size_t n, back_len, cut, a_len, b_len;
	char *out, *back, *a, *b;

	if (!compiled) {
		if (regcomp(&re, "MRN-[0-9]{6}", REG_EXTENDED) != 0)
			abort();
		compiled = true;
	}
	out = redact_text(m,
			  CONFIG_REDACT_EMAIL | CONFIG_REDACT_PHONE | CONFIG_REDACT_IBAN |
				  CONFIG_REDACT_CARD | CONFIG_REDACT_IP,
			  &re, 1, text, size, &n, NULL);
	if (out[n] != '\0')
		abort();
	back = redact_restore(m, out, n, &back_len);
	if (!memchr(data, '[', size) && (back_len != size || memcmp(back, data, size) != 0))
		abort();
	cut = redact_hold_from(out, size ? (size_t)data[0] * n / 255 : 0);
	a = redact_restore(m, out, cut, &a_len);
	b = redact_restore(m, out + cut, n - cut, &b_len);
	if (a_len + b_len != back_len || memcmp(a, back, a_len) != 0 ||
	    memcmp(b, back + a_len, b_len) != 0)
		abort();
	free(a);
	free(b);
	free(out);
	free(back);
	redact_map_destroy(m);
	chat_request(data, size, &re);
	return 0;
}
