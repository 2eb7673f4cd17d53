/* tool_args: reading the model's arguments, with errors the model can act on. */
#include "tools/tool.h"

#include <math.h>
#include <stdlib.h>

const char *tool_arg_str(const cJSON *args, const char *name, bool required, struct buf *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);

	if (!v || cJSON_IsNull(v)) {
		if (required)
			buf_printf(err, "missing required argument \"%s\"", name);
		return NULL;
	}
	if (!cJSON_IsString(v)) {
		buf_printf(err, "argument \"%s\" must be a string", name);
		return NULL;
	}
	return v->valuestring;
}

long long tool_arg_int(const cJSON *args, const char *name, long long def, long long min,
		       long long max, bool *bad, struct buf *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
	double d;

	if (!v || cJSON_IsNull(v))
		return def;
	if (cJSON_IsString(v)) {
		char *end;

		d = strtod(v->valuestring, &end);
		if (end == v->valuestring || *end)
			goto bad;
	} else if (cJSON_IsNumber(v)) {
		d = v->valuedouble;
	} else {
		goto bad;
	}
	if (d != floor(d) || d < (double)min || d > (double)max)
		goto bad;
	return (long long)d;
bad:
	*bad = true;
	buf_printf(err, "argument \"%s\" must be a whole number from %lld to %lld", name, min, max);
	return def;
}
