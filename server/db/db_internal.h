/* db_internal.h -- what zone.c, db.c and lookup.c share: parsed records, the name table, the zone */
#ifndef SK_DB_INTERNAL_H
#define SK_DB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "db/db.h"
#include "util/tagset.h"
#include "dns/wire.h"

/* ---------------------------------------------------------------------------------------------
 * Zone source: the records of one zone file (and its $INCLUDEs) as zone.c parsed them, before
 * they are compiled. Build-time only.
 */

/* One resource record. Owner and RDATA live in the source's arena: owner (lowercased wire) at
 * `off`, RDATA (uncompressed, domain names lowercased) right after it. */
typedef struct sk_zrec {
	uint32_t off;
	uint32_t ttl;
	uint32_t line;       /* first line of the record in files[file] */
	uint16_t type;
	uint16_t rdlen;
	uint16_t file;       /* index into sk_zsrc_t.files */
	uint8_t owner_len;
} sk_zrec_t;

typedef struct sk_zsrc {
	sk_zrec_t *rec;
	size_t nrec, caprec;
	uint8_t *arena;
	size_t arena_len, arena_cap;
	char **files;        /* the zone file first, then each $INCLUDEd file, for diagnostics */
	size_t nfiles;
	uint8_t apex[SK_NAME_MAX];
	uint8_t apex_len;
} sk_zsrc_t;

static inline const uint8_t *sk_zrec_owner(const sk_zsrc_t *s, const sk_zrec_t *r) { return s->arena + r->off; }
static inline const uint8_t *sk_zrec_rdata(const sk_zsrc_t *s, const sk_zrec_t *r) { return s->arena + r->off + r->owner_len; }

/*
 * Parse the zone file of `zc` (following $INCLUDE) into `out`, which the caller zeroed. Applies
 * the per-record rules: class IN only, one SOA at the apex, records outside the zone skipped with
 * a warning. Each problem goes to sk_diag() with the file and line it is on. Returns 0, or
 * SK_EPARSE / SK_EZONE / -ENOMEM / -errno; on failure `out` may hold partial data: free it with
 * sk_zsrc_free() in both cases.
 */
int sk_zsrc_load(const sk_zone_conf_t *zc, const char *conf_path, sk_zsrc_t *out);

/*
 * A seized list's template is read as a zone whose origin is this name, so that "@", "www" and "*"
 * land under it; its records are then moved to the root (seized.c). A name in RDATA that ends up
 * under it was written relative, which a template cannot have: the load fails naming it.
 */
#define SK_TEMPLATE_ORIGIN "seized-domain.invalid."

/* sk_zsrc_load() for a template file (`conf_line`: the list's entry in the config). */
int sk_zsrc_load_template(const char *file, const char *conf_path, unsigned conf_line, sk_zsrc_t *out);

/* Append one record made by the server itself (the catalog): lowercased wire owner and RDATA,
 * line 0 of files[0]. Returns 0, -EINVAL or -ENOMEM. */
int sk_zsrc_add(sk_zsrc_t *s, const uint8_t *owner, size_t olen, uint16_t type, uint32_t ttl,
	const uint8_t *rdata, size_t rdlen);

/* Free what a source holds (not the struct itself). Accepts a zeroed source. */
void sk_zsrc_free(sk_zsrc_t *src);

/* ---------------------------------------------------------------------------------------------
 * Name hashing. A name's hash folds its labels from the root outwards, so one right-to-left pass
 * over a query name yields the hash of every suffix (each candidate zone apex, each ancestor on the
 * way down to the name), and "*.<suffix>" costs one more label. A label (its length byte and
 * its bytes) is folded eight bytes at a time, each word xored in, multiplied by an odd constant
 * and its high bits folded down: two multiplications for a typical label where FNV-1a, byte by
 * byte, made a chain of ten (a name's hashes were 15% of answering an NXDOMAIN in respond_bench).
 * sk_hash_fin() mixes the result before it picks a slot; a table compares the names themselves,
 * so the hash only spreads them.
 */
#define SK_HASH_INIT 0xcbf29ce484222325ULL
#define SK_HASH_MUL 0x9e3779b97f4a7c15ULL

static inline uint64_t sk_hash_word(uint64_t h, uint64_t w)
{
	h = (h ^ w) * SK_HASH_MUL;
	return h ^ (h >> 29);
}

static inline uint64_t sk_hash_label(uint64_t h, const uint8_t *label)
{
	size_t n = (size_t)label[0] + 1u;
	const uint8_t *p = label;
	for (; n >= 8; n -= 8, p += 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = sk_hash_word(h, w);
	}
	if (n) {
		uint64_t w = 0;
		for (size_t i = 0; i < n; i++)
			w |= (uint64_t)p[i] << (8 * i);
		h = sk_hash_word(h, w);
	}
	return h;
}

/* The murmur3 64-bit finaliser: every input bit affects the low (slot) and high (tag) bits. */
static inline uint64_t sk_hash_fin(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/*
 * Split a wire name of `len` bytes into labels and hash every suffix: off[k] is where the suffix
 * with k labels removed starts and h[k] its hash, for k = 0..labels (k == labels is the root).
 * `off` and `h` hold SK_LABELS_MAX entries. Returns the label count (root not counted), or -1
 * when the bytes are not exactly one valid uncompressed name.
 */
int sk_db_name_hashes(const uint8_t *name, size_t len, uint8_t *off, uint64_t *h);

/* The hash of one valid name (build time). */
uint64_t sk_db_name_hash(const uint8_t *name, size_t len);

/* ---------------------------------------------------------------------------------------------
 * Name table: open addressing with linear probing over 64-bit slots (high half: a hash tag that
 * spares most entry reads; low half: entry offset / 8 + 1, 0 meaning empty). Entries sit back to
 * back in one block, header and name together so that a hit costs one more cache line. The
 * zones' node tables and the db's apex table are both name tables; a seized-names table can be
 * one too, putting its own meaning in value/aux/flags.
 */
typedef struct sk_nameent {
	uint32_t value;      /* node: offset of its RRsets in the zone's payload; apex table: zone index */
	uint16_t aux;        /* node: number of RRsets */
	uint8_t flags;       /* node: SK_NODE_* */
	uint8_t len;         /* wire length of name */
	uint8_t name[];      /* lowercased wire name; the entry is padded to 8 bytes */
} sk_nameent_t;

_Static_assert(sizeof(sk_nameent_t) == 8, "name entry header is 8 bytes");

typedef struct sk_nametab {
	uint64_t *slots;     /* mask + 1 slots, a power of two, at most half full once sealed */
	uint8_t *ents;       /* entries, 8-byte aligned */
	size_t ents_len, ents_cap;
	uint32_t mask;
	uint32_t count;
} sk_nametab_t;

/* Node flags */
#define SK_NODE_APEX      0x01
#define SK_NODE_DELEG     0x02  /* NS below the apex: a zone cut */
#define SK_NODE_OCCLUDED  0x04  /* strictly below a zone cut: glue or occluded data */
#define SK_NODE_WILDCHILD 0x08  /* "*.<this name>" exists */
#define SK_NODE_WILDCARD  0x10  /* the first label is "*" */

static inline const sk_nameent_t *sk_nametab_at(const sk_nametab_t *t, uint64_t slot)
{
	return (const sk_nameent_t *)(const void *)(t->ents + ((slot & 0xffffffffu) - 1) * 8);
}

/* Find `name` (`len` bytes, lowercased) whose sk_db_name_hashes() hash is `hash`; NULL if absent. */
static inline const sk_nameent_t *sk_nametab_find(const sk_nametab_t *t, const uint8_t *name,
	size_t len, uint64_t hash)
{
	uint64_t h = sk_hash_fin(hash);
	uint32_t tag = (uint32_t)(h >> 32);
	for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
		uint64_t s = t->slots[i];
		if (s == 0)
			return NULL;
		if ((uint32_t)(s >> 32) != tag)
			continue;
		const sk_nameent_t *e = sk_nametab_at(t, s);
		if (e->len == len && memcmp(e->name, name, len) == 0)
			return e;
	}
}

/* Build-time API (db.c). An empty table from init() finds nothing. */
int sk_nametab_init(sk_nametab_t *t);
/* Add a name that is not in the table yet; stores the new entry's offset in *off (entries move
 * while the table grows, offsets do not). Returns 0 or -ENOMEM. */
int sk_nametab_add(sk_nametab_t *t, const uint8_t *name, size_t len, uint64_t hash, size_t *off);
/* Shrink to the final size (at most half full); the table is read-only afterwards. */
int sk_nametab_seal(sk_nametab_t *t);
void sk_nametab_free(sk_nametab_t *t);

static inline sk_nameent_t *sk_nametab_ent(sk_nametab_t *t, size_t off)
{
	return (sk_nameent_t *)(void *)(t->ents + off);
}

/* Offset of the entry after the one at `off` (iteration in insertion order). */
static inline size_t sk_nametab_next(const sk_nametab_t *t, size_t off)
{
	const sk_nameent_t *e = (const sk_nameent_t *)(const void *)(t->ents + off);
	return off + ((sizeof(sk_nameent_t) + e->len + 7) & ~(size_t)7);
}

/* ---------------------------------------------------------------------------------------------
 * Compiled zone and db.
 */
struct sk_zone {
	sk_nametab_t nodes;        /* every owner name and empty non-terminal */
	uint8_t *payload;          /* per node: its RRset headers sorted by type, then their records,
	                              so that answering one name touches one or two cache lines */
	const sk_rrset_t *soa;
	const sk_rrset_t *ns;      /* apex NS; NULL when there is none (warned at load) */
	sk_rrset_t neg_soa;        /* the SOA at TTL min(SOA TTL, MINIMUM), for NXDOMAIN/NODATA */
	uint8_t *neg_soa_data;
	const sk_nameent_t *apex_node;
	const uint8_t *apex;       /* apex_node->name */
	uint8_t apex_len;
	uint8_t apex_labels;
	uint32_t serial;
	const sk_tagset_t *tags;   /* interned: outlives the zone, so telemetry events may keep it */
};

/* One seized list: its template compiled with the root as apex, so that a seized domain's names
 * map onto the template by swapping the domain for the root (lookup.c), and what loading found. */
typedef struct sk_slist {
	sk_zone_t tmpl;            /* tmpl.tags: the list's tags */
	sk_db_list_stats_t st;     /* st.list / st.template point at the two strings below */
	char *list, *template;
} sk_slist_t;

struct sk_db {
	sk_zone_t *zones;          /* nzones from the config, then the catalog when there is one */
	size_t nzones;
	sk_nametab_t apexes;       /* value: index into zones */
	uint8_t min_labels, max_labels;  /* of the apexes: bounds the suffixes worth probing */
	sk_slist_t *lists;
	size_t nlists;
	sk_nametab_t seized;       /* every seized domain; value: its line, aux: index into lists */
	uint8_t seized_min_labels, seized_max_labels;
	sk_zone_t *catalog;        /* &zones[nzones] (catalog.c), or NULL when none is served */
	bool catalog_zones;        /* its members include the zone files, not only seized domains */
	uint64_t catalog_hash;     /* of its member set: a reload that keeps it keeps the serial */
	size_t catalog_members;
};

/* The catalog zone (catalog.c): SOA, NS invalid. and version TXT "2" compiled as a zone at
 * &db->zones[db->nzones] with its apex in db->apexes; the members are walked, not stored.
 * Called after the zones and before the lists (a listed domain that is the catalog's name is
 * shadowed like a zone apex). Problems go to sk_diag(). */
int sk_catalog_build(sk_db_t *db, const sk_conf_t *conf);

/* Hash the member set into db->catalog_hash (after the lists are loaded). */
void sk_catalog_hash(sk_db_t *db);

/* The catalog member whose id (sk_db_name_hash of its name) is `id`: a zone apex (when the
 * catalog lists zones) or a seized domain. Stores its lowercased wire name; false when none. */
bool sk_catalog_member(const sk_db_t *db, uint64_t id, const uint8_t **name, size_t *len);

/* True when apex-table entry `e` is the catalog rather than a zone file. */
static inline bool sk_db_is_catalog(const sk_db_t *db, const sk_nameent_t *e)
{
	return db->catalog && e->value == db->nzones;
}

/* Compile a parsed zone into *z (zeroed by the caller), tags from zc; on failure *z is freed and
 * zeroed (db.c). */
int sk_zone_compile(const sk_zsrc_t *s, const sk_zone_conf_t *zc, sk_zone_t *z);

/* Free what a compiled zone holds and zero it. */
void sk_zone_release(sk_zone_t *z);

/* Load every seized list of conf into db, whose zones are built (seized.c). Problems go to
 * sk_diag(); returns 0 or the first error's code. */
int sk_seized_build(sk_db_t *db, const sk_conf_t *conf);

/* Free the lists and their table (not db itself). */
void sk_seized_free(sk_db_t *db);

/* Size an empty table for `count` names taking `bytes` of entries at most, so that adding them
 * moves nothing and sealing rehashes nothing. Returns 0 or -ENOMEM. */
int sk_nametab_reserve(sk_nametab_t *t, size_t count, size_t bytes);

/* The node's RRsets: node->aux of them, sorted by type. */
static inline const sk_rrset_t *sk_node_rrsets(const sk_zone_t *z, const sk_nameent_t *node)
{
	return (const sk_rrset_t *)(const void *)(z->payload + node->value);
}

/* The node's RRset of `type`, or NULL. */
static inline const sk_rrset_t *sk_node_rrset(const sk_zone_t *z, const sk_nameent_t *node,
	uint16_t type)
{
	const sk_rrset_t *rs = sk_node_rrsets(z, node);
	for (unsigned i = 0; i < node->aux; i++)
		if (rs[i].type == type)
			return &rs[i];
	return NULL;
}

/* RDATA of the first record of a set, and its length. */
static inline const uint8_t *sk_rrset_rdata(const sk_rrset_t *rs) { return rs->data + 10; }

#endif
