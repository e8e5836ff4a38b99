/* test_lookup.c -- sk_db_lookup(): answers, NODATA, NXDOMAIN, wildcards, CNAMEs, referrals, limits */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "dns/name.h"
#include "dns/wire.h"
#include "tap.h"

#define TYPE_TXT SK_TYPE_TXT

static sk_db_t *db;
static sk_plan_t P;              /* the plan of the last q() */
static uint8_t qname[SK_NAME_MAX];
static size_t qlen;

static int load(void)
{
	const char *dir = getenv("SK_TESTDATA") ? getenv("SK_TESTDATA") : "tests/unit/data";
	static char paths[4][512];
	static const char *files[4] = { "sink.zone", "other.zone", "rfc4592.zone", "kid.zone" };
	sk_zone_conf_t zc[4];
	sk_conf_t conf = { .path = "test.conf", .zones = zc, .nzones = 4 };
	for (int i = 0; i < 4; i++) {
		snprintf(paths[i], sizeof paths[i], "%s/db/%s", dir, files[i]);
		zc[i] = (sk_zone_conf_t){ .file = paths[i], .line = 1 + (unsigned)i };
	}
	return sk_db_build(&conf, &db);
}

/* Look up name/type into P. */
static void q(const char *name, uint16_t type)
{
	int len = sk_name_from_text(name, qname, sizeof qname, true);
	qlen = len < 0 ? 0 : (size_t)len;
	memset(&P, 0xa5, sizeof P);   /* lookup must set every field it reports */
	sk_db_lookup(db, qname, qlen, type, &P);
}

static unsigned count(uint8_t section)
{
	unsigned n = 0;
	for (unsigned i = 0; i < P.n; i++)
		n += P.rr[i].section == section;
	return n;
}

/* The owner of ref i, in wire form. */
static const uint8_t *owner_of(unsigned i)
{
	return P.rr[i].owner ? P.rr[i].owner : qname + P.rr[i].qoff;
}

/* The index of the first ref in `section` with `type` and owner `name` at or after `from`, or -1. */
static int find(uint8_t section, uint16_t type, const char *name)
{
	uint8_t w[SK_NAME_MAX];
	int len = sk_name_from_text(name, w, sizeof w, true);
	for (unsigned i = 0; i < P.n; i++)
		if (P.rr[i].section == section && P.rr[i].rrset->type == type &&
			memcmp(owner_of(i), w, (size_t)len) == 0)
			return (int)i;
	return -1;
}

/* Check the shape of P: rcode, aa, and the number of refs per section. */
static void shape(const char *what, int rcode, bool aa, unsigned an, unsigned ns, unsigned ar)
{
	bool good = P.rcode == rcode && P.aa == aa && count(0) == an && count(1) == ns && count(2) == ar &&
		P.n == an + ns + ar;
	ok(good, "%s: rcode %d aa %d, %u/%u/%u", what, rcode, aa, an, ns, ar);
	if (!good)
		printf("#   got rcode %d aa %d, %u/%u/%u (n %u)\n", P.rcode, P.aa, count(0), count(1),
			count(2), P.n);
}

/* Sections appear in order: answer, authority, additional. */
static bool ordered(void)
{
	for (unsigned i = 1; i < P.n; i++)
		if (P.rr[i].section < P.rr[i - 1].section)
			return false;
	return true;
}

static void test_basic(void)
{
	q("www.sink.test", SK_TYPE_A);
	shape("positive", SK_RCODE_NOERROR, true, 1, 0, 0);
	ok(P.rr[0].owner == NULL && P.rr[0].qoff == 0, "answer owner is the query name (pointer)");
	ok(P.rr[0].rrset->type == SK_TYPE_A && P.rr[0].rrset->count == 1 && P.rr[0].flags == 0, "A RRset");
	ok(P.zone && sk_zone_serial(P.zone) == 2024010101, "zone of the answer");

	q("www.sink.test", SK_TYPE_MX);
	shape("NODATA", SK_RCODE_NOERROR, true, 0, 1, 0);
	ok(P.rr[0].rrset->type == SK_TYPE_SOA && P.rr[0].owner == NULL && P.rr[0].qoff == 4,
		"NODATA: SOA owned by the apex, as a suffix of the query name");
	ok(P.rr[0].rrset->ttl == 300 && sk_get32(P.rr[0].rrset->data + 4) == 300,
		"negative SOA TTL = MINIMUM when below the SOA TTL (RFC 2308)");

	q("nope.sink.test", SK_TYPE_A);
	shape("NXDOMAIN", SK_RCODE_NXDOMAIN, true, 0, 1, 0);
	q("nope.other.test", SK_TYPE_A);
	shape("NXDOMAIN in other.test", SK_RCODE_NXDOMAIN, true, 0, 1, 0);
	ok(P.rr[0].rrset->ttl == 60 && sk_get32(P.rr[0].rrset->data + 4) == 60,
		"negative SOA TTL = SOA TTL when below MINIMUM");
	q("other.test", SK_TYPE_SOA);
	ok(P.n == 1 && P.rr[0].rrset->ttl == 60, "the SOA itself keeps its TTL");

	q("b.c.sink.test", SK_TYPE_A);
	shape("empty non-terminal: NODATA", SK_RCODE_NOERROR, true, 0, 1, 0);
	q("c.sink.test", SK_TYPE_ANY);
	shape("empty non-terminal, ANY: NODATA", SK_RCODE_NOERROR, true, 0, 1, 0);
	q("x.b.c.sink.test", SK_TYPE_A);
	shape("below an empty non-terminal: NXDOMAIN", SK_RCODE_NXDOMAIN, true, 0, 1, 0);
	q("a.b.c.sink.test", SK_TYPE_A);
	shape("below it: the data", SK_RCODE_NOERROR, true, 1, 0, 0);

	q("www.example.org", SK_TYPE_A);
	ok(P.rcode == SK_RCODE_REFUSED && !P.aa && P.zone == NULL && P.n == 0, "no zone: REFUSED");
	q("test", SK_TYPE_NS);
	ok(P.rcode == SK_RCODE_REFUSED && P.n == 0, "parent of our zones: REFUSED");
	q(".", SK_TYPE_DS);
	ok(P.rcode == SK_RCODE_REFUSED && P.n == 0, "root DS: REFUSED");
	/* 255 bytes, 124 labels: the walk from the apex stops at the first missing name. */
	char deep[300] = "";
	for (int i = 0; i < 122; i++)
		strcat(deep, "a.");
	strcat(deep, "sink.test");
	q(deep, SK_TYPE_A);
	ok(qlen == 255 && P.rcode == SK_RCODE_NXDOMAIN && P.n == 1 && P.rr[0].qoff == 244,
		"255-byte name: NXDOMAIN");
	memcpy(deep + 236, "aa.wild.sink.test", 18);
	q(deep, SK_TYPE_A);
	ok(qlen == 255 && P.rcode == SK_RCODE_NOERROR && P.n == 1 && P.rr[0].owner == NULL,
		"255-byte name under *.wild: synthesised");
	const uint8_t bad[] = { 3, 'w', 'w', 'w', 9, 's', 'i', 'n', 'k', 0 };
	sk_db_lookup(db, bad, sizeof bad, SK_TYPE_A, &P);
	ok(P.rcode == SK_RCODE_REFUSED && P.n == 0, "malformed name: REFUSED");
}

/* RFC 4592 2.2.1, with its listed matches and non-matches. */
static void test_wildcards(void)
{
	q("host3.example", SK_TYPE_MX);
	shape("host3 MX: from *.example", SK_RCODE_NOERROR, true, 1, 0, 1);
	ok(P.rr[0].owner == NULL && P.rr[0].qoff == 0, "synthesised owner is the query name");
	is_int(P.wild_off, 6, "from a wildcard: wild_off is where the encloser example starts");
	ok(find(2, SK_TYPE_A, "host1.example") >= 0, "additional A of the synthesised MX's target");
	q("host3.example", SK_TYPE_A);
	shape("host3 A: wildcard without the type: NODATA", SK_RCODE_NOERROR, true, 0, 1, 0);
	q("foo.bar.example", TYPE_TXT);
	shape("foo.bar TXT: from *.example", SK_RCODE_NOERROR, true, 1, 0, 0);
	ok(find(0, TYPE_TXT, "foo.bar.example") == 0, "owner foo.bar.example");
	is_int(P.wild_off, 8, "two labels below the wildcard: wild_off 8");
	q("host1.example", SK_TYPE_MX);
	shape("host1 MX: exists, no wildcard: NODATA", SK_RCODE_NOERROR, true, 0, 1, 0);
	is_int(P.wild_off, 0, "an existing name: wild_off 0");
	q("sub.*.example", SK_TYPE_MX);
	shape("sub.*.example MX: exists: NODATA", SK_RCODE_NOERROR, true, 0, 1, 0);
	q("_telnet._tcp.host1.example", SK_TYPE_SRV);
	shape("_telnet._tcp.host1: encloser _tcp.host1 has no wildcard: NXDOMAIN", SK_RCODE_NXDOMAIN,
		true, 0, 1, 0);
	is_int(P.wild_off, 0, "NXDOMAIN: wild_off 0");
	q("host.subdel.example", SK_TYPE_A);
	shape("host.subdel: below a cut: referral", SK_RCODE_NOERROR, false, 0, 1, 0);
	q("ghost.*.example", SK_TYPE_MX);
	shape("ghost.*.example: encloser *.example has no *.*: NXDOMAIN", SK_RCODE_NXDOMAIN, true, 0, 1, 0);
	q("host2.example", SK_TYPE_A);
	shape("host2: an empty non-terminal is not matched by the wildcard", SK_RCODE_NOERROR, true, 0, 1, 0);
	q("_tcp.host1.example", TYPE_TXT);
	shape("_tcp.host1: empty non-terminal: NODATA", SK_RCODE_NOERROR, true, 0, 1, 0);
	q("*.example", TYPE_TXT);
	shape("*.example asked directly", SK_RCODE_NOERROR, true, 1, 0, 0);

	q("x.wild.sink.test", SK_TYPE_A);
	shape("*.wild A", SK_RCODE_NOERROR, true, 1, 0, 0);
	q("a.b.wild.sink.test", SK_TYPE_A);
	shape("two labels below *.wild", SK_RCODE_NOERROR, true, 1, 0, 0);
	is_int(P.wild_off, 4, "below *.wild: wild_off is where wild.sink.test starts");
}

static void test_cnames(void)
{
	int i;

	q("alias.sink.test", SK_TYPE_A);
	shape("CNAME in the zone", SK_RCODE_NOERROR, true, 2, 0, 0);
	ok(P.rr[0].rrset->type == SK_TYPE_CNAME && P.rr[0].owner == NULL, "CNAME first, at the query name");
	ok(P.rr[1].owner != NULL && find(0, SK_TYPE_A, "www.sink.test") == 1,
		"target's A owned by the target, a name the db holds");
	q("alias.sink.test", SK_TYPE_CNAME);
	shape("qtype CNAME: not followed", SK_RCODE_NOERROR, true, 1, 0, 0);
	q("alias.sink.test", SK_TYPE_MX);
	shape("CNAME to a name without the type: NODATA after it", SK_RCODE_NOERROR, true, 1, 1, 0);
	q("alias.sink.test", SK_TYPE_ANY);
	shape("ANY at a CNAME: the CNAME", SK_RCODE_NOERROR, true, 1, 0, 0);

	q("chain1.sink.test", SK_TYPE_A);
	shape("chain across two zones", SK_RCODE_NOERROR, true, 3, 0, 0);
	ok(find(0, SK_TYPE_CNAME, "chain2.sink.test") == 1 && find(0, SK_TYPE_A, "www.other.test") == 2,
		"chain1 -> chain2 -> www.other.test A");
	ok(P.zone && sk_zone_serial(P.zone) == 2024010101, "the plan's zone is the first one");
	q("back.other.test", SK_TYPE_A);
	shape("chain from other.test back", SK_RCODE_NOERROR, true, 2, 0, 0);

	q("cross.sink.test", SK_TYPE_A);
	shape("CNAME to a missing name in another zone: NXDOMAIN (RFC 6604)", SK_RCODE_NXDOMAIN, true, 1, 1, 0);
	i = find(1, SK_TYPE_SOA, "other.test");
	ok(i == 1 && P.rr[i].owner != NULL && P.rr[i].rrset->ttl == 60, "with the SOA of the target's zone");
	q("dangling.sink.test", SK_TYPE_A);
	shape("CNAME to a missing name here: NXDOMAIN", SK_RCODE_NXDOMAIN, true, 1, 1, 0);
	ok(find(1, SK_TYPE_SOA, "sink.test") == 1 && P.rr[1].owner == NULL && P.rr[1].qoff == 9,
		"SOA of sink.test, as a suffix of the query name");

	q("loop1.sink.test", SK_TYPE_A);
	shape("CNAME loop: each CNAME once", SK_RCODE_NOERROR, true, 2, 0, 0);
	q("self.sink.test", SK_TYPE_A);
	shape("CNAME to itself", SK_RCODE_NOERROR, true, 1, 0, 0);
	q("out.sink.test", SK_TYPE_A);
	shape("CNAME out of our zones: just the CNAME", SK_RCODE_NOERROR, true, 1, 0, 0);
	q("long0.sink.test", SK_TYPE_A);
	shape("8 CNAMEs are followed to the end", SK_RCODE_NOERROR, true, 9, 0, 0);
	ok(find(0, SK_TYPE_A, "long8.sink.test") == 8, "the A of the 9th name");
	q("over0.sink.test", SK_TYPE_A);
	shape("a 9th CNAME is not", SK_RCODE_NOERROR, true, 8, 0, 0);

	q("anything.wc.sink.test", SK_TYPE_A);
	shape("wildcard CNAME, followed", SK_RCODE_NOERROR, true, 2, 0, 0);
	ok(P.rr[0].rrset->type == SK_TYPE_CNAME && P.rr[0].owner == NULL && P.rr[0].qoff == 0,
		"synthesised CNAME owned by the query name");
	ok(find(0, SK_TYPE_A, "www.sink.test") == 1, "then the target's A");
	q("anything.wcx.sink.test", SK_TYPE_A);
	shape("wildcard CNAME to a missing name", SK_RCODE_NXDOMAIN, true, 1, 1, 0);

	q("todeleg.sink.test", SK_TYPE_A);
	shape("CNAME into a delegation: CNAME, then the referral (as Knot)", SK_RCODE_NOERROR, true, 1, 1, 4);
	ok(find(1, SK_TYPE_NS, "deleg.sink.test") == 1, "the cut's NS");
}

static void test_referrals(void)
{
	int i;

	q("host.deleg.sink.test", SK_TYPE_A);
	shape("below a cut: referral", SK_RCODE_NOERROR, false, 0, 1, 4);
	ok(P.rr[0].rrset->type == SK_TYPE_NS && P.rr[0].owner == NULL && P.rr[0].qoff == 5,
		"NS owned by the cut, as a suffix of the query name");
	ok(ordered(), "sections in order");
	i = find(2, SK_TYPE_A, "ns.deleg.sink.test");
	ok(i == 1 && P.rr[i].flags == SK_RR_REQUIRED, "glue below the cut first, required");
	i = find(2, SK_TYPE_AAAA, "ns.deleg.sink.test");
	ok(i == 2 && P.rr[i].flags == SK_RR_REQUIRED, "its AAAA, required");
	i = find(2, SK_TYPE_A, "ns1.sink.test");
	ok(i > 2 && P.rr[i].flags == 0, "in-zone target outside the cut: not required");
	ok(find(2, SK_TYPE_A, "ns.other.test") < 0, "no addresses from another zone in a referral");

	q("deleg.sink.test", SK_TYPE_A);
	shape("at the cut: referral", SK_RCODE_NOERROR, false, 0, 1, 4);
	q("deleg.sink.test", SK_TYPE_NS);
	shape("NS at the cut: referral too", SK_RCODE_NOERROR, false, 0, 1, 4);
	q("ns.deleg.sink.test", SK_TYPE_A);
	shape("the glue name itself: referral", SK_RCODE_NOERROR, false, 0, 1, 4);
	q("deleg.sink.test", SK_TYPE_ANY);
	shape("ANY at the cut: referral", SK_RCODE_NOERROR, false, 0, 1, 4);

	q("deleg.sink.test", SK_TYPE_DS);
	shape("DS at the cut: from the parent", SK_RCODE_NOERROR, true, 1, 0, 0);
	ok(P.rr[0].rrset->type == SK_TYPE_DS, "the DS");
	q("nods.sink.test", SK_TYPE_DS);
	shape("DS at a cut without one: NODATA", SK_RCODE_NOERROR, true, 0, 1, 0);
	ok(P.rr[0].rrset->type == SK_TYPE_SOA, "with the parent's SOA");
	q("x.deleg.sink.test", SK_TYPE_DS);
	shape("DS below the cut: referral", SK_RCODE_NOERROR, false, 0, 1, 4);
	q("kid.sink.test", SK_TYPE_DS);
	shape("DS at a cut to a child zone we also serve: the parent's DS", SK_RCODE_NOERROR, true, 1, 0, 0);
	ok(P.rr[0].rrset->type == SK_TYPE_DS && P.zone && sk_zone_serial(P.zone) == 2024010101,
		"from sink.test");
	q("kid.sink.test", SK_TYPE_SOA);
	shape("other types at the child apex: the child zone", SK_RCODE_NOERROR, true, 1, 0, 0);
	ok(P.zone && sk_zone_serial(P.zone) == 3, "from kid.sink.test");
	q("www.kid.sink.test", SK_TYPE_DS);
	ok(P.rcode == SK_RCODE_NOERROR && P.aa && P.zone && sk_zone_serial(P.zone) == 3,
		"DS below the child apex: the child zone");
	q("other.test", SK_TYPE_DS);
	shape("DS at an apex whose parent is not ours: NODATA from the zone", SK_RCODE_NOERROR, true, 0, 1, 0);

	q("x.big.sink.test", SK_TYPE_A);
	ok(P.n == SK_PLAN_MAX && P.rcode == SK_RCODE_NOERROR && !P.aa, "25 NS with glue: the plan is full");
	bool required = true;
	for (unsigned k = 1; k < P.n; k++)
		required &= P.rr[k].section == SK_SECTION_ADDITIONAL && P.rr[k].flags == SK_RR_REQUIRED;
	ok(P.rr[0].rrset->count == 26 && required,
		"NS, then as much required glue as fits; the in-zone target listed first is dropped");
}

static void test_any_and_additional(void)
{
	q("www.sink.test", SK_TYPE_ANY);
	shape("ANY: one RRset", SK_RCODE_NOERROR, true, 1, 0, 0);
	ok(P.rr[0].rrset->type == SK_TYPE_A, "the A");
	q("v6.sink.test", SK_TYPE_ANY);
	ok(P.n == 1 && P.rr[0].rrset->type == SK_TYPE_AAAA, "ANY without A: the AAAA");
	q("lowest.sink.test", SK_TYPE_ANY);
	ok(count(0) == 1 && P.rr[0].rrset->type == SK_TYPE_MX, "ANY without addresses: the lowest type (MX 15 before TXT 16)");
	q("sink.test", SK_TYPE_ANY);
	ok(P.n == 1 && P.rr[0].rrset->type == SK_TYPE_A, "ANY at the apex: the A, not NS or SOA");
	q("nope.sink.test", SK_TYPE_ANY);
	shape("ANY at a missing name: NXDOMAIN", SK_RCODE_NXDOMAIN, true, 0, 1, 0);

	q("sink.test", SK_TYPE_MX);
	shape("MX", SK_RCODE_NOERROR, true, 1, 0, 2);
	ok(find(2, SK_TYPE_A, "mail.sink.test") >= 0, "additional A of the in-zone target");
	ok(find(2, SK_TYPE_A, "mail.other.test") >= 0, "and of the target in our other zone");
	ok(P.rr[1].flags == 0 && P.rr[2].flags == 0, "not required");
	q("lowest.sink.test", SK_TYPE_MX);
	shape("MX with a target elsewhere in the zone", SK_RCODE_NOERROR, true, 1, 0, 1);

	q("twomx.sink.test", SK_TYPE_MX);
	shape("two MX to one host: its A once", SK_RCODE_NOERROR, true, 1, 0, 1);
	q("occmx.sink.test", SK_TYPE_MX);
	shape("MX to a name below a cut: no additional from glue", SK_RCODE_NOERROR, true, 1, 0, 0);

	q("sink.test", SK_TYPE_NS);
	shape("apex NS: authoritative, addresses of targets", SK_RCODE_NOERROR, true, 1, 0, 3);
	ok(find(2, SK_TYPE_AAAA, "ns1.sink.test") >= 0 && find(2, SK_TYPE_A, "ns.other.test") >= 0,
		"ns1 A/AAAA and ns.other.test A");
	q("_sip._udp.sink.test", SK_TYPE_SRV);
	shape("SRV", SK_RCODE_NOERROR, true, 1, 0, 1);
	ok(find(2, SK_TYPE_A, "sip.sink.test") == 1, "additional A of the SRV target");
	q("www.sink.test", TYPE_TXT);
	shape("TXT: no additional", SK_RCODE_NOERROR, true, 1, 0, 0);
}

int main(void)
{
	int rc = load();
	is_int(rc, 0, "four zones build");
	if (rc != 0)
		return tap_done();
	is_int(sk_db_zone_count(db), 4, "four zones");
	test_basic();
	test_wildcards();
	test_cnames();
	test_referrals();
	test_any_and_additional();
	sk_db_free(db);
	return tap_done();
}
