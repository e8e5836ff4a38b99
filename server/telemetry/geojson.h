/* geojson.h -- one geolocation result as the JSON object every sink writes; internal to telemetry */
#ifndef SK_GEOJSON_H
#define SK_GEOJSON_H

#include <stddef.h>

#include "geo/geo.h"

/* Room that always suffices: the keys, two coordinates, an ASN, and every string escaped at
 * worst (6 bytes per input byte, see util/json.h). */
#define SK_GEOJSON_MAX 2048

/*
 * Write the object for `g` into out: only what the databases know, in this order, "country",
 * "region_code", "region", "city", "lat" and "lon" (degrees with four decimals; both left out
 * unless both are finite numbers), "asn", "as_org";
 * an address in no database gives {}. Returns the length (no NUL is written), or 0 when `cap` is
 * too small; never 0 with cap >= SK_GEOJSON_MAX.
 */
size_t sk_geojson(char *out, size_t cap, const sk_geo_info_t *g);

#endif
