/* mcp_elicit: questions from servers (MCP elicitation, elicitation/create).
 *
 * A server in the middle of a tool call may ask the user for a few values (form mode: a flat
 * JSON Schema of string, number, integer, boolean and single-choice enum properties) or send
 * them to a URL (url mode, protocol 2025-11-25); multi-select is an array of such choices.
 * This module holds the pure parts: reading and
 * checking the requested schema (bounded: MCP_ELICIT_FIELDS_MAX fields, MCP_ELICIT_OPTIONS_MAX
 * choices, MCP_ELICIT_TEXT_MAX bytes per text), turning what a human typed into a typed value,
 * and building the content sent back with the schema's defaults applied (SEP-1034: a field the
 * user left out that has a default is sent with it). mcp.c owns the request, its timer and the
 * answer; the owner of the client asks the human through struct mcp_elicit_cbs (mcp.h).
 */
#ifndef HERMETIC_MCP_ELICIT_H
#define HERMETIC_MCP_ELICIT_H

#include <stdbool.h>
#include <stddef.h>

#define MCP_ELICIT_FIELDS_MAX  32
#define MCP_ELICIT_OPTIONS_MAX 64
#define MCP_ELICIT_TEXT_MAX    4096

enum mcp_elicit_type {
	MCP_ELICIT_STRING,
	MCP_ELICIT_NUMBER,
	MCP_ELICIT_INTEGER,
	MCP_ELICIT_BOOLEAN,
	MCP_ELICIT_ENUM, /* a string of a fixed set: enum / oneOf const */
	MCP_ELICIT_MULTI /* an array of such strings: items enum / items anyOf const */
};

enum mcp_elicit_action { MCP_ELICIT_ACCEPT, MCP_ELICIT_DECLINE, MCP_ELICIT_CANCEL };

struct mcp_elicit_field {
	char *name;
	char *title;	   /* NULL = none: show name */
	char *description; /* NULL = none */
	enum mcp_elicit_type type;
	bool required;
	char **options;	     /* MCP_ELICIT_ENUM, _MULTI: the values */
	char **option_names; /* their titles (enumNames / oneOf title), NULL entries = value */
	size_t n_options;
	char *default_json; /* the default as compact JSON, NULL = none */
	char *format;	    /* string: "email", "uri", "date", "date-time", NULL = any */
	bool has_min, has_max;
	/* number/integer: minimum/maximum; string: minLength/maxLength; multi: minItems/maxItems */
	double min, max;
};

struct mcp_elicit_form {
	char *message;
	char *url;	      /* url mode: where to send the user; NULL = form mode */
	char *elicitation_id; /* url mode, when the server named it (2025-11-25), else NULL */
	struct mcp_elicit_field *fields;
	size_t n_fields;
};

/* Reads elicitation/create params (JSON text). url_mode: the negotiated protocol has url
 * mode. Returns 0 and fills out (free with mcp_elicit_form_finish), or -EINVAL with what is
 * wrong and where in err ("property age: type array is not allowed in an elicitation"). */
int mcp_elicit_parse(const char *params_json, size_t len, bool url_mode,
		     struct mcp_elicit_form *out, char *err, size_t err_len);
void mcp_elicit_form_finish(struct mcp_elicit_form *f);

/* A human's text for field f as a JSON value (malloc'd into *json_out): numbers and integers
 * in range, booleans as y/yes/true/1 or n/no/false/0, an enum by its value, its title or its
 * number (1-based), a multi-select as such choices separated by commas, strings of the
 * allowed length and format. Returns 0, or -EINVAL with why
 * in err. */
int mcp_elicit_value(const struct mcp_elicit_field *f, const char *text, char **json_out, char *err,
		     size_t err_len);

/* The content to send with accept: content_json (an object of field values, NULL = {}) with
 * every field it lacks that has a default added (SEP-1034), each value checked against its
 * field. Returns the object text (malloc'd) in *out and 0, or -EINVAL with why in err (a
 * value of the wrong type, a required field without value or default, an unknown field). */
int mcp_elicit_content(const struct mcp_elicit_form *f, const char *content_json, char **out,
		       char *err, size_t err_len);

/* The elicitation/create result for action (content: the accepted object, only with accept in
 * form mode), as JSON text (malloc'd). */
char *mcp_elicit_result(enum mcp_elicit_action action, const char *content_json);

/* "string", "number", "integer", "boolean", "enum", "multi". */
const char *mcp_elicit_type_name(enum mcp_elicit_type t);
/* "accept", "decline", "cancel". */
const char *mcp_elicit_action_name(enum mcp_elicit_action action);

#endif
