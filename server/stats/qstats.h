/* qstats.h -- per-worker query counters: rcode x qtype x transport, and per zone tag set */
#ifndef SK_QSTATS_H
#define SK_QSTATS_H

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/tagset.h"

/*
 * What the metrics endpoint and `sinkholectl stats` report per query, counted on the worker
 * that answered it. Each worker owns one sk_qstats_t (cache-line aligned, allocated once before
 * it starts) and is its only writer: an increment is a relaxed load and store, no locked
 * instruction, no allocation, no branch on anything but the bucket. Readers sum the workers'
 * arrays with relaxed loads (sk_qstats_sum) while they run; each counter is read whole, the set
 * is not one instant.
 *
 * Cardinality is fixed: rcodes and qtypes fall into the buckets below ("other" for the rest), and
 * zone tag sets are indexed by their interned id (util/tagset.h), which only configured zones and
 * seized lists create (a reload that changes a tag makes one more). Ids from SK_QS_TAGSETS - 1 on
 * share the last bucket, reported as "other".
 */
#define SK_QS_TRANSPORTS 2     /* SK_TRANSPORT_UDP, SK_TRANSPORT_TCP */
#define SK_QS_RCODES 10
#define SK_QS_QTYPES 20
#define SK_QS_TAGSETS 1024

typedef struct sk_qstats {
	alignas(64) uint64_t by_type[SK_QS_TRANSPORTS][SK_QS_RCODES][SK_QS_QTYPES];
	/* Only queries that fell in a zone or a seized list: by that zone's or list's tag set. */
	uint64_t by_tags[SK_QS_TAGSETS][SK_QS_TRANSPORTS][SK_QS_RCODES];
} sk_qstats_t;

/* Bucket names ("other", "NOERROR", ...; "other", "none" for a message without a question,
 * "A", ...), and the bucket of a number (0, "other", for numbers without a bucket). */
const char *sk_qs_rcode_name(unsigned bucket);
const char *sk_qs_qtype_name(unsigned bucket);
const char *sk_qs_transport_name(unsigned transport);
unsigned sk_qs_rcode_bucket(uint16_t rcode);
unsigned sk_qs_qtype_bucket(uint16_t qtype);
#define SK_QS_QTYPE_NONE 1

/* Bucket tables for the inline counter below (qstats.c). */
extern const uint8_t sk_qs_rcode_table[24];
extern const uint8_t sk_qs_qtype_table[256];

static inline void sk_qs_inc(uint64_t *c)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/*
 * Count one answered query on the worker that owns `qs`: `transport` SK_TRANSPORT_*, the reply's
 * full `rcode`, the question's `qtype` (`has_question` false: the "none" bucket) and the tag set
 * of the zone or seized list it fell in (NULL: none matched, not counted by tags). No allocation.
 */
static inline void sk_qstats_count(sk_qstats_t *qs, unsigned transport, uint16_t rcode,
	bool has_question, uint16_t qtype, const sk_tagset_t *tags)
{
	unsigned r = rcode < sizeof sk_qs_rcode_table ? sk_qs_rcode_table[rcode] : 0;
	unsigned t = !has_question ? SK_QS_QTYPE_NONE
		: qtype < 256 ? sk_qs_qtype_table[qtype] : sk_qs_qtype_bucket(qtype);
	transport &= 1;
	sk_qs_inc(&qs->by_type[transport][r][t]);
	if (tags)
		sk_qs_inc(&qs->by_tags[tags->id < SK_QS_TAGSETS ? tags->id : SK_QS_TAGSETS - 1][transport][r]);
}

/* `n` workers' counters, zeroed, cache-line aligned; free with sk_qstats_free. NULL on ENOMEM. */
sk_qstats_t *sk_qstats_new(unsigned n);
void sk_qstats_free(sk_qstats_t *qs);

/* out = the sum of qs[0..n) (out need not be aligned or zeroed). Safe while the workers count. */
void sk_qstats_sum(const sk_qstats_t *qs, unsigned n, sk_qstats_t *out);

#endif
