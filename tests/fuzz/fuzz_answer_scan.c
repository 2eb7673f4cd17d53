/* Fuzz target of answer_scan: whenever the one-pass scan reads a text, cJSON must accept it as
 * an object and its tree must give exactly the same facts (tests/answer_scan_check.h); the
 * scan must never crash or read out of bounds. Seeds: tests/fuzz/corpus/answer_scan/. */
#include <stdint.h>
#include <stdlib.h>

#include "../answer_scan_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct answer_facts f;

	if (answer_scan_check((const char *)data, size, &f) < 0)
		abort();
	return 0;
}
