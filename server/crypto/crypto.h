/* crypto.h -- the cryptography sinkholed uses, in one place: keyed hashing, HMAC, random bytes,
 * SHA-256 for the telemetry chain, Ed25519 signatures and the key files they come from */
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

/* Overwrite `len` bytes with zeros in a way the compiler may not leave out (secret keys). */
void sk_crypto_wipe(void *p, size_t len);

/* ---- SHA-256 (sha256.c) ---- */

#define SK_SHA256_LEN 32
#define SK_SHA256_HEX_LEN 64

/*
 * An incremental SHA-256 (FIPS 180-4). The state is a plain struct so that a caller can embed it;
 * its members are private. It needs no sk_crypto_init(): the block function is the CPU's SHA
 * instructions (x86-64 SHA-NI, about 1.7 GB/s on the 2-vCPU EPYC this was built on) when it has
 * them, else portable C (about 270 MB/s there; libsodium's, 180 MB/s). Any number of states may be used on any threads at once.
 */
typedef struct sk_sha256 {
	uint32_t h[8];
	uint64_t len;         /* bytes hashed so far */
	uint8_t buf[64];      /* a partial block */
} sk_sha256_t;

void sk_sha256_init(sk_sha256_t *s);
void sk_sha256_update(sk_sha256_t *s, const void *data, size_t len);
/* Writes the digest; the state must be initialised again before more use. */
void sk_sha256_final(sk_sha256_t *s, uint8_t out[SK_SHA256_LEN]);
/* The digest of one buffer. */
void sk_sha256(uint8_t out[SK_SHA256_LEN], const void *data, size_t len);
/* Lower-case hex of a digest into out (SK_SHA256_HEX_LEN characters and a NUL). */
void sk_sha256_hex(char out[SK_SHA256_HEX_LEN + 1], const uint8_t digest[SK_SHA256_LEN]);
/* "sha-ni" or "portable": the block function in use. */
const char *sk_sha256_impl(void);
/* Tests: use the portable block function even when the CPU has SHA instructions (true), or
 * choose by the CPU again (false). Not for use while other threads hash. */
void sk_sha256_force_portable(bool on);
/* Tests: libsodium's own SHA-256 of one buffer, an independent implementation to compare with. */
void sk_sha256_reference(uint8_t out[SK_SHA256_LEN], const void *data, size_t len);

/* HMAC-SHA-256 (RFC 2104) of `len` bytes under a key of any length (libsodium). */
#define SK_HMAC_LEN 32
void sk_hmac_sha256(uint8_t out[SK_HMAC_LEN], const void *data, size_t len, const uint8_t *key,
	size_t keylen);

/* ---- Ed25519 signatures (libsodium crypto_sign) ---- */

#define SK_SIGN_SECRET_LEN 64   /* libsodium's secret key: the 32-byte seed, then the public key */
#define SK_SIGN_PUBLIC_LEN 32
#define SK_SIGN_LEN 64

/* A new random key pair. Needs sk_crypto_init(). */
void sk_sign_keypair(uint8_t pk[SK_SIGN_PUBLIC_LEN], uint8_t sk[SK_SIGN_SECRET_LEN]);
/* The detached signature of `len` bytes at `msg`. */
void sk_sign(uint8_t sig[SK_SIGN_LEN], const void *msg, size_t len, const uint8_t sk[SK_SIGN_SECRET_LEN]);
/* True when `sig` is a valid signature of the bytes by the holder of `pk`. */
bool sk_sign_verify(const uint8_t sig[SK_SIGN_LEN], const void *msg, size_t len,
	const uint8_t pk[SK_SIGN_PUBLIC_LEN]);

/*
 * Key files, as `sinkhole-report keygen` writes them: text, lines starting with '#' are comments,
 * and one line holds the key in standard base64 (with padding): the 64-byte secret key (libsodium's
 * crypto_sign format, seed then public key; 88 characters) or the 32-byte public key (44). The
 * secret key is checked for consistency (its public half must be the one its seed gives). Returns 0,
 * or -EINVAL with a reason in `why` (a static string).
 */
int sk_sign_secret_parse(const char *text, size_t len, uint8_t sk[SK_SIGN_SECRET_LEN], const char **why);
int sk_sign_public_parse(const char *text, size_t len, uint8_t pk[SK_SIGN_PUBLIC_LEN], const char **why);
/* The public half of a secret key. */
void sk_sign_public_of(uint8_t pk[SK_SIGN_PUBLIC_LEN], const uint8_t sk[SK_SIGN_SECRET_LEN]);

/* Standard base64 with padding, NUL-terminated; returns the length written (without the NUL), or
 * 0 when `cap` is too small (it needs 4 * ceil(len / 3) + 1). */
size_t sk_base64_encode(char *out, size_t cap, const void *in, size_t len);
/* Decode standard base64 (padding required, no whitespace) into at most `cap` bytes; returns the
 * number of bytes, or -EINVAL when it is not valid base64 or does not fit. */
long sk_base64_decode(uint8_t *out, size_t cap, const char *in, size_t len);

#endif
