/* cli_alerts: `hermetic alerts test`. The sends go through net/notify.c on a private loop, all
 * at once; the loop stops when the last one is answered. Each is bounded by its channel's
 * timeout_s, so the command ends. Errors are redacted by notify. */
#include "cli/cli_alerts.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/util.h"
#include "net/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const type_names[] = {"email", "ntfy", "webhook"};

struct result {
	struct loop *loop;
	size_t *pending;
	char *line;
	bool ok;
};

static void on_sent(bool ok, const char *error, void *arg)
{
	struct result *r = arg;

	r->ok = ok;
	r->line = ok ? xstrdup("ok") : xasprintf("FAILED: %s", error);
	if (--*r->pending == 0)
		loop_stop(r->loop);
}

int cli_alerts_test(const struct config *cfg)
{
	const struct config_alerts *ac = &cfg->alerts;
	struct loop *l;
	struct result *res;
	size_t pending = 0, i;
	char host[64] = "hermetic";
	int rc = 0;

	if (!ac->n_channels) {
		fprintf(stderr, "hermetic: no alerts.channels in the config: nothing to test\n");
		return 1;
	}
	l = loop_create();
	if (!l) {
		fprintf(stderr, "hermetic: cannot create the event loop\n");
		return 1;
	}
	gethostname(host, sizeof(host) - 1);
	res = xcalloc(ac->n_channels, sizeof(*res));
	for (i = 0; i < ac->n_channels; i++) {
		struct notify_msg m = {
			"test",
			"Test alert from hermetic",
			"This is a test alert sent by `hermetic alerts test`. If you "
			"read it, this channel works.",
			false,
			now_wall_ms(),
			host};

		res[i].loop = l;
		res[i].pending = &pending;
		if (notify_send(l, &ac->channels[i], &m, on_sent, &res[i], NULL) == 0)
			pending++;
		else
			res[i].line = xstrdup("FAILED: cannot start the request (bad url?)");
	}
	if (pending)
		loop_run(l);
	for (i = 0; i < ac->n_channels; i++) {
		printf("%s (%s): %s\n", ac->channels[i].name, type_names[ac->channels[i].type],
		       res[i].line);
		if (!res[i].ok)
			rc = 1;
		free(res[i].line);
	}
	free(res);
	loop_destroy(l);
	return rc;
}
