/* skill_pack: ustar + gzip, written and read by hand for the one shape a skill pack has.
 *
 * The writer emits POSIX ustar headers (name in the 100-byte field, which the path cap keeps
 * to) and deflate's stored blocks inside gzip (RFC 1952, RFC 1951 section 3.2.4), with the
 * CRC-32 and length trailer. The reader walks the same structures with every length checked
 * against what is left of the input before use. Rejected: linking zlib (the static build has
 * none, and a pack of a few text files gains little from compression) and libarchive (a large
 * dependency whose job here is a few hundred lines that can be read and fuzzed whole). The
 * reader inflates every deflate block type, so packs made by `tar czf` install too.
 */
#include "skills/skill_pack.h"
#include "core/util.h"

#include <errno.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK	     512
#define STORED_MAX   65535
#define GZ_HEADER    10
#define GZ_TRAILER   8
#define ARCHIVE_MAX  (SKILL_PACK_TOTAL_MAX + (SKILL_PACK_MEMBERS_MAX + 8) * 2 * BLOCK)
#define MANIFEST_TOP "# hermetic skill pack: "

uint32_t skill_pack_crc32(uint32_t crc, const void *data, size_t len)
{
	static uint32_t table[256];
	const unsigned char *p = data;

	if (!table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

bool skill_pack_path_ok(const char *path)
{
	size_t len = strlen(path);
	const char *c = path;

	if (len == 0 || len > SKILL_PACK_PATH_MAX)
		return false;
	for (;;) {
		size_t n = strcspn(c, "/");

		if (n == 0 || c[0] == '.')
			return false;
		for (size_t i = 0; i < n; i++)
			if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= 'A' && c[i] <= 'Z') ||
			      (c[i] >= '0' && c[i] <= '9') || c[i] == '.' || c[i] == '_' ||
			      c[i] == '-'))
				return false;
		if (!c[n])
			return true;
		c += n + 1;
	}
}

void skill_pack_add(struct skill_pack *p, const char *path, const void *data, size_t len)
{
	struct skill_pack_file *f;

	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	f = &p->v[p->n++];
	f->path = xstrdup(path);
	f->data = xmalloc(len + 1);
	if (len)
		memcpy(f->data, data, len);
	f->data[len] = '\0';
	f->len = len;
}

void skill_pack_finish(struct skill_pack *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].path);
		free(p->v[i].data);
	}
	free(p->v);
	free(p->name);
	memset(p, 0, sizeof(*p));
}

/* ---- writer ---------------------------------------------------------------------------- */

static void octal(char *field, size_t width, unsigned long long v)
{
	snprintf(field, width, "%0*llo", (int)width - 1, v);
}

static void tar_header(struct buf *tar, const char *path, size_t size)
{
	char h[BLOCK];
	unsigned sum = 0;

	memset(h, 0, sizeof(h));
	snprintf(h, 100, "%s", path);
	octal(h + 100, 8, 0644);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	octal(h + 124, 12, size);
	octal(h + 136, 12, 0); /* mtime 0: the same skill packs to the same bytes */
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (size_t i = 0; i < BLOCK; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
	buf_append(tar, h, BLOCK);
}

static void le32(struct buf *out, uint32_t v)
{
	unsigned char b[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};

	buf_append(out, b, 4);
}

void skill_pack_write(const struct skill_pack *p, struct buf *out)
{
	static const unsigned char gz[GZ_HEADER] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
	static const char zero[BLOCK];
	struct buf tar;
	size_t off = 0;

	buf_init(&tar, 0);
	for (int pass = 0; pass < 2; pass++) /* the manifest first */
		for (size_t i = 0; i < p->n; i++) {
			const struct skill_pack_file *f = &p->v[i];
			char *path;

			if ((strcmp(f->path, SKILL_PACK_MANIFEST) == 0) != (pass == 0))
				continue;
			path = xasprintf("%s/%s", p->name, f->path);
			tar_header(&tar, path, f->len);
			free(path);
			buf_append(&tar, f->data, f->len);
			if (f->len % BLOCK)
				buf_append(&tar, zero, BLOCK - f->len % BLOCK);
		}
	buf_append(&tar, zero, BLOCK);
	buf_append(&tar, zero, BLOCK);
	buf_append(out, gz, sizeof(gz));
	do {
		size_t n = tar.len - off > STORED_MAX ? STORED_MAX : tar.len - off;
		unsigned char h[5] = {off + n == tar.len, n & 0xff, n >> 8, ~n & 0xff,
				      (~n >> 8) & 0xff};

		buf_append(out, h, sizeof(h));
		buf_append(out, tar.data + off, n);
		off += n;
	} while (off < tar.len);
	le32(out, skill_pack_crc32(0, tar.data, tar.len));
	le32(out, (uint32_t)tar.len);
	buf_finish(&tar);
}

/* ---- reader ---------------------------------------------------------------------------- */

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- inflate (RFC 1951) ----------------------------------------------------------------
 * Canonical Huffman codes decoded bit by bit from per-length counts: slower than table
 * lookups, but a few dozen lines with every index checked, and packs are small. The output is
 * the capped buf, so a bomb stops at ARCHIVE_MAX. */

#define MAX_BITS 15

struct bits {
	const unsigned char *in;
	size_t len, pos;
	uint32_t buf;
	int cnt;
	bool short_input;
};

static int need(struct bits *b, int n, uint32_t *v)
{
	while (b->cnt < n) {
		if (b->pos == b->len) {
			b->short_input = true;
			return -EINVAL;
		}
		b->buf |= (uint32_t)b->in[b->pos++] << b->cnt;
		b->cnt += 8;
	}
	*v = n ? b->buf & ((1u << n) - 1) : 0;
	b->buf = n == 32 ? 0 : b->buf >> n;
	b->cnt -= n;
	return 0;
}

struct huff {
	uint16_t count[MAX_BITS + 1]; /* codes of each length */
	uint16_t symbol[320];	      /* symbols in canonical order */
};

/* Builds h from n code lengths; -EINVAL when over-subscribed (an incomplete code is allowed:
 * RFC 1951 permits one distance code). */
static int build(struct huff *h, const unsigned char *lengths, int n)
{
	uint16_t offs[MAX_BITS + 2];
	int left = 1;

	memset(h->count, 0, sizeof(h->count));
	for (int s = 0; s < n; s++)
		h->count[lengths[s]]++;
	for (int l = 1; l <= MAX_BITS; l++) {
		left = left * 2 - h->count[l];
		if (left < 0)
			return -EINVAL;
	}
	offs[1] = 0;
	for (int l = 1; l <= MAX_BITS; l++)
		offs[l + 1] = (uint16_t)(offs[l] + h->count[l]);
	for (int s = 0; s < n; s++)
		if (lengths[s])
			h->symbol[offs[lengths[s]]++] = (uint16_t)s;
	return 0;
}

static int decode(struct bits *b, const struct huff *h)
{
	int code = 0, first = 0, index = 0;
	uint32_t bit;

	for (int l = 1; l <= MAX_BITS; l++) {
		if (need(b, 1, &bit) < 0)
			return -EINVAL;
		code |= (int)bit;
		if (code - first < h->count[l])
			return h->symbol[index + code - first];
		index += h->count[l];
		first = (first + h->count[l]) << 1;
		code <<= 1;
	}
	return -EINVAL;
}

static int codes(struct bits *b, struct buf *out, const struct huff *lit, const struct huff *dist)
{
	static const uint16_t len_base[29] = {3,  4,  5,  6,   7,   8,	 9,   10,  11, 13,
					      15, 17, 19, 23,  27,  31,	 35,  43,  51, 59,
					      67, 83, 99, 115, 131, 163, 195, 227, 258};
	static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
					      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
	static const uint16_t dist_base[30] = {1,    2,	   3,	 4,	5,     7,    9,	   13,
					       17,   25,   33,	 49,	65,    97,   129,  193,
					       257,  385,  513,	 769,	1025,  1537, 2049, 3073,
					       4097, 6145, 8193, 12289, 16385, 24577};
	static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,	3,  3,	4,  4,	5,  5,	6,
					       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

	for (;;) {
		int sym = decode(b, lit);
		uint32_t extra;
		size_t n, d;

		if (sym < 0)
			return -EINVAL;
		if (sym < 256) {
			unsigned char c = (unsigned char)sym;

			if (buf_append(out, &c, 1) < 0)
				return -E2BIG;
			continue;
		}
		if (sym == 256)
			return 0;
		sym -= 257;
		if (sym >= 29 || need(b, len_extra[sym], &extra) < 0)
			return -EINVAL;
		n = len_base[sym] + extra;
		sym = decode(b, dist);
		if (sym < 0 || sym >= 30 || need(b, dist_extra[sym], &extra) < 0)
			return -EINVAL;
		d = dist_base[sym] + extra;
		if (d > out->len)
			return -EINVAL;
		while (n--) {
			unsigned char c = (unsigned char)out->data[out->len - d];

			if (buf_append(out, &c, 1) < 0)
				return -E2BIG;
		}
	}
}

static int fixed(struct bits *b, struct buf *out)
{
	static struct huff lit, dist;
	static bool built;
	unsigned char l[288];

	if (!built) {
		memset(l, 8, 144);
		memset(l + 144, 9, 112);
		memset(l + 256, 7, 24);
		memset(l + 280, 8, 8);
		build(&lit, l, 288);
		memset(l, 5, 30);
		build(&dist, l, 30);
		built = true;
	}
	return codes(b, out, &lit, &dist);
}

static int dynamic(struct bits *b, struct buf *out)
{
	static const uint8_t order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
					  11, 4,  12, 3, 13, 2, 14, 1, 15};
	unsigned char l[320] = {0};
	struct huff lit, dist, cl;
	uint32_t nlit, ndist, ncl, v;
	int i = 0;

	if (need(b, 5, &nlit) < 0 || need(b, 5, &ndist) < 0 || need(b, 4, &ncl) < 0)
		return -EINVAL;
	nlit += 257;
	ndist += 1;
	ncl += 4;
	if (nlit > 286 || ndist > 30)
		return -EINVAL;
	for (uint32_t k = 0; k < ncl; k++) {
		if (need(b, 3, &v) < 0)
			return -EINVAL;
		l[order[k]] = (unsigned char)v;
	}
	if (build(&cl, l, 19) < 0)
		return -EINVAL;
	memset(l, 0, sizeof(l));
	while (i < (int)(nlit + ndist)) {
		int sym = decode(b, &cl), rep;
		unsigned char val = 0;

		if (sym < 0)
			return -EINVAL;
		if (sym < 16) {
			l[i++] = (unsigned char)sym;
			continue;
		}
		if (sym == 16) {
			if (i == 0 || need(b, 2, &v) < 0)
				return -EINVAL;
			val = l[i - 1];
			rep = 3 + (int)v;
		} else if (sym == 17) {
			if (need(b, 3, &v) < 0)
				return -EINVAL;
			rep = 3 + (int)v;
		} else {
			if (need(b, 7, &v) < 0)
				return -EINVAL;
			rep = 11 + (int)v;
		}
		if (i + rep > (int)(nlit + ndist))
			return -EINVAL;
		while (rep--)
			l[i++] = val;
	}
	if (l[256] == 0 || build(&lit, l, (int)nlit) < 0 || build(&dist, l + nlit, (int)ndist) < 0)
		return -EINVAL;
	return codes(b, out, &lit, &dist);
}

/* Inflates d[*pos..len) into out; *pos ends after the last whole byte used. */
static int inflate(const unsigned char *d, size_t len, size_t *pos, struct buf *out,
		   struct buf *err)
{
	struct bits b = {.in = d, .len = len, .pos = *pos};
	uint32_t final = 0, type, n, nn;
	int rc = 0;

	while (rc == 0 && !final) {
		if (need(&b, 1, &final) < 0 || need(&b, 2, &type) < 0) {
			rc = -EINVAL;
		} else if (type == 0) {
			b.buf = 0;
			b.cnt = 0;
			if (need(&b, 16, &n) < 0 || need(&b, 16, &nn) < 0) {
				rc = -EINVAL;
			} else if (n != (~nn & 0xffff)) {
				buf_puts(err, "gzip: a stored block's length check fails");
				return -EINVAL;
			} else if (n > b.len - b.pos) {
				b.short_input = true;
				rc = -EINVAL;
			} else {
				rc = buf_append(out, b.in + b.pos, n) < 0 ? -E2BIG : 0;
				b.pos += n;
			}
		} else if (type == 1) {
			rc = fixed(&b, out);
		} else if (type == 2) {
			rc = dynamic(&b, out);
		} else {
			rc = -EINVAL;
		}
	}
	if (rc == -E2BIG)
		buf_printf(err, "the pack unpacks to more than %d MiB",
			   (int)(ARCHIVE_MAX / (1024 * 1024)));
	else if (rc < 0 && b.short_input)
		buf_puts(err, "the pack ends early (truncated)");
	else if (rc < 0)
		buf_puts(err, "gzip: the deflate data is invalid");
	*pos = b.pos;
	return rc < 0 ? -EINVAL : 0;
}

/* The gzip stream data[0..len) -> its tar bytes. */
static int gunzip(const unsigned char *d, size_t len, struct buf *tar, struct buf *err)
{
	size_t i = GZ_HEADER;

	if (len < GZ_HEADER + GZ_TRAILER || d[0] != 0x1f || d[1] != 0x8b || d[2] != 8) {
		buf_puts(err, "not a gzip file (a skill pack is a .tar.gz)");
		return -EINVAL;
	}
	if (d[3] & 0xe0) {
		buf_puts(err, "gzip header: reserved flags set");
		return -EINVAL;
	}
	if (d[3] & 4) { /* FEXTRA */
		if (i + 2 > len || i + 2 + (size_t)(d[i] | d[i + 1] << 8) > len)
			goto short_input;
		i += 2 + (size_t)(d[i] | d[i + 1] << 8);
	}
	for (int f = 8; f <= 16; f <<= 1) /* FNAME, FCOMMENT: NUL-terminated */
		if (d[3] & f) {
			const unsigned char *z = i < len ? memchr(d + i, 0, len - i) : NULL;

			if (!z)
				goto short_input;
			i = (size_t)(z - d) + 1;
		}
	if (d[3] & 2) { /* FHCRC */
		if (i + 2 > len)
			goto short_input;
		i += 2;
	}
	if (inflate(d, len, &i, tar, err) < 0)
		return -EINVAL;
	if (len - i < GZ_TRAILER)
		goto short_input;
	if (get_le32(d + i) != skill_pack_crc32(0, tar->data, tar->len) ||
	    get_le32(d + i + 4) != (uint32_t)tar->len) {
		buf_puts(err, "gzip: the CRC or length does not match: the pack is damaged");
		return -EINVAL;
	}
	if (i + GZ_TRAILER != len) {
		buf_puts(err, "bytes after the end of the gzip stream");
		return -EINVAL;
	}
	return 0;
short_input:
	buf_puts(err, "the pack ends early (truncated)");
	return -EINVAL;
}

/* A ustar numeric field: octal digits, optional leading spaces, ended by NUL or space. */
static int tar_num(const char *f, size_t width, unsigned long long *v)
{
	size_t i = 0;

	*v = 0;
	while (i < width && f[i] == ' ')
		i++;
	if (i == width || f[i] < '0' || f[i] > '7')
		return -EINVAL;
	for (; i < width && f[i] >= '0' && f[i] <= '7'; i++) {
		if (*v > (1ULL << 40))
			return -EINVAL;
		*v = *v * 8 + (unsigned)(f[i] - '0');
	}
	return i == width || f[i] == ' ' || f[i] == '\0' ? 0 : -EINVAL;
}

static bool zero_block(const char *h)
{
	for (size_t i = 0; i < BLOCK; i++)
		if (h[i])
			return false;
	return true;
}

/* The member path of header h (prefix/name) into path; -EINVAL when it holds a NUL-less
 * field or is too long. */
static int tar_path(const char *h, char *path, size_t size)
{
	size_t n = strnlen(h, 100), pre = strnlen(h + 345, 155);

	if (pre && pre + 1 + n + 1 <= size)
		snprintf(path, size, "%.*s/%.*s", (int)pre, h + 345, (int)n, h);
	else if (!pre && n + 1 <= size)
		snprintf(path, size, "%.*s", (int)n, h);
	else
		return -EINVAL;
	return 0;
}

/* One member: header at tar[*off], checked; the file added to out (directories skipped). */
static int tar_member(const struct buf *tar, size_t *off, struct skill_pack *out, size_t *total,
		      struct buf *err)
{
	const char *h = tar->data + *off;
	char path[SKILL_PACK_PATH_MAX + 72], *slash;
	unsigned long long size, sum;
	unsigned calc = 0;
	char type = h[156];

	for (size_t i = 0; i < BLOCK; i++)
		calc += i >= 148 && i < 156 ? ' ' : (unsigned char)h[i];
	if (tar_num(h + 148, 8, &sum) < 0 || sum != calc) {
		buf_printf(err, "tar: a header's checksum is wrong at byte %zu", *off);
		return -EINVAL;
	}
	if (memcmp(h + 257, "ustar", 5) != 0) {
		buf_puts(err, "tar: not a ustar archive");
		return -EINVAL;
	}
	if (tar_path(h, path, sizeof(path)) < 0 || tar_num(h + 124, 12, &size) < 0) {
		buf_puts(err, "tar: a member's name or size field is malformed");
		return -EINVAL;
	}
	if (type != '0' && type != '\0' && type != '5') {
		buf_printf(err,
			   "tar: member %s is a %s; a pack holds only regular files and folders",
			   path,
			   type == '1'			? "hard link"
			   : type == '2'		? "symlink"
			   : type == '3' || type == '4' ? "device"
			   : type == '6'		? "FIFO"
							: "member of an unsupported type");
		return -EINVAL;
	}
	if (type == '5' && *path && path[strlen(path) - 1] == '/')
		path[strlen(path) - 1] = '\0';
	if (path[0] == '/' || !skill_pack_path_ok(path)) {
		buf_printf(
			err,
			"tar: member path \"%.80s\" is refused (absolute, \"..\", a dot or empty "
			"component, or a character outside A-Z a-z 0-9 . _ -)",
			path);
		return -EINVAL;
	}
	slash = strchr(path, '/');
	if (!out->name)
		out->name = xstrndup(path, slash ? (size_t)(slash - path) : strlen(path));
	if (strncmp(path, out->name, strlen(out->name)) != 0 ||
	    (path[strlen(out->name)] != '/' && path[strlen(out->name)] != '\0')) {
		buf_printf(err, "tar: member %s is outside the skill's folder %s/", path,
			   out->name);
		return -EINVAL;
	}
	if (size > SKILL_PACK_MEMBER_MAX || (type == '5' && size)) {
		buf_printf(err, "tar: member %s is %llu bytes; at most %d", path, size,
			   SKILL_PACK_MEMBER_MAX);
		return -EINVAL;
	}
	*off += BLOCK;
	if (size > tar->len - *off) {
		buf_puts(err, "tar: the archive ends inside a member");
		return -EINVAL;
	}
	if (type != '5' && slash) {
		if (out->n == SKILL_PACK_MEMBERS_MAX || *total + size > SKILL_PACK_TOTAL_MAX) {
			buf_printf(err, "tar: more than %d files or %d MiB", SKILL_PACK_MEMBERS_MAX,
				   SKILL_PACK_TOTAL_MAX / (1024 * 1024));
			return -EINVAL;
		}
		for (size_t i = 0; i < out->n; i++)
			if (strcmp(out->v[i].path, slash + 1) == 0) {
				buf_printf(err, "tar: member %s appears twice", path);
				return -EINVAL;
			}
		skill_pack_add(out, slash + 1, tar->data + *off, (size_t)size);
		*total += (size_t)size;
	} else if (type != '5') {
		buf_printf(err, "tar: member %s is not inside a folder", path);
		return -EINVAL;
	}
	*off += ((size_t)size + BLOCK - 1) / BLOCK * BLOCK;
	return 0;
}

int skill_pack_read(const void *data, size_t len, struct skill_pack *out, struct buf *err)
{
	struct buf tar;
	size_t off = 0, total = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&tar, ARCHIVE_MAX);
	rc = gunzip(data, len, &tar, err);
	while (rc == 0) {
		if (tar.len - off < BLOCK) {
			buf_puts(err, "tar: the archive has no end marker (truncated)");
			rc = -EINVAL;
		} else if (zero_block(tar.data + off)) {
			break;
		} else {
			rc = tar_member(&tar, &off, out, &total, err);
		}
	}
	if (rc == 0 && !out->n) {
		buf_puts(err, "the pack holds no files");
		rc = -EINVAL;
	}
	buf_finish(&tar);
	if (rc < 0)
		skill_pack_finish(out);
	return rc;
}

/* ---- content hash --------------------------------------------------------------------- */

static int by_file_path(const void *a, const void *b)
{
	return strcmp((*(const struct skill_pack_file *const *)a)->path,
		      (*(const struct skill_pack_file *const *)b)->path);
}

void skill_pack_content_hash(const struct skill_pack *p, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	const struct skill_pack_file **v = xcalloc(p->n + 1, sizeof(*v));
	mbedtls_sha256_context c;
	unsigned char md[32];
	size_t n = 0;
	char size[24];

	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].path, SKILL_PACK_MANIFEST) != 0)
			v[n++] = &p->v[i];
	qsort(v, n, sizeof(*v), by_file_path);
	mbedtls_sha256_init(&c);
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256_starts(&c, 0);
#else
	mbedtls_sha256_starts_ret(&c, 0);
#endif
	for (size_t i = 0; i < n; i++) {
		snprintf(size, sizeof(size), "%zu", v[i]->len);
#if MBEDTLS_VERSION_MAJOR >= 3
		mbedtls_sha256_update(&c, (const unsigned char *)v[i]->path,
				      strlen(v[i]->path) + 1);
		mbedtls_sha256_update(&c, (const unsigned char *)size, strlen(size) + 1);
		mbedtls_sha256_update(&c, (const unsigned char *)v[i]->data, v[i]->len);
#else
		mbedtls_sha256_update_ret(&c, (const unsigned char *)v[i]->path,
					  strlen(v[i]->path) + 1);
		mbedtls_sha256_update_ret(&c, (const unsigned char *)size, strlen(size) + 1);
		mbedtls_sha256_update_ret(&c, (const unsigned char *)v[i]->data, v[i]->len);
#endif
	}
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256_finish(&c, md);
#else
	mbedtls_sha256_finish_ret(&c, md);
#endif
	mbedtls_sha256_free(&c);
	for (size_t i = 0; i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	free(v);
}

/* ---- manifest -------------------------------------------------------------------------- */

void skill_pack_manifest(const struct skill_pack *p, const char *content_sha256, struct buf *out)
{
	char hex[65];

	buf_printf(out, MANIFEST_TOP "%s, content sha256 %s\n", p->name, content_sha256);
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->v[i].path, SKILL_PACK_MANIFEST) == 0)
			continue;
		sha256_hex(p->v[i].data, p->v[i].len, hex);
		buf_printf(out, "%s  %s\n", hex, p->v[i].path);
	}
}

int skill_pack_verify(const struct skill_pack *p, char content_sha256[65], struct buf *err)
{
	const struct skill_pack_file *m = NULL;
	char *top, hex[65];
	const char *line, *nl;
	size_t listed = 0, others = 0;

	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->v[i].path, SKILL_PACK_MANIFEST) == 0)
			m = &p->v[i];
		else
			others++;
	}
	if (!m) {
		buf_printf(err, "the pack has no %s/%s", p->name, SKILL_PACK_MANIFEST);
		return -EINVAL;
	}
	top = xasprintf(MANIFEST_TOP "%s, content sha256 ", p->name);
	if (strncmp(m->data, top, strlen(top)) != 0 || m->len < strlen(top) + 65 ||
	    m->data[strlen(top) + 64] != '\n') {
		buf_printf(err, "%s: the first line must be \"%s<64 hex>\"", SKILL_PACK_MANIFEST,
			   top);
		free(top);
		return -EINVAL;
	}
	snprintf(content_sha256, 65, "%.64s", m->data + strlen(top));
	line = m->data + strlen(top) + 65;
	free(top);
	for (; *line; line = nl + 1) {
		size_t k;

		nl = strchr(line, '\n');
		if (!nl || nl - line < 67 || line[64] != ' ' || line[65] != ' ') {
			buf_printf(err, "%s: a line is not \"<sha256>  <path>\"",
				   SKILL_PACK_MANIFEST);
			return -EINVAL;
		}
		for (k = 0; k < p->n; k++)
			if (strlen(p->v[k].path) == (size_t)(nl - line - 66) &&
			    memcmp(p->v[k].path, line + 66, (size_t)(nl - line - 66)) == 0)
				break;
		if (k == p->n || &p->v[k] == m) {
			buf_printf(err, "%s lists %.*s, which the pack does not hold",
				   SKILL_PACK_MANIFEST, (int)(nl - line - 66), line + 66);
			return -EINVAL;
		}
		sha256_hex(p->v[k].data, p->v[k].len, hex);
		if (memcmp(hex, line, 64) != 0) {
			buf_printf(err,
				   "%s: the sha256 of %s does not match: the pack was changed "
				   "after it was made",
				   SKILL_PACK_MANIFEST, p->v[k].path);
			return -EINVAL;
		}
		listed++;
	}
	if (listed != others) {
		buf_printf(err,
			   "the pack holds %zu files the manifest does not list (or lists one "
			   "twice)",
			   others > listed ? others - listed : listed - others);
		return -EINVAL;
	}
	return 0;
}
