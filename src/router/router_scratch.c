/* router_scratch: upstream answers and stream chunks parsed into a static area instead of a
 * malloc and a free per node (the router's hot path, docs/numbers.md "governed"). Below every
 * other router file: it calls none of them.
 */
#include "router/router_int.h"
#include "core/json.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>

/* Upstream answers and stream chunks are parsed, read and deleted with no callback in
 * between: their nodes come from a static scratch area instead of a malloc and a free per
 * node and string (about a third of the parse). cJSON's hooks are global and changing them
 * races with every other thread's cJSON call (the cockpit's reads on offload threads,
 * cockpit/ui_read.c), so they are set once, in main before any thread exists
 * (router_scratch_install), and never again. Only a thread-local flag says when the area is
 * used: scratch_alloc takes from it on the thread inside a scratch parse or delete and calls
 * malloc everywhere else; scratch_free tells the area from malloc's memory by address. With
 * custom hooks cJSON does not realloc its print buffers (it allocates and copies): printing
 * grows them by doubling, so that costs a copy per doubling. */
#define SCRATCH_BYTES (16 * 1024)

static _Alignas(16) unsigned char scratch[SCRATCH_BYTES];
static size_t scratch_used;
static _Thread_local bool scratch_mine; /* this thread is in a scratch parse or delete */

static void *scratch_alloc(size_t n)
{
	void *p;

	if (!scratch_mine)
		return malloc(n);
	n = (n + 15) & ~(size_t)15;
	if (n > SCRATCH_BYTES - scratch_used)
		return malloc(n);
	p = scratch + scratch_used;
	scratch_used += n;
	return p;
}

static void scratch_free(void *p)
{
	if ((unsigned char *)p < scratch || (unsigned char *)p >= scratch + SCRATCH_BYTES)
		free(p);
}

void router_scratch_install(void)
{
	cJSON_Hooks h = {scratch_alloc, scratch_free};

	cJSON_InitHooks(&h);
}

/* Without router_scratch_install (unit tests, fuzz targets) the same calls use malloc. */
cJSON *router_parse_scratch(const char *s, size_t len)
{
	cJSON *root;

	scratch_mine = true;
	root = json_parse(s, len, 0, NULL);
	scratch_mine = false;
	return root;
}

void router_drop_scratch(cJSON *root)
{
	scratch_mine = true;
	cJSON_Delete(root);
	scratch_mine = false;
	scratch_used = 0;
}
