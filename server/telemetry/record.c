/* record.c -- an event made readable: names and addresses as text, geolocation added */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dns/name.h"
#include "telemetry/record.h"
#include "util/json.h"

/* The question name as the client sent it (letter case kept), from the event's query copy,
 * into r->qname. The worker's parser validated it; the checks here only keep a bad event from
 * misreading. A text one byte shorter than the wire name had no byte escaped (each label's
 * length became its dot): printable ASCII without '"' or '\\', which JSON takes as it is. */
static void qname_text(const sk_event_t *ev, char *out, sk_record_t *r)
{
	int n;
	r->qname = NULL;
	r->qname_len = 0;
	r->qname_plain = false;
	if (!(ev->flags & SK_EV_PARSED) || ev->qname_len == 0 ||
	    SK_HDR_LEN + (size_t)ev->qname_len > ev->qlen)
		return;
	if ((n = sk_name_to_text(ev->query + SK_HDR_LEN, out, SK_NAME_TEXT_MAX)) < 0)
		return;
	r->qname = out;
	r->qname_len = (size_t)n;
	r->qname_plain = (size_t)n + 1 == ev->qname_len;
}

/* The zone apex is a suffix of the question name; it is shown lowercased, as configured. Most
 * records name the zone the record before named, so its text is kept and reused. */
static const char *zone_text(const sk_event_t *ev, sk_recbuf_t *b)
{
	uint8_t apex[SK_NAME_MAX];
	size_t len;

	if (ev->zone_off == SK_EV_NO_ZONE || !(ev->flags & SK_EV_PARSED) ||
	    ev->zone_off >= ev->qname_len || SK_HDR_LEN + (size_t)ev->qname_len > ev->qlen)
		return NULL;
	len = (size_t)(ev->qname_len - ev->zone_off);
	sk_name_lower(apex, ev->query + SK_HDR_LEN + ev->zone_off, len);
	if (len == b->zone_wire_len && !memcmp(apex, b->zone_wire, len))
		return b->zone;
	b->zone_wire_len = 0;
	if (sk_name_to_text(apex, b->zone, SK_NAME_TEXT_MAX) < 0)
		return NULL;
	memcpy(b->zone_wire, apex, len);
	b->zone_wire_len = len;
	/* The sinks show it as a JSON string: escaped here, once per zone change. */
	size_t n = sk_json_escape(b->zone_json + 1, sizeof b->zone_json - 2, b->zone, strlen(b->zone));
	b->zone_json_len = 0;
	if (n != (size_t)-1 && n + 2 < sizeof b->zone_json) {
		b->zone_json[0] = '"';
		b->zone_json[n + 1] = '"';
		b->zone_json[n + 2] = '\0';
		b->zone_json_len = n + 2;
	}
	return b->zone;
}

/* glibc formats IPv4 with sprintf; this is the most common address form, written per record. */
static char *put_v4(char *o, const uint8_t *a)
{
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (i)
			*o++ = '.';
		if (v >= 100)
			*o++ = (char)('0' + v / 100);
		if (v >= 10)
			*o++ = (char)('0' + v / 10 % 10);
		*o++ = (char)('0' + v % 10);
	}
	*o = '\0';
	return o;
}

/* Address text into out (INET6_ADDRSTRLEN bytes); returns the end of the text. */
static char *addr_text(int af, const uint8_t *a, char *out)
{
	if (af == AF_INET)
		return put_v4(out, a);
	if (!inet_ntop(af, a, out, INET6_ADDRSTRLEN))
		strcpy(out, "?");
	return out + strlen(out);
}

/* The annex of a cache entry: the JSON of its result, rendered by the first record that needed it. */
typedef struct annex {
	uint16_t len;                 /* 0: not rendered yet (an entry starts zeroed) */
	char text[SK_RECORD_GEO_ANNEX - sizeof(uint16_t)];
} annex_t;
_Static_assert(sizeof(annex_t) == SK_RECORD_GEO_ANNEX, "the annex is what the cache is asked for");

/* Look `addr` up and return its JSON text (length in *len): from the cache entry's annex when the
 * entry has been rendered before, else rendered now (into the annex if it fits, else into `own`).
 * A hit copies nothing: neither the result nor its text. */
static const char *geo_json(const sk_geo_t *geo, sk_geo_cache_t *cache, int af, const uint8_t *addr,
	sk_geo_info_t *info, char *own, uint16_t *len)
{
	annex_t *an = NULL;
	const sk_geo_info_t *hit = cache ? sk_geo_cache_peek(geo, cache, af, addr) : NULL;
	if (hit) {
		an = sk_geo_cache_annex(cache);
		if (an && an->len) {
			*len = an->len;
			return an->text;
		}
	} else if (sk_geo_lookup(geo, cache, af, addr, info) == 0 && cache) {
		an = sk_geo_cache_annex(cache);
	}
	size_t n = sk_geojson(own, SK_GEOJSON_MAX, hit ? hit : info);
	if (an && n <= sizeof an->text) {
		memcpy(an->text, own, n);
		an->len = (uint16_t)n;
	}
	*len = (uint16_t)n;
	return own;
}

void sk_record_build(sk_recbuf_t *b, const sk_event_t *ev, const char *node, uint64_t seq,
	const sk_geo_t *geo, sk_geo_cache_t *cache)
{
	int af = ev->family == 6 ? AF_INET6 : AF_INET;
	sk_record_t *r = &b->rec;

	r->ev = ev;
	r->node = node;
	r->seq = seq;
	r->zone = zone_text(ev, b);
	r->zone_json = r->zone && b->zone_json_len ? b->zone_json : NULL;
	r->zone_json_len = r->zone_json ? b->zone_json_len : 0;
	if (b->no_texts) {
		/* dnstap alone carries the query, and the addresses as bytes. */
		r->qname = r->src = r->dst = NULL;
		r->qname_len = r->src_len = r->dst_len = 0;
		r->qname_plain = false;
	} else {
		size_t alen = ev->family == 6 ? 16 : 4;
		qname_text(ev, b->qname, r);
		r->src = b->src;
		r->src_len = (size_t)(addr_text(af, ev->src, b->src) - b->src);
		/* Our own address: the text of the last one serves until it changes. */
		if (b->dst_family != ev->family || memcmp(b->dst_addr, ev->dst, alen) != 0) {
			b->dst_len = (size_t)(addr_text(af, ev->dst, b->dst) - b->dst);
			memcpy(b->dst_addr, ev->dst, alen);
			b->dst_family = ev->family;
		}
		r->dst = b->dst;
		r->dst_len = b->dst_len;
	}

	r->ecs = NULL;
	r->geo = r->ecs_geo = NULL;
	r->geo_len = r->ecs_geo_len = 0;
	int ecs_af = ev->ecs_family == 1 ? AF_INET : ev->ecs_family == 2 ? AF_INET6 : 0;
	if ((ev->flags & SK_EV_ECS) && ecs_af) {
		char *o = addr_text(ecs_af, ev->ecs_addr, b->ecs);
		unsigned src = ev->ecs_source;
		*o++ = '/';
		if (src >= 100)
			*o++ = (char)('0' + src / 100);
		if (src >= 10)
			*o++ = (char)('0' + src / 10 % 10);
		*o++ = (char)('0' + src % 10);
		*o = '\0';
		r->ecs = b->ecs;
	}
	if (!geo)
		return;
	/* A database error leaves that database's fields unknown and is counted by the cache; the
	 * record still goes out with what is known. */
	r->geo = geo_json(geo, cache, af, ev->src, &b->geo, b->geo_json, &r->geo_len);
	/* A /0 subnet (the client opted out of ECS) names no network: nothing to look up. */
	if (r->ecs && ev->ecs_source > 0)
		r->ecs_geo = geo_json(geo, cache, ecs_af, ev->ecs_addr, &b->ecs_geo, b->ecs_geo_json,
			&r->ecs_geo_len);
}

void sk_record_set_id(sk_recbuf_t *b, const char *node, uint64_t run)
{
	char *o = b->rid_prefix;
	size_t n = 0;

	/* Only characters that need no escaping in JSON, a NATS header or a file name. */
	for (const char *p = node; *p && n < SK_RECORD_NODE_ID_MAX; p++, n++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '_' || c == '-';
		*o++ = ok ? c : '_';
	}
	if (n == 0)
		*o++ = '_';
	snprintf(o, sizeof b->rid_prefix - (size_t)(o - b->rid_prefix), ":%" PRIu64, run);
	b->rec.rid_prefix = b->rid_prefix;
	b->rec.rid_prefix_len = strlen(b->rid_prefix);
	b->rec.node_gen++;

	/* Every JSON line names the node: escaped here, once, not once per record. */
	size_t cap = sizeof b->node_json, len = strlen(node), esc = (size_t)-1;
	if (len < cap / 6 - 2)
		esc = sk_json_escape(b->node_json + 1, cap - 2, node, len);
	if (esc != (size_t)-1) {
		b->node_json[0] = '"';
		b->node_json[esc + 1] = '"';
		b->node_json[esc + 2] = '\0';
		b->rec.node_json = b->node_json;
		b->rec.node_json_len = esc + 2;
	} else {
		b->rec.node_json = NULL;
		b->rec.node_json_len = 0;
	}
}
