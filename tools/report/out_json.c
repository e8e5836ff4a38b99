/* out_json.c -- summary.json: per day and for the whole period, queries and unique victims by
 * country, ASN, seized domain, case, operation, family and network */
#include <stdlib.h>
#include <string.h>

#include "report.h"

static const char *const list_names[RP_D_N] = {
	"by_country", "by_asn", "by_domain", "by_case", "by_operation", "by_family", "top_networks",
};

static void counts(FILE *f, const rp_count_t *c)
{
	fprintf(f, "\"queries\":%llu,\"victims\":%u,\"addresses\":%u,\"subnets\":%u",
		(unsigned long long)c->queries, c->addresses + c->subnets, c->addresses, c->subnets);
}

static void cell_list(FILE *f, const rp_report_t *r, uint32_t day, unsigned dim)
{
	uint64_t n;
	const rp_cell_t *c = rp_cells(r, day, dim, &n);
	/* Countries are always all of them (a few hundred at most); the rest are cut at --top. */
	uint64_t shown = dim == RP_D_COUNTRY || r->top == 0 || n < r->top ? n : r->top;
	fprintf(f, "\"%s\":[", list_names[dim]);
	for (uint64_t i = 0; i < shown; i++) {
		char key[1100];
		rp_cell_key(r, &c[i], key, sizeof key);
		fputs(i ? ",{\"key\":" : "{\"key\":", f);
		if (dim == RP_D_ASN) {
			fprintf(f, "%u,\"name\":", c[i].value);
			rp_json_str(f, rp_asn_name(r, c[i].value));
		} else {
			rp_json_str(f, key);
		}
		fputc(',', f);
		counts(f, &c[i].c);
		fputc('}', f);
	}
	fprintf(f, "],\"%s_distinct\":%llu", list_names[dim], (unsigned long long)n);
}

/* The body shared by a day and the totals. */
static void period(FILE *f, const rp_report_t *r, uint32_t day, uint32_t index)
{
	const rp_count_t *dv = &r->agg.day_victims[index];
	fprintf(f, "\"queries\":%llu,\"victims\":{\"total\":%u,\"addresses\":%u,\"subnets\":%u}",
		(unsigned long long)dv->queries, dv->addresses + dv->subnets, dv->addresses, dv->subnets);
	for (unsigned dim = 0; dim < RP_D_N; dim++) {
		fputc(',', f);
		cell_list(f, r, day, dim);
	}
}

int rp_write_summary(const rp_report_t *r)
{
	const rp_agg_t *a = &r->agg;
	FILE *f = rp_create(r, "summary.json");
	char first[32] = "", last[32] = "";
	if (!f)
		return -1;
	if (a->records) {
		rp_time_text(a->first, first);
		rp_time_text(a->last, last);
	}
	fprintf(f, "{\"generator\":\"sinkhole-report %s\",\"privacy\":\"%s\",\"top\":%u,\"inputs\":[", SK_VERSION,
		rp_privacy_name(r->priv.mode), r->top);
	for (size_t i = 0; i < r->ninputs; i++) {
		fputs(i ? ",{\"file\":" : "{\"file\":", f);
		rp_json_str(f, r->inputs[i].path);
		fprintf(f, ",\"lines\":%llu,\"malformed\":%llu}", (unsigned long long)r->inputs[i].lines,
			(unsigned long long)r->inputs[i].malformed);
	}
	fprintf(f, "],\n\"records\":%llu,\"malformed\":%llu,\"unmatched\":%llu,\"first\":",
		(unsigned long long)a->records, (unsigned long long)a->malformed, (unsigned long long)a->unmatched);
	if (a->records)
		fprintf(f, "\"%s\",\"last\":\"%s\",", first, last);
	else
		fputs("null,\"last\":null,", f);
	fputs("\n\"totals\":{", f);
	period(f, r, RP_ALL_DAYS, a->ndays);
	fputs("},\n\"days\":[", f);
	for (uint32_t d = 0; d < a->ndays; d++) {
		const rp_day_t *day = &a->days[a->day_order[d]];
		fprintf(f, "%s{\"day\":\"%s\",\"records\":%llu,\"unmatched\":%llu,", d ? ",\n" : "\n", day->date,
			(unsigned long long)day->records, (unsigned long long)day->unmatched);
		period(f, r, d, d);
		fputc('}', f);
	}
	fputs("]}\n", f);
	return rp_close(f, r, "summary.json");
}
