/* dbinfo.c -- what a compiled db holds, for the control socket and /metrics: counts, sizes, text */
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "db/db_internal.h"
#include "util/err.h"

/* Walk a zone's nodes (insertion order); `fn` sees each node that holds RRsets. */
static void each_node(const sk_zone_t *z, void (*fn)(const sk_zone_t *, const sk_nameent_t *, void *),
	void *arg)
{
	const sk_nametab_t *t = &z->nodes;
	for (size_t off = 0; off < t->ents_len; off = sk_nametab_next(t, off)) {
		const sk_nameent_t *e = (const sk_nameent_t *)(const void *)(t->ents + off);
		if (e->aux)
			fn(z, e, arg);
	}
}

static const sk_rrset_t *node_sets(const sk_zone_t *z, const sk_nameent_t *e)
{
	return (const sk_rrset_t *)(const void *)(z->payload + e->value);
}

typedef struct counts {
	size_t names, records;
	size_t payload_end;     /* the end of the last node's block: the payload bytes in use */
} counts_t;

static void count_node(const sk_zone_t *z, const sk_nameent_t *e, void *arg)
{
	counts_t *c = arg;
	const sk_rrset_t *sets = node_sets(z, e);
	c->names++;
	for (unsigned k = 0; k < e->aux; k++)
		c->records += sets[k].count;
	const sk_rrset_t *last = &sets[e->aux - 1];
	size_t end = (size_t)(last->data + last->len - z->payload);
	if (end > c->payload_end)
		c->payload_end = end;
}

void sk_zone_counts(const sk_zone_t *zone, size_t *names, size_t *records)
{
	counts_t c = { 0 };
	each_node(zone, count_node, &c);
	*names = c.names;
	*records = c.records;
}

const sk_tagset_t *sk_db_list_tagset(const sk_db_t *db, size_t i)
{
	return i < db->nlists ? db->lists[i].tmpl.tags : NULL;
}

static size_t table_bytes(const sk_nametab_t *t)
{
	return (t->slots ? ((size_t)t->mask + 1) * sizeof *t->slots : 0) + t->ents_cap;
}

static size_t zone_bytes(const sk_zone_t *z)
{
	counts_t c = { 0 };
	each_node(z, count_node, &c);
	return sizeof *z + table_bytes(&z->nodes) + c.payload_end + (z->soa ? z->soa->len : 0);
}

size_t sk_db_bytes(const sk_db_t *db)
{
	size_t n = sizeof *db + table_bytes(&db->apexes) + table_bytes(&db->seized);
	for (size_t i = 0; i < db->nzones; i++)
		n += zone_bytes(&db->zones[i]);
	for (size_t i = 0; i < db->nlists; i++)
		n += zone_bytes(&db->lists[i].tmpl);
	return n;
}

/* Each RR of one section as "SECTION<TAB>rr text" lines. */
static int section_text(const ldns_rr_list *rrs, const char *name, char **out, size_t *len)
{
	for (size_t i = 0; rrs && i < ldns_rr_list_rr_count(rrs); i++) {
		char *t = ldns_rr2str(ldns_rr_list_rr(rrs, i));
		if (!t)
			return -ENOMEM;
		size_t tl = strlen(t), nl = strlen(name);
		while (tl && (t[tl - 1] == '\n' || t[tl - 1] == ' '))
			tl--;
		char *grown = realloc(*out, *len + nl + tl + 3);
		if (!grown) {
			free(t);
			return -ENOMEM;
		}
		*out = grown;
		memcpy(*out + *len, name, nl);
		(*out)[*len + nl] = '\t';
		memcpy(*out + *len + nl + 1, t, tl);
		*len += nl + 1 + tl;
		(*out)[(*len)++] = '\n';
		(*out)[*len] = '\0';
		free(t);
	}
	return 0;
}

int sk_db_msg_text(const uint8_t *msg, size_t len, char **out)
{
	ldns_pkt *pkt = NULL;
	char *text = calloc(1, 1);
	size_t tlen = 0;
	int rc = -ENOMEM;
	if (!text)
		return -ENOMEM;
	if (ldns_wire2pkt(&pkt, msg, len) != LDNS_STATUS_OK) {
		rc = -EINVAL;
		goto fail;
	}
	if ((rc = section_text(ldns_pkt_answer(pkt), "answer", &text, &tlen)) ||
	    (rc = section_text(ldns_pkt_authority(pkt), "authority", &text, &tlen)) ||
	    (rc = section_text(ldns_pkt_additional(pkt), "additional", &text, &tlen)))
		goto fail;
	ldns_pkt_free(pkt);
	*out = text;
	return 0;
fail:
	ldns_pkt_free(pkt);
	free(text);
	return rc;
}
