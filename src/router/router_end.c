/* router_end: a call's end written, nothing decided. The call's one timer armed (its callback,
 * router.c's, then finishes, retries or times the stream out), the final answer's body set,
 * LiteLLM's error body built and set (a request field's 400, any other error), and an error
 * message scrubbed of the attempt's credentials before the client or the log sees it. What
 * happens next is router.c's: this file calls no other file of the router (answer_scan.c's
 * and gtoken.c's pure reads aside), so every helper may end a call through it.
 */
#include "router/router_int.h"
#include "router/gtoken.h"
#include "router/policy.h"
#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *router_error_json(enum policy_eclass c, long status, const char *msg)
{
	cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
	char code[16];

	snprintf(code, sizeof(code), "%ld", status);
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", policy_type_name(c));
	cJSON_AddNullToObject(e, "param");
	cJSON_AddStringToObject(e, "code", code);
	return root;
}

void router_arm(struct router_call *c, int kind, int64_t delay_ms)
{
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};

	c->timer_kind = kind;
	if (delay_ms > 0) {
		evtimer_add(c->timer, &tv);
		return;
	}
	/* "Now, from the loop": activating the event runs it after the current callback in the
	 * same loop iteration; a zero timeout would cost one more epoll_wait round. */
	evtimer_del(c->timer);
	event_active(c->timer, EV_TIMEOUT, 1);
}

void router_set_final(struct router_call *c, char *body, size_t len, const char *type)
{
	free(c->final_body);
	free(c->final_type);
	c->final_body = body;
	c->final_len = len;
	c->final_type = type ? xstrdup(type) : NULL;
}

void router_fail_json(struct router_call *c, enum policy_eclass cls, long status, cJSON *root)
{
	char *body = cJSON_PrintUnformatted(root);

	cJSON_Delete(root);
	c->err = cls;
	c->err_status = status;
	c->final_status = (int)policy_client_status(cls, status);
	router_set_final(c, body, strlen(body), NULL);
	router_arm(c, T_FINISH, 0);
}

void router_fail_call(struct router_call *c, enum policy_eclass cls, long status, const char *msg)
{
	router_fail_json(c, cls, status,
			 router_error_json(cls, policy_client_status(cls, status), msg));
}

bool router_refuse_param(struct router_call *c, const char *msg, const char *param,
			 const char *code)
{
	cJSON *root = router_error_json(E_BAD_REQUEST, 400, msg), *e;

	e = cJSON_GetObjectItemCaseSensitive(root, "error");
	cJSON_ReplaceItemInObjectCaseSensitive(e, "param", cJSON_CreateString(param));
	cJSON_ReplaceItemInObjectCaseSensitive(e, "code", cJSON_CreateString(code));
	router_fail_json(c, E_BAD_REQUEST, 400, root);
	return true;
}

char *router_scrub(const struct router_call *c, const char *text)
{
	const char *own[3] = {NULL};
	size_t n = 0;

	if (c->dep) {
		own[n++] = c->dep->m->litellm_params.api_key;
		if (c->dep->gacct)
			n += gtoken_tokens(c->dep->gacct, own + n);
	}
	return log_redact_with(text, own, n);
}

void router_scrub_error(struct router_call *c)
{
	char *clean = c->err_msg ? router_scrub(c, c->err_msg) : NULL;

	free(c->err_msg);
	c->err_msg = clean;
}
