/* test_rrl.c -- rate limiting accounts: rate, window, slip cadence, prefixes, exemptions, kinds,
 * a full table, workers racing on it, and the slipped reply */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dns/wire.h"
#include "rrl/rrl.h"
#include "tap.h"

#define SEC 1000000ull
#define T0 (1700000000ull * SEC)   /* a realistic wall clock, as the server passes */

static const sk_zone_t *const ZONE = (const sk_zone_t *)&ZONE;   /* only compared with NULL */

static sk_rrl_conf_t conf(unsigned rate, unsigned window, unsigned slip)
{
	return (sk_rrl_conf_t){ .enabled = true, .responses_per_second = rate,
		.nxdomains_per_second = rate, .errors_per_second = rate, .window = window, .slip = slip,
		.ipv4_prefix = 24, .ipv6_prefix = 56, .table_size = 1024 };
}

static struct sockaddr_storage addr(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(5300);
	} else if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(5300);
	} else {
		fprintf(stderr, "bad test address %s\n", text);
		exit(2);
	}
	return ss;
}

/* The info sk_respond would leave: a lowercased wire name and the reply's outcome. */
static sk_resp_info_t reply(const char *name, uint16_t qtype, uint16_t rcode)
{
	sk_resp_info_t in;
	memset(&in, 0, sizeof in);
	size_t o = 0;
	for (const char *p = name; *p; ) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		in.q.lname[o++] = (uint8_t)n;
		memcpy(in.q.lname + o, p, n);
		o += n;
		p += n + (dot ? 1 : 0);
	}
	in.q.lname[o++] = 0;
	in.q.qname_len = (uint8_t)o;
	in.q.qtype = qtype;
	in.q.qclass = 1;
	in.q.has_question = true;
	in.rcode = rcode;
	return in;
}

/* The offset of the label `suffix` starts at in info's name (for apex_off and wild_off). */
static uint8_t off_of(const sk_resp_info_t *in, const char *suffix)
{
	size_t o = 0;
	size_t want = 1 + strlen(suffix) + 1;   /* wire length of the suffix */
	while (o < in->q.qname_len && in->q.qname_len - o != want)
		o += in->q.lname[o] + 1u;
	return (uint8_t)o;
}

static sk_rrl_action_t acct(sk_rrl_t *r, const sk_rrl_conf_t *c, const char *src,
	const sk_resp_info_t *in, uint64_t now)
{
	struct sockaddr_storage ss = addr(src);
	return sk_rrl_account(r, c, (const struct sockaddr *)&ss, in, now);
}

/* Count the actions of n replies at the same instant. */
static void burst(sk_rrl_t *r, const sk_rrl_conf_t *c, const char *src, const sk_resp_info_t *in,
	uint64_t now, unsigned n, unsigned count[4])
{
	memset(count, 0, 4 * sizeof *count);
	for (unsigned i = 0; i < n; i++)
		count[acct(r, c, src, in, now)]++;
}

static sk_rrl_t *table(unsigned entries)
{
	sk_rrl_t *r = NULL;
	if (sk_rrl_new(entries, &r)) {
		fprintf(stderr, "sk_rrl_new(%u) failed\n", entries);
		exit(2);
	}
	return r;
}

static void test_new(void)
{
	sk_rrl_t *r = NULL;
	is_int(sk_rrl_new(0, &r), -EINVAL, "0 entries: -EINVAL");
	is_int(sk_rrl_new(4, &r), -EINVAL, "fewer than one bucket: -EINVAL");
	is_int(sk_rrl_new(1000, &r), -EINVAL, "not a power of two: -EINVAL");
	ok(r == NULL, "nothing stored on failure");
	is_int(sk_rrl_new(64, &r), 0, "64 entries");
	is_int(sk_rrl_entries(r), 64, "entries reported");
	sk_rrl_free(r);
	sk_rrl_free(NULL);
	ok(!strcmp(sk_rrl_action_text(SK_RRL_PASS), "pass") && !strcmp(sk_rrl_action_text(SK_RRL_SLIP), "slip") &&
		!strcmp(sk_rrl_action_text(SK_RRL_DROP), "drop") && !sk_rrl_action_text(SK_RRL_NONE),
		"action texts: pass, slip, drop; none has no text");
}

/* A burst gets exactly `rate` answers; then slip 2 alternates drop, slip. */
static void test_rate_and_slip(void)
{
	sk_rrl_t *r = table(1024);
	sk_rrl_conf_t c = conf(5, 15, 2);
	sk_resp_info_t in = reply("www.example.test", SK_TYPE_A, SK_RCODE_NOERROR);
	sk_rrl_action_t seq[12];
	for (unsigned i = 0; i < 12; i++)
		seq[i] = acct(r, &c, "192.0.2.1", &in, T0);
	ok(seq[0] == SK_RRL_PASS && seq[4] == SK_RRL_PASS, "the first 5 of a burst pass");
	unsigned pass = 0;
	for (unsigned i = 0; i < 12; i++)
		pass += seq[i] == SK_RRL_PASS;
	is_int(pass, 5, "exactly the rate passes in one instant");
	ok(seq[5] == SK_RRL_DROP && seq[6] == SK_RRL_SLIP && seq[7] == SK_RRL_DROP &&
		seq[8] == SK_RRL_SLIP && seq[10] == SK_RRL_SLIP && seq[11] == SK_RRL_DROP, "slip 2: drop, slip, drop, slip ...");

	/* slip 3: two drops, then a slip; slip 1: every limited reply slips; slip 0: none does. */
	unsigned n[4];
	c.slip = 3;
	burst(r, &c, "192.0.3.1", &in, T0, 5 + 30, n);
	ok(n[SK_RRL_PASS] == 5 && n[SK_RRL_SLIP] == 10 && n[SK_RRL_DROP] == 20, "slip 3: 10 of 30 limited slip");
	c.slip = 1;
	burst(r, &c, "192.0.4.1", &in, T0, 5 + 30, n);
	ok(n[SK_RRL_PASS] == 5 && n[SK_RRL_SLIP] == 30 && n[SK_RRL_DROP] == 0, "slip 1: every limited reply slips");
	c.slip = 0;
	burst(r, &c, "192.0.5.1", &in, T0, 5 + 30, n);
	ok(n[SK_RRL_PASS] == 5 && n[SK_RRL_SLIP] == 0 && n[SK_RRL_DROP] == 30, "slip 0: every limited reply is dropped");
	sk_rrl_free(r);
}

/* Time pays the debt back at the rate; a source above the rate stays limited (BIND's accounting). */
static void test_time(void)
{
	sk_rrl_t *r = table(1024);
	sk_rrl_conf_t c = conf(5, 15, 0);
	sk_resp_info_t in = reply("www.example.test", SK_TYPE_A, SK_RCODE_NOERROR);
	unsigned pass = 0;

	for (unsigned i = 0; i < 50; i++)
		pass += acct(r, &c, "192.0.2.1", &in, T0 + i * SEC / 5) == SK_RRL_PASS;
	is_int(pass, 50, "exactly at the rate (5/s for 10 s): never limited");

	pass = 0;
	for (unsigned i = 0; i < 100; i++)
		pass += acct(r, &c, "198.51.100.1", &in, T0 + i * SEC / 10) == SK_RRL_PASS;
	/* Each reply adds 0.2 s of debt, each 0.1 s pays 0.1 back: 0.2 + 0.1k <= 1 s for k <= 8. */
	is_int(pass, 9, "twice the rate for 10 s: the first 9 pass, then all is limited");

	pass = 0;
	for (unsigned i = 0; i < 40; i++)
		pass += acct(r, &c, "203.0.113.1", &in, T0 + i * SEC / 4) == SK_RRL_PASS;
	/* 4/s against 5/s: every reply passes. */
	is_int(pass, 40, "below the rate: never limited");
	sk_rrl_free(r);
}

/* A flood runs up at most `window` seconds of debt beyond the bucket: quiet for that long, answered. */
static void test_window(void)
{
	sk_rrl_t *r = table(1024);
	sk_rrl_conf_t c = conf(5, 3, 0);
	sk_resp_info_t in = reply("www.example.test", SK_TYPE_A, SK_RCODE_NOERROR);
	unsigned n[4];

	/* Two sources flood alike: 1000 replies at T0 cap each debt at 1 + 3 s. */
	burst(r, &c, "192.0.2.1", &in, T0, 1000, n);
	ok(n[SK_RRL_PASS] == 5 && n[SK_RRL_DROP] == 995, "flood: 5 pass, 995 dropped");
	burst(r, &c, "192.0.3.1", &in, T0, 1000, n);
	is_int(acct(r, &c, "192.0.2.1", &in, T0 + 3 * SEC - 1), SK_RRL_DROP,
		"just under the window later: still limited");
	is_int(acct(r, &c, "192.0.3.1", &in, T0 + 3 * SEC + SEC / 5), SK_RRL_PASS,
		"window + 1/rate later: answered (the debt was capped at the window)");
	burst(r, &c, "198.51.100.1", &in, T0, 1000, n);
	is_int(acct(r, &c, "198.51.100.1", &in, T0 + 3600 * SEC), SK_RRL_PASS, "an hour later: answered");
	burst(r, &c, "198.51.100.1", &in, T0 + 3600 * SEC, 10, n);
	is_int(n[SK_RRL_PASS], 4, "... with a full bucket again (4 more this instant)");

	/* A longer window keeps a flooder out longer. */
	c.window = 15;
	burst(r, &c, "203.0.113.1", &in, T0, 1000, n);
	is_int(acct(r, &c, "203.0.113.1", &in, T0 + 10 * SEC), SK_RRL_DROP, "window 15: still limited after 10 s");
	is_int(acct(r, &c, "203.0.113.1", &in, T0 + 16 * SEC), SK_RRL_PASS, "window 15: answered after 16 s");

	/* A worker whose batch clock lags another's by a second: the debt reads as capped. */
	burst(r, &c, "203.0.113.2", &in, T0, 1000, n);
	is_int(acct(r, &c, "203.0.113.2", &in, T0 - SEC), SK_RRL_DROP, "a clock 1 s behind: still limited");
	/* The clock stepping far back: no harm, the account reads as paid off. */
	sk_rrl_action_t a = acct(r, &c, "203.0.113.1", &in, T0 - 120 * SEC);
	ok(a == SK_RRL_PASS, "a clock 120 s back: answered");
	sk_rrl_free(r);
}

/* Sources are counted by prefix: /24 and /56 by default, configurable; IPv4-mapped is IPv4. */
static void test_prefixes(void)
{
	sk_rrl_t *r = table(1024);
	sk_rrl_conf_t c = conf(4, 15, 0);
	sk_resp_info_t in = reply("www.example.test", SK_TYPE_A, SK_RCODE_NOERROR);
	unsigned pass = 0;
	static const char *const same24[] = { "192.0.2.1", "192.0.2.200", "::ffff:192.0.2.7", "192.0.2.255" };

	for (unsigned i = 0; i < 20; i++)
		pass += acct(r, &c, same24[i % 4], &in, T0) == SK_RRL_PASS;
	is_int(pass, 4, "192.0.2.1, .200, .255 and ::ffff:192.0.2.7 share one /24 account");
	is_int(acct(r, &c, "192.0.3.1", &in, T0), SK_RRL_PASS, "192.0.3.1: another /24, its own account");

	static const char *const same56[] = { "2001:db8:0:ff::1", "2001:db8:0:1::2", "2001:db8::ffff" };
	pass = 0;
	for (unsigned i = 0; i < 21; i++)
		pass += acct(r, &c, same56[i % 3], &in, T0) == SK_RRL_PASS;
	is_int(pass, 4, "2001:db8:0:ff::1, 2001:db8:0:1::2 and 2001:db8::ffff share one /56 account");
	is_int(acct(r, &c, "2001:db8:0:100::1", &in, T0), SK_RRL_PASS, "2001:db8:0:100::1: another /56");
	is_int(acct(r, &c, "2001:db8:1::1", &in, T0), SK_RRL_PASS, "2001:db8:1::1: another /56");

	/* ipv4_prefix 32: every address alone; ipv6_prefix 0: all of IPv6 together. */
	c.ipv4_prefix = 32;
	c.ipv6_prefix = 0;
	for (unsigned i = 0; i < 4; i++)
		acct(r, &c, "198.51.100.1", &in, T0);
	is_int(acct(r, &c, "198.51.100.1", &in, T0), SK_RRL_DROP, "/32: 198.51.100.1 limited");
	is_int(acct(r, &c, "198.51.100.2", &in, T0), SK_RRL_PASS, "/32: 198.51.100.2 is not");
	for (unsigned i = 0; i < 4; i++)
		acct(r, &c, "2001:db8:aaaa::1", &in, T0);
	is_int(acct(r, &c, "fd00::1", &in, T0), SK_RRL_DROP, "/0 for IPv6: one account for every address");
	is_int(acct(r, &c, "203.0.113.9", &in, T0), SK_RRL_PASS, "... which IPv4 does not share");
	sk_rrl_free(r);
}

static void test_exempt(void)
{
	sk_rrl_t *r = table(1024);
	sk_rrl_conf_t c = conf(2, 15, 2);
	sk_prefix_t ex[3] = {
		{ .family = AF_INET, .len = 24, .addr = { 198, 51, 100, 0 } },
		{ .family = AF_INET6, .len = 48, .addr = { 0x20, 0x01, 0x0d, 0xb8, 0x00, 0xff } },
		{ .family = AF_INET, .len = 31, .addr = { 203, 0, 113, 8 } },
	};
	sk_resp_info_t in = reply("www.example.test", SK_TYPE_A, SK_RCODE_NOERROR);
	unsigned n[4];

	c.exempt = ex;
	c.nexempt = 3;
	burst(r, &c, "198.51.100.77", &in, T0, 100, n);
	is_int(n[SK_RRL_NONE], 100, "198.51.100.0/24 exempt: 100 of 100 not accounted");
	burst(r, &c, "::ffff:198.51.100.1", &in, T0, 10, n);
	is_int(n[SK_RRL_NONE], 10, "the same exempt prefix as IPv4-mapped");
	burst(r, &c, "2001:db8:ff:1234::1", &in, T0, 100, n);
	is_int(n[SK_RRL_NONE], 100, "2001:db8:ff::/48 exempt");
	burst(r, &c, "203.0.113.9", &in, T0, 10, n);
	is_int(n[SK_RRL_NONE], 10, "203.0.113.8/31 covers .9");
	burst(r, &c, "203.0.113.10", &in, T0, 10, n);
	ok(n[SK_RRL_PASS] == 2 && n[SK_RRL_DROP] + n[SK_RRL_SLIP] == 8, "203.0.113.10 is outside /31: limited");
	burst(r, &c, "198.51.101.1", &in, T0, 10, n);
	ok(n[SK_RRL_PASS] == 2 && n[SK_RRL_DROP] == 4 && n[SK_RRL_SLIP] == 4, "the next /24 is limited");
	burst(r, &c, "2001:db8:fe::1", &in, T0, 10, n);
	is_int(n[SK_RRL_PASS], 2, "the next /48 is limited");

	/* A reload that drops the exemption: the same source is accounted from then on. */
	c.nexempt = 0;
	burst(r, &c, "198.51.100.77", &in, T0, 10, n);
	is_int(n[SK_RRL_PASS], 2, "exemption removed: limited");
	sk_rrl_free(r);
}

/* What an account is keyed on, besides the prefix. */
static void test_kinds(void)
{
	sk_rrl_t *r = table(4096);
	sk_rrl_conf_t c = conf(3, 15, 0);
	unsigned n[4];

	/* Positive answers: per name and type. */
	sk_resp_info_t a = reply("www.example.test", SK_TYPE_A, SK_RCODE_NOERROR);
	sk_resp_info_t aaaa = reply("www.example.test", SK_TYPE_AAAA, SK_RCODE_NOERROR);
	sk_resp_info_t other = reply("mail.example.test", SK_TYPE_A, SK_RCODE_NOERROR);
	burst(r, &c, "192.0.2.1", &a, T0, 10, n);
	is_int(n[SK_RRL_PASS], 3, "www A: 3 of 10");
	burst(r, &c, "192.0.2.1", &aaaa, T0, 10, n);
	is_int(n[SK_RRL_PASS], 3, "www AAAA: an account of its own");
	burst(r, &c, "192.0.2.1", &other, T0, 10, n);
	is_int(n[SK_RRL_PASS], 3, "mail A: an account of its own");

	/* Wildcard answers: one account for every name the same wildcard answers. */
	unsigned pass = 0;
	for (unsigned i = 0; i < 10; i++) {
		char name[64];
		snprintf(name, sizeof name, "dga%u.example.test", i);
		sk_resp_info_t w = reply(name, SK_TYPE_A, SK_RCODE_NOERROR);
		w.zone = ZONE;
		w.wild_off = off_of(&w, "example.test");
		pass += acct(r, &c, "192.0.2.1", &w, T0) == SK_RRL_PASS;
	}
	is_int(pass, 3, "10 names from one wildcard: 3 answered in all");
	sk_resp_info_t exact = reply("example.test", SK_TYPE_A, SK_RCODE_NOERROR);
	burst(r, &c, "192.0.2.1", &exact, T0, 10, n);
	is_int(n[SK_RRL_PASS], 3, "the wildcard's encloser itself: not the wildcard's account");

	/* NXDOMAIN: per zone, whatever the name. */
	pass = 0;
	for (unsigned i = 0; i < 10; i++) {
		char name[64];
		snprintf(name, sizeof name, "nx%u.sub.example.test", i);
		sk_resp_info_t nx = reply(name, SK_TYPE_A + i, SK_RCODE_NXDOMAIN);
		nx.zone = ZONE;
		nx.apex_off = off_of(&nx, "example.test");
		pass += acct(r, &c, "192.0.2.1", &nx, T0) == SK_RRL_PASS;
	}
	is_int(pass, 3, "10 NXDOMAIN names and types in one zone: 3 answered in all");
	sk_resp_info_t nx2 = reply("nx.example.org", SK_TYPE_A, SK_RCODE_NXDOMAIN);
	nx2.zone = ZONE;
	nx2.apex_off = off_of(&nx2, "example.org");
	burst(r, &c, "192.0.2.1", &nx2, T0, 10, n);
	is_int(n[SK_RRL_PASS], 3, "NXDOMAIN in another zone: its own account");

	/* Errors: per prefix alone; every error rcode together. */
	pass = 0;
	static const uint16_t rcodes[] = { SK_RCODE_REFUSED, SK_RCODE_FORMERR, SK_RCODE_NOTIMP,
		SK_RCODE_SERVFAIL, SK_RCODE_NOTAUTH, SK_RCODE_BADVERS };
	for (unsigned i = 0; i < 12; i++) {
		char name[64];
		snprintf(name, sizeof name, "x%u.elsewhere.test", i);
		sk_resp_info_t e = reply(name, SK_TYPE_A, rcodes[i % 6]);
		if (i == 1)
			e.q.has_question = false;   /* a FORMERR without a readable question */
		pass += acct(r, &c, "192.0.2.1", &e, T0) == SK_RRL_PASS;
	}
	is_int(pass, 3, "12 errors, 6 rcodes, 12 names: one account, 3 answered");
	sk_resp_info_t fresh = reply("fresh.example.test", SK_TYPE_A, SK_RCODE_NOERROR);
	burst(r, &c, "192.0.2.1", &fresh, T0, 10, n);
	is_int(n[SK_RRL_PASS], 3, "answers are not charged for errors");

	/* Each kind has its rate; 0 is unlimited and not accounted. */
	c = conf(3, 15, 0);
	c.nxdomains_per_second = 1;
	c.errors_per_second = 0;
	sk_resp_info_t nx = reply("a.example.net", SK_TYPE_A, SK_RCODE_NXDOMAIN);
	burst(r, &c, "198.51.100.1", &nx, T0, 10, n);
	is_int(n[SK_RRL_PASS], 1, "nxdomains_per_second 1: 1 of 10");
	sk_resp_info_t ref = reply("a.example.net", SK_TYPE_A, SK_RCODE_REFUSED);
	burst(r, &c, "198.51.100.1", &ref, T0, 100, n);
	is_int(n[SK_RRL_NONE], 100, "errors_per_second 0: never accounted");
	c.enabled = false;
	burst(r, &c, "198.51.100.1", &nx, T0, 10, n);
	is_int(n[SK_RRL_NONE], 10, "section absent (enabled false): never accounted");
	sk_rrl_free(r);
}

/* A reload changes rates on the same table: the next replies follow the new rate. */
static void test_reload(void)
{
	sk_rrl_t *r = table(1024);
	sk_rrl_conf_t c = conf(10, 15, 0);
	sk_resp_info_t in = reply("www.example.test", SK_TYPE_A, SK_RCODE_NOERROR);
	unsigned n[4];
	burst(r, &c, "192.0.2.1", &in, T0, 5, n);
	is_int(n[SK_RRL_PASS], 5, "rate 10: 5 pass");
	c.responses_per_second = 2;
	burst(r, &c, "192.0.2.1", &in, T0 + 10 * SEC, 10, n);
	is_int(n[SK_RRL_PASS], 2, "after a reload to rate 2: 2 pass");
	sk_rrl_free(r);
}

/* A small table under many keys: nothing breaks, and idle accounts go before a flooder's. */
static void test_full_table(void)
{
	sk_rrl_t *r = table(64);
	sk_rrl_conf_t c = conf(5, 15, 2);
	sk_resp_info_t flood = reply("www.example.test", SK_TYPE_A, SK_RCODE_NOERROR);
	unsigned n[4], bad = 0, counts[4] = { 0 };

	burst(r, &c, "192.0.2.1", &flood, T0, 100, n);
	for (unsigned i = 0; i < 20000; i++) {
		char name[64], src[32];
		snprintf(name, sizeof name, "n%u.example.test", i);
		snprintf(src, sizeof src, "10.%u.%u.1", i / 256 % 256, i % 256);
		sk_resp_info_t in = reply(name, (uint16_t)(1 + i % 50), (uint16_t)(i % 3 ? 0 : 3));
		sk_rrl_action_t a = acct(r, &c, src, &in, T0 + i);
		if (a > SK_RRL_DROP)
			bad++;
		else
			counts[a]++;
	}
	is_int(bad, 0, "20,000 keys through 64 accounts: every action valid");
	ok(counts[SK_RRL_PASS] > 19000, "new keys in a full table start with full credit (%u passed)",
		counts[SK_RRL_PASS]);
	burst(r, &c, "192.0.2.1", &flood, T0 + SEC / 10, 10, n);
	is_int(n[SK_RRL_PASS], 0, "the flooder's account survived them: still limited");
	sk_rrl_free(r);
}

/* Workers share the table without locks: several threads on one small table. */
typedef struct racer {
	sk_rrl_t *r;
	const sk_rrl_conf_t *c;
	unsigned id;
	unsigned count[4];
	unsigned bad;
} racer_t;

static void *race(void *arg)
{
	racer_t *x = arg;
	char src[32];
	for (unsigned i = 0; i < 200000; i++) {
		snprintf(src, sizeof src, "192.0.%u.%u", i % 4, x->id);
		sk_resp_info_t in = reply(i / 4 % 2 ? "a.example.test" : "b.example.test", SK_TYPE_A,
			SK_RCODE_NOERROR);
		sk_rrl_action_t a = acct(x->r, x->c, src, &in, T0 + i * 10ull);
		if (a > SK_RRL_DROP)
			x->bad++;
		else
			x->count[a]++;
	}
	return NULL;
}

static void test_threads(void)
{
	sk_rrl_t *r = table(64);
	sk_rrl_conf_t c = conf(100, 15, 2);
	racer_t x[4];
	pthread_t t[4];
	for (unsigned i = 0; i < 4; i++) {
		x[i] = (racer_t){ .r = r, .c = &c, .id = i };
		pthread_create(&t[i], NULL, race, &x[i]);
	}
	unsigned pass = 0, limited = 0, bad = 0;
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		pass += x[i].count[SK_RRL_PASS];
		limited += x[i].count[SK_RRL_SLIP] + x[i].count[SK_RRL_DROP];
		bad += x[i].bad;
	}
	is_int(bad, 0, "4 threads x 200,000 replies on one table: every action valid");
	/* 8 accounts (4 prefixes, 2 names), each flooded far above 100/s: about 100 answers each
	 * before the debt passes a second, then none (it stays capped: threads' clocks differ by
	 * less than the slack). Debits lost to the race may let a few more through, never many. */
	ok(pass >= 700 && pass < 8000, "the limit holds across threads (%u passed, %u limited)",
		pass, limited);
	sk_rrl_free(r);
}

/* The slipped reply: header + question (+ a bare OPT), TC set, AA and rcode as they were. */
static void test_slip(void)
{
	uint8_t msg[512];
	sk_resp_info_t in = reply("www.example.test", SK_TYPE_A, SK_RCODE_NXDOMAIN);
	size_t qlen = in.q.qname_len + 4u;

	memset(msg, 0xee, sizeof msg);
	sk_put16(msg, 0x1234);
	sk_hdr_set_flags(msg, SK_FLAG_QR | SK_FLAG_AA | SK_FLAG_RD | SK_RCODE_NXDOMAIN);
	sk_hdr_set_counts(msg, 1, 0, 1, 1);
	memcpy(msg + SK_HDR_LEN, in.q.lname, in.q.qname_len);
	sk_put16(msg + SK_HDR_LEN + in.q.qname_len, SK_TYPE_A);
	sk_put16(msg + SK_HDR_LEN + in.q.qname_len + 2, 1);
	size_t len = 200;   /* an SOA and an OPT with options would follow */
	in.opt = true;
	in.q.edns_do = true;
	in.size = (uint16_t)len;

	size_t n = sk_rrl_slip(msg, len, &in, 1232);
	is_int(n, SK_HDR_LEN + qlen + 11, "header, question, bare OPT");
	is_int(sk_hdr_id(msg), 0x1234, "ID kept");
	uint16_t f = sk_hdr_flags(msg);
	ok((f & SK_FLAG_TC) && (f & SK_FLAG_AA) && (f & SK_FLAG_QR) && (f & SK_FLAG_RD), "TC set; QR, AA, RD kept");
	is_int(f & 0x0f, SK_RCODE_NXDOMAIN, "rcode kept");
	ok(sk_hdr_qdcount(msg) == 1 && sk_hdr_ancount(msg) == 0 && sk_hdr_nscount(msg) == 0 &&
		sk_hdr_arcount(msg) == 1, "counts 1/0/0/1");
	ok(!memcmp(msg + SK_HDR_LEN, in.q.lname, in.q.qname_len), "the question is intact");
	const uint8_t *o = msg + SK_HDR_LEN + qlen;
	ok(o[0] == 0 && sk_get16(o + 1) == SK_TYPE_OPT && sk_get16(o + 3) == 1232 && o[5] == 0 &&
		o[6] == 0 && sk_get16(o + 7) == 0x8000 && sk_get16(o + 9) == 0,
		"OPT: root, payload 1232, rcode high bits 0, version 0, DO, no options");
	ok(in.size == n && in.flags == f, "info has the new size and flags");

	/* BADVERS (16): its high bits live in the OPT. */
	in = reply("www.example.test", SK_TYPE_A, SK_RCODE_BADVERS);
	in.opt = true;
	sk_hdr_set_flags(msg, SK_FLAG_QR);
	sk_hdr_set_counts(msg, 1, 0, 0, 1);
	n = sk_rrl_slip(msg, 100, &in, 4096);
	ok(n == SK_HDR_LEN + qlen + 11 && o[5] == 1 && sk_get16(o + 3) == 4096 && sk_get16(o + 7) == 0,
		"BADVERS: extended rcode 1 in the OPT, no DO");

	/* Without EDNS: no OPT. */
	in = reply("www.example.test", SK_TYPE_A, SK_RCODE_NOERROR);
	sk_hdr_set_counts(msg, 1, 3, 2, 4);
	n = sk_rrl_slip(msg, 300, &in, 1232);
	ok(n == SK_HDR_LEN + qlen && sk_hdr_arcount(msg) == 0 && sk_hdr_ancount(msg) == 0,
		"no EDNS: header and question only");

	/* A FORMERR reply has no question: the header alone. */
	in = reply("www.example.test", SK_TYPE_A, SK_RCODE_FORMERR);
	sk_hdr_set_counts(msg, 0, 0, 0, 0);
	n = sk_rrl_slip(msg, SK_HDR_LEN, &in, 1232);
	ok(n == SK_HDR_LEN && (sk_hdr_flags(msg) & SK_FLAG_TC) && sk_hdr_qdcount(msg) == 0,
		"FORMERR: header only, TC");
}

int main(void)
{
	test_new();
	test_rate_and_slip();
	test_time();
	test_window();
	test_prefixes();
	test_exempt();
	test_kinds();
	test_reload();
	test_full_table();
	test_threads();
	test_slip();
	return tap_done();
}
