/* skills: create/view/patch/delete in home/skills, names that would leave it refused with the
 * rule, referenced files viewable while escapes ("..", absolute, symlinks) are refused,
 * external dirs listed read-only and never written, and the index of the system prompt. */
#include "tool_fixture.h"
#include "skills/skill_rank.h"
#include "skills/skill_set.h"
#include "skills/skill_md.h"
#include "tools/tools.h"

#include <ctype.h>

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
	assert_string_equal(buf_str(&f->out),
			    "Skills 1-1 of 1:\nshared: Shared steps. (read-only)\n");
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
			    "Skills 1-5 of 5:\n"
			    "a-home: First, on two lines.\n"
			    "b-home: Second.\n"
			    "broken: [invalid: SKILL.md must start with a line \"---\" that opens "
			    "the YAML front matter (name:, description:)]\n"
			    "0-ext: [invalid: front matter: name 'other' differs from the "
			    "directory name] (read-only)\n"
			    "c-ext: Third. (read-only)\n");
	buf_init(&b, 0);
	tools_skills_index(f->cfg, NULL, NULL, 0, &b);
	assert_string_equal(buf_str(&b), "a-home: First, on two lines.\nb-home: Second.\n"
					 "c-ext: Third.\n");
	buf_reset(&b);
	f->cfg->skills.index_tokens = 12; /* 48 bytes: not all of them, and nothing matches */
	tools_skills_index(f->cfg, NULL, NULL, 0, &b);
	assert_string_equal(buf_str(&b), "(3 skills: skills_list searches them)\n");
	buf_reset(&b);
	f->cfg->skills.index_tokens = 2;
	tools_skills_index(f->cfg, NULL, NULL, 0, &b);
	assert_int_equal(b.len, 0);
	buf_reset(&b);
	f->cfg->skills.index_tokens = 0;
	tools_skills_index(f->cfg, "second", NULL, 0, &b);
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
	tools_skills_index(f->cfg, "hello", NULL, 0, &b);
	assert_int_equal(b.len, 0);
	buf_finish(&b);
	fixture_destroy(f);
}

/* ---- skills at scale: categories, the ranked index, search and paging ---------------------- */

static const char *const topics[] = {
	"backup", "calendar", "invoice", "postgres", "grafana", "obsidian", "mail",
	"docker", "arxiv",    "pdf",	 "whisper",  "ffmpeg",	"github",   "terraform",
	"nginx",  "spotify",  "weather", "rss",	     "latex",	"ansible",
};
static const char *const verbs[] = {"Plan", "Audit", "Draft", "Sync", "Summarise"};

/* n skills in home/skills/<category>/<name>/ (every third at the top level), none about
 * Kubernetes, and one that is: wrangle-k8s, last by name. */
static void make_skills(struct fixture *f, size_t n)
{
	char *rel, *name, *text;
	size_t i;

	for (i = 0; i < n; i++) {
		name = xasprintf("%s-%s-%02zu", topics[i % ARRAY_LEN(topics)],
				 verbs[i % ARRAY_LEN(verbs)], i);
		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		text = xasprintf(
			SKILL("%s", "%s the %s work of the week, with steps, checks and the "
				    "report for the operator (%zu)."),
			name, verbs[i % ARRAY_LEN(verbs)], topics[i % ARRAY_LEN(topics)], i);
		rel = i % 3 ? xasprintf("skills/cat-%zu/%s/SKILL.md", i % 7, name)
			    : xasprintf("skills/%s/SKILL.md", name);
		put_file(f->home, rel, text);
		free(rel);
		free(text);
		free(name);
	}
	put_file(f->home, "skills/devops/wrangle-k8s/SKILL.md",
		 SKILL("wrangle-k8s", "Inspect, restart and debug Kubernetes pods with kubectl."));
}

/* One cap over every directory together, home first: a scan reads at most 512 skills however
 * many external dirs there are. */
static void the_skill_cap_holds_over_all_directories(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct skill_set s;
	char *rel, *name;
	size_t i, home = 0;

	(void)state;
	for (i = 0; i < 300; i++) {
		name = xasprintf("home-%03zu", i);
		rel = xasprintf("skills/%s/SKILL.md", name);
		put_file(f->home, rel, "---\nname: x\ndescription: y\n---\n");
		free(rel);
		free(name);
		name = xasprintf("ext-%03zu", i);
		rel = xasprintf("%s/SKILL.md", name);
		put_file(f->ext, rel, "---\nname: x\ndescription: y\n---\n");
		free(rel);
		free(name);
	}
	skill_set_scan(f->cfg, &s);
	assert_int_equal(s.n, 512);
	for (i = 0; i < s.n; i++)
		home += s.v[i].root == NULL;
	assert_int_equal(home, 300);
	skill_set_finish(&s);
	fixture_destroy(f);
}

static void category_folders_are_skills_too(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *text;

	(void)state;
	put_file(f->home, "skills/devops/k8s-pods/SKILL.md", SKILL("k8s-pods", "Restart pods."));
	put_file(f->home, "skills/devops/DESCRIPTION.md", "Operations.\n");
	put_file(f->home, "skills/notes/obsidian/SKILL.md", SKILL("obsidian", "Notes vault."));
	put_file(f->home, "skills/notes/obsidian/references/deep/x.md", "x\n");
	put_file(f->home, "skills/.hub/hidden/SKILL.md", SKILL("hidden", "Not a skill."));
	put_file(f->ext, "mlops/axolotl/SKILL.md", SKILL("axolotl", "Fine-tune models."));
	call(f, &tool_def_skills_list, "{}");
	assert_int_equal(f->rc, 0);
	assert_string_equal(buf_str(&f->out), "Skills 1-3 of 3:\n"
					      "Categories: devops (1), mlops (1), notes (1)\n"
					      "k8s-pods [devops]: Restart pods.\n"
					      "obsidian [notes]: Notes vault.\n"
					      "axolotl [mlops]: Fine-tune models. (read-only)\n");
	call(f, &tool_def_skills_list, "{\"category\":\"notes\"}");
	assert_string_equal(buf_str(&f->out),
			    "Skills 1-1 of 1 in category notes:\nobsidian [notes]: Notes vault.\n");
	call(f, &tool_def_skills_list, "{\"category\":\"nope\"}");
	assert_string_equal(buf_str(&f->out), "No skills in category nope. Categories: devops "
					      "(1), mlops (1), notes (1)\n");
	call(f, &tool_def_skill_view, "{\"name\":\"axolotl\"}");
	assert_int_equal(f->rc, 0);
	assert_contains(buf_str(&f->out), "Fine-tune models.");
	call(f, &tool_def_skill_manage,
	     "{\"action\":\"patch\",\"name\":\"k8s-pods\",\"old_text\":\"1. go\","
	     "\"new_text\":\"1. kubectl delete pod\"}");
	assert_int_equal(f->rc, 0);
	text = get_file(f->home, "skills/devops/k8s-pods/SKILL.md");
	assert_non_null(strstr(text, "kubectl delete pod"));
	free(text);
	assert_false(exists(f->home, "skills/k8s-pods"));
	create(f, "devops", "Clashes with the category folder.");
	assert_true(f->rc < 0);
	assert_contains(buf_str(&f->out), "devops exists in home/skills and is not a skill");
	create(f, "obsidian", "Again.");
	assert_int_equal(f->rc, -EEXIST);
	call(f, &tool_def_skill_manage, "{\"action\":\"delete\",\"name\":\"k8s-pods\"}");
	assert_int_equal(f->rc, 0);
	assert_false(exists(f->home, "skills/devops/k8s-pods"));
	assert_true(exists(f->home, "skills/devops/DESCRIPTION.md"));
	fixture_destroy(f);
}

static void duplicate_and_broken_skills_are_reported(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct buf b;
	size_t n_skills;
	char *line;

	(void)state;
	put_file(f->home, "skills/a/dup/SKILL.md", SKILL("dup", "First."));
	put_file(f->home, "skills/b/dup/SKILL.md", SKILL("dup", "Second."));
	put_file(f->home, "skills/misnamed/SKILL.md", SKILL("other", "Named otherwise."));
	put_file(f->home, "skills/bare/SKILL.md", "# no front matter\n");
	put_file(f->home, "skills/Bad_Name/SKILL.md", SKILL("bad", "x"));
	put_file(f->home, "skills/fine/SKILL.md", SKILL("fine", "Fine."));
	call(f, &tool_def_skill_view, "{\"name\":\"dup\"}");
	assert_int_equal(f->rc, 0);
	assert_contains(buf_str(&f->out), "First.");
	assert_contains(buf_str(&f->out), "[2 skills are named dup: ");
	assert_contains(buf_str(&f->out), "/skills/b/dup");
	call(f, &tool_def_skill_manage, "{\"action\":\"delete\",\"name\":\"dup\"}");
	assert_int_equal(f->rc, -EPERM);
	assert_contains(buf_str(&f->out), "2 skills are named dup (");
	assert_true(exists(f->home, "skills/a/dup/SKILL.md"));
	buf_init(&b, 0);
	assert_int_equal(tools_skills_check(f->cfg, &b, &n_skills), 4);
	assert_int_equal(n_skills, 2); /* dup (the first) and fine */
	line = xasprintf("%s/skills/misnamed/SKILL.md: front matter: name 'other' differs from "
			 "the directory name\n",
			 f->home);
	assert_contains(buf_str(&b), line);
	free(line);
	line = xasprintf("%s/skills/b/dup: another skill is named dup (%s/skills/a/dup, which is "
			 "used); names must be unique\n",
			 f->home, f->home);
	assert_contains(buf_str(&b), line);
	free(line);
	assert_contains(buf_str(&b), "/skills/bare/SKILL.md: SKILL.md must start with a line");
	assert_contains(buf_str(&b), "/skills/Bad_Name/SKILL.md: the folder name 'Bad_Name' is "
				     "invalid");
	buf_finish(&b);
	fixture_destroy(f);
}

static void the_index_names_the_skills_the_message_is_about(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct buf b;

	(void)state;
	make_skills(f, 100);
	buf_init(&b, 0);
	tools_skills_index(f->cfg, "Why do my kubernetes pods keep crashing?!", NULL, 0, &b);
	assert_true(b.len <= 400 * 4);
	assert_true(strncmp(buf_str(&b), "wrangle-k8s: Inspect, restart", 29) == 0);
	assert_contains(buf_str(&b), ": skills_list searches them)\n");
	/* Only what matches is named: a hundred names the message is not about are noise. */
	assert_null(strstr(buf_str(&b), "ansible-"));
	/* Without a message nothing matches: the index only counts them. */
	buf_reset(&b);
	tools_skills_index(f->cfg, NULL, NULL, 0, &b);
	assert_string_equal(buf_str(&b), "(101 skills in cat-0, cat-1, cat-2, cat-3, cat-4, cat-5, "
					 "cat-6, devops: skills_list searches them)\n");
	/* Skills in category folders are counted by category. */
	put_file(f->home, "skills/media/ffmpeg-cut/SKILL.md", SKILL("ffmpeg-cut", "Cut video."));
	put_file(f->home, "skills/data/duckdb-load/SKILL.md", SKILL("duckdb-load", "Load CSV."));
	buf_reset(&b);
	tools_skills_index(f->cfg, "hello", NULL, 0, &b);
	assert_string_equal(buf_str(&b),
			    "(103 skills in cat-0, cat-1, cat-2, cat-3, cat-4, cat-5, cat-6, data, "
			    "devops, media: skills_list searches them)\n");
	/* Words the message shares with several skills: those come before the fill. */
	buf_reset(&b);
	tools_skills_index(f->cfg, "grafana dashboards", NULL, 0, &b);
	assert_true(strncmp(buf_str(&b), "grafana-", 8) == 0);
	buf_reset(&b);
	f->cfg->skills.index_tokens = 60;
	tools_skills_index(f->cfg, "kubernetes", NULL, 0, &b);
	assert_true(b.len <= 240);
	assert_contains(buf_str(&b), "wrangle-k8s");
	buf_finish(&b);
	fixture_destroy(f);
}

static void a_cron_jobs_skills_are_always_in_the_index(void **state)
{
	static const char *const pinned[] = {"missing", "latex-sync-98", "wrangle-k8s"};
	struct fixture *f = fixture_create(NULL);
	struct buf b;

	(void)state;
	make_skills(f, 100);
	buf_init(&b, 0);
	f->cfg->skills.index_tokens = 10; /* smaller than any line */
	tools_skills_index(f->cfg, "grafana", pinned, ARRAY_LEN(pinned), &b);
	assert_true(strncmp(buf_str(&b), "latex-sync-98: Sync the latex work", 34) == 0);
	assert_contains(buf_str(&b), "\nwrangle-k8s: Inspect");
	assert_null(strstr(buf_str(&b), "grafana-"));
	buf_reset(&b);
	f->cfg->skills.index_tokens = 400;
	tools_skills_index(f->cfg, "grafana", pinned, ARRAY_LEN(pinned), &b);
	assert_true(strncmp(buf_str(&b), "latex-sync-98: ", 15) == 0);
	assert_contains(buf_str(&b), "\nwrangle-k8s: Inspect");
	assert_contains(buf_str(&b), "\ngrafana-");
	assert_true(b.len <= 400 * 4);
	buf_finish(&b);
	fixture_destroy(f);
}

static size_t lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void long_descriptions_are_cut_to_one_line(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char *desc = xmalloc(301), *text;
	struct buf b;
	size_t i;

	(void)state;
	for (i = 0; i < 300; i++)
		desc[i] = i % 10 == 9 ? ' ' : 'a' + (char)(i % 10);
	desc[300] = '\0';
	text = xasprintf(SKILL("long", "\"%s\""), desc);
	put_file(f->home, "skills/long/SKILL.md", text);
	buf_init(&b, 0);
	tools_skills_index(f->cfg, NULL, NULL, 0, &b);
	/* "long: " + at most 100 bytes ending at a space with "..." + "\n" */
	assert_int_equal(b.len, 6 + 89 + 3 + 1);
	assert_string_equal(buf_str(&b) + b.len - 13, "abcdefghi...\n");
	call(f, &tool_def_skills_list, "{}");
	assert_contains(buf_str(&f->out), "abcdefghi...\n");
	assert_int_equal(lines(buf_str(&f->out)), 2);
	buf_finish(&b);
	free(text);
	free(desc);
	fixture_destroy(f);
}

static void skills_list_searches_and_pages(void **state)
{
	struct fixture *f = fixture_create(NULL);

	(void)state;
	make_skills(f, 130);
	call(f, &tool_def_skills_list, "{}");
	assert_int_equal(f->rc, 0);
	assert_true(f->out.len < 4096);
	assert_true(strncmp(buf_str(&f->out), "Skills 1-20 of 131:\nCategories: ", 32) == 0);
	assert_contains(buf_str(&f->out), "\nNext page: offset=20. query= searches names and "
					  "descriptions.\n");
	assert_int_equal(lines(buf_str(&f->out)), 23);
	call(f, &tool_def_skills_list, "{\"offset\":120,\"limit\":50}");
	assert_true(strncmp(buf_str(&f->out), "Skills 121-131 of 131:\n", 23) == 0);
	assert_null(strstr(buf_str(&f->out), "Next page"));
	assert_contains(buf_str(&f->out), "wrangle-k8s [devops]: ");
	call(f, &tool_def_skills_list, "{\"limit\":500}");
	assert_true(strncmp(buf_str(&f->out), "Skills 1-50 of 131:\n", 20) == 0);
	call(f, &tool_def_skills_list, "{\"offset\":131}");
	assert_string_equal(buf_str(&f->out), "offset 131 is past the end: 131 skills.\n");
	call(f, &tool_def_skills_list, "{\"limit\":0}");
	assert_true(f->rc < 0);
	assert_contains(buf_str(&f->out), "limit must be an integer");
	call(f, &tool_def_skills_list, "{\"query\":\"Kubernetes pod\"}");
	assert_string_equal(buf_str(&f->out), "Skills 1-1 of 1 matching the query, best first:\n"
					      "wrangle-k8s [devops]: Inspect, restart and debug "
					      "Kubernetes pods with kubectl.\n");
	call(f, &tool_def_skills_list, "{\"query\":\"grafana\",\"limit\":2}");
	assert_true(strncmp(buf_str(&f->out), "Skills 1-2 of 7 matching the query", 34) == 0);
	assert_contains(buf_str(&f->out), "Next page: offset=2.\n");
	call(f, &tool_def_skills_list, "{\"query\":\"grafana\",\"category\":\"cat-1\"}");
	assert_contains(buf_str(&f->out), "in category cat-1:\n");
	call(f, &tool_def_skills_list, "{\"query\":\"zebra\"}");
	assert_string_equal(buf_str(&f->out), "No skill matches the query; skills_list without "
					      "query lists them all.");
	fixture_destroy(f);
}

static void punctuation_in_a_query_is_never_fts_syntax(void **state)
{
	static const char *const queries[] = {
		"\"unterminated",
		"AND OR NOT",
		"(*)",
		"name:kubectl",
		"NEAR(pods, 2)",
		"^k8s",
		"\"\" ''",
		"k8s\" OR \"x",
		"-",
		"*",
		"pods* \\\" {}[]",
		"\u00e9t\u00e9 \u2603",
		"a",
		"",
		"C++ (or c#)?",
	};
	struct fixture *f = fixture_create(NULL);
	struct skill_rank_doc docs[] = {{"wrangle-k8s", "devops", "Debug pods."},
					{"near-things", NULL, "AND OR NOT, name: and NEAR."}};
	size_t order[ARRAY_LEN(docs)];
	struct buf q, b;
	cJSON *a;
	char *json;
	size_t i;

	(void)state;
	make_skills(f, 10);
	buf_init(&b, 0);
	for (i = 0; i < ARRAY_LEN(queries); i++) {
		/* SQLite takes the query (an FTS5 syntax error would be -EIO). */
		assert_true(skill_rank(docs, ARRAY_LEN(docs), queries[i], order) >= 0);
		a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "query", queries[i]);
		json = cJSON_PrintUnformatted(a);
		call(f, &tool_def_skills_list, json);
		assert_int_equal(f->rc, 0);
		buf_reset(&b);
		tools_skills_index(f->cfg, queries[i], NULL, 0, &b);
		assert_true(b.len > 0);
		free(json);
		cJSON_Delete(a);
	}
	call(f, &tool_def_skills_list, "{\"query\":\"k8s\\\" OR name:(pods\"}");
	assert_int_equal(f->rc, 0);
	assert_contains(buf_str(&f->out), "wrangle-k8s");
	buf_init(&q, 0);
	assert_int_equal(skill_rank_query("The \"pods\" AND pods, NEAR(x) c++ Pods!", &q), 2);
	assert_string_equal(buf_str(&q), "\"pods\" OR \"near\"");
	buf_finish(&q);
	buf_finish(&b);
	fixture_destroy(f);
}

/* ---- the owner's edits (the web cockpit) ---- */

static int edit(struct fixture *f, enum tools_skill_edit what, const char *name, const char *text,
		const char *version, char v[TOOLS_VERSION_LEN + 1])
{
	buf_reset(&f->out);
	f->rc = tools_skill_edit(f->cfg, what, name, text, version, v, &f->out);
	return f->rc;
}

static void the_owner_creates_replaces_and_deletes_through_the_tools_checks(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char v[TOOLS_VERSION_LEN + 1], shown[TOOLS_VERSION_LEN + 1], *text;

	(void)state;
	/* the validator's own words, nothing written */
	assert_int_equal(edit(f, TOOLS_SKILL_CREATE, "a", "# no front matter", NULL, v), -EINVAL);
	assert_contains(buf_str(&f->out), "invalid SKILL.md: SKILL.md must start with a line");
	assert_int_equal(edit(f, TOOLS_SKILL_CREATE, "a", SKILL("b", "d"), NULL, v), -EINVAL);
	assert_string_equal(buf_str(&f->out),
			    "the front matter name 'b' must equal the name argument 'a'");
	assert_int_equal(edit(f, TOOLS_SKILL_CREATE, "../x", SKILL("x", "d"), NULL, v), -EINVAL);
	assert_string_equal(buf_str(&f->out), "invalid name: " SKILL_MD_NAME_RULE);
	assert_false(exists(f->home, "skills"));
	/* created as skill_manage creates it; the version is of the bytes written */
	assert_int_equal(edit(f, TOOLS_SKILL_CREATE, "a", SKILL("a", "first"), NULL, v), 0);
	assert_string_equal(buf_str(&f->out), "Created skill a (49 bytes).");
	text = get_file(f->home, "skills/a/SKILL.md");
	tools_edit_version(text, strlen(text), shown);
	assert_string_equal(v, shown);
	free(text);
	assert_int_equal(edit(f, TOOLS_SKILL_CREATE, "a", SKILL("a", "again"), NULL, v), -EEXIST);
	/* replaced whole, validated first */
	assert_int_equal(edit(f, TOOLS_SKILL_REPLACE, "a", "---\nname: a\n---\n", shown, v),
			 -EINVAL);
	assert_contains(buf_str(&f->out), "description is missing");
	assert_int_equal(edit(f, TOOLS_SKILL_REPLACE, "a", SKILL("a", "second"), shown, v), 0);
	assert_string_equal(buf_str(&f->out), "Saved skill a (50 bytes).");
	text = get_file(f->home, "skills/a/SKILL.md");
	assert_string_equal(text, SKILL("a", "second"));
	free(text);
	/* the page's old version is stale now: neither a replace nor a delete goes through */
	assert_int_equal(edit(f, TOOLS_SKILL_REPLACE, "a", SKILL("a", "third"), shown, v), -ESTALE);
	assert_string_equal(buf_str(&f->out),
			    "SKILL.md of a changed after it was shown (the agent or another edit "
			    "wrote it); nothing was saved: reload it and make the change again");
	assert_int_equal(edit(f, TOOLS_SKILL_REPLACE, "a", SKILL("a", "third"), NULL, v), -ESTALE);
	assert_int_equal(edit(f, TOOLS_SKILL_DELETE, "a", NULL, shown, v), -ESTALE);
	assert_true(exists(f->home, "skills/a/SKILL.md"));
	tools_edit_version(SKILL("a", "second"), strlen(SKILL("a", "second")), shown);
	assert_int_equal(edit(f, TOOLS_SKILL_DELETE, "a", NULL, shown, v), 0);
	assert_string_equal(buf_str(&f->out), "Deleted skill a.");
	assert_string_equal(v, "");
	assert_false(exists(f->home, "skills/a"));
	assert_int_equal(edit(f, TOOLS_SKILL_DELETE, "a", NULL, shown, v), -ENOENT);
	fixture_destroy(f);
}

static void the_owner_cannot_edit_an_external_skill(void **state)
{
	struct fixture *f = fixture_create(NULL);
	char v[TOOLS_VERSION_LEN + 1], *text;

	(void)state;
	put_file(f->ext, "ro/SKILL.md", SKILL("ro", "read only"));
	tools_edit_version(SKILL("ro", "read only"), strlen(SKILL("ro", "read only")), v);
	assert_int_equal(edit(f, TOOLS_SKILL_REPLACE, "ro", SKILL("ro", "mine"), v, v), -EPERM);
	assert_contains(buf_str(&f->out), "skill ro is read-only (in ");
	assert_int_equal(edit(f, TOOLS_SKILL_DELETE, "ro", NULL, v, v), -EPERM);
	assert_int_equal(edit(f, TOOLS_SKILL_CREATE, "ro", SKILL("ro", "mine"), NULL, v), -EEXIST);
	text = get_file(f->ext, "ro/SKILL.md");
	assert_string_equal(text, SKILL("ro", "read only"));
	free(text);
	fixture_destroy(f);
}

/* The workflow block: skill_view shows the four questions, the index names what the skill
 * must never invent and that a human reviews, and a mistake in it is reported by config
 * check as FILE:LINE:COL. */
static void the_workflow_is_shown_and_its_mistakes_located(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct buf b;
	size_t n_skills;
	char *line;

	(void)state;
	put_file(f->home, "skills/minutes/SKILL.md",
		 "---\nname: minutes\ndescription: Meeting notes to tasks.\nworkflow:\n"
		 "  input: pasted meeting notes\n  output: one task per line\n"
		 "  never_invent: [due dates, owners]\n  review: before sending\n---\nbody\n");
	put_file(f->home, "skills/typo/SKILL.md",
		 "---\nname: typo\ndescription: x\nworkflow:\n  reveiw: yes\n---\n");
	call(f, &tool_def_skill_view, "{\"name\":\"minutes\"}");
	assert_int_equal(f->rc, 0);
	assert_contains(buf_str(&f->out),
			"[workflow of this skill: follow it]\n"
			"Input: pasted meeting notes\nOutput: one task per line\n"
			"Never invent: due dates; owners\nReview: before sending\n");
	assert_contains(buf_str(&f->out), "waits for the owner's approval");
	buf_init(&b, 0);
	tools_skills_index(f->cfg, NULL, NULL, 0, &b);
	assert_contains(buf_str(&b), "minutes: Meeting notes to tasks. [never invent due dates, "
				     "owners; human review]\n");
	buf_reset(&b);
	assert_int_equal(tools_skills_check(f->cfg, &b, &n_skills), 1);
	assert_int_equal(n_skills, 1);
	line = xasprintf("%s/skills/typo/SKILL.md:5:3: workflow: unknown key \"reveiw\"", f->home);
	assert_contains(buf_str(&b), line);
	free(line);
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
		cmocka_unit_test(the_skill_cap_holds_over_all_directories),
		cmocka_unit_test(category_folders_are_skills_too),
		cmocka_unit_test(duplicate_and_broken_skills_are_reported),
		cmocka_unit_test(the_index_names_the_skills_the_message_is_about),
		cmocka_unit_test(a_cron_jobs_skills_are_always_in_the_index),
		cmocka_unit_test(skills_list_searches_and_pages),
		cmocka_unit_test(long_descriptions_are_cut_to_one_line),
		cmocka_unit_test(punctuation_in_a_query_is_never_fts_syntax),
		cmocka_unit_test(the_owner_creates_replaces_and_deletes_through_the_tools_checks),
		cmocka_unit_test(the_owner_cannot_edit_an_external_skill),
		cmocka_unit_test(the_workflow_is_shown_and_its_mistakes_located),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
