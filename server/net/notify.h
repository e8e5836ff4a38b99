/* notify.h -- NOTIFY (RFC 1996) to secondaries when a zone's serial changes, retried until answered */
#ifndef SK_NOTIFY_H
#define SK_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "db/snapshot.h"

/*
 * The notifier is one thread with its own libuv loop and UDP sockets (an ephemeral port per
 * address family, opened when first needed). Jobs come from the thread that loads snapshots
 * (the main thread at start, the loader on SIGHUP), never from a worker: a reload costs the
 * workers nothing, and a secondary that does not answer costs the loader nothing either.
 * Each NOTIFY is sent at once and again after 1, 2, 4 and 8 seconds until an answer with its ID
 * comes from the address it was sent to; then it is dropped and logged. A newer NOTIFY for the
 * same zone and secondary replaces one still waiting. The answer's TSIG is not verified: a
 * forged answer could only stop the retries of a message the secondary may then miss, which
 * its SOA refresh timer repairs.
 */
typedef struct sk_notifier sk_notifier_t;

/* Start the thread (with every signal blocked). Returns 0 or a negative code. */
int sk_notifier_new(sk_notifier_t **out);

/*
 * Queue a NOTIFY to each of `next`'s transfer.notify secondaries for every zone (and the
 * catalog) whose serial in `next` differs from its serial in `prev`, or that `prev` lacks (prev
 * NULL: every zone, as at start). Seized domains are not notified one by one: the catalog is,
 * and its consumers pull the members. Copies what it needs (names, SOA, addresses, keys): the
 * snapshots may be freed once it returns. Bounded by zones x secondaries; takes a mutex only.
 * Returns the number of NOTIFYs queued.
 */
size_t sk_notifier_reload(sk_notifier_t *n, const sk_snapshot_t *prev, const sk_snapshot_t *next);

/* Stop the thread (NOTIFYs still waiting are dropped, and logged as such), join it, free.
 * Accepts NULL. */
void sk_notifier_free(sk_notifier_t *n);

#endif
