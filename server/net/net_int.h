/* net_int.h -- what worker.c, udp.c, tcp.c and sockopt.c share; not for use outside net/ */
#ifndef SK_NET_INT_H
#define SK_NET_INT_H

#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "net/net.h"
#include "rrl/rrl.h"
#include "stats/qstats.h"
#include "telemetry/ring.h"
#include "telemetry/telemetry.h"

#define SK_CACHELINE 64

typedef struct sk_worker sk_worker_t;
typedef struct sk_udp sk_udp_t;
typedef struct sk_tcp_conn sk_tcp_conn_t;

/* One listening TCP socket of one worker. */
typedef struct sk_tcp_listener {
	uv_tcp_t h;
	sk_worker_t *w;
	bool open;          /* h is initialised and must be closed */
} sk_tcp_listener_t;

/* What a worker knows of its net: copied from the config at start, read-only afterwards. */
typedef struct sk_net_limits {
	unsigned tcp_max_clients;
	unsigned tcp_idle_timeout_ms;
	unsigned tcp_query_timeout_ms;
	unsigned tcp_max_pending;
} sk_net_limits_t;

/*
 * Everything one TCP worker thread owns. Only that thread touches it once started, except `ctr`
 * (read by sk_net_stats) and `wake` (uv_async_send from the stopping thread). Aligned so that
 * two workers' hot fields never share a cache line. Worker j's UDP sockets are served by
 * threads of their own (udp.c), on the same CPU.
 */
struct sk_worker {
	alignas(SK_CACHELINE) uv_loop_t loop;
	sk_net_t *net;
	sk_snapreg_t *reg;
	const sk_net_limits_t *limits;
	unsigned id;            /* reader index in the snapshot registry, and telemetry ring index */
	sk_ring_t *ring;        /* this worker's telemetry ring, NULL when telemetry is off */
	sk_qstats_t *qs;        /* this worker's query counters (the net's array; read by sk_net_qstats) */
	bool loop_open;         /* loop initialised and not yet finished */
	size_t nsock;           /* one TCP listener per listen address */
	sk_tcp_listener_t *tcp;
	sk_tcp_conn_t *conns;   /* open connections, most recently active first (tcp.c) */
	sk_tcp_conn_t *conns_tail;  /* the least recently active: the first to evict */
	unsigned nconn;
	bool stopping;
	unsigned drain_ms;      /* set with the stop request, read after `wake` fires */
	uv_async_t wake;        /* stop request */
	uv_timer_t drain;       /* shutdown deadline for TCP replies still being written */
	sk_net_stats_t ctr;
};

/*
 * Add to a counter of the worker that owns it. Only the owner writes, so a relaxed load and store
 * is enough (no locked instruction on the hot path) while sk_net_stats may still read it whole.
 */
static inline void sk_ctr_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* Count one answered query in a thread's query counters (by rcode, qtype, transport, tags). */
static inline void sk_count_query(sk_qstats_t *qs, const sk_resp_info_t *info, unsigned transport)
{
	sk_qstats_count(qs, transport, info->rcode, info->q.has_question, info->q.qtype, info->tags);
}

/*
 * Record one answered query in a thread's telemetry ring, with what rate limiting did to its
 * reply (`rrl`, an sk_rrl_action_t). Called inside the snapshot batch (the zone in `info` must be
 * alive). Never waits: a full ring drops the event and counts it.
 */
static inline void sk_capture(sk_ring_t *ring, const sk_resp_info_t *info, int transport,
	const struct sockaddr *src, const struct sockaddr *dst, uint64_t now, sk_rrl_action_t rrl)
{
	sk_event_t *ev = sk_ring_reserve(ring);
	if (!ev)
		return;
	const sk_tagset_t *tags;
	uint8_t zone_off = sk_event_zone(info, &tags);
	sk_event_fill(ev, info, transport, src, dst, now, tags, zone_off);
	ev->rrl = (uint8_t)rrl;
	sk_ring_commit(ring);
}

/* worker.c */

/* Start a thread running fn(arg), pinned to `cpu` when cpu >= 0 (server.cpus). Returns 0 or a
 * negative errno (-EINVAL: that CPU is not online). */
int sk_net_thread(pthread_t *t, void *(*fn)(void *), void *arg, int cpu);

/* sockopt.c */

/*
 * Open a UDP socket bound to `sa`, nonblocking, SO_REUSEPORT, IPV6_V6ONLY on IPv6, and with
 * IP_PKTINFO / IPV6_RECVPKTINFO when `sa` is a wildcard (*pktinfo tells). Stores the descriptor
 * in *fd. Returns 0 or -errno with nothing open.
 */
int sk_sock_udp(const struct sockaddr *sa, socklen_t len, int *fd, bool *pktinfo);

/* Open a TCP socket bound to `sa` and listening, with the same options. Returns 0 or -errno. */
int sk_sock_tcp(const struct sockaddr *sa, socklen_t len, int *fd);

/* Write "address@port" for `sa` into buf (IPv6 without brackets, as the config takes it). */
void sk_sock_format(const struct sockaddr *sa, char *buf, size_t size);

/* udp.c */

/* What a UDP thread is given: its reader index in the snapshot registry and telemetry ring index
 * (`id`), the registry, its ring (NULL: telemetry off), the shared rate limiting table (NULL:
 * off), its own query counters. All borrowed; set before the thread starts. */
typedef struct sk_udp_env {
	unsigned id;
	sk_snapreg_t *reg;
	sk_ring_t *ring;
	sk_rrl_t *rrl;
	sk_qstats_t *qs;
} sk_udp_env_t;

/* The UDP side of one listen address for one worker, on the bound socket `fd` (ownership taken,
 * closed on failure): buffers allocated once, no thread yet. */
int sk_udp_new(int fd, bool pktinfo, sk_udp_t **out);

/*
 * Start its thread (named `name`, pinned to `cpu` when cpu >= 0) with `env`. The thread blocks in
 * recvmmsg on the socket, answers each batch and sends it with sendmmsg, until sk_udp_stop.
 * Returns 0 or a negative errno with no thread started.
 */
int sk_udp_start(sk_udp_t *u, const sk_udp_env_t *env, const char *name, int cpu);

/* Ask the thread to stop, from any thread: it finishes the batch it is in (every reply built is
 * sent) and exits. Idempotent; nothing when the thread never started. */
void sk_udp_stop(sk_udp_t *u);

/* Wait for the thread (after sk_udp_stop). */
void sk_udp_join(sk_udp_t *u);

/* The thread's counters (udp_* fields of sk_net_stats_t), read with relaxed loads. */
const sk_net_stats_t *sk_udp_counters(const sk_udp_t *u);

/* Stop and join the thread if it runs, close the socket, free. Accepts NULL. */
void sk_udp_free(sk_udp_t *u);

/* tcp.c */

/* Make `fd`, bound and listening, worker `w`'s listener `l`. Ownership of fd taken. */
int sk_tcp_listener_init(sk_worker_t *w, sk_tcp_listener_t *l, int fd);

/* Start accepting. */
int sk_tcp_listener_start(sk_tcp_listener_t *l);

/* Stop accepting and close the listener. */
void sk_tcp_listener_close(sk_tcp_listener_t *l);

/* Shutdown: stop reading every connection; close those with nothing left to write, let the
 * others finish writing. */
void sk_tcp_drain(sk_worker_t *w);

/* Close every connection now (drain deadline). */
void sk_tcp_close_all(sk_worker_t *w);

#endif
