/* cache.c -- per-thread cache of geo lookups, keyed by the network the databases returned */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "geo/geo_internal.h"

/*
 * Why this shape. A database answers for a network (81.2.69.142 is in 81.2.69.142/31 of the City
 * database and 81.0.0.0/9 of the ASN one), and every address in the intersection of those networks
 * (the longer prefix) gets the same answer. But we do not know the network before a lookup, so the
 * key cannot simply be "the network". Instead the table is set-associative and a set is chosen by
 * the address's block -- its first 24 bits (IPv4) or 48 bits (IPv6), the longest prefixes commonly
 * routed, so a resolver and its neighbours fall in one block. Each entry stores its network:
 *   - when the network is at least as large as the block, the entry covers the whole block;
 *   - when it is smaller (81.2.69.142/31), the entry covers just that network; several such
 *     networks of one block live side by side in the block's set.
 * A probe hashes once and compares the set's keys, which sit together (4 x 24 bytes) apart from
 * the bulky results, so a miss touches two cache lines. A network larger than a block costs one
 * lookup per block used, which bounds the waste; a flood of spoofed sources from everywhere
 * defeats any cache, so the hash needs no secret seed: colliding one set only costs misses.
 * Eviction is least recently used within the set, by a per-entry stamp.
 */

#define WAYS 4

struct slot {
	uint8_t net[16];    /* the address masked to `len` bits */
	uint32_t stamp;     /* value of the cache clock at the last use */
	uint8_t family;     /* 0 (empty), 4 or 6 */
	uint8_t len;        /* bits of `net` an address must share */
	uint8_t pad[2];
};
_Static_assert(sizeof(struct slot) == 24, "four keys of a set fit in 96 bytes");

struct sk_geo_cache {
	struct slot *slots;        /* nsets * WAYS keys */
	sk_geo_info_t *info;       /* the result of each slot, same index */
	unsigned char *annex;      /* the caller's bytes of each slot, same index; NULL when none */
	size_t annex_size;
	struct slot *last;         /* the slot that answered the last lookup; NULL when none did */
	uint32_t set_mask;         /* nsets - 1; nsets is a power of two */
	uint32_t clock;
	uint64_t gen;              /* geo the entries came from; 0 before the first lookup */
	bool warned;               /* an error has been logged for this gen */
	/* Written only by the owner, read by a stats thread: relaxed atomics, no locked increments. */
	_Atomic uint64_t lookups, hits, errors;
};

static void bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

int sk_geo_cache_new(unsigned entries, size_t annex, sk_geo_cache_t **out)
{
	sk_geo_cache_t *c = NULL;
	if (!out || entries == 0 || entries > (1u << 22) || annex > SK_GEO_ANNEX_MAX)
		return -EINVAL;
	uint32_t nsets = 1;
	while (nsets * WAYS < entries)
		nsets <<= 1;

	c = calloc(1, sizeof *c);
	if (!c)
		goto fail;
	c->slots = calloc((size_t)nsets * WAYS, sizeof *c->slots);
	c->info = calloc((size_t)nsets * WAYS, sizeof *c->info);
	if (!c->slots || !c->info)
		goto fail;
	if (annex) {
		c->annex_size = annex;
		if (!(c->annex = calloc((size_t)nsets * WAYS, annex)))
			goto fail;
	}
	c->set_mask = nsets - 1;
	*out = c;
	return 0;
fail:
	sk_geo_cache_free(c);
	return -ENOMEM;
}

void sk_geo_cache_free(sk_geo_cache_t *c)
{
	if (!c)
		return;
	free(c->annex);
	free(c->info);
	free(c->slots);
	free(c);
}

void sk_geo_cache_clear(sk_geo_cache_t *c)
{
	if (!c)
		return;
	memset(c->slots, 0, ((size_t)c->set_mask + 1) * WAYS * sizeof *c->slots);
	c->last = NULL;
}

void *sk_geo_cache_annex(sk_geo_cache_t *c)
{
	if (!c || !c->annex || !c->last)
		return NULL;
	return c->annex + (size_t)(c->last - c->slots) * c->annex_size;
}

void sk_geo_cache_stats(const sk_geo_cache_t *c, sk_geo_stats_t *out)
{
	/* The counters are atomics, so reading them through a const pointer from another thread is fine. */
	sk_geo_cache_t *m = (sk_geo_cache_t *)c;
	out->lookups = atomic_load_explicit(&m->lookups, memory_order_relaxed);
	out->hits = atomic_load_explicit(&m->hits, memory_order_relaxed);
	out->errors = atomic_load_explicit(&m->errors, memory_order_relaxed);
}

/* The set of an address: a multiplicative hash of its block (first 24 or 48 bits) and family. */
static struct slot *set_of(const sk_geo_cache_t *c, int family, const uint8_t *addr)
{
	uint64_t x;
	if (family == AF_INET)
		x = (uint64_t)addr[0] << 16 | (uint64_t)addr[1] << 8 | addr[2];
	else
		x = 1ull << 63 | (uint64_t)addr[0] << 40 | (uint64_t)addr[1] << 32 | (uint64_t)addr[2] << 24 |
			(uint64_t)addr[3] << 16 | (uint64_t)addr[4] << 8 | addr[5];
	uint32_t h = (uint32_t)((x * 0x9e3779b97f4a7c15ull) >> 32);
	return c->slots + (size_t)(h & c->set_mask) * WAYS;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned bytes = len / 8, bits = len % 8;
	if (memcmp(a, b, bytes) != 0)
		return false;
	if (!bits)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - bits));
	return ((a[bytes] ^ b[bytes]) & mask) == 0;
}

const sk_geo_info_t *sk_geo_cache_get(sk_geo_cache_t *c, uint64_t gen, int family,
	const uint8_t *addr)
{
	if (c->gen != gen) {
		sk_geo_cache_clear(c);
		c->gen = gen;
		c->warned = false;
	}
	c->last = NULL;
	uint8_t fam = family == AF_INET ? 4 : 6;
	struct slot *set = set_of(c, family, addr);
	for (unsigned w = 0; w < WAYS; w++) {
		struct slot *s = &set[w];
		if (s->family != fam || !prefix_equal(s->net, addr, s->len))
			continue;
		s->stamp = ++c->clock;
		c->last = s;
		bump(&c->lookups);
		bump(&c->hits);
		return &c->info[s - c->slots];
	}
	return NULL;
}

bool sk_geo_cache_find(sk_geo_cache_t *c, uint64_t gen, int family, const uint8_t *addr,
	sk_geo_info_t *info)
{
	const sk_geo_info_t *hit = sk_geo_cache_get(c, gen, family, addr);
	if (hit)
		memcpy(info, hit, sizeof *info);
	else
		bump(&c->lookups);
	return hit != NULL;
}

void sk_geo_cache_store(sk_geo_cache_t *c, int family, const uint8_t *addr, unsigned prefix,
	const sk_geo_info_t *info)
{
	unsigned size = family == AF_INET ? 4 : 16;
	unsigned grain = family == AF_INET ? SK_GEO_GRAIN4 : SK_GEO_GRAIN6;
	unsigned len = prefix < grain ? grain : prefix;
	assert(prefix <= size * 8);

	/* Victim: an empty way, else the one unused for longest (stamps compared as ages, so the
	 * clock may wrap). */
	struct slot *set = set_of(c, family, addr), *v = &set[0];
	for (unsigned w = 0; w < WAYS; w++) {
		if (!set[w].family) {
			v = &set[w];
			break;
		}
		if (c->clock - set[w].stamp > c->clock - v->stamp)
			v = &set[w];
	}
	memset(v->net, 0, sizeof v->net);
	memcpy(v->net, addr, len / 8);
	if (len % 8)
		v->net[len / 8] = addr[len / 8] & (uint8_t)(0xff << (8 - len % 8));
	v->len = (uint8_t)len;
	v->family = family == AF_INET ? 4 : 6;
	v->stamp = ++c->clock;
	memcpy(&c->info[v - c->slots], info, sizeof *info);
	if (c->annex)
		memset(c->annex + (size_t)(v - c->slots) * c->annex_size, 0, c->annex_size);
	c->last = v;
}

bool sk_geo_cache_error(sk_geo_cache_t *c)
{
	bump(&c->errors);
	if (c->warned)
		return false;
	c->warned = true;
	return true;
}
