/* writer.c -- message building with name compression (RFC 1035 4.1.4) */
#include <stdbool.h>

#include "dns/name.h"
#include "dns/wire.h"
#include "dns/writer.h"
#include "util/err.h"

static void add_target(sk_writer_t *w, size_t off)
{
	/* A pointer holds 14 bits; positions past that cannot be targets. */
	if (w->ntargets < SK_WR_TARGETS && off < 0x4000)
		w->target[w->ntargets++] = (uint16_t)off;
}

void sk_wr_init(sk_writer_t *w, uint8_t *buf, size_t limit, size_t pos, size_t qname_off)
{
	w->buf = buf;
	w->limit = limit;
	w->pos = pos;
	w->ntargets = 0;
	/* Every label start of the question name is a target: owners that are the query name or
	 * its zone's apex then cost two bytes. */
	for (size_t p = qname_off; p < pos && buf[p]; p += buf[p] + 1u)
		add_target(w, p);
}

static inline uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/*
 * Does the name in the message at `off` (which may continue through pointers the writer itself
 * wrote, always backwards) spell exactly `name`? Case-insensitive.
 */
static bool msg_name_equals(const sk_writer_t *w, size_t off, const uint8_t *name)
{
	const uint8_t *m = w->buf;
	for (unsigned hops = 0; hops < SK_LABELS_MAX;) {
		if (sk_is_pointer(m[off])) {
			off = sk_pointer_offset(m + off);
			hops++;
			continue;
		}
		if (m[off] != *name)
			return false;
		if (!*name)
			return true;
		for (unsigned i = 1; i <= *name; i++)
			if (lower(m[off + i]) != lower(name[i]))
				return false;
		off += m[off] + 1u;
		name += *name + 1;
	}
	return false;
}

/* Offset of an earlier copy of `suffix` in the message, or -1. */
static int find_target(const sk_writer_t *w, const uint8_t *suffix)
{
	for (unsigned t = 0; t < w->ntargets; t++)
		if (w->buf[w->target[t]] == *suffix && msg_name_equals(w, w->target[t], suffix))
			return w->target[t];
	return -1;
}

int sk_wr_name(sk_writer_t *w, const uint8_t *name)
{
	uint8_t off[SK_LABELS_MAX + 1];
	unsigned n = sk_name_label_offsets(name, off);
	unsigned i;
	int ptr = -1;

	/* Longest suffix first, so the first hit saves the most. The root alone is never pointed to. */
	for (i = 0; i < n; i++) {
		ptr = find_target(w, name + off[i]);
		if (ptr >= 0)
			break;
	}
	size_t literal = off[i];                  /* bytes of labels written out */
	size_t need = literal + (ptr >= 0 ? 2 : 1);
	if (w->pos + need > w->limit)
		return SK_ETOOBIG;
	memcpy(w->buf + w->pos, name, literal);
	for (unsigned k = 0; k < i; k++)
		add_target(w, w->pos + off[k]);
	w->pos += literal;
	if (ptr >= 0) {
		sk_put16(w->buf + w->pos, (uint16_t)(0xc000 | ptr));
		w->pos += 2;
	} else {
		w->buf[w->pos++] = 0;
	}
	return 0;
}

/* Write the owner of a record: a pointer into the question, or a stored name. */
static int write_owner(sk_writer_t *w, const sk_rr_ref_t *ref)
{
	if (ref->owner)
		return sk_wr_name(w, ref->owner);
	if (w->pos + 2 > w->limit)
		return SK_ETOOBIG;
	sk_put16(w->buf + w->pos, (uint16_t)(0xc000 | (SK_HDR_LEN + ref->qoff)));
	w->pos += 2;
	return 0;
}

/*
 * RDATA layouts whose names RFC 3597 s4 allows to compress: how many names lead the RDATA after
 * `skip` fixed bytes, as (skip, names). Everything after the names is copied as it is. The names
 * are read without a length: db/zone.c (rdata_layout) refuses a record of these types whose
 * RDATA does not hold them whole, so a type added here is added there too.
 */
static bool compressible(uint16_t type, unsigned *skip, unsigned *names)
{
	switch (type) {
	case SK_TYPE_NS: case SK_TYPE_MD: case SK_TYPE_MF: case SK_TYPE_CNAME:
	case SK_TYPE_MB: case SK_TYPE_MG: case SK_TYPE_MR: case SK_TYPE_PTR:
		*skip = 0, *names = 1;
		return true;
	case SK_TYPE_SOA: case SK_TYPE_MINFO:
		*skip = 0, *names = 2;
		return true;
	case SK_TYPE_MX:
		*skip = 2, *names = 1;
		return true;
	}
	return false;
}

/* Copy one record's RDATA, compressing its leading names; fixes RDLENGTH at `rdlen_at`. */
static int write_rdata(sk_writer_t *w, uint16_t type, const uint8_t *rdata, size_t rdlen, size_t rdlen_at)
{
	unsigned skip, names;
	if (!compressible(type, &skip, &names)) {
		if (w->pos + rdlen > w->limit)
			return SK_ETOOBIG;
		memcpy(w->buf + w->pos, rdata, rdlen);
		w->pos += rdlen;
		return 0;
	}
	size_t start = w->pos, in = 0;
	if (skip) {
		if (w->pos + skip > w->limit || skip > rdlen)
			return SK_ETOOBIG;
		memcpy(w->buf + w->pos, rdata, skip);
		w->pos += skip;
		in = skip;
	}
	for (unsigned k = 0; k < names; k++) {
		int rc = sk_wr_name(w, rdata + in);
		if (rc)
			return rc;
		in += sk_name_len(rdata + in);
	}
	size_t rest = rdlen - in;
	if (w->pos + rest > w->limit)
		return SK_ETOOBIG;
	memcpy(w->buf + w->pos, rdata + in, rest);
	w->pos += rest;
	sk_put16(w->buf + rdlen_at, (uint16_t)(w->pos - start));
	return 0;
}

int sk_wr_rrset(sk_writer_t *w, const sk_rr_ref_t *ref)
{
	const sk_rrset_t *rs = ref->rrset;
	size_t mark = w->pos;
	unsigned mark_targets = w->ntargets;
	const uint8_t *rec = rs->data, *end = rs->data + rs->len;
	int count = 0;

	while (rec < end) {
		size_t rdlen = sk_get16(rec + 8);
		if (write_owner(w, ref) || w->pos + 10 > w->limit)
			goto toobig;
		memcpy(w->buf + w->pos, rec, 10);
		w->pos += 10;
		if (write_rdata(w, rs->type, rec + 10, rdlen, w->pos - 2))
			goto toobig;
		rec += 10 + rdlen;
		count++;
	}
	return count;
toobig:
	/* Undo the partial set, and forget targets that pointed into it. */
	w->pos = mark;
	w->ntargets = mark_targets;
	return SK_ETOOBIG;
}
