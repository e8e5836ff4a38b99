/* tsig.h -- TSIG (RFC 8945): verify a request, sign its replies and every message of a transfer */
#ifndef SK_TSIG_H
#define SK_TSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "crypto/crypto.h"
#include "dns/query.h"

/* TSIG error codes (RFC 8945 s3, the TSIG RR's Error field). */
#define SK_TSIG_BADSIG 16
#define SK_TSIG_BADKEY 17
#define SK_TSIG_BADTIME 18
#define SK_TSIG_BADTRUNC 22

/* Seconds of clock difference a signature is good for, in both directions (RFC 8945 s10: 300). */
#define SK_TSIG_FUDGE 300

/* What sk_tsig_verify() found. */
typedef enum {
	SK_TSIG_VALID = 0,      /* the reply is signed with the same key */
	SK_TSIG_ERROR,          /* NOTAUTH with the TSIG error in ctx->error; signed when ctx->key */
	SK_TSIG_MALFORMED,      /* FORMERR: the MAC's size is out of bounds (RFC 8945 s5.2.2.1) */
} sk_tsig_status_t;

/*
 * One signed exchange: a request verified and the replies signed, or a request of our own
 * (NOTIFY). Each message's MAC covers the one before (RFC 8945 s5.3.1), so a transfer keeps its
 * context from the first message to the last. Plain data: lives in the caller's memory.
 */
typedef struct sk_tsig_ctx {
	const sk_tsig_key_t *key;       /* signs the replies; NULL: they go unsigned (BADKEY, BADSIG) */
	uint16_t error;                 /* TSIG error of the next reply; 0 when all is well */
	uint16_t orig_id;               /* the request's original ID */
	uint64_t time_signed;           /* the request's Time Signed */
	uint8_t mac[SK_HMAC_MAX];       /* the request's MAC, then the last one sent */
	uint16_t mac_len;               /* 0: no MAC before (a request of our own) */
	unsigned sent;                  /* messages signed so far */
} sk_tsig_ctx_t;

/*
 * Check the TSIG of a parsed query (q->has_tsig) against `keys` (the config's, `nkeys` of them)
 * at time `now` (seconds since the epoch), in the order of RFC 8945 s5.2: the key and its
 * algorithm (BADKEY), the MAC's size (FORMERR; shorter than the full MAC: BADTRUNC), the MAC
 * (BADSIG), then the time (BADTIME, whose reply is signed). Fills *ctx for the reply.
 * Never allocates; constant-time MAC comparison.
 */
sk_tsig_status_t sk_tsig_verify(const sk_query_t *q, const sk_tsig_key_t *keys, size_t nkeys,
	uint64_t now, sk_tsig_ctx_t *ctx);

/* Start a request of our own signed with `key` (a NOTIFY with ID `id`). */
void sk_tsig_start(sk_tsig_ctx_t *ctx, const sk_tsig_key_t *key, uint16_t id);

/* Bytes the TSIG RR of the next signed message takes: room to keep free at the message's end. */
size_t sk_tsig_size(const sk_tsig_ctx_t *ctx);

/*
 * Sign the complete message msg[0..len) (its counts final, ARCOUNT without the TSIG) at `now`:
 * the first message's MAC covers the request's MAC, the message and every TSIG variable; later
 * ones the previous MAC, the message and the timers (RFC 8945 s4.3, s5.3.1). Appends the TSIG
 * RR, raises ARCOUNT and returns the new length, or 0 when `cap` has no room (msg unchanged).
 */
size_t sk_tsig_sign(sk_tsig_ctx_t *ctx, uint8_t *msg, size_t len, size_t cap, uint64_t now);

/*
 * The unsigned TSIG RR of an error reply (BADKEY, BADSIG, BADTRUNC: RFC 8945 s5.3.2): the
 * request's key name, algorithm, time signed and fudge, no MAC, its original ID, `error`.
 * Written at `p`; returns its length. sk_tsig_error_size() tells it beforehand.
 */
size_t sk_tsig_write_error(const sk_query_t *q, uint16_t error, uint8_t *p);
size_t sk_tsig_error_size(const sk_query_t *q);

#endif
