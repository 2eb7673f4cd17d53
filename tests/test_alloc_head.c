/* alloc_head: every block records the size it was asked for, stays 16-byte aligned (or as
 * aligned as aligned_alloc asked), frees and reallocates through the allocator's own block,
 * refuses sizes that overflow with the head, and traps on a pointer that is not one of its
 * blocks or on a second free. The allocator underneath is the test's C library malloc with
 * counters, so every raw block given out is seen to come back. */
#include "test.h"

#include "core/alloc_head.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static long live; /* raw blocks given out and not freed */

static void *r_malloc(size_t n)
{
	void *p = malloc(n);

	live += p != NULL;
	return p;
}

static void *r_calloc(size_t m, size_t n)
{
	void *p = calloc(m, n);

	live += p != NULL;
	return p;
}

static void *r_realloc(void *p, size_t n)
{
	return realloc(p, n);
}

static void r_free(void *p)
{
	live -= p != NULL;
	free(p);
}

static const struct alloc_raw raw = {r_malloc, r_calloc, r_realloc, r_free};

/* The size asked for is the size recorded, for each entry point; blocks are 16-byte aligned. */
static void test_each_block_records_its_size(void **state)
{
	long before = live;
	unsigned char *a, *b, *c;

	(void)state;
	a = alloc_head_malloc(&raw, 100);
	b = alloc_head_calloc(&raw, 7, 9);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(alloc_head_size(a), 100);
	assert_int_equal(alloc_head_size(b), 63);
	assert_int_equal((uintptr_t)a % 16, 0);
	assert_int_equal((uintptr_t)b % 16, 0);
	for (int i = 0; i < 63; i++)
		assert_int_equal(b[i], 0);
	memset(a, 0x5a, 100);
	c = alloc_head_realloc(&raw, a, 5000);
	assert_non_null(c);
	assert_int_equal(alloc_head_size(c), 5000);
	for (int i = 0; i < 100; i++)
		assert_int_equal(c[i], 0x5a);
	c = alloc_head_realloc(&raw, c, 10);
	assert_int_equal(alloc_head_size(c), 10);
	assert_int_equal(c[9], 0x5a);
	assert_int_equal(live, before + 2);
	alloc_head_free(&raw, b);
	alloc_head_free(&raw, c);
	alloc_head_free(&raw, NULL);
	assert_int_equal(live, before);
	c = alloc_head_realloc(&raw, NULL, 3); /* realloc(NULL, n) is malloc(n) */
	assert_int_equal(alloc_head_size(c), 3);
	alloc_head_free(&raw, c);
	assert_int_equal(live, before);
}

/* aligned_alloc's blocks are as aligned as asked, record their size, and free, reallocate
 * (keeping their bytes) and free again through the allocator's own block. */
static void test_aligned_blocks_free_and_move_like_any_other(void **state)
{
	long before = live;

	(void)state;
	for (size_t align = 1; align <= 8192; align *= 2) {
		unsigned char *p = alloc_head_aligned(&raw, align, 300), *q;

		assert_non_null(p);
		assert_int_equal((uintptr_t)p % (align < 16 ? 16 : align), 0);
		assert_int_equal(alloc_head_size(p), 300);
		memset(p, 0x33, 300);
		q = alloc_head_realloc(&raw, p, 600);
		assert_non_null(q);
		assert_int_equal(alloc_head_size(q), 600);
		for (int i = 0; i < 300; i++)
			assert_int_equal(q[i], 0x33);
		alloc_head_free(&raw, q);
		assert_int_equal(live, before);
	}
	errno = 0;
	assert_null(alloc_head_aligned(&raw, 24, 10));
	assert_int_equal(errno, EINVAL);
	assert_null(alloc_head_aligned(&raw, 0, 10));
	assert_int_equal(errno, EINVAL);
}

/* A size that overflows once the head is added is refused with ENOMEM, never wrapped round to
 * a small block; the block a failed realloc was given stays whole. */
static void test_sizes_that_overflow_with_the_head_are_refused(void **state)
{
	unsigned char *p;
	long before = live;

	(void)state;
	errno = 0;
	assert_null(alloc_head_malloc(&raw, SIZE_MAX - 8));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(alloc_head_calloc(&raw, SIZE_MAX / 2, 3));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(alloc_head_calloc(&raw, 1, SIZE_MAX - 4));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(alloc_head_aligned(&raw, 64, SIZE_MAX - 32));
	assert_int_equal(errno, ENOMEM);
	p = alloc_head_malloc(&raw, 8);
	memcpy(p, "abcdefg", 8);
	errno = 0;
	assert_null(alloc_head_realloc(&raw, p, SIZE_MAX - 1));
	assert_int_equal(errno, ENOMEM);
	assert_string_equal((char *)p, "abcdefg");
	alloc_head_free(&raw, p);
	assert_int_equal(live, before);
}

/* Runs fn in a child; true when the child died of SIGILL or SIGTRAP (__builtin_trap). */
static int traps(void (*fn)(void))
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		signal(SIGILL, SIG_DFL);
		signal(SIGTRAP, SIG_DFL);
		fn();
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && (WTERMSIG(status) == SIGILL || WTERMSIG(status) == SIGTRAP);
}

static void free_foreign(void)
{
	uint64_t *p = calloc(8, sizeof(*p)); /* a block without a head: zeros before p + 2 */

	alloc_head_free(&raw, p + 2);
}

/* An allocator underneath whose free keeps the memory, as musl keeps a freed slot's group
 * mapped while others in it are in use: the second free then reads the head as the first left
 * it (the C library's free would hand the block back, and the sanitizers rightly stop at the
 * read before the check could). */
static void r_keep(void *p)
{
	(void)p;
}

static const struct alloc_raw kept = {r_malloc, r_calloc, r_realloc, r_keep};

static void free_twice(void)
{
	void *p = alloc_head_malloc(&kept, 40);

	alloc_head_free(&kept, p);
	alloc_head_free(&kept, p);
}

static void overwritten_head(void)
{
	unsigned char *p = alloc_head_malloc(&raw, 40);

	p[-16] ^= 1; /* the size field, as an underrun of the block before would */
	(void)alloc_head_size(p);
}

static void good_block(void)
{
	void *p = alloc_head_malloc(&raw, 40);

	(void)alloc_head_size(p);
	alloc_head_free(&raw, p);
}

/* A pointer that is not a block, a second free and an overwritten head each stop the process
 * before the allocator underneath sees a wrong address; a good block does not. */
static void test_a_bad_pointer_traps(void **state)
{
	(void)state;
	assert_false(traps(good_block));
	assert_true(traps(free_foreign));
	assert_true(traps(free_twice));
	assert_true(traps(overwritten_head));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_block_records_its_size),
		cmocka_unit_test(test_aligned_blocks_free_and_move_like_any_other),
		cmocka_unit_test(test_sizes_that_overflow_with_the_head_are_refused),
		cmocka_unit_test(test_a_bad_pointer_traps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
