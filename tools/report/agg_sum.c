/* agg_sum.c -- from rows to sums: unique victims per day and dimension, exact, by sorting rows */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "rsort.h"

/*
 * Unique counts come from the rows, not from a set per (day, dimension, value) kept while
 * reading: rows sorted by victim and day put each victim's rows for a day side by side, so a
 * victim is counted once for each distinct value its rows have. Reading stays one hash lookup
 * per record; the sums cost one sort of the rows.
 */

typedef struct cellmap {
	uint64_t *keys;          /* 0: empty */
	uint32_t *idx;
	uint64_t mask;
	rp_cell_t *cells;
	uint64_t n, cap;
} cellmap_t;

static uint64_t cell_key(uint32_t day, unsigned dim, uint32_t value)
{
	return ((uint64_t)day << 40 | (uint64_t)dim << 32 | value) + 1;
}

static int cellmap_grow(cellmap_t *m)
{
	uint64_t nmask = m->mask ? m->mask * 2 + 1 : 65535;
	uint64_t *nk = calloc(nmask + 1, sizeof *nk);
	uint32_t *ni = malloc((nmask + 1) * sizeof *ni);
	if (!nk || !ni) {
		free(nk);
		free(ni);
		return -ENOMEM;
	}
	for (uint64_t i = 0; m->keys && i <= m->mask; i++) {
		if (!m->keys[i])
			continue;
		uint64_t j = rp_mix(m->keys[i]) & nmask;
		while (nk[j])
			j = (j + 1) & nmask;
		nk[j] = m->keys[i];
		ni[j] = m->idx[i];
	}
	free(m->keys);
	free(m->idx);
	m->keys = nk;
	m->idx = ni;
	m->mask = nmask;
	return 0;
}

static rp_cell_t *cell(cellmap_t *m, uint32_t day, unsigned dim, uint32_t value)
{
	uint64_t k = cell_key(day, dim, value), i = rp_mix(k) & m->mask;
	for (; m->keys[i]; i = (i + 1) & m->mask)
		if (m->keys[i] == k)
			return &m->cells[m->idx[i]];
	if (m->n == m->cap) {
		uint64_t ncap = m->cap ? m->cap * 2 : 4096;
		rp_cell_t *nc = realloc(m->cells, ncap * sizeof *nc);
		if (!nc)
			return NULL;
		m->cells = nc;
		m->cap = ncap;
	}
	m->keys[i] = k;
	m->idx[i] = (uint32_t)m->n;
	rp_cell_t *c = &m->cells[m->n++];
	memset(c, 0, sizeof *c);
	c->day = (uint16_t)day;
	c->dim = (uint8_t)dim;
	c->value = value;
	if (m->n * 2 > m->mask && cellmap_grow(m) < 0)
		return NULL;
	/* The table moved: find the cell again by its index. */
	return &m->cells[m->n - 1];
}

/* ---- networks ---- */

/* The /24 (IPv4) or /48 (IPv6) a victim is in; a subnet shorter than that is its own network. */
static int network_of(const char *text, char *out, size_t cap)
{
	char addr[64];
	unsigned plen = 128;
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : strlen(text);
	unsigned char bytes[16];
	if (n >= sizeof addr)
		return -1;
	memcpy(addr, text, n);
	addr[n] = '\0';
	if (slash)
		plen = (unsigned)atoi(slash + 1);
	bool v4 = inet_pton(AF_INET, addr, bytes) == 1;
	if (!v4 && inet_pton(AF_INET6, addr, bytes) != 1)
		return -1;
	unsigned want = v4 ? 24 : 48, bits = plen < want ? plen : want, total = v4 ? 4 : 16;
	for (unsigned i = 0; i < total; i++) {
		unsigned keep = bits > 8 * i ? (bits - 8 * i >= 8 ? 8 : bits - 8 * i) : 0;
		bytes[i] &= (unsigned char)(0xFF00 >> keep);
	}
	char a[INET6_ADDRSTRLEN];
	inet_ntop(v4 ? AF_INET : AF_INET6, bytes, a, sizeof a);
	snprintf(out, cap, "%s/%u", a, bits);
	return 0;
}

/* ---- the sums ---- */

static const rp_agg_t *g_sort;   /* qsort has no context argument */

static int by_date(const void *x, const void *y)
{
	return memcmp(g_sort->days[*(const uint32_t *)x].date, g_sort->days[*(const uint32_t *)y].date, 10);
}

static void row_values(const rp_agg_t *a, const rp_row_t *r, uint32_t v[RP_D_N])
{
	const rp_geo_t *g = &a->geos[r->geo];
	const rp_tags_t *t = &a->tags[r->tags];
	v[RP_D_COUNTRY] = g->country;
	v[RP_D_ASN] = g->asn;
	v[RP_D_DOMAIN] = r->domain;
	v[RP_D_CASE] = t->case_id;
	v[RP_D_OPERATION] = t->operation;
	v[RP_D_FAMILY] = t->family;
	v[RP_D_NETWORK] = a->vict[r->victim].network;
}

/* One (dimension, value) of one row, with the row's queries. */
typedef struct pair {
	uint64_t dv;
	uint64_t queries;
} pair_t;

typedef struct scratch {
	pair_t *v;
	size_t cap;
} scratch_t;

static void sort_pairs(pair_t *p, size_t n)
{
	/* Groups are one victim's rows for a day: a handful, so insertion sort; a DGA victim with
	 * hundreds of domains is still fine. */
	for (size_t i = 1; i < n; i++) {
		pair_t x = p[i];
		size_t j = i;
		while (j > 0 && p[j - 1].dv > x.dv) {
			p[j] = p[j - 1];
			j--;
		}
		p[j] = x;
	}
}

static int cmp_pair(const void *x, const void *y)
{
	uint64_t a = ((const pair_t *)x)->dv, b = ((const pair_t *)y)->dv;
	return (a > b) - (a < b);
}

/*
 * One victim's rows kv[from..to) for `day` (a day rank or RP_ALL_DAYS): every distinct
 * (dimension, value) among them gets the victim once, and the rows' queries. *domains: how
 * many distinct domains.
 */
static int count_group(const rp_agg_t *a, cellmap_t *m, scratch_t *sc, const rp_kv_t *kv,
	uint32_t from, uint32_t to, uint32_t day, char kind, uint32_t *domains)
{
	size_t n = (size_t)(to - from) * RP_D_N, k = 0;
	if (n > sc->cap) {
		pair_t *nv = realloc(sc->v, n * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		sc->v = nv;
		sc->cap = n;
	}
	for (uint32_t i = from; i < to; i++) {
		const rp_row_t *r = &a->rows[kv[i].val];
		uint32_t vi[RP_D_N];
		row_values(a, r, vi);
		for (unsigned dim = 0; dim < RP_D_N; dim++)
			sc->v[k++] = (pair_t){ (uint64_t)dim << 32 | vi[dim], r->count };
	}
	if (k <= 64)
		sort_pairs(sc->v, k);
	else
		qsort(sc->v, k, sizeof *sc->v, cmp_pair);
	*domains = 0;
	for (size_t i = 0; i < k;) {
		size_t j = i;
		uint64_t q = 0;
		for (; j < k && sc->v[j].dv == sc->v[i].dv; j++)
			q += sc->v[j].queries;
		unsigned dim = (unsigned)(sc->v[i].dv >> 32);
		rp_cell_t *c = cell(m, day, dim, (uint32_t)sc->v[i].dv);
		if (!c)
			return -ENOMEM;
		c->c.queries += q;
		if (kind == 's')
			c->c.subnets++;
		else
			c->c.addresses++;
		*domains += dim == RP_D_DOMAIN;
		i = j;
	}
	return 0;
}

static void note_count(rp_count_t *c, char kind)
{
	if (kind == 's')
		c->subnets++;
	else
		c->addresses++;
}

/* One victim's rows kv[from..to), sorted by day. */
static int sum_victim(rp_agg_t *a, cellmap_t *m, scratch_t *sc, const rp_kv_t *kv, uint32_t from,
	uint32_t to)
{
	uint32_t v = a->rows[kv[from].val].victim, ndom;
	char kind = rp_victim_kind(a, v);
	rp_victim_t *vt = &a->vict[v];
	int64_t first_seen = INT64_MAX;
	int rc;

	vt->first = INT64_MAX;
	vt->last = INT64_MIN;
	for (uint32_t i = from; i < to;) {
		uint32_t day = a->day_rank[a->rows[kv[i].val].day], j = i;
		while (j < to && a->day_rank[a->rows[kv[j].val].day] == day)
			j++;
		if ((rc = count_group(a, m, sc, kv, i, j, day, kind, &ndom)) < 0)
			return rc;
		note_count(&a->day_victims[day], kind);
		vt->days++;
		i = j;
	}
	if ((rc = count_group(a, m, sc, kv, from, to, RP_ALL_DAYS, kind, &vt->domains)) < 0)
		return rc;
	note_count(&a->day_victims[a->ndays], kind);
	for (uint32_t i = from; i < to; i++) {
		const rp_row_t *r = &a->rows[kv[i].val];
		vt->queries += r->count;
		a->day_victims[a->day_rank[r->day]].queries += r->count;
		a->day_victims[a->ndays].queries += r->count;
		if (r->first < first_seen) {
			first_seen = r->first;
			vt->geo = r->geo;
		}
		if (r->first < vt->first)
			vt->first = r->first;
		if (r->last > vt->last)
			vt->last = r->last;
	}
	return 0;
}

static int networks(rp_agg_t *a)
{
	uint32_t n = rp_intern_count(a->victims);
	char net[80];
	for (uint32_t v = 0; v < n; v++) {
		if (network_of(rp_victim_text(a, v), net, sizeof net) < 0)
			snprintf(net, sizeof net, "%s", rp_victim_text(a, v));
		if ((a->vict[v].network = rp_intern(a->networks, net, strlen(net), NULL)) == RP_NONE)
			return -ENOMEM;
	}
	return 0;
}

/* Put the rows in the sorted order, so that the passes below (and the writers' passes over a
 * victim's rows) read memory in sequence. kv's values become 0, 1, 2 ... */
static int reorder_rows(rp_agg_t *a, rp_kv_t *kv)
{
	rp_row_t *nr = malloc(((size_t)a->nrows + 1) * sizeof *nr);
	if (!nr)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->nrows; i++) {
		if (i + 8 < a->nrows)
			__builtin_prefetch(&a->rows[kv[i + 8].val]);
		nr[i] = a->rows[kv[i].val];
		kv[i].val = i;
	}
	free(a->rows);
	a->rows = nr;
	a->rows_cap = a->nrows + 1;
	return 0;
}

int rp_agg_finish(rp_agg_t *a)
{
	uint32_t nv = rp_intern_count(a->victims);
	rp_agg_pack(a);
	rp_kv_t *kv = malloc(((size_t)a->nrows + 1) * sizeof *kv);
	cellmap_t m = { 0 };
	scratch_t sc = { 0 };
	int rc = -ENOMEM;

	a->vict = calloc((size_t)nv + 1, sizeof *a->vict);
	a->day_victims = calloc((size_t)a->ndays + 1, sizeof *a->day_victims);
	a->day_order = malloc(((size_t)a->ndays + 1) * sizeof *a->day_order);
	a->day_rank = malloc(((size_t)a->ndays + 1) * sizeof *a->day_rank);
	if (!kv || !a->vict || !a->day_victims || !a->day_order || !a->day_rank || cellmap_grow(&m) < 0)
		goto out;
	g_sort = a;
	for (uint32_t i = 0; i < a->ndays; i++)
		a->day_order[i] = i;
	qsort(a->day_order, a->ndays, sizeof *a->day_order, by_date);
	for (uint32_t i = 0; i < a->ndays; i++)
		a->day_rank[a->day_order[i]] = i;
	if ((rc = networks(a)) < 0)
		goto out;
	/* Rows by victim, then day: each victim's days side by side. */
	for (uint32_t i = 0; i < a->nrows; i++)
		kv[i] = (rp_kv_t){ (uint64_t)a->rows[i].victim << 16 | a->day_rank[a->rows[i].day], i, 0 };
	if ((rc = rp_radix_sort(kv, a->nrows)) < 0 || (rc = reorder_rows(a, kv)) < 0)
		goto out;
	rc = -ENOMEM;
	for (uint32_t i = 0; i < a->nrows;) {
		uint32_t j = i, v = a->rows[kv[i].val].victim;
		while (j < a->nrows && a->rows[kv[j].val].victim == v)
			j++;
		if ((rc = sum_victim(a, &m, &sc, kv, i, j)) < 0)
			goto out;
		i = j;
	}
	a->cells = m.cells;
	a->ncells = m.n;
	m.cells = NULL;
	rc = 0;
out:
	free(sc.v);
	free(m.keys);
	free(m.idx);
	free(m.cells);
	free(kv);
	return rc;
}
