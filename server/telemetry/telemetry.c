/* telemetry.c -- the telemetry thread: drain the workers' rings, add geolocation, feed the sinks */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "geo/geo.h"
#include "telemetry/record.h"
#include "telemetry/sinks.h"
#include "telemetry/telemetry.h"
#include "util/err.h"
#include "util/log.h"
#include "util/pagecache.h"

#define BATCH 512                 /* events taken from one ring before looking at the next */
#define IDLE_SLEEP_MAX_NS 16000000  /* rings nearly empty: look again in at most 16 ms */
#define IDLE_SLEEP_MIN_NS 250000    /* and at least 0.25 ms */
#define GEO_CACHE_ENTRIES 16384   /* about 11 MB with the JSON annex; a busy resolver's subnets stay in it */

typedef struct sink {
	const sk_sink_ops_t *ops;
	void *state;
} sink_t;

/* What a reload gives the telemetry thread: it takes the whole thing with one atomic exchange,
 * so the loader never touches what the telemetry thread uses. */
typedef struct handover {
	bool set_geo;      /* replace the geo (by `geo`, which may be NULL: geolocation off) */
	sk_geo_t *geo;
	char *node;        /* new node name, or NULL */
} handover_t;

/* Settings that only a restart changes; a reload compares the new config with these. */
typedef struct fixed {
	unsigned ring_size, flush_ms, stats_interval_s;
	bool has_jsonl, has_dnstap;
	sk_jsonl_conf_t jsonl;     /* path owned */
	sk_dnstap_conf_t dnstap;   /* path owned */
	sk_nats_conf_t *nats;      /* owned copy, NULL when not configured */
} fixed_t;

struct sk_telemetry {
	pthread_t thread;
	unsigned nrings;
	sk_ring_t **rings;
	unsigned nsinks;
	sink_t sinks[SK_TELEMETRY_SINKS_MAX];
	fixed_t fixed;

	/* The telemetry thread's own: nobody else reads or writes these while it runs. */
	uint64_t *drops_seen;     /* per ring, drops already accounted for in seq */
	uint64_t seq;
	uint64_t run;             /* start time in microseconds: the run part of every record id */
	sk_geo_t *geo;
	sk_geo_cache_t *cache;
	char *node;
	sk_recbuf_t rb;
	bool pagecache;            /* holds a sk_pagecache_start() */

	/* Shared with other threads. */
	_Atomic(handover_t *) next;
	atomic_bool stop, reopen;
	_Atomic uint64_t processed;
	/*
	 * Written by the telemetry thread only, read by any thread: aligned words accessed as
	 * volatile (one writer, so never torn on the 64-bit targets we build for). Not C11 atomics:
	 * gcc 12 classed publish_stats() as pure when its stores were atomic builtins (atomic store,
	 * exchange, _Atomic members alike) and deleted every call to it at -O1 and -O2, so the
	 * counters read 0; the volatile stores are kept.
	 */
	volatile uint64_t written[SK_TELEMETRY_SINKS_MAX], failed[SK_TELEMETRY_SINKS_MAX];
	volatile uint64_t reconnects[SK_TELEMETRY_SINKS_MAX];
	volatile uint64_t spooled[SK_TELEMETRY_SINKS_MAX], replayed[SK_TELEMETRY_SINKS_MAX];
	volatile uint64_t in_spool[SK_TELEMETRY_SINKS_MAX];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * How long to sleep after a pass that found the rings nearly empty: long enough that the next
 * pass takes a batch rather than a few events (every wake-up costs a context switch, and on a VM
 * a timer programmed through the hypervisor), short enough that the busiest ring, at the rate it
 * filled since the last pass (`most` events in `dt_ns`), is a quarter full at most when the
 * thread looks again: room for a burst four times that rate.
 */
static long idle_sleep_ns(size_t ring_size, size_t most, uint64_t dt_ns, unsigned flush_ms)
{
	uint64_t ns = IDLE_SLEEP_MAX_NS;
	if (most > 0)
		ns = (uint64_t)(ring_size / 4) * dt_ns / most;
	if (ns > (uint64_t)flush_ms * 1000000u)
		ns = (uint64_t)flush_ms * 1000000u;
	if (ns > IDLE_SLEEP_MAX_NS)
		ns = IDLE_SLEEP_MAX_NS;
	if (ns < IDLE_SLEEP_MIN_NS)
		ns = IDLE_SLEEP_MIN_NS;
	return (long)ns;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void free_handover(handover_t *h)
{
	if (!h)
		return;
	sk_geo_free(h->geo);
	free(h->node);
	free(h);
}

/* ---- the telemetry thread ---- */

/*
 * Take up to `max` events from every ring. Drops a ring counted since the last look advance
 * `seq` first, so a consumer sees a gap in the record numbers about where events were lost.
 */
static size_t drain(sk_telemetry_t *t, size_t max, size_t *most)
{
	size_t total = 0;
	*most = 0;
	for (unsigned i = 0; i < t->nrings; i++) {
		sk_ring_t *r = t->rings[i];
		const sk_event_t *ev;
		uint64_t d = sk_ring_dropped(r);
		size_t k;

		t->seq += d - t->drops_seen[i];
		t->drops_seen[i] = d;
		for (k = 0; k < max && (ev = sk_ring_peek(r)); k++) {
			sk_record_build(&t->rb, ev, t->node, ++t->seq, t->geo, t->cache);
			for (unsigned s = 0; s < t->nsinks; s++)
				t->sinks[s].ops->emit(t->sinks[s].state, &t->rb.rec);
			sk_ring_release(r);
		}
		total += k;
		if (k > *most)
			*most = k;
	}
	if (total)
		atomic_fetch_add_explicit(&t->processed, total, memory_order_relaxed);
	return total;
}

/* Between two batches no record points into the geo, so the old one can go now. */
static void take_handover(sk_telemetry_t *t)
{
	handover_t *h = atomic_exchange(&t->next, NULL);
	if (!h)
		return;
	if (h->set_geo) {
		sk_geo_free(t->geo);
		t->geo = h->geo;
		h->geo = NULL;
		if (t->geo && !t->cache && sk_geo_cache_new(GEO_CACHE_ENTRIES, SK_RECORD_GEO_ANNEX, &t->cache) < 0)
			sk_warn("telemetry: no memory for the geoip cache; looking up every address");
		if (t->cache)
			sk_geo_cache_clear(t->cache);
	}
	if (h->node) {
		free(t->node);
		t->node = h->node;
		h->node = NULL;
		sk_record_set_id(&t->rb, t->node, t->run);
	}
	free_handover(h);
}

static void publish_stats(sk_telemetry_t *t)
{
	for (unsigned s = 0; s < t->nsinks; s++) {
		sk_sink_stats_t st = { 0 };
		t->sinks[s].ops->stats(t->sinks[s].state, &st);
		t->written[s] = st.written;
		t->failed[s] = st.failed;
		t->reconnects[s] = st.reconnects;
		t->spooled[s] = st.spooled;
		t->replayed[s] = st.replayed;
		t->in_spool[s] = st.in_spool;
	}
}

/* Log the counters. Telemetry thread only. `final` holds each sink's counters as its close
 * reported them (exact: a sink with its own I/O thread knows its totals only then); NULL: ask the
 * sinks now, publishing what they say for other threads on the way. */
static void log_stats(sk_telemetry_t *t, const sk_sink_stats_t *final)
{
	sk_telemetry_stats_t st;
	char line[512] = "";
	size_t o = 0;

	if (final) {
		/* The sinks are closed: their final word is all there is to publish. */
		for (unsigned s = 0; s < t->nsinks; s++) {
			t->written[s] = final[s].written;
			t->failed[s] = final[s].failed;
			t->reconnects[s] = final[s].reconnects;
			t->spooled[s] = final[s].spooled;
			t->replayed[s] = final[s].replayed;
			t->in_spool[s] = final[s].in_spool;
		}
	} else {
		publish_stats(t);
	}
	sk_telemetry_stats(t, &st);
	for (unsigned s = 0; s < t->nsinks && o < sizeof line; s++) {
		o += (size_t)snprintf(line + o, sizeof line - o,
			"%s written %llu failed %llu reconnects %llu", t->sinks[s].ops->name,
			(unsigned long long)st.sink[s].written, (unsigned long long)st.sink[s].failed,
			(unsigned long long)st.sink[s].reconnects);
		if (o < sizeof line && t->sinks[s].ops->spools)
			o += (size_t)snprintf(line + o, sizeof line - o, " spooled %llu replayed %llu",
				(unsigned long long)st.sink[s].spooled, (unsigned long long)st.sink[s].replayed);
		if (o < sizeof line)
			o += (size_t)snprintf(line + o, sizeof line - o, "; ");
	}
	sk_info("telemetry: %sdropped (ring full) %llu; processed %llu", line,
		(unsigned long long)st.dropped, (unsigned long long)st.processed);
}

static void *run(void *arg)
{
	sk_telemetry_t *t = arg;
	pthread_setname_np(pthread_self(), "sk-telemetry");
	uint64_t now = mono_ms();
	uint64_t next_flush = now + t->fixed.flush_ms;
	uint64_t next_stats = now + (uint64_t)t->fixed.stats_interval_s * 1000u;
	size_t idle_below = t->fixed.ring_size / 4 < BATCH / 4 ? t->fixed.ring_size / 4 : BATCH / 4;
	uint64_t pass_ns = mono_ns(), filled = 0;

	while (!atomic_load(&t->stop)) {
		size_t most;
		size_t n = drain(t, BATCH, &most);
		filled += most;
		take_handover(t);
		if (atomic_exchange(&t->reopen, false))
			for (unsigned s = 0; s < t->nsinks; s++)
				t->sinks[s].ops->reopen(t->sinks[s].state);
		now = mono_ms();
		if (now >= next_flush) {
			for (unsigned s = 0; s < t->nsinks; s++)
				t->sinks[s].ops->flush(t->sinks[s].state);
			next_flush = now + t->fixed.flush_ms;
		}
		publish_stats(t);
		if (t->fixed.stats_interval_s && now >= next_stats) {
			log_stats(t, NULL);
			next_stats = now + (uint64_t)t->fixed.stats_interval_s * 1000u;
		}
		/* A pass that found the rings nearly empty sleeps, so the next one takes a batch rather
		 * than the few events that came meanwhile: fewer wakeups, fewer cache lines bounced with
		 * the workers. A pass that found a quarter of a batch (or of a small ring) goes on at
		 * once. `filled` counts what the busiest ring of each pass held since the last sleep. */
		if (n < (size_t)t->nrings * idle_below) {
			uint64_t now_ns = mono_ns();
			struct timespec ts = { 0, idle_sleep_ns(t->fixed.ring_size, filled,
				now_ns - pass_ns, t->fixed.flush_ms) };
			nanosleep(&ts, NULL);
			pass_ns = now_ns;
			filled = 0;
		}
	}
	/* The workers have stopped (the caller's promise): what the rings hold now is all there
	 * will ever be, and all of it goes out before the sinks close. */
	size_t most;
	while (drain(t, SIZE_MAX, &most) > 0)
		;
	/* Closing flushes and waits for each sink's own I/O; only then are its counters final. */
	sk_sink_stats_t final[SK_TELEMETRY_SINKS_MAX];
	for (unsigned s = t->nsinks; s-- > 0; ) {
		t->sinks[s].ops->close(t->sinks[s].state, &final[s]);
		t->sinks[s].state = NULL;
	}
	log_stats(t, final);
	return NULL;
}

/* ---- settings ---- */

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_jsonl(const sk_jsonl_conf_t *a, const sk_jsonl_conf_t *b)
{
	return same_str(a->path, b->path) && a->rotate_mb == b->rotate_mb && a->keep == b->keep &&
		a->manifest == b->manifest && same_str(a->sign_key, b->sign_key);
}

static bool same_dnstap(const sk_dnstap_conf_t *a, const sk_dnstap_conf_t *b)
{
	return a->mode == b->mode && same_str(a->path, b->path) && a->responses == b->responses &&
		a->addrlen == b->addrlen && !memcmp(&a->addr, &b->addr, a->addrlen);
}

static int keep_fixed(fixed_t *f, const sk_telemetry_conf_t *tc)
{
	f->ring_size = tc->ring_size;
	f->flush_ms = tc->flush_ms;
	f->stats_interval_s = tc->stats_interval_s;
	if (tc->jsonl) {
		f->has_jsonl = true;
		f->jsonl = *tc->jsonl;
		f->jsonl.sign_key = NULL;
		if (!(f->jsonl.path = strdup(tc->jsonl->path)) ||
		    (tc->jsonl->sign_key && !(f->jsonl.sign_key = strdup(tc->jsonl->sign_key))))
			return -ENOMEM;
	}
	if (tc->dnstap) {
		f->has_dnstap = true;
		f->dnstap = *tc->dnstap;
		if (tc->dnstap->path && !(f->dnstap.path = strdup(tc->dnstap->path)))
			return -ENOMEM;
	}
	if (tc->nats && sk_nats_conf_copy(tc->nats, &f->nats) < 0)
		return -ENOMEM;
	return 0;
}

static void free_fixed(fixed_t *f)
{
	if (f->has_jsonl) {
		free(f->jsonl.path);
		free(f->jsonl.sign_key);
	}
	if (f->has_dnstap)
		free(f->dnstap.path);
	sk_nats_conf_free(f->nats);
}

/* What a reload cannot change: said once per reload, naming each setting. */
static void warn_fixed(const fixed_t *f, const sk_telemetry_conf_t *tc)
{
	const char *what[7];
	unsigned n = 0;

	if (f->ring_size != tc->ring_size)
		what[n++] = "ring_size";
	if (f->flush_ms != tc->flush_ms)
		what[n++] = "flush_ms";
	if (f->stats_interval_s != tc->stats_interval_s)
		what[n++] = "stats_interval_s";
	if (f->has_jsonl != !!tc->jsonl || (tc->jsonl && !same_jsonl(&f->jsonl, tc->jsonl)))
		what[n++] = "jsonl";
	if (f->has_dnstap != !!tc->dnstap || (tc->dnstap && !same_dnstap(&f->dnstap, tc->dnstap)))
		what[n++] = "dnstap";
	if (!!f->nats != !!tc->nats || (tc->nats && !sk_nats_conf_equal(f->nats, tc->nats)))
		what[n++] = "nats";
	for (unsigned i = 0; i < n; i++)
		sk_warn("telemetry: telemetry.%s changed; the running value is kept until a restart",
			what[i]);
}

/* ---- the API ---- */

static const char *node_name(const sk_conf_t *conf)
{
	return conf->identity && conf->identity[0] ? conf->identity : "sinkholed";
}

/* The sinks are opened in the caller's thread; pthread_create() orders everything they did
 * before the telemetry thread's first use. */
static int open_sinks(sk_telemetry_t *t, const sk_conf_t *conf)
{
	for (size_t i = 0; i < sk_sink_table_len; i++) {
		const sk_sink_row_t *row = &sk_sink_table[i];
		const void *c = row->conf(conf);
		int rc;
		if (!c)
			continue;
		if (t->nsinks == SK_TELEMETRY_SINKS_MAX)
			return -ENOSPC; /* the table outgrew the stats array: raise the constant */
		if ((rc = row->ops->open(&t->sinks[t->nsinks].state, c)) < 0) {
			sk_err("telemetry: cannot start the %s sink: %s", row->ops->name, sk_strerror(rc));
			return rc;
		}
		t->sinks[t->nsinks++].ops = row->ops;
	}
	t->rb.no_texts = true;
	for (unsigned s = 0; s < t->nsinks; s++)
		t->rb.no_texts &= !t->sinks[s].ops->texts;
	return 0;
}

static bool have_sink(const char *name)
{
	for (size_t i = 0; i < sk_sink_table_len; i++)
		if (!strcmp(sk_sink_table[i].ops->name, name))
			return true;
	return false;
}

/* Signals are for the main loop: the telemetry thread starts with all of them blocked. */
static int start_thread(sk_telemetry_t *t)
{
	sigset_t all, old;
	int rc;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t->thread, NULL, run, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -rc;
}

static void free_telemetry(sk_telemetry_t *t)
{
	/* Sinks are closed by the thread as it ends; these are the ones of a start that failed. */
	for (unsigned s = t->nsinks; s-- > 0; )
		t->sinks[s].ops->close(t->sinks[s].state, NULL);
	free_handover(atomic_exchange(&t->next, NULL));
	sk_geo_cache_free(t->cache);
	sk_geo_free(t->geo);
	for (unsigned i = 0; i < t->nrings; i++)
		sk_ring_free(t->rings[i]);
	free(t->rings);
	free(t->drops_seen);
	free(t->node);
	free_fixed(&t->fixed);
	/* After the sinks have closed: the advice they queued is carried out before the thread ends. */
	if (t->pagecache)
		sk_pagecache_stop();
	free(t);
}

int sk_telemetry_start(const sk_conf_t *conf, unsigned nworkers, sk_telemetry_t **out)
{
	const sk_telemetry_conf_t *tc = &conf->telemetry;
	sk_telemetry_t *t = NULL;
	int rc;

	if (nworkers == 0)
		return -EINVAL;
	if (tc->dnstap && !have_sink("dnstap")) {
		sk_err("telemetry: telemetry.dnstap is configured, but this sinkholed was built "
			"without dnstap support (libfstrm and protobuf-c)");
		return -ENOTSUP;
	}
	if (tc->nats && !have_sink("nats")) {
		sk_err("telemetry: telemetry.nats is configured, but this sinkholed was built without "
			"NATS support (libnats)");
		return -ENOTSUP;
	}
	if (!tc->jsonl && !tc->dnstap && !tc->nats) {
		*out = NULL;
		return 0;
	}
	if (!(t = calloc(1, sizeof *t))) {
		rc = -ENOMEM;
		goto fail;
	}
	atomic_init(&t->next, NULL);
	if ((rc = keep_fixed(&t->fixed, tc)) < 0)
		goto fail;
	rc = -ENOMEM;
	if (!(t->node = strdup(node_name(conf))) ||
	    !(t->rings = calloc(nworkers, sizeof *t->rings)) ||
	    !(t->drops_seen = calloc(nworkers, sizeof *t->drops_seen)))
		goto fail;
	t->run = sk_now_us();
	sk_record_set_id(&t->rb, t->node, t->run);
	for (; t->nrings < nworkers; t->nrings++)
		if ((rc = sk_ring_new(tc->ring_size, &t->rings[t->nrings])) < 0)
			goto fail;
	if (conf->geoip_city || conf->geoip_asn) {
		if ((rc = sk_geo_open(conf->geoip_city, conf->geoip_asn, &t->geo)) < 0) {
			sk_err("telemetry: cannot open the geoip databases: %s", sk_strerror(rc));
			goto fail;
		}
		if ((rc = sk_geo_cache_new(GEO_CACHE_ENTRIES, SK_RECORD_GEO_ANNEX, &t->cache)) < 0)
			goto fail;
	}
	/* The file sinks' page-cache advice runs on its own thread, where a slow disk may make it
	 * wait (util/pagecache.h); without it the advice is given in place, as before. */
	if (sk_pagecache_start() == 0)
		t->pagecache = true;
	if ((rc = open_sinks(t, conf)) < 0)
		goto fail;
	if ((rc = start_thread(t)) < 0) {
		sk_err("telemetry: cannot start the telemetry thread: %s", sk_strerror(rc));
		goto fail;
	}
	*out = t;
	return 0;
fail:
	if (rc == -ENOMEM)
		sk_err("telemetry: out of memory");
	if (t)
		free_telemetry(t);
	return rc;
}

sk_ring_t *sk_telemetry_ring(sk_telemetry_t *t, unsigned worker)
{
	return t && worker < t->nrings ? t->rings[worker] : NULL;
}

int sk_telemetry_reload(sk_telemetry_t *t, const sk_conf_t *newconf)
{
	handover_t *h;
	int rc = 0;

	if (!t) {
		if (newconf->telemetry.jsonl || newconf->telemetry.dnstap || newconf->telemetry.nats)
			sk_warn("telemetry: sinks were added to the config; a restart is needed to start them");
		return 0;
	}
	warn_fixed(&t->fixed, &newconf->telemetry);
	if (!(h = calloc(1, sizeof *h)) || !(h->node = strdup(node_name(newconf)))) {
		free(h);
		return -ENOMEM;
	}
	if (newconf->geoip_city || newconf->geoip_asn) {
		if ((rc = sk_geo_open(newconf->geoip_city, newconf->geoip_asn, &h->geo)) < 0)
			sk_err("telemetry: cannot reopen the geoip databases (%s); the ones in use are kept",
				sk_strerror(rc));
		else
			h->set_geo = true;
	} else {
		h->set_geo = true; /* no database named any more: geolocation off */
	}
	/* A handover the thread has not taken yet is replaced, and freed here: it never saw it. */
	free_handover(atomic_exchange(&t->next, h));
	return rc;
}

void sk_telemetry_reopen(sk_telemetry_t *t)
{
	if (t)
		atomic_store(&t->reopen, true);
}

void sk_telemetry_stop(sk_telemetry_t *t)
{
	if (!t)
		return;
	atomic_store(&t->stop, true);
	pthread_join(t->thread, NULL);
	free_telemetry(t);
}

void sk_telemetry_stats(sk_telemetry_t *t, sk_telemetry_stats_t *out)
{
	memset(out, 0, sizeof *out);
	if (!t)
		return;
	out->processed = atomic_load_explicit(&t->processed, memory_order_relaxed);
	for (unsigned i = 0; i < t->nrings; i++)
		out->dropped += sk_ring_dropped(t->rings[i]);
	out->nsinks = t->nsinks;
	for (unsigned s = 0; s < t->nsinks; s++) {
		out->sink[s].name = t->sinks[s].ops->name;
		out->sink[s].written = t->written[s];
		out->sink[s].failed = t->failed[s];
		out->sink[s].reconnects = t->reconnects[s];
		out->sink[s].spools = t->sinks[s].ops->spools;
		out->sink[s].spooled = t->spooled[s];
		out->sink[s].replayed = t->replayed[s];
		out->sink[s].in_spool = t->in_spool[s];
	}
}
