/* qstats.c -- the buckets of the per-worker query counters, and their sum */
#include <stdlib.h>
#include <string.h>

#include "stats/qstats.h"

/*
 * Bucket 0 is "other" in both tables, so that every number a table does not name falls into it
 * without an entry of its own.
 */
static const char *const rcode_names[SK_QS_RCODES] = {
	"other", "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "NOTAUTH",
	"BADVERS", "BADCOOKIE",
};

/* The rcodes an authoritative sinkhole sends. */
const uint8_t sk_qs_rcode_table[24] = {
	[0] = 1, [1] = 2, [2] = 3, [3] = 4, [4] = 5, [5] = 6, [9] = 7, [16] = 8, [23] = 9,
};

/* What resolvers ask a sinkhole, and the transfer types; "none": a message without a question. */
static const char *const qtype_names[SK_QS_QTYPES] = {
	"other", "none", "A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "SRV", "NAPTR", "DS",
	"DNSKEY", "SVCB", "HTTPS", "ANY", "AXFR", "IXFR", "CAA",
};

_Static_assert(SK_QS_QTYPE_NONE == 1, "\"none\" is bucket 1");

const uint8_t sk_qs_qtype_table[256] = {
	[1] = 2, [2] = 3, [5] = 4, [6] = 5, [12] = 6, [15] = 7, [16] = 8, [28] = 9, [33] = 10,
	[35] = 11, [43] = 12, [48] = 13, [64] = 14, [65] = 15, [255] = 16, [252] = 17, [251] = 18,
};

#define SK_QS_QTYPE_CAA 19

const char *sk_qs_rcode_name(unsigned bucket)
{
	return bucket < SK_QS_RCODES ? rcode_names[bucket] : "other";
}

const char *sk_qs_qtype_name(unsigned bucket)
{
	return bucket < SK_QS_QTYPES ? qtype_names[bucket] : "other";
}

const char *sk_qs_transport_name(unsigned transport)
{
	return transport ? "tcp" : "udp";
}

unsigned sk_qs_rcode_bucket(uint16_t rcode)
{
	return rcode < sizeof sk_qs_rcode_table ? sk_qs_rcode_table[rcode] : 0;
}

unsigned sk_qs_qtype_bucket(uint16_t qtype)
{
	if (qtype < 256)
		return sk_qs_qtype_table[qtype];
	return qtype == 257 ? SK_QS_QTYPE_CAA : 0;
}

sk_qstats_t *sk_qstats_new(unsigned n)
{
	size_t size = (n ? n : 1) * sizeof(sk_qstats_t);
	sk_qstats_t *qs = aligned_alloc(alignof(sk_qstats_t), size);
	if (qs)
		memset(qs, 0, size);
	return qs;
}

void sk_qstats_free(sk_qstats_t *qs)
{
	free(qs);
}

void sk_qstats_sum(const sk_qstats_t *qs, unsigned n, sk_qstats_t *out)
{
	_Static_assert(sizeof(sk_qstats_t) % sizeof(uint64_t) == 0, "counters only");
	const size_t words = sizeof(sk_qstats_t) / sizeof(uint64_t);
	uint64_t *sum = (uint64_t *)out;
	memset(out, 0, sizeof *out);
	for (unsigned j = 0; j < n; j++) {
		const uint64_t *c = (const uint64_t *)&qs[j];
		for (size_t k = 0; k < words; k++)
			sum[k] += __atomic_load_n(&c[k], __ATOMIC_RELAXED);
	}
}
