/* test_crypto.c -- SHA-256 (both block functions against libsodium), HMAC, Ed25519, key files */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "tap.h"

static void hex(char *out, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void unhex(uint8_t *out, const char *s)
{
	for (size_t i = 0; s[2 * i]; i++) {
		unsigned v;
		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static int digest_is(const void *data, size_t len, const char *want)
{
	uint8_t d[SK_SHA256_LEN];
	char h[SK_SHA256_HEX_LEN + 1];
	sk_sha256(d, data, len);
	sk_sha256_hex(h, d);
	if (strcmp(h, want))
		printf("#   got %s\n#  want %s\n", h, want);
	return !strcmp(h, want);
}

/* FIPS 180-4 examples (and the million a's from FIPS 180-2). */
static void test_vectors(const char *impl)
{
	static char million[1000000];
	memset(million, 'a', sizeof million);
	ok(digest_is("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "%s: empty", impl);
	ok(digest_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "%s: abc", impl);
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	ok(digest_is(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
		"%s: the 448-bit message (two blocks of padding)", impl);
	ok(digest_is(million, sizeof million, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
		"%s: a million a's", impl);
}

/* Every length from 0 to 300 in one call and fed in random pieces, and 1 MiB in random pieces,
 * against libsodium's implementation. */
static void test_against_libsodium(const char *impl)
{
	static uint8_t data[1 << 20];
	uint8_t a[SK_SHA256_LEN], b[SK_SHA256_LEN], c[SK_SHA256_LEN];
	int bad = 0;
	sk_random_bytes(data, sizeof data);
	for (size_t len = 0; len <= 300; len++) {
		sk_sha256_t s;
		sk_sha256(a, data, len);
		sk_sha256_reference(b, data, len);
		sk_sha256_init(&s);
		for (size_t off = 0; off < len;) {
			size_t n = 1 + (size_t)rand() % 70;
			if (n > len - off)
				n = len - off;
			sk_sha256_update(&s, data + off, n);
			off += n;
		}
		sk_sha256_final(&s, c);
		bad += memcmp(a, b, sizeof a) != 0 || memcmp(c, b, sizeof c) != 0;
	}
	is_int(bad, 0, "%s: lengths 0..300, whole and in pieces, equal libsodium's digest", impl);
	sk_sha256_t s;
	sk_sha256_init(&s);
	for (size_t off = 0; off < sizeof data;) {
		size_t n = (size_t)rand() % 100000;
		if (n > sizeof data - off)
			n = sizeof data - off;
		sk_sha256_update(&s, data + off, n);
		off += n;
	}
	sk_sha256_final(&s, a);
	sk_sha256_reference(b, data, sizeof data);
	ok(!memcmp(a, b, sizeof a), "%s: 1 MiB in random pieces equals libsodium's digest", impl);
}

static void speed(const char *impl)
{
	static uint8_t data[1 << 20];
	uint8_t d[SK_SHA256_LEN];
	struct timespec t0, t1;
	sk_sha256_t s;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sk_sha256_init(&s);
	for (int i = 0; i < 64; i++)
		sk_sha256_update(&s, data, sizeof data);
	sk_sha256_final(&s, d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("# %s: %.0f MB/s (information, not a test)\n", impl, 64.0 * 1.048576 / sec);
}

static void test_sha256(void)
{
	const char *native = sk_sha256_impl();
	printf("# this CPU: %s\n", native);
	test_vectors(native);
	test_against_libsodium(native);
	speed(native);
	sk_sha256_force_portable(true);
	is_int(strcmp(sk_sha256_impl(), "portable"), 0, "the portable block function can be forced");
	test_vectors("portable");
	test_against_libsodium("portable");
	speed("portable");
	sk_sha256_force_portable(false);
	is_int(strcmp(sk_sha256_impl(), native), 0, "and the CPU's chosen again");
}

static void test_hmac(void)
{
	uint8_t mac[SK_HMAC_LEN];
	char h[2 * SK_HMAC_LEN + 1];
	const char *msg = "what do ya want for nothing?";
	/* RFC 4231 test case 2 */
	sk_hmac_sha256(mac, msg, strlen(msg), (const uint8_t *)"Jefe", 4);
	hex(h, mac, sizeof mac);
	is_int(strcmp(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"), 0,
		"HMAC-SHA-256: RFC 4231 test case 2");
}

static void test_sign(void)
{
	/* RFC 8032 section 7.1, test 1: the empty message. */
	uint8_t seed_pk[64], sk[SK_SIGN_SECRET_LEN], pk[SK_SIGN_PUBLIC_LEN], sig[SK_SIGN_LEN], want[SK_SIGN_LEN];
	char text[200], line[100];
	const char *why = NULL;
	unhex(seed_pk, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
		"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
	unhex(want, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
		"c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
	is_int(sk_base64_encode(line, sizeof line, seed_pk, 64), 88, "a secret key is 88 base64 characters");
	snprintf(text, sizeof text, "# a comment\n\n  %s  \n", line);
	is_int(sk_sign_secret_parse(text, strlen(text), sk, &why), 0, "a key file with a comment and blanks parses");
	sk_sign(sig, "", 0, sk);
	ok(!memcmp(sig, want, sizeof sig), "Ed25519: RFC 8032 test 1 signature");
	sk_sign_public_of(pk, sk);
	ok(!memcmp(pk, seed_pk + 32, 32), "the public half of the secret key");
	ok(sk_sign_verify(sig, "", 0, pk), "the signature verifies");
	ok(!sk_sign_verify(sig, "x", 1, pk), "not for another message");
	sig[10] ^= 1;
	ok(!sk_sign_verify(sig, "", 0, pk), "a changed signature does not verify");

	uint8_t pk2[SK_SIGN_PUBLIC_LEN], sk2[SK_SIGN_SECRET_LEN];
	sk_sign_keypair(pk2, sk2);
	sk_sign(sig, "manifest line", 13, sk2);
	ok(sk_sign_verify(sig, "manifest line", 13, pk2), "a new key pair signs and verifies");
	ok(!sk_sign_verify(sig, "manifest line", 13, pk), "another key's public half does not verify it");

	sk_base64_encode(line, sizeof line, pk2, 32);
	is_int(sk_sign_public_parse(line, strlen(line), pk, &why), 0, "a public key line parses");
	ok(!memcmp(pk, pk2, 32), "to the same bytes");
	is_int(sk_sign_secret_parse(line, strlen(line), sk, &why), -EINVAL, "a public key is not a secret key");
	ok(why && strstr(why, "64-byte"), "and the reason says what was expected: %s", why ? why : "(none)");

	snprintf(text, sizeof text, "%s\n%s\n", line, line);
	is_int(sk_sign_public_parse(text, strlen(text), pk, &why), -EINVAL, "two key lines are refused");
	is_int(sk_sign_public_parse("!!!notbase64", 12, pk, &why), -EINVAL, "not base64 is refused");

	seed_pk[40] ^= 1;   /* the public half no longer matches the seed */
	sk_base64_encode(line, sizeof line, seed_pk, 64);
	is_int(sk_sign_secret_parse(line, strlen(line), sk, &why), -EINVAL,
		"a secret key whose public half is not its seed's is refused");
}

static void test_base64(void)
{
	char out[16];
	uint8_t back[8];
	is_int(sk_base64_encode(out, sizeof out, "ab", 2), 4, "base64 of 2 bytes is 4 characters");
	is_int(strcmp(out, "YWI="), 0, "with padding");
	is_int(sk_base64_encode(out, 4, "ab", 2), 0, "no room for the NUL: 0");
	is_int(sk_base64_decode(back, sizeof back, "YWI=", 4), 2, "decodes back to 2 bytes");
	is_int(sk_base64_decode(back, sizeof back, "YWI", 3), -EINVAL, "missing padding is refused");
	is_int(sk_base64_decode(back, 1, "YWI=", 4), -EINVAL, "too long for the buffer is refused");
}

int main(void)
{
	if (sk_crypto_init()) {
		ok(0, "libsodium initialises");
		return tap_done();
	}
	srand(8);
	test_sha256();
	test_hmac();
	test_sign();
	test_base64();
	return tap_done();
}
