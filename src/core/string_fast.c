/* string_fast: strlen, strcmp, strncmp, memchr, memcmp, strchr and strchrnul sixteen bytes a
 * step, for the static musl build.
 *
 * Why: musl's are written for size, not speed: strcmp, strncmp and memcmp compare a byte at a
 * time, strlen, memchr and strchrnul a word at a time after a byte loop to align. glibc's,
 * which nginx and the other peers run on, are SSE2/AVX2. A proxied request of the router makes
 * about 130 of these calls (metric labels, header names, JSON member names, the upstream's
 * head); they were 5.4k of its 43k instructions (callgrind, benchmarks/router/profile.sh;
 * docs/numbers.md, "The twenty-fifth look"). The libraries the binary links (SQLite, libcurl,
 * libevent, cJSON) call them too.
 *
 * How: one source for x86_64 and aarch64 through the compiler's generic vectors (SSE2 and NEON
 * are both baseline). A compare gives 0xff in each byte it flags; mask16 turns that into a bit
 * a byte (pmovmskb on SSE2, a multiply per half elsewhere), whose lowest set bit is the first
 * flagged byte. A NUL-terminated string is read in aligned sixteen-byte blocks: such a block
 * never crosses a page, so the bytes before the string's start or after its end that it holds
 * are readable and their bits are dropped. strcmp and strncmp read two strings whose
 * alignments differ, so they read unaligned blocks and step a byte at a time while either is
 * within sixteen bytes of a 4 KiB boundary (pages are 4 KiB or a multiple). The over-reads are
 * outside C's object model: these functions are built without AddressSanitizer's checks, and
 * only where meson defines HERMETIC_STRING_FAST (the static musl build, the same link test as
 * alloc_front) do they replace the C library's: a static link takes the first definition it
 * meets, and libhermetic.a comes before libc.a (each of musl's is alone in its object file, so
 * nothing else drags musl's in). Everywhere else the sf_ names are only what the unit test
 * (tests/test_string_fast.c) holds to byte loops, at every alignment and length, against an
 * unmapped page; it runs twice, the second time built with STRING_FAST_GENERIC, which takes
 * the path aarch64 takes (the multiply) on x86_64 too.
 *
 * Rejected: calling sites one by one (the libraries' calls stay musl's), patching musl (the
 * build takes Debian's package unchanged), and AVX2 (not baseline on x86_64).
 */
#include "core/string_fast.h"

#include <stdint.h>
#include <string.h>

/* The byte loops below must stay loops: GCC could otherwise turn one back into a call of the
 * very function it is. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

typedef unsigned char u8;
typedef u8 v16 __attribute__((vector_size(16), may_alias));
typedef u8 v16u __attribute__((vector_size(16), may_alias, aligned(1)));
typedef signed char m16 __attribute__((vector_size(16)));

#define NO_ASAN __attribute__((no_sanitize("address", "hwaddress")))
#define PAGE	4096u

/* Bit i set where byte i of f is flagged (0xff). */
static inline unsigned mask16(m16 f)
{
#if defined(__SSE2__) && !defined(STRING_FAST_GENERIC)
	typedef char c16 __attribute__((vector_size(16)));
	return (unsigned)__builtin_ia32_pmovmskb128((c16)f);
#else
	const uint64_t ones = 0x0101010101010101ull, gather = 0x0102040810204080ull;
	uint64_t h[2];

	memcpy(h, &f, 16);
	return (unsigned)(((h[0] & ones) * gather) >> 56) |
	       (unsigned)(((h[1] & ones) * gather) >> 56) << 8;
#endif
}

static inline const u8 *align16(const void *p)
{
	return (const u8 *)((uintptr_t)p & ~(uintptr_t)15);
}

/* Within sixteen bytes of the end of a page: an unaligned block from here may cross it. */
static inline int near_page_end(const void *p)
{
	return ((uintptr_t)p & (PAGE - 1)) > PAGE - 16;
}

static inline unsigned ctz(unsigned m)
{
	return (unsigned)__builtin_ctz(m);
}

NO_ASAN size_t sf_strlen(const char *s)
{
	const u8 *a = align16(s);
	unsigned m = mask16((m16)(*(const v16 *)a == 0)) >> ((const u8 *)s - a);

	if (m)
		return ctz(m);
	for (;;) {
		a += 16;
		m = mask16((m16)(*(const v16 *)a == 0));
		if (m)
			return (size_t)(a + ctz(m) - (const u8 *)s);
	}
}

NO_ASAN char *sf_strchrnul(const char *s, int c)
{
	const u8 ch = (u8)c;
	const u8 *a = align16(s);
	v16 v = *(const v16 *)a;
	unsigned m;

	if (!ch)
		return (char *)s + sf_strlen(s);
	m = mask16((m16)(v == ch) | (m16)(v == 0)) >> ((const u8 *)s - a);
	if (m)
		return (char *)s + ctz(m);
	for (;;) {
		a += 16;
		v = *(const v16 *)a;
		m = mask16((m16)(v == ch) | (m16)(v == 0));
		if (m)
			return (char *)a + ctz(m);
	}
}

char *sf_strchr(const char *s, int c)
{
	char *r = sf_strchrnul(s, c);

	return *(u8 *)r == (u8)c ? r : NULL;
}

/* Aligned blocks: one may hold bytes past n (never past the block's page), whose bits say
 * nothing; a flagged byte counts only below n. */
NO_ASAN void *sf_memchr(const void *src, int c, size_t n)
{
	const u8 ch = (u8)c, *s = src, *a = align16(s);
	size_t head = (size_t)(s - a), left;
	unsigned m;

	if (!n)
		return NULL;
	m = mask16((m16)(*(const v16 *)a == ch)) >> head;
	if (m)
		return ctz(m) < n ? (void *)(s + ctz(m)) : NULL;
	if (n <= 16 - head)
		return NULL;
	left = n - (16 - head);
	for (;;) {
		a += 16;
		m = mask16((m16)(*(const v16 *)a == ch));
		if (m)
			return ctz(m) < left ? (void *)(a + ctz(m)) : NULL;
		if (left <= 16)
			return NULL;
		left -= 16;
	}
}

/* Both lengths are known: unaligned blocks inside them, then the last bytes one at a time. */
int sf_memcmp(const void *lp, const void *rp, size_t n)
{
	const u8 *l = lp, *r = rp;

	for (; n >= 16; n -= 16, l += 16, r += 16) {
		unsigned m = mask16((m16)(*(const v16u *)l != *(const v16u *)r));

		if (m)
			return l[ctz(m)] - r[ctz(m)];
	}
	for (; n; n--, l++, r++)
		if (*l != *r)
			return *l - *r;
	return 0;
}

/* Sixteen bytes of each while neither is near a page's end, else one: the first byte that
 * differs or ends l decides, at most n bytes in. */
NO_ASAN int sf_strncmp(const char *lp, const char *rp, size_t n)
{
	const u8 *l = (const u8 *)lp, *r = (const u8 *)rp;

	while (n) {
		if (near_page_end(l) || near_page_end(r)) {
			if (*l != *r || !*l)
				return *l - *r;
			l++, r++, n--;
			continue;
		}
		v16 x = *(const v16u *)l, y = *(const v16u *)r;
		unsigned m = mask16((m16)(x != y) | (m16)(x == 0));

		if (n < 16)
			m &= (1u << n) - 1;
		if (m)
			return l[ctz(m)] - r[ctz(m)];
		if (n <= 16)
			return 0;
		l += 16, r += 16, n -= 16;
	}
	return 0;
}

NO_ASAN int sf_strcmp(const char *lp, const char *rp)
{
	const u8 *l = (const u8 *)lp, *r = (const u8 *)rp;

	for (;;) {
		if (near_page_end(l) || near_page_end(r)) {
			if (*l != *r || !*l)
				return *l - *r;
			l++, r++;
			continue;
		}
		v16 x = *(const v16u *)l, y = *(const v16u *)r;
		unsigned m = mask16((m16)(x != y) | (m16)(x == 0));

		if (m)
			return l[ctz(m)] - r[ctz(m)];
		l += 16, r += 16;
	}
}

#ifdef HERMETIC_STRING_FAST
size_t strlen(const char *s) __attribute__((alias("sf_strlen")));
int strcmp(const char *l, const char *r) __attribute__((alias("sf_strcmp")));
int strncmp(const char *l, const char *r, size_t n) __attribute__((alias("sf_strncmp")));
void *memchr(const void *s, int c, size_t n) __attribute__((alias("sf_memchr")));
int memcmp(const void *l, const void *r, size_t n) __attribute__((alias("sf_memcmp")));
char *strchrnul(const char *s, int c) __attribute__((alias("sf_strchrnul")));
char *strchr(const char *s, int c) __attribute__((alias("sf_strchr")));
#endif
