/* test_telemetry.c -- tag sets, event filling, the JSON lines sink and a running telemetry thread */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dns/query.h"
#include "tap.h"
#include "telemetry/dnstext.h"
#include "telemetry/geojson.h"
#include "rrl/rrl.h"
#include "telemetry/jsonl.h"
#include "telemetry/record.h"
#include "telemetry/sinks.h"
#include "telemetry/telemetry.h"
#include "util/json.h"
#include "util/tagset.h"

static char tmpdir[256];
static const char *geodir;
static bool have_geo;

/* ---- helpers: files, JSON ---- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;
	if (!f)
		return NULL;
	do {
		if (n + 65536 > cap) {
			cap = cap * 2 + 65536;
			buf = realloc(buf, cap + 1);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* Split a file into its lines (the final newline required); returns the count, -1 if unreadable. */
static long read_lines(const char *path, char ***lines)
{
	size_t len;
	char *buf = slurp(path, &len);
	long n = 0;
	if (!buf)
		return -1;
	if (len && buf[len - 1] != '\n') {
		free(buf);
		return -2;
	}
	*lines = NULL;
	for (char *p = buf; *p; ) {
		char *e = strchr(p, '\n');
		*e = '\0';
		*lines = realloc(*lines, (size_t)(n + 1) * sizeof **lines);
		(*lines)[n++] = strdup(p);
		p = e + 1;
	}
	free(buf);
	return n;
}

static void free_lines(char **lines, long n)
{
	for (long i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

static long count_file_lines(const char *path)
{
	char **l;
	long n = read_lines(path, &l);
	if (n > 0)
		free_lines(l, n);
	return n;
}

static const char *js_value(const char *p, int depth);

static const char *js_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

static const char *js_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20)
			return NULL;
		if (c != '\\') {
			p++;
			continue;
		}
		p++;
		if (*p && strchr("\"\\/bfnrt", *p)) {
			p++;
		} else if (*p == 'u') {
			for (int i = 1; i <= 4; i++)
				if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
					return NULL;
			p += 5;
		} else {
			return NULL;
		}
	}
	return p + 1;
}

static const char *js_digits(const char *p)
{
	if (*p < '0' || *p > '9')
		return NULL;
	while (*p >= '0' && *p <= '9')
		p++;
	return p;
}

static const char *js_number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (!(p = js_digits(p)))
		return NULL;
	if (*p == '.' && !(p = js_digits(p + 1)))
		return NULL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(p = js_digits(p)))
			return NULL;
	}
	return p;
}

static const char *js_value(const char *p, int depth)
{
	if (depth > 32)
		return NULL;
	p = js_ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		bool obj = *p == '{';
		p = js_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (obj) {
				if (!(p = js_string(js_ws(p))))
					return NULL;
				p = js_ws(p);
				if (*p++ != ':')
					return NULL;
			}
			if (!(p = js_value(p, depth + 1)))
				return NULL;
			p = js_ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '"')
		return js_string(p);
	if (!strncmp(p, "true", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	if (!strncmp(p, "null", 4))
		return p + 4;
	return js_number(p);
}

static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
		if (!n || (n == 2 && *p < 0xc2))
			return false;
		for (int i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n;
	}
	return true;
}

/* One JSON object and nothing after it, in valid UTF-8. */
static bool valid_json_object(const char *line)
{
	const char *e;
	if (js_ws(line)[0] != '{' || !(e = js_value(line, 0)))
		return false;
	return *js_ws(e) == '\0' && valid_utf8(line);
}

/* The value of "seq" in a line, or 0. */
static unsigned long long seq_of(const char *line)
{
	const char *p = strstr(line, "\"seq\":");
	return p ? strtoull(p + 6, NULL, 10) : 0;
}

/* The line with "seq":N removed, for comparing lines whose order the thread decides. */
/* The line without its "seq" and "record_id" members (they follow each other), which differ
 * from run to run. */
static void strip_seq(const char *line, char *out, size_t cap)
{
	const char *p = strstr(line, "\"seq\":");
	const char *e = p ? strstr(p, ",\"record_id\":") : NULL;
	e = e ? strchr(e + 1, ',') : NULL;
	if (!p || !e) {
		snprintf(out, cap, "%s", line);
		return;
	}
	snprintf(out, cap, "%.*s%s", (int)(p - line), line, e + 1);
}

/* A line's record_id is "<node>:<run>:<seq>" with the line's own seq and the node given; stores
 * <run> in *run. */
static bool record_id_ok(const char *line, const char *node, unsigned long long *run)
{
	const char *p = strstr(line, "\"record_id\":\"");
	char *end;
	if (!p)
		return false;
	p += strlen("\"record_id\":\"");
	if (strncmp(p, node, strlen(node)) || p[strlen(node)] != ':')
		return false;
	p += strlen(node) + 1;
	*run = strtoull(p, &end, 10);
	if (end == p || *end != ':')
		return false;
	p = end + 1;
	unsigned long long seq = strtoull(p, &end, 10);
	return end != p && *end == '"' && seq == seq_of(line);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* ---- queries and events ---- */

/* A query for `name` (wire), with RD, and EDNS when ecs_family >= 0 (1 IPv4, 2 IPv6, 0 no ECS). */
static size_t make_query(uint8_t *m, uint16_t id, const uint8_t *name, size_t nlen, uint16_t qtype,
	int ecs_family, const char *ecs_addr, unsigned ecs_src, bool cookie, bool dnssec_ok)
{
	size_t o = 0;
	uint8_t a[16];
	m[o++] = (uint8_t)(id >> 8);
	m[o++] = (uint8_t)id;
	m[o++] = 0x01; /* RD */
	m[o++] = 0x00;
	m[o++] = 0; m[o++] = 1;
	m[o++] = 0; m[o++] = 0;
	m[o++] = 0; m[o++] = 0;
	m[o++] = 0; m[o++] = ecs_family >= 0;
	memcpy(m + o, name, nlen);
	o += nlen;
	m[o++] = (uint8_t)(qtype >> 8);
	m[o++] = (uint8_t)qtype;
	m[o++] = 0; m[o++] = 1;
	if (ecs_family < 0)
		return o;
	size_t rdlen_at;
	m[o++] = 0;                   /* root owner */
	m[o++] = 0; m[o++] = 41;      /* OPT */
	m[o++] = 0x04; m[o++] = 0xd0; /* 1232 */
	m[o++] = 0; m[o++] = 0;       /* extended rcode, version */
	m[o++] = dnssec_ok ? 0x80 : 0; m[o++] = 0;
	rdlen_at = o;
	o += 2;
	if (ecs_family > 0) {
		size_t alen = (ecs_src + 7) / 8;
		inet_pton(ecs_family == 1 ? AF_INET : AF_INET6, ecs_addr, a);
		m[o++] = 0; m[o++] = 8;
		m[o++] = 0; m[o++] = (uint8_t)(4 + alen);
		m[o++] = 0; m[o++] = (uint8_t)ecs_family;
		m[o++] = (uint8_t)ecs_src;
		m[o++] = 0;
		memcpy(m + o, a, alen);
		o += alen;
	}
	if (cookie) {
		m[o++] = 0; m[o++] = 10;
		m[o++] = 0; m[o++] = 8;
		memcpy(m + o, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
		o += 8;
	}
	m[rdlen_at] = (uint8_t)((o - rdlen_at - 2) >> 8);
	m[rdlen_at + 1] = (uint8_t)(o - rdlen_at - 2);
	return o;
}

static struct sockaddr_storage sa4(const char *addr, unsigned port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	memset(&ss, 0, sizeof ss);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, addr, &sin->sin_addr);
	return ss;
}

static struct sockaddr_storage sa6(const char *addr, unsigned port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	memset(&ss, 0, sizeof ss);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	inet_pton(AF_INET6, addr, &sin6->sin6_addr);
	return ss;
}

static const uint8_t www_aitism[] = "\3WwW\6aitism\3net";   /* 16 bytes with the final NUL */
static const uint8_t odd_name[] = "\7a\"b\\c\xff.\3net";    /* quote, backslash, 0xff, dot */

static const sk_tag_t case_tags[] = {
	{ "case", "1:24-cv-2323" },
	{ "operation", "Azure \"Abuse\" \\ Enterprise" },
};

/* The kinds of query the telemetry run sends, one after another. */
enum { K_GB_ECS_SE, K_MAPPED_ECS_US, K_LOCAL_TCP_NOEDNS, K_ODD_NAME, K_FORMERR, NKINDS };

#define FIXED_TIME 1795297275123456ull   /* 2026-11-21T21:41:15.123456Z */

/* Fill `ev` for query kind `k`, number i; the response data is made up as sk_respond would. */
static void fill_kind(sk_event_t *ev, int k, unsigned i)
{
	uint8_t msg[600];
	size_t len = 0;
	sk_resp_info_t info;
	struct sockaddr_storage src, dst = sa4("127.0.0.1", 53);
	const sk_tagset_t *tags = sk_tagset_intern(case_tags, 2);
	uint8_t zone_off = SK_EV_NO_ZONE;
	int transport = SK_TRANSPORT_UDP;

	memset(&info, 0, sizeof info);
	switch (k) {
	case K_GB_ECS_SE:
		len = make_query(msg, (uint16_t)i, www_aitism, sizeof www_aitism, 1, 1, "89.160.20.112", 28, true, false);
		src = sa4("81.2.69.142", 53001);
		zone_off = 4;
		info.cookie = SK_COOKIE_CLIENT;   /* sk_respond's verdict on its 8-byte cookie */
		break;
	case K_MAPPED_ECS_US:
		len = make_query(msg, (uint16_t)i, www_aitism, sizeof www_aitism, 28, 1, "216.160.83.56", 29, false, true);
		src = sa6("::ffff:89.160.20.112", 40000);
		dst = sa6("::ffff:127.0.0.1", 53);
		zone_off = 4;
		break;
	case K_LOCAL_TCP_NOEDNS:
		len = make_query(msg, (uint16_t)i, www_aitism, sizeof www_aitism, 65534, -1, NULL, 0, false, false);
		src = sa6("2001:db8::1", 12345);
		dst = sa6("2001:db8::53", 53);
		transport = SK_TRANSPORT_TCP;
		break;
	case K_ODD_NAME:
		len = make_query(msg, (uint16_t)i, odd_name, sizeof odd_name, 16, 1, "89.160.20.0", 24, false, false);
		src = sa4("127.0.0.1", 5353);
		break;
	default: /* a FORMERR: QDCOUNT 0 */
		len = make_query(msg, (uint16_t)i, www_aitism, sizeof www_aitism, 1, -1, NULL, 0, false, false);
		msg[5] = 0;
		src = sa4("192.0.2.7", 1);
		break;
	}
	sk_query_status_t st = sk_query_parse(&info.q, msg, len);
	info.status = st;
	if (st == SK_QUERY_OK) {
		info.rcode = k == K_LOCAL_TCP_NOEDNS ? 5 : 0;
		info.flags = 0x8000 | (k == K_LOCAL_TCP_NOEDNS ? 0 : 0x0400) | 0x0100;
		info.size = 64;
	} else {
		info.rcode = 1;
		info.flags = 0x8000;
		info.size = 12;
	}
	sk_event_fill(ev, &info, transport, (struct sockaddr *)&src, (struct sockaddr *)&dst,
		FIXED_TIME + i, zone_off == SK_EV_NO_ZONE ? NULL : tags, zone_off);
}

/* ---- tests ---- */

/* The geolocation object: only known fields, in order, numbers as documented, strings escaped. */
static void test_geojson(void)
{
	sk_geo_info_t g;
	char out[SK_GEOJSON_MAX + 1];
	size_t n;

	memset(&g, 0, sizeof g);
	n = sk_geojson(out, sizeof out, &g);
	out[n] = '\0';
	ok(n == 2 && !strcmp(out, "{}"), "geojson: an address in no database gives {} (%s)", out);

	g.asn = 4294967295u;
	strcpy(g.as_org, "Tab\there \"quoted\" \xff");
	n = sk_geojson(out, sizeof out, &g);
	out[n] = '\0';
	ok(!strcmp(out, "{\"asn\":4294967295,\"as_org\":\"Tab\\there \\\"quoted\\\" \xef\xbf\xbd\"}"),
		"geojson: ASN only, largest number, control byte, quotes and a stray byte escaped (%s)", out);

	memset(&g, 0, sizeof g);
	strcpy(g.country, "GB");
	g.has_location = true;
	g.latitude = -0.00004;     /* rounds to zero: no "-0.0000" */
	g.longitude = -179.99995;  /* rounds away from zero */
	n = sk_geojson(out, sizeof out, &g);
	out[n] = '\0';
	ok(!strcmp(out, "{\"country\":\"GB\",\"lat\":0.0000,\"lon\":-180.0000}"),
		"geojson: coordinates with four decimals, rounded, never -0 (%s)", out);

	g.latitude = 0.0 / 0.0;
	n = sk_geojson(out, sizeof out, &g);
	out[n] = '\0';
	ok(!strcmp(out, "{\"country\":\"GB\"}"), "geojson: a non-finite coordinate leaves both out (%s)", out);

	/* The worst case fits SK_GEOJSON_MAX; one byte less than the text is refused. */
	memset(&g, 0, sizeof g);
	memset(g.country, 1, sizeof g.country - 1);
	memset(g.region_code, 1, sizeof g.region_code - 1);
	memset(g.region, 1, sizeof g.region - 1);
	memset(g.city, 1, sizeof g.city - 1);
	memset(g.as_org, 1, sizeof g.as_org - 1);
	g.has_location = true;
	g.latitude = -99999.9999;
	g.longitude = -99999.9999;
	g.asn = 4294967295u;
	n = sk_geojson(out, SK_GEOJSON_MAX, &g);
	ok(n > 0 && n <= SK_GEOJSON_MAX, "geojson: every field at its worst fits SK_GEOJSON_MAX (%zu)", n);
	ok(n > 0 && sk_geojson(out, n - 1, &g) == 0 && sk_geojson(out, n, &g) == n,
		"geojson: refused (0) with one byte too few, exact with just enough");
}

static void test_json_escape(void)
{
	char out[64];
	size_t n = sk_json_escape(out, sizeof out, "a\"b\\c\n\x01\x7f", 8);
	ok(n != (size_t)-1 && !strcmp(out, "a\\\"b\\\\c\\n\\u0001\\u007f"), "escapes: %s", out);
	n = sk_json_escape(out, sizeof out, "Link\xc3\xb6ping", 10);
	ok(n == 10 && !strcmp(out, "Link\xc3\xb6ping"), "valid UTF-8 copied as it is");
	n = sk_json_escape(out, sizeof out, "a\xff" "b\xc3", 4);
	ok(!strcmp(out, "a\xef\xbf\xbd" "b\xef\xbf\xbd"), "invalid bytes and a cut sequence become U+FFFD");
	n = sk_json_escape(out, sizeof out, "\xed\xa0\x80\xc0\xaf", 5);
	ok(valid_utf8(out) && !strstr(out, "\xed\xa0"), "surrogates and overlong forms replaced");
	is_int((long long)sk_json_escape(out, 3, "abcd", 4), -1, "too small: (size_t)-1");
}

static void test_tagset(void)
{
	sk_tag_t a[2] = { { "case", "1:24-cv-2323" }, { "operation", "x" } };
	char k[] = "case", v[] = "1:24-cv-2323", k2[] = "operation", v2[] = "x";
	sk_tag_t b[2] = { { k, v }, { k2, v2 } };   /* equal contents, other memory */
	sk_tag_t c[2] = { { "case", "1:24-cv-2323" }, { "operation", "y" } };
	sk_tag_t d[2] = { { "ca", "se1:24-cv-2323" }, { "operation", "x" } };
	sk_tag_t esc[2] = { { "q\"k", "a\\b\n\x01" }, { "utf", "\xc3\x96stergötland\xff" } };
	const sk_tagset_t *ta = sk_tagset_intern(a, 2), *tb = sk_tagset_intern(b, 2);
	const sk_tagset_t *tc = sk_tagset_intern(c, 2), *td = sk_tagset_intern(d, 2);

	ok(ta && ta == tb, "equal sets: the same pointer");
	ok(tc && tc != ta, "a different value: another set");
	ok(td && td != ta, "the same bytes split differently: another set");
	ok(sk_tagset_intern(a, 1) != ta, "a prefix: another set");
	ok(ta->n == 2 && ta->tags[0].key != a[0].key && !strcmp(ta->tags[1].value, "x"),
		"the set holds its own copy");
	ok(ta && !strcmp(ta->json, "{\"case\":\"1:24-cv-2323\",\"operation\":\"x\"}"), "json: %s", ta->json);
	const sk_tagset_t *te = sk_tagset_intern(esc, 2);
	ok(te && !strcmp(te->json, "{\"q\\\"k\":\"a\\\\b\\n\\u0001\",\"utf\":\"\xc3\x96sterg\xc3\xb6tland\xef\xbf\xbd\"}"),
		"json escaped, valid UTF-8: %s", te ? te->json : "(null)");
	ok(te && valid_json_object(te->json), "tag JSON parses");
	const sk_tagset_t *t0 = sk_tagset_intern(NULL, 0);
	ok(t0 && t0->n == 0 && !strcmp(t0->json, "{}"), "no tags: the shared empty set {}");

	/* Many sets: pointers stay put while the table grows. */
	char keys[300][16];
	sk_tag_t many[300];
	const sk_tagset_t *first[300];
	int stable = 1;
	for (int i = 0; i < 300; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		many[i] = (sk_tag_t){ keys[i], "v" };
		first[i] = sk_tagset_intern(&many[i], 1);
	}
	for (int i = 0; i < 300; i++)
		stable &= sk_tagset_intern(&many[i], 1) == first[i];
	ok(stable && sk_tagset_intern(a, 2) == ta, "300 more sets: every pointer unchanged");
}

static void test_dnstext(void)
{
	char b[SK_DNSTEXT_MAX];
	ok(!strcmp(sk_dnstext_type(1, b), "A"), "type 1 A");
	ok(!strcmp(sk_dnstext_type(28, b), "AAAA"), "type 28 AAAA");
	ok(!strcmp(sk_dnstext_type(65, b), "HTTPS"), "type 65 HTTPS");
	ok(!strcmp(sk_dnstext_type(54, b), "TYPE54"), "type 54 unassigned");
	ok(!strcmp(sk_dnstext_type(65534, b), "TYPE65534"), "type 65534");
	ok(!strcmp(sk_dnstext_type(32769, b), "DLV"), "type 32769 DLV");
	ok(!strcmp(sk_dnstext_class(1, b), "IN") && !strcmp(sk_dnstext_class(3, b), "CH") &&
		!strcmp(sk_dnstext_class(7, b), "CLASS7"), "classes");
	ok(!strcmp(sk_dnstext_rcode(3, b), "NXDOMAIN") && !strcmp(sk_dnstext_rcode(16, b), "BADVERS") &&
		!strcmp(sk_dnstext_rcode(23, b), "BADCOOKIE") && !strcmp(sk_dnstext_rcode(12, b), "RCODE12") &&
		!strcmp(sk_dnstext_rcode(4095, b), "RCODE4095"), "rcodes");
	ok(!strcmp(sk_dnstext_opcode(0, b), "QUERY") && !strcmp(sk_dnstext_opcode(3, b), "OPCODE3") &&
		!strcmp(sk_dnstext_opcode(5, b), "UPDATE"), "opcodes");
}

static void test_event_fill(void)
{
	sk_event_t ev;
	uint8_t big[600];
	sk_resp_info_t info;
	struct sockaddr_storage src = sa6("::ffff:89.160.20.112", 53001), dst = sa4("127.0.0.1", 53);
	const sk_tagset_t *tags = sk_tagset_intern(case_tags, 2);

	memset(&ev, 0xa5, sizeof ev);
	fill_kind(&ev, K_GB_ECS_SE, 0x1234);
	is_int(ev.family, 4, "IPv4 source");
	ok(!memcmp(ev.src, "\x51\x02\x45\x8e", 4), "source 81.2.69.142");
	is_int(ev.sport, 53001, "source port");
	is_int(ev.dport, 53, "destination port");
	is_int(ev.id, 0x1234, "query id");
	is_int(ev.qflags, 0x0100, "query flags: RD");
	is_int(ev.flags, SK_EV_PARSED | SK_EV_EDNS | SK_EV_ECS | SK_EV_COOKIE, "flags: parsed, EDNS, ECS, cookie");
	is_int(ev.cookie, SK_COOKIE_CLIENT, "cookie state copied from sk_respond's info");
	is_int(ev.qname_len, 16, "qname length");
	ok(!memcmp(ev.query + 12, www_aitism, 16), "qname keeps the client's letter case");
	is_int(ev.qtype, 1, "qtype");
	is_int(ev.qclass, 1, "qclass");
	is_int(ev.edns_size, 1232, "EDNS size");
	is_int(ev.ecs_family, 1, "ECS family");
	is_int(ev.ecs_source, 28, "ECS source prefix");
	ok(!memcmp(ev.ecs_addr, "\x59\xa0\x14\x70", 4), "ECS address");
	is_int(ev.zone_off, 4, "zone offset");
	ok(ev.tags == tags, "tags");
	is_int(ev.rsize, 64, "reply size");
	is_int(ev.time_us, FIXED_TIME + 0x1234, "time");
	ok(!(ev.flags & SK_EV_CUT), "not cut");

	fill_kind(&ev, K_FORMERR, 7);
	is_int(ev.flags, 0, "FORMERR without a question: no flags");
	is_int(ev.qname_len, 0, "no qname");
	is_int(ev.zone_off, SK_EV_NO_ZONE, "no zone");
	ok(ev.tags == NULL, "no tags");
	is_int(ev.id, 7, "the id is still there");

	/* A message longer than the event keeps its start. */
	memset(&info, 0, sizeof info);
	size_t len = make_query(big, 1, www_aitism, sizeof www_aitism, 1, 0, NULL, 0, false, false);
	sk_query_parse(&info.q, big, len);
	memset(big + len, 0, sizeof big - len);
	info.q.len = sizeof big;
	sk_event_fill(&ev, &info, SK_TRANSPORT_TCP, (struct sockaddr *)&src, (struct sockaddr *)&dst, 1,
		tags, 4);
	ok(ev.flags & SK_EV_CUT, "600 bytes: cut");
	is_int(ev.qlen, SK_EV_QUERY_MAX, "qlen is the maximum");
	is_int(ev.family, 4, "IPv4-mapped source stored as IPv4");
	ok(!memcmp(ev.src, "\x59\xa0\x14\x70", 4), "mapped address 89.160.20.112");
	is_int(ev.transport, SK_TRANSPORT_TCP, "transport");
}

static sk_conf_t *make_conf(const char *file, unsigned ring, bool geo)
{
	static char path[512], city[512], asn[512];
	static sk_jsonl_conf_t jc;
	static sk_conf_t c;
	memset(&c, 0, sizeof c);
	snprintf(path, sizeof path, "%s/%s", tmpdir, file);
	snprintf(city, sizeof city, "%s/GeoLite2-City-Test.mmdb", geodir);
	snprintf(asn, sizeof asn, "%s/GeoLite2-ASN-Test.mmdb", geodir);
	jc = (sk_jsonl_conf_t){ .path = path, .rotate_mb = 256, .keep = 3 };
	c.identity = "ns9.sinkhole.example";
	c.telemetry = (sk_telemetry_conf_t){ .ring_size = ring, .flush_ms = 20, .stats_interval_s = 0,
		.jsonl = &jc };
	if (geo && have_geo) {
		c.geoip_city = city;
		c.geoip_asn = asn;
	}
	return &c;
}

/* Push one event of kind k into ring r; false when the ring was full. */
static bool push(sk_ring_t *r, int k, unsigned i)
{
	sk_event_t *ev = sk_ring_reserve(r);
	if (!ev)
		return false;
	fill_kind(ev, k, i);
	sk_ring_commit(r);
	return true;
}

static const char *const want_line[NKINDS] = {
	[K_GB_ECS_SE] = "{\"time\":\"2026-11-21T21:41:15.123461Z\",\"node\":\"ns9.sinkhole.example\","
		"\"transport\":\"udp\",\"src\":\"81.2.69.142\",\"sport\":53001,\"dst\":\"127.0.0.1\",\"dport\":53,"
		"\"id\":5,\"opcode\":\"QUERY\",\"flags\":\"rd\",\"qname\":\"WwW.aitism.net.\",\"qtype\":\"A\","
		"\"qclass\":\"IN\",\"edns\":{\"size\":1232,\"do\":false,\"ecs\":\"89.160.20.112/28\",\"cookie\":true,"
		"\"cookie_state\":\"client\",\"nsid\":false},\"rcode\":\"NOERROR\",\"aa\":true,\"tc\":false,\"size\":64,\"zone\":\"aitism.net.\","
		"\"tags\":{\"case\":\"1:24-cv-2323\",\"operation\":\"Azure \\\"Abuse\\\" \\\\ Enterprise\"},"
		"\"geo\":{\"country\":\"GB\",\"region_code\":\"ENG\",\"region\":\"England\",\"city\":\"London\","
		"\"lat\":51.5142,\"lon\":-0.0931},"
		"\"ecs_geo\":{\"country\":\"SE\",\"region_code\":\"E\",\"region\":\"\xc3\x96sterg\xc3\xb6tland County\","
		"\"city\":\"Link\xc3\xb6ping\",\"lat\":58.4167,\"lon\":15.6167,\"asn\":29518,\"as_org\":\"Bredband2 AB\"},\"rrl\":null}",
	[K_MAPPED_ECS_US] = "{\"time\":\"2026-11-21T21:41:15.123462Z\",\"node\":\"ns9.sinkhole.example\","
		"\"transport\":\"udp\",\"src\":\"89.160.20.112\",\"sport\":40000,\"dst\":\"127.0.0.1\",\"dport\":53,"
		"\"id\":6,\"opcode\":\"QUERY\",\"flags\":\"rd\",\"qname\":\"WwW.aitism.net.\",\"qtype\":\"AAAA\","
		"\"qclass\":\"IN\",\"edns\":{\"size\":1232,\"do\":true,\"ecs\":\"216.160.83.56/29\",\"cookie\":false,"
		"\"cookie_state\":null,\"nsid\":false},\"rcode\":\"NOERROR\",\"aa\":true,\"tc\":false,\"size\":64,\"zone\":\"aitism.net.\","
		"\"tags\":{\"case\":\"1:24-cv-2323\",\"operation\":\"Azure \\\"Abuse\\\" \\\\ Enterprise\"},"
		"\"geo\":{\"country\":\"SE\",\"region_code\":\"E\",\"region\":\"\xc3\x96sterg\xc3\xb6tland County\","
		"\"city\":\"Link\xc3\xb6ping\",\"lat\":58.4167,\"lon\":15.6167,\"asn\":29518,\"as_org\":\"Bredband2 AB\"},"
		"\"ecs_geo\":{\"country\":\"US\",\"region_code\":\"WA\",\"region\":\"Washington\",\"city\":\"Milton\","
		"\"lat\":47.2513,\"lon\":-122.3149,\"asn\":209},\"rrl\":null}",
	[K_LOCAL_TCP_NOEDNS] = "{\"time\":\"2026-11-21T21:41:15.123463Z\",\"node\":\"ns9.sinkhole.example\","
		"\"transport\":\"tcp\",\"src\":\"2001:db8::1\",\"sport\":12345,\"dst\":\"2001:db8::53\",\"dport\":53,"
		"\"id\":7,\"opcode\":\"QUERY\",\"flags\":\"rd\",\"qname\":\"WwW.aitism.net.\",\"qtype\":\"TYPE65534\","
		"\"qclass\":\"IN\",\"edns\":null,\"rcode\":\"REFUSED\",\"aa\":false,\"tc\":false,\"size\":64,"
		"\"zone\":null,\"tags\":null,\"geo\":{},\"ecs_geo\":null,\"rrl\":null}",
	[K_ODD_NAME] = "{\"time\":\"2026-11-21T21:41:15.123464Z\",\"node\":\"ns9.sinkhole.example\","
		"\"transport\":\"udp\",\"src\":\"127.0.0.1\",\"sport\":5353,\"dst\":\"127.0.0.1\",\"dport\":53,"
		"\"id\":8,\"opcode\":\"QUERY\",\"flags\":\"rd\",\"qname\":\"a\\\\\\\"b\\\\\\\\c\\\\255\\\\..net.\","
		"\"qtype\":\"TXT\",\"qclass\":\"IN\",\"edns\":{\"size\":1232,\"do\":false,\"ecs\":\"89.160.20.0/24\","
		"\"cookie\":false,\"cookie_state\":null,\"nsid\":false},\"rcode\":\"NOERROR\",\"aa\":true,\"tc\":false,\"size\":64,"
		"\"zone\":null,\"tags\":null,\"geo\":{},\"ecs_geo\":{\"asn\":29518,\"as_org\":\"Bredband2 AB\"},\"rrl\":null}",
	[K_FORMERR] = "{\"time\":\"2026-11-21T21:41:15.123465Z\",\"node\":\"ns9.sinkhole.example\","
		"\"transport\":\"udp\",\"src\":\"192.0.2.7\",\"sport\":1,\"dst\":\"127.0.0.1\",\"dport\":53,"
		"\"id\":9,\"opcode\":\"QUERY\",\"flags\":\"rd\",\"qname\":null,\"qtype\":null,\"qclass\":null,"
		"\"edns\":null,\"rcode\":\"FORMERR\",\"aa\":false,\"tc\":false,\"size\":12,\"zone\":null,"
		"\"tags\":null,\"geo\":{},\"ecs_geo\":null,\"rrl\":null}",
};

#define NRUN 1000u

static void test_run(void)
{
	sk_telemetry_t *t = NULL;
	sk_telemetry_stats_t st;
	struct stat sb;
	char **lines = NULL;
	char got[4096];
	mode_t old = umask(077);   /* fchmod must win over a strict umask */
	int rc = sk_telemetry_start(make_conf("run.jsonl", 1024, true), 2, &t);
	umask(old);

	is_int(rc, 0, "telemetry starts with a jsonl sink%s", have_geo ? " and the test geo databases" : "");
	if (rc < 0 || !t)
		return;
	ok(sk_telemetry_ring(t, 0) && sk_telemetry_ring(t, 1) && sk_telemetry_ring(t, 0) != sk_telemetry_ring(t, 1),
		"one ring per worker");
	ok(sk_telemetry_ring(t, 2) == NULL, "no ring past the last worker");
	unsigned pushed = 0;
	for (unsigned i = 0; i < NRUN; i++) {
		/* Worker 0 and 1 alternate; one producer per ring at a time is all the ring asks. */
		while (!push(sk_telemetry_ring(t, i & 1), (int)(i % NKINDS), i))
			sleep_ms(1);
		pushed++;
	}
	sk_telemetry_stop(t);

	char path[512];
	snprintf(path, sizeof path, "%s/run.jsonl", tmpdir);
	ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640, "file mode 0640 (umask 077): %o",
		(unsigned)(sb.st_mode & 0777));
	long n = read_lines(path, &lines);
	is_int(n, NRUN, "exactly %u lines after stop", NRUN);
	int all_valid = 1, seq_ok = 1, id_ok = 1;
	unsigned long long run0 = 0, run = 0;
	char *seen = calloc(NRUN + 1, 1);
	for (long i = 0; i < n; i++) {
		unsigned long long s = seq_of(lines[i]);
		if (!record_id_ok(lines[i], "ns9.sinkhole.example", &run) || (i > 0 && run != run0)) {
			if (id_ok)
				printf("# bad record_id: %s\n", lines[i]);
			id_ok = 0;
		}
		run0 = run;
		if (!valid_json_object(lines[i])) {
			if (all_valid)
				printf("# not JSON: %s\n", lines[i]);
			all_valid = 0;
		}
		if (s < 1 || s > NRUN || seen[s])
			seq_ok = 0;
		else
			seen[s] = 1;
	}
	free(seen);
	ok(all_valid, "every line is one valid JSON object in valid UTF-8");
	ok(seq_ok, "seq: 1..%u, each once", NRUN);
	ok(id_ok && run0 > 1500000000000000ull, "record_id: node:run:seq, one run (the start time in us)");

	/* Records 5..9 (one of each kind) against the full expected text. */
	for (int k = 0; k < NKINDS && n > 0; k++) {
		char id[32];
		const char *line = NULL;
		snprintf(id, sizeof id, ",\"id\":%d,", 5 + k);
		for (long i = 0; i < n && !line; i++)
			if (strstr(lines[i], id))
				line = lines[i];
		if (!have_geo) {
			ok(line != NULL, "record %d present (geo databases missing: not compared)", 5 + k);
			continue;
		}
		strip_seq(line ? line : "", got, sizeof got);
		ok(!strcmp(got, want_line[(5 + k) % NKINDS]), "record of kind %d as expected", (5 + k) % NKINDS);
		if (strcmp(got, want_line[(5 + k) % NKINDS]))
			printf("#   got  %s\n#   want %s\n", got, want_line[(5 + k) % NKINDS]);
	}
	free_lines(lines, n);
	(void)st;
}

/* Drops: a tiny ring filled far faster than the thread drains it. */
static void test_drops(void)
{
	sk_telemetry_t *t = NULL;
	sk_telemetry_stats_t st;
	unsigned pushed = 20000, accepted = 0;
	char path[512];

	if (sk_telemetry_start(make_conf("drops.jsonl", 64, false), 1, &t) < 0 || !t) {
		ok(0, "start for the drop test");
		return;
	}
	for (unsigned i = 0; i < pushed; i++)
		accepted += push(sk_telemetry_ring(t, 0), K_GB_ECS_SE, i);
	sleep_ms(100);
	sk_telemetry_stats(t, &st);
	is_int(st.nsinks, 1, "one sink");
	ok(st.sink[0].name && !strcmp(st.sink[0].name, "jsonl"), "named jsonl");
	is_int(st.processed + st.dropped, pushed, "processed + dropped == pushed (while running)");
	sk_telemetry_stop(t);
	snprintf(path, sizeof path, "%s/drops.jsonl", tmpdir);
	long n = count_file_lines(path);
	is_int(n, accepted, "every accepted event is in the file");
	is_int(n + (long)(pushed - accepted), pushed, "lines + dropped == pushed");
	printf("# %u pushed, %u dropped by the ring of 64\n", pushed, pushed - accepted);
}

/* SIGHUP with a corrupt database keeps the old one; one without geoip turns it off. */
static void test_reload(void)
{
	sk_telemetry_t *t = NULL;
	char bad[512], path[512], **lines;
	if (!have_geo) {
		ok(1, "# SKIP reload: no geo test databases (%s)", geodir);
		return;
	}
	if (sk_telemetry_start(make_conf("reload.jsonl", 1024, true), 1, &t) < 0 || !t) {
		ok(0, "start for the reload test");
		return;
	}
	sk_conf_t *c = make_conf("reload.jsonl", 1024, true);
	snprintf(bad, sizeof bad, "%s/bad/libmaxminddb-corrupt-search-tree.mmdb", geodir);
	c->geoip_city = bad;
	ok(sk_telemetry_reload(t, c) < 0, "reload with a corrupt database fails");
	sleep_ms(20);
	push(sk_telemetry_ring(t, 0), K_GB_ECS_SE, 1);
	sleep_ms(50);
	c = make_conf("reload.jsonl", 1024, false);
	c->identity = "ns10.sinkhole.example";
	is_int(sk_telemetry_reload(t, c), 0, "reload without geoip succeeds");
	sleep_ms(50);
	push(sk_telemetry_ring(t, 0), K_GB_ECS_SE, 2);
	sk_telemetry_stop(t);
	snprintf(path, sizeof path, "%s/reload.jsonl", tmpdir);
	long n = read_lines(path, &lines);
	is_int(n, 2, "two records");
	if (n == 2) {
		ok(strstr(lines[0], "\"city\":\"London\"") && strstr(lines[0], "ns9."),
			"after a failed reload: the old databases, the old node");
		ok(strstr(lines[1], "\"geo\":null,\"ecs_geo\":null") && strstr(lines[1], "\"node\":\"ns10."),
			"after a reload without geoip: geo null, new node");
		free_lines(lines, n);
	}
}

/* SIGUSR1 after logrotate moved the file: new records go to a new file at the same path. */
static void test_reopen(void)
{
	sk_telemetry_t *t = NULL;
	char path[512], moved[512];
	if (sk_telemetry_start(make_conf("reopen.jsonl", 1024, false), 1, &t) < 0 || !t) {
		ok(0, "start for the reopen test");
		return;
	}
	snprintf(path, sizeof path, "%s/reopen.jsonl", tmpdir);
	snprintf(moved, sizeof moved, "%s/reopen.jsonl.old", tmpdir);
	for (unsigned i = 0; i < 10; i++)
		push(sk_telemetry_ring(t, 0), K_FORMERR, i);
	sleep_ms(100);   /* flush_ms is 20 */
	ok(rename(path, moved) == 0, "file moved away");
	for (unsigned i = 0; i < 3; i++)
		push(sk_telemetry_ring(t, 0), K_FORMERR, i);
	sleep_ms(10);
	sk_telemetry_reopen(t);
	sleep_ms(50);
	for (unsigned i = 0; i < 7; i++)
		push(sk_telemetry_ring(t, 0), K_FORMERR, i);
	sk_telemetry_stop(t);
	long a = count_file_lines(moved), b = count_file_lines(path);
	is_int(a + b, 20, "20 records in all");
	ok(a >= 10 && b >= 7, "old file kept its records (%ld), the new one has the later ones (%ld)", a, b);
}

/* The sink alone: size rotation keeps exactly `keep` old files of whole lines. */
static void test_rotation(void)
{
	char path[512], name[600];
	sk_jsonl_conf_t jc = { .path = path, .rotate_mb = 1, .keep = 2 };
	sk_sink_stats_t st;
	sk_event_t ev;
	void *s = NULL;
	const unsigned N = 10000;

	snprintf(path, sizeof path, "%s/rot.jsonl", tmpdir);
	if (sk_jsonl_ops.open(&s, &jc) < 0) {
		ok(0, "open the sink");
		return;
	}
	fill_kind(&ev, K_GB_ECS_SE, 1);
	sk_record_t rec = { .ev = &ev, .node = "n", .qname = "WwW.aitism.net.", .zone = "aitism.net.",
		.src = "81.2.69.142", .dst = "127.0.0.1", .ecs = "89.160.20.112/28" };
	for (unsigned i = 1; i <= N; i++) {
		rec.seq = i;
		sk_jsonl_ops.emit(s, &rec);
		if (i % 1000 == 0)
			sk_jsonl_ops.flush(s);
	}
	sk_jsonl_ops.stats(s, &st);
	sk_jsonl_ops.close(s, NULL);
	is_int(st.written, N, "all %u written", N);
	is_int(st.failed, 0, "none failed");
	long total = 0;
	int sizes_ok = 1;
	for (int i = 0; i <= 3; i++) {
		struct stat sb;
		if (i)
			snprintf(name, sizeof name, "%s.%d", path, i);
		else
			snprintf(name, sizeof name, "%s", path);
		if (i == 3) {
			ok(stat(name, &sb) < 0 && errno == ENOENT, "no %s: only keep=2 old files", name + strlen(tmpdir) + 1);
			break;
		}
		ok(stat(name, &sb) == 0, "%s exists", name + strlen(tmpdir) + 1);
		if (sb.st_size > (1 << 20))
			sizes_ok = 0;
		long n = count_file_lines(name);
		ok(n > 0, "%s: whole lines (%ld)", name + strlen(tmpdir) + 1, n);
		total += n > 0 ? n : 0;
		if (i == 1)
			ok(sb.st_size > (1 << 20) - 2048, "a rotated file is filled up to the limit (%lld bytes)",
				(long long)sb.st_size);
	}
	ok(sizes_ok, "no file over 1 MiB");
	ok(total < N, "the oldest records were deleted with the oldest file (%ld kept)", total);
	char **lines;
	long n = read_lines(path, &lines);
	ok(n > 0 && seq_of(lines[n - 1]) == N, "the current file ends with the last record");
	if (n > 0)
		free_lines(lines, n);
}

/* A full disk (/dev/full behind a symlink): records are counted as failed, memory does not grow,
 * and writing resumes by itself when the destination works again. */
static void test_write_error(void)
{
	char link[512], real[512];
	sk_jsonl_conf_t jc = { .path = link, .rotate_mb = 0, .keep = 0 };
	sk_sink_stats_t st;
	sk_event_t ev;
	void *s = NULL;

	snprintf(link, sizeof link, "%s/full.jsonl", tmpdir);
	snprintf(real, sizeof real, "%s/full-real.jsonl", tmpdir);
	if (symlink("/dev/full", link) < 0 || sk_jsonl_ops.open(&s, &jc) < 0) {
		ok(1, "# SKIP write errors: no /dev/full");
		return;
	}
	fill_kind(&ev, K_FORMERR, 1);
	sk_record_t rec = { .ev = &ev, .node = "n", .src = "192.0.2.7", .dst = "127.0.0.1" };
	for (int i = 0; i < 10; i++)
		sk_jsonl_ops.emit(s, &rec);
	ok(sk_jsonl_ops.flush(s) == -ENOSPC, "flush to a full disk: -ENOSPC");
	sk_jsonl_ops.stats(s, &st);
	ok(st.written == 0 && st.failed == 10, "10 records failed, none written");
	for (int i = 0; i < 5; i++)
		sk_jsonl_ops.emit(s, &rec);
	sk_jsonl_ops.flush(s);
	sk_jsonl_ops.stats(s, &st);
	is_int(st.failed, 15, "the failed buffer was dropped, not retried: 15 failed");
	/* The disk "recovers": the path now leads to a writable file. */
	unlink(link);
	symlink(real, link);
	for (int i = 0; i < 7; i++)
		sk_jsonl_ops.emit(s, &rec);
	is_int(sk_jsonl_ops.flush(s), 0, "writing resumes by itself");
	sk_jsonl_ops.stats(s, &st);
	ok(st.written == 7 && st.failed == 15, "7 written, 15 failed");
	for (int i = 0; i < 3; i++)
		sk_jsonl_ops.emit(s, &rec);
	sk_jsonl_ops.close(s, NULL);   /* close flushes */
	is_int(count_file_lines(real), 10, "10 lines in the file, the last 3 written by close");
	sk_jsonl_ops.close(NULL, NULL);
}

static void test_no_sinks(void)
{
	sk_conf_t c;
	sk_telemetry_t *t = (sk_telemetry_t *)&c;
	sk_telemetry_stats_t st;
	memset(&c, 0, sizeof c);
	c.telemetry.ring_size = 64;
	is_int(sk_telemetry_start(&c, 2, &t), 0, "no sink: start succeeds");
	ok(t == NULL, "no sink: telemetry off, NULL");
	ok(sk_telemetry_ring(NULL, 0) == NULL, "no ring from NULL");
	sk_telemetry_reopen(NULL);
	is_int(sk_telemetry_reload(NULL, &c), 0, "reload NULL");
	sk_telemetry_stats(NULL, &st);
	ok(st.processed == 0 && st.nsinks == 0, "stats of NULL: zero");
	sk_telemetry_stop(NULL);

	sk_jsonl_conf_t jc = { .path = "/nonexistent-dir/x.jsonl", .rotate_mb = 1, .keep = 1 };
	c.telemetry.jsonl = &jc;
	t = (sk_telemetry_t *)&c;
	ok(sk_telemetry_start(&c, 1, &t) == -ENOENT && t == (sk_telemetry_t *)&c,
		"an unopenable file: -ENOENT, nothing started, *out untouched");
	c.geoip_city = "/nonexistent.mmdb";
	jc.path = "/tmp/never-created-by-test.jsonl";
	ok(sk_telemetry_start(&c, 1, &t) < 0 && t == (sk_telemetry_t *)&c, "an unopenable geo database: error");
	ok(access(jc.path, F_OK) < 0, "nothing created when geo fails first");
}

/* The dnstap row of the sink table: used when built in, a clear refusal when not. */
static void test_dnstap_row(void)
{
	char path[512];
	sk_conf_t *c = make_conf("unused.jsonl", 1024, false);
	sk_dnstap_conf_t dc = { .mode = SK_DNSTAP_FILE, .path = path, .responses = true };
	sk_telemetry_t *t = NULL;
	sk_telemetry_stats_t st;
	struct stat sb;

	snprintf(path, sizeof path, "%s/events.tap", tmpdir);
	c->telemetry.jsonl = NULL;
	c->telemetry.dnstap = &dc;
	int rc = sk_telemetry_start(c, 1, &t);
	if (rc == -ENOTSUP) {
		ok(t == NULL, "built without dnstap: a dnstap config is refused with -ENOTSUP");
		return;
	}
	is_int(rc, 0, "telemetry starts with the dnstap sink");
	if (rc < 0)
		return;
	for (unsigned i = 0; i < 10; i++)
		push(sk_telemetry_ring(t, 0), K_GB_ECS_SE, i);
	sleep_ms(50);
	sk_telemetry_stats(t, &st);
	ok(st.nsinks == 1 && st.sink[0].name && !strcmp(st.sink[0].name, "dnstap"), "the one sink is dnstap");
	sk_telemetry_stop(t);
	ok(stat(path, &sb) == 0 && sb.st_size > 0, "the dnstap file was written");
}

/* What rate limiting did is the last field: null, "pass", "slip" (the truncated reply's size and
 * TC) or "drop" (no reply: rcode null, size 0). */
/* With no sink that reads them (dnstap alone), the query name and addresses are not made into
 * text; the zone, which dnstap's extra carries, still is. */
static void test_no_texts(void)
{
	static sk_recbuf_t b;
	sk_event_t ev;

	fill_kind(&ev, K_GB_ECS_SE, 13);
	sk_record_build(&b, &ev, "n", 1, NULL, NULL);
	ok(b.rec.qname && b.rec.src && b.rec.dst && b.rec.zone, "texts made by default");
	b.no_texts = true;
	sk_record_build(&b, &ev, "n", 2, NULL, NULL);
	ok(!b.rec.qname && !b.rec.src && !b.rec.dst, "no_texts: no query name, no addresses");
	ok(b.rec.zone && b.rec.ecs, "no_texts: the zone and the ECS subnet still");
}

/* The texts' shortcuts: a query name that needs no escaping is marked so (JSON takes it as it
 * is), an odd one is not; our own address's text is kept while it stays the same and made again
 * when it changes, whatever the order of families. */
static void test_text_shortcuts(void)
{
	static sk_recbuf_t b;
	sk_event_t ev;
	const int kinds[] = { K_GB_ECS_SE, K_ODD_NAME, K_LOCAL_TCP_NOEDNS, K_GB_ECS_SE, K_LOCAL_TCP_NOEDNS,
		K_FORMERR, K_MAPPED_ECS_US };
	int right = 1;
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
		char want[INET6_ADDRSTRLEN];
		fill_kind(&ev, kinds[i], (int)i);
		if (i == 3)
			ev.dst[3] = 9;   /* another IPv4 address of ours */
		sk_record_build(&b, &ev, "n", i + 1, NULL, NULL);
		inet_ntop(ev.family == 6 ? AF_INET6 : AF_INET, ev.dst, want, sizeof want);
		if (!b.rec.dst || strcmp(b.rec.dst, want) || b.rec.dst_len != strlen(want) ||
		    !b.rec.src || b.rec.src_len != strlen(b.rec.src)) {
			printf("#   record %zu: dst %s (%zu), want %s\n", i, b.rec.dst ? b.rec.dst : "NULL",
				b.rec.dst_len, want);
			right = 0;
		}
		if (kinds[i] == K_ODD_NAME)
			ok(b.rec.qname && !b.rec.qname_plain && b.rec.qname_len == strlen(b.rec.qname),
				"a name with escapes is not plain");
		if (kinds[i] == K_GB_ECS_SE && i == 0)
			ok(b.rec.qname && b.rec.qname_plain && b.rec.qname_len == strlen(b.rec.qname),
				"WwW.aitism.net. is plain");
		if (kinds[i] == K_FORMERR)
			ok(!b.rec.qname && !b.rec.qname_plain, "no question: no name");
	}
	ok(right, "our own address's text right after every change (IPv4, IPv6, another IPv4)");
}

/* The zone's JSON text is made when the zone changes and reused while it does not: every record
 * gets its own zone's, in any order of zones (here, suffixes of one query name in turn). */
static void test_zone_json(void)
{
	static sk_recbuf_t b;
	sk_event_t ev;
	int right = 1, kinds = 0, changes = 0;
	char prev[SK_NAME_TEXT_MAX] = "";
	uint8_t offs[8];
	unsigned nl = 0;

	fill_kind(&ev, K_GB_ECS_SE, 20);
	for (unsigned p = 0; p < ev.qname_len && ev.query[SK_HDR_LEN + p] && nl < 8;
	     p += ev.query[SK_HDR_LEN + p] + 1u)
		offs[nl++] = (uint8_t)p;
	const unsigned order[] = { 0, 0, 1, 1, 0, 2, 1, 2, 2, 0 };
	for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
		char want[2200];
		ev.zone_off = offs[order[i] < nl ? order[i] : 0];
		sk_record_build(&b, &ev, "n", i + 1, NULL, NULL);
		if (!b.rec.zone) {
			right = 0;
			continue;
		}
		kinds++;
		changes += strcmp(prev, b.rec.zone) != 0;
		snprintf(prev, sizeof prev, "%s", b.rec.zone);
		want[0] = '"';
		size_t n = sk_json_escape(want + 1, sizeof want - 2, b.rec.zone, strlen(b.rec.zone));
		want[n + 1] = '"';
		want[n + 2] = '\0';
		right &= b.rec.zone_json && b.rec.zone_json_len == n + 2 && !strcmp(b.rec.zone_json, want);
	}
	ok(right && nl >= 3 && changes >= 6, "zone JSON right for each of %d records, the zone "
		"changing %d times", kinds, changes);
}

/* The node is escaped once per identity (sk_record_set_id), and lines show it as before. */
static void test_node_json(void)
{
	static sk_recbuf_t b;
	sk_jsonl_clock_t clock = { 0 };
	sk_event_t ev;
	char line[4096];
	const char *node = "ns\"9\\x\tz";

	fill_kind(&ev, K_LOCAL_TCP_NOEDNS, 12);
	sk_record_set_id(&b, node, 42);
	sk_record_build(&b, &ev, node, 7, NULL, NULL);
	ok(b.rec.node_json && !strcmp(b.rec.node_json, "\"ns\\\"9\\\\x\\tz\"") &&
		b.rec.node_json_len == strlen(b.rec.node_json), "node as JSON, escaped once: %s",
		b.rec.node_json ? b.rec.node_json : "(null)");
	is_int(b.rec.rid_prefix_len, strlen("ns_9_x_z:42"), "the id prefix's length is kept");
	size_t n = sk_jsonl_format(line, sizeof line, &b.rec, &clock);
	ok(n && strstr(line, ",\"node\":\"ns\\\"9\\\\x\\tz\",\"seq\":7,\"record_id\":\"ns_9_x_z:42:7\","),
		"the line names the node and the id as escaped text");
	/* Without set_id (no precomputed text) the formatter escapes the node itself, the same way. */
	static sk_recbuf_t b2;
	sk_record_build(&b2, &ev, node, 7, NULL, NULL);
	char line2[4096];
	size_t n2 = sk_jsonl_format(line2, sizeof line2, &b2.rec, &clock);
	ok(n2 && strstr(line2, ",\"node\":\"ns\\\"9\\\\x\\tz\",\"seq\":7,\"record_id\":null,"),
		"without set_id: the same node text, escaped per record");
}

static void test_rrl_field(void)
{
	static sk_recbuf_t b;
	sk_jsonl_clock_t clock = { 0 };
	sk_event_t ev;
	char line[4096];

	fill_kind(&ev, K_LOCAL_TCP_NOEDNS, 11);
	is_int(ev.rrl, SK_RRL_NONE, "sk_event_fill: rrl none until the worker says");
	sk_record_build(&b, &ev, "ns9.sinkhole.example", 1, NULL, NULL);
	size_t n = sk_jsonl_format(line, sizeof line, &b.rec, &clock);
	ok(n && strstr(line, ",\"geo\":null,\"ecs_geo\":null,\"rrl\":null}\n"), "not limited: \"rrl\":null, last");

	ev.transport = SK_TRANSPORT_UDP;
	ev.rrl = SK_RRL_PASS;
	n = sk_jsonl_format(line, sizeof line, &b.rec, &clock);
	ok(n && strstr(line, "\"rcode\":\"REFUSED\",\"aa\":false,\"tc\":false,\"size\":64,") &&
		strstr(line, ",\"rrl\":\"pass\"}\n"), "within the rate: \"rrl\":\"pass\", the reply as built");

	ev.rrl = SK_RRL_SLIP;
	ev.rflags |= 0x0200;
	ev.rsize = 40;
	n = sk_jsonl_format(line, sizeof line, &b.rec, &clock);
	ok(n && strstr(line, "\"rcode\":\"REFUSED\",\"aa\":false,\"tc\":true,\"size\":40,") &&
		strstr(line, ",\"rrl\":\"slip\"}\n"), "slipped: \"rrl\":\"slip\", TC and the truncated size");

	ev.rrl = SK_RRL_DROP;
	ev.rsize = 0;
	n = sk_jsonl_format(line, sizeof line, &b.rec, &clock);
	ok(n && strstr(line, "\"rcode\":null,\"aa\":false,\"tc\":false,\"size\":0,") &&
		strstr(line, ",\"rrl\":\"drop\"}\n") && strstr(line, "\"qname\":\"WwW.aitism.net.\""),
		"dropped: \"rrl\":\"drop\", no reply, the query still recorded");
}

static void rm_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[1024];
	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(tmpdir);
}

int main(void)
{
	char probe[600];
	geodir = getenv("SK_GEOIP_TESTDATA");
	if (!geodir)
		geodir = "../shared/testdata/geoip";
	snprintf(probe, sizeof probe, "%s/GeoLite2-City-Test.mmdb", geodir);
	have_geo = access(probe, R_OK) == 0;
	if (!have_geo)
		printf("# geo test databases not found in %s: geolocation not checked\n", geodir);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/sk-test-telemetry-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	test_json_escape();
	test_geojson();
	test_tagset();
	test_dnstext();
	test_rrl_field();
	test_node_json();
	test_no_texts();
	test_text_shortcuts();
	test_zone_json();
	test_event_fill();
	test_run();
	test_drops();
	test_reload();
	test_reopen();
	test_rotation();
	test_write_error();
	test_no_sinks();
	test_dnstap_row();
	rm_tmpdir();
	sk_tagset_free_all();
	return tap_done();
}
