/* mcp_roots: the roots a server is offered: paths become file:// URIs (percent-encoded), the
 * capability is declared only with roots, and roots/list's answer carries each name. */
#include "test.h"
#include "mcp/mcp_roots.h"
#include "core/config.h"

#include <stdlib.h>
#include <string.h>

static void paths_become_percent_encoded_file_uris(void **state)
{
	static const struct {
		const char *in, *out;
	} table[] = {
		{"/srv/data", "file:///srv/data"},
		{"/home/me/my project", "file:///home/me/my%20project"},
		{"/tmp/a#b?c%d", "file:///tmp/a%23b%3Fc%25d"},
		{"/tmp/\xc3\xa9t\xc3\xa9", "file:///tmp/%C3%A9t%C3%A9"},
		{"file:///already/a%20uri", "file:///already/a%20uri"},
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		char *uri = mcp_roots_uri(table[i].in);

		assert_string_equal(uri, table[i].out);
		free(uri);
	}
}

static void the_capability_and_the_answer_follow_the_config(void **state)
{
	struct config_mcp_root roots[] = {{.uri = "/srv/my data", .name = "data"},
					  {.uri = "file:///srv/code", .name = NULL}};
	struct config_mcp_server c = {0};
	cJSON *caps = cJSON_CreateObject();
	char *text;

	mcp_roots_capabilities(&c, caps);
	assert_null(cJSON_GetObjectItemCaseSensitive(caps, "roots"));
	c.roots = roots;
	c.n_roots = 2;
	mcp_roots_capabilities(&c, caps);
	text = cJSON_PrintUnformatted(caps);
	assert_string_equal(text, "{\"roots\":{\"listChanged\":false}}");
	free(text);
	cJSON_Delete(caps);
	text = mcp_roots_result(&c);
	assert_string_equal(text,
			    "{\"roots\":[{\"uri\":\"file:///srv/my%20data\",\"name\":\"data\"},"
			    "{\"uri\":\"file:///srv/code\"}]}");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(paths_become_percent_encoded_file_uris),
		cmocka_unit_test(the_capability_and_the_answer_follow_the_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
