/* query.h -- a parsed view of one DNS query, pointing into the received bytes; no allocation */
#ifndef SK_QUERY_H
#define SK_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/wire.h"

typedef enum {
	SK_QUERY_OK = 0,      /* header, question and EDNS parsed */
	SK_QUERY_DROP,        /* not worth an answer: shorter than a header, or QR set */
	SK_QUERY_FORMERR,     /* answer FORMERR (bad question, QDCOUNT != 1, bad or repeated OPT, bad ECS) */
	SK_QUERY_BADVERS,     /* EDNS version above 0: answer BADVERS */
	SK_QUERY_NOTIMP,      /* opcode other than QUERY/NOTIFY */
	SK_QUERY_NOQUESTION,  /* QUERY with QDCOUNT 0 and a COOKIE: answer the cookie alone (RFC 7873 s5.4) */
} sk_query_status_t;

/* COOKIE option (RFC 7873 s4): an 8-byte client cookie, then a server cookie of 8..32 bytes. */
#define SK_COOKIE_CLIENT_LEN 8
#define SK_COOKIE_OPT_MAX 40

typedef struct sk_ecs {
	uint16_t family;        /* 1 = IPv4, 2 = IPv6 */
	uint8_t source;         /* source prefix length */
	uint8_t scope;          /* scope prefix length as sent (should be 0) */
	uint8_t addr[16];       /* address, bits past `source` zero */
} sk_ecs_t;

typedef struct sk_query {
	const uint8_t *msg;     /* the received message */
	size_t len;
	uint16_t id;
	uint16_t flags;         /* header flags word as received */
	uint8_t opcode;

	/* question (valid when parsed up to it) */
	bool has_question;
	const uint8_t *qname;   /* in msg, letter case as sent */
	uint8_t qname_len;      /* wire length, root byte included */
	uint16_t qtype;
	uint16_t qclass;
	uint8_t lname[SK_NAME_MAX]; /* qname lowercased */

	/* EDNS (RFC 6891) */
	bool edns;
	uint16_t edns_size;     /* requestor's UDP payload size as sent */
	uint8_t edns_version;
	bool edns_do;
	bool nsid;              /* NSID option present */
	bool has_ecs;
	sk_ecs_t ecs;
	bool has_cookie;        /* the first COOKIE option; later ones are ignored (RFC 7873 s5.2) */
	uint8_t cookie_len;     /* 8 (client only) or 16..40: the parser refuses any other length */
	uint8_t cookie[SK_COOKIE_OPT_MAX];

	/* TSIG (RFC 8945): the last record of the additional section, when present */
	bool has_tsig;
	uint8_t tsig_key_len;
	uint8_t tsig_key[SK_NAME_MAX];  /* key name, uncompressed (the owner may be compressed) */
	const uint8_t *tsig_rdata;      /* in msg: algorithm, time, fudge, MAC, original ID, ... */
	uint16_t tsig_alg_len;          /* wire length of the algorithm name at tsig_rdata */
	uint16_t tsig_orig_id;
	uint16_t tsig_off;              /* where the TSIG RR starts: the message it signs ends there */

	/* IXFR (RFC 1995 s3): the serial of the client's SOA, the first authority record */
	bool has_ixfr_serial;
	uint32_t ixfr_serial;
} sk_query_t;

/*
 * Parse `len` bytes at `msg` into `q`. The question must be one uncompressed name; the answer and
 * authority sections are skipped; the additional section may hold one OPT (root owner) and other
 * records, which are skipped. Unknown EDNS options are ignored. Fields parsed before an error stay
 * valid, so a FORMERR can still echo the ID and opcode. Never reads outside msg[0..len).
 */
sk_query_status_t sk_query_parse(sk_query_t *q, const uint8_t *msg, size_t len);

#endif
