/* router_scratch: a client's request is parsed into an area of its call's own
 * (router_parse_call), edited with malloc'd nodes beside the area's, and the area comes back
 * whole when the tree is dropped (router_drop_call). With cJSON's hooks installed as main
 * installs them. Under AddressSanitizer no area is used and the same trees come from malloc:
 * the assertions on areas hold only without it.
 */
#include "test.h"
#include "router/router_int.h"
#include "core/json.h"
#include "core/json_exact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define AREAS_USED 0
#else
#define AREAS_USED 1
#endif
#define AREAS ROUTER_CALL_AREAS

static const char BODY[] =
	"{\"model\":\"bench\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],"
	"\"max_tokens\":16,\"fallbacks\":[\"b\"],\"metadata\":{\"tag\":\"x\"}}";

static struct router_call *call_of(const char *body)
{
	struct router_call *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->body = strdup(body);
	c->body_len = strlen(body);
	return c;
}

static void call_free(struct router_call *c)
{
	router_drop_call(c);
	free(c->body);
	free(c);
}

static void assert_prints(const cJSON *root, const char *want)
{
	char *got = json_exact_print(root);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_a_parse_takes_an_area_that_the_drop_gives_back(void **state)
{
	(void)state;
	/* far more parses than areas, one at a time: an area is never lost */
	for (int i = 0; i < 10 * AREAS; i++) {
		struct router_call *c = call_of(BODY);

		assert_non_null(router_parse_call(c, JSON_EXACT, NULL));
		assert_int_equal(c->area != 0, AREAS_USED);
		assert_prints(c->req, BODY);
		router_drop_call(c);
		assert_null(c->req);
		assert_int_equal(c->area, 0);
		call_free(c);
	}
}

static void test_edits_after_the_parse_mix_malloc_and_area_nodes(void **state)
{
	struct router_call *c = call_of(BODY);
	cJSON *m;

	(void)state;
	assert_non_null(router_parse_call(c, JSON_EXACT, NULL));
	/* area nodes deleted one by one, a malloc'd one added, an area string replaced */
	cJSON_DeleteItemFromObjectCaseSensitive(c->req, "fallbacks");
	cJSON_Delete(cJSON_DetachItemFromObjectCaseSensitive(c->req, "metadata"));
	cJSON_AddStringToObject(c->req, "user", "u-1");
	m = cJSON_GetObjectItemCaseSensitive(c->req, "model");
	assert_non_null(cJSON_SetValuestring(m, "a-longer-model-name-than-the-area-held"));
	assert_prints(c->req, "{\"model\":\"a-longer-model-name-than-the-area-held\",\"messages\":"
			      "[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":16,"
			      "\"user\":\"u-1\"}");
	/* a second parse replaces the first tree, in the same call */
	assert_non_null(router_parse_call(c, JSON_EXACT, NULL));
	assert_prints(c->req, BODY);
	call_free(c);
}

static void test_calls_past_the_areas_parse_from_malloc_and_none_overwrites_another(void **state)
{
	enum { N = AREAS + 8 };
	struct router_call *c[N], *late;
	char bodies[N][96];
	int with_area = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(bodies[i], sizeof(bodies[i]),
			 "{\"model\":\"m%d\",\"messages\":[{\"role\":\"user\",\"content\":\"c%d\"}]"
			 "}",
			 i, i);
		c[i] = call_of(bodies[i]);
		assert_non_null(router_parse_call(c[i], JSON_EXACT, NULL));
		with_area += c[i]->area != 0;
	}
	assert_int_equal(with_area, AREAS_USED ? AREAS : 0);
	for (int i = 0; i < N; i++)
		assert_prints(c[i]->req, bodies[i]);
	/* one dropped and its area taken again: the others stay as they were */
	router_drop_call(c[3]);
	late = call_of(BODY);
	assert_non_null(router_parse_call(late, JSON_EXACT, NULL));
	assert_int_equal(late->area != 0, AREAS_USED);
	for (int i = 0; i < N; i++)
		if (i != 3)
			assert_prints(c[i]->req, bodies[i]);
	assert_prints(late->req, BODY);
	call_free(late);
	for (int i = 0; i < N; i++)
		call_free(c[i]);
}

static void test_a_body_past_the_area_and_a_body_not_json(void **state)
{
	struct buf body;
	struct router_call *c;

	(void)state;
	/* many members: the first nodes in the area, the rest from malloc */
	buf_init(&body, 0);
	buf_append(&body, "{", 1);
	for (int i = 0; body.len < 3 * 4096; i++)
		assert_int_equal(buf_printf(&body, "%s\"k%d\":[%d,\"v%d\"]", i ? "," : "", i, i, i),
				 0);
	buf_append(&body, "}", 1);
	c = call_of(body.data);
	assert_non_null(router_parse_call(c, JSON_EXACT, NULL));
	assert_prints(c->req, body.data);
	call_free(c);
	buf_finish(&body);
	/* not JSON: no tree, and the area is given back at once */
	c = call_of("{\"model\":");
	assert_null(router_parse_call(c, JSON_EXACT, NULL));
	assert_int_equal(c->area, 0);
	call_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_parse_takes_an_area_that_the_drop_gives_back),
		cmocka_unit_test(test_edits_after_the_parse_mix_malloc_and_area_nodes),
		cmocka_unit_test(
			test_calls_past_the_areas_parse_from_malloc_and_none_overwrites_another),
		cmocka_unit_test(test_a_body_past_the_area_and_a_body_not_json),
	};

	router_scratch_install(); /* as main does, before anything else uses cJSON */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
