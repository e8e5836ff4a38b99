/* cookie.c -- RFC 9018 server cookies: SipHash-2-4 over the client cookie, a header and the address */
#include <netinet/in.h>
#include <string.h>

#include "crypto/crypto.h"
#include "dns/cookie.h"
#include "dns/wire.h"

_Static_assert(SK_COOKIE_SECRET_LEN == SK_SIPHASH_KEY_LEN, "the server secret is the SipHash key");
_Static_assert(SK_COOKIE_SERVER_LEN == 8 + SK_SIPHASH_LEN, "version, reserved, timestamp, hash");

size_t sk_cookie_addr(const struct sockaddr *sa, uint8_t ip[16])
{
	if (sa && sa->sa_family == AF_INET) {
		memcpy(ip, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 4;
	}
	if (sa && sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(ip, a->s6_addr + 12, 4);
			return 4;
		}
		memcpy(ip, a->s6_addr, 16);
		return 16;
	}
	return 0;
}

/*
 * RFC 9018 s4.4: Hash = SipHash-2-4(Client Cookie | Version | Reserved | Timestamp | Client-IP,
 * Server Secret). `head` is the server cookie's first 8 bytes (version, reserved, timestamp) as
 * made or as received: a received cookie is verified over the reserved bytes it carries.
 */
static void cookie_hash(uint8_t out[SK_SIPHASH_LEN], const uint8_t client[SK_COOKIE_CLIENT_LEN],
	const uint8_t head[8], const uint8_t *ip, size_t iplen, const uint8_t key[SK_COOKIE_SECRET_LEN])
{
	uint8_t in[SK_COOKIE_CLIENT_LEN + 8 + 16];
	memcpy(in, client, SK_COOKIE_CLIENT_LEN);
	memcpy(in + SK_COOKIE_CLIENT_LEN, head, 8);
	if (iplen)
		memcpy(in + SK_COOKIE_CLIENT_LEN + 8, ip, iplen);
	sk_siphash24(out, in, SK_COOKIE_CLIENT_LEN + 8 + iplen, key);
}

void sk_cookie_make(uint8_t out[SK_COOKIE_SERVER_LEN], const uint8_t client[SK_COOKIE_CLIENT_LEN],
	uint32_t now, const uint8_t *ip, size_t iplen, const uint8_t secret[SK_COOKIE_SECRET_LEN])
{
	out[0] = SK_COOKIE_VERSION;
	out[1] = out[2] = out[3] = 0;           /* reserved: zero when made (RFC 9018 s4.2) */
	sk_put32(out + 4, now);
	cookie_hash(out + 8, client, out, ip, iplen, secret);
}

typedef enum { NOT_OURS, CURRENT, PREVIOUS } made_with_t;

/* Which secret made the server cookie `sc` (16 bytes, version 1, timestamp already checked). */
static made_with_t made_with(const sk_cookie_conf_t *cc, const uint8_t *client, const uint8_t *sc,
	const uint8_t *ip, size_t iplen)
{
	uint8_t h[SK_SIPHASH_LEN];
	cookie_hash(h, client, sc, ip, iplen, cc->secret);
	if (sk_crypto_equal(h, sc + 8, sizeof h))
		return CURRENT;
	for (unsigned i = 0; i < cc->nprevious; i++) {
		cookie_hash(h, client, sc, ip, iplen, cc->previous[i]);
		if (sk_crypto_equal(h, sc + 8, sizeof h))
			return PREVIOUS;
	}
	return NOT_OURS;
}

sk_cookie_state_t sk_cookie_answer(const sk_cookie_conf_t *cc, const uint8_t *opt, size_t len,
	const uint8_t *ip, size_t iplen, uint32_t now, uint8_t reply[SK_COOKIE_LEN])
{
	const uint8_t *sc = opt + SK_COOKIE_CLIENT_LEN;
	uint8_t *out = reply + SK_COOKIE_CLIENT_LEN;
	sk_cookie_state_t state = SK_COOKIE_CLIENT;
	made_with_t by = NOT_OURS;
	int32_t age = 0;

	memcpy(reply, opt, SK_COOKIE_CLIENT_LEN);   /* the client cookie, echoed (RFC 7873 s5.2.3) */
	if (len > SK_COOKIE_CLIENT_LEN) {
		state = SK_COOKIE_BAD;
		/* Timestamps compare as serial numbers (RFC 1982), so 2106 is no cliff. */
		if (len == SK_COOKIE_LEN && sc[0] == SK_COOKIE_VERSION)
			age = (int32_t)(now - sk_get32(sc + 4));
		/* The window first: a stale cookie costs no hash. */
		if (len == SK_COOKIE_LEN && sc[0] == SK_COOKIE_VERSION && age <= SK_COOKIE_MAX_AGE &&
		    age >= -SK_COOKIE_MAX_AHEAD)
			by = made_with(cc, opt, sc, ip, iplen);
		if (by != NOT_OURS)
			state = SK_COOKIE_VALID;
	}
	if (by == CURRENT && age <= SK_COOKIE_RENEW_AGE && !sc[1] && !sc[2] && !sc[3])
		memcpy(out, sc, SK_COOKIE_SERVER_LEN);
	else
		sk_cookie_make(out, opt, now, ip, iplen, cc->secret);
	return state;
}
