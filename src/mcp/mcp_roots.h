/* mcp_roots: the roots a server is offered (mcp_servers.NAME.roots): the `roots` client
 * capability and the answer to the server's roots/list. Pure (tests/test_mcp_roots.c). */
#ifndef HERMETIC_MCP_ROOTS_H
#define HERMETIC_MCP_ROOTS_H

#include <cjson/cJSON.h>

struct config_mcp_server;

/* Adds `roots` to caps when c has roots; none: nothing (the server then never asks). */
void mcp_roots_capabilities(const struct config_mcp_server *c, cJSON *caps);
/* roots/list's result for c, a JSON object text (malloc'd): each root as a file:// URI (a
 * path percent-encoded), with its name when it has one. */
char *mcp_roots_result(const struct config_mcp_server *c);
/* path (absolute) as a file:// URI (malloc'd): bytes other than unreserved ones and '/'
 * percent-encoded (RFC 8089, RFC 3986). A file:// URI is returned as it is. */
char *mcp_roots_uri(const char *path);

#endif
