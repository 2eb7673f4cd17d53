/* hooks: `POST /v1/hooks/<name>` on the loopback API, one route per configured hook. A
 * request with the hook's own bearer token and a JSON body starts a fresh agent turn with the
 * hook's prompt template rendered over the body, and the answer is delivered to the hook's
 * `deliver` target.
 *
 * Replies (errors in OpenAI's shape):
 *   200 {"run_id","status":"ok"|"failed","result"}  sync hook, when the turn is done
 *   202 {"run_id","status":"accepted"}               async hook, at once
 *   400 body is not JSON, or an idempotency key is too long
 *   401 missing or wrong token (another hook's token is wrong too)
 *   409 a turn of this hook is running (the sink refused with -EBUSY); retry later
 * Idempotency: the key is the Idempotency-Key header, else the body's idempotency_field. A
 * repeated key runs nothing and gets the first run's answer (200), or 202 with its run id
 * while that run is still going. Keys are kept 7 days.
 * A keyed run that did not finish (the gateway was killed, crashed or stopped mid-run) is never
 * absorbed: at the next start it runs again from its stored prompt under the same run id (one
 * at a time per hook) and is delivered; a repeated key meanwhile starts it at once. A run that
 * was cut short by a crash or kill HOOKS_MAX_CRASHES times is marked failed instead (a payload
 * that kills the process must not be paid for at every start). Runs without a key are not
 * stored and are not resumed.
 */
#ifndef HERMETIC_HOOKS_H
#define HERMETIC_HOOKS_H

#include <stddef.h>

struct buf;
struct config;
struct httpd;
struct job_sink;
struct loop;
struct metrics;
struct store;

#define HOOKS_PROMPT_MAX  (32 * 1024)
#define HOOKS_KEY_MAX	  256
#define HOOKS_KEEP_MS	  (7LL * 24 * 3600 * 1000)
#define HOOKS_RESULT_MAX  (64 * 1024)
#define HOOKS_MAX_CRASHES 2

/* The store migration of the idempotency table (appended to the list in gateway/schema.c). */
#define HOOKS_SCHEMA_SQL                                                                           \
	"CREATE TABLE hook_runs (hook TEXT NOT NULL, key TEXT NOT NULL, run_id TEXT NOT NULL,"     \
	" status TEXT NOT NULL, result TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL,"     \
	" PRIMARY KEY (hook, key)) STRICT;"                                                        \
	"CREATE INDEX hook_runs_by_time ON hook_runs (created_ms);"
/* The prompt of a run not yet finished (emptied when it ends) and how many times a crash or
 * kill cut it short, so an interrupted run can run again at start. */
#define HOOKS_RESUME_SQL                                                                           \
	"ALTER TABLE hook_runs ADD COLUMN prompt TEXT NOT NULL DEFAULT '';"                        \
	"ALTER TABLE hook_runs ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;"

struct hooks;

/* Borrows cfg, loop, store, sink and metrics (NULL = none); they must outlive
 * hooks_destroy(). Prunes idempotency keys older than HOOKS_KEEP_MS, marks runs left
 * `running` by a crash or kill as interrupted, and resumes interrupted runs from the loop
 * (a zero timer: nothing runs before the loop does). */
struct hooks *hooks_create(const struct config *cfg, struct loop *loop, struct store *store,
			   struct metrics *metrics, const struct job_sink *sink);
/* Adds POST /v1/hooks/<name> for every configured hook. */
void hooks_add_routes(struct hooks *h, struct httpd *api);
/* Answers requests still waiting with 503 and forgets runs in flight: their done callbacks
 * only free their own memory (nothing is delivered); their keys are marked interrupted so
 * they run again at the next start. Call before destroying the httpd. Accepts NULL. */
void hooks_destroy(struct hooks *h);

/* Renders tmpl over the JSON text payload_json into out (appended): {{payload}} is the
 * compact JSON, {{payload.a.b}} that field (a string raw, other values as compact JSON,
 * array items by index, missing = empty); spaces inside the braces are allowed; any other
 * {{...}} is kept as written. The result is cut at HOOKS_PROMPT_MAX bytes (on a UTF-8
 * boundary) with a note. Returns 0, 1 when cut, or -EINVAL when payload_json is not JSON
 * (out unchanged). */
int hooks_render(const char *tmpl, const char *payload_json, struct buf *out);

#endif
