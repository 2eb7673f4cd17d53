/* tool_args: typed access to the model's argument object for the builtin tools.
 *
 * Models send JSON null for "not given" as often as they leave a key out, so both count as
 * absent. Integers may arrive as numbers or as strings of digits ("limit": "50"); both are
 * accepted, fractions and out-of-range values are not. Every message names the argument and
 * says what it must be, so the model can correct the call.
 */
#include "tools/tool.h"

#include <math.h>

const char *tool_arg_str(const cJSON *args, const char *name, bool required, struct buf *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);

	if (!v || cJSON_IsNull(v)) {
		if (required)
			buf_printf(err, "missing required argument %s", name);
		return NULL;
	}
	if (!cJSON_IsString(v) || !v->valuestring) {
		buf_printf(err, "%s must be a string", name);
		return NULL;
	}
	return v->valuestring;
}

long long tool_arg_int(const cJSON *args, const char *name, long long def, long long min,
		       long long max, bool *bad, struct buf *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
	int64_t n = 0;
	bool ok = false;

	if (!v || cJSON_IsNull(v))
		return def;
	/* |x| <= 2^62 converts exactly and without overflow; the range is checked on integers. */
	if (cJSON_IsNumber(v) && fabs(v->valuedouble) <= 0x1p62 &&
	    v->valuedouble == floor(v->valuedouble)) {
		n = (int64_t)v->valuedouble;
		ok = n >= min && n <= max;
	} else if (cJSON_IsString(v) && v->valuestring) {
		ok = parse_i64(v->valuestring, min, max, &n) == 0;
	}
	if (ok)
		return n;
	buf_printf(err, "%s must be an integer from %lld to %lld", name, min, max);
	if (bad)
		*bad = true;
	return def;
}
