/* Fuzz target of the elicitation reader (mcp/mcp_elicit.c): any bytes as elicitation/create
 * params must never crash, leak or read out of bounds; a form that is read has at most
 * MCP_ELICIT_FIELDS_MAX fields of at most MCP_ELICIT_OPTIONS_MAX choices, its defaults fill an
 * answer that the form itself takes, and typed text for each field either becomes a value or
 * says why not.
 * Build: meson setup -Dfuzz=true (tests/meson.build).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp_elicit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const typed[] = {"", "1", "y", "2,1", "-0.5e3", "a@b", "2026-11-25"};
	struct mcp_elicit_form f;
	char err[256], *out = NULL, *json;

	if (mcp_elicit_parse((const char *)data, size, size & 1, &f, err, sizeof(err)) < 0)
		return 0;
	if (f.n_fields > MCP_ELICIT_FIELDS_MAX)
		abort();
	for (size_t i = 0; i < f.n_fields; i++) {
		if (f.fields[i].n_options > MCP_ELICIT_OPTIONS_MAX)
			abort();
		for (size_t k = 0; k < sizeof(typed) / sizeof(typed[0]); k++) {
			if (mcp_elicit_value(&f.fields[i], typed[k], &json, err, sizeof(err)) ==
				    0 &&
			    !json)
				abort();
			free(json);
		}
	}
	/* The defaults alone fit (a required field without one is the only refusal). */
	if (mcp_elicit_content(&f, NULL, &out, err, sizeof(err)) == 0) {
		char *again = NULL;

		if (mcp_elicit_content(&f, out, &again, err, sizeof(err)) != 0)
			abort();
		free(again);
	} else if (!strstr(err, "required")) {
		abort();
	}
	free(out);
	mcp_elicit_form_finish(&f);
	return 0;
}
