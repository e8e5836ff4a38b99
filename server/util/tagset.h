/* tagset.h -- interned, immutable tag sets ({case: ..., operation: ...}) that outlive every snapshot */
#ifndef SK_TAGSET_H
#define SK_TAGSET_H

#include <stddef.h>

#include "conf/conf.h"

/*
 * A zone's or list's tags, interned: equal contents give the same pointer, and a tag set is never
 * freed while the process runs. A telemetry event can therefore carry the pointer across a reload
 * that frees the zone it came from. The number of distinct sets is that of distinct config
 * entries ever loaded, so keeping them costs next to nothing.
 */
typedef struct sk_tagset {
	size_t n;
	const sk_tag_t *tags;    /* n entries, in config order */
	const char *json;        /* the tags as a JSON object text, ready to copy into a record: {"case":"..."} */
	size_t json_len;         /* strlen(json) */
	unsigned id;             /* 0 for the empty set, then 1, 2, ... in the order sets were first
	                            interned: a small number that per-worker counters index by */
} sk_tagset_t;

/* The interned set equal to tags[0..n). Thread-safe (the loader calls it). NULL only on ENOMEM.
 * n == 0 gives the shared empty set. */
const sk_tagset_t *sk_tagset_intern(const sk_tag_t *tags, size_t n);

/* The set whose id is `id`, or NULL when no set has it (yet). Thread-safe. */
const sk_tagset_t *sk_tagset_by_id(unsigned id);

/* Number of ids handed out so far: every id is below it. Thread-safe. */
unsigned sk_tagset_count(void);

/* Free every interned set. Only at exit, when no thread can hold one any more. */
void sk_tagset_free_all(void);

#endif
