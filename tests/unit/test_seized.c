/* test_seized.c -- seized-domain lists: list syntax, templates, longest suffix, duplicates, counts */
#include <dirent.h>
#include <stdarg.h>
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
#include "util/tagset.h"

/*
 * Templates, zone files and the readable lists are fixtures in data/seized/. Lists whose bytes
 * matter (CRLF, tabs, no final newline, boundary lengths) and the generated ones are written by
 * the test into a temporary folder, so that no editor or checkout can change them.
 */

/* ---- building a db ---- */

/* One seized list of a test config. Names without a leading '/' are fixtures in data/seized/. */
typedef struct ldef {
	const char *list;
	const char *tmpl;
	sk_tag_t *tags;
	size_t ntags;
} ldef_t;

static sk_tag_t necurs_tags[2] = { { "case", "2024-CV-0042" }, { "operation", "necurs" } };
static sk_tag_t parked_tags[1] = { { "case", "2025-CV-0007" } };

#define SINKHOLE_SERIAL 2024060101   /* sinkhole.zone */
#define PARKED_SERIAL   7            /* parked.zone */
#define OUTER_SERIAL    11           /* outer.zone */
#define INNER_SERIAL    22           /* inner.zone */
#define SHADOW_SERIAL   33           /* shadow.zone */

static char datadir[512];
static char tmpdir[64];
static char errbuf[1 << 16];     /* what the last build() wrote on stderr */

/* A fixture's path as build() resolves it (four rotating buffers: use at most four at once). */
static const char *fx(const char *name)
{
	static char buf[4][600];
	static unsigned next;
	char *p = buf[next++ % 4];
	if (name[0] == '/')
		snprintf(p, sizeof buf[0], "%s", name);
	else
		snprintf(p, sizeof buf[0], "%s/seized/%s", datadir, name);
	return p;
}

/* Write `len` bytes to a file `name` in the temporary folder; its path goes to path[cap]. */
static void tmp_write(char *path, size_t cap, const char *name, const char *data, size_t len)
{
	snprintf(path, cap, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len)
		printf("# cannot write %s\n", path);
	if (f)
		fclose(f);
}

/* Build a db as a config at "test.conf" would list it (zone i on line 10+i, seized list i on line
 * 20+i), with stderr captured into errbuf and echoed as TAP comments. */
static int build(const char *const *zones, size_t nz, const ldef_t *lists, size_t nl, sk_db_t **db)
{
	sk_zone_conf_t zc[8];
	sk_seized_conf_t sc[8];
	char zpath[8][600], lpath[8][600], tpath[8][600];
	sk_conf_t conf = { .path = "test.conf", .zones = zc, .nzones = nz, .seized = sc, .nseized = nl };

	for (size_t i = 0; i < nz; i++) {
		snprintf(zpath[i], sizeof zpath[i], "%s", fx(zones[i]));
		zc[i] = (sk_zone_conf_t){ .file = zpath[i], .line = 10 + (unsigned)i };
	}
	for (size_t i = 0; i < nl; i++) {
		snprintf(lpath[i], sizeof lpath[i], "%s", fx(lists[i].list));
		snprintf(tpath[i], sizeof tpath[i], "%s", fx(lists[i].tmpl));
		sc[i] = (sk_seized_conf_t){ .list = lpath[i], .template = tpath[i], .tags = lists[i].tags,
			.ntags = lists[i].ntags, .line = 20 + (unsigned)i };
	}
	return build_captured(&conf, db, errbuf, sizeof errbuf);
}

/* The db most tests share: three zone files around two lists (see the fixtures' comments). */
static int build_main(sk_db_t **db)
{
	static const char *const zones[3] = { "outer.zone", "inner.zone", "shadow.zone" };
	const ldef_t lists[2] = {
		{ "sinkhole.list", "sinkhole.zone", necurs_tags, 2 },
		{ "parked.list", "parked.zone", parked_tags, 1 },
	};
	return build(zones, 3, lists, 2, db);
}

/* ---- what the log says ---- */

/* True when the last build's stderr holds the formatted text. */
static bool logged(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool logged(const char *fmt, ...)
{
	char want[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(want, sizeof want, fmt, ap);
	va_end(ap);
	if (strstr(errbuf, want))
		return true;
	printf("#   not in stderr: %s\n", want);
	return false;
}

static unsigned log_count(const char *text)
{
	unsigned n = 0;
	for (const char *p = errbuf; (p = strstr(p, text)); p += strlen(text))
		n++;
	return n;
}

/* ---- looking up ---- */

static sk_plan_t P;              /* the plan of the last q() */
static uint8_t qname[SK_NAME_MAX];
static size_t qlen;

/* Look up name/type into P (the name lowercased, as the server hands it to the db). */
static void q(const sk_db_t *db, const char *name, uint16_t type)
{
	int len = sk_name_from_text(name, qname, sizeof qname, true);
	qlen = len < 0 ? 0 : (size_t)len;
	if (len < 0)
		printf("#   bad test name %s\n", name);
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

/* P's first ref is an answer of `type` owned by the query name itself. */
static bool answer_is(uint16_t type)
{
	return P.n >= 1 && P.rr[0].section == SK_SECTION_ANSWER && P.rr[0].rrset->type == type &&
		P.rr[0].owner == NULL && P.rr[0].qoff == 0;
}

/* P answers with one A record of address a.b.c.d, owned by the query name. */
static bool answer_a(unsigned a, unsigned b, unsigned c, unsigned d)
{
	if (!answer_is(SK_TYPE_A) || P.rr[0].rrset->count != 1)
		return false;
	const uint8_t *rr = P.rr[0].rrset->data;
	return sk_get16(rr + 8) == 4 && rr[10] == a && rr[11] == b && rr[12] == c && rr[13] == d;
}

/* P's only ref is the negative SOA in authority, owned by the query name from byte `qoff` on
 * (the seized domain or zone apex inside it), at TTL `ttl` in the struct and in the record. */
static bool negative_soa(uint8_t qoff, uint32_t ttl)
{
	if (P.n != 1 || P.rr[0].section != SK_SECTION_AUTHORITY)
		return false;
	const sk_rr_ref_t *r = &P.rr[0];
	bool good = r->rrset->type == SK_TYPE_SOA && r->owner == NULL && r->qoff == qoff &&
		r->rrset->ttl == ttl && sk_get32(r->rrset->data + 4) == ttl;
	if (!good)
		printf("#   SOA: owner %s qoff %u ttl %u/%u\n", r->owner ? "in the db" : "query name",
			r->qoff, r->rrset->ttl, sk_get32(r->rrset->data + 4));
	return good;
}

/* P was answered from the zone or template whose SOA serial is `serial`. */
static bool from(uint32_t serial)
{
	return P.zone != NULL && sk_zone_serial(P.zone) == serial;
}

static bool refused(void)
{
	return P.rcode == SK_RCODE_REFUSED && !P.aa && P.zone == NULL && P.tags == NULL && P.n == 0;
}

/* ---- answers from one template (the shared db) ---- */

static void test_apex(const sk_db_t *db)
{
	static const struct { uint16_t type; const char *name; unsigned count; } types[] = {
		{ SK_TYPE_SOA, "SOA", 1 }, { SK_TYPE_NS, "NS", 2 }, { SK_TYPE_A, "A", 1 },
		{ SK_TYPE_AAAA, "AAAA", 1 }, { SK_TYPE_MX, "MX", 1 }, { SK_TYPE_TXT, "TXT", 1 },
	};
	char what[64];
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		q(db, "seized-a.test", types[i].type);
		snprintf(what, sizeof what, "seized-a.test %s", types[i].name);
		shape(what, SK_RCODE_NOERROR, true, 1, 0, 0);
		ok(answer_is(types[i].type) && P.rr[0].rrset->count == types[i].count,
			"%s: the template's apex %s, owned by the query name", what, types[i].name);
		ok(from(SINKHOLE_SERIAL) && P.apex_off == 0,
			"%s: the plan's zone is the template, apex_off 0", what);
	}
	q(db, "seized-a.test", SK_TYPE_A);
	ok(answer_a(192, 0, 2, 66), "apex A is the template's 192.0.2.66");
	q(db, "seized-a.test", SK_TYPE_SOA);
	ok(P.n == 1 && P.rr[0].rrset->ttl == 3600, "the SOA answered keeps its own TTL (3600)");
}

static void test_names(const sk_db_t *db)
{
	q(db, "www.seized-a.test", SK_TYPE_A);
	shape("www: exact name of the template", SK_RCODE_NOERROR, true, 1, 0, 0);
	ok(answer_a(192, 0, 2, 67), "www: 192.0.2.67 (its own A, not the wildcard's)");
	is_int(P.wild_off, 0, "www: not from the wildcard, wild_off 0");
	q(db, "mail.seized-a.test", SK_TYPE_A);
	ok(answer_a(192, 0, 2, 25) && P.rr[0].rrset->ttl == 300, "mail: its own A with its own TTL");

	q(db, "x.y.z.seized-a.test", SK_TYPE_A);
	shape("wildcard three labels deep", SK_RCODE_NOERROR, true, 1, 0, 0);
	ok(answer_a(192, 0, 2, 66), "wildcard: owner is the query name, 192.0.2.66");
	is_int(P.apex_off, 6, "wildcard: apex_off is where seized-a.test starts");
	is_int(P.wild_off, 6, "the template's wildcard: wild_off is the seized domain, its encloser");
	q(db, "x.y.z.seized-a.test", SK_TYPE_AAAA);
	ok(answer_is(SK_TYPE_AAAA), "wildcard AAAA");

	q(db, "www.seized-a.test", SK_TYPE_MX);
	shape("www MX: NODATA", SK_RCODE_NOERROR, true, 0, 1, 0);
	ok(negative_soa(4, 300), "NODATA: SOA owned by seized-a.test in the query name, TTL min(3600, 300)");
	q(db, "x.y.z.seized-a.test", SK_TYPE_MX);
	shape("wildcard MX: NODATA", SK_RCODE_NOERROR, true, 0, 1, 0);
	ok(negative_soa(6, 300), "wildcard NODATA: SOA at qoff 6");

	q(db, "c.seized-a.test", SK_TYPE_A);
	shape("empty non-terminal c: NODATA, not the wildcard", SK_RCODE_NOERROR, true, 0, 1, 0);
	ok(negative_soa(2, 300), "ENT c: SOA at qoff 2");
	q(db, "b.c.seized-a.test", SK_TYPE_A);
	shape("empty non-terminal b.c: NODATA", SK_RCODE_NOERROR, true, 0, 1, 0);
	q(db, "x.c.seized-a.test", SK_TYPE_A);
	shape("below the ENT c: the wildcard is blocked, NXDOMAIN", SK_RCODE_NXDOMAIN, true, 0, 1, 0);
	q(db, "a.b.c.seized-a.test", SK_TYPE_A);
	ok(answer_a(192, 0, 2, 1), "a.b.c: its A");

	q(db, "nope.parked-a.test", SK_TYPE_A);
	shape("parked (no wildcard): missing name NXDOMAIN", SK_RCODE_NXDOMAIN, true, 0, 1, 0);
	ok(negative_soa(5, 60), "NXDOMAIN: SOA owned by parked-a.test, TTL min(60, 600)");
	q(db, "a.b.parked-a.test", SK_TYPE_A);
	shape("two labels below, no wildcard: NXDOMAIN", SK_RCODE_NXDOMAIN, true, 0, 1, 0);
	ok(negative_soa(4, 60), "NXDOMAIN: SOA at qoff 4");
	q(db, "parked-a.test", SK_TYPE_MX);
	shape("parked apex MX: NODATA", SK_RCODE_NOERROR, true, 0, 1, 0);
	ok(negative_soa(0, 60), "apex NODATA: SOA owned by the query name itself");
}

static void test_plan(const sk_db_t *db)
{
	const sk_tagset_t *necurs = sk_tagset_intern(necurs_tags, 2);
	const sk_tagset_t *parked = sk_tagset_intern(parked_tags, 1);

	q(db, "x.y.seized-a.test", SK_TYPE_A);
	ok(P.zone != NULL && from(SINKHOLE_SERIAL), "plan.zone: the list's template");
	is_int(P.apex_off, 4, "apex_off: seized-a.test starts at byte 4 of x.y.seized-a.test");
	ok(P.tags != NULL && P.tags == necurs, "plan.tags: the list's tags, interned");
	ok(P.tags && P.tags->n == 2 &&
		strcmp(P.tags->json, "{\"case\":\"2024-CV-0042\",\"operation\":\"necurs\"}") == 0,
		"tags: two, as JSON");
	if (P.tags)
		printf("#   json %s\n", P.tags->json);

	q(db, "nope.parked-a.test", SK_TYPE_A);
	ok(P.rcode == SK_RCODE_NXDOMAIN && from(PARKED_SERIAL) && P.apex_off == 5 && P.tags == parked,
		"NXDOMAIN plan: the other list's template, apex_off 5, its tags");
	ok(P.tags && P.tags->n == 1 && strcmp(P.tags->json, "{\"case\":\"2025-CV-0007\"}") == 0,
		"parked tags as JSON");
}

static void test_two_lists(const sk_db_t *db)
{
	const sk_zone_t *sinkhole, *parked;

	q(db, "www.seized-a.test", SK_TYPE_A);
	sinkhole = P.zone;
	ok(answer_a(192, 0, 2, 67), "www under a sinkhole.list domain: 192.0.2.67");
	q(db, "www.parked-a.test", SK_TYPE_A);
	parked = P.zone;
	ok(answer_a(198, 51, 100, 8), "www under a parked.list domain: 198.51.100.8");
	ok(sinkhole && parked && sinkhole != parked, "two templates, two zones in the plans");
	q(db, "x.seized-a.test", SK_TYPE_A);
	ok(P.rcode == SK_RCODE_NOERROR && answer_a(192, 0, 2, 66), "x under sinkhole: the wildcard");
	q(db, "x.parked-a.test", SK_TYPE_A);
	ok(P.rcode == SK_RCODE_NXDOMAIN, "x under parked: NXDOMAIN");

	static const char *const outside[] = {
		"www.example.org", "test", "a.test", "seized-a.test.example", "xseized-a.test",
		"eized-a.test",
	};
	for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
		q(db, outside[i], SK_TYPE_A);
		ok(refused(), "%s: in no zone and no list: REFUSED", outside[i]);
	}
}

/* ---- lists and zone files together ---- */

static void test_longest_suffix(const sk_db_t *db)
{
	/* sub.outer.test is listed, below the zone file outer.test */
	q(db, "sub.outer.test", SK_TYPE_A);
	ok(answer_a(192, 0, 2, 66) && from(SINKHOLE_SERIAL) && P.apex_off == 0,
		"listed domain below a zone's apex: the template answers");
	q(db, "www.sub.outer.test", SK_TYPE_A);
	ok(answer_a(192, 0, 2, 67) && P.apex_off == 4, "its www from the template");
	q(db, "host.sub.outer.test", SK_TYPE_A);
	ok(answer_a(192, 0, 2, 66) && from(SINKHOLE_SERIAL), "its wildcard from the template");
	q(db, "www.outer.test", SK_TYPE_A);
	ok(answer_a(203, 0, 113, 1) && from(OUTER_SERIAL) && P.apex_off == 4,
		"the zone's own names: the zone");
	q(db, "nope.outer.test", SK_TYPE_A);
	ok(P.rcode == SK_RCODE_NXDOMAIN && from(OUTER_SERIAL) && negative_soa(5, 300),
		"a missing name of the zone: the zone's NXDOMAIN");
	ok(logged("%s:4: warning: sub.outer.test. is inside the zone outer.test. of %s: the list answers "
		"for it (the longer name wins)", fx("sinkhole.list"), fx("outer.zone")),
		"a listed domain inside a zone file warned, with the zone and its file");
	ok(!logged("%s:5: warning: held.test. is inside", fx("sinkhole.list")),
		"a listed domain above a zone file: no such warning");

	/* held.test is listed; the zone file inner.held.test lies below it */
	q(db, "held.test", SK_TYPE_A);
	ok(answer_a(192, 0, 2, 66) && from(SINKHOLE_SERIAL), "held.test: the template");
	q(db, "other.held.test", SK_TYPE_A);
	ok(answer_a(192, 0, 2, 66) && from(SINKHOLE_SERIAL) && P.apex_off == 6,
		"other.held.test: the template's wildcard");
	q(db, "inner.held.test", SK_TYPE_SOA);
	ok(answer_is(SK_TYPE_SOA) && from(INNER_SERIAL) && P.apex_off == 0,
		"the inner zone's apex: the zone");
	q(db, "www.inner.held.test", SK_TYPE_A);
	ok(answer_a(203, 0, 113, 2) && from(INNER_SERIAL) && P.apex_off == 4,
		"www.inner.held.test: the zone");
	q(db, "nope.inner.held.test", SK_TYPE_A);
	ok(P.rcode == SK_RCODE_NXDOMAIN && from(INNER_SERIAL),
		"missing below the inner zone: its NXDOMAIN, not the wildcard");

	/* shadow.test is listed and is the apex of a zone file */
	q(db, "shadow.test", SK_TYPE_A);
	ok(answer_a(203, 0, 113, 3) && from(SHADOW_SERIAL),
		"a listed domain that is a zone apex: the zone file");
	q(db, "x.shadow.test", SK_TYPE_A);
	ok(P.rcode == SK_RCODE_NXDOMAIN && from(SHADOW_SERIAL), "below it: the zone file's NXDOMAIN");
	ok(logged("%s:6: warning: shadow.test. is served by the zone file %s (the zone file wins)",
		fx("sinkhole.list"), fx("shadow.zone")),
		"shadowed domain warned with list:line and the zone file");
	const sk_db_list_stats_t *st = sk_db_list_stats(db, 0);
	ok(st && st->shadowed == 1, "stats.shadowed counts it");

	/* inner.seized-a.test (parked.list) lies below seized-a.test (sinkhole.list) */
	q(db, "www.inner.seized-a.test", SK_TYPE_A);
	ok(answer_a(198, 51, 100, 8) && from(PARKED_SERIAL) && P.apex_off == 4,
		"a listed domain below another listed one: the longer one's template");
	q(db, "x.inner.seized-a.test", SK_TYPE_A);
	ok(P.rcode == SK_RCODE_NXDOMAIN && negative_soa(2, 60),
		"and its NXDOMAIN, not the shorter one's wildcard");
}

static void test_duplicates(const sk_db_t *db)
{
	const sk_db_list_stats_t *sink = sk_db_list_stats(db, 0), *park = sk_db_list_stats(db, 1);

	q(db, "www.seized-b.test", SK_TYPE_A);
	ok(answer_a(192, 0, 2, 67) && from(SINKHOLE_SERIAL),
		"in two lists: the first list's template answers");
	q(db, "x.seized-b.test", SK_TYPE_A);
	ok(answer_a(192, 0, 2, 66), "its wildcard too (the second template has none)");
	ok(logged("%s:3: warning: seized-b.test. is already listed at %s:3 (the first wins)",
		fx("parked.list"), fx("sinkhole.list")), "duplicate across lists warned with both places");
	ok(park && park->duplicates == 1, "the second list counts the duplicate");
	ok(logged("%s:7: warning: seized-a.test. is already listed at %s:2 (the first wins)",
		fx("sinkhole.list"), fx("sinkhole.list")), "duplicate inside one list warned");
	ok(sink && sink->duplicates == 1, "and counted");
}

static void test_stats(const sk_db_t *db)
{
	const sk_db_list_stats_t *sink = sk_db_list_stats(db, 0), *park = sk_db_list_stats(db, 1);

	is_int(sk_db_zone_count(db), 3, "three zone files");
	is_int(sk_db_list_count(db), 2, "two lists");
	ok(sk_db_list_stats(db, 2) == NULL, "no third list");
	ok(sink && strcmp(sink->list, fx("sinkhole.list")) == 0 &&
		strcmp(sink->template, fx("sinkhole.zone")) == 0,
		"list 0: its list and template paths");
	ok(park && strcmp(park->list, fx("parked.list")) == 0 &&
		strcmp(park->template, fx("parked.zone")) == 0,
		"list 1: its list and template paths");
	if (!sink || !park)
		return;
	/* seized-a, seized-b, sub.outer, held (shadow.test and the second seized-a are not) */
	ok(sink->domains == 4 && sink->invalid == 0 && sink->duplicates == 1 && sink->shadowed == 1,
		"sinkhole.list: 4 domains, 0 invalid, 1 duplicate, 1 shadowed");
	printf("#   got %zu/%zu/%zu/%zu\n", sink->domains, sink->invalid, sink->duplicates, sink->shadowed);
	/* parked-a, inner.seized-a */
	ok(park->domains == 2 && park->invalid == 1 && park->duplicates == 1 && park->shadowed == 0,
		"parked.list: 2 domains, 1 invalid, 1 duplicate, 0 shadowed");
	printf("#   got %zu/%zu/%zu/%zu\n", park->domains, park->invalid, park->duplicates, park->shadowed);
	is_int(sk_db_seized_count(db), 6, "six seized domains in all");
	ok(logged("%s:5: warning: not a domain name: 'not a domain", fx("parked.list")),
		"the invalid line of parked.list warned");
}

/* ---- list syntax ---- */

/* Boundary names of syntax.list: labels of 63 and 64 bytes, names of 253 and 254 characters. */
static char l63[64], l64[65], n253[254], n254[255];

/* Write syntax.list into the temporary folder: every form a line can take, with the line numbers
 * the warnings must carry. Its path goes to path[cap]. */
static void write_syntax_list(char *path, size_t cap)
{
	char list[2048];

	memset(l63, 'm', 63);
	memset(l64, 'n', 64);
	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 characters: a 255-byte wire name */
	snprintf(n253, sizeof n253, "%.63s.%.63s.%.63s.%.61s", l63, l63, l63, l63);
	snprintf(n254, sizeof n254, "%.63s.%.63s.%.63s.%.62s", l64, l64, l64, l64);
	int len = snprintf(list, sizeof list,
		"# seized domains in every form the loader takes\n"   /*  1 */
		"\n"                                                  /*  2 */
		"  \t \n"                                             /*  3 blank: spaces and a tab */
		"plain.test\n"                                        /*  4 */
		"final-dot.test.\n"                                   /*  5 */
		"MiXeD.CaSe.TEST\n"                                   /*  6 */
		"crlf.test\r\n"                                       /*  7 */
		"\ttabbed.test \t\n"                                  /*  8 */
		"commented.test   # a comment after the domain\n"     /*  9 */
		"glued.test# a comment right after it\n"              /* 10 */
		"under_score.test\n"                                  /* 11 */
		"xn--bcher-kva.test\n"                                /* 12 */
		"a..b.test\n"                                         /* 13 empty label */
		"com\n"                                               /* 14 one label */
		"-lead.test\n"                                        /* 15 */
		"trail-.test\n"                                       /* 16 */
		"bad!char.test\n"                                     /* 17 */
		"two.test words.test\n"                               /* 18 */
		"%s.test\n"                                           /* 19 a 63-byte label */
		"%s.test\n"                                           /* 20 a 64-byte label */
		"%s\n"                                                /* 21 253 characters */
		"%s\n"                                                /* 22 254 characters */
		"x%s.\n"                                              /* 23 253 and a final dot */
		"caf\xc3\xa9.test\n"                                  /* 24 not ASCII */
		"crlf..bad.test\r\n"                                  /* 25 invalid, CRLF */
		"  # an indented comment\n"                           /* 26 */
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789.Test\n"        /* 27 every capital */
		"last.test",                                          /* 28 no newline */
		l63, l64, n253, n254, n253 + 1);
	tmp_write(path, cap, "syntax.list", list, (size_t)len);
}

/* The 14 good lines of syntax.list are served, lowercased. */
static void syntax_accepted(const sk_db_t *db)
{
	static const char *const valid[] = {
		"plain.test", "final-dot.test", "mixed.case.test", "crlf.test", "tabbed.test",
		"commented.test", "glued.test", "under_score.test", "xn--bcher-kva.test",
		"abcdefghijklmnopqrstuvwxyz-0123456789.test", "last.test",
	};
	char name[300];

	for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
		q(db, valid[i], SK_TYPE_A);
		ok(answer_a(192, 0, 2, 66) && P.apex_off == 0, "%s is listed", valid[i]);
	}
	snprintf(name, sizeof name, "%s.test", l63);
	q(db, name, SK_TYPE_A);
	ok(answer_a(192, 0, 2, 66), "a 63-byte label is fine");
	q(db, n253, SK_TYPE_A);
	ok(qlen == 255 && answer_a(192, 0, 2, 66), "a 253-character (255-byte) name is listed");
	snprintf(name, sizeof name, "x%s", n253 + 1);
	q(db, name, SK_TYPE_A);
	ok(qlen == 255 && answer_a(192, 0, 2, 66), "and one written with a final dot");
	q(db, "www.mixed.case.test", SK_TYPE_A);
	ok(answer_a(192, 0, 2, 67) && P.apex_off == 4, "names below a mixed-case entry");
}

/* The 10 bad lines of syntax.list: not served, each warned as written, each counted. */
static void syntax_rejected(const sk_db_t *db, const char *lp)
{
	static const char *const absent[] = {
		"com", "x.com", "lead.test", "trail-.test", "two.test", "words.test", "b.test", "bad.test",
	};
	static const struct { unsigned line; const char *shown; } bad[] = {
		{ 13, "a..b.test" }, { 14, "com" }, { 15, "-lead.test" }, { 16, "trail-.test" },
		{ 17, "bad!char.test" }, { 18, "two.test words.test" }, { 24, "caf\xc3\xa9.test" },
		{ 25, "crlf..bad.test" },
	};

	for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
		q(db, absent[i], SK_TYPE_A);
		ok(refused(), "%s: not listed", absent[i]);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(logged("%s:%u: warning: not a domain name: '%s' (line skipped)", lp, bad[i].line,
			bad[i].shown), "line %u: '%s' warned", bad[i].line, bad[i].shown);
	ok(logged("%s:20: warning: not a domain name: '%s.test' (line skipped)", lp, l64),
		"line 20: a 64-byte label warned");
	ok(logged("%s:22: warning: not a domain name: '%.76s...' (line skipped)", lp, n254),
		"line 22: a 254-character name warned, shown cut at 76 characters");
	is_int(log_count("not a domain name"), 10, "ten lines warned, no others");
}

static void test_syntax(void)
{
	char path[600];
	sk_db_t *db;

	write_syntax_list(path, sizeof path);
	ldef_t def = { path, "sinkhole.zone", NULL, 0 };
	int rc = build(NULL, 0, &def, 1, &db);
	is_int(rc, 0, "syntax.list builds");
	if (rc != 0)
		return;
	syntax_accepted(db);
	syntax_rejected(db, path);
	const sk_db_list_stats_t *st = sk_db_list_stats(db, 0);
	ok(st && st->domains == 14 && st->invalid == 10 && st->duplicates == 0 && st->shadowed == 0,
		"stats: 14 domains, 10 invalid");
	if (st)
		printf("#   got %zu/%zu/%zu/%zu\n", st->domains, st->invalid, st->duplicates, st->shadowed);
	is_int(sk_db_seized_count(db), 14, "14 seized domains");
	sk_db_free(db);
}

/* 25 invalid lines, 30 valid ones, 3 duplicates: 20 warnings, one note, every problem counted. */
static void test_warning_limit(void)
{
	char list[4096], other[256], path[600], opath[600];
	size_t n = 0;
	sk_db_t *db;

	for (int i = 1; i <= 25; i++)
		n += (size_t)snprintf(list + n, sizeof list - n, "bad..%d.test\n", i);
	for (int i = 0; i < 30; i++)
		n += (size_t)snprintf(list + n, sizeof list - n, "ok%d.test\n", i);
	for (int i = 0; i < 3; i++)
		n += (size_t)snprintf(list + n, sizeof list - n, "ok%d.test\n", i);
	tmp_write(path, sizeof path, "noisy.list", list, n);
	int on = snprintf(other, sizeof other, "calm1.test\ncalm..bad.test\ncalm2.test\n");
	tmp_write(opath, sizeof opath, "calm.list", other, (size_t)on);

	const ldef_t defs[2] = { { path, "sinkhole.zone", NULL, 0 }, { opath, "parked.zone", NULL, 0 } };
	int rc = build(NULL, 0, defs, 2, &db);
	is_int(rc, 0, "a noisy list still loads (25 of 58 entries invalid)");
	if (rc != 0)
		return;
	ok(logged("%s:20: warning: not a domain name: 'bad..20.test'", path), "the 20th problem is printed");
	ok(strstr(errbuf, "bad..21.test") == NULL, "the 21st is not");
	is_int(log_count("warning: not a domain name: 'bad.."), 20, "20 warnings for the noisy list");
	ok(logged("%s: warning: further problems in this list are only counted\n", path), "then one note");
	is_int(log_count("further problems"), 1, "the note once");
	is_int(log_count("is already listed"), 0, "the duplicates past the limit are not printed");
	ok(logged("%s:2: warning: not a domain name: 'calm..bad.test'", opath),
		"the next list has its own 20 warnings");
	const sk_db_list_stats_t *st = sk_db_list_stats(db, 0);
	ok(st && st->invalid == 25 && st->duplicates == 3 && st->domains == 30,
		"counts keep growing past the limit: 25 invalid, 3 duplicates, 30 domains");
	if (st)
		printf("#   got %zu/%zu/%zu\n", st->invalid, st->duplicates, st->domains);
	q(db, "ok29.test", SK_TYPE_A);
	ok(answer_a(192, 0, 2, 66), "its valid domains are served");
	sk_db_free(db);
}

/* More than half of the entries invalid refuses the list; comments and blank lines are not entries. */
static void test_refused_list(void)
{
	static const char refuse[] =
		"# three comment lines and two blank ones, which are not entries\n"
		"#\n"
		"\n"
		"good1.test\n"
		"bad..1.test\n"
		"\n"
		"# more\n"
		"bad..2.test\n"
		"good2.test\n"
		"bad..3.test\n";
	static const char half[] =
		"# exactly half of the entries invalid\n"
		"good1.test\n"
		"bad..1.test\n"
		"\n"
		"good2.test\n"
		"bad..2.test\n";
	char path[600];
	sk_db_t *db;

	tmp_write(path, sizeof path, "refused.list", refuse, sizeof refuse - 1);
	ldef_t def = { path, "sinkhole.zone", NULL, 0 };
	int rc = build(NULL, 0, &def, 1, &db);
	is_int(rc, SK_EPARSE, "3 of 5 entries invalid: the build fails");
	ok(db == NULL, "no db");
	ok(logged("%s: 3 of its 5 entries are not domain names: list refused\n", path),
		"the refusal names the list");
	sk_db_free(db);

	tmp_write(path, sizeof path, "half.list", half, sizeof half - 1);
	rc = build(NULL, 0, &def, 1, &db);
	is_int(rc, 0, "2 of 4 entries invalid: loads");
	if (rc != 0)
		return;
	const sk_db_list_stats_t *st = sk_db_list_stats(db, 0);
	ok(st && st->domains == 2 && st->invalid == 2, "2 domains, 2 invalid");
	ok(strstr(errbuf, "list refused") == NULL, "no refusal");
	sk_db_free(db);
}

static void test_empty_and_missing(void)
{
	char path[600];
	sk_db_t *db;

	tmp_write(path, sizeof path, "empty.list", "", 0);
	ldef_t empty = { path, "sinkhole.zone", NULL, 0 };
	int rc = build(NULL, 0, &empty, 1, &db);
	is_int(rc, 0, "an empty list file loads");
	if (rc == 0) {
		const sk_db_list_stats_t *st = sk_db_list_stats(db, 0);
		ok(sk_db_list_count(db) == 1 && st && st->domains == 0 && st->invalid == 0, "with 0 domains");
		is_int(sk_db_seized_count(db), 0, "nothing seized");
		q(db, "anything.test", SK_TYPE_A);
		ok(refused(), "every name REFUSED");
		sk_db_free(db);
	}

	const ldef_t missing[2] = { { "sinkhole.list", "sinkhole.zone", NULL, 0 },
		{ "absent.list", "parked.zone", NULL, 0 } };
	rc = build(NULL, 0, missing, 2, &db);
	is_int(rc, SK_EPARSE, "a missing list file fails the build");
	ok(db == NULL, "no db");
	ok(logged("test.conf:21: cannot read seized list %s: ", fx("absent.list")),
		"reported at the list's line in the config");
	sk_db_free(db);

	const ldef_t notmpl = { "sinkhole.list", "absent.zone", NULL, 0 };
	rc = build(NULL, 0, &notmpl, 1, &db);
	ok(rc < 0 && db == NULL, "a missing template fails the build");
	ok(logged("test.conf:20: cannot read zone file %s: ", fx("absent.zone")),
		"reported at the list's line in the config");
	sk_db_free(db);
}

/* ---- templates ---- */

/* A template that must not build, and what it must report. */
static void template_fails(const char *tmpl, int code, const char *msg, const char *what)
{
	sk_db_t *db;
	ldef_t def = { "parked.list", tmpl, NULL, 0 };
	int rc = build(NULL, 0, &def, 1, &db);
	is_int(rc, code, "%s: the build fails", what);
	ok(db == NULL, "%s: no db", what);
	ok(logged("%s%s", fx(tmpl), msg), "%s: reported", what);
	sk_db_free(db);
}

static void test_templates(void)
{
	template_fails("relative-mx.zone", SK_EZONE, ":5: mail is relative to the seized domain: names in "
		"a template's RDATA must be absolute (end them with a dot)\n", "@ MX 10 mail");
	template_fails("relative-cname.zone", SK_EZONE, ":4: @ is relative to the seized domain: names in "
		"a template's RDATA must be absolute (end them with a dot)\n", "www CNAME @");
	template_fails("nosoa.zone", SK_EZONE, ": no SOA record at the zone apex\n", "no SOA");

	char path[600];
	sk_db_t *db;
	tmp_write(path, sizeof path, "one.list", "one.test\n", 9);
	ldef_t def = { path, "outside.zone", NULL, 0 };
	int rc = build(NULL, 0, &def, 1, &db);
	is_int(rc, 0, "an owner outside the template: still builds");
	if (rc != 0)
		return;
	ok(logged("%s:6: warning: www.elsewhere.test. is outside the zone, record ignored",
		fx("outside.zone")), "warned at its line");
	q(db, "one.test", SK_TYPE_A);
	ok(answer_a(192, 0, 2, 9), "the template's own records are served");
	q(db, "www.one.test", SK_TYPE_A);
	ok(P.rcode == SK_RCODE_NXDOMAIN, "the ignored record does not appear under the domain");
	q(db, "www.elsewhere.test", SK_TYPE_A);
	ok(refused(), "nor at its absolute name");
	sk_db_free(db);
}

/* ---- many domains ---- */

#define MANY 50000

/* Domain i of the generated list: two, three and four labels in turn. */
static void many_name(char *buf, size_t cap, int i)
{
	static const char *const fmt[3] = { "s%d.test", "s%d.big.test", "w.s%d.deep.test" };
	snprintf(buf, cap, fmt[i % 3], i);
}

static void test_many(void)
{
	size_t cap = (size_t)MANY * 24, n = 0;
	char *list = malloc(cap), name[128], www[160], path[600];
	sk_db_t *db;

	if (!list) {
		ok(0, "memory for the list");
		return;
	}
	for (int i = 0; i < MANY; i++) {
		many_name(name, sizeof name, i);
		n += (size_t)snprintf(list + n, cap - n, "%s\n", name);
	}
	tmp_write(path, sizeof path, "many.list", list, n);
	free(list);
	ldef_t def = { path, "sinkhole.zone", necurs_tags, 2 };
	int rc = build(NULL, 0, &def, 1, &db);
	is_int(rc, 0, "%d domains build", MANY);
	if (rc != 0)
		return;
	is_int(sk_db_seized_count(db), MANY, "all counted");

	int missed = 0, wrong_www = 0, leaked = 0;
	for (int i = 0; i < MANY; i++) {
		many_name(name, sizeof name, i);
		q(db, name, SK_TYPE_A);
		if (!answer_a(192, 0, 2, 66) || P.apex_off != 0 || !from(SINKHOLE_SERIAL)) {
			if (missed++ < 3)
				printf("#   %s: rcode %d n %u\n", name, P.rcode, P.n);
		}
		snprintf(www, sizeof www, "www.%s", name);
		q(db, www, SK_TYPE_A);
		if (!answer_a(192, 0, 2, 67) || P.apex_off != 4) {
			if (wrong_www++ < 3)
				printf("#   %s: rcode %d n %u\n", www, P.rcode, P.n);
		}
		/* not listed: a sibling, and the parent of the three- and four-label names */
		snprintf(www, sizeof www, "x%s", name);
		q(db, www, SK_TYPE_A);
		leaked += !refused();
		snprintf(www, sizeof www, i % 3 == 2 ? "s%d.deep.test" : "t%d.big.test", i);
		q(db, www, SK_TYPE_A);
		leaked += !refused();
	}
	is_int(missed, 0, "every listed domain answers from the template");
	is_int(wrong_www, 0, "every www below one answers the template's www");
	is_int(leaked, 0, "names not listed are REFUSED");
	static const char *const parents[] = { "test", "big.test", "deep.test", "s0.big.test" };
	for (size_t i = 0; i < sizeof parents / sizeof parents[0]; i++) {
		q(db, parents[i], SK_TYPE_A);
		ok(refused(), "%s: REFUSED", parents[i]);
	}
	sk_db_free(db);
}

/* ---- main ---- */

static void remove_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[600];
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(tmpdir);
}

int main(void)
{
	const char *dir = getenv("SK_TESTDATA");
	sk_db_t *db;

	snprintf(datadir, sizeof datadir, "%s", dir ? dir : "tests/unit/data");
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_seized.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		ok(0, "a temporary folder");
		return tap_done();
	}

	int rc = build_main(&db);
	is_int(rc, 0, "three zone files and two lists build");
	if (rc == 0) {
		test_apex(db);
		test_names(db);
		test_plan(db);
		test_two_lists(db);
		test_longest_suffix(db);
		test_duplicates(db);
		test_stats(db);
		sk_db_free(db);
	}
	test_syntax();
	test_warning_limit();
	test_refused_list();
	test_empty_and_missing();
	test_templates();
	test_many();
	remove_tmpdir();
	return tap_done();
}
