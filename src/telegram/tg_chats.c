/* tg_chats: the chats. Which may be served (telegram.allowed_users in private chats, the
 * groups of telegram.allowed_chats), and the state in memory of those being served: found,
 * made on first use, freed by tg_reap_chats as soon as they have nothing to do, so their
 * number follows the work, not everyone who ever wrote.
 *
 * It calls no other file of the bot but tg_live.c's tg_live_clear; the rest call down to it.
 */
#include "telegram/telegram_int.h"
#include "core/config.h"
#include "core/util.h"

#include <event2/event.h>
#include <stdlib.h>

bool tg_group_allowed(const struct config *cfg, int64_t chat_id)
{
	for (size_t i = 0; i < cfg->telegram.n_allowed_chats; i++)
		if (cfg->telegram.allowed_chats[i] == chat_id)
			return true;
	return false;
}

bool tg_allowed(const struct config *cfg, int64_t user_id)
{
	for (size_t i = 0; i < cfg->telegram.n_allowed_users; i++)
		if (cfg->telegram.allowed_users[i] == user_id)
			return true;
	return false;
}

struct chat *tg_chat_find(struct telegram *t, int64_t id)
{
	for (struct chat *c = t->chats; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

struct chat *tg_chat_get(struct telegram *t, int64_t id)
{
	struct chat *c = tg_chat_find(t, id);

	if (c)
		return c;
	c = xcalloc(1, sizeof(*c));
	c->t = t;
	c->id = id;
	c->next = t->chats;
	t->chats = c;
	return c;
}

void tg_chat_free(struct chat *c)
{
	if (c->typing)
		event_free(c->typing);
	if (c->retry)
		event_free(c->retry);
	if (c->live.ev)
		event_free(c->live.ev);
	tg_live_clear(&c->live);
	free(c->live.sending);
	free(c->markup);
	free(c->untrusted);
	free(c);
}

/* Frees the chats with nothing to do (no turn, no row, no send gap pending): chats exist
 * only while they work, so their number follows the work, not everyone who ever wrote.
 * Called only from the top of an event callback, never with a chat on the stack. */
void tg_reap_chats(struct telegram *t)
{
	int64_t now = now_mono_ms();

	for (struct chat **p = &t->chats; *p;) {
		struct chat *c = *p;

		/* A pressed Steer waits for the owner's next message (tg_tasks.c). */
		if (c->turn || c->media || c->speaking || c->busy_update || c->next_send_ms > now ||
		    c->steer_task || c->live.in_flight || c->live.n_react || c->live.react_flight) {
			p = &c->next;
			continue;
		}
		*p = c->next;
		tg_chat_free(c);
	}
}
