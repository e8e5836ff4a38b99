/* telemetry.h -- recording every query: events from the workers, one thread that enriches and writes */
#ifndef SK_TELEMETRY_H
#define SK_TELEMETRY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "dns/respond.h"
#include "telemetry/event.h"
#include "telemetry/ring.h"

/*
 * How the pieces fit:
 *
 *   worker w:   ev = sk_ring_reserve(sk_telemetry_ring(t, w));    NULL: full, the drop is counted
 *               if (ev) { sk_event_fill(ev, ...); sk_ring_commit(ring); }
 *   telemetry thread (started here): drains every ring in turn, looks up the source address and
 *               the ECS subnet in the geo databases (with a cache), builds one sk_record_t per event
 *               and gives it to every configured sink (telemetry/sink.h); flushes the sinks every
 *               flush_ms and logs the counters every stats_interval_s.
 *
 * A worker never waits for telemetry and its answer never depends on it.
 */
typedef struct sk_telemetry sk_telemetry_t;

/* Wall-clock time (CLOCK_REALTIME) in microseconds since the epoch. No system call (vDSO). */
uint64_t sk_now_us(void);

/*
 * Fill `ev` (a slot from sk_ring_reserve()) from what sk_respond() reported about one message.
 * `src` and `dst` are the client's and our own address (sockaddr_in or sockaddr_in6; an
 * IPv4-mapped IPv6 address is stored as IPv4); `transport` SK_TRANSPORT_UDP or _TCP; `time_us`
 * from sk_now_us() when the message was read; `tags` and `zone_off` from sk_event_zone(). The
 * raw query bytes are copied (at most SK_EV_QUERY_MAX; SK_EV_CUT is set when cut). Every field
 * is written; nothing is allocated; `info` and the message it points into need only live
 * during the call.
 */
void sk_event_fill(sk_event_t *ev, const sk_resp_info_t *info, int transport,
	const struct sockaddr *src, const struct sockaddr *dst, uint64_t time_us,
	const sk_tagset_t *tags, uint8_t zone_off);

/*
 * The zone part of an event: returns where the matched zone's apex starts inside the query
 * name (SK_EV_NO_ZONE when no zone matched) and stores the zone's interned tags in *tags (NULL
 * when no zone matched). Both stay valid after the snapshot holding info->zone is freed. Call
 * on the worker inside its snapshot batch (info->zone must still be alive). Needs the db
 * module (sk_zone_apex, sk_zone_tagset): lives in its own object file.
 */
uint8_t sk_event_zone(const sk_resp_info_t *info, const sk_tagset_t **tags);

/*
 * Start telemetry for `nworkers` producers (the threads that answer queries: net.h's
 * sk_net_readers) as `conf` says: open the geo databases (conf->geoip_*), open every configured
 * sink, allocate one ring of conf->telemetry.ring_size events per producer,
 * start the telemetry thread. On success returns 0 and stores the instance in *out, or stores
 * NULL when no sink is configured (telemetry off: every function below accepts a NULL instance,
 * and sk_telemetry_ring() then returns NULL). On failure returns a negative code, has logged why
 * (naming the file), started nothing and left *out untouched.
 * `conf` is only read during the call; nothing keeps a pointer into it.
 * Call from the main thread, before the workers start.
 */
int sk_telemetry_start(const sk_conf_t *conf, unsigned nworkers, sk_telemetry_t **out);

/* The ring of producer `worker` (< nworkers). Only that thread may produce into it. NULL when t is
 * NULL. The pointer stays valid until sk_telemetry_stop(). */
sk_ring_t *sk_telemetry_ring(sk_telemetry_t *t, unsigned worker);

/*
 * SIGHUP, on the loader thread (one caller at a time): reopen the geo databases named by
 * `newconf` (the same paths are reopened too: that is how an updated database is picked up;
 * none named: geolocation off) and take its server identity as the records' node name. A
 * database that fails to open is reported (naming the file) and the databases in use are kept:
 * returns that error, the running telemetry is unaffected. The new databases are handed to the
 * telemetry thread through an atomic pointer; it switches between two batches of events and
 * frees the old ones itself, so no lookup can be running in them. Sinks, ring size, flush and
 * stats intervals are fixed at start: when `newconf` changes them, a warning says that a restart
 * is needed to apply them. `newconf` is only read during the call. Blocks the caller only for
 * the time it takes to open the databases.
 */
int sk_telemetry_reload(sk_telemetry_t *t, const sk_conf_t *newconf);

/* SIGUSR1 (logrotate): ask every sink to reopen its files. Only sets an atomic flag, which the
 * telemetry thread acts on within a few milliseconds: safe from any thread, and from a libuv
 * signal callback. */
void sk_telemetry_reopen(sk_telemetry_t *t);

/*
 * Stop: call after every worker has stopped producing. Drains every ring to empty, so that
 * every accepted event reaches the sinks, flushes and closes every sink, logs the final counters,
 * joins the thread and frees everything. Accepts NULL.
 */
void sk_telemetry_stop(sk_telemetry_t *t);

#define SK_TELEMETRY_SINKS_MAX 4

/* Counters since start; each only grows, except in_spool (a gauge). */
typedef struct sk_telemetry_stats {
	uint64_t processed;     /* events taken out of the rings and given to the sinks */
	uint64_t dropped;       /* events dropped because a worker's ring was full, all workers */
	unsigned nsinks;
	struct {
		const char *name;   /* "jsonl", "dnstap", "nats"; static */
		uint64_t written;   /* records the sink's destination accepted */
		uint64_t failed;    /* records lost to a sink error (full disk, reader gone) */
		uint64_t reconnects; /* destination lost and opened again */
		bool spools;        /* the sink has a spool (nats): the next two mean something */
		uint64_t spooled;   /* records written to the spool while the destination was away */
		uint64_t replayed;  /* records read back from the spool and sent again */
		uint64_t in_spool;  /* records in the spool now, waiting to be sent again */
	} sink[SK_TELEMETRY_SINKS_MAX];
} sk_telemetry_stats_t;

/* Read the counters. Safe from any thread (the control socket); the sinks' counters are as of
 * the telemetry thread's last pass (at most a few milliseconds old). t may be NULL: all zero. */
void sk_telemetry_stats(sk_telemetry_t *t, sk_telemetry_stats_t *out);

#endif
