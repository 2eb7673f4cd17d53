/* log: levelled log lines with [file:line], to stderr and optionally to a size-rotated file.
 *
 * Every secret registered with log_add_secret() is replaced by "[REDACTED]" in every line
 * before it is written anywhere, and a Telegram bot token in a Bot API path ("/bot<digits>:
 * <chars>") becomes "/bot<redacted>" even when it was never registered (a URL built from
 * another config, or echoed by a server); control characters are escaped so network input
 * cannot forge log lines. Single-threaded use (the event loop); curl's resolver threads never log.
 */
#ifndef HERMETIC_LOG_H
#define HERMETIC_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Parses "error|warn|info|debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Also write to path (created 0600, parent must exist), rotating to path.1 .. path.<keep>
 * once it would exceed max_bytes. Returns 0 or a negative errno; on error stderr only. */
int log_open_file(const char *path, size_t max_bytes, int keep);
/* Closes the file. Registered secrets stay registered for the life of the process. */
void log_close(void);
/* Whether stderr lines are written (tests and `chat` turn them down to errors). */
void log_set_stderr(int enabled);

/* Forgets every registered secret (tests and fuzz targets that parse many configs). */
void log_forget_secrets(void);
/* Registers a secret (copied) to redact; strings shorter than 4 bytes are ignored. Safe from
 * any thread. */
void log_add_secret(const char *secret);
/* Forgets one registered secret (a minted access token once it has expired); no-op when it
 * is not registered. */
void log_drop_secret(const char *secret);
/* Returns a malloc'd copy of s with every registered secret replaced by "[REDACTED]" and
 * every "/bot<token>" cut to "/bot<redacted>". Cheap when nothing matches (one strstr per
 * secret). Also used outside logging wherever foreign text reaches a user or the model: tool
 * results, upstream error messages, curl error strings. */
char *log_redact(const char *s);
/* log_redact(s) with each of the n_extra strings in extra (NULL or shorter than 4 bytes:
 * skipped) replaced by "[REDACTED]" too: a call's own credentials, registered or not. */
char *log_redact_with(const char *s, const char *const *extra, size_t n_extra);
/* Whether log_redact(s) would change s (without copying it). */
bool log_has_secret(const char *s);
/* The same for s[0..n), n being strlen(s): for a caller that has measured it. */
bool log_has_secret_n(const char *s, size_t n);

/* cold: a log line is never a request's fast path, so the compiler moves the blocks that lead
 * to one out of the hot code (cachegrind, profile.sh's plain request: instruction-cache misses
 * 1,142 -> 1,104 a request, last-level 220 -> 201). */
void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), cold));

#define log_error(...) log_msg(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

#endif
