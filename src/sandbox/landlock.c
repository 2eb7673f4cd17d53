/* landlock: the file-system half of the sandbox.
 *
 * One ruleset handles every file-system right the kernel's ABI knows (1: the base set, 2:
 * REFER, 3: TRUNCATE, 5: IOCTL_DEV; 4, 6 and 7 add network, scoping and audit, not used
 * here), so whatever no rule grants is denied. Rules: home gets read, write, create, remove
 * and rename; the read-only paths get read (and list, for directories); /dev/null also
 * write. A rule binds the inode it was opened on, so a file that is replaced by a rename (the
 * CA bundle by update-ca-certificates, /etc/resolv.conf and /etc/hosts by resolvers and
 * Kubernetes, a ConfigMap or Secret mount swapping its ..data link) would lose it and be
 * refused until a restart: such files, the config among them, are granted through their
 * directory (and through the directory of a symlink's target). A path that does not exist is
 * skipped (a dynamic build needs /usr/lib for the
 * resolver's NSS modules, a static one has none). The syscalls go through syscall(2) and
 * the constants are defined here when the C library's headers lack them (musl sysroots).
 *
 * Rejected: a policy file (the set follows from the config; a second file to keep right is
 * a way to get it wrong) and failing start-up when Landlock is missing (older kernels and
 * qemu-user must still run; doctor and the log say it is not active).
 */
#include "sandbox/landlock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "sandbox/seccomp_bpf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444 /* the same numbers on every architecture */
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#ifndef O_PATH
#define O_PATH 010000000
#endif

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH	  1

#define FS_EXECUTE     (1ULL << 0)
#define FS_WRITE_FILE  (1ULL << 1)
#define FS_READ_FILE   (1ULL << 2)
#define FS_READ_DIR    (1ULL << 3)
#define FS_REMOVE_DIR  (1ULL << 4)
#define FS_REMOVE_FILE (1ULL << 5)
#define FS_MAKE_CHAR   (1ULL << 6)
#define FS_MAKE_DIR    (1ULL << 7)
#define FS_MAKE_REG    (1ULL << 8)
#define FS_MAKE_SOCK   (1ULL << 9)
#define FS_MAKE_FIFO   (1ULL << 10)
#define FS_MAKE_BLOCK  (1ULL << 11)
#define FS_MAKE_SYM    (1ULL << 12)
#define FS_REFER       (1ULL << 13) /* ABI 2 */
#define FS_TRUNCATE    (1ULL << 14) /* ABI 3 */
#define FS_IOCTL_DEV   (1ULL << 15) /* ABI 5 */

/* Rights that make sense on a file (the kernel refuses directory rights on one). */
#define FS_FILE_RIGHTS (FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV)

#define RIGHTS_READ (FS_READ_FILE | FS_READ_DIR)
#define RIGHTS_DEV  (FS_READ_FILE | FS_WRITE_FILE)
#define RIGHTS_WRITE                                                                               \
	(FS_READ_FILE | FS_READ_DIR | FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE |             \
	 FS_MAKE_DIR | FS_MAKE_REG | FS_REFER | FS_TRUNCATE)

/* The kernel's structs, minimal: a larger struct of a newer header is accepted too. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

/* Read-only paths every command needs after start-up, whatever the config says. */
static const char *const base_read[] = {
	/* CA bundle (curl's default and the usual overrides' homes) */
	"/etc/ssl", "/etc/pki", "/etc/ca-certificates", "/usr/share/ca-certificates",
	/* zoneinfo (TZ is set from the config; musl and glibc look here) */
	"/usr/share/zoneinfo", "/etc/zoneinfo",
	/* dynamic builds: NSS modules and gconv loaded on first use */
	"/lib", "/lib64", "/usr/lib", "/usr/lib64",
	/* CPU count (sysconf) and our own /proc entries (metrics read RSS there) */
	"/sys/devices/system/cpu", "/proc/self", "/dev/urandom", "/dev/random"};

/* Files replaced by a rename while we run: granted through their directory (/etc). */
static const char *const base_read_by_dir[] = {
	/* the resolver (curl's threaded getaddrinfo) */
	"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf",
	"/etc/services", "/etc/protocols",
	/* the local time zone (timedatectl swaps the link), the dynamic loader's cache */
	"/etc/localtime", "/etc/ld.so.cache"};

/* Variables naming a directory, or a file (granted through its directory). */
static const char *const env_read[] = {"TZDIR", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"};

static char last_state[256] = "not applied";

int landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);

	return abi < 0 ? -errno : (int)abi;
}

static uint64_t handled_for(int abi)
{
	uint64_t h = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_READ_DIR | FS_REMOVE_DIR |
		     FS_REMOVE_FILE | FS_MAKE_CHAR | FS_MAKE_DIR | FS_MAKE_REG | FS_MAKE_SOCK |
		     FS_MAKE_FIFO | FS_MAKE_BLOCK | FS_MAKE_SYM;

	if (abi >= 2)
		h |= FS_REFER;
	if (abi >= 3)
		h |= FS_TRUNCATE;
	if (abi >= 5)
		h |= FS_IOCTL_DEV;
	return h;
}

bool landlock_would_apply(const struct config *cfg, char *why, size_t len)
{
	const char *env = getenv("HERMETIC_LANDLOCK");
	int abi = landlock_abi();

	if (env && strcmp(env, "0") == 0) {
		snprintf(why, len, "Landlock: not active (HERMETIC_LANDLOCK=0)");
		return false;
	}
	if (abi == -EOPNOTSUPP) {
		snprintf(why, len,
			 "Landlock: not active (the kernel has it but it is disabled: add "
			 "landlock to the lsm= boot parameter)");
		return false;
	}
	/* A container runtime's profile without the landlock syscalls answers ENOSYS (or EPERM)
	 * like a kernel without Landlock: say which of the two it may be. Landlock is set up
	 * before the seal loads hermetic's own filter (sandbox_seal), so none here is ours. */
	if (abi < 0 && seccomp_bpf_filters_beyond(0) > 0) {
		snprintf(why, len,
			 "Landlock: not active (%s under a seccomp filter set by whoever started "
			 "this process, such as a container runtime's profile without the landlock "
			 "syscalls; see docs/security.md)",
			 strerror(-abi));
		return false;
	}
	if (abi < 0) {
		snprintf(why, len,
			 "Landlock: not active (not offered by this kernel or emulator: %s)",
			 strerror(-abi));
		return false;
	}
	snprintf(why, len, "Landlock: active (ABI %d): writes only under %s", abi, cfg->home);
	return true;
}

/* Adds a rule for path with rights (trimmed to what a file may have, and to handled).
 * A missing path is skipped: 0. */
static int add_path(int ruleset, const char *path, uint64_t rights, uint64_t handled, char *why,
		    size_t len)
{
	struct ll_path_beneath_attr pb = {0};
	struct stat st;
	int rc = 0, fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == EACCES)
			return 0;
		snprintf(why, len, "Landlock: not active (cannot open %s: %s)", path,
			 strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		rights &= FS_FILE_RIGHTS;
	pb.allowed_access = rights & handled;
	pb.parent_fd = fd;
	if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0) < 0) {
		rc = -errno;
		snprintf(why, len, "Landlock: not active (rule for %s: %s)", path, strerror(-rc));
	}
	close(fd);
	return rc;
}

/* Read on the directory that holds file, or on file itself when that directory is "/" or
 * the path has none. */
static int add_parent(int ruleset, const char *file, uint64_t handled, char *why, size_t len)
{
	const char *slash = strrchr(file, '/');
	char *dir;
	int rc;

	if (!slash || slash == file)
		return add_path(ruleset, file, RIGHTS_READ, handled, why, len);
	dir = xstrndup(file, (size_t)(slash - file));
	rc = add_path(ruleset, dir, RIGHTS_READ, handled, why, len);
	free(dir);
	return rc;
}

/* Read on path if it is a directory; else through its directory, so that a replacement by
 * rename keeps it readable (a Kubernetes ConfigMap or Secret swaps a sibling directory under
 * its ..data link; resolvers rename a new /etc/resolv.conf into place). A symlink's target
 * directory is granted too (/etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf). */
static int add_by_dir(int ruleset, const char *path, uint64_t handled, char *why, size_t len)
{
	struct stat st;
	char *target;
	int rc;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return add_path(ruleset, path, RIGHTS_READ, handled, why, len);
	rc = add_parent(ruleset, path, handled, why, len);
	if (rc == 0 && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		target = realpath(path, NULL);
		if (target)
			rc = add_parent(ruleset, target, handled, why, len);
		free(target);
	}
	return rc;
}

static int add_rules(int ruleset, const struct config *cfg, uint64_t handled, char *why, size_t len)
{
	const char *env;
	size_t i;
	int rc;

	rc = add_path(ruleset, cfg->home, RIGHTS_WRITE, handled, why, len);
	if (rc == 0 && cfg->name)
		rc = add_by_dir(ruleset, cfg->name, handled, why, len);
	if (rc == 0 && cfg->agent.persona_file)
		rc = add_by_dir(ruleset, cfg->agent.persona_file, handled, why, len);
	for (i = 0; rc == 0 && i < cfg->n_notes_dirs; i++)
		rc = add_path(ruleset, cfg->notes_dirs[i], RIGHTS_READ, handled, why, len);
	for (i = 0; rc == 0 && i < cfg->skills.n_external_dirs; i++)
		rc = add_path(ruleset, cfg->skills.external_dirs[i], RIGHTS_READ, handled, why,
			      len);
	for (i = 0; rc == 0 && i < ARRAY_LEN(base_read); i++)
		rc = add_path(ruleset, base_read[i], RIGHTS_READ, handled, why, len);
	for (i = 0; rc == 0 && i < ARRAY_LEN(base_read_by_dir); i++)
		if (access(base_read_by_dir[i], F_OK) == 0)
			rc = add_by_dir(ruleset, base_read_by_dir[i], handled, why, len);
	for (i = 0; rc == 0 && i < ARRAY_LEN(env_read); i++) {
		env = getenv(env_read[i]);
		if (env && env[0] == '/')
			rc = add_by_dir(ruleset, env, handled, why, len);
	}
	if (rc == 0)
		rc = add_path(ruleset, "/dev/null", RIGHTS_DEV, handled, why, len);
	return rc;
}

int landlock_apply(const struct config *cfg, char *why, size_t len)
{
	struct ll_ruleset_attr attr = {0};
	int abi, ruleset, rc;

	if (!landlock_would_apply(cfg, why, len))
		return 0;
	abi = landlock_abi();
	attr.handled_access_fs = handled_for(abi);
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0) {
		snprintf(why, len, "Landlock: not active (create_ruleset: %s)", strerror(errno));
		return 0;
	}
	rc = add_rules(ruleset, cfg, attr.handled_access_fs, why, len);
	if (rc == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		rc = -errno;
		snprintf(why, len, "Landlock: not active (no_new_privs: %s)", strerror(-rc));
	}
	if (rc == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
		rc = -errno;
		snprintf(why, len, "Landlock: not active (restrict_self: %s)", strerror(-rc));
	}
	close(ruleset);
	if (rc < 0)
		return 0;
	snprintf(why, len, "Landlock: active (ABI %d): writes only under %s", abi, cfg->home);
	return 1;
}

int landlock_seal(const struct config *cfg)
{
	int active;

	/* Not offered or not wanted is a fact to note; a failure half-way is worth a warning. */
	if (!landlock_would_apply(cfg, last_state, sizeof(last_state))) {
		log_info("%s", last_state);
		return 0;
	}
	active = landlock_apply(cfg, last_state, sizeof(last_state));
	if (active)
		log_info("%s", last_state);
	else
		log_warn("%s", last_state);
	return active;
}

/* One probe "w:PATH" (create or truncate for writing) or "r:PATH" (open for reading). */
static void probe_one(const char *op, FILE *out)
{
	bool write = strncmp(op, "w:", 2) == 0;
	int fd;

	if (!write && strncmp(op, "r:", 2) != 0) {
		fprintf(out, "%s: bad probe (w:PATH or r:PATH)\n", op);
		return;
	}
	fd = open(op + 2, write ? O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC : O_RDONLY | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		fprintf(out, "%s %s\n", op, strerror(errno));
		return;
	}
	if (write && dprintf(fd, "probe\n") < 0)
		fprintf(out, "%s write: %s\n", op, strerror(errno));
	else
		fprintf(out, "%s ok\n", op);
	close(fd);
}

int landlock_probe(const struct config *cfg, char **ops, int n, FILE *out)
{
	int i;

	if (mkdir(cfg->home, 0700) < 0 && errno != EEXIST) {
		fprintf(out, "home %s: %s\n", cfg->home, strerror(errno));
		return 1;
	}
	landlock_seal(cfg);
	fprintf(out, "%s\n", landlock_state());
	for (i = 0; i < n; i++)
		probe_one(ops[i], out);
	fflush(out);
	return 0;
}

const char *landlock_state(void)
{
	return last_state;
}
