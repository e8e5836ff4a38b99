/* crypto.h -- the cryptography sinkholed uses, in one place: keyed hashing, HMAC, random bytes */
#ifndef SK_CRYPTO_H
#define SK_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_SIPHASH_KEY_LEN 16
#define SK_SIPHASH_LEN 8

/*
 * Prepare the library (libsodium's sodium_init: picks implementations, opens the random source).
 * Call once from the main thread before any other function here and before threads start.
 * Returns 0 or SK_ECRYPTO. Calling it again is harmless.
 */
int sk_crypto_init(void);

/*
 * SipHash-2-4 of `len` bytes at `in` under the 16-byte `key`, written to `out` as 8 bytes in the
 * byte order of the reference implementation (the 64-bit result little-endian), as RFC 9018
 * server cookies use it. Pure function: no allocation, no lock, safe on every thread at once.
 */
void sk_siphash24(uint8_t out[SK_SIPHASH_LEN], const uint8_t *in, size_t len,
	const uint8_t key[SK_SIPHASH_KEY_LEN]);

/* Fill `buf` with `len` bytes from the system's cryptographic random source. Never fails once
 * sk_crypto_init() has succeeded (libsodium aborts rather than return weak bytes). */
void sk_random_bytes(void *buf, size_t len);

/* True when the `len` bytes at `a` and `b` are equal, in time that does not depend on where they
 * differ (so a forged MAC cannot be found a byte at a time). */
bool sk_crypto_equal(const void *a, const void *b, size_t len);

/*
 * HMAC (RFC 2104) over SHA-256 or SHA-512, fed in pieces: what TSIG (RFC 8945) signs and verifies
 * with. Keys of any length (a key longer than the block is hashed first, as RFC 2104 says).
 * The state lives in the caller's memory: no allocation, safe on every thread at once.
 */
typedef enum { SK_HMAC_SHA256 = 1, SK_HMAC_SHA512 = 2 } sk_hmac_alg_t;
#define SK_HMAC_MAX 64          /* bytes of the longest MAC (SHA-512) */

typedef struct sk_hmac {
	_Alignas(16) unsigned char state[448];  /* libsodium's state for either hash */
	sk_hmac_alg_t alg;
} sk_hmac_t;

/* Bytes of a full MAC of `alg` (32 or 64), 0 for an unknown algorithm. */
size_t sk_hmac_len(sk_hmac_alg_t alg);

void sk_hmac_init(sk_hmac_t *h, sk_hmac_alg_t alg, const uint8_t *key, size_t keylen);
void sk_hmac_update(sk_hmac_t *h, const void *in, size_t len);
/* Write the MAC (sk_hmac_len bytes) to `out`; the state is spent. */
void sk_hmac_final(sk_hmac_t *h, uint8_t out[SK_HMAC_MAX]);

#endif
