/* tg_media_speak: a voice reply (tg_media.h): the reply's text, cut at SPEECH_MAX_CHARS on a
 * character boundary, sent through the router to auxiliary.speech (an OpenAI-style
 * /audio/speech call in the chat's lane, answered as Ogg/Opus, which Telegram's sendVoice
 * takes as it is), and saved atomically through safeio as home/media/<update>-reply.ogg.
 *
 * Split out of tg_media.c (a received file made ready for a turn): the two share only the
 * media folder under home. Rejected: encoding audio here (the speech API already answers Opus).
 */
#include "telegram/tg_media.h"
#include "core/config.h"
#include "core/safeio.h"
#include "core/util.h"
#include "router/router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPEECH_MAX_CHARS 4096

static const struct router_caller speech_caller = {
	.key_hash = "internal", .source = "telegram", .purpose = "speech"};

struct speak {
	struct tg_media_env env;
	tg_speak_cb cb;
	void *arg;
	int64_t update_id;
};

static void on_spoken(struct router_call *rc, const struct router_result *r, void *arg)
{
	struct speak *s = arg;
	char rel[96], *err = NULL;
	int home_fd = -1, wrc = 0;

	snprintf(rel, sizeof(rel), TG_MEDIA_DIR "/%lld-reply.ogg", (long long)s->update_id);
	if (r->status != 200)
		err = xasprintf("speech failed (HTTP %d)", r->status);
	else if (r->body_len < 4 || memcmp(r->body, "OggS", 4) != 0)
		err = xstrdup("speech did not answer with Ogg/Opus audio");
	if (!err) {
		home_fd = safeio_open_home(s->env.cfg->home);
		wrc = home_fd < 0 ? home_fd : safeio_mkdirs_at(home_fd, TG_MEDIA_DIR, 0700);
		if (wrc == 0)
			wrc = safeio_write_atomic_at(home_fd, rel, r->body, r->body_len, 0600);
		if (wrc < 0)
			err = xasprintf("could not save %s: %s", rel, safeio_strerror(wrc));
		if (home_fd >= 0)
			close(home_fd);
	}
	s->cb(err ? NULL : rel, err, s->arg);
	free(err);
	free(s);
}

static const struct router_cbs speak_cbs = {.on_done = on_spoken};

int tg_media_speak(const struct tg_media_env *env, int64_t update_id, const char *text,
		   tg_speak_cb cb, void *arg, struct router_call **out)
{
	struct speak *s;
	struct buf body;
	struct router_caller who = speech_caller;
	size_t len = strlen(text), cut = 0, chars = 0;
	int rc;

	if (!env->cfg->auxiliary.speech)
		return -ENOENT;
	/* At most 4096 characters, cut on a character boundary. */
	while (cut < len && chars < SPEECH_MAX_CHARS) {
		size_t n = utf8_seq(text + cut, len - cut);

		cut += n ? n : 1;
		chars++;
	}
	who.lane = env->lane;
	s = xcalloc(1, sizeof(*s));
	s->env = *env;
	s->cb = cb;
	s->arg = arg;
	s->update_id = update_id;
	buf_init(&body, 0);
	buf_puts(&body, "{\"model\":");
	buf_json_str(&body, env->cfg->auxiliary.speech, strlen(env->cfg->auxiliary.speech));
	buf_puts(&body, ",\"input\":");
	buf_json_str(&body, text, cut);
	buf_puts(&body, ",\"voice\":");
	buf_json_str(&body, env->cfg->telegram.voice, strlen(env->cfg->telegram.voice));
	buf_puts(&body, ",\"response_format\":\"opus\"}");
	rc = router_call(env->router,
			 &(struct router_request){PROVIDER_SPEECH, body.data, body.len, NULL, 0},
			 &who, &speak_cbs, s, out);
	buf_finish(&body);
	if (rc < 0) {
		free(s);
		return rc;
	}
	return 0;
}
