/* cli_audit: `hermetic audit tail|search`, read from home/logs/audit.jsonl and its rotated
 * files (core/audit.h writes them). */
#ifndef HERMETIC_CLI_AUDIT_H
#define HERMETIC_CLI_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

struct config;

struct cli_audit_opts {
	bool search;  /* search WORDS, else tail */
	char **words; /* search: every word must be in the line (any case) */
	int n_words;
	const char *since;  /* "30m", "2h", "7d", "45s", or a UTC time "2026-11-23[THH:MM[:SS]]" */
	const char *source; /* "telegram:42", or a kind of source: "telegram", "cron" */
	int64_t session;    /* 0 = any */
	const char *lane;   /* lines of this lane only (their "lane" field), NULL = any */
	long lines;	    /* tail: the last this many (default 20) */
	bool json;	    /* the lines as they are stored */
};

/* Returns the exit code: 0, 1 (no trail to read), 2 (bad option value). */
int cli_audit(const struct config *cfg, const struct cli_audit_opts *o);

#endif
