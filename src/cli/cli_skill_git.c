/* cli_skill_git: a git repository as an install source, `URL[#PATH]` (PATH: the skill's folder
 * inside the repository, as the Hermes hub and anthropics/skills lay them out).
 *
 * The repository is cloned shallow into a temporary directory by the system's git, with no
 * prompt, no hooks of ours and a time limit, and the folder is then installed like any local
 * folder: read_folder refuses symlinks and skips .git. Only the clone's files reach the
 * quarantine; the URL is recorded in skills.lock so `update` fetches it again. Rejected: a git
 * library (libgit2 is a large dependency for a one-shot fetch the owner starts by hand).
 */
#include "cli/cli_skill_int.h"
#include "core/fileio.h"
#include "core/util.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CLONE_TIMEOUT_S 120

extern char **environ;

bool cli_skill_is_git(const char *src)
{
	size_t n = strcspn(src, "#");

	return strncmp(src, "https://", 8) == 0 || strncmp(src, "ssh://", 6) == 0 ||
	       strncmp(src, "git@", 4) == 0 || strncmp(src, "file://", 7) == 0 ||
	       (n > 4 && strncmp(src + n - 4, ".git", 4) == 0);
}

/* Runs argv, waiting at most CLONE_TIMEOUT_S; 0 when it exited 0. */
static int run_git(char *const argv[])
{
	char *env[] = {"GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "HOME=/nonexistent",
		       "PATH=/usr/local/bin:/usr/bin:/bin", NULL};
	time_t deadline = time(NULL) + CLONE_TIMEOUT_S;
	pid_t pid;
	int status, rc;

	rc = posix_spawnp(&pid, "git", NULL, NULL, argv, env);
	if (rc != 0)
		return -rc;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
		if (w < 0)
			return -errno;
		if (time(NULL) > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		usleep(50 * 1000);
	}
}

int cli_skill_git_fetch(const char *src, char *tmp, size_t tmp_len, char **folder)
{
	const char *hash = strchr(src, '#');
	char *url = hash ? xstrndup(src, (size_t)(hash - src)) : xstrdup(src);
	char *dir;
	int rc;

	*folder = NULL;
	snprintf(tmp, tmp_len, "%s/hermetic-skill-git-XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp)) {
		free(url);
		return -errno;
	}
	dir = xasprintf("%s/repo", tmp);
	{
		char *argv[] = {"git",	   "-c",	"protocol.file.allow=always",
				"clone",   "--depth",	"1",
				"--quiet", "--no-tags", "--",
				url,	   dir,		NULL};

		rc = url[0] == '-' ? -EINVAL : run_git(argv);
	}
	if (rc < 0) {
		fprintf(stderr, "install refused: git clone %s failed (%s)\n", url,
			rc == -ETIMEDOUT ? "no answer within 120 s" : strerror(-rc));
	} else if (hash && hash[1] && (strstr(hash + 1, "..") || hash[1] == '/')) {
		fprintf(stderr,
			"install refused: %s: the path after # must stay inside the "
			"repository\n",
			src);
		rc = -EINVAL;
	} else {
		*folder = hash && hash[1] ? xasprintf("%s/%s", dir, hash + 1) : xstrdup(dir);
	}
	free(dir);
	free(url);
	return rc;
}

void cli_skill_git_cleanup(const char *tmp)
{
	if (tmp[0])
		fileio_remove_tree(tmp);
}
