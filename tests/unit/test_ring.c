/* test_ring.c -- the per-worker event ring: capacity, drops counted, and two threads at full speed */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "tap.h"
#include "telemetry/ring.h"

static void test_new(void)
{
	sk_ring_t *r = (sk_ring_t *)&r;
	is_int(sk_ring_new(0, &r), -EINVAL, "size 0 refused");
	is_int(sk_ring_new(1, &r), -EINVAL, "size 1 refused");
	is_int(sk_ring_new(12, &r), -EINVAL, "size 12 (not a power of two) refused");
	is_int(sk_ring_new(1u << 25, &r), -EINVAL, "size 1<<25 refused");
	ok(r == (sk_ring_t *)&r, "*out untouched on failure");
	is_int(sk_ring_new(2, &r), 0, "size 2 accepted");
	is_int(sk_ring_size(r), 2, "size 2");
	sk_ring_free(r);
	sk_ring_free(NULL);
}

static void test_capacity(void)
{
	sk_ring_t *r;
	sk_event_t *ev;
	const sk_event_t *got;
	int in_order = 1;

	if (sk_ring_new(8, &r) < 0)
		return;
	ok(sk_ring_peek(r) == NULL, "a new ring is empty");
	for (uint64_t i = 0; i < 8; i++) {
		ev = sk_ring_reserve(r);
		if (!ev)
			break;
		ev->time_us = i;
		sk_ring_commit(r);
	}
	is_int(sk_ring_dropped(r), 0, "eight events fit in eight slots");
	ok(sk_ring_reserve(r) == NULL, "the ninth: ring full");
	ok(sk_ring_reserve(r) == NULL, "the tenth: ring full");
	is_int(sk_ring_dropped(r), 2, "both drops counted by the ring");

	/* Reserve without commit is not published, and the same slot comes back. */
	got = sk_ring_peek(r);
	ok(got && got->time_us == 0, "peek gives the oldest");
	ok(sk_ring_peek(r) == got, "peek twice without release: same event");
	sk_ring_release(r);
	ev = sk_ring_reserve(r);
	ok(ev != NULL, "one released slot: reserve succeeds");
	ok(sk_ring_reserve(r) == ev, "reserve without commit gives the same slot again");
	ev->time_us = 8;
	sk_ring_commit(r);
	ok(sk_ring_reserve(r) == NULL, "full again");
	for (uint64_t want = 1; want <= 8; want++) {
		got = sk_ring_peek(r);
		if (!got || got->time_us != want)
			in_order = 0;
		if (got)
			sk_ring_release(r);
	}
	ok(in_order, "events 1..8 come out in order");
	ok(sk_ring_peek(r) == NULL, "then the ring is empty");
	is_int(sk_ring_dropped(r), 3, "drops: 3");
	sk_ring_free(r);
}

#define PUSHED 1000000u

struct run {
	sk_ring_t *r;
	uint64_t committed;
	uint64_t seen, out_of_order;
	unsigned pace;          /* producer spins this long between events: 0 is flat out */
	int ready, done;
};

static void *producer(void *arg)
{
	struct run *x = arg;
	while (!__atomic_load_n(&x->ready, __ATOMIC_ACQUIRE))
		;
	for (uint64_t i = 1; i <= PUSHED; i++) {
		for (volatile unsigned k = 0; k < x->pace; k++)
			;
		sk_event_t *ev = sk_ring_reserve(x->r);
		if (!ev)
			continue;
		ev->time_us = i;
		ev->qlen = (uint16_t)i;
		ev->query[0] = (uint8_t)i;
		sk_ring_commit(x->r);
		x->committed++;
	}
	__atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *consumer(void *arg)
{
	struct run *x = arg;
	uint64_t last = 0;
	__atomic_store_n(&x->ready, 1, __ATOMIC_RELEASE);
	for (;;) {
		int done = __atomic_load_n(&x->done, __ATOMIC_ACQUIRE);
		const sk_event_t *ev = sk_ring_peek(x->r);
		if (!ev) {
			if (done)
				break;
			continue;
		}
		/* Strictly increasing: nothing seen twice, nothing out of order, no torn slot. */
		if (ev->time_us <= last || ev->qlen != (uint16_t)ev->time_us ||
		    ev->query[0] != (uint8_t)ev->time_us)
			x->out_of_order++;
		last = ev->time_us;
		x->seen++;
		sk_ring_release(x->r);
	}
	return NULL;
}

static void test_threads(unsigned pace)
{
	struct run x = { .pace = pace };
	pthread_t p, c;

	if (sk_ring_new(1024, &x.r) < 0)
		return;
	pthread_create(&c, NULL, consumer, &x);
	pthread_create(&p, NULL, producer, &x);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	is_int(x.out_of_order, 0, "pace %u: 1e6 events: every event seen once, in order, whole", pace);
	is_int(x.seen, x.committed, "pace %u: every committed event was consumed", pace);
	is_int(x.seen + sk_ring_dropped(x.r), PUSHED, "pace %u: consumed + dropped == pushed", pace);
	printf("# pace %u: consumed %llu, dropped %llu\n", pace, (unsigned long long)x.seen,
		(unsigned long long)sk_ring_dropped(x.r));
	sk_ring_free(x.r);
}

int main(void)
{
	test_new();
	test_capacity();
	test_threads(0);
	test_threads(1000);
	return tap_done();
}
