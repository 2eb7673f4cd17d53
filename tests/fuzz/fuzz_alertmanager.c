/* Fuzz target of am_parse (Alertmanager's webhook payload) and what runs on its result: the
 * fingerprint set and the runbook front-matter match over the same bytes. It must return 0 or
 * -EINVAL with an error line, keep the caps (AM_ALERTS_MAX alerts, AM_LABELS_MAX labels), and
 * never crash, leak or read out of bounds.
 * Build with the meson option -Dfuzz=true (clang), or run the seeds in
 * tests/fuzz/corpus/alertmanager/ as plain files.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/util.h"
#include "ops/alertmanager.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct am_notification n;
	char err[256];
	struct buf fps;
	size_t matched;
	int rc = am_parse((const char *)data, size, &n, err, sizeof(err));

	if (rc != 0 && rc != -EINVAL)
		abort();
	if (rc == 0) {
		if (n.n_alerts > AM_ALERTS_MAX)
			abort();
		for (size_t i = 0; i < n.n_alerts; i++)
			if (n.alerts[i].n_labels > AM_LABELS_MAX)
				abort();
		buf_init(&fps, 0);
		am_fingerprints(&n, &fps);
		if (n.n_alerts)
			am_runbook_matches((const char *)data, size, n.alerts[0].labels,
					   n.alerts[0].n_labels, &matched);
		buf_finish(&fps);
		am_notification_finish(&n);
	}
	return 0;
}
