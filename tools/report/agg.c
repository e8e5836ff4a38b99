/* agg.c -- rows per victim, domain and day while reading; sums per day and dimension at the end */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"

static uint64_t row_hash(uint32_t v, uint32_t z, uint32_t d)
{
	return rp_mix(((uint64_t)v << 32 | z) ^ ((uint64_t)d * 0x9E3779B97F4A7C15ULL));
}

int rp_agg_init(rp_agg_t *a)
{
	memset(a, 0, sizeof *a);
	a->rtab_mask = (1u << 16) - 1;
	a->first = INT64_MAX;
	a->last = INT64_MIN;
	a->last_day = RP_NONE;
	if (!(a->victims = rp_intern_new()) || !(a->domains = rp_intern_new()) ||
	    !(a->geo_text = rp_intern_new()) || !(a->tag_text = rp_intern_new()) ||
	    !(a->strings = rp_intern_new()) || !(a->networks = rp_intern_new()) ||
	    !(a->rows = calloc(a->rtab_mask + 1, sizeof *a->rows)))
		return -ENOMEM;
	/* String id 0 is "": what an absent member reads as. */
	if (rp_intern(a->strings, "", 0, NULL) != 0)
		return -ENOMEM;
	return 0;
}

void rp_agg_free(rp_agg_t *a)
{
	rp_intern_free(a->victims);
	rp_intern_free(a->domains);
	rp_intern_free(a->geo_text);
	rp_intern_free(a->tag_text);
	rp_intern_free(a->strings);
	rp_intern_free(a->networks);
	free(a->geos);
	free(a->tags);
	free(a->rows);
	free(a->days);
	free(a->cells);
	free(a->day_victims);
	free(a->vict);
	free(a->day_order);
	free(a->day_rank);
	memset(a, 0, sizeof *a);
}

const char *rp_str(const rp_agg_t *a, uint32_t id)
{
	return rp_intern_str(a->strings, id, NULL);
}

static uint32_t str_id(rp_agg_t *a, rp_slice_t s, bool escaped)
{
	char buf[1024];
	if (!escaped)
		return rp_intern(a->strings, s.p, s.n, NULL);
	size_t n = rp_unescape(s, buf, sizeof buf);
	return rp_intern(a->strings, buf, n, NULL);
}

/* ---- geolocation and tags objects, parsed once per distinct text ---- */

typedef struct geo_parse {
	rp_agg_t *a;
	rp_geo_t *g;
	bool has_lat, has_lon;
} geo_parse_t;

static void geo_member(rp_slice_t k, rp_slice_t v, bool is_string, void *arg)
{
	geo_parse_t *gp = arg;
	char num[48];
	if (is_string) {
		if (k.n == 7 && !memcmp(k.p, "country", 7))
			gp->g->country = str_id(gp->a, v, true);
		else if (k.n == 6 && !memcmp(k.p, "region", 6))
			gp->g->region = str_id(gp->a, v, true);
		else if (k.n == 4 && !memcmp(k.p, "city", 4))
			gp->g->city = str_id(gp->a, v, true);
		else if (k.n == 6 && !memcmp(k.p, "as_org", 6))
			gp->g->as_org = str_id(gp->a, v, true);
		return;
	}
	if (v.n >= sizeof num)
		return;
	memcpy(num, v.p, v.n);
	num[v.n] = '\0';
	if (k.n == 3 && !memcmp(k.p, "asn", 3))
		gp->g->asn = (uint32_t)strtoul(num, NULL, 10);
	else if (k.n == 3 && !memcmp(k.p, "lat", 3)) {
		gp->g->lat = strtof(num, NULL);
		gp->has_lat = true;
	} else if (k.n == 3 && !memcmp(k.p, "lon", 3)) {
		gp->g->lon = strtof(num, NULL);
		gp->has_lon = true;
	}
}

static uint32_t geo_id(rp_agg_t *a, rp_slice_t obj, uint64_t h)
{
	int added;
	uint32_t id = rp_intern_h(a->geo_text, obj.p ? obj.p : "", obj.n, h, &added);
	if (id == RP_NONE || !added)
		return id;
	if (id >= a->geos_cap) {
		uint32_t ncap = a->geos_cap ? a->geos_cap * 2 : 256;
		rp_geo_t *ng = realloc(a->geos, ncap * sizeof *ng);
		if (!ng)
			return RP_NONE;
		a->geos = ng;
		a->geos_cap = ncap;
	}
	rp_geo_t *g = &a->geos[id];
	memset(g, 0, sizeof *g);
	geo_parse_t gp = { a, g, false, false };
	if (obj.p)
		rp_members(obj, geo_member, &gp);
	g->has_ll = gp.has_lat && gp.has_lon;
	return id;
}

static void tag_member(rp_slice_t k, rp_slice_t v, bool is_string, void *arg)
{
	void **ctx = arg;
	rp_agg_t *a = ctx[0];
	rp_tags_t *t = ctx[1];
	if (!is_string)
		return;
	if (k.n == 4 && !memcmp(k.p, "case", 4))
		t->case_id = str_id(a, v, true);
	else if (k.n == 9 && !memcmp(k.p, "operation", 9))
		t->operation = str_id(a, v, true);
	else if (k.n == 6 && !memcmp(k.p, "family", 6))
		t->family = str_id(a, v, true);
}

static uint32_t tags_id(rp_agg_t *a, rp_slice_t obj, uint64_t h)
{
	int added;
	uint32_t id = rp_intern_h(a->tag_text, obj.p ? obj.p : "", obj.n, h, &added);
	if (id == RP_NONE || !added)
		return id;
	if (id >= a->tags_cap) {
		uint32_t ncap = a->tags_cap ? a->tags_cap * 2 : 64;
		rp_tags_t *nt = realloc(a->tags, ncap * sizeof *nt);
		if (!nt)
			return RP_NONE;
		a->tags = nt;
		a->tags_cap = ncap;
	}
	memset(&a->tags[id], 0, sizeof a->tags[id]);
	void *ctx[2] = { a, &a->tags[id] };
	if (obj.p)
		rp_members(obj, tag_member, ctx);
	return id;
}

/* ---- days ---- */

static uint32_t day_id(rp_agg_t *a, rp_slice_t t)
{
	if (a->last_day != RP_NONE && !memcmp(a->days[a->last_day].date, t.p, 10))
		return a->last_day;
	for (uint32_t i = 0; i < a->ndays; i++)
		if (!memcmp(a->days[i].date, t.p, 10))
			return a->last_day = i;
	if (a->ndays == RP_ALL_DAYS)
		return RP_NONE;
	rp_day_t *nd = realloc(a->days, (a->ndays + 1) * sizeof *nd);
	if (!nd)
		return RP_NONE;
	a->days = nd;
	memset(&nd[a->ndays], 0, sizeof *nd);
	memcpy(nd[a->ndays].date, t.p, 10);
	return a->last_day = a->ndays++;
}

/* ---- rows ---- */

/*
 * The rows are their own hash table (a row with count 0 is an empty slot): a record costs one
 * probe into memory it then updates in place, the one cache miss per record that cannot be
 * avoided with millions of rows.
 */
static int grow_rows(rp_agg_t *a)
{
	uint64_t nmask = a->rtab_mask * 2 + 1;
	rp_row_t *nt = calloc(nmask + 1, sizeof *nt);
	if (!nt)
		return -ENOMEM;
	for (uint64_t k = 0; k <= a->rtab_mask; k++) {
		const rp_row_t *row = &a->rows[k];
		if (!row->count)
			continue;
		uint64_t i = row_hash(row->victim, row->domain, row->day) & nmask;
		while (nt[i].count)
			i = (i + 1) & nmask;
		nt[i] = *row;
	}
	free(a->rows);
	a->rows = nt;
	a->rtab_mask = nmask;
	return 0;
}

static int add_row(rp_agg_t *a, uint32_t v, uint32_t z, uint32_t d, const rp_rec_t *r, int64_t us,
	uint32_t geo, uint32_t tags)
{
	uint64_t i = row_hash(v, z, d) & a->rtab_mask;
	for (;; i = (i + 1) & a->rtab_mask) {
		rp_row_t *row = &a->rows[i];
		if (!row->count)
			break;
		if (row->victim == v && row->domain == z && row->day == d) {
			row->count++;
			if (us < row->first) {
				/* Files may come in any order: the row describes its earliest query. */
				row->first = us;
				row->port = (uint16_t)r->sport;
				row->geo = geo;
				row->tags = tags;
			}
			if (us > row->last)
				row->last = us;
			return 0;
		}
	}
	a->rows[i] = (rp_row_t){ v, z, geo, tags, 1, (uint16_t)d, (uint16_t)r->sport, us, us };
	a->nrows++;
	/* Up to 70% full: linear probing stays short, and the table (the report's largest memory)
	 * is not twice the rows. */
	if ((uint64_t)a->nrows * 10 > a->rtab_mask * 7)
		return grow_rows(a);
	return 0;
}

int rp_agg_pack(rp_agg_t *a)
{
	uint32_t k = 0;
	for (uint64_t i = 0; i <= a->rtab_mask; i++)
		if (a->rows[i].count)
			a->rows[k++] = a->rows[i];
	rp_row_t *shrunk = realloc(a->rows, ((size_t)k + 1) * sizeof *shrunk);
	if (shrunk)
		a->rows = shrunk;
	a->rows_cap = k + 1;
	a->rtab_mask = 0;
	return 0;
}

/* A source prefix of 0: the client asked that its subnet not be used (RFC 7871 7.1.2). */
static bool is_slash0(rp_slice_t ecs)
{
	return ecs.n >= 2 && ecs.p[ecs.n - 2] == '/' && ecs.p[ecs.n - 1] == '0';
}

int rp_agg_prepare(const rp_rec_t *r, rp_item_t *it)
{
	it->r = *r;
	it->us = rp_parse_time(r->time);
	if (it->us < 0 || !r->src.p || r->src.n == 0 || r->src.n >= RP_KEY_MAX)
		return -EINVAL;
	if (!r->zone.p)
		return 0;
	it->subnet = r->ecs.p && r->ecs.n > 0 && r->ecs.n < RP_KEY_MAX && !is_slash0(r->ecs);
	it->who = it->subnet ? r->ecs : r->src;
	it->geo = it->subnet ? r->ecs_geo : r->geo;
	it->hv = rp_hash(it->who.p, it->who.n) ^ (it->subnet ? 0x9E3779B97F4A7C15ULL : 0);
	it->hz = rp_hash(r->zone.p, r->zone.n);
	it->hg = rp_hash(it->geo.p ? it->geo.p : "", it->geo.n);
	it->ht = rp_hash(r->tags.p ? r->tags.p : "", r->tags.n);
	return 0;
}

int rp_agg_add_item(rp_agg_t *a, const rp_item_t *it)
{
	const rp_rec_t *r = &it->r;
	char key[RP_KEY_MAX + 1];
	uint32_t d = day_id(a, r->time);
	if (d == RP_NONE)
		return -ENOMEM;
	a->records++;
	a->days[d].records++;
	if (it->us < a->first)
		a->first = it->us;
	if (it->us > a->last)
		a->last = it->us;
	if (!r->zone.p) {
		a->unmatched++;
		a->days[d].unmatched++;
		return 0;
	}
	key[0] = it->subnet ? 's' : 'a';
	memcpy(key + 1, it->who.p, it->who.n);
	uint32_t v = rp_intern_h(a->victims, key, it->who.n + 1, it->hv, NULL);
	uint32_t z = rp_intern_h(a->domains, r->zone.p, r->zone.n, it->hz, NULL);
	uint32_t g = geo_id(a, it->geo, it->hg);
	uint32_t t = tags_id(a, r->tags, it->ht);
	if (v == RP_NONE || z == RP_NONE || g == RP_NONE || t == RP_NONE)
		return -ENOMEM;
	return add_row(a, v, z, d, r, it->us, g, t);
}

int rp_agg_add(rp_agg_t *a, const rp_rec_t *r)
{
	rp_item_t it;
	int rc = rp_agg_prepare(r, &it);
	return rc < 0 ? rc : rp_agg_add_item(a, &it);
}
