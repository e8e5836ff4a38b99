/* worker.c -- the net: TCP worker threads (one libuv loop each), UDP threads, sockets, start and stop */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_int.h"
#include "util/err.h"
#include "util/log.h"

#define SK_LISTEN_TEXT 64   /* "address@port" of a bound socket */

struct sk_net {
	sk_worker_t *workers;   /* nworkers, cache-line aligned */
	unsigned nworkers;
	sk_udp_t **udp;         /* nworkers * nlisten: worker j's socket on address i at j * nlisten + i */
	unsigned *cpus;         /* server.cpus, copied; NULL: workers not pinned */
	size_t ncpus;
	size_t nlisten;
	char (*listen_text)[SK_LISTEN_TEXT];
	sk_net_limits_t limits;
	sk_snapreg_t *reg;
	sk_rrl_t *rrl;          /* owned; the workers share it; NULL when rrl was off at start */
	sk_qstats_t *qs;        /* owned; one per answering thread (workers, then UDP threads) */
	pthread_t *threads;
	unsigned nthreads;      /* started and not yet joined */
	atomic_bool stop_requested;
	atomic_uint drain_ms;
};

static void close_any(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/*
 * Close whatever is still open on a loop that no longer runs (a worker that stopped, or one
 * that never started) and release the loop. The UDP sockets' descriptors and memory are left
 * for sk_udp_free.
 */
static void loop_finish(uv_loop_t *loop)
{
	uv_walk(loop, close_any, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	if (uv_loop_close(loop))
		sk_warn("worker loop still busy at exit");
}

static void on_drain_deadline(uv_timer_t *t)
{
	sk_worker_t *w = t->data;
	if (w->nconn)
		sk_debug("worker %u: closing %u connections with replies unwritten", w->id, w->nconn);
	sk_tcp_close_all(w);
}

/*
 * The stop request. A callback runs between batches, never inside one, so every batch in
 * progress has been answered and sent by now.
 */
static void on_wake(uv_async_t *a)
{
	sk_worker_t *w = a->data;
	w->stopping = true;
	uv_close((uv_handle_t *)&w->wake, NULL);
	for (size_t i = 0; i < w->nsock; i++)
		sk_tcp_listener_close(&w->tcp[i]);
	sk_tcp_drain(w);
	/* Unreferenced: the loop ends as soon as the last connection closes, deadline or not. */
	if (w->nconn) {
		uv_timer_start(&w->drain, on_drain_deadline, atomic_load(&w->net->drain_ms), 0);
		uv_unref((uv_handle_t *)&w->drain);
	}
}

static void *worker_main(void *arg)
{
	sk_worker_t *w = arg;
	char name[16];
	snprintf(name, sizeof name, "sk-worker-%u", w->id);
	pthread_setname_np(pthread_self(), name);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	loop_finish(&w->loop);
	w->loop_open = false;
	return NULL;
}

/* Bind listen address i for every worker. On failure, what was opened stays in the workers
 * and is released by sk_net_free. */
static int open_listen(sk_net_t *net, const sk_listen_t *l, size_t i)
{
	const struct sockaddr *sa = (const struct sockaddr *)&l->addr;
	int rc = 0, fd;
	bool pktinfo;
	const char *proto = "udp";
	for (unsigned j = 0; j < net->nworkers; j++) {
		sk_worker_t *w = &net->workers[j];
		proto = "udp";
		if ((rc = sk_sock_udp(sa, l->addrlen, &fd, &pktinfo)) ||
		    (rc = sk_udp_new(fd, pktinfo, &net->udp[j * net->nlisten + i])))
			goto fail;
		proto = "tcp";
		if ((rc = sk_sock_tcp(sa, l->addrlen, &fd)))
			goto fail;
		if ((rc = sk_tcp_listener_init(w, &w->tcp[i], fd)) ||
		    (rc = sk_tcp_listener_start(&w->tcp[i])))
			goto fail;
	}
	sk_sock_format(sa, net->listen_text[i], SK_LISTEN_TEXT);
	return 0;
fail:
	/* rc is -errno from the socket calls or a libuv code, itself a negated errno on Unix. */
	sk_err("cannot listen on %s (%s): %s", l->text, proto, sk_strerror(rc));
	return rc;
}

static int worker_init(sk_net_t *net, sk_worker_t *w, unsigned id)
{
	int rc;
	w->net = net;
	w->qs = &net->qs[id];
	w->limits = &net->limits;
	w->id = id;
	if ((rc = uv_loop_init(&w->loop)))
		return rc;
	w->loop_open = true;
	/* From here on the loop is released by loop_finish, whatever else fails. */
	w->nsock = net->nlisten;
	uv_async_init(&w->loop, &w->wake, on_wake);
	uv_timer_init(&w->loop, &w->drain);
	w->wake.data = w->drain.data = w;
	w->tcp = calloc(net->nlisten, sizeof *w->tcp);
	return w->tcp ? 0 : -ENOMEM;
}

int sk_net_new(const sk_conf_t *conf, sk_net_t **out)
{
	int rc = -ENOMEM;
	sk_net_t *net = calloc(1, sizeof *net);
	if (!net)
		return -ENOMEM;
	net->nworkers = conf->workers ? conf->workers : 1;
	if (conf->ncpus) {
		if (!(net->cpus = malloc(conf->ncpus * sizeof *net->cpus))) {
			free(net);
			return -ENOMEM;
		}
		memcpy(net->cpus, conf->cpus, conf->ncpus * sizeof *net->cpus);
		net->ncpus = conf->ncpus;
	}
	net->nlisten = conf->nlisten;
	net->limits = (sk_net_limits_t){
		.tcp_max_clients = conf->tcp_max_clients ? conf->tcp_max_clients : 1,
		.tcp_idle_timeout_ms = conf->tcp_idle_timeout_ms,
		.tcp_query_timeout_ms = conf->tcp_query_timeout_ms,
		/* 0 would never answer anything: treat it as one reply at a time. */
		.tcp_max_pending = conf->tcp_max_pending ? conf->tcp_max_pending : 1,
	};
	/* Made once, before any worker runs: the hot path only reads and writes its words. */
	if (conf->rrl.enabled && (rc = sk_rrl_new(conf->rrl.table_size, &net->rrl))) {
		sk_err("rrl: cannot make a table of %u entries: %s", conf->rrl.table_size, sk_strerror(rc));
		goto fail;
	}
	rc = -ENOMEM;
	net->listen_text = calloc(net->nlisten, sizeof *net->listen_text);
	net->threads = calloc(net->nworkers, sizeof *net->threads);
	net->workers = aligned_alloc(SK_CACHELINE, net->nworkers * sizeof *net->workers);
	net->udp = calloc((size_t)net->nworkers * net->nlisten + 1, sizeof *net->udp);
	net->qs = sk_qstats_new(sk_net_readers(net));
	if (!net->listen_text || !net->threads || !net->workers || !net->udp || !net->qs)
		goto fail;
	memset(net->workers, 0, net->nworkers * sizeof *net->workers);
	for (unsigned j = 0; j < net->nworkers; j++)
		if ((rc = worker_init(net, &net->workers[j], j)))
			goto fail;
	for (size_t i = 0; i < net->nlisten; i++)
		if ((rc = open_listen(net, &conf->listen[i], i)))
			goto fail;
	*out = net;
	return 0;
fail:
	sk_net_free(net);
	return rc;
}

int sk_net_thread(pthread_t *t, void *(*fn)(void *), void *arg, int cpu)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET((unsigned)cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof set, &set);
	}
	int rc = -pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc;
}

/* server.cpus: worker j and its UDP threads on one CPU, round robin over the list; -1: none. */
static int worker_cpu(const sk_net_t *net, unsigned j)
{
	return net->ncpus ? (int)net->cpus[j % net->ncpus] : -1;
}

/* Start the UDP threads of worker j. */
static int start_udp(sk_net_t *net, unsigned j, sk_telemetry_t *tm)
{
	for (size_t i = 0; i < net->nlisten; i++) {
		unsigned k = j * (unsigned)net->nlisten + (unsigned)i, id = net->nworkers + k;
		sk_udp_env_t env = { .id = id, .reg = net->reg, .ring = sk_telemetry_ring(tm, id),
			.rrl = net->rrl, .qs = &net->qs[id] };
		char name[16];
		snprintf(name, sizeof name, "sk-udp-%u.%u", j % 1000u, (unsigned)(i % 1000u));
		int rc = sk_udp_start(net->udp[k], &env, name, worker_cpu(net, j));
		if (rc)
			return rc;
	}
	return 0;
}

int sk_net_start(sk_net_t *net, sk_snapreg_t *reg, sk_telemetry_t *tm)
{
	int rc = 0;
	sigset_t block, old;
	/* Set before the threads exist: pthread_create orders these writes before their reads. */
	net->reg = reg;
	for (unsigned j = 0; j < net->nworkers; j++) {
		net->workers[j].reg = reg;
		net->workers[j].ring = sk_telemetry_ring(tm, j);
	}
	/* Signals go to the main thread's loop; a worker must never be the one interrupted. */
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (unsigned j = 0; j < net->nworkers; j++) {
		int cpu = worker_cpu(net, j);
		rc = sk_net_thread(&net->threads[j], worker_main, &net->workers[j], cpu);
		if (!rc) {
			net->nthreads++;
			rc = start_udp(net, j, tm);
		}
		if (rc) {
			if (cpu >= 0 && rc == -EINVAL)
				sk_err("cannot run worker %u on CPU %d (server.cpus): is it online?", j, cpu);
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		sk_err("cannot start worker thread: %s", sk_strerror(rc));
		sk_net_stop(net, 0);
		sk_net_join(net);
	}
	return rc;
}

void sk_net_stop(sk_net_t *net, unsigned drain_ms)
{
	if (atomic_exchange(&net->stop_requested, true))
		return;
	atomic_store(&net->drain_ms, drain_ms);
	for (size_t k = 0; k < (size_t)net->nworkers * net->nlisten; k++)
		sk_udp_stop(net->udp[k]);
	for (unsigned j = 0; j < net->nthreads; j++)
		uv_async_send(&net->workers[j].wake);
}

void sk_net_join(sk_net_t *net)
{
	for (size_t k = 0; k < (size_t)net->nworkers * net->nlisten; k++)
		sk_udp_join(net->udp[k]);
	for (unsigned j = 0; j < net->nthreads; j++)
		pthread_join(net->threads[j], NULL);
	net->nthreads = 0;
}

void sk_net_free(sk_net_t *net)
{
	if (!net)
		return;
	if (net->nthreads) {
		sk_net_stop(net, 0);
		sk_net_join(net);
	}
	for (unsigned j = 0; net->workers && j < net->nworkers; j++) {
		sk_worker_t *w = &net->workers[j];
		/* A worker that ran has finished its loop itself; one that never did, here. */
		if (w->loop_open)
			loop_finish(&w->loop);
		free(w->tcp);
	}
	for (size_t k = 0; net->udp && k < (size_t)net->nworkers * net->nlisten; k++)
		sk_udp_free(net->udp[k]);
	free(net->udp);
	free(net->workers);
	sk_rrl_free(net->rrl);
	sk_qstats_free(net->qs);
	free(net->cpus);
	free(net->threads);
	free(net->listen_text);
	free(net);
}

unsigned sk_net_workers(const sk_net_t *net)
{
	return net->nworkers;
}

unsigned sk_net_readers(const sk_net_t *net)
{
	return net->nworkers + net->nworkers * (unsigned)net->nlisten;
}

size_t sk_net_listen_count(const sk_net_t *net)
{
	return net->nlisten;
}

const char *sk_net_listen_text(const sk_net_t *net, size_t i)
{
	return i < net->nlisten ? net->listen_text[i] : NULL;
}

void sk_net_qstats(const sk_net_t *net, sk_qstats_t *out)
{
	sk_qstats_sum(net->qs, sk_net_readers(net), out);
}

void sk_net_stats(const sk_net_t *net, sk_net_stats_t *out)
{
	_Static_assert(sizeof *out % sizeof(uint64_t) == 0, "stats are all uint64_t");
	uint64_t *sum = (uint64_t *)out;
	const size_t n = sizeof *out / sizeof(uint64_t);
	memset(out, 0, sizeof *out);
	for (unsigned j = 0; j < sk_net_readers(net); j++) {
		const sk_udp_t *u = j < net->nworkers ? NULL : net->udp[j - net->nworkers];
		if (j >= net->nworkers && !u)
			continue;
		const uint64_t *c = (const uint64_t *)(u ? sk_udp_counters(u) : &net->workers[j].ctr);
		for (size_t k = 0; k < n; k++)
			sum[k] += __atomic_load_n(&c[k], __ATOMIC_RELAXED);
	}
}
