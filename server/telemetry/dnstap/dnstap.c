/* dnstap.c -- the dnstap sink: records packed on the telemetry thread, written by libfstrm's I/O thread */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <fstrm.h>

#include "telemetry/dnstap.h"
#include "telemetry/dnstap/dnstap_int.h"
#include "util/err.h"
#include "util/log.h"

/*
 * libfstrm's queue between this thread and its I/O thread, in frames. At most two frames per
 * record, so about 8192 records can wait while the destination is slow: a second of a busy
 * server. Beyond that, records are dropped here rather than held in memory.
 */
#define QUEUE_FRAMES 16384
/* The I/O thread sleeps up to a second between batches; it is woken early when the queue fills
 * past half, so a burst is written as it comes rather than overflowing. */
#define QUEUE_WAKE (QUEUE_FRAMES / 2)
/* Seconds between libfstrm's attempts to reopen a destination that failed (io.c adds its own
 * pause of SK_DNSTAP_RETRY_MS after a failure). */
#define REOPEN_S 1
/* The I/O thread writes once it holds this many bytes (libfstrm's largest; its default of 8 KiB
 * meant a system call every ~25 frames) or SK_DNSTAP_BATCH_FRAMES frames. */
#define BATCH_BYTES FSTRM_IOTHR_BUFFER_HINT_MAX

/* Frame position within its record, carried to frame_done() by the free callback's argument. */
enum { FRAME_FIRST = 1, FRAME_LAST = 2 };

struct dnstap_sink;
typedef struct frame_tag {
	struct dnstap_sink *s;
	unsigned flags;
} frame_tag_t;

typedef struct dnstap_sink {
	sk_dtio_t io;                 /* the destination; its `ok` tells frame_done() what arrived */
	struct fstrm_iothr *iothr;    /* NULL when (re)starting failed; flush() retries */
	struct fstrm_iothr_queue *q;
	bool responses;
	bool lost;                    /* I/O thread: a frame of the record being finished was lost */
	bool start_failed;            /* the last start() failed and was logged */
	frame_tag_t tag[4];           /* indexed by FRAME_* flags */
	sk_dnstap_head_t head;        /* the fields every payload shares, packed once */
	bool direct;                  /* a file: written by this thread (direct.c), no iothr */
	sk_dtdirect_t dw;
	_Atomic uint64_t written, failed;
	char extra[SK_DNSTAP_EXTRA_MAX];
	sk_dnstap_rec_t rec;          /* the record being written (large: kept off the stack) */
} dnstap_sink_t;

/*
 * libfstrm calls this on its I/O thread once it is done with a frame: right after writing the
 * batch holding it, or at once when it discards the frame because the destination is closed.
 * `io.ok` is false in the second case and after a failed write, so a record counts as written
 * only when every one of its frames went into a write that succeeded. Frames of one record are
 * consecutive in the one queue, so `lost` carries over from first to last frame.
 */
static void frame_done(void *buf, void *arg)
{
	const frame_tag_t *t = arg;
	dnstap_sink_t *s = t->s;
	free(buf);
	if (t->flags & FRAME_FIRST)
		s->lost = false;
	if (!s->io.ok)
		s->lost = true;
	if (t->flags & FRAME_LAST)
		atomic_fetch_add_explicit(s->lost ? &s->failed : &s->written, 1, memory_order_relaxed);
}

static int start(dnstap_sink_t *s)
{
	struct fstrm_writer *w = NULL;
	struct fstrm_iothr_options *opt = NULL;
	int err;
	if (s->direct) {
		err = s->dw.w ? 0 : sk_dtdirect_open(&s->dw);
		goto done;
	}
	if ((err = sk_dtio_preopen(&s->io)))
		goto done;
	w = sk_dtio_writer(&s->io);
	opt = fstrm_iothr_options_init();
	if (!w || !opt) {
		err = -ENOMEM;
		goto done;
	}
	if (fstrm_iothr_options_set_input_queue_size(opt, QUEUE_FRAMES) != fstrm_res_success ||
		fstrm_iothr_options_set_queue_notify_threshold(opt, QUEUE_WAKE) != fstrm_res_success ||
		fstrm_iothr_options_set_reopen_interval(opt, REOPEN_S) != fstrm_res_success ||
		fstrm_iothr_options_set_buffer_hint(opt, BATCH_BYTES) != fstrm_res_success ||
		fstrm_iothr_options_set_output_queue_size(opt, SK_DNSTAP_BATCH_FRAMES) !=
			fstrm_res_success ||
		fstrm_iothr_options_set_queue_model(opt, FSTRM_IOTHR_QUEUE_MODEL_SPSC) !=
			fstrm_res_success) {
		err = -EINVAL;
		goto done;
	}
	s->iothr = fstrm_iothr_init(opt, &w);   /* takes w */
	if (!s->iothr) {
		err = -ENOMEM;
		goto done;
	}
	s->q = fstrm_iothr_get_input_queue(s->iothr);
	if (!s->q) {
		fstrm_iothr_destroy(&s->iothr);
		err = -ENOMEM;
	}
done:
	if (w)
		fstrm_writer_destroy(&w);
	if (opt)
		fstrm_iothr_options_destroy(&opt);
	/* flush() retries every interval: say so once, and say when it works again. */
	if (err && !s->start_failed)
		sk_err("dnstap: %s: cannot start: %s", s->io.where, sk_strerror(err));
	else if (!err && s->start_failed)
		sk_info("dnstap: %s: writing again", s->io.where);
	s->start_failed = err != 0;
	return err;
}

/* Drain the queue into the destination, finish the stream and join the I/O thread. */
static void stop(dnstap_sink_t *s)
{
	if (s->iothr)
		fstrm_iothr_destroy(&s->iothr);
	s->iothr = NULL;
	s->q = NULL;
}

static int dnstap_open(void **state, const void *conf_)
{
	const sk_dnstap_conf_t *conf = conf_;
	dnstap_sink_t *s = calloc(1, sizeof *s);
	int err;
	if (!s)
		return -ENOMEM;
	err = sk_dtio_init(&s->io, conf);
	if (err) {
		sk_err("dnstap: unusable destination: %s", sk_strerror(err));
		goto fail;
	}
	s->responses = conf->responses;
	s->direct = conf->mode == SK_DNSTAP_FILE;
	if (s->direct && (err = sk_dtdirect_init(&s->dw, &s->io)))
		goto fail;
	for (unsigned i = 0; i < 4; i++)
		s->tag[i] = (frame_tag_t){ .s = s, .flags = i };
	err = start(s);
	if (err)
		goto fail;
	*state = s;
	return 0;
fail:
	free(s->dw.buf);
	sk_dtio_fini(&s->io);
	free(s);
	return err;
}

/* Queue the record's payloads for the I/O thread, each in a buffer of its own that libfstrm
 * frees (frame_done). On failure the record is lost; the caller counts it. */
static int queue(dnstap_sink_t *s, const sk_dnstap_rec_t *r)
{
	if (!s->iothr)
		return -EPIPE;
	for (unsigned i = 0; i < r->n; i++) {
		unsigned flags = (i == 0 ? FRAME_FIRST : 0) | (i == r->n - 1 ? FRAME_LAST : 0);
		uint8_t *buf = malloc(r->msg[i].len);
		if (!buf)
			return -ENOMEM;
		sk_dnstap_write(r, i, buf);
		if (fstrm_iothr_submit(s->iothr, s->q, buf, r->msg[i].len, frame_done,
			&s->tag[flags]) != fstrm_res_success) {
			free(buf);
			return -ENOBUFS;
		}
	}
	return 0;
}

static int dnstap_emit(void *state, const sk_record_t *rec)
{
	dnstap_sink_t *s = state;
	char seq[32];
	bool response = s->responses && sk_dnstap_has_response(rec);

	size_t xlen = sk_dnstap_extra(s->extra, sizeof s->extra, rec);
	size_t slen = response ? sk_dnstap_extra_seq(seq, sizeof seq, rec) : 0;
	int err = sk_dnstap_prepare(&s->head, rec, s->extra, xlen, response, seq, slen, &s->rec);
	if (!err)
		err = s->direct ? sk_dtdirect_put(&s->dw, &s->rec) : queue(s, &s->rec);
	if (!err)
		return 0;
	/* A query frame already queued is written, but without its last frame the record is
	 * not counted when it is released; it is counted here, once. */
	if (s->direct)
		s->dw.failed++;
	else
		atomic_fetch_add_explicit(&s->failed, 1, memory_order_relaxed);
	return err;
}

/* A file: write the batch (and reopen a file that failed). A socket: the I/O thread writes at
 * least once a second by itself; all that is left is to restart it if that failed. */
static int dnstap_flush(void *state)
{
	dnstap_sink_t *s = state;
	if (s->direct)
		return sk_dtdirect_flush(&s->dw);
	return s->iothr ? 0 : start(s);
}

/* SIGUSR1: logrotate has moved the file away; finish it and start a new one at the path. */
static int dnstap_reopen(void *state)
{
	dnstap_sink_t *s = state;
	if (!s->direct)
		return 0;
	int err = sk_dtdirect_reopen(&s->dw);
	if (err)
		sk_err("dnstap: %s: cannot reopen: %s; trying again at the next flush", s->io.where,
			sk_strerror(err));
	return err;
}

static void dnstap_stats(void *state, sk_sink_stats_t *out)
{
	dnstap_sink_t *s = state;
	out->written = s->direct ? s->dw.written
		: atomic_load_explicit(&s->written, memory_order_relaxed);
	out->failed = s->direct ? s->dw.failed
		: atomic_load_explicit(&s->failed, memory_order_relaxed);
	out->reconnects = atomic_load_explicit(&s->io.reconnects, memory_order_relaxed);
}

static void dnstap_close(void *state, sk_sink_stats_t *final)
{
	dnstap_sink_t *s = state;
	if (!s)
		return;
	if (s->direct)
		sk_dtdirect_close(&s->dw);
	else
		stop(s);
	/* Only now are the counters final: every record was written or failed. */
	if (final) {
		*final = (sk_sink_stats_t){ 0 };
		dnstap_stats(s, final);
	}
	sk_dtio_fini(&s->io);
	sk_dnstap_head_fini(&s->head);
	free(s);
}

const sk_sink_ops_t sk_dnstap_ops = {
	.name = "dnstap",
	.open = dnstap_open,
	.emit = dnstap_emit,
	.flush = dnstap_flush,
	.reopen = dnstap_reopen,
	.close = dnstap_close,
	.stats = dnstap_stats,
};
