/* cli_ask: one blocking HTTP request from a CLI command to a running hermetic process (the
 * gateway's api.listen, the router's router.listen) on a private loop. Shared by `hermetic
 * pools` and `hermetic chat` through the gateway. */
#ifndef HERMETIC_CLI_ASK_H
#define HERMETIC_CLI_ASK_H

#include "core/config.h"
#include "net/httpc.h"

#include <stddef.h>

struct cli_ask {
	long status; /* 0 when no answer arrived */
	enum httpc_result res;
	char *body, *error; /* owned; "" when none */
};

struct cli_ask_opts {
	const char *key;		     /* sent as Authorization: Bearer; NULL = none */
	const char *const *headers;	     /* more header lines, NULL-terminated; NULL = none */
	const char *body;		     /* a JSON body (POST); NULL = GET */
	long timeout_ms, connect_timeout_ms; /* 0 = httpc's default */
	size_t max_response_bytes;
};

/* Asks http://<l><path> (a wildcard listen address, 0.0.0.0 or ::, is asked on loopback) and
 * fills out. 0 when the request ran (out->res says how it ended), -1 when it could not start;
 * out is filled either way and freed with cli_ask_finish. */
int cli_ask(const struct config_listen *l, const char *path, const struct cli_ask_opts *o,
	    struct cli_ask *out);
void cli_ask_finish(struct cli_ask *a);

#endif
