/* redact: detectors, placeholders and their restoration (see redact.h).
 *
 * One pass, left to right: at each position the detectors are tried in priority order and the
 * first that matches there takes the span; the text after it is scanned on. Each detector is a
 * small hand-written matcher with its checksum (Luhn, mod 97) or inet_pton for IPv6, so a
 * number that merely looks like a card or an IBAN stays. The lane's regexes run through
 * regexec, each asked once for its next match and again only when the scan has passed it.
 * Rejected: one big regex for all detectors (POSIX ERE cannot check a checksum, and a regex per
 * position is quadratic), and redacting the JSON text of a request (an escape such as \n would
 * join the letter n to an address); callers redact string values.
 */
#include "core/redact.h"
#include "core/config.h"
#include "core/util.h"
#include <cjson/cJSON.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_EMAIL, K_IBAN, K_CARD, K_IP, K_PHONE, K_PATTERN, N_KINDS };

static const char *const kind_names[N_KINDS] = {"EMAIL", "IBAN", "CARD", "IP", "PHONE", "PATTERN"};

struct entry {
	enum kind kind;
	char *placeholder, *value;
};

struct redact_map {
	struct entry *e;
	size_t n, alloc;
	unsigned long next[N_KINDS]; /* the last number given, per kind */
};

struct redact_map *redact_map_create(void)
{
	return xcalloc(1, sizeof(struct redact_map));
}

void redact_map_destroy(struct redact_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->e[i].placeholder);
		free(m->e[i].value);
	}
	free(m->e);
	free(m);
}

size_t redact_map_count(const struct redact_map *m)
{
	return m->n;
}

void redact_map_entry(const struct redact_map *m, size_t i, const char **placeholder,
		      const char **value)
{
	*placeholder = m->e[i].placeholder;
	*value = m->e[i].value;
}

static void push(struct redact_map *m, enum kind k, char *placeholder, const char *value,
		 size_t len)
{
	if (m->n == m->alloc) {
		m->alloc = m->alloc ? 2 * m->alloc : 16;
		m->e = xrealloc(m->e, m->alloc * sizeof(*m->e));
	}
	m->e[m->n++] = (struct entry){k, placeholder, xstrndup(value, len)};
}

/* "[KIND_N]" into its kind and N; -1 when it is not one. */
static int parse_placeholder(const char *s, size_t len, unsigned long *num)
{
	size_t i, k;

	if (len < 5 || s[0] != '[' || s[len - 1] != ']')
		return -1;
	for (k = 0; k < N_KINDS; k++) {
		size_t kl = strlen(kind_names[k]);

		if (len > kl + 3 && strncmp(s + 1, kind_names[k], kl) == 0 && s[kl + 1] == '_')
			break;
	}
	if (k == N_KINDS)
		return -1;
	*num = 0;
	i = strlen(kind_names[k]) + 2;
	if (s[i] == '0')
		return -1;
	for (; i < len - 1; i++) {
		if (!isdigit((unsigned char)s[i]) || *num > 100000000UL)
			return -1;
		*num = *num * 10 + (unsigned long)(s[i] - '0');
	}
	return (int)k;
}

int redact_map_add(struct redact_map *m, const char *placeholder, const char *value)
{
	unsigned long num;
	int k = parse_placeholder(placeholder, strlen(placeholder), &num);

	if (k < 0 || strlen(value) > REDACT_VALUE_MAX)
		return -EINVAL;
	if (m->n >= REDACT_MAX_ENTRIES)
		return -ENOSPC;
	push(m, (enum kind)k, xstrdup(placeholder), value, strlen(value));
	if (num > m->next[k])
		m->next[k] = num;
	return 0;
}

/* The placeholder of value (kind k), new or known; "[KIND]" when it cannot be remembered. */
static const char *placeholder_of(struct redact_map *m, enum kind k, const char *v, size_t len,
				  char *tmp, size_t tmp_len)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].kind == k && strlen(m->e[i].value) == len &&
		    memcmp(m->e[i].value, v, len) == 0)
			return m->e[i].placeholder;
	if (len > REDACT_VALUE_MAX || m->n >= REDACT_MAX_ENTRIES) {
		snprintf(tmp, tmp_len, "[%s]", kind_names[k]);
		return tmp;
	}
	push(m, k, xasprintf("[%s_%lu]", kind_names[k], ++m->next[k]), v, len);
	return m->e[m->n - 1].placeholder;
}

/* ---- the checksums ------------------------------------------------------------------ */

bool redact_luhn_ok(const char *d, size_t n)
{
	unsigned sum = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned v = (unsigned)(d[n - 1 - i] - '0');

		if (v > 9)
			return false;
		if (i % 2 == 1)
			v = v * 2 > 9 ? v * 2 - 9 : v * 2;
		sum += v;
	}
	return n > 0 && sum % 10 == 0;
}

bool redact_iban_ok(const char *s, size_t n)
{
	unsigned rem = 0;

	if (n < 15 || n > 34)
		return false;
	/* The first four characters go last; letters count as 10..35. */
	for (size_t j = 0; j < n; j++) {
		char c = s[(j + 4) % n];

		if (isdigit((unsigned char)c))
			rem = (rem * 10 + (unsigned)(c - '0')) % 97;
		else if (c >= 'A' && c <= 'Z')
			rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
		else
			return false;
	}
	return rem == 1;
}

/* ---- the detectors: each the length of its match at t[i], or 0 ------------------------ */

struct text {
	const char *t;
	size_t len;
};

static bool at_alnum(const struct text *x, size_t i)
{
	return i < x->len && isalnum((unsigned char)x->t[i]);
}

static bool before_is(const struct text *x, size_t i, const char *set)
{
	return i > 0 && (isalnum((unsigned char)x->t[i - 1]) || strchr(set, x->t[i - 1]));
}

static bool local_char(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("._%+-", c));
}

static size_t match_email(const struct text *x, size_t i)
{
	const char *t = x->t;
	size_t at = i, end, last_dot = 0, tld;

	if (!local_char(t[i]) || (i > 0 && local_char(t[i - 1])))
		return 0;
	while (at < x->len && at - i < 64 && local_char(t[at]))
		at++;
	if (at >= x->len || t[at] != '@' || at == i)
		return 0;
	end = at + 1;
	while (end < x->len && end - at < 254 &&
	       (isalnum((unsigned char)t[end]) || t[end] == '-' || t[end] == '.'))
		end++;
	while (end > at + 1 && (t[end - 1] == '.' || t[end - 1] == '-'))
		end--;
	for (size_t k = at + 1; k < end; k++)
		if (t[k] == '.')
			last_dot = k;
	if (!last_dot || last_dot == at + 1 || t[last_dot - 1] == '.')
		return 0;
	tld = end - last_dot - 1;
	if (tld < 2)
		return 0;
	for (size_t k = last_dot + 1; k < end; k++)
		if (!isalpha((unsigned char)t[k]))
			return 0;
	return end - i;
}

/* Digits from t[i] with one or two separators from seps between them, into digits (at most cap);
 * the count in *n and where the run ends (after its last digit). */
static size_t digit_run(const struct text *x, size_t i, const char *seps, char *digits, size_t cap,
			size_t *n)
{
	size_t k = i, end = i;

	*n = 0;
	while (k < x->len && *n < cap) {
		if (isdigit((unsigned char)x->t[k])) {
			digits[(*n)++] = x->t[k++];
			end = k;
		} else if (k > i && strchr(seps, x->t[k]) && k + 1 < x->len &&
			   isdigit((unsigned char)x->t[k + 1])) {
			k++;
		} else if (k > i && strchr(seps, x->t[k]) && k + 2 < x->len && x->t[k + 1] &&
			   strchr(seps, x->t[k + 1]) && isdigit((unsigned char)x->t[k + 2])) {
			k += 2; /* ") " in "(030) 1234" */
		} else {
			break;
		}
	}
	return end;
}

static size_t match_card(const struct text *x, size_t i)
{
	char digits[20];
	size_t n, end;

	if (!isdigit((unsigned char)x->t[i]) || before_is(x, i, ""))
		return 0;
	end = digit_run(x, i, " -", digits, sizeof(digits), &n);
	if (n < 13 || n > 19 || at_alnum(x, end) || !redact_luhn_ok(digits, n))
		return 0;
	return end - i;
}

static size_t match_iban(const struct text *x, size_t i)
{
	const char *t = x->t;
	char chars[35];
	size_t ends[35], n = 0, k = i;

	if (i + 4 > x->len || !isupper((unsigned char)t[i]) || !isupper((unsigned char)t[i + 1]) ||
	    !isdigit((unsigned char)t[i + 2]) || !isdigit((unsigned char)t[i + 3]) ||
	    before_is(x, i, ""))
		return 0;
	while (k < x->len && n < 34) {
		char c = t[k];

		if (isdigit((unsigned char)c) || isupper((unsigned char)c)) {
			chars[n] = c;
			ends[n++] = ++k;
		} else if (c == ' ' && k + 1 < x->len && isalnum((unsigned char)t[k + 1])) {
			k++;
		} else {
			break;
		}
	}
	/* The longest prefix that is a whole IBAN and ends where a word ends. */
	for (; n >= 15; n--)
		if (!at_alnum(x, ends[n - 1]) && redact_iban_ok(chars, n))
			return ends[n - 1] - i;
	return 0;
}

static size_t match_ipv4(const struct text *x, size_t i)
{
	const char *t = x->t;
	size_t k = i;

	if (!isdigit((unsigned char)t[i]) || before_is(x, i, "."))
		return 0;
	for (int part = 0; part < 4; part++) {
		unsigned v = 0;
		size_t d = 0;

		if (part && (k >= x->len || t[k++] != '.'))
			return 0;
		while (k < x->len && isdigit((unsigned char)t[k]) && d < 3)
			v = v * 10 + (unsigned)(t[k++] - '0'), d++;
		if (d == 0 || v > 255 || (d > 1 && t[k - d] == '0'))
			return 0;
	}
	if (at_alnum(x, k) || (k + 1 < x->len && t[k] == '.' && isdigit((unsigned char)t[k + 1])))
		return 0;
	return k - i;
}

static bool hex_or_colon(char c)
{
	return isxdigit((unsigned char)c) || c == ':' || c == '.';
}

static size_t match_ipv6(const struct text *x, size_t i)
{
	char buf[46];
	unsigned char addr[16];
	size_t k = i, colons = 0, groups = 0;

	if (!hex_or_colon(x->t[i]) || x->t[i] == '.' || (i > 0 && hex_or_colon(x->t[i - 1])) ||
	    before_is(x, i, ""))
		return 0;
	while (k < x->len && k - i < 45 && hex_or_colon(x->t[k]))
		k++;
	while (k > i && x->t[k - 1] == '.')
		k--;
	if (at_alnum(x, k) || k - i < 6)
		return 0;
	memcpy(buf, x->t + i, k - i);
	buf[k - i] = '\0';
	for (size_t j = 0; buf[j]; j++) {
		colons += buf[j] == ':';
		groups += isxdigit((unsigned char)buf[j]) && (j == 0 || buf[j - 1] == ':');
	}
	if (colons < 2 || groups < 3 || inet_pton(AF_INET6, buf, addr) != 1)
		return 0;
	return k - i;
}

static size_t match_ip(const struct text *x, size_t i)
{
	size_t n = match_ipv4(x, i);

	return n ? n : match_ipv6(x, i);
}

static size_t match_phone(const struct text *x, size_t i)
{
	const char *t = x->t;
	char digits[16];
	size_t n, end, k = i;
	bool intl = t[i] == '+';

	/* Not from the middle of a run of digit groups (an account number's tail). */
	if (before_is(x, i, "+") ||
	    (i >= 2 && strchr(" -.", t[i - 1]) && isdigit((unsigned char)t[i - 2])))
		return 0;
	if (intl || t[i] == '(')
		k++;
	if (k >= x->len || !isdigit((unsigned char)t[k]) || (!intl && t[i] != '(' && t[k] != '0'))
		return 0;
	end = digit_run(x, k, " -.()", digits, sizeof(digits), &n);
	if (n > 15 || at_alnum(x, end) || n < (intl ? 8u : 9u))
		return 0;
	return end - i;
}

typedef size_t (*matcher)(const struct text *x, size_t i);

static const struct {
	unsigned flag;
	enum kind kind;
	matcher fn;
} detectors[] = {
	{CONFIG_REDACT_EMAIL, K_EMAIL, match_email}, {CONFIG_REDACT_IBAN, K_IBAN, match_iban},
	{CONFIG_REDACT_CARD, K_CARD, match_card},    {CONFIG_REDACT_IP, K_IP, match_ip},
	{CONFIG_REDACT_PHONE, K_PHONE, match_phone},
};

/* ---- the pass ------------------------------------------------------------------------ */

/* The detectors of on that can match somewhere in text: an e-mail address needs an '@', an
 * IPv6 address a ':', every other match (and an IPv4 address) a digit. One pass over the text
 * instead of every detector at every byte: text nothing can match costs a scan, and a detector
 * runs only where its text may be. */
static unsigned possible(unsigned on, const char *text, size_t len)
{
	bool at = false, digit = false, colon = false;
	unsigned out = 0;

	for (size_t i = 0; i < len && !(at && digit && colon); i++) {
		at |= text[i] == '@';
		digit |= text[i] >= '0' && text[i] <= '9';
		colon |= text[i] == ':';
	}
	if (at)
		out |= CONFIG_REDACT_EMAIL;
	if (digit)
		out |= CONFIG_REDACT_IBAN | CONFIG_REDACT_CARD | CONFIG_REDACT_PHONE |
		       CONFIG_REDACT_IP;
	if (colon)
		out |= CONFIG_REDACT_IP;
	return on & out;
}

bool redact_may_match(const struct redact_rules *rules, const char *text, size_t len)
{
	return rules->n_re > 0 || possible(rules->detectors, text, len) != 0;
}

struct next_match {
	size_t start, end; /* start == SIZE_MAX: none after the scan position */
	bool done;	   /* no more matches */
};

/* Pattern p's next match at or after position i of the NUL-terminated text s (len). */
static void pattern_next(const regex_t *p, const char *s, size_t len, size_t i,
			 struct next_match *nm)
{
	regmatch_t rm;

	nm->start = SIZE_MAX;
	for (size_t from = i; !nm->done && from <= len; from++) {
		if (regexec(p, s + from, 1, &rm, from ? REG_NOTBOL : 0) != 0) {
			nm->done = true;
			return;
		}
		if (rm.rm_eo > rm.rm_so) {
			nm->start = from + (size_t)rm.rm_so;
			nm->end = from + (size_t)rm.rm_eo;
			return;
		}
		from += (size_t)rm.rm_so; /* an empty match: look again one character on */
	}
	nm->done = true;
}

char *redact_text(struct redact_map *m, unsigned detectors_on, const regex_t *patterns,
		  size_t n_patterns, const char *text, size_t len, size_t *out_len, bool *changed)
{
	struct text x = {xstrndup(text, len), len};
	struct next_match *nm = n_patterns ? xcalloc(n_patterns, sizeof(*nm)) : NULL;
	struct buf out;
	char tmp[16];
	size_t i = 0, copied = 0;

	x.len = strlen(x.t); /* a NUL inside ends the text regexec sees; the rest is copied as is */
	detectors_on = possible(detectors_on, x.t, x.len);
	buf_init(&out, 0);
	for (size_t p = 0; p < n_patterns; p++)
		pattern_next(&patterns[p], x.t, x.len, 0, &nm[p]);
	if (changed)
		*changed = false;
	while (i < x.len && (detectors_on || n_patterns)) {
		size_t n = 0;
		enum kind k = K_PATTERN;

		for (size_t d = 0; d < ARRAY_LEN(detectors) && !n; d++)
			if (detectors_on & detectors[d].flag) {
				n = detectors[d].fn(&x, i);
				k = detectors[d].kind;
			}
		for (size_t p = 0; p < n_patterns && !n; p++) {
			if (!nm[p].done && nm[p].start < i)
				pattern_next(&patterns[p], x.t, x.len, i, &nm[p]);
			if (!nm[p].done && nm[p].start == i) {
				n = nm[p].end - i;
				k = K_PATTERN;
			}
		}
		if (!n) {
			i++;
			continue;
		}
		buf_append(&out, x.t + copied, i - copied);
		buf_puts(&out, placeholder_of(m, k, x.t + i, n, tmp, sizeof(tmp)));
		if (changed)
			*changed = true;
		i += n;
		copied = i;
	}
	buf_append(&out, text + copied, len - copied);
	free(nm);
	free((char *)x.t);
	if (out_len)
		*out_len = out.len;
	return buf_steal(&out);
}

char *redact_restore(const struct redact_map *m, const char *text, size_t len, size_t *out_len)
{
	struct buf out;
	size_t i = 0, copied = 0;

	buf_init(&out, 0);
	while (i < len) {
		const char *close;
		size_t n, k;

		if (text[i] != '[' ||
		    !(close = memchr(text + i, ']',
				     len - i < REDACT_PLACEHOLDER_MAX ? len - i
								      : REDACT_PLACEHOLDER_MAX))) {
			i++;
			continue;
		}
		n = (size_t)(close - (text + i)) + 1;
		for (k = 0; k < m->n; k++)
			if (strlen(m->e[k].placeholder) == n &&
			    memcmp(m->e[k].placeholder, text + i, n) == 0)
				break;
		if (k == m->n) {
			i++;
			continue;
		}
		buf_append(&out, text + copied, i - copied);
		buf_puts(&out, m->e[k].value);
		i += n;
		copied = i;
	}
	buf_append(&out, text + copied, len - copied);
	if (out_len)
		*out_len = out.len;
	return buf_steal(&out);
}

size_t redact_hold_from(const char *text, size_t len)
{
	size_t j;

	for (j = len; j > 0 && len - j < REDACT_PLACEHOLDER_MAX; j--) {
		char ch = text[j - 1];

		if (ch == '[')
			return j - 1;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
			break;
	}
	return len;
}

/* ---- lanes' rules over chat messages ---- */

int redact_rules_init(struct redact_rules *r, unsigned flags, char *const *patterns, size_t n)
{
	memset(r, 0, sizeof(*r));
	r->detectors = flags;
	if (!n)
		return 0;
	r->re = xcalloc(n, sizeof(regex_t));
	for (; r->n_re < n; r->n_re++) {
		if (regcomp(&r->re[r->n_re], patterns[r->n_re], REG_EXTENDED) != 0) {
			redact_rules_finish(r);
			return -1;
		}
	}
	return 0;
}

void redact_rules_finish(struct redact_rules *r)
{
	for (size_t i = 0; i < r->n_re; i++)
		regfree(&r->re[i]);
	free(r->re);
	memset(r, 0, sizeof(*r));
}

bool redact_json_string(struct redact_map *m, const struct redact_rules *rules, cJSON *s)
{
	size_t n;
	bool changed = false;
	char *out;

	if (!cJSON_IsString(s) || !s->valuestring)
		return false;
	if (rules && !redact_may_match(rules, s->valuestring, strlen(s->valuestring)))
		return false;
	if (rules) {
		out = redact_text(m, rules->detectors, rules->re, rules->n_re, s->valuestring,
				  strlen(s->valuestring), &n, &changed);
	} else {
		out = redact_restore(m, s->valuestring, strlen(s->valuestring), &n);
		changed = strcmp(out, s->valuestring) != 0;
	}
	/* a value with a NUL inside cannot be a JSON string of cJSON's: left as it was */
	if (changed && strlen(out) == n)
		cJSON_SetValuestring(s, out);
	free(out);
	return changed;
}

bool redact_json_message(struct redact_map *m, const struct redact_rules *rules, cJSON *msg)
{
	cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content"), *it;
	cJSON *parts = cJSON_IsArray(content) ? content : NULL;
	cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
	bool changed = false;

	if (cJSON_IsString(content))
		changed |= redact_json_string(m, rules, content);
	cJSON_ArrayForEach(it, parts)
	{
		changed |=
			redact_json_string(m, rules, cJSON_GetObjectItemCaseSensitive(it, "text"));
		changed |= redact_json_string(m, rules,
					      cJSON_GetObjectItemCaseSensitive(it, "refusal"));
	}
	cJSON_ArrayForEach(it, calls)
	{
		cJSON *fn = cJSON_GetObjectItemCaseSensitive(it, "function");

		changed |= redact_json_string(m, rules,
					      cJSON_GetObjectItemCaseSensitive(fn, "arguments"));
	}
	changed |= redact_json_string(m, rules, cJSON_GetObjectItemCaseSensitive(msg, "refusal"));
	changed |= redact_json_string(
		m, rules,
		cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(msg, "function_call"), "arguments"));
	return changed;
}
