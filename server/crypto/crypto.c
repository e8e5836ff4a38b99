/* crypto.c -- libsodium behind sinkholed's own names: the only file that includes <sodium.h> */
#include <sodium.h>

#include "crypto/crypto.h"
#include "util/err.h"

_Static_assert(SK_SIPHASH_KEY_LEN == crypto_shorthash_siphash24_KEYBYTES, "SipHash key is 16 bytes");
_Static_assert(SK_SIPHASH_LEN == crypto_shorthash_siphash24_BYTES, "SipHash-2-4 gives 8 bytes");

int sk_crypto_init(void)
{
	/* 0: initialised now; 1: already was; -1: the library cannot be used. */
	return sodium_init() < 0 ? SK_ECRYPTO : 0;
}

void sk_siphash24(uint8_t out[SK_SIPHASH_LEN], const uint8_t *in, size_t len,
	const uint8_t key[SK_SIPHASH_KEY_LEN])
{
	crypto_shorthash_siphash24(out, in, len, key);
}

void sk_random_bytes(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

bool sk_crypto_equal(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}

_Static_assert(sizeof(crypto_auth_hmacsha512_state) <= sizeof(((sk_hmac_t *)0)->state), "HMAC state fits");
_Static_assert(sizeof(crypto_auth_hmacsha256_state) <= sizeof(((sk_hmac_t *)0)->state), "HMAC state fits");
_Static_assert(crypto_auth_hmacsha512_BYTES == SK_HMAC_MAX, "SHA-512 MAC is the longest");

size_t sk_hmac_len(sk_hmac_alg_t alg)
{
	return alg == SK_HMAC_SHA256 ? crypto_auth_hmacsha256_BYTES :
		alg == SK_HMAC_SHA512 ? crypto_auth_hmacsha512_BYTES : 0;
}

void sk_hmac_init(sk_hmac_t *h, sk_hmac_alg_t alg, const uint8_t *key, size_t keylen)
{
	static const uint8_t none[1];
	h->alg = alg;
	if (!key)
		key = none;     /* libsodium wants a pointer even for an empty key */
	if (alg == SK_HMAC_SHA512)
		crypto_auth_hmacsha512_init((crypto_auth_hmacsha512_state *)(void *)h->state, key, keylen);
	else
		crypto_auth_hmacsha256_init((crypto_auth_hmacsha256_state *)(void *)h->state, key, keylen);
}

void sk_hmac_update(sk_hmac_t *h, const void *in, size_t len)
{
	if (h->alg == SK_HMAC_SHA512)
		crypto_auth_hmacsha512_update((crypto_auth_hmacsha512_state *)(void *)h->state, in, len);
	else
		crypto_auth_hmacsha256_update((crypto_auth_hmacsha256_state *)(void *)h->state, in, len);
}

void sk_hmac_final(sk_hmac_t *h, uint8_t out[SK_HMAC_MAX])
{
	if (h->alg == SK_HMAC_SHA512)
		crypto_auth_hmacsha512_final((crypto_auth_hmacsha512_state *)(void *)h->state, out);
	else
		crypto_auth_hmacsha256_final((crypto_auth_hmacsha256_state *)(void *)h->state, out);
}
