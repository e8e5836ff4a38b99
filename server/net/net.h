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
 * One sk_net_t runs `conf->workers` threads, each with its own libuv loop, and on every listen
 * address its own UDP socket and its own TCP listener (SO_REUSEPORT: the kernel spreads clients
 * over the workers). Worker i is reader i of the snapshot registry. libuv stays inside net/:
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
	uint64_t udp_recv_errors; /* recvmmsg failures other than EAGAIN */
	uint64_t udp_unsent;      /* replies still waiting for the socket when it was closed */
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
 * Start the worker threads. `reg` is borrowed, must have at least as many readers as the net has
 * workers (worker i is reader i; main keeps one more for the control socket)
 * and outlive the net. `tm` (borrowed, NULL when telemetry is off) gives worker i its ring
 * sk_telemetry_ring(tm, i); every answered query is pushed there, or counted as dropped when the
 * ring is full. The threads run with every signal that the daemon handles blocked, so the main
 * thread's loop receives them. Returns 0, or a negative code with no thread left running.
 */
int sk_net_start(sk_net_t *net, sk_snapreg_t *reg, sk_telemetry_t *tm);

/* Number of worker threads (server.workers as started). */
unsigned sk_net_workers(const sk_net_t *net);

/*
 * Ask every worker to stop, from any thread, without waiting: each finishes the batch it is in,
 * closes its UDP sockets and TCP listeners, stops reading its TCP connections and gives replies
 * already produced up to `drain_ms` to be written before closing the connections. Idempotent.
 */
void sk_net_stop(sk_net_t *net, unsigned drain_ms);

/* Wait until every worker thread has exited (after sk_net_stop). */
void sk_net_join(sk_net_t *net);

/* Free the net: stops and joins the workers first if they run. Accepts NULL. */
void sk_net_free(sk_net_t *net);

/* Number of listen addresses, and the i-th as "address@port" ("127.0.0.1@53", "::1@5353"). */
size_t sk_net_listen_count(const sk_net_t *net);
const char *sk_net_listen_text(const sk_net_t *net, size_t i);

/*
 * Sum the workers' counters into *out. Safe while the workers run: each counter is read whole,
 * but the set is not one consistent instant.
 */
void sk_net_stats(const sk_net_t *net, sk_net_stats_t *out);

/*
 * Sum the workers' query counters (stats/qstats.h: every answered query by rcode, qtype and
 * transport, and by the tag set of its zone or seized list) into *out. Safe while they run.
 */
void sk_net_qstats(const sk_net_t *net, sk_qstats_t *out);

#endif
