/* balance: what a provider says is left on its account, for the deployments of model_list
 * (spend layer 5, outside hermetic's own ledger): OpenRouter's GET <api_base>/key (the key's
 * credit limit, what is left of it, its usage) and DeepSeek's GET /user/balance (the account's
 * balances per currency). Used by `hermetic doctor` and by the gateway's balance watch.
 *
 * Async contract (httpc's): if balance_fetch returns an error, done never fires; otherwise it
 * fires exactly once, from the loop. Every request is bounded in time and size. The key is
 * sent as a Bearer token and never appears in a result; error texts are redacted.
 */
#ifndef HERMETIC_BALANCE_H
#define HERMETIC_BALANCE_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct loop;

enum balance_provider { BALANCE_OPENROUTER, BALANCE_DEEPSEEK };

struct balance {
	bool has_limit;		/* openrouter: the key has a credit limit */
	double limit_usd;	/* openrouter: the key's limit */
	double remaining_usd;	/* openrouter: limit_remaining; deepseek: the USD balance */
	bool has_remaining;	/* remaining_usd is known (a limit, or a USD balance) */
	double usage_usd;	/* openrouter: all-time usage of the key */
	double usage_daily_usd; /* openrouter: today's; < 0 = not given */
	char limit_reset[32];	/* openrouter: "daily", "monthly"...; "" = none */
	double cny;		/* deepseek: the CNY balance; < 0 = none */
	bool available;		/* deepseek: is_available (openrouter: true) */
};

/* One distinct (provider, api_base, api_key) of model_list. */
struct balance_account {
	enum balance_provider provider;
	const char *api_base, *api_key; /* borrowed from the config */
	const char *group;		/* the first model group using it (borrowed) */
};

/* The distinct accounts of cfg's openrouter/ and deepseek/ deployments with a key, at most
 * max, in config order. Returns how many were written. */
size_t balance_accounts(const struct config *cfg, struct balance_account *out, size_t max);

const char *balance_provider_name(enum balance_provider p);

/* Parse an answer body. 0, or -EINVAL when it is not the provider's documented shape. */
int balance_parse_openrouter(const char *body, size_t len, struct balance *out);
int balance_parse_deepseek(const char *body, size_t len, struct balance *out);

/* ok: b is filled; else error says why (redacted, borrowed for the call). */
typedef void (*balance_done_cb)(bool ok, const struct balance *b, const char *error, void *arg);

/* Starts the GET for account a (copied what it needs). Returns 0, or -EINVAL (no key, bad
 * api_base): done does not fire then. */
int balance_fetch(struct loop *l, const struct balance_account *a, balance_done_cb done, void *arg);

#endif
