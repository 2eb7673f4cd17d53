/* Fuzz target of config_parse(): any bytes must give a config or errors, never a crash, a
 * leak, unbounded recursion or an endless loop; a config that loads is also printed with the
 * `config check` summaries (core/config_compat.c, cli/cli_config.c). Built by meson with
 * -Dfuzz=true (tests/meson.build, linked against libhermetic); seeds in
 * tests/fuzz/corpus/config/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cli/cli_config.h"
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

	/* both modes of `config check`: --strict on odd sizes */
	config_diag_set_strict(diag, size & 1);
	if (config_parse("fuzz.yaml", (const char *)data, size, &cfg, diag) == 0 && null) {
		config_print_compat(cfg, diag, null);
		cli_config_print_summary(cfg, null);
	}
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
