/* xfr.c -- AXFR out (RFC 5936): access by address and key, the zone streamed in messages */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#include "dns/name.h"
#include "dns/tsig.h"
#include "dns/wire.h"
#include "dns/writer.h"
#include "dns/xfr.h"
#include "util/log.h"

/* A message is filled to about this much: small enough that a worker's connection buffer holds
 * several and a slow reader never makes one write huge, large enough that a 20,000-record zone
 * is a few dozen messages. A record that does not fit alone gets a message of up to 64 KiB. */
#define XFR_MSG_TARGET 16384
_Static_assert(SK_XFR_ROOM >= XFR_MSG_TARGET + 2 + 1000, "room for a usual message, TSIG and question");

/* ---- access ---- */

static bool in_prefix(const struct sockaddr *sa, const sk_prefix_t *p)
{
	uint8_t a[16];
	int family = sa->sa_family;
	if (family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (family == AF_INET6) {
		const struct in6_addr *v6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(v6)) {    /* an IPv4 client on a dual-stack socket */
			family = AF_INET;
			memcpy(a, v6->s6_addr + 12, 4);
		} else {
			memcpy(a, v6->s6_addr, 16);
		}
	} else {
		return false;
	}
	unsigned full = p->len / 8, rest = p->len % 8;
	if (family != p->family || memcmp(a, p->addr, full))
		return false;
	return !rest || !((a[full] ^ p->addr[full]) & (uint8_t)(0xff00u >> rest));
}

bool sk_xfr_allowed(const sk_xfr_conf_t *x, const struct sockaddr *addr, const sk_tsig_key_t *key)
{
	for (size_t i = 0; i < x->nallow; i++) {
		const sk_xfr_acl_t *a = &x->allow[i];
		if (a->key >= 0 && (!key || key != &x->keys[a->key]))
			continue;
		if (!a->naddrs)
			return true;
		for (size_t k = 0; addr && k < a->naddrs; k++)
			if (in_prefix(addr, &a->addrs[k]))
				return true;
	}
	return false;
}

/* ---- the stream ---- */

enum phase { PHASE_FIRST_SOA, PHASE_BODY, PHASE_LAST_SOA, PHASE_DONE };

struct sk_xfr {
	const sk_snapshot_t *snap;      /* held: the walk points into its db */
	sk_db_walk_t walk;
	const sk_rrset_t *soa;
	sk_tsig_ctx_t tsig;
	bool sign;
	enum phase phase;
	const sk_rrset_t *cur;          /* the RRset being written, from cur_off on */
	const uint8_t *cur_owner;
	uint32_t cur_off;
	uint16_t id, flags, qtype, qclass;
	uint8_t qname[SK_NAME_MAX];     /* as the client wrote it */
	uint8_t qname_len;
	unsigned messages, skipped;
	uint64_t bytes, records;
	char peer[INET6_ADDRSTRLEN + 8];
};

static void format_peer(const struct sockaddr *sa, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;
		inet_ntop(AF_INET, &s->sin_addr, a, sizeof a);
		port = ntohs(s->sin_port);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;
		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof a);
		port = ntohs(s->sin6_port);
	}
	snprintf(buf, cap, "%s@%u", a, port);
}

int sk_xfr_new(const sk_snapshot_t *snap, const sk_resp_info_t *info, const struct sockaddr *peer,
	sk_xfr_t **out)
{
	const sk_query_t *q = &info->q;
	sk_xfr_t *x = malloc(sizeof *x);
	if (!x)
		return -ENOMEM;
	if (sk_db_walk_init(snap->db, q->lname, q->qname_len, snap->conf->xfr.seized, &x->walk) ==
	    SK_WALK_NONE) {
		free(x);            /* sk_respond checked; a different snapshot would be a caller's bug */
		return -EINVAL;
	}
	x->snap = sk_snapshot_hold(snap);
	x->soa = sk_zone_soa(x->walk.zone);
	x->tsig = info->tsig;
	x->sign = info->tsig.key != NULL;
	x->phase = PHASE_FIRST_SOA;
	x->cur = NULL;
	x->cur_owner = NULL;
	x->cur_off = 0;
	x->id = q->id;
	x->flags = q->flags & (SK_FLAG_RD | SK_FLAG_CD);
	x->qtype = q->qtype;
	x->qclass = q->qclass;
	memcpy(x->qname, q->qname, q->qname_len);
	x->qname_len = q->qname_len;
	x->messages = x->skipped = 0;
	x->bytes = x->records = 0;
	format_peer(peer, x->peer, sizeof x->peer);
	*out = x;
	return 0;
}

/* Write what fits of the current RRset from cur_off on: the rest whole if it fits, otherwise
 * record by record (an RRset may span messages). Returns the records written. */
static unsigned write_rest(sk_xfr_t *x, sk_writer_t *w)
{
	const sk_rrset_t *rs = x->cur;
	sk_rrset_t slice = *rs;
	sk_rr_ref_t ref = { .rrset = &slice, .owner = x->cur_owner, .section = SK_SECTION_ANSWER };
	unsigned done = 0;
	slice.data = rs->data + x->cur_off;
	slice.len = rs->len - x->cur_off;
	int n = sk_wr_rrset(w, &ref);
	if (n >= 0) {
		x->cur = NULL;
		return (unsigned)n;
	}
	while (x->cur_off < rs->len) {
		uint32_t rl = 10u + sk_get16(rs->data + x->cur_off + 8);
		slice.data = rs->data + x->cur_off;
		slice.len = rl;
		if (sk_wr_rrset(w, &ref) < 0)
			break;
		x->cur_off += rl;
		done++;
	}
	if (x->cur_off >= rs->len)
		x->cur = NULL;
	return done;
}

/* The SOA, owned by the transferred name (the question's): first and last. */
static int write_soa(sk_xfr_t *x, sk_writer_t *w)
{
	sk_rr_ref_t ref = { .rrset = x->soa, .owner = NULL, .qoff = 0, .section = SK_SECTION_ANSWER };
	return sk_wr_rrset(w, &ref);
}

/* Fill one message's answer section; returns its record count. `big`: the limit a message may
 * grow to when a record does not fit in one of the usual size; `full`: no message can be larger
 * (otherwise a record too large for `big` waits for a call with more room: *more is set). */
static unsigned fill(sk_xfr_t *x, sk_writer_t *w, size_t big, bool full, bool *more)
{
	unsigned an = 0;
	while (x->phase != PHASE_DONE) {
		if (x->phase != PHASE_BODY) {
			int n = write_soa(x, w);
			if (n < 0) {
				if (an || w->limit >= big)
					break;
				w->limit = big;
				continue;
			}
			an += (unsigned)n;
			x->phase = x->phase == PHASE_FIRST_SOA ? PHASE_BODY : PHASE_DONE;
			continue;
		}
		if (!x->cur) {
			x->cur = sk_db_walk_next(&x->walk, &x->cur_owner);
			x->cur_off = 0;
			if (!x->cur) {
				x->phase = PHASE_LAST_SOA;
				continue;
			}
		}
		an += write_rest(x, w);
		if (!x->cur)
			continue;
		if (an)
			break;                        /* full: the rest goes in the next message */
		if (w->limit < big) {
			w->limit = big;
			continue;
		}
		if (!full) {
			*more = true;
			break;
		}
		/* One record larger than any message can hold: it cannot be sent. */
		x->cur_off += 10u + sk_get16(x->cur->data + x->cur_off + 8);
		if (x->cur_off >= x->cur->len)
			x->cur = NULL;
		x->skipped++;
	}
	return an;
}

size_t sk_xfr_next(sk_xfr_t *x, uint8_t *out, size_t cap, uint64_t now)
{
	if (x->phase == PHASE_DONE)
		return 0;
	size_t tsig = x->sign ? sk_tsig_size(&x->tsig) : 0;
	size_t max = cap < SK_MSG_MAX ? cap : SK_MSG_MAX;
	size_t head = SK_HDR_LEN + x->qname_len + 4u;
	if (max < head + tsig + 512)
		return 0;
	size_t big = max - tsig, target = XFR_MSG_TARGET < big ? XFR_MSG_TARGET : big;
	bool more = false;

	/* Every message repeats the question (RFC 5936 s2.2.1 allows it): names compress
	 * against the zone's apex in each. */
	sk_put16(out, x->id);
	memcpy(out + SK_HDR_LEN, x->qname, x->qname_len);
	sk_put16(out + SK_HDR_LEN + x->qname_len, x->qtype);
	sk_put16(out + SK_HDR_LEN + x->qname_len + 2, x->qclass);
	sk_writer_t w;
	sk_wr_init(&w, out, target, head, SK_HDR_LEN, NULL);
	unsigned an = fill(x, &w, big, max == SK_MSG_MAX, &more);
	if (!an && more)
		return 0;                 /* the caller offers a whole 64 KiB next time */
	sk_hdr_set_flags(out, (uint16_t)(SK_FLAG_QR | SK_FLAG_AA | x->flags));
	sk_hdr_set_counts(out, 1, (uint16_t)an, 0, 0);
	size_t len = w.pos;
	if (x->sign)
		len = sk_tsig_sign(&x->tsig, out, len, max, now);   /* room was kept: never 0 */
	x->messages++;
	x->records += an;
	x->bytes += len;
	return len;
}

bool sk_xfr_done(const sk_xfr_t *x)
{
	return x->phase == PHASE_DONE;
}

void sk_xfr_free(sk_xfr_t *x)
{
	if (!x)
		return;
	char zone[SK_NAME_TEXT_MAX];
	sk_name_to_text(x->walk.origin, zone, sizeof zone);
	static const char *const kinds[] = { "", "zone", "seized domain", "catalog" };
	sk_info("xfr: %s of %s %s to %s %s: %u messages, %llu bytes, %llu records%s%s%s",
		x->qtype == SK_TYPE_IXFR ? "IXFR (answered in full)" : "AXFR", kinds[x->walk.kind], zone,
		x->peer, x->phase == PHASE_DONE ? "complete" : "aborted", x->messages,
		(unsigned long long)x->bytes, (unsigned long long)x->records,
		x->sign ? ", TSIG key " : ", unsigned", x->sign ? x->tsig.key->name : "",
		x->skipped ? " (records too large for a message left out)" : "");
	sk_snapshot_release(x->snap);
	free(x);
}
