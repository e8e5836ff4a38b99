/* rrl.c -- response rate limiting: accounts in a fixed lock-free table, the slipped reply */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "dns/cookie.h"
#include "dns/wire.h"
#include "rrl/rrl.h"

/*
 * An account is one 64-bit word, so that a worker reads and writes it whole without a lock:
 *
 *   63..44  tag: 20 bits of the key's hash (0: an empty slot)
 *   43..4   tat: when the account's debt is paid off, in microseconds modulo 2^40 (12.7 days)
 *    3..0   how many limited replies since the last slip, modulo `slip` (at most 10)
 *
 * The debt (tat - now) is the token bucket seen from the other side (GCRA): each reply adds
 * 1/rate seconds, time pays it back; up to one second of debt is the bucket's credit, more is
 * over the rate. It is capped at 1 + window seconds, so a source that keeps flooding stays
 * limited until it has been quiet for about `window` seconds (BIND's window).
 *
 * Workers read the clock once per batch, so one may account with a `now` a little older than
 * the `now` another wrote the account with: its debt then reads up to that much above the cap.
 * Up to SLACK above is taken as the cap; further ahead than that, the tat can only be from the
 * past (it wrapped: untouched for 12.7 days) or from before the clock stepped back, and reads as
 * paid off. A wrapped account misreads only within 1 + window + SLACK seconds of each wrap.
 */
#define TAG_SHIFT 44
#define TAT_SHIFT 4
#define TAT_BITS 40
#define TAT_MASK ((UINT64_C(1) << TAT_BITS) - 1)
#define SLIP_MASK UINT64_C(0xf)
#define US 1000000u              /* one second: the credit an account can hold */
#define SLACK (60 * UINT64_C(1000000))

/*
 * A bucket is one cache line of 8 accounts. A key lives in the bucket its hash picks, in any
 * slot; a new key takes the slot with the least debt, so an account that is paid off (all but
 * the busy ones) is reused at no cost, and a flooding source's account, deep in debt, is the
 * last to go.
 */
#define SLOTS 8

struct sk_rrl {
	uint64_t *slot;          /* nbuckets * SLOTS accounts, cache-line aligned */
	void *mem;               /* what calloc returned */
	uint64_t mask;           /* nbuckets - 1 */
	uint64_t seed;           /* so that nobody outside can aim keys at one bucket */
	unsigned entries;
};

_Static_assert(SLOTS * sizeof(uint64_t) == 64, "a bucket is one cache line");
_Static_assert(TAG_SHIFT == TAT_SHIFT + TAT_BITS, "the fields fill the word");

int sk_rrl_new(unsigned entries, sk_rrl_t **out)
{
	if (entries < SLOTS || (entries & (entries - 1)))
		return -EINVAL;
	sk_rrl_t *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	/* calloc of a large block maps zero pages: the table costs memory only as it fills. */
	if (!(r->mem = calloc((size_t)entries + SLOTS, sizeof(uint64_t)))) {
		free(r);
		return -ENOMEM;
	}
	r->slot = (uint64_t *)(((uintptr_t)r->mem + 63) & ~(uintptr_t)63);
	r->mask = entries / SLOTS - 1;
	r->entries = entries;
	if (getrandom(&r->seed, sizeof r->seed, GRND_NONBLOCK) != (ssize_t)sizeof r->seed) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r->seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uintptr_t)r;
	}
	*out = r;
	return 0;
}

void sk_rrl_free(sk_rrl_t *rrl)
{
	if (!rrl)
		return;
	free(rrl->mem);
	free(rrl);
}

unsigned sk_rrl_entries(const sk_rrl_t *rrl)
{
	return rrl->entries;
}

/* ---- the key ---- */

enum kind { KIND_RESPONSE = 1, KIND_WILDCARD, KIND_NXDOMAIN, KIND_ERROR };

/* The source address, IPv4 in the first 4 bytes (an IPv4-mapped IPv6 address counts as IPv4). */
typedef struct source {
	int family;
	uint8_t addr[16];
} source_t;

static bool source_of(const struct sockaddr *sa, source_t *s)
{
	memset(s->addr, 0, sizeof s->addr);
	if (sa->sa_family == AF_INET) {
		s->family = AF_INET;
		memcpy(s->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		s->family = AF_INET;
		memcpy(s->addr, a->s6_addr + 12, 4);
	} else {
		s->family = AF_INET6;
		memcpy(s->addr, a->s6_addr, 16);
	}
	return true;
}

/* Clear every bit of addr past `len`. */
static void mask_bits(uint8_t addr[16], unsigned len)
{
	for (unsigned i = len / 8; i < 16; i++) {
		unsigned keep = i == len / 8 ? len % 8 : 0;
		addr[i] &= (uint8_t)(0xff00u >> keep);
	}
}

static bool in_prefix(const source_t *s, const sk_prefix_t *p)
{
	unsigned full = p->len / 8, rest = p->len % 8;
	if (s->family != p->family || memcmp(s->addr, p->addr, full))
		return false;
	return !rest || !((s->addr[full] ^ p->addr[full]) & (uint8_t)(0xff00u >> rest));
}

static bool exempt(const sk_rrl_conf_t *c, const source_t *s)
{
	for (size_t i = 0; i < c->nexempt; i++)
		if (in_prefix(s, &c->exempt[i]))
			return true;
	return false;
}

/* The kind of reply, its rate, and the name it is counted under (NULL: none). */
static unsigned classify(const sk_rrl_conf_t *c, const sk_resp_info_t *info, enum kind *kind,
	const uint8_t **name, size_t *len)
{
	const sk_query_t *q = &info->q;
	*name = NULL;
	*len = 0;
	if (info->rcode == SK_RCODE_NOERROR && q->has_question) {
		*kind = info->wild_off ? KIND_WILDCARD : KIND_RESPONSE;
		*name = q->lname + info->wild_off;
		*len = (size_t)(q->qname_len - info->wild_off);
		return c->responses_per_second;
	}
	if (info->rcode == SK_RCODE_NXDOMAIN && q->has_question) {
		size_t off = info->zone ? info->apex_off : 0;
		*kind = KIND_NXDOMAIN;
		*name = q->lname + off;
		*len = (size_t)(q->qname_len - off);
		return c->nxdomains_per_second;
	}
	*kind = KIND_ERROR;
	return c->errors_per_second;
}

static inline uint64_t mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * UINT64_C(0x9e3779b97f4a7c15);
	return h ^ (h >> 29);
}

/* murmur3's finaliser: every input bit reaches the low bits (the bucket) and the high (the tag). */
static inline uint64_t fmix(uint64_t h)
{
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	return h ^ (h >> 33);
}

static uint64_t key_hash(uint64_t seed, const source_t *s, unsigned plen, enum kind kind,
	uint16_t qtype, const uint8_t *name, size_t len)
{
	uint64_t w[2];
	memcpy(w, s->addr, sizeof w);
	uint64_t h = mix(seed, (uint64_t)s->family | (uint64_t)kind << 8 | (uint64_t)qtype << 16 |
		(uint64_t)plen << 32 | (uint64_t)len << 40);
	h = mix(mix(h, w[0]), w[1]);
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = 0;
		memcpy(&v, name + i, len - i < 8 ? len - i : 8);
		h = mix(h, v);
	}
	return fmix(h);
}

/* ---- the accounts ---- */

static inline uint64_t tat_of(uint64_t e) { return e >> TAT_SHIFT & TAT_MASK; }

/* Debt in microseconds at `now`, at most `max`: 0 when paid off (tat in the past) or further
 * ahead than a worker's clock can lag. */
static inline uint64_t debt(uint64_t e, uint64_t now, uint64_t max)
{
	uint64_t d = (tat_of(e) - now) & TAT_MASK;
	return d > max + SLACK ? 0 : d > max ? max : d;
}

static sk_rrl_action_t debit(sk_rrl_t *r, uint64_t h, uint64_t cost, uint64_t max, unsigned slip,
	uint64_t now_us)
{
	uint64_t *b = r->slot + (h & r->mask) * SLOTS;
	uint64_t tag = h >> TAG_SHIFT ? h >> TAG_SHIFT : 1;
	uint64_t now = now_us & TAT_MASK, d = 0, least = UINT64_MAX, e;
	unsigned at = 0, count = 0;

	for (unsigned i = 0; i < SLOTS; i++) {
		e = __atomic_load_n(&b[i], __ATOMIC_RELAXED);
		if (e >> TAG_SHIFT == tag) {
			at = i;
			d = debt(e, now, max);
			count = (unsigned)(e & SLIP_MASK);
			break;
		}
		uint64_t ed = e ? debt(e, now, max) : 0;
		if (ed < least) {
			least = ed;
			at = i;
		}
	}
	d += cost;
	if (d > max)
		d = max;
	sk_rrl_action_t act = SK_RRL_PASS;
	if (d > US) {
		count = slip ? (count + 1) % slip : 0;
		act = slip && count == 0 ? SK_RRL_SLIP : SK_RRL_DROP;
	}
	e = tag << TAG_SHIFT | ((now + d) & TAT_MASK) << TAT_SHIFT | count;
	__atomic_store_n(&b[at], e, __ATOMIC_RELAXED);
	return act;
}

sk_rrl_action_t sk_rrl_account(sk_rrl_t *rrl, const sk_rrl_conf_t *conf, const struct sockaddr *src,
	const sk_resp_info_t *info, uint64_t now_us)
{
	enum kind kind;
	const uint8_t *name;
	size_t len;
	source_t s;

	/* A valid server cookie proves the source address is the client's own (RFC 7873 section 5.3):
	 * nothing spoofed to reflect at a victim, so nothing to limit, as BIND does. */
	if (!conf->enabled || info->cookie == SK_COOKIE_VALID)
		return SK_RRL_NONE;
	unsigned rate = classify(conf, info, &kind, &name, &len);
	if (!rate || !source_of(src, &s) || exempt(conf, &s))
		return SK_RRL_NONE;
	unsigned plen = s.family == AF_INET ? conf->ipv4_prefix : conf->ipv6_prefix;
	mask_bits(s.addr, plen);
	uint64_t h = key_hash(rrl->seed, &s, plen, kind, kind == KIND_ERROR || kind == KIND_NXDOMAIN ?
		0 : info->q.qtype, name, len);
	uint64_t cost = US / rate, max = (uint64_t)(1 + conf->window) * US;
	return debit(rrl, h, cost, max, conf->slip, now_us);
}

/* ---- the slipped reply ---- */

#define OPT_LEN 11   /* root owner, TYPE, CLASS, TTL, RDLENGTH 0 */

size_t sk_rrl_slip(uint8_t *reply, size_t len, sk_resp_info_t *info, uint16_t edns_size)
{
	const sk_query_t *q = &info->q;
	size_t pos = SK_HDR_LEN;
	uint16_t qd = 0, ar = 0;

	if (len < SK_HDR_LEN)
		return len;
	/* sk_respond copies the question as received, qname_len + 4 bytes after the header. */
	if (sk_hdr_qdcount(reply) == 1 && pos + q->qname_len + 4u <= len) {
		pos += q->qname_len + 4u;
		qd = 1;
	}
	/* The reply's OPT, with its options, came after the question: a bare one fits. */
	if (info->opt && pos + OPT_LEN <= len) {
		uint8_t *o = reply + pos;
		o[0] = 0;
		sk_put16(o + 1, SK_TYPE_OPT);
		sk_put16(o + 3, edns_size);
		o[5] = (uint8_t)(info->rcode >> 4);      /* upper bits of the extended rcode */
		o[6] = 0;                                /* version 0 */
		sk_put16(o + 7, q->edns_do ? 0x8000 : 0);
		sk_put16(o + 9, 0);
		pos += OPT_LEN;
		ar = 1;
	}
	uint16_t flags = (uint16_t)(sk_hdr_flags(reply) | SK_FLAG_TC);
	sk_hdr_set_flags(reply, flags);
	sk_hdr_set_counts(reply, qd, 0, 0, ar);
	info->flags = flags;
	info->size = (uint16_t)pos;
	return pos;
}
