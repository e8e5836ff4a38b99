/* pipe.c -- a reader thread (read, split, scan) and the counting thread, joined by a block queue */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input.h"
#include "pipe.h"
#include "scan.h"

/*
 * Why two threads: scanning a line and counting it cost about the same, and counting is all
 * cache misses into big tables while scanning streams through the block; on two cores the
 * reader keeps the counter fed. The counter owns every table, so nothing else is shared but
 * the queue.
 */

#define BLOCK (8u << 20)
#define LINE_MAX_BYTES (4u << 20)
#define NBLOCKS 4
#define MALFORMED_SHOWN 5

typedef struct batch {
	char *buf;                /* BLOCK bytes: whole lines; items point into it */
	rp_item_t *items;
	uint32_t n, cap;
	struct batch *next;
} batch_t;

typedef struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	batch_t *free_list, *head, *tail;
	bool done, stop;
	int error;                /* the reader's: a negative errno */
	size_t error_file;
	rp_report_t *r;
	batch_t blocks[NBLOCKS];
} pipe_t;

static batch_t *take(pipe_t *p, bool full)
{
	batch_t *b = NULL;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (full && p->head) {
			b = p->head;
			p->head = b->next;
			if (!p->head)
				p->tail = NULL;
			break;
		}
		if (!full && p->free_list) {
			b = p->free_list;
			p->free_list = b->next;
			break;
		}
		if ((full && p->done) || (!full && p->stop))
			break;
		pthread_cond_wait(&p->cv, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return b;
}

static void give(pipe_t *p, batch_t *b, bool full)
{
	pthread_mutex_lock(&p->mu);
	b->next = NULL;
	if (full) {
		if (p->tail)
			p->tail->next = b;
		else
			p->head = b;
		p->tail = b;
	} else {
		b->next = p->free_list;
		p->free_list = b;
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* ---- the reader ---- */

typedef struct reader {
	pipe_t *p;
	rp_input_stat_t *in;
	uint64_t lineno;
	bool skipping;            /* the rest of a line too long to be a record */
	char *carry;              /* a partial line between blocks */
	size_t carry_len;
} reader_t;

static void malformed(reader_t *rd)
{
	rp_input_stat_t *in = rd->in;
	in->malformed++;
	if (!in->first_bad)
		in->first_bad = rd->lineno;
	if (in->malformed <= MALFORMED_SHOWN)
		fprintf(stderr, "%s:%llu: not a telemetry record, skipped\n", in->path, (unsigned long long)rd->lineno);
}

static int one_line(reader_t *rd, batch_t *b, const char *line, size_t len)
{
	rp_rec_t rec;
	rd->lineno++;
	if (len && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return 0;
	if (b->n == b->cap) {
		uint32_t ncap = b->cap ? b->cap * 2 : 16384;
		rp_item_t *ni = realloc(b->items, ncap * sizeof *ni);
		if (!ni)
			return -ENOMEM;
		b->items = ni;
		b->cap = ncap;
	}
	if (rp_scan(line, len, &rec) < 0 || rp_agg_prepare(&rec, &b->items[b->n]) < 0) {
		malformed(rd);
		return 0;
	}
	b->n++;
	return 0;
}

/* The lines of buf[0..end): complete ones, and at the end of the file the last one. What is
 * left (a partial line) goes to the carry. */
static int split(reader_t *rd, batch_t *b, size_t end, bool eof)
{
	char *p = b->buf, *stop = b->buf + end;
	int rc;
	for (;;) {
		char *nl = memchr(p, '\n', (size_t)(stop - p));
		if (!nl)
			break;
		if (rd->skipping)
			rd->skipping = false;   /* the end of a line that was cut: not counted again */
		else if ((rc = one_line(rd, b, p, (size_t)(nl - p))) < 0)
			return rc;
		p = nl + 1;
	}
	size_t rest = (size_t)(stop - p);
	rd->carry_len = 0;
	if (rest && eof) {
		if (!rd->skipping)
			return one_line(rd, b, p, rest);
		return 0;
	}
	if (rest >= LINE_MAX_BYTES) {
		/* No record is megabytes long: count it as one bad line, drop the rest of it. */
		if (!rd->skipping) {
			rd->lineno++;
			malformed(rd);
		}
		rd->skipping = true;
		return 0;
	}
	memcpy(rd->carry, p, rest);
	rd->carry_len = rest;
	return 0;
}

static int read_file(reader_t *rd, size_t f)
{
	pipe_t *p = rd->p;
	rp_src_t *src = NULL;
	int rc = rp_src_open(rd->in->path, &src);
	rd->lineno = 0;
	rd->skipping = false;
	rd->carry_len = 0;
	while (rc == 0) {
		batch_t *b = take(p, false);
		if (!b) {
			rc = -ECANCELED;
			break;
		}
		b->n = 0;
		memcpy(b->buf, rd->carry, rd->carry_len);
		ssize_t got = rp_src_read(src, b->buf + rd->carry_len, BLOCK - rd->carry_len);
		if (got < 0) {
			give(p, b, false);
			rc = (int)got;
			break;
		}
		rc = split(rd, b, rd->carry_len + (size_t)got, got == 0);
		give(p, b, true);
		if (got == 0)
			break;
	}
	rp_src_close(src);
	rd->in->lines = rd->lineno;
	if (rc < 0 && rc != -ECANCELED) {
		pthread_mutex_lock(&p->mu);
		p->error = rc;
		p->error_file = f;
		pthread_mutex_unlock(&p->mu);
	}
	return rc;
}

static void *reader_main(void *arg)
{
	pipe_t *p = arg;
	reader_t rd = { .p = p, .carry = malloc(LINE_MAX_BYTES) };
	if (!rd.carry) {
		pthread_mutex_lock(&p->mu);
		p->error = -ENOMEM;
		pthread_mutex_unlock(&p->mu);
	}
	for (size_t f = 0; rd.carry && f < p->r->ninputs; f++) {
		rd.in = &p->r->inputs[f];
		if (read_file(&rd, f) < 0)
			break;
	}
	free(rd.carry);
	pthread_mutex_lock(&p->mu);
	p->done = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* ---- the counter: this thread ---- */

int rp_read_inputs(rp_report_t *r)
{
	pipe_t p = { .r = r };
	pthread_t t;
	int rc = 0, nomem = 0;

	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	for (int i = 0; i < NBLOCKS; i++) {
		if (!(p.blocks[i].buf = malloc(BLOCK))) {
			nomem = 1;
			goto out;
		}
		give(&p, &p.blocks[i], false);
	}
	if (pthread_create(&t, NULL, reader_main, &p) != 0) {
		nomem = 1;
		goto out;
	}
	batch_t *b;
	while ((b = take(&p, true))) {
		for (uint32_t i = 0; i < b->n && !nomem; i++) {
			/* The next records' rows are in big tables: nothing to prefetch before hashing. */
			if (rp_agg_add_item(&r->agg, &b->items[i]) < 0)
				nomem = 1;
		}
		if (nomem) {
			pthread_mutex_lock(&p.mu);
			p.stop = true;
			pthread_cond_broadcast(&p.cv);
			pthread_mutex_unlock(&p.mu);
		}
		give(&p, b, false);
	}
	pthread_join(t, NULL);
	for (size_t i = 0; i < r->ninputs; i++) {
		r->agg.malformed += r->inputs[i].malformed;
		if (r->inputs[i].malformed > MALFORMED_SHOWN)
			fprintf(stderr, "%s: %llu lines in all were not telemetry records\n", r->inputs[i].path,
				(unsigned long long)r->inputs[i].malformed);
	}
	if (p.error == -ENOMEM)
		nomem = 1;
	else if (p.error) {
		fprintf(stderr, "sinkhole-report: %s: %s\n", r->inputs[p.error_file].path,
			p.error == -EBADMSG ? "corrupt or cut gzip data" : strerror(-p.error));
		rc = -1;
	}
out:
	if (nomem) {
		fprintf(stderr, "sinkhole-report: out of memory\n");
		rc = -1;
	}
	for (int i = 0; i < NBLOCKS; i++) {
		free(p.blocks[i].buf);
		free(p.blocks[i].items);
	}
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.mu);
	return rc;
}
