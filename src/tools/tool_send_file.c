/* tool_send_file: send_file, a file under home to the current Telegram chat (sendPhoto for
 * images up to 10 MB, sendDocument otherwise, up to 50 MB: the Bot API's upload limits).
 *
 * The path is opened with safeio below home (no absolute path, no "..", no symlink), so the
 * agent cannot send state.db's neighbours from outside home or follow a planted link out of
 * it; home/state.db* itself is refused as read_file refuses it. The file is queued in the
 * outbox (durable) and read again when it is sent.
 */
#include "tools/tool.h"
#include "core/config.h"
#include "core/safeio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define UPLOAD_MAX (50LL * 1024 * 1024)
#define PHOTO_MAX  (10LL * 1024 * 1024)

static bool is_image(const char *path)
{
	static const char *const exts[] = {".jpg", ".jpeg", ".png", ".webp"};
	size_t n = strlen(path);

	for (size_t i = 0; i < ARRAY_LEN(exts); i++) {
		size_t e = strlen(exts[i]);

		if (n > e && strcasecmp(path + n - e, exts[i]) == 0)
			return true;
	}
	return false;
}

/* A path given relative to home, or absolute under home (the form read_file shows). */
static const char *relative(const char *path, const char *home)
{
	size_t h = strlen(home);

	while (h > 1 && home[h - 1] == '/')
		h--;
	if (strncmp(path, home, h) == 0 && path[h] == '/')
		return path + h + 1;
	return path;
}

static int run(const struct tool_req *req, struct buf *out)
{
	const char *path = tool_arg_str(req->args, "path", true, out);
	const char *caption = tool_arg_str(req->args, "caption", false, out);
	const char *rel, *method;
	char err[200] = "";
	struct stat st;
	int home_fd, fd, rc;

	if (!path)
		return -1;
	if (caption && strlen(caption) > 1024)
		return buf_puts(out, "caption is longer than Telegram's 1024 characters"), -1;
	rel = relative(path, req->env->cfg->home);
	if (strncmp(rel, "state.db", 8) == 0)
		return buf_puts(out, "state.db is hermetic's database and is never sent"), -1;
	home_fd = safeio_open_home(req->env->cfg->home);
	if (home_fd < 0)
		return buf_printf(out, "home cannot be opened: %s", safeio_strerror(home_fd)), -1;
	fd = safeio_open_at(home_fd, rel, O_RDONLY, 0);
	close(home_fd);
	if (fd < 0)
		return buf_printf(out, "%s: %s (send_file sends files under home only)", path,
				  safeio_strerror(fd)),
		       -1;
	rc = fstat(fd, &st);
	close(fd);
	if (rc < 0 || !S_ISREG(st.st_mode))
		return buf_printf(out, "%s is not a regular file", path), -1;
	if (st.st_size == 0)
		return buf_printf(out, "%s is empty", path), -1;
	if (st.st_size > UPLOAD_MAX)
		return buf_printf(out, "%s has %lld bytes; Telegram takes at most 50 MB from bots",
				  path, (long long)st.st_size),
		       -1;
	method = is_image(rel) && st.st_size <= PHOTO_MAX ? "sendPhoto" : "sendDocument";
	if (!req->outlet)
		return buf_puts(out, "no chat can take files here (send_file works in Telegram "
				     "chats)"),
		       -1;
	rc = req->outlet(req->source, method, rel, caption, err, sizeof(err), req->outlet_arg);
	if (rc < 0)
		return buf_printf(out, "not sent: %s", err), -1;
	buf_printf(out, "Queued: %s goes to the chat as a %s (%lld bytes).", rel,
		   strcmp(method, "sendPhoto") == 0 ? "photo" : "document", (long long)st.st_size);
	return 0;
}

static bool offered(const struct tools_env *env)
{
	return env->cfg->telegram.enabled;
}

const struct tool_def tool_def_send_file = {
	.name = "send_file",
	.toolset = CONFIG_TOOLSET_FILES,
	.description = "Send a file under home to the user's Telegram chat (images as photos).",
	.params_json = "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\","
		       "\"description\":\"relative to home\"},\"caption\":{\"type\":\"string\"}},"
		       "\"required\":[\"path\"]}",
	.offered = offered,
	.run = run,
};

/* send_voice: the text spoken through auxiliary.speech and sent as a voice message, offered
 * with telegram.voice_replies: when_asked (the user asked for a voice answer). */
static int run_voice(const struct tool_req *req, struct buf *out)
{
	const char *say = tool_arg_str(req->args, "text", true, out);
	char err[200] = "";

	if (!say)
		return -1;
	if (!*say || strlen(say) > 4096)
		return buf_puts(out, "text must be 1 to 4096 characters"), -1;
	if (!req->outlet)
		return buf_puts(out, "no chat can take voice messages here"), -1;
	if (req->outlet(req->source, "speak", NULL, say, err, sizeof(err), req->outlet_arg) < 0)
		return buf_printf(out, "not sent: %s", err), -1;
	buf_puts(out, "Queued: the voice message is being made and will arrive shortly. Also "
		      "answer in text as usual.");
	return 0;
}

static bool voice_offered(const struct tools_env *env)
{
	return env->cfg->telegram.enabled &&
	       env->cfg->telegram.voice_replies == CONFIG_VOICE_WHEN_ASKED &&
	       env->cfg->auxiliary.speech;
}

const struct tool_def tool_def_send_voice = {
	.name = "send_voice",
	.toolset = CONFIG_TOOLSET_FILES,
	.description = "Speak text as a Telegram voice message, only when the user asks for a "
		       "voice answer.",
	.params_json = "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},"
		       "\"required\":[\"text\"]}",
	.offered = voice_offered,
	.run = run_voice,
};
