/* cli_pools: `hermetic pools`: the rate pools of the running router or gateway. */
#ifndef HERMETIC_CLI_POOLS_H
#define HERMETIC_CLI_POOLS_H

struct config;

/* Asks the `hermetic router` on cfg's router.listen (GET /pools, general_settings.master_key)
 * and, when none answers there, the gateway on api.listen (GET /v1/pools, api.key), and prints
 * each pool: its ceiling, the window's used and reserved tokens, calls in flight, what the
 * provider said is left, a block, the queue per class and the waits since start. Returns 0,
 * or 1 (nothing answered, refused, or not JSON; why on stderr). */
int cli_pools(const struct config *cfg);

#endif
