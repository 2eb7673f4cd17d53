/* string_fast: strlen, strcmp, strncmp, memchr, memcmp, strchr and strchrnul sixteen bytes a
 * step, for the static musl build, and on x86_64 memcpy, memmove and memset too.
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

/* Copies and fills. Up to 64 bytes: two to four moves of the widest size that fits, the last
 * one overlapping the first (a 20-byte copy is two 16-byte moves, at 0 and at 4), every load
 * before any store, so the same code serves memmove's overlapping blocks. Longer: sixteen bytes
 * a step, the block at the far end loaded first and stored last, in the direction overlap
 * allows. */
typedef uint64_t u64u __attribute__((may_alias, aligned(1)));
typedef uint32_t u32u __attribute__((may_alias, aligned(1)));
typedef uint16_t u16u __attribute__((may_alias, aligned(1)));

static inline v16 load16(const u8 *p)
{
	return *(const v16u *)p;
}

static inline void store16(u8 *p, v16 v)
{
	*(v16u *)p = v;
}

static inline void move_upto64(u8 *d, const u8 *s, size_t n)
{
	if (n <= 16) {
		if (n >= 8) {
			uint64_t a = *(const u64u *)s, b = *(const u64u *)(s + n - 8);

			*(u64u *)d = a;
			*(u64u *)(d + n - 8) = b;
		} else if (n >= 4) {
			uint32_t a = *(const u32u *)s, b = *(const u32u *)(s + n - 4);

			*(u32u *)d = a;
			*(u32u *)(d + n - 4) = b;
		} else if (n >= 2) {
			uint16_t a = *(const u16u *)s, b = *(const u16u *)(s + n - 2);

			*(u16u *)d = a;
			*(u16u *)(d + n - 2) = b;
		} else if (n) {
			*d = *s;
		}
	} else if (n <= 32) {
		v16 a = load16(s), b = load16(s + n - 16);

		store16(d, a);
		store16(d + n - 16, b);
	} else {
		v16 a = load16(s), b = load16(s + 16), c = load16(s + n - 32),
		    e = load16(s + n - 16);

		store16(d, a);
		store16(d + 16, b);
		store16(d + n - 32, c);
		store16(d + n - 16, e);
	}
}

/* n > 16, d below s or apart: each block is loaded before the stores reach it. */
static inline void move_up(u8 *d, const u8 *s, size_t n)
{
	v16 last = load16(s + n - 16);

	for (size_t i = 0; i + 16 < n; i += 16)
		store16(d + i, load16(s + i));
	store16(d + n - 16, last);
}

/* n > 16, d above s within n: from the end down. */
static inline void move_down(u8 *d, const u8 *s, size_t n)
{
	v16 first = load16(s);

	for (size_t i = n; i > 16; i -= 16)
		store16(d + i - 16, load16(s + i - 16));
	store16(d, first);
}

void *sf_memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	if (n <= 64)
		move_upto64(dst, src, n);
	else
		move_up(dst, src, n);
	return dst;
}

void *sf_memmove(void *dst, const void *src, size_t n)
{
	u8 *d = dst;
	const u8 *s = src;

	if (n <= 64)
		move_upto64(d, s, n);
	else if ((uintptr_t)d - (uintptr_t)s >= n) /* d below s, or past its end */
		move_up(d, s, n);
	else
		move_down(d, s, n);
	return dst;
}

void *sf_memset(void *dst, int c, size_t n)
{
	u8 *d = dst;
	const u8 b = (u8)c;
	const v16 v = (v16){0} + b;
	const uint64_t w = 0x0101010101010101ull * b;

	if (n <= 16) {
		if (n >= 8) {
			*(u64u *)d = w;
			*(u64u *)(d + n - 8) = w;
		} else if (n >= 4) {
			*(u32u *)d = (uint32_t)w;
			*(u32u *)(d + n - 4) = (uint32_t)w;
		} else if (n >= 2) {
			*(u16u *)d = (uint16_t)w;
			*(u16u *)(d + n - 2) = (uint16_t)w;
		} else if (n) {
			*d = b;
		}
		return dst;
	}
	for (size_t i = 0; i + 16 < n; i += 16)
		store16(d + i, v);
	store16(d + n - 16, v);
	return dst;
}

#ifdef HERMETIC_STRING_FAST
size_t strlen(const char *s) __attribute__((alias("sf_strlen")));
int strcmp(const char *l, const char *r) __attribute__((alias("sf_strcmp")));
int strncmp(const char *l, const char *r, size_t n) __attribute__((alias("sf_strncmp")));
void *memchr(const void *s, int c, size_t n) __attribute__((alias("sf_memchr")));
int memcmp(const void *l, const void *r, size_t n) __attribute__((alias("sf_memcmp")));
char *strchrnul(const char *s, int c) __attribute__((alias("sf_strchrnul")));
char *strchr(const char *s, int c) __attribute__((alias("sf_strchr")));
/* musl's x86_64 copies and fills are rep movsq and rep stosq, with a byte loop on either side:
 * a few dozen cycles to start, for the router's copies of 10-40 bytes (header names and
 * values). Its aarch64 ones are Arm's optimized routines, faster than these. memmove comes
 * along because musl's calls its memcpy by another name (__memcpy_fwd): with ours alone, the
 * link would pull musl's memcpy.o in for it and meet two memcpy. */
#if defined(__x86_64__)
void *memcpy(void *restrict d, const void *restrict s, size_t n)
	__attribute__((alias("sf_memcpy")));
void *memmove(void *d, const void *s, size_t n) __attribute__((alias("sf_memmove")));
void *memset(void *d, int c, size_t n) __attribute__((alias("sf_memset")));
#endif
#endif
