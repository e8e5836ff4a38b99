/* notify.c -- NOTIFY out (RFC 1996): a thread with its own loop, one UDP socket per family, retries */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "dns/name.h"
#include "dns/tsig.h"
#include "dns/wire.h"
#include "net/net_int.h"
#include "net/notify.h"
#include "util/log.h"

#define NOTIFY_TRIES 5          /* at once, then after 1, 2, 4 and 8 seconds */
#define NOTIFY_MSG_MAX 2048     /* header, question, SOA (at most ~540 bytes), TSIG */

/* One NOTIFY to one secondary, with everything needed to send it again. */
typedef struct job {
	struct job *next;
	uint8_t zone[SK_NAME_MAX];
	uint8_t zone_len;
	uint32_t serial;
	uint8_t soa[10 + 2 * SK_NAME_MAX + 20];  /* the SOA record after its owner: TYPE .. RDATA */
	size_t soa_len;
	struct sockaddr_storage addr;
	bool with_key;
	sk_tsig_key_t key;          /* a copy; key.name is NULL (it pointed into a config) */
	char key_name[SK_NAME_TEXT_MAX];
	uint16_t id;
	unsigned tries;
	uint64_t due;               /* loop time (ms) of the next try */
	char target[64];
	char zone_text[SK_NAME_TEXT_MAX];
} job_t;

struct sk_notifier {
	uv_loop_t loop;
	uv_async_t wake;
	uv_timer_t timer;
	uv_udp_t udp[2];            /* IPv4, IPv6 */
	bool udp_open[2];
	pthread_t thread;
	pthread_mutex_t lock;
	job_t *incoming;            /* queued by other threads, under lock */
	bool stop;                  /* under lock */
	job_t *jobs;                /* waiting for an answer: the loop's own */
	uint8_t rbuf[4096];
};

/* ---- on the notifier's thread ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
	unsigned flags);
static void on_timer(uv_timer_t *t);

static bool same_target(const job_t *a, const job_t *b)
{
	return a->zone_len == b->zone_len && !memcmp(a->zone, b->zone, a->zone_len) &&
		!memcmp(&a->addr, &b->addr, sizeof a->addr);
}

static uv_udp_t *socket_for(sk_notifier_t *n, int family)
{
	int i = family == AF_INET6;
	if (n->udp_open[i])
		return &n->udp[i];
	struct sockaddr_storage any = { .ss_family = (sa_family_t)family };
	uv_udp_t *u = &n->udp[i];
	int rc = uv_udp_init(&n->loop, u);
	if (!rc) {
		n->udp_open[i] = true;
		u->data = n;
		rc = uv_udp_bind(u, (const struct sockaddr *)&any, family == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
	}
	if (!rc)
		rc = uv_udp_recv_start(u, on_alloc, on_recv);
	if (rc) {
		sk_err("notify: cannot open an %s socket: %s", family == AF_INET6 ? "IPv6" : "IPv4",
			uv_strerror(rc));
		return NULL;
	}
	return u;
}

/* Build the NOTIFY: opcode NOTIFY, AA, the zone's SOA as question and, with its serial, answer
 * (RFC 1996 s3.7); signed when the secondary has a key. Returns its length, 0 if it cannot. */
static size_t build(const job_t *j, uint8_t *m, uint64_t now_s)
{
	memset(m, 0, SK_HDR_LEN);
	sk_put16(m, j->id);
	sk_hdr_set_flags(m, (uint16_t)(SK_OPCODE_NOTIFY << 11 | SK_FLAG_AA));
	sk_hdr_set_counts(m, 1, 1, 0, 0);
	size_t pos = SK_HDR_LEN;
	memcpy(m + pos, j->zone, j->zone_len);
	pos += j->zone_len;
	sk_put16(m + pos, SK_TYPE_SOA);
	sk_put16(m + pos + 2, SK_CLASS_IN);
	pos += 4;
	sk_put16(m + pos, 0xc000 | SK_HDR_LEN);
	memcpy(m + pos + 2, j->soa, j->soa_len);
	pos += 2 + j->soa_len;
	if (j->with_key) {
		sk_tsig_ctx_t ctx;
		sk_tsig_start(&ctx, &j->key, j->id);
		pos = sk_tsig_sign(&ctx, m, pos, NOTIFY_MSG_MAX, now_s);
	}
	return pos;
}

static void send_job(sk_notifier_t *n, job_t *j)
{
	uint8_t m[NOTIFY_MSG_MAX];
	uv_udp_t *u = socket_for(n, j->addr.ss_family);
	size_t len = build(j, m, (uint64_t)time(NULL));
	j->tries++;
	j->due = uv_now(&n->loop) + (1000u << (j->tries - 1));
	if (j->tries == 1)
		sk_info("notify: %s serial %u to %s%s%s", j->zone_text, j->serial, j->target,
			j->with_key ? ", TSIG key " : "", j->with_key ? j->key_name : "");
	if (!u || !len)
		return;
	uv_buf_t buf = uv_buf_init((char *)m, (unsigned)len);
	/* A datagram of a few hundred bytes: try_send either takes it or fails, and a failure is
	 * one more lost datagram the retries cover. */
	int rc = uv_udp_try_send(u, &buf, 1, (const struct sockaddr *)&j->addr);
	if (rc < 0)
		sk_debug("notify: send to %s: %s", j->target, uv_strerror(rc));
}

static void arm(sk_notifier_t *n)
{
	uint64_t due = UINT64_MAX, now = uv_now(&n->loop);
	for (job_t *j = n->jobs; j; j = j->next)
		if (j->due < due)
			due = j->due;
	if (due == UINT64_MAX)
		uv_timer_stop(&n->timer);
	else
		uv_timer_start(&n->timer, on_timer, due > now ? due - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
	sk_notifier_t *n = t->data;
	uint64_t now = uv_now(&n->loop);
	for (job_t **p = &n->jobs; *p;) {
		job_t *j = *p;
		if (j->due > now) {
			p = &j->next;
		} else if (j->tries >= NOTIFY_TRIES) {
			sk_warn("notify: %s serial %u: no answer from %s after %u tries", j->zone_text,
				j->serial, j->target, j->tries);
			*p = j->next;
			free(j);
		} else {
			send_job(n, j);
			p = &j->next;
		}
	}
	arm(n);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	sk_notifier_t *n = h->data;
	(void)hint;
	*buf = uv_buf_init((char *)n->rbuf, sizeof n->rbuf);
}

/* An answer: a response to a NOTIFY, with the ID of one sent to the address it comes from. */
static void on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
	unsigned flags)
{
	sk_notifier_t *n = u->data;
	const uint8_t *m = (const uint8_t *)buf->base;
	(void)flags;
	if (nread < SK_HDR_LEN || !from || !(sk_hdr_flags(m) & SK_FLAG_QR) ||
	    sk_hdr_opcode(m) != SK_OPCODE_NOTIFY)
		return;
	for (job_t **p = &n->jobs; *p; p = &(*p)->next) {
		job_t *j = *p;
		if (j->id != sk_hdr_id(m) || !same_addr(&j->addr, from))
			continue;
		uint8_t rcode = sk_hdr_rcode(m);
		if (rcode)
			sk_warn("notify: %s serial %u: %s answered rcode %u", j->zone_text, j->serial,
				j->target, rcode);
		else
			sk_info("notify: %s serial %u: %s answered (try %u)", j->zone_text, j->serial,
				j->target, j->tries);
		*p = j->next;
		free(j);
		arm(n);
		return;
	}
}

static void close_all(sk_notifier_t *n)
{
	unsigned dropped = 0;
	for (job_t *j = n->jobs, *next; j; j = next) {
		next = j->next;
		dropped++;
		free(j);
	}
	n->jobs = NULL;
	if (dropped)
		sk_info("notify: %u NOTIFYs still unanswered at shutdown", dropped);
	uv_close((uv_handle_t *)&n->wake, NULL);
	uv_close((uv_handle_t *)&n->timer, NULL);
	for (int i = 0; i < 2; i++)
		if (n->udp_open[i])
			uv_close((uv_handle_t *)&n->udp[i], NULL);
}

/* New jobs, or the stop request. */
static void on_wake(uv_async_t *a)
{
	sk_notifier_t *n = a->data;
	pthread_mutex_lock(&n->lock);
	job_t *in = n->incoming;
	bool stop = n->stop;
	n->incoming = NULL;
	pthread_mutex_unlock(&n->lock);
	for (job_t *j = in, *next; j; j = next) {
		next = j->next;
		if (stop) {
			free(j);
			continue;
		}
		/* A newer serial for the same zone and secondary replaces the one waiting. */
		for (job_t **p = &n->jobs; *p; p = &(*p)->next) {
			if (same_target(*p, j)) {
				job_t *old = *p;
				*p = old->next;
				free(old);
				break;
			}
		}
		sk_random_bytes(&j->id, sizeof j->id);
		j->next = n->jobs;
		n->jobs = j;
		send_job(n, j);
	}
	if (stop)
		close_all(n);
	else
		arm(n);
}

static void *notifier_main(void *arg)
{
	sk_notifier_t *n = arg;
	pthread_setname_np(pthread_self(), "sk-notify");
	uv_run(&n->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* ---- from other threads ---- */

int sk_notifier_new(sk_notifier_t **out)
{
	sk_notifier_t *n = calloc(1, sizeof *n);
	sigset_t all, old;
	int rc;
	if (!n)
		return -ENOMEM;
	if ((rc = uv_loop_init(&n->loop))) {
		free(n);
		return rc;
	}
	n->wake.data = n;
	n->timer.data = n;
	pthread_mutex_init(&n->lock, NULL);
	uv_async_init(&n->loop, &n->wake, on_wake);
	uv_timer_init(&n->loop, &n->timer);
	/* The daemon's signals go to the main thread's loop, never here. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = -pthread_create(&n->thread, NULL, notifier_main, n);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		uv_close((uv_handle_t *)&n->wake, NULL);
		uv_close((uv_handle_t *)&n->timer, NULL);
		uv_run(&n->loop, UV_RUN_DEFAULT);
		uv_loop_close(&n->loop);
		pthread_mutex_destroy(&n->lock);
		free(n);
		return rc;
	}
	*out = n;
	return 0;
}

/* A zone of `next` whose serial `prev` does not have. */
static bool changed(const sk_snapshot_t *prev, const sk_zone_t *z)
{
	if (!prev)
		return true;
	const uint8_t *apex = sk_zone_apex(z);
	const sk_zone_t *old = sk_db_find_zone(prev->db, apex, sk_name_len(apex));
	return !old || sk_zone_serial(old) != sk_zone_serial(z);
}

/* One job per secondary for zone `z`, prepended to *list. Returns how many. */
static size_t make_jobs(const sk_xfr_conf_t *x, const sk_zone_t *z, job_t **list)
{
	const uint8_t *apex = sk_zone_apex(z);
	const sk_rrset_t *soa = sk_zone_soa(z);
	size_t made = 0;
	if (soa->len > sizeof ((job_t *)0)->soa)
		return 0;
	for (size_t i = 0; i < x->nnotify; i++) {
		const sk_notify_target_t *t = &x->notify[i];
		job_t *j = calloc(1, sizeof *j);
		if (!j) {
			sk_err("notify: out of memory, NOTIFY to %s not sent", t->text);
			break;
		}
		j->zone_len = (uint8_t)sk_name_len(apex);
		memcpy(j->zone, apex, j->zone_len);
		sk_name_to_text(apex, j->zone_text, sizeof j->zone_text);
		j->serial = sk_zone_serial(z);
		memcpy(j->soa, soa->data, soa->len);
		j->soa_len = soa->len;
		j->addr = t->addr;
		if (t->key >= 0) {
			j->with_key = true;
			j->key = x->keys[t->key];
			j->key.name = NULL;
			snprintf(j->key_name, sizeof j->key_name, "%s", x->keys[t->key].name);
		}
		sk_sock_format((const struct sockaddr *)&t->addr, j->target, sizeof j->target);
		j->next = *list;
		*list = j;
		made++;
	}
	return made;
}

size_t sk_notifier_reload(sk_notifier_t *n, const sk_snapshot_t *prev, const sk_snapshot_t *next)
{
	const sk_xfr_conf_t *x = &next->conf->xfr;
	job_t *list = NULL, *last;
	size_t queued = 0;
	if (!n || !x->enabled || !x->nnotify)
		return 0;
	for (size_t i = 0; i < sk_db_zone_count(next->db); i++)
		if (changed(prev, sk_db_zone(next->db, i)))
			queued += make_jobs(x, sk_db_zone(next->db, i), &list);
	const sk_zone_t *cat = sk_db_catalog(next->db);
	if (cat && changed(prev, cat))
		queued += make_jobs(x, cat, &list);
	if (!list)
		return 0;
	for (last = list; last->next; last = last->next)
		;
	pthread_mutex_lock(&n->lock);
	last->next = n->incoming;
	n->incoming = list;
	pthread_mutex_unlock(&n->lock);
	uv_async_send(&n->wake);
	return queued;
}

void sk_notifier_free(sk_notifier_t *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_mutex_unlock(&n->lock);
	uv_async_send(&n->wake);
	pthread_join(n->thread, NULL);
	for (job_t *j = n->incoming, *next; j; j = next) {
		next = j->next;
		free(j);
	}
	uv_loop_close(&n->loop);
	pthread_mutex_destroy(&n->lock);
	free(n);
}
