/* test_respond.c -- whole replies from sk_respond(), decoded independently with ldns */
#include <ldns/ldns.h>
#include <stdlib.h>

#include "db/snapshot.h"
#include "dns/respond.h"
#include "tap.h"

static sk_snapshot_t snap;
static sk_conf_t conf;
static uint8_t out[65535];
static sk_resp_info_t info;
static const sk_client_t client = { .addr = NULL, .now = 1700000000 };

/* Build a query with ldns (an independent encoder), answer it, decode the reply with ldns. */
static ldns_pkt *ask(const char *name, ldns_rr_type type, ldns_rr_class cls, int transport,
	int edns_size, bool do_bit, size_t *len)
{
	ldns_pkt *q = NULL;
	ldns_pkt_query_new_frm_str(&q, name, type, cls, LDNS_RD);
	ldns_pkt_set_id(q, 0x4242);
	if (edns_size) {
		ldns_pkt_set_edns_udp_size(q, (uint16_t)edns_size);
		ldns_pkt_set_edns_do(q, do_bit);
		ldns_pkt_set_edns_data(q, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 0, ""));
	}
	uint8_t *wire = NULL;
	size_t wlen = 0;
	ldns_pkt2wire(&wire, q, &wlen);
	ldns_pkt_free(q);
	*len = sk_respond(&snap, &client, wire, wlen, transport, out, sizeof out, &info);
	free(wire);
	ldns_pkt *r = NULL;
	if (*len && ldns_wire2pkt(&r, out, *len) != LDNS_STATUS_OK)
		return NULL;
	return r;
}

/* Answer raw bytes. */
static size_t raw(const uint8_t *m, size_t n, int transport)
{
	return sk_respond(&snap, &client, m, n, transport, out, sizeof out, &info);
}

static void test_positive(void)
{
	size_t len;
	ldns_pkt *r = ask("WwW.ExAmPlE.oRg", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, SK_TRANSPORT_UDP, 0, false, &len);
	ok(r != NULL, "reply decodes");
	is_int(ldns_pkt_id(r), 0x4242, "id echoed");
	ok(ldns_pkt_qr(r) && ldns_pkt_aa(r) && ldns_pkt_rd(r) && !ldns_pkt_ra(r), "QR AA RD set, RA clear");
	is_int(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR, "NOERROR");
	is_int(ldns_pkt_ancount(r), 1, "one answer (wildcard)");
	ok(memcmp(out + 12, "\3WwW\7ExAmPlE\3oRg", 17) == 0, "question keeps the client's case");
	ok(sk_get16(out + 12 + 17 + 4) == 0xc00c, "answer owner is a pointer to the question");
	char *s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(r), 0), 0));
	ok(strcmp(s, "192.0.2.2") == 0, "wildcard address: %s", s);
	free(s);
	ok(info.zone != NULL, "info names the zone");
	is_int(info.wild_off, 4, "info: from the wildcard, its encloser example.org at offset 4");
	ok(ldns_pkt_edns(r) == false && !info.opt, "no OPT without EDNS in the query (info.opt false)");
	ldns_pkt_free(r);

	r = ask("example.org", LDNS_RR_TYPE_MX, LDNS_RR_CLASS_IN, SK_TRANSPORT_UDP, 0, false, &len);
	is_int(ldns_pkt_ancount(r), 1, "MX answer");
	is_int(ldns_pkt_arcount(r), 1, "MX target's address in additional");
	ldns_pkt_free(r);
}

static void test_negative(void)
{
	size_t len;
	ldns_pkt *r = ask("nope.example.net", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, SK_TRANSPORT_UDP, 0, false, &len);
	is_int(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED, "outside our zones: REFUSED");
	ok(!ldns_pkt_aa(r), "REFUSED is not authoritative");
	is_int(ldns_pkt_ancount(r) + ldns_pkt_nscount(r), 0, "REFUSED carries no records");
	ldns_pkt_free(r);

	r = ask("mail.example.org", LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, SK_TRANSPORT_UDP, 0, false, &len);
	is_int(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR, "NODATA is NOERROR");
	is_int(ldns_pkt_ancount(r), 0, "NODATA: empty answer");
	is_int(ldns_pkt_nscount(r), 1, "NODATA: SOA in authority");
	ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_authority(r), 0);
	is_int(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA, "authority is the SOA");
	is_int(ldns_rr_ttl(soa), 300, "negative SOA TTL = min(3600, MINIMUM 300)");
	ldns_pkt_free(r);
}

static void test_edns(void)
{
	size_t len;
	ldns_pkt *r = ask("www.example.org", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, SK_TRANSPORT_UDP, 4096, true, &len);
	ok(ldns_pkt_edns(r) && info.opt, "OPT echoed (info.opt true)");
	is_int(ldns_pkt_edns_udp_size(r), 1232, "our payload size, not the client's");
	ok(ldns_pkt_edns_do(r), "DO copied");
	ldns_pkt_free(r);

	/* BADVERS: version 1. Built by hand: id 1, QD 1, AR 1, question www.example.org A, OPT v1. */
	uint8_t m[64] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1 };
	size_t n = 12;
	memcpy(m + n, "\3www\7example\3org\0\0\1\0\1", 21);
	n += 21;
	memcpy(m + n, "\0\0\x29\x10\0\0\1\0\0\0\0", 11);
	n += 11;
	len = raw(m, n, SK_TRANSPORT_UDP);
	ok(len > 0, "BADVERS answered");
	is_int(out[3] & 0x0f, 0, "header rcode holds the low bits of 16");
	is_int(info.rcode, SK_RCODE_BADVERS, "info rcode BADVERS");
	ok(len >= 11 && out[len - 11 + 5 + 0] == 1, "OPT extended rcode 1 (16 >> 4)");
	is_int(out[len - 11 + 6], 0, "OPT version 0");

	/* NSID and ECS */
	uint8_t e[96] = { 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1 };
	n = 12;
	memcpy(e + n, "\3www\7example\3org\0\0\1\0\1", 21);
	n += 21;
	static const uint8_t opt[] = { 0, 0, 0x29, 0x04, 0xd0, 0, 0, 0, 0, 0, 15,
		0, 3, 0, 0,                                /* NSID */
		0, 8, 0, 7, 0, 1, 24, 0, 89, 160, 20 };     /* ECS 89.160.20.0/24 */
	memcpy(e + n, opt, sizeof opt);
	n += sizeof opt;
	len = raw(e, n, SK_TRANSPORT_UDP);
	ldns_pkt *p = NULL;
	ok(ldns_wire2pkt(&p, out, len) == LDNS_STATUS_OK, "NSID/ECS reply decodes");
	ldns_rdf *data = ldns_pkt_edns_data(p);
	ok(data != NULL, "OPT has options");
	const uint8_t *d = data ? ldns_rdf_data(data) : (const uint8_t *)"";
	size_t dl = data ? ldns_rdf_size(data) : 0;
	bool nsid_ok = false, ecs_ok = false;
	for (size_t i = 0; i + 4 <= dl;) {
		uint16_t code = sk_get16(d + i), ol = sk_get16(d + i + 2);
		if (code == 3 && ol == strlen(conf.identity) && !memcmp(d + i + 4, conf.identity, ol))
			nsid_ok = true;
		if (code == 8 && ol == 7 && !memcmp(d + i + 4, "\0\1\x18\0\x59\xa0\x14", 7))
			ecs_ok = true;
		i += 4u + ol;
	}
	ok(nsid_ok, "NSID carries the identity");
	ok(ecs_ok, "ECS echoed: same family, source and address, scope 0");
	ldns_pkt_free(p);
}

static void test_truncation(void)
{
	size_t len;
	ldns_pkt *r = ask("big.example.org", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, SK_TRANSPORT_UDP, 0, false, &len);
	ok(len <= 512, "UDP without EDNS stays within 512 (%zu)", len);
	ok(ldns_pkt_tc(r), "TC set when the answer does not fit");
	ldns_pkt_free(r);

	r = ask("big.example.org", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, SK_TRANSPORT_UDP, 1232, false, &len);
	ok(!ldns_pkt_tc(r), "fits in 1232 with EDNS");
	is_int(ldns_pkt_ancount(r), 6, "all six TXT records");
	ldns_pkt_free(r);

	r = ask("big.example.org", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, SK_TRANSPORT_TCP, 0, false, &len);
	ok(!ldns_pkt_tc(r) && ldns_pkt_ancount(r) == 6, "TCP is complete without EDNS");
	ldns_pkt_free(r);
}

/* sk_reply_cut: what a reply becomes when the interface cannot carry it (net/udp.c, EMSGSIZE). */
static void test_cut(void)
{
	size_t len;
	ldns_pkt *r = ask("big.example.org", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, SK_TRANSPORT_UDP, 1232, true, &len);
	ldns_pkt_free(r);
	uint8_t full[65535];
	memcpy(full, out, len);
	size_t cut = sk_reply_cut(out, len);
	ok(cut < len && cut == 12 + 17 + 4 + 11, "cut to header, question and a bare OPT (%zu of %zu)", cut, len);
	r = NULL;
	ok(ldns_wire2pkt(&r, out, cut) == LDNS_STATUS_OK, "the cut reply decodes");
	if (r) {
		ok(ldns_pkt_tc(r) && ldns_pkt_aa(r) && ldns_pkt_qr(r), "TC set, AA and QR kept");
		is_int(ldns_pkt_id(r), 0x4242, "id kept");
		ok(ldns_pkt_qdcount(r) == 1 && !ldns_pkt_ancount(r) && !ldns_pkt_nscount(r),
			"the question alone");
		ok(ldns_pkt_edns(r) && ldns_pkt_edns_udp_size(r) == 1232 && ldns_pkt_edns_do(r),
			"EDNS kept: our payload size and DO");
		is_int(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR, "rcode kept");
		ldns_pkt_free(r);
	}
	ok(memcmp(out, full, 12 + 17 + 4 - 0) != 0 && memcmp(out + 12, full + 12, 17 + 4) == 0,
		"header changed (TC, counts), question bytes as they were");
	is_int(sk_reply_cut(out, cut), cut, "a cut reply has nothing more to cut");

	/* Without EDNS: no OPT to keep. */
	r = ask("big.example.org", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, SK_TRANSPORT_TCP, 0, false, &len);
	ldns_pkt_free(r);
	cut = sk_reply_cut(out, len);
	ok(cut == 12 + 17 + 4 && sk_hdr_arcount(out) == 0 && (sk_hdr_flags(out) & SK_FLAG_TC),
		"no EDNS: header and question, TC (%zu)", cut);

	/* NODATA: its SOA goes. REFUSED: nothing to cut, its rcode stays. */
	r = ask("mail.example.org.", LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, SK_TRANSPORT_UDP, 1232, false, &len);
	ldns_pkt_free(r);
	cut = sk_reply_cut(out, len);
	ok(cut == 12 + 18 + 4 + 11 && sk_hdr_nscount(out) == 0 && sk_hdr_arcount(out) == 1,
		"NODATA: the SOA gone, the OPT kept (%zu of %zu)", cut, len);
	r = ask("nope.example.net.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, SK_TRANSPORT_UDP, 1232, false, &len);
	ldns_pkt_free(r);
	ok(sk_reply_cut(out, len) == len && sk_hdr_rcode(out) == LDNS_RCODE_REFUSED &&
		!(sk_hdr_flags(out) & SK_FLAG_TC), "REFUSED with a bare OPT: nothing to cut, left alone");

	/* Bytes that are not a reply: never read past len, never grow. */
	uint8_t junk[64];
	for (unsigned seed = 1; seed < 2000; seed++) {
		srand(seed);
		size_t n = (size_t)rand() % sizeof junk;
		for (size_t i = 0; i < n; i++)
			junk[i] = (uint8_t)rand();
		if (n > 5)
			junk[4] = 0, junk[5] = 1;
		if (sk_reply_cut(junk, n) > n) {
			ok(false, "junk %u grew", seed);
			return;
		}
	}
	ok(true, "2,000 random byte strings: never longer than given (ASan checks the reads)");
	is_int(sk_reply_cut(junk, 5), 5, "shorter than a header: left alone");
}

static void test_misc(void)
{
	size_t len;
	ldns_pkt *r = ask("id.server", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_CH, SK_TRANSPORT_UDP, 0, false, &len);
	is_int(ldns_pkt_ancount(r), 1, "CH id.server answered");
	ok(!ldns_pkt_aa(r), "AA clear on CH answers");
	char *s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(r), 0), 0));
	ok(strcmp(s, "\"ns9.test.example\"") == 0, "identity: %s", s);
	free(s);
	ldns_pkt_free(r);

	r = ask("version.bind", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_CH, SK_TRANSPORT_UDP, 0, false, &len);
	s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(r), 0), 0));
	ok(strcmp(s, "\"sinkholed test\"") == 0, "version.bind: %s", s);
	free(s);
	ldns_pkt_free(r);

	char *version = conf.version;
	conf.version = NULL;
	r = ask("version.bind", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_CH, SK_TRANSPORT_UDP, 0, false, &len);
	is_int(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED, "hidden version: REFUSED");
	ldns_pkt_free(r);
	conf.version = version;

	r = ask("example.org", LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN, SK_TRANSPORT_UDP, 0, false, &len);
	is_int(ldns_pkt_get_rcode(r), LDNS_RCODE_NOTIMPL, "AXFR over UDP: NOTIMP");
	ldns_pkt_free(r);
	r = ask("example.org", LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN, SK_TRANSPORT_TCP, 0, false, &len);
	is_int(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED, "AXFR over TCP: REFUSED");
	ldns_pkt_free(r);

	uint8_t m[40] = { 0, 9, 4 << 3, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	memcpy(m + 12, "\7example\3org\0\0\6\0\1", 17);
	len = raw(m, 29, SK_TRANSPORT_UDP);
	is_int(info.rcode, SK_RCODE_NOTAUTH, "NOTIFY: NOTAUTH");
	is_int(sk_hdr_opcode(out), SK_OPCODE_NOTIFY, "opcode echoed");

	m[2] = 0, m[5] = 2;
	len = raw(m, 29, SK_TRANSPORT_UDP);
	is_int(info.rcode, SK_RCODE_FORMERR, "QDCOUNT 2: FORMERR");
	is_int(sk_hdr_qdcount(out), 0, "FORMERR echoes no question");
	is_int(sk_hdr_id(out), 9, "FORMERR keeps the id");

	m[5] = 1, m[2] = 0x80;
	is_int(raw(m, 29, SK_TRANSPORT_UDP), 0, "a response is never answered");
	is_int(raw(m, 11, SK_TRANSPORT_UDP), 0, "a stub shorter than a header is dropped");
	/* A TSIG-signed query with a key we do not have: NOTAUTH, unsigned TSIG with BADKEY. */
	uint8_t t[128] = { 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1 };
	size_t tn = 12;
	memcpy(t + tn, "\7example\3org\0\0\1\0\1", 17);
	tn += 17;
	static const uint8_t tsig[] = { 3, 'k', 'e', 'y', 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 29,
		11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '2', '5', '6', 0,
		0, 0, 0x65, 0x43, 0x21, 0x00, 1, 0x2c, 0, 0, 0x12, 0x34, 0, 0, 0, 0 };
	memcpy(t + tn, tsig, sizeof tsig);
	tn += sizeof tsig;
	len = raw(t, tn, SK_TRANSPORT_UDP);
	ldns_pkt *tp = NULL;
	ok(len && ldns_wire2pkt(&tp, out, len) == LDNS_STATUS_OK, "BADKEY reply decodes");
	is_int(info.rcode, SK_RCODE_NOTAUTH, "unknown TSIG key: NOTAUTH");
	ok(tp && !ldns_pkt_aa(tp), "AA clear");
	ldns_rr *trr = tp ? ldns_pkt_tsig(tp) : NULL;
	ok(trr != NULL, "reply carries a TSIG record");
	if (trr) {
		ldns_rdf *err = ldns_rr_rdf(trr, 5);
		ok(err && ldns_rdf2native_int16(err) == 17, "TSIG error BADKEY (17)");
		ok(ldns_rdf_size(ldns_rr_rdf(trr, 3)) == 2 && ldns_rdf2native_int16(ldns_rr_rdf(trr, 3)) == 0,
			"no MAC (unsigned)");
	}
	ldns_pkt_free(tp);
}


int main(void)
{
	const char *dir = getenv("SK_TESTDATA") ? getenv("SK_TESTDATA") : "tests/unit/data";
	char path[512];
	snprintf(path, sizeof path, "%s/respond/example.zone", dir);
	sk_zone_conf_t zone = { .file = path, .name = NULL, .line = 1 };
	conf = (sk_conf_t){ .path = "test.yml", .identity = "ns9.test.example", .version = "sinkholed test",
		.edns_size = 1232, .zones = &zone, .nzones = 1 };
	sk_db_t *db = NULL;
	int rc = sk_db_build(&conf, &db);
	is_int(rc, 0, "test zone compiles");
	if (rc)
		return tap_done();
	snap = (sk_snapshot_t){ .conf = &conf, .db = db, .generation = 1 };

	test_positive();
	test_negative();
	test_edns();
	test_truncation();
	test_cut();
	test_misc();
	sk_db_free(db);
	return tap_done();
}
