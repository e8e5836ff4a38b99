/* out_csv.c -- notification CSVs (one file per ASN and per country), victims.csv, daily.csv */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report.h"
#include "rsort.h"

#define NOTIFY_HEADER "timestamp,address,port,asn,as_name,country,region,city,domain,case,operation," \
	"family,queries,last_seen\n"

/*
 * Millions of rows: every text that appears in a row is made CSV-ready once (quoted when it
 * must be, guarded against spreadsheet formulas), and a row is assembled in a buffer and written
 * with one fwrite. Rows are ordered by group, then time, with a radix sort.
 */
typedef struct csvtext {
	char **str;               /* per string id */
	char **dom;               /* per domain id */
	char **asname;            /* per ASN name index (rp_report_t.asn_names) */
	uint32_t nstr, ndom;
} csvtext_t;

static char *csv_dup(const char *s)
{
	char *buf;
	size_t len;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return NULL;
	rp_csv_field(m, s);
	if (fclose(m) != 0)
		return NULL;
	return buf;
}

static void csvtext_free(csvtext_t *t, size_t nasn)
{
	for (uint32_t i = 0; t->str && i < t->nstr; i++)
		free(t->str[i]);
	for (uint32_t i = 0; t->dom && i < t->ndom; i++)
		free(t->dom[i]);
	for (size_t i = 0; t->asname && i < nasn; i++)
		free(t->asname[i]);
	free(t->str);
	free(t->dom);
	free(t->asname);
}

static int csvtext_init(csvtext_t *t, const rp_report_t *r)
{
	const rp_agg_t *a = &r->agg;
	memset(t, 0, sizeof *t);
	t->nstr = rp_intern_count(a->strings);
	t->ndom = rp_intern_count(a->domains);
	if (!(t->str = calloc(t->nstr + 1, sizeof *t->str)) || !(t->dom = calloc(t->ndom + 1, sizeof *t->dom)) ||
	    !(t->asname = calloc(r->nasn_names + 1, sizeof *t->asname)))
		return -ENOMEM;
	for (uint32_t i = 0; i < t->nstr; i++)
		if (!(t->str[i] = csv_dup(rp_str(a, i))))
			return -ENOMEM;
	for (uint32_t i = 0; i < t->ndom; i++)
		if (!(t->dom[i] = csv_dup(r->domain_out[i])))
			return -ENOMEM;
	for (size_t i = 0; i < r->nasn_names; i++)
		if (!(t->asname[i] = csv_dup(rp_str(a, r->asn_names[i].name))))
			return -ENOMEM;
	return 0;
}

static const char *asname_csv(const rp_report_t *r, const csvtext_t *t, uint32_t asn)
{
	size_t i = rp_asn_index(r, asn);
	return i < r->nasn_names ? t->asname[i] : "";
}

/* ---- a line buffer ---- */

typedef struct line {
	char b[4096];
	size_t n;
} line_t;

static void put(line_t *l, const char *s)
{
	size_t k = strlen(s);
	if (k > sizeof l->b - l->n - 1)
		k = sizeof l->b - l->n - 1;
	memcpy(l->b + l->n, s, k);
	l->n += k;
}

static void putc1(line_t *l, char c)
{
	if (l->n < sizeof l->b - 1)
		l->b[l->n++] = c;
}

static void put_u64(line_t *l, uint64_t v)
{
	char tmp[24], *q = tmp + sizeof tmp;
	*--q = '\0';
	do {
		*--q = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(l, q);
}

static void put_time(line_t *l, int64_t us)
{
	char t[32];
	rp_format_time(us, t);
	put(l, t);
}

/* ---- notification files ---- */

static void notify_row(FILE *f, const rp_report_t *r, const csvtext_t *t, const rp_row_t *row)
{
	const rp_agg_t *a = &r->agg;
	const rp_geo_t *g = &a->geos[row->geo];
	const rp_tags_t *tg = &a->tags[row->tags];
	line_t l;
	l.n = 0;
	put_time(&l, row->first);
	putc1(&l, ',');
	put(&l, r->victim_out[row->victim]);     /* addresses, subnets, h:hex: never need quotes */
	putc1(&l, ',');
	put_u64(&l, row->port);
	putc1(&l, ',');
	if (g->asn)
		put_u64(&l, g->asn);
	putc1(&l, ',');
	put(&l, asname_csv(r, t, g->asn));
	const char *rest[] = { t->str[g->country], t->str[g->region], t->str[g->city], t->dom[row->domain],
		t->str[tg->case_id], t->str[tg->operation], t->str[tg->family] };
	for (size_t i = 0; i < sizeof rest / sizeof *rest; i++) {
		putc1(&l, ',');
		put(&l, rest[i]);
	}
	putc1(&l, ',');
	put_u64(&l, row->count);
	putc1(&l, ',');
	put_time(&l, row->last);
	putc1(&l, '\n');
	fwrite_unlocked(l.b, 1, l.n, f);
}

/* A country code as its file is named: two capital letters, else "unknown". */
static const char *country_key(const rp_report_t *r, uint32_t id)
{
	const char *cc = rp_str(&r->agg, id);
	bool ok = strlen(cc) == 2 && cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z';
	return ok ? cc : "unknown";
}

static void group_file(const rp_report_t *r, int by, uint32_t group, char *out, size_t cap)
{
	if (by == RP_D_ASN) {
		if (group)
			snprintf(out, cap, "csv/asn/AS%u.csv", group);
		else
			snprintf(out, cap, "csv/asn/unknown.csv");
		return;
	}
	snprintf(out, cap, "csv/country/%s.csv", country_key(r, group));
}

static const rp_report_t *g_rep;

static int by_country_key(const void *x, const void *y)
{
	return strcmp(country_key(g_rep, *(const uint32_t *)x), country_key(g_rep, *(const uint32_t *)y));
}

/*
 * Sort keys for rows: by ASN, or by the country's file name (codes that are not two letters share
 * unknown.csv, so they get one rank), then by first query time.
 */
static int group_keys(const rp_report_t *r, int by, uint64_t **out)
{
	const rp_agg_t *a = &r->agg;
	uint32_t nstr = rp_intern_count(a->strings), *ids = NULL;
	uint64_t *rank = calloc((size_t)nstr + 1, sizeof *rank);
	*out = rank;
	if (!rank)
		return -ENOMEM;
	if (by == RP_D_ASN)
		return 0;
	if (!(ids = malloc(((size_t)nstr + 1) * sizeof *ids)))
		return -ENOMEM;
	for (uint32_t i = 0; i < nstr; i++)
		ids[i] = i;
	g_rep = r;
	qsort(ids, nstr, sizeof *ids, by_country_key);
	uint64_t k = 0;
	for (uint32_t i = 0; i < nstr; i++) {
		if (i && strcmp(country_key(r, ids[i]), country_key(r, ids[i - 1])))
			k++;
		rank[ids[i]] = k;
	}
	free(ids);
	return 0;
}

static int write_groups(const rp_report_t *r, const csvtext_t *t, rp_kv_t *kv, int by)
{
	const rp_agg_t *a = &r->agg;
	uint64_t *rank = NULL;
	int64_t min_first = INT64_MAX;
	int rc = -1;

	if (group_keys(r, by, &rank) < 0)
		goto out;
	for (uint32_t i = 0; i < a->nrows; i++)
		if (a->rows[i].first < min_first)
			min_first = a->rows[i].first;
	for (uint32_t i = 0; i < a->nrows; i++)
		kv[i] = (rp_kv_t){ (uint64_t)(a->rows[i].first - min_first), i, 0 };
	if (rp_radix_sort(kv, a->nrows) < 0)
		goto out;
	for (uint32_t i = 0; i < a->nrows; i++) {
		const rp_geo_t *g = &a->geos[a->rows[kv[i].val].geo];
		kv[i].key = by == RP_D_ASN ? g->asn : rank[g->country];
		kv[i].aux = by == RP_D_ASN ? g->asn : g->country;
	}
	if (rp_radix_sort(kv, a->nrows) < 0)
		goto out;
	for (uint32_t i = 0; i < a->nrows;) {
		char name[64];
		uint32_t j = i;
		group_file(r, by, kv[i].aux, name, sizeof name);
		FILE *f = rp_create(r, name);
		if (!f)
			goto out;
		fputs(NOTIFY_HEADER, f);
		for (; j < a->nrows && kv[j].key == kv[i].key; j++) {
			/* Rows in time order are scattered in memory: ask for them (and the victim's text)
			 * a few rows ahead, so that writing does not wait for each. */
			if (j + 8 < a->nrows)
				__builtin_prefetch(&a->rows[kv[j + 8].val]);
			if (j + 4 < a->nrows)
				__builtin_prefetch(r->victim_out[a->rows[kv[j + 4].val].victim]);
			notify_row(f, r, t, &a->rows[kv[j].val]);
		}
		if (rp_close(f, r, name) < 0)
			goto out;
		i = j;
	}
	rc = 0;
out:
	free(rank);
	return rc;
}

/* ---- victims.csv and daily.csv ---- */

static int write_victims(const rp_report_t *r, const csvtext_t *t)
{
	const rp_agg_t *a = &r->agg;
	uint32_t nv = rp_intern_count(a->victims);
	rp_kv_t *kv = malloc(((size_t)nv + 1) * sizeof *kv);
	FILE *f = NULL;
	int64_t min_first = INT64_MAX;
	int rc = -1;

	if (!kv)
		return -1;
	for (uint32_t v = 0; v < nv; v++)
		if (a->vict[v].first < min_first)
			min_first = a->vict[v].first;
	for (uint32_t v = 0; v < nv; v++)
		kv[v] = (rp_kv_t){ (uint64_t)(a->vict[v].first - min_first), v, 0 };
	if (rp_radix_sort(kv, nv) < 0 || !(f = rp_create(r, "csv/victims.csv")))
		goto out;
	fputs("address,kind,first_seen,last_seen,days,domains,queries,asn,as_name,country\n", f);
	for (uint32_t i = 0; i < nv; i++) {
		uint32_t v = kv[i].val;
		const rp_victim_t *vt = &a->vict[v];
		const rp_geo_t *g = &a->geos[vt->geo];
		line_t l;
		l.n = 0;
		put(&l, r->victim_out[v]);
		put(&l, rp_victim_kind(a, v) == 's' ? ",subnet," : ",address,");
		put_time(&l, vt->first);
		putc1(&l, ',');
		put_time(&l, vt->last);
		putc1(&l, ',');
		put_u64(&l, vt->days);
		putc1(&l, ',');
		put_u64(&l, vt->domains);
		putc1(&l, ',');
		put_u64(&l, vt->queries);
		putc1(&l, ',');
		if (g->asn)
			put_u64(&l, g->asn);
		putc1(&l, ',');
		put(&l, asname_csv(r, t, g->asn));
		putc1(&l, ',');
		put(&l, t->str[g->country]);
		putc1(&l, '\n');
		fwrite_unlocked(l.b, 1, l.n, f);
	}
	rc = rp_close(f, r, "csv/victims.csv");
out:
	free(kv);
	return rc;
}

/* The CSV text of a cell's value. */
static const char *cell_csv(const rp_report_t *r, const csvtext_t *t, const rp_cell_t *c, char *num, size_t cap)
{
	switch (c->dim) {
	case RP_D_ASN:
		snprintf(num, cap, "%u", c->value);
		return num;
	case RP_D_DOMAIN:
		return t->dom[c->value];
	case RP_D_NETWORK:
		return r->network_out[c->value];   /* a network or h:hex: never quoted */
	default:
		return t->str[c->value];
	}
}

/*
 * Every (day, dimension, value) with its counts: the sums of summary.json in one table, uncut,
 * except networks: there can be one per victim and day, so each day (and "all") lists the first
 * --top of them, as summary.json does.
 */
static int write_daily(const rp_report_t *r, const csvtext_t *t)
{
	const rp_agg_t *a = &r->agg;
	FILE *f = rp_create(r, "csv/daily.csv");
	if (!f)
		return -1;
	fputs("day,dimension,key,name,queries,victims,addresses,subnets\n", f);
	for (uint32_t d = 0; d <= a->ndays; d++) {
		uint32_t day = d == a->ndays ? RP_ALL_DAYS : d;
		const char *date = d == a->ndays ? "all" : a->days[a->day_order[d]].date;
		const rp_count_t *dv = &a->day_victims[d];
		fprintf(f, "%s,total,,,%llu,%u,%u,%u\n", date, (unsigned long long)dv->queries,
			dv->addresses + dv->subnets, dv->addresses, dv->subnets);
		for (unsigned dim = 0; dim < RP_D_N; dim++) {
			uint64_t n;
			const rp_cell_t *c = rp_cells(r, day, dim, &n);
			if (dim == RP_D_NETWORK && r->top && n > r->top)
				n = r->top;
			for (uint64_t i = 0; i < n; i++) {
				char num[16];
				line_t l;
				l.n = 0;
				put(&l, date);
				putc1(&l, ',');
				put(&l, rp_dim_name(dim));
				putc1(&l, ',');
				put(&l, cell_csv(r, t, &c[i], num, sizeof num));
				putc1(&l, ',');
				if (dim == RP_D_ASN)
					put(&l, asname_csv(r, t, c[i].value));
				putc1(&l, ',');
				put_u64(&l, c[i].c.queries);
				putc1(&l, ',');
				put_u64(&l, (uint64_t)c[i].c.addresses + c[i].c.subnets);
				putc1(&l, ',');
				put_u64(&l, c[i].c.addresses);
				putc1(&l, ',');
				put_u64(&l, c[i].c.subnets);
				putc1(&l, '\n');
				fwrite_unlocked(l.b, 1, l.n, f);
			}
		}
	}
	return rp_close(f, r, "csv/daily.csv");
}

static int make_dir(const rp_report_t *r, const char *sub)
{
	size_t n = strlen(r->outdir) + strlen(sub) + 2;
	char path[n];
	snprintf(path, n, "%s/%s", r->outdir, sub);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "sinkhole-report: cannot create %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int rp_write_csv(const rp_report_t *r)
{
	rp_kv_t *kv = malloc(((size_t)r->agg.nrows + 1) * sizeof *kv);
	csvtext_t t = { 0 };
	int rc = -1;
	if (!kv || csvtext_init(&t, r) < 0) {
		fprintf(stderr, "sinkhole-report: out of memory\n");
		goto out;
	}
	if (make_dir(r, "csv") == 0 && make_dir(r, "csv/asn") == 0 && make_dir(r, "csv/country") == 0 &&
	    write_groups(r, &t, kv, RP_D_ASN) == 0 && write_groups(r, &t, kv, RP_D_COUNTRY) == 0 &&
	    write_victims(r, &t) == 0 && write_daily(r, &t) == 0)
		rc = 0;
out:
	csvtext_free(&t, r->nasn_names);
	free(kv);
	return rc;
}
