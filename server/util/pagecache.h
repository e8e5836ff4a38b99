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
 *
 * The advice is carried out by a thread of its own, "sk-pagecache", between sk_pagecache_start()
 * and sk_pagecache_stop(): sync_file_range() "starts" write-back, but waits while the disk's queue
 * is full, and a shared disk made it wait 0.4 s, long enough for the workers' rings to overflow
 * while the telemetry thread waited. The writer hands over a duplicate of its descriptor (the file
 * may be closed or rotated before the advice runs) and never waits: when the helper is behind by
 * SK_PAGECACHE_QUEUE pieces of advice, the newest is skipped. Without the thread (unit tests,
 * tools) the advice runs in the caller.
 */
#define SK_PAGECACHE_CHUNK (16u << 20)
#define SK_PAGECACHE_QUEUE 64

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

/* Start the advice thread (idempotent; counted: each start needs its stop). 0 or a negative
 * errno, with the advice then given in the caller as before. */
int sk_pagecache_start(void);

/* Carry out the advice queued so far, and end the thread when the last start is stopped. */
void sk_pagecache_stop(void);

#endif
