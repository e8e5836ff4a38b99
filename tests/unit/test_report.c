/* test_report.c -- sinkhole-report's pieces: the line scanner, unescaping, times, interning,
 * the radix sort, privacy mapping */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "intern.h"
#include "privacy.h"
#include "rsort.h"
#include "scan.h"
#include "tap.h"

static int slice_is(rp_slice_t s, const char *want)
{
	if (!want)
		return s.p == NULL;
	return s.p && s.n == strlen(want) && !memcmp(s.p, want, s.n);
}

static int scan_str(const char *line, rp_rec_t *r)
{
	return rp_scan(line, strlen(line), r);
}

static void test_scan(void)
{
	rp_rec_t r;
	const char *full = "{\"time\":\"2026-11-21T21:41:15.123456Z\",\"node\":\"n\\\"s\\\\\",\"seq\":42,"
		"\"transport\":\"udp\",\"src\":\"81.2.69.142\",\"sport\":53001,\"qname\":\"a\\\"}{b.\","
		"\"edns\":{\"size\":1232,\"ecs\":\"89.160.20.112/28\",\"cookie\":true},\"zone\":\"aitism.net.\","
		"\"tags\":{\"case\":\"1:24\"},\"geo\":{\"country\":\"GB\",\"lat\":51.5},\"ecs_geo\":{\"asn\":29518},"
		"\"rrl\":null}";
	is_int(scan_str(full, &r), 0, "a record scans");
	ok(slice_is(r.time, "2026-11-21T21:41:15.123456Z"), "time");
	ok(slice_is(r.src, "81.2.69.142"), "src");
	is_int(r.sport, 53001, "sport");
	ok(slice_is(r.ecs, "89.160.20.112/28"), "edns.ecs from inside edns");
	ok(slice_is(r.zone, "aitism.net."), "zone, after a qname holding \\\" and braces");
	ok(slice_is(r.tags, "{\"case\":\"1:24\"}"), "tags: the object's text");
	ok(slice_is(r.geo, "{\"country\":\"GB\",\"lat\":51.5}"), "geo");
	ok(slice_is(r.ecs_geo, "{\"asn\":29518}"), "ecs_geo");

	is_int(scan_str("{\"zone\":null,\"ecs_geo\":null,\"src\":\"::1\",\"edns\":null,\"time\":\"x\"}", &r), 0,
		"any order, nulls");
	ok(!r.zone.p && !r.ecs.p && !r.ecs_geo.p && slice_is(r.src, "::1"), "nulls are absent");
	is_int(scan_str(" { \"src\" : \"a\" , \"new\" : [1, {\"x\": \"]}\"}, true] } ", &r), 0,
		"white space, an unknown member with nested arrays and brackets in strings");
	ok(slice_is(r.src, "a"), "and the known one after it");
	is_int(scan_str("{\"src\":\"a\\\\\",\"zone\":\"z\"}", &r), 0, "a string ending in an escaped backslash");
	ok(slice_is(r.src, "a\\\\") && slice_is(r.zone, "z"), "ends where it should");
	is_int(scan_str("{\"src\":\"a\"", &r), -1, "cut: no closing brace");
	is_int(scan_str("{\"src\":\"a}", &r), -1, "cut inside a string");
	is_int(scan_str("{\"src\" \"a\"}", &r), -1, "no colon");
	is_int(scan_str("[1,2]", &r), -1, "not an object");
	is_int(scan_str("{\"a\":{\"b\":1}", &r), -1, "an unclosed nested object");
	is_int(scan_str("{\"src\":\"a\"} x", &r), -1, "bytes after the object");
	is_int(scan_str("{\"edns\":{\"ecs\":}}", &r), -1, "a member without a value inside edns");
	is_int(scan_str("", &r), -1, "empty");
}

static void test_unescape_and_time(void)
{
	char out[64];
	const char *esc = "\\u00d6st \\\"q\\\" \\ud83d\\ude00 \\ud800x \\n";
	rp_unescape((rp_slice_t){ esc, (uint32_t)strlen(esc) }, out, sizeof out);
	is_int(strcmp(out, "\xc3\x96st \"q\" \xf0\x9f\x98\x80 \xef\xbf\xbdx \n"), 0,
		"\\u escapes to UTF-8, a surrogate pair joined, a lone one U+FFFD");
	rp_unescape((rp_slice_t){ "abcdefgh", 8 }, out, 5);
	ok(strlen(out) < 5, "cut to the buffer");

	const char *t = "2026-11-21T21:41:15.123456Z";
	int64_t us = rp_parse_time((rp_slice_t){ t, (uint32_t)strlen(t) });
	is_int(us, 1795297275123456LL, "time parsed");
	char back[32];
	rp_format_time(us, back);
	is_int(strcmp(back, t), 0, "and formatted back");
	rp_format_time(951782400000000LL, back);   /* 2000-02-29 */
	is_int(strcmp(back, "2000-02-29T00:00:00.000000Z"), 0, "a leap day");
	const char *nofrac = "1970-01-01T00:00:01Z";
	is_int(rp_parse_time((rp_slice_t){ nofrac, (uint32_t)strlen(nofrac) }), 1000000, "no fraction");
	const char *bad[] = { "2026-13-01T00:00:00Z", "2026-11-21 21:41:15Z", "2026-11-21T21:41:15", "yesterday" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		is_int(rp_parse_time((rp_slice_t){ bad[i], (uint32_t)strlen(bad[i]) }), -1, "refused: %s", bad[i]);
}

/* Short keys (kept in the slot) and long ones (compared in the arena), all different. */
static int make_key(char *key, size_t cap, int i)
{
	if (i % 3)
		return snprintf(key, cap, "a10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
	return snprintf(key, cap, "s2001:db8:%x::/56-and-padding-to-be-longer-than-fifty-bytes", i);
}

static void test_intern(void)
{
	rp_intern_t *t = rp_intern_new();
	char key[80];
	int added, bad = 0;
	for (int i = 0; i < 100000; i++) {
		int n = make_key(key, sizeof key, i);
		bad += rp_intern(t, key, (size_t)n, &added) != (uint32_t)i || !added;
	}
	is_int(bad, 0, "100,000 keys get ids 0, 1, 2 ...");
	bad = 0;
	for (int i = 0; i < 100000; i++) {
		int n = make_key(key, sizeof key, i);
		uint32_t len;
		bad += rp_intern(t, key, (size_t)n, &added) != (uint32_t)i || added ||
			strcmp(rp_intern_str(t, (uint32_t)i, &len), key) || len != (uint32_t)n;
	}
	is_int(bad, 0, "and the same ids again, with their bytes");
	is_int(rp_intern_count(t), 100000, "count");
	rp_intern_free(t);
}

static void test_rsort(void)
{
	size_t n = 200000;
	rp_kv_t *a = malloc(n * sizeof *a);
	for (size_t i = 0; i < n; i++)
		a[i] = (rp_kv_t){ ((uint64_t)rand() << 20) % 1000003, (uint32_t)i, 0 };
	is_int(rp_radix_sort(a, n), 0, "sorts");
	int ordered = 1, stable = 1;
	for (size_t i = 1; i < n; i++) {
		ordered &= a[i - 1].key <= a[i].key;
		stable &= a[i - 1].key != a[i].key || a[i - 1].val < a[i].val;
	}
	ok(ordered, "ascending");
	ok(stable, "equal keys keep their order");
	free(a);
}

static void test_privacy(void)
{
	rp_privacy_t p = { .mode = RP_PRIV_TRUNCATE };
	char out[80];
	const char *cases[][2] = {
		{ "192.0.2.77", "192.0.2.0/24" }, { "89.160.20.112/28", "89.160.20.0/24" },
		{ "10.1.2.0/16", "10.1.0.0/16" }, { "2001:db8:1:2::5", "2001:db8:1::/48" },
		{ "2a02:1234:5678:9a00::/56", "2a02:1234:5678::/48" }, { "not an address", "not an address" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		rp_privacy_map(&p, cases[i][0], out, sizeof out);
		is_int(strcmp(out, cases[i][1]), 0, "truncate %s -> %s (got %s)", cases[i][0], cases[i][1], out);
	}
	p.mode = RP_PRIV_HASH;
	memcpy(p.key, "Jefe", 4);
	p.keylen = 4;
	rp_privacy_map(&p, "what do ya want for nothing?", out, sizeof out);
	is_int(strcmp(out, "h:5bdcc146bf60754e6a042426089575c7"), 0, "hash: HMAC-SHA-256 (RFC 4231 case 2), 128 bits");
}

int main(void)
{
	if (sk_crypto_init()) {
		ok(0, "libsodium");
		return tap_done();
	}
	test_scan();
	test_unescape_and_time();
	test_intern();
	test_rsort();
	test_privacy();
	return tap_done();
}
