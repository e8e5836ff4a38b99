/* out_html.c -- report.html: the template (report.html, built in) with the report's data inside */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "report_html.h"

#define PLACEHOLDER "__SINKHOLE_REPORT_DATA__"
#define HTML_TOP 15
#define MAX_POINTS 5000

static void list(FILE *f, const rp_report_t *r, const char *name, unsigned dim, uint64_t top)
{
	uint64_t n;
	const rp_cell_t *c = rp_cells(r, RP_ALL_DAYS, dim, &n);
	if (top && n > top)
		n = top;
	fprintf(f, ",\"%s\":[", name);
	for (uint64_t i = 0; i < n; i++) {
		char key[1100];
		fputs(i ? ",{\"key\":" : "{\"key\":", f);
		if (dim == RP_D_ASN) {
			fprintf(f, "%u,\"name\":", c[i].value);
			rp_json_str(f, rp_asn_name(r, c[i].value));
		} else {
			rp_cell_key(r, &c[i], key, sizeof key);
			rp_json_str(f, key);
		}
		fprintf(f, ",\"queries\":%llu,\"victims\":%u,\"addresses\":%u,\"subnets\":%u}",
			(unsigned long long)c[i].c.queries, c[i].c.addresses + c[i].c.subnets, c[i].c.addresses,
			c[i].c.subnets);
	}
	fputc(']', f);
}

typedef struct point {
	int lat, lon;
	uint32_t n;
} point_t;

static int by_count(const void *x, const void *y)
{
	const point_t *a = x, *b = y;
	return (a->n < b->n) - (a->n > b->n);
}

/* Victims per 1-degree cell of their first geolocation. */
static void points(FILE *f, const rp_report_t *r)
{
	const rp_agg_t *a = &r->agg;
	uint32_t *grid = calloc(181 * 361, sizeof *grid), nv = rp_intern_count(a->victims);
	point_t *pts = NULL;
	size_t np = 0;
	fputs(",\"points\":[", f);
	if (!grid)
		goto out;
	for (uint32_t v = 0; v < nv; v++) {
		const rp_geo_t *g = &a->geos[a->vict[v].geo];
		if (!g->has_ll || !(g->lat >= -90 && g->lat <= 90 && g->lon >= -180 && g->lon <= 180))
			continue;
		grid[(lroundf(g->lat) + 90) * 361 + lroundf(g->lon) + 180]++;
	}
	for (size_t i = 0; i < 181 * 361; i++)
		np += grid[i] != 0;
	if (!(pts = malloc((np + 1) * sizeof *pts)))
		goto out;
	np = 0;
	for (int lat = 0; lat < 181; lat++)
		for (int lon = 0; lon < 361; lon++)
			if (grid[lat * 361 + lon])
				pts[np++] = (point_t){ lat - 90, lon - 180, grid[lat * 361 + lon] };
	qsort(pts, np, sizeof *pts, by_count);
	for (size_t i = 0; i < np && i < MAX_POINTS; i++)
		fprintf(f, "%s[%d,%d,%u]", i ? "," : "", pts[i].lat, pts[i].lon, pts[i].n);
out:
	fputc(']', f);
	free(pts);
	free(grid);
}

static void data(FILE *f, const rp_report_t *r, const char *title)
{
	const rp_agg_t *a = &r->agg;
	const rp_count_t *t = &a->day_victims[a->ndays];
	char first[32], last[32];
	uint64_t nasn;
	fputs("{\"title\":", f);
	rp_json_str(f, title ? title : "");
	fprintf(f, ",\"generator\":\"sinkhole-report %s\",\"privacy\":\"%s\",\"inputs\":%zu,\"records\":%llu",
		SK_VERSION, rp_privacy_name(r->priv.mode), r->ninputs, (unsigned long long)a->records);
	if (a->records) {
		rp_time_text(a->first, first);
		rp_time_text(a->last, last);
		fprintf(f, ",\"first\":\"%s\",\"last\":\"%s\"", first, last);
	} else {
		fputs(",\"first\":null,\"last\":null", f);
	}
	fprintf(f, ",\"totals\":{\"queries\":%llu,\"victims\":{\"total\":%u,\"addresses\":%u,\"subnets\":%u}}",
		(unsigned long long)t->queries, t->addresses + t->subnets, t->addresses, t->subnets);
	fputs(",\"days\":[", f);
	for (uint32_t d = 0; d < a->ndays; d++) {
		const rp_count_t *c = &a->day_victims[d];
		fprintf(f, "%s{\"day\":\"%s\",\"records\":%llu,\"queries\":%llu,\"victims\":%u,\"addresses\":%u,"
			"\"subnets\":%u}", d ? "," : "", a->days[a->day_order[d]].date,
			(unsigned long long)a->days[a->day_order[d]].records, (unsigned long long)c->queries,
			c->addresses + c->subnets, c->addresses, c->subnets);
	}
	fputc(']', f);
	list(f, r, "countries", RP_D_COUNTRY, 0);
	list(f, r, "asns", RP_D_ASN, HTML_TOP);
	rp_cells(r, RP_ALL_DAYS, RP_D_ASN, &nasn);
	fprintf(f, ",\"asns_distinct\":%llu", (unsigned long long)nasn);
	list(f, r, "domains", RP_D_DOMAIN, HTML_TOP);
	list(f, r, "networks", RP_D_NETWORK, HTML_TOP);
	list(f, r, "cases", RP_D_CASE, HTML_TOP);
	list(f, r, "operations", RP_D_OPERATION, HTML_TOP);
	list(f, r, "families", RP_D_FAMILY, HTML_TOP);
	points(f, r);
	fputc('}', f);
}

int rp_write_html(const rp_report_t *r)
{
	const char *mark = strstr(rp_html_template, PLACEHOLDER);
	FILE *f = rp_create(r, "report.html");
	if (!f)
		return -1;
	fwrite(rp_html_template, 1, (size_t)(mark - rp_html_template), f);
	data(f, r, r->title);
	fputs(mark + strlen(PLACEHOLDER), f);
	return rp_close(f, r, "report.html");
}
