/* lookup.c -- what to answer for a name and type: zone, cuts, exact match, CNAME, wildcard (hot path) */
#include <string.h>

#include "db/db_internal.h"

#define CNAME_MAX 8   /* CNAMEs followed per query; a longer chain ends the answer there */

int sk_db_name_hashes(const uint8_t *name, size_t len, uint8_t *off, uint64_t *h)
{
	size_t pos = 0;
	int n = 0;

	if (len == 0 || len > SK_NAME_MAX)
		return -1;
	while (pos < len && name[pos]) {
		if (name[pos] > SK_LABEL_MAX || n >= SK_LABELS_MAX - 1)
			return -1;
		off[n++] = (uint8_t)pos;
		pos += (size_t)name[pos] + 1;
	}
	if (pos != len - 1)
		return -1;
	off[n] = (uint8_t)pos;
	h[n] = sk_hash_label(SK_HASH_INIT, name + pos);
	for (int k = n - 1; k >= 0; k--)
		h[k] = sk_hash_label(h[k + 1], name + off[k]);
	return n;
}

uint64_t sk_db_name_hash(const uint8_t *name, size_t len)
{
	uint8_t off[SK_LABELS_MAX];
	uint64_t h[SK_LABELS_MAX];
	return sk_db_name_hashes(name, len, off, h) < 0 ? 0 : h[0];
}

/* A name being resolved (the query name, then each CNAME target), split and hashed once. */
typedef struct lname {
	const uint8_t *name;
	size_t len;
	int labels;
	uint8_t off[SK_LABELS_MAX];
	uint64_t h[SK_LABELS_MAX];
} lname_t;

typedef struct lctx {
	const sk_db_t *db;
	sk_plan_t *plan;
	const lname_t *q;          /* the query name */
	uint16_t qtype;
	uint8_t nadd;
	sk_rr_ref_t add[SK_PLAN_MAX];   /* additional data, appended to the plan last */
} lctx_t;

static int lname_set(lname_t *n, const uint8_t *name, size_t len)
{
	n->name = name;
	n->len = len;
	n->labels = sk_db_name_hashes(name, len, n->off, n->h);
	return n->labels;
}

/* Suffix k of n: the name with its first k labels removed. */
static inline const uint8_t *suffix(const lname_t *n, int k) { return n->name + n->off[k]; }
static inline size_t suffix_len(const lname_t *n, int k) { return n->len - n->off[k]; }

/* The zone with the longest apex that is suffix k or a shorter suffix of n; *zk gets its k. */
static const sk_zone_t *find_zone(const sk_db_t *db, const lname_t *n, int from, int *zk)
{
	int k = n->labels - db->max_labels;
	for (k = k > from ? k : from; k <= n->labels - db->min_labels; k++) {
		const sk_nameent_t *e = sk_nametab_find(&db->apexes, suffix(n, k), suffix_len(n, k), n->h[k]);
		if (e) {
			*zk = k;
			return &db->zones[e->value];
		}
	}
	return NULL;
}

/* The seized domain with the longest name that is suffix `last` or a shorter suffix of n; *sk
 * gets its k. NULL when none is. */
static const sk_slist_t *find_seized(const sk_db_t *db, const lname_t *n, int last, int *sk)
{
	int k = n->labels - db->seized_max_labels, end = n->labels - db->seized_min_labels;
	if (end > last)
		end = last;
	for (k = k > 0 ? k : 0; k <= end; k++) {
		const sk_nameent_t *e = sk_nametab_find(&db->seized, suffix(n, k), suffix_len(n, k), n->h[k]);
		if (e) {
			*sk = k;
			return &db->lists[e->aux];
		}
	}
	return NULL;
}

/*
 * The name n as its seized domain's template knows it: the labels above the domain (suffix k),
 * then the root, the template's apex. Written into buf; offsets and hashes as lname_set() makes.
 */
static void lname_map(lname_t *m, uint8_t *buf, const lname_t *n, int k)
{
	size_t above = n->off[k];
	memcpy(buf, n->name, above);
	buf[above] = 0;
	m->name = buf;
	m->len = above + 1;
	m->labels = k;
	memcpy(m->off, n->off, (size_t)k + 1);
	m->h[k] = sk_hash_label(SK_HASH_INIT, buf + above);
	for (int i = k - 1; i >= 0; i--)
		m->h[i] = sk_hash_label(m->h[i + 1], buf + m->off[i]);
}

/*
 * Fill in a ref's owner. A name that is the query name or one of its suffixes becomes NULL + qoff,
 * so the writer points into the question (keeping the client's spelling); any other name must be
 * one the db holds.
 */
static void set_owner(const lctx_t *c, sk_rr_ref_t *r, const uint8_t *owner, size_t len)
{
	const lname_t *q = c->q;
	r->owner = owner;
	r->qoff = 0;
	if (len > q->len)
		return;
	for (int k = 0; k <= q->labels && q->off[k] <= q->len - len; k++) {
		if (q->off[k] == q->len - len) {
			if (memcmp(q->name + q->off[k], owner, len) == 0) {
				r->owner = NULL;
				r->qoff = q->off[k];
			}
			return;
		}
	}
}

static bool in_plan(const lctx_t *c, const sk_rrset_t *rs)
{
	for (unsigned i = 0; i < c->plan->n; i++)
		if (c->plan->rr[i].rrset == rs)
			return true;
	for (unsigned i = 0; i < c->nadd; i++)
		if (c->add[i].rrset == rs)
			return true;
	return false;
}

/* Answer and authority refs go straight into the plan (they come in section order). */
static void add_rr(lctx_t *c, const sk_rrset_t *rs, const uint8_t *owner, size_t len, uint8_t section)
{
	sk_plan_t *p = c->plan;
	if (p->n >= SK_PLAN_MAX)
		return;
	sk_rr_ref_t *r = &p->rr[p->n++];
	set_owner(c, r, owner, len);
	r->rrset = rs;
	r->section = section;
	r->flags = 0;
}

/* A and AAAA of a node as additional data. */
static void add_addresses(lctx_t *c, const sk_zone_t *z, const sk_nameent_t *e, uint8_t flags)
{
	static const uint16_t types[2] = { SK_TYPE_A, SK_TYPE_AAAA };
	for (int i = 0; i < 2; i++) {
		const sk_rrset_t *rs = sk_node_rrset(z, e, types[i]);
		if (!rs || c->nadd >= SK_PLAN_MAX || in_plan(c, rs))
			continue;
		sk_rr_ref_t *r = &c->add[c->nadd++];
		set_owner(c, r, e->name, e->len);
		r->rrset = rs;
		r->section = SK_SECTION_ADDITIONAL;
		r->flags = flags;
	}
}

/* Additional data fills what answer and authority left, glue the referral needs first (RFC 9471). */
static void flush_additional(lctx_t *c)
{
	sk_plan_t *p = c->plan;
	for (int pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < c->nadd && p->n < SK_PLAN_MAX; i++)
			if (((c->add[i].flags & SK_RR_REQUIRED) != 0) == (pass == 0))
				p->rr[p->n++] = c->add[i];
}

/* Where the RDATA of a record names a host whose addresses are useful additional data. */
static int target_offset(uint16_t type)
{
	switch (type) {
	case SK_TYPE_NS: return 0;
	case SK_TYPE_MX: return 2;
	case SK_TYPE_SRV: return 6;
	default: return -1;
	}
}

/* Additional data for an answer: addresses of NS, MX and SRV targets that are authoritative data
 * in any of our zones (exact names only: no wildcard expansion, nothing below a cut). */
static void answer_additional(lctx_t *c, const sk_rrset_t *rs)
{
	int skip = target_offset(rs->type), zk;
	const uint8_t *rr = rs->data;
	lname_t t;

	if (skip < 0)
		return;
	for (unsigned i = 0; i < rs->count; rr += 10 + sk_get16(rr + 8), i++) {
		uint16_t rdlen = sk_get16(rr + 8);
		if (rdlen <= skip || lname_set(&t, rr + 10 + skip, rdlen - (size_t)skip) < 0)
			continue;
		const sk_zone_t *z = find_zone(c->db, &t, 0, &zk);
		const sk_nameent_t *e = z ? sk_nametab_find(&z->nodes, t.name, t.len, t.h[0]) : NULL;
		if (e && !(e->flags & (SK_NODE_OCCLUDED | SK_NODE_DELEG)))
			add_addresses(c, z, e, 0);
	}
}

/* Referral (RFC 1034 4.3.2 3b): the cut's NS in authority, and the addresses of its targets that
 * this zone holds; those at or below the cut are glue the reply cannot go without (RFC 9471).
 * `own` names the owner (suffix k); it is n but for a template, whose names are not the real
 * ones, and whose NS targets (absolute: below some other domain) are never its own names. */
static void referral(lctx_t *c, const sk_zone_t *z, const lname_t *n, const lname_t *own,
	const sk_nameent_t *cut, int k)
{
	const sk_rrset_t *ns = sk_node_rrset(z, cut, SK_TYPE_NS);
	const uint8_t *rr = ns->data;
	lname_t t;

	add_rr(c, ns, suffix(own, k), suffix_len(own, k), SK_SECTION_AUTHORITY);
	if (own != n)
		return;
	for (unsigned i = 0; i < ns->count; rr += 10 + sk_get16(rr + 8), i++) {
		if (lname_set(&t, rr + 10, sk_get16(rr + 8)) < 0)
			continue;
		const sk_nameent_t *e = sk_nametab_find(&z->nodes, t.name, t.len, t.h[0]);
		if (!e)
			continue;
		int below = t.labels - (n->labels - k);   /* target labels beneath the cut's depth */
		bool glue = below >= 0 && suffix_len(&t, below) == cut->len &&
			memcmp(suffix(&t, below), cut->name, cut->len) == 0;
		add_addresses(c, z, e, glue ? SK_RR_REQUIRED : 0);
	}
}

/* RFC 8482: one RRset for ANY. We pick A, else AAAA, else the lowest type at the name: the
 * addresses are what a client asking ANY of a sinkholed name most likely wants. */
static const sk_rrset_t *pick_rrset(const sk_zone_t *z, const sk_nameent_t *e, uint16_t qtype)
{
	const sk_rrset_t *rs;
	if (qtype != SK_TYPE_ANY)
		return sk_node_rrset(z, e, qtype);
	if ((rs = sk_node_rrset(z, e, SK_TYPE_A)) || (rs = sk_node_rrset(z, e, SK_TYPE_AAAA)))
		return rs;
	return e->aux ? sk_node_rrsets(z, e) : NULL;
}

enum found { FOUND_EXACT, FOUND_CUT, FOUND_ENCLOSER };

/*
 * Find n in zone z (whose apex is suffix zk of n). FOUND_EXACT: *e is n's node. FOUND_CUT: *e is
 * the topmost zone cut at or above n, suffix *k. FOUND_ENCLOSER: n does not exist and *e is its
 * closest encloser, suffix *k.
 */
static enum found find_node(const lctx_t *c, const sk_zone_t *z, const lname_t *n, int zk,
	const sk_nameent_t **e, int *k)
{
	const sk_nameent_t *exact = sk_nametab_find(&z->nodes, n->name, n->len, n->h[0]), *x, *prev;

	/* The common case in one probe: the name exists and no cut lies above it. A cut at the name
	 * itself answers DS from this, the parent, side (RFC 4035 3.1.4.1). */
	*e = exact;
	*k = 0;
	if (exact && !(exact->flags & SK_NODE_OCCLUDED) &&
		(!(exact->flags & SK_NODE_DELEG) || c->qtype == SK_TYPE_DS))
		return FOUND_EXACT;
	/* Otherwise walk down from the apex: the first cut met wins (a DS query at a cut with no cut
	 * above returned already), else the first missing name makes its parent the closest
	 * encloser. Every ancestor of a node exists (empty non-terminals are nodes), so the walk can
	 * stop at the first miss. */
	prev = z->apex_node;
	for (int i = zk - 1; i >= 0; i--) {
		x = i == 0 ? exact : sk_nametab_find(&z->nodes, suffix(n, i), suffix_len(n, i), n->h[i]);
		if (!x) {
			*e = prev;
			*k = i + 1;
			return FOUND_ENCLOSER;
		}
		if (x->flags & SK_NODE_DELEG) {
			*e = x;
			*k = i;
			return FOUND_CUT;
		}
		prev = x;
	}
	*e = prev;
	return FOUND_EXACT;
}

/* The source of synthesis "*.<closest encloser>" (RFC 4592 3.3.1), or NULL. */
static const sk_nameent_t *find_wildcard(const sk_zone_t *z, const lname_t *n,
	const sk_nameent_t *ce, int k)
{
	uint8_t wild[SK_NAME_MAX + 2];
	if (!(ce->flags & SK_NODE_WILDCHILD))
		return NULL;
	wild[0] = 1;
	wild[1] = '*';
	memcpy(wild + 2, ce->name, ce->len);
	return sk_nametab_find(&z->nodes, wild, ce->len + 2u, sk_hash_label(n->h[k], wild));
}

/* NXDOMAIN or NODATA: the zone's SOA, whose owner is the apex (for a template, the seized domain). */
static void negative(lctx_t *c, const sk_zone_t *z, const uint8_t *apex, size_t apex_len, uint8_t rcode)
{
	c->plan->rcode = rcode;
	add_rr(c, &z->neg_soa, apex, apex_len, SK_SECTION_AUTHORITY);
}

/*
 * The catalog's names that are not stored (catalog.c): zones.<catalog>, an empty non-terminal
 * (NODATA), and <id>.zones.<catalog>, a member's PTR made here from the member its 16 hex digits
 * name. True when n was one of them and the plan is filled; false: NXDOMAIN as usual.
 */
static bool catalog_name(lctx_t *c, const sk_zone_t *z, const lname_t *n, int zk)
{
	const uint8_t *apex = suffix(n, zk), *member, *id = n->name;
	size_t apex_len = suffix_len(n, zk), len;
	uint64_t v = 0;
	if (zk < 1 || zk > 2 || suffix(n, zk - 1)[0] != 5 || memcmp(suffix(n, zk - 1) + 1, "zones", 5) != 0)
		return false;
	if (zk == 1) {
		negative(c, z, apex, apex_len, SK_RCODE_NOERROR);
		return true;
	}
	if (id[0] != 16)
		return false;
	for (int i = 1; i <= 16; i++) {
		uint8_t d = id[i];
		if (!((d >= '0' && d <= '9') || (d >= 'a' && d <= 'f')))
			return false;
		v = v << 4 | (uint64_t)(d <= '9' ? d - '0' : d - 'a' + 10);
	}
	if (!sk_catalog_member(c->db, v, &member, &len))
		return false;
	if (c->qtype != SK_TYPE_PTR && c->qtype != SK_TYPE_ANY) {
		negative(c, z, apex, apex_len, SK_RCODE_NOERROR);
		return true;
	}
	sk_plan_t *p = c->plan;
	sk_put16(p->synth_data, SK_TYPE_PTR);
	sk_put16(p->synth_data + 2, SK_CLASS_IN);
	sk_put32(p->synth_data + 4, 0);
	sk_put16(p->synth_data + 8, (uint16_t)len);
	memcpy(p->synth_data + 10, member, len);
	p->synth = (sk_rrset_t){ .type = SK_TYPE_PTR, .count = 1, .ttl = 0, .len = (uint32_t)(10 + len),
		.data = p->synth_data };
	add_rr(c, &p->synth, n->name, n->len, SK_SECTION_ANSWER);
	return true;
}

/* The names a CNAME chain has visited: the query name, then each target. */
typedef struct chain {
	const uint8_t *name[CNAME_MAX + 1];
	size_t len[CNAME_MAX + 1];
	int n;
} chain_t;

static bool chain_has(const chain_t *ch, const uint8_t *name, size_t len)
{
	for (int i = 0; i < ch->n; i++)
		if (ch->len[i] == len && memcmp(ch->name[i], name, len) == 0)
			return true;
	return false;
}

void sk_db_lookup(const sk_db_t *db, const uint8_t *qname, size_t qname_len, uint16_t qtype,
	sk_plan_t *plan)
{
	lname_t q, t, *n = &q;     /* n: the name being resolved, q or a CNAME target in t */
	lname_t m;                 /* n as a seized domain's template knows it */
	uint8_t mbuf[SK_NAME_MAX];
	lctx_t c;                  /* not zeroed as a whole: add[] is only read below nadd */
	chain_t ch;                /* nor this: only entries below n are read (zeroing its 152
	                              bytes was 5% of answering an NXDOMAIN: a `rep stos`) */

	plan->rcode = SK_RCODE_NOERROR;
	plan->aa = false;
	plan->zone = NULL;
	plan->apex_off = 0;
	plan->tags = NULL;
	plan->wild_off = 0;
	plan->n = 0;
	if (lname_set(&q, qname, qname_len) < 0) {
		plan->rcode = SK_RCODE_REFUSED;
		return;
	}
	c.db = db;
	c.plan = plan;
	c.q = &q;
	c.qtype = qtype;
	c.nadd = 0;
	ch.n = 1;
	ch.name[0] = q.name;
	ch.len[0] = q.len;
	for (;;) {
		const sk_zone_t *z = NULL;
		const sk_slist_t *sl = NULL;
		const sk_nameent_t *e;
		const sk_rrset_t *rs;
		const lname_t *look = n;   /* the name as zone z knows it */
		int zk = 0, k;

		/* DS belongs to the parent side of a cut: try the zone of the parent name first. */
		if (qtype == SK_TYPE_DS && n->labels > 0)
			z = find_zone(db, n, 1, &zk);
		if (!z)
			z = find_zone(db, n, 0, &zk);
		/* A seized domain below that zone's apex, or outside every zone, answers instead (a
		 * domain that is a zone's apex was left out of the lists at load: the zone wins). */
		if (db->seized.count && (sl = find_seized(db, n, z ? zk - 1 : n->labels, &k))) {
			lname_map(&m, mbuf, n, k);
			look = &m;
			z = &sl->tmpl;
			zk = k;
		}
		if (!z) {
			/* No zone: REFUSED, or a CNAME that left our zones, which the resolver follows. */
			if (ch.n == 1)
				plan->rcode = SK_RCODE_REFUSED;
			break;
		}
		if (ch.n == 1) {
			plan->zone = z;
			plan->aa = true;
			plan->apex_off = q.off[zk];
			plan->tags = z->tags;
		}
		switch (find_node(&c, z, look, zk, &e, &k)) {
		case FOUND_CUT:
			/* After a CNAME the answer stays authoritative for what it holds (as Knot does). */
			if (ch.n == 1)
				plan->aa = false;
			referral(&c, z, look, n, e, k);
			goto done;
		case FOUND_ENCLOSER:
			if (z == db->catalog && catalog_name(&c, z, n, zk))
				goto done;
			if (!(e = find_wildcard(z, look, e, k))) {
				negative(&c, z, suffix(n, zk), suffix_len(n, zk), SK_RCODE_NXDOMAIN);
				goto done;
			}
			/* A template's name keeps the query name's offsets below the domain. */
			if (ch.n == 1)
				plan->wild_off = q.off[k];
			break;   /* synthesise from the wildcard, owner = the name sought */
		case FOUND_EXACT:
			break;
		}
		if ((rs = pick_rrset(z, e, qtype))) {
			add_rr(&c, rs, n->name, n->len, SK_SECTION_ANSWER);
			answer_additional(&c, rs);
			break;
		}
		if (!(rs = sk_node_rrset(z, e, SK_TYPE_CNAME))) {
			/* NODATA, empty non-terminals included */
			negative(&c, z, suffix(n, zk), suffix_len(n, zk), SK_RCODE_NOERROR);
			break;
		}
		/* CNAME: answer it and look up its target, in any of our zones (RFC 1034 4.3.2 3a;
		 * the last name's outcome sets the rcode, RFC 6604). A loop or a chain longer than
		 * CNAME_MAX ends the answer with NOERROR; the resolver decides what to make of it. */
		if (ch.n > CNAME_MAX)
			break;
		add_rr(&c, rs, n->name, n->len, SK_SECTION_ANSWER);
		const uint8_t *target = sk_rrset_rdata(rs);
		size_t tlen = sk_get16(rs->data + 8);
		if (chain_has(&ch, target, tlen) || lname_set(&t, target, tlen) < 0)
			break;
		n = &t;
		ch.name[ch.n] = target;
		ch.len[ch.n++] = tlen;
	}
done:
	flush_additional(&c);
}
