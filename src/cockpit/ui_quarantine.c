/* ui_quarantine: the cockpit's quarantined skills. GET /v1/ui/quarantine lists each skill
 * that `hermetic skill install` holds in home/skills/.quarantine (skills.lock's
 * "quarantined" lines): where it came from, its locked hash and whether its content still has
 * it, and every file line by line with each script, URL and tool instruction flagged
 * (skills/skill_quarantine.c's review, the same flags `hermetic skill show` prints), and the
 * sha256 of the content it read ("content_sha256"). POST /v1/ui/quarantine/approve {"name",
 * "sha256"} does what `hermetic skill approve NAME --sha256 HEX` does: the page sends the
 * content sha256 it displayed, so a skill replaced since (skill update) is a 409, never an
 * approval of text nobody saw. Behind the session's CSRF token (ui_gate) like every cockpit
 * action, with an audit line. Both run on the offload thread: they read folders and rename
 * one.
 */
#include "core/audit.h"
#include "core/config.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/safeio.h"
#include "core/util.h"
#include "cockpit/ui_int.h"
#include "net/httpd.h"
#include "skills/skill_hist.h"
#include "skills/skill_quarantine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct q_job {
	struct httpd_req *req;
	const struct config *cfg;
	char *name;   /* approve: the skill; NULL: the list */
	char *sha256; /* approve: the content sha256 the page displayed */
	int rc, status;
	struct buf out; /* the list's JSON, or why approval was refused */
};

/* ---- the list ------------------------------------------------------------------------- */

struct walk {
	cJSON *files, *lines; /* the current file's lines */
};

static void on_file(const struct skill_pack_file *f, bool script, bool binary, void *arg)
{
	struct walk *w = arg;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "path", f->path);
	cJSON_AddNumberToObject(o, "bytes", (double)f->len);
	cJSON_AddBoolToObject(o, "script", script);
	cJSON_AddBoolToObject(o, "binary", binary);
	w->lines = cJSON_AddArrayToObject(o, "lines");
	cJSON_AddItemToArray(w->files, o);
}

static void on_line(size_t no, const char *text, size_t len, bool url, bool tool, void *arg)
{
	struct walk *w = arg;
	cJSON *o = cJSON_CreateObject();
	char *s = xstrndup(text, len);

	cJSON_AddNumberToObject(o, "no", (double)no);
	cJSON_AddStringToObject(o, "text", s);
	if (url)
		cJSON_AddBoolToObject(o, "url", true);
	if (tool)
		cJSON_AddBoolToObject(o, "tool", true);
	cJSON_AddItemToArray(w->lines, o);
	free(s);
}

/* One quarantined skill as the owner reviews it. */
static cJSON *skill_json(const struct q_job *j, int home_fd, const struct skill_lock_entry *e)
{
	static const struct skill_review_cbs cbs = {on_file, on_line};
	cJSON *o = cJSON_CreateObject(), *fl;
	struct skill_pack p = {0};
	struct skill_review_flags flags;
	struct walk w = {NULL, NULL};
	struct buf err;
	char *rel = xasprintf(SKILL_QUARANTINE "/%s", e->name);
	char *dir = xasprintf("%s/%s", j->cfg->home, rel), hash[65], after[65];

	cJSON_AddStringToObject(o, "name", e->name);
	cJSON_AddStringToObject(o, "source", e->source);
	cJSON_AddStringToObject(o, "sha256", e->hash);
	cJSON_AddNumberToObject(o, "installed_ms", (double)e->ms);
	buf_init(&err, 0);
	/* Hashed before and after the read: the files shown are the content_sha256 given,
	 * or the listing says so instead of pairing one content's text with another's hash. */
	if (skill_hist_hash(home_fd, rel, hash) < 0 || skill_read_folder(dir, &p, &err) < 0 ||
	    skill_hist_hash(home_fd, rel, after) < 0) {
		cJSON_AddStringToObject(o, "error", err.len ? buf_str(&err) : "cannot be read");
	} else if (strcmp(hash, after) != 0) {
		cJSON_AddStringToObject(o, "error",
					"it changed while it was read: reload the page");
	} else {
		/* Approval refuses a skill changed since it was installed: said before the click.
		 */
		cJSON_AddBoolToObject(o, "changed", strcmp(hash, e->hash) != 0);
		/* what these files hash to: what an approval of this listing must carry */
		cJSON_AddStringToObject(o, "content_sha256", hash);
		w.files = cJSON_AddArrayToObject(o, "files");
		skill_review(&p, &cbs, &w, &flags);
		fl = cJSON_AddObjectToObject(o, "flags");
		cJSON_AddNumberToObject(fl, "scripts", (double)flags.scripts);
		cJSON_AddNumberToObject(fl, "urls", (double)flags.urls);
		cJSON_AddNumberToObject(fl, "tools", (double)flags.tools);
	}
	buf_finish(&err);
	skill_pack_finish(&p);
	free(dir);
	free(rel);
	return o;
}

static void list_work(struct q_job *j)
{
	struct skill_lock l = {0};
	int home_fd = safeio_open_home(j->cfg->home);
	cJSON *root, *arr;
	char *text;

	j->rc = home_fd < 0 ? home_fd : skill_lock_load(home_fd, &l);
	if (j->rc == -ENOENT) /* no home yet: nothing installed */
		j->rc = 0;
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "skills");
	for (size_t i = 0; j->rc == 0 && i < l.n; i++)
		if (strcmp(l.v[i].state, "quarantined") == 0)
			cJSON_AddItemToArray(arr, skill_json(j, home_fd, &l.v[i]));
	text = cJSON_PrintUnformatted(root);
	buf_puts(&j->out, text);
	free(text);
	cJSON_Delete(root);
	skill_lock_finish(&l);
	if (home_fd >= 0)
		close(home_fd);
	j->status = j->rc == 0 ? 200 : 500;
	if (j->rc < 0) {
		buf_reset(&j->out);
		buf_printf(&j->out, "cannot read %s: %s", SKILL_LOCK_FILE, safeio_strerror(j->rc));
	}
}

/* ---- approval ------------------------------------------------------------------------- */

static int approve_status(int rc)
{
	switch (rc) {
	case 0:
		return 200;
	case -ENOENT:
		return 404;
	case -EEXIST:
	case -EBADMSG:
	case -ESTALE:
		return 409;
	case -EINVAL:
		return 422;
	default:
		return 500;
	}
}

static void approve_audit(const struct q_job *j)
{
	struct audit_line l;

	audit_begin(&l, "edit");
	if (!l.on)
		return;
	audit_str(&l, "source", "ui:cockpit");
	audit_str(&l, "target", "skill");
	audit_str(&l, "action", "approve");
	audit_str(&l, "name", j->name);
	audit_str(&l, "sha256", j->sha256);
	audit_str(&l, "outcome", j->rc == 0 ? "ok" : j->status < 500 ? "refused" : "error");
	if (j->rc < 0)
		audit_str(&l, "error", buf_str(&j->out));
	audit_end(&l);
}

/* ---- the routes ----------------------------------------------------------------------- */

static void q_work(void *arg)
{
	struct q_job *j = arg;

	if (!j->name) {
		list_work(j);
		return;
	}
	j->rc = skill_quarantine_approve(j->cfg, j->name, j->sha256, NULL, &j->out);
	j->status = approve_status(j->rc);
}

static void q_free(void *arg)
{
	struct q_job *j = arg;

	free(j->name);
	free(j->sha256);
	buf_finish(&j->out);
	free(j);
}

static void q_done(void *arg)
{
	struct q_job *j = arg;

	if (j->name)
		approve_audit(j);
	if (j->status != 200) {
		ui_reply_error(j->req, j->status, buf_str(&j->out));
	} else if (j->name) {
		cJSON *o = cJSON_CreateObject();

		log_info("ui: skill %s approved from the cockpit (%s)", j->name,
			 httpd_peer(j->req));
		cJSON_AddBoolToObject(o, "ok", true);
		cJSON_AddStringToObject(o, "name", j->name);
		cJSON_AddStringToObject(o, "sha256", j->sha256);
		ui_reply_json(j->req, 200, o);
	} else {
		ui_reply_json_text(j->req, 200, buf_str(&j->out), j->out.len);
	}
	q_free(j);
}

/* The gateway stops with the approval made or refused: the trail still records it. */
static void q_abandon(void *arg)
{
	struct q_job *j = arg;

	if (j->name)
		approve_audit(j);
	q_free(j);
}

static void run_job(struct ui *u, struct httpd_req *req, char *name, char *sha256)
{
	struct q_job *j = xcalloc(1, sizeof(*j));

	j->req = req;
	j->cfg = u->cfg;
	j->name = name;
	j->sha256 = sha256;
	buf_init(&j->out, 0);
	if (offload_run(u->work, q_work, q_done, q_abandon, j) < 0) {
		q_free(j);
		httpd_add_header(req, "Retry-After", "1");
		ui_reply_error(req, 503, "the cockpit is busy with other work; retry in a moment");
	}
}

static void on_list(struct httpd_req *req, void *arg)
{
	if (ui_gate(arg, req))
		run_job(arg, req, NULL, NULL);
}

static void on_approve(struct httpd_req *req, void *arg)
{
	const char *say = "expected {\"name\": \"a quarantined skill\", \"sha256\": \"the "
			  "content_sha256 of the listing you reviewed\"}";
	cJSON *root;
	const char *name, *sha256;

	if (!ui_gate(arg, req))
		return;
	root = ui_body_object(req, say);
	if (!root)
		return;
	name = ui_str_item(root, "name");
	sha256 = ui_str_item(root, "sha256");
	if (!*name || !*sha256) {
		cJSON_Delete(root);
		ui_reply_error(req, 400, say);
		return;
	}
	run_job(arg, req, xstrdup(name), xstrdup(sha256));
	cJSON_Delete(root);
}

void ui_quarantine_routes(struct ui *u, struct httpd *h)
{
	httpd_route(h, HTTPD_GET, "/v1/ui/quarantine", on_list, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/quarantine/approve", on_approve, u);
}
