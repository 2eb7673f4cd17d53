/* main: command line -> config -> the module that runs the command. Nothing else lives here. */
#include "cli/cli_alerts.h"
#include "cli/cli_pools.h"
#include "cli/cli_chat.h"
#include "cli/cli_config.h"
#include "cli/cli_doctor.h"
#include "cli/cli_mcp.h"
#include "cli/cli_mcp_skill.h"
#include "cli/cli_elicit.h"
#include "cli/cli_mcp_oauth.h"
#include "cli/cli_audit.h"
#include "cli/cli_proposals.h"
#include "cli/cli_skill.h"
#include "cli/cli_sessions.h"
#include "cli/cli_tasks.h"
#include "cli/cli_ui.h"
#include "core/alloc_front.h"
#include "core/audit.h"
#include "core/config.h"
#include "gateway/gateway.h"
#include "gateway/schema.h"
#include "sandbox/landlock.h"
#include "core/log.h"
#include "sandbox/rootguard.h"
#include "router/router.h"
#include "router/router_server.h"
#include "sandbox/sandbox.h"
#include "router/spend.h"
#include "core/store.h"
#include "core/util.h"
#include "core/version.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One row per subcommand: it generates the dispatch in main() and the usage text of --help. */
struct cmd {
	const char *name;
	const char *sub; /* second word, or NULL */
	int (*run)(int argc, char **argv);
	const char *synopsis; /* the command line in the usage text after "hermetic " */
	const char *help;     /* what it does, in the usage text; NULL = hidden from the list */
	bool no_root;	      /* long-running, acts on a model's output: refused as root */
};

/* Parses --config FILE / -c FILE; returns the path, or NULL after printing a usage error. */
static const char *config_arg(int argc, char **argv, int *ok)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {NULL, 0, NULL, 0}};
	const char *path = config_default_path();
	int c;

	*ok = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'c') {
			path = optarg;
			continue;
		}
		*ok = 0;
	}
	if (optind < argc) {
		fprintf(stderr, "hermetic: unexpected argument '%s'\n", argv[optind]);
		*ok = 0;
	}
	return path;
}

/* --config FILE and --json, then up to max positional words. Returns false after a usage
 * message. */
static bool parse_words(int argc, char **argv, const char **path, bool *json, char **words, int max,
			int min, const char *usage)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"json", no_argument, NULL, 'j'},
					     {NULL, 0, NULL, 0}};
	int c, n = 0;

	*path = config_default_path();
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:j", opts, NULL)) != -1) {
		if (c == 'c')
			*path = optarg;
		else if (c == 'j' && json)
			*json = true;
		else
			goto bad;
	}
	for (; optind < argc; optind++) {
		if (n == max)
			goto bad;
		words[n++] = argv[optind];
	}
	if (n >= min)
		return true;
bad:
	fprintf(stderr, "usage: %s\n", usage);
	return false;
}

static struct config *load(const char *path)
{
	struct config_diag *diag = config_diag_create();
	struct config *cfg = NULL;

	if (config_load(path, &cfg, diag) < 0)
		cfg = NULL;
	config_diag_print(diag, stderr);
	config_diag_destroy(diag);
	if (cfg) {
		/* Days, budgets and cron run in the configured zone (zoneinfo via TZ). */
		setenv("TZ", cfg->timezone, 1);
		tzset();
	}
	return cfg;
}

static int run_version(int argc, char **argv)
{
	version_print(stdout);
	return 0;
}

/* hermetic config check [--strict] [--config FILE] */
static int run_config_check(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"strict", no_argument, NULL, 's'},
					     {NULL, 0, NULL, 0}};
	const char *path = config_default_path();
	bool strict = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'c') {
			path = optarg;
		} else if (c == 's') {
			strict = true;
		} else {
			fprintf(stderr,
				"usage: hermetic config check [--strict] [--config FILE]\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hermetic: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return cli_config_check(path, strict, stdout, stderr);
}

static int run_config_reference(int argc, char **argv)
{
	config_print_reference(stdout);
	return 0;
}

/* Loads the config at path, sets the log level (the config's, or quiet_level when >= 0),
 * runs fn and frees the config. Returns fn's exit code, or 1 when the config is invalid. */
static int with_config(const char *path, int quiet_level, int (*fn)(const struct config *cfg))
{
	struct config *cfg = load(path);
	int rc;

	if (!cfg)
		return 1;
	log_set_level(quiet_level >= 0 ? (enum log_level)quiet_level : cfg->log.level);
	rc = fn(cfg);
	config_destroy(cfg);
	return rc;
}

static int run_gateway(int argc, char **argv)
{
	int ok;
	const char *path = config_arg(argc, argv, &ok);

	return ok ? with_config(path, -1, gateway_run) : 2;
}

/* What `hermetic router` keeps of freed blocks at most: a burst of 1,000 requests frees
 * about 10 MiB of them. */
#define ROUTER_KEEP_BYTES (16u << 20)

static int run_router(int argc, char **argv)
{
	int ok;
	const char *path = config_arg(argc, argv, &ok);

	if (!ok)
		return 2;
	/* Freed blocks kept for reuse (release build): a burst of requests would otherwise map
	 * and unmap musl's groups by the thousand (src/core/alloc_keep.c). The gateway keeps
	 * none: its memory is held to a few MiB by test_memory.py. */
	alloc_front_keep(ROUTER_KEEP_BYTES);
	return with_config(path, -1, router_server_run);
}

/* hermetic spend [--days N] [--config FILE] */
static int run_spend(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"days", required_argument, NULL, 'd'},
					     {NULL, 0, NULL, 0}};
	const char *path = config_default_path();
	int64_t days = 7;
	int c, rc = 1;
	struct config *cfg;
	struct store *st;
	char err[512], *db;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:d:", opts, NULL)) != -1) {
		if (c == 'c') {
			path = optarg;
		} else if (c != 'd' || parse_i64(optarg, 1, 3660, &days) < 0) {
			fprintf(stderr,
				"usage: hermetic spend [--days N (1-3660)] [--config FILE]\n");
			return 2;
		}
	}
	cfg = load(path);
	if (!cfg)
		return 1;
	db = xasprintf("%s/state.db", cfg->home);
	if (store_open(db, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "hermetic: %s\n", err);
	} else {
		rc = spend_report(st, (int)days, now_wall_ms(), stdout) < 0 ? 1 : 0;
		store_close(st);
	}
	free(db);
	config_destroy(cfg);
	return rc;
}

static int run_mcp_list(int argc, char **argv)
{
	const char *path;
	bool json = false;
	struct config *cfg;
	int rc;

	if (!parse_words(argc, argv, &path, &json, NULL, 0, 0,
			 "hermetic mcp list [--json] [--config FILE]"))
		return 2;
	cfg = load(path);
	if (!cfg)
		return 1;
	log_set_level(LOG_WARN);
	rc = cli_mcp_list(cfg, json);
	config_destroy(cfg);
	return rc;
}

static int run_mcp_skill(int argc, char **argv)
{
	const char *path;
	char *w[2] = {NULL, NULL};
	struct config *cfg;
	int rc;

	if (!parse_words(argc, argv, &path, NULL, w, 2, 2,
			 "hermetic mcp skill [--config FILE] SERVER NAME"))
		return 2;
	cfg = load(path);
	if (!cfg)
		return 1;
	log_set_level(LOG_WARN);
	rc = cli_mcp_skill(cfg, w[0], w[1]);
	config_destroy(cfg);
	return rc;
}

static int run_mcp_sign(int argc, char **argv, bool in)
{
	const char *path;
	char *w[1] = {NULL};
	struct config *cfg;
	int rc;

	if (!parse_words(argc, argv, &path, NULL, w, 1, 1,
			 in ? "hermetic mcp login [--config FILE] SERVER"
			    : "hermetic mcp logout [--config FILE] SERVER"))
		return 2;
	cfg = load(path);
	if (!cfg)
		return 1;
	log_set_level(LOG_WARN);
	rc = in ? cli_mcp_login(cfg, w[0]) : cli_mcp_logout(cfg, w[0]);
	config_destroy(cfg);
	return rc;
}

static int run_mcp_login(int argc, char **argv)
{
	return run_mcp_sign(argc, argv, true);
}

static int run_mcp_logout(int argc, char **argv)
{
	return run_mcp_sign(argc, argv, false);
}

/* hermetic mcp call [--config FILE] [--elicit ask|defaults|decline] SERVER TOOL ['JSON-ARGS'] */
static int run_mcp_call(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"elicit", required_argument, NULL, 'e'},
					     {NULL, 0, NULL, 0}};
	static const char usage[] = "usage: hermetic mcp call [--config FILE] [--elicit "
				    "ask|defaults|decline] SERVER TOOL ['JSON-ARGS']\n";
	const char *path = config_default_path();
	int c, elicit = CLI_ELICIT_AUTO;
	struct config *cfg;
	int rc;

	optind = 1;
	/* "+": options stand before SERVER; what follows TOOL is the tool's, even "-x". */
	while ((c = getopt_long(argc, argv, "+c:e:", opts, NULL)) != -1) {
		if (c == 'c') {
			path = optarg;
			continue;
		}
		elicit = c == 'e' ? cli_elicit_mode_parse(optarg) : -1;
		if (elicit < 0) {
			if (c == 'e')
				fprintf(stderr,
					"hermetic: --elicit takes ask, defaults or decline, "
					"not %s\n",
					optarg);
			fputs(usage, stderr);
			return 2;
		}
	}
	if (argc - optind < 2 || argc - optind > 3) {
		fputs(usage, stderr);
		return 2;
	}
	cfg = load(path);
	if (!cfg)
		return 1;
	log_set_level(LOG_WARN);
	rc = cli_mcp_call(cfg, argv[optind], argv[optind + 1],
			  argc - optind > 2 ? argv[optind + 2] : NULL, elicit);
	config_destroy(cfg);
	return rc;
}

static int run_chat(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"query", required_argument, NULL, 'q'},
					     {"model", required_argument, NULL, 'm'},
					     {"local", no_argument, NULL, 'L'},
					     {NULL, 0, NULL, 0}};
	const char *path = config_default_path(), *prompt = NULL, *model = NULL;
	bool local = false;
	struct config *cfg;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:q:m:", opts, NULL)) != -1) {
		if (c == 'c')
			path = optarg;
		else if (c == 'q')
			prompt = optarg;
		else if (c == 'm')
			model = optarg;
		else if (c == 'L')
			local = true;
		else
			goto usage;
	}
	if (optind < argc)
		goto usage;
	cfg = load(path);
	if (!cfg)
		return 1;
	/* Chat output is the conversation: only warnings, unless debugging. */
	log_set_level(cfg->log.level == LOG_DEBUG ? LOG_DEBUG : LOG_WARN);
	rc = cli_chat(cfg, prompt, model, local);
	config_destroy(cfg);
	return rc;
usage:
	fprintf(stderr, "usage: hermetic chat [-q PROMPT] [-m MODEL] [--local] [--config FILE]\n");
	return 2;
}

#define MAX_WORDS 16

/* Parses --config FILE and at least min (at most MAX_WORDS) words, then runs fn like
 * with_config. Returns 2 after a usage message. */
static int with_config_words(int argc, char **argv, int min, const char *usage, int quiet_level,
			     int (*fn)(const struct config *cfg, char **words, int n))
{
	const char *path;
	char *w[MAX_WORDS] = {NULL};
	struct config *cfg;
	int rc, n = 0;

	if (!parse_words(argc, argv, &path, NULL, w, MAX_WORDS, min, usage))
		return 2;
	while (n < MAX_WORDS && w[n])
		n++;
	cfg = load(path);
	if (!cfg)
		return 1;
	log_set_level(quiet_level >= 0 ? (enum log_level)quiet_level : cfg->log.level);
	rc = fn(cfg, w, n);
	config_destroy(cfg);
	return rc;
}

static int run_sessions(int argc, char **argv)
{
	return with_config_words(argc, argv, 1,
				 "hermetic sessions list|show ID|search WORDS [--config FILE]",
				 LOG_WARN, cli_sessions);
}

static int run_tasks(int argc, char **argv)
{
	return with_config_words(argc, argv, 1,
				 "hermetic tasks add TEXT|list|show ID|stop ID [--config FILE]",
				 LOG_WARN, cli_tasks);
}

#define AUDIT_USAGE                                                                                \
	"hermetic audit tail|search [WORDS] [-n N] [--since AGE|TIME] [--source S] "               \
	"[--session ID] [--lane NAME] [--json] [--config FILE]"

/* hermetic audit tail|search ...: the audit trail (cli/cli_audit.c). */
static int run_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},  {"json", no_argument, NULL, 'j'},
		{"since", required_argument, NULL, 's'},   {"source", required_argument, NULL, 'S'},
		{"session", required_argument, NULL, 'i'}, {"lane", required_argument, NULL, 'L'},
		{"lines", required_argument, NULL, 'n'},   {NULL, 0, NULL, 0}};
	struct cli_audit_opts o = {0};
	const char *path = config_default_path();
	struct config *cfg;
	int64_t v;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:jn:", opts, NULL)) != -1) {
		if (c == 'c') {
			path = optarg;
		} else if (c == 'j') {
			o.json = true;
		} else if (c == 's') {
			o.since = optarg;
		} else if (c == 'S') {
			o.source = optarg;
		} else if (c == 'L' && *optarg) {
			o.lane = optarg;
		} else if (c == 'i' && parse_i64(optarg, 1, INT64_MAX, &v) == 0) {
			o.session = v;
		} else if (c == 'n' && parse_i64(optarg, 1, 10000, &v) == 0) {
			o.lines = (long)v;
		} else {
			fprintf(stderr, "usage: %s\n(-n is 1..10000, --session a session id)\n",
				AUDIT_USAGE);
			return 2;
		}
	}
	if (optind >= argc ||
	    (strcmp(argv[optind], "tail") != 0 && strcmp(argv[optind], "search") != 0) ||
	    (strcmp(argv[optind], "tail") == 0 && optind + 1 < argc) ||
	    (strcmp(argv[optind], "search") == 0 && optind + 1 >= argc)) {
		fprintf(stderr, "usage: %s\n", AUDIT_USAGE);
		return 2;
	}
	o.search = strcmp(argv[optind], "search") == 0;
	o.words = argv + optind + 1;
	o.n_words = argc - optind - 1;
	cfg = load(path);
	if (!cfg)
		return 1;
	log_set_level(LOG_WARN);
	rc = cli_audit(cfg, &o);
	config_destroy(cfg);
	return rc;
}

/* hermetic proposals [list|approve ID|reject ID] [--config FILE] */
static int run_proposals(int argc, char **argv)
{
	return with_config_words(argc, argv, 0,
				 "hermetic proposals [list|approve ID|reject ID] [--config FILE]",
				 LOG_WARN, cli_proposals);
}

/* hermetic skill SUBCOMMAND ...: skill history, revert, packs and installs (cli/cli_skill.c). */
static int run_skill(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"sha256", required_argument, NULL, 's'},
		{"out", required_argument, NULL, 'o'},	  {"yes", no_argument, NULL, 'y'},
		{"model", required_argument, NULL, 'm'},  {"record", no_argument, NULL, 'R'},
		{"replay", no_argument, NULL, 'P'},	  {NULL, 0, NULL, 0}};
	struct cli_skill_opts o = {0};
	const char *path = config_default_path();
	struct config *cfg;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:o:ym:", opts, NULL)) != -1) {
		if (c == 'm') {
			o.model = optarg;
		} else if (c == 'R') {
			o.record = true;
		} else if (c == 'P') {
			o.replay = true;
		} else if (c == 'c') {
			path = optarg;
		} else if (c == 's') {
			o.sha256 = optarg;
		} else if (c == 'o') {
			o.out = optarg;
		} else if (c == 'y') {
			o.yes = true;
		} else {
			fprintf(stderr, "usage: %s\n", CLI_SKILL_USAGE);
			return 2;
		}
	}
	if (optind >= argc || (o.record && o.replay)) {
		fprintf(stderr, "usage: %s\n", CLI_SKILL_USAGE);
		return 2;
	}
	cfg = load(path);
	if (!cfg)
		return 1;
	log_set_level(LOG_WARN);
	rc = cli_skill(cfg, &o, argv + optind, argc - optind);
	config_destroy(cfg);
	return rc;
}

static int run_doctor(int argc, char **argv)
{
	const char *path;

	if (!parse_words(argc, argv, &path, NULL, NULL, 0, 0, "hermetic doctor [--config FILE]"))
		return 2;
	return with_config(path, LOG_WARN, cli_doctor);
}

static int sandbox_selftest_stdout(const struct config *cfg)
{
	return sandbox_selftest(cfg, stdout);
}

/* Hidden: `hermetic sandbox-selftest [--config FILE]` seals like the gateway and reports what
 * the filter denies (tests/e2e/test_sandbox.py). */
static int run_sandbox_selftest(int argc, char **argv)
{
	int ok;
	const char *path = config_arg(argc, argv, &ok);

	return ok ? with_config(path, -1, sandbox_selftest_stdout) : 2;
}

static int landlock_probe_stdout(const struct config *cfg, char **ops, int n)
{
	return landlock_probe(cfg, ops, n, stdout);
}

/* Hidden, for tests: hermetic landlock-probe [--config FILE] w:PATH|r:PATH ... */
static int run_landlock_probe(int argc, char **argv)
{
	return with_config_words(argc, argv, 0,
				 "hermetic landlock-probe [--config FILE] w:PATH|r:PATH ...", -1,
				 landlock_probe_stdout);
}

/* Hidden: `hermetic sandbox-rules [--kill]` prints the filter for this arch without loading it
 * (the test under qemu-user, which cannot load one). */
static int run_sandbox_rules(int argc, char **argv)
{
	bool kill = argc == 2 && strcmp(argv[1], "--kill") == 0;

	if (argc > 2 || (argc == 2 && !kill)) {
		fprintf(stderr, "usage: hermetic sandbox-rules [--kill]\n");
		return 2;
	}
	return sandbox_export_rules(kill, stdout) < 0 ? 1 : 0;
}

static int run_alerts_test(int argc, char **argv)
{
	int ok;
	const char *path = config_arg(argc, argv, &ok);

	return ok ? with_config(path, LOG_WARN, cli_alerts_test) : 2;
}

static int run_pools(int argc, char **argv)
{
	int ok;
	const char *path = config_arg(argc, argv, &ok);

	return ok ? with_config(path, LOG_WARN, cli_pools) : 2;
}

static int run_ui_hash_password(int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "usage: hermetic ui hash-password  (the password on stdin)\n");
		return 2;
	}
	return cli_ui_hash_password(stdin, stdout);
}

static const struct cmd commands[] = {
	{"--version", NULL, run_version, "--version",
	 "version of hermetic and of the linked libraries", false},
	{"version", NULL, run_version, NULL, NULL, false},
	{"gateway", NULL, run_gateway, "gateway [--config FILE]",
	 "agent daemon: loopback API, health, metrics", true},
	{"router", NULL, run_router, "router [--config FILE]",
	 "OpenAI-compatible LLM router (LiteLLM proxy replacement)", true},
	{"chat", NULL, run_chat, "chat [-q PROMPT] [-m MODEL] [--local] [--config FILE]",
	 "talk to the agent: one turn with -q, else a REPL", true},
	{"sessions", NULL, run_sessions, "sessions list|show ID|search WORDS [--config FILE]",
	 "the session store", false},
	{"tasks", NULL, run_tasks, "tasks add TEXT|list|show ID|stop ID [--config FILE]",
	 "background tasks: queue one in the gateway, list, show, stop", false},
	{"spend", NULL, run_spend, "spend [--days N] [--config FILE]",
	 "spend ledger by day and model group", false},
	{"pools", NULL, run_pools, "pools [--config FILE]",
	 "rate pools of the running router or gateway: window, queue per class, waits", false},
	{"audit", NULL, run_audit,
	 "audit tail|search [WORDS] [-n N] [--since AGE|TIME] [--source S] [--session ID] [--lane "
	 "NAME] "
	 "[--json]",
	 "the audit trail: model attempts, tool calls and turns", false},
	/* Approving writes memory and skill files: as root they would end up root's. */
	{"proposals", NULL, run_proposals, "proposals [list|approve ID|reject ID] [--config FILE]",
	 "memory and skill changes of untrusted turns awaiting you", true},
	/* Installing and reverting write skill files: as root they would end up root's. */
	{"skill", NULL, run_skill,
	 "skill list|show|history|revert|pack|install|approve|update|test ... [--config FILE]",
	 "skills: versions, revert, packs, quarantined installs, tests (docs/agent.md)", true},
	{"mcp", "list", run_mcp_list, "mcp list [--json] [--config FILE]",
	 "connect to every MCP server and list its tools and skills", false},
	{"mcp", "call", run_mcp_call,
	 "mcp call [--config FILE] [--elicit ask|defaults|decline] SERVER TOOL ['JSON-ARGS']",
	 "call one MCP tool and print what the model would read", false},
	{"mcp", "skill", run_mcp_skill, "mcp skill [--config FILE] SERVER NAME",
	 "load a skill an MCP server offers (verified) into the quarantine", false},
	{"mcp", "login", run_mcp_login, "mcp login [--config FILE] SERVER",
	 "sign in to an `auth: oauth` MCP server (prints the address; runs $BROWSER)", false},
	{"mcp", "logout", run_mcp_logout, "mcp logout [--config FILE] SERVER",
	 "forget an MCP server's sign-in", false},
	{"doctor", NULL, run_doctor, "doctor [--config FILE]",
	 "data dir, sandbox, MCP servers, OpenRouter key limits, Telegram token (getMe); exit 1 on "
	 "a failure",
	 false},
	{"alerts", "test", run_alerts_test, "alerts test [--config FILE]",
	 "send one test alert through each alerts channel; exit 1 if one failed", false},
	{"ui", "hash-password", run_ui_hash_password, "ui hash-password",
	 "read a password on stdin, print ui.password_hash for the web cockpit", false},
	{"config", "check", run_config_check, "config check [--strict] [--config FILE]",
	 "validate the config; errors as FILE:LINE:COL: message; --strict: unknown keys in "
	 "LiteLLM's sections are errors, not warnings",
	 false},
	{"config", "reference", run_config_reference, "config reference",
	 "print every config key (Markdown tables)", false},
	/* Hidden: for the tests and the sandbox's own checks. */
	{"sandbox-selftest", NULL, run_sandbox_selftest, "sandbox-selftest [--config FILE]", NULL,
	 false},
	{"sandbox-rules", NULL, run_sandbox_rules, "sandbox-rules [--kill]", NULL, false},
	{"landlock-probe", NULL, run_landlock_probe,
	 "landlock-probe [--config FILE] w:PATH|r:PATH ...", NULL, false},
};

/* The usage text, from the table: a synopsis that leaves room shares its line with the help. */
static void usage(FILE *f)
{
	fputs("usage: hermetic COMMAND [--config FILE]\n\ncommands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct cmd *c = &commands[i];

		if (!c->help)
			continue;
		if (strlen(c->synopsis) <= 24)
			fprintf(f, "  %-26s%s\n", c->synopsis, c->help);
		else
			fprintf(f, "  %s\n%28s%s\n", c->synopsis, "", c->help);
	}
	fputs("\nThe config file is --config, else $HERMETIC_CONFIG, else "
	      "/etc/hermetic/config.yaml.\n",
	      f);
}

/* Commands whose synopsis abbreviates their words: `hermetic CMD --help` prints this too. */
static const struct {
	const char *name;
	const char *usage;
} details[] = {
	{"skill", CLI_SKILL_USAGE},
	{"audit", AUDIT_USAGE},
};

static bool is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* `hermetic CMD --help` and `hermetic CMD WORD --help`: the usage of CMD (of CMD WORD alone when
 * WORD is one of its rows' second word) on stdout, hidden commands included. Returns false when
 * no row with a synopsis names CMD. */
static bool command_help(const char *name, const char *word)
{
	bool found = false, sub_row = false;
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].synopsis && strcmp(commands[i].name, name) == 0 &&
		    commands[i].sub && word && strcmp(commands[i].sub, word) == 0)
			sub_row = true;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct cmd *c = &commands[i];

		if (!c->synopsis || strcmp(c->name, name) != 0)
			continue;
		if (sub_row && strcmp(c->sub, word) != 0)
			continue;
		printf("%shermetic %s\n", found ? "" : "usage: ", c->synopsis);
		if (c->help)
			printf("    %s\n", c->help);
		found = true;
	}
	for (i = 0; found && i < sizeof(details) / sizeof(details[0]); i++)
		if (strcmp(details[i].name, name) == 0)
			printf("\nin full: %s\n", details[i].usage);
	return found;
}

int main(int argc, char **argv)
{
	size_t i;
	int rc;

	schema_register();
	router_scratch_install(); /* before any thread: cJSON's hooks are global */
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if ((argc == 3 && is_help(argv[2])) ||
	    (argc == 4 && argv[2][0] != '-' && is_help(argv[3]))) {
		if (command_help(argv[1], argc == 4 ? argv[2] : NULL))
			return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct cmd *c = &commands[i];
		int words = c->sub ? 2 : 1;

		if (strcmp(argv[1], c->name) != 0)
			continue;
		if (c->sub && (argc < 3 || strcmp(argv[2], c->sub) != 0))
			continue;
		if (c->no_root && rootguard_check(c->name, stderr) < 0)
			return 1;
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = c->run(argc - words, argv + words);
		curl_global_cleanup();
		log_close();
		audit_close();
		return rc;
	}
	fprintf(stderr, "hermetic: unknown command '%s%s%s'\n\n", argv[1], argc > 2 ? " " : "",
		argc > 2 ? argv[2] : "");
	usage(stderr);
	return 2;
}
