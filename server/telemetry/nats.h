/* nats.h -- the NATS JetStream telemetry sink: each record published with acknowledgement, spooled
 * to a local file while the bus is away (libnats, in nats/ only) */
#ifndef SK_NATS_H
#define SK_NATS_H

#include "telemetry/sink.h"

/*
 * The "nats" row of the sink table. `open` takes a `const sk_nats_conf_t *` (conf/conf.h).
 *
 * Messages. Each record is one message on "<subject>.<node>" (<node>: the record id's node part
 * with '.' turned into '_', one subject token), whose body is the record's JSON line exactly as
 * the JSON lines sink writes it, without the final newline, and whose Nats-Msg-Id header is the
 * record id ("record_id" in the JSON: node:run:seq). JetStream drops a message whose id it stored
 * within the stream's duplicate window, so a record sent twice (after a lost acknowledgement, a
 * replay, a restart) is stored once as long as the two sends are within that window.
 *
 * Delivery: at least once, with duplicates detectable by id (and dropped by the bus within its
 * duplicate window). `written` counts records JetStream acknowledged (stored on the stream's
 * replicas); a record is never counted written before that.
 *
 * Threads. emit() appends the JSON line to a 256 KiB chunk; a full chunk, and at every flush()
 * whatever the chunk holds, goes to the sink's I/O thread (sk-nats-io) through a queue of at
 * most 128 chunks; past that, records are counted failed: the telemetry thread never waits. The
 * I/O thread publishes asynchronously with at most max_pending records unacknowledged; a record
 * JetStream refuses, or does not acknowledge within ack_timeout_ms, goes to the spool, and
 * publishing pauses (new records are spooled) for 250 ms, doubling up to 8 s while failures go
 * on. While the bus is not reachable (no connection, or the stream not found yet), records go
 * straight to the spool. Once it is back, the spool is replayed oldest first, alongside new
 * records, and emptied when all of it was handed over. A second thread (sk-nats-admin) makes the
 * first connection and looks up the stream (creating it when create_stream is true) after every
 * connection, so the I/O thread never waits for a JetStream request. libnats reconnects by itself,
 * to any server of the list, forever.
 *
 * Spool (nats/spool.h): an append-only file of JSON lines, fdatasync'ed every spool.fsync_ms,
 * with its read position in PATH.pos; at most spool.max_mb, past which records are counted
 * failed. open() fails when the spool cannot be opened. A spool left by an earlier run is
 * replayed.
 *
 * close(): what is queued is published when the bus is there, acknowledgements are awaited up
 * to drain_ms, and everything not acknowledged then is spooled (in record order) for the next
 * start. Counters: written, failed, reconnects (connection lost and made again), spooled,
 * replayed (read back from the spool and published again).
 */
extern const sk_sink_ops_t sk_nats_ops;

#endif
