/* test_zone.c -- zone files to compiled RRsets: syntax, byte-exact results, errors with file:line */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "dns/name.h"
#include "dns/wire.h"
#include "capture.h"
#include "tap.h"
#include "util/err.h"

typedef struct zdef {
	const char *file;     /* under $SK_TESTDATA/db/ */
	const char *name;     /* the config's name:, or NULL */
} zdef_t;

static char errbuf[8192];  /* what the last build() wrote on stderr */

/* Build a db from zone files as a config at "test.conf" would list them (zone i on line 10+i),
 * with stderr captured into errbuf (and echoed as TAP comments). */
static int build(const zdef_t *defs, size_t n, sk_db_t **db)
{
	const char *dir = getenv("SK_TESTDATA") ? getenv("SK_TESTDATA") : "tests/unit/data";
	sk_zone_conf_t zc[8];
	sk_tag_t tags[2] = { { "case", "2024-CV-0042" }, { "family", "testbot" } };
	sk_conf_t conf = { .path = "test.conf", .zones = zc, .nzones = n };
	char paths[8][512];

	for (size_t i = 0; i < n; i++) {
		snprintf(paths[i], sizeof paths[i], "%s/db/%s", dir, defs[i].file);
		zc[i] = (sk_zone_conf_t){ .file = paths[i], .name = (char *)defs[i].name, .tags = tags,
			.ntags = 2, .line = 10 + (unsigned)i };
	}
	return build_captured(&conf, db, errbuf, sizeof errbuf);
}

/* The answer RRset for name/type, or NULL. */
static const sk_rrset_t *answer(const sk_db_t *db, const char *name, uint16_t type)
{
	static sk_plan_t plan;
	uint8_t wire[SK_NAME_MAX];
	int len = sk_name_from_text(name, wire, sizeof wire, true);
	if (len < 0)
		return NULL;
	sk_db_lookup(db, wire, (size_t)len, type, &plan);
	if (plan.n == 0 || plan.rr[0].section != SK_SECTION_ANSWER || plan.rr[0].rrset->type != type)
		return NULL;
	return plan.rr[0].rrset;
}

static bool same(const sk_rrset_t *rs, const uint8_t *want, size_t len)
{
	if (!rs || rs->len != len || memcmp(rs->data, want, len) != 0) {
		printf("#   got:");
		for (size_t i = 0; rs && i < rs->len; i++)
			printf(" %02x", rs->data[i]);
		printf("\n");
		return false;
	}
	return true;
}

/* Append a text name in wire form. */
static size_t put_name(uint8_t *p, const char *text)
{
	return (size_t)sk_name_from_text(text, p, SK_NAME_MAX, true);
}

static void test_syntax(void)
{
	sk_db_t *db;
	zdef_t def = { "parse.zone", NULL };
	int rc = build(&def, 1, &db);
	is_int(rc, 0, "parse.zone builds");
	if (rc != 0)
		return;
	is_int(sk_db_zone_count(db), 1, "one zone");

	/* The SOA, spread over lines with comments; names relative to $ORIGIN, lowercased; $TTL 2h. */
	uint8_t soa[128] = { 0, 6, 0, 1, 0, 0, 0x1c, 0x20 };
	size_t n = 10;
	n += put_name(soa + n, "ns1.parse.test");
	n += put_name(soa + n, "hostmaster.parse.test");
	const uint8_t nums[20] = { 0x78, 0xa4, 0xb4, 0xc5, 0, 0, 0x1c, 0x20, 0, 0, 0x0e, 0x10,
		0, 0x12, 0x75, 0, 0, 0, 0x02, 0x58 };
	memcpy(soa + n, nums, 20);
	n += 20;
	sk_put16(soa + 8, (uint16_t)(n - 10));
	ok(same(answer(db, "parse.test", SK_TYPE_SOA), soa, n), "SOA in wire format, byte for byte");

	const uint8_t a[] = { 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 192, 0, 2, 53 };
	ok(same(answer(db, "ns1.parse.test", SK_TYPE_A), a, sizeof a), "A with explicit TTL 300");
	const uint8_t aaaa[] = { 0, 28, 0, 1, 0, 0, 0x02, 0x58, 0, 16,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53 };
	ok(same(answer(db, "ns1.parse.test", SK_TYPE_AAAA), aaaa, sizeof aaaa),
		"blank owner continues ns1; class before TTL");
	ok(answer(db, "mixed.case.parse.test", SK_TYPE_A) != NULL, "owner names are lowercased");

	/* "a\.b": one label of three bytes; TXT strings with ';', '\"' and a continuation line. */
	const uint8_t txt[] = { 0, 16, 0, 1, 0, 0, 0x1c, 0x20, 0, 25,
		10, 's', 'e', 'm', 'i', ';', 'c', 'o', 'l', 'o', 'n',
		7, 'q', 'u', 'o', 't', 'e', '"', 'd',
		5, 'm', 'u', 'l', 't', 'i' };
	ok(same(answer(db, "a\\.b.parse.test", SK_TYPE_TXT), txt, sizeof txt), "escapes, quotes, parentheses");
	ok(answer(db, "b.parse.test", SK_TYPE_TXT) == NULL, "an escaped dot does not split the label");

	/* RRset TTLs: 300, 100 and an implicit one (the $TTL, 7200): the set gets the smallest. */
	const uint8_t ttl[] = { 0, 1, 0, 1, 0, 0, 0, 100, 0, 4, 192, 0, 2, 1,
		0, 1, 0, 1, 0, 0, 0, 100, 0, 4, 192, 0, 2, 2 };
	ok(same(answer(db, "ttl.parse.test", SK_TYPE_A), ttl, sizeof ttl),
		"differing TTLs: smallest for all, duplicate record dropped");
	ok(strstr(errbuf, "parse.zone:17: warning: TTLs differ") != NULL, "TTL difference warned at its line");
	ok(strstr(errbuf, "parse.zone:18: warning: duplicate record") != NULL, "duplicate warned at its line");

	uint8_t cname[64] = { 0, 5, 0, 1, 0, 0, 0x1c, 0x20, 0 };
	n = 10 + put_name(cname + 10, "sub.parse.test");
	cname[9] = (uint8_t)(n - 10);
	ok(same(answer(db, "www.sub.parse.test", SK_TYPE_CNAME), cname, n), "$ORIGIN change, '@' in RDATA");
	const sk_rrset_t *inc = answer(db, "host.other.sub.parse.test", SK_TYPE_A);
	ok(inc != NULL, "$INCLUDE with a relative origin");
	ok(inc && inc->ttl == 7200, "the included file starts from the includer's $TTL");
	ok(answer(db, "x.deeper.other.sub.parse.test", SK_TYPE_A) != NULL, "$ORIGIN inside the included file");
	uint8_t mx[64] = { 0, 15, 0, 1, 0, 0, 0x1c, 0x20, 0, 0, 0, 10 };
	n = 12 + put_name(mx + 12, "mail.parse.test");
	mx[9] = (uint8_t)(n - 10);
	ok(same(answer(db, "mx.sub.parse.test", SK_TYPE_MX), mx, n),
		"origin restored after $INCLUDE; RDATA names lowercased");

	const sk_tag_t *tags;
	size_t ntags;
	sk_plan_t plan;
	uint8_t q[SK_NAME_MAX];
	sk_db_lookup(db, q, (size_t)sk_name_from_text("ns1.parse.test", q, sizeof q, true), SK_TYPE_A, &plan);
	ok(plan.zone != NULL, "plan names the zone");
	if (plan.zone) {
		is_int(sk_zone_serial(plan.zone), 2024060101, "serial");
		tags = sk_zone_tags(plan.zone, &ntags);
		ok(ntags == 2 && strcmp(tags[0].key, "case") == 0 && strcmp(tags[1].value, "testbot") == 0,
			"tags copied in order");
		n = (size_t)put_name(q, "parse.test");
		ok(memcmp(sk_zone_apex(plan.zone), q, n) == 0, "apex");
	}
	sk_db_free(db);
}

/* A zone that must not build, and the diagnostic it must print. */
static void fails(const char *file, const char *name, int code, const char *msg, const char *what)
{
	sk_db_t *db;
	zdef_t def = { file, name };
	int rc = build(&def, 1, &db);
	is_int(rc, code, "%s: build fails", what);
	ok(db == NULL, "%s: no db", what);
	ok(strstr(errbuf, msg) != NULL, "%s: reports \"%s\"", what, msg);
	sk_db_free(db);
}

static void test_errors(void)
{
	fails("nosoa.zone", NULL, SK_EZONE, "nosoa.zone: no SOA record", "missing SOA");
	fails("cname-other.zone", NULL, SK_EZONE, "cname-other.zone:7: CNAME and other data at www.cname.test.",
		"CNAME and other data");
	fails("two-cnames.zone", NULL, SK_EZONE, "two-cnames.zone:7: more than one CNAME", "two CNAMEs");
	fails("include-error.zone", NULL, SK_EPARSE, "db/inc/bad.zone:5: ", "error in an included file");
	fails("class.zone", NULL, SK_EZONE, "class.zone:4: class CH: only IN", "class CH");
	fails("soa2.zone", NULL, SK_EZONE, "soa2.zone:6: SOA record of sub.soa2.test. is not at the zone apex soa2.test.", "SOA below the apex");
	ok(strstr(errbuf, "soa2.zone:7: more than one SOA") != NULL, "second SOA at the apex reported too");
	fails("loop.zone", NULL, SK_EPARSE, "nested more than", "$INCLUDE loop");
	fails("noorigin-bad.zone", NULL, SK_EZONE, "noorigin-bad.zone:1: the first record must be the SOA",
		"no origin and the first record is not the SOA");
	fails("absent.zone", NULL, -ENOENT, "test.conf:10: cannot read zone file", "missing zone file");
	fails("long-name.zone", NULL, SK_EPARSE, "long-name.zone:6: a name longer than 255 bytes",
		"an owner past 255 bytes with the origin");
	ok(strstr(errbuf, "long-name.zone:7: a name longer than 255 bytes") != NULL,
		"a CNAME target past 255 bytes reported");
	ok(strstr(errbuf, "long-name.zone:8: a name longer than 255 bytes") != NULL,
		"an MX exchange past 255 bytes reported");
	fails("bad-rdata.zone", NULL, SK_EPARSE, "bad-rdata.zone:7: NS record: RDATA does not hold the "
		"domain names its type has", "generic RDATA that is no name, for NS");
	/* ldns itself refuses these (its message), the check is for what it lets through */
	ok(strstr(errbuf, "bad-rdata.zone:8: CNAME record: ") != NULL, "a CNAME name without its root label");
	ok(strstr(errbuf, "bad-rdata.zone:9: MX record: ") != NULL, "an MX exchange without its root label");
	ok(strstr(errbuf, "bad-rdata.zone:10: NS record: ") != NULL, "an NS with a compression pointer");
	ok(strstr(errbuf, "bad-rdata.zone:6:") == NULL, "generic RDATA holding a whole name is accepted");
	fails("parse.zone", "other.test", SK_EZONE,
		"parse.zone:4: SOA record of parse.test. is not at the zone apex other.test.",
		"config name: differs from the file's SOA");
}

static void test_warnings(void)
{
	sk_db_t *db;
	zdef_t out = { "outside.zone", NULL };
	is_int(build(&out, 1, &db), 0, "records outside the zone: still builds");
	ok(strstr(errbuf, "outside.zone:6: warning: www.elsewhere.test. is outside the zone") != NULL,
		"outside record warned with file:line");
	ok(answer(db, "www.elsewhere.test", SK_TYPE_A) == NULL, "outside record skipped");
	sk_db_free(db);

	zdef_t named = { "named.zone", "Named.Test" };
	is_int(build(&named, 1, &db), 0, "origin from the config's name: (no final dot)");
	ok(answer(db, "www.named.test", SK_TYPE_A) != NULL, "relative names use it");
	ok(strstr(errbuf, "named.zone: warning: no NS records at the zone apex") != NULL, "no NS warned");
	sk_db_free(db);

	zdef_t noorigin = { "noorigin.zone", NULL };
	is_int(build(&noorigin, 1, &db), 0, "origin from the SOA owner");
	ok(answer(db, "ns.noorigin.test", SK_TYPE_A) != NULL, "relative names follow the SOA owner");
	const sk_rrset_t *mail = answer(db, "mail.noorigin.test", SK_TYPE_A);
	ok(mail && mail->ttl == 120, "no $TTL: a record without TTL takes the last explicit one");
	sk_db_free(db);

	zdef_t two[2] = { { "named.zone", "named.test." }, { "noorigin.zone", NULL } };
	zdef_t dup[3] = { { "named.zone", "named.test." }, { "noorigin.zone", NULL }, { "named.zone", "named.test" } };
	is_int(build(two, 2, &db), 0, "two zones");
	is_int(db ? sk_db_zone_count(db) : 0, 2, "two zones counted");
	sk_db_free(db);
	ok(build(dup, 3, &db) == SK_EZONE && db == NULL, "the same apex twice fails");
	ok(strstr(errbuf, "test.conf:12: zone named.test. is already defined on line 10") != NULL,
		"duplicate apex reported at its config line");
}

int main(void)
{
	test_syntax();
	test_errors();
	test_warnings();
	return tap_done();
}
