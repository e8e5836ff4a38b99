/* rsort.h -- a stable radix sort of (64-bit key, 32-bit value) pairs, for millions of rows */
#ifndef RP_RSORT_H
#define RP_RSORT_H

#include <stddef.h>
#include <stdint.h>

typedef struct rp_kv {
	uint64_t key;
	uint32_t val;
	uint32_t aux;        /* carried along, not compared */
} rp_kv_t;

/* Sort ascending by key, keeping the order of equal keys (so that sorting by a second key, then
 * by a first one, sorts by both). Byte positions where every key is the same cost nothing.
 * Returns 0 or -ENOMEM. */
int rp_radix_sort(rp_kv_t *a, size_t n);

#endif
