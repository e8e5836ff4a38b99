/* message.c -- one telemetry record as dnstap protobuf payloads, and its extra JSON */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/wire.h"
#include "dns/cookie.h"
#include "rrl/rrl.h"
#include "telemetry/dnstap/dnstap_int.h"
#include "util/json.h"
#include "util/tagset.h"

#include "dnstap.pb-c.h"

#define SERVER_VERSION "sinkholed " SK_VERSION

/* ---- extra: a JSON object built into a fixed buffer ---- */

typedef struct jbuf {
	char *p;
	size_t len, cap;
	bool full;    /* something did not fit: the text is unusable */
} jbuf_t;

static void put(jbuf_t *b, const char *s, size_t n)
{
	if (b->full || n >= b->cap - b->len) {
		b->full = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

#define PUT(b, lit) put((b), (lit), sizeof(lit) - 1)

/* A number in decimal; snprintf cost a tenth of building a record. */
static void put_u64(jbuf_t *b, uint64_t v)
{
	char tmp[24], *q = tmp + sizeof tmp;
	do {
		*--q = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(b, q, (size_t)(tmp + sizeof tmp - q));
}

/* A quoted JSON string; sk_json_escape() guarantees valid UTF-8 whatever the bytes. */
static void put_str(jbuf_t *b, const char *s)
{
	PUT(b, "\"");
	if (!b->full) {
		size_t n = sk_json_escape(b->p + b->len, b->cap - b->len, s, strlen(s));
		if (n == (size_t)-1 || n >= b->cap - b->len)
			b->full = true;
		else
			b->len += n;
	}
	PUT(b, "\"");
}

/* `,"key":` before every key but the object's first; `lit` is a string literal, so its length is
 * known when compiling. */
static void put_key_n(jbuf_t *b, bool *first, const char *quoted, size_t n)
{
	if (*first)
		put(b, quoted + 1, n - 1);
	else
		put(b, quoted, n);
	*first = false;
}

#define put_key(b, first, lit) put_key_n((b), (first), ",\"" lit "\":", sizeof(",\"" lit "\":") - 1)

size_t sk_dnstap_extra(char *out, size_t cap, const sk_record_t *rec)
{
	const sk_event_t *ev = rec->ev;
	jbuf_t b = { .p = out, .cap = cap };
	bool first = true;

	PUT(&b, "{");
	put_key(&b, &first, "seq");
	put_u64(&b, rec->seq);
	if (rec->zone) {
		put_key(&b, &first, "zone");
		if (rec->zone_json)
			put(&b, rec->zone_json, rec->zone_json_len);
		else
			put_str(&b, rec->zone);
	}
	if (ev->tags && ev->tags->n > 0 && ev->tags->json) {
		put_key(&b, &first, "tags");
		put(&b, ev->tags->json, ev->tags->json_len);
	}
	if (rec->geo) {
		put_key(&b, &first, "geo");
		put(&b, rec->geo, rec->geo_len);
	}
	if (rec->ecs) {
		put_key(&b, &first, "ecs");
		put_str(&b, rec->ecs);
	}
	if (rec->ecs_geo) {
		put_key(&b, &first, "ecs_geo");
		put(&b, rec->ecs_geo, rec->ecs_geo_len);
	}
	if (sk_cookie_state_name(ev->cookie)) {
		put_key(&b, &first, "cookie");
		put_str(&b, sk_cookie_state_name(ev->cookie));
	}
	if (ev->rsize) {
		put_key(&b, &first, "rsize");
		put_u64(&b, ev->rsize);
	}
	if (ev->flags & SK_EV_CUT) {
		put_key(&b, &first, "cut");
		PUT(&b, "true");
	}
	if (sk_rrl_action_text(ev->rrl)) {
		put_key(&b, &first, "rrl");
		PUT(&b, "\"");
		put(&b, sk_rrl_action_text(ev->rrl), strlen(sk_rrl_action_text(ev->rrl)));
		PUT(&b, "\"");
	}
	PUT(&b, "}");

	if (b.full) {
		/* Only an absurd tag set gets here; the record still goes out, with its number. */
		int n = snprintf(out, cap, "{\"seq\":%" PRIu64 "}", rec->seq);
		return n > 0 && (size_t)n < cap ? (size_t)n : 0;
	}
	return b.len;
}

size_t sk_dnstap_extra_seq(char *out, size_t cap, const sk_record_t *rec)
{
	jbuf_t b = { .p = out, .cap = cap };
	PUT(&b, "{\"seq\":");
	put_u64(&b, rec->seq);
	PUT(&b, "}");
	return b.full ? 0 : b.len;
}

/* ---- the protobuf payloads ---- */

bool sk_dnstap_has_response(const sk_record_t *rec)
{
	return rec->ev->rsize > 0;
}

static bool has_question(const sk_event_t *ev)
{
	return (ev->flags & SK_EV_PARSED) && ev->qname_len > 0 &&
		(size_t)SK_HDR_LEN + ev->qname_len + 4 <= ev->qlen;
}

/*
 * The reply as far as the event knows it: the header the client got (ID, flags with the low
 * bits of the rcode; extended rcode bits would need an OPT record, which is not rebuilt) and the
 * question copied from the query. The answer records are deliberately absent: they are the
 * zone's own data, identical for every client, and not kept in the event. out: at least
 * SK_HDR_LEN + 255 + 4 bytes.
 */
static size_t build_response(const sk_event_t *ev, uint8_t *out)
{
	bool q = has_question(ev);
	sk_put16(out, ev->id);
	sk_hdr_set_flags(out, (uint16_t)((ev->rflags & ~0x000fu) | (ev->rcode & 0x000fu)));
	sk_hdr_set_counts(out, q ? 1 : 0, 0, 0, 0);
	if (!q)
		return SK_HDR_LEN;
	size_t n = (size_t)ev->qname_len + 4;
	memcpy(out + SK_HDR_LEN, ev->query + SK_HDR_LEN, n);
	return SK_HDR_LEN + n;
}

/* The matched zone's apex in wire form, lower case (the query keeps the client's case). */
static size_t zone_apex(const sk_event_t *ev, uint8_t *out)
{
	if (!has_question(ev) || ev->zone_off == SK_EV_NO_ZONE || ev->zone_off >= ev->qname_len)
		return 0;
	size_t n = (size_t)ev->qname_len - ev->zone_off;
	const uint8_t *src = ev->query + SK_HDR_LEN + ev->zone_off;
	for (size_t i = 0; i < n; i++)
		out[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (uint8_t)(src[i] + 32) : src[i];
	return n;
}

static ProtobufCBinaryData bin(const void *p, size_t len)
{
	return (ProtobufCBinaryData){ .len = len, .data = (uint8_t *)(uintptr_t)p };
}

/*
 * The payload is a Dnstap message whose fields other than `message` and `extra` (type, version,
 * identity) are the same for every record: protobuf-c packs them once, into `head`. The Message
 * is packed in two parts: the fields a record's AUTH_QUERY and AUTH_RESPONSE share, once per
 * record, and each Message's own fields (its type first). The payload is the head, then the
 * Message as a length-delimited field (own fields, then shared ones), then `extra`. Protobuf
 * allows fields in any order and concatenated fields form one message, so readers see an
 * ordinary Dnstap; protobuf-c walks the outer message never and each shared field once.
 */
/* Every field at its largest, with its tag and length. */
_Static_assert(SK_DNSTAP_SHARED_MAX >= 2 * (1 + 1) + 2 * (1 + 1 + 16) + 2 * (1 + 5) +
	(1 + 10) + (1 + 5) + (1 + 2 + 255), "the shared fields must fit sk_dnstap_rec_t.shared");
_Static_assert(SK_DNSTAP_OWN_MAX >= (1 + 1) + (1 + 2 + SK_EV_QUERY_MAX) &&
	SK_DNSTAP_OWN_MAX >= (1 + 1) + (1 + 10) + (1 + 5) + (1 + 2 + SK_HDR_LEN + 255 + 4),
	"a Message's own fields must fit sk_dnstap_msg_t.own");

#define TAG_EXTRA   0x1a   /* field 3, length-delimited */
#define TAG_MESSAGE 0x72   /* field 14, length-delimited */

static size_t varint_len(size_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *p, size_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* (Re)pack the constant fields when the node identity is not the one they were packed for. */
static int head_for(sk_dnstap_head_t *h, const char *node, uint64_t gen)
{
	if (h->bytes && gen && gen == h->gen)
		return 0;
	if (h->bytes && (node == h->node || (node && h->node && strcmp(node, h->node) == 0))) {
		h->gen = gen;
		return 0;
	}
	Dnstap__Dnstap d = DNSTAP__DNSTAP__INIT;
	d.type = DNSTAP__DNSTAP__TYPE__MESSAGE;
	d.has_version = true;
	d.version = bin(SERVER_VERSION, sizeof SERVER_VERSION - 1);
	if (node) {
		d.has_identity = true;
		d.identity = bin(node, strlen(node));
	}
	size_t n = dnstap__dnstap__get_packed_size(&d);
	uint8_t *bytes = malloc(n);
	char *copy = node ? strdup(node) : NULL;
	if (!bytes || (node && !copy)) {
		free(bytes);
		free(copy);
		return -ENOMEM;
	}
	sk_dnstap_head_fini(h);
	h->len = dnstap__dnstap__pack(&d, bytes);
	h->bytes = bytes;
	h->node = copy;
	h->gen = gen;
	return 0;
}

void sk_dnstap_head_fini(sk_dnstap_head_t *h)
{
	free(h->bytes);
	free(h->node);
	*h = (sk_dnstap_head_t){ 0 };
}

/* The shared fields. protobuf-c packs a Message's fields in field-number order, and `type`
 * (field 1, required, so always packed) comes first: two bytes, 0x08 and the type, which are
 * cut off here; each Message's own part brings its own. */
#define TYPE_TAG 0x08   /* field 1, varint */

static int pack_shared(const sk_event_t *ev, sk_dnstap_rec_t *r)
{
	size_t alen = ev->family == 6 ? 16 : 4;
	uint8_t buf[2 + SK_DNSTAP_SHARED_MAX];
	Dnstap__Message m = DNSTAP__MESSAGE__INIT;

	m.type = DNSTAP__MESSAGE__TYPE__AUTH_QUERY;
	m.has_socket_family = m.has_socket_protocol = true;
	m.socket_family = ev->family == 6 ? DNSTAP__SOCKET_FAMILY__INET6 : DNSTAP__SOCKET_FAMILY__INET;
	m.socket_protocol = ev->transport == SK_TRANSPORT_TCP ? DNSTAP__SOCKET_PROTOCOL__TCP
		: DNSTAP__SOCKET_PROTOCOL__UDP;
	m.has_query_address = m.has_response_address = true;
	m.query_address = bin(ev->src, alen);
	m.response_address = bin(ev->dst, alen);
	m.has_query_port = m.has_response_port = true;
	m.query_port = ev->sport;
	m.response_port = ev->dport;
	m.has_query_time_sec = m.has_query_time_nsec = true;
	m.query_time_sec = ev->time_us / 1000000;
	m.query_time_nsec = (uint32_t)(ev->time_us % 1000000) * 1000;
	size_t zlen = zone_apex(ev, r->zone);
	if (zlen) {
		m.has_query_zone = true;
		m.query_zone = bin(r->zone, zlen);
	}
	size_t n = dnstap__message__pack(&m, buf);
	if (n < 2 || buf[0] != TYPE_TAG || buf[1] != DNSTAP__MESSAGE__TYPE__AUTH_QUERY)
		return -EPROTO;   /* a protobuf-c that orders fields otherwise: see sk_dnstap_prepare() */
	memcpy(r->shared, buf + 2, n - 2);
	r->shared_len = n - 2;
	return 0;
}

/* A Message's own fields into msg->own, and the payload's sizes. */
static void pack_own(const sk_dnstap_head_t *head, const Dnstap__Message *m, size_t shared_len,
	const char *extra, size_t extra_len, sk_dnstap_msg_t *msg)
{
	msg->extra = extra;
	msg->extra_len = extra_len;
	msg->own_len = dnstap__message__pack(m, msg->own);
	msg->mlen = msg->own_len + shared_len;
	msg->len = head->len + 1 + varint_len(msg->mlen) + msg->mlen;
	if (extra_len)
		msg->len += 1 + varint_len(extra_len) + extra_len;
}

int sk_dnstap_prepare(sk_dnstap_head_t *head, const sk_record_t *rec, const char *extra,
	size_t extra_len, bool response, const char *rextra, size_t rextra_len, sk_dnstap_rec_t *out)
{
	const sk_event_t *ev = rec->ev;

	if (head_for(head, rec->node, rec->node_gen) != 0)
		return -ENOMEM;
	/* -EPROTO only if protobuf-c ever stops packing in field order; the unit test would say. */
	int err = pack_shared(ev, out);
	if (err)
		return err;
	out->head = head;

	Dnstap__Message q = DNSTAP__MESSAGE__INIT;
	q.type = DNSTAP__MESSAGE__TYPE__AUTH_QUERY;
	q.has_query_message = true;
	q.query_message = bin(ev->query, ev->qlen);
	pack_own(head, &q, out->shared_len, extra, extra_len, &out->msg[0]);
	out->n = 1;
	if (!response)
		return 0;

	Dnstap__Message a = DNSTAP__MESSAGE__INIT;
	a.type = DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE;
	a.has_response_time_sec = a.has_response_time_nsec = true;
	a.response_time_sec = ev->time_us / 1000000;
	a.response_time_nsec = (uint32_t)(ev->time_us % 1000000) * 1000;
	a.has_response_message = true;
	a.response_message = bin(out->reply, build_response(ev, out->reply));
	pack_own(head, &a, out->shared_len, rextra, rextra_len, &out->msg[1]);
	out->n = 2;
	return 0;
}

void sk_dnstap_write(const sk_dnstap_rec_t *r, unsigned i, uint8_t *out)
{
	const sk_dnstap_msg_t *msg = &r->msg[i];
	uint8_t *p = out;
	memcpy(p, r->head->bytes, r->head->len);
	p += r->head->len;
	*p++ = TAG_MESSAGE;
	p = put_varint(p, msg->mlen);
	memcpy(p, msg->own, msg->own_len);
	p += msg->own_len;
	memcpy(p, r->shared, r->shared_len);
	p += r->shared_len;
	if (msg->extra_len) {
		*p++ = TAG_EXTRA;
		p = put_varint(p, msg->extra_len);
		memcpy(p, msg->extra, msg->extra_len);
	}
}
