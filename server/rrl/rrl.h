/* rrl.h -- response rate limiting (UDP): one account per source prefix and kind of answer */
#ifndef SK_RRL_H
#define SK_RRL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "dns/respond.h"

/*
 * What rate limiting did with one reply. Telemetry records it (`"rrl"` in JSON lines), so the
 * values and their text are part of the record format.
 */
typedef enum sk_rrl_action {
	SK_RRL_NONE = 0,   /* not accounted: rate limiting off, TCP, an exempt source, rate 0 */
	SK_RRL_PASS,       /* accounted and within its rate: answered as built */
	SK_RRL_SLIP,       /* over its rate: a truncated reply went out instead (sk_rrl_slip) */
	SK_RRL_DROP,       /* over its rate: no reply */
} sk_rrl_action_t;

/* The action as the records spell it; NULL for SK_RRL_NONE. */
static inline const char *sk_rrl_action_text(unsigned a)
{
	return a == SK_RRL_PASS ? "pass" : a == SK_RRL_SLIP ? "slip" : a == SK_RRL_DROP ? "drop" : NULL;
}

/*
 * The accounts: a fixed table shared by every worker, made once at start. Workers update it
 * without locks (relaxed atomic loads and stores of one 64-bit word per account): two workers
 * debiting the same account at the same nanosecond may lose one debit, which only makes the
 * limit a little looser. Nothing is allocated after sk_rrl_new.
 */
typedef struct sk_rrl sk_rrl_t;

/* Make a table of `entries` accounts (a power of two, at least 8): 8 bytes each, zero pages
 * until touched. Returns 0 and stores it in *out, or -EINVAL / -ENOMEM. */
int sk_rrl_new(unsigned entries, sk_rrl_t **out);

/* Free the table. No worker may use it any more. Accepts NULL. */
void sk_rrl_free(sk_rrl_t *rrl);

/* Number of accounts the table holds. */
unsigned sk_rrl_entries(const sk_rrl_t *rrl);

/*
 * Account one UDP reply that sk_respond built for a query from `src`, at `now_us` (any clock in
 * microseconds that does not run backwards by much; the batch's telemetry clock). `conf` is the
 * current snapshot's `rrl` section, so a reload changes rates, slip, prefixes and exemptions at
 * the next batch. The account is the source's prefix and the kind of reply (BIND's scheme):
 *   NOERROR   prefix + query name + type (answers from one wildcard: its closest encloser)
 *   NXDOMAIN  prefix + the zone (or seized domain) the name fell in
 *   others    prefix alone (REFUSED, FORMERR, NOTIMP, ...)
 * Each account holds up to one second of credit at its rate and can run up `window` seconds of
 * debt; a reply while in debt is limited: every `slip`-th one SK_RRL_SLIP, the others SK_RRL_DROP.
 * A query with a valid server cookie (info->cookie == SK_COOKIE_VALID) is not counted: its source
 * address is proven, so it cannot be a reflection. Never blocks, never allocates, no system call.
 */
sk_rrl_action_t sk_rrl_account(sk_rrl_t *rrl, const sk_rrl_conf_t *conf, const struct sockaddr *src,
	const sk_resp_info_t *info, uint64_t now_us);

/*
 * Turn the reply of `len` bytes in `reply` (as sk_respond built it, with `info`) into the slipped
 * one in place: the same header with TC set, the question, no records but a bare OPT (payload
 * `edns_size`, the DO bit and the extended rcode) when the reply had one. A client retries over
 * TCP, which is never limited. Updates info->flags and info->size; returns the new length.
 */
size_t sk_rrl_slip(uint8_t *reply, size_t len, sk_resp_info_t *info, uint16_t edns_size);

#endif
