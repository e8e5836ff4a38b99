/* pagecache.c -- see pagecache.h */
#include <fcntl.h>

#include "util/pagecache.h"

void sk_pagecache_wrote(sk_pagecache_t *pc, int fd, uint64_t n)
{
	pc->size += n;
	while (pc->size - pc->chunk_from >= SK_PAGECACHE_CHUNK) {
		off_t at = (off_t)pc->chunk_from;
		(void)sync_file_range(fd, at, SK_PAGECACHE_CHUNK, SYNC_FILE_RANGE_WRITE);
		if (at >= (off_t)SK_PAGECACHE_CHUNK)
			(void)posix_fadvise(fd, at - (off_t)SK_PAGECACHE_CHUNK, SK_PAGECACHE_CHUNK,
				POSIX_FADV_DONTNEED);
		pc->chunk_from += SK_PAGECACHE_CHUNK;
	}
}

void sk_pagecache_drop(int fd)
{
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}
