/* router_scratch: upstream answers and stream chunks parsed into a static area instead of a
 * malloc and a free per node (the router's hot path, docs/numbers.md "governed"). Below every
 * other router file: it calls none of them.
 */
#include "router/router_int.h"
#include "core/json.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
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

/* A client's request lives longer: parsed when it arrives, read and edited by the admission,
 * the deployment's parameters and the provider, and deleted before its first attempt goes
 * out, usually a loop pass later, with other calls' requests parsed meanwhile. Its parse takes
 * its nodes from an area of its own (router_parse_call), the rest of them (a long prompt) and
 * every later edit's from malloc; nodes of an area are never freed one by one (scratch_free
 * knows them by address), the area is given back whole when the tree is deleted
 * (router_drop_call). That was 17 of the 26 mallocs of a plain request, and their frees
 * (callgrind, benchmarks/router/profile.sh). The lowest free area is taken, so the few in use
 * stay the same few pages. Loop-only, as the router is; under
 * AddressSanitizer no area is used, so a node read after its tree is gone is still caught. */
#define CALL_AREA_BYTES 4096

static _Alignas(16) unsigned char call_areas[ROUTER_CALL_AREAS][CALL_AREA_BYTES];
static uint32_t areas_in_use;		       /* bit i: call_areas[i] holds a call's request */
static _Thread_local unsigned char *area_base; /* this thread is in a call's parse */
static _Thread_local size_t area_used;

_Static_assert(ROUTER_CALL_AREAS == 32, "areas_in_use has a bit an area");

static void *bump(unsigned char *base, size_t *used, size_t cap, size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (n > cap - *used)
		return malloc(n);
	p = base + *used;
	*used += n;
	return p;
}

static void *scratch_alloc(size_t n)
{
	if (scratch_mine)
		return bump(scratch, &scratch_used, SCRATCH_BYTES, n);
	if (area_base)
		return bump(area_base, &area_used, CALL_AREA_BYTES, n);
	return malloc(n);
}

static void scratch_free(void *p)
{
	const unsigned char *b = p;

	if ((b < scratch || b >= scratch + SCRATCH_BYTES) &&
	    (b < call_areas[0] || b >= call_areas[0] + sizeof(call_areas)))
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

/* An area for a call's parse (its index + 1), or 0 when none is free. */
static unsigned char take_area(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 0;
#else
	int i;

	if (areas_in_use == UINT32_MAX)
		return 0;
	i = __builtin_ctz(~areas_in_use);
	areas_in_use |= 1u << i;
	return (unsigned char)(i + 1);
#endif
}

cJSON *router_parse_call(struct router_call *c, int flags, struct json_error *err)
{
	router_drop_call(c);
	c->area = take_area();
	if (c->area) {
		area_base = call_areas[c->area - 1];
		area_used = 0;
	}
	c->req = json_parse_span(c->body, c->body_len, flags, err, "model", &c->model_at,
				 &c->model_end);
	c->req_changed = false;
	area_base = NULL;
	if (!c->req)
		router_drop_call(c);
	return c->req;
}

void router_drop_call(struct router_call *c)
{
	cJSON_Delete(c->req);
	c->req = NULL;
	if (c->area)
		areas_in_use &= ~(1u << (c->area - 1));
	c->area = 0;
}

void router_req_drop(struct router_call *c, const char *name)
{
	router_req_drop_item(c, cJSON_GetObjectItemCaseSensitive(c->req, name));
}

void router_req_drop_item(struct router_call *c, cJSON *item)
{
	if (!item)
		return;
	cJSON_Delete(cJSON_DetachItemViaPointer(c->req, item));
	c->req_changed = true;
}
