/* mmdb_writer.h -- hand-built MaxMind DB files for test_geo: the tree, the data section, the
 * metadata, byte by byte, so a test can reach the checks no ready-made bad file reaches */
#ifndef SK_TEST_MMDB_WRITER_H
#define SK_TEST_MMDB_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#endif
