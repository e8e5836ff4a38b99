/* db.h -- the compiled zone data: an immutable set of zones in wire format, and lookup */
#ifndef SK_DB_H
#define SK_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "util/tagset.h"

/*
 * An RRset as the answer builder copies it. `data` holds `count` records back to back, each
 *   TYPE(2) CLASS(2) TTL(4) RDLENGTH(2) RDATA
 * in network byte order: exactly the bytes that follow an owner name in a message. Names inside
 * RDATA are uncompressed; the builder may compress them for the RFC 1035 types (RFC 3597 s4).
 * All records of a set carry the same TTL (the smallest found in the zone file).
 */
typedef struct sk_rrset {
	uint16_t type;
	uint16_t count;
	uint32_t ttl;
	uint32_t len;
	const uint8_t *data;
} sk_rrset_t;

#define SK_NAME_MAX_DB 255     /* a wire name, root label included (dns/wire.h's SK_NAME_MAX) */

typedef struct sk_zone sk_zone_t;   /* one zone of a db; lives as long as its db */
typedef struct sk_db sk_db_t;       /* every zone of one config; immutable once built */

typedef enum { SK_SECTION_ANSWER = 0, SK_SECTION_AUTHORITY = 1, SK_SECTION_ADDITIONAL = 2 } sk_section_t;

/* rr_ref flags */
#define SK_RR_REQUIRED 0x01   /* additional data that must fit or the reply is truncated (in-domain glue, RFC 9471) */

/* One RRset to write, with its owner. */
typedef struct sk_rr_ref {
	const sk_rrset_t *rrset;
	const uint8_t *owner;   /* lowercased wire owner kept in the db, or NULL: the owner is the query
	                           name from byte `qoff` on (the query name itself when qoff == 0) */
	uint8_t qoff;
	uint8_t section;        /* sk_section_t */
	uint8_t flags;          /* SK_RR_* */
} sk_rr_ref_t;

#define SK_PLAN_MAX 48

/* What to answer: filled by sk_db_lookup(), written by the answer builder. */
typedef struct sk_plan {
	uint8_t rcode;               /* SK_RCODE_NOERROR, SK_RCODE_NXDOMAIN or SK_RCODE_REFUSED */
	bool aa;                     /* authoritative answer; clear on referrals and REFUSED */
	const sk_zone_t *zone;       /* the zone the query name falls in (for a seized domain, its
	                                list's template); NULL when REFUSED */
	uint8_t apex_off;            /* where that zone's apex, or the seized domain, starts in the
	                                query name; meaningful when zone is set */
	const sk_tagset_t *tags;     /* that zone's or list's tags (interned); NULL when REFUSED */
	uint8_t wild_off;            /* the query name's answer came from a wildcard: where its
	                                closest encloser starts in the query name; 0 otherwise
	                                (rate limiting counts all names a wildcard answers as one) */
	uint8_t n;
	sk_rr_ref_t rr[SK_PLAN_MAX]; /* answer refs first, then authority, then additional */
	sk_rrset_t synth;            /* an RRset made by the lookup, not stored (a catalog member's
	                                PTR); refs may point here while the plan lives */
	uint8_t synth_data[10 + SK_NAME_MAX_DB];
} sk_plan_t;

/*
 * Compile every zone named in `conf` (zone files through ldns), then every seized list with its
 * template (seized.c), into a new db. Every problem is reported with sk_diag() as
 * "file:line: message"; any error fails the whole build, so a caller keeps serving what it had.
 * Each list's counts are logged (sk_info). Returns 0 and stores the db in *out, or a negative code (SK_EPARSE,
 * SK_EZONE, -ENOMEM, -errno) with nothing allocated. `conf` is only read; the db keeps no pointer
 * into it (tags are copied).
 */
int sk_db_build(const sk_conf_t *conf, sk_db_t **out);

/* Free a db and all it holds. Accepts NULL. */
void sk_db_free(sk_db_t *db);

/*
 * Find the answer for a query name (lowercased, uncompressed wire, `qname_len` bytes) and type in
 * class IN, following RFC 1034 4.3.2: longest-suffix zone, delegations (referral with glue, AA clear;
 * DS at a cut answered from the parent), exact match, CNAME followed inside our zones (at most 8
 * steps), wildcards by the closest-encloser rule (RFC 4592), empty non-terminals as NODATA, NXDOMAIN
 * and NODATA with the zone's SOA in authority at TTL min(SOA TTL, MINIMUM) (RFC 2308). ANY gets one
 * RRset (RFC 8482). Additional data: A/AAAA of in-zone NS, MX and SRV targets. No zone: REFUSED.
 * A name under a seized domain is answered from its list's template as if the domain were that
 * template's apex, when no zone file has a longer (or the same) apex above the name.
 * Never allocates, never blocks; safe from any number of threads at once.
 */
void sk_db_lookup(const sk_db_t *db, const uint8_t *qname, size_t qname_len, uint16_t qtype,
	sk_plan_t *plan);

/* What loading one seized list found (sinkhole-check prints these; the loader logs them). */
typedef struct sk_db_list_stats {
	const char *list;            /* the list file, as configured */
	const char *template;        /* its template file */
	size_t domains;              /* domains this list answers for */
	size_t invalid;              /* lines skipped: not a domain name */
	size_t duplicates;           /* already listed, earlier in this list or in an earlier one */
	size_t shadowed;             /* the apex of a zone file too: the zone file answers */
} sk_db_list_stats_t;

/* Number of seized lists, and what loading list `i` found (i < sk_db_list_count()). */
size_t sk_db_list_count(const sk_db_t *db);
const sk_db_list_stats_t *sk_db_list_stats(const sk_db_t *db, size_t i);

/* Number of seized domains answered, all lists together. */
size_t sk_db_seized_count(const sk_db_t *db);

/* Number of zones in the db, and zone `i` (i < sk_db_zone_count(), in config order). */
size_t sk_db_zone_count(const sk_db_t *db);
const sk_zone_t *sk_db_zone(const sk_db_t *db, size_t i);

/* The zone's apex, lowercased wire format. */
const uint8_t *sk_zone_apex(const sk_zone_t *zone);

/* The zone's SOA serial (for logs). */
uint32_t sk_zone_serial(const sk_zone_t *zone);

/* The zone's tags from the config, in order; *n receives their number. */
const sk_tag_t *sk_zone_tags(const sk_zone_t *zone, size_t *n);

/* The zone's tags, interned (util/tagset.h): valid until exit, so an event may carry it. */
const sk_tagset_t *sk_zone_tagset(const sk_zone_t *zone);

/* dbinfo.c: what a db holds, for the control socket and /metrics (never on the query path). */

/* Owner names that hold records, and records, in the zone (a seized list's template too). */
void sk_zone_counts(const sk_zone_t *zone, size_t *names, size_t *records);

/* Seized list `i`'s tags, interned; NULL when i is out of range. */
const sk_tagset_t *sk_db_list_tagset(const sk_db_t *db, size_t i);

/* Bytes the compiled data takes: tables, wire-format records (not the allocator's overhead). */
size_t sk_db_bytes(const sk_db_t *db);

/*
 * The records of a DNS message (`len` bytes of wire format, as sk_respond wrote it) in
 * presentation format, one per line: "answer\t<rr>", "authority\t<rr>", "additional\t<rr>"
 * (the OPT record is not among them). Stores a new NUL-terminated string in *out (free it).
 * Returns 0, -EINVAL when the bytes are not a message, or -ENOMEM. Uses ldns: control socket only.
 */
int sk_db_msg_text(const uint8_t *msg, size_t len, char **out);
/* The zone's SOA RRset (one record, owned by the apex). */
const sk_rrset_t *sk_zone_soa(const sk_zone_t *zone);

/* ---------------------------------------------------------------------------------------------
 * Zone transfers: everything a name's AXFR sends, one RRset at a time (walk.c).
 */
typedef enum {
	SK_WALK_NONE = 0,      /* nothing to transfer at this name */
	SK_WALK_ZONE,          /* a zone file's apex */
	SK_WALK_SEIZED,        /* a seized domain: its list's template, every owner moved under it */
	SK_WALK_CATALOG,       /* the catalog: its apex records, then one PTR per member */
} sk_walk_kind_t;

/* Where a walk is. Lives in the caller's memory (a transfer's state); the fields are db/'s. */
typedef struct sk_db_walk {
	const sk_db_t *db;
	const sk_zone_t *zone;          /* the zone, the template, or the catalog */
	sk_walk_kind_t kind;
	uint8_t origin[SK_NAME_MAX_DB]; /* the transferred name: the seized domain owners end in */
	uint8_t origin_len;
	size_t off;                     /* next node entry of zone->nodes */
	unsigned set;                   /* next RRset of that node */
	size_t member;                  /* catalog: zone index, then (past nzones) seized entry offset */
	size_t member_off;
	uint8_t owner[SK_NAME_MAX_DB];  /* the owner of the RRset last returned, when made here */
	sk_rrset_t ptr;                 /* the member PTR last returned */
	uint8_t ptr_data[10 + SK_NAME_MAX_DB];
} sk_db_walk_t;

/*
 * Start a walk for the transfer of `name` (lowercased wire, `len` bytes): a zone file's apex, the
 * catalog, or (when `seized`) a seized domain. Returns what it found, SK_WALK_NONE when nothing.
 * The walk points into `db`: the caller keeps the snapshot alive (sk_snapshot_hold) while it runs.
 */
sk_walk_kind_t sk_db_walk_init(const sk_db_t *db, const uint8_t *name, size_t len, bool seized,
	sk_db_walk_t *w);

/*
 * The next RRset to send, every one but the apex SOA (which a transfer sends first and last:
 * sk_zone_soa(w->zone), owned by the transferred name), with its owner (lowercased wire) in
 * *owner; NULL once all were returned. Names a seized domain's template puts over 255 bytes are
 * left out (lookup cannot reach them either). Never allocates.
 */
const sk_rrset_t *sk_db_walk_next(sk_db_walk_t *w, const uint8_t **owner);

/*
 * The catalog's serial in `db`, which is about to replace `prev` (NULL: the first load): prev's
 * serial when the member set did not change, otherwise `now` (seconds since the epoch), or prev's
 * serial + 1 when `now` is not newer by RFC 1982 (several changes in one second). Written into
 * the catalog's SOA; the db must not be published yet. Returns it (0 without a catalog).
 */
uint32_t sk_db_catalog_serial(sk_db_t *db, const sk_db_t *prev, uint32_t now);

/* The catalog zone of the db, or NULL; and the number of its members. */
const sk_zone_t *sk_db_catalog(const sk_db_t *db);
size_t sk_db_catalog_members(const sk_db_t *db);

/* The zone of `db` whose apex is `apex` (lowercased wire), the catalog included; NULL if none. */
const sk_zone_t *sk_db_find_zone(const sk_db_t *db, const uint8_t *apex, size_t len);

#endif
