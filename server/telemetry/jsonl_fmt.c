/* jsonl_fmt.c -- one telemetry record as one line of JSON; field names are documented and stable */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "dns/cookie.h"
#include "dns/wire.h"
#include "rrl/rrl.h"
#include "telemetry/dnstext.h"
#include "telemetry/jsonl.h"
#include "util/json.h"

/*
 * A bounded writer: once something does not fit, `over` is set and everything after is ignored,
 * so the formatter checks for room once, at the end, instead of after every field.
 */
typedef struct jw {
	char *p, *end;
	bool over;
} jw_t;

static void put(jw_t *w, const char *s, size_t n)
{
	if ((size_t)(w->end - w->p) < n) {
		w->over = true;
		w->p = w->end;
		return;
	}
	memcpy(w->p, s, n);
	w->p += n;
}

#define PUT(w, lit) put((w), (lit), sizeof(lit) - 1)

static void put_u64(jw_t *w, uint64_t v)
{
	char tmp[24], *q = tmp + sizeof tmp;
	do {
		*--q = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(w, q, (size_t)(tmp + sizeof tmp - q));
}

static void put_bool(jw_t *w, bool v)
{
	if (v)
		PUT(w, "true");
	else
		PUT(w, "false");
}

static void put_str(jw_t *w, const char *s)
{
	PUT(w, "\"");
	if (!w->over) {
		size_t n = sk_json_escape(w->p, (size_t)(w->end - w->p), s, strlen(s));
		if (n == (size_t)-1) {
			w->over = true;
			w->p = w->end;
		} else {
			w->p += n;
		}
	}
	PUT(w, "\"");
}

/* For text this module made itself (addresses, mnemonics): nothing in it needs escaping. */
static void put_plain(jw_t *w, const char *s)
{
	PUT(w, "\"");
	put(w, s, strlen(s));
	PUT(w, "\"");
}

/* The same, with the length known (0: not known). */
static void put_plain_n(jw_t *w, const char *s, size_t n)
{
	PUT(w, "\"");
	put(w, s, n ? n : strlen(s));
	PUT(w, "\"");
}

static void put_plain_or_null(jw_t *w, const char *s)
{
	if (s)
		put_plain(w, s);
	else
		PUT(w, "null");
}

static void put_str_or_null(jw_t *w, const char *s)
{
	if (s)
		put_str(w, s);
	else
		PUT(w, "null");
}

/* Microseconds are appended to the cached second by hand: this runs once per record. */
static void put_time(jw_t *w, uint64_t us, sk_jsonl_clock_t *clock)
{
	int64_t sec = (int64_t)(us / 1000000u);
	unsigned frac = (unsigned)(us % 1000000u);
	char tail[9];

	if (!clock->valid || clock->sec != sec) {
		time_t t = (time_t)sec;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(clock->text, sizeof clock->text, "%Y-%m-%dT%H:%M:%S", &tm);
		clock->sec = sec;
		clock->valid = 1;
	}
	PUT(w, "\"");
	put(w, clock->text, strlen(clock->text));
	tail[0] = '.';
	for (int i = 6; i >= 1; i--) {
		tail[i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	tail[7] = 'Z';
	tail[8] = '"';
	put(w, tail, sizeof tail);
}

/* Query header flags the way dig prints them, in header order; "" when none is set. */
static void put_qflags(jw_t *w, uint16_t f)
{
	static const struct { uint16_t bit; const char *name; } names[] = {
		{ SK_FLAG_QR, "qr" }, { SK_FLAG_AA, "aa" }, { SK_FLAG_TC, "tc" }, { SK_FLAG_RD, "rd" },
		{ SK_FLAG_RA, "ra" }, { 0x0040, "z" }, { SK_FLAG_AD, "ad" }, { SK_FLAG_CD, "cd" },
	};
	bool first = true;
	PUT(w, "\"");
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		if (!(f & names[i].bit))
			continue;
		if (!first)
			PUT(w, " ");
		put(w, names[i].name, strlen(names[i].name));
		first = false;
	}
	PUT(w, "\"");
}

/* A geolocation object rendered by the record (telemetry/geojson.h), or null. */
static void put_geo(jw_t *w, const char *json, size_t len)
{
	if (json)
		put(w, json, len);
	else
		PUT(w, "null");
}

static void put_edns(jw_t *w, const sk_record_t *rec)
{
	const sk_event_t *ev = rec->ev;
	if (!(ev->flags & SK_EV_EDNS)) {
		PUT(w, "null");
		return;
	}
	PUT(w, "{\"size\":");
	put_u64(w, ev->edns_size);
	PUT(w, ",\"do\":");
	put_bool(w, ev->flags & SK_EV_DO);
	PUT(w, ",\"ecs\":");
	put_plain_or_null(w, rec->ecs);
	PUT(w, ",\"cookie\":");
	put_bool(w, ev->flags & SK_EV_COOKIE);
	PUT(w, ",\"cookie_state\":");
	put_plain_or_null(w, sk_cookie_state_name(ev->cookie));
	PUT(w, ",\"nsid\":");
	put_bool(w, ev->flags & SK_EV_NSID);
	PUT(w, "}");
}

size_t sk_jsonl_format(char *out, size_t cap, const sk_record_t *rec, sk_jsonl_clock_t *clock)
{
	const sk_event_t *ev = rec->ev;
	bool question = ev->flags & SK_EV_PARSED, replied = ev->rsize > 0;
	char t[SK_DNSTEXT_MAX];
	jw_t w = { out, out + cap, false };

	PUT(&w, "{\"time\":");
	put_time(&w, ev->time_us, clock);
	PUT(&w, ",\"node\":");
	if (rec->node_json)
		put(&w, rec->node_json, rec->node_json_len);
	else
		put_str(&w, rec->node);
	PUT(&w, ",\"seq\":");
	put_u64(&w, rec->seq);
	PUT(&w, ",\"record_id\":");
	if (rec->rid_prefix) {
		PUT(&w, "\"");
		put(&w, rec->rid_prefix, rec->rid_prefix_len ? rec->rid_prefix_len : strlen(rec->rid_prefix));
		PUT(&w, ":");
		put_u64(&w, rec->seq);
		PUT(&w, "\"");
	} else {
		PUT(&w, "null");
	}
	PUT(&w, ",\"transport\":");
	if (ev->transport == SK_TRANSPORT_TCP)
		PUT(&w, "\"tcp\"");
	else
		PUT(&w, "\"udp\"");
	PUT(&w, ",\"src\":");
	put_plain_n(&w, rec->src, rec->src_len);
	PUT(&w, ",\"sport\":");
	put_u64(&w, ev->sport);
	PUT(&w, ",\"dst\":");
	put_plain_n(&w, rec->dst, rec->dst_len);
	PUT(&w, ",\"dport\":");
	put_u64(&w, ev->dport);
	PUT(&w, ",\"id\":");
	put_u64(&w, ev->id);
	PUT(&w, ",\"opcode\":");
	put_plain(&w, sk_dnstext_opcode(ev->opcode, t));
	PUT(&w, ",\"flags\":");
	put_qflags(&w, ev->qflags);
	PUT(&w, ",\"qname\":");
	if (question && rec->qname && rec->qname_plain)
		put_plain_n(&w, rec->qname, rec->qname_len);
	else
		put_str_or_null(&w, question ? rec->qname : NULL);
	PUT(&w, ",\"qtype\":");
	put_plain_or_null(&w, question ? sk_dnstext_type(ev->qtype, t) : NULL);
	PUT(&w, ",\"qclass\":");
	put_plain_or_null(&w, question ? sk_dnstext_class(ev->qclass, t) : NULL);
	PUT(&w, ",\"edns\":");
	put_edns(&w, rec);
	PUT(&w, ",\"rcode\":");
	put_plain_or_null(&w, replied ? sk_dnstext_rcode(ev->rcode, t) : NULL);
	PUT(&w, ",\"aa\":");
	put_bool(&w, replied && (ev->rflags & SK_FLAG_AA));
	PUT(&w, ",\"tc\":");
	put_bool(&w, replied && (ev->rflags & SK_FLAG_TC));
	PUT(&w, ",\"size\":");
	put_u64(&w, ev->rsize);
	PUT(&w, ",\"zone\":");
	if (rec->zone_json)
		put(&w, rec->zone_json, rec->zone_json_len);
	else
		put_str_or_null(&w, rec->zone);
	PUT(&w, ",\"tags\":");
	if (rec->zone && ev->tags)
		put(&w, ev->tags->json, ev->tags->json_len);
	else
		PUT(&w, "null");
	PUT(&w, ",\"geo\":");
	put_geo(&w, rec->geo, rec->geo_len);
	PUT(&w, ",\"ecs_geo\":");
	put_geo(&w, rec->ecs_geo, rec->ecs_geo_len);
	PUT(&w, ",\"rrl\":");
	put_plain_or_null(&w, sk_rrl_action_text(ev->rrl));
	PUT(&w, "}\n");
	return w.over ? 0 : (size_t)(w.p - out);
}
