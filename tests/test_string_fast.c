/* string_fast: each function agrees with a byte loop at every alignment and length up to past
 * two blocks, on bytes with the high bit set, and on text that ends at the last byte before an
 * unmapped page (an over-read past a page would crash here). The byte loops are the test's
 * own, not the C library's, so the test says the same under glibc and musl. */
#include "test.h"

#include "core/string_fast.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Two readable pages followed by an unmapped one: text placed to end at `edge` ends at the
 * last readable byte. */
static unsigned char *area, *edge;
static size_t page;

static int setup(void **state)
{
	(void)state;
	page = (size_t)sysconf(_SC_PAGESIZE);
	area = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return -1;
	if (munmap(area + 2 * page, page) != 0)
		return -1;
	edge = area + 2 * page;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	munmap(area, 2 * page);
	return 0;
}

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

static size_t ref_strlen(const unsigned char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static int ref_strncmp(const unsigned char *l, const unsigned char *r, size_t n)
{
	for (; n; n--, l++, r++)
		if (*l != *r || !*l)
			return *l - *r;
	return 0;
}

static const unsigned char *ref_strchr(const unsigned char *s, unsigned char c)
{
	for (;; s++) {
		if (*s == c)
			return s;
		if (!*s)
			return NULL;
	}
}

static int ref_memcmp(const unsigned char *l, const unsigned char *r, size_t n)
{
	for (; n; n--, l++, r++)
		if (*l != *r)
			return *l - *r;
	return 0;
}

/* A filler byte that is neither NUL nor the searched 'x', some with the high bit. */
static unsigned char fill(size_t i)
{
	return (unsigned char)(i % 3 == 0 ? 0xC3 : 'a' + i % 23);
}

/* The places a text of len bytes (NUL included, if any) is tried at: every alignment at the
 * start of the area, and ending at the unmapped page. */
static unsigned char *place(size_t at, size_t len)
{
	return at < 32 ? area + page - 64 + at : edge - len;
}

static void strlen_counts_to_the_first_nul_at_every_place(void **state)
{
	(void)state;
	for (size_t len = 0; len <= 80; len++)
		for (size_t at = 0; at <= 32; at++) {
			unsigned char *s = place(at, len + 1);

			for (size_t i = 0; i < len; i++)
				s[i] = fill(i);
			s[len] = 0;
			assert_int_equal(sf_strlen((char *)s), len);
			assert_int_equal(sf_strlen((char *)s), ref_strlen(s));
		}
}

static void memchr_finds_the_first_byte_within_n_only(void **state)
{
	(void)state;
	for (size_t n = 0; n <= 70; n++)
		for (size_t at = 0; at <= 32; at++)
			for (size_t hit = 0; hit <= n + 1; hit++) {
				/* hit == n: the byte is just past n (when it fits), n + 1: nowhere
				 */
				unsigned char *s = place(at, n + (at < 32 && hit == n ? 1 : 0));
				void *want;

				for (size_t i = 0; i < n; i++)
					s[i] = fill(i);
				if (hit < n || (hit == n && at < 32))
					s[hit] = 0xE9;
				want = hit < n ? s + hit : NULL;
				assert_ptr_equal(sf_memchr(s, 0xE9, n), want);
				assert_ptr_equal(sf_memchr(s, (char)0xE9, n),
						 want); /* as an int < 0 */
				if (hit < n)
					s[hit] = fill(hit);
			}
}

static void strchr_stops_at_the_byte_or_the_nul(void **state)
{
	(void)state;
	for (size_t len = 0; len <= 70; len++)
		for (size_t at = 0; at <= 32; at++)
			for (size_t hit = 0; hit <= len; hit++) {
				unsigned char *s = place(at, len + 1);

				for (size_t i = 0; i < len; i++)
					s[i] = fill(i);
				s[len] = 0;
				if (hit < len)
					s[hit] = 'x';
				assert_ptr_equal(sf_strchrnul((char *)s, 'x'), s + hit);
				assert_ptr_equal(sf_strchr((char *)s, 'x'),
						 hit < len ? s + hit : NULL);
				/* NUL is found at the end */
				assert_ptr_equal(sf_strchr((char *)s, 0), s + len);
				assert_ptr_equal(sf_strchrnul((char *)s, 0), s + len);
				/* a byte with the high bit, asked for as a negative char */
				assert_ptr_equal(sf_strchr((char *)s, (char)0xC3),
						 ref_strchr(s, 0xC3));
			}
}

/* Two texts of len bytes at two places each, equal but at one byte (or none): every sign and
 * length agrees with the byte loops, whichever text is near the unmapped page. */
static void comparisons_agree_with_the_byte_loops(void **state)
{
	static const unsigned char other[] = {0, 'A', 'z', 0x80, 0xFF};

	(void)state;
	for (size_t len = 0; len <= 40; len++)
		for (size_t la = 0; la <= 32; la += 4)
			for (size_t ra = 0; ra <= 32; ra += 4)
				for (size_t diff = 0; diff <= len; diff++)
					for (size_t o = 0; o < sizeof(other); o++) {
						/* apart: l near the first page's end or at the
						 * edge, r near the area's start or at the edge */
						unsigned char *l = place(la, len + 1);
						unsigned char *r = ra < 32    ? area + 100 + ra
								   : la == 32 ? area + 200
									      : edge - (len + 1);
						for (size_t i = 0; i < len; i++)
							l[i] = r[i] = fill(i);
						l[len] = r[len] = 0;
						if (diff < len)
							r[diff] = other[o];
						assert_int_equal(
							sign(sf_strcmp((char *)l, (char *)r)),
							sign(ref_strncmp(l, r, SIZE_MAX)));
						assert_int_equal(
							sign(sf_strcmp((char *)r, (char *)l)),
							sign(ref_strncmp(r, l, SIZE_MAX)));
						for (size_t n = 0; n <= len + 2; n++)
							assert_int_equal(
								sign(sf_strncmp((char *)l,
										(char *)r, n)),
								sign(ref_strncmp(l, r, n)));
						assert_int_equal(sign(sf_memcmp(l, r, len)),
								 sign(ref_memcmp(l, r, len)));
						assert_int_equal(sign(sf_memcmp(r, l, len)),
								 sign(ref_memcmp(r, l, len)));
					}
}

static void a_long_text_is_read_to_its_end(void **state)
{
	unsigned char *s = edge - 5000;

	(void)state;
	memset(s, 'q', 4999);
	s[4999] = 0;
	assert_int_equal(sf_strlen((char *)s), 4999);
	assert_ptr_equal(sf_strchr((char *)s, 'x'), NULL);
	assert_ptr_equal(sf_memchr(s, 'x', 4999), NULL);
	s[4321] = 'x';
	assert_ptr_equal(sf_strchr((char *)s, 'x'), s + 4321);
	assert_ptr_equal(sf_memchr(s, 'x', 4999), s + 4321);
	assert_ptr_equal(sf_memchr(s, 'x', 4321), NULL);
	assert_int_equal(sf_strcmp((char *)s, (char *)s), 0);
	assert_int_equal(sf_memcmp(s, s + 1, 10), 0);
	assert_true(sf_strncmp((char *)s + 1, (char *)s, 5000) > 0); /* 'x' > 'q' first */
}

/* Copies and fills: the sizes where the moves change width (1, 2, 4, 8, 16, 32, 64) and
 * every size to past 300, longer ones, at every alignment of either end: exactly the n bytes
 * are written, with the source's bytes (or the fill), and the guard bytes on either side stay.
 * The lengths and offsets are the test's, checked byte by byte against its own loops. */
#define COPY_MAX 4200
static unsigned char src_buf[COPY_MAX + 64], dst_buf[COPY_MAX + 64], want[COPY_MAX + 64];

static size_t copy_len(size_t i)
{
	static const size_t longer[] = {511, 512, 513, 1000, 4095, 4096, 4097, COPY_MAX};

	return i <= 300 ? i : longer[i - 301];
}

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 131 + seed * 7 + (i >> 8));
}

static void copies_write_exactly_their_bytes(void **state)
{
	(void)state;
	fill_pattern(src_buf, sizeof(src_buf), 1);
	for (size_t i = 0; i <= 308; i++) {
		size_t n = copy_len(i);

		for (size_t so = 0; so < 16; so++)
			for (size_t d = 0; d < 16; d++) {
				memset(dst_buf, 0xee, sizeof(dst_buf));
				assert_ptr_equal(sf_memcpy(dst_buf + 16 + d, src_buf + so, n),
						 dst_buf + 16 + d);
				for (size_t k = 0; k < 16 + d; k++)
					assert_int_equal(dst_buf[k], 0xee);
				for (size_t k = 0; k < n; k++)
					assert_int_equal(dst_buf[16 + d + k], src_buf[so + k]);
				for (size_t k = 16 + d + n; k < sizeof(dst_buf); k++)
					assert_int_equal(dst_buf[k], 0xee);
			}
	}
}

static void fills_write_exactly_their_bytes(void **state)
{
	(void)state;
	for (size_t i = 0; i <= 308; i++) {
		size_t n = copy_len(i);

		for (size_t d = 0; d < 16; d++)
			for (int c = 0; c < 3; c++) {
				const int v[] = {0, 0xab, 0x17f}; /* only the low byte counts */

				memset(dst_buf, 0xee, sizeof(dst_buf));
				assert_ptr_equal(sf_memset(dst_buf + 16 + d, v[c], n),
						 dst_buf + 16 + d);
				for (size_t k = 0; k < sizeof(dst_buf); k++) {
					int inside = k >= 16 + d && k < 16 + d + n;

					assert_int_equal(dst_buf[k], inside ? (v[c] & 0xff) : 0xee);
				}
			}
	}
}

/* memmove with the two blocks overlapping by every shift up to 70 bytes either way (and apart):
 * the destination ends up with the source's bytes as they were before the call. */
static void moves_keep_the_source_as_it_was(void **state)
{
	(void)state;
	for (size_t i = 0; i <= 308; i++) {
		size_t n = copy_len(i);

		if (n > 1000)
			continue;
		for (int shift = -70; shift <= 70; shift++) {
			unsigned char *buf = dst_buf, *from = buf + 80, *to = from + shift;

			fill_pattern(buf, 80 + 1000 + 80, (unsigned)shift + 5);
			memcpy(want, buf, 80 + 1000 + 80);
			for (size_t k = 0; k < n; k++) /* the test's own move: through a copy */
				src_buf[k] = from[k];
			for (size_t k = 0; k < n; k++)
				want[80 + shift + (ptrdiff_t)k] = src_buf[k];
			assert_ptr_equal(sf_memmove(to, from, n), to);
			for (size_t k = 0; k < 80 + 1000 + 80; k++)
				assert_int_equal(buf[k], want[k]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strlen_counts_to_the_first_nul_at_every_place),
		cmocka_unit_test(memchr_finds_the_first_byte_within_n_only),
		cmocka_unit_test(strchr_stops_at_the_byte_or_the_nul),
		cmocka_unit_test(comparisons_agree_with_the_byte_loops),
		cmocka_unit_test(a_long_text_is_read_to_its_end),
		cmocka_unit_test(copies_write_exactly_their_bytes),
		cmocka_unit_test(fills_write_exactly_their_bytes),
		cmocka_unit_test(moves_keep_the_source_as_it_was),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
