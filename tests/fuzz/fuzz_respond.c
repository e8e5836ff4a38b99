/* fuzz_respond.c -- libFuzzer target: any bytes through the query parser, TSIG, the answer builder
 * and, for an accepted AXFR/IXFR, the whole transfer stream */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/snapshot.h"
#include "dns/respond.h"
#include "dns/xfr.h"
#include "fuzz_common.h"
#include "util/log.h"

static sk_snapshot_t snap;
static sk_conf_t conf;
static sk_zone_conf_t zones[1];
static uint8_t out[65535];

/* Transfers on: 192.0.2.0/24 (the fuzzing client) unsigned, and anyone with fuzz-key (its secret
 * is "fuzz-secret-0001", the seeds in corpus/respond/ sign with it at 1700000000). */
static sk_tsig_key_t keys[1] = { { .name = "fuzz-key.", .wire = "\010fuzz-key", .wire_len = 10,
	.alg = SK_TSIG_HMAC_SHA256, .secret = "fuzz-secret-0001", .secret_len = 16 } };
static sk_prefix_t fuzz_net = { .family = AF_INET, .len = 24, .addr = { 192, 0, 2, 0 } };
static sk_xfr_acl_t allow[2] = { { .addrs = &fuzz_net, .naddrs = 1, .key = -1 }, { .key = 0 } };

/* Load the fuzzing zone once: wildcards, a delegation, CNAMEs, a big RRset. */
static void setup(void)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/fuzz.zone", SK_FUZZ_DIR);
	zones[0] = (sk_zone_conf_t){ .file = path, .line = 1 };
	conf = (sk_conf_t){ .path = "fuzz.yml", .identity = "ns9.fuzz.example", .version = "sinkholed fuzz",
		.edns_size = 1232, .zones = zones, .nzones = 1,
		.cookies = { .enabled = true, .secret_given = true, .secret = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 } },
		.xfr = { .enabled = true, .keys = keys, .nkeys = 1, .allow = allow, .nallow = 2,
			.seized = true, .catalog = true, .catalog_name = "catalog.fuzz.invalid.",
			.catalog_zones = true } };
	sk_log_set_level(SK_LOG_WARN);    /* one line per transfer would drown the fuzzer's output */
	sk_db_t *db = NULL;
	if (sk_db_build(&conf, &db) != 0) {
		fprintf(stderr, "fuzz zone %s does not load\n", path);
		abort();
	}
	snap = (sk_snapshot_t){ .conf = &conf, .db = db, .generation = 1 };
	atomic_init(&snap.refs, 1);     /* a transfer's hold and release must never free it */
}

/* A reply must be a well-formed header answering the query: checked on every input. */
static void check(const uint8_t *q, size_t qlen, size_t n, size_t limit)
{
	if (!n)
		return;
	if (n < SK_HDR_LEN || n > limit || qlen < SK_HDR_LEN)
		abort();
	if (sk_hdr_id(out) != sk_hdr_id(q) || !(sk_hdr_flags(out) & SK_FLAG_QR))
		abort();
}

/* Every message of an accepted transfer: well-formed headers answering the query, the SOA count
 * bounded, the stream finite. */
static void stream(const sk_resp_info_t *info, const struct sockaddr *from, const uint8_t *q, size_t qlen)
{
	sk_xfr_t *x;
	if (sk_xfr_new(&snap, info, from, &x) != 0)
		abort();
	size_t n;
	unsigned messages = 0;
	while ((n = sk_xfr_next(x, out, sizeof out, 1700000000)) != 0) {
		check(q, qlen, n, sizeof out);
		if (++messages > 1000)
			abort();
	}
	if (!messages)
		abort();
	sk_xfr_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	sk_resp_info_t info;
	if (!ready) {
		setup();
		ready = 1;
	}
	/* fuzz_answer() checks every reply: a header answering the query, within the limit. */
	size_t n = fuzz_answer(&snap, data, size, SK_TRANSPORT_UDP, out, 4096, NULL);
	if (n) {
		/* Cut down as for an interface too small (net/udp.c): never longer, still an answer
		 * to the query, TC set unless there was nothing to cut; cutting again changes nothing. */
		size_t c = sk_reply_cut(out, n);
		FUZZ_CHECK(c >= SK_HDR_LEN && c <= n);
		FUZZ_CHECK(out[0] == data[0] && out[1] == data[1] && (out[2] & 0x80));
		FUZZ_CHECK(c == n || (sk_hdr_flags(out) & SK_FLAG_TC));
		FUZZ_CHECK(sk_reply_cut(out, c) == c);
	}
	fuzz_answer(&snap, data, size, SK_TRANSPORT_TCP, out, sizeof out, &info);
	if (info.xfr) {
		struct sockaddr_in from = { .sin_family = AF_INET };
		memcpy(&from.sin_addr, FUZZ_CLIENT, 4);
		stream(&info, (const struct sockaddr *)&from, data, size);
	}
	return 0;
}
