/* writer.h -- building a DNS message in a caller's buffer: names with compression, RRsets, rollback */
#ifndef SK_WRITER_H
#define SK_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* How many name positions a message remembers as compression targets. A reply holds a handful
 * of distinct names; past this, later names are still written, only less compressed. */
#define SK_WR_TARGETS 48

/*
 * A message under construction. `limit` is the size the message may reach (the negotiated UDP
 * payload minus what is reserved for OPT, or 65535 over TCP); nothing is ever written past it.
 * The writer owns nothing: `buf` is the caller's.
 */
/* A literal label in the message, where a suffix begins: `off` its offset, `up` the offset of
 * the suffix after it (where its pointer leads, if it ends in one; 0 after the last label), and
 * `label` its bytes to compare with (the lowercased question's copy, for the question). */
typedef struct sk_wr_target {
	const uint8_t *label;
	uint16_t off;
	uint16_t up;
} sk_wr_target_t;

typedef struct sk_writer {
	uint8_t *buf;
	size_t limit;
	size_t pos;
	unsigned ntargets;
	sk_wr_target_t target[SK_WR_TARGETS];
} sk_writer_t;

/* Start a message in `buf` whose first `pos` bytes (header and question) are already written.
 * `qname_off` is where the question name starts (12), so owners can point at it; `lqname`, when
 * not NULL, is that name lowercased (what zone data is stored as: cheaper to compare with). */
void sk_wr_init(sk_writer_t *w, uint8_t *buf, size_t limit, size_t pos, size_t qname_off,
	const uint8_t *lqname);

/*
 * Write `name` (uncompressed wire) at the current position, replacing its longest suffix already
 * in the message by a pointer (RFC 1035 4.1.4; letter case is ignored when matching). Returns 0 or
 * SK_ETOOBIG with nothing written.
 */
int sk_wr_name(sk_writer_t *w, const uint8_t *name);

/*
 * Write every record of `ref->rrset` with the owner `ref` names (the query name's suffix at
 * `qoff`, written as a pointer into the question, or a stored name). Names in the RDATA of the
 * RFC 1035 types are compressed. All or nothing: on SK_ETOOBIG the message is as before.
 * Returns the number of records written.
 */
int sk_wr_rrset(sk_writer_t *w, const sk_rr_ref_t *ref);

#endif
