/* walk.c -- every RRset of a zone, a seized domain or the catalog, in turn, for a zone transfer */
#include <string.h>

#include "db/db_internal.h"

static const sk_nameent_t *ent_at(const sk_nametab_t *t, size_t off)
{
	return (const sk_nameent_t *)(const void *)(t->ents + off);
}

sk_walk_kind_t sk_db_walk_init(const sk_db_t *db, const uint8_t *name, size_t len, bool seized,
	sk_db_walk_t *w)
{
	uint64_t hash = sk_db_name_hash(name, len);
	const sk_nameent_t *e;

	memset(w, 0, offsetof(sk_db_walk_t, owner));
	w->db = db;
	if ((e = sk_nametab_find(&db->apexes, name, len, hash))) {
		w->zone = &db->zones[e->value];
		w->kind = sk_db_is_catalog(db, e) ? SK_WALK_CATALOG : SK_WALK_ZONE;
	} else if (seized && (e = sk_nametab_find(&db->seized, name, len, hash))) {
		w->zone = &db->lists[e->aux].tmpl;
		w->kind = SK_WALK_SEIZED;
	} else {
		return w->kind = SK_WALK_NONE;
	}
	memcpy(w->origin, name, len);
	w->origin_len = (uint8_t)len;
	return w->kind;
}

/*
 * A template's owner under the seized domain: its labels (the template's apex is the root) and
 * then the domain. False when that is longer than a name may be.
 */
static bool seized_owner(sk_db_walk_t *w, const sk_nameent_t *e)
{
	size_t labels = (size_t)e->len - 1;
	if (labels + w->origin_len > SK_NAME_MAX)
		return false;
	memcpy(w->owner, e->name, labels);
	memcpy(w->owner + labels, w->origin, w->origin_len);
	return true;
}

/* The next RRset of the compiled zone, the apex SOA left out. */
static const sk_rrset_t *next_stored(sk_db_walk_t *w, const uint8_t **owner)
{
	const sk_nametab_t *t = &w->zone->nodes;
	for (; w->off < t->ents_len; w->off = sk_nametab_next(t, w->off), w->set = 0) {
		const sk_nameent_t *e = ent_at(t, w->off);
		while (w->set < e->aux) {
			const sk_rrset_t *rs = &sk_node_rrsets(w->zone, e)[w->set++];
			if (rs->type == SK_TYPE_SOA && (e->flags & SK_NODE_APEX))
				continue;
			if (w->kind != SK_WALK_SEIZED) {
				*owner = e->name;
				return rs;
			}
			if (seized_owner(w, e)) {
				*owner = w->owner;
				return rs;
			}
		}
	}
	return NULL;
}

/* The next member's name: zone apexes (unless the catalog lists seized domains only), then
 * every seized domain. */
static bool next_member(sk_db_walk_t *w, const uint8_t **name, size_t *len)
{
	const sk_db_t *db = w->db;
	if (w->member < db->nzones && !db->catalog_zones)
		w->member = db->nzones;
	if (w->member < db->nzones) {
		const sk_zone_t *z = &db->zones[w->member++];
		*name = z->apex;
		*len = z->apex_len;
		return true;
	}
	if (w->member_off >= db->seized.ents_len)
		return false;
	const sk_nameent_t *e = ent_at(&db->seized, w->member_off);
	w->member_off = sk_nametab_next(&db->seized, w->member_off);
	*name = e->name;
	*len = e->len;
	return true;
}

/* RFC 9432 s4.3.1: <unique-id>.zones.<catalog> PTR <member>. */
static const sk_rrset_t *next_member_ptr(sk_db_walk_t *w, const uint8_t **owner)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *name;
	size_t len;
	if (!next_member(w, &name, &len))
		return NULL;
	uint64_t id = sk_db_name_hash(name, len);
	uint8_t *o = w->owner;
	*o++ = 16;
	for (int i = 15; i >= 0; i--)
		*o++ = (uint8_t)hex[(id >> (4 * i)) & 15];
	memcpy(o, "\5zones", 6);
	memcpy(o + 6, w->origin, w->origin_len);   /* fits: checked when the catalog was built */
	uint8_t *p = w->ptr_data;
	sk_put16(p, SK_TYPE_PTR);
	sk_put16(p + 2, SK_CLASS_IN);
	sk_put32(p + 4, 0);
	sk_put16(p + 8, (uint16_t)len);
	memcpy(p + 10, name, len);
	w->ptr = (sk_rrset_t){ .type = SK_TYPE_PTR, .count = 1, .ttl = 0, .len = (uint32_t)(10 + len),
		.data = w->ptr_data };
	*owner = w->owner;
	return &w->ptr;
}

const sk_rrset_t *sk_db_walk_next(sk_db_walk_t *w, const uint8_t **owner)
{
	const sk_rrset_t *rs = w->kind == SK_WALK_NONE ? NULL : next_stored(w, owner);
	if (!rs && w->kind == SK_WALK_CATALOG)
		rs = next_member_ptr(w, owner);
	return rs;
}

const sk_rrset_t *sk_zone_soa(const sk_zone_t *zone)
{
	return zone->soa;
}

const sk_zone_t *sk_db_catalog(const sk_db_t *db)
{
	return db->catalog;
}

const sk_zone_t *sk_db_find_zone(const sk_db_t *db, const uint8_t *apex, size_t len)
{
	const sk_nameent_t *e = sk_nametab_find(&db->apexes, apex, len, sk_db_name_hash(apex, len));
	return e ? &db->zones[e->value] : NULL;
}
