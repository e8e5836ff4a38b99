/* sha256.c -- SHA-256 (FIPS 180-4) with the CPU's SHA instructions when it has them */
#include <stdatomic.h>
#include <string.h>

#include "crypto/crypto.h"

/*
 * Why not libsodium's crypto_hash_sha256: it is portable C only, about 180 MB/s on the machine
 * this was measured on, which would make hashing the JSON lines file (issue 8: the telemetry
 * chain) cost more per record than formatting it. With x86-64 SHA-NI a block takes a few dozen
 * cycles. Both block functions below are checked against libsodium in tests/unit/test_crypto.c.
 */

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

typedef void blocks_fn(uint32_t h[8], const uint8_t *p, size_t nblocks);

static inline uint32_t ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void blocks_portable(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
	uint32_t w[64];
	for (; nblocks; nblocks--, p += 64) {
		for (int t = 0; t < 16; t++)
			w[t] = load_be32(p + 4 * t);
		for (int t = 16; t < 64; t++) {
			uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
			uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
			w[t] = w[t - 16] + s0 + w[t - 7] + s1;
		}
		uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
		for (int t = 0; t < 64; t++) {
			uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
			uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
			hh = g;
			g = f;
			f = e;
			e = d + t1;
			d = c;
			c = b;
			b = a;
			a = t1 + t2;
		}
		h[0] += a;
		h[1] += b;
		h[2] += c;
		h[3] += d;
		h[4] += e;
		h[5] += f;
		h[6] += g;
		h[7] += hh;
	}
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

/*
 * The SHA-NI form (Intel's SHA extensions): the state lives in two registers as ABEF and CDGH;
 * each sha256rnds2 does two rounds, so a group of four message words takes two of them. The
 * message schedule for groups 4..15: msg1 adds sigma0 of the next group's words, alignr brings
 * W[t-7], msg2 adds sigma1 of the two words before.
 */
__attribute__((target("sha,sse4.1,ssse3")))
static void blocks_shani(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
	__m128i tmp = _mm_loadu_si128((const __m128i *)&h[0]);     /* DCBA */
	__m128i st1 = _mm_loadu_si128((const __m128i *)&h[4]);     /* HGFE */
	tmp = _mm_shuffle_epi32(tmp, 0xB1);                         /* CDAB */
	st1 = _mm_shuffle_epi32(st1, 0x1B);                         /* EFGH */
	__m128i st0 = _mm_alignr_epi8(tmp, st1, 8);                 /* ABEF */
	st1 = _mm_blend_epi16(st1, tmp, 0xF0);                      /* CDGH */

	for (; nblocks; nblocks--, p += 64) {
		__m128i save0 = st0, save1 = st1, w[4];
		/* Unrolled, so that w[] lives in registers and the indices are constants. */
#pragma GCC unroll 16
		for (int j = 0; j < 16; j++) {
			__m128i cur;
			if (j < 4) {
				cur = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * j)), bswap);
			} else {
				__m128i m4 = w[j & 3], m3 = w[(j + 1) & 3], m2 = w[(j + 2) & 3], m1 = w[(j + 3) & 3];
				cur = _mm_sha256msg1_epu32(m4, m3);
				cur = _mm_add_epi32(cur, _mm_alignr_epi8(m1, m2, 4));
				cur = _mm_sha256msg2_epu32(cur, m1);
			}
			w[j & 3] = cur;
			__m128i msg = _mm_add_epi32(cur, _mm_loadu_si128((const __m128i *)&K[4 * j]));
			st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
			msg = _mm_shuffle_epi32(msg, 0x0E);
			st0 = _mm_sha256rnds2_epu32(st0, st1, msg);
		}
		st0 = _mm_add_epi32(st0, save0);
		st1 = _mm_add_epi32(st1, save1);
	}

	tmp = _mm_shuffle_epi32(st0, 0x1B);                         /* FEBA */
	st1 = _mm_shuffle_epi32(st1, 0xB1);                         /* DCHG */
	st0 = _mm_blend_epi16(tmp, st1, 0xF0);                      /* DCBA */
	st1 = _mm_alignr_epi8(st1, tmp, 8);                         /* HGFE */
	_mm_storeu_si128((__m128i *)&h[0], st0);
	_mm_storeu_si128((__m128i *)&h[4], st1);
}

/* CPUID leaf 7 EBX bit 29: SHA; leaf 1 ECX bits 19 and 9: SSE4.1, SSSE3 (gcc and clang disagree
 * on the names __builtin_cpu_supports takes, so ask the CPU directly). */
static bool cpu_has_sha(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19)) || !(c & (1u << 9)))
		return false;
	return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
}
#else
static bool cpu_has_sha(void)
{
	return false;
}
#define blocks_shani blocks_portable
#endif

/* Chosen at the first use; every thread computes the same answer, so a race is harmless. */
static _Atomic(blocks_fn *) g_blocks;
static atomic_bool g_force_portable;

static blocks_fn *blocks(void)
{
	blocks_fn *f = atomic_load_explicit(&g_blocks, memory_order_relaxed);
	if (!f) {
		f = !atomic_load(&g_force_portable) && cpu_has_sha() ? blocks_shani : blocks_portable;
		atomic_store_explicit(&g_blocks, f, memory_order_relaxed);
	}
	return f;
}

void sk_sha256_force_portable(bool on)
{
	atomic_store(&g_force_portable, on);
	atomic_store(&g_blocks, NULL);
}

const char *sk_sha256_impl(void)
{
	return blocks() == blocks_portable ? "portable" : "sha-ni";
}

void sk_sha256_init(sk_sha256_t *s)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	memcpy(s->h, iv, sizeof iv);
	s->len = 0;
}

void sk_sha256_update(sk_sha256_t *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t have = (size_t)(s->len & 63);
	blocks_fn *f = blocks();

	s->len += len;
	if (have) {
		size_t take = 64 - have < len ? 64 - have : len;
		memcpy(s->buf + have, p, take);
		p += take;
		len -= take;
		if (have + take < 64)
			return;
		f(s->h, s->buf, 1);
	}
	if (len >= 64) {
		f(s->h, p, len / 64);
		p += len & ~(size_t)63;
		len &= 63;
	}
	if (len)
		memcpy(s->buf, p, len);
}

void sk_sha256_final(sk_sha256_t *s, uint8_t out[SK_SHA256_LEN])
{
	uint64_t bits = s->len * 8;
	size_t have = (size_t)(s->len & 63);
	blocks_fn *f = blocks();

	s->buf[have++] = 0x80;
	if (have > 56) {
		memset(s->buf + have, 0, 64 - have);
		f(s->h, s->buf, 1);
		have = 0;
	}
	memset(s->buf + have, 0, 56 - have);
	for (int i = 0; i < 8; i++)
		s->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	f(s->h, s->buf, 1);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}

void sk_sha256(uint8_t out[SK_SHA256_LEN], const void *data, size_t len)
{
	sk_sha256_t s;
	sk_sha256_init(&s);
	sk_sha256_update(&s, data, len);
	sk_sha256_final(&s, out);
}

void sk_sha256_hex(char out[SK_SHA256_HEX_LEN + 1], const uint8_t digest[SK_SHA256_LEN])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < SK_SHA256_LEN; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 15];
	}
	out[SK_SHA256_HEX_LEN] = '\0';
}
