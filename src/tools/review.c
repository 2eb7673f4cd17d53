/* review: the draft card's state and the pure decisions about it (review.h): which actions
 * get a card, which argument is the draft, what the draft step asks the model and how its
 * answer is read, how the marked sentences are highlighted, and the card's audit line.
 *
 * The draft step's answer is checked against the draft: a sentence the reviewing model
 * "quotes" that is not in the draft is dropped, so a card never highlights text that would
 * not leave. Rejected: letting the model rewrite the draft (the owner edits; the model only
 * points), and matching never_invent items by keyword here (a due date has too many forms;
 * the model names the sentence, this module checks that it is there).
 */
#include "tools/review.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/json.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool review_wanted(const struct config_lane *lane, bool skill_review, enum review_action a)
{
	if (a != REVIEW_OUTBOUND)
		return false;
	return skill_review || (lane && lane->review_outbound);
}

const struct config_lane *review_lane(const struct config *cfg, const char *name)
{
	if (!name || !*name)
		return NULL;
	for (size_t i = 0; i < cfg->n_lanes; i++)
		if (strcmp(cfg->lanes[i].name, name) == 0)
			return &cfg->lanes[i];
	return NULL;
}

/* "CHAT" or "CHAT:TOPIC" (checked at load) as numbers; topic 0 = none. */
static void parse_chat(const char *s, int64_t *chat, int64_t *topic)
{
	char *end;

	*chat = strtoll(s, &end, 10);
	*topic = *end == ':' ? strtoll(end + 1, NULL, 10) : 0;
}

bool review_chat_in_lane(const struct config_lane *lane, int64_t chat, int64_t thread)
{
	int64_t c, topic;

	for (size_t i = 0; lane && i < lane->n_chats; i++) {
		parse_chat(lane->chats[i], &c, &topic);
		if (c == chat && (!topic || topic == thread))
			return true;
	}
	return false;
}

int64_t review_card_chat(const struct config_lane *lane, int64_t chat, int64_t thread,
			 int64_t admin, int64_t *out_thread)
{
	int64_t c, topic;

	*out_thread = thread;
	if (!lane || (chat && review_chat_in_lane(lane, chat, thread)))
		return chat;
	*out_thread = 0;
	if (lane->n_chats == 0)
		return admin;
	parse_chat(lane->chats[0], &c, &topic);
	*out_thread = topic;
	return c;
}

char *review_draft_field(const char *tool, const char *args_json)
{
	static const struct {
		const char *tool, *field;
	} known[] = {{"web_fetch", "url"}, {"send_file", "caption"}, {"send_voice", "text"}};
	cJSON *j = json_parse_str(args_json ? args_json : "", NULL);
	const cJSON *a, *best = NULL;
	char *out = NULL;

	for (size_t i = 0; i < ARRAY_LEN(known); i++)
		if (strcmp(tool, known[i].tool) == 0) {
			cJSON_Delete(j);
			return xstrdup(known[i].field);
		}
	const cJSON *obj = cJSON_IsObject(j) ? j : NULL;

	cJSON_ArrayForEach(a, obj)
	{
		if (cJSON_IsString(a) && a->string &&
		    (!best || strlen(a->valuestring) > strlen(best->valuestring)))
			best = a;
	}
	if (best)
		out = xstrdup(best->string);
	cJSON_Delete(j);
	return out;
}

static void free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

void review_card_finish(struct review_card *c)
{
	if (!c)
		return;
	free(c->destination);
	free(c->field);
	free(c->draft);
	free(c->sources);
	free(c->lane);
	free(c->skill);
	free(c->never_invent);
	free(c->step_note);
	free_list(c->inferred, c->n_inferred);
	free_list(c->unsourced, c->n_unsourced);
	memset(c, 0, sizeof(*c));
}

void review_prompt(const struct review_card *c, char **system, char **user)
{
	struct buf u;

	*system = xstrdup(
		"You review a draft before it leaves the system. List, copied exactly from the "
		"draft, each sentence that states something inferred, guessed or not verified "
		"from the sources. If never_invent items are given, list each sentence that "
		"states such an item (a date, a name, a dose...) without a source for it. Answer "
		"with one JSON object only: {\"inferred\": [\"sentence\", ...], \"unsourced\": "
		"[{\"item\": \"never_invent item\", \"sentence\": \"sentence\"}, ...]}. Do not "
		"rewrite the draft.");
	buf_init(&u, 0);
	buf_printf(&u, "Destination: %s\n\nSources the turn read:\n%s\n\n", c->destination,
		   c->sources && *c->sources ? c->sources : "(none tracked)");
	if (c->never_invent && *c->never_invent)
		buf_printf(&u, "never_invent items:\n%s\n\n", c->never_invent);
	buf_printf(&u, "Draft:\n%s\n", c->draft);
	*user = buf_steal(&u);
}

/* The object in text: from one of its first SCAN_TRIES '{' to one of its last SCAN_TRIES '}'
 * (a fence or prose around it is skipped), or NULL. Bounded: at most SCAN_TRIES^2 parses of
 * at most ANSWER_MAX bytes, whatever braces a model answers with. */
#define SCAN_TRIES 8
#define ANSWER_MAX (64 * 1024)
static cJSON *first_object(const char *text)
{
	size_t len = strnlen(text, ANSWER_MAX), i = 0;
	char *t = xstrndup(text, len);
	cJSON *found = NULL;

	for (char *p = strchr(t, '{'); p && i < SCAN_TRIES && !found; p = strchr(p + 1, '{'), i++) {
		char *q = strrchr(p, '}');

		for (size_t j = 0; q && q > p && j < SCAN_TRIES && !found; j++) {
			char keep = q[1];
			cJSON *o;

			q[1] = '\0';
			o = json_parse_str(p, NULL);
			q[1] = keep;
			if (cJSON_IsObject(o))
				found = o;
			else
				cJSON_Delete(o);
			while (--q > p && *q != '}')
				;
		}
	}
	free(t);
	return found;
}

/* The sentence trimmed and cut, when the draft holds it; else NULL. */
static char *in_draft(const char *draft, const char *s)
{
	size_t len;
	char *t;

	while (*s && strchr(" \t\r\n\"", *s))
		s++;
	len = strlen(s);
	while (len && strchr(" \t\r\n\"", s[len - 1]))
		len--;
	len = utf8_cut(s, len < REVIEW_MARK_MAX ? len : REVIEW_MARK_MAX);
	if (len == 0) /* nothing, or no whole character: an empty mark marks nothing */
		return NULL;
	t = xstrndup(s, len);
	if (!strstr(draft, t)) {
		free(t);
		return NULL;
	}
	return t;
}

/* The never_invent item of c (one per line) equal to item, case-insensitively, or NULL. */
static bool is_item(const struct review_card *c, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = c->never_invent ? c->never_invent : ""; *p;) {
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == n && n && strncasecmp(p, item, n) == 0)
			return true;
		p += l + (e != NULL);
	}
	return false;
}

static void push(char ***l, size_t *n, char *s)
{
	*l = xrealloc(*l, (*n + 1) * sizeof(**l));
	(*l)[(*n)++] = s;
}

int review_parse_marks(struct review_card *c, const char *answer)
{
	cJSON *j = first_object(answer ? answer : "");
	const cJSON *inf = cJSON_GetObjectItemCaseSensitive(j, "inferred");
	const cJSON *uns = cJSON_GetObjectItemCaseSensitive(j, "unsourced"), *e;
	int kept = 0;

	if (!j || (!cJSON_IsArray(inf) && !cJSON_IsArray(uns))) {
		cJSON_Delete(j);
		return -EINVAL;
	}
	if (!cJSON_IsArray(inf))
		inf = NULL;
	if (!cJSON_IsArray(uns))
		uns = NULL;
	cJSON_ArrayForEach(e, inf)
	{
		char *s = cJSON_IsString(e) ? in_draft(c->draft, e->valuestring) : NULL;

		if (s && c->n_inferred < REVIEW_MARKS_MAX) {
			push(&c->inferred, &c->n_inferred, s);
			kept++;
		} else {
			free(s);
		}
	}
	cJSON_ArrayForEach(e, uns)
	{
		const char *item =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "item"));
		const char *sent =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "sentence"));
		char *s = item && sent && is_item(c, item) ? in_draft(c->draft, sent) : NULL;

		if (s && c->n_unsourced < REVIEW_MARKS_MAX) {
			push(&c->unsourced, &c->n_unsourced, xasprintf("%s: %s", item, s));
			kept++;
		}
		free(s);
	}
	cJSON_Delete(j);
	return kept;
}

/* The sentence of an unsourced line ("ITEM: sentence"). */
static const char *sentence_of(const char *line)
{
	const char *p = strstr(line, ": ");

	return p ? p + 2 : line;
}

static void keep_in(char **l, size_t *n, const char *draft, bool unsourced)
{
	size_t k = 0;

	for (size_t i = 0; i < *n; i++) {
		if (strstr(draft, unsourced ? sentence_of(l[i]) : l[i]))
			l[k++] = l[i];
		else
			free(l[i]);
	}
	*n = k;
}

void review_keep_present(struct review_card *c)
{
	keep_in(c->inferred, &c->n_inferred, c->draft, false);
	keep_in(c->unsourced, &c->n_unsourced, c->draft, true);
}

static void escape(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '<')
			buf_puts(out, "&lt;");
		else if (s[i] == '>')
			buf_puts(out, "&gt;");
		else if (s[i] == '&')
			buf_puts(out, "&amp;");
		else
			buf_append(out, &s[i], 1);
	}
}

/* The mark that starts at p and is longest, or 0. */
static size_t mark_at(const struct review_card *c, const char *p)
{
	size_t best = 0;

	for (size_t i = 0; i < c->n_inferred + c->n_unsourced; i++) {
		const char *m = i < c->n_inferred ? c->inferred[i]
						  : sentence_of(c->unsourced[i - c->n_inferred]);
		size_t l = strlen(m);

		if (l > best && strncmp(p, m, l) == 0)
			best = l;
	}
	return best;
}

void review_highlight(const struct review_card *c, enum review_style style, struct buf *out)
{
	const char *open = style == REVIEW_HTML_MARK ? "<mark>" : "<b><u>";
	const char *close = style == REVIEW_HTML_MARK ? "</mark>" : "</u></b>";
	const char *p = c->draft ? c->draft : "";

	while (*p) {
		size_t m = mark_at(c, p);

		if (m) {
			buf_puts(out, open);
			escape(out, p, m);
			buf_puts(out, close);
			p += m;
		} else {
			escape(out, p, 1);
			p++;
		}
	}
}

void review_plain(const struct review_card *c, struct buf *out)
{
	buf_printf(out, "To: %s\n", c->destination);
	if (c->lane)
		buf_printf(out, "Lane: %s\n", c->lane);
	if (c->skill)
		buf_printf(out, "Skill: %s (asks for review)\n", c->skill);
	buf_printf(out, "\nDraft%s%s%s (version %d):\n%s\n", c->field ? " (" : "",
		   c->field ? c->field : "", c->field ? ")" : "", c->version, c->draft);
	buf_printf(out, "\nSources:\n%s\n", c->sources && *c->sources ? c->sources : "(none)");
	if (c->n_inferred) {
		buf_puts(out, "\nInferred or unverified:\n");
		for (size_t i = 0; i < c->n_inferred; i++)
			buf_printf(out, "- %s\n", c->inferred[i]);
	}
	if (c->n_unsourced) {
		buf_puts(out, "\nnever_invent without a source:\n");
		for (size_t i = 0; i < c->n_unsourced; i++)
			buf_printf(out, "- %s\n", c->unsourced[i]);
	}
	if (c->step_note)
		buf_printf(out, "\n(%s)\n", c->step_note);
}

void review_audit(const struct review_card *c, const char *source, const char *session,
		  const char *decision, const char *by, const char *sent)
{
	struct audit_line l;
	char id[17];

	audit_begin(&l, "review");
	if (!l.on)
		return;
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)c->id);
	audit_word(&l, "card", id);
	audit_str(&l, "source", source && *source ? source : NULL);
	if (session && *session)
		audit_int(&l, "session", strtoll(session, NULL, 10));
	audit_str(&l, "lane", c->lane);
	audit_str(&l, "skill", c->skill);
	audit_str(&l, "destination", c->destination);
	audit_int(&l, "version", c->version);
	audit_word(&l, "decision", decision);
	audit_str(&l, "by", by);
	audit_hash(&l, "draft_sha256", c->draft, strlen(c->draft));
	audit_record(&l, "draft", c->draft); /* the record of what was reviewed */
	audit_int(&l, "inferred", (int64_t)c->n_inferred);
	audit_int(&l, "unsourced", (int64_t)c->n_unsourced);
	if (sent) {
		audit_hash(&l, "sent_sha256", sent, strlen(sent));
		audit_record(&l, "sent", sent);
	}
	audit_end(&l);
}
