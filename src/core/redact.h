/* redact: de-identification by detectors, as pure functions (docs/security.md, "Lanes").
 *
 * Text bound for a lane's models has its e-mail addresses, phone numbers, IBANs (mod-97
 * checked), payment card numbers (Luhn checked), IPv4/IPv6 addresses and the lane's own
 * regexes replaced by placeholders ([EMAIL_1], [PHONE_2], [IBAN_1], [CARD_1], [IP_1],
 * [PATTERN_1]); a map remembers them so the same value gets the same placeholder for as long as
 * the map lives (a session), and an answer is restored through it. It finds only what it is
 * told to: names, addresses written in words and free text pass unchanged.
 */
#ifndef HERMETIC_REDACT_H
#define HERMETIC_REDACT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#define REDACT_MAX_ENTRIES 4096 /* values one map remembers; past it, matches stay as [KIND] */
#define REDACT_VALUE_MAX   512	/* a longer match is replaced but not remembered ([KIND]) */

struct redact_map;

struct redact_map *redact_map_create(void);
void redact_map_destroy(struct redact_map *m); /* accepts NULL */
size_t redact_map_count(const struct redact_map *m);
/* The i-th entry (i < count): its placeholder and value, borrowed. */
void redact_map_entry(const struct redact_map *m, size_t i, const char **placeholder,
		      const char **value);
/* Adds an entry read back from storage: placeholder "[KIND_N]" of a known kind. 0, or
 * -EINVAL for a malformed one, -ENOSPC when the map is full. Later numbers go on from it. */
int redact_map_add(struct redact_map *m, const char *placeholder, const char *value);

/* text (len bytes) with every match of the detectors (CONFIG_REDACT_* flags) and of the
 * compiled POSIX regexes (patterns, may be NULL) replaced by its placeholder; m gains the new
 * values. A match found by an earlier detector wins an overlap (email, iban, card, ip, phone,
 * then the patterns in order). Returns a malloc'd NUL-terminated string, its length in
 * *out_len (may be NULL); *changed (may be NULL) says whether anything was replaced. */
char *redact_text(struct redact_map *m, unsigned detectors, const regex_t *patterns,
		  size_t n_patterns, const char *text, size_t len, size_t *out_len, bool *changed);

/* text with each placeholder of m put back to its value; other text as is. malloc'd. */
char *redact_restore(const struct redact_map *m, const char *text, size_t len, size_t *out_len);

/* Where a text that goes on in a later piece (a streamed answer) may end inside a placeholder
 * not complete yet: the offset of a trailing "[" followed only by placeholder characters (A-Z,
 * 0-9, '_'), at most REDACT_PLACEHOLDER_MAX bytes from the end; len when there is none. The
 * text before it can be restored now, the rest waits for the next piece. */
#define REDACT_PLACEHOLDER_MAX 24 /* the longest "[KIND_N]" redact_restore looks for */
size_t redact_hold_from(const char *text, size_t len);

/* A lane's rules: its detectors (CONFIG_REDACT_* flags) and its regexes, compiled. */
struct redact_rules {
	unsigned detectors;
	regex_t *re;
	size_t n_re;
};

/* false when no detector or regex of rules can match in text (len bytes): nothing to redact
 * there; true when one may (redact_text says whether one does). A scan, no allocation. */
bool redact_may_match(const struct redact_rules *rules, const char *text, size_t len);

/* Compiles n POSIX extended regexes (checked at config load). 0, or -1 with nothing held. */
int redact_rules_init(struct redact_rules *r, unsigned flags, char *const *patterns, size_t n);
void redact_rules_finish(struct redact_rules *r);

typedef struct cJSON cJSON;

/* One JSON string redacted by rules (NULL: restored through m) in place; true if it changed. */
bool redact_json_string(struct redact_map *m, const struct redact_rules *rules, cJSON *s);

/* Every text of one chat message in place: its content (a string, or the parts' "text" and
 * "refusal"), its refusal, its tool calls' and legacy function_call's arguments. true if any
 * changed. (A router client's whole request: router/redact_chat.h.) */
bool redact_json_message(struct redact_map *m, const struct redact_rules *rules, cJSON *msg);

/* The checksums, for tests: a card number's digits pass Luhn; an IBAN (no spaces) mod 97 is 1. */
bool redact_luhn_ok(const char *digits, size_t n);
bool redact_iban_ok(const char *iban, size_t n);

#endif
