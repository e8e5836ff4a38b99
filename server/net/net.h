/* net.h -- the worker threads and their sockets: UDP in batches, TCP per RFC 7766 */
#ifndef SK_NET_H
#define SK_NET_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "db/snapshot.h"
#include "stats/qstats.h"
#include "telemetry/telemetry.h"

/*
 * One sk_net_t runs `conf->workers` workers. Worker j is a thread with its own libuv loop and a
 * TCP listener on every listen address, and, on every listen address, a UDP socket served by a
 * thread of its own that blocks in recvmmsg (on worker j's CPU when server.cpus pins it).
 * SO_REUSEPORT spreads clients over the workers. The answering threads are numbered: workers
 * 0..W-1, then worker j's UDP thread on address i is W + j * (listen addresses) + i; thread n is
 * reader n of the snapshot registry and produces into telemetry ring n. libuv stays inside net/:
 * nothing here exposes its types.
 */
typedef struct sk_net sk_net_t;

/* Counters summed over the workers. */
typedef struct sk_net_stats {
	uint64_t udp_rx;          /* datagrams received */
	uint64_t udp_tx;          /* replies sent */
	uint64_t udp_dropped;     /* datagrams that got no answer (sk_respond returned 0) */
	uint64_t udp_truncated;   /* datagrams larger than a receive slot, dropped unread */
	uint64_t udp_send_errors; /* replies the kernel refused with an error other than EAGAIN */
	uint64_t udp_recv_errors; /* recvmmsg failures other than EINTR */
	uint64_t tcp_accepted;    /* connections taken on */
	uint64_t tcp_open;        /* connections open now (a gauge, not a counter) */
	uint64_t tcp_evicted;     /* connections closed to make room for a new one at tcp_max_clients */
	uint64_t tcp_rejected;    /* connections closed at once: no memory, or the worker was stopping */
	uint64_t tcp_rx;          /* frames received (zero-length ones included) */
	uint64_t tcp_tx;          /* replies written out completely */
	uint64_t tcp_dropped;     /* frames that got no answer: zero-length, oversized, or dropped */
	uint64_t tcp_timeouts;    /* connections closed after tcp_idle_timeout_ms without progress */
	uint64_t tcp_query_timeouts; /* connections closed: a frame took over tcp_query_timeout_ms */
	uint64_t tcp_errors;      /* connections closed on a read or write error */
	uint64_t rrl_dropped;     /* UDP replies rate limiting dropped */
	uint64_t rrl_slipped;     /* UDP replies rate limiting sent truncated instead */
	uint64_t udp_cut;         /* UDP replies larger than the interface carries unfragmented,
	                             sent truncated instead (EMSGSIZE: the sockets set DF) */
} sk_net_stats_t;

/*
 * Open, bind and listen on every socket for every worker, in the calling thread, so that a bad
 * address fails here with an error naming it (logged) before any thread starts, and before the
 * daemon gives up root. Reads `conf` (listen addresses, workers, cpus, tcp_* limits) and keeps
 * copies, not pointers: `conf` may be freed afterwards, and a later reload cannot change them.
 * With an `rrl` section the net makes the rate limiting table (rrl.table_size accounts, shared by
 * the workers, freed with the net); without one, UDP replies are never limited, whatever a reload
 * later says.
 * Returns 0 and stores the net in *out, or a negative code with nothing left open.
 */
int sk_net_new(const sk_conf_t *conf, sk_net_t **out);

/*
 * Start the worker and UDP threads. `reg` is borrowed, must have at least sk_net_readers() readers
 * (answering thread n is reader n; main keeps one more for the control socket) and outlive the
 * net. `tm` (borrowed, NULL when telemetry is off) must have as many rings: thread n produces into
 * sk_telemetry_ring(tm, n); every answered query is pushed there, or counted as dropped when the
 * ring is full. The threads run with every signal that the daemon handles blocked, so the main
 * thread's loop receives them. Returns 0, or a negative code with no thread left running.
 */
int sk_net_start(sk_net_t *net, sk_snapreg_t *reg, sk_telemetry_t *tm);

/* Number of workers (server.workers as started). */
unsigned sk_net_workers(const sk_net_t *net);

/* Number of threads that answer queries: the workers and their UDP threads (one per worker and
 * listen address). Each needs a snapshot registry reader and a telemetry ring. */
unsigned sk_net_readers(const sk_net_t *net);

/*
 * Ask every thread to stop, from any thread, without waiting: each UDP thread finishes the batch
 * it is in (every reply it built is sent) and exits; each worker closes its TCP listeners, stops
 * reading its TCP connections and gives replies already produced up to `drain_ms` to be written
 * before closing the connections. Idempotent.
 */
void sk_net_stop(sk_net_t *net, unsigned drain_ms);

/* Wait until every worker and UDP thread has exited (after sk_net_stop). */
void sk_net_join(sk_net_t *net);

/* Free the net: stops and joins the workers first if they run. Accepts NULL. */
void sk_net_free(sk_net_t *net);

/* Number of listen addresses, and the i-th as "address@port" ("127.0.0.1@53", "::1@5353"). */
size_t sk_net_listen_count(const sk_net_t *net);
const char *sk_net_listen_text(const sk_net_t *net, size_t i);

/*
 * Sum the threads' counters into *out. Safe while the workers run: each counter is read whole,
 * but the set is not one consistent instant.
 */
void sk_net_stats(const sk_net_t *net, sk_net_stats_t *out);

/*
 * Sum the threads' query counters (stats/qstats.h: every answered query by rcode, qtype and
 * transport, and by the tag set of its zone or seized list) into *out. Safe while they run.
 */
void sk_net_qstats(const sk_net_t *net, sk_qstats_t *out);

#endif
