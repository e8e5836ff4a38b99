/* query.c -- parse a received message into a query view, in place, without allocating */
#include "dns/name.h"
#include "dns/query.h"

/*
 * Parse the question name at *pos: labels only. A query's question is the first name of the
 * message, so there is nothing before it to point to; a pointer or an extended label type
 * (RFC 6891 s5) makes the query malformed.
 */
static bool parse_qname(sk_query_t *q, size_t *pos)
{
	size_t p = *pos, start = p;
	for (;;) {
		if (p >= q->len)
			return false;
		uint8_t l = q->msg[p];
		if (l == 0)
			break;
		if (l > SK_LABEL_MAX)
			return false;
		p += l + 1u;
		if (p - start >= SK_NAME_MAX)
			return false;
	}
	p++;
	q->qname = q->msg + start;
	q->qname_len = (uint8_t)(p - start);
	sk_name_lower(q->lname, q->qname, q->qname_len);
	*pos = p;
	return true;
}

/* Step over a name that may end in a compression pointer (records in other sections). */
static bool skip_name(const sk_query_t *q, size_t *pos)
{
	return sk_wire_skip_name(q->msg, q->len, pos);
}

/* Copy the possibly compressed name at *pos into out (uncompressed); step *pos past it. Pointers
 * must go backwards, so a loop cannot be built. */
static bool read_name(const sk_query_t *q, size_t *pos, uint8_t *out, uint8_t *out_len)
{
	size_t p = *pos, n = 0, end = 0;
	for (unsigned hops = 0; hops < SK_LABELS_MAX; hops++) {
		if (p >= q->len)
			return false;
		uint8_t l = q->msg[p];
		if (sk_is_pointer(l)) {
			if (p + 2 > q->len)
				return false;
			size_t target = sk_pointer_offset(q->msg + p);
			if (!end)
				end = p + 2;
			if (target >= p)
				return false;
			p = target;
			continue;
		}
		if (l > SK_LABEL_MAX || n + l + 1 > SK_NAME_MAX || p + l + 1 > q->len)
			return false;
		memcpy(out + n, q->msg + p, l + 1u);
		n += l + 1u;
		if (l == 0) {
			*pos = end ? end : p + 1;
			*out_len = (uint8_t)n;
			return true;
		}
		p += l + 1u;
	}
	return false;
}

/* TSIG RDATA (RFC 8945 s4.2): every length must add up to RDLENGTH exactly. */
static bool parse_tsig(sk_query_t *q, const uint8_t *rdata, size_t rdlen)
{
	size_t p = 0;
	while (p < rdlen && rdata[p] && rdata[p] <= SK_LABEL_MAX)
		p += rdata[p] + 1u;
	if (p >= rdlen || rdata[p])
		return false;                    /* the algorithm name is never compressed */
	size_t alg = p + 1;
	if (rdlen - alg < 10)
		return false;
	size_t mac = sk_get16(rdata + alg + 8);
	size_t rest = alg + 10 + mac;
	if (rdlen < rest + 6 || rdlen != rest + 6 + sk_get16(rdata + rest + 4))
		return false;
	q->tsig_rdata = rdata;
	q->tsig_alg_len = (uint16_t)alg;
	q->tsig_orig_id = sk_get16(rdata + rest);
	return true;
}

/* The SOA an IXFR carries in its authority section (RFC 1995 s3): its serial follows the two
 * names of its RDATA, which may be compressed. */
static bool parse_ixfr_soa(sk_query_t *q, size_t rd, size_t rdlen)
{
	size_t p = rd;
	if (q->len - rd < rdlen || !skip_name(q, &p) || !skip_name(q, &p) || p + 20 != rd + rdlen)
		return false;
	q->ixfr_serial = sk_get32(q->msg + p);
	q->has_ixfr_serial = true;
	return true;
}

/* ECS option (RFC 7871 s6): the address must hold exactly the source prefix, its spare bits zero. */
static bool parse_ecs(sk_query_t *q, const uint8_t *d, size_t len)
{
	if (q->has_ecs || len < 4)
		return false;
	uint16_t family = sk_get16(d);
	uint8_t source = d[2], scope = d[3];
	unsigned max = family == 1 ? 32 : family == 2 ? 128 : 0;
	if (!max || source > max)
		return false;
	size_t bytes = (source + 7u) / 8u;
	if (len != 4 + bytes)
		return false;
	if (bytes && (source % 8) && (d[4 + bytes - 1] & (0xffu >> (source % 8))))
		return false;
	q->has_ecs = true;
	q->ecs.family = family;
	q->ecs.source = source;
	q->ecs.scope = scope;
	memset(q->ecs.addr, 0, sizeof q->ecs.addr);
	memcpy(q->ecs.addr, d + 4, bytes);
	return true;
}

/* The OPT record's fixed part starts at `rr` (after its owner); its RDATA is `rdlen` bytes on. */
static sk_query_status_t parse_opt(sk_query_t *q, const uint8_t *rr, size_t rdlen)
{
	q->edns = true;
	q->edns_size = sk_get16(rr + 2);
	q->edns_version = rr[5];
	q->edns_do = (sk_get16(rr + 6) & 0x8000) != 0;

	const uint8_t *d = rr + 10, *end = d + rdlen;
	while (d < end) {
		if (end - d < 4)
			return SK_QUERY_FORMERR;
		uint16_t code = sk_get16(d), olen = sk_get16(d + 2);
		d += 4;
		if (olen > end - d)
			return SK_QUERY_FORMERR;
		switch (code) {
		case SK_EDNS_NSID:
			q->nsid = true;
			break;
		case SK_EDNS_ECS:
			if (!parse_ecs(q, d, olen))
				return SK_QUERY_FORMERR;
			break;
		case SK_EDNS_COOKIE:
			/* RFC 7873 s5.2: only the first COOKIE option counts, the others are ignored;
			 * it is a client cookie alone (8) or with a server cookie (16..40). This is the
			 * one place that checks the length: everything after trusts cookie_len. */
			if (q->has_cookie)
				break;
			if (!(olen == SK_COOKIE_CLIENT_LEN ||
			      (olen >= SK_COOKIE_CLIENT_LEN + 8 && olen <= SK_COOKIE_OPT_MAX)))
				return SK_QUERY_FORMERR;
			q->has_cookie = true;
			q->cookie_len = (uint8_t)olen;
			memcpy(q->cookie, d, olen);
			break;
		default:
			break;      /* unknown options are ignored (RFC 6891 s6.1.2) */
		}
		d += olen;
	}
	return SK_QUERY_OK;
}

/* Walk the answer, authority and additional sections; the additional may hold one OPT. */
static sk_query_status_t parse_records(sk_query_t *q, size_t pos)
{
	const uint8_t *m = q->msg;
	unsigned skipped = (unsigned)sk_hdr_ancount(m) + sk_hdr_nscount(m);
	unsigned total = skipped + sk_hdr_arcount(m);

	for (unsigned i = 0; i < total; i++) {
		size_t owner = pos;
		if (!skip_name(q, &pos) || q->len - pos < 10)
			return SK_QUERY_FORMERR;
		uint16_t type = sk_get16(m + pos);
		if (type == SK_TYPE_TSIG) {
			/* RFC 8945 s5.1: TSIG is the last record of the additional section, class ANY. */
			size_t at = owner;
			size_t rdlen = sk_get16(m + pos + 8);
			if (i != total - 1 || i < skipped || sk_get16(m + pos + 2) != SK_CLASS_ANY ||
			    q->len - pos - 10 < rdlen || !read_name(q, &at, q->tsig_key, &q->tsig_key_len) ||
			    !parse_tsig(q, m + pos + 10, rdlen))
				return SK_QUERY_FORMERR;
			q->has_tsig = true;
			q->tsig_off = (uint16_t)owner;
		}
		if (type == SK_TYPE_SOA && i == sk_hdr_ancount(m) && i < skipped &&
		    q->qtype == SK_TYPE_IXFR && !parse_ixfr_soa(q, pos + 10, sk_get16(m + pos + 8)))
			return SK_QUERY_FORMERR;
		size_t rdlen = sk_get16(m + pos + 8);
		if (q->len - pos - 10 < rdlen)
			return SK_QUERY_FORMERR;
		if (type == SK_TYPE_OPT) {
			/* RFC 6891 s6.1.1: one OPT, in the additional section, owned by the root. */
			if (i < skipped || q->edns || m[owner] != 0)
				return SK_QUERY_FORMERR;
			sk_query_status_t st = parse_opt(q, m + pos, rdlen);
			if (st != SK_QUERY_OK)
				return st;
		}
		pos += 10 + rdlen;
	}
	if (pos != q->len)
		return SK_QUERY_FORMERR;     /* bytes after the last record */
	return SK_QUERY_OK;
}

/*
 * QDCOUNT 0: RFC 7873 s5.4 lets a client ask for a server cookie alone, with a query that holds
 * nothing but an OPT with a COOKIE. Anything else without a question stays malformed.
 */
static sk_query_status_t parse_no_question(sk_query_t *q)
{
	sk_query_status_t st = parse_records(q, SK_HDR_LEN);
	if (st != SK_QUERY_OK)
		return st;
	if (q->edns && q->edns_version > 0)
		return SK_QUERY_BADVERS;
	return q->has_cookie ? SK_QUERY_NOQUESTION : SK_QUERY_FORMERR;
}

sk_query_status_t sk_query_parse(sk_query_t *q, const uint8_t *msg, size_t len)
{
	q->msg = msg;
	q->len = len;
	q->has_question = false;
	q->edns = false;
	q->edns_size = 0;
	q->edns_version = 0;
	q->edns_do = false;
	q->nsid = false;
	q->has_ecs = false;
	q->has_cookie = false;
	q->cookie_len = 0;
	q->has_tsig = false;
	q->has_ixfr_serial = false;
	q->qname = NULL;
	q->qname_len = 0;
	q->qtype = q->qclass = 0;

	if (len < SK_HDR_LEN)
		return SK_QUERY_DROP;
	q->id = sk_hdr_id(msg);
	q->flags = sk_hdr_flags(msg);
	q->opcode = sk_hdr_opcode(msg);
	if (q->flags & SK_FLAG_QR)
		return SK_QUERY_DROP;    /* never answer a response: that is how reflection loops start */

	bool known_opcode = q->opcode == SK_OPCODE_QUERY || q->opcode == SK_OPCODE_NOTIFY;
	if (sk_hdr_qdcount(msg) == 0 && q->opcode == SK_OPCODE_QUERY)
		return parse_no_question(q);
	if (sk_hdr_qdcount(msg) != 1)
		return known_opcode ? SK_QUERY_FORMERR : SK_QUERY_NOTIMP;

	size_t pos = SK_HDR_LEN;
	if (!parse_qname(q, &pos) || len - pos < 4)
		return known_opcode ? SK_QUERY_FORMERR : SK_QUERY_NOTIMP;
	q->qtype = sk_get16(msg + pos);
	q->qclass = sk_get16(msg + pos + 2);
	q->has_question = true;
	pos += 4;
	if (!known_opcode)
		return SK_QUERY_NOTIMP;

	sk_query_status_t st = parse_records(q, pos);
	if (st != SK_QUERY_OK)
		return st;
	if (q->edns && q->edns_version > 0)
		return SK_QUERY_BADVERS;
	return SK_QUERY_OK;
}
