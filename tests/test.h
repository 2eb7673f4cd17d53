/* Shared includes and small helpers for the cmocka unit tests. */
#ifndef HERMETIC_TEST_H
#define HERMETIC_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <string.h>
#include <time.h>

/* A sanitizer build runs 5-20x slower: a test that drives many requests sizes its work by this,
 * keeping the property it asserts (TEST_SCALE_DOWN is 1 in a plain build). */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define TEST_SANITIZED	1
#define TEST_SCALE_DOWN 5
#else
#define TEST_SANITIZED	0
#define TEST_SCALE_DOWN 1
#endif

/* Milliseconds on the monotonic clock: waits in tests are bounded by elapsed time, never by a
 * count of steps that each take longer than planned on a loaded machine. */
static inline long test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Entries of dir other than . and .. (the test fails if dir cannot be opened). */
static inline size_t test_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

#endif
