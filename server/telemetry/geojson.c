/* geojson.c -- a geolocation result as JSON, rendered once per cached network, not per record */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "telemetry/geojson.h"
#include "util/json.h"

typedef struct gw {
	char *p, *end;
	bool over;
} gw_t;

static void put(gw_t *w, const char *s, size_t n)
{
	if (w->over || (size_t)(w->end - w->p) < n) {
		w->over = true;
		return;
	}
	memcpy(w->p, s, n);
	w->p += n;
}

#define PUT(w, lit) put((w), (lit), sizeof(lit) - 1)

/* `,"key":` (no comma before the first). */
static void put_key(gw_t *w, bool *first, const char *key, size_t klen)
{
	if (!*first)
		PUT(w, ",");
	*first = false;
	PUT(w, "\"");
	put(w, key, klen);
	PUT(w, "\":");
}

#define KEY(w, first, key) put_key((w), (first), (key), sizeof(key) - 1)

/* `,"key":"value"`, the value escaped. */
static void put_field(gw_t *w, bool *first, const char *key, size_t klen, const char *s)
{
	put_key(w, first, key, klen);
	PUT(w, "\"");
	if (!w->over) {
		size_t n = sk_json_escape(w->p, (size_t)(w->end - w->p), s, strlen(s));
		if (n == (size_t)-1)
			w->over = true;
		else
			w->p += n;
	}
	PUT(w, "\"");
}

#define FIELD(w, first, key, s) put_field((w), (first), (key), sizeof(key) - 1, (s))

static void put_u64(gw_t *w, uint64_t v)
{
	char tmp[24], *q = tmp + sizeof tmp;
	do {
		*--q = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(w, q, (size_t)(tmp + sizeof tmp - q));
}

/* Degrees with four decimals (about 11 m, what the databases hold), as %.4f prints them, except
 * that a value rounding to zero is "0.0000", never "-0.0000". */
static void put_coord(gw_t *w, double v)
{
	char tmp[24], *q = tmp + sizeof tmp;
	bool neg = v < 0;
	if (!(v > -1e6 && v < 1e6)) /* not a coordinate: never from a valid database */
		v = 0;
	uint64_t u = (uint64_t)((neg ? -v : v) * 10000.0 + 0.5);
	bool zero = u == 0;
	for (int i = 0; i < 4; i++) {
		*--q = (char)('0' + u % 10);
		u /= 10;
	}
	*--q = '.';
	do {
		*--q = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (neg && !zero)
		*--q = '-';
	put(w, q, (size_t)(tmp + sizeof tmp - q));
}

size_t sk_geojson(char *out, size_t cap, const sk_geo_info_t *g)
{
	gw_t w = { out, out + cap, false };
	bool first = true;

	PUT(&w, "{");
	if (g->country[0])
		FIELD(&w, &first, "country", g->country);
	if (g->region_code[0])
		FIELD(&w, &first, "region_code", g->region_code);
	if (g->region[0])
		FIELD(&w, &first, "region", g->region);
	if (g->city[0])
		FIELD(&w, &first, "city", g->city);
	if (g->has_location && isfinite(g->latitude) && isfinite(g->longitude)) {
		KEY(&w, &first, "lat");
		put_coord(&w, g->latitude);
		PUT(&w, ",\"lon\":");
		put_coord(&w, g->longitude);
	}
	if (g->asn) {
		KEY(&w, &first, "asn");
		put_u64(&w, g->asn);
	}
	if (g->as_org[0])
		FIELD(&w, &first, "as_org", g->as_org);
	PUT(&w, "}");
	return w.over ? 0 : (size_t)(w.p - out);
}
