/* tcp.c -- DNS over TCP (RFC 7766): framing, pipelining, limits, timeouts, eviction at the cap */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/respond.h"
#include "dns/wire.h"
#include "dns/xfr.h"
#include "net/net_int.h"
#include "util/log.h"

/* Queries over TCP are small; a frame longer than this is skipped unread, not answered. */
#define SK_TCP_INBUF 16384
/* A reply is built in place at the end of the output buffer, so there must always be room for
 * the largest one (length prefix included) before a frame is answered. The slack past that is
 * what lets replies queue up while a write is in flight. */
#define SK_TCP_REPLY_MAX (2 + SK_MSG_MAX)
#define SK_TCP_OUTBUF (SK_TCP_REPLY_MAX + 16384)

/*
 * One connection, allocated whole at accept and freed when both its handles are closed.
 *
 * Input: in[0..in_len) holds bytes received and not yet answered: complete frames waiting for
 * room in the output, then at most one partial frame. `skip` counts bytes of a frame we drop
 * (zero-length or longer than in[]) still to arrive.
 *
 * Output: out[0..out_len) holds length-prefixed replies in query order. One uv_write is in
 * flight at a time and covers out[0..out_busy); replies produced meanwhile are appended after
 * it and go in the next write, so a pipelining client gets several replies per system call.
 *
 * `stalled`: an answerable frame waits because tcp_max_pending replies are unwritten or the
 * output has no room for one more; reading stops until a write completes.
 *
 * Time limits (loop milliseconds, uv_now): `idle_at` is tcp_idle_timeout_ms after the last
 * progress; `frame_at`, when not 0, is tcp_query_timeout_ms after the first byte of the frame
 * now arriving. One timer runs to the earlier of the two.
 *
 * The worker's connections form a list in order of last progress, most recent first (prev/next;
 * w->conns is the head, w->conns_tail the tail): at tcp_max_clients the tail is evicted.
 *
 * `xfr`: a zone transfer being streamed. Its messages are written into out[] while there is room
 * for one, and more after each completed write; frames after the AXFR wait (the connection is
 * stalled) until its last message is out, so replies stay in query order. It holds its own
 * snapshot (dns/xfr.c), not the worker's batch.
 */
struct sk_tcp_conn {
	uv_tcp_t h;
	uv_timer_t timer;       /* the idle and per-query clocks, whichever is due first */
	uv_write_t wr;
	sk_worker_t *w;
	sk_tcp_conn_t *prev, *next;
	uint64_t idle_at, frame_at;
	unsigned handles;       /* of h and timer, still open */
	uint32_t in_len, skip;
	uint32_t out_len, out_busy;
	unsigned pending;       /* replies in out[] */
	unsigned busy_replies;  /* replies in out[0..out_busy) */
	bool reading, stalled, eof, closing;
	sk_xfr_t *xfr;          /* the transfer being streamed, or NULL */
	struct sockaddr_storage peer, local;   /* for cookies and telemetry, read once at accept */
	uint8_t in[SK_TCP_INBUF];
	uint8_t out[SK_TCP_OUTBUF];
};

static void conn_process(sk_tcp_conn_t *c);

static void on_conn_closed(uv_handle_t *h)
{
	sk_tcp_conn_t *c = h->data;
	if (--c->handles == 0)
		free(c);
}

static void lru_unlink(sk_tcp_conn_t *c)
{
	sk_worker_t *w = c->w;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		w->conns_tail = c->prev;
	c->prev = c->next = NULL;
}

static void lru_push_front(sk_tcp_conn_t *c)
{
	sk_worker_t *w = c->w;
	c->prev = NULL;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	else
		w->conns_tail = c;
	w->conns = c;
}

static void conn_close(sk_tcp_conn_t *c)
{
	if (c->closing)
		return;
	c->closing = true;
	/* A transfer cut short says so in its log line and lets its snapshot go. */
	sk_xfr_free(c->xfr);
	c->xfr = NULL;
	sk_worker_t *w = c->w;
	lru_unlink(c);
	w->nconn--;
	__atomic_store_n(&w->ctr.tcp_open, w->nconn, __ATOMIC_RELAXED);
	/* A write still in flight is cancelled by libuv (on_write sees UV_ECANCELED) before the
	 * close callbacks run, so nothing touches c after it is freed. */
	uv_close((uv_handle_t *)&c->h, on_conn_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void conn_arm(sk_tcp_conn_t *c);

/*
 * The connection's one timer: a frame that took longer than tcp_query_timeout_ms to arrive
 * (a client trickling bytes keeps the idle clock from running out, not this one), or no
 * progress for tcp_idle_timeout_ms.
 */
static void on_timer(uv_timer_t *t)
{
	sk_tcp_conn_t *c = t->data;
	uint64_t now = uv_now(&c->w->loop);
	if (c->frame_at && now >= c->frame_at) {
		sk_ctr_add(&c->w->ctr.tcp_query_timeouts, 1);
		conn_close(c);
	} else if (now >= c->idle_at) {
		sk_ctr_add(&c->w->ctr.tcp_timeouts, 1);
		conn_close(c);
	} else {
		conn_arm(c);
	}
}

static void conn_arm(sk_tcp_conn_t *c)
{
	uint64_t now = uv_now(&c->w->loop);
	uint64_t due = c->frame_at && c->frame_at < c->idle_at ? c->frame_at : c->idle_at;
	uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

/* Any progress, a read or a completed write, restarts the idle clock and makes the connection
 * the most recently active; a client that neither sends nor takes our replies is closed when
 * the clock runs out, and is the first to go when the worker is full. */
static void conn_touch(sk_tcp_conn_t *c)
{
	c->idle_at = uv_now(&c->w->loop) + c->w->limits->tcp_idle_timeout_ms;
	if (c->w->conns != c) {
		lru_unlink(c);
		lru_push_front(c);
	}
	conn_arm(c);
}

/* Read when there is room to answer and a reason to. */
static void conn_update_reading(sk_tcp_conn_t *c);

/* Close once the client has said all it will and we have written all we will. */
static void conn_maybe_finish(sk_tcp_conn_t *c)
{
	bool done_reading = c->eof || c->w->stopping;
	if (!c->closing && done_reading && c->out_len == 0 && !c->stalled)
		conn_close(c);
}

static void on_write(uv_write_t *req, int status)
{
	sk_tcp_conn_t *c = req->data;
	if (status < 0) {
		if (status != UV_ECANCELED) {
			sk_ctr_add(&c->w->ctr.tcp_errors, 1);
			conn_close(c);
		}
		return;
	}
	sk_ctr_add(&c->w->ctr.tcp_tx, c->busy_replies);
	memmove(c->out, c->out + c->out_busy, c->out_len - c->out_busy);
	c->out_len -= c->out_busy;
	c->pending -= c->busy_replies;
	c->out_busy = 0;
	c->busy_replies = 0;
	conn_touch(c);
	/* conn_process answers the frames that were waiting for room and writes. */
	conn_process(c);
	conn_maybe_finish(c);
}

/* Start a write of everything in out[] unless one is in flight. */
static void conn_flush(sk_tcp_conn_t *c)
{
	if (c->closing || c->out_busy || !c->out_len)
		return;
	uv_buf_t buf = uv_buf_init((char *)c->out, c->out_len);
	c->out_busy = c->out_len;
	c->busy_replies = c->pending;
	if (uv_write(&c->wr, (uv_stream_t *)&c->h, &buf, 1, on_write)) {
		sk_ctr_add(&c->w->ctr.tcp_errors, 1);
		conn_close(c);
	}
}

/*
 * The per-query clock: it starts at the first byte of a frame and stops when the frame is
 * complete. A stalled connection is not read, so the frame it holds cannot be finished by the
 * client; its clock waits until reading resumes.
 */
static void conn_frame_clock(sk_tcp_conn_t *c, bool frame_done)
{
	bool partial = !c->stalled && !c->closing && (c->in_len || c->skip);
	uint64_t at = c->frame_at;
	if (!partial)
		at = 0;
	else if (frame_done || !at)
		at = uv_now(&c->w->loop) + c->w->limits->tcp_query_timeout_ms;
	if (at != c->frame_at) {
		c->frame_at = at;
		if (!c->closing)
			conn_arm(c);
	}
}

/*
 * Write the transfer's next messages while out[] has room for one (about 16 KiB: the buffer
 * holds several, so one write carries several). Returns true once its last message is written
 * (the transfer is freed then), false while more must wait for a write (a record that needs a
 * larger message waits until the buffer is empty).
 */
static bool conn_xfr_pump(sk_tcp_conn_t *c, uint64_t now_s)
{
	while (SK_TCP_OUTBUF - c->out_len >= 2 + SK_XFR_ROOM) {
		size_t room = SK_TCP_OUTBUF - c->out_len - 2;
		size_t len = sk_xfr_next(c->xfr, c->out + c->out_len + 2, room < SK_MSG_MAX ? room : SK_MSG_MAX,
			now_s);
		if (!len && sk_xfr_done(c->xfr)) {
			sk_xfr_free(c->xfr);
			c->xfr = NULL;
			return true;
		}
		if (!len)
			return false;
		sk_put16(c->out + c->out_len, (uint16_t)len);
		c->out_len += 2 + (uint32_t)len;
		c->pending++;
	}
	return false;
}

/*
 * A transfer sk_respond accepted: start it (holding the batch's snapshot) and write its first
 * message in place of a reply. Returns that message's length (0: no memory, nothing answered).
 */
static size_t conn_xfr_start(sk_tcp_conn_t *c, const sk_snapshot_t *snap, sk_resp_info_t *info,
	uint64_t now_s)
{
	if (sk_xfr_new(snap, info, (const struct sockaddr *)&c->peer, &c->xfr) < 0)
		return 0;
	size_t len = sk_xfr_next(c->xfr, c->out + c->out_len + 2, SK_MSG_MAX, now_s);
	info->size = (uint16_t)len;
	info->flags = len ? sk_hdr_flags(c->out + c->out_len + 2) : 0;
	return len;
}

/*
 * Answer the complete frames in in[], in order, as far as the limits allow; keep the partial
 * frame at the front of in[]. The snapshot is entered only if a frame gets answered, and left
 * before any system call. A transfer in progress goes first; frames wait until it is done.
 */
static void conn_process(sk_tcp_conn_t *c)
{
	sk_worker_t *w = c->w;
	const sk_snapshot_t *snap = NULL;
	sk_resp_info_t info;
	uint32_t off = 0;
	unsigned frames = 0, dropped = 0;
	uint64_t now = 0;
	sk_client_t client = { .addr = (const struct sockaddr *)&c->peer };
	bool frame_done = false;    /* a frame ended here: a partial one left is a new one */

	c->stalled = false;
	while (!c->closing && !w->stopping) {
		if (c->xfr && !conn_xfr_pump(c, sk_now_us() / 1000000u)) {
			c->stalled = true;
			break;
		}
		uint32_t avail = c->in_len - off;
		if (c->skip) {
			uint32_t n = avail < c->skip ? avail : c->skip;
			c->skip -= n;
			off += n;
			if (c->skip)
				break;
			frame_done = true;
			continue;
		}
		if (avail < 2)
			break;
		uint16_t flen = sk_get16(c->in + off);
		if (flen == 0 || flen > SK_TCP_INBUF - 2) {
			/* Nothing we will answer; the connection stays usable. */
			frames++;
			dropped++;
			c->skip = flen;
			off += 2;
			frame_done |= flen == 0;
			continue;
		}
		if (avail < 2u + flen)
			break;
		if (c->pending >= w->limits->tcp_max_pending ||
		    SK_TCP_OUTBUF - c->out_len < SK_TCP_REPLY_MAX) {
			c->stalled = true;
			break;
		}
		if (!snap) {
			snap = sk_snapreg_enter(w->reg, w->id);
			/* One clock read per call (vDSO): telemetry's time, server cookies' stamp. */
			now = sk_now_us();
			client.now = (uint32_t)(now / 1000000u);
		}
		size_t len = sk_respond(snap, &client, c->in + off + 2, flen, SK_TRANSPORT_TCP,
			c->out + c->out_len + 2, SK_MSG_MAX, &info);
		if (info.xfr)
			len = conn_xfr_start(c, snap, &info, client.now);
		off += 2u + flen;
		frames++;
		frame_done = true;
		if (!len) {
			dropped++;
			continue;
		}
		sk_count_query(w->qs, &info, SK_TRANSPORT_TCP);
		if (w->ring)
			sk_capture(w->ring, &info, SK_TRANSPORT_TCP, (const struct sockaddr *)&c->peer,
				(const struct sockaddr *)&c->local, now, SK_RRL_NONE);
		sk_put16(c->out + c->out_len, (uint16_t)len);
		c->out_len += 2 + (uint32_t)len;
		c->pending++;
	}
	if (snap)
		sk_snapreg_leave(w->reg, w->id);
	if (frames)
		sk_ctr_add(&w->ctr.tcp_rx, frames);
	if (dropped)
		sk_ctr_add(&w->ctr.tcp_dropped, dropped);
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	conn_frame_clock(c, frame_done);
	conn_flush(c);
	conn_update_reading(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	sk_tcp_conn_t *c = h->data;
	(void)hint;
	/* Never empty while reading: a partial frame is shorter than in[], and a stalled
	 * connection does not read. */
	*buf = uv_buf_init((char *)c->in + c->in_len, SK_TCP_INBUF - c->in_len);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	sk_tcp_conn_t *c = s->data;
	(void)buf;
	if (nread == 0)
		return;
	if (nread < 0) {
		if (nread != UV_EOF) {
			sk_ctr_add(&c->w->ctr.tcp_errors, 1);
			conn_close(c);
			return;
		}
		/* The client is done sending (RFC 7766 s6.2.3: finish the replies, then close). */
		c->eof = true;
		conn_update_reading(c);
		conn_maybe_finish(c);
		return;
	}
	c->in_len += (uint32_t)nread;
	conn_touch(c);
	conn_process(c);
}

static void conn_update_reading(sk_tcp_conn_t *c)
{
	bool want = !c->closing && !c->stalled && !c->eof && !c->w->stopping;
	if (want == c->reading)
		return;
	if (want && uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read)) {
		sk_ctr_add(&c->w->ctr.tcp_errors, 1);
		conn_close(c);
		return;
	}
	if (!want)
		uv_read_stop((uv_stream_t *)&c->h);
	c->reading = want;
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

/*
 * A connection that cannot be taken on (no memory, or the worker is stopping) is accepted and
 * closed at once rather than left in the backlog: with SO_REUSEPORT the kernel keeps routing new
 * clients to this worker's listener, and a listener that stops accepting would leave them
 * hanging until their own timeout. A prompt close tells the client to retry.
 */
static void reject(uv_stream_t *server)
{
	sk_worker_t *w = ((sk_tcp_listener_t *)server->data)->w;
	uv_tcp_t *t = malloc(sizeof *t);
	if (!t) {
		/* libuv stops accepting until an accept succeeds; nothing better to do. */
		sk_err("tcp: out of memory, cannot accept");
		return;
	}
	uv_tcp_init(&w->loop, t);
	(void)uv_accept(server, (uv_stream_t *)t);
	uv_close((uv_handle_t *)t, free_handle);
	sk_ctr_add(&w->ctr.tcp_rejected, 1);
}

/* How far from the tail eviction looks for a connection with nothing in progress. */
#define SK_EVICT_SCAN 16

/*
 * The worker is at tcp_max_clients: make room by closing the connection that made progress
 * least recently, preferring one with nothing in progress (no partial query, no reply being
 * written) among the oldest few. Refusing the newcomer instead would let clients that connect
 * and then sit idle lock every real client out until their idle timeout; this way holding a
 * slot takes activity, and an idle flood only evicts itself.
 */
static void evict(sk_worker_t *w)
{
	sk_tcp_conn_t *c = w->conns_tail, *victim = c;
	for (unsigned i = 0; c && i < SK_EVICT_SCAN; c = c->prev, i++) {
		if (!c->in_len && !c->skip && !c->out_len) {
			victim = c;
			break;
		}
	}
	if (!victim)
		return;
	sk_ctr_add(&w->ctr.tcp_evicted, 1);
	conn_close(victim);
}

static void on_connection(uv_stream_t *server, int status)
{
	sk_worker_t *w = ((sk_tcp_listener_t *)server->data)->w;
	if (status < 0) {
		sk_ctr_add(&w->ctr.tcp_errors, 1);
		sk_debug("tcp accept: %s", uv_strerror(status));
		return;
	}
	if (w->stopping) {
		reject(server);
		return;
	}
	if (w->nconn >= w->limits->tcp_max_clients)
		evict(w);
	sk_tcp_conn_t *c = malloc(sizeof *c);
	if (!c) {
		reject(server);
		return;
	}
	/* Only the bookkeeping is cleared: the buffers are written before they are read. */
	memset(c, 0, offsetof(sk_tcp_conn_t, in));
	c->w = w;
	c->h.data = c->timer.data = c->wr.data = c;
	uv_tcp_init(&w->loop, &c->h);
	uv_timer_init(&w->loop, &c->timer);
	c->handles = 2;
	lru_push_front(c);
	w->nconn++;
	__atomic_store_n(&w->ctr.tcp_open, w->nconn, __ATOMIC_RELAXED);
	if (uv_accept(server, (uv_stream_t *)&c->h)) {
		sk_ctr_add(&w->ctr.tcp_errors, 1);
		conn_close(c);
		return;
	}
	sk_ctr_add(&w->ctr.tcp_accepted, 1);
	/* The peer is needed with telemetry off too: server cookies are made for its address. */
	int plen = sizeof c->peer, llen = sizeof c->local;
	if (uv_tcp_getpeername(&c->h, (struct sockaddr *)&c->peer, &plen) ||
	    uv_tcp_getsockname(&c->h, (struct sockaddr *)&c->local, &llen)) {
		/* Gone already: nothing to serve or record. */
		sk_ctr_add(&w->ctr.tcp_errors, 1);
		conn_close(c);
		return;
	}
	/* Replies are written whole; Nagle would hold the second of two pipelined replies back
	 * until the client acknowledges the first. */
	uv_tcp_nodelay(&c->h, 1);
	conn_touch(c);
	conn_update_reading(c);
}

int sk_tcp_listener_init(sk_worker_t *w, sk_tcp_listener_t *l, int fd)
{
	int rc = uv_tcp_init(&w->loop, &l->h);
	if (rc) {
		close(fd);
		return rc;
	}
	l->w = w;
	l->h.data = l;
	l->open = true;
	if ((rc = uv_tcp_open(&l->h, fd)))
		close(fd);   /* the handle is closed with the loop; it does not own fd yet */
	return rc;
}

int sk_tcp_listener_start(sk_tcp_listener_t *l)
{
	/* The socket already listens (sk_sock_tcp); this only hooks it into the loop. */
	return uv_listen((uv_stream_t *)&l->h, 1024, on_connection);
}

void sk_tcp_listener_close(sk_tcp_listener_t *l)
{
	if (l->open && !uv_is_closing((uv_handle_t *)&l->h))
		uv_close((uv_handle_t *)&l->h, NULL);
}

void sk_tcp_drain(sk_worker_t *w)
{
	sk_tcp_conn_t *c = w->conns, *next;
	for (; c; c = next) {
		next = c->next;
		/* Queries not answered yet are dropped; replies already built still go out. A
		 * transfer's messages not yet built are not: it ends here, logged as aborted. */
		sk_xfr_free(c->xfr);
		c->xfr = NULL;
		c->in_len = c->skip = 0;
		c->stalled = false;
		conn_update_reading(c);
		conn_maybe_finish(c);
	}
}

void sk_tcp_close_all(sk_worker_t *w)
{
	while (w->conns)
		conn_close(w->conns);
}
