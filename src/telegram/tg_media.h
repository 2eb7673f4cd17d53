/* tg_media: a Telegram media message made ready for a turn, and voice replies.
 *
 *   receipt   tg_media_pick() reads the message: which file to take (the largest photo size
 *             under telegram.max_image_bytes, else the smallest, which the job refuses), stored
 *             with the inbox row before anything is downloaded.
 *   fetch     getFile, then the file from telegram.api_base's /file/bot<token>/<path>, written
 *             as it arrives to home/media/<update_id>.<ext>.part (never whole in memory), capped
 *             by telegram.max_image_bytes for a photo and telegram.max_file_bytes for any other
 *             file, renamed into place when complete. A truncated or failed download is tried
 *             once more.
 *   prepare   voice, audio, video_note: transcribed through the router's
 *             auxiliary.transcription group (/v1/audio/transcriptions, or a chat group with
 *             model_info.supports_audio_input through an input_audio part); tried twice.
 *             photo: an image part when the turn's model group has supports_vision, else a
 *             description by auxiliary.vision. document: text-like files as text (or their path
 *             when large), PDFs as a file part where the model reads them, else a clear refusal;
 *             either way untrusted text (tg_media_ready.untrusted).
 *
 * Every result a model produced (transcript, description) is kept beside the file as
 * <file>.txt, and a finished download is kept as the file: a job started again after a
 * restart takes them and makes no second download or model call.
 *
 * Async contract: tg_media_start returns 0 and cb fires exactly once, later, from the loop
 * (also on cancel, with cancelled set). tg_media_speak the same.
 */
#ifndef HERMETIC_TG_MEDIA_H
#define HERMETIC_TG_MEDIA_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The folder under home that holds received media and voice replies. */
#define TG_MEDIA_DIR "media"

struct agent_part;
struct config;
struct loop;
struct router;
struct router_call;
struct tg_media;

struct tg_media_env {
	const struct config *cfg;
	struct loop *loop;
	struct router *router;
	const char *lane; /* the chat's lane (router_caller.lane; the config's), NULL = none */
};

struct tg_media_ready {
	bool cancelled;
	const char *error;     /* non-NULL: say this to the user instead of running a turn */
	const char *turn_text; /* the user message of the turn */
	const char *echo;      /* Markdown to show first (a transcript), NULL = none */
	const struct agent_part *parts;
	size_t n_parts;
	bool voice; /* a voice note or audio (telegram.voice_replies: mirror) */
	/* NULL, or why turn_text and parts hold someone else's words (a document's contents,
	 * whoever sent it): the turn is tainted (agent_turn_opts.untrusted). */
	const char *untrusted;
	double cost_usd; /* model calls this job made */
};

typedef void (*tg_media_cb)(const struct tg_media_ready *r, void *arg);

/* The media of a message: *kind ("voice", "photo", ...) and the JSON to store with its inbox
 * row (malloc'd), or NULL when the message carries no file hermetic takes (*kind is then
 * still set for a refusal: "sticker", "video", ...; "text" for a text message). */
char *tg_media_pick(const cJSON *msg, const struct config *cfg, const char **kind);

int tg_media_start(const struct tg_media_env *env, int64_t update_id, const char *media_json,
		   const char *caption, const char *turn_model, tg_media_cb cb, void *arg,
		   struct tg_media **out);
/* Stops the job; cb fires later with cancelled. Not after cb. */
void tg_media_cancel(struct tg_media *m);

/* A voice reply: text through auxiliary.speech as Ogg/Opus into home/media/<update>-reply.ogg.
 * cb gets rel (the file, relative to home) or error. */
typedef void (*tg_speak_cb)(const char *rel, const char *error, void *arg);
int tg_media_speak(const struct tg_media_env *env, int64_t update_id, const char *text,
		   tg_speak_cb cb, void *arg, struct router_call **out);

/* Deletes files under home/media older than media.retention_days, then the oldest until the
 * directory holds at most media.max_total_bytes (files younger than an hour are kept).
 * Returns how many files went. */
int tg_media_prune(const struct config *cfg, int64_t now_wall_ms);

#endif
