/* tsig.c -- TSIG (RFC 8945) over the exact bytes sent: MACs from crypto/, no allocation */
#include "dns/name.h"
#include "dns/tsig.h"
#include "dns/wire.h"

/*
 * Why not ldns (which has ldns_pkt_tsig_sign_next): it signs an ldns_pkt that it encodes itself,
 * so a message we built would have to be parsed into ldns records and encoded again (its own
 * compression, an allocation per record) just to be signed, on a worker's loop, for every
 * message of a transfer; and it has no BADTIME handling. Here the MAC covers exactly the bytes
 * written, the HMAC is crypto/'s (libsodium), and ldns stays in db/ where it compiles zones.
 */

/* Algorithm names in canonical wire form (RFC 8945 s6), indexed by sk_tsig_alg_t. */
static const uint8_t alg_sha256[] = "\013hmac-sha256";
static const uint8_t alg_sha512[] = "\013hmac-sha512";

static const uint8_t *alg_wire(sk_tsig_alg_t alg, size_t *len)
{
	*len = sizeof alg_sha256;     /* both names are 13 bytes with the root */
	return alg == SK_TSIG_HMAC_SHA512 ? alg_sha512 : alg_sha256;
}

static uint64_t get48(const uint8_t *p)
{
	return (uint64_t)sk_get16(p) << 32 | sk_get32(p + 2);
}

static void put48(uint8_t *p, uint64_t v)
{
	sk_put16(p, (uint16_t)(v >> 32));
	sk_put32(p + 2, (uint32_t)v);
}

/* The configured key with this (lowercased) name and this algorithm, or NULL. */
static const sk_tsig_key_t *find_key(const sk_query_t *q, const sk_tsig_key_t *keys, size_t nkeys)
{
	uint8_t name[SK_NAME_MAX];
	sk_name_lower(name, q->tsig_key, q->tsig_key_len);
	for (size_t i = 0; i < nkeys; i++) {
		size_t alen;
		const uint8_t *alg = alg_wire(keys[i].alg, &alen);
		if (keys[i].wire_len == q->tsig_key_len && !memcmp(keys[i].wire, name, q->tsig_key_len) &&
		    alen == q->tsig_alg_len && sk_name_equal_nocase(alg, q->tsig_rdata))
			return &keys[i];
	}
	return NULL;
}

/* Feed the header with `id` in place of the message's ID and ARCOUNT as `arcount`. */
static void mac_header(sk_hmac_t *h, const uint8_t *msg, uint16_t id, uint16_t arcount)
{
	uint8_t head[SK_HDR_LEN];
	memcpy(head, msg, SK_HDR_LEN);
	sk_put16(head, id);
	sk_put16(head + 10, arcount);
	sk_hmac_update(h, head, sizeof head);
}

/*
 * The TSIG variables (RFC 8945 s4.3.3): key name, class ANY, TTL, algorithm, time signed,
 * fudge, error, other len and other data; or, for a transfer's later messages, the timers alone.
 */
static void mac_variables(sk_hmac_t *h, const sk_tsig_key_t *key, uint32_t ttl, uint64_t time,
	uint16_t fudge, uint16_t error, const uint8_t *other, uint16_t other_len, bool timers_only)
{
	uint8_t v[16];
	size_t alen;
	const uint8_t *alg = alg_wire(key->alg, &alen);
	if (!timers_only) {
		sk_hmac_update(h, key->wire, key->wire_len);
		sk_put16(v, SK_CLASS_ANY);
		sk_put32(v + 2, ttl);
		sk_hmac_update(h, v, 6);
		sk_hmac_update(h, alg, alen);
	}
	put48(v, time);
	sk_put16(v + 6, fudge);
	sk_hmac_update(h, v, 8);
	if (!timers_only) {
		sk_put16(v, error);
		sk_put16(v + 2, other_len);
		sk_hmac_update(h, v, 4);
		sk_hmac_update(h, other, other_len);
	}
}

sk_tsig_status_t sk_tsig_verify(const sk_query_t *q, const sk_tsig_key_t *keys, size_t nkeys,
	uint64_t now, sk_tsig_ctx_t *ctx)
{
	const uint8_t *rd = q->tsig_rdata + q->tsig_alg_len;   /* time signed onwards */
	uint64_t time = get48(rd);
	uint16_t fudge = sk_get16(rd + 6), mac_len = sk_get16(rd + 8);
	const uint8_t *mac = rd + 10, *rest = mac + mac_len;   /* rest: original ID, error, other */
	uint8_t mine[SK_HMAC_MAX];
	sk_hmac_t h;

	memset(ctx, 0, sizeof *ctx);
	ctx->orig_id = q->tsig_orig_id;
	ctx->time_signed = time;
	const sk_tsig_key_t *key = find_key(q, keys, nkeys);
	if (!key) {
		ctx->error = SK_TSIG_BADKEY;
		return SK_TSIG_ERROR;
	}
	size_t full = sk_hmac_len((sk_hmac_alg_t)key->alg);
	if (mac_len > full || mac_len < 10 || mac_len < full / 2)
		return SK_TSIG_MALFORMED;
	sk_hmac_init(&h, (sk_hmac_alg_t)key->alg, key->secret, key->secret_len);
	mac_header(&h, q->msg, q->tsig_orig_id, (uint16_t)(sk_hdr_arcount(q->msg) - 1));
	sk_hmac_update(&h, q->msg + SK_HDR_LEN, q->tsig_off - SK_HDR_LEN);
	/* The TTL sits before RDLENGTH, just ahead of the RDATA, whatever the owner's form. */
	mac_variables(&h, key, sk_get32(q->tsig_rdata - 6), time, fudge, sk_get16(rest + 2), rest + 6,
		sk_get16(rest + 4), false);
	sk_hmac_final(&h, mine);
	if (!sk_crypto_equal(mine, mac, mac_len)) {
		ctx->error = SK_TSIG_BADSIG;
		return SK_TSIG_ERROR;
	}
	if (mac_len < full) {
		/* A truncated MAC verified, but we take only full ones (RFC 8945 s5.2.2.1). */
		ctx->error = SK_TSIG_BADTRUNC;
		return SK_TSIG_ERROR;
	}
	ctx->key = key;
	memcpy(ctx->mac, mac, mac_len);
	ctx->mac_len = mac_len;
	if (now > time + fudge || time > now + fudge) {
		ctx->error = SK_TSIG_BADTIME;     /* signed, with our time in Other Data (s5.2.3) */
		return SK_TSIG_ERROR;
	}
	return SK_TSIG_VALID;
}

void sk_tsig_start(sk_tsig_ctx_t *ctx, const sk_tsig_key_t *key, uint16_t id)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->key = key;
	ctx->orig_id = id;
}

size_t sk_tsig_size(const sk_tsig_ctx_t *ctx)
{
	size_t alen;
	alg_wire(ctx->key->alg, &alen);
	/* owner, type class ttl rdlength, algorithm, time fudge macsize, MAC, id error otherlen, other */
	return ctx->key->wire_len + 10u + alen + 10u + sk_hmac_len((sk_hmac_alg_t)ctx->key->alg) + 6u +
		(ctx->error == SK_TSIG_BADTIME ? 6u : 0u);
}

size_t sk_tsig_sign(sk_tsig_ctx_t *ctx, uint8_t *msg, size_t len, size_t cap, uint64_t now)
{
	const sk_tsig_key_t *key = ctx->key;
	size_t need = sk_tsig_size(ctx), alen, maclen = sk_hmac_len((sk_hmac_alg_t)key->alg);
	const uint8_t *alg = alg_wire(key->alg, &alen);
	/* A BADTIME reply keeps the request's time and tells ours in Other Data (RFC 8945 s5.2.3). */
	uint64_t time = ctx->error == SK_TSIG_BADTIME ? ctx->time_signed : now;
	uint8_t other[6], *p;
	uint16_t other_len = 0;
	sk_hmac_t h;

	if (len < SK_HDR_LEN || len + need > cap)
		return 0;
	if (ctx->error == SK_TSIG_BADTIME) {
		put48(other, now);
		other_len = 6;
	}
	sk_hmac_init(&h, (sk_hmac_alg_t)key->alg, key->secret, key->secret_len);
	if (ctx->mac_len) {
		uint8_t l[2];
		sk_put16(l, ctx->mac_len);
		sk_hmac_update(&h, l, 2);
		sk_hmac_update(&h, ctx->mac, ctx->mac_len);
	}
	mac_header(&h, msg, ctx->orig_id, sk_hdr_arcount(msg));
	sk_hmac_update(&h, msg + SK_HDR_LEN, len - SK_HDR_LEN);
	mac_variables(&h, key, 0, time, SK_TSIG_FUDGE, ctx->error, other, other_len, ctx->sent > 0);
	sk_hmac_final(&h, ctx->mac);
	ctx->mac_len = (uint16_t)maclen;

	p = msg + len;
	memcpy(p, key->wire, key->wire_len);
	p += key->wire_len;
	sk_put16(p, SK_TYPE_TSIG);
	sk_put16(p + 2, SK_CLASS_ANY);
	sk_put32(p + 4, 0);
	sk_put16(p + 8, (uint16_t)(need - key->wire_len - 10));
	p += 10;
	memcpy(p, alg, alen);
	p += alen;
	put48(p, time);
	sk_put16(p + 6, SK_TSIG_FUDGE);
	sk_put16(p + 8, (uint16_t)maclen);
	memcpy(p + 10, ctx->mac, maclen);
	p += 10 + maclen;
	sk_put16(p, ctx->orig_id);
	sk_put16(p + 2, ctx->error);
	sk_put16(p + 4, other_len);
	memcpy(p + 6, other, other_len);
	sk_put16(msg + 10, (uint16_t)(sk_hdr_arcount(msg) + 1));
	ctx->sent++;
	return len + need;
}

size_t sk_tsig_error_size(const sk_query_t *q)
{
	return q->tsig_key_len + 10u + q->tsig_alg_len + 16u;
}

size_t sk_tsig_write_error(const sk_query_t *q, uint16_t error, uint8_t *p)
{
	uint8_t *start = p;
	memcpy(p, q->tsig_key, q->tsig_key_len);
	p += q->tsig_key_len;
	sk_put16(p, SK_TYPE_TSIG);
	sk_put16(p + 2, SK_CLASS_ANY);
	sk_put32(p + 4, 0);
	uint8_t *rdlen = p + 8;
	p += 10;
	memcpy(p, q->tsig_rdata, q->tsig_alg_len + 8u);   /* algorithm, time signed, fudge */
	p += q->tsig_alg_len + 8u;
	sk_put16(p, 0);                                    /* MAC size */
	sk_put16(p + 2, q->tsig_orig_id);
	sk_put16(p + 4, error);
	sk_put16(p + 6, 0);                                /* other len */
	p += 8;
	sk_put16(rdlen, (uint16_t)(p - rdlen - 2));
	return (size_t)(p - start);
}
