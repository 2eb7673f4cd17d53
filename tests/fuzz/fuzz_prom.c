/* Fuzz target of prom: the rendering of Prometheus answers (any bytes, any HTTP status from
 * the first byte, a small series cap from the second) must return 0 or -EINVAL with text that
 * never crashes, leaks or reads out of bounds; the time and duration parsers get the same
 * bytes as a string and must return 0 (with a finite value) or -EINVAL.
 * Build (see tests/fuzz/corpus/prom/ for seeds):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     -I/usr/include/cjson tests/fuzz/fuzz_prom.c src/net/prom.c src/net/html_text.c \
 *     src/core/util.c src/core/log.c -lcjson -lmbedcrypto -lm
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/prom.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_args(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	double v = 0;
	int rc;

	rc = prom_parse_time(s, 1714564800, &v);
	if ((rc != 0 && rc != -EINVAL) || (rc == 0 && !isfinite(v)))
		abort();
	rc = prom_parse_duration(s, &v);
	if ((rc != 0 && rc != -EINVAL) || (rc == 0 && !(v > 0)))
		abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = {200, 400, 404, 422, 502, 503};
	struct buf out;
	int rc;

	if (size < 2)
		return 0;
	parse_args(data + 2, size - 2);
	buf_init(&out, 256 * 1024);
	/* The first byte also picks the kind: a query answer or one of the listings. */
	rc = prom_render_kind((enum prom_kind)(data[0] / 6 % 5), (const char *)data + 2, size - 2,
			      statuses[data[0] % 6], 1 + data[1] % 60, &out);
	if ((rc != 0 && rc != -EINVAL) || (rc < 0 && out.len == 0))
		abort();
	buf_finish(&out);
	{
		struct prom_matrix m;

		rc = prom_matrix_parse((const char *)data + 2, size - 2, 8, 100, &m);
		if ((rc != 0 && rc != -EINVAL) || m.n > 8)
			abort();
		prom_matrix_finish(&m);
	}
	return 0;
}
