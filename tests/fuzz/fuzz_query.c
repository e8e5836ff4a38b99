/* fuzz_query.c -- libFuzzer target: any bytes through the query parser alone, every field it
 * reports checked against the message it came from */
#include <stdlib.h>
#include <string.h>

#include "dns/query.h"
#include "fuzz_common.h"

/* True when `p`..`p + n` lies inside the message. */
static int inside(const sk_query_t *q, const uint8_t *p, size_t n)
{
	return p >= q->msg && n <= q->len && (size_t)(p - q->msg) <= q->len - n;
}

/* The question name: the first name after the header, uncompressed, and lname the same name
 * in lower case. With the question complete (has_question), its type and class follow it. */
static void check_question(const sk_query_t *q)
{
	FUZZ_CHECK(q->qname == q->msg + SK_HDR_LEN);
	FUZZ_CHECK(q->qname_len >= 1 && inside(q, q->qname, q->qname_len));
	size_t p = 0;
	while (q->qname[p]) {
		FUZZ_CHECK(q->qname[p] <= SK_LABEL_MAX);
		p += q->qname[p] + 1u;
		FUZZ_CHECK(p < q->qname_len);
	}
	FUZZ_CHECK(p + 1 == q->qname_len);
	for (size_t i = 0; i < q->qname_len; i++) {
		uint8_t c = q->qname[i];
		FUZZ_CHECK(q->lname[i] == (c >= 'A' && c <= 'Z' ? c + 32 : c));
	}
	if (!q->has_question)
		return;     /* the name parsed, but the message ends before its type and class */
	FUZZ_CHECK(inside(q, q->qname, q->qname_len + 4u));
	FUZZ_CHECK(q->qtype == sk_get16(q->qname + q->qname_len));
	FUZZ_CHECK(q->qclass == sk_get16(q->qname + q->qname_len + 2));
}

/* EDNS options as kept: an ECS address holds no bits past its source prefix (RFC 7871 s6). */
static void check_edns(const sk_query_t *q)
{
	if (!q->edns) {
		FUZZ_CHECK(!q->has_ecs && !q->has_cookie && !q->nsid);
		return;
	}
	FUZZ_CHECK(sk_hdr_arcount(q->msg) >= 1);
	if (q->has_ecs) {
		unsigned max = q->ecs.family == 1 ? 32 : 128;
		FUZZ_CHECK(q->ecs.family == 1 || q->ecs.family == 2);
		FUZZ_CHECK(q->ecs.source <= max);
		for (unsigned bit = q->ecs.source; bit < 128; bit++)
			FUZZ_CHECK(!(q->ecs.addr[bit / 8] & (0x80u >> (bit % 8))));
	}
	if (q->has_cookie)
		FUZZ_CHECK(q->cookie_len == 8 || (q->cookie_len >= 16 && q->cookie_len <= 40));
}

/* TSIG: everything the BADKEY reply copies from the request lies inside the message. */
static void check_tsig(const sk_query_t *q)
{
	if (!q->has_tsig)
		return;
	FUZZ_CHECK(sk_hdr_arcount(q->msg) >= 1);
	FUZZ_CHECK(q->tsig_key_len >= 1 && q->tsig_key_len <= SK_NAME_MAX);
	FUZZ_CHECK(q->tsig_key[q->tsig_key_len - 1] == 0);
	FUZZ_CHECK(q->tsig_alg_len >= 1 && inside(q, q->tsig_rdata, q->tsig_alg_len + 16u));
	FUZZ_CHECK(q->tsig_rdata[q->tsig_alg_len - 1] == 0);
}

static void check(const sk_query_t *q, sk_query_status_t st, const uint8_t *data, size_t size)
{
	FUZZ_CHECK(q->msg == data && q->len == size);
	switch (st) {
	case SK_QUERY_DROP:
		FUZZ_CHECK(size < SK_HDR_LEN || (sk_hdr_flags(data) & SK_FLAG_QR));
		return;
	case SK_QUERY_OK:
		FUZZ_CHECK(q->has_question);
		FUZZ_CHECK(q->opcode == SK_OPCODE_QUERY || q->opcode == SK_OPCODE_NOTIFY);
		FUZZ_CHECK(sk_hdr_qdcount(data) == 1);
		FUZZ_CHECK(!q->edns || q->edns_version == 0);
		break;
	case SK_QUERY_BADVERS:
		/* with its question, or a QUERY with none (RFC 7873 s5.4 allows QDCOUNT 0) */
		FUZZ_CHECK(q->opcode == SK_OPCODE_QUERY || q->opcode == SK_OPCODE_NOTIFY);
		FUZZ_CHECK(q->has_question ? sk_hdr_qdcount(data) == 1
			: sk_hdr_qdcount(data) == 0 && q->opcode == SK_OPCODE_QUERY);
		FUZZ_CHECK(q->edns && q->edns_version);
		break;
	case SK_QUERY_NOQUESTION:
		/* RFC 7873 s5.4: a QUERY with no question, only an OPT with a COOKIE */
		FUZZ_CHECK(!q->has_question && sk_hdr_qdcount(data) == 0);
		FUZZ_CHECK(q->opcode == SK_OPCODE_QUERY && q->has_cookie);
		FUZZ_CHECK(!q->edns || q->edns_version == 0);
		break;
	case SK_QUERY_FORMERR:
		FUZZ_CHECK(q->opcode == SK_OPCODE_QUERY || q->opcode == SK_OPCODE_NOTIFY);
		break;
	case SK_QUERY_NOTIMP:
		FUZZ_CHECK(q->opcode != SK_OPCODE_QUERY && q->opcode != SK_OPCODE_NOTIFY);
		break;
	default:
		FUZZ_CHECK(!"unknown status");
	}
	FUZZ_CHECK(q->id == sk_hdr_id(data) && q->flags == sk_hdr_flags(data));
	FUZZ_CHECK(q->opcode == sk_hdr_opcode(data));
	if (q->qname)
		check_question(q);
	else
		FUZZ_CHECK(!q->has_question && !q->qname_len);
	FUZZ_CHECK(q->has_question || st != SK_QUERY_OK);
	check_edns(q);
	check_tsig(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sk_query_t q, again;
	memset(&q, 0xa5, sizeof q);        /* a field the parser forgets to set shows up as garbage */
	sk_query_status_t st = sk_query_parse(&q, data, size);
	check(&q, st, data, size);

	/* The same bytes parse the same way, whatever the struct held before. */
	memset(&again, 0, sizeof again);
	FUZZ_CHECK(sk_query_parse(&again, data, size) == st);
	FUZZ_CHECK(again.has_question == q.has_question && again.edns == q.edns &&
		again.qname_len == q.qname_len && again.has_ecs == q.has_ecs &&
		again.has_cookie == q.has_cookie && again.nsid == q.nsid && again.has_tsig == q.has_tsig);
	if (q.has_ecs)
		FUZZ_CHECK(!memcmp(&again.ecs, &q.ecs, sizeof q.ecs));
	if (q.has_cookie)
		FUZZ_CHECK(again.cookie_len == q.cookie_len && !memcmp(again.cookie, q.cookie, q.cookie_len));
	return 0;
}
