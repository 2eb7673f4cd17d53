/* ui_edit: the owner's edits from the cockpit: MEMORY.md and USER.md replaced, a skill
 * created, saved or deleted. Each runs off the loop (the writes fsync) through the same
 * calls as the agent's tools, and leaves one line in the audit trail however it ends.
 */
#include "cockpit/ui_int.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/util.h"
#include "net/httpd.h"
#include "skills/skill_set.h"
#include "tools/tools.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EDIT_BODY_MAX (512 * 1024) /* an edit's JSON: 256 KiB of text, some escaped */

/* ---- the owner's edits of memory and skills (off the loop: the writes fsync) ------------ */

enum edit_kind { EDIT_MEMORY, EDIT_USER, EDIT_SKILL_CREATE, EDIT_SKILL_SAVE, EDIT_SKILL_DELETE };

static const struct {
	const char *target; /* the audit line's */
	const char *action;
} edit_names[] = {
	[EDIT_MEMORY] = {"MEMORY.md", "replace"},  [EDIT_USER] = {"USER.md", "replace"},
	[EDIT_SKILL_CREATE] = {"skill", "create"}, [EDIT_SKILL_SAVE] = {"skill", "replace"},
	[EDIT_SKILL_DELETE] = {"skill", "delete"},
};

struct edit_job {
	struct httpd_req *req;
	const struct config *cfg;
	enum edit_kind kind;
	char *name, *text, *version; /* copied from the body; NULL when absent */
	int rc;
	char new_version[TOOLS_VERSION_LEN + 1];
	struct buf out; /* the tools' answer, or why not */
};

/* The tools' own writers, with their checks and messages (tools.h, "The owner's edits"). */
static void edit_work(void *arg)
{
	struct edit_job *j = arg;
	struct tools_memory_info info;
	static const enum tools_skill_edit what[] = {
		[EDIT_SKILL_CREATE] = TOOLS_SKILL_CREATE,
		[EDIT_SKILL_SAVE] = TOOLS_SKILL_REPLACE,
		[EDIT_SKILL_DELETE] = TOOLS_SKILL_DELETE,
	};

	if (j->kind == EDIT_MEMORY || j->kind == EDIT_USER) {
		j->rc = tools_memory_put(j->cfg, j->kind == EDIT_USER, j->text, j->version, &info,
					 &j->out);
		if (j->rc == 0)
			memcpy(j->new_version, info.version, sizeof(j->new_version));
	} else {
		j->rc = tools_skill_edit(j->cfg, what[j->kind], j->name, j->text, j->version,
					 j->new_version, &j->out);
	}
}

/* The edit's line of the audit trail: who (the cockpit), what, how it ended; the text only as
 * its hash, as a tool call's arguments. */
static void edit_audit(const struct edit_job *j)
{
	struct audit_line l;

	audit_begin(&l, "edit");
	if (!l.on)
		return;
	audit_str(&l, "source", "ui:cockpit");
	audit_str(&l, "target", edit_names[j->kind].target);
	audit_str(&l, "action", edit_names[j->kind].action);
	audit_str(&l, "name", j->name);
	if (j->text)
		audit_hash(&l, "text_sha256", j->text, strlen(j->text));
	audit_str(&l, "outcome",
		  j->rc == 0	     ? "ok"
		  : j->rc == -ESTALE ? "conflict"
		  : j->rc == -EINVAL || j->rc == -E2BIG || j->rc == -EEXIST || j->rc == -EPERM ||
				  j->rc == -ENOENT
			  ? "refused"
			  : "error");
	if (j->rc < 0)
		audit_str(&l, "error", buf_str(&j->out));
	audit_end(&l);
}

static void edit_free(void *arg)
{
	struct edit_job *j = arg;

	free(j->name);
	free(j->text);
	free(j->version);
	buf_finish(&j->out);
	free(j);
}

static int edit_status(int rc)
{
	switch (rc) {
	case 0:
		return 200;
	case -ESTALE:
	case -EEXIST:
		return 409;
	case -EINVAL:
	case -E2BIG:
		return 422;
	case -ENOENT:
		return 404;
	case -EPERM:
		return 403;
	default:
		return 500;
	}
}

static void edit_done(void *arg)
{
	struct edit_job *j = arg;
	cJSON *o;

	edit_audit(j);
	if (j->rc == 0) {
		log_info("ui: %s %s%s%s from the cockpit (%s)", edit_names[j->kind].action,
			 edit_names[j->kind].target, j->name ? " " : "", j->name ? j->name : "",
			 httpd_peer(j->req));
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "text", buf_str(&j->out));
		cJSON_AddStringToObject(o, "version", j->new_version);
		ui_reply_json(j->req, 200, o);
	} else {
		ui_reply_error(j->req, edit_status(j->rc), buf_str(&j->out));
	}
	edit_free(j);
}

/* The gateway stops with the edit written or refused: the trail still records it. */
static void edit_abandon(void *arg)
{
	edit_audit(arg);
	edit_free(arg);
}

/* A string item copied, NULL when absent; false (req answered 400) when it is not a string. */
static bool copy_item(struct httpd_req *req, const cJSON *o, const char *name, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return true;
	if (cJSON_IsString(v)) {
		*out = xstrdup(v->valuestring);
		return true;
	}
	ui_reply_error(req, 400, "expected a string");
	return false;
}

static void edit(struct httpd_req *req, struct ui *u, enum edit_kind kind)
{
	static const char *const expect[] = {
		[EDIT_MEMORY] = "expected {\"target\": \"memory\"|\"user\", \"text\", \"version\"}",
		[EDIT_SKILL_CREATE] = "expected {\"name\", \"text\"}",
		[EDIT_SKILL_SAVE] = "expected {\"name\", \"text\", \"version\"}",
		[EDIT_SKILL_DELETE] = "expected {\"name\", \"version\"}",
	};
	const char *say = expect[kind];
	struct edit_job *j;
	const char *target;
	size_t len = 0;
	cJSON *root;

	if (!ui_gate(u, req))
		return;
	httpd_body_ref(req, &len);
	if (len > EDIT_BODY_MAX) {
		ui_reply_error(req, 413, "the edit is larger than 512 KiB");
		return;
	}
	root = ui_body_object(req, say);
	if (!root)
		return;
	j = xcalloc(1, sizeof(*j));
	j->cfg = u->cfg;
	j->kind = kind;
	buf_init(&j->out, 0);
	if (kind == EDIT_MEMORY) {
		target = ui_str_item(root, "target");
		j->kind = strcmp(target, "user") == 0 ? EDIT_USER : EDIT_MEMORY;
		if (strcmp(target, "user") != 0 && strcmp(target, "memory") != 0) {
			ui_reply_error(req, 400, say);
			goto fail;
		}
	}
	if (!copy_item(req, root, "name", &j->name) || !copy_item(req, root, "text", &j->text) ||
	    !copy_item(req, root, "version", &j->version))
		goto fail;
	if ((kind == EDIT_MEMORY && (!j->text || !j->version)) ||
	    (kind != EDIT_MEMORY && !j->name) ||
	    (kind != EDIT_SKILL_DELETE && kind != EDIT_MEMORY && !j->text) ||
	    (kind != EDIT_SKILL_CREATE && !j->version)) {
		ui_reply_error(req, 400, say);
		goto fail;
	}
	cJSON_Delete(root);
	j->req = req;
	if (offload_run(u->work, edit_work, edit_done, edit_abandon, j) < 0) {
		edit_free(j);
		httpd_add_header(req, "Retry-After", "1");
		ui_reply_error(req, 503, "the cockpit is busy with other work; retry in a moment");
	}
	return;
fail:
	cJSON_Delete(root);
	edit_free(j);
}

static void on_memory_save(struct httpd_req *req, void *arg)
{
	edit(req, arg, EDIT_MEMORY);
}

static void on_skill_create(struct httpd_req *req, void *arg)
{
	edit(req, arg, EDIT_SKILL_CREATE);
}

static void on_skill_save(struct httpd_req *req, void *arg)
{
	edit(req, arg, EDIT_SKILL_SAVE);
}

static void on_skill_delete(struct httpd_req *req, void *arg)
{
	edit(req, arg, EDIT_SKILL_DELETE);
}

void ui_edit_routes(struct ui *u, struct httpd *h)
{
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/memory/save", on_memory_save, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/skill/create", on_skill_create, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/skill/save", on_skill_save, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/skill/delete", on_skill_delete, u);
}
