/* skills: create/view/patch/delete in home/skills, names that would leave it refused with the
 * rule, referenced files viewable while escapes ("..", absolute, symlinks) are refused,
 * external dirs listed read-only and never written, and the index of the system prompt. */
#include "tool_fixture.h"

#define SKILL(name, desc) "---\nname: " name "\ndescription: " desc "\n---\n# Steps\n1. go\n"

/* {"action":"create","name":NAME,"content":CONTENT} */
static void create_raw(struct fixture *f, const char *name, const char *content)
{
	cJSON *a = cJSON_CreateObject();
	char *json;

	cJSON_AddStringToObject(a, "action", "create");
	cJSON_AddStringToObject(a, "name", name);
	cJSON_AddStringToObject(a, "content", content);
	json = cJSON_PrintUnformatted(a);
	call(f, &tool_def_skill_manage, json);
	free(json);
	cJSON_Delete(a);
}

static void create(struct fixture *f, const char *name, const char *desc)
{
	char *content = xasprintf(SKILL("%s", "%s"), name, desc);

	create_raw(f, name, content);
	free(content);
}

static void create_view_patch_delete(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *text;

	(void)state;
	create(f, "deploy-k8s", "Roll out a deployment.");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out), "Created skill deploy-k8s (75 bytes).");
	text = get_file(f->home, "skills/deploy-k8s/SKILL.md");
	assert_string_equal(text, SKILL("deploy-k8s", "Roll out a deployment."));
	free(text);
	call(f, &tool_def_skill_view, "{\"name\":\"deploy-k8s\"}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(
		buf_str(&f->out),
		SKILL("deploy-k8s", "Roll out a deployment.") "\n\n"
							      "[files: none besides SKILL.md]");
	call(f, &tool_def_skill_manage,
	     "{\"action\":\"patch\",\"name\":\"deploy-k8s\","
	     "\"old_text\":\"1. go\",\"new_text\":\"1. kubectl "
	     "apply\"}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out), "Patched skill deploy-k8s (86 bytes).");
	call(f, &tool_def_skill_view, "{\"name\":\"deploy-k8s\",\"file\":\"SKILL.md\"}");
	assert_contains(buf_str(&f->out), "# Steps\n1. kubectl apply\n");
	call(f, &tool_def_skill_manage, "{\"action\":\"delete\",\"name\":\"deploy-k8s\"}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out), "Deleted skill deploy-k8s.");
	assert_false(exists(f->home, "skills/deploy-k8s"));
	call(f, &tool_def_skill_view, "{\"name\":\"deploy-k8s\"}");
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out), "no skill named deploy-k8s; skills_list shows them");
	fixture_destroy(f);
}

static void names_that_leave_the_skills_dir_are_refused(void **state)
{
	static const char *const names[] = {"../x", "A", "x/y", ".hidden", "..", ""};
	struct fixture *f = fixture_create(NULL);
	cJSON *a;
	char *json;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(names); i++) {
		a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "action", "create");
		cJSON_AddStringToObject(a, "name", names[i]);
		cJSON_AddStringToObject(a, "content", SKILL("x", "d"));
		json = cJSON_PrintUnformatted(a);
		call(f, &tool_def_skill_manage, json);
		assert_true(f->rc < 0);
		assert_string_equal(buf_str(&f->out),
				    "invalid name: a skill name is 1-64 characters of a-z, 0-9, "
				    "'.', '_' and '-', starting with a letter or digit");
		call(f, &tool_def_skill_view, json);
		assert_true(f->rc < 0);
		assert_contains(buf_str(&f->out), "invalid name");
		free(json);
		cJSON_Delete(a);
	}
	assert_false(exists(f->home, "x"));
	assert_false(exists(f->home, "skills"));
	fixture_destroy(f);
}

static void create_checks_the_content(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *big;

	(void)state;
	call(f, &tool_def_skill_manage, "{\"action\":\"create\",\"name\":\"a\"}");
	assert_string_equal(buf_str(&f->out),
			    "create needs content: the whole SKILL.md, front matter included");
	create_raw(f, "a", SKILL("b", "d"));
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out),
			    "the front matter name 'b' must equal the name argument 'a'");
	call(f, &tool_def_skill_manage,
	     "{\"action\":\"create\",\"name\":\"a\",\"content\":\"# no front matter\"}");
	assert_contains(buf_str(&f->out), "invalid SKILL.md: SKILL.md must start with a line");
	call(f, &tool_def_skill_manage,
	     "{\"action\":\"create\",\"name\":\"a\",\"content\":\"---\\nname: a\\n---\\n\"}");
	assert_string_equal(buf_str(&f->out), "invalid SKILL.md: front matter: description is "
					      "missing (one line on when to use the skill)");
	big = xmalloc(70000);
	memset(big, 'x', 69999);
	big[69999] = '\0';
	create_raw(f, "a", big);
	assert_string_equal(buf_str(&f->out), "SKILL.md would be 69999 bytes; at most 65536");
	assert_false(exists(f->home, "skills/a"));
	create(f, "a", "first");
	assert_int_equal(f->rc, 0);
	create(f, "a", "second");
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out),
			    "skill a already exists; use action=patch, or delete it first");
	call(f, &tool_def_skill_manage, "{\"action\":\"rename\",\"name\":\"a\"}");
	assert_string_equal(buf_str(&f->out), "action must be create, patch or delete");
	free(big);
	fixture_destroy(f);
}

static void patch_needs_a_unique_match_and_a_valid_result(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *text;

	(void)state;
	create(f, "a", "do a");
	call(f, &tool_def_skill_manage,
	     "{\"action\":\"patch\",\"name\":\"a\",\"old_text\":\"zzz\",\"new_text\":\"y\"}");
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out),
			    "old_text was not found in SKILL.md of a; call skill_view first");
	call(f, &tool_def_skill_manage,
	     "{\"action\":\"patch\",\"name\":\"a\",\"old_text\":\"a\",\"new_text\":\"y\"}");
	assert_true(f->rc < 0);
	assert_contains(buf_str(&f->out), "old_text occurs");
	call(f, &tool_def_skill_manage,
	     "{\"action\":\"patch\",\"name\":\"a\",\"old_text\":"
	     "\"name: a\\n\",\"new_text\":\"\"}");
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out), "invalid SKILL.md: front matter: name is missing");
	call(f, &tool_def_skill_manage,
	     "{\"action\":\"patch\",\"name\":\"a\",\"old_text\":"
	     "\"name: a\\n\",\"new_text\":\"name: b\\n\"}");
	assert_string_equal(buf_str(&f->out),
			    "the front matter name 'b' must equal the name argument 'a'");
	call(f, &tool_def_skill_manage, "{\"action\":\"patch\",\"name\":\"a\",\"old_text\":\"x\"}");
	assert_string_equal(buf_str(&f->out),
			    "patch needs old_text (a unique part of SKILL.md) and new_text");
	text = get_file(f->home, "skills/a/SKILL.md");
	assert_string_equal(text, SKILL("a", "do a"));
	free(text);
	call(f, &tool_def_skill_manage,
	     "{\"action\":\"patch\",\"name\":\"nope\",\"old_text\":"
	     "\"x\",\"new_text\":\"y\"}");
	assert_int_equal(f->rc, -ENOENT);
	fixture_destroy(f);
}

static void referenced_files_are_viewable(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *big;

	(void)state;
	create(f, "api", "Call the API.");
	put_file(f->home, "skills/api/references/api.md", "GET /v1/things\n");
	put_file(f->home, "skills/api/scripts/run.sh", "#!/bin/sh\n");
	put_file(f->home, "skills/api/.git/HEAD", "ref\n");
	call(f, &tool_def_skill_view, "{\"name\":\"api\",\"file\":\"references/api.md\"}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out), "GET /v1/things\n");
	call(f, &tool_def_skill_view, "{\"name\":\"api\",\"file\":\"./references/api.md\"}");
	assert_int_equal(f->rc, 0);
	call(f, &tool_def_skill_view, "{\"name\":\"api\"}");
	assert_contains(buf_str(&f->out), "[files: ");
	assert_contains(buf_str(&f->out), "references/api.md");
	assert_contains(buf_str(&f->out), "scripts/run.sh");
	assert_null(strstr(buf_str(&f->out), ".git"));
	big = xmalloc(70001);
	memset(big, 'x', 70000);
	big[70000] = '\0';
	put_file(f->home, "skills/api/references/big.md", big);
	call(f, &tool_def_skill_view, "{\"name\":\"api\",\"file\":\"references/big.md\"}");
	assert_int_equal(f->rc, 0);
	assert_int_equal(f->out.len, 65536 + strlen("\n[cut at 64 KiB of 70000 bytes]"));
	assert_contains(buf_str(&f->out), "x\n[cut at 64 KiB of 70000 bytes]");
	free(big);
	call(f, &tool_def_skill_view, "{\"name\":\"api\",\"file\":\"references/nope.md\"}");
	assert_int_equal(f->rc, -ENOENT);
	assert_contains(buf_str(&f->out), "the skill has no file references/nope.md (files: ");
	fixture_destroy(f);
}

static void escapes_from_the_skill_dir_are_refused(void **state)
{
	static const char *const files[] = {"../../state.db", "/etc/passwd", "references/../../a",
					    "..", "a//b"};
	struct fixture *f = fixture_create(NULL);
	char *args, *link, *dirlink;
	size_t i;

	(void)state;
	put_file(f->home, "state.db", "SQLite format 3");
	create(f, "a", "do a");
	for (i = 0; i < ARRAY_LEN(files); i++) {
		args = xasprintf("{\"name\":\"a\",\"file\":\"%s\"}", files[i]);
		call(f, &tool_def_skill_view, args);
		assert_true(f->rc < 0);
		assert_string_equal(buf_str(&f->out), "file must be a relative path inside the "
						      "skill without \"..\", like "
						      "references/api.md");
		free(args);
	}
	link = xasprintf("%s/skills/a/leak", f->home);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	call(f, &tool_def_skill_view, "{\"name\":\"a\",\"file\":\"leak\"}");
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out),
			    "leak resolves outside the skill's directory; refused");
	dirlink = xasprintf("%s/skills/a/up", f->home);
	assert_int_equal(symlink(f->home, dirlink), 0);
	call(f, &tool_def_skill_view, "{\"name\":\"a\",\"file\":\"up/state.db\"}");
	assert_true(f->rc < 0);
	assert_contains(buf_str(&f->out), "resolves outside the skill's directory");
	assert_null(strstr(buf_str(&f->out), "SQLite"));
	/* delete removes the links, not what they point to */
	call(f, &tool_def_skill_manage, "{\"action\":\"delete\",\"name\":\"a\"}");
	assert_int_equal(f->rc, 0);
	assert_true(exists(f->home, "state.db"));
	assert_true(exists("/etc", "passwd"));
	free(dirlink);
	free(link);
	fixture_destroy(f);
}

static void binary_files_are_not_shown(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *path;
	FILE *fp;

	(void)state;
	create(f, "a", "do a");
	path = xasprintf("%s/skills/a/logo.png", f->home);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fwrite("\x89PNG\0\0\0", 1, 7, fp);
	fclose(fp);
	call(f, &tool_def_skill_view, "{\"name\":\"a\",\"file\":\"logo.png\"}");
	assert_true(f->rc < 0);
	assert_string_equal(buf_str(&f->out),
			    "logo.png is a binary file; skill_view shows text only");
	free(path);
	fixture_destroy(f);
}

static void external_skills_are_read_only(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *text, *msg;

	(void)state;
	put_file(f->ext, "shared/SKILL.md", SKILL("shared", "Shared steps."));
	call(f, &tool_def_skills_list, "{}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out), "shared: Shared steps. (read-only)\n");
	call(f, &tool_def_skill_view, "{\"name\":\"shared\"}");
	assert_int_equal(f->rc, 0);
	assert_contains(buf_str(&f->out), "Shared steps.");
	msg = xasprintf("skill shared is read-only (in %s)", f->ext);
	call(f, &tool_def_skill_manage,
	     "{\"action\":\"patch\",\"name\":\"shared\",\"old_text\":"
	     "\"go\",\"new_text\":\"stop\"}");
	assert_int_equal(f->rc, -EPERM);
	assert_string_equal(buf_str(&f->out), msg);
	call(f, &tool_def_skill_manage, "{\"action\":\"delete\",\"name\":\"shared\"}");
	assert_int_equal(f->rc, -EPERM);
	assert_string_equal(buf_str(&f->out), msg);
	free(msg);
	create(f, "shared", "Mine now.");
	assert_true(f->rc < 0);
	msg = xasprintf("shared is the name of a read-only skill (in %s); choose another", f->ext);
	assert_string_equal(buf_str(&f->out), msg);
	free(msg);
	text = get_file(f->ext, "shared/SKILL.md");
	assert_string_equal(text, SKILL("shared", "Shared steps."));
	free(text);
	assert_false(exists(f->home, "skills/shared"));
	fixture_destroy(f);
}

static void list_and_index_put_home_skills_first(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct buf b;

	(void)state;
	create(f, "b-home", "Second.");
	create(f, "a-home", "First,\n  on two lines.");
	put_file(f->home, "skills/broken/SKILL.md", "no front matter\n");
	put_file(f->home, "skills/not-a-skill/README.md", "x\n");
	put_file(f->home, "skills/readme.md", "x\n");
	put_file(f->ext, "c-ext/SKILL.md", SKILL("c-ext", "Third."));
	put_file(f->ext, "a-home/SKILL.md", SKILL("a-home", "Shadowed."));
	put_file(f->ext, "0-ext/SKILL.md", SKILL("other", "Misnamed."));
	call(f, &tool_def_skills_list, "{}");
	assert_string_equal(buf_str(&f->out),
			    "a-home: First, on two lines.\n"
			    "b-home: Second.\n"
			    "broken: [invalid: SKILL.md must start with a line \"---\" that opens "
			    "the YAML front matter (name:, description:)]\n"
			    "0-ext: [invalid: front matter: name 'other' differs from the "
			    "directory name] (read-only)\n"
			    "c-ext: Third. (read-only)\n");
	buf_init(&b, 0);
	tools_skills_index(f->cfg, &b, 4096);
	assert_string_equal(buf_str(&b), "a-home: First, on two lines.\nb-home: Second.\n"
					 "c-ext: Third.\n");
	buf_reset(&b);
	tools_skills_index(f->cfg, &b, 58);
	assert_string_equal(buf_str(&b), "a-home: First, on two lines.\n(2 more: skills_list)\n");
	buf_reset(&b);
	tools_skills_index(f->cfg, &b, 10);
	assert_int_equal(b.len, 0);
	buf_finish(&b);
	fixture_destroy(f);
}

static void no_skills_says_how_to_add_one(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct buf b;

	(void)state;
	call(f, &tool_def_skills_list, "{}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out),
			    "No skills yet; skill_manage with action=create adds one.");
	buf_init(&b, 0);
	tools_skills_index(f->cfg, &b, 4096);
	assert_int_equal(b.len, 0);
	buf_finish(&b);
	fixture_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_view_patch_delete),
		cmocka_unit_test(names_that_leave_the_skills_dir_are_refused),
		cmocka_unit_test(create_checks_the_content),
		cmocka_unit_test(patch_needs_a_unique_match_and_a_valid_result),
		cmocka_unit_test(referenced_files_are_viewable),
		cmocka_unit_test(escapes_from_the_skill_dir_are_refused),
		cmocka_unit_test(binary_files_are_not_shown),
		cmocka_unit_test(external_skills_are_read_only),
		cmocka_unit_test(list_and_index_put_home_skills_first),
		cmocka_unit_test(no_skills_says_how_to_add_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
