/* geo.h -- client address to country, region, city, location and network owner (ASN), with a cache */
#ifndef SK_GEO_H
#define SK_GEO_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Opened geolocation databases (MaxMind DB format): a City or Country database and an ASN
 * database, either of them optional. Immutable once opened: any number of threads may look up
 * at once. The caller frees it only when no lookup can still be running (after the snapshot
 * holding it has passed every worker's quiescent point).
 *
 * Two layouts of records are read; each database's is decided once, at open:
 *   - GeoIP2: MaxMind's GeoIP2/GeoLite2, and DB-IP's own downloads, which copy it. City/Country:
 *     country.iso_code, subdivisions[0].iso_code and .names.en, city.names.en,
 *     location.latitude and .longitude.
 *   - ip-location-db: the flat records of the free npm packages @ip-location-db/...-mmdb
 *     (dbip-city-mmdb, geo-whois-asn-country-mmdb, ...). City/Country: country_code, state1 (the
 *     region's name; there is no region code), city, latitude, longitude; state2, postcode and
 *     timezone are not read. An empty string there means unknown.
 *   ASN databases of both: autonomous_system_number, autonomous_system_organization.
 * Coordinates may be doubles or floats. The layout follows the metadata's database_type: a name
 * starting "GeoIP2-", "GeoLite2-" or "DBIP-" is GeoIP2; "<kind> ipv4", "<kind> ipv6" or
 * "<kind> ipvAll" ("city ipv4", "country ipvAll", "asn ipvAll") is ip-location-db's. Under any
 * other name, the first record that holds country_code (ip-location-db) or a country map (GeoIP2)
 * decides. The log line of each opened database names its layout.
 */
typedef struct sk_geo sk_geo_t;

/* What the databases say about one address. Strings are NUL-terminated, valid UTF-8, never NULL. */
typedef struct sk_geo_info {
	char country[3];        /* ISO 3166-1 alpha-2 ("SE"); "" unknown */
	char region_code[8];    /* first subdivision's ISO 3166-2 code without the country ("E"); "" unknown,
	                           and always "" from an ip-location-db database */
	char region[64];        /* first subdivision's English name, or state1 ("Östergötland County"); "" unknown */
	char city[64];          /* English name ("Linköping"); "" unknown */
	double latitude;        /* degrees; meaningful only when has_location */
	double longitude;
	bool has_location;
	uint32_t asn;           /* autonomous system number; 0 unknown */
	char as_org[128];       /* AS organisation; "" unknown */
	uint8_t prefix;         /* prefix length of the City/Country record's network, in the address
	                           family looked up (0..32 for IPv4), 0 when that database has no record */
} sk_geo_info_t;

/*
 * Open the databases at `city_path` (a City or Country database) and `asn_path` (an ASN database);
 * either may be NULL, not both. Each file is checked before it is accepted: its database_type must
 * fit its role (contain "City"/"Country"/"Enterprise", or "ASN"/"ISP", in any case) and its records
 * must hold a country (or an ASN) in its layout (see sk_geo_t); its metadata, every node of its
 * search tree and every data item are read once, and every record is read as lookups read it. So a
 * corrupt or mismatched file is refused here, not found at run time. The check is linear in the file
 * size, even for a hostile file (about 0.5 s for a 200 MB GeoIP2 City database, 0.8 s for
 * ip-location-db's 63 MB dbip-city-ipv4, whose search tree is larger); call this from the loader
 * thread, never on the query path. An IPv4-only database (ip-location-db's "-ipv4" files) knows no
 * IPv6 address: its IPv6 lookups come back unknown.
 *
 * Every problem is reported with sk_diag() as "path: message". Returns 0 and stores a new geo in
 * *out, or a negative code with nothing allocated and *out untouched, so the caller keeps the geo
 * it had: -EINVAL (both paths NULL, or a database of the wrong type), -ENOENT / -EACCES / -EISDIR / other
 * -errno (file cannot be opened or read), -ENOMEM, SK_EPARSE (not a valid MaxMind DB).
 *
 * Files are memory-mapped: replace a database by renaming a new file over it (as geoipupdate
 * does), never by rewriting it in place, which would fault a process that has it mapped.
 */
int sk_geo_open(const char *city_path, const char *asn_path, sk_geo_t **out);

/* Close the databases and free the geo. Accepts NULL. See sk_geo_t for when this is safe. */
void sk_geo_free(sk_geo_t *geo);

/*
 * A cache of lookup results, owned by one thread (the telemetry thread); not thread-safe, except
 * sk_geo_cache_stats(). It remembers which geo its entries came from and empties itself when a
 * lookup passes a different one, so a reload cannot serve stale answers.
 */
typedef struct sk_geo_cache sk_geo_cache_t;

/* Largest annex an entry may carry (see sk_geo_cache_new). */
#define SK_GEO_ANNEX_MAX 4096

/*
 * Allocate a cache of at least `entries` results (1 .. 1<<22; rounded up to a power of two, at
 * least 4). Each entry may carry `annex` bytes (0 .. SK_GEO_ANNEX_MAX) that belong to the caller:
 * room for something derived from the result and worth computing once per entry, such as its text
 * form (see sk_geo_cache_annex). Memory is (328 + annex) bytes per entry (a 24-byte key and a copy
 * of the result: 5.4 MB for 16384 entries without annex), all allocated here: lookups never
 * allocate. Returns 0 and stores it in *out, or -EINVAL / -ENOMEM with *out untouched.
 */
int sk_geo_cache_new(unsigned entries, size_t annex, sk_geo_cache_t **out);

/*
 * The annex of the entry that answered the last sk_geo_lookup() through `cache`, whether from the
 * cache or freshly stored: all zero bytes when the entry was just filled, and whatever the caller
 * wrote there since, until the entry is reused for another network. Meaningful only right after a
 * lookup through this cache that returned 0. NULL when the cache has no annex.
 */
void *sk_geo_cache_annex(sk_geo_cache_t *cache);

/*
 * The cache's answer for an address, without asking the databases and without a copy: the cached
 * result (valid until the next lookup through `cache`; sk_geo_cache_annex() then gives its annex),
 * or NULL when the cache holds none (then sk_geo_lookup() asks the databases and stores the answer).
 * A hit counts as a lookup and a hit; a miss counts nothing, as the sk_geo_lookup() that follows
 * counts it. Arguments as for sk_geo_lookup(); NULL for bad ones.
 */
const sk_geo_info_t *sk_geo_cache_peek(const sk_geo_t *geo, sk_geo_cache_t *cache, int family,
	const uint8_t *addr);

/* Free a cache. Accepts NULL. */
void sk_geo_cache_free(sk_geo_cache_t *cache);

/* Forget every entry (counters are kept). Lookups already do this when the geo changes. */
void sk_geo_cache_clear(sk_geo_cache_t *cache);

/* Counters of one cache; they only grow. */
typedef struct sk_geo_stats {
	uint64_t lookups;   /* sk_geo_lookup() calls with this cache that reached the databases or the cache */
	uint64_t hits;      /* of those, answered from the cache */
	uint64_t errors;    /* of those, where a database returned an error (corrupt data) */
} sk_geo_stats_t;

/* Read the counters. Safe from any thread while the owner looks up (relaxed atomic reads). */
void sk_geo_cache_stats(const sk_geo_cache_t *cache, sk_geo_stats_t *out);

/*
 * Look up one address: `family` AF_INET with `addr` 4 bytes, or AF_INET6 with 16 bytes, in
 * network byte order. An IPv4-mapped address (::ffff:a.b.c.d) is looked up, and cached, as the
 * IPv4 address. For an EDNS Client Subnet pass the subnet address with the host bits zero.
 *
 * `info` is always reset first, then filled with what the databases hold; an address in no
 * database (127.0.0.1) gives all fields unknown and returns 0. `cache` may be NULL (no caching
 * and no counting). Returns 0, -EINVAL (bad family, NULL geo/addr/info), or -EIO when a
 * database returned an error (corrupt data): the fields of that database stay unknown, the other
 * database's are still filled, the cache's error counter grows and the first such error per cache
 * and geo is logged. Never allocates; never blocks beyond page faults on the mapped files.
 */
int sk_geo_lookup(const sk_geo_t *geo, sk_geo_cache_t *cache, int family, const uint8_t *addr,
	sk_geo_info_t *info);

#endif
