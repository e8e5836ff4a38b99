/* crypto.c -- libsodium behind sinkholed's own names: the only file that includes <sodium.h> */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "crypto/crypto.h"
#include "util/err.h"

_Static_assert(SK_SIPHASH_KEY_LEN == crypto_shorthash_siphash24_KEYBYTES, "SipHash key is 16 bytes");
_Static_assert(SK_SIPHASH_LEN == crypto_shorthash_siphash24_BYTES, "SipHash-2-4 gives 8 bytes");
_Static_assert(SK_SHA256_LEN == crypto_hash_sha256_BYTES, "SHA-256 gives 32 bytes");
_Static_assert(SK_HMAC_LEN == crypto_auth_hmacsha256_BYTES, "HMAC-SHA-256 gives 32 bytes");
_Static_assert(SK_SIGN_SECRET_LEN == crypto_sign_ed25519_SECRETKEYBYTES, "Ed25519 secret key");
_Static_assert(SK_SIGN_PUBLIC_LEN == crypto_sign_ed25519_PUBLICKEYBYTES, "Ed25519 public key");
_Static_assert(SK_SIGN_LEN == crypto_sign_ed25519_BYTES, "Ed25519 signature");

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

void sk_crypto_wipe(void *p, size_t len)
{
	sodium_memzero(p, len);
}

void sk_sha256_reference(uint8_t out[SK_SHA256_LEN], const void *data, size_t len)
{
	crypto_hash_sha256(out, data, len);
}

void sk_hmac_sha256(uint8_t out[SK_HMAC_LEN], const void *data, size_t len, const uint8_t *key,
	size_t keylen)
{
	sk_hmac_t h;
	uint8_t mac[SK_HMAC_MAX];
	sk_hmac_init(&h, SK_HMAC_SHA256, key, keylen);
	sk_hmac_update(&h, data, len);
	sk_hmac_final(&h, mac);
	memcpy(out, mac, SK_HMAC_LEN);
	sodium_memzero(&h, sizeof h);
	sodium_memzero(mac, sizeof mac);
}

/* ---- Ed25519 ---- */

void sk_sign_keypair(uint8_t pk[SK_SIGN_PUBLIC_LEN], uint8_t sk[SK_SIGN_SECRET_LEN])
{
	crypto_sign_ed25519_keypair(pk, sk);
}

void sk_sign(uint8_t sig[SK_SIGN_LEN], const void *msg, size_t len, const uint8_t sk[SK_SIGN_SECRET_LEN])
{
	crypto_sign_ed25519_detached(sig, NULL, msg, len, sk);
}

bool sk_sign_verify(const uint8_t sig[SK_SIGN_LEN], const void *msg, size_t len,
	const uint8_t pk[SK_SIGN_PUBLIC_LEN])
{
	return crypto_sign_ed25519_verify_detached(sig, msg, len, pk) == 0;
}

void sk_sign_public_of(uint8_t pk[SK_SIGN_PUBLIC_LEN], const uint8_t sk[SK_SIGN_SECRET_LEN])
{
	crypto_sign_ed25519_sk_to_pk(pk, sk);
}

size_t sk_base64_encode(char *out, size_t cap, const void *in, size_t len)
{
	size_t need = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	if (cap < need)
		return 0;
	sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_ORIGINAL);
	return need - 1;
}

long sk_base64_decode(uint8_t *out, size_t cap, const char *in, size_t len)
{
	size_t got = 0;
	const char *end = NULL;
	if (sodium_base642bin(out, cap, in, len, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != in + len)
		return -EINVAL;
	return (long)got;
}

/* The one line of a key file that is not a comment or blank, trimmed; NULL when there is not
 * exactly one. */
static const char *key_line(const char *text, size_t len, size_t *out_len)
{
	const char *found = NULL, *p = text, *end = text + len;
	size_t flen = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end, *b = p;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if (e > b && *b != '#') {
			if (found)
				return NULL;
			found = b;
			flen = (size_t)(e - b);
		}
		p = nl ? nl + 1 : end;
	}
	*out_len = flen;
	return found;
}

static int parse_key(const char *text, size_t len, uint8_t *out, size_t want, const char **why)
{
	size_t n;
	uint8_t tmp[SK_SIGN_SECRET_LEN + 3];
	const char *line = key_line(text, len, &n);
	if (!line) {
		*why = "expected exactly one line of base64 (lines starting with # are comments)";
		return -EINVAL;
	}
	long got = sk_base64_decode(tmp, sizeof tmp, line, n);
	if (got < 0) {
		*why = "the key line is not valid base64";
		return -EINVAL;
	}
	if ((size_t)got != want) {
		*why = want == SK_SIGN_SECRET_LEN ?
			"expected a 64-byte Ed25519 secret key (88 base64 characters)" :
			"expected a 32-byte Ed25519 public key (44 base64 characters)";
		sodium_memzero(tmp, sizeof tmp);
		return -EINVAL;
	}
	memcpy(out, tmp, want);
	sodium_memzero(tmp, sizeof tmp);
	return 0;
}

int sk_sign_secret_parse(const char *text, size_t len, uint8_t sk[SK_SIGN_SECRET_LEN], const char **why)
{
	uint8_t pk[SK_SIGN_PUBLIC_LEN], full[SK_SIGN_SECRET_LEN];
	int rc = parse_key(text, len, sk, SK_SIGN_SECRET_LEN, why);
	if (rc < 0)
		return rc;
	/* A secret key whose second half is not the public key of its seed signs with one key and
	 * names another: refuse it rather than write signatures that never verify. */
	crypto_sign_ed25519_seed_keypair(pk, full, sk);
	rc = sodium_memcmp(full, sk, SK_SIGN_SECRET_LEN) == 0 ? 0 : -EINVAL;
	sodium_memzero(full, sizeof full);
	if (rc < 0) {
		*why = "the key's public half does not belong to its seed (not a libsodium Ed25519 secret key)";
		sodium_memzero(sk, SK_SIGN_SECRET_LEN);
	}
	return rc;
}

int sk_sign_public_parse(const char *text, size_t len, uint8_t pk[SK_SIGN_PUBLIC_LEN], const char **why)
{
	return parse_key(text, len, pk, SK_SIGN_PUBLIC_LEN, why);
}
