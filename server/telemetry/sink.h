/* sink.h -- what every telemetry sink provides; sinks are rows of a static table, not plugins */
#ifndef SK_SINK_H
#define SK_SINK_H

#include <stdbool.h>
#include <stdint.h>

#include "geo/geo.h"
#include "telemetry/event.h"

/* The node part of a record id is cut to this many bytes. */
#define SK_RECORD_NODE_ID_MAX 128

/*
 * A record as sinks receive it: the worker's event plus what the telemetry thread added. Valid
 * for the duration of one emit call.
 */
typedef struct sk_record {
	const sk_event_t *ev;
	const char *node;              /* server identity */
	uint64_t seq;                  /* record number since start, per node (gaps = drops) */
	/* "<node>:<run>" (see sk_record_set_id): with ":<seq>" appended, the record's id, unique
	 * across restarts and nodes; NULL: the record has no id (unit tests). Header- and
	 * JSON-safe: letters, digits, '.', '_', '-' and the one ':'. */
	const char *rid_prefix;
	size_t rid_prefix_len;         /* its length; 0: not known (strlen it) */
	const char *node_json;         /* node as a quoted JSON string, made once per identity;
	                                  NULL: not made (escape node) */
	size_t node_json_len;
	uint64_t node_gen;             /* changes whenever node does (sk_record_set_id): a sink that
	                                  derives something from node compares this, not the text */
	/* Geolocation as a JSON object text (telemetry/geojson.h), not NUL-terminated: */
	const char *geo;               /* of the source address; NULL when geolocation is off */
	const char *ecs_geo;           /* of the ECS subnet; NULL when there is no ECS or no geolocation */
	uint16_t geo_len, ecs_geo_len;
	/* Text forms the telemetry thread computed once for all sinks: */
	const char *qname;             /* presentation form, trailing dot, escapes; qname, src and
	                                  dst are NULL when no sink reads them (sk_sink_ops_t.texts) */
	size_t qname_len;              /* its length */
	bool qname_plain;              /* it needs no JSON escaping: printable ASCII, no '"' or '\'
	                                  (false: not known, escape it) */
	const char *zone;              /* the zone apex, presentation form, or NULL */
	const char *zone_json;         /* zone as a quoted JSON string, made when the zone changes;
	                                  NULL: not made (escape zone) */
	size_t zone_json_len;
	const char *src, *dst;         /* addresses as text */
	size_t src_len, dst_len;       /* their lengths; 0: not known (strlen them) */
	const char *ecs;               /* "a.b.c.d/len" or "x::/len", or NULL */
} sk_record_t;

/* Per-sink counters, read by the stats reporter (summed only by the reader). */
typedef struct sk_sink_stats {
	uint64_t written;    /* records accepted by the sink's destination */
	uint64_t failed;     /* records lost to a sink error (full disk, reader gone) */
	uint64_t reconnects; /* times the destination was lost and then opened again */
	uint64_t spooled;    /* records written to a local spool while the destination was away */
	uint64_t replayed;   /* records read back from the spool and sent again */
	uint64_t in_spool;   /* records in the spool now, not yet sent again (a gauge, not a counter) */
} sk_sink_stats_t;

/*
 * One kind of sink. The telemetry thread is the only caller of every function, so a sink needs
 * no locks. `emit` must never block for long: a sink that cannot write counts the record as
 * failed and retries its destination on a later `flush` (called at least every flush interval).
 */
typedef struct sk_sink_ops {
	const char *name;                                   /* "jsonl", "dnstap", "nats" */
	bool spools;                                        /* has the spooled/replayed counters */
	bool texts;                                         /* reads rec->qname, src and dst */
	int (*open)(void **state, const void *conf);        /* conf: the sink's own config struct */
	int (*emit)(void *state, const sk_record_t *rec);   /* 0, or negative when the record was lost */
	int (*flush)(void *state);                          /* write buffered data; retry a lost destination */
	int (*reopen)(void *state);                         /* SIGUSR1: reopen files (logrotate) */
	void (*close)(void *state, sk_sink_stats_t *final); /* flush everything, store the final counters
	                                                       in *final (may be NULL), free; accepts NULL */
	void (*stats)(void *state, sk_sink_stats_t *out);
} sk_sink_ops_t;

#endif
