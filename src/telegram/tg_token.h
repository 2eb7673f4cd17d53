/* tg_token: the bot's token as Telegram judges it. A token Telegram refuses (401
 * Unauthorized; 404 Not Found for one that is not a token's shape) is a wrong token, and one
 * sentence says so and what to do, the same in the gateway's log, its /readyz and `hermetic
 * doctor`. getMe checks a token and names the bot (doctor).
 *
 * Async contract (httpc's): if tg_get_me returns an error, done never fires; otherwise it
 * fires exactly once, from the loop. The request is bounded in time and size; the token never
 * appears in a result (error texts are redacted).
 */
#ifndef HERMETIC_TG_TOKEN_H
#define HERMETIC_TG_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct loop;

/* Whether Telegram's answer to getMe, deleteWebhook or getUpdates says the token is wrong: 401
 * (a token of the right shape that no bot has), or 404 with Telegram's bare "Not Found" (a
 * text that is not a token's shape; these methods always exist). description may be NULL. */
bool tg_token_refused(long error_code, const char *description);

/* Writes the one line (no newline) that says the token was refused with error_code, where the
 * token is configured and what to do, into out (cut at len). */
void tg_token_refused_text(long error_code, char *out, size_t len);

enum tg_me_result {
	TG_ME_OK,      /* text: the bot's username, without "@" */
	TG_ME_REFUSED, /* text: tg_token_refused_text's line */
	TG_ME_FAILED,  /* text: what failed (network, a server error), redacted */
};

/* text is borrowed for the call. */
typedef void (*tg_me_cb)(enum tg_me_result r, const char *text, void *arg);

/* Calls getMe with cfg's telegram.token at telegram.api_base, within timeout_ms. Returns 0,
 * or -EINVAL (Telegram is off, the request could not start): done does not fire then. */
int tg_get_me(struct loop *l, const struct config *cfg, long timeout_ms, tg_me_cb done, void *arg);

#endif
