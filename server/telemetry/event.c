/* event.c -- filling a telemetry event on the worker: copies only, no allocation */
#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include "dns/wire.h"
#include "rrl/rrl.h"
#include "telemetry/telemetry.h"

_Static_assert(SK_EV_QUERY_MAX >= SK_HDR_LEN + SK_NAME_MAX + 4, "a question fits in an event");
_Static_assert(SK_EV_QUERY_MAX <= UINT16_MAX, "qlen is 16 bits");

uint64_t sk_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Store an address and port; returns the family as 4 or 6. A dual-stack socket reports IPv4
 * clients as ::ffff:a.b.c.d: stored as IPv4 so that records and geolocation see the real
 * address. Anything else (no address) is stored as 0.0.0.0 port 0. */
static uint8_t put_addr(const struct sockaddr *sa, uint8_t addr[16], uint16_t *port)
{
	memset(addr, 0, 16);
	*port = 0;
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		memcpy(addr, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
		return 4;
	}
	if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		*port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(addr, sin6->sin6_addr.s6_addr + 12, 4);
			return 4;
		}
		memcpy(addr, &sin6->sin6_addr, 16);
		return 6;
	}
	return 4;
}

void sk_event_fill(sk_event_t *ev, const sk_resp_info_t *info, int transport,
	const struct sockaddr *src, const struct sockaddr *dst, uint64_t time_us,
	const sk_tagset_t *tags, uint8_t zone_off)
{
	const sk_query_t *q = &info->q;
	uint8_t flags = 0;

	ev->time_us = time_us;
	ev->transport = (uint8_t)transport;
	ev->family = put_addr(src, ev->src, &ev->sport);
	/* One family serves both addresses. A socket reports both in the same form (a dual-stack
	 * socket maps both), so a mismatch means a caller's mistake: the destination is left 0. */
	if (put_addr(dst, ev->dst, &ev->dport) != ev->family)
		memset(ev->dst, 0, sizeof ev->dst);

	/* Header fields are valid once the message had a header, even on FORMERR. */
	bool header = q->msg && q->len >= SK_HDR_LEN;
	ev->id = header ? q->id : 0;
	ev->qflags = header ? q->flags : 0;
	ev->opcode = header ? q->opcode : 0;

	bool question = header && q->has_question && q->qname_len > 0 &&
		(size_t)(q->qname - q->msg) == SK_HDR_LEN;
	if (question)
		flags |= SK_EV_PARSED;
	ev->qname_len = question ? q->qname_len : 0;
	ev->qtype = question ? q->qtype : 0;
	ev->qclass = question ? q->qclass : 0;

	if (q->edns)
		flags |= SK_EV_EDNS | (q->edns_do ? SK_EV_DO : 0) | (q->has_cookie ? SK_EV_COOKIE : 0) |
			(q->nsid ? SK_EV_NSID : 0);
	ev->edns_size = q->edns ? q->edns_size : 0;
	ev->cookie = info->cookie;
	if (q->edns && q->has_ecs) {
		flags |= SK_EV_ECS;
		ev->ecs_family = (uint8_t)q->ecs.family;
		ev->ecs_source = q->ecs.source;
		ev->ecs_scope = q->ecs.scope;
		memcpy(ev->ecs_addr, q->ecs.addr, sizeof ev->ecs_addr);
	} else {
		ev->ecs_family = ev->ecs_source = ev->ecs_scope = 0;
		memset(ev->ecs_addr, 0, sizeof ev->ecs_addr);
	}

	ev->rcode = info->rcode;
	ev->rflags = info->flags;
	ev->rsize = info->size;
	ev->rrl = SK_RRL_NONE;     /* the caller sets what rate limiting did, if anything */
	ev->zone_off = question && zone_off < q->qname_len ? zone_off : SK_EV_NO_ZONE;
	ev->tags = ev->zone_off == SK_EV_NO_ZONE ? NULL : tags;

	size_t n = q->msg ? q->len : 0;
	if (n > SK_EV_QUERY_MAX) {
		n = SK_EV_QUERY_MAX;
		flags |= SK_EV_CUT;
	}
	if (n)
		memcpy(ev->query, q->msg, n);
	ev->qlen = (uint16_t)n;
	ev->flags = flags;
}
