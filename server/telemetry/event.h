/* event.h -- one query as a worker saw it: fixed size, self-contained, filled without allocating */
#ifndef SK_EVENT_H
#define SK_EVENT_H

#include <stdint.h>

#include "dns/respond.h"
#include "util/tagset.h"

/* Event flag bits */
#define SK_EV_EDNS   0x01
#define SK_EV_DO     0x02
#define SK_EV_ECS    0x04
#define SK_EV_COOKIE 0x08   /* a COOKIE option was sent; `cookie` says what it was */
#define SK_EV_NSID   0x10
#define SK_EV_PARSED 0x20   /* a question was parsed (qname/qtype/qclass valid) */

#define SK_EV_CUT    0x40   /* the query was longer than SK_EV_QUERY_MAX; `query` holds its start */

#define SK_EV_NO_ZONE 0xff
#define SK_EV_QUERY_MAX 512  /* query bytes kept; a question always fits (12 + 255 + 4) */

/*
 * Everything the telemetry thread needs about one query and its answer. It holds no pointer into
 * memory a reload may free: the zone is named by where its apex starts inside qname, and the tags
 * by an interned set (util/tagset.h).
 */
typedef struct sk_event {
	uint64_t time_us;          /* UTC microseconds since the epoch, when the query was read */
	uint8_t transport;         /* SK_TRANSPORT_UDP or SK_TRANSPORT_TCP */
	uint8_t family;            /* 4 or 6 */
	uint16_t sport, dport;     /* source and destination ports */
	uint8_t src[16], dst[16];  /* addresses; IPv4 in the first 4 bytes */
	uint16_t id;               /* query ID */
	uint16_t qflags;           /* query header flags word */
	uint8_t opcode;
	uint8_t flags;             /* SK_EV_* */
	uint16_t qtype, qclass;
	uint16_t rcode;            /* full reply rcode (extended) */
	uint16_t rflags;           /* reply header flags word (AA, TC ...) */
	uint16_t rsize;            /* reply size in bytes, 0 when no reply was sent */
	uint8_t rrl;               /* sk_rrl_action_t (rrl/rrl.h): what rate limiting did with the
	                              reply; SK_RRL_DROP has rsize 0, SK_RRL_SLIP the truncated one's */
	uint16_t edns_size;        /* requestor's payload size */
	uint8_t ecs_family;        /* 1 or 2 as in RFC 7871 */
	uint8_t ecs_source;
	uint8_t ecs_scope;
	uint8_t zone_off;          /* offset of the matched zone's apex inside qname, SK_EV_NO_ZONE if none */
	uint8_t ecs_addr[16];
	const sk_tagset_t *tags;   /* interned; NULL when no zone matched */
	uint8_t qname_len;         /* 0 when no question was parsed; the name is at query + 12 */
	uint8_t cookie;            /* sk_cookie_state_t: none, client only, valid or bad server cookie */
	uint16_t qlen;             /* bytes in `query` (at most SK_EV_QUERY_MAX) */
	uint8_t query[SK_EV_QUERY_MAX]; /* the query message as received: the question name keeps
	                                   the client's letter case; dnstap logs these bytes */
} sk_event_t;

#endif
