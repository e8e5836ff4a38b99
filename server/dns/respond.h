/* respond.h -- answer one DNS message from a snapshot: parse, look up, write */
#ifndef SK_RESPOND_H
#define SK_RESPOND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "db/snapshot.h"
#include "dns/cookie.h"
#include "dns/query.h"
#include "dns/tsig.h"

/* What happened to one message, for counters and telemetry. Filled by sk_respond(). */
typedef struct sk_resp_info {
	sk_query_t q;           /* the parsed query (fields valid as far as parsing got) */
	sk_query_status_t status;
	uint16_t rcode;         /* full (extended) rcode of the reply */
	uint16_t flags;         /* reply header flags */
	const sk_zone_t *zone;  /* zone that answered (a seized list's template), NULL if none */
	uint8_t apex_off;       /* where its apex (or the seized domain) starts in the query name */
	const sk_tagset_t *tags; /* its tags (interned), NULL if none */
	uint8_t wild_off;       /* the answer came from a wildcard: where its closest encloser
	                           starts in the query name; 0 otherwise */
	bool opt;               /* the reply carries an OPT record */
	uint16_t size;          /* reply length, 0 when dropped */
	uint8_t cookie;         /* sk_cookie_state_t: what the query's COOKIE was (rate limiting
	                           exempts SK_COOKIE_VALID; telemetry records it) */
	bool xfr;               /* a transfer was accepted (TCP only): nothing was written; the
	                           caller streams it with sk_xfr_new/sk_xfr_next (dns/xfr.h) */
	sk_tsig_ctx_t tsig;     /* the request's TSIG: tsig.key set when the reply is signed (and a
	                           transfer's messages must be) */
} sk_resp_info_t;

/*
 * Where and when a message came from: what a server cookie is made of (RFC 9018). The network
 * code has both at hand (the peer of each datagram or connection, one clock read per batch).
 */
typedef struct sk_client {
	const struct sockaddr *addr; /* the client's address; NULL: unknown (cookies then cover no address) */
	uint32_t now;           /* seconds since the epoch (modulo 2^32), read once per batch */
} sk_client_t;

#define SK_TRANSPORT_UDP 0
#define SK_TRANSPORT_TCP 1

/*
 * Answer the message `msg` of `len` bytes received from `client` over `transport`. Writes the
 * reply into `out` (`cap` bytes; a UDP reply never exceeds the negotiated payload size,
 * truncating with TC; TCP replies may use up to 65535 bytes) and returns its length, or 0 when
 * the message gets no answer, or when it is a zone transfer to stream (info->xfr, TCP only).
 * A request with a TSIG of a `transfer.keys` key gets a signed reply (RFC 8945).
 * `info` receives what the caller may count or log. Never allocates, never blocks, touches no
 * global state: safe on every worker at once.
 */
size_t sk_respond(const sk_snapshot_t *snap, const sk_client_t *client, const uint8_t *msg,
	size_t len, int transport, uint8_t *out, size_t cap, sk_resp_info_t *info);

/*
 * Cut a UDP reply built by sk_respond() (`len` bytes at `reply`) down in place to its header
 * and question, with TC set, no records but the OPT, which is kept without its options: the
 * reply that tells a client to ask again over TCP. For a reply the network would not carry
 * whole (net/udp.c). Returns the new length, never more than `len`; `len` when there was nothing
 * to cut. Reads only within `len`, whatever the bytes.
 */
size_t sk_reply_cut(uint8_t *reply, size_t len);

#endif
