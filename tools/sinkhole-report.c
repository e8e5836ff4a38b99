/* sinkhole-report -- reports for CERTs from telemetry JSON lines, and the evidence chain's checker */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "pipe.h"
#include "report.h"
#include "verify.h"

static void usage(FILE *to)
{
	fprintf(to,
		"usage: sinkhole-report report --out DIR [options] FILE...\n"
		"       sinkhole-report verify [--pubkey FILE] [--head SHA256] MANIFEST-or-DIR\n"
		"       sinkhole-report keygen PREFIX\n"
		"\n"
		"report: read telemetry JSON lines (plain or gzip, any number of files, '-' for standard\n"
		"  input) and write DIR/summary.json, DIR/report.html, DIR/csv/daily.csv, DIR/csv/victims.csv,\n"
		"  and one notification file per ASN (DIR/csv/asn/AS<n>.csv) and per country\n"
		"  (DIR/csv/country/<CC>.csv).\n"
		"  -o, --out DIR           where to write (created if missing)\n"
		"  -p, --privacy MODE      none (default), truncate (/24, /48) or hash (keyed, needs --hash-key)\n"
		"  -k, --hash-key FILE     16 to 256 bytes of secret for --privacy hash\n"
		"  -t, --top N             list length per day in summary.json (default 50; 0: all)\n"
		"      --title TEXT        a title for the HTML report\n"
		"  -q, --quiet             no progress line on stderr\n"
		"verify: check the manifest chain written by telemetry.jsonl.manifest and every segment it seals;\n"
		"  exit 0 when intact, 1 when anything is altered, truncated, missing, reordered or badly signed.\n"
		"  --pubkey FILE           the public key (keygen's PREFIX.pub): every line must carry a valid signature\n"
		"  --head SHA256           the chain must end at this line hash (the server logs it at every seal)\n"
		"keygen: write PREFIX.key (Ed25519 secret key for telemetry.jsonl.sign_key) and PREFIX.pub.\n");
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Remove the *.csv files of one folder of an earlier report (an ASN or country that is gone from
 * the data must not leave its old file behind). */
static int clear_csv(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n > 4 && !strcmp(e->d_name + n - 4, ".csv") && unlinkat(dirfd(d), e->d_name, 0) < 0)
			rc = -1;
	}
	closedir(d);
	return rc;
}

/*
 * The output folder: created when missing; an empty one or an earlier report's (it has
 * summary.json, whose old notification files are removed) is used; anything else is refused, so
 * that a mistyped --out never mixes a report into unrelated files.
 */
static int prepare_outdir(const char *out)
{
	size_t n = strlen(out) + 32;
	char path[n];
	DIR *d;
	struct dirent *e;
	bool empty = true;

	if (mkdir(out, 0755) == 0)
		return 0;
	if (errno != EEXIST || !(d = opendir(out))) {
		fprintf(stderr, "sinkhole-report: cannot create %s: %s\n", out, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	closedir(d);
	if (empty)
		return 0;
	snprintf(path, n, "%s/summary.json", out);
	if (access(path, F_OK) < 0) {
		fprintf(stderr, "sinkhole-report: %s is not empty and holds no earlier report (summary.json): "
			"give an empty or new folder\n", out);
		return -1;
	}
	snprintf(path, n, "%s/csv/asn", out);
	int rc = clear_csv(path);
	snprintf(path, n, "%s/csv/country", out);
	if (rc < 0 || clear_csv(path) < 0) {
		fprintf(stderr, "sinkhole-report: cannot clear the earlier report in %s: %s\n", out, strerror(errno));
		return -1;
	}
	return 0;
}

static int report_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "privacy", required_argument, NULL, 'p' },
		{ "hash-key", required_argument, NULL, 'k' },
		{ "top", required_argument, NULL, 't' },
		{ "title", required_argument, NULL, 'T' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	rp_report_t r;
	const char *key = NULL;
	int c, quiet = 0, status = 1;

	memset(&r, 0, sizeof r);
	r.top = 50;
	while ((c = getopt_long(argc, argv, "o:p:k:t:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': r.outdir = optarg; break;
		case 'k': key = optarg; break;
		case 't': r.top = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'T': r.title = optarg; break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); return 0;
		case 'p':
			if (!strcmp(optarg, "none"))
				r.priv.mode = RP_PRIV_NONE;
			else if (!strcmp(optarg, "truncate"))
				r.priv.mode = RP_PRIV_TRUNCATE;
			else if (!strcmp(optarg, "hash"))
				r.priv.mode = RP_PRIV_HASH;
			else {
				fprintf(stderr, "sinkhole-report: --privacy: expected none, truncate or hash\n");
				return 2;
			}
			break;
		default: usage(stderr); return 2;
		}
	}
	if (!r.outdir || optind >= argc) {
		usage(stderr);
		return 2;
	}
	if ((r.priv.mode == RP_PRIV_HASH) != (key != NULL)) {
		fprintf(stderr, "sinkhole-report: --hash-key goes with --privacy hash, and only with it\n");
		return 2;
	}
	if (key && rp_privacy_load_key(&r.priv, key) < 0)
		return 2;
	if (prepare_outdir(r.outdir) < 0)
		return 1;
	double t0 = now_s();
	r.ninputs = (size_t)(argc - optind);
	if (!(r.inputs = calloc(r.ninputs, sizeof *r.inputs)) || rp_agg_init(&r.agg) < 0) {
		fprintf(stderr, "sinkhole-report: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < r.ninputs; i++)
		r.inputs[i].path = argv[optind + (int)i];
	if (rp_read_inputs(&r) < 0)
		goto out;
	double t1 = now_s();
	if (rp_agg_finish(&r.agg) < 0 || rp_prepare(&r) < 0) {
		fprintf(stderr, "sinkhole-report: out of memory\n");
		goto out;
	}
	double t15 = now_s();
	if (rp_write_csv(&r) < 0 || rp_write_summary(&r) < 0 || rp_write_html(&r) < 0)
		goto out;
	double t2 = now_s();
	const rp_count_t *all = &r.agg.day_victims[r.agg.ndays];
	if (!quiet)
		fprintf(stderr, "sinkhole-report: %llu records (%llu malformed) from %zu file%s: %u unique victims "
			"(%u addresses, %u subnets) on %u day%s, %u rows; read %.2f s, summed %.2f s, written %.2f s; %s/\n",
			(unsigned long long)r.agg.records, (unsigned long long)r.agg.malformed, r.ninputs,
			r.ninputs == 1 ? "" : "s", all->addresses + all->subnets, all->addresses, all->subnets,
			r.agg.ndays, r.agg.ndays == 1 ? "" : "s", r.agg.nrows, t1 - t0, t15 - t1, t2 - t15, r.outdir);
	status = 0;
out:
	sk_crypto_wipe(r.priv.key, sizeof r.priv.key);
	rp_report_free(&r);
	free(r.inputs);
	return status;
}

static int verify_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pubkey", required_argument, NULL, 'P' },
		{ "head", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pub = NULL, *head = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'P': pub = optarg; break;
		case 'H': head = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	return rp_verify(argv[optind], pub, head);
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("sinkhole-report %s\n", SK_VERSION);
		return 0;
	}
	if (sk_crypto_init() < 0) {
		fprintf(stderr, "sinkhole-report: libsodium cannot be initialised\n");
		return 2;
	}
	/* Each subcommand parses its own options: argv[1] plays the program's name. */
	if (!strcmp(argv[1], "report"))
		return report_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "verify"))
		return verify_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "keygen")) {
		if (argc != 3) {
			usage(stderr);
			return 2;
		}
		return rp_keygen(argv[2]);
	}
	fprintf(stderr, "sinkhole-report: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
