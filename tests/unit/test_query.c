/* test_query.c -- query parsing: header, question, sections, EDNS options (RFC 6891, 7871, 7873) */
#include "dns/query.h"
#include "tap.h"

/* A little packet builder: header, question, then whatever a test appends. */
typedef struct pkt {
	uint8_t b[1024];
	size_t n;
} pkt_t;

static void put(pkt_t *p, const void *d, size_t n)
{
	if (n)          /* memcpy from NULL is undefined even for 0 bytes (UBSan says so) */
		memcpy(p->b + p->n, d, n);
	p->n += n;
}
static void put16(pkt_t *p, uint16_t v)
{
	sk_put16(p->b + p->n, v);
	p->n += 2;
}

/* id 0xabcd, RD, counts as given, question "\3WwW\6AiTism\3net" A IN. */
static void query(pkt_t *p, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
	p->n = 0;
	put16(p, 0xabcd);
	put16(p, SK_FLAG_RD);
	put16(p, qd), put16(p, an), put16(p, ns), put16(p, ar);
	if (qd)
		put(p, "\3WwW\6AiTism\3net\0\0\1\0\1", 20);
}

/* OPT with payload size, version, DO, and `olen` bytes of options. */
static void opt(pkt_t *p, uint16_t size, uint8_t version, int do_bit, const void *opts, uint16_t olen)
{
	uint8_t root = 0;
	put(p, &root, 1);
	put16(p, SK_TYPE_OPT);
	put16(p, size);
	uint8_t ttl[4] = { 0, version, do_bit ? 0x80 : 0, 0 };
	put(p, ttl, 4);
	put16(p, olen);
	put(p, opts, olen);
}

static sk_query_status_t parse(sk_query_t *q, pkt_t *p)
{
	return sk_query_parse(q, p->b, p->n);
}

int main(void)
{
	sk_query_t q;
	pkt_t p;

	query(&p, 1, 0, 0, 0);
	is_int(parse(&q, &p), SK_QUERY_OK, "plain query parses");
	is_int(q.id, 0xabcd, "id");
	ok(q.flags & SK_FLAG_RD, "RD seen");
	is_int(q.qname_len, 16, "qname length");
	ok(memcmp(q.qname, "\3WwW", 4) == 0, "qname keeps the client's case");
	ok(memcmp(q.lname, "\3www\6aitism\3net", 16) == 0, "lowercased copy");
	ok(q.qtype == SK_TYPE_A && q.qclass == SK_CLASS_IN, "type and class");
	ok(!q.edns, "no EDNS");

	is_int(sk_query_parse(&q, p.b, 11), SK_QUERY_DROP, "shorter than a header: dropped");
	p.b[2] |= 0x80;
	is_int(parse(&q, &p), SK_QUERY_DROP, "QR set: dropped");

	query(&p, 0, 0, 0, 0);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "QDCOUNT 0: FORMERR");
	query(&p, 2, 0, 0, 0);
	put(&p, "\0\0\1\0\1", 5);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "QDCOUNT 2: FORMERR");

	query(&p, 1, 0, 0, 0);
	p.n -= 2;
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "question cut short: FORMERR");
	query(&p, 1, 0, 0, 0);
	put(&p, "x", 1);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "trailing garbage: FORMERR");

	p.n = 12;
	put(&p, "\xc0\x0c\0\1\0\1", 6);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "pointer in the question: FORMERR");
	p.n = 12;
	put(&p, "\x40" "a\0\0\1\0\1", 7);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "extended label type: FORMERR");
	p.n = 12;
	for (int i = 0; i < 128; i++)
		put(&p, "\1a", 2);
	put(&p, "\0\0\1\0\1", 5);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "name over 255 bytes: FORMERR");
	p.n = 12;
	for (int i = 0; i < 127; i++)
		put(&p, "\1a", 2);
	put(&p, "\0\0\1\0\1", 5);
	is_int(parse(&q, &p), SK_QUERY_OK, "name of exactly 255 bytes accepted");

	/* Opcodes */
	query(&p, 1, 0, 0, 0);
	p.b[2] = (uint8_t)(SK_OPCODE_UPDATE << 3);
	is_int(parse(&q, &p), SK_QUERY_NOTIMP, "UPDATE: NOTIMP");
	ok(q.has_question, "question still parsed for the echo");
	p.b[2] = (uint8_t)(SK_OPCODE_STATUS << 3);
	is_int(parse(&q, &p), SK_QUERY_NOTIMP, "STATUS: NOTIMP");
	p.b[2] = (uint8_t)(SK_OPCODE_NOTIFY << 3);
	is_int(parse(&q, &p), SK_QUERY_OK, "NOTIFY parses (answered by the responder)");
	is_int(q.opcode, SK_OPCODE_NOTIFY, "opcode kept");

	/* EDNS */
	query(&p, 1, 0, 0, 1);
	opt(&p, 4096, 0, 1, NULL, 0);
	is_int(parse(&q, &p), SK_QUERY_OK, "EDNS query parses");
	ok(q.edns && q.edns_size == 4096 && q.edns_do && q.edns_version == 0, "size, DO, version");

	query(&p, 1, 0, 0, 1);
	opt(&p, 1232, 1, 0, NULL, 0);
	is_int(parse(&q, &p), SK_QUERY_BADVERS, "version 1: BADVERS");

	query(&p, 1, 0, 0, 2);
	opt(&p, 1232, 0, 0, NULL, 0);
	opt(&p, 1232, 0, 0, NULL, 0);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "two OPTs: FORMERR");

	query(&p, 1, 1, 0, 0);
	opt(&p, 1232, 0, 0, NULL, 0);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "OPT in the answer section: FORMERR");

	query(&p, 1, 0, 0, 1);
	put(&p, "\1x", 2);
	p.n += 0;
	{
		pkt_t tail;
		tail.n = 0;
		opt(&tail, 1232, 0, 0, NULL, 0);
		put(&p, tail.b + 1, tail.n - 1);
	}
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "OPT with a non-root owner: FORMERR");

	static const uint8_t nsid[] = { 0, 3, 0, 0 };
	static const uint8_t unknown[] = { 0xfd, 0xe9, 0, 3, 1, 2, 3 };
	query(&p, 1, 0, 0, 1);
	uint8_t both[11];
	memcpy(both, unknown, 7);
	memcpy(both + 7, nsid, 4);
	opt(&p, 1232, 0, 0, both, 11);
	is_int(parse(&q, &p), SK_QUERY_OK, "unknown option ignored");
	ok(q.nsid, "NSID seen after an unknown option");

	static const uint8_t badlen[] = { 0, 3, 0, 9, 1 };
	query(&p, 1, 0, 0, 1);
	opt(&p, 1232, 0, 0, badlen, 5);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "option longer than the OPT: FORMERR");
	static const uint8_t stub[] = { 0, 3, 0 };
	query(&p, 1, 0, 0, 1);
	opt(&p, 1232, 0, 0, stub, 3);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "option header cut short: FORMERR");

	/* ECS (RFC 7871) */
	static const uint8_t ecs24[] = { 0, 8, 0, 7, 0, 1, 24, 0, 89, 160, 20 };
	query(&p, 1, 0, 0, 1);
	opt(&p, 1232, 0, 0, ecs24, sizeof ecs24);
	is_int(parse(&q, &p), SK_QUERY_OK, "ECS /24 parses");
	ok(q.has_ecs && q.ecs.family == 1 && q.ecs.source == 24 && q.ecs.scope == 0, "family 1, source 24");
	ok(q.ecs.addr[0] == 89 && q.ecs.addr[1] == 160 && q.ecs.addr[2] == 20 && q.ecs.addr[3] == 0, "address");

	static const uint8_t ecs_v6[] = { 0, 8, 0, 10, 0, 2, 48, 0, 0x2a, 0x02, 0xcf, 0x40, 0, 0 };
	query(&p, 1, 0, 0, 1);
	opt(&p, 1232, 0, 0, ecs_v6, sizeof ecs_v6);
	is_int(parse(&q, &p), SK_QUERY_OK, "ECS v6 /48 parses");
	ok(q.ecs.family == 2 && q.ecs.addr[0] == 0x2a && q.ecs.addr[3] == 0x40, "v6 address");

	static const uint8_t ecs_zero[] = { 0, 8, 0, 4, 0, 1, 0, 0 };
	query(&p, 1, 0, 0, 1);
	opt(&p, 1232, 0, 0, ecs_zero, sizeof ecs_zero);
	is_int(parse(&q, &p), SK_QUERY_OK, "ECS /0 with no address bytes parses");

	static const uint8_t ecs_long[] = { 0, 8, 0, 8, 0, 1, 24, 0, 89, 160, 20, 1 };
	query(&p, 1, 0, 0, 1);
	opt(&p, 1232, 0, 0, ecs_long, sizeof ecs_long);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "ECS address longer than the prefix: FORMERR");
	static const uint8_t ecs_bits[] = { 0, 8, 0, 7, 0, 1, 20, 0, 89, 160, 0x1f };
	query(&p, 1, 0, 0, 1);
	opt(&p, 1232, 0, 0, ecs_bits, sizeof ecs_bits);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "ECS with bits set past the prefix: FORMERR");
	static const uint8_t ecs_fam[] = { 0, 8, 0, 5, 0, 3, 8, 0, 1 };
	query(&p, 1, 0, 0, 1);
	opt(&p, 1232, 0, 0, ecs_fam, sizeof ecs_fam);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "ECS unknown family: FORMERR");
	static const uint8_t ecs_33[] = { 0, 8, 0, 9, 0, 1, 33, 0, 1, 2, 3, 4, 0 };
	query(&p, 1, 0, 0, 1);
	opt(&p, 1232, 0, 0, ecs_33, sizeof ecs_33);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "ECS /33 for IPv4: FORMERR");

	/* Cookies (RFC 7873) */
	static const uint8_t cookie8[] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	query(&p, 1, 0, 0, 1);
	opt(&p, 1232, 0, 0, cookie8, sizeof cookie8);
	is_int(parse(&q, &p), SK_QUERY_OK, "client cookie parses");
	ok(q.has_cookie && q.cookie_len == 8 && q.cookie[7] == 8, "cookie kept");
	static const uint8_t cookie9[] = { 0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	query(&p, 1, 0, 0, 1);
	opt(&p, 1232, 0, 0, cookie9, sizeof cookie9);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "9-byte cookie: FORMERR");

	/* Records in other sections are stepped over, compressed owners included. */
	query(&p, 1, 0, 1, 1);
	put(&p, "\xc0\x0c\0\6\0\1\0\0\0\0\0\2\1\2", 14);
	opt(&p, 1232, 0, 0, NULL, 0);
	is_int(parse(&q, &p), SK_QUERY_OK, "authority record skipped, OPT found after it");
	ok(q.edns, "EDNS seen");
	query(&p, 1, 0, 1, 0);
	put(&p, "\xc0\x0c\0\6\0\1\0\0\0\0\0\x09\1\2", 14);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "record RDLENGTH past the end: FORMERR");
	/* TSIG (RFC 8945): last in the additional section, class ANY, lengths consistent. */
	static const uint8_t tsig_rdata[] = {
		11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '2', '5', '6', 0,  /* algorithm */
		0, 0, 0x65, 0x43, 0x21, 0x00,      /* time signed */
		1, 0x2c,                           /* fudge 300 */
		0, 2, 0xaa, 0xbb,                  /* MAC of 2 bytes */
		0xab, 0xcd,                        /* original ID */
		0, 0, 0, 0 };                      /* error, other len */
	query(&p, 1, 0, 0, 1);
	put(&p, "\3key\0", 5);
	put16(&p, SK_TYPE_TSIG), put16(&p, SK_CLASS_ANY), put16(&p, 0), put16(&p, 0);
	put16(&p, sizeof tsig_rdata);
	put(&p, tsig_rdata, sizeof tsig_rdata);
	is_int(parse(&q, &p), SK_QUERY_OK, "TSIG parses");
	ok(q.has_tsig && q.tsig_key_len == 5 && !memcmp(q.tsig_key, "\3key", 5), "key name");
	is_int(q.tsig_orig_id, 0xabcd, "original ID");
	is_int(q.tsig_alg_len, 13, "algorithm name length");

	query(&p, 1, 0, 0, 1);
	put(&p, "\xc0\x0c", 2);                  /* owner compressed to the question name */
	put16(&p, SK_TYPE_TSIG), put16(&p, SK_CLASS_ANY), put16(&p, 0), put16(&p, 0);
	put16(&p, sizeof tsig_rdata);
	put(&p, tsig_rdata, sizeof tsig_rdata);
	is_int(parse(&q, &p), SK_QUERY_OK, "TSIG with a compressed owner parses");
	ok(q.tsig_key_len == 16 && !memcmp(q.tsig_key, "\3WwW\6AiTism\3net", 16), "owner decompressed");

	query(&p, 1, 0, 0, 2);
	put(&p, "\3key\0", 5);
	put16(&p, SK_TYPE_TSIG), put16(&p, SK_CLASS_ANY), put16(&p, 0), put16(&p, 0);
	put16(&p, sizeof tsig_rdata);
	put(&p, tsig_rdata, sizeof tsig_rdata);
	opt(&p, 1232, 0, 0, NULL, 0);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "TSIG not last: FORMERR");

	query(&p, 1, 0, 0, 1);
	put(&p, "\3key\0", 5);
	put16(&p, SK_TYPE_TSIG), put16(&p, SK_CLASS_IN), put16(&p, 0), put16(&p, 0);
	put16(&p, sizeof tsig_rdata);
	put(&p, tsig_rdata, sizeof tsig_rdata);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "TSIG in class IN: FORMERR");

	query(&p, 1, 0, 0, 1);
	put(&p, "\3key\0", 5);
	put16(&p, SK_TYPE_TSIG), put16(&p, SK_CLASS_ANY), put16(&p, 0), put16(&p, 0);
	put16(&p, sizeof tsig_rdata - 1);
	put(&p, tsig_rdata, sizeof tsig_rdata - 1);
	is_int(parse(&q, &p), SK_QUERY_FORMERR, "TSIG whose lengths do not add up: FORMERR");
	return tap_done();
}
