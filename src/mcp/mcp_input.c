/* mcp_input: the 2026-07-28 revision's input_required results (SEP-2322). A server that
 * needs something from the client before it can answer (a question for the human, a model's
 * answer) no longer sends a request of its own: it answers ours with
 *   {"resultType": "input_required", "inputRequests": {KEY: {method, params}}, "requestState"}
 * and the client sends the same request again, with a new id, carrying
 *   "inputResponses": {KEY: result} and requestState exactly as it came (never when none
 * came). Each input request is answered by the path a server's request of the same method
 * takes (mcp_ask.c: elicitation through the owner's questions, sampling through the router),
 * pointed at the round instead of the wire. A round is one request's: what it collects is
 * never sent with any other request. An input request answered with an error (a method the
 * client does not offer, a form outside the restricted schema) fails the request with that
 * error: an inputResponse can only be a result. At most MAX_ROUNDS rounds per request and
 * MAX_INPUTS inputs per round, so a server cannot keep a call asking forever.
 */
#include "mcp/mcp.h"
#include "core/config.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/log.h"
#include "core/util.h"
#include "mcp/mcp_ask.h"
#include "mcp/mcp_int.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUNDS 8
#define MAX_INPUTS 16

struct mcp_round {
	struct mcp_round *next;
	struct pending *p;
	cJSON *responses; /* KEY -> result */
	char *state;	  /* requestState as it came, or NULL */
	char *error;	  /* the first input answered with an error, or NULL */
	size_t waiting;
	bool starting; /* inside mcp_input_required: answers may come before it returns */
};

static void unlink_round(struct mcp_round *r)
{
	struct mcp_server *s = r->p->s;

	for (struct mcp_round **pp = &s->rounds; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	r->p->round = NULL;
}

static void free_round(struct mcp_round *r)
{
	cJSON_Delete(r->responses);
	free(r->state);
	free(r->error);
	free(r);
}

static void fail_request(struct pending *p, const char *why)
{
	p->on_error(p, why, NULL, 0, false);
	p->s->m->core->free_pending(p);
}

/* Every input is answered: the request goes again, or fails with the first error. */
static void finish(struct mcp_round *r)
{
	struct pending *p = r->p;
	cJSON *params;

	unlink_round(r);
	if (r->error) {
		fail_request(p, r->error);
		free_round(r);
		return;
	}
	params = p->params ? json_exact_parse(p->params, strlen(p->params)) : NULL;
	if (!cJSON_IsObject(params)) {
		cJSON_Delete(params);
		params = cJSON_CreateObject();
	}
	cJSON_DeleteItemFromObjectCaseSensitive(params, "inputResponses");
	cJSON_DeleteItemFromObjectCaseSensitive(params, "requestState");
	cJSON_AddItemToObject(params, "inputResponses", r->responses);
	r->responses = NULL;
	if (r->state)
		cJSON_AddStringToObject(params, "requestState", r->state);
	free(p->params);
	p->params = json_exact_print(params);
	cJSON_Delete(params);
	free_round(r);
	log_info("mcp %s: %s sent again with the answers (round %d)", p->s->cfg->name, p->method,
		 p->rounds);
	p->s->m->core->transmit(p->s, p);
}

static void on_answer(void *arg, const char *key_json, const char *result_json, int code,
		      const char *message)
{
	struct mcp_round *r = arg;
	cJSON *key = json_parse(key_json, strlen(key_json), 0, NULL);
	const char *k = cJSON_IsString(key) ? key->valuestring : key_json;

	if (result_json) {
		cJSON_AddItemToObject(r->responses, k,
				      json_exact_parse(result_json, strlen(result_json)));
	} else if (!r->error) {
		r->error = xasprintf("the server's input request %s could not be answered: %s "
				     "(%d)",
				     k, message ? message : "error", code);
	}
	cJSON_Delete(key);
	if (--r->waiting == 0 && !r->starting)
		finish(r);
}

bool mcp_input_required(struct pending *p, const char *result_json, size_t len)
{
	struct mcp_server *s = p->s;
	cJSON *root = json_exact_parse(result_json, len), *req;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "resultType");
	const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(root, "inputRequests");
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(root, "requestState");
	struct mcp_reply_to to = {on_answer, NULL};
	struct mcp_round *r;
	char *why;

	if (!cJSON_IsString(type) || strcmp(type->valuestring, "input_required") != 0) {
		cJSON_Delete(root);
		return false;
	}
	if (++p->rounds > MAX_ROUNDS || cJSON_GetArraySize(inputs) > MAX_INPUTS ||
	    (inputs && !cJSON_IsObject(inputs)) || (state && !cJSON_IsString(state)) ||
	    (!cJSON_GetArraySize(inputs) && !state)) {
		why = xasprintf("the server asked for input in a way hermetic does not follow "
				"(round %d of at most %d, at most %d inputs a round, inputRequests "
				"an object, requestState a string, one of them present)",
				p->rounds, MAX_ROUNDS, MAX_INPUTS);
		cJSON_Delete(root);
		fail_request(p, why);
		free(why);
		return true;
	}
	r = xcalloc(1, sizeof(*r));
	r->p = p;
	r->responses = cJSON_CreateObject();
	r->state = state ? xstrdup(state->valuestring) : NULL;
	r->starting = true;
	r->next = s->rounds;
	s->rounds = r;
	p->round = r;
	to.arg = r;
	r->waiting = (size_t)cJSON_GetArraySize(inputs);
	log_info("mcp %s: %s needs %zu input(s) first", s->cfg->name, p->method, r->waiting);
	cJSON_ArrayForEach(req, inputs)
	{
		const cJSON *method = cJSON_GetObjectItemCaseSensitive(req, "method");
		const cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params");
		cJSON *key = cJSON_CreateString(req->string);
		char *key_json = json_exact_print(key);
		char *params_json = params ? json_exact_print(params) : NULL;

		cJSON_Delete(key);
		mcp_asks_input(s->m->asks, s, p->call, &to, key_json,
			       cJSON_IsString(method) ? method->valuestring : "", params_json);
		free(key_json);
		free(params_json);
	}
	cJSON_Delete(root);
	r->starting = false;
	if (r->waiting == 0)
		finish(r);
	return true;
}

void mcp_input_forget(struct pending *p)
{
	struct mcp_round *r = p->round;

	if (!r)
		return;
	unlink_round(r);
	mcp_asks_withdraw_input(p->s->m->asks, r);
	free_round(r);
}

void mcp_input_server_gone(struct mcp_server *s, const char *why)
{
	while (s->rounds) {
		struct mcp_round *r = s->rounds;
		struct pending *p = r->p;

		unlink_round(r);
		mcp_asks_withdraw_input(s->m->asks, r);
		free_round(r);
		fail_request(p, why);
	}
}
