/* nats_int.h -- internals shared by the NATS sink's files: the hand-over queue and the sink state */
#ifndef SK_NATS_INT_H
#define SK_NATS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "telemetry/jsonl.h"
#include "telemetry/nats/spool.h"
#include "telemetry/sink.h"

/*
 * Records travel from the telemetry thread to the I/O thread in chunks: a buffer of whole JSON
 * lines (each ending in '\n', exactly as the JSON lines sink writes them), so that a chunk goes
 * to the spool with one write and a line goes to the bus without its newline.
 */
#define SK_NATS_CHUNK_SIZE (256u * 1024)
/* Chunks waiting for the I/O thread at most (32 MiB, about 50,000 records); past that, records
 * are counted failed at once: the telemetry thread never waits. */
#define SK_NATS_QUEUE_CHUNKS 128u
/* Chunks kept for reuse rather than freed. */
#define SK_NATS_FREE_CHUNKS 16u

typedef struct sk_nats_chunk {
	struct sk_nats_chunk *next;
	size_t len;          /* bytes of whole lines in buf */
	size_t off;          /* the I/O thread's place: lines before it are done */
	uint32_t nrec;       /* lines in buf */
	char buf[SK_NATS_CHUNK_SIZE];
} sk_nats_chunk_t;

/* A FIFO of chunks. */
typedef struct sk_nats_list {
	sk_nats_chunk_t *head, *tail;
	unsigned n;
} sk_nats_list_t;

void sk_nats_list_push(sk_nats_list_t *l, sk_nats_chunk_t *c);
sk_nats_chunk_t *sk_nats_list_pop(sk_nats_list_t *l);
/* Move every chunk of `from` to the end of `to`. */
void sk_nats_list_take(sk_nats_list_t *to, sk_nats_list_t *from);

typedef struct sk_nats_bus sk_nats_bus_t;   /* the connection and its state (bus.c) */

typedef struct sk_nats {
	sk_nats_conf_t *conf;       /* owned copy */

	/* The telemetry thread's. */
	sk_nats_chunk_t *cur;       /* being filled */
	sk_jsonl_clock_t clock;
	bool said_queue_full;

	/* Shared, under mu. The I/O thread sleeps on `wake` until there is work. */
	pthread_mutex_t mu;
	pthread_cond_t wake;
	sk_nats_list_t queue;       /* filled chunks, oldest first */
	sk_nats_list_t retry;       /* lines whose publication failed (from the ack handler) */
	sk_nats_list_t spare;       /* chunks for reuse */
	bool stop;

	/* Counters: any thread adds, the stats reader loads. */
	_Atomic uint64_t written, failed, spooled, replayed, reconnects;
	_Atomic uint64_t in_spool;  /* lines in the spool now (a gauge: the log, /metrics) */
	atomic_bool thread_done;

	/* The I/O thread's (started by sk_nats_bus_start, joined by sk_nats_bus_stop). */
	pthread_t thread;
	bool started;
	sk_spool_t spool;           /* opened by open() in the caller's thread, then the I/O thread's */
	sk_nats_bus_t *bus;
} sk_nats_t;

/* A chunk from the spare list or malloc; NULL when out of memory. Takes mu itself. */
sk_nats_chunk_t *sk_nats_chunk_get(sk_nats_t *n);
/* Give chunks back to the spare list (kept up to SK_NATS_FREE_CHUNKS) or free them. Takes mu. */
void sk_nats_chunk_put_list(sk_nats_t *n, sk_nats_list_t *l);

/*
 * Start the I/O thread with every signal blocked: it connects (in the background, retrying for
 * as long as it runs), checks or creates the stream, publishes what the telemetry thread queues,
 * spools what the bus does not take and replays the spool. 0 or a negative errno.
 */
int sk_nats_bus_start(sk_nats_t *n);

/*
 * Set `stop`, wake the I/O thread and join it. It publishes what is queued when the bus is
 * there, waits up to drain_ms for the acknowledgements, spools everything not acknowledged,
 * syncs the spool and closes the connection.
 */
void sk_nats_bus_stop(sk_nats_t *n);

/* Where in `line` its record id is (the "record_id" value), or NULL with *len 0 when it has none. */
const char *sk_nats_record_id(const char *line, size_t len, size_t *id_len);

/*
 * The subject of a record: "<prefix>.<node>" where <node> is the part of the record id before its
 * first ':' with every '.' turned into '_' (one subject token), or "<prefix>._" without an id.
 * Writes at most cap bytes with the NUL; returns the length, or 0 when it does not fit.
 */
size_t sk_nats_subject(char *out, size_t cap, const char *prefix, const char *id, size_t id_len);

#endif
