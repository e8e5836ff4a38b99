/* ring.c -- single-producer, single-consumer event ring with drop counting */
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "telemetry/ring.h"

#define CACHE_LINE 64

/*
 * head counts events ever committed, tail events ever released; both only grow (64 bits do not
 * wrap in practice), and a slot index is the count masked. Each side keeps a private copy of the
 * other side's counter and refreshes it only when the copy says full (or empty), so in steady
 * state a worker touches only its own cache line and the slot it writes. The two sides' lines
 * are kept apart so that neither side's writes invalidate the other's line (false sharing).
 */
struct sk_ring {
	/* written by the producer */
	alignas(CACHE_LINE) _Atomic uint64_t head;
	uint64_t tail_seen;
	_Atomic uint64_t dropped;
	/* written by the consumer */
	alignas(CACHE_LINE) _Atomic uint64_t tail;
	uint64_t head_seen;
	/* read-only after creation */
	alignas(CACHE_LINE) uint64_t mask;
	sk_event_t *slots;
};

int sk_ring_new(unsigned size, sk_ring_t **out)
{
	sk_ring_t *r = NULL;

	if (size < 2 || size > (1u << 24) || (size & (size - 1)))
		return -EINVAL;
	if (!(r = aligned_alloc(CACHE_LINE, sizeof *r)))
		goto fail;
	/* Not zeroed: a slot is filled completely before it is committed, and untouched pages
	 * of a big ring then cost no memory until traffic reaches them. */
	r->slots = aligned_alloc(CACHE_LINE, ((size_t)size * sizeof *r->slots + CACHE_LINE - 1) /
		CACHE_LINE * CACHE_LINE);
	if (!r->slots)
		goto fail;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->dropped, 0);
	r->tail_seen = r->head_seen = 0;
	r->mask = size - 1;
	*out = r;
	return 0;
fail:
	free(r);
	return -ENOMEM;
}

void sk_ring_free(sk_ring_t *ring)
{
	if (!ring)
		return;
	free(ring->slots);
	free(ring);
}

/*
 * A ring is megabytes: the slot after the current one is cold by the time either side reaches it.
 * Asking for its first 256 bytes (the fixed fields and a typical query) while the current slot is
 * worked on hides most of that wait, on the worker filling events and on the telemetry thread
 * reading them. A hint only: it never faults, even past the end of the slots.
 */
#define PREFETCH_SLOT(slot, rw) do { \
	const char *p_ = (const char *)(slot); \
	__builtin_prefetch(p_, (rw)); \
	__builtin_prefetch(p_ + 64, (rw)); \
	__builtin_prefetch(p_ + 128, (rw)); \
	__builtin_prefetch(p_ + 192, (rw)); \
} while (0)

sk_event_t *sk_ring_reserve(sk_ring_t *r)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	if (head - r->tail_seen > r->mask) {
		/* Acquire: the consumer's reads of the slots it released are over. */
		r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head - r->tail_seen > r->mask) {
			/* Only this thread writes the counter: a plain increment, published atomically. */
			atomic_store_explicit(&r->dropped,
				atomic_load_explicit(&r->dropped, memory_order_relaxed) + 1,
				memory_order_relaxed);
			return NULL;
		}
	}
	PREFETCH_SLOT(&r->slots[(head + 1) & r->mask], 1);
	return &r->slots[head & r->mask];
}

void sk_ring_commit(sk_ring_t *r)
{
	/* Release: the event's bytes are visible before the consumer can see the new head. */
	atomic_store_explicit(&r->head, atomic_load_explicit(&r->head, memory_order_relaxed) + 1,
		memory_order_release);
}

const sk_event_t *sk_ring_peek(sk_ring_t *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	if (tail == r->head_seen) {
		r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
		if (tail == r->head_seen)
			return NULL;
	}
	PREFETCH_SLOT(&r->slots[(tail + 1) & r->mask], 0);
	return &r->slots[tail & r->mask];
}

void sk_ring_release(sk_ring_t *r)
{
	atomic_store_explicit(&r->tail, atomic_load_explicit(&r->tail, memory_order_relaxed) + 1,
		memory_order_release);
}

uint64_t sk_ring_dropped(const sk_ring_t *r)
{
	return atomic_load_explicit(&((sk_ring_t *)r)->dropped, memory_order_relaxed);
}

unsigned sk_ring_size(const sk_ring_t *r)
{
	return (unsigned)(r->mask + 1);
}
