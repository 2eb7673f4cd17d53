/* store_mem: SQLite's allocator, keeping its 8-32 KiB blocks for reuse (see store_mem.c). */
#ifndef HERMETIC_STORE_MEM_H
#define HERMETIC_STORE_MEM_H

#include <stdbool.h>

/* Installs the allocator once, before SQLite's first use in the process (store_open_with
 * calls it; later calls do nothing). Once SQLite is initialized it keeps its own methods. */
void store_mem_install(void);
/* Whether the allocator is SQLite's (false when SQLite was initialized first). */
bool store_mem_installed(void);
/* Blocks taken from the kept ones, and blocks given back and kept, since the start. */
void store_mem_stats(unsigned long *reused, unsigned long *kept_back);

#endif
