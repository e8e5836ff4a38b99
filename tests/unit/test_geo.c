/* test_geo.c -- geo: known answers from MaxMind's test databases, the cache, and every corrupt file */
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
#include "tap.h"
#include "util/err.h"

static const char *geodir;
static char errbuf[16384];

static const char *db_path(const char *name)
{
	static char buf[4][4096];
	static int next;
	char *b = buf[next++ % 4];
	snprintf(b, sizeof buf[0], "%s/%s", geodir, name);
	return b;
}

#define CITY "GeoLite2-City-Test.mmdb"
#define CITY2 "GeoIP2-City-Test.mmdb"
#define COUNTRY "GeoLite2-Country-Test.mmdb"
#define ASN "GeoLite2-ASN-Test.mmdb"

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
	ok(sk_geo_cache_new(1024, &cache) == 0 && cache, "cache of 1024 entries");
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

/* Copy a database and damage it, to show the checks work on a real layout, not only on bad/. */
static void test_damaged_copy(void)
{
	char tmpl[] = "/tmp/test_geo_XXXXXX";
	int fd = mkstemp(tmpl);
	FILE *in = fopen(db_path(CITY), "rb");
	static uint8_t buf[1 << 16];
	size_t n = in ? fread(buf, 1, sizeof buf, in) : 0;
	if (in)
		fclose(in);
	if (fd < 0 || n < 1000 || n == sizeof buf) {
		ok(0, "cannot make a damaged copy (fd %d, %zu bytes)", fd, n);
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
		"damaged search tree refused at open, naming file and node (rc %d)", rc);

	/* Truncated: the metadata at the end is gone. */
	memcpy(buf + 700, save, 7);
	ok(ftruncate(fd, 0) == 0 && pwrite(fd, buf, n / 2, 0) == (ssize_t)(n / 2), "write truncated copy");
	rc = open_captured(tmpl, NULL, 0, &geo);
	ok(rc == SK_EPARSE && !geo && strstr(errbuf, tmpl), "truncated file refused (rc %d)", rc);

	/* Empty file. */
	ok(ftruncate(fd, 0) == 0, "empty the copy");
	rc = open_captured(tmpl, NULL, 0, &geo);
	ok(rc == SK_EPARSE && !geo && strstr(errbuf, tmpl) && strstr(errbuf, "empty"), "empty file refused as empty (rc %d)", rc);
	close(fd);
	unlink(tmpl);
}

/*
 * Hand-built IPv4 databases (record size 24), to reach checks no file in bad/ reaches. The tree is a
 * chain: node i sends the 0 bit to node i+1 and the 1 bit to data record i+1 (or "empty"); the last
 * node sends the 0 bit to data record 0. So 0.0.0.0/`depth` holds record 0.
 */
struct mk {
	uint8_t b[16384];
	size_t n;
};

static void mk_put(struct mk *m, const void *p, size_t n)
{
	if (m->n + n > sizeof m->b) {
		printf("# test database too large\n");
		exit(2);
	}
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void mk_byte(struct mk *m, unsigned byte)
{
	uint8_t b = (uint8_t)byte;
	mk_put(m, &b, 1);
}

/* Control byte(s) for `type` (extended when above 7) and a size under 65821. */
static void mk_head(struct mk *m, unsigned type, unsigned size)
{
	mk_byte(m, (type > 7 ? 0 : type) << 5 | (size < 29 ? size : size < 285 ? 29 : 30));
	if (type > 7)
		mk_byte(m, type - 7);
	if (size >= 285) {
		mk_byte(m, (size - 285) >> 8);
		mk_byte(m, (size - 285) & 0xff);
	} else if (size >= 29) {
		mk_byte(m, size - 29);
	}
}

static void mk_str(struct mk *m, const char *s)
{
	mk_head(m, 2, (unsigned)strlen(s));
	mk_put(m, s, strlen(s));
}

/* An unsigned integer of MMDB type `type` (5 uint16, 6 uint32, 9 uint64) in `size` bytes. */
static void mk_uint(struct mk *m, unsigned type, uint64_t v, unsigned size)
{
	mk_head(m, type, size);
	for (unsigned i = size; i-- > 0;)
		mk_byte(m, (unsigned)(v >> (8 * i)));
}

/* A pointer to data offset `off` (< 2048). */
static void mk_ptr(struct mk *m, unsigned off)
{
	mk_byte(m, 1u << 5 | off >> 8);
	mk_byte(m, off & 0xff);
}

/* {"country": {"iso_code": "SE"}}, with `extra` more pairs to follow. */
static void mk_country_record(struct mk *m, unsigned extra)
{
	mk_head(m, 7, 1 + extra);
	mk_str(m, "country");
	mk_head(m, 7, 1);
	mk_str(m, "iso_code");
	mk_str(m, "SE");
}

static uint32_t be24(uint32_t v, int i)
{
	return v >> (16 - 8 * i) & 0xff;
}

/* Write the chain database: `data` holds the data section, `recs` the offsets of its records. */
static void write_db(const char *path, const char *type, unsigned depth, const struct mk *data,
	const uint32_t *recs, unsigned nrecs, unsigned bad_node)
{
	static struct mk m;
	uint32_t n = depth, empty = n, base = n + 16;
	m.n = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t left = i + 1 < n ? i + 1 : base + recs[0];
		uint32_t right = i == bad_node ? 0 : i + 1 < nrecs ? base + recs[i + 1] : empty;
		for (int k = 0; k < 3; k++)
			mk_byte(&m, be24(left, k));
		for (int k = 0; k < 3; k++)
			mk_byte(&m, be24(right, k));
	}
	for (int k = 0; k < 16; k++)
		mk_byte(&m, 0);
	mk_put(&m, data->b, data->n);
	mk_put(&m, "\xab\xcd\xefMaxMind.com", 14);
	mk_head(&m, 7, 9);
	mk_str(&m, "binary_format_major_version");
	mk_uint(&m, 5, 2, 1);
	mk_str(&m, "binary_format_minor_version");
	mk_uint(&m, 5, 0, 0);
	mk_str(&m, "build_epoch");
	mk_uint(&m, 9, 1700000000, 4);
	mk_str(&m, "database_type");
	mk_str(&m, type);
	mk_str(&m, "description");
	mk_head(&m, 7, 1);
	mk_str(&m, "en");
	mk_str(&m, "chain");
	mk_str(&m, "ip_version");
	mk_uint(&m, 5, 4, 1);
	mk_str(&m, "languages");
	mk_head(&m, 11, 1);
	mk_str(&m, "en");
	mk_str(&m, "node_count");
	mk_uint(&m, 6, n, 1);
	mk_str(&m, "record_size");
	mk_uint(&m, 5, 24, 1);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(m.b, 1, m.n, f) != m.n || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

/* The chain with one record: {"country": {"iso_code": "SE"}}, or an ASN record. */
static void write_chain_db(const char *path, const char *type, unsigned depth, bool asn_data, unsigned bad_node)
{
	static struct mk d;
	uint32_t rec = 0;
	d.n = 0;
	if (asn_data) {
		mk_head(&d, 7, 1);
		mk_str(&d, "autonomous_system_number");
		mk_uint(&d, 6, 64512, 2);
	} else {
		mk_country_record(&d, 0);
	}
	write_db(path, type, depth, &d, &rec, 1, bad_node);
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

	is_int(sk_geo_cache_new(0, &cache), -EINVAL, "cache of 0 entries is -EINVAL");
	is_int(sk_geo_cache_new((1u << 22) + 1, &cache), -EINVAL, "cache beyond 1<<22 entries is -EINVAL");
	if (open_captured(db_path(CITY), db_path(ASN), 0, &geo) || sk_geo_cache_new(256, &cache)) {
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
	ok(sk_geo_cache_new(4, &tiny) == 0, "cache of 4 entries (one set)");
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
	if (sk_geo_cache_new(64, &cache)) {
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

int main(void)
{
	geodir = getenv("SK_GEOIP_DIR");
	if (!geodir || !*geodir)
		geodir = "../shared/testdata/geoip";
	printf("# geoip test data: %s\n", geodir);

	test_known_answers();
	test_single_database();
	test_open_errors();
	test_damaged_copy();
	test_built_databases();
	test_cache();
	test_bad_args();
	test_bad_files();
	return tap_done();
}
