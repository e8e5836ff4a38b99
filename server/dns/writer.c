/* writer.c -- message building with name compression (RFC 1035 4.1.4) */
#include <stdbool.h>
#include <string.h>

#include "dns/name.h"
#include "dns/wire.h"
#include "dns/writer.h"
#include "util/err.h"

/* `label`: where its bytes can be read for comparing (in `buf`, or in the lowercased question);
 * `up`: where the rest of the name after it is written (after any pointer), 0 after the last
 * label (offset 0 is the header, never a name). */
static void add_target(sk_writer_t *w, const uint8_t *label, size_t off, size_t up)
{
	/* A pointer holds 14 bits; positions past that cannot be targets. */
	if (w->ntargets < SK_WR_TARGETS && off < 0x4000)
		w->target[w->ntargets++] = (sk_wr_target_t){ label, (uint16_t)off, (uint16_t)up };
}

void sk_wr_init(sk_writer_t *w, uint8_t *buf, size_t limit, size_t pos, size_t qname_off,
	const uint8_t *lqname)
{
	w->buf = buf;
	w->limit = limit;
	w->pos = pos;
	w->ntargets = 0;
	/* Every label start of the question name is a target: owners that are the query name or
	 * its zone's apex then cost two bytes. */
	const uint8_t *cmp = lqname ? lqname : buf + qname_off;
	for (size_t p = qname_off; p < pos && buf[p]; p += buf[p] + 1u) {
		size_t next = p + buf[p] + 1u;
		add_target(w, cmp + (p - qname_off), p, buf[next] ? next : 0);
	}
}

static inline uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* Is label `a` (length byte first) label `b`, letter case aside? Names in zone data and the
 * lowercased question are mostly byte for byte the same, so that is tried first. */
static inline bool label_equal(const uint8_t *a, const uint8_t *b)
{
	if (*a != *b)
		return false;
	if (!memcmp(a + 1, b + 1, *a))
		return true;
	for (unsigned i = 1; i <= *a; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/*
 * The targets form a tree whose edges are `up`: each distinct suffix in the message is found by
 * walking it from the root down, one label at a time, comparing only labels whose rest is the
 * suffix matched so far. Returns the offset of the longest suffix of `name` in the message (0:
 * none) and in *matched the index of its first label in `off`. The root alone is never pointed to.
 */
static unsigned longest_suffix(const sk_writer_t *w, const uint8_t *name, const uint8_t *off,
	unsigned n, unsigned *matched)
{
	unsigned at = 0, i = n;
	while (i > 0) {
		const uint8_t *label = name + off[i - 1];
		unsigned found = 0;
		for (unsigned t = 0; t < w->ntargets; t++) {
			if (w->target[t].up == at && label_equal(w->target[t].label, label)) {
				found = w->target[t].off;
				break;
			}
		}
		if (!found)
			break;
		at = found;
		i--;
	}
	*matched = i;
	return at;
}

int sk_wr_name(sk_writer_t *w, const uint8_t *name)
{
	uint8_t off[SK_LABELS_MAX + 1];
	unsigned n = sk_name_label_offsets(name, off);
	unsigned i;
	unsigned ptr = longest_suffix(w, name, off, n, &i);

	size_t literal = off[i];                  /* bytes of labels written out */
	size_t need = literal + (ptr ? 2 : 1);
	if (w->pos + need > w->limit)
		return SK_ETOOBIG;
	memcpy(w->buf + w->pos, name, literal);
	for (unsigned k = 0; k < i; k++)
		add_target(w, w->buf + w->pos + off[k], w->pos + off[k], k + 1 < i ? w->pos + off[k + 1] : ptr);
	w->pos += literal;
	if (ptr) {
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
