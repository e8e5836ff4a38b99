/* respond.c -- one query in, one reply out: status, chaos names, lookup plan, EDNS, truncation */
#include "dns/name.h"
#include "dns/respond.h"
#include "dns/writer.h"
#include "dns/xfr.h"
#include "util/err.h"

/* OPT fixed part: root owner(1) TYPE(2) CLASS(2) TTL(4) RDLENGTH(2). */
#define OPT_FIXED 11
/* ECS option echoed: code(2) len(2) family(2) source(1) scope(1) address(<=16). */
#define ECS_MAX (4 + 4 + 16)

/* What the reply carries besides the records: decided before writing, so OPT space is reserved. */
typedef struct reply {
	uint8_t *out;
	size_t cap;
	size_t limit;            /* largest reply allowed on this transport */
	uint16_t flags;
	uint16_t rcode;          /* 12-bit extended rcode */
	uint16_t an, ns, ar;
	bool with_question;
	bool with_opt;
	bool with_nsid;          /* NSID asked for, an identity set, and room for it */
	uint16_t tsig_error;     /* an unsigned TSIG with this error goes last (BADKEY, BADSIG) */
	bool sign;               /* the request's TSIG verified (or BADTIME): the reply is signed */
	sk_tsig_ctx_t *tsig;     /* &info->tsig */
	uint64_t now;            /* seconds, for TSIG */
	bool with_cookie;        /* the query had a COOKIE: ours goes back (RFC 7873 s5.2) */
	uint8_t cookie[SK_COOKIE_LEN]; /* client cookie and server cookie to send */
	const sk_conf_t *conf;
	const sk_query_t *q;
} reply_t;

/* Bytes the OPT record of this reply needs. */
static size_t opt_size(const reply_t *r)
{
	const sk_query_t *q = r->q;
	size_t n = OPT_FIXED;
	if (r->with_nsid)
		n += 4 + strlen(r->conf->identity);
	if (q->has_ecs)
		n += 8 + (q->ecs.source + 7u) / 8u;
	if (r->with_cookie)
		n += 4 + SK_COOKIE_LEN;
	return n;
}

/* Bytes kept free at the end of the reply for the OPT record and the TSIG. */
static size_t reserve(const reply_t *r)
{
	return (r->with_opt ? opt_size(r) : 0) + (r->sign ? sk_tsig_size(r->tsig) : 0);
}

static size_t write_opt(const reply_t *r, uint8_t *p)
{
	const sk_query_t *q = r->q;
	uint8_t *start = p;
	size_t idlen = r->conf->identity ? strlen(r->conf->identity) : 0;

	*p++ = 0;                                  /* root owner */
	sk_put16(p, SK_TYPE_OPT);
	sk_put16(p + 2, r->conf->edns_size);
	p[4] = (uint8_t)(r->rcode >> 4);           /* upper 8 bits of the extended rcode */
	p[5] = 0;                                  /* version 0 */
	sk_put16(p + 6, q->edns_do ? 0x8000 : 0);  /* DO copied (RFC 3225) */
	uint8_t *rdlen = p + 8;
	p += 10;
	if (r->with_nsid) {
		sk_put16(p, SK_EDNS_NSID);
		sk_put16(p + 2, (uint16_t)idlen);
		memcpy(p + 4, r->conf->identity, idlen);
		p += 4 + idlen;
	}
	if (q->has_ecs) {
		/* RFC 7871 s7.2.1: same family, source prefix and address; scope 0 as our answers
		 * do not depend on the client's network. */
		size_t bytes = (q->ecs.source + 7u) / 8u;
		sk_put16(p, SK_EDNS_ECS);
		sk_put16(p + 2, (uint16_t)(4 + bytes));
		sk_put16(p + 4, q->ecs.family);
		p[6] = q->ecs.source;
		p[7] = 0;
		memcpy(p + 8, q->ecs.addr, bytes);
		p += 8 + bytes;
	}
	if (r->with_cookie) {
		sk_put16(p, SK_EDNS_COOKIE);
		sk_put16(p + 2, SK_COOKIE_LEN);
		memcpy(p + 4, r->cookie, SK_COOKIE_LEN);
		p += 4 + SK_COOKIE_LEN;
	}
	sk_put16(rdlen, (uint16_t)(p - rdlen - 2));
	return (size_t)(p - start);
}

/* Header and, when wanted, the question exactly as received (the client's letter case). */
static size_t write_head(reply_t *r)
{
	const sk_query_t *q = r->q;
	uint8_t *o = r->out;
	sk_put16(o, q->id);
	size_t pos = SK_HDR_LEN;
	if (r->with_question) {
		memcpy(o + pos, q->qname, q->qname_len);
		pos += q->qname_len;
		sk_put16(o + pos, q->qtype);
		sk_put16(o + pos + 2, q->qclass);
		pos += 4;
	}
	return pos;
}

/*
 * Close the reply: flags, rcode, counts, OPT, then the TSIG last (RFC 8945 s5.1): unsigned with
 * an error, or the signature over everything before it. Returns its length.
 */
static size_t finish(reply_t *r, size_t pos)
{
	uint8_t *o = r->out;
	uint16_t flags = (uint16_t)(SK_FLAG_QR | (r->q->opcode << 11) | r->flags |
		(r->q->flags & (SK_FLAG_RD | SK_FLAG_CD)));
	sk_hdr_set_flags(o, (uint16_t)(flags | (r->rcode & 0x0f)));
	if (r->with_opt)
		pos += write_opt(r, o + pos);
	bool error_tsig = r->tsig_error && !r->sign;
	if (error_tsig)
		pos += sk_tsig_write_error(r->q, r->tsig_error, o + pos);
	sk_hdr_set_counts(o, r->with_question ? 1 : 0, r->an, r->ns,
		(uint16_t)(r->ar + (r->with_opt ? 1 : 0) + (error_tsig ? 1 : 0)));
	if (r->sign) {
		size_t signed_len = sk_tsig_sign(r->tsig, o, pos, r->limit, r->now);
		if (signed_len)
			pos = signed_len;
	}
	return pos;
}

/* A reply with no records: errors, REFUSED, NOTIMP. */
static size_t reply_empty(reply_t *r)
{
	return finish(r, write_head(r));
}

/* Write the plan's RRsets section by section; a required set that does not fit sets TC. */
static size_t reply_plan(reply_t *r, const sk_plan_t *plan)
{
	size_t pos = write_head(r);
	sk_writer_t w;
	sk_wr_init(&w, r->out, r->limit - reserve(r), pos, SK_HDR_LEN,
		r->with_question ? r->q->lname : NULL);

	if (plan->aa)
		r->flags |= SK_FLAG_AA;
	for (unsigned i = 0; i < plan->n; i++) {
		const sk_rr_ref_t *ref = &plan->rr[i];
		int n = sk_wr_rrset(&w, ref);
		if (n < 0) {
			if (ref->section == SK_SECTION_ADDITIONAL && !(ref->flags & SK_RR_REQUIRED))
				continue;      /* optional additional data is left out silently (RFC 2181 s9) */
			/* A set the reply needs does not fit: say so and let the client retry over TCP.
			 * Additional data after a cut would be misleading, so nothing more is written. */
			r->flags |= SK_FLAG_TC;
			break;
		}
		if (ref->section == SK_SECTION_ANSWER)
			r->an = (uint16_t)(r->an + n);
		else if (ref->section == SK_SECTION_AUTHORITY)
			r->ns = (uint16_t)(r->ns + n);
		else
			r->ar = (uint16_t)(r->ar + n);
	}
	return finish(r, w.pos);
}

/* Write a TXT record with `text` (split into 255-byte strings) owned by the query name. */
static size_t reply_chaos_txt(reply_t *r, const char *text)
{
	size_t pos = write_head(r);
	size_t len = strlen(text);
	size_t rdlen = len + (len + 254) / 255 + (len == 0);
	if (pos + 12 + rdlen + reserve(r) > r->limit) {
		r->flags |= SK_FLAG_TC;
		return finish(r, pos);
	}
	uint8_t *o = r->out + pos;
	sk_put16(o, (uint16_t)(0xc000 | SK_HDR_LEN));
	sk_put16(o + 2, SK_TYPE_TXT);
	sk_put16(o + 4, SK_CLASS_CH);
	sk_put32(o + 6, 0);
	sk_put16(o + 10, (uint16_t)rdlen);
	o += 12;
	do {
		size_t chunk = len > 255 ? 255 : len;
		*o++ = (uint8_t)chunk;
		memcpy(o, text, chunk);
		o += chunk;
		text += chunk;
		len -= chunk;
	} while (len);
	r->an = 1;
	return finish(r, pos + 12 + rdlen);
}

/* Class CH: the server's own names (id.server, hostname.bind, version.bind, version.server). */
static size_t reply_chaos(reply_t *r)
{
	static const uint8_t id_server[] = "\2id\6server";
	static const uint8_t hostname_bind[] = "\10hostname\4bind";
	static const uint8_t version_bind[] = "\7version\4bind";
	static const uint8_t version_server[] = "\7version\6server";
	const sk_query_t *q = r->q;
	const uint8_t *n = q->lname;
	const char *text = NULL;
	bool known = false;

	if (sk_name_equal_nocase(n, id_server) || sk_name_equal_nocase(n, hostname_bind)) {
		text = r->conf->identity && r->conf->identity[0] ? r->conf->identity : NULL;
		known = true;
	} else if (sk_name_equal_nocase(n, version_bind) || sk_name_equal_nocase(n, version_server)) {
		text = r->conf->version;
		known = true;
	}
	/* Only TXT is served in class CH; other types, ANY included, are refused as Knot DNS does. */
	if (!known || !text || q->qtype != SK_TYPE_TXT) {
		r->rcode = SK_RCODE_REFUSED;
		return reply_empty(r);
	}
	return reply_chaos_txt(r, text);
}

/* Negotiated reply size: RFC 6891 s6.2.5 for UDP, a full frame for TCP. */
static size_t reply_limit(const sk_query_t *q, const sk_conf_t *conf, int transport, size_t cap)
{
	size_t limit = SK_MSG_MAX;
	if (transport == SK_TRANSPORT_UDP) {
		limit = SK_UDP_MIN;
		if (q->edns && q->edns_size > SK_UDP_MIN)
			limit = q->edns_size < conf->edns_size ? q->edns_size : conf->edns_size;
	}
	return limit < cap ? limit : cap;
}

/*
 * The request's TSIG (RFC 8945 s5.2), checked against `transfer.keys` (none configured: every key
 * is unknown). Returns true when the query is to be answered (signed); false when `r` is set up
 * for the error reply instead: NOTAUTH with an unsigned TSIG (BADKEY, BADSIG, BADTRUNC), NOTAUTH
 * signed (BADTIME), or FORMERR. An error reply whose TSIG would not fit the UDP limit (long
 * key and algorithm names) says TC.
 */
static bool check_tsig(reply_t *r, const sk_conf_t *conf)
{
	const sk_query_t *q = r->q;
	sk_tsig_status_t st = sk_tsig_verify(q, conf->xfr.keys, conf->xfr.nkeys, r->now, r->tsig);
	if (st == SK_TSIG_VALID) {
		r->sign = true;
		return true;
	}
	if (st == SK_TSIG_MALFORMED) {
		r->rcode = SK_RCODE_FORMERR;
		return false;
	}
	r->rcode = SK_RCODE_NOTAUTH;
	r->sign = r->tsig->key != NULL;             /* BADTIME */
	size_t tsig = r->sign ? sk_tsig_size(r->tsig) : sk_tsig_error_size(q);
	size_t head = SK_HDR_LEN + q->qname_len + 4u;
	if (r->with_nsid && head + opt_size(r) + tsig > r->limit)
		r->with_nsid = false;
	if (head + (r->with_opt ? opt_size(r) : 0) + tsig > r->limit) {
		r->flags |= SK_FLAG_TC;
		r->sign = false;
	} else if (!r->sign) {
		r->tsig_error = r->tsig->error;
	}
	return false;
}

/* The zone's SOA alone: an IXFR from a client that is up to date, or over UDP (RFC 1995 s2:
 * the client then comes back over TCP). */
static size_t reply_soa(reply_t *r, const sk_zone_t *zone)
{
	sk_plan_t plan = { .rcode = SK_RCODE_NOERROR, .aa = true, .zone = zone, .n = 1 };
	plan.rr[0] = (sk_rr_ref_t){ .rrset = sk_zone_soa(zone), .owner = NULL, .qoff = 0,
		.section = SK_SECTION_ANSWER };
	return reply_plan(r, &plan);
}

/* Newer in serial number arithmetic (RFC 1982). */
static bool serial_after(uint32_t a, uint32_t b)
{
	return a != b && (uint32_t)(a - b) < 0x80000000u;
}

/*
 * AXFR and IXFR. Without a `transfer` section, NOTIMP over UDP and REFUSED over TCP, as before
 * there were transfers. With one: AXFR over UDP stays NOTIMP (RFC 5936 s4.2 defines none; Knot
 * DNS answers so); a client no allow entry matches gets REFUSED; a name that is no zone apex,
 * seized domain or catalog NOTAUTH (RFC 5936 s2.2.1); an IXFR whose client is up to date, or
 * that came over UDP, the SOA alone; everything else is a transfer the caller streams.
 */
static size_t reply_xfr(reply_t *r, const sk_snapshot_t *snap, const sk_client_t *client,
	int transport, sk_resp_info_t *info)
{
	const sk_query_t *q = r->q;
	const sk_xfr_conf_t *x = &snap->conf->xfr;
	if (!x->enabled || (q->qtype == SK_TYPE_AXFR && transport == SK_TRANSPORT_UDP)) {
		r->rcode = transport == SK_TRANSPORT_UDP ? SK_RCODE_NOTIMP : SK_RCODE_REFUSED;
		return reply_empty(r);
	}
	if (!sk_xfr_allowed(x, client->addr, r->sign ? r->tsig->key : NULL)) {
		r->rcode = SK_RCODE_REFUSED;
		return reply_empty(r);
	}
	sk_db_walk_t walk;
	if (sk_db_walk_init(snap->db, q->lname, q->qname_len, x->seized, &walk) == SK_WALK_NONE) {
		r->rcode = SK_RCODE_NOTAUTH;
		return reply_empty(r);
	}
	info->zone = walk.zone;
	info->tags = sk_zone_tagset(walk.zone);
	if (q->qtype == SK_TYPE_IXFR && (transport == SK_TRANSPORT_UDP ||
	    (q->has_ixfr_serial && !serial_after(sk_zone_serial(walk.zone), q->ixfr_serial))))
		return reply_soa(r, walk.zone);
	info->xfr = true;
	return 0;
}

static size_t reply_query(reply_t *r, const sk_snapshot_t *snap, const sk_client_t *client,
	int transport, sk_resp_info_t *info)
{
	const sk_query_t *q = r->q;

	if (q->has_tsig && !check_tsig(r, snap->conf))
		return reply_empty(r);
	if (q->opcode == SK_OPCODE_NOTIFY) {
		/* We are nobody's secondary: a NOTIFY is not ours to act on (as Knot DNS answers). */
		r->rcode = SK_RCODE_NOTAUTH;
		return reply_empty(r);
	}
	if (q->qclass == SK_CLASS_CH)
		return reply_chaos(r);
	/* QCLASS * matches every class (RFC 1035 3.2.5); all our data is IN, so it gets the IN answer. */
	if (q->qclass != SK_CLASS_IN && q->qclass != SK_CLASS_ANY) {
		r->rcode = SK_RCODE_REFUSED;
		return reply_empty(r);
	}
	switch (q->qtype) {
	case SK_TYPE_AXFR:
	case SK_TYPE_IXFR:
		return reply_xfr(r, snap, client, transport, info);
	case SK_TYPE_OPT:
	case SK_TYPE_TSIG:
		/* Pseudo-records live only in the additional section; asking for one is malformed. */
		r->rcode = SK_RCODE_FORMERR;
		return reply_empty(r);
	}

	sk_plan_t plan;
	sk_db_lookup(snap->db, q->lname, q->qname_len, q->qtype, &plan);
	info->zone = plan.zone;
	info->apex_off = plan.apex_off;
	info->tags = plan.tags;
	info->wild_off = plan.wild_off;
	r->rcode = plan.rcode;
	return reply_plan(r, &plan);
}

/*
 * RFC 7873 s5.2: a query with a COOKIE gets one back, its client cookie with a server cookie
 * (made now, or the one it sent while still fresh). Nothing is checked with cookies disabled.
 */
static void check_cookie(reply_t *r, const sk_cookie_conf_t *cc, const sk_client_t *client,
	sk_resp_info_t *info)
{
	if (!r->q->has_cookie || !cc->enabled)
		return;
	uint8_t ip[16];
	size_t iplen = sk_cookie_addr(client->addr, ip);
	info->cookie = (uint8_t)sk_cookie_answer(cc, r->q->cookie, r->q->cookie_len, ip, iplen,
		client->now, r->cookie);
	r->with_cookie = true;
}

/*
 * `cookies.require`: over UDP, a client that speaks cookies but has no valid server cookie gets
 * BADCOOKIE and a fresh cookie to retry with (RFC 7873 s5.2.3). TCP has proved the address
 * already, and a query without any COOKIE is answered: it cannot be told to come back with one.
 */
static bool cookie_refused(const reply_t *r, const sk_cookie_conf_t *cc, int transport,
	const sk_resp_info_t *info)
{
	return r->with_cookie && cc->require && transport == SK_TRANSPORT_UDP &&
		info->cookie != SK_COOKIE_VALID;
}

size_t sk_respond(const sk_snapshot_t *snap, const sk_client_t *client, const uint8_t *msg,
	size_t len, int transport, uint8_t *out, size_t cap, sk_resp_info_t *info)
{
	sk_query_t *q = &info->q;
	const sk_cookie_conf_t *cc = &snap->conf->cookies;
	info->zone = NULL;
	info->apex_off = 0;
	info->tags = NULL;
	info->wild_off = 0;
	info->opt = false;
	info->size = 0;
	info->rcode = 0;
	info->flags = 0;
	info->cookie = SK_COOKIE_NONE;
	info->xfr = false;
	info->tsig.key = NULL;
	info->status = sk_query_parse(q, msg, len);
	if (info->status == SK_QUERY_DROP || cap < SK_HDR_LEN)
		return 0;

	reply_t r = {
		.out = out, .cap = cap, .conf = snap->conf, .q = q,
		.limit = reply_limit(q, snap->conf, transport, cap),
		.with_question = q->has_question,
		.with_opt = q->edns,
		.tsig = &info->tsig,
		.now = client->now,
	};
	if (info->status == SK_QUERY_OK || info->status == SK_QUERY_NOQUESTION)
		check_cookie(&r, cc, client, info);
	if (info->status == SK_QUERY_NOQUESTION && !r.with_cookie)
		info->status = SK_QUERY_FORMERR;    /* cookies disabled: no question, no answer */
	/* Header and question (at most 271 bytes, as they came in) and our OPT with ECS and COOKIE
	 * (at most 63) always fit in 512; NSID is left out where a long identity would not leave
	 * room for it. */
	r.with_nsid = q->nsid && snap->conf->identity && snap->conf->identity[0];
	if (r.with_nsid && SK_HDR_LEN + q->qname_len + 4u + opt_size(&r) > r.limit)
		r.with_nsid = false;
	size_t n;
	switch (info->status) {
	case SK_QUERY_OK:
		if (cookie_refused(&r, cc, transport, info)) {
			r.rcode = SK_RCODE_BADCOOKIE;
			n = reply_empty(&r);
			break;
		}
		n = reply_query(&r, snap, client, transport, info);
		break;
	case SK_QUERY_NOQUESTION:
		/* RFC 7873 s5.4: just the cookie. A server cookie that does not verify is BADCOOKIE,
		 * a client cookie alone NOERROR. */
		r.rcode = info->cookie == SK_COOKIE_BAD ? SK_RCODE_BADCOOKIE : SK_RCODE_NOERROR;
		n = reply_empty(&r);
		break;
	case SK_QUERY_BADVERS:
		r.rcode = SK_RCODE_BADVERS;
		n = reply_empty(&r);
		break;
	case SK_QUERY_NOTIMP:
		r.rcode = SK_RCODE_NOTIMP;
		r.with_opt = false;
		n = reply_empty(&r);
		break;
	default:
		/* FORMERR: what we parsed cannot be trusted, so no question and no OPT are echoed. */
		r.rcode = SK_RCODE_FORMERR;
		r.with_question = false;
		r.with_opt = false;
		n = reply_empty(&r);
		break;
	}
	info->rcode = r.rcode;
	info->opt = r.with_opt;
	info->flags = n ? sk_hdr_flags(out) : 0;
	info->size = (uint16_t)n;
	return n;
}

/* The end of the (possibly compressed) name at m[pos], or 0 when it is not a name within `len`. */
static size_t skip_name(const uint8_t *m, size_t len, size_t pos)
{
	return sk_wire_skip_name(m, len, &pos) ? pos : 0;
}

#define OPT_BARE 11   /* root owner, TYPE, CLASS, TTL, RDLENGTH 0 */

size_t sk_reply_cut(uint8_t *reply, size_t len)
{
	if (len < SK_HDR_LEN)
		return len;
	size_t pos = SK_HDR_LEN, end;
	uint16_t qd = 0;
	if (sk_hdr_qdcount(reply) == 1 && (end = skip_name(reply, len, pos)) && end + 4 <= len) {
		pos = end + 4;
		qd = 1;
	}
	/* The OPT is in the additional section: walk the records to it. */
	unsigned an = sk_hdr_ancount(reply), ns = sk_hdr_nscount(reply), ar = sk_hdr_arcount(reply);
	uint8_t opt[OPT_BARE];
	bool have_opt = false;
	size_t p = pos;
	for (unsigned i = 0; qd && i < an + ns + ar; i++) {
		size_t q = skip_name(reply, len, p);
		if (!q || q + 10 > len)
			break;
		size_t rdlen = sk_get16(reply + q + 8);
		if (i >= an + ns && sk_get16(reply + q) == SK_TYPE_OPT && q == p + 1) {
			opt[0] = 0;
			memcpy(opt + 1, reply + q, 8);   /* TYPE, CLASS (payload size), TTL (rcode, DO) */
			sk_put16(opt + 9, 0);
			have_opt = true;
			break;
		}
		p = q + 10 + rdlen;
	}
	if (pos + (have_opt ? OPT_BARE : 0) >= len)
		return len;   /* nothing to cut: it is as small as it gets */
	/* The OPT found lies at or after `pos` and is OPT_BARE bytes at least: it fits here. */
	if (have_opt) {
		memcpy(reply + pos, opt, OPT_BARE);
		pos += OPT_BARE;
	}
	sk_hdr_set_flags(reply, (uint16_t)(sk_hdr_flags(reply) | SK_FLAG_TC));
	sk_hdr_set_counts(reply, qd, 0, 0, have_opt ? 1 : 0);
	return pos;
}
