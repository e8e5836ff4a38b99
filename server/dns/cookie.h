/* cookie.h -- DNS cookies (RFC 7873): checking and making interoperable server cookies (RFC 9018) */
#ifndef SK_COOKIE_H
#define SK_COOKIE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "dns/query.h"

/* What a query's COOKIE option turned out to be; recorded by telemetry, read by rate limiting. */
typedef enum sk_cookie_state {
	SK_COOKIE_NONE = 0,     /* no COOKIE option, or cookies are disabled (nothing was checked) */
	SK_COOKIE_CLIENT,       /* a client cookie alone */
	SK_COOKIE_VALID,        /* with a server cookie this server made for this client, still valid */
	SK_COOKIE_BAD,          /* with a server cookie that does not verify: unknown version or
	                           length, too old or from the future, or a hash no secret gives */
} sk_cookie_state_t;

/* A state as telemetry records name it: "client", "valid", "bad"; NULL for SK_COOKIE_NONE. */
static inline const char *sk_cookie_state_name(unsigned state)
{
	static const char *const names[] = { NULL, "client", "valid", "bad" };
	return state < sizeof names / sizeof *names ? names[state] : NULL;
}

/* RFC 9018 s4: version 1 server cookies are 16 bytes: version, 3 reserved, timestamp, hash. */
#define SK_COOKIE_SERVER_LEN 16
#define SK_COOKIE_LEN (SK_COOKIE_CLIENT_LEN + SK_COOKIE_SERVER_LEN)
#define SK_COOKIE_VERSION 1
/* RFC 9018 s4.3: a cookie is valid up to an hour after it was made and at most five minutes
 * before (clocks of anycast siblings differ); one older than half an hour is replaced. */
#define SK_COOKIE_MAX_AGE 3600
#define SK_COOKIE_MAX_AHEAD 300
#define SK_COOKIE_RENEW_AGE 1800

/*
 * The client address as a server cookie hashes it, into ip: 4 bytes for IPv4 (an IPv4-mapped
 * IPv6 address included, so both kinds of socket agree), 16 for IPv6. Returns the length, 0 when
 * `sa` is NULL or of another family (the cookie then covers no address).
 */
size_t sk_cookie_addr(const struct sockaddr *sa, uint8_t ip[16]);

/*
 * The version 1 server cookie (RFC 9018 s4.4) for `client` (8 bytes) at `now` (seconds since the
 * epoch, modulo 2^32) from the address `ip` (`iplen` bytes), under `secret`: written to `out`.
 */
void sk_cookie_make(uint8_t out[SK_COOKIE_SERVER_LEN], const uint8_t client[SK_COOKIE_CLIENT_LEN],
	uint32_t now, const uint8_t *ip, size_t iplen, const uint8_t secret[SK_COOKIE_SECRET_LEN]);

/*
 * Check the COOKIE option `opt` of `len` bytes (8, or 16..40: what sk_query_parse accepts) that
 * came from `ip` at `now`, and write the COOKIE option to answer with into `reply`: the client
 * cookie, then a server cookie. A valid server cookie made with the current secret, less than
 * SK_COOKIE_RENEW_AGE old and with zero reserved bytes is sent back as it came (one SipHash in
 * all); otherwise a new one is made with the current secret. A server cookie is valid when its
 * hash matches under `cc->secret` or one of `cc->previous`. Returns what the option was (never
 * SK_COOKIE_NONE). Pure function: no allocation, no lock; at most 2 + cc->nprevious SipHashes.
 */
sk_cookie_state_t sk_cookie_answer(const sk_cookie_conf_t *cc, const uint8_t *opt, size_t len,
	const uint8_t *ip, size_t iplen, uint32_t now, uint8_t reply[SK_COOKIE_LEN]);

#endif
