/* ring.h -- one worker's bounded, lock-free queue of events to the telemetry thread */
#ifndef SK_RING_H
#define SK_RING_H

#include <stdint.h>

#include "telemetry/event.h"

/*
 * A single-producer, single-consumer ring of sk_event_t slots. The producer is one worker
 * thread, the consumer the telemetry thread; neither ever waits for the other. When the ring is
 * full the event is dropped and counted here: a query is never slowed down to record it.
 *
 * Events are written in place (reserve, fill, commit) and read in place (peek, read, release),
 * so an event is never copied between the two threads' buffers.
 */
typedef struct sk_ring sk_ring_t;

/* Allocate a ring of `size` slots, a power of two from 2 to 1<<24. Returns 0 and stores it in
 * *out, or -EINVAL / -ENOMEM with *out untouched. */
int sk_ring_new(unsigned size, sk_ring_t **out);

/* Free a ring. Neither thread may use it any more. Accepts NULL. */
void sk_ring_free(sk_ring_t *ring);

/*
 * Producer: the next free slot, to be filled and then published with sk_ring_commit(); or NULL
 * when the ring is full, in which case the drop has been counted already (sk_ring_dropped()).
 * The slot holds stale data: fill every field. Between reserve and commit the producer may
 * abandon the slot simply by not committing it (the next reserve returns the same slot).
 * Never blocks, never allocates, no system call.
 */
sk_event_t *sk_ring_reserve(sk_ring_t *ring);

/* Producer: publish the slot from the last successful sk_ring_reserve(). */
void sk_ring_commit(sk_ring_t *ring);

/* Consumer: the oldest published event, or NULL when the ring is empty. It stays valid, and
 * is not overwritten, until sk_ring_release(). */
const sk_event_t *sk_ring_peek(sk_ring_t *ring);

/* Consumer: give the slot of the event from the last successful sk_ring_peek() back. */
void sk_ring_release(sk_ring_t *ring);

/* Events dropped because the ring was full, since it was created. Any thread. */
uint64_t sk_ring_dropped(const sk_ring_t *ring);

/* Number of slots. */
unsigned sk_ring_size(const sk_ring_t *ring);

#endif
