/* daemon: what every long-running command shares (`gateway`, `router`): the data directory,
 * the log file, the store, the loop, the base metrics, the health routes and clean shutdown
 * on SIGTERM/SIGINT. */
#ifndef HERMETIC_DAEMON_H
#define HERMETIC_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct httpd;
struct httpd_opts;
struct loop;
struct metrics;
struct store;

struct daemon {
	const struct config *cfg;
	struct loop *loop;
	struct store *store;
	struct metrics *metrics;
	int64_t start_wall_ms;
	bool stopping; /* set on SIGTERM/SIGINT; /readyz answers 503 from then on */
	/* Called on the loop when a stop signal arrives, before the loop exits (optional). */
	void (*on_stop)(struct daemon *d, void *arg);
	void *stop_arg;
	/* Optional: /readyz answers 503 with why when this says false. */
	bool (*ready)(void *arg, char *why, size_t len);
	void *ready_arg;
	/* Optional: whether a Host header value (never NULL) names this server, besides the
	 * names /metrics always takes (loopback, and the address literal the request came in
	 * on); the gateway passes api.allowed_hosts' check. */
	bool (*metrics_host)(const char *host, void *arg);
	void *metrics_host_arg;
	struct metric *m_http;
	struct metric *m_rss;
	struct metric *m_db; /* hermetic_state_db_bytes{file} */
};

/* Opens home (created 0700), the log file, home/state.db, the loop and the base metrics, and
 * installs the signal handlers. what names the command in log lines. Returns 0, or -1 after
 * logging what to do; daemon_finish() must be called either way. */
int daemon_init(struct daemon *d, const struct config *cfg, const char *what);
/* Starts an HTTP server on listen with the daemon's metrics observer. Returns 0 or -1 (logged,
 * naming the config key). */
int daemon_listen(struct daemon *d, const char *listen, const char *config_key, long max_body_bytes,
		  int timeout_s, struct httpd **out);
/* The same with every httpd option (connection cap and deadlines). */
int daemon_listen_opts(struct daemon *d, const struct httpd_opts *o, const char *config_key,
		       struct httpd **out);
/* Adds GET /healthz, /readyz and /metrics to h. The probes take any Host (they reveal
 * nothing); /metrics answers 403 unless the Host is loopback, the address literal the
 * connection was accepted on (a scrape of a pod's IP), or one metrics_host accepts. */
void daemon_add_health_routes(struct daemon *d, struct httpd *h);
/* Starts the store's checkpoint thread, then runs the loop until a stop signal. Call it after
 * sandbox_seal(). Returns 0 or -1. */
int daemon_run(struct daemon *d);
/* Cancels outstanding HTTP transfers, lets their callbacks run, closes the store (WAL
 * checkpoint) and frees the loop and metrics. Servers must be destroyed before. */
void daemon_finish(struct daemon *d);

#endif
