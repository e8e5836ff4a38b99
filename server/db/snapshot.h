/* snapshot.h -- what the workers answer from, published atomically and freed after a grace period */
#ifndef SK_SNAPSHOT_H
#define SK_SNAPSHOT_H

#include <stdatomic.h>
#include <stdint.h>

#include "conf/conf.h"
#include "db/db.h"

/* Everything one generation of config and data holds. Immutable once published. */
typedef struct sk_snapshot {
	sk_conf_t *conf;
	sk_db_t *db;
	uint64_t generation;    /* 1 for the first load, +1 for every successful reload */
	atomic_uint refs;       /* holders: the registry while it is current or in its grace period,
	                           and every sk_snapshot_hold() not yet released */
} sk_snapshot_t;

/*
 * Load the config at `path` and compile its zones. On success returns 0 and stores a new snapshot
 * in *out; on failure returns a negative code, has reported each problem as "file:line: message",
 * and allocated nothing. May take seconds: run it on the loader thread, never on a worker.
 */
int sk_snapshot_load(const char *path, sk_snapshot_t **out);

/* Free a snapshot and its config and db, whatever its holds: for one never published. Accepts NULL. */
void sk_snapshot_free(sk_snapshot_t *snap);

/*
 * Keep a snapshot past the batch it was read in: a zone transfer that spans many loop
 * iterations streams from the snapshot it started with. Call it inside the batch (between
 * sk_snapreg_enter and sk_snapreg_leave, where the snapshot is sure to be alive); the snapshot
 * then lives until the matching sk_snapshot_release(), even after a reload has replaced it.
 * The refcount is the one mutable field of a published snapshot (atomic). Returns `snap`.
 */
const sk_snapshot_t *sk_snapshot_hold(const sk_snapshot_t *snap);

/*
 * Drop a hold (or the registry's own reference). The last one frees the snapshot, on the calling
 * thread: a worker that ends a transfer after a reload frees the old db itself (a few munmap
 * calls, once per transfer, never per query). Accepts NULL.
 */
void sk_snapshot_release(const sk_snapshot_t *snap);

/*
 * The publication point between one writer (the loader) and `nreaders` workers, quiescent-state
 * based: a worker brackets each batch of queries with enter/leave and never keeps the pointer
 * past leave; the loader's publish returns once no worker can still see the old snapshot, then
 * frees it. Workers never wait, never take a lock.
 */
typedef struct sk_snapreg sk_snapreg_t;

/* Create the registry holding `initial` (ownership taken, also on failure). */
int sk_snapreg_new(unsigned nreaders, sk_snapshot_t *initial, sk_snapreg_t **out);

/* Free the registry and the snapshot it holds. No reader may be inside. Accepts NULL. */
void sk_snapreg_free(sk_snapreg_t *reg);

/* Worker `reader` starts a batch: returns the current snapshot, valid until sk_snapreg_leave(). */
const sk_snapshot_t *sk_snapreg_enter(sk_snapreg_t *reg, unsigned reader);

/* Worker `reader` ends its batch: it holds no snapshot pointer any more. */
void sk_snapreg_leave(sk_snapreg_t *reg, unsigned reader);

/* The current snapshot, for the loader thread only (the only writer). */
const sk_snapshot_t *sk_snapreg_current(sk_snapreg_t *reg);

/*
 * Make `next` current (ownership taken), wait until every reader has left any batch that began
 * before, then release the previous snapshot (freed now, or by the last holder of a transfer
 * still streaming from it). Called by the loader thread only; blocks only it.
 */
void sk_snapreg_publish(sk_snapreg_t *reg, sk_snapshot_t *next);

#endif
