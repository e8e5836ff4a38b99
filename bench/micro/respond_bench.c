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

#include <netinet/in.h>

#include "db/snapshot.h"
#include "dns/respond.h"

#include "queries.h"

int main(int argc, char **argv)
{
	const char *conf = NULL, *qfile = NULL, *ecs = NULL;
	bool edns = false;
	int passes = 7;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--edns"))
			edns = true;
		else if (!strcmp(argv[i], "--ecs") && i + 1 < argc)
			ecs = argv[++i];
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
	sk_snapshot_t *snap;
	bq_set_t set;
	if (bq_setup("respond_bench", conf, qfile, edns, ecs, &snap, &set) != 0)
		return 1;
	const bq_t *qs = set.q;
	const uint8_t *wire = set.wire;
	size_t nq = set.n;

	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(5353),
		.sin_addr.s_addr = htonl(0x7f000001) };
	sk_client_t client = { .addr = (const struct sockaddr *)&peer, .now = (uint32_t)time(NULL) };
	static uint8_t out[4096];
	sk_resp_info_t info;
	unsigned long rcodes[24] = { 0 }, silent = 0;
	double *ns = calloc((size_t)passes, sizeof *ns);
	size_t bytes = 0;     /* reply bytes: printed, so the calls cannot be optimised away */
	for (int p = 0; p < passes; p++) {
		double t0 = bq_now_ns();
		for (size_t i = 0; i < nq; i++)
			bytes += sk_respond(snap, &client, wire + qs[i].off, qs[i].len, SK_TRANSPORT_UDP, out,
				sizeof out, &info);
		ns[p] = (bq_now_ns() - t0) / (double)nq;
	}
	for (size_t i = 0; i < nq; i++) {
		if (!sk_respond(snap, &client, wire + qs[i].off, qs[i].len, SK_TRANSPORT_UDP, out, sizeof out, &info))
			silent++;
		else
			rcodes[info.rcode < 23 ? info.rcode : 23]++;
	}
	bq_sort(ns, (size_t)passes);
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
	bq_free(&set);
	sk_snapshot_free(snap);
	return 0;
}
