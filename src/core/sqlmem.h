/* sqlmem: SQLite's memory methods, with the freed small blocks kept in per-size free lists
 * for reuse instead of going back to the system allocator at once (see sqlmem.c for why). */
#ifndef HERMETIC_CORE_SQLMEM_H
#define HERMETIC_CORE_SQLMEM_H

#include <stddef.h>

/* Installs them, once, before SQLite's first use (store_open does); later it does nothing
 * and SQLite keeps malloc's. Thread-safe. */
void sqlmem_install(void);
/* Bytes waiting in the free lists now (tests). */
size_t sqlmem_kept(void);

#endif
