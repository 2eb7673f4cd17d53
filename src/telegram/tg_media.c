/* tg_media: see tg_media.h. Voice replies are tg_media_speak.c's, retention
 * tg_media_prune.c's. One job per media message; a job is a chain of callbacks on the
 * loop: getFile -> download -> (model call) -> ready. Files are opened only through safeio
 * below home (no symlink, no "..": the file path Telegram gives is checked as well), and the
 * only host contacted is telegram.api_base.
 *
 * Rejected: decoding audio or images ourselves (Telegram already offers several photo sizes,
 * and the transcription APIs take Ogg/Opus as Telegram records it), and base64 copies of a
 * whole file: parts are encoded from the file in pieces.
 */
#include "telegram/tg_media.h"
#include "agent/agent.h"
#include "core/json.h"
#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/safeio.h"
#include "core/util.h"
#include "net/httpc.h"
#include "router/router.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEDIA_DIR	 TG_MEDIA_DIR
#define API_TIMEOUT_MS	 30000
#define FETCH_TIMEOUT_MS 600000 /* a 20 MB file on a slow uplink */
#define FIRST_BYTE_MS	 30000
#define TRIES		 2	      /* downloads and model calls: the first and one more */
#define CACHE_MAX	 (256 * 1024) /* a transcript or description read back */
#define TRANSCRIBE_PROMPT                                                                          \
	"Transcribe this voice message verbatim, in its language. Answer with the transcript "     \
	"only."
#define DESCRIBE_PROMPT                                                                            \
	"Describe this image for someone who cannot see it: what it shows, any text in it "        \
	"verbatim, numbers, and anything unusual. Be complete but brief."

enum step { S_GETFILE, S_FETCH, S_MODEL, S_READY };

struct tg_media {
	struct tg_media_env env;
	tg_media_cb cb;
	void *arg;
	int64_t update_id;
	char *kind, *file_id, *mime, *file_name, *caption, *turn_model;
	int64_t size, duration;
	char rel[200];	/* media/<update>.<ext> or media/<update>-<name> */
	char part[210]; /* rel + ".part" */
	int home_fd, fd;
	int64_t got;
	int tries;
	enum step step;
	struct httpc_req *http;
	struct router_call *rc;
	struct event *defer;
	bool cancelled, fired;
	/* the result */
	char *error, *turn_text, *echo;
	struct agent_part part_out;
	size_t n_parts;
	bool voice;
	bool document; /* a document's contents are the turn's: someone else's words */
	double cost_usd;
};

/* ---- receipt ------------------------------------------------------------------------- */

static const char *str_of(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t int_of(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? clamp_i64(v->valuedouble, 0, INT64_MAX) : 0;
}

/* The stored description of one file object. */
static char *file_json(const char *kind, const cJSON *f)
{
	cJSON *o = cJSON_CreateObject();
	static const char *const strs[] = {"file_id", "file_unique_id", "mime_type", "file_name"};
	static const char *const ints[] = {"file_size", "duration", "width", "height"};
	char *out;

	cJSON_AddStringToObject(o, "kind", kind);
	for (size_t i = 0; i < ARRAY_LEN(strs); i++)
		if (str_of(f, strs[i]))
			cJSON_AddStringToObject(o, strs[i], str_of(f, strs[i]));
	for (size_t i = 0; i < ARRAY_LEN(ints); i++)
		if (int_of(f, ints[i]))
			cJSON_AddNumberToObject(o, ints[i], (double)int_of(f, ints[i]));
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

char *tg_media_pick(const cJSON *msg, const struct config *cfg, const char **kind)
{
	static const char *const files[] = {"voice", "audio", "video_note", "document"};
	static const char *const others[] = {"video",	"sticker", "animation", "location",
					     "contact", "poll",	   "venue",	"dice"};
	const cJSON *photo = cJSON_GetObjectItemCaseSensitive(msg, "photo");

	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(msg, "text"))) {
		*kind = "text";
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(msg, files[i]);

		if (cJSON_IsObject(f) && str_of(f, "file_id")) {
			*kind = files[i];
			return file_json(files[i], f);
		}
	}
	if (cJSON_IsArray(photo)) {
		const cJSON *best = NULL, *smallest = NULL, *p;

		/* Sizes come smallest first; take the largest under the cap. */
		cJSON_ArrayForEach(p, photo)
		{
			if (!str_of(p, "file_id"))
				continue;
			if (!smallest || int_of(p, "file_size") < int_of(smallest, "file_size"))
				smallest = p;
			if (int_of(p, "file_size") <= cfg->telegram.max_image_bytes &&
			    (!best || int_of(p, "file_size") >= int_of(best, "file_size")))
				best = p;
		}
		*kind = "photo";
		if (best || smallest)
			return file_json("photo", best ? best : smallest);
	}
	for (size_t i = 0; i < ARRAY_LEN(others); i++)
		if (cJSON_GetObjectItemCaseSensitive(msg, others[i])) {
			*kind = others[i];
			return NULL;
		}
	*kind = "other";
	return NULL;
}

/* ---- helpers ------------------------------------------------------------------------- */

static const struct config_model *group_first(const struct config *cfg, const char *group)
{
	for (size_t i = 0; group && i < cfg->n_models; i++)
		if (strcmp(cfg->models[i].model_name, group) == 0)
			return &cfg->models[i];
	return NULL;
}

static bool group_sees(const struct config *cfg, const char *group)
{
	const struct config_model *m = group_first(cfg, group);

	return m && m->model_info.supports_vision;
}

static bool group_reads_pdf(const struct config *cfg, const char *group)
{
	const struct config_model *m = group_first(cfg, group);

	return m && (m->model_info.supports_pdf_input ||
		     (m->provider && strcmp(m->provider, "openrouter") == 0));
}

static const char *ext_of_name(const char *name)
{
	const char *dot = name ? strrchr(name, '.') : NULL;

	return dot && dot[1] && strlen(dot + 1) <= 8 ? dot + 1 : NULL;
}

/* File extension for the stored file, from the kind, the MIME type and the name. */
static const char *ext_for(const struct tg_media *m)
{
	static const struct {
		const char *mime, *ext;
	} types[] = {
		{"audio/ogg", "ogg"},	    {"audio/mpeg", "mp3"},	  {"audio/mp4", "m4a"},
		{"audio/x-m4a", "m4a"},	    {"audio/wav", "wav"},	  {"audio/x-wav", "wav"},
		{"audio/flac", "flac"},	    {"audio/aac", "aac"},	  {"audio/webm", "webm"},
		{"application/pdf", "pdf"}, {"image/jpeg", "jpg"},	  {"image/png", "png"},
		{"image/webp", "webp"},	    {"image/gif", "gif"},	  {"text/plain", "txt"},
		{"text/csv", "csv"},	    {"application/json", "json"},
	};

	if (strcmp(m->kind, "voice") == 0)
		return "ogg";
	if (strcmp(m->kind, "video_note") == 0)
		return "mp4";
	if (strcmp(m->kind, "photo") == 0)
		return "jpg";
	for (size_t i = 0; m->mime && i < ARRAY_LEN(types); i++)
		if (strcasecmp(m->mime, types[i].mime) == 0)
			return types[i].ext;
	return ext_of_name(m->file_name) ? ext_of_name(m->file_name) : "bin";
}

/* An image sent as a file that is handled as a photo: small enough for one (unknown size
 * counts as small, and the download cap then holds it to telegram.max_image_bytes), of a type
 * a vision model reads. */
static bool image_doc(const struct tg_media *m)
{
	const char *ext = ext_for(m);

	return strcmp(m->kind, "document") == 0 && m->mime && strncmp(m->mime, "image/", 6) == 0 &&
	       m->size <= m->env.cfg->telegram.max_image_bytes && strcmp(ext, "bin") != 0 &&
	       strcmp(ext, "gif") != 0;
}

/* The download cap of the job's file and the option that sets it: a photo (one of Telegram's
 * sizes, picked under telegram.max_image_bytes, or an image document handled as one) is
 * bounded by that option alone, as docs/gateway.md says, whatever telegram.max_file_bytes;
 * every other file by telegram.max_file_bytes. */
static int64_t cap_of(const struct tg_media *m, const char **option)
{
	bool photo = strcmp(m->kind, "photo") == 0 || image_doc(m);

	if (option)
		*option = photo ? "telegram.max_image_bytes" : "telegram.max_file_bytes";
	return photo ? m->env.cfg->telegram.max_image_bytes : m->env.cfg->telegram.max_file_bytes;
}

static const char *noun_of(const struct tg_media *m)
{
	return strcmp(m->kind, "photo") == 0 || image_doc(m) ? "photo" : "file";
}

static bool isalnum_ascii(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* A file name made safe for home/media: [A-Za-z0-9._-] kept, the rest '_', no leading dot. */
static void safe_name(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = in; *p && n + 1 < cap; p++) {
		unsigned char ch = (unsigned char)*p;
		bool keep = (isalnum_ascii(ch) || ch == '.' || ch == '-' || ch == '_') &&
			    !(n == 0 && ch == '.');

		out[n++] = keep ? (char)ch : '_';
	}
	out[n] = '\0';
}

/* Telegram's file_path is relative ("voice/file_12.oga"): letters, digits and ._-/ only,
 * no "..", no leading '/'. */
static bool path_ok(const char *p)
{
	if (!p || !*p || *p == '/' || strstr(p, "..") || strlen(p) > 512)
		return false;
	for (; *p; p++)
		if (!isalnum_ascii((unsigned char)*p) && !strchr("._-/", *p))
			return false;
	return true;
}

static bool exists(int home_fd, const char *rel, int64_t *size)
{
	int fd = safeio_open_at(home_fd, rel, O_RDONLY, 0);
	struct stat st;
	bool ok;

	if (fd < 0)
		return false;
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	if (ok && size)
		*size = st.st_size;
	close(fd);
	return ok;
}

static char *read_cache(const struct tg_media *m)
{
	char rel[220];
	struct buf b;

	snprintf(rel, sizeof(rel), "%s.txt", m->rel);
	buf_init(&b, 0);
	if (safeio_read_at(m->home_fd, rel, CACHE_MAX, &b) < 0 || b.len == 0) {
		buf_finish(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static void write_cache(const struct tg_media *m, const char *text)
{
	char rel[220];
	int rc;

	snprintf(rel, sizeof(rel), "%s.txt", m->rel);
	rc = safeio_write_atomic_at(m->home_fd, rel, text, strlen(text), 0600);
	if (rc < 0)
		log_warn("telegram: %s: could not keep the result (%s); a restart asks again", rel,
			 safeio_strerror(rc));
}

/* ---- ending a job -------------------------------------------------------------------- */

static void job_free(struct tg_media *m)
{
	if (m->fd >= 0)
		close(m->fd);
	if (m->home_fd >= 0)
		close(m->home_fd);
	if (m->defer)
		event_free(m->defer);
	free(m->kind);
	free(m->file_id);
	free(m->mime);
	free(m->file_name);
	free(m->caption);
	free(m->turn_model);
	free(m->error);
	free(m->turn_text);
	free(m->echo);
	free(m);
}

static void on_fire(evutil_socket_t fd, short what, void *arg)
{
	struct tg_media *m = arg;
	struct tg_media_ready r = {
		.cancelled = m->cancelled,
		.error = m->error,
		.turn_text = m->turn_text,
		.echo = m->echo,
		.parts = m->n_parts ? &m->part_out : NULL,
		.n_parts = m->n_parts,
		.voice = m->voice,
		.untrusted = m->document ? "a received document" : NULL,
		.cost_usd = m->cost_usd,
	};

	m->cb(&r, m->arg);
	job_free(m);
}

/* Ends the job: cb fires from the loop, never from inside the call that got here. */
static void fire(struct tg_media *m)
{
	struct timeval now = {0, 0};

	if (m->fired)
		return;
	m->fired = true;
	m->step = S_READY;
	if (!m->defer)
		m->defer = evtimer_new(loop_base(m->env.loop), on_fire, m);
	evtimer_add(m->defer, &now);
}

static void fail(struct tg_media *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct tg_media *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	free(m->error);
	m->error = xvasprintf(fmt, ap);
	va_end(ap);
	log_warn("telegram: update %lld: %s", (long long)m->update_id, m->error);
	fire(m);
}

static char *with_caption(const struct tg_media *m, char *head)
{
	char *out;

	if (!m->caption || !*m->caption)
		return head;
	out = xasprintf("%s\n%s", head, m->caption);
	free(head);
	return out;
}

/* ---- prepare: per kind ----------------------------------------------------------------- */

static void prepare(struct tg_media *m);
static void model_call(struct tg_media *m);

static void ready_voice(struct tg_media *m, const char *transcript)
{
	int64_t d = m->duration;
	const char *what = strcmp(m->kind, "audio") == 0	? "audio"
			   : strcmp(m->kind, "video_note") == 0 ? "video note"
								: "voice note";

	m->voice = strcmp(m->kind, "video_note") != 0;
	m->turn_text = with_caption(m, xasprintf("[%s, %lld:%02lld] %s", what, (long long)(d / 60),
						 (long long)(d % 60), transcript));
	m->echo = xasprintf("> 🎤 %s", transcript);
	for (char *p = m->echo; *p; p++)
		if (*p == '\n')
			*p = ' '; /* one quote line */
	fire(m);
}

static bool is_text_like(const struct tg_media *m, const char *data, size_t len)
{
	static const char *const exts[] = {"txt", "md",	 "csv",	 "tsv",	 "json", "yaml", "yml",
					   "log", "xml", "ini",	 "toml", "conf", "c",	 "h",
					   "py",  "js",	 "ts",	 "go",	 "rs",	 "sh",	 "java",
					   "rb",  "sql", "html", "css",	 "diff", "patch"};
	const char *ext = ext_of_name(m->file_name);
	bool named = m->mime && (strncmp(m->mime, "text/", 5) == 0 || strstr(m->mime, "json") ||
				 strstr(m->mime, "yaml") || strstr(m->mime, "xml"));

	for (size_t i = 0; !named && ext && i < ARRAY_LEN(exts); i++)
		named = strcasecmp(ext, exts[i]) == 0;
	if (!named || memchr(data, '\0', len))
		return false;
	/* Valid UTF-8 throughout (a cut at the sample's end is fine). */
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(data + i, len - i);

		if (n == 0)
			return len - i < 4 && (unsigned char)data[i] >= 0xc0;
		i += n;
	}
	return true;
}

static void prepare_document(struct tg_media *m)
{
	const char *name = m->file_name ? m->file_name : "document";
	struct buf head;
	int64_t size = 0;
	int fd;

	m->document = true;
	if (strcmp(ext_for(m), "pdf") == 0) {
		m->part_out = (struct agent_part){AGENT_PART_PDF, m->rel, "application/pdf", name};
		m->n_parts = 1;
		m->turn_text = with_caption(m, xasprintf("[PDF %s, saved as %s]", name, m->rel));
		fire(m);
		return;
	}
	fd = safeio_open_at(m->home_fd, m->rel, O_RDONLY, 0);
	buf_init(&head, 0);
	if (fd < 0 ||
	    fileio_read_fd(fd, (size_t)m->env.cfg->telegram.max_text_doc_bytes, &head) == -EFBIG) {
		struct stat st;

		/* Larger than the cap: sniff its start only. */
		buf_reset(&head);
		if (fd >= 0 && fstat(fd, &st) == 0)
			size = st.st_size;
		if (fd >= 0) {
			char sample[4096];
			ssize_t got = pread(fd, sample, sizeof(sample), 0);

			if (got > 0)
				buf_append(&head, sample, (size_t)got);
		}
	}
	if (fd >= 0)
		close(fd);
	if (!is_text_like(m, head.data ? head.data : "", head.len)) {
		fail(m,
		     "I can't read %s files (%s): I take text files (txt, md, csv, json, yaml, "
		     "logs, source code), PDFs, photos and voice notes.",
		     m->mime ? m->mime : "these", name);
	} else if (size > 0) {
		m->turn_text = with_caption(
			m,
			xasprintf("[document %s, %lld bytes, saved as %s: read it with read_file]",
				  name, (long long)size, m->rel));
		fire(m);
	} else {
		struct buf t;

		buf_init(&t, 0);
		buf_printf(&t, "[document %s, saved as %s]\n```\n", name, m->rel);
		buf_append(&t, head.data, head.len);
		buf_puts(&t, "\n```");
		m->turn_text = with_caption(m, buf_steal(&t));
		fire(m);
	}
	buf_finish(&head);
}

static const char *image_type(const struct tg_media *m, const char *ext)
{
	if (m->mime && (strcmp(m->mime, "image/png") == 0 || strcmp(m->mime, "image/webp") == 0 ||
			strcmp(m->mime, "image/gif") == 0))
		return m->mime;
	return strcmp(ext, "png") == 0	  ? "image/png"
	       : strcmp(ext, "webp") == 0 ? "image/webp"
					  : "image/jpeg";
}

static void prepare(struct tg_media *m)
{
	const struct config *cfg = m->env.cfg;
	char *cached;

	if (strcmp(m->kind, "document") == 0) {
		/* An image sent as a file is a photo when small enough. */
		if (image_doc(m)) {
			free(m->kind);
			m->kind = xstrdup("photo");
		} else {
			prepare_document(m);
			return;
		}
	}
	if (strcmp(m->kind, "photo") == 0 && group_sees(cfg, m->turn_model)) {
		const char *ext = ext_for(m);

		m->part_out =
			(struct agent_part){AGENT_PART_IMAGE, m->rel, image_type(m, ext), NULL};
		m->n_parts = 1;
		m->turn_text = with_caption(m, xasprintf("[photo, saved as %s]", m->rel));
		fire(m);
		return;
	}
	cached = read_cache(m);
	if (cached) {
		log_info("telegram: update %lld: %s taken from %s.txt (no model call)",
			 (long long)m->update_id, m->kind, m->rel);
		if (strcmp(m->kind, "photo") == 0) {
			m->turn_text = with_caption(
				m, xasprintf("[photo, saved as %s; described by %s: %s]", m->rel,
					     cfg->auxiliary.vision, cached));
			fire(m);
		} else {
			ready_voice(m, cached);
		}
		free(cached);
		return;
	}
	m->tries = 0;
	model_call(m);
}

/* ---- model calls ----------------------------------------------------------------------- */

static void on_model(struct router_call *rc, const struct router_result *r, void *arg);
static const struct router_cbs model_cbs = {.on_done = on_model};
static const struct router_caller internal = {
	.key_hash = "internal", .source = "telegram", .purpose = "media"};

/* The answer's text: a chat completion's content, a transcription's "text", or plain text. */
static char *answer_text(const struct router_result *r)
{
	cJSON *j, *v;
	char *out = NULL;

	if (r->content_type && strncmp(r->content_type, "text/plain", 10) == 0)
		return xstrndup(r->body, r->body_len);
	j = json_parse(r->body, r->body_len, 0, NULL);
	v = cJSON_GetObjectItemCaseSensitive(j, "text");
	if (!cJSON_IsString(v)) {
		v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
		v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "message"),
						     "content");
	}
	if (cJSON_IsString(v))
		out = xstrdup(v->valuestring);
	cJSON_Delete(j);
	return out;
}

static const char *input_audio_format(const char *ext)
{
	static const char *const ok[] = {"ogg", "mp3", "wav", "flac", "m4a", "aac"};

	for (size_t i = 0; i < ARRAY_LEN(ok); i++)
		if (strcmp(ext, ok[i]) == 0)
			return ok[i];
	return NULL;
}

/* A chat request: a prompt and the file as one part (image_url or input_audio). */
static int chat_body(struct tg_media *m, const char *group, const char *prompt, struct buf *b)
{
	int fd = safeio_open_at(m->home_fd, m->rel, O_RDONLY, 0);
	bool photo = strcmp(m->kind, "photo") == 0;
	int rc;

	if (fd < 0)
		return fd;
	buf_puts(b, "{\"model\":");
	buf_json_str(b, group, strlen(group));
	buf_puts(b, ",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":");
	buf_json_str(b, prompt, strlen(prompt));
	if (photo)
		buf_printf(b, "},{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:%s;base64,",
			   image_type(m, ext_for(m)));
	else
		buf_puts(b, "},{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"");
	rc = fileio_base64_fd(fd, b);
	close(fd);
	if (photo)
		buf_puts(b, "\"}}]}]}");
	else
		buf_printf(b, "\",\"format\":\"%s\"}}]}]}", input_audio_format(ext_for(m)));
	return rc;
}

/* A /v1/audio/transcriptions form: model, response_format and the file, read once into one
 * allocation of the exact size (no growth copies of a 20 MB note). */
static int form_body(struct tg_media *m, const char *group, const char *boundary, struct buf *b)
{
	int fd = safeio_open_at(m->home_fd, m->rel, O_RDONLY, 0);
	struct buf head;
	struct stat st;
	char tail[96];
	size_t size, tail_len, at;
	ssize_t got = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || st.st_size > m->env.cfg->telegram.max_file_bytes) {
		close(fd);
		return -EFBIG;
	}
	size = (size_t)st.st_size;
	buf_init(&head, 0);
	buf_printf(
		&head,
		"--%s\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n%s\r\n"
		"--%s\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\njson\r\n"
		"--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s.%s\"\r\n"
		"Content-Type: application/octet-stream\r\n\r\n",
		boundary, group, boundary, boundary, m->kind, ext_for(m));
	tail_len = (size_t)snprintf(tail, sizeof(tail), "\r\n--%s--\r\n", boundary);
	buf_finish(b);
	b->data = xmalloc(head.len + size + tail_len + 1);
	b->alloc = head.len + size + tail_len + 1;
	memcpy(b->data, head.data, head.len);
	for (at = 0; at < size; at += (size_t)got) {
		got = pread(fd, b->data + head.len + at, size - at, (off_t)at);
		if (got <= 0)
			break;
	}
	close(fd);
	if (at != size) {
		buf_finish(&head);
		return -EIO;
	}
	memcpy(b->data + head.len + size, tail, tail_len + 1);
	b->len = head.len + size + tail_len;
	buf_finish(&head);
	return 0;
}

static void model_call(struct tg_media *m)
{
	struct router_caller who;
	const struct config *cfg = m->env.cfg;
	bool photo = strcmp(m->kind, "photo") == 0;
	const char *group = photo ? cfg->auxiliary.vision : cfg->auxiliary.transcription;
	const struct config_model *dep = group_first(cfg, group);
	struct router_request q = {0};
	char boundary[64], ctype[120];
	struct buf body;
	int rc;

	buf_init(&body, 0);
	m->tries++;
	m->step = S_MODEL;
	if (!photo && dep && dep->model_info.mode == CONFIG_MODE_AUDIO_TRANSCRIPTION) {
		snprintf(boundary, sizeof(boundary), "hermetic-%lld-%d", (long long)m->update_id,
			 m->tries);
		snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", boundary);
		rc = form_body(m, group, boundary, &body);
		q = (struct router_request){PROVIDER_TRANSCRIPTIONS, body.data, body.len, ctype,
					    (double)m->duration};
	} else {
		if (!photo && !input_audio_format(ext_for(m))) {
			buf_finish(&body);
			fail(m,
			     "I can't send %s audio to the chat model \"%s\"; a transcription "
			     "model "
			     "(mode: audio_transcription) takes it.",
			     ext_for(m), group);
			return;
		}
		if (!photo && dep && !dep->model_info.supports_audio_input)
			log_warn("telegram: auxiliary.transcription \"%s\" is a chat group without "
				 "model_info.supports_audio_input; trying input_audio anyway",
				 group);
		rc = chat_body(m, group, photo ? DESCRIBE_PROMPT : TRANSCRIBE_PROMPT, &body);
		q = (struct router_request){PROVIDER_CHAT, body.data, body.len, NULL, 0};
	}
	if (rc < 0) {
		buf_finish(&body);
		fail(m, "I could not read the file I saved (%s): %s", m->rel, safeio_strerror(rc));
		return;
	}
	who = internal;
	who.lane = m->env.lane;
	rc = router_call(m->env.router, &q, &who, &model_cbs, m, &m->rc);
	buf_finish(&body); /* the router keeps its own copy */
	if (rc < 0) {
		m->rc = NULL;
		fail(m, "internal error: the router refused the request");
	}
}

static void on_model(struct router_call *rc, const struct router_result *r, void *arg)
{
	struct tg_media *m = arg;
	bool photo = strcmp(m->kind, "photo") == 0;
	char *text;

	m->rc = NULL;
	m->cost_usd += r->cost_usd;
	if (m->cancelled) {
		fire(m);
		return;
	}
	text = r->status == 200 ? answer_text(r) : NULL;
	if (!text || !*text) {
		free(text);
		if (m->tries < TRIES && r->status != 402 && r->status != 429) {
			log_warn("telegram: update %lld: %s failed (HTTP %d); trying once more",
				 (long long)m->update_id,
				 photo ? "the description" : "transcription", r->status);
			model_call(m);
			return;
		}
		char *said = utf8_clip_dup(r->status == 200 ? "" : r->body, 200, true);

		fail(m, "%s failed (HTTP %d%s%s).",
		     photo ? "Describing the photo" : "Transcribing the voice note", r->status,
		     r->status == 200 ? ", an empty answer" : ": ", said);
		free(said);
		return;
	}
	write_cache(m, text);
	if (photo) {
		m->turn_text =
			with_caption(m, xasprintf("[photo, saved as %s; described by %s: %s]",
						  m->rel, m->env.cfg->auxiliary.vision, text));
		fire(m);
	} else {
		ready_voice(m, text);
	}
	free(text);
}

/* ---- fetch ------------------------------------------------------------------------------ */

static void get_file(struct tg_media *m);

static int on_chunk(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	struct tg_media *m = arg;

	if (httpc_status(req) != 200)
		return 0; /* an error page: not the file, kept out of it */
	m->got += (int64_t)len;
	if (m->got > cap_of(m, NULL))
		return -1;
	return fileio_write_all(m->fd, data, len) < 0 ? -1 : 0;
}

static void on_fetched(struct httpc_req *req, void *arg)
{
	struct tg_media *m = arg;
	enum httpc_result res = httpc_result(req);
	long status = httpc_status(req);
	const char *why = httpc_error(req), *option;
	int rc;

	m->http = NULL;
	if (m->fd >= 0) {
		rc = fsync(m->fd);
		close(m->fd);
		m->fd = -1;
	} else {
		rc = -1;
	}
	if (m->cancelled) {
		fire(m);
		return;
	}
	if (m->got > cap_of(m, &option)) {
		unlinkat(m->home_fd, m->part, 0);
		fail(m, "That %s is larger than %s (%lld bytes); I did not keep it.", noun_of(m),
		     option, (long long)cap_of(m, NULL));
		return;
	}
	if (res == HTTPC_OK && status == 200 && rc == 0 && (!m->size || m->got == m->size) &&
	    renameat(m->home_fd, m->part, m->home_fd, m->rel) == 0) {
		log_info("telegram: update %lld: %s saved as %s (%lld bytes)",
			 (long long)m->update_id, m->kind, m->rel, (long long)m->got);
		prepare(m);
		return;
	}
	unlinkat(m->home_fd, m->part, 0);
	if (m->tries < TRIES) {
		log_warn("telegram: update %lld: the download failed (%s, HTTP %ld, %lld of %lld "
			 "bytes); trying once more",
			 (long long)m->update_id, res == HTTPC_OK ? "incomplete" : why, status,
			 (long long)m->got, (long long)m->size);
		get_file(m);
		return;
	}
	fail(m, "I could not download that file from Telegram (%s, HTTP %ld, %lld of %lld bytes).",
	     res == HTTPC_OK ? "incomplete" : why, status, (long long)m->got, (long long)m->size);
}

static void fetch(struct tg_media *m, const char *file_path)
{
	const struct config *cfg = m->env.cfg;
	char *url = xasprintf("%s/file/bot%s/%s", cfg->telegram.api_base, cfg->telegram.token,
			      file_path);
	struct httpc_opts o = {
		.url = url,
		.timeout_ms = FETCH_TIMEOUT_MS,
		.first_byte_timeout_ms = FIRST_BYTE_MS,
		.on_data = on_chunk,
	};

	m->step = S_FETCH;
	m->got = 0;
	m->fd = safeio_open_at(m->home_fd, m->part, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (m->fd < 0) {
		free(url);
		fail(m, "I could not save the file under home/%s (%s).", MEDIA_DIR,
		     safeio_strerror(m->fd));
		return;
	}
	if (httpc_start(m->env.loop, &o, on_fetched, m, &m->http) < 0) {
		m->http = NULL;
		free(url);
		fail(m, "internal error: the download could not start");
		return;
	}
	free(url);
}

static void on_got_file(struct httpc_req *req, void *arg)
{
	struct tg_media *m = arg;
	size_t len;
	const char *body = httpc_body(req, &len);
	cJSON *j = NULL, *res;
	const char *path, *desc, *option;
	int64_t size;

	m->http = NULL;
	if (m->cancelled) {
		fire(m);
		return;
	}
	if (httpc_result(req) != HTTPC_OK) {
		if (m->tries < TRIES) {
			get_file(m);
			return;
		}
		fail(m, "I could not reach Telegram to fetch the file (%s).", httpc_error(req));
		return;
	}
	j = json_parse(body, len, 0, NULL);
	res = cJSON_GetObjectItemCaseSensitive(j, "result");
	path = str_of(res, "file_path");
	desc = str_of(j, "description");
	size = int_of(res, "file_size");
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok"))) {
		if (desc && strstr(desc, "too big"))
			fail(m,
			     "That file is too big for me to download: Telegram lets bots download "
			     "files up to 20 MB.");
		else
			fail(m, "Telegram would not give me the file (%s).",
			     desc ? desc : "no description");
	} else if (!path_ok(path)) {
		fail(m, "Telegram gave a file path I do not accept (%.80s).",
		     path ? path
			  : "none; a local Bot API server in --local mode gives absolute "
			    "paths, which hermetic does not read");
	} else {
		/* Telegram's size first: it decides whether an image document is a photo. */
		if (size)
			m->size = size;
		if (m->size > cap_of(m, &option))
			fail(m, "That %s has %lld bytes, more than %s (%lld).", noun_of(m),
			     (long long)m->size, option, (long long)cap_of(m, NULL));
		else
			fetch(m, path);
	}
	cJSON_Delete(j);
}

static void get_file(struct tg_media *m)
{
	const struct config *cfg = m->env.cfg;
	char *url = xasprintf("%s/bot%s/getFile", cfg->telegram.api_base, cfg->telegram.token);
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	struct buf params;
	struct httpc_opts o = {
		.method = "POST",
		.url = url,
		.headers = headers,
		.timeout_ms = API_TIMEOUT_MS,
		.max_response_bytes = 64 * 1024,
	};

	m->tries++;
	m->step = S_GETFILE;
	buf_init(&params, 0);
	buf_puts(&params, "{\"file_id\":");
	buf_json_str(&params, m->file_id, strlen(m->file_id));
	buf_puts(&params, "}");
	o.body = params.data;
	o.body_len = params.len;
	if (httpc_start(m->env.loop, &o, on_got_file, m, &m->http) < 0) {
		m->http = NULL;
		fail(m, "internal error: getFile could not start");
	}
	buf_finish(&params);
	free(url);
}

/* ---- jobs ------------------------------------------------------------------------------- */

/* What the configuration cannot do with this kind, said before anything is downloaded. */
static bool refused_early(struct tg_media *m)
{
	const struct config *cfg = m->env.cfg;

	if ((strcmp(m->kind, "photo") == 0 || image_doc(m)) && !group_sees(cfg, m->turn_model) &&
	    !group_sees(cfg, cfg->auxiliary.vision)) {
		fail(m,
		     "I can't look at photos: neither this chat's model \"%s\" nor "
		     "auxiliary.vision (\"%s\") has model_info.supports_vision: true.",
		     m->turn_model, cfg->auxiliary.vision ? cfg->auxiliary.vision : "unset");
		return true;
	}
	if ((strcmp(m->kind, "voice") == 0 || strcmp(m->kind, "audio") == 0 ||
	     strcmp(m->kind, "video_note") == 0) &&
	    !cfg->auxiliary.transcription) {
		fail(m, "I can't listen to voice notes yet: auxiliary.transcription is not set "
			"(a model group for /v1/audio/transcriptions, or a chat model with "
			"model_info.supports_audio_input).");
		return true;
	}
	if (strcmp(m->kind, "document") == 0 && strcmp(ext_for(m), "pdf") == 0 &&
	    !group_reads_pdf(cfg, m->turn_model)) {
		fail(m,
		     "I can't read PDFs with the model \"%s\": it has no "
		     "model_info.supports_pdf_input (openrouter/ models read them).",
		     m->turn_model);
		return true;
	}
	return false;
}

int tg_media_start(const struct tg_media_env *env, int64_t update_id, const char *media_json,
		   const char *caption, const char *turn_model, tg_media_cb cb, void *arg,
		   struct tg_media **out)
{
	struct tg_media *m = xcalloc(1, sizeof(*m));
	cJSON *j = json_parse_str(media_json, NULL);
	char name[96];
	const char *option;
	int rc;

	m->env = *env;
	m->cb = cb;
	m->arg = arg;
	m->update_id = update_id;
	m->fd = -1;
	m->kind = xstrdup(str_of(j, "kind") ? str_of(j, "kind") : "other");
	m->file_id = xstrdup(str_of(j, "file_id"));
	m->mime = xstrdup(str_of(j, "mime_type"));
	m->file_name = xstrdup(str_of(j, "file_name"));
	m->size = int_of(j, "file_size");
	m->duration = int_of(j, "duration");
	m->caption = xstrdup(caption);
	m->turn_model = xstrdup(turn_model);
	cJSON_Delete(j);
	if (strcmp(m->kind, "document") == 0 && m->file_name) {
		safe_name(m->file_name, name, sizeof(name));
		snprintf(m->rel, sizeof(m->rel), MEDIA_DIR "/%lld-%s", (long long)update_id, name);
		if (!ext_of_name(name))
			snprintf(m->rel + strlen(m->rel), sizeof(m->rel) - strlen(m->rel), ".%s",
				 ext_for(m));
	} else {
		snprintf(m->rel, sizeof(m->rel), MEDIA_DIR "/%lld.%s", (long long)update_id,
			 ext_for(m));
	}
	snprintf(m->part, sizeof(m->part), "%s.part", m->rel);
	if (out)
		*out = m;
	m->home_fd = safeio_open_home(env->cfg->home);
	rc = m->home_fd < 0 ? m->home_fd : safeio_mkdirs_at(m->home_fd, MEDIA_DIR, 0700);
	if (rc < 0) {
		fail(m, "I could not open home/%s (%s).", MEDIA_DIR, safeio_strerror(rc));
	} else if (!m->file_id) {
		fail(m, "That message names no file.");
	} else if (refused_early(m)) {
		/* said */
	} else if (m->size > cap_of(m, &option)) {
		fail(m, "That %s has %lld bytes, more than %s (%lld).", noun_of(m),
		     (long long)m->size, option, (long long)cap_of(m, NULL));
	} else if (exists(m->home_fd, m->rel, NULL)) {
		log_info("telegram: update %lld: %s already saved (no download)",
			 (long long)update_id, m->rel);
		prepare(m);
	} else {
		get_file(m);
	}
	return 0;
}

void tg_media_cancel(struct tg_media *m)
{
	if (m->fired)
		return;
	m->cancelled = true;
	if (m->http)
		httpc_cancel(m->http); /* its callback fires the job */
	else if (m->rc)
		router_cancel(m->rc);
	else
		fire(m);
}
