/* test_snapshot.c -- the snapshot registry: no reader ever holds a freed snapshot, every one is freed */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "db/snapshot.h"
#include "tap.h"

#define NREADERS 3
#define NPUBLISH 5000
#define NSNAP (NPUBLISH + 2)   /* generation g lives at index g; 0 unused */

/*
 * The registry frees a snapshot with sk_snapshot_free(), which ends in free(). To see the exact
 * moment, this test replaces free() for the whole process: it marks a tracked snapshot dead
 * before handing the memory back to glibc, so a reader that checks `dead` while it still holds a
 * snapshot catches a grace period cut short, even if the memory has not been reused yet.
 * A sanitizer owns malloc and free itself: there the replacement is left out, the checks that
 * need it are skipped, and AddressSanitizer reports a reader's use after free on its own.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static sk_snapshot_t *snaps[NSNAP];
static atomic_bool dead[NSNAP];
static atomic_uint nfreed;
static atomic_bool tracking;

/* An assertion about when snapshots are freed: only where free() is ours to watch. */
#define ok_freed(cond, ...) do { if (SANITIZED) ok(1, "free() not watched # SKIP sanitizer build"); \
	else ok(cond, __VA_ARGS__); } while (0)

#if !SANITIZED
extern void __libc_free(void *p);

void free(void *p)
{
	if (p && atomic_load(&tracking)) {
		/* Skip the dead: their address may since have been handed to a newer snapshot. */
		for (unsigned g = 1; g < NSNAP; g++) {
			if (snaps[g] == p && !atomic_load(&dead[g])) {
				atomic_store(&dead[g], true);
				atomic_fetch_add(&nfreed, 1);
				break;
			}
		}
	}
	__libc_free(p);
}
#endif

static sk_snapshot_t *make_snap(uint64_t g)
{
	sk_snapshot_t *s = calloc(1, sizeof *s);   /* conf and db NULL: sk_snapshot_free accepts that */
	if (!s)
		abort();
	s->generation = g;
	atomic_init(&s->refs, 1);   /* the reference the registry takes over, as sk_snapshot_load gives */
	snaps[g] = s;
	return s;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct reader {
	sk_snapreg_t *reg;
	unsigned id;
	unsigned long batches;
	unsigned long violations;   /* saw its snapshot freed while inside a batch */
	unsigned long backwards;    /* a generation older than one it already saw */
	atomic_uint_fast64_t seen;  /* newest generation seen */
	pthread_t thread;
} reader_t;

static atomic_bool stop_readers;

/* A worker's life in miniature: enter, use the snapshot for a while, leave, sometimes idle. */
static void *reader_main(void *arg)
{
	reader_t *r = arg;
	uint64_t last = 0;
	while (!atomic_load_explicit(&stop_readers, memory_order_relaxed)) {
		const sk_snapshot_t *s = sk_snapreg_enter(r->reg, r->id);
		uint64_t g = s->generation;
		bool bad = g == 0 || g >= NSNAP || atomic_load(&dead[g]);
		for (volatile unsigned i = 0; !bad && i < 200; i++)
			;
		if (!bad)
			bad = atomic_load(&dead[g]) || ((volatile const sk_snapshot_t *)s)->generation != g;
		sk_snapreg_leave(r->reg, r->id);
		r->violations += bad;
		r->backwards += g < last;
		last = g;
		atomic_store_explicit(&r->seen, g, memory_order_relaxed);
		if (++r->batches % 64 == 0)
			sched_yield();   /* quiescent, as a worker waiting in epoll */
	}
	return NULL;
}

static void test_single_thread(void)
{
	sk_snapreg_t *reg = NULL;
	ok(sk_snapreg_new(2, make_snap(1), &reg) == 0 && reg, "registry created");
	const sk_snapshot_t *s = sk_snapreg_enter(reg, 0);
	ok(s == snaps[1] && sk_snapreg_current(reg) == s, "enter returns the current snapshot");
	sk_snapreg_leave(reg, 0);
	sk_snapreg_publish(reg, make_snap(2));
	ok_freed(atomic_load(&dead[1]), "publish with no reader inside frees the old snapshot at once");
	s = sk_snapreg_enter(reg, 1);
	ok(s == snaps[2] && s->generation == 2, "a reader entering after publish sees the new one");
	sk_snapreg_leave(reg, 1);
	sk_snapreg_free(reg);
	ok_freed(atomic_load(&dead[2]), "sk_snapreg_free frees the current snapshot");
	sk_snapreg_free(NULL);
	sk_snapshot_free(NULL);
	ok(1, "free functions accept NULL");
}

typedef struct holder {
	sk_snapreg_t *reg;
	atomic_int state;      /* 1: inside, holding; 2: left */
	bool dead_while_held;
} holder_t;

static void *holder_main(void *arg)
{
	holder_t *h = arg;
	const sk_snapshot_t *s = sk_snapreg_enter(h->reg, 0);
	atomic_store(&h->state, 1);
	usleep(200000);
	h->dead_while_held = atomic_load(&dead[s->generation]);
	sk_snapreg_leave(h->reg, 0);
	atomic_store(&h->state, 2);
	return NULL;
}

/* A reader parked inside a batch holds publish back; one outside does not. */
static void test_grace_period(void)
{
	holder_t h = { 0 };
	pthread_t t;
	for (unsigned g = 1; g < NSNAP; g++)
		atomic_store(&dead[g], false);
	ok(sk_snapreg_new(2, make_snap(1), &h.reg) == 0, "registry for the grace-period test");
	pthread_create(&t, NULL, holder_main, &h);
	while (atomic_load(&h.state) != 1)
		usleep(1000);
	double t0 = now();
	sk_snapreg_publish(h.reg, make_snap(2));
	double waited = now() - t0;
	ok(atomic_load(&h.state) == 2 && !h.dead_while_held,
		"publish returned only after the reader inside left (waited %.3f s)", waited);
	ok_freed(atomic_load(&dead[1]), "then freed the old snapshot");
	pthread_join(t, NULL);
	t0 = now();
	sk_snapreg_publish(h.reg, make_snap(3));
	waited = now() - t0;
	ok(waited < 0.1, "publish does not wait for readers outside a batch (%.3f s)", waited);
	ok_freed(atomic_load(&dead[2]), "and freed the old snapshot");
	sk_snapreg_free(h.reg);
}

/* A transfer's hold: the snapshot outlives its replacement until the hold is released. */
static void test_hold(void)
{
	sk_snapreg_t *reg = NULL;
	for (unsigned g = 1; g < NSNAP; g++)
		atomic_store(&dead[g], false);
	ok(sk_snapreg_new(1, make_snap(1), &reg) == 0, "registry for the hold test");
	const sk_snapshot_t *s = sk_snapreg_enter(reg, 0);
	const sk_snapshot_t *held = sk_snapshot_hold(s);
	const sk_snapshot_t *twice = sk_snapshot_hold(s);
	sk_snapreg_leave(reg, 0);
	ok(held == snaps[1] && twice == held, "hold returns the snapshot it was given");
	sk_snapreg_publish(reg, make_snap(2));
	ok_freed(!atomic_load(&dead[1]), "publish does not free a snapshot that is held");
	ok(held->generation == 1 && atomic_load(&held->refs) == 2, "the held snapshot is intact, two holds left");
	sk_snapshot_release(twice);
	ok_freed(!atomic_load(&dead[1]), "releasing one of two holds frees nothing");
	sk_snapshot_release(held);
	ok_freed(atomic_load(&dead[1]), "the last release frees it");
	s = sk_snapreg_enter(reg, 0);
	held = sk_snapshot_hold(s);
	sk_snapreg_leave(reg, 0);
	sk_snapshot_release(held);
	ok_freed(!atomic_load(&dead[2]), "a hold released while current leaves the registry's reference");
	sk_snapreg_free(reg);
	ok_freed(atomic_load(&dead[2]), "sk_snapreg_free then frees it");
	sk_snapshot_release(NULL);
}

static bool seen_by_any(reader_t *r, uint64_t g)
{
	for (unsigned i = 0; i < NREADERS; i++)
		if (atomic_load_explicit(&r[i].seen, memory_order_relaxed) >= g)
			return true;
	return false;
}

/* Readers spin through batches while the writer publishes NPUBLISH snapshots. */
static void test_concurrent(void)
{
	sk_snapreg_t *reg = NULL;
	reader_t r[NREADERS];
	for (unsigned g = 1; g < NSNAP; g++) {
		atomic_store(&dead[g], false);
		snaps[g] = NULL;
	}
	atomic_store(&nfreed, 0);
	ok(sk_snapreg_new(NREADERS, make_snap(1), &reg) == 0, "registry with %d readers", NREADERS);
	for (unsigned i = 0; i < NREADERS; i++) {
		r[i] = (reader_t){ .reg = reg, .id = i };
		pthread_create(&r[i].thread, NULL, reader_main, &r[i]);
	}
	unsigned not_freed = 0, not_current = 0;
	double t0 = now();
	for (uint64_t g = 2; g <= NPUBLISH + 1; g++) {
		/* Interleave for real: publish only once some reader has taken the last one, so
		 * that readers are inside batches on the snapshot being replaced. */
		while (!seen_by_any(r, g - 1))
			sched_yield();
		sk_snapreg_publish(reg, make_snap(g));
		not_freed += !atomic_load(&dead[g - 1]);
		not_current += sk_snapreg_current(reg) != snaps[g];
	}
	double took = now() - t0;
	atomic_store(&stop_readers, true);
	unsigned long batches = 0, violations = 0, backwards = 0;
	for (unsigned i = 0; i < NREADERS; i++) {
		pthread_join(r[i].thread, NULL);
		batches += r[i].batches;
		violations += r[i].violations;
		backwards += r[i].backwards;
	}
	sk_snapreg_free(reg);
	printf("# %d publishes in %.3f s, %lu reader batches\n", NPUBLISH, took, batches);
	ok(batches >= NPUBLISH, "readers ran %lu batches during the publishes", batches);
	is_int(violations, 0, "no reader saw its snapshot freed while inside a batch");
	is_int(backwards, 0, "no reader saw a generation go backwards");
	ok_freed(not_freed == 0, "every publish freed the snapshot before it on return (%u not)", not_freed);
	is_int(not_current, 0, "every publish made its snapshot current");
	ok_freed(atomic_load(&nfreed) == NPUBLISH + 1, "every snapshot was freed exactly once (%u of %d)",
		atomic_load(&nfreed), NPUBLISH + 1);
}

int main(void)
{
	atomic_store(&tracking, true);
	test_single_thread();
	test_grace_period();
	test_hold();
	test_concurrent();
	atomic_store(&tracking, false);
	return tap_done();
}
