/* agg.h -- what a report counts: one row per victim, seized domain and day, and the sums over them */
#ifndef RP_AGG_H
#define RP_AGG_H

#include <stdbool.h>
#include <stdint.h>

#include "intern.h"
#include "scan.h"

#define RP_NONE UINT32_MAX
#define RP_ALL_DAYS 0xFFFFu

/* A geolocation object, parsed once per distinct text. Strings are ids in rp_agg_t.strings
 * ("" when the object did not have the member). */
typedef struct rp_geo {
	uint32_t country, region, city, as_org;
	uint32_t asn;            /* 0: unknown */
	bool has_ll;
	float lat, lon;
} rp_geo_t;

/* The tags a report knows (strings ids, "" when absent). */
typedef struct rp_tags {
	uint32_t case_id, operation, family;
} rp_tags_t;

/*
 * The victim of a record is the ECS subnet when the query carried one (not /0), else the source
 * address (the resolver that asked: the victim, or the network it serves). Victim keys are
 * "a" + address or "s" + subnet. A row: one victim, one seized domain, one UTC day; its port,
 * geolocation and tags are those of its first query.
 */
typedef struct rp_row {
	uint32_t victim, domain, geo, tags;
	uint32_t count;
	uint16_t day, port;
	int64_t first, last;     /* microseconds since the epoch */
} rp_row_t;

typedef struct rp_day {
	char date[11];           /* YYYY-MM-DD */
	uint64_t records;        /* lines read for the day */
	uint64_t unmatched;      /* records without a zone (not a seized domain: REFUSED and such) */
} rp_day_t;

/* What sums are kept per (day, dimension, value). */
enum { RP_D_COUNTRY, RP_D_ASN, RP_D_DOMAIN, RP_D_CASE, RP_D_OPERATION, RP_D_FAMILY, RP_D_NETWORK, RP_D_N };

typedef struct rp_count {
	uint64_t queries;
	uint32_t addresses, subnets;   /* unique victims of each kind */
} rp_count_t;

typedef struct rp_cell {
	uint16_t day;            /* or RP_ALL_DAYS */
	uint8_t dim;
	uint32_t value;          /* a string id, an ASN, a domain id or a network id */
	rp_count_t c;
} rp_cell_t;

/* One victim over the whole period. */
typedef struct rp_victim {
	int64_t first, last;
	uint64_t queries;
	uint32_t days, domains;  /* distinct days and seized domains */
	uint32_t geo;            /* of its first row */
	uint32_t network;        /* id in rp_agg_t.networks: the /24 or /48 it is in */
} rp_victim_t;

typedef struct rp_agg {
	rp_intern_t *victims, *domains, *geo_text, *tag_text, *strings, *networks;
	rp_geo_t *geos;          /* by id of geo_text */
	rp_tags_t *tags;         /* by id of tag_text */
	uint32_t geos_cap, tags_cap;
	rp_row_t *rows;          /* while reading: an open-addressing table (count 0: empty) of
	                            rtab_mask + 1 rows; rp_agg_finish packs them into nrows */
	uint32_t nrows, rows_cap;
	uint64_t rtab_mask;
	rp_day_t *days;
	uint32_t ndays, last_day;
	uint64_t records, malformed, unmatched;
	int64_t first, last;

	/* After rp_agg_finish: */
	rp_cell_t *cells;        /* every (day, dim, value) seen, days in date order */
	uint64_t ncells;
	rp_count_t *day_victims; /* per day index, then [ndays] = all days: queries, addresses, subnets */
	rp_victim_t *vict;       /* per victim id */
	uint32_t *day_order;     /* day indexes in date order */
	uint32_t *day_rank;      /* day index -> position in date order */
} rp_agg_t;

int rp_agg_init(rp_agg_t *a);
void rp_agg_free(rp_agg_t *a);

#define RP_KEY_MAX 150      /* longest address or subnet text taken as a victim */

/* A record made ready for counting: everything that needs no shared state (the time, the victim's
 * kind, the hashes of the texts to intern). */
typedef struct rp_item {
	rp_rec_t r;
	int64_t us;
	bool subnet;
	rp_slice_t who, geo;     /* the victim's text and geolocation object */
	uint64_t hv, hz, hg, ht; /* hashes: victim, zone, geolocation, tags */
} rp_item_t;

/* Prepare one record; a pure function, safe on any thread. Returns 0, or -EINVAL for a record
 * that cannot be counted (no readable time or source: counted as malformed). */
int rp_agg_prepare(const rp_rec_t *r, rp_item_t *it);

/* Count a prepared record. Returns 0 or -ENOMEM. */
int rp_agg_add_item(rp_agg_t *a, const rp_item_t *it);

/* Both: returns 0, -EINVAL (malformed) or -ENOMEM. */
int rp_agg_add(rp_agg_t *a, const rp_rec_t *r);

/* Pack the row table into rows[0..nrows) (rp_agg_finish calls it). */
int rp_agg_pack(rp_agg_t *a);

/* Sum rows into cells, days and victims. Returns 0 or -ENOMEM. */
int rp_agg_finish(rp_agg_t *a);

/* Text of a string id, a domain, a victim key (without its kind letter), a network. */
const char *rp_str(const rp_agg_t *a, uint32_t id);
static inline char rp_victim_kind(const rp_agg_t *a, uint32_t v)
{
	return rp_intern_str(a->victims, v, NULL)[0];
}
static inline const char *rp_victim_text(const rp_agg_t *a, uint32_t v)
{
	return rp_intern_str(a->victims, v, NULL) + 1;
}

#endif
