/* pagecache.h -- keep a file written at a high rate from filling the page cache */
#ifndef SK_PAGECACHE_H
#define SK_PAGECACHE_H

#include <stdint.h>

/*
 * Left alone, the kernel caches every byte a telemetry sink writes until memory runs short (tens
 * of MB a second under load), crowding out what is worth caching (the geo databases are mapped
 * files) and making the writer pay for fresh pages. With this, each completed chunk of
 * SK_PAGECACHE_CHUNK bytes is sent to the disk at once (asynchronously) and the chunk before it,
 * written by then, is dropped. The newest 16 to 32 MiB stay cached for a reader that follows the
 * file (tail -F, a log shipper). Advice only: a filesystem or device that ignores it changes nothing.
 */
#define SK_PAGECACHE_CHUNK (16u << 20)

typedef struct sk_pagecache {
	uint64_t size;          /* bytes in the file */
	uint64_t chunk_from;    /* start of the chunk being filled */
} sk_pagecache_t;

/* Start following a file that already holds `size` bytes (appended to from there). */
static inline void sk_pagecache_init(sk_pagecache_t *pc, uint64_t size)
{
	pc->size = size;
	pc->chunk_from = size;
}

/* `n` more bytes were appended to `fd`: hand completed chunks to the disk, drop older ones. */
void sk_pagecache_wrote(sk_pagecache_t *pc, int fd, uint64_t n);

/* The file is finished (rotated, closed): drop what of it is already on the disk. */
void sk_pagecache_drop(int fd);

#endif
