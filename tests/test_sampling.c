/* sampling: what a server's sampling/createMessage becomes for the router, and the router's
 * answer for the server (gateway/sampling.c). */
#include "test.h"
#include "gateway/sampling.h"
#include "core/config.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static char *allowed[] = {"smart", "cheap"};
static char *lane_servers[] = {"github"};

static void setup(struct config *cfg, struct config_lane *lane, struct config_mcp_server *srv)
{
	memset(cfg, 0, sizeof(*cfg));
	memset(srv, 0, sizeof(*srv));
	memset(lane, 0, sizeof(*lane));
	cfg->model = "free";
	lane->name = "work";
	lane->mcp_servers = lane_servers;
	lane->n_mcp_servers = 1;
	cfg->lanes = lane;
	cfg->n_lanes = 1;
	srv->name = "github";
	srv->sampling_enabled = true;
	srv->sampling_max_tokens_cap = 100;
	srv->sampling_allowed_models = allowed;
	srv->n_sampling_allowed_models = 2;
}

static void requests_become_chat_bodies_or_say_what_is_wrong(void **state)
{
	static const struct {
		const char *params, *body, *model, *why;
	} table[] = {
		/* the system prompt first, text as a part, maxTokens cut to the cap */
		{"{\"systemPrompt\":\"Be "
		 "brief.\",\"maxTokens\":500,\"messages\":[{\"role\":\"user\","
		 "\"content\":{\"type\":\"text\",\"text\":\"hi\"}}]}",
		 "{\"model\":\"free\",\"messages\":[{\"role\":\"system\",\"content\":\"Be "
		 "brief.\"},"
		 "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}],"
		 "\"max_tokens\":100}",
		 "free", NULL},
		/* a hint counts when allowed (the first allowed one), else the configured model */
		{"{\"maxTokens\":5,\"modelPreferences\":{\"hints\":[{\"name\":\"gpt-5\"},{\"name\":"
		 "\"cheap\"}]},\"temperature\":0.5,\"stopSequences\":[\"END\"],\"messages\":["
		 "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{"
		 "\"type\":"
		 "\"image\",\"data\":\"QUJD\",\"mimeType\":\"image/png\"}]}]}",
		 "{\"model\":\"cheap\",\"messages\":[{\"role\":\"assistant\",\"content\":[{"
		 "\"type\":"
		 "\"text\",\"text\":\"a\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
		 "\"data:image/png;base64,QUJD\"}}]}],\"max_tokens\":5,\"temperature\":0.5,"
		 "\"stop\":[\"END\"]}",
		 "cheap", NULL},
		{"{\"maxTokens\":5,\"modelPreferences\":{\"hints\":[{\"name\":\"gpt-5\"}]},"
		 "\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":\"x\"}}]"
		 "}",
		 NULL, "free", NULL},
		{"{\"maxTokens\":5,\"messages\":[{\"role\":\"system\",\"content\":{\"type\":"
		 "\"text\","
		 "\"text\":\"x\"}}]}",
		 NULL, NULL, "a message's role must be user or assistant"},
		{"{\"maxTokens\":5,\"messages\":[{\"role\":\"user\",\"content\":{\"type\":"
		 "\"audio\","
		 "\"data\":\"x\",\"mimeType\":\"audio/wav\"}}]}",
		 NULL, NULL, "audio and tool use are not answered"},
		{"{\"maxTokens\":5,\"tools\":[],\"messages\":[{\"role\":\"user\",\"content\":{"
		 "\"type\":"
		 "\"text\",\"text\":\"x\"}}]}",
		 NULL, NULL, "tools in sampling are not answered"},
		{"{\"maxTokens\":5,\"temperature\":3,\"messages\":[{\"role\":\"user\",\"content\":"
		 "{\"type\":\"text\",\"text\":\"x\"}}]}",
		 NULL, NULL, "temperature must be a number from 0 to 2"},
		{"{\"maxTokens\":5,\"stopSequences\":[\"a\",\"b\",\"c\",\"d\",\"e\"],\"messages\":["
		 "{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":\"x\"}}]}",
		 NULL, NULL, "stopSequences must be a list of at most 4 strings"},
	};
	struct config cfg;
	struct config_lane lane;
	struct config_mcp_server srv;
	char err[200], *body, *model;

	setup(&cfg, &lane, &srv);
	for (size_t i = 0; i < ARRAY_LEN(table); i++) {
		int rc =
			sampling_body(&cfg, &srv, table[i].params, &body, &model, err, sizeof(err));

		if (table[i].why) {
			if (rc != -EINVAL || !strstr(err, table[i].why))
				fail_msg("case %zu: rc %d, \"%s\" lacks \"%s\"", i, rc, err,
					 table[i].why);
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu: %s", i, err);
		if (table[i].body && strcmp(body, table[i].body) != 0)
			fail_msg("case %zu: %s", i, body);
		assert_string_equal(model, table[i].model);
		free(body);
		free(model);
	}
}

static void the_configured_model_wins_over_the_agents(void **state)
{
	struct config cfg;
	struct config_lane lane;
	struct config_mcp_server srv;
	char err[200], *body, *model;

	setup(&cfg, &lane, &srv);
	srv.sampling_model = "smart";
	assert_int_equal(sampling_body(&cfg, &srv,
				       "{\"maxTokens\":5,\"messages\":[{\"role\":\"user\","
				       "\"content\":{\"type\":\"text\",\"text\":\"x\"}}]}",
				       &body, &model, err, sizeof(err)),
			 0);
	assert_string_equal(model, "smart");
	free(body);
	free(model);
}

static void answers_become_create_message_results(void **state)
{
	static const struct {
		const char *body, *result, *why;
	} table[] = {
		{"{\"choices\":[{\"message\":{\"content\":\"Paris\"},\"finish_reason\":\"stop\"}]}",
		 "{\"role\":\"assistant\",\"content\":{\"type\":\"text\",\"text\":\"Paris\"},"
		 "\"model\":\"cheap\",\"stopReason\":\"endTurn\"}",
		 NULL},
		{"{\"choices\":[{\"message\":{\"content\":\"Par\"},\"finish_reason\":\"length\"}]}",
		 "{\"role\":\"assistant\",\"content\":{\"type\":\"text\",\"text\":\"Par\"},"
		 "\"model\":\"cheap\",\"stopReason\":\"maxTokens\"}",
		 NULL},
		{"{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":[]}}]}", NULL,
		 "the model answered no text"},
		{"not json", NULL, "the model answered no text"},
	};
	char err[200], *out;

	for (size_t i = 0; i < ARRAY_LEN(table); i++) {
		int rc = sampling_result(table[i].body, strlen(table[i].body), "cheap", &out, err,
					 sizeof(err));

		if (table[i].result) {
			assert_int_equal(rc, 0);
			assert_string_equal(out, table[i].result);
			free(out);
		} else {
			assert_int_equal(rc, -EINVAL);
			assert_string_equal(err, table[i].why);
		}
	}
}

static void the_servers_lane_is_the_one_that_lists_it(void **state)
{
	struct config cfg;
	struct config_lane lane;
	struct config_mcp_server srv;

	setup(&cfg, &lane, &srv);
	assert_string_equal(sampling_lane(&cfg, "github"), "work");
	assert_null(sampling_lane(&cfg, "linear"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(requests_become_chat_bodies_or_say_what_is_wrong),
		cmocka_unit_test(the_configured_model_wins_over_the_agents),
		cmocka_unit_test(answers_become_create_message_results),
		cmocka_unit_test(the_servers_lane_is_the_one_that_lists_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
