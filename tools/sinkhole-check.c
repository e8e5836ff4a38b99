/* sinkhole-check -- validate a sinkholed config, its zones, seized lists and geo databases; serve nothing */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "db/db.h"
#include "db/snapshot.h"
#include "dns/name.h"
#include "geo/geo.h"
#include "util/err.h"
#include "util/log.h"

static void usage(FILE *to)
{
	fprintf(to,
		"usage: sinkhole-check -c FILE\n"
		"  Load the config, every zone file, every seized list with its template, and the geo\n"
		"  databases, exactly as sinkholed would at start or SIGHUP, without serving anything.\n"
		"  Problems go to stderr as \"file:line: message\"; stdout gets one line per zone and per\n"
		"  list, then \"ok: ...\" (exit 0) or \"failed: N errors\" (exit 1). Warnings do not fail.\n"
		"  -c, --config FILE   the config file\n"
		"  -h, --help          this text\n");
}

static int failed(const char *path, int rc)
{
	unsigned long n = sk_diag_errors();
	if (!n) {
		/* Not a problem inside a file (no memory, ...): say what it was. */
		fprintf(stderr, "%s: %s\n", path, sk_strerror(rc));
		n = 1;
	}
	printf("failed: %lu error%s\n", n, n == 1 ? "" : "s");
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	sk_snapshot_t *snap = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 1;
	}
	/* The loader's info lines repeat what stdout says; warnings and errors still show. */
	sk_log_set_level(SK_LOG_WARN);
	if ((rc = sk_snapshot_load(path, &snap)) < 0)
		return failed(path, rc);

	const sk_conf_t *conf = snap->conf;
	const sk_db_t *db = snap->db;
	for (size_t i = 0; i < conf->nzones; i++) {
		char name[SK_NAME_TEXT_MAX];
		sk_name_to_text(sk_zone_apex(sk_db_zone(db, i)), name, sizeof name);
		printf("zone %s: %s\n", name, conf->zones[i].file);
	}
	for (size_t i = 0; i < sk_db_list_count(db); i++) {
		const sk_db_list_stats_t *st = sk_db_list_stats(db, i);
		printf("seized %s: %zu domains, %zu invalid, %zu duplicates, %zu served by zone files "
			"(template %s)\n", st->list, st->domains, st->invalid, st->duplicates, st->shadowed,
			st->template);
	}
	if (conf->geoip_city || conf->geoip_asn) {
		sk_geo_t *geo = NULL;
		if ((rc = sk_geo_open(conf->geoip_city, conf->geoip_asn, &geo)) < 0) {
			sk_snapshot_free(snap);
			return failed(path, rc);
		}
		sk_geo_free(geo);
	}
	printf("ok: %zu zones, %zu seized lists, %zu seized domains\n", sk_db_zone_count(db),
		sk_db_list_count(db), sk_db_seized_count(db));
	sk_snapshot_free(snap);
	return 0;
}
