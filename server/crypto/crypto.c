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
