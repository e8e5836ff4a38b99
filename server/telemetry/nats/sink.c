/* sink.c -- the NATS sink's telemetry-thread side: records as JSON lines, handed over in chunks */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/nats.h"
#include "telemetry/nats/nats_int.h"
#include "util/err.h"
#include "util/log.h"

/* ---- chunks ---- */

void sk_nats_list_push(sk_nats_list_t *l, sk_nats_chunk_t *c)
{
	c->next = NULL;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	l->n++;
}

sk_nats_chunk_t *sk_nats_list_pop(sk_nats_list_t *l)
{
	sk_nats_chunk_t *c = l->head;
	if (!c)
		return NULL;
	l->head = c->next;
	if (!l->head)
		l->tail = NULL;
	l->n--;
	c->next = NULL;
	return c;
}

void sk_nats_list_take(sk_nats_list_t *to, sk_nats_list_t *from)
{
	if (!from->head)
		return;
	if (to->tail)
		to->tail->next = from->head;
	else
		to->head = from->head;
	to->tail = from->tail;
	to->n += from->n;
	*from = (sk_nats_list_t){ NULL, NULL, 0 };
}

sk_nats_chunk_t *sk_nats_chunk_get(sk_nats_t *n)
{
	pthread_mutex_lock(&n->mu);
	sk_nats_chunk_t *c = sk_nats_list_pop(&n->spare);
	pthread_mutex_unlock(&n->mu);
	if (!c && !(c = malloc(sizeof *c)))
		return NULL;
	c->next = NULL;
	c->len = c->off = 0;
	c->nrec = 0;
	return c;
}

void sk_nats_chunk_put_list(sk_nats_t *n, sk_nats_list_t *l)
{
	sk_nats_chunk_t *c;
	pthread_mutex_lock(&n->mu);
	while (n->spare.n < SK_NATS_FREE_CHUNKS && (c = sk_nats_list_pop(l)))
		sk_nats_list_push(&n->spare, c);
	pthread_mutex_unlock(&n->mu);
	while ((c = sk_nats_list_pop(l)))
		free(c);
}

static void free_list(sk_nats_list_t *l)
{
	sk_nats_chunk_t *c;
	while ((c = sk_nats_list_pop(l)))
		free(c);
}

/* ---- record ids and subjects ---- */

const char *sk_nats_record_id(const char *line, size_t len, size_t *id_len)
{
	static const char key[] = ",\"record_id\":\"";
	/* Inside a JSON string a quote is escaped, so the first unescaped match is the member. */
	const char *p = memmem(line, len, key, sizeof key - 1);
	const char *q;
	*id_len = 0;
	if (!p)
		return NULL;
	p += sizeof key - 1;
	q = memchr(p, '"', len - (size_t)(p - line));
	if (!q || q == p)
		return NULL;
	*id_len = (size_t)(q - p);
	return p;
}

size_t sk_nats_subject(char *out, size_t cap, const char *prefix, const char *id, size_t id_len)
{
	size_t plen = strlen(prefix), nlen = 0, o;
	while (nlen < id_len && id[nlen] != ':')
		nlen++;
	if (plen + 2 + (nlen ? nlen : 1) > cap)
		return 0;
	memcpy(out, prefix, plen);
	o = plen;
	out[o++] = '.';
	if (nlen == 0)
		out[o++] = '_';
	for (size_t i = 0; i < nlen; i++)
		out[o++] = id[i] == '.' ? '_' : id[i];
	out[o] = '\0';
	return o;
}

/* ---- the sink ---- */

/* The current chunk goes to the I/O thread, or, when it is too far behind, is lost (counted). */
static void hand_over(sk_nats_t *n)
{
	sk_nats_chunk_t *c = n->cur;
	uint32_t nrec;
	bool full;

	if (!c || c->nrec == 0)
		return;
	n->cur = NULL;
	nrec = c->nrec;
	pthread_mutex_lock(&n->mu);
	full = n->queue.n >= SK_NATS_QUEUE_CHUNKS;
	if (!full) {
		sk_nats_list_push(&n->queue, c);
		pthread_cond_signal(&n->wake);
		c = NULL;
	} else if (n->spare.n < SK_NATS_FREE_CHUNKS) {
		sk_nats_list_push(&n->spare, c);
		c = NULL;
	}
	pthread_mutex_unlock(&n->mu);
	free(c);
	if (full) {
		atomic_fetch_add(&n->failed, nrec);
		if (!n->said_queue_full)
			sk_err("nats: the I/O thread is %u chunks behind (is the spool's disk too slow?); "
				"records are counted as failed until it catches up", SK_NATS_QUEUE_CHUNKS);
	}
	n->said_queue_full = full;
}

static int nats_open(void **state, const void *conf)
{
	const sk_nats_conf_t *c = conf;
	sk_nats_t *n = calloc(1, sizeof *n);
	int rc = -ENOMEM;

	if (!n)
		return -ENOMEM;
	n->spool.fd = -1;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->wake, NULL);
	if ((rc = sk_nats_conf_copy(c, &n->conf)) < 0)
		goto fail;
	/* A spool that cannot be opened is an error to fix now: without it an outage loses records. */
	if ((rc = sk_spool_open(&n->spool, c->spool_path, (uint64_t)c->spool_max_mb << 20)) < 0) {
		sk_err("nats: cannot open the spool %s: %s", c->spool_path, sk_strerror(rc));
		goto fail;
	}
	atomic_store(&n->in_spool, n->spool.pending);
	if (n->spool.pending)
		sk_info("nats: spool %s holds %llu records from before; they are sent once the bus "
			"takes records", c->spool_path, (unsigned long long)n->spool.pending);
	if ((rc = sk_nats_bus_start(n)) < 0) {
		sk_err("nats: cannot start the I/O thread: %s", sk_strerror(rc));
		goto fail;
	}
	*state = n;
	return 0;
fail:
	sk_spool_close(&n->spool);
	sk_nats_conf_free(n->conf);
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->mu);
	free(n);
	return rc;
}

static int nats_emit(void *state, const sk_record_t *rec)
{
	sk_nats_t *n = state;
	size_t k = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (!n->cur && !(n->cur = sk_nats_chunk_get(n)))
			break;
		k = sk_jsonl_format(n->cur->buf + n->cur->len, SK_NATS_CHUNK_SIZE - n->cur->len, rec,
			&n->clock);
		if (k || n->cur->len == 0)
			break;
		hand_over(n);
	}
	if (k == 0) {
		/* Out of memory, or a record longer than a whole chunk (absurd tags). */
		atomic_fetch_add(&n->failed, 1);
		return n->cur ? SK_ETOOBIG : -ENOMEM;
	}
	n->cur->len += k;
	n->cur->nrec++;
	return 0;
}

/* Every flush interval the records gathered so far go to the I/O thread, however few. */
static int nats_flush(void *state)
{
	hand_over(state);
	return 0;
}

static int nats_reopen(void *state)
{
	(void)state;
	return 0;
}

static void nats_stats(void *state, sk_sink_stats_t *out)
{
	sk_nats_t *n = state;
	out->written = atomic_load_explicit(&n->written, memory_order_relaxed);
	out->failed = atomic_load_explicit(&n->failed, memory_order_relaxed);
	out->reconnects = atomic_load_explicit(&n->reconnects, memory_order_relaxed);
	out->spooled = atomic_load_explicit(&n->spooled, memory_order_relaxed);
	out->replayed = atomic_load_explicit(&n->replayed, memory_order_relaxed);
	out->in_spool = atomic_load_explicit(&n->in_spool, memory_order_relaxed);
}

static void nats_close(void *state, sk_sink_stats_t *final)
{
	sk_nats_t *n = state;
	if (!n)
		return;
	hand_over(n);
	free(n->cur);
	n->cur = NULL;
	/* Drains, spools what the bus did not acknowledge, closes the spool. */
	sk_nats_bus_stop(n);
	if (final)
		nats_stats(n, final);
	sk_info("nats: closed; %llu records written, %llu failed, %llu spooled, %llu replayed; "
		"%llu left in the spool for the next start",
		(unsigned long long)atomic_load(&n->written), (unsigned long long)atomic_load(&n->failed),
		(unsigned long long)atomic_load(&n->spooled), (unsigned long long)atomic_load(&n->replayed),
		(unsigned long long)atomic_load(&n->in_spool));
	free_list(&n->queue);
	free_list(&n->retry);
	free_list(&n->spare);
	sk_nats_conf_free(n->conf);
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->mu);
	free(n);
}

const sk_sink_ops_t sk_nats_ops = {
	.name = "nats",
	.spools = true,
	.texts = true,
	.open = nats_open,
	.emit = nats_emit,
	.flush = nats_flush,
	.reopen = nats_reopen,
	.close = nats_close,
	.stats = nats_stats,
};
