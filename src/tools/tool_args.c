/* tool_args: reading the model's arguments, forgiving where a model is sloppy in harmless ways
 * (null for "not given", an integer sent as a string "10" or as 10.0) and exact where it
 * matters (types, ranges), with errors that name the argument so the model can fix its call.
 *
 * Rejected: a schema validator over params_json (a second source of truth per tool, and its
 * messages would be generic).
 */
#include "tools/tool.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

/* Several problems in one call read as one sentence each, separated by "; ". */
static void add_error(struct buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_error(struct buf *err, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (!err)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (err->len > 0)
		buf_puts(err, "; ");
	buf_puts(err, msg);
	free(msg);
}

/* The member, or NULL when args is not an object or the member is absent or null. */
static const cJSON *member(const cJSON *args, const char *name)
{
	const cJSON *item;

	if (!cJSON_IsObject(args))
		return NULL;
	item = cJSON_GetObjectItemCaseSensitive(args, name);
	return cJSON_IsNull(item) ? NULL : item;
}

const char *tool_arg_str(const cJSON *args, const char *name, bool required, struct buf *err)
{
	const cJSON *item = member(args, name);

	if (!item) {
		if (required)
			add_error(err, "missing required argument %s", name);
		return NULL;
	}
	if (!cJSON_IsString(item) || !item->valuestring) {
		add_error(err, "%s must be a string", name);
		return NULL;
	}
	return item->valuestring;
}

/* A JSON number or a string holding an integer; false when it is neither. */
static bool integer_value(const cJSON *item, long long *out)
{
	int64_t v;

	if (cJSON_IsNumber(item)) {
		double d = item->valuedouble;

		/* Integral and exactly representable: 10.0 is 10, 10.5 and 1e300 are not. */
		if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
			return false;
		*out = (long long)d;
		return true;
	}
	if (cJSON_IsString(item) && item->valuestring &&
	    parse_i64(item->valuestring, INT64_MIN, INT64_MAX, &v) == 0) {
		*out = v;
		return true;
	}
	return false;
}

long long tool_arg_int(const cJSON *args, const char *name, long long def, long long min,
		       long long max, bool *bad, struct buf *err)
{
	const cJSON *item = member(args, name);
	long long v;

	if (!item)
		return def;
	if (!integer_value(item, &v) || v < min || v > max) {
		add_error(err, "%s must be an integer from %lld to %lld", name, min, max);
		goto bad;
	}
	return v;
bad:
	if (bad)
		*bad = true;
	return def;
}
