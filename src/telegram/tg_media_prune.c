/* tg_media_prune: media retention (tg_media.h): the files under home/media, received or
 * spoken, deleted when older than media.retention_days, then the oldest first while the folder
 * holds more than media.max_total_bytes. A file younger than KEEP_YOUNG_MS is never taken, so
 * a turn still reading its file keeps it. Regular files only, never followed through a link.
 *
 * Split out of tg_media.c: retention runs on a timer of the bot and touches no job.
 */
#include "telegram/tg_media.h"
#include "core/config.h"
#include "core/log.h"
#include "core/safeio.h"
#include "core/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEEP_YOUNG_MS 3600000 /* prune never takes a file younger than this */

struct entry {
	char name[256];
	int64_t mtime_ms, size;
};

static int by_age(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return x->mtime_ms < y->mtime_ms ? -1 : x->mtime_ms > y->mtime_ms;
}

int tg_media_prune(const struct config *cfg, int64_t now_ms)
{
	int home_fd = safeio_open_home(cfg->home), dfd;
	struct entry *e = NULL;
	size_t n = 0, cap = 0;
	int64_t total = 0, keep_after;
	int gone = 0;
	DIR *d;
	struct dirent *de;

	if (home_fd < 0)
		return 0;
	dfd = safeio_open_at(home_fd, TG_MEDIA_DIR, O_RDONLY | O_DIRECTORY, 0);
	close(home_fd);
	if (dfd < 0)
		return 0;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(e->name) ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			e = xrealloc(e, cap * sizeof(*e));
		}
		snprintf(e[n].name, sizeof(e[n].name), "%s", de->d_name);
		e[n].mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		e[n].size = st.st_size;
		total += st.st_size;
		n++;
	}
	if (n)
		qsort(e, n, sizeof(*e), by_age);
	keep_after = now_ms - KEEP_YOUNG_MS;
	for (size_t i = 0; i < n; i++) {
		bool old = cfg->media.retention_days > 0 &&
			   e[i].mtime_ms < now_ms - cfg->media.retention_days * 86400000;
		bool over = cfg->media.max_total_bytes > 0 && total > cfg->media.max_total_bytes;

		if ((!old && !over) || e[i].mtime_ms > keep_after)
			continue;
		if (unlinkat(dfd, e[i].name, 0) == 0) {
			total -= e[i].size;
			gone++;
		}
	}
	closedir(d);
	free(e);
	if (gone)
		log_info("telegram: pruned %d file(s) from home/%s (media.retention_days %lld, "
			 "media.max_total_bytes %lld)",
			 gone, TG_MEDIA_DIR, (long long)cfg->media.retention_days,
			 (long long)cfg->media.max_total_bytes);
	return gone;
}
