/* respond_bench.c -- the answer builder alone: sk_respond() over a dnsperf query file, no network.
 *
 *   respond_bench CONFIG QUERIES [--edns] [--ecs HEX] [--passes N]
 *
 * Loads CONFIG as sinkholed would (sk_snapshot_load), turns each "name type" line of QUERIES into
 * a query message (with an OPT record for --edns, and an EDNS option given as dnsperf's -E
 * "code:hexdata" for --ecs), then answers the whole file N times (default 7) on this thread and
 * prints the median nanoseconds per answer and the replies by rcode. This is the user-space part
 * of a worker's time; the kernel's part (receive, send, wake-ups) is what bench/run.py measures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ldns/ldns.h>
#include <netinet/in.h>

#include "db/snapshot.h"
#include "dns/name.h"
#include "dns/respond.h"
#include "util/log.h"

#define QMAX 512

/* The queries lie end to end, as a worker's receive slots hold them: no padding to walk over. */
typedef struct bq {
	uint32_t off;
	uint16_t len;
} bq_t;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* "code:hex" as dnsperf -E takes it, into one EDNS option (code, length, data). */
static size_t parse_option(const char *spec, uint8_t *out, size_t cap)
{
	char *end;
	unsigned long code = strtoul(spec, &end, 10);
	if (*end != ':' || code > 65535)
		return 0;
	const char *hex = end + 1;
	size_t n = strlen(hex) / 2;
	if (strlen(hex) % 2 || n + 4 > cap)
		return 0;
	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return 0;
		out[4 + i] = (uint8_t)v;
	}
	return n + 4;
}

/* One query message for `name` and `type`; 0 when the line does not make one. */
static size_t build_query(const char *name, const char *type, bool edns, const uint8_t *opt,
	size_t optlen, uint16_t id, uint8_t *out)
{
	ldns_rr_type t = ldns_get_rr_type_by_name(type);
	if (!t)
		return 0;
	uint8_t hdr[12] = { (uint8_t)(id >> 8), (uint8_t)id, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, (uint8_t)edns };
	memcpy(out, hdr, sizeof hdr);
	int n = sk_name_from_text(name, out + 12, 255, false);
	if (n <= 0)
		return 0;
	size_t p = 12 + (size_t)n;
	out[p++] = (uint8_t)(t >> 8);
	out[p++] = (uint8_t)t;
	out[p++] = 0;
	out[p++] = 1;
	if (edns) {
		const uint8_t rr[] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, (uint8_t)(optlen >> 8), (uint8_t)optlen };
		memcpy(out + p, rr, sizeof rr);
		p += sizeof rr;
		memcpy(out + p, opt, optlen);
		p += optlen;
	}
	return p;
}

int main(int argc, char **argv)
{
	const char *conf = NULL, *qfile = NULL, *ecs = NULL;
	bool edns = false;
	int passes = 7;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--edns"))
			edns = true;
		else if (!strcmp(argv[i], "--ecs") && i + 1 < argc)
			ecs = argv[++i], edns = true;
		else if (!strcmp(argv[i], "--passes") && i + 1 < argc)
			passes = atoi(argv[++i]);
		else if (!conf)
			conf = argv[i];
		else if (!qfile)
			qfile = argv[i];
		else
			conf = NULL, i = argc;
	}
	if (!conf || !qfile || passes < 1) {
		fprintf(stderr, "usage: respond_bench CONFIG QUERIES [--edns] [--ecs CODE:HEX] [--passes N]\n");
		return 2;
	}
	uint8_t opt[64];
	size_t optlen = 0;
	if (ecs && !(optlen = parse_option(ecs, opt, sizeof opt))) {
		fprintf(stderr, "respond_bench: --ecs wants CODE:HEXDATA, as dnsperf -E\n");
		return 2;
	}

	sk_log_set_level(SK_LOG_WARN);
	sk_snapshot_t *snap = NULL;
	if (sk_snapshot_load(conf, &snap) != 0)
		return 1;

	FILE *f = fopen(qfile, "r");
	if (!f) {
		perror(qfile);
		return 1;
	}
	size_t nq = 0, capq = 1024, used = 0, capw = 1 << 20;
	bq_t *qs = malloc(capq * sizeof *qs);
	uint8_t *wire = malloc(capw);
	char line[1024], name[512], type[32];
	while (qs && wire && fgets(line, sizeof line, f)) {
		if (sscanf(line, "%511s %31s", name, type) != 2)
			continue;
		if (nq == capq && !(qs = realloc(qs, (capq *= 2) * sizeof *qs)))
			break;
		if (used + QMAX > capw && !(wire = realloc(wire, capw *= 2)))
			break;
		size_t len = build_query(name, type, edns, opt, optlen, (uint16_t)nq, wire + used);
		if (len) {
			qs[nq++] = (bq_t){ (uint32_t)used, (uint16_t)len };
			used += len;
		}
	}
	fclose(f);
	if (!qs || !wire || !nq) {
		fprintf(stderr, "respond_bench: no queries in %s\n", qfile);
		return 1;
	}

	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(5353),
		.sin_addr.s_addr = htonl(0x7f000001) };
	sk_client_t client = { .addr = (const struct sockaddr *)&peer, .now = (uint32_t)time(NULL) };
	static uint8_t out[4096];
	sk_resp_info_t info;
	unsigned long rcodes[24] = { 0 }, silent = 0;
	double *ns = calloc((size_t)passes, sizeof *ns);
	size_t bytes = 0;     /* reply bytes: printed, so the calls cannot be optimised away */
	for (int p = 0; p < passes; p++) {
		double t0 = now_ns();
		for (size_t i = 0; i < nq; i++)
			bytes += sk_respond(snap, &client, wire + qs[i].off, qs[i].len, SK_TRANSPORT_UDP, out,
				sizeof out, &info);
		ns[p] = (now_ns() - t0) / (double)nq;
	}
	for (size_t i = 0; i < nq; i++) {
		if (!sk_respond(snap, &client, wire + qs[i].off, qs[i].len, SK_TRANSPORT_UDP, out, sizeof out, &info))
			silent++;
		else
			rcodes[info.rcode < 23 ? info.rcode : 23]++;
	}
	qsort(ns, (size_t)passes, sizeof *ns, cmp_double);
	printf("%zu queries x %d passes: median %.1f ns per answer (min %.1f, max %.1f), %.1f reply bytes each\n",
		nq, passes, ns[passes / 2], ns[0], ns[passes - 1], (double)bytes / ((double)nq * passes));
	static const char *const names[24] = { [0] = "NOERROR", [1] = "FORMERR", [2] = "SERVFAIL",
		[3] = "NXDOMAIN", [4] = "NOTIMP", [5] = "REFUSED", [9] = "NOTAUTH", [16] = "BADVERS",
		[23] = "other" };
	printf("replies:");
	for (int r = 0; r < 24; r++)
		if (rcodes[r])
			printf(" %s %lu", names[r] ? names[r] : "rcode", rcodes[r]);
	printf(", unanswered %lu\n", silent);
	free(ns);
	free(qs);
	free(wire);
	sk_snapshot_free(snap);
	return 0;
}
