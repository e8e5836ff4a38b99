/* out_util.c -- what the report writers share: the prepared names, cell order, files, escaping */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

static const char *const dim_names[RP_D_N] = {
	"country", "asn", "domain", "case", "operation", "family", "network",
};

const char *rp_dim_name(unsigned dim)
{
	return dim < RP_D_N ? dim_names[dim] : "?";
}

static const rp_report_t *g_rep;

/* The text of a cell's value (not for ASNs, which are numbers). */
static const char *cell_text(const rp_report_t *r, const rp_cell_t *c)
{
	switch (c->dim) {
	case RP_D_DOMAIN: return r->domain_out[c->value];
	case RP_D_NETWORK: return r->network_out[c->value];
	default: return rp_str(&r->agg, c->value);
	}
}

static int by_day_dim_rank(const void *x, const void *y)
{
	const rp_cell_t *a = x, *b = y;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	if (a->dim != b->dim)
		return a->dim < b->dim ? -1 : 1;
	uint64_t va = (uint64_t)a->c.addresses + a->c.subnets, vb = (uint64_t)b->c.addresses + b->c.subnets;
	if (va != vb)
		return va > vb ? -1 : 1;
	if (a->c.queries != b->c.queries)
		return a->c.queries > b->c.queries ? -1 : 1;
	/* Ties by the value's text (ASNs by number), so that the order does not depend on the order
	 * of the input. */
	uint32_t ra = a->value, rb = b->value;
	if (a->dim == RP_D_DOMAIN) {
		ra = g_rep->dom_rank[ra];
		rb = g_rep->dom_rank[rb];
	} else if (a->dim == RP_D_NETWORK) {
		ra = g_rep->net_rank[ra];
		rb = g_rep->net_rank[rb];
	} else if (a->dim != RP_D_ASN) {
		ra = g_rep->str_rank[ra];
		rb = g_rep->str_rank[rb];
	}
	return (ra > rb) - (ra < rb);
}

/* rank[id] = the place of text(id) among all n texts in byte order: ties in the rankings are
 * broken by text without comparing strings inside the sort (networks: hundreds of thousands). */
static const char *const *g_texts;

static int by_text(const void *x, const void *y)
{
	return strcmp(g_texts[*(const uint32_t *)x], g_texts[*(const uint32_t *)y]);
}

static uint32_t *text_ranks(const char *const *texts, uint32_t n)
{
	uint32_t *ids = malloc(((size_t)n + 1) * sizeof *ids), *rank = malloc(((size_t)n + 1) * sizeof *rank);
	if (!ids || !rank) {
		free(ids);
		free(rank);
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++)
		ids[i] = i;
	g_texts = texts;
	qsort(ids, n, sizeof *ids, by_text);
	for (uint32_t i = 0; i < n; i++)
		rank[ids[i]] = i;
	free(ids);
	return rank;
}

static int by_asn(const void *x, const void *y)
{
	const rp_asn_name_t *a = x, *b = y;
	if (a->asn != b->asn)
		return a->asn < b->asn ? -1 : 1;
	return (a->name < b->name) - (a->name > b->name);   /* a named one first */
}

static char *dup_mapped(const rp_privacy_t *p, const char *text)
{
	char buf[128];
	rp_privacy_map(p, text, buf, sizeof buf);
	return strdup(buf);
}

static int asn_names(rp_report_t *r)
{
	const rp_agg_t *a = &r->agg;
	uint32_t n = rp_intern_count(a->geo_text), k = 0;
	if (!(r->asn_names = malloc(((size_t)n + 1) * sizeof *r->asn_names)))
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		if (a->geos[i].asn)
			r->asn_names[k++] = (rp_asn_name_t){ a->geos[i].asn, a->geos[i].as_org };
	qsort(r->asn_names, k, sizeof *r->asn_names, by_asn);
	size_t u = 0;
	for (uint32_t i = 0; i < k; i++)
		if (!u || r->asn_names[u - 1].asn != r->asn_names[i].asn)
			r->asn_names[u++] = r->asn_names[i];
	r->nasn_names = u;
	return 0;
}

int rp_prepare(rp_report_t *r)
{
	rp_agg_t *a = &r->agg;
	uint32_t nv = rp_intern_count(a->victims), nn = rp_intern_count(a->networks);
	uint32_t nd = rp_intern_count(a->domains);
	size_t groups = ((size_t)a->ndays + 1) * RP_D_N + 1;

	r->victim_out = calloc((size_t)nv + 1, sizeof *r->victim_out);
	r->network_out = calloc((size_t)nn + 1, sizeof *r->network_out);
	r->domain_out = calloc((size_t)nd + 1, sizeof *r->domain_out);
	r->dim_start = calloc(groups + 1, sizeof *r->dim_start);
	if (!r->victim_out || !r->network_out || !r->domain_out || !r->dim_start || asn_names(r) < 0)
		return -ENOMEM;
	for (uint32_t v = 0; v < nv; v++)
		if (!(r->victim_out[v] = dup_mapped(&r->priv, rp_victim_text(a, v))))
			return -ENOMEM;
	/* Networks are already /24 and /48: truncation leaves them; hashing hides them too. */
	rp_privacy_t netp = r->priv;
	if (netp.mode == RP_PRIV_TRUNCATE)
		netp.mode = RP_PRIV_NONE;
	for (uint32_t i = 0; i < nn; i++)
		if (!(r->network_out[i] = dup_mapped(&netp, rp_intern_str(a->networks, i, NULL))))
			return -ENOMEM;
	for (uint32_t i = 0; i < nd; i++) {
		uint32_t len;
		const char *esc = rp_intern_str(a->domains, i, &len);
		char buf[1100];
		rp_unescape((rp_slice_t){ esc, len }, buf, sizeof buf);
		if (!(r->domain_out[i] = strdup(buf)))
			return -ENOMEM;
	}
	uint32_t ns = rp_intern_count(a->strings);
	const char **strs = malloc(((size_t)ns + 1) * sizeof *strs);
	if (!strs)
		return -ENOMEM;
	for (uint32_t i = 0; i < ns; i++)
		strs[i] = rp_str(a, i);
	r->str_rank = text_ranks(strs, ns);
	free(strs);
	r->dom_rank = text_ranks((const char *const *)r->domain_out, nd);
	r->net_rank = text_ranks((const char *const *)r->network_out, nn);
	if (!r->str_rank || !r->dom_rank || !r->net_rank)
		return -ENOMEM;
	g_rep = r;
	qsort(a->cells, a->ncells, sizeof *a->cells, by_day_dim_rank);
	/* Group starts: group g = day rank * RP_D_N + dim, all days last. */
	for (uint64_t i = a->ncells; i-- > 0;) {
		const rp_cell_t *c = &a->cells[i];
		size_t g = (size_t)(c->day == RP_ALL_DAYS ? a->ndays : c->day) * RP_D_N + c->dim;
		r->dim_start[g] = i + 1;   /* +1: 0 means empty */
	}
	return 0;
}

const rp_cell_t *rp_cells(const rp_report_t *r, uint32_t day, unsigned dim, uint64_t *n)
{
	const rp_agg_t *a = &r->agg;
	size_t g = (size_t)(day == RP_ALL_DAYS ? a->ndays : day) * RP_D_N + dim;
	*n = 0;
	if (!r->dim_start[g])
		return NULL;
	uint64_t start = r->dim_start[g] - 1, end = start;
	while (end < a->ncells && a->cells[end].day == a->cells[start].day && a->cells[end].dim == dim)
		end++;
	*n = end - start;
	return &a->cells[start];
}

void rp_report_free(rp_report_t *r)
{
	uint32_t nv = r->agg.victims ? rp_intern_count(r->agg.victims) : 0;
	uint32_t nn = r->agg.networks ? rp_intern_count(r->agg.networks) : 0;
	uint32_t nd = r->agg.domains ? rp_intern_count(r->agg.domains) : 0;
	for (uint32_t i = 0; r->victim_out && i < nv; i++)
		free(r->victim_out[i]);
	for (uint32_t i = 0; r->network_out && i < nn; i++)
		free(r->network_out[i]);
	for (uint32_t i = 0; r->domain_out && i < nd; i++)
		free(r->domain_out[i]);
	free(r->victim_out);
	free(r->network_out);
	free(r->domain_out);
	free(r->asn_names);
	free(r->dim_start);
	free(r->str_rank);
	free(r->dom_rank);
	free(r->net_rank);
	rp_agg_free(&r->agg);
}

size_t rp_asn_index(const rp_report_t *r, uint32_t asn)
{
	size_t lo = 0, hi = r->nasn_names;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (r->asn_names[mid].asn < asn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->nasn_names && r->asn_names[lo].asn == asn ? lo : r->nasn_names;
}

const char *rp_asn_name(const rp_report_t *r, uint32_t asn)
{
	size_t i = rp_asn_index(r, asn);
	return i < r->nasn_names ? rp_str(&r->agg, r->asn_names[i].name) : "";
}

void rp_cell_key(const rp_report_t *r, const rp_cell_t *c, char *out, size_t cap)
{
	if (c->dim == RP_D_ASN)
		snprintf(out, cap, "%u", c->value);
	else
		snprintf(out, cap, "%s", cell_text(r, c));
}

FILE *rp_create(const rp_report_t *r, const char *name)
{
	size_t n = strlen(r->outdir) + strlen(name) + 2;
	char path[n];
	snprintf(path, n, "%s/%s", r->outdir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "sinkhole-report: cannot create %s: %s\n", path, strerror(errno));
		return NULL;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	return f;
}

int rp_close(FILE *f, const rp_report_t *r, const char *name)
{
	if (ferror(f) | fclose(f)) {
		fprintf(stderr, "sinkhole-report: cannot write %s/%s: %s\n", r->outdir, name, strerror(errno));
		return -1;
	}
	return 0;
}

void rp_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else if (*p == '/' && p > (const unsigned char *)s && p[-1] == '<')
			fputs("\\/", f);   /* "</script>" inside the HTML's data must not end the script */
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

void rp_csv_field(FILE *f, const char *s)
{
	/* A cell starting with = + - @ (or a tab or CR) is a formula to spreadsheets: one quote in
	 * front makes it text (OWASP's advice for CSV injection). Addresses, numbers and times never
	 * start so; names from databases and tags might. */
	bool guard = strchr("=+-@\t\r", s[0]) && s[0];
	bool quote = guard || strpbrk(s, ",\"\n\r") != NULL;
	if (!quote) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	if (guard)
		fputc('\'', f);
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			fputc('"', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

void rp_time_text(int64_t us, char out[32])
{
	rp_format_time(us, out);
}
