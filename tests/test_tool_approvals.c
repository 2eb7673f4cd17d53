/* tools: approvals and ask_user. A call that needs approval runs only after Approve, answers
 * Deny and a cancel without running, is denied when nobody can be asked, is asked again
 * unless "Always in this chat" was pressed for that chat, and is never asked from the
 * terminal's chat; answers to unknown questions or choices are refused; every question is
 * closed once, from the loop, and the turn's asking hook is told on and off in pairs. */
#include "tool_fixture.h"

#include "tools/tools.h"

#define CHAT "telegram:42"

struct asker_fx {
	struct fixture *f;
	struct tools *t;
	struct tools_asker asker;
	int asked, closed, refuse;
	uint64_t id;
	enum tools_q_kind kind;
	char text[512], source[64], outcome[128];
	size_t n_choices;
	/* the call */
	int done;
	bool is_error;
	char result[1024];
	int asking_on, asking_off;
	bool in_answer; /* set while tools_answer runs: nothing may call back then */
	int sent;	/* send_file's deliveries */
};

static int fx_outlet(const char *source, const char *method, const char *rel, const char *caption,
		     char *err, size_t err_len, void *arg)
{
	((struct asker_fx *)arg)->sent++;
	return 0;
}

#define TELEGRAM "telegram:\n  token: \"1:x\"\n  allowed_users: [42]\n"

static int fx_ask(const struct tools_question *q, void *arg)
{
	struct asker_fx *a = arg;

	if (a->refuse)
		return -ENOENT;
	a->asked++;
	a->id = q->id;
	a->kind = q->kind;
	a->n_choices = q->n_choices;
	snprintf(a->text, sizeof(a->text), "%s", q->text);
	snprintf(a->source, sizeof(a->source), "%s", q->source);
	assert_true(q->id != 0);
	/* a draft card waits review_expire_min (1440 without a lane), an approval timeout_s */
	assert_int_equal(q->timeout_s, q->kind == TOOLS_Q_DRAFT ? 1440 * 60 : 300);
	assert_true((q->kind == TOOLS_Q_DRAFT) == (q->card != NULL));
	return 0;
}

static void fx_closed(uint64_t id, const char *outcome, void *arg)
{
	struct asker_fx *a = arg;

	assert_false(a->in_answer);
	assert_true(id == a->id);
	a->closed++;
	snprintf(a->outcome, sizeof(a->outcome), "%s", outcome);
}

static void on_done(bool is_error, const char *text, size_t len, void *arg)
{
	struct asker_fx *a = arg;

	assert_false(a->in_answer);
	a->done++;
	a->is_error = is_error;
	snprintf(a->result, sizeof(a->result), "%.*s", (int)len, text);
}

static void on_asking(bool on, void *arg)
{
	struct asker_fx *a = arg;

	if (on)
		a->asking_on++;
	else
		a->asking_off++;
}

static struct asker_fx *fx_create(const char *extra, bool with_asker)
{
	struct asker_fx *a = xcalloc(1, sizeof(*a));

	a->f = fixture_create(extra);
	a->f->loop = loop_create();
	a->f->env.loop = a->f->loop;
	a->t = tools_create(&a->f->env);
	a->asker = (struct tools_asker){fx_ask, fx_closed};
	tools_set_outlet(a->t, fx_outlet, a);
	if (with_asker)
		tools_add_asker(a->t, &a->asker, a);
	return a;
}

static void fx_destroy(struct asker_fx *a)
{
	tools_destroy(a->t);
	fixture_destroy(a->f);
	free(a);
}

static struct tools_call *fx_call(struct asker_fx *a, const char *source, const char *name,
				  const char *args)
{
	struct tools_ctx ctx = {
		.session_id = "1", .source = source, .asking = on_asking, .asking_arg = a};
	struct tools_call *c = NULL;

	a->done = 0;
	assert_int_equal(tools_call(a->t, name, args, &ctx, on_done, a, &c), 0);
	return c;
}

static void spin(struct asker_fx *a, int rounds)
{
	for (int i = 0; i < rounds; i++)
		event_base_loop(loop_base(a->f->loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static void wait_done(struct asker_fx *a)
{
	for (int i = 0; i < 1000 && !a->done; i++)
		event_base_loop(loop_base(a->f->loop), EVLOOP_ONCE);
	assert_int_equal(a->done, 1);
}

static int answer(struct asker_fx *a, uint64_t id, size_t choice)
{
	int rc;

	a->in_answer = true;
	rc = tools_answer(a->t, id, choice);
	a->in_answer = false;
	return rc;
}

#define ASK_TIME "approvals:\n  tools: [\"ti*\"]\n"

static void test_approve_runs_the_call_after_the_yes(void **state)
{
	struct asker_fx *a = fx_create(ASK_TIME, true);

	fx_call(a, CHAT, "time", "{\"timezone\": \"UTC\"}");
	spin(a, 5);
	assert_int_equal(a->asked, 1);
	assert_int_equal(a->kind, TOOLS_Q_APPROVAL);
	assert_int_equal(a->n_choices, 3);
	assert_string_equal(a->text, "time\ntimezone: UTC");
	assert_string_equal(a->source, CHAT);
	assert_int_equal(a->done, 0); /* waits */
	assert_int_equal(a->asking_on, 1);
	assert_int_equal(answer(a, a->id + 1, TOOLS_APPROVE), -ENOENT);
	assert_int_equal(answer(a, a->id, 3), -EINVAL);
	assert_int_equal(answer(a, a->id, TOOLS_APPROVE), 0);
	assert_int_equal(answer(a, a->id, TOOLS_DENY), -ENOENT); /* answered already */
	assert_int_equal(a->closed, 0);				 /* from the loop, not inside */
	wait_done(a);
	assert_false(a->is_error);
	assert_non_null(strstr(a->result, "UTC"));
	assert_int_equal(a->closed, 1);
	assert_string_equal(a->outcome, "Approved");
	assert_int_equal(a->asking_off, 1);
	/* Approve is for this call only: the next one asks again. */
	fx_call(a, CHAT, "time", "{}");
	spin(a, 5);
	assert_int_equal(a->asked, 2);
	assert_int_equal(answer(a, a->id, TOOLS_DENY), 0);
	wait_done(a);
	fx_destroy(a);
}

static void test_deny_and_cancel_do_not_run_it(void **state)
{
	struct asker_fx *a = fx_create(ASK_TIME, true);
	struct tools_call *c;

	fx_call(a, CHAT, "time", "{}");
	spin(a, 5);
	assert_int_equal(answer(a, a->id, TOOLS_DENY), 0);
	wait_done(a);
	assert_true(a->is_error);
	assert_non_null(strstr(a->result, "denied this call of time; it was not run"));
	assert_string_equal(a->outcome, "Denied");
	c = fx_call(a, CHAT, "time", "{}");
	spin(a, 5);
	tools_cancel(c);
	assert_int_equal(a->done, 0);
	wait_done(a);
	assert_true(a->is_error);
	assert_string_equal(a->result, "cancelled");
	assert_int_equal(a->closed, 2);
	assert_string_equal(a->outcome, "Cancelled");
	assert_int_equal(a->asking_on, 2);
	assert_int_equal(a->asking_off, 2);
	assert_int_equal(answer(a, a->id, TOOLS_APPROVE), -ENOENT); /* nothing left to approve */
	fx_destroy(a);
}

static void test_always_in_this_chat_holds_for_that_chat_and_tool_only(void **state)
{
	struct asker_fx *a = fx_create(ASK_TIME, true);

	fx_call(a, CHAT, "time", "{}");
	spin(a, 5);
	assert_int_equal(answer(a, a->id, TOOLS_APPROVE_ALWAYS), 0);
	wait_done(a);
	assert_string_equal(a->outcome, "Approved, and always in this chat");
	fx_call(a, CHAT, "time", "{}");
	wait_done(a);
	assert_int_equal(a->asked, 1); /* not asked again */
	assert_false(a->is_error);
	fx_call(a, "telegram:43", "time", "{}"); /* another chat is asked */
	spin(a, 5);
	assert_int_equal(a->asked, 2);
	assert_string_equal(a->source, "telegram:43");
	assert_int_equal(answer(a, a->id, TOOLS_DENY), 0);
	wait_done(a);
	fx_destroy(a);
}

static void test_nobody_to_ask_is_a_no_and_the_terminal_is_not_asked(void **state)
{
	struct asker_fx *a = fx_create(ASK_TIME, false);

	fx_call(a, CHAT, "time", "{}");
	wait_done(a);
	assert_true(a->is_error);
	assert_non_null(strstr(a->result, "no chat can ask them"));
	fx_destroy(a);

	a = fx_create(ASK_TIME, true);
	a->refuse = 1; /* the asker has no chat for this source */
	fx_call(a, "cron:nightly", "time", "{}");
	wait_done(a);
	assert_true(a->is_error);
	assert_non_null(strstr(a->result, "cron:nightly has no chat"));
	assert_int_equal(a->asking_on, 0);
	a->refuse = 0;
	fx_call(a, "cli", "time", "{}");
	wait_done(a);
	assert_false(a->is_error);
	fx_call(a, "api:ada", "time", "{}");
	wait_done(a);
	assert_false(a->is_error);
	assert_int_equal(a->asked, 0);
	fx_destroy(a);
}

static void put_home_file(struct asker_fx *a)
{
	char *path = xasprintf("%s/x.txt", a->f->home);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs("x", fp);
	fclose(fp);
	free(path);
}

static void test_builtin_defaults_ask_for_send_file_but_not_read_only_tools(void **state)
{
	struct asker_fx *a = fx_create(TELEGRAM, true);

	put_home_file(a);
	fx_call(a, CHAT, "time", "{}"); /* read-only, not listed: runs */
	wait_done(a);
	assert_int_equal(a->asked, 0);
	fx_call(a, CHAT, "send_file", "{\"path\": \"x.txt\"}");
	spin(a, 5);
	assert_int_equal(a->asked, 1);
	assert_string_equal(a->text, "send_file\npath: x.txt");
	assert_int_equal(answer(a, a->id, TOOLS_DENY), 0);
	wait_done(a);
	assert_int_equal(a->sent, 0);
	fx_call(a, CHAT, "send_file", "{\"path\": \"x.txt\"}");
	spin(a, 5);
	assert_int_equal(answer(a, a->id, TOOLS_APPROVE), 0);
	wait_done(a);
	assert_false(a->is_error);
	assert_int_equal(a->sent, 1);
	fx_destroy(a);

	a = fx_create(TELEGRAM "approvals:\n  builtin: []\n", true);
	put_home_file(a);
	fx_call(a, CHAT, "send_file", "{\"path\": \"x.txt\"}");
	wait_done(a); /* not asked */
	assert_int_equal(a->asked, 0);
	assert_int_equal(a->sent, 1);
	fx_destroy(a);
}

static void put_skill(struct asker_fx *a, const char *name, const char *review)
{
	char *dir = xasprintf("%s/skills/%s", a->f->home, name);
	char *path = xasprintf("%s/SKILL.md", dir);
	char *top = xasprintf("%s/skills", a->f->home);
	FILE *fp;

	mkdir(top, 0700);
	assert_int_equal(mkdir(dir, 0700), 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp,
		"---\nname: %s\ndescription: Notes to tasks.\nworkflow:\n  never_invent: "
		"[owners]\n  review: %s\n---\nbody\n",
		name, review);
	fclose(fp);
	free(top);
	free(path);
	free(dir);
}

/* One turn: skill_view of name, then send_file, with the turn's review state shared. */
static void view_then_send(struct asker_fx *a, const char *name, struct tools_review *review)
{
	struct tools_ctx ctx = {.session_id = "1",
				.source = CHAT,
				.asking = on_asking,
				.asking_arg = a,
				.review = review};
	struct tools_call *c = NULL;
	char args[128];

	snprintf(args, sizeof(args), "{\"name\": \"%s\"}", name);
	a->done = 0;
	assert_int_equal(tools_call(a->t, "skill_view", args, &ctx, on_done, a, &c), 0);
	wait_done(a);
	assert_false(a->is_error);
	assert_non_null(strstr(a->result, "Never invent: owners"));
	a->done = 0;
	assert_int_equal(
		tools_call(a->t, "send_file", "{\"path\": \"x.txt\"}", &ctx, on_done, a, &c), 0);
	spin(a, 5);
}

/* A skill whose workflow has review: makes the turn's outbound actions wait for the owner on
 * a draft card (Approve, Edit, Reject) even where approvals: would not ask, with its
 * never_invent items; review: none does not. Approve runs the call once. */
static void test_a_skill_with_review_gates_the_turns_outbound_actions(void **state)
{
	struct asker_fx *a = fx_create(TELEGRAM "approvals:\n  builtin: []\n", true);
	struct tools_review review = {0}, open = {0};

	put_home_file(a);
	put_skill(a, "minutes", "before anything is sent");
	put_skill(a, "loose", "none");
	view_then_send(a, "loose", &open);
	wait_done(a); /* not asked */
	assert_int_equal(a->asked, 0);
	assert_int_equal(a->sent, 1);
	assert_string_equal(open.skill, "");
	assert_string_equal(open.never_invent, "owners"); /* listed, though it does not gate */
	view_then_send(a, "minutes", &review);
	assert_string_equal(review.skill, "minutes");
	assert_string_equal(review.never_invent, "owners");
	assert_int_equal(a->asked, 1);
	assert_int_equal(a->kind, TOOLS_Q_DRAFT);
	assert_int_equal(a->n_choices, 3);
	assert_non_null(strstr(a->text, "To: send_file"));
	assert_non_null(strstr(a->text, "Skill: minutes (asks for review)"));
	assert_non_null(strstr(a->text, "{\"path\":\"x.txt\"}")); /* no caption: the whole call */
	assert_int_equal(answer(a, a->id, TOOLS_DRAFT_REJECT), 0);
	wait_done(a);
	assert_true(a->is_error);
	assert_non_null(strstr(a->result, "rejected the draft"));
	assert_int_equal(a->sent, 1);
	/* Approve twice: the second finds nothing; the file goes once. */
	view_then_send(a, "minutes", &review);
	assert_int_equal(answer(a, a->id, TOOLS_DRAFT_APPROVE), 0);
	assert_int_equal(answer(a, a->id, TOOLS_DRAFT_APPROVE), -ENOENT);
	wait_done(a);
	assert_false(a->is_error);
	assert_int_equal(a->sent, 2);
	fx_destroy(a);
}

static void test_ask_user_returns_the_choice_and_checks_its_arguments(void **state)
{
	struct asker_fx *a = fx_create(NULL, true);

	fx_call(a, CHAT, "ask_user", "{\"question\": \"Tea?\", \"choices\": [\"Yes\", \"No\"]}");
	spin(a, 5);
	assert_int_equal(a->kind, TOOLS_Q_ASK);
	assert_string_equal(a->text, "Tea?");
	assert_int_equal(a->n_choices, 2);
	assert_int_equal(answer(a, a->id, 2), -EINVAL);
	assert_int_equal(answer(a, a->id, 1), 0);
	wait_done(a);
	assert_false(a->is_error);
	assert_string_equal(a->result, "The user chose: No");
	assert_string_equal(a->outcome, "Answered: No");
	fx_call(a, CHAT, "ask_user", "{\"question\": \"Tea?\", \"choices\": [\"Yes\"]}");
	wait_done(a);
	assert_true(a->is_error);
	assert_non_null(strstr(a->result, "choices must be a list of 2 to 8"));
	fx_call(a, "cli", "ask_user", "{\"question\": \"Tea?\", \"choices\": [\"a\", \"b\"]}");
	wait_done(a);
	assert_true(a->is_error);
	assert_non_null(strstr(a->result, "ask in your answer instead"));
	assert_int_equal(a->asked, 1);
	fx_destroy(a);
}

/* A second asker (the cockpit beside Telegram): takes only the questions of its source, is
 * told of every close; the questions are listed while they wait, and the first answer from
 * either decides. */
struct second {
	const char *takes;
	int asked, closed;
	uint64_t id;
};

static int second_ask(const struct tools_question *q, void *arg)
{
	struct second *s = arg;

	if (strcmp(q->source, s->takes) != 0)
		return -ENOENT;
	s->asked++;
	s->id = q->id;
	return 0;
}

static void second_closed(uint64_t id, const char *outcome, void *arg)
{
	((struct second *)arg)->closed++;
}

struct listed {
	int n;
	uint64_t id;
	char text[128], source[64], session[16], first_choice[32];
};

static void list_one(const struct tools_question *q, void *arg)
{
	struct listed *l = arg;

	l->n++;
	l->id = q->id;
	snprintf(l->text, sizeof(l->text), "%s", q->text);
	snprintf(l->source, sizeof(l->source), "%s", q->source);
	snprintf(l->session, sizeof(l->session), "%s", q->session_id);
	snprintf(l->first_choice, sizeof(l->first_choice), "%s", q->choices[0]);
	assert_true(q->asked_ms > 0);
}

static void test_two_askers_see_the_question_and_the_first_answer_decides(void **state)
{
	struct asker_fx *a = fx_create(ASK_TIME, true);
	struct second s = {.takes = "ui:cockpit"};
	static const struct tools_asker second_asker = {second_ask, second_closed};
	struct listed l = {0};

	tools_add_asker(a->t, &second_asker, &s);
	/* A chat's question: the first asker shows it, the second does not take it. */
	fx_call(a, CHAT, "time", "{\"timezone\": \"UTC\"}");
	spin(a, 5);
	assert_int_equal(a->asked, 1);
	assert_int_equal(s.asked, 0);
	tools_questions_each(a->t, list_one, &l);
	assert_int_equal(l.n, 1);
	assert_true(l.id == a->id);
	assert_string_equal(l.text, "time\ntimezone: UTC");
	assert_string_equal(l.source, CHAT);
	assert_string_equal(l.session, "1");
	assert_string_equal(l.first_choice, "Approve");
	assert_int_equal(answer(a, a->id, TOOLS_APPROVE), 0);
	assert_int_equal(answer(a, a->id, TOOLS_DENY), -ENOENT); /* decided once */
	memset(&l, 0, sizeof(l));
	tools_questions_each(a->t, list_one, &l);
	assert_int_equal(l.n, 0); /* answered: no longer listed */
	wait_done(a);
	assert_false(a->is_error);
	assert_int_equal(a->closed, 1);
	assert_int_equal(s.closed, 1); /* every asker hears of the close */
	/* The cockpit's own question: taken by the second asker even when the first refuses. */
	a->refuse = 1;
	fx_call(a, "ui:cockpit", "time", "{}");
	spin(a, 5);
	assert_int_equal(s.asked, 1);
	assert_int_equal(a->done, 0); /* waits: someone shows it */
	a->id = s.id;		      /* the first asker is told of its close too */
	assert_int_equal(answer(a, s.id, TOOLS_DENY), 0);
	wait_done(a);
	assert_true(a->is_error);
	/* Removed: nobody takes the cockpit's questions any more; the call is denied at once. */
	tools_remove_asker(a->t, &second_asker, &s);
	fx_call(a, "ui:cockpit", "time", "{}");
	wait_done(a);
	assert_true(a->is_error);
	assert_int_equal(s.asked, 1);
	fx_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_approve_runs_the_call_after_the_yes),
		cmocka_unit_test(test_deny_and_cancel_do_not_run_it),
		cmocka_unit_test(test_always_in_this_chat_holds_for_that_chat_and_tool_only),
		cmocka_unit_test(test_nobody_to_ask_is_a_no_and_the_terminal_is_not_asked),
		cmocka_unit_test(test_builtin_defaults_ask_for_send_file_but_not_read_only_tools),
		cmocka_unit_test(test_a_skill_with_review_gates_the_turns_outbound_actions),
		cmocka_unit_test(test_ask_user_returns_the_choice_and_checks_its_arguments),
		cmocka_unit_test(test_two_askers_see_the_question_and_the_first_answer_decides),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
