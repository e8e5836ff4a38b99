/* fuzz_respond.c -- libFuzzer target: any bytes through the query parser and answer builder */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/snapshot.h"
#include "dns/respond.h"
#include "fuzz_common.h"

static sk_snapshot_t snap;
static sk_conf_t conf;
static sk_zone_conf_t zones[1];
static uint8_t out[65535];

/* Load the fuzzing zone once: wildcards, a delegation, CNAMEs, a big RRset. */
static void setup(void)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/fuzz.zone", SK_FUZZ_DIR);
	zones[0] = (sk_zone_conf_t){ .file = path, .line = 1 };
	conf = (sk_conf_t){ .path = "fuzz.yml", .identity = "ns9.fuzz.example", .version = "sinkholed fuzz",
		.edns_size = 1232, .zones = zones, .nzones = 1,
		.cookies = { .enabled = true, .secret_given = true, .secret = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 } } };
	sk_db_t *db = NULL;
	if (sk_db_build(&conf, &db) != 0) {
		fprintf(stderr, "fuzz zone %s does not load\n", path);
		abort();
	}
	snap = (sk_snapshot_t){ .conf = &conf, .db = db, .generation = 1 };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		setup();
		ready = 1;
	}
	/* fuzz_answer() checks every reply: a header answering the query, within the limit. */
	fuzz_answer(&snap, data, size, SK_TRANSPORT_UDP, out, 4096);
	fuzz_answer(&snap, data, size, SK_TRANSPORT_TCP, out, sizeof out);
	return 0;
}
