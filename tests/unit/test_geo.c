/* test_geo.c -- geo: known answers from MaxMind's test databases and ip-location-db-style ones, the
 * cache, and every corrupt file */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "geo/geo.h"
#include "geo/geo_internal.h"
#include "mmdb_writer.h"
#include "tap.h"
#include "util/err.h"

static const char *geodir;    /* MaxMind's test databases (GeoIP2 layout) */
static char ipdbdir[4096];    /* ours, in ip-location-db's layout: tests/unit/data/geo */
static char errbuf[16384];

static const char *path_in(const char *dir, const char *name)
{
	static char buf[4][4096];
	static int next;
	char *b = buf[next++ % 4];
	/* A path too long for the buffer would name the wrong file: fail loudly instead. */
	if ((size_t)snprintf(b, sizeof buf[0], "%s/%s", dir, name) >= sizeof buf[0]) {
		fprintf(stderr, "path too long: %s/%s\n", dir, name);
		exit(2);
	}
	return b;
}

static const char *db_path(const char *name)
{
	return path_in(geodir, name);
}

static const char *ipdb_path(const char *name)
{
	return path_in(ipdbdir, name);
}

#define CITY "GeoLite2-City-Test.mmdb"
#define CITY2 "GeoIP2-City-Test.mmdb"
#define COUNTRY "GeoLite2-Country-Test.mmdb"
#define ASN "GeoLite2-ASN-Test.mmdb"

/* Made by tools/mkmmdb.py from the .json next to each; see tests/unit/data/geo/README.md. */
#define IPDB_CITY "ipdb-city.mmdb"
#define IPDB_COUNTRY "ipdb-country.mmdb"
#define IPDB_COUNTRY4 "ipdb-country-ipv4.mmdb"
#define IPDB_ASN "ipdb-asn.mmdb"

/* A real ip-location-db database, when someone has fetched it (CI has not): checked if present. */
#define REAL_IPDB_COUNTRY "/tmp/ipdb/package/geo-whois-asn-country.mmdb"

/* Open with stderr sent to a temporary file, kept in errbuf: the diagnostic is part of the contract. */
static int open_captured(const char *city, const char *asn, unsigned flags, sk_geo_t **out)
{
	FILE *tmp = tmpfile();
	if (!tmp) {
		perror("tmpfile");
		exit(2);
	}
	fflush(stderr);
	int saved = dup(2);
	dup2(fileno(tmp), 2);
	int rc = sk_geo_open_flags(city, asn, flags, out);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(errbuf, 1, sizeof errbuf - 1, tmp);
	errbuf[n] = '\0';
	fclose(tmp);
	for (const char *line = errbuf, *end; *line; line = *end ? end + 1 : end) {
		end = strchrnul(line, '\n');
		printf("#   stderr: %.*s\n", (int)(end - line), line);
	}
	return rc;
}

/* Parse a textual address and look it up. */
static int lookup(const sk_geo_t *geo, sk_geo_cache_t *cache, const char *ip, sk_geo_info_t *info)
{
	uint8_t a[16];
	if (inet_pton(AF_INET, ip, a) == 1)
		return sk_geo_lookup(geo, cache, AF_INET, a, info);
	if (inet_pton(AF_INET6, ip, a) == 1)
		return sk_geo_lookup(geo, cache, AF_INET6, a, info);
	printf("# bad address in test: %s\n", ip);
	exit(2);
}

static bool unknown(const sk_geo_info_t *i)
{
	return !i->country[0] && !i->region_code[0] && !i->region[0] && !i->city[0] && !i->has_location &&
		i->latitude == 0 && i->longitude == 0 && i->asn == 0 && !i->as_org[0] && i->prefix == 0;
}

static bool same(const sk_geo_info_t *a, const sk_geo_info_t *b)
{
	return !strcmp(a->country, b->country) && !strcmp(a->region_code, b->region_code) &&
		!strcmp(a->region, b->region) && !strcmp(a->city, b->city) &&
		a->has_location == b->has_location && a->latitude == b->latitude &&
		a->longitude == b->longitude && a->asn == b->asn && !strcmp(a->as_org, b->as_org) &&
		a->prefix == b->prefix;
}

static sk_geo_stats_t stats(const sk_geo_cache_t *c)
{
	sk_geo_stats_t s;
	sk_geo_cache_stats(c, &s);
	return s;
}

/* The table of ../shared/testdata/geoip/README.md, with organisations checked by mmdblookup. */
static const struct known {
	const char *ip, *country, *city;
	uint32_t asn;
	const char *org;
} known[] = {
	{ "81.2.69.142", "GB", "London", 0, "" },
	{ "2.125.160.216", "GB", "Boxford", 0, "" },
	{ "89.160.20.112", "SE", "Linköping", 29518, "Bredband2 AB" },
	{ "216.160.83.56", "US", "Milton", 209, "" },
	{ "175.16.199.1", "CN", "Changchun", 0, "" },
	{ "2001:218::1", "JP", "", 0, "" },
	{ "2a02:cf40::1", "NO", "", 0, "" },
	{ "1.128.0.1", "", "", 1221, "Telstra Pty Ltd" },
	{ "12.81.92.1", "", "", 7018, "AT&T Services" },
	{ "149.101.100.1", "", "", 6167, "CELLCO-PART" },
	{ "127.0.0.1", "", "", 0, "" },
	{ "::1", "", "", 0, "" },
};
#define NKNOWN (sizeof known / sizeof known[0])

static void check_known(const sk_geo_t *geo, sk_geo_cache_t *cache, const char *what)
{
	for (size_t i = 0; i < NKNOWN; i++) {
		const struct known *k = &known[i];
		sk_geo_info_t g;
		int rc = lookup(geo, cache, k->ip, &g);
		ok(rc == 0 && !strcmp(g.country, k->country) && !strcmp(g.city, k->city) && g.asn == k->asn &&
			!strcmp(g.as_org, k->org),
			"%s: %s -> %s/%s AS%u \"%s\" (got rc %d, %s/%s AS%u \"%s\")", what, k->ip, k->country,
			k->city, k->asn, k->org, rc, g.country, g.city, g.asn, g.as_org);
	}
}

static void test_known_answers(void)
{
	sk_geo_t *geo = NULL;
	sk_geo_cache_t *cache = NULL;
	sk_geo_info_t g;
	int rc;

	is_int(open_captured(db_path(CITY), db_path(ASN), 0, &geo), 0, "open City-Test + ASN-Test");
	if (!geo)
		return;
	ok(sk_geo_cache_new(1024, 0, &cache) == 0 && cache, "cache of 1024 entries");
	check_known(geo, NULL, "no cache");
	check_known(geo, cache, "cache, first time");
	check_known(geo, cache, "cache, second time");
	is_int(stats(cache).hits, NKNOWN, "the second round came from the cache");

	rc = lookup(geo, NULL, "89.160.20.112", &g);
	ok(rc == 0 && !strcmp(g.region, "Östergötland County") &&
		!strcmp(g.region_code, "E"), "89.160.20.112: region \"%s\" (%s), want Östergötland County (E)",
		g.region, g.region_code);
	ok(g.has_location && fabs(g.latitude - 58.4167) < 1e-4 && fabs(g.longitude - 15.6167) < 1e-4,
		"89.160.20.112: location %f,%f, want 58.4167,15.6167", g.latitude, g.longitude);
	is_int(g.prefix, 28, "89.160.20.112: City record is a /28 (IPv4 prefix, not IPv6 tree depth)");
	ok(strlen(g.city) == 10 && (unsigned char)g.city[4] == 0xc3 && (unsigned char)g.city[5] == 0xb6,
		"Linköping is UTF-8 (ö as c3 b6)");

	rc = lookup(geo, NULL, "81.2.69.142", &g);
	ok(rc == 0 && !strcmp(g.region, "England") &&
		!strcmp(g.region_code, "ENG") && g.prefix == 31 && g.has_location &&
		fabs(g.latitude - 51.5142) < 1e-4 && fabs(g.longitude + 0.0931) < 1e-4,
		"81.2.69.142: England (ENG), /31, 51.5142,-0.0931 (got %s (%s), /%u, %f,%f)",
		g.region, g.region_code, g.prefix, g.latitude, g.longitude);
	rc = lookup(geo, NULL, "216.160.83.56", &g);
	ok(rc == 0 && !strcmp(g.region, "Washington") &&
		!strcmp(g.region_code, "WA"), "216.160.83.56: Washington (WA), got %s (%s)", g.region, g.region_code);
	rc = lookup(geo, NULL, "2001:218::1", &g);
	ok(rc == 0 && g.prefix == 32 && g.has_location && !g.region[0] &&
		fabs(g.latitude - 35.68536) < 1e-4, "2001:218::1: JP /32 with a location and no region (got /%u %s)",
		g.prefix, g.region);
	rc = lookup(geo, NULL, "127.0.0.1", &g);
	ok(rc == 0 && unknown(&g), "127.0.0.1: every field unknown");
	rc = lookup(geo, NULL, "::1", &g);
	ok(rc == 0 && unknown(&g), "::1: every field unknown");

	/* v4-mapped: the same answer as IPv4, from the IPv4 entry of the cache. */
	sk_geo_info_t v4, mapped;
	sk_geo_cache_clear(cache);
	sk_geo_stats_t before = stats(cache);
	rc = lookup(geo, cache, "89.160.20.112", &v4);
	rc |= lookup(geo, cache, "::ffff:89.160.20.112", &mapped);
	ok(rc == 0 && same(&v4, &mapped) && !strcmp(mapped.city, "Linköping") && mapped.prefix == 28,
		"::ffff:89.160.20.112 answers as 89.160.20.112 (city %s, /%u)", mapped.city, mapped.prefix);
	is_int(stats(cache).hits - before.hits, 1, "v4-mapped lookup hit the IPv4 entry");

	sk_geo_cache_free(cache);
	sk_geo_free(geo);

	/* GeoIP2-City-Test holds the same City answers. */
	geo = NULL;
	is_int(open_captured(db_path(CITY2), NULL, 0, &geo), 0, "open GeoIP2-City-Test alone");
	for (size_t i = 0; geo && i < 7; i++) {
		rc = lookup(geo, NULL, known[i].ip, &g);
		ok(rc == 0 && !strcmp(g.country, known[i].country) && !strcmp(g.city, known[i].city) && g.asn == 0,
			"GeoIP2-City-Test: %s -> %s/%s (got %s/%s AS%u)", known[i].ip, known[i].country, known[i].city,
			g.country, g.city, g.asn);
	}
	sk_geo_free(geo);
}

static void test_single_database(void)
{
	sk_geo_t *geo = NULL;
	sk_geo_info_t g;
	int rc;

	is_int(open_captured(db_path(COUNTRY), NULL, 0, &geo), 0, "open a Country database alone");
	if (geo) {
		rc = lookup(geo, NULL, "89.160.20.112", &g);
		ok(rc == 0 && !strcmp(g.country, "SE") && !g.city[0] &&
			!g.region[0] && !g.has_location && g.asn == 0 && g.prefix == 28,
			"Country only: 89.160.20.112 -> SE, no city, region, location or ASN (got %s/%s/%s AS%u /%u)",
			g.country, g.city, g.region, g.asn, g.prefix);
		rc = lookup(geo, NULL, "2a02:cf40::1", &g);
		ok(rc == 0 && !strcmp(g.country, "NO") && !g.city[0],
			"Country only: 2a02:cf40::1 -> NO (got %s)", g.country);
		rc = lookup(geo, NULL, "1.128.0.1", &g);
		ok(rc == 0 && unknown(&g), "Country only: 1.128.0.1 unknown");
		sk_geo_free(geo);
	}

	geo = NULL;
	is_int(open_captured(NULL, db_path(ASN), 0, &geo), 0, "open an ASN database alone");
	if (geo) {
		rc = lookup(geo, NULL, "1.128.0.1", &g);
		ok(rc == 0 && g.asn == 1221 && !strcmp(g.as_org, "Telstra Pty Ltd") &&
			!g.country[0] && !g.city[0] && g.prefix == 0,
			"ASN only: 1.128.0.1 -> AS1221 Telstra, no country (got AS%u %s, %s, /%u)", g.asn, g.as_org,
			g.country, g.prefix);
		rc = lookup(geo, NULL, "89.160.20.112", &g);
		ok(rc == 0 && g.asn == 29518 && !g.country[0],
			"ASN only: 89.160.20.112 -> AS29518 (got AS%u)", g.asn);
		sk_geo_free(geo);
	}
}

static void test_open_errors(void)
{
	sk_geo_t *geo = NULL;
	int rc;

	is_int(sk_geo_open(NULL, NULL, &geo), -EINVAL, "no database at all is -EINVAL");
	is_int(sk_geo_open(db_path(CITY), NULL, NULL), -EINVAL, "NULL out is -EINVAL");

	rc = open_captured("/nonexistent/GeoLite2-City.mmdb", NULL, 0, &geo);
	ok(rc == -ENOENT && !geo, "missing file: -ENOENT, nothing stored (rc %d)", rc);
	ok(strstr(errbuf, "/nonexistent/GeoLite2-City.mmdb: ") == errbuf, "missing file: message starts with its path");

	rc = open_captured(geodir, NULL, 0, &geo);
	ok(rc == -EISDIR && !geo && strstr(errbuf, geodir) == errbuf && strstr(errbuf, "directory"),
		"a directory is refused as such, naming it (rc %d)", rc);

	rc = open_captured(db_path(ASN), NULL, 0, &geo);
	ok(rc == -EINVAL && !geo, "ASN database given as City database: -EINVAL (rc %d)", rc);
	ok(strstr(errbuf, db_path(ASN)) && strstr(errbuf, "\"GeoLite2-ASN\" is not a City or Country database"),
		"type mismatch message names the file and the type");
	rc = open_captured(NULL, db_path(CITY), 0, &geo);
	ok(rc == -EINVAL && !geo && strstr(errbuf, "is not an ASN database"),
		"City database given as ASN database: -EINVAL (rc %d)", rc);
	/* A good City file with a bad ASN file: the whole open fails and leaks nothing. */
	rc = open_captured(db_path(CITY), db_path(CITY), 0, &geo);
	ok(rc == -EINVAL && !geo, "good City + bad ASN: whole open fails (rc %d)", rc);
}

/*
 * Copy a City database of 28-bit records and damage it, to show the checks work on a real layout,
 * not only on bad/. `item` is a data item of the file (control byte first); its control byte is
 * replaced by `bad_control`, which the structural check must refuse with `why`.
 */
static void test_damaged_copy(const char *src, const uint8_t *item, size_t item_len, uint8_t bad_control,
	const char *why)
{
	char tmpl[] = "/tmp/test_geo_XXXXXX";
	int fd = mkstemp(tmpl);
	FILE *in = fopen(src, "rb");
	static uint8_t buf[1 << 16];
	size_t n = in ? fread(buf, 1, sizeof buf, in) : 0;
	if (in)
		fclose(in);
	uint8_t *at = memmem(buf, n, item, item_len);
	if (fd < 0 || n < 1000 || n == sizeof buf || !at) {
		ok(0, "cannot make a damaged copy of %s (fd %d, %zu bytes, item %sfound)", src, fd, n, at ? "" : "not ");
		if (fd >= 0) {
			close(fd);
			unlink(tmpl);
		}
		return;
	}
	sk_geo_t *geo = NULL;
	/* Node 100's left record (28-bit records: 7 bytes per node) all ones: past the data section. */
	uint8_t save[7];
	memcpy(save, buf + 700, 7);
	memset(buf + 700, 0xff, 7);
	ok(pwrite(fd, buf, n, 0) == (ssize_t)n, "write damaged tree");
	int rc = open_captured(tmpl, NULL, 0, &geo);
	ok(rc == SK_EPARSE && !geo && strstr(errbuf, tmpl) && strstr(errbuf, "search tree node 100"),
		"%s: damaged search tree refused at open, naming file and node (rc %d)", src, rc);
	memcpy(buf + 700, save, 7);

	/* One data item with a wrong size. */
	uint8_t control = at[0];
	at[0] = bad_control;
	ok(pwrite(fd, buf, n, 0) == (ssize_t)n, "write damaged data");
	rc = open_captured(tmpl, NULL, 0, &geo);
	ok(rc == SK_EPARSE && !geo && strstr(errbuf, tmpl) && strstr(errbuf, why),
		"%s: damaged data item refused at open (\"%s\", rc %d)", src, why, rc);
	at[0] = control;

	/* Truncated: the metadata at the end is gone. */
	ok(ftruncate(fd, 0) == 0 && pwrite(fd, buf, n / 2, 0) == (ssize_t)(n / 2), "write truncated copy");
	rc = open_captured(tmpl, NULL, 0, &geo);
	ok(rc == SK_EPARSE && !geo && strstr(errbuf, tmpl), "%s: truncated file refused (rc %d)", src, rc);

	/* Empty file. */
	ok(ftruncate(fd, 0) == 0, "empty the copy");
	rc = open_captured(tmpl, NULL, 0, &geo);
	ok(rc == SK_EPARSE && !geo && strstr(errbuf, tmpl) && strstr(errbuf, "empty"), "empty file refused as empty (rc %d)", rc);

	/* Undamaged, the same bytes open: the damage, not the copy, was refused. */
	ok(pwrite(fd, buf, n, 0) == (ssize_t)n, "write the copy undamaged");
	rc = open_captured(tmpl, NULL, 0, &geo);
	ok(rc == 0 && geo, "%s: the undamaged copy opens (rc %d)", src, rc);
	sk_geo_free(geo);
	close(fd);
	unlink(tmpl);
}

/* Data that is valid item by item but hostile as a whole, or broken in one detail. */
static void test_built_data(const char *path)
{
	static struct mk d;
	sk_geo_t *geo = NULL;
	sk_geo_info_t g;
	uint32_t rec[32];
	int rc;

	/*
	 * A pointer bomb: level k is {"a": ->level k+1, "b": ->level k+1}, 40 levels, so decoding it
	 * by following pointers (MMDB_get_entry_data_list) would visit 2^40 values. Scanning each item
	 * once takes a few hundred steps. The record points at level 0.
	 */
	d.n = 0;
	uint32_t level = (uint32_t)d.n;
	mk_str(&d, "end");
	for (int k = 0; k < 40; k++) {
		uint32_t next = level;
		level = (uint32_t)d.n;
		mk_head(&d, 7, 2);
		mk_str(&d, "a");
		mk_ptr(&d, next);
		mk_str(&d, "b");
		mk_ptr(&d, next);
	}
	rec[0] = (uint32_t)d.n;
	mk_country_record(&d, 1);
	mk_str(&d, "x");
	mk_ptr(&d, level);
	write_db(path, "Test-City", 32, &d, rec, 1, ~0u);
	rc = open_captured(path, NULL, 0, &geo);
	ok(rc == 0 && geo, "a pointer bomb (2^40 values when followed) is checked in linear time (rc %d)", rc);
	if (geo) {
		rc = lookup(geo, NULL, "0.0.0.0", &g);
		ok(rc == 0 && !strcmp(g.country, "SE"), "and its record reads SE (got %s)", g.country);
		sk_geo_free(geo);
		geo = NULL;
	}

	/* A pointer to a pointer, which the spec forbids. */
	d.n = 0;
	uint32_t country = (uint32_t)d.n;
	mk_head(&d, 7, 1);
	mk_str(&d, "iso_code");
	mk_str(&d, "SE");
	uint32_t ptr = (uint32_t)d.n;
	mk_ptr(&d, country);
	rec[0] = (uint32_t)d.n;
	mk_head(&d, 7, 1);
	mk_str(&d, "country");
	mk_ptr(&d, ptr);
	write_db(path, "Test-City", 32, &d, rec, 1, ~0u);
	rc = open_captured(path, NULL, 0, &geo);
	ok(rc == SK_EPARSE && !geo && strstr(errbuf, "pointer to a pointer"), "a pointer to a pointer is refused (rc %d)", rc);

	/* A map key that is not a string. */
	d.n = 0;
	rec[0] = 0;
	mk_country_record(&d, 1);
	mk_uint(&d, 6, 5, 1);
	mk_str(&d, "x");
	write_db(path, "Test-City", 32, &d, rec, 1, ~0u);
	rc = open_captured(path, NULL, 0, &geo);
	ok(rc == SK_EPARSE && !geo && strstr(errbuf, "data offset 22: map key is not a string"),
		"a map key that is not a string is refused (rc %d)", rc);

	/*
	 * 32 records pointing at 32 nesting levels of one structure whose innermost array holds 3000
	 * one-byte items: every record scans the array again, 32 times the bytes, past the budget of
	 * 16 steps a byte.
	 */
	d.n = 0;
	for (int k = 0; k < 32; k++) {
		rec[k] = (uint32_t)d.n;
		mk_head(&d, 11, 1);
	}
	mk_head(&d, 11, 3000);
	for (int k = 0; k < 3000; k++)
		mk_head(&d, 2, 0);        /* empty string: one byte */
	write_db(path, "Test-City", 32, &d, rec, 32, ~0u);
	rc = open_captured(path, NULL, SK_GEO_SKIP_TYPE, &geo);
	ok(rc == SK_EPARSE && !geo && strstr(errbuf, "too many items for its size"),
		"data scanned over and over through overlapping records is refused (rc %d)", rc);
	sk_geo_free(geo);
}

static void test_built_databases(void)
{
	char path[] = "/tmp/test_geo_chain_XXXXXX";
	int fd = mkstemp(path);
	sk_geo_t *geo = NULL;
	sk_geo_info_t g;
	int rc;
	if (fd < 0) {
		ok(0, "mkstemp: %s", strerror(errno));
		return;
	}
	close(fd);

	/* The control: a valid IPv4 database, 32 levels deep. */
	write_chain_db(path, "Test-City", 32, false, ~0u);
	rc = open_captured(path, NULL, 0, &geo);
	ok(rc == 0 && geo, "hand-built IPv4 City database opens (rc %d)", rc);
	if (geo) {
		rc = lookup(geo, NULL, "0.0.0.0", &g);
		ok(rc == 0 && !strcmp(g.country, "SE") && g.prefix == 32,
			"IPv4 database: 0.0.0.0 -> SE /32, no 96 taken off (got %s /%u)", g.country, g.prefix);
		rc = lookup(geo, NULL, "0.0.0.1", &g);
		ok(rc == 0 && unknown(&g), "IPv4 database: 0.0.0.1 unknown");
		rc = lookup(geo, NULL, "2001:218::1", &g);
		ok(rc == 0 && unknown(&g), "IPv4 database: an IPv6 address is unknown, not an error (rc %d)", rc);
		rc = lookup(geo, NULL, "::ffff:0.0.0.0", &g);
		ok(rc == 0 && !strcmp(g.country, "SE"), "IPv4 database: ::ffff:0.0.0.0 looked up as IPv4 (got %s)",
			g.country);
		sk_geo_free(geo);
		geo = NULL;
	}

	write_chain_db(path, "Test-City", 33, false, ~0u);
	rc = open_captured(path, NULL, 0, &geo);
	ok(rc == SK_EPARSE && !geo && strstr(errbuf, "search tree node 31 points to a node below the last address bit"),
		"a tree deeper than 32 bits is refused (rc %d)", rc);

	write_chain_db(path, "Test-City", 32, false, 5);
	rc = open_captured(path, NULL, 0, &geo);
	ok(rc == SK_EPARSE && !geo && strstr(errbuf, "search tree node 5 points back to the root"),
		"a record pointing at the root is refused (rc %d)", rc);

	/* Named a City database, but its records hold ASNs: every lookup would come back empty. */
	write_chain_db(path, "Test-City", 32, true, ~0u);
	rc = open_captured(path, NULL, 0, &geo);
	ok(rc == -EINVAL && !geo && strstr(errbuf, "not a City or Country database: none of its 1 records has country"),
		"a City-named database without countries is refused (rc %d)", rc);
	rc = open_captured(path, NULL, SK_GEO_SKIP_TYPE, &geo);
	ok(rc == 0 && geo, "the same opens with the type checks off (rc %d)", rc);
	sk_geo_free(geo);
	geo = NULL;

	test_built_data(path);
	unlink(path);
}

static void test_cache(void)
{
	sk_geo_t *geo = NULL, *geo2 = NULL;
	sk_geo_cache_t *cache = NULL, *tiny = NULL;
	sk_geo_info_t a, b, direct;
	sk_geo_stats_t s0;
	int rc;

	is_int(sk_geo_cache_new(0, 0, &cache), -EINVAL, "cache of 0 entries is -EINVAL");
	is_int(sk_geo_cache_new((1u << 22) + 1, 0, &cache), -EINVAL, "cache beyond 1<<22 entries is -EINVAL");
	is_int(sk_geo_cache_new(4, SK_GEO_ANNEX_MAX + 1, &cache), -EINVAL, "annex beyond SK_GEO_ANNEX_MAX is -EINVAL");
	if (open_captured(db_path(CITY), db_path(ASN), 0, &geo) || sk_geo_cache_new(256, 0, &cache)) {
		ok(0, "cannot open databases or cache");
		return;
	}

	/* Two addresses of one /28: one lookup, then a hit with the identical result. */
	s0 = stats(cache);
	rc = lookup(geo, cache, "89.160.20.112", &a);
	rc |= lookup(geo, cache, "89.160.20.126", &b);
	ok(rc == 0 && lookup(geo, NULL, "89.160.20.126", &direct) == 0, "look up 89.160.20.112 then .126");
	is_int(stats(cache).lookups - s0.lookups, 2, "two lookups counted");
	is_int(stats(cache).hits - s0.hits, 1, "89.160.20.126 (same /28) was a cache hit");
	ok(same(&a, &b) && same(&b, &direct), "the hit equals the first answer and an uncached lookup");

	/* .129 is in another City network (/25) of the same /24: must not take the /28's answer. */
	s0 = stats(cache);
	rc = lookup(geo, cache, "89.160.20.129", &a);
	ok(rc == 0 && a.prefix == 25 && stats(cache).hits == s0.hits,
		"89.160.20.129 (other network, same /24) is a miss with its own /%u record", a.prefix);
	rc = lookup(geo, cache, "89.160.20.254", &b);
	ok(rc == 0 && stats(cache).hits == s0.hits + 1 && same(&a, &b),
		"89.160.20.254 (same /25) is a hit");
	rc = lookup(geo, cache, "89.160.20.113", &b);
	ok(rc == 0 && stats(cache).hits == s0.hits + 2 &&
		b.prefix == 28, "the /28 entry is still there beside the /25 one");

	/* IPv6: a /32 City network is cached per /48 block. */
	s0 = stats(cache);
	rc = lookup(geo, cache, "2001:218::1", &a);
	rc |= lookup(geo, cache, "2001:218:0:ffff::9", &b);
	ok(rc == 0 && stats(cache).hits == s0.hits + 1 && same(&a, &b), "2001:218:0:ffff::9 (same /48) is a hit");
	rc = lookup(geo, cache, "2001:218:1::1", &b);
	ok(rc == 0 && stats(cache).hits == s0.hits + 1 && same(&a, &b),
		"2001:218:1::1 (next /48) is a miss with the same answer");

	/* Addresses in no database are cached too: a sinkhole sees the same resolvers all day. */
	s0 = stats(cache);
	rc = lookup(geo, cache, "127.0.0.1", &a);
	rc |= lookup(geo, cache, "127.0.0.2", &b);
	ok(rc == 0 && stats(cache).hits == s0.hits + 1 && unknown(&b), "127.0.0.2 after 127.0.0.1: a hit, all unknown");

	/* Clearing forgets; counters stay. */
	sk_geo_cache_clear(cache);
	s0 = stats(cache);
	rc = lookup(geo, cache, "89.160.20.112", &a);
	ok(rc == 0 && stats(cache).hits == s0.hits &&
		stats(cache).lookups == s0.lookups + 1, "after sk_geo_cache_clear the same address is a miss");

	/* A reloaded geo must never get the old geo's answers, even without a clear. */
	ok(open_captured(db_path(COUNTRY), NULL, 0, &geo2) == 0, "open a Country geo to swap in");
	s0 = stats(cache);
	rc = geo2 ? lookup(geo2, cache, "89.160.20.112", &a) : -1;
	ok(rc == 0 && !strcmp(a.country, "SE") && !a.city[0] &&
		a.asn == 0 && stats(cache).hits == s0.hits,
		"after a swap the cache answers from the new geo (city \"%s\", AS%u, miss)", a.city, a.asn);
	rc = lookup(geo, cache, "89.160.20.112", &a);
	ok(rc == 0 && !strcmp(a.city, "Linköping") && stats(cache).hits == s0.hits,
		"and swapping back is a miss with the old geo's full answer");

	/* LRU in a single set of 4: A B C D, A again, E evicts B (least recent), A stays. */
	ok(sk_geo_cache_new(4, 0, &tiny) == 0, "cache of 4 entries (one set)");
	const char *abcde[] = { "81.2.69.142", "2.125.160.216", "216.160.83.56", "175.16.199.1", "1.128.0.1" };
	for (int i = 0; i < 4; i++)
		lookup(geo, tiny, abcde[i], &a);
	s0 = stats(tiny);
	lookup(geo, tiny, abcde[0], &a);
	is_int(stats(tiny).hits - s0.hits, 1, "A is a hit in a full set");
	lookup(geo, tiny, abcde[4], &a);
	lookup(geo, tiny, abcde[0], &a);
	is_int(stats(tiny).hits - s0.hits, 2, "after E, A (recently used) is still a hit");
	lookup(geo, tiny, abcde[1], &a);
	is_int(stats(tiny).hits - s0.hits, 2, "B (least recently used) was evicted");
	/* Under constant eviction every answer must still be right. */
	bool all = true;
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < NKNOWN; i++) {
			lookup(geo, tiny, known[i].ip, &a);
			lookup(geo, NULL, known[i].ip, &b);
			all = all && same(&a, &b);
		}
	ok(all, "a 4-entry cache under eviction always answers like no cache");
	is_int(stats(tiny).errors + stats(cache).errors, 0, "no errors counted on good databases");
	ok(sk_geo_cache_annex(tiny) == NULL, "a cache without annex has none to give");

	/* The annex: the caller's bytes follow their entry, and start zero when it is refilled. */
	sk_geo_cache_t *ax = NULL;
	ok(sk_geo_cache_new(4, 16, &ax) == 0, "cache of 4 entries with a 16-byte annex");
	char *p0 = NULL, *p1 = NULL;
	bool zero = true;
	for (int i = 0; i < 4 && ax; i++) {
		lookup(geo, ax, abcde[i], &a);
		char *an = sk_geo_cache_annex(ax);
		for (int k = 0; an && k < 16; k++)
			zero = zero && an[k] == 0;
		if (an)
			snprintf(an, 16, "entry %d", i);
		if (i == 0)
			p0 = an;
	}
	ok(ax && p0 && zero, "a freshly stored entry's annex is all zero");
	if (ax)
		lookup(geo, ax, abcde[0], &a);
	p1 = ax ? sk_geo_cache_annex(ax) : NULL;
	ok(p1 == p0 && p1 && !strcmp(p1, "entry 0"), "a hit gives the annex written for that entry (\"%s\")",
		p1 ? p1 : "(null)");
	if (ax)
		lookup(geo, ax, abcde[4], &a); /* evicts B, the least recently used */
	p1 = ax ? sk_geo_cache_annex(ax) : NULL;
	ok(p1 && p1[0] == 0, "the entry reused for another network starts with a zero annex");
	if (ax && geo2)
		lookup(geo2, ax, abcde[0], &a); /* another geo empties the cache */
	p1 = ax ? sk_geo_cache_annex(ax) : NULL;
	ok(p1 && p1[0] == 0, "after a geo swap the same address's annex is zero again");
	/* Peek: the cache's own copy, only on a hit; a miss counts nothing until the lookup. */
	if (ax) {
		sk_geo_cache_clear(ax);
		sk_geo_stats_t p0 = stats(ax);
		uint8_t ip[16];
		inet_pton(AF_INET, "89.160.20.112", ip);
		ok(sk_geo_cache_peek(geo, ax, AF_INET, ip) == NULL && stats(ax).lookups == p0.lookups,
			"peek: a miss gives NULL and counts nothing");
		lookup(geo, ax, "89.160.20.112", &a);
		is_int(stats(ax).lookups - p0.lookups, 1, "peek: the lookup after it counts one");
		const sk_geo_info_t *pk = sk_geo_cache_peek(geo, ax, AF_INET, ip);
		ok(pk && same(pk, &a) && stats(ax).hits == p0.hits + 1 && stats(ax).lookups == p0.lookups + 2,
			"peek: a hit gives the cached result and counts a lookup and a hit");
		uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff };
		memcpy(mapped + 12, ip, 4);
		ok(sk_geo_cache_peek(geo, ax, AF_INET6, mapped) == pk, "peek: ::ffff:89.160.20.112 is the IPv4 entry");
		ok(sk_geo_cache_peek(NULL, ax, AF_INET, ip) == NULL && sk_geo_cache_peek(geo, NULL, AF_INET, ip) == NULL &&
			sk_geo_cache_peek(geo, ax, AF_UNIX, ip) == NULL, "peek: bad arguments give NULL");
	}
	sk_geo_cache_free(ax);

	sk_geo_cache_free(tiny);
	sk_geo_cache_free(cache);
	sk_geo_free(geo2);
	sk_geo_free(geo);
}

static void test_bad_args(void)
{
	sk_geo_t *geo = NULL;
	sk_geo_info_t g;
	uint8_t a[16] = { 89, 160, 20, 112 };
	if (open_captured(db_path(CITY), NULL, 0, &geo)) {
		ok(0, "open City-Test");
		return;
	}
	memset(&g, 0xaa, sizeof g);
	ok(sk_geo_lookup(geo, NULL, AF_UNIX, a, &g) == -EINVAL && unknown(&g),
		"unknown family: -EINVAL with info reset");
	memset(&g, 0xaa, sizeof g);
	ok(sk_geo_lookup(NULL, NULL, AF_INET, a, &g) == -EINVAL && unknown(&g), "NULL geo: -EINVAL with info reset");
	ok(sk_geo_lookup(geo, NULL, AF_INET, NULL, &g) == -EINVAL, "NULL address: -EINVAL");
	ok(sk_geo_lookup(geo, NULL, AF_INET, a, NULL) == -EINVAL, "NULL info: -EINVAL");
	sk_geo_free(geo);
	sk_geo_free(NULL);
	sk_geo_cache_free(NULL);
	sk_geo_cache_clear(NULL);
}

/*
 * What the structural checks (type check off) say about each file of bad/, from running them:
 * NULL means the file is a structurally valid database -- it is refused only for its type "Test".
 */
static const struct bad_expect {
	const char *file, *why;
} bad_expect[] = {
	{ "libmaxminddb-corrupt-search-tree.mmdb", "99 of its 100 search tree nodes are unreachable" },
	{ "libmaxminddb-deep-array-nesting.mmdb", "data nested more than 64 levels deep" },
	{ "libmaxminddb-deep-nesting.mmdb", "data nested more than 64 levels deep" },
	{ "libmaxminddb-empty-array-last-in-metadata.mmdb", NULL },
	{ "libmaxminddb-empty-map-last-in-metadata.mmdb", NULL },
	{ "libmaxminddb-metadata-marker-only.mmdb", "not a valid GeoIP database" },
	{ "libmaxminddb-offset-integer-overflow.mmdb", "not a valid GeoIP database" },
	{ "libmaxminddb-oversized-array.mmdb", "container has more entries than the data section has bytes left" },
	{ "libmaxminddb-oversized-map.mmdb", "container has more entries than the data section has bytes left" },
	{ "libmaxminddb-separator-record-max-left.mmdb", "points into the data section separator" },
	{ "libmaxminddb-separator-record-min-left.mmdb", "points into the data section separator" },
	{ "libmaxminddb-separator-record-min-right.mmdb", "points into the data section separator" },
	{ "libmaxminddb-uint64-max-epoch.mmdb", NULL },
};

/*
 * Look up addresses spread over both families in a file opened with every check off, with and
 * without a cache: each must return 0 or -EIO, an -EIO leaves info unknown, and the cache counts
 * exactly the -EIO results. Surviving this (under ASan/valgrind too) is what "never a crash at
 * run time" means for a file that somehow got past open.
 */
static void sweep(const char *name, sk_geo_t *geo)
{
	sk_geo_cache_t *cache = NULL;
	if (sk_geo_cache_new(64, 0, &cache)) {
		ok(0, "cache");
		return;
	}
	unsigned n = 0, eio = 0, found = 0, bad = 0;
	for (unsigned i = 0; i < 512; i++) {
		uint8_t a[16] = { 0 };
		int family = i < 256 ? AF_INET : AF_INET6;
		a[0] = (uint8_t)i;
		a[1] = (uint8_t)(i * 37);
		a[2] = (uint8_t)(i * 101);
		a[3] = (uint8_t)(i * 7 + 1);
		a[15] = (uint8_t)i;
		for (int c = 0; c < 2; c++) {
			sk_geo_info_t g;
			int rc = sk_geo_lookup(geo, c ? cache : NULL, family, a, &g);
			n++;
			if (rc == -EIO) {
				eio += c;
				bad += !unknown(&g);
			} else if (rc != 0) {
				bad++;
			} else if (!unknown(&g)) {
				found++;
			}
		}
	}
	ok(bad == 0 && stats(cache).errors == eio,
		"%s: %u lookups with checks off survive (%u errors counted = %llu, %u answers, %u wrong)", name, n,
		eio, (unsigned long long)stats(cache).errors, found, bad);
	sk_geo_cache_free(cache);
}

static void test_bad_files(void)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/bad", geodir);
	DIR *d = opendir(dir);
	if (!d) {
		ok(0, "open %s: %s", dir, strerror(errno));
		return;
	}
	unsigned files = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		files++;
		sk_geo_t *geo = NULL;

		/* 1. As either database, refused at open with a message naming the file. */
		int rc = open_captured(path, NULL, 0, &geo);
		ok(rc < 0 && !geo && strstr(errbuf, path) == errbuf,
			"bad/%s refused as City database, message starts with its path (rc %d: %s)", de->d_name, rc,
			sk_strerror(rc));
		sk_geo_free(geo);
		geo = NULL;
		rc = open_captured(NULL, path, 0, &geo);
		ok(rc < 0 && !geo && strstr(errbuf, path) == errbuf, "bad/%s refused as ASN database (rc %d)",
			de->d_name, rc);
		sk_geo_free(geo);
		geo = NULL;

		/* 2. With the type check off, the structural checks find what is broken. */
		const struct bad_expect *e = NULL;
		for (size_t i = 0; i < sizeof bad_expect / sizeof bad_expect[0]; i++)
			if (!strcmp(bad_expect[i].file, de->d_name))
				e = &bad_expect[i];
		rc = open_captured(path, NULL, SK_GEO_SKIP_TYPE, &geo);
		if (!e)
			printf("# bad/%s is new: only the generic checks apply; add it to bad_expect\n", de->d_name);
		else if (e->why)
			ok(rc < 0 && !geo && strstr(errbuf, e->why),
				"bad/%s: structural check refuses it (\"%s\"), not just its type (rc %d)", de->d_name,
				e->why, rc);
		else
			ok(rc == 0 && geo, "bad/%s: structurally valid, refused only for database_type \"Test\" (rc %d)",
				de->d_name, rc);
		sk_geo_free(geo);
		geo = NULL;

		/* 3. Forced open with every check off: MMDB_open refuses it, or lookups survive it. */
		rc = open_captured(path, path, SK_GEO_SKIP_TYPE | SK_GEO_SKIP_VERIFY, &geo);
		if (rc < 0)
			ok(!geo && strstr(errbuf, "not a valid GeoIP database"),
				"bad/%s: libmaxminddb itself refuses it at open (rc %d)", de->d_name, rc);
		else
			sweep(de->d_name, geo);
		sk_geo_free(geo);
	}
	closedir(d);
	ok(files >= sizeof bad_expect / sizeof bad_expect[0], "checked %u files of bad/ (expected at least %zu)",
		files, sizeof bad_expect / sizeof bad_expect[0]);
}

/* Control bytes `ctl` then `width` bytes of `value` in big-endian order: one data item, to find. */
static size_t item_be(uint8_t *out, const uint8_t *ctl, size_t nctl, const void *value, size_t width)
{
	memcpy(out, ctl, nctl);
	for (size_t i = 0; i < width; i++)
		out[nctl + i] = ((const uint8_t *)value)[width - 1 - i];   /* the hosts we run on are little-endian */
	return nctl + width;
}

static void test_damaged_copies(void)
{
	_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "item_be() assumes a little-endian host");
	uint8_t item[16];
	double d = 58.4167;
	float f = 58.4167f;
	/* GeoLite2-City-Test's latitude of Linköping, a double (type 3, size 8): make it 7 bytes. */
	size_t n = item_be(item, (const uint8_t[]){ 3 << 5 | 8 }, 1, &d, 8);
	test_damaged_copy(db_path(CITY), item, n, 3 << 5 | 7, "double is not 8 bytes");
	/* ipdb-city's, a float (extended type 15, size 4): make it 5 bytes. */
	n = item_be(item, (const uint8_t[]){ 4, 15 - 7 }, 2, &f, 4);
	test_damaged_copy(ipdb_path(IPDB_CITY), item, n, 5, "float is not 4 bytes");
}

/* ---- ip-location-db's flat layout ----------------------------------------------------------- */

/* ipdb-city.json and ipdb-asn.json, as one geo answers them. */
static const struct flat_known {
	const char *ip, *country, *region, *city;
	bool has_location;
	double latitude, longitude;
	uint8_t prefix;
	uint32_t asn;
	const char *org;
} flat_known[] = {
	{ "89.160.20.112", "SE", "Östergötland County", "Linköping", true, 58.4167, 15.6167, 28, 29518, "Bredband2 AB" },
	{ "89.160.20.126", "SE", "Östergötland County", "Linköping", true, 58.4167, 15.6167, 28, 29518, "Bredband2 AB" },
	{ "89.160.20.129", "SE", "Östergötland County", "Norrköping", true, 58.5942, 16.1826, 25, 29518, "Bredband2 AB" },
	/* A leaf's prefix is its depth in the tree: the /17 is split around the /25 and /28 in it. */
	{ "89.160.1.1", "SE", "", "", false, 0, 0, 20, 29518, "Bredband2 AB" },
	{ "81.2.69.142", "GB", "England", "London", true, 51.5142, -0.0931, 31, 0, "" },   /* doubles */
	{ "175.16.199.1", "CN", "Jilin Sheng", "Changchun", true, 43.88, 125.3228, 24, 0, "" },
	{ "198.51.100.7", "", "", "Nowhere", false, 0, 0, 24, 0, "" },   /* "XYZ", latitude 91.5 */
	{ "2001:218::1", "JP", "Tokyo", "Chiyoda City", true, 35.6869, 139.767, 32, 2914, "NTT America, Inc." },
	{ "2a02:cf40:ff::1", "NO", "Oslo County", "Oslo", true, 59.9127, 10.7461, 48, 64496,
		"Example AS (documentation number)" },
	{ "2a02:cf40::1", "NO", "", "", false, 0, 0, 41, 64496, "Example AS (documentation number)" },
	{ "1.128.0.1", "", "", "", false, 0, 0, 0, 1221, "Telstra Pty Ltd" },
	{ "12.81.92.1", "", "", "", false, 0, 0, 0, 7018, "AT&T Services" },
	{ "149.101.100.1", "", "", "", false, 0, 0, 0, 6167, "CELLCO-PART" },
	{ "127.0.0.1", "", "", "", false, 0, 0, 0, 0, "" },
	{ "::1", "", "", "", false, 0, 0, 0, 0, "" },
};
#define NFLAT (sizeof flat_known / sizeof flat_known[0])

static void check_flat_known(const sk_geo_t *geo, sk_geo_cache_t *cache, const char *what)
{
	for (size_t i = 0; i < NFLAT; i++) {
		const struct flat_known *k = &flat_known[i];
		sk_geo_info_t g;
		int rc = lookup(geo, cache, k->ip, &g);
		/* The flat layout has no ISO 3166-2 code; its coordinates are floats, good to 1e-5 here. */
		bool loc = g.has_location == k->has_location && fabs(g.latitude - k->latitude) < 1e-4 &&
			fabs(g.longitude - k->longitude) < 1e-4;
		ok(rc == 0 && !strcmp(g.country, k->country) && !strcmp(g.region, k->region) && !g.region_code[0] &&
			!strcmp(g.city, k->city) && loc && g.prefix == k->prefix && g.asn == k->asn &&
			!strcmp(g.as_org, k->org),
			"%s: %s -> %s/%s/%s %s%.4f,%.4f /%u AS%u \"%s\" (got rc %d, %s/%s/%s %s%.4f,%.4f /%u AS%u \"%s\")",
			what, k->ip, k->country, k->region, k->city, k->has_location ? "" : "no location ", k->latitude,
			k->longitude, k->prefix, k->asn, k->org, rc, g.country, g.region, g.city,
			g.has_location ? "" : "no location ", g.latitude, g.longitude, g.prefix, g.asn, g.as_org);
	}
}

static void test_flat_known_answers(void)
{
	sk_geo_t *geo = NULL;
	sk_geo_cache_t *cache = NULL;
	sk_geo_info_t g, mapped;
	sk_geo_stats_t s0;
	int rc;

	is_int(open_captured(ipdb_path(IPDB_CITY), ipdb_path(IPDB_ASN), 0, &geo), 0, "open ipdb-city + ipdb-asn");
	ok(strstr(errbuf, "city ipvAll (ip-location-db layout)") && strstr(errbuf, "asn ipvAll (ip-location-db layout)"),
		"the log names each database's layout, read from its database_type");
	if (!geo || sk_geo_cache_new(1024, 0, &cache)) {
		ok(0, "cannot open ipdb databases or cache");
		sk_geo_free(geo);
		return;
	}
	check_flat_known(geo, NULL, "ipdb, no cache");
	check_flat_known(geo, cache, "ipdb, cache, first time");
	s0 = stats(cache);
	check_flat_known(geo, cache, "ipdb, cache, second time");
	is_int(stats(cache).hits - s0.hits, NFLAT, "ipdb: the second round came from the cache");

	rc = lookup(geo, NULL, "89.160.20.112", &g);
	ok(rc == 0 && strlen(g.city) == 10 && (unsigned char)g.city[4] == 0xc3 && (unsigned char)g.city[5] == 0xb6,
		"ipdb: Linköping is UTF-8 (ö as c3 b6)");
	rc = lookup(geo, NULL, "::ffff:89.160.20.112", &mapped);
	ok(rc == 0 && same(&g, &mapped), "ipdb: ::ffff:89.160.20.112 answers as 89.160.20.112 (/%u)", mapped.prefix);

	/* The cache keys on the networks the flat records came from, as with GeoIP2 ones. */
	sk_geo_cache_clear(cache);
	s0 = stats(cache);
	rc = lookup(geo, cache, "89.160.20.112", &g);
	rc |= lookup(geo, cache, "89.160.20.120", &mapped);
	ok(rc == 0 && stats(cache).hits == s0.hits + 1 && same(&g, &mapped), "ipdb: 89.160.20.120 (same /28) is a hit");
	rc = lookup(geo, cache, "89.160.20.129", &g);
	ok(rc == 0 && stats(cache).hits == s0.hits + 1 && !strcmp(g.city, "Norrköping"),
		"ipdb: 89.160.20.129 (another network of the /24) is a miss with its own answer");
	rc = lookup(geo, cache, "2a02:cf40:ff:1::1", &g);
	rc |= lookup(geo, cache, "2a02:cf40:ff:ffff::2", &mapped);
	ok(rc == 0 && stats(cache).hits == s0.hits + 2 && same(&g, &mapped) && !strcmp(g.city, "Oslo"),
		"ipdb: 2a02:cf40:ff:ffff::2 (same /48) is a hit");
	rc = lookup(geo, cache, "2a02:cf40:fe::1", &g);
	ok(rc == 0 && stats(cache).hits == s0.hits + 2 && !g.city[0] && !strcmp(g.country, "NO"),
		"ipdb: 2a02:cf40:fe::1 (another /48, in the /29) is a miss: NO without a city");
	is_int(stats(cache).errors, 0, "ipdb: no errors counted");
	sk_geo_cache_free(cache);
	sk_geo_free(geo);
}

static void test_flat_single_and_mixed(void)
{
	sk_geo_t *geo = NULL;
	sk_geo_info_t g;
	int rc;

	is_int(open_captured(ipdb_path(IPDB_COUNTRY), NULL, 0, &geo), 0, "open ipdb-country alone");
	if (geo) {
		rc = lookup(geo, NULL, "89.160.20.112", &g);
		ok(rc == 0 && !strcmp(g.country, "SE") && !g.city[0] && !g.region[0] && !g.has_location && g.prefix == 17,
			"ipdb-country: 89.160.20.112 -> SE /17, nothing else (got %s/%s /%u)", g.country, g.city, g.prefix);
		rc = lookup(geo, NULL, "2a02:cf40::1", &g);
		ok(rc == 0 && !strcmp(g.country, "NO") && g.prefix == 29, "ipdb-country: 2a02:cf40::1 -> NO /29 (got %s /%u)",
			g.country, g.prefix);
		rc = lookup(geo, NULL, "1.128.0.1", &g);
		ok(rc == 0 && unknown(&g), "ipdb-country: 1.128.0.1 unknown");
		sk_geo_free(geo);
		geo = NULL;
	}

	is_int(open_captured(ipdb_path(IPDB_COUNTRY4), NULL, 0, &geo), 0, "open ipdb-country-ipv4 (\"country ipv4\") alone");
	ok(strstr(errbuf, "country ipv4 (ip-location-db layout), IPv4"), "its layout is read from its type");
	if (geo) {
		rc = lookup(geo, NULL, "::ffff:81.2.69.142", &g);
		ok(rc == 0 && !strcmp(g.country, "GB") && g.prefix == 26, "ipdb-country-ipv4: ::ffff:81.2.69.142 -> GB /26 (got %s /%u)",
			g.country, g.prefix);
		rc = lookup(geo, NULL, "2a02:cf40::1", &g);
		ok(rc == 0 && unknown(&g), "ipdb-country-ipv4: an IPv6 address is unknown, not an error (rc %d)", rc);
		sk_geo_free(geo);
		geo = NULL;
	}

	is_int(open_captured(NULL, ipdb_path(IPDB_ASN), 0, &geo), 0, "open ipdb-asn alone");
	if (geo) {
		rc = lookup(geo, NULL, "12.81.92.1", &g);
		ok(rc == 0 && g.asn == 7018 && !strcmp(g.as_org, "AT&T Services") && !g.country[0] && g.prefix == 0,
			"ipdb-asn: 12.81.92.1 -> AS7018 AT&T Services (got AS%u %s)", g.asn, g.as_org);
		sk_geo_free(geo);
		geo = NULL;
	}

	/* Each database keeps its own layout: MaxMind's City with ip-location-db's ASN, and the reverse. */
	is_int(open_captured(db_path(CITY), ipdb_path(IPDB_ASN), 0, &geo), 0, "open GeoLite2-City-Test + ipdb-asn");
	if (geo) {
		rc = lookup(geo, NULL, "2001:218::1", &g);
		ok(rc == 0 && !strcmp(g.country, "JP") && !g.city[0] && g.asn == 2914,
			"GeoIP2 City + flat ASN: 2001:218::1 -> JP, AS2914 (got %s/%s AS%u)", g.country, g.city, g.asn);
		rc = lookup(geo, NULL, "89.160.20.112", &g);
		ok(rc == 0 && !strcmp(g.city, "Linköping") && !strcmp(g.region_code, "E") && g.asn == 29518,
			"GeoIP2 City + flat ASN: 89.160.20.112 -> Linköping (E), AS29518");
		sk_geo_free(geo);
		geo = NULL;
	}
	is_int(open_captured(ipdb_path(IPDB_CITY), db_path(ASN), 0, &geo), 0, "open ipdb-city + GeoLite2-ASN-Test");
	if (geo) {
		rc = lookup(geo, NULL, "89.160.20.112", &g);
		ok(rc == 0 && !strcmp(g.city, "Linköping") && !g.region_code[0] && g.asn == 29518 &&
			!strcmp(g.as_org, "Bredband2 AB"), "flat City + GeoIP2 ASN: 89.160.20.112 -> Linköping, AS29518");
		sk_geo_free(geo);
	}
}

static void test_flat_open_errors(void)
{
	sk_geo_t *geo = NULL;
	int rc = open_captured(ipdb_path(IPDB_ASN), NULL, 0, &geo);
	ok(rc == -EINVAL && !geo && strstr(errbuf, "\"asn ipvAll\" is not a City or Country database"),
		"ipdb-asn given as City database: -EINVAL naming its type (rc %d)", rc);
	rc = open_captured(NULL, ipdb_path(IPDB_CITY), 0, &geo);
	ok(rc == -EINVAL && !geo && strstr(errbuf, "\"city ipvAll\" is not an ASN database"),
		"ipdb-city given as ASN database: -EINVAL (rc %d)", rc);
	rc = open_captured(NULL, ipdb_path(IPDB_COUNTRY), 0, &geo);
	ok(rc == -EINVAL && !geo, "ipdb-country given as ASN database: -EINVAL (rc %d)", rc);
	rc = open_captured(ipdb_path(IPDB_CITY), ipdb_path(IPDB_CITY), 0, &geo);
	ok(rc == -EINVAL && !geo, "good ipdb City + bad ASN: whole open fails (rc %d)", rc);
}

/* One record {"country_code": "SE"}, and with `blank`, a second record before it holding neither
 * layout's country ({"x": "y"}), which the check meets first (the chain's 1 bit: 128.0.0.0/1). */
static void write_flat_chain_db(const char *path, const char *type, bool blank)
{
	static struct mk d;
	uint32_t rec[2];
	d.n = 0;
	rec[0] = (uint32_t)d.n;
	mk_head(&d, 7, 1);
	mk_str(&d, "country_code");
	mk_str(&d, "SE");
	rec[1] = (uint32_t)d.n;
	mk_head(&d, 7, 1);
	mk_str(&d, "x");
	mk_str(&d, "y");
	write_db(path, type, 32, &d, rec, blank ? 2 : 1, ~0u);
}

/* A database_type of neither family: the records decide, once, at open. */
static void test_flat_by_content(void)
{
	char path[] = "/tmp/test_geo_flat_XXXXXX";
	int fd = mkstemp(path);
	sk_geo_t *geo = NULL;
	sk_geo_info_t g;
	int rc;
	if (fd < 0) {
		ok(0, "mkstemp: %s", strerror(errno));
		return;
	}
	close(fd);

	write_flat_chain_db(path, "Test-City", true);
	rc = open_captured(path, NULL, 0, &geo);
	ok(rc == 0 && geo && strstr(errbuf, "Test-City (ip-location-db layout)"),
		"type \"Test-City\" with country_code records: opened, layout taken from the records (rc %d)", rc);
	if (geo) {
		rc = lookup(geo, NULL, "0.0.0.0", &g);
		ok(rc == 0 && !strcmp(g.country, "SE") && g.prefix == 32, "and 0.0.0.0 reads SE (got %s)", g.country);
		rc = lookup(geo, NULL, "128.0.0.1", &g);
		ok(rc == 0 && !g.country[0] && g.prefix == 1, "the record without a country reads as none (got %s /%u)",
			g.country, g.prefix);
		sk_geo_free(geo);
		geo = NULL;
	}

	/* The GeoIP2 control: the chain's {"country": {"iso_code": "SE"}} under an unknown name. */
	write_chain_db(path, "Test-City", 32, false, ~0u);
	rc = open_captured(path, NULL, 0, &geo);
	ok(rc == 0 && geo && strstr(errbuf, "Test-City (GeoIP2 layout)"),
		"type \"Test-City\" with country maps: GeoIP2 layout (rc %d)", rc);
	sk_geo_free(geo);
	geo = NULL;

	/* A name that says one layout over records of the other: refused, saying what was looked for. */
	write_chain_db(path, "city ipvAll", 32, false, ~0u);
	rc = open_captured(path, NULL, 0, &geo);
	ok(rc == -EINVAL && !geo && strstr(errbuf, "none of its 1 records has country_code (ip-location-db layout)"),
		"\"city ipvAll\" holding GeoIP2 records is refused (rc %d)", rc);
	write_flat_chain_db(path, "GeoLite2-City", false);
	rc = open_captured(path, NULL, 0, &geo);
	ok(rc == -EINVAL && !geo && strstr(errbuf, "none of its 1 records has country/iso_code (GeoIP2 layout)"),
		"\"GeoLite2-City\" holding flat records is refused (rc %d)", rc);
	write_chain_db(path, "country ipv4", 32, true, ~0u);
	rc = open_captured(path, NULL, 0, &geo);
	ok(rc == -EINVAL && !geo && strstr(errbuf, "none of its 1 records has country_code"),
		"\"country ipv4\" holding ASN records is refused (rc %d)", rc);
	write_chain_db(path, "Test-City", 32, true, ~0u);
	rc = open_captured(path, NULL, 0, &geo);
	ok(rc == -EINVAL && !geo && strstr(errbuf, "has country/iso_code or country_code\n"),
		"an unknown name over records of neither layout: refused, naming both fields (rc %d)", rc);
	unlink(path);
}

/* The real thing, when present: geo-whois-asn-country (CC BY 4.0, NRO), about 8 MB. */
static void test_real_ipdb(void)
{
	if (access(REAL_IPDB_COUNTRY, R_OK) != 0) {
		printf("# skip the check of a real ip-location-db database: no %s "
			"(npm pack @ip-location-db/geo-whois-asn-country-mmdb, unpacked in /tmp/ipdb)\n", REAL_IPDB_COUNTRY);
		return;
	}
	sk_geo_t *geo = NULL;
	sk_geo_info_t g;
	int rc = open_captured(REAL_IPDB_COUNTRY, NULL, 0, &geo);
	ok(rc == 0 && geo && strstr(errbuf, "(ip-location-db layout)"), "real %s opens (rc %d)", REAL_IPDB_COUNTRY, rc);
	if (geo) {
		rc = lookup(geo, NULL, "89.160.20.112", &g);
		ok(rc == 0 && !strcmp(g.country, "SE"), "real geo-whois-asn-country: 89.160.20.112 -> SE (got \"%s\" /%u)",
			g.country, g.prefix);
	}
	sk_geo_free(geo);
}

int main(void)
{
	geodir = getenv("SK_GEOIP_DIR");
	if (!geodir || !*geodir)
		geodir = "../shared/testdata/geoip";
	/* meson sets SK_TESTDATA to tests/unit/data and runs tests from the project root. */
	const char *data = getenv("SK_TESTDATA");
	snprintf(ipdbdir, sizeof ipdbdir, "%s/geo", data && *data ? data : "tests/unit/data");
	printf("# geoip test data: %s and %s\n", geodir, ipdbdir);

	test_known_answers();
	test_single_database();
	test_open_errors();
	test_damaged_copies();
	test_built_databases();
	test_flat_known_answers();
	test_flat_single_and_mixed();
	test_flat_open_errors();
	test_flat_by_content();
	test_real_ipdb();
	test_cache();
	test_bad_args();
	test_bad_files();
	return tap_done();
}
