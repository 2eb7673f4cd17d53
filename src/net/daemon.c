/* daemon: start-up and shutdown shared by the long-running commands.
 *
 * Start-up order: data directories -> log file -> store -> loop -> metrics -> signals; the
 * command then adds its servers and modules. Shutdown reverses it: the command stops its
 * servers, then outstanding transfers are cancelled and their callbacks run once more on the
 * loop, the store is closed (WAL checkpoint), and everything is freed.
 */
#include "net/daemon.h"
#include "core/fileio.h"
#include "core/audit.h"
#include "core/config.h"
#include "net/httpc.h"
#include "net/httpd.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/netaddr.h"
#include "core/store.h"
#include "core/util.h"
#include "core/version.h"

#include <errno.h>
#include <limits.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int ensure_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int open_home(const struct config *cfg)
{
	char *logs = xasprintf("%s/logs", cfg->home);
	char *file = xasprintf("%s/hermetic.log", logs);
	char *trail = xasprintf("%s/audit.jsonl", logs);
	int rc = ensure_dir(cfg->home);

	if (rc < 0) {
		log_error("data directory %s: %s (create it, or set home: / HERMETIC_HOME to a"
			  " writable directory)",
			  cfg->home, strerror(-rc));
		goto out;
	}
	if (!cfg->log.file && !cfg->audit.enabled)
		goto out;
	rc = ensure_dir(logs);
	if (rc == 0 && cfg->log.file)
		rc = log_open_file(file, (size_t)cfg->log.max_bytes, (int)cfg->log.keep);
	if (rc < 0)
		log_error("log file %s: %s", file, strerror(-rc));
	if (rc == 0 && cfg->audit.enabled) {
		rc = audit_open(trail, (size_t)cfg->audit.max_bytes, (int)cfg->audit.keep,
				cfg->audit.include_text);
		if (rc < 0)
			log_error("audit trail %s: %s", trail, strerror(-rc));
	}
out:
	free(logs);
	free(file);
	free(trail);
	return rc;
}

static long read_rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * sysconf(_SC_PAGESIZE);
}

static void collect(struct metrics *m, void *arg)
{
	struct daemon *d = arg;

	metric_set(d->m_rss, NULL, (double)read_rss_bytes());
	if (d->store && store_path(d->store)) {
		char wal[PATH_MAX];
		struct stat st;

		if (stat(store_path(d->store), &st) == 0)
			metric_set(d->m_db, (const char *const[]){"db"}, (double)st.st_size);
		snprintf(wal, sizeof(wal), "%s-wal", store_path(d->store));
		metric_set(d->m_db, (const char *const[]){"wal"},
			   stat(wal, &st) == 0 ? (double)st.st_size : 0);
	}
}

static void observe_http(const char *route, int status, void *arg)
{
	struct daemon *d = arg;
	char code[16];
	const char *values[] = {route, code, NULL};

	code[fmt_int(code, status)] = '\0';
	metric_inc(d->m_http, values, 1);
}

static void setup_metrics(struct daemon *d)
{
	static const char *const build_labels[] = {"version", "revision", NULL};
	static const char *const http_labels[] = {"route", "code", NULL};
	const char *build_values[] = {version_string(), version_revision(), NULL};
	struct metric *m;

	d->metrics = metrics_create();
	m = metrics_add(d->metrics, METRIC_GAUGE, "hermetic_build_info",
			"Version and git revision of the running binary", build_labels);
	metric_set(m, build_values, 1);
	m = metrics_add(d->metrics, METRIC_GAUGE, "hermetic_start_time_seconds",
			"Unix time the process started", NULL);
	metric_set(m, NULL, (double)d->start_wall_ms / 1000.0);
	d->m_rss = metrics_add(d->metrics, METRIC_GAUGE, "process_resident_memory_bytes",
			       "Resident memory size in bytes", NULL);
	d->m_http = metrics_add(d->metrics, METRIC_COUNTER, "hermetic_http_requests_total",
				"Requests answered by this process's HTTP servers, by route and"
				" status",
				http_labels);
	d->m_db = metrics_add(d->metrics, METRIC_GAUGE, "hermetic_state_db_bytes",
			      "Size of state.db and of its write-ahead log",
			      (const char *const[]){"file", NULL});
	metrics_on_collect(d->metrics, collect, d);
}

static void on_healthz(struct httpd_req *req, void *arg)
{
	httpd_reply(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static void on_readyz(struct httpd_req *req, void *arg)
{
	struct daemon *d = arg;
	char why[512]; /* a wrong Telegram token's line is about 330 bytes */

	if (d->stopping) {
		httpd_reply(req, 503, "text/plain; charset=utf-8", "stopping\n", 9);
		return;
	}
	if (d->ready && !d->ready(d->ready_arg, why, sizeof(why))) {
		httpd_reply(req, 503, "text/plain; charset=utf-8", why, strlen(why));
		return;
	}
	httpd_reply(req, 200, "text/plain; charset=utf-8", "ready\n", 6);
}

/* The metrics name spend, key aliases and MCP servers: a page that rebinds a name of its own
 * to this address must not read them, so the Host is checked as the API's is. An address
 * literal is safe to take when it is the one the client dialled: Prometheus scrapes a pod by
 * its IP, and a rebinding page always sends its own name. */
static bool metrics_host_ok(struct daemon *d, struct httpd_req *req, const char *host)
{
	char h[NETADDR_HOST_MAX + 1];
	struct netaddr want, local;

	if (!host || !netaddr_host_part(host, h, sizeof(h)))
		return false;
	if (netaddr_host_loopback(h))
		return true;
	if (netaddr_parse(h, &want) == 0 && httpd_local_addr(req, &local) == 0 &&
	    netaddr_equal(&want, &local))
		return true;
	return d->metrics_host && d->metrics_host(host, d->metrics_host_arg);
}

static void on_metrics(struct httpd_req *req, void *arg)
{
	struct daemon *d = arg;
	const char *host = httpd_header(req, "Host");
	struct buf out;

	if (!metrics_host_ok(d, req, host)) {
		buf_init(&out, 512);
		buf_printf(&out,
			   "Host '%.64s' does not name this server: use the address dialled "
			   "(the pod's IP), localhost, or (gateway) a name of api.allowed_hosts\n",
			   host ? host : "");
		httpd_reply(req, 403, "text/plain; charset=utf-8", buf_str(&out), out.len);
		buf_finish(&out);
		return;
	}
	buf_init(&out, 0);
	metrics_render(d->metrics, &out);
	httpd_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", buf_str(&out), out.len);
	buf_finish(&out);
}

static void on_signal(int signo, void *arg)
{
	struct daemon *d = arg;

	log_info("received %s, shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
	d->stopping = true;
	if (d->on_stop)
		d->on_stop(d, d->stop_arg);
	loop_stop(d->loop);
}

int daemon_init(struct daemon *d, const struct config *cfg, const char *what)
{
	char err[512], *db;
	int rc;

	d->cfg = cfg;
	d->start_wall_ms = now_wall_ms();
	fileio_test_env();
	signal(SIGPIPE, SIG_IGN);
	if (open_home(cfg) < 0)
		return -1;
	log_info("hermetic %s (%s) %s starting, home %s", version_string(), version_revision(),
		 what, cfg->home);
	db = xasprintf("%s/state.db", cfg->home);
	rc = store_open(db, &d->store, err, sizeof(err));
	free(db);
	if (rc < 0) {
		log_error("%s", err);
		return -1;
	}
	d->loop = loop_create();
	if (!d->loop)
		return -1;
	setup_metrics(d);
	if (loop_on_signal(d->loop, SIGTERM, on_signal, d) < 0 ||
	    loop_on_signal(d->loop, SIGINT, on_signal, d) < 0) {
		log_error("cannot install signal handlers");
		return -1;
	}
	return 0;
}

int daemon_listen_opts(struct daemon *d, const struct httpd_opts *o, const char *config_key,
		       struct httpd **out)
{
	char err[512];

	if (httpd_create(d->loop, o, out, err, sizeof(err)) < 0) {
		log_error("%s: %s (change %s or stop what holds the port)", config_key, err,
			  config_key);
		return -1;
	}
	httpd_set_observer(*out, observe_http, d);
	log_info("%s: listening on %s (port %d)", config_key, o->listen, httpd_port(*out));
	return 0;
}

int daemon_listen(struct daemon *d, const char *listen, const char *config_key, long max_body_bytes,
		  int timeout_s, struct httpd **out)
{
	struct httpd_opts o = {
		.listen = listen,
		.max_body_bytes = (size_t)max_body_bytes,
		.timeout_s = timeout_s,
	};
	char key[48];
	size_t section = strcspn(config_key, ".");

	/* "api.listen" -> "api.max_body_bytes": the key a refused client's operator changes. */
	snprintf(key, sizeof(key), "%.*s.max_body_bytes", (int)section, config_key);
	o.max_body_key = key;

	return daemon_listen_opts(d, &o, config_key, out);
}

void daemon_add_health_routes(struct daemon *d, struct httpd *h)
{
	httpd_route(h, HTTPD_GET | HTTPD_HEAD, "/healthz", on_healthz, d);
	httpd_route(h, HTTPD_GET | HTTPD_HEAD, "/readyz", on_readyz, d);
	httpd_route(h, HTTPD_GET, "/metrics", on_metrics, d);
}

int daemon_run(struct daemon *d)
{
	/* Callers seal before running: the checkpoint thread starts inside the sandbox. */
	store_start_checkpointer(d->store);
	/* From here on the loop serves: another process's lock on state.db must not stall it. */
	store_attach_loop(d->store, d->loop);
	audit_hold_for(d->store, d->loop);
	log_info("ready");
	if (loop_run(d->loop) < 0) {
		log_error("event loop failed");
		return -1;
	}
	return 0;
}

void daemon_finish(struct daemon *d)
{
	if (d->loop) {
		/* Cancelled transfers report on the next loop pass; run it so each callback fires.
		 */
		httpc_cancel_all(d->loop);
		event_base_loop(loop_base(d->loop), EVLOOP_NONBLOCK);
		event_base_loop(loop_base(d->loop), EVLOOP_NONBLOCK);
	}
	store_batch_end(d->store); /* writes the audit lines it holds */
	audit_hold_for(NULL, NULL);
	store_close(d->store);
	d->store = NULL;
	loop_destroy(d->loop);
	d->loop = NULL;
	metrics_destroy(d->metrics);
	d->metrics = NULL;
}
