/* dnstap_int.h -- internals shared by the dnstap sink's files: transport and message packing */
#ifndef SK_DNSTAP_INT_H
#define SK_DNSTAP_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <fstrm.h>

#include "dnstap.pb-c.h"

#include "conf/conf.h"
#include "dns/wire.h"
#include "telemetry/sink.h"
#include "util/pagecache.h"

#define SK_DNSTAP_CONTENT_TYPE "protobuf:dnstap.Dnstap"

/* How long a reader may stall a write or the handshake, and a connect may take, before the
 * destination counts as gone. Bounds how long close() can wait on a dead reader. */
#define SK_DNSTAP_IO_TIMEOUT_MS 2000

/* After the destination failed, how long before it is tried again: SK_DNSTAP_RETRY_MS, doubled
 * at each failure that follows up to SK_DNSTAP_RETRY_MAX_MS, back to the start once records go
 * through. Records arriving meanwhile are counted failed at once rather than queued behind a
 * reader that has just stalled; the cap bounds what a reader that comes back misses. */
#define SK_DNSTAP_RETRY_MS 1000
#define SK_DNSTAP_RETRY_MAX_MS 8000

/* Frames the I/O thread gathers into one write (its output queue), and the iovec entries that
 * takes: libfstrm's writer gives each frame a length entry and a data entry. */
#define SK_DNSTAP_BATCH_FRAMES 512
#define SK_DNSTAP_IOV (2 * SK_DNSTAP_BATCH_FRAMES)

/*
 * The destination under libfstrm's writer (io.c). The sink owns this struct; libfstrm's I/O
 * thread calls its operations, and is then the only thread that touches it, until
 * fstrm_iothr_destroy() has returned.
 */
typedef struct sk_dtio {
	sk_dnstap_mode_t mode;
	char *path;                     /* file or unix socket path (owned) */
	struct sockaddr_storage addr;   /* SK_DNSTAP_TCP */
	socklen_t addrlen;
	char where[128];                /* the destination as text, for logs */
	int fd;                         /* -1 when closed */
	bool preopened;                 /* fd is a file sk_dtio_preopen() opened, not yet used */
	bool ok;                        /* the destination took everything written since it was
	                                   opened: frames released now were delivered */
	uint64_t retry_at_ms;           /* CLOCK_MONOTONIC: no reopening before this */
	uint64_t retry_ms;              /* the pause after the next failure (backoff) */
	bool lost;                      /* failed since last opened: the next open is a reconnect */
	_Atomic uint64_t reconnects;    /* opened again after a failure (read by the sink's stats) */
	uint64_t warned_ms;             /* when an outage was last logged */
	bool down_logged;               /* an outage was logged; log the recovery */
	sk_pagecache_t pc;              /* SK_DNSTAP_FILE: bytes written, kept out of the cache */
	struct iovec iov[SK_DNSTAP_IOV]; /* op_write's working copy of a batch */
} sk_dtio_t;

/* Fill `io` for `conf` (copies the path). 0, -EINVAL for an unusable conf, -ENAMETOOLONG for
 * a unix path that does not fit sockaddr_un, -ENOMEM. Opens nothing. */
int sk_dtio_init(sk_dtio_t *io, const sk_dnstap_conf_t *conf);

/* Close the destination if open and free the path. Only when no I/O thread uses `io`. */
void sk_dtio_fini(sk_dtio_t *io);

/*
 * Open a file destination now, from the calling thread, so that a path that cannot be written
 * is an error at open rather than a stream of failed records; the I/O thread then finds it open.
 * A file with data already at the path is first renamed aside (see telemetry/dnstap.h).
 * Sockets do nothing here: their reader may come later. 0 or a negative errno.
 */
int sk_dtio_preopen(sk_dtio_t *io);

/* A new fstrm writer over `io`, with the dnstap content type, bidirectional for sockets (the
 * READY/ACCEPT handshake) and unidirectional for a file. NULL on failure. `io` must outlive it. */
struct fstrm_writer *sk_dtio_writer(sk_dtio_t *io);

/* Write data frames already framed (each a 32-bit big-endian length and the payload) to a file
 * destination whose writer is open, as the writer's own writes go: a failure closes it and
 * counts as an outage. 0 or -EIO. */
int sk_dtio_write_frames(sk_dtio_t *io, const void *frames, size_t len);

/* Room for the extra JSON; a record whose JSON would be longer gets {"seq":N} (see message.c). */
#define SK_DNSTAP_EXTRA_MAX 16384

/* Write the extra JSON of `rec` (layout in telemetry/dnstap.h) into out[0..cap); returns its
 * length (never 0 for cap >= 64). Never allocates. */
size_t sk_dnstap_extra(char *out, size_t cap, const sk_record_t *rec);

/* The extra JSON of an AUTH_RESPONSE: {"seq":N} only, which joins it to its AUTH_QUERY (and to
 * the JSON lines record); the rest travels once, with the query. */
size_t sk_dnstap_extra_seq(char *out, size_t cap, const sk_record_t *rec);

/* The fields every payload shares (type, version, identity), packed once per node identity by
 * sk_dnstap_prepare(). Zero-initialise; free with sk_dnstap_head_fini(). */
typedef struct sk_dnstap_head {
	uint8_t *bytes;
	size_t len;
	char *node;     /* the identity they were packed for (NULL: none) */
	uint64_t gen;   /* and its sk_record_t.node_gen (0: unknown, compare the text) */
} sk_dnstap_head_t;

void sk_dnstap_head_fini(sk_dnstap_head_t *h);

/* The Message fields a record's AUTH_QUERY and AUTH_RESPONSE share, packed: socket family and
 * protocol, two IPv6 addresses, two ports, the query time and a zone of 255 bytes, with their
 * tags and lengths (about 330 bytes). */
#define SK_DNSTAP_SHARED_MAX 384
/* A Message's own fields: its type, and the query (AUTH_QUERY) or the response time and the
 * reply of a header and a question (AUTH_RESPONSE). */
#define SK_DNSTAP_OWN_MAX (SK_EV_QUERY_MAX + 64)

/* One payload: the head, then the Message (its own fields, then the shared ones), then extra. */
typedef struct sk_dnstap_msg {
	const char *extra;
	size_t extra_len;
	size_t own_len;                 /* in `own` */
	size_t mlen;                    /* the Message: own_len + the shared fields */
	size_t len;                     /* the whole payload */
	uint8_t own[SK_DNSTAP_OWN_MAX];
} sk_dnstap_msg_t;

/*
 * One record's payloads, ready to be written: sk_dnstap_prepare() fills and sizes them (each
 * msg[i].len), so the caller can find room, then sk_dnstap_write() copies payload i there. It
 * points into the record and the extra texts, which must stay as they are in between.
 */
typedef struct sk_dnstap_rec {
	const sk_dnstap_head_t *head;
	unsigned n;                     /* payloads: 1 (AUTH_QUERY) or 2 (and AUTH_RESPONSE) */
	size_t shared_len;
	uint8_t shared[SK_DNSTAP_SHARED_MAX];
	uint8_t reply[SK_HDR_LEN + 255 + 4];
	uint8_t zone[255];
	sk_dnstap_msg_t msg[2];
} sk_dnstap_rec_t;

/* Prepare the payloads of `rec`: AUTH_QUERY with `extra` (extra_len bytes, may be 0) and, when
 * `response` (see sk_dnstap_has_response()), AUTH_RESPONSE with `rextra`. 0, or -ENOMEM when
 * the head could not be packed. Never allocates otherwise. */
int sk_dnstap_prepare(sk_dnstap_head_t *head, const sk_record_t *rec, const char *extra,
	size_t extra_len, bool response, const char *rextra, size_t rextra_len, sk_dnstap_rec_t *out);

/* Write payload i of a prepared record into out[0 .. r->msg[i].len). */
void sk_dnstap_write(const sk_dnstap_rec_t *r, unsigned i, uint8_t *out);

/* Does `rec` get an AUTH_RESPONSE (when responses are on)? Only when a reply was sent. */
bool sk_dnstap_has_response(const sk_record_t *rec);

/* ---- direct.c: a file written by the telemetry thread, a batch per system call ---- */

#define SK_DTDIRECT_BYTES (1u << 20)     /* the batch buffer, frames with their lengths; a record always fits */

typedef struct sk_dtdirect {
	sk_dtio_t *io;                  /* the destination (a file) */
	struct fstrm_writer *w;         /* NULL: not open (failed; the next flush tries again) */
	uint8_t *buf;                   /* the batch's data frames (length, payload), back to back */
	size_t len;
	uint64_t records;               /* whole records in the batch */
	uint64_t written, failed;       /* records, since start */
} sk_dtdirect_t;

/* Allocate the batch; opens nothing. 0 or -ENOMEM. */
int sk_dtdirect_init(sk_dtdirect_t *d, sk_dtio_t *io);
/* Open the file now (errors are the caller's to report) and write the stream's START. */
int sk_dtdirect_open(sk_dtdirect_t *d);
/* Add one record's payloads to the batch, writing the batch first when they do not fit.
 * 0, or -EMSGSIZE for a record larger than the batch (never with SK_EV_QUERY_MAX queries). */
int sk_dtdirect_put(sk_dtdirect_t *d, const sk_dnstap_rec_t *r);
/* Write the batch (one write); reopen a file that failed. 0 or a negative errno. */
int sk_dtdirect_flush(sk_dtdirect_t *d);
/* SIGUSR1: write the batch, finish the file, start a new one at the path. */
int sk_dtdirect_reopen(sk_dtdirect_t *d);
/* Write the batch, finish the file (STOP), free the batch. */
void sk_dtdirect_close(sk_dtdirect_t *d);

#endif
