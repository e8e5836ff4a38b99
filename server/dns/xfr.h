/* xfr.h -- zone transfers out: who may, and a transfer written one message at a time */
#ifndef SK_XFR_H
#define SK_XFR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "conf/conf.h"
#include "dns/respond.h"

/*
 * May a client at `addr` (NULL: unknown, matches no address) transfer, its request signed with
 * `key` (verified; NULL: unsigned)? True when an allow entry matches: the address in one of its
 * prefixes (or it has none), and its key the one that signed (or it names none).
 */
bool sk_xfr_allowed(const sk_xfr_conf_t *x, const struct sockaddr *addr, const sk_tsig_key_t *key);

/*
 * One transfer: the answer to an AXFR (or an IXFR answered in full) that sk_respond() accepted
 * over TCP (info->xfr). It streams from the snapshot the query was answered from, which it holds
 * (sk_snapshot_hold) until freed, so a reload meanwhile changes nothing in it.
 */
typedef struct sk_xfr sk_xfr_t;

/*
 * Start the transfer that `info` (from sk_respond on `snap`, inside the batch) accepted, for
 * the client at `peer` (for the log line). Copies what it needs from the query. Returns 0, or
 * -ENOMEM with nothing held. Allocates the transfer's state once; nothing per message.
 */
int sk_xfr_new(const sk_snapshot_t *snap, const sk_resp_info_t *info, const struct sockaddr *peer,
	sk_xfr_t **out);

/* Room worth offering sk_xfr_next(): a message of the usual size, its TSIG and question. */
#define SK_XFR_ROOM (16384 + 1024)

/*
 * Write the next message into `out` (`cap` bytes, at least SK_XFR_ROOM) at time `now` (seconds,
 * for TSIG): the SOA first, then the zone's RRsets, a message filled to about 16 KiB, the SOA
 * last; each message signed when the request was. Returns its length; 0 once the last message
 * was written (sk_xfr_done), or when the next record needs a message larger than `cap` allows:
 * call again with SK_MSG_MAX bytes. Never blocks.
 */
size_t sk_xfr_next(sk_xfr_t *x, uint8_t *out, size_t cap, uint64_t now);

/* True once the last message was written. */
bool sk_xfr_done(const sk_xfr_t *x);

/* Log the transfer (who, what, messages, bytes, key; complete or not), release the snapshot,
 * free. Accepts NULL. */
void sk_xfr_free(sk_xfr_t *x);

#endif
