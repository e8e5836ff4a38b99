/* direct.c -- a dnstap file written by the telemetry thread itself, in batches, with no queue */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/dnstap/dnstap_int.h"
#include "util/err.h"
#include "util/log.h"

/*
 * Why a file does not go through libfstrm's I/O thread as sockets do: a file never makes the
 * writer wait for a reader, so the thread hop buys nothing, and it cost more than the writing:
 * a malloc per frame, and per frame a queue entry with a full memory fence on both sides and a
 * cache line moved between cores. Here frames are packed straight into one buffer and handed to
 * libfstrm's writer (the framing, START and STOP are still libfstrm's) a batch at a time: one
 * writev per batch. The sockets keep the I/O thread: a reader may stall, and the telemetry
 * thread must not wait for it.
 */

int sk_dtdirect_init(sk_dtdirect_t *d, sk_dtio_t *io)
{
	memset(d, 0, sizeof *d);
	d->io = io;
	d->buf = malloc(SK_DTDIRECT_BYTES);
	return d->buf ? 0 : -ENOMEM;
}

/* Open the file and start the stream (the START frame). 0 or a negative errno. */
static int open_writer(sk_dtdirect_t *d)
{
	if (!(d->w = sk_dtio_writer(d->io)))
		return -ENOMEM;
	if (fstrm_writer_open(d->w) != fstrm_res_success) {
		fstrm_writer_destroy(&d->w);
		d->w = NULL;
		return -EIO;
	}
	return 0;
}

int sk_dtdirect_open(sk_dtdirect_t *d)
{
	int err = sk_dtio_preopen(d->io);
	return err ? err : open_writer(d);
}

/* Finish the stream (the STOP frame) and close the file; the writer is gone either way. */
static void close_writer(sk_dtdirect_t *d)
{
	if (!d->w)
		return;
	(void)fstrm_writer_close(d->w);
	fstrm_writer_destroy(&d->w);
	d->w = NULL;
}

/*
 * Write the batch: its records are written or failed as a whole (a record's frames never span
 * two batches). A file that failed is reopened here, no sooner than io.c's pause allows, as a
 * new file (the one at the path, if it holds data, is kept under another name).
 */
int sk_dtdirect_flush(sk_dtdirect_t *d)
{
	int err = 0;
	if (!d->w)
		err = open_writer(d);
	if (!err && d->niov &&
		fstrm_writer_writev(d->w, d->iov, (int)d->niov) != fstrm_res_success) {
		close_writer(d);
		err = -EIO;
	}
	if (err)
		d->failed += d->records;
	else
		d->written += d->records;
	d->len = 0;
	d->niov = 0;
	d->records = 0;
	return err;
}

int sk_dtdirect_put(sk_dtdirect_t *d, const sk_dnstap_msg_t *msg, unsigned n)
{
	size_t need = 0;
	for (unsigned i = 0; i < n; i++)
		need += msg[i].len;
	if (need > SK_DTDIRECT_BYTES)
		return -EMSGSIZE;
	if (d->len + need > SK_DTDIRECT_BYTES || d->niov + n > SK_DNSTAP_BATCH_FRAMES)
		(void)sk_dtdirect_flush(d);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *p = d->buf + d->len;
		sk_dnstap_write(&msg[i], p);
		d->iov[d->niov++] = (struct iovec){ .iov_base = p, .iov_len = msg[i].len };
		d->len += msg[i].len;
	}
	d->records++;
	return 0;
}

void sk_dtdirect_close(sk_dtdirect_t *d)
{
	if (d->records)
		(void)sk_dtdirect_flush(d);
	close_writer(d);
	free(d->buf);
	d->buf = NULL;
}

int sk_dtdirect_reopen(sk_dtdirect_t *d)
{
	if (d->records)
		(void)sk_dtdirect_flush(d);
	close_writer(d);
	return sk_dtdirect_open(d);
}
