/* alloc_front: the release binary's malloc, calloc, realloc and free, through alloc_keep over
 * musl's own (static musl builds, HERMETIC_MALLOC_FRONT); elsewhere these calls do nothing. */
#ifndef HERMETIC_CORE_ALLOC_FRONT_H
#define HERMETIC_CORE_ALLOC_FRONT_H

#include <stddef.h>

/* Starts keeping freed blocks, up to cap bytes (0: none, the default). Call from the main
 * thread before other threads allocate much; a later call changes the cap. */
void alloc_front_keep(size_t cap);

/* Gives back what sat unused for a second (alloc_keep_decay); cheap when nothing is kept. An
 * idle loop calls it from a 1 s timer while alloc_front_bytes() is not 0. */
void alloc_front_decay(void);

/* The bytes kept now. */
size_t alloc_front_bytes(void);

#endif
