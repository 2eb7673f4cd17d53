/* mcp_elicit: the requested schema of an elicitation read and checked, a human's typed text
 * made a value, and the accepted content built with the schema's defaults (SEP-1034).
 *
 * Only the restricted schema of the spec is taken: a flat object whose properties are
 * primitives (string with length and format, number and integer with bounds, boolean, and a
 * single choice as enum, enum + enumNames or oneOf of const/title; a multi-select as an array
 * whose items are an enum or anyOf const/title). Anything else (nested objects, other arrays) is
 * refused with an error naming the property, so the server
 * learns why instead of getting a form the user cannot fill. Defaults are checked like values:
 * a default of the wrong type is the server's error, said as such.
 */
#include "mcp/mcp_elicit.h"
#include "core/json.h"
#include "core/json_exact.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const type_names[] = {"string", "number", "integer", "boolean", "enum", "multi"};
static const char *const formats[] = {"email", "uri", "date", "date-time"};

static int field_value(const struct mcp_elicit_field *x, const cJSON *v, char **out, char *err,
		       size_t err_len);

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static char *dup_text(const cJSON *item)
{
	return cJSON_IsString(item) ? xstrndup(item->valuestring,
					       strnlen(item->valuestring, MCP_ELICIT_TEXT_MAX))
				    : NULL;
}

static bool too_long(const cJSON *item)
{
	return cJSON_IsString(item) && strlen(item->valuestring) > MCP_ELICIT_TEXT_MAX;
}

void mcp_elicit_form_finish(struct mcp_elicit_form *f)
{
	size_t i, k;

	if (!f)
		return;
	for (i = 0; i < f->n_fields; i++) {
		struct mcp_elicit_field *x = &f->fields[i];

		for (k = 0; k < x->n_options; k++) {
			free(x->options[k]);
			free(x->option_names[k]);
		}
		free(x->options);
		free(x->option_names);
		free(x->name);
		free(x->title);
		free(x->description);
		free(x->default_json);
		free(x->format);
	}
	free(f->fields);
	free(f->message);
	free(f->url);
	free(f->elicitation_id);
	memset(f, 0, sizeof(*f));
}

static void add_option(struct mcp_elicit_field *x, const char *value, const char *title)
{
	x->options[x->n_options] = xstrdup(value);
	x->option_names[x->n_options] = title ? xstrdup(title) : NULL;
	x->n_options++;
}

/* enum (with enumNames) or oneOf/anyOf [{const, title}]: the choices of a select field (prop:
 * the property, or a multi-select's items). */
static int read_options(struct mcp_elicit_field *x, const cJSON *prop, char *err, size_t err_len)
{
	const cJSON *values = cJSON_GetObjectItemCaseSensitive(prop, "enum");
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(prop, "enumNames");
	const cJSON *one_of = cJSON_GetObjectItemCaseSensitive(prop, "oneOf");
	const cJSON *any_of = cJSON_GetObjectItemCaseSensitive(prop, "anyOf");
	const cJSON *list = values ? values : one_of ? one_of : any_of, *v;
	int n = cJSON_GetArraySize(list), i = 0;

	if (!cJSON_IsArray(list) || n < 1 || n > MCP_ELICIT_OPTIONS_MAX)
		return fail(err, err_len, "property %s: %s must be an array of 1 to %d choices",
			    x->name,
			    values   ? "enum"
			    : one_of ? "oneOf"
				     : "anyOf",
			    MCP_ELICIT_OPTIONS_MAX);
	x->options = xcalloc((size_t)n, sizeof(char *));
	x->option_names = xcalloc((size_t)n, sizeof(char *));
	cJSON_ArrayForEach(v, list)
	{
		const cJSON *value = values ? v : cJSON_GetObjectItemCaseSensitive(v, "const");
		const cJSON *title = values ? cJSON_GetArrayItem(names, i)
					    : cJSON_GetObjectItemCaseSensitive(v, "title");

		if (!cJSON_IsString(value) || too_long(value) || too_long(title))
			return fail(err, err_len, "property %s: choice %d is not a string%s",
				    x->name, i + 1, values ? "" : " const");
		add_option(x, value->valuestring,
			   cJSON_IsString(title) ? title->valuestring : NULL);
		i++;
	}
	return 0;
}

static int read_bounds(struct mcp_elicit_field *x, const cJSON *prop, const char *lo,
		       const char *hi, char *err, size_t err_len)
{
	const cJSON *min = cJSON_GetObjectItemCaseSensitive(prop, lo);
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(prop, hi);

	if ((min && !cJSON_IsNumber(min)) || (max && !cJSON_IsNumber(max)))
		return fail(err, err_len, "property %s: %s and %s must be numbers", x->name, lo,
			    hi);
	x->has_min = min != NULL;
	x->has_max = max != NULL;
	x->min = min ? min->valuedouble : 0;
	x->max = max ? max->valuedouble : 0;
	if (x->has_min && x->has_max && x->min > x->max)
		return fail(err, err_len, "property %s: %s is above %s", x->name, lo, hi);
	return 0;
}

/* A multi-select: {type: array, items: {enum} or {anyOf}, minItems, maxItems}. */
static int read_multi(struct mcp_elicit_field *x, const cJSON *prop, char *err, size_t err_len)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(prop, "items");

	if (!cJSON_IsObject(items) || (!cJSON_GetObjectItemCaseSensitive(items, "enum") &&
				       !cJSON_GetObjectItemCaseSensitive(items, "anyOf")))
		return fail(
			err, err_len,
			"property %s: an array is taken only as a multi-select (items with enum "
			"or anyOf)",
			x->name);
	x->type = MCP_ELICIT_MULTI;
	if (read_options(x, items, err, err_len) < 0)
		return -EINVAL;
	return read_bounds(x, prop, "minItems", "maxItems", err, err_len);
}

static int read_type(struct mcp_elicit_field *x, const cJSON *prop, char *err, size_t err_len)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(prop, "type");
	const cJSON *format = cJSON_GetObjectItemCaseSensitive(prop, "format");
	const char *t = cJSON_IsString(type) ? type->valuestring : "";
	size_t i;

	if (strcmp(t, "boolean") == 0) {
		x->type = MCP_ELICIT_BOOLEAN;
		return 0;
	}
	if (strcmp(t, "number") == 0 || strcmp(t, "integer") == 0) {
		x->type = t[0] == 'n' ? MCP_ELICIT_NUMBER : MCP_ELICIT_INTEGER;
		return read_bounds(x, prop, "minimum", "maximum", err, err_len);
	}
	if (strcmp(t, "array") == 0)
		return read_multi(x, prop, err, err_len);
	if (strcmp(t, "string") != 0)
		return fail(err, err_len,
			    "property %s: type %s is not allowed in an elicitation (string, "
			    "number, integer, boolean, a string enum or a multi-select)",
			    x->name, *t ? t : "(none)");
	if (cJSON_GetObjectItemCaseSensitive(prop, "enum") ||
	    cJSON_GetObjectItemCaseSensitive(prop, "oneOf")) {
		x->type = MCP_ELICIT_ENUM;
		return read_options(x, prop, err, err_len);
	}
	x->type = MCP_ELICIT_STRING;
	if (format) {
		for (i = 0; i < ARRAY_LEN(formats); i++)
			if (cJSON_IsString(format) && strcmp(format->valuestring, formats[i]) == 0)
				x->format = xstrdup(formats[i]);
		if (!x->format)
			return fail(err, err_len,
				    "property %s: format must be email, uri, date or date-time",
				    x->name);
	}
	return read_bounds(x, prop, "minLength", "maxLength", err, err_len);
}

static int read_field(struct mcp_elicit_field *x, const cJSON *prop, const cJSON *required,
		      char *err, size_t err_len)
{
	const cJSON *r, *def;
	char *check = NULL;
	int rc;

	if (!cJSON_IsObject(prop))
		return fail(err, err_len, "property %s: its schema is not an object", x->name);
	x->title = dup_text(cJSON_GetObjectItemCaseSensitive(prop, "title"));
	x->description = dup_text(cJSON_GetObjectItemCaseSensitive(prop, "description"));
	rc = read_type(x, prop, err, err_len);
	if (rc < 0)
		return rc;
	cJSON_ArrayForEach(r, required)
	{
		if (cJSON_IsString(r) && strcmp(r->valuestring, x->name) == 0)
			x->required = true;
	}
	def = cJSON_GetObjectItemCaseSensitive(prop, "default");
	if (!def)
		return 0;
	x->default_json = json_exact_print(def);
	/* A default is a value like any other: it must fit its own field. */
	if (field_value(x, def, &check, err, err_len) < 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		return fail(err, err_len, "property %s: its default does not fit: %s", x->name,
			    why);
	}
	free(check);
	return 0;
}

static int read_schema(struct mcp_elicit_form *f, const cJSON *schema, char *err, size_t err_len)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
	const cJSON *required = cJSON_GetObjectItemCaseSensitive(schema, "required");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
	const cJSON *prop;
	int n, rc;

	if (!cJSON_IsObject(schema) || !cJSON_IsString(type) ||
	    strcmp(type->valuestring, "object") != 0)
		return fail(err, err_len,
			    "requestedSchema must be an object schema (type: object)");
	if (props && !cJSON_IsObject(props))
		return fail(err, err_len, "requestedSchema.properties must be an object");
	if (required && !cJSON_IsArray(required))
		return fail(err, err_len, "requestedSchema.required must be an array");
	n = cJSON_GetArraySize(props);
	if (n > MCP_ELICIT_FIELDS_MAX)
		return fail(err, err_len, "requestedSchema has %d properties; at most %d are taken",
			    n, MCP_ELICIT_FIELDS_MAX);
	f->fields = xcalloc(n ? (size_t)n : 1, sizeof(*f->fields));
	cJSON_ArrayForEach(prop, props)
	{
		struct mcp_elicit_field *x = &f->fields[f->n_fields++];

		if (strlen(prop->string) > 256)
			return fail(err, err_len,
				    "requestedSchema: a property name is over 256 bytes");
		x->name = xstrdup(prop->string);
		rc = read_field(x, prop, required, err, err_len);
		if (rc < 0)
			return rc;
	}
	cJSON_ArrayForEach(prop, required)
	{
		if (!cJSON_IsString(prop) ||
		    !cJSON_GetObjectItemCaseSensitive(props, prop->valuestring))
			return fail(err, err_len,
				    "requestedSchema.required names %s, which is no property",
				    cJSON_IsString(prop) ? prop->valuestring : "a non-string");
	}
	return 0;
}

static int read_form(struct mcp_elicit_form *f, const cJSON *params, bool url_mode, char *err,
		     size_t err_len)
{
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(params, "mode");
	const cJSON *message = cJSON_GetObjectItemCaseSensitive(params, "message");
	const cJSON *url = cJSON_GetObjectItemCaseSensitive(params, "url");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(params, "elicitationId");

	if (!cJSON_IsObject(params))
		return fail(err, err_len, "elicitation/create params must be an object");
	if (!cJSON_IsString(message) || too_long(message))
		return fail(err, err_len, "message must be a string of at most %d bytes",
			    MCP_ELICIT_TEXT_MAX);
	f->message = xstrdup(message->valuestring);
	if (mode && (!cJSON_IsString(mode) || (strcmp(mode->valuestring, "form") != 0 &&
					       strcmp(mode->valuestring, "url") != 0)))
		return fail(err, err_len, "mode must be \"form\" or \"url\"");
	if (!mode || strcmp(mode->valuestring, "form") == 0)
		return read_schema(f, cJSON_GetObjectItemCaseSensitive(params, "requestedSchema"),
				   err, err_len);
	if (!url_mode)
		return fail(err, err_len,
			    "url mode is not part of the protocol version this session speaks");
	if (!cJSON_IsString(url) || too_long(url) ||
	    (strncmp(url->valuestring, "https://", 8) != 0 &&
	     strncmp(url->valuestring, "http://", 7) != 0))
		return fail(err, err_len, "url must be an http(s) URL of at most %d bytes",
			    MCP_ELICIT_TEXT_MAX);
	/* 2025-11-25 names the elicitation; 2026-07-28's input_required form does not (the
	 * server keeps its own id in requestState). */
	if (id && (!cJSON_IsString(id) || too_long(id)))
		return fail(err, err_len, "elicitationId must be a string");
	f->url = xstrdup(url->valuestring);
	f->elicitation_id = id ? xstrdup(id->valuestring) : NULL;
	return 0;
}

int mcp_elicit_parse(const char *params_json, size_t len, bool url_mode,
		     struct mcp_elicit_form *out, char *err, size_t err_len)
{
	cJSON *params = json_parse(params_json, len, JSON_EXACT, NULL);
	int rc;

	memset(out, 0, sizeof(*out));
	rc = read_form(out, params, url_mode, err, err_len);
	cJSON_Delete(params);
	if (rc < 0)
		mcp_elicit_form_finish(out);
	return rc;
}

/* ---- values ---- */

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool format_ok(const char *format, const char *s)
{
	const char *at, *colon;
	size_t n = strlen(s);

	if (!format)
		return true;
	if (strcmp(format, "email") == 0) {
		at = strchr(s, '@');
		return at && at != s && at[1] && !strchr(at + 1, '@') && !strchr(s, ' ');
	}
	if (strcmp(format, "uri") == 0) {
		colon = strchr(s, ':');
		return colon && colon != s && !strchr(s, ' ');
	}
	/* date: YYYY-MM-DD; date-time: that, then T and a time */
	if (n < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
	    !digits(s + 8, 2))
		return false;
	if (strcmp(format, "date") == 0)
		return n == 10;
	return n > 11 && (s[10] == 'T' || s[10] == 't') && digits(s + 11, 2);
}

static int check_number(const struct mcp_elicit_field *x, double v, char *err, size_t err_len)
{
	if (!isfinite(v))
		return fail(err, err_len, "%s: not a finite number", x->name);
	if (x->type == MCP_ELICIT_INTEGER && (v != floor(v) || fabs(v) > 9007199254740991.0))
		return fail(err, err_len, "%s: %g is not an integer", x->name, v);
	if (x->has_min && v < x->min)
		return fail(err, err_len, "%s: %g is below the minimum %g", x->name, v, x->min);
	if (x->has_max && v > x->max)
		return fail(err, err_len, "%s: %g is above the maximum %g", x->name, v, x->max);
	return 0;
}

static int check_string(const struct mcp_elicit_field *x, const char *s, char *err, size_t err_len)
{
	size_t n = strlen(s), i;

	if (x->type == MCP_ELICIT_ENUM || x->type == MCP_ELICIT_MULTI) {
		for (i = 0; i < x->n_options; i++)
			if (strcmp(x->options[i], s) == 0)
				return 0;
		return fail(err, err_len, "%s: \"%.64s\" is not one of its choices", x->name, s);
	}
	if (n > MCP_ELICIT_TEXT_MAX)
		return fail(err, err_len, "%s: longer than %d bytes", x->name, MCP_ELICIT_TEXT_MAX);
	if (x->has_min && (double)n < x->min)
		return fail(err, err_len, "%s: at least %g characters", x->name, x->min);
	if (x->has_max && (double)n > x->max)
		return fail(err, err_len, "%s: at most %g characters", x->name, x->max);
	if (!format_ok(x->format, s))
		return fail(err, err_len, "%s: \"%.64s\" is not a valid %s", x->name, s, x->format);
	return 0;
}

/* An array of distinct choices, as many as minItems/maxItems allow. */
static int check_multi(const struct mcp_elicit_field *x, const cJSON *v, char *err, size_t err_len)
{
	const cJSON *item, *other;
	int n = cJSON_GetArraySize(v), rc;

	if (!cJSON_IsArray(v))
		return fail(err, err_len, "%s: expected an array of choices", x->name);
	cJSON_ArrayForEach(item, v)
	{
		if (!cJSON_IsString(item))
			return fail(err, err_len, "%s: expected an array of choices", x->name);
		rc = check_string(x, item->valuestring, err, err_len);
		if (rc < 0)
			return rc;
		for (other = item->next; other; other = other->next)
			if (cJSON_IsString(other) &&
			    strcmp(other->valuestring, item->valuestring) == 0)
				return fail(err, err_len, "%s: \"%.64s\" is chosen twice", x->name,
					    item->valuestring);
	}
	if (x->has_min && n < x->min)
		return fail(err, err_len, "%s: choose at least %g", x->name, x->min);
	if (x->has_max && n > x->max)
		return fail(err, err_len, "%s: choose at most %g", x->name, x->max);
	return 0;
}

/* A JSON value for field x: checked; *out = its compact text. */
static int field_value(const struct mcp_elicit_field *x, const cJSON *v, char **out, char *err,
		       size_t err_len)
{
	int rc;

	*out = NULL;
	switch (x->type) {
	case MCP_ELICIT_BOOLEAN:
		if (!cJSON_IsBool(v))
			return fail(err, err_len, "%s: expected a boolean", x->name);
		break;
	case MCP_ELICIT_NUMBER:
	case MCP_ELICIT_INTEGER:
		if (!cJSON_IsNumber(v))
			return fail(err, err_len, "%s: expected %s", x->name,
				    x->type == MCP_ELICIT_NUMBER ? "a number" : "an integer");
		rc = check_number(x, v->valuedouble, err, err_len);
		if (rc < 0)
			return rc;
		break;
	case MCP_ELICIT_MULTI:
		rc = check_multi(x, v, err, err_len);
		if (rc < 0)
			return rc;
		break;
	default:
		if (!cJSON_IsString(v))
			return fail(err, err_len, "%s: expected a string", x->name);
		rc = check_string(x, v->valuestring, err, err_len);
		if (rc < 0)
			return rc;
	}
	*out = json_exact_print(v);
	return 0;
}

static bool word_in(const char *s, const char *const *words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	return false;
}

/* An enum choice by number (1-based), value or title. */
static const char *pick_option(const struct mcp_elicit_field *x, const char *s)
{
	char *end;
	long k = strtol(s, &end, 10);
	size_t i;

	for (i = 0; i < x->n_options; i++)
		if (strcmp(x->options[i], s) == 0)
			return x->options[i];
	for (i = 0; i < x->n_options; i++)
		if (x->option_names[i] && strcasecmp(x->option_names[i], s) == 0)
			return x->options[i];
	if (*s && !*end && k >= 1 && (size_t)k <= x->n_options)
		return x->options[k - 1];
	return NULL;
}

/* "1, 3" or "Guitar,Piano": choices separated by commas, each as pick_option takes it. */
static int pick_options(const struct mcp_elicit_field *x, const char *text, cJSON **out, char *err,
			size_t err_len)
{
	char *copy = xstrdup(text), *word = copy, *comma, *end;
	const char *choice;
	int rc = 0;

	*out = cJSON_CreateArray();
	while (word) {
		comma = strchr(word, ',');
		if (comma)
			*comma = 0;
		while (*word == ' ')
			word++;
		end = word + strlen(word);
		while (end > word && end[-1] == ' ')
			*--end = 0;
		if (*word) {
			choice = pick_option(x, word);
			if (!choice) {
				rc = fail(err, err_len,
					  "%s: \"%.64s\" is not one of its choices (1-%zu)",
					  x->name, word, x->n_options);
				break;
			}
			cJSON_AddItemToArray(*out, cJSON_CreateString(choice));
		}
		word = comma ? comma + 1 : NULL;
	}
	free(copy);
	if (rc < 0) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	return rc;
}

int mcp_elicit_value(const struct mcp_elicit_field *x, const char *text, char **json_out, char *err,
		     size_t err_len)
{
	static const char *const yes[] = {"y", "yes", "true", "1"};
	static const char *const no[] = {"n", "no", "false", "0"};
	cJSON *v = NULL;
	const char *choice;
	char *end;
	double d;
	int rc;

	*json_out = NULL;
	switch (x->type) {
	case MCP_ELICIT_BOOLEAN:
		if (word_in(text, yes, ARRAY_LEN(yes)))
			v = cJSON_CreateTrue();
		else if (word_in(text, no, ARRAY_LEN(no)))
			v = cJSON_CreateFalse();
		else
			return fail(err, err_len, "%s: answer y or n", x->name);
		break;
	case MCP_ELICIT_NUMBER:
	case MCP_ELICIT_INTEGER:
		d = strtod(text, &end);
		if (!*text || end == text || *end)
			return fail(err, err_len, "%s: \"%.64s\" is not %s", x->name, text,
				    x->type == MCP_ELICIT_NUMBER ? "a number" : "an integer");
		v = cJSON_CreateNumber(d);
		break;
	case MCP_ELICIT_ENUM:
		choice = pick_option(x, text);
		if (!choice)
			return fail(err, err_len, "%s: \"%.64s\" is not one of its choices (1-%zu)",
				    x->name, text, x->n_options);
		v = cJSON_CreateString(choice);
		break;
	case MCP_ELICIT_MULTI:
		rc = pick_options(x, text, &v, err, err_len);
		if (rc < 0)
			return rc;
		break;
	default:
		v = cJSON_CreateString(text);
	}
	rc = field_value(x, v, json_out, err, err_len);
	cJSON_Delete(v);
	return rc;
}

int mcp_elicit_content(const struct mcp_elicit_form *f, const char *content_json, char **out,
		       char *err, size_t err_len)
{
	cJSON *content = content_json ? json_exact_parse(content_json, strlen(content_json))
				      : cJSON_CreateObject();
	const cJSON *item;
	char *text;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (!cJSON_IsObject(content)) {
		cJSON_Delete(content);
		return fail(err, err_len, "the content must be a JSON object");
	}
	cJSON_ArrayForEach(item, content)
	{
		for (i = 0; i < f->n_fields; i++)
			if (strcmp(f->fields[i].name, item->string) == 0)
				break;
		if (i == f->n_fields) {
			rc = fail(err, err_len, "%.64s: no such field in the form", item->string);
			goto out;
		}
		rc = field_value(&f->fields[i], item, &text, err, err_len);
		free(text);
		if (rc < 0)
			goto out;
	}
	for (i = 0; i < f->n_fields; i++) {
		const struct mcp_elicit_field *x = &f->fields[i];

		if (cJSON_GetObjectItemCaseSensitive(content, x->name))
			continue;
		if (x->default_json)
			cJSON_AddItemToObject(
				content, x->name,
				json_exact_parse(x->default_json, strlen(x->default_json)));
		else if (x->required) {
			rc = fail(err, err_len, "%s: required, and it has no default", x->name);
			goto out;
		}
	}
	*out = json_exact_print(content);
out:
	cJSON_Delete(content);
	return rc;
}

const char *mcp_elicit_action_name(enum mcp_elicit_action action)
{
	return action == MCP_ELICIT_ACCEPT    ? "accept"
	       : action == MCP_ELICIT_DECLINE ? "decline"
					      : "cancel";
}

char *mcp_elicit_result(enum mcp_elicit_action action, const char *content_json)
{
	cJSON *r = cJSON_CreateObject();
	char *text;

	cJSON_AddStringToObject(r, "action", mcp_elicit_action_name(action));
	if (action == MCP_ELICIT_ACCEPT && content_json)
		cJSON_AddItemToObject(r, "content",
				      json_exact_parse(content_json, strlen(content_json)));
	text = json_exact_print(r);
	cJSON_Delete(r);
	return text;
}

const char *mcp_elicit_type_name(enum mcp_elicit_type t)
{
	return type_names[t];
}
