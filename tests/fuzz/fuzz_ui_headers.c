/* Fuzz target of the cockpit's small parsers of request text: the Cookie header
 * (uiauth_cookie_value, and a session lookup through it), the query string (ui_query_param),
 * If-None-Match (ui_etag_match) and ui.password_hash (pwhash_parse; a valid one is not
 * verified: PBKDF2's work is not what is fuzzed). None may crash or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cockpit/ui.h"
#include "cockpit/uiauth.h"
#include "core/pwhash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct uiauth *a;
	char *s = malloc(size + 1), out[80];
	struct pwhash hash;

	if (!a) {
		char id[UIAUTH_TOKEN_LEN + 1], csrf[UIAUTH_TOKEN_LEN + 1];

		/* One live session, so that a cookie of the right length reaches the compare. */
		a = uiauth_create(60000, 5);
		if (uiauth_session_new(a, 0, id, csrf) < 0)
			abort();
	}
	memcpy(s, data, size);
	s[size] = '\0';
	(void)uiauth_cookie_value(s, UIAUTH_COOKIE, out, sizeof(out));
	(void)uiauth_session_csrf(a, s, false, 1);
	(void)uiauth_csrf_ok(a, s, true, s, 1);
	{
		struct netaddr_net proxy = {.bits = 0}; /* every peer a proxy: the walk runs */
		struct netaddr peer = {{0}}, client;

		uiauth_client(&peer, s, &proxy, 1, &client);
	}
	(void)ui_query_param(s, "q", out, sizeof(out));
	(void)ui_query_param(s, "id", out, 4);
	(void)ui_query_param(s, "q", NULL, 0);
	(void)ui_etag_match(s, "\"0123456789abcdef0123456789abcdef\"");
	(void)pwhash_parse(s, &hash, NULL);
	free(s);
	return 0;
}
