/* memory: add/replace/remove/read on MEMORY.md and USER.md in Hermes' "§" format, the
 * character bound refused with the numbers, a failed write leaving the old file, and the
 * snapshot of the system prompt; a tainted turn's memory write kept as a proposal that the
 * human approves (applied with the tool's checks at that time) or rejects, at most 100; a
 * write that does not fit, started as a turn starts it (with a lent model and notices): the
 * model's condensed answer checked, the other entries condensed and the old file kept, a file
 * edited meanwhile or a failed call leaving everything as it was and the user told. */
#include "tool_fixture.h"
#include "tools/tools.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

static void add_then_read_shows_the_entries(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct stat st;
	char *text, *dir;

	(void)state;
	call(f, &tool_def_memory,
	     "{\"action\":\"add\",\"target\":\"memory\",\"content\":\" likes "
	     "tea \"}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out), "Added to MEMORY.md (9/2,200 characters, 1 entry).");
	call(f, &tool_def_memory,
	     "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"uses "
	     "vim\\nand tmux\"}");
	assert_int_equal(f->rc, 0);
	call(f, &tool_def_memory, "{\"action\":\"read\",\"target\":\"memory\"}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out), "MEMORY.md (29/2,200 characters, 2 entries):\n"
					      "likes tea\n§\nuses vim\nand tmux");
	text = get_file(f->home, "memories/MEMORY.md");
	assert_string_equal(text, "likes tea\n§\nuses vim\nand tmux\n");
	free(text);
	dir = xasprintf("%s/memories", f->home);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	free(dir);
	dir = xasprintf("%s/memories/MEMORY.md", f->home);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(dir);
	assert_false(exists(f->home, "memories/USER.md"));
	fixture_destroy(f);
}

static void duplicate_add_is_a_no_op(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *text;

	(void)state;
	call(f, &tool_def_memory, "{\"action\":\"add\",\"target\":\"user\",\"content\":\"Ana\"}");
	call(f, &tool_def_memory, "{\"action\":\"add\",\"target\":\"user\",\"content\":\"Ana\"}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out), "Already in USER.md; nothing to do.");
	text = get_file(f->home, "memories/USER.md");
	assert_string_equal(text, "Ana\n");
	free(text);
	fixture_destroy(f);
}

static void replace_and_remove_pick_the_entry_by_a_unique_part(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *text;

	(void)state;
	put_file(f->home, "memories/MEMORY.md", "drinks: tea\n§\nworks: coffee shop\n");
	call(f, &tool_def_memory,
	     "{\"action\":\"replace\",\"target\":\"memory\",\"old_text\":"
	     "\"coffee\",\"content\":\"works: home office\"}");
	assert_int_equal(f->rc, 0);
	assert_contains(buf_str(&f->out), "Replaced the entry in MEMORY.md");
	text = get_file(f->home, "memories/MEMORY.md");
	assert_string_equal(text, "drinks: tea\n§\nworks: home office\n");
	free(text);
	call(f, &tool_def_memory,
	     "{\"action\":\"remove\",\"target\":\"memory\",\"old_text\":\"tea\"}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out),
			    "Removed the entry from MEMORY.md (18/2,200 characters, 1 entry).");
	text = get_file(f->home, "memories/MEMORY.md");
	assert_string_equal(text, "works: home office\n");
	free(text);
	fixture_destroy(f);
}

static void old_text_not_found_or_ambiguous_is_refused(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *text;

	(void)state;
	put_file(f->home, "memories/MEMORY.md", "a: one\n§\na: two\n");
	call(f, &tool_def_memory,
	     "{\"action\":\"remove\",\"target\":\"memory\",\"old_text\":\"three\"}");
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out), "old_text was not found in MEMORY.md; call memory "
					      "with action=read first");
	call(f, &tool_def_memory,
	     "{\"action\":\"replace\",\"target\":\"memory\",\"old_text\":"
	     "\"a:\",\"content\":\"x\"}");
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out), "old_text matches 2 entries in MEMORY.md; use a "
					      "longer part of one of:\n- a: one\n- a: two");
	call(f, &tool_def_memory, "{\"action\":\"remove\",\"target\":\"memory\"}");
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out), "remove needs old_text: a unique part of the entry");
	text = get_file(f->home, "memories/MEMORY.md");
	assert_string_equal(text, "a: one\n§\na: two\n");
	free(text);
	fixture_destroy(f);
}

static void a_write_past_the_bound_is_refused_with_the_numbers(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char big[1400 * 2 + 1], args[4096], *text;
	size_t i;

	(void)state;
	/* 1,300 two-byte characters: the bound counts characters, not bytes */
	for (i = 0; i < 1300; i++)
		memcpy(big + 2 * i, "\xc3\xa9", 2);
	big[2 * 1300] = '\0';
	snprintf(args, sizeof(args), "{\"action\":\"add\",\"target\":\"user\",\"content\":\"%s\"}",
		 big);
	call(f, &tool_def_memory, args);
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out),
			    "Added to USER.md (1,300/1,375 characters, 1 entry). It is 94% full: "
			    "merge related entries and drop stale ones now (replace, remove), "
			    "before a write is refused.");
	call(f, &tool_def_memory,
	     "{\"action\":\"add\",\"target\":\"user\",\"content\":\"0123456789"
	     "0123456789012345678901234567890123456789012345678901234567890123"
	     "456789\"}");
	assert_true(f->rc < 0);
	assert_contains(buf_str(&f->out), "USER.md would be 1,383/1,375 characters; remove or "
					  "shorten entries first (current entries:\n\xc3\xa9");
	assert_int_equal(buf_str(&f->out)[f->out.len - 1], ')');
	text = get_file(f->home, "memories/USER.md");
	assert_int_equal(strlen(text), 2 * 1300 + 1);
	free(text);
	/* a replace that grows past the bound is refused too; one that shrinks is fine */
	snprintf(args, sizeof(args),
		 "{\"action\":\"replace\",\"target\":\"user\",\"old_text\":\"\xc3\xa9\","
		 "\"content\":\"%s%s\"}",
		 big,
		 "0123456789012345678901234567890123456789012345678901234567890123456789012345");
	call(f, &tool_def_memory, args);
	assert_true(f->rc < 0);
	assert_contains(buf_str(&f->out), "USER.md would be 1,376/1,375 characters");
	call(f, &tool_def_memory,
	     "{\"action\":\"replace\",\"target\":\"user\",\"old_text\":\"\xc3"
	     "\xa9\",\"content\":\"short\"}");
	assert_int_equal(f->rc, 0);
	fixture_destroy(f);
}

static void the_bound_comes_from_the_config(void **state)
{
	struct fixture *f = fixture_create("memory:\n  max_chars: 100\n");

	(void)state;
	call(f, &tool_def_memory,
	     "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"0123456"
	     "78901234567890123456789012345678901234567890123456789\"}");
	assert_int_equal(f->rc, 0);
	assert_null(strstr(buf_str(&f->out), "full")); /* 60%: nothing said */
	call(f, &tool_def_memory,
	     "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"0123456"
	     "7890123456789012345678901234567890123456789\"}");
	assert_true(f->rc < 0);
	assert_contains(buf_str(&f->out), "MEMORY.md would be 113/100 characters");
	call(f, &tool_def_memory,
	     "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"0123456789012345678\"}");
	assert_int_equal(f->rc, 0);
	assert_contains(buf_str(&f->out), "It is 82% full: merge related entries");
	fixture_destroy(f);
}

/* RLIMIT_FSIZE makes write() fail with EFBIG, as a full disk would, even for root. */
static void a_failed_write_leaves_the_old_file(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct rlimit old, small = {.rlim_cur = 8, .rlim_max = RLIM_INFINITY};
	char *text, *dir = NULL;

	(void)state;
	call(f, &tool_def_memory,
	     "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"first\"}");
	assert_int_equal(f->rc, 0);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	call(f, &tool_def_memory,
	     "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"a "
	     "second entry, longer than eight bytes\"}");
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out),
			    "cannot write MEMORY.md: File too large; nothing was changed");
	text = get_file(f->home, "memories/MEMORY.md");
	assert_string_equal(text, "first\n");
	free(text);
	dir = xasprintf("%s/memories", f->home);
	assert_int_equal(test_count_entries(dir), 1); /* no temp file left behind */
	free(dir);
	fixture_destroy(f);
}

static void hand_edited_files_are_read_leniently(void **state)
{
	struct fixture *f = fixture_create(NULL);

	(void)state;
	put_file(f->home, "memories/MEMORY.md", "\n  a  \n§\n\n§\na\n§\nb");
	call(f, &tool_def_memory, "{\"action\":\"read\",\"target\":\"memory\"}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out),
			    "MEMORY.md (5/2,200 characters, 2 entries):\na\n§\nb");
	call(f, &tool_def_memory, "{\"action\":\"read\",\"target\":\"user\"}");
	assert_string_equal(buf_str(&f->out), "USER.md (0/1,375 characters, 0 entries)");
	fixture_destroy(f);
}

static void bad_arguments_say_what_to_fix(void **state)
{
	struct fixture *f = fixture_create(NULL);

	(void)state;
	call(f, &tool_def_memory, "{\"target\":\"memory\"}");
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out), "missing required argument action");
	call(f, &tool_def_memory, "{\"action\":7}");
	assert_string_equal(buf_str(&f->out), "action must be a string");
	call(f, &tool_def_memory, "{\"action\":\"forget\",\"target\":\"memory\"}");
	assert_string_equal(buf_str(&f->out), "action must be add, replace, remove or read");
	call(f, &tool_def_memory, "{\"action\":\"read\",\"target\":\"both\"}");
	assert_string_equal(buf_str(&f->out), "target must be memory or user");
	call(f, &tool_def_memory, "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"  \"}");
	assert_string_equal(buf_str(&f->out), "add needs content: the text of the entry");
	call(f, &tool_def_memory,
	     "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"a\\n§\\n"
	     "b\"}");
	assert_true(f->rc < 0);
	assert_contains(buf_str(&f->out), "must not hold a line with only");
	assert_false(exists(f->home, "memories/MEMORY.md"));
	fixture_destroy(f);
}

static void the_snapshot_shows_both_files(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	tools_memory_snapshot(f->cfg, NULL, &b);
	assert_int_equal(b.len, 0);
	call(f, &tool_def_memory, "{\"action\":\"add\",\"target\":\"user\",\"content\":\"Ana\"}");
	tools_memory_snapshot(f->cfg, NULL, &b);
	assert_string_equal(buf_str(&b), "## User (3/1,375 characters, 1 entry)\nAna\n");
	buf_reset(&b);
	call(f, &tool_def_memory, "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"x\"}");
	call(f, &tool_def_memory, "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"y\"}");
	tools_memory_snapshot(f->cfg, NULL, &b);
	assert_string_equal(buf_str(&b), "## Memory (5/2,200 characters, 2 entries)\nx\n§\ny\n\n"
					 "## User (3/1,375 characters, 1 entry)\nAna\n");
	buf_finish(&b);
	fixture_destroy(f);
}

static void the_snapshot_cuts_a_file_over_its_bound(void **state)
{
	struct fixture *f = fixture_create("memory:\n  max_chars: 100\n");
	char big[302];
	struct buf b;

	(void)state;
	memset(big, 'x', 300);
	big[300] = '\0';
	put_file(f->home, "memories/MEMORY.md", big);
	buf_init(&b, 0);
	tools_memory_snapshot(f->cfg, NULL, &b);
	assert_contains(buf_str(&b), "## Memory (300/100 characters, 1 entry)\n");
	assert_contains(buf_str(&b), "\n[cut: MEMORY.md is over its bound; remove or shorten "
				     "entries]\n");
	assert_null(strstr(buf_str(&b), big));
	buf_finish(&b);
	fixture_destroy(f);
}

static void a_proposal_is_applied_on_approval_and_dropped_on_rejection(void **state)
{
	struct fixture *f = fixture_create(NULL);
	cJSON *add = cJSON_Parse("{\"action\":\"add\",\"target\":\"user\",\"content\":\"PIN is "
				 "1234\"}");
	char id[8], id2[8];
	struct buf out;
	char *text;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(tool_proposal_store(f->cfg, "memory", add, "hook:inbox", NULL, id, &out),
			 0);
	assert_int_equal(tool_proposal_store(f->cfg, "memory", add, "cron:daily", NULL, id2, &out),
			 0);
	assert_string_not_equal(id, id2);
	assert_false(exists(f->home, "memories/USER.md"));
	assert_int_equal(tools_proposals_list(f->cfg, &out), 0);
	assert_contains(buf_str(&out), "from hook:inbox\nmemory add (user)\nnew text: PIN is 1234");
	assert_contains(buf_str(&out), id2);
	buf_reset(&out);
	assert_int_equal(tools_proposal_decide(f->cfg, id, true, &out), 0);
	assert_contains(buf_str(&out), "Approved proposal");
	text = get_file(f->home, "memories/USER.md");
	assert_non_null(text);
	assert_contains(text, "PIN is 1234");
	free(text);
	/* Decided once: the second decision finds nothing. */
	buf_reset(&out);
	assert_int_equal(tools_proposal_decide(f->cfg, id, true, &out), -ENOENT);
	buf_reset(&out);
	assert_int_equal(tools_proposal_decide(f->cfg, id2, false, &out), 0);
	assert_contains(buf_str(&out), "Rejected proposal");
	buf_reset(&out);
	assert_int_equal(tools_proposals_list(f->cfg, &out), 0);
	assert_string_equal(buf_str(&out), "No proposals wait for approval.\n");
	/* Ids are 6 hex digits: nothing else names a file. */
	buf_reset(&out);
	assert_int_equal(tools_proposal_decide(f->cfg, "../../etc", true, &out), -EINVAL);
	assert_int_equal(tools_proposal_decide(f->cfg, NULL, true, &out), -EINVAL);
	buf_finish(&out);
	cJSON_Delete(add);
	fixture_destroy(f);
}

static void a_stale_proposal_fails_with_the_tools_own_check(void **state)
{
	struct fixture *f = fixture_create(NULL);
	cJSON *rm = cJSON_Parse("{\"action\":\"remove\",\"target\":\"memory\","
				"\"old_text\":\"gone\"}");
	char id[8];
	struct buf out;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(tool_proposal_store(f->cfg, "memory", rm, "telegram:1", NULL, id, &out),
			 0);
	assert_true(tools_proposal_decide(f->cfg, id, true, &out) < 0);
	assert_contains(buf_str(&out), "could not be applied");
	assert_contains(buf_str(&out), "not found");
	buf_finish(&out);
	cJSON_Delete(rm);
	fixture_destroy(f);
}

static void at_most_100_proposals_wait(void **state)
{
	struct fixture *f = fixture_create(NULL);
	cJSON *add = cJSON_Parse("{\"action\":\"add\",\"target\":\"user\",\"content\":\"x\"}");
	char id[8];
	struct buf out;
	int i;

	(void)state;
	buf_init(&out, 0);
	for (i = 0; i < 100; i++)
		assert_int_equal(
			tool_proposal_store(f->cfg, "memory", add, "hook:a", NULL, id, &out), 0);
	assert_int_equal(tool_proposal_store(f->cfg, "memory", add, "hook:a", NULL, id, &out),
			 -ENOSPC);
	assert_contains(buf_str(&out), "100 proposals already wait");
	buf_finish(&out);
	cJSON_Delete(add);
	fixture_destroy(f);
}

/* ---- lanes: a turn in a lane writes its own files and never sees a higher lane's --------- */

#define LANES_YAML                                                                                 \
	"model_list:\n"                                                                            \
	"  - model_name: cheap\n"                                                                  \
	"    litellm_params: {model: openrouter/qwen/qwen-turbo}\n"                                \
	"lanes:\n"                                                                                 \
	"  private:\n"                                                                             \
	"    models: [cheap]\n"                                                                    \
	"  deid:\n"                                                                                \
	"    models: [cheap]\n"

/* The memory tool run by a turn in lane (NULL: none). */
static const char *call_in(struct fixture *f, const char *lane, const char *args_json)
{
	cJSON *args = cJSON_Parse(args_json);
	struct tool_req req = {.env = &f->env, .session_id = "", .args = args, .lane = lane};

	assert_non_null(args);
	buf_reset(&f->out);
	f->rc = tool_def_memory.run(&req, &f->out);
	cJSON_Delete(args);
	return buf_str(&f->out);
}

static void the_lanes_a_turn_sees_are_its_own_and_the_ones_below(void **state)
{
	struct fixture *f = fixture_create(LANES_YAML "  odd/name:\n    models: [cheap]\n");
	const char *v[CONFIG_MAX_LANES];

	(void)state;
	assert_int_equal(tool_memory_lanes(f->cfg, NULL, v), 0);
	assert_int_equal(tool_memory_lanes(f->cfg, "nonesuch", v), SIZE_MAX);
	assert_int_equal(tool_memory_lanes(f->cfg, "(unknown lane)", v), SIZE_MAX);
	/* A name that cannot be a folder has no files: it is never listed. */
	assert_int_equal(tool_memory_lanes(f->cfg, "odd/name", v), 0);
	assert_int_equal(tool_memory_lanes(f->cfg, "deid", v), 1);
	assert_string_equal(v[0], "deid");
	assert_int_equal(tool_memory_lanes(f->cfg, "private", v), 2);
	assert_string_equal(v[0], "deid");
	assert_string_equal(v[1], "private");
	/* ... and a turn in it cannot write. */
	call_in(f, "odd/name", "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"x\"}");
	assert_int_equal(f->rc, -EPERM);
	assert_contains(buf_str(&f->out), "cannot be a folder");
	fixture_destroy(f);
}

static void a_lane_turn_writes_its_lanes_file_and_reads_only_what_it_may(void **state)
{
	struct fixture *f = fixture_create(LANES_YAML);
	struct buf b;
	char *text;

	(void)state;
	call_in(f, NULL, "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"shared fact\"}");
	assert_int_equal(f->rc, 0);
	call_in(f, "private",
		"{\"action\":\"add\",\"target\":\"memory\",\"content\":\"Ada: X17\"}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out),
			    "Added to lanes/private/MEMORY.md (8/2,200 characters, 1 entry).");
	call_in(f, "deid", "{\"action\":\"add\",\"target\":\"user\",\"content\":\"case 12\"}");
	assert_int_equal(f->rc, 0);
	text = get_file(f->home, "memories/MEMORY.md");
	assert_string_equal(text, "shared fact\n");
	free(text);
	text = get_file(f->home, "memories/lanes/private/MEMORY.md");
	assert_string_equal(text, "Ada: X17\n");
	free(text);
	text = get_file(f->home, "memories/lanes/deid/USER.md");
	assert_string_equal(text, "case 12\n");
	free(text);

	/* read: no lane sees the shared file only; deid its own too; private all three. */
	call_in(f, NULL, "{\"action\":\"read\",\"target\":\"memory\"}");
	assert_string_equal(buf_str(&f->out),
			    "MEMORY.md (11/2,200 characters, 1 entry):\nshared fact");
	call_in(f, "deid", "{\"action\":\"read\",\"target\":\"memory\"}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out),
			    "MEMORY.md (11/2,200 characters, 1 entry):\nshared fact\n\nLane deid: "
			    "lanes/deid/MEMORY.md (0/2,200 characters, 0 entries)");
	call_in(f, "private", "{\"action\":\"read\",\"target\":\"memory\"}");
	assert_string_equal(
		buf_str(&f->out),
		"MEMORY.md (11/2,200 characters, 1 entry):\nshared fact\n\nLane private: "
		"lanes/private/MEMORY.md (8/2,200 characters, 1 entry):\nAda: X17");
	call_in(f, "private", "{\"action\":\"read\",\"target\":\"user\"}");
	assert_contains(buf_str(&f->out), "Lane deid: lanes/deid/USER.md (7/1,375 characters, "
					  "1 entry):\ncase 12");

	/* The prompt's snapshot: the same rule. */
	buf_init(&b, 0);
	tools_memory_snapshot(f->cfg, NULL, &b);
	assert_string_equal(buf_str(&b), "## Memory (11/2,200 characters, 1 entry)\nshared fact\n");
	buf_reset(&b);
	tools_memory_snapshot(f->cfg, "deid", &b);
	assert_string_equal(buf_str(&b),
			    "## Memory (11/2,200 characters, 1 entry)\nshared fact\n\n"
			    "## User (lane deid: 7/1,375 characters, 1 entry)\ncase 12\n");
	buf_reset(&b);
	tools_memory_snapshot(f->cfg, "private", &b);
	assert_contains(buf_str(&b), "## User (lane deid: 7/1,375 characters, 1 entry)\ncase 12\n");
	assert_contains(buf_str(&b),
			"\n## Memory (lane private: 8/2,200 characters, 1 entry)\nAda: X17\n");
	buf_reset(&b);
	tools_memory_snapshot(f->cfg, "nonesuch", &b);
	assert_null(strstr(buf_str(&b), "X17"));
	assert_null(strstr(buf_str(&b), "case 12"));
	buf_finish(&b);
	fixture_destroy(f);
}

static void a_lane_turn_changes_only_its_own_entries(void **state)
{
	struct fixture *f = fixture_create(LANES_YAML);
	char *text;

	(void)state;
	put_file(f->home, "memories/MEMORY.md", "shared: tea\n");
	put_file(f->home, "memories/lanes/private/MEMORY.md", "private: coffee\n");
	call_in(f, "private", "{\"action\":\"remove\",\"target\":\"memory\",\"old_text\":\"tea\"}");
	assert_int_equal(f->rc, -EINVAL);
	assert_contains(buf_str(&f->out), "old_text was not found in lanes/private/MEMORY.md");
	call_in(f, "private",
		"{\"action\":\"replace\",\"target\":\"memory\",\"old_text\":\"coffee\","
		"\"content\":\"private: mate\"}");
	assert_int_equal(f->rc, 0);
	/* A turn in no lane cannot reach the private entry. */
	call_in(f, NULL, "{\"action\":\"remove\",\"target\":\"memory\",\"old_text\":\"mate\"}");
	assert_int_equal(f->rc, -EINVAL);
	/* Nor can a turn whose lane the config no longer has write anywhere. */
	call_in(f, "(unknown lane)",
		"{\"action\":\"add\",\"target\":\"memory\",\"content\":\"leak\"}");
	assert_int_equal(f->rc, -EPERM);
	assert_contains(buf_str(&f->out), "is not in the config");
	text = get_file(f->home, "memories/MEMORY.md");
	assert_string_equal(text, "shared: tea\n");
	free(text);
	text = get_file(f->home, "memories/lanes/private/MEMORY.md");
	assert_string_equal(text, "private: mate\n");
	free(text);
	fixture_destroy(f);
}

static void a_lane_turns_proposal_is_applied_in_its_lane(void **state)
{
	struct fixture *f = fixture_create(LANES_YAML);
	cJSON *add = cJSON_Parse("{\"action\":\"add\",\"target\":\"memory\",\"content\":\"X17\"}");
	struct buf out;
	char id[8], *text;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(tool_proposal_store(f->cfg, "memory", add, "hook:a", "private", id, &out),
			 0);
	assert_int_equal(tools_proposal_decide(f->cfg, id, true, &out), 0);
	assert_contains(buf_str(&out), "Added to lanes/private/MEMORY.md");
	assert_false(exists(f->home, "memories/MEMORY.md"));
	text = get_file(f->home, "memories/lanes/private/MEMORY.md");
	assert_string_equal(text, "X17\n");
	free(text);
	buf_finish(&out);
	cJSON_Delete(add);
	fixture_destroy(f);
}

static void condensed_answers_are_checked(void **state)
{
	struct buf out;
	char why[160];

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(tool_memory_condensed(" a\n§\nb\n§\na \n", 100, &out, why, sizeof(why)),
			 5);
	assert_string_equal(buf_str(&out), "a\n§\nb"); /* trimmed, the duplicate merged */
	buf_reset(&out);
	assert_int_equal(
		tool_memory_condensed("```text\nné\n§\nb\n```\n", 100, &out, why, sizeof(why)),
		6); /* characters, not bytes; one fence is taken off */
	assert_string_equal(buf_str(&out), "né\n§\nb");
	buf_reset(&out);
	assert_int_equal(tool_memory_condensed("", 100, &out, why, sizeof(why)), -1);
	assert_string_equal(why, "the answer held no entries");
	assert_int_equal(tool_memory_condensed(" \n§\n \n", 100, &out, why, sizeof(why)), -1);
	assert_int_equal(tool_memory_condensed(NULL, 100, &out, why, sizeof(why)), -1);
	assert_int_equal(tool_memory_condensed("§\n§", 100, &out, why, sizeof(why)), -1);
	assert_string_equal(why, "the answer was not in the file's format");
	assert_int_equal(tool_memory_condensed("a\n```\nb", 100, &out, why, sizeof(why)), -1);
	assert_int_equal(
		tool_memory_condensed("0123456789\n§\nabcdefghij", 22, &out, why, sizeof(why)), -1);
	assert_string_equal(why, "the answer was 23 characters, over the 22 asked for");
	assert_int_equal(tool_memory_condensed("0123456789abcdef", 2, &out, why, sizeof(why)), -1);
	assert_string_equal(why, "the answer was 16 bytes, over the 2 characters asked for");
	assert_int_equal(
		tool_memory_condensed("0123456789\n§\nabcdefghij", 23, &out, why, sizeof(why)), 23);
	buf_finish(&out);
}

/* A model lent to the memory tool: answers the call from the loop, after edit (when set) was
 * written over MEMORY.md as a hand edit would be. */
struct fake_llm {
	struct fixture *f;
	struct event *ev;
	const char *answer, *edit;
	int status, calls;
	char *key, *user, *notice, *model;
	tools_llm_cb cb;
	void *cb_arg;
};

static void fake_answer(evutil_socket_t fd, short what, void *arg)
{
	struct fake_llm *l = arg;

	(void)fd;
	(void)what;
	if (l->edit)
		put_file(l->f->home, "memories/MEMORY.md", l->edit);
	l->cb(l->status, l->status == 200 ? l->answer : NULL, l->cb_arg);
}

static int fake_chat(void *arg, const char *key, const char *model, const char *system,
		     const char *user, int max_tokens, tools_llm_cb cb, void *cb_arg, void **call)
{
	struct fake_llm *l = arg;
	struct timeval zero = {0, 0};

	(void)system;
	(void)max_tokens;
	l->calls++;
	free(l->model);
	l->model = xstrdup(model);
	free(l->key);
	free(l->user);
	l->key = xstrdup(key);
	l->user = xstrdup(user);
	l->cb = cb;
	l->cb_arg = cb_arg;
	evtimer_add(l->ev, &zero);
	*call = l;
	return 0;
}

static void fake_cancel(void *arg, void *call)
{
	(void)arg;
	(void)call;
}

static const struct tools_llm fake_llm_ops = {fake_chat, fake_cancel};

static void fake_notice(const char *text, void *arg)
{
	struct fake_llm *l = arg;

	free(l->notice);
	l->notice = xstrdup(text);
}

/* Runs the memory tool as a turn in lane (NULL: none) does (start(), with the fake model and
 * notices). */
static void start_in_lane(struct fixture *f, struct fake_llm *l, const char *lane,
			  const char *args_json)
{
	cJSON *args = cJSON_Parse(args_json);
	struct tool_req req = {.env = &f->env,
			       .session_id = "",
			       .args = args,
			       .llm = &fake_llm_ops,
			       .llm_arg = l,
			       .notice = fake_notice,
			       .notice_arg = l,
			       .lane = lane};
	struct tool_job *job = NULL;
	int done = f->done;

	buf_reset(&f->out);
	assert_int_equal(tool_def_memory.start(&req, on_fixture_job, f, &f->out, &job), 0);
	while (f->done == done)
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE);
	cJSON_Delete(args);
}

static void start_with_llm(struct fixture *f, struct fake_llm *l, const char *args_json)
{
	start_in_lane(f, l, NULL, args_json);
}

static struct fake_llm *fake_llm_create(struct fixture *f)
{
	struct fake_llm *l = xcalloc(1, sizeof(*l));

	f->loop = loop_create();
	f->env.loop = f->loop;
	free(f->cfg->auxiliary.memory);		     /* a model_list defaults it already */
	f->cfg->auxiliary.memory = xstrdup("cheap"); /* no model_list here to default it */
	l->f = f;
	l->status = 200;
	l->ev = evtimer_new(loop_base(f->loop), fake_answer, l);
	return l;
}

static void fake_llm_destroy(struct fake_llm *l)
{
	event_free(l->ev);
	free(l->key);
	free(l->model);
	free(l->user);
	free(l->notice);
	free(l);
}

#define FULL_FILE                                                                                  \
	"first entry about the rack, long\n§\nsecond entry about the NAS, long\n§\n"             \
	"third entry about backups, long\n§\nfourth entry to be replaced\n"

static void a_replace_that_does_not_fit_condenses_the_other_entries(void **state)
{
	struct fixture *f = fixture_create("memory:\n  max_chars: 130\n");
	struct fake_llm *l = fake_llm_create(f);
	char *text, *hist;

	(void)state;
	put_file(f->home, "memories/MEMORY.md", FULL_FILE);
	l->answer = "rack, NAS and backups: all long";
	start_with_llm(f, l,
		       "{\"action\":\"replace\",\"target\":\"memory\",\"old_text\":\"fourth\","
		       "\"content\":\"fourth entry, now a bit longer\"}");
	assert_int_equal(f->rc, 0);
	assert_int_equal(l->calls, 1);
	assert_string_equal(l->key, "memory:MEMORY.md");
	assert_string_equal(l->model, "cheap"); /* auxiliary.memory */
	assert_contains(l->user, "third entry about backups, long");
	assert_null(strstr(l->user, "fourth")); /* the replaced entry is not condensed */
	text = get_file(f->home, "memories/MEMORY.md");
	assert_string_equal(text, "rack, NAS and backups: all long\n§\nfourth entry, now a bit "
				  "longer\n");
	free(text);
	assert_contains(buf_str(&f->out), "Replaced the entry in MEMORY.md (64/130 characters");
	assert_contains(l->notice, "Memory was full; I condensed MEMORY.md from 131 to 64");
	hist = strstr(buf_str(&f->out), "memories/.history/MEMORY.md.");
	assert_non_null(hist);
	hist = xstrndup(hist, strcspn(hist, " "));
	hist[strlen(hist) - 1] = '\0'; /* the sentence's "." */
	text = get_file(f->home, hist);
	assert_string_equal(text, FULL_FILE);
	free(text);
	free(hist);
	fake_llm_destroy(l);
	fixture_destroy(f);
}

static void a_full_lane_file_is_condensed_alone_in_its_lane(void **state)
{
	struct fixture *f = fixture_create(LANES_YAML "memory:\n  max_chars: 130\n");
	struct fake_llm *l = fake_llm_create(f);
	char *text;

	(void)state;
	put_file(f->home, "memories/MEMORY.md", "shared entry nobody condenses here\n");
	put_file(f->home, "memories/lanes/private/MEMORY.md", FULL_FILE);
	l->answer = "rack, NAS and backups: all long";
	start_in_lane(f, l, "private",
		      "{\"action\":\"replace\",\"target\":\"memory\",\"old_text\":\"fourth\","
		      "\"content\":\"fourth entry, now a bit longer\"}");
	assert_int_equal(f->rc, 0);
	assert_int_equal(l->calls, 1);
	/* The turn's own side call (in its lane, on the turn's own group: "") got the lane's
	 * entries and nothing else. */
	assert_string_equal(l->key, "memory:lanes/private/MEMORY.md");
	assert_string_equal(l->model, "");
	assert_contains(l->user, "third entry about backups, long");
	assert_null(strstr(l->user, "shared entry"));
	text = get_file(f->home, "memories/lanes/private/MEMORY.md");
	assert_string_equal(text, "rack, NAS and backups: all long\n§\nfourth entry, now a bit "
				  "longer\n");
	free(text);
	text = get_file(f->home, "memories/MEMORY.md");
	assert_string_equal(text, "shared entry nobody condenses here\n");
	free(text);
	assert_contains(buf_str(&f->out), "kept as memories/lanes/private/.history/MEMORY.md.");
	assert_false(exists(f->home, "memories/.history"));
	fake_llm_destroy(l);
	fixture_destroy(f);
}

static void a_file_edited_while_the_model_wrote_is_not_overwritten(void **state)
{
	struct fixture *f = fixture_create("memory:\n  max_chars: 130\n");
	struct fake_llm *l = fake_llm_create(f);
	char *text;

	(void)state;
	put_file(f->home, "memories/MEMORY.md", FULL_FILE);
	l->answer = "condensed";
	l->edit = "edited by hand\n";
	start_with_llm(f, l, "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"new one\"}");
	/* The write is tried once more on the file as it is now: it fits there. */
	assert_int_equal(f->rc, 0);
	assert_contains(buf_str(&f->out), "Added to MEMORY.md");
	text = get_file(f->home, "memories/MEMORY.md");
	assert_string_equal(text, "edited by hand\n§\nnew one\n");
	free(text);
	assert_false(exists(f->home, "memories/.history"));
	assert_null(l->notice);
	fake_llm_destroy(l);
	fixture_destroy(f);
}

static void a_failed_condensing_call_leaves_the_file_and_tells_the_user(void **state)
{
	struct fixture *f = fixture_create("memory:\n  max_chars: 130\n");
	struct fake_llm *l = fake_llm_create(f);
	char *text;

	(void)state;
	put_file(f->home, "memories/MEMORY.md", FULL_FILE);
	l->status = 429; /* a budget refused it */
	start_with_llm(f, l, "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"new one\"}");
	assert_int_equal(f->rc, -EIO);
	assert_contains(buf_str(&f->out), "failed (the model call failed with HTTP 429)");
	text = get_file(f->home, "memories/MEMORY.md");
	assert_string_equal(text, FULL_FILE);
	free(text);
	assert_false(exists(f->home, "memories/.history"));
	assert_contains(l->notice, "Memory is full: a new entry did not fit in MEMORY.md (131/130 "
				   "characters), and condensing it failed");
	fake_llm_destroy(l);
	fixture_destroy(f);
}

/* ---- the owner's edit (the web cockpit) ---- */

static void version_of(const char *text, char v[TOOLS_VERSION_LEN + 1])
{
	tools_edit_version(text, strlen(text), v);
}

static size_t history_count(const char *home)
{
	char *dir = xasprintf("%s/memories/.history", home);
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	free(dir);
	while (d && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void the_owner_replaces_the_file_through_the_tools_parser(void **state)
{
	struct fixture *f = fixture_create("memory:\n  history_keep: 2\n");
	struct tools_memory_info info;
	char v[TOOLS_VERSION_LEN + 1], *text, *kept;
	struct buf got, err;
	int i;

	(void)state;
	buf_init(&got, 0);
	buf_init(&err, 0);
	/* a missing file reads as "" with the version of "" */
	assert_int_equal(tools_memory_get(f->cfg, false, &got, &info, &err), 0);
	assert_string_equal(buf_str(&got), "");
	version_of("", v);
	assert_string_equal(info.version, v);
	assert_int_equal(info.max_chars, 2200);
	/* entries trimmed, empty and repeated ones dropped, written as the tool writes them;
	 * nothing to keep of an empty file */
	assert_int_equal(tools_memory_put(f->cfg, false, "  tea \n§\n\n§\ncoffee\n§\ntea", v, &info,
					  &f->out),
			 0);
	assert_string_equal(buf_str(&f->out), "Saved MEMORY.md (12/2,200 characters, 2 entries).");
	text = get_file(f->home, "memories/MEMORY.md");
	assert_string_equal(text, "tea\n§\ncoffee\n");
	version_of(text, v);
	assert_string_equal(info.version, v);
	assert_int_equal(info.chars, 12);
	assert_int_equal(info.entries, 2);
	assert_false(exists(f->home, "memories/.history"));
	/* the tool reads what the owner wrote */
	call(f, &tool_def_memory, "{\"action\":\"read\",\"target\":\"memory\"}");
	assert_string_equal(buf_str(&f->out),
			    "MEMORY.md (12/2,200 characters, 2 entries):\ntea\n§\ncoffee");
	/* the next edit keeps the old file in .history, as condensing does */
	buf_reset(&f->out);
	assert_int_equal(tools_memory_put(f->cfg, false, "juice", v, &info, &f->out), 0);
	assert_contains(buf_str(&f->out), "Saved MEMORY.md (5/2,200 characters, 1 entry). The "
					  "old version is kept as memories/.history/MEMORY.md.");
	kept = strstr(buf_str(&f->out), "memories/.history/");
	kept = xstrndup(kept, strlen(kept) - 1); /* the final '.' */
	free(text);
	text = get_file(f->home, kept);
	assert_string_equal(text, "tea\n§\ncoffee\n");
	free(text);
	free(kept);
	/* the same text again writes nothing and keeps nothing */
	buf_reset(&f->out);
	assert_int_equal(tools_memory_put(f->cfg, false, "juice\n", info.version, &info, &f->out),
			 0);
	assert_string_equal(buf_str(&f->out), "MEMORY.md is unchanged; nothing to do.");
	assert_int_equal(history_count(f->home), 1);
	/* memory.history_keep bounds the versions kept */
	for (i = 0; i < 3; i++) {
		char *next = xasprintf("juice %d", i);

		buf_reset(&f->out);
		assert_int_equal(
			tools_memory_put(f->cfg, false, next, info.version, &info, &f->out), 0);
		free(next);
		usleep(2000); /* a kept version is named by the millisecond */
	}
	assert_int_equal(history_count(f->home), 2);
	buf_finish(&got);
	buf_finish(&err);
	fixture_destroy(f);
}

static void the_owners_edit_of_a_stale_version_is_refused(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct tools_memory_info info;
	char shown[TOOLS_VERSION_LEN + 1], *text;
	struct buf got, err;

	(void)state;
	buf_init(&got, 0);
	buf_init(&err, 0);
	put_file(f->home, "memories/USER.md", "Ana\n");
	assert_int_equal(tools_memory_get(f->cfg, true, &got, &info, &err), 0);
	assert_string_equal(buf_str(&got), "Ana\n");
	memcpy(shown, info.version, sizeof(shown));
	/* the agent writes after the page was shown */
	call(f, &tool_def_memory, "{\"action\":\"add\",\"target\":\"user\",\"content\":\"vim\"}");
	assert_int_equal(f->rc, 0);
	buf_reset(&f->out);
	assert_int_equal(tools_memory_put(f->cfg, true, "Ana Lopez", shown, &info, &f->out),
			 -ESTALE);
	assert_string_equal(buf_str(&f->out),
			    "USER.md changed after it was shown (the agent or another edit wrote "
			    "it); nothing was saved: reload it and make the change again");
	text = get_file(f->home, "memories/USER.md");
	assert_string_equal(text, "Ana\n§\nvim\n");
	free(text);
	buf_reset(&f->out);
	assert_int_equal(tools_memory_put(f->cfg, true, "Ana Lopez", NULL, &info, &f->out),
			 -ESTALE);
	assert_false(exists(f->home, "memories/.history"));
	buf_finish(&got);
	buf_finish(&err);
	fixture_destroy(f);
}

static void the_owners_edit_past_the_bound_gets_the_tools_refusal(void **state)
{
	struct fixture *f = fixture_create("memory:\n  max_chars: 100\n");
	struct tools_memory_info info;
	char v[TOOLS_VERSION_LEN + 1], entry[91], *file, *edit, *want, *text;
	struct buf tool;

	(void)state;
	buf_init(&tool, 0);
	memset(entry, 'x', 90);
	entry[90] = '\0';
	file = xasprintf("%s\n", entry);
	edit = xasprintf("%s\n§\nabcdefgh", entry);
	want = xasprintf("MEMORY.md would be 101/100 characters; remove or shorten entries first "
			 "(current entries:\n%s)",
			 entry);
	put_file(f->home, "memories/MEMORY.md", file);
	/* what the tool says for an add that makes the file 90 + 3 + 8 = 101 characters */
	call(f, &tool_def_memory,
	     "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"abcdefgh\"}");
	assert_int_equal(f->rc, -E2BIG);
	buf_append(&tool, f->out.data, f->out.len);
	buf_reset(&f->out);
	version_of(file, v);
	assert_int_equal(tools_memory_put(f->cfg, false, edit, v, &info, &f->out), -E2BIG);
	assert_string_equal(buf_str(&f->out), buf_str(&tool));
	assert_string_equal(buf_str(&f->out), want);
	text = get_file(f->home, "memories/MEMORY.md");
	assert_string_equal(text, file);
	free(text);
	assert_false(exists(f->home, "memories/.history"));
	free(want);
	free(edit);
	free(file);
	buf_finish(&tool);
	fixture_destroy(f);
}

static void the_owner_cannot_write_through_a_symlink(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct tools_memory_info info;
	char v[TOOLS_VERSION_LEN + 1], *target, *link;
	struct buf got, err;

	(void)state;
	buf_init(&got, 0);
	buf_init(&err, 0);
	put_file(f->notes, "secret.txt", "keep out\n");
	put_file(f->home, "memories/.keep", "");
	target = xasprintf("%s/secret.txt", f->notes);
	link = xasprintf("%s/memories/MEMORY.md", f->home);
	assert_int_equal(symlink(target, link), 0);
	assert_true(tools_memory_get(f->cfg, false, &got, &info, &err) < 0);
	version_of("keep out\n", v);
	assert_true(tools_memory_put(f->cfg, false, "mine", v, &info, &f->out) < 0);
	free(target);
	target = get_file(f->notes, "secret.txt");
	assert_string_equal(target, "keep out\n");
	free(target);
	free(link);
	buf_finish(&got);
	buf_finish(&err);
	fixture_destroy(f);
}

/* The owner's edit on a thread while the agent's tool writes on this one: an entry the tool
 * added is never lost to an edit made from a version without it (the lock keeps each
 * read-check-write whole; the edit copies the file as it read it, plus a line). */
struct racer {
	const struct config *cfg;
	int round;
	int rc;
};

static void *race_put(void *arg)
{
	struct racer *r = arg;
	struct tools_memory_info info;
	struct buf got, err, out;
	char *text;

	buf_init(&got, 0);
	buf_init(&err, 0);
	buf_init(&out, 0);
	r->rc = tools_memory_get(r->cfg, false, &got, &info, &err);
	if (r->rc == 0) {
		text = xasprintf("%s\n§\nowner %d", buf_str(&got), r->round);
		r->rc = tools_memory_put(r->cfg, false, text, info.version, &info, &out);
		free(text);
	}
	buf_finish(&out);
	buf_finish(&err);
	buf_finish(&got);
	return NULL;
}

static void an_edit_racing_the_tool_never_loses_its_entry(void **state)
{
	struct fixture *f = fixture_create("memory:\n  max_chars: 100000\n  history_keep: 1\n");
	char args[128], entry[32], *text;
	struct racer r = {f->cfg, 0, 0};
	pthread_t t;
	int lost = 0;

	(void)state;
	for (r.round = 0; r.round < 300; r.round++) {
		snprintf(entry, sizeof(entry), "agent %d", r.round);
		snprintf(args, sizeof(args),
			 "{\"action\":\"add\",\"target\":\"memory\",\"content\":\"%s\"}", entry);
		assert_int_equal(pthread_create(&t, NULL, race_put, &r), 0);
		call(f, &tool_def_memory, args);
		assert_int_equal(f->rc, 0);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_true(r.rc == 0 || r.rc == -ESTALE);
		text = get_file(f->home, "memories/MEMORY.md");
		lost += strstr(text, entry) == NULL;
		free(text);
		if (r.round % 50 == 49) /* keep the file small */
			put_file(f->home, "memories/MEMORY.md", "");
	}
	assert_int_equal(lost, 0);
	fixture_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(add_then_read_shows_the_entries),
		cmocka_unit_test(duplicate_add_is_a_no_op),
		cmocka_unit_test(replace_and_remove_pick_the_entry_by_a_unique_part),
		cmocka_unit_test(old_text_not_found_or_ambiguous_is_refused),
		cmocka_unit_test(a_write_past_the_bound_is_refused_with_the_numbers),
		cmocka_unit_test(the_bound_comes_from_the_config),
		cmocka_unit_test(a_failed_write_leaves_the_old_file),
		cmocka_unit_test(hand_edited_files_are_read_leniently),
		cmocka_unit_test(bad_arguments_say_what_to_fix),
		cmocka_unit_test(the_snapshot_shows_both_files),
		cmocka_unit_test(the_snapshot_cuts_a_file_over_its_bound),
		cmocka_unit_test(a_proposal_is_applied_on_approval_and_dropped_on_rejection),
		cmocka_unit_test(a_stale_proposal_fails_with_the_tools_own_check),
		cmocka_unit_test(at_most_100_proposals_wait),
		cmocka_unit_test(the_lanes_a_turn_sees_are_its_own_and_the_ones_below),
		cmocka_unit_test(a_lane_turn_writes_its_lanes_file_and_reads_only_what_it_may),
		cmocka_unit_test(a_lane_turn_changes_only_its_own_entries),
		cmocka_unit_test(a_lane_turns_proposal_is_applied_in_its_lane),
		cmocka_unit_test(condensed_answers_are_checked),
		cmocka_unit_test(a_replace_that_does_not_fit_condenses_the_other_entries),
		cmocka_unit_test(a_full_lane_file_is_condensed_alone_in_its_lane),
		cmocka_unit_test(a_file_edited_while_the_model_wrote_is_not_overwritten),
		cmocka_unit_test(a_failed_condensing_call_leaves_the_file_and_tells_the_user),
		cmocka_unit_test(the_owner_replaces_the_file_through_the_tools_parser),
		cmocka_unit_test(the_owners_edit_of_a_stale_version_is_refused),
		cmocka_unit_test(the_owners_edit_past_the_bound_gets_the_tools_refusal),
		cmocka_unit_test(the_owner_cannot_write_through_a_symlink),
		cmocka_unit_test(an_edit_racing_the_tool_never_loses_its_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
