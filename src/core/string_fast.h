/* string_fast: the C library's byte searches and comparisons sixteen bytes a step, for the
 * static musl build (see string_fast.c for why and how). The sf_ names are there in every
 * build (the unit test holds them to the C library's); only where meson defines
 * HERMETIC_STRING_FAST are they also strlen, strcmp, strncmp, memchr, memcmp, strchr and
 * strchrnul, and on x86_64 memcpy, memmove and memset. */
#ifndef HERMETIC_CORE_STRING_FAST_H
#define HERMETIC_CORE_STRING_FAST_H

#include <stddef.h>

size_t sf_strlen(const char *s);
int sf_strcmp(const char *l, const char *r);
int sf_strncmp(const char *l, const char *r, size_t n);
void *sf_memchr(const void *s, int c, size_t n);
int sf_memcmp(const void *l, const void *r, size_t n);
char *sf_strchrnul(const char *s, int c);
char *sf_strchr(const char *s, int c);
void *sf_memcpy(void *restrict d, const void *restrict s, size_t n);
void *sf_memmove(void *d, const void *s, size_t n);
void *sf_memset(void *d, int c, size_t n);

#endif
