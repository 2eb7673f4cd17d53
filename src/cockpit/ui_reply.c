/* ui_reply: the answers and request helpers every route of the cockpit uses: the page
 * headers (a strict CSP with no inline script or style, nosniff, no referrer, no frames), JSON
 * answers that are never cached, the POST body as JSON through the one parser, typed members
 * of it, a query parameter decoded, an If-None-Match list matched.
 *
 * It calls nothing else of cockpit/: ui.c and the route files (ui_login.c, ui_read.c, ...)
 * call down to it, so the files of the cockpit do not call each other in a circle (make lint).
 */
#include "cockpit/ui.h"
#include "cockpit/ui_int.h"
#include "core/json.h"
#include "core/util.h"
#include "net/httpd.h"

#include <cjson/cJSON.h>
#include <string.h>

#define CSP                                                                                        \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/* ---- pure helpers ------------------------------------------------------------------------ */

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	return p;
}

bool ui_etag_match(const char *inm, const char *etag)
{
	const char *p = inm;
	size_t n = strlen(etag);

	if (!p)
		return false;
	for (p = skip_ws(p); *p; p = skip_ws(p)) {
		const char *end = p;

		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p != '"')
			return false;
		end = strchr(p + 1, '"');
		if (!end)
			return false;
		end++;
		if ((size_t)(end - p) == n && memcmp(p, etag, n) == 0)
			return true;
		p = end;
	}
	return false;
}

bool ui_query_param(const char *query, const char *name, char *out, size_t len)
{
	size_t nlen = strlen(name);
	const char *p = query;

	while (p && *p) {
		const char *end = strchr(p, '&');

		if (!end)
			end = p + strlen(p);
		if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t n = 0;

			if (!out)
				return true; /* only whether it is there */

			for (p += nlen + 1; p < end; p++) {
				char c = *p;

				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					int hi = p + 2 < end ? hex_digit(p[1]) : -1;
					int lo = hi >= 0 ? hex_digit(p[2]) : -1;

					if (lo < 0 || (hi == 0 && lo == 0))
						return false;
					c = (char)(hi << 4 | lo);
					p += 2;
				}
				if (n + 1 >= len)
					return false;
				out[n++] = c;
			}
			out[n] = '\0';
			return true;
		}
		p = *end ? end + 1 : end;
	}
	return false;
}

/* ---- answers ----------------------------------------------------------------------------- */

void ui_page_headers(struct httpd_req *req)
{
	httpd_add_header(req, "Content-Security-Policy", CSP);
	httpd_add_header(req, "X-Content-Type-Options", "nosniff");
	httpd_add_header(req, "Referrer-Policy", "no-referrer");
	httpd_add_header(req, "X-Frame-Options", "DENY");
}

void ui_reply_json_text(struct httpd_req *req, int status, const char *text, size_t len)
{
	ui_page_headers(req);
	httpd_add_header(req, "Cache-Control", "no-store");
	httpd_reply(req, status, "application/json", text, len);
}

void ui_reply_json(struct httpd_req *req, int status, cJSON *root)
{
	ui_page_headers(req);
	httpd_add_header(req, "Cache-Control", "no-store");
	httpd_reply_json(req, status, root);
}

void ui_reply_error(struct httpd_req *req, int status, const char *message)
{
	cJSON *root = cJSON_CreateObject();

	cJSON_AddStringToObject(root, "error", message);
	ui_reply_json(req, status, root);
}

/* The POST's body as JSON, or NULL with the reason in *err: the caller answers 400 with
 * err->msg when err->duplicate (the member is named), else with its own hint. */
cJSON *ui_body_json(struct httpd_req *req, struct json_error *err)
{
	size_t len = 0;
	const char *body = httpd_body_ref(req, &len);

	return json_parse(body, len, 0, err);
}

/* The POST's JSON object, or NULL with req answered 400 (say: what was expected). */
cJSON *ui_body_object(struct httpd_req *req, const char *say)
{
	struct json_error err;
	cJSON *root = ui_body_json(req, &err);

	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		ui_reply_error(req, 400, !root && err.duplicate ? err.msg : say);
		return NULL;
	}
	return root;
}

bool ui_int_item(const cJSON *o, const char *name, int64_t min, int64_t max, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v) || v->valuedouble < (double)min || v->valuedouble > (double)max ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return false;
	*out = (int64_t)v->valuedouble;
	return true;
}

const char *ui_str_item(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}
