/* test_xfr.c -- HMAC, TSIG (against requests dnspython signed), access lists, the transfer stream
 * and the catalog serial */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "db/db_internal.h"   /* sk_db_name_hash: the catalog ids */
#include "db/snapshot.h"
#include "dns/name.h"
#include "dns/respond.h"
#include "dns/tsig.h"
#include "dns/xfr.h"
#include "tap.h"
#include "util/log.h"

#define BAIL_OUT(msg) do { printf("Bail out! %s\n", msg); exit(1); } while (0)
#define NOW 1700000000u    /* when the seeds in tests/fuzz/corpus/respond/ were signed */

static sk_tsig_key_t keys[1] = { { .name = "fuzz-key.", .wire = "\010fuzz-key", .wire_len = 10,
	.alg = SK_TSIG_HMAC_SHA256, .secret = "fuzz-secret-0001", .secret_len = 16 } };
static sk_prefix_t net24 = { .family = AF_INET, .len = 24, .addr = { 192, 0, 2, 0 } };
static sk_xfr_acl_t allow[2] = { { .addrs = &net24, .naddrs = 1, .key = -1 }, { .key = 0 } };
static sk_zone_conf_t zones[1];
static sk_conf_t conf;
static sk_snapshot_t snap;
static uint8_t out[65535];

static void hex(const uint8_t *b, size_t n, char *s)
{
	for (size_t i = 0; i < n; i++)
		sprintf(s + 2 * i, "%02x", b[i]);
}

/* RFC 4231 test cases 2 (a short key) and 6 (a key longer than the block). */
static void test_hmac(void)
{
	static const char data[] = "what do ya want for nothing?";
	uint8_t mac[SK_HMAC_MAX], big[131];
	char text[2 * SK_HMAC_MAX + 1];
	sk_hmac_t h;

	sk_hmac_init(&h, SK_HMAC_SHA256, (const uint8_t *)"Jefe", 4);
	sk_hmac_update(&h, data, 10);
	sk_hmac_update(&h, data + 10, sizeof data - 11);     /* fed in two pieces */
	sk_hmac_final(&h, mac);
	hex(mac, 32, text);
	ok(!strcmp(text, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
		"HMAC-SHA256, RFC 4231 case 2 (%s)", text);
	sk_hmac_init(&h, SK_HMAC_SHA512, (const uint8_t *)"Jefe", 4);
	sk_hmac_update(&h, data, sizeof data - 1);
	sk_hmac_final(&h, mac);
	hex(mac, 64, text);
	ok(!strcmp(text, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a"
		"6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"), "HMAC-SHA512, RFC 4231 case 2");
	memset(big, 0xaa, sizeof big);
	static const char data6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	sk_hmac_init(&h, SK_HMAC_SHA256, big, sizeof big);
	sk_hmac_update(&h, data6, sizeof data6 - 1);
	sk_hmac_final(&h, mac);
	hex(mac, 32, text);
	ok(!strcmp(text, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
		"HMAC-SHA256 with a 131-byte key, RFC 4231 case 6");
	is_int(sk_hmac_len(SK_HMAC_SHA256), 32, "SHA-256 MAC length");
	is_int(sk_hmac_len(SK_HMAC_SHA512), 64, "SHA-512 MAC length");
}

/* A seed message (dnspython made it, signed with fuzz-key at NOW). */
static size_t seed(const char *name, uint8_t *buf, size_t cap)
{
	char path[256];
	snprintf(path, sizeof path, "tests/fuzz/corpus/respond/%s", name);
	FILE *f = fopen(path, "rb");
	if (!f) {
		printf("# cannot open %s\n", path);
		return 0;
	}
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static void test_verify(void)
{
	uint8_t msg[1024];
	sk_query_t q;
	sk_tsig_ctx_t ctx;
	size_t n = seed("q16", msg, sizeof msg);

	ok(n && sk_query_parse(&q, msg, n) == SK_QUERY_OK && q.has_tsig, "q16: a query with a TSIG");
	is_int(sk_tsig_verify(&q, keys, 1, NOW, &ctx), SK_TSIG_VALID, "dnspython's signature verifies");
	ok(ctx.key == &keys[0] && ctx.error == 0 && ctx.mac_len == 32, "the context keeps the key and request MAC");
	is_int(sk_tsig_verify(&q, keys, 1, NOW + 299, &ctx), SK_TSIG_VALID, "299 s later: inside the fudge");
	is_int(sk_tsig_verify(&q, keys, 1, NOW + 301, &ctx), SK_TSIG_ERROR, "301 s later: outside");
	ok(ctx.error == SK_TSIG_BADTIME && ctx.key, "BADTIME, and its reply is signed");
	is_int(sk_tsig_verify(&q, keys, 0, NOW, &ctx), SK_TSIG_ERROR, "no keys configured");
	ok(ctx.error == SK_TSIG_BADKEY && !ctx.key, "BADKEY, unsigned");
	sk_tsig_key_t other = keys[0];
	other.alg = SK_TSIG_HMAC_SHA512;
	sk_tsig_verify(&q, &other, 1, NOW, &ctx);
	ok(ctx.error == SK_TSIG_BADKEY, "the right name with another algorithm is BADKEY");
	other = keys[0];
	other.secret[0] ^= 1;
	sk_tsig_verify(&q, &other, 1, NOW, &ctx);
	ok(ctx.error == SK_TSIG_BADSIG && !ctx.key, "another secret: BADSIG, unsigned");
	msg[SK_HDR_LEN + 3] ^= 0x20;    /* a letter of the question changes case */
	ok(sk_query_parse(&q, msg, n) == SK_QUERY_OK, "a byte changed");
	sk_tsig_verify(&q, keys, 1, NOW, &ctx);
	ok(ctx.error == SK_TSIG_BADSIG, "a changed message: BADSIG");

	n = seed("q18", msg, sizeof msg);
	ok(n && sk_query_parse(&q, msg, n) == SK_QUERY_OK, "q18 parses");
	sk_tsig_verify(&q, keys, 1, NOW, &ctx);
	ok(ctx.error == SK_TSIG_BADSIG, "q18 (signed with another secret): BADSIG");
	n = seed("q20", msg, sizeof msg);
	ok(n && sk_query_parse(&q, msg, n) == SK_QUERY_OK, "q20 parses");
	sk_tsig_verify(&q, keys, 1, NOW, &ctx);
	ok(ctx.error == SK_TSIG_BADTIME, "q20 (signed an hour before): BADTIME");
	n = seed("q17", msg, sizeof msg);
	ok(n && sk_query_parse(&q, msg, n) == SK_QUERY_OK && q.has_ixfr_serial && q.ixfr_serial == 0,
		"q17: IXFR with the client's serial 0 in authority");
}

/* A request we sign ourselves verifies with the same code, and an altered copy does not. */
static void test_sign_roundtrip(void)
{
	uint8_t m[512] = { 0x12, 0x34, 0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	static const uint8_t question[] = "\4fuzz\7example\0\0\6\0\1";
	memcpy(m + SK_HDR_LEN, question, sizeof question - 1);
	size_t len = SK_HDR_LEN + sizeof question - 1;
	sk_tsig_ctx_t ctx, check;
	sk_query_t q;
	sk_tsig_start(&ctx, &keys[0], 0x1234);
	size_t signed_len = sk_tsig_sign(&ctx, m, len, sizeof m, NOW);
	ok(signed_len == len + sk_tsig_size(&ctx) && sk_hdr_arcount(m) == 1, "signed: the TSIG appended, ARCOUNT 1");
	ok(sk_query_parse(&q, m, signed_len) == SK_QUERY_OK && q.has_tsig, "our signed message parses");
	is_int(sk_tsig_verify(&q, keys, 1, NOW, &check), SK_TSIG_VALID, "and verifies");
	ok(sk_tsig_sign(&ctx, m, len, len + 10, NOW) == 0, "no room: not signed");
}

static void test_allowed(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sockaddr_in6 b = { .sin6_family = AF_INET6 };
	sk_xfr_conf_t x = { .enabled = true, .keys = keys, .nkeys = 1, .allow = allow, .nallow = 2 };
	memcpy(&a.sin_addr, "\xc0\x00\x02\x63", 4);
	ok(sk_xfr_allowed(&x, (struct sockaddr *)&a, NULL), "192.0.2.99 unsigned: in the /24");
	memcpy(&a.sin_addr, "\xc0\x00\x03\x01", 4);
	ok(!sk_xfr_allowed(&x, (struct sockaddr *)&a, NULL), "192.0.3.1 unsigned: refused");
	ok(sk_xfr_allowed(&x, (struct sockaddr *)&a, &keys[0]), "192.0.3.1 with the key: allowed");
	memcpy(b.sin6_addr.s6_addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff\xc0\x00\x02\x07", 16);
	ok(sk_xfr_allowed(&x, (struct sockaddr *)&b, NULL), "::ffff:192.0.2.7 counts as IPv4");
	ok(!sk_xfr_allowed(&x, NULL, NULL), "no address: refused unsigned");
	x.nallow = 0;
	ok(!sk_xfr_allowed(&x, (struct sockaddr *)&a, &keys[0]), "no allow entries: nobody");
}

static void setup(void)
{
	zones[0] = (sk_zone_conf_t){ .file = "tests/fuzz/fuzz.zone", .line = 1 };
	conf = (sk_conf_t){ .path = "test.yml", .identity = "ns", .version = "v", .edns_size = 1232,
		.zones = zones, .nzones = 1,
		.xfr = { .enabled = true, .keys = keys, .nkeys = 1, .allow = allow, .nallow = 2,
			.seized = true, .catalog = true, .catalog_name = "catalog.fuzz.invalid.", .catalog_zones = true } };
	sk_db_t *db = NULL;
	if (sk_db_build(&conf, &db) != 0)
		BAIL_OUT("tests/fuzz/fuzz.zone does not load");
	snap = (sk_snapshot_t){ .conf = &conf, .db = db, .generation = 1 };
	atomic_init(&snap.refs, 1);
}

/* Every message of the transfer the seed asks for: records, messages, SOA at both ends. */
static unsigned run_transfer(const char *name, unsigned *messages, unsigned *soas, bool *signed_all,
	uint16_t *first_type, uint16_t *last_type)
{
	uint8_t msg[1024];
	size_t n = seed(name, msg, sizeof msg);
	struct sockaddr_in from = { .sin_family = AF_INET };
	memcpy(&from.sin_addr, "\xc0\x00\x02\x01", 4);
	sk_client_t client = { .addr = (struct sockaddr *)&from, .now = NOW };
	sk_resp_info_t info;
	sk_xfr_t *x;
	unsigned records = 0;
	*messages = *soas = 0;
	*signed_all = true;
	if (sk_respond(&snap, &client, msg, n, SK_TRANSPORT_TCP, out, sizeof out, &info) != 0 || !info.xfr)
		return 0;
	if (sk_xfr_new(&snap, &info, (struct sockaddr *)&from, &x) != 0)
		return 0;
	while ((n = sk_xfr_next(x, out, sizeof out, NOW)) != 0) {
		(*messages)++;
		records += sk_hdr_ancount(out);
		*signed_all &= sk_hdr_arcount(out) == 1;
		/* Records after the question: the first record's type follows its owner (the apex:
		 * a pointer to the question), the last SOA can be found the same way. */
		size_t pos = SK_HDR_LEN + sk_name_len(out + SK_HDR_LEN) + 4;
		if (*messages == 1)
			*first_type = sk_get16(out + pos + 2);
		for (size_t i = pos; i + 4 < n; i++)
			if (out[i] == 0xc0 && out[i + 1] == SK_HDR_LEN && sk_get16(out + i + 2) == SK_TYPE_SOA &&
			    sk_get16(out + i + 4) == SK_CLASS_IN) {
				(*soas)++;
				*last_type = SK_TYPE_SOA;
			}
	}
	sk_xfr_free(x);
	return records;
}

static size_t zone_records(const char *apex, size_t len)
{
	sk_db_walk_t w;
	const uint8_t *owner;
	const sk_rrset_t *rs;
	size_t n = 0;
	if (sk_db_walk_init(snap.db, (const uint8_t *)apex, len, true, &w) == SK_WALK_NONE)
		return 0;
	while ((rs = sk_db_walk_next(&w, &owner)))
		n += rs->count;
	return n;
}

static void test_stream(void)
{
	unsigned messages, soas;
	bool signed_all;
	uint16_t first = 0, last = 0;
	size_t want = zone_records("\4fuzz\7example", 14);
	ok(want > 10, "the walk finds the fuzz zone's records (%zu)", want);
	unsigned got = run_transfer("q15", &messages, &soas, &signed_all, &first, &last);
	is_int(got, want + 2, "q15 (unsigned, from the allowed /24): every record and the SOA twice");
	ok(first == SK_TYPE_SOA && soas == 2, "the SOA first and last, nowhere else");
	ok(!signed_all, "unsigned: no TSIG");
	got = run_transfer("q16", &messages, &soas, &signed_all, &first, &last);
	is_int(got, want + 2, "q16 (signed): the same records");
	ok(signed_all && messages >= 1, "every message carries a TSIG (%u messages)", messages);
	got = run_transfer("q17", &messages, &soas, &signed_all, &first, &last);
	is_int(got, want + 2, "q17: an IXFR from serial 0 is answered in full");
	got = run_transfer("q21", &messages, &soas, &signed_all, &first, &last);
	is_int(got, 5, "q21: the catalog (SOA, NS, version TXT, one member PTR, SOA)");
	ok(snap.refs == 1, "every hold was released");
}

/* The catalog's member PTRs and its zones. name, as a query for them finds them. */
static void test_catalog_lookup(void)
{
	static const uint8_t zones_name[] = "\5zones\7catalog\4fuzz\7invalid";
	uint8_t q[SK_NAME_MAX];
	char id[17];
	sk_plan_t plan;
	snprintf(id, sizeof id, "%016llx", (unsigned long long)sk_db_name_hash((const uint8_t *)"\4fuzz\7example", 14));
	q[0] = 16;
	memcpy(q + 1, id, 16);
	memcpy(q + 17, zones_name, sizeof zones_name);
	size_t len = 17 + sizeof zones_name;
	sk_db_lookup(snap.db, q, len, SK_TYPE_PTR, &plan);
	ok(plan.rcode == SK_RCODE_NOERROR && plan.aa && plan.n == 1 && plan.rr[0].rrset == &plan.synth,
		"<id of fuzz.example>.zones.<catalog> PTR: one made RRset");
	ok(plan.synth.len == 10 + 14 && !memcmp(plan.synth.data + 10, "\4fuzz\7example", 14),
		"its target is fuzz.example.");
	sk_db_lookup(snap.db, q, len, SK_TYPE_A, &plan);
	ok(plan.rcode == SK_RCODE_NOERROR && plan.n == 1 && plan.rr[0].section == SK_SECTION_AUTHORITY,
		"the same name, type A: NODATA");
	q[1] = q[1] == '0' ? '1' : '0';
	sk_db_lookup(snap.db, q, len, SK_TYPE_PTR, &plan);
	ok(plan.rcode == SK_RCODE_NXDOMAIN, "an id no member has: NXDOMAIN");
	sk_db_lookup(snap.db, zones_name, sizeof zones_name, SK_TYPE_PTR, &plan);
	ok(plan.rcode == SK_RCODE_NOERROR && plan.n == 1 && plan.rr[0].section == SK_SECTION_AUTHORITY,
		"zones.<catalog>: an empty non-terminal, NODATA");
}

static void test_catalog_serial(void)
{
	sk_db_t *a = NULL, *b = NULL, *c = NULL;
	ok(sk_db_build(&conf, &a) == 0 && sk_db_build(&conf, &b) == 0, "two dbs of the same config");
	is_int(sk_db_catalog_serial(a, NULL, 1000), 1000, "first load: the time");
	is_int(sk_db_catalog_serial(b, a, 2000), 1000, "same members: the serial stays");
	conf.xfr.catalog_zones = false;
	ok(sk_db_build(&conf, &c) == 0, "a db whose catalog lists no zone");
	conf.xfr.catalog_zones = true;
	is_int(sk_db_catalog_serial(c, b, 2000), 2000, "other members: the time");
	is_int(sk_db_catalog_serial(c, b, 500), 1001, "other members, a clock behind: the old serial + 1");
	is_int(sk_db_catalog_serial(c, b, 0x80000000u + 1000), 1001,
		"a time more than 2^31 ahead is not newer (RFC 1982): + 1");
	is_int(sk_zone_serial(sk_db_catalog(c)), 1001, "written into the catalog's SOA");
	is_int(sk_db_catalog_members(c), 0, "members: none");
	is_int(sk_db_catalog_members(a), 1, "members: the zone");
	sk_db_free(a);
	sk_db_free(b);
	sk_db_free(c);
}

int main(void)
{
	sk_log_set_level(SK_LOG_WARN);
	if (sk_crypto_init() != 0)
		BAIL_OUT("crypto");
	test_hmac();
	test_verify();
	test_sign_roundtrip();
	test_allowed();
	setup();
	test_stream();
	test_catalog_lookup();
	test_catalog_serial();
	sk_db_free(snap.db);
	return tap_done();
}
