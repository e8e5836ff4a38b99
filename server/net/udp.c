/* udp.c -- one worker's UDP socket: recvmmsg a batch, answer it, sendmmsg the replies */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/respond.h"
#include "net/net_int.h"
#include "util/log.h"

#define SK_UDP_BATCH 64
/* A receive slot: larger datagrams arrive with MSG_TRUNC and are dropped. A reply slot: the
 * largest UDP reply sk_respond may build is the configured EDNS size, at most 4096. */
#define SK_UDP_SLOT 4096
/* Batches handled per wake-up before the loop gets to serve the worker's other sockets. */
#define SK_UDP_ROUNDS 4

/* Room for one IP_PKTINFO or IPV6_PKTINFO control message, aligned for struct cmsghdr. */
typedef union sk_cmsgbuf {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
} sk_cmsgbuf_t;

/*
 * Everything is allocated once, with the socket. Reply i is built in tx_buf[i] for query i and
 * sent to peer[i]; tx[] lists the replies of the batch that got one, in order. Unsent replies
 * (tx_off < tx_n) keep their slots until the socket takes them, and no new batch is read
 * before: that is the backpressure, and why the buffers belong to the socket, not the worker.
 */
struct sk_udp {
	uv_poll_t poll;
	sk_worker_t *w;
	int fd;
	bool pktinfo;           /* wildcard bind: reply from the address each query came to */
	struct sockaddr_storage local;  /* the bound address: the destination telemetry records */
	unsigned tx_off, tx_n;  /* tx[tx_off..tx_n) still to send */
	struct mmsghdr rx[SK_UDP_BATCH];
	struct mmsghdr tx[SK_UDP_BATCH];
	struct iovec rx_iov[SK_UDP_BATCH];
	struct iovec tx_iov[SK_UDP_BATCH];
	struct sockaddr_storage peer[SK_UDP_BATCH];
	sk_cmsgbuf_t rx_ctl[SK_UDP_BATCH];
	sk_cmsgbuf_t tx_ctl[SK_UDP_BATCH];
	uint8_t rx_buf[SK_UDP_BATCH][SK_UDP_SLOT];
	uint8_t tx_buf[SK_UDP_BATCH][SK_UDP_SLOT];
};

_Static_assert(SK_UDP_SLOT >= 4096, "a reply slot must hold the largest EDNS payload we offer");

static void on_poll(uv_poll_t *h, int status, int events);

int sk_udp_new(sk_worker_t *w, int fd, bool pktinfo, sk_udp_t **out)
{
	int rc = -ENOMEM;
	sk_udp_t *u = calloc(1, sizeof *u);
	if (!u)
		goto fail;
	u->w = w;
	u->fd = fd;
	u->pktinfo = pktinfo;
	socklen_t llen = sizeof u->local;
	if (getsockname(fd, (struct sockaddr *)&u->local, &llen) < 0) {
		rc = -errno;
		goto fail;
	}
	for (unsigned i = 0; i < SK_UDP_BATCH; i++) {
		u->rx_iov[i] = (struct iovec){ u->rx_buf[i], SK_UDP_SLOT };
		u->rx[i].msg_hdr.msg_name = &u->peer[i];
		u->rx[i].msg_hdr.msg_iov = &u->rx_iov[i];
		u->rx[i].msg_hdr.msg_iovlen = 1;
		u->rx[i].msg_hdr.msg_control = pktinfo ? u->rx_ctl[i].buf : NULL;
	}
	if ((rc = uv_poll_init(&w->loop, &u->poll, fd)))
		goto fail;
	u->poll.data = u;
	*out = u;
	return 0;
fail:
	free(u);
	close(fd);
	return rc;
}

int sk_udp_start(sk_udp_t *u)
{
	return uv_poll_start(&u->poll, UV_READABLE, on_poll);
}

/*
 * The control message that makes reply i leave from the address query i came to. IPv4: the
 * destination goes into ipi_spec_dst and the interface is left to routing. IPv6: the address
 * and the interface both, since a link-local destination means nothing without its interface.
 */
static socklen_t reply_control(const struct msghdr *rx, sk_cmsgbuf_t *ctl)
{
	memset(ctl, 0, sizeof *ctl);
	struct cmsghdr *out = &ctl->align;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(rx); cm; cm = CMSG_NXTHDR((struct msghdr *)rx, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo in, pi = { 0 };
			memcpy(&in, CMSG_DATA(cm), sizeof in);
			pi.ipi_spec_dst = in.ipi_addr;
			out->cmsg_level = IPPROTO_IP;
			out->cmsg_type = IP_PKTINFO;
			out->cmsg_len = CMSG_LEN(sizeof pi);
			memcpy(CMSG_DATA(out), &pi, sizeof pi);
			return CMSG_SPACE(sizeof pi);
		}
		if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			out->cmsg_level = IPPROTO_IPV6;
			out->cmsg_type = IPV6_PKTINFO;
			out->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
			memcpy(CMSG_DATA(out), CMSG_DATA(cm), sizeof(struct in6_pktinfo));
			return CMSG_SPACE(sizeof(struct in6_pktinfo));
		}
	}
	return 0;   /* no destination reported: let the kernel choose */
}

/*
 * The address query i came to, for telemetry: the bound address, or on a wildcard bind the one
 * IP_PKTINFO / IPV6_PKTINFO reported, with the bound port.
 */
static const struct sockaddr *query_dst(const sk_udp_t *u, const struct msghdr *rx,
	struct sockaddr_storage *buf)
{
	if (!u->pktinfo)
		return (const struct sockaddr *)&u->local;
	*buf = u->local;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(rx); cm; cm = CMSG_NXTHDR((struct msghdr *)rx, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof pi);
			((struct sockaddr_in *)buf)->sin_addr = pi.ipi_addr;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof pi);
			((struct sockaddr_in6 *)buf)->sin6_addr = pi.ipi6_addr;
		}
	}
	return (const struct sockaddr *)buf;
}

/* Telemetry for query i, when it is on. */
static inline void record(sk_udp_t *u, int i, const sk_resp_info_t *info, uint64_t now,
	sk_rrl_action_t act)
{
	if (u->w->ring) {
		struct sockaddr_storage dst;
		sk_capture(u->w, info, SK_TRANSPORT_UDP, (const struct sockaddr *)&u->peer[i],
			query_dst(u, &u->rx[i].msg_hdr, &dst), now, act);
	}
}

/* Rate limiting of reply i (*len bytes): a slipped reply is cut down in its slot, a dropped
 * one gets size 0 for telemetry. Returns what was done. */
static inline sk_rrl_action_t limit(sk_udp_t *u, int i, const sk_snapshot_t *snap,
	sk_resp_info_t *info, uint64_t now, size_t *len)
{
	sk_rrl_action_t act = sk_rrl_account(u->w->rrl, &snap->conf->rrl,
		(const struct sockaddr *)&u->peer[i], info, now);
	if (act == SK_RRL_SLIP)
		*len = sk_rrl_slip(u->tx_buf[i], *len, info, snap->conf->edns_size);
	else if (act == SK_RRL_DROP)
		info->size = 0;
	return act;
}

/* Read one batch. Returns the number of datagrams, 0 when there is none. */
static int receive(sk_udp_t *u)
{
	/* The kernel overwrites these on every call. */
	for (unsigned i = 0; i < SK_UDP_BATCH; i++) {
		struct msghdr *mh = &u->rx[i].msg_hdr;
		mh->msg_namelen = sizeof u->peer[i];
		mh->msg_controllen = u->pktinfo ? sizeof u->rx_ctl[i] : 0;
		mh->msg_flags = 0;
	}
	int n;
	do
		n = recvmmsg(u->fd, u->rx, SK_UDP_BATCH, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			sk_ctr_add(&u->w->ctr.udp_recv_errors, 1);
			sk_debug("udp recvmmsg: %s", strerror(errno));
		}
		return 0;
	}
	sk_ctr_add(&u->w->ctr.udp_rx, (uint64_t)n);
	return n;
}

/*
 * Answer the n datagrams just read into reply slots and list the replies in tx[]. The snapshot
 * is held for exactly this loop: no system call happens inside it. With rate limiting, each
 * reply is accounted after it is built (the account depends on its rcode): a dropped one is
 * recorded but not listed, a slipped one is cut down in its slot.
 */
static void answer(sk_udp_t *u, int n)
{
	sk_worker_t *w = u->w;
	sk_resp_info_t info;
	unsigned k = 0, truncated = 0, dropped = 0, limited[SK_RRL_DROP + 1] = { 0 };
	/* One clock read per batch (vDSO, no system call): recvmmsg returned them together,
	 * microseconds apart. Telemetry records it, rate limiting counts with it, server cookies
	 * are stamped with it. */
	uint64_t now = sk_now_us();
	sk_client_t client = { .now = (uint32_t)(now / 1000000u) };
	const sk_snapshot_t *snap = sk_snapreg_enter(w->reg, w->id);
	for (int i = 0; i < n; i++) {
		const struct msghdr *rh = &u->rx[i].msg_hdr;
		if (rh->msg_flags & MSG_TRUNC) {
			truncated++;
			continue;
		}
		client.addr = (const struct sockaddr *)&u->peer[i];
		size_t len = sk_respond(snap, &client, u->rx_buf[i], u->rx[i].msg_len, SK_TRANSPORT_UDP,
			u->tx_buf[i], SK_UDP_SLOT, &info);
		if (!len) {
			dropped++;
			continue;
		}
		sk_count_query(w, &info, SK_TRANSPORT_UDP);
		sk_rrl_action_t act = SK_RRL_NONE;
		if (w->rrl) {
			act = limit(u, i, snap, &info, now, &len);
			limited[act]++;
			if (act == SK_RRL_DROP) {
				record(u, i, &info, now, act);
				continue;
			}
		}
		record(u, i, &info, now, act);
		u->tx_iov[i] = (struct iovec){ u->tx_buf[i], len };
		struct msghdr *th = &u->tx[k++].msg_hdr;
		*th = (struct msghdr){ .msg_name = &u->peer[i], .msg_namelen = rh->msg_namelen,
			.msg_iov = &u->tx_iov[i], .msg_iovlen = 1 };
		if (u->pktinfo) {
			th->msg_controllen = reply_control(rh, &u->tx_ctl[i]);
			th->msg_control = th->msg_controllen ? u->tx_ctl[i].buf : NULL;
		}
	}
	sk_snapreg_leave(w->reg, w->id);
	u->tx_off = 0;
	u->tx_n = k;
	if (truncated)
		sk_ctr_add(&w->ctr.udp_truncated, truncated);
	if (dropped)
		sk_ctr_add(&w->ctr.udp_dropped, dropped);
	if (limited[SK_RRL_DROP])
		sk_ctr_add(&w->ctr.rrl_dropped, limited[SK_RRL_DROP]);
	if (limited[SK_RRL_SLIP])
		sk_ctr_add(&w->ctr.rrl_slipped, limited[SK_RRL_SLIP]);
}

/*
 * The reply at tx_off is larger than the interface toward its client carries: the sockets
 * never fragment (sockopt.c), so the kernel refused it with EMSGSIZE. Cut it down to a
 * truncated reply in its slot (the client asks again over TCP, RFC 9715) and say whether there
 * was anything to cut. Its telemetry record, made before sending, keeps the size as built.
 */
static bool cut_oversized(sk_udp_t *u)
{
	struct iovec *iov = u->tx[u->tx_off].msg_hdr.msg_iov;
	size_t len = sk_reply_cut(iov->iov_base, iov->iov_len);
	if (len >= iov->iov_len)
		return false;
	iov->iov_len = len;
	sk_ctr_add(&u->w->ctr.udp_cut, 1);
	return true;
}

/*
 * Send what is left of tx[]. Returns 0 when all is gone, -EAGAIN when the socket is full and
 * the rest must wait for UV_WRITABLE. A reply too large for the interface goes again, cut down
 * (cut_oversized). A reply the kernel rejects with any other error (no route, a forged source
 * port 0, ...) is counted and skipped: retrying it would fail again.
 */
static int flush(sk_udp_t *u)
{
	while (u->tx_off < u->tx_n) {
		int r = sendmmsg(u->fd, u->tx + u->tx_off, u->tx_n - u->tx_off, MSG_DONTWAIT);
		if (r > 0) {
			u->tx_off += (unsigned)r;
			sk_ctr_add(&u->w->ctr.udp_tx, (uint64_t)r);
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno == EMSGSIZE && cut_oversized(u))
			continue;
		sk_ctr_add(&u->w->ctr.udp_send_errors, 1);
		sk_debug("udp sendmmsg: %s", strerror(errno));
		u->tx_off++;
	}
	u->tx_off = u->tx_n = 0;
	return 0;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	sk_udp_t *u = h->data;
	(void)events;
	if (status < 0) {
		sk_ctr_add(&u->w->ctr.udp_recv_errors, 1);
		sk_debug("udp poll: %s", uv_strerror(status));
		return;
	}
	if (u->tx_off < u->tx_n) {
		/* Woken for UV_WRITABLE: the replies held back go first, then reading resumes. */
		if (flush(u))
			return;
		uv_poll_start(&u->poll, UV_READABLE, on_poll);
	}
	for (unsigned round = 0; round < SK_UDP_ROUNDS; round++) {
		int n = receive(u);
		if (!n)
			return;
		answer(u, n);
		if (flush(u)) {
			/* Stop reading until the socket drains; the kernel's receive queue absorbs
			 * the meantime, and no reply we built is lost. */
			uv_poll_start(&u->poll, UV_WRITABLE, on_poll);
			return;
		}
		if (n < SK_UDP_BATCH)
			return;   /* the queue is empty: spare the recvmmsg that would say EAGAIN */
	}
}

static void on_closed(uv_handle_t *h)
{
	sk_udp_t *u = h->data;
	close(u->fd);
	u->fd = -1;
}

void sk_udp_close(sk_udp_t *u)
{
	if (!u || uv_is_closing((uv_handle_t *)&u->poll))
		return;
	if (u->tx_off < u->tx_n && flush(u))
		sk_ctr_add(&u->w->ctr.udp_unsent, u->tx_n - u->tx_off);
	uv_close((uv_handle_t *)&u->poll, on_closed);
}

void sk_udp_free(sk_udp_t *u)
{
	if (!u)
		return;
	if (u->fd >= 0)
		close(u->fd);
	free(u);
}
