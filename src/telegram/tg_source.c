/* tg_source: a chat's session source, "telegram:<chat>" or "telegram:<chat>:<thread>" for one
 * topic of a group, written and read back. Pure; the bot's files and the outlet call it.
 */
#include "telegram/telegram_int.h"
#include "core/util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The session of a chat, or of one topic in it: "telegram:<chat>" or "telegram:<chat>:<thread>". */
void tg_source_of(int64_t chat_id, int64_t thread, char *out, size_t len)
{
	if (thread)
		snprintf(out, len, "telegram:%lld:%lld", (long long)chat_id, (long long)thread);
	else
		snprintf(out, len, "telegram:%lld", (long long)chat_id);
}

/* "telegram:<chat>" or "telegram:<chat>:<thread>" (tg_source_of). 0 or -EINVAL. */
int tg_parse_source(const char *source, int64_t *chat_id, int64_t *thread)
{
	char num[24];
	const char *colon;
	size_t n;

	*thread = 0;
	if (strncmp(source, "telegram:", 9) != 0)
		return -EINVAL;
	source += 9;
	colon = strchr(source, ':');
	n = colon ? (size_t)(colon - source) : strlen(source);
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, source, n);
	num[n] = '\0';
	if (parse_i64(num, INT64_MIN + 1, INT64_MAX, chat_id) < 0)
		return -EINVAL;
	if (colon && parse_i64(colon + 1, 1, INT64_MAX, thread) < 0)
		return -EINVAL;
	return 0;
}
