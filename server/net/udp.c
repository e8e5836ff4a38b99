/* udp.c -- one UDP socket, one thread: recvmmsg a batch (blocking), answer it, sendmmsg the replies */
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
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

/* Room for one IP_PKTINFO or IPV6_PKTINFO control message, aligned for struct cmsghdr. */
typedef union sk_cmsgbuf {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
} sk_cmsgbuf_t;

/*
 * Everything is allocated once, with the socket, and after the start only the socket's thread
 * touches it (`stop` and `ctr` are also read by others). Reply i is built in tx_buf[i] for query i
 * and sent to peer[i]; tx[] lists the replies of the batch that got one, in order.
 *
 * Why a thread per socket, not the worker's libuv loop: a thread that blocks in recvmmsg is woken
 * by the kernel straight from the socket, where a loop pays an epoll_wait (and its wake-up path)
 * per batch besides. Under load batches are small (about 7 queries at 95,000 q/s), so that was
 * 7% of the CPU per query (bench/README.md, "UDP threads").
 */
struct sk_udp {
	sk_udp_env_t env;
	int fd;
	bool pktinfo;           /* wildcard bind: reply from the address each query came to */
	bool started;           /* `thread` runs or ran and is not joined yet */
	atomic_bool stop;
	pthread_t thread;
	char name[16];
	int cpu;                /* -1: not pinned */
	sk_net_stats_t ctr;     /* udp_* fields, written by the thread alone */
	struct sockaddr_storage local;  /* the bound address: the destination telemetry records */
	unsigned tx_n;
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

int sk_udp_new(int fd, bool pktinfo, sk_udp_t **out)
{
	int rc = -ENOMEM;
	sk_udp_t *u = calloc(1, sizeof *u);
	if (!u)
		goto fail;
	u->fd = fd;
	u->pktinfo = pktinfo;
	u->cpu = -1;
	socklen_t llen = sizeof u->local;
	int fl;
	/* The thread waits in recvmmsg and sendmmsg themselves: the socket blocks. */
	if (getsockname(fd, (struct sockaddr *)&u->local, &llen) < 0 ||
	    (fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
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
	*out = u;
	return 0;
fail:
	free(u);
	close(fd);
	return rc;
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
	if (u->env.ring) {
		struct sockaddr_storage dst;
		sk_capture(u->env.ring, info, SK_TRANSPORT_UDP, (const struct sockaddr *)&u->peer[i],
			query_dst(u, &u->rx[i].msg_hdr, &dst), now, act);
	}
}

/* Rate limiting of reply i (*len bytes): a slipped reply is cut down in its slot, a dropped
 * one gets size 0 for telemetry. Returns what was done. */
static inline sk_rrl_action_t limit(sk_udp_t *u, int i, const sk_snapshot_t *snap,
	sk_resp_info_t *info, uint64_t now, size_t *len)
{
	sk_rrl_action_t act = sk_rrl_account(u->env.rrl, &snap->conf->rrl,
		(const struct sockaddr *)&u->peer[i], info, now);
	if (act == SK_RRL_SLIP)
		*len = sk_rrl_slip(u->tx_buf[i], *len, info, snap->conf->edns_size);
	else if (act == SK_RRL_DROP)
		info->size = 0;
	return act;
}

/*
 * Wait for at least one datagram, then take what else is queued, up to a batch. Returns the
 * number read, 0 on an interrupted call or an error (counted). After sk_udp_stop, the socket is
 * shut for reading and the call returns at once with entries that carry no source address: the
 * end of the queue, not datagrams, so the batch ends before the first of them.
 */
static int receive(sk_udp_t *u)
{
	/* The kernel overwrites these on every call. */
	for (unsigned i = 0; i < SK_UDP_BATCH; i++) {
		struct msghdr *mh = &u->rx[i].msg_hdr;
		mh->msg_namelen = sizeof u->peer[i];
		mh->msg_controllen = u->pktinfo ? sizeof u->rx_ctl[i] : 0;
		mh->msg_flags = 0;
	}
	int n = recvmmsg(u->fd, u->rx, SK_UDP_BATCH, MSG_WAITFORONE, NULL);
	if (n < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
			sk_ctr_add(&u->ctr.udp_recv_errors, 1);
			sk_debug("udp recvmmsg: %s", strerror(errno));
		}
		return 0;
	}
	for (int i = 0; i < n; i++)
		if (u->rx[i].msg_hdr.msg_namelen == 0) {
			n = i;
			break;
		}
	if (n)
		sk_ctr_add(&u->ctr.udp_rx, (uint64_t)n);
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
	sk_resp_info_t info;
	unsigned k = 0, truncated = 0, dropped = 0, limited[SK_RRL_DROP + 1] = { 0 };
	/* One clock read per batch (vDSO, no system call): recvmmsg returned them together,
	 * microseconds apart. Telemetry records it, rate limiting counts with it, server cookies
	 * are stamped with it. */
	uint64_t now = sk_now_us();
	sk_client_t client = { .now = (uint32_t)(now / 1000000u) };
	const sk_snapshot_t *snap = sk_snapreg_enter(u->env.reg, u->env.id);
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
		sk_count_query(u->env.qs, &info, SK_TRANSPORT_UDP);
		sk_rrl_action_t act = SK_RRL_NONE;
		if (u->env.rrl) {
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
	sk_snapreg_leave(u->env.reg, u->env.id);
	u->tx_n = k;
	if (truncated)
		sk_ctr_add(&u->ctr.udp_truncated, truncated);
	if (dropped)
		sk_ctr_add(&u->ctr.udp_dropped, dropped);
	if (limited[SK_RRL_DROP])
		sk_ctr_add(&u->ctr.rrl_dropped, limited[SK_RRL_DROP]);
	if (limited[SK_RRL_SLIP])
		sk_ctr_add(&u->ctr.rrl_slipped, limited[SK_RRL_SLIP]);
}

/*
 * Reply `at` is larger than the interface toward its client carries: the sockets never
 * fragment (sockopt.c), so the kernel refused it with EMSGSIZE. Cut it down to a truncated
 * reply in its slot (the client asks again over TCP, RFC 9715) and say whether there was
 * anything to cut. Its telemetry record, made before sending, keeps the size as built.
 */
static bool cut_oversized(sk_udp_t *u, unsigned at)
{
	struct iovec *iov = u->tx[at].msg_hdr.msg_iov;
	size_t len = sk_reply_cut(iov->iov_base, iov->iov_len);
	if (len >= iov->iov_len)
		return false;
	iov->iov_len = len;
	sk_ctr_add(&u->ctr.udp_cut, 1);
	return true;
}

/*
 * Send tx[]. The socket blocks: when its buffer is full the thread waits here, and the kernel's
 * receive queue absorbs the meantime (no reply built is lost). A reply too large for the
 * interface goes again, cut down (cut_oversized). A reply the kernel rejects with any other
 * error (no route, a forged source port 0, ...) is counted and skipped: retrying would fail
 * again.
 */
static void flush(sk_udp_t *u)
{
	unsigned off = 0;
	while (off < u->tx_n) {
		int r = sendmmsg(u->fd, u->tx + off, u->tx_n - off, 0);
		if (r > 0) {
			off += (unsigned)r;
			sk_ctr_add(&u->ctr.udp_tx, (uint64_t)r);
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EMSGSIZE && cut_oversized(u, off))
			continue;
		sk_ctr_add(&u->ctr.udp_send_errors, 1);
		sk_debug("udp sendmmsg: %s", strerror(errno));
		off++;
	}
	u->tx_n = 0;
}

static void *udp_main(void *arg)
{
	sk_udp_t *u = arg;
	pthread_setname_np(pthread_self(), u->name);
	while (!atomic_load_explicit(&u->stop, memory_order_relaxed)) {
		int n = receive(u);
		if (!n)
			continue;
		answer(u, n);
		flush(u);
	}
	return NULL;
}

int sk_udp_start(sk_udp_t *u, const sk_udp_env_t *env, const char *name, int cpu)
{
	u->env = *env;
	u->cpu = cpu;
	snprintf(u->name, sizeof u->name, "%s", name);
	int rc = sk_net_thread(&u->thread, udp_main, u, cpu);
	u->started = rc == 0;
	return rc;
}

void sk_udp_stop(sk_udp_t *u)
{
	if (!u || !u->started || atomic_exchange(&u->stop, true))
		return;
	/* Wakes the thread if it waits in recvmmsg (Linux answers ENOTCONN for a UDP socket that
	 * is not connected, and shuts it for reading all the same); at its next call otherwise. */
	(void)shutdown(u->fd, SHUT_RD);
}

void sk_udp_join(sk_udp_t *u)
{
	if (!u || !u->started)
		return;
	pthread_join(u->thread, NULL);
	u->started = false;
}

const sk_net_stats_t *sk_udp_counters(const sk_udp_t *u)
{
	return &u->ctr;
}

void sk_udp_free(sk_udp_t *u)
{
	if (!u)
		return;
	sk_udp_stop(u);
	sk_udp_join(u);
	close(u->fd);
	free(u);
}
