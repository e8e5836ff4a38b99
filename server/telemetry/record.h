/* record.h -- turning an event into the record every sink receives; internal to telemetry */
#ifndef SK_RECORD_H
#define SK_RECORD_H

#include <netinet/in.h>

#include "telemetry/sink.h"

/* Longest presentation form of a 255-byte wire name: every byte as \DDD, dots, a NUL. */
#define SK_NAME_TEXT_MAX 1024

/* A record and the storage its strings point into. One per telemetry thread, reused. */
typedef struct sk_recbuf {
	sk_record_t rec;
	sk_geo_info_t geo, ecs_geo;
	char qname[SK_NAME_TEXT_MAX];
	char zone[SK_NAME_TEXT_MAX];
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	char ecs[INET6_ADDRSTRLEN + 4];
} sk_recbuf_t;

/*
 * Fill b->rec for `ev`: the text forms, and the geolocation of the source address and of the
 * ECS subnet when `geo` is not NULL (through `cache`, which may be NULL). Never allocates.
 */
void sk_record_build(sk_recbuf_t *b, const sk_event_t *ev, const char *node, uint64_t seq,
	const sk_geo_t *geo, sk_geo_cache_t *cache);

#endif
