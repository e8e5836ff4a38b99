/* geo_internal.h -- what geo.c and cache.c share, and hooks for the module's unit test; not public */
#ifndef SK_GEO_INTERNAL_H
#define SK_GEO_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "geo/geo.h"

/*
 * The cache shares results among the addresses of one network, but never beyond one block of
 * this size (see cache.c): an IPv4 /24, an IPv6 /48.
 */
#define SK_GEO_GRAIN4 24
#define SK_GEO_GRAIN6 48

/*
 * Find the result for `addr` (`family` AF_INET or AF_INET6, already unmapped) in the cache and copy
 * it to *info. `gen` identifies the geo being asked; when it differs from the one the entries came
 * from, the cache empties itself first. Counts a lookup, and a hit when it returns true.
 */
bool sk_geo_cache_find(sk_geo_cache_t *cache, uint64_t gen, int family, const uint8_t *addr,
	sk_geo_info_t *info);

/* The same without the copy: the cached result itself (valid until the next lookup through this
 * cache), or NULL on a miss, which is not counted (the lookup that follows a miss counts it). */
const sk_geo_info_t *sk_geo_cache_get(sk_geo_cache_t *cache, uint64_t gen, int family,
	const uint8_t *addr);

/*
 * Remember `info` for every address that shares the first `prefix` bits with `addr`: `prefix` is
 * the longest of the prefix lengths of the records the databases returned. Evicts the set's least
 * recently used entry when it is full.
 */
void sk_geo_cache_store(sk_geo_cache_t *cache, int family, const uint8_t *addr, unsigned prefix,
	const sk_geo_info_t *info);

/* Count a database error; true for the first one since the geo changed, so the caller logs once. */
bool sk_geo_cache_error(sk_geo_cache_t *cache);

/*
 * sk_geo_open() with checks turned off, for tests only: SK_GEO_SKIP_TYPE accepts any database_type
 * and records holding no country (or ASN); SK_GEO_SKIP_VERIFY skips the walk of the search tree and
 * data (only what MMDB_open checks remains; the layout then comes from the name alone, GeoIP2 when
 * it names neither), so that a test can look up in a corrupt file and show that lookups survive it.
 */
enum { SK_GEO_SKIP_TYPE = 1, SK_GEO_SKIP_VERIFY = 2 };
int sk_geo_open_flags(const char *city_path, const char *asn_path, unsigned flags, sk_geo_t **out);

#endif
