/* catalog.c -- the catalog zone (RFC 9432, version 2): every zone and seized domain as a member */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "db/db_internal.h"
#include "util/err.h"
#include "util/log.h"

/*
 * What is compiled: the apex SOA and NS (RFC 9432 s4.1: "invalid." as the NS target) and
 * version.<catalog> TXT "2" (s4.2), a zone of three records found by the ordinary lookup (a
 * consumer's SOA query is answered like any other). The members, one PTR each at
 * <id>.zones.<catalog> (s4.3.1), are not stored: walk.c makes them while a transfer runs, from
 * the zone apexes and the seized-names table, so a million seized domains cost nothing more;
 * a query for one finds the member by its id (sk_catalog_member) and lookup.c makes the PTR.
 *
 * The member id is the 64-bit name hash the db already uses (sk_db_name_hash of the lowercased
 * name) in 16 hex digits: the same name always gets the same id, across reloads and restarts,
 * which RFC 9432 s4.3.1 wants so that a consumer does not drop and re-add a member.
 */

/* SOA timers: a consumer notified of every change still polls every 5 minutes (refresh), and
 * never expires the catalog (RFC 9432 s5.1 suggests a long expire). */
#define CAT_REFRESH 300
#define CAT_RETRY 60
#define CAT_EXPIRE 2419200
#define CAT_MINIMUM 0

static const uint8_t invalid_name[] = "\7invalid";   /* with its terminating 0: 9 bytes */

static int add_records(sk_zsrc_t *src, const uint8_t *apex, size_t alen)
{
	uint8_t soa[2 * sizeof invalid_name + 20], owner[SK_NAME_MAX];
	uint8_t *p = soa;
	int rc;

	memcpy(p, invalid_name, sizeof invalid_name);
	p += sizeof invalid_name;
	memcpy(p, invalid_name, sizeof invalid_name);
	p += sizeof invalid_name;
	sk_put32(p, 1);                   /* the serial: set before publication (sk_db_catalog_serial) */
	sk_put32(p + 4, CAT_REFRESH);
	sk_put32(p + 8, CAT_RETRY);
	sk_put32(p + 12, CAT_EXPIRE);
	sk_put32(p + 16, CAT_MINIMUM);
	if ((rc = sk_zsrc_add(src, apex, alen, SK_TYPE_SOA, 0, soa, sizeof soa)) < 0 ||
	    (rc = sk_zsrc_add(src, apex, alen, SK_TYPE_NS, 0, invalid_name, sizeof invalid_name)) < 0)
		return rc;
	if (alen + 8 > SK_NAME_MAX)
		return -EINVAL;
	memcpy(owner, "\7version", 8);
	memcpy(owner + 8, apex, alen);
	return sk_zsrc_add(src, owner, alen + 8, SK_TYPE_TXT, 0, (const uint8_t *)"\0012", 2);
}

/* The catalog's name, lowercased wire, into src->apex. */
static int catalog_apex(const sk_conf_t *conf, sk_zsrc_t *src)
{
	ldns_rdf *name = ldns_dname_new_frm_str(conf->xfr.catalog_name);
	if (!name || ldns_rdf_size(name) + 23 > SK_NAME_MAX) {
		/* Room for the members' owners, <16 hex digits>.zones.<catalog>: 23 bytes more. */
		sk_diag(0, conf->path, conf->xfr.catalog_line, "catalog name %s is not usable",
			conf->xfr.catalog_name);
		ldns_rdf_deep_free(name);
		return SK_EPARSE;
	}
	ldns_dname2canonical(name);
	src->apex_len = (uint8_t)ldns_rdf_size(name);
	memcpy(src->apex, ldns_rdf_data(name), src->apex_len);
	ldns_rdf_deep_free(name);
	return 0;
}

int sk_catalog_build(sk_db_t *db, const sk_conf_t *conf)
{
	const sk_zone_conf_t zc = { .file = conf->path, .line = conf->xfr.catalog_line };
	sk_zone_t *z = &db->zones[db->nzones];
	sk_zsrc_t src = { 0 };
	size_t off;
	int rc;

	if (!conf->xfr.enabled || !conf->xfr.catalog)
		return 0;
	if (!(src.files = calloc(1, sizeof *src.files)) || !(src.files[0] = strdup(conf->path))) {
		rc = -ENOMEM;
		goto fail;
	}
	src.nfiles = 1;
	if ((rc = catalog_apex(conf, &src)) < 0 || (rc = add_records(&src, src.apex, src.apex_len)) < 0 ||
	    (rc = sk_zone_compile(&src, &zc, z)) < 0)
		goto fail;
	uint64_t hash = sk_db_name_hash(z->apex, z->apex_len);
	const sk_nameent_t *dup = sk_nametab_find(&db->apexes, z->apex, z->apex_len, hash);
	if (dup) {
		sk_diag(0, conf->path, conf->xfr.catalog_line, "catalog %s is also the zone of %s on "
			"line %u", conf->xfr.catalog_name, conf->zones[dup->value].file,
			conf->zones[dup->value].line);
		rc = SK_EZONE;
		goto fail;
	}
	if ((rc = sk_nametab_add(&db->apexes, z->apex, z->apex_len, hash, &off)) < 0)
		goto fail;
	sk_nametab_ent(&db->apexes, off)->value = (uint32_t)db->nzones;
	if (z->apex_labels < db->min_labels)
		db->min_labels = z->apex_labels;
	if (z->apex_labels > db->max_labels)
		db->max_labels = z->apex_labels;
	db->catalog = z;
	db->catalog_zones = conf->xfr.catalog_zones;
	sk_zsrc_free(&src);
	return 0;
fail:
	sk_zsrc_free(&src);
	sk_zone_release(z);
	return rc;
}

/* A sum of the members' mixed hashes: the same set in any order gives the same value. */
void sk_catalog_hash(sk_db_t *db)
{
	uint64_t h = 0;
	size_t n = 0;
	if (!db->catalog)
		return;
	for (size_t i = 0; db->catalog_zones && i < db->nzones; i++, n++)
		h += sk_hash_fin(sk_db_name_hash(db->zones[i].apex, db->zones[i].apex_len));
	const sk_nametab_t *t = &db->seized;
	for (size_t off = 0; off < t->ents_len; off = sk_nametab_next(t, off), n++) {
		const sk_nameent_t *e = (const sk_nameent_t *)(const void *)(t->ents + off);
		h += sk_hash_fin(sk_db_name_hash(e->name, e->len));
	}
	db->catalog_hash = sk_hash_fin(h ^ n);
	db->catalog_members = n;
}

bool sk_catalog_member(const sk_db_t *db, uint64_t id, const uint8_t **name, size_t *len)
{
	for (size_t i = 0; db->catalog_zones && i < db->nzones; i++) {
		const sk_zone_t *z = &db->zones[i];
		if (sk_db_name_hash(z->apex, z->apex_len) == id) {
			*name = z->apex;
			*len = z->apex_len;
			return true;
		}
	}
	/* The id is the hash the seized table is keyed by: probe as a lookup of that name would,
	 * and take the entry whose own name hashes to it. */
	const sk_nametab_t *t = &db->seized;
	uint64_t h = sk_hash_fin(id);
	uint32_t tag = (uint32_t)(h >> 32);
	for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
		uint64_t slot = t->slots[i];
		if (slot == 0)
			return false;
		if ((uint32_t)(slot >> 32) != tag)
			continue;
		const sk_nameent_t *e = sk_nametab_at(t, slot);
		if (sk_db_name_hash(e->name, e->len) == id) {
			*name = e->name;
			*len = e->len;
			return true;
		}
	}
}

/* Newer in serial number arithmetic (RFC 1982): a is ahead of b by less than half the space. */
static bool serial_after(uint32_t a, uint32_t b)
{
	return a != b && (uint32_t)(a - b) < 0x80000000u;
}

/* Write `serial` into a compiled SOA RRset's one record. */
static void patch_serial(const sk_rrset_t *soa, uint32_t serial)
{
	uint8_t *rd = (uint8_t *)(uintptr_t)soa->data + 10;
	size_t i = 0;
	for (int n = 0; n < 2; n++) {
		while (rd[i])
			i += (size_t)rd[i] + 1;
		i++;
	}
	sk_put32(rd + i, serial);
}

uint32_t sk_db_catalog_serial(sk_db_t *db, const sk_db_t *prev, uint32_t now)
{
	sk_zone_t *z = db->catalog;
	if (!z)
		return 0;
	uint32_t serial = now;
	const sk_zone_t *pz = prev ? prev->catalog : NULL;
	if (pz && pz->apex_len == z->apex_len && !memcmp(pz->apex, z->apex, z->apex_len)) {
		if (prev->catalog_hash == db->catalog_hash)
			serial = pz->serial;
		else if (!serial_after(now, pz->serial))
			serial = pz->serial + 1;
	}
	/* Not published yet: the loader thread is its only user. */
	patch_serial(z->soa, serial);
	patch_serial(&z->neg_soa, serial);
	z->serial = serial;
	return serial;
}

size_t sk_db_catalog_members(const sk_db_t *db)
{
	return db->catalog ? db->catalog_members : 0;
}
