/* geo.c -- client address to country, region, city, location and ASN, through libmaxminddb */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "geo/geo_internal.h"
#include "geo/geo_mmdb.h"
#include "util/err.h"
#include "util/log.h"

const char *const sk_geo_role_name[] = { "a City or Country", "an ASN" };
const char *const sk_geo_layout_name[] = { "unknown", "GeoIP2", "ip-location-db" };

struct sk_geo {
	uint64_t gen;          /* unique per open, so a cache can tell a reloaded geo from the old one */
	bool has[2];           /* by role */
	enum sk_geo_layout layout[2];   /* by role, decided at open: lookups never guess */
	MMDB_s db[2];
};

/* Starts at 1: a fresh cache holds generation 0 and so never matches a geo. */
static atomic_uint_fast64_t next_gen = 1;

/*
 * The paths into a GeoIP2-style record that we read. A lookup by path scans the record's top-level
 * map from its start, so the two fields of "subdivisions/0" and of "location" are read from their
 * sub-map: four scans of the record instead of six. A flat ip-location-db record is one map of
 * eight short fields, read with a scan per field (five).
 */
static const char *const p_country[] = { "country", "iso_code", NULL };
static const char *const p_subdivision[] = { "subdivisions", "0", NULL };
static const char *const p_city[] = { "city", "names", "en", NULL };
static const char *const p_location[] = { "location", NULL };
static const char *const p_iso_code[] = { "iso_code", NULL };
static const char *const p_name_en[] = { "names", "en", NULL };
static const char *const p_latitude[] = { "latitude", NULL };
static const char *const p_longitude[] = { "longitude", NULL };
static const char *const p_asn[] = { "autonomous_system_number", NULL };
static const char *const p_org[] = { "autonomous_system_organization", NULL };
static const char *const p_country_map[] = { "country", NULL };
static const char *const p_flat_country[] = { "country_code", NULL };
static const char *const p_flat_region[] = { "state1", NULL };
static const char *const p_flat_city[] = { "city", NULL };

/* ---- reading one record ---------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one (overlong, surrogate,
 * beyond U+10FFFF, truncated). NUL is refused too: it would silently cut the C string. */
static size_t utf8_char(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	if (c >= 0x01 && c < 0x80)
		return 1;
	size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
	if (!len || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return len;
}

/*
 * Copy a database string into dst[cap] as a C string. Too long: cut at a character boundary, so
 * a sink never writes half a character. Not valid UTF-8: leave dst empty (unknown) -- telemetry
 * goes to JSON and dnstap, and a bad byte there costs more than a missing city name.
 */
static void copy_utf8(char *dst, size_t cap, const char *src, uint32_t size)
{
	const uint8_t *s = (const uint8_t *)src;
	size_t n = size < cap - 1 ? size : cap - 1;
	if (n < size)
		while (n > 0 && (s[n] & 0xc0) == 0x80)
			n--;
	for (size_t i = 0, l; i < n; i += l)
		if (!(l = utf8_char(s + i, n - i))) {
			dst[0] = '\0';
			return;
		}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/*
 * Fetch the value at `path`. Returns 0 with *d->has_data false when the record simply does not
 * hold it (a field absent is normal: no city for 2001:218::1), or the MMDB error code when the
 * data cannot be decoded.
 */
static int get(MMDB_entry_s *e, const char *const *path, MMDB_entry_data_s *d)
{
	int st = MMDB_aget_value(e, d, path);
	if (st == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR) {
		d->has_data = false;
		return MMDB_SUCCESS;
	}
	return st;
}

static int get_string(MMDB_entry_s *e, const char *const *path, char *dst, size_t cap)
{
	MMDB_entry_data_s d;
	int st = get(e, path, &d);
	if (st == MMDB_SUCCESS && d.has_data && d.type == MMDB_DATA_TYPE_UTF8_STRING)
		copy_utf8(dst, cap, d.utf8_string, d.data_size);
	return st;
}

/* A code (country, region) is kept whole or not at all: cut to fit, "XYZ" would become "XY". */
static int get_code(MMDB_entry_s *e, const char *const *path, char *dst, size_t cap)
{
	MMDB_entry_data_s d;
	int st = get(e, path, &d);
	if (st == MMDB_SUCCESS && d.has_data && d.type == MMDB_DATA_TYPE_UTF8_STRING && d.data_size < cap)
		copy_utf8(dst, cap, d.utf8_string, d.data_size);
	return st;
}

/* A double or a float: MaxMind writes doubles, ip-location-db's writer floats. */
static int get_double(MMDB_entry_s *e, const char *const *path, double *v, bool *ok)
{
	MMDB_entry_data_s d;
	int st = get(e, path, &d);
	*ok = false;
	if (st != MMDB_SUCCESS || !d.has_data)
		return st;
	double x = d.type == MMDB_DATA_TYPE_DOUBLE ? d.double_value :
		d.type == MMDB_DATA_TYPE_FLOAT ? (double)d.float_value : NAN;
	if (isfinite(x)) {
		*v = x;
		*ok = true;
	}
	return st;
}

/* Keep a code only if every byte is in [A-Z0-9] (country: exactly two letters). */
static void check_code(char *code, size_t min, size_t max, bool letters_only)
{
	size_t n = strlen(code);
	bool good = n >= min && n <= max;
	for (size_t i = 0; good && i < n; i++)
		good = (code[i] >= 'A' && code[i] <= 'Z') || (!letters_only && code[i] >= '0' && code[i] <= '9');
	if (!good)
		code[0] = '\0';
}

static void clear_city(sk_geo_info_t *info)
{
	info->country[0] = info->region_code[0] = info->region[0] = info->city[0] = '\0';
	info->latitude = info->longitude = 0;
	info->has_location = false;
	info->prefix = 0;
}

static void clear_asn(sk_geo_info_t *info)
{
	info->asn = 0;
	info->as_org[0] = '\0';
}

/* Point *sub at the map found at `path`, if there is one (*found). */
static int get_map(MMDB_entry_s *e, const char *const *path, MMDB_entry_s *sub, bool *found)
{
	MMDB_entry_data_s d;
	int st = get(e, path, &d);
	*found = st == MMDB_SUCCESS && d.has_data && d.type == MMDB_DATA_TYPE_MAP;
	*sub = (MMDB_entry_s){ .mmdb = e->mmdb, .offset = *found ? d.offset : 0 };
	return st;
}

/* Keep what is well-formed of what a City reader found: codes, and a location only when whole. */
static void check_city(sk_geo_info_t *info, bool lat_ok, bool lon_ok)
{
	check_code(info->country, 2, 2, true);
	check_code(info->region_code, 1, sizeof info->region_code - 1, false);
	info->has_location = lat_ok && lon_ok && info->latitude >= -90 && info->latitude <= 90 &&
		info->longitude >= -180 && info->longitude <= 180;
	if (!info->has_location)
		info->latitude = info->longitude = 0;
}

/* Fill the City/Country fields from one GeoIP2 record; the first decoding error stops and is returned. */
static int read_geoip2_city(MMDB_entry_s *e, sk_geo_info_t *info)
{
	MMDB_entry_s sub, loc;
	bool has_sub, has_loc, lat_ok = false, lon_ok = false;
	int st;
	if ((st = get_code(e, p_country, info->country, sizeof info->country)) ||
	    (st = get_string(e, p_city, info->city, sizeof info->city)) ||
	    (st = get_map(e, p_subdivision, &sub, &has_sub)) || (st = get_map(e, p_location, &loc, &has_loc)))
		return st;
	if (has_sub && ((st = get_code(&sub, p_iso_code, info->region_code, sizeof info->region_code)) ||
	                (st = get_string(&sub, p_name_en, info->region, sizeof info->region))))
		return st;
	if (has_loc && ((st = get_double(&loc, p_latitude, &info->latitude, &lat_ok)) ||
	                (st = get_double(&loc, p_longitude, &info->longitude, &lon_ok))))
		return st;
	check_city(info, lat_ok, lon_ok);
	return MMDB_SUCCESS;
}

/*
 * The same from one flat ip-location-db record. state1 is the region's name; these databases hold
 * no ISO 3166-2 code, so region_code stays unknown. An absent field is an empty string there.
 */
static int read_flat_city(MMDB_entry_s *e, sk_geo_info_t *info)
{
	bool lat_ok = false, lon_ok = false;
	int st;
	if ((st = get_code(e, p_flat_country, info->country, sizeof info->country)) ||
	    (st = get_string(e, p_flat_region, info->region, sizeof info->region)) ||
	    (st = get_string(e, p_flat_city, info->city, sizeof info->city)) ||
	    (st = get_double(e, p_latitude, &info->latitude, &lat_ok)) ||
	    (st = get_double(e, p_longitude, &info->longitude, &lon_ok)))
		return st;
	check_city(info, lat_ok, lon_ok);
	return MMDB_SUCCESS;
}

static int read_asn(MMDB_entry_s *e, sk_geo_info_t *info)
{
	MMDB_entry_data_s d;
	int st = get(e, p_asn, &d);
	if (st)
		return st;
	if (d.has_data) {
		if (d.type == MMDB_DATA_TYPE_UINT32)
			info->asn = d.uint32;
		else if (d.type == MMDB_DATA_TYPE_UINT16)
			info->asn = d.uint16;
		else if (d.type == MMDB_DATA_TYPE_UINT64 && d.uint64 <= UINT32_MAX)
			info->asn = (uint32_t)d.uint64;
	}
	return get_string(e, p_org, info->as_org, sizeof info->as_org);
}

int sk_geo_read_record(enum sk_geo_role role, enum sk_geo_layout layout, MMDB_entry_s *e,
	sk_geo_info_t *info)
{
	if (role == SK_GEO_ASN)
		return read_asn(e, info);
	return layout == SK_GEO_LAYOUT_FLAT ? read_flat_city(e, info) : read_geoip2_city(e, info);
}

/* ---- telling the layouts apart --------------------------------------------------------------- */

enum sk_geo_layout sk_geo_layout_of_type(const char *t)
{
	/* MaxMind's products, and DB-IP's own downloads, which copy MaxMind's layout. */
	static const char *const geoip2[] = { "GeoIP2-", "GeoLite2-", "DBIP-" };
	for (size_t i = 0; i < sizeof geoip2 / sizeof geoip2[0]; i++)
		if (!strncasecmp(t, geoip2[i], strlen(geoip2[i])))
			return SK_GEO_LAYOUT_GEOIP2;
	/* ip-location-db's writer names a database "<kind> ipv<version>": "city ipv4", "country ipvAll". */
	size_t kind = strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-");
	if (kind == 0 || strncasecmp(t + kind, " ipv", 4))
		return SK_GEO_LAYOUT_UNKNOWN;
	const char *v = t + kind + 4;
	return !strcmp(v, "4") || !strcmp(v, "6") || !strcasecmp(v, "all") ? SK_GEO_LAYOUT_FLAT : SK_GEO_LAYOUT_UNKNOWN;
}

int sk_geo_layout_of_record(MMDB_entry_s *e, enum sk_geo_layout *out)
{
	MMDB_entry_data_s d;
	int st;
	*out = SK_GEO_LAYOUT_UNKNOWN;
	if ((st = get(e, p_flat_country, &d)))
		return st;
	if (d.has_data) {
		*out = SK_GEO_LAYOUT_FLAT;
		return MMDB_SUCCESS;
	}
	if ((st = get(e, p_country_map, &d)))
		return st;
	if (d.has_data && d.type == MMDB_DATA_TYPE_MAP)
		*out = SK_GEO_LAYOUT_GEOIP2;
	return MMDB_SUCCESS;
}

const struct sockaddr *sk_geo_sockaddr(int family, const uint8_t *addr, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr, 16);
	}
	return (const struct sockaddr *)ss;
}

static void log_opened(const MMDB_s *mm, const char *path, enum sk_geo_layout layout)
{
	const MMDB_metadata_s *md = &mm->metadata;
	char built[32] = "?";
	struct tm tm;
	/* A file may claim any epoch (even UINT64_MAX); only one before the year 10000 becomes a date. */
	if (md->build_epoch < 253402300800ull) {
		time_t t = (time_t)md->build_epoch;
		if (gmtime_r(&t, &tm))
			strftime(built, sizeof built, "%Y-%m-%d", &tm);
	}
	sk_info("geo: %s: %s (%s layout), IPv%u, %u nodes, built %s", path, md->database_type,
		sk_geo_layout_name[layout], md->ip_version, md->node_count, built);
}

static int db_open(MMDB_s *mm, const char *path, enum sk_geo_role role, unsigned flags,
	enum sk_geo_layout *layout)
{
	int st = MMDB_open(path, MMDB_MODE_MMAP, mm);
	if (st != MMDB_SUCCESS) {
		int e = errno;
		struct stat sb;
		/* mmap() fails on these with EINVAL and ENODEV, which would puzzle whoever reads the log. */
		if (st == MMDB_IO_ERROR && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			sk_diag(0, path, 0, "cannot read GeoIP database: it is a directory");
			return -EISDIR;
		}
		if (st == MMDB_IO_ERROR && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0) {
			sk_diag(0, path, 0, "not a valid GeoIP database: the file is empty");
			return SK_EPARSE;
		}
		if (st == MMDB_FILE_OPEN_ERROR || st == MMDB_IO_ERROR) {
			sk_diag(0, path, 0, "cannot read GeoIP database: %s: %s", MMDB_strerror(st), strerror(e));
			return e > 0 ? -e : -EIO;
		}
		sk_diag(0, path, 0, "not a valid GeoIP database: %s", MMDB_strerror(st));
		return st == MMDB_OUT_OF_MEMORY_ERROR ? -ENOMEM : SK_EPARSE;
	}
	/* A first answer from the name alone; for a name of neither family, the records decide in verify. */
	*layout = sk_geo_layout_of_type(mm->metadata.database_type ? mm->metadata.database_type : "");
	int rc = sk_geo_verify(mm, path, role, flags, layout);
	if (rc) {
		MMDB_close(mm);
		return rc;
	}
	log_opened(mm, path, *layout);
	return 0;
}

int sk_geo_open_flags(const char *city_path, const char *asn_path, unsigned flags, sk_geo_t **out)
{
	if (!out || (!city_path && !asn_path))
		return -EINVAL;
	int rc = -ENOMEM;
	sk_geo_t *geo = calloc(1, sizeof *geo);
	if (!geo)
		goto fail;
	const char *paths[2] = { city_path, asn_path };
	for (int role = SK_GEO_CITY; role <= SK_GEO_ASN; role++) {
		if (!paths[role])
			continue;
		if ((rc = db_open(&geo->db[role], paths[role], (enum sk_geo_role)role, flags, &geo->layout[role])))
			goto fail;
		geo->has[role] = true;
	}
	geo->gen = atomic_fetch_add(&next_gen, 1);
	*out = geo;
	return 0;
fail:
	sk_geo_free(geo);
	return rc;
}

int sk_geo_open(const char *city_path, const char *asn_path, sk_geo_t **out)
{
	return sk_geo_open_flags(city_path, asn_path, 0, out);
}

void sk_geo_free(sk_geo_t *geo)
{
	if (!geo)
		return;
	for (int role = SK_GEO_ASN; role >= SK_GEO_CITY; role--)
		if (geo->has[role])
			MMDB_close(&geo->db[role]);
	free(geo);
}

/* ---- lookup ---------------------------------------------------------------------------------- */

/*
 * Find the record for an address in one database. *prefix is the prefix length of the network the
 * answer holds for -- found or not, since an empty region is an answer too -- in the family looked
 * up: libmaxminddb counts IPv4 lookups in an IPv6 database from the root of the IPv6 tree, 96 bits
 * above the IPv4 subtree.
 */
static int db_lookup(const MMDB_s *mm, int family, const uint8_t *addr, MMDB_lookup_result_s *r,
	unsigned *prefix)
{
	struct sockaddr_storage ss;
	unsigned max = family == AF_INET ? 32 : 128;
	int st = 0;
	*r = MMDB_lookup_sockaddr(mm, sk_geo_sockaddr(family, addr, &ss), &st);
	if (st == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR) {
		/* An IPv4-only database knows nothing of the whole IPv6 space: an answer, not an error. */
		r->found_entry = false;
		*prefix = 0;
		return MMDB_SUCCESS;
	}
	if (st != MMDB_SUCCESS)
		return st;
	unsigned nm = r->netmask;
	if (family == AF_INET && mm->metadata.ip_version == 6)
		nm = nm >= 96 ? nm - 96 : 0;
	*prefix = nm < max ? nm : max;
	return MMDB_SUCCESS;
}

static bool is_v4mapped(const uint8_t *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(a, mapped, sizeof mapped) == 0;
}

const sk_geo_info_t *sk_geo_cache_peek(const sk_geo_t *geo, sk_geo_cache_t *cache, int family,
	const uint8_t *addr)
{
	if (!geo || !cache || !addr || (family != AF_INET && family != AF_INET6))
		return NULL;
	if (family == AF_INET6 && is_v4mapped(addr)) {
		family = AF_INET;
		addr += 12;
	}
	return sk_geo_cache_get(cache, geo->gen, family, addr);
}

int sk_geo_lookup(const sk_geo_t *geo, sk_geo_cache_t *cache, int family, const uint8_t *addr,
	sk_geo_info_t *info)
{
	if (!info)
		return -EINVAL;
	memset(info, 0, sizeof *info);
	if (!geo || !addr || (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	if (family == AF_INET6 && is_v4mapped(addr)) {
		family = AF_INET;
		addr += 12;
	}
	if (cache && sk_geo_cache_find(cache, geo->gen, family, addr, info))
		return 0;

	int failed = MMDB_SUCCESS, failed_role = SK_GEO_CITY;
	unsigned net = 0;
	for (int role = SK_GEO_CITY; role <= SK_GEO_ASN; role++) {
		if (!geo->has[role])
			continue;
		MMDB_lookup_result_s r;
		unsigned prefix = 0;
		int st = db_lookup(&geo->db[role], family, addr, &r, &prefix);
		if (st == MMDB_SUCCESS && r.found_entry)
			st = sk_geo_read_record((enum sk_geo_role)role, geo->layout[role], &r.entry, info);
		if (st != MMDB_SUCCESS) {
			if (role == SK_GEO_CITY)
				clear_city(info);
			else
				clear_asn(info);
			if (failed == MMDB_SUCCESS) {
				failed = st;
				failed_role = role;
			}
			continue;
		}
		if (role == SK_GEO_CITY && r.found_entry)
			info->prefix = (uint8_t)prefix;
		if (prefix > net)
			net = prefix;
	}
	if (failed != MMDB_SUCCESS) {
		/* Rate-limited to one line per cache and geo: a corrupt region could be hit every query. */
		if (cache && sk_geo_cache_error(cache))
			sk_warn("geo: %s: lookup failed: %s (further errors are only counted)",
				geo->db[failed_role].filename, MMDB_strerror(failed));
		return -EIO;
	}
	/* Only whole answers are kept (above, one with an error returned early): a lookup that meets
	 * corrupt data tries again next time, and counts again. */
	if (cache)
		sk_geo_cache_store(cache, family, addr, net, info);
	return 0;
}
