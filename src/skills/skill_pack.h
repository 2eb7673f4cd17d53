/* skill_pack: a skill as one file, `<name>.skill.tar.gz`: a ustar archive in a gzip stream
 * whose members are <name>/MANIFEST.sha256 first, then <name>/SKILL.md and the skill's other
 * files. The manifest is sha256sum's format (so `sha256sum -c` checks an unpacked pack) after
 * one comment line naming the skill and its content hash (skills/skill_hist.h):
 *
 *   # hermetic skill pack: minutes, content sha256 <64 hex>
 *   <64 hex>  SKILL.md
 *   <64 hex>  tests/basic.yaml
 *
 * Pure: bytes in, bytes out, no I/O, so the reader can be fuzzed. The writer stores (deflate
 * block type 0: no compression; skills are small text); the reader inflates any deflate
 * stream (a pack made by tar czf too), and refuses, with the reason, every member that could
 * escape or flood the folder it unpacks to: absolute paths, "..", empty or dot components,
 * links, devices, a member outside <name>/, over SKILL_PACK_MEMBER_MAX bytes, more than
 * SKILL_PACK_MEMBERS_MAX members, a total over SKILL_PACK_TOTAL_MAX (the inflated stream is
 * capped as it grows), a bad header checksum or gzip CRC.
 */
#ifndef HERMETIC_SKILL_PACK_H
#define HERMETIC_SKILL_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define SKILL_PACK_MEMBER_MAX  (1024 * 1024)	 /* bytes of one file */
#define SKILL_PACK_MEMBERS_MAX 200		 /* files */
#define SKILL_PACK_TOTAL_MAX   (8 * 1024 * 1024) /* bytes of all files */
#define SKILL_PACK_PATH_MAX    200		 /* bytes of a member's path */
#define SKILL_PACK_MANIFEST    "MANIFEST.sha256"

struct skill_pack_file {
	char *path; /* relative to the skill's folder: "SKILL.md", "tests/a.yaml" (owned) */
	char *data; /* owned; NUL-terminated after len bytes */
	size_t len;
};

struct skill_pack {
	char *name; /* the one top folder (owned) */
	struct skill_pack_file *v;
	size_t n;
};

/* CRC-32 (ISO 3309, gzip's) of data, continuing crc (0 to start). */
uint32_t skill_pack_crc32(uint32_t crc, const void *data, size_t len);

/* True when path is a safe relative member path: components of [A-Za-z0-9._-], none empty,
 * none starting with '.', at most SKILL_PACK_PATH_MAX bytes. */
bool skill_pack_path_ok(const char *path);

/* Appends the .tar.gz of p (its files in the given order, the manifest first when present
 * among them) to out. Never fails (the caller keeps to the caps). */
void skill_pack_write(const struct skill_pack *p, struct buf *out);

/* Reads a .tar.gz into out (free with skill_pack_finish). Returns 0, or -EINVAL with one line
 * saying what is wrong appended to err and out empty. */
int skill_pack_read(const void *data, size_t len, struct skill_pack *out, struct buf *err);

/* The manifest text of p's files (every file but the manifest itself) with content hash
 * content_sha256, appended to out. */
void skill_pack_manifest(const struct skill_pack *p, const char *content_sha256, struct buf *out);

/* Checks p's manifest: present, its comment line names p->name, and each other file listed
 * once with its sha256, nothing more, nothing less. The content hash it states goes to
 * content_sha256. Returns 0 or -EINVAL with the reason in err. */
int skill_pack_verify(const struct skill_pack *p, char content_sha256[65], struct buf *err);

/* The content hash of p's files but the manifest: skill_hist_hash's formula (path, NUL, size
 * in decimal, NUL, bytes, in path order), so an installed pack's folder hashes the same. */
void skill_pack_content_hash(const struct skill_pack *p, char out[65]);

/* Adds a copy of path and data[0..len) to p. */
void skill_pack_add(struct skill_pack *p, const char *path, const void *data, size_t len);
void skill_pack_finish(struct skill_pack *p); /* accepts a zeroed struct */

#endif
