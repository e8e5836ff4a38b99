/* test_cookie.c -- DNS cookies: RFC 9018 test vectors, verification rules, and whole replies */
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "crypto/crypto.h"
#include "db/snapshot.h"
#include "dns/cookie.h"
#include "dns/respond.h"
#include "tap.h"

/* ---- helpers ---- */

static void unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static size_t ip_of(const char *text, uint8_t ip[16])
{
	if (inet_pton(AF_INET, text, ip) == 1)
		return 4;
	inet_pton(AF_INET6, text, ip);
	return 16;
}

static sk_cookie_conf_t keys(const char *secret, const char *previous)
{
	sk_cookie_conf_t cc = { .enabled = true, .secret_given = true };
	unhex(secret, cc.secret, 16);
	if (previous) {
		unhex(previous, cc.previous[0], 16);
		cc.nprevious = 1;
	}
	return cc;
}

static bool same_hex(const uint8_t *got, const char *want, size_t n)
{
	uint8_t w[64];
	unhex(want, w, n);
	if (!memcmp(got, w, n))
		return true;
	printf("#   got  ");
	for (size_t i = 0; i < n; i++)
		printf("%02x", got[i]);
	printf("\n#   want %s\n", want);
	return false;
}

/* ---- RFC 9018 Appendix A, byte for byte ---- */

#define SECRET_A "e5e973e5a6b2a43f48e7dc849e37bfcf"

static void test_vectors(void)
{
	uint8_t ip[16], opt[40], reply[SK_COOKIE_LEN], sc[SK_COOKIE_SERVER_LEN];
	sk_cookie_conf_t cc = keys(SECRET_A, NULL);

	/* A.1: a client cookie alone gets a new server cookie. */
	size_t iplen = ip_of("198.51.100.100", ip);
	unhex("2464c4abcf10c957", opt, 8);
	sk_cookie_make(sc, opt, 1559731985, ip, iplen, cc.secret);
	ok(same_hex(sc, "010000005cf79f111f8130c3eee29480", 16), "A.1: server cookie");
	is_int(sk_cookie_answer(&cc, opt, 8, ip, iplen, 1559731985, reply), SK_COOKIE_CLIENT,
		"A.1: a client cookie alone");
	ok(same_hex(reply, "2464c4abcf10c957010000005cf79f111f8130c3eee29480", 24), "A.1: reply option");

	/* A.2: 40 minutes later the cookie still verifies, and is renewed (older than 30). */
	unhex("2464c4abcf10c957010000005cf79f111f8130c3eee29480", opt, 24);
	is_int(sk_cookie_answer(&cc, opt, 24, ip, iplen, 1559734385, reply), SK_COOKIE_VALID,
		"A.2: valid after 40 minutes");
	ok(same_hex(reply, "2464c4abcf10c957010000005cf7a871d4a564a1442aca77", 24), "A.2: renewed cookie");

	/* A.3: another client, whose cookie has reserved bytes set (hashed as received). */
	iplen = ip_of("203.0.113.203", ip);
	unhex("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", opt, 24);
	is_int(sk_cookie_answer(&cc, opt, 24, ip, iplen, 1559727985 + 60, reply), SK_COOKIE_VALID,
		"A.3: verifies over its non-zero reserved bytes a minute after it was made");
	ok(reply[8] == 1 && !reply[9] && !reply[10] && !reply[11] && sk_get32(reply + 12) == 1559727985 + 60,
		"A.3: renewed with zero reserved bytes, not echoed");
	/* The RFC's reply time is 1 h 52 min after the cookie: past the hour, so it is bad here,
	 * and the fresh cookie is the RFC's. */
	is_int(sk_cookie_answer(&cc, opt, 24, ip, iplen, 1559734700, reply), SK_COOKIE_BAD,
		"A.3: stale after 1 h 52 min");
	ok(same_hex(reply, "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e", 24), "A.3: reply option");

	/* A.4: IPv6, the secret rolled over; the old one is still accepted. */
	cc = keys("445536bcd2513298075a5d379663c962", "dd3bdf9344b678b185a6f5cb60fca715");
	iplen = ip_of("2001:db8:220:1:59de:d0f4:8769:82b8", ip);
	unhex("22681ab97d52c298010000005cf7c57926556bd0934c72f8", opt, 24);
	is_int(sk_cookie_answer(&cc, opt, 24, ip, iplen, 1559741961, reply), SK_COOKIE_VALID,
		"A.4: valid under the previous secret");
	ok(same_hex(reply, "22681ab97d52c298010000005cf7c609a6bb79d16625507a", 24),
		"A.4: renewed under the new secret, though only 2 minutes old");
	cc.nprevious = 0;
	is_int(sk_cookie_answer(&cc, opt, 24, ip, iplen, 1559741961, reply), SK_COOKIE_BAD,
		"A.4: bad once the old secret is dropped");
	ok(same_hex(reply, "22681ab97d52c298010000005cf7c609a6bb79d16625507a", 24),
		"A.4: the same fresh cookie");
}

/* ---- verification rules ---- */

#define T0 1700000000u

/* A cookie made at `t` for client cookie 0102..08 from 192.0.2.1 under SECRET_A, into opt. */
static void made_at(uint8_t opt[24], uint32_t t)
{
	uint8_t ip[16];
	sk_cookie_conf_t cc = keys(SECRET_A, NULL);
	size_t iplen = ip_of("192.0.2.1", ip);
	memcpy(opt, "\1\2\3\4\5\6\7\10", 8);
	sk_cookie_make(opt + 8, opt, t, ip, iplen, cc.secret);
}

static sk_cookie_state_t check_at(const uint8_t *opt, size_t len, const char *from, uint32_t now,
	const sk_cookie_conf_t *cc, uint8_t reply[24])
{
	uint8_t ip[16];
	size_t iplen = ip_of(from, ip);
	return sk_cookie_answer(cc, opt, len, ip, iplen, now, reply);
}

static void test_rules(void)
{
	uint8_t opt[40], reply[24];
	sk_cookie_conf_t cc = keys(SECRET_A, NULL);

	made_at(opt, T0);
	is_int(check_at(opt, 24, "192.0.2.1", T0 + 10, &cc, reply), SK_COOKIE_VALID, "fresh cookie: valid");
	ok(!memcmp(reply, opt, 24), "fresh cookie: sent back as it came (one SipHash)");
	is_int(check_at(opt, 24, "192.0.2.1", T0 + 1800, &cc, reply), SK_COOKIE_VALID, "30 minutes old: valid");
	ok(!memcmp(reply, opt, 24), "30 minutes old: still reused");
	is_int(check_at(opt, 24, "192.0.2.1", T0 + 1801, &cc, reply), SK_COOKIE_VALID, "30 min 1 s: valid");
	ok(sk_get32(reply + 12) == T0 + 1801 && memcmp(reply, opt, 24), "30 min 1 s: renewed, stamped now");
	is_int(check_at(opt, 24, "192.0.2.1", T0 + 3600, &cc, reply), SK_COOKIE_VALID, "one hour old: valid");
	is_int(check_at(opt, 24, "192.0.2.1", T0 + 3601, &cc, reply), SK_COOKIE_BAD, "one hour 1 s: stale");
	ok(!memcmp(reply, opt, 8) && sk_get32(reply + 12) == T0 + 3601, "stale: a fresh cookie instead");
	uint8_t again[24];
	is_int(check_at(reply, 24, "192.0.2.1", T0 + 3602, &cc, again), SK_COOKIE_VALID,
		"the fresh cookie verifies");
	is_int(check_at(opt, 24, "192.0.2.1", T0 - 300, &cc, reply), SK_COOKIE_VALID,
		"5 minutes in the future: valid (a sibling's clock)");
	is_int(check_at(opt, 24, "192.0.2.1", T0 - 301, &cc, reply), SK_COOKIE_BAD,
		"5 min 1 s in the future: bad");
	is_int(check_at(opt, 24, "192.0.2.2", T0 + 10, &cc, reply), SK_COOKIE_BAD, "another address: bad");
	ok(!memcmp(reply, opt, 8) && memcmp(reply + 16, opt + 16, 8), "another address: its own cookie");

	sk_cookie_conf_t other = keys("00112233445566778899aabbccddeeff", NULL);
	is_int(check_at(opt, 24, "192.0.2.1", T0 + 10, &other, reply), SK_COOKIE_BAD, "another secret: bad");
	other = keys("00112233445566778899aabbccddeeff", SECRET_A);
	is_int(check_at(opt, 24, "192.0.2.1", T0 + 10, &other, reply), SK_COOKIE_VALID,
		"a previous secret verifies");
	uint8_t fresh[16];
	uint8_t ip[16];
	size_t iplen = ip_of("192.0.2.1", ip);
	sk_cookie_make(fresh, opt, T0 + 10, ip, iplen, other.secret);
	ok(!memcmp(reply + 8, fresh, 16), "a previous secret's cookie is renewed under the current one");
	other.previous[1][0] = 1;
	other.nprevious = 2;
	memcpy(other.previous[1], other.previous[0], 16);
	memset(other.previous[0], 0x55, 16);
	is_int(check_at(opt, 24, "192.0.2.1", T0 + 10, &other, reply), SK_COOKIE_VALID,
		"the second previous secret is tried too");

	uint8_t bad[40];
	memcpy(bad, opt, 24);
	bad[0] ^= 1;
	is_int(check_at(bad, 24, "192.0.2.1", T0 + 10, &cc, reply), SK_COOKIE_BAD, "another client cookie: bad");
	ok(reply[0] == bad[0], "the client cookie sent is the one echoed");
	memcpy(bad, opt, 24);
	bad[23] ^= 0x80;
	is_int(check_at(bad, 24, "192.0.2.1", T0 + 10, &cc, reply), SK_COOKIE_BAD, "one bit of the hash: bad");
	memcpy(bad, opt, 24);
	bad[8] = 2;
	is_int(check_at(bad, 24, "192.0.2.1", T0 + 10, &cc, reply), SK_COOKIE_BAD, "version 2: bad");
	ok(reply[8] == 1, "answered with a version 1 cookie");
	memcpy(bad, opt, 24);
	bad[9] = 0x42;
	is_int(check_at(bad, 24, "192.0.2.1", T0 + 10, &cc, reply), SK_COOKIE_BAD,
		"reserved bytes changed after hashing: bad");
	is_int(check_at(opt, 16, "192.0.2.1", T0 + 10, &cc, reply), SK_COOKIE_BAD,
		"an 8-byte server cookie (not ours): bad");
	memset(bad + 24, 0, 16);
	is_int(check_at(bad, 40, "192.0.2.1", T0 + 10, &cc, reply), SK_COOKIE_BAD,
		"a 32-byte server cookie: bad");

	/* Timestamps are serial numbers: a cookie from just before 2^32 s is fine just after. */
	made_at(opt, 0xffffff00u);
	is_int(check_at(opt, 24, "192.0.2.1", 0x10, &cc, reply), SK_COOKIE_VALID, "valid across the wrap of 2^32");
	is_int(check_at(opt, 24, "192.0.2.1", 0xffffff00u + 3601, &cc, reply), SK_COOKIE_BAD,
		"stale across the wrap of 2^32");

	struct sockaddr_in6 m6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &m6.sin6_addr);
	inet_pton(AF_INET, "192.0.2.1", &s4.sin_addr);
	uint8_t a[16], b[16];
	ok(sk_cookie_addr((struct sockaddr *)&m6, a) == 4 && sk_cookie_addr((struct sockaddr *)&s4, b) == 4 &&
		!memcmp(a, b, 4), "sk_cookie_addr: mapped IPv6 is IPv4");
	is_int(sk_cookie_addr(NULL, a), 0, "sk_cookie_addr: no address");
}

/* ---- whole replies ---- */

static sk_snapshot_t snap;
static sk_conf_t conf;
static uint8_t out[65535];
static sk_resp_info_t info;

/* A query for www.example.org A with an OPT holding `opts` (raw options), `qd` questions. */
static size_t build(uint8_t *m, int qd, const uint8_t *opts, size_t olen)
{
	size_t n = 0;
	static const uint8_t head[] = { 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1 };
	memcpy(m, head, 12);
	m[5] = (uint8_t)qd;
	n = 12;
	if (qd) {
		memcpy(m + n, "\3www\7example\3org\0\0\1\0\1", 21);
		n += 21;
	}
	static const uint8_t opt[] = { 0, 0, 0x29, 0x04, 0xd0, 0, 0, 0, 0 };
	memcpy(m + n, opt, sizeof opt);
	n += sizeof opt;
	sk_put16(m + n, (uint16_t)olen);
	memcpy(m + n + 2, opts, olen);
	return n + 2 + olen;
}

/* A COOKIE option of `len` bytes from `cookie`. */
static size_t cookie_opt(uint8_t *o, const uint8_t *cookie, size_t len)
{
	sk_put16(o, SK_EDNS_COOKIE);
	sk_put16(o + 2, (uint16_t)len);
	memcpy(o + 4, cookie, len);
	return 4 + len;
}

typedef struct reply {
	bool decoded;
	unsigned rcode;          /* full: header and OPT's extended bits */
	unsigned qd, an;
	bool aa;
	int cookie_len;          /* -1: no COOKIE option in the reply */
	uint8_t cookie[40];
} reply_t;

static reply_t ask(const uint8_t *m, size_t n, int transport, const struct sockaddr *from, uint32_t now)
{
	reply_t r = { .cookie_len = -1 };
	sk_client_t client = { .addr = from, .now = now };
	size_t len = sk_respond(&snap, &client, m, n, transport, out, sizeof out, &info);
	ldns_pkt *p = NULL;
	if (!len || ldns_wire2pkt(&p, out, len) != LDNS_STATUS_OK)
		return r;
	r.decoded = true;
	r.rcode = (unsigned)ldns_pkt_get_rcode(p) | (unsigned)ldns_pkt_edns_extended_rcode(p) << 4;
	r.qd = ldns_pkt_qdcount(p);
	r.an = ldns_pkt_ancount(p);
	r.aa = ldns_pkt_aa(p);
	ldns_rdf *data = ldns_pkt_edns_data(p);
	const uint8_t *d = data ? ldns_rdf_data(data) : NULL;
	size_t dl = data ? ldns_rdf_size(data) : 0;
	for (size_t i = 0; d && i + 4 <= dl;) {
		uint16_t code = sk_get16(d + i), ol = sk_get16(d + i + 2);
		if (code == SK_EDNS_COOKIE && ol <= 40 && i + 4 + ol <= dl) {
			r.cookie_len = ol;
			memcpy(r.cookie, d + i + 4, ol);
		}
		i += 4u + ol;
	}
	ldns_pkt_free(p);
	return r;
}

static struct sockaddr_in from4(const char *a)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(5353) };
	inet_pton(AF_INET, a, &s.sin_addr);
	return s;
}

static void test_replies(void)
{
	uint8_t m[512], o[128];
	struct sockaddr_in c1 = from4("192.0.2.1"), c2 = from4("198.51.100.7");
	const struct sockaddr *a1 = (const struct sockaddr *)&c1, *a2 = (const struct sockaddr *)&c2;
	static const uint8_t cc8[8] = { 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8 };

	/* A client cookie alone: a normal answer, with our cookie. */
	size_t n = build(m, 1, o, cookie_opt(o, cc8, 8));
	reply_t r = ask(m, n, SK_TRANSPORT_UDP, a1, T0);
	ok(r.decoded && r.rcode == 0 && r.aa && r.an == 1, "client cookie: NOERROR, AA, the answer");
	is_int(r.cookie_len, 24, "client cookie: a 24-byte COOKIE comes back");
	ok(!memcmp(r.cookie, cc8, 8), "the client cookie echoed");
	uint8_t ip[16], want[16];
	sk_cookie_make(want, cc8, T0, ip, sk_cookie_addr(a1, ip), conf.cookies.secret);
	ok(!memcmp(r.cookie + 8, want, 16), "the server cookie is RFC 9018's for this address and time");
	is_int(info.cookie, SK_COOKIE_CLIENT, "info: client");

	/* Sent back: valid, and the same cookie again. */
	uint8_t full[24];
	memcpy(full, r.cookie, 24);
	n = build(m, 1, o, cookie_opt(o, full, 24));
	r = ask(m, n, SK_TRANSPORT_UDP, a1, T0 + 60);
	ok(r.decoded && r.rcode == 0 && r.an == 1, "valid cookie: answered");
	is_int(info.cookie, SK_COOKIE_VALID, "info: valid");
	ok(r.cookie_len == 24 && !memcmp(r.cookie, full, 24), "valid cookie: echoed unchanged");

	/* From another address: bad, answered anyway with a cookie of its own. */
	r = ask(m, n, SK_TRANSPORT_UDP, a2, T0 + 60);
	ok(r.decoded && r.rcode == 0 && r.an == 1, "bad cookie: still answered (cookies not required)");
	is_int(info.cookie, SK_COOKIE_BAD, "info: bad");
	ok(r.cookie_len == 24 && !memcmp(r.cookie, cc8, 8) && memcmp(r.cookie + 8, full + 8, 16),
		"bad cookie: a fresh server cookie");

	/* Every option length: 8 and 16..40 are cookies, anything else FORMERR (RFC 7873 s5.2.2). */
	uint8_t blob[48];
	memcpy(blob, full, 24);
	memset(blob + 24, 0xee, sizeof blob - 24);
	unsigned wrong = 0;
	for (size_t len = 0; len <= 48; len++) {
		n = build(m, 1, o, cookie_opt(o, blob, len));
		r = ask(m, n, SK_TRANSPORT_UDP, a1, T0 + 60);
		bool malformed = !(len == 8 || (len >= 16 && len <= 40));
		if (malformed ? r.rcode != 1 || r.cookie_len != -1 || info.cookie != SK_COOKIE_NONE :
		                r.rcode != 0 || r.cookie_len != 24) {
			printf("#   length %zu: rcode %u, cookie %d\n", len, r.rcode, r.cookie_len);
			wrong++;
		}
	}
	is_int(wrong, 0, "COOKIE lengths 0..48: FORMERR except 8 and 16..40");

	/* Only the first COOKIE counts; a malformed second one is ignored (RFC 7873 s5.2). */
	size_t ol = cookie_opt(o, full, 24);
	ol += cookie_opt(o + ol, blob, 3);
	n = build(m, 1, o, ol);
	r = ask(m, n, SK_TRANSPORT_UDP, a1, T0 + 60);
	ok(r.rcode == 0 && info.cookie == SK_COOKIE_VALID, "a second, malformed COOKIE is ignored");

	/* Other answers carry the cookie too: REFUSED outside our zones. */
	static const uint8_t other[] = { 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1,
		3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1 };
	memcpy(m, other, sizeof other);
	static const uint8_t opt_head[] = { 0, 0, 0x29, 0x04, 0xd0, 0, 0, 0, 0, 0, 12 };
	memcpy(m + sizeof other, opt_head, sizeof opt_head);
	cookie_opt(m + sizeof other + sizeof opt_head, cc8, 8);
	r = ask(m, sizeof other + sizeof opt_head + 12, SK_TRANSPORT_UDP, a1, T0);
	ok(r.rcode == 5 && r.cookie_len == 24, "REFUSED carries the cookie too");

	/* A query without a question (RFC 7873 s5.4): just the cookie. */
	n = build(m, 0, o, cookie_opt(o, cc8, 8));
	r = ask(m, n, SK_TRANSPORT_UDP, a1, T0);
	ok(r.decoded && r.rcode == 0 && r.qd == 0 && r.an == 0, "QDCOUNT 0 with a client cookie: NOERROR, empty");
	ok(r.cookie_len == 24 && !memcmp(r.cookie, cc8, 8), "QDCOUNT 0: a server cookie to use");
	n = build(m, 0, o, cookie_opt(o, full, 24));
	r = ask(m, n, SK_TRANSPORT_UDP, a1, T0 + 60);
	ok(r.rcode == 0 && info.cookie == SK_COOKIE_VALID, "QDCOUNT 0 with a valid cookie: NOERROR");
	r = ask(m, n, SK_TRANSPORT_UDP, a2, T0 + 60);
	ok(r.rcode == SK_RCODE_BADCOOKIE && r.cookie_len == 24, "QDCOUNT 0 with a bad cookie: BADCOOKIE, fresh cookie");
	n = build(m, 0, o, 0);
	r = ask(m, n, SK_TRANSPORT_UDP, a1, T0);
	ok(r.rcode == 1, "QDCOUNT 0 without a cookie: FORMERR");

	/* require: over UDP a valid server cookie or BADCOOKIE; over TCP never. */
	conf.cookies.require = true;
	n = build(m, 1, o, cookie_opt(o, cc8, 8));
	r = ask(m, n, SK_TRANSPORT_UDP, a1, T0);
	ok(r.decoded && r.rcode == SK_RCODE_BADCOOKIE, "require: client cookie over UDP: BADCOOKIE (23)");
	ok(r.qd == 1 && r.an == 0 && !r.aa, "BADCOOKIE: the question, no answer");
	ok(r.cookie_len == 24 && !memcmp(r.cookie + 8, want, 16), "BADCOOKIE: a cookie to retry with");
	is_int(out[3] & 0x0f, 7, "BADCOOKIE: header rcode 7, the rest in OPT");
	r = ask(m, n, SK_TRANSPORT_TCP, a1, T0);
	ok(r.rcode == 0 && r.an == 1 && r.cookie_len == 24, "require: over TCP answered");
	n = build(m, 1, o, cookie_opt(o, full, 24));
	r = ask(m, n, SK_TRANSPORT_UDP, a1, T0 + 60);
	ok(r.rcode == 0 && r.an == 1, "require: valid cookie over UDP answered");
	r = ask(m, n, SK_TRANSPORT_UDP, a2, T0 + 60);
	ok(r.rcode == SK_RCODE_BADCOOKIE, "require: bad cookie over UDP: BADCOOKIE");
	n = build(m, 1, o, 0);
	r = ask(m, n, SK_TRANSPORT_UDP, a1, T0);
	ok(r.rcode == 0 && r.an == 1 && r.cookie_len == -1, "require: no cookie at all: answered, no cookie");
	conf.cookies.require = false;

	/* Disabled: the option is ignored. */
	conf.cookies.enabled = false;
	n = build(m, 1, o, cookie_opt(o, full, 24));
	r = ask(m, n, SK_TRANSPORT_UDP, a1, T0);
	ok(r.rcode == 0 && r.an == 1 && r.cookie_len == -1, "disabled: answered without a cookie");
	is_int(info.cookie, SK_COOKIE_NONE, "disabled: nothing checked");
	n = build(m, 0, o, cookie_opt(o, cc8, 8));
	r = ask(m, n, SK_TRANSPORT_UDP, a1, T0);
	ok(r.rcode == 1, "disabled: QDCOUNT 0 is FORMERR again");
	conf.cookies.enabled = true;

	/* No address known (a fuzzer, a test): cookies still work, over no address. */
	n = build(m, 1, o, cookie_opt(o, cc8, 8));
	r = ask(m, n, SK_TRANSPORT_UDP, NULL, T0);
	ok(r.rcode == 0 && r.cookie_len == 24, "no client address: a cookie all the same");
}

int main(void)
{
	if (sk_crypto_init()) {
		ok(0, "libsodium initialises");
		return tap_done();
	}
	test_vectors();
	test_rules();

	const char *dir = getenv("SK_TESTDATA") ? getenv("SK_TESTDATA") : "tests/unit/data";
	char path[512];
	snprintf(path, sizeof path, "%s/respond/example.zone", dir);
	sk_zone_conf_t zone = { .file = path, .name = NULL, .line = 1 };
	conf = (sk_conf_t){ .path = "test.yml", .identity = "ns9.test.example", .version = "sinkholed test",
		.edns_size = 1232, .zones = &zone, .nzones = 1,
		.cookies = keys(SECRET_A, NULL) };
	sk_db_t *db = NULL;
	int rc = sk_db_build(&conf, &db);
	is_int(rc, 0, "test zone compiles");
	if (rc)
		return tap_done();
	snap = (sk_snapshot_t){ .conf = &conf, .db = db, .generation = 1 };
	test_replies();
	sk_db_free(db);
	return tap_done();
}
