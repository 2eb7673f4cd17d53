/* clockshift: an LD_PRELOAD library for e2e tests that steps the wall clock of a dynamically
 * linked hermetic (the ASan build) without touching the machine's clock. CLOCK_REALTIME reads
 * get the number of seconds stored (int64, native order) in the file named by
 * CLOCKSHIFT_FILE added; the test rewrites that file to step the clock while the process runs.
 * CLOCK_MONOTONIC is left alone. The file is mapped at load time, before any sandbox closes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static volatile const int64_t *shift;
static int (*real_clock_gettime)(clockid_t, struct timespec *);

__attribute__((constructor)) static void clockshift_init(void)
{
	const char *path = getenv("CLOCKSHIFT_FILE");
	int fd;
	void *p;

	real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT,
									   "clock_gettime");
	if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	p = mmap(NULL, sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p != MAP_FAILED)
		shift = p;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	int rc;

	if (!real_clock_gettime)
		real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(
			RTLD_NEXT, "clock_gettime");
	rc = real_clock_gettime(id, ts);
	if (rc == 0 && shift && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += (time_t)*shift;
	return rc;
}
