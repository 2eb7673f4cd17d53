/* lane: the lane decision (router/lane.c) as tables: which sources raise a call to which lane,
 * that a lane never falls, why it was decided, and which model groups a lane may reach.
 */
#include "test.h"
#include "router/lane.h"

#include <string.h>

static char *private_models[] = {"strong-private", "local"};
static char *private_chats[] = {"-1001234567890", "-1001234567891:7"};
static char *private_skills[] = {"client-notes"};
static char *private_mcp[] = {"crm"};
static char *private_keys[] = {"clinic-scripts"};
static char *deid_models[] = {"cheap", "local"};
static char *deid_chats[] = {"-1001234567891", "555"};
static char *deid_skills[] = {"case-notes", "client-notes"};
static char *deid_mcp[] = {"wiki"};
static char *deid_keys[] = {"research"};

static const struct config_lane lanes[] = {
	{.name = "private",
	 .models = private_models,
	 .n_models = 2,
	 .chats = private_chats,
	 .n_chats = 2,
	 .skills = private_skills,
	 .n_skills = 1,
	 .mcp_servers = private_mcp,
	 .n_mcp_servers = 1,
	 .keys = private_keys,
	 .n_keys = 1},
	{.name = "deidentified",
	 .models = deid_models,
	 .n_models = 2,
	 .chats = deid_chats,
	 .n_chats = 2,
	 .skills = deid_skills,
	 .n_skills = 2,
	 .mcp_servers = deid_mcp,
	 .n_mcp_servers = 1,
	 .keys = deid_keys,
	 .n_keys = 1},
};

#define P 0
#define D 1
#define N LANE_NONE

struct decide_case {
	const char *name;
	int current, asked;
	const char *chat, *topic, *key;
	const char *skills[3];
	const char *mcp[3];
	int want;
	const char *why;
};

static const struct decide_case decide_cases[] = {
	{"nothing read: no lane", N, N, NULL, NULL, NULL, {0}, {0}, N, ""},
	{"an unlisted chat: no lane", N, N, "42", NULL, NULL, {0}, {0}, N, ""},
	{"a listed chat", N, N, "-1001234567890", NULL, NULL, {0}, {0}, P, "chat -1001234567890"},
	{"a listed chat covers its topics",
	 N,
	 N,
	 "-1001234567890",
	 "3",
	 NULL,
	 {0},
	 {0},
	 P,
	 "chat -1001234567890:3"},
	{"chat:topic: only that topic is private",
	 N,
	 N,
	 "-1001234567891",
	 "7",
	 NULL,
	 {0},
	 {0},
	 P,
	 "chat -1001234567891:7"},
	{"chat:topic: the chat's other topics are in the lane of the bare chat",
	 N,
	 N,
	 "-1001234567891",
	 "8",
	 NULL,
	 {0},
	 {0},
	 D,
	 "chat -1001234567891:8"},
	{"a chat id that is a prefix of a listed one does not match",
	 N,
	 N,
	 "-100123456789",
	 NULL,
	 NULL,
	 {0},
	 {0},
	 N,
	 ""},
	{"a listed chat with a longer id does not match",
	 N,
	 N,
	 "5555",
	 NULL,
	 NULL,
	 {0},
	 {0},
	 N,
	 ""},
	{"a skill raises", N, N, "42", NULL, NULL, {"case-notes"}, {0}, D, "skill case-notes"},
	{"a skill in two lanes: the first (most sensitive) wins",
	 N,
	 N,
	 NULL,
	 NULL,
	 NULL,
	 {"client-notes"},
	 {0},
	 P,
	 "skill client-notes"},
	{"an MCP server raises", N, N, NULL, NULL, NULL, {0}, {"crm"}, P, "mcp crm"},
	{"two sources: the more sensitive wins",
	 N,
	 N,
	 "555",
	 NULL,
	 NULL,
	 {0},
	 {"wiki", "crm"},
	 P,
	 "mcp crm"},
	{"a pinned key", N, N, NULL, NULL, "clinic-scripts", {0}, {0}, P, "key clinic-scripts"},
	{"an unpinned key", N, N, NULL, NULL, "other", {0}, {0}, N, ""},
	{"the session's lane stays", P, N, "555", NULL, NULL, {0}, {0}, P, "session"},
	{"the session's lane never falls to a chat's lower one",
	 P,
	 N,
	 "555",
	 NULL,
	 NULL,
	 {"case-notes"},
	 {0},
	 P,
	 "session"},
	{"asked (/lane or metadata) raises", N, D, NULL, NULL, NULL, {0}, {0}, D, "asked"},
	{"asked cannot lower what the key pinned",
	 N,
	 D,
	 NULL,
	 NULL,
	 "clinic-scripts",
	 {0},
	 {0},
	 P,
	 "key clinic-scripts"},
	{"asked above the session raises it", D, P, NULL, NULL, NULL, {0}, {0}, P, "asked"},
	{"a source above the session raises it",
	 D,
	 N,
	 NULL,
	 NULL,
	 NULL,
	 {0},
	 {"crm"},
	 P,
	 "mcp crm"},
	{"an index out of range is ignored", 7, 9, NULL, NULL, NULL, {0}, {0}, N, ""},
};

static size_t count(const char *const *v, size_t cap)
{
	size_t n = 0;

	while (n < cap && v[n])
		n++;
	return n;
}

static void test_decide_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
		const struct decide_case *k = &decide_cases[i];
		struct lane_sources s = {.current = k->current,
					 .asked = k->asked,
					 .chat = k->chat,
					 .topic = k->topic,
					 .key_alias = k->key,
					 .skills = k->skills,
					 .n_skills = count(k->skills, 3),
					 .mcp_servers = k->mcp,
					 .n_mcp_servers = count(k->mcp, 3)};
		char why[64];
		int got = lane_decide(lanes, 2, &s, why, sizeof(why));

		if (got != k->want || strcmp(why, k->why) != 0)
			fail_msg("%s: lane %d why \"%s\", want %d \"%s\"", k->name, got, why,
				 k->want, k->why);
	}
}

static void test_decide_with_no_lanes_is_no_lane(void **state)
{
	const char *skills[] = {"client-notes"};
	struct lane_sources s = {.current = N,
				 .asked = N,
				 .chat = "-1001234567890",
				 .skills = skills,
				 .n_skills = 1};

	(void)state;
	assert_int_equal(lane_decide(NULL, 0, &s, NULL, 0), N);
}

static void test_decide_truncates_why_safely(void **state)
{
	struct lane_sources s = {.current = N, .asked = N, .chat = "-1001234567890"};
	char why[6];

	(void)state;
	assert_int_equal(lane_decide(lanes, 2, &s, why, sizeof(why)), P);
	assert_string_equal(why, "chat ");
}

struct allow_case {
	int lane;
	const char *group;
	bool want;
};

static const struct allow_case allow_cases[] = {
	{N, "cheap", true},  {N, "anything", true},	   {P, "strong-private", true},
	{P, "local", true},  {P, "cheap", false},	   {P, "strong-private-2", false},
	{D, "cheap", true},  {D, "strong-private", false}, {D, NULL, false},
	{5, "cheap", false}, {-2, "cheap", false},
};

static void test_allows_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(allow_cases) / sizeof(allow_cases[0]); i++) {
		const struct allow_case *k = &allow_cases[i];

		if (lane_allows(lanes, 2, k->lane, k->group) != k->want)
			fail_msg("lane %d group %s: want %d", k->lane, k->group ? k->group : "NULL",
				 k->want);
	}
}

/* Which groups serve a call that chose a group: its lane's, in the order `models:` lists them,
 * the chosen one first when the lane has it; never a group outside the lane. */
struct route_case {
	const char *name;
	int lane;
	const char *chosen;
	size_t cap;
	const char *want[4];
};

static const struct route_case route_cases[] = {
	{"no lane: the chosen group alone", N, "cloud", 8, {"cloud"}},
	{"no lane, nothing chosen: nothing", N, NULL, 8, {NULL}},
	{"outside the lane: the lane's groups in order",
	 P,
	 "cloud",
	 8,
	 {"strong-private", "local"}},
	{"the lane's first group: as listed", P, "strong-private", 8, {"strong-private", "local"}},
	{"the lane's second group: first, then the rest",
	 P,
	 "local",
	 8,
	 {"local", "strong-private"}},
	{"another lane's group is outside too", D, "strong-private", 8, {"cheap", "local"}},
	{"nothing chosen in a lane: the lane's groups", D, NULL, 8, {"cheap", "local"}},
	{"capped", P, "cloud", 1, {"strong-private"}},
	{"a lane out of range: nothing", 5, "cloud", 8, {NULL}},
	{"a negative lane out of range: nothing", -2, "local", 8, {NULL}},
	{"no room: nothing", P, "local", 0, {NULL}},
};

static void test_route_table(void **state)
{
	size_t i, j, got, want;

	(void)state;
	for (i = 0; i < sizeof(route_cases) / sizeof(route_cases[0]); i++) {
		const struct route_case *k = &route_cases[i];
		const char *out[8] = {0};

		got = lane_route(lanes, 2, k->lane, k->chosen, out, k->cap);
		for (want = 0; want < 4 && k->want[want]; want++)
			;
		if (got != want)
			fail_msg("%s: %zu groups, want %zu", k->name, got, want);
		for (j = 0; j < want; j++)
			if (strcmp(out[j], k->want[j]) != 0)
				fail_msg("%s: group %zu is %s, want %s", k->name, j, out[j],
					 k->want[j]);
	}
}

static void test_find_name_and_raise(void **state)
{
	(void)state;
	assert_int_equal(lane_find(lanes, 2, "private"), P);
	assert_int_equal(lane_find(lanes, 2, "deidentified"), D);
	assert_int_equal(lane_find(lanes, 2, "Private"), N);
	assert_int_equal(lane_find(lanes, 2, NULL), N);
	assert_string_equal(lane_name(lanes, 2, D), "deidentified");
	assert_null(lane_name(lanes, 2, N));
	assert_null(lane_name(lanes, 2, 2));
	assert_int_equal(lane_raise(N, D), D);
	assert_int_equal(lane_raise(D, N), D);
	assert_int_equal(lane_raise(D, P), P);
	assert_int_equal(lane_raise(P, D), P);
	assert_int_equal(lane_raise(N, N), N);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide_table),
		cmocka_unit_test(test_decide_with_no_lanes_is_no_lane),
		cmocka_unit_test(test_decide_truncates_why_safely),
		cmocka_unit_test(test_allows_table),
		cmocka_unit_test(test_find_name_and_raise),
		cmocka_unit_test(test_route_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
