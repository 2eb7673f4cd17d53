/* gateway: `hermetic gateway`, the always-on process. Today it serves the loopback API's
 * health, readiness and metrics routes on api.listen; the agent, Telegram, hooks and cron
 * attach to the same loop. */
#include "gateway.h"
#include "config.h"
#include "daemon.h"
#include "httpd.h"
#include "log.h"

int gateway_run(const struct config *cfg)
{
	struct daemon d = {0};
	struct httpd *api = NULL;
	int rc = 1;

	if (daemon_init(&d, cfg, "gateway") < 0)
		goto out;
	if (daemon_listen(&d, cfg->api.listen.addr, "api.listen", (long)cfg->api.max_body_bytes,
			  (int)cfg->api.timeout_s, &api) < 0)
		goto out;
	daemon_add_health_routes(&d, api);
	if (daemon_run(&d) == 0)
		rc = 0;
out:
	httpd_destroy(api);
	daemon_finish(&d);
	if (rc == 0)
		log_info("stopped cleanly");
	return rc;
}
