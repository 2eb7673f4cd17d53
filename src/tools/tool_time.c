/* tool_time: the current date and time, in the configured timezone or a named one.
 *
 * A named zone is looked up by switching TZ for one localtime_r() call and back: the process
 * is single-threaded where it matters (the store's checkpoint thread never reads the time),
 * and this avoids bundling a zone parser. Names are checked against the IANA form first so
 * nothing like "../../etc/passwd" reaches the zoneinfo lookup.
 */
#include "core/config.h"
#include "tools/tool.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static bool zone_name_ok(const char *z)
{
	size_t len = strlen(z);

	if (len == 0 || len > 64 || z[0] == '/' || strstr(z, ".."))
		return false;
	for (const char *p = z; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
			return false;
	return true;
}

static bool zone_exists(const char *z)
{
	const char *dir = getenv("TZDIR");
	char path[256];
	struct stat st;

	if (strcmp(z, "UTC") == 0)
		return true;
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", z);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void format_in(const char *zone, time_t now, struct buf *out)
{
	char *saved = getenv("TZ") ? xstrdup(getenv("TZ")) : NULL;
	struct tm tm;
	char line[128];

	setenv("TZ", zone, 1);
	tzset();
	localtime_r(&now, &tm);
	strftime(line, sizeof(line), "%A %Y-%m-%d %H:%M:%S %Z (UTC%z)", &tm);
	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
	buf_printf(out, "%s, %s; unix time %lld", line, zone, (long long)now);
}

static int run(const struct tool_req *req, struct buf *out)
{
	const char *zone = tool_arg_str(req->args, "timezone", false, out);

	if (out->len)
		return -1;
	if (!zone || !*zone)
		zone = req->env->cfg->timezone;
	if (!zone_name_ok(zone) || !zone_exists(zone)) {
		buf_printf(out, "unknown timezone \"%.64s\"; use an IANA name like Europe/Berlin",
			   zone);
		return -1;
	}
	format_in(zone, time(NULL), out);
	return 0;
}

const struct tool_def tool_def_time = {
	.name = "time",
	.toolset = CONFIG_TOOLSET_TIME,
	.read_only = true,
	.description = "Current date and time (default: the user's timezone).",
	.params_json = "{\"type\":\"object\",\"properties\":{\"timezone\":{\"type\":\"string\","
		       "\"description\":\"IANA name\"}}}",
	.run = run,
};
