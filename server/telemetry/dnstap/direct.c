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
 * cache line moved between cores. The sockets keep the I/O thread: a reader may stall, and the
 * telemetry thread must not wait for it.
 *
 * Here each data frame (its 32-bit big-endian length, then the payload, as Frame Streams
 * defines it) is packed straight into one buffer, and a batch is one write(2) of one contiguous
 * buffer. libfstrm's writer still opens the stream (START with the content type) and ends it
 * (STOP). Handing it the payloads instead (fstrm_writer_writev) put a 4-byte length before
 * each ~200-byte payload as a separate iovec, and the kernel's copy into the page cache costs
 * per iovec segment: about 40 segments a page, twice the time per byte of one buffer.
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
	if (!err && d->len && sk_dtio_write_frames(d->io, d->buf, d->len) != 0) {
		close_writer(d);
		err = -EIO;
	}
	if (err)
		d->failed += d->records;
	else
		d->written += d->records;
	d->len = 0;
	d->records = 0;
	return err;
}

int sk_dtdirect_put(sk_dtdirect_t *d, const sk_dnstap_rec_t *r)
{
	size_t need = 0;
	for (unsigned i = 0; i < r->n; i++)
		need += 4 + r->msg[i].len;
	if (need > SK_DTDIRECT_BYTES)
		return -EMSGSIZE;
	if (d->len + need > SK_DTDIRECT_BYTES)
		(void)sk_dtdirect_flush(d);
	for (unsigned i = 0; i < r->n; i++) {
		uint8_t *p = d->buf + d->len;
		size_t len = r->msg[i].len;
		p[0] = (uint8_t)(len >> 24);
		p[1] = (uint8_t)(len >> 16);
		p[2] = (uint8_t)(len >> 8);
		p[3] = (uint8_t)len;
		sk_dnstap_write(r, i, p + 4);
		d->len += 4 + len;
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
