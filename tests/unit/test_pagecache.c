/* test_pagecache.c -- the page-cache advice: given on its own thread between start and stop,
 * carried out before stop returns, in place without the thread, never touching the data */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "util/pagecache.h"

/* Is a thread of this process named `name`? */
static bool have_thread(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	bool found = false;
	while (d && (e = readdir(d))) {
		char path[300], comm[64] = "";
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (f) {
			if (fgets(comm, sizeof comm, f) && !strncmp(comm, name, strlen(name)))
				found = true;
			fclose(f);
		}
	}
	if (d)
		closedir(d);
	return found;
}

/* Pages of the file at `path` in the page cache. */
static size_t cached_pages(const char *path, size_t *pages)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	*pages = 0;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0)
		return 0;
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return (size_t)-1;
	*pages = ((size_t)st.st_size + 4095) / 4096;
	unsigned char *vec = malloc(*pages);
	size_t n = 0;
	if (vec && mincore(m, (size_t)st.st_size, vec) == 0)
		for (size_t i = 0; i < *pages; i++)
			n += vec[i] & 1;
	free(vec);
	munmap(m, (size_t)st.st_size);
	return n;
}

/* Write `chunks` chunks and a half through `pc`, in 1 MiB writes of a known pattern. */
static bool write_chunks(int fd, sk_pagecache_t *pc, unsigned chunks)
{
	static unsigned char buf[1 << 20];
	uint64_t total = (uint64_t)chunks * SK_PAGECACHE_CHUNK + SK_PAGECACHE_CHUNK / 2;
	for (uint64_t off = 0; off < total; off += sizeof buf) {
		for (size_t i = 0; i < sizeof buf; i += 4096)
			buf[i] = (unsigned char)((off + i) >> 12);
		if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
			return false;
		sk_pagecache_wrote(pc, fd, sizeof buf);
	}
	return pc->size == total;
}

static bool pattern_ok(const char *path)
{
	unsigned char b[4096];
	int fd = open(path, O_RDONLY);
	bool good = fd >= 0;
	for (off_t off = 0; good; off += sizeof b) {
		ssize_t r = pread(fd, b, sizeof b, off);
		if (r == 0)
			break;
		good = r == (ssize_t)sizeof b && b[0] == (unsigned char)(off >> 12);
	}
	if (fd >= 0)
		close(fd);
	return good;
}

static void run(const char *dir, bool threaded)
{
	char path[300];
	const char *what = threaded ? "thread" : "in place";
	snprintf(path, sizeof path, "%s/%s.log", dir, threaded ? "t" : "p");
	if (threaded) {
		is_int(sk_pagecache_start(), 0, "start");
		is_int(sk_pagecache_start(), 0, "a second start is counted");
		ok(have_thread("sk-pagecache"), "the advice thread runs");
	} else {
		ok(!have_thread("sk-pagecache"), "no advice thread before start");
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0640);
	sk_pagecache_t pc;
	sk_pagecache_init(&pc, 0);
	ok(fd >= 0 && write_chunks(fd, &pc, 3), "%s: 3.5 chunks written, the size followed", what);
	ok(pc.chunk_from == 3ull * SK_PAGECACHE_CHUNK, "%s: 3 chunks completed", what);
	/* Once the data is on the disk, dropping the file leaves none of it cached. */
	fsync(fd);
	sk_pagecache_drop(fd);
	close(fd);   /* the thread works on its own duplicate */
	if (threaded) {
		sk_pagecache_stop();
		ok(have_thread("sk-pagecache"), "after one of two stops the thread still runs");
		sk_pagecache_stop();
		ok(!have_thread("sk-pagecache"), "the last stop ends the thread");
	}
	size_t pages, cached = cached_pages(path, &pages);
	ok(pages > 0 && cached * 10 <= pages, "%s: %zu of %zu pages still cached after the drop", what,
		cached, pages);
	ok(pattern_ok(path), "%s: the data is all there", what);
	unlink(path);
}

int main(void)
{
	char dir[] = "/var/tmp/sk-pagecache-XXXXXX";
	if (!mkdtemp(dir)) {
		ok(0, "a scratch folder in /var/tmp");
		return tap_done();
	}
	run(dir, false);
	run(dir, true);
	sk_pagecache_stop();   /* one too many: ignored */
	ok(!have_thread("sk-pagecache"), "an unmatched stop changes nothing");
	rmdir(dir);
	return tap_done();
}
