/* respond.c -- one query in, one reply out: status, chaos names, lookup plan, EDNS, truncation */
#include "dns/name.h"
#include "dns/respond.h"
#include "dns/writer.h"
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
	bool with_badkey;        /* a TSIG with a key we do not have: unsigned TSIG, error BADKEY */
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
 * The unsigned TSIG of a BADKEY reply (RFC 8945 s5.2, s5.3.2): the request's key name, algorithm,
 * time signed and fudge, no MAC, the original ID, error 17, no other data.
 */
#define SK_TSIG_BADKEY 17
static size_t write_badkey(const reply_t *r, uint8_t *p)
{
	const sk_query_t *q = r->q;
	uint8_t *start = p;
	memcpy(p, q->tsig_key, q->tsig_key_len);
	p += q->tsig_key_len;
	sk_put16(p, SK_TYPE_TSIG);
	sk_put16(p + 2, SK_CLASS_ANY);
	sk_put32(p + 4, 0);
	uint8_t *rdlen = p + 8;
	p += 10;
	memcpy(p, q->tsig_rdata, q->tsig_alg_len + 8u);   /* algorithm, time signed, fudge */
	p += q->tsig_alg_len + 8u;
	sk_put16(p, 0);                                    /* MAC size */
	sk_put16(p + 2, q->tsig_orig_id);
	sk_put16(p + 4, SK_TSIG_BADKEY);
	sk_put16(p + 6, 0);                                /* other len */
	p += 8;
	sk_put16(rdlen, (uint16_t)(p - rdlen - 2));
	return (size_t)(p - start);
}

/* Close the reply: flags, rcode, counts, OPT (and a BADKEY TSIG last). Returns its length. */
static size_t finish(reply_t *r, size_t pos)
{
	uint8_t *o = r->out;
	uint16_t flags = (uint16_t)(SK_FLAG_QR | (r->q->opcode << 11) | r->flags |
		(r->q->flags & (SK_FLAG_RD | SK_FLAG_CD)));
	sk_hdr_set_flags(o, (uint16_t)(flags | (r->rcode & 0x0f)));
	if (r->with_opt)
		pos += write_opt(r, o + pos);
	if (r->with_badkey)
		pos += write_badkey(r, o + pos);
	sk_hdr_set_counts(o, r->with_question ? 1 : 0, r->an, r->ns,
		(uint16_t)(r->ar + (r->with_opt ? 1 : 0) + (r->with_badkey ? 1 : 0)));
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
	size_t reserve = r->with_opt ? opt_size(r) : 0;
	sk_writer_t w;
	sk_wr_init(&w, r->out, r->limit - reserve, pos, SK_HDR_LEN);

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
	size_t reserve = r->with_opt ? opt_size(r) : 0;
	if (pos + 12 + rdlen + reserve > r->limit) {
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

static size_t reply_query(reply_t *r, const sk_snapshot_t *snap, int transport, sk_resp_info_t *info)
{
	const sk_query_t *q = r->q;

	if (q->has_tsig) {
		/* No TSIG keys are configured yet, so every key is unknown (RFC 8945 s5.2). A reply
		 * whose TSIG would not fit the UDP limit (long key and algorithm names) says TC. */
		r->rcode = SK_RCODE_NOTAUTH;
		size_t tsig = q->tsig_key_len + 10u + q->tsig_alg_len + 16u;
		size_t head = SK_HDR_LEN + q->qname_len + 4u;
		if (r->with_nsid && head + opt_size(r) + tsig > r->limit)
			r->with_nsid = false;
		if (head + (r->with_opt ? opt_size(r) : 0) + tsig > r->limit)
			r->flags |= SK_FLAG_TC;
		else
			r->with_badkey = true;
		return reply_empty(r);
	}
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
		/* Transfers are not offered yet: not over UDP at all, refused over TCP. */
		r->rcode = transport == SK_TRANSPORT_UDP ? SK_RCODE_NOTIMP : SK_RCODE_REFUSED;
		return reply_empty(r);
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
	info->status = sk_query_parse(q, msg, len);
	if (info->status == SK_QUERY_DROP || cap < SK_HDR_LEN)
		return 0;

	reply_t r = {
		.out = out, .cap = cap, .conf = snap->conf, .q = q,
		.limit = reply_limit(q, snap->conf, transport, cap),
		.with_question = q->has_question,
		.with_opt = q->edns,
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
		n = reply_query(&r, snap, transport, info);
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
	info->flags = sk_hdr_flags(out);
	info->size = (uint16_t)n;
	return n;
}
