/* db.c -- compile parsed zones into the immutable db: name tables, wire-format RRsets, node flags */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "db/db_internal.h"
#include "util/err.h"
#include "util/log.h"

/* ---- name table (build side; the probe is inline in db_internal.h) ---- */

int sk_nametab_init(sk_nametab_t *t)
{
	memset(t, 0, sizeof *t);
	/* One empty slot: a table with no names needs no special case in the probe loop. */
	if (!(t->slots = calloc(1, sizeof *t->slots)))
		return -ENOMEM;
	return 0;
}

static void nametab_place(uint64_t *slots, uint32_t mask, uint64_t hash, size_t off)
{
	uint64_t h = sk_hash_fin(hash);
	uint32_t i = (uint32_t)h & mask;
	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = (h >> 32) << 32 | (uint64_t)(off / 8 + 1);
}

/* Rebuild the slot array with `nslots` slots, rehashing every entry from its name. */
static int nametab_rehash(sk_nametab_t *t, size_t nslots)
{
	uint64_t *slots = calloc(nslots, sizeof *slots);
	if (!slots)
		return -ENOMEM;
	for (size_t off = 0; off < t->ents_len; off = sk_nametab_next(t, off)) {
		const sk_nameent_t *e = sk_nametab_ent(t, off);
		nametab_place(slots, (uint32_t)(nslots - 1), sk_db_name_hash(e->name, e->len), off);
	}
	free(t->slots);
	t->slots = slots;
	t->mask = (uint32_t)(nslots - 1);
	return 0;
}

int sk_nametab_add(sk_nametab_t *t, const uint8_t *name, size_t len, uint64_t hash, size_t *off)
{
	size_t size = (sizeof(sk_nameent_t) + len + 7) & ~(size_t)7;
	sk_nameent_t *e;
	int rc;

	if (t->count >= UINT32_MAX / 4 || (t->ents_len + size) / 8 >= UINT32_MAX)
		return -ENOMEM;
	/* Grow at 3/4 while building; seal() brings the final table to at most 1/2. */
	if ((size_t)(t->count + 1) * 4 > ((size_t)t->mask + 1) * 3) {
		if ((rc = nametab_rehash(t, ((size_t)t->mask + 1) * 2)) < 0)
			return rc;
	}
	if (t->ents_len + size > t->ents_cap) {
		size_t cap = t->ents_cap ? t->ents_cap * 2 : 1024;
		while (cap < t->ents_len + size)
			cap *= 2;
		uint8_t *ents = realloc(t->ents, cap);
		if (!ents)
			return -ENOMEM;
		t->ents = ents;
		t->ents_cap = cap;
	}
	e = sk_nametab_ent(t, t->ents_len);
	memset(e, 0, size);
	e->len = (uint8_t)len;
	memcpy(e->name, name, len);
	*off = t->ents_len;
	nametab_place(t->slots, t->mask, hash, t->ents_len);
	t->ents_len += size;
	t->count++;
	return 0;
}

int sk_nametab_reserve(sk_nametab_t *t, size_t count, size_t bytes)
{
	size_t nslots = 1;
	while (nslots < count * 2)
		nslots *= 2;
	if (count >= UINT32_MAX / 4 || bytes / 8 >= UINT32_MAX)
		return -ENOMEM;
	if (bytes > t->ents_cap) {
		uint8_t *ents = realloc(t->ents, bytes);
		if (!ents)
			return -ENOMEM;
		t->ents = ents;
		t->ents_cap = bytes;
	}
	return nslots > (size_t)t->mask + 1 ? nametab_rehash(t, nslots) : 0;
}

int sk_nametab_seal(sk_nametab_t *t)
{
	size_t nslots = 1;
	while (nslots < (size_t)t->count * 2)
		nslots *= 2;
	if (t->ents_len && t->ents_len < t->ents_cap) {
		uint8_t *ents = realloc(t->ents, t->ents_len);
		if (ents) {
			t->ents = ents;
			t->ents_cap = t->ents_len;
		}
	}
	return nslots == (size_t)t->mask + 1 ? 0 : nametab_rehash(t, nslots);
}

void sk_nametab_free(sk_nametab_t *t)
{
	free(t->slots);
	free(t->ents);
	memset(t, 0, sizeof *t);
}

/* ---- compiling one zone ---- */

/* Presentation form of a wire name for messages. */
static const char *name_text(const uint8_t *name, size_t len, char *buf, size_t cap)
{
	/* ldns_rdf_new() borrows the bytes; ldns_rdf_free() leaves them alone. */
	ldns_rdf *rdf = ldns_rdf_new(LDNS_RDF_TYPE_DNAME, len, (void *)(uintptr_t)name);
	char *s = rdf ? ldns_rdf2str(rdf) : NULL;
	snprintf(buf, cap, "%s", s ? s : "?");
	free(s);
	ldns_rdf_free(rdf);
	return buf;
}

static int cmp_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c ? c : (alen > blen) - (alen < blen);
}

/* Order records by owner, type, RDATA: any fixed order groups nodes and RRsets. */
static int rec_cmp(const void *pa, const void *pb, void *ctx)
{
	const sk_zsrc_t *s = ctx;
	const sk_zrec_t *a = &s->rec[*(const uint32_t *)pa], *b = &s->rec[*(const uint32_t *)pb];
	int c = cmp_bytes(sk_zrec_owner(s, a), a->owner_len, sk_zrec_owner(s, b), b->owner_len);
	if (c)
		return c;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	c = cmp_bytes(sk_zrec_rdata(s, a), a->rdlen, sk_zrec_rdata(s, b), b->rdlen);
	return c ? c : (a->line > b->line) - (a->line < b->line);
}

static bool same_owner(const sk_zsrc_t *s, const sk_zrec_t *a, const sk_zrec_t *b)
{
	return a->owner_len == b->owner_len &&
		memcmp(sk_zrec_owner(s, a), sk_zrec_owner(s, b), a->owner_len) == 0;
}

/* Zone compilation state */
typedef struct zbuild {
	const sk_zsrc_t *s;
	sk_zone_t *z;
	uint32_t *ix;           /* record indexes, sorted, duplicates removed */
	size_t n;
	size_t payload;         /* bytes the nodes' RRsets need, at most */
	int code;               /* first error */
} zbuild_t;

static void zerror(zbuild_t *b, const sk_zrec_t *r, int code, const char *fmt, const char *name)
{
	sk_diag(code == 0, b->s->files[r->file], r->line, fmt, name);
	if (code < 0 && b->code == 0)
		b->code = code;
}

/* Sort, drop exact duplicates (RFC 2181 5: an RRset has no duplicate records), and size the rest. */
static int sort_records(zbuild_t *b)
{
	const sk_zsrc_t *s = b->s;
	const sk_zrec_t *prev = NULL;
	char text[1024];

	if (!(b->ix = malloc((s->nrec ? s->nrec : 1) * sizeof *b->ix)))
		return -ENOMEM;
	for (size_t i = 0; i < s->nrec; i++)
		b->ix[i] = (uint32_t)i;
	qsort_r(b->ix, s->nrec, sizeof *b->ix, rec_cmp, (void *)s);
	for (size_t i = 0; i < s->nrec; i++) {
		const sk_zrec_t *r = &s->rec[b->ix[i]];
		if (prev && same_owner(s, prev, r) && prev->type == r->type && prev->rdlen == r->rdlen &&
			memcmp(sk_zrec_rdata(s, prev), sk_zrec_rdata(s, r), r->rdlen) == 0) {
			zerror(b, r, 0, "duplicate record at %s ignored",
				name_text(sk_zrec_owner(s, r), r->owner_len, text, sizeof text));
			continue;
		}
		if (!prev || !same_owner(s, prev, r))
			b->payload += 8;   /* alignment of the node's block */
		if (!prev || !same_owner(s, prev, r) || prev->type != r->type)
			b->payload += sizeof(sk_rrset_t);
		b->payload += 10 + (size_t)r->rdlen;
		b->ix[b->n++] = b->ix[i];
		prev = r;
	}
	return 0;
}

/* Add `name` (unless there) and every missing ancestor down to the apex (the empty
 * non-terminals), so that every ancestor of an existing name exists too. Returns the name's
 * entry offset in *off. */
static int add_node(zbuild_t *b, const uint8_t *name, size_t len, size_t *off)
{
	sk_nametab_t *t = &b->z->nodes;
	uint8_t loff[SK_LABELS_MAX];
	uint64_t h[SK_LABELS_MAX];
	const sk_nameent_t *e;
	int labels = sk_db_name_hashes(name, len, loff, h), rc;
	size_t o;

	if (labels < 0)
		return -EINVAL;
	for (int k = 0; k <= labels && len - loff[k] >= b->z->apex_len; k++) {
		if ((e = sk_nametab_find(t, name + loff[k], len - loff[k], h[k]))) {
			o = (size_t)((const uint8_t *)e - t->ents);
			if (k == 0)
				*off = o;
			return 0;   /* present: it was added with all its ancestors */
		}
		if ((rc = sk_nametab_add(t, name + loff[k], len - loff[k], h[k], &o)) < 0)
			return rc;
		if (k == 0)
			*off = o;
		if (name[loff[k]] == 1 && name[loff[k] + 1] == '*')
			sk_nametab_ent(t, o)->flags |= SK_NODE_WILDCARD;
		if (len - loff[k] == b->z->apex_len)
			sk_nametab_ent(t, o)->flags |= SK_NODE_APEX;
	}
	return 0;
}

/* Write one RRset from sorted records [a, e) of one owner and type. */
static void write_rrset(zbuild_t *b, size_t a, size_t e, sk_rrset_t *rs, uint8_t *data)
{
	const sk_zsrc_t *s = b->s;
	const sk_zrec_t *first = &s->rec[b->ix[a]];
	uint32_t ttl = first->ttl;
	bool warned = false;
	char text[1024];
	uint8_t *p = data;

	for (size_t i = a + 1; i < e; i++) {
		const sk_zrec_t *r = &s->rec[b->ix[i]];
		if (r->ttl != first->ttl && !warned) {
			zerror(b, r, 0, "TTLs differ inside the RRset at %s; using the smallest",
				name_text(sk_zrec_owner(s, r), r->owner_len, text, sizeof text));
			warned = true;
		}
		if (r->ttl < ttl)
			ttl = r->ttl;
	}
	for (size_t i = a; i < e; i++) {
		const sk_zrec_t *r = &s->rec[b->ix[i]];
		sk_put16(p, r->type);
		sk_put16(p + 2, SK_CLASS_IN);
		sk_put32(p + 4, ttl);
		sk_put16(p + 8, r->rdlen);
		memcpy(p + 10, sk_zrec_rdata(s, r), r->rdlen);
		p += 10 + r->rdlen;
	}
	*rs = (sk_rrset_t){ .type = first->type, .count = (uint16_t)(e - a), .ttl = ttl,
		.len = (uint32_t)(p - data), .data = data };
}

/* The records [a, e) of one owner: its node, its RRsets, the CNAME rules (RFC 1034 3.6.2,
 * RFC 2181 10.1; RRSIG and NSEC may sit beside a CNAME, RFC 4035 2.5). */
static int build_node(zbuild_t *b, size_t a, size_t e, size_t *used)
{
	const sk_zsrc_t *s = b->s;
	sk_zone_t *z = b->z;
	const sk_zrec_t *r0 = &s->rec[b->ix[a]], *cname = NULL, *other = NULL;
	size_t off = 0, first = (*used + 7) & ~(size_t)7, nsets = 1;
	sk_rrset_t *sets = (sk_rrset_t *)(void *)(z->payload + first);
	bool ns = false;
	char text[1024];
	int rc;

	if ((rc = add_node(b, sk_zrec_owner(s, r0), r0->owner_len, &off)) < 0)
		return rc;
	for (size_t i = a + 1; i < e; i++)
		nsets += s->rec[b->ix[i]].type != s->rec[b->ix[i - 1]].type;
	*used = first + nsets * sizeof *sets;
	nsets = 0;
	for (size_t i = a; i < e;) {
		size_t j = i + 1;
		const sk_zrec_t *r = &s->rec[b->ix[i]];
		while (j < e && s->rec[b->ix[j]].type == r->type)
			j++;
		if (j - i > UINT16_MAX) {
			zerror(b, r, SK_EZONE, "more than 65535 records in the RRset at %s",
				name_text(sk_zrec_owner(s, r), r->owner_len, text, sizeof text));
			return 0;
		}
		if (r->type == SK_TYPE_CNAME) {
			cname = r;
			if (j - i > 1)
				zerror(b, &s->rec[b->ix[i + 1]], SK_EZONE, "more than one CNAME at %s",
					name_text(sk_zrec_owner(s, r), r->owner_len, text, sizeof text));
		} else if (r->type != SK_TYPE_RRSIG && r->type != 47 /* NSEC */) {
			other = r;
		}
		ns |= r->type == SK_TYPE_NS;
		write_rrset(b, i, j, &sets[nsets], z->payload + *used);
		*used += sets[nsets++].len;
		i = j;
	}
	if (cname && other)
		zerror(b, cname, SK_EZONE, "CNAME and other data at %s",
			name_text(sk_zrec_owner(s, r0), r0->owner_len, text, sizeof text));

	sk_nameent_t *node = sk_nametab_ent(&z->nodes, off);
	node->value = (uint32_t)first;
	node->aux = (uint16_t)nsets;
	if (ns && !(node->flags & SK_NODE_APEX)) {
		if (node->flags & SK_NODE_WILDCARD)
			zerror(b, r0, SK_EZONE, "NS at the wildcard %s: not supported (RFC 4592 4.2)",
				name_text(sk_zrec_owner(s, r0), r0->owner_len, text, sizeof text));
		node->flags |= SK_NODE_DELEG;
	}
	return 0;
}

/* Flags that depend on other nodes: below a cut (occluded), parent of a wildcard. */
static void set_flags(sk_zone_t *z)
{
	sk_nametab_t *t = &z->nodes;
	uint8_t loff[SK_LABELS_MAX];
	uint64_t h[SK_LABELS_MAX];

	for (size_t off = 0; off < t->ents_len; off = sk_nametab_next(t, off)) {
		sk_nameent_t *e = sk_nametab_ent(t, off);
		int labels = sk_db_name_hashes(e->name, e->len, loff, h);
		for (int k = 1; k <= labels && e->len - loff[k] >= z->apex_len; k++) {
			sk_nameent_t *anc = (sk_nameent_t *)sk_nametab_find(t, e->name + loff[k],
				e->len - loff[k], h[k]);
			if (k == 1 && (e->flags & SK_NODE_WILDCARD))
				anc->flags |= SK_NODE_WILDCHILD;
			if (anc->flags & SK_NODE_DELEG)
				e->flags |= SK_NODE_OCCLUDED;
		}
	}
}

/* SOA-derived data: serial, and the negative-answer copy at min(TTL, MINIMUM) (RFC 2308 3, 5). */
static int build_soa(sk_zone_t *z)
{
	const uint8_t *rd = sk_rrset_rdata(z->soa);
	uint16_t rdlen = sk_get16(z->soa->data + 8);
	size_t i = 0;

	for (int n = 0; n < 2; n++) {     /* MNAME, RNAME */
		while (i < rdlen && rd[i])
			i += (size_t)rd[i] + 1;
		i++;
	}
	if (i + 20 != rdlen)
		return SK_EZONE;
	z->serial = sk_get32(rd + i);
	uint32_t minimum = sk_get32(rd + i + 16);
	if (!(z->neg_soa_data = malloc(z->soa->len)))
		return -ENOMEM;
	memcpy(z->neg_soa_data, z->soa->data, z->soa->len);
	z->neg_soa = *z->soa;
	z->neg_soa.ttl = minimum < z->soa->ttl ? minimum : z->soa->ttl;
	z->neg_soa.data = z->neg_soa_data;
	sk_put32(z->neg_soa_data + 4, z->neg_soa.ttl);
	return 0;
}

void sk_zone_release(sk_zone_t *z)
{
	sk_nametab_free(&z->nodes);
	free(z->payload);
	free(z->neg_soa_data);
	memset(z, 0, sizeof *z);
}

int sk_zone_compile(const sk_zsrc_t *s, const sk_zone_conf_t *zc, sk_zone_t *z)
{
	zbuild_t b = { .s = s, .z = z };
	size_t used = 0;
	const sk_nameent_t *apex;
	int rc;

	z->apex_len = s->apex_len;
	if ((rc = sort_records(&b)) < 0 || (rc = sk_nametab_init(&z->nodes)) < 0)
		goto fail;
	rc = -ENOMEM;
	if (b.payload > UINT32_MAX || !(z->payload = malloc(b.payload ? b.payload : 1)))
		goto fail;
	for (size_t a = 0; a < b.n;) {
		size_t e = a + 1;
		while (e < b.n && same_owner(s, &s->rec[b.ix[a]], &s->rec[b.ix[e]]))
			e++;
		if ((rc = build_node(&b, a, e, &used)) < 0)
			goto fail;
		a = e;
	}
	if (b.code) {
		rc = b.code;
		goto fail;
	}
	set_flags(z);
	if ((rc = sk_nametab_seal(&z->nodes)) < 0)
		goto fail;

	apex = sk_nametab_find(&z->nodes, s->apex, s->apex_len, sk_db_name_hash(s->apex, s->apex_len));
	z->apex_node = apex;
	z->apex = apex->name;
	for (size_t i = 0; s->apex[i]; i += (size_t)s->apex[i] + 1)
		z->apex_labels++;
	z->soa = sk_node_rrset(z, apex, SK_TYPE_SOA);
	z->ns = sk_node_rrset(z, apex, SK_TYPE_NS);
	if (!z->ns)
		sk_diag(1, s->files[0], 0, "no NS records at the zone apex");
	if ((rc = build_soa(z)) < 0) {
		if (rc == SK_EZONE)
			sk_diag(0, s->files[0], 0, "malformed SOA record");
		goto fail;
	}
	if (!(z->tags = sk_tagset_intern(zc->tags, zc->ntags))) {
		rc = -ENOMEM;
		goto fail;
	}
	free(b.ix);
	return 0;
fail:
	free(b.ix);
	sk_zone_release(z);
	return rc;
}

/* ---- the db ---- */

/* Load and compile zone `i`, and enter its apex (a second zone at the same apex is an error). */
static int add_zone(sk_db_t *db, const sk_conf_t *conf, size_t i)
{
	const sk_zone_conf_t *zc = &conf->zones[i];
	sk_zone_t *z = &db->zones[i];
	sk_zsrc_t src = { 0 };
	const sk_nameent_t *dup;
	uint64_t hash;
	size_t off;
	char text[1024];
	int rc;

	if ((rc = sk_zsrc_load(zc, conf->path, &src)) < 0 || (rc = sk_zone_compile(&src, zc, z)) < 0)
		goto fail;
	hash = sk_db_name_hash(z->apex, z->apex_len);
	if ((dup = sk_nametab_find(&db->apexes, z->apex, z->apex_len, hash))) {
		sk_diag(0, conf->path, zc->line, "zone %s is already defined on line %u",
			name_text(z->apex, z->apex_len, text, sizeof text), conf->zones[dup->value].line);
		rc = SK_EZONE;
		goto fail;
	}
	if ((rc = sk_nametab_add(&db->apexes, z->apex, z->apex_len, hash, &off)) < 0)
		goto fail;
	sk_nametab_ent(&db->apexes, off)->value = (uint32_t)i;
	if (z->apex_labels < db->min_labels)
		db->min_labels = z->apex_labels;
	if (z->apex_labels > db->max_labels)
		db->max_labels = z->apex_labels;
	sk_zsrc_free(&src);
	return 0;
fail:
	sk_zsrc_free(&src);
	sk_zone_release(z);
	return rc;
}

int sk_db_build(const sk_conf_t *conf, sk_db_t **out)
{
	sk_db_t *db = calloc(1, sizeof *db);
	int rc = -ENOMEM, first = 0;

	if (!db || sk_nametab_init(&db->apexes) < 0)
		goto fail;
	/* One more slot for the catalog, which lookup finds through the apex table like a zone. */
	if (!(db->zones = calloc(conf->nzones + 1, sizeof *db->zones)))
		goto fail;
	db->nzones = conf->nzones;
	db->min_labels = SK_LABELS_MAX;
	/* Go on after a bad zone so that one run reports the problems of every zone. */
	for (size_t i = 0; i < conf->nzones; i++) {
		rc = add_zone(db, conf, i);
		if (rc == -ENOMEM)
			goto fail;
		if (rc < 0 && first == 0)
			first = rc;
	}
	if ((rc = first) < 0 || (rc = sk_catalog_build(db, conf)) < 0 ||
	    (rc = sk_nametab_seal(&db->apexes)) < 0)
		goto fail;
	/* Lists after zones: a zone file's apex wins over the same domain in a list. */
	if ((rc = sk_seized_build(db, conf)) < 0)
		goto fail;
	sk_catalog_hash(db);
	*out = db;
	return 0;
fail:
	sk_db_free(db);
	return rc;
}

void sk_db_free(sk_db_t *db)
{
	if (!db)
		return;
	for (size_t i = 0; db->zones && i <= db->nzones; i++)
		sk_zone_release(&db->zones[i]);   /* [nzones]: the catalog, or zeroed */
	free(db->zones);
	sk_nametab_free(&db->apexes);
	sk_seized_free(db);
	free(db);
}

size_t sk_db_zone_count(const sk_db_t *db)
{
	return db->nzones;
}

const sk_zone_t *sk_db_zone(const sk_db_t *db, size_t i)
{
	return i < db->nzones ? &db->zones[i] : NULL;
}

size_t sk_db_list_count(const sk_db_t *db)
{
	return db->nlists;
}

const sk_db_list_stats_t *sk_db_list_stats(const sk_db_t *db, size_t i)
{
	return i < db->nlists ? &db->lists[i].st : NULL;
}

size_t sk_db_seized_count(const sk_db_t *db)
{
	return db->seized.count;
}

const uint8_t *sk_zone_apex(const sk_zone_t *zone)
{
	return zone->apex;
}

uint32_t sk_zone_serial(const sk_zone_t *zone)
{
	return zone->serial;
}

const sk_tag_t *sk_zone_tags(const sk_zone_t *zone, size_t *n)
{
	*n = zone->tags->n;
	return zone->tags->tags;
}

const sk_tagset_t *sk_zone_tagset(const sk_zone_t *zone)
{
	return zone->tags;
}
