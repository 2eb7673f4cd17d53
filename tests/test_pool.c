/* pool: the rate-pool scheduler of src/router/pool.c, rule by rule as scripts of steps (ask,
 * run, settle, progress, cancel, learn, block, view) with the answer each step must give, then a
 * property test: random arrivals of every class never push a window over its ceiling (nor
 * other classes into the interactive reserve), every waiter is decided by its deadline, and
 * under a load the pools can carry nobody waits out their max_wait.
 */
#include "test.h"
#include "router/pool.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { ASK, RUN, SETTLE, PROGRESS, CANCEL, LEARN, BLOCK, VIEW, WAKE, ESTIMATE, END };

struct step {
	enum op op;
	int64_t t_ms;
	uint64_t id;
	enum pool_class cls;
	int64_t n;	/* ask: tokens; settle/progress: tokens; learn: tokens left; block: until */
	unsigned pools; /* bit i: pool i (ask); learn/block/view: the pool's index */
	const char *want; /* ask: verdict; run: events "G1 E2"; view: "used/reserved/queued" */
};

struct script {
	const char *name;
	struct pool_limits limits[2];
	size_t n_pools;
	int reserve_pct; /* -1: the default 30 */
	int64_t wait_s[POOL_CLASSES];
	size_t max_waiters;
	struct step steps[16];
};

#define I POOL_INTERACTIVE
#define A POOL_API
#define H POOL_HOOK
#define S POOL_SCHEDULED
#define B POOL_BACKGROUND
#define WAITS                                                                                      \
	{                                                                                          \
		10, 30, 120, 600, 1800                                                             \
	}

static const struct script scripts[] = {
	{"a call that fits goes at once and is reserved",
	 {{1000, 0}},
	 1,
	 -1,
	 WAITS,
	 0,
	 {{ASK, 0, 1, I, 600, 1, "GO"},
	  {VIEW, 0, 0, 0, 0, 0, "used=0 reserved=600 flight=1 q=0"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"a call that does not fit waits, and goes when a settle frees room",
	 {{1000, 0}},
	 1,
	 -1,
	 WAITS,
	 0,
	 {{ASK, 0, 1, I, 600, 1, "GO"},
	  {ASK, 0, 2, I, 600, 1, "WAIT"},
	  {RUN, 100, 0, 0, 0, 0, ""},
	  {SETTLE, 200, 1, 0, 300, 0, NULL},
	  {RUN, 200, 0, 0, 0, 0, "G2"},
	  {VIEW, 200, 0, 0, 0, 0, "used=300 reserved=600 flight=1 q=0"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"settled tokens stay in the window for 60 whole seconds after the grant's, then free",
	 {{1000, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{ASK, 900, 1, B, 900, 1, "GO"},
	  {SETTLE, 5000, 1, 0, 900, 0, NULL},
	  {ASK, 6000, 2, B, 200, 1, "WAIT"},
	  {WAKE, 6000, 0, 0, 61000, 0, NULL},
	  {RUN, 60999, 0, 0, 0, 0, ""},
	  {RUN, 61000, 0, 0, 0, 0, "G2"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"the reserve share is for interactive work only",
	 {{1000, 0}},
	 1,
	 30,
	 WAITS,
	 0,
	 {{ASK, 0, 1, B, 700, 1, "GO"},
	  {ASK, 0, 2, S, 1, 1, "WAIT"},
	  {ASK, 0, 3, I, 300, 1, "GO"},
	  {VIEW, 0, 0, 0, 0, 0, "used=0 reserved=1000 flight=2 q=1"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"a call over its class's share of a pool can never fit",
	 {{1000, 0}},
	 1,
	 30,
	 WAITS,
	 0,
	 {{ASK, 0, 1, B, 701, 1, "TOO_BIG"},
	  {ASK, 0, 2, I, 1001, 1, "TOO_BIG"},
	  {ASK, 0, 3, I, 1000, 1, "GO"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"requests per minute count every grant",
	 {{0, 3}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{ASK, 0, 1, B, 10, 1, "GO"},
	  {ASK, 0, 2, B, 10, 1, "GO"},
	  {ASK, 0, 3, B, 10, 1, "GO"},
	  {ASK, 0, 4, B, 10, 1, "WAIT"},
	  {SETTLE, 10, 1, 0, 10, 0, NULL},
	  {RUN, 10, 0, 0, 0, 0, ""},
	  {RUN, 60999, 0, 0, 0, 0, ""},
	  {RUN, 61000, 0, 0, 0, 0, "G4"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"waiters are served in class order, then arrival",
	 {{1000, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{ASK, 0, 1, I, 1000, 1, "GO"},
	  {ASK, 1, 2, B, 100, 1, "WAIT"},
	  {ASK, 2, 3, S, 100, 1, "WAIT"},
	  {ASK, 3, 4, I, 100, 1, "WAIT"},
	  {ASK, 4, 5, S, 100, 1, "WAIT"},
	  {SETTLE, 10, 1, 0, 0, 0, NULL},
	  {RUN, 10, 0, 0, 0, 0, "G4 G3 G5 G2"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"a new call does not overtake a waiter of its class, but passes a lower class",
	 {{1000, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{ASK, 0, 1, A, 800, 1, "GO"},
	  {ASK, 0, 2, A, 300, 1, "WAIT"},
	  {ASK, 0, 3, A, 100, 1, "WAIT"},
	  {ASK, 0, 4, B, 300, 1, "WAIT"},
	  {ASK, 0, 5, I, 100, 1, "GO"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"a waiter that does not fit holds its pool: smaller lower calls wait behind it",
	 {{1000, 0}, {1000, 0}},
	 2,
	 0,
	 WAITS,
	 0,
	 {{ASK, 0, 1, I, 800, 1, "GO"},
	  {ASK, 0, 2, I, 500, 1, "WAIT"},
	  {ASK, 0, 3, B, 100, 1, "WAIT"},
	  {ASK, 0, 4, B, 100, 2, "GO"},
	  {RUN, 10, 0, 0, 0, 0, ""},
	  {SETTLE, 20, 1, 0, 0, 0, NULL},
	  {RUN, 20, 0, 0, 0, 0, "G2 G3"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"a call drawing from two pools needs room in both",
	 {{1000, 0}, {200, 0}},
	 2,
	 0,
	 WAITS,
	 0,
	 {{ASK, 0, 1, I, 150, 2, "GO"},
	  {ASK, 0, 2, I, 100, 3, "WAIT"},
	  {ASK, 0, 3, I, 100, 1, "WAIT"}, /* pool 0 has room, but 2 waits for it too */
	  {ASK, 0, 4, I, 50, 2, "WAIT"},
	  {SETTLE, 5, 1, 0, 0, 0, NULL},
	  {RUN, 5, 0, 0, 0, 0, "G2 G3 G4"},
	  {VIEW, 5, 0, 0, 0, 0, "used=0 reserved=200 flight=2 q=0"},
	  {VIEW, 5, 0, 0, 0, 1, "used=0 reserved=150 flight=2 q=0"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"a waiter past its class's max_wait expires and is never granted late",
	 {{1000, 0}},
	 1,
	 0,
	 {10, 30, 120, 600, 1800},
	 0,
	 {{ASK, 0, 1, I, 1000, 1, "GO"},
	  {ASK, 0, 2, I, 10, 1, "WAIT"},
	  {ASK, 0, 3, A, 10, 1, "WAIT"},
	  {WAKE, 0, 0, 0, 5000, 0, NULL},
	  {RUN, 9999, 0, 0, 0, 0, ""},
	  {SETTLE, 10000, 1, 0, 0, 0, NULL},
	  {RUN, 10000, 0, 0, 0, 0, "E2 G3"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"a class with max_wait 0 never queues",
	 {{1000, 0}},
	 1,
	 0,
	 {10, 0, 120, 600, 1800},
	 0,
	 {{ASK, 0, 1, I, 1000, 1, "GO"},
	  {ASK, 0, 2, A, 10, 1, "FULL"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"the queue is bounded",
	 {{1000, 0}},
	 1,
	 0,
	 WAITS,
	 2,
	 {{ASK, 0, 1, I, 1000, 1, "GO"},
	  {ASK, 0, 2, B, 10, 1, "WAIT"},
	  {ASK, 0, 3, B, 10, 1, "WAIT"},
	  {ASK, 0, 4, I, 10, 1, "FULL"},
	  {CANCEL, 1, 2, 0, 0, 0, NULL},
	  {ASK, 1, 5, I, 10, 1, "WAIT"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"a waiter that waited half its max_wait is served ahead of newer higher classes",
	 {{1000, 0}},
	 1,
	 0,
	 {10, 30, 120, 600, 1800},
	 0,
	 {{ASK, 0, 1, I, 1000, 1, "GO"},
	  {ASK, 0, 2, S, 100, 1, "WAIT"},
	  {ASK, 299999, 3, I, 100, 1, "WAIT"},
	  {ASK, 300000, 4, I, 100, 1, "WAIT"},
	  {SETTLE, 300000, 1, 0, 0, 0, NULL},
	  {RUN, 300000, 0, 0, 0, 0, "G2 G3 G4"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"one run grants the queue aged first, then by class, then by arrival",
	 {{1000, 0}},
	 1,
	 0,
	 {10, 30, 120, 600, 1800},
	 0,
	 {{ASK, 0, 1, I, 1000, 1, "GO"},
	  {ASK, 0, 2, B, 10, 1, "WAIT"},
	  {ASK, 0, 3, S, 10, 1, "WAIT"},
	  {ASK, 0, 4, A, 10, 1, "WAIT"},
	  {ASK, 0, 5, I, 10, 1, "WAIT"}, /* aged at 5 s: half its 10 s */
	  {ASK, 0, 6, A, 10, 1, "WAIT"},
	  {ASK, 0, 7, B, 10, 1, "WAIT"},
	  {ASK, 4000, 8, I, 10, 1, "WAIT"},
	  {SETTLE, 5000, 1, 0, 0, 0, NULL},
	  {RUN, 5000, 0, 0, 0, 0, "G5 G8 G4 G6 G3 G2 G7"},
	  {VIEW, 5000, 0, 0, 0, 0, "used=0 reserved=70 flight=7 q=0"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"an aged waiter is not overtaken by a new call that fits",
	 {{1000, 0}},
	 1,
	 0,
	 {10, 30, 120, 600, 1800},
	 0,
	 {{ASK, 0, 1, I, 950, 1, "GO"},
	  {ASK, 0, 2, B, 100, 1, "WAIT"},
	  {ASK, 899999, 3, I, 40, 1, "GO"},
	  {ASK, 900000, 4, I, 5, 1, "WAIT"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"a stream that outgrows its estimate takes more of the pool",
	 {{1000, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{ASK, 0, 1, I, 500, 1, "GO"},
	  {PROGRESS, 100, 1, 0, 800, 0, NULL},
	  {PROGRESS, 150, 1, 0, 700, 0, NULL},
	  {ASK, 200, 2, I, 300, 1, "WAIT"},
	  {VIEW, 200, 0, 0, 0, 0, "used=0 reserved=800 flight=1 q=1"},
	  {SETTLE, 300, 1, 0, -1, 0, NULL},
	  {VIEW, 300, 0, 0, 0, 0, "used=800 reserved=0 flight=0 q=1"},
	  {RUN, 300, 0, 0, 0, 0, ""},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"a call cut short keeps what the provider billed in the window",
	 {{1000, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{ASK, 0, 1, I, 900, 1, "GO"},
	  {SETTLE, 100, 1, 0, 120, 0, NULL},
	  {VIEW, 100, 0, 0, 0, 0, "used=120 reserved=0 flight=0 q=0"},
	  {ASK, 100, 2, I, 880, 1, "GO"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"what the provider says is left bounds the pool until its reset",
	 {{10000, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{LEARN, 0, 0, 0, 500, 0, "5000"},
	  {ASK, 0, 1, I, 400, 1, "GO"},
	  {ASK, 0, 2, I, 200, 1, "WAIT"},
	  {VIEW, 0, 0, 0, 0, 0, "used=0 reserved=400 flight=1 q=1"},
	  {RUN, 4999, 0, 0, 0, 0, ""},
	  {RUN, 5000, 0, 0, 0, 0, "G2"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"an answer that was overtaken does not raise what the provider said is left",
	 {{10000, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{LEARN, 0, 0, 0, 500, 0, "60000"},
	  {LEARN, 10, 0, 0, 900, 0, "60000"}, /* older: counted fewer calls */
	  {ASK, 10, 1, I, 600, 1, "WAIT"},
	  {LEARN, 1100, 0, 0, 900, 0, "60000"}, /* a second on: the window slid */
	  {RUN, 1100, 0, 0, 0, 0, "G1"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	/* as OpenAI counts (tests/fakes/ratelimit.py): a call counts 325 on arrival, 15 once
	 * answered, and its answer says what is left of 2,100 */
	{"a burst's later answers, no lower than the figure kept, show it had counted them",
	 {{2100, 0}},
	 1,
	 30,
	 WAITS,
	 0,
	 {{ASK, 0, 1, B, 325, 1, "GO"},
	  {ASK, 0, 2, B, 325, 1, "GO"},
	  {ASK, 0, 3, A, 325, 1, "GO"},
	  {ASK, 0, 4, A, 325, 1, "GO"},
	  {SETTLE, 100, 1, 0, 15, 0, NULL},
	  {LEARN, 100, 1, 0, 1125, 0, "60000"}, /* 2 and 3 arrived; 2 to 4 may not have */
	  {ASK, 100, 5, I, 325, 1, "WAIT"},	/* 1,125 - 975 */
	  {SETTLE, 110, 2, 0, 15, 0, NULL},
	  {LEARN, 110, 2, 0, 1110, 0, "60000"}, /* lower: taken, 3 and 4 in flight */
	  {RUN, 110, 0, 0, 0, 0, "G5"},		/* 1,110 - 650 */
	  {SETTLE, 120, 3, 0, 15, 0, NULL},
	  {LEARN, 120, 3, 0, 1420, 0, "60000"}, /* 1,110 had counted 3 */
	  {SETTLE, 130, 4, 0, 15, 0, NULL},
	  {LEARN, 130, 4, 0, 1730, 0, "60000"}, /* and 4 */
	  {ASK, 130, 6, I, 325, 1, "GO"},	/* 1,110 - 325 for 5: before, 1,110 - 975 */
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"a figure below what is in flight holds the pool",
	 {{2100, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{ASK, 0, 1, I, 500, 1, "GO"},
	  {ASK, 0, 2, I, 500, 1, "GO"},
	  {SETTLE, 100, 1, 0, 500, 0, NULL},
	  {LEARN, 100, 1, 0, 400, 0, "60000"}, /* 2 may not be counted: 400 - 500 */
	  {ASK, 100, 3, I, 10, 1, "WAIT"},
	  {SETTLE, 200, 2, 0, 500, 0, NULL},
	  {RUN, 200, 0, 0, 0, 0, ""},	       /* settled, yet maybe not counted */
	  {LEARN, 200, 2, 0, 400, 0, "60000"}, /* it was */
	  {RUN, 200, 0, 0, 0, 0, "G3"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"an answer no lower does not uncount a call sent after the figure",
	 {{2100, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{LEARN, 0, 0, 0, 1000, 0, "60000"},
	  {ASK, 0, 1, I, 300, 1, "GO"},
	  {SETTLE, 100, 1, 0, 300, 0, NULL},
	  {LEARN, 100, 1, 0, 1000, 0, "60000"}, /* overtaken: counted fewer */
	  {ASK, 100, 2, I, 701, 1, "WAIT"},
	  {ASK, 100, 3, I, 700, 1, "WAIT"}, /* behind 2, which waits */
	  {CANCEL, 100, 2, 0, 0, 0, NULL},
	  {RUN, 100, 0, 0, 0, 0, "G3"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"an answer no lower than the slide of our window since does not uncount its call",
	 {{2100, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{ASK, 0, 1, I, 1000, 1, "GO"},
	  {SETTLE, 0, 1, 0, 1000, 0, NULL},
	  {ASK, 60500, 2, I, 300, 1, "GO"},
	  {ASK, 60500, 3, I, 300, 1, "GO"},
	  {SETTLE, 60600, 2, 0, 300, 0, NULL},
	  {LEARN, 60600, 2, 0, 500, 0, "60000"}, /* 3 in flight */
	  {SETTLE, 61100, 3, 0, 300, 0, NULL},
	  /* 1 slid out of both windows: 1,200 whether or not 500 counted 3 */
	  {LEARN, 61100, 3, 0, 1200, 0, "60000"},
	  {ASK, 61100, 4, I, 1201, 1, "WAIT"},
	  {CANCEL, 61100, 4, 0, 0, 0, NULL},
	  {ASK, 61100, 5, I, 1200, 1, "GO"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"what the provider said is left grows back as our own calls leave its window",
	 {{30000, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{ASK, 0, 1, I, 20000, 1, "GO"},
	  {SETTLE, 100, 1, 0, 20000, 0, NULL},
	  {LEARN, 1000, 0, 0, 500, 0, "113000"}, /* reset: when its window is empty */
	  {ASK, 1000, 2, B, 5000, 1, "WAIT"},
	  {RUN, 60000, 0, 0, 0, 0, ""},	  /* our 20,000 still count (ours leave at 61 s) */
	  {RUN, 61000, 0, 0, 0, 0, "G2"}, /* they left: 500 + 20,000 is left */
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"what other clients used stays counted until the provider's reset",
	 {{30000, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{ASK, 0, 1, I, 5000, 1, "GO"},
	  {SETTLE, 100, 1, 0, 5000, 0, NULL},
	  {LEARN, 1000, 0, 0, 500, 0, "113000"}, /* 24,500 are another client's */
	  {ASK, 1000, 2, B, 6000, 1, "WAIT"},
	  {RUN, 61000, 0, 0, 0, 0, ""},	   /* ours left: 5,500 < 6,000 */
	  {RUN, 114000, 0, 0, 0, 0, "G2"}, /* the provider's reset */
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"the provider's figure leaves the reserve to interactive work",
	 {{1000, 0}},
	 1,
	 30,
	 WAITS,
	 0,
	 {{LEARN, 0, 0, 0, 500, 0, "60000"},
	  {ASK, 0, 1, B, 201, 1, "WAIT"},
	  {ASK, 0, 2, I, 500, 1, "GO"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"a 429's retry-after blocks the pool, and the wake-up comes when it ends",
	 {{1000, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{BLOCK, 0, 0, 0, 3000, 0, NULL},
	  {ASK, 0, 1, I, 10, 1, "WAIT"},
	  {WAKE, 0, 0, 0, 3000, 0, NULL},
	  {RUN, 2999, 0, 0, 0, 0, ""},
	  {RUN, 3000, 0, 0, 0, 0, "G1"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"the wait estimate is when enough of the window slides out",
	 {{1000, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{ASK, 0, 1, I, 400, 1, "GO"},
	  {SETTLE, 1000, 1, 0, 400, 0, NULL},
	  {ASK, 20000, 2, I, 500, 1, "GO"},
	  {SETTLE, 21000, 2, 0, 500, 0, NULL},
	  {ASK, 30000, 3, B, 500, 1, "WAIT"},
	  {ESTIMATE, 30000, 3, 0, 31000, 0, NULL},
	  {ESTIMATE, 30000, 9, 0, -1, 0, NULL},
	  {END, 0, 0, 0, 0, 0, NULL}}},
	{"a call with no pools holds nothing",
	 {{1, 0}},
	 1,
	 0,
	 WAITS,
	 0,
	 {{ASK, 0, 1, I, 1000000, 0, "GO"},
	  {VIEW, 0, 0, 0, 0, 0, "used=0 reserved=0 flight=0 q=0"},
	  {END, 0, 0, 0, 0, 0, NULL}}},
};

static const char *verdict_name(enum pool_verdict v)
{
	static const char *const names[] = {"GO", "WAIT", "TOO_BIG", "FULL"};

	return names[v];
}

static void run_script(const struct script *sc)
{
	struct pool_rules r;
	struct pool_sched *s;

	pool_rules_default(&r);
	if (sc->reserve_pct >= 0)
		r.reserve_pct = sc->reserve_pct;
	for (int c = 0; c < POOL_CLASSES; c++)
		r.max_wait_ms[c] = sc->wait_s[c] * 1000;
	if (sc->max_waiters)
		r.max_waiters = sc->max_waiters;
	s = pool_sched_new(&r, sc->limits, sc->n_pools);
	for (const struct step *st = sc->steps; st->op != END; st++) {
		char got[256] = "";
		struct pool_event ev[16];
		struct pool_view v;
		struct pool_ask a = {st->id, st->cls, st->n, 0, {0}};
		size_t n;

		switch (st->op) {
		case ASK:
			for (size_t i = 0; i < 2; i++)
				if (st->pools & (1u << i))
					a.pools[a.n_pools++] = i;
			snprintf(got, sizeof(got), "%s", verdict_name(pool_ask(s, &a, st->t_ms)));
			break;
		case RUN:
			n = pool_run(s, st->t_ms, ev, 16);
			for (size_t i = 0; i < n; i++)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%c%llu",
					 i ? " " : "", ev[i].kind == POOL_GRANTED ? 'G' : 'E',
					 (unsigned long long)ev[i].id);
			break;
		case SETTLE:
			pool_settle(s, st->id, st->n, st->t_ms);
			break;
		case PROGRESS:
			pool_progress(s, st->id, st->n);
			break;
		case CANCEL:
			pool_cancel(s, st->id);
			break;
		case LEARN:
			pool_learn(s, st->pools, st->id, st->n, -1,
				   st->t_ms + strtoll(st->want, NULL, 10), st->t_ms);
			break;
		case BLOCK:
			pool_block(s, st->pools, st->n);
			break;
		case VIEW:
			pool_view(s, st->pools, st->t_ms, &v);
			n = 0;
			for (int c = 0; c < POOL_CLASSES; c++)
				n += v.queued[c];
			snprintf(got, sizeof(got), "used=%lld reserved=%lld flight=%lld q=%zu",
				 (long long)v.used_tokens, (long long)v.reserved_tokens,
				 (long long)v.in_flight, n);
			break;
		case WAKE:
			if (pool_next_wake(s, st->t_ms) != st->n)
				fail_msg("%s: step %td: next wake %lld, want %lld", sc->name,
					 st - sc->steps, (long long)pool_next_wake(s, st->t_ms),
					 (long long)st->n);
			break;
		case ESTIMATE:
			if (pool_wait_estimate(s, st->id, st->t_ms) != st->n)
				fail_msg("%s: step %td: estimate %lld, want %lld", sc->name,
					 st - sc->steps,
					 (long long)pool_wait_estimate(s, st->id, st->t_ms),
					 (long long)st->n);
			break;
		case END:
			break;
		}
		if (st->op != LEARN && st->want && strcmp(got, st->want) != 0)
			fail_msg("%s: step %td: got \"%s\", want \"%s\"", sc->name, st - sc->steps,
				 got, st->want);
	}
	pool_sched_free(s);
}

static void test_scripts(void **state)
{
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
		run_script(&scripts[i]);
}

static void test_class_names_round_trip(void **state)
{
	for (int c = 0; c < POOL_CLASSES; c++)
		assert_int_equal(pool_class_parse(pool_class_name(c)), c);
	assert_int_equal(pool_class_parse("Interactive"), -1);
	assert_int_equal(pool_class_parse(""), -1);
	assert_int_equal(pool_class_parse(NULL), -1);
	assert_null(pool_class_name(POOL_CLASSES));
}

static void test_a_callers_source_and_purpose_give_its_class(void **state)
{
	static const struct {
		const char *source, *purpose;
		enum pool_class want;
	} rows[] = {
		{"telegram:42", "turn", POOL_INTERACTIVE},
		{"telegram", "media", POOL_INTERACTIVE},
		{"ui:cockpit", "turn", POOL_INTERACTIVE},
		{"cli", "turn", POOL_INTERACTIVE},
		{"telegram:42", "compression", POOL_INTERACTIVE}, /* auxiliary: its turn's class */
		{"api", NULL, POOL_API},
		{"api:alice", "turn", POOL_API},
		{NULL, NULL, POOL_API},
		{"hook:deploy", "turn", POOL_HOOK},
		{"cron:briefing", "turn", POOL_SCHEDULED},
		{"cron:disk", "compression", POOL_SCHEDULED},
		{"reminder:7", "turn", POOL_SCHEDULED},
		{"alert:12", "turn", POOL_SCHEDULED},
		{"task:9", "task", POOL_BACKGROUND},
		{"telegram:42", "subagent", POOL_BACKGROUND},
		{"cron:x", "condense", POOL_BACKGROUND},
		{"telegrammer", NULL, POOL_API}, /* a prefix is a whole word */
		{"cronjob:x", NULL, POOL_API},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(pool_class_of(rows[i].source, rows[i].purpose), rows[i].want);
}

static void test_litellms_priority_maps_onto_the_classes(void **state)
{
	static const struct {
		double priority;
		enum pool_class want;
	} rows[] = {
		{0, POOL_INTERACTIVE},	 {-3, POOL_INTERACTIVE}, {1, POOL_API},
		{127, POOL_API},	 {128, POOL_HOOK},	 {191, POOL_HOOK},
		{192, POOL_SCHEDULED},	 {254, POOL_SCHEDULED},	 {255, POOL_BACKGROUND},
		{2000, POOL_BACKGROUND},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(pool_class_of_priority(rows[i].priority), rows[i].want);
}

static void test_an_ask_naming_an_unknown_pool_is_refused(void **state)
{
	struct pool_rules r;
	struct pool_limits l = {100, 0};
	struct pool_sched *s;
	struct pool_ask a = {1, POOL_INTERACTIVE, 10, 1, {1}};

	pool_rules_default(&r);
	s = pool_sched_new(&r, &l, 1);
	assert_int_equal(pool_ask(s, &a, 0), POOL_TOO_BIG);
	a.pools[0] = 0;
	a.n_pools = 3;
	assert_int_equal(pool_ask(s, &a, 0), POOL_TOO_BIG);
	pool_sched_free(s);
}

/* A call that can never fit is told apart from one that must wait, with the pool and the
 * class's share to name: the reserve counts for every class but interactive, the smallest of
 * a call's pools decides, and a pool without a tpm has no such ceiling. */
static void test_a_call_over_its_class_share_of_a_configured_ceiling_can_never_fit(void **state)
{
	static const struct {
		struct pool_limits lim[2];
		int reserve_pct;
		enum pool_class cls;
		int64_t tokens;
		unsigned pools; /* bit i: pool i */
		bool want;
		size_t pool;
		bool requests;
		int64_t limit, share;
	} rows[] = {
		/* the finding: tpm 12000, the default 30 % reserve, a hook of about 9k tokens */
		{{{12000, 0}}, 30, H, 9000, 1, true, 0, false, 12000, 8400},
		{{{12000, 0}}, 30, H, 8400, 1, false, 0, false, 0, 0},
		{{{12000, 0}}, 30, I, 9000, 1, false, 0, false, 0, 0}, /* interactive: all of it */
		{{{12000, 0}}, 30, I, 12001, 1, true, 0, false, 12000, 12000},
		{{{12000, 0}}, 0, B, 12000, 1, false, 0, false, 0, 0},
		{{{0, 0}}, 30, B, 1000000, 1, false, 0, false, 0, 0}, /* no tpm: no ceiling */
		/* the second pool (a deployment's own tpm) is the one too small */
		{{{30000, 0}, {5000, 0}}, 30, A, 4000, 3, true, 1, false, 5000, 3500},
		{{{30000, 0}, {5000, 0}}, 30, A, 4000, 1, false, 0, false, 0, 0},
		/* the reserve of an rpm rounds down: rpm 1 leaves every class its one request */
		{{{0, 1}}, 90, S, 1, 1, false, 0, false, 0, 0},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pool_rules r;
		struct pool_sched *s;
		struct pool_ask a = {1, rows[i].cls, rows[i].tokens, 0, {0}};
		struct pool_ceiling c = {0};
		bool got;

		pool_rules_default(&r);
		r.reserve_pct = rows[i].reserve_pct;
		s = pool_sched_new(&r, rows[i].lim, 2);
		for (size_t p = 0; p < 2; p++)
			if (rows[i].pools & (1u << p))
				a.pools[a.n_pools++] = p;
		got = pool_too_big(s, &a, &c);
		if (got != rows[i].want)
			fail_msg("row %zu: pool_too_big %d, want %d", i, got, rows[i].want);
		assert_int_equal(pool_ask(s, &a, 0) == POOL_TOO_BIG, rows[i].want);
		if (rows[i].want) {
			assert_int_equal(c.pool, rows[i].pool);
			assert_int_equal(c.requests, rows[i].requests);
			assert_int_equal(c.limit, rows[i].limit);
			assert_int_equal(c.share, rows[i].share);
		}
		pool_sched_free(s);
	}
}

/* The view shows what interactive calls alone used in the last 60 s and their peak of the
 * last hour beside the reserve, so the owner can tell whether the reserve covers the chat's
 * pace: other classes do not count, the peak outlives the window, and an hour drops it. */
static void test_the_view_keeps_the_interactive_peak_beside_the_reserve(void **state)
{
	struct pool_rules r;
	struct pool_limits l = {30000, 0};
	struct pool_sched *s;
	struct pool_view v;
	int64_t t = 1000000;

	(void)state;
	pool_rules_default(&r); /* reserve 30 % */
	s = pool_sched_new(&r, &l, 1);
	for (uint64_t i = 1; i <= 5; i++) { /* five interactive turns 6 s apart, 1,800 billed */
		struct pool_ask a = {i, POOL_INTERACTIVE, 2000, 1, {0}};

		assert_int_equal(pool_ask(s, &a, t), POOL_GO);
		pool_settle(s, i, 1800, t + 1000);
		t += 6000;
	}
	{ /* a background call of 12,000 counts in the window, not in the chat's use */
		struct pool_ask a = {9, POOL_BACKGROUND, 12000, 1, {0}};

		assert_int_equal(pool_ask(s, &a, t), POOL_GO);
		pool_settle(s, 9, 12000, t + 500);
	}
	pool_view(s, 0, t + 1000, &v);
	assert_int_equal(v.used_tokens, 5 * 1800 + 12000);
	assert_int_equal(v.interactive_tokens, 5 * 1800);
	assert_int_equal(v.interactive_requests, 5);
	assert_int_equal(v.interactive_peak_tokens, 5 * 1800);
	assert_int_equal(v.reserve_tokens, 9000);
	/* two minutes later the window is empty, the peak stays */
	pool_view(s, 0, t + 120000, &v);
	assert_int_equal(v.interactive_tokens, 0);
	assert_int_equal(v.interactive_peak_tokens, 5 * 1800);
	/* after an hour it is gone */
	pool_view(s, 0, t + 3700000, &v);
	assert_int_equal(v.interactive_peak_tokens, 0);
	pool_sched_free(s);
}

/* ---- what providers' headers say ---- */

struct header_case {
	const char *name, *value;
	bool known;
	int64_t tokens, requests, reset, retry; /* after reading it into a fresh info at 1000 */
};

/* now = 1000 ms after the epoch, so absolute times read plainly */
static const struct header_case header_cases[] = {
	{"x-ratelimit-remaining-tokens", "29500", true, 29500, -1, -1, -1},
	{"X-RateLimit-Remaining-Requests", "4", true, -1, 4, -1, -1},
	{"x-ratelimit-reset-tokens", "6m0s", true, -1, -1, 361000, -1},
	{"x-ratelimit-reset-tokens", "1.4s", true, -1, -1, 2400, -1},
	{"x-ratelimit-reset-requests", "9ms", true, -1, -1, 1009, -1},
	{"x-ratelimit-reset-requests", "1h2m3.5s", true, -1, -1, 3724500, -1},
	{"x-ratelimit-reset-tokens", "20", true, -1, -1, 21000, -1},
	{"x-ratelimit-reset-tokens", "7.66", true, -1, -1, 8660, -1},
	{"anthropic-ratelimit-tokens-remaining", "80000", true, 80000, -1, -1, -1},
	{"anthropic-ratelimit-requests-remaining", "49", true, -1, 49, -1, -1},
	{"anthropic-ratelimit-tokens-reset", "1970-01-01T00:00:30Z", true, -1, -1, 30000, -1},
	{"anthropic-ratelimit-requests-reset", "1970-01-01T01:00:30.250+01:00", true, -1, -1, 30250,
	 -1},
	{"anthropic-ratelimit-tokens-reset", "1970-01-01T00:00:00Z", true, -1, -1, 1000, -1},
	{"retry-after", "17", true, -1, -1, -1, 18000},
	{"retry-after-ms", "250", true, -1, -1, -1, 1250},
	/* refused: the info stays as it was */
	{"x-ratelimit-remaining-tokens", "-5", false, -1, -1, -1, -1},
	{"x-ratelimit-remaining-tokens", "12abc", false, -1, -1, -1, -1},
	{"x-ratelimit-remaining-tokens", "", false, -1, -1, -1, -1},
	{"x-ratelimit-remaining-tokens", "1234567890123456", false, -1, -1, -1, -1},
	{"x-ratelimit-reset-tokens", "6x", false, -1, -1, -1, -1},
	{"x-ratelimit-reset-tokens", "s", false, -1, -1, -1, -1},
	{"x-ratelimit-reset-tokens", "25h", false, -1, -1, -1, -1},
	{"anthropic-ratelimit-tokens-reset", "2026-11-25 10:00:00", false, -1, -1, -1, -1},
	{"anthropic-ratelimit-tokens-reset", "2026-11-25T10:00:00", false, -1, -1, -1, -1},
	{"retry-after", "Wed, 21 Oct 2015 07:28:00 GMT", false, -1, -1, -1, -1},
	{"retry-after", "86401", false, -1, -1, -1, -1},
	{"x-ratelimit-limit-tokens", "30000", false, -1, -1, -1, -1},
	{"content-type", "application/json", false, -1, -1, -1, -1},
};

static void test_rate_headers_of_openai_and_anthropic(void **state)
{
	for (size_t i = 0; i < sizeof(header_cases) / sizeof(header_cases[0]); i++) {
		const struct header_case *hc = &header_cases[i];
		struct pool_rate_info ri;
		bool known;

		pool_rate_info_init(&ri);
		known = pool_rate_header(hc->name, hc->value, 1000, &ri);
		if (known != hc->known || ri.tokens_left != hc->tokens ||
		    ri.requests_left != hc->requests || ri.reset_ms != hc->reset ||
		    ri.retry_after_ms != hc->retry)
			fail_msg("%s: %s: known %d tokens %lld requests %lld reset %lld retry %lld",
				 hc->name, hc->value, known, (long long)ri.tokens_left,
				 (long long)ri.requests_left, (long long)ri.reset_ms,
				 (long long)ri.retry_after_ms);
	}
}

static void test_the_later_of_two_resets_is_kept(void **state)
{
	struct pool_rate_info ri;

	pool_rate_info_init(&ri);
	assert_true(pool_rate_header("x-ratelimit-reset-tokens", "30s", 0, &ri));
	assert_true(pool_rate_header("x-ratelimit-reset-requests", "2s", 0, &ri));
	assert_int_equal(ri.reset_ms, 30000);
}

/* ---- property: random arrivals ---- */

struct sim_call {
	uint64_t id;
	enum pool_class cls;
	int64_t tokens, billed, arrived, granted, duration;
	unsigned pools;
	int state; /* 0 unborn, 1 waiting, 2 in flight, 3 done, 4 expired, 5 refused */
};

/* The highest tokens in any 60 s window (by grant time) for pool p, over the calls granted
 * from classes in mask: what the provider's sliding window would see. */
static int64_t peak_window(const struct sim_call *c, size_t n, unsigned p, unsigned mask,
			   int64_t t_end)
{
	int64_t peak = 0;

	for (int64_t t = 0; t <= t_end; t += 500) {
		int64_t sum = 0;

		for (size_t i = 0; i < n; i++)
			if (c[i].state >= 2 && c[i].state <= 3 && (c[i].pools & (1u << p)) &&
			    (mask & (1u << c[i].cls)) && c[i].granted <= t &&
			    t - c[i].granted < 60000)
				sum += c[i].tokens;
		if (sum > peak)
			peak = sum;
	}
	return peak;
}

/* One simulated run: n calls arriving over `span` ms; load sets the demand. */
static void simulate(unsigned seed, size_t n, int64_t span, int64_t max_tokens, bool light)
{
	struct pool_limits lim[2] = {{30000, 40}, {8000, 0}};
	struct pool_rules r;
	struct pool_sched *s;
	struct sim_call *c = calloc(n, sizeof(*c));
	struct pool_event ev[8];
	int64_t t, t_end = span + 2000000;
	size_t i;

	srand(seed);
	pool_rules_default(&r);
	s = pool_sched_new(&r, lim, 2);
	for (i = 0; i < n; i++) {
		c[i].id = i + 1;
		c[i].cls = (enum pool_class)(rand() % POOL_CLASSES);
		c[i].tokens = 1 + rand() % max_tokens;
		c[i].billed = c[i].tokens * (50 + rand() % 51) / 100;
		/* light: one arrival per span/n ms, so that no 81 s (a window and the longest
		 * call) ever holds more than the smallest share carries: no wait need expire */
		c[i].arrived =
			light ? (int64_t)i * (span / (int64_t)n) + rand() % (span / (int64_t)n / 2)
			      : (int64_t)rand() % span;
		c[i].duration = 200 + rand() % 20000;
		c[i].pools = 1u + (unsigned)(rand() % 3); /* pool 0, pool 1 or both */
	}
	for (t = 0; t <= t_end; t += 100) {
		size_t k, m;

		for (i = 0; i < n; i++) {
			if (c[i].state == 0 && c[i].arrived <= t) {
				struct pool_ask a = {c[i].id, c[i].cls, c[i].tokens, 0, {0}};
				enum pool_verdict v;
				bool go;

				for (unsigned p = 0; p < 2; p++)
					if (c[i].pools & (1u << p))
						a.pools[a.n_pools++] = p;
				c[i].arrived = t; /* asked at the first tick after it arrived */
				go = pool_would_go(s, &a, t);
				v = pool_ask(s, &a, t);
				/* the pick's question answers as the ask will */
				assert_int_equal(go, v == POOL_GO);
				c[i].state = v == POOL_GO ? 2 : v == POOL_WAIT ? 1 : 5;
				if (v == POOL_GO)
					c[i].granted = t;
			}
			if (c[i].state == 2 && t >= c[i].granted + c[i].duration) {
				pool_settle(s, c[i].id, c[i].tokens, t);
				c[i].state = 3;
			}
		}
		do {
			m = pool_run(s, t, ev, 8);
			for (k = 0; k < m; k++) {
				struct sim_call *x = &c[ev[k].id - 1];

				assert_int_equal(x->state, 1);
				assert_int_equal(ev[k].waited_ms, t - x->arrived);
				x->state = ev[k].kind == POOL_GRANTED ? 2 : 4;
				x->granted = t;
				if (ev[k].kind == POOL_GRANTED)
					assert_true(t - x->arrived < r.max_wait_ms[x->cls]);
				else
					assert_true(t - x->arrived >= r.max_wait_ms[x->cls]);
			}
		} while (m == 8);
		/* nobody still waits past its deadline (runs happen every 100 ms) */
		for (i = 0; i < n; i++)
			if (c[i].state == 1)
				assert_true(t - c[i].arrived < r.max_wait_ms[c[i].cls]);
	}
	for (unsigned p = 0; p < 2; p++) {
		int64_t all = peak_window(c, n, p, 0x1f, t_end);
		int64_t others = peak_window(c, n, p, 0x1e, t_end);

		if (all > lim[p].tpm || others > lim[p].tpm * 70 / 100)
			fail_msg("seed %u pool %u: peak %lld (non-interactive %lld) over %lld",
				 seed, p, (long long)all, (long long)others, (long long)lim[p].tpm);
	}
	for (i = 0; i < n; i++) {
		assert_true(c[i].state == 3 || c[i].state == 4 || c[i].state == 5);
		if (c[i].state == 5) /* refused only when it could never fit */
			assert_true(c[i].tokens > 8000 * 70 / 100 ||
				    c[i].tokens > 30000 * 70 / 100);
		if (light && c[i].state == 4)
			fail_msg("seed %u: call %llu (%s, %lld tokens) expired under a light load",
				 seed, (unsigned long long)c[i].id, pool_class_name(c[i].cls),
				 (long long)c[i].tokens);
	}
	pool_sched_free(s);
	free(c);
}

/* What the pick asks of a deployment's pools before choosing it: not "is the pool full" but
 * "would this call go now", with its class's share, the waiters ahead of it and the
 * provider's figures; and asking changes nothing. */
static void test_whether_a_call_would_go_now_is_answered_without_asking(void **state)
{
	struct pool_rules r;
	struct pool_limits l[2] = {{3000, 0}, {100000, 0}};
	struct pool_sched *s;
	struct pool_ask a = {1, POOL_API, 1200, 1, {0}};
	struct pool_ask big = {2, POOL_API, 2500, 1, {0}};
	struct pool_ask other = {3, POOL_API, 1200, 1, {1}};
	struct pool_view v;

	(void)state;
	pool_rules_default(&r); /* reserve 30 %: the api class may use 2100 of 3000 */
	s = pool_sched_new(&r, l, 2);
	assert_true(pool_would_go(s, &a, 0));
	pool_view(s, 0, 0, &v);
	assert_int_equal(v.reserved_tokens, 0); /* nothing reserved by the question */
	assert_int_equal(pool_ask(s, &a, 0), POOL_GO);
	/* 1200 reserved, far from full, yet 1200 more is past the class's 2100 */
	a.id = 4;
	assert_false(pool_would_go(s, &a, 10));
	a.cls = POOL_INTERACTIVE; /* all 3000 are the interactive class's */
	assert_true(pool_would_go(s, &a, 10));
	/* can never fit: not "would go" either */
	assert_false(pool_would_go(s, &big, 10));
	/* a waiter ahead in the same pool: a new call of its class is behind it */
	a.cls = POOL_API;
	assert_int_equal(pool_ask(s, &a, 20), POOL_WAIT);
	a.id = 5;
	a.tokens = 100;
	assert_false(pool_would_go(s, &a, 30));
	/* another pool is untouched by the queue of this one */
	assert_true(pool_would_go(s, &other, 30));
	/* what the provider said counts: 500 left */
	pool_learn(s, 1, 0, 500, -1, 60000, 40);
	assert_false(pool_would_go(s, &other, 50));
	pool_sched_free(s);
}

/* The window's sums are kept as calls are granted and settled, not added up at each look:
 * against a model of what "counts for 60 whole seconds after its grant's" means, over random
 * calls with the clock moving on by a few hundred ms, by tens of seconds and past a whole
 * window, settles that come late (past the window: they count nothing) and looks between. */
struct kept_call {
	int64_t grant_sec, tokens; /* tokens: -1 while in flight; settled and dropped: 0 */
	bool live;
};

static int64_t sec_floor(int64_t ms)
{
	return ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
}

static void test_a_class_share_is_exact_up_to_int64_max(void **state)
{
	const int64_t limits[] = {0, 1, 99, 100, 1000, 12345, INT64_MAX / 4, INT64_MAX};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(limits); i++) {
		for (int pct = 0; pct <= 90; pct += 15) {
			__int128 want = limits[i] - (__int128)limits[i] * pct / 100;

			assert_true(pool_share(limits[i], pct, POOL_API) == (int64_t)want);
			assert_true(pool_share(limits[i], pct, POOL_INTERACTIVE) == limits[i]);
		}
	}
}

static void test_the_windows_kept_sums_match_its_calls(void **state)
{
	enum { CALLS = 4000 };
	static struct kept_call calls[CALLS];
	struct pool_limits lim = {INT64_MAX / 4, 0};
	struct pool_rules r;
	struct pool_sched *s;
	int64_t now = 5000;
	size_t n = 0;

	(void)state;
	pool_rules_default(&r);
	s = pool_sched_new(&r, &lim, 1);
	srand(51);
	for (int step = 0; step < 20000; step++) {
		int dice = rand() % 100;

		if (dice < 70)
			now += rand() % 700;
		else if (dice < 97)
			now += rand() % 4000;
		else
			now += 20000 + rand() % 70000; /* past part of a window, or all of it */
		if (n < CALLS && rand() % 2) {
			struct pool_ask a = {
				n + 1, rand() % 2 ? POOL_INTERACTIVE : POOL_API, 100, 1, {0}};

			assert_int_equal(pool_ask(s, &a, now), POOL_GO);
			calls[n++] = (struct kept_call){sec_floor(now), -1, true};
		}
		for (int k = 0; k < 2 && n; k++) {
			size_t i = (size_t)rand() % n;
			int64_t billed = 1 + rand() % 500;

			if (!calls[i].live)
				continue;
			pool_settle(s, i + 1, billed, now);
			calls[i].live = false;
			/* a settle past the grant's window counts nothing */
			calls[i].tokens = sec_floor(now) - calls[i].grant_sec <= 60 ? billed : 0;
		}
		{
			struct pool_view v;
			int64_t want_t = 0, want_r = 0, now_sec = sec_floor(now);

			for (size_t i = 0; i < n; i++) {
				if (now_sec - calls[i].grant_sec > 60)
					continue;
				want_r++;
				if (!calls[i].live)
					want_t += calls[i].tokens;
			}
			pool_view(s, 0, now, &v);
			assert_int_equal(v.used_requests, want_r);
			assert_int_equal(v.used_tokens, want_t);
		}
	}
	pool_sched_free(s);
}

static void test_random_arrivals_never_overrun_a_window_nor_starve_a_class(void **state)
{
	/* overload: far more demand than the pools carry; ceilings and deadlines still hold */
	for (unsigned seed = 1; seed <= 6; seed++)
		simulate(seed, 300, 300000, 6000, false);
	/* a load the pools carry (9 calls of <= 600 tokens in any 81 s: under the 5,600 that
	 * non-interactive work may use of the smaller pool): every call gets through within its
	 * class's max_wait, whatever the order of classes */
	for (unsigned seed = 11; seed <= 16; seed++)
		simulate(seed, 60, 600000, 600, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scripts),
		cmocka_unit_test(test_class_names_round_trip),
		cmocka_unit_test(test_a_callers_source_and_purpose_give_its_class),
		cmocka_unit_test(test_litellms_priority_maps_onto_the_classes),
		cmocka_unit_test(test_an_ask_naming_an_unknown_pool_is_refused),
		cmocka_unit_test(
			test_a_call_over_its_class_share_of_a_configured_ceiling_can_never_fit),
		cmocka_unit_test(test_the_view_keeps_the_interactive_peak_beside_the_reserve),
		cmocka_unit_test(test_rate_headers_of_openai_and_anthropic),
		cmocka_unit_test(test_the_later_of_two_resets_is_kept),
		cmocka_unit_test(test_whether_a_call_would_go_now_is_answered_without_asking),
		cmocka_unit_test(test_a_class_share_is_exact_up_to_int64_max),
		cmocka_unit_test(test_the_windows_kept_sums_match_its_calls),
		cmocka_unit_test(test_random_arrivals_never_overrun_a_window_nor_starve_a_class),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
