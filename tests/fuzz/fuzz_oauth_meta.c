/* Fuzz target of the network-fed parsers of MCP's OAuth (mcp/oauth_meta.c): the first byte
 * picks which one reads the rest: a WWW-Authenticate challenge, protected resource metadata,
 * authorization server metadata, a redirect's query, or a token answer. None may crash, leak
 * or read out of bounds; what they return must be NUL-terminated strings that fit the input.
 * Build (seeds in tests/fuzz/corpus/oauth_meta/; or meson's -Dfuzz=true, run-all.sh lane E):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     -I/usr/include/cjson tests/fuzz/fuzz_oauth_meta.c src/mcp/oauth_meta.c src/core/util.c \
 *     src/core/json.c src/core/json_exact.c src/core/log.c src/core/redact.c \
 *     src/core/rotfile.c src/core/fileio.c -lmbedcrypto -lcjson -lm -lpthread
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/oauth_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fits(const char *s, size_t size)
{
	if (s && strlen(s) > size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, err[256];
	unsigned which;

	if (size < 1)
		return 0;
	which = data[0] % 5;
	text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (which) {
	case 0: {
		struct oauth_challenge c;

		oauth_challenge_parse(text, &c);
		fits(c.scope, size);
		fits(c.resource_metadata, size);
		oauth_challenge_finish(&c);
		break;
	}
	case 1: {
		struct oauth_prm p;

		if (oauth_prm_parse(text, size - 1, &p, err, sizeof(err)) == 0)
			fits(p.scopes, size);
		oauth_prm_finish(&p);
		break;
	}
	case 2: {
		struct oauth_as a;

		if (oauth_as_parse(text, size - 1, &a, err, sizeof(err)) == 0) {
			char *s = oauth_pick_scope(NULL, NULL, a.scopes, a.scopes, true);

			free(s);
		}
		oauth_as_finish(&a);
		break;
	}
	case 3: {
		struct oauth_redirect r;

		if (oauth_redirect_parse(text, &r) == 0) {
			fits(r.code, size);
			oauth_redirect_check(&r, "state", "http://as", true, err, sizeof(err));
		}
		oauth_redirect_finish(&r);
		break;
	}
	default: {
		struct oauth_token t;

		oauth_token_parse(200, text, size - 1, &t, err, sizeof(err));
		oauth_token_finish(&t);
		break;
	}
	}
	free(text);
	return 0;
}
