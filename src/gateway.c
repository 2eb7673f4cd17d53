/* gateway: wires the modules of the daemon together on one loop.
 *
 * Start-up order: data directories -> log file -> store -> loop -> metrics -> HTTP server ->
 * signals. Shutdown reverses it: stop accepting, cancel outstanding transfers and let their
 * callbacks run once more on the loop, close the store (WAL checkpoint), free everything.
 */
#include "gateway.h"
#include "config.h"
#include "httpc.h"
#include "httpd.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "store.h"
#include "util.h"
#include "version.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct gateway {
	const struct config *cfg;
	struct loop *loop;
	struct store *store;
	struct metrics *metrics;
	struct httpd *api;
	struct metric *m_http;
	struct metric *m_rss;
	int64_t start_wall_ms;
	int stopping;
};

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
	int rc = ensure_dir(cfg->home);

	if (rc < 0) {
		log_error("data directory %s: %s (create it, or set home: / HERMETIC_HOME to a"
			  " writable directory)", cfg->home, strerror(-rc));
		goto out;
	}
	if (!cfg->log.file)
		goto out;
	rc = ensure_dir(logs);
	if (rc == 0)
		rc = log_open_file(file, (size_t)cfg->log.max_bytes, cfg->log.keep);
	if (rc < 0)
		log_error("log file %s: %s", file, strerror(-rc));
out:
	free(logs);
	free(file);
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
	struct gateway *g = arg;

	metric_set(g->m_rss, NULL, (double)read_rss_bytes());
}

static void observe_http(const char *route, int status, void *arg)
{
	struct gateway *g = arg;
	char code[16];
	const char *values[] = {route, code, NULL};

	snprintf(code, sizeof(code), "%d", status);
	metric_inc(g->m_http, values, 1);
}

static void setup_metrics(struct gateway *g)
{
	static const char *const build_labels[] = {"version", "revision", NULL};
	static const char *const http_labels[] = {"route", "code", NULL};
	const char *build_values[] = {version_string(), version_revision(), NULL};
	struct metric *m;

	g->metrics = metrics_create();
	m = metrics_add(g->metrics, METRIC_GAUGE, "hermetic_build_info",
			"Version and git revision of the running binary", build_labels);
	metric_set(m, build_values, 1);
	m = metrics_add(g->metrics, METRIC_GAUGE, "hermetic_start_time_seconds",
			"Unix time the process started", NULL);
	metric_set(m, NULL, (double)g->start_wall_ms / 1000.0);
	g->m_rss = metrics_add(g->metrics, METRIC_GAUGE, "process_resident_memory_bytes",
			       "Resident memory size in bytes", NULL);
	g->m_http = metrics_add(g->metrics, METRIC_COUNTER, "hermetic_http_requests_total",
				"Requests answered by the loopback API, by route and status",
				http_labels);
	metrics_on_collect(g->metrics, collect, g);
}

static void on_healthz(struct evhttp_request *req, void *arg)
{
	httpd_reply(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static void on_readyz(struct evhttp_request *req, void *arg)
{
	struct gateway *g = arg;

	if (g->stopping) {
		httpd_reply(req, 503, "text/plain; charset=utf-8", "stopping\n", 9);
		return;
	}
	httpd_reply(req, 200, "text/plain; charset=utf-8", "ready\n", 6);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct gateway *g = arg;
	struct buf out;

	buf_init(&out, 0);
	metrics_render(g->metrics, &out);
	httpd_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", buf_str(&out), out.len);
	buf_finish(&out);
}

static void on_signal(int signo, void *arg)
{
	struct gateway *g = arg;

	log_info("received %s, shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
	g->stopping = 1;
	loop_stop(g->loop);
}

static int start_api(struct gateway *g)
{
	struct httpd_opts o = {
		.listen = g->cfg->api.listen.addr,
		.max_body_bytes = (size_t)g->cfg->api.max_body_bytes,
		.timeout_s = (int)g->cfg->api.timeout_s,
	};
	char err[512];

	if (httpd_create(g->loop, &o, &g->api, err, sizeof(err)) < 0) {
		log_error("loopback API: %s (change api.listen or stop what holds the port)", err);
		return -1;
	}
	httpd_set_observer(g->api, observe_http, g);
	httpd_route(g->api, HTTPD_GET | HTTPD_HEAD, "/healthz", on_healthz, g);
	httpd_route(g->api, HTTPD_GET | HTTPD_HEAD, "/readyz", on_readyz, g);
	httpd_route(g->api, HTTPD_GET, "/metrics", on_metrics, g);
	log_info("loopback API listening on %s (port %d)", g->cfg->api.listen.addr,
		 httpd_port(g->api));
	return 0;
}

static void shutdown_all(struct gateway *g)
{
	httpd_destroy(g->api);
	g->api = NULL;
	if (g->loop) {
		/* Cancelled transfers report on the next loop pass; run it so each callback fires. */
		httpc_cancel_all(g->loop);
		event_base_loop(loop_base(g->loop), EVLOOP_NONBLOCK);
		event_base_loop(loop_base(g->loop), EVLOOP_NONBLOCK);
	}
	store_close(g->store);
	g->store = NULL;
	loop_destroy(g->loop);
	g->loop = NULL;
	metrics_destroy(g->metrics);
	g->metrics = NULL;
}

int gateway_run(const struct config *cfg)
{
	struct gateway g = {.cfg = cfg, .start_wall_ms = now_wall_ms()};
	char err[512], *db = NULL;
	int rc = 1;

	signal(SIGPIPE, SIG_IGN);
	if (open_home(cfg) < 0)
		goto out;
	log_info("hermetic %s (%s) gateway starting, home %s", version_string(),
		 version_revision(), cfg->home);
	db = xasprintf("%s/state.db", cfg->home);
	if (store_open(db, &g.store, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	g.loop = loop_create();
	if (!g.loop)
		goto out;
	setup_metrics(&g);
	if (start_api(&g) < 0)
		goto out;
	if (loop_on_signal(g.loop, SIGTERM, on_signal, &g) < 0 ||
	    loop_on_signal(g.loop, SIGINT, on_signal, &g) < 0) {
		log_error("cannot install signal handlers");
		goto out;
	}
	log_info("ready");
	if (loop_run(g.loop) < 0) {
		log_error("event loop failed");
		goto out;
	}
	rc = 0;
out:
	shutdown_all(&g);
	if (rc == 0)
		log_info("stopped cleanly");
	free(db);
	return rc;
}
