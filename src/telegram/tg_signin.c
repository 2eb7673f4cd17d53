/* tg_signin: MCP sign-ins in Telegram, the front of gateway/mcp_signin.c. A sign-in that needs
 * a person is one message to the owner (the first of telegram.allowed_users) with a URL button
 * to the authorization URL; when no cockpit address is set the browser ends on a loopback
 * address nothing answers, and the owner pastes that address into the chat, which this file
 * takes before the agent sees it. How the sign-in ended is said in the same chat. The protocol
 * (state, PKCE, iss, the exchange) is mcp/oauth_signin.c's. Rejected: a /signin command (the
 * person would have to know a server needs one) and editing the button away (the message may
 * still be in the outbox; a second message says it plainly).
 */
#include "telegram/telegram_int.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "gateway/mcp_signin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t owner_chat(const struct telegram *t)
{
	return t->cfg->telegram.n_allowed_users ? t->cfg->telegram.allowed_users[0] : 0;
}

static void ask(const char *server, const char *url, int64_t expires_ms, bool paste, void *arg)
{
	struct telegram *t = arg;
	int64_t chat = owner_chat(t);
	int64_t minutes = (expires_ms - now_wall_ms() + 30000) / 60000;
	struct buf md, markup;
	char label[96];

	if (!chat)
		return;
	buf_init(&md, 0);
	buf_printf(&md,
		   "**Sign in to %s**\n\nThe MCP server %s needs you to sign in before its "
		   "tools can be used. The button opens its sign-in page; this sign-in expires "
		   "in %lld minutes.",
		   server, server, (long long)minutes);
	if (paste)
		buf_puts(&md,
			 "\n\nWhen the browser ends on a page that does not load (an address "
			 "starting with http://127.0.0.1/callback), copy that whole address and "
			 "paste it here.");
	snprintf(label, sizeof(label), "Sign in to %.60s", server);
	buf_init(&markup, 0);
	buf_puts(&markup, "{\"inline_keyboard\":[[{\"text\":");
	buf_json_str(&markup, label, strlen(label));
	buf_puts(&markup, ",\"url\":");
	buf_json_str(&markup, url, strlen(url));
	buf_puts(&markup, "}]]}");
	telegram_send(t, &(struct telegram_msg){.chat_id = chat,
						.markdown = buf_str(&md),
						.markup = buf_str(&markup)});
	buf_finish(&markup);
	buf_finish(&md);
}

static void closed(const char *server, int rc, const char *why, void *arg)
{
	struct telegram *t = arg;
	int64_t chat = owner_chat(t);
	char *md;

	if (!chat)
		return;
	if (rc == 0)
		md = xasprintf("Signed in to %s: its tools are available from your next message.",
			       server);
	else
		md = xasprintf("The sign-in to %s ended without signing in: %s", server, why);
	telegram_deliver(t, chat, md);
	free(md);
}

static const struct mcp_signin_front front = {ask, closed};

void telegram_set_signin(struct telegram *t, struct mcp_signin *s)
{
	if (!t || !s)
		return;
	t->signin = s;
	mcp_signin_set_front(s, &front, t);
}

struct signin_paste {
	struct signin_paste *next;
	int64_t chat_id;
	char *text;
};

bool tg_signin_paste(struct telegram *t, int64_t chat_id, const char *text)
{
	struct signin_paste *p, **at;

	if (!t->signin || !mcp_signin_is_redirect(text))
		return false;
	p = xcalloc(1, sizeof(*p));
	p->chat_id = chat_id;
	p->text = xstrdup(text);
	for (at = &t->pastes; *at; at = &(*at)->next)
		;
	*at = p;
	return true;
}

static void take(struct telegram *t, const struct signin_paste *p)
{
	char server[128] = "", err[400], *md;
	int rc;

	rc = mcp_signin_complete(t->signin, p->text, server, sizeof(server), err, sizeof(err));
	if (rc == 0)
		md = xasprintf("Got it: completing the sign-in to %s.", server);
	else
		md = xasprintf("Not taken: %s.", err);
	log_info("telegram: a sign-in address pasted in chat %lld: %s", (long long)p->chat_id,
		 rc == 0 ? "taken" : err);
	telegram_deliver(t, p->chat_id, md);
	free(md);
}

void tg_signin_take(struct telegram *t, bool ok)
{
	while (t->pastes) {
		struct signin_paste *p = t->pastes;

		t->pastes = p->next;
		if (ok)
			take(t, p);
		free(p->text);
		free(p);
	}
}
