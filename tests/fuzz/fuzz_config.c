/* Fuzz target of config_parse(): any bytes must give a config or errors, never a crash, a
 * leak, unbounded recursion or an endless loop. Build (see tests/fuzz/corpus/config/ for
 * seeds):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_config.c src/core/config.c src/core/cronexpr.c src/core/util.c src/core/log.c \
 *     -lyaml -lmbedcrypto
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/config.h"
#include "core/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("OPENROUTER_API_KEY", "sk-or-v1-fuzz", 1);
	setenv("LITELLM_MASTER_KEY", "sk-fuzz-master", 1);
	setenv("TELEGRAM_BOT_TOKEN", "123:fuzz-token", 1);
	setenv("MCP_TOKEN", "fuzz-mcp", 1);
	setenv("EMPTY", "", 1);
	unsetenv("HERMETIC_HOME");
	log_set_stderr(0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_diag *diag = config_diag_create();
	struct config *cfg = NULL;
	FILE *null = fopen("/dev/null", "w");

	if (config_parse("fuzz.yaml", (const char *)data, size, &cfg, diag) == 0 && null)
		config_print_summary(cfg, null);
	if (null) {
		config_diag_print(diag, null);
		fclose(null);
	}
	config_destroy(cfg);
	config_diag_destroy(diag);
	/* Forget the secrets a successful parse registered: log.c holds at most 64. */
	log_forget_secrets();
	return 0;
}
