/* queries.c -- a dnsperf query file as query messages, for the micro benchmarks */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ldns/ldns.h>

#include "db/snapshot.h"
#include "dns/name.h"
#include "util/log.h"
#include "queries.h"

#define QMAX 512

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

void bq_sort(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
}

double bq_now_ns(void)
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

int bq_load(const char *prog, const char *path, bool edns, const char *option, bq_set_t *out)
{
	uint8_t opt[64];
	size_t optlen = 0;
	if (option && !(optlen = parse_option(option, opt, sizeof opt))) {
		fprintf(stderr, "%s: an EDNS option is CODE:HEXDATA, as dnsperf -E takes it\n", prog);
		return -1;
	}
	edns = edns || option;

	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s: %s: cannot open\n", prog, path);
		return -1;
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
		fprintf(stderr, "%s: no queries in %s\n", prog, path);
		free(qs);
		free(wire);
		return -1;
	}
	*out = (bq_set_t){ .q = qs, .n = nq, .wire = wire };
	return 0;
}

void bq_free(bq_set_t *s)
{
	free(s->q);
	free(s->wire);
	*s = (bq_set_t){ 0 };
}

int bq_setup(const char *prog, const char *conf, const char *path, bool edns, const char *option,
	struct sk_snapshot **snap, bq_set_t *set)
{
	sk_log_set_level(SK_LOG_WARN);
	*snap = NULL;
	if (sk_snapshot_load(conf, snap) != 0)
		return -1;
	if (bq_load(prog, path, edns, option, set) != 0) {
		sk_snapshot_free(*snap);
		*snap = NULL;
		return -1;
	}
	return 0;
}
