/* crypto.h -- the cryptography sinkholed uses, in one place: keyed hashing and random bytes */
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

#endif
