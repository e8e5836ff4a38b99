/* telemetry_bench.c -- the telemetry thread alone: events through its sinks, no network.
 *
 *   telemetry_bench CONFIG QUERIES [--ecs CODE:HEX] [--records N] [--passes N]
 *
 * Answers each "name type" line of QUERIES as sinkholed would (sk_respond, with an EDNS option
 * given as dnsperf's -E for --ecs), keeps the events a worker would have made of them, then,
 * for each pass (default 5), starts telemetry as CONFIG says (its sinks, its geolocation),
 * pushes N events (default 500,000; the queries over and over, from 127.0.0.1 as dnsperf's
 * are) into one worker's ring and stops telemetry, which drains every ring and flushes
 * every sink. It prints the median CPU time per record of everything telemetry ran (its
 * thread, libfstrm's and the page-cache thread; the pushing thread's own time is taken out) and
 * what the sinks wrote. The pusher waits while the ring is full, so no record is lost, and the
 * telemetry thread is never idle: this is the cost per record of the sinks at full load, the
 * figure to tune them by, which bench/run.py --suite telemetry measures within a whole server.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "db/snapshot.h"
#include "dns/respond.h"
#include "telemetry/ring.h"
#include "telemetry/telemetry.h"

#include "queries.h"

/* Distinct events kept: the queries cycle through these. */
#define EVENTS_MAX 65536

static double cpu_s(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The events a worker would have pushed for the queries: answered from `snap`, from 127.0.0.1
 * (a port per query) to 127.0.0.1:53. Returns how many (at most EVENTS_MAX). */
static size_t make_events(const sk_snapshot_t *snap, const bq_set_t *set, sk_event_t *ev)
{
	static uint8_t out[4096];
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(53),
		.sin_addr.s_addr = htonl(0x7f000001) };
	size_t n = set->n < EVENTS_MAX ? set->n : EVENTS_MAX;
	uint64_t now = sk_now_us();
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(1024 + i)),
			.sin_addr.s_addr = htonl(0x7f000001) };
		sk_client_t client = { .addr = (const struct sockaddr *)&src, .now = (uint32_t)time(NULL) };
		sk_resp_info_t info;
		const uint8_t *msg = set->wire + set->q[i].off;
		(void)sk_respond(snap, &client, msg, set->q[i].len, SK_TRANSPORT_UDP, out, sizeof out, &info);
		const sk_tagset_t *tags = NULL;
		uint8_t zone_off = sk_event_zone(&info, &tags);
		sk_event_fill(&ev[i], &info, SK_TRANSPORT_UDP, (const struct sockaddr *)&src,
			(const struct sockaddr *)&dst, now + i, tags, zone_off);
	}
	return n;
}

int main(int argc, char **argv)
{
	const char *conf = NULL, *qfile = NULL, *ecs = NULL;
	long records = 500000;
	int passes = 5;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ecs") && i + 1 < argc)
			ecs = argv[++i];
		else if (!strcmp(argv[i], "--records") && i + 1 < argc)
			records = atol(argv[++i]);
		else if (!strcmp(argv[i], "--passes") && i + 1 < argc)
			passes = atoi(argv[++i]);
		else if (!conf)
			conf = argv[i];
		else if (!qfile)
			qfile = argv[i];
		else
			conf = NULL, i = argc;
	}
	if (!conf || !qfile || passes < 1 || records < 1) {
		fprintf(stderr, "usage: telemetry_bench CONFIG QUERIES [--ecs CODE:HEX] [--records N] [--passes N]\n");
		return 2;
	}

	sk_snapshot_t *snap;
	bq_set_t set;
	if (bq_setup("telemetry_bench", conf, qfile, ecs != NULL, ecs, &snap, &set) != 0)
		return 1;
	sk_event_t *ev = calloc(EVENTS_MAX, sizeof *ev);
	double *ns = calloc((size_t)passes, sizeof *ns);
	if (!ev || !ns)
		return 1;
	size_t nev = make_events(snap, &set, ev);

	sk_telemetry_stats_t st = { 0 };
	unsigned long waits = 0;
	for (int p = 0; p < passes; p++) {
		sk_telemetry_t *t = NULL;
		double all0 = cpu_s(RUSAGE_SELF), me0 = cpu_s(RUSAGE_THREAD);
		if (sk_telemetry_start(snap->conf, 1, &t) != 0 || !t) {
			fprintf(stderr, "telemetry_bench: %s: no telemetry sink started\n", conf);
			return 1;
		}
		sk_ring_t *ring = sk_telemetry_ring(t, 0);
		for (long i = 0; i < records; i++) {
			sk_event_t *slot;
			while (!(slot = sk_ring_reserve(ring))) {
				/* Full: let the telemetry thread drain (the drop it counted is not one). */
				nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
				waits++;
			}
			memcpy(slot, &ev[(size_t)i % nev], sizeof *slot);
			sk_ring_commit(ring);
		}
		sk_telemetry_stats(t, &st);
		sk_telemetry_stop(t);
		double all = cpu_s(RUSAGE_SELF) - all0, me = cpu_s(RUSAGE_THREAD) - me0;
		ns[p] = (all - me) * 1e9 / (double)records;
	}
	bq_sort(ns, (size_t)passes);
	printf("%ld records x %d passes (%zu distinct events): median %.1f ns of telemetry CPU per record "
		"(min %.1f, max %.1f)\n", records, passes, nev, ns[passes / 2], ns[0], ns[passes - 1]);
	printf("ring full %lu times (the pusher waited); sinks, last pass before its stop:", waits);
	for (unsigned i = 0; i < st.nsinks; i++)
		printf(" %s written %llu failed %llu", st.sink[i].name,
			(unsigned long long)st.sink[i].written, (unsigned long long)st.sink[i].failed);
	printf("\n");
	free(ns);
	free(ev);
	bq_free(&set);
	sk_snapshot_free(snap);
	return 0;
}
