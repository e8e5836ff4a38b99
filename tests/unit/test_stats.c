/* test_stats.c -- per-worker query counters (stats/qstats), interned tag set ids, the text buffer */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stats/qstats.h"
#include "tap.h"
#include "util/strbuf.h"
#include "util/tagset.h"

static void test_buckets(void)
{
	is_int(strcmp(sk_qs_rcode_name(sk_qs_rcode_bucket(0)), "NOERROR"), 0, "rcode 0: NOERROR");
	is_int(strcmp(sk_qs_rcode_name(sk_qs_rcode_bucket(3)), "NXDOMAIN"), 0, "rcode 3: NXDOMAIN");
	is_int(strcmp(sk_qs_rcode_name(sk_qs_rcode_bucket(5)), "REFUSED"), 0, "rcode 5: REFUSED");
	is_int(strcmp(sk_qs_rcode_name(sk_qs_rcode_bucket(9)), "NOTAUTH"), 0, "rcode 9: NOTAUTH");
	is_int(strcmp(sk_qs_rcode_name(sk_qs_rcode_bucket(16)), "BADVERS"), 0, "rcode 16: BADVERS");
	is_int(strcmp(sk_qs_rcode_name(sk_qs_rcode_bucket(23)), "BADCOOKIE"), 0, "rcode 23: BADCOOKIE");
	is_int(strcmp(sk_qs_rcode_name(sk_qs_rcode_bucket(7)), "other"), 0, "rcode 7 (YXRRSET): other");
	is_int(strcmp(sk_qs_rcode_name(sk_qs_rcode_bucket(4000)), "other"), 0, "rcode 4000: other");
	static const struct { uint16_t t; const char *name; } types[] = {
		{ 1, "A" }, { 2, "NS" }, { 5, "CNAME" }, { 6, "SOA" }, { 12, "PTR" }, { 15, "MX" },
		{ 16, "TXT" }, { 28, "AAAA" }, { 33, "SRV" }, { 35, "NAPTR" }, { 43, "DS" },
		{ 48, "DNSKEY" }, { 64, "SVCB" }, { 65, "HTTPS" }, { 255, "ANY" }, { 252, "AXFR" },
		{ 251, "IXFR" }, { 257, "CAA" }, { 0, "other" }, { 13, "other" }, { 256, "other" },
		{ 65535, "other" },
	};
	for (size_t i = 0; i < sizeof types / sizeof *types; i++)
		ok(!strcmp(sk_qs_qtype_name(sk_qs_qtype_bucket(types[i].t)), types[i].name),
			"qtype %u: %s", types[i].t, types[i].name);
	/* Every named bucket is reached by exactly one number (no two names share a bucket). */
	unsigned seen[SK_QS_QTYPES] = { 0 };
	for (unsigned t = 0; t < 65536; t++)
		seen[sk_qs_qtype_bucket((uint16_t)t)]++;
	unsigned single = 0;
	for (unsigned b = 2; b < SK_QS_QTYPES; b++)
		single += seen[b] == 1;
	is_int(single, SK_QS_QTYPES - 2, "each named qtype bucket holds one type");
	is_int(seen[SK_QS_QTYPE_NONE], 0, "no type number lands in \"none\"");
	ok(!strcmp(sk_qs_transport_name(0), "udp") && !strcmp(sk_qs_transport_name(1), "tcp"),
		"transports udp and tcp");
}

static void test_tagset_ids(void)
{
	sk_tag_t a[] = { { "case", "C-1" } }, b[] = { { "case", "C-2" }, { "operation", "X" } };
	const sk_tagset_t *ta = sk_tagset_intern(a, 1), *tb = sk_tagset_intern(b, 2);
	const sk_tagset_t *te = sk_tagset_intern(NULL, 0);
	ok(ta && tb && te, "interned");
	is_int(te->id, 0, "the empty set has id 0");
	ok(ta->id >= 1 && tb->id == ta->id + 1, "new sets get the next ids (%u, %u)", ta->id, tb->id);
	ok(sk_tagset_intern(a, 1)->id == ta->id, "an equal set keeps its id");
	ok(sk_tagset_by_id(ta->id) == ta && sk_tagset_by_id(tb->id) == tb, "by_id finds each set");
	ok(sk_tagset_by_id(0) == te, "by_id(0): the empty set");
	ok(sk_tagset_by_id(tb->id + 1) == NULL, "by_id past the last: NULL");
	is_int(sk_tagset_count(), tb->id + 1, "count: one past the last id");
}

/* Two threads count into their own worker's counters while a third sums: every count arrives. */
#define RACE_N 200000
static sk_qstats_t *race_qs;
static const sk_tagset_t *race_tags;

static void *race_worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	for (unsigned i = 0; i < RACE_N; i++)
		sk_qstats_count(&race_qs[id], id, i % 2 ? 3 : 0, true, 1, i % 4 ? race_tags : NULL);
	return NULL;
}

static void test_count_and_sum(void)
{
	sk_tag_t t[] = { { "case", "race" } };
	race_tags = sk_tagset_intern(t, 1);
	race_qs = sk_qstats_new(2);
	ok(race_qs && ((uintptr_t)race_qs % 64) == 0, "two workers' counters, cache-line aligned");
	if (!race_qs)
		return;
	sk_qstats_t *sum = malloc(sizeof *sum);
	pthread_t th[2];
	for (unsigned i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, race_worker, (void *)(uintptr_t)i);
	for (int k = 0; k < 50; k++)
		sk_qstats_sum(race_qs, 2, sum);     /* while they run: must not disturb them */
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	sk_qstats_sum(race_qs, 2, sum);
	unsigned a = sk_qs_qtype_bucket(1), noerr = sk_qs_rcode_bucket(0), nx = sk_qs_rcode_bucket(3);
	is_int(sum->by_type[0][noerr][a], RACE_N / 2, "udp NOERROR A: every count of worker 0");
	is_int(sum->by_type[0][nx][a], RACE_N / 2, "udp NXDOMAIN A");
	is_int(sum->by_type[1][noerr][a] + sum->by_type[1][nx][a], RACE_N, "tcp: every count of worker 1");
	uint64_t tagged = 0, all = 0;
	for (unsigned tr = 0; tr < 2; tr++)
		for (unsigned r = 0; r < SK_QS_RCODES; r++)
			tagged += sum->by_tags[race_tags->id][tr][r];
	for (unsigned s = 0; s < SK_QS_TAGSETS; s++)
		for (unsigned tr = 0; tr < 2; tr++)
			for (unsigned r = 0; r < SK_QS_RCODES; r++)
				all += sum->by_tags[s][tr][r];
	is_int(tagged, 2 * RACE_N * 3 / 4, "by tags: the three queries in four that had tags");
	is_int(all, tagged, "no other tag set counted");

	/* A query without a question, an unnamed rcode and a tag id past the table. */
	sk_tagset_t far = *race_tags;
	far.id = SK_QS_TAGSETS + 5;
	memset(race_qs, 0, 2 * sizeof *race_qs);
	sk_qstats_count(&race_qs[0], 0, 1, false, 0, &far);
	sk_qstats_count(&race_qs[1], 1, 4095, true, 99, NULL);
	sk_qstats_sum(race_qs, 2, sum);
	is_int(sum->by_type[0][sk_qs_rcode_bucket(1)][SK_QS_QTYPE_NONE], 1, "no question: qtype \"none\"");
	is_int(sum->by_type[1][0][0], 1, "rcode 4095, qtype 99: other, other");
	is_int(sum->by_tags[SK_QS_TAGSETS - 1][0][sk_qs_rcode_bucket(1)], 1,
		"a tag id past the table: the last (\"other\") bucket");
	free(sum);
	sk_qstats_free(race_qs);
}

static void test_strbuf(void)
{
	sk_strbuf_t b = { 0 };
	for (int i = 0; i < 1000; i++)
		sk_strbuf_printf(&b, "line %d\n", i);
	sk_strbuf_puts(&b, "end");
	ok(!b.nomem && b.len == strlen(b.s), "1000 lines appended, NUL-terminated");
	ok(!strncmp(b.s, "line 0\nline 1\n", 14) && !strcmp(b.s + b.len - 12, "line 999\nend"),
		"in order");
	sk_strbuf_free(&b);
	ok(b.s == NULL && b.len == 0, "freed and emptied");
}

int main(void)
{
	test_buckets();
	test_tagset_ids();
	test_count_and_sum();
	test_strbuf();
	sk_tagset_free_all();
	return tap_done();
}
