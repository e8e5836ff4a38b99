/* snapshot.c -- loading a snapshot, and handing it to the workers without locks (QSBR) */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/snapshot.h"
#include "util/err.h"

/*
 * Generations: sk_snapshot_load numbers every snapshot 1. The loader, the one thread that
 * knows what is current, sets `generation` to current + 1 before it publishes a reload. A
 * counter in here would also count loads that failed or were never published.
 */
int sk_snapshot_load(const char *path, sk_snapshot_t **out)
{
	sk_conf_t *conf = NULL;
	sk_db_t *db = NULL;
	sk_snapshot_t *snap;
	int rc = sk_conf_load(path, &conf);
	if (rc)
		goto fail;
	if ((rc = sk_db_build(conf, &db)))
		goto fail;
	if (!(snap = calloc(1, sizeof *snap))) {
		rc = -ENOMEM;
		goto fail;
	}
	snap->conf = conf;
	snap->db = db;
	snap->generation = 1;
	atomic_init(&snap->refs, 1);
	*out = snap;
	return 0;
fail:
	sk_db_free(db);
	sk_conf_free(conf);
	return rc;
}

void sk_snapshot_free(sk_snapshot_t *snap)
{
	if (!snap)
		return;
	sk_db_free(snap->db);
	sk_conf_free(snap->conf);
	free(snap);
}

const sk_snapshot_t *sk_snapshot_hold(const sk_snapshot_t *snap)
{
	/* Relaxed is enough: the caller already holds a reference (the registry's, pinned by the
	 * batch it is in), so the count cannot reach zero meanwhile. */
	atomic_fetch_add_explicit(&((sk_snapshot_t *)snap)->refs, 1, memory_order_relaxed);
	return snap;
}

void sk_snapshot_release(const sk_snapshot_t *snap)
{
	if (!snap)
		return;
	sk_snapshot_t *s = (sk_snapshot_t *)snap;
	/* acq_rel: every read of the snapshot by any holder happens before the free. */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		sk_snapshot_free(s);
}

/*
 * The registry is quiescent-state-based reclamation for one writer. Each reader owns a counter
 * on its own cache line: even while it holds nothing, odd inside a batch. Only the reader writes
 * its counter, so entering and leaving take no lock and share no line with anyone.
 *
 * Why it is safe: enter's increment and the pointer load, and publish's pointer exchange and its
 * counter loads, are all sequentially consistent, so they fall in one total order. If publish
 * reads a reader's counter even, that read precedes the reader's next increment, so the exchange
 * does too, and the reader's next pointer load sees the new snapshot. If it reads an odd value,
 * the reader may hold the old pointer; publish waits until the counter changes, and the leave
 * that changed it is a release store that publish acquires: every read of the old snapshot
 * happened before it is freed.
 */
typedef struct sk_snapreg_slot {
	alignas(64) atomic_uint_fast64_t ctr;
} sk_snapreg_slot_t;

struct sk_snapreg {
	_Atomic(sk_snapshot_t *) cur;
	unsigned nreaders;
	sk_snapreg_slot_t *slots;
};

_Static_assert(sizeof(sk_snapreg_slot_t) == 64, "one reader slot per cache line");

int sk_snapreg_new(unsigned nreaders, sk_snapshot_t *initial, sk_snapreg_t **out)
{
	sk_snapreg_t *reg = calloc(1, sizeof *reg);
	if (!reg)
		goto fail;
	reg->slots = aligned_alloc(alignof(sk_snapreg_slot_t), (nreaders ? nreaders : 1) * sizeof *reg->slots);
	if (!reg->slots)
		goto fail;
	for (unsigned i = 0; i < nreaders; i++)
		atomic_init(&reg->slots[i].ctr, 0);
	reg->nreaders = nreaders;
	atomic_init(&reg->cur, initial);
	*out = reg;
	return 0;
fail:
	free(reg);
	sk_snapshot_free(initial);
	return -ENOMEM;
}

void sk_snapreg_free(sk_snapreg_t *reg)
{
	if (!reg)
		return;
	sk_snapshot_release(atomic_load(&reg->cur));
	free(reg->slots);
	free(reg);
}

const sk_snapshot_t *sk_snapreg_enter(sk_snapreg_t *reg, unsigned reader)
{
	/* seq_cst read-modify-write: the mark is visible before the pointer is read (a plain
	 * store could be reordered after the load, which is the whole bug QSBR must avoid). */
	atomic_fetch_add(&reg->slots[reader].ctr, 1);
	return atomic_load(&reg->cur);
}

void sk_snapreg_leave(sk_snapreg_t *reg, unsigned reader)
{
	atomic_uint_fast64_t *ctr = &reg->slots[reader].ctr;
	/* Only this reader writes the counter, so load + store needs no locked instruction; release
	 * orders every read of the snapshot before it. */
	atomic_store_explicit(ctr, atomic_load_explicit(ctr, memory_order_relaxed) + 1,
		memory_order_release);
}

const sk_snapshot_t *sk_snapreg_current(sk_snapreg_t *reg)
{
	return atomic_load_explicit(&reg->cur, memory_order_relaxed);
}

/* Wait until reader i is not inside a batch that may have seen the previous pointer. */
static void wait_reader(sk_snapreg_t *reg, unsigned i)
{
	uint_fast64_t seen = atomic_load(&reg->slots[i].ctr);
	/* A batch is microseconds; start short and back off to 1 ms so a reader stuck in a long
	 * batch costs the loader nothing. */
	long ns = 10000;
	while ((seen & 1) && atomic_load_explicit(&reg->slots[i].ctr, memory_order_acquire) == seen) {
		nanosleep(&(struct timespec){ .tv_nsec = ns }, NULL);
		if (ns < 1000000)
			ns *= 2;
	}
}

void sk_snapreg_publish(sk_snapreg_t *reg, sk_snapshot_t *next)
{
	sk_snapshot_t *old = atomic_exchange(&reg->cur, next);
	for (unsigned i = 0; i < reg->nreaders; i++)
		wait_reader(reg, i);
	sk_snapshot_release(old);
}
