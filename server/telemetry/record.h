/* record.h -- turning an event into the record every sink receives; internal to telemetry */
#ifndef SK_RECORD_H
#define SK_RECORD_H

#include <netinet/in.h>

#include "dns/name.h"
#include "dns/wire.h"
#include "telemetry/geojson.h"
#include "telemetry/sink.h"


/* A record and the storage its strings point into. One per telemetry thread, reused; start it
 * zeroed. */
typedef struct sk_recbuf {
	sk_record_t rec;
	sk_geo_info_t geo, ecs_geo;
	char geo_json[SK_GEOJSON_MAX], ecs_geo_json[SK_GEOJSON_MAX]; /* when the cache cannot keep it */
	char qname[SK_NAME_TEXT_MAX];
	char zone[SK_NAME_TEXT_MAX];
	char zone_json[2 * SK_NAME_TEXT_MAX + 3]; /* zone quoted and escaped; zone_json_len 0: none */
	size_t zone_json_len;
	uint8_t zone_wire[SK_NAME_MAX]; /* the apex `zone` is the text of, lowercased; 0 bytes: none */
	size_t zone_wire_len;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	uint8_t dst_addr[16];   /* the address `dst` is the text of (our own: nearly always the same) */
	uint8_t dst_family;     /* its event family, 4 or 6; 0: `dst` holds nothing yet */
	size_t dst_len;
	char ecs[INET6_ADDRSTRLEN + 4];
	char rid_prefix[SK_RECORD_NODE_ID_MAX + 24];
	char node_json[1024];   /* the node, quoted and escaped, when it fits */
	bool no_texts;          /* leave rec.qname, src and dst NULL: no sink reads them */
} sk_recbuf_t;

/* Annex size to ask of the geo cache passed to sk_record_build(): room for the JSON text of most
 * results (a length and the text); a longer one is rendered again for each record. */
#define SK_RECORD_GEO_ANNEX 320

/*
 * Fill b->rec for `ev`: the text forms (but the query name and the addresses when b->no_texts), and the geolocation of the source address and of the
 * ECS subnet when `geo` is not NULL, as JSON rendered once per entry of `cache` (which may be
 * NULL, or have an annex of SK_RECORD_GEO_ANNEX bytes or none). Never allocates.
 */
void sk_record_build(sk_recbuf_t *b, const sk_event_t *ev, const char *node, uint64_t seq,
	const sk_geo_t *geo, sk_geo_cache_t *cache);

/*
 * Set the id prefix every record built into `b` from now on carries (rec.rid_prefix):
 * "<node>:<run>" (and rec.node_json: `node` as a quoted JSON string), where <node> is `node` with every byte other than a letter, a digit, '.', '_'
 * or '-' replaced by '_' (cut to SK_RECORD_NODE_ID_MAX bytes), and <run> is `run` in decimal (the
 * telemetry start time in microseconds: a restart starts a new series of seq). Call at start and
 * when the node name changes. Never allocates.
 */
void sk_record_set_id(sk_recbuf_t *b, const char *node, uint64_t run);

#endif
