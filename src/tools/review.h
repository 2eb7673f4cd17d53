/* review: draft cards, "review before anything leaves" (docs/security.md). An outbound
 * action of a turn whose lane has review_outbound, or that loaded a skill whose workflow asks
 * for review, is not run on a plain approval: it becomes a card that shows where it goes, the
 * draft (the text that would leave), what the turn read, the sentences the model marked as
 * inferred or unverified and where a skill's never_invent items appear without a source.
 * tools.c asks and runs it; this module holds the card and the pure decisions about it.
 */
#ifndef HERMETIC_REVIEW_H
#define HERMETIC_REVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;
struct config_lane;

#define REVIEW_MARKS_MAX    16	 /* inferred sentences (and never_invent hits) kept */
#define REVIEW_MARK_MAX	    400	 /* bytes of one marked sentence */
#define REVIEW_DRAFT_MAX    8000 /* bytes of an owner's edit taken as the draft */
#define REVIEW_EXPIRE_DEF_S (1440 * 60)

/* What wants a card, for review_wanted. */
enum review_action {
	REVIEW_NOT_OUTBOUND, /* a read, a local write: no card */
	REVIEW_OUTBOUND,     /* web_fetch, send_file, send_voice, an MCP tool not read-only */
};

/* True when an outbound action of a turn in lane (NULL: none) or with a reviewing skill
 * (skill_review) becomes a card. */
bool review_wanted(const struct config_lane *lane, bool skill_review, enum review_action a);

/* The lane called name in cfg, or NULL (none, "", or not in the config). Borrowed. */
const struct config_lane *review_lane(const struct config *cfg, const char *name);

/* True when Telegram chat (and topic thread, 0 = none) is one of lane's chats ("CHAT" takes
 * every topic of it, "CHAT:TOPIC" only that one). */
bool review_chat_in_lane(const struct config_lane *lane, int64_t chat, int64_t thread);
/* Where a card of lane goes when the chat of its source is outside the lane: the lane's first
 * chat (and topic), else admin (0: nowhere, the card is not asked and nothing leaves). */
int64_t review_card_chat(const struct config_lane *lane, int64_t chat, int64_t thread,
			 int64_t admin, int64_t *out_thread);

/* The argument of a call whose value is the draft: url for web_fetch, caption for
 * send_file, text for send_voice, else the longest string argument of args_json's object (the
 * first of equals). NULL when there is none (the card shows the whole call then). A new
 * string. */
char *review_draft_field(const char *tool, const char *args_json);

/* A card's state; owned by the waiting call. */
struct review_card {
	uint64_t id;	    /* the card's (its first question's): stable across edits */
	int version;	    /* 1, then one more per edit */
	char *destination;  /* "mcp_crm_add_note", "web_fetch", "send_file to telegram:42" */
	char *field;	    /* the argument the draft is, or NULL: the whole call */
	char *draft;	    /* the text that would leave */
	char *sources;	    /* what the turn read, one per line ("" = nothing tracked) */
	char *lane, *skill; /* NULL = none */
	char *never_invent; /* the skill's items, one per line ("" = none) */
	char *step_note;    /* why the draft step gave no marks, or NULL */
	char **inferred;    /* sentences of draft the model marked */
	size_t n_inferred;
	char **unsourced; /* "ITEM: sentence" for never_invent items without a source */
	size_t n_unsourced;
	bool editing;	    /* Edit pressed: the owner's next message becomes the draft */
	bool held;	    /* a job's answer held (tools_draft_hold), not a tool call */
	int64_t expires_ms; /* monotonic: then nothing is sent */
};

void review_card_finish(struct review_card *c);

/* The draft step's request: a system prompt and a user message for one model call (new
 * strings). */
void review_prompt(const struct review_card *c, char **system, char **user);

/* Reads the draft step's answer ({"inferred": [...], "unsourced": [{"item","sentence"}]},
 * also inside a code fence or after prose) into c: only sentences that are in the draft (a
 * reviewer's invention is dropped), at most REVIEW_MARKS_MAX of each, each cut to
 * REVIEW_MARK_MAX; unsourced only for an item of c->never_invent. Returns the number of marks
 * kept, or -EINVAL when answer holds no such object (c unchanged). */
int review_parse_marks(struct review_card *c, const char *answer);

/* After an edit: drops the marks whose sentence is no longer in c->draft. */
void review_keep_present(struct review_card *c);

enum review_style { REVIEW_HTML_TELEGRAM, REVIEW_HTML_MARK };

/* Appends text HTML-escaped with every occurrence of the marks (c's inferred and unsourced
 * sentences) highlighted: <b><u>...</u></b> (Telegram's HTML) or <mark>...</mark>. */
void review_highlight(const struct review_card *c, enum review_style style, struct buf *out);

/* The card as plain text (destination, draft, sources, marks): for the audit, a long card's
 * document, and the edit that closes a card. */
void review_plain(const struct review_card *c, struct buf *out);

/* One audit line "review" for card c: decision ("approved", "edited", "rejected",
 * "expired", "cancelled"), by whom (NULL: nobody), and what left (NULL: nothing). */
void review_audit(const struct review_card *c, const char *source, const char *session,
		  const char *decision, const char *by, const char *sent);

#endif
