/* apiguard: the gateway API's refusal of browser-shaped requests, and whom a chat request
 * speaks for (an API client, or the owner's CLI).
 *
 * Any web page the user opens can send a POST to 127.0.0.1 and, through DNS rebinding (a name
 * of the attacker's that resolves to 127.0.0.1), read the answer: without api.key that is a
 * turn with tools. Such requests are told apart by what a browser cannot avoid sending: a
 * Host naming the attacker's domain, an Origin of another site, and (for a POST a page can
 * send without a CORS preflight) a Content-Type other than application/json. Every route of
 * the API but the probes (GET, nothing revealed; the kubelet sends Host: <pod IP>:<port>) goes
 * through apiguard_check; /metrics checks its Host in net/daemon.c with apiguard_host_ok added
 * (gateway.c), taking the pod's own address as well.
 */
#ifndef HERMETIC_APIGUARD_H
#define HERMETIC_APIGUARD_H

#include <stdbool.h>
#include <stddef.h>

struct config_api;
struct httpd_req;

/* Whether the Host header value names this server: a loopback name or address (localhost,
 * 127.0.0.0/8, [::1]; any port, so a port-forward works), api.listen's host when it is not a
 * wildcard, or a name of api.allowed_hosts ("*": any). host may be NULL (no header): false. */
bool apiguard_host_ok(const struct config_api *api, const char *host);
/* Whether an Origin header value is the server's own origin for host (http:// or https://
 * followed by host). NULL (no Origin: not a cross-origin browser request) is fine. */
bool apiguard_origin_ok(const char *origin, const char *host);
/* Whether a Content-Type header value is application/json (parameters allowed). */
bool apiguard_json_type(const char *content_type);

/* The session source of a POST /v1/chat/completions, into out (len >= name's bound + 16):
 * "api:<name>", or "cli:<name>" for the owner's CLI (owner_cli: the request said
 * X-Hermetic-Client: cli and carried the gateway's own api.key), with characters outside
 * [A-Za-z0-9._-@] turned into '_'. name NULL, empty or longer than max: a fresh session
 * "api:~<n>" ("cli:~<n>"). True when the session is a named (persistent) one. The prefix
 * gives the turn's rate pool class (pool_class_of): cli is interactive, api is api. */
bool apiguard_session_source(const char *name, size_t max, bool owner_cli, unsigned long long n,
			     char *out, size_t len);
/* Whether an X-Hermetic-Client header value is the owner's CLI: "cli", honoured only when
 * the gateway has an api.key (the request was let in with it). key NULL: never. */
bool apiguard_owner_cli(const char *client, const char *key);

/* The gate of one API request: true when it may go on; else it has been answered (403 for
 * Host or Origin, 415 for a POST that is not application/json) and false. */
bool apiguard_check(const struct config_api *api, struct httpd_req *req);

#endif
