/* mcp_roots: the roots a server is offered. A server entry's `roots:` become the answer to the
 * server's roots/list, each a file:// URI (a path in the config is turned into one, its bytes
 * other than unreserved ones and '/' percent-encoded) with its optional name. The capability
 * is declared only for a server that has roots, with listChanged false: the config does not
 * change while hermetic runs (nothing reloads it), so no notifications/roots/list_changed is
 * ever due. Rejected: offering the working directory by default (a server would learn of a
 * folder nobody chose to show it).
 */
#include "mcp/mcp_roots.h"
#include "core/config.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void mcp_roots_capabilities(const struct config_mcp_server *c, cJSON *caps)
{
	cJSON *r;

	if (!c->n_roots)
		return;
	r = cJSON_AddObjectToObject(caps, "roots");
	cJSON_AddBoolToObject(r, "listChanged", false);
}

char *mcp_roots_uri(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b;

	if (strncasecmp(path, "file://", 7) == 0)
		return xstrdup(path);
	buf_init(&b, 0);
	buf_puts(&b, "file://");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p)) {
			buf_append(&b, p, 1);
		} else {
			char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

			buf_append(&b, esc, 3);
		}
	}
	return buf_steal(&b);
}

char *mcp_roots_result(const struct config_mcp_server *c)
{
	cJSON *res = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(res, "roots");
	char *text;

	for (size_t i = 0; i < c->n_roots; i++) {
		cJSON *r = cJSON_CreateObject();
		char *uri = mcp_roots_uri(c->roots[i].uri);

		cJSON_AddStringToObject(r, "uri", uri);
		if (c->roots[i].name)
			cJSON_AddStringToObject(r, "name", c->roots[i].name);
		cJSON_AddItemToArray(arr, r);
		free(uri);
	}
	text = cJSON_PrintUnformatted(res);
	cJSON_Delete(res);
	return text;
}
